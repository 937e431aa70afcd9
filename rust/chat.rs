//! Chat rules, each in one place: which roles are system instructions, the constants of OpenAI's
//! published chat formula, which fields of a message count, and pruning to a budget.
//!
//! A message costs `per_message` tokens, plus the tokens of its role, content and name, plus
//! `per_name` when it has a name; a conversation adds `reply_priming` for the assistant's reply.
//! Text is counted as ordinary text: a message that spells a special token is not an error.
//!
//! Messages are read through [`ChatValue`], so the field policy runs on Python objects in the
//! bindings and on plain values in `cargo test` alike.

use std::borrow::Cow;

use crate::encoding::{EncodeError, Encoding};

/// Roles whose messages are instructions to the model: pruning keeps them whatever the budget,
/// and Anthropic's API takes them apart from the turns.
pub const SYSTEM_ROLES: [&str; 2] = ["system", "developer"];

/// Whether a message of this role is a system instruction.
pub fn is_system_role(role: &str) -> bool {
    SYSTEM_ROLES.contains(&role)
}

/// Roles whose messages answer a tool (or function) call: pruning never keeps one without the
/// call it answers (the APIs refuse that).
pub const TOOL_RESULT_ROLES: [&str; 2] = ["tool", "function"];

/// What pruning needs to know of a message's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    ToolResult,
    Other,
}

impl Role {
    pub fn of(role: &str) -> Role {
        if is_system_role(role) {
            Role::System
        } else if TOOL_RESULT_ROLES.contains(&role) {
            Role::ToolResult
        } else {
            Role::Other
        }
    }
}

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

    pub const fn new(per_message: i64, per_name: i64, reply_priming: i64) -> Self {
        ChatFormat {
            per_message,
            per_name,
            reply_priming,
        }
    }

    /// The format of a model's chat (the current one for models it does not know).
    pub fn for_model(model: &str) -> ChatFormat {
        if model == "gpt-3.5-turbo-0301" {
            ChatFormat::GPT35_0301
        } else {
            ChatFormat::CURRENT
        }
    }
}

/// The text of one message, borrowed from the caller.
#[derive(Debug, Clone, Default)]
pub struct MessageText<'a> {
    pub role: &'a str,
    /// The text that counts besides role and name: content parts, tool calls, other fields.
    pub content: Vec<&'a str>,
    pub name: Option<&'a str>,
}

impl MessageText<'_> {
    pub fn role(&self) -> Role {
        Role::of(self.role)
    }
}

/// Tokens of one message, each text counted by `count`.
pub fn message_tokens_with<E>(
    format: ChatFormat,
    message: &MessageText<'_>,
    mut count: impl FnMut(&str) -> Result<usize, E>,
) -> Result<i64, E> {
    let mut n = format.per_message + count(message.role)? as i64;
    for part in &message.content {
        n += count(part)? as i64;
    }
    if let Some(name) = message.name {
        n += count(name)? as i64 + format.per_name;
    }
    Ok(n)
}

/// Tokens of one message on an encoding.
pub fn message_tokens(
    enc: &Encoding,
    format: ChatFormat,
    message: &MessageText<'_>,
) -> Result<i64, EncodeError> {
    message_tokens_with(format, message, |t| enc.count_ordinary(t))
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

// ---------------------------------------------------------------- which fields count

/// What a message value is, as far as the field policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Null,
    List,
    Map,
    Other,
}

/// The fields the policy reads by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Role,
    Content,
    Name,
    ToolCalls,
    FunctionCall,
    Type,
    Text,
    Function,
    Arguments,
}

impl Field {
    /// Every field, in declaration order (`ALL[f as usize] == f`).
    pub const ALL: [Field; 9] = [
        Field::Role,
        Field::Content,
        Field::Name,
        Field::ToolCalls,
        Field::FunctionCall,
        Field::Type,
        Field::Text,
        Field::Function,
        Field::Arguments,
    ];

    pub const fn key(self) -> &'static str {
        match self {
            Field::Role => "role",
            Field::Content => "content",
            Field::Name => "name",
            Field::ToolCalls => "tool_calls",
            Field::FunctionCall => "function_call",
            Field::Type => "type",
            Field::Text => "text",
            Field::Function => "function",
            Field::Arguments => "arguments",
        }
    }
}

