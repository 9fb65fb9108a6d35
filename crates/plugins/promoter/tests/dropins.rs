//! The drop-ins we write are the original's, byte for byte (fixtures/README.md), and the
//! write module keeps the directory exactly in step with the config.

use drbd_reactor_promoter::config::PromoterConfig;
use drbd_reactor_promoter::dropins;
use drbd_reactor_promoter::write::UnitDir;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
struct File {
    promoter: Vec<PromoterConfig>,
}

fn fixture(set: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(set)
}

fn configs(set: &str) -> Vec<PromoterConfig> {
    let mut paths: Vec<_> = fs::read_dir(fixture(set).join("config"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
        .iter()
        .flat_map(|p| {
            toml::from_str::<File>(&fs::read_to_string(p).unwrap())
                .unwrap()
                .promoter
        })
        .collect()
}

fn tree(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    for dir in fs::read_dir(root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            out.insert(
                f.strip_prefix(root).unwrap().to_path_buf(),
                fs::read_to_string(&f).unwrap(),
            );
        }
    }
    out
}

fn unit_dir(tmp: &Path) -> UnitDir {
    UnitDir {
        root: tmp.join("system"),
        manifests: tmp.join("manifests"),
    }
}

fn write_all(dir: &UnitDir, configs: &[PromoterConfig]) {
    for c in configs {
        for (name, res) in &c.resources {
            let files = dropins::render(name, res).unwrap();
            dir.sync(name, &files).unwrap();
        }
    }
}

/// The original's files with the one documented difference applied: `%` written `%%`.
fn expected(set: &str) -> BTreeMap<PathBuf, String> {
    tree(&fixture(set).join("files"))
        .into_iter()
        .map(|(p, c)| (p, c.replace("\\x25", "%%")))
        .collect()
}

#[test]
fn three_fixture_configs_render_the_originals_files_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = unit_dir(tmp.path());
    write_all(&dir, &configs("promoter-dropins"));
    let got = tree(&dir.root);
    let want = expected("promoter-dropins");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (path, content) in &want {
        assert_eq!(&got[path], content, "{}", path.display());
    }
}

#[test]
fn nspawn_recipe_config_renders_the_originals_files_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = unit_dir(tmp.path());
    write_all(&dir, &configs("dropins-r0"));
    assert_eq!(tree(&dir.root), expected("dropins-r0"));
}

#[test]
fn unchanged_config_rewrites_nothing_so_no_daemon_reload_is_needed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = unit_dir(tmp.path());
    let cfgs = configs("dropins-r0");
    let res = &cfgs[0].resources["r0"];
    let files = dropins::render("r0", res).unwrap();
    assert!(dir.sync("r0", &files).unwrap().changed());
    assert!(!dir.sync("r0", &files).unwrap().changed());
}

#[test]
fn dropping_a_start_entry_deletes_its_drop_in_and_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = unit_dir(tmp.path());
    let mut res = configs("dropins-r0")[0].resources["r0"].clone();
    dir.sync("r0", &dropins::render("r0", &res).unwrap())
        .unwrap();
    res.start.pop();
    let report = dir
        .sync("r0", &dropins::render("r0", &res).unwrap())
        .unwrap();
    assert_eq!(
        report.deleted,
        vec![PathBuf::from("dummy-app.service.d/reactor.conf")]
    );
    assert!(!dir.root.join("dummy-app.service.d").exists());
}

#[test]
fn demote_failure_back_to_none_deletes_the_escalation_drop_in() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = unit_dir(tmp.path());
    let mut res = configs("dropins-r0")[0].resources["r0"].clone();
    dir.sync("r0", &dropins::render("r0", &res).unwrap())
        .unwrap();
    res.on_drbd_demote_failure = Default::default();
    res.secondary_force = false;
    dir.sync("r0", &dropins::render("r0", &res).unwrap())
        .unwrap();
    let left: Vec<_> = tree(&dir.root).into_keys().collect();
    assert!(left
        .iter()
        .all(|p| !p.starts_with("drbd-demote-or-escalate@r0.service.d")));
    assert!(left
        .iter()
        .all(|p| !p.starts_with("drbd-promote@r0.service.d")));
}

