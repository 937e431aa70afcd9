//! Multi-byte letters standing in as ASCII letters, so that windows of text in other scripts
//! (Cyrillic, Greek, Arabic, CJK...) are read with the masks of [`super::ascii64`] too.
//!
//! Where the patterns put a letter does not depend on which letter it is, only on its class:
//! cl100k asks `\p{L}` of it, o200k whether it is in `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]` and in
//! `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`. So each byte of a multi-byte letter can be replaced by an ASCII
//! letter of the same class, and the window's starts stay those of the text: `a` for any letter
//! in cl100k; in o200k `A` for `Lu`/`Lt` and `a` for `Ll` (an ASCII letter is in one of the two
//! o200k classes, so `Lm`, `Lo` and marks, which are in both, have no stand-in). The length of
//! a run does not matter to any rule, only where it starts and ends, so a letter of two to four
//! bytes becomes as many letters. What has no stand-in is left as it is: non-letters (a mark,
//! a non-ASCII digit or space, whose length in chars the rules count), `ſ` (U+017F, which a
//! case-insensitive contraction takes for `s`), and a char the window cuts. The window is then
//! known up to the first of those, as it was up to the first non-ASCII byte.
//!
//! Chars of `[^\s\p{L}\p{N}]` (punctuation, symbols, and in cl100k the marks of Indic and other
//! scripts) stand in as `#`, one per byte. Here the length does matter, in one rule: a single
//! such char at a piece's start is the prefix of the letters after it (`[^\r\n\p{L}\p{N}]?`),
//! where a run of them is a piece of its own. So their bytes after the first are reported
//! too, and the window reads them as part of the char they end (see [`super::ascii64::starts`]).

use super::ascii64::Family;
use crate::unicode::{
    char_flags_at, flags, LETTER, LL, LM_LO, LOW_FLAGS, LU_LT, MARK, NUMBER, SPACE,
};

/// The long s, which `(?i)` folds to `s`: contractions take it.
const LONG_S: u32 = 0x17F;

/// What stands in for a char of `[^\s\p{L}\p{N}]`: ASCII of that class, and of no other the
/// masks read (not an apostrophe, a slash, or a letter once case-folded).
const OTHER_STAND_IN: u8 = b'#';

/// The ASCII byte that stands in for the char `cp` with flags `f`, if it has one.
#[inline(always)]
const fn stand_in_for(cp: u32, f: u8, family: Family) -> Option<u8> {
    if cp == LONG_S {
        return None;
    }
    // o200k reads marks as letters (in both of its letter classes).
    let named = match family {
        Family::Cl100k => LETTER | NUMBER | SPACE,
        Family::O200k => LETTER | MARK | NUMBER | SPACE,
    };
    if f & named == 0 {
        return Some(OTHER_STAND_IN);
    }
    match family {
        Family::Cl100k if f & LETTER != 0 => Some(b'a'),
        Family::O200k if f & (LM_LO | MARK) != 0 => None,
        Family::O200k if f & LU_LT != 0 => Some(b'A'),
        Family::O200k if f & LL != 0 => Some(b'a'),
        _ => None,
    }
}

/// The stand-ins of the chars of three and four bytes by their flags, 0 where there is none.
/// `[cl100k, o200k]`.
static BY_FLAGS: [[u8; 256]; 2] = stand_in_tables(true);

/// The stand-ins of the chars of two bytes (U+0080..U+07FF: Latin, Greek, Cyrillic, Hebrew,
/// Arabic...) by code point, 0 where there is none: a load per char, where the flags and the
/// rules above take a dozen branches. `[cl100k, o200k]`.
static TWO_BYTES: [[u8; 0x800]; 2] = stand_in_tables(false);

/// The tables above: entry `i` is the stand-in of a char with flags `i` past U+07FF
/// (`by_flags`), or of the char U+`i` (below U+0800, its flags from `LOW_FLAGS`).
const fn stand_in_tables<const N: usize>(by_flags: bool) -> [[u8; N]; 2] {
    let mut tables = [[0u8; N]; 2];
    let families = [Family::Cl100k, Family::O200k];
    let mut t = 0;
    while t < 2 {
        let mut i = 0;
        while i < N {
            let (cp, f) = if by_flags {
                (0x800, i as u8)
            } else {
                (i as u32, LOW_FLAGS[i])
            };
            if let Some(b) = stand_in_for(cp, f, families[t]) {
                tables[t][i] = b;
            }
            i += 1;
        }
        t += 1;
    }
    tables
}

/// A window with its multi-byte chars replaced where they have a stand-in.
pub struct StoodIn {
    pub window: [u8; 64],
    /// The bytes still non-ASCII: those of the first char without a stand-in, and all after.
    pub high: u64,
    /// The bytes after the first of each char of `[^\s\p{L}\p{N}]` that stands in as `#`.
    pub other_tails: u64,
}

