//! The checks the fuzz targets run (`fuzz/`, `make fuzz`), one per part of the core that reads
//! untrusted input, each comparing a fast path with a plain reference on the same input. They
//! live here so that `cargo test` replays the saved corpus (`fuzz/corpus/`) on stable Rust,
//! without cargo-fuzz: CI gets a quick smoke of every target.
//!
//! Each check panics on a disagreement (the fuzzer's finding) and is silent otherwise.

use crate::bpe::{self, long::LongPiece};
use crate::builtin;
use crate::bulk::cut::{CutRule, Scan, LOWER_STAND_IN};
use crate::bulk::stream::{StreamCounter, StreamOptions, Undecodable};
use crate::encoding::Encoding;
use crate::pretokenize::{Pretokenizer, CL100K_PATTERN, O200K_PATTERN, R50K_PATTERN};
use crate::vocab::Rank;

/// The three pre-tokenizer families of the built-in encodings.
const PATTERNS: [&str; 3] = [R50K_PATTERN, CL100K_PATTERN, O200K_PATTERN];

/// One built-in encoding of each pre-tokenizer family, picked by a byte.
fn encoding(pick: u8) -> &'static Encoding {
    let name = ["r50k_base", "cl100k_base", "o200k_base"][pick as usize % 3];
    builtin::get(name).expect("a built-in encoding")
}

/// fancy-regex running each family's pattern: built once (compiling takes milliseconds, far
/// longer than splitting a fuzz input or a property test's text; the unit tests that compare
/// the scanners with the regex take it from here too).
pub fn regex_engine(pattern: &str) -> &'static Pretokenizer {
    use std::sync::OnceLock;
    static ENGINES: [OnceLock<Pretokenizer>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let k = PATTERNS
        .iter()
        .position(|p| *p == pattern)
        .expect("a built-in pattern");
    ENGINES[k].get_or_init(|| Pretokenizer::regex(pattern).expect("valid"))
}

fn pieces(p: &Pretokenizer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    p.for_each_piece(text, |b| out.push(String::from_utf8_lossy(b).into_owned()))
        .expect("the built-in patterns never fail");
    out
}

/// The hand-written pre-tokenizers split any text exactly as fancy-regex does with the pattern
/// they stand for, and the pieces cover the text.
pub fn pretokenizers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for pattern in PATTERNS {
        let fast = pieces(&Pretokenizer::new(pattern).expect("known"), &text);
        let regex = pieces(regex_engine(pattern), &text);
        assert_eq!(fast, regex, "pattern {pattern} on {text:?}");
        assert_eq!(fast.concat(), text, "pieces cover the text");
    }
}

/// A stream fed in any parts and cut into chunks of any size (at safe cuts and joins) counts
/// exactly the whole text's tokens; every cut and join keeps the regex engine's pieces.
///
/// Input: `[encoding, chunk size, feed step, bytes...]`.
pub fn chunk_cutter(data: &[u8]) {
    let [pick, chunk, step, bytes @ ..] = data else {
        return;
    };
    let enc = encoding(*pick);
    let whole = String::from_utf8_lossy(bytes);
    let opts = StreamOptions {
        chunk_bytes: (*chunk as usize % 64) + 1,
        undecodable: Undecodable::Replace,
        skip_binary: false,
        parallel: chunk & 0x80 != 0,
    };
    let mut counter = StreamCounter::new(enc, opts);
    for part in bytes.chunks((*step as usize % 17) + 1) {
        counter.feed(part).expect("replacing, never refused");
    }
    let counted = counter.finish().expect("replacing, never refused");
    let expected = enc
        .count_ordinary(&whole)
        .expect("built-in vocabularies have every byte");
    assert_eq!(
        counted.tokens as usize, expected,
        "{} on {whole:?}",
        enc.name
    );
    assert_eq!(counted.bytes, bytes.len() as u64);
    // Each cut is checked with two regex runs: on short texts, to keep many runs a second.
    if whole.len() <= 64 {
        cuts_keep_pieces(&whole);
    }
}

