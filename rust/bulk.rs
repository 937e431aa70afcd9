//! Bulk token counting for pipelines: files and directory trees counted in parallel, streams of
//! any size counted in bounded memory, and string columns laid out as Arrow or NumPy lay them.
//!
//! Each submodule has one job:
//! - [`cut`]: where text may be cut without changing its token count;
//! - [`stream`]: UTF-8 decoding and counting of a byte stream, chunk by chunk;
//! - [`fed`]: a stream counter fed one call at a time, which remembers a refusal;
//! - [`walk`]: the files under paths, filtered by include and exclude globs;
//! - [`files`]: many files counted on Rust threads, with progress and cancellation;
//! - [`columns`]: string columns (Arrow offsets and views, NumPy UCS-4) counted in parallel;
//! - [`arrow`]: Arrow arrays and streams read through the C Data Interface, in place.

pub mod arrow;
pub mod columns;
pub mod cut;
pub mod fed;
pub mod files;
pub mod stream;
pub mod walk;

/// An option a caller gave that cannot be used; the text names the option and what it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadOption(pub String);

impl std::fmt::Display for BadOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadOption {}
