"""tiktoken-compatible tokenization from the Rust core; switch with one import::

from devsynth import tokens as tiktoken

enc = tiktoken.get_encoding("o200k_base")
enc.encode("hello world")        # exactly tiktoken's tokens
enc.count("hello world")         # the number, without building the list
"""

from devsynth.tokens.core import Encoding
from devsynth.tokens.load import load_tiktoken_bpe, rank_file_path
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