/// Every safe cut and every join of each family keeps the regex engine's pieces of `text`.
fn cuts_keep_pieces(text: &str) {
    for pattern in PATTERNS {
        let rule = CutRule::for_pattern(pattern);
        let engine = regex_engine(pattern);
        let whole = pieces(engine, text);
        let mut scan = Scan::default();
        let mut at = 0;
        for (p, _) in text.char_indices().skip(1) {
            scan = rule.scan(text, at, p, scan);
            at = p;
            if rule.is_safe(text, p) {
                let mut parts = pieces(engine, &text[..p]);
                parts.extend(pieces(engine, &text[p..]));
                assert_eq!(parts, whole, "{pattern}: cut at {p} of {text:?}");
            }
            if rule.is_join(text, p) {
                let mut parts = pieces(engine, &text[..p]);
                let lower = scan.is_lower();
                let after = if lower {
                    format!("{LOWER_STAND_IN}{}", &text[p..])
                } else {
                    text[p..].to_owned()
                };
                let mut right = pieces(engine, &after);
                if lower {
                    assert!(
                        right[0].starts_with(LOWER_STAND_IN),
                        "{pattern}: {text:?} {p}"
                    );
                    right[0].drain(..LOWER_STAND_IN.len());
                }
                let first = right.remove(0);
                parts
                    .last_mut()
                    .expect("text before a join")
                    .push_str(&first);
                parts.extend(right);
                assert_eq!(parts, whole, "{pattern}: join at {p} of {text:?}");
            }
        }
    }
}

/// Byte pair merging of any piece, by every path (the scan, the heap, the long-piece merger
/// fed in parts with frontiers found often), equals tiktoken's algorithm written plainly.
///
/// Input: `[encoding, commit bytes, feed step, piece...]`.
pub fn bpe(data: &[u8]) {
    let [pick, commit, step, piece @ ..] = data else {
        return;
    };
    // The reference is quadratic: keep pieces short enough for many runs a second.
    let piece = &piece[..piece.len().min(512)];
    if piece.is_empty() {
        return;
    }
    let enc = encoding(*pick);
    let vocab = enc.vocab();
    let expected = bpe::reference_merge(vocab, piece);
    let fast = enc
        .encode_single_piece(piece)
        .expect("every byte is a token");
    assert_eq!(fast, expected, "{} on {piece:?}", enc.name);
    assert_eq!(bpe::count_piece(vocab, piece), Ok(expected.len()));
    let mut merger = LongPiece::committing_every(*commit as usize + 1);
    let mut fed: Vec<Rank> = Vec::new();
    for part in piece.chunks((*step as usize % 97) + 1) {
        merger
            .push(vocab, part, &mut |t| fed.push(t))
            .expect("every byte is a token");
    }
    merger
        .finish(vocab, &mut |t| fed.push(t))
        .expect("every byte is a token");
    assert_eq!(fed, expected, "{} fed in parts: {piece:?}", enc.name);
}

// ---------------------------------------------------------------- the Arrow C Data reader

/// Reads fuzz input as the parts of an array, with defaults once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        self.0 = rest;
        first
    }

    fn i32(&mut self) -> i32 {
        i32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.u8()).collect()
    }

    /// A number below `below`, now and then -1. (Never a huge one: the C Data Interface
    /// cannot tell a length from the size of the buffer behind it.)
    fn small(&mut self, below: u8) -> i64 {
        match self.u8() {
            250 => -1,
            _ => (self.u8() % below) as i64,
        }
    }
}

/// Memory the generated structs point into, kept alive (and aligned) while they are read.
#[derive(Default)]
struct Arena {
    words: Vec<Vec<u64>>,
    pointers: Vec<Vec<*const std::ffi::c_void>>,
    formats: Vec<std::ffi::CString>,
}

