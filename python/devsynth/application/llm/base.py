"""BaseProvider: the public provider API built on a few hooks a backend fills in.

A backend subclasses :class:`BaseProvider`, sets ``name`` (and ``defaults``), and implements
at least :meth:`BaseProvider._complete`. Everything else has a working default:

============================  =====================================================  ===========
hook                          what it does                                           default
============================  =====================================================  ===========
``_complete``                 one chat completion -> :class:`Completion`             (required)
``_stream``                   yield text chunks, then optionally one ``Completion``  ``_complete``
                              (usage, finish reason); the text is taken from chunks  in one piece
``_acomplete``                async ``_complete``                                    in a thread
``_astream``                  async ``_stream``                                      ``_acomplete``
``_embed`` / ``_aembed``      one embedding vector                                   unsupported
``_resolve`` / ``_aresolve``  settle per-call parameters before a request (e.g.      unchanged
                              pick the model, learn ``context_window``)
``_context_window``           the model's window in tokens, for context fitting      parameter
``_token_tracker``            the TokenTracker that counts for this model            by model
``_close`` / ``_aclose``      free clients and connections                           nothing
============================  =====================================================  ===========

Hooks receive ``messages`` as plain ``dict`` copies (the caller's are never mutated) and
``params``: the configured parameters overlaid with the call's, ``None`` values dropped.

Streams are lazy: the request starts when the first chunk is asked for. Closing a stream early
closes the hook's generator, so a backend frees its connection in a ``finally`` block.
"""

from __future__ import annotations

from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import aclosing
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, Protocol, Union

from devsynth.application.llm.secrets import mask_secrets
from devsynth.domain.errors import TokenLimitExceededError, UnsupportedOperationError
from devsynth.domain.llm import (
    Completion,
    Message,
    Parameters,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    Tool,
    ToolCallDelta,
)

if TYPE_CHECKING:
    from devsynth.application.utils.token_tracker import TokenTracker

# What a streaming hook yields: text deltas (str), thinking and tool-call fragments, then
# (optionally) the final result.
StreamPart = Union[str, ThinkingDelta, ToolCallDelta, Completion]  # noqa: UP007 -- runtime on 3.10


class _Received:
    """What a stream has received so far, shared by :class:`TextStream` and its async twin:
    the text and thinking seen, the hook's final Completion, and the whole result at the
    end."""

    def __init__(self, *, provider: str, model: str | None) -> None:
        self._provider = provider
        self._model = model
        self._chunks: list[str] = []
        self._thinking: list[str] = []
        self._final: Completion | None = None
        self._completion: Completion | None = None
        self._done = False

    def _take(self, part: StreamPart) -> StreamEvent | None:
        """A hook's part as the event a caller sees (``None``: nothing to show)."""
        event = _event(part, self._chunks, self._thinking)
        if isinstance(part, Completion):
            self._final = part
        return event

    def _finish(self) -> None:
        self._done = True
        self._completion = _final_completion(
            self._final, "".join(self._chunks), self._provider, self._model
        )

    @property
    def completion(self) -> Completion | None:
        """The whole result once the stream is exhausted; ``None`` before, or if it failed."""
        return self._completion

    @property
    def text(self) -> str:
        """The text received so far."""
        return "".join(self._chunks)

    @property
    def thinking(self) -> str:
        """The thinking received so far (reasoning models that show it)."""
        return "".join(self._thinking)


