//! Batches of token lists: Rust threads encode chunks of the batch while the calling thread,
//! holding the GIL, turns each finished chunk into Python lists. Building the lists is work
//! only one thread can do; this way it overlaps the encoding instead of following it. While it
//! waits, the calling thread checks for Python signals: Ctrl-C stops the tasks between texts.

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::ints::{token_list, token_lists};
use super::{encode_err, internal_error, pool, run_detached, ThreadCount};
use crate::encoding::{EncodeError, Encoding};
use crate::threads::{Cancel, WATCH_INTERVAL};
use crate::vocab::Rank;

/// Texts per task: enough to amortise a task, few enough to keep both sides busy.
const TEXTS_PER_TASK: usize = 16;

/// A task's token lists; `None` when it was cancelled.
type TaskResult = std::thread::Result<Result<Option<Vec<Vec<Rank>>>, EncodeError>>;

/// `encode` of each text, as a Python list of token lists, in order.
pub(crate) fn encode_lists<'py>(
    py: Python<'py>,
    enc: &Encoding,
    threads: Option<ThreadCount>,
    texts: &[Cow<'_, str>],
    encode: impl Fn(&str) -> Result<Vec<Rank>, EncodeError> + Sync,
) -> PyResult<Bound<'py, PyList>> {
    let n = texts.len();
    if n <= TEXTS_PER_TASK {
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
    let cancel = Cancel::new();
    let failure = pool(threads)?
        .in_place_scope(|s| fill_in_scope(s, py, enc, texts, encode, &list, &cancel))
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
    cancel: &'scope Cancel,
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
                    .map(|t| (!cancel.is_cancelled()).then(|| encode(t)).transpose())
                    .collect::<Result<Option<Vec<_>>, _>>()
            }));
            let _ = sender.send((k * TEXTS_PER_TASK, result));
        });
    }
    drop(sender);
    // Receiving waits with the GIL released; the receiver is behind a mutex only to be Sync.
    let receiver = Mutex::new(receiver);
    let mut failure: Option<PyErr> = None;
    let mut received_tasks = 0;
    let mut checked = Instant::now();
    while received_tasks < tasks {
        // Ctrl-C is looked for at least every WATCH_INTERVAL, busy or not.
        if failure.is_none() && checked.elapsed() >= WATCH_INTERVAL {
            checked = Instant::now();
            if let Err(e) = py.check_signals() {
                cancel.cancel();
                failure = Some(e);
            }
        }
        let received = py.detach(|| {
            receiver
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .recv_timeout(wait_for(&failure))
        });
        let (start, result) = match received {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        received_tasks += 1;
        match result {
            Ok(Ok(Some(lists))) if failure.is_none() => {
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
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => {
                failure.get_or_insert_with(internal_error);
            }
            Ok(Err(e)) => {
                failure.get_or_insert(encode_err(e));
            }
            Err(_) => {
                failure.get_or_insert_with(internal_error);
            }
        }
    }
    failure.map_or(Ok(()), Err)
}

/// How long to wait for the next task before checking for signals again; once the batch has
/// failed, only the remaining tasks' ends are awaited.
fn wait_for(failure: &Option<PyErr>) -> Duration {
    if failure.is_some() {
        Duration::from_secs(3600)
    } else {
        WATCH_INTERVAL
    }
}
