//! A per-thread cache from short pieces to their tokens, in front of the vocabulary.
//!
//! Text repeats its pieces. A piece of up to 16 bytes is keyed by its bytes as one u128 (read
//! with one load where the text allows it), and its entry (key, length and up to three tokens)
//! fills half a cache line (two share a line, as a set), so a hit costs one hash and one line,
//! which a batch prefetches ahead. A piece may sit in either of two sets (its first, else its
//! second), so a varied text's pieces fit the table instead of evicting each other. The tokens
//! of a piece with more than three (words of scripts written in multi-byte chars, in a
//! vocabulary with few tokens for them) spill into an array beside the table. Misses take the full path (the vocabulary's tables, or merging)
//! and fill the entry. Each thread keeps a table for each of the last two vocabularies it
//! encoded with.

use std::cell::RefCell;

use crate::vocab::Rank;
use crate::zeroed::{Zeroable, ZeroedTable};

/// Longest piece the cache keeps.
pub const MAX_PIECE: usize = 16;
/// Most tokens an entry keeps; pieces with more always take the full path.
pub const MAX_TOKENS: usize = 3;
/// Sets per table: two entries each, one cache line (4 MiB in all, touched only where used;
/// see [`ZeroedTable`] for the huge pages it may sit on).
/// 9.6 MB of mixed short documents hold 80,243 distinct short pieces: with 2 MiB and one set
/// per piece, counting them took 168 ms; with two sets, 4 MiB, 118 ms. Every thread of a batch
/// holds a table, and counting a 100 MB file must stay well under 100 MB of memory.
const SETS: usize = 1 << 16;
/// Most spilled tokens kept (4 MiB); when full, the table starts again empty.
const SPILL_LIMIT: usize = 1 << 20;
/// For a piece of n bytes, the masks that keep its bytes of the two words read from its start
/// (a table: shifting a u128 by a variable amount takes a longer sequence).
const KEY_MASKS: [[u64; 2]; MAX_PIECE + 1] = {
    let mut masks = [[0; 2]; MAX_PIECE + 1];
    let mut n = 1;
    while n <= MAX_PIECE {
        masks[n] = if n <= 8 {
            [u64::MAX >> (64 - 8 * n), 0]
        } else {
            [u64::MAX, u64::MAX >> (128 - 8 * n)]
        };
        n += 1;
    }
    masks
};
/// Tables kept per thread, one per vocabulary, most recent first.
const TABLES: usize = 2;

/// Two entries that share a cache line: a piece can sit in either, so two pieces whose hashes
/// meet do not evict each other. A new entry goes first, and a piece found second moves first
/// (see [`PieceCache::get`]): the one read more often is where a lookup looks first.
///
/// Each piece has two sets. With one, three pieces of a text that meet in a set evict each
/// other on every pass: 7,260 misses on each pass over 1 MB of multilingual text (30,380
/// distinct short pieces); with two, 54.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Set([Entry; 2]);

// SAFETY: all zeros are two empty entries (length 0).
unsafe impl Zeroable for Set {}

/// One entry: 32 bytes. All zeros (length 0, which no piece has) is empty. With more than
/// MAX_TOKENS tokens, `ids[0]` is where they start among the spilled ones.
#[repr(C)]
#[derive(Clone, Copy)]
struct Entry {
    key: u128,
    len: u8,
    count: u8,
    /// When it was put (the table's clock then): when both sets are full, the second entry
    /// put longer ago goes.
    stamp: u16,
    ids: [Rank; MAX_TOKENS],
}

const EMPTY: Entry = Entry {
    key: 0,
    len: 0,
    count: 0,
    stamp: 0,
    ids: [0; MAX_TOKENS],
};

/// A piece's key and hash, computed once per piece; its sets follow from the hash.
#[derive(Clone, Copy, Default)]
pub struct Probe {
    key: u128,
    hash: u64,
}

impl Probe {
    /// The piece's first set.
    #[inline(always)]
    fn slot(self) -> usize {
        two_sets(self.hash, SETS)[0]
    }

    /// The second set, looked in when the first does not hold the piece (computed only then).
    #[inline(always)]
    fn alt(self) -> usize {
        two_sets(self.hash, SETS)[1]
    }
}

