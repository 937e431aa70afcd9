//! The class masks of a 64-byte window (one bit per byte), three ways: four 16-byte lanes of
//! compares (SSE2, or the scalar twin off x86-64); where the CPU has AVX2, two 32-byte halves
//! of fewer compares; or, where it has AVX-512 with VBMI, one 128-entry table lookup of the
//! whole window (`vpermi2b`) whose result each class is a bit test of, straight into a 64-bit
//! mask. The window's rules ([`super::ascii64::starts`]) are the same every way; the way is a
//! type, so that the scan compiled for a feature level inlines its lookups and the others never
//! reach them.

use super::ascii16;
use crate::unicode::{LL, LU_LT, NUMBER, SPACE};

/// The masks a window's rules start from; bytes of multi-byte chars are in none of them but
/// `high`'s (the caller masks with what it knows, as the lanes and the table differ there).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Classes {
    pub upper: u64,
    pub lower: u64,
    pub digit: u64,
    /// `\r` and `\n`.
    pub newline: u64,
    /// Whitespace other than `\r` and `\n`.
    pub blank: u64,
    pub space: u64,
    pub apostrophe: u64,
    pub slash: u64,
}

/// The letters after an apostrophe that make a contraction, folded to lower case:
/// `[sdmt]`, `l`, `e`, `[rv]`; ASCII bytes only.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct ContractionLetters {
    pub one: u64,
    pub l: u64,
    pub e: u64,
    pub r_or_v: u64,
}

/// One way of computing a window's masks. `Copy` and stateless: a value is a proof that the
/// CPU can run it.
pub trait Classify: Copy {
    /// Only the ASCII bytes of `w` are classified: the masks of a byte at or above 0x80 are
    /// unspecified, and callers keep only the bits below the window's first such byte.
    fn classes(self, w: &[u8; 64]) -> Classes;
    /// Exact for every byte: a byte at or above 0x80 is none of the letters.
    fn contraction_letters(self, w: &[u8; 64]) -> ContractionLetters;
    /// The bytes at or above 0x80.
    fn high(self, w: &[u8; 64]) -> u64;
}

/// Four 16-byte lanes: SSE2 on x86-64 (every x86-64 CPU), scalar elsewhere.
#[derive(Clone, Copy, Default)]
pub struct Lanes16;

/// The mask of a 16-byte lane function over the 64 bytes.
#[inline(always)]
fn mask64(w: &[u8; 64], lane: impl Fn(&[u8; 16]) -> u32) -> u64 {
    let mut m = 0;
    for k in 0..4 {
        let chunk: &[u8; 16] = w[16 * k..16 * k + 16].try_into().expect("16 bytes");
        m |= (lane(chunk) as u64) << (16 * k);
    }
    m
}

impl Classify for Lanes16 {
    #[inline(always)]
    fn classes(self, w: &[u8; 64]) -> Classes {
        let newline = mask64(w, ascii16::newlines);
        Classes {
            upper: mask64(w, ascii16::mask::<LU_LT>),
            lower: mask64(w, ascii16::mask::<LL>),
            digit: mask64(w, ascii16::mask::<NUMBER>),
            newline,
            blank: mask64(w, ascii16::mask::<SPACE>) & !newline,
            space: mask64(w, ascii16::equal::<b' '>),
            apostrophe: mask64(w, ascii16::equal::<b'\''>),
            slash: mask64(w, ascii16::equal::<b'/'>),
        }
    }

    #[inline(always)]
    fn contraction_letters(self, w: &[u8; 64]) -> ContractionLetters {
        // Setting bit 5 lowers ASCII letters; no other byte becomes a lower-case letter by it
        // (bytes at or above 0x80 stay there).
        let mut folded = [0u8; 64];
        for (f, &b) in folded.iter_mut().zip(w) {
            *f = b | 0x20;
        }
        let is = |lane: fn(&[u8; 16]) -> u32| mask64(&folded, lane);
        ContractionLetters {
            one: is(ascii16::equal::<b's'>)
                | is(ascii16::equal::<b'd'>)
                | is(ascii16::equal::<b'm'>)
                | is(ascii16::equal::<b't'>),
            l: is(ascii16::equal::<b'l'>),
            e: is(ascii16::equal::<b'e'>),
            r_or_v: is(ascii16::equal::<b'r'>) | is(ascii16::equal::<b'v'>),
        }
    }

    #[inline(always)]
    fn high(self, w: &[u8; 64]) -> u64 {
        mask64(w, ascii16::high)
    }
}

