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
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from devsynth.application.utils.model_info import ModelInfo, model_info
from devsynth.domain.errors import ConfigurationError, TokenLimitExceededError
from devsynth.tokens.chat import ChatCounter, ChatFormat, is_system_message, is_tool_result

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
        if context_window is not None and (
            isinstance(context_window, bool) or not isinstance(context_window, int)
        ):
            raise TypeError(f"context_window must be an int, got {type(context_window).__name__}")
        self.model = model
        self.context_window = context_window if context_window is not None else info.context_window
        self.encoding_name: str | None = None
        # The counting strategy, chosen once: every method below delegates to it.
        self._chat: ChatCounter
        if tokenizer_path is not None:
            self._chat = _counter(_load_hf_tokenizer(tokenizer_path), info)
            self.method = f"tokenizer.json ({os.fspath(tokenizer_path)})"
            self.is_exact = True
        elif _core is not None:
            from devsynth.tokens import get_encoding

            self._chat = _counter(get_encoding(info.encoding), info)
            self.encoding_name = info.encoding
            self.is_exact = info.exact
            self.method = (
                f"tiktoken {info.encoding}" if info.exact else f"estimate on {info.encoding}"
            )
        else:
            self._chat = _counter(_words_estimate, info)
            self.is_exact = False
            self.method = "approximate: words x 4/3 (the Rust core is not available)"

    def __repr__(self) -> str:
        return f"<TokenTracker model={self.model!r} method={self.method!r}>"

    # ------------------------------------------------------------------ counting

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text``; text spelling a special token counts as ordinary text."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        return self._chat.count_text(text)

    def count_message_tokens(self, message: Mapping[str, Any]) -> int:
        """Tokens of one chat message: OpenAI's per-message overhead, role, content, name."""
        return self._chat.message_tokens([message])[0]

    def count_conversation_tokens(
        self,
        conversation: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> int:
        """Tokens of a conversation as the model receives it, priming of the reply included
        (and tool definitions, when given)."""
        return self._chat.conversation_tokens(conversation, tools)

    def count_tools_tokens(self, tools: Sequence[Mapping[str, Any]]) -> int:
        """Tokens that tool (function) definitions add, with OpenAI's cookbook constants."""
        return self._chat.tools_tokens(tools)

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
        kept, tokens = self._chat.prune(conversation, budget)
        if kept is None:
            raise TokenLimitExceededError(
                f"the system messages alone need {tokens} tokens, over the budget of {budget}",
                current_tokens=tokens,
                max_tokens=budget,
            )
        return [conversation[i] for i in kept]

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


def _counter(text: Any, info: ModelInfo) -> ChatCounter:
    """The ChatCounter for a way of counting text; the plain one when the core is missing."""
    counter = _PlainChatCounter if _core is None else ChatCounter
    return counter(text, info.chat_format, info.tool_format)


class _PlainChatCounter(ChatCounter):
    """The fallback when the Rust core cannot be loaded: plain messages only (str role and
    content, optional str name), counted and pruned in Python."""

    def message_tokens(self, messages: Sequence[Mapping[str, Any]]) -> list[int]:
        fmt: ChatFormat = self.chat_format
        counts = []
        for i, m in enumerate(messages):
            if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
                raise ValueError(f"message {i} must be a mapping with 'role' and 'content'")
            content, name = m["content"], m.get("name")
            counts.append(
                fmt.per_message
                + self.count_text(str(m["role"]))
                + (self.count_text(content) if isinstance(content, str) else 0)
                + (self.count_text(name) + fmt.per_name if name is not None else 0)
            )
        return counts

    def prune(
        self, messages: Sequence[Mapping[str, Any]], budget: int
    ) -> tuple[list[int] | None, int]:
        counts = self.message_tokens(messages)
        system = {i for i, m in enumerate(messages) if is_system_message(m)}
        total = self.chat_format.reply_priming + sum(counts[i] for i in system)
        if total > budget:
            return None, total
        cut = len(messages)
        for i in range(len(messages) - 1, -1, -1):
            if i in system:
                continue
            if total + counts[i] > budget:
                break
            total += counts[i]
            cut = i
        # The run never starts with the answer to a call it no longer holds.
        while cut < len(messages) and (cut in system or is_tool_result(messages[cut])):
            total -= 0 if cut in system else counts[cut]
            cut += 1
        return [i for i in range(len(messages)) if i >= cut or i in system], total


def _load_hf_tokenizer(path: str | os.PathLike[str]) -> Callable[[str], int]:
    """A text counter with the ``tokenizer.json`` at ``path`` (or in that directory)."""
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
    try:
        tokenizer = Tokenizer.from_file(p)
    except Exception as e:  # the tokenizers package raises a bare Exception
        raise ConfigurationError(f"cannot load the tokenizer at {p}: {e}") from e

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count
