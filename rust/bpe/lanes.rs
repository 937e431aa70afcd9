//! Chunks of a long piece merged side by side, so that their vocabulary lookups overlap.
//!
//! Each merge step needs the ranks of the two pairs around the new part before the next step
//! can choose, and those ranks live in tables larger than a core's cache: one chunk merged
//! alone waits for a load from memory at every step. Here each chunk (a lane) runs the same
//! scan as `merge_small`, but after a step it only starts its two lookups (prefetching them)
//! and hands over to the next lane; it reads them back at its next turn, when the loads have
//! arrived. Each lane's steps are exactly those of merging its chunk alone.

use super::{byte_rank, MissingByte, NONE, POS_BITS};
use crate::vocab::{Rank, Vocab};

/// Chunks merged side by side at most.
pub const LANES: usize = 8;
/// Longest chunk a lane takes (its positions must fit POS_BITS).
pub const LANE_BYTES: usize = 64;

/// No lookup waiting in a pending slot.
const IDLE: u8 = u8::MAX;

/// One chunk's merge in progress: the scan's arrays (see `merge_small_impl`), and the lookups
/// its last step started.
#[derive(Clone, Copy)]
struct Lane {
    pair: [u32; LANE_BYTES],
    token: [Rank; LANE_BYTES],
    next: [u8; LANE_BYTES],
    prev: [u8; LANE_BYTES],
    /// (part, end of its pair, prepared key): the pair of part `part` is the token (if any)
    /// of `chunk[part..end]`, to be read back with the key.
    pending: [(u8, u8, u64); 2],
}

const EMPTY_LANE: Lane = Lane {
    pair: [NONE; LANE_BYTES],
    token: [NONE; LANE_BYTES],
    next: [0; LANE_BYTES],
    prev: [0; LANE_BYTES],
    pending: [(IDLE, 0, 0); 2],
};

#[inline(always)]
fn key(rank: Option<Rank>, i: usize) -> u32 {
    match rank {
        Some(r) => (r << POS_BITS) | i as u32,
        None => NONE,
    }
}

/// Merges each of `chunks` (at most LANES, each 1..=LANE_BYTES bytes) and appends its tokens
/// with their byte lengths to `out`; `ends[c]` becomes where chunk `c`'s tokens end in `out`.
/// The vocabulary must have compact ranks (`Vocab::has_compact_ranks`).
pub fn merge_chunks(
    vocab: &Vocab,
    chunks: &[&[u8]],
    out: &mut Vec<(Rank, u32)>,
    ends: &mut [usize; LANES],
) -> Result<(), MissingByte> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { merge_chunks_avx2(vocab, chunks, out, ends) };
    }
    merge_chunks_impl(vocab, chunks, out, ends)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn merge_chunks_avx2(
    vocab: &Vocab,
    chunks: &[&[u8]],
    out: &mut Vec<(Rank, u32)>,
    ends: &mut [usize; LANES],
) -> Result<(), MissingByte> {
    merge_chunks_impl(vocab, chunks, out, ends)
}

#[inline(always)]
pub(super) fn merge_chunks_impl(
    vocab: &Vocab,
    chunks: &[&[u8]],
    out: &mut Vec<(Rank, u32)>,
    ends: &mut [usize; LANES],
) -> Result<(), MissingByte> {
    debug_assert!(chunks.len() <= LANES && vocab.has_compact_ranks());
    let mut lanes = [EMPTY_LANE; LANES];
    // The lanes still merging, in chunk order.
    let mut active = [0u8; LANES];
    let mut live = 0;
    for (c, chunk) in chunks.iter().enumerate() {
        let n = chunk.len();
        debug_assert!((1..=LANE_BYTES).contains(&n));
        let lane = &mut lanes[c];
        for i in 0..n {
            lane.token[i] = byte_rank(vocab, chunk[i])?;
            lane.next[i] = (i + 1) as u8;
            lane.prev[i] = i.wrapping_sub(1) as u8;
        }
        for i in 0..n - 1 {
            lane.pair[i] = key(vocab.pair_rank(chunk[i], chunk[i + 1]), i);
        }
        active[live] = c as u8;
        live += 1;
    }
    while live > 0 {
        let mut kept = 0;
        for a in 0..live {
            let c = active[a] as usize;
            if lanes[c].step(vocab, chunks[c]) {
                active[kept] = c as u8;
                kept += 1;
            }
        }
        live = kept;
    }
    for (c, chunk) in chunks.iter().enumerate() {
        let lane = &lanes[c];
        let n = chunk.len();
        let mut i = 0;
        while i < n {
            let j = lane.next[i] as usize;
            out.push((lane.token[i], (j - i) as u32));
            i = j;
        }
        ends[c] = out.len();
    }
    Ok(())
}

