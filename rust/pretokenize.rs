//! Splitting text into pieces before BPE, exactly as tiktoken's regex patterns do.
//!
//! The three pattern families OpenAI ships (r50k/p50k, cl100k, o200k) are matched by hand-written
//! scanners that reproduce the regex engine's leftmost-first, backtracking semantics; every other
//! pattern goes through fancy-regex as tiktoken does. Tests check the scanners against the regex.

mod ascii16;
mod ascii64;
pub mod classify;
mod letters;

use crate::unicode::{
    ascii_flags, char_flags_at, last_char_len, LETTER, LL, LOWERISH, LU_LT, NUMBER, SPACE, UPPERISH,
};
use ascii16::OTHER;
use ascii64::Family;
use classify::{Classify, Lanes16};

/// The pattern of r50k_base, p50k_base, p50k_edit and gpt2.
pub const R50K_PATTERN: &str =
    r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s";
/// The pattern of cl100k_base.
pub const CL100K_PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";
/// The pattern of o200k_base and o200k_harmony.
pub const O200K_PATTERN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"\p{N}{1,3}",
    "|",
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
    "|",
    r"\s*[\r\n]+",
    "|",
    r"\s+(?!\S)",
    "|",
    r"\s+",
);

/// Splits text into the pieces a pattern matches.
pub enum Pretokenizer {
    R50k,
    Cl100k,
    O200k,
    Regex(Box<fancy_regex::Regex>),
}

/// A regex that fails while matching (fancy-regex's backtrack limit, for instance).
#[derive(Debug, Clone)]
pub struct PatternError(pub String);

impl Pretokenizer {
    /// The scanner for a pattern: hand-written for the known patterns, the regex otherwise.
    pub fn new(pattern: &str) -> Result<Self, PatternError> {
        Ok(match pattern {
            R50K_PATTERN => Pretokenizer::R50k,
            CL100K_PATTERN => Pretokenizer::Cl100k,
            O200K_PATTERN => Pretokenizer::O200k,
            _ => Pretokenizer::regex(pattern)?,
        })
    }

    /// Always the regex engine, whatever the pattern (the reference the scanners are tested on).
    pub fn regex(pattern: &str) -> Result<Self, PatternError> {
        fancy_regex::Regex::new(pattern)
            .map(|r| Pretokenizer::Regex(Box::new(r)))
            .map_err(|e| PatternError(format!("invalid pattern {pattern:?}: {e}")))
    }

    /// Calls `f` with each piece of `text`, in order.
    #[inline]
    pub fn for_each_piece<'t>(
        &self,
        text: &'t str,
        mut f: impl FnMut(&'t [u8]),
    ) -> Result<(), PatternError> {
        let s = text.as_bytes();
        self.for_each_batch(text, |spans| spans.iter().for_each(|&(a, b)| f(&s[a..b])))
    }

    /// Calls `f` with the pieces of `text` in order, as (start, end) byte offsets, up to
    /// [`MAX_BATCH`] at a time: a caller can start loading the memory a whole batch needs (hash
    /// slots in tables larger than the caches) before working on its first piece, so the loads
    /// overlap instead of queueing. Always inlined, so that a caller compiled for more CPU
    /// features (`Encoding::ordinary_tokens_cached`) compiles the scan with them too.
    #[inline(always)]
    pub fn for_each_batch(
        &self,
        text: &str,
        mut f: impl FnMut(&[(usize, usize)]),
    ) -> Result<(), PatternError> {
        self.for_each_batch_with(text, |(), _, _| (), |spans, _| f(spans))
    }

    /// `for_each_batch`, with `at_piece(mode, start, end)` called as each piece is found and its
    /// results handed over beside the spans. The lookups start loading a piece's entry there:
    /// spread over the scan, the loads queue less than when a whole batch asks at once. `f`
    /// returns the `mode` the next batch's pieces are found with (the first's is the default):
    /// a value the scan keeps in a register, where one behind a reference would be loaded again
    /// for each piece. `at_piece` is copied into registers for each window, so it is `Copy`
    /// (it captures copies, not references: a reference would be loaded again per piece too).
    #[inline(always)]
    pub fn for_each_batch_with<M: Copy + Default, P: Copy + Default>(
        &self,
        text: &str,
        at_piece: impl Fn(M, usize, usize) -> P + Copy,
        f: impl FnMut(&[(usize, usize)], &[P]) -> M,
    ) -> Result<(), PatternError> {
        self.for_each_batch_in(Lanes16, text, at_piece, f)
    }

