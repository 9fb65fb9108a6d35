//! The harness itself on this host: a container boots with its hostname, files and units,
//! answers `systemctl`, and leaves nothing behind, also when the test using it panics.
//! Needs root and systemd-container (fails with a message otherwise).

use nspawn_harness::{Container, Spec};
use std::path::Path;
use std::time::Duration;

fn leftovers(name: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let dir = format!("/dev/shm/nspawn-harness/{name}");
    if mounts.contains(&dir) {
        found.push(format!("mount under {dir}"));
    }
    if Path::new(&dir).exists() {
        found.push(dir);
    }
    for h in ["systemd", "unified", ""] {
        let cg = format!("/sys/fs/cgroup/{h}/nspawn-harness-{name}");
        if Path::new(&cg).exists() {
            found.push(cg);
        }
    }
    found
}

#[test]
fn a_container_boots_with_its_hostname_files_and_units_and_is_gone_after_drop() {
    let spec = Spec::new("harness-boot")
        .hostname("node-a")
        .file("/etc/harness-test", "hello\n", 0o600)
        .symlink("/etc/harness-test", "/usr/local/bin/harness-link")
        .unit(
            "harness-test.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
        );
    let c = Container::boot(spec);
    assert_eq!(c.ok(&["uname", "-n"]).trim(), "node-a");
    assert_eq!(c.ok(&["cat", "/etc/harness-test"]), "hello\n");
    assert_eq!(c.ok(&["cat", "/usr/local/bin/harness-link"]), "hello\n");
    c.ok(&["systemctl", "start", "harness-test.service"]);
    c.wait_for_property(
        "harness-test.service",
        "ActiveState",
        "active",
        Duration::from_secs(10),
    );
    std::fs::write(c.host_path("/run/written-from-the-host"), "x").unwrap();
    c.ok(&["test", "-f", "/run/written-from-the-host"]);
    drop(c);
    assert_eq!(leftovers("harness-boot"), Vec::<String>::new());
}

#[test]
fn a_panicking_test_still_leaves_nothing_behind() {
    let result = std::panic::catch_unwind(|| {
        let c = Container::boot(Spec::new("harness-panic"));
        c.ok(&["false"]);
    });
    let message = *result.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("[\"false\"] failed"), "{message}");
    assert_eq!(leftovers("harness-panic"), Vec::<String>::new());
}

#[test]
fn kill_is_a_power_loss_no_stop_job_runs_and_wait_exit_sees_a_reboot() {
    // A service whose stop job would leave a mark on the host: a power loss never runs it.
    let shared = Path::new("/dev/shm/nspawn-harness-kill-mark");
    let _ = std::fs::remove_dir_all(shared);
    std::fs::create_dir_all(shared).unwrap();
    let mark = shared.join("stopped");
    let mut c = Container::boot(Spec::new("harness-kill").bind(shared).unit(
        "mark-on-stop.service",
        &format!(
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\nExecStop=/bin/touch {}\n",
            mark.display()
        ),
    ));
    c.ok(&["systemctl", "start", "mark-on-stop.service"]);
    assert!(c.kill().is_some(), "kill found no running container");
    assert!(!mark.exists(), "a stop job ran during the power loss");
    assert_eq!(c.kill(), None, "a second kill found a container");
    drop(c);
    std::fs::remove_dir_all(shared).unwrap();
    assert_eq!(leftovers("harness-kill"), Vec::<String>::new());

    // `systemctl reboot --force --force` inside: nspawn exits with 133.
    let mut c = Container::boot(Spec::new("harness-reboot"));
    let _ = c.exec(&["systemctl", "reboot", "--force", "--force"]);
    assert_eq!(c.wait_exit(Duration::from_secs(30)), Some(133));
    drop(c);
    assert_eq!(leftovers("harness-reboot"), Vec::<String>::new());
}
