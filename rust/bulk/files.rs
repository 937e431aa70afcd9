//! Many files counted on Rust threads, in bounded memory, with progress and cancellation.
//!
//! Small files are counted in parallel, one per thread, each read and counted in one go. Large
//! files (two blocks or more) come after, one at a time, each read block by block and its
//! chunks counted in parallel: memory stays near a few blocks per thread whatever the sizes.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use rayon::prelude::*;

use super::stream::{Counted, StreamCounter, StreamError, StreamOptions};
use super::walk::{io_message, Found};
use crate::encoding::Encoding;

/// Bytes read at a time from a file by default.
pub const DEFAULT_BLOCK_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileOptions {
    pub stream: StreamOptions,
    pub block_bytes: usize,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            stream: StreamOptions::default(),
            block_bytes: DEFAULT_BLOCK_BYTES,
        }
    }
}

/// Why a file was not counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    /// Skipped: binary, or not UTF-8 when refusing undecodable bytes.
    Skipped(StreamError),
    /// Could not be opened or read.
    Unreadable(String),
    /// The encoding failed on its text.
    Failed(String),
    /// The run was cancelled before this file was done.
    Cancelled,
}

impl From<StreamError> for FileError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Encode(e) => FileError::Failed(e.to_string()),
            other => FileError::Skipped(other),
        }
    }
}

/// Shared between the counting threads and whoever watches them.
#[derive(Debug, Default)]
pub struct Progress {
    files: AtomicUsize,
    bytes: AtomicU64,
    cancelled: AtomicBool,
    finished: Mutex<bool>,
    done: Condvar,
}

impl Progress {
    /// Files finished (counted or not).
    pub fn files(&self) -> usize {
        self.files.load(Ordering::Relaxed)
    }

    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Asks the threads to stop soon; files not done come back [`FileError::Cancelled`].
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Marks the run finished and wakes the waiters.
    pub fn finish(&self) {
        *self.finished.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.done.notify_all();
    }

    /// Waits up to `timeout` for the run to finish; true once it has.
    pub fn wait(&self, timeout: Duration) -> bool {
        let finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        let (finished, _) = self
            .done
            .wait_timeout_while(finished, timeout, |f| !*f)
            .unwrap_or_else(|p| p.into_inner());
        *finished
    }
}

/// Counts one file (or anything `open` can read: a pipe, `/dev/stdin`).
pub fn count_file(
    enc: &Encoding,
    path: &Path,
    size_hint: u64,
    opts: &FileOptions,
    progress: &Progress,
) -> Result<Counted, FileError> {
    let mut file = File::open(path).map_err(|e| FileError::Unreadable(io_message(&e)))?;
    let mut counter = StreamCounter::new(enc, opts.stream);
    let block = opts.block_bytes.max(1);
    // One read more than the size finds the end without a second buffer's worth of zeroes.
    let mut buf = vec![0u8; block.min(size_hint.saturating_add(1).max(8192) as usize)];
    loop {
        if progress.is_cancelled() {
            return Err(FileError::Cancelled);
        }
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(FileError::Unreadable(io_message(&e))),
        };
        counter.feed(&buf[..n])?;
        progress.bytes.fetch_add(n as u64, Ordering::Relaxed);
        if n == buf.len() && buf.len() < block {
            buf.resize(block, 0);
        }
    }
    Ok(counter.finish()?)
}

