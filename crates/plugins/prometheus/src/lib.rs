//! The prometheus plugin: DRBD state as Prometheus metrics on an HTTP endpoint (:9942).
//!
//! `families` and `render` are pure (snapshot → exposition text, the original's 28 families
//! byte for byte, then ours); `chunks` keeps the body as pieces per family and block of
//! resources, so a scrape after a change renders and compresses only what changed (its module
//! comment says how the reuse is cut; `fingerprint` digests what a block's families show, so
//! the cache need not keep the resources it rendered); `server` is the HTTP shell, which sends
//! the pieces without joining them (`body`: short ones copied into frames) and renders each
//! state once however many scrapes ask at the same time.
//! The daemon supplies a [`server::MetricsSource`] that reads its latest state snapshot, so a
//! scrape never blocks the core and the core never waits for a scrape.

pub mod address;
pub mod background;
mod block;
pub mod body;
pub mod chunks;
mod column;
pub mod config;
mod crc_tree;
pub mod families;
pub mod fingerprint;
pub mod gzip;
pub mod kept;
pub mod plugin;
pub mod render;
pub mod server;
pub mod span;
mod walk;

/// For the crate's unit tests: a synthetic frame to render, and a lock for tests that count
/// the allocator releases the plugin asks for or that render on the pool (which asks for
/// them): they run one at a time, since the count is process-wide.
#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Mutex, MutexGuard};

    static LOCK: Mutex<()> = Mutex::new(());
    /// Releases asked for: of the calling thread's pages, and of those and the regions'.
    static RELEASES: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    /// Refill passes begun and ended, and the count of releases when the last one ended.
    static REFILLS: Mutex<(usize, usize, usize)> = Mutex::new((0, 0, 0));

    /// Holds off the other such tests, and counts releases from now on.
    pub(crate) fn exclusive() -> MutexGuard<'static, ()> {
        drbd_reactor_plugin::memory::set_release(|scope| {
            let i = usize::from(scope != drbd_reactor_plugin::memory::Scope::Thread);
            RELEASES[i].fetch_add(1, Ordering::SeqCst);
        });
        drbd_reactor_plugin::memory::set_refill(|on| {
            let mut r = REFILLS.lock().unwrap_or_else(|e| e.into_inner());
            if on {
                r.0 += 1;
            } else {
                r.1 += 1;
                r.2 = RELEASES[0].load(Ordering::SeqCst);
            }
        });
        LOCK.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Releases asked for so far (by any thread): of a thread's pages only, and with the
    /// regions'.
    pub(crate) fn releases() -> [usize; 2] {
        [0, 1].map(|i| RELEASES[i].load(Ordering::SeqCst))
    }

    /// Refill passes begun and ended so far, and the thread releases counted when the last
    /// one ended.
    pub(crate) fn refills() -> (usize, usize, usize) {
        *REFILLS.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The frame of a synthetic state of `resources` resources with two peers each.
    pub(crate) fn synth_frame(resources: usize) -> crate::chunks::Frame {
        synth_polls(resources, &[0]).remove(0)
    }

    /// Frames of that state after each statistics poll that moved every peer device's
    /// counters by `by` (0: the state itself).
    pub(crate) fn synth_polls(resources: usize, polls: &[u64]) -> Vec<crate::chunks::Frame> {
        // Pieces go to regions with size classes, as in the daemon (some are split).
        drbd_reactor_plugin::memory::stand_in::register();
        let mut s = drbd::State::new();
        for line in drbd::synth::initial_dump(resources, 2) {
            s.apply(line.event, &mut Vec::new());
        }
        let mut frames = Vec::new();
        for &by in polls {
            let lines = drbd::synth::counter_moves(&s, |_| by > 0, by);
            for l in &lines {
                s.apply(
                    drbd::parse_line(l).expect("a change line").event,
                    &mut Vec::new(),
                );
            }
            frames.push(crate::chunks::Frame {
                resources: s.snapshot(),
                ctx: Default::default(),
            });
        }
        frames
    }
}
