//! Thread pools for parallel work, and how that work is watched and stopped.
//!
//! One home for the rules every parallel call follows:
//! - **Thread counts** are checked here: at least 1, at most [`MAX_THREADS`]; `None` means one
//!   thread per core (or `RAYON_NUM_THREADS`, as before these pools).
//! - **A bounded set of pools**: building a pool starts its threads, so pools are kept for reuse,
//!   but at most [`KEPT_POOLS`] of them (the least recently used is dropped first, and its
//!   threads end once the calls using it are done). Calls with many different thread counts do
//!   not pile up threads.
//! - **Fork safety**: a child made by `fork()` inherits the pools' memory but none of their
//!   threads, so work sent to an inherited pool would wait forever. A `pthread_atfork` handler
//!   counts forks; a process that finds the count changed forgets every inherited pool (leaked,
//!   never dropped: dropping would signal threads that do not exist) and builds new ones. Rayon's
//!   global pool cannot be rebuilt that way, so it is never used: the default thread count gets
//!   a pool of its own here too.
//! - **Watching**: [`run_watched`] runs work on a pool while the calling thread checks, every
//!   [`WATCH_INTERVAL`], whether to stop (Ctrl-C, in the bindings); the work sees a [`Cancel`]
//!   flag between items and stops early. [`run_pipelined`] also hands each finished task's
//!   results to the calling thread while the rest run (output only one thread can build).
//! - **Splitting one text**: [`parts_for`] decides how many parts a text is cut into for a
//!   thread count (`encoding::Specials::parts` keeps a text whole where special tokens are
//!   allowed); [`map_shared`] works through the parts on the calling thread and a pool's
//!   threads, and [`pool_for_parts`] gives a pool only when there are several.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rayon::ThreadPool;

/// The most threads one call may ask for. More than this is a mistake (a typo, an unsigned
/// wrap-around), not a wish: a machine with this many cores is rare, and idle threads cost.
pub const MAX_THREADS: usize = 1024;

/// How many pools are kept for reuse.
pub const KEPT_POOLS: usize = 4;

/// How often the calling thread checks whether to stop the work it waits for.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// Why a pool could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadsError {
    /// Zero threads.
    Zero,
    /// More than [`MAX_THREADS`].
    TooMany(usize),
    /// The operating system refused to start the threads.
    Spawn(String),
}

impl std::fmt::Display for ThreadsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThreadsError::Zero => write!(f, "num_threads must be at least 1"),
            ThreadsError::TooMany(n) => write!(
                f,
                "num_threads must be at most {MAX_THREADS}, got {n} (leave it unset for one \
                 thread per core)"
            ),
            ThreadsError::Spawn(e) => write!(f, "cannot start the threads: {e}"),
        }
    }
}

impl std::error::Error for ThreadsError {}

/// The number of threads a call gets: `threads` checked, or one per core.
pub fn thread_count(threads: Option<usize>) -> Result<usize, ThreadsError> {
    match threads {
        Some(0) => Err(ThreadsError::Zero),
        Some(n) if n > MAX_THREADS => Err(ThreadsError::TooMany(n)),
        Some(n) => Ok(n),
        None => Ok(default_threads()),
    }
}

/// One thread per core, or `RAYON_NUM_THREADS` when set (as Rayon's own default reads it).
fn default_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(MAX_THREADS)
}

/// Forks seen by this process's `pthread_atfork` child handler.
static FORKS: AtomicU64 = AtomicU64::new(0);

/// The pools of one process (one fork generation), most recently used last.
struct Kept {
    generation: u64,
    pools: Mutex<Vec<(usize, Arc<ThreadPool>)>>,
}

/// The current generation's pools. Replaced, never freed, after a fork: the child may have been
/// forked while another thread held the lock, which would then stay locked forever.
static KEPT: AtomicPtr<Kept> = AtomicPtr::new(std::ptr::null_mut());

