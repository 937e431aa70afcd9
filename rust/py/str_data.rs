//! A str's UTF-8, encoded from the code points where CPython keeps them.
//!
//! The stable ABI has no call that gives a str's buffer: only copies (`PyUnicode_AsUCS4`, whose
//! memory traffic on 1 MB of text cost as much as CPython's own UTF-8 encoding) or the UTF-8,
//! which CPython encodes with a loop that branches on every char's width and then keeps in the
//! str. CPython's layout of a compact str (PEP 393) is public in its headers and fixed within a
//! minor version, the same for 3.10-3.11 and for 3.12-3.13 but for one pointer: a header
//! (length, hash, a state word whose bits say the width of a code point and whether the str is
//! compact and ASCII), the cached UTF-8 (length and pointer), then the code points. So on the
//! versions whose layout we know, and only once known strings have read back right through it
//! (`check`, which CPython's own `PyUnicode_AsUTF8AndSize` confirms), the code points are read
//! in place, encoded by `crate::transcode`, and the UTF-8 is kept in the str exactly as CPython
//! keeps its own (a `PyObject_Malloc` block, NUL-terminated, freed with the str). Anywhere else
//! `utf8_of` says `None` and the caller asks CPython, as before.

use std::sync::OnceLock;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::transcode;

/// The code points of a str, in its own buffer.
enum Chars<'a> {
    Latin1(&'a [u8]),
    Ucs2(&'a [u16]),
    Ucs4(&'a [u32]),
}

impl Chars<'_> {
    fn len(&self) -> usize {
        match self {
            Chars::Latin1(c) => c.len(),
            Chars::Ucs2(c) => c.len(),
            Chars::Ucs4(c) => c.len(),
        }
    }

    fn to_vec(&self) -> Vec<u32> {
        match self {
            Chars::Latin1(c) => c.iter().map(|&u| u32::from(u)).collect(),
            Chars::Ucs2(c) => c.iter().map(|&u| u32::from(u)).collect(),
            Chars::Ucs4(c) => c.to_vec(),
        }
    }

    /// See [`transcode::room`].
    fn room(&self) -> Option<usize> {
        match self {
            Chars::Latin1(c) => transcode::room(c),
            Chars::Ucs2(c) => transcode::room(c),
            Chars::Ucs4(c) => transcode::room(c),
        }
    }

    /// See [`transcode::encode`].
    ///
    /// # Safety
    /// As there: `out` has room for `self.room()` bytes.
    unsafe fn encode(&self, out: *mut u8) -> Option<usize> {
        match self {
            Chars::Latin1(c) => transcode::encode(c, out),
            Chars::Ucs2(c) => transcode::encode(c, out),
            Chars::Ucs4(c) => transcode::encode(c, out),
        }
    }
}

/// Where a compact str keeps what we read, in bytes from its start.
#[derive(Clone, Copy)]
struct Layout {
    /// The pointer to the cached UTF-8 (null until something asks for it); its length in
    /// bytes is the word before.
    utf8: usize,
    /// The code points of a compact str that is not ASCII.
    data: usize,
    /// Whether bit 7 of the state says the str is statically allocated (3.12 on; before,
    /// it says the str is ready, as every compact one is): such a str is left alone.
    static_bit: bool,
}

/// The length in code points and the state word follow the object header (a reference count
/// and a type pointer) and the hash.
const LENGTH: usize = 16;
const STATE: usize = 32;

/// The layout of this interpreter's strs, if it is one we know and it reads back right, on a
/// CPU where our encoding beats CPython's (`transcode::is_fast`).
fn layout(py: Python<'_>) -> Option<Layout> {
    static LAYOUT: OnceLock<Option<Layout>> = OnceLock::new();
    *LAYOUT.get_or_init(|| {
        if !cfg!(target_pointer_width = "64") || !transcode::is_fast() {
            return None;
        }
        let version = py.version_info();
        let layout = match (version.major, version.minor) {
            // PyASCIIObject ends with a wchar_t pointer (48 bytes); PyCompactUnicodeObject adds
            // utf8_length, utf8 and wstr_length.
            (3, 10 | 11) => Layout {
                utf8: 56,
                data: 72,
                static_bit: false,
            },
            // No wchar_t pointer: 40 bytes, then utf8_length and utf8.
            (3, 12 | 13) => Layout {
                utf8: 48,
                data: 56,
                static_bit: true,
            },
            _ => return None,
        };
        check(py, layout).then_some(layout)
    })
}

/// Whether strs are read in place here: the interpreter's layout is known and checked, and the
/// CPU has the fast encoding.
pub(crate) fn reads_in_place(py: Python<'_>) -> bool {
    layout(py).is_some()
}

/// Whether strs of every width read back right through `layout`, and whether CPython then
/// finds the UTF-8 we keep in them: a build with another object header fails here, and strs
/// are then never read in place.
fn check(py: Python<'_>, layout: Layout) -> bool {
    ["latin-1: ÿé", "two bytes: ĀĂ€", "four bytes: 😀 and 世界"]
        .iter()
        .all(|&sample| {
            // Made afresh (not an interned constant), so no UTF-8 is kept in it yet.
            let text = format!("{sample} {}", "x".repeat(80));
            let s = PyString::new(py, &text);
            let want: Vec<u32> = text.chars().map(u32::from).collect();
            // SAFETY: `s` is a live str; `read` checks its type, flags and length before it
            // reads on. The UTF-8 is written only once the code points read back right.
            unsafe {
                let Some(chars) = read(s.as_ptr(), layout) else {
                    return false;
                };
                if chars.to_vec() != want {
                    return false;
                }
                let Some(ours) = keep_utf8(&s, layout, chars) else {
                    return false;
                };
                let mut size: ffi::Py_ssize_t = 0;
                let cpython = ffi::PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size);
                cpython.cast::<u8>() == ours.as_ptr().cast_mut()
                    && size as usize == text.len()
                    && ours == text
                    && read(s.as_ptr(), layout).is_none()
            }
        })
}

