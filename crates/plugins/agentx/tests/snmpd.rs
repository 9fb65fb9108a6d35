//! Real net-snmp snmpd as AgentX master on loopback.
use drbd::{parse_line, State};
use drbd_reactor_agentx::mib::MibTable;
use drbd_reactor_agentx::session::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Fixture(State);
impl TableSource for Fixture {
    fn generation(&self) -> u64 {
        1
    }
    fn build(&self) -> Option<MibTable> {
        Some(MibTable::build(
            self.0.resources().map(|r| &**r),
            "9.2.8",
            "9.28.0",
            true,
        ))
    }
}

fn fixture() -> Fixture {
    let mut s = State::new();
    let mut out = Vec::new();
    for l in include_str!("fixtures/monitoring-example.events2").lines() {
        s.apply(parse_line(l).unwrap().event, &mut out);
    }
    Fixture(s)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Snmpd {
    child: Child,
    dir: tempfile::TempDir,
    udp: u16,
    agentx: u16,
}
impl Snmpd {
    fn start(dir: tempfile::TempDir, udp: u16, agentx: u16) -> Snmpd {
        let socket = format!("tcp:127.0.0.1:{agentx}");
        Self::start_at(dir, udp, agentx, &socket)
    }

    /// snmpd with its AgentX socket at `socket` (net-snmp syntax: tcp:HOST:PORT or a path).
    fn start_at(dir: tempfile::TempDir, udp: u16, agentx: u16, socket: &str) -> Snmpd {
        let conf = dir.path().join("snmpd.conf");
        std::fs::write(&conf, format!("master agentx\nagentXSocket {socket}\nagentaddress udp:127.0.0.1:{udp}\nrocommunity public 127.0.0.1\nrwcommunity private 127.0.0.1\n")).unwrap();
        let child = Command::new("snmpd")
            .args([
                "-f",
                "-Lf",
                dir.path().join("log").to_str().unwrap(),
                "-C",
                "-c",
                conf.to_str().unwrap(),
                "-p",
                dir.path().join("pid").to_str().unwrap(),
            ])
            .env("MIBS", "")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("snmpd (Debian package snmpd) must be installed");
        Snmpd {
            child,
            dir,
            udp,
            agentx,
        }
    }
    fn stop(mut self) -> (tempfile::TempDir, u16, u16) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        (self.dir, self.udp, self.agentx)
    }
}

fn snmp(tool: &str, udp: u16, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(["-v2c", "-On", "-m", "", "-r", "0", "-t", "1"])
        .args(args)
        .arg(format!("127.0.0.1:{udp}"))
        .args(if tool == "snmpset" {
            vec![".1.3.6.1.4.1.23302.1.1.1.0", "s", "x"]
        } else {
            vec![".1.3.6.1.4.1.23302"]
        })
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

fn expected_walk() -> String {
    include_str!("fixtures/agentx-example-snmpwalk.txt")
        .lines()
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn walk_until(udp: u16, want: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let got = snmp("snmpwalk", udp, &["-c", "public"]);
        if got == want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn session(
    agentx: u16,
) -> (
    tokio::sync::watch::Sender<bool>,
    std::thread::JoinHandle<()>,
) {
    session_with(agentx, fixture(), Duration::from_secs(60))
}

fn session_with(
    agentx: u16,
    source: impl TableSource,
    cache_max: Duration,
) -> (
    tokio::sync::watch::Sender<bool>,
    std::thread::JoinHandle<()>,
) {
    session_at(&format!("127.0.0.1:{agentx}"), source, cache_max)
}

fn session_at(
    address: &str,
    source: impl TableSource,
    cache_max: Duration,
) -> (
    tokio::sync::watch::Sender<bool>,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let cfg = SessionConfig {
        address: address.parse().unwrap(),
        agent_timeout: 60,
        cache_max,
        timing: Timing {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_millis(500),
            healthy_after: Duration::from_secs(5),
            ping_every: Duration::from_secs(1),
            answer_within: Duration::from_secs(2),
        },
    };
    let h = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run(cfg, source, rx));
    });
    (tx, h)
}

