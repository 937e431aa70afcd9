//! Python ints for the token ids of the built-in encodings, made once per id and shared: a
//! token list is then built by storing pointers, not by allocating an int per token (which
//! would cost about as much as the encoding itself).
//!
//! Each shared int is made holding `HELD` references of its own, and a list takes one of those
//! instead of counting a new one: building a list then writes nothing to the ints (counting
//! wrote to a cache line per token, scattered over 6 MB of ints). Lists that drop them count
//! down from `HELD`, which no process comes near, so the ints are never freed (as before:
//! they live as long as the process). From CPython 3.12 the interpreter may deem such a count
//! immortal (PEP 683), which means the same: never freed. CPython's small ints (0 to 256) are
//! one object each, shared with everything else (and with the other encodings' tables): those
//! are never given held references (four tables' would overflow the count), and a list counts
//! a reference to them as usual.

use std::os::raw::c_ulong;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

use crate::threads;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;
use rayon::ThreadPool;

use crate::builtin;
use crate::encoding::Encoding;
use crate::vocab::Rank;

/// References each shared int holds from its making: 2^62, so that no number of lists a
/// process could ever drop counts it down to zero.
const HELD: ffi::Py_ssize_t = 1 << 62;

/// How many tokens ahead a list's filling starts loading slots. After other work has evicted
/// the slots (a tiktoken call between two encodes), 16 ahead was too close for the loads to
/// arrive in time: encode of 1 MB, median of 9 such calls in 3 alternating processes, code
/// (o200k) 3.57-3.73 -> 3.33-3.55 ms, multilingual (cl100k) 6.86-8.46 -> 6.62-6.81.
const PREFETCH_AHEAD: usize = 48;

/// Tag, in a slot's lowest bit, of an int shared with the rest of the interpreter.
const SHARED: usize = 1;

/// Ids that may have a shared int: CPython's small ints run to 256.
const SMALL_INTS: usize = 257;

/// Spare tally entries, taken in turn by the tokens whose int has held references (they add
/// 0): with one spare, four tokens in five added to the same entry, each addition waiting for
/// the one before it through memory.
const SPARES: usize = 8;

/// What `TokenInts::store_held` left to the GIL's holder.
struct Stored {
    /// (destination, index in it) of tokens whose int was not made yet.
    left: Vec<(usize, usize)>,
    /// References taken from each shared int (by token id), not yet counted; SMALL_INTS +
    /// SPARES entries, the last SPARES never counted.
    shared: Vec<u32>,
}

impl Stored {
    fn new() -> Self {
        Stored {
            left: Vec::new(),
            shared: vec![0; SMALL_INTS + SPARES],
        }
    }
}

/// One slot per token id, filled on first use (zeroed memory costs nothing until then).
/// Lives as long as the process, like the built-in encodings themselves.
struct TokenInts {
    slots: Box<[AtomicPtr<ffi::PyObject>]>,
}

impl TokenInts {
    fn new(len: usize) -> Self {
        TokenInts {
            slots: (0..len).map(|_| AtomicPtr::new(null_mut())).collect(),
        }
    }

    /// The int of `token`, with a reference the caller keeps: one of its `HELD` ones, or a
    /// new one for a shared int.
    #[inline(always)]
    fn get(&self, py: Python<'_>, token: Rank) -> PyResult<*mut ffi::PyObject> {
        let existing = self.slots[token as usize].load(Ordering::Acquire);
        if existing.is_null() {
            return self.make(py, token);
        }
        // SAFETY: a slot's int lives as long as the process; the GIL is held.
        Ok(unsafe { take(existing) })
    }

    /// Starts loading the slot of `token`.
    #[inline(always)]
    fn prefetch(&self, token: Rank) {
        crate::vocab::prefetch_read(self.slots.as_ptr().wrapping_add(token as usize));
    }

