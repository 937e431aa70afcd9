"""The Offline provider: a local model on ONNX Runtime when one is configured, deterministic
behaviour when not, behind the same API as the remote providers. Nothing leaves the machine.

Parameters (either path, both, or neither)::

    {"offline_provider": {"model_path": "models/tiny-gpt",            # a decoder directory
                          "embedding_model_path": "models/minilm"},   # a sentence encoder
     "max_tokens": 256, "temperature": 0.0, "top_p": 1.0, "top_k": 0, "seed": 7,
     "stop": ["\\n\\n"],
     "execution_providers": ["CUDAExecutionProvider", "CPUExecutionProvider"],  # onnxruntime's
     "embedding_dimensions": 256}                      # of hash embeddings, without an encoder

``model_path`` and ``embedding_model_path`` may also sit at the top level, as the adapter
passes the ``[offline_provider]`` table of ``devsynth.toml``; the nested form wins. A
configured path that is missing, incomplete or unloadable fails here, at creation, with a
:class:`ModelLoadError` naming it. Loading a model needs the ``offline`` extra
(``pip install "devsynth-llm[offline]"``); the deterministic fallbacks need nothing.

- ``generate(prompt)`` / ``stream(prompt)`` feed the prompt as it is and return only new text;
- ``generate_with_context``, ``complete`` and ``stream_with_context`` render the messages with
  the model's chat template (else a plain role-tagged format, where generation also stops
  at a "User:" turn the model starts writing);
- without a model, text comes from :mod:`devsynth.application.offline.deterministic`;
- ``get_embedding`` uses the encoder, else the core's hash embeddings.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Callable, Generator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from devsynth.application.llm.base import AsyncTextStream, BaseProvider, StreamPart, TextStream
from devsynth.application.offline.dependencies import require_all
from devsynth.application.offline.settings import GenerationSettings
from devsynth.domain.errors import (
    ConfigurationError,
    TokenLimitExceededError,
    UnsupportedOperationError,
)
from devsynth.domain.llm import Completion, Message, Parameters, Usage

if TYPE_CHECKING:
    from devsynth.application.offline.embeddings import SentenceEncoder
    from devsynth.application.offline.language_model import LocalLanguageModel, Prompt
    from devsynth.application.utils.token_tracker import TokenTracker

DETERMINISTIC_MODEL = "offline-deterministic"
_SECTION = "offline_provider"
_PATHS = ("model_path", "embedding_model_path")


class OfflineProvider(BaseProvider):
    """Local generation and embeddings; see the module docstring for the parameters."""

    name: ClassVar[str] = "offline"

    def __init__(self, parameters: Parameters | None = None) -> None:
        super().__init__(parameters)
        self.language_model: LocalLanguageModel | None = None
        self.encoder: SentenceEncoder | None = None
        paths = _model_paths(self._parameters)
        self._settings(self._parameters)  # a bad setting fails now, not on the first call
        providers = self._parameters.get("execution_providers")
        if providers is not None and (
            isinstance(providers, str) or not all(isinstance(p, str) for p in providers)
        ):
            raise ConfigurationError(
                f"execution_providers must be a list of names, got {providers!r}"
            )
        if paths.get("model_path"):
            require_all(purpose=f"model_path {paths['model_path']}")
            from devsynth.application.offline.language_model import LocalLanguageModel

            self.language_model = LocalLanguageModel.load(paths["model_path"], providers=providers)
        if paths.get("embedding_model_path"):
            require_all(purpose=f"embedding_model_path {paths['embedding_model_path']}")
            from devsynth.application.offline.embeddings import SentenceEncoder

            self.encoder = SentenceEncoder.load(paths["embedding_model_path"], providers=providers)

    @property
    def model(self) -> str:
        lm = self.language_model
        return lm.name if lm is not None else DETERMINISTIC_MODEL

    # -- generation from a bare prompt (no chat template) -----------------------------------

    def complete_prompt(self, prompt: str, parameters: Parameters | None = None) -> Completion:
        """The full result for ``prompt`` fed to the model as it is."""
        parts = list(self._stream_prompt(prompt, self._params(parameters)))
        completion = parts[-1]
        assert isinstance(completion, Completion)
        return completion

    def generate(self, prompt: str, parameters: Parameters | None = None) -> str:
        return self.complete_prompt(prompt, parameters).text

    def stream(self, prompt: str, parameters: Parameters | None = None) -> TextStream:
        parts = self._stream_prompt(prompt, self._params(parameters))
        return TextStream(parts, provider=self.name, model=self.model)

    async def agenerate(self, prompt: str, parameters: Parameters | None = None) -> str:
        return await asyncio.to_thread(self.generate, prompt, parameters)

    def astream(self, prompt: str, parameters: Parameters | None = None) -> AsyncTextStream:
        params = self._params(parameters)
        parts = _in_threads(lambda: self._stream_prompt(prompt, params))
        return AsyncTextStream(parts, provider=self.name, model=self.model)

    def _stream_prompt(
        self, prompt: str, params: dict[str, Any]
    ) -> Generator[StreamPart, None, None]:
        settings = self._settings(params)
        lm = self.language_model
        if lm is None:
            yield from self._deterministic(prompt, (), settings)
        else:
            yield from self._run_model(lm, lm.prompt(prompt), settings)

    # -- chat hooks (BaseProvider) -----------------------------------------------------------

    def _complete(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
        parts = list(self._stream(messages, params))
        completion = parts[-1]
        assert isinstance(completion, Completion)
        return completion

    def _stream(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> Generator[StreamPart, None, None]:
        settings = self._settings(params)
        lm = self._check_options(params)
        tools = params.get("tools")
        if lm is None:
            prompt, context = _last_user_turn(messages)
            yield from self._deterministic(prompt, context, settings)
        elif tools:
            yield from self._run_with_tools(lm, lm.chat_prompt(messages, tools), settings)
        else:
            yield from self._run_model(lm, lm.chat_prompt(messages), settings)

    def _check_options(self, params: Mapping[str, Any]) -> LocalLanguageModel | None:
        """The model, once the call's options are ones it can serve."""
        lm = self.language_model
        if params.get("response_format") is not None:
            raise UnsupportedOperationError(
                "The offline provider cannot constrain its output to a response_format; use "
                "the openai, anthropic or lmstudio provider for structured output",
                provider=self.name,
            )
        if params.get("tools") and (lm is None or not lm.supports_tools):
            why = (
                "no local model is configured (offline_provider.model_path)"
                if lm is None
                else f"the chat template of {lm.name} does not declare tool support (it never "
                "reads a `tools` variable)"
            )
            raise UnsupportedOperationError(
                f"The offline provider cannot call tools: {why}. Tool calling offline needs a "
                "model whose chat template takes tools, such as Qwen 2.5 or Hermes 3",
                provider=self.name,
            )
        return lm

    def _run_with_tools(
        self, lm: LocalLanguageModel, prompt: Prompt, settings: GenerationSettings
    ) -> Generator[StreamPart, None, None]:
        # Tool-call blocks are only known once complete: the reply is generated whole, then
        # split into text and calls.
        from devsynth.application.offline.tool_calls import split_tool_calls

        *_, final = self._run_model(lm, prompt, settings)
        assert isinstance(final, Completion)
        text, calls = split_tool_calls(final.text)
        yield text
        yield replace(
            final,
            text=text,
            tool_calls=calls,
            finish_reason="tool_calls" if calls else final.finish_reason,
        )

    def _astream(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> AsyncGenerator[StreamPart, None]:
        return _in_threads(lambda: self._stream(messages, params))

    def _context_window(self, params: dict[str, Any]) -> int | None:
        lm = self.language_model
        if lm is not None and lm.decoder.max_positions is not None:
            return lm.decoder.max_positions
        return super()._context_window(params)

    def _fit(
        self, prompt: str, context: Sequence[Message], params: dict[str, Any]
    ) -> list[dict[str, Any]]:
        messages = super()._fit(prompt, context, params)
        lm = self.language_model
        window = lm.decoder.max_positions if lm is not None else None
        if lm is None or window is None:
            return messages
        from devsynth.tokens.chat import is_system_message

        # The base class counts OpenAI's chat format; the model's own rendering decides.
        reserve = int(params.get("max_tokens") or 1)
        while len(lm.chat_prompt(messages).ids) + reserve > window:
            droppable = [i for i, m in enumerate(messages[:-1]) if not is_system_message(m)]
            if not droppable:
                raise TokenLimitExceededError(
                    f"the prompt and system messages do not fit {lm.name}'s window of "
                    f"{window} tokens with {reserve} left for the answer",
                    current_tokens=len(lm.chat_prompt(messages).ids),
                    max_tokens=window - reserve,
                )
            del messages[droppable[0]]
        return messages

    def _token_tracker(self, params: dict[str, Any], window: int | None) -> TokenTracker:
        lm = self.language_model
        if lm is None:
            return super()._token_tracker(params, window)
        from devsynth.application.utils.token_tracker import TokenTracker

        # The model's own tokenizer: exact counts for context fitting.
        return TokenTracker(tokenizer_path=lm.files.tokenizer, context_window=window)

    # -- embeddings --------------------------------------------------------------------------

    def _embed(self, text: str, params: dict[str, Any]) -> list[float]:
        return self.get_embeddings([text])[0]

    def get_embeddings(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text, batched: the encoder's, else hash embeddings."""
        if isinstance(texts, str):
            raise ConfigurationError("get_embeddings takes a sequence of texts, not one string")
        if self.encoder is not None:
            vectors: list[list[float]] = self.encoder.embed(texts).tolist()
            return vectors
        from devsynth.application.embeddings import DEFAULT_DIMENSIONS, hash_embeddings

        dimensions = int(self._parameters.get("embedding_dimensions") or DEFAULT_DIMENSIONS)
        return hash_embeddings(list(texts), dimensions)

    async def aget_embeddings(self, texts: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.get_embeddings, texts)

    def _close(self) -> None:
        self.language_model = None
        self.encoder = None

    # -- shared ------------------------------------------------------------------------------

    def _settings(self, params: Mapping[str, Any]) -> GenerationSettings:
        lm = self.language_model
        base = lm.defaults if lm is not None else GenerationSettings()
        return base.updated(params)

    def _run_model(
        self, lm: LocalLanguageModel, prompt: Prompt, settings: GenerationSettings
    ) -> Generator[StreamPart, None, None]:
        stream = lm.stream(prompt, settings)
        try:
            yield from stream
        finally:
            stream.close()
        result = stream.result
        assert result is not None
        yield Completion(
            text=result.text,
            provider=self.name,
            model=lm.name,
            usage=Usage(result.prompt_tokens, len(result.token_ids)),
            finish_reason=result.finish_reason,
            metadata={"backend": "onnxruntime", "model_path": str(lm.files.root)},
        )

    def _deterministic(
        self, prompt: str, context: Sequence[Message], settings: GenerationSettings
    ) -> Generator[StreamPart, None, None]:
        from devsynth.application.offline.deterministic import chunks, generate_deterministic

        result = generate_deterministic(prompt, settings, context)
        yield from chunks(result.text)
        yield Completion(
            text=result.text,
            provider=self.name,
            model=DETERMINISTIC_MODEL,
            usage=Usage(result.prompt_tokens, result.completion_tokens),
            finish_reason=result.finish_reason,
            metadata={"backend": "deterministic"},
        )


def _model_paths(parameters: Mapping[str, Any]) -> dict[str, str]:
    """``model_path`` and ``embedding_model_path``: nested under ``offline_provider`` (the
    documented form) or at the top level (the project file's table, as the adapter passes
    it); empty values mean "not configured"."""
    nested = parameters.get(_SECTION) or {}
    if not isinstance(nested, Mapping):
        raise ConfigurationError(f"{_SECTION} must be a mapping, got {type(nested).__name__}")
    paths: dict[str, str] = {}
    for key in _PATHS:
        value = nested.get(key, parameters.get(key))
        if value is None or value == "":
            continue
        if not isinstance(value, (str, os.PathLike)):
            raise ConfigurationError(f"{_SECTION}.{key} must be a path, got {value!r}")
        paths[key] = str(Path(value).expanduser())
    return paths


def _last_user_turn(messages: Sequence[Message]) -> tuple[str, Sequence[Message]]:
    """The deterministic text quotes the last message; earlier ones only vary it."""
    if not messages:
        return "", ()
    content = messages[-1].get("content", "")
    return (content if isinstance(content, str) else str(content)), messages[:-1]


async def _in_threads(
    start: Callable[[], Generator[StreamPart, None, None]],
) -> AsyncGenerator[StreamPart, None]:
    """A blocking part generator, stepped in worker threads so the event loop stays free."""
    parts = start()  # a generator: nothing runs until the first next()
    try:
        # Parts are never None, so None marks the end.
        while (part := await asyncio.to_thread(next, parts, None)) is not None:
            yield part
    finally:
        await asyncio.to_thread(parts.close)


__all__ = ["DETERMINISTIC_MODEL", "OfflineProvider"]
