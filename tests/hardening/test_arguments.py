"""Items 11 and 19: hash_embedding's dimensions are capped with a clear error, and
``allowed_special`` given a str (not a set) is a TypeError, as in tiktoken."""

from __future__ import annotations

import pytest

from devsynth import _core, tokens
from devsynth.application.embeddings import hash_embedding, hash_embeddings


@pytest.mark.parametrize("dimensions", [0, -5, 65_537, 10**9, 2**64, 10**30])
def test_dimensions_out_of_range_are_refused_before_any_allocation(dimensions: int) -> None:
    assert _core.MAX_DIMENSIONS == 65_536
    message = rf"dimensions must be between 1 and 65536, got {dimensions}"
    with pytest.raises(ValueError, match=message):
        hash_embedding("a text", dimensions)
    with pytest.raises(ValueError, match=message):
        hash_embeddings(["a text", "another"], dimensions)


def test_the_largest_dimension_count_works() -> None:
    v = hash_embedding("a text", 65_536)
    assert len(v) == 65_536
    assert abs(sum(x * x for x in v) - 1) < 1e-4


def test_dimensions_that_are_not_ints_are_type_errors() -> None:
    with pytest.raises(TypeError, match="dimensions must be an int"):
        hash_embedding("a text", 2.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["encode", "count", "encode_batch", "count_batch"])
def test_a_str_for_allowed_special_is_a_type_error(method: str) -> None:
    enc = tokens.get_encoding("cl100k_base")
    text: object = "<|endoftext|>"
    if method.endswith("_batch"):
        text = ["<|endoftext|>"]
    with pytest.raises(TypeError, match=r"allowed_special must be 'all' or a set"):
        getattr(enc, method)(text, allowed_special="<|endoftext|>")
    with pytest.raises(TypeError, match=r"disallowed_special must be 'all' or a set"):
        getattr(enc, method)(text, disallowed_special="<|endoftext|>")
    # The forms that work are unchanged.
    assert getattr(enc, method)(text, allowed_special={"<|endoftext|>"}) in (
        [100257],
        1,
        [[100257]],
        [1],
    )
    assert getattr(enc, method)(text, allowed_special="all") in ([100257], 1, [[100257]], [1])
