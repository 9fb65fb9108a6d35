//! `ocf.rs@.service` and the wrapper on real systemd (PID 1 in an nspawn container) with real
//! agents from the `resource-agents` package and a tiny test agent. Needs root and
//! systemd-container, drbd-utils' neighbours, resource-agents installed: a host without them
//! fails these tests with a message saying what to install.

use nspawn_harness::{require_file, require_host, Container, LoopDevice, Spec};
use std::time::Duration;

const WRAPPER: &str = env!("CARGO_BIN_EXE_ocf-rs-wrapper");
const UNIT: &str = include_str!("../../../units/ocf.rs@.service");
const TEST_AGENT: &str = include_str!("agents/test-agent");
const DUMMY: &str = "/usr/lib/ocf/resource.d/heartbeat/Dummy";
const FILESYSTEM: &str = "/usr/lib/ocf/resource.d/heartbeat/Filesystem";
const DEADLINE: Duration = Duration::from_secs(30);
/// Dummy, with every call and the parameter `fake` as the agent received them noted in
/// `/run/dummy-calls`.
const COUNTING_DUMMY: &str = "/usr/lib/ocf/resource.d/test/counting-dummy";
const COUNTING_DUMMY_SCRIPT: &str = "#!/bin/sh\n\
    printf '%s fake=%s\\n' \"$1\" \"$OCF_RESKEY_fake\" >> /run/dummy-calls\n\
    exec /usr/lib/ocf/resource.d/heartbeat/Dummy \"$@\"\n";

/// A booted container with the wrapper and the unit at their packaged paths, the test agent as
/// `ocf:test:agent`, and one drop-in per `(instance, body)`.
fn boot(name: &str, dropins: &[(&str, String)], extra: impl FnOnce(Spec) -> Spec) -> Container {
    require_host();
    require_file(DUMMY, "resource-agents");
    let mut spec = Spec::new(name)
        .binary(WRAPPER, "/usr/libexec/drbd-reactor/ocf-rs-wrapper")
        .file("/usr/lib/systemd/system/ocf.rs@.service", UNIT, 0o644)
        .file("/usr/lib/ocf/resource.d/test/agent", TEST_AGENT, 0o755)
        .file(COUNTING_DUMMY, COUNTING_DUMMY_SCRIPT, 0o755);
    for (instance, body) in dropins {
        spec = spec.unit(&format!("ocf.rs@{instance}.service.d/reactor.conf"), body);
    }
    Container::boot(extra(spec))
}

/// A drop-in as the promoter writes it (`Environment= K=V`, values already escaped), plus
/// test settings.
fn dropin(env: &[&str], service: &[&str]) -> String {
    let mut s = String::from("[Service]\n");
    for e in env {
        s.push_str(&format!("Environment= {e}\n"));
    }
    for l in service {
        s.push_str(l);
        s.push('\n');
    }
    s
}

fn show(c: &Container, unit: &str) -> String {
    let m = c.show(
        unit,
        &["ActiveState", "Result", "ExecMainStatus", "NRestarts"],
    );
    let mut v: Vec<_> = m.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    v.sort();
    v.join(" ")
}

#[test]
fn dummy_is_started_monitored_and_stopped_through_ocf_rs() {
    let unit = r"ocf.rs@p_dummy_my\x2dres.service";
    let c = boot(
        "ocf-dummy",
        &[(
            r"p_dummy_my\x2dres",
            dropin(
                &[
                    r"OCF_RESKEY_fake=with\x20whitespace",
                    &format!("AGENT={COUNTING_DUMMY}"),
                ],
                &["Environment=monitor_interval=1"],
            ),
        )],
        |s| s,
    );
    let state = c.host_path(r"/run/resource-agents/Dummy-p_dummy_my\x2dres.state");
    c.ok(&["systemctl", "start", unit]);
    assert_eq!(
        c.property(unit, "ActiveState"),
        "active",
        "{}",
        show(&c, unit)
    );
    assert!(state.exists(), "Dummy's state file is missing after start");
    // A few monitors pass (the interval is 1 s): the service stays up.
    let calls = c.host_path("/run/dummy-calls");
    c.wait_until("two monitor rounds", DEADLINE, || {
        std::fs::read_to_string(&calls)
            .unwrap_or_default()
            .matches("monitor ")
            .count()
            >= 2
    });
    assert_eq!(c.property(unit, "SubState"), "running");
    assert_eq!(c.property(unit, "NRestarts"), "0");
    let seen = std::fs::read_to_string(&calls).unwrap();
    assert!(
        seen.starts_with("start fake=with whitespace\n"),
        "the parameter reaches the agent as systemd unescaped it:\n{seen}"
    );

    c.ok(&["systemctl", "stop", unit]);
    c.wait_for_property(unit, "ActiveState", "inactive", DEADLINE);
    assert_eq!(c.property(unit, "Result"), "success");
    assert!(
        !state.exists(),
        "Dummy's state file is still there after stop"
    );
    let journal = c.journal(unit);
    assert_eq!(
        journal.matches("about to exec stop").count(),
        1,
        "stop ran more or less than once:\n{journal}"
    );
}

