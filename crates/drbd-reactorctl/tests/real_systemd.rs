//! `evict` on real systemd (PID 1 in an nspawn container): the runtime mask `systemctl mask
//! --runtime` creates is the link ctl removes, the target really stops and stays stopped while
//! masked, and unmasking starts it again. The resource's "DRBD" is a stand-in drbdsetup that
//! reports this node Primary while the target's service runs and the peer `beta` after the
//! service's stop (as a peer's promoter would take over). `start-until` runs with drbd-utils'
//! own units and stand-in drbdadm/drbdsetup. Needs root, systemd-container and drbd-utils.

use nspawn_harness::{require_file, require_host, Container, Spec};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_drbd-reactorctl");
const T: &str = "drbd-services@r0.target";
const MASK: &str = "/run/systemd/system/drbd-services@r0.target";
const DEADLINE: Duration = Duration::from_secs(30);

/// Answers `drbdsetup status --json r0` from /run/primary: `local`, or `stopped:<time>` after
/// which the peer beta is Primary from two seconds later on (nobody before).
const DRBDSETUP: &str = r#"#!/bin/sh
p=$(cat /run/primary 2>/dev/null)
case "$p" in
  stopped:*) if [ "$(date +%s)" -ge $(( ${p#stopped:} + 2 )) ]; then p=beta; fi ;;
esac
case "$p" in
  local) echo '[{"name":"r0","role":"Primary","connections":[{"name":"beta","peer-role":"Secondary"}]}]' ;;
  beta) echo '[{"name":"r0","role":"Secondary","connections":[{"name":"beta","peer-role":"Primary"}]}]' ;;
  *) echo '[{"name":"r0","role":"Secondary","connections":[{"name":"beta","peer-role":"Secondary"}]}]' ;;
esac
"#;

/// The resource's services: this node is Primary while it runs; its stop demotes it (and beta
/// takes over two seconds later, see DRBDSETUP).
const APP: &str =
    "[Unit]\nPartOf=drbd-services@r0.target\n[Service]\nType=oneshot\nRemainAfterExit=yes\n\
ExecStart=/bin/sh -c 'echo local > /run/primary'\n\
ExecStop=/bin/sh -c 'echo stopped:$$(date +%%s) > /run/primary'\n";

/// The vendor template without drbd-utils' promote unit (no kernel DRBD here): just the
/// service. It must stay a vendor unit (/usr/lib): a unit file in /etc/systemd/system outranks
/// the runtime mask in /run/systemd/system, and `mask --runtime` then masks nothing.
const TARGET: &str = "[Unit]\nDescription=Services for DRBD resource %I (test)\nRequires=app.service\nAfter=app.service\n";

fn boot(name: &str, extra: impl FnOnce(Spec) -> Spec) -> Container {
    require_host();
    Container::boot(extra(
        Spec::new(name)
            .binary(BIN, "/usr/sbin/drbd-reactorctl")
            .file("/usr/sbin/drbdsetup", DRBDSETUP, 0o755)
            .file(
                "/etc/drbd-reactor.toml",
                "snippets = \"/etc/drbd-reactor.d\"\n",
                0o644,
            )
            .file(
                "/etc/drbd-reactor.d/r0.toml",
                "[[promoter]]\n[promoter.resources.r0]\nstart = [\"app.service\"]\n",
                0o644,
            )
            .file(
                "/usr/lib/systemd/system/drbd-services@.target",
                TARGET,
                0o644,
            )
            .unit("app.service", APP),
    ))
}

fn ctl(c: &Container, args: &[&str]) -> String {
    let mut all = vec!["drbd-reactorctl", "-c", "/etc/drbd-reactor.toml"];
    all.extend_from_slice(args);
    c.ok(&all)
}

#[test]
fn evict_masks_the_target_on_real_systemd_and_unmask_brings_it_back() {
    let c = boot("ctl-evict", |s| s);
    c.ok(&["systemctl", "start", T]);
    c.wait_for_property("app.service", "ActiveState", "active", DEADLINE);

    let out = ctl(&c, &["evict", "--keep-masked", "r0"]);
    assert!(
        out.starts_with("/etc/drbd-reactor.d/r0.toml:\nEvicting r0\n20.."),
        "{out}"
    );
    assert!(out.ends_with("\nNode 'beta' took over\n"), "{out}");
    // what real `systemctl mask --runtime` made: a link to /dev/null, and the unit masked
    assert_eq!(
        std::fs::read_link(c.host_path(MASK)).unwrap(),
        std::path::Path::new("/dev/null")
    );
    assert_eq!(c.property(T, "LoadState"), "masked");
    assert_eq!(c.property("app.service", "ActiveState"), "inactive");
    // masked: starting the target is refused
    assert!(!c.systemctl(&["start", T]).status.success());

    let out = ctl(&c, &["evict", "--unmask", "r0"]);
    assert!(
        out.ends_with(&format!("Re-enabling r0\nRemoved {MASK}.\n")),
        "{out}"
    );
    assert_eq!(c.property(T, "LoadState"), "loaded");
    c.wait_for_property(T, "ActiveState", "active", DEADLINE);
    c.wait_for_property("app.service", "ActiveState", "active", DEADLINE);

    // the whole cycle without --keep-masked: evicted, then re-enabled and started again
    let out = ctl(&c, &["evict", "--delay", "5", "r0"]);
    assert!(
        out.contains("\nNode 'beta' took over\nRe-enabling r0\nRemoved "),
        "{out}"
    );
    assert!(!c.host_path(MASK).exists());
    assert_eq!(c.property(T, "LoadState"), "loaded");
    c.wait_for_property(T, "ActiveState", "active", DEADLINE);
}

#[test]
fn a_target_unit_file_in_etc_defeats_the_runtime_mask_and_evict_refuses_to_stop() {
    let c = boot("ctl-evict-etc", |s| s.unit(T, TARGET));
    c.ok(&["systemctl", "start", T]);
    c.wait_for_property("app.service", "ActiveState", "active", DEADLINE);
    let out = c.exec(&[
        "drbd-reactorctl",
        "-c",
        "/etc/drbd-reactor.toml",
        "evict",
        "r0",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is not masked after 'systemctl mask --runtime' (LoadState=loaded)"),
        "{stderr}"
    );
    assert_eq!(c.property("app.service", "ActiveState"), "active");
    assert!(
        !c.host_path(MASK).exists(),
        "the useless mask is removed again"
    );
}

/// drbd-utils' units call these by absolute path: `drbdadm` logs its arguments (no backing
/// devices, adjust succeeds); `drbdsetup primary` exits with /run/promote-rc (0 if absent).
const DRBDADM_STANDIN: &str = r#"#!/bin/sh
echo "$*" >> /run/drbdadm.log
case "$1" in sh-ll-dev) echo none ;; esac
exit 0
"#;
const DRBDSETUP_STANDIN: &str = r#"#!/bin/sh
case "$1" in primary) exit "$(cat /run/promote-rc 2>/dev/null || echo 0)" ;; esac
exit 0
"#;

