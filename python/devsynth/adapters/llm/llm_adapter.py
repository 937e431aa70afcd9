"""LLMBackendAdapter: providers by name, from a configuration.

::

    adapter = LLMBackendAdapter()
    provider = adapter.create_provider(
        LLMProviderConfig(provider_type="lmstudio", parameters={"model": "local_model"})
    )
    provider.generate("Hello, world!")

Provider types are registered by name with an import path (``"module:Class"``), so a
provider's module, and httpx behind it, load only when that type is first created; new types
register with :func:`register_provider`. ``"auto"`` picks a type from the environment (see
:meth:`LLMBackendAdapter.select_provider_type`). In offline mode (``offline_mode`` in
``devsynth.toml``, or ``DEVSYNTH_OFFLINE=1``) every request gets the Offline provider, so no
request leaves the machine. A config with ``fallback`` gives a chain that moves to the next
provider on connection, timeout and server errors.

DevSynth's own factory calls work too (:class:`~devsynth.domain.llm.LLMProviderFactory`)::

    adapter.register_provider_type("mine", MyProvider)     # MyProvider(settings)
    provider = adapter.create_provider("openai", {"model": "gpt-4o"})
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from devsynth.application.llm.secrets import mask_secrets
from devsynth.domain.errors import ConfigurationError
from devsynth.domain.llm import LLMProvider

if TYPE_CHECKING:
    from devsynth.application.llm.config import ProjectConfig


def _log(message: str, *args: object) -> None:
    # logging and the config module load on first use: `import` of this module stays cheap.
    import logging

    logging.getLogger("devsynth.llm.adapter").info(message, *args)


ProviderFactory = Callable[[Mapping[str, Any]], LLMProvider]
# A registered provider: an import path "package.module:Class", or a factory.
ProviderTarget = Union[str, ProviderFactory]  # noqa: UP007 -- a runtime alias on 3.10

OFFLINE = "offline"
AUTO = "auto"
# What the Offline provider may take from a request made for another type.
_OFFLINE_PASSTHROUGH = ("max_tokens", "temperature", "top_p", "top_k", "seed", "stop")


@dataclass(repr=False)
class LLMProviderConfig:
    """Which provider to create, with what parameters, and what to fall back to.

    ``parameters``: ``api_base``, ``api_key``, ``model``, ``max_tokens``, ``temperature``,
    ``timeout``, ``max_retries``, ``auto_select_model`` and provider-specific ones. Secrets
    are masked in ``repr()``/``str()``.
    """

    provider_type: str = AUTO
    parameters: dict[str, Any] = field(default_factory=dict)
    fallback: Sequence[LLMProviderConfig] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.provider_type, str) or not self.provider_type.strip():
            raise ConfigurationError(
                "provider_type must be the name of a provider type ('openai', 'lmstudio', "
                f"'auto', ...), not {self.provider_type!r}"
            )
        if self.parameters is None:
            self.parameters = {}
        if not isinstance(self.parameters, Mapping):
            raise ConfigurationError(
                f"parameters must be a mapping, not {type(self.parameters).__name__}"
            )
        if isinstance(self.fallback, (str, Mapping)) or not all(
            isinstance(c, LLMProviderConfig) for c in self.fallback
        ):
            raise ConfigurationError("fallback must be a list of LLMProviderConfig")

    def __repr__(self) -> str:
        fallback = f", fallback={list(self.fallback)!r}" if self.fallback else ""
        return (
            f"LLMProviderConfig(provider_type={self.provider_type!r}, "
            f"parameters={mask_secrets(self.parameters)!r}{fallback})"
        )

    __str__ = __repr__


class ProviderRegistry:
    """Provider types by name; import paths are imported on first use."""

    def __init__(self, targets: Mapping[str, ProviderTarget] | None = None) -> None:
        self._targets: dict[str, ProviderTarget] = dict(targets or {})

    def register(self, name: str, target: ProviderTarget, *, replace: bool = False) -> None:
        key = name.strip().lower()
        if key == AUTO:
            raise ConfigurationError("'auto' is not a provider type but a way to pick one")
        if key in self._targets and not replace:
            raise ConfigurationError(f"provider type {key!r} is already registered")
        self._targets[key] = target

    def names(self) -> list[str]:
        return sorted(self._targets)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._targets

    def factory(self, name: str) -> ProviderFactory:
        key = name.strip().lower()
        target = self._targets.get(key)
        if target is None:
            raise ConfigurationError(
                f"unknown provider type {name!r}; registered: {', '.join(self.names())}"
            )
        if isinstance(target, str):
            module_name, _, attribute = target.partition(":")
            module = importlib.import_module(module_name)
            factory: ProviderFactory = getattr(module, attribute)
            return factory
        return target

    def create(self, name: str, parameters: Mapping[str, Any]) -> LLMProvider:
        return self.factory(name)(parameters)

    def copy(self) -> ProviderRegistry:
        return ProviderRegistry(self._targets)


registry = ProviderRegistry(
    {
        "openai": "devsynth.application.llm.openai_provider:OpenAIProvider",
        "anthropic": "devsynth.application.llm.anthropic_provider:AnthropicProvider",
        "lmstudio": "devsynth.application.llm.lmstudio_provider:LMStudioProvider",
        "openrouter": "devsynth.application.llm.openrouter_provider:OpenRouterProvider",
        OFFLINE: "devsynth.application.llm.offline_provider:OfflineProvider",
    }
)


_DEFAULT_REGISTRY = registry


def register_provider(name: str, target: ProviderTarget, *, replace: bool = False) -> None:
    """Make a provider type available to every adapter by name."""
    registry.register(name, target, replace=replace)


class LLMBackendAdapter:
    """Creates providers from :class:`LLMProviderConfig` objects.

    ``project_config`` defaults to the project's ``devsynth.toml`` (read at each creation, so
    a changed file or ``DEVSYNTH_OFFLINE`` takes effect without a new adapter).
    """

    def __init__(
        self,
        registry: ProviderRegistry | None = None,
        project_config: ProjectConfig | None = None,
    ) -> None:
        self.registry = registry if registry is not None else _DEFAULT_REGISTRY
        self._project_config = project_config

    def register_provider(
        self, name: str, target: ProviderTarget, *, replace: bool = False
    ) -> None:
        self.registry.register(name, target, replace=replace)

    @property
    def project_config(self) -> ProjectConfig:
        from devsynth.application.llm.config import load_project_config

        return self._project_config or load_project_config()

    def register_provider_type(
        self, provider_type: str, provider_class: Callable[..., Any]
    ) -> None:
        """DevSynth's form of :meth:`register_provider`: ``provider_class(settings)`` makes
        the provider; registering a type again replaces it, as DevSynth's factory does."""
        self.registry.register(provider_type, provider_class, replace=True)

    def create_provider(
        self,
        provider_type: str | LLMProviderConfig | Mapping[str, Any] | None = None,
        config: LLMProviderConfig | Mapping[str, Any] | None = None,
    ) -> LLMProvider:
        """The provider a configuration asks for (a chain when it has ``fallback``).

        Either ``create_provider(LLMProviderConfig(...))`` (or ``config=`` the same, or a
        mapping of its fields), or DevSynth's ``create_provider("openai", {"model": ...})``:
        a type name and that provider's parameters.
        """
        cfg = _as_config(_one_config(provider_type, config))
        project = self.project_config
        if project.offline_mode:
            _log("offline mode: the offline provider serves %r", cfg.provider_type)
            return self._offline(cfg, project)
        chain = [cfg, *cfg.fallback]
        if len(chain) == 1:
            return self._create_one(cfg, project)
        from devsynth.application.llm.fallback import FallbackProvider

        return FallbackProvider([self._create_one(c, project) for c in chain])

    def _create_one(self, cfg: LLMProviderConfig, project: ProjectConfig) -> LLMProvider:
        kind = cfg.provider_type.strip().lower()
        if kind == AUTO:
            kind = self.select_provider_type(cfg.parameters, project)
            _log("provider_type 'auto' picked %r", kind)
        if kind == OFFLINE:
            return self._offline(cfg, project)
        parameters = {**project.provider_parameters(kind), **cfg.parameters}
        return self.registry.create(kind, parameters)

    def _offline(self, cfg: LLMProviderConfig, project: ProjectConfig) -> LLMProvider:
        parameters = {**project.section("offline_provider"), **project.provider_parameters(OFFLINE)}
        if cfg.provider_type.strip().lower() == OFFLINE:
            parameters.update(cfg.parameters)
        else:  # only generation settings carry over; keys and URLs of the other type do not
            parameters.update(
                {k: v for k, v in cfg.parameters.items() if k in _OFFLINE_PASSTHROUGH}
            )
        return self.registry.create(OFFLINE, parameters)

    def select_provider_type(
        self, parameters: Mapping[str, Any] | None = None, project: ProjectConfig | None = None
    ) -> str:
        """What ``"auto"`` means here and now: the configured provider (``[llm] provider``
        or ``DEVSYNTH_PROVIDER``), else OpenAI, Anthropic or OpenRouter when their key is
        set (in that order), else LM Studio when its server answers, else Offline."""
        project = project or self.project_config
        configured = project.provider
        if configured and configured != AUTO:
            if configured not in self.registry:
                raise ConfigurationError(f"the configured provider {configured!r} is unknown")
            return configured
        if os.environ.get("OPENAI_API_KEY"):
            return "openai"
        if os.environ.get("ANTHROPIC_API_KEY"):
            return "anthropic"
        if os.environ.get("OPENROUTER_API_KEY"):
            return "openrouter"
        lmstudio = {**project.provider_parameters("lmstudio"), **(parameters or {})}
        if self._lmstudio_reachable(str(lmstudio.get("api_base") or _LMSTUDIO_DEFAULT)):
            return "lmstudio"
        return OFFLINE

    def _lmstudio_reachable(self, api_base: str) -> bool:
        from devsynth.application.llm.http import is_reachable

        return is_reachable(api_base.rstrip("/") + "/models")