#[test]
fn dummy_whose_state_file_vanishes_fails_the_unit_with_not_running() {
    let unit = "ocf.rs@p_dummy_r0.service";
    let c = boot(
        "ocf-dummy-gone",
        &[(
            "p_dummy_r0",
            dropin(
                &["AGENT=/usr/lib/ocf/resource.d/heartbeat/Dummy"],
                // The original unit's misspelling, as old drop-ins carry it.
                &["Environment=monitor_inverval=1", "Restart=no"],
            ),
        )],
        |s| s,
    );
    let state = c.host_path("/run/resource-agents/Dummy-p_dummy_r0.state");
    c.ok(&["systemctl", "start", unit]);
    assert!(state.exists());
    std::fs::remove_file(&state).unwrap();
    c.wait_for_property(unit, "ActiveState", "failed", DEADLINE);
    let props = c.show(unit, &["Result", "ExecMainStatus"]);
    assert_eq!(props["Result"], "exit-code", "{}", show(&c, unit));
    assert_eq!(props["ExecMainStatus"], "7", "OCF_NOT_RUNNING is passed on");
    let journal = c.journal(unit);
    assert!(journal.contains("monitoring every 1 seconds"), "{journal}");
    assert!(
        journal.contains("monitor: FAILED with exit code 7"),
        "{journal}"
    );
    assert!(
        journal.contains("No process state file found"),
        "the agent's own output is missing:\n{journal}"
    );
    // Logged with error priority (the <3> prefix journald understands).
    let errors = c.ok(&["journalctl", "-b", "-p", "err", "-o", "cat", "-u", unit]);
    assert!(
        errors.contains("monitor: FAILED with exit code 7"),
        "{errors}"
    );
}

#[test]
fn with_the_shipped_restart_always_a_failed_monitor_restarts_the_agent() {
    let unit = "ocf.rs@p_dummy_r1.service";
    let c = boot(
        "ocf-dummy-restart",
        &[(
            "p_dummy_r1",
            dropin(
                &["AGENT=/usr/lib/ocf/resource.d/heartbeat/Dummy"],
                &["Environment=monitor_interval=1"],
            ),
        )],
        |s| s,
    );
    let state = c.host_path("/run/resource-agents/Dummy-p_dummy_r1.state");
    c.ok(&["systemctl", "start", unit]);
    std::fs::remove_file(&state).unwrap();
    c.wait_for_property(unit, "NRestarts", "1", DEADLINE);
    c.wait_for_property(unit, "ActiveState", "active", DEADLINE);
    assert!(state.exists(), "the restart did not start Dummy again");
    let journal = c.journal(unit);
    assert!(
        journal.contains("monitor: FAILED with exit code 7"),
        "{journal}"
    );
}

fn test_agent_dropin(service: &[&str]) -> String {
    dropin(&["AGENT=/usr/lib/ocf/resource.d/test/agent"], service)
}