/// The lowest key: all of them, eight at a time (entries past the chunk are NONE), so the loop
/// is whole vectors with no scalar tail.
#[inline(always)]
fn lowest(keys: &[u32; LANE_BYTES]) -> u32 {
    let mut acc = [NONE; 8];
    for group in keys.chunks_exact(8) {
        for (a, &k) in acc.iter_mut().zip(group) {
            *a = (*a).min(k);
        }
    }
    acc.into_iter().min().expect("eight")
}

impl Lane {
    /// Reads back the lookups of the last step, then takes the next step (merging the lowest
    /// pair, starting the lookups of its two new pairs). False when no pair is left.
    #[inline(always)]
    fn step(&mut self, vocab: &Vocab, chunk: &[u8]) -> bool {
        for slot in &mut self.pending {
            let (part, end, prepared) = *slot;
            if part != IDLE {
                let p = part as usize;
                self.pair[p] = key(vocab.rank_prepared(&chunk[p..end as usize], prepared), p);
                slot.0 = IDLE;
            }
        }
        let n = chunk.len();
        let best = lowest(&self.pair);
        if best == NONE {
            return false;
        }
        let i = (best & ((1 << POS_BITS) - 1)) as usize;
        // Merge part i with the next one, j; k follows them.
        let j = self.next[i] as usize;
        let k = self.next[j] as usize;
        self.token[i] = best >> POS_BITS;
        self.pair[j] = NONE;
        self.next[i] = k as u8;
        // Until read back, the two pairs hold NONE; the next scan comes after that.
        self.pair[i] = NONE;
        if k < n {
            self.prev[k] = i as u8;
            let end = self.next[k] as usize;
            self.pending[0] = (i as u8, end as u8, vocab.prepare(&chunk[i..end]));
        }
        if i > 0 {
            let p = self.prev[i] as usize;
            self.pending[1] = (p as u8, k as u8, vocab.prepare(&chunk[p..k]));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::reference_merge;
    use super::*;
    use proptest::prelude::*;

    fn vocabs() -> [&'static Vocab; 3] {
        super::super::test_vocabs()
    }

    /// Merges `chunks` side by side, with AVX2 where the CPU has it and the portable build.
    fn side_by_side(vocab: &Vocab, chunks: &[&[u8]]) -> Vec<Vec<Rank>> {
        let mut results = Vec::new();
        for portable in [false, true] {
            let mut out = Vec::new();
            let mut ends = [0; LANES];
            if portable {
                merge_chunks_impl(vocab, chunks, &mut out, &mut ends).unwrap();
            } else {
                merge_chunks(vocab, chunks, &mut out, &mut ends).unwrap();
            }
            let mut from = 0;
            for (c, chunk) in chunks.iter().enumerate() {
                let tokens = &out[from..ends[c]];
                let bytes: u32 = tokens.iter().map(|t| t.1).sum();
                assert_eq!(bytes as usize, chunk.len());
                results.push(tokens.iter().map(|t| t.0).collect());
                from = ends[c];
            }
        }
        results
    }

    fn chunk_strategy() -> impl Strategy<Value = Vec<u8>> {
        let alphabets: Vec<&'static [u8]> = vec![
            b"a",
            b"abcdefghijklmnopqrstuvwxyz",
            b"ab ",
            "日本語テスト😀".as_bytes(),
            "\u{4e00}\u{4e01}\u{9fa5}\u{3042}".as_bytes(),
            b"0123456789+/=ABCDEFabcdef",
        ];
        (0..alphabets.len(), 1usize..=LANE_BYTES).prop_flat_map(move |(k, len)| {
            let alphabet = alphabets[k].to_vec();
            prop::collection::vec(
                prop_oneof![8 => prop::sample::select(alphabet), 1 => any::<u8>()],
                len..=len,
            )
        })
    }

    proptest! {
        #![proptest_config(crate::test_cases::cases(500))]
        /// Every lane gives exactly the reference merge of its chunk, whatever its neighbours.
        #[test]
        fn each_lane_equals_the_reference(
            chunks in prop::collection::vec(chunk_strategy(), 1..=LANES),
        ) {
            let slices: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            for vocab in vocabs() {
                let expected: Vec<Vec<Rank>> =
                    slices.iter().map(|c| reference_merge(vocab, c)).collect();
                let got = side_by_side(vocab, &slices);
                prop_assert_eq!(&got[..slices.len()], &expected[..]);
                prop_assert_eq!(&got[slices.len()..], &expected[..]);
            }
        }
    }

    #[test]
    fn a_missing_byte_is_the_first_in_chunk_order() {
        let v = Vocab::from_pairs(vec![(b"a".to_vec(), 0), (b"b".to_vec(), 1)]).unwrap();
        let (mut out, mut ends) = (Vec::new(), [0; LANES]);
        let chunks: [&[u8]; 3] = [b"abab", b"abxa", b"zab"];
        assert_eq!(
            merge_chunks(&v, &chunks, &mut out, &mut ends),
            Err(MissingByte(b'x'))
        );
    }
}
