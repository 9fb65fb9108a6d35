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
mod tests {
    use super::*;
    use drbd_reactor_plugin::memory::stand_in::{self, good_size, live, made_here};

    fn addr(k: &Kept) -> usize {
        k.head.expect("not empty").as_ptr() as usize
    }

    fn text(len: usize) -> Vec<u8> {
        (0..len).map(|i| b'a' + (i % 26) as u8).collect()
    }

    #[test]
    fn kept_bytes_live_in_their_region_with_their_header_until_the_last_copy_goes() {
        stand_in::register();
        let t = b"drbd_resource_role{name=\"r0\"} 1\n";
        let a = keep(t, Region::Plain);
        let b = keep(b"\x1f\x8b", Region::Gzip);
        assert_eq!(a.to_vec(), t);
        assert_eq!(b.to_vec(), b"\x1f\x8b");
        assert_eq!(
            live(addr(&a)),
            Some((0, HEADER + t.len())),
            "one allocation, exact"
        );
        assert_eq!(live(addr(&b)), Some((1, HEADER + 2)));
        let (at, copy) = (addr(&a), a.clone());
        assert!(copy.same(&a));
        drop(a);
        assert!(live(at).is_some(), "a clone keeps it");
        let sent = copy.part_bytes(0);
        drop(copy);
        assert_eq!(&sent[..], t, "a Bytes made of it keeps it too");
        assert_eq!(sent.as_ptr() as usize, at + HEADER, "without a copy");
        assert!(live(at).is_some());
        drop(sent);
        assert_eq!(
            live(at),
            None,
            "freed in its region with the last reference"
        );
        let bt = addr(&b);
        drop(b);
        assert_eq!(live(bt), None);
        assert!(keep(b"", Region::Plain).is_empty());
        assert!(keep(b"", Region::Plain).part_bytes(0).is_empty());
    }

    #[test]
    fn a_piece_that_would_waste_much_of_its_size_class_is_kept_in_two_parts() {
        stand_in::register();
        // 9,000 bytes and the header take a 10,240-byte class alone; 8,192 + 1,024 in two.
        let t = text(9000);
        let k = keep(&t, Region::Plain);
        let [a, b] = k.parts();
        assert_eq!(
            HEADER + a.len(),
            8192,
            "the first part fills a class exactly"
        );
        assert_eq!(good_size(HEADER + a.len()), HEADER + a.len());
        assert_eq!(a.len() + b.len(), 9000);
        assert_eq!(k.len(), 9000);
        assert_eq!(k.to_vec(), t, "the bytes, in order");
        let second = b.as_ptr() as usize;
        assert_eq!(
            live(second),
            Some((0, good_size(b.len()))),
            "the second part in the same region, a whole class"
        );
        let (sa, sb) = (k.part_bytes(0), k.part_bytes(1));
        assert_eq!([&sa[..], &sb[..]].concat(), t);
        assert_eq!(sb.as_ptr() as usize, second, "sent without a copy");
        let head = addr(&k);
        drop((k, sa));
        assert!(live(second).is_some(), "a sent part keeps the piece");
        drop(sb);
        assert_eq!((live(head), live(second)), (None, None), "both parts freed");
        // A piece whose class wastes little, or a small one, stays whole.
        for len in [8192 - HEADER, 100, 1] {
            let k = keep(&text(len), Region::Gzip);
            assert!(
                k.parts()[1].is_empty(),
                "{len} bytes stay in one allocation"
            );
        }
        // Global copies are never split.
        assert!(Kept::copy(&t).parts()[1].is_empty());
    }

    #[test]
    fn splits_are_taken_only_when_they_save_and_fill_a_class() {
        for total in (HEADER + 1..70_000).step_by(37) {
            let one = good_size(total);
            match split_at(total, good_size) {
                None => {}
                Some(first) => {
                    assert!(first < total && first > HEADER, "{total}: {first}");
                    assert_eq!(
                        good_size(first),
                        first,
                        "{total}: the first part fills its class"
                    );
                    assert!(
                        first + good_size(total - first) + SPLIT_GAIN <= one,
                        "{total}"
                    );
                }
            }
        }
        assert_eq!(split_at(8192, good_size), None, "a class exactly");
        assert_eq!(split_at(9024, good_size), Some(8192));
        assert_eq!(split_at(9024, |n| n), None, "an allocator without classes");
    }

    /// The region and size of each allocation of `k`.
    fn allocations(k: &Kept) -> Vec<(usize, usize)> {
        let [_, b] = k.parts();
        let mut v = vec![live(addr(k)).expect("first part live")];
        if !b.is_empty() {
            v.push(live(b.as_ptr() as usize).expect("second part live"));
        }
        v
    }