#[cfg(unix)]
fn watch_forks() {
    extern "C" fn forked() {
        // Runs in the child right after fork(): an atomic add is async-signal-safe.
        FORKS.fetch_add(1, Ordering::SeqCst);
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a handler with no preparation or parent step; the handler only
        // touches an atomic. pthread_atfork fails only for lack of memory, and then forks are
        // simply not seen (as before this module existed).
        unsafe {
            libc::pthread_atfork(None, None, Some(forked));
        }
    });
}

#[cfg(not(unix))]
fn watch_forks() {}

/// This generation's set of pools, made fresh in a forked child.
fn kept() -> &'static Kept {
    watch_forks();
    loop {
        let generation = FORKS.load(Ordering::SeqCst);
        let current = KEPT.load(Ordering::Acquire);
        // SAFETY: a non-null pointer in KEPT came from Box::into_raw below and is never freed.
        if let Some(k) = unsafe { current.as_ref() } {
            if k.generation == generation {
                return k;
            }
        }
        let fresh = Box::into_raw(Box::new(Kept {
            generation,
            pools: Mutex::new(Vec::new()),
        }));
        match KEPT.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
            // The set replaced, if any, is leaked on purpose (see KEPT).
            // SAFETY: just stored, never freed.
            Ok(_) => return unsafe { &*fresh },
            // Another thread made one first: use it (checked again at the loop's start).
            // SAFETY: `fresh` was never shared.
            Err(_) => drop(unsafe { Box::from_raw(fresh) }),
        }
    }
}

/// A pool of `threads` threads (checked; `None`: one per core), kept for reuse.
pub fn pool(threads: Option<usize>) -> Result<Arc<ThreadPool>, ThreadsError> {
    let n = thread_count(threads)?;
    let kept = kept();
    let lock = || kept.pools.lock().unwrap_or_else(|p| p.into_inner());
    {
        let mut pools = lock();
        if let Some(i) = pools.iter().position(|(k, _)| *k == n) {
            let entry = pools.remove(i);
            let p = entry.1.clone();
            pools.push(entry);
            return Ok(p);
        }
    }
    // Built outside the lock: starting threads takes a while, and a fork meanwhile must not
    // find the lock held.
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("devsynth-{i}"))
            .build()
            .map_err(|e| ThreadsError::Spawn(e.to_string()))?,
    );
    let dropped = {
        let mut pools = lock();
        if let Some(same) = pools.iter().find(|(k, _)| *k == n) {
            // Another call built one meanwhile: use that one, drop ours.
            return Ok(same.1.clone());
        }
        pools.push((n, p.clone()));
        let extra = pools.len().saturating_sub(KEPT_POOLS);
        pools.drain(..extra).collect::<Vec<_>>()
    };
    // Dropped outside the lock; a pool still in use lives on until its calls end.
    drop(dropped);
    Ok(p)
}

/// Thread counts of the pools kept now, least recently used first (for tests).
pub fn kept_thread_counts() -> Vec<usize> {
    let kept = kept();
    let pools = kept.pools.lock().unwrap_or_else(|p| p.into_inner());
    pools.iter().map(|(n, _)| *n).collect()
}

/// A request to stop, seen by parallel work between its items.
#[derive(Debug, Default)]
pub struct Cancel(AtomicBool);

