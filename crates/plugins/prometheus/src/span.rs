//! A frame of the response body that is a run of kept parts, sent without copying: one
//! frame for hyper, many slices for the kernel.
//!
//! Why: hyper takes at most 16 frames into its write queue and polls the body once per frame,
//! but asks each queued frame for as many slices as a `writev` takes (64). Sent a part per
//! frame, the plain body at 10k resources (10,700 pieces, more once long ones are kept in two
//! parts) took one `writev` per 16 parts; as runs of up to 64 parts it takes one per 64.
//!
//! Must never: show a byte outside its run, or copy one.

use crate::kept::Kept;
use bytes::Buf;
use std::io::IoSlice;
use std::sync::Arc;

/// Where a part is in a body: its piece and which of the piece's two parts.
pub type At = (usize, usize);

/// The position after `at`.
fn after(at: At) -> At {
    if at.1 == 0 {
        (at.0, 1)
    } else {
        (at.0 + 1, 0)
    }
}

/// The first non-empty part at or after `at`: where it is, its bytes and the position after
/// it; None at the end.
pub fn part_from(pieces: &[Kept], mut at: At) -> Option<(At, &[u8], At)> {
    loop {
        let part = pieces.get(at.0)?.parts()[at.1];
        let next = after(at);
        if !part.is_empty() {
            return Some((at, part, next));
        }
        at = next;
    }
}

/// `len` bytes of `pieces` from the start of the part at `at` (they end at a part's end).
pub struct Span {
    pieces: Arc<[Kept]>,
    at: At,
    /// Bytes of the part at `at` already sent.
    offset: usize,
    remaining: usize,
}

impl Span {
    pub fn new(pieces: Arc<[Kept]>, at: At, len: usize) -> Span {
        debug_assert!(
            {
                let (mut at, mut have) = (at, 0);
                while let Some((_, p, next)) = part_from(&pieces, at).filter(|_| have < len) {
                    (at, have) = (next, have + p.len());
                }
                have >= len
            },
            "a span of more bytes than its parts hold would never end"
        );
        Span {
            pieces,
            at,
            offset: 0,
            remaining: len,
        }
    }

    /// The slices of what is left, in order.
    pub(crate) fn slices(&self) -> impl Iterator<Item = &[u8]> {
        let mut at = Some(self.at);
        let mut offset = self.offset;
        let mut left = self.remaining;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            let (_, part, next) = part_from(&self.pieces, at?)?;
            let part = &part[offset.min(part.len())..];
            let part = &part[..part.len().min(left)];
            (offset, left, at) = (0, left - part.len(), Some(next));
            Some(part)
        })
    }
}

impl Buf for Span {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.slices().next().unwrap_or(&[])
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, s) in dst.iter_mut().zip(self.slices()) {
            *slot = IoSlice::new(s);
            n += 1;
        }
        n
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advanced past the end of the span");
        while cnt > 0 {
            let (at, part, next) =
                part_from(&self.pieces, self.at).expect("the span's bytes are there");
            let left = part.len() - self.offset;
            self.at = at;
            if cnt < left {
                self.offset += cnt;
                self.remaining -= cnt;
                return;
            }
            cnt -= left;
            self.remaining -= left;
            (self.at, self.offset) = (next, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(texts: &[&[u8]]) -> Arc<[Kept]> {
        texts
            .iter()
            .map(|t| Kept::copy(t))
            .collect::<Vec<_>>()
            .into()
    }

    #[test]
    fn a_span_shows_its_parts_in_order_without_copies_and_advances_across_them() {
        let p = pieces(&[b"", b"abc", b"", b"defgh", b"ij", b"klm"]);
        // From "abc" (piece 1) through "ij" (piece 4): 10 bytes.
        let mut s = Span::new(Arc::clone(&p), (0, 0), 10);
        let mut io = [IoSlice::new(&[]); 8];
        let n = s.chunks_vectored(&mut io);
        let got: Vec<&[u8]> = io[..n].iter().map(|s| &**s).collect();
        assert_eq!(got, [&b"abc"[..], b"defgh", b"ij"]);
        assert_eq!(
            io[1].as_ptr(),
            p[3].parts()[0].as_ptr(),
            "the kept bytes themselves"
        );
        assert_eq!(s.chunk(), b"abc");
        s.advance(2);
        assert_eq!((s.chunk(), s.remaining()), (&b"c"[..], 8));
        s.advance(4);
        assert_eq!((s.chunk(), s.remaining()), (&b"gh"[..], 4));
        let mut io = [IoSlice::new(&[]); 1];
        assert_eq!(s.chunks_vectored(&mut io), 1, "no more slices than room");
        s.advance(4);
        assert_eq!((s.chunk(), s.remaining()), (&b""[..], 0));
        assert_eq!(s.chunks_vectored(&mut [IoSlice::new(&[]); 4]), 0);
        let mut all = Span::new(p, (0, 1), 13);
        assert_eq!(all.copy_to_bytes(13), &b"abcdefghijklm"[..]);
    }
}