impl Arena {
    /// `bytes` in 8-aligned memory, shifted by `skew` bytes (an unaligned buffer when odd).
    fn buffer(&mut self, bytes: &[u8], skew: usize) -> *const std::ffi::c_void {
        let mut words = vec![0u64; (bytes.len() + skew).div_ceil(8) + 1];
        let base = words.as_mut_ptr() as *mut u8;
        // SAFETY: `words` has room for `skew + bytes.len()` bytes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(skew), bytes.len()) };
        // SAFETY: inside the allocation, which moves with the Vec's heap buffer, not the Vec.
        let ptr = unsafe { base.add(skew) } as *const std::ffi::c_void;
        self.words.push(words);
        ptr
    }

    fn format(&mut self, format: &str) -> *const std::ffi::c_char {
        let c = std::ffi::CString::new(format).expect("no NUL");
        let ptr = c.as_ptr();
        self.formats.push(c);
        ptr
    }
}

/// What the generated array holds, by the Arrow specification: values (None for nulls), or
/// why it is no string array, or that it is malformed in a valid slot or its structure, or
/// malformed only where a null makes the content irrelevant (the reader may refuse it or not).
#[derive(Debug, PartialEq)]
enum Expected {
    Values(Vec<Option<String>>),
    NotStrings,
    Malformed,
    MalformedInNulls,
}

/// A generated array, its schema and what it should read as.
struct Generated {
    schema: Box<crate::bulk::arrow::ArrowSchema>,
    array: Box<crate::bulk::arrow::ArrowArray>,
    expected: Expected,
}

unsafe extern "C" fn release_nothing(_: *mut crate::bulk::arrow::ArrowArray) {}

