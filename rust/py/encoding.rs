//! `CoreEncoding`: the Rust side of `devsynth.tokens.Encoding`.

use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList};

use super::batch::encode_lists;
use super::ints::token_list;
use super::{
    encode_err, invalid_token, items_of, par_map, pool, run_detached, text_of, texts_of,
    ThreadCount,
};
use crate::builtin;
use crate::encoding::{flatten, EncodeError, Encoding, SpecialSet};
use crate::vocab::{Rank, Vocab};

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

/// Parts one text is split into for `threads`: one per thread, and none below 64 KiB a part
/// (splitting costs a scan for cuts and a join; small texts are done before a thread starts).
fn parts_for(len: usize, threads: Option<ThreadCount>) -> usize {
    const MIN_PART: usize = 1 << 16;
    match threads {
        Some(ThreadCount(n)) if n > 1 => n.min(len / MIN_PART).max(1),
        _ => 1,
    }
}

/// Runs `f` with the GIL released, on the pool for `threads` when the work has several parts.
/// (The count itself was checked on the way in, whatever the size of the text.)
fn on_threads<T: Send>(
    py: Python<'_>,
    threads: Option<ThreadCount>,
    parts: usize,
    f: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    if parts > 1 {
        let pool = pool(threads)?;
        run_detached(py, move || pool.install(f))
    } else {
        run_detached(py, f)
    }
}

/// Token lists as two byte arrays: the ids (u32) and the offsets (u64), little-endian.
fn flat_buffers<'py>(
    py: Python<'py>,
    lists: Vec<Result<Vec<Rank>, EncodeError>>,
) -> PyResult<(Bound<'py, PyByteArray>, Bound<'py, PyByteArray>)> {
    let lists = lists
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(encode_err)?;
    let flat = flatten(lists);
    Ok((
        PyByteArray::new(py, &le_bytes(&flat.ids)),
        PyByteArray::new(py, &le_bytes(&flat.offsets)),
    ))
}

/// The little-endian bytes of integers: the memory itself on little-endian machines.
fn le_bytes<T: Copy + ToLeBytes>(values: &[T]) -> std::borrow::Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        // SAFETY: plain integers, no padding; the slice covers exactly their memory.
        std::borrow::Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(values.as_ptr() as *const u8, std::mem::size_of_val(values))
        })
    } else {
        std::borrow::Cow::Owned(values.iter().flat_map(|v| v.le()).collect())
    }
}

trait ToLeBytes {
    fn le(self) -> Vec<u8>;
}

impl ToLeBytes for u32 {
    fn le(self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
}

impl ToLeBytes for u64 {
    fn le(self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
}

enum Source {
    Builtin(&'static Encoding),
    Custom(Box<Encoding>),
}

/// The Rust side of `devsynth.tokens.Encoding`.
#[pyclass(module = "devsynth._core", frozen)]
pub struct CoreEncoding {
    source: Source,
}

impl CoreEncoding {
    pub(crate) fn enc(&self) -> &Encoding {
        match &self.source {
            Source::Builtin(e) => e,
            Source::Custom(e) => e,
        }
    }
}

#[pymethods]
impl CoreEncoding {
    /// A built-in encoding by name.
    #[staticmethod]
    fn builtin(py: Python<'_>, name: &str) -> PyResult<Self> {
        if !builtin::NAMES.contains(&name) {
            return Err(PyValueError::new_err(format!(
                "Unknown encoding {name:?}. Available encodings: {}",
                builtin::NAMES.join(", ")
            )));
        }
        let name = name.to_owned();
        let enc = run_detached(py, move || builtin::get(&name))?;
        Ok(CoreEncoding {
            source: Source::Builtin(enc.expect("known name")),
        })
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
        let mut pairs = Vec::with_capacity(mergeable_ranks.len());
        for (k, v) in mergeable_ranks.iter() {
            let bytes = k
                .cast::<PyBytes>()
                .map_err(|_| PyTypeError::new_err("mergeable_ranks keys must be bytes"))?;
            pairs.push((bytes.as_bytes().to_vec(), v.extract::<Rank>()?));
        }
        let mut specials = Vec::with_capacity(special_tokens.len());
        for (k, v) in special_tokens.iter() {
            specials.push((k.extract::<String>()?, v.extract::<Rank>()?));
        }
        let (name, pat) = (name.to_owned(), pat_str.to_owned());
        let enc = run_detached(py, move || -> Result<Encoding, String> {
            let vocab =
                Vocab::from_pairs(pairs).map_err(|e| format!("invalid mergeable ranks: {e}"))?;
            Encoding::new(&name, &pat, vocab, specials, explicit_n_vocab).map_err(|e| e.to_string())
        })?
        .map_err(PyValueError::new_err)?;
        if let Some(n) = explicit_n_vocab {
            let total = enc.vocab().len() + enc.specials().len();
            if total != n || enc.max_token_value() as usize + 1 != n {
                return Err(PyValueError::new_err(format!(
                    "explicit_n_vocab is {n} but the encoding has {total} tokens and a largest \
                     token id of {}",
                    enc.max_token_value()
                )));
            }
        }
        Ok(CoreEncoding {
            source: Source::Custom(Box::new(enc)),
        })
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
        matches!(self.source, Source::Builtin(_))
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
        let mut owned = Vec::new();
        for item in strings.try_iter()? {
            owned.push(item?.extract::<String>()?);
        }
        Ok(SpecialTokenSet {
            inner: self.enc().special_set(owned),
        })
    }

