//! Byte pair merging of one piece, with tiktoken's exact semantics: repeatedly merge the
//! adjacent pair whose concatenation has the lowest rank, the leftmost one on ties, until no
//! adjacent pair is a token.
//!
//! Short pieces merge with a scan over small arrays. Long pieces (a megabyte without whitespace
//! is one piece) are merged in chunks that are stitched together exactly, using this property
//! of the merge process (proved in the module docs below): a token sequence is the merge result
//! of its bytes if and only if each token is the merge result of its own bytes and every two
//! adjacent tokens are *compatible*: merging their concatenation gives back the two of them.
//! Chunk results satisfy the first part, so only the tokens around each seam need checking;
//! where a seam is not compatible, a small window around it is merged again until its edges
//! are. The cost stays linear in the piece, instead of tiktoken's quadratic.
//!
//! Why the property holds. Take the merge run on the whole text and a sequence T of tokens.
//! (1) If T is the result, the region of each token evolved only by merges inside it, each one
//! the lowest pair of the whole text, so also the lowest inside the region and inside any two
//! adjacent regions: merging one token's bytes, or two adjacent tokens' bytes, alone replays
//! the same merges and stops at the same tokens. (2) Conversely, let every token of T merge to
//! itself and every adjacent pair be compatible, and run the merges on the whole text. Until
//! the first merge that crosses a boundary of T, every region evolves as its token's own run.
//! If a crossing merge happens, it is the lowest pair of the whole text, hence of the two
//! regions it joins, so merging those two tokens alone reaches the same state and takes the
//! same crossing merge: they were not compatible. So no crossing merge happens, every region
//! ends as its token, and T is the result.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::vocab::{Rank, Vocab};

pub mod long;
mod long_cache;

const NONE: Rank = Rank::MAX;

/// Pieces up to this many bytes merge with the array scan.
pub const SMALL_PIECE: usize = 64;
/// Bits of a position in the scan's keys (positions are below SMALL_PIECE).
const POS_BITS: u32 = 6;
/// Long pieces are merged in chunks of this many bytes, then stitched. The largest the scan
/// takes: half the seams of 32-byte chunks made random letters 13-15% faster, a CJK run 9%, a
/// run of one letter 18-20%; chunks of 96 or 128 bytes (with a wider scan) gained nothing more.
const CHUNK: usize = SMALL_PIECE;

/// A byte the vocabulary has no token for (only possible with a custom vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingByte(pub u8);

/// Calls `emit` with the tokens of `piece` (non-empty), in order.
#[inline]
pub fn encode_piece(
    vocab: &Vocab,
    piece: &[u8],
    emit: &mut impl FnMut(Rank),
) -> Result<(), MissingByte> {
    match vocab.rank(piece) {
        Some(rank) => {
            emit(rank);
            Ok(())
        }
        None => encode_unranked(vocab, piece, emit),
    }
}

/// `encode_piece` for a piece already known not to be one token.
#[inline]
pub fn encode_unranked(
    vocab: &Vocab,
    piece: &[u8],
    emit: &mut impl FnMut(Rank),
) -> Result<(), MissingByte> {
    if (2..=cache::MAX_PIECE).contains(&piece.len()) {
        return cache::with_tokens(vocab, piece, emit);
    }
    merge_uncached(vocab, piece, emit)
}

/// The tokens of a piece that is not one token, merged without looking in any cache.
#[inline]
fn merge_uncached(
    vocab: &Vocab,
    piece: &[u8],
    emit: &mut impl FnMut(Rank),
) -> Result<(), MissingByte> {
    if (2..=SMALL_PIECE).contains(&piece.len()) {
        merge_small(vocab, piece, Whole::NotAToken, &mut |r, _| emit(r))
    } else if piece.len() == 1 {
        Err(MissingByte(piece[0]))
    } else {
        merge_long(vocab, piece, emit)
    }
}

/// `encode_piece` for a caller that keeps its own cache of short pieces (the piece cache): a
/// piece of up to `piece_cache::MAX_PIECE` bytes that missed there is merged straight away.
/// Looking in this module's cache as well would only add a second miss and a put: on a base64
/// blob, whose short pieces rarely repeat, those took a fifth of the time.
#[inline]
pub fn encode_piece_behind_cache(
    vocab: &Vocab,
    piece: &[u8],
    emit: &mut impl FnMut(Rank),
) -> Result<(), MissingByte> {
    if piece.len() > crate::piece_cache::MAX_PIECE {
        return encode_piece(vocab, piece, emit);
    }
    match vocab.rank(piece) {
        Some(rank) => {
            emit(rank);
            Ok(())
        }
        None => merge_uncached(vocab, piece, emit),
    }
}

