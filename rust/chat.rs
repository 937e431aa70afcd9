//! Chat token counting (OpenAI's published formula) and conversation pruning.
//!
//! A message costs `per_message` tokens, plus the tokens of its role, content and name, plus
//! `per_name` when it has a name; a conversation adds `reply_priming` for the assistant's reply.
//! Text is counted as ordinary text: a message that spells a special token is not an error.

use crate::encoding::{EncodeError, Encoding};

/// The constants of one model family's chat format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatFormat {
    pub per_message: i64,
    pub per_name: i64,
    pub reply_priming: i64,
}

impl ChatFormat {
    /// gpt-3.5-turbo-0613 and later, gpt-4, gpt-4o and newer.
    pub const CURRENT: ChatFormat = ChatFormat {
        per_message: 3,
        per_name: 1,
        reply_priming: 3,
    };
    /// gpt-3.5-turbo-0301: the name replaces the role.
    pub const GPT35_0301: ChatFormat = ChatFormat {
        per_message: 4,
        per_name: -1,
        reply_priming: 3,
    };
}

/// The text of one message, borrowed from the caller.
#[derive(Debug, Clone, Default)]
pub struct MessageText<'a> {
    pub role: &'a str,
    /// The content's text parts (one for plain string content).
    pub content: Vec<&'a str>,
    pub name: Option<&'a str>,
}

impl MessageText<'_> {
    pub fn is_system(&self) -> bool {
        self.role == "system" || self.role == "developer"
    }
}

/// Tokens of one message.
pub fn message_tokens(
    enc: &Encoding,
    format: ChatFormat,
    message: &MessageText<'_>,
) -> Result<i64, EncodeError> {
    let mut n = format.per_message + enc.count_ordinary(message.role)? as i64;
    for part in &message.content {
        n += enc.count_ordinary(part)? as i64;
    }
    if let Some(name) = message.name {
        n += enc.count_ordinary(name)? as i64 + format.per_name;
    }
    Ok(n)
}

/// Tokens of a whole conversation, reply priming included.
pub fn conversation_tokens(
    enc: &Encoding,
    format: ChatFormat,
    messages: &[MessageText<'_>],
) -> Result<i64, EncodeError> {
    let mut n = format.reply_priming;
    for m in messages {
        n += message_tokens(enc, format, m)?;
    }
    Ok(n)
}

/// Why a conversation cannot be pruned to a budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PruneError {
    /// The system messages (and reply priming) alone need more than the budget.
    SystemTooLarge {
        tokens: i64,
        budget: i64,
    },
    Encode(EncodeError),
}

impl From<EncodeError> for PruneError {
    fn from(e: EncodeError) -> Self {
        PruneError::Encode(e)
    }
}

/// The result of pruning: which messages stay (indices, in order) and their token total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    pub kept: Vec<usize>,
    pub tokens: i64,
}

/// Keeps every system message and the longest run of newest other messages that fits in
/// `budget` together with them (reply priming included).
pub fn prune(
    enc: &Encoding,
    format: ChatFormat,
    messages: &[MessageText<'_>],
    budget: i64,
) -> Result<Pruned, PruneError> {
    prune_with(
        messages.len(),
        |i| messages[i].is_system(),
        |i| Ok(message_tokens(enc, format, &messages[i])?),
        format,
        budget,
    )
}

/// `prune` over any source of messages: `is_system(i)` and `tokens(i)` are asked only for the
/// messages the decision needs. Walks from the newest message back and stops at the first that
/// does not fit, so the cost grows with what is kept, not with the length of the conversation.
pub fn prune_with<E: From<PruneError>>(
    len: usize,
    is_system: impl Fn(usize) -> bool,
    mut tokens: impl FnMut(usize) -> Result<i64, E>,
    format: ChatFormat,
    budget: i64,
) -> Result<Pruned, E> {
    let mut fixed = format.reply_priming;
    for i in (0..len).filter(|&i| is_system(i)) {
        fixed += tokens(i)?;
    }
    if fixed > budget {
        return Err(PruneError::SystemTooLarge {
            tokens: fixed,
            budget,
        }
        .into());
    }
    let mut total = fixed;
    let mut cut = len;
    for i in (0..len).rev() {
        if is_system(i) {
            continue;
        }
        let t = tokens(i)?;
        if total + t > budget {
            break;
        }
        total += t;
        cut = i;
    }
    let kept = (0..len).filter(|&i| i >= cut || is_system(i)).collect();
    Ok(Pruned {
        kept,
        tokens: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;

    fn msg<'a>(role: &'a str, content: &'a str) -> MessageText<'a> {
        MessageText {
            role,
            content: vec![content],
            name: None,
        }
    }

    #[test]
    fn cookbook_example_counts() {
        // OpenAI's cookbook example conversation counts 129 prompt tokens for gpt-4 family
        // models; this smaller check pins the formula's arithmetic.
        let enc = builtin::get("cl100k_base").unwrap();
        let m = msg("user", "Hello, world!");
        // 3 + "user"(1) + "Hello, world!"(4)
        assert_eq!(message_tokens(enc, ChatFormat::CURRENT, &m).unwrap(), 8);
        let named = MessageText {
            name: Some("example_user"),
            ..m.clone()
        };
        assert_eq!(
            message_tokens(enc, ChatFormat::CURRENT, &named).unwrap(),
            8 + 1 + enc.count_ordinary("example_user").unwrap() as i64
        );
        assert_eq!(
            conversation_tokens(enc, ChatFormat::CURRENT, &[m]).unwrap(),
            11
        );
        let special = msg("user", "<|endoftext|>");
        assert!(message_tokens(enc, ChatFormat::CURRENT, &special).is_ok());
    }

    #[test]
    fn prune_keeps_system_and_newest() {
        let enc = builtin::get("cl100k_base").unwrap();
        let msgs = vec![
            msg("system", "You are a helpful assistant."),
            msg("user", "one"),
            msg("assistant", "two"),
            msg("user", "three"),
        ];
        let all = conversation_tokens(enc, ChatFormat::CURRENT, &msgs).unwrap();
        let p = prune(enc, ChatFormat::CURRENT, &msgs, all).unwrap();
        assert_eq!(p.kept, vec![0, 1, 2, 3]);
        assert_eq!(p.tokens, all);
        let p = prune(enc, ChatFormat::CURRENT, &msgs, all - 1).unwrap();
        assert_eq!(p.kept, vec![0, 2, 3]);
        assert!(p.tokens < all);
        assert!(matches!(
            prune(enc, ChatFormat::CURRENT, &msgs, 5),
            Err(PruneError::SystemTooLarge { budget: 5, .. })
        ));
    }
}