_LMSTUDIO_DEFAULT = "http://localhost:1234/v1"


def _one_config(
    provider_type: str | LLMProviderConfig | Mapping[str, Any] | None,
    config: LLMProviderConfig | Mapping[str, Any] | None,
) -> LLMProviderConfig | Mapping[str, Any] | None:
    """The one configuration of either call form."""
    if isinstance(provider_type, str):
        if config is not None and not isinstance(config, Mapping):
            raise ConfigurationError(
                "create_provider(provider_type, config) takes the provider's parameters as "
                f"a mapping, not {type(config).__name__}"
            )
        return LLMProviderConfig(provider_type, dict(config or {}))
    if provider_type is not None and config is not None:
        raise ConfigurationError("create_provider takes one configuration, not two")
    return provider_type if provider_type is not None else config


def _as_config(config: LLMProviderConfig | Mapping[str, Any] | None) -> LLMProviderConfig:
    if config is None:
        return LLMProviderConfig()
    if isinstance(config, LLMProviderConfig):
        return config
    if isinstance(config, Mapping):
        fallback = [_as_config(c) for c in config.get("fallback") or ()]
        return LLMProviderConfig(
            provider_type=config.get("provider_type", config.get("provider", AUTO)),
            parameters=dict(config.get("parameters") or {}),
            fallback=fallback,
        )
    raise ConfigurationError(f"expected an LLMProviderConfig, got {type(config).__name__}")


__all__ = [
    "LLMBackendAdapter",
    "LLMProviderConfig",
    "ProviderRegistry",
    "register_provider",
    "registry",
]