    /// `for_each_batch_with`, the windows' masks computed by `k`.
    #[inline(always)]
    pub fn for_each_batch_in<M: Copy + Default, P: Copy + Default>(
        &self,
        k: impl Classify,
        text: &str,
        at_piece: impl Fn(M, usize, usize) -> P + Copy,
        f: impl FnMut(&[(usize, usize)], &[P]) -> M,
    ) -> Result<(), PatternError> {
        let s = text.as_bytes();
        let mut out = Batcher::new(at_piece, f);
        match self {
            Pretokenizer::R50k => scan(
                s,
                |s, i| ascii_r50k(s, i).unwrap_or_else(|| next_r50k(s, i)),
                &mut out,
            ),
            Pretokenizer::Cl100k => scan_windows(
                s,
                Family::Cl100k,
                k,
                |s, i| ascii_cl100k(s, i).unwrap_or_else(|| next_cl100k(s, i)),
                &mut out,
            ),
            Pretokenizer::O200k => scan_windows(
                s,
                Family::O200k,
                k,
                |s, i| ascii_o200k(s, i).unwrap_or_else(|| next_o200k(s, i)),
                &mut out,
            ),
            Pretokenizer::Regex(re) => {
                for m in re.find_iter(text) {
                    let m = m.map_err(|e| PatternError(format!("pattern failed: {e}")))?;
                    out.push(m.start(), m.end());
                }
            }
        }
        out.finish();
        Ok(())
    }
}

/// Pieces [`Pretokenizer::for_each_batch`] gathers before handing them over: enough loads in
/// flight to cover a trip to memory, few enough that the batch stays in L1.
/// Against 32: o200k multilingual 9.4 -> 8.8 ms per MB, code 6.5 -> 6.0, English unchanged.
pub const BATCH: usize = 64;

/// Most pieces one hand-over holds: a window's pieces (up to 63) are added together, and the
/// batch is handed over after the window that brings it to [`BATCH`] or more.
pub const MAX_BATCH: usize = BATCH + 64;

/// Spans, and what `at_piece` gave for each, handed over a batch at a time.
struct Batcher<M, P, H, F> {
    spans: [(usize, usize); MAX_BATCH],
    found: [P; MAX_BATCH],
    n: usize,
    /// What the last hand-over returned, for `at_piece`.
    mode: M,
    at_piece: H,
    f: F,
}

impl<M, P, H, F> Batcher<M, P, H, F>
where
    M: Copy + Default,
    P: Copy + Default,
    H: Fn(M, usize, usize) -> P + Copy,
    F: FnMut(&[(usize, usize)], &[P]) -> M,
{
    fn new(at_piece: H, f: F) -> Self {
        Batcher {
            spans: [(0, 0); MAX_BATCH],
            found: [P::default(); MAX_BATCH],
            n: 0,
            mode: M::default(),
            at_piece,
            f,
        }
    }

    #[inline(always)]
    fn push(&mut self, start: usize, end: usize) {
        self.spans[self.n] = (start, end);
        self.found[self.n] = (self.at_piece)(self.mode, start, end);
        self.n += 1;
        if self.n == BATCH {
            self.hand_over();
        }
    }

    /// The pieces of a window at `at`, one between each two set bits of `starts` (from bit 0 to
    /// the highest set bit); returns where the last one ends, relative to `at`. The batch is
    /// handed over once after the window's pieces, not checked for each (hence MAX_BATCH).
    #[inline(always)]
    fn push_window(&mut self, at: usize, mut starts: u64) -> usize {
        debug_assert!(self.n < BATCH && starts & 1 == 0);
        // Copies in registers: stores into the arrays would otherwise reload them.
        let (mut n, mode, at_piece) = (self.n, self.mode, self.at_piece);
        let mut from = 0;
        while starts != 0 {
            let to = starts.trailing_zeros() as usize;
            // A window has at most 63 pieces after its first, and the batch held fewer than
            // BATCH before it: n stays below MAX_BATCH.
            debug_assert!(n < MAX_BATCH);
            // SAFETY: n < MAX_BATCH, above.
            unsafe {
                *self.spans.get_unchecked_mut(n) = (at + from, at + to);
                *self.found.get_unchecked_mut(n) = at_piece(mode, at + from, at + to);
            }
            n += 1;
            from = to;
            starts &= starts - 1;
        }
        self.n = n;
        if n >= BATCH {
            self.hand_over();
        }
        from
    }

    #[inline(always)]
    fn hand_over(&mut self) {
        self.mode = (self.f)(&self.spans[..self.n], &self.found[..self.n]);
        self.n = 0;
    }

    fn finish(&mut self) {
        if self.n > 0 {
            self.hand_over();
        }
    }
}

/// The scanning loop, one copy per pattern (so `next` inlines), a batch at a time.
#[inline(always)]
fn scan<M, P, H, F>(s: &[u8], next: impl Fn(&[u8], usize) -> usize, out: &mut Batcher<M, P, H, F>)
where
    M: Copy + Default,
    P: Copy + Default,
    H: Fn(M, usize, usize) -> P + Copy,
    F: FnMut(&[(usize, usize)], &[P]) -> M,
{
    let mut i = 0;
    while i < s.len() {
        let end = next(s, i);
        debug_assert!(end > i, "a scanner must move on");
        out.push(i, end);
        i = end;
    }
}