#[test]
fn walk_set_and_master_restart_against_real_snmpd() {
    let (udp, agentx) = (free_port(), free_port());
    // The subagent starts before the master exists.
    let (stop, handle) = session(agentx);
    let snmpd = Snmpd::start(tempfile::tempdir().unwrap(), udp, agentx);
    let want = expected_walk();
    assert_eq!(walk_until(udp, &want, Duration::from_secs(15)), want);

    // A Set is refused as notWritable and the session stays up.
    let set = snmp("snmpset", udp, &["-c", "private"]);
    assert!(set.contains("notWritable"), "snmpset said: {set}");
    assert_eq!(snmp("snmpwalk", udp, &["-c", "public"]), want);

    // GetBulk (snmpbulkwalk) sees the same table.
    assert_eq!(snmp("snmpbulkwalk", udp, &["-c", "public", "-Cr7"]), want);

    // The master restarts: the subagent registers again.
    let (dir, udp, agentx) = snmpd.stop();
    let snmpd = Snmpd::start(dir, udp, agentx);
    assert_eq!(walk_until(udp, &want, Duration::from_secs(15)), want);

    stop.send(true).unwrap();
    handle.join().unwrap();
    snmpd.stop();
}

/// A state that changes every time it is looked at: resource r0 with 1, 2, 3, ... devices.
struct Churning(std::sync::atomic::AtomicU64);
impl TableSource for Churning {
    fn generation(&self) -> u64 {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }
    fn build(&self) -> Option<MibTable> {
        let n = self.0.load(std::sync::atomic::Ordering::SeqCst);
        let mut s = State::new();
        let mut out = Vec::new();
        s.apply(parse_line("exists resource name:r0 role:Secondary suspended:no force-io-failures:no may_promote:no promotion_score:1").unwrap().event, &mut out);
        for v in 0..=(n % 50) {
            let l = format!("exists device name:r0 volume:{v} minor:{} backing_dev:none disk:UpToDate client:no open:no quorum:yes size:{n} read:0 written:0 al-writes:0 bm-writes:0 upper-pending:0 lower-pending:0 al-suspended:no blocked:no", 1000 + v);
            s.apply(parse_line(&l).unwrap().event, &mut out);
        }
        Some(MibTable::build(
            s.resources().map(|r| &**r),
            "9.2.8",
            "9.28.0",
            true,
        ))
    }
}

#[test]
fn a_walk_sees_one_consistent_table_while_the_state_changes_under_it() {
    let (udp, agentx) = (free_port(), free_port());
    let snmpd = Snmpd::start(tempfile::tempdir().unwrap(), udp, agentx);
    let (stop, handle) = session_with(agentx, Churning(Default::default()), Duration::ZERO);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut first = snmp("snmpwalk", udp, &["-c", "public"]);
    while !first.contains("23302.1.2.1.1.1000") {
        assert!(Instant::now() < deadline, "the subagent never registered");
        std::thread::sleep(Duration::from_millis(200));
        first = snmp("snmpwalk", udp, &["-c", "public"]);
    }
    // A finished walk ends the walk window: poll until a later walk sees a rebuilt table.
    while snmp("snmpwalk", udp, &["-c", "public"]) == first {
        assert!(
            Instant::now() < deadline,
            "the table was never rebuilt between walks"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..3 {
        let walk = snmp("snmpwalk", udp, &["-c", "public"]);
        let rows = walk
            .lines()
            .filter(|l| l.contains(".23302.1.2.1.1."))
            .count();
        let sizes: std::collections::BTreeSet<&str> = walk
            .lines()
            .filter(|l| l.contains(".23302.1.2.1.14."))
            .map(|l| l.rsplit(' ').next().unwrap())
            .collect();
        // Every column has one cell per row, and every row has the same size: one table.
        for column in 2..=49 {
            let cells = walk
                .lines()
                .filter(|l| l.contains(&format!(".23302.1.2.1.{column}.")))
                .count();
            assert_eq!(
                cells, rows,
                "column {column} in a walk of {rows} rows:\n{walk}"
            );
        }
        assert_eq!(
            sizes.len(),
            1,
            "sizes from different tables in one walk: {sizes:?}"
        );
    }
    stop.send(true).unwrap();
    handle.join().unwrap();
    snmpd.stop();
}

#[test]
fn the_subagent_talks_to_a_master_on_a_unix_socket() {
    let udp = free_port();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("master");
    let snmpd = Snmpd::start_at(dir, udp, 0, socket.to_str().unwrap());
    let (stop, handle) = session_at(
        &format!("unix:{}", socket.display()),
        fixture(),
        Duration::from_secs(60),
    );
    let want = expected_walk();
    assert_eq!(walk_until(udp, &want, Duration::from_secs(15)), want);
    stop.send(true).unwrap();
    handle.join().unwrap();
    snmpd.stop();
}
