//! String columns counted without a Python object per string: Arrow arrays from their
//! PyCapsules (`__arrow_c_array__` / `__arrow_c_stream__`, in the limited API from Python 3.10
//! on, unlike the buffer protocol) read by `bulk::arrow`, NumPy `U` arrays from
//! `__array_interface__` read by `bulk::columns`. Each returns a bytearray of native-endian
//! int64 counts, which the Python side views as a NumPy array.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyCapsule, PyDict, PyString, PyTuple};

use super::super::encoding::{CoreEncoding, SpecialTokenSet};
use super::super::{items_of, run_parallel, text_of, type_name, ThreadCount};
use crate::bulk::arrow::{self, ArrowArray, ArrowArrayStream, ArrowSchema};
use crate::bulk::columns::{count_column, count_texts, numpy_str_column};

/// Runs `count` with the GIL released, on `num_threads` Rust threads, into a bytearray.
fn counted<'py>(
    py: Python<'py>,
    num_threads: Option<ThreadCount>,
    count: impl FnOnce() -> PyResult<Vec<i64>> + Send,
) -> PyResult<Bound<'py, PyByteArray>> {
    let counts = run_parallel(py, num_threads, |_| count())??;
    let bytes: Vec<u8> = counts.iter().flat_map(|c| c.to_ne_bytes()).collect();
    Ok(PyByteArray::new(py, &bytes))
}

/// Counts an Arrow string array or stream of them (pyarrow Array or ChunkedArray, a polars
/// Series, anything with `__arrow_c_array__` or `__arrow_c_stream__`).
#[pyfunction]
#[pyo3(signature = (encoding, array, allowed, disallowed=None, num_threads=None))]
pub(crate) fn count_arrow<'py>(
    py: Python<'py>,
    encoding: &CoreEncoding,
    array: &Bound<'py, PyAny>,
    allowed: &SpecialTokenSet,
    disallowed: Option<&SpecialTokenSet>,
    num_threads: Option<ThreadCount>,
) -> PyResult<Bound<'py, PyByteArray>> {
    let counter = encoding.counter(allowed, disallowed);
    let count = |t: &str| counter(t).map_err(PyErr::from);
    if array.hasattr(pyo3::intern!(py, "__arrow_c_array__"))? {
        let pair = array.call_method0(pyo3::intern!(py, "__arrow_c_array__"))?;
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
        return counted(py, num_threads, || arrow::count_all(&[strings], &count));
    }
    if array.hasattr(pyo3::intern!(py, "__arrow_c_stream__"))? {
        let cap = array
            .call_method0(pyo3::intern!(py, "__arrow_c_stream__"))?
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
        return counted(py, num_threads, || arrow::count_all(&columns, &count));
    }
    Err(PyTypeError::new_err(format!(
        "expected an Arrow array (with __arrow_c_array__ or __arrow_c_stream__), got {}",
        type_name(array)
    )))
}

/// Counts a 1-D, C-contiguous NumPy array of dtype `U` (native byte order), read in place.
#[pyfunction]
#[pyo3(signature = (encoding, array, allowed, disallowed=None, num_threads=None))]
pub(crate) fn count_numpy_str<'py>(
    py: Python<'py>,
    encoding: &CoreEncoding,
    array: &Bound<'py, PyAny>,
    allowed: &SpecialTokenSet,
    disallowed: Option<&SpecialTokenSet>,
    num_threads: Option<ThreadCount>,
) -> PyResult<Bound<'py, PyByteArray>> {
    let iface = array
        .getattr(pyo3::intern!(py, "__array_interface__"))?
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
    // SAFETY: NumPy says `data` holds the array's items; `array` keeps them alive until this
    // returns.
    let column = unsafe { numpy_str_column(&typestr, &shape, strides.as_deref(), data)? };
    let count = encoding.counter(allowed, disallowed);
    counted(py, num_threads, || Ok(count_column(&column, count)?))
}

/// Counts a sequence of str or None (a NumPy object array, say): None counts 0.
#[pyfunction]
#[pyo3(signature = (encoding, items, allowed, disallowed=None, num_threads=None))]
pub(crate) fn count_objects<'py>(
    py: Python<'py>,
    encoding: &CoreEncoding,
    items: &Bound<'py, PyAny>,
    allowed: &SpecialTokenSet,
    disallowed: Option<&SpecialTokenSet>,
    num_threads: Option<ThreadCount>,
) -> PyResult<Bound<'py, PyByteArray>> {
    let items = items_of(items)?;
    let texts = items
        .iter()
        .enumerate()
        .map(|(i, o)| match o {
            o if o.is_none() => Ok(None),
            o if o.is_instance_of::<PyString>() => text_of(o).map(Some),
            o => Err(PyTypeError::new_err(format!(
                "item {i}: expected str or None, got {}",
                type_name(o)
            ))),
        })
        .collect::<PyResult<Vec<_>>>()?;
    let count = encoding.counter(allowed, disallowed);
    counted(py, num_threads, || Ok(count_texts(&texts, count)?))
}
