//! The `drbd-reactor` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    // No transparent huge pages: the daemon's heap is a few MB, spread thin, and with THP set
    // to "always" every 2 MiB-aligned allocator region touched at all became resident in full
    // (8 MB of an idle daemon's 13 MB). Set before the allocator maps more than a few pages.
    // An old kernel without the option leaves THP as it is: nothing to report.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    drbd_reactor::daemon::main()
}

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
