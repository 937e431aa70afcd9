//! Getting hold of an encoding: a built-in one by name, or a custom one from tiktoken-style
//! parts, checked as tiktoken checks them. A handle is cheap to clone and owns no borrow, so
//! whatever outlives one call (a stream counter fed over many) keeps its encoding alive.

use std::ops::Deref;
use std::sync::Arc;

use crate::builtin;
use crate::encoding::{BuildError, Encoding};
use crate::vocab::{Rank, Vocab};

/// A built-in encoding (built once and shared for the life of the process) or a custom one.
#[derive(Clone)]
pub enum EncodingHandle {
    Builtin(&'static Encoding),
    Custom(Arc<Encoding>),
}

/// A name that is no built-in encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEncoding(pub String);

impl std::fmt::Display for UnknownEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Unknown encoding {:?}. Available encodings: {}",
            self.0,
            builtin::NAMES.join(", ")
        )
    }
}

impl std::error::Error for UnknownEncoding {}

/// Why a custom encoding was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomError {
    /// The parts do not make an encoding (ranks or pattern).
    Build(BuildError),
    /// `explicit_n_vocab` disagrees with the tokens given, as tiktoken refuses it.
    VocabSize {
        explicit: usize,
        tokens: usize,
        max_token: Rank,
    },
}

impl std::fmt::Display for CustomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CustomError::Build(e) => write!(f, "{e}"),
            CustomError::VocabSize {
                explicit,
                tokens,
                max_token,
            } => write!(
                f,
                "explicit_n_vocab is {explicit} but the encoding has {tokens} tokens and a \
                 largest token id of {max_token}"
            ),
        }
    }
}

impl std::error::Error for CustomError {}

impl EncodingHandle {
    /// A built-in encoding by name (built on first use).
    pub fn builtin(name: &str) -> Result<Self, UnknownEncoding> {
        builtin::get(name)
            .map(EncodingHandle::Builtin)
            .ok_or_else(|| UnknownEncoding(name.to_owned()))
    }

    /// An encoding from tiktoken's parts: `ranks` (token bytes and rank), the pre-tokenizer
    /// pattern and the special tokens. With `explicit_n_vocab`, the ordinary and special tokens
    /// together must be exactly that many, with ids 0 to `explicit_n_vocab - 1`.
    pub fn custom(
        name: &str,
        pattern: &str,
        ranks: Vec<(Vec<u8>, Rank)>,
        specials: Vec<(String, Rank)>,
        explicit_n_vocab: Option<usize>,
    ) -> Result<Self, CustomError> {
        let vocab =
            Vocab::from_pairs(ranks).map_err(|e| CustomError::Build(BuildError::Vocab(e)))?;
        let enc = Encoding::new(name, pattern, vocab, specials, explicit_n_vocab)
            .map_err(CustomError::Build)?;
        if let Some(explicit) = explicit_n_vocab {
            let tokens = enc.vocab().len() + enc.specials().len();
            let max_token = enc.max_token_value();
            if tokens != explicit || max_token as usize + 1 != explicit {
                return Err(CustomError::VocabSize {
                    explicit,
                    tokens,
                    max_token,
                });
            }
        }
        Ok(EncodingHandle::Custom(Arc::new(enc)))
    }

    pub fn is_builtin(&self) -> bool {
        matches!(self, EncodingHandle::Builtin(_))
    }
}

impl Deref for EncodingHandle {
    type Target = Encoding;

    fn deref(&self) -> &Encoding {
        match self {
            EncodingHandle::Builtin(e) => e,
            EncodingHandle::Custom(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_ranks() -> Vec<(Vec<u8>, Rank)> {
        (0..=255u8).map(|b| (vec![b], Rank::from(b))).collect()
    }

    #[test]
    fn builtins_by_name_are_the_shared_ones() {
        let h = EncodingHandle::builtin("cl100k_base").unwrap();
        assert!(h.is_builtin());
        assert!(std::ptr::eq(&*h, builtin::get("cl100k_base").unwrap()));
        assert!(std::ptr::eq(&*h.clone(), &*h));
        let err = EncodingHandle::builtin("cl100k").err().unwrap();
        assert_eq!(
            err.to_string(),
            "Unknown encoding \"cl100k\". Available encodings: gpt2, r50k_base, p50k_base, \
             p50k_edit, cl100k_base, o200k_base, o200k_harmony"
        );
    }

    #[test]
    fn custom_encodings_are_checked_as_tiktoken_checks_them() {
        let specials = vec![("<|end|>".to_string(), 256)];
        let h = EncodingHandle::custom(
            "bytes",
            r"\S+|\s+",
            bytes_ranks(),
            specials.clone(),
            Some(257),
        )
        .unwrap();
        assert!(!h.is_builtin());
        assert_eq!(h.name, "bytes");
        assert_eq!(h.encode_ordinary("hi").unwrap(), vec![104, 105]);
        assert_eq!(
            EncodingHandle::custom("b", r"\S+", bytes_ranks(), specials.clone(), Some(300))
                .err()
                .unwrap()
                .to_string(),
            "explicit_n_vocab is 300 but the encoding has 257 tokens and a largest token id of 256"
        );
        // The count is right but an id is past the end.
        let gap = vec![("<|end|>".to_string(), 300)];
        assert!(matches!(
            EncodingHandle::custom("b", r"\S+", bytes_ranks(), gap, Some(257)),
            Err(CustomError::VocabSize { max_token: 300, .. })
        ));
        let mut dup = bytes_ranks();
        dup.push((b"ab".to_vec(), 5));
        let err = EncodingHandle::custom("b", r"\S+", dup, Vec::new(), None)
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "invalid mergeable ranks: rank 5 is given to two tokens"
        );
        let err = EncodingHandle::custom("b", "(", bytes_ranks(), Vec::new(), None).err();
        assert!(matches!(
            err,
            Some(CustomError::Build(BuildError::Pattern(_)))
        ));
    }
}
