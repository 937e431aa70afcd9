//! Long pieces merged in bounded memory: fed in parts of any size, merged chunk by chunk and
//! stitched exactly (see the parent module), their tokens handed out as soon as they are final.
//!
//! When is a token final? Write `last(i)` for the last token of the merge result of the first
//! `i` bytes. By the parent module's property, dropping the last token of a result leaves the
//! result of the shorter prefix, so the result for `i` bytes is the path `i`, `i - |last(i)|`,
//! ... back to 0, and these paths form a tree over byte positions. `last(i)` depends on the
//! first `i` bytes only, so bytes fed later never change the tree below them: they only add
//! positions. A path from a later position steps back at most `L` bytes at a time (`L`, the
//! longest token), so the first position at or before `m` (the bytes merged so far) that it
//! meets lies in `(m - L, m]`. Hence if the paths from every position in `(m - L, m]` pass
//! through a position `c`, so does the path of the whole piece, whatever follows: the tokens
//! before `c` are final.
//!
//! The path from a position `i` meets the current result's path where stitching the bytes after
//! the current token boundary before `i` onto the tokens before it stops widening to the left
//! (the stitch keeps the tokens left of its window, so the result for `i` goes through the
//! window's start). With the window widened rightwards first, that is never left of a position
//! both paths go through (such a position starts the merge result of the bytes after it), so
//! the stitch never needs a token before the last frontier.
//!
//! Memory: the bytes and tokens after the last frontier, which in text stays within a few
//! tokens of the end. A vocabulary built so that a change at the end ripples back without bound
//! would keep more, never count wrong.

use std::cell::Cell;

use super::{compatible, merge_into, MissingByte, CHUNK};
use crate::vocab::{Rank, Vocab};

/// Bytes held before looking for a frontier; after a search, twice those still held.
const COMMIT_BYTES: usize = 1 << 16;

/// The merge of one long piece in progress.
#[derive(Default)]
pub struct LongPiece {
    /// Bytes of the piece from the first token not yet handed out.
    bytes: Vec<u8>,
    /// `bytes[..merged]` are merged into `tokens`; the rest waits for a whole chunk or the end.
    merged: usize,
    tokens: Vec<Rank>,
    /// Where each token of `tokens` ends in `bytes`.
    ends: Vec<usize>,
    /// The last token handed out, left neighbour of `tokens[0]`.
    before: Option<Rank>,
    /// The last chunk merged and its tokens, reused when the next chunk is the same bytes (a
    /// run of one letter or emoji).
    last_chunk: Vec<u8>,
    right: Vec<(Rank, u32)>,
    window: Vec<(Rank, u32)>,
    windows: WindowMemo,
    /// Look for a frontier once this many bytes are held.
    next_commit: usize,
    commit_bytes: usize,
}

impl LongPiece {
    pub fn new() -> Self {
        Self::committing_every(COMMIT_BYTES)
    }

    /// A merger that looks for a frontier whenever `bytes` bytes are held (at least 1): small
    /// values exercise the frontier in tests and fuzzing.
    pub fn committing_every(bytes: usize) -> Self {
        LongPiece {
            commit_bytes: bytes.max(1),
            next_commit: bytes.max(1),
            ..LongPiece::default()
        }
    }

    /// Bytes and tokens held now (for tests of the memory bound).
    pub fn held(&self) -> (usize, usize) {
        (self.bytes.len(), self.tokens.len())
    }

    /// Feeds the next bytes of the piece; `emit` gets the tokens that became final, in order.
    pub fn push(
        &mut self,
        vocab: &Vocab,
        mut data: &[u8],
        emit: &mut impl FnMut(Rank),
    ) -> Result<(), MissingByte> {
        while !data.is_empty() {
            let room = CHUNK - (self.bytes.len() - self.merged);
            let full = data.len() >= room;
            let take = if full {
                chunk_end(data, room)
            } else {
                data.len()
            };
            self.bytes.extend_from_slice(&data[..take]);
            data = &data[take..];
            if full {
                let off_grid = self.merge_pending(vocab)?;
                if self.bytes.len() >= self.next_commit {
                    self.commit(vocab, emit)?;
                }
                if off_grid {
                    self.unmerge_last();
                }
            }
        }
        Ok(())
    }

