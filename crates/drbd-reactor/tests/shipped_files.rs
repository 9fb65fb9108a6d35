//! The shipped unit files and example configuration (daemon spec §13) are valid.

use std::path::Path;
use std::process::Command;

fn root(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

#[test]
fn the_example_config_loads_and_starts_no_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root("examples/drbd-reactor.toml")).unwrap();
    assert!(text.contains("snippets = \"/etc/drbd-reactor.d\""));
    let text = text.replace("/etc/drbd-reactor.d", &dir.path().display().to_string());
    let main = dir.path().join("drbd-reactor.toml.main");
    std::fs::write(&main, text).unwrap();
    let (config, plugins, warnings) = drbd_reactor::daemon::read_config(&main).unwrap();
    assert!(plugins.is_empty());
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.statistics_poll_interval, 60);
    assert_eq!(config.snippets_monitoring_interval, 120);
}

#[test]
fn the_service_is_type_notify_and_reloads_with_sighup() {
    let unit = std::fs::read_to_string(root("units/drbd-reactor.service")).unwrap();
    for line in [
        "Type=notify",
        "ExecStart=/usr/sbin/drbd-reactor",
        "ExecReload=/usr/bin/env kill -HUP $MAINPID",
        "ConditionKernelCommandLine=!nocluster",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing {line}");
    }
}

#[test]
fn systemd_analyze_verify_finds_no_problem_in_the_shipped_units() {
    let files = [
        "units/drbd-reactor.service",
        "examples/drbd-reactor-reload.path",
        "examples/drbd-reactor-reload.service",
    ];
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg("--man=no")
        .args(files.map(root))
        .output()
        .expect("systemd-analyze (Debian package systemd) must be installed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let problems: Vec<&str> = stderr
        .lines()
        // the daemon is not installed on a build machine
        .filter(|l| !l.contains("/usr/sbin/drbd-reactor is not executable"))
        .collect();
    assert!(problems.is_empty(), "{stderr}");
}

#[test]
fn the_service_restarts_on_failure_within_a_start_limit_and_keeps_tolerable_hardening() {
    let unit = std::fs::read_to_string(root("units/drbd-reactor.service")).unwrap();
    let has = |line: &str| unit.lines().any(|l| l == line);
    for line in [
        "Restart=on-failure",
        "StartLimitIntervalSec=60s",
        "StartLimitBurst=5",
    ] {
        assert!(has(line), "missing {line}");
    }
    // these would break umh scripts or the promoter (docs/compat/packaging.md says why); the
    // Protect*/Private*/ReadOnly* ones give the unit a mount namespace, where a script's mount
    // never reaches the host
    for option in [
        "ProtectControlGroups=",
        "ReadOnlyPaths=",
        "InaccessiblePaths=",
        "PrivateTmp=",
        "PrivateDevices=",
        "ProtectKernelTunables=",
        "ProtectKernelModules=",
        "ProtectSystem=",
        "ProtectClock=",
        "SystemCallFilter=",
        "CapabilityBoundingSet=",
        "NoNewPrivileges=",
    ] {
        assert!(
            !unit.lines().any(|l| l.starts_with(option)),
            "{option} must not be set"
        );
    }
}
