//! Hash embeddings.

use pyo3::prelude::*;

use super::{bounded_int, par_map, ThreadCount};
use crate::embed;

/// Hash embeddings of texts (see rust/embed.rs), `dimensions` an int from 1 to
/// [`embed::MAX_DIMENSIONS`], on Rust threads; Ctrl-C stops them between texts.
#[pyfunction]
#[pyo3(signature = (texts, dimensions, num_threads=None))]
pub(crate) fn hash_embeddings(
    py: Python<'_>,
    texts: &Bound<'_, PyAny>,
    dimensions: &Bound<'_, PyAny>,
    num_threads: Option<ThreadCount>,
) -> PyResult<Vec<Vec<f32>>> {
    let hint = "embedding models use a few hundred to a few thousand";
    let dimensions = bounded_int(dimensions, "dimensions", embed::MAX_DIMENSIONS, hint)?;
    let embeddings = par_map(py, num_threads, texts, |t| {
        embed::hash_embedding(t, dimensions)
    })?;
    Ok(embeddings.into_iter().collect::<Result<_, _>>()?)
}
