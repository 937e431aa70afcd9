// The layout of a rank table's hash slots and the hash that places tokens in them. build.rs
// includes this file too, so the tables it writes at compile time and the lookups made at run
// time agree by construction. The hash never leaves the process: changing it only changes the
// compiled tables.

/// Multiplier from the Fx hash family; the high bits of the product are well mixed.
const HASH_MUL: u64 = 0x517c_c1b7_2722_0a95;

/// The first 8 bytes of a token, little-endian, zero-padded: stored inline in its slot, so most
/// lookups compare one word and never touch the token bytes elsewhere.
#[inline(always)]
pub fn head_word(bytes: &[u8]) -> u64 {
    // Fixed-size loads only (a variable-length copy becomes a call to memcpy): overlapping
    // loads cover the short cases, and overlapping bytes OR to themselves.
    let n = bytes.len();
    let word4 = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as u64;
    if n >= 8 {
        u64::from_le_bytes(bytes[..8].try_into().unwrap())
    } else if n >= 4 {
        word4(0) | word4(n - 4) << ((n - 4) * 8)
    } else if n > 0 {
        bytes[0] as u64 | (bytes[n / 2] as u64) << (n / 2 * 8) | (bytes[n - 1] as u64) << ((n - 1) * 8)
    } else {
        0
    }
}

/// Hash of a token's bytes, given its head word; callers take the high bits for a slot index.
#[inline(always)]
pub fn hash_token(head: u64, bytes: &[u8]) -> u64 {
    let mut h = (head ^ (bytes.len() as u64).rotate_right(8)).wrapping_mul(HASH_MUL);
    if bytes.len() > 8 {
        for chunk in bytes[8..].chunks(8) {
            h = (h.rotate_left(23) ^ head_word(chunk)).wrapping_mul(HASH_MUL);
        }
    }
    h
}

/// Number of slots for `n` tokens: a power of two at most 4/5 full, never full (a probe must
/// meet an empty slot). Dense on purpose: slots share cache lines and pages, and misses rarely
/// probe (a filter or the short table answers them first).
pub fn table_slots_for(n: usize) -> usize {
    (n + n / 4 + 1).next_power_of_two().max(2)
}

/// Slot of a hash in a table of `slots` slots (a power of two).
#[inline(always)]
pub fn slot_of(hash: u64, slots: usize) -> usize {
    (hash >> (64 - slots.trailing_zeros())) as usize
}

/// Tokens of 3 or 4 bytes live in a small table of their own (it stays in cache while long
/// pieces merge). An entry packs the bytes and length into its low 33 bits and the rank + 1
/// into the high bits; 0 is an empty entry.
pub const SHORT_SLOTS: usize = 1 << 16;

/// The 33-bit key of a 3- or 4-byte token.
#[inline(always)]
pub fn short_key(bytes: &[u8]) -> u64 {
    head_word(bytes) | ((bytes.len() as u64 - 3) << 32)
}

/// Bits of the filter over short tokens: most 3- and 4-byte strings met while merging are not
/// tokens, and the filter (in cache) answers them without walking a probe chain.
pub const SHORT_FILTER_BITS: usize = 1 << 19;

/// Filter bit of a short key.
#[inline(always)]
pub fn short_filter_bit(key: u64) -> usize {
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - 19)) as usize
}

/// Slot of a short key.
#[inline(always)]
pub fn short_slot(key: u64) -> usize {
    (key.wrapping_mul(HASH_MUL) >> (64 - 16)) as usize
}

/// Entry for a short token.
pub fn short_entry(key: u64, rank: u32) -> u64 {
    key | ((rank as u64 + 1) << 33)
}

/// Bits of the filter over tokens of 5 bytes or more: a lookup whose bits are not all set is no
/// token, answered from a bitmap that stays in cache instead of a probe into the large table.
pub const FILTER_BITS: usize = 1 << 20;
const FILTER_WORD_BITS: u32 = (FILTER_BITS / 64).trailing_zeros();

/// The hash remixed for the filter. The hash's low bits depend only on the token's first bytes
/// (a product's low bits see only the factors' low bits): a filter on them answered "maybe" for
/// a quarter of the 5-8 letter strings that are no o200k token; remixed, with two bits per
/// token, for 7%.
#[inline(always)]
fn filter_mix(hash: u64) -> u64 {
    (hash ^ hash >> 32).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The filter word of a hash: both of a token's bits sit in one word, so a lookup reads one.
#[inline(always)]
pub fn filter_word(hash: u64) -> usize {
    (filter_mix(hash) >> (64 - FILTER_WORD_BITS)) as usize
}

/// The two bits a token sets in its filter word.
#[inline(always)]
pub fn filter_mask(hash: u64) -> u64 {
    let h = filter_mix(hash) >> (64 - FILTER_WORD_BITS - 12);
    1 << (h & 63) | 1 << (h >> 6 & 63)
}
