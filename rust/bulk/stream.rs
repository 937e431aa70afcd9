//! Counting a byte stream of any size in bounded memory: bytes are decoded as UTF-8 as they
//! come (a char split between two reads is carried over), the text is cut into chunks only at
//! safe places (see [`super::cut`]), and each chunk is counted and dropped. The total is the
//! count of the whole text decoded at once.
//!
//! Text that is one long piece (no safe cut for megabytes) is cut at joins instead: the piece
//! that runs across a join is fed in parts to a merger that holds only its unfinished end
//! ([`LongPiece`]), so it too is counted in bounded memory.

use std::borrow::Cow;
use std::ops::Deref;

use rayon::prelude::*;

use super::cut::{CutRule, Place, Scan, LOWER_STAND_IN};
use super::BadOption;
use crate::bpe::long::LongPiece;
use crate::bpe::{self, MissingByte};
use crate::encoding::{EncodeError, Encoding};

/// Files whose first bytes hold a NUL byte are binary (as git and grep judge).
pub const SNIFF_BYTES: usize = 8192;

/// Chunks counted at once are cut near this size by default.
pub const DEFAULT_CHUNK_BYTES: usize = 256 * 1024;

/// What to do with bytes that are not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undecodable {
    /// Count U+FFFD in their place, as Python's `bytes.decode("utf-8", "replace")` does.
    Replace,
    /// Give up on the stream: [`StreamError::Undecodable`].
    Refuse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOptions {
    /// Target size of a chunk, in bytes of text.
    pub chunk_bytes: usize,
    pub undecodable: Undecodable,
    /// Refuse streams with a NUL byte in their first [`SNIFF_BYTES`].
    pub skip_binary: bool,
    /// Count the chunks ready at once on Rust threads (else one after another).
    pub parallel: bool,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            undecodable: Undecodable::Replace,
            skip_binary: true,
            parallel: true,
        }
    }
}

impl Undecodable {
    /// The mode a caller names: "replace", or "skip" (the stream is refused, and skipped).
    pub fn named(name: &str) -> Result<Self, BadOption> {
        match name {
            "replace" => Ok(Undecodable::Replace),
            "skip" => Ok(Undecodable::Refuse),
            _ => Err(BadOption(format!(
                "undecodable must be 'replace' or 'skip', got {name:?}"
            ))),
        }
    }
}

impl StreamOptions {
    /// The options a caller gives, checked: the `undecodable` mode by name and a `chunk_bytes`
    /// of at least 1; chunks ready together are counted in parallel.
    pub fn checked(
        undecodable: &str,
        skip_binary: bool,
        chunk_bytes: usize,
    ) -> Result<Self, BadOption> {
        if chunk_bytes == 0 {
            return Err(BadOption("chunk_bytes must be at least 1".into()));
        }
        Ok(StreamOptions {
            chunk_bytes,
            undecodable: Undecodable::named(undecodable)?,
            skip_binary,
            parallel: true,
        })
    }
}

/// Why a stream was not counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// A NUL byte among the first bytes.
    Binary,
    /// Bytes that are not UTF-8, first at this offset (with [`Undecodable::Refuse`]).
    Undecodable { offset: u64 },
    /// The encoding failed on the text (a custom vocabulary missing a byte, say).
    Encode(EncodeError),
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Binary => write!(f, "binary file (a NUL byte in its first bytes)"),
            StreamError::Undecodable { offset } => {
                write!(f, "not UTF-8 (first bad byte at offset {offset})")
            }
            StreamError::Encode(e) => write!(f, "{e}"),
        }
    }
}

/// The count of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counted {
    pub tokens: u64,
    /// Bytes read (before decoding).
    pub bytes: u64,
}

/// Incremental UTF-8 decoding: [`Utf8Stream::push`] appends the text of the bytes given so far,
/// holding back an incomplete char at the end until the next bytes (or the end) decide it.
/// With [`Undecodable::Replace`], each maximal invalid subsequence becomes one U+FFFD, the
/// Unicode-recommended practice that Rust's `from_utf8_lossy` and Python's decoder follow.
#[derive(Debug)]
pub struct Utf8Stream {
    mode: Undecodable,
    /// Bytes of an incomplete char held back (at most 3).
    held: Vec<u8>,
    /// Offset in the stream of `held[0]`, or of the next byte when nothing is held.
    offset: u64,
}

