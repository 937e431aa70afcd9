"""`Encoding.count_batch` on columns: NumPy str and object arrays, pyarrow string arrays and
chunked arrays (read from Arrow's buffers, no Python object per string), polars and pandas
Series, and the frame helpers distributed engines call. Every count is checked against the
list path, itself checked against tiktoken elsewhere."""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pytest

from devsynth.tokens import get_encoding
from tests.support import corpus

pa = pytest.importorskip("pyarrow")

ENC = get_encoding("o200k_base")


@pytest.fixture(scope="module")
def docs() -> list[str]:
    return [*corpus.short_documents(300, 10, 600), "", " ", "\n\n", "日本語 テキスト", "😀 x"]


def expected(texts: list[str | None]) -> list[int]:
    return [0 if t is None else ENC.count(t) for t in texts]


def as_list(counts: Any) -> list[int]:
    assert isinstance(counts, np.ndarray) and counts.dtype == np.int64
    return [int(c) for c in counts]


def test_lists_still_give_lists(docs: list[str]) -> None:
    assert ENC.count_batch(docs[:10]) == expected(list(docs[:10]))


def test_numpy_str_arrays_are_read_in_place(docs: list[str]) -> None:
    arr = np.array(docs)
    assert arr.dtype.kind == "U"
    assert as_list(ENC.count_batch(arr)) == expected(list(docs))
    # A strided view, a 2-D array (shape kept), a big-endian array, an empty one.
    assert as_list(ENC.count_batch(arr[::3])) == expected(list(docs[::3]))
    grid = np.array(docs[:12]).reshape(3, 4)
    counts = ENC.count_batch(grid)
    assert counts.shape == (3, 4)
    assert counts.ravel().tolist() == expected(list(docs[:12]))
    assert as_list(ENC.count_batch(arr.astype(arr.dtype.newbyteorder(">")))) == expected(list(docs))
    assert as_list(ENC.count_batch(np.array([], dtype="U1"))) == []


def test_numpy_object_and_string_dtype_arrays_count_none_as_zero(docs: list[str]) -> None:
    values: list[str | None] = [docs[0], None, docs[1]]
    assert as_list(ENC.count_batch(np.array(values, dtype=object))) == expected(values)
    if hasattr(np.dtypes, "StringDType"):
        arr = np.array(docs[:5], dtype=np.dtypes.StringDType())
        assert as_list(ENC.count_batch(arr)) == expected(list(docs[:5]))
    with pytest.raises(TypeError, match="expected str or None"):
        ENC.count_batch(np.array(["a", 1], dtype=object))
    with pytest.raises(TypeError, match="dtype"):
        ENC.count_batch(np.array([1, 2]))


@pytest.mark.parametrize("arrow_type", ["string", "large_string", "string_view"])
def test_arrow_arrays_with_nulls_and_offsets(docs: list[str], arrow_type: str) -> None:
    values: list[str | None] = [d if i % 7 else None for i, d in enumerate(docs)]
    arr = pa.array(values, type=getattr(pa, arrow_type)())
    assert as_list(ENC.count_batch(arr)) == expected(values)
    # A slice starts at an offset into the buffers and the validity bitmap.
    assert as_list(ENC.count_batch(arr.slice(5, 50))) == expected(values[5:55])
    assert as_list(ENC.count_batch(arr.slice(0, 0))) == []


def test_chunked_and_dictionary_arrays(docs: list[str]) -> None:
    chunks = [pa.array(docs[:100]), pa.array(docs[100:], type=pa.large_string())]
    chunked = pa.chunked_array([chunks[0], chunks[1].cast(pa.string())])
    assert as_list(ENC.count_batch(chunked)) == expected(list(docs))
    repeated: list[str | None] = ["cat", "dog food", None, "cat", docs[3]]
    dictionary = pa.array(repeated).dictionary_encode()
    assert as_list(ENC.count_batch(dictionary)) == expected(repeated)
    assert as_list(ENC.count_batch(dictionary.slice(1))) == expected(repeated[1:])


