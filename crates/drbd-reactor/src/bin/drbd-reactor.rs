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

/// Collects the calling thread's freed blocks (also those freed by other threads) and purges
/// the allocator's free pages at once instead of after its delay.
#[cfg(feature = "mimalloc")]
fn release_unused_pages() {
    // SAFETY: mi_collect only walks the allocator's own bookkeeping; it may be called from
    // any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

#[cfg(all(test, feature = "mimalloc"))]
mod tests {
    use super::*;

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
