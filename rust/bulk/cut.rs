//! Where text may be cut so that counting the parts gives the count of the whole.
//!
//! A count is the sum, over the pieces the pre-tokenizer splits the text into, of the BPE tokens
//! of each piece; BPE never looks past a piece. So a cut at byte `p` of text `T` is safe when
//! (a) a piece of `T` ends at `p`, (b) the pieces of `T[..p]` are those of `T` before `p`, and
//! (c) the pieces of `T[p..]` are those of `T` after `p`. (c) always holds once (a) does: no
//! pattern looks behind, and a match at `p` reads only `T[p..]`. The rules below make (a) and
//! (b) hold by looking at the two or three chars around the cut, for the three pattern families
//! of the built-in encodings (see `pretokenize.rs`):
//!
//! 1. **Before a space or tab that follows a non-whitespace char** (`x| `). No alternative puts
//!    a non-whitespace char and a following space or tab in one piece: the runs (`\p{L}++`,
//!    `\p{N}`, `[^\s\p{L}\p{N}]++`, o200k's letter and mark classes) exclude whitespace, the
//!    tails `[\r\n]*` and `[\r\n/]*` take no space or tab, a contraction needs a letter after
//!    its apostrophe, and an optional prefix char (` ?`, `[^\r\n\p{L}\p{N}]?`) only ever starts
//!    a piece. That is (a). For (b): whatever reads past `p` while matching before it (a run
//!    ending at `x`, a tail, a contraction after `x`) stops at the space or tab just as it stops
//!    at the end of `T[..p]`; the whitespace alternatives (`\s++$`, `\s+(?!\S)`) end before `x`.
//! 2. **After a newline followed by a non-whitespace char other than `/`** (`\n|c`). Only
//!    whitespace alternatives and the tails `[\r\n]*+` (cl100k) and `[\r\n/]*` (o200k) take a
//!    newline, and none of them takes `c` (hence no `/`): (a). For (b), the only change the
//!    truncation makes is at whitespace runs that reach the newline: in `T` they are followed
//!    by `c`, in `T[..p]` by the end. cl100k tries `\s++$` first, which now matches the run up
//!    to `p`, and in `T` the run ends with a newline, so `\s*[\r\n]` matched exactly that run
//!    too; o200k has no `$`, and `\s*[\r\n]+` matches up to the last newline either way. r50k
//!    has no newline alternative: in `T`, `\s+(?!\S)` leaves the newline alone (`\s`) when
//!    whitespace precedes it, while `\s++$` would take the whole run in `T[..p]`. So for r50k
//!    the char before the newline must not be whitespace either.
//! 3. **Between an ASCII letter and an ASCII digit** (`a|1`): every run of letters stops at a
//!    digit, a digit is never a prefix char, and every alternative that takes digits starts
//!    with them (r50k's ` ?\p{N}++` starts at the digit when no space precedes it). Rule (b)
//!    as in 1.
//! 4. **Between an ASCII letter or digit and ASCII punctuation other than `'`** (`a|"`,
//!    `1|,`): runs of letters and of digits stop at punctuation, and the only alternative that
//!    carries a word on into punctuation is o200k's contraction suffix (`don't` is one piece),
//!    which starts with `'`. A punctuation char may prefix the letters after it (`"abc`), but
//!    only as the start of a piece: on the right of the cut. Rule (b) as in 1.
//!
//! Rules 3 and 4 keep long lines without spaces (minified JSON and code, base64, hex)
//! cuttable.
//!
//! Other patterns (custom encodings) get no cut: their text is counted whole. Allowed special
//! tokens are never involved: bulk counting counts ordinary text.
//!
//! Property tests below check every rule against the regex engine itself on adversarial text,
//! piece by piece, and against the counts of every built-in encoding.

use crate::pretokenize::{CL100K_PATTERN, O200K_PATTERN, R50K_PATTERN};
use crate::unicode::{char_at, flags, last_char_len, SPACE};

/// Where text of one pre-tokenizer may be cut (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutRule {
    /// r50k_base, p50k_base, p50k_edit, gpt2.
    R50k,
    /// cl100k_base, o200k_base, o200k_harmony.
    Cl100kO200k,
    /// Any other pattern: the text is counted whole.
    Nowhere,
}