    /// What a fresh copy of `len` bytes takes in region 0.
    fn fresh(len: usize) -> Vec<(usize, usize)> {
        let (a, b) = shape(HEADER + len, good_size);
        std::iter::once((0, a)).chain(b.map(|b| (0, b))).collect()
    }

    #[test]
    fn an_unshared_piece_is_renewed_in_place_while_its_size_classes_stay() {
        stand_in::register();
        // Split: 8,192 + 832 bytes (a 896-byte class); 10 more bytes stay in that class.
        let k = keep(&text(9000), Region::Plain);
        let (head, second) = (addr(&k), k.parts()[1].as_ptr() as usize);
        let made = made_here();
        let k = k.renew(&text(9010)[1..], Region::Plain);
        assert_eq!(made_here(), made, "nothing allocated");
        assert_eq!(k.to_vec(), &text(9010)[1..], "the new bytes");
        assert_eq!(
            (addr(&k), k.parts()[1].as_ptr() as usize),
            (head, second),
            "written over both parts"
        );
        assert_eq!(allocations(&k), fresh(9009), "what a fresh copy takes");
        // Whole: 100 bytes and the header take a 128-byte class, and so do 104.
        let w = keep(&text(100), Region::Plain);
        let at = addr(&w);
        let w = w.renew(&text(104), Region::Plain);
        assert_eq!((addr(&w), w.to_vec()), (at, text(104)));
        assert_eq!(allocations(&w), fresh(104));
        // Into another class: a fresh copy, of the new classes, with the new bytes.
        for (k, len) in [
            (k, 9200),
            (w, 120),
            (keep(&text(9000), Region::Plain), 8000),
        ] {
            let made = made_here();
            let k = k.renew(&text(len), Region::Plain);
            assert!(made_here() > made, "{len} bytes: allocated anew");
            assert_eq!(k.to_vec(), text(len));
            assert_eq!(allocations(&k), fresh(len), "{len} bytes");
        }
    }

    #[test]
    fn a_shared_piece_is_never_written_over() {
        stand_in::register();
        let k = keep(&text(9000), Region::Plain);
        let held = k.clone();
        let sent = k.part_bytes(1);
        let before = sent.to_vec();
        let k = k.renew(&text(9001)[1..], Region::Plain);
        assert!(!k.same(&held), "a copy of its own");
        assert_eq!(k.to_vec(), &text(9001)[1..]);
        assert_eq!(held.to_vec(), text(9000), "the holder's bytes stayed");
        assert_eq!(sent.to_vec(), before, "and the sent part's");
        // Nor is a piece of another region, a global copy or the empty piece.
        let g = keep(&text(100), Region::Gzip).renew(&text(100), Region::Plain);
        assert_eq!(allocations(&g), vec![(0, good_size(HEADER + 100))]);
        let c = Kept::copy(&text(100)).renew(&text(100), Region::Plain);
        assert_eq!(allocations(&c), vec![(0, good_size(HEADER + 100))]);
        assert_eq!(Kept::default().renew(b"x", Region::Gzip).to_vec(), b"x");
        assert!(keep(b"x", Region::Gzip).renew(b"", Region::Gzip).is_empty());
    }

    #[test]
    fn renewals_keep_the_bytes_and_take_what_fresh_copies_would() {
        stand_in::register();
        // A poll moves a chunk's length a little, sometimes across a class.
        let mut len = 9000usize;
        let mut k = keep(&text(len), Region::Plain);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut in_place = 0;
        for round in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            len = (len as i64 + (seed % 41) as i64 - 16).clamp(1, 40_000) as usize;
            let t: Vec<u8> = text(len + round % 26)[round % 26..].to_vec();
            let made = made_here();
            k = k.renew(&t, Region::Plain);
            in_place += usize::from(made_here() == made);
            assert_eq!(k.to_vec(), t, "round {round}");
            assert_eq!(allocations(&k), fresh(len), "round {round}: {len} bytes");
        }
        assert!(in_place > 1000, "most renewals in place: {in_place}");
    }

    #[test]
    fn copies_live_in_the_global_allocator_and_are_shared_across_threads() {
        let k = Kept::copy(b"# HELP drbd_resource_role\n");
        assert_eq!(live(addr(&k)), None, "not in a region");
        let clones: Vec<Kept> = (0..8).map(|_| k.clone()).collect();
        let handles: Vec<_> = clones
            .into_iter()
            .map(|c| std::thread::spawn(move || c.len()))
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), 26);
        }
        assert_eq!(k.to_vec(), b"# HELP drbd_resource_role\n");
        assert_eq!(
            k,
            Kept::copy(b"# HELP drbd_resource_role\n"),
            "equal by content"
        );
        assert!(!k.same(&Kept::copy(&k.to_vec())));
        assert_eq!(
            std::mem::size_of::<Kept>(),
            8,
            "one pointer where pieces are listed"
        );
        assert!(Kept::default().is_empty());
    }
}
