//! The response body: the cached pieces of one state, sent in *frames*. In a body whose
//! pieces are short on average (under [`SHORT`] bytes: the gzip body), consecutive short
//! pieces are copied into one frame of up to [`FRAME`] bytes; every other piece is a frame
//! of its own, sent from the cache without a copy (a `Bytes` sharing the kept piece, made
//! for the frame: [`Kept::to_bytes`]).
//!
//! Why: hyper hands at most 16 frames to one `writev`, and polls the body once per frame. At
//! 10k resources the gzip body is 10,700 segments, half of them under 1 KiB: sent piece by
//! piece, a scrape of its 16 MB took 670 `writev`s and 4.5 ms; with short pieces joined,
//! 3.4 ms, the copy of 12 MB included (`serve-synth`, curl, quiet machine). The plain body's
//! pieces average 9 KiB: joining its short ones (10 MB a scrape) bought nothing for a
//! bandwidth-bound 96 MB transfer and made the daemon's unchanged plain scrape 1-4 ms slower
//! (its endpoint thread runs at nice 10).
//!
//! A frame is freed once hyper has written it, but a client that stops reading keeps up to
//! 16 queued. Copies are therefore paid from one process-wide budget ([`COPY_BUDGET`] bytes
//! in frames not yet freed); with the budget spent, pieces go out as they are, as before: a
//! thousand slow clients cost no more memory than the budget.
//!
//! Must never: change, drop or reorder a byte of the body, or copy beyond the budget.

use crate::chunks::{Kept, Pieces};
use bytes::Bytes;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// In a body of short pieces, pieces shorter than this are copied into frames; longer ones
/// are sent as they are. Also the average below which a body's pieces count as short.
pub const SHORT: usize = 4 << 10;

/// The length a frame of copied pieces grows to (16 frames fill one `writev` of 256 KiB).
pub const FRAME: usize = 16 << 10;

/// Bytes all connections together may hold in copied frames not yet written: 16 scrapes'
/// worth (one holds at most 16 frames). Scrapes beyond that send uncopied, so a burst of a
/// hundred concurrent ones does not copy the body a hundred times.
pub const COPY_BUDGET: usize = 16 * 16 * FRAME;

/// Bytes now held in copied frames (all bodies of the process).
static COPIED: AtomicUsize = AtomicUsize::new(0);

/// A response body sent from the shared cache in frames (see the module comment).
pub struct PiecesBody {
    pieces: Arc<[Kept]>,
    next: usize,
    remaining: u64,
    budget: &'static AtomicUsize,
    limit: usize,
    /// Whether short pieces are joined: only in a body whose average piece is short.
    join: bool,
}

impl PiecesBody {
    pub fn new(p: Pieces) -> Self {
        let join = p.len < (SHORT * p.pieces.len()) as u64;
        Self::with_budget(p, &COPIED, COPY_BUDGET, join)
    }

    fn with_budget(p: Pieces, budget: &'static AtomicUsize, limit: usize, join: bool) -> Self {
        PiecesBody {
            pieces: p.pieces,
            next: 0,
            remaining: p.len,
            budget,
            limit,
            join,
        }
    }

    pub fn text(text: &'static str) -> Self {
        PiecesBody::new(Pieces {
            len: text.len() as u64,
            pieces: Arc::new([Kept::copy(text.as_bytes())]),
        })
    }

    pub fn empty() -> Self {
        PiecesBody::new(Pieces::default())
    }

    /// The next frame, or None at the end.
    fn next_frame(&mut self) -> Option<Bytes> {
        let first = loop {
            let piece = self.pieces.get(self.next)?;
            self.next += 1;
            if !piece.is_empty() {
                break piece;
            }
        };
        // How many of the following short pieces join a short first one in a frame.
        let mut len = first.len();
        let mut end = self.next;
        if self.join && len < SHORT {
            while let Some(p) = self.pieces.get(end) {
                if p.len() >= SHORT || len + p.len() > FRAME {
                    break;
                }
                len += p.len();
                end += 1;
            }
        }
        let frame = if end > self.next && Frame::reserve(self.budget, self.limit, FRAME) {
            let mut buf = Vec::with_capacity(FRAME);
            for p in self.pieces[self.next - 1..end].iter() {
                buf.extend_from_slice(p);
            }
            self.next = end;
            Bytes::from_owner(Frame {
                buf,
                budget: self.budget,
            })
        } else {
            first.to_bytes()
        };
        self.remaining -= frame.len() as u64;
        Some(frame)
    }
}

/// Copied pieces, counted in the budget until freed.
struct Frame {
    buf: Vec<u8>,
    budget: &'static AtomicUsize,
}

