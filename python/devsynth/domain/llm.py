"""What an LLM provider is, independent of any backend: the protocol every provider follows,
the result types it returns and the factory that makes providers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

# A chat message as the OpenAI wire format spells it: {"role": ..., "content": ..., "name": ...}.
Message = Mapping[str, Any]
Parameters = Mapping[str, Any]


@dataclass(frozen=True)
class Usage:
    """Tokens a call consumed, as the provider reported them (or counted locally).

    ``prompt_tokens`` counts every input token, cached ones included: OpenAI's basis, so
    figures compare across providers. For Anthropic, whose ``input_tokens`` leaves cached
    tokens out, it is ``input_tokens + cache_read_input_tokens +
    cache_creation_input_tokens``. Of the prompt, ``cache_read_input_tokens`` were read from
    the prompt cache (OpenAI's ``prompt_tokens_details.cached_tokens``) and
    ``cache_creation_input_tokens`` were written to it (Anthropic bills both differently).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Completion:
    """The full result of one generation."""

    text: str
    provider: str
    model: str | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    request_id: str | None = None
    # Extra facts a provider knows (e.g. which provider of a fallback chain answered).
    metadata: Mapping[str, Any] = field(default_factory=dict)


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
    ``max_tokens``, ``temperature``, ...). ``context`` is a list of chat messages sent before
    ``prompt`` (the user's turn); the ``*_with_context`` methods fit it to the model's window,
    oldest messages dropped first.
    """

    name: str

    def complete(
        self, messages: Sequence[Message], parameters: Parameters | None = None
    ) -> Completion: ...
    def complete_with_context(
        self, prompt: str, context: Sequence[Message], parameters: Parameters | None = None
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
        self, messages: Sequence[Message], parameters: Parameters | None = None
    ) -> Completion: ...
    async def acomplete_with_context(
        self, prompt: str, context: Sequence[Message], parameters: Parameters | None = None
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
