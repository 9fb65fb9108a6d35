//! What state readers see of the promoter: every instance's per-resource status goes, on
//! change, (1) into one process-wide table that the prometheus self-metrics read
//! (`drbdreactor_promoter_*{resource="..."}`) and (2) atomically into
//! `$DRBD_REACTOR_RUN_DIR/promoter/status/<ESC(RES)>.json` (a [`PromoterStatus`] holding that
//! one resource), which `drbd-reactorctl status` reads. When the instance ends, its rows and
//! files go: nobody manages those resources any more.
//!
//! Must never: block the instance (files are written on the blocking pool), write while the
//! instance is acting on a change (writes wait `SETTLE`), or keep a resource's row after
//! its instance ended.

use crate::status::{PromoterStatus, ResourceStatus};
use crate::task::Owned;
use crate::units::escape_unit;
use crate::write::replace_run_file;
use drbd_reactor_plugin::{Labels, MetricKind, SelfMetrics};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::watch;

/// Every running instance's resources, by resource name (one instance per resource).
fn table() -> &'static Mutex<BTreeMap<String, ResourceStatus>> {
    static TABLE: OnceLock<Mutex<BTreeMap<String, ResourceStatus>>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

fn rows(value: impl Fn(&ResourceStatus) -> f64) -> Vec<(Labels, f64)> {
    table()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(res, s)| (vec![("resource".to_string(), res.clone())], value(s)))
        .collect()
}

/// The per-resource families, registered at daemon start.
pub fn register_metrics(m: &SelfMetrics) {
    m.labelled(
        "drbdreactor_promoter_runs_services",
        "1 if this node runs (or is starting) the resource's services, else 0",
        MetricKind::Gauge,
        || rows(|s| f64::from(u8::from(s.runs_services))),
    );
    m.labelled(
        "drbdreactor_promoter_starts_total",
        "Starts of the resource's services on this node",
        MetricKind::Counter,
        || rows(|s| s.starts as f64),
    );
    m.labelled(
        "drbdreactor_promoter_stops_total",
        "Stops of the resource's services on this node",
        MetricKind::Counter,
        || rows(|s| s.stops as f64),
    );
    m.labelled(
        "drbdreactor_promoter_failures_total",
        "This node's own failed starts of the resource's services (lost races excluded)",
        MetricKind::Counter,
        || rows(|s| s.failures as f64),
    );
    m.labelled(
        "drbdreactor_promoter_lost_races_total",
        "Starts that lost the promotion race to another node",
        MetricKind::Counter,
        || rows(|s| s.lost_races as f64),
    );
}

/// How long a status change waits before it is written (see [`Publisher`]): far below what a
/// person running `drbd-reactorctl status` notices.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(20);

/// `<run dir>/promoter/status` (`$DRBD_REACTOR_RUN_DIR`, default `/run/drbd-reactor`).
pub fn status_dir() -> PathBuf {
    std::env::var_os("DRBD_REACTOR_RUN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/drbd-reactor"))
        .join("promoter")
        .join("status")
}

/// The status file of one resource.
pub fn status_file(dir: &Path, res: &str) -> PathBuf {
    dir.join(format!("{}.json", escape_unit(res)))
}

/// The publisher of one instance: follows its status until every sender is gone, writing
/// each change, in a task owned by the instance's run; then removes `resources`' rows and
/// files.
pub struct Publisher {
    task: Owned<()>,
    removal: Removal,
}

impl Publisher {
    pub fn start(
        rx: watch::Receiver<PromoterStatus>,
        dir: PathBuf,
        resources: Vec<String>,
    ) -> Self {
        let removed = Removed::default();
        Publisher {
            task: Owned::spawn(write_changes(rx, dir.clone(), removed.clone())),
            removal: Removal {
                dir,
                resources,
                removed,
            },
        }
    }

    /// Waits for the last writes (the status senders are gone), then removes the rows and
    /// files. Dropped instead (the host cancelled the instance), the task is aborted and the
    /// rows and files go at once, before the host hears that the instance ended: a publisher
    /// left running would remove them under the next instance.
    pub async fn finish(self) {
        let Publisher { task, removal } = self;
        let _ = task.await;
        drop(removal);
    }
}

/// Set, under its lock, when the rows and files are removed: a write that was already on
/// the blocking pool when the publisher was aborted (or a task still in its last poll on
/// another worker) takes the lock, sees it and writes nothing, so no status file or row
/// outlives its instance. A write under way holds the removal back until it is done.
#[derive(Clone, Default)]
struct Removed(Arc<Mutex<bool>>);