pub struct PieceCache {
    /// A fixed length, so that an index made of the hash's top bits needs no bounds check.
    sets: ZeroedTable<Set, SETS>,
    /// Tokens of the pieces with more than MAX_TOKENS: an entry's `ids[0]` is where they start.
    spilled: Vec<Rank>,
    /// Counts puts (wrapping), to stamp entries.
    clock: u16,
    /// Entries held (puts into an empty slot).
    held: usize,
}

/// The tokens a cached piece has.
pub enum Hit<'c> {
    /// `ids[..count]`.
    Inline(&'c [Rank; MAX_TOKENS], usize),
    Spilled(&'c [Rank]),
}

/// Makes a piece's probe and starts loading its sets; see [`PieceCache::prober`]. The address
/// is only ever prefetched (a hint that cannot fault), never read through.
#[derive(Clone, Copy)]
pub struct Prober {
    sets: *const Set,
}

impl Prober {
    /// The probe for the piece `text[start..end]` (at most MAX_PIECE bytes), after starting to
    /// load its first set, and its second too when `both`.
    #[inline(always)]
    pub fn probe(self, text: &[u8], start: usize, end: usize, both: bool) -> Probe {
        let len = end - start;
        debug_assert!((1..=MAX_PIECE).contains(&len));
        // `start + 16 <= text.len()`, in a form whose parts the scan computes once.
        let (lo, hi) = match text.len() >= 16 && start <= text.len() - 16 {
            // One load, then the bytes past the piece masked off.
            true => {
                // SAFETY: the 16 bytes from `start` lie within `text` (checked above).
                let word = |at: usize| unsafe {
                    u64::from_le(std::ptr::read_unaligned(
                        text.as_ptr().add(start + at).cast::<u64>(),
                    ))
                };
                let [lo_mask, hi_mask] = KEY_MASKS[len];
                (word(0) & lo_mask, word(8) & hi_mask)
            }
            false => {
                let mut buf = [0u8; 16];
                buf[..len].copy_from_slice(&text[start..end]);
                let key = u128::from_le_bytes(buf);
                (key as u64, (key >> 64) as u64)
            }
        };
        let hash = (lo ^ hi.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ len as u64)
            .wrapping_mul(0x517c_c1b7_2722_0a95);
        let probe = Probe {
            key: lo as u128 | (hi as u128) << 64,
            hash,
        };
        crate::vocab::prefetch_read(self.sets.wrapping_add(probe.slot()));
        if both {
            crate::vocab::prefetch_read(self.sets.wrapping_add(probe.alt()));
        }
        probe
    }
}

impl PieceCache {
    fn new() -> Self {
        let sets = ZeroedTable::new();
        PieceCache {
            sets,
            spilled: Vec::new(),
            clock: 0,
            held: 0,
        }
    }

    /// Probes for this cache that borrow nothing: the pre-tokenizer makes them as it finds the
    /// pieces, while the lookups that follow hold the cache mutably.
    #[inline(always)]
    pub fn prober(&self) -> Prober {
        Prober {
            sets: self.sets.as_ptr(),
        }
    }

    /// Whether the table is so full that many pieces sit in their second set, which lookups
    /// then start loading with the first: from half full (as many entries as sets). A base64
    /// blob seen before (116k distinct short pieces in o200k) reads a second set for a large
    /// share of its pieces; its count, best of 6 alternating runs: o200k 8.8 -> 8.1 ms per MB,
    /// cl100k 8.0 -> 6.2. Text whose pieces fit (code: 13k; multilingual: 31k) is not crowded.
    #[inline(always)]
    pub fn crowded(&self) -> bool {
        self.held >= SETS
    }

    /// Where the probed piece's entry is: its set and which of the set's two entries; the
    /// first set, else the second.
    #[inline(always)]
    fn find(&self, probe: Probe, len: usize) -> Option<(usize, usize)> {
        let holds = |e: &Entry| e.holds(probe, len);
        let slot = probe.slot();
        let [a, b] = &self.sets[slot].0;
        if holds(a) {
            return Some((slot, 0));
        }
        if holds(b) {
            return Some((slot, 1));
        }
        // Most pieces sit in their first set; the second is read only when it is not there.
        let alt = probe.alt();
        let at = self.sets[alt].0.iter().position(holds)?;
        Some((alt, at))
    }

    /// The tokens of the probed piece of `len` bytes, when the cache holds them. A piece found
    /// second in its set swaps places with the first: a lookup checks the first entry, then
    /// the second, and a processor guesses that branch by its history, so a piece that sits
    /// second costs a mispredicted branch at each lookup (15% of the pieces of source code
    /// did). Count of code, best of 3 alternating pinned runs: o200k 2.30 -> 1.99 ms per MB,
    /// cl100k 2.31 -> 2.10; multilingual 3.43 -> 3.25, 3.96 -> 3.57.
    #[inline(always)]
    pub fn get(&mut self, probe: Probe, len: usize) -> Option<Hit<'_>> {
        let slot = self.find_first(probe, len)?;
        let e = &self.sets[slot].0[0];
        let count = e.count as usize;
        Some(if count <= MAX_TOKENS {
            Hit::Inline(&e.ids, count)
        } else {
            let at = e.ids[0] as usize;
            Hit::Spilled(&self.spilled[at..at + count])
        })
    }

    /// How many tokens the probed piece has, when the cache holds it: `get`'s count, read
    /// straight from the entry (an entry keeps its count whether its tokens are inline or
    /// spilled), with no slice of the spilled tokens to make and check.
    #[inline(always)]
    pub fn get_count(&mut self, probe: Probe, len: usize) -> Option<usize> {
        let slot = self.find_first(probe, len)?;
        Some(self.sets[slot].0[0].count as usize)
    }

    /// The set holding the probed piece, moved first in it (see `get`).
    #[inline(always)]
    fn find_first(&mut self, probe: Probe, len: usize) -> Option<usize> {
        let (slot, at) = self.find(probe, len)?;
        if at == 1 {
            self.sets[slot].0.swap(0, 1);
        }
        Some(slot)
    }

    /// Remembers the tokens of the probed piece (at most 255 of them).
    #[inline]
    pub fn put(&mut self, probe: Probe, len: usize, tokens: &[Rank]) {
        let mut ids = [0; MAX_TOKENS];
        if tokens.len() <= MAX_TOKENS {
            ids[..tokens.len()].copy_from_slice(tokens);
        } else if tokens.len() <= u8::MAX as usize {
            if self.spilled.len() + tokens.len() > SPILL_LIMIT {
                // Entries point into the spilled tokens: both start again.
                self.sets.fill(Set([EMPTY; 2]));
                self.spilled.clear();
                self.held = 0;
            }
            ids[0] = self.spilled.len() as Rank;
            self.spilled.extend_from_slice(tokens);
        } else {
            return;
        }
        self.clock = self.clock.wrapping_add(1);
        let entry = Entry {
            key: probe.key,
            len: len as u8,
            count: tokens.len() as u8,
            stamp: self.clock,
            ids,
        };
        let (first, second) = (probe.slot(), probe.alt());
        // A piece already held (put again) is replaced where it is, so no older copy remains.
        for slot in [first, second] {
            if let Some(e) = self.sets[slot].0.iter_mut().find(|e| e.holds(probe, len)) {
                *e = entry;
                return;
            }
        }
        let stamp = |slot: usize| {
            let older = self.sets[slot].0[1];
            (older.len != 0).then_some(older.stamp)
        };
        let slot = pick_set([first, second], [stamp(first), stamp(second)], self.clock);
        let set = &mut self.sets[slot].0;
        self.held += usize::from(set[1].len == 0);
        set[1] = set[0];
        set[0] = entry;
    }
}

