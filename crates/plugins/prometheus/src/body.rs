//! The response body: the cached pieces of one state, sent in *frames*. In a body whose
//! pieces are short on average (under [`SHORT`] bytes: the gzip body), consecutive short
//! pieces are copied into one frame of up to [`FRAME`] bytes; all other parts go out from the
//! cache without a copy, in runs of up to [`RUN_PARTS`] parts or [`RUN_BYTES`] bytes per
//! frame ([`crate::span`]), in a body of short pieces runs of long pieces only. A piece kept
//! in two parts ([`crate::kept`]) is two parts here.
//!
//! Why: hyper takes at most 16 frames into its write queue and polls the body once per frame.
//! At 10k resources the gzip body was 10,700 segments, half of them under 1 KiB: sent piece
//! by piece, a scrape of its 16 MB took 670 `writev`s and 4.5 ms; with short pieces joined,
//! 3.4 ms, the copy of 12 MB included (`serve-synth`, curl, quiet machine). Its segments are
//! now kept in spans of about 25 KB ([`crate::column`]), so it goes out in runs as the plain
//! body does; joining stays for bodies of short pieces (small states). The plain body's
//! pieces average 9 KiB: joining its short ones (10 MB a scrape) bought nothing for a
//! bandwidth-bound 96 MB transfer and made the daemon's unchanged plain scrape 1-4 ms slower
//! (its endpoint thread runs at nice 10); a frame per part took a `writev` per 16 parts, runs
//! take one per 64 (the most hyper asks a frame queue for).
//!
//! A frame is freed once hyper has written it, but a client that stops reading keeps up to
//! 16 queued. Copies are therefore paid from one process-wide budget ([`COPY_BUDGET`] bytes
//! in frames not yet freed); with the budget spent, pieces go out as they are, as before: a
//! thousand slow clients cost no more memory than the budget. A run holds only a reference
//! to the body's list of pieces.
//!
//! Must never: change, drop or reorder a byte of the body, or copy beyond the budget.

use crate::chunks::{Kept, Pieces};
use crate::span::{part_from, At, Span};
use bytes::{Buf, Bytes};
use std::io::IoSlice;
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

/// The most parts in a run: what hyper puts in one `writev`.
pub const RUN_PARTS: usize = 64;

/// A run grows until it holds this many bytes (hyper queues frames while it holds less than
/// about 400 KiB).
pub const RUN_BYTES: usize = 256 << 10;

/// Bytes now held in copied frames (all bodies of the process).
static COPIED: AtomicUsize = AtomicUsize::new(0);

/// A response body sent from the shared cache in frames (see the module comment).
pub struct PiecesBody {
    pieces: Arc<[Kept]>,
    /// The next part to send.
    next: At,
    remaining: u64,
    budget: &'static AtomicUsize,
    limit: usize,
    /// Whether short pieces are joined: only in a body whose average piece is short.
    join: bool,
}

/// What a frame carries: copied short pieces, or a run of kept parts.
pub enum Data {
    Copied(Bytes),
    Run(Span),
}

impl Buf for Data {
    fn remaining(&self) -> usize {
        match self {
            Data::Copied(b) => b.remaining(),
            Data::Run(s) => s.remaining(),
        }
    }

    fn chunk(&self) -> &[u8] {
        match self {
            Data::Copied(b) => b.chunk(),
            Data::Run(s) => s.chunk(),
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        match self {
            Data::Copied(b) => b.chunks_vectored(dst),
            Data::Run(s) => s.chunks_vectored(dst),
        }
    }

    fn advance(&mut self, cnt: usize) {
        match self {
            Data::Copied(b) => b.advance(cnt),
            Data::Run(s) => s.advance(cnt),
        }
    }
}

impl PiecesBody {
    pub fn new(p: Pieces) -> Self {
        let join = p.len < (SHORT * p.pieces.len()) as u64;
        Self::with_budget(p, &COPIED, COPY_BUDGET, join)
    }