#[test]
fn resources_no_longer_configured_lose_their_drop_ins_and_others_keep_theirs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = unit_dir(tmp.path());
    write_all(&dir, &configs("promoter-dropins"));
    // A user's own drop-in beside ours survives, with its directory.
    fs::write(dir.root.join("app.service.d/user.conf"), "[Unit]\n").unwrap();
    let report = dir.remove_unconfigured(["r2", "r3"]).unwrap();
    assert!(report
        .deleted
        .iter()
        .any(|p| p.starts_with("app.service.d")));
    let left = tree(&dir.root);
    assert!(left
        .keys()
        .all(|p| !p.to_string_lossy().contains("my\\x2dres")));
    assert!(left.contains_key(Path::new("app.service.d/user.conf")));
    assert!(left.contains_key(Path::new("drbd-services@r3.target.d/reactor.conf")));
    assert!(left.contains_key(Path::new(
        "drbd-services@r2.target.d/reactor-50-before.conf"
    )));
}

#[test]
fn the_status_directory_beside_the_manifests_is_not_taken_for_a_resource() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = unit_dir(tmp.path());
    write_all(&dir, &configs("promoter-dropins"));
    fs::create_dir_all(dir.manifests.join("status")).unwrap();
    fs::write(dir.manifests.join("status/r2.json"), "{}\n").unwrap();
    assert!(!dir.manifested().contains(&"status".to_string()));
    let report = dir.remove_unconfigured(["r3"]).unwrap();
    assert!(!report.deleted.is_empty());
    assert!(dir.manifests.join("status/r2.json").exists());
}

#[test]
fn a_unit_shared_between_two_resources_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = unit_dir(tmp.path());
    let res = configs("dropins-r0")[0].resources["r0"].clone();
    dir.sync("r0", &dropins::render("r0", &res).unwrap())
        .unwrap();
    let err = dir
        .sync("r1", &dropins::render("r1", &res).unwrap())
        .unwrap_err();
    assert!(
        err.to_string().contains("dummy-app.service.d/reactor.conf"),
        "{err}"
    );
}

#[test]
fn missing_before_drop_in_is_not_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = unit_dir(tmp.path());
    assert!(!dir.remove_before("r0").unwrap());
}

#[test]
fn shell_runner_renders_nothing() {
    let mut res = configs("dropins-r0")[0].resources["r0"].clone();
    res.runner = drbd_reactor_promoter::config::Runner::Shell;
    assert!(dropins::render("r0", &res).unwrap().is_empty());
}

#[test]
fn atomic_writes_leave_no_temp_files_and_a_deleted_file_is_written_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = unit_dir(tmp.path());
    let res = configs("dropins-r0")[0].resources["r0"].clone();
    let files = dropins::render("r0", &res).unwrap();
    dir.sync("r0", &files).unwrap();
    let before = dir.root.join(dropins::before_path("r0"));
    assert!(dir.remove_before("r0").unwrap());
    let report = dir.sync("r0", &files).unwrap();
    assert_eq!(report.written, vec![dropins::before_path("r0")]);
    assert!(before.exists());
    for d in fs::read_dir(&dir.root).unwrap() {
        for f in fs::read_dir(d.unwrap().path()).unwrap() {
            assert!(!f.unwrap().path().to_string_lossy().ends_with(".tmp"));
        }
    }
}

/// errata A4: on Debian without merged /usr only `/lib/drbd/scripts/` holds the shim; both
/// drop-ins that call it name the path given, and nothing else changes.
#[test]
fn the_shim_path_given_is_the_one_the_promote_and_escalation_drop_ins_call() {
    let res = drbd_reactor_promoter::config::ResourceConfig {
        start: vec!["a.service".into()],
        on_drbd_demote_failure: drbd_reactor_promoter::config::DemoteFailureAction::Reboot,
        ..Default::default()
    };
    let usr = dropins::render("r0", &res).unwrap();
    let lib = dropins::render_with_shim("r0", &res, dropins::SHIM_WITHOUT_MERGED_USR).unwrap();
    assert_eq!(usr.len(), lib.len());
    let mut calls = 0;
    for (u, l) in usr.iter().zip(&lib) {
        assert_eq!(u.path, l.path);
        assert_eq!(
            u.content
                .replace(dropins::SHIM, dropins::SHIM_WITHOUT_MERGED_USR),
            l.content
        );
        calls += l.content.matches(dropins::SHIM_WITHOUT_MERGED_USR).count();
    }
    assert_eq!(calls, 2, "promote ExecStop and escalation ExecStart");
}
