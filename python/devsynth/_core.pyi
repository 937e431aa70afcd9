"""Type stub of the Rust extension (the bindings under rust/py/). Use devsynth.tokens, not
this, directly."""

from collections.abc import Callable, Sequence
from os import PathLike
from typing import Literal, final, overload

# Every name the extension exports (mypy.stubtest checks this list and each signature).
__all__ = [
    "BUILTIN_ENCODINGS",
    "DEFAULT_BLOCK_BYTES",
    "DEFAULT_CHUNK_BYTES",
    "DEFAULT_DIMENSIONS",
    "MAX_DIMENSIONS",
    "MAX_THREADS",
    "RANK_FILES",
    "SYSTEM_ROLES",
    "TOOL_RESULT_ROLES",
    "CoreEncoding",
    "Specials",
    "StreamCounter",
    "__version__",
    "chat_format",
    "chat_message_tokens",
    "chat_prune",
    "count_column",
    "count_files",
    "hash_embeddings",
    "reads_str_in_place",
    "walk_paths",
]
BUILTIN_ENCODINGS: list[str]
MAX_THREADS: int
MAX_DIMENSIONS: int
DEFAULT_DIMENSIONS: int
RANK_FILES: list[tuple[str, str]]
__version__: str

@final
class Specials:
    """A call's special-token rules (allowed, refused), prepared by CoreEncoding."""

@final
class CoreEncoding:
    @staticmethod
    def builtin(name: str) -> CoreEncoding: ...
    @staticmethod
    def custom(
        name: str,
        pat_str: str,
        mergeable_ranks: dict[bytes, int],
        special_tokens: dict[str, int],
        explicit_n_vocab: int | None = None,
    ) -> CoreEncoding: ...
    def describe(self) -> tuple[str, str, int, bool, list[tuple[str, int]]]: ...
    # None stands for "all".
    def prepare_specials(
        self, allowed: frozenset[str] | None, disallowed: frozenset[str] | None
    ) -> Specials: ...
    def encode(
        self, text: str, specials: Specials, num_threads: int | None = None
    ) -> list[int]: ...
    def count(self, text: str, specials: Specials, num_threads: int | None = None) -> int: ...
    @overload
    def encode_batch(
        self,
        texts: Sequence[str],
        specials: Specials,
        num_threads: int | None = None,
        flat: Literal[False] = False,
    ) -> list[list[int]]: ...
    @overload
    def encode_batch(
        self, texts: Sequence[str], specials: Specials, num_threads: int | None, flat: Literal[True]
    ) -> tuple[bytearray, bytearray]: ...
    def count_batch(
        self, texts: Sequence[str], specials: Specials, num_threads: int | None = None
    ) -> list[int]: ...
    def decode_bytes(self, tokens: Sequence[int]) -> bytes: ...
    def decode_tokens_bytes(self, tokens: Sequence[int]) -> list[bytes]: ...
    def encode_single_token(self, piece: bytes) -> int: ...
    def encode_single_piece(self, piece: bytes) -> list[int]: ...
    def token_byte_values(self) -> list[bytes]: ...
    def mergeable_ranks(self) -> dict[bytes, int]: ...

def hash_embeddings(
    texts: Sequence[str], dimensions: int, num_threads: int | None = None
) -> list[list[float]]: ...
def reads_str_in_place() -> bool: ...

# Chat (rust/py/chat.rs): a counter is an encoding, or a callable giving a text's token count.
SYSTEM_ROLES: list[str]
TOOL_RESULT_ROLES: list[str]

def chat_format(model: str | None = None) -> tuple[int, int, int]: ...
def chat_message_tokens(
    counter: CoreEncoding | Callable[[str], int],
    messages: Sequence[object],
    per_message: int,
    per_name: int,
) -> list[int]: ...
def chat_prune(
    counter: CoreEncoding | Callable[[str], int],
    messages: Sequence[object],
    budget: int,
    per_message: int,
    per_name: int,
    reply_priming: int,
) -> tuple[list[int] | None, int]: ...

# Bulk counting (rust/py/bulk.rs). A file's result: (status, tokens, bytes, message), status
# one of "ok", "binary", "undecodable", "unreadable", "failed".
DEFAULT_CHUNK_BYTES: int
DEFAULT_BLOCK_BYTES: int

def walk_paths(
    roots: Sequence[str | PathLike[str]],
    include: Sequence[str] = ...,
    exclude: Sequence[str] = ...,
    hidden: bool = False,
) -> tuple[list[tuple[str, int]], list[tuple[str, str]], list[tuple[str, str]]]: ...
def count_files(
    encoding: CoreEncoding,
    paths: Sequence[str | PathLike[str]],
    sizes: Sequence[int] | None = None,
    *,
    undecodable: str = "replace",
    skip_binary: bool = True,
    chunk_bytes: int = ...,
    block_bytes: int = ...,
    num_threads: int | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> list[tuple[str, int, int, str]]: ...

@final
class StreamCounter:
    def __new__(
        cls,
        encoding: CoreEncoding,
        *,
        undecodable: str = "replace",
        skip_binary: bool = True,
        chunk_bytes: int = ...,
    ) -> StreamCounter: ...
    def feed(self, data: bytes) -> bool: ...
    def finish(self) -> tuple[str, int, int, str]: ...
    @property
    def bytes_fed(self) -> int: ...

def count_column(
    encoding: CoreEncoding,
    column: object,
    kind: Literal["arrow", "numpy", "objects"],
    specials: Specials,
    num_threads: int | None = None,
) -> bytearray: ...
