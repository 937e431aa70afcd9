"""Counting string columns in place: NumPy arrays and Arrow arrays, without a Python object per
string where the layout allows it.

- pyarrow ``Array`` / ``ChunkedArray`` of ``string``, ``large_string``, ``string_view`` or a
  dictionary of them, and anything else speaking the Arrow PyCapsule interface
  (``__arrow_c_array__`` / ``__arrow_c_stream__``, a polars Series for one): the Rust core reads
  Arrow's offsets and data buffers directly.
- NumPy ``str`` arrays (dtype ``U``): read in place as UCS-4. Object arrays (and NumPy 2's
  ``StringDType``): each item must be ``str`` or ``None``.

Nulls (``None``, Arrow nulls) count 0 tokens. The result is a NumPy int64 array with the input's
shape. numpy, and pyarrow for Arrow input, are optional: only needed when such input comes.
"""

from __future__ import annotations

from devsynth import _core

# Type checkers only: typing costs a cold start more than the rest of the package (see
# devsynth.tokens.core); is_column asks for the Arrow methods by name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    import numpy as np
    import numpy.typing as npt

    class ArrowArrayExportable(Protocol):
        """An object exporting one Arrow array (pyarrow ``Array``, ``RecordBatch`` column...)."""

        def __arrow_c_array__(self, requested_schema: Any = None) -> tuple[Any, Any]: ...

    class ArrowStreamExportable(Protocol):
        """An object exporting a stream of Arrow arrays (pyarrow ``ChunkedArray``, polars
        ``Series``...)."""

        def __arrow_c_stream__(self, requested_schema: Any = None) -> Any: ...


def is_column(texts: object) -> bool:
    """Whether ``count_batch`` should count ``texts`` as a column (NumPy or Arrow)."""
    if isinstance(texts, (list, tuple, str)):
        return False
    return (
        hasattr(texts, "__arrow_c_array__")
        or hasattr(texts, "__arrow_c_stream__")
        or _is_ndarray(texts)
    )


def _is_ndarray(obj: object) -> bool:
    return type(obj).__module__ == "numpy" and type(obj).__name__ == "ndarray"


def count_column(
    core: _core.CoreEncoding,
    texts: Any,
    specials: _core.Specials,
    num_threads: int | None,
) -> npt.NDArray[np.int64]:
    """Token counts of each string of a NumPy or Arrow column (see the module docstring)."""
    try:
        import numpy as np
    except ImportError as e:  # pragma: no cover - numpy is there whenever NumPy input is
        raise ImportError("counting an Arrow column returns a NumPy array: install numpy") from e
    if _is_ndarray(texts):
        arr: Any = texts
        shape = arr.shape
        kind = arr.dtype.kind
        if kind == "U":
            flat = np.ascontiguousarray(arr.reshape(-1))
            if not flat.dtype.isnative:
                flat = flat.astype(flat.dtype.newbyteorder("="))
            raw = _core.count_column(core, flat, "numpy", specials, num_threads)
        elif kind in ("O", "T"):
            flat = arr.reshape(-1)
            if kind == "T":
                flat = flat.astype(object)
            raw = _core.count_column(core, flat, "objects", specials, num_threads)
        else:
            raise TypeError(
                f"expected a NumPy array of str (dtype U, T or object), got dtype {arr.dtype}"
            )
        counts: npt.NDArray[np.int64] = np.frombuffer(raw, dtype=np.int64).reshape(shape)
        return counts
    raw = _core.count_column(core, texts, "arrow", specials, num_threads)
    return np.frombuffer(raw, dtype=np.int64)
