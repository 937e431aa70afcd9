//! The encodings tiktoken 0.14 ships, built from the rank tables compiled into this binary.
//! Each is built once, on first use, and shared.

use std::sync::OnceLock;

use crate::encoding::Encoding;
use crate::pretokenize::{CL100K_PATTERN, O200K_PATTERN, R50K_PATTERN};
use crate::vocab::{compiled_vocab, Rank, Vocab};

/// Each built-in encoding and the rank file its ordinary tokens come from
/// (`python/devsynth/tokens/ranks/<file>.tiktoken`, compiled in by build.rs).
pub const RANK_FILES: [(&str, &str); 7] = [
    ("gpt2", "r50k_base"),
    ("r50k_base", "r50k_base"),
    ("p50k_base", "p50k_base"),
    ("p50k_edit", "p50k_base"),
    ("cl100k_base", "cl100k_base"),
    ("o200k_base", "o200k_base"),
    ("o200k_harmony", "o200k_base"),
];

/// Names of the built-in encodings.
pub const NAMES: [&str; RANK_FILES.len()] = {
    let mut names = [""; RANK_FILES.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = RANK_FILES[i].0;
        i += 1;
    }
    names
};

/// The rank file a built-in encoding's ordinary tokens come from.
pub fn rank_file(name: &str) -> Option<&'static str> {
    RANK_FILES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// The compiled rank table of a rank file.
fn vocab_of(rank_file: &str) -> Option<Vocab> {
    Some(match rank_file {
        "r50k_base" => compiled_vocab!("r50k_base"),
        "p50k_base" => compiled_vocab!("p50k_base"),
        "cl100k_base" => compiled_vocab!("cl100k_base"),
        "o200k_base" => compiled_vocab!("o200k_base"),
        _ => return None,
    })
}

const ENDOFTEXT: &str = "<|endoftext|>";
const FIM_PREFIX: &str = "<|fim_prefix|>";
const FIM_MIDDLE: &str = "<|fim_middle|>";
const FIM_SUFFIX: &str = "<|fim_suffix|>";
const ENDOFPROMPT: &str = "<|endofprompt|>";

fn specials(list: &[(&str, Rank)]) -> Vec<(String, Rank)> {
    list.iter().map(|(t, r)| (t.to_string(), *r)).collect()
}

/// o200k_harmony's specials, as tiktoken lists them: `<|reserved_200018|>` shares rank 200018
/// with `<|endofprompt|>`; the first name given is the one a decode returns.
fn o200k_harmony_specials() -> Vec<(String, Rank)> {
    let mut s = specials(&[
        (ENDOFTEXT, 199999),
        (ENDOFPROMPT, 200018),
        ("<|startoftext|>", 199998),
        ("<|reserved_200000|>", 200000),
        ("<|reserved_200001|>", 200001),
        ("<|return|>", 200002),
        ("<|constrain|>", 200003),
        ("<|reserved_200004|>", 200004),
        ("<|channel|>", 200005),
        ("<|start|>", 200006),
        ("<|end|>", 200007),
        ("<|message|>", 200008),
        ("<|reserved_200009|>", 200009),
        ("<|reserved_200010|>", 200010),
        ("<|reserved_200011|>", 200011),
        ("<|call|>", 200012),
    ]);
    s.extend((200013..201088).map(|rank| (format!("<|reserved_{rank}|>"), rank)));
    s
}

fn build(name: &str) -> Option<Encoding> {
    let vocab = vocab_of(rank_file(name)?)?;
    let (pattern, special, n_vocab): (&str, Vec<(String, Rank)>, Option<usize>) = match name {
        "gpt2" | "r50k_base" => (R50K_PATTERN, specials(&[(ENDOFTEXT, 50256)]), Some(50257)),
        "p50k_base" => (R50K_PATTERN, specials(&[(ENDOFTEXT, 50256)]), Some(50281)),
        "p50k_edit" => (
            R50K_PATTERN,
            specials(&[
                (ENDOFTEXT, 50256),
                (FIM_PREFIX, 50281),
                (FIM_MIDDLE, 50282),
                (FIM_SUFFIX, 50283),
            ]),
            None,
        ),
        "cl100k_base" => (
            CL100K_PATTERN,
            specials(&[
                (ENDOFTEXT, 100257),
                (FIM_PREFIX, 100258),
                (FIM_MIDDLE, 100259),
                (FIM_SUFFIX, 100260),
                (ENDOFPROMPT, 100276),
            ]),
            None,
        ),
        "o200k_base" => (
            O200K_PATTERN,
            specials(&[(ENDOFTEXT, 199999), (ENDOFPROMPT, 200018)]),
            None,
        ),
        "o200k_harmony" => (O200K_PATTERN, o200k_harmony_specials(), None),
        _ => return None,
    };
    let enc = Encoding::new(name, pattern, vocab, special, n_vocab)
        .expect("built-in encodings are valid");
    Some(enc)
}

/// A built-in encoding by name, built on first use.
pub fn get(name: &str) -> Option<&'static Encoding> {
    static CELLS: [OnceLock<Encoding>; NAMES.len()] = [const { OnceLock::new() }; NAMES.len()];
    let idx = NAMES.iter().position(|n| *n == name)?;
    Some(CELLS[idx].get_or_init(|| build(name).expect("known name")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_tiktoken() {
        let expect = [
            ("gpt2", 50257, 50256),
            ("r50k_base", 50257, 50256),
            ("p50k_base", 50281, 50280),
            ("p50k_edit", 50284, 50283),
            ("cl100k_base", 100277, 100276),
            ("o200k_base", 200019, 200018),
            ("o200k_harmony", 201088, 201087),
        ];
        for (name, n_vocab, max) in expect {
            let enc = get(name).unwrap();
            assert_eq!(enc.max_token_value(), max, "{name}");
            assert_eq!(enc.max_token_value() as usize + 1, n_vocab, "{name}");
            if let Some(n) = enc.explicit_n_vocab() {
                assert_eq!(enc.vocab().len() + enc.specials().len(), n, "{name}");
            }
        }
        assert!(get("nope").is_none());
        assert_eq!(rank_file("o200k_harmony"), Some("o200k_base"));
        assert_eq!(rank_file("nope"), None);
        assert_eq!(get("o200k_harmony").unwrap().specials().len(), 1091);
    }
}
