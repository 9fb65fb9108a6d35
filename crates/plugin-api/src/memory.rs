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
static REFILL: OnceLock<fn(bool)> = OnceLock::new();

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
    /// The size `alloc` really takes for a request of `len` bytes (its size class; at least
    /// `len`), so that bulk bytes can be stored in sizes that waste little (mimalloc's classes
    /// are up to 25 % apart: 9.3 MB of a 98 MB plain body at 10k resources). `len` itself when
    /// unknown.
    pub good_size: fn(len: usize) -> usize,
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

/// Registers how the allocator is told that pages freed from now on are about to be filled
/// again (`true`: keep them) or not any more (`false`: give them back at once, as usual).
/// Only the first registration counts.
pub fn set_refill(refill: fn(bool)) {
    let _ = REFILL.set(refill);
}

/// While it lives, pages freed are kept for reuse instead of given back at once: for a pass
/// that replaces many allocations by others of about their sizes (a render after a statistics
/// poll frees half the body and allocates as much again; giving freed pages back at once made
/// it fault them in again, 10-14 ms of a gzip scrape after a poll at 10k resources). End it
/// with a [`release_unused`], which gives back what is left over.
#[must_use = "the pass ends when the guard is dropped"]
pub struct Refill(());

/// Passes now running: the allocator is told at the first to begin and the last to end (two
/// metrics endpoints may render at once).
static PASSES: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

impl Refill {
    pub fn begin() -> Refill {
        let mut passes = PASSES.lock().unwrap_or_else(|e| e.into_inner());
        *passes += 1;
        if *passes == 1 {
            if let Some(refill) = REFILL.get() {
                refill(true);
            }
        }
        Refill(())
    }
}

impl Drop for Refill {
    fn drop(&mut self) {
        let mut passes = PASSES.lock().unwrap_or_else(|e| e.into_inner());
        *passes -= 1;
        if *passes == 0 {
            if let Some(refill) = REFILL.get() {
                refill(false);
            }
        }
    }
}

/// Regions over the global allocator with size classes like mimalloc's (four per doubling
/// above 64 bytes), recording which allocations are live: for the tests of code that keeps
/// bytes in regions, in test binaries that do not link the daemon's allocator.
pub mod stand_in {
    use super::{set_regions, Regions};
    use std::alloc::Layout;
    use std::collections::HashMap;
    use std::ptr::NonNull;
    use std::sync::Mutex;

    /// Live allocations: address -> (region, size asked for).
    static LIVE: Mutex<Option<HashMap<usize, (usize, usize)>>> = Mutex::new(None);

    /// Registers the stand-in as the process's regions (unless some were registered before).
    pub fn register() {
        set_regions(Regions {
            alloc,
            free,
            good_size,
        });
    }

    /// The region and size of a live allocation at `addr`.
    pub fn live(addr: usize) -> Option<(usize, usize)> {
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()?
            .get(&addr)
            .copied()
    }

    /// Up to 64 bytes exact, then four classes per doubling (a 9,000-byte request takes a
    /// 10,240-byte class).
    pub fn good_size(len: usize) -> usize {
        if len <= 64 {
            return len;
        }
        let step = len.next_power_of_two() / 8;
        len.div_ceil(step) * step
    }

    std::thread_local! {
        static MADE_HERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// Allocations made by the calling thread so far (other tests' threads do not count).
    pub fn made_here() -> u64 {
        MADE_HERE.with(|m| m.get())
    }

    fn layout(len: usize) -> Layout {
        Layout::from_size_align(len + 16, 16).expect("a valid layout")
    }

    fn alloc(region: usize, len: usize) -> Option<NonNull<u8>> {
        // SAFETY: a non-zero size (16 at least).
        let p = NonNull::new(unsafe { std::alloc::alloc(layout(len)) })?;
        // SAFETY: the size goes in the first 16 bytes; the caller's bytes follow.
        let user = unsafe {
            p.cast::<usize>().write(len);
            p.add(16)
        };
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(HashMap::new)
            .insert(user.as_ptr() as usize, (region, len));
        MADE_HERE.with(|m| m.set(m.get() + 1));
        Some(user)
    }

    fn free(p: NonNull<u8>) {
        let known = LIVE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .and_then(|l| l.remove(&(p.as_ptr() as usize)));
        assert!(
            known.is_some(),
            "freed what the stand-in region did not allocate"
        );
        // SAFETY: `p` came from `alloc`, 16 bytes after the size it was allocated with.
        unsafe {
            let start = p.sub(16);
            let len = start.cast::<usize>().read();
            std::alloc::dealloc(start.as_ptr(), layout(len));
        }
    }
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

    static REFILL_CALLS: std::sync::Mutex<Vec<bool>> = std::sync::Mutex::new(Vec::new());

    #[test]
    fn a_refill_pass_tells_the_allocator_when_it_begins_and_when_its_guard_goes() {
        let _ = Refill::begin(); // nothing registered yet: does nothing, does not fail
        set_refill(|on| REFILL_CALLS.lock().unwrap().push(on));
        let pass = Refill::begin();
        assert_eq!(*REFILL_CALLS.lock().unwrap(), [true]);
        drop(pass);
        assert_eq!(*REFILL_CALLS.lock().unwrap(), [true, false]);
        let result = std::panic::catch_unwind(|| {
            let _pass = Refill::begin();
            panic!("a render that fails");
        });
        assert!(result.is_err());
        assert_eq!(
            *REFILL_CALLS.lock().unwrap(),
            [true, false, true, false],
            "ended by unwinding too"
        );
        // Overlapping passes: told once, when the first begins and the last ends.
        let (one, two) = (Refill::begin(), Refill::begin());
        drop(one);
        assert_eq!(REFILL_CALLS.lock().unwrap().len(), 5, "still in a pass");
        drop(two);
        assert_eq!(
            REFILL_CALLS.lock().unwrap()[4..],
            [true, false],
            "one begin and one end for both"
        );
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