/// Generates a plain string array (`u`, `U`, `vu`) or something else named by `format`.
fn plain(input: &mut Input<'_>, arena: &mut Arena, format: &str) -> Generated {
    use crate::bulk::arrow::{ArrowArray, ArrowSchema};
    let length = input.small(24);
    let offset = input.small(6);
    let null_count = [0, -1, 1][input.u8() as usize % 3];
    let skew = input.u8().is_multiple_of(4) as usize;
    let (len, off) = (length.max(0) as usize, offset.max(0) as usize);
    let total = (len + off).min(64);
    let bitmap = input.bytes(total.div_ceil(8));
    let with_bitmap = input.u8().is_multiple_of(2);
    let valid = |i: usize| {
        !(with_bitmap && null_count != 0) || bitmap[(off + i) / 8] >> ((off + i) % 8) & 1 == 1
    };
    let mut buffers: Vec<*const std::ffi::c_void> = vec![if with_bitmap {
        arena.buffer(&bitmap, 0)
    } else {
        std::ptr::null()
    }];
    let mut expected = Expected::NotStrings;
    match format {
        "u" | "U" => {
            let large = format == "U";
            let mut offsets = Vec::with_capacity(total + 1);
            let mut at = input.small(4);
            for _ in 0..=total {
                offsets.push(at);
                at = match input.u8() % 16 {
                    0 => input.small(255),
                    _ => at + (input.u8() % 6) as i64,
                };
                if !large {
                    at = at.clamp(i32::MIN as i64, i32::MAX as i64);
                }
            }
            let last = offsets[total].min(4096);
            offsets[total] = last;
            let data = input.bytes(last.max(0) as usize);
            let raw: Vec<u8> = if large {
                offsets.iter().flat_map(|o| o.to_ne_bytes()).collect()
            } else {
                offsets
                    .iter()
                    .flat_map(|&o| (o as i32).to_ne_bytes())
                    .collect()
            };
            buffers.push(arena.buffer(&raw, skew));
            buffers.push(arena.buffer(&data, 0));
            expected = if length < 0 || offset < 0 || len + off > 64 {
                Expected::Malformed
            } else {
                let o = &offsets[off..=off + len];
                if o[0] < 0 || o.windows(2).any(|w| w[1] < w[0]) || last < 0 {
                    Expected::Malformed
                } else {
                    Expected::Values(
                        (0..len)
                            .map(|i| {
                                valid(i).then(|| {
                                    let (a, b) = (o[i] as usize, o[i + 1] as usize);
                                    String::from_utf8_lossy(&data[a..b]).into_owned()
                                })
                            })
                            .collect(),
                    )
                }
            };
        }
        "vu" => {
            let n_data = input.u8() as usize % 3;
            let sizes: Vec<i64> = (0..n_data).map(|_| (input.u8() % 48) as i64).collect();
            let data: Vec<Vec<u8>> = sizes.iter().map(|&n| input.bytes(n as usize)).collect();
            let mut views = Vec::with_capacity(total);
            let mut values = Vec::with_capacity(total);
            let (mut bad_valid, mut bad_null) = (false, false);
            for i in 0..total {
                let view_len = match input.u8() % 8 {
                    0 => input.i32(),
                    _ => (input.u8() % 30) as i32,
                };
                let inline = input.bytes(12);
                let (buf, at) = match input.u8() % 6 {
                    0 => (input.i32(), input.i32()),
                    _ => ((input.u8() % 3) as i32, (input.u8() % 24) as i32),
                };
                let mut view = view_len.to_ne_bytes().to_vec();
                if view_len <= 12 {
                    view.extend_from_slice(&inline);
                } else {
                    view.extend_from_slice(&inline[..4]);
                    view.extend_from_slice(&buf.to_ne_bytes());
                    view.extend_from_slice(&at.to_ne_bytes());
                }
                views.extend_from_slice(&view);
                let slot = i.checked_sub(off).filter(|&k| k < len);
                let value = if view_len < 0 {
                    None
                } else if view_len <= 12 {
                    Some(inline[..view_len as usize].to_vec())
                } else {
                    usize::try_from(buf)
                        .ok()
                        .zip(usize::try_from(at).ok())
                        .and_then(|(b, a)| {
                            data.get(b)
                                .and_then(|d| d.get(a..a + view_len as usize))
                                .map(<[u8]>::to_vec)
                        })
                };
                if let Some(k) = slot {
                    let is_valid = valid(k);
                    match (&value, is_valid) {
                        (None, true) => bad_valid = true,
                        (None, false) => bad_null = true,
                        _ => {}
                    }
                    values.push(is_valid.then(|| {
                        String::from_utf8_lossy(value.as_deref().unwrap_or(&[])).into_owned()
                    }));
                }
            }
            buffers.push(arena.buffer(&views, 0));
            for d in &data {
                buffers.push(arena.buffer(d, 0));
            }
            let raw_sizes: Vec<u8> = sizes.iter().flat_map(|s| s.to_ne_bytes()).collect();
            buffers.push(arena.buffer(&raw_sizes, skew));
            expected = if length < 0 || offset < 0 || len + off > 64 || bad_valid {
                Expected::Malformed
            } else if bad_null {
                Expected::MalformedInNulls
            } else {
                Expected::Values(values)
            };
        }
        _ => {
            if length < 0 || offset < 0 {
                expected = Expected::Malformed;
            }
        }
    }
    // Now and then a buffer too few, or a null where one is needed.
    let mut n_buffers = buffers.len() as i64;
    match input.u8() % 16 {
        0 if format == "u" || format == "U" => {
            n_buffers -= 1;
            expected = Expected::Malformed;
        }
        1 if buffers.len() > 1 && len > 0 => {
            buffers[1] = std::ptr::null();
            if matches!(format, "u" | "U" | "vu") {
                expected = Expected::Malformed;
            }
        }
        _ => {}
    }
    let pointers = buffers;
    let array = Box::new(ArrowArray {
        length,
        null_count,
        offset,
        n_buffers,
        n_children: 0,
        buffers: pointers.as_ptr() as *mut *const std::ffi::c_void,
        children: std::ptr::null_mut(),
        dictionary: std::ptr::null_mut(),
        release: Some(release_nothing),
        private_data: std::ptr::null_mut(),
    });
    arena.pointers.push(pointers);
    let schema = Box::new(ArrowSchema {
        format: arena.format(format),
        ..ArrowSchema::empty()
    });
    Generated {
        schema,
        array,
        expected,
    }
}

