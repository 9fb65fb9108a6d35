//! snippets_changed_since: which snippets changed after the last (re)load (spec §9).

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use common::{file_name, main_with_snippets, Setup};
use drbd_reactor_config::{
    files_changed_since, load, snippets_changed_since, units_rewritten_since, Config,
};

fn set_mtime(path: &Path, mtime: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

#[test]
fn snippet_newer_than_the_reload_and_settled_is_reported() {
    let setup = Setup::new();
    let config = load(&main_with_snippets(&setup)).unwrap();
    let now = SystemTime::now();
    let since = now - Duration::from_secs(100);
    let changed = setup.snippet("changed.toml", "");
    set_mtime(&changed, now - Duration::from_secs(50));
    let old = setup.snippet("old.toml", "");
    set_mtime(&old, now - Duration::from_secs(200));
    let reported: Vec<_> = snippets_changed_since(&config, since, now)
        .iter()
        .map(|p| file_name(p))
        .collect();
    assert_eq!(reported, ["changed.toml"]);
}

#[test]
fn snippet_younger_than_20_seconds_is_left_alone() {
    let setup = Setup::new();
    let config = load(&main_with_snippets(&setup)).unwrap();
    let now = SystemTime::now();
    let since = now - Duration::from_secs(100);
    let fresh = setup.snippet("fresh.toml", "");
    set_mtime(&fresh, now - Duration::from_secs(19));
    let future = setup.snippet("future.toml", "");
    set_mtime(&future, now + Duration::from_secs(60));
    let settled = setup.snippet("settled.toml", "");
    set_mtime(&settled, now - Duration::from_secs(20));
    let reported: Vec<_> = snippets_changed_since(&config, since, now)
        .iter()
        .map(|p| file_name(p))
        .collect();
    assert_eq!(reported, ["settled.toml"]);
}

#[test]
fn only_snippet_files_are_watched() {
    let setup = Setup::new();
    let config = load(&main_with_snippets(&setup)).unwrap();
    let now = SystemTime::now();
    let disabled = setup.snippet("x.toml.disabled", "");
    set_mtime(&disabled, now - Duration::from_secs(30));
    assert!(snippets_changed_since(&config, now - Duration::from_secs(100), now).is_empty());
}

#[test]
fn without_snippets_or_with_a_vanished_directory_nothing_is_reported() {
    let now = SystemTime::now();
    let config = Config::default();
    assert!(snippets_changed_since(&config, now - Duration::from_secs(100), now).is_empty());
    let setup = Setup::new();
    let config = load(&main_with_snippets(&setup)).unwrap();
    std::fs::remove_dir(setup.snippets_dir()).unwrap();
    assert!(snippets_changed_since(&config, now - Duration::from_secs(100), now).is_empty());
}

#[test]
fn changed_since_reload_needs_newer_than_reload_and_20_seconds_settled() {
    use drbd_reactor_config::changed_since_reload;
    let now = SystemTime::now();
    let reload = now - Duration::from_secs(60);
    assert!(changed_since_reload(
        now - Duration::from_secs(30),
        reload,
        now
    ));
    assert!(!changed_since_reload(
        now - Duration::from_secs(10),
        reload,
        now
    ));
    assert!(!changed_since_reload(
        now - Duration::from_secs(90),
        reload,
        now
    ));
    assert!(!changed_since_reload(
        now + Duration::from_secs(90),
        reload,
        now
    ));
}

/// Step 2 of §9: the promoters' target drop-ins, by the same rule; a missing one is skipped.
#[test]
fn generated_units_newer_than_the_reload_and_settled_are_reported_missing_ones_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now();
    let since = now - Duration::from_secs(100);
    let rewritten = dir.path().join("rewritten.conf");
    let fresh = dir.path().join("fresh.conf");
    let generated = dir.path().join("generated.conf");
    for (path, age) in [(&rewritten, 25), (&fresh, 5), (&generated, 150)] {
        std::fs::write(path, "[Unit]\n").unwrap();
        set_mtime(path, now - Duration::from_secs(age));
    }
    let paths = [
        rewritten.clone(),
        fresh,
        generated,
        dir.path().join("missing.conf"),
    ];
    assert_eq!(files_changed_since(paths, since, now), [rewritten]);
}

/// The promoter writes its drop-ins after the (re)load: newer than it, but with the content
/// it writes, they are no reason to reload (after a reboot every one of them was newer).
#[test]
fn a_generated_unit_newer_than_the_reload_is_reported_only_when_its_content_is_not_ours() {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now();
    let since = now - Duration::from_secs(100);
    let ours = dir.path().join("ours.conf");
    let edited = dir.path().join("edited.conf");
    std::fs::write(&ours, "[Unit]\nBindsTo = a.service\n").unwrap();
    std::fs::write(&edited, "[Unit]\nBindsTo = b.service\n").unwrap();
    for path in [&ours, &edited] {
        set_mtime(path, now - Duration::from_secs(30));
    }
    let units = [
        (ours, "[Unit]\nBindsTo = a.service\n".to_string()),
        (edited.clone(), "[Unit]\nBindsTo = a.service\n".to_string()),
    ];
    assert_eq!(units_rewritten_since(&units, since, now), [edited]);
}
