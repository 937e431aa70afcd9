//! `CoreEncoding`: the Rust side of `devsynth.tokens.Encoding`.

use std::collections::HashSet;

use pyo3::exceptions::{PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use pyo3::IntoPyObjectExt;

use super::batch::{encode_flat, encode_lists};
use super::ints::{token_list, token_list_parts};
use super::{count_of, par_map, run_detached, text_of, ThreadCount};
use crate::encoding::{Encoding, Specials};
use crate::handle::EncodingHandle;
use crate::threads::{self, Split};
use crate::vocab::Rank;

/// A call's special-token rules, prepared once (see `CoreEncoding.prepare_specials`).
#[pyclass(module = "devsynth._core", frozen, name = "Specials")]
pub struct PySpecials(pub(crate) Specials);

/// The Rust side of `devsynth.tokens.Encoding`.
#[pyclass(module = "devsynth._core", frozen)]
pub struct CoreEncoding(EncodingHandle);

impl CoreEncoding {
    pub(crate) fn enc(&self) -> &Encoding {
        &self.0
    }

    /// A handle on the encoding, for what outlives a call.
    pub(crate) fn handle(&self) -> EncodingHandle {
        self.0.clone()
    }

    /// The bytes of a token, or a KeyError naming it.
    fn token_bytes(&self, token: i64) -> PyResult<&[u8]> {
        Rank::try_from(token)
            .ok()
            .and_then(|r| self.enc().token_bytes(r))
            .ok_or_else(|| PyKeyError::new_err(token.to_string()))
    }
}

#[pymethods]
impl CoreEncoding {
    /// A built-in encoding by name.
    #[staticmethod]
    fn builtin(py: Python<'_>, name: &str) -> PyResult<Self> {
        Ok(CoreEncoding(run_detached(py, || {
            EncodingHandle::builtin(name)
        })??))
    }

    /// An encoding from tiktoken-style parts.
    #[staticmethod]
    #[pyo3(signature = (name, pat_str, mergeable_ranks, special_tokens, explicit_n_vocab=None))]
    fn custom(
        py: Python<'_>,
        name: &str,
        pat_str: &str,
        mergeable_ranks: &Bound<'_, PyDict>,
        special_tokens: &Bound<'_, PyDict>,
        explicit_n_vocab: Option<usize>,
    ) -> PyResult<Self> {
        let mut ranks = Vec::with_capacity(mergeable_ranks.len());
        for (k, v) in mergeable_ranks.iter() {
            let bytes = k
                .cast::<PyBytes>()
                .map_err(|_| PyTypeError::new_err("mergeable_ranks keys must be bytes"))?;
            ranks.push((bytes.as_bytes().to_vec(), v.extract::<Rank>()?));
        }
        let specials = special_tokens
            .iter()
            .map(|(k, v)| Ok((k.extract()?, v.extract()?)));
        let specials = specials.collect::<PyResult<Vec<(String, Rank)>>>()?;
        let handle = run_detached(py, || {
            EncodingHandle::custom(name, pat_str, ranks, specials, explicit_n_vocab)
        })??;
        Ok(CoreEncoding(handle))
    }

    /// (name, pattern, max_token_value, is_builtin, special tokens in their order).
    #[allow(clippy::type_complexity)]
    fn describe(&self) -> (&str, &str, Rank, bool, Vec<(String, Rank)>) {
        let enc = self.enc();
        let specials = enc.specials().to_vec();
        (
            &enc.name,
            &enc.pattern,
            enc.max_token_value(),
            self.0.is_builtin(),
            specials,
        )
    }

    /// Prepares `allowed_special` and `disallowed_special` (None: "all") for calls.
    fn prepare_specials(
        &self,
        allowed: Option<HashSet<String>>,
        disallowed: Option<HashSet<String>>,
    ) -> PySpecials {
        let list = |set: HashSet<String>| set.into_iter().collect();
        PySpecials(
            self.enc()
                .prepare_specials(allowed.map(list), disallowed.map(list)),
        )
    }

    /// The tokens of one text; with `num_threads`, a long text is split across that many
    /// threads (see `Specials::parts`).
    #[pyo3(signature = (text, specials, num_threads=None))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &Bound<'_, PyAny>,
        specials: &PySpecials,
        num_threads: Option<ThreadCount>,
    ) -> PyResult<Bound<'py, PyList>> {
        let (text, enc, threads) = (text_of(text)?, self.enc(), count_of(num_threads));
        let parts = specials.0.parts(text.len(), threads);
        let Some(pool) = threads::pool_for_parts(parts, threads)? else {
            let tokens = run_detached(py, || enc.encode_with(&text, &specials.0))??;
            return token_list(py, enc, &tokens);
        };
        // The pool both encodes the parts and fills the list (see `token_list_parts`).
        let split = Split { pool: &pool, parts };
        let encode = || enc.encode_parts_with(&text, &specials.0, Some(split));
        let tokens = run_detached(py, encode)??;
        token_list_parts(py, enc, &tokens, &pool)
    }

    /// The number of tokens `encode` gives.
    #[pyo3(signature = (text, specials, num_threads=None))]
    fn count(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        specials: &PySpecials,
        num_threads: Option<ThreadCount>,
    ) -> PyResult<usize> {
        let (text, enc, threads) = (text_of(text)?, self.enc(), count_of(num_threads));
        let parts = specials.0.parts(text.len(), threads);
        let pool = threads::pool_for_parts(parts, threads)?;
        let split = pool.as_deref().map(|pool| Split { pool, parts });
        Ok(run_detached(py, || {
            enc.count_with(&text, &specials.0, split)
        })??)
    }

    /// `encode` of each text on Rust threads: a list of token lists, or with `flat` the lists
    /// laid end to end as two bytearrays (ids as little-endian u32, offsets as little-endian
    /// u64, one more than the texts), with no Python object per token.
    #[pyo3(signature = (texts, specials, num_threads=None, flat=false))]
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'_, PyAny>,
        specials: &PySpecials,
        num_threads: Option<ThreadCount>,
        flat: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let enc = self.enc();
        if !flat {
            return Ok(encode_lists(py, enc, num_threads, texts, &specials.0)?.into_any());
        }
        encode_flat(py, enc, num_threads, texts, &specials.0)?.into_bound_py_any(py)
    }

    /// `count` of each text, on Rust threads.
    #[pyo3(signature = (texts, specials, num_threads=None))]
    fn count_batch(
        &self,
        py: Python<'_>,
        texts: &Bound<'_, PyAny>,
        specials: &PySpecials,
        num_threads: Option<ThreadCount>,
    ) -> PyResult<Vec<usize>> {
        let enc = self.enc();
        let counts = par_map(py, num_threads, texts, |t| {
            enc.count_with(t, &specials.0, None)
        });
        Ok(counts?.into_iter().collect::<Result<_, _>>()?)
    }

    fn decode_bytes<'py>(
        &self,
        py: Python<'py>,
        tokens: Vec<i64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = run_detached(py, || self.enc().decode_bytes(&tokens))??;
        Ok(PyBytes::new(py, &bytes))
    }

    fn decode_tokens_bytes<'py>(
        &self,
        py: Python<'py>,
        tokens: Vec<i64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let bytes = tokens
            .iter()
            .map(|&t| Ok(PyBytes::new(py, self.token_bytes(t)?)));
        PyList::new(py, bytes.collect::<PyResult<Vec<_>>>()?)
    }

    fn encode_single_token(&self, piece: &[u8]) -> PyResult<Rank> {
        self.enc()
            .encode_single_token(piece)
            .ok_or_else(|| PyKeyError::new_err(piece.to_vec()))
    }

    fn encode_single_piece(&self, py: Python<'_>, piece: &[u8]) -> PyResult<Vec<Rank>> {
        Ok(run_detached(py, || self.enc().encode_single_piece(piece))??)
    }

    fn token_byte_values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let values = self.enc().token_byte_values();
        PyList::new(py, values.into_iter().map(|b| PyBytes::new(py, b)))
    }

    /// The ordinary tokens as a dict of bytes to rank, as tiktoken's `_mergeable_ranks`.
    fn mergeable_ranks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (bytes, rank) in self.enc().vocab().iter() {
            d.set_item(PyBytes::new(py, bytes), rank)?;
        }
        Ok(d)
    }
}
