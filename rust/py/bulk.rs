//! Bulk counting bindings: directory walks, files counted on Rust threads with progress and
//! Ctrl-C, streams fed from Python, and string columns (in `bulk/columns.rs`).

mod columns;

use std::ffi::OsString;
use std::ops::Deref;
use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::encoding::CoreEncoding;
use super::{pool, run_alone, run_detached, run_parallel_with, ThreadCount};
use crate::bulk::files::{self, FileError, FileOptions, Progress, DEFAULT_BLOCK_BYTES};
use crate::bulk::stream::{
    self, Counted, StreamError, StreamOptions, Undecodable, DEFAULT_CHUNK_BYTES,
};
use crate::bulk::walk::{self, Found, WalkOptions};
use crate::encoding::Encoding;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(walk_paths, m)?)?;
    m.add_function(wrap_pyfunction!(count_files, m)?)?;
    m.add_class::<StreamCounter>()?;
    m.add_function(wrap_pyfunction!(columns::count_arrow, m)?)?;
    m.add_function(wrap_pyfunction!(columns::count_numpy_str, m)?)?;
    m.add_function(wrap_pyfunction!(columns::count_objects, m)?)?;
    m.add("DEFAULT_CHUNK_BYTES", DEFAULT_CHUNK_BYTES)?;
    m.add("DEFAULT_BLOCK_BYTES", DEFAULT_BLOCK_BYTES)?;
    Ok(())
}

/// One file's result as Python sees it: (status, tokens, bytes, message), status one of
/// "ok", "binary", "undecodable", "unreadable", "failed".
type FileRow = (&'static str, u64, u64, String);

fn row(result: Result<Counted, FileError>) -> FileRow {
    match result {
        Ok(c) => ("ok", c.tokens, c.bytes, String::new()),
        Err(FileError::Skipped(e @ StreamError::Binary)) => ("binary", 0, 0, e.to_string()),
        Err(FileError::Skipped(e @ StreamError::Undecodable { .. })) => {
            ("undecodable", 0, 0, e.to_string())
        }
        Err(FileError::Skipped(StreamError::Encode(e))) => ("failed", 0, 0, e.to_string()),
        Err(FileError::Unreadable(m)) => ("unreadable", 0, 0, m),
        Err(FileError::Failed(m)) => ("failed", 0, 0, m),
        Err(FileError::Cancelled) => ("cancelled", 0, 0, "cancelled".into()),
    }
}

fn undecodable_mode(name: &str) -> PyResult<Undecodable> {
    match name {
        "replace" => Ok(Undecodable::Replace),
        "skip" => Ok(Undecodable::Refuse),
        _ => Err(PyValueError::new_err(format!(
            "undecodable must be 'replace' or 'skip', got {name:?}"
        ))),
    }
}

fn stream_options(
    undecodable: &str,
    skip_binary: bool,
    chunk_bytes: usize,
) -> PyResult<StreamOptions> {
    if chunk_bytes == 0 {
        return Err(PyValueError::new_err("chunk_bytes must be at least 1"));
    }
    Ok(StreamOptions {
        chunk_bytes,
        undecodable: undecodable_mode(undecodable)?,
        skip_binary,
        parallel: true,
    })
}

/// The files under `roots` (directories walked in name order), the paths that could not be
/// walked, and the special files skipped: ([(path, size)], [(path, message)], [(path, what)]).
/// Ctrl-C stops the walk.
#[pyfunction]
#[pyo3(signature = (roots, include=Vec::new(), exclude=Vec::new(), hidden=false))]
#[allow(clippy::type_complexity)]
fn walk_paths(
    py: Python<'_>,
    roots: Vec<PathBuf>,
    include: Vec<String>,
    exclude: Vec<String>,
    hidden: bool,
) -> PyResult<(
    Vec<(OsString, u64)>,
    Vec<(OsString, String)>,
    Vec<(OsString, String)>,
)> {
    let opts = WalkOptions {
        include,
        exclude,
        hidden,
    };
    let walked = run_alone(py, |cancel| walk::walk(&roots, &opts, cancel))?
        .map_err(PyValueError::new_err)?;
    let pairs = |problems: Vec<walk::Problem>| {
        problems
            .into_iter()
            .map(|p| (p.path.into_os_string(), p.message))
            .collect()
    };
    Ok((
        walked
            .files
            .into_iter()
            .map(|f| (f.path.into_os_string(), f.size))
            .collect(),
        pairs(walked.problems),
        pairs(walked.skipped),
    ))
}

/// Counts files on Rust threads, the GIL released: one (status, tokens, bytes, message) per
/// path, in order. `progress(files_done, bytes_read)` is called from this thread about ten
/// times a second while the threads work; an exception from it, or Ctrl-C, stops the run.
#[pyfunction]
#[pyo3(signature = (
    encoding, paths, sizes=None, *, undecodable="replace", skip_binary=true,
    chunk_bytes=DEFAULT_CHUNK_BYTES, block_bytes=DEFAULT_BLOCK_BYTES, num_threads=None,
    progress=None,
))]
#[allow(clippy::too_many_arguments)]
fn count_files(
    py: Python<'_>,
    encoding: &CoreEncoding,
    paths: Vec<PathBuf>,
    sizes: Option<Vec<u64>>,
    undecodable: &str,
    skip_binary: bool,
    chunk_bytes: usize,
    block_bytes: usize,
    num_threads: Option<ThreadCount>,
    progress: Option<Bound<'_, PyAny>>,
) -> PyResult<Vec<FileRow>> {
    if sizes.as_ref().is_some_and(|s| s.len() != paths.len()) {
        return Err(PyValueError::new_err("sizes must have one entry per path"));
    }
    let opts = FileOptions {
        stream: stream_options(undecodable, skip_binary, chunk_bytes)?,
        block_bytes: block_bytes.max(1),
    };
    let found: Vec<Found> = match sizes {
        Some(sizes) => paths
            .into_iter()
            .zip(sizes)
            .map(|(path, size)| Found { path, size })
            .collect(),
        None => paths
            .into_iter()
            .map(|path| {
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                Found { path, size }
            })
            .collect(),
    };
    let enc = encoding.enc();
    let state = Progress::default();
    let progress = progress.map(Bound::unbind);
    let report = |py: Python<'_>| match &progress {
        Some(cb) => cb.bind(py).call1((state.files(), state.bytes())).map(drop),
        None => Ok(()),
    };
    let results = run_parallel_with(
        py,
        num_threads,
        |_| files::count_files(enc, &found, &opts, &state),
        // A failed report or Ctrl-C stops the files' threads (reading a pipe included).
        |py| {
            report(py)
                .and_then(|()| py.check_signals())
                .inspect_err(|_| state.cancel())
        },
    )?;
    report(py)?;
    Ok(results.into_iter().map(row).collect())
}