impl Utf8Stream {
    pub fn new(mode: Undecodable) -> Self {
        Utf8Stream {
            mode,
            held: Vec::new(),
            offset: 0,
        }
    }

    /// Appends the text of `data` to `out`. Err(offset) on the first bad byte when refusing.
    pub fn push(&mut self, data: &[u8], out: &mut String) -> Result<(), u64> {
        if self.held.is_empty() {
            return self.decode(data, out, false);
        }
        // The held bytes start a char (or a bad sequence): settle it with the few bytes of
        // `data` it needs, then decode the rest of `data` as usual.
        let mut joined = std::mem::take(&mut self.held);
        let held = joined.len();
        joined.extend_from_slice(&data[..data.len().min(4 - held)]);
        let used = match std::str::from_utf8(&joined) {
            Ok(_) => char_len(joined[0]),
            Err(e) if e.valid_up_to() > 0 => char_len(joined[0]),
            Err(e) => match e.error_len() {
                // Still incomplete: `data` was too short to decide; hold it all.
                None => {
                    self.held = joined;
                    return Ok(());
                }
                Some(n) => {
                    if self.mode == Undecodable::Refuse {
                        return Err(self.offset);
                    }
                    out.push(char::REPLACEMENT_CHARACTER);
                    self.offset += n as u64;
                    // A held prefix is valid as far as it goes, so the bad sequence is at least
                    // as long as it.
                    return self.decode(&data[n - held..], out, false);
                }
            },
        };
        out.push_str(std::str::from_utf8(&joined[..used]).unwrap_or("\u{FFFD}"));
        self.offset += used as u64;
        self.decode(&data[used - held..], out, false)
    }

    /// Ends the stream: an incomplete char left over is undecodable.
    pub fn finish(&mut self, out: &mut String) -> Result<(), u64> {
        let held = std::mem::take(&mut self.held);
        self.decode(&held, out, true)
    }

    fn decode(&mut self, data: &[u8], out: &mut String, end: bool) -> Result<(), u64> {
        let mut i = 0;
        while i < data.len() {
            match std::str::from_utf8(&data[i..]) {
                Ok(s) => {
                    out.push_str(s);
                    i = data.len();
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // Valid by `valid_up_to`.
                    out.push_str(std::str::from_utf8(&data[i..i + valid]).unwrap_or_default());
                    i += valid;
                    match e.error_len() {
                        Some(n) => {
                            if self.mode == Undecodable::Refuse {
                                return Err(self.offset + i as u64);
                            }
                            out.push(char::REPLACEMENT_CHARACTER);
                            i += n;
                        }
                        None if end => {
                            if self.mode == Undecodable::Refuse {
                                return Err(self.offset + i as u64);
                            }
                            out.push(char::REPLACEMENT_CHARACTER);
                            i = data.len();
                        }
                        None => {
                            self.held.extend_from_slice(&data[i..]);
                            self.offset += i as u64;
                            return Ok(());
                        }
                    }
                }
            }
        }
        self.offset += data.len() as u64;
        Ok(())
    }
}