impl Cancel {
    pub fn new() -> Self {
        Cancel::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// How watched work ended.
#[derive(Debug)]
pub enum Stopped<E> {
    /// The watcher asked to stop, with this reason; the work was cancelled and has ended.
    Watcher(E),
    /// The work (or what received its results) failed with this error; the rest of the work
    /// was cancelled and has ended.
    Failed(E),
    /// The work panicked (a bug).
    Panicked,
}

/// Runs `work` on `pool` while this thread calls `watch` every [`WATCH_INTERVAL`]. When `watch`
/// fails, the work's [`Cancel`] is set and, once the work has returned, `watch`'s error is
/// returned. The work must look at its `Cancel` often enough to stop soon.
pub fn run_watched<T: Send, E>(
    pool: &ThreadPool,
    work: impl FnOnce(&Cancel) -> T + Send,
    mut watch: impl FnMut() -> Result<(), E>,
) -> Result<T, Stopped<E>> {
    let cancel = Cancel::new();
    let done = Done::default();
    let mut result = None;
    let mut stopped = None;
    pool.in_place_scope(|s| {
        s.spawn(|_| {
            result = Some(catch_unwind(AssertUnwindSafe(|| work(&cancel))));
            done.set();
        });
        stopped = wait_watching(&done, &cancel, &mut watch);
        // The scope waits for the work to return before it ends.
    });
    finish(result, stopped)
}

/// [`run_watched`] for one sequential task (a directory walk), on a thread of its own rather
/// than a pool's.
pub fn run_watched_alone<T: Send, E>(
    work: impl FnOnce(&Cancel) -> T + Send,
    mut watch: impl FnMut() -> Result<(), E>,
) -> Result<T, Stopped<E>> {
    let cancel = Cancel::new();
    let done = Done::default();
    let mut result = None;
    let mut stopped = None;
    std::thread::scope(|s| {
        s.spawn(|| {
            result = Some(catch_unwind(AssertUnwindSafe(|| work(&cancel))));
            done.set();
        });
        stopped = wait_watching(&done, &cancel, &mut watch);
    });
    finish(result, stopped)
}

/// Waits for `done`, calling `watch` every [`WATCH_INTERVAL`]; its first error cancels.
fn wait_watching<E>(
    done: &Done,
    cancel: &Cancel,
    watch: &mut impl FnMut() -> Result<(), E>,
) -> Option<E> {
    while !done.wait(WATCH_INTERVAL) {
        if let Err(e) = watch() {
            cancel.cancel();
            return Some(e);
        }
    }
    None
}

fn finish<T, E>(
    result: Option<std::thread::Result<T>>,
    stopped: Option<E>,
) -> Result<T, Stopped<E>> {
    if let Some(e) = stopped {
        return Err(Stopped::Watcher(e));
    }
    match result {
        Some(Ok(t)) => Ok(t),
        _ => Err(Stopped::Panicked),
    }
}

/// `f` of each item, in order, computed by this thread together with all but one of the
/// pool's threads (so a pool of `n` has `n` threads at work, the caller one of them): each
/// takes the next item nobody has taken until none is left (the costliest stretch of a text
/// does not hold up the rest).
///
/// The calling thread works rather than waits. Waiting, it left its core to one worker while
/// the other worker had to be woken on the core that had been idle, and on this 2-core VM the
/// wake-up often came late: a call right after the caller had been busy took as long on two
/// threads as on one (count of 3 MB of mixed text, median of 40: 5.5 ms after 6 ms of busy
/// work, 3.9 ms after 6 ms of sleep; with the caller working, 3.8 ms either way).
///
/// A panic in `f` reaches the caller once every thread has stopped.
pub fn map_shared<I: Sync, T: Send>(
    pool: &ThreadPool,
    items: &[I],
    f: impl Fn(&I) -> T + Sync,
) -> Vec<T> {
    if items.len() < 2 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    // One slot per item, each written once by whichever thread took the item.
    let slots: Vec<Mutex<Option<T>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let k = next.fetch_add(1, Ordering::Relaxed);
        let Some(item) = items.get(k) else { break };
        let value = f(item);
        *slots[k].lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
    };
    let helpers = (pool.current_num_threads() - 1).min(items.len() - 1);
    pool.in_place_scope(|s| {
        for _ in 0..helpers {
            s.spawn(|_| work());
        }
        work();
    });
    slots
        .into_iter()
        .map(|slot| {
            let value = slot.into_inner().unwrap_or_else(|p| p.into_inner());
            value.expect("the scope ends after every item is taken and done")
        })
        .collect()
}

/// `f` of each item on the current pool, in order; `None` once `cancel` is set.
pub fn par_map<I: Sync, T: Send>(
    items: &[I],
    cancel: &Cancel,
    f: impl Fn(&I) -> T + Sync + Send,
) -> Option<Vec<T>> {
    items
        .par_iter()
        .map(|item| (!cancel.is_cancelled()).then(|| f(item)))
        .collect()
}

/// Runs `work` on each of `items`, `per_task` items a task, on the pool for `threads`, and hands
/// each task's results to `deliver(start, results)` on this thread as soon as the task ends (in
/// whichever order the tasks end; `start` is the index of the task's first item), so that
/// building the output overlaps the work still running. `watch` is called every
/// [`WATCH_INTERVAL`], busy or not, as in [`run_watched`]. A batch of one task runs on this
/// thread alone, and needs no pool.
///
/// The first error, from `work` or `deliver` ([`Stopped::Failed`]) or from `watch`
/// ([`Stopped::Watcher`]), cancels the rest of the work (tasks stop between items); it is
/// returned once every task has ended, and nothing more is delivered after it.
pub fn run_pipelined<I: Sync, T: Send, E: Send + From<ThreadsError>>(
    threads: Option<usize>,
    items: &[I],
    per_task: usize,
    work: impl Fn(&I) -> Result<T, E> + Sync,
    mut deliver: impl FnMut(usize, Vec<T>) -> Result<(), E>,
    mut watch: impl FnMut() -> Result<(), E>,
) -> Result<(), Stopped<E>> {
    let per_task = per_task.max(1);
    if items.len() <= per_task {
        let results: Result<Vec<T>, E> =
            catch_unwind(AssertUnwindSafe(|| items.iter().map(&work).collect()))
                .map_err(|_| Stopped::Panicked)?;
        return results.and_then(|r| deliver(0, r)).map_err(Stopped::Failed);
    }
    let pool = pool(threads).map_err(|e| Stopped::Failed(e.into()))?;
    let tasks = items.len().div_ceil(per_task);
    let cancel = Cancel::new();
    let (sender, receiver) = mpsc::channel::<(usize, TaskResult<T, E>)>();
    let mut failure = None;
    pool.in_place_scope(|s| {
        for (k, chunk) in items.chunks(per_task).enumerate() {
            let (sender, work, cancel) = (sender.clone(), &work, &cancel);
            s.spawn(move |_| {
                let result = catch_unwind(AssertUnwindSafe(|| {
                    chunk
                        .iter()
                        .map(|item| (!cancel.is_cancelled()).then(|| work(item)).transpose())
                        .collect()
                }));
                let _ = sender.send((k * per_task, result));
            });
        }
        drop(sender);
        let mut received = 0;
        let mut checked = Instant::now();
        while received < tasks {
            if failure.is_none() && checked.elapsed() >= WATCH_INTERVAL {
                checked = Instant::now();
                if let Err(e) = watch() {
                    cancel.cancel();
                    failure = Some(Stopped::Watcher(e));
                }
            }
            // Once the batch has failed, only the ends of the remaining tasks are awaited.
            let wait = match failure {
                Some(_) => Duration::from_secs(3600),
                None => WATCH_INTERVAL,
            };
            let (start, result) = match receiver.recv_timeout(wait) {
                Ok(r) => r,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            received += 1;
            let outcome = match result {
                _ if failure.is_some() => Ok(()),
                Ok(Ok(Some(results))) => deliver(start, results).map_err(Stopped::Failed),
                Ok(Err(e)) => Err(Stopped::Failed(e)),
                // Cancelled with no failure recorded cannot happen: treated as the bug it is.
                Ok(Ok(None)) | Err(_) => Err(Stopped::Panicked),
            };
            if let Err(stopped) = outcome {
                cancel.cancel();
                failure = Some(stopped);
            }
        }
    });
    failure.map_or(Ok(()), Err)
}

/// A task's results, `None` when it was cancelled, or its error or panic.
type TaskResult<T, E> = std::thread::Result<Result<Option<Vec<T>>, E>>;

/// Text shorter than this is never split across threads: splitting costs a scan for cuts and a
/// join, and a small text is done before a thread starts.
pub const MIN_PART_BYTES: usize = 1 << 16;

/// Parts per thread a long text is cut into. Its stretches differ in cost per byte (prose,
/// code and other scripts by up to 4x): with one part per thread, the thread given the cheap
/// half waited for the other (3.1 MB of prose, code and multilingual text: 1.39x on 2
/// threads). Smaller parts are handed out as threads free up.
pub const PARTS_PER_THREAD: usize = 8;

/// The parts a text of `len` bytes is split into for `threads` threads: [`PARTS_PER_THREAD`]
/// per thread, none shorter than [`MIN_PART_BYTES`]; one without a thread count (a single
/// text stays on one thread unless asked).
pub fn parts_for(len: usize, threads: Option<usize>) -> usize {
    match threads {
        Some(n) if n > 1 => (n * PARTS_PER_THREAD).min(len / MIN_PART_BYTES).max(1),
        _ => 1,
    }
}

/// One text cut into `parts` and shared out on `pool` (see [`map_shared`]).
#[derive(Clone, Copy)]
pub struct Split<'p> {
    pub pool: &'p ThreadPool,
    pub parts: usize,
}

/// The pool that shares out a text split into `parts` (see [`parts_for`] and [`map_shared`]):
/// none for one part, which runs on the calling thread alone.
pub fn pool_for_parts(
    parts: usize,
    threads: Option<usize>,
) -> Result<Option<Arc<ThreadPool>>, ThreadsError> {
    match parts {
        0 | 1 => Ok(None),
        _ => pool(threads).map(Some),
    }
}

/// `f` of each item, in order, on the pool for `threads` while this thread calls `watch` (see
/// [`run_watched`]); fewer than two items are mapped on this thread, without a pool.
pub fn map_watched<I: Sync, T: Send, E: From<ThreadsError>>(
    threads: Option<usize>,
    items: &[I],
    f: impl Fn(&I) -> T + Sync + Send,
    watch: impl FnMut() -> Result<(), E>,
) -> Result<Vec<T>, Stopped<E>> {
    if items.len() < 2 {
        let mapped = catch_unwind(AssertUnwindSafe(|| items.iter().map(&f).collect()));
        return mapped.map_err(|_| Stopped::Panicked);
    }
    let pool = pool(threads).map_err(|e| Stopped::Failed(e.into()))?;
    // `None` only when cancelled, which only the watcher does, and its error came back.
    run_watched(&pool, |cancel| par_map(items, cancel, &f), watch)?.ok_or(Stopped::Panicked)
}

/// A flag one thread sets and another waits for.
#[derive(Default)]
struct Done {
    set: Mutex<bool>,
    changed: Condvar,
}

impl Done {
    fn set(&self) {
        *self.set.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.changed.notify_all();
    }

