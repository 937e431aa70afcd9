//! Many files counted on Rust threads, in bounded memory, with progress and cancellation.
//!
//! Small files are counted in parallel, one per thread, each read and counted in one go. Large
//! files (two blocks or more) come after, one at a time, each read block by block and its
//! chunks counted in parallel: memory stays near a few blocks per thread whatever the sizes.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use rayon::prelude::*;

use super::stream::{Counted, StreamCounter, StreamError, StreamOptions};
use super::walk::{io_message, Found};
use super::BadOption;
use crate::encoding::Encoding;
use crate::threads::{pool, run_watched, Stopped, ThreadsError};

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

/// A file's result as a row: (status, tokens, bytes, message), status one of "ok", "binary",
/// "undecodable", "unreadable", "failed" and "cancelled"; the message says why a file was not
/// counted (empty for "ok").
pub type Row = (&'static str, u64, u64, String);

/// The row of a file's result.
pub fn row(result: Result<Counted, FileError>) -> Row {
    match result {
        Ok(c) => ("ok", c.tokens, c.bytes, String::new()),
        Err(FileError::Skipped(e @ StreamError::Binary)) => ("binary", 0, 0, e.to_string()),
        Err(FileError::Skipped(e @ StreamError::Undecodable { .. })) => {
            ("undecodable", 0, 0, e.to_string())
        }
        Err(FileError::Skipped(StreamError::Encode(e))) => ("failed", 0, 0, e.to_string()),
        Err(FileError::Unreadable(m)) => ("unreadable", 0, 0, m),
        Err(FileError::Failed(m)) => ("failed", 0, 0, m),
        Err(FileError::Cancelled) => ("cancelled", 0, 0, "cancelled".into()),
    }
}

/// The files to count: `paths` with the `sizes` given (one per path), or else with each file's
/// size now (0 when it cannot be had: counting the file then says why).
pub fn with_sizes(paths: Vec<PathBuf>, sizes: Option<Vec<u64>>) -> Result<Vec<Found>, BadOption> {
    let sizes = match sizes {
        Some(s) if s.len() != paths.len() => {
            return Err(BadOption("sizes must have one entry per path".into()))
        }
        Some(s) => s,
        None => paths
            .iter()
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
            .collect(),
    };
    let found = paths.into_iter().zip(sizes);
    Ok(found.map(|(path, size)| Found { path, size }).collect())
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

/// Counts one file (or anything `open` can read: a pipe, `/dev/stdin`). A pipe with no writer
/// is waited for, as `cat` waits, but never out of reach of [`Progress::cancel`].
pub fn count_file(
    enc: &Encoding,
    path: &Path,
    size_hint: u64,
    opts: &FileOptions,
    progress: &Progress,
) -> Result<Counted, FileError> {
    let unreadable = |e: std::io::Error| FileError::Unreadable(io_message(&e));
    let mut source = Source::open(path).map_err(unreadable)?;
    let mut counter = StreamCounter::new(enc, opts.stream);
    let block = opts.block_bytes.max(1);
    // One read more than the size finds the end without a second buffer's worth of zeroes.
    let mut buf = vec![0u8; block.min(size_hint.saturating_add(1).max(8192) as usize)];
    loop {
        let n = match source.read(&mut buf, progress)? {
            0 => break,
            n => n,
        };
        counter.feed(&buf[..n])?;
        progress.bytes.fetch_add(n as u64, Ordering::Relaxed);
        if n == buf.len() && buf.len() < block {
            buf.resize(block, 0);
        }
    }
    Ok(counter.finish()?)
}

/// How often a read waiting on a pipe or device looks at the cancellation flag.
const POLL_MS: i32 = 100;

/// A file to read: a regular file, read as usual, or a pipe or device, which may block for
/// ever (a pipe without a writer, a terminal), opened without blocking and read when ready.
enum Source {
    File(File),
    #[cfg(unix)]
    Polled(File),
}

impl Source {
    fn open(path: &Path) -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            let md = std::fs::metadata(path)?;
            if !md.is_file() && !md.is_dir() {
                // Opening a pipe for reading blocks until a writer opens it; without blocking,
                // it returns at once and poll() below waits for the writer's data or its end.
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(path)?;
                return Ok(Source::Polled(f));
            }
        }
        File::open(path).map(Source::File)
    }

    /// The next bytes (0 at the end), or Cancelled once the run is cancelled.
    fn read(&mut self, buf: &mut [u8], progress: &Progress) -> Result<usize, FileError> {
        loop {
            if progress.is_cancelled() {
                return Err(FileError::Cancelled);
            }
            let f = match self {
                Source::File(f) => f,
                #[cfg(unix)]
                Source::Polled(f) => {
                    if !ready(f)? {
                        continue;
                    }
                    f
                }
            };
            match f.read(buf) {
                Ok(n) => return Ok(n),
                Err(e)
                    if e.kind() == ErrorKind::Interrupted || e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(FileError::Unreadable(io_message(&e))),
            }
        }
    }
}