/// `encode_piece` for a piece longer than the piece cache keeps: one of up to
/// `cache::MAX_PIECE` bytes is looked up in this module's cache first (in code, long runs of
/// spaces and long names, most of them one token or a few, repeat), one of up to
/// `long_cache::MAX_PIECE` in the cache of long pieces.
#[inline]
pub fn encode_long_piece(
    vocab: &Vocab,
    piece: &[u8],
    emit: &mut impl FnMut(Rank),
) -> Result<(), MissingByte> {
    if piece.len() <= cache::MAX_PIECE {
        return cache::with_tokens_of_any(vocab, piece, emit);
    }
    if piece.len() <= long_cache::MAX_PIECE {
        return long_cache::with_tokens(vocab, piece, emit, |out| {
            encode_piece(vocab, piece, &mut |r| out(r))
        });
    }
    encode_piece(vocab, piece, emit)
}

/// Number of tokens of `piece`, without building them.
#[inline]
pub fn count_piece(vocab: &Vocab, piece: &[u8]) -> Result<usize, MissingByte> {
    let mut n = 0;
    encode_piece(vocab, piece, &mut |_| n += 1)?;
    Ok(n)
}

#[inline(always)]
fn byte_rank(vocab: &Vocab, b: u8) -> Result<Rank, MissingByte> {
    vocab.byte_rank(b).ok_or(MissingByte(b))
}

/// A per-thread cache of recent short pieces and their tokens. Natural text repeats its words;
/// a word that is not one token costs a dozen table lookups to merge, a cache probe to repeat.
mod cache {
    use std::cell::RefCell;

    use super::{merge_small, MissingByte, Rank, Whole};
    use crate::piece_cache::{pick_set, two_sets};
    use crate::vocab::{hash_token, head_word, Vocab};

    /// Longest piece kept, and most tokens kept per piece: enough for the words of scripts
    /// written in two- and three-byte chars, which take several tokens each. With 32 and 12,
    /// 1 MB of multilingual text (o200k) merged its 344 pieces of over 32 bytes and the 17 to
    /// 32 byte ones of more than 12 tokens on every pass: counting it took 6.7-6.9 ms, now
    /// 5.2-5.4 (best round of 15 alternating runs, pinned).
    pub const MAX_PIECE: usize = 64;
    const MAX_TOKENS: usize = 16;
    /// Sets of two entries (1.1 MiB per thread, each thread of a batch holding its own). A
    /// piece sits in either entry of either of its two sets, so pieces whose hashes meet do not
    /// keep evicting each other: with one set, 1 MB of multilingual text merged 1,081 of its
    /// 3,127 distinct pieces of 17 to 32 bytes again on every pass.
    const SETS: usize = 1 << 12;

    #[derive(Clone, Copy)]
    struct Entry {
        /// Hash of the piece mixed with the vocabulary id; 0 for an empty entry.
        tag: u64,
        len: u8,
        count: u8,
        /// The table's clock when it was put: when both sets are full, the older goes.
        stamp: u16,
        piece: [u8; MAX_PIECE],
        tokens: [Rank; MAX_TOKENS],
    }

    const EMPTY: Entry = Entry {
        tag: 0,
        len: 0,
        count: 0,
        stamp: 0,
        piece: [0; MAX_PIECE],
        tokens: [0; MAX_TOKENS],
    };

    struct Table {
        sets: Vec<[Entry; 2]>,
        /// Counts puts (wrapping), to stamp entries.
        clock: u16,
    }

    thread_local! {
        static CACHE: RefCell<Table> = const {
            RefCell::new(Table { sets: Vec::new(), clock: 0 })
        };
    }

    /// Emits the tokens of `piece` (2..=MAX_PIECE bytes, not itself a token), from the cache
    /// when it holds them, else by merging and remembering the result.
    pub fn with_tokens(
        vocab: &Vocab,
        piece: &[u8],
        emit: &mut impl FnMut(Rank),
    ) -> Result<(), MissingByte> {
        with_tokens_by(vocab, piece, emit, |out| {
            merge_small(vocab, piece, Whole::NotAToken, &mut |t, _| out(t))
        })
    }

