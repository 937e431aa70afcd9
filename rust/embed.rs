//! Hash embeddings: signed feature hashing of words, word pairs and character trigrams into a
//! fixed number of dimensions, L2-normalised.
//!
//! Deterministic across processes, machines and releases: the hash is spelled out here
//! (FNV-1a, then the SplitMix64 finaliser), never a seeded or platform hash. Changing anything
//! below changes every vector; the golden-vector tests exist to catch that.

/// Default number of dimensions.
pub const DEFAULT_DIMENSIONS: usize = 256;

/// The most dimensions a vector may have: well above any embedding model's (a few thousand),
/// low enough that a typo cannot ask for gigabytes.
pub const MAX_DIMENSIONS: usize = 65_536;

const WORD_WEIGHT: f32 = 1.0;
const PAIR_WEIGHT: f32 = 0.5;
const TRIGRAM_WEIGHT: f32 = 0.25;

/// Each feature kind hashes in its own namespace, so a word never collides with a trigram
/// spelled the same.
const NS_WORD: u8 = 1;
const NS_PAIR: u8 = 2;
const NS_TRIGRAM: u8 = 3;

/// A number of dimensions outside 1..=[`MAX_DIMENSIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadDimensions(pub usize);

impl std::fmt::Display for BadDimensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "dimensions must be between 1 and {MAX_DIMENSIONS}, got {}",
            self.0
        )
    }
}

impl std::error::Error for BadDimensions {}

/// `dimensions` if it is in 1..=[`MAX_DIMENSIONS`].
pub fn check_dimensions(dimensions: usize) -> Result<usize, BadDimensions> {
    if (1..=MAX_DIMENSIONS).contains(&dimensions) {
        Ok(dimensions)
    } else {
        Err(BadDimensions(dimensions))
    }
}

/// A fixed 64-bit hash of a namespace and bytes.
fn feature_hash(namespace: u8, parts: &[&[u8]]) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = FNV_OFFSET;
    let mut eat = |b: u8| {
        h ^= b as u64;
        h = h.wrapping_mul(FNV_PRIME);
    };
    eat(namespace);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            eat(0xFF); // a separator no UTF-8 text contains
        }
        part.iter().for_each(|&b| eat(b));
    }
    // SplitMix64 finaliser: spreads FNV's weak low bits over the whole word.
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn add_feature(vector: &mut [f32], hash: u64, weight: f32) {
    let index = (hash % vector.len() as u64) as usize;
    let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
    vector[index] += sign * weight;
}

/// Lower-cased words: maximal runs of alphanumeric chars.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect()
}

/// The embedding of `text`; the zero vector when it has no words.
pub fn hash_embedding(text: &str, dimensions: usize) -> Result<Vec<f32>, BadDimensions> {
    check_dimensions(dimensions)?;
    let mut v = vec![0.0f32; dimensions];
    let words = words(text);
    let mut padded = String::new();
    for (i, word) in words.iter().enumerate() {
        add_feature(
            &mut v,
            feature_hash(NS_WORD, &[word.as_bytes()]),
            WORD_WEIGHT,
        );
        if i > 0 {
            let pair = [words[i - 1].as_bytes(), word.as_bytes()];
            add_feature(&mut v, feature_hash(NS_PAIR, &pair), PAIR_WEIGHT);
        }
        // Trigrams of "<word>" let related forms (plural, tense, typos) share features.
        padded.clear();
        padded.push('<');
        padded.push_str(word);
        padded.push('>');
        let bounds: Vec<usize> = padded
            .char_indices()
            .map(|(i, _)| i)
            .chain([padded.len()])
            .collect();
        for w in bounds.windows(4) {
            let trigram = &padded.as_bytes()[w[0]..w[3]];
            add_feature(&mut v, feature_hash(NS_TRIGRAM, &[trigram]), TRIGRAM_WEIGHT);
        }
    }
    let norm = v
        .iter()
        .map(|x| (*x as f64) * (*x as f64))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x = (*x as f64 / norm) as f32);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn vectors_are_unit_length_and_stable() {
        let a = hash_embedding("Hello, world!", 64).unwrap();
        let b = hash_embedding("hello world", 64).unwrap();
        assert_eq!(a, b);
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        assert_eq!(hash_embedding("", 8).unwrap(), vec![0.0; 8]);
        assert_eq!(hash_embedding("x", 0), Err(BadDimensions(0)));
        assert_eq!(hash_embedding("x", 1 << 30), Err(BadDimensions(1 << 30)));
        assert_eq!(
            hash_embedding("x", MAX_DIMENSIONS).unwrap().len(),
            MAX_DIMENSIONS
        );
    }

    #[test]
    fn golden_hash_values() {
        // Pinned: these must never change across releases.
        assert_eq!(feature_hash(NS_WORD, &[b"hello"]), 0x5f68_3fb7_a064_1aec);
        assert_eq!(
            feature_hash(NS_PAIR, &[b"hello", b"world"]),
            0x2444_4a5e_7cd0_b340
        );
    }

    #[test]
    fn shared_words_score_higher_than_unrelated_text() {
        let base = hash_embedding("the cat sat on the mat", 256).unwrap();
        let near = hash_embedding("a cat sat on a mat", 256).unwrap();
        let far = hash_embedding("quarterly revenue forecasts improved", 256).unwrap();
        assert!(cosine(&base, &near) > 0.5);
        assert!(cosine(&base, &far) < 0.2);
    }
}