#[test]
fn start_until_on_real_systemd_writes_effective_drop_ins_and_notices_a_lost_promotion() {
    require_host();
    require_file("/lib/systemd/system/drbd-promote@.service", "drbd-utils");
    let service = "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n";
    let c = Container::boot(
        Spec::new("ctl-start-until")
            .binary(BIN, "/usr/sbin/drbd-reactorctl")
            .file("/usr/sbin/drbdadm", DRBDADM_STANDIN, 0o755)
            .file("/usr/sbin/drbdsetup", DRBDSETUP_STANDIN, 0o755)
            .file(
                "/etc/drbd-reactor.toml",
                "snippets = \"/etc/drbd-reactor.d\"\n",
                0o644,
            )
            .file(
                "/etc/drbd-reactor.d/r1.toml.disabled",
                "[[promoter]]\n[promoter.resources.r1]\nstart = [\"app.service\", \"app2.service\"]\n",
                0o644,
            )
            .unit("app.service", service)
            .unit("app2.service", service),
    );
    let run = |until: &str| {
        c.exec(&[
            "drbd-reactorctl",
            "-c",
            "/etc/drbd-reactor.toml",
            "start-until",
            until,
            "r1",
        ])
    };
    let out = run("app.service");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .starts_with("systemctl start drbd-promote@r1.service\nsystemctl start app.service\n"),
        "{stdout}"
    );
    assert!(c
        .host_path("/run/systemd/system/drbd-services@r1.target.d/reactor.conf")
        .exists());
    assert!(c.host_path("/run/drbd-reactor/promoter/r1").exists());
    let drbdadm = std::fs::read_to_string(c.host_path("/run/drbdadm.log")).unwrap();
    assert!(
        drbdadm.starts_with("sh-ll-dev r1\nadjust r1\n"),
        "{drbdadm}"
    );
    assert_eq!(
        c.property("drbd-promote@r1.service", "ActiveState"),
        "active"
    );
    assert_eq!(c.property("app.service", "ActiveState"), "active");
    assert_eq!(c.property("app2.service", "ActiveState"), "inactive");
    // the drop-ins are in effect: the services are bound to the promote unit
    assert!(c
        .property("app.service", "BindsTo")
        .contains("drbd-promote@r1.service"));
    assert!(c
        .property("drbd-services@r1.target", "Requires")
        .contains("app2.service"));

    // lost promotion: the promote unit's condition fails, start succeeds, nothing else starts
    c.ok(&["systemctl", "stop", "drbd-promote@r1.service"]);
    c.wait_for_property("app.service", "ActiveState", "inactive", DEADLINE);
    std::fs::write(c.host_path("/run/promote-rc"), "11").unwrap();
    let out = run("app.service");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("'drbd-promote@r1.service' is Inactive after 'systemctl start'"),
        "{stderr}"
    );
    assert_eq!(c.property("app.service", "ActiveState"), "inactive");
}