impl Frame {
    /// Takes `size` bytes of the budget if that many are left.
    fn reserve(budget: &AtomicUsize, limit: usize, size: usize) -> bool {
        budget
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held + size <= limit).then_some(held + size)
            })
            .is_ok()
    }
}

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        self.budget.fetch_sub(FRAME, Ordering::AcqRel);
    }
}

impl hyper::body::Body for PiecesBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.next_frame().map(|b| Ok(hyper::body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Body;

    fn pieces(lens: &[usize]) -> Pieces {
        let v: Vec<Kept> = lens
            .iter()
            .enumerate()
            .map(|(i, &n)| Kept::copy(&vec![b'a' + (i % 26) as u8; n]))
            .collect();
        let len = v.iter().map(|p| p.len() as u64).sum();
        Pieces {
            pieces: v.into(),
            len,
        }
    }

    fn frames(mut body: PiecesBody) -> Vec<Bytes> {
        std::iter::from_fn(|| body.next_frame()).collect()
    }

    #[test]
    fn frames_carry_the_body_byte_for_byte_short_pieces_joined_long_ones_alone() {
        static BUDGET: AtomicUsize = AtomicUsize::new(0);
        let lens = [
            0,
            850,
            900,
            0,
            12_000,
            3000,
            FRAME,
            10,
            40_000,
            1,
            2,
            FRAME - 3,
            3,
            5,
        ];
        let p = pieces(&lens);
        let whole = p.concat();
        let body = PiecesBody::with_budget(p.clone(), &BUDGET, usize::MAX, true);
        assert_eq!(body.size_hint().exact(), Some(whole.len() as u64));
        let got = frames(body);
        assert_eq!(got.concat(), whole);
        let sizes: Vec<usize> = got.iter().map(Bytes::len).collect();
        assert_eq!(
            sizes,
            vec![
                850 + 900,
                12_000,
                3000,
                FRAME,
                10,
                40_000,
                1 + 2,
                FRAME - 3,
                3 + 5
            ]
        );
        assert_eq!(
            BUDGET.load(Ordering::SeqCst),
            3 * FRAME,
            "three copied frames held"
        );
        // A long piece, or a short one with no short neighbour, goes out as the cached bytes.
        for (frame, piece) in [(1, 4), (2, 5), (3, 6), (4, 7), (5, 8), (7, 11)] {
            assert_eq!(got[frame].as_ptr(), p.pieces[piece].as_ptr());
        }
        drop(got);
        assert_eq!(
            BUDGET.load(Ordering::SeqCst),
            0,
            "freed frames give their share back"
        );
    }

    #[test]
    fn copies_stop_at_the_budget_and_resume_when_frames_are_freed() {
        static BUDGET: AtomicUsize = AtomicUsize::new(0);
        let p = pieces(&[100; 1000]);
        let mut body = PiecesBody::with_budget(p.clone(), &BUDGET, 2 * FRAME, true);
        let a = body.next_frame().unwrap();
        let b = body.next_frame().unwrap();
        assert_eq!((a.len(), b.len()), (16_300, 16_300), "163 pieces per frame");
        assert_eq!(BUDGET.load(Ordering::SeqCst), 2 * FRAME);
        // Budget spent: a piece goes as it is.
        let c = body.next_frame().unwrap();
        assert_eq!(c.as_ptr(), p.pieces[326].as_ptr());
        drop(a);
        let d = body.next_frame().unwrap();
        assert_eq!(d.len(), 16_300);
        drop((b, d));
        assert_eq!(BUDGET.load(Ordering::SeqCst), 0);
        let mut all = vec![];
        let mut body = PiecesBody::with_budget(p.clone(), &BUDGET, 2 * FRAME, true);
        while let Some(f) = body.next_frame() {
            all.extend_from_slice(&f);
        }
        assert_eq!(all, p.concat());
        assert!(body.is_end_stream());
    }

    #[test]
    fn a_body_of_long_pieces_on_average_goes_out_as_kept_its_short_ones_too() {
        // The plain body: most bytes in long pieces; joining its short ones bought nothing
        // and cost a copy per scrape.
        let p = pieces(&[100, 200, 20_000, 100, 9000]);
        let body = PiecesBody::new(p.clone());
        let got = frames(body);
        assert_eq!(got.len(), 5);
        for (frame, piece) in got.iter().zip(p.pieces.iter()) {
            assert_eq!(frame.as_ptr(), piece.as_ptr());
        }
        // The gzip body: short pieces on average, joined.
        let p = pieces(&[1000, 900, 5000, 1200, 800]);
        let got = frames(PiecesBody::new(p.clone()));
        assert_eq!(
            got.iter().map(Bytes::len).collect::<Vec<_>>(),
            [1900, 5000, 2000]
        );
    }

    #[test]
    fn an_empty_body_has_no_frame() {
        assert!(frames(PiecesBody::empty()).is_empty());
        assert!(PiecesBody::empty().is_end_stream());
    }
}
