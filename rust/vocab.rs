//! A BPE vocabulary: token bytes by rank, and a hash table from bytes to rank.
//!
//! The built-in vocabularies are compiled into the binary by build.rs (no parsing at start-up,
//! pages loaded on first touch); custom ones are built at run time into the same layout.

use std::borrow::Cow;

include!("vocab_hash.rs");

/// A token id.
pub type Rank = u32;

const EMPTY_SLOT: u32 = u32::MAX;

pub struct Vocab {
    /// Every token's bytes, concatenated in rank order.
    bytes: Cow<'static, [u8]>,
    /// `offsets[r]..offsets[r + 1]` is rank r's bytes in `bytes`; empty for unused ranks.
    offsets: Cow<'static, [u32]>,
    /// Open addressing, linear probing: slot -> rank, or EMPTY_SLOT.
    table: Cow<'static, [u32]>,
    /// Number of tokens.
    len: usize,
    /// Rank of each single byte, or None when the vocabulary lacks it.
    byte_ranks: [Option<Rank>; 256],
}

#[repr(C, align(8))]
pub struct Aligned<T: ?Sized>(pub T);

/// Reads little-endian u32s, borrowing them where the platform allows it.
pub(crate) fn u32_slice(data: &'static Aligned<[u8]>) -> Cow<'static, [u32]> {
    let bytes = &data.0;
    assert!(bytes.len() % 4 == 0);
    if cfg!(target_endian = "little") {
        // SAFETY: the data is 8-byte aligned (Aligned), a whole number of u32s, lives for
        // 'static, and every bit pattern is a valid u32; on little-endian the layout matches.
        Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(bytes.as_ptr() as *const u32, bytes.len() / 4)
        })
    } else {
        Cow::Owned(
            bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }
}

/// Declares the data build.rs compiled from one rank file.
macro_rules! compiled_vocab {
    ($name:literal) => {{
        static BYTES: &$crate::vocab::Aligned<[u8]> = &$crate::vocab::Aligned(*include_bytes!(
            concat!(env!("OUT_DIR"), "/", $name, ".bytes")
        ));
        static OFFSETS: &$crate::vocab::Aligned<[u8]> = &$crate::vocab::Aligned(*include_bytes!(
            concat!(env!("OUT_DIR"), "/", $name, ".offsets")
        ));
        static TABLE: &$crate::vocab::Aligned<[u8]> = &$crate::vocab::Aligned(*include_bytes!(
            concat!(env!("OUT_DIR"), "/", $name, ".table")
        ));
        $crate::vocab::Vocab::from_compiled(
            &BYTES.0,
            $crate::vocab::u32_slice(OFFSETS),
            $crate::vocab::u32_slice(TABLE),
        )
    }};
}
pub(crate) use compiled_vocab;

/// Why a vocabulary cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VocabError {
    EmptyToken(Rank),
    DuplicateRank(Rank),
    DuplicateToken(Rank),
    TooLarge(Rank),
}

impl std::fmt::Display for VocabError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VocabError::EmptyToken(r) => write!(f, "token with rank {r} has no bytes"),
            VocabError::DuplicateRank(r) => write!(f, "rank {r} is given to two tokens"),
            VocabError::DuplicateToken(r) => {
                write!(f, "the bytes of the token with rank {r} appear twice")
            }
            VocabError::TooLarge(r) => write!(f, "rank {r} is too large for a dense vocabulary"),
        }
    }
}

impl Vocab {
    pub(crate) fn from_compiled(
        bytes: &'static [u8],
        offsets: Cow<'static, [u32]>,
        table: Cow<'static, [u32]>,
    ) -> Self {
        let mut v = Vocab {
            bytes: Cow::Borrowed(bytes),
            offsets,
            table,
            len: 0,
            byte_ranks: [None; 256],
        };
        v.len = v.table.iter().filter(|&&s| s != EMPTY_SLOT).count();
        v.fill_byte_ranks();
        v
    }

