//! Python ints for the token ids of the built-in encodings, made once per id and shared: a
//! token list is then built by storing pointers, not by allocating an int per token (which
//! would cost about as much as the encoding itself).
//!
//! Each shared int is made holding `HELD` references of its own, and a list takes one of those
//! instead of counting a new one: building a list then writes nothing to the ints (counting
//! wrote to a cache line per token, scattered over 6 MB of ints). Lists that drop them count
//! down from `HELD`, which no process comes near, so the ints are never freed (as before:
//! they live as long as the process). From CPython 3.12 the interpreter may deem such a count
//! immortal (PEP 683), which means the same: never freed. CPython's small ints (0 to 256) are
//! one object each, shared with everything else (and with the other encodings' tables): those
//! are never given held references (four tables' would overflow the count), and a list counts
//! a reference to them as usual.

use std::os::raw::c_ulong;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::builtin;
use crate::encoding::Encoding;
use crate::vocab::Rank;

/// References each shared int holds from its making: 2^62, so that no number of lists a
/// process could ever drop counts it down to zero.
const HELD: ffi::Py_ssize_t = 1 << 62;

/// How many tokens ahead a list's filling starts loading slots.
const PREFETCH_AHEAD: usize = 16;

/// Tag, in a slot's lowest bit, of an int shared with the rest of the interpreter.
const SHARED: usize = 1;

/// One slot per token id, filled on first use (zeroed memory costs nothing until then).
/// Lives as long as the process, like the built-in encodings themselves.
struct TokenInts {
    slots: Box<[AtomicPtr<ffi::PyObject>]>,
}

impl TokenInts {
    fn new(len: usize) -> Self {
        TokenInts {
            slots: (0..len).map(|_| AtomicPtr::new(null_mut())).collect(),
        }
    }

    /// The int of `token`, with a reference the caller keeps: one of its `HELD` ones, or a
    /// new one for a shared int.
    #[inline(always)]
    fn get(&self, py: Python<'_>, token: Rank) -> PyResult<*mut ffi::PyObject> {
        let existing = self.slots[token as usize].load(Ordering::Acquire);
        if existing.is_null() {
            return self.make(py, token);
        }
        // SAFETY: a slot's int lives as long as the process; the GIL is held.
        Ok(unsafe { take(existing) })
    }

    /// Starts loading the slot of `token`.
    #[inline(always)]
    fn prefetch(&self, token: Rank) {
        crate::vocab::prefetch_read(self.slots.as_ptr().wrapping_add(token as usize));
    }

    #[cold]
    fn make(&self, py: Python<'_>, token: Rank) -> PyResult<*mut ffi::PyObject> {
        // SAFETY: attached to the interpreter (`py`); a null result means an exception is set.
        let made = unsafe { ffi::PyLong_FromUnsignedLong(token as c_ulong) };
        if made.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: `made` is live and the GIL is held. A count of one means no one else has it:
        // it takes the held references; any other int is shared, and keeps the one reference.
        let fresh = unsafe { (*made).ob_refcnt == 1 };
        let tagged = if fresh {
            unsafe { (*made).ob_refcnt += HELD - 1 };
            made
        } else {
            (made as usize | SHARED) as *mut ffi::PyObject
        };
        let slot = &self.slots[token as usize];
        match slot.compare_exchange(null_mut(), tagged, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: as in `get`.
            Ok(_) => Ok(unsafe { take(tagged) }),
            Err(winner) => {
                // SAFETY: `made` was ours to give back: its held references, then ours.
                unsafe {
                    if fresh {
                        (*made).ob_refcnt -= HELD - 1;
                    }
                    ffi::Py_DecRef(made);
                    Ok(take(winner))
                }
            }
        }
    }
}

