//! Every line of the real drbdsetup corpus parses, and replaying each file gives the state
//! (and for a few files the sequence of updates) recorded in tests/golden, reviewed by hand.
//! `UPDATE_GOLDEN=1 cargo test -p drbd --test corpus` rewrites the golden files.

use drbd::update::{HelperUpdate, PluginUpdate};
use drbd::{parse_line, Event, Line, State};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events2")
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
}

fn parse_file(path: &Path) -> Vec<Line> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            parse_line(l).unwrap_or_else(|e| panic!("{}:{}: {e}: {l}", path.display(), i + 1))
        })
        .collect()
}

fn replay(lines: &[Line]) -> (State, Vec<PluginUpdate>) {
    let mut state = State::new();
    let mut out = Vec::new();
    for l in lines {
        state.apply(l.event.clone(), &mut out);
    }
    (state, out)
}

fn state_json(state: &State) -> String {
    let resources: Vec<_> = state.resources().map(|r| &**r).collect();
    serde_json::to_string_pretty(&resources).unwrap() + "\n"
}

/// An update without its resource snapshot: what plugins match on.
fn update_json(updates: &[PluginUpdate]) -> String {
    let summary: Vec<serde_json::Value> = updates
        .iter()
        .map(|u| match u {
            PluginUpdate::Object(o) => serde_json::json!({
                "resource": o.resource_name(),
                "event-type": o.event_type,
                "change": o.change,
            }),
            PluginUpdate::Helper(h) => {
                let h = HelperUpdate {
                    resource: None,
                    ..h.clone()
                };
                serde_json::json!({ "helper": h, "resource-known": u_has_resource(u) })
            }
        })
        .collect();
    serde_json::to_string_pretty(&summary).unwrap() + "\n"
}

fn u_has_resource(u: &PluginUpdate) -> bool {
    matches!(u, PluginUpdate::Helper(h) if h.resource.is_some())
}

/// Compares `actual` with the golden file `name`, or rewrites it under UPDATE_GOLDEN=1.
fn check_golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert!(
        expected == actual,
        "{} differs from the replayed state; run with UPDATE_GOLDEN=1 and review the diff",
        path.display()
    );
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_line_of_every_corpus_file_parses_into_a_known_line() {
    let files = corpus_files();
    assert_eq!(files.len(), 29, "the corpus has 29 captures");
    let mut lines = 0;
    for f in &files {
        for l in parse_file(f) {
            lines += 1;
            assert!(
                !matches!(l.event, Event::Unknown { .. }),
                "{}: unknown line {l:?}",
                f.display()
            );
        }
    }
    assert_eq!(lines, 234, "lines in the corpus");
}

#[test]
fn no_corpus_line_carries_an_unknown_key() {
    for f in corpus_files() {
        let (state, _) = replay(&parse_file(&f));
        assert_eq!(state.counters().unknown_keys, 0, "{}", f.display());
        assert_eq!(state.counters().unknown_lines, 0, "{}", f.display());
    }
}

#[test]
fn replaying_each_corpus_file_gives_its_golden_state() {
    for f in corpus_files() {
        let (state, _) = replay(&parse_file(&f));
        check_golden(&format!("{}.json", stem(&f)), &state_json(&state));
    }
}

#[test]
fn replaying_selected_files_gives_their_golden_update_sequences() {
    for name in [
        "events2-all-create-change--full",
        "events2-all-create-destroy",
        "events2-all-create-helper",
        "events2-sync--statistics",
        "events2-change-before-exists",
        "events2-destroy-before-exists",
    ] {
        let (_, updates) = replay(&parse_file(&fixtures().join(format!("{name}.txt"))));
        check_golden(&format!("{name}.updates.json"), &update_json(&updates));
    }
}

/// The same scenario printed with different options must describe the same objects.
#[test]
fn option_variants_of_one_scenario_give_the_same_state() {
    let state = |name: &str| replay(&parse_file(&fixtures().join(name))).0;
    let plain = state("events2-all-create-change.txt");
    for variant in [
        "events2-all-create-change--color.txt",
        "events2-all-create-change--diff.txt",
        "events2-all-create-change--timestamps.txt",
    ] {
        assert_eq!(state(variant), plain, "{variant}");
    }
    // --full and --statistics add counters: equal once statistics are cleared.
    let full = state("events2-all-create-change--full.txt");
    let stats = state("events2-all-create-change--statistics.txt");
    assert_eq!(without_statistics(&full), without_statistics(&plain));
    assert_eq!(without_statistics(&stats), without_statistics(&plain));
    assert_ne!(full, plain, "the --full variant carries counters");
    let helper = state("events2-all-create-helper.txt");
    assert_eq!(state("events2-all-create-helper--timestamps.txt"), helper);
    let sync = state("events2-sync.txt");
    assert_eq!(
        without_statistics(&state("events2-sync--statistics.txt")),
        without_statistics(&sync)
    );
}

/// The state with every statistics key (counters, write ordering, progress) at its default.
fn without_statistics(state: &State) -> Vec<drbd::Resource> {
    state
        .resources()
        .map(|r| {
            let mut r = (**r).clone();
            r.write_ordering = None;
            let devices: Vec<_> = r
                .devices
                .iter()
                .map(|d| drbd::Device {
                    size: 0,
                    read: 0,
                    written: 0,
                    al_writes: 0,
                    bm_writes: 0,
                    upper_pending: 0,
                    lower_pending: 0,
                    al_suspended: false,
                    blocked: Default::default(),
                    ..d.clone()
                })
                .collect();
            r.devices = devices.into_iter().collect();
            let connections: Vec<_> = r
                .connections
                .iter()
                .map(|c| {
                    let mut c = c.clone();
                    c.congested = false;
                    c.ap_in_flight = 0;
                    c.rs_in_flight = 0;
                    let pds: Vec<_> = c
                        .peer_devices
                        .iter()
                        .map(|p| drbd::PeerDevice {
                            received: 0,
                            sent: 0,
                            out_of_sync: 0,
                            pending: 0,
                            unacked: 0,
                            progress: None,
                            ..p.clone()
                        })
                        .collect();
                    c.peer_devices = pds.into_iter().collect();
                    c
                })
                .collect();
            r.connections = connections.into_iter().collect();
            r
        })
        .collect()
}

#[test]
fn every_parsed_corpus_line_prints_and_parses_back_to_itself() {
    for f in corpus_files() {
        for l in parse_file(&f) {
            let printed = l.to_string();
            assert_eq!(
                parse_line(&printed).unwrap(),
                l,
                "{}: {printed}",
                f.display()
            );
        }
    }
}

#[test]
fn the_dump_of_each_replayed_corpus_state_rebuilds_it() {
    for f in corpus_files() {
        let (state, _) = replay(&parse_file(&f));
        let (rebuilt, _) = replay(&state.dump());
        assert_eq!(rebuilt, state, "{}", f.display());
    }
}
