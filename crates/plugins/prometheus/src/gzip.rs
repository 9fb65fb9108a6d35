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
    segment_of(&[text])
}

/// [`segment`] of the concatenation of `parts` (a kept piece's parts), without joining them.
pub fn segment_of(parts: &[&[u8]]) -> Segment {
    segment_with(parts, |out| keep(out, Region::Gzip))
}

/// [`segment_of`] in the global allocator: a chunk's segment until its column is laid out
/// ([`crate::column`]), which copies it and lets it go (the gzip region holds columns).
pub(crate) fn pending_segment(parts: &[&[u8]]) -> Segment {
    segment_with(parts, Kept::copy)
}

/// The segment of `parts`, its deflate bytes kept by `keep`.
fn segment_with(parts: &[&[u8]], keep: impl FnOnce(&[u8]) -> Kept) -> Segment {
    SCRATCH.with_borrow_mut(|scratch| {
        let (c, out) = scratch.get_or_insert_with(|| {
            (
                flate2::Compress::new(flate2::Compression::fast(), false),
                Vec::new(),
            )
        });
        c.reset();
        out.clear();
        let len: usize = parts.iter().map(|p| p.len()).sum();
        out.reserve(len / 4 + 64);
        let mut crc = crc32fast::Hasher::new();
        for (i, text) in parts.iter().enumerate() {
            crc.update(text);
            // The last part ends the segment with a sync flush; the others only feed input.
            let last = i + 1 == parts.len();
            let flush = if last {
                flate2::FlushCompress::Sync
            } else {
                flate2::FlushCompress::None
            };
            let start = c.total_in() as usize;
            loop {
                let consumed = c.total_in() as usize - start;
                c.compress_vec(&text[consumed..], out, flush)
                    .expect("deflate into a Vec");
                // Input used up; for the flush, also output space left over (it is complete).
                let fed = c.total_in() as usize - start == text.len();
                if fed && (!last || out.len() < out.capacity()) {
                    break;
                }
                out.reserve(out.capacity().max(64));
            }
        }
        Segment {
            deflate: keep(out),
            crc: crc.finalize(),
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
    Bytes::from(member(&segment(text), text.len()))
}

/// A complete gzip member of one segment of a `len`-byte text.
fn member(s: &Segment, len: usize) -> Vec<u8> {
    let end = gzip_end(s.crc, len as u64);
    let mut v = GZIP_HEADER.to_vec();
    for part in s.deflate.parts().into_iter().chain(end.parts()) {
        v.extend_from_slice(part);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_segment_of_parts_is_the_segment_of_their_concatenation() {
        let text: Vec<u8> = (0..200_000u32)
            .flat_map(|i| {
                format!(
                    "drbd_device_written_bytes_total{{minor=\"{i}\"}} {}\n",
                    i * 7
                )
                .into_bytes()
            })
            .take(300_000)
            .collect();
        for cut in [0, 1, 4096, 150_000, text.len()] {
            let (a, b) = text.split_at(cut);
            let s = segment_of(&[a, b]);
            assert_eq!(s.crc, crc32fast::hash(&text), "cut at {cut}");
            let mut got = Vec::new();
            flate2::read::GzDecoder::new(&member(&s, text.len())[..])
                .read_to_end(&mut got)
                .unwrap();
            assert!(got == text, "cut at {cut}: inflates to the whole text");
            assert_eq!(
                s.deflate.to_vec(),
                segment(&text).deflate.to_vec(),
                "same stream"
            );
        }
    }
}
