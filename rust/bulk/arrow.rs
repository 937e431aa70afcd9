//! The Arrow C Data Interface, read in place: the `ArrowSchema`, `ArrowArray` and
//! `ArrowArrayStream` structs as the specification defines them, release on drop for what a
//! stream hands over, and the string layouts this crate counts (utf8, large_utf8, utf8_view,
//! and dictionaries of them with any integer index) read as [`Column`]s without a copy.
//!
//! Nothing here knows Python: the bindings get the structs from PyCapsules and hand them over.

use std::borrow::Cow;
use std::ffi::{c_char, c_int, c_void, CStr};

use super::columns::{count_column, Column, Offsets, Validity};

// ---------------------------------------------------------------- the C Data Interface structs

/// `struct ArrowSchema` of the C Data Interface.
#[repr(C)]
#[derive(Debug)]
pub struct ArrowSchema {
    pub format: *const c_char,
    pub name: *const c_char,
    pub metadata: *const c_char,
    pub flags: i64,
    pub n_children: i64,
    pub children: *mut *mut ArrowSchema,
    pub dictionary: *mut ArrowSchema,
    pub release: Option<unsafe extern "C" fn(*mut ArrowSchema)>,
    pub private_data: *mut c_void,
}

/// `struct ArrowArray` of the C Data Interface.
#[repr(C)]
#[derive(Debug)]
pub struct ArrowArray {
    pub length: i64,
    pub null_count: i64,
    pub offset: i64,
    pub n_buffers: i64,
    pub n_children: i64,
    pub buffers: *mut *const c_void,
    pub children: *mut *mut ArrowArray,
    pub dictionary: *mut ArrowArray,
    pub release: Option<unsafe extern "C" fn(*mut ArrowArray)>,
    pub private_data: *mut c_void,
}

/// `struct ArrowArrayStream` of the C Stream Interface.
#[repr(C)]
#[derive(Debug)]
pub struct ArrowArrayStream {
    pub get_schema: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowSchema) -> c_int>,
    pub get_next: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowArray) -> c_int>,
    pub get_last_error: Option<unsafe extern "C" fn(*mut ArrowArrayStream) -> *const c_char>,
    pub release: Option<unsafe extern "C" fn(*mut ArrowArrayStream)>,
    pub private_data: *mut c_void,
}

impl ArrowSchema {
    /// A released (all-null) schema, for a producer to fill.
    pub fn empty() -> Self {
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
    /// A released (all-null) array, for a producer to fill.
    pub fn empty() -> Self {
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
pub struct OwnedSchema(pub ArrowSchema);

impl Drop for OwnedSchema {
    fn drop(&mut self) {
        if let Some(release) = self.0.release {
            // SAFETY: the producer filled this struct and gave it to us to release once.
            unsafe { release(&mut self.0) };
        }
    }
}

/// An array this side owns (from a stream): released when dropped.
pub struct OwnedArray(pub ArrowArray);

impl Drop for OwnedArray {
    fn drop(&mut self) {
        if let Some(release) = self.0.release {
            // SAFETY: as for OwnedSchema.
            unsafe { release(&mut self.0) };
        }
    }
}

// SAFETY: the structs point at immutable buffers that the C Data Interface lets any thread read;
// the bindings release them on the thread that received them.
unsafe impl Send for OwnedArray {}

/// Why an array or stream was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArrowError {
    /// The structs do not hold together (a producer's bug, or a hostile input).
    Malformed(String),
    /// A well-formed array of something other than strings.
    NotStrings(String),
    /// The stream's producer reported an error.
    Stream(String),
}

impl std::fmt::Display for ArrowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArrowError::Malformed(m) => write!(f, "malformed Arrow array: {m}"),
            ArrowError::NotStrings(m) => f.write_str(m),
            ArrowError::Stream(m) => write!(f, "reading the Arrow stream failed: {m}"),
        }
    }
}

