//! Class masks of 16 bytes at once, for the ASCII fast paths: bit k of a mask says whether
//! byte k is an ASCII byte of the class. Finding the end of a run is then one load, a few
//! compares and a count of trailing ones, with no branch per byte to mispredict where the
//! run ends. SSE2 on x86-64 (always present there); elsewhere a scalar twin built on the same
//! flag table the scanners use, which the tests also run on x86-64 and check against SSE2.

use crate::unicode::{ascii_flags, LETTER, NUMBER, SPACE};

/// `[^\s\p{L}\p{N}]` among ASCII bytes, as a class id next to the flag bits.
pub const OTHER: u8 = 0x80;

/// Mask of the bytes of `chunk` in `CLASS`: LU_LT, LL, LETTER, NUMBER, SPACE or OTHER.
#[inline(always)]
pub fn mask<const CLASS: u8>(chunk: &[u8; 16]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        sse2::mask::<CLASS>(chunk)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        portable_mask::<CLASS>(chunk)
    }
}

/// Mask of the `\r` and `\n` bytes of `chunk`.
#[inline(always)]
pub fn newlines(chunk: &[u8; 16]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        sse2::newlines(chunk)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        portable_newlines(chunk)
    }
}

/// Mask of the bytes of `chunk` equal to `B`.
#[inline(always)]
pub fn equal<const B: u8>(chunk: &[u8; 16]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        sse2::equal::<B>(chunk)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        portable_equal::<B>(chunk)
    }
}

/// Mask of the bytes of `chunk` at or above 0x80 (those of multi-byte chars).
#[inline(always)]
pub fn high(chunk: &[u8; 16]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        sse2::high(chunk)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        portable_high(chunk)
    }
}

/// Whether an ASCII byte with flags `f` is in `CLASS`.
#[inline(always)]
pub fn in_class<const CLASS: u8>(f: u8) -> bool {
    if CLASS == OTHER {
        f & (SPACE | LETTER | NUMBER) == 0
    } else {
        f & CLASS != 0
    }
}

/// The scalar twin of `mask`, from the flag table.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
pub fn portable_mask<const CLASS: u8>(chunk: &[u8; 16]) -> u32 {
    let mut m = 0;
    for (k, &b) in chunk.iter().enumerate() {
        if b < 0x80 && in_class::<CLASS>(ascii_flags(b)) {
            m |= 1 << k;
        }
    }
    m
}

/// The scalar twin of `newlines`.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
pub fn portable_newlines(chunk: &[u8; 16]) -> u32 {
    let mut m = 0;
    for (k, &b) in chunk.iter().enumerate() {
        if b == b'\r' || b == b'\n' {
            m |= 1 << k;
        }
    }
    m
}

/// The scalar twin of `equal`.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
pub fn portable_equal<const B: u8>(chunk: &[u8; 16]) -> u32 {
    (0..16)
        .filter(|&k| chunk[k] == B)
        .fold(0, |m, k| m | 1 << k)
}

