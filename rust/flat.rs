//! Flat batches: the tokens of many texts laid end to end, with each text's offsets, and no
//! object per token. Texts are encoded a run at a time, each run's tokens into one vector (no
//! vector per text to allocate, grow and free), and the runs are then written into the output
//! in parallel: the output is made once at its final size, never gathered and copied again.

use std::borrow::Cow;

use rayon::prelude::*;

use crate::encoding::{EncodeError, Encoding, Specials};
use crate::vocab::Rank;

/// Texts a run holds: enough to amortise a task, many runs to share among threads.
pub const TEXTS_PER_RUN: usize = 64;

/// The tokens of consecutive texts: text k's are `ids[ends[k - 1]..ends[k]]` (from 0 for the
/// first).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Run {
    pub ids: Vec<Rank>,
    pub ends: Vec<usize>,
}

impl Run {
    /// `encode_with` of each text, one after another.
    pub fn encode<S: AsRef<str>>(
        enc: &Encoding,
        texts: &[S],
        specials: &Specials,
    ) -> Result<Run, EncodeError> {
        let bytes = texts.iter().map(|t| t.as_ref().len()).sum::<usize>();
        let mut run = Run {
            ids: Vec::with_capacity(bytes / 4 + 16),
            ends: Vec::with_capacity(texts.len()),
        };
        for text in texts {
            enc.encode_with_into(text.as_ref(), specials, &mut run.ids)?;
            run.ends.push(run.ids.len());
        }
        Ok(run)
    }

    /// Each text's tokens, in order.
    pub fn texts(&self) -> impl Iterator<Item = &[Rank]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(a, &b)| &self.ids[a..b])
    }
}

/// Every text's start in the runs laid end to end, and the end of the last (one more than
/// the texts).
pub fn offsets(runs: &[Run]) -> Vec<u64> {
    let mut offsets = Vec::with_capacity(runs.iter().map(|r| r.ends.len()).sum::<usize>() + 1);
    offsets.push(0);
    let mut base = 0;
    for run in runs {
        offsets.extend(run.ends.iter().map(|&e| (base + e) as u64));
        base += run.ids.len();
    }
    offsets
}

/// Writes the runs' ids end to end into `out` as little-endian u32, one run a task on the
/// current rayon pool. `out` must hold exactly 4 bytes per id.
pub fn write_ids_le(runs: &[Run], out: &mut [u8]) {
    assert_eq!(
        out.len(),
        runs.iter().map(|r| r.ids.len() * 4).sum::<usize>()
    );
    let mut rest = out;
    let mut jobs = Vec::with_capacity(runs.len());
    for run in runs {
        let (dst, tail) = rest.split_at_mut(run.ids.len() * 4);
        jobs.push((dst, run));
        rest = tail;
    }
    jobs.into_par_iter()
        .for_each(|(dst, run)| dst.copy_from_slice(&le_bytes(&run.ids, u32::to_le_bytes)));
}

/// The little-endian bytes of integers (`T` is u32 or u64: no padding).
pub fn le_bytes<T: Copy, const N: usize>(values: &[T], to_le: fn(T) -> [u8; N]) -> Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        // SAFETY: plain integers, no padding; the slice covers exactly their memory.
        let len = std::mem::size_of_val(values);
        Cow::Borrowed(unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), len) })
    } else {
        Cow::Owned(values.iter().flat_map(|&v| to_le(v)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;

    #[test]
    fn runs_keep_each_texts_span() {
        let enc = builtin::get("cl100k_base").unwrap();
        let ordinary = Specials::default();
        let texts = ["Hello world", "", "!", "Hello"];
        let run = Run::encode(enc, &texts, &ordinary).unwrap();
        assert_eq!(run.ids, vec![9906, 1917, 0, 9906]);
        assert_eq!(run.ends, vec![2, 2, 3, 4]);
        let texts: Vec<&[Rank]> = run.texts().collect();
        assert_eq!(texts, [&[9906, 1917][..], &[], &[0], &[9906]]);
        let second = Run::encode(enc, &["world"], &ordinary).unwrap();
        let runs = [run, Run::default(), second];
        assert_eq!(offsets(&runs), vec![0, 2, 2, 3, 4, 5]);
        assert_eq!(offsets(&[]), vec![0]);
        let mut out = vec![0xAA; 5 * 4];
        write_ids_le(&runs, &mut out);
        let ids: Vec<u32> = out
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(ids, vec![9906, 1917, 0, 9906, 14957]);
    }

    #[test]
    fn a_run_stops_at_a_refused_special_token() {
        let enc = builtin::get("cl100k_base").unwrap();
        let refuse_all = enc.prepare_specials(Some(Vec::new()), None);
        let got = Run::encode(enc, &["fine", "a <|endoftext|> b"], &refuse_all);
        assert_eq!(got, Err(EncodeError::Disallowed("<|endoftext|>".into())));
    }

    #[test]
    fn little_endian_bytes() {
        assert_eq!(
            &*le_bytes(&[1u32, 0x0102_0304], u32::to_le_bytes),
            &[1, 0, 0, 0, 4, 3, 2, 1]
        );
        assert_eq!(
            &*le_bytes(&[2u64], u64::to_le_bytes),
            &[2, 0, 0, 0, 0, 0, 0, 0]
        );
    }
}
