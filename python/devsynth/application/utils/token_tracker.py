"""Token counting, pruning and limits for chat applications, computed in the Rust core.

::

    tracker = TokenTracker(model="gpt-4o")
    tracker.count_tokens("Hello, world!")
    tracker.count_conversation_tokens(messages)
    tracker.prune_conversation(messages, max_tokens=4096)

How counts are made, best first (``tracker.method`` says which, ``tracker.is_exact`` whether
the figure is exact):

1. OpenAI models and encodings: tiktoken's encodings, exactly, in the Rust core.
2. A local model's ``tokenizer.json`` (Hugging Face ``tokenizers``, the ``offline`` extra):
   exact for text; chat overhead follows OpenAI's formula, an estimate for other templates.
3. Claude and unknown models: an estimate on an OpenAI encoding (Anthropic's ``count_tokens``
   endpoint, through the Anthropic provider, gives exact figures online).
4. Last fallback, only when the Rust core cannot be loaded: words times 4/3, approximate.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from devsynth.application.utils.model_info import (
    ChatFormat,
    ModelInfo,
    ToolFormat,
    model_info,
)
from devsynth.domain.errors import ConfigurationError, TokenLimitExceededError

__all__ = ["TokenLimitExceededError", "TokenTracker"]

MessageT = TypeVar("MessageT", bound=Mapping[str, Any])

try:
    from devsynth import _core
except ImportError:  # a source checkout without the built extension
    _core = None  # type: ignore[assignment]


def _check_budget(max_tokens: object) -> int:
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        raise TypeError(f"max_tokens must be an int, got {type(max_tokens).__name__}")
    if max_tokens < 0:
        raise ValueError(f"max_tokens must not be negative, got {max_tokens}")
    return max_tokens


def _words_estimate(text: str) -> int:
    return math.ceil(len(text.split()) * 4 / 3)


class TokenTracker:
    """Counts tokens of text, messages and conversations for one model, prunes conversations
    to a budget and enforces limits.

    Args:
        model: the model the text is for; picks the encoding, the context window and the
            chat-format constants (tiktoken's model table).
        encoding: an encoding name (``"cl100k_base"``) to use instead of the model's.
        tokenizer_path: a Hugging Face ``tokenizer.json`` (e.g. an LM Studio model's).
        context_window: the model's context window, when the table does not know it.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        encoding: str | None = None,
        tokenizer_path: str | os.PathLike[str] | None = None,
        context_window: int | None = None,
    ) -> None:
        info = model_info(model)
        if encoding is not None:
            info = ModelInfo(model, encoding, True, info.context_window, info.chat_format)
        self.model = model
        self.context_window = context_window if context_window is not None else info.context_window
        self._info = info
        self._format: ChatFormat = info.chat_format
        self._hf: Any = None
        self._encoding: Any = None
        if tokenizer_path is not None:
            self._hf = _load_hf_tokenizer(tokenizer_path)
            self.encoding_name: str | None = None
            self.method = f"tokenizer.json ({os.fspath(tokenizer_path)})"
            self.is_exact = True
        elif _core is not None:
            from devsynth.tokens import get_encoding

            self._encoding = get_encoding(info.encoding)
            self.encoding_name = info.encoding
            self.is_exact = info.exact
            self.method = (
                f"tiktoken {info.encoding}" if info.exact else f"estimate on {info.encoding}"
            )
        else:
            self.encoding_name = None
            self.is_exact = False
            self.method = "approximate: words x 4/3 (the Rust core is not available)"

    def __repr__(self) -> str:
        return f"<TokenTracker model={self.model!r} method={self.method!r}>"

    # ------------------------------------------------------------------ counting

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text``; text spelling a special token counts as ordinary text."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        if self._encoding is not None:
            return int(self._encoding.count_ordinary(text))
        if self._hf is not None:
            return len(self._hf.encode(text, add_special_tokens=False).ids)
        return _words_estimate(text)

    def count_message_tokens(self, message: Mapping[str, Any]) -> int:
        """Tokens of one chat message: OpenAI's per-message overhead, role, content, name."""
        return self._message_counts([message])[0]

    def count_conversation_tokens(
        self,
        conversation: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> int:
        """Tokens of a conversation as the model receives it, priming of the reply included
        (and tool definitions, when given)."""
        total = sum(self._message_counts(conversation)) + self._format.reply_priming
        if tools:
            total += self.count_tools_tokens(tools)
        return total

    def count_tools_tokens(self, tools: Sequence[Mapping[str, Any]]) -> int:
        """Tokens that tool (function) definitions add, with OpenAI's cookbook constants."""
        fmt: ToolFormat = self._info.tool_format
        total = 0
        for i, tool in enumerate(tools):
            function = tool.get("function", tool)
            if not isinstance(function, Mapping) or "name" not in function:
                raise ValueError(f"tool {i} has no function name")
            total += fmt.func_init
            description = str(function.get("description", "")).removesuffix(".")
            total += self.count_tokens(f"{function['name']}:{description}")
            properties = (function.get("parameters") or {}).get("properties") or {}
            if properties:
                total += fmt.prop_init
                for key, prop in properties.items():
                    total += fmt.prop_key
                    if "enum" in prop:
                        total += fmt.enum_init
                        for item in prop["enum"]:
                            total += fmt.enum_item + self.count_tokens(str(item))
                    p_desc = str(prop.get("description", "")).removesuffix(".")
                    total += self.count_tokens(f"{key}:{prop.get('type', '')}:{p_desc}")
        return total + fmt.func_end if tools else 0

    def _message_counts(self, messages: Sequence[Mapping[str, Any]]) -> list[int]:
        fmt = self._format
        if self._encoding is not None:
            counts: list[int] = _core.chat_message_tokens(
                self._encoding._core, messages, fmt.per_message, fmt.per_name
            )
            return counts
        return [
            fmt.per_message
            + self.count_tokens(role)
            + sum(self.count_tokens(t) for t in texts)
            + (self.count_tokens(name) + fmt.per_name if name is not None else 0)
            for role, texts, name in _message_texts(messages)
        ]

    # ------------------------------------------------------------------ limits

    def prune_conversation(
        self, conversation: Sequence[MessageT], max_tokens: int
    ) -> list[MessageT]:
        """The system message(s) and the longest run of newest messages that fits in
        ``max_tokens`` (reply priming included), never starting with a tool result whose call
        was dropped. The messages are the caller's objects, in their order. Raises
        TokenLimitExceededError when the system messages alone do not fit.
        """
        budget = _check_budget(max_tokens)
        fmt = self._format
        if self._encoding is not None:
            kept, tokens = _core.chat_prune(
                self._encoding._core,
                conversation,
                budget,
                fmt.per_message,
                fmt.per_name,
                fmt.reply_priming,
            )
        else:
            kept, tokens = _prune(self._message_counts(conversation), conversation, budget, fmt)
        if kept is None:
            raise TokenLimitExceededError(
                f"the system messages alone need {tokens} tokens, over the budget of {budget}",
                current_tokens=tokens,
                max_tokens=budget,
            )
        return [conversation[i] for i in _whole_tool_exchanges(conversation, kept)]

    def ensure_token_limit(self, text: str, max_tokens: int) -> int:
        """Returns the token count of ``text``; raises TokenLimitExceededError over the limit."""
        limit = _check_budget(max_tokens)
        n = self.count_tokens(text)
        if n > limit:
            raise TokenLimitExceededError(
                f"text has {n} tokens, over the limit of {limit}",
                current_tokens=n,
                max_tokens=limit,
            )
        return n

    def prompt_budget(self, reserved_for_reply: int = 0) -> int:
        """Tokens left for the prompt: the context window minus what the reply may use."""
        reserve = _check_budget(reserved_for_reply)
        if self.context_window is None:
            raise ConfigurationError(
                f"the context window of model {self.model!r} is unknown; pass context_window="
            )
        if reserve > self.context_window:
            raise TokenLimitExceededError(
                f"{reserve} tokens reserved for the reply exceed the context window of "
                f"{self.context_window}",
                current_tokens=reserve,
                max_tokens=self.context_window,
            )
        return self.context_window - reserve


def _message_texts(
    messages: Sequence[Mapping[str, Any]],
) -> list[tuple[str, list[str], str | None]]:
    if _core is not None:
        return _core.chat_message_texts(messages)
    # Without the core: the plain shape only (str role and content, optional str name).
    out: list[tuple[str, list[str], str | None]] = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
            raise ValueError(f"message {i} must be a mapping with 'role' and 'content'")
        content = m["content"]
        texts = [content] if isinstance(content, str) else []
        out.append((str(m["role"]), texts, m.get("name")))
    return out


def _whole_tool_exchanges(conversation: Sequence[Mapping[str, Any]], kept: list[int]) -> list[int]:
    """``kept`` without tool results whose call was pruned away: the newest messages kept
    never start with the answer to a call they no longer contain (the APIs refuse that)."""
    orphans = set()
    for i in kept:
        role = conversation[i].get("role")
        if role in ("system", "developer"):
            continue
        if role not in ("tool", "function"):
            break
        orphans.add(i)
    return [i for i in kept if i not in orphans] if orphans else kept


def _prune(
    counts: list[int],
    conversation: Sequence[Mapping[str, Any]],
    budget: int,
    fmt: ChatFormat,
) -> tuple[list[int] | None, int]:
    """The same pruning as the core's, for counters that are not in the core."""
    system = [i for i, m in enumerate(conversation) if m.get("role") in ("system", "developer")]
    total = fmt.reply_priming + sum(counts[i] for i in system)
    if total > budget:
        return None, total
    cut = len(conversation)
    is_system = set(system)
    for i in range(len(conversation) - 1, -1, -1):
        if i in is_system:
            continue
        if total + counts[i] > budget:
            break
        total += counts[i]
        cut = i
    return [i for i in range(len(conversation)) if i >= cut or i in is_system], total


def _load_hf_tokenizer(path: str | os.PathLike[str]) -> Any:
    try:
        from tokenizers import Tokenizer
    except ImportError as e:
        raise ConfigurationError(
            "counting with a tokenizer.json needs the tokenizers package: pip install "
            '"devsynth-llm[offline]"'
        ) from e
    p = os.fspath(path)
    if os.path.isdir(p):
        p = os.path.join(p, "tokenizer.json")
    if not os.path.isfile(p):
        raise ConfigurationError(f"no tokenizer.json at {p}")
    return Tokenizer.from_file(p)
