"""The Encoding: tiktoken's API and semantics over the Rust core, plus counting that never
builds the token list."""

from __future__ import annotations

import _thread

from devsynth import _core
from devsynth.tokens.arrays import count_column, is_column

# What follows is for type checkers only. A cold start (import to first encode) was mostly
# imports: typing alone (with re, collections and functools behind it) took 13 of 27-34 ms on
# the 2-core VM; without it, threading and pathlib, the whole start takes 3 ms. Annotations
# are never evaluated here (``from __future__ import annotations``), so nothing at run time
# needs them. Type checkers take any name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Sequence
    from typing import Any, Literal, TypeAlias, overload

    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

    from devsynth.tokens.arrays import ArrowArrayExportable, ArrowStreamExportable

    AllowedSpecial: TypeAlias = Literal["all"] | Collection[str]
    DisallowedSpecial: TypeAlias = Literal["all"] | Collection[str]
    BatchOutput: TypeAlias = Literal["list", "numpy", "arrow"]

_EMPTY: frozenset[str] = frozenset()
# Prepared sets are cheap but not free (an automaton each); keep the recent ones per encoding.
_SET_CACHE_LIMIT = 64


class Encoding:
    """A BPE encoding with tiktoken's API: ``encode``, ``decode`` and friends give exactly
    tiktoken's results. Beyond tiktoken: ``count`` and ``count_batch``.

    Built-in encodings come from :func:`devsynth.tokens.get_encoding`; the constructor takes
    tiktoken's arguments to build a custom one.
    """

    name: str

    def __init__(
        self,
        name: str,
        *,
        pat_str: str,
        mergeable_ranks: dict[bytes, int],
        special_tokens: dict[str, int],
        explicit_n_vocab: int | None = None,
    ) -> None:
        core = _core.CoreEncoding.custom(
            name, pat_str, mergeable_ranks, special_tokens, explicit_n_vocab
        )
        self._setup(core)

    @classmethod
    def _from_core(cls, core: _core.CoreEncoding) -> Encoding:
        enc = cls.__new__(cls)
        enc._setup(core)
        return enc

    def _setup(self, core: _core.CoreEncoding) -> None:
        self._core = core
        self.name, self._pat_str, self.max_token_value, self._is_builtin, specials = core.describe()
        self._special_tokens: dict[str, int] = dict(specials)
        self.special_tokens_set: frozenset[str] = frozenset(self._special_tokens)
        self._special_token_values = frozenset(self._special_tokens.values())
        self._sets: dict[tuple[frozenset[str] | None, ...], _core.Specials] = {}
        self._sets_lock = _thread.allocate_lock()  # threading.Lock itself
        # encode_ordinary's rules (nothing allowed or refused), and encode's defaults.
        self._ordinary = self._specials(_EMPTY, _EMPTY)
        self._default = self._specials(_EMPTY, "all")

    def __repr__(self) -> str:
        return f"<Encoding {self.name!r}>"

    # Pickled by name when built in (cheap: the receiver looks it up), else by value.
    def __reduce__(self) -> tuple[Any, ...]:
        if self._is_builtin:
            from devsynth.tokens.registry import get_encoding

            return (get_encoding, (self.name,))
        return (
            _rebuild,
            (self.name, self._pat_str, self._mergeable_ranks, self._special_tokens),
        )

    # ------------------------------------------------------------------ properties

    @property
    def n_vocab(self) -> int:
        """``max_token_value + 1``, as tiktoken."""
        return self.max_token_value + 1

    @property
    def eot_token(self) -> int:
        return self._special_tokens["<|endoftext|>"]

    @property
    def _mergeable_ranks(self) -> dict[bytes, int]:
        return self._core.mergeable_ranks()

    def is_special_token(self, token: int) -> bool:
        return token in self._special_token_values

    def token_byte_values(self) -> list[bytes]:
        """Every ordinary token's bytes, sorted."""
        return self._core.token_byte_values()

    # ------------------------------------------------------------------ special-token sets

    def _specials(
        self, allowed_special: AllowedSpecial, disallowed_special: DisallowedSpecial
    ) -> _core.Specials:
        """The core's rules for a call's special-token arguments, prepared once per pair."""
        _check_special_arg("allowed_special", allowed_special)
        _check_special_arg("disallowed_special", disallowed_special)
        key = (_set_key(allowed_special), _set_key(disallowed_special))
        prepared = self._sets.get(key)
        if prepared is None:
            prepared = self._core.prepare_specials(*key)
            with self._sets_lock:
                if len(self._sets) >= _SET_CACHE_LIMIT:
                    self._sets.clear()
                self._sets[key] = prepared
        return prepared

    # ------------------------------------------------------------------ encoding

    def encode_ordinary(self, text: str, *, num_threads: int | None = None) -> list[int]:
        """Tokens of ``text``, special tokens encoded as ordinary text. With ``num_threads``
        above 1, a large text is cut where a cut cannot change the tokens and its parts are
        encoded on that many Rust threads (the result is the same)."""
        return self._core.encode(text, self._ordinary, num_threads)

    def encode(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = _EMPTY,
        disallowed_special: DisallowedSpecial = "all",
        num_threads: int | None = None,
    ) -> list[int]:
        """Tokens of ``text``. Text that spells a special token raises ValueError unless the
        token is in ``allowed_special`` (encoded as the special token) or left out of
        ``disallowed_special`` (encoded as ordinary text), as in tiktoken. ``num_threads``
        as in :meth:`encode_ordinary` (used when no special token is allowed)."""
        if disallowed_special == "all" and not allowed_special:
            return self._core.encode(text, self._default, num_threads)
        specials = self._specials(allowed_special, disallowed_special)
        return self._core.encode(text, specials, num_threads)

    def encode_to_numpy(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = _EMPTY,
        disallowed_special: DisallowedSpecial = "all",
    ) -> npt.NDArray[np.uint32]:
        """``encode`` as a NumPy uint32 array, with no Python int per token."""
        ids, _ = self.encode_batch(
            [text],
            num_threads=1,
            allowed_special=allowed_special,
            disallowed_special=disallowed_special,
            output="numpy",
        )
        return ids

    if TYPE_CHECKING:  # typing.overload: for type checkers only

        @overload
        def encode_ordinary_batch(
            self,
            text: Sequence[str],
            *,
            num_threads: int | None = None,
            output: Literal["list"] = "list",
        ) -> list[list[int]]: ...
        @overload
        def encode_ordinary_batch(
            self, text: Sequence[str], *, num_threads: int | None = None, output: Literal["numpy"]
        ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]: ...
        @overload
        def encode_ordinary_batch(
            self, text: Sequence[str], *, num_threads: int | None = None, output: Literal["arrow"]
        ) -> pa.LargeListArray: ...

    def encode_ordinary_batch(
        self, text: Sequence[str], *, num_threads: int | None = None, output: BatchOutput = "list"
    ) -> Any:
        """``encode_ordinary`` of each text, on Rust threads (all cores unless told).

        ``output="list"`` gives a list of token lists. ``"numpy"`` gives ``(ids, offsets)``:
        every token in one uint32 array and ``len(text) + 1`` int64 offsets, text ``i``'s
        tokens being ``ids[offsets[i]:offsets[i + 1]]``. ``"arrow"`` gives the same as a
        pyarrow ``LargeListArray`` of uint32. The flat forms create no Python object per
        token."""
        if _checked_output(output) == "list":
            return self._core.encode_batch(text, self._ordinary, num_threads)
        return _flat(self._core.encode_batch(text, self._ordinary, num_threads, True), output)

    if TYPE_CHECKING:  # typing.overload: for type checkers only

        @overload
        def encode_batch(
            self,
            text: Sequence[str],
            *,
            num_threads: int | None = None,
            allowed_special: AllowedSpecial = _EMPTY,
            disallowed_special: DisallowedSpecial = "all",
            output: Literal["list"] = "list",
        ) -> list[list[int]]: ...
        @overload
        def encode_batch(
            self,
            text: Sequence[str],
            *,
            num_threads: int | None = None,
            allowed_special: AllowedSpecial = _EMPTY,
            disallowed_special: DisallowedSpecial = "all",
            output: Literal["numpy"],
        ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]: ...
        @overload
        def encode_batch(
            self,
            text: Sequence[str],
            *,
            num_threads: int | None = None,
            allowed_special: AllowedSpecial = _EMPTY,
            disallowed_special: DisallowedSpecial = "all",
            output: Literal["arrow"],
        ) -> pa.LargeListArray: ...

    def encode_batch(
        self,
        text: Sequence[str],
        *,
        num_threads: int | None = None,
        allowed_special: AllowedSpecial = _EMPTY,
        disallowed_special: DisallowedSpecial = "all",
        output: BatchOutput = "list",
    ) -> Any:
        """``encode`` of each text, on Rust threads (all cores unless told); ``output`` as in
        :meth:`encode_ordinary_batch`."""
        specials = self._specials(allowed_special, disallowed_special)
        if _checked_output(output) == "list":
            return self._core.encode_batch(text, specials, num_threads)
        return _flat(self._core.encode_batch(text, specials, num_threads, True), output)

    def encode_single_token(self, text_or_bytes: str | bytes) -> int:
        """The token of exactly this text (special tokens included); KeyError if none."""
        if isinstance(text_or_bytes, str):
            text_or_bytes = text_or_bytes.encode("utf-8")
        return self._core.encode_single_token(text_or_bytes)

    def _encode_single_piece(self, text_or_bytes: str | bytes) -> list[int]:
        if isinstance(text_or_bytes, str):
            text_or_bytes = text_or_bytes.encode("utf-8")
        return self._core.encode_single_piece(text_or_bytes)

    # ------------------------------------------------------------------ counting

    def count(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = _EMPTY,
        disallowed_special: DisallowedSpecial = "all",
        num_threads: int | None = None,
    ) -> int:
        """``len(encode(text, ...))`` without building the tokens; same errors as ``encode``,
        ``num_threads`` as in :meth:`encode_ordinary`."""
        if disallowed_special == "all" and not allowed_special:
            return self._core.count(text, self._default, num_threads)
        specials = self._specials(allowed_special, disallowed_special)
        return self._core.count(text, specials, num_threads)

    def count_ordinary(self, text: str, *, num_threads: int | None = None) -> int:
        """``len(encode_ordinary(text))`` without building the tokens; ``num_threads`` as in
        :meth:`encode_ordinary`."""
        return self._core.count(text, self._ordinary, num_threads)

    if TYPE_CHECKING:  # typing.overload: for type checkers only

        @overload
        def count_batch(
            self,
            texts: Sequence[str],
            *,
            num_threads: int | None = None,
            allowed_special: AllowedSpecial = _EMPTY,
            disallowed_special: DisallowedSpecial = "all",
        ) -> list[int]: ...
        @overload
        def count_batch(
            self,
            texts: npt.NDArray[Any] | ArrowArrayExportable | ArrowStreamExportable,
            *,
            num_threads: int | None = None,
            allowed_special: AllowedSpecial = _EMPTY,
            disallowed_special: DisallowedSpecial = "all",
        ) -> npt.NDArray[np.int64]: ...

    def count_batch(
        self,
        texts: Sequence[str] | npt.NDArray[Any] | ArrowArrayExportable | ArrowStreamExportable,
        *,
        num_threads: int | None = None,
        allowed_special: AllowedSpecial = _EMPTY,
        disallowed_special: DisallowedSpecial = "all",
    ) -> list[int] | npt.NDArray[np.int64]:
        """``count`` of each text, on Rust threads (all cores unless told). A NumPy str array or
        an Arrow string array (pyarrow Array or ChunkedArray, polars Series) is read in place
        and gives a NumPy int64 array, nulls counting 0 (see devsynth.tokens.arrays)."""
        specials = self._specials(allowed_special, disallowed_special)
        if is_column(texts):
            return count_column(self._core, texts, specials, num_threads)
        return self._core.count_batch(texts, specials, num_threads)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ decoding

    def decode_bytes(self, tokens: Sequence[int]) -> bytes:
        """The bytes the tokens stand for; KeyError for an id that is no token."""
        return self._core.decode_bytes(tokens)

    def decode(self, tokens: Sequence[int], errors: str = "replace") -> str:
        """The text the tokens stand for; bytes that are not UTF-8 are handled by ``errors``."""
        return self._core.decode_bytes(tokens).decode("utf-8", errors=errors)

    def decode_single_token_bytes(self, token: int) -> bytes:
        """The bytes of one token (special tokens included); KeyError if none."""
        return self._core.decode_tokens_bytes([token])[0]

    def decode_tokens_bytes(self, tokens: Sequence[int]) -> list[bytes]:
        """The bytes of each token."""
        return self._core.decode_tokens_bytes(tokens)

    def decode_with_offsets(self, tokens: Sequence[int]) -> tuple[str, list[int]]:
        """The text and, per token, the index of the first char holding its bytes (a token
        that starts inside a multi-byte char points at that char)."""
        pieces = self.decode_tokens_bytes(tokens)
        offsets: list[int] = []
        chars = 0
        for piece in pieces:
            starts_mid_char = bool(piece) and 0x80 <= piece[0] < 0xC0
            offsets.append(max(0, chars - starts_mid_char))
            chars += sum(1 for b in piece if not 0x80 <= b < 0xC0)
        return b"".join(pieces).decode("utf-8", errors="strict"), offsets

    def decode_batch(
        self,
        batch: Sequence[Sequence[int]],
        *,
        errors: str = "replace",
        num_threads: int | None = None,
    ) -> list[str]:
        """``decode`` of each token list."""
        return [self.decode(tokens, errors=errors) for tokens in batch]

    def decode_bytes_batch(
        self, batch: Sequence[Sequence[int]], *, num_threads: int | None = None
    ) -> list[bytes]:
        """``decode_bytes`` of each token list."""
        return [self.decode_bytes(tokens) for tokens in batch]

    # ------------------------------------------------------------------ for sibling modules
    # devsynth.tokens.chat and devsynth.tokens.files reach the core through these: nothing
    # outside this module touches ``_core``.

    def _chat_message_tokens(
        self, messages: Sequence[object], per_message: int, per_name: int
    ) -> list[int]:
        return _core.chat_message_tokens(self._core, messages, per_message, per_name)

    def _chat_prune(
        self,
        messages: Sequence[object],
        budget: int,
        per_message: int,
        per_name: int,
        reply_priming: int,
    ) -> tuple[list[int] | None, int]:
        return _core.chat_prune(self._core, messages, budget, per_message, per_name, reply_priming)

    def _count_files(
        self, paths: Sequence[str], sizes: Sequence[int], **options: Any
    ) -> list[tuple[str, int, int, str]]:
        return _core.count_files(self._core, paths, sizes, **options)

    def _stream_counter(self, **options: Any) -> _core.StreamCounter:
        return _core.StreamCounter(self._core, **options)