/// Known bytes (ASCII, or letters with a stand-in) a window must start with to be worth
/// reading as one.
const MIN_ASCII: u32 = 16;

/// The scanning loop of cl100k and o200k: 64 bytes at a time where they are ASCII or letters
/// with a stand-in (see [`ascii64`] and [`letters`]), one piece at a time with `next` where a
/// window is not sure of a piece.
#[inline(always)]
fn scan_windows<M, P, H, F>(
    s: &[u8],
    family: Family,
    k: impl Classify,
    next: impl Fn(&[u8], usize) -> usize,
    out: &mut Batcher<M, P, H, F>,
) where
    M: Copy + Default,
    P: Copy + Default,
    H: Fn(M, usize, usize) -> P + Copy,
    F: FnMut(&[(usize, usize)], &[P]) -> M,
{
    let mut i = 0;
    while let Some(w) = s.get(i..i + 64) {
        let w: &[u8; 64] = w.try_into().expect("64 bytes");
        let high = k.high(w);
        // Multi-byte chars read as ASCII ones; `high` is then what is left unknown.
        let stood_in;
        let (w, high, other_tails) = if high == 0 {
            (w, high, 0)
        } else {
            stood_in = letters::stand_in(w, high, family);
            (&stood_in.window, stood_in.high, stood_in.other_tails)
        };
        if high.trailing_zeros() >= MIN_ASCII {
            let (starts, sure) = ascii64::starts(w, high, other_tails, family, k);
            // The starts after the first, below what the window is sure of.
            let rest = starts & !1 & u64::MAX.checked_shr(64 - sure).unwrap_or(0);
            if rest != 0 {
                i += out.push_window(i, rest);
                continue;
            }
        }
        // Not sure of a piece: the scanner goes on, past the window's last byte left unknown.
        let until = i + 64 - high.leading_zeros() as usize;
        loop {
            let end = next(s, i);
            debug_assert!(end > i, "a scanner must move on");
            out.push(i, end);
            i = end;
            if i >= until {
                break;
            }
        }
    }
    while i < s.len() {
        let end = next(s, i);
        debug_assert!(end > i, "a scanner must move on");
        out.push(i, end);
        i = end;
    }
}

// ASCII fast paths. Most text is ASCII, where the classes are simple byte tests. Each fast
// path decides only when every char that could change the match is ASCII; at the first
// non-ASCII byte that matters it returns None and the general scanner takes over from the same
// position, so the fast paths can only be faster, never different (the proptests check both).

/// End of the run from `i` of ASCII bytes in `CLASS` (see [`ascii16::mask`]); None when the
/// run stops at a non-ASCII byte (which might continue it). Sixteen bytes at a time while they
/// last, then byte by byte.
#[inline(always)]
fn ascii_run<const CLASS: u8>(s: &[u8], mut i: usize) -> Option<usize> {
    while let Some(chunk) = s.get(i..i + 16) {
        let in_class = ascii16::mask::<CLASS>(chunk.try_into().expect("16 bytes"));
        let k = (!in_class).trailing_zeros() as usize;
        if k < 16 {
            i += k;
            return (s[i] < 0x80).then_some(i);
        }
        i += 16;
    }
    while i < s.len() {
        let b = s[i];
        if b >= 0x80 {
            return None;
        }
        if !ascii16::in_class::<CLASS>(ascii_flags(b)) {
            break;
        }
        i += 1;
    }
    Some(i)
}

/// `[^\s\p{L}\p{N}]` runs over ASCII bytes.
#[inline(always)]
fn ascii_other_run(s: &[u8], i: usize) -> Option<usize> {
    ascii_run::<OTHER>(s, i)
}

/// Where the `[^\s\p{L}\p{N}]` run of ` ?[^\s\p{L}\p{N}]+` starts, as an offset from the
/// ASCII byte `b` (flags `f`, followed by `next`): 1 when `b` is such a char, 2 after a space.
#[inline(always)]
fn ascii_other_start(b: u8, f: u8, next: Option<u8>) -> Option<usize> {
    if is_other(f) {
        Some(1)
    } else if b == b' ' && next.is_some_and(|n| is_other(ascii_flags(n))) {
        Some(2)
    } else {
        None
    }
}

/// `end` moved past the bytes of `trailing` that follow it (`[\r\n]*`, or o200k's `[\r\n/]*`).
#[inline(always)]
fn with_trailing(s: &[u8], end: usize, trailing: &[u8]) -> usize {
    end + s[end..].iter().take_while(|b| trailing.contains(b)).count()
}

/// Up to three digits; None when fewer than three were found and a non-ASCII byte follows.
#[inline(always)]
fn ascii_digits3(s: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < s.len() && j < i + 3 {
        let b = s[j];
        if b >= 0x80 {
            return None;
        }
        if ascii_flags(b) & NUMBER == 0 {
            break;
        }
        j += 1;
    }
    Some(j)
}

