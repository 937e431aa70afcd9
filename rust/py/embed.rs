//! Hash embeddings.

use pyo3::prelude::*;

use super::{bounded_int, par_map, ThreadCount};
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

/// Hash embeddings of texts (see rust/embed.rs), on Rust threads; Ctrl-C stops them between
/// texts.
#[pyfunction]
#[pyo3(signature = (texts, dimensions=Dimensions::default(), num_threads=None))]
pub(crate) fn hash_embeddings(
    py: Python<'_>,
    texts: &Bound<'_, PyAny>,
    dimensions: Dimensions,
    num_threads: Option<ThreadCount>,
) -> PyResult<Vec<Vec<f32>>> {
    let embeddings = par_map(py, num_threads, texts, |t| {
        embed::hash_embedding(t, dimensions.0)
    })?;
    Ok(embeddings.into_iter().collect::<Result<_, _>>()?)
}