    /// `with_tokens` for a piece that may be one token: the cache is asked first, so a piece
    /// it holds costs one hash and no look in the vocabulary.
    pub fn with_tokens_of_any(
        vocab: &Vocab,
        piece: &[u8],
        emit: &mut impl FnMut(Rank),
    ) -> Result<(), MissingByte> {
        with_tokens_by(vocab, piece, emit, |out| match vocab.rank(piece) {
            Some(rank) => {
                out(rank);
                Ok(())
            }
            None => merge_small(vocab, piece, Whole::NotAToken, &mut |t, _| out(t)),
        })
    }

    /// Emits the tokens of `piece` from the cache, or those `tokens_of` gives, which it keeps.
    #[inline]
    fn with_tokens_by(
        vocab: &Vocab,
        piece: &[u8],
        emit: &mut impl FnMut(Rank),
        tokens_of: impl FnOnce(&mut dyn FnMut(Rank)) -> Result<(), MissingByte>,
    ) -> Result<(), MissingByte> {
        let tag = hash_token(head_word(piece), piece)
            ^ vocab.id().wrapping_mul(0x9e37_79b9_7f4a_7c15)
            | 1;
        let sets = two_sets(tag, SETS);
        let mut hit = [0; MAX_TOKENS];
        let hit_count = CACHE.with(|c| {
            let c = c.try_borrow().ok()?;
            let e = c.find(sets, tag, piece)?;
            hit = e.tokens;
            Some(e.count as usize)
        });
        if let Some(n) = hit_count {
            hit[..n].iter().for_each(|&t| emit(t));
            return Ok(());
        }
        let mut entry = Entry {
            tag,
            len: piece.len() as u8,
            ..EMPTY
        };
        entry.piece[..piece.len()].copy_from_slice(piece);
        let mut count = 0usize;
        tokens_of(&mut |t| {
            if count < MAX_TOKENS {
                entry.tokens[count] = t;
            }
            count += 1;
            emit(t);
        })?;
        if count <= MAX_TOKENS {
            entry.count = count as u8;
            CACHE.with(|c| {
                if let Ok(mut c) = c.try_borrow_mut() {
                    c.put(sets, entry);
                }
            });
        }
        Ok(())
    }

    impl Table {
        /// The entry of `piece` (with this tag), in either of its sets.
        fn find(&self, sets: [usize; 2], tag: u64, piece: &[u8]) -> Option<&Entry> {
            for set in sets {
                for e in self.sets.get(set)? {
                    if e.tag == tag && &e.piece[..e.len as usize] == piece {
                        return Some(e);
                    }
                }
            }
            None
        }

        /// Keeps `entry` in one of its two sets (`pick_set`'s rule); in a set, the newer entry
        /// first, the older second.
        fn put(&mut self, [first, second]: [usize; 2], mut entry: Entry) {
            if self.sets.is_empty() {
                self.sets.resize(SETS, [EMPTY; 2]);
            }
            self.clock = self.clock.wrapping_add(1);
            entry.stamp = self.clock;
            let stamp = |set: usize| {
                let older = self.sets[set][1];
                (older.tag != 0).then_some(older.stamp)
            };
            let set = pick_set([first, second], [stamp(first), stamp(second)], self.clock);
            self.sets[set] = [entry, self.sets[set][0]];
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn entry(tag: u64, piece: &[u8]) -> Entry {
            let mut e = Entry {
                tag,
                len: piece.len() as u8,
                ..EMPTY
            };
            e.piece[..piece.len()].copy_from_slice(piece);
            e
        }

        #[test]
        fn pieces_that_meet_in_a_set_go_to_their_second_and_the_oldest_goes_last() {
            let mut table = Table {
                sets: Vec::new(),
                clock: 0,
            };
            // Three pieces whose first set is 7; their second sets differ.
            let pieces: [(&[u8], u64, [usize; 2]); 3] = [
                (b"one piece", 11, [7, 100]),
                (b"two piece", 12, [7, 200]),
                (b"three", 13, [7, 300]),
            ];
            for &(piece, tag, sets) in &pieces {
                table.put(sets, entry(tag, piece));
            }
            for &(piece, tag, sets) in &pieces {
                assert!(table.find(sets, tag, piece).is_some());
            }
            // A fourth with the third's two sets finds room in the second. A fifth finds both
            // full: the older of the two sets' older entries (the first piece) goes.
            table.put([7, 300], entry(14, b"fourth"));
            table.put([7, 300], entry(15, b"fifth"));
            for (piece, tag, sets) in [
                (&b"fifth"[..], 15, [7, 300]),
                (b"fourth", 14, [7, 300]),
                (b"three", 13, [7, 300]),
                (b"two piece", 12, [7, 200]),
            ] {
                assert!(table.find(sets, tag, piece).is_some());
            }
            assert!(table.find([7, 100], 11, b"one piece").is_none());
        }
    }
}

/// Merges a piece into `out` as (token, byte length), whatever its length.
fn merge_into(vocab: &Vocab, piece: &[u8], out: &mut Vec<(Rank, u32)>) -> Result<(), MissingByte> {
    let mut push = |r: Rank, len: usize| out.push((r, len as u32));
    match piece.len() {
        0 => Ok(()),
        1 => {
            push(byte_rank(vocab, piece[0])?, 1);
            Ok(())
        }
        n if n <= SMALL_PIECE => merge_small(vocab, piece, Whole::MayBeAToken, &mut push),
        _ => merge_heap(vocab, piece, &mut push),
    }
}

/// `merge_small_impl`, compiled for AVX2 where the CPU has it (detected once, cached by std):
/// the scan's minimum is a vector reduction there, a scalar loop on baseline x86-64.
#[inline]
fn merge_small(
    vocab: &Vocab,
    piece: &[u8],
    whole: Whole,
    emit: &mut impl FnMut(Rank, usize),
) -> Result<(), MissingByte> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { merge_small_avx2(vocab, piece, whole, emit) };
    }
    merge_small_sized::<false>(vocab, piece, whole, emit)
}

