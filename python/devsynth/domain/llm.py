"""What an LLM provider is, independent of any backend: the protocol every provider follows,
the result types it returns and the factory that makes providers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, Union, runtime_checkable

# A chat message as the OpenAI wire format spells it: {"role": ..., "content": ..., "name": ...}.
# Tool calls and results keep that shape on every provider: an assistant message with
# "tool_calls": [{"id", "type": "function", "function": {"name", "arguments"}}], answered by
# {"role": "tool", "tool_call_id": ..., "content": ...}. An assistant message may also carry
# "thinking_blocks" (Anthropic's extended thinking), sent back intact on the next turn.
Message = Mapping[str, Any]
Parameters = Mapping[str, Any]
# A tool in OpenAI's function format: {"type": "function", "function": {"name", "description",
# "parameters": <JSON schema>}}.
Tool = Mapping[str, Any]


@dataclass(frozen=True)
class Usage:
    """Tokens a call consumed, as the provider reported them (or counted locally).

    ``prompt_tokens`` counts every input token, cached ones included: OpenAI's basis, so
    figures compare across providers. For Anthropic, whose ``input_tokens`` leaves cached
    tokens out, it is ``input_tokens + cache_read_input_tokens +
    cache_creation_input_tokens``. Of the prompt, ``cache_read_input_tokens`` were read from
    the prompt cache (OpenAI's ``prompt_tokens_details.cached_tokens``) and
    ``cache_creation_input_tokens`` were written to it (Anthropic bills both differently).
    ``reasoning_tokens`` is the part of ``completion_tokens`` a reasoning model spent
    thinking (OpenAI's ``completion_tokens_details.reasoning_tokens``, Anthropic's
    ``output_tokens_details.thinking_tokens``); ``None`` when the provider did not say.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    reasoning_tokens: int | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ToolCall(NamedTuple):
    """One call of a tool the model asked for (a named tuple: cheap to define, so
    ``import devsynth`` stays fast).

    ``arguments`` is the argument text exactly as the model wrote it; ``parsed_arguments``
    is that text parsed (a dict), or ``None`` with ``arguments_error`` saying why it did not
    parse: a call with broken arguments is reported, never dropped.
    """

    id: str
    name: str
    arguments: str
    parsed_arguments: dict[str, Any] | None = None
    arguments_error: str | None = None

    @property
    def valid(self) -> bool:
        """True when the arguments parsed to a JSON object."""
        return self.arguments_error is None and self.parsed_arguments is not None

    def to_message(self) -> dict[str, Any]:
        """The call as an assistant message's ``tool_calls`` entry (OpenAI's shape)."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }

    def result(self, content: Any) -> dict[str, Any]:
        """The ``{"role": "tool", ...}`` message that answers this call: text (or content
        parts) as given, anything else as its JSON text, which every API takes."""
        if not isinstance(content, (str, list)):
            import json  # only for results that are not text

            content = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        return {"role": "tool", "tool_call_id": self.id, "content": content}


@dataclass(frozen=True)
class Completion:
    """The full result of one generation.

    ``tool_calls``: the tools the model asked to call, in order. ``thinking``: a reasoning
    model's visible thinking, apart from ``text``; ``thinking_blocks`` keeps the blocks as the
    provider sent them (signatures included), to be sent back with :attr:`message`.
    ``parsed``: the reply parsed as JSON when a ``response_format`` asked for JSON.
    """

    text: str
    provider: str
    model: str | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    request_id: str | None = None
    # Extra facts a provider knows (e.g. which provider of a fallback chain answered).
    metadata: Mapping[str, Any] = field(default_factory=dict)
    tool_calls: tuple[ToolCall, ...] = ()
    thinking: str | None = None
    thinking_blocks: tuple[Mapping[str, Any], ...] = ()
    parsed: Any = None

    @property
    def message(self) -> dict[str, Any]:
        """This reply as the assistant message to append to the conversation for the next
        turn: text, tool calls and thinking blocks, each in the shape every provider takes."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            message["tool_calls"] = [call.to_message() for call in self.tool_calls]
            message["content"] = self.text or None
        if self.thinking_blocks:
            message["thinking_blocks"] = [dict(block) for block in self.thinking_blocks]
        return message


# What a stream carries, as TextStream.events() gives it. Named tuples: cheaper to define than
# dataclasses, so `import devsynth` stays fast.
class TextDelta(NamedTuple):
    """A piece of the answer's text."""

    text: str


class ThinkingDelta(NamedTuple):
    """A piece of a reasoning model's thinking, as it arrives."""

    text: str


class ToolCallDelta(NamedTuple):
    """A piece of tool call ``index``: its id and name arrive first, then argument text."""

    index: int  # type: ignore[assignment]  # the call's position, as the APIs name it
    id: str | None = None
    name: str | None = None
    arguments: str = ""


StreamEvent = Union[TextDelta, ThinkingDelta, ToolCallDelta]  # noqa: UP007 -- runtime on 3.10


@runtime_checkable
class CompletionStream(Protocol):
    """Text chunks as they arrive; once exhausted, ``completion`` holds the whole result
    (usage and finish reason included). ``close()`` stops early and frees the connection."""

    def __iter__(self) -> Iterator[str]: ...
    def __next__(self) -> str: ...
    @property
    def completion(self) -> Completion | None: ...
    def close(self) -> None: ...


@runtime_checkable
class AsyncCompletionStream(Protocol):
    """The async twin of :class:`CompletionStream`."""

    def __aiter__(self) -> AsyncIterator[str]: ...
    async def __anext__(self) -> str: ...
    @property
    def completion(self) -> Completion | None: ...
    async def aclose(self) -> None: ...


@runtime_checkable
class StreamingLLMProvider(Protocol):
    """DevSynth's own provider interface, which every provider here offers unchanged::

        text = provider.generate("Hello")
        async for chunk in provider.generate_stream("Tell me a story"):
            print(chunk, end="")

    The two streams are async generators of text chunks; leaving the loop early (``break``)
    closes the connection once the generator is closed (``aclose()``, or at garbage
    collection).
    """

    def generate(self, prompt: str, parameters: Parameters | None = None) -> str: ...
    def generate_with_context(
        self, prompt: str, context: Sequence[Message], parameters: Parameters | None = None
    ) -> str: ...
    def get_embedding(self, text: str) -> list[float]: ...
    def generate_stream(
        self, prompt: str, parameters: Parameters | None = None
    ) -> AsyncIterator[str]: ...
    def generate_with_context_stream(
        self, prompt: str, context: Sequence[Message], parameters: Parameters | None = None
    ) -> AsyncIterator[str]: ...


@runtime_checkable
class LLMProvider(StreamingLLMProvider, Protocol):
    """The operations every provider offers, sync and async (DevSynth's
    :class:`StreamingLLMProvider` among them).

    ``parameters`` override the provider's configured ones for one call (``model``,
    ``max_tokens``, ``temperature``, ``reasoning_effort``, ``thinking``, ...). ``context`` is a
    list of chat messages sent before ``prompt`` (the user's turn); the ``*_with_context``
    methods fit it to the model's window, oldest messages dropped first. ``tools`` (OpenAI's
    function format), ``tool_choice`` and ``response_format`` may also be given as
    parameters; the keywords are the same thing.
    """

    name: str

    def complete(
        self,
        messages: Sequence[Message],
        parameters: Parameters | None = None,
        *,
        tools: Sequence[Tool] | None = None,
        tool_choice: Any = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> Completion: ...
    def complete_with_context(
        self,
        prompt: str,
        context: Sequence[Message],
        parameters: Parameters | None = None,
        *,
        tools: Sequence[Tool] | None = None,
        tool_choice: Any = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> Completion: ...
    def stream(self, prompt: str, parameters: Parameters | None = None) -> CompletionStream: ...
    def stream_with_context(
        self, prompt: str, context: Sequence[Message], parameters: Parameters | None = None
    ) -> CompletionStream: ...

    async def agenerate(self, prompt: str, parameters: Parameters | None = None) -> str: ...
    async def agenerate_with_context(
        self, prompt: str, context: Sequence[Message], parameters: Parameters | None = None
    ) -> str: ...
    async def acomplete(
        self,
        messages: Sequence[Message],
        parameters: Parameters | None = None,
        *,
        tools: Sequence[Tool] | None = None,
        tool_choice: Any = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> Completion: ...
    async def acomplete_with_context(
        self,
        prompt: str,
        context: Sequence[Message],
        parameters: Parameters | None = None,
        *,
        tools: Sequence[Tool] | None = None,
        tool_choice: Any = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> Completion: ...
    def astream(
        self, prompt: str, parameters: Parameters | None = None
    ) -> AsyncCompletionStream: ...
    def astream_with_context(
        self, prompt: str, context: Sequence[Message], parameters: Parameters | None = None
    ) -> AsyncCompletionStream: ...
    async def aget_embedding(self, text: str) -> list[float]: ...

    def close(self) -> None: ...
    async def aclose(self) -> None: ...


@runtime_checkable
class LLMProviderFactory(Protocol):
    """Makes providers, in either of two forms::

        factory.create_provider(LLMProviderConfig("openai", {"model": "gpt-4o"}))  # a config
        factory.create_provider("openai", {"model": "gpt-4o"})      # DevSynth: type, settings
        factory.register_provider_type("mine", MyProvider)          # MyProvider(settings)

    ``config`` of the DevSynth form holds the provider's parameters (``None``: defaults).
    """

    def create_provider(
        self, provider_type: Any = None, config: Mapping[str, Any] | None = None
    ) -> LLMProvider: ...
    def register_provider_type(
        self, provider_type: str, provider_class: Callable[..., Any]
    ) -> None: ...
