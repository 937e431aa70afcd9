//! Batches as Python objects: token lists, or flat ids and offsets.
//!
//! On several threads (and a built-in encoding) the pool encodes every text, a run of texts
//! at a time (`crate::flat`), then fills the lists the calling thread made empty
//! (`ints::fill_on_pool`). Otherwise the core's pipeline (`threads::run_pipelined`) encodes
//! chunks of the batch on Rust threads while the calling thread, taking the GIL for each
//! finished chunk, turns it into Python lists. Flat batches are encoded in runs and written
//! into one bytearray. Either way the calling thread checks for Python signals while the
//! texts are encoded (see `watched`): Ctrl-C stops the tasks between texts.

use std::borrow::Cow;

use pyo3::exceptions::PyMemoryError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyList};

use super::ints::{fill_on_pool, has_shared_ints, item_array, token_list, Dest};
use super::{count_of, items_of, run_detached, texts_of, watched, ThreadCount};
use crate::encoding::{Encoding, Specials};
use crate::flat::{self, Run};
use crate::threads;
use crate::vocab::Rank;

/// Texts per task: enough to amortise a task, few enough to keep both sides busy.
const TEXTS_PER_TASK: usize = 16;

/// `encode` of each text, as a Python list of token lists, in order.
pub(crate) fn encode_lists<'py>(
    py: Python<'py>,
    enc: &Encoding,
    threads: Option<ThreadCount>,
    texts: &Bound<'_, PyAny>,
    specials: &Specials,
) -> PyResult<Bound<'py, PyList>> {
    let encode = |t: &str| enc.encode_with(t, specials);
    let items = items_of(texts)?;
    let texts = texts_of(&items)?;
    // SAFETY: a new list of `n` empty slots (or null with an exception set); every slot is
    // filled by `fill` with a new reference, which PyList_SetItem steals. A list dropped with
    // some slots still empty is valid (its deallocation skips them).
    let list = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyList_New(texts.len() as _))? };
    if texts.len() <= TEXTS_PER_TASK {
        // One task: encoded with the GIL released, then the lists built, with no hand-over.
        let lists = run_detached(py, || {
            texts
                .iter()
                .map(|t| encode(t))
                .collect::<Result<Vec<_>, _>>()
        });
        fill(py, enc, &list, 0, &lists??)?;
    } else if let Some(pool) = list_filling_pool(enc, threads)? {
        let runs = encode_runs(py, enc, Some(pool.current_num_threads()), &texts, specials)?;
        let lists: Vec<&[Rank]> = runs.iter().flat_map(Run::texts).collect();
        fill_all(py, enc, &list, &lists, &pool)?;
    } else {
        let slots = list.clone().unbind();
        watched(py, |signals| {
            threads::run_pipelined(
                count_of(threads),
                &texts,
                TEXTS_PER_TASK,
                |t| encode(t).map_err(PyErr::from),
                |start, lists| Python::attach(|py| fill(py, enc, slots.bind(py), start, &lists)),
                signals,
            )
        })?;
    }
    // SAFETY: every slot was filled (no failure means every task delivered its lists).
    Ok(unsafe { list.cast_into_unchecked() })
}

/// The pool that encodes a batch and then fills its lists, when the lists can be filled on
/// threads (a built-in encoding, several threads); otherwise the calling thread builds each
/// list while the pool encodes the next texts (`run_pipelined`). With two threads that left
/// the list building, a third of the work, to a thread that shared their two cores: 10,000
/// short documents took longer on two threads than on one.
fn list_filling_pool(
    enc: &Encoding,
    threads: Option<ThreadCount>,
) -> PyResult<Option<std::sync::Arc<rayon::ThreadPool>>> {
    let count = threads::thread_count(count_of(threads))?;
    if count < 2 || !has_shared_ints(enc) {
        return Ok(None);
    }
    Ok(Some(threads::pool(Some(count))?))
}