/// The whitespace alternatives on an ASCII run; `newline_first` when `\s*[\r\n]` comes
/// before `\s++$`/`\s+(?!\S)` in the pattern (o200k) rather than after `\s++$` (cl100k).
#[inline(always)]
fn ascii_whitespace(s: &[u8], i: usize, newlines: Option<bool>) -> Option<usize> {
    let j = ascii_run::<SPACE>(s, i)?;
    let newline = || last_newline_end(s, i, j);
    match newlines {
        Some(true) => {
            if let Some(end) = newline() {
                return Some(end);
            }
        }
        Some(false) if j < s.len() => {
            if let Some(end) = newline() {
                return Some(end);
            }
        }
        _ => {}
    }
    if j == s.len() {
        return Some(j);
    }
    Some(if j - i >= 2 { j - 1 } else { j })
}

/// o200k on ASCII: words (`P? U* W+` / `P? U+ W*` reduce to upper then lower runs), digits,
/// punctuation runs and whitespace.
#[inline(always)]
fn ascii_o200k(s: &[u8], i: usize) -> Option<usize> {
    let b = s[i];
    if b >= 0x80 {
        return None;
    }
    let f = ascii_flags(b);
    let word = |start: usize| ascii_word_o200k(s, start);
    if f & LETTER != 0 {
        return word(i);
    }
    if f & NUMBER != 0 {
        return ascii_digits3(s, i);
    }
    let crlf = b == b'\r' || b == b'\n';
    let next = s.get(i + 1).copied();
    if !crlf {
        if let Some(n) = next {
            if n >= 0x80 {
                return None;
            }
            if ascii_flags(n) & LETTER != 0 {
                return word(i + 1);
            }
        }
    }
    if let Some(from) = ascii_other_start(b, f, next) {
        return Some(with_trailing(s, ascii_other_run(s, i + from)?, b"\r\n/"));
    }
    ascii_whitespace(s, i, Some(true))
}

/// o200k's word on ASCII from `start`: a run of upper case, a run of lower case, a
/// contraction. Both runs come from one 16-byte load when they end inside it.
#[inline(always)]
fn ascii_word_o200k(s: &[u8], start: usize) -> Option<usize> {
    if let Some(chunk) = s.get(start..start + 16) {
        let chunk = chunk.try_into().expect("16 bytes");
        let upper = ascii16::mask::<LU_LT>(chunk);
        let lower = ascii16::mask::<LL>(chunk);
        let upper_len = (!upper).trailing_zeros();
        let len = upper_len + (!(lower >> upper_len)).trailing_zeros();
        if len < 16 {
            let end = start + len as usize;
            // A non-ASCII byte might continue the word: the general scanner decides.
            return (s[end] < 0x80).then(|| suffix_o200k(s, end));
        }
    }
    let upper_end = ascii_run::<LU_LT>(s, start)?;
    let end = ascii_run::<LL>(s, upper_end)?;
    Some(suffix_o200k(s, end))
}

/// cl100k on ASCII.
#[inline(always)]
fn ascii_cl100k(s: &[u8], i: usize) -> Option<usize> {
    let b = s[i];
    if b >= 0x80 || b == b'\'' {
        return None; // contractions and their fall-backs go the general way
    }
    let f = ascii_flags(b);
    if f & LETTER != 0 {
        return ascii_run::<LETTER>(s, i + 1);
    }
    if f & NUMBER != 0 {
        return ascii_digits3(s, i);
    }
    let crlf = b == b'\r' || b == b'\n';
    let next = s.get(i + 1).copied();
    if !crlf {
        if let Some(n) = next {
            if n >= 0x80 {
                return None;
            }
            if ascii_flags(n) & LETTER != 0 {
                return ascii_run::<LETTER>(s, i + 2);
            }
        }
    }
    if let Some(from) = ascii_other_start(b, f, next) {
        return Some(with_trailing(s, ascii_other_run(s, i + from)?, b"\r\n"));
    }
    ascii_whitespace(s, i, Some(false))
}

/// r50k on ASCII.
#[inline(always)]
fn ascii_r50k(s: &[u8], i: usize) -> Option<usize> {
    let b = s[i];
    if b >= 0x80 || b == b'\'' {
        return None;
    }
    let (from, f) = if b == b' ' {
        match s.get(i + 1) {
            Some(&n) if n >= 0x80 => return None,
            Some(&n) if ascii_flags(n) & SPACE == 0 => (i + 2, ascii_flags(n)),
            _ => (i + 1, SPACE),
        }
    } else {
        (i + 1, ascii_flags(b))
    };
    if f & LETTER != 0 {
        return ascii_run::<LETTER>(s, from);
    }
    if f & NUMBER != 0 {
        return ascii_run::<NUMBER>(s, from);
    }
    if is_other(f) {
        return ascii_other_run(s, from);
    }
    ascii_whitespace(s, i, None)
}

#[inline(always)]
fn is_crlf(cp: u32) -> bool {
    cp == '\r' as u32 || cp == '\n' as u32
}