#[test]
fn an_agent_hanging_in_start_is_killed_at_its_timeout_and_the_unit_fails() {
    let unit = "ocf.rs@hang_r0.service";
    let c = boot(
        "ocf-hang-start",
        &[(
            "hang_r0",
            test_agent_dropin(&["Environment=start_timeout=1", "Restart=no"]),
        )],
        |s| s,
    );
    std::fs::create_dir_all(c.host_path("/run/test-agent")).unwrap();
    std::fs::write(c.host_path("/run/test-agent/hang-start"), "").unwrap();
    let out = c.systemctl(&["start", unit]);
    assert!(!out.status.success(), "start of a hanging agent succeeded");
    c.wait_for_property(unit, "ActiveState", "failed", DEADLINE);
    let props = c.show(unit, &["Result", "ExecMainStatus"]);
    // exit-code, not timeout: the wrapper's own timeout ended the call, not systemd's.
    assert_eq!(props["Result"], "exit-code", "{}", show(&c, unit));
    assert_eq!(props["ExecMainStatus"], "1");
    let journal = c.journal(unit);
    assert!(
        journal.contains("start: FAILED: no result after 1 s, killed its process group"),
        "{journal}"
    );
    assert!(
        journal.contains("test-agent: hanging in start"),
        "{journal}"
    );
    // The main process ran the agent's stop once after the failed start (compat O13);
    // ExecStopPost found its note and did not run it again.
    let calls = std::fs::read_to_string(c.host_path("/run/test-agent/calls")).unwrap();
    assert_eq!(calls, "start\nstop\n");
}

#[test]
fn an_agent_hanging_in_monitor_is_killed_at_its_timeout_and_the_unit_fails() {
    let unit = "ocf.rs@hang_r0.service";
    let c = boot(
        "ocf-hang-monitor",
        &[(
            "hang_r0",
            test_agent_dropin(&[
                "Environment=monitor_timeout=1 monitor_interval=1",
                "Restart=no",
            ]),
        )],
        |s| s,
    );
    c.ok(&["systemctl", "start", unit]);
    std::fs::write(c.host_path("/run/test-agent/hang-monitor"), "").unwrap();
    c.wait_for_property(unit, "ActiveState", "failed", DEADLINE);
    assert_eq!(
        c.property(unit, "ExecMainStatus"),
        "1",
        "{}",
        show(&c, unit)
    );
    let journal = c.journal(unit);
    assert!(
        journal.contains("monitor: FAILED: no result after 1 s, killed its process group"),
        "{journal}"
    );
    let child = std::fs::read_to_string(c.host_path("/run/test-agent/child.pid")).unwrap();
    let alive = c.sh(&format!("kill -0 {}", child.trim()));
    assert!(
        !alive.status.success(),
        "the hanging agent's child survived"
    );
}

#[test]
fn a_failed_stop_on_systemctl_stop_fails_the_unit_and_runs_only_once() {
    let unit = "ocf.rs@stopfail_r0.service";
    let c = boot(
        "ocf-stop-fails",
        &[("stopfail_r0", test_agent_dropin(&["Restart=no"]))],
        |s| s,
    );
    c.ok(&["systemctl", "start", unit]);
    std::fs::write(c.host_path("/run/test-agent/stop-fails"), "").unwrap();
    c.ok(&["systemctl", "stop", unit]);
    c.wait_for_property(unit, "ActiveState", "failed", DEADLINE);
    assert_eq!(
        c.property(unit, "ExecMainStatus"),
        "1",
        "{}",
        show(&c, unit)
    );
    let calls = std::fs::read_to_string(c.host_path("/run/test-agent/calls")).unwrap();
    assert_eq!(
        calls.matches("stop").count(),
        1,
        "the agent's stop ran more than once: {calls:?}\n{}",
        c.journal(unit)
    );
    let journal = c.journal(unit);
    assert!(journal.contains("test-agent: stop refused"), "{journal}");
    assert!(
        journal.contains("not running it a second time"),
        "{journal}"
    );
}

