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
//! ## Joins
//!
//! Text that is one long piece (a megabyte of one letter, CJK without punctuation) has no safe
//! cut. It can still be *joined*: cut at `p` inside the piece, pre-tokenized as two texts, and
//! the last piece of the first and the first piece of the second taken as one piece of the
//! whole, fed to BPE in parts (see `bpe::long`). That holds when (a') the piece of `T` holding
//! the char before `p` also holds the one after, (b') the pieces of `T[..p]` are those of `T`
//! before the piece, then the piece's part before `p`, and (c') the pieces of `T[p..]` are the
//! piece's part after `p`, then those of `T` after it. With `v w x | y z` the chars around `p`:
//!
//! 5. **Inside a letter run**: `v`, `w`, `x` and `y` letters (r50k, cl100k). The runs `\p{L}+`
//!    are greedy (possessive in cl100k), so `x` and `y` share a piece, which ends at `p` in
//!    `T[..p]` and restarts at `y` in `T[p..]` (a letter is no prefix char): (a'), (b'), (c').
//!    A contraction (`'s`, `'ll`) ends in a letter too, but takes at most two letters after its
//!    apostrophe: with three letters before `p`, `x` is in a run, not a contraction.
//!    o200k splits letters by case (`[upper]*[lower]+` first): there `x` and `y` must both be
//!    lowercase-class (`Ll`, `Lm`, `Lo`). Then `T[..p]` ends its piece at `p` (`x` can end the
//!    `[lower]+` part) and the piece of `T` goes on through `y`. How it goes on depends on
//!    whether its `[lower]+` part has begun: if not (no `Ll` in the piece yet), `T[p..]` from
//!    `y` backtracks to the same end; if it has, the piece takes lowercase-class chars only, so
//!    `T[p..]` is pre-tokenized after a stand-in lowercase letter ([`LOWER_STAND_IN`]), which
//!    puts its first piece in that state. [`Scan`] tracks that state.
//! 6. **Inside a punctuation run**: `w`, `x`, `y`, `z` ASCII punctuation other than `'` and
//!    `/`. Every pattern takes `[^\s\p{L}\p{N}]+` greedily; `y` followed by punctuation cannot
//!    be the prefix char of a letter piece, nor start a contraction. Slashes are left out
//!    because o200k's tail `[\r\n/]*` takes them after a newline, where a run of them ends its
//!    piece before the next punctuation (`\n//--` is `\n//`, `--`: found by fuzzing).
//!
//! Digit runs (r50k's `\p{N}+`) and whitespace runs get no join: held whole.
//!
//! Other patterns (custom encodings) get no cut: their text is counted whole. Allowed special
//! tokens are never involved: bulk counting counts ordinary text.
//!
//! Property tests below check every rule against the regex engine itself on adversarial text,
//! piece by piece, and against the counts of every built-in encoding.

use crate::pretokenize::{CL100K_PATTERN, O200K_PATTERN, R50K_PATTERN};
use crate::unicode::{char_at, flags, last_char_len, LETTER, LL, LM_LO, LU_LT, MARK, SPACE};

/// The lowercase letter that stands before the text after a join when o200k's piece there has
/// begun its lowercase part (see the module docs).
pub const LOWER_STAND_IN: &str = "a";

/// What a place in the text allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A safe cut: the pieces on each side are pieces of the whole.
    Cut,
    /// A join: one piece continues across. `lower`: pre-tokenize the text after it behind
    /// [`LOWER_STAND_IN`].
    Join { lower: bool },
}

/// The state a scan for places carries: for o200k, whether the letter piece being scanned has
/// taken a lowercase letter. Starts (and resets outside letters) as not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scan {
    lower: bool,
}

impl Scan {
    /// Whether the piece being scanned has taken a lowercase letter (o200k).
    pub fn is_lower(self) -> bool {
        self.lower
    }
}

/// Where text of one pre-tokenizer may be cut (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutRule {
    /// r50k_base, p50k_base, p50k_edit, gpt2.
    R50k,
    /// cl100k_base.
    Cl100k,
    /// o200k_base, o200k_harmony.
    O200k,
    /// Any other pattern: the text is counted whole.
    Nowhere,
}

