//! Compile-time preparation of the data the core needs, so nothing is parsed at start-up:
//! - rank tables: each `.tiktoken` file shipped in the Python package is decoded into token
//!   bytes, offsets and an open-addressing hash table, written to OUT_DIR and embedded;
//! - the Unicode class table used by the hand-written pre-tokenizers, taken from regex-syntax
//!   (the same tables the regex fallback uses), so both agree on every code point.

use std::collections::HashSet;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine;

include!("rust/vocab_hash.rs");

const RANK_FILES: &[&str] = &["r50k_base", "p50k_base", "cl100k_base", "o200k_base"];
const EMPTY_SLOT: u32 = u32::MAX;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let ranks_dir = manifest.join("python/devsynth/tokens/ranks");
    for name in RANK_FILES {
        let path = ranks_dir.join(format!("{name}.tiktoken"));
        println!("cargo:rerun-if-changed={}", path.display());
        compile_rank_file(&path, &out, name);
    }
    println!("cargo:rerun-if-changed=rust/vocab_hash.rs");
    println!("cargo:rerun-if-changed=build.rs");
    write_unicode_classes(&out);
}

fn compile_rank_file(path: &Path, out: &Path, name: &str) {
    let data = fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut entries: Vec<(Vec<u8>, u32)> = Vec::new();
    for (lineno, line) in data.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split(|&b| b == b' ');
        let (Some(token), Some(rank), None) = (parts.next(), parts.next(), parts.next()) else {
            panic!(
                "{}:{}: expected `<base64> <rank>`",
                path.display(),
                lineno + 1
            );
        };
        let token = base64::engine::general_purpose::STANDARD
            .decode(token)
            .unwrap_or_else(|e| panic!("{}:{}: bad base64: {e}", path.display(), lineno + 1));
        let rank: u32 = std::str::from_utf8(rank)
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("{}:{}: bad rank", path.display(), lineno + 1));
        entries.push((token, rank));
    }
    let max_rank = entries.iter().map(|e| e.1).max().expect("empty rank file") as usize;
    let mut by_rank: Vec<Option<&[u8]>> = vec![None; max_rank + 1];
    let mut seen: HashSet<&[u8]> = HashSet::new();
    for (token, rank) in &entries {
        assert!(
            by_rank[*rank as usize].is_none(),
            "duplicate rank {rank} in {name}"
        );
        assert!(seen.insert(token), "duplicate token in {name}");
        assert!(!token.is_empty(), "empty token in {name}");
        by_rank[*rank as usize] = Some(token);
    }

    let mut bytes = Vec::new();
    let mut offsets: Vec<u32> = Vec::with_capacity(max_rank + 2);
    for token in &by_rank {
        offsets.push(bytes.len() as u32);
        if let Some(t) = token {
            bytes.extend_from_slice(t);
        }
    }
    offsets.push(bytes.len() as u32);

    // Hash slots of 16 bytes: head word, rank, length (0 marks an empty slot).
    let slots = table_slots_for(entries.len());
    let mut table = vec![(0u64, 0u32, 0u32); slots];
    for (token, rank) in &entries {
        let head = head_word(token);
        let mut slot = slot_of(hash_token(head, token), slots);
        while table[slot].2 != 0 {
            slot = (slot + 1) & (slots - 1);
        }
        table[slot] = (head, *rank, token.len() as u32);
    }
    let mut slot_bytes = Vec::with_capacity(slots * 16);
    for (head, rank, len) in &table {
        slot_bytes.extend_from_slice(&head.to_le_bytes());
        slot_bytes.extend_from_slice(&rank.to_le_bytes());
        slot_bytes.extend_from_slice(&len.to_le_bytes());
    }

    // Rank of every two-byte token, indexed by the two bytes: the first merges of every piece
    // need no hashing.
    let mut pairs = vec![EMPTY_SLOT; 65536];
    for (token, rank) in &entries {
        if token.len() == 2 {
            pairs[(token[0] as usize) << 8 | token[1] as usize] = *rank;
        }
    }

    let mut filter = vec![0u64; FILTER_BITS / 64];
    for (token, _) in entries.iter().filter(|e| e.0.len() >= 5) {
        let hash = hash_token(head_word(token), token);
        filter[filter_word(hash)] |= filter_mask(hash);
    }
    let filter_bytes: Vec<u8> = filter.iter().flat_map(|e| e.to_le_bytes()).collect();
    fs::write(out.join(format!("{name}.filter")), filter_bytes).unwrap();

    let mut short = vec![0u64; SHORT_SLOTS];
    for (token, rank) in &entries {
        if token.len() == 3 || token.len() == 4 {
            let key = short_key(token);
            let mut slot = short_slot(key);
            while short[slot] != 0 {
                slot = (slot + 1) & (SHORT_SLOTS - 1);
            }
            short[slot] = short_entry(key, *rank);
        }
    }
    assert!(
        short.iter().filter(|&&e| e != 0).count() * 4 <= SHORT_SLOTS * 3,
        "the short-token table of {name} is over 3/4 full"
    );
    // The filter is stored after the slots, in the same file.
    let mut short_filter = vec![0u64; SHORT_FILTER_BITS / 64];
    for (token, _) in entries.iter().filter(|e| matches!(e.0.len(), 3 | 4)) {
        let bit = short_filter_bit(short_key(token));
        short_filter[bit / 64] |= 1 << (bit % 64);
    }
    short.extend_from_slice(&short_filter);
    let short_bytes: Vec<u8> = short.iter().flat_map(|e| e.to_le_bytes()).collect();
    fs::write(out.join(format!("{name}.short")), short_bytes).unwrap();

    fs::write(out.join(format!("{name}.bytes")), &bytes).unwrap();
    fs::write(out.join(format!("{name}.offsets")), u32s_le(&offsets)).unwrap();
    fs::write(out.join(format!("{name}.slots")), slot_bytes).unwrap();
    fs::write(out.join(format!("{name}.pairs")), u32s_le(&pairs)).unwrap();
}

