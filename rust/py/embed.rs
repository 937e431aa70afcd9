//! Hash embeddings.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::{items_of, par_map, run_detached, text_of, texts_of};
use crate::embed;

/// Hash embedding of a text (see rust/embed.rs).
#[pyfunction]
#[pyo3(signature = (text, dimensions=embed::DEFAULT_DIMENSIONS))]
pub(crate) fn hash_embedding(
    py: Python<'_>,
    text: &Bound<'_, PyAny>,
    dimensions: usize,
) -> PyResult<Vec<f32>> {
    let text = text_of(text)?;
    run_detached(py, || embed::hash_embedding(&text, dimensions))?
        .map_err(|_| PyValueError::new_err("dimensions must be at least 1"))
}

/// Hash embeddings of many texts, on Rust threads.
#[pyfunction]
#[pyo3(signature = (texts, dimensions=embed::DEFAULT_DIMENSIONS, num_threads=None))]
pub(crate) fn hash_embeddings(
    py: Python<'_>,
    texts: &Bound<'_, PyAny>,
    dimensions: usize,
    num_threads: Option<usize>,
) -> PyResult<Vec<Vec<f32>>> {
    let items = items_of(texts)?;
    let texts = texts_of(&items)?;
    run_detached(py, || {
        par_map(num_threads, &texts, |t| {
            embed::hash_embedding(t, dimensions)
        })
    })??
    .into_iter()
    .collect::<Result<_, _>>()
    .map_err(|_| PyValueError::new_err("dimensions must be at least 1"))
}