    /// Builds a vocabulary from (token bytes, rank) pairs.
    pub fn from_pairs(pairs: Vec<(Vec<u8>, Rank)>) -> Result<Self, VocabError> {
        let max_rank = pairs.iter().map(|p| p.1).max().unwrap_or(0);
        // Ranks index a dense array; refuse absurdly sparse ones rather than allocate gigabytes.
        if max_rank as usize > pairs.len().saturating_mul(4) + (1 << 20) {
            return Err(VocabError::TooLarge(max_rank));
        }
        let mut by_rank: Vec<Option<&[u8]>> = vec![None; max_rank as usize + 1];
        for (token, rank) in &pairs {
            if token.is_empty() {
                return Err(VocabError::EmptyToken(*rank));
            }
            if by_rank[*rank as usize].replace(token).is_some() {
                return Err(VocabError::DuplicateRank(*rank));
            }
        }
        let mut bytes = Vec::new();
        let mut offsets = Vec::with_capacity(by_rank.len() + 1);
        for token in &by_rank {
            offsets.push(bytes.len() as u32);
            if let Some(t) = token {
                bytes.extend_from_slice(t);
            }
        }
        offsets.push(bytes.len() as u32);
        let slots = table_slots_for(pairs.len());
        let mut table = vec![EMPTY_SLOT; slots];
        let mut v = Vocab {
            bytes: Cow::Owned(bytes),
            offsets: Cow::Owned(offsets),
            table: Cow::Owned(Vec::new()),
            len: pairs.len(),
            byte_ranks: [None; 256],
        };
        for (token, rank) in &pairs {
            let mut slot = slot_of(hash_token_bytes(token), slots);
            while table[slot] != EMPTY_SLOT {
                if v.token_bytes(table[slot]) == Some(token.as_slice()) {
                    return Err(VocabError::DuplicateToken(*rank));
                }
                slot = (slot + 1) & (slots - 1);
            }
            table[slot] = *rank;
        }
        v.table = Cow::Owned(table);
        v.fill_byte_ranks();
        Ok(v)
    }

    fn fill_byte_ranks(&mut self) {
        for b in 0..=255u8 {
            self.byte_ranks[b as usize] = self.lookup(&[b]);
        }
    }

    /// The rank of a token's bytes.
    #[inline(always)]
    pub fn rank(&self, piece: &[u8]) -> Option<Rank> {
        if piece.len() == 1 {
            return self.byte_ranks[piece[0] as usize];
        }
        self.lookup(piece)
    }

    #[inline(always)]
    fn lookup(&self, piece: &[u8]) -> Option<Rank> {
        let slots = self.table.len();
        let mut slot = slot_of(hash_token_bytes(piece), slots);
        loop {
            let rank = self.table[slot];
            if rank == EMPTY_SLOT {
                return None;
            }
            let start = self.offsets[rank as usize] as usize;
            let end = self.offsets[rank as usize + 1] as usize;
            if &self.bytes[start..end] == piece {
                return Some(rank);
            }
            slot = (slot + 1) & (slots - 1);
        }
    }

    /// Rank of a single byte.
    #[inline(always)]
    pub fn byte_rank(&self, b: u8) -> Option<Rank> {
        self.byte_ranks[b as usize]
    }

    /// The bytes of a rank, or None for a rank that is not a token.
    #[inline(always)]
    pub fn token_bytes(&self, rank: Rank) -> Option<&[u8]> {
        let r = rank as usize;
        if r + 1 >= self.offsets.len() {
            return None;
        }
        let (start, end) = (self.offsets[r] as usize, self.offsets[r + 1] as usize);
        (start < end).then(|| &self.bytes[start..end])
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The largest rank, if any.
    pub fn max_rank(&self) -> Option<Rank> {
        (0..self.offsets.len().saturating_sub(1) as Rank)
            .rev()
            .find(|&r| self.token_bytes(r).is_some())
    }

    /// Every (bytes, rank) pair, in rank order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Rank)> + '_ {
        (0..self.offsets.len().saturating_sub(1) as Rank)
            .filter_map(move |r| self.token_bytes(r).map(|b| (b, r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_and_runtime_tables_agree() {
        let compiled = compiled_vocab!("r50k_base");
        assert_eq!(compiled.len(), 50256);
        let pairs: Vec<(Vec<u8>, Rank)> = compiled.iter().map(|(b, r)| (b.to_vec(), r)).collect();
        let built = Vocab::from_pairs(pairs.clone()).unwrap();
        for (bytes, rank) in &pairs {
            assert_eq!(compiled.rank(bytes), Some(*rank));
            assert_eq!(built.rank(bytes), Some(*rank));
        }
        assert_eq!(compiled.rank(b"hello"), Some(31373));
        assert_eq!(compiled.rank(b"no such token here"), None);
        assert_eq!(compiled.max_rank(), Some(50255));
    }

    #[test]
    fn bad_vocabularies_are_refused() {
        let dup = vec![(b"a".to_vec(), 0), (b"a".to_vec(), 1)];
        assert_eq!(
            Vocab::from_pairs(dup).err(),
            Some(VocabError::DuplicateToken(1))
        );
        let dup_rank = vec![(b"a".to_vec(), 0), (b"b".to_vec(), 0)];
        assert_eq!(
            Vocab::from_pairs(dup_rank).err(),
            Some(VocabError::DuplicateRank(0))
        );
        let empty = vec![(Vec::new(), 0)];
        assert_eq!(
            Vocab::from_pairs(empty).err(),
            Some(VocabError::EmptyToken(0))
        );
        let sparse = vec![(b"a".to_vec(), u32::MAX - 1)];
        assert!(matches!(
            Vocab::from_pairs(sparse),
            Err(VocabError::TooLarge(_))
        ));
    }
}
