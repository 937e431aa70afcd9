"""tiktoken-compatible tokenization from the Rust core; switch with one import::

from devsynth import tokens as tiktoken

enc = tiktoken.get_encoding("o200k_base")
enc.encode("hello world")        # exactly tiktoken's tokens
enc.count("hello world")         # the number, without building the list
"""

from devsynth.tokens.core import Encoding
from devsynth.tokens.model import encoding_name_for_model
from devsynth.tokens.registry import encoding_for_model, get_encoding, list_encoding_names

__all__ = [
    "Encoding",
    "encoding_for_model",
    "encoding_name_for_model",
    "get_encoding",
    "list_encoding_names",
    "load_tiktoken_bpe",
    "rank_file_path",
]

# The rank-file helpers load on first use: pathlib and base64 behind them cost a cold start a
# fifth of its time, and encoding needs neither (the ranks are compiled into the core).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from devsynth.tokens.load import load_tiktoken_bpe, rank_file_path


def __getattr__(name: str) -> object:
    if name in ("load_tiktoken_bpe", "rank_file_path"):
        from devsynth.tokens import load

        return getattr(load, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