/// What the caller of a merge knows of the piece as a whole.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Whole {
    MayBeAToken,
    /// Looked up already: the last merge, into the whole piece, needs no second look. On a
    /// base64 blob the pieces are new, and that look is a trip to memory per piece.
    NotAToken,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn merge_small_avx2(
    vocab: &Vocab,
    piece: &[u8],
    whole: Whole,
    emit: &mut impl FnMut(Rank, usize),
) -> Result<(), MissingByte> {
    merge_small_sized::<true>(vocab, piece, whole, emit)
}

/// Most pieces are short: their arrays (and the minimum's scan) are sized to fit them.
/// `AVX2`: compiled into a function with AVX2 enabled, on a CPU that has it.
#[inline(always)]
fn merge_small_sized<const AVX2: bool>(
    vocab: &Vocab,
    piece: &[u8],
    whole: Whole,
    emit: &mut impl FnMut(Rank, usize),
) -> Result<(), MissingByte> {
    if piece.len() <= 16 {
        merge_small_impl::<16, AVX2>(vocab, piece, whole, emit)
    } else {
        merge_small_impl::<SMALL_PIECE, AVX2>(vocab, piece, whole, emit)
    }
}

/// The scan: part `i` starts at byte `i` while alive; `next`/`prev` link the live parts and
/// `pair[i]` holds the rank of part `i` merged with the next one, shifted left with `i` in the
/// low bits (NONE when that is no token, or when `i` is dead). One vectorised minimum then
/// gives the lowest rank and, on ties, the leftmost position.
#[inline(always)]
fn merge_small_impl<const N: usize, const AVX2: bool>(
    vocab: &Vocab,
    piece: &[u8],
    whole: Whole,
    emit: &mut impl FnMut(Rank, usize),
) -> Result<(), MissingByte> {
    if !vocab.has_compact_ranks() {
        return merge_heap(vocab, piece, emit);
    }
    let n = piece.len();
    debug_assert!((2..=N).contains(&n) && N <= SMALL_PIECE);
    let key = |rank: Option<Rank>, i: usize| match rank {
        Some(r) => (r << POS_BITS) | i as u32,
        None => NONE,
    };
    // The rank of the part `piece[a..b]` merged from two.
    let part = |a: usize, b: usize| match (a, b) {
        (0, end) if end == n && whole == Whole::NotAToken => None,
        _ => vocab.rank(&piece[a..b]),
    };
    const { assert!(N.is_multiple_of(KEYS_PER_VECTOR)) };
    let mut pair = Keys([NONE; N]);
    let mut token = [NONE; N];
    let mut next = [0u8; N];
    let mut prev = [0u8; N];
    for i in 0..n {
        token[i] = byte_rank(vocab, piece[i])?;
        next[i] = (i + 1) as u8;
        prev[i] = i.wrapping_sub(1) as u8;
    }
    for i in 0..n - 1 {
        pair.0[i] = key(vocab.pair_rank(piece[i], piece[i + 1]), i);
    }
    // Scan whole vectors of keys: the entries past the piece are NONE.
    let scan = n.next_multiple_of(KEYS_PER_VECTOR).min(N);
    loop {
        let best = pair.min::<AVX2>(scan);
        if best == NONE {
            break;
        }
        let i = (best & ((1 << POS_BITS) - 1)) as usize;
        // Merge part i with the next one, j; k follows them.
        let j = next[i] as usize;
        let k = next[j] as usize;
        token[i] = best >> POS_BITS;
        pair.set::<AVX2>(j, NONE);
        next[i] = k as u8;
        if k < n {
            prev[k] = i as u8;
            let end = next[k] as usize;
            pair.set::<AVX2>(i, key(part(i, end), i));
        } else {
            pair.set::<AVX2>(i, NONE);
        }
        if i > 0 {
            let p = prev[i] as usize;
            pair.set::<AVX2>(p, key(part(p, k), p));
        }
    }
    emit_parts(n, |i| next[i] as usize, &token, emit);
    Ok(())
}

