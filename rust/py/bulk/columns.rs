//! String columns counted without a Python object per string: Arrow arrays from their
//! PyCapsules (`__arrow_c_array__` / `__arrow_c_stream__`, in the limited API from Python 3.10
//! on, unlike the buffer protocol) read by `bulk::arrow`, NumPy `U` arrays from
//! `__array_interface__` read by `bulk::columns`, and sequences of str or None. Each gives a
//! bytearray of native-endian int64 counts, which the Python side views as a NumPy array.

use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyCapsule, PyDict, PyString, PyTuple};

use super::super::encoding::{CoreEncoding, PySpecials};
use super::super::{items_of, run_parallel, text_of, type_name, ThreadCount};
use crate::bulk::arrow::{self, ArrowArray, ArrowArrayStream, ArrowSchema};
use crate::bulk::columns::{count_column as count_cells, count_texts, numpy_str_column};

/// Counts each string of a column, on `num_threads` Rust threads with the GIL released:
/// `kind` "arrow" (anything with `__arrow_c_array__` or `__arrow_c_stream__`: pyarrow Array or
/// ChunkedArray, a polars Series), "numpy" (a 1-D, C-contiguous NumPy array of dtype `U` in
/// native byte order, read in place) or "objects" (a sequence of str or None; None counts 0).
#[pyfunction]
#[pyo3(signature = (encoding, column, kind, specials, num_threads=None))]
pub(crate) fn count_column<'py>(
    py: Python<'py>,
    encoding: &CoreEncoding,
    column: &Bound<'py, PyAny>,
    kind: &str,
    specials: &PySpecials,
    num_threads: Option<ThreadCount>,
) -> PyResult<Bound<'py, PyByteArray>> {
    let count = |t: &str| encoding.enc().count_with(t, &specials.0, None);
    let counts = match kind {
        "numpy" => {
            let cells = numpy_cells(py, column)?;
            run_parallel(py, num_threads, |_| count_cells(&cells, count))??
        }
        "objects" => {
            let items = items_of(column)?;
            let texts = items.iter().enumerate().map(|(i, o)| match o {
                o if o.is_none() => Ok(None),
                o if o.is_instance_of::<PyString>() => text_of(o).map(Some),
                o => Err(PyTypeError::new_err(format!(
                    "item {i}: expected str or None, got {}",
                    type_name(o)
                ))),
            });
            let texts = texts.collect::<PyResult<Vec<_>>>()?;
            run_parallel(py, num_threads, |_| count_texts(&texts, count))??
        }
        _ => {
            let count = |t: &str| count(t).map_err(PyErr::from);
            with_arrow_arrays(py, column, |arrays| {
                run_parallel(py, num_threads, |_| arrow::count_all(arrays, &count))?
            })?
        }
    };
    let bytes: Vec<u8> = counts.iter().flat_map(|c| c.to_ne_bytes()).collect();
    Ok(PyByteArray::new(py, &bytes))
}

/// The cells of a NumPy str array, from its `__array_interface__`.
fn numpy_cells<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyAny>,
) -> PyResult<crate::bulk::columns::Column<'py>> {
    let iface = array
        .getattr(intern!(py, "__array_interface__"))?
        .cast_into::<PyDict>()
        .map_err(|_| PyTypeError::new_err("__array_interface__ must be a dict"))?;
    let get = |k: &str| -> PyResult<Bound<'py, PyAny>> {
        iface
            .get_item(k)?
            .ok_or_else(|| PyTypeError::new_err(format!("__array_interface__ has no {k:?}")))
    };
    let typestr: String = get("typestr")?.extract()?;
    let shape: Vec<usize> = get("shape")?.extract()?;
    let strides: Option<Vec<isize>> = iface.get_item("strides")?.and_then(|s| s.extract().ok());
    let (data, _readonly): (usize, bool) = get("data")?.extract()?;
    // SAFETY: NumPy says `data` holds the array's items; the caller's `array` keeps them alive
    // while the column is used.
    Ok(unsafe { numpy_str_column(&typestr, &shape, strides.as_deref(), data)? })
}

/// `f` of the string arrays of an Arrow array or stream, read from their PyCapsules.
fn with_arrow_arrays<T>(
    py: Python<'_>,
    array: &Bound<'_, PyAny>,
    f: impl FnOnce(&[arrow::StringArray<'_>]) -> PyResult<T>,
) -> PyResult<T> {
    if array.hasattr(intern!(py, "__arrow_c_array__"))? {
        let pair = array.call_method0(intern!(py, "__arrow_c_array__"))?;
        let pair = pair.cast::<PyTuple>().map_err(|_| {
            PyTypeError::new_err("__arrow_c_array__ must return a (schema, array) tuple")
        })?;
        let schema = pair.get_item(0)?.cast_into::<PyCapsule>()?;
        let arr = pair.get_item(1)?.cast_into::<PyCapsule>()?;
        let schema = schema.pointer_checked(Some(c"arrow_schema"))?.as_ptr();
        let arr = arr.pointer_checked(Some(c"arrow_array"))?.as_ptr();
        // SAFETY: the capsules hold valid structs (their names say so) and stay alive, with the
        // buffers they point at, until this function returns.
        let strings = unsafe {
            arrow::read_array(
                &*(schema as *const ArrowSchema),
                &*(arr as *const ArrowArray),
            )?
        };
        return f(&[strings]);
    }
    if array.hasattr(intern!(py, "__arrow_c_stream__"))? {
        let cap = array
            .call_method0(intern!(py, "__arrow_c_stream__"))?
            .cast_into::<PyCapsule>()?;
        let stream = cap.pointer_checked(Some(c"arrow_array_stream"))?.as_ptr();
        // SAFETY: the capsule holds a valid stream and stays alive until this returns; the
        // stream is read on this thread with the GIL held (a producer written in Python needs
        // it) and left for the capsule to release. The arrays read are released here, with the
        // GIL held, when `arrays` drops.
        let (schema, arrays) = unsafe { arrow::read_stream(stream as *mut ArrowArrayStream)? };
        let columns = arrays
            .iter()
            .map(|a| unsafe { arrow::read_array(&schema.0, &a.0) })
            .collect::<Result<Vec<_>, _>>()?;
        return f(&columns);
    }
    Err(PyTypeError::new_err(format!(
        "expected an Arrow array (with __arrow_c_array__ or __arrow_c_stream__), got {}",
        type_name(array)
    )))
}
