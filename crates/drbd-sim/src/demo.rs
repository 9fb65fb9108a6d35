//! `drbd-sim demo`: a 3-node cluster, one real drbd-reactor per node (each with its own
//! shims first in PATH), each with a promoter for r0 whose service (a marker file) runs
//! where r0 is Primary, and a narrated story — the service starts, its node crashes and the
//! service moves, quorum loss stops it, a rejoin and a resync — while printing what each
//! daemon logs.
//!
//! Must never: leave daemons behind (they are killed by handle on every exit path, and on
//! SIGTERM/SIGINT by `demo_signals`).

use crate::config::ClusterConfig;
use crate::model::Cluster;
use crate::server::{install_shims, Sim};
use std::collections::BTreeMap;
use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The demo cluster (also `drbd-sim example-cluster`).
pub const CLUSTER: &str = r#"# Three nodes; r0 is diskful everywhere, quorum majority.
[[node]]
name = "alpha"
id = 0

[[node]]
name = "beta"
id = 1

[[node]]
name = "gamma"
id = 2

[[resource]]
name = "r0"
port = 7000
resync-rate = 51200   # KiB/s

[resource.options]
quorum = "majority"
on-no-quorum = "suspend-io"
on-no-data-accessible = "suspend-io"
on-suspended-primary-outdated = "force-secondary"

[[resource.volume]]
number = 0
minor = 1000
size = 1048576
disk = "/dev/vg/r0"
"#;

/// Where the daemon binary is: DRBD_REACTOR_BIN, or next to this executable.
pub fn reactor_binary() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("DRBD_REACTOR_BIN") {
        return Ok(p.into());
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut dir = me.parent().map(Path::to_path_buf).unwrap_or_default();
    for _ in 0..2 {
        let candidate = dir.join("drbd-reactor");
        if candidate.is_file() {
            return Ok(candidate);
        }
        dir = dir.parent().map(Path::to_path_buf).unwrap_or_default();
    }
    Err(format!(
        "drbd-reactor not found next to {} (build it with `cargo build -p drbd-reactor`, or set DRBD_REACTOR_BIN)",
        me.display()
    ))
}

/// A umh rule per quorum edge: the daemons run a shell command when their node loses or
/// regains quorum (the seed blog post's example, reduced to an echo).
const UMH: &str = r#"
[[umh]]
id = "demo"

[[umh.device]]
name = "quorum lost"
resource-name = "r0"
old.quorum = true
new.quorum = false
command = "echo \"umh: $DRBD_RES_NAME lost quorum\""

[[umh.device]]
name = "quorum gained"
resource-name = "r0"
old.quorum = false
new.quorum = true
command = "echo \"umh: $DRBD_RES_NAME regained quorum\""
"#;

/// The promoter: the shell runner promotes r0 and starts the "service" (a marker file in
/// the node's directory, and the device held open as a file system would); on quorum loss
/// it stops it (closes the device) and demotes.
fn promoter(node_dir: &Path) -> String {
    let node = node_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let socket = node_dir.parent().unwrap_or(Path::new(".")).join("sim.sock");
    let me = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("drbd-sim"));
    let ctl = format!("'{}' ctl --socket '{}'", me.display(), socket.display());
    format!(
        r#"
[[promoter]]
[promoter.resources.r0]
runner = "shell"
start = ["drbdadm primary r0", "{ctl} open {node} r0 >/dev/null", "touch '{s}'"]
stop = ["rm -f '{s}'", "{ctl} close {node} r0 >/dev/null", "drbdadm secondary r0"]
on-quorum-loss = "shutdown"
adjust-resource-on-start = false
"#,
        s = service_file(node_dir).display(),
        ctl = ctl.replace('\\', "\\\\").replace('"', "\\\""),
    )
}

