//! Hash embeddings.

use pyo3::prelude::*;

use super::{bounded_int, items_of, par_map, run_detached, text_of, texts_of, ThreadCount};
use crate::embed;

/// A `dimensions` argument: an int from 1 to [`embed::MAX_DIMENSIONS`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dimensions(usize);

impl<'a, 'py> FromPyObject<'a, 'py> for Dimensions {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let hint = "embedding models use a few hundred to a few thousand";
        bounded_int(&obj, "dimensions", embed::MAX_DIMENSIONS, hint).map(Dimensions)
    }
}

impl Default for Dimensions {
    fn default() -> Self {
        Dimensions(embed::DEFAULT_DIMENSIONS)
    }
}

/// Hash embedding of a text (see rust/embed.rs).
#[pyfunction]
#[pyo3(signature = (text, dimensions=Dimensions::default()))]
pub(crate) fn hash_embedding(
    py: Python<'_>,
    text: &Bound<'_, PyAny>,
    dimensions: Dimensions,
) -> PyResult<Vec<f32>> {
    let text = text_of(text)?;
    Ok(run_detached(py, || {
        embed::hash_embedding(&text, dimensions.0)
    })??)
}

/// Hash embeddings of many texts, on Rust threads; Ctrl-C stops them between texts.
#[pyfunction]
#[pyo3(signature = (texts, dimensions=Dimensions::default(), num_threads=None))]
pub(crate) fn hash_embeddings(
    py: Python<'_>,
    texts: &Bound<'_, PyAny>,
    dimensions: Dimensions,
    num_threads: Option<ThreadCount>,
) -> PyResult<Vec<Vec<f32>>> {
    let items = items_of(texts)?;
    let texts = texts_of(&items)?;
    let embeddings = par_map(py, num_threads, &texts, |t| {
        embed::hash_embedding(t, dimensions.0)
    })?;
    Ok(embeddings.into_iter().collect::<Result<_, _>>()?)
}
