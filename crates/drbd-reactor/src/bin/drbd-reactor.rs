//! The `drbd-reactor` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    // No transparent huge pages: the daemon's heap is a few MB, spread thin, and with THP set
    // to "always" every 2 MiB-aligned allocator region touched at all became resident in full
    // (8 MB of an idle daemon's 13 MB). Set before the allocator maps more than a few pages.
    // An old kernel without the option leaves THP as it is: nothing to report.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    #[cfg(feature = "mimalloc")]
    drbd_reactor_plugin::memory::set_release(release_unused_pages);
    drbd_reactor::daemon::main()
}

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Collects the calling thread's freed blocks (also those freed by other threads) and purges
/// the allocator's free pages at once instead of after its delay.
#[cfg(feature = "mimalloc")]
fn release_unused_pages() {
    // SAFETY: mi_collect only walks the allocator's own bookkeeping; it may be called from
    // any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