/// Counts files on the current Rayon pool; results in the order of `files`. Calls
/// [`Progress::finish`] at the end.
pub fn count_files(
    enc: &Encoding,
    files: &[Found],
    opts: &FileOptions,
    progress: &Progress,
) -> Vec<Result<Counted, FileError>> {
    let block = opts.block_bytes.max(1) as u64;
    let is_large = |f: &Found| f.size >= 2 * block;
    let one = |f: &Found, opts: &FileOptions| {
        let r = count_file(enc, &f.path, f.size, opts, progress);
        progress.files.fetch_add(1, Ordering::Relaxed);
        r
    };
    let small_opts = FileOptions {
        stream: StreamOptions {
            parallel: false,
            ..opts.stream
        },
        ..*opts
    };
    let mut out: Vec<Option<Result<Counted, FileError>>> = files
        .par_iter()
        .with_max_len(1)
        .map(|f| (!is_large(f)).then(|| one(f, &small_opts)))
        .collect();
    // Large files: chunks in parallel, so read enough per block to keep every thread busy.
    let threads = rayon::current_num_threads().max(1);
    let large_opts = FileOptions {
        block_bytes: opts
            .block_bytes
            .max(opts.stream.chunk_bytes.saturating_mul(threads))
            .min(16 * 1024 * 1024),
        ..*opts
    };
    for (slot, f) in out.iter_mut().zip(files) {
        if slot.is_none() {
            *slot = Some(one(f, &large_opts));
        }
    }
    progress.finish();
    out.into_iter()
        .map(|r| r.unwrap_or(Err(FileError::Cancelled)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;
    use crate::bulk::stream::Undecodable;
    use std::path::PathBuf;

    fn temp_file(tag: &str, data: &[u8]) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "devsynth-files-{tag}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::write(&p, data).unwrap();
        p
    }

    fn found(p: &Path) -> Found {
        Found {
            path: p.to_path_buf(),
            size: std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
        }
    }

    #[test]
    fn small_and_large_files_count_as_whole_texts_in_order() {
        let enc = builtin::get("cl100k_base").unwrap();
        let prose = "It's 2024: we've counted 12345 tokens.\n  Indented line\tand tabs\n";
        let large = prose.repeat(3000);
        let paths = [
            temp_file("a", prose.as_bytes()),
            temp_file("b", large.as_bytes()),
            temp_file("c", b"bin\0ary"),
            temp_file("d", b"caf\xe9"),
            PathBuf::from("/nonexistent/devsynth"),
        ];
        let files: Vec<Found> = paths.iter().map(|p| found(p)).collect();
        let opts = FileOptions {
            stream: StreamOptions {
                chunk_bytes: 1000,
                ..StreamOptions::default()
            },
            block_bytes: 4096,
        };
        let progress = Progress::default();
        let got = count_files(enc, &files, &opts, &progress);
        assert!(progress.wait(Duration::from_millis(1)));
        assert_eq!(progress.files(), 5);
        assert_eq!(progress.bytes(), (prose.len() + large.len() + 4) as u64);
        let tokens = |t: &str| enc.count_ordinary(t).unwrap() as u64;
        assert_eq!(got[0].as_ref().unwrap().tokens, tokens(prose));
        assert_eq!(got[1].as_ref().unwrap().tokens, tokens(&large));
        assert_eq!(got[1].as_ref().unwrap().bytes, large.len() as u64);
        assert_eq!(got[2], Err(FileError::Skipped(StreamError::Binary)));
        assert_eq!(got[3].as_ref().unwrap().tokens, tokens("caf\u{FFFD}"));
        assert_eq!(
            got[4],
            Err(FileError::Unreadable("No such file or directory".into()))
        );
        let strict = FileOptions {
            stream: StreamOptions {
                undecodable: Undecodable::Refuse,
                ..opts.stream
            },
            ..opts
        };
        assert_eq!(
            count_file(enc, &paths[3], 4, &strict, &Progress::default()),
            Err(FileError::Skipped(StreamError::Undecodable { offset: 3 }))
        );
        for p in &paths[..4] {
            std::fs::remove_file(p).unwrap();
        }
    }

    #[test]
    fn a_cancelled_run_stops_early() {
        let enc = builtin::get("o200k_base").unwrap();
        let p = temp_file("cancel", "word ".repeat(10_000).as_bytes());
        let progress = Progress::default();
        progress.cancel();
        let got = count_files(enc, &[found(&p)], &FileOptions::default(), &progress);
        assert_eq!(got, vec![Err(FileError::Cancelled)]);
        std::fs::remove_file(p).unwrap();
    }
}
