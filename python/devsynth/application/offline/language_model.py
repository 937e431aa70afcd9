"""A decoder directory as text in, text out: ``generate``, ``stream`` and batches.

Ties together the tokenizer, the ONNX decoder loop, the end-of-sequence ids and sampling
defaults from the model's JSON files, stop strings and the chat template. Only the new
text is returned, never the prompt.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devsynth.application.offline.chat_template import PLAIN_STOP, ChatTemplate, render_plain
from devsynth.application.offline.decoder_io import inspect_decoder
from devsynth.application.offline.dependencies import require_all
from devsynth.application.offline.generation import Decoder
from devsynth.application.offline.model_dir import (
    ModelFiles,
    context_window,
    eos_token_ids,
    generation_defaults,
    load_session,
    load_tokenizer,
    read_decoder_dir,
    token_id,
)
from devsynth.application.offline.sampling import make_rng
from devsynth.application.offline.settings import GenerationSettings
from devsynth.application.offline.text_stream import TextAssembler
from devsynth.domain.errors import ConfigurationError, ContextLengthExceededError
from devsynth.domain.llm import Message

if TYPE_CHECKING:
    from tokenizers import Tokenizer


@dataclass(frozen=True)
class GenerationResult:
    """One finished generation: the new text only."""

    text: str
    token_ids: tuple[int, ...]
    prompt_tokens: int
    finish_reason: str  # "stop": end of sequence or a stop string; "length": out of tokens


@dataclass(frozen=True)
class Prompt:
    """Token ids to feed, and stop strings the prompt's format adds."""

    ids: list[int]
    stop: tuple[str, ...] = ()


class GenerationStream:
    """Text chunks of one generation as tokens arrive; ``result`` once exhausted."""

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._chunks = self._iterate()
        self.result: GenerationResult | None = None

    def _iterate(self) -> Iterator[str]:
        for chunks in self._run:
            if chunks[0]:
                yield chunks[0]
        self.result = self._run.results()[0]

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._chunks)

    def close(self) -> None:
        self._run.close()