/// The int of a slot with a reference for the caller: a shared int is counted inline, as the
/// stable ABI's own `Py_INCREF` of CPython 3.10 does (every later CPython keeps such
/// extensions working, immortal small ints included: PEP 683).
///
/// # Safety
/// `slot` must be a filled slot's value, and the GIL held.
#[inline(always)]
unsafe fn take(slot: *mut ffi::PyObject) -> *mut ffi::PyObject {
    let obj = (slot as usize & !SHARED) as *mut ffi::PyObject;
    if slot as usize & SHARED != 0 {
        (*obj).ob_refcnt += 1;
    }
    obj
}

fn cache_for(enc: &Encoding) -> Option<&'static TokenInts> {
    static CACHES: [OnceLock<TokenInts>; builtin::NAMES.len()] =
        [const { OnceLock::new() }; builtin::NAMES.len()];
    let idx = builtin::NAMES.iter().position(|n| *n == enc.name)?;
    // Only the shared built-in object, not a custom encoding that borrowed a built-in name.
    if !std::ptr::eq(builtin::get(enc.name.as_str())?, enc) {
        return None;
    }
    Some(CACHES[idx].get_or_init(|| TokenInts::new(enc.max_token_value() as usize + 1)))
}

/// A Python list of the tokens.
pub(crate) fn token_list<'py>(
    py: Python<'py>,
    enc: &Encoding,
    tokens: &[Rank],
) -> PyResult<Bound<'py, PyList>> {
    let Some(ints) = cache_for(enc) else {
        return PyList::new(py, tokens);
    };
    // SAFETY: PyList_New gives a new list of `len` empty slots (or null with an exception
    // set); each slot is filled exactly once with a reference from `get`, which the list
    // then owns (PyList_SetItem steals it; a direct store into the checked item array does
    // the same).
    unsafe {
        let list = ffi::PyList_New(tokens.len() as ffi::Py_ssize_t);
        let list = Bound::from_owned_ptr_or_err(py, list)?;
        if let Some(items) = item_array(py, list.as_ptr()) {
            for (i, &t) in tokens.iter().enumerate() {
                // The slots of the tokens a few ahead start loading: they lie scattered.
                if let Some(&ahead) = tokens.get(i + PREFETCH_AHEAD) {
                    ints.prefetch(ahead);
                }
                *items.add(i) = ints.get(py, t)?;
            }
        } else {
            for (i, &t) in tokens.iter().enumerate() {
                let obj = ints.get(py, t)?;
                if ffi::PyList_SetItem(list.as_ptr(), i as ffi::Py_ssize_t, obj) != 0 {
                    return Err(PyErr::fetch(py));
                }
            }
        }
        Ok(list.cast_into_unchecked())
    }
}

/// The item array of a list, where the interpreter is known to lay lists out as CPython
/// 3.10 to 3.13 do (the array pointer right after the variable-size object header), which one
/// real list is checked against once; None elsewhere, and PyList_SetItem is used. Storing
/// straight into the array skips a call and its checks per token (about a tenth of an
/// encode of English prose).
///
/// # Safety
/// `list` must be a live list object, and the GIL held.
unsafe fn item_array(py: Python<'_>, list: *mut ffi::PyObject) -> Option<*mut *mut ffi::PyObject> {
    static CHECKED: OnceLock<bool> = OnceLock::new();
    const OFFSET: usize = std::mem::size_of::<ffi::PyVarObject>();
    let known = *CHECKED.get_or_init(|| {
        // A one-item list holding a known object: its array must hold that object.
        let probe = ffi::PyList_New(1);
        if probe.is_null() {
            PyErr::fetch(py);
            return false;
        }
        let marker = ffi::Py_None();
        ffi::Py_IncRef(marker);
        ffi::PyList_SetItem(probe, 0, marker);
        let array = *((probe as *const u8).add(OFFSET) as *const *const *mut ffi::PyObject);
        let ok = !array.is_null() && *array == marker && ffi::PyList_Size(probe) == 1;
        ffi::Py_DecRef(probe);
        ok
    });
    known.then(|| *((list as *const u8).add(OFFSET) as *const *mut *mut ffi::PyObject))
}
