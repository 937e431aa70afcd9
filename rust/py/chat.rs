//! Chat counting and pruning over Python message dicts.

use std::borrow::Cow;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use super::encoding::CoreEncoding;
use super::{encode_err, items_of, run_detached, text_of, type_name};
use crate::chat::{self, ChatFormat, MessageText, PruneError};

/// Tokens of each message under a chat format (role, content parts, name and any other
/// string field counted as ordinary text).
#[pyfunction]
pub(crate) fn chat_message_tokens(
    py: Python<'_>,
    encoding: &CoreEncoding,
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
    let enc = encoding.enc();
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
#[pyfunction]
pub(crate) fn chat_prune(
    encoding: &CoreEncoding,
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
    let enc = encoding.enc();
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
        Err(PruneFailure::Prune(PruneError::SystemTooLarge { tokens, .. })) => Ok((None, tokens)),
        Err(PruneFailure::Prune(PruneError::Encode(e))) => Err(encode_err(e)),
        Err(PruneFailure::Python(e)) => Err(e),
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

/// Message `i` as a dict, and its str `role`; clear errors naming `i` otherwise.
fn dict_and_role<'a, 'py>(
    i: usize,
    msg: &'a Bound<'py, PyAny>,
) -> PyResult<(&'a Bound<'py, PyDict>, Bound<'py, PyString>)> {
    let dict = msg.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(format!(
            "message {i} must be a dict, got {}",
            type_name(msg)
        ))
    })?;
    let role = dict
        .get_item(pyo3::intern!(msg.py(), "role"))?
        .ok_or_else(|| PyValueError::new_err(format!("message {i} has no 'role'")))?;
    let role = role.cast_into::<PyString>().map_err(|e| {
        PyTypeError::new_err(format!(
            "message {i}: 'role' must be str, got {}",
            type_name(e.into_inner().as_any())
        ))
    })?;
    Ok((dict, role))
}

/// Whether message `i` is a system (or developer) message; checks it has a str role.
fn role_is_system(i: usize, msg: &Bound<'_, PyAny>) -> PyResult<bool> {
    let (_, role) = dict_and_role(i, msg)?;
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

impl<'py> MessageFields<'py> {
    /// Checks message `i`: a mapping with a str `role`, and `content` that is a str or a list
    /// of content parts (None or absent only beside tool or function calls).
    fn of(i: usize, msg: &Bound<'py, PyAny>) -> PyResult<Self> {
        let (dict, role) = dict_and_role(i, msg)?;
        let role = role.into_any();
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
pub(crate) fn chat_message_texts(
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