/// The encoding of a `CoreEncoding`, held by a counter that outlives any one call.
struct Held(Py<CoreEncoding>);

impl Deref for Held {
    type Target = Encoding;

    fn deref(&self) -> &Encoding {
        self.0.get().enc()
    }
}

/// Counts a stream fed in pieces of any size, in bounded memory, with the chunked counting of
/// `count_files`: `feed(data)` as bytes come (False once the stream is refused: binary, or
/// not UTF-8 with undecodable="skip"), then `finish()` gives (status, tokens, bytes, message).
#[pyclass(module = "devsynth._core")]
pub struct StreamCounter {
    inner: Option<stream::StreamCounter<Held>>,
    failed: Option<StreamError>,
    fed: u64,
}

#[pymethods]
impl StreamCounter {
    #[new]
    #[pyo3(signature = (encoding, *, undecodable="replace", skip_binary=true, chunk_bytes=DEFAULT_CHUNK_BYTES))]
    fn new(
        encoding: Py<CoreEncoding>,
        undecodable: &str,
        skip_binary: bool,
        chunk_bytes: usize,
    ) -> PyResult<Self> {
        let opts = stream_options(undecodable, skip_binary, chunk_bytes)?;
        Ok(StreamCounter {
            inner: Some(stream::StreamCounter::new(Held(encoding), opts)),
            failed: None,
            fed: 0,
        })
    }

    /// Feeds the next bytes; False once the stream has been refused (the rest is not needed).
    fn feed(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<bool> {
        let Some(inner) = self.inner.as_mut() else {
            if self.failed.is_some() {
                return Ok(false);
            }
            return Err(PyValueError::new_err("the stream is finished"));
        };
        self.fed += data.len() as u64;
        // Chunks ready together are counted on the default pool (never Rayon's global one,
        // which a forked child could not use).
        let pool = pool(None)?;
        if let Err(e) = run_detached(py, || pool.install(|| inner.feed(data)))? {
            self.failed = Some(e);
            self.inner = None;
            return Ok(false);
        }
        Ok(true)
    }

    /// Ends the stream: (status, tokens, bytes, message) as `count_files` gives them.
    fn finish(&mut self, py: Python<'_>) -> PyResult<FileRow> {
        if let Some(e) = self.failed.take() {
            return Ok(row(Err(e.into())));
        }
        let mut inner = self
            .inner
            .take()
            .ok_or_else(|| PyValueError::new_err("the stream is finished"))?;
        // Finished in place, and dropped here with the GIL held (it holds a Python reference).
        let pool = pool(None)?;
        let result = run_detached(py, || pool.install(|| inner.finish()))?;
        drop(inner);
        Ok(row(result.map_err(FileError::from)))
    }

    /// Bytes fed so far.
    #[getter]
    fn bytes_fed(&self) -> u64 {
        self.fed
    }
}
