//! Lets a plugin that has just dropped a lot of memory (a scrape body nobody asks for any
//! more) ask the allocator to give the freed pages back to the system, and keep bulk bytes
//! that live and die together in a region of their own, without knowing which allocator the
//! binary links: the binary registers how, once, at start.
//!
//! Why it is needed: an allocator such as mimalloc keeps the pages of a thread until that
//! thread allocates again, so pages freed from another thread (a render pool's, idle after a
//! scrape) stay resident for as long as the pool is idle. And pages are shared by whatever
//! was allocated at about the same time with about the same size: when the plain pieces of a
//! scrape body were dropped, the gzip pieces and other survivors among them kept 40 MB of
//! pages resident for 31 MB in use (examples/memory-figures in the prometheus plugin). Bytes
//! in a region of their own share pages only with each other. Must never: be called per
//! update on a hot path (a release walks the calling thread's pages), or fail when nothing
//! registered.

use std::ptr::NonNull;
use std::sync::OnceLock;

static RELEASE: OnceLock<fn(Scope)> = OnceLock::new();

/// What a release gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The pages the calling thread freed (also what other threads freed of its blocks): cheap
    /// enough after each render, and what a thread that may idle for long should do.
    Thread,
    /// Those and every region's free pages: after dropping bulk bytes kept in a region. Not
    /// after each render: a region's free pages are what the next render fills again, and
    /// giving them back makes it fault them in (a plain scrape after a poll at 10k resources
    /// took 4-6 ms longer).
    ThreadAndRegions,
}

/// How the binary's allocator allocates in a region (by index) and frees.
#[derive(Clone, Copy)]
pub struct Regions {
    /// `len` bytes (never 0) in region `region`, aligned to 8 bytes at least (a header with a
    /// count may go first); None when out of memory.
    pub alloc: fn(region: usize, len: usize) -> Option<NonNull<u8>>,
    /// Frees what `alloc` returned, from any thread.
    pub free: fn(NonNull<u8>),
}

static REGIONS: OnceLock<Regions> = OnceLock::new();

/// Registers the binary's regions. Only the first registration counts.
pub fn set_regions(regions: Regions) {
    let _ = REGIONS.set(regions);
}

/// The registered regions, if any (without them, bytes go to the global allocator).
pub fn regions() -> Option<Regions> {
    REGIONS.get().copied()
}

/// Registers how the calling thread returns its unused pages (the binary's allocator knows).
/// Only the first registration counts.
pub fn set_release(release: fn(Scope)) {
    let _ = RELEASE.set(release);
}

/// Returns unused pages to the system (see [`Scope`]); nothing if nothing registered.
pub fn release_unused(scope: Scope) {
    if let Some(release) = RELEASE.get() {
        release(scope);
    }
}

/// True when a release does something (tests of the callers).
pub fn releases() -> bool {
    RELEASE.get().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    fn count(scope: Scope) {
        let add = if scope == Scope::Thread { 1 } else { 10 };
        CALLS.fetch_add(add, Ordering::SeqCst);
    }

    #[test]
    fn a_release_runs_the_registered_function_and_only_the_first_registration_counts() {
        release_unused(Scope::Thread); // nothing registered yet: does nothing, does not fail
        assert_eq!(CALLS.load(Ordering::SeqCst), 0);
        set_release(count);
        set_release(|_| panic!("a second registration must not replace the first"));
        assert!(releases());
        release_unused(Scope::Thread);
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        release_unused(Scope::ThreadAndRegions);
        assert_eq!(CALLS.load(Ordering::SeqCst), 11, "the scope is passed on");
    }
}
