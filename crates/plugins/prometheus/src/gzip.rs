//! gzip from separately compressed pieces: a *segment* is one text deflated on its own and
//! ended by a sync flush (byte-aligned, not final), so segments concatenate into one deflate
//! stream; a member's header and end wrap them (RFC 1952). [`crate::chunks`] keeps one
//! segment per chunk and combines their CRC-32s.
//!
//! Must never: end a segment with a final block, or keep a segment's spare room.

use crate::kept::{keep, Kept, Region};
use bytes::Bytes;

/// A piece of a deflate stream: `text` compressed on its own, ended by a sync flush (so it
/// ends on a byte boundary and is not final), and the CRC-32 of `text`.
#[derive(Debug, Clone, Default)]
pub struct Segment {
    pub deflate: Kept,
    pub crc: u32,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Option<(flate2::Compress, Vec<u8>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Frees this thread's compressor and output buffer.
pub(crate) fn free_scratch() {
    let _ = SCRATCH.try_with(|s| s.take());
}

/// Bytes this thread's output buffer holds (tests; the compressor's state is not counted).
#[cfg(test)]
pub(crate) fn scratch_held() -> usize {
    SCRATCH.with_borrow(|s| s.as_ref().map_or(0, |(_, out)| out.capacity().max(1)))
}

/// Compresses `text` into a segment (kept in the gzip region, exactly as long). The
/// compressor and its output buffer are this thread's, reset and reused until the render pass
/// ends ([`free_scratch`]): a new compressor allocated and cleared its window and tables
/// (about 300 KB) for every chunk.
pub fn segment(text: &[u8]) -> Segment {
    SCRATCH.with_borrow_mut(|scratch| {
        let (c, out) = scratch.get_or_insert_with(|| {
            (
                flate2::Compress::new(flate2::Compression::fast(), false),
                Vec::new(),
            )
        });
        c.reset();
        out.clear();
        out.reserve(text.len() / 4 + 64);
        loop {
            let consumed = c.total_in() as usize;
            c.compress_vec(&text[consumed..], out, flate2::FlushCompress::Sync)
                .expect("deflate into a Vec");
            // The flush is complete when input is used up and output space was left over.
            if c.total_in() as usize == text.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(64));
        }
        Segment {
            deflate: keep(out, Region::Gzip),
            crc: crc32fast::hash(text),
        }
    })
}

/// The gzip member header: deflate, no name, no time, unknown OS.
pub(crate) const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// The end of the member: an empty final deflate block, the CRC-32 and the length of the text.
pub(crate) fn gzip_end(crc: u32, len: u64) -> Kept {
    let mut end = vec![0x03, 0x00];
    end.extend_from_slice(&crc.to_le_bytes());
    end.extend_from_slice(&(len as u32).to_le_bytes());
    Kept::copy(&end)
}

/// `text` as a complete gzip member.
pub fn gzip_member(text: &[u8]) -> Bytes {
    let s = segment(text);
    let mut v = GZIP_HEADER.to_vec();
    v.extend_from_slice(&s.deflate);
    v.extend_from_slice(&gzip_end(s.crc, text.len() as u64));
    Bytes::from(v)
}
