//! Byte pair merging of one piece, with tiktoken's exact semantics: repeatedly merge the
//! adjacent pair whose concatenation has the lowest rank, the leftmost one on ties, until no
//! adjacent pair is a token.
//!
//! Short pieces use tiktoken's scan over a small array (fastest for the few merges they need);
//! long pieces use a heap of candidate pairs over a linked list, O(n log n), so hostile inputs
//! (a megabyte with no whitespace is one piece) stay near-linear instead of quadratic.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::vocab::{Rank, Vocab};

const NONE: Rank = Rank::MAX;

/// Pieces up to this many bytes merge with the array scan; longer ones with the heap.
pub const SMALL_PIECE: usize = 96;

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
    if let Some(rank) = vocab.rank(piece) {
        emit(rank);
        return Ok(());
    }
    if piece.len() <= SMALL_PIECE {
        merge_small(vocab, piece, emit)
    } else {
        merge_large(vocab, piece, emit)
    }
}

/// Number of tokens of `piece`, without building them.
#[inline]
pub fn count_piece(vocab: &Vocab, piece: &[u8]) -> Result<usize, MissingByte> {
    if vocab.rank(piece).is_some() {
        return Ok(1);
    }
    let mut n = 0;
    encode_piece(vocab, piece, &mut |_| n += 1)?;
    Ok(n)
}

#[inline(always)]
fn byte_rank(vocab: &Vocab, b: u8) -> Result<Rank, MissingByte> {
    vocab.byte_rank(b).ok_or(MissingByte(b))
}

/// tiktoken's algorithm on fixed arrays: parts are byte ranges `start[i]..start[i + 1]`,
/// `pair[i]` the rank of parts i and i+1 together (NONE if not a token).
fn merge_small(
    vocab: &Vocab,
    piece: &[u8],
    emit: &mut impl FnMut(Rank),
) -> Result<(), MissingByte> {
    let n = piece.len();
    debug_assert!((2..=SMALL_PIECE).contains(&n));
    let mut start = [0u32; SMALL_PIECE + 1];
    let mut pair = [NONE; SMALL_PIECE];
    let mut token = [NONE; SMALL_PIECE];
    for i in 0..n {
        start[i] = i as u32;
        token[i] = byte_rank(vocab, piece[i])?;
    }
    start[n] = n as u32;
    for i in 0..n - 1 {
        pair[i] = vocab.rank(&piece[i..i + 2]).unwrap_or(NONE);
    }
    let mut parts = n;
    loop {
        let mut best = NONE;
        let mut at = 0;
        for (i, &r) in pair[..parts - 1].iter().enumerate() {
            if r < best {
                best = r;
                at = i;
            }
        }
        if best == NONE {
            break;
        }
        // Merge parts `at` and `at + 1`; the parts after them shift down by one.
        token[at] = best;
        start.copy_within(at + 2..=parts, at + 1);
        token.copy_within(at + 2..parts, at + 1);
        pair.copy_within(at + 2..parts, at + 1);
        parts -= 1;
        pair[parts - 1] = NONE;
        let span = |a: usize, b: usize| &piece[start[a] as usize..start[b] as usize];
        if at + 1 < parts {
            pair[at] = vocab.rank(span(at, at + 2)).unwrap_or(NONE);
        }
        if at > 0 {
            pair[at - 1] = vocab.rank(span(at - 1, at + 1)).unwrap_or(NONE);
        }
    }
    for &t in &token[..parts] {
        emit(t);
    }
    Ok(())
}

