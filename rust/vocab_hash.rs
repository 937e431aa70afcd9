// The hash that places token bytes in the rank tables. build.rs includes this file too, so the
// tables it writes at compile time and the lookups made at run time agree by construction.
// Changing it changes the compiled tables, nothing else: it never leaves the process.

/// Multiplier from the Fx hash family: cheap, and good enough once the high bits are used.
const HASH_MUL: u64 = 0x517c_c1b7_2722_0a95;

/// Hash of a token's bytes; callers take the high bits for a slot index.
#[inline(always)]
pub fn hash_token_bytes(bytes: &[u8]) -> u64 {
    let mut h = (bytes.len() as u64).wrapping_mul(HASH_MUL);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(HASH_MUL);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(HASH_MUL);
    }
    // Fold the low bits upwards so short keys that differ only in their last byte spread out.
    h ^ (h >> 32).wrapping_mul(HASH_MUL)
}

/// Number of slots for `n` tokens: a power of two at most half full, so probes stay short.
pub fn table_slots_for(n: usize) -> usize {
    (n.max(1) * 2).next_power_of_two()
}

/// Slot of a hash in a table of `slots` slots (a power of two).
#[inline(always)]
pub fn slot_of(hash: u64, slots: usize) -> usize {
    (hash >> (64 - slots.trailing_zeros())) as usize
}