/// The Arrow C Data reader, given string arrays generated from the input (plain, large,
/// views, dictionaries of them with every index type) with malformed parts (offsets going
/// backwards or negative, views outside their buffers, indices out of range, buffers missing
/// or null, unaligned buffers, negative lengths, bytes that are not UTF-8, formats that are no
/// strings), reads exactly what the specification says they hold, or refuses them as
/// malformed; never reads outside them (the fuzzer runs under AddressSanitizer).
///
/// The generator keeps what the C Data Interface cannot check: every buffer is as long as the
/// lengths, last offset and buffer sizes promise.
pub fn arrow(data: &[u8]) {
    use crate::bulk::arrow::{read_array, ArrowError};
    let mut input = Input(data);
    let mut arena = Arena::default();
    const PLAIN: [&str; 8] = ["u", "U", "vu", "z", "vz", "i", "+s", "tss:"];
    const INDICES: [&str; 9] = ["c", "C", "s", "S", "i", "I", "l", "L", "f"];
    let pick = input.u8();
    let mut generated = plain(&mut input, &mut arena, PLAIN[pick as usize % 8]);
    if pick >= 128 {
        // A dictionary: indices of some integer type into the generated values.
        let values = generated;
        let format = INDICES[input.u8() as usize % INDICES.len()];
        let mut dict = plain(&mut input, &mut arena, "i");
        let length = dict.array.length.max(0) as usize + dict.array.offset.max(0) as usize;
        let n_values = match &values.expected {
            Expected::Values(v) => v.len() as i64,
            _ => 0,
        };
        let indices: Vec<i64> = (0..length.min(64))
            .map(|_| match input.u8() % 10 {
                0 => input.i32() as i64,
                _ => (input.u8() as i64 % (n_values + 2)) - 1,
            })
            .collect();
        let width = match format {
            "c" | "C" => 1,
            "s" | "S" => 2,
            "i" | "I" | "f" => 4,
            _ => 8,
        };
        let raw: Vec<u8> = indices
            .iter()
            .flat_map(|&k| k.to_le_bytes()[..width].to_vec())
            .collect();
        let skew = input.u8().is_multiple_of(4) as usize;
        let mut pointers = vec![
            // SAFETY: the indices array was generated with these buffers.
            unsafe { *dict.array.buffers },
            arena.buffer(&raw, skew),
        ];
        let (off, len) = (dict.array.offset, dict.array.length);
        let index_of = |k: i64| -> Option<i64> {
            let k = match format {
                "c" => k as i8 as i64,
                "C" => k as u8 as i64,
                "s" => k as i16 as i64,
                "S" => k as u16 as i64,
                "i" => k as i32 as i64,
                "I" => k as u32 as i64,
                "l" => k,
                _ => k,
            };
            (0..n_values).contains(&k).then_some(k)
        };
        let valid_bitmap = {
            let bits = pointers[0];
            let null_count = dict.array.null_count;
            move |i: usize| -> bool {
                if null_count == 0 || bits.is_null() {
                    return true;
                }
                // SAFETY: the bitmap was generated for every slot.
                unsafe { *(bits as *const u8).add(i / 8) >> (i % 8) & 1 == 1 }
            }
        };
        dict.expected = if format == "f" || off < 0 || len < 0 {
            Expected::Malformed
        } else {
            match &values.expected {
                Expected::Values(v) => {
                    let slots = off as usize..(off + len) as usize;
                    let read: Option<Vec<Option<String>>> = slots
                        .map(|i| match valid_bitmap(i) {
                            false => Some(None),
                            // A null in the dictionary counts 0, as a null does.
                            true => index_of(indices[i])
                                .map(|k| Some(v[k as usize].clone().unwrap_or_default())),
                        })
                        .collect();
                    read.map_or(Expected::Malformed, Expected::Values)
                }
                Expected::NotStrings => Expected::NotStrings,
                Expected::MalformedInNulls => Expected::MalformedInNulls,
                Expected::Malformed => Expected::Malformed,
            }
        };
        dict.array.n_buffers = 2;
        dict.array.buffers = pointers.as_mut_ptr();
        arena.pointers.push(pointers);
        dict.schema.format = arena.format(format);
        dict.schema.dictionary = Box::into_raw(values.schema);
        dict.array.dictionary = Box::into_raw(values.array);
        generated = dict;
    }
    // SAFETY: the structs and their buffers live in `generated` and `arena` until the end.
    let got = unsafe { read_array(&generated.schema, &generated.array) }
        .and_then(|a| a.count(&|s: &str| Ok::<usize, ArrowError>(s.len())));
    let expected = std::mem::replace(&mut generated.expected, Expected::Malformed);
    match (&expected, &got) {
        (Expected::Values(values), Ok(counts)) => {
            let want: Vec<i64> = values
                .iter()
                .map(|v| v.as_ref().map_or(0, |s| s.len() as i64))
                .collect();
            assert_eq!(counts, &want, "the values read");
        }
        (Expected::MalformedInNulls, _) => {}
        // Refused: which reason comes first (a bad length, or a format that is no string) is
        // the reader's choice.
        (Expected::Malformed | Expected::NotStrings, Err(_)) => {}
        _ => panic!("expected {expected:?}, read {got:?}"),
    }
    // The dictionary's parts were leaked into raw pointers above: take them back.
    if !generated.schema.dictionary.is_null() {
        // SAFETY: both came from Box::into_raw above, and nothing else holds them.
        unsafe {
            drop(Box::from_raw(generated.schema.dictionary));
            drop(Box::from_raw(generated.array.dictionary));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Replays the saved corpus of each target (`fuzz/corpus/TARGET/`): the fuzzers' findings
    /// and the inputs that reached new code, kept small. CI's smoke of the fuzz targets.
    #[test]
    fn saved_fuzz_corpus_passes_every_check() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        type Check = fn(&[u8]);
        let targets: [(&str, Check); 4] = [
            ("pretokenize", super::pretokenizers),
            ("chunk_cutter", super::chunk_cutter),
            ("bpe", super::bpe),
            ("arrow", super::arrow),
        ];
        for (target, check) in targets {
            let dir = root.join(target);
            let mut inputs: Vec<_> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|entry| entry.expect("a corpus entry").path())
                .collect();
            inputs.sort();
            assert!(!inputs.is_empty(), "{target}: no saved inputs");
            for input in inputs {
                let data = std::fs::read(&input).expect("a corpus file");
                let outcome = std::panic::catch_unwind(|| check(&data));
                assert!(outcome.is_ok(), "{target}: {} fails", input.display());
            }
        }
    }

    #[test]
    fn seeds_pass() {
        super::pretokenizers("Hello, world! It's 2024.\n\n  日本語 don't".as_bytes());
        super::chunk_cutter(b"\x01\x03\x02aaaaaaaaaaaa bbbb==== ccc\ndd'll");
        super::chunk_cutter(&[b"\x02\x85\x05", "ab中中中中Efg 中文中文".as_bytes()].concat());
        super::bpe(b"\x00\x05\x03aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab");
        super::bpe("\x01\x00\x01日本語テスト😀日本語".as_bytes());
        for seed in 0..=255u8 {
            let data: Vec<u8> = (0..400u32)
                .map(|i| (i as u8).wrapping_mul(seed) ^ seed)
                .collect();
            super::arrow(&data);
            super::arrow(&[&[seed][..], &data].concat());
        }
    }
}
