//! String columns from Python counted without a Python object per string: Arrow arrays through
//! the Arrow C Data Interface (`__arrow_c_array__` / `__arrow_c_stream__` PyCapsules, in the
//! limited API from Python 3.10 on, unlike the buffer protocol), NumPy `U` arrays through
//! `__array_interface__`. Each returns a bytearray of native-endian int64 counts, which the
//! Python side views as a NumPy array.

use std::borrow::Cow;
use std::ffi::{c_char, c_int, c_void, CStr};

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyCapsule, PyDict, PyString, PyTuple};

use super::super::encoding::{CoreEncoding, SpecialTokenSet};
use super::super::{encode_err, items_of, run_parallel, text_of, type_name, ThreadCount};
use crate::bulk::columns::{count_column, Column, Offsets, Validity};
use crate::encoding::{EncodeError, Encoding};

// ---------------------------------------------------------------- the C Data Interface structs

#[repr(C)]
struct ArrowSchema {
    format: *const c_char,
    name: *const c_char,
    metadata: *const c_char,
    flags: i64,
    n_children: i64,
    children: *mut *mut ArrowSchema,
    dictionary: *mut ArrowSchema,
    release: Option<unsafe extern "C" fn(*mut ArrowSchema)>,
    private_data: *mut c_void,
}

#[repr(C)]
struct ArrowArray {
    length: i64,
    null_count: i64,
    offset: i64,
    n_buffers: i64,
    n_children: i64,
    buffers: *mut *const c_void,
    children: *mut *mut ArrowArray,
    dictionary: *mut ArrowArray,
    release: Option<unsafe extern "C" fn(*mut ArrowArray)>,
    private_data: *mut c_void,
}

#[repr(C)]
struct ArrowArrayStream {
    get_schema: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowSchema) -> c_int>,
    get_next: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowArray) -> c_int>,
    get_last_error: Option<unsafe extern "C" fn(*mut ArrowArrayStream) -> *const c_char>,
    release: Option<unsafe extern "C" fn(*mut ArrowArrayStream)>,
    private_data: *mut c_void,
}

impl ArrowSchema {
    fn empty() -> Self {
        ArrowSchema {
            format: std::ptr::null(),
            name: std::ptr::null(),
            metadata: std::ptr::null(),
            flags: 0,
            n_children: 0,
            children: std::ptr::null_mut(),
            dictionary: std::ptr::null_mut(),
            release: None,
            private_data: std::ptr::null_mut(),
        }
    }
}

impl ArrowArray {
    fn empty() -> Self {
        ArrowArray {
            length: 0,
            null_count: 0,
            offset: 0,
            n_buffers: 0,
            n_children: 0,
            buffers: std::ptr::null_mut(),
            children: std::ptr::null_mut(),
            dictionary: std::ptr::null_mut(),
            release: None,
            private_data: std::ptr::null_mut(),
        }
    }
}

/// A schema this side owns (from a stream): released when dropped.
struct OwnedSchema(ArrowSchema);

impl Drop for OwnedSchema {
    fn drop(&mut self) {
        if let Some(release) = self.0.release {
            // SAFETY: the producer filled this struct and gave it to us to release once.
            unsafe { release(&mut self.0) };
        }
    }
}

/// An array this side owns (from a stream): released when dropped.
struct OwnedArray(ArrowArray);

impl Drop for OwnedArray {
    fn drop(&mut self) {
        if let Some(release) = self.0.release {
            // SAFETY: as for OwnedSchema.
            unsafe { release(&mut self.0) };
        }
    }
}

// SAFETY: the structs point at immutable buffers that the C Data Interface lets any thread read;
// they are released with the GIL held, on the thread that received them.
unsafe impl Send for OwnedArray {}

// ---------------------------------------------------------------- reading a column

/// A counted column: plain strings, or dictionary indices into counted strings.
enum Layout<'a> {
    Plain(Column<'a>),
    Dictionary {
        indices: Indices<'a>,
        validity: Option<Validity<'a>>,
        values: Column<'a>,
    },
}

