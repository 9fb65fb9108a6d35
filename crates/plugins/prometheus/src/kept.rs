//! Where the cached pieces of the scrape body live: each encoding in an allocator region of
//! its own when the binary registered regions (`drbd_reactor_plugin::memory`), else in the
//! global allocator; always in one allocation of exactly their size plus a 16-byte header.
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
//! frame being sent ([`Kept::to_bytes`]).
//!
//! Must never: hand out bytes that can change, or free an allocation other than through the
//! allocator (region or global) that made it.

use bytes::Bytes;
use drbd_reactor_plugin::memory::regions;
use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicUsize, Ordering};

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

/// Immutable bytes shared by reference count, in one allocation with their header (see the
/// module comment). The empty value (the default) allocates nothing.
#[derive(Default)]
pub struct Kept {
    head: Option<NonNull<Header>>,
}

/// What precedes the bytes in their allocation.
#[repr(C)]
struct Header {
    refs: AtomicUsize,
    len: u32,
    /// The region's index, or [`GLOBAL`].
    origin: u32,
}

const HEADER: usize = std::mem::size_of::<Header>();
const GLOBAL: u32 = u32::MAX;

/// More references than this is a leak of clones, not use: abort as `Arc` does.
const MAX_REFS: usize = isize::MAX as usize;

// SAFETY: the bytes are written once, before the value exists, and only read afterwards; the
// count is atomic; a region's `free` may be called from any thread (memory::Regions says so).
unsafe impl Send for Kept {}
// SAFETY: as above: shared access is read-only, but for the atomic count.
unsafe impl Sync for Kept {}

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
        let size = HEADER + bytes.len();
        let in_region = region.and_then(|r| {
            let regions = regions()?;
            let p = (regions.alloc)(r as usize, size)?;
            assert!(
                p.as_ptr().align_offset(std::mem::align_of::<Header>()) == 0,
                "a region returned memory not aligned for the header"
            );
            Some((p, r as u32))
        });
        let (p, origin) = in_region.unwrap_or_else(|| {
            let layout = Self::global_layout(size);
            // SAFETY: the layout's size is not zero (the header alone is 16 bytes).
            let p = unsafe { std::alloc::alloc(layout) };
            let p = NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
            (p, GLOBAL)
        });
        let head = p.cast::<Header>();
        // SAFETY: `p` is a fresh allocation of HEADER + len bytes, aligned for the header, that
        // nothing else sees: the header goes first, the bytes after it.
        unsafe {
            head.as_ptr().write(Header {
                refs: AtomicUsize::new(1),
                len,
                origin,
            });
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.as_ptr().add(HEADER), bytes.len());
        }
        Kept { head: Some(head) }
    }

    fn global_layout(size: usize) -> Layout {
        Layout::from_size_align(size, std::mem::align_of::<Header>()).expect("a valid layout")
    }

    fn header(&self) -> Option<&Header> {
        // SAFETY: the header lives as long as any reference to it, this one included.
        self.head.map(|h| unsafe { h.as_ref() })
    }

    /// The bytes as a `Bytes` sharing them (one small owner allocation, freed with it): for
    /// the frame being sent.
    pub fn to_bytes(&self) -> Bytes {
        if self.head.is_none() {
            return Bytes::new();
        }
        Bytes::from_owner(self.clone())
    }

    /// Whether two values share one allocation (tests).
    pub fn same(&self, other: &Kept) -> bool {
        self.head == other.head
    }
}

impl std::ops::Deref for Kept {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self.head {
            None => &[],
            // SAFETY: `len` initialised bytes follow the header until the last reference goes.
            Some(h) => unsafe {
                let len = h.as_ref().len as usize;
                std::slice::from_raw_parts(h.as_ptr().cast::<u8>().add(HEADER), len)
            },
        }
    }
}