/// The UTF-8 of a non-ASCII str of at least `min_chars` chars, encoded here and kept in the
/// str; `None` where this interpreter's layout is unknown, or `s` is not an exact, compact,
/// non-ASCII str without UTF-8 kept already (with it, or ASCII, its UTF-8 costs nothing to
/// get), or it holds a lone surrogate, or memory ran out: the caller then asks CPython.
pub(crate) fn utf8_of<'a>(s: &'a Bound<'_, PyString>, min_chars: usize) -> Option<&'a str> {
    let layout = layout(s.py())?;
    // SAFETY: `s` is a live str, borrowed for 'a, and `layout` is this interpreter's.
    unsafe {
        let chars = read(s.as_ptr(), layout)?;
        if chars.len() < min_chars {
            return None;
        }
        keep_utf8(s, layout, chars)
    }
}

/// Encodes the UTF-8 of `s` (its code points `chars`, as `read` gave them) and keeps it in `s`,
/// as `PyUnicode_AsUTF8AndSize` would.
///
/// # Safety
/// `s` is live and `layout` is this interpreter's, checked (or being checked, after its code
/// points read back right).
unsafe fn keep_utf8<'a>(
    s: &'a Bound<'_, PyString>,
    layout: Layout,
    chars: Chars<'a>,
) -> Option<&'a str> {
    let room = chars.room()?;
    let buf = ffi::PyObject_Malloc(room).cast::<u8>();
    if buf.is_null() {
        return None;
    }
    let Some(len) = chars.encode(buf) else {
        ffi::PyObject_Free(buf.cast());
        return None;
    };
    // The room the UTF-8 did not take goes back (a block shrinks in place).
    let buf = match ffi::PyObject_Realloc(buf.cast(), len + 1).cast::<u8>() {
        kept if kept.is_null() => buf,
        kept => kept,
    };
    buf.add(len).write(0);
    let base = s.as_ptr().cast::<u8>();
    base.add(layout.utf8 - 8)
        .cast::<ffi::Py_ssize_t>()
        .write(len as ffi::Py_ssize_t);
    base.add(layout.utf8).cast::<*mut u8>().write(buf);
    Some(std::str::from_utf8_unchecked(std::slice::from_raw_parts(
        buf, len,
    )))
}

/// # Safety
/// `p` is a live str and `layout` is this interpreter's.
unsafe fn read<'a>(p: *mut ffi::PyObject, layout: Layout) -> Option<Chars<'a>> {
    // A subclass's instance keeps its code points elsewhere (it is not compact).
    if ffi::PyUnicode_CheckExact(p) == 0 {
        return None;
    }
    let base = p.cast::<u8>().cast_const();
    let length = base.add(LENGTH).cast::<ffi::Py_ssize_t>().read();
    let state = base.add(STATE).cast::<u32>().read();
    let (kind, compact, ascii) = ((state >> 2) & 7, (state >> 5) & 1, (state >> 6) & 1);
    let is_static = layout.static_bit && (state >> 7) & 1 == 1;
    if compact == 0 || ascii == 1 || is_static || length != ffi::PyUnicode_GetLength(p) {
        return None;
    }
    if !base.add(layout.utf8).cast::<*const u8>().read().is_null() {
        return None;
    }
    let n = length as usize;
    let data = base.add(layout.data);
    Some(match kind {
        1 => Chars::Latin1(std::slice::from_raw_parts(data, n)),
        2 => Chars::Ucs2(std::slice::from_raw_parts(data.cast(), n)),
        4 => Chars::Ucs4(std::slice::from_raw_parts(data.cast(), n)),
        _ => return None,
    })
}