def _set_key(value: AllowedSpecial) -> frozenset[str] | None:
    """A special-token argument as the core takes it: None for "all", else a frozenset."""
    if value == "all":
        return None
    return value if isinstance(value, frozenset) else frozenset(value)


def _check_special_arg(name: str, value: object) -> None:
    """A str other than "all" is a set of its characters to Python, never what was meant:
    TypeError, as tiktoken raises for ``allowed_special``."""
    if isinstance(value, str) and value != "all":
        raise TypeError(
            f"{name} must be 'all' or a set of special tokens, got the str {value!r}"
            f" (for one token, write {{{value!r}}})"
        )


def _rebuild(
    name: str, pat_str: str, mergeable_ranks: dict[bytes, int], special_tokens: dict[str, int]
) -> Encoding:
    return Encoding(
        name, pat_str=pat_str, mergeable_ranks=mergeable_ranks, special_tokens=special_tokens
    )


_OUTPUTS = ("list", "numpy", "arrow")


def _checked_output(output: str) -> str:
    if output not in _OUTPUTS:
        raise ValueError(f"output must be 'list', 'numpy' or 'arrow', not {output!r}")
    return output


def _flat(buffers: tuple[bytearray, bytearray], output: str) -> Any:
    """The flat batch from the core's two buffers (little-endian u32 ids, u64 offsets), as
    NumPy arrays or a pyarrow LargeListArray, sharing the buffers' memory."""
    ids_buffer, offsets_buffer = buffers
    if output == "numpy":
        import numpy as np

        ids = np.frombuffer(ids_buffer, dtype="<u4")
        offsets = np.frombuffer(offsets_buffer, dtype="<i8")
        return ids, offsets
    if output == "arrow":
        import pyarrow as pa

        count = len(ids_buffer) // 4
        values = pa.Array.from_buffers(pa.uint32(), count, [None, pa.py_buffer(ids_buffer)])
        offsets_array = pa.Array.from_buffers(
            pa.int64(), len(offsets_buffer) // 8, [None, pa.py_buffer(offsets_buffer)]
        )
        return pa.LargeListArray.from_arrays(offsets_array, values)
    raise AssertionError(output)  # _checked_output let nothing else through
