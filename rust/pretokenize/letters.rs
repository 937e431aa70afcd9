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

use super::ascii64::Family;
use crate::unicode::{char_flags_at, LETTER, LL, LM_LO, LU_LT, MARK};

/// The long s, which `(?i)` folds to `s`: contractions take it.
const LONG_S: u32 = 0x17F;

/// The ASCII letter that stands in for the char `cp` with flags `f`, if it has one.
#[inline(always)]
fn stand_in_for(cp: u32, f: u8, family: Family) -> Option<u8> {
    if cp == LONG_S {
        return None;
    }
    match family {
        Family::Cl100k => (f & LETTER != 0).then_some(b'a'),
        Family::O200k if f & (LM_LO | MARK) != 0 => None,
        Family::O200k if f & LU_LT != 0 => Some(b'A'),
        Family::O200k => (f & LL != 0).then_some(b'a'),
    }
}

/// The window `w` (which starts at a char boundary) with its multi-byte letters replaced, up to
/// the first char that has no stand-in, and the bytes still non-ASCII (that char's and all after
/// it). `high` is the window's non-ASCII bytes.
#[inline(always)]
pub fn stand_in(w: &[u8; 64], high: u64, family: Family) -> ([u8; 64], u64) {
    let mut out = *w;
    let mut rest = high;
    while rest != 0 {
        // The lowest non-ASCII byte left starts a char: the chars before it were all replaced.
        let k = rest.trailing_zeros() as usize;
        let len = match w[k] {
            0xF0.. => 4,
            0xE0.. => 3,
            _ => 2,
        };
        if k + len > 64 {
            break;
        }
        let (cp, f, _) = char_flags_at(w, k);
        let Some(letter) = stand_in_for(cp, f, family) else {
            break;
        };
        // Stores of known sizes: a fill of `len` bytes would be a call to memset.
        out[k] = letter;
        out[k + 1] = letter;
        if len > 2 {
            out[k + 2] = letter;
            if len > 3 {
                out[k + 3] = letter;
            }
        }
        rest &= !((u64::MAX >> (64 - len)) << k);
    }
    (out, rest)
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
        let w = window("Добрый день, ΑΒγ ǅ 日本 x\u{301}y");
        let (cl, left) = stand_in(&w, high(&w), Family::Cl100k);
        let shown = String::from_utf8_lossy(&cl[..41]);
        assert_eq!(shown, "aaaaaaaaaaaa aaaaaaaa, aaaaaa aa aaaaaa x");
        // The mark (U+0301) has no stand-in: it and everything after it stays.
        assert_eq!(left, high(&w) & (u64::MAX << 41));

        let (o2, left) = stand_in(&w, high(&w), Family::O200k);
        assert_eq!(&o2[..29], b"AAaaaaaaaaaa aaaaaaaa, AAAAaa");
        // ǅ (Lt) is upper case to o200k.
        assert_eq!(&o2[30..32], b"AA");
        // 日 is Lo, in both of o200k's classes: the window is known up to it.
        assert_eq!(left.trailing_zeros(), 33);
    }

    #[test]
    fn long_s_and_a_char_the_window_cuts_have_no_stand_in() {
        let w = window("'ſ");
        assert_eq!(stand_in(&w, high(&w), Family::Cl100k).1, 0b110);
        let mut w = [b'a'; 64];
        w[63] = 0xD0; // the first byte of a two-byte letter whose second is past the window
        assert_eq!(stand_in(&w, high(&w), Family::Cl100k).1, 1 << 63);
    }
}