    /// Ends the piece: `emit` gets its remaining tokens. The merger is then empty, ready for
    /// another piece.
    pub fn finish(
        &mut self,
        vocab: &Vocab,
        emit: &mut impl FnMut(Rank),
    ) -> Result<(), MissingByte> {
        let result = if self.merged < self.bytes.len() {
            self.merge_pending(vocab).map(drop)
        } else {
            Ok(())
        };
        if result.is_ok() {
            self.tokens.iter().for_each(|&t| emit(t));
        }
        self.reset();
        result
    }

    /// Empty again (its buffers kept for the next piece).
    fn reset(&mut self) {
        self.bytes.clear();
        self.merged = 0;
        self.tokens.clear();
        self.ends.clear();
        self.before = None;
        self.last_chunk.clear();
        self.windows = WindowMemo::default();
        self.next_commit = self.commit_bytes;
    }

    /// Merges the bytes after `merged` (a chunk, or the last part) and stitches them on; true
    /// when the chunk was the same bytes as the one before (a run of one letter or emoji) and
    /// its seam was not plain: the run's tokens lie off the chunk grid.
    fn merge_pending(&mut self, vocab: &Vocab) -> Result<bool, MissingByte> {
        let start = self.merged;
        let chunk = &self.bytes[start..];
        let repeated = chunk == self.last_chunk.as_slice();
        if !repeated {
            self.right.clear();
            merge_into(vocab, chunk, &mut self.right)?;
            self.last_chunk.clear();
            self.last_chunk.extend_from_slice(chunk);
        }
        let right = std::mem::take(&mut self.right);
        let stitched = self.stitch(vocab, &right, start);
        self.right = right;
        self.merged = self.bytes.len();
        stitched.map(|plain| repeated && !plain)
    }

    /// Gives the bytes of the last token back to the pending ones, so that the next chunk
    /// starts where a token of the whole piece starts. Dropping the last token of a result
    /// leaves the result of the shorter prefix (see the parent module), so what stays merged
    /// is still exact. In a run of one letter behind a head that shifts its tokens off the
    /// chunk grid, the chunks then start on the run's tokens, their own tokens are the
    /// piece's, and the seams are plain again: `'plqehqfn' + 'a' * 1_000_000` took twice as
    /// long as behind other heads, each seam re-merging a window.
    fn unmerge_last(&mut self) {
        let Some(&end) = self.ends.last() else {
            return;
        };
        let start = self.ends.len().checked_sub(2).map_or(0, |i| self.ends[i]);
        // The pending bytes must stay under a chunk.
        if end - start >= CHUNK {
            return;
        }
        self.tokens.pop();
        self.ends.pop();
        self.merged = start;
    }

    /// Appends `right` (the tokens of `bytes[start..]`) to the tokens of `bytes[..start]`; true
    /// when they met without a change (a plain seam).
    fn stitch(
        &mut self,
        vocab: &Vocab,
        right: &[(Rank, u32)],
        start: usize,
    ) -> Result<bool, MissingByte> {
        let (left, taken) = seam(
            vocab,
            &self.bytes,
            &self.tokens,
            &self.ends,
            self.before,
            right,
            start,
            &mut self.window,
            &mut self.windows,
        )?;
        let keep = self.tokens.len() - left;
        let mut at = if keep == 0 { 0 } else { self.ends[keep - 1] };
        self.tokens.truncate(keep);
        self.ends.truncate(keep);
        for &(t, len) in self.window.iter().chain(&right[taken..]) {
            at += len as usize;
            self.tokens.push(t);
            self.ends.push(at);
        }
        Ok((left, taken) == (0, 0))
    }