/// The scalar twin of `high`.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
pub fn portable_high(chunk: &[u8; 16]) -> u32 {
    (0..16)
        .filter(|&k| chunk[k] >= 0x80)
        .fold(0, |m, k| m | 1 << k)
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use super::OTHER;
    use crate::unicode::{LETTER, LL, LU_LT, NUMBER, SPACE};
    use std::arch::x86_64::*;

    /// Bytes in `lo..=hi` (both below 0x80). The compares are signed, so bytes of 0x80 and
    /// above, negative here, are never in range.
    #[inline(always)]
    fn in_range(x: __m128i, lo: u8, hi: u8) -> __m128i {
        // SAFETY: SSE2 is part of the x86-64 baseline; these touch no memory.
        #[allow(unused_unsafe)]
        unsafe {
            _mm_and_si128(
                _mm_cmpgt_epi8(x, _mm_set1_epi8(lo as i8 - 1)),
                _mm_cmplt_epi8(x, _mm_set1_epi8(hi as i8 + 1)),
            )
        }
    }

    #[inline(always)]
    fn load(chunk: &[u8; 16]) -> __m128i {
        // SAFETY: reads exactly the 16 bytes of `chunk` (an unaligned load).
        unsafe { _mm_loadu_si128(chunk.as_ptr() as *const __m128i) }
    }

    #[inline(always)]
    pub fn mask<const CLASS: u8>(chunk: &[u8; 16]) -> u32 {
        let x = load(chunk);
        // SAFETY: SSE2 is part of the x86-64 baseline; these touch no memory.
        #[allow(unused_unsafe)]
        unsafe {
            let letter = || in_range(_mm_or_si128(x, _mm_set1_epi8(0x20)), b'a', b'z');
            let space = || {
                _mm_or_si128(
                    in_range(x, 0x09, 0x0d),
                    _mm_cmpeq_epi8(x, _mm_set1_epi8(0x20)),
                )
            };
            let v = match CLASS {
                LU_LT => in_range(x, b'A', b'Z'),
                LL => in_range(x, b'a', b'z'),
                LETTER => letter(),
                NUMBER => in_range(x, b'0', b'9'),
                SPACE => space(),
                OTHER => {
                    let ascii = _mm_cmpgt_epi8(x, _mm_set1_epi8(-1));
                    let named =
                        _mm_or_si128(_mm_or_si128(letter(), space()), in_range(x, b'0', b'9'));
                    _mm_andnot_si128(named, ascii)
                }
                _ => unreachable!("no such class"),
            };
            _mm_movemask_epi8(v) as u32
        }
    }

    #[inline(always)]
    pub fn equal<const B: u8>(chunk: &[u8; 16]) -> u32 {
        let x = load(chunk);
        // SAFETY: SSE2 is part of the x86-64 baseline; these touch no memory.
        #[allow(unused_unsafe)]
        unsafe {
            _mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(B as i8))) as u32
        }
    }

    #[inline(always)]
    pub fn high(chunk: &[u8; 16]) -> u32 {
        // SAFETY: SSE2 is part of the x86-64 baseline; the sign bits are the high bytes.
        #[allow(unused_unsafe)]
        unsafe {
            _mm_movemask_epi8(load(chunk)) as u32
        }
    }

    #[inline(always)]
    pub fn newlines(chunk: &[u8; 16]) -> u32 {
        let x = load(chunk);
        // SAFETY: SSE2 is part of the x86-64 baseline; these touch no memory.
        #[allow(unused_unsafe)]
        unsafe {
            let v = _mm_or_si128(
                _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\n' as i8)),
                _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\r' as i8)),
            );
            _mm_movemask_epi8(v) as u32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unicode::{LL, LU_LT};
    use proptest::prelude::*;

    fn both<const CLASS: u8>(chunk: &[u8; 16]) -> (u32, u32) {
        (mask::<CLASS>(chunk), portable_mask::<CLASS>(chunk))
    }

    /// Every byte value in every position, for every class: the SIMD masks equal the table's.
    #[test]
    fn masks_agree_with_the_flag_table_on_every_byte() {
        for b in 0..=255u8 {
            for at in [0, 7, 15] {
                let mut chunk = [b'~'; 16];
                chunk[at] = b;
                for (simd, table) in [
                    both::<LU_LT>(&chunk),
                    both::<LL>(&chunk),
                    both::<LETTER>(&chunk),
                    both::<NUMBER>(&chunk),
                    both::<SPACE>(&chunk),
                    both::<OTHER>(&chunk),
                ] {
                    assert_eq!(simd, table, "byte {b:#04x} at {at}");
                }
                assert_eq!(newlines(&chunk), portable_newlines(&chunk));
                assert_eq!(high(&chunk), portable_high(&chunk), "byte {b:#04x} at {at}");
                assert_eq!(equal::<b'\''>(&chunk), portable_equal::<b'\''>(&chunk));
                assert_eq!(equal::<b'/'>(&chunk), portable_equal::<b'/'>(&chunk));
                assert_eq!(equal::<b' '>(&chunk), portable_equal::<b' '>(&chunk));
            }
        }
    }

    /// The scalar twin, which is `mask` off x86-64 (aarch64 under qemu), against the ASCII
    /// classes as the standard library defines them (`\s` adds the vertical tab), for every
    /// byte in every position: a check that does not lean on the flag table the twin reads.
    #[test]
    fn portable_masks_equal_the_ascii_classes() {
        /// The mask of `chunk`'s bytes for which `is_in` holds.
        fn expected(chunk: &[u8; 16], is_in: impl Fn(u8) -> bool) -> u32 {
            (0..16)
                .filter(|&k| is_in(chunk[k]))
                .fold(0, |m, k| m | 1 << k)
        }
        let is_space = |b: u8| matches!(b, b'\t'..=b'\r' | b' ');
        let other = |b: u8| b.is_ascii() && !b.is_ascii_alphanumeric() && !is_space(b);
        for b in 0..=255u8 {
            for at in 0..16 {
                let mut chunk = [b'~'; 16];
                chunk[at] = b;
                for (class, got, want) in [
                    (
                        "LU_LT",
                        portable_mask::<LU_LT>(&chunk),
                        expected(&chunk, |b| b.is_ascii_uppercase()),
                    ),
                    (
                        "LL",
                        portable_mask::<LL>(&chunk),
                        expected(&chunk, |b| b.is_ascii_lowercase()),
                    ),
                    (
                        "LETTER",
                        portable_mask::<LETTER>(&chunk),
                        expected(&chunk, |b| b.is_ascii_alphabetic()),
                    ),
                    (
                        "NUMBER",
                        portable_mask::<NUMBER>(&chunk),
                        expected(&chunk, |b| b.is_ascii_digit()),
                    ),
                    (
                        "SPACE",
                        portable_mask::<SPACE>(&chunk),
                        expected(&chunk, is_space),
                    ),
                    (
                        "OTHER",
                        portable_mask::<OTHER>(&chunk),
                        expected(&chunk, other),
                    ),
                    (
                        "newlines",
                        portable_newlines(&chunk),
                        expected(&chunk, |b| b == b'\r' || b == b'\n'),
                    ),
                ] {
                    assert_eq!(got, want, "{class}: byte {b:#04x} at {at}");
                }
            }
        }
    }

    proptest! {
        #![proptest_config(crate::test_cases::cases(256))]
        #[test]
        fn masks_agree_on_mixed_chunks(chunk in prop::array::uniform16(any::<u8>())) {
            prop_assert_eq!(both::<LU_LT>(&chunk).0, both::<LU_LT>(&chunk).1);
            prop_assert_eq!(both::<LL>(&chunk).0, both::<LL>(&chunk).1);
            prop_assert_eq!(both::<LETTER>(&chunk).0, both::<LETTER>(&chunk).1);
            prop_assert_eq!(both::<NUMBER>(&chunk).0, both::<NUMBER>(&chunk).1);
            prop_assert_eq!(both::<SPACE>(&chunk).0, both::<SPACE>(&chunk).1);
            prop_assert_eq!(both::<OTHER>(&chunk).0, both::<OTHER>(&chunk).1);
            prop_assert_eq!(newlines(&chunk), portable_newlines(&chunk));
        }
    }
}
