//! Reading one body within the cap its endpoint passes: refused when it
//! announces or reaches more, its first bytes kept for the `trace` log.
//! A body cut off or too large is a transient [`FetchError`] (see
//! [`super::answer`]).

use super::TRACE_BODY_BYTES;
use super::answer::{FetchError, error_chain};
use crate::stream::Decoder;

/// The start of a body as text, for a `trace` log: at most
/// [`TRACE_BODY_BYTES`], with a note of what was left out.
pub(super) fn body_excerpt(read: &Read) -> String {
    let mut text = String::from_utf8_lossy(&read.excerpt).into_owned();
    if read.size > read.excerpt.len() {
        text.push_str(&format!(
            " … ({} more bytes)",
            read.size - read.excerpt.len()
        ));
    }
    text
}

/// One body being read: its size so far, its first bytes (for the
/// `trace` log), and the cap it may not pass.
pub(super) struct Read {
    cap: usize,
    pub(super) size: usize,
    pub(super) excerpt: Vec<u8>,
}

impl Read {
    pub(super) fn new(cap: usize) -> Self {
        Read {
            cap,
            size: 0,
            excerpt: Vec::new(),
        }
    }

    /// Reads the body into `decoder`, refusing more than the cap.
    pub(super) async fn decode<D: Decoder>(
        &mut self,
        mut response: reqwest::Response,
        mut decoder: D,
    ) -> Result<D::Value, FetchError> {
        let cap = self.cap;
        let too_large = || {
            FetchError::transient(format!(
                "the reply is larger than {} MiB; not reading it",
                cap / (1024 * 1024)
            ))
        };
        if let Some(announced) = response.content_length() {
            if announced > cap as u64 {
                return Err(too_large());
            }
            decoder.reserve(usize::try_from(announced).unwrap_or(0));
        }
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    self.size += chunk.len();
                    if self.size > cap {
                        return Err(too_large());
                    }
                    let room = TRACE_BODY_BYTES.saturating_sub(self.excerpt.len());
                    self.excerpt
                        .extend_from_slice(&chunk[..room.min(chunk.len())]);
                    decoder.feed(&chunk).map_err(FetchError::transient)?;
                }
                Ok(None) => return decoder.finish().map_err(FetchError::transient),
                Err(err) => {
                    return Err(FetchError::transient(format!(
                        "the reply was cut off: {}",
                        error_chain(&err)
                    )));
                }
            }
        }
    }
}