/// A daemon's configuration: a debug log file, the debugger, the promoter, and (if the
/// daemon has it) the umh plugin.
fn reactor_config(log: &Path, umh: bool) -> String {
    format!(
        "[[log]]\nlevel = \"debug\"\nfile = \"{}\"\n\n[[debugger]]\n{}{}",
        log.display(),
        promoter(log.parent().unwrap_or(Path::new("."))),
        if umh { UMH } else { "" }
    )
}

/// The marker file that is the node's service while it runs.
fn service_file(node_dir: &Path) -> PathBuf {
    node_dir.join("service")
}

/// One node's daemon and the log it writes.
struct Daemon {
    child: Option<Child>,
    log: PathBuf,
    offset: u64,
    config: PathBuf,
    path_env: String,
    binary: PathBuf,
}

impl Daemon {
    fn start(&mut self) -> std::io::Result<()> {
        let mut cmd = Command::new(&self.binary);
        cmd.args(["--allow-tty", "-c"])
            .arg(&self.config)
            .env("PATH", &self.path_env)
            .env("DRBD_REACTOR_RUN_DIR", self.config.with_extension("run"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.config.with_extension("stderr"))?);
        crate::demo_signals::stop_with_parent(&mut cmd);
        let child = cmd.spawn()?;
        crate::demo_signals::started(child.id());
        self.child = Some(child);
        Ok(())
    }

    /// If the daemon already exited: what it said (stderr and log).
    fn exited(&mut self) -> Option<String> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        if let Some(c) = self.child.take() {
            crate::demo_signals::stopped(c.id());
        }
        let stderr =
            std::fs::read_to_string(self.config.with_extension("stderr")).unwrap_or_default();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        Some(format!("{status}: {stderr}{log}"))
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            crate::demo_signals::stopped(c.id());
        }
    }

    /// New complete lines of the log since the last call.
    fn new_lines(&mut self) -> Vec<String> {
        let Ok(mut f) = std::fs::File::open(&self.log) else {
            return vec![];
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return vec![];
        }
        let mut text = String::new();
        let _ = f.read_to_string(&mut text);
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        self.offset += complete as u64;
        text[..complete]
            .lines()
            .map(|l| without_timestamp(l).to_string())
            .collect()
    }
}

/// A `[[log]] file` record without the UTC timestamp in front (the narration has its own).
fn without_timestamp(line: &str) -> &str {
    let stamped = line.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && line.get(10..11) == Some("T")
        && line.get(26..28) == Some("Z ");
    if stamped {
        &line[28..]
    } else {
        line
    }
}

struct Demo {
    sim: Sim,
    daemons: BTreeMap<String, Daemon>,
    seen: usize,
    dir: PathBuf,
}

impl Drop for Demo {
    fn drop(&mut self) {
        for d in self.daemons.values_mut() {
            d.stop();
        }
    }
}