impl CutRule {
    /// The rule for a pre-tokenizer pattern.
    pub fn for_pattern(pattern: &str) -> Self {
        match pattern {
            R50K_PATTERN => CutRule::R50k,
            CL100K_PATTERN => CutRule::Cl100k,
            O200K_PATTERN => CutRule::O200k,
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

    /// Whether text may be joined before byte `p`, a char boundary (see the module docs): one
    /// piece continues across it.
    pub fn is_join(self, text: &str, p: usize) -> bool {
        let s = text.as_bytes();
        if self == CutRule::Nowhere || p == 0 || p >= s.len() {
            return false;
        }
        let (y, y_len) = char_at(s, p);
        let x_len = last_char_len(s, p);
        let (x, _) = char_at(s, p - x_len);
        if x < 0x80 && y < 0x80 {
            // Not `'` (a contraction's start) nor `/` (o200k's tail after a newline takes it).
            let punct =
                |b: u32| b != '\'' as u32 && b != '/' as u32 && (b as u8).is_ascii_punctuation();
            if punct(x) && punct(y) {
                let w = (p >= 2).then(|| s[p - 2] as u32);
                let z = s.get(p + y_len).map(|&b| b as u32);
                return w.is_some_and(punct) && z.is_some_and(punct);
            }
        }
        let (fx, fy) = (flags(x), flags(y));
        let pair = match self {
            CutRule::O200k => fx & (LL | LM_LO) != 0 && fy & (LL | LM_LO) != 0,
            _ => fx & LETTER != 0 && fy & LETTER != 0,
        };
        if !pair || p - x_len < 2 {
            return false;
        }
        // Two more letters before `x`: it is in a run, not a contraction's tail.
        let w_end = p - x_len;
        let w_len = last_char_len(s, w_end);
        if w_end < w_len + 1 || flags(char_at(s, w_end - w_len).0) & LETTER == 0 {
            return false;
        }
        let v_end = w_end - w_len;
        flags(char_at(s, v_end - last_char_len(s, v_end)).0) & LETTER != 0
    }

    /// The scan state after the char `c`.
    #[inline]
    pub fn step(self, state: Scan, c: u32) -> Scan {
        if self != CutRule::O200k {
            return state;
        }
        let f = flags(c);
        let lower = if f & (LETTER | MARK) == 0 {
            false
        } else if f & LL != 0 {
            true
        } else if f & LU_LT != 0 {
            // An uppercase letter after lowercase ones starts a new piece.
            false
        } else {
            state.lower
        };
        Scan { lower }
    }

    /// The first place at or after `from` (a char boundary; `state`, the scan state there)
    /// where the text may be cut or joined, with the scan state there; or None and the state
    /// at the end of the text.
    pub fn next_place(
        self,
        text: &str,
        from: usize,
        state: Scan,
    ) -> (Option<(usize, Place)>, Scan) {
        let s = text.as_bytes();
        let mut state = state;
        let mut p = from;
        if self == CutRule::Nowhere {
            return (None, state);
        }
        while p < s.len() {
            if p > 0 {
                if (s[p] < 0x80 || s[p - 1] == b'\n') && self.is_safe(text, p) {
                    return (Some((p, Place::Cut)), state);
                }
                if self.is_join(text, p) {
                    let lower = state.lower;
                    return (Some((p, Place::Join { lower })), state);
                }
            }
            let (c, len) = char_at(s, p);
            state = self.step(state, c);
            p += len;
        }
        (None, state)
    }

    /// The scan state at `to` from `state` at `from` (both char boundaries).
    pub fn scan(self, text: &str, from: usize, to: usize, state: Scan) -> Scan {
        let s = text.as_bytes();
        let mut state = state;
        let mut p = from;
        if self != CutRule::O200k {
            return state;
        }
        while p < to {
            let (c, len) = char_at(s, p);
            state = self.step(state, c);
            p += len;
        }
        state
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

    /// Runs of letters of every case class, with the chars that end or split them.
    fn letter_runs(max: usize) -> impl Strategy<Value = String> {
        let c = prop_oneof![
            6 => prop::sample::select(vec![
                'a', 'b', 's', 't', 'l', 'A', 'B', 'ǅ', '日', '本', 'ー', 'ʰ', 'é', 'É', 'ß',
            ]),
            2 => prop::sample::select(vec![
                '\'', ' ', '\n', '=', '-', '/', '.', '\u{301}', '1', '"', '\u{3000}', '，',
            ]),
            1 => any::<char>(),
        ];
        prop::collection::vec(c, 0..max).prop_map(|v| v.into_iter().collect())
    }

    fn tricky_text(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(tricky_char(), 0..max).prop_map(|v| v.into_iter().collect())
    }

    fn rule_and_patterns() -> Vec<(CutRule, &'static str)> {
        vec![
            (CutRule::R50k, R50K_PATTERN),
            (CutRule::Cl100k, CL100K_PATTERN),
            (CutRule::O200k, O200K_PATTERN),
        ]
    }

    /// At every cut the rule allows, the pieces of the two parts are the pieces of the whole,
    /// as the regex engine itself splits them (not only the hand-written scanners).
    fn assert_cuts_keep_pieces(text: &str) {
        for (rule, pattern) in rule_and_patterns() {
            let scanner = Pretokenizer::new(pattern).unwrap();
            for engine in [crate::fuzzing::regex_engine(pattern), &scanner] {
                let whole = pieces(engine, text);
                for p in 0..=text.len() {
                    if !rule.is_safe(text, p) {
                        continue;
                    }
                    let mut parts = pieces(engine, &text[..p]);
                    parts.extend(pieces(engine, &text[p..]));
                    assert_eq!(parts, whole, "pattern {pattern}, cut at {p} of {text:?}");
                }
            }
        }
    }

    /// At every join the rule allows, the pieces of the two parts, the piece across the join
    /// made one again, are the pieces of the whole (the regex engine's and the scanners').
    fn assert_joins_keep_pieces(text: &str) {
        for (rule, pattern) in rule_and_patterns() {
            let scanner = Pretokenizer::new(pattern).unwrap();
            for engine in [crate::fuzzing::regex_engine(pattern), &scanner] {
                let whole = pieces(engine, text);
                let mut state = Scan::default();
                let mut from = 0;
                for (p, _) in text.char_indices().skip(1) {
                    state = rule.scan(text, from, p, state);
                    from = p;
                    if !rule.is_join(text, p) {
                        continue;
                    }
                    let mut parts = pieces(engine, &text[..p]);
                    let after = if state.lower {
                        format!("{LOWER_STAND_IN}{}", &text[p..])
                    } else {
                        text[p..].to_owned()
                    };
                    let mut right = pieces(engine, &after);
                    if state.lower {
                        assert!(
                            right[0].starts_with(LOWER_STAND_IN),
                            "{pattern} {text:?} {p}"
                        );
                        right[0].drain(..LOWER_STAND_IN.len());
                    }
                    let first = right.remove(0);
                    parts.last_mut().unwrap().push_str(&first);
                    parts.extend(right);
                    assert_eq!(parts, whole, "pattern {pattern}, join at {p} of {text:?}");
                }
            }
        }
    }

    #[test]
    fn known_joins() {
        let cl = CutRule::Cl100k;
        let o2 = CutRule::O200k;
        assert!(cl.is_join("aaaa", 3) && o2.is_join("aaaa", 3) && CutRule::R50k.is_join("aaaa", 3));
        assert!(!cl.is_join("aaaa", 2)); // only two letters before
        assert!(!cl.is_join("x'llaa", 4)); // could be a contraction's end
        assert!(cl.is_join("日本語日本", 9) && o2.is_join("日本語日本", 9));
        assert!(cl.is_join("abcD", 3) && !o2.is_join("abcD", 3)); // o200k: case splits
        assert!(cl.is_join("====", 2) && !cl.is_join("===a", 2) && !cl.is_join("=''=", 2));
        // o200k's tail takes slashes after a newline: "?\r////--" is "?\r////", "--".
        assert!(!o2.is_join("?\r////--", 5) && !o2.is_join("?\r////--", 6));
        assert!(!CutRule::Nowhere.is_join("aaaa", 3));
        // o200k after a lowercase letter: the text after the join needs the stand-in.
        let text = "ab中中中Ef";
        let (place, _) = o2.next_place(text, 5, o2.scan(text, 0, 5, Scan::default()));
        assert_eq!(place, Some((5, Place::Join { lower: true })));
        // Three letters before the join: none at 6, two chars in.
        let (place, _) = o2.next_place("中中中中Ef", 6, Scan::default());
        assert_eq!(place, Some((9, Place::Join { lower: false })));
        for t in [
            "ab中中中中Ef g",
            "中中中中中EFg",
            "ABC中DEFghi jk",
            "don'tcare xyzzy",
            "aaaaaaaaaaaaaaaa",
            "===========x",
            "\0\0??\r\r\r////////-----------------cc\ndd#ll",
            "abcd'sefgh",
            "ABCDEFG\u{301}abc",
            "日本語のテキストです",
            "x\u{2c5}\u{2c5}\u{2c5}ab",
        ] {
            assert_joins_keep_pieces(t);
        }
    }

    #[test]
    fn known_unsafe_places_are_refused() {
        let r50k = CutRule::R50k;
        let cl = CutRule::Cl100k;
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
        let rule = CutRule::Cl100k;
        assert_eq!(rule.next_cut("hello world", 0), Some(5));
        assert_eq!(rule.next_cut("hello world", 6), None);
        assert_eq!(rule.next_cut("a\u{3000}b x", 0), Some(5));
        assert_eq!(rule.next_cut("abc", 0), None);
        assert_eq!(CutRule::Nowhere.next_cut("a b", 0), None);
    }

    proptest! {
        #![proptest_config(crate::test_cases::cases(1500))]
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

    proptest! {
        #![proptest_config(crate::test_cases::cases(400))]
        #[test]
        fn joins_keep_the_regex_pieces(text in letter_runs(40)) {
            assert_joins_keep_pieces(&text);
        }
    }
}
