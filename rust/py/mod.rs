//! Python bindings: type conversion, the GIL released around Rust work, errors mapped to Python
//! exceptions. No algorithm lives here; each submodule binds one part of the core.

mod batch;
mod bulk;
mod chat;
mod embed;
mod encoding;
mod ints;

use std::borrow::Cow;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};

use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::builtin;
use crate::encoding::{EncodeError, InvalidToken};

/// Runs Rust work with the GIL released; a panic (a bug) becomes a RuntimeError, never an abort
/// or a PanicException.
pub(crate) fn run_detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    py.detach(|| catch_unwind(AssertUnwindSafe(f)))
        .map_err(|_| {
            PyRuntimeError::new_err("internal error in the devsynth core (a bug: please report it)")
        })
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

/// Rayon pools by thread count: building one costs a few threads, so keep them.
pub(crate) fn pool(threads: Option<usize>) -> PyResult<Option<Arc<rayon::ThreadPool>>> {
    let Some(n) = threads else { return Ok(None) };
    if n == 0 {
        return Err(PyValueError::new_err("num_threads must be at least 1"));
    }
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(p) = pools.get(&n) {
        return Ok(Some(p.clone()));
    }
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start {n} threads: {e}")))?,
    );
    pools.insert(n, p.clone());
    Ok(Some(p))
}

/// Maps `f` over texts on Rust threads, keeping order.
pub(crate) fn par_map<T: Send>(
    threads: Option<usize>,
    texts: &[Cow<'_, str>],
    f: impl Fn(&str) -> T + Sync + Send,
) -> PyResult<Vec<T>> {
    use rayon::prelude::*;
    let run = || texts.par_iter().map(|t| f(t)).collect::<Vec<T>>();
    if texts.len() < 2 || threads == Some(1) {
        return Ok(texts.iter().map(|t| f(t)).collect());
    }
    Ok(match pool(threads)? {
        Some(p) => p.install(run),
        None => run(),
    })
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
    m.add_function(wrap_pyfunction!(chat::chat_message_texts, m)?)?;
    m.add_function(wrap_pyfunction!(chat::chat_message_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(chat::chat_prune, m)?)?;
    m.add_function(wrap_pyfunction!(embed::hash_embeddings, m)?)?;
    bulk::register(m)?;
    m.add(
        "BUILTIN_ENCODINGS",
        builtin::NAMES
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    )?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