/// Length of the UTF-8 char whose first byte is `b` (a valid first byte).
fn char_len(b: u8) -> usize {
    match b {
        0..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// Counts a stream fed in pieces of any size; memory stays near twice the chunk size plus the
/// largest piece fed, whatever the stream's length. (Text with neither a safe cut nor a join,
/// such as a long run of whitespace or of r50k digits, is held until one comes.)
///
/// `E` is how the counter holds its encoding: `&Encoding`, or anything that derefs to one.
pub struct StreamCounter<E> {
    enc: E,
    rule: CutRule,
    opts: StreamOptions,
    decoder: Utf8Stream,
    /// Decoded text not yet counted.
    text: String,
    /// Bytes of `text` before this were searched for a cut without success; the scan state
    /// there.
    searched: usize,
    searched_scan: Scan,
    /// The scan state at the start of `text`.
    scan: Scan,
    /// Whether `text` starts inside a piece begun before it (cut at a join), and the join's
    /// stand-in flag.
    joined: Option<bool>,
    /// The piece that runs across the joins.
    long: LongPiece,
    counted: Counted,
}

impl<E: Deref<Target = Encoding> + Sync> StreamCounter<E> {
    pub fn new(enc: E, opts: StreamOptions) -> Self {
        StreamCounter {
            rule: CutRule::for_pattern(&enc.pattern),
            enc,
            opts: StreamOptions {
                chunk_bytes: opts.chunk_bytes.max(1),
                ..opts
            },
            decoder: Utf8Stream::new(opts.undecodable),
            text: String::new(),
            searched: 0,
            searched_scan: Scan::default(),
            scan: Scan::default(),
            joined: None,
            long: LongPiece::new(),
            counted: Counted::default(),
        }
    }

    /// Bytes of text and of the long piece held now (for tests of the memory bound).
    pub fn held(&self) -> usize {
        self.text.len() + self.long.held().0
    }

    /// Tokens counted so far and bytes fed so far.
    pub fn progress(&self) -> Counted {
        self.counted
    }

    /// Feeds the next bytes of the stream; counts the chunks they complete.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), StreamError> {
        if self.opts.skip_binary && self.counted.bytes < SNIFF_BYTES as u64 {
            let n = data.len().min(SNIFF_BYTES - self.counted.bytes as usize);
            if memchr::memchr(0, &data[..n]).is_some() {
                return Err(StreamError::Binary);
            }
        }
        self.counted.bytes += data.len() as u64;
        self.decoder
            .push(data, &mut self.text)
            .map_err(|offset| StreamError::Undecodable { offset })?;
        self.count_ready(false)
    }

    /// Ends the stream: counts what is left and gives the totals. The counter is spent: feed
    /// it nothing more.
    pub fn finish(&mut self) -> Result<Counted, StreamError> {
        self.decoder
            .finish(&mut self.text)
            .map_err(|offset| StreamError::Undecodable { offset })?;
        self.count_ready(true)?;
        Ok(self.counted)
    }

    /// Cuts the pending text at safe places (or joins) every `chunk_bytes` or so and counts
    /// the chunks; at the end, counts everything.
    fn count_ready(&mut self, end: bool) -> Result<(), StreamError> {
        let target = self.opts.chunk_bytes;
        let text = self.text.as_str();
        // Each bound: where, and whether a piece continues across it (with its stand-in flag).
        let mut bounds: Vec<(usize, Option<bool>)> = vec![(0, self.joined)];
        let (mut start, mut scan) = (0, self.scan);
        while text.len() - start >= target {
            let mut from = start + target;
            while !text.is_char_boundary(from) {
                from += 1;
            }
            let (from, at) = if self.searched > from {
                (self.searched, self.searched_scan)
            } else {
                (from, self.rule.scan(text, start, from, scan))
            };
            match self.rule.next_place(text, from, at) {
                (Some((p, place)), at) => {
                    let join = match place {
                        Place::Cut => None,
                        Place::Join { lower } => Some(lower),
                    };
                    bounds.push((p, join));
                    (start, scan) = (p, at);
                }
                (None, at) => {
                    (self.searched, self.searched_scan) = (text.len(), at);
                    break;
                }
            }
        }
        if end && start < text.len() {
            bounds.push((text.len(), None));
        }
        let last = bounds.last().map_or(0, |b| b.0);
        if last == 0 {
            return Ok(());
        }
        let enc: &Encoding = &self.enc;
        let count = |w: &[(usize, Option<bool>)]| {
            count_chunk(enc, &text[w[0].0..w[1].0], w[0].1, w[1].1.is_some())
        };
        let chunks: Vec<Result<ChunkCount, EncodeError>> = if self.opts.parallel && bounds.len() > 2
        {
            bounds.par_windows(2).map(count).collect()
        } else {
            bounds.windows(2).map(count).collect()
        };
        // The pieces across joins, in order.
        let vocab = enc.vocab();
        let (mut tokens, mut across) = (0u64, 0u64);
        let mut add = |_| across += 1;
        for (w, chunk) in bounds.windows(2).zip(chunks) {
            let chunk = chunk.map_err(StreamError::Encode)?;
            let (text, join_left, join_right) = (&text[w[0].0..w[1].0], w[0].1, w[1].1.is_some());
            let through = chunk.pieces == 1 && join_left.is_some() && join_right;
            if join_left.is_some() {
                self.long
                    .push(vocab, text[chunk.first.clone()].as_bytes(), &mut add)
                    .map_err(missing)?;
                if !through {
                    self.long.finish(vocab, &mut add).map_err(missing)?;
                }
            }
            tokens += chunk.interior as u64;
            if join_right && !through {
                self.long
                    .push(vocab, text[chunk.last.clone()].as_bytes(), &mut add)
                    .map_err(missing)?;
            }
        }
        self.counted.tokens += tokens + across;
        self.joined = bounds.last().and_then(|b| b.1);
        self.scan = scan;
        self.text.drain(..last);
        self.searched = self.searched.saturating_sub(last);
        if self.text.capacity() > 4 * target.max(self.text.len()) {
            self.text.shrink_to(2 * target);
        }
        Ok(())
    }
}

fn missing(e: MissingByte) -> StreamError {
    StreamError::Encode(e.into())
}

/// A chunk's count: its pieces but those running across a join on either side, and where
/// those are.
struct ChunkCount {
    interior: usize,
    pieces: usize,
    first: std::ops::Range<usize>,
    last: std::ops::Range<usize>,
}

/// Counts a chunk. `join_left`: it starts inside a piece (and whether to pre-tokenize it behind
/// the stand-in); `join_right`: its last piece goes on in the next chunk.
fn count_chunk(
    enc: &Encoding,
    chunk: &str,
    join_left: Option<bool>,
    join_right: bool,
) -> Result<ChunkCount, EncodeError> {
    if join_left.is_none() && !join_right {
        let interior = enc.count_ordinary(chunk)?;
        return Ok(ChunkCount {
            interior,
            pieces: 0,
            first: 0..0,
            last: 0..0,
        });
    }
    let stand_in = join_left == Some(true);
    let owned;
    let text = if stand_in {
        owned = format!("{LOWER_STAND_IN}{chunk}");
        owned.as_str()
    } else {
        chunk
    };
    let shift = if stand_in { LOWER_STAND_IN.len() } else { 0 };
    let vocab = enc.vocab();
    let base = text.as_ptr() as usize;
    let (mut pieces, mut interior) = (0usize, 0usize);
    let (mut first, mut prev) = (0..0, 0..0);
    let mut err = None;
    let range = |piece: &[u8]| {
        let at = piece.as_ptr() as usize - base;
        at.saturating_sub(shift)..at + piece.len() - shift
    };
    enc.pretokenizer().for_each_piece(text, |piece| {
        let r = range(piece);
        pieces += 1;
        if pieces == 1 {
            first = r.clone();
        } else if pieces > 2 || join_left.is_none() {
            // The piece before this one is inside the chunk.
            match bpe::count_piece(vocab, &chunk.as_bytes()[prev.clone()]) {
                Ok(n) => interior += n,
                Err(e) => err = Some(e),
            }
        }
        prev = r;
    })?;
    if let Some(e) = err {
        return Err(e.into());
    }
    // The last piece, unless a join takes it (or it is the first, taken by the join before).
    let taken_by_a_join = join_right || (pieces == 1 && join_left.is_some());
    if !taken_by_a_join && pieces > 0 {
        interior += bpe::count_piece(vocab, &chunk.as_bytes()[prev.clone()])?;
    }
    Ok(ChunkCount {
        interior,
        pieces,
        first,
        last: prev,
    })
}

/// The text of bytes decoded whole, as the stream decoder does (for tests and small inputs).
pub fn decode_all(data: &[u8], mode: Undecodable) -> Result<Cow<'_, str>, u64> {
    match mode {
        Undecodable::Replace => Ok(String::from_utf8_lossy(data)),
        Undecodable::Refuse => std::str::from_utf8(data)
            .map(Cow::Borrowed)
            .map_err(|e| e.valid_up_to() as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;
    use proptest::prelude::*;

    fn decode_in_pieces(data: &[u8], cuts: &[usize], mode: Undecodable) -> Result<String, u64> {
        let mut d = Utf8Stream::new(mode);
        let mut out = String::new();
        let mut at = 0;
        for &c in cuts {
            let c = c.clamp(at, data.len());
            d.push(&data[at..c], &mut out)?;
            at = c;
        }
        d.push(&data[at..], &mut out)?;
        d.finish(&mut out)?;
        Ok(out)
    }

    fn count_in_pieces(
        enc: &Encoding,
        data: &[u8],
        cuts: &[usize],
        opts: StreamOptions,
    ) -> Result<Counted, StreamError> {
        let mut c = StreamCounter::new(enc, opts);
        let mut at = 0;
        for &cut in cuts {
            let cut = cut.clamp(at, data.len());
            c.feed(&data[at..cut])?;
            at = cut;
        }
        c.feed(&data[at..])?;
        c.finish()
    }

    #[test]
    fn split_chars_and_bad_bytes_decode_as_whole() {
        let data = "aé日😀b".as_bytes();
        for cut in 0..=data.len() {
            let got = decode_in_pieces(data, &[cut], Undecodable::Refuse).unwrap();
            assert_eq!(got, "aé日😀b");
        }
        let bad = b"a\xe6\x97\xff\xf0\x9f\x98b\xed\xa0\x80\xc3";
        let want = String::from_utf8_lossy(bad).into_owned();
        for cut in 0..=bad.len() {
            for cut2 in cut..=bad.len() {
                let got = decode_in_pieces(bad, &[cut, cut2], Undecodable::Replace).unwrap();
                assert_eq!(got, want, "cuts {cut} {cut2}");
            }
        }
        assert_eq!(decode_in_pieces(bad, &[2], Undecodable::Refuse), Err(1));
        assert_eq!(
            decode_in_pieces(b"ab\xe6\x97", &[3], Undecodable::Refuse),
            Err(2)
        );
    }

    #[test]
    fn options_are_checked_by_name() {
        let opts = StreamOptions::checked("skip", false, 10).unwrap();
        assert_eq!(opts.undecodable, Undecodable::Refuse);
        assert_eq!(
            (opts.chunk_bytes, opts.skip_binary, opts.parallel),
            (10, false, true)
        );
        assert_eq!(
            StreamOptions::checked("replace", true, 1)
                .unwrap()
                .undecodable,
            Undecodable::Replace
        );
        assert_eq!(
            StreamOptions::checked("ignore", true, 10),
            Err(BadOption(
                "undecodable must be 'replace' or 'skip', got \"ignore\"".into()
            ))
        );
        assert_eq!(
            StreamOptions::checked("replace", true, 0),
            Err(BadOption("chunk_bytes must be at least 1".into()))
        );
    }

    #[test]
    fn binary_streams_are_refused_before_counting() {
        let enc = builtin::get("cl100k_base").unwrap();
        let mut data = b"hello".repeat(100);
        data.push(0);
        let opts = StreamOptions::default();
        assert_eq!(
            count_in_pieces(enc, &data, &[3, 200], opts),
            Err(StreamError::Binary)
        );
        // A NUL after the first bytes is text.
        let mut late = b"x".repeat(SNIFF_BYTES);
        late.push(0);
        assert!(count_in_pieces(enc, &late, &[SNIFF_BYTES - 1], opts).is_ok());
        let counted = StreamOptions {
            skip_binary: false,
            ..opts
        };
        assert!(count_in_pieces(enc, &data, &[], counted).is_ok());
    }

    #[test]
    fn memory_stays_bounded_on_a_long_stream() {
        let enc = builtin::get("o200k_base").unwrap();
        let opts = StreamOptions {
            chunk_bytes: 4096,
            ..StreamOptions::default()
        };
        let mut c = StreamCounter::new(enc, opts);
        let line = "The quick brown fox jumps over the lazy dog, 12 times.\n".repeat(100);
        let mut whole = 0;
        for _ in 0..200 {
            c.feed(line.as_bytes()).unwrap();
            whole += enc.count_ordinary(&line).unwrap() as u64;
            assert!(c.text.len() < 4096 + line.len() + 100, "{}", c.text.len());
        }
        assert_eq!(c.finish().unwrap().tokens, whole);
    }

    #[test]
    fn one_long_line_of_minified_json_stays_bounded_too() {
        let enc = builtin::get("cl100k_base").unwrap();
        let opts = StreamOptions {
            chunk_bytes: 4096,
            ..StreamOptions::default()
        };
        let mut c = StreamCounter::new(enc, opts);
        let record = r#"{"id":12345,"text":"don't stop","tags":["a","b"],"ok":true},"#;
        let mut whole = String::new();
        for _ in 0..3000 {
            c.feed(record.as_bytes()).unwrap();
            whole.push_str(record);
            assert!(c.text.len() < 4096 + 2 * record.len(), "{}", c.text.len());
        }
        assert_eq!(
            c.finish().unwrap().tokens as usize,
            enc.count_ordinary(&whole).unwrap()
        );
    }

    #[test]
    fn text_without_safe_cuts_is_counted_whole() {
        let enc = builtin::get("cl100k_base").unwrap();
        let word = "abc".repeat(5000);
        let opts = StreamOptions {
            chunk_bytes: 100,
            ..StreamOptions::default()
        };
        let got = count_in_pieces(enc, word.as_bytes(), &[10, 7000], opts).unwrap();
        assert_eq!(got.tokens as usize, enc.count_ordinary(&word).unwrap());
        assert_eq!(got.bytes, word.len() as u64);
    }

    #[test]
    fn one_long_piece_is_counted_in_bounded_memory() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let cjk: String = (0..1_500_000)
            .map(|_| char::from_u32(0x4E00 + (next() % 0x5000) as u32).unwrap())
            .collect();
        let texts = ["a".repeat(6_000_000), cjk, "=".repeat(3_000_000)];
        for name in ["cl100k_base", "o200k_base", "r50k_base"] {
            let enc = builtin::get(name).unwrap();
            for text in &texts {
                let opts = StreamOptions {
                    chunk_bytes: 64 * 1024,
                    ..StreamOptions::default()
                };
                let mut c = StreamCounter::new(enc, opts);
                let mut most = 0;
                for block in text.as_bytes().chunks(1 << 20) {
                    c.feed(block).unwrap();
                    most = most.max(c.held());
                }
                let got = c.finish().unwrap();
                assert_eq!(
                    got.tokens as usize,
                    enc.count_ordinary(text).unwrap(),
                    "{name}"
                );
                // The 1 MiB block just fed, a few chunks, and the long piece's unfinished end.
                assert!(
                    most < 1 << 20,
                    "{name}: held {most} bytes of {}",
                    text.len()
                );
            }
        }
    }

    fn bytes_strategy() -> impl Strategy<Value = Vec<u8>> {
        let pieces = prop_oneof![
            6 => prop::sample::select(vec![
                " ", "  ", "\n", "\n\n", "\r\n", "\t", "/", "'s", "'ll", "Hello", "world", "DON'T",
                "x", "12345", "ab12", ".", "!!", "日本語", "é", "\u{301}", "\u{3000}", "\u{85}",
                "😀", "ſ", "Ⅻ", "<|endoftext|>", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "日本語日本語日本語日本語", "ABCDEFGHIJ", "===========", "中文中文ab中文Ef",
                "ʰʰʰʰʰ", "dontcare'll",
            ]).prop_map(|s| s.as_bytes().to_vec()),
            1 => prop::collection::vec(any::<u8>(), 1..4),
            1 => any::<char>().prop_map(|c| c.to_string().into_bytes()),
        ];
        prop::collection::vec(pieces, 0..60).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(crate::test_cases::cases(400))]
        /// Any chunk size, any way of feeding, bad bytes anywhere: the count of the stream is
        /// the count of the whole text decoded with replacement characters.
        #[test]
        fn chunked_count_equals_whole_count(
            data in bytes_strategy(),
            chunk in 1usize..64,
            cuts in prop::collection::vec(0usize..400, 0..6),
            parallel in any::<bool>(),
        ) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let opts = StreamOptions {
                chunk_bytes: chunk,
                undecodable: Undecodable::Replace,
                skip_binary: false,
                parallel,
            };
            let text = String::from_utf8_lossy(&data);
            for name in builtin::NAMES {
                let enc = builtin::get(name).unwrap();
                let got = count_in_pieces(enc, &data, &cuts, opts).unwrap();
                prop_assert_eq!(got.tokens as usize, enc.count_ordinary(&text).unwrap(), "{}", name);
                prop_assert_eq!(got.bytes, data.len() as u64);
            }
            let strict = StreamOptions { undecodable: Undecodable::Refuse, ..opts };
            let enc = builtin::get("o200k_base").unwrap();
            match std::str::from_utf8(&data) {
                Ok(_) => prop_assert!(count_in_pieces(enc, &data, &cuts, strict).is_ok()),
                Err(e) => prop_assert_eq!(
                    count_in_pieces(enc, &data, &cuts, strict),
                    Err(StreamError::Undecodable { offset: e.valid_up_to() as u64 })
                ),
            }
        }
    }
}
