//! Python bindings: type conversion, the GIL released around Rust work, errors mapped to Python
//! exceptions. No algorithm lives here.

use std::borrow::Cow;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};

use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::builtin;
use crate::chat::{self, ChatFormat, MessageText, PruneError};
use crate::embed;
use crate::encoding::{EncodeError, Encoding, InvalidToken, SpecialSet};
use crate::vocab::{Rank, Vocab};

/// Runs Rust work with the GIL released; a panic (a bug) becomes a RuntimeError, never an abort
/// or a PanicException.
fn run_detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    py.detach(|| catch_unwind(AssertUnwindSafe(f)))
        .map_err(|_| {
            PyRuntimeError::new_err("internal error in the devsynth core (a bug: please report it)")
        })
}

fn encode_err(e: EncodeError) -> PyErr {
    match e {
        EncodeError::Disallowed(_) | EncodeError::MissingByte(_) => {
            PyValueError::new_err(e.to_string())
        }
        EncodeError::Pattern(_) => PyRuntimeError::new_err(e.to_string()),
    }
}

fn invalid_token(e: InvalidToken) -> PyErr {
    PyKeyError::new_err(format!("Invalid token for decoding: {}", e.0))
}

/// The UTF-8 of a Python str. Lone surrogates cannot be UTF-8: like tiktoken, pair them up
/// where they form a pair and replace the rest with U+FFFD.
fn text_of<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, str>> {
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

fn texts_of<'a>(items: &'a [Bound<'_, PyAny>]) -> PyResult<Vec<Cow<'a, str>>> {
    items.iter().map(text_of).collect()
}

fn items_of<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "expected a list of str, got a single str",
        ));
    }
    obj.try_iter()?.collect()
}