/// Puts every text's list into `list`, filled on `pool` (see `ints::fill_on_pool`).
fn fill_all(
    py: Python<'_>,
    enc: &Encoding,
    list: &Bound<'_, PyAny>,
    lists: &[&[Rank]],
    pool: &rayon::ThreadPool,
) -> PyResult<()> {
    let mut dests = Vec::with_capacity(lists.len());
    for (k, tokens) in lists.iter().enumerate() {
        // SAFETY: a new list of `len` empty slots (or null with an exception set), stolen by
        // the slot `k` of `list` (empty, in range); its items are the destination of its
        // tokens alone. Where the item array is unknown, the list is filled one by one.
        unsafe {
            let item = ffi::PyList_New(tokens.len() as ffi::Py_ssize_t);
            let item = Bound::from_owned_ptr_or_err(py, item)?;
            let Some(items) = item_array(py, item.as_ptr()) else {
                return fill(py, enc, list, 0, lists);
            };
            ffi::PyList_SetItem(list.as_ptr(), k as ffi::Py_ssize_t, item.into_ptr());
            dests.push(Dest::new(items, tokens));
        }
    }
    // SAFETY: the GIL is held; each destination is a new list's items, reached by no one else.
    unsafe { fill_on_pool(py, enc, pool, &dests) }
}

/// Puts the token lists of texts `start..` into their slots of `list`.
fn fill(
    py: Python<'_>,
    enc: &Encoding,
    list: &Bound<'_, PyAny>,
    start: usize,
    lists: &[impl AsRef<[Rank]>],
) -> PyResult<()> {
    for (j, tokens) in lists.iter().enumerate() {
        let item = token_list(py, enc, tokens.as_ref())?;
        // SAFETY: index in range, slot empty, and the reference is new (stolen).
        unsafe {
            ffi::PyList_SetItem(
                list.as_ptr(),
                (start + j) as ffi::Py_ssize_t,
                item.into_ptr(),
            );
        }
    }
    Ok(())
}

/// `encode` of each text laid end to end (see `crate::flat`): the ids as little-endian u32 in
/// one bytearray and the offsets as little-endian u64 in another, one more than the texts.
/// The runs of texts are encoded on the pool, watched for Ctrl-C; the ids' bytearray is made
/// once at its final size and the pool writes the runs into it.
pub(crate) fn encode_flat<'py>(
    py: Python<'py>,
    enc: &Encoding,
    threads: Option<ThreadCount>,
    texts: &Bound<'_, PyAny>,
    specials: &Specials,
) -> PyResult<(Bound<'py, PyByteArray>, Bound<'py, PyByteArray>)> {
    let items = items_of(texts)?;
    let texts = texts_of(&items)?;
    let threads = count_of(threads);
    let runs = encode_runs(py, enc, threads, &texts, specials)?;
    let offsets = flat::offsets(&runs);
    let total = offsets.last().copied().unwrap_or(0) as usize;
    let len = total
        .checked_mul(4)
        .and_then(|n| ffi::Py_ssize_t::try_from(n).ok())
        .ok_or_else(|| PyMemoryError::new_err("too many tokens for one bytearray"))?;
    // SAFETY: a new bytearray of `len` bytes, uninitialised (or null with an exception set);
    // `write_ids_le` fills every byte before anything else can see it.
    let ids = unsafe {
        let made = ffi::PyByteArray_FromStringAndSize(std::ptr::null(), len);
        let made = Bound::from_owned_ptr_or_err(py, made)?.cast_into_unchecked::<PyByteArray>();
        let buf = ffi::PyByteArray_AsString(made.as_ptr()).cast::<u8>();
        let out = std::slice::from_raw_parts_mut(buf, len as usize);
        match runs.len() {
            0 | 1 => flat::write_ids_le(&runs, out),
            _ => threads::pool(threads)?.install(|| flat::write_ids_le(&runs, out)),
        }
        made
    };
    let offsets = PyByteArray::new(py, &flat::le_bytes(&offsets, u64::to_le_bytes));
    Ok((ids, offsets))
}

/// The texts encoded a run at a time (see `crate::flat`) on the pool for `threads`, watched
/// for Ctrl-C; the first error in order, if any.
fn encode_runs(
    py: Python<'_>,
    enc: &Encoding,
    threads: Option<usize>,
    texts: &[Cow<'_, str>],
    specials: &Specials,
) -> PyResult<Vec<Run>> {
    let runs: Vec<_> = texts.chunks(flat::TEXTS_PER_RUN).collect();
    let runs = watched(py, |signals| {
        threads::map_watched(threads, &runs, |r| Run::encode(enc, r, specials), signals)
    })?;
    Ok(runs.into_iter().collect::<Result<Vec<_>, _>>()?)
}
