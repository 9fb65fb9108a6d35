//! The executor's stable log texts (errata B): operators grep for them, so they are the
//! original's words. One logger per test binary: these tests capture every record.

mod common;
mod shell_harness;
use drbd_reactor_promoter::config::ResourceConfig;
use drbd_reactor_promoter::policy::Action;
use shell_harness::{executor_in, Rec};
use std::sync::Mutex;

static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        RECORDS
            .lock()
            .unwrap()
            .push(format!("{} {}", record.level(), record.args()));
    }
    fn flush(&self) {}
}

/// The records `perform(action)` logged for resource r0 (the tests of this binary run one
/// at a time through the lock).
async fn logged(action: Action) -> Vec<String> {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = ONE_AT_A_TIME.lock().await;
    let _ = log::set_logger(&Capture);
    log::set_max_level(log::LevelFilter::Trace);
    RECORDS.lock().unwrap().clear();
    let dir = tempfile::tempdir().unwrap();
    let (executor, _) = executor_in(dir.path(), &Rec::default());
    let cfg = ResourceConfig {
        start: vec!["app.service".into()],
        ..ResourceConfig::default()
    };
    executor.perform("r0", &cfg, action).await;
    std::mem::take(&mut *RECORDS.lock().unwrap())
}

#[tokio::test]
async fn freeze_and_thaw_log_the_original_text_spelled_right() {
    for action in [
        Action::Freeze(vec!["app.service".into()]),
        Action::Thaw(vec!["app.service".into()]),
    ] {
        let records = logged(action).await;
        assert!(
            records.contains(
                &"INFO freeze_actions: freezing/thawing services in target 'drbd-services@r0.target'"
                    .to_string()
            ),
            "{records:?}"
        );
        assert!(
            !records.iter().any(|r| r.contains("freezeing")),
            "{records:?}"
        );
    }
}

#[tokio::test]
async fn freezing_an_empty_list_is_the_original_failure_not_an_empty_systemctl_line() {
    let records = logged(Action::Freeze(Vec::new())).await;
    assert!(
        records.contains(&"WARN Freezing 'r0' failed: services list empty".to_string()),
        "{records:?}"
    );
    assert!(
        !records.iter().any(|r| r.contains("systemctl freeze")),
        "{records:?}"
    );
    let records = logged(Action::Thaw(Vec::new())).await;
    assert!(
        records.contains(&"WARN Thawing 'r0' failed: services list empty".to_string()),
        "{records:?}"
    );
}

#[tokio::test]
async fn a_stop_names_the_target_it_stops() {
    let records = logged(Action::Stop { id: 1 }).await;
    let stop = records
        .iter()
        .position(|r| r == "INFO stop_actions: stopping 'drbd-services@r0.target'");
    let systemctl = records
        .iter()
        .position(|r| r == "INFO systemd_stop: systemctl stop drbd-services@r0.target");
    assert!(
        stop.is_some() && stop < systemctl,
        "stop_actions before the systemctl line: {records:?}"
    );
}

#[tokio::test]
async fn writing_the_drop_ins_logs_each_file_at_info() {
    let records = logged(Action::WriteUnits).await;
    assert!(
        records
            .iter()
            .any(|r| r.starts_with("INFO systemd_write_unit: creating \"")
                && r.ends_with("drbd-services@r0.target.d/reactor.conf\"")),
        "{records:?}"
    );
}