/// The window `w` (which starts at a char boundary) with its multi-byte chars replaced, up to
/// the first char that has no stand-in. `high` is the window's non-ASCII bytes.
#[inline(always)]
pub fn stand_in(w: &[u8; 64], high: u64, family: Family) -> StoodIn {
    let mut out = *w;
    let mut rest = high;
    let mut other_tails = 0;
    let two_bytes = &TWO_BYTES[family as usize];
    let by_flags = &BY_FLAGS[family as usize];
    while rest != 0 {
        // The lowest non-ASCII byte left starts a char: the chars before it were all replaced.
        let k = rest.trailing_zeros() as usize;
        let b0 = w[k] as u32;
        // Its stand-in and length, from a table by code point for two bytes (most scripts
        // with an alphabet), by flags for three (Indic and most other scripts of the BMP, CJK,
        // punctuation) and four (emoji, historic scripts): the long s, the one char the flags
        // do not decide, is two bytes. A char the window cuts has none.
        let (b, len) = if b0 < 0xE0 {
            if k > 62 {
                break;
            }
            let cp = ((b0 & 0x1F) << 6) | (w[k + 1] as u32 & 0x3F);
            (two_bytes[cp as usize], 2)
        } else if b0 < 0xF0 {
            if k > 61 {
                break;
            }
            let cp =
                ((b0 & 0x0F) << 12) | ((w[k + 1] as u32 & 0x3F) << 6) | (w[k + 2] as u32 & 0x3F);
            (by_flags[flags(cp) as usize], 3)
        } else {
            if k > 60 {
                break;
            }
            (by_flags[char_flags_at(w, k).1 as usize], 4)
        };
        if b == 0 {
            break;
        }
        // Stores of known sizes: a fill of `len` bytes would be a call to memset.
        out[k] = b;
        out[k + 1] = b;
        if len > 2 {
            out[k + 2] = b;
            if len > 3 {
                out[k + 3] = b;
            }
        }
        let bytes = ((1u64 << len) - 1) << k;
        if b == OTHER_STAND_IN {
            other_tails |= bytes & !(1 << k);
        }
        rest &= !bytes;
    }
    StoodIn {
        window: out,
        high: rest,
        other_tails,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretokenize::ascii64::high;

    fn window(text: &str) -> [u8; 64] {
        let mut w = [b' '; 64];
        w[..text.len()].copy_from_slice(text.as_bytes());
        w
    }

    #[test]
    fn letters_stand_in_by_class_and_the_rest_stops_the_window() {
        let w = window("Добрый день, ΑΒγ ǅ 日本 x\u{301}y \u{a0}");
        let cl = stand_in(&w, high(&w), Family::Cl100k);
        let shown = String::from_utf8_lossy(&cl.window[..45]);
        // The mark (U+0301) is `[^\s\p{L}\p{N}]` to cl100k: it stands in as `#`, a byte each.
        assert_eq!(shown, "aaaaaaaaaaaa aaaaaaaa, aaaaaa aa aaaaaa x##y ");
        assert_eq!(cl.other_tails, 1 << 42);
        // The no-break space (U+00A0) is whitespace and has no stand-in: it and all after stay.
        assert_eq!(cl.high, high(&w) & (u64::MAX << 45));

        let o2 = stand_in(&w, high(&w), Family::O200k);
        assert_eq!(&o2.window[..29], b"AAaaaaaaaaaa aaaaaaaa, AAAAaa");
        // ǅ (Lt) is upper case to o200k.
        assert_eq!(&o2.window[30..32], b"AA");
        // 日 is Lo, in both of o200k's classes: the window is known up to it.
        assert_eq!(o2.high.trailing_zeros(), 33);
        assert_eq!(o2.other_tails, 0);
    }

    #[test]
    fn other_chars_stand_in_as_one_byte_and_tails() {
        // A dash (3 bytes), guillemets (2 each), an emoji (4): `#` with their tails reported.
        let w = window("a\u{2014}b «c» 😀");
        for family in [Family::Cl100k, Family::O200k] {
            let s = stand_in(&w, high(&w), family);
            assert_eq!(&s.window[..16], b"a###b ##c## ####");
            assert_eq!(s.high, 0);
            let tails = [2, 3, 7, 10, 13, 14, 15]
                .iter()
                .fold(0, |m, k| m | 1u64 << k);
            assert_eq!(s.other_tails, tails);
        }
        // To o200k a mark is a letter of both cases, which has no stand-in.
        let w = window("x\u{301}");
        assert_eq!(stand_in(&w, high(&w), Family::O200k).high, 0b110);
    }

    #[test]
    fn long_s_and_a_char_the_window_cuts_have_no_stand_in() {
        let w = window("'ſ");
        assert_eq!(stand_in(&w, high(&w), Family::Cl100k).high, 0b110);
        let mut w = [b'a'; 64];
        w[63] = 0xD0; // the first byte of a two-byte letter whose second is past the window
        assert_eq!(stand_in(&w, high(&w), Family::Cl100k).high, 1 << 63);
    }
}
