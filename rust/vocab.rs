//! A BPE vocabulary: token bytes by rank, and a hash table from bytes to rank.
//!
//! The built-in vocabularies are compiled into the binary by build.rs (no parsing at start-up,
//! pages loaded on first touch); custom ones are built at run time into the same layout.

use std::borrow::Cow;

include!("vocab_hash.rs");

/// A token id.
pub type Rank = u32;

const NO_RANK: u32 = u32::MAX;

/// One hash slot: the token's first 8 bytes, its rank and its length (0 when empty).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Slot {
    head: u64,
    rank: u32,
    len: u32,
}

pub struct Vocab {
    /// Every token's bytes, concatenated in rank order.
    bytes: Cow<'static, [u8]>,
    /// `offsets[r]..offsets[r + 1]` is rank r's bytes in `bytes`; empty for unused ranks.
    offsets: Cow<'static, [u32]>,
    /// Open addressing, linear probing.
    slots: Cow<'static, [Slot]>,
    /// Rank of each two-byte token, indexed by `first << 8 | second` (NO_RANK if none).
    pairs: Cow<'static, [u32]>,
    /// Tokens of 3 and 4 bytes (see `short_key`): SHORT_SLOTS entries, open addressing, then
    /// the words of their filter (see `short_filter_bit`).
    short: Cow<'static, [u64]>,
    /// Bloom-style filter over tokens of 5 bytes or more (see `filter_word` and `filter_mask`).
    filter: Cow<'static, [u64]>,
    /// Number of tokens.
    len: usize,
    /// Unique per vocabulary built, so per-thread caches never mix two vocabularies.
    id: u64,
    /// Rank of each single byte (NO_RANK when the vocabulary lacks it).
    byte_ranks: [u32; 256],
}

fn next_vocab_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

#[repr(C, align(8))]
pub struct Aligned<T: ?Sized>(pub T);