    /// Hands out the tokens before the frontier (see the module docs) and drops their bytes.
    fn commit(&mut self, vocab: &Vocab, emit: &mut impl FnMut(Rank)) -> Result<(), MissingByte> {
        let m = self.merged;
        let longest = longest_token(vocab);
        let mut frontier = m;
        for i in (m.saturating_sub(longest - 1)..m).rev() {
            frontier = frontier.min(self.reach(vocab, i)?);
            if frontier == 0 {
                break;
            }
        }
        // The frontier is a token boundary (the end of a kept token, or 0).
        let k = self.ends.partition_point(|&e| e <= frontier);
        debug_assert!(k == 0 || self.ends[k - 1] == frontier);
        if k > 0 {
            self.tokens[..k].iter().for_each(|&t| emit(t));
            self.before = Some(self.tokens[k - 1]);
            self.tokens.drain(..k);
            self.ends.drain(..k);
            self.ends.iter_mut().for_each(|e| *e -= frontier);
            self.bytes.drain(..frontier);
            self.merged -= frontier;
        }
        self.next_commit = self.commit_bytes.max(2 * self.bytes.len());
        Ok(())
    }

    /// Where the result for the first `i` bytes leaves the current result's path: the start of
    /// the window that stitching `bytes[e..i]` onto the tokens before `e` re-merges (`e`, the
    /// last token boundary at or before `i`).
    fn reach(&mut self, vocab: &Vocab, i: usize) -> Result<usize, MissingByte> {
        let j = self.ends.partition_point(|&e| e <= i);
        let e = if j == 0 { 0 } else { self.ends[j - 1] };
        if e == i {
            return Ok(i);
        }
        let mut right = Vec::new();
        merge_into(vocab, &self.bytes[e..i], &mut right)?;
        let (left, _) = seam(
            vocab,
            &self.bytes,
            &self.tokens[..j],
            &self.ends[..j],
            self.before,
            &right,
            e,
            &mut self.window,
            &mut self.windows,
        )?;
        Ok(if left == j {
            0
        } else {
            self.ends[j - left - 1]
        })
    }
}

/// How many of `data`'s bytes complete the chunk that has `room` bytes left: `room`, less the
/// bytes of a character the cut would split (when the byte after the cut is known). Any cut is
/// exact, but one inside a character is rarely a plain seam, its bytes merging with each other
/// first, and every other seam of a CJK run then re-merged a window.
fn chunk_end(data: &[u8], room: usize) -> usize {
    // A character starts at `i`, or the byte there is not known yet.
    let starts = |i: usize| data.get(i).is_none_or(|&b| b & 0xC0 != 0x80);
    // A character has at most 3 bytes after its first; a chunk takes at least one byte. No
    // character start in reach (not UTF-8): cut where the chunk is full.
    (room.saturating_sub(3).max(1)..=room)
        .rev()
        .find(|&i| starts(i))
        .unwrap_or(room)
}

/// Finds the window around the seam between `tokens` (ending at `start`) and `right` (tokens
/// of `bytes[start..]`) that makes both its edges compatible, merged into `window`; returns
/// how many tokens it replaces on each side. The window widens rightwards first, so it never
/// widens leftwards past a place both results go through (see the module docs).
#[allow(clippy::too_many_arguments)]
fn seam(
    vocab: &Vocab,
    bytes: &[u8],
    tokens: &[Rank],
    ends: &[usize],
    before: Option<Rank>,
    right: &[(Rank, u32)],
    start: usize,
    window: &mut Vec<(Rank, u32)>,
    windows: &mut WindowMemo,
) -> Result<(usize, usize), MissingByte> {
    window.clear();
    // The common case: the tokens meet without a change.
    let plain = match tokens.last().copied().or(before) {
        Some(last) => compatible(vocab, last, right[0].0)?,
        None => true,
    };
    if plain {
        return Ok((0, 0));
    }
    let (mut left, mut taken) = (tokens.len().min(1), 1usize);
    loop {
        let from = if left == tokens.len() {
            0
        } else {
            ends[tokens.len() - left - 1]
        };
        let to = start
            + right[..taken]
                .iter()
                .map(|&(_, len)| len as usize)
                .sum::<usize>();
        windows.merge(vocab, &bytes[from..to], window)?;
        if taken < right.len()
            && !compatible(vocab, window.last().expect("non-empty").0, right[taken].0)?
        {
            taken += 1;
            continue;
        }
        let neighbour = if left == tokens.len() {
            before
        } else {
            Some(tokens[tokens.len() - left - 1])
        };
        let left_ok = match neighbour {
            Some(n) => compatible(vocab, n, window[0].0)?,
            None => true,
        };
        if left_ok {
            return Ok((left, taken));
        }
        // Past the tokens held is a frontier, which the window never crosses.
        debug_assert!(left < tokens.len(), "a stitch reached past a frontier");
        if left == tokens.len() {
            return Ok((left, taken));
        }
        left += 1;
    }
}

