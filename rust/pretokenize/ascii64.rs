//! Piece starts of 64 ASCII bytes at once, for the cl100k and o200k patterns.
//!
//! The scanners in the parent module decide one piece at a time, and the branch on what kind of
//! piece comes next is the one a processor guesses worst: in code and prose it changes every few
//! bytes. Here a window of 64 bytes, starting where a piece starts, becomes class masks (one
//! bit per byte: letter, digit, whitespace...), and the rules of the pattern become operations
//! on whole masks: a piece starts at a lower-to-upper case change, after a digit, where a
//! whitespace run ends, and so on. The caller then walks the set bits. Only a run of digits
//! loops (a step per three digits).
//!
//! The rules below are what the regex engine's leftmost-first, backtracking matching comes to
//! on ASCII text; each says which alternative of the pattern it follows from. A start can depend
//! on what follows it (where a whitespace run ends, the letters after an apostrophe), so the
//! window also says how many of its bytes it is sure of: starts below that limit are final. A
//! window that reaches a non-ASCII byte is sure of nothing from a few bytes before it on; the
//! caller hands such stretches to the scanners. The property tests check the starts against
//! the scanners and the regex on text built to hit every rule and both edges of the window.

use super::classify::Classify;
#[cfg(test)]
use super::classify::Lanes16;

/// The pattern family a window is read for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Cl100k,
    O200k,
}

/// One bit per byte of the window, bit k for byte k.
#[derive(Clone, Copy, Default)]
struct Masks {
    upper: u64,
    lower: u64,
    digit: u64,
    /// `\r` and `\n`.
    newline: u64,
    /// Whitespace other than `\r` and `\n`.
    blank: u64,
    space: u64,
    apostrophe: u64,
    slash: u64,
    /// Bytes below the first non-ASCII byte: the only ones the masks describe.
    known: u64,
}

/// Bit k set where bit k - 1 of `m` is: "the byte before is in `m`".
#[inline(always)]
fn before(m: u64) -> u64 {
    m << 1
}

/// Bit k set where bit k + 1 of `m` is: "the byte after is in `m`".
#[inline(always)]
fn after(m: u64) -> u64 {
    m >> 1
}

/// Each run of `run` that holds a bit of `from`, from that bit to the run's end (upwards).
#[inline(always)]
fn fill_up(run: u64, from: u64) -> u64 {
    // Adding a bit carries it through the ones above it: the run's bits from there flip.
    ((run.wrapping_add(from) ^ run) & run) | from
}

/// Each run of `run` that holds a bit of `from`, from the run's start to that bit (downwards).
#[inline(always)]
fn fill_down(run: u64, from: u64) -> u64 {
    fill_up(run.reverse_bits(), from.reverse_bits()).reverse_bits()
}

impl Masks {
    #[inline(always)]
    fn of(w: &[u8; 64], high: u64, k: impl Classify) -> Masks {
        let known = if high == 0 {
            u64::MAX
        } else {
            (1u64 << high.trailing_zeros()) - 1
        };
        let c = k.classes(w);
        Masks {
            upper: c.upper & known,
            lower: c.lower & known,
            digit: c.digit & known,
            newline: c.newline & known,
            blank: c.blank & known,
            space: c.space & known,
            apostrophe: c.apostrophe & known,
            slash: c.slash & known,
            known,
        }
    }

    fn letter(&self) -> u64 {
        self.upper | self.lower
    }

    fn whitespace(&self) -> u64 {
        self.newline | self.blank
    }

    /// `[^\s\p{L}\p{N}]` among the known bytes.
    fn other(&self) -> u64 {
        self.known & !(self.letter() | self.digit | self.whitespace())
    }
}

/// The window's non-ASCII bytes (bytes of multi-byte chars), one bit each.
#[cfg(test)]
pub fn high(w: &[u8; 64]) -> u64 {
    Lanes16.high(w)
}

/// Apostrophes in `at` followed by `(?i:[sdmt]|ll|ve|re)`: (those of one letter, of two).
#[inline(always)]
fn contractions(w: &[u8; 64], at: u64, k: impl Classify) -> (u64, u64) {
    let c = k.contraction_letters(w);
    let two = c.r_or_v & after(c.e) | c.l & after(c.l);
    (at & after(c.one), at & after(two))
}

