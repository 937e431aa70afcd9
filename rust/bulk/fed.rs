//! A stream counter fed one call at a time by a caller that keeps no state of its own (a Python
//! consumer of a file-like object): a refusal (binary, or bytes that are not UTF-8 when they are
//! refused) is remembered and given at the end, so the caller can stop reading at once, and a
//! finished stream takes nothing more.

use std::ops::Deref;

use super::stream::{Counted, StreamCounter, StreamError, StreamOptions};
use crate::encoding::Encoding;

/// The stream was finished already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished;

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the stream is finished")
    }
}

impl std::error::Error for Finished {}

/// A [`StreamCounter`] with the refusal it met, if any, and the bytes fed to it.
pub struct FedStream<E> {
    counter: Option<StreamCounter<E>>,
    refused: Option<StreamError>,
    fed: u64,
}

impl<E: Deref<Target = Encoding> + Sync> FedStream<E> {
    pub fn new(enc: E, opts: StreamOptions) -> Self {
        FedStream {
            counter: Some(StreamCounter::new(enc, opts)),
            refused: None,
            fed: 0,
        }
    }

    /// Feeds the next bytes; false once the stream has been refused (the rest is not needed).
    pub fn feed(&mut self, data: &[u8]) -> Result<bool, Finished> {
        let Some(counter) = self.counter.as_mut() else {
            return if self.refused.is_some() {
                Ok(false)
            } else {
                Err(Finished)
            };
        };
        self.fed += data.len() as u64;
        if let Err(e) = counter.feed(data) {
            self.refused = Some(e);
            self.counter = None;
            return Ok(false);
        }
        Ok(true)
    }

    /// Ends the stream: its count, or why it was refused.
    pub fn finish(&mut self) -> Result<Result<Counted, StreamError>, Finished> {
        if let Some(e) = self.refused.take() {
            return Ok(Err(e));
        }
        let mut counter = self.counter.take().ok_or(Finished)?;
        Ok(counter.finish())
    }

    /// Bytes fed so far, those of a refused stream included.
    pub fn bytes_fed(&self) -> u64 {
        self.fed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;
    use crate::bulk::stream::Undecodable;

    fn fed(opts: StreamOptions) -> FedStream<&'static Encoding> {
        FedStream::new(builtin::get("cl100k_base").unwrap(), opts)
    }

    #[test]
    fn a_fed_stream_counts_as_the_whole_text() {
        let mut s = fed(StreamOptions::default());
        assert_eq!(s.feed(b"hello "), Ok(true));
        assert_eq!(s.feed(b"world"), Ok(true));
        assert_eq!(s.bytes_fed(), 11);
        assert_eq!(
            s.finish(),
            Ok(Ok(Counted {
                tokens: 2,
                bytes: 11
            }))
        );
        // Finished: nothing more is taken.
        assert_eq!(s.feed(b"more"), Err(Finished));
        assert_eq!(s.finish(), Err(Finished));
        assert_eq!(Finished.to_string(), "the stream is finished");
    }

    #[test]
    fn a_refusal_is_remembered_until_the_end() {
        let mut s = fed(StreamOptions::default());
        assert_eq!(s.feed(b"ab\0c"), Ok(false));
        assert_eq!(s.feed(b"ignored"), Ok(false));
        assert_eq!(s.bytes_fed(), 4);
        assert_eq!(s.finish(), Ok(Err(StreamError::Binary)));
        assert_eq!(s.feed(b"x"), Err(Finished));

        let refuse = StreamOptions {
            undecodable: Undecodable::Refuse,
            ..StreamOptions::default()
        };
        // Refused as the bad bytes come, or, cut short, when the stream ends.
        for (data, accepted) in [(&b"ok \xff"[..], false), (b"ok \xe6\x97", true)] {
            let mut s = fed(refuse);
            assert_eq!(s.feed(data), Ok(accepted));
            let refused = StreamError::Undecodable { offset: 3 };
            assert_eq!(s.finish(), Ok(Err(refused)));
        }
    }
}