fn bad(msg: impl Into<String>) -> ArrowError {
    ArrowError::Malformed(msg.into())
}

// ---------------------------------------------------------------- reading a column

/// A string array read in place: plain strings, or dictionary indices into strings.
pub enum StringArray<'a> {
    Plain(Column<'a>),
    Dictionary {
        indices: Indices<'a>,
        validity: Option<Validity<'a>>,
        values: Column<'a>,
    },
}

/// Dictionary indices, in any of the integer types Arrow allows (borrowed unless unaligned).
pub enum Indices<'a> {
    I8(Cow<'a, [i8]>),
    U8(Cow<'a, [u8]>),
    I16(Cow<'a, [i16]>),
    U16(Cow<'a, [u16]>),
    I32(Cow<'a, [i32]>),
    U32(Cow<'a, [u32]>),
    I64(Cow<'a, [i64]>),
    U64(Cow<'a, [u64]>),
}

/// Runs `$body` with `$v` bound to the slice of whichever index type `$indices` holds.
macro_rules! each_index_type {
    ($indices:expr, $v:ident => $body:expr) => {
        match $indices {
            Indices::I8($v) => $body,
            Indices::U8($v) => $body,
            Indices::I16($v) => $body,
            Indices::U16($v) => $body,
            Indices::I32($v) => $body,
            Indices::U32($v) => $body,
            Indices::I64($v) => $body,
            Indices::U64($v) => $body,
        }
    };
}

impl Indices<'_> {
    pub fn len(&self) -> usize {
        each_index_type!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Index `i` as a position in the dictionary; None when negative or beyond `usize`.
    pub fn get(&self, i: usize) -> Option<usize> {
        // One conversion for all eight types: infallible for the narrow unsigned ones.
        #[allow(clippy::unnecessary_fallible_conversions)]
        let position = each_index_type!(self, v => usize::try_from(v[i]).ok());
        position
    }
}

/// `len` values of type T at buffer `k` of `array`: borrowed in place, or copied when the
/// buffer is not aligned for T (Arrow asks producers to align buffers; some, unpickled Arrow
/// arrays for one, do not).
///
/// # Safety
/// `array` must be a valid, unreleased C Data Interface array whose buffer `k` holds at least
/// `len` values of T, as its format promises.
unsafe fn buffer<T: Copy>(
    array: &ArrowArray,
    k: usize,
    len: usize,
) -> Result<Cow<'_, [T]>, ArrowError> {
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
    if !ptr.is_aligned() {
        return Ok(Cow::Owned(
            (0..len).map(|i| ptr.add(i).read_unaligned()).collect(),
        ));
    }
    Ok(Cow::Borrowed(std::slice::from_raw_parts(ptr, len)))
}

/// Bytes (or arrays of bytes) at buffer `k` of `array`: always aligned, always borrowed.
///
/// # Safety
/// As for `buffer`.
unsafe fn bytes<T: Copy>(array: &ArrowArray, k: usize, len: usize) -> Result<&[T], ArrowError> {
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
unsafe fn validity(array: &ArrowArray) -> Result<Option<Validity<'_>>, ArrowError> {
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

/// The string array that an exported `schema` and `array` describe (from
/// `__arrow_c_array__`, say): refused when the array was already released.
///
/// # Safety
/// Both must be valid C Data Interface structs that stay alive, with the buffers they point
/// at, as long as the returned array is used.
pub unsafe fn read_array<'a>(
    schema: &'a ArrowSchema,
    array: &'a ArrowArray,
) -> Result<StringArray<'a>, ArrowError> {
    if array.release.is_none() {
        return Err(bad("the array was already released"));
    }
    layout(schema, array)
}

/// As `read_array`, for an array or a child of one (children carry no release of their own to
/// check).
///
/// # Safety
/// As for `read_array`.
unsafe fn layout<'a>(
    schema: &'a ArrowSchema,
    array: &'a ArrowArray,
) -> Result<StringArray<'a>, ArrowError> {
    if schema.format.is_null() {
        return Err(bad("schema without a format"));
    }
    if array.length < 0 || array.offset < 0 {
        return Err(bad("negative length or offset"));
    }
    let format = CStr::from_ptr(schema.format).to_string_lossy();
    let (offset, length) = (array.offset as usize, array.length as usize);
    let end = offset
        .checked_add(length)
        .ok_or_else(|| bad("length and offset overflow"))?;
    if !schema.dictionary.is_null() {
        if array.dictionary.is_null() {
            return Err(bad("dictionary array without its dictionary"));
        }
        let values = match layout(&*schema.dictionary, &*array.dictionary)? {
            StringArray::Plain(c) => c,
            StringArray::Dictionary { .. } => return Err(bad("nested dictionaries")),
        };
        let indices = match format.as_ref() {
            "c" => Indices::I8(tail(buffer(array, 1, end)?, offset)),
            "C" => Indices::U8(tail(buffer(array, 1, end)?, offset)),
            "s" => Indices::I16(tail(buffer(array, 1, end)?, offset)),
            "S" => Indices::U16(tail(buffer(array, 1, end)?, offset)),
            "i" => Indices::I32(tail(buffer(array, 1, end)?, offset)),
            "I" => Indices::U32(tail(buffer(array, 1, end)?, offset)),
            "l" => Indices::I64(tail(buffer(array, 1, end)?, offset)),
            "L" => Indices::U64(tail(buffer(array, 1, end)?, offset)),
            other => return Err(bad(format!("dictionary index format {other:?}"))),
        };
        return Ok(StringArray::Dictionary {
            indices,
            validity: validity(array)?,
            values,
        });
    }
    let column = match format.as_ref() {
        "u" | "U" => {
            let offsets = if format == "u" {
                Offsets::I32(tail(buffer(array, 1, end + 1)?, offset))
            } else {
                Offsets::I64(tail(buffer(array, 1, end + 1)?, offset))
            };
            let data_end = match &offsets {
                Offsets::I32(o) => o[length] as i64,
                Offsets::I64(o) => o[length],
            };
            if data_end < 0 {
                return Err(bad("negative offset"));
            }
            Column::Utf8 {
                offsets,
                data: bytes(array, 2, data_end as usize)?,
                validity: validity(array)?,
            }
        }
        "vu" => {
            let n_buffers = array.n_buffers as usize;
            if n_buffers < 3 {
                return Err(bad("string view array with too few buffers"));
            }
            let views = &bytes::<[u8; 16]>(array, 1, end)?[offset..];
            let n_data = n_buffers - 3;
            let sizes = buffer::<i64>(array, n_buffers - 1, n_data)?;
            let mut buffers = Vec::with_capacity(n_data);
            for (k, &size) in sizes.iter().enumerate() {
                if size < 0 {
                    return Err(bad("negative buffer size"));
                }
                buffers.push(bytes(array, 2 + k, size as usize)?);
            }
            Column::Utf8View {
                views,
                buffers,
                validity: validity(array)?,
            }
        }
        "z" | "Z" | "vz" => {
            return Err(ArrowError::NotStrings(
                "expected an Arrow string array, got binary: decode it to strings first".into(),
            ))
        }
        other => {
            return Err(ArrowError::NotStrings(format!(
                "expected an Arrow string array (utf8, large_utf8, utf8_view or a dictionary \
                 of them), got Arrow format {other:?}"
            )))
        }
    };
    Ok(StringArray::Plain(column))
}

impl StringArray<'_> {
    /// The count of each value (0 for a null), on the current Rayon pool, after checking every
    /// offset, view and index against its buffers. `count` counts one text.
    pub fn count<E: Send + From<ArrowError>>(
        &self,
        count: &(impl Fn(&str) -> Result<usize, E> + Sync),
    ) -> Result<Vec<i64>, E> {
        let check = |c: &Column<'_>| c.validate().map_err(|e| E::from(bad(e.0)));
        match self {
            StringArray::Plain(c) => {
                check(c)?;
                count_column(c, count)
            }
            StringArray::Dictionary {
                indices,
                validity,
                values,
            } => {
                check(values)?;
                let counts = count_column(values, count)?;
                if let Some(v) = validity {
                    if (v.offset + indices.len()).div_ceil(8) > v.bits.len() {
                        return Err(bad("validity bitmap too short").into());
                    }
                }
                (0..indices.len())
                    .map(|i| {
                        if validity.is_some_and(|v| !v.is_valid(i)) {
                            return Ok(0);
                        }
                        indices
                            .get(i)
                            .and_then(|k| counts.get(k).copied())
                            .ok_or_else(|| {
                                bad(format!("dictionary index at position {i} out of range")).into()
                            })
                    })
                    .collect()
            }
        }
    }
}

/// The counts of several arrays (a stream's, or a single one's), laid end to end.
pub fn count_all<E: Send + From<ArrowError>>(
    arrays: &[StringArray<'_>],
    count: &(impl Fn(&str) -> Result<usize, E> + Sync),
) -> Result<Vec<i64>, E> {
    let mut all = Vec::new();
    for array in arrays {
        all.extend(array.count(count)?);
    }
    Ok(all)
}

/// The schema and every array of a stream, each released when dropped; the stream itself is
/// left to its owner.
///
/// # Safety
/// `stream` must point at a valid ArrowArrayStream, used by no other thread meanwhile.
pub unsafe fn read_stream(
    stream: *mut ArrowArrayStream,
) -> Result<(OwnedSchema, Vec<OwnedArray>), ArrowError> {
    let s = &*stream;
    let (Some(get_schema), Some(get_next)) = (s.get_schema, s.get_next) else {
        return Err(ArrowError::Stream("the stream was already released".into()));
    };
    let last_error = |code: c_int| {
        let msg = s
            .get_last_error
            .map(|f| f(stream))
            .filter(|p| !p.is_null())
            .map(|p| CStr::from_ptr(p).to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("error code {code}"));
        ArrowError::Stream(msg)
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

#[cfg(test)]
mod tests {
    //! Arrays built here as a producer would export them: owned buffers, pointer tables, and
    //! release callbacks that record that they ran.

    use super::*;
    use crate::builtin;
    use std::ffi::CString;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Buffers of one exported array, kept alive by the test.
    struct Exported {
        format: CString,
        /// Each buffer in 8-byte words, so that it is aligned for any type.
        words: Vec<Vec<u64>>,
        pointers: Vec<*const c_void>,
        dictionary: Option<Box<(Exported, ArrowSchema, ArrowArray)>>,
        schema: ArrowSchema,
        array: ArrowArray,
    }

    static RELEASED: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn release_array(a: *mut ArrowArray) {
        RELEASED.fetch_add(1, Ordering::SeqCst);
        (*a).release = None;
    }

    unsafe extern "C" fn release_schema(s: *mut ArrowSchema) {
        RELEASED.fetch_add(1, Ordering::SeqCst);
        (*s).release = None;
    }

    /// The native bytes of `values`.
    fn le<T: Copy>(values: &[T]) -> Vec<u8> {
        // SAFETY: plain numbers, read as their bytes.
        unsafe {
            std::slice::from_raw_parts(values.as_ptr() as *const u8, std::mem::size_of_val(values))
        }
        .to_vec()
    }

    /// `bytes` in 8-byte words, `shift` bytes in (one word more, so never empty).
    fn words(bytes: &[u8], shift: usize) -> Vec<u64> {
        let mut w = vec![0u64; (bytes.len() + shift) / 8 + 1];
        // SAFETY: `w` has room for `shift + bytes.len()` bytes.
        unsafe {
            let dst = (w.as_mut_ptr() as *mut u8).add(shift);
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len());
        }
        w
    }

    /// Validity bits, least significant first.
    fn bits(valid: &[bool]) -> Vec<u8> {
        let mut out = vec![0u8; valid.len().div_ceil(8)];
        for (i, &v) in valid.iter().enumerate() {
            if v {
                out[i / 8] |= 1 << (i % 8);
            }
        }
        out
    }

    /// An exported array of `format` over `buffers` (None: a null buffer pointer).
    fn export(
        format: &str,
        length: i64,
        offset: i64,
        null_count: i64,
        buffers: Vec<Option<Vec<u8>>>,
    ) -> Exported {
        let words: Vec<Vec<u64>> = buffers
            .iter()
            .map(|b| b.as_deref().map_or_else(Vec::new, |b| words(b, 0)))
            .collect();
        let mut pointers: Vec<*const c_void> = words
            .iter()
            .map(|w| {
                if w.is_empty() {
                    std::ptr::null()
                } else {
                    w.as_ptr() as *const c_void
                }
            })
            .collect();
        let format = CString::new(format).unwrap();
        let schema = ArrowSchema {
            format: format.as_ptr(),
            release: Some(release_schema),
            ..ArrowSchema::empty()
        };
        let array = ArrowArray {
            length,
            null_count,
            offset,
            n_buffers: pointers.len() as i64,
            buffers: pointers.as_mut_ptr(),
            release: Some(release_array),
            ..ArrowArray::empty()
        };
        Exported {
            format,
            words,
            pointers,
            dictionary: None,
            schema,
            array,
        }
    }

    fn utf8_parts(values: &[&str]) -> (Vec<i32>, Vec<u8>) {
        let mut offsets = vec![0i32];
        let mut data = Vec::new();
        for v in values {
            data.extend_from_slice(v.as_bytes());
            offsets.push(data.len() as i32);
        }
        (offsets, data)
    }

    fn counts(e: &Exported) -> Result<Vec<i64>, ArrowError> {
        let enc = builtin::get("cl100k_base").unwrap();
        // SAFETY: `e` owns everything the structs point at.
        let array = unsafe { read_array(&e.schema, &e.array)? };
        array.count(&|t: &str| Ok::<_, ArrowError>(enc.count_ordinary(t).unwrap()))
    }

    fn n(t: &str) -> i64 {
        builtin::get("cl100k_base")
            .unwrap()
            .count_ordinary(t)
            .unwrap() as i64
    }

    const VALUES: [&str; 4] = [
        "hello world",
        "",
        "a longer value than twelve bytes",
        "日本語",
    ];

    #[test]
    fn utf8_with_nulls_and_an_offset() {
        let (offsets, data) = utf8_parts(&VALUES);
        let valid = bits(&[true, true, false, true]);
        let all = export(
            "u",
            4,
            0,
            1,
            vec![Some(valid.clone()), Some(le(&offsets)), Some(data.clone())],
        );
        assert_eq!(
            counts(&all).unwrap(),
            vec![n(VALUES[0]), 0, 0, n(VALUES[3])]
        );
        // A slice: values 1.. of the same buffers.
        let sliced = export(
            "u",
            3,
            1,
            1,
            vec![Some(valid), Some(le(&offsets)), Some(data)],
        );
        assert_eq!(counts(&sliced).unwrap(), vec![0, 0, n(VALUES[3])]);
    }

    #[test]
    fn large_utf8_without_a_validity_buffer() {
        let (offsets, data) = utf8_parts(&VALUES);
        let offsets: Vec<i64> = offsets.iter().map(|&o| o as i64).collect();
        let e = export("U", 4, 0, 0, vec![None, Some(le(&offsets)), Some(data)]);
        assert_eq!(
            counts(&e).unwrap(),
            VALUES.iter().map(|v| n(v)).collect::<Vec<_>>()
        );
        let e = export(
            "U",
            2,
            2,
            0,
            vec![None, Some(le(&offsets)), Some(utf8_parts(&VALUES).1)],
        );
        assert_eq!(counts(&e).unwrap(), vec![n(VALUES[2]), n(VALUES[3])]);
    }

    /// Views of `values`: inline up to 12 bytes, else in data buffer 0 (returned too).
    fn views(values: &[&str]) -> (Vec<u8>, Vec<u8>) {
        let mut views = Vec::new();
        let mut data = Vec::new();
        for v in values {
            let mut view = [0u8; 16];
            view[..4].copy_from_slice(&(v.len() as i32).to_ne_bytes());
            if v.len() <= 12 {
                view[4..4 + v.len()].copy_from_slice(v.as_bytes());
            } else {
                view[4..8].copy_from_slice(&v.as_bytes()[..4]);
                view[8..12].copy_from_slice(&0i32.to_ne_bytes());
                view[12..16].copy_from_slice(&(data.len() as i32).to_ne_bytes());
                data.extend_from_slice(v.as_bytes());
            }
            views.extend_from_slice(&view);
        }
        (views, data)
    }

    #[test]
    fn utf8_view_inline_and_buffered_with_nulls_and_an_offset() {
        let (v, data) = views(&VALUES);
        let sizes = le(&[data.len() as i64]);
        let valid = bits(&[true, false, true, true]);
        let e = export(
            "vu",
            4,
            0,
            1,
            vec![
                Some(valid.clone()),
                Some(v.clone()),
                Some(data.clone()),
                Some(sizes.clone()),
            ],
        );
        assert_eq!(
            counts(&e).unwrap(),
            vec![n(VALUES[0]), 0, n(VALUES[2]), n(VALUES[3])]
        );
        let e = export(
            "vu",
            2,
            2,
            1,
            vec![Some(valid), Some(v), Some(data), Some(sizes)],
        );
        assert_eq!(counts(&e).unwrap(), vec![n(VALUES[2]), n(VALUES[3])]);
    }

    /// A dictionary array of `format` indices into VALUES (as utf8).
    fn dictionary(
        format: &str,
        indices: Vec<u8>,
        length: i64,
        offset: i64,
        valid: Option<Vec<u8>>,
    ) -> Exported {
        let (offsets, data) = utf8_parts(&VALUES);
        let values = export("u", 4, 0, 0, vec![None, Some(le(&offsets)), Some(data)]);
        let nulls = i64::from(valid.is_some());
        let mut e = export(format, length, offset, nulls, vec![valid, Some(indices)]);
        let mut boxed = Box::new((values, ArrowSchema::empty(), ArrowArray::empty()));
        let (v, s, a) = &mut *boxed;
        *s = ArrowSchema {
            format: v.format.as_ptr(),
            ..ArrowSchema::empty()
        };
        *a = ArrowArray {
            release: None,
            ..std::mem::replace(&mut v.array, ArrowArray::empty())
        };
        e.schema.dictionary = s;
        e.array.dictionary = a;
        e.dictionary = Some(boxed);
        e
    }

    #[test]
    fn dictionaries_of_every_index_type() {
        let want = vec![n(VALUES[3]), n(VALUES[0]), n(VALUES[3])];
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("c", le(&[3i8, 0, 3])),
            ("C", le(&[3u8, 0, 3])),
            ("s", le(&[3i16, 0, 3])),
            ("S", le(&[3u16, 0, 3])),
            ("i", le(&[3i32, 0, 3])),
            ("I", le(&[3u32, 0, 3])),
            ("l", le(&[3i64, 0, 3])),
            ("L", le(&[3u64, 0, 3])),
        ];
        for (format, indices) in cases {
            assert_eq!(
                counts(&dictionary(format, indices, 3, 0, None)).unwrap(),
                want,
                "{format}"
            );
        }
    }

    #[test]
    fn dictionaries_with_nulls_and_an_offset() {
        let indices = le(&[9i32, 2, 1, 0]); // index 0 is out of range, but null and sliced off
        let valid = bits(&[false, true, false, true]);
        let e = dictionary("i", indices.clone(), 4, 0, Some(valid.clone()));
        assert_eq!(counts(&e).unwrap(), vec![0, n(VALUES[2]), 0, n(VALUES[0])]);
        let e = dictionary("i", indices, 2, 2, Some(valid));
        assert_eq!(counts(&e).unwrap(), vec![0, n(VALUES[0])]);
    }

    #[test]
    fn malformed_arrays_are_refused_with_a_reason() {
        let reason = |e: &Exported| match counts(e) {
            Err(ArrowError::Malformed(m)) => m,
            other => panic!("expected a malformed array, got {other:?}"),
        };
        let (offsets, data) = utf8_parts(&VALUES);
        let e = dictionary("i", le(&[0i32, 4]), 2, 0, None);
        assert!(reason(&e).contains("position 1 out of range"));
        let e = dictionary("i", le(&[-1i32]), 1, 0, None);
        assert!(reason(&e).contains("out of range"));
        let e = dictionary("f", le(&[0f32]), 1, 0, None);
        assert!(reason(&e).contains("index format"));
        let mut e = export(
            "u",
            4,
            0,
            0,
            vec![None, Some(le(&offsets)), Some(data.clone())],
        );
        e.array.length = -1;
        assert!(reason(&e).contains("negative"));
        let e = export("u", 4, 0, 0, vec![None, Some(le(&offsets))]);
        assert!(reason(&e).contains("buffer 2 is missing"));
        let e = export("u", 4, 0, 0, vec![None, None, Some(data.clone())]);
        assert!(reason(&e).contains("buffer 1 is null"));
        let backwards = le(&[0i32, 5, 3, 3, 3]);
        let e = export(
            "u",
            4,
            0,
            0,
            vec![None, Some(backwards), Some(data.clone())],
        );
        assert!(reason(&e).contains("backwards"));
        let e = export("vu", 1, 0, 0, vec![None, Some(views(&VALUES[..1]).0)]);
        assert!(reason(&e).contains("too few buffers"));
        let (v, _) = views(&VALUES[2..3]);
        let e = export(
            "vu",
            1,
            0,
            0,
            vec![None, Some(v), Some(b"short".to_vec()), Some(le(&[5i64]))],
        );
        assert!(reason(&e).contains("outside its buffer"));
        let mut e = dictionary("i", le(&[0i32]), 1, 0, None);
        e.array.dictionary = std::ptr::null_mut();
        assert!(reason(&e).contains("without its dictionary"));
        let mut e = export("u", 4, 0, 0, vec![None, Some(le(&offsets)), Some(data)]);
        e.array.release = None;
        assert!(reason(&e).contains("already released"));
    }

    #[test]
    fn binary_and_other_formats_are_not_strings() {
        for format in ["z", "Z", "vz", "i", "+s"] {
            let e = export(format, 0, 0, 0, vec![None, None, None]);
            assert!(
                matches!(counts(&e), Err(ArrowError::NotStrings(_))),
                "{format}"
            );
        }
    }

    #[test]
    fn unaligned_offsets_are_copied_and_read() {
        let (offsets, data) = utf8_parts(&VALUES);
        let mut e = export("u", 4, 0, 0, vec![None, Some(le(&offsets)), Some(data)]);
        // The same offsets one byte into a buffer: a pointer no i32 may be read through.
        e.words[1] = words(&le(&offsets), 1);
        // SAFETY: one byte into the buffer just made.
        e.pointers[1] = unsafe { (e.words[1].as_ptr() as *const u8).add(1) } as *const c_void;
        assert_eq!(
            counts(&e).unwrap(),
            VALUES.iter().map(|v| n(v)).collect::<Vec<_>>()
        );
    }

    // ------------------------------------------------------------ streams

    struct Producer {
        arrays: Vec<Exported>,
        schema: Exported,
        next: usize,
        fail_at: Option<usize>,
    }

    unsafe extern "C" fn get_schema(s: *mut ArrowArrayStream, out: *mut ArrowSchema) -> c_int {
        let p = &*((*s).private_data as *const Producer);
        *out = ArrowSchema {
            format: p.schema.format.as_ptr(),
            release: Some(release_schema),
            ..ArrowSchema::empty()
        };
        0
    }

    unsafe extern "C" fn get_next(s: *mut ArrowArrayStream, out: *mut ArrowArray) -> c_int {
        let p = &mut *((*s).private_data as *mut Producer);
        if p.fail_at == Some(p.next) {
            return 5;
        }
        *out = match p.arrays.get(p.next) {
            Some(e) => ArrowArray {
                buffers: e.array.buffers,
                ..std::ptr::read(&e.array)
            },
            None => ArrowArray::empty(),
        };
        p.next += 1;
        0
    }

    unsafe extern "C" fn last_error(_: *mut ArrowArrayStream) -> *const c_char {
        c"the producer gave up".as_ptr()
    }

    fn stream(fail_at: Option<usize>) -> (Box<Producer>, ArrowArrayStream) {
        let (offsets, data) = utf8_parts(&VALUES);
        let chunk = || {
            export(
                "u",
                4,
                0,
                0,
                vec![None, Some(le(&offsets)), Some(data.clone())],
            )
        };
        let mut producer = Box::new(Producer {
            arrays: vec![chunk(), chunk()],
            schema: export("u", 0, 0, 0, vec![]),
            next: 0,
            fail_at,
        });
        let s = ArrowArrayStream {
            get_schema: Some(get_schema),
            get_next: Some(get_next),
            get_last_error: Some(last_error),
            release: None,
            private_data: &mut *producer as *mut Producer as *mut c_void,
        };
        (producer, s)
    }

    #[test]
    fn streams_give_every_array_and_release_each_once() {
        let (_producer, mut s) = stream(None);
        let before = RELEASED.load(Ordering::SeqCst);
        // SAFETY: the producer outlives the stream's use here.
        let (schema, arrays) = unsafe { read_stream(&mut s).unwrap() };
        assert_eq!(arrays.len(), 2);
        let lengths: Vec<i64> = VALUES.iter().map(|v| v.len() as i64).collect();
        let mut columns = Vec::new();
        for a in &arrays {
            let column = unsafe { layout(&schema.0, &a.0).unwrap() };
            let got = column
                .count(&|t: &str| Ok::<_, ArrowError>(t.len()))
                .unwrap();
            assert_eq!(got, lengths);
            columns.push(column);
        }
        // All of them, one after another.
        let all = count_all(&columns, &|t: &str| Ok::<_, ArrowError>(t.len())).unwrap();
        assert_eq!(all, [lengths.clone(), lengths].concat());
        let none = count_all(&[], &|t: &str| Ok::<_, ArrowError>(t.len())).unwrap();
        assert!(none.is_empty());
        // The first error stops the count.
        let failed = count_all(&columns, &|_: &str| Err(ArrowError::Stream("no".into())));
        assert_eq!(failed, Err(ArrowError::Stream("no".into())));
        drop(columns);
        drop(arrays);
        drop(schema);
        assert!(RELEASED.load(Ordering::SeqCst) >= before + 3);
    }

    #[test]
    fn stream_errors_carry_the_producers_message() {
        let (_producer, mut s) = stream(Some(1));
        let err = unsafe { read_stream(&mut s) }.err().unwrap();
        assert_eq!(err, ArrowError::Stream("the producer gave up".into()));
        s.get_next = None;
        assert!(matches!(
            unsafe { read_stream(&mut s) },
            Err(ArrowError::Stream(_))
        ));
    }
}