const KEYS_PER_VECTOR: usize = 8;

/// The scan's keys, read a vector at a time by the minimum. With AVX2 they are written a
/// vector at a time too: a vector read of a 4-byte key just stored cannot be forwarded from the
/// store and waits for it to reach the cache. Rewriting the whole vector made random letters 6%
/// faster, a CJK run 8-10%, a base64 blob 3-6%.
#[repr(C, align(32))]
struct Keys<const N: usize>([u32; N]);

impl<const N: usize> Keys<N> {
    /// Writes key `i`.
    #[inline(always)]
    fn set<const AVX2: bool>(&mut self, i: usize, key: u32) {
        #[cfg(target_arch = "x86_64")]
        if AVX2 {
            let lane = i % KEYS_PER_VECTOR;
            // SAFETY: `AVX2` is set only where the CPU has it; the vector of 8 keys holding
            // key `i` lies inside the array (N is a multiple of 8), aligned by `Keys`.
            return unsafe { keys_avx2::set(self.0.as_mut_ptr().add(i - lane), lane, key) };
        }
        self.0[i] = key;
    }

    /// The least of the first `scan` keys (a multiple of the vector, at least one vector).
    #[inline(always)]
    fn min<const AVX2: bool>(&self, scan: usize) -> u32 {
        debug_assert!(
            scan.is_multiple_of(KEYS_PER_VECTOR) && (KEYS_PER_VECTOR..=N).contains(&scan)
        );
        #[cfg(target_arch = "x86_64")]
        if AVX2 {
            // SAFETY: as in `set`; `scan` keys lie inside the array.
            return unsafe { keys_avx2::min(self.0.as_ptr(), scan / KEYS_PER_VECTOR) };
        }
        self.0[..scan].iter().copied().min().expect("non-empty")
    }
}

/// The scan's keys as aligned vectors of 8.
#[cfg(target_arch = "x86_64")]
mod keys_avx2 {
    use std::arch::x86_64::*;

    /// Sets lane `lane` of the aligned vector at `at` to `key`: one vector load and store.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub unsafe fn set(at: *mut u32, lane: usize, key: u32) {
        let at = at as *mut __m256i;
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let here = _mm256_cmpeq_epi32(lanes, _mm256_set1_epi32(lane as i32));
        let v = _mm256_blendv_epi8(_mm256_load_si256(at), _mm256_set1_epi32(key as i32), here);
        _mm256_store_si256(at, v);
    }

    /// The least key of `vectors` aligned vectors from `at`.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub unsafe fn min(at: *const u32, vectors: usize) -> u32 {
        let at = at as *const __m256i;
        let mut least = _mm256_load_si256(at);
        for v in 1..vectors {
            least = _mm256_min_epu32(least, _mm256_load_si256(at.add(v)));
        }
        let half = _mm_min_epu32(
            _mm256_castsi256_si128(least),
            _mm256_extracti128_si256::<1>(least),
        );
        let quarter = _mm_min_epu32(half, _mm_shuffle_epi32::<0b11_10>(half));
        let last = _mm_min_epu32(quarter, _mm_shuffle_epi32::<0b01>(quarter));
        _mm_cvtsi128_si32(last) as u32
    }
}