/// `[^\s\p{L}\p{N}]`
#[inline(always)]
fn is_other(f: u8) -> bool {
    f & (SPACE | LETTER | NUMBER) == 0
}

/// End of the longest run from `i` of chars whose flags satisfy `keep`.
#[inline(always)]
fn run_end(s: &[u8], mut i: usize, keep: impl Fn(u32, u8) -> bool) -> usize {
    while i < s.len() {
        let (cp, f, len) = char_flags_at(s, i);
        if !keep(cp, f) {
            break;
        }
        i += len;
    }
    i
}

/// Flags of the char at `i`, or none at the end of the text.
#[inline(always)]
fn flags_at(s: &[u8], i: usize) -> Option<(u32, u8, usize)> {
    if i < s.len() {
        Some(char_flags_at(s, i))
    } else {
        None
    }
}

/// Matches `'(?i:[sdmt]|ll|ve|re)` (or its case-sensitive form) at the apostrophe at `i`;
/// o200k's `(?i:'s|'t|'re|'ve|'m|'ll|'d)` is the same set. Returns the end of the contraction. Case-insensitive `s` also matches U+017F (ſ), as
/// Unicode simple case folding, and so the regex engine, says.
#[inline]
fn contraction(s: &[u8], i: usize, ignore_case: bool) -> Option<usize> {
    let fold = |b: u8| {
        if ignore_case {
            b.to_ascii_lowercase()
        } else {
            b
        }
    };
    let j = i + 1;
    if j >= s.len() {
        return None;
    }
    let c1 = fold(s[j]);
    if matches!(c1, b's' | b'd' | b'm' | b't') {
        return Some(j + 1);
    }
    if ignore_case && s[j] == 0xC5 && s.get(j + 1) == Some(&0xBF) {
        return Some(j + 2); // ſ
    }
    if j + 1 < s.len() {
        let c2 = fold(s[j + 1]);
        if matches!((c1, c2), (b'l', b'l') | (b'v', b'e') | (b'r', b'e')) {
            return Some(j + 2);
        }
    }
    None
}

/// Where the `[^\s\p{L}\p{N}]` run of ` ?[^\s\p{L}\p{N}]+` starts for the char `cp` at `i`
/// (`len` bytes, flags `f`): right after it when it is such a char, after the next one when it
/// is a space followed by one.
#[inline(always)]
fn other_start(s: &[u8], i: usize, cp: u32, len: usize, f: u8) -> Option<usize> {
    if is_other(f) {
        Some(i + len)
    } else if cp == ' ' as u32 {
        match flags_at(s, i + 1) {
            Some((_, g, l)) if is_other(g) => Some(i + 1 + l),
            _ => None,
        }
    } else {
        None
    }
}

/// Whitespace handling shared by all three patterns once no earlier alternative matched at `i`:
/// returns (end of the whitespace run, end of the run without its last char, if two or more).
#[inline(always)]
fn whitespace_run(s: &[u8], i: usize) -> (usize, Option<usize>) {
    let j = run_end(s, i, |_, f| f & SPACE != 0);
    let last = last_char_len(s, j);
    (j, if j - last > i { Some(j - last) } else { None })
}

/// End of the last `\r` or `\n` in `s[i..j]`, if any: one mask for short runs (most are),
/// memchr for long ones.
#[inline(always)]
fn last_newline_end(s: &[u8], i: usize, j: usize) -> Option<usize> {
    match s.get(i..i + 16) {
        Some(chunk) if j - i <= 16 => {
            let found = ascii16::newlines(chunk.try_into().expect("16 bytes"))
                & (u32::MAX >> (32 - (j - i)));
            (found != 0).then(|| i + 32 - found.leading_zeros() as usize)
        }
        _ => memchr::memrchr2(b'\r', b'\n', &s[i..j]).map(|k| i + k + 1),
    }
}

/// r50k: `'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s`
fn next_r50k(s: &[u8], i: usize) -> usize {
    let (cp, f0, len) = char_flags_at(s, i);
    if cp == '\'' as u32 {
        if let Some(end) = contraction(s, i, false) {
            return end;
        }
    }
    // ` ?X++` for X in L, N, other: a space joins the run of the char that follows it.
    let after_space = if cp == ' ' as u32 {
        flags_at(s, i + 1)
    } else {
        None
    };
    let (from, f) = match after_space {
        Some((_, g, l)) if g & SPACE == 0 => (i + 1 + l, g),
        _ => (i + len, f0),
    };
    if f & LETTER != 0 {
        return run_end(s, from, |_, g| g & LETTER != 0);
    }
    if f & NUMBER != 0 {
        return run_end(s, from, |_, g| g & NUMBER != 0);
    }
    if is_other(f) {
        return run_end(s, from, |_, g| is_other(g));
    }
    let (j, shorter) = whitespace_run(s, i);
    if j == s.len() {
        return j;
    }
    shorter.unwrap_or(j)
}