/// Waits up to [`POLL_MS`] for a pipe or device to have data or reach its end. A pipe opened
/// before any writer reports neither until a writer comes (Linux and the BSDs hold back the
/// hang-up until then), so a read never mistakes "no writer yet" for the end.
#[cfg(unix)]
fn ready(f: &File) -> Result<bool, FileError> {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd {
        fd: f.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, for a descriptor `f` keeps open.
    match unsafe { libc::poll(&mut fd, 1, POLL_MS) } {
        0 => Ok(false),
        n if n > 0 => Ok(true),
        _ => {
            let e = std::io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(FileError::Unreadable(io_message(&e)))
            }
        }
    }
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

/// [`count_files`] on the pool for `threads`, while this thread calls `report(files_done,
/// bytes_read)` every [`WATCH_INTERVAL`](crate::threads::WATCH_INTERVAL) and once at the end.
/// An error from `report` (a failed progress callback, Ctrl-C) stops the counting threads, a
/// pipe being read included, and is returned.
pub fn count_files_reported<E: From<ThreadsError>>(
    threads: Option<usize>,
    enc: &Encoding,
    files: &[Found],
    opts: &FileOptions,
    mut report: impl FnMut(usize, u64) -> Result<(), E>,
) -> Result<Vec<Result<Counted, FileError>>, Stopped<E>> {
    let pool = pool(threads).map_err(|e| Stopped::Failed(e.into()))?;
    let progress = Progress::default();
    let results = run_watched(
        &pool,
        |_| count_files(enc, files, opts, &progress),
        || report(progress.files(), progress.bytes()).inspect_err(|_| progress.cancel()),
    )?;
    report(progress.files(), progress.bytes()).map_err(Stopped::Watcher)?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;
    use crate::bulk::stream::Undecodable;

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
    fn results_become_rows() {
        let counted = Counted {
            tokens: 3,
            bytes: 9,
        };
        assert_eq!(row(Ok(counted)), ("ok", 3, 9, String::new()));
        let skipped = |e| row(Err(FileError::Skipped(e)));
        assert_eq!(skipped(StreamError::Binary).0, "binary");
        assert_eq!(
            skipped(StreamError::Undecodable { offset: 4 }),
            (
                "undecodable",
                0,
                0,
                "not UTF-8 (first bad byte at offset 4)".into()
            )
        );
        let missing = crate::encoding::EncodeError::MissingByte(0xff);
        assert_eq!(
            skipped(StreamError::Encode(missing)),
            (
                "failed",
                0,
                0,
                "the vocabulary has no token for the byte 0xff".into()
            )
        );
        assert_eq!(
            row(Err(FileError::Unreadable("gone".into()))),
            ("unreadable", 0, 0, "gone".into())
        );
        assert_eq!(row(Err(FileError::Failed("bad".into()))).0, "failed");
        assert_eq!(row(Err(FileError::Cancelled)).3, "cancelled");
    }

    #[test]
    fn sizes_are_taken_as_given_or_looked_up() {
        let p = temp_file("sizes", b"12345");
        let missing = PathBuf::from("/nonexistent/devsynth");
        let paths = vec![p.clone(), missing.clone()];
        let got = with_sizes(paths.clone(), None).unwrap();
        assert_eq!((got[0].size, got[1].size), (5, 0));
        assert_eq!((&got[0].path, &got[1].path), (&p, &missing));
        let given = with_sizes(paths.clone(), Some(vec![7, 8])).unwrap();
        assert_eq!((given[0].size, given[1].size), (7, 8));
        assert_eq!(
            with_sizes(paths, Some(vec![1])),
            Err(BadOption("sizes must have one entry per path".into()))
        );
        std::fs::remove_file(p).unwrap();
    }

    fn mkfifo(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "devsynth-fifo-{tag}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        p
    }

    #[test]
    fn a_pipe_without_a_writer_waits_but_can_be_cancelled() {
        let enc = builtin::get("o200k_base").unwrap();
        let fifo = mkfifo("nowriter");
        let progress = Progress::default();
        let started = std::time::Instant::now();
        let got = std::thread::scope(|s| {
            let reader = s.spawn(|| count_file(enc, &fifo, 0, &FileOptions::default(), &progress));
            std::thread::sleep(Duration::from_millis(300));
            assert!(!reader.is_finished(), "waits for a writer, as cat does");
            progress.cancel();
            reader.join().unwrap()
        });
        assert_eq!(got, Err(FileError::Cancelled));
        assert!(started.elapsed() < Duration::from_secs(3));
        std::fs::remove_file(fifo).unwrap();
    }

    #[test]
    fn a_pipe_is_read_to_its_writers_end() {
        let enc = builtin::get("o200k_base").unwrap();
        let fifo = mkfifo("writer");
        let text = "Piped words, written slowly.\n".repeat(500);
        let got = std::thread::scope(|s| {
            let reader = s
                .spawn(|| count_file(enc, &fifo, 0, &FileOptions::default(), &Progress::default()));
            // The writer comes late and writes in two parts.
            std::thread::sleep(Duration::from_millis(150));
            let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            std::io::Write::write_all(&mut w, &text.as_bytes()[..100]).unwrap();
            std::thread::sleep(Duration::from_millis(150));
            std::io::Write::write_all(&mut w, &text.as_bytes()[100..]).unwrap();
            drop(w);
            reader.join().unwrap()
        });
        let counted = got.unwrap();
        assert_eq!(counted.tokens, enc.count_ordinary(&text).unwrap() as u64);
        assert_eq!(counted.bytes, text.len() as u64);
        std::fs::remove_file(fifo).unwrap();
    }

    #[test]
    fn a_reported_run_reports_its_progress_and_stops_when_the_report_fails() {
        let enc = builtin::get("o200k_base").unwrap();
        let text = "word ".repeat(1000);
        let p = temp_file("reported", text.as_bytes());
        let files = [found(&p), found(&p)];
        let mut reports = Vec::new();
        let got = count_files_reported(Some(2), enc, &files, &FileOptions::default(), |n, b| {
            reports.push((n, b));
            Ok::<_, String>(())
        })
        .unwrap();
        assert_eq!(got.len(), 2);
        let tokens = enc.count_ordinary(&text).unwrap() as u64;
        assert!(got.iter().all(|r| r.as_ref().unwrap().tokens == tokens));
        // The last report has the totals.
        assert_eq!(reports.last(), Some(&(2, 2 * text.len() as u64)));
        std::fs::remove_file(p).unwrap();

        // A pipe without a writer would be waited for: a failing report stops it.
        let fifo = mkfifo("reported");
        let started = std::time::Instant::now();
        let got = count_files_reported(
            Some(2),
            enc,
            &[found(&fifo)],
            &FileOptions::default(),
            |_, _| match started.elapsed() > Duration::from_millis(200) {
                true => Err("interrupted".to_string()),
                false => Ok(()),
            },
        );
        assert!(matches!(got, Err(Stopped::Watcher(ref m)) if m == "interrupted"));
        assert!(started.elapsed() < Duration::from_secs(3));
        std::fs::remove_file(fifo).unwrap();
        // A thread count that cannot be had is the caller's error.
        let got = count_files_reported(
            Some(usize::MAX),
            enc,
            &[],
            &FileOptions::default(),
            |_, _| Ok::<_, String>(()),
        );
        assert!(matches!(got, Err(Stopped::Failed(ref m)) if m.contains("at most")));
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
