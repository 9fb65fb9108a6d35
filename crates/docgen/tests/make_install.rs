//! `make install` (the Makefile the packages use too) puts every file where the original's
//! package has it (daemon spec §13.4), with its mode, follows PREFIX in the units, and never
//! overwrites an existing /etc/drbd-reactor.toml. Runs on stand-in binaries: no release build.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn install(target: &Path, dest: &Path, prefix: &str) {
    let out = Command::new("make")
        .arg("-C")
        .arg(root())
        .args(["-s", "install"])
        .arg(format!("TARGET_DIR={}", target.display()))
        .arg(format!("DESTDIR={}", dest.display()))
        .arg(format!("PREFIX={prefix}"))
        .arg("NOSTRIP=1")
        .output()
        .expect("make (Debian package make) must be installed");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stand_in_binaries() -> tempfile::TempDir {
    let target = tempfile::tempdir().unwrap();
    std::fs::create_dir(target.path().join("release")).unwrap();
    for bin in ["drbd-reactor", "drbd-reactorctl", "ocf-rs-wrapper"] {
        let path = target.path().join("release").join(bin);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    target
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn make_install_puts_every_file_at_the_originals_path_with_its_mode() {
    let target = stand_in_binaries();
    let dest = tempfile::tempdir().unwrap();
    install(target.path(), dest.path(), "/usr");
    let d = |p: &str| dest.path().join(p.trim_start_matches('/'));
    for (path, want) in [
        ("/usr/sbin/drbd-reactor", 0o750),
        ("/usr/sbin/drbd-reactorctl", 0o750),
        ("/usr/libexec/drbd-reactor/ocf-rs-wrapper", 0o750),
        ("/etc/drbd-reactor.toml", 0o640),
        ("/etc/drbd-reactor.d", 0o750),
        ("/lib/systemd/system/drbd-reactor.service", 0o644),
        ("/lib/systemd/system/ocf.rs@.service", 0o644),
        ("/usr/share/man/man1/drbd-reactor.1", 0o644),
        ("/usr/share/man/man1/drbd-reactorctl.1", 0o644),
        ("/usr/share/man/man1/ocf-rs-wrapper.1", 0o644),
        (
            "/usr/share/bash-completion/completions/drbd-reactorctl",
            0o644,
        ),
        ("/usr/share/snmp/mibs/LINBIT-DRBD-REACTOR-MIB.txt", 0o644),
        (
            "/usr/share/doc/drbd-reactor/examples/drbd-reactor-reload.path",
            0o644,
        ),
        (
            "/usr/share/doc/drbd-reactor/examples/snippets/promoter.toml",
            0o644,
        ),
    ] {
        assert_eq!(mode(&d(path)), want, "{path}");
    }
    for page in [
        "toml",
        "promoter",
        "umh",
        "prometheus",
        "agentx",
        "debugger",
    ] {
        assert!(
            d(&format!("/usr/share/man/man5/drbd-reactor.{page}.5")).exists(),
            "{page}"
        );
    }
    // with PREFIX=/usr the units are installed unchanged
    assert_eq!(
        std::fs::read(d("/lib/systemd/system/drbd-reactor.service")).unwrap(),
        std::fs::read(root().join("units/drbd-reactor.service")).unwrap()
    );
}

#[test]
fn make_install_follows_prefix_in_the_units_and_keeps_an_existing_config() {
    let target = stand_in_binaries();
    let dest = tempfile::tempdir().unwrap();
    std::fs::create_dir(dest.path().join("etc")).unwrap();
    std::fs::write(
        dest.path().join("etc/drbd-reactor.toml"),
        "# the operator's\n",
    )
    .unwrap();
    install(target.path(), dest.path(), "/usr/local");
    let unit = std::fs::read_to_string(dest.path().join("lib/systemd/system/drbd-reactor.service"))
        .unwrap();
    assert!(
        unit.lines()
            .any(|l| l == "ExecStart=/usr/local/sbin/drbd-reactor"),
        "{unit}"
    );
    let ocf =
        std::fs::read_to_string(dest.path().join("lib/systemd/system/ocf.rs@.service")).unwrap();
    assert!(
        ocf.contains("ExecStart=/usr/local/libexec/drbd-reactor/ocf-rs-wrapper "),
        "{ocf}"
    );
    assert!(dest.path().join("usr/local/sbin/drbd-reactor").exists());
    assert_eq!(
        std::fs::read_to_string(dest.path().join("etc/drbd-reactor.toml")).unwrap(),
        "# the operator's\n"
    );
}