impl AsRef<[u8]> for Kept {
    fn as_ref(&self) -> &[u8] {
        self
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
        let (origin, size) = (h.origin, HEADER + h.len as usize);
        let p = head.cast::<u8>();
        match regions().filter(|_| origin != GLOBAL) {
            Some(r) => (r.free)(p),
            // SAFETY: allocated by the global allocator with this very layout (`new`).
            None => unsafe { std::alloc::dealloc(p.as_ptr(), Self::global_layout(size)) },
        }
    }
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kept({} bytes)", self.len())
    }
}

impl PartialEq for Kept {
    fn eq(&self, other: &Kept) -> bool {
        **self == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drbd_reactor_plugin::memory::{set_regions, Regions};
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// The stand-in regions' live allocations: address -> (region, size). Other tests of the
    /// crate allocate in them too once registered, so tests look up their own addresses.
    static LIVE: Mutex<Option<HashMap<usize, (usize, usize)>>> = Mutex::new(None);

    fn live(addr: usize) -> Option<(usize, usize)> {
        LIVE.lock().unwrap().as_ref()?.get(&addr).copied()
    }

    // A stand-in region: the global allocator with a size header, recording live allocations.
    fn alloc(region: usize, size: usize) -> Option<NonNull<u8>> {
        let layout = Layout::from_size_align(size + 16, 16).ok()?;
        // SAFETY: a non-zero size.
        let p = NonNull::new(unsafe { std::alloc::alloc(layout) })?;
        // SAFETY: the header fits in the allocation.
        unsafe { p.cast::<usize>().write(size) };
        // SAFETY: 16 bytes into an allocation of size + 16.
        let user = unsafe { p.add(16) };
        let mut live = LIVE.lock().unwrap();
        live.get_or_insert_with(HashMap::new)
            .insert(user.as_ptr() as usize, (region, size));
        Some(user)
    }

    fn free(p: NonNull<u8>) {
        let known = LIVE
            .lock()
            .unwrap()
            .as_mut()
            .and_then(|l| l.remove(&(p.as_ptr() as usize)));
        assert!(known.is_some(), "freed what the region did not allocate");
        // SAFETY: `p` came from `alloc`, 16 bytes after its header.
        unsafe {
            let start = p.sub(16);
            let size = start.cast::<usize>().read();
            std::alloc::dealloc(
                start.as_ptr(),
                Layout::from_size_align(size + 16, 16).unwrap(),
            );
        }
    }

    fn addr(k: &Kept) -> usize {
        k.head.expect("not empty").as_ptr() as usize
    }

    #[test]
    fn kept_bytes_live_in_their_region_with_their_header_until_the_last_copy_goes() {
        set_regions(Regions { alloc, free });
        let text = b"drbd_resource_role{name=\"r0\"} 1\n";
        let a = keep(text, Region::Plain);
        let b = keep(b"\x1f\x8b", Region::Gzip);
        assert_eq!(&a[..], text);
        assert_eq!(&b[..], b"\x1f\x8b");
        assert_eq!(
            live(addr(&a)),
            Some((0, HEADER + text.len())),
            "one allocation, exact"
        );
        assert_eq!(live(addr(&b)), Some((1, HEADER + 2)));
        let (at, copy) = (addr(&a), a.clone());
        assert!(copy.same(&a));
        drop(a);
        assert!(live(at).is_some(), "a clone keeps it");
        let sent = copy.to_bytes();
        drop(copy);
        assert_eq!(&sent[..], text, "a Bytes made of it keeps it too");
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
        assert!(keep(b"", Region::Plain).to_bytes().is_empty());
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
        assert_eq!(&k[..], b"# HELP drbd_resource_role\n");
        assert_eq!(
            k,
            Kept::copy(b"# HELP drbd_resource_role\n"),
            "equal by content"
        );
        assert!(!k.same(&Kept::copy(&k)));
        assert_eq!(
            std::mem::size_of::<Kept>(),
            8,
            "one pointer where pieces are listed"
        );
        assert!(Kept::default().is_empty());
    }
}
