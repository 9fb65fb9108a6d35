//! The agentx plugin in the real daemon, with net-snmp's snmpd as the AgentX master on
//! loopback: the daemon starts first, snmpd comes up later, is killed and restarted.

mod common;
use common::*;
use std::process::{Child, Command, Stdio};

fn snmpd(dir: &std::path::Path, udp: u16, agentx: u16) -> Child {
    let conf = dir.join("snmpd.conf");
    std::fs::write(&conf, format!("master agentx\nagentXSocket tcp:127.0.0.1:{agentx}\nagentaddress udp:127.0.0.1:{udp}\nrocommunity public 127.0.0.1\nrwcommunity private 127.0.0.1\n")).unwrap();
    Command::new("snmpd")
        .args(["-f", "-Lf"])
        .arg(dir.join("snmpd.log"))
        .args(["-C", "-c"])
        .arg(&conf)
        .arg("-p")
        .arg(dir.join("snmpd.pid"))
        .env("MIBS", "")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("snmpd (Debian package snmpd) must be installed")
}

/// Runs a net-snmp tool (SNMPv2c, one try, 1 s timeout).
fn snmp(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(["-v2c", "-r", "0", "-t", "1"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (Debian package snmp): {e}"));
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

fn expected_walk() -> String {
    include_str!("fixtures/agentx-example-snmpwalk.txt")
        .lines()
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn agentx_serves_the_state_through_real_snmpd_started_later_and_restarted() {
    let setup = Setup::new();
    setup.write(
        "stream",
        include_str!("fixtures/monitoring-example.events2"),
    );
    setup.drbdadm_version(include_str!("fixtures/monitoring-example.drbdadm-version"));
    let (udp, agentx) = (free_port(), free_port());
    let config = setup.config(&format!("[[agentx]]\naddress = \"127.0.0.1:{agentx}\"\n"));
    let mut daemon = setup.start(&config);
    daemon.wait_log("cannot connect to the AgentX master", 1);

    let target = format!("127.0.0.1:{udp}");
    let walk = || {
        snmp(
            "snmpwalk",
            &[
                "-On",
                "-m",
                "",
                "-c",
                "public",
                &target,
                ".1.3.6.1.4.1.23302",
            ],
        )
    };
    let want = expected_walk();
    let mut master = snmpd(setup.dir.path(), udp, agentx);
    wait_for("a walk equal to the original's", || walk() == want);

    let get = snmp(
        "snmpget",
        &[
            "-On",
            "-m",
            "",
            "-c",
            "public",
            &target,
            ".1.3.6.1.4.1.23302.1.2.1.2.1000",
            ".1.3.6.1.4.1.23302.1.1.1",
            ".1.3.6.1.4.1.23302.1.1.1.0",
        ],
    );
    assert_eq!(get, ".1.3.6.1.4.1.23302.1.2.1.2.1000 = STRING: \"r0\"\n.1.3.6.1.4.1.23302.1.1.1 = STRING: \"9.2.8\"\n.1.3.6.1.4.1.23302.1.1.1.0 = STRING: \"9.2.8\"\n");
    let next = snmp(
        "snmpgetnext",
        &[
            "-On",
            "-m",
            "",
            "-c",
            "public",
            &target,
            ".1.3.6.1.4.1.23302.1.2.1.9",
        ],
    );
    assert_eq!(next, ".1.3.6.1.4.1.23302.1.2.1.9.1000 = INTEGER: 0\n");
    let bulk = snmp(
        "snmpbulkwalk",
        &[
            "-On",
            "-m",
            "",
            "-c",
            "public",
            "-Cr10",
            &target,
            ".1.3.6.1.4.1.23302",
        ],
    );
    assert_eq!(bulk, want);
    let mibs = format!("{}:{}/ietf", mib_dir(), mib_dir());
    let table = snmp(
        "snmptable",
        &[
            "-M",
            &mibs,
            "-m",
            "LINBIT-DRBD-REACTOR-MIB",
            "-Cf",
            ",",
            "-c",
            "public",
            &target,
            "LINBIT-DRBD-REACTOR-MIB::drbdTable",
        ],
    );
    assert!(
        table.contains("drbdMinor,drbdResourceName,drbdResourceRole"),
        "{table}"
    );
    assert!(
        table.contains("1000,r0,Secondary,false,flush,false,false,10102,0,UpToDate,/dev/vg0/r0"),
        "{table}"
    );
    let set = snmp(
        "snmpset",
        &[
            "-On",
            "-m",
            "",
            "-c",
            "private",
            &target,
            ".1.3.6.1.4.1.23302.1.1.1.0",
            "s",
            "x",
        ],
    );
    assert!(set.contains("notWritable"), "{set}");
    assert_eq!(walk(), want, "the session survives a refused set");

    let _ = master.kill();
    let _ = master.wait();
    master = snmpd(setup.dir.path(), udp, agentx);
    wait_for("walks to work again after snmpd restarted", || {
        walk() == want
    });
    let _ = master.kill();
    let _ = master.wait();
    assert!(daemon.stop().success());
}

fn mib_dir() -> String {
    format!("{}/../../mibs", env!("CARGO_MANIFEST_DIR"))
}