/// Emits each live part's token and byte length, following the links from part 0.
#[inline(always)]
fn emit_parts(
    n: usize,
    next: impl Fn(usize) -> usize,
    token: &[Rank],
    emit: &mut impl FnMut(Rank, usize),
) {
    let mut i = 0;
    while i < n {
        let j = next(i);
        emit(token[i], j - i);
        i = j;
    }
}

/// Long pieces: chunk by chunk, each seam made exact (see the module docs), in bounded memory
/// (see [`long`]).
fn merge_long(vocab: &Vocab, piece: &[u8], emit: &mut impl FnMut(Rank)) -> Result<(), MissingByte> {
    let mut merger = long::LongPiece::new();
    merger.push(vocab, piece, emit)?;
    merger.finish(vocab, emit)
}

/// Whether merging the bytes of `a` then `b` gives back exactly `a`, `b`; remembered per thread,
/// since the same seams come back in repetitive text.
fn compatible(vocab: &Vocab, a: Rank, b: Rank) -> Result<bool, MissingByte> {
    const SLOTS: usize = 1024;
    thread_local! {
        static SEEN: std::cell::RefCell<[(u64, u64, bool); SLOTS]> =
            const { std::cell::RefCell::new([(0, 0, false); SLOTS]) };
    }
    let pair = (a as u64) << 32 | b as u64;
    let slot = (pair.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 54) as usize & (SLOTS - 1);
    let known = SEEN.with(|s| {
        let (p, id, ok) = s.borrow()[slot];
        (p == pair && id == vocab.id()).then_some(ok)
    });
    if let Some(ok) = known {
        return Ok(ok);
    }
    let ok = compatible_uncached(vocab, a, b)?;
    SEEN.with(|s| s.borrow_mut()[slot] = (pair, vocab.id(), ok));
    Ok(ok)
}

fn compatible_uncached(vocab: &Vocab, a: Rank, b: Rank) -> Result<bool, MissingByte> {
    let (x, y) = (
        vocab.token_bytes(a).expect("a token"),
        vocab.token_bytes(b).expect("a token"),
    );
    let n = x.len() + y.len();
    let mut buf = [0u8; 256];
    let mut heap_buf = Vec::new();
    let joined: &mut [u8] = if n <= buf.len() {
        &mut buf[..n]
    } else {
        heap_buf.resize(n, 0); // only custom vocabularies have tokens over 128 bytes
        &mut heap_buf
    };
    joined[..x.len()].copy_from_slice(x);
    joined[x.len()..].copy_from_slice(y);
    let joined = &*joined;
    if vocab.rank(joined).is_some() {
        return Ok(false); // merging everything ends in one token
    }
    // Two single bytes with no pair token cannot merge.
    if n == 2 {
        return Ok(true);
    }
    let mut seen = 0usize;
    let mut same = true;
    let mut check = |r: Rank, _len: usize| {
        same &= match seen {
            0 => r == a,
            1 => r == b,
            _ => false,
        };
        seen += 1;
    };
    if n <= SMALL_PIECE {
        merge_small(vocab, joined, Whole::MayBeAToken, &mut check)?;
    } else {
        merge_heap(vocab, joined, &mut check)?;
    }
    Ok(same && seen == 2)
}

/// A heap of candidate pairs over a linked list, O(n log n): for stitching windows that grew
/// large. Parts are indexed by their start byte; the heap holds (rank, start), so popping gives
/// the lowest rank and, on ties, the leftmost pair; entries that went stale when a neighbour
/// merged are skipped by checking them against `pair`.
fn merge_heap(
    vocab: &Vocab,
    piece: &[u8],
    emit: &mut impl FnMut(Rank, usize),
) -> Result<(), MissingByte> {
    let n = piece.len();
    const DEAD: u32 = u32::MAX - 1;
    let mut next: Vec<u32> = (1..=n as u32).collect();
    let mut prev: Vec<u32> = (0..n as u32).map(|i| i.wrapping_sub(1)).collect();
    let mut token = Vec::with_capacity(n);
    for &b in piece {
        token.push(byte_rank(vocab, b)?);
    }
    let mut pair = vec![NONE; n];
    let mut items = Vec::with_capacity(n);
    for i in 0..n - 1 {
        if let Some(r) = vocab.pair_rank(piece[i], piece[i + 1]) {
            pair[i] = r;
            items.push(Reverse(key(r, i)));
        }
    }
    let mut heap = BinaryHeap::from(items);
    while let Some(Reverse(k)) = heap.pop() {
        let (rank, i) = unkey(k);
        if pair[i] != rank || prev[i] == DEAD {
            continue;
        }
        let j = next[i] as usize;
        let after = next[j] as usize;
        token[i] = rank;
        next[i] = after as u32;
        if after < n {
            prev[after] = i as u32;
        }
        prev[j] = DEAD;
        pair[j] = NONE;
        pair[i] = if after < n {
            vocab.rank(&piece[i..next[after] as usize]).unwrap_or(NONE)
        } else {
            NONE
        };
        if pair[i] != NONE {
            heap.push(Reverse(key(pair[i], i)));
        }
        let p = prev[i];
        if p != u32::MAX {
            let p = p as usize;
            pair[p] = vocab.rank(&piece[p..after]).unwrap_or(NONE);
            if pair[p] != NONE {
                heap.push(Reverse(key(pair[p], p)));
            }
        }
    }
    emit_parts(n, |i| next[i] as usize, &token, emit);
    Ok(())
}

