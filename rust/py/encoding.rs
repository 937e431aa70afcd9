//! `CoreEncoding`: the Rust side of `devsynth.tokens.Encoding`.

use pyo3::exceptions::{PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList};

use super::batch::encode_lists;
use super::ints::token_list;
use super::{count_of, items_of, par_map, run_detached, text_of, texts_of, ThreadCount};
use crate::encoding::{EncodeError, Encoding, FlatTokens, SpecialSet};
use crate::handle::EncodingHandle;
use crate::threads;
use crate::vocab::Rank;

/// Strings to look for in text (allowed special tokens, or strings to refuse), prepared once.
#[pyclass(module = "devsynth._core", frozen)]
pub struct SpecialTokenSet {
    pub(crate) inner: SpecialSet,
}

#[pymethods]
impl SpecialTokenSet {
    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

/// Token lists laid end to end, as two bytearrays (see `encode_ordinary_batch_flat`).
type FlatArrays<'py> = (Bound<'py, PyByteArray>, Bound<'py, PyByteArray>);

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

    /// `encode` with a call's special-token sets, as a function of one text.
    fn encoder<'a>(
        &'a self,
        allowed: &'a SpecialTokenSet,
        disallowed: Option<&'a SpecialTokenSet>,
    ) -> impl Fn(&str) -> Result<Vec<Rank>, EncodeError> + Send + Sync + 'a {
        let (enc, disallowed) = (self.enc(), disallowed.map(|d| &d.inner));
        move |t| enc.encode_checked(t, &allowed.inner, disallowed)
    }

    /// `count` with a call's special-token sets, as a function of one text.
    pub(crate) fn counter<'a>(
        &'a self,
        allowed: &'a SpecialTokenSet,
        disallowed: Option<&'a SpecialTokenSet>,
    ) -> impl Fn(&str) -> Result<usize, EncodeError> + Send + Sync + 'a {
        let (enc, disallowed) = (self.enc(), disallowed.map(|d| &d.inner));
        move |t| enc.count_checked(t, &allowed.inner, disallowed)
    }

    /// `f(encoding, text, parts)` for one text, with the GIL released: a long text is split
    /// across `threads` (see `threads::in_parts`).
    fn whole<T: Send>(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        threads: Option<ThreadCount>,
        f: impl FnOnce(&Encoding, &str, usize) -> Result<T, EncodeError> + Send,
    ) -> PyResult<T> {
        let (text, enc) = (text_of(text)?, self.enc());
        let len = text.len();
        let parts = |parts| f(enc, &text, parts);
        Ok(run_detached(py, || {
            threads::in_parts(len, count_of(threads), parts)
        })???)
    }

    /// `encode` of each text, as a list of token lists.
    fn encode_each<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'_, PyAny>,
        threads: Option<ThreadCount>,
        encode: impl Fn(&str) -> Result<Vec<Rank>, EncodeError> + Sync,
    ) -> PyResult<Bound<'py, PyList>> {
        let items = items_of(texts)?;
        encode_lists(py, self.enc(), threads, &texts_of(&items)?, encode)
    }

    /// `encode` of each text, laid end to end.
    fn encode_flat<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'_, PyAny>,
        threads: Option<ThreadCount>,
        encode: impl Fn(&str) -> Result<Vec<Rank>, EncodeError> + Send + Sync,
    ) -> PyResult<FlatArrays<'py>> {
        let items = items_of(texts)?;
        let flat = FlatTokens::from_results(par_map(py, threads, &texts_of(&items)?, encode)?)?;
        let (ids, offsets) = flat.le_bytes();
        Ok((PyByteArray::new(py, &ids), PyByteArray::new(py, &offsets)))
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

    #[getter]
    fn name(&self) -> &str {
        &self.enc().name
    }

    #[getter]
    fn pattern(&self) -> &str {
        &self.enc().pattern
    }

    #[getter]
    fn max_token_value(&self) -> Rank {
        self.enc().max_token_value()
    }

    #[getter]
    fn is_builtin(&self) -> bool {
        self.0.is_builtin()
    }

    /// Number of ordinary (mergeable) tokens.
    #[getter]
    fn mergeable_count(&self) -> usize {
        self.enc().vocab().len()
    }

    fn special_tokens(&self) -> Vec<(String, Rank)> {
        self.enc().specials().to_vec()
    }

    /// Prepares a set of strings for `allowed`/`disallowed` arguments.
    fn special_set(&self, strings: &Bound<'_, PyAny>) -> PyResult<SpecialTokenSet> {
        let strings = strings.try_iter()?.map(|s| s?.extract());
        let inner = self
            .enc()
            .special_set(strings.collect::<PyResult<Vec<String>>>()?);
        Ok(SpecialTokenSet { inner })
    }

    #[pyo3(signature = (text, num_threads=None))]
    fn encode_ordinary<'py>(
        &self,
        py: Python<'py>,
        text: &Bound<'_, PyAny>,
        num_threads: Option<ThreadCount>,
    ) -> PyResult<Bound<'py, PyList>> {
        let tokens = self.whole(py, text, num_threads, |enc, text, parts| {
            enc.encode_ordinary_parallel(text, None, parts)
        })?;
        token_list(py, self.enc(), &tokens)
    }

    /// encode() with the defaults: no special token allowed, all of them refused.
    #[pyo3(signature = (text, num_threads=None))]
    fn encode_default<'py>(
        &self,
        py: Python<'py>,
        text: &Bound<'_, PyAny>,
        num_threads: Option<ThreadCount>,
    ) -> PyResult<Bound<'py, PyList>> {
        let tokens = self.whole(py, text, num_threads, |enc, text, parts| {
            enc.encode_ordinary_parallel(text, Some(enc.all_specials()), parts)
        })?;
        token_list(py, self.enc(), &tokens)
    }

    /// encode_ordinary of each text, laid end to end: (ids as little-endian u32, offsets as
    /// little-endian u64, one more than the texts), with no Python object per token.
    #[pyo3(signature = (texts, num_threads=None))]
    fn encode_ordinary_batch_flat<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'_, PyAny>,
        num_threads: Option<ThreadCount>,
    ) -> PyResult<FlatArrays<'py>> {
        self.encode_flat(py, texts, num_threads, |t| self.enc().encode_ordinary(t))
    }

    /// encode of each text, laid end to end (see encode_ordinary_batch_flat).
    #[pyo3(signature = (texts, allowed, disallowed=None, num_threads=None))]
    fn encode_batch_flat<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'_, PyAny>,
        allowed: &SpecialTokenSet,
        disallowed: Option<&SpecialTokenSet>,
        num_threads: Option<ThreadCount>,
    ) -> PyResult<FlatArrays<'py>> {
        self.encode_flat(py, texts, num_threads, self.encoder(allowed, disallowed))
    }

    #[pyo3(signature = (text, allowed, disallowed=None))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &Bound<'_, PyAny>,
        allowed: &SpecialTokenSet,
        disallowed: Option<&SpecialTokenSet>,
    ) -> PyResult<Bound<'py, PyList>> {
        let text = text_of(text)?;
        let tokens = run_detached(py, || self.encoder(allowed, disallowed)(&text))??;
        token_list(py, self.enc(), &tokens)
    }

    #[pyo3(signature = (text, num_threads=None))]
    fn count_ordinary(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        num_threads: Option<ThreadCount>,
    ) -> PyResult<usize> {
        self.whole(py, text, num_threads, |enc, text, parts| {
            enc.count_ordinary_parallel(text, None, parts)
        })
    }

    #[pyo3(signature = (text, num_threads=None))]
    fn count_default(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        num_threads: Option<ThreadCount>,
    ) -> PyResult<usize> {
        self.whole(py, text, num_threads, |enc, text, parts| {
            enc.count_ordinary_parallel(text, Some(enc.all_specials()), parts)
        })
    }

    #[pyo3(signature = (text, allowed, disallowed=None))]
    fn count(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        allowed: &SpecialTokenSet,
        disallowed: Option<&SpecialTokenSet>,
    ) -> PyResult<usize> {
        let text = text_of(text)?;
        Ok(run_detached(py, || {
            self.counter(allowed, disallowed)(&text)
        })??)
    }

    #[pyo3(signature = (texts, num_threads=None))]
    fn encode_ordinary_batch<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'_, PyAny>,
        num_threads: Option<ThreadCount>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.encode_each(py, texts, num_threads, |t| self.enc().encode_ordinary(t))
    }

    #[pyo3(signature = (texts, allowed, disallowed=None, num_threads=None))]
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'_, PyAny>,
        allowed: &SpecialTokenSet,
        disallowed: Option<&SpecialTokenSet>,
        num_threads: Option<ThreadCount>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.encode_each(py, texts, num_threads, self.encoder(allowed, disallowed))
    }

    #[pyo3(signature = (texts, allowed, disallowed=None, num_threads=None))]
    fn count_batch(
        &self,
        py: Python<'_>,
        texts: &Bound<'_, PyAny>,
        allowed: &SpecialTokenSet,
        disallowed: Option<&SpecialTokenSet>,
        num_threads: Option<ThreadCount>,
    ) -> PyResult<Vec<usize>> {
        let items = items_of(texts)?;
        let counts = par_map(
            py,
            num_threads,
            &texts_of(&items)?,
            self.counter(allowed, disallowed),
        );
        Ok(counts?.into_iter().collect::<Result<_, _>>()?)
    }

    /// The first string of `strings` in `text`, or None: the disallowed-token check alone.
    fn find_disallowed(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        strings: &SpecialTokenSet,
    ) -> PyResult<Option<String>> {
        let text = text_of(text)?;
        let found = |t: &str| {
            self.enc()
                .find_disallowed(t, &strings.inner)
                .map(str::to_owned)
        };
        run_detached(py, || found(&text))
    }

    fn decode_bytes<'py>(
        &self,
        py: Python<'py>,
        tokens: Vec<i64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = run_detached(py, || self.enc().decode_bytes(&tokens))??;
        Ok(PyBytes::new(py, &bytes))
    }

    fn decode_single_token_bytes<'py>(
        &self,
        py: Python<'py>,
        token: i64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, self.token_bytes(token)?))
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

    fn is_special_token(&self, token: i64) -> bool {
        Rank::try_from(token).is_ok_and(|r| self.enc().is_special_token(r))
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
