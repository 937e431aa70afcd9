//! Python bindings, one submodule per part of the core: they convert types, release the GIL
//! around Rust work and map Rust errors to Python exceptions. Algorithms and rules live in the
//! pure core (`cargo test` reaches them without Python).

mod batch;
mod bulk;
mod chat;
mod embed;
mod encoding;
mod errors;
mod ints;
mod str_data;

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyString};

pub(crate) use errors::internal_error;

use crate::builtin;
use crate::threads::{self, Cancel, Stopped};

/// Runs Rust work with the GIL released; a panic (a bug) becomes a RuntimeError, never an abort
/// or a PanicException.
pub(crate) fn run_detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    py.detach(|| catch_unwind(AssertUnwindSafe(f)))
        .map_err(|_| internal_error())
}

/// The UTF-8 of a Python str. Lone surrogates cannot be UTF-8: like tiktoken, pair them up
/// where they form a pair and replace the rest with U+FFFD.
pub(crate) fn text_of<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, str>> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("expected str, got {}", type_name(obj))))?;
    if let Some(text) = str_data::utf8_of(s, TRANSCODE_FROM) {
        return Ok(Cow::Borrowed(text));
    }
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

/// Chars from which a non-ASCII str is encoded by us (see `str_data`) rather than by CPython:
/// below it, the calls cost about what they save.
const TRANSCODE_FROM: usize = 64;

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

/// The count the core takes: `None` for one thread per core.
pub(crate) fn count_of(threads: Option<ThreadCount>) -> Option<usize> {
    threads.map(|t| t.0)
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

/// Runs watched work of the core (`threads::run_watched` and the like) with the GIL released:
/// the watch it is given checks for Python signals, so Ctrl-C stops the work and raises
/// KeyboardInterrupt once it has stopped. A panic becomes a RuntimeError.
pub(crate) fn watched<T: Send>(
    py: Python<'_>,
    work: impl FnOnce(&mut (dyn FnMut() -> PyResult<()> + Send)) -> Result<T, Stopped<PyErr>> + Send,
) -> PyResult<T> {
    let mut watch = || Python::attach(|py| py.check_signals());
    Ok(run_detached(py, || work(&mut watch))??)
}

/// Runs `work` on the pool for `threads` (`None`: the default pool), watched (see `watched`).
pub(crate) fn run_parallel<T: Send>(
    py: Python<'_>,
    threads: Option<ThreadCount>,
    work: impl FnOnce(&Cancel) -> T + Send,
) -> PyResult<T> {
    let pool = threads::pool(count_of(threads))?;
    watched(py, |signals| threads::run_watched(&pool, work, signals))
}

/// Maps `f` over a list of str on Rust threads, keeping order; Ctrl-C stops it between texts.
pub(crate) fn par_map<T: Send>(
    py: Python<'_>,
    threads: Option<ThreadCount>,
    texts: &Bound<'_, PyAny>,
    f: impl Fn(&str) -> T + Sync + Send,
) -> PyResult<Vec<T>> {
    let items = items_of(texts)?;
    let texts = texts_of(&items)?;
    watched(py, |signals| {
        threads::map_watched(count_of(threads), &texts, |t| f(t), signals)
    })
}

/// The name of an object's type, for error messages.
pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// Whether a long non-ASCII str's UTF-8 is encoded here from its code points (see
/// `str_data`): for tests and for benchmarks that say which path they measured.
#[pyfunction]
fn reads_str_in_place(py: Python<'_>) -> bool {
    str_data::reads_in_place(py)
}

#[pymodule]
#[pyo3(name = "_core")]
pub fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<encoding::CoreEncoding>()?;
    m.add_class::<encoding::PySpecials>()?;
    m.add_function(wrap_pyfunction!(embed::hash_embeddings, m)?)?;
    m.add_function(wrap_pyfunction!(reads_str_in_place, m)?)?;
    chat::register(m)?;
    bulk::register(m)?;
    m.add("BUILTIN_ENCODINGS", builtin::NAMES.to_vec())?;
    m.add("MAX_THREADS", threads::MAX_THREADS)?;
    m.add("MAX_DIMENSIONS", crate::embed::MAX_DIMENSIONS)?;
    m.add("DEFAULT_DIMENSIONS", crate::embed::DEFAULT_DIMENSIONS)?;
    m.add("RANK_FILES", builtin::RANK_FILES.to_vec())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