#[inline(always)]
fn key(rank: Rank, start: usize) -> u64 {
    ((rank as u64) << 32) | start as u64
}

#[inline(always)]
fn unkey(k: u64) -> (Rank, usize) {
    ((k >> 32) as Rank, (k & 0xFFFF_FFFF) as usize)
}

/// tiktoken's algorithm, written plainly: the reference the fast paths are tested (and fuzzed)
/// against.
#[cfg(any(test, feature = "fuzzing"))]
pub fn reference_merge(vocab: &Vocab, piece: &[u8]) -> Vec<Rank> {
    let mut parts: Vec<Vec<u8>> = piece.iter().map(|&b| vec![b]).collect();
    loop {
        let mut best: Option<(Rank, usize)> = None;
        for i in 0..parts.len().saturating_sub(1) {
            let joined = [parts[i].as_slice(), parts[i + 1].as_slice()].concat();
            if let Some(r) = vocab.rank(&joined) {
                if best.is_none_or(|(b, _)| r < b) {
                    best = Some((r, i));
                }
            }
        }
        let Some((_, i)) = best else { break };
        let right = parts.remove(i + 1);
        parts[i].extend(right);
    }
    parts.iter().map(|p| vocab.rank(p).unwrap()).collect()
}

/// r50k, cl100k and o200k, built once for the tests of every merge path.
#[cfg(test)]
fn test_vocabs() -> [&'static Vocab; 3] {
    use crate::vocab::compiled_vocab;
    use std::sync::OnceLock;
    static R50K: OnceLock<Vocab> = OnceLock::new();
    static CL100K: OnceLock<Vocab> = OnceLock::new();
    static O200K: OnceLock<Vocab> = OnceLock::new();
    [
        R50K.get_or_init(|| compiled_vocab!("r50k_base")),
        CL100K.get_or_init(|| compiled_vocab!("cl100k_base")),
        O200K.get_or_init(|| compiled_vocab!("o200k_base")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cl100k() -> &'static Vocab {
        test_vocabs()[1]
    }

    fn o200k() -> &'static Vocab {
        test_vocabs()[2]
    }

    fn fast(vocab: &Vocab, piece: &[u8]) -> Vec<Rank> {
        let mut out = Vec::new();
        encode_piece(vocab, piece, &mut |r| out.push(r)).unwrap();
        out
    }

    /// Every path that can merge a piece: the scan, the heap and the chunked stitching.
    fn all_paths(vocab: &Vocab, piece: &[u8]) -> Vec<Vec<Rank>> {
        let mut results = Vec::new();
        if piece.len() >= 2 && piece.len() <= SMALL_PIECE {
            let mut v = Vec::new();
            merge_small(vocab, piece, Whole::MayBeAToken, &mut |r, _| v.push(r)).unwrap();
            results.push(v);
            // The portable twin of the AVX2 build, which is what runs off x86-64.
            let mut v = Vec::new();
            merge_small_sized::<false>(vocab, piece, Whole::MayBeAToken, &mut |r, _| v.push(r))
                .unwrap();
            results.push(v);
            // What the caches' misses run: a piece looked up first, that is not one token.
            if vocab.rank(piece).is_none() {
                let mut v = Vec::new();
                merge_small(vocab, piece, Whole::NotAToken, &mut |r, _| v.push(r)).unwrap();
                results.push(v);
            }
        }
        if piece.len() >= 2 {
            let mut v = Vec::new();
            merge_heap(vocab, piece, &mut |r, _| v.push(r)).unwrap();
            results.push(v);
            let mut v = Vec::new();
            merge_long(vocab, piece, &mut |r| v.push(r)).unwrap();
            results.push(v);
            // Through the cache of longer pieces: the first call may fill it, the second
            // answers from it.
            for _ in 0..2 {
                let mut v = Vec::new();
                encode_long_piece(vocab, piece, &mut |r| v.push(r)).unwrap();
                results.push(v);
            }
        }
        results
    }

    #[test]
    fn long_pieces_that_are_one_token_come_back_from_the_cache_as_that_token() {
        for v in [cl100k(), o200k()] {
            let long: Vec<(Rank, &[u8])> = (0..v.len() as Rank)
                .filter_map(|r| Some((r, v.token_bytes(r)?)))
                .filter(|(_, b)| (17..=cache::MAX_PIECE).contains(&b.len()))
                .take(200)
                .collect();
            assert!(long.len() > 50);
            for _ in 0..2 {
                for &(rank, bytes) in &long {
                    let mut got = Vec::new();
                    encode_long_piece(v, bytes, &mut |r| got.push(r)).unwrap();
                    assert_eq!(got, vec![rank], "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn known_merges() {
        let v = cl100k();
        assert_eq!(fast(v, b"hello"), vec![15339]);
        assert_eq!(fast(v, b" tokenization"), vec![4037, 2065]);
        assert_eq!(fast(v, "😀".as_bytes()), vec![76460, 222]);
    }

    #[test]
    fn long_runs_merge_like_the_reference() {
        for v in [cl100k(), o200k()] {
            for piece in [
                "a".repeat(1000).into_bytes(),
                "a".repeat(47).into_bytes(),
                "ab".repeat(300).into_bytes(),
                "日本語".repeat(100).into_bytes(),
                "😀".repeat(150).into_bytes(),
                " ".repeat(700).into_bytes(),
                "abcdefghijklmnopqrstuvwxyz".repeat(20).into_bytes(),
                // Periodic runs shifted off the chunk grid: seam windows come back.
                format!("qwertzui{}", "a".repeat(2000)).into_bytes(),
                format!("x{}", "ab".repeat(700)).into_bytes(),
            ] {
                let expected = reference_merge(v, &piece);
                assert_eq!(fast(v, &piece), expected);
                for got in all_paths(v, &piece) {
                    assert_eq!(got, expected);
                }
                assert_eq!(count_piece(v, &piece).unwrap(), expected.len());
            }
        }
    }

    #[test]
    fn missing_bytes_are_reported_not_panicked() {
        let v = Vocab::from_pairs(vec![(b"a".to_vec(), 0), (b"b".to_vec(), 1)]).unwrap();
        let mut sink = |_| {};
        assert_eq!(encode_piece(&v, b"ac", &mut sink), Err(MissingByte(b'c')));
        let long = [b'a'; 200];
        assert!(encode_piece(&v, &long, &mut sink).is_ok());
        assert_eq!(count_piece(&v, &long), Ok(200));
        let mut bad = [b'a'; 200];
        bad[150] = b'z';
        assert_eq!(encode_piece(&v, &bad, &mut sink), Err(MissingByte(b'z')));
    }

    fn piece_strategy() -> impl Strategy<Value = Vec<u8>> {
        let alphabets: Vec<&'static [u8]> = vec![
            b"aaaab",
            b"abcdefghijklmnopqrstuvwxyz",
            b"ab ",
            "日本語テスト😀".as_bytes(),
            b"0123456789+/=ABCDEFabcdef",
        ];
        (0..alphabets.len(), 2usize..400).prop_flat_map(move |(k, len)| {
            let alphabet = alphabets[k].to_vec();
            prop::collection::vec(
                prop_oneof![4 => prop::sample::select(alphabet), 1 => any::<u8>()],
                len..=len,
            )
        })
    }

    proptest! {
        #![proptest_config(crate::test_cases::cases(1500))]
        #[test]
        fn every_path_equals_the_reference(piece in piece_strategy()) {
            for v in [cl100k(), o200k()] {
                let expected = reference_merge(v, &piece);
                for got in all_paths(v, &piece) {
                    prop_assert_eq!(&got, &expected);
                }
                prop_assert_eq!(fast(v, &piece), expected);
            }
        }
    }
}