impl Entry {
    /// Whether this entry is the probed piece's, of `len` bytes.
    #[inline(always)]
    fn holds(&self, probe: Probe, len: usize) -> bool {
        self.key == probe.key && self.len as usize == len
    }
}

/// A piece's two sets among `sets` (a power of two): the top bits of its hash, and the bits
/// below them. Both caches, this one and `bpe::cache`, place their pieces so.
#[inline(always)]
pub(crate) fn two_sets(hash: u64, sets: usize) -> [usize; 2] {
    let bits = sets.trailing_zeros();
    [
        (hash >> (64 - bits)) as usize,
        (hash >> (64 - 2 * bits)) as usize & (sets - 1),
    ]
}

/// Which of a piece's two sets takes its new entry, given the put stamps of the sets' older
/// entries (None: room): the first while it has room, then the second; when both are full,
/// the one whose older entry was put longer ago. Both caches, this one and `bpe::cache`, keep
/// their entries by this rule.
pub(crate) fn pick_set(sets: [usize; 2], older: [Option<u16>; 2], clock: u16) -> usize {
    let age = |stamp: u16| clock.wrapping_sub(stamp);
    match older {
        [None, _] => sets[0],
        [Some(_), None] => sets[1],
        [Some(a), Some(b)] if age(b) > age(a) => sets[1],
        _ => sets[0],
    }
}