    /// Stores the int of each token whose slot is filled into `items`, without the GIL: an
    /// int with held references gives one of them (no write to the int); a shared one is
    /// tallied in `stored.shared`, for the GIL's holder to count. Empty slots are left null,
    /// and `(dest, index)` of each goes to `stored.left`.
    ///
    /// # Safety
    /// `items` must have room for `tokens.len()` pointers that no one else reads or writes
    /// meanwhile.
    unsafe fn store_held(
        &self,
        tokens: &[Rank],
        items: *mut *mut ffi::PyObject,
        dest: usize,
        stored: &mut Stored,
    ) {
        let Stored {
            left,
            shared: tally,
        } = stored;
        for (i, &t) in tokens.iter().enumerate() {
            if let Some(&ahead) = tokens.get(i + PREFETCH_AHEAD) {
                self.prefetch(ahead);
            }
            let slot = self.slots[t as usize].load(Ordering::Acquire) as usize;
            let shared = slot & SHARED;
            let small = (t as usize) < SMALL_INTS;
            // Only CPython's small ints are shared, all of them below SMALL_INTS; anything
            // else (an empty slot, or a shared int no CPython makes) goes to the GIL's holder.
            // `|` and `&`, not `||` and `&&`: whether a token is a small int is as
            // unpredictable as the text, so it must not decide a branch.
            if (slot == 0) | ((shared != 0) & !small) {
                left.push((dest, i));
                continue;
            }
            *items.add(i) = (slot & !SHARED) as *mut ffi::PyObject;
            // Tallied without a branch, for the same reason: an int with held references
            // adds 0, to a spare entry.
            let entry = if small {
                t as usize
            } else {
                SMALL_INTS + i % SPARES
            };
            tally[entry] += shared as u32;
        }
    }

    /// Gives the shared ints the references `store_held` stored without counting.
    ///
    /// # Safety
    /// The GIL must be held; `shared` must come from `store_held` on this table.
    unsafe fn count_shared(&self, shared: &[u32]) {
        for (t, &n) in shared[..SMALL_INTS]
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
        {
            let slot = self.slots[t].load(Ordering::Acquire);
            let obj = (slot as usize & !SHARED) as *mut ffi::PyObject;
            (*obj).ob_refcnt += n as ffi::Py_ssize_t;
        }
    }

    #[cold]
    fn make(&self, py: Python<'_>, token: Rank) -> PyResult<*mut ffi::PyObject> {
        // SAFETY: attached to the interpreter (`py`); a null result means an exception is set.
        let made = unsafe { ffi::PyLong_FromUnsignedLong(token as c_ulong) };
        if made.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: `made` is live and the GIL is held. A count of one means no one else has it:
        // it takes the held references; any other int is shared, and keeps the one reference.
        let fresh = unsafe { (*made).ob_refcnt == 1 };
        let tagged = if fresh {
            unsafe { (*made).ob_refcnt += HELD - 1 };
            made
        } else {
            (made as usize | SHARED) as *mut ffi::PyObject
        };
        let slot = &self.slots[token as usize];
        match slot.compare_exchange(null_mut(), tagged, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: as in `get`.
            Ok(_) => Ok(unsafe { take(tagged) }),
            Err(winner) => {
                // SAFETY: `made` was ours to give back: its held references, then ours.
                unsafe {
                    if fresh {
                        (*made).ob_refcnt -= HELD - 1;
                    }
                    ffi::Py_DecRef(made);
                    Ok(take(winner))
                }
            }
        }
    }
}

/// The int of a slot with a reference for the caller: a shared int is counted inline, as the
/// stable ABI's own `Py_INCREF` of CPython 3.10 does (every later CPython keeps such
/// extensions working, immortal small ints included: PEP 683).
///
/// # Safety
/// `slot` must be a filled slot's value, and the GIL held.
#[inline(always)]
unsafe fn take(slot: *mut ffi::PyObject) -> *mut ffi::PyObject {
    let obj = (slot as usize & !SHARED) as *mut ffi::PyObject;
    if slot as usize & SHARED != 0 {
        (*obj).ob_refcnt += 1;
    }
    obj
}

