//! An encoding: vocabulary, pre-tokenizer and special tokens, with tiktoken's encode and decode
//! semantics, and counting paths that never build the token list.

use std::collections::HashMap;

use std::ops::Range;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::bpe::{self, MissingByte};
use crate::bulk::cut::CutRule;
use crate::piece_cache::{self, Hit, PieceCache, Probe};
#[cfg(target_arch = "x86_64")]
use crate::pretokenize::classify::{Avx2, Avx512};
use crate::pretokenize::classify::{Classify, Lanes16};
use crate::pretokenize::{PatternError, Pretokenizer, MAX_BATCH};
use crate::threads::{self, Split};
use crate::vocab::{Rank, Vocab, VocabError};

/// Misses in a batch of pieces from which the next batch loads both sets of each piece's
/// entry. On a base64 blob (pieces rarely repeat), loading both: o200k 40.0 -> 26.4 ms per MB,
/// cl100k 45.7 -> 31.9; on text the cache holds, loading only the first set keeps the loads
/// to one line a piece.
const MISSES_TO_LOAD_BOTH_SETS: usize = 4;

/// Where tokens go as they are found: a `Vec` being filled, a count, or any `FnMut(Rank)`.
pub trait TokenSink {
    /// Whether the sink keeps only how many tokens it was given (see `push_count`).
    const COUNTS_ONLY: bool = false;

    fn push(&mut self, token: Rank);

    /// `count` tokens whose ids do not matter: for a sink that is `COUNTS_ONLY` only.
    #[inline(always)]
    fn push_count(&mut self, count: usize) {
        debug_assert!(Self::COUNTS_ONLY || count == 0, "ids would be lost");
    }

    /// The tokens `ids[..count]` of a cached piece (`count <= ids.len()`).
    #[inline(always)]
    fn push_cached(&mut self, ids: &[Rank; piece_cache::MAX_TOKENS], count: usize) {
        ids[..count].iter().for_each(|&t| self.push(t));
    }

    #[inline(always)]
    fn push_all(&mut self, tokens: &[Rank]) {
        tokens.iter().for_each(|&t| self.push(t));
    }
}

impl<F: FnMut(Rank)> TokenSink for F {
    #[inline(always)]
    fn push(&mut self, token: Rank) {
        self(token)
    }
}

impl TokenSink for Vec<Rank> {
    #[inline(always)]
    fn push(&mut self, token: Rank) {
        Vec::push(self, token)
    }

    /// Copies every id of the entry and keeps `count` of them: no branch on the count.
    #[inline(always)]
    fn push_cached(&mut self, ids: &[Rank; piece_cache::MAX_TOKENS], count: usize) {
        debug_assert!(count <= ids.len());
        self.reserve(ids.len());
        let len = self.len();
        // SAFETY: `reserve` made room for ids.len() more; the first `count` of the copied ids
        // are initialised and kept, the rest lie past the new length.
        unsafe {
            std::ptr::copy_nonoverlapping(ids.as_ptr(), self.as_mut_ptr().add(len), ids.len());
            self.set_len(len + count.min(ids.len()));
        }
    }

    #[inline(always)]
    fn push_all(&mut self, tokens: &[Rank]) {
        self.extend_from_slice(tokens);
    }
}

/// A sink that only counts.
struct Count(usize);

impl TokenSink for Count {
    const COUNTS_ONLY: bool = true;

    #[inline(always)]
    fn push(&mut self, _: Rank) {
        self.0 += 1;
    }

    #[inline(always)]
    fn push_count(&mut self, count: usize) {
        self.0 += count;
    }

    #[inline(always)]
    fn push_cached(&mut self, _: &[Rank; piece_cache::MAX_TOKENS], count: usize) {
        self.0 += count;
    }

    #[inline(always)]
    fn push_all(&mut self, tokens: &[Rank]) {
        self.0 += tokens.len();
    }
}

/// Why text could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// The text contains a special token the caller did not allow.
    Disallowed(String),
    /// A byte the vocabulary has no token for.
    MissingByte(u8),
    /// The (custom) pattern failed while matching.
    Pattern(String),
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::Disallowed(token) => write!(
                f,
                "the text contains the special token {token:?}, which is disallowed. To encode \
                 it as a special token, pass it in `allowed_special` (or allowed_special=\"all\"); \
                 to encode it as ordinary text, leave it out of `disallowed_special` (for \
                 example `disallowed_special=()`)."
            ),
            EncodeError::MissingByte(b) => {
                write!(f, "the vocabulary has no token for the byte {b:#04x}")
            }
            EncodeError::Pattern(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for EncodeError {}

impl From<MissingByte> for EncodeError {
    fn from(e: MissingByte) -> Self {
        EncodeError::MissingByte(e.0)
    }
}

impl From<PatternError> for EncodeError {
    fn from(e: PatternError) -> Self {
        EncodeError::Pattern(e.0)
    }
}

/// Why an encoding cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    Vocab(VocabError),
    Pattern(String),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Vocab(e) => write!(f, "invalid mergeable ranks: {e}"),
            BuildError::Pattern(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BuildError {}

/// A token id that decodes to nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidToken(pub i64);

impl std::fmt::Display for InvalidToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Invalid token for decoding: {}", self.0)
    }
}

