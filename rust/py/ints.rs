//! Python ints for the token ids of the built-in encodings, made once per id and shared: a
//! token list is then built by reference counting, not by allocating an int per token (which
//! would cost about as much as the encoding itself).

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

    /// A borrowed reference to the int of `token`.
    fn get(&self, py: Python<'_>, token: Rank) -> PyResult<*mut ffi::PyObject> {
        let slot = &self.slots[token as usize];
        let existing = slot.load(Ordering::Acquire);
        if !existing.is_null() {
            return Ok(existing);
        }
        // SAFETY: attached to the interpreter (`py`); a null result means an exception is set.
        let made = unsafe { ffi::PyLong_FromUnsignedLong(token as c_ulong) };
        if made.is_null() {
            return Err(PyErr::fetch(py));
        }
        match slot.compare_exchange(null_mut(), made, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Ok(made),
            Err(winner) => {
                // SAFETY: `made` is our own new reference, never shared.
                unsafe { ffi::Py_DecRef(made) };
                Ok(winner)
            }
        }
    }
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
    // set); each slot is filled exactly once with a new reference, which PyList_SetItem steals.
    unsafe {
        let list = ffi::PyList_New(tokens.len() as ffi::Py_ssize_t);
        let list = Bound::from_owned_ptr_or_err(py, list)?;
        for (i, &t) in tokens.iter().enumerate() {
            let obj = ints.get(py, t)?;
            ffi::Py_IncRef(obj);
            if ffi::PyList_SetItem(list.as_ptr(), i as ffi::Py_ssize_t, obj) != 0 {
                return Err(PyErr::fetch(py));
            }
        }
        Ok(list.cast_into_unchecked())
    }
}

/// A Python list of token lists.
pub(crate) fn token_lists<'py>(
    py: Python<'py>,
    enc: &Encoding,
    batches: &[Vec<Rank>],
) -> PyResult<Bound<'py, PyList>> {
    let lists = batches
        .iter()
        .map(|tokens| token_list(py, enc, tokens))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, lists)
}