impl Demo {
    /// Prints what the daemons logged during `for_ms`.
    fn follow(&mut self, for_ms: u64) {
        let end = Instant::now() + Duration::from_millis(for_ms);
        loop {
            for (name, d) in self.daemons.iter_mut() {
                for l in d.new_lines() {
                    self.seen += 1;
                    if let Some(short) = headline(&l) {
                        out(&format!("  [{name}] {short}"));
                    }
                }
            }
            if Instant::now() >= end {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn say(&self, text: &str) {
        out(&format!("\n=== {text}"));
    }

    fn ctl(&mut self, args: &[&str]) {
        out(&format!("$ drbd-sim ctl {}", args.join(" ")));
        let r = self.sim.ctl(args);
        for l in r.stdout.lines().chain(r.stderr.lines()) {
            out(l);
        }
    }

    fn status(&mut self) {
        let r = self.sim.ctl(&["status"]);
        for l in r.stdout.lines() {
            out(&format!("    {l}"));
        }
        let on = self.service_nodes();
        out(&format!(
            "    service runs on: {}",
            if on.is_empty() {
                "no node".to_string()
            } else {
                on.join(", ")
            }
        ));
    }

    /// The nodes whose service marker exists.
    fn service_nodes(&self) -> Vec<String> {
        self.daemons
            .keys()
            .filter(|n| service_file(&self.dir.join(n)).exists())
            .cloned()
            .collect()
    }

    /// Follows the logs until the service runs on exactly one node other than `not`.
    fn wait_service(&mut self, not: Option<&str>) -> Option<String> {
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            let on = self.service_nodes();
            if on.len() == 1 && Some(on[0].as_str()) != not {
                self.follow(300);
                return Some(on[0].clone());
            }
            self.follow(100);
        }
        println!("!!! timed out waiting for the service to run on one node");
        None
    }

    fn wait(&mut self, what: &str, cond: impl Fn(&Cluster) -> bool) -> bool {
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            if self.sim.with(|c| cond(c)) {
                return true;
            }
            self.follow(200);
        }
        println!("!!! timed out waiting for {what}");
        false
    }
}

/// Prints a line; a closed stdout (e.g. `| head`) is not an error.
fn out(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// The part of a daemon log line worth narrating: headlines and the `new:` values, not
/// the resource snapshots.
fn headline(line: &str) -> Option<String> {
    let trimmed = line.trim_start();
    let indented = trimmed.len() != line.len();
    if indented && !trimmed.starts_with("new:") {
        return None;
    }
    let text = trimmed
        .replace("DEBUG [drbd_reactor::plugin::debugger] ", "")
        .replace("[drbd_reactor::plugin::debugger] ", "");
    let text = if indented {
        format!("    {text}")
    } else {
        text
    };
    Some(text.chars().take(160).collect())
}

/// Runs the demo; returns the exit code.
pub fn run(interactive: bool, dir: Option<PathBuf>) -> i32 {
    let binary = match reactor_binary() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("drbd-sim demo: {e}");
            return 1;
        }
    };
    // Without --dir the working files live in a temporary directory removed at the end.
    let owned = dir.is_none();
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("drbd-sim-demo-{}", std::process::id()))
    });
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("drbd-sim demo: {}: {e}", dir.display());
        return 1;
    }
    // before the simulator's threads: they must inherit the blocked SIGTERM/SIGINT
    crate::demo_signals::install(owned.then(|| dir.clone()));
    let socket = dir.join("sim.sock");
    let cfg = ClusterConfig::parse(CLUSTER).expect("demo cluster");
    let sim = match Sim::start(Cluster::new(cfg.clone()), &socket, Some(100), 1) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("drbd-sim demo: {}: {e}", socket.display());
            return 1;
        }
    };
    let me = std::env::current_exe().expect("current exe");
    let mut demo = Demo {
        sim,
        daemons: BTreeMap::new(),
        seen: 0,
        dir: dir.clone(),
    };
    println!(
        "drbd-sim demo: 3 nodes (alpha, beta, gamma), resource r0, daemon {}",
        binary.display()
    );
    println!("  working directory {}", dir.display());
    for n in &cfg.nodes {
        let nd = dir.join(&n.name);
        let bin = nd.join("bin");
        if let Err(e) = install_shims(&me, &bin, &n.name, &socket) {
            eprintln!("drbd-sim demo: {e}");
            return 1;
        }
        let log = nd.join("reactor.log");
        let _ = std::fs::remove_file(&log);
        let _ = std::fs::remove_file(service_file(&nd));
        let config = nd.join("drbd-reactor.toml");
        let text = reactor_config(&log, true);
        if let Err(e) = std::fs::write(&config, text) {
            eprintln!("drbd-sim demo: {e}");
            return 1;
        }
        let path_env = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let d = Daemon {
            child: None,
            log,
            offset: 0,
            config,
            path_env,
            binary: binary.clone(),
        };
        demo.daemons.insert(n.name.clone(), d);
    }
    demo.say("alpha's daemon starts first: its promoter may promote r0, so it starts the service");
    if let Err(e) = demo.daemons.get_mut("alpha").map_or(Ok(()), Daemon::start) {
        eprintln!("drbd-sim demo: cannot start {}: {e}", binary.display());
        return 1;
    }
    demo.follow(1500);
    demo.say("beta and gamma start: r0 is Primary on alpha, so their promoters stay put");
    for name in ["beta", "gamma"] {
        if let Err(e) = demo.daemons.get_mut(name).map_or(Ok(()), Daemon::start) {
            eprintln!("drbd-sim demo: cannot start {}: {e}", binary.display());
            return 1;
        }
    }
    demo.follow(1000);
    // A daemon without the umh plugin refuses the config: run it with the debugger only.
    for (name, d) in demo.daemons.iter_mut() {
        if let Some(why) = d.exited() {
            let first = why.lines().next().unwrap_or_default().to_string();
            out(&format!(
                "  [{name}] the daemon stopped ({first}); restarting it with the debugger only"
            ));
            let _ = std::fs::write(&d.config, reactor_config(&d.log, false));
            d.offset = 0;
            let _ = std::fs::remove_file(&d.log);
            if let Err(e) = d.start() {
                eprintln!("drbd-sim demo: {e}");
                return 1;
            }
        }
    }
    let first = demo.wait_service(None);
    demo.status();

    demo.say("alpha crashes (its daemon and its service die with it): beta and gamma keep quorum (2 of 3), may promote, and one of them takes the service over");
    demo.daemons.get_mut("alpha").unwrap().stop();
    demo.ctl(&["crash", "alpha"]);
    let _ = std::fs::remove_file(service_file(&dir.join("alpha")));
    let moved = demo.wait_service(Some("alpha"));
    demo.status();
    let active = moved.clone().unwrap_or_else(|| "beta".into());
    let other = if active == "beta" { "gamma" } else { "beta" };

    demo.say(&format!(
        "the service on {active} writes 200 MiB that alpha misses"
    ));
    demo.ctl(&["write", &active, "r0", "204800"]);
    demo.follow(800);

    demo.say(&format!("{other}'s network fails: {active} is alone and loses quorum (I/O suspended); its promoter stops the service and demotes (on-quorum-loss shutdown)"));
    demo.ctl(&["partition", other]);
    demo.follow(1200);
    demo.status();

    demo.say("the network heals: quorum returns, r0 may be promoted again and the service starts on one node");
    demo.ctl(&["heal"]);
    let back = demo.wait_service(Some("alpha"));
    demo.status();

    demo.say("alpha reboots and rejoins: it is behind and resyncs; its promoter sees the Primary and stays put");
    demo.ctl(&["restart", "alpha"]);
    if let Some(d) = demo.daemons.get_mut("alpha") {
        d.offset = 0;
        let _ = std::fs::remove_file(&d.log);
        if let Err(e) = d.start() {
            eprintln!("drbd-sim demo: {e}");
        }
    }
    demo.follow(1000);
    demo.status();
    let synced = demo.wait("alpha to be UpToDate", |c| {
        !c.resyncing()
            && c.view("alpha")
                .get("r0")
                .is_some_and(|r| r.devices[&0].disk == Some(drbd::vocab::DiskState::UpToDate))
    });
    demo.follow(800);
    demo.say("resync done");
    demo.status();

    if interactive {
        println!(
            "\nInteractive: inject faults from another terminal with\n  drbd-sim ctl --socket {} help\nPress Enter (or end stdin) to stop.",
            socket.display()
        );
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut l = String::new();
            let _ = std::io::stdin().lock().read_line(&mut l);
            let _ = tx.send(());
        });
        while rx.try_recv().is_err() {
            demo.follow(300);
        }
    }
    let seen = demo.seen;
    drop(demo);
    let _ = std::fs::remove_file(&socket);
    if owned {
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!("\ndemo finished: the daemons logged {seen} lines");
    if !synced || first.as_deref() != Some("alpha") || moved.is_none() || back.is_none() {
        return 1;
    }
    if seen == 0 {
        eprintln!("drbd-sim demo: the daemons logged nothing");
        return 1;
    }
    0
}
