//! Where the cached pieces of the scrape body live: each encoding in an allocator region of
//! its own when the binary registered regions (`drbd_reactor_plugin::memory`), else in the
//! global allocator; in one allocation with a 24-byte header, or two (below).
//!
//! Why: pieces are the bulk of the plugin's memory (96 MB plain, 16 MB gzip at 10k resources)
//! and an encoding is dropped whole when clients stop asking for it. Among everything else,
//! its freed pages stayed resident wherever a survivor of about the same size had been
//! allocated beside them; in a region of its own an encoding shares pages only with itself.
//!
//! Why a type of its own and not `Bytes`: a `Bytes` over foreign memory needs an owner box
//! of its own (40 bytes in the global heap per piece, 10,700 per encoding at 10k resources,
//! spread over the render threads' pages) and is 32 bytes wherever it is listed (per chunk
//! in its block, per piece in an assembled body). A [`Kept`] carries its reference count in
//! the header of its own allocation and is one pointer; a `Bytes` is made of it only for the
//! frame being sent ([`Kept::part_bytes`]).
//!
//! Why a piece may be in two parts: a region allocates in size classes (mimalloc's are up to
//! 25 % apart), so pieces of exactly their size still took 9.5 % more for the plain body at
//! 10k resources (9.3 MB) and 10.8 % for gzip (1.8 MB). Where it saves at least
//! [`SPLIT_GAIN`] bytes, a piece fills the largest class that fits and the rest goes into a
//! second, small allocation: 1.2 % and 3.4 % (the synthetic state's pieces, by
//! `mi_good_size`).
//!
//! Why a piece may be written over: a statistics poll re-renders the counter families of
//! every block (half the plain body), and their texts mostly keep their length. A piece that
//! nobody else holds and whose new text takes the same size classes is renewed in place
//! ([`Kept::renew`]); freed and allocated again, half the body went through the allocator per
//! poll, and replacements of slightly other sizes left partly used pages behind (resident
//! memory grew by about 1 MB per poll for six polls).
//!
//! Must never: change bytes that anyone else can see (a scrape sending them holds a
//! reference), or free an allocation other than through the allocator (region or global) that
//! made it.

use bytes::Bytes;
use drbd_reactor_plugin::memory::regions;
use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, Ordering};

/// The region of each kind of piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    Plain = 0,
    Gzip = 1,
}

/// A copy of `bytes` in `region`, exactly as long (the global allocator when no regions are
/// registered or the region could not allocate).
pub fn keep(bytes: &[u8], region: Region) -> Kept {
    Kept::new(bytes, Some(region))
}

/// Immutable bytes shared by reference count (see the module comment), in one allocation
/// with their header, or two when that wastes less of the region's size classes. The empty
/// value (the default) allocates nothing.
#[derive(Default)]
pub struct Kept {
    head: Option<NonNull<Header>>,
}

/// What precedes the bytes in their (first) allocation.
#[repr(C)]
struct Header {
    refs: AtomicU32,
    /// All the bytes, in both parts.
    len: u32,
    /// Bytes in the first part, right after this header.
    first: u32,
    /// The region's index, or [`GLOBAL`].
    origin: u32,
    /// The second part: the other `len - first` bytes, in an allocation of their own.
    second: Option<NonNull<u8>>,
}

pub(crate) const HEADER: usize = std::mem::size_of::<Header>();
const GLOBAL: u32 = u32::MAX;

/// More references than this is a leak of clones, not use: abort as `Arc` does.
const MAX_REFS: u32 = i32::MAX as u32;

/// A second allocation is made only when it saves at least this much of the size classes.
const SPLIT_GAIN: usize = 64;

// SAFETY: the bytes are written once, before the value exists, and only read afterwards; the
// count is atomic; a region's `free` may be called from any thread (memory::Regions says so).
unsafe impl Send for Kept {}
// SAFETY: as above: shared access is read-only, but for the atomic count.
unsafe impl Sync for Kept {}