/// A value of a chat message, from any source: the field policy reads messages through this
/// and nothing else.
pub trait ChatValue: Sized + Clone {
    /// The source's error, which also carries the policy's verdicts.
    type Error: From<InvalidMessage>;
    fn kind(&self) -> Kind;
    /// The name of the value's type, for error messages.
    fn type_name(&self) -> String;
    /// `self[field.key()]` of a map; None when absent.
    fn get(&self, field: Field) -> Result<Option<Self>, Self::Error>;
    /// `f` of the text of `self[field.key()]` when it is a string, else the value itself.
    fn with_str<R>(
        &self,
        field: Field,
        f: impl FnOnce(&str) -> R,
    ) -> Result<Option<Result<R, Self>>, Self::Error> {
        Ok(match self.get(field)? {
            Some(v) if v.kind() == Kind::Str => Some(Ok(f(&v.text()?))),
            other => other.map(Err),
        })
    }
    /// The items of a list.
    fn items(&self) -> Result<Vec<Self>, Self::Error>;
    /// The number of entries of a map.
    fn entry_count(&self) -> usize;
    /// Calls `f` with each (key, value) entry of a map.
    fn for_each_entry(
        &self,
        f: impl FnMut(Self, Self) -> Result<(), Self::Error>,
    ) -> Result<(), Self::Error>;
    /// Whether this is the string `s`.
    fn is_str(&self, s: &str) -> bool {
        self.kind() == Kind::Str && self.text().is_ok_and(|t| t == s)
    }
    /// The text of a string.
    fn text(&self) -> Result<Cow<'_, str>, Self::Error>;
}

/// A message the field policy refuses; the text names the message (and part) at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidMessage {
    /// A field (or the message) of the wrong type.
    WrongType(String),
    /// A field that must be there is not.
    Missing(String),
}

impl std::fmt::Display for InvalidMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvalidMessage::WrongType(m) | InvalidMessage::Missing(m) => f.write_str(m),
        }
    }
}

fn wrong<T, E: From<InvalidMessage>>(message: String) -> Result<T, E> {
    Err(InvalidMessage::WrongType(message).into())
}

fn missing<T, E: From<InvalidMessage>>(message: String) -> Result<T, E> {
    Err(InvalidMessage::Missing(message).into())
}

/// Whether the policy reads this field itself; every other string field counts as sent.
fn known(key: &str) -> bool {
    matches!(
        key,
        "role" | "content" | "name" | "tool_calls" | "function_call"
    )
}

/// The fields of one message that count, checked, still the source's values.
pub struct MessageFields<V> {
    pub role: V,
    pub texts: Vec<V>,
    pub name: Option<V>,
}

/// The same fields as text (borrowed unless the source had to mend it).
pub struct MessageTexts<'a> {
    pub role: Cow<'a, str>,
    pub texts: Vec<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
}

impl MessageTexts<'_> {
    pub fn view(&self) -> MessageText<'_> {
        MessageText {
            role: &self.role,
            content: self.texts.iter().map(|t| t.as_ref()).collect(),
            name: self.name.as_deref(),
        }
    }
}

impl<V: ChatValue> MessageFields<V> {
    pub fn texts(&self) -> Result<MessageTexts<'_>, V::Error> {
        Ok(MessageTexts {
            role: self.role.text()?,
            texts: self.texts.iter().map(V::text).collect::<Result<_, _>>()?,
            name: self.name.as_ref().map(V::text).transpose()?,
        })
    }
}

/// The fields that count of each message, checked in order (see [`message_fields`]).
pub fn fields_of_each<V: ChatValue>(messages: &[V]) -> Result<Vec<MessageFields<V>>, V::Error> {
    let fields = messages.iter().enumerate();
    fields.map(|(i, m)| message_fields(i, m)).collect()
}

