//! The state that state readers (prometheus, agentx) see, and how they get it: a reader asks
//! when it needs one (a scrape, an SNMP request), the core builds it from its state between
//! two batches of lines and keeps it until the state changes again.
//!
//! Why on demand: a snapshot shares every resource with the core's state, so while one is
//! kept each change copies the resource it touches (a statistics poll copied all 10k, 6 MB,
//! before anybody had scraped), and a core publishing one every 100 ms while lines flow built
//! snapshots nobody read. Now only snapshots a reader asked for exist, and the core drops its
//! own at the next change.
//!
//! Must never: make the core wait for a reader (the core only takes the cell's lock for a
//! few instructions), let a reader wait without a deadline, or be compared by address (a
//! freed snapshot's address can be reused): compare generations.

use drbd::{Resource, ResourceList};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// 0 for the empty start state; every change of the state gets the next number.
    pub generation: u64,
    /// In name order.
    pub resources: ResourceList,
}

impl Snapshot {
    pub fn new(generation: u64, resources: ResourceList) -> Self {
        Snapshot {
            generation,
            resources,
        }
    }

    /// Resources in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Resource> {
        self.resources.iter().map(|r| &**r)
    }
}

/// How long a state reader waits for the core's answer (it answers between two batches of
/// lines, within milliseconds unless it is stuck).
pub const ANSWER_WAIT: Duration = Duration::from_secs(2);

/// The core's end and the readers' end of one snapshot cell.
pub fn snapshot_channel() -> (SnapshotPublisher, Snapshots) {
    let shared = Arc::new(Shared::default());
    (
        SnapshotPublisher {
            shared: Arc::clone(&shared),
        },
        Snapshots { shared },
    )
}

#[derive(Default)]
struct Shared {
    cell: Mutex<Cell>,
    /// Readers wait on it for the core's answer.
    answered: Condvar,
    /// The core waits on it for a reader's question.
    asked: tokio::sync::Notify,
}