def test_unaligned_buffers_are_read_too(docs: list[str]) -> None:
    """Arrow asks for aligned buffers, but arrays that went through pickle (Dask) may not be;
    NumPy arrays can be unaligned views."""
    texts = docs[:40]
    arr = pa.array(texts)
    _, offsets, data = arr.buffers()
    shifted = pa.py_buffer(b"\0" + offsets.to_pybytes()).slice(1)
    assert shifted.address % 4 != 0
    unaligned = pa.Array.from_buffers(pa.string(), len(texts), [None, shifted, data])
    assert as_list(ENC.count_batch(unaligned)) == expected(list(texts))
    packed = np.array(texts[:5], dtype="U40")
    view = np.frombuffer(b"\0" + packed.tobytes(), dtype="U40", offset=1)
    assert not view.flags.aligned
    assert as_list(ENC.count_batch(view)) == expected([str(t) for t in packed])


def test_arrow_input_keeps_count_batch_special_token_rules() -> None:
    arr = pa.array(["hello <|endoftext|>"])
    with pytest.raises(ValueError, match="special token"):
        ENC.count_batch(arr)
    assert as_list(ENC.count_batch(arr, allowed_special="all")) == [
        ENC.count("hello <|endoftext|>", allowed_special="all")
    ]
    assert as_list(ENC.count_batch(arr, disallowed_special=())) == [
        ENC.count_ordinary("hello <|endoftext|>")
    ]


def test_non_string_arrow_arrays_are_refused() -> None:
    with pytest.raises(TypeError, match="string array"):
        ENC.count_batch(pa.array([1, 2]))
    with pytest.raises(TypeError, match="binary"):
        ENC.count_batch(pa.array([b"x"]))


@pytest.mark.parametrize("make", ["arrow", "numpy"])
def test_columns_make_no_python_object_per_string(make: str) -> None:
    """Counting 200,000 strings allocates about 8 bytes each from Python (the counts), not a
    str object each (50+ bytes): the strings are read where they lie."""
    n = 200_000
    texts = [f"row {i} of the column" for i in range(n)]
    column = pa.array(texts) if make == "arrow" else np.array(texts)
    ENC.count_batch(column[:10])  # warm up
    tracemalloc.start()
    try:
        counts = ENC.count_batch(column, num_threads=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert counts[12_345] == ENC.count(texts[12_345])
    assert peak < 16 * n, peak


def test_polars_series(docs: list[str]) -> None:
    pl = pytest.importorskip("polars")
    from devsynth.tokens.frames import count_series

    values: list[str | None] = [docs[0], None, docs[1], docs[2]]
    series = pl.Series("text", values)
    assert as_list(ENC.count_batch(series)) == expected(values)
    counted = count_series(series)
    assert counted.name == "text" and counted.dtype == pl.Int64
    assert counted.to_list() == expected(values)


@pytest.mark.parametrize("dtype", ["object", "string[pyarrow]", "string[python]", "category"])
def test_pandas_series_keep_their_index(docs: list[str], dtype: str) -> None:
    pd = pytest.importorskip("pandas")
    from devsynth.tokens.frames import count_series

    values: list[str | None] = [docs[0], None, docs[1], docs[0]]
    series = pd.Series(values, index=[10, 20, 30, 40], name="text", dtype=dtype)
    counted = count_series(series, "cl100k_base")
    assert counted.index.tolist() == [10, 20, 30, 40]
    assert counted.name == "text" and str(counted.dtype) == "int64"
    cl = get_encoding("cl100k_base")
    assert counted.tolist() == [0 if v is None else cl.count_ordinary(v) for v in values]


def test_with_token_counts_on_every_batch_kind(docs: list[str]) -> None:
    from devsynth.tokens.frames import with_token_counts

    texts = docs[:20]
    want = expected(list(texts))
    table = pa.table({"id": list(range(20)), "text": texts})
    assert with_token_counts(table, "text").column("tokens").to_pylist() == want
    batch = table.to_batches()[0]
    assert with_token_counts(batch, "text", out="n").column("n").to_pylist() == want
    numpy_batch = {"text": np.array(texts, dtype=object)}
    assert with_token_counts(numpy_batch, "text")["tokens"].tolist() == want
    pd = pytest.importorskip("pandas")
    frame = table.to_pandas()
    out = with_token_counts(frame, "text")
    assert out["tokens"].tolist() == want and "tokens" not in frame
    pl = pytest.importorskip("polars")
    assert with_token_counts(pl.from_arrow(table), "text")["tokens"].to_list() == want
    with pytest.raises(TypeError, match="expected a pyarrow Table"):
        with_token_counts([1, 2], "text")  # type: ignore[type-var]
    del pd