    /// Waits up to `timeout`; true once set.
    fn wait(&self, timeout: Duration) -> bool {
        let set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        let (set, _) = self
            .changed
            .wait_timeout_while(set, timeout, |s| !*s)
            .unwrap_or_else(|p| p.into_inner());
        *set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    #[test]
    fn thread_counts_are_checked() {
        assert_eq!(thread_count(Some(0)), Err(ThreadsError::Zero));
        assert_eq!(
            thread_count(Some(MAX_THREADS + 1)),
            Err(ThreadsError::TooMany(MAX_THREADS + 1))
        );
        assert_eq!(
            thread_count(Some(usize::MAX)),
            Err(ThreadsError::TooMany(usize::MAX))
        );
        assert_eq!(thread_count(Some(3)), Ok(3));
        assert!((1..=MAX_THREADS).contains(&thread_count(None).unwrap()));
        assert!(pool(Some(usize::MAX)).is_err());
        assert!(ThreadsError::TooMany(5000)
            .to_string()
            .contains("at most 1024, got 5000"));
    }

    #[test]
    fn pools_are_reused_and_few_are_kept() {
        // A size no other test asks for: tests run side by side and share the kept pools.
        const SIZE: usize = 29;
        let a = pool(Some(SIZE)).unwrap();
        assert_eq!(a.current_num_threads(), SIZE);
        assert!(Arc::ptr_eq(&a, &pool(Some(SIZE)).unwrap()));
        for n in 5..5 + 3 * KEPT_POOLS {
            assert_eq!(pool(Some(n)).unwrap().current_num_threads(), n);
            assert!(kept_thread_counts().len() <= KEPT_POOLS);
        }
        // Still usable while held, though no longer kept.
        assert!(!kept_thread_counts().contains(&SIZE));
        assert_eq!(a.install(rayon::current_num_threads), SIZE);
    }

    #[test]
    fn watched_work_returns_its_result() {
        let p = pool(Some(2)).unwrap();
        let calls = AtomicUsize::new(0);
        let got = run_watched(
            &p,
            |cancel| par_map(&[1, 2, 3], cancel, |x| x * 10),
            || -> Result<(), ()> {
                calls.fetch_add(1, Ordering::Relaxed);
                Ok(())
            },
        );
        assert_eq!(got.unwrap(), Some(vec![10, 20, 30]));
    }

    #[test]
    fn a_failing_watcher_stops_the_work_soon() {
        let p = pool(Some(2)).unwrap();
        let items: Vec<u32> = (0..10_000).collect();
        let done = AtomicUsize::new(0);
        let started = Instant::now();
        let got = run_watched(
            &p,
            |cancel| {
                par_map(&items, cancel, |_| {
                    std::thread::sleep(Duration::from_millis(1));
                    done.fetch_add(1, Ordering::Relaxed);
                })
            },
            || {
                if started.elapsed() > Duration::from_millis(120) {
                    Err("stop")
                } else {
                    Ok(())
                }
            },
        );
        assert!(matches!(got, Err(Stopped::Watcher("stop"))));
        // Without the stop, 10,000 items of 1 ms on 2 threads take 5 s.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(done.load(Ordering::Relaxed) < 5_000);
    }

    #[test]
    fn work_alone_is_watched_too() {
        let started = Instant::now();
        let got = run_watched_alone(
            |cancel| {
                while !cancel.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                7
            },
            || {
                if started.elapsed() > Duration::from_millis(150) {
                    Err(())
                } else {
                    Ok(())
                }
            },
        );
        assert!(matches!(got, Err(Stopped::Watcher(()))));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(
            run_watched_alone(|_| 7, || -> Result<(), ()> { Ok(()) }).unwrap(),
            7
        );
    }

    /// Runs the pipeline over 0..n, collecting what is delivered at the index it was given.
    fn pipelined(
        threads: Option<usize>,
        n: u32,
        per_task: usize,
        work: impl Fn(&u32) -> Result<u32, String> + Sync,
        watch: impl FnMut() -> Result<(), String>,
    ) -> (Result<(), Stopped<String>>, Vec<Option<u32>>) {
        let items: Vec<u32> = (0..n).collect();
        let mut out = vec![None; items.len()];
        let got = run_pipelined(
            threads,
            &items,
            per_task,
            work,
            |start, results| {
                for (j, r) in results.into_iter().enumerate() {
                    assert!(out[start + j].replace(r).is_none(), "delivered twice");
                }
                Ok(())
            },
            watch,
        );
        (got, out)
    }

    impl From<ThreadsError> for String {
        fn from(e: ThreadsError) -> String {
            e.to_string()
        }
    }

    #[test]
    fn pipelined_work_delivers_every_result_at_its_place() {
        for (threads, n, per_task) in [(Some(3), 1000, 16), (Some(1), 50, 7), (None, 5, 16)] {
            let (got, out) = pipelined(threads, n, per_task, |x| Ok(x * 2), || Ok(()));
            assert!(got.is_ok());
            let want: Vec<Option<u32>> = (0..n).map(|x| Some(x * 2)).collect();
            assert_eq!(out, want, "{threads:?} {n} {per_task}");
        }
        // Nothing to do: nothing delivered, no error; a per-task of 0 is taken as 1.
        assert!(pipelined(Some(2), 0, 16, |x| Ok(*x), || Ok(())).0.is_ok());
        let (got, out) = pipelined(Some(2), 40, 0, |x| Ok(*x), || Ok(()));
        assert!(got.is_ok() && out.iter().all(Option::is_some));
    }

    #[test]
    fn a_small_batch_runs_on_this_thread_without_a_pool() {
        let here = std::thread::current().id();
        let items = [1, 2, 3];
        let mut delivered = Vec::new();
        let got = run_pipelined(
            Some(MAX_THREADS + 1), // would be refused, were a pool asked for
            &items,
            16,
            |x| {
                assert_eq!(std::thread::current().id(), here);
                Ok::<_, String>(x + 1)
            },
            |start, r| {
                delivered.push((start, r));
                Ok(())
            },
            || Ok(()),
        );
        assert!(got.is_ok());
        assert_eq!(delivered, vec![(0, vec![2, 3, 4])]);
        // A large one needs the pool, and reports why it cannot have one.
        let many: Vec<u32> = (0..100).collect();
        let got = run_pipelined(
            Some(MAX_THREADS + 1),
            &many,
            16,
            |x| Ok::<_, String>(*x),
            |_, _| Ok(()),
            || Ok(()),
        );
        assert!(matches!(got, Err(Stopped::Failed(m)) if m.contains("at most 1024")));
    }

    #[test]
    fn a_failing_item_stops_the_pipeline_and_is_returned() {
        let done = AtomicUsize::new(0);
        let (got, out) = pipelined(
            Some(2),
            10_000,
            4,
            |&x| {
                done.fetch_add(1, Ordering::Relaxed);
                if x == 40 {
                    return Err(format!("bad item {x}"));
                }
                std::thread::sleep(Duration::from_micros(200));
                Ok(x)
            },
            || Ok(()),
        );
        assert!(matches!(got, Err(Stopped::Failed(ref m)) if m == "bad item 40"));
        // The task holding item 40 delivered nothing, and the tasks after it were cancelled.
        assert_eq!(out[40], None);
        assert!(done.load(Ordering::Relaxed) < 5_000);
        // In a batch of one task too.
        let (got, _) = pipelined(Some(2), 3, 16, |&x| Err(format!("no {x}")), || Ok(()));
        assert!(matches!(got, Err(Stopped::Failed(ref m)) if m == "no 0"));
    }

    #[test]
    fn a_failing_delivery_or_watcher_stops_the_pipeline() {
        let items: Vec<u32> = (0..2_000).collect();
        let mut deliveries = 0;
        let got = run_pipelined(
            Some(2),
            &items,
            8,
            |x| Ok::<_, String>(*x),
            |_, _| {
                deliveries += 1;
                Err("full".to_string())
            },
            || Ok(()),
        );
        assert!(matches!(got, Err(Stopped::Failed(ref m)) if m == "full"));
        assert_eq!(deliveries, 1, "nothing is delivered after a failure");

        let started = Instant::now();
        let (got, out) = pipelined(
            Some(2),
            10_000,
            4,
            |&x| {
                std::thread::sleep(Duration::from_millis(1));
                Ok(x)
            },
            || match started.elapsed() > Duration::from_millis(150) {
                true => Err("interrupted".to_string()),
                false => Ok(()),
            },
        );
        assert!(matches!(got, Err(Stopped::Watcher(ref m)) if m == "interrupted"));
        // 10,000 items of 1 ms on 2 threads would take 5 s.
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(out.iter().any(Option::is_none));
    }

    #[test]
    fn a_panicking_task_is_reported_not_hung() {
        let (got, _) = pipelined(
            Some(2),
            100,
            4,
            |&x| {
                assert!(x != 50, "a bug");
                Ok(x)
            },
            || Ok(()),
        );
        assert!(matches!(got, Err(Stopped::Panicked)));
        let (got, _) = pipelined(Some(2), 3, 16, |_| panic!("a bug"), || Ok(()));
        assert!(matches!(got, Err(Stopped::Panicked)));
    }

    #[test]
    fn texts_are_split_only_when_threads_are_asked_for_and_the_text_is_long() {
        assert_eq!(parts_for(10 * MIN_PART_BYTES, None), 1);
        assert_eq!(parts_for(10 * MIN_PART_BYTES, Some(1)), 1);
        assert_eq!(parts_for(10 * MIN_PART_BYTES, Some(4)), 10);
        assert_eq!(
            parts_for(100 * MIN_PART_BYTES, Some(4)),
            4 * PARTS_PER_THREAD
        );
        assert_eq!(parts_for(10 * MIN_PART_BYTES, Some(64)), 10);
        assert_eq!(parts_for(2 * MIN_PART_BYTES - 1, Some(8)), 1);
        assert_eq!(parts_for(MIN_PART_BYTES - 1, Some(8)), 1);
        assert_eq!(parts_for(0, Some(8)), 1);
        // One part needs no pool (an impossible count is never asked for)...
        assert!(matches!(pool_for_parts(1, Some(MAX_THREADS + 1)), Ok(None)));
        // ...several get the pool for the count.
        let pool = pool_for_parts(parts_for(3 * MIN_PART_BYTES, Some(3)), Some(3));
        assert_eq!(pool.unwrap().unwrap().current_num_threads(), 3);
    }

    #[test]
    fn shared_work_keeps_order_and_the_caller_takes_part() {
        let pool = pool(Some(2)).unwrap();
        let here = std::thread::current().id();
        let items: Vec<u64> = (0..64).collect();
        let got = map_shared(&pool, &items, |&x| {
            // Slow enough that every thread finds items left to take.
            std::thread::sleep(Duration::from_millis(1));
            (x * 3, std::thread::current().id() == here)
        });
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            (0..64).map(|x| x * 3).collect::<Vec<_>>()
        );
        let by_caller = got.iter().filter(|g| g.1).count();
        assert!(
            (1..64).contains(&by_caller),
            "the caller took {by_caller} of 64"
        );
        // Two threads at work in all: the caller and one of the pool's.
        let workers: std::collections::HashSet<_> = map_shared(&pool, &items, |_| {
            std::thread::sleep(Duration::from_millis(1));
            std::thread::current().id()
        })
        .into_iter()
        .collect();
        assert!(workers.len() <= 2 && workers.contains(&here), "{workers:?}");
        assert_eq!(map_shared(&pool, &[7], |&x: &i32| x + 1), vec![8]);
        assert!(map_shared(&pool, &[] as &[i32], |&x| x).is_empty());
        // A panic in the work reaches the caller, after the other threads are done.
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            map_shared(
                &pool,
                &items,
                |&x| if x == 40 { panic!("item 40") } else { x },
            )
        }));
        assert!(panicked.is_err());
        assert_eq!(map_shared(&pool, &items, |&x| x).len(), 64);
    }

    #[test]
    fn mapped_work_keeps_order_and_stops_when_watched() {
        let items: Vec<u32> = (0..500).collect();
        let ok = || Ok::<(), String>(());
        let got = map_watched(Some(3), &items, |x| x * 2, ok).unwrap();
        assert_eq!(got, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        // One item: mapped here, and no pool is asked for.
        let here = std::thread::current().id();
        let one = map_watched(
            Some(MAX_THREADS + 1),
            &[7],
            |x| (x + 1, std::thread::current().id()),
            ok,
        );
        assert_eq!(one.unwrap(), vec![(8, here)]);
        let many = map_watched(Some(MAX_THREADS + 1), &items, |x| *x, ok);
        assert!(matches!(many, Err(Stopped::Failed(m)) if m.contains("at most 1024")));
        let started = Instant::now();
        let slow: Vec<u32> = (0..10_000).collect();
        let got = map_watched(
            Some(2),
            &slow,
            |_| std::thread::sleep(Duration::from_millis(1)),
            || match started.elapsed() > Duration::from_millis(150) {
                true => Err("stop".to_string()),
                false => Ok(()),
            },
        );
        assert!(matches!(got, Err(Stopped::Watcher(ref m)) if m == "stop"));
        assert!(started.elapsed() < Duration::from_secs(2));
        let panicked = map_watched(Some(2), &items, |&x| assert!(x != 9), ok);
        assert!(matches!(panicked, Err(Stopped::Panicked)));
        let panicked = map_watched(Some(2), &[1], |_| panic!("a bug"), ok);
        assert!(matches!(panicked, Err(Stopped::Panicked)));
    }

    #[test]
    fn a_panic_in_the_work_is_reported_not_hung() {
        let p = pool(Some(2)).unwrap();
        let got = run_watched(
            &p,
            |_| -> u32 { panic!("a bug") },
            || -> Result<(), ()> { Ok(()) },
        );
        assert!(matches!(got, Err(Stopped::Panicked)));
    }
}