/// Rayon pools by thread count: building one costs a few threads, so keep them.
fn pool(threads: Option<usize>) -> PyResult<Option<Arc<rayon::ThreadPool>>> {
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
fn par_map<T: Send>(
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

/// Strings to look for in text (allowed special tokens, or strings to refuse), prepared once.
#[pyclass(module = "devsynth._core", frozen)]
pub struct SpecialTokenSet {
    inner: SpecialSet,
}

#[pymethods]
impl SpecialTokenSet {
    fn __len__(&self) -> usize {
        self.inner.len()
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
    fn enc(&self) -> &Encoding {
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

    fn encode_ordinary(&self, py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<Vec<Rank>> {
        let text = text_of(text)?;
        run_detached(py, || self.enc().encode_ordinary(&text))?.map_err(encode_err)
    }

    /// encode() with the defaults: no special token allowed, all of them refused.
    fn encode_default(&self, py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<Vec<Rank>> {
        let text = text_of(text)?;
        let enc = self.enc();
        run_detached(py, || {
            enc.encode_checked(&text, &SpecialSet::empty(), enc.all_specials())
        })?
        .map_err(encode_err)
    }

    #[pyo3(signature = (text, allowed, disallowed=None))]
    fn encode(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        allowed: &SpecialTokenSet,
        disallowed: Option<&SpecialTokenSet>,
    ) -> PyResult<Vec<Rank>> {
        let text = text_of(text)?;
        let enc = self.enc();
        run_detached(py, || match disallowed {
            Some(d) => enc.encode_checked(&text, &allowed.inner, &d.inner),
            None => enc.encode(&text, &allowed.inner),
        })?
        .map_err(encode_err)
    }

    fn count_ordinary(&self, py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<usize> {
        let text = text_of(text)?;
        run_detached(py, || self.enc().count_ordinary(&text))?.map_err(encode_err)
    }

    fn count_default(&self, py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<usize> {
        let text = text_of(text)?;
        let enc = self.enc();
        run_detached(py, || {
            enc.count_checked(&text, &SpecialSet::empty(), enc.all_specials())
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
        run_detached(py, || match disallowed {
            Some(d) => enc.count_checked(&text, &allowed.inner, &d.inner),
            None => enc.count(&text, &allowed.inner),
        })?
        .map_err(encode_err)
    }

    #[pyo3(signature = (texts, num_threads=None))]
    fn encode_ordinary_batch(
        &self,
        py: Python<'_>,
        texts: &Bound<'_, PyAny>,
        num_threads: Option<usize>,
    ) -> PyResult<Vec<Vec<Rank>>> {
        let items = items_of(texts)?;
        let texts = texts_of(&items)?;
        let enc = self.enc();
        run_detached(py, || {
            par_map(num_threads, &texts, |t| enc.encode_ordinary(t))
        })??
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(encode_err)
    }

    #[pyo3(signature = (texts, allowed, disallowed=None, num_threads=None))]
    fn encode_batch(
        &self,
        py: Python<'_>,
        texts: &Bound<'_, PyAny>,
        allowed: &SpecialTokenSet,
        disallowed: Option<&SpecialTokenSet>,
        num_threads: Option<usize>,
    ) -> PyResult<Vec<Vec<Rank>>> {
        let items = items_of(texts)?;
        let texts = texts_of(&items)?;
        let enc = self.enc();
        run_detached(py, || {
            par_map(num_threads, &texts, |t| match disallowed {
                Some(d) => enc.encode_checked(t, &allowed.inner, &d.inner),
                None => enc.encode(t, &allowed.inner),
            })
        })??
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(encode_err)
    }

    #[pyo3(signature = (texts, allowed, disallowed=None, num_threads=None))]
    fn count_batch(
        &self,
        py: Python<'_>,
        texts: &Bound<'_, PyAny>,
        allowed: &SpecialTokenSet,
        disallowed: Option<&SpecialTokenSet>,
        num_threads: Option<usize>,
    ) -> PyResult<Vec<usize>> {
        let items = items_of(texts)?;
        let texts = texts_of(&items)?;
        let enc = self.enc();
        run_detached(py, || {
            par_map(num_threads, &texts, |t| match disallowed {
                Some(d) => enc.count_checked(t, &allowed.inner, &d.inner),
                None => enc.count(t, &allowed.inner),
            })
        })??
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

    /// Tokens of each message under a chat format (role, content parts, name and any other
    /// string field counted as ordinary text).
    fn chat_message_tokens(
        &self,
        py: Python<'_>,
        messages: &Bound<'_, PyAny>,
        per_message: i64,
        per_name: i64,
    ) -> PyResult<Vec<i64>> {
        let format = ChatFormat {
            per_message,
            per_name,
            reply_priming: 0,
        };
        let items = items_of(messages)?;
        let fields = items
            .iter()
            .enumerate()
            .map(|(i, m)| MessageFields::of(i, m))
            .collect::<PyResult<Vec<_>>>()?;
        let texts = fields
            .iter()
            .map(MessageFields::texts)
            .collect::<PyResult<Vec<_>>>()?;
        let enc = self.enc();
        run_detached(py, || {
            texts
                .iter()
                .map(|t| chat::message_tokens(enc, format, &t.view()))
                .collect::<Result<Vec<_>, _>>()
        })?
        .map_err(encode_err)
    }

    /// Prunes a conversation to `budget` tokens: (indices kept, tokens), or (None, tokens the
    /// system messages alone need) when even they do not fit. Every message's role is checked;
    /// the rest of a message only when the decision reads it (dropped messages are not read).
    fn chat_prune(
        &self,
        messages: &Bound<'_, PyAny>,
        budget: i64,
        per_message: i64,
        per_name: i64,
        reply_priming: i64,
    ) -> PyResult<(Option<Vec<usize>>, i64)> {
        let format = ChatFormat {
            per_message,
            per_name,
            reply_priming,
        };
        let items = items_of(messages)?;
        let system = items
            .iter()
            .enumerate()
            .map(|(i, m)| role_is_system(i, m))
            .collect::<PyResult<Vec<bool>>>()?;
        let enc = self.enc();
        // The GIL stays held: only the messages kept (plus one) are read and counted.
        let result = chat::prune_with(
            items.len(),
            |i| system[i],
            |i| -> Result<i64, PruneFailure> {
                let fields = MessageFields::of(i, &items[i])?;
                let texts = fields.texts()?;
                Ok(chat::message_tokens(enc, format, &texts.view()).map_err(encode_err)?)
            },
            format,
            budget,
        );
        match result {
            Ok(p) => Ok((Some(p.kept), p.tokens)),
            Err(PruneFailure::Prune(PruneError::SystemTooLarge { tokens, .. })) => {
                Ok((None, tokens))
            }
            Err(PruneFailure::Prune(PruneError::Encode(e))) => Err(encode_err(e)),
            Err(PruneFailure::Python(e)) => Err(e),
        }
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

/// Why pruning from Python stopped: a Python error (bad message) or the core's verdict.
enum PruneFailure {
    Python(PyErr),
    Prune(PruneError),
}

impl From<PyErr> for PruneFailure {
    fn from(e: PyErr) -> Self {
        PruneFailure::Python(e)
    }
}

impl From<PruneError> for PruneFailure {
    fn from(e: PruneError) -> Self {
        PruneFailure::Prune(e)
    }
}

/// Whether message `i` is a system (or developer) message; checks it has a str role.
fn role_is_system(i: usize, msg: &Bound<'_, PyAny>) -> PyResult<bool> {
    let dict = msg.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(format!(
            "message {i} must be a dict, got {}",
            type_name(msg)
        ))
    })?;
    let role = dict
        .get_item(pyo3::intern!(msg.py(), "role"))?
        .ok_or_else(|| PyValueError::new_err(format!("message {i} has no 'role'")))?;
    let role = role.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "message {i}: 'role' must be str, got {}",
            type_name(&role)
        ))
    })?;
    Ok(matches!(role.to_str()?, "system" | "developer"))
}

/// The string fields of one chat message, checked, still owned by Python.
struct MessageFields<'py> {
    role: Bound<'py, PyAny>,
    texts: Vec<Bound<'py, PyAny>>,
    name: Option<Bound<'py, PyAny>>,
}

/// The same fields as Rust text (borrowed unless a lone surrogate had to be replaced).
struct MessageTexts<'a> {
    role: Cow<'a, str>,
    texts: Vec<Cow<'a, str>>,
    name: Option<Cow<'a, str>>,
}

impl MessageTexts<'_> {
    fn view(&self) -> MessageText<'_> {
        MessageText {
            role: &self.role,
            content: self.texts.iter().map(|t| t.as_ref()).collect(),
            name: self.name.as_deref(),
        }
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

impl<'py> MessageFields<'py> {
    /// Checks message `i`: a mapping with a str `role`, and `content` that is a str or a list
    /// of content parts (None or absent only beside tool or function calls).
    fn of(i: usize, msg: &Bound<'py, PyAny>) -> PyResult<Self> {
        let dict = msg.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err(format!(
                "message {i} must be a dict, got {}",
                type_name(msg)
            ))
        })?;
        let role = dict
            .get_item(pyo3::intern!(msg.py(), "role"))?
            .ok_or_else(|| PyValueError::new_err(format!("message {i} has no 'role'")))?;
        if !role.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(format!(
                "message {i}: 'role' must be str, got {}",
                type_name(&role)
            )));
        }
        let calls = dict
            .get_item(pyo3::intern!(msg.py(), "tool_calls"))?
            .filter(|c| !c.is_none());
        let function_call = dict
            .get_item(pyo3::intern!(msg.py(), "function_call"))?
            .filter(|c| !c.is_none());
        let has_calls = calls.is_some() || function_call.is_some();
        let mut texts = Vec::new();
        match dict.get_item(pyo3::intern!(msg.py(), "content"))? {
            Some(c) if c.is_instance_of::<PyString>() => texts.push(c),
            Some(c)
                if c.is_instance_of::<PyList>() || c.is_instance_of::<pyo3::types::PyTuple>() =>
            {
                for (j, part) in c.try_iter()?.enumerate() {
                    let part = part?;
                    let part_dict = part.cast::<PyDict>().map_err(|_| {
                        PyTypeError::new_err(format!(
                            "message {i}: content part {j} must be a dict, got {}",
                            type_name(&part)
                        ))
                    })?;
                    let is_text = match part_dict.get_item(pyo3::intern!(msg.py(), "type"))? {
                        Some(t) => t.extract::<&str>().map(|t| t == "text").unwrap_or(false),
                        None => false,
                    };
                    if is_text {
                        let text = part_dict
                            .get_item(pyo3::intern!(msg.py(), "text"))?
                            .ok_or_else(|| {
                                PyValueError::new_err(format!(
                                    "message {i}: content part {j} has no 'text'"
                                ))
                            })?;
                        if !text.is_instance_of::<PyString>() {
                            return Err(PyTypeError::new_err(format!(
                                "message {i}: content part {j} 'text' must be str, got {}",
                                type_name(&text)
                            )));
                        }
                        texts.push(text);
                    }
                }
            }
            Some(c) if c.is_none() && has_calls => {}
            None if has_calls => {}
            Some(c) if !c.is_none() => {
                return Err(PyTypeError::new_err(format!(
                    "message {i}: 'content' must be str or a list of content parts, got {}",
                    type_name(&c)
                )))
            }
            _ => {
                return Err(PyValueError::new_err(format!(
                    "message {i} has no 'content'"
                )))
            }
        }
        // Tool calls: their function names and argument text travel in the prompt too.
        let call_items: Vec<Bound<'py, PyAny>> = match (&calls, &function_call) {
            (Some(c), _) => c.try_iter()?.collect::<PyResult<_>>()?,
            (None, Some(f)) => vec![f.clone()],
            (None, None) => Vec::new(),
        };
        for call in call_items {
            let function = match call.cast::<PyDict>() {
                Ok(d) => d
                    .get_item(pyo3::intern!(msg.py(), "function"))?
                    .unwrap_or_else(|| call.clone()),
                Err(_) => call.clone(),
            };
            if let Ok(f) = function.cast::<PyDict>() {
                for key in ["name", "arguments"] {
                    if let Some(v) = f.get_item(key)? {
                        if v.is_instance_of::<PyString>() {
                            texts.push(v);
                        }
                    }
                }
            }
        }
        // Other string fields (tool_call_id, ...) are sent, so they count as well.
        for (key, value) in dict.iter() {
            let known = key
                .extract::<&str>()
                .map(|k| {
                    matches!(
                        k,
                        "role" | "content" | "name" | "tool_calls" | "function_call"
                    )
                })
                .unwrap_or(false);
            if !known && value.is_instance_of::<PyString>() {
                texts.push(value);
            }
        }
        let name = match dict.get_item(pyo3::intern!(msg.py(), "name"))? {
            Some(n) if n.is_instance_of::<PyString>() => Some(n),
            Some(n) if n.is_none() => None,
            Some(n) => {
                return Err(PyTypeError::new_err(format!(
                    "message {i}: 'name' must be str, got {}",
                    type_name(&n)
                )))
            }
            None => None,
        };
        Ok(MessageFields { role, texts, name })
    }

    fn texts(&self) -> PyResult<MessageTexts<'_>> {
        Ok(MessageTexts {
            role: text_of(&self.role)?,
            texts: self.texts.iter().map(text_of).collect::<PyResult<_>>()?,
            name: self.name.as_ref().map(text_of).transpose()?,
        })
    }
}

/// The checked string fields of each message: (role, content texts, name).
#[allow(clippy::type_complexity)]
#[pyfunction]
fn chat_message_texts(
    messages: &Bound<'_, PyAny>,
) -> PyResult<Vec<(String, Vec<String>, Option<String>)>> {
    let items = items_of(messages)?;
    items
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let fields = MessageFields::of(i, m)?;
            let t = fields.texts()?;
            Ok((
                t.role.into_owned(),
                t.texts.into_iter().map(Cow::into_owned).collect(),
                t.name.map(Cow::into_owned),
            ))
        })
        .collect()
}

/// Hash embedding of a text (see rust/embed.rs).
#[pyfunction]
#[pyo3(signature = (text, dimensions=embed::DEFAULT_DIMENSIONS))]
fn hash_embedding(
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
fn hash_embeddings(
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

#[pymodule]
#[pyo3(name = "_core")]
pub fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CoreEncoding>()?;
    m.add_class::<SpecialTokenSet>()?;
    m.add_function(wrap_pyfunction!(hash_embedding, m)?)?;
    m.add_function(wrap_pyfunction!(chat_message_texts, m)?)?;
    m.add_function(wrap_pyfunction!(hash_embeddings, m)?)?;
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
