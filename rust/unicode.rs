//! Unicode classes the pre-tokenizers need, one byte of flags per code point, read from a
//! two-stage table that build.rs derives from regex-syntax (the regex fallback's own tables).

#[repr(C, align(8))]
struct Aligned<T: ?Sized>(T);

static STAGE1: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(
    env!("OUT_DIR"),
    "/unicode_stage1.bin"
)));
static STAGE2: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(
    env!("OUT_DIR"),
    "/unicode_stage2.bin"
)));

/// `\p{Lu}` or `\p{Lt}`.
pub const LU_LT: u8 = 1;
/// `\p{Ll}`.
pub const LL: u8 = 2;
/// `\p{Lm}` or `\p{Lo}`.
pub const LM_LO: u8 = 4;
/// `\p{M}`.
pub const MARK: u8 = 8;
/// `\p{N}`.
pub const NUMBER: u8 = 16;
/// `\s` (White_Space).
pub const SPACE: u8 = 32;

/// `\p{L}`.
pub const LETTER: u8 = LU_LT | LL | LM_LO;
/// o200k's `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`.
pub const UPPERISH: u8 = LU_LT | LM_LO | MARK;
/// o200k's `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`.
pub const LOWERISH: u8 = LL | LM_LO | MARK;

/// Flags of U+0000..U+07FF (every char of one or two UTF-8 bytes) in one table, so that the
/// scripts written in two-byte chars (Cyrillic, Greek, Hebrew, Arabic...) need one load a char.
static LOW: [u8; 0x800] = LOW_FLAGS;

/// [`LOW`] as a constant, for tables derived from it at compile time.
pub const LOW_FLAGS: [u8; 0x800] = {
    const S1: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/unicode_stage1.bin"));
    const S2: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/unicode_stage2.bin"));
    let mut table = [0u8; 0x800];
    let mut cp = 0;
    while cp < 0x800 {
        table[cp] = S2[((S1[cp >> 8] as usize) << 8) | (cp & 0xff)];
        cp += 1;
    }
    table
};

/// Class flags of a code point.
#[inline(always)]
pub fn flags(cp: u32) -> u8 {
    let block = STAGE1.0[(cp >> 8) as usize] as usize;
    STAGE2.0[(block << 8) | (cp & 0xff) as usize]
}

/// Class flags of an ASCII byte (block 0 of the table is U+0000..U+00FF).
#[inline(always)]
pub fn ascii_flags(b: u8) -> u8 {
    STAGE2.0[b as usize]
}

/// Decodes the char starting at byte `i` of valid UTF-8: (code point, byte length).
#[inline(always)]
pub fn char_at(s: &[u8], i: usize) -> (u32, usize) {
    let b0 = s[i] as u32;
    if b0 < 0x80 {
        (b0, 1)
    } else if b0 < 0xE0 {
        (((b0 & 0x1F) << 6) | (s[i + 1] as u32 & 0x3F), 2)
    } else if b0 < 0xF0 {
        (
            ((b0 & 0x0F) << 12) | ((s[i + 1] as u32 & 0x3F) << 6) | (s[i + 2] as u32 & 0x3F),
            3,
        )
    } else {
        (
            ((b0 & 0x07) << 18)
                | ((s[i + 1] as u32 & 0x3F) << 12)
                | ((s[i + 2] as u32 & 0x3F) << 6)
                | (s[i + 3] as u32 & 0x3F),
            4,
        )
    }
}

/// The char starting at byte `i` of valid UTF-8: (code point, its flags, byte length).
#[inline(always)]
pub fn char_flags_at(s: &[u8], i: usize) -> (u32, u8, usize) {
    let b0 = s[i];
    if b0 < 0x80 {
        (b0 as u32, ascii_flags(b0), 1)
    } else if b0 < 0xE0 {
        let cp = ((b0 as u32 & 0x1F) << 6) | (s[i + 1] as u32 & 0x3F);
        (cp, LOW[cp as usize & 0x7FF], 2)
    } else {
        let (cp, len) = char_at(s, i);
        (cp, flags(cp), len)
    }
}

/// Byte length of the char that ends just before byte `end` of valid UTF-8.
#[inline(always)]
pub fn last_char_len(s: &[u8], end: usize) -> usize {
    let mut len = 1;
    while s[end - len] & 0xC0 == 0x80 {
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_of_known_chars() {
        assert_eq!(flags('A' as u32), LU_LT);
        assert_eq!(flags('a' as u32), LL);
        assert_eq!(flags('日' as u32), LM_LO);
        assert_eq!(flags(0x301), MARK);
        assert_eq!(flags('7' as u32), NUMBER);
        assert_eq!(flags('Ⅻ' as u32), NUMBER);
        assert_eq!(flags(' ' as u32), SPACE);
        assert_eq!(flags(0x3000), SPACE);
        assert_eq!(flags(0x85), SPACE);
        assert_eq!(flags('!' as u32), 0);
        assert_eq!(flags(0x1F600), 0);
        assert_eq!(flags(0x10FFFF), 0);
    }

    #[test]
    fn the_table_of_short_chars_agrees_with_the_two_stages() {
        for cp in 0..0x800u32 {
            let c = char::from_u32(cp).expect("no surrogates below U+0800");
            let mut buf = [0u8; 4];
            let s = c.encode_utf8(&mut buf).as_bytes();
            assert_eq!(char_flags_at(s, 0), (cp, flags(cp), s.len()), "U+{cp:04X}");
        }
        for c in ['日', '😀', '\u{FFFF}'] {
            let mut buf = [0u8; 4];
            let s = c.encode_utf8(&mut buf).as_bytes();
            assert_eq!(char_flags_at(s, 0), (c as u32, flags(c as u32), s.len()));
        }
    }

    #[test]
    fn decodes_every_width() {
        for c in ['a', 'é', '日', '😀'] {
            let mut buf = [0u8; 4];
            let s = c.encode_utf8(&mut buf).as_bytes();
            assert_eq!(char_at(s, 0), (c as u32, s.len()));
            assert_eq!(last_char_len(s, s.len()), s.len());
        }
    }
}
