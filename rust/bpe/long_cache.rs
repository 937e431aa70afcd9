//! A per-thread cache of the tokens of pieces too long for the short-piece caches (65 to 1,024
//! bytes). Such pieces are rare (30 in 1 MB of English prose, 12 in 1 MB of source code: runs
//! of spaces, `=`, `-` or `*`), but each is merged chunk by chunk with exact seams
//! ([`super::long`]), which costs microseconds: 5-7% of counting those texts went there, on
//! every pass over pieces the text repeats.
//!
//! Each table is bounded: when the bytes it holds (pieces and tokens) pass [`BUDGET`], it
//! starts again empty, so text whose long pieces never repeat (a base64 blob) costs one put
//! each and never more memory. A thread keeps a table for each of the last two vocabularies it
//! used, as the piece cache does, so one that alternates two encodings keeps both.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::MissingByte;
use crate::piece_cache::{used, used_or_new};
use crate::vocab::{hash_token, head_word, Rank, Vocab};

/// Longest piece kept.
pub const MAX_PIECE: usize = 1024;
/// Bytes of pieces and tokens a table keeps before it starts again.
const BUDGET: usize = 1 << 20;
/// Tables kept per thread, one per vocabulary, most recently used first.
const TABLES: usize = 2;

/// The vocabulary's token hash, over the whole key.
#[derive(Default)]
struct PieceHasher(u64);

impl Hasher for PieceHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 ^= hash_token(head_word(bytes), bytes);
    }

    fn write_usize(&mut self, n: usize) {
        self.0 ^= (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

struct Table {
    /// The vocabulary the tokens are of.
    vocab_id: u64,
    tokens: HashMap<Box<[u8]>, Box<[Rank]>, BuildHasherDefault<PieceHasher>>,
    /// Bytes held by the keys and tokens.
    held: usize,
}

thread_local! {
    static TABLES_BY_VOCAB: RefCell<Vec<Table>> = const { RefCell::new(Vec::new()) };
}

/// Emits the tokens of `piece` (at most [`MAX_PIECE`] bytes) from the cache, or those
/// `tokens_of` gives, which it then keeps.
pub fn with_tokens(
    vocab: &Vocab,
    piece: &[u8],
    emit: &mut impl FnMut(Rank),
    tokens_of: impl FnOnce(&mut dyn FnMut(Rank)) -> Result<(), MissingByte>,
) -> Result<(), MissingByte> {
    debug_assert!(piece.len() <= MAX_PIECE);
    let found = TABLES_BY_VOCAB
        .try_with(|tables| {
            let mut tables = tables.try_borrow_mut().ok()?;
            let table = used(&mut tables, |t| t.vocab_id == vocab.id())?;
            table.tokens.get(piece)?.iter().for_each(|&r| emit(r));
            Some(())
        })
        .ok()
        .flatten();
    if found.is_some() {
        return Ok(());
    }
    let mut tokens = Vec::new();
    tokens_of(&mut |r| {
        tokens.push(r);
        emit(r);
    })?;
    // A thread being torn down, or a cache in use further up the stack, keeps nothing.
    let _ = TABLES_BY_VOCAB.try_with(|tables| {
        if let Ok(mut tables) = tables.try_borrow_mut() {
            let new = || Table {
                vocab_id: vocab.id(),
                tokens: HashMap::default(),
                held: 0,
            };
            used_or_new(&mut tables, TABLES, |t| t.vocab_id == vocab.id(), new).put(piece, tokens);
        }
    });
    Ok(())
}

impl Table {
    fn put(&mut self, piece: &[u8], tokens: Vec<Rank>) {
        let size = piece.len() + tokens.len() * size_of::<Rank>();
        if self.held + size > BUDGET {
            self.tokens.clear();
            self.tokens.shrink_to_fit();
            self.held = 0;
        }
        self.held += size;
        self.tokens.insert(piece.into(), tokens.into_boxed_slice());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;

    fn tokens_through_cache(vocab: &Vocab, piece: &[u8], calls: &mut usize) -> Vec<Rank> {
        let mut out = Vec::new();
        with_tokens(vocab, piece, &mut |r| out.push(r), |emit| {
            *calls += 1;
            super::super::encode_piece(vocab, piece, &mut |r| emit(r))
        })
        .unwrap();
        out
    }

    /// Merges through the cache (each vocabulary's tokens checked against a plain merge) and
    /// says how many of the calls merged.
    fn merges_for(encodings: &[&str], piece: &[u8]) -> usize {
        let mut calls = 0;
        for name in encodings {
            let enc = builtin::get(name).unwrap();
            let vocab = enc.vocab();
            let mut plain = Vec::new();
            super::super::encode_piece(vocab, piece, &mut |r| plain.push(r)).unwrap();
            assert_eq!(
                tokens_through_cache(vocab, piece, &mut calls),
                plain,
                "{name}"
            );
        }
        calls
    }

    #[test]
    fn a_piece_is_merged_once_per_vocabulary_and_two_vocabularies_are_kept() {
        let piece = " ".repeat(70) + &"=".repeat(90);
        let piece = piece.as_bytes();
        TABLES_BY_VOCAB.with(|t| t.borrow_mut().clear());
        // Each vocabulary merges once, then answers from its own table, both kept while the
        // thread alternates between them.
        assert_eq!(merges_for(&["cl100k_base", "cl100k_base"], piece), 1);
        assert_eq!(merges_for(&["o200k_base", "o200k_base"], piece), 1);
        assert_eq!(
            merges_for(&["cl100k_base", "o200k_base", "cl100k_base"], piece),
            0
        );
        // A third replaces the least recently used (o200k), which then merges again.
        assert_eq!(merges_for(&["r50k_base", "cl100k_base"], piece), 1);
        assert_eq!(merges_for(&["o200k_base"], piece), 1);
        TABLES_BY_VOCAB.with(|t| assert_eq!(t.borrow().len(), TABLES));
    }

    #[test]
    fn the_table_starts_again_past_its_budget() {
        let vocab = builtin::get("cl100k_base").unwrap();
        let vocab = vocab.vocab();
        let mut calls = 0;
        // 2,000 distinct pieces of 1,000 bytes: twice the budget in keys alone.
        for i in 0..2_000 {
            let piece = format!("{i:0>1000}");
            tokens_through_cache(vocab, piece.as_bytes(), &mut calls);
            TABLES_BY_VOCAB.with(|t| assert!(t.borrow().iter().all(|t| t.held <= BUDGET)));
        }
        assert_eq!(calls, 2_000);
    }
}