/// Tokens of each message, from texts read beforehand: counting then needs nothing of the
/// messages' source (a Python caller's, read with its lock held, counted without).
pub fn each_message_tokens<E>(
    format: ChatFormat,
    messages: &[MessageTexts<'_>],
    mut count: impl FnMut(&str) -> Result<usize, E>,
) -> Result<Vec<i64>, E> {
    let tokens = |m: &MessageTexts<'_>| message_tokens_with(format, &m.view(), &mut count);
    messages.iter().map(tokens).collect()
}

/// Message `i`'s role: the message must be a map with a str `role`.
#[inline]
pub fn message_role<V: ChatValue>(i: usize, msg: &V) -> Result<V, V::Error> {
    if msg.kind() != Kind::Map {
        return wrong(format!(
            "message {i} must be a dict, got {}",
            msg.type_name()
        ));
    }
    let Some(role) = msg.get(Field::Role)? else {
        return missing(format!("message {i} has no 'role'"));
    };
    if role.kind() != Kind::Str {
        return wrong(format!(
            "message {i}: 'role' must be str, got {}",
            role.type_name()
        ));
    }
    Ok(role)
}

/// What message `i`'s role is to pruning, with `message_role`'s checks (read without keeping
/// the role: pruning asks this of every message).
#[inline]
pub fn role_of<V: ChatValue>(i: usize, msg: &V) -> Result<Role, V::Error> {
    if msg.kind() != Kind::Map {
        return message_role(i, msg).map(|_| Role::Other); // its error
    }
    match msg.with_str(Field::Role, Role::of)? {
        Some(Ok(role)) => Ok(role),
        _ => message_role(i, msg).map(|_| Role::Other), // its error
    }
}

/// The fields of message `i` that count, checked: a str `role`; `content` a str or a list of
/// content parts (None or absent only beside tool or function calls); text parts' `text`;
/// tool calls' function names and arguments; a str `name`; and any other string field (such
/// as `tool_call_id`), since it is sent too. Image and other non-text parts add nothing: their
/// cost is not text, and depends on what the message does not carry (an image's size).
pub fn message_fields<V: ChatValue>(i: usize, msg: &V) -> Result<MessageFields<V>, V::Error> {
    let role = message_role(i, msg)?;
    let [content, name, tool_calls, function_call] = [
        Field::Content,
        Field::Name,
        Field::ToolCalls,
        Field::FunctionCall,
    ]
    .map(|f| msg.get(f));
    let (content, name) = (content?, name?);
    let present = |v: Result<Option<V>, V::Error>| -> Result<Option<V>, V::Error> {
        Ok(v?.filter(|v| v.kind() != Kind::Null))
    };
    let (tool_calls, function_call) = (present(tool_calls)?, present(function_call)?);
    // Known fields found (None values included): any other entry is a field to look at.
    let found = 1
        + [&content, &name].iter().filter(|v| v.is_some()).count()
        + usize::from(tool_calls.is_some())
        + usize::from(function_call.is_some());
    let mut texts = Vec::with_capacity(2);
    match content {
        Some(c) if c.kind() == Kind::Str => texts.push(c),
        Some(c) if c.kind() == Kind::List => content_parts(i, &c, &mut texts)?,
        Some(c) if c.kind() != Kind::Null => {
            return wrong(format!(
                "message {i}: 'content' must be str or a list of content parts, got {}",
                c.type_name()
            ))
        }
        _ if tool_calls.is_some() || function_call.is_some() => {}
        _ => return missing(format!("message {i} has no 'content'")),
    }
    if let Some(calls) = tool_calls {
        if calls.kind() != Kind::List {
            return wrong(format!(
                "message {i}: 'tool_calls' must be a list of tool calls, got {}",
                calls.type_name()
            ));
        }
        for (j, call) in calls.items()?.iter().enumerate() {
            if call.kind() != Kind::Map {
                return wrong(format!(
                    "message {i}: tool call {j} must be a dict, got {}",
                    call.type_name()
                ));
            }
            let function = call.get(Field::Function)?.unwrap_or_else(|| call.clone());
            call_texts(i, Some(j), &function, &mut texts)?;
        }
    } else if let Some(f) = function_call {
        call_texts(i, None, &f, &mut texts)?;
    }
    if msg.entry_count() > found {
        msg.for_each_entry(|key, value| {
            if value.kind() == Kind::Str && (key.kind() != Kind::Str || !known(&key.text()?)) {
                texts.push(value);
            }
            Ok(())
        })?;
    }
    let name = match name {
        Some(n) if n.kind() == Kind::Str => Some(n),
        Some(n) if n.kind() != Kind::Null => {
            return wrong(format!(
                "message {i}: 'name' must be str, got {}",
                n.type_name()
            ))
        }
        _ => None,
    };
    Ok(MessageFields { role, texts, name })
}

/// The text parts of a list content; every part must be a map with a str `type`.
fn content_parts<V: ChatValue>(i: usize, content: &V, texts: &mut Vec<V>) -> Result<(), V::Error> {
    for (j, part) in content.items()?.into_iter().enumerate() {
        if part.kind() != Kind::Map {
            return wrong(format!(
                "message {i}: content part {j} must be a dict, got {}",
                part.type_name()
            ));
        }
        match part.get(Field::Type)? {
            Some(t) if t.is_str("text") => {}
            Some(t) if t.kind() == Kind::Str => continue,
            _ => return missing(format!("message {i}: content part {j} has no str 'type'")),
        }
        let Some(text) = part.get(Field::Text)? else {
            return missing(format!("message {i}: content part {j} has no 'text'"));
        };
        if text.kind() != Kind::Str {
            return wrong(format!(
                "message {i}: content part {j} 'text' must be str, got {}",
                text.type_name()
            ));
        }
        texts.push(text);
    }
    Ok(())
}

/// A call's function name and argument text (they travel in the prompt too): message `i`'s
/// tool call `j`, or its `function_call`.
fn call_texts<V: ChatValue>(
    i: usize,
    j: Option<usize>,
    function: &V,
    texts: &mut Vec<V>,
) -> Result<(), V::Error> {
    if function.kind() != Kind::Map {
        let what = j.map_or("'function_call'".into(), |j| format!("tool call {j}"));
        return wrong(format!(
            "message {i}: {what}: the function must be a dict, got {}",
            function.type_name()
        ));
    }
    for field in [Field::Name, Field::Arguments] {
        if let Some(v) = function.get(field)?.filter(|v| v.kind() == Kind::Str) {
            texts.push(v);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- pruning

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

/// The system messages (and reply priming) alone need `tokens`, more than `budget`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemTooLarge {
    pub tokens: i64,
    pub budget: i64,
}

/// The result of pruning: which messages stay (indices, in order) and their token total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    pub kept: Vec<usize>,
    pub tokens: i64,
}

/// Keeps every system message and the longest run of newest other messages that fits in
/// `budget` together with them (reply priming included), less any tool results at the start
/// of that run (the call they answer was dropped).
pub fn prune(
    enc: &Encoding,
    format: ChatFormat,
    messages: &[MessageText<'_>],
    budget: i64,
) -> Result<Pruned, PruneError> {
    let pruned = prune_with(
        messages.len(),
        |i| messages[i].role(),
        |i| message_tokens(enc, format, &messages[i]),
        format,
        budget,
    )?;
    pruned
        .map_err(|SystemTooLarge { tokens, budget }| PruneError::SystemTooLarge { tokens, budget })
}

/// `prune` over messages read through the field policy: every message's role is checked, the
/// rest of a message only when the decision reads it (dropped messages are not read). `count`
/// counts one text.
pub fn prune_messages<V: ChatValue>(
    messages: &[V],
    format: ChatFormat,
    budget: i64,
    mut count: impl FnMut(&str) -> Result<usize, V::Error>,
) -> Result<Result<Pruned, SystemTooLarge>, V::Error> {
    let mut roles = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        roles.push(role_of(i, m)?);
    }
    prune_with(
        messages.len(),
        |i| roles[i],
        |i| {
            let fields = message_fields(i, &messages[i])?;
            message_tokens_with(format, &fields.texts()?.view(), &mut count)
        },
        format,
        budget,
    )
}

/// `prune` over any source of messages: `role(i)` and `tokens(i)` are asked only for the
/// messages the decision needs. Walks from the newest message back and stops at the first that
/// does not fit, so the cost grows with what is kept, not with the length of the conversation.
pub fn prune_with<E>(
    len: usize,
    role: impl Fn(usize) -> Role,
    mut tokens: impl FnMut(usize) -> Result<i64, E>,
    format: ChatFormat,
    budget: i64,
) -> Result<Result<Pruned, SystemTooLarge>, E> {
    let is_system = |i| role(i) == Role::System;
    let mut fixed = format.reply_priming;
    for i in (0..len).filter(|&i| is_system(i)) {
        fixed += tokens(i)?;
    }
    if fixed > budget {
        return Ok(Err(SystemTooLarge {
            tokens: fixed,
            budget,
        }));
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
    // The run never starts with the answer to a call it no longer holds.
    while cut < len && role(cut) != Role::Other {
        if role(cut) == Role::ToolResult {
            total -= tokens(cut)?;
        }
        cut += 1;
    }
    let kept = (0..len).filter(|&i| i >= cut || is_system(i)).collect();
    Ok(Ok(Pruned {
        kept,
        tokens: total,
    }))
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

    /// A JSON-like value, standing in for the Python objects the bindings read.
    #[derive(Debug, Clone)]
    enum J {
        S(&'static str),
        Null,
        Int,
        L(Vec<J>),
        M(Vec<(&'static str, J)>),
    }

    impl ChatValue for J {
        type Error = InvalidMessage;
        fn kind(&self) -> Kind {
            match self {
                J::S(_) => Kind::Str,
                J::Null => Kind::Null,
                J::Int => Kind::Other,
                J::L(_) => Kind::List,
                J::M(_) => Kind::Map,
            }
        }
        fn type_name(&self) -> String {
            match self {
                J::S(_) => "str",
                J::Null => "NoneType",
                J::Int => "int",
                J::L(_) => "list",
                J::M(_) => "dict",
            }
            .into()
        }
        fn get(&self, field: Field) -> Result<Option<J>, InvalidMessage> {
            let key = field.key();
            let J::M(entries) = self else {
                panic!("get on {self:?}")
            };
            Ok(entries
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone()))
        }
        fn items(&self) -> Result<Vec<J>, InvalidMessage> {
            let J::L(items) = self else {
                panic!("items of {self:?}")
            };
            Ok(items.clone())
        }
        fn entry_count(&self) -> usize {
            let J::M(entries) = self else {
                panic!("len of {self:?}")
            };
            entries.len()
        }
        fn for_each_entry(
            &self,
            mut f: impl FnMut(J, J) -> Result<(), InvalidMessage>,
        ) -> Result<(), InvalidMessage> {
            let J::M(entries) = self else {
                panic!("entries of {self:?}")
            };
            entries.iter().try_for_each(|(k, v)| f(J::S(k), v.clone()))
        }

        fn text(&self) -> Result<Cow<'_, str>, InvalidMessage> {
            let J::S(t) = self else {
                panic!("text of {self:?}")
            };
            Ok(Cow::Borrowed(t))
        }
    }

    fn m(entries: Vec<(&'static str, J)>) -> J {
        J::M(entries)
    }

    /// The texts that count in a message: role, the rest sorted, and the name.
    fn texts(msg: &J) -> Result<(String, Vec<String>, Option<String>), InvalidMessage> {
        let f = message_fields(0, msg)?;
        let t = f.texts()?;
        let mut rest: Vec<String> = t.texts.iter().map(|s| s.to_string()).collect();
        rest.sort();
        Ok((t.role.into(), rest, t.name.map(Into::into)))
    }

    #[test]
    fn system_roles_and_formats_have_one_home() {
        assert!(is_system_role("system") && is_system_role("developer"));
        assert!(!is_system_role("user") && !is_system_role("System"));
        let dev = m(vec![("role", J::S("developer")), ("content", J::S("x"))]);
        assert_eq!(role_of(0, &dev).unwrap(), Role::System);
        assert_eq!(Role::of("tool"), Role::ToolResult);
        assert_eq!(Role::of("function"), Role::ToolResult);
        assert_eq!(Role::of("assistant"), Role::Other);
        assert_eq!(
            ChatFormat::for_model("gpt-3.5-turbo-0301"),
            ChatFormat::GPT35_0301
        );
        assert_eq!(ChatFormat::for_model("gpt-4o"), ChatFormat::CURRENT);
    }

    #[test]
    fn the_fields_that_count() {
        let plain = m(vec![
            ("role", J::S("user")),
            ("content", J::S("hi")),
            ("name", J::S("bob")),
        ]);
        assert_eq!(
            texts(&plain).unwrap(),
            ("user".into(), vec!["hi".into()], Some("bob".into()))
        );
        // Text parts count; image parts add nothing; a None name is no name.
        let parts = m(vec![
            ("role", J::S("user")),
            (
                "content",
                J::L(vec![
                    m(vec![("type", J::S("text")), ("text", J::S("a"))]),
                    m(vec![
                        ("type", J::S("image_url")),
                        ("image_url", m(vec![("url", J::S("u"))])),
                    ]),
                    m(vec![("type", J::S("text")), ("text", J::S("b"))]),
                ]),
            ),
            ("name", J::Null),
        ]);
        assert_eq!(
            texts(&parts).unwrap(),
            ("user".into(), vec!["a".into(), "b".into()], None)
        );
        // Tool calls count their function's name and arguments; other string fields count.
        let calls = m(vec![
            ("role", J::S("assistant")),
            ("content", J::Null),
            (
                "tool_calls",
                J::L(vec![m(vec![
                    ("id", J::S("call_1")),
                    (
                        "function",
                        m(vec![("name", J::S("f")), ("arguments", J::S("{}"))]),
                    ),
                ])]),
            ),
        ]);
        assert_eq!(texts(&calls).unwrap().1, vec!["f", "{}"]);
        let result = m(vec![
            ("role", J::S("tool")),
            ("content", J::S("42")),
            ("tool_call_id", J::S("call_1")),
            ("extra", J::Int),
        ]);
        assert_eq!(texts(&result).unwrap().1, vec!["42", "call_1"]);
        let legacy = m(vec![
            ("role", J::S("assistant")),
            (
                "function_call",
                m(vec![("name", J::S("g")), ("arguments", J::S("[]"))]),
            ),
        ]);
        assert_eq!(texts(&legacy).unwrap().1, vec!["[]", "g"]);
    }

    #[test]
    fn refused_messages_say_which_and_why() {
        let role = |r: J| ("role", r);
        let user = || role(J::S("user"));
        let cases: Vec<(J, &str)> = vec![
            (J::S("hi"), "message 0 must be a dict, got str"),
            (m(vec![("content", J::S("x"))]), "message 0 has no 'role'"),
            (
                m(vec![role(J::Int), ("content", J::S("x"))]),
                "message 0: 'role' must be str, got int",
            ),
            (m(vec![user()]), "message 0 has no 'content'"),
            (
                m(vec![user(), ("content", J::Null)]),
                "message 0 has no 'content'",
            ),
            (
                m(vec![user(), ("content", J::Int)]),
                "'content' must be str or a list of content parts, got int",
            ),
            (
                m(vec![user(), ("content", J::L(vec![J::S("x")]))]),
                "content part 0 must be a dict, got str",
            ),
            (
                m(vec![
                    user(),
                    ("content", J::L(vec![m(vec![("text", J::S("x"))])])),
                ]),
                "content part 0 has no str 'type'",
            ),
            (
                m(vec![
                    user(),
                    ("content", J::L(vec![m(vec![("type", J::S("text"))])])),
                ]),
                "content part 0 has no 'text'",
            ),
            (
                m(vec![
                    user(),
                    (
                        "content",
                        J::L(vec![m(vec![("type", J::S("text")), ("text", J::Int)])]),
                    ),
                ]),
                "content part 0 'text' must be str, got int",
            ),
            (
                m(vec![user(), ("content", J::S("x")), ("name", J::Int)]),
                "'name' must be str, got int",
            ),
            (
                m(vec![user(), ("tool_calls", J::S("bad"))]),
                "'tool_calls' must be a list of tool calls, got str",
            ),
            (
                m(vec![user(), ("tool_calls", J::L(vec![J::Int]))]),
                "tool call 0 must be a dict, got int",
            ),
            (
                m(vec![
                    user(),
                    ("tool_calls", J::L(vec![m(vec![("function", J::S("f"))])])),
                ]),
                "tool call 0: the function must be a dict, got str",
            ),
            (
                m(vec![user(), ("function_call", J::S("f"))]),
                "'function_call': the function must be a dict, got str",
            ),
        ];
        for (msg, want) in cases {
            let got = message_fields(0, &msg)
                .err()
                .unwrap_or_else(|| panic!("accepted {msg:?}"));
            assert!(got.to_string().contains(want), "{got} lacks {want}");
        }
        let got = message_fields(0, &m(vec![user()])).err().unwrap();
        assert!(matches!(got, InvalidMessage::Missing(_)));
        let got = message_fields(0, &J::Int).err().unwrap();
        assert!(matches!(got, InvalidMessage::WrongType(_)));
    }

    #[test]
    fn pruning_never_starts_with_a_result_whose_call_was_dropped() {
        let enc = builtin::get("cl100k_base").unwrap();
        let msgs = vec![
            msg("system", "Be brief."),
            msg("user", "weather?"),
            msg("assistant", "calling get_weather"),
            msg("tool", "sunny"),
            msg("function", "warm"),
            msg("user", "thanks"),
        ];
        let each: Vec<i64> = msgs
            .iter()
            .map(|m| message_tokens(enc, ChatFormat::CURRENT, m).unwrap())
            .collect();
        let fixed = 3 + each[0];
        // Room down to the first tool result, not its call: both results go too.
        let budget = fixed + each[3] + each[4] + each[5];
        let p = prune(enc, ChatFormat::CURRENT, &msgs, budget).unwrap();
        assert_eq!(p.kept, vec![0, 5]);
        assert_eq!(p.tokens, fixed + each[5]);
        // With room for the call, the whole exchange stays.
        let p = prune(enc, ChatFormat::CURRENT, &msgs, budget + each[2]).unwrap();
        assert_eq!(p.kept, vec![0, 2, 3, 4, 5]);
    }

    #[test]
    fn each_message_counts_from_texts_read_beforehand() {
        let msgs = vec![
            m(vec![
                ("role", J::S("system")),
                ("content", J::S("be brief")),
            ]),
            m(vec![
                ("role", J::S("user")),
                ("content", J::S("hi")),
                ("name", J::S("bob")),
            ]),
        ];
        let fields = fields_of_each(&msgs).unwrap();
        let texts = fields
            .iter()
            .map(|f| f.texts())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let words = |t: &str| Ok::<_, ()>(t.split(' ').count());
        let format = ChatFormat::CURRENT;
        // 3 a message, 1 a name: system 3 + 1 + 2; user 3 + 1 + 1 + (1 + 1).
        assert_eq!(each_message_tokens(format, &texts, words), Ok(vec![6, 7]));
        assert_eq!(each_message_tokens(format, &[], words), Ok(vec![]));
        let failed =
            each_message_tokens(
                format,
                &texts,
                |t| if t == "hi" { Err(t.len()) } else { Ok(1) },
            );
        assert_eq!(failed, Err(2));
        // The first message refused names itself.
        let bad = vec![msgs[0].clone(), m(vec![("role", J::S("user"))])];
        let err = fields_of_each(&bad).err().unwrap();
        assert_eq!(
            err,
            InvalidMessage::Missing("message 1 has no 'content'".into())
        );
    }

    #[test]
    fn pruning_messages_reads_only_what_it_keeps() {
        let msgs = vec![
            m(vec![("role", J::S("system")), ("content", J::S("rules"))]),
            // Older than the cut: never read past its role, so its bad content is no error.
            m(vec![("role", J::S("user")), ("content", J::Int)]),
            m(vec![
                ("role", J::S("user")),
                ("content", J::S("a long message")),
            ]),
            m(vec![("role", J::S("assistant")), ("content", J::S("b"))]),
        ];
        let mut read = Vec::new();
        let one = |t: &str| t.split(' ').count();
        let format = ChatFormat::CURRENT;
        // system: 3 + 1 + 1, priming 3 = 8; newest: 3 + 1 + 1 = 5; the one before: 3 + 1 + 3.
        let p = prune_messages(&msgs, format, 13, |t| {
            read.push(t.to_string());
            Ok(one(t))
        })
        .unwrap()
        .unwrap();
        assert_eq!(
            p,
            Pruned {
                kept: vec![0, 3],
                tokens: 13
            }
        );
        assert_eq!(
            read,
            [
                "system",
                "rules",
                "assistant",
                "b",
                "user",
                "a long message"
            ]
        );
        // With room for message 2, message 1 must be read to decide: then its content counts.
        let err = prune_messages(&msgs, format, 20, |t| Ok(one(t))).unwrap_err();
        assert!(err.to_string().contains("message 1: 'content'"));
        let too_small = prune_messages(&msgs, format, 7, |t| Ok(one(t))).unwrap();
        assert_eq!(
            too_small,
            Err(SystemTooLarge {
                tokens: 8,
                budget: 7
            })
        );
        // Every role is checked, kept or not.
        let bad_role = vec![m(vec![("content", J::S("x"))]), msgs[3].clone()];
        assert!(prune_messages(&bad_role, format, 1000, |t| Ok(one(t))).is_err());
    }
}
