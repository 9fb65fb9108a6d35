//! The .deb under real systemd: installed with dpkg in a fresh container (PID 1 systemd, an
//! overlay of the host), the postinst starts drbd-reactor.service, which follows a simulated
//! DRBD cluster through the simulator's drbdsetup shim; a reinstall and an upgrade keep an edited
//! /etc/drbd-reactor.toml; purge removes everything. Needs root, systemd-container, the .deb
//! (`bash packaging/build-deb.sh`, path in DRBD_REACTOR_DEB) and `cargo build -p drbd-sim`.
//! Ignored by a plain `cargo test`; `.ci/run` runs it after building the package.

use nspawn_harness::{require_host, Container, Spec};
use std::path::PathBuf;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);

fn drbd_sim() -> PathBuf {
    // target/debug/deps/deb_package-<hash> -> target/debug/drbd-sim
    let exe = std::env::current_exe().unwrap();
    let sim = exe.parent().unwrap().parent().unwrap().join("drbd-sim");
    assert!(
        sim.exists(),
        "{} missing: cargo build -p drbd-sim",
        sim.display()
    );
    sim
}

#[test]
#[ignore = "needs the .deb (bash packaging/build-deb.sh) and root; run by .ci/run"]
fn the_deb_installs_starts_on_the_simulator_upgrades_keeping_the_config_and_purges() {
    require_host();
    let deb = PathBuf::from(
        std::env::var("DRBD_REACTOR_DEB")
            .expect("DRBD_REACTOR_DEB=path of the .deb (bash packaging/build-deb.sh prints it)"),
    );
    let dir = tempfile::tempdir_in("/dev/shm").unwrap();
    let socket = dir.path().join("sim.sock");
    let cluster = drbd_sim::config::ClusterConfig::parse(drbd_sim::demo::CLUSTER).unwrap();
    let sim = drbd_sim::server::Sim::from_config(cluster, &socket, Some(100)).unwrap();
    let shim_config = format!("node = \"alpha\"\nsocket = \"{}\"\n", socket.display());
    let c = Container::boot(
        Spec::new("pkg-deb")
            .hostname("alpha")
            .bind(dir.path())
            .file(
                "/root/drbd-reactor.deb",
                std::fs::read(&deb).unwrap(),
                0o644,
            )
            // the simulator's drbdsetup and drbdadm come first in systemd's PATH
            .binary(drbd_sim(), "/usr/local/lib/drbd-sim/drbd-sim")
            .symlink(
                "/usr/local/lib/drbd-sim/drbd-sim",
                "/usr/local/sbin/drbdsetup",
            )
            .symlink(
                "/usr/local/lib/drbd-sim/drbd-sim",
                "/usr/local/sbin/drbdadm",
            )
            .file("/usr/local/sbin/drbd-sim.toml", shim_config, 0o644),
    );
    let unit = "drbd-reactor.service";

    // The host is a container image whose policy-rc.d forbids starting services from
    // maintainer scripts; a real Debian system has none (removed in the overlay only).
    c.ok(&["rm", "-f", "/usr/sbin/policy-rc.d"]);
    // install: the postinst enables and starts the unit
    c.ok(&["dpkg", "-i", "/root/drbd-reactor.deb"]);
    c.wait_for_property(unit, "ActiveState", "active", DEADLINE);
    assert_eq!(c.property(unit, "UnitFileState"), "enabled");
    c.wait_until("the daemon applied the simulated cluster", DEADLINE, || {
        c.journal(unit).contains("initial state: 1 resources")
    });
    let journal = c.journal(unit);
    assert!(
        journal.contains(
            "compatible with drbd-reactor 1.11.0) starting, configuration /etc/drbd-reactor.toml"
        ),
        "{journal}"
    );
    // the files of spec §13.4 and ours, with their modes
    let listing = c.ok(&[
        "stat",
        "-c",
        "%a %n",
        "/usr/sbin/drbd-reactor",
        "/usr/sbin/drbd-reactorctl",
        "/usr/libexec/drbd-reactor/ocf-rs-wrapper",
        "/etc/drbd-reactor.toml",
        "/etc/drbd-reactor.d",
        "/lib/systemd/system/ocf.rs@.service",
        "/usr/share/man/man5/drbd-reactor.toml.5.gz",
        "/usr/share/man/man1/drbd-reactorctl.1.gz",
        "/usr/share/bash-completion/completions/drbd-reactorctl",
        "/usr/share/snmp/mibs/LINBIT-DRBD-REACTOR-MIB.txt",
        "/usr/share/doc/drbd-reactor/examples/snippets/umh.toml",
        // daemon spec §13.4's documentation files: the umh blog's script
        "/usr/share/doc/drbd-reactor/examples/on-no-quorum-io-error.sh",
    ]);
    for line in [
        "750 /usr/sbin/drbd-reactor",
        "640 /etc/drbd-reactor.toml",
        "750 /etc/drbd-reactor.d",
    ] {
        assert!(listing.lines().any(|l| l == line), "{line} in {listing}");
    }
    let file = c.ok(&["file", "-L", "/usr/sbin/drbd-reactor"]);
    assert!(
        file.contains("stripped") && !file.contains("not stripped"),
        "{file}"
    );
    // every Documentation= page is installed, and the units verify on the installed system
    let verify = c.exec(&[
        "systemd-analyze",
        "verify",
        "--man=yes",
        "/lib/systemd/system/drbd-reactor.service",
    ]);
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // a snippet and a reload through the unit's ExecReload
    c.ok(&[
        "cp",
        "/usr/share/doc/drbd-reactor/examples/snippets/debugger.toml",
        "/etc/drbd-reactor.d/",
    ]);
    c.ok(&["systemctl", "reload", unit]);
    c.wait_until("the reload", DEADLINE, || {
        c.journal(unit)
            .contains("configuration reloaded: 0 plugins kept, 0 stopped, 1 started")
    });

    // journald files each record at its level: `journalctl -p err` shows a failed reload
    std::fs::write(
        c.host_path("/etc/drbd-reactor.d/broken.toml"),
        "[[debugger]]\nformat = 3\n",
    )
    .unwrap();
    c.ok(&["systemctl", "reload", unit]);
    c.wait_until("the failed reload", DEADLINE, || {
        c.journal(unit).contains("broken.toml:2")
    });
    let errors = c.ok(&[
        "journalctl",
        "-u",
        unit,
        "-p",
        "err",
        "-o",
        "cat",
        "--no-pager",
    ]);
    assert!(errors.contains("broken.toml:2"), "{errors}");
    assert!(
        !errors.contains("starting, configuration"),
        "info records are not errors: {errors}"
    );
    std::fs::remove_file(c.host_path("/etc/drbd-reactor.d/broken.toml")).unwrap();

    // a umh script under the hardened unit: it talks to systemd over D-Bus (as the promoter
    // does), mounts a file system the host must see (a mount namespace would keep it in the
    // unit) and writes to /run, when the simulated peer beta crashes
    let umh = "[[umh]]\n[[umh.connection]]\nname = \"peer lost\"\n\
        command = \"mkdir -p /run/umh-mnt; mount -t tmpfs umh-mnt /run/umh-mnt; systemctl show -p Id drbd-reactor.service > /run/umh-fired.tmp; echo $DRBD_NEW_CONN_NAME >> /run/umh-fired.tmp; mv /run/umh-fired.tmp /run/umh-fired\"\n\
        event-type = \"Change\"\nold.connection-state = \"Connected\"\n\
        new.connection-state = { operator = \"NotEquals\", value = \"Connected\" }\n";
    std::fs::write(c.host_path("/etc/drbd-reactor.d/umh.toml"), umh).unwrap();
    c.ok(&["systemctl", "reload", unit]);
    c.wait_until("the umh reload", DEADLINE, || {
        c.journal(unit)
            .contains("configuration reloaded: 1 plugins kept, 0 stopped, 1 started")
    });
    let reply = sim.ctl(&["crash", "beta"]);
    assert_eq!(reply.code, 0, "{reply:?}");
    let fired = c.host_path("/run/umh-fired");
    c.wait_until("the umh script", DEADLINE, || fired.exists());
    assert_eq!(
        std::fs::read_to_string(&fired).unwrap(),
        "Id=drbd-reactor.service\nbeta\n",
        "{}",
        c.journal(unit)
    );
    let mounted = c.ok(&["findmnt", "-n", "-o", "SOURCE", "/run/umh-mnt"]);
    assert_eq!(
        mounted.trim(),
        "umh-mnt",
        "the script's mount reached the host"
    );
    c.ok(&["umount", "/run/umh-mnt"]);

    // reinstall over itself: the edited conffile stays, the daemon keeps running
    c.ok(&[
        "sh",
        "-c",
        "echo '# edited by the operator' >> /etc/drbd-reactor.toml",
    ]);
    c.ok(&["dpkg", "-i", "/root/drbd-reactor.deb"]);
    assert!(c
        .ok(&["cat", "/etc/drbd-reactor.toml"])
        .contains("# edited by the operator"));
    c.wait_for_property(unit, "ActiveState", "active", DEADLINE);

    // an upgrade to a newer version (the same package, repacked as 0.1.0+next): the edited
    // conffile stays and the daemon is restarted onto the new files
    let before = c.property(unit, "MainPID");
    c.ok(&[
        "sh",
        "-c",
        "set -e; cd /root; dpkg-deb -R drbd-reactor.deb next; \
        sed -i 's/^Version: .*/Version: 0.1.0+next/' next/DEBIAN/control; \
        dpkg-deb -b next next.deb >/dev/null; dpkg -i next.deb",
    ]);
    assert!(c
        .ok(&["dpkg-query", "-W", "drbd-reactor"])
        .contains("0.1.0+next"));
    assert!(c
        .ok(&["cat", "/etc/drbd-reactor.toml"])
        .contains("# edited by the operator"));
    c.wait_for_property(unit, "ActiveState", "active", DEADLINE);
    assert_ne!(
        c.property(unit, "MainPID"),
        before,
        "restarted after the upgrade"
    );
    assert_eq!(c.property(unit, "NRestarts"), "0", "no failure restarts");

    // purge: unit stopped and gone, binaries and conffile removed
    c.ok(&["dpkg", "--purge", "drbd-reactor"]);
    c.ok(&["systemctl", "daemon-reload"]);
    assert_eq!(c.property(unit, "LoadState"), "not-found");
    let left = c.sh("ls /usr/sbin/drbd-reactor /etc/drbd-reactor.toml /lib/systemd/system/drbd-reactor.service 2>&1");
    let left = String::from_utf8_lossy(&left.stdout);
    assert_eq!(left.matches("No such file").count(), 3, "{left}");
    assert!(c.journal(unit).contains("drbd-reactor stopped"));
}
