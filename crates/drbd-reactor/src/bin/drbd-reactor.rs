//! The `drbd-reactor` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    // No transparent huge pages: the daemon's heap is a few MB, spread thin, and with THP set
    // to "always" every 2 MiB-aligned allocator region touched at all became resident in full
    // (8 MB of an idle daemon's 13 MB). Set before the allocator maps more than a few pages.
    // An old kernel without the option leaves THP as it is: nothing to report.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    #[cfg(feature = "mimalloc")]
    {
        purge_freed_pages_at_once();
        drbd_reactor_plugin::memory::set_release(release_unused_pages);
        drbd_reactor_plugin::memory::set_refill(keep_freed_pages_for_refill);
        // Only mimalloc v3's heaps take allocations from any thread (v2's: only from the
        // thread that made them); a v2 build keeps every piece in the global heap.
        if first_class_heaps() {
            drbd_reactor_plugin::memory::set_regions(drbd_reactor_plugin::memory::Regions {
                alloc: region_alloc,
                free: region_free,
                good_size: region_good_size,
            });
        }
    }
    drbd_reactor::daemon::main()
}

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (v2's option enum; the test below checks the index).
#[cfg(feature = "mimalloc")]
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Pages the allocator no longer uses go back to the kernel at once, not 10 ms later (100 ms
/// for arenas): a statistics poll copies every resource while a snapshot or the metrics cache
/// holds the old versions, and a scrape's pieces replace the previous ones; with the delay, the
/// freed pages were still resident when the next ones were touched, which set the peak
/// (bench/all-plugins.sh: resident with a gzip-only client 68 instead of 78 MB).
#[cfg(feature = "mimalloc")]
fn purge_freed_pages_at_once() {
    // SAFETY: sets one of the allocator's options; any thread, any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

/// While a render replaces chunks (`memory::Refill`), freed pages wait 10 ms (mimalloc v2's
/// default) before they go back to the kernel, so the render's new chunks take them instead
/// of faulting fresh ones in; the release at the end of the render (`mi_collect(true)`)
/// purges what is left at once. (A second instead of 10 ms: no faster, 0.5 MB more.)
#[cfg(feature = "mimalloc")]
fn keep_freed_pages_for_refill(on: bool) {
    let delay = if on { 10 } else { 0 };
    // SAFETY: sets one of the allocator's options; any thread, any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, delay) }
}

/// Collects the calling thread's freed blocks (also those freed by other threads) and purges
/// the allocator's free pages at once instead of after its delay; with the regions, theirs.
#[cfg(feature = "mimalloc")]
fn release_unused_pages(scope: drbd_reactor_plugin::memory::Scope) {
    // SAFETY: mi_collect only walks the allocator's own bookkeeping; it may be called from
    // any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
    if scope == drbd_reactor_plugin::memory::Scope::Thread {
        return;
    }
    for cell in &REGION_HEAPS {
        if let Some(&heap) = cell.get().filter(|h| **h != 0) {
            // SAFETY: as above, for a region's heap (live for the process).
            unsafe { libmimalloc_sys::mi_heap_collect(heap as *mut _, true) }
        }
    }
}

/// Whether the linked mimalloc is v3 (its version is major * 10000 + minor * 100 + patch).
#[cfg(feature = "mimalloc")]
fn first_class_heaps() -> bool {
    // SAFETY: reads a constant of the library.
    unsafe { libmimalloc_sys::mi_version() >= 30000 }
}

/// The regions' heaps (mimalloc v3 first-class heaps: any thread allocates in them, and they
/// keep their allocations in pages of their own), created on first use.
#[cfg(feature = "mimalloc")]
static REGION_HEAPS: [std::sync::OnceLock<usize>; 2] =
    [std::sync::OnceLock::new(), std::sync::OnceLock::new()];

#[cfg(feature = "mimalloc")]
fn region_heap(region: usize) -> Option<*mut libmimalloc_sys::mi_heap_t> {
    let cell = REGION_HEAPS.get(region)?;
    // SAFETY: creates a heap; it lives as long as the process.
    let heap = *cell.get_or_init(|| unsafe { libmimalloc_sys::mi_heap_new() } as usize);
    (heap != 0).then_some(heap as *mut libmimalloc_sys::mi_heap_t)
}

#[cfg(feature = "mimalloc")]
fn region_alloc(region: usize, len: usize) -> Option<std::ptr::NonNull<u8>> {
    let heap = region_heap(region)?;
    // SAFETY: allocates `len` bytes in a live heap; v3 heaps take allocations from any thread.
    std::ptr::NonNull::new(unsafe { libmimalloc_sys::mi_heap_malloc(heap, len) }.cast())
}

#[cfg(feature = "mimalloc")]
fn region_good_size(len: usize) -> usize {
    // SAFETY: a pure computation on the size classes.
    unsafe { libmimalloc_sys::mi_good_size(len) }
}

#[cfg(feature = "mimalloc")]
fn region_free(p: std::ptr::NonNull<u8>) {
    // SAFETY: `p` came from mi_heap_malloc (region_alloc); mi_free takes it from any thread.
    unsafe { libmimalloc_sys::mi_free(p.as_ptr().cast()) }
}

#[cfg(all(test, feature = "mimalloc"))]
mod tests {
    use super::*;

    #[test]
    fn the_linked_mimalloc_has_first_class_heaps_and_regions_allocate_and_free() {
        assert!(first_class_heaps(), "the regions need mimalloc v3");
        for region in 0..2 {
            let p = region_alloc(region, 100).expect("allocated");
            // SAFETY: 100 fresh bytes.
            unsafe { std::ptr::write_bytes(p.as_ptr(), 0xa5, 100) };
            // freed on another thread, as the render pool's pieces are
            let addr = p.as_ptr() as usize;
            std::thread::spawn(move || {
                region_free(std::ptr::NonNull::new(addr as *mut u8).expect("non-null"))
            })
            .join()
            .unwrap();
        }
        assert!(region_alloc(2, 1).is_none(), "no third region");
    }

    #[test]
    fn the_good_size_is_the_size_class_a_region_allocation_takes() {
        for len in [1, 100, 1000, 9000, 13_000, 70_000] {
            let good = region_good_size(len);
            assert!(good >= len, "{len} -> {good}");
            assert_eq!(region_good_size(good), good, "a class is its own good size");
            let p = region_alloc(0, len).expect("allocated");
            // SAFETY: asks the allocator how much it gave for `p`.
            let usable = unsafe { libmimalloc_sys::mi_usable_size(p.as_ptr().cast()) };
            assert_eq!(usable, good, "{len}: the region took what good_size said");
            region_free(p);
        }
        assert!(
            region_good_size(9000) > 9000,
            "classes are apart: there is something to save"
        );
    }

    #[test]
    fn the_purge_delay_option_index_names_the_purge_delay() {
        // The default of mi_option_purge_delay in mimalloc v2 is 10 ms; v3's is 1000. Another
        // value means the index names another option (or the environment set it).
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: reads an option.
            let v = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
            assert!(
                v == 10 || v == 1000,
                "option {MI_OPTION_PURGE_DELAY} is {v}"
            );
        }
        purge_freed_pages_at_once();
        // SAFETY: reads an option.
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
            0
        );
    }
}
