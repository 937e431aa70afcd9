//! UTF-8 from code points: how a long non-ASCII Python str reaches the tokenizer.
//!
//! CPython keeps a str as one, two or four bytes a code point; `PyUnicode_AsUTF8AndSize`
//! encodes it with a loop that branches on every char's width (about 1.1 ns a char on mixed
//! text: a fifth of a count of multilingual text). Here AVX2 encodes eight code points a step,
//! with one branch a step (all ASCII or not), not one a char: each char's bytes are built in
//! its 32-bit lane, then a shuffle from a table packs the lanes' bytes together.
//!
//! One pass, into room for the longest UTF-8 the str's width allows (the caller gives back
//! what it did not use): the chars are read once, and what is not a Unicode scalar value (a
//! lone surrogate, which a Python str may hold) is noted on the way and refuses the whole. A
//! first pass that sized the output exactly took a third of the transcoding's time (1 MB of
//! multilingual text held four bytes a char).

/// Whether [`encode`] has its fast path on this CPU (AVX2 and BMI). Elsewhere a caller had
/// better let Python encode: a scalar loop is no faster than CPython's.
#[inline]
pub fn is_fast() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::cpu::has_x86_64_v3()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A code point as a str stores it: one, two or four bytes.
pub trait CodeUnit: Copy + Into<u32> {
    /// Most UTF-8 bytes one of these takes.
    const MAX_UTF8: usize;

    /// Eight code units from `at`, widened to 32 bits.
    ///
    /// # Safety
    /// Eight units are readable at `at`; the CPU has AVX2.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(at: *const Self) -> std::arch::x86_64::__m256i;
}

impl CodeUnit for u8 {
    const MAX_UTF8: usize = 2;
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(at: *const u8) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(at.cast()))
    }
}

impl CodeUnit for u16 {
    const MAX_UTF8: usize = 3;
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(at: *const u16) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        _mm256_cvtepu16_epi32(_mm_loadu_si128(at.cast()))
    }
}

impl CodeUnit for u32 {
    const MAX_UTF8: usize = 4;
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(at: *const u32) -> std::arch::x86_64::__m256i {
        std::arch::x86_64::_mm256_loadu_si256(at.cast())
    }
}

/// Bytes past the UTF-8 that [`encode`] may write (and leaves undefined).
pub const SLACK: usize = 16;

/// The room [`encode`] needs for `chars`: their longest UTF-8 and [`SLACK`] (None past
/// `usize`).
pub fn room<C: CodeUnit>(chars: &[C]) -> Option<usize> {
    chars.len().checked_mul(C::MAX_UTF8)?.checked_add(SLACK)
}

/// Writes the UTF-8 of `chars` at `out` and gives its length, or `None` (and undefined bytes
/// at `out`) when one of them is not a scalar value.
///
/// # Safety
/// `out` has room for `room(chars)` bytes.
pub unsafe fn encode<C: CodeUnit>(chars: &[C], out: *mut u8) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has_x86_64_v3() {
        return encode_avx2(chars, out);
    }
    encode_plain(chars, out)
}

/// One char at a time: the fallback, and the last chars of the fast path. Gives the length, or
/// `None` at the first char that is not a scalar value.
///
/// # Safety
/// As [`encode`], without the slack.
#[inline(always)]
unsafe fn encode_plain<C: CodeUnit>(chars: &[C], out: *mut u8) -> Option<usize> {
    let mut at = 0;
    let mut buf = [0u8; 4];
    for &c in chars {
        let bytes = char::from_u32(c.into())?.encode_utf8(&mut buf).as_bytes();
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), out.add(at), bytes.len());
        at += bytes.len();
    }
    Some(at)
}

/// For each 4-bit mask, its bit i moved to bit 2i: three masks (char i is longer than 1, 2,
/// 3 bytes) add up to a byte whose bits 2i..2i+1 are char i's length less one.
#[cfg(target_arch = "x86_64")]
const SPREAD: [u8; 16] = {
    let mut t = [0u8; 16];
    let mut m = 0;
    while m < 16 {
        let mut i = 0;
        while i < 4 {
            if m & (1 << i) != 0 {
                t[m] |= 1 << (2 * i);
            }
            i += 1;
        }
        m += 1;
    }
    t
};

/// For four chars' lengths (two bits each, length less one), the shuffle that packs their
/// bytes (each char's in its own 32-bit lane, first byte lowest) together, and how many bytes
/// that is.
#[cfg(target_arch = "x86_64")]
static PACK: ([[u8; 16]; 256], [u8; 256]) = {
    let mut shuffles = [[0x80u8; 16]; 256];
    let mut lens = [0u8; 256];
    let mut code = 0;
    while code < 256 {
        let mut at = 0;
        let mut lane = 0;
        while lane < 4 {
            let n = ((code >> (2 * lane)) & 3) + 1;
            let mut b = 0;
            while b < n {
                shuffles[code][at] = (4 * lane + b) as u8;
                at += 1;
                b += 1;
            }
            lane += 1;
        }
        lens[code] = at as u8;
        code += 1;
    }
    (shuffles, lens)
};