fn cache_for(enc: &Encoding) -> Option<&'static TokenInts> {
    static CACHES: [OnceLock<TokenInts>; builtin::NAMES.len()] =
        [const { OnceLock::new() }; builtin::NAMES.len()];
    let idx = builtin::NAMES.iter().position(|n| *n == enc.name)?;
    // Only the shared built-in object, not a custom encoding that borrowed a built-in name.
    if !std::ptr::eq(builtin::get(enc.name.as_str())?, enc) {
        return None;
    }
    Some(CACHES[idx].get_or_init(|| TokenInts::new(enc.max_token_value() as usize + 1)))
}

/// Whether lists of this encoding's tokens hold shared ints (a built-in encoding's own object).
pub(crate) fn has_shared_ints(enc: &Encoding) -> bool {
    cache_for(enc).is_some()
}

/// A Python list of the tokens.
pub(crate) fn token_list<'py>(
    py: Python<'py>,
    enc: &Encoding,
    tokens: &[Rank],
) -> PyResult<Bound<'py, PyList>> {
    let Some(ints) = cache_for(enc) else {
        return PyList::new(py, tokens);
    };
    // SAFETY: PyList_New gives a new list of `len` empty slots (or null with an exception
    // set); each slot is filled exactly once with a reference the list then owns: a held one
    // or a shared int's counted one (`store_held` and `count_shared`, before anything can
    // fail), or one from `get` (PyList_SetItem steals it; a direct store into the checked
    // item array does the same).
    unsafe {
        let list = ffi::PyList_New(tokens.len() as ffi::Py_ssize_t);
        let list = Bound::from_owned_ptr_or_err(py, list)?;
        if let Some(items) = item_array(py, list.as_ptr()) {
            // As the pool's threads do (`fill_on_pool`): held references stored, shared ints
            // tallied and counted before anything can fail, then the ints not made yet.
            let mut stored = Stored::new();
            ints.store_held(tokens, items, 0, &mut stored);
            ints.count_shared(&stored.shared);
            for (_, i) in stored.left {
                *items.add(i) = ints.get(py, tokens[i])?;
            }
        } else {
            for (i, &t) in tokens.iter().enumerate() {
                let obj = ints.get(py, t)?;
                if ffi::PyList_SetItem(list.as_ptr(), i as ffi::Py_ssize_t, obj) != 0 {
                    return Err(PyErr::fetch(py));
                }
            }
        }
        Ok(list.cast_into_unchecked())
    }
}

/// A Python list of the parts' tokens laid end to end, filled on `pool`'s threads (see
/// `fill_on_pool`). Building the list of a 3.1 MB text one token after another took a third
/// of its encode on two threads.
pub(crate) fn token_list_parts<'py>(
    py: Python<'py>,
    enc: &Encoding,
    parts: &[Vec<Rank>],
    pool: &ThreadPool,
) -> PyResult<Bound<'py, PyList>> {
    if let [one] = parts {
        return token_list(py, enc, one);
    }
    let total = parts.iter().map(Vec::len).sum::<usize>();
    if cache_for(enc).is_none() {
        return PyList::new(py, parts.iter().flatten());
    }
    // SAFETY: a new list of `total` empty slots (or null with an exception set), which the
    // parts' destinations cover once each, end to end.
    unsafe {
        let list = ffi::PyList_New(total as ffi::Py_ssize_t);
        let list = Bound::from_owned_ptr_or_err(py, list)?;
        let Some(items) = item_array(py, list.as_ptr()) else {
            return PyList::new(py, parts.iter().flatten());
        };
        let mut at = 0;
        let dests = parts.iter().map(|p| {
            let dest = Dest::new(items.add(at), p);
            at += p.len();
            dest
        });
        fill_on_pool(py, enc, pool, &dests.collect::<Vec<_>>())?;
        Ok(list.cast_into_unchecked())
    }
}

/// Where the ints of a run of tokens go: an item array with room for them, held for the pool.
pub(crate) struct Dest<'a> {
    items: SendPtr,
    tokens: &'a [Rank],
}

