"""LM Studio's local server, through its OpenAI-compatible endpoints.

With ``auto_select_model`` (on by default) the model is settled before the first request:
when the configured one is the placeholder ``local_model`` or is not loaded, a loaded LLM is
taken from LM Studio's own listing, tried in this order:

1. ``/api/v1/models`` (LM Studio 0.4+): ``models[]`` with ``loaded_instances``;
2. ``/api/v0/models`` (0.3.6+): ``data[]`` with ``state: loaded``;
3. ``/v1/models`` (OpenAI-compatible, no load state): the first model.

The loaded context length becomes the token budget for context fitting. When the server later
says the model is not loaded (it was unloaded or swapped), the choice is made again and the
request retried once. An unreachable server gives an error naming the URL and how to start it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from devsynth.application.llm.openai_provider import OpenAIProvider
from devsynth.domain.errors import (
    BadRequestError,
    NotFoundError,
    ProviderError,
)

LMSTUDIO_API_BASE = "http://localhost:1234/v1"
PLACEHOLDER_MODEL = "local_model"
START_HINT = (
    "Is LM Studio's server running? Start it in LM Studio (Developer tab, 'Start Server') "
    "or with `lms server start`, and load a model"
)
_LLM_TYPES = frozenset({"llm", "vlm"})
_EMBEDDING_TYPES = frozenset({"embedding", "embeddings"})
_NOT_LOADED = re.compile(
    r"not loaded|no models? (?:is |are )?loaded|model_not_found|model\b.{0,200}\bnot found"
    r"|failed to load model|unloaded",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ModelChoice:
    """The model to use, its context length (the token budget) and where that was learnt."""

    model: str
    context_length: int | None
    source: str
    embedding_model: str | None = None


@dataclass(frozen=True)
class _Listed:
    key: str
    kind: str
    loaded: bool
    context_length: int | None


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _from_rest_v1(data: object) -> list[_Listed] | None:
    models = data.get("models") if isinstance(data, Mapping) else None
    if not isinstance(models, list):
        return None
    out = []
    for m in models:
        if not isinstance(m, Mapping) or "key" not in m:
            continue
        instances = [i for i in m.get("loaded_instances") or () if isinstance(i, Mapping)]
        loaded_ctx = None
        key = str(m["key"])
        if instances:
            key = str(instances[0].get("id") or key)
            loaded_ctx = _int((instances[0].get("config") or {}).get("context_length"))
        out.append(
            _Listed(
                key=key,
                kind=str(m.get("type", "llm")),
                loaded=bool(instances),
                context_length=loaded_ctx or _int(m.get("max_context_length")),
            )
        )
    return out


def _from_rest_v0(data: object) -> list[_Listed] | None:
    models = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(models, list):
        return None
    return [
        _Listed(
            key=str(m["id"]),
            kind=str(m.get("type", "llm")),
            loaded=m.get("state") == "loaded",
            context_length=_int(m.get("loaded_context_length"))
            or _int(m.get("max_context_length")),
        )
        for m in models
        if isinstance(m, Mapping) and "id" in m
    ]


def _from_openai(data: object) -> list[_Listed] | None:
    models = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(models, list):
        return None
    # No load state here: LM Studio lists what it can serve; embedding models by their name.
    return [
        _Listed(
            key=str(m["id"]),
            kind="embedding" if "embed" in str(m["id"]).lower() else "llm",
            loaded=True,
            context_length=None,
        )
        for m in models
        if isinstance(m, Mapping) and "id" in m
    ]


# (path under the server root, parser): LM Studio's listings, newest first.
_LISTINGS: tuple[tuple[str, Callable[[object], list[_Listed] | None]], ...] = (
    ("/api/v1/models", _from_rest_v1),
    ("/api/v0/models", _from_rest_v0),
    ("/v1/models", _from_openai),
)


def choose_model(models: list[_Listed], wanted: str, source: str) -> ModelChoice | None:
    """The wanted model if it is loaded, else the first loaded LLM; ``None`` if none is."""
    loaded = [m for m in models if m.loaded and m.kind in _LLM_TYPES]
    embedding = next((m.key for m in models if m.loaded and m.kind in _EMBEDDING_TYPES), None)
    pick = next((m for m in loaded if m.key == wanted), None) or (loaded[0] if loaded else None)
    if pick is None:
        return None
    return ModelChoice(pick.key, pick.context_length, source, embedding)


class LMStudioProvider(OpenAIProvider):
    """A local LM Studio server. No API key is needed (``api_key`` is sent if given)."""

    name: ClassVar[str] = "lmstudio"
    defaults: ClassVar[Mapping[str, Any]] = {
        "api_base": LMSTUDIO_API_BASE,
        "model": PLACEHOLDER_MODEL,
        "max_tokens": 1024,
        "auto_select_model": True,
    }
    api_key_env: ClassVar[str | None] = None  # never send an OpenAI key to a local server
    connect_hint: ClassVar[str] = START_HINT
    adapts_reasoning_models: ClassVar[bool] = False  # LM Studio takes max_tokens for all

    def __init__(self, parameters: Mapping[str, Any] | None = None) -> None:
        super().__init__(parameters)
        self._choices: dict[str, ModelChoice] = {}

    def requires_key(self) -> bool:
        return False

    @property
    def server_root(self) -> str:
        """The server's address without the ``/v1`` of the OpenAI-compatible API."""
        return self.http.base_url.removesuffix("/v1")

    # -- model selection -------------------------------------------------------------------

    def _auto(self, params: Mapping[str, Any]) -> bool:
        return bool(params.get("auto_select_model", True))

    def _no_model(self) -> NotFoundError:
        return NotFoundError(
            f"No model is loaded in LM Studio at {self.server_root}: load one in LM Studio "
            "or with `lms load <model>`, or set `model`",
            provider=self.name,
        )

    def select_model(self, wanted: str | None = None) -> ModelChoice:
        """Ask the server which model to use (cached until the server says otherwise)."""
        wanted = wanted or str(self._parameters.get("model") or PLACEHOLDER_MODEL)
        if wanted not in self._choices:
            self._choices[wanted] = self._pick(wanted, self._listings())
        return self._choices[wanted]

    async def aselect_model(self, wanted: str | None = None) -> ModelChoice:
        wanted = wanted or str(self._parameters.get("model") or PLACEHOLDER_MODEL)
        if wanted not in self._choices:
            self._choices[wanted] = self._pick(wanted, await self._alistings())
        return self._choices[wanted]

    def _listings(self) -> Iterator[tuple[str, object]]:
        for path, _ in _LISTINGS:
            yield path, self._fetch(path)

    async def _alistings(self) -> list[tuple[str, object]]:
        out = []
        for path, _ in _LISTINGS:
            out.append((path, await self._afetch(path)))
            if self._usable(path, out[-1][1]):
                break  # the async path cannot be lazy like the sync one: stop at the first hit
        return out

    def _fetch(self, path: str) -> object:
        try:
            return self.http.get_json(self.server_root + path).data
        except (NotFoundError, BadRequestError):
            return None  # an older server without this listing: try the next one

    async def _afetch(self, path: str) -> object:
        try:
            return (await self.http.aget_json(self.server_root + path)).data
        except (NotFoundError, BadRequestError):
            return None

    def _usable(self, path: str, data: object) -> bool:
        parser = dict(_LISTINGS)[path]
        models = parser(data) if data is not None else None
        return bool(models) and choose_model(models or [], "", path) is not None

    def _pick(self, wanted: str, listings: Iterable[tuple[str, object]]) -> ModelChoice:
        parsers = dict(_LISTINGS)
        for path, data in listings:
            models = parsers[path](data) if data is not None else None
            if not models:
                continue
            choice = choose_model(models, wanted, path)
            if choice is not None:
                return choice
        raise self._no_model()

    def _apply(self, params: dict[str, Any], choice: ModelChoice) -> dict[str, Any]:
        resolved = {
            **params,
            "model": choice.model,
            "_wanted": params.get("_wanted", params["model"]),
        }
        if resolved.get("context_window") is None and choice.context_length:
            resolved["context_window"] = choice.context_length
        if resolved.get("embedding_model") is None and choice.embedding_model:
            resolved["embedding_model"] = choice.embedding_model
        return resolved

    def _resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        if not self._auto(params):
            return params
        return self._apply(params, self.select_model(str(params["model"])))

    async def _aresolve(self, params: dict[str, Any]) -> dict[str, Any]:
        if not self._auto(params):
            return params
        return self._apply(params, await self.aselect_model(str(params["model"])))

    def _forget(self, params: Mapping[str, Any]) -> str:
        self._choices.clear()
        return str(params.get("_wanted", params["model"]))

    # -- recovery: when the model went away, choose again and retry once ---------------------

    def _can_recover(self, exc: ProviderError, params: Mapping[str, Any]) -> bool:
        said_not_loaded = isinstance(exc, (NotFoundError, BadRequestError)) or exc.status in (
            None,
            200,
        )
        return self._auto(params) and said_not_loaded and bool(_NOT_LOADED.search(exc.message))

    def _recover(self, params: dict[str, Any]) -> dict[str, Any]:
        wanted = self._forget(params)
        return self._apply({**params, "model": wanted}, self.select_model(wanted))

    async def _arecover(self, params: dict[str, Any]) -> dict[str, Any]:
        wanted = self._forget(params)
        return self._apply({**params, "model": wanted}, await self.aselect_model(wanted))


__all__ = ["LMSTUDIO_API_BASE", "PLACEHOLDER_MODEL", "LMStudioProvider", "ModelChoice"]