enum Indices<'a> {
    I8(Cow<'a, [i8]>),
    U8(Cow<'a, [u8]>),
    I16(Cow<'a, [i16]>),
    U16(Cow<'a, [u16]>),
    I32(Cow<'a, [i32]>),
    U32(Cow<'a, [u32]>),
    I64(Cow<'a, [i64]>),
    U64(Cow<'a, [u64]>),
}

impl Indices<'_> {
    fn len(&self) -> usize {
        match self {
            Indices::I8(v) => v.len(),
            Indices::U8(v) => v.len(),
            Indices::I16(v) => v.len(),
            Indices::U16(v) => v.len(),
            Indices::I32(v) => v.len(),
            Indices::U32(v) => v.len(),
            Indices::I64(v) => v.len(),
            Indices::U64(v) => v.len(),
        }
    }

    fn get(&self, i: usize) -> i128 {
        match self {
            Indices::I8(v) => v[i] as i128,
            Indices::U8(v) => v[i] as i128,
            Indices::I16(v) => v[i] as i128,
            Indices::U16(v) => v[i] as i128,
            Indices::I32(v) => v[i] as i128,
            Indices::U32(v) => v[i] as i128,
            Indices::I64(v) => v[i] as i128,
            Indices::U64(v) => v[i] as i128,
        }
    }
}

fn bad(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(format!("malformed Arrow array: {}", msg.into()))
}

/// `len` values of type T at buffer `k` of `array`: borrowed in place, or copied when the
/// buffer is not aligned for T (Arrow asks producers to align buffers; some, unpickled Arrow
/// arrays for one, do not).
///
/// # Safety
/// `array` must be a valid, unreleased C Data Interface array whose buffer `k` holds at least
/// `len` values of T, as its format promises.
unsafe fn buffer<T: Copy>(array: &ArrowArray, k: usize, len: usize) -> PyResult<Cow<'_, [T]>> {
    if k as i64 >= array.n_buffers || array.buffers.is_null() {
        return Err(bad(format!("buffer {k} is missing")));
    }
    let ptr = *array.buffers.add(k) as *const T;
    if len == 0 {
        return Ok(Cow::Borrowed(&[]));
    }
    if ptr.is_null() {
        return Err(bad(format!("buffer {k} is null")));
    }
    if (ptr as usize) % std::mem::align_of::<T>() != 0 {
        return Ok(Cow::Owned(
            (0..len).map(|i| ptr.add(i).read_unaligned()).collect(),
        ));
    }
    Ok(Cow::Borrowed(std::slice::from_raw_parts(ptr, len)))
}

/// Bytes at buffer `k` of `array` (bytes are always aligned).
///
/// # Safety
/// As for `buffer`.
unsafe fn bytes<T: Copy>(array: &ArrowArray, k: usize, len: usize) -> PyResult<&[T]> {
    debug_assert_eq!(std::mem::align_of::<T>(), 1);
    match buffer::<T>(array, k, len)? {
        Cow::Borrowed(b) => Ok(b),
        Cow::Owned(_) => Err(bad(format!("buffer {k} is not aligned"))),
    }
}

/// `v[from..]` of a borrowed or owned slice, keeping it borrowed when it was.
fn tail<T: Clone>(v: Cow<'_, [T]>, from: usize) -> Cow<'_, [T]> {
    match v {
        Cow::Borrowed(b) => Cow::Borrowed(&b[from..]),
        Cow::Owned(mut o) => {
            o.drain(..from);
            Cow::Owned(o)
        }
    }
}

/// The validity bitmap of `array`, if it has one.
///
/// # Safety
/// As for `buffer`.
unsafe fn validity(array: &ArrowArray) -> PyResult<Option<Validity<'_>>> {
    if array.null_count == 0 || array.n_buffers < 1 || array.buffers.is_null() {
        return Ok(None);
    }
    if (*array.buffers).is_null() {
        return Ok(None);
    }
    let (offset, length) = (array.offset as usize, array.length as usize);
    let bits = bytes::<u8>(array, 0, (offset + length).div_ceil(8))?;
    Ok(Some(Validity { bits, offset }))
}

/// The column of strings that `schema` and `array` describe.
///
/// # Safety
/// Both must be valid, unreleased C Data Interface structs that stay alive as long as the
/// returned layout is used.
unsafe fn layout<'a>(schema: &'a ArrowSchema, array: &'a ArrowArray) -> PyResult<Layout<'a>> {
    if schema.format.is_null() {
        return Err(bad("schema without a format"));
    }
    if array.length < 0 || array.offset < 0 {
        return Err(bad("negative length or offset"));
    }
    let format = CStr::from_ptr(schema.format).to_string_lossy();
    let (offset, length) = (array.offset as usize, array.length as usize);
    if !schema.dictionary.is_null() {
        if array.dictionary.is_null() {
            return Err(bad("dictionary array without its dictionary"));
        }
        let values = match layout(&*schema.dictionary, &*array.dictionary)? {
            Layout::Plain(c) => c,
            Layout::Dictionary { .. } => return Err(bad("nested dictionaries")),
        };
        let n = offset + length;
        let indices = match format.as_ref() {
            "c" => Indices::I8(tail(buffer::<i8>(array, 1, n)?, offset)),
            "C" => Indices::U8(tail(buffer::<u8>(array, 1, n)?, offset)),
            "s" => Indices::I16(tail(buffer::<i16>(array, 1, n)?, offset)),
            "S" => Indices::U16(tail(buffer::<u16>(array, 1, n)?, offset)),
            "i" => Indices::I32(tail(buffer::<i32>(array, 1, n)?, offset)),
            "I" => Indices::U32(tail(buffer::<u32>(array, 1, n)?, offset)),
            "l" => Indices::I64(tail(buffer::<i64>(array, 1, n)?, offset)),
            "L" => Indices::U64(tail(buffer::<u64>(array, 1, n)?, offset)),
            other => return Err(bad(format!("dictionary index format {other:?}"))),
        };
        return Ok(Layout::Dictionary {
            indices,
            validity: validity(array)?,
            values,
        });
    }
    let column = match format.as_ref() {
        "u" | "U" => {
            let offsets = if format == "u" {
                Offsets::I32(tail(buffer::<i32>(array, 1, offset + length + 1)?, offset))
            } else {
                Offsets::I64(tail(buffer::<i64>(array, 1, offset + length + 1)?, offset))
            };
            let end = match &offsets {
                Offsets::I32(o) => o[length] as i64,
                Offsets::I64(o) => o[length],
            };
            if end < 0 {
                return Err(bad("negative offset"));
            }
            Column::Utf8 {
                offsets,
                data: bytes::<u8>(array, 2, end as usize)?,
                validity: validity(array)?,
            }
        }
        "vu" => {
            let n_buffers = array.n_buffers as usize;
            if n_buffers < 3 {
                return Err(bad("string view array with too few buffers"));
            }
            let views = &bytes::<[u8; 16]>(array, 1, offset + length)?[offset..];
            let n_data = n_buffers - 3;
            let sizes = buffer::<i64>(array, n_buffers - 1, n_data)?;
            let mut buffers = Vec::with_capacity(n_data);
            for (k, &size) in sizes.iter().enumerate() {
                if size < 0 {
                    return Err(bad("negative buffer size"));
                }
                buffers.push(bytes::<u8>(array, 2 + k, size as usize)?);
            }
            Column::Utf8View {
                views,
                buffers,
                validity: validity(array)?,
            }
        }
        "z" | "Z" | "vz" => {
            return Err(PyTypeError::new_err(
                "expected an Arrow string array, got binary: decode it to strings first",
            ))
        }
        other => {
            return Err(PyTypeError::new_err(format!(
                "expected an Arrow string array (utf8, large_utf8, utf8_view or a dictionary \
                 of them), got Arrow format {other:?}"
            )))
        }
    };
    Ok(Layout::Plain(column))
}

// ---------------------------------------------------------------- counting

/// How one text is counted: `count_batch`'s special-token semantics.
fn counter<'a>(
    enc: &'a Encoding,
    allowed: &'a SpecialTokenSet,
    disallowed: Option<&'a SpecialTokenSet>,
) -> impl Fn(&str) -> Result<usize, EncodeError> + Sync + 'a {
    move |t| enc.count_checked(t, &allowed.inner, disallowed.map(|d| &d.inner))
}

/// Why a column was not counted.
enum Failure {
    Column(String),
    Encode(EncodeError),
}

impl From<Failure> for PyErr {
    fn from(f: Failure) -> PyErr {
        match f {
            Failure::Column(m) => bad(m),
            Failure::Encode(e) => encode_err(e),
        }
    }
}

fn count_layout(
    layout: &Layout<'_>,
    count: &(impl Fn(&str) -> Result<usize, EncodeError> + Sync),
) -> Result<Vec<i64>, Failure> {
    let check = |c: &Column<'_>| c.validate().map_err(|e| Failure::Column(e.0));
    match layout {
        Layout::Plain(c) => {
            check(c)?;
            count_column(c, count).map_err(Failure::Encode)
        }
        Layout::Dictionary {
            indices,
            validity,
            values,
        } => {
            check(values)?;
            let counts = count_column(values, count).map_err(Failure::Encode)?;
            if let Some(v) = validity {
                if (v.offset + indices.len()).div_ceil(8) > v.bits.len() {
                    return Err(Failure::Column("validity bitmap too short".into()));
                }
            }
            (0..indices.len())
                .map(|i| {
                    if validity.is_some_and(|v| !v.is_valid(i)) {
                        return Ok(0);
                    }
                    let k = indices.get(i);
                    usize::try_from(k)
                        .ok()
                        .and_then(|k| counts.get(k).copied())
                        .ok_or_else(|| {
                            Failure::Column(format!("dictionary index {k} out of range"))
                        })
                })
                .collect()
        }
    }
}

fn to_bytearray<'py>(py: Python<'py>, counts: &[i64]) -> Bound<'py, PyByteArray> {
    let mut bytes = Vec::with_capacity(counts.len() * 8);
    for c in counts {
        bytes.extend_from_slice(&c.to_ne_bytes());
    }
    PyByteArray::new(py, &bytes)
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
    let count = counter(encoding.enc(), allowed, disallowed);
    if array.hasattr(pyo3::intern!(py, "__arrow_c_array__"))? {
        let pair = array.call_method0(pyo3::intern!(py, "__arrow_c_array__"))?;
        let pair = pair.cast::<PyTuple>().map_err(|_| {
            PyTypeError::new_err("__arrow_c_array__ must return a (schema, array) tuple")
        })?;
        let schema_cap = pair.get_item(0)?.cast_into::<PyCapsule>()?;
        let array_cap = pair.get_item(1)?.cast_into::<PyCapsule>()?;
        let schema = schema_cap.pointer_checked(Some(c"arrow_schema"))?;
        let arr = array_cap.pointer_checked(Some(c"arrow_array"))?;
        // SAFETY: the capsules hold valid structs (their names say so) and stay alive, with the
        // buffers they point at, until this function returns.
        let (schema, arr) = unsafe {
            (
                &*(schema.as_ptr() as *const ArrowSchema),
                &*(arr.as_ptr() as *const ArrowArray),
            )
        };
        if arr.release.is_none() {
            return Err(bad("the array was already released"));
        }
        let layout = unsafe { layout(schema, arr)? };
        let counts = run_parallel(py, num_threads, |_| count_layout(&layout, &count))??;
        return Ok(to_bytearray(py, &counts));
    }
    if array.hasattr(pyo3::intern!(py, "__arrow_c_stream__"))? {
        let cap = array
            .call_method0(pyo3::intern!(py, "__arrow_c_stream__"))?
            .cast_into::<PyCapsule>()?;
        let stream =
            cap.pointer_checked(Some(c"arrow_array_stream"))?.as_ptr() as *mut ArrowArrayStream;
        // SAFETY: the capsule holds a valid stream and stays alive until this returns; the
        // stream is used from this thread only, with the GIL held (a producer written in
        // Python needs it), and left for the capsule to release.
        let (schema, arrays) = unsafe { read_stream(stream)? };
        let layouts = arrays
            .iter()
            .map(|a| unsafe { layout(&schema.0, &a.0) })
            .collect::<PyResult<Vec<_>>>()?;
        let counts = run_parallel(py, num_threads, |_| -> Result<Vec<i64>, Failure> {
            let mut all = Vec::new();
            for l in &layouts {
                all.extend(count_layout(l, &count)?);
            }
            Ok(all)
        })??;
        drop(layouts);
        drop(arrays);
        return Ok(to_bytearray(py, &counts));
    }
    Err(PyTypeError::new_err(format!(
        "expected an Arrow array (with __arrow_c_array__ or __arrow_c_stream__), got {}",
        type_name(array)
    )))
}

/// The schema and every array of a stream.
///
/// # Safety
/// `stream` must point at a valid, unreleased ArrowArrayStream.
unsafe fn read_stream(stream: *mut ArrowArrayStream) -> PyResult<(OwnedSchema, Vec<OwnedArray>)> {
    let s = &*stream;
    let (Some(get_schema), Some(get_next)) = (s.get_schema, s.get_next) else {
        return Err(bad("the stream was already released"));
    };
    let last_error = |code: c_int| {
        let msg = s
            .get_last_error
            .map(|f| f(stream))
            .filter(|p| !p.is_null())
            .map(|p| CStr::from_ptr(p).to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("error code {code}"));
        PyRuntimeError::new_err(format!("reading the Arrow stream failed: {msg}"))
    };
    let mut schema = OwnedSchema(ArrowSchema::empty());
    let rc = get_schema(stream, &mut schema.0);
    if rc != 0 {
        return Err(last_error(rc));
    }
    let mut arrays = Vec::new();
    loop {
        let mut a = OwnedArray(ArrowArray::empty());
        let rc = get_next(stream, &mut a.0);
        if rc != 0 {
            return Err(last_error(rc));
        }
        if a.0.release.is_none() {
            break;
        }
        arrays.push(a);
    }
    Ok((schema, arrays))
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
    let native = if cfg!(target_endian = "little") {
        '<'
    } else {
        '>'
    };
    let width: usize = match typestr
        .strip_prefix(native)
        .and_then(|t| t.strip_prefix('U'))
    {
        Some(w) => w
            .parse()
            .map_err(|_| PyTypeError::new_err(format!("bad typestr {typestr:?}")))?,
        None => {
            return Err(PyTypeError::new_err(format!(
                "expected a native-order NumPy str array, got typestr {typestr:?}"
            )))
        }
    };
    let shape: Vec<usize> = get("shape")?.extract()?;
    if shape.len() != 1 {
        return Err(PyValueError::new_err("expected a 1-D array"));
    }
    let strides = iface.get_item("strides")?;
    if strides.as_ref().is_some_and(|s| !s.is_none()) {
        let s: Vec<isize> = strides
            .map(|s| s.extract())
            .transpose()?
            .unwrap_or_default();
        if s.first().copied() != Some(4 * width as isize) && shape[0] > 1 {
            return Err(PyValueError::new_err("expected a C-contiguous array"));
        }
    }
    let (ptr, _readonly): (usize, bool) = get("data")?.extract()?;
    let n = shape[0] * width;
    let cells: Cow<'_, [u32]> = if n == 0 {
        Cow::Borrowed(&[])
    } else if ptr == 0 {
        return Err(PyValueError::new_err("NumPy data pointer is null"));
    } else {
        let ptr = ptr as *const u32;
        // SAFETY: NumPy says `ptr` holds `shape[0]` contiguous items of `width` UCS-4 code
        // units; `array` keeps the memory alive until this returns.
        unsafe {
            if ptr.is_aligned() {
                Cow::Borrowed(std::slice::from_raw_parts(ptr, n))
            } else {
                Cow::Owned((0..n).map(|i| ptr.add(i).read_unaligned()).collect())
            }
        }
    };
    let column = Column::Ucs4 { data: cells, width };
    let count = counter(encoding.enc(), allowed, disallowed);
    let layout = Layout::Plain(column);
    let counts = run_parallel(py, num_threads, |_| count_layout(&layout, &count))??;
    Ok(to_bytearray(py, &counts))
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
        .map(|(i, o)| {
            if o.is_none() {
                Ok(None)
            } else if o.is_instance_of::<PyString>() {
                text_of(o).map(Some)
            } else {
                Err(PyTypeError::new_err(format!(
                    "item {i}: expected str or None, got {}",
                    type_name(o)
                )))
            }
        })
        .collect::<PyResult<Vec<_>>>()?;
    let enc = encoding.enc();
    let count = counter(enc, allowed, disallowed);
    let counts = run_parallel(py, num_threads, |_| {
        use rayon::prelude::*;
        texts
            .par_iter()
            .with_min_len(32)
            .map(|t| t.as_ref().map_or(Ok(0), |t| count(t).map(|n| n as i64)))
            .collect::<Result<Vec<i64>, EncodeError>>()
    })?
    .map_err(encode_err)?;
    Ok(to_bytearray(py, &counts))
}