/// cl100k: `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+|
/// ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`
fn next_cl100k(s: &[u8], i: usize) -> usize {
    let (cp, f, len) = char_flags_at(s, i);
    if cp == '\'' as u32 {
        if let Some(end) = contraction(s, i, true) {
            return end;
        }
    }
    if f & LETTER != 0 {
        return run_end(s, i + len, |_, g| g & LETTER != 0);
    }
    if f & NUMBER != 0 {
        let mut end = i + len;
        for _ in 0..2 {
            match flags_at(s, end) {
                Some((_, g, l)) if g & NUMBER != 0 => end += l,
                _ => break,
            }
        }
        return end;
    }
    if !is_crlf(cp) {
        if let Some((_, g, l)) = flags_at(s, i + len) {
            if g & LETTER != 0 {
                return run_end(s, i + len + l, |_, g| g & LETTER != 0);
            }
        }
    }
    if let Some(from) = other_start(s, i, cp, len, f) {
        return with_trailing(s, run_end(s, from, |_, g| is_other(g)), b"\r\n");
    }
    let (j, shorter) = whitespace_run(s, i);
    if j == s.len() {
        return j;
    }
    if let Some(end) = last_newline_end(s, i, j) {
        return end;
    }
    shorter.unwrap_or(j)
}

/// o200k, seven alternatives (see O200K_PATTERN); the first two, for words, backtrack.
fn next_o200k(s: &[u8], i: usize) -> usize {
    let (cp, f, len) = char_flags_at(s, i);
    let prefixable = !is_crlf(cp) && f & (LETTER | NUMBER) == 0;
    if prefixable || f & (UPPERISH | LOWERISH) != 0 {
        if let Some(end) = o200k_word(s, i, len, f, prefixable) {
            return end;
        }
    }
    if f & NUMBER != 0 {
        let mut end = i + len;
        for _ in 0..2 {
            match flags_at(s, end) {
                Some((_, g, l)) if g & NUMBER != 0 => end += l,
                _ => break,
            }
        }
        return end;
    }
    if let Some(from) = other_start(s, i, cp, len, f) {
        return with_trailing(s, run_end(s, from, |_, g| is_other(g)), b"\r\n/");
    }
    let (j, shorter) = whitespace_run(s, i);
    if let Some(end) = last_newline_end(s, i, j) {
        return end;
    }
    if j == s.len() {
        return j;
    }
    shorter.unwrap_or(j)
}

/// The two word alternatives of o200k at `i`, tried in the regex engine's backtracking order:
/// `P? U* W+ S?` then `P? U+ W* S?`, each first with the optional prefix char P taken (when the
/// char at `i` can be one), then without it. U and W overlap (Lm, Lo and marks are in both),
/// which is what makes the backtracking matter.
fn o200k_word(s: &[u8], i: usize, len: usize, f: u8, prefixable: bool) -> Option<usize> {
    let starts: &[usize] = if prefixable { &[i + len, i] } else { &[i] };
    // For each start: (end of the U run, end of the last char in it that is also W).
    let mut runs = [(0usize, None::<usize>); 2];
    for (k, &start) in starts.iter().enumerate() {
        if start == i && prefixable && f & UPPERISH == 0 {
            // Without the prefix, the char at `i` is neither U nor W: both alternatives fail.
            runs[k] = (i, None);
            continue;
        }
        let mut u_end = start;
        let mut last_w = None;
        while let Some((_, g, l)) = flags_at(s, u_end) {
            if g & UPPERISH == 0 {
                break;
            }
            u_end += l;
            if g & LOWERISH != 0 {
                last_w = Some(u_end);
            }
        }
        runs[k] = (u_end, last_w);
        // P? U* W+ : greedy U*, then W+ right after it when the next char is lowercase ...
        if let Some((_, g, _)) = flags_at(s, u_end) {
            if g & LL != 0 {
                let w_end = run_end(s, u_end, |_, g| g & LOWERISH != 0);
                return Some(suffix_o200k(s, w_end));
            }
        }
        // ... else U* gives back chars until its last W char can start W+ (one char long).
        if let Some(end) = last_w {
            return Some(suffix_o200k(s, end));
        }
    }
    // P? U+ W* : the U run is all Lu/Lt here, and the char after it is not W.
    for (k, &start) in starts.iter().enumerate() {
        let (u_end, _) = runs[k];
        if u_end > start {
            return Some(suffix_o200k(s, u_end));
        }
    }
    None
}