    fn with_budget(p: Pieces, budget: &'static AtomicUsize, limit: usize, join: bool) -> Self {
        PiecesBody {
            pieces: p.pieces,
            next: (0, 0),
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
    fn next_frame(&mut self) -> Option<Data> {
        let (at, first, after_first) = part_from(&self.pieces, self.next)?;
        let first = first.len();
        let short = self.join && first < SHORT;
        let frame = match self.joined(at, first, after_first) {
            Some(frame) => frame,
            None => {
                // A run: of any parts, or in a body of short pieces, of long ones (a short
                // one that could not be joined goes alone).
                let (mut len, mut parts, mut end) = (first, 1, after_first);
                while !short && parts < RUN_PARTS && len < RUN_BYTES {
                    match part_from(&self.pieces, end) {
                        Some((_, p, after)) if !self.join || p.len() >= SHORT => {
                            (len, parts, end) = (len + p.len(), parts + 1, after);
                        }
                        _ => break,
                    }
                }
                self.next = end;
                Data::Run(Span::new(Arc::clone(&self.pieces), at, len))
            }
        };
        self.remaining -= frame.remaining() as u64;
        Some(frame)
    }

    /// In a body of short pieces, the short part at `at` and the short ones after it copied
    /// into one frame, if there are several and the budget allows.
    fn joined(&mut self, at: At, first: usize, after_first: At) -> Option<Data> {
        if !self.join || first >= SHORT {
            return None;
        }
        let (mut len, mut joined, mut end) = (first, 1, after_first);
        while let Some((_, p, after)) = part_from(&self.pieces, end) {
            if p.len() >= SHORT || len + p.len() > FRAME {
                break;
            }
            (len, joined, end) = (len + p.len(), joined + 1, after);
        }
        if joined == 1 || !Frame::reserve(self.budget, self.limit, FRAME) {
            return None;
        }
        let mut buf = Vec::with_capacity(FRAME);
        let mut cursor = at;
        while cursor != end {
            let (_, p, after) = part_from(&self.pieces, cursor).expect("counted above");
            buf.extend_from_slice(p);
            cursor = after;
        }
        self.next = end;
        Some(Data::Copied(Bytes::from_owner(Frame {
            buf,
            budget: self.budget,
        })))
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
    type Data = Data;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Data>, Self::Error>>> {
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

    fn frames(mut body: PiecesBody) -> Vec<Data> {
        std::iter::from_fn(|| body.next_frame()).collect()
    }

    /// A frame's slices, as it gives them to hyper's `writev` (`chunks_vectored`).
    fn slices(d: &Data) -> Vec<&[u8]> {
        match d {
            Data::Copied(b) => vec![&b[..]],
            Data::Run(s) => s.slices().collect(),
        }
    }

    fn concat(frames: &[Data]) -> Vec<u8> {
        frames.iter().flat_map(|d| slices(d).concat()).collect()
    }

    fn sizes(frames: &[Data]) -> Vec<usize> {
        frames.iter().map(Buf::remaining).collect()
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
        assert_eq!(concat(&got), whole);
        assert_eq!(
            sizes(&got),
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
            assert_eq!(
                got[frame].chunk().as_ptr(),
                p.pieces[piece].parts()[0].as_ptr()
            );
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
        assert_eq!(
            (a.remaining(), b.remaining()),
            (16_300, 16_300),
            "163 pieces per frame"
        );
        assert_eq!(BUDGET.load(Ordering::SeqCst), 2 * FRAME);
        // Budget spent: a piece goes as it is.
        let c = body.next_frame().unwrap();
        assert_eq!(c.remaining(), 100, "alone");
        assert_eq!(c.chunk().as_ptr(), p.pieces[326].parts()[0].as_ptr());
        drop(a);
        let d = body.next_frame().unwrap();
        assert_eq!(d.remaining(), 16_300);
        drop((b, d));
        assert_eq!(BUDGET.load(Ordering::SeqCst), 0);
        let mut all = vec![];
        let mut body = PiecesBody::with_budget(p.clone(), &BUDGET, 2 * FRAME, true);
        while let Some(f) = body.next_frame() {
            all.extend_from_slice(&slices(&f).concat());
        }
        assert_eq!(all, p.concat());
        assert!(body.is_end_stream());
    }

    #[test]
    fn a_body_of_long_pieces_on_average_goes_out_as_kept_its_short_ones_too() {
        // The plain body: most bytes in long pieces; joining its short ones bought nothing
        // and cost a copy per scrape. One run of its parts, each as kept.
        let p = pieces(&[100, 200, 20_000, 100, 9000]);
        let got = frames(PiecesBody::new(p.clone()));
        assert_eq!(got.len(), 1);
        let s = slices(&got[0]);
        assert_eq!(s.len(), 5);
        for (slice, piece) in s.iter().zip(p.pieces.iter()) {
            assert_eq!(slice.as_ptr(), piece.parts()[0].as_ptr());
        }
        // The gzip body: short pieces on average, joined.
        let p = pieces(&[1000, 900, 5000, 1200, 800]);
        let got = frames(PiecesBody::new(p.clone()));
        assert_eq!(sizes(&got), [1900, 5000, 2000]);
    }

    #[test]
    fn a_run_ends_at_its_most_parts_or_once_it_holds_its_bytes() {
        static BUDGET: AtomicUsize = AtomicUsize::new(0);
        let p = pieces(&[100; 200]);
        let got = frames(PiecesBody::with_budget(
            p.clone(),
            &BUDGET,
            usize::MAX,
            false,
        ));
        let parts: Vec<usize> = got.iter().map(|d| slices(d).len()).collect();
        assert_eq!(
            parts,
            [RUN_PARTS, RUN_PARTS, RUN_PARTS, 200 - 3 * RUN_PARTS]
        );
        assert_eq!(concat(&got), p.concat());
        let p = pieces(&[100 << 10; 5]);
        let got = frames(PiecesBody::new(p.clone()));
        assert_eq!(
            sizes(&got),
            [300 << 10, 200 << 10],
            "grown past RUN_BYTES by one part"
        );
        assert_eq!(concat(&got), p.concat());
    }

    #[test]
    fn a_piece_kept_in_two_parts_goes_out_as_two_slices_or_joined_when_short() {
        static BUDGET: AtomicUsize = AtomicUsize::new(0);
        drbd_reactor_plugin::memory::stand_in::register();
        let split = crate::kept::keep(&[b'x'; 9000], crate::kept::Region::Plain);
        let [a, b] = split.parts();
        assert!(!b.is_empty(), "the stand-in's classes split 9,000 bytes");
        let short = Kept::copy(&[b'y'; 100]);
        let v = vec![split.clone(), short.clone(), Kept::default(), split.clone()];
        let p = Pieces {
            len: v.iter().map(|k| k.len() as u64).sum(),
            pieces: v.into(),
        };
        let got = frames(PiecesBody::with_budget(
            p.clone(),
            &BUDGET,
            usize::MAX,
            false,
        ));
        assert_eq!(got.len(), 1, "one run");
        let s = slices(&got[0]);
        let lens: Vec<usize> = s.iter().map(|s| s.len()).collect();
        assert_eq!(lens, [a.len(), b.len(), 100, a.len(), b.len()]);
        assert_eq!(s[0].as_ptr(), a.as_ptr(), "parts go out as kept");
        assert_eq!(s[1].as_ptr(), b.as_ptr());
        assert_eq!(concat(&got), p.concat());
        let got = frames(PiecesBody::with_budget(
            p.clone(),
            &BUDGET,
            usize::MAX,
            true,
        ));
        let want = [a.len(), b.len() + 100, a.len(), b.len()];
        assert_eq!(sizes(&got), want, "a short part joins");
        assert_eq!(concat(&got), p.concat());
    }

    #[test]
    fn an_empty_body_has_no_frame() {
        assert!(frames(PiecesBody::empty()).is_empty());
        assert!(PiecesBody::empty().is_end_stream());
    }
}