/// Where `total` bytes (header included) are best cut, given the region's size classes: the
/// size of the first allocation when two waste at least [`SPLIT_GAIN`] bytes less than one
/// (the first then fills a size class exactly), else None.
fn split_at(total: usize, good_size: fn(usize) -> usize) -> Option<usize> {
    let one = good_size(total);
    if one == total {
        return None;
    }
    // The largest class not above `total`: good_size is monotonic, so the largest request
    // whose class still fits is found by bisection.
    let (mut lo, mut hi) = (HEADER + 1, total);
    if good_size(lo) > total {
        return None;
    }
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if good_size(mid) <= total {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let first = good_size(lo);
    let two = first + good_size(total - first);
    (two + SPLIT_GAIN <= one).then_some(first)
}

/// The allocations a piece of `total` bytes (header included) takes in a region: the size of
/// the first, and of the second when it is split; both whole size classes.
fn shape(total: usize, good_size: fn(usize) -> usize) -> (usize, Option<usize>) {
    match split_at(total, good_size) {
        Some(first) => (first, Some(good_size(total - first))),
        None => (good_size(total), None),
    }
}

impl Kept {
    /// A copy of `bytes` in the global allocator (small pieces built once: headers, prelude,
    /// fixed texts).
    pub fn copy(bytes: &[u8]) -> Kept {
        Kept::new(bytes, None)
    }

    fn new(bytes: &[u8], region: Option<Region>) -> Kept {
        if bytes.is_empty() {
            return Kept { head: None };
        }
        let len = u32::try_from(bytes.len()).expect("a piece of the body is under 4 GiB");
        let total = HEADER + bytes.len();
        let regions = region.and_then(|r| Some((r as u32, regions()?)));
        let placed = regions.and_then(|(r, regions)| {
            // Whole size classes are asked for (they are taken anyway), so a later text of the
            // same classes may be written over them ([`Kept::renew`]).
            let (size, second) = shape(total, regions.good_size);
            let first = if second.is_some() { size } else { total };
            let p = (regions.alloc)(r as usize, size)?;
            assert!(
                p.as_ptr().align_offset(std::mem::align_of::<Header>()) == 0,
                "a region returned memory not aligned for the header"
            );
            let second = if let Some(second) = second {
                match (regions.alloc)(r as usize, second) {
                    Some(s) => Some(s),
                    None => {
                        (regions.free)(p);
                        return None;
                    }
                }
            } else {
                None
            };
            Some((p, first - HEADER, r, second))
        });
        let (p, first, origin, second) = placed.unwrap_or_else(|| {
            let layout = Self::global_layout(total);
            // SAFETY: the layout's size is not zero (the header alone is 24 bytes).
            let p = unsafe { std::alloc::alloc(layout) };
            let p = NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
            (p, bytes.len(), GLOBAL, None)
        });
        let head = p.cast::<Header>();
        let (a, b) = bytes.split_at(first);
        // SAFETY: `p` is a fresh allocation of HEADER + first bytes, aligned for the header,
        // and `second` one of the remaining bytes; nothing else sees them.
        unsafe {
            head.as_ptr().write(Header {
                refs: AtomicU32::new(1),
                len,
                first: first as u32,
                origin,
                second,
            });
            std::ptr::copy_nonoverlapping(a.as_ptr(), p.as_ptr().add(HEADER), a.len());
            if let Some(s) = second {
                std::ptr::copy_nonoverlapping(b.as_ptr(), s.as_ptr(), b.len());
            }
        }
        Kept { head: Some(head) }
    }

    /// `bytes` in place of this piece's, in `region`: written over its own allocations when
    /// this is the only reference and a fresh copy would take the very same size classes (no
    /// memory changes hands, no page is touched but its own), else a fresh copy, made after
    /// this one is released (so the copy may take the blocks it freed).
    ///
    /// Why: a statistics poll changes the counter families of every block, whose texts mostly
    /// keep their length or grow by a few bytes. Freed and allocated again, half the plain
    /// body went through the allocator per poll: the pages given back faulted in again, and
    /// chunks of slightly other sizes left partly used pages behind.
    pub fn renew(mut self, bytes: &[u8], region: Region) -> Kept {
        if self.renew_in_place(bytes, region) {
            return self;
        }
        drop(self);
        keep(bytes, region)
    }

    fn renew_in_place(&mut self, bytes: &[u8], region: Region) -> bool {
        let (Some(head), Some(h), Some(regions)) = (self.head, self.header(), regions()) else {
            return false;
        };
        let Ok(len) = u32::try_from(bytes.len()) else {
            return false;
        };
        // Only reference: no clone exists, and none can be made but through this one. The
        // acquire pairs with the release of the references dropped before.
        if bytes.is_empty() || h.origin != region as u32 || h.refs.load(Ordering::Acquire) != 1 {
            return false;
        }
        let good_size = regions.good_size;
        let now = match h.second {
            Some(_) => (
                HEADER + h.first as usize,
                Some(good_size(h.len as usize - h.first as usize)),
            ),
            None => (good_size(HEADER + h.len as usize), None),
        };
        if shape(HEADER + bytes.len(), good_size) != now {
            return false;
        }
        let first = match now.1 {
            Some(_) => h.first as usize,
            None => bytes.len(),
        };
        let second = h.second;
        let (a, b) = bytes.split_at(first);
        // SAFETY: this is the only reference (above), so nothing reads the header or the bytes
        // while they are written; the allocations are whole classes of `now` (see `new`, and
        // every renewal keeps the classes), which hold `first` and `len - first` bytes.
        unsafe {
            let header = head.as_ptr();
            (*header).len = len;
            (*header).first = first as u32;
            let p = header.cast::<u8>();
            std::ptr::copy_nonoverlapping(a.as_ptr(), p.add(HEADER), a.len());
            if let Some(s) = second {
                std::ptr::copy_nonoverlapping(b.as_ptr(), s.as_ptr(), b.len());
            }
        }
        true
    }

    fn global_layout(size: usize) -> Layout {
        Layout::from_size_align(size, std::mem::align_of::<Header>()).expect("a valid layout")
    }

    fn header(&self) -> Option<&Header> {
        // SAFETY: the header lives as long as any reference to it, this one included.
        self.head.map(|h| unsafe { h.as_ref() })
    }

    pub fn len(&self) -> usize {
        self.header().map_or(0, |h| h.len as usize)
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// The bytes: the first part and the second (empty unless the piece was split).
    pub fn parts(&self) -> [&[u8]; 2] {
        let (Some(head), Some(h)) = (self.head, self.header()) else {
            return [&[], &[]];
        };
        let first = h.first as usize;
        // SAFETY: `first` initialised bytes follow the header, and `len - first` are in the
        // second part, until the last reference goes.
        unsafe {
            let a = std::slice::from_raw_parts(head.as_ptr().cast::<u8>().add(HEADER), first);
            let b = match h.second {
                Some(s) => std::slice::from_raw_parts(s.as_ptr(), h.len as usize - first),
                None => &[],
            };
            [a, b]
        }
    }

    /// The bytes in one buffer (tests, small pieces).
    pub fn to_vec(&self) -> Vec<u8> {
        self.parts().concat()
    }

    /// Part `part` (0 or 1) as a `Bytes` sharing it (one small owner allocation, freed with
    /// it): for the frame being sent.
    pub fn part_bytes(&self, part: usize) -> Bytes {
        if self.parts()[part].is_empty() {
            return Bytes::new();
        }
        Bytes::from_owner(Part {
            kept: self.clone(),
            part,
        })
    }

    /// Whether two values share one allocation (tests).
    pub fn same(&self, other: &Kept) -> bool {
        self.head == other.head
    }
}

/// One part of a piece, owned by a `Bytes`.
struct Part {
    kept: Kept,
    part: usize,
}

impl AsRef<[u8]> for Part {
    fn as_ref(&self) -> &[u8] {
        self.kept.parts()[self.part]
    }
}

impl Clone for Kept {
    fn clone(&self) -> Self {
        if let Some(h) = self.header() {
            if h.refs.fetch_add(1, Ordering::Relaxed) > MAX_REFS {
                std::process::abort();
            }
        }
        Kept { head: self.head }
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        let Some(head) = self.head else { return };
        // SAFETY: this reference keeps the header alive until the count says it was the last.
        let h = unsafe { head.as_ref() };
        if h.refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // What other holders did before dropping theirs happens before the free.
        fence(Ordering::Acquire);
        let (origin, size, second) = (h.origin, HEADER + h.len as usize, h.second);
        let p = head.cast::<u8>();
        match regions().filter(|_| origin != GLOBAL) {
            Some(r) => {
                if let Some(s) = second {
                    (r.free)(s);
                }
                (r.free)(p);
            }
            // SAFETY: allocated by the global allocator with this very layout (`new`), in one
            // part.
            None => unsafe { std::alloc::dealloc(p.as_ptr(), Self::global_layout(size)) },
        }
    }
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b] = self.parts();
        write!(f, "Kept({} + {} bytes)", a.len(), b.len())
    }
}

impl PartialEq for Kept {
    /// Equal bytes, however they are split.
    fn eq(&self, other: &Kept) -> bool {
        self.len() == other.len()
            && (self.parts().into_iter().flatten()).eq(other.parts().into_iter().flatten())
    }
}

#[cfg(test)]
#[path = "kept_tests.rs"]
mod tests;