#[derive(Default)]
struct Cell {
    /// The state's generation: grows with every change the core applied.
    generation: u64,
    /// The core's last answer: current while its generation is `generation`; dropped at the
    /// next change once every reader it was given to has taken it.
    latest: Option<Snapshot>,
    /// Answers given so far.
    answers: u64,
    /// Readers waiting for the next answer.
    waiting: usize,
    /// Readers woken by the last answer that have not taken it yet (the next batch of lines
    /// may change the state before they run: they get it all the same).
    owed: usize,
    /// A reader waits for an answer.
    wanted: bool,
    /// The core is gone: nobody will answer.
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Cell> {
        self.cell.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The core's end: it says when the state changed and answers the readers' questions.
pub struct SnapshotPublisher {
    shared: Arc<Shared>,
}

impl SnapshotPublisher {
    /// The state changed: a new generation, and the kept snapshot (the previous state) is
    /// given back for the caller to drop, so the state's resources are its own again unless
    /// a reader still holds that snapshot.
    #[must_use = "the previous snapshot is dropped by the caller, outside the cell's lock"]
    pub fn changed(&self) -> Option<Snapshot> {
        let mut cell = self.shared.lock();
        cell.generation += 1;
        if cell.owed == 0 {
            cell.latest.take()
        } else {
            None
        }
    }

    /// The current generation.
    pub fn generation(&self) -> u64 {
        self.shared.lock().generation
    }

    /// True if a reader waits for a snapshot of the current state.
    pub fn wanted(&self) -> bool {
        self.shared.lock().wanted
    }

    /// Resolves when a reader asked (a question asked before this was awaited counts).
    pub async fn asked(&self) {
        self.shared.asked.notified().await
    }

    /// Hands the readers `resources` as the state of the current generation, and wakes those
    /// waiting for it.
    pub fn publish(&self, resources: ResourceList) {
        let mut cell = self.shared.lock();
        let snapshot = Snapshot::new(cell.generation, resources);
        let previous = cell.latest.replace(snapshot);
        cell.answers += 1;
        cell.owed += cell.waiting;
        cell.waiting = 0;
        cell.wanted = false;
        drop(cell);
        self.shared.answered.notify_all();
        drop(previous);
    }

    /// A reader end for a new state reader.
    pub fn subscribe(&self) -> Snapshots {
        Snapshots {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for SnapshotPublisher {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.answered.notify_all();
    }
}

/// A state reader's end.
#[derive(Clone)]
pub struct Snapshots {
    shared: Arc<Shared>,
}

impl Snapshots {
    /// A reader end that always sees `snapshot` (tests and tools without a core).
    pub fn fixed(snapshot: Snapshot) -> Snapshots {
        let shared = Shared::default();
        {
            let mut cell = shared.lock();
            cell.generation = snapshot.generation;
            cell.latest = Some(snapshot);
            cell.closed = true;
        }
        Snapshots {
            shared: Arc::new(shared),
        }
    }

    /// The state's current generation: when it equals the one a reader rendered, nothing
    /// changed since.
    pub fn generation(&self) -> u64 {
        self.shared.lock().generation
    }

    /// The snapshot of the current state: the one kept since the last change, or one asked
    /// of the core and waited for at most `timeout` (the core answers between two batches of
    /// lines, at most one per 100 ms). `None` if it did not answer in time or is gone. Blocks
    /// the calling thread: call it where blocking is allowed (a blocking pool, a thread of
    /// the reader's own).
    pub fn current(&self, timeout: Duration) -> Option<Snapshot> {
        let deadline = Instant::now() + timeout;
        let mut cell = self.shared.lock();
        if let Some(s) = &cell.latest {
            if s.generation == cell.generation {
                return Some(s.clone());
            }
        }
        if cell.closed {
            return None;
        }
        let answer = cell.answers + 1;
        cell.waiting += 1;
        if !cell.wanted {
            cell.wanted = true;
            self.shared.asked.notify_one();
        }
        loop {
            if cell.answers >= answer {
                // Ours (or a later one): kept for us even if the state changed since.
                cell.owed -= 1;
                let s = cell.latest.clone().expect("an owed answer is kept");
                let stale = s.generation != cell.generation;
                let dropped = if cell.owed == 0 && stale {
                    cell.latest.take()
                } else {
                    None
                };
                drop(cell);
                drop(dropped);
                return Some(s);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if cell.closed || left.is_zero() {
                cell.waiting -= 1;
                return None;
            }
            cell = self
                .shared
                .answered
                .wait_timeout(cell, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(names: &[&str]) -> ResourceList {
        let mut names = names.to_vec();
        names.sort_unstable();
        ResourceList::from_ordered(names.into_iter().map(|n| Arc::new(Resource::new(n))))
    }

    #[test]
    fn a_reader_asks_and_gets_the_state_of_the_current_generation() {
        let (core, reader) = snapshot_channel();
        let _ = core.changed();
        let _ = core.changed();
        let asking = std::thread::spawn(move || reader.current(Duration::from_secs(10)));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !core.wanted() {
            assert!(Instant::now() < deadline, "the reader never asked");
            std::thread::yield_now();
        }
        core.publish(map(&["r0"]));
        let got = asking.join().unwrap().expect("answered");
        assert_eq!(got.generation, 2);
        assert_eq!(got.resources.len(), 1);
        assert!(!core.wanted(), "the question was answered");
    }

    #[test]
    fn the_kept_snapshot_is_served_without_asking_until_the_state_changes() {
        let (core, reader) = snapshot_channel();
        core.publish(map(&["r0"]));
        let first = reader.current(Duration::ZERO).expect("kept");
        assert!(!core.wanted());
        let dropped = core.changed().expect("the kept snapshot is given back");
        assert!(ResourceList::ptr_eq(&dropped.resources, &first.resources));
        assert_eq!(reader.generation(), 1);
        assert!(
            reader.current(Duration::ZERO).is_none(),
            "no snapshot of the new generation yet, and no time to wait"
        );
        assert!(core.wanted(), "the reader asked for one");
    }

    #[test]
    fn a_change_leaves_the_states_resources_to_the_core_when_no_reader_holds_them() {
        let (core, reader) = snapshot_channel();
        let resources = map(&["r0"]);
        let r0 = Arc::clone(&resources["r0"]);
        core.publish(resources);
        assert_eq!(Arc::strong_count(&r0), 2, "the kept snapshot shares r0");
        drop(core.changed());
        assert_eq!(Arc::strong_count(&r0), 1, "a change copies nothing now");
        drop(reader);
    }

    #[test]
    fn the_core_learns_of_a_question_asked_before_it_listened() {
        let (core, reader) = snapshot_channel();
        assert!(reader.current(Duration::ZERO).is_none());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), core.asked())
                .await
                .expect("the question is remembered");
        });
    }

    #[test]
    fn a_reader_gives_up_at_its_deadline_and_at_once_when_the_core_is_gone() {
        let (core, reader) = snapshot_channel();
        let t0 = Instant::now();
        assert!(reader.current(Duration::from_millis(20)).is_none());
        assert!(t0.elapsed() >= Duration::from_millis(20));
        drop(core);
        let t1 = Instant::now();
        assert!(reader.current(Duration::from_secs(60)).is_none());
        assert!(
            t1.elapsed() < Duration::from_secs(30),
            "did not wait for a gone core"
        );
    }

    #[test]
    fn many_waiting_readers_are_answered_by_one_publication() {
        let (core, reader) = snapshot_channel();
        let readers: Vec<_> = (0..8)
            .map(|_| {
                let r = reader.clone();
                std::thread::spawn(move || r.current(Duration::from_secs(10)))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !core.wanted() {
            assert!(Instant::now() < deadline, "nobody asked");
            std::thread::yield_now();
        }
        core.publish(map(&["r0", "r1"]));
        let got: Vec<_> = readers.into_iter().map(|t| t.join().unwrap()).collect();
        let first = got[0].as_ref().expect("answered");
        for g in &got {
            let g = g.as_ref().expect("answered");
            assert!(
                ResourceList::ptr_eq(&g.resources, &first.resources),
                "one build for all"
            );
        }
    }

    #[test]
    fn a_waiting_reader_gets_its_answer_even_when_the_state_changed_before_it_ran() {
        let (core, reader) = snapshot_channel();
        let resources = map(&["r0"]);
        let r0 = Arc::clone(&resources["r0"]);
        let asking = {
            let reader = reader.clone();
            std::thread::spawn(move || reader.current(Duration::from_secs(10)))
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !core.wanted() {
            assert!(Instant::now() < deadline, "the reader never asked");
            std::thread::yield_now();
        }
        // Answered, then the next batch changes the state, before the reader wakes or after:
        // either way it gets the answer, and nobody keeps it once taken.
        core.publish(resources);
        drop(core.changed());
        let got = asking.join().unwrap().expect("the answer was kept for it");
        assert!(Arc::ptr_eq(&got.resources["r0"], &r0));
        drop(got);
        assert_eq!(
            Arc::strong_count(&r0),
            1,
            "once taken, the stale answer is not kept"
        );
        assert!(
            reader.current(Duration::ZERO).is_none(),
            "a new reader does not get the stale one"
        );
    }

    #[test]
    fn a_fixed_end_always_sees_its_snapshot() {
        let s = Snapshot::new(7, map(&["r0"]));
        let reader = Snapshots::fixed(s);
        assert_eq!(reader.generation(), 7);
        assert_eq!(reader.current(Duration::ZERO).unwrap().resources.len(), 1);
    }
}
