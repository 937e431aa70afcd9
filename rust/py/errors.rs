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

/// `From<error> for PyErr` for each error: the exception class its variants become, with the
/// error's own message.
macro_rules! exceptions {
    ($($error:ty { $($variant:pat => $class:ty),+ $(,)? })*) => {$(
        impl From<$error> for PyErr {
            fn from(e: $error) -> PyErr {
                match e {
                    $($variant => <$class>::new_err(e.to_string()),)+
                }
            }
        }
    )*};
}

exceptions! {
    EncodeError {
        EncodeError::Pattern(_) => PyRuntimeError,
        EncodeError::Disallowed(_) | EncodeError::MissingByte(_) => PyValueError,
    }
    ThreadsError {
        ThreadsError::Spawn(_) => PyRuntimeError,
        ThreadsError::Zero | ThreadsError::TooMany(_) => PyValueError,
    }
    InvalidMessage {
        InvalidMessage::WrongType(_) => PyTypeError,
        InvalidMessage::Missing(_) => PyValueError,
    }
    ArrowError {
        ArrowError::Malformed(_) => PyValueError,
        ArrowError::NotStrings(_) => PyTypeError,
        ArrowError::Stream(_) => PyRuntimeError,
    }
    NumpyError {
        NumpyError::NotStr(_) => PyTypeError,
        NumpyError::Layout(_) => PyValueError,
    }
    InvalidToken { _ => PyKeyError }
    BadDimensions { _ => PyValueError }
    BadOption { _ => PyValueError }
    Finished { _ => PyValueError }
    UnknownEncoding { _ => PyValueError }
    CustomError { _ => PyValueError }
}
