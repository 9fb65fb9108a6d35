//! The committed manual pages and completions are what the clap definitions generate today,
//! and every page (the generated and the hand-written config pages) is lint-clean.

use std::path::Path;
use std::process::Command;

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn committed_man_pages_and_completions_match_the_command_lines() {
    let mut stale = Vec::new();
    for (rel, content) in drbd_reactor_docgen::files() {
        if std::fs::read(root().join(&rel)).ok().as_deref() != Some(&content[..]) {
            stale.push(rel.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale: {stale:?}; run `cargo run -p drbd-reactor-docgen` and commit the result"
    );
}

#[test]
fn every_binary_has_a_page_and_completions_for_three_shells() {
    let files: Vec<String> = drbd_reactor_docgen::files()
        .into_iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    for bin in ["drbd-reactor", "drbd-reactorctl", "ocf-rs-wrapper"] {
        for f in [
            format!("man/{bin}.1"),
            format!("completions/bash/{bin}"),
            format!("completions/zsh/_{bin}"),
            format!("completions/fish/{bin}.fish"),
        ] {
            assert!(files.contains(&f), "{f} missing from {files:?}");
        }
    }
}

#[test]
fn the_daemon_page_documents_check_and_config() {
    let (_, page) = drbd_reactor_docgen::files()
        .into_iter()
        .find(|(p, _)| p.ends_with("man/drbd-reactor.1"))
        .unwrap();
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("\\-\\-check"), "{page}");
    assert!(page.contains("\\-\\-config"), "{page}");
}

/// Every page under man/ renders without a warning: `mandoc -Tlint` (warnings and up) and
/// `groff -ww` (Debian packages mandoc and groff; `.ci/run` installs them).
#[test]
fn every_manual_page_is_lint_clean() {
    let mut pages: Vec<_> = std::fs::read_dir(root().join("man"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();
    assert!(pages.len() >= 9, "{pages:?}");
    for page in pages {
        let out = Command::new("mandoc")
            .args(["-Tlint", "-Wwarning"])
            .arg(&page)
            .output()
            .expect("mandoc (Debian package mandoc) must be installed");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && text.is_empty(),
            "{}: {text}",
            page.display()
        );
        let out = Command::new("groff")
            .args(["-ww", "-z", "-man", "-Tutf8"])
            .arg(&page)
            .output()
            .expect("groff (Debian package groff) must be installed");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && text.is_empty(),
            "{}: {text}",
            page.display()
        );
    }
}

/// `systemd-analyze verify --man=yes` finds every page a shipped unit's Documentation= names
/// (the pages as installed: man1/, man5/ under MANPATH).
#[test]
fn the_shipped_units_verify_with_their_manual_pages_installed() {
    let man = tempfile::tempdir().unwrap();
    for section in ["1", "5"] {
        let dir = man.path().join(format!("man{section}"));
        std::fs::create_dir(&dir).unwrap();
        for page in std::fs::read_dir(root().join("man")).unwrap() {
            let page = page.unwrap().path();
            if page.extension().and_then(|e| e.to_str()) == Some(section) {
                std::fs::copy(&page, dir.join(page.file_name().unwrap())).unwrap();
            }
        }
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=yes"])
        .arg(root().join("units/drbd-reactor.service"))
        .arg(root().join("units/ocf.rs@.service"))
        .arg(root().join("examples/drbd-reactor-reload.path"))
        .arg(root().join("examples/drbd-reactor-reload.service"))
        .env("MANPATH", man.path())
        .output()
        .expect("systemd-analyze (Debian package systemd) must be installed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let problems: Vec<&str> = stderr
        .lines()
        // the binaries are not installed on a build machine (the .deb test runs them)
        .filter(|l| !l.contains("is not executable"))
        .collect();
    assert!(problems.is_empty(), "{stderr}");
}

/// The original ships `example/ctl.completion.bash`; ours stays byte-identical to the
/// generated bash completion that the packages install.
#[test]
fn the_example_ctl_completion_equals_the_installed_one() {
    assert_eq!(
        std::fs::read(root().join("examples/ctl.completion.bash")).unwrap(),
        std::fs::read(root().join("completions/bash/drbd-reactorctl")).unwrap()
    );
}