/// Bits of [`CLASS_TABLE`]'s entries, one per field of [`Classes`].
const UPPER: u8 = 1;
const LOWER: u8 = 2;
const DIGIT: u8 = 4;
const NEWLINE: u8 = 8;
const BLANK: u8 = 16;
const SPACE_BYTE: u8 = 32;
const APOSTROPHE: u8 = 64;
const SLASH: u8 = 128;

/// A 128-entry table of ASCII bytes: `bit` for each byte in `bytes`, for each pair.
const fn byte_table(classes: &[(&[u8], u8)]) -> [u8; 128] {
    let mut table = [0u8; 128];
    let mut c = 0;
    while c < classes.len() {
        let (bytes, bit) = classes[c];
        let mut k = 0;
        while k < bytes.len() {
            table[bytes[k] as usize] |= bit;
            k += 1;
        }
        c += 1;
    }
    table
}

/// Each ASCII byte's classes, from the same flag table the scanners read.
const CLASS_TABLE: [u8; 128] = {
    let mut table = byte_table(&[
        (b"\r\n", NEWLINE),
        (b" ", SPACE_BYTE),
        (b"'", APOSTROPHE),
        (b"/", SLASH),
    ]);
    let mut b = 0;
    while b < 128 {
        let f = crate::unicode::LOW_FLAGS[b];
        let mut bits = table[b];
        if f & LU_LT != 0 {
            bits |= UPPER;
        }
        if f & LL != 0 {
            bits |= LOWER;
        }
        if f & NUMBER != 0 {
            bits |= DIGIT;
        }
        if f & SPACE != 0 && bits & NEWLINE == 0 {
            bits |= BLANK;
        }
        table[b] = bits;
        b += 1;
    }
    table
};

/// The contraction letters' table, indexed by the byte folded to lower case.
const LETTER_TABLE: [u8; 128] = byte_table(&[(b"sdmt", 1), (b"l", 2), (b"e", 4), (b"rv", 8)]);

/// The whole window at once with AVX-512 (F and BW) and VBMI's two-register byte permute.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub struct Avx512 {
    _detected: (),
}

#[cfg(target_arch = "x86_64")]
impl Avx512 {
    /// Some where this CPU has AVX-512 F, BW and VBMI (and x86-64-v3, which the scan compiled
    /// with them also assumes); std caches the detection, so this is a few loads.
    #[inline(always)]
    pub fn detect() -> Option<Avx512> {
        (crate::cpu::has_x86_64_v3()
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vbmi"))
        .then_some(Avx512 { _detected: () })
    }
}

#[cfg(target_arch = "x86_64")]
impl Classify for Avx512 {
    #[inline(always)]
    fn classes(self, w: &[u8; 64]) -> Classes {
        // SAFETY: an Avx512 exists only where detect() found the features.
        unsafe { avx512::classes(w) }
    }

    #[inline(always)]
    fn contraction_letters(self, w: &[u8; 64]) -> ContractionLetters {
        // SAFETY: as above.
        unsafe { avx512::contraction_letters(w) }
    }