/// `encode`, eight chars a step. A char that is not a scalar value is encoded as if it were
/// (the arithmetic below is defined for any 32 bits, and takes at most `C::MAX_UTF8` bytes for
/// any value of `C`), and only noted: the result is then `None`.
///
/// # Safety
/// The CPU has AVX2, BMI1/2, POPCNT and LZCNT; `out` has room for `room(chars)` bytes (a step
/// stores 16 bytes for each half of its chars, of which it keeps as many as they take).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt")]
unsafe fn encode_avx2<C: CodeUnit>(chars: &[C], out: *mut u8) -> Option<usize> {
    use std::arch::x86_64::*;

    let mut at = 0usize;
    let steps = chars.len() / 8;
    let src = chars.as_ptr();
    // Byte 0 of each 32-bit lane, for eight ASCII chars.
    let low_bytes = _mm256_setr_epi8(
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, //
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    );
    let six_bits = _mm256_set1_epi32(0x3F);
    let continuation = _mm256_set1_epi32(0x8080_8080u32 as i32);
    let x80 = _mm256_set1_epi32(0x80);
    let not_ascii = _mm256_set1_epi32(!0x7F);
    // Lanes that held a surrogate, or a value past Unicode (none can be ASCII).
    let mut invalid = _mm256_setzero_si256();
    for step in 0..steps {
        let v = C::load8(src.add(8 * step));
        if _mm256_testz_si256(v, not_ascii) != 0 {
            // Eight ASCII chars: their low bytes.
            let b = _mm256_shuffle_epi8(v, low_bytes);
            let lo = _mm256_cvtsi256_si32(b) as u32;
            let hi = _mm256_extract_epi32::<4>(b) as u32;
            out.add(at)
                .cast::<u64>()
                .write_unaligned(u64::from(lo) | u64::from(hi) << 32);
            at += 8;
            continue;
        }
        let surrogate = _mm256_cmpeq_epi32(
            _mm256_and_si256(v, _mm256_set1_epi32(!0x7FF)),
            _mm256_set1_epi32(0xD800),
        );
        let past_unicode = _mm256_cmpgt_epi32(_mm256_srli_epi32::<16>(v), _mm256_set1_epi32(0x10));
        invalid = _mm256_or_si256(invalid, _mm256_or_si256(surrogate, past_unicode));
        let over_1 = _mm256_cmpgt_epi32(v, _mm256_set1_epi32(0x7F));
        let long1 = _mm256_movemask_ps(_mm256_castsi256_ps(over_1)) as usize;
        let over_2 = _mm256_cmpgt_epi32(v, _mm256_set1_epi32(0x7FF));
        let over_3 = _mm256_cmpgt_epi32(v, _mm256_set1_epi32(0xFFFF));
        // The four-byte form, first byte lowest: 10xxxxxx marks on the six-bit groups, the
        // lead's mark added below.
        let s0 = _mm256_and_si256(v, six_bits);
        let s1 = _mm256_and_si256(_mm256_srli_epi32::<6>(v), six_bits);
        let s2 = _mm256_and_si256(_mm256_srli_epi32::<12>(v), six_bits);
        let s3 = _mm256_srli_epi32::<18>(v);
        let four = _mm256_or_si256(
            _mm256_or_si256(_mm256_slli_epi32::<24>(s0), _mm256_slli_epi32::<16>(s1)),
            _mm256_or_si256(_mm256_slli_epi32::<8>(s2), s3),
        );
        let four = _mm256_or_si256(four, continuation);
        // Length less one, 0..=3 (the masks are -1 where set).
        let extra = _mm256_sub_epi32(
            _mm256_setzero_si256(),
            _mm256_add_epi32(_mm256_add_epi32(over_1, over_2), over_3),
        );
        // A char of n bytes keeps the last n of the four: its top group is then in the lowest
        // byte, 10xxxxxx, and becomes the lead (110xxxxx, 1110xxxx, 11110xxx) by adding the
        // lead's other ones: 0x80 - (0x80 >> (n - 1)).
        let kept = _mm256_srlv_epi32(
            four,
            _mm256_slli_epi32::<3>(_mm256_sub_epi32(_mm256_set1_epi32(3), extra)),
        );
        let lead = _mm256_sub_epi32(x80, _mm256_srlv_epi32(x80, extra));
        let bytes = _mm256_blendv_epi8(v, _mm256_or_si256(kept, lead), over_1);
        let long2 = _mm256_movemask_ps(_mm256_castsi256_ps(over_2)) as usize;
        let long3 = _mm256_movemask_ps(_mm256_castsi256_ps(over_3)) as usize;
        let code_lo = (SPREAD[long1 & 15] + SPREAD[long2 & 15] + SPREAD[long3 & 15]) as usize;
        let code_hi = (SPREAD[long1 >> 4] + SPREAD[long2 >> 4] + SPREAD[long3 >> 4]) as usize;
        let shuffle = _mm256_loadu2_m128i(
            PACK.0[code_hi].as_ptr().cast(),
            PACK.0[code_lo].as_ptr().cast(),
        );
        let packed = _mm256_shuffle_epi8(bytes, shuffle);
        _mm_storeu_si128(out.add(at).cast(), _mm256_castsi256_si128(packed));
        at += PACK.1[code_lo] as usize;
        _mm_storeu_si128(out.add(at).cast(), _mm256_extracti128_si256::<1>(packed));
        at += PACK.1[code_hi] as usize;
    }
    let tail = encode_plain(&chars[8 * steps..], out.add(at))?;
    (_mm256_testz_si256(invalid, invalid) != 0).then_some(at + tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The UTF-8 of `chars`, or `None` when one of them is not a scalar value: what
    /// `keep_utf8` (rust/py/str_data.rs) does, into a `Vec`.
    fn to_utf8<C: CodeUnit>(chars: &[C]) -> Option<String> {
        let mut out: Vec<u8> = Vec::with_capacity(room(chars).unwrap());
        // SAFETY: `out` has the room `encode` asks for; only the bytes it says it wrote, all of
        // them UTF-8 when it gives a length, are kept.
        unsafe {
            let len = encode(chars, out.as_mut_ptr())?;
            out.set_len(len);
            Some(String::from_utf8_unchecked(out))
        }
    }

    fn std_utf8(chars: &[u32]) -> Option<String> {
        chars.iter().map(|&c| char::from_u32(c)).collect()
    }

    #[test]
    fn every_scalar_value_encodes_as_std_does() {
        // All of them in order, then shifted so that each width meets every lane of a step.
        let all: Vec<u32> = (0..=0x10_FFFF)
            .filter(|&c| char::from_u32(c).is_some())
            .collect();
        for skip in 0..8 {
            let chars = &all[skip..];
            assert_eq!(to_utf8(chars), std_utf8(chars), "from index {skip}");
        }
    }

    #[test]
    fn one_and_two_byte_units_encode_as_std_does() {
        let latin1: Vec<u8> = (0..=255u8).cycle().skip(5).take(3000).collect();
        let want: String = latin1.iter().map(|&b| char::from(b)).collect();
        for skip in 0..8 {
            assert_eq!(
                to_utf8(&latin1[skip..]).as_deref(),
                Some(&want[want.char_indices().nth(skip).unwrap().0..])
            );
        }
        let bmp: Vec<u16> = (0..=0xFFFFu16)
            .filter(|c| !(0xD800..0xE000).contains(c))
            .collect();
        for skip in 0..8 {
            let chars = &bmp[skip..];
            let want: Option<String> = chars.iter().map(|&c| char::from_u32(c.into())).collect();
            assert_eq!(to_utf8(chars), want, "from index {skip}");
        }
        let mut lone: Vec<u16> = "a surrogate: ".encode_utf16().collect();
        lone.push(0xDC00);
        assert_eq!(to_utf8(&lone), None);
    }

    #[test]
    fn surrogates_and_values_past_unicode_are_refused() {
        for bad in [0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0x11_0000, u32::MAX] {
            for at in [0, 3, 7, 8, 20] {
                let mut chars: Vec<u32> = "héllo wörld, 世界 ok!".chars().map(u32::from).collect();
                chars.insert(at.min(chars.len()), bad);
                assert_eq!(to_utf8(&chars), None, "{bad:#x} at {at}");
            }
        }
    }

    #[test]
    fn short_and_empty_inputs() {
        assert_eq!(to_utf8::<u32>(&[]), Some(String::new()));
        for n in 0..20 {
            let s: String = "aé世😀".chars().cycle().take(n).collect();
            let chars: Vec<u32> = s.chars().map(u32::from).collect();
            assert_eq!(to_utf8(&chars).as_deref(), Some(s.as_str()));
        }
    }

    fn mixed_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => proptest::char::range('\0', '\u{7F}'),
            2 => proptest::char::range('\u{80}', '\u{7FF}'),
            2 => proptest::char::range('\u{800}', '\u{FFFF}'),
            1 => proptest::char::range('\u{10000}', '\u{10FFFF}'),
        ]
    }

    proptest! {
        #![proptest_config(crate::test_cases::cases(512))]
        #[test]
        fn mixed_text_encodes_as_std_does(s in proptest::collection::vec(mixed_char(), 0..200)) {
            let s: String = s.into_iter().collect();
            let chars: Vec<u32> = s.chars().map(u32::from).collect();
            // The plain path too, which this CPU may not take.
            let mut plain = vec![0u8; s.len()];
            // SAFETY: the UTF-8 of the chars fits `plain`.
            let n = unsafe { encode_plain(&chars, plain.as_mut_ptr()) };
            prop_assert_eq!(n, Some(s.len()));
            prop_assert_eq!(&plain[..], s.as_bytes());
            prop_assert_eq!(to_utf8(&chars), Some(s));
        }
    }
}