/// Reads little-endian u32s, borrowing them where the platform allows it.
pub(crate) fn u32_slice(data: &'static Aligned<[u8]>) -> Cow<'static, [u32]> {
    let bytes = &data.0;
    assert!(bytes.len().is_multiple_of(4));
    if cfg!(target_endian = "little") {
        // SAFETY: 8-byte aligned (Aligned), a whole number of u32s, 'static, any bit pattern is
        // a valid u32, and on little-endian the layout matches.
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

/// Reads little-endian u64s, borrowing them where the platform allows it.
pub(crate) fn u64_slice(data: &'static Aligned<[u8]>) -> Cow<'static, [u64]> {
    let bytes = &data.0;
    assert!(bytes.len().is_multiple_of(8));
    if cfg!(target_endian = "little") {
        // SAFETY: as u32_slice, with 8-byte alignment and a whole number of u64s.
        Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(bytes.as_ptr() as *const u64, bytes.len() / 8)
        })
    } else {
        Cow::Owned(
            bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        )
    }
}

/// Reads the 16-byte slots build.rs wrote, borrowing them where the platform allows it.
pub(crate) fn slot_slice(data: &'static Aligned<[u8]>) -> Cow<'static, [Slot]> {
    let bytes = &data.0;
    assert!(bytes.len().is_multiple_of(16));
    if cfg!(target_endian = "little") {
        // SAFETY: Slot is repr(C) of u64, u32, u32 (16 bytes, align 8, no padding); the data is
        // 8-byte aligned, a whole number of slots, 'static; every bit pattern is valid.
        Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(bytes.as_ptr() as *const Slot, bytes.len() / 16)
        })
    } else {
        let word = |c: &[u8]| u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        Cow::Owned(
            bytes
                .chunks_exact(16)
                .map(|c| Slot {
                    head: u64::from_le_bytes(c[..8].try_into().unwrap()),
                    rank: word(&c[8..12]),
                    len: word(&c[12..16]),
                })
                .collect(),
        )
    }
}

/// Declares the data build.rs compiled from one rank file.
macro_rules! compiled_vocab {
    ($name:literal) => {{
        use $crate::vocab::Aligned;
        static BYTES: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(
            env!("OUT_DIR"),
            "/",
            $name,
            ".bytes"
        )));
        static OFFSETS: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(
            env!("OUT_DIR"),
            "/",
            $name,
            ".offsets"
        )));
        static SLOTS: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(
            env!("OUT_DIR"),
            "/",
            $name,
            ".slots"
        )));
        static PAIRS: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(
            env!("OUT_DIR"),
            "/",
            $name,
            ".pairs"
        )));
        static SHORT: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(
            env!("OUT_DIR"),
            "/",
            $name,
            ".short"
        )));
        static FILTER: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(
            env!("OUT_DIR"),
            "/",
            $name,
            ".filter"
        )));
        $crate::vocab::Vocab::from_compiled(
            &BYTES.0,
            $crate::vocab::u32_slice(OFFSETS),
            $crate::vocab::slot_slice(SLOTS),
            $crate::vocab::u32_slice(PAIRS),
            $crate::vocab::u64_slice(SHORT),
            $crate::vocab::u64_slice(FILTER),
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
        slots: Cow<'static, [Slot]>,
        pairs: Cow<'static, [u32]>,
        short: Cow<'static, [u64]>,
        filter: Cow<'static, [u64]>,
    ) -> Self {
        // Count tokens from the offsets (one u32 per rank) rather than the slots: touching the
        // whole hash table at start-up would cost milliseconds and resident memory.
        let len = offsets.windows(2).filter(|w| w[0] != w[1]).count();
        let mut v = Vocab {
            bytes: Cow::Borrowed(bytes),
            offsets,
            slots,
            pairs,
            short,
            filter,
            len,
            id: next_vocab_id(),
            byte_ranks: [NO_RANK; 256],
        };
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
        let mut v = Vocab {
            bytes: Cow::Owned(bytes),
            offsets: Cow::Owned(offsets),
            slots: Cow::Owned(Vec::new()),
            pairs: Cow::Owned(Vec::new()),
            short: Cow::Owned(Vec::new()),
            filter: Cow::Owned(Vec::new()),
            len: pairs.len(),
            id: next_vocab_id(),
            byte_ranks: [NO_RANK; 256],
        };
        let mut table = vec![Slot::default(); table_slots_for(pairs.len())];
        let mask = table.len() - 1;
        for (token, rank) in &pairs {
            let head = head_word(token);
            let mut slot = slot_of(hash_token(head, token), table.len());
            while table[slot].len != 0 {
                let other = table[slot].rank;
                if v.token_bytes(other) == Some(token.as_slice()) {
                    return Err(VocabError::DuplicateToken(*rank));
                }
                slot = (slot + 1) & mask;
            }
            table[slot] = Slot {
                head,
                rank: *rank,
                len: token.len() as u32,
            };
        }
        let mut two = vec![NO_RANK; 65536];
        for (token, rank) in &pairs {
            if token.len() == 2 {
                two[(token[0] as usize) << 8 | token[1] as usize] = *rank;
            }
        }
        let mut short = vec![0u64; SHORT_SLOTS];
        let short_count = pairs.iter().filter(|p| matches!(p.0.len(), 3 | 4)).count();
        // A custom vocabulary with too many short tokens for the table looks them up in the
        // main table instead (an empty short table is never consulted).
        if short_count * 4 <= SHORT_SLOTS * 3 {
            let mut filter = vec![0u64; SHORT_FILTER_BITS / 64];
            for (token, rank) in pairs.iter().filter(|p| matches!(p.0.len(), 3 | 4)) {
                let key = short_key(token);
                let mut slot = short_slot(key);
                while short[slot] != 0 {
                    slot = (slot + 1) & (SHORT_SLOTS - 1);
                }
                short[slot] = short_entry(key, *rank);
                let bit = short_filter_bit(key);
                filter[bit / 64] |= 1 << (bit % 64);
            }
            short.extend_from_slice(&filter);
            v.short = Cow::Owned(short);
        }
        let mut filter = vec![0u64; FILTER_BITS / 64];
        for (token, _) in pairs.iter().filter(|p| p.0.len() >= 5) {
            let hash = hash_token(head_word(token), token);
            filter[filter_word(hash)] |= filter_mask(hash);
        }
        v.filter = Cow::Owned(filter);
        v.slots = Cow::Owned(table);
        v.pairs = Cow::Owned(two);
        v.fill_byte_ranks();
        Ok(v)
    }

    fn fill_byte_ranks(&mut self) {
        for b in 0..=255u8 {
            self.byte_ranks[b as usize] = self.lookup(&[b]).unwrap_or(NO_RANK);
        }
    }

    /// The rank of a token's bytes.
    #[inline(always)]
    pub fn rank(&self, piece: &[u8]) -> Option<Rank> {
        match piece.len() {
            1 => self.byte_rank(piece[0]),
            2 => self.pair_rank(piece[0], piece[1]),
            3 | 4 if !self.short.is_empty() => self.short_rank(piece),
            _ => self.lookup(piece),
        }
    }

    #[inline(always)]
    fn short_rank(&self, piece: &[u8]) -> Option<Rank> {
        self.short_rank_keyed(short_key(piece))
    }

    #[inline(always)]
    fn short_rank_keyed(&self, key: u64) -> Option<Rank> {
        let bit = short_filter_bit(key);
        if self.short[SHORT_SLOTS + bit / 64] & (1 << (bit % 64)) == 0 {
            return None;
        }
        let mut i = short_slot(key);
        loop {
            let entry = self.short[i];
            if entry == 0 {
                return None;
            }
            if entry & ((1 << 33) - 1) == key {
                return Some(((entry >> 33) - 1) as Rank);
            }
            i = (i + 1) & (SHORT_SLOTS - 1);
        }
    }

    #[inline(always)]
    fn lookup(&self, piece: &[u8]) -> Option<Rank> {
        self.lookup_hashed(piece, hash_token(head_word(piece), piece))
    }

    #[inline(always)]
    fn lookup_hashed(&self, piece: &[u8], hash: u64) -> Option<Rank> {
        let head = head_word(piece);
        let len = piece.len() as u32;
        if len >= 5 && !self.filter.is_empty() && !self.filter_admits(hash) {
            return None;
        }
        let slots = &self.slots[..];
        let mask = slots.len() - 1;
        let mut i = slot_of(hash, slots.len());
        loop {
            let slot = slots[i];
            if slot.len == 0 {
                return None;
            }
            if slot.len == len
                && slot.head == head
                && (len <= 8 || self.tail_matches(slot.rank, piece))
            {
                return Some(slot.rank);
            }
            i = (i + 1) & mask;
        }
    }

    /// Whether the filter lets a hash through to the table (a long token's always does).
    #[inline(always)]
    fn filter_admits(&self, hash: u64) -> bool {
        let bits = filter_mask(hash);
        self.filter[filter_word(hash)] & bits == bits
    }

    /// Whether the bytes after the first 8 of token `rank` equal those of `piece`.
    #[cold]
    fn tail_matches(&self, rank: Rank, piece: &[u8]) -> bool {
        let start = self.offsets[rank as usize] as usize;
        self.bytes[start + 8..start + piece.len()] == piece[8..]
    }

    /// The key `rank_prepared` takes for `piece`, after starting to load the memory that
    /// lookup will read (a hint: it changes no result). Called a batch of pieces ahead, it lets
    /// the table's cache misses overlap.
    #[inline(always)]
    pub fn prepare(&self, piece: &[u8]) -> u64 {
        match piece.len() {
            0..=2 => 0,
            3 | 4 if !self.short.is_empty() => {
                let key = short_key(piece);
                let bit = short_filter_bit(key);
                prefetch_read(self.short.as_ptr().wrapping_add(SHORT_SLOTS + bit / 64));
                prefetch_read(self.short.as_ptr().wrapping_add(short_slot(key)));
                key
            }
            len => {
                let hash = hash_token(head_word(piece), piece);
                if len >= 5 && !self.filter.is_empty() {
                    prefetch_read(self.filter.as_ptr().wrapping_add(filter_word(hash)));
                }
                // slot_of keeps the index inside the table (wrapping_add: a hint never faults).
                prefetch_read(
                    self.slots
                        .as_ptr()
                        .wrapping_add(slot_of(hash, self.slots.len())),
                );
                hash
            }
        }
    }

    /// `rank(piece)`, given `prepare(piece)`.
    #[inline(always)]
    pub fn rank_prepared(&self, piece: &[u8], key: u64) -> Option<Rank> {
        match piece.len() {
            1 => self.byte_rank(piece[0]),
            2 => self.pair_rank(piece[0], piece[1]),
            3 | 4 if !self.short.is_empty() => self.short_rank_keyed(key),
            _ => self.lookup_hashed(piece, key),
        }
    }

    /// Rank of a single byte.
    #[inline(always)]
    pub fn byte_rank(&self, b: u8) -> Option<Rank> {
        let r = self.byte_ranks[b as usize];
        (r != NO_RANK).then_some(r)
    }

    /// Rank of a two-byte token, from a direct table.
    #[inline(always)]
    pub fn pair_rank(&self, a: u8, b: u8) -> Option<Rank> {
        let r = self.pairs[(a as usize) << 8 | b as usize];
        (r != NO_RANK).then_some(r)
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

    /// Length in bytes of a token that exists.
    #[inline(always)]
    pub fn token_len(&self, rank: Rank) -> usize {
        (self.offsets[rank as usize + 1] - self.offsets[rank as usize]) as usize
    }

    /// Whether every rank fits in 26 bits, as the small merge's packed keys need.
    #[inline(always)]
    pub fn has_compact_ranks(&self) -> bool {
        self.offsets.len() <= (1 << 26)
    }

    /// This vocabulary's unique id.
    #[inline(always)]
    pub fn id(&self) -> u64 {
        self.id
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

/// Hints the CPU to load the cache line at `ptr`: `_mm_prefetch` on x86-64, `prfm` on AArch64
/// (its intrinsic is not stable Rust yet), nothing elsewhere. Never changes a result, and
/// never faults, even on an address that is not mapped.
#[inline(always)]
pub(crate) fn prefetch_read<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch only hints; it neither reads architecturally nor faults.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch(ptr as *const i8, _MM_HINT_T0)
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `prfm` reads nothing architecturally and cannot fault.
    unsafe {
        std::arch::asm!(
            "prfm pldl1keep, [{ptr}]",
            ptr = in(reg) ptr,
            options(nostack, readonly, preserves_flags)
        )
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = ptr;
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

    /// Whether the filter lets `piece` (5 bytes or more) through to the table.
    fn filter_admits(vocab: &Vocab, piece: &[u8]) -> bool {
        vocab.filter_admits(hash_token(head_word(piece), piece))
    }

    #[test]
    fn the_filter_admits_every_long_token_and_turns_away_most_other_strings() {
        // Strings of 5 to 8 letters, the lookups a run of letters makes while merging: with
        // the filter on the hash's low bits (the first bytes only), a quarter of those that are
        // no o200k token got through.
        let compiled = compiled_vocab!("o200k_base");
        let pairs: Vec<(Vec<u8>, Rank)> = compiled.iter().map(|(b, r)| (b.to_vec(), r)).collect();
        let built = Vocab::from_pairs(pairs).unwrap();
        for vocab in [&compiled, &built] {
            for (bytes, _) in compiled.iter().filter(|(b, _)| b.len() >= 5) {
                assert!(filter_admits(vocab, bytes));
            }
            let mut state = 0x2545_f491_4f6c_dd1du64;
            let (mut others, mut admitted) = (0, 0);
            for _ in 0..20_000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let len = 5 + (state % 4) as usize;
                let piece: Vec<u8> = (0..len)
                    .map(|i| b'a' + (state >> (8 + 5 * i) & 0xff) as u8 % 26)
                    .collect();
                if vocab.rank(&piece).is_none() {
                    others += 1;
                    admitted += filter_admits(vocab, &piece) as usize;
                }
            }
            assert!(admitted * 10 < others, "{admitted} of {others} admitted");
        }
    }

    #[test]
    fn prepared_lookups_equal_plain_ones() {
        // Runs the architecture's own prefetch (x86-64, and AArch64 under qemu in CI), on a
        // compiled table and on one built at run time (whose short table may be empty).
        let compiled = compiled_vocab!("cl100k_base");
        let small = Vocab::from_pairs(vec![(b"abc".to_vec(), 0), (b"a".to_vec(), 1)]).unwrap();
        for vocab in [&compiled, &small] {
            for piece in [
                &b"hello"[..],
                b" tokenization",
                b"no such token here",
                b"ab",
                b"abc",
                b"abcd",
                b"a",
            ] {
                let key = vocab.prepare(piece);
                assert_eq!(vocab.rank_prepared(piece, key), vocab.rank(piece));
            }
        }
        for (bytes, rank) in compiled.iter().step_by(97) {
            let key = compiled.prepare(bytes);
            assert_eq!(compiled.rank_prepared(bytes, key), Some(rank));
        }
    }
}
