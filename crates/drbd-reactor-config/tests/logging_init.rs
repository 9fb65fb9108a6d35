//! logging::init installs the global logger once and its handle reconfigures it.
//! One test in its own binary because the `log` facade can be set only once per process.

use drbd_reactor_config::{logging, LogConfig};
use log::LevelFilter;

#[test]
fn init_installs_sinks_and_the_handle_applies_a_new_log_config() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reactor.log");
    let handle = logging::init(&[LogConfig {
        level: LevelFilter::Info,
        file: Some(file.clone()),
        site: None,
    }])
    .unwrap();
    log::debug!(target: "drbd_reactor", "not yet");
    log::info!(target: "drbd_reactor::plugin", "first");
    assert_eq!(log::max_level(), LevelFilter::Info);

    handle
        .reconfigure(&[LogConfig {
            level: LevelFilter::Debug,
            file: Some(file.clone()),
            site: None,
        }])
        .unwrap();
    assert_eq!(log::max_level(), LevelFilter::Debug);
    log::debug!(target: "drbd_reactor", "now");
    log::logger().flush();
    // each record after its timestamp (logging.rs checks the timestamp itself)
    let text: String = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| format!("{}\n", l.split_once("Z ").map_or(l, |(_, rest)| rest)))
        .collect();
    assert_eq!(
        text,
        "INFO [drbd_reactor::plugin] first\nDEBUG [drbd_reactor] now\n"
    );

    let again = logging::init(&[]);
    assert!(again.is_err(), "a second init must be refused");
}
