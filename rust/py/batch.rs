//! Batches of token lists: the core's pipeline (`threads::run_pipelined`) encodes chunks of the
//! batch on Rust threads while the calling thread, taking the GIL for each finished chunk, turns
//! it into Python lists. Building the lists is work only one thread can do; this way it
//! overlaps the encoding instead of following it. Between chunks the calling thread checks for
//! Python signals (see `watched`): Ctrl-C stops the tasks between texts.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::ints::token_list;
use super::{count_of, items_of, run_detached, texts_of, watched, ThreadCount};
use crate::encoding::{EncodeError, Encoding};
use crate::threads;
use crate::vocab::Rank;

/// Texts per task: enough to amortise a task, few enough to keep both sides busy.
const TEXTS_PER_TASK: usize = 16;

/// `encode` of each text, as a Python list of token lists, in order.
pub(crate) fn encode_lists<'py>(
    py: Python<'py>,
    enc: &Encoding,
    threads: Option<ThreadCount>,
    texts: &Bound<'_, PyAny>,
    encode: impl Fn(&str) -> Result<Vec<Rank>, EncodeError> + Sync,
) -> PyResult<Bound<'py, PyList>> {
    let items = items_of(texts)?;
    let texts = texts_of(&items)?;
    // SAFETY: a new list of `n` empty slots (or null with an exception set); every slot is
    // filled by `fill` with a new reference, which PyList_SetItem steals. A list dropped with
    // some slots still empty is valid (its deallocation skips them).
    let list = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyList_New(texts.len() as _))? };
    if texts.len() <= TEXTS_PER_TASK {
        // One task: encoded with the GIL released, then the lists built, with no hand-over.
        let lists = run_detached(py, || {
            texts
                .iter()
                .map(|t| encode(t))
                .collect::<Result<Vec<_>, _>>()
        });
        fill(py, enc, &list, 0, &lists??)?;
    } else {
        let slots = list.clone().unbind();
        watched(py, |signals| {
            threads::run_pipelined(
                count_of(threads),
                &texts,
                TEXTS_PER_TASK,
                |t| encode(t).map_err(PyErr::from),
                |start, lists| Python::attach(|py| fill(py, enc, slots.bind(py), start, &lists)),
                signals,
            )
        })?;
    }
    // SAFETY: every slot was filled (no failure means every task delivered its lists).
    Ok(unsafe { list.cast_into_unchecked() })
}

/// Puts the token lists of texts `start..` into their slots of `list`.
fn fill(
    py: Python<'_>,
    enc: &Encoding,
    list: &Bound<'_, PyAny>,
    start: usize,
    lists: &[Vec<Rank>],
) -> PyResult<()> {
    for (j, tokens) in lists.iter().enumerate() {
        let item = token_list(py, enc, tokens)?;
        // SAFETY: index in range, slot empty, and the reference is new (stolen).
        unsafe {
            ffi::PyList_SetItem(
                list.as_ptr(),
                (start + j) as ffi::Py_ssize_t,
                item.into_ptr(),
            );
        }
    }
    Ok(())
}