#[test]
fn filesystem_mounts_a_loop_device_image_and_unmounts_it_on_stop() {
    require_host();
    require_file(FILESYSTEM, "resource-agents");
    let image = LoopDevice::formatted("ocf-fs", 16, &["mkfs.ext4", "-q", "-F"]);
    let device = image.device.display().to_string();
    let unit = "ocf.rs@fs_r0.service";
    let c = boot(
        "ocf-filesystem",
        &[(
            "fs_r0",
            dropin(
                &[
                    &format!("OCF_RESKEY_device={device}"),
                    "OCF_RESKEY_directory=/srv/ocf\\x2dfs",
                    "OCF_RESKEY_fstype=ext4",
                    "AGENT=/usr/lib/ocf/resource.d/heartbeat/Filesystem",
                ],
                &["Environment=monitor_interval=1", "Restart=no"],
            ),
        )],
        |s| s.bind(&image.device),
    );
    c.ok(&["mkdir", "-p", "/srv/ocf-fs"]);
    let out = c.systemctl(&["start", unit]);
    assert!(
        out.status.success(),
        "start failed: {}\n{}",
        show(&c, unit),
        c.journal(unit)
    );
    let source = c.ok(&["findmnt", "-n", "-o", "SOURCE", "/srv/ocf-fs"]);
    assert_eq!(source.trim(), device);
    c.ok(&["sh", "-c", "echo data > /srv/ocf-fs/file"]);

    c.ok(&["systemctl", "stop", unit]);
    c.wait_for_property(unit, "ActiveState", "inactive", DEADLINE);
    assert_eq!(c.property(unit, "Result"), "success");
    let mounted = c.exec(&["findmnt", "/srv/ocf-fs"]);
    assert!(!mounted.status.success(), "still mounted after stop");
}

#[test]
fn a_failed_monitor_ends_the_agents_daemon_with_its_stop_before_systemd_kills_the_rest() {
    // KillMode=mixed SIGKILLs what is left in the cgroup as soon as the wrapper exits; the
    // agent's stop (a database's clean shutdown) must run before that.
    let unit = "ocf.rs@daemon_r0.service";
    let c = boot(
        "ocf-daemon",
        &[(
            "daemon_r0",
            test_agent_dropin(&["Environment=monitor_interval=1", "Restart=no"]),
        )],
        |s| s,
    );
    let dir = c.host_path("/run/test-agent");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("daemon"), "").unwrap();
    c.ok(&["systemctl", "start", unit]);
    assert!(dir.join("daemon.pid").exists(), "{}", c.journal(unit));
    std::fs::remove_file(dir.join("running")).unwrap();
    c.wait_for_property(unit, "ActiveState", "failed", DEADLINE);
    assert_eq!(
        c.property(unit, "ExecMainStatus"),
        "7",
        "{}",
        show(&c, unit)
    );
    let journal = c.journal(unit);
    assert_eq!(
        std::fs::read_to_string(dir.join("daemon-term")).unwrap_or_default(),
        "TERM\n",
        "the daemon did not get the agent's SIGTERM:\n{journal}"
    );
    let calls = std::fs::read_to_string(dir.join("calls")).unwrap();
    assert_eq!(calls.matches("stop").count(), 1, "{calls:?}\n{journal}");
    assert!(
        journal.contains("the agent's stop already ran for this service run, when it failed"),
        "{journal}"
    );
}

#[test]
fn a_service_frozen_past_its_monitor_timeout_runs_on_after_the_thaw_without_a_restart() {
    // What the promoter's on-quorum-loss = "freeze" does: systemctl freeze, later thaw.
    let unit = "ocf.rs@frozen_r0.service";
    let c = boot(
        "ocf-freeze",
        &[(
            "frozen_r0",
            test_agent_dropin(&["Environment=monitor_interval=1 monitor_timeout=5"]),
        )],
        |s| s,
    );
    let dir = c.host_path("/run/test-agent");
    c.ok(&["systemctl", "start", unit]);
    std::fs::write(dir.join("hold-monitor"), "").unwrap();
    c.wait_until("a monitor held", DEADLINE, || {
        dir.join("monitor-held").exists()
    });
    c.ok(&["systemctl", "freeze", unit]);
    assert_eq!(c.property(unit, "FreezerState"), "frozen");
    // The freeze must outlast the monitor's timeout: time passing is the condition here.
    std::thread::sleep(Duration::from_secs(7));
    c.ok(&["systemctl", "thaw", unit]);
    std::fs::remove_file(dir.join("hold-monitor")).unwrap();
    let monitors = || {
        std::fs::read_to_string(dir.join("calls"))
            .unwrap_or_default()
            .matches("monitor")
            .count()
    };
    let before = monitors();
    c.wait_until("two more monitors", DEADLINE, || monitors() >= before + 2);
    assert_eq!(
        (
            c.property(unit, "ActiveState"),
            c.property(unit, "NRestarts")
        ),
        ("active".to_string(), "0".to_string()),
        "{}",
        show(&c, unit)
    );
    let journal = c.journal(unit);
    assert!(!journal.contains("FAILED"), "{journal}");
}