    #[pyo3(signature = (text, num_threads=None))]
    fn encode_ordinary<'py>(
        &self,
        py: Python<'py>,
        text: &Bound<'_, PyAny>,
        num_threads: Option<ThreadCount>,
    ) -> PyResult<Bound<'py, PyList>> {
        let text = text_of(text)?;
        let enc = self.enc();
        let parts = parts_for(text.len(), num_threads);
        let tokens = on_threads(py, num_threads, parts, || {
            enc.encode_ordinary_parallel(&text, None, parts)
        })?
        .map_err(encode_err)?;
        token_list(py, enc, &tokens)
    }

    /// encode() with the defaults: no special token allowed, all of them refused.
    #[pyo3(signature = (text, num_threads=None))]
    fn encode_default<'py>(
        &self,
        py: Python<'py>,
        text: &Bound<'_, PyAny>,
        num_threads: Option<ThreadCount>,
    ) -> PyResult<Bound<'py, PyList>> {
        let text = text_of(text)?;
        let enc = self.enc();
        let parts = parts_for(text.len(), num_threads);
        let tokens = on_threads(py, num_threads, parts, || {
            enc.encode_ordinary_parallel(&text, Some(enc.all_specials()), parts)
        })?
        .map_err(encode_err)?;
        token_list(py, enc, &tokens)
    }

    /// encode_ordinary of each text, laid end to end: (ids as little-endian u32, offsets as
    /// little-endian u64, one more than the texts), with no Python object per token.
    #[pyo3(signature = (texts, num_threads=None))]
    fn encode_ordinary_batch_flat<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'_, PyAny>,
        num_threads: Option<ThreadCount>,
    ) -> PyResult<(Bound<'py, PyByteArray>, Bound<'py, PyByteArray>)> {
        let items = items_of(texts)?;
        let texts = texts_of(&items)?;
        let enc = self.enc();
        let lists = par_map(py, num_threads, &texts, |t| enc.encode_ordinary(t))?;
        flat_buffers(py, lists)
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
    ) -> PyResult<(Bound<'py, PyByteArray>, Bound<'py, PyByteArray>)> {
        let items = items_of(texts)?;
        let texts = texts_of(&items)?;
        let enc = self.enc();
        let lists = par_map(py, num_threads, &texts, |t| {
            enc.encode_checked(t, &allowed.inner, disallowed.map(|d| &d.inner))
        })?;
        flat_buffers(py, lists)
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
        let enc = self.enc();
        let tokens = run_detached(py, || {
            enc.encode_checked(&text, &allowed.inner, disallowed.map(|d| &d.inner))
        })?
        .map_err(encode_err)?;
        token_list(py, enc, &tokens)
    }

    #[pyo3(signature = (text, num_threads=None))]
    fn count_ordinary(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        num_threads: Option<ThreadCount>,
    ) -> PyResult<usize> {
        let text = text_of(text)?;
        let enc = self.enc();
        let parts = parts_for(text.len(), num_threads);
        on_threads(py, num_threads, parts, || {
            enc.count_ordinary_parallel(&text, None, parts)
        })?
        .map_err(encode_err)
    }

    #[pyo3(signature = (text, num_threads=None))]
    fn count_default(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        num_threads: Option<ThreadCount>,
    ) -> PyResult<usize> {
        let text = text_of(text)?;
        let enc = self.enc();
        let parts = parts_for(text.len(), num_threads);
        on_threads(py, num_threads, parts, || {
            enc.count_ordinary_parallel(&text, Some(enc.all_specials()), parts)
        })?
        .map_err(encode_err)
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
        let enc = self.enc();
        run_detached(py, || {
            enc.count_checked(&text, &allowed.inner, disallowed.map(|d| &d.inner))
        })?
        .map_err(encode_err)
    }

    #[pyo3(signature = (texts, num_threads=None))]
    fn encode_ordinary_batch<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'_, PyAny>,
        num_threads: Option<ThreadCount>,
    ) -> PyResult<Bound<'py, PyList>> {
        let items = items_of(texts)?;
        let texts = texts_of(&items)?;
        let enc = self.enc();
        encode_lists(py, enc, num_threads, &texts, |t| enc.encode_ordinary(t))
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
        let items = items_of(texts)?;
        let texts = texts_of(&items)?;
        let enc = self.enc();
        encode_lists(py, enc, num_threads, &texts, |t| {
            enc.encode_checked(t, &allowed.inner, disallowed.map(|d| &d.inner))
        })
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
        let texts = texts_of(&items)?;
        let enc = self.enc();
        par_map(py, num_threads, &texts, |t| {
            enc.count_checked(t, &allowed.inner, disallowed.map(|d| &d.inner))
        })?
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(encode_err)
    }

    /// The first string of `strings` in `text`, or None: the disallowed-token check alone.
    fn find_disallowed(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        strings: &SpecialTokenSet,
    ) -> PyResult<Option<String>> {
        let text = text_of(text)?;
        run_detached(py, || {
            self.enc()
                .find_disallowed(&text, &strings.inner)
                .map(str::to_owned)
        })
    }

    fn decode_bytes<'py>(
        &self,
        py: Python<'py>,
        tokens: Vec<i64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let bytes =
            run_detached(py, || self.enc().decode_bytes(&tokens))?.map_err(invalid_token)?;
        Ok(PyBytes::new(py, &bytes))
    }

    fn decode_single_token_bytes<'py>(
        &self,
        py: Python<'py>,
        token: i64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = Rank::try_from(token)
            .ok()
            .and_then(|r| self.enc().token_bytes(r))
            .ok_or_else(|| PyKeyError::new_err(token.to_string()))?;
        Ok(PyBytes::new(py, bytes))
    }

    fn decode_tokens_bytes<'py>(
        &self,
        py: Python<'py>,
        tokens: Vec<i64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let enc = self.enc();
        let mut out = Vec::with_capacity(tokens.len());
        for t in tokens {
            let bytes = Rank::try_from(t)
                .ok()
                .and_then(|r| enc.token_bytes(r))
                .ok_or_else(|| PyKeyError::new_err(t.to_string()))?;
            out.push(PyBytes::new(py, bytes));
        }
        PyList::new(py, out)
    }

    fn encode_single_token(&self, piece: &[u8]) -> PyResult<Rank> {
        self.enc()
            .encode_single_token(piece)
            .ok_or_else(|| PyKeyError::new_err(piece.to_vec()))
    }

    fn encode_single_piece(&self, py: Python<'_>, piece: &[u8]) -> PyResult<Vec<Rank>> {
        run_detached(py, || self.enc().encode_single_piece(piece))?.map_err(encode_err)
    }

    fn is_special_token(&self, token: i64) -> bool {
        Rank::try_from(token)
            .map(|r| self.enc().specials().iter().any(|s| s.1 == r))
            .unwrap_or(false)
    }

    fn token_byte_values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let vocab = self.enc().vocab();
        let mut values: Vec<&[u8]> = vocab.iter().map(|(b, _)| b).collect();
        values.sort_unstable();
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