impl CutRule {
    /// The rule for a pre-tokenizer pattern.
    pub fn for_pattern(pattern: &str) -> Self {
        match pattern {
            R50K_PATTERN => CutRule::R50k,
            CL100K_PATTERN | O200K_PATTERN => CutRule::Cl100kO200k,
            _ => CutRule::Nowhere,
        }
    }

    /// Whether text may be cut before byte `p`. `p` must lie strictly inside the text so that
    /// the chars on both sides are known; a `p` inside a char is never safe.
    #[inline]
    pub fn is_safe(self, text: &str, p: usize) -> bool {
        let s = text.as_bytes();
        if self == CutRule::Nowhere || p == 0 || p >= s.len() {
            return false;
        }
        let next = s[p];
        let prev = s[p - 1];
        let spaced_or_numbered = match next {
            // Rule 1. An ASCII byte is never inside a char, so `p` is a char boundary.
            b' ' | b'\t' => !is_space_before(s, p),
            // Rule 3.
            b'0'..=b'9' => prev.is_ascii_alphabetic(),
            // Rule 4.
            b'\'' => false,
            _ if next.is_ascii_punctuation() => prev.is_ascii_alphanumeric(),
            _ => false,
        };
        // Rule 2. After an ASCII newline `p` is a char boundary.
        spaced_or_numbered
            || (prev == b'\n' && next != b'/' && {
                let (c, _) = char_at(s, p);
                flags(c) & SPACE == 0
                    && (self != CutRule::R50k || (p >= 2 && !is_space_before(s, p - 1)))
            })
    }

    /// The first safe cut at or after `from` (and after byte 0), if any.
    pub fn next_cut(self, text: &str, from: usize) -> Option<usize> {
        if self == CutRule::Nowhere {
            return None;
        }
        let s = text.as_bytes();
        let mut p = from.max(1);
        while p < s.len() {
            // Every rule cuts before an ASCII byte or after a newline; skip the rest quickly.
            if (s[p] < 0x80 || s[p - 1] == b'\n') && self.is_safe(text, p) {
                return Some(p);
            }
            p += 1;
        }
        None
    }
}

