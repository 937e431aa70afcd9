"""A chain of providers that answers with the first one that can.

The chain moves on only when a provider cannot be reached, times out or fails on its side
(connection, timeout and server errors, after that provider's own retries, and replies it
could not use: of the wrong shape or over the size limit). Authentication,
permission and bad-request errors stop it: the next provider would not fix the request, and
silently answering from another backend would hide a configuration mistake. A stream moves on
only while it has not yet given the caller any text.

Which provider answered: ``Completion.metadata["answered_by"]`` (with ``"skipped"``, the
providers that failed first), and the chain's ``last_provider``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from devsynth.application.llm.base import (
    AsyncTextStream,
    StreamGenerators,
    StreamPart,
    TextStream,
    with_options,
)
from devsynth.domain.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ResponseFormatError,
    ResponseTooLargeError,
    ServerError,
    StreamInterruptedError,
    UnsupportedOperationError,
)
from devsynth.domain.llm import Completion, LLMProvider, Message, Parameters, TextDelta, Tool

logger = logging.getLogger("devsynth.llm.fallback")

FALLBACK_ERRORS: tuple[type[ProviderError], ...] = (
    ProviderConnectionError,
    ProviderTimeoutError,
    ServerError,
    ResponseFormatError,
    ResponseTooLargeError,
)
# A stream that broke off (or sent an error event) before any text may move on too.
_STREAM_FALLBACK_ERRORS: tuple[type[ProviderError], ...] = (
    *FALLBACK_ERRORS,
    StreamInterruptedError,
)
T = TypeVar("T")


def _user(prompt: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": prompt}]


class FallbackProvider(StreamGenerators):
    """An :class:`~devsynth.domain.llm.LLMProvider` over several, tried in order."""

    name = "fallback"

    def __init__(self, providers: Sequence[LLMProvider]) -> None:
        if not providers:
            raise ValueError("a fallback chain needs at least one provider")
        self.providers = list(providers)
        self.last_provider: str | None = None

    def __repr__(self) -> str:
        return f"FallbackProvider({[p.name for p in self.providers]!r})"

    def _moving_on(self, provider: LLMProvider, exc: ProviderError) -> None:
        logger.warning(
            "%s failed (%s); trying the next provider", provider.name, type(exc).__name__
        )

    def _answered(
        self, completion: Completion, provider: LLMProvider, skipped: list[str]
    ) -> Completion:
        self.last_provider = provider.name
        metadata = {**completion.metadata, "answered_by": provider.name, "skipped": skipped}
        return replace(completion, metadata=metadata)

    def _first(
        self, call: Callable[[LLMProvider], T], also: tuple[type[ProviderError], ...] = ()
    ) -> tuple[T, LLMProvider, list[str]]:
        skipped: list[str] = []
        for index, provider in enumerate(self.providers):
            try:
                return call(provider), provider, skipped
            except (*FALLBACK_ERRORS, *also) as exc:
                if index == len(self.providers) - 1:
                    raise
                self._moving_on(provider, exc)
                skipped.append(provider.name)
        raise AssertionError("unreachable")

    async def _afirst(
        self,
        call: Callable[[LLMProvider], Awaitable[T]],
        also: tuple[type[ProviderError], ...] = (),
    ) -> tuple[T, LLMProvider, list[str]]:
        skipped: list[str] = []
        for index, provider in enumerate(self.providers):
            try:
                return await call(provider), provider, skipped
            except (*FALLBACK_ERRORS, *also) as exc:
                if index == len(self.providers) - 1:
                    raise
                self._moving_on(provider, exc)
                skipped.append(provider.name)
        raise AssertionError("unreachable")

    # -- sync ------------------------------------------------------------------------------

    def complete(
        self,
        messages: Sequence[Message],
        parameters: Parameters | None = None,
        *,
        tools: Sequence[Tool] | None = None,
        tool_choice: Any = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> Completion:
        parameters = with_options(parameters, tools, tool_choice, response_format)
        result, provider, skipped = self._first(lambda p: p.complete(messages, parameters))
        return self._answered(result, provider, skipped)

    def complete_with_context(
        self,
        prompt: str,
        context: Sequence[Message],
        parameters: Parameters | None = None,
        *,
        tools: Sequence[Tool] | None = None,
        tool_choice: Any = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> Completion:
        parameters = with_options(parameters, tools, tool_choice, response_format)
        result, provider, skipped = self._first(
            lambda p: p.complete_with_context(prompt, context, parameters)
        )
        return self._answered(result, provider, skipped)

    def generate(self, prompt: str, parameters: Parameters | None = None) -> str:
        return self.complete(_user(prompt), parameters).text

    def generate_with_context(
        self, prompt: str, context: Sequence[Message], parameters: Parameters | None = None
    ) -> str:
        return self.complete_with_context(prompt, context, parameters).text

    def stream(self, prompt: str, parameters: Parameters | None = None) -> TextStream:
        return TextStream(
            self._stream_parts(lambda p: p.stream(prompt, parameters)),
            provider=self.name,
            model=None,
        )

    def stream_with_context(
        self, prompt: str, context: Sequence[Message], parameters: Parameters | None = None
    ) -> TextStream:
        return TextStream(
            self._stream_parts(lambda p: p.stream_with_context(prompt, context, parameters)),
            provider=self.name,
            model=None,
        )

    def _stream_parts(
        self, open_stream: Callable[[LLMProvider], Any]
    ) -> Generator[StreamPart, None, None]:
        skipped: list[str] = []
        for index, provider in enumerate(self.providers):
            started = False
            stream = None
            try:
                stream = open_stream(provider)
                # Thinking and tool-call fragments pass too, from streams that have them.
                events = stream.events() if hasattr(stream, "events") else stream
                for event in events:
                    started = True
                    yield event.text if isinstance(event, TextDelta) else event
            except _STREAM_FALLBACK_ERRORS as exc:
                if started or index == len(self.providers) - 1:
                    raise
                self._moving_on(provider, exc)
                skipped.append(provider.name)
                continue
            finally:
                if stream is not None:
                    stream.close()
            final = stream.completion or Completion(text="", provider=provider.name)
            yield self._answered(final, provider, skipped)
            return

    def get_embedding(self, text: str) -> list[float]:
        result, provider, _ = self._first(
            lambda p: p.get_embedding(text), (UnsupportedOperationError,)
        )
        self.last_provider = provider.name
        return result

    def close(self) -> None:
        for provider in self.providers:
            provider.close()

    # -- async -----------------------------------------------------------------------------

    async def acomplete(
        self,
        messages: Sequence[Message],
        parameters: Parameters | None = None,
        *,
        tools: Sequence[Tool] | None = None,
        tool_choice: Any = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> Completion:
        parameters = with_options(parameters, tools, tool_choice, response_format)
        result, provider, skipped = await self._afirst(lambda p: p.acomplete(messages, parameters))
        return self._answered(result, provider, skipped)

    async def acomplete_with_context(
        self,
        prompt: str,
        context: Sequence[Message],
        parameters: Parameters | None = None,
        *,
        tools: Sequence[Tool] | None = None,
        tool_choice: Any = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> Completion:
        parameters = with_options(parameters, tools, tool_choice, response_format)
        result, provider, skipped = await self._afirst(
            lambda p: p.acomplete_with_context(prompt, context, parameters)
        )
        return self._answered(result, provider, skipped)

    async def agenerate(self, prompt: str, parameters: Parameters | None = None) -> str:
        return (await self.acomplete(_user(prompt), parameters)).text

    async def agenerate_with_context(
        self, prompt: str, context: Sequence[Message], parameters: Parameters | None = None
    ) -> str:
        return (await self.acomplete_with_context(prompt, context, parameters)).text

    def astream(self, prompt: str, parameters: Parameters | None = None) -> AsyncTextStream:
        return AsyncTextStream(
            self._astream_parts(lambda p: p.astream(prompt, parameters)),
            provider=self.name,
            model=None,
        )

    def astream_with_context(
        self, prompt: str, context: Sequence[Message], parameters: Parameters | None = None
    ) -> AsyncTextStream:
        return AsyncTextStream(
            self._astream_parts(lambda p: p.astream_with_context(prompt, context, parameters)),
            provider=self.name,
            model=None,
        )

    async def _astream_parts(
        self, open_stream: Callable[[LLMProvider], Any]
    ) -> AsyncGenerator[StreamPart, None]:
        skipped: list[str] = []
        for index, provider in enumerate(self.providers):
            started = False
            stream = None
            try:
                stream = open_stream(provider)
                events = stream.events() if hasattr(stream, "events") else stream
                async for event in events:
                    started = True
                    yield event.text if isinstance(event, TextDelta) else event
            except _STREAM_FALLBACK_ERRORS as exc:
                if started or index == len(self.providers) - 1:
                    raise
                self._moving_on(provider, exc)
                skipped.append(provider.name)
                continue
            finally:
                if stream is not None:
                    await stream.aclose()
            final = stream.completion or Completion(text="", provider=provider.name)
            yield self._answered(final, provider, skipped)
            return

    async def aget_embedding(self, text: str) -> list[float]:
        result, provider, _ = await self._afirst(
            lambda p: p.aget_embedding(text), (UnsupportedOperationError,)
        )
        self.last_provider = provider.name
        return result

    async def aclose(self) -> None:
        for provider in self.providers:
            await provider.aclose()


__all__ = ["FALLBACK_ERRORS", "FallbackProvider"]