/// A set of strings to look for in text: special tokens to allow, or strings to refuse.
/// Matching is leftmost-first, as tiktoken's alternation of escaped tokens.
pub struct SpecialSet {
    matcher: Option<AhoCorasick>,
    /// Per pattern: the string and, when it is one of the encoding's special tokens, its rank.
    entries: Vec<(String, Option<Rank>)>,
}

impl SpecialSet {
    fn new(entries: Vec<(String, Option<Rank>)>) -> Self {
        let matcher = if entries.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(entries.iter().map(|e| e.0.as_bytes()))
                    .expect("special token automaton"),
            )
        };
        SpecialSet { matcher, entries }
    }

    /// The set of nothing: no special token allowed, nothing refused.
    pub fn empty() -> Self {
        SpecialSet {
            matcher: None,
            entries: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The first string of the set in `text`: (start, end, entry index).
    #[inline]
    fn find(&self, text: &[u8]) -> Option<(usize, usize, usize)> {
        let m = self.matcher.as_ref()?.find(text)?;
        Some((m.start(), m.end(), m.pattern().as_usize()))
    }
}

/// What one call does with special tokens, tiktoken's `allowed_special` and
/// `disallowed_special` prepared: a text holding a string of `refused` is refused, then the
/// special tokens of `allowed` are encoded as such and everything else as ordinary text. The
/// default allows and refuses nothing (`encode_ordinary`).
#[derive(Default)]
pub struct Specials {
    allowed: SpecialSet,
    refused: SpecialSet,
}

impl Specials {
    /// The parts a text of `len` bytes is cut into on `threads` (see `threads::parts_for`):
    /// one when a special token may be encoded as such.
    pub fn parts(&self, len: usize, threads: Option<usize>) -> usize {
        match self.allowed.is_empty() {
            true => crate::threads::parts_for(len, threads),
            false => 1,
        }
    }
}

impl Default for SpecialSet {
    fn default() -> Self {
        SpecialSet::empty()
    }
}

pub struct Encoding {
    pub name: String,
    pub pattern: String,
    vocab: Vocab,
    pretok: Pretokenizer,
    /// Special tokens in the order given.
    specials: Vec<(String, Rank)>,
    special_by_rank: HashMap<Rank, usize>,
    all_specials: SpecialSet,
    explicit_n_vocab: Option<usize>,
}

impl Encoding {
    pub fn new(
        name: &str,
        pattern: &str,
        vocab: Vocab,
        specials: Vec<(String, Rank)>,
        explicit_n_vocab: Option<usize>,
    ) -> Result<Self, BuildError> {
        let pretok = Pretokenizer::new(pattern).map_err(|e| BuildError::Pattern(e.0))?;
        // Two special tokens may share a rank (o200k_harmony does): decoding gives the first.
        let mut special_by_rank = HashMap::new();
        for (i, (_, rank)) in specials.iter().enumerate() {
            special_by_rank.entry(*rank).or_insert(i);
        }
        let all_specials = SpecialSet::new(
            specials
                .iter()
                .map(|(t, r)| (t.clone(), Some(*r)))
                .collect(),
        );
        Ok(Encoding {
            name: name.to_owned(),
            pattern: pattern.to_owned(),
            vocab,
            pretok,
            specials,
            special_by_rank,
            all_specials,
            explicit_n_vocab,
        })
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    pub fn pretokenizer(&self) -> &Pretokenizer {
        &self.pretok
    }

    pub fn specials(&self) -> &[(String, Rank)] {
        &self.specials
    }

    pub fn explicit_n_vocab(&self) -> Option<usize> {
        self.explicit_n_vocab
    }

    /// The largest token id, ordinary or special.
    pub fn max_token_value(&self) -> Rank {
        let ordinary = self.vocab.max_rank().unwrap_or(0);
        self.specials.iter().map(|s| s.1).fold(ordinary, Rank::max)
    }

    /// A set of strings for `allowed_special` or `disallowed_special`; strings that are not
    /// special tokens of this encoding are kept (they can still be refused), never allowed.
    pub fn special_set<I: IntoIterator<Item = String>>(&self, strings: I) -> SpecialSet {
        let by_text: HashMap<&str, Rank> = self
            .specials
            .iter()
            .map(|(t, r)| (t.as_str(), *r))
            .collect();
        let mut entries: Vec<(String, Option<Rank>)> = strings
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(|s| {
                let rank = by_text.get(s.as_str()).copied();
                (s, rank)
            })
            .collect();
        entries.sort();
        entries.dedup();
        SpecialSet::new(entries)
    }

    /// The special-token rules of a call: `allowed` and `disallowed` as tiktoken takes them,
    /// `None` standing for "all" (every special token; for `disallowed`, every one not
    /// allowed).
    pub fn prepare_specials(
        &self,
        allowed: Option<Vec<String>>,
        disallowed: Option<Vec<String>>,
    ) -> Specials {
        let names = || self.specials.iter().map(|s| s.0.clone());
        let allowed = self.special_set(allowed.unwrap_or_else(|| names().collect()));
        let refused = match disallowed {
            Some(strings) => self.special_set(strings),
            None => {
                let is_allowed = |s: &String| allowed.entries.iter().any(|e| e.0 == *s);
                self.special_set(names().filter(|s| !is_allowed(s)))
            }
        };
        Specials { allowed, refused }
    }

    /// Tokens of `text` under `specials`, on this thread.
    pub fn encode_with(&self, text: &str, specials: &Specials) -> Result<Vec<Rank>, EncodeError> {
        let mut parts = self.encode_parts_with(text, specials, None)?;
        Ok(parts.pop().unwrap_or_default())
    }

    /// `encode_with` on one thread, the tokens appended to `out` (on an error, `out` may keep
    /// some of them).
    pub fn encode_with_into(
        &self,
        text: &str,
        specials: &Specials,
        out: &mut Vec<Rank>,
    ) -> Result<(), EncodeError> {
        self.check(text, &specials.refused)?;
        self.for_each_token(text, &specials.allowed, out)
    }

    /// `encode_with`, its tokens left in the parts the text was cut into (one part when it
    /// stays whole): the parts' tokens, laid end to end, are the text's. With `split`, a text
    /// in which no special token is allowed is cut into its parts, shared out on its pool
    /// (the cuts only know ordinary text).
    pub fn encode_parts_with(
        &self,
        text: &str,
        specials: &Specials,
        split: Option<Split<'_>>,
    ) -> Result<Vec<Vec<Rank>>, EncodeError> {
        self.check(text, &specials.refused)?;
        match split {
            _ if !specials.allowed.is_empty() => Ok(vec![self.encode(text, &specials.allowed)?]),
            Some(split) if split.parts > 1 => self.encode_ordinary_parts(text, split),
            _ => Ok(vec![self.encode_ordinary(text)?]),
        }
    }

    /// The number of tokens `encode_parts_with` gives, without building them.
    pub fn count_with(
        &self,
        text: &str,
        specials: &Specials,
        split: Option<Split<'_>>,
    ) -> Result<usize, EncodeError> {
        self.check(text, &specials.refused)?;
        match split {
            _ if !specials.allowed.is_empty() => self.count(text, &specials.allowed),
            Some(split) if split.parts > 1 => self.count_ordinary_parallel(text, None, split),
            _ => self.count_ordinary(text),
        }
    }

    /// Every special token of this encoding.
    pub fn all_specials(&self) -> &SpecialSet {
        &self.all_specials
    }

    /// The first string of `set` found in `text`, the one tiktoken reports as disallowed.
    pub fn find_disallowed<'s>(&self, text: &str, set: &'s SpecialSet) -> Option<&'s str> {
        set.find(text.as_bytes())
            .map(|(_, _, idx)| set.entries[idx].0.as_str())
    }

    /// Tokens of `text`, special tokens in `allowed` encoded as such, everything else ordinary.
    pub fn encode(&self, text: &str, allowed: &SpecialSet) -> Result<Vec<Rank>, EncodeError> {
        let mut out = Vec::with_capacity(token_capacity(text));
        self.for_each_token(text, allowed, &mut out)?;
        Ok(out)
    }

    /// `encode` after refusing any string of `disallowed` in the text.
    pub fn encode_checked(
        &self,
        text: &str,
        allowed: &SpecialSet,
        disallowed: Option<&SpecialSet>,
    ) -> Result<Vec<Rank>, EncodeError> {
        if let Some(d) = disallowed {
            self.check(text, d)?;
        }
        self.encode(text, allowed)
    }

    /// Tokens of `text`, special tokens encoded as ordinary text.
    pub fn encode_ordinary(&self, text: &str) -> Result<Vec<Rank>, EncodeError> {
        let mut out = Vec::with_capacity(token_capacity(text));
        self.for_each_ordinary_token(text, &mut out)?;
        Ok(out)
    }

    /// Number of tokens `encode(text, allowed)` gives, without building them.
    pub fn count(&self, text: &str, allowed: &SpecialSet) -> Result<usize, EncodeError> {
        if allowed.is_empty() {
            return self.count_ordinary(text);
        }
        let mut n = 0;
        self.for_each_segment(text, allowed, |seg| {
            n += match seg {
                Segment::Text(t) => self.count_ordinary(t)?,
                Segment::Special(_) => 1,
            };
            Ok(())
        })?;
        Ok(n)
    }

    /// `count` after refusing any string of `disallowed` in the text.
    pub fn count_checked(
        &self,
        text: &str,
        allowed: &SpecialSet,
        disallowed: Option<&SpecialSet>,
    ) -> Result<usize, EncodeError> {
        if let Some(d) = disallowed {
            self.check(text, d)?;
        }
        self.count(text, allowed)
    }

    /// Number of tokens of `encode_ordinary(text)`.
    pub fn count_ordinary(&self, text: &str) -> Result<usize, EncodeError> {
        let mut n = Count(0);
        self.for_each_ordinary_token(text, &mut n)?;
        Ok(n.0)
    }

    /// Splits `text` into at most `parts` consecutive ranges whose ordinary encodings,
    /// concatenated, are the encoding of the whole: each cut is one `bulk::cut` proves safe
    /// (no piece crosses it, and the pieces on both sides stay the same), found near an even
    /// share of the text. Text with no such cut nearby (one long piece), or a custom pattern,
    /// stays whole.
    pub fn independent_parts(&self, text: &str, parts: usize) -> Vec<Range<usize>> {
        /// How far past an even share a cut is looked for.
        const SEARCH: usize = 1 << 16;
        let rule = CutRule::for_pattern(&self.pattern);
        let len = text.len();
        let mut ranges = Vec::with_capacity(parts.max(1));
        let mut start = 0;
        for k in 1..parts.max(1) {
            let target = (len / parts * k).max(start + 1);
            let cut = (target..(target + SEARCH).min(len)).find(|&p| rule.is_safe(text, p));
            if let Some(cut) = cut {
                ranges.push(start..cut);
                start = cut;
            }
        }
        ranges.push(start..len);
        ranges
    }

    /// `encode_ordinary` after refusing any string of `refused` in the text, with the text
    /// cut into independent parts shared out on `split`'s pool (see `threads::map_shared`).
    pub fn encode_ordinary_parallel(
        &self,
        text: &str,
        refused: Option<&SpecialSet>,
        split: Split<'_>,
    ) -> Result<Vec<Rank>, EncodeError> {
        if let Some(r) = refused {
            self.check(text, r)?;
        }
        Ok(self.encode_ordinary_parts(text, split)?.concat())
    }

    /// The tokens of each of `text`'s independent parts (see `independent_parts`), shared out
    /// on `split`'s pool.
    fn encode_ordinary_parts(
        &self,
        text: &str,
        split: Split<'_>,
    ) -> Result<Vec<Vec<Rank>>, EncodeError> {
        let ranges = self.independent_parts(text, split.parts);
        threads::map_shared(split.pool, &ranges, |r| {
            self.encode_ordinary(&text[r.clone()])
        })
        .into_iter()
        .collect()
    }

    /// `count_ordinary` after refusing any string of `refused`, over independent parts shared
    /// out on `split`'s pool.
    pub fn count_ordinary_parallel(
        &self,
        text: &str,
        refused: Option<&SpecialSet>,
        split: Split<'_>,
    ) -> Result<usize, EncodeError> {
        if let Some(r) = refused {
            self.check(text, r)?;
        }
        let ranges = self.independent_parts(text, split.parts);
        threads::map_shared(split.pool, &ranges, |r| {
            self.count_ordinary(&text[r.clone()])
        })
        .into_iter()
        .sum()
    }

    fn check(&self, text: &str, disallowed: &SpecialSet) -> Result<(), EncodeError> {
        match self.find_disallowed(text, disallowed) {
            Some(token) => Err(EncodeError::Disallowed(token.to_owned())),
            None => Ok(()),
        }
    }

    /// Hands each token of `text` to `emit`.
    pub fn for_each_token(
        &self,
        text: &str,
        allowed: &SpecialSet,
        emit: &mut impl TokenSink,
    ) -> Result<(), EncodeError> {
        if allowed.is_empty() {
            return self.for_each_ordinary_token(text, emit);
        }
        self.for_each_segment(text, allowed, |seg| {
            match seg {
                Segment::Text(t) => self.for_each_ordinary_token(t, emit)?,
                Segment::Special(r) => emit.push(r),
            }
            Ok(())
        })
    }

    /// Hands each token of `text` to `emit`, special tokens encoded as ordinary text.
    pub fn for_each_ordinary_token(
        &self,
        text: &str,
        emit: &mut impl TokenSink,
    ) -> Result<(), EncodeError> {
        piece_cache::with_cache(self.vocab.id(), |cache| match cache {
            Some(cache) => self.ordinary_tokens_cached(text, cache, emit),
            None => self.ordinary_tokens_uncached(text, emit),
        })
    }

    /// The tokens of each piece, short pieces through this thread's piece cache; the scan
    /// compiled for x86-64-v3 (AVX2, BMI, POPCNT, LZCNT) where the CPU has it: the
    /// pre-tokenizer's window masks, their bit counts and the walk over their set bits are
    /// single instructions there, sequences on baseline x86-64.
    #[inline(always)]
    fn ordinary_tokens_cached(
        &self,
        text: &str,
        cache: &mut PieceCache,
        emit: &mut impl TokenSink,
    ) -> Result<(), EncodeError> {
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(k) = Avx512::detect() {
                // SAFETY: `k` exists only where the CPU has every feature the function is
                // compiled for (x86-64-v3 and AVX-512 F, BW, VBMI).
                return unsafe { self.cached_batches_avx512(text, cache, emit, k) };
            }
            if let Some(k) = Avx2::detect() {
                // SAFETY: `k` exists only where the CPU has every feature the function is
                // compiled for (x86-64-v3).
                return unsafe { self.cached_batches_v3(text, cache, emit, k) };
            }
        }
        self.cached_batches(text, cache, emit, Lanes16)
    }

    /// `cached_batches` compiled for x86-64-v3 with AVX-512 F, BW and VBMI: the windows' class
    /// masks are one table lookup of 64 bytes (see [`crate::pretokenize::classify`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt,avx512f,avx512bw,avx512vbmi")]
    unsafe fn cached_batches_avx512(
        &self,
        text: &str,
        cache: &mut PieceCache,
        emit: &mut impl TokenSink,
        k: Avx512,
    ) -> Result<(), EncodeError> {
        self.cached_batches(text, cache, emit, k)
    }

    /// `cached_batches` compiled for x86-64-v3: the scan, and the probes inlined into it, get
    /// the features, and the windows' class masks are two 32-byte halves of AVX2 compares. The
    /// lookups run in the batch's closure, compiled where it is defined (without them), which
    /// needs none of them.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt")]
    unsafe fn cached_batches_v3(
        &self,
        text: &str,
        cache: &mut PieceCache,
        emit: &mut impl TokenSink,
        k: Avx2,
    ) -> Result<(), EncodeError> {
        self.cached_batches(text, cache, emit, k)
    }

    /// Each piece is probed (its entry starts loading) as the pre-tokenizer finds it, and
    /// resolved with the rest of its batch. Probing a whole batch at once, after the scan,
    /// issued its loads in a burst that queued (a fifth of a count's samples sat on the
    /// prefetches); spread over the scan they queue less: count 4-6% and encode 6-10% faster
    /// (best of alternating pinned runs of the `throughput` example).
    #[inline(always)]
    fn cached_batches(
        &self,
        text: &str,
        cache: &mut PieceCache,
        emit: &mut impl TokenSink,
        k: impl Classify,
    ) -> Result<(), EncodeError> {
        let s = text.as_bytes();
        let prober = cache.prober();
        let mut state = BatchState::default();
        // The mode, `both`: whether probes load both of a piece's sets: while lookups often
        // read the second (text the cache has not seen, or a table so full that many pieces
        // sit in their second set), else only the first. Decided after each batch for the next.
        self.pretok.for_each_batch_in(
            k,
            text,
            move |both, a, b| {
                if b - a <= piece_cache::MAX_PIECE {
                    prober.probe(s, a, b, both)
                } else {
                    Probe::default()
                }
            },
            |spans, probes| {
                self.cached_batch(s, spans, probes, cache, emit, &mut state);
                state.misses >= MISSES_TO_LOAD_BOTH_SETS || cache.crowded()
            },
        )?;
        state.finish()
    }

    /// The tokens of one batch of pieces of `s`, probed as they were found.
    #[inline(always)]
    fn cached_batch<S: TokenSink>(
        &self,
        s: &[u8],
        spans: &[(usize, usize)],
        probes: &[Probe],
        cache: &mut PieceCache,
        emit: &mut S,
        state: &mut BatchState,
    ) {
        state.misses = 0;
        if S::COUNTS_ONLY {
            // Order does not matter to a count: the hits are added up in a loop that calls
            // nothing (so it keeps its values in registers), the rest follow.
            const { assert!(MAX_BATCH <= 256, "a batch's indices are bytes") };
            let mut rest = [0u8; MAX_BATCH];
            let mut left = 0;
            let mut counted = 0;
            for (k, (&probe, &(a, b))) in probes.iter().zip(spans).enumerate() {
                let len = b - a;
                let hit = if len <= piece_cache::MAX_PIECE {
                    cache.get_count(probe, len)
                } else {
                    None
                };
                match hit {
                    Some(count) => counted += count,
                    None => {
                        rest[left] = k as u8;
                        left += 1;
                    }
                }
            }
            emit.push_count(counted);
            for &k in &rest[..left] {
                let k = k as usize;
                self.uncached_piece(s, spans[k], probes[k], cache, emit, state);
            }
            return;
        }
        for (&probe, &(a, b)) in probes.iter().zip(spans) {
            let len = b - a;
            if len > piece_cache::MAX_PIECE {
                long_piece(&self.vocab, &s[a..b], emit, &mut state.err);
                continue;
            }
            match cache.get(probe, len) {
                Some(Hit::Inline(ids, count)) => emit.push_cached(ids, count),
                Some(Hit::Spilled(tokens)) => emit.push_all(tokens),
                None => {
                    state.misses += 1;
                    missed_piece(&self.vocab, cache, probe, &s[a..b], emit, &mut state.err);
                }
            }
        }
    }

    /// A piece of a count's batch that the first pass did not find: a long one, or a miss
    /// (which an earlier miss of the batch may have put in the cache since).
    #[inline(never)]
    fn uncached_piece<S: TokenSink>(
        &self,
        s: &[u8],
        (a, b): (usize, usize),
        probe: Probe,
        cache: &mut PieceCache,
        emit: &mut S,
        state: &mut BatchState,
    ) {
        let len = b - a;
        if len > piece_cache::MAX_PIECE {
            long_piece(&self.vocab, &s[a..b], emit, &mut state.err);
        } else if let Some(count) = cache.get_count(probe, len) {
            emit.push_count(count);
        } else {
            state.misses += 1;
            missed_piece(&self.vocab, cache, probe, &s[a..b], emit, &mut state.err);
        }
    }

    /// The tokens of each piece without the piece cache, each piece's vocabulary slot starting
    /// to load as the pre-tokenizer finds it.
    fn ordinary_tokens_uncached(
        &self,
        text: &str,
        emit: &mut impl TokenSink,
    ) -> Result<(), EncodeError> {
        let vocab = &self.vocab;
        let s = text.as_bytes();
        let mut err = None;
        self.pretok.for_each_batch_with(
            text,
            |(), a, b| vocab.prepare(&s[a..b]),
            |spans, keys| {
                for (&key, &(a, b)) in keys.iter().zip(spans) {
                    let piece = &s[a..b];
                    let found = match vocab.rank_prepared(piece, key) {
                        Some(rank) => {
                            emit.push(rank);
                            Ok(())
                        }
                        None => bpe::encode_unranked(vocab, piece, &mut |t| emit.push(t)),
                    };
                    if let Err(e) = found {
                        err = Some(e);
                    }
                }
            },
        )?;
        match err {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Splits text at allowed special tokens, as tiktoken: the text between them is
    /// pre-tokenized on its own, so patterns anchored at the end (`\s++$`) see each segment's end.
    fn for_each_segment<'t>(
        &self,
        text: &'t str,
        allowed: &SpecialSet,
        mut f: impl FnMut(Segment<'t>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let bytes = text.as_bytes();
        let mut start = 0;
        let mut search_from = 0;
        while search_from <= bytes.len() {
            let Some((s, e, idx)) = allowed
                .find(&bytes[search_from..])
                .map(|(s, e, i)| (s + search_from, e + search_from, i))
            else {
                break;
            };
            let Some(rank) = allowed.entries[idx].1 else {
                // Not a special token of this encoding: ordinary text. Look again one char on.
                search_from = s + crate::unicode::char_at(bytes, s).1;
                continue;
            };
            f(Segment::Text(&text[start..s]))?;
            f(Segment::Special(rank))?;
            start = e;
            search_from = e;
        }
        f(Segment::Text(&text[start..]))
    }

    /// The bytes of a token, ordinary or special.
    #[inline]
    pub fn token_bytes(&self, token: Rank) -> Option<&[u8]> {
        self.vocab.token_bytes(token).or_else(|| {
            self.special_by_rank
                .get(&token)
                .map(|&i| self.specials[i].0.as_bytes())
        })
    }

    /// The bytes the tokens stand for.
    pub fn decode_bytes(&self, tokens: &[i64]) -> Result<Vec<u8>, InvalidToken> {
        let mut out = Vec::with_capacity(tokens.len() * 4);
        for &t in tokens {
            let bytes = Rank::try_from(t)
                .ok()
                .and_then(|r| self.token_bytes(r))
                .ok_or(InvalidToken(t))?;
            out.extend_from_slice(bytes);
        }
        Ok(out)
    }

    /// The token of exactly these bytes, ordinary or special.
    pub fn encode_single_token(&self, bytes: &[u8]) -> Option<Rank> {
        self.vocab.rank(bytes).or_else(|| {
            self.specials
                .iter()
                .find(|(t, _)| t.as_bytes() == bytes)
                .map(|s| s.1)
        })
    }

    /// BPE of bytes taken as one piece, without pre-tokenization or special tokens.
    pub fn encode_single_piece(&self, bytes: &[u8]) -> Result<Vec<Rank>, EncodeError> {
        let mut out = Vec::new();
        if !bytes.is_empty() {
            bpe::encode_piece(&self.vocab, bytes, &mut |r| out.push(r))?;
        }
        Ok(out)
    }

    /// Whether `token` is a special token's id.
    pub fn is_special_token(&self, token: Rank) -> bool {
        self.special_by_rank.contains_key(&token)
    }

    /// The bytes of every ordinary token, sorted (tiktoken's `token_byte_values`).
    pub fn token_byte_values(&self) -> Vec<&[u8]> {
        let mut values: Vec<&[u8]> = self.vocab.iter().map(|(b, _)| b).collect();
        values.sort_unstable();
        values
    }
}

enum Segment<'t> {
    Text(&'t str),
    Special(Rank),
}

/// What the batches of one text carry from one to the next.
#[derive(Default)]
struct BatchState {
    /// Misses in the batch before.
    misses: usize,
    /// A piece that had no tokens (a byte the vocabulary lacks).
    err: Option<MissingByte>,
}

impl BatchState {
    fn finish(self) -> Result<(), EncodeError> {
        match self.err {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

/// The tokens of a piece longer than the piece cache keeps (see `bpe::encode_long_piece`).
/// Out of line, so the lookup loop keeps its registers.
#[inline(never)]
/// Room for the tokens of `text` before it is encoded: half a token a byte. Prose and code
/// take a fifth to a quarter, text in other scripts more (cl100k: 0.41 a byte of the
/// multilingual corpus), which with a quarter grew the vector once, copying what it held
/// (encode of that text, best of 3 alternating pinned runs: 2.747 -> 2.703 ms); room never
/// written is never copied. CJK and random text (up to a token a byte) still grow it.
fn token_capacity(text: &str) -> usize {
    text.len() / 2 + 1
}

fn long_piece(
    vocab: &Vocab,
    piece: &[u8],
    emit: &mut impl TokenSink,
    err: &mut Option<MissingByte>,
) {
    if let Err(e) = bpe::encode_long_piece(vocab, piece, &mut |t| emit.push(t)) {
        *err = Some(e);
    }
}

/// The tokens of a short piece the cache does not hold yet, which it then keeps. Out of line:
/// once a text's pieces are known, it rarely runs.
#[cold]
#[inline(never)]
fn missed_piece(
    vocab: &Vocab,
    cache: &mut PieceCache,
    probe: Probe,
    piece: &[u8],
    emit: &mut impl TokenSink,
    err: &mut Option<MissingByte>,
) {
    // A piece of MAX_PIECE bytes has at most that many tokens.
    let mut tokens = [0; piece_cache::MAX_PIECE];
    let mut n = 0;
    let found = bpe::encode_piece_behind_cache(vocab, piece, &mut |t| {
        if n < tokens.len() {
            tokens[n] = t;
        }
        n += 1;
        emit.push(t);
    });
    match found {
        Ok(()) if n <= tokens.len() => cache.put(probe, piece.len(), &tokens[..n]),
        Ok(()) => {}
        Err(e) => *err = Some(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;

    #[test]
    fn specials_split_segments_like_tiktoken() {
        let enc = builtin::get("cl100k_base").unwrap();
        let all = enc.special_set(enc.specials().iter().map(|s| s.0.clone()));
        let text = "hello <|endoftext|> there";
        assert_eq!(
            enc.encode(text, &all).unwrap(),
            vec![15339, 220, 100257, 1070]
        );
        assert_eq!(enc.count(text, &all).unwrap(), 4);
        let none = enc.special_set(Vec::new());
        assert_eq!(
            enc.encode(text, &none).unwrap(),
            enc.encode_ordinary(text).unwrap()
        );
        assert_eq!(
            enc.encode_checked(text, &none, Some(enc.all_specials())),
            Err(EncodeError::Disallowed("<|endoftext|>".into()))
        );
        let odd = enc.special_set(vec!["there".to_string()]);
        assert_eq!(
            enc.count_checked(text, &all, Some(&odd)),
            Err(EncodeError::Disallowed("there".into()))
        );
        // A string that is not a special token is never encoded as one.
        assert_eq!(enc.encode("there", &odd).unwrap(), vec![19041]);
    }

    #[test]
    fn call_specials_follow_tiktokens_arguments() {
        let enc = builtin::get("cl100k_base").unwrap();
        let text = "hi <|endoftext|> <|fim_prefix|> there";
        let strings = |s: &[&str]| Some(s.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let encode = |s: &Specials| enc.encode_with(text, s);
        let count = |s: &Specials| enc.count_with(text, s, None);
        fn refused<T>(token: &str) -> Result<T, EncodeError> {
            Err(EncodeError::Disallowed(token.into()))
        }
        // The default: nothing allowed, every special token refused.
        let default = enc.prepare_specials(strings(&[]), None);
        assert_eq!(encode(&default), refused("<|endoftext|>"));
        assert_eq!(count(&default), refused("<|endoftext|>"));
        // Ordinary: nothing allowed or refused.
        let ordinary = Specials::default();
        assert_eq!(encode(&ordinary), enc.encode_ordinary(text));
        assert_eq!(count(&ordinary), enc.count_ordinary(text));
        assert_eq!(
            enc.prepare_specials(strings(&[]), strings(&[]))
                .parts(1 << 30, Some(4)),
            4 * crate::threads::PARTS_PER_THREAD
        );
        // "all" allowed: each special token encoded as such, nothing refused.
        let all = enc.prepare_specials(None, None);
        assert_eq!(encode(&all), Ok(vec![6151, 220, 100257, 220, 100258, 1070]));
        assert_eq!(count(&all), Ok(6));
        assert_eq!(
            all.parts(1 << 30, Some(4)),
            1,
            "a text with specials stays whole"
        );
        // One allowed, the rest ("all") refused; or refused only where named.
        let one = enc.prepare_specials(strings(&["<|endoftext|>"]), None);
        assert_eq!(encode(&one), refused("<|fim_prefix|>"));
        let named = enc.prepare_specials(strings(&["<|endoftext|>"]), strings(&["there"]));
        assert_eq!(count(&named), refused("there"));
        let unrefused = enc.prepare_specials(strings(&["<|endoftext|>"]), strings(&[]));
        let tokens = encode(&unrefused).unwrap();
        assert_eq!(tokens[2], 100257);
        assert_eq!(count(&unrefused), Ok(tokens.len()));
        // In parts, the same tokens as whole.
        let long = "Hello, world! It's 2024.\n".repeat(20_000);
        let pool = crate::threads::pool(Some(2)).unwrap();
        let split = Some(Split {
            pool: &pool,
            parts: 3,
        });
        for s in [&default, &ordinary] {
            let whole = enc.encode_with(&long, s).unwrap();
            let parts = enc.encode_parts_with(&long, s, split).unwrap();
            assert_eq!(parts.len(), 3);
            assert_eq!(parts.concat(), whole);
            assert_eq!(enc.count_with(&long, s, split).unwrap(), whole.len());
        }
    }

    #[test]
    fn independent_parts_encode_like_the_whole() {
        let text = "Hello, world! It's 2024.\n\tfn main() { let x = 12345; }\n日本語 and more "
            .repeat(500);
        let pool = crate::threads::pool(Some(3)).unwrap();
        for name in ["cl100k_base", "o200k_base", "r50k_base"] {
            let enc = builtin::get(name).unwrap();
            let whole = enc.encode_ordinary(&text).unwrap();
            for parts in [1, 2, 3, 7, 64] {
                let split = Split { pool: &pool, parts };
                let ranges = enc.independent_parts(&text, parts);
                assert!(ranges.len() <= parts.max(1));
                assert_eq!(ranges.first().unwrap().start, 0);
                assert_eq!(ranges.last().unwrap().end, text.len());
                assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
                if parts > 1 {
                    assert!(ranges.len() > 1, "{name}: no cut found");
                }
                assert_eq!(
                    enc.encode_ordinary_parallel(&text, None, split).unwrap(),
                    whole
                );
                assert_eq!(
                    enc.count_ordinary_parallel(&text, None, split).unwrap(),
                    whole.len()
                );
            }
        }
        // One long piece has no safe cut: it stays whole, and still encodes right.
        let four = Split {
            pool: &pool,
            parts: 4,
        };
        let enc = builtin::get("o200k_base").unwrap();
        let run = "a".repeat(10_000);
        assert_eq!(enc.independent_parts(&run, 4), vec![0..run.len()]);
        assert_eq!(
            enc.encode_ordinary_parallel(&run, None, four).unwrap(),
            enc.encode_ordinary(&run).unwrap()
        );
        let special = format!("{run} <|endoftext|> {run}");
        assert_eq!(
            enc.count_ordinary_parallel(&special, Some(enc.all_specials()), four),
            Err(EncodeError::Disallowed("<|endoftext|>".into()))
        );
        assert_eq!(enc.independent_parts("", 4), vec![0..0]);
    }

    #[test]
    fn the_piece_cache_changes_no_token() {
        let text = "Hello, world! It's 2024.\n\tfn main() { let x = 12345; }\n日本語 and more \
                    internationalization supercalifragilistic  \u{0}\u{0}x end";
        for name in ["cl100k_base", "o200k_base", "r50k_base"] {
            let enc = builtin::get(name).unwrap();
            // Each suffix ends a text at a different piece, so pieces are read without a
            // 16-byte window too; the second round answers from the cache.
            for start in text.char_indices().map(|c| c.0).step_by(3) {
                let t = &text[start..];
                let mut plain = Vec::new();
                enc.ordinary_tokens_uncached(t, &mut |r| plain.push(r))
                    .unwrap();
                for _ in 0..2 {
                    assert_eq!(enc.encode_ordinary(t).unwrap(), plain, "{name}: {t:?}");
                }
                // Every copy of the loop this CPU runs: the one chosen for it (AVX-512 or
                // x86-64-v3 where it has them), x86-64-v3, and the baseline.
                piece_cache::with_cache(enc.vocab().id(), |cache| {
                    let cache = cache.expect("a cache");
                    let mut fast = Vec::new();
                    enc.ordinary_tokens_cached(t, cache, &mut |r| fast.push(r))
                        .unwrap();
                    assert_eq!(fast, plain);
                    #[cfg(target_arch = "x86_64")]
                    if let Some(k) = Avx2::detect() {
                        let mut v3 = Vec::new();
                        // SAFETY: `k` proves the CPU has the features.
                        unsafe { enc.cached_batches_v3(t, cache, &mut |r| v3.push(r), k) }.unwrap();
                        assert_eq!(v3, plain);
                    }
                    let mut base = Vec::new();
                    enc.cached_batches(t, cache, &mut |r| base.push(r), Lanes16)
                        .unwrap();
                    assert_eq!(base, plain);
                });
            }
        }
    }

    #[test]
    fn decode_refuses_unknown_ids() {
        let enc = builtin::get("cl100k_base").unwrap();
        assert_eq!(
            enc.decode_bytes(&[15339, 100257]).unwrap(),
            b"hello<|endoftext|>"
        );
        assert_eq!(enc.decode_bytes(&[100256]), Err(InvalidToken(100256)));
        assert_eq!(enc.decode_bytes(&[-1]), Err(InvalidToken(-1)));
        assert_eq!(enc.decode_bytes(&[1 << 40]), Err(InvalidToken(1 << 40)));
    }

    #[test]
    fn special_ids_and_sorted_token_bytes() {
        let enc = builtin::get("o200k_harmony").unwrap();
        assert!(enc.is_special_token(199999));
        assert!(!enc.is_special_token(15339));
        assert!(!enc.is_special_token(Rank::MAX));
        // Every special token's id, those that share one included.
        assert!(enc.specials().iter().all(|s| enc.is_special_token(s.1)));
        let values = builtin::get("r50k_base").unwrap().token_byte_values();
        assert_eq!(values.len(), 50256);
        assert!(values.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(values[0], b"\x00");
    }
}
