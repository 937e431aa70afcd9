//! devsynth-llm's core: exact tiktoken-compatible BPE tokenization, chat token counting and
//! pruning, and hash embeddings. Pure Rust; the Python bindings live in `py.rs` alone.

pub mod pretokenize;
pub mod unicode;