class TextStream(_Received):
    """A :class:`~devsynth.domain.llm.CompletionStream` over a hook's generator.

    Iterating gives the answer's text; :meth:`events` gives everything as it arrives
    (:class:`TextDelta`, :class:`ThinkingDelta`, :class:`ToolCallDelta`). Either way,
    ``completion`` holds the whole result once the stream is exhausted: text, tool calls
    assembled from their fragments, thinking, usage.
    """

    def __init__(self, parts: Iterator[StreamPart], *, provider: str, model: str | None) -> None:
        super().__init__(provider=provider, model=model)
        self._parts = parts

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while (event := self._next_event()) is not None:
            if isinstance(event, TextDelta):
                return event.text
        raise StopIteration

    def events(self) -> Iterator[StreamEvent]:
        """Text, thinking and tool-call fragments, in the order the provider sent them."""
        while (event := self._next_event()) is not None:
            yield event

    def _next_event(self) -> StreamEvent | None:
        while not self._done:
            try:
                part = next(self._parts)
            except StopIteration:
                self._finish()
                break
            except BaseException:
                self._done = True
                raise
            if (event := self._take(part)) is not None:
                return event
        return None

    def close(self) -> None:
        """Stop early; the backend's generator closes and frees its connection."""
        self._done = True
        close = getattr(self._parts, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> TextStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncTextStream(_Received):
    """The async twin of :class:`TextStream`."""

    def __init__(
        self, parts: AsyncIterator[StreamPart], *, provider: str, model: str | None
    ) -> None:
        super().__init__(provider=provider, model=model)
        self._parts = parts

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        while (event := await self._next_event()) is not None:
            if isinstance(event, TextDelta):
                return event.text
        raise StopAsyncIteration

    async def events(self) -> AsyncIterator[StreamEvent]:
        """Text, thinking and tool-call fragments, in the order the provider sent them."""
        while (event := await self._next_event()) is not None:
            yield event

    async def _next_event(self) -> StreamEvent | None:
        while not self._done:
            try:
                part = await self._parts.__anext__()
            except StopAsyncIteration:
                self._finish()
                break
            except BaseException:
                self._done = True
                raise
            if (event := self._take(part)) is not None:
                return event
        return None

    async def aclose(self) -> None:
        self._done = True
        aclose = getattr(self._parts, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> AsyncTextStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _event(part: StreamPart, chunks: list[str], thinking: list[str]) -> StreamEvent | None:
    """A hook's part as the event a caller sees (text and thinking remembered on the way);
    ``None`` for empty text and for the final Completion."""
    if isinstance(part, str):
        if not part:
            return None
        chunks.append(part)
        return TextDelta(part)
    if isinstance(part, ThinkingDelta):
        thinking.append(part.text)
        return part
    if isinstance(part, ToolCallDelta):
        return part
    return None


def _final_completion(
    final: Completion | None, text: str, provider: str, model: str | None
) -> Completion:
    # The chunks the caller saw are the truth for the text; the hook's Completion adds the rest.
    if final is None:
        return Completion(text=text, provider=provider, model=model)
    return replace(final, text=text)


async def _in_thread(function: Callable[..., Any], *args: Any) -> Any:
    # asyncio is imported on first async use: it alone would double `import devsynth`'s time.
    import asyncio

    return await asyncio.to_thread(function, *args)


def _user(prompt: str) -> dict[str, Any]:
    return {"role": "user", "content": prompt}


def with_options(
    parameters: Parameters | None,
    tools: Sequence[Tool] | None = None,
    tool_choice: Any = None,
    response_format: Mapping[str, Any] | None = None,
) -> Parameters | None:
    """One call's parameters with the keyword options laid over them (the keywords are
    the same thing as the parameters of those names)."""
    options = {
        name: value
        for name, value in (
            ("tools", tools),
            ("tool_choice", tool_choice),
            ("response_format", response_format),
        )
        if value is not None
    }
    if not options:
        return parameters
    return {**(parameters or {}), **options}


class _AsyncStreams(Protocol):
    def astream(self, prompt: str, parameters: Parameters | None = None) -> AsyncTextStream: ...
    def astream_with_context(
        self, prompt: str, context: Sequence[Message], parameters: Parameters | None = None
    ) -> AsyncTextStream: ...


class StreamGenerators:
    """DevSynth's StreamingLLMProvider methods, over a provider's ``astream`` methods (mixed
    into :class:`BaseProvider` and the fallback provider)."""

    async def generate_stream(
        self: _AsyncStreams, prompt: str, parameters: Parameters | None = None
    ) -> AsyncGenerator[str, None]:
        """Text chunks of :meth:`astream`, as an async generator."""
        async with aclosing(self.astream(prompt, parameters)) as stream:
            async for chunk in stream:
                yield chunk

    async def generate_with_context_stream(
        self: _AsyncStreams,
        prompt: str,
        context: Sequence[Message],
        parameters: Parameters | None = None,
    ) -> AsyncGenerator[str, None]:
        """Text chunks of :meth:`astream_with_context`, as an async generator."""
        async with aclosing(self.astream_with_context(prompt, context, parameters)) as stream:
            async for chunk in stream:
                yield chunk


class BaseProvider(StreamGenerators):
    """The provider API of :class:`~devsynth.domain.llm.LLMProvider`, on top of hooks.

    ``parameters`` are the configured ones (``model``, ``max_tokens``, ``temperature``,
    ``api_key``, ...), laid over the class's ``defaults``. Secrets among them never show in
    ``repr()`` or in the ``parameters`` property.
    """

    name: ClassVar[str] = "base"
    defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, parameters: Parameters | None = None) -> None:
        self._parameters: dict[str, Any] = {
            **self.defaults,
            **{k: v for k, v in (parameters or {}).items() if v is not None},
        }

    # -- configuration ---------------------------------------------------------------------

    @property
    def parameters(self) -> dict[str, Any]:
        """The configured parameters, secrets masked."""
        return mask_secrets(self._parameters)

    @property
    def model(self) -> str | None:
        model = self._parameters.get("model")
        return str(model) if model is not None else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, model={self.model!r})"

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        # A provider holds an API key and open connections: neither belongs in a pickle.
        # Send the configuration (without the key) and create the provider where it is used.
        raise TypeError(
            f"{type(self).__name__} cannot be pickled or copied: it holds an API key and open "
            "connections. Pass its configuration instead and create the provider where it "
            "is used (the key from that process's environment)"
        )

    def _params(self, overrides: Parameters | None) -> dict[str, Any]:
        """The configured parameters with one call's overrides (``None`` means "default");
        tools and response_format checked here, before any request."""
        merged = dict(self._parameters)
        if overrides:
            merged.update({k: v for k, v in overrides.items() if v is not None})
        if merged.get("tools") is not None:
            from devsynth.application.llm.tools import check_tools

            merged["tools"] = check_tools(merged["tools"])
        if merged.get("response_format") is not None:
            from devsynth.application.llm.structured import json_request

            json_request(merged["response_format"])
        return merged

    # -- hooks -----------------------------------------------------------------------------

    def _complete(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
        raise NotImplementedError(f"{type(self).__name__} must implement _complete")

    def _stream(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> Generator[StreamPart, None, None]:
        completion = self._complete(messages, params)
        yield completion.text
        yield completion

    async def _acomplete(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> Completion:
        completion: Completion = await _in_thread(self._complete, messages, params)
        return completion

    async def _astream(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> AsyncGenerator[StreamPart, None]:
        completion = await self._acomplete(messages, params)
        yield completion.text
        yield completion

    def _embed(self, text: str, params: dict[str, Any]) -> list[float]:
        raise UnsupportedOperationError(
            f"The {self.name} provider does not offer embeddings", provider=self.name
        )

    async def _aembed(self, text: str, params: dict[str, Any]) -> list[float]:
        vector: list[float] = await _in_thread(self._embed, text, params)
        return vector

    def _resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """Settle a call's parameters before any request (e.g. choose the model)."""
        return params

    async def _aresolve(self, params: dict[str, Any]) -> dict[str, Any]:
        resolved: dict[str, Any] = await _in_thread(self._resolve, params)
        return resolved

    def _context_window(self, params: dict[str, Any]) -> int | None:
        """The model's context window in tokens, when the backend knows it.

        ``None`` leaves it to the TokenTracker (which knows well-known models); when neither
        knows, the context is sent unpruned.
        """
        window = params.get("context_window")
        return int(window) if window is not None else None

    def _token_tracker(self, params: dict[str, Any], window: int | None) -> TokenTracker:
        # Imported here: the tracker loads the Rust core, which `import devsynth` must not.
        from devsynth.application.utils.token_tracker import TokenTracker

        return TokenTracker(model=params.get("model"), context_window=window)

    def _close(self) -> None:
        """Free what the backend holds."""

    async def _aclose(self) -> None:
        self._close()

    # -- context fitting -------------------------------------------------------------------

    def _fit(
        self, prompt: str, context: Sequence[Message], params: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """``context`` then the prompt, oldest context dropped to leave room for the answer.

        The budget is the model's window minus ``max_tokens`` and the tool definitions.
        System messages and the prompt are always kept; when they alone do not fit,
        TokenLimitExceededError. A tool call and its results stay together or go together.
        """
        messages = [dict(m) for m in context] + [_user(prompt)]
        window = self._context_window(params)
        tracker = self._token_tracker(params, window)
        window = window if window is not None else tracker.context_window
        if window is None:
            return messages
        functions = [
            t for t in params.get("tools") or () if t.get("type", "function") == "function"
        ]
        tool_tokens = tracker.count_tools_tokens(functions) if functions else 0
        budget = window - int(params.get("max_tokens") or 0) - tool_tokens
        if budget <= 0:
            raise TokenLimitExceededError(
                f"max_tokens and the tool definitions leave no room for the prompt in the "
                f"model's window of {window}",
                current_tokens=int(params.get("max_tokens") or 0),
                max_tokens=window,
            )
        from devsynth.tokens.chat import is_system_message

        required = [m for m in messages[:-1] if is_system_message(m)] + [messages[-1]]
        needed = tracker.count_conversation_tokens(required)
        if needed > budget:
            raise TokenLimitExceededError(
                f"The prompt needs {needed} tokens but the model's window of {window} leaves "
                f"{budget} after reserving max_tokens and the tool definitions",
                current_tokens=needed,
                max_tokens=budget,
            )
        pruned = [dict(m) for m in tracker.prune_conversation(messages, budget)]
        if not pruned or pruned[-1] != messages[-1]:
            raise TokenLimitExceededError(
                f"The prompt does not fit in {budget} tokens",
                current_tokens=needed,
                max_tokens=budget,
            )
        return pruned

    # -- sync API --------------------------------------------------------------------------

    def complete(
        self,
        messages: Sequence[Message],
        parameters: Parameters | None = None,
        *,
        tools: Sequence[Tool] | None = None,
        tool_choice: Any = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> Completion:
        """The full result (text, tool calls, usage, finish reason, model) for a list of chat
        messages. ``tools`` are in OpenAI's function format on every provider."""
        parameters = with_options(parameters, tools, tool_choice, response_format)
        params = self._resolve(self._params(parameters))
        return self._complete([dict(m) for m in messages], params)

    def generate(self, prompt: str, parameters: Parameters | None = None) -> str:
        return self.complete([_user(prompt)], parameters).text

    def generate_with_context(
        self, prompt: str, context: Sequence[Message], parameters: Parameters | None = None
    ) -> str:
        return self.complete_with_context(prompt, context, parameters).text

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
        """Like :meth:`complete`, the context fitted to the model's window first."""
        parameters = with_options(parameters, tools, tool_choice, response_format)
        params = self._resolve(self._params(parameters))
        return self._complete(self._fit(prompt, context, params), params)

    def stream(self, prompt: str, parameters: Parameters | None = None) -> TextStream:
        params = self._resolve(self._params(parameters))
        return self._text_stream([_user(prompt)], params)

    def stream_with_context(
        self,
        prompt: str,
        context: Sequence[Message],
        parameters: Parameters | None = None,
        *,
        tools: Sequence[Tool] | None = None,
        tool_choice: Any = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> TextStream:
        parameters = with_options(parameters, tools, tool_choice, response_format)
        params = self._resolve(self._params(parameters))
        return self._text_stream(self._fit(prompt, context, params), params)

    def stream_messages(
        self,
        messages: Sequence[Message],
        parameters: Parameters | None = None,
        *,
        tools: Sequence[Tool] | None = None,
        tool_choice: Any = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> TextStream:
        """Stream the answer to a list of chat messages (tool calls assembled as they come)."""
        parameters = with_options(parameters, tools, tool_choice, response_format)
        params = self._resolve(self._params(parameters))
        return self._text_stream([dict(m) for m in messages], params)

    def _text_stream(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> TextStream:
        return TextStream(
            self._stream(messages, params), provider=self.name, model=params.get("model")
        )

    def get_embedding(self, text: str) -> list[float]:
        params = self._resolve(self._params(None))
        return self._embed(text, params)

    def close(self) -> None:
        self._close()

    def __enter__(self) -> BaseProvider:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- async API -------------------------------------------------------------------------

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
        params = await self._aresolve(self._params(parameters))
        return await self._acomplete([dict(m) for m in messages], params)

    async def agenerate(self, prompt: str, parameters: Parameters | None = None) -> str:
        return (await self.acomplete([_user(prompt)], parameters)).text

    async def agenerate_with_context(
        self, prompt: str, context: Sequence[Message], parameters: Parameters | None = None
    ) -> str:
        return (await self.acomplete_with_context(prompt, context, parameters)).text

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
        params = await self._aresolve(self._params(parameters))
        messages = self._fit(prompt, context, params)
        return await self._acomplete(messages, params)

    def astream(self, prompt: str, parameters: Parameters | None = None) -> AsyncTextStream:
        return self._async_text_stream(lambda params: [_user(prompt)], parameters)

    def astream_with_context(
        self,
        prompt: str,
        context: Sequence[Message],
        parameters: Parameters | None = None,
        *,
        tools: Sequence[Tool] | None = None,
        tool_choice: Any = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> AsyncTextStream:
        parameters = with_options(parameters, tools, tool_choice, response_format)
        return self._async_text_stream(
            lambda params: self._fit(prompt, context, params), parameters
        )

    def astream_messages(
        self,
        messages: Sequence[Message],
        parameters: Parameters | None = None,
        *,
        tools: Sequence[Tool] | None = None,
        tool_choice: Any = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> AsyncTextStream:
        parameters = with_options(parameters, tools, tool_choice, response_format)
        return self._async_text_stream(lambda params: [dict(m) for m in messages], parameters)

    def _async_text_stream(
        self,
        build: Callable[[dict[str, Any]], list[dict[str, Any]]],
        parameters: Parameters | None,
    ) -> AsyncTextStream:
        # Everything, parameter resolution included, happens on the first __anext__: the
        # caller's `astream(...)` is a plain call that cannot await.
        overrides = dict(parameters or {})
        params_now = self._params(overrides)

        async def parts() -> AsyncGenerator[StreamPart, None]:
            params = await self._aresolve(dict(params_now))
            inner = self._astream(build(params), params)
            try:
                async for part in inner:
                    yield part
            finally:
                # An async generator left mid-loop is not closed for us: close it now so the
                # backend's connection goes back to its pool.
                aclose = getattr(inner, "aclose", None)
                if aclose is not None:
                    await aclose()

        return AsyncTextStream(parts(), provider=self.name, model=params_now.get("model"))

    async def aget_embedding(self, text: str) -> list[float]:
        params = await self._aresolve(self._params(None))
        return await self._aembed(text, params)

    async def aclose(self) -> None:
        await self._aclose()

    async def __aenter__(self) -> BaseProvider:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


__all__ = [
    "AsyncTextStream",
    "BaseProvider",
    "StreamPart",
    "TextStream",
    "with_options",
]
