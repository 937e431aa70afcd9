//! Chat counting and pruning over Python message dicts: Python objects read as `ChatValue`s
//! by the core's field policy (rust/chat.rs), texts counted on an encoding (the GIL released)
//! or by a Python callable (a local model's tokenizer).

use std::borrow::Cow;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use super::encoding::CoreEncoding;
use super::{encode_err, items_of, run_detached, text_of, type_name};
use crate::chat::{self, ChatFormat, ChatValue, InvalidMessage, Kind};

impl From<InvalidMessage> for PyErr {
    fn from(e: InvalidMessage) -> PyErr {
        match e {
            InvalidMessage::WrongType(m) => PyTypeError::new_err(m),
            InvalidMessage::Missing(m) => PyValueError::new_err(m),
        }
    }
}

impl ChatValue for Bound<'_, PyAny> {
    type Error = PyErr;

    fn kind(&self) -> Kind {
        if self.is_instance_of::<PyString>() {
            Kind::Str
        } else if self.is_none() {
            Kind::Null
        } else if self.is_instance_of::<PyDict>() {
            Kind::Map
        } else if self.is_instance_of::<PyList>() || self.is_instance_of::<PyTuple>() {
            Kind::List
        } else {
            Kind::Other
        }
    }

    fn type_name(&self) -> String {
        type_name(self)
    }

    fn get(&self, key: &'static str) -> PyResult<Option<Self>> {
        let py = self.py();
        // The policy's keys, interned once each: looked up for every message.
        let key = match key {
            "role" => pyo3::intern!(py, "role"),
            "content" => pyo3::intern!(py, "content"),
            "name" => pyo3::intern!(py, "name"),
            "tool_calls" => pyo3::intern!(py, "tool_calls"),
            "function_call" => pyo3::intern!(py, "function_call"),
            "type" => pyo3::intern!(py, "type"),
            "text" => pyo3::intern!(py, "text"),
            "function" => pyo3::intern!(py, "function"),
            other => &PyString::new(py, other),
        };
        self.cast::<PyDict>()?.get_item(key)
    }

    fn items(&self) -> PyResult<Vec<Self>> {
        self.try_iter()?.collect()
    }

    fn entries(&self) -> PyResult<Vec<(Self, Self)>> {
        Ok(self.cast::<PyDict>()?.iter().collect())
    }

    fn is_str(&self, s: &str) -> bool {
        self.cast::<PyString>()
            .is_ok_and(|t| t.to_str().is_ok_and(|t| t == s))
    }

    fn text(&self) -> PyResult<Cow<'_, str>> {
        text_of(self)
    }
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
            Counter::Encoding(enc) => enc.count_ordinary(text).map_err(encode_err),
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
    let format = ChatFormat {
        per_message,
        per_name,
        reply_priming: 0,
    };
    let counter = Counter::of(counter)?;
    let items = items_of(messages)?;
    let fields = items
        .iter()
        .enumerate()
        .map(|(i, m)| chat::message_fields(i, m))
        .collect::<PyResult<Vec<_>>>()?;
    let texts = fields
        .iter()
        .map(|f| f.texts())
        .collect::<PyResult<Vec<_>>>()?;
    let each = |count: &dyn Fn(&str) -> PyResult<usize>| {
        texts
            .iter()
            .map(|t| chat::message_tokens_with(format, &t.view(), count))
            .collect::<PyResult<Vec<_>>>()
    };
    match counter {
        Counter::Encoding(enc) => {
            run_detached(py, || each(&|t| enc.count_ordinary(t).map_err(encode_err)))?
        }
        Counter::Python(_) => each(&|t| counter.count(t)),
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
    let format = ChatFormat {
        per_message,
        per_name,
        reply_priming,
    };
    let counter = Counter::of(counter)?;
    let items = items_of(messages)?;
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
    Ok(())
}
