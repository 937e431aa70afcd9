"""Token counts for data frames: pandas and polars Series, and batches as distributed engines
hand them over (pyarrow Tables and RecordBatches, pandas and polars DataFrames, dicts of NumPy
arrays), counted on Rust threads from the column's own buffers where it has any.

::

    from devsynth.tokens.frames import count_series, with_token_counts

    df["tokens"] = count_series(df["text"], "o200k_base")      # pandas or polars
    table = with_token_counts(table, "text")                   # adds a "tokens" column

    # Ray Data, over Arrow batches
    ds = ds.map_batches(with_token_counts, fn_kwargs={"column": "text"}, batch_format="pyarrow")
    # Dask
    ddf = ddf.map_partitions(with_token_counts, "text")

The encoding may be given by name (the default is o200k_base): each worker process then loads
it once, on first use, and shares it between its tasks; an :class:`Encoding` object pickles by
name for the same effect. Missing values (None, NaN, NA, Arrow nulls) count 0 tokens.
pandas, polars, pyarrow and numpy are optional: each is imported only for its own input.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, TypeVar

from devsynth.tokens.core import Encoding
from devsynth.tokens.files import resolve_encoding

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

T = TypeVar("T")


def _module(name: str) -> Any:
    """An optional dependency, imported when its input comes (untyped: no stubs needed)."""
    return importlib.import_module(name)


def _kind(obj: object) -> str:
    """The library an object comes from: "pandas", "polars", "pyarrow", "numpy", or ""."""
    return type(obj).__module__.split(".", 1)[0]


def count_values(
    values: Any,
    encoding: str | Encoding = "o200k_base",
    *,
    num_threads: int | None = None,
) -> npt.NDArray[np.int64]:
    """Token counts (ordinary text: special tokens count as text) of a column of strings as a
    NumPy int64 array: a pandas or polars Series, a pyarrow (chunked) array, a NumPy array or
    a list."""
    enc = resolve_encoding(encoding)
    kind = _kind(values)
    if kind == "pandas":
        values = _pandas_values(values)
    elif kind not in ("polars", "pyarrow", "numpy"):
        values = _module("numpy").asarray(list(values), dtype=object)
    counts: npt.NDArray[np.int64] = enc.count_batch(
        values, num_threads=num_threads, disallowed_special=()
    )
    return counts


def _pandas_values(series: Any) -> Any:
    """A pandas Series as Arrow (zero-copy when Arrow-backed) or as a NumPy object array."""
    pd = _module("pandas")
    dtype = series.dtype
    arrow_backed = getattr(dtype, "storage", None) == "pyarrow" or isinstance(
        dtype, (pd.ArrowDtype, pd.CategoricalDtype)
    )
    if arrow_backed:
        return _module("pyarrow").array(series, from_pandas=True)
    return series.to_numpy(dtype=object, na_value=None)


def count_series(
    series: T,
    encoding: str | Encoding = "o200k_base",
    *,
    num_threads: int | None = None,
    name: str | None = None,
) -> T:
    """Token counts of a pandas or polars Series of strings, as a Series of the same library
    (int64; pandas keeps the index). ``name`` defaults to the input's name."""
    counts = count_values(series, encoding, num_threads=num_threads)
    kind = _kind(series)
    label = name if name is not None else getattr(series, "name", None)
    s: Any = series
    if kind == "pandas":
        out: T = _module("pandas").Series(counts, index=s.index, name=label, dtype="int64")
        return out
    if kind == "polars":
        pl = _module("polars")
        out = pl.Series(label or "", counts, dtype=pl.Int64)
        return out
    raise TypeError(f"expected a pandas or polars Series, got {type(series).__name__}")


def with_token_counts(
    batch: T,
    column: str,
    encoding: str | Encoding = "o200k_base",
    *,
    out: str = "tokens",
    num_threads: int | None = None,
) -> T:
    """The batch with a column ``out`` holding the token counts of ``column``. Takes and gives
    back a pyarrow Table or RecordBatch, a pandas or polars DataFrame, or a dict of NumPy
    arrays (Ray's "numpy" batches); pandas input is copied, not changed in place."""
    kind = _kind(batch)
    b: Any = batch
    result: T
    if kind == "pyarrow":
        pa = _module("pyarrow")
        counts = count_values(b.column(column), encoding, num_threads=num_threads)
        result = b.append_column(out, pa.array(counts, type=pa.int64()))
        return result
    if kind == "pandas":
        counts = count_values(b[column], encoding, num_threads=num_threads)
        result = b.assign(**{out: counts})
        return result
    if kind == "polars":
        pl = _module("polars")
        counts = count_values(b.get_column(column), encoding, num_threads=num_threads)
        result = b.with_columns(pl.Series(out, counts, dtype=pl.Int64))
        return result
    if isinstance(b, dict):
        counts = count_values(b[column], encoding, num_threads=num_threads)
        result = {**b, out: counts}  # type: ignore[assignment]
        return result
    raise TypeError(
        "expected a pyarrow Table or RecordBatch, a pandas or polars DataFrame, or a dict of "
        f"arrays, got {type(batch).__name__}"
    )
