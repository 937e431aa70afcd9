//! Batches of token lists: Rust threads encode chunks of the batch while the calling thread,
//! holding the GIL, turns each finished chunk into Python lists. Building the lists is work
//! only one thread can do; this way it overlaps the encoding instead of following it.

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Mutex};

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::ints::{token_list, token_lists};
use super::{encode_err, pool, run_detached};
use crate::encoding::{EncodeError, Encoding};
use crate::vocab::Rank;

/// Texts per task: enough to amortise a task, few enough to keep both sides busy.
const TEXTS_PER_TASK: usize = 16;

type TaskResult = std::thread::Result<Result<Vec<Vec<Rank>>, EncodeError>>;

/// `encode` of each text, as a Python list of token lists, in order.
pub(crate) fn encode_lists<'py>(
    py: Python<'py>,
    enc: &Encoding,
    threads: Option<usize>,
    texts: &[Cow<'_, str>],
    encode: impl Fn(&str) -> Result<Vec<Rank>, EncodeError> + Sync,
) -> PyResult<Bound<'py, PyList>> {
    let n = texts.len();
    if n <= TEXTS_PER_TASK || threads == Some(1) {
        let all = run_detached(py, || {
            texts
                .iter()
                .map(|t| encode(t))
                .collect::<Result<Vec<_>, _>>()
        })?
        .map_err(encode_err)?;
        return token_lists(py, enc, &all);
    }
    // SAFETY: a new list of `n` empty slots (or null with an exception set); every slot is
    // filled below with a new reference, which PyList_SetItem steals. A list dropped with some
    // slots still empty is valid (its deallocation skips them).
    let list = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyList_New(n as ffi::Py_ssize_t))? };
    let encode = &encode;
    let failure = match pool(threads)? {
        Some(p) => p.in_place_scope(|s| fill_in_scope(s, py, enc, texts, encode, &list)),
        None => rayon::in_place_scope(|s| fill_in_scope(s, py, enc, texts, encode, &list)),
    }
    .err();
    match failure {
        Some(e) => Err(e),
        // SAFETY: every slot was filled (no failure means every task delivered its lists).
        None => Ok(unsafe { list.cast_into_unchecked() }),
    }
}

/// Spawns the encoding tasks on `scope` and, on this thread, fills `list` as they finish.
fn fill_in_scope<'scope, F>(
    scope: &rayon::Scope<'scope>,
    py: Python<'_>,
    enc: &Encoding,
    texts: &'scope [Cow<'_, str>],
    encode: &'scope F,
    list: &Bound<'_, PyAny>,
) -> PyResult<()>
where
    F: Fn(&str) -> Result<Vec<Rank>, EncodeError> + Sync,
{
    let (sender, receiver) = mpsc::channel::<(usize, TaskResult)>();
    let tasks = texts.chunks(TEXTS_PER_TASK).count();
    for (k, chunk) in texts.chunks(TEXTS_PER_TASK).enumerate() {
        let sender = sender.clone();
        scope.spawn(move |_| {
            let result = catch_unwind(AssertUnwindSafe(|| {
                chunk
                    .iter()
                    .map(|t| encode(t))
                    .collect::<Result<Vec<_>, _>>()
            }));
            let _ = sender.send((k * TEXTS_PER_TASK, result));
        });
    }
    drop(sender);
    // Receiving waits with the GIL released; the receiver is behind a mutex only to be Sync.
    let receiver = Mutex::new(receiver);
    let mut failure: Option<PyErr> = None;
    for _ in 0..tasks {
        let received = py.detach(|| receiver.lock().unwrap_or_else(|p| p.into_inner()).recv());
        let Ok((start, result)) = received else { break };
        match result {
            Ok(Ok(lists)) if failure.is_none() => {
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
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                failure.get_or_insert(encode_err(e));
            }
            Err(_) => {
                failure.get_or_insert(PyRuntimeError::new_err(
                    "internal error in the devsynth core (a bug: please report it)",
                ));
            }
        }
    }
    failure.map_or(Ok(()), Err)
}
