//! devsynth-llm's core: exact tiktoken-compatible BPE tokenization, chat token counting and
//! pruning, bulk counting and hash embeddings. Pure Rust; the Python bindings (the `python`
//! feature) live under `py/` and only convert types, release the GIL and map errors.

pub mod bpe;
pub mod builtin;
pub mod bulk;
pub mod chat;
pub mod cpu;
pub mod embed;
pub mod encoding;
pub mod flat;
pub mod handle;
pub mod piece_cache;
pub mod pretokenize;
pub mod threads;
pub mod transcode;
pub mod unicode;
pub mod vocab;
pub mod zeroed;

/// The fuzz targets' checks (see `fuzz/`), replayed on the saved corpus by `cargo test`.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

#[cfg(feature = "python")]
pub mod py;

/// The property tests' case counts, scaled down under emulation (scripts/test-aarch64.sh).
#[cfg(test)]
mod test_cases;
