//! Chat counting and pruning over Python message dicts: Python objects read as `ChatValue`s
//! by the core's field policy (rust/chat.rs), texts counted on an encoding (the GIL released)
//! or by a Python callable (a local model's tokenizer).

use std::borrow::Cow;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use super::encoding::CoreEncoding;
use super::{items_of, run_detached, text_of, type_name};
use crate::chat::{self, ChatFormat, ChatValue, Field, Kind, MessageFields};

/// A Python value with its kind, found once (the policy asks a value's kind several times).
#[derive(Clone)]
struct Value<'py> {
    obj: Bound<'py, PyAny>,
    kind: Kind,
}

impl<'py> Value<'py> {
    #[inline]
    fn new(obj: Bound<'py, PyAny>) -> Self {
        let kind = if obj.is_instance_of::<PyString>() {
            Kind::Str
        } else if obj.is_instance_of::<PyDict>() {
            Kind::Map
        } else if obj.is_none() {
            Kind::Null
        } else if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
            Kind::List
        } else {
            Kind::Other
        };
        Value { obj, kind }
    }

    #[inline]
    fn dict(&self) -> PyResult<&Bound<'py, PyDict>> {
        if self.kind != Kind::Map {
            return Err(PyTypeError::new_err("expected a dict"));
        }
        // SAFETY: `kind` is Map only for dicts (see `new`).
        Ok(unsafe { self.obj.cast_unchecked::<PyDict>() })
    }
}

impl<'py> ChatValue for Value<'py> {
    type Error = PyErr;

    fn kind(&self) -> Kind {
        self.kind
    }

    fn type_name(&self) -> String {
        type_name(&self.obj)
    }

    #[inline]
    fn get(&self, field: Field) -> PyResult<Option<Self>> {
        let value = self.dict()?.get_item(key(self.obj.py(), field))?;
        Ok(value.map(Value::new))
    }

    fn items(&self) -> PyResult<Vec<Self>> {
        self.obj.try_iter()?.map(|o| o.map(Value::new)).collect()
    }

    fn entry_count(&self) -> usize {
        self.dict().map_or(0, |d| d.len())
    }

    fn for_each_entry(&self, mut f: impl FnMut(Self, Self) -> PyResult<()>) -> PyResult<()> {
        let entries = self.dict()?.iter();
        entries
            .into_iter()
            .try_for_each(|(k, v)| f(Value::new(k), Value::new(v)))
    }

    fn text(&self) -> PyResult<Cow<'_, str>> {
        text_of(&self.obj) // lone surrogates mended, or the TypeError
    }
}

/// A field's key, interned once: keys are looked up for every message.
#[inline]
fn key(py: Python<'_>, field: Field) -> &Bound<'_, PyString> {
    static KEYS: PyOnceLock<Vec<Py<PyString>>> = PyOnceLock::new();
    let keys = KEYS.get_or_init(py, || {
        let key = |f: &Field| PyString::intern(py, f.key()).unbind();
        Field::ALL.iter().map(key).collect()
    });
    keys[field as usize].bind(py)
}

/// The messages of a sequence, as policy values.
fn messages_of<'py>(messages: &Bound<'py, PyAny>) -> PyResult<Vec<Value<'py>>> {
    Ok(items_of(messages)?.into_iter().map(Value::new).collect())
}

/// What counts a text: an encoding (ordinary text), or a Python callable `str -> int`.
enum Counter<'a, 'py> {
    Encoding(&'a crate::encoding::Encoding),
    Python(&'a Bound<'py, PyAny>),
}

impl<'a, 'py> Counter<'a, 'py> {
    fn of(counter: &'a Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(e) = counter.cast::<CoreEncoding>() {
            return Ok(Counter::Encoding(e.get().enc()));
        }
        if counter.is_callable() {
            return Ok(Counter::Python(counter));
        }
        Err(PyTypeError::new_err(format!(
            "counter must be a CoreEncoding or a callable, got {}",
            type_name(counter)
        )))
    }

    fn count(&self, text: &str) -> PyResult<usize> {
        match self {
            Counter::Encoding(enc) => Ok(enc.count_ordinary(text)?),
            Counter::Python(f) => f.call1((text,))?.extract(),
        }
    }
}

/// Tokens of each message under a chat format (the field policy of rust/chat.rs).
#[pyfunction]
pub(crate) fn chat_message_tokens(
    py: Python<'_>,
    counter: &Bound<'_, PyAny>,
    messages: &Bound<'_, PyAny>,
    per_message: i64,
    per_name: i64,
) -> PyResult<Vec<i64>> {
    let format = ChatFormat::new(per_message, per_name, 0);
    let counter = Counter::of(counter)?;
    let fields = chat::fields_of_each(&messages_of(messages)?)?;
    let texts = fields
        .iter()
        .map(MessageFields::texts)
        .collect::<PyResult<Vec<_>>>()?;
    match counter {
        Counter::Encoding(enc) => Ok(run_detached(py, || {
            chat::each_message_tokens(format, &texts, |t| enc.count_ordinary(t))
        })??),
        Counter::Python(_) => chat::each_message_tokens(format, &texts, |t| counter.count(t)),
    }
}

/// Prunes a conversation to `budget` tokens: (indices kept, tokens), or (None, tokens the
/// system messages alone need) when even they do not fit. The GIL stays held: only the
/// messages kept (plus one) are read and counted.
#[pyfunction]
pub(crate) fn chat_prune(
    counter: &Bound<'_, PyAny>,
    messages: &Bound<'_, PyAny>,
    budget: i64,
    per_message: i64,
    per_name: i64,
    reply_priming: i64,
) -> PyResult<(Option<Vec<usize>>, i64)> {
    let format = ChatFormat::new(per_message, per_name, reply_priming);
    let counter = Counter::of(counter)?;
    let items = messages_of(messages)?;
    Ok(
        match chat::prune_messages(&items, format, budget, |t| counter.count(t))? {
            Ok(p) => (Some(p.kept), p.tokens),
            Err(too_large) => (None, too_large.tokens),
        },
    )
}

/// The chat format of a model: (per_message, per_name, reply_priming).
#[pyfunction]
#[pyo3(signature = (model=None))]
pub(crate) fn chat_format(model: Option<&str>) -> (i64, i64, i64) {
    let f = model.map_or(ChatFormat::CURRENT, ChatFormat::for_model);
    (f.per_message, f.per_name, f.reply_priming)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(chat_message_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(chat_prune, m)?)?;
    m.add_function(wrap_pyfunction!(chat_format, m)?)?;
    m.add("SYSTEM_ROLES", chat::SYSTEM_ROLES.to_vec())?;
    m.add("TOOL_RESULT_ROLES", chat::TOOL_RESULT_ROLES.to_vec())?;
    Ok(())
}
