//! Bulk counting bindings: directory walks, files counted on Rust threads with progress and
//! Ctrl-C, streams fed from Python, and string columns (in `bulk/columns.rs`).

mod columns;

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::encoding::CoreEncoding;
use super::{count_of, run_detached, watched, ThreadCount};
use crate::bulk::fed::FedStream;
use crate::bulk::files::{self, FileError, FileOptions, Row, DEFAULT_BLOCK_BYTES};
use crate::bulk::stream::{StreamOptions, DEFAULT_CHUNK_BYTES};
use crate::bulk::walk::{self, WalkOptions, WalkRows};
use crate::handle::EncodingHandle;
use crate::threads;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(walk_paths, m)?)?;
    m.add_function(wrap_pyfunction!(count_files, m)?)?;
    m.add_class::<StreamCounter>()?;
    m.add_function(wrap_pyfunction!(columns::count_column, m)?)?;
    m.add("DEFAULT_CHUNK_BYTES", DEFAULT_CHUNK_BYTES)?;
    m.add("DEFAULT_BLOCK_BYTES", DEFAULT_BLOCK_BYTES)?;
    Ok(())
}

/// The files under `roots` (directories walked in name order), the paths that could not be
/// walked, and the special files skipped: ([(path, size)], [(path, message)], [(path, what)]).
/// Ctrl-C stops the walk.
#[pyfunction]
#[pyo3(signature = (roots, include=Vec::new(), exclude=Vec::new(), hidden=false))]
fn walk_paths(
    py: Python<'_>,
    roots: Vec<PathBuf>,
    include: Vec<String>,
    exclude: Vec<String>,
    hidden: bool,
) -> PyResult<WalkRows> {
    let opts = WalkOptions {
        include,
        exclude,
        hidden,
    };
    let walk = |cancel: &_| walk::walk(&roots, &opts, cancel);
    let walked = watched(py, |signals| threads::run_watched_alone(walk, signals))?;
    Ok(walked.map_err(PyValueError::new_err)?.into_rows())
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
) -> PyResult<Vec<Row>> {
    let found = files::with_sizes(paths, sizes)?;
    let opts = FileOptions {
        stream: StreamOptions::checked(undecodable, skip_binary, chunk_bytes)?,
        block_bytes,
    };
    let (enc, progress) = (encoding.enc(), progress.map(Bound::unbind));
    let results = watched(py, |signals| {
        files::count_files_reported(count_of(num_threads), enc, &found, &opts, |n, bytes| {
            if let Some(cb) = &progress {
                Python::attach(|py| cb.bind(py).call1((n, bytes)).map(drop))?;
            }
            signals()
        })
    })?;
    Ok(results.into_iter().map(files::row).collect())
}

/// Counts a stream fed in pieces of any size, in bounded memory, with the chunked counting of
/// `count_files`: `feed(data)` as bytes come (False once the stream is refused: binary, or
/// not UTF-8 with undecodable="skip"), then `finish()` gives (status, tokens, bytes, message).
#[pyclass(module = "devsynth._core")]
pub struct StreamCounter(FedStream<EncodingHandle>);

#[pymethods]
impl StreamCounter {
    #[new]
    #[pyo3(signature = (encoding, *, undecodable="replace", skip_binary=true, chunk_bytes=DEFAULT_CHUNK_BYTES))]
    fn new(
        encoding: &CoreEncoding,
        undecodable: &str,
        skip_binary: bool,
        chunk_bytes: usize,
    ) -> PyResult<Self> {
        let opts = StreamOptions::checked(undecodable, skip_binary, chunk_bytes)?;
        Ok(StreamCounter(FedStream::new(encoding.handle(), opts)))
    }

    /// Feeds the next bytes; False once the stream has been refused (the rest is not needed).
    fn feed(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<bool> {
        Ok(on_default_pool(py, || self.0.feed(data))??)
    }

    /// Ends the stream: (status, tokens, bytes, message) as `count_files` gives them.
    fn finish(&mut self, py: Python<'_>) -> PyResult<Row> {
        let result = on_default_pool(py, || self.0.finish())??;
        Ok(files::row(result.map_err(FileError::from)))
    }

    /// Bytes fed so far.
    #[getter]
    fn bytes_fed(&self) -> u64 {
        self.0.bytes_fed()
    }
}

/// Runs `f` with the GIL released on the default pool, where chunks ready together are counted
/// (never Rayon's global pool, which a forked child could not use).
fn on_default_pool<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    let pool = threads::pool(None)?;
    run_detached(py, || pool.install(f))
}