/// Tokens with their byte lengths, as `merge_into` gives them.
type Tokens = Vec<(Rank, u32)>;

/// The last eight windows a seam merged, and their tokens. A piece that repeats with a short
/// period (a run of one letter after a prefix that shifts its tokens off the chunk grid) meets
/// the same windows at seam after seam (one seam can widen through five); merging each again
/// would cost more than the chunks.
#[derive(Default)]
struct WindowMemo {
    entries: [(Vec<u8>, Tokens); 8],
    next: usize,
}

impl WindowMemo {
    /// `out` becomes the tokens of `bytes`, remembered or merged.
    fn merge(
        &mut self,
        vocab: &Vocab,
        bytes: &[u8],
        out: &mut Vec<(Rank, u32)>,
    ) -> Result<(), MissingByte> {
        out.clear();
        if let Some((_, tokens)) = self.entries.iter().find(|e| e.0 == bytes) {
            out.extend_from_slice(tokens);
            return Ok(());
        }
        merge_into(vocab, bytes, out)?;
        let (kept_bytes, kept_tokens) = &mut self.entries[self.next];
        kept_bytes.clear();
        kept_bytes.extend_from_slice(bytes);
        kept_tokens.clear();
        kept_tokens.extend_from_slice(out);
        self.next = (self.next + 1) % self.entries.len();
        Ok(())
    }
}

/// The length of the vocabulary's longest token, remembered per thread for the last vocabulary.
fn longest_token(vocab: &Vocab) -> usize {
    thread_local! {
        static LONGEST: Cell<(u64, usize)> = const { Cell::new((0, 0)) };
    }
    let (id, len) = LONGEST.get();
    if id == vocab.id() {
        return len;
    }
    let len = vocab.iter().map(|(b, _)| b.len()).max().unwrap_or(1).max(1);
    LONGEST.set((vocab.id(), len));
    len
}

#[cfg(test)]
mod tests {
    use super::super::reference_merge;
    use super::*;
    use proptest::prelude::*;

    fn vocabs() -> [&'static Vocab; 3] {
        super::super::test_vocabs()
    }

    /// Merges `piece` fed in parts cut at `cuts`, looking for a frontier every `every` bytes;
    /// also returns the most bytes held at once.
    fn fed(vocab: &Vocab, piece: &[u8], cuts: &[usize], every: usize) -> (Vec<Rank>, usize) {
        let mut m = LongPiece::committing_every(every);
        let mut out = Vec::new();
        let mut most = 0;
        let mut at = 0;
        for &c in cuts.iter().chain([&piece.len()]) {
            let c = c.clamp(at, piece.len());
            m.push(vocab, &piece[at..c], &mut |t| out.push(t)).unwrap();
            most = most.max(m.held().0);
            at = c;
        }
        m.finish(vocab, &mut |t| out.push(t)).unwrap();
        assert_eq!(m.held(), (0, 0));
        (out, most)
    }

