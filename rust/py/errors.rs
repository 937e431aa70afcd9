//! How each error of the core becomes a Python exception: ValueError for what the caller gave
//! (text with a disallowed special token, a bad option), TypeError for a value of the wrong
//! type, KeyError for an unknown token, RuntimeError for what went wrong inside.

use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::PyErr;

use crate::bulk::arrow::ArrowError;
use crate::bulk::columns::NumpyError;
use crate::bulk::fed::Finished;
use crate::bulk::BadOption;
use crate::chat::InvalidMessage;
use crate::embed::BadDimensions;
use crate::encoding::{EncodeError, InvalidToken};
use crate::handle::{CustomError, UnknownEncoding};
use crate::threads::{Stopped, ThreadsError};

pub(crate) fn internal_error() -> PyErr {
    PyRuntimeError::new_err("internal error in the devsynth core (a bug: please report it)")
}

impl From<EncodeError> for PyErr {
    fn from(e: EncodeError) -> PyErr {
        match e {
            EncodeError::Disallowed(_) | EncodeError::MissingByte(_) => {
                PyValueError::new_err(e.to_string())
            }
            EncodeError::Pattern(_) => PyRuntimeError::new_err(e.to_string()),
        }
    }
}

impl From<InvalidToken> for PyErr {
    fn from(e: InvalidToken) -> PyErr {
        PyKeyError::new_err(format!("Invalid token for decoding: {}", e.0))
    }
}

impl From<ThreadsError> for PyErr {
    fn from(e: ThreadsError) -> PyErr {
        match e {
            ThreadsError::Spawn(_) => PyRuntimeError::new_err(e.to_string()),
            _ => PyValueError::new_err(e.to_string()),
        }
    }
}

/// Work stopped by Ctrl-C, a failed callback or its own error gives that error; a panic (a
/// bug) gives a RuntimeError, never an abort or a PanicException.
impl From<Stopped<PyErr>> for PyErr {
    fn from(stopped: Stopped<PyErr>) -> PyErr {
        match stopped {
            Stopped::Watcher(e) | Stopped::Failed(e) => e,
            Stopped::Panicked => internal_error(),
        }
    }
}

impl From<InvalidMessage> for PyErr {
    fn from(e: InvalidMessage) -> PyErr {
        match e {
            InvalidMessage::WrongType(m) => PyTypeError::new_err(m),
            InvalidMessage::Missing(m) => PyValueError::new_err(m),
        }
    }
}

impl From<ArrowError> for PyErr {
    fn from(e: ArrowError) -> PyErr {
        match e {
            ArrowError::Malformed(_) => PyValueError::new_err(e.to_string()),
            ArrowError::NotStrings(_) => PyTypeError::new_err(e.to_string()),
            ArrowError::Stream(_) => PyRuntimeError::new_err(e.to_string()),
        }
    }
}

impl From<NumpyError> for PyErr {
    fn from(e: NumpyError) -> PyErr {
        match e {
            NumpyError::NotStr(_) => PyTypeError::new_err(e.to_string()),
            NumpyError::Layout(_) => PyValueError::new_err(e.to_string()),
        }
    }
}

/// Errors that are always the caller's values: a ValueError with the core's message.
macro_rules! value_errors {
    ($($error:ty),*) => {$(
        impl From<$error> for PyErr {
            fn from(e: $error) -> PyErr {
                PyValueError::new_err(e.to_string())
            }
        }
    )*};
}

value_errors!(
    BadDimensions,
    BadOption,
    Finished,
    UnknownEncoding,
    CustomError
);
