//! SNMP walks through net-snmp's snmpd and the real daemon's agentx plugin stay consistent
//! while the simulated cluster keeps changing: every walk shows one table (each column has
//! the same rows), although a resource goes down and up on the node all the time.
//! Fails (never skips) when the daemon binary or snmpd is missing.

mod common;
use common::*;

use drbd_sim::config::ClusterConfig;
use drbd_sim::server::{install_shims, Sim};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn walk(udp: u16) -> String {
    let out = Command::new("snmpwalk")
        .args([
            "-v2c", "-On", "-m", "", "-r", "0", "-t", "2", "-c", "public",
        ])
        .arg(format!("127.0.0.1:{udp}"))
        .arg(".1.3.6.1.4.1.23302")
        .output()
        .expect("snmpwalk (Debian package snmp) must be installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Rows per served column of the table (columns 1 to 49).
fn rows_per_column(walk: &str) -> Vec<usize> {
    (1..=49)
        .map(|c| {
            walk.lines()
                .filter(|l| l.starts_with(&format!(".1.3.6.1.4.1.23302.1.2.1.{c}.")))
                .count()
        })
        .collect()
}

#[test]
fn walks_through_real_snmpd_stay_consistent_while_the_cluster_changes() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sim.sock");
    let cluster = ClusterConfig::parse(
        "[[node]]\nname = \"alpha\"\nid = 0\n[[node]]\nname = \"beta\"\nid = 1\n[[node]]\nname = \"gamma\"\nid = 2\n\
         [[resource]]\nname = \"r0\"\nport = 7000\n\
         [[resource]]\nname = \"r1\"\nport = 7001\n[[resource.volume]]\nnumber = 0\nminor = 1001\nsize = 1048576\ndisk = \"/dev/vg/r1\"\n",
    )
    .unwrap();
    let _sim = Sim::from_config(cluster, &socket, Some(20)).unwrap();
    let shims = dir.path().join("alpha");
    install_shims(
        Path::new(env!("CARGO_BIN_EXE_drbd-sim")),
        &shims,
        "alpha",
        &socket,
    )
    .unwrap();
    let (udp, agentx) = (free_port(), free_port());
    let conf = dir.path().join("snmpd.conf");
    std::fs::write(&conf, format!("master agentx\nagentXSocket tcp:127.0.0.1:{agentx}\nagentaddress udp:127.0.0.1:{udp}\nrocommunity public 127.0.0.1\n")).unwrap();
    let _snmpd = Killed(
        Command::new("snmpd")
            .args(["-f", "-Lf"])
            .arg(dir.path().join("snmpd.log"))
            .args(["-C", "-c"])
            .arg(&conf)
            .arg("-p")
            .arg(dir.path().join("snmpd.pid"))
            .env("MIBS", "")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("snmpd (Debian package snmpd) must be installed"),
    );
    let config = dir.path().join("alpha.toml");
    std::fs::write(&config, format!("statistics-poll-interval = 1\n[[log]]\nlevel = \"info\"\nfile = \"{}\"\n[[agentx]]\naddress = \"127.0.0.1:{agentx}\"\ncache-max = 0\n", dir.path().join("alpha.log").display())).unwrap();
    let _daemon = start_daemon(&config, &shims);
    let deadline = Instant::now() + Duration::from_secs(30);
    while rows_per_column(&walk(udp))[0] != 2 {
        assert!(
            Instant::now() < deadline,
            "the daemon never served both devices"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // r1 goes down and up on alpha without pause while we walk.
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (stop, drbdadm) = (Arc::clone(&stop), shims.join("drbdadm"));
        std::thread::spawn(move || {
            let mut flips = 0;
            while !stop.load(Ordering::Relaxed) {
                let verb = if flips % 2 == 0 { "down" } else { "up" };
                let _ = Command::new(&drbdadm)
                    .args([verb, "r1"])
                    .env_remove("DRBD_SIM_NODE")
                    .env_remove("DRBD_SIM_SOCKET")
                    .output();
                flips += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            flips
        })
    };
    let mut sizes = std::collections::BTreeSet::new();
    // At least 30 walks, and on until two of them saw different tables (poll with a deadline:
    // on a loaded machine 30 walks can all fall between two changes of the snapshot).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut walks = 0;
    while walks < 30 || (sizes.len() < 2 && Instant::now() < deadline) {
        walks += 1;
        let w = walk(udp);
        let rows = rows_per_column(&w);
        assert!(
            rows.iter().all(|&r| r == rows[0]),
            "a walk mixed tables: rows per column {rows:?}\n{w}"
        );
        sizes.insert(rows[0]);
    }
    stop.store(true, Ordering::Relaxed);
    let flips = churn.join().unwrap();
    assert!(flips > 0, "the cluster never changed");
    assert!(
        sizes.len() > 1,
        "every walk saw the same table ({sizes:?}): the state never changed between walks"
    );
}
