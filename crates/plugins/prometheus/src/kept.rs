//! Where the cached pieces of the scrape body live: each encoding in an allocator region of
//! its own when the binary registered regions (`drbd_reactor_plugin::memory`), else in the
//! global allocator; always in an allocation of exactly their size.
//!
//! Why: pieces are the bulk of the plugin's memory (96 MB plain, 16 MB gzip at 10k resources)
//! and an encoding is dropped whole when clients stop asking for it. Among everything else,
//! its freed pages stayed resident wherever a survivor of about the same size had been
//! allocated beside them; in a region of its own an encoding shares pages only with itself.
//!
//! Must never: hand out bytes that can change, or free a region's allocation other than
//! through the region's own `free`.

use bytes::Bytes;
use drbd_reactor_plugin::memory::{regions, Regions};
use std::ptr::NonNull;

/// The region of each kind of piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    Plain = 0,
    Gzip = 1,
}

/// A copy of `bytes` in `region`, exactly as long.
pub fn keep(bytes: &[u8], region: Region) -> Bytes {
    if bytes.is_empty() {
        return Bytes::new();
    }
    match regions().and_then(|r| InRegion::copy(r, region as usize, bytes)) {
        Some(owned) => Bytes::from_owner(owned),
        None => Bytes::copy_from_slice(bytes),
    }
}

/// Bytes allocated in a region, freed there when the last `Bytes` of them goes.
struct InRegion {
    ptr: NonNull<u8>,
    len: usize,
    free: fn(NonNull<u8>),
}

// SAFETY: the bytes are written once, before the value exists, and only read afterwards; the
// region's `free` may be called from any thread (memory::Regions says so).
unsafe impl Send for InRegion {}
// SAFETY: as above: shared access is read-only.
unsafe impl Sync for InRegion {}

impl InRegion {
    fn copy(regions: Regions, region: usize, bytes: &[u8]) -> Option<InRegion> {
        let ptr = (regions.alloc)(region, bytes.len())?;
        // SAFETY: `ptr` is a fresh allocation of `bytes.len()` bytes that nothing else sees.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr.as_ptr(), bytes.len()) };
        Some(InRegion {
            ptr,
            len: bytes.len(),
            free: regions.free,
        })
    }
}

impl AsRef<[u8]> for InRegion {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr` holds `len` initialised bytes until `drop`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for InRegion {
    fn drop(&mut self) {
        (self.free)(self.ptr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drbd_reactor_plugin::memory::set_regions;
    use std::alloc::Layout;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static LIVE: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

    // A stand-in region: the global allocator with a length header, counting live bytes.
    fn alloc(region: usize, len: usize) -> Option<NonNull<u8>> {
        let layout = Layout::from_size_align(len + 16, 16).ok()?;
        // SAFETY: a non-zero size.
        let p = NonNull::new(unsafe { std::alloc::alloc(layout) })?;
        // SAFETY: the header fits in the allocation.
        unsafe { p.cast::<[usize; 2]>().write([region, len]) };
        LIVE[region].fetch_add(len, Ordering::SeqCst);
        // SAFETY: 16 bytes into an allocation of len + 16.
        Some(unsafe { p.add(16) })
    }

    fn free(p: NonNull<u8>) {
        // SAFETY: `p` came from `alloc`, 16 bytes after its header.
        unsafe {
            let start = p.sub(16);
            let [region, len] = start.cast::<[usize; 2]>().read();
            LIVE[region].fetch_sub(len, Ordering::SeqCst);
            std::alloc::dealloc(
                start.as_ptr(),
                Layout::from_size_align(len + 16, 16).unwrap(),
            );
        }
    }

    #[test]
    fn kept_bytes_live_in_their_region_until_the_last_copy_goes() {
        set_regions(Regions { alloc, free });
        let a = keep(b"drbd_resource_role{name=\"r0\"} 1\n", Region::Plain);
        let b = keep(b"\x1f\x8b", Region::Gzip);
        assert_eq!(&a[..], b"drbd_resource_role{name=\"r0\"} 1\n");
        assert_eq!(&b[..], b"\x1f\x8b");
        assert_eq!(LIVE[0].load(Ordering::SeqCst), a.len());
        assert_eq!(LIVE[1].load(Ordering::SeqCst), 2);
        let (len, a2) = (a.len(), a.slice(5..9));
        drop(a);
        assert_eq!(LIVE[0].load(Ordering::SeqCst), len, "a slice keeps it");
        assert_eq!(&a2[..], b"reso");
        drop(a2);
        drop(b);
        assert_eq!(LIVE[0].load(Ordering::SeqCst), 0);
        assert_eq!(LIVE[1].load(Ordering::SeqCst), 0);
        assert!(keep(b"", Region::Plain).is_empty());
    }
}
