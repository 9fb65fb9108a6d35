//! gzip from separately compressed pieces: a *segment* is one text deflated on its own and
//! ended by a sync flush (byte-aligned, not final), so segments concatenate into one deflate
//! stream; a member's header and end wrap them (RFC 1952). [`crate::chunks`] keeps one
//! segment per chunk and combines their CRC-32s.
//!
//! Must never: end a segment with a final block, or keep a segment's spare room.

use crate::chunks::exact;
use bytes::Bytes;

/// A piece of a deflate stream: `text` compressed on its own, ended by a sync flush (so it
/// ends on a byte boundary and is not final), and the CRC-32 of `text`.
#[derive(Debug, Clone, Default)]
pub struct Segment {
    pub deflate: Bytes,
    pub crc: u32,
}

/// Compresses `text` into a segment.
pub fn segment(text: &[u8]) -> Segment {
    let mut c = flate2::Compress::new(flate2::Compression::fast(), false);
    let mut out = Vec::with_capacity(text.len() / 4 + 64);
    loop {
        let consumed = c.total_in() as usize;
        c.compress_vec(&text[consumed..], &mut out, flate2::FlushCompress::Sync)
            .expect("deflate into a Vec");
        // The flush is complete when input is used up and output space was left over.
        if c.total_in() as usize == text.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    Segment {
        deflate: exact(out),
        crc: crc32fast::hash(text),
    }
}

/// The gzip member header: deflate, no name, no time, unknown OS.
pub(crate) const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// The end of the member: an empty final deflate block, the CRC-32 and the length of the text.
pub(crate) fn gzip_end(crc: u32, len: u64) -> Bytes {
    let mut end = vec![0x03, 0x00];
    end.extend_from_slice(&crc.to_le_bytes());
    end.extend_from_slice(&(len as u32).to_le_bytes());
    Bytes::from(end)
}

/// `text` as a complete gzip member.
pub fn gzip_member(text: &[u8]) -> Bytes {
    let s = segment(text);
    let mut v = GZIP_HEADER.to_vec();
    v.extend_from_slice(&s.deflate);
    v.extend_from_slice(&gzip_end(s.crc, text.len() as u64));
    Bytes::from(v)
}
