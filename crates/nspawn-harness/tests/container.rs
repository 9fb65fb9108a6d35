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