/// o200k's optional `(?i:'s|'t|'re|'ve|'m|'ll|'d)` at `i`.
#[inline(always)]
fn suffix_o200k(s: &[u8], i: usize) -> usize {
    if i < s.len() && s[i] == b'\'' {
        if let Some(end) = contraction(s, i, true) {
            return end;
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pieces(p: &Pretokenizer, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        p.for_each_piece(text, |b| out.push(String::from_utf8(b.to_vec()).unwrap()))
            .unwrap();
        out
    }

    fn assert_same_as_regex(pattern: &str, text: &str) {
        let fast = Pretokenizer::new(pattern).unwrap();
        assert!(!matches!(fast, Pretokenizer::Regex(_)));
        let reference = crate::fuzzing::regex_engine(pattern);
        assert_eq!(
            pieces(&fast, text),
            pieces(reference, text),
            "text: {text:?}"
        );
    }

    const PATTERNS: [&str; 3] = [R50K_PATTERN, CL100K_PATTERN, O200K_PATTERN];

    /// The spans of `text`, the windows' masks computed by `k`.
    #[cfg(target_arch = "x86_64")]
    fn spans_in(p: &Pretokenizer, k: impl Classify, text: &str) -> Vec<(usize, usize)> {
        let mut spans = Vec::new();
        p.for_each_batch_in(
            k,
            text,
            |(), _, _| (),
            |batch, _: &[()]| spans.extend_from_slice(batch),
        )
        .unwrap();
        spans
    }

    /// Every pattern's scanner splits `text` as the regex engine does.
    fn splits_like_the_regex(text: &str) -> Result<(), TestCaseError> {
        for p in PATTERNS {
            let fast = Pretokenizer::new(p).unwrap();
            let reference = crate::fuzzing::regex_engine(p);
            prop_assert_eq!(
                pieces(&fast, text),
                pieces(reference, text),
                "pattern {}",
                p
            );
            // Beside each span comes what the per-piece hook made of that very span, in
            // batches of at most MAX_BATCH.
            let (mut spans, mut hooked) = (Vec::new(), Vec::new());
            fast.for_each_batch_with(
                text,
                |(), a, b| (a, b),
                |batch, found| {
                    assert!(batch.len() <= MAX_BATCH && batch == found);
                    hooked.extend_from_slice(found);
                },
            )
            .unwrap();
            fast.for_each_batch(text, |batch| spans.extend_from_slice(batch))
                .unwrap();
            prop_assert_eq!(&hooked, &spans, "pattern {}", p);
            // The windows read with AVX2's halves and with AVX-512, where this CPU has them,
            // find the same spans.
            #[cfg(target_arch = "x86_64")]
            {
                if let Some(k) = classify::Avx2::detect() {
                    let halves = spans_in(&fast, k, text);
                    prop_assert_eq!(&halves, &spans, "pattern {} (AVX2)", p);
                }
                if let Some(k) = classify::Avx512::detect() {
                    let wide = spans_in(&fast, k, text);
                    prop_assert_eq!(&wide, &spans, "pattern {} (AVX-512)", p);
                }
            }
        }
        Ok(())
    }

    /// The scanners fold case by hand: only ASCII letters and U+017F may match `(?i)` here.
    #[test]
    fn case_insensitive_contraction_letters_are_known() {
        let re = fancy_regex::Regex::new(r"^(?i:[sdmt]|ll|ve|re)$").unwrap();
        let single: Vec<char> = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|c| re.is_match(&c.to_string()).unwrap())
            .collect();
        assert_eq!(single, vec!['D', 'M', 'S', 'T', 'd', 'm', 's', 't', 'ſ']);
        let pair = fancy_regex::Regex::new(r"^(?i:l|v|e|r)$").unwrap();
        let folded: Vec<char> = (0x80..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|c| pair.is_match(&c.to_string()).unwrap())
            .collect();
        assert!(folded.is_empty(), "{folded:?}");
    }

    #[test]
    fn windows_full_of_pieces_fill_batches_past_batch_but_within_max_batch() {
        // A piece every byte or two: a window adds dozens of pieces to a batch that may hold
        // 63 already.
        let text: String = (0..5_000).map(|i| ["1", "+", "a", "."][i % 4]).collect();
        splits_like_the_regex(&text).unwrap();
        for p in PATTERNS {
            let mut largest = 0;
            Pretokenizer::new(p)
                .unwrap()
                .for_each_batch(&text, |batch| largest = largest.max(batch.len()))
                .unwrap();
            assert!((BATCH..=MAX_BATCH).contains(&largest), "{p}: {largest}");
        }
    }

    #[test]
    fn known_examples_split_like_the_regex() {
        let samples = [
            "Hello, world! It's 2024 and we've got 12345 tokens.",
            "  leading spaces\n\n\ttabs\r\n and CRLF \r\n",
            "ABCdef GHI jklMNO 'S 'LL 'ſ x'ſ DON'T don't",
            "日本語のテキスト、한국어 텍스트 and English",
            "e\u{301}\u{301} \u{301}abc \u{301}\u{301}ABC x\u{301}",
            "emoji 😀😀👍🏽 flags 🇫🇷 zwj 👩‍💻",
            "path/to/file.rs // comment\n/*\n*/\n",
            "   \n\n   x  \u{3000}\u{85}y\u{a0}",
            "ǅungla ǅ ᾈ Ⅻ ²³ ١٢٣٤",
            "'''s '' ' ",
            "0123456789abcdef ключ 日ABc 日Дд ключ ключ ключ ключ ключ ключ ключ",
            "fn main() {\n    let x = a/b; // comment\n\n\t\treturn (x);\n}\n;\n/\n// end   more \
             Hello, world! It's 2024 and we've got 1234567 tokens. DON'T stop x's's's ok.....  \
             camelCaseWord HTTPServer iPhone ABCdef 12ab34 a1b2 ''s 's 'x x'ss'S x' \
             \tand Ünïcödé wörds 日本語 in the middle of ASCII text, then more ASCII text.  \n",
            "",
            " ",
            "\n",
        ];
        for p in PATTERNS {
            for t in samples {
                assert_same_as_regex(p, t);
            }
        }
    }

    fn interesting_char() -> impl Strategy<Value = char> {
        prop_oneof![
            prop::sample::select(vec![
                ' ', ' ', '\n', '\r', '\t', '\'', 's', 'S', 't', 'l', 'L', 'v', 'e', 'r', 'R', 'd',
                'm', 'a', 'Z', '0', '9', '.', ',', '/', '!', 'ſ', 'é', 'É', 'ǅ', '日', 'ー', 'ʰ',
                '\u{301}', '\u{300}', '\u{3000}', '\u{85}', '\u{a0}', '\u{b}', '\u{c}', 'Ⅻ', '²',
                '١', '😀', '\u{200d}', '\u{fe0f}', 'K', 'ß', 'ﬀ', 'İ',
            ]),
            any::<char>(),
        ]
    }

    /// Mostly ASCII, the fast paths' ground, with the odd char that sends them back.
    fn ascii_heavy_char() -> impl Strategy<Value = char> {
        prop_oneof![
            20 => (0x09u8..0x7f).prop_map(|b| b as char),
            1 => interesting_char(),
        ]
    }

    /// Letters of every class and width (the stand-ins' ground), with what stops them: marks,
    /// non-ASCII digits, spaces and punctuation, the long s, and ASCII around them.
    fn letter_heavy_char() -> impl Strategy<Value = char> {
        prop_oneof![
            6 => prop::sample::select(vec![
                'Д', 'д', 'Σ', 'σ', 'ς', 'é', 'É', 'ǅ', 'ß', 'İ', 'ع', 'ש', '日', '한', 'ー', 'ʰ',
                'ა', 'Ꭰ', 'ꭰ', '\u{10400}', '\u{10428}', '\u{10450}', 'K', 'ǈ', 'ａ', 'Ａ',
            ]),
            3 => prop::sample::select(vec![
                ' ', ' ', ' ', '\n', '\'', 's', 'S', 't', 'l', 'v', 'e', 'r', 'a', 'Z', '0', '7',
                '.', ',', '/', '(', '\r', '\t',
            ]),
            1 => prop::sample::select(vec![
                'ſ', '\u{301}', '\u{93f}', '١', 'Ⅻ', '²', '\u{a0}', '\u{3000}', '\u{85}', '«',
                '—', '😀', '\u{200d}',
            ]),
            // `[^\s\p{L}\p{N}]` of two to four bytes (marks too, in cl100k), which stand in as
            // `#` with tails, and Indic letters between them.
            2 => prop::sample::select(vec![
                '«', '»', '—', '…', '€', '।', '،', '😀', '\u{94d}', '\u{93e}', '\u{9cd}', 'क',
                'ক', '¿', '©', '\u{2028}',
            ]),
        ]
    }

    proptest! {
        #![proptest_config(crate::test_cases::cases(3000))]
        /// Windows of multi-byte letters (read through their ASCII stand-ins) split as the
        /// regex does, wherever the window's edges fall.
        #[test]
        fn letter_windows_split_like_the_regex(
            chars in prop::collection::vec(letter_heavy_char(), 0..200)
        ) {
            splits_like_the_regex(&chars.into_iter().collect::<String>())?;
        }

        #[test]
        fn ascii_fast_paths_split_like_the_regex(
            chars in prop::collection::vec(ascii_heavy_char(), 0..60)
        ) {
            splits_like_the_regex(&chars.into_iter().collect::<String>())?;
        }

        /// Texts long enough for the 64-byte windows, with stretches of each kind of char.
        #[test]
        fn windows_split_like_the_regex(
            parts in prop::collection::vec(
                (prop::collection::vec(ascii_heavy_char(), 1..12), 1usize..8),
                4..40,
            )
        ) {
            let text: String = parts
                .iter()
                .flat_map(|(chars, times)| std::iter::repeat_n(chars, *times).flatten())
                .collect();
            splits_like_the_regex(&text)?;
        }

        #[test]
        fn scanners_split_like_the_regex(chars in prop::collection::vec(interesting_char(), 0..40)) {
            splits_like_the_regex(&chars.into_iter().collect::<String>())?;
        }
    }
}