/// The same merges for long pieces. Parts live in a linked list indexed by their start byte;
/// the heap holds (rank, start) of candidate pairs, so popping gives the lowest rank and, on
/// ties, the leftmost pair. Entries go stale when a neighbour merges; they are skipped by
/// checking them against `pair`, the current rank of each part's pair.
fn merge_large(
    vocab: &Vocab,
    piece: &[u8],
    emit: &mut impl FnMut(Rank),
) -> Result<(), MissingByte> {
    let n = piece.len();
    let mut next: Vec<u32> = (1..=n as u32).collect();
    let mut prev: Vec<u32> = (0..n as u32).map(|i| i.wrapping_sub(1)).collect();
    let mut token = Vec::with_capacity(n);
    for &b in piece {
        token.push(byte_rank(vocab, b)?);
    }
    let mut pair = vec![NONE; n];
    let mut heap_items = Vec::with_capacity(n);
    for i in 0..n - 1 {
        if let Some(r) = vocab.rank(&piece[i..i + 2]) {
            pair[i] = r;
            heap_items.push(Reverse(key(r, i)));
        }
    }
    let mut heap = BinaryHeap::from(heap_items);
    let end_of = |next: &[u32], i: usize| next[i] as usize;

    while let Some(Reverse(k)) = heap.pop() {
        let (rank, i) = unkey(k);
        if pair[i] != rank || prev[i] == u32::MAX - 1 {
            continue; // stale: this part's pair changed, or the part was merged away
        }
        let j = end_of(&next, i);
        token[i] = rank;
        let k_end = end_of(&next, j);
        next[i] = k_end as u32;
        if k_end < n {
            prev[k_end] = i as u32;
        }
        prev[j] = u32::MAX - 1; // dead
        pair[j] = NONE;
        pair[i] = if k_end < n {
            vocab.rank(&piece[i..end_of(&next, k_end)]).unwrap_or(NONE)
        } else {
            NONE
        };
        if pair[i] != NONE {
            heap.push(Reverse(key(pair[i], i)));
        }
        let p = prev[i];
        if p != u32::MAX {
            let p = p as usize;
            pair[p] = vocab.rank(&piece[p..k_end]).unwrap_or(NONE);
            if pair[p] != NONE {
                heap.push(Reverse(key(pair[p], p)));
            }
        }
    }
    let mut i = 0;
    while i < n {
        emit(token[i]);
        i = next[i] as usize;
    }
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

/// tiktoken's algorithm, written plainly: the reference the fast paths are tested against.
#[cfg(test)]
pub(crate) fn reference_merge(vocab: &Vocab, piece: &[u8]) -> Vec<Rank> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::compiled_vocab;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn cl100k() -> &'static Vocab {
        static V: OnceLock<Vocab> = OnceLock::new();
        V.get_or_init(|| compiled_vocab!("cl100k_base"))
    }

    fn fast(vocab: &Vocab, piece: &[u8]) -> Vec<Rank> {
        let mut out = Vec::new();
        encode_piece(vocab, piece, &mut |r| out.push(r)).unwrap();
        out
    }

    fn both_paths(vocab: &Vocab, piece: &[u8]) -> (Vec<Rank>, Vec<Rank>) {
        let (mut small, mut large) = (Vec::new(), Vec::new());
        if piece.len() >= 2 && piece.len() <= SMALL_PIECE {
            merge_small(vocab, piece, &mut |r| small.push(r)).unwrap();
        }
        if piece.len() >= 2 {
            merge_large(vocab, piece, &mut |r| large.push(r)).unwrap();
        }
        (small, large)
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
        let v = cl100k();
        for piece in [
            "a".repeat(1000).into_bytes(),
            "ab".repeat(300).into_bytes(),
            "日本語".repeat(100).into_bytes(),
            "😀".repeat(150).into_bytes(),
        ] {
            let expected = reference_merge(v, &piece);
            assert_eq!(fast(v, &piece), expected);
            assert_eq!(both_paths(v, &piece).1, expected);
            assert_eq!(count_piece(v, &piece).unwrap(), expected.len());
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
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn both_merges_equal_the_reference(
            piece in prop::collection::vec(
                prop_oneof![
                    prop::sample::select(b"aaabbe th\xe6\x97\xa5\xf0\x9f\x98\x80".to_vec()),
                    any::<u8>()
                ],
                2..200
            )
        ) {
            let v = cl100k();
            let expected = reference_merge(v, &piece);
            let (small, large) = both_paths(v, &piece);
            if piece.len() <= SMALL_PIECE {
                prop_assert_eq!(&small, &expected);
            }
            prop_assert_eq!(&large, &expected);
            prop_assert_eq!(fast(v, &piece), expected);
        }
    }
}
