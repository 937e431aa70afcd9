//! Python bindings, one submodule per part of the core: they convert types, release the GIL
//! around Rust work and map Rust errors to Python exceptions. Algorithms and rules live in the
//! pure core (`cargo test` reaches them without Python).

mod batch;
mod bulk;
mod chat;
mod embed;
mod encoding;
mod ints;

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyString};

use crate::builtin;
use crate::encoding::{EncodeError, InvalidToken};
use crate::threads::{self, Cancel, Stopped, ThreadsError};

/// Runs Rust work with the GIL released; a panic (a bug) becomes a RuntimeError, never an abort
/// or a PanicException.
pub(crate) fn run_detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    py.detach(|| catch_unwind(AssertUnwindSafe(f)))
        .map_err(|_| internal_error())
}

pub(crate) fn encode_err(e: EncodeError) -> PyErr {
    match e {
        EncodeError::Disallowed(_) | EncodeError::MissingByte(_) => {
            PyValueError::new_err(e.to_string())
        }
        EncodeError::Pattern(_) => PyRuntimeError::new_err(e.to_string()),
    }
}

pub(crate) fn invalid_token(e: InvalidToken) -> PyErr {
    PyKeyError::new_err(format!("Invalid token for decoding: {}", e.0))
}

/// The UTF-8 of a Python str. Lone surrogates cannot be UTF-8: like tiktoken, pair them up
/// where they form a pair and replace the rest with U+FFFD.
pub(crate) fn text_of<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, str>> {
    let s = obj.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "expected str, got {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    match s.to_str() {
        Ok(t) => Ok(Cow::Borrowed(t)),
        Err(_) => {
            let fixed = s
                .call_method1("encode", ("utf-16", "surrogatepass"))?
                .call_method1("decode", ("utf-16", "replace"))?;
            Ok(Cow::Owned(fixed.cast::<PyString>()?.to_str()?.to_owned()))
        }
    }
}

pub(crate) fn texts_of<'a>(items: &'a [Bound<'_, PyAny>]) -> PyResult<Vec<Cow<'a, str>>> {
    items.iter().map(text_of).collect()
}

pub(crate) fn items_of<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "expected a list of str, got a single str",
        ));
    }
    obj.try_iter()?.collect()
}

/// A `num_threads` argument: an int from 1 to [`threads::MAX_THREADS`] (`None`, one per core,
/// is the `Option` around it). Anything else gets a clear error, negative numbers and huge ones
/// included.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ThreadCount(pub usize);

impl<'a, 'py> FromPyObject<'a, 'py> for ThreadCount {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        bounded_int(
            &obj,
            "num_threads",
            threads::MAX_THREADS,
            "leave it unset for one thread per core",
        )
        .map(ThreadCount)
    }
}

/// A positive int argument up to `max`, with errors that name it: TypeError for a non-int,
/// ValueError out of range (the Python int is shown as given, however large).
pub(crate) fn bounded_int(
    obj: &Bound<'_, PyAny>,
    name: &str,
    max: usize,
    hint: &str,
) -> PyResult<usize> {
    if !obj.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int, got {}",
            type_name(obj)
        )));
    }
    match obj.extract::<i64>() {
        Ok(n) if n >= 1 && n as u64 <= max as u64 => Ok(n as usize),
        _ => Err(PyValueError::new_err(format!(
            "{name} must be between 1 and {max}, got {} ({hint})",
            obj.str().map(|s| s.to_string()).unwrap_or_default()
        ))),
    }
}

fn threads_err(e: ThreadsError) -> PyErr {
    match e {
        ThreadsError::Spawn(_) => PyRuntimeError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// The kept pool for a thread count (`None`: one thread per core).
pub(crate) fn pool(threads: Option<ThreadCount>) -> PyResult<Arc<rayon::ThreadPool>> {
    threads::pool(threads.map(|t| t.0)).map_err(threads_err)
}

/// Runs `work` on the pool for `threads` with the GIL released, while this thread checks for
/// Python signals between waits: Ctrl-C sets the work's `Cancel` and raises KeyboardInterrupt
/// once the work has stopped. A panic becomes a RuntimeError.
pub(crate) fn run_parallel<T: Send>(
    py: Python<'_>,
    threads: Option<ThreadCount>,
    work: impl FnOnce(&Cancel) -> T + Send,
) -> PyResult<T> {
    run_parallel_with(py, threads, work, |_| Ok(()))
}

/// `run_parallel`, with `watch` also called with the GIL at each check (to report progress):
/// an error from it stops the work as Ctrl-C does.
pub(crate) fn run_parallel_with<T: Send>(
    py: Python<'_>,
    threads: Option<ThreadCount>,
    work: impl FnOnce(&Cancel) -> T + Send,
    mut watch: impl FnMut(Python<'_>) -> PyResult<()> + Send,
) -> PyResult<T> {
    let pool = pool(threads)?;
    py.detach(|| {
        threads::run_watched(&pool, work, || {
            Python::attach(|py| watch(py).and_then(|()| py.check_signals()))
        })
    })
    .map_err(|stopped| match stopped {
        Stopped::Watcher(e) => e,
        Stopped::Panicked => internal_error(),
    })
}

/// Runs one sequential task on a thread of its own, the GIL released, stopped by Ctrl-C as
/// `run_parallel` work is.
pub(crate) fn run_alone<T: Send>(
    py: Python<'_>,
    work: impl FnOnce(&Cancel) -> T + Send,
) -> PyResult<T> {
    py.detach(|| threads::run_watched_alone(work, || Python::attach(|py| py.check_signals())))
        .map_err(|stopped| match stopped {
            Stopped::Watcher(e) => e,
            Stopped::Panicked => internal_error(),
        })
}

/// Maps `f` over texts on Rust threads, keeping order; Ctrl-C stops it between texts.
pub(crate) fn par_map<T: Send>(
    py: Python<'_>,
    threads: Option<ThreadCount>,
    texts: &[Cow<'_, str>],
    f: impl Fn(&str) -> T + Sync + Send,
) -> PyResult<Vec<T>> {
    if texts.len() < 2 {
        return run_detached(py, || texts.iter().map(|t| f(t)).collect());
    }
    // `None` only when cancelled, and then run_parallel has raised.
    run_parallel(py, threads, |cancel| {
        threads::par_map(texts, cancel, |t| f(t))
    })?
    .ok_or_else(internal_error)
}

pub(crate) fn internal_error() -> PyErr {
    PyRuntimeError::new_err("internal error in the devsynth core (a bug: please report it)")
}

/// The name of an object's type, for error messages.
pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

#[pymodule]
#[pyo3(name = "_core")]
pub fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<encoding::CoreEncoding>()?;
    m.add_class::<encoding::SpecialTokenSet>()?;
    m.add_function(wrap_pyfunction!(embed::hash_embedding, m)?)?;
    m.add_function(wrap_pyfunction!(embed::hash_embeddings, m)?)?;
    chat::register(m)?;
    bulk::register(m)?;
    m.add(
        "BUILTIN_ENCODINGS",
        builtin::NAMES
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    )?;
    m.add("MAX_THREADS", threads::MAX_THREADS)?;
    m.add("MAX_DIMENSIONS", crate::embed::MAX_DIMENSIONS)?;
    m.add("RANK_FILES", builtin::RANK_FILES.to_vec())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
