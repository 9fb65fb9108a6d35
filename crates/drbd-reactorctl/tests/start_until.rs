//! `start-until` with the real binary and stand-in `systemctl`/`drbdadm`: the promoter's
//! construction (sh-ll-dev, the backing-device wait, adjust, the drop-ins under
//! `$DRBD_REACTOR_UNIT_DIR` and their manifest, daemon-reload), then the promote unit, whose
//! activity is checked, and the start list up to the named entry.
mod common;
use common::*;
use std::path::Path;

const PROMOTE: &str = "drbd-promote@r1.service";

fn promote_active(bench: &Bench) {
    bench.unit(PROMOTE, "active", "running");
}

#[test]
fn start_until_constructs_the_promoter_then_starts_the_promote_unit_and_the_start_list_up_to_the_named_entry(
) {
    let bench = Bench::new();
    promote_active(&bench);
    let path = bench.snippet(
        "p.toml.disabled",
        "[[promoter]]\n[promoter.resources.r1]\nstart = [\"a.mount\", \"ocf:heartbeat:IPaddr2 p_ip ip=1.2.3.4\", \"c.service\"]\n",
    );
    let out = bench.ctl(&["start-until", "ocf:heartbeat:IPaddr2 p_ip ip=1.2.3.4", "p"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(bench.log("drbdadm"), ["sh-ll-dev r1", "adjust r1"]);
    assert_eq!(
        bench.systemctl_log(),
        [
            "daemon-reload",
            "start drbd-promote@r1.service",
            "show --property=ActiveState drbd-promote@r1.service",
            "start a.mount",
            "start ocf.rs@p_ip_r1.service"
        ]
    );
    assert_eq!(
        stdout(&out),
        format!(
            "systemctl start drbd-promote@r1.service\nsystemctl start a.mount\nsystemctl start ocf.rs@p_ip_r1.service\n\
             INFO: To resume normal operation, execute:\n- systemctl start drbd-services@r1.target # on this node\n\
             - drbd-reactorctl enable {} # on all cluster nodes\n",
            path.display()
        )
    );
    // the promoter's drop-ins, as the daemon writes them, and its manifest
    let target = std::fs::read_to_string(
        bench
            .unit_dir()
            .join("drbd-services@r1.target.d/reactor.conf"),
    )
    .unwrap();
    assert!(
        target.contains(
            "Requires = a.mount\nRequires = ocf.rs@p_ip_r1.service\nRequires = c.service"
        ),
        "{target}"
    );
    let ocf = std::fs::read_to_string(
        bench
            .unit_dir()
            .join("ocf.rs@p_ip_r1.service.d/reactor.conf"),
    )
    .unwrap();
    assert!(ocf.contains("Environment= OCF_RESKEY_ip=1.2.3.4"), "{ocf}");
    assert!(bench
        .unit_dir()
        .join("a.mount.d/reactor-50-mount.conf")
        .exists());
    assert!(bench.root().join("run/promoter/r1").exists());
    // unchanged drop-ins: no second daemon-reload
    let out = bench.ctl(&["start-until", "0", "p"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        bench.systemctl_log()[5..],
        [
            "start drbd-promote@r1.service",
            "show --property=ActiveState drbd-promote@r1.service"
        ]
    );
}

#[test]
fn start_until_by_count_and_its_errors() {
    let bench = Bench::new();
    promote_active(&bench);
    bench.snippet(
        "p.toml.disabled",
        "[[promoter]]\n[promoter.resources.r1]\nstart = [\"a.service\", \"b.service\"]\n",
    );
    assert!(bench.ctl(&["start-until", "1", "p"]).status.success());
    assert_eq!(
        bench.systemctl_log()[1..],
        [
            "start drbd-promote@r1.service",
            "show --property=ActiveState drbd-promote@r1.service",
            "start a.service"
        ]
    );
    let before = bench.log("drbdadm").len();
    let out = bench.ctl(&["start-until", "x.service", "p"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Could not find unit 'x.service'"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        bench.log("drbdadm").len(),
        before,
        "checked before adjusting"
    );
    let out = bench.ctl(&["start-until", "1", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    std::fs::write(bench.root().join("fail-start"), "").unwrap();
    let out = bench.ctl(&["start-until", "1", "p"]);
    assert_eq!(out.status.code(), Some(1), "a failing start aborts");
}

#[test]
fn a_lost_promotion_stops_start_until_before_the_start_list() {
    let bench = Bench::new();
    bench.snippet(
        "p.toml.disabled",
        "[[promoter]]\n[promoter.resources.r1]\nstart = [\"a.service\"]\n",
    );
    // the promote unit's condition was skipped: start succeeded, the unit is inactive
    let out = bench.ctl(&["start-until", "1", "p"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("'drbd-promote@r1.service' is Inactive after 'systemctl start'"),
        "{}",
        stderr(&out)
    );
    assert!(!bench
        .systemctl_log()
        .contains(&"start a.service".to_string()));
}

#[test]
fn backing_devices_are_awaited_with_a_deadline_and_adjust_can_be_switched_off() {
    let bench = Bench::new();
    promote_active(&bench);
    bench.snippet(
        "p.toml.disabled",
        "[[promoter]]\n[promoter.resources.r1]\nstart = [\"a.service\"]\n",
    );
    std::fs::write(bench.root().join("drbd/r1.disks"), "/nonexistent/disk\n").unwrap();
    let out = bench
        .cmd()
        .env("DRBD_REACTORCTL_DEVICE_TIMEOUT", "1")
        .arg("-c")
        .arg(bench.main())
        .args(["start-until", "1", "p"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("Waiting for the backing devices of 'r1': /nonexistent/disk"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("backing devices [\"/nonexistent/disk\"] not ready after 1s"),
        "{}",
        stderr(&out)
    );
    assert_eq!(bench.log("drbdadm"), ["sh-ll-dev r1"]);
    assert!(
        bench.systemctl_log().is_empty(),
        "nothing written or started"
    );

    if Path::new("/dev/loop0").exists() {
        std::fs::write(bench.root().join("drbd/r1.disks"), "/dev/loop0\nnone\n").unwrap();
        let out = bench.ctl(&["start-until", "1", "p"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(bench.log("drbdadm")[1..], ["sh-ll-dev r1", "adjust r1"]);
    }

    let bench = Bench::new();
    promote_active(&bench);
    bench.snippet(
        "p.toml.disabled",
        "[[promoter]]\n[promoter.resources.r1]\nstart = [\"a.service\"]\nadjust-resource-on-start = false\n",
    );
    assert!(bench.ctl(&["start-until", "1", "p"]).status.success());
    assert!(bench.log("drbdadm").is_empty());
}

#[test]
fn a_failing_adjust_or_a_shell_runner_starts_nothing() {
    let bench = Bench::new();
    promote_active(&bench);
    bench.snippet(
        "p.toml.disabled",
        "[[promoter]]\n[promoter.resources.r1]\nstart = [\"a.service\"]\n",
    );
    std::fs::write(bench.root().join("fail-drbdadm-adjust"), "").unwrap();
    let out = bench.ctl(&["start-until", "1", "p"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Could not adjust 'r1': drbdadm adjust r1"),
        "{}",
        stderr(&out)
    );
    assert!(bench.systemctl_log().is_empty());
    assert!(!bench.unit_dir().join("drbd-services@r1.target.d").exists());

    bench.snippet(
        "s.toml.disabled",
        "[[promoter]]\n[promoter.resources.r2]\nrunner = \"shell\"\nstart = [\"echo hi\"]\n",
    );
    let out = bench.ctl(&["start-until", "1", "s"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("runner = \"shell\""),
        "{}",
        stderr(&out)
    );
    assert!(bench.systemctl_log().is_empty());
}