/// The item of a most-recently-used list that `is` picks, moved first (so the one dropped
/// next is the least recently used); None when there is none. The per-thread tables of this
/// cache and of `bpe::long_cache` are kept so, one per vocabulary.
pub(crate) fn used<T>(items: &mut [T], is: impl Fn(&T) -> bool) -> Option<&mut T> {
    let at = items.iter().position(is)?;
    items[..=at].rotate_right(1);
    Some(&mut items[0])
}

/// `used`, or else a new item from `new`, put first (the last dropped when `limit` are kept).
pub(crate) fn used_or_new<T>(
    items: &mut Vec<T>,
    limit: usize,
    is: impl Fn(&T) -> bool,
    new: impl FnOnce() -> T,
) -> &mut T {
    if used(items, is).is_none() {
        if items.len() == limit {
            items.pop();
        }
        items.insert(0, new());
    }
    &mut items[0]
}

thread_local! {
    static TABLES_BY_VOCAB: RefCell<Vec<(u64, PieceCache)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's cache for the vocabulary `vocab_id`, or with none when the
/// cache is already in use further up this thread's stack (a callback that encodes again).
pub fn with_cache<R>(vocab_id: u64, f: impl FnOnce(Option<&mut PieceCache>) -> R) -> R {
    let mut f = Some(f);
    let done = TABLES_BY_VOCAB
        .try_with(|tables| {
            let mut tables = tables.try_borrow_mut().ok()?;
            let (_, cache) = used_or_new(
                &mut tables,
                TABLES,
                |t| t.0 == vocab_id,
                || (vocab_id, PieceCache::new()),
            );
            let f = f.take().expect("called once");
            Some(f(Some(cache)))
        })
        .ok()
        .flatten();
    match done {
        Some(result) => result,
        None => f.take().expect("not called yet")(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(found: Option<Hit<'_>>) -> Option<Vec<Rank>> {
        found.map(|hit| match hit {
            Hit::Inline(ids, count) => ids[..count].to_vec(),
            Hit::Spilled(tokens) => tokens.to_vec(),
        })
    }

    #[test]
    fn keys_are_the_same_wherever_the_piece_sits() {
        let cache = PieceCache::new();
        // "word" read with a full 16-byte window, and at the very end of a text (no window).
        let text = b"word and more text after it, word";
        let inner = cache.prober().probe(text, 0, 4, false);
        let at_end = cache
            .prober()
            .probe(text, text.len() - 4, text.len(), false);
        assert_eq!(inner.key, at_end.key);
        assert_eq!(inner.hash, at_end.hash);
        // Sixteen bytes exactly, inside and at the end.
        let long = b"0123456789abcdef0123456789abcdef";
        assert_eq!(
            cache.prober().probe(long, 0, 16, false).key,
            cache.prober().probe(long, 16, 32, false).key
        );
    }

    #[test]
    fn entries_hold_pieces_of_their_own_length_only() {
        let mut cache = PieceCache::new();
        let text = b"a\0\0\0 padding past sixteen bytes";
        let one = cache.prober().probe(text, 0, 1, false);
        let two = cache.prober().probe(text, 0, 2, false);
        // Zero bytes pad the key, so "a" and "a\0" share one; the length keeps them apart.
        assert_eq!(one.key, two.key);
        cache.put(one, 1, &[7]);
        assert_eq!(tokens(cache.get(one, 1)), Some(vec![7]));
        assert!(cache.get(two, 2).is_none());
        cache.put(two, 2, &[1, 2, 3]);
        assert_eq!(tokens(cache.get(two, 2)), Some(vec![1, 2, 3]));
        // More tokens than an entry holds spill beside the table.
        cache.put(two, 2, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            tokens(cache.get(two, 2)),
            Some(vec![1, 2, 3, 4, 5, 6, 7, 8])
        );
        // Too many to count in an entry: nothing changes.
        cache.put(two, 2, &[9; 256]);
        assert_eq!(
            tokens(cache.get(two, 2)),
            Some(vec![1, 2, 3, 4, 5, 6, 7, 8])
        );
    }

    #[test]
    fn three_pieces_that_meet_in_one_set_are_all_kept() {
        let mut cache = PieceCache::new();
        // Pieces "w0", "w1", ... until three share a first set.
        let texts: Vec<String> = (0..100_000).map(|i| format!("w{i}")).collect();
        let mut by_slot = std::collections::HashMap::<usize, Vec<usize>>::new();
        let three = texts
            .iter()
            .enumerate()
            .find_map(|(i, t)| {
                let slot = cache.prober().probe(t.as_bytes(), 0, t.len(), false).slot();
                let met = by_slot.entry(slot).or_default();
                met.push(i);
                (met.len() == 3).then(|| met.clone())
            })
            .expect("three pieces in one set");
        for (n, &i) in three.iter().enumerate() {
            let t = texts[i].as_bytes();
            cache.put(
                cache.prober().probe(t, 0, t.len(), false),
                t.len(),
                &[n as Rank],
            );
        }
        for (n, &i) in three.iter().enumerate() {
            let t = texts[i].as_bytes();
            let found = tokens(cache.get(cache.prober().probe(t, 0, t.len(), false), t.len()));
            assert_eq!(found, Some(vec![n as Rank]), "{}", texts[i]);
        }
    }

    #[test]
    fn when_both_sets_are_full_the_oldest_entry_goes() {
        let mut cache = PieceCache::new();
        let text = b"piece";
        let probe = cache.prober().probe(text, 0, 5, false);
        // Fill both of the piece's sets with entries of other lengths, oldest in the second.
        let filler = |len: usize, stamp: u16| Entry {
            key: 1,
            len: len as u8,
            count: 1,
            stamp,
            ids: [0; MAX_TOKENS],
        };
        cache.clock = 100;
        cache.sets[probe.slot()] = Set([filler(9, 90), filler(10, 50)]);
        cache.sets[probe.alt()] = Set([filler(11, 80), filler(12, 10)]);
        cache.put(probe, 5, &[3]);
        assert_eq!(tokens(cache.get(probe, 5)), Some(vec![3]));
        let second = cache.sets[probe.alt()].0;
        assert_eq!((second[0].len, second[1].len), (5, 11));
        let first = cache.sets[probe.slot()].0;
        assert_eq!((first[0].len, first[1].len), (9, 10));
    }

    #[test]
    fn a_piece_found_second_in_its_set_moves_first() {
        let mut cache = PieceCache::new();
        let text = b"piece";
        let probe = cache.prober().probe(text, 0, 5, false);
        cache.put(probe, 5, &[3]);
        // Another piece of the same set put after it: the newer goes first.
        let other = Entry {
            key: 1,
            len: 9,
            count: 1,
            stamp: 0,
            ids: [4, 0, 0],
        };
        let set = &mut cache.sets[probe.slot()].0;
        assert_eq!(set[0].len, 5);
        set[1] = set[0];
        set[0] = other;
        assert_eq!(tokens(cache.get(probe, 5)), Some(vec![3]));
        // Found second, it is now first, where the next lookup looks first; both are kept.
        let set = cache.sets[probe.slot()].0;
        assert_eq!((set[0].len, set[1].len), (5, 9));
        assert_eq!(set[1].ids, [4, 0, 0]);
        assert_eq!(tokens(cache.get(probe, 5)), Some(vec![3]));
        assert_eq!(cache.sets[probe.slot()].0[0].len, 5);
    }

    #[test]
    fn a_count_is_the_number_of_tokens_inline_or_spilled_and_moves_its_piece_first() {
        let mut cache = PieceCache::new();
        let text = b"two pieces here";
        let (short, long) = (
            cache.prober().probe(text, 0, 3, false),
            cache.prober().probe(text, 3, 15, false),
        );
        cache.put(short, 3, &[7, 8]);
        cache.put(long, 12, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(cache.get_count(short, 3), Some(2));
        assert_eq!(cache.get_count(long, 12), Some(6));
        assert_eq!(tokens(cache.get(long, 12)), Some(vec![1, 2, 3, 4, 5, 6]));
        // Not held: another length at the same start, or a piece never put.
        assert_eq!(cache.get_count(short, 2), None);
        let unseen = cache.prober().probe(text, 4, 10, false);
        assert_eq!(cache.get_count(unseen, 6), None);
        // Found second in its set, it moves first, as with `get`.
        let set = &mut cache.sets[short.slot()].0;
        set[1] = set[0];
        set[0] = Entry {
            key: 1,
            len: 9,
            count: 1,
            stamp: 0,
            ids: [4, 0, 0],
        };
        assert_eq!(cache.get_count(short, 3), Some(2));
        assert_eq!(cache.sets[short.slot()].0[0].len, 3);
        assert_eq!(tokens(cache.get(short, 3)), Some(vec![7, 8]));
    }

    #[test]
    fn a_table_half_full_is_crowded_until_it_starts_again() {
        let mut cache = PieceCache::new();
        let mut puts = 0u32;
        while !cache.crowded() {
            // Distinct pieces of four bytes, as many as there are sets.
            let piece = puts.to_le_bytes();
            cache.put(cache.prober().probe(&piece, 0, 4, false), 4, &[puts]);
            puts += 1;
            assert!(
                puts as usize <= SETS + SETS / 8,
                "never crowded: {}",
                cache.held
            );
        }
        // Held entries count what is there: a piece put again adds nothing.
        assert!(puts as usize >= SETS);
        let held = cache.held;
        let again = 7u32.to_le_bytes();
        cache.put(cache.prober().probe(&again, 0, 4, false), 4, &[7]);
        assert_eq!(cache.held, held);
        // A spill that does not fit empties the table, which is then not crowded.
        let spill: Vec<Rank> = (0..200).collect();
        while cache.crowded() {
            cache.put(cache.prober().probe(b"xy", 0, 2, false), 2, &spill);
        }
        assert!(cache.held <= 1);
    }

    #[test]
    fn a_full_spill_starts_the_table_again() {
        let mut cache = PieceCache::new();
        let text = b"abcdefgh and more text after it";
        let first = cache.prober().probe(text, 0, 1, false);
        cache.put(first, 1, &[5, 6, 7, 8]);
        let spill: Vec<Rank> = (0..200).collect();
        let mut puts = 0;
        // Fill the spilled tokens to their limit with another piece, over and over.
        while cache.spilled.len() + spill.len() <= SPILL_LIMIT {
            let other = cache.prober().probe(text, 1, 3, false);
            cache.put(other, 2, &spill);
            puts += 1;
        }
        assert!(puts > 0);
        assert_eq!(tokens(cache.get(first, 1)), Some(vec![5, 6, 7, 8]));
        // The next spill does not fit: everything starts again, and stays right.
        let other = cache.prober().probe(text, 1, 3, false);
        cache.put(other, 2, &spill);
        assert!(cache.get(first, 1).is_none());
        assert_eq!(tokens(cache.get(other, 2)), Some(spill.clone()));
        assert_eq!(cache.spilled.len(), spill.len());
    }

    #[test]
    fn nested_use_gets_no_cache_and_two_vocabularies_are_kept() {
        // Vocabulary ids from a range no real vocabulary uses.
        let (a, b, c) = (u64::MAX - 1, u64::MAX - 2, u64::MAX - 3);
        let text = b"cached piece, with text after it";
        with_cache(a, |cache| {
            let cache = cache.expect("a cache");
            let probe = cache.prober().probe(text, 0, 6, false);
            cache.put(probe, 6, &[42]);
            with_cache(a, |inner| assert!(inner.is_none()));
        });
        let held = |id| {
            with_cache(id, |cache| {
                let cache = cache.expect("a cache");
                cache
                    .get(cache.prober().probe(text, 0, 6, false), 6)
                    .is_some()
            })
        };
        assert!(held(a));
        assert!(!held(b)); // a and b kept
        assert!(held(a)); // a most recent: b goes next
        assert!(!held(c)); // a and c kept
        assert!(held(a));
        assert!(!held(b)); // b was dropped, and now c is
        assert!(!held(c));
    }
}