    #[test]
    fn long_runs_are_exact_and_held_in_bounded_memory() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let cjk: String = (0..30_000)
            .map(|_| char::from_u32(0x4E00 + (next() % 0x5000) as u32).unwrap())
            .collect();
        for piece in [
            "a".repeat(200_000).into_bytes(),
            cjk.into_bytes(),
            "ab1".repeat(40_000).into_bytes(),
        ] {
            for vocab in vocabs() {
                let mut whole = Vec::new();
                super::super::merge_long(vocab, &piece, &mut |t| whole.push(t)).unwrap();
                let (got, most) = fed(vocab, &piece, &[1000, 50_001, 50_002], 1024);
                assert_eq!(got, whole);
                // A few thousand bytes at most, whatever the piece's length.
                assert!(most < 16_384, "held {most} bytes");
            }
        }
    }

    #[test]
    fn runs_of_one_unit_behind_any_head_are_exact() {
        // Heads shift a run's tokens off the chunk grid by every offset; the merger then gives
        // a token's bytes back to realign (`unmerge_last`), which must never change a token.
        let heads = [
            "", "b", "pl", "plq", "plqe", "plqeh", "plqehq", "plqehqf", "plqehqfn",
        ];
        let units = ["a", "😀", "ab", "1", "\u{4e00}"];
        for vocab in vocabs() {
            for head in heads.iter().chain(&["mrpsgzvq", "!#", "zz"]) {
                for unit in units {
                    let piece = format!("{head}{}", unit.repeat(600 / unit.len())).into_bytes();
                    let expected = reference_merge(vocab, &piece);
                    for every in [64, 1 << 16] {
                        let (got, _) = fed(vocab, &piece, &[7, 300], every);
                        assert_eq!(got, expected, "{head:?} + {unit:?}, commit every {every}");
                    }
                }
            }
        }
    }

    #[test]
    fn chunks_end_before_a_character_where_one_starts_in_reach() {
        let cjk = "\u{4e00}".repeat(20); // 3 bytes a character
        let bytes = cjk.as_bytes();
        for room in 1..=32 {
            let take = chunk_end(bytes, room);
            if room >= 3 {
                assert_eq!(take, room / 3 * 3, "room {room}");
            } else {
                assert_eq!(take, room, "no character start in reach of room {room}");
            }
        }
        // The byte after the cut unknown: the chunk is full.
        assert_eq!(chunk_end(&bytes[..32], 32), 32);
        // Not UTF-8 (a run of continuation bytes): cut where the chunk is full.
        assert_eq!(chunk_end(&[0x80; 64], 32), 32);
        assert_eq!(chunk_end(b"abcdefgh", 4), 4);
    }

    #[test]
    fn a_vocabulary_that_ripples_back_is_still_exact() {
        // Pairs whose ranks fall towards the end: each byte added flips which pairs merge all
        // the way back, so nothing is final until the end. Correct, and held whole.
        let n = 300u32;
        let mut pairs: Vec<(Vec<u8>, Rank)> = (0..=255u8).map(|b| (vec![b], b as Rank)).collect();
        let text: Vec<u8> = (0..n).map(|i| (i % 200) as u8 + 20).collect();
        for i in 0..(n as usize - 1) {
            let pair = text[i..i + 2].to_vec();
            if !pairs.iter().any(|(b, _)| *b == pair) {
                pairs.push((pair, 10_000 - i as Rank));
            }
        }
        let vocab = Vocab::from_pairs(pairs).unwrap();
        for len in [150, 299, 300] {
            let piece = &text[..len];
            let (got, _) = fed(&vocab, piece, &[7, 64, 65], 1);
            assert_eq!(got, reference_merge(&vocab, piece), "{len}");
        }
    }

    fn piece_strategy() -> impl Strategy<Value = Vec<u8>> {
        let alphabets: Vec<&'static [u8]> = vec![
            b"a",
            b"aaaab",
            b"abcdefghijklmnopqrstuvwxyz",
            b"ab ",
            "日本語テスト😀".as_bytes(),
            "\u{4e00}\u{4e01}\u{9fa5}\u{3042}".as_bytes(),
            b"0123456789+/=ABCDEFabcdef",
            b"=-_",
        ];
        (0..alphabets.len(), 2usize..400).prop_flat_map(move |(k, len)| {
            let alphabet = alphabets[k].to_vec();
            prop::collection::vec(
                prop_oneof![8 => prop::sample::select(alphabet), 1 => any::<u8>()],
                len..=len,
            )
        })
    }

    proptest! {
        #![proptest_config(crate::test_cases::cases(300))]
        /// Fed in any parts, handing out tokens at every frontier: exactly the reference.
        #[test]
        fn fed_in_parts_equals_the_reference(
            piece in piece_strategy(),
            cuts in prop::collection::vec(0usize..400, 0..5),
            every in 1usize..40,
        ) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            for vocab in vocabs() {
                let (got, _) = fed(vocab, &piece, &cuts, every);
                prop_assert_eq!(got, reference_merge(vocab, &piece));
            }
        }
    }
}