/// Whether the char that ends just before byte `end` (a char boundary, `end > 0`) is `\s`.
#[inline]
fn is_space_before(s: &[u8], end: usize) -> bool {
    let len = last_char_len(s, end);
    let (c, _) = char_at(s, end - len);
    flags(c) & SPACE != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;
    use crate::pretokenize::Pretokenizer;
    use proptest::prelude::*;

    fn pieces(p: &Pretokenizer, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        p.for_each_piece(text, |b| out.push(String::from_utf8(b.to_vec()).unwrap()))
            .unwrap();
        out
    }

    /// Characters that make the patterns disagree when they can: whitespace of every kind,
    /// newlines, the slash o200k's tail takes, apostrophes and contraction letters, letters of
    /// every case class, marks, digits and numbers, punctuation.
    fn tricky_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => prop::sample::select(vec![
                ' ', ' ', ' ', '\n', '\n', '\r', '\t', '/', '\'', 's', 'S', 't', 'l', 'L', 'v', 'e',
                'r', 'd', 'm', 'a', 'Z', 'x', '0', '7', '9', '.', ',', '!', '-', '(', '"', ':', '{',
                '_', 'ſ', 'é', 'É',
                'ǅ', '日', 'ー', 'ʰ', '\u{301}', '\u{3000}', '\u{85}', '\u{a0}', '\u{b}', '\u{c}',
                'Ⅻ', '²', '١', '😀', '\u{200d}', 'ß', 'İ', '\u{2028}',
            ]),
            1 => any::<char>(),
        ]
    }

    fn tricky_text(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(tricky_char(), 0..max).prop_map(|v| v.into_iter().collect())
    }

    fn rule_and_patterns() -> Vec<(CutRule, &'static str)> {
        vec![
            (CutRule::R50k, R50K_PATTERN),
            (CutRule::Cl100kO200k, CL100K_PATTERN),
            (CutRule::Cl100kO200k, O200K_PATTERN),
        ]
    }

    /// At every cut the rule allows, the pieces of the two parts are the pieces of the whole,
    /// as the regex engine itself splits them (not only the hand-written scanners).
    fn assert_cuts_keep_pieces(text: &str) {
        for (rule, pattern) in rule_and_patterns() {
            for engine in [Pretokenizer::regex(pattern), Pretokenizer::new(pattern)] {
                let engine = engine.unwrap();
                let whole = pieces(&engine, text);
                for p in 0..=text.len() {
                    if !rule.is_safe(text, p) {
                        continue;
                    }
                    let mut parts = pieces(&engine, &text[..p]);
                    parts.extend(pieces(&engine, &text[p..]));
                    assert_eq!(parts, whole, "pattern {pattern}, cut at {p} of {text:?}");
                }
            }
        }
    }

    #[test]
    fn known_unsafe_places_are_refused() {
        let r50k = CutRule::R50k;
        let cl = CutRule::Cl100kO200k;
        // "  \nX": r50k splits "  " and "\n" whole, but `\s++$` takes "  \n" when cut.
        assert!(!r50k.is_safe("a  \nX", 4));
        assert!(cl.is_safe("a  \nX", 4));
        // o200k's `[\r\n/]*` takes a slash after newlines.
        assert!(!cl.is_safe(".\n/x", 2));
        // A newline before a newline, a space after a space: inside one whitespace run.
        assert!(!cl.is_safe("a\n\nb", 2));
        assert!(!cl.is_safe("a  b", 2));
        // Inside a multi-byte char, or at either end.
        assert!(!cl.is_safe("é 1", 1));
        assert!(!cl.is_safe("ab", 0));
        assert!(!cl.is_safe("ab", 2));
        assert!(cl.is_safe("a b", 1) && cl.is_safe("ab12", 2) && cl.is_safe("x\ny", 2));
        // o200k keeps a contraction with its word: never cut before an apostrophe.
        assert!(!cl.is_safe("don't", 3) && !r50k.is_safe("x's", 1));
        assert!(cl.is_safe("{\"key\":12,\"v\"}", 5) && cl.is_safe("a12,b", 3));
        assert!(!cl.is_safe("a,\"b", 2)); // inside a punctuation run
        assert!(!CutRule::Nowhere.is_safe("a b", 1));
        assert_eq!(CutRule::for_pattern(r"\w+"), CutRule::Nowhere);
    }

    #[test]
    fn known_samples_keep_their_pieces() {
        let samples = [
            "Hello, world! It's 2024 and we've got 12345 tokens.\nNext line\n\n  indented\n",
            "x.\n\nfoo\r\nBar  \n\tbaz ' s 's\n's\n/path\n//c\n'\n\u{301}é\n日本\n12\nab12cd34",
            "a \u{a0}b\u{3000} c\u{85}\nd \u{2028}\ne\t\tf\n \ng",
            "base64+/AbC0123xyz==\nQUJD/ZGVm+1234\n",
            "{\"key\":\"value\",\"n\":[1,22,333],\"s\":\"don't\",\"t\":\"it's\"}",
            "function(a,b){return a+b};x=f(1,2)/3;'q'",
        ];
        for t in samples {
            assert_cuts_keep_pieces(t);
        }
    }

    #[test]
    fn next_cut_finds_the_first_safe_place() {
        let rule = CutRule::Cl100kO200k;
        assert_eq!(rule.next_cut("hello world", 0), Some(5));
        assert_eq!(rule.next_cut("hello world", 6), None);
        assert_eq!(rule.next_cut("a\u{3000}b x", 0), Some(5));
        assert_eq!(rule.next_cut("abc", 0), None);
        assert_eq!(CutRule::Nowhere.next_cut("a b", 0), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]
        #[test]
        fn cuts_keep_the_regex_pieces(text in tricky_text(48)) {
            assert_cuts_keep_pieces(&text);
        }

        #[test]
        fn cuts_keep_every_builtin_count(text in tricky_text(64)) {
            for name in builtin::NAMES {
                let enc = builtin::get(name).unwrap();
                let rule = CutRule::for_pattern(&enc.pattern);
                prop_assert_ne!(rule, CutRule::Nowhere);
                let whole = enc.count_ordinary(&text).unwrap();
                for p in (1..text.len()).filter(|&p| rule.is_safe(&text, p)) {
                    let parts = enc.count_ordinary(&text[..p]).unwrap()
                        + enc.count_ordinary(&text[p..]).unwrap();
                    prop_assert_eq!(parts, whole, "{} cut at {} of {:?}", name, p, text);
                }
            }
        }
    }
}