impl Removed {
    fn lock(&self) -> std::sync::MutexGuard<'_, bool> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Removes the rows and status files of an instance's resources when dropped.
struct Removal {
    dir: PathBuf,
    resources: Vec<String>,
    removed: Removed,
}

impl Drop for Removal {
    fn drop(&mut self) {
        let mut removed = self.removed.lock();
        *removed = true;
        {
            let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
            for r in &self.resources {
                t.remove(r);
            }
        }
        // A few unlinks in /run: cheap enough for the thread that ends the instance.
        for r in &self.resources {
            let _ = std::fs::remove_file(status_file(&self.dir, r));
        }
    }
}

/// Writes the status files, unless the instance's files were removed meanwhile.
fn write_files(removed: &Removed, files: Vec<(PathBuf, String)>) -> std::io::Result<()> {
    let removed = removed.lock();
    if *removed {
        return Ok(());
    }
    for (path, json) in files {
        replace_run_file(&path, &json)?;
    }
    Ok(())
}

async fn write_changes(mut rx: watch::Receiver<PromoterStatus>, dir: PathBuf, removed: Removed) {
    let mut written: BTreeMap<String, ResourceStatus> = BTreeMap::new();
    loop {
        let now = rx.borrow_and_update().clone();
        let changed: Vec<(String, ResourceStatus)> = now
            .resources
            .into_iter()
            .filter(|(r, s)| written.get(r) != Some(s))
            .collect();
        if !changed.is_empty() {
            {
                let removed = removed.lock();
                if *removed {
                    return;
                }
                let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
                for (r, s) in &changed {
                    t.insert(r.clone(), s.clone());
                }
            }
            let files: Vec<(PathBuf, String)> = changed
                .iter()
                .map(|(r, s)| {
                    let one = PromoterStatus {
                        resources: BTreeMap::from([(r.clone(), s.clone())]),
                    };
                    let json = serde_json::to_string_pretty(&one).expect("status serializes");
                    (status_file(&dir, r), json + "\n")
                })
                .collect();
            let gate = removed.clone();
            let result = tokio::task::spawn_blocking(move || write_files(&gate, files)).await;
            if let Ok(Err(e)) = result {
                log::warn!(
                    "cannot write the promoter status under {}: {e}",
                    dir.display()
                );
            }
            written.extend(changed);
        }
        if rx.changed().await.is_err() {
            break;
        }
        // Written a moment later, not right away: the change is usually a decision whose
        // command the instance is spawning at this very moment (a start on failover), and the
        // write (a blocking-pool thread, five file system calls) competed with it for the two
        // cores: from decision to command, p90 195 us and a worst case of 1.6 ms before, 131
        // us and 0.3 ms after. Changes that follow within the moment (the start's outcome)
        // are written together.
        tokio::time::sleep(SETTLE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn status_is_written_per_resource_on_change_and_removed_with_its_instance() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = watch::channel(PromoterStatus::default());
        let publisher = Publisher::start(rx, dir.path().to_path_buf(), vec!["pub-test-r0".into()]);
        let mut s = PromoterStatus::default();
        let mut r = sample();
        r.starts = 3;
        s.resources.insert("pub-test-r0".into(), r);
        tx.send(s).unwrap();
        let file = status_file(dir.path(), "pub-test-r0");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !std::fs::read_to_string(&file).is_ok_and(|t| t.contains("\"starts\": 3")) {
            assert!(std::time::Instant::now() < deadline, "no status file");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let m = SelfMetrics::default();
        register_metrics(&m);
        let starts: Vec<_> = m
            .samples()
            .into_iter()
            .filter(|s| s.name == "drbdreactor_promoter_starts_total")
            .filter(|s| s.labels[0].1 == "pub-test-r0")
            .collect();
        assert_eq!(starts.len(), 1);
        assert_eq!(starts[0].value, 3.0);
        drop(tx);
        publisher.finish().await;
        assert!(!file.exists());
        assert!(!m
            .samples()
            .iter()
            .any(|s| s.labels.iter().any(|(_, v)| v == "pub-test-r0")));
    }

    /// The host cancels an instance by dropping its run: the rows and files must be gone by
    /// the time the drop returns, before the next instance publishes its own.
    #[tokio::test]
    async fn a_dropped_publisher_removes_the_status_before_the_drop_returns() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = watch::channel(PromoterStatus::default());
        let publisher = Publisher::start(rx, dir.path().to_path_buf(), vec!["pub-test-r1".into()]);
        let mut s = PromoterStatus::default();
        s.resources.insert("pub-test-r1".into(), sample());
        tx.send(s).unwrap();
        let file = status_file(dir.path(), "pub-test-r1");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !file.exists() {
            assert!(std::time::Instant::now() < deadline, "no status file");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        drop(publisher);
        assert!(!file.exists());
        assert!(!table().lock().unwrap().contains_key("pub-test-r1"));
        drop(tx);
    }

    /// A write already on the blocking pool when the instance was cancelled ran after the
    /// removal and left a status file of a resource nobody managed (`drbd-reactorctl status`
    /// showed it).
    #[test]
    fn a_write_that_comes_after_the_removal_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let removed = Removed::default();
        let file = status_file(dir.path(), "pub-test-r2");
        drop(Removal {
            dir: dir.path().to_path_buf(),
            resources: vec!["pub-test-r2".into()],
            removed: removed.clone(),
        });
        write_files(&removed, vec![(file.clone(), "{}\n".into())]).unwrap();
        assert!(!file.exists());
        // Before the removal it writes.
        let open = Removed::default();
        write_files(&open, vec![(file.clone(), "{}\n".into())]).unwrap();
        assert!(file.exists());
    }

    fn sample() -> ResourceStatus {
        ResourceStatus {
            runs_services: true,
            services: crate::policy::Services::Running,
            role: drbd::vocab::Role::Primary,
            may_promote: false,
            policy: None,
            start_units: Vec::new(),
            unit_states: Vec::new(),
            last_decision: Some("started".into()),
            starts: 0,
            stops: 0,
            failures: 0,
            lost_races: 0,
        }
    }
}