/// The piece starts in the window `w`, which starts a piece (bit 0 is set), and how many bytes
/// of it the starts are sure for: a set bit below that count is a start, a clear one is not.
/// `high` is [`high`] of the window. `other_tails` are bytes of `[^\s\p{L}\p{N}]` that
/// continue the char before them (a multi-byte char standing in as one `#` a byte: see
/// [`super::letters`]), 0 in ASCII. `k` computes the class masks.
#[inline(always)]
pub fn starts(
    w: &[u8; 64],
    high: u64,
    other_tails: u64,
    family: Family,
    k: impl Classify,
) -> (u64, u32) {
    let m = Masks::of(w, high, k);
    let known_len = m.known.count_ones();
    let letter = m.letter();
    let other = m.other();
    let whitespace = m.whitespace();
    // Bytes after this are not sure: `'ll` needs three bytes after its apostrophe.
    let mut sure = known_len.saturating_sub(4);

    // ` ?[^\s\p{L}\p{N}]+` takes `[\r\n]*` (o200k: `[\r\n/]*`) after its run: the trail.
    let trail_chars = match family {
        Family::Cl100k => m.newline,
        Family::O200k => m.newline | m.slash,
    };
    let trail_seeds = m.newline & before(other);
    let trail = if trail_seeds == 0 {
        0
    } else {
        fill_up(trail_chars, trail_seeds)
    };

    // A run of `[^\s\p{L}\p{N}]` starts a piece unless a space takes it (` ?`); one char of it
    // after a trail starts a new one.
    let other_starts = other & !before(other & !trail) & !before(m.space) & !trail;

    // Contractions. cl100k: `'(?i:[sdmt]|ll|ve|re)` is a piece of its own where an apostrophe
    // starts one. o200k: the word before takes it, where a letter comes before the apostrophe.
    let mut glued = 0; // inside a contraction, after its first byte
    let mut contraction_ends = 0;
    let mut o200k_apostrophe = 0; // o200k: the apostrophe is glued too
    let candidates = match family {
        Family::Cl100k => m.apostrophe & (other_starts | 1),
        Family::O200k => m.apostrophe & before(letter),
    };
    if candidates != 0 {
        let (one, two) = contractions(w, candidates, k);
        glued = before(one) | before(two) | before(before(two));
        contraction_ends = before(before(one)) | before(before(before(two)));
        if family == Family::O200k {
            o200k_apostrophe = one | two;
            // An apostrophe right after a contraction's letters: is that letter part of a
            // word (which the contraction would join) or not? The scanner decides.
            let chained = m.apostrophe & before(glued & letter);
            if chained != 0 {
                sure = sure.min(chained.trailing_zeros());
            }
        }
    }
    let glued = glued | o200k_apostrophe;
    let other_starts = (other_starts | contraction_ends | 1) & other & !glued;
    // The bytes of the chars that start those pieces: a multi-byte char's tail goes with it.
    let other_start_chars = if other_tails == 0 {
        other_starts
    } else {
        other_starts | fill_up(other_tails, before(other_starts) & other_tails)
    };

    // Letters start a piece after a digit or a newline, after a char of `[^\s\p{L}\p{N}]` that
    // does not (it would take the letters: `[^\r\n\p{L}\p{N}]?`), not after other whitespace
    // (which takes them the same way). o200k also starts one where lower case turns upper.
    let mut letter_starts =
        before(m.digit | m.newline) | (before(other) & !before(other_start_chars));
    if family == Family::O200k {
        letter_starts |= m.upper & before(m.lower);
    }
    let letter_starts = letter & letter_starts;

    // `\p{N}{1,3}`: a start at each run of digits, then every third digit while the run lasts.
    let mut digit_starts = 0;
    if m.digit != 0 {
        let three = m.digit & before(m.digit) & before(before(m.digit));
        let mut step = m.digit & !before(m.digit);
        while step != 0 {
            digit_starts |= step;
            step = (step << 3) & three;
        }
    }

    // Whitespace outside trails, in runs: `\s*[\r\n]+` (cl100k `\s*[\r\n]`) takes a run up to
    // its last newline; what follows splits as `\s+(?!\S)`: all but its last char when a
    // non-space follows, that last char starting the next piece (which may take it as its
    // prefix) or standing alone.
    let runs = whitespace & !trail;
    let run_starts = runs & !before(runs);
    let newline_before_end = if m.newline & runs == 0 {
        0
    } else {
        fill_down(runs, m.newline & runs)
    };
    let tail = runs & !newline_before_end;
    let tail_starts = tail & !before(tail);
    let non_space = m.known & !whitespace;
    let last_of_tail = tail & before(tail) & after(non_space);
    // A run reaching the end of what is known may go on.
    if known_len > 0 && runs >> (known_len - 1) & 1 == 1 {
        let start = 63 - (run_starts & (u64::MAX >> (64 - known_len))).leading_zeros();
        sure = sure.min(start);
    }

    let all = letter_starts
        | other_starts
        | digit_starts
        | run_starts
        | tail_starts
        | last_of_tail
        | contraction_ends
        | 1;
    (all & !glued & m.known, sure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretokenize::{CL100K_PATTERN, O200K_PATTERN};
    use proptest::prelude::*;

    const FAMILIES: [(Family, &str); 2] = [
        (Family::Cl100k, CL100K_PATTERN),
        (Family::O200k, O200K_PATTERN),
    ];

    /// Where the regex engine starts pieces in `text`.
    fn regex_starts(pattern: &str, text: &str) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = 0;
        crate::fuzzing::regex_engine(pattern)
            .for_each_piece(text, |piece| {
                out.push(at);
                at += piece.len();
            })
            .unwrap();
        out
    }

    /// The window at `from` (a start) agrees with the regex below its sure count.
    fn check_window(family: Family, pattern: &str, text: &str, starts: &[usize], from: usize) {
        let w: &[u8; 64] = text.as_bytes()[from..from + 64].try_into().unwrap();
        let (mask, sure) = starts_of(w, family);
        let expected: Vec<usize> = starts
            .iter()
            .filter(|&&k| k >= from && k < from + sure as usize)
            .map(|&k| k - from)
            .collect();
        let got: Vec<usize> = (0..sure as usize).filter(|&k| mask >> k & 1 == 1).collect();
        assert_eq!(
            got,
            expected,
            "pattern {pattern}, window {:?}",
            &text[from..]
        );
    }

    fn starts_of(w: &[u8; 64], family: Family) -> (u64, u32) {
        starts(w, high(w), 0, family, Lanes16)
    }

    /// Every window of `text` that starts a piece.
    fn check_text(text: &str) {
        for (family, pattern) in FAMILIES {
            let all = regex_starts(pattern, text);
            for &from in all.iter().filter(|&&k| k + 64 <= text.len()) {
                check_window(family, pattern, text, &all, from);
            }
        }
    }

    #[test]
    fn known_windows_start_where_the_regex_does() {
        let samples = [
            "Hello, world! It's 2024 and we've got 1234567 tokens. DON'T stop x's's's ok.....",
            "fn main() {\n    let x = a/b; // comment\n\n\t\treturn (x);\n}\n;\n/\n// end   more",
            "  leading spaces\n\n\ttabs\r\n and CRLF \r\n  \n \t x\t.y ;\n/;\n//\n/x 'll 'LL'Ve",
            "camelCaseWord HTTPServer iPhone ABCdef 12ab34 a1b2 ''s 's 'x x'ss'S x'",
        ];
        for t in samples {
            check_text(&format!("{t}{}", " z".repeat(40)));
            check_text(&format!("{t}{t}{t}"));
        }
    }

    /// Whether the windows are sure of most of their bytes on plain text: a window that is
    /// sure of nothing would still be right, and useless.
    #[test]
    fn windows_are_sure_of_most_of_plain_text() {
        let text = "The quick brown fox jumps over the lazy dog, and then it's gone.   ";
        let w: &[u8; 64] = text.as_bytes()[..64].try_into().unwrap();
        for (family, _) in FAMILIES {
            assert!(starts_of(w, family).1 >= 56);
        }
    }

    fn window_char() -> impl Strategy<Value = char> {
        prop_oneof![
            8 => prop::sample::select(vec![
                ' ', ' ', ' ', '\n', '\r', '\t', '\'', '/', 's', 'S', 't', 'l', 'L', 'v', 'e',
                'E', 'r', 'R', 'd', 'm', 'a', 'Z', 'q', '0', '9', '5', '.', ',', '(', '!', '\u{b}',
                '\u{c}', '\u{0}', '\u{7f}', '_',
            ]),
            2 => (0x00u8..0x80).prop_map(|b| b as char),
            1 => prop::sample::select(vec!['é', '日', '\u{301}', '\u{a0}', '\u{85}', 'ſ', 'K']),
        ]
    }

    proptest! {
        #![proptest_config(crate::test_cases::cases(1000))]
        #[test]
        fn window_starts_match_the_regex(chars in prop::collection::vec(window_char(), 64..140)) {
            check_text(&chars.into_iter().collect::<String>());
        }
    }
}