class LocalLanguageModel:
    """A decoder-only model exported to ONNX, with its tokenizer."""

    def __init__(
        self,
        files: ModelFiles,
        tokenizer: Tokenizer,
        decoder: Decoder,
        *,
        eos_ids: frozenset[int],
        bos_id: int | None,
        defaults: GenerationSettings,
        chat_template: ChatTemplate | None,
    ) -> None:
        self.files = files
        self.tokenizer = tokenizer
        self.decoder = decoder
        self.eos_ids = eos_ids
        self.bos_id = bos_id
        self.defaults = defaults
        self.chat_template = chat_template

    @classmethod
    def load(
        cls, path: str | Path, *, providers: Sequence[str] | None = None
    ) -> LocalLanguageModel:
        """Check and load the directory; every problem is a ModelLoadError naming it."""
        require_all(purpose=f"the language model at {path}")
        files = read_decoder_dir(path)
        tokenizer = load_tokenizer(files.tokenizer)
        session = load_session(files.model, providers)
        signature = inspect_decoder(session, files.config, files.model)
        eos_ids = eos_token_ids(files, tokenizer)
        pad_id = token_id(files, "pad_token_id")
        decoder = Decoder(
            session,
            signature,
            pad_id=pad_id if pad_id is not None else min(eos_ids, default=0),
            max_positions=context_window(files.config),
        )
        template = ChatTemplate.from_tokenizer_config(
            files.tokenizer_config, files.root / "tokenizer_config.json"
        )
        if template is not None:
            template.precompile()
        return cls(
            files,
            tokenizer,
            decoder,
            eos_ids=eos_ids,
            bos_id=token_id(files, "bos_token_id"),
            defaults=generation_defaults(files),
            chat_template=template,
        )

    @property
    def name(self) -> str:
        return self.files.root.name

    def settings(self, parameters: Mapping[str, Any] | None = None) -> GenerationSettings:
        """The model's defaults (generation_config.json) with ``parameters`` applied."""
        return self.defaults.updated(parameters or {})

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def prompt(self, text: str) -> Prompt:
        """A plain prompt, fed as it is (with the tokenizer's own special tokens)."""
        return Prompt(self._non_empty(self.tokenizer.encode(text).ids))

    @property
    def supports_tools(self) -> bool:
        """Whether the model's chat template declares tool support (it reads ``tools``)."""
        return self.chat_template is not None and self.chat_template.supports_tools

    def chat_prompt(
        self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]] | None = None
    ) -> Prompt:
        """Messages (and tools, for a template that takes them) through the model's chat
        template, else the role-tagged format."""
        if self.chat_template is not None:
            # The template writes the special tokens (BOS...) itself.
            text = self.chat_template.render(messages, tools=tools)
            return Prompt(
                self._non_empty(self.tokenizer.encode(text, add_special_tokens=False).ids)
            )
        return Prompt(
            self._non_empty(self.tokenizer.encode(render_plain(messages)).ids), PLAIN_STOP
        )

    def stream(
        self, prompt: Prompt, settings: GenerationSettings, *, use_cache: bool = True
    ) -> GenerationStream:
        return GenerationStream(self._start([prompt], settings, use_cache))

    def generate(
        self, prompt: Prompt, settings: GenerationSettings, *, use_cache: bool = True
    ) -> GenerationResult:
        stream = self.stream(prompt, settings, use_cache=use_cache)
        for _ in stream:
            pass
        assert stream.result is not None
        return stream.result

    def generate_batch(
        self, prompts: Sequence[Prompt], settings: GenerationSettings, *, use_cache: bool = True
    ) -> list[GenerationResult]:
        """Several prompts in one left-padded batch (greedy results equal one-by-one ones)."""
        run = self._start(prompts, settings, use_cache)
        for _ in run:
            pass
        return run.results()

    def _start(
        self, prompts: Sequence[Prompt], settings: GenerationSettings, use_cache: bool
    ) -> _Run:
        longest = max(len(p.ids) for p in prompts)
        window = self.decoder.max_positions
        if window is not None and longest >= window:
            raise ContextLengthExceededError(
                f"the prompt has {longest} tokens; {self.name} reads at most {window}",
                current_tokens=longest,
                max_tokens=window,
                provider="offline",
            )
        return _Run(self, prompts, settings, use_cache)

    def _non_empty(self, ids: list[int]) -> list[int]:
        if ids:
            return ids
        if self.bos_id is None:
            raise ConfigurationError(f"the prompt is empty and {self.name} has no bos_token_id")
        return [self.bos_id]

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)


class _Run:
    """One generation over a batch: per step, the text each row releases."""

    def __init__(
        self,
        model: LocalLanguageModel,
        prompts: Sequence[Prompt],
        settings: GenerationSettings,
        use_cache: bool,
    ) -> None:
        self._model = model
        self._prompts = prompts
        self._rows = [TextAssembler(model._decode, (*settings.stop, *p.stop)) for p in prompts]
        self._finish: list[str | None] = [None] * len(prompts)
        self._steps = model.decoder.steps(
            [p.ids for p in prompts], settings, make_rng(settings.seed), use_cache=use_cache
        )

    def __iter__(self) -> Iterator[list[str]]:
        for tokens in self._steps:
            chunks = [self._take(row, int(token)) for row, token in enumerate(tokens)]
            if all(self._finish):
                self._steps.close()
                yield chunks
                return
            yield chunks
        # Out of tokens or out of context window.
        yield [self._end(row, "length") for row in range(len(self._rows))]

    def _take(self, row: int, token: int) -> str:
        if self._finish[row]:
            return ""
        if token in self._model.eos_ids:
            return self._end(row, "stop")
        chunk = self._rows[row].push(token)
        if self._rows[row].stopped:
            self._finish[row] = "stop"
        return chunk

    def _end(self, row: int, reason: str) -> str:
        if self._finish[row] is None:
            self._finish[row] = reason
            return self._rows[row].finish()
        return ""

    def close(self) -> None:
        self._steps.close()

    def results(self) -> list[GenerationResult]:
        return [
            GenerationResult(
                text=assembler.text,
                token_ids=tuple(assembler.token_ids),
                prompt_tokens=len(prompt.ids),
                finish_reason=reason or "length",
            )
            for assembler, prompt, reason in zip(
                self._rows, self._prompts, self._finish, strict=True
            )
        ]