impl<'a> Dest<'a> {
    /// # Safety
    /// `items` must have room for `tokens.len()` pointers, empty, which nothing else touches
    /// until `fill_on_pool` returns.
    pub(crate) unsafe fn new(items: *mut *mut ffi::PyObject, tokens: &'a [Rank]) -> Self {
        Dest {
            items: SendPtr(items),
            tokens,
        }
    }
}

/// Fills each destination with its tokens' ints on `pool`'s threads, then, on this thread
/// (which keeps the GIL, so no Python code can meet the unfinished lists), makes the ints no
/// thread could (a slot still empty) and counts the references the shared ones took. The
/// threads store only pointers to ints that live as long as the process, each taking one of
/// their held references, which needs no write to the int.
///
/// On an error some items stay empty, which a list's deallocation skips; every stored
/// reference is counted first, so dropping the lists then gives back only what they hold.
///
/// # Safety
/// The GIL must be held and every `Dest` valid (see `Dest::new`); the encoding has shared ints
/// (`cache_for` is some).
pub(crate) unsafe fn fill_on_pool(
    py: Python<'_>,
    enc: &Encoding,
    pool: &ThreadPool,
    dests: &[Dest<'_>],
) -> PyResult<()> {
    let Some(ints) = cache_for(enc) else {
        return Err(pyo3::exceptions::PyRuntimeError::new_err("no shared ints"));
    };
    // A few runs a task: many short texts' lists share a tally of the shared ints.
    let per_task = dests.len().div_ceil(pool.current_num_threads() * 8).max(1);
    // This thread takes chunks too (see `threads::map_shared`).
    let chunks: Vec<&[Dest<'_>]> = dests.chunks(per_task).collect();
    let stored = threads::map_shared(pool, &chunks, |chunk| {
        let mut stored = Stored::new();
        for (k, d) in chunk.iter().enumerate() {
            // SAFETY: each destination is its own (see `Dest::new`).
            unsafe { ints.store_held(d.tokens, d.items.get(), k, &mut stored) };
        }
        stored
    });
    for s in &stored {
        ints.count_shared(&s.shared);
    }
    for (chunk, s) in dests.chunks(per_task).zip(stored) {
        for (k, i) in s.left {
            *chunk[k].items.get().add(i) = ints.get(py, chunk[k].tokens[i])?;
        }
    }
    Ok(())
}

/// A raw item array handed to the pool's threads (each stores only into its own range).
#[derive(Clone, Copy)]
struct SendPtr(*mut *mut ffi::PyObject);

// SAFETY: see `token_list_parts`: disjoint ranges, pointers to immortal-for-us ints.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    fn get(self) -> *mut *mut ffi::PyObject {
        self.0
    }
}

/// The item array of a list, where the interpreter is known to lay lists out as CPython
/// 3.10 to 3.13 do (the array pointer right after the variable-size object header), which one
/// real list is checked against once; None elsewhere, and PyList_SetItem is used. Storing
/// straight into the array skips a call and its checks per token (about a tenth of an
/// encode of English prose).
///
/// # Safety
/// `list` must be a live list object, and the GIL held.
pub(crate) unsafe fn item_array(
    py: Python<'_>,
    list: *mut ffi::PyObject,
) -> Option<*mut *mut ffi::PyObject> {
    static CHECKED: OnceLock<bool> = OnceLock::new();
    const OFFSET: usize = std::mem::size_of::<ffi::PyVarObject>();
    let known = *CHECKED.get_or_init(|| {
        // A one-item list holding a known object: its array must hold that object.
        let probe = ffi::PyList_New(1);
        if probe.is_null() {
            PyErr::fetch(py);
            return false;
        }
        let marker = ffi::Py_None();
        ffi::Py_IncRef(marker);
        ffi::PyList_SetItem(probe, 0, marker);
        let array = *((probe as *const u8).add(OFFSET) as *const *const *mut ffi::PyObject);
        let ok = !array.is_null() && *array == marker && ffi::PyList_Size(probe) == 1;
        ffi::Py_DecRef(probe);
        ok
    });
    known.then(|| *((list as *const u8).add(OFFSET) as *const *mut *mut ffi::PyObject))
}