fn u32s_le(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

// Bits of the class byte; rust/unicode.rs reads them under the same names.
const LU_LT: u8 = 1;
const LL: u8 = 2;
const LM_LO: u8 = 4;
const MARK: u8 = 8;
const NUMBER: u8 = 16;
const SPACE: u8 = 32;

/// Two-stage table: `stage1[cp >> 8]` names a 256-entry block in `stage2`.
fn write_unicode_classes(out: &Path) {
    let mut flags = vec![0u8; 0x110000];
    let classes: &[(&str, u8)] = &[
        (r"\p{Lu}", LU_LT),
        (r"\p{Lt}", LU_LT),
        (r"\p{Ll}", LL),
        (r"\p{Lm}", LM_LO),
        (r"\p{Lo}", LM_LO),
        (r"\p{M}", MARK),
        (r"\p{N}", NUMBER),
        (r"\s", SPACE),
    ];
    for (pattern, bit) in classes {
        for range in unicode_ranges(pattern) {
            for cp in range.0..=range.1 {
                flags[cp as usize] |= bit;
            }
        }
    }
    // \p{L} must be exactly the union of the letter subclasses, as the pre-tokenizers assume.
    let letters: HashSet<u32> = unicode_ranges(r"\p{L}")
        .into_iter()
        .flat_map(|(a, b)| a..=b)
        .collect();
    for (cp, f) in flags.iter().enumerate() {
        let is_letter = f & (LU_LT | LL | LM_LO) != 0;
        assert_eq!(
            letters.contains(&(cp as u32)),
            is_letter,
            "letter mismatch at {cp:#x}"
        );
    }

    let mut blocks: Vec<&[u8]> = Vec::new();
    let mut stage1: Vec<u8> = Vec::with_capacity(0x1100);
    for block in flags.chunks(256) {
        let idx = match blocks.iter().position(|b| *b == block) {
            Some(i) => i,
            None => {
                blocks.push(block);
                blocks.len() - 1
            }
        };
        stage1.push(u8::try_from(idx).expect("more than 256 distinct Unicode blocks"));
    }
    // rust/unicode.rs reads ASCII flags straight from the first block.
    assert_eq!(stage1[0], 0);
    let stage2: Vec<u8> = blocks.concat();
    fs::write(out.join("unicode_stage1.bin"), &stage1).unwrap();
    fs::write(out.join("unicode_stage2.bin"), &stage2).unwrap();
}

fn unicode_ranges(pattern: &str) -> Vec<(u32, u32)> {
    use regex_syntax::hir::{Class, HirKind};
    let hir = regex_syntax::Parser::new().parse(pattern).unwrap();
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => class
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
        other => panic!("{pattern} is not a Unicode class: {other:?}"),
    }
}