    #[inline(always)]
    fn high(self, w: &[u8; 64]) -> u64 {
        // SAFETY: as above.
        unsafe { avx512::high(w) }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::*;
    use std::arch::x86_64::*;

    /// Each byte of `x` replaced by its entry in `table` (by its low seven bits).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    fn lookup(x: __m512i, table: &[u8; 128]) -> __m512i {
        // SAFETY: reads the table's 128 bytes, as two unaligned 64-byte loads.
        let (lo, hi) = unsafe {
            (
                _mm512_loadu_si512(table.as_ptr().cast()),
                _mm512_loadu_si512(table.as_ptr().add(64).cast()),
            )
        };
        _mm512_permutex2var_epi8(lo, x, hi)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn load(w: &[u8; 64]) -> __m512i {
        // SAFETY: reads exactly the window's 64 bytes (an unaligned load).
        unsafe { _mm512_loadu_si512(w.as_ptr().cast()) }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub fn classes(w: &[u8; 64]) -> Classes {
        let f = lookup(load(w), &CLASS_TABLE);
        let has = |bit: u8| _mm512_test_epi8_mask(f, _mm512_set1_epi8(bit as i8));
        Classes {
            upper: has(UPPER),
            lower: has(LOWER),
            digit: has(DIGIT),
            newline: has(NEWLINE),
            blank: has(BLANK),
            space: has(SPACE_BYTE),
            apostrophe: has(APOSTROPHE),
            slash: has(SLASH),
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub fn contraction_letters(w: &[u8; 64]) -> ContractionLetters {
        let x = load(w);
        // The table reads a byte's low seven bits: the high bytes are taken out after.
        let ascii = !_mm512_movepi8_mask(x);
        let f = lookup(_mm512_or_si512(x, _mm512_set1_epi8(0x20)), &LETTER_TABLE);
        let has = |bit: u8| _mm512_test_epi8_mask(f, _mm512_set1_epi8(bit as i8)) & ascii;
        ContractionLetters {
            one: has(1),
            l: has(2),
            e: has(4),
            r_or_v: has(8),
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    pub fn high(w: &[u8; 64]) -> u64 {
        _mm512_movepi8_mask(load(w))
    }
}

/// Two 32-byte halves with AVX2 (x86-64-v3): a class is one or two compares per half, a range
/// one biased add and one signed compare, and case one shift (bit 5 of each byte), so a window
/// takes about a third of `Lanes16`'s instructions.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub struct Avx2 {
    _detected: (),
}

#[cfg(target_arch = "x86_64")]
impl Avx2 {
    /// Some where this CPU has x86-64-v3 (AVX2, BMI1/2, POPCNT, LZCNT), which the scan
    /// compiled with it assumes.
    #[inline(always)]
    pub fn detect() -> Option<Avx2> {
        crate::cpu::has_x86_64_v3().then_some(Avx2 { _detected: () })
    }
}

#[cfg(target_arch = "x86_64")]
impl Classify for Avx2 {
    #[inline(always)]
    fn classes(self, w: &[u8; 64]) -> Classes {
        // SAFETY: an Avx2 exists only where detect() found the features.
        unsafe { avx2::classes(w) }
    }

    #[inline(always)]
    fn contraction_letters(self, w: &[u8; 64]) -> ContractionLetters {
        // SAFETY: as above.
        unsafe { avx2::contraction_letters(w) }
    }

    #[inline(always)]
    fn high(self, w: &[u8; 64]) -> u64 {
        // SAFETY: as above.
        unsafe { avx2::high(w) }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use std::arch::x86_64::*;

    /// The window's two halves.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(w: &[u8; 64]) -> [__m256i; 2] {
        // SAFETY: reads exactly the window's 64 bytes (two unaligned 32-byte loads).
        unsafe {
            [
                _mm256_loadu_si256(w.as_ptr().cast()),
                _mm256_loadu_si256(w.as_ptr().add(32).cast()),
            ]
        }
    }

    /// One bit per byte of the window from the sign bits of `f` applied to each half.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn bits(halves: [__m256i; 2], f: impl Fn(__m256i) -> __m256i) -> u64 {
        let [a, b] = halves;
        let lo = _mm256_movemask_epi8(f(a)) as u32 as u64;
        let hi = _mm256_movemask_epi8(f(b)) as u32 as u64;
        opaque(lo | hi << 32)
    }

    /// `x`, through an empty `asm!` the compiler cannot see into. Without it, LLVM folds the
    /// window's rules back into vector code: `before(m.lower)` (a shift of the mask by one
    /// bit) became a shift of the compare results by one byte across the 32-byte halves,
    /// which AVX2 has no instruction for, lowered to byte-by-byte extracts and inserts (120
    /// `vpextrb` in the x86-64-v3 scan; o200k's count of source code 25% slower than with four
    /// 16-byte lanes).
    #[inline(always)]
    fn opaque(mut x: u64) -> u64 {
        // SAFETY: an empty template: reads and writes nothing but the register it names.
        unsafe {
            std::arch::asm!("/* {0} */", inout(reg) x, options(pure, nomem, nostack, preserves_flags))
        };
        x
    }

    /// Bytes in `lo..=hi` among the ASCII ones: `x - lo` moved to the bottom of the signed
    /// range, so one signed compare with the range's length decides (bytes of 0x80 and above
    /// may land either way; callers keep only ASCII bytes).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn in_range(x: __m256i, lo: u8, hi: u8) -> __m256i {
        let biased = _mm256_add_epi8(x, _mm256_set1_epi8(0x80u8.wrapping_sub(lo) as i8));
        let limit = _mm256_set1_epi8(0x80u8.wrapping_add(hi - lo + 1) as i8);
        _mm256_cmpgt_epi8(limit, biased)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn equal(x: __m256i, b: u8) -> __m256i {
        _mm256_cmpeq_epi8(x, _mm256_set1_epi8(b as i8))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn classes(w: &[u8; 64]) -> Classes {
        let x = load(w);
        // Setting bit 5 lowers ASCII letters, and makes no other ASCII byte a letter.
        let letter = bits(x, |v| {
            in_range(_mm256_or_si256(v, _mm256_set1_epi8(0x20)), b'a', b'z')
        });
        // Bit 5 of each byte, shifted up to its sign bit (a 16-bit shift: what crosses from
        // the byte below lands in bits 0 and 1).
        let bit5 = bits(x, |v| _mm256_slli_epi16(v, 2));
        let newline = bits(x, |v| _mm256_or_si256(equal(v, b'\n'), equal(v, b'\r')));
        let space = bits(x, |v| equal(v, b' '));
        // `\s` among ASCII bytes: \t, \n, \v, \f, \r and the space.
        let controls = bits(x, |v| in_range(v, 0x09, 0x0d));
        Classes {
            upper: letter & !bit5,
            lower: letter & bit5,
            digit: bits(x, |v| in_range(v, b'0', b'9')),
            newline,
            blank: (controls | space) & !newline,
            space,
            apostrophe: bits(x, |v| equal(v, b'\'')),
            slash: bits(x, |v| equal(v, b'/')),
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn contraction_letters(w: &[u8; 64]) -> ContractionLetters {
        // Bytes of 0x80 and above stay there when folded: equal to no letter.
        let [a, b] = load(w);
        let fold = _mm256_set1_epi8(0x20);
        let folded = [_mm256_or_si256(a, fold), _mm256_or_si256(b, fold)];
        let is = |c: u8| bits(folded, |v| equal(v, c));
        ContractionLetters {
            one: is(b's') | is(b'd') | is(b'm') | is(b't'),
            l: is(b'l'),
            e: is(b'e'),
            r_or_v: is(b'r') | is(b'v'),
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn high(w: &[u8; 64]) -> u64 {
        bits(load(w), |v| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A window of `bytes` (repeated), and the classes Lanes16 and the table agree on there.
    fn check(bytes: &[u8]) {
        let w: [u8; 64] = std::array::from_fn(|k| bytes[k % bytes.len()]);
        let known = match Lanes16.high(&w) {
            0 => u64::MAX,
            high => (1u64 << high.trailing_zeros()) - 1,
        };
        let lanes = Lanes16.classes(&w);
        let table = table_classes(&w);
        let keep = |c: Classes| {
            [
                c.upper,
                c.lower,
                c.digit,
                c.newline,
                c.blank,
                c.space,
                c.apostrophe,
                c.slash,
            ]
            .map(|m| m & known)
        };
        assert_eq!(keep(lanes), keep(table), "window {w:?}");
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(k) = Avx512::detect() {
                same_as_lanes(k, &w, keep, "AVX-512");
            }
            if let Some(k) = Avx2::detect() {
                same_as_lanes(k, &w, keep, "AVX2");
            }
        }
    }

    /// `k` computes what Lanes16 does on `w`: every mask on the bytes `keep` keeps, the
    /// contraction letters and the high bytes on all of them.
    #[cfg(target_arch = "x86_64")]
    fn same_as_lanes(
        k: impl Classify,
        w: &[u8; 64],
        keep: impl Fn(Classes) -> [u64; 8],
        way: &str,
    ) {
        let lanes = Lanes16.classes(w);
        assert_eq!(keep(k.classes(w)), keep(lanes), "window {w:?} ({way})");
        assert_eq!(
            k.contraction_letters(w),
            Lanes16.contraction_letters(w),
            "{way}"
        );
        assert_eq!(k.high(w), Lanes16.high(w), "{way}");
    }

    /// The table's classes read byte by byte: what the AVX-512 path computes, on any CPU.
    fn table_classes(w: &[u8; 64]) -> Classes {
        let bit = |b: u8, k: usize| ((CLASS_TABLE[(w[k] & 0x7f) as usize] & b != 0) as u64) << k;
        let mask = |b: u8| (0..64).fold(0, |m, k| m | bit(b, k));
        Classes {
            upper: mask(UPPER),
            lower: mask(LOWER),
            digit: mask(DIGIT),
            newline: mask(NEWLINE),
            blank: mask(BLANK),
            space: mask(SPACE_BYTE),
            apostrophe: mask(APOSTROPHE),
            slash: mask(SLASH),
        }
    }

    #[test]
    fn every_byte_is_classed_alike_both_ways() {
        for b in 0..=255u8 {
            check(&[b]);
            check(&[b' ', b, b'\'', b]);
        }
    }

    proptest! {
        #![proptest_config(crate::test_cases::cases(2000))]
        #[test]
        fn windows_are_classed_alike_both_ways(bytes in prop::collection::vec(any::<u8>(), 64)) {
            check(&bytes);
        }
    }
}
