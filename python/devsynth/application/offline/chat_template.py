"""Chat messages to the one prompt string a decoder reads.

A model's own chat template (``chat_template`` in tokenizer_config.json, a Jinja template)
is rendered with jinja2's sandbox; jinja2 is imported only when a model has a template.
Without a template, a plain role-tagged format::

    System: You are terse.

    User: Hi

    Assistant:
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from devsynth.application.offline.model_dir import special_token_text
from devsynth.domain.errors import ModelLoadError
from devsynth.domain.llm import Message

# The turn a plain-format model would write next; generation stops there.
PLAIN_STOP = ("\nUser:",)

_SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token")


def render_plain(messages: Sequence[Message]) -> str:
    """The role-tagged format, ending with the assistant's cue."""
    turns = [f"{str(m.get('role', 'user')).capitalize()}: {_content(m)}" for m in messages]
    return "\n\n".join([*turns, "Assistant:"])


class ChatTemplate:
    """A model's Jinja chat template, compiled once."""

    def __init__(self, source: str, tokenizer_config: Mapping[str, Any], origin: Path) -> None:
        self.source = source
        self._origin = origin
        self._tokens = {
            name: text
            for name in _SPECIAL_TOKENS
            if (text := special_token_text(tokenizer_config, name)) is not None
        }
        self._template: Any = None
        self._declares_tools: bool | None = None

    @classmethod
    def from_tokenizer_config(
        cls, tokenizer_config: Mapping[str, Any], origin: Path
    ) -> ChatTemplate | None:
        """The template in tokenizer_config.json, if there is one."""
        source = tokenizer_config.get("chat_template")
        if isinstance(source, list):  # named templates: the "default" one renders chats
            named = {t.get("name"): t.get("template") for t in source if isinstance(t, Mapping)}
            source = named.get("default")
        if source is None:
            return None
        if not isinstance(source, str):
            raise ModelLoadError(f"{origin}: chat_template must be a string")
        return cls(source, tokenizer_config, origin)

    def precompile(self) -> None:
        """Compile now when jinja2 is installed, so a broken template fails at load time."""
        if importlib.util.find_spec("jinja2") is not None:
            self._compiled()

    @property
    def supports_tools(self) -> bool:
        """True when the template reads a ``tools`` variable: Hugging Face's convention for
        declaring tool support (the template renders the tool definitions itself)."""
        if self._declares_tools is None:
            self._compiled()  # jinja2 is there, or a clear error says to install it
            jinja2 = importlib.import_module("jinja2")
            meta = importlib.import_module("jinja2.meta")
            try:
                variables = meta.find_undeclared_variables(jinja2.Environment().parse(self.source))
            except jinja2.TemplateError:
                variables = set()
            self._declares_tools = "tools" in variables
        return self._declares_tools

    def render(
        self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]] | None = None
    ) -> str:
        template = self._compiled()
        extra = {"tools": [dict(t) for t in tools]} if tools else {}
        try:
            text: str = template.render(
                messages=[_for_template(m) for m in messages],
                add_generation_prompt=True,
                **self._tokens,
                **extra,
            )
        except Exception as exc:  # templates raise what they like (raise_exception, ...)
            raise ModelLoadError(f"{self._origin}: the chat template failed: {exc}") from exc
        return text

    def _compiled(self) -> Any:
        if self._template is None:
            try:  # jinja2 ships no stubs for mypy to rely on when it is absent
                jinja2 = importlib.import_module("jinja2")
                sandbox = importlib.import_module("jinja2.sandbox")
            except ImportError as exc:
                raise ModelLoadError(
                    f"{self._origin} has a chat template; rendering it needs the jinja2 "
                    "package (pip install jinja2)"
                ) from exc
            env = sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
            env.filters["tojson"] = _tojson
            env.globals["raise_exception"] = _raise
            env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
            try:
                self._template = env.from_string(self.source)
            except jinja2.TemplateError as exc:
                raise ModelLoadError(f"{self._origin}: invalid chat template: {exc}") from exc
        return self._template


def _for_template(message: Message) -> dict[str, Any]:
    """A message as chat templates expect it: tool call arguments as objects (Hugging Face's
    convention), where the OpenAI shape has them as JSON text."""
    out = dict(message)
    calls = out.get("tool_calls")
    if calls:
        out["tool_calls"] = [_call_for_template(c) for c in calls]
    return out


def _call_for_template(call: Mapping[str, Any]) -> dict[str, Any]:
    function = dict(call.get("function") or {})
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        with contextlib.suppress(orjson.JSONDecodeError):  # else left as the model wrote it
            function["arguments"] = orjson.loads(arguments) if arguments.strip() else {}
    return {**call, "function": function}


def _content(message: Message) -> str:
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    # OpenAI-style content parts: keep the text ones.
    return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))


def _tojson(value: Any, indent: int | None = None) -> str:
    option = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(value, option=option).decode()


def _raise(message: str) -> None:
    raise ValueError(message)
