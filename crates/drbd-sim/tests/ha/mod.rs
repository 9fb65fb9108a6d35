//! A 3-node simulated cluster with one real drbd-reactor per node, each running one
//! `[[promoter]]` resource r0 with the shell runner: the "service" is a marker file in the
//! node's own run directory (`<dir>/<node>/service`, its "/run": a power loss clears it, so
//! the harness deletes it when it crashes the node). Shared by tests/promoter.rs and the
//! failover bench (examples/failover.rs).
//!
//! Must never: sleep to wait for a condition (everything polls with a deadline), or decide
//! what "runs" means anywhere but [`HaCluster::sample`].
#![allow(dead_code)]

use crate::common::{reactor, Killed};
use drbd_sim::config::ClusterConfig;
use drbd_sim::server::{install_shims, Sim};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const NODES: [&str; 3] = ["alpha", "beta", "gamma"];

/// How long any condition may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// What one sample saw on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSample {
    pub up: bool,
    /// The service's marker exists.
    pub marker: bool,
    pub primary: bool,
    /// r0's volume 0 has quorum (without it DRBD suspends I/O: the node cannot write).
    pub quorum: bool,
}

impl NodeSample {
    /// Runs the service and can write: live, marker present, and DRBD lets it write
    /// (Primary with quorum). A frozen Primary (no quorum, I/O suspended) or one the kernel
    /// forced Secondary cannot act on the data, whatever its marker says.
    pub fn serving(&self) -> bool {
        self.up && self.marker && self.primary && self.quorum
    }
    /// Live with the marker and quorum (the stricter check for `on-quorum-loss = shutdown`,
    /// where the promoter must remove the marker before the node can see quorum again).
    pub fn marked_with_quorum(&self) -> bool {
        self.up && self.marker && self.quorum
    }
}

/// Called with (node, log line, when it arrived) for each line a daemon logs on stderr.
type LineCallback = Arc<dyn Fn(&str, &str, Instant) + Send + Sync>;

pub struct HaCluster {
    pub dir: tempfile::TempDir,
    pub sim: Sim,
    /// Extra lines for `[promoter.resources.r0]`.
    extra: String,
    daemons: Mutex<BTreeMap<String, Killed>>,
    /// Pipe the daemon's stderr (log at info) to this callback per line (the bench).
    on_line: Option<LineCallback>,
}

impl HaCluster {
    /// A cluster of three nodes, r0 on each with majority quorum and `suspend-io`; no
    /// daemon runs yet.
    pub fn new(extra: &str) -> HaCluster {
        HaCluster::with_config(ClusterConfig::simple(&NODES, "r0"), extra)
    }

    /// The same with another cluster file (e.g. more resources).
    pub fn with_config(cfg: ClusterConfig, extra: &str) -> HaCluster {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("sim.sock");
        let sim = Sim::from_config(cfg, &socket, Some(20)).unwrap();
        for n in NODES {
            install_shims(
                Path::new(env!("CARGO_BIN_EXE_drbd-sim")),
                &dir.path().join(n),
                n,
                &socket,
            )
            .unwrap();
        }
        HaCluster {
            dir,
            sim,
            extra: extra.to_string(),
            daemons: Mutex::new(BTreeMap::new()),
            on_line: None,
        }
    }

    /// Every line a daemon logs (info and up) goes to `f(node, line, when)`.
    pub fn with_line_callback(
        mut self,
        f: impl Fn(&str, &str, Instant) + Send + Sync + 'static,
    ) -> HaCluster {
        self.on_line = Some(Arc::new(f));
        self
    }

    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.dir.path().join(node)
    }
    pub fn marker(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("service")
    }
    pub fn log_path(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("reactor.log")
    }
    pub fn config_path(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("reactor.toml")
    }
    pub fn run_dir(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("run")
    }
    pub fn log(&self, node: &str) -> String {
        std::fs::read_to_string(self.log_path(node)).unwrap_or_default()
    }

    /// Every node's daemon log, headed by the node's name (for failure messages).
    pub fn logs(&self) -> String {
        NODES
            .iter()
            .map(|n| format!("--- log of {n}:\n{}", self.log(n)))
            .collect()
    }

    /// The `[[promoter]]` section for r0 on `node` (shell runner, marker service).
    pub fn promoter_section(&self, node: &str) -> String {
        let m = self.marker(node);
        format!(
            "[[promoter]]\n[promoter.resources.r0]\nrunner = \"shell\"\n\
             start = [\"drbdadm primary r0\", \"touch {m}\"]\n\
             stop = [\"rm -f {m}\", \"drbdadm secondary r0\"]\n\
             adjust-resource-on-start = false\n{}\n",
            self.extra,
            m = m.display()
        )
    }

    /// Writes the node's config: a debug log file (and info to stderr for the bench) plus
    /// `sections` (the r0 promoter section by default).
    pub fn write_config(&self, node: &str, sections: Option<&str>) {
        let mut text = format!(
            "[[log]]\nlevel = \"debug\"\nfile = \"{}\"\n\n",
            self.log_path(node).display()
        );
        if self.on_line.is_some() {
            text.push_str("[[log]]\nlevel = \"info\"\n\n");
        }
        match sections {
            Some(s) => text.push_str(s),
            None => text.push_str(&self.promoter_section(node)),
        }
        std::fs::write(self.config_path(node), text).unwrap();
    }

    /// Starts the node's daemon (config written first if missing) in its own process
    /// group, registered with the simulator so `ctl crash` kills it and what it started.
    pub fn start_daemon(&self, node: &str) {
        use std::os::unix::process::CommandExt;
        if !self.config_path(node).exists() {
            self.write_config(node, None);
        }
        let shims = self.node_dir(node);
        let mut cmd = Command::new(reactor());
        cmd.args(["--allow-tty", "-c"])
            .arg(self.config_path(node))
            .env(
                "PATH",
                format!("{}:{}", shims.display(), std::env::var("PATH").unwrap()),
            )
            .env_remove("DRBD_SIM_NODE")
            .env_remove("DRBD_SIM_SOCKET")
            .env("DRBD_REACTOR_RUN_DIR", self.run_dir(node))
            .env("DRBD_REACTOR_UNIT_DIR", self.node_dir(node).join("units"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if self.on_line.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .process_group(0);
        let mut child = cmd.spawn().unwrap();
        if let (Some(f), Some(err)) = (self.on_line.clone(), child.stderr.take()) {
            let node = node.to_string();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(err).lines() {
                    let Ok(line) = line else { break };
                    f(&node, &line, Instant::now());
                }
            });
        }
        self.sim.register(node, child.id());
        self.daemons
            .lock()
            .unwrap()
            .insert(node.to_string(), Killed(child));
    }

    pub fn start_all(&self) {
        for n in NODES {
            self.start_daemon(n);
        }
    }

    /// Sends SIGHUP (reload) to the node's daemon.
    pub fn reload(&self, node: &str) {
        let pid = self.daemons.lock().unwrap()[node].0.id();
        let ok = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -HUP {pid}");
    }

    /// Stops the node's daemon with SIGTERM and waits for it to exit.
    pub fn stop_daemon(&self, node: &str) {
        let mut d = self.daemons.lock().unwrap().remove(node).expect("running");
        let pid = d.0.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + DEADLINE;
        while d.0.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "{node}'s daemon ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Powers the node off: its daemon and what it started die (registered process group),
    /// its "/run" (the marker) is gone.
    pub fn crash(&self, node: &str) {
        let r = self.sim.ctl(&["crash", node]);
        assert_eq!(r.code, 0, "crash {node}: {}", r.stderr);
        let _ = std::fs::remove_file(self.marker(node));
        let mut d = self.daemons.lock().unwrap().remove(node).expect("running");
        let deadline = Instant::now() + DEADLINE;
        while d.0.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "{node}'s daemon survived the crash"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Powers the node on (its resources come up) and starts its daemon.
    pub fn restart(&self, node: &str) {
        let r = self.sim.ctl(&["restart", node]);
        assert_eq!(r.code, 0, "restart {node}: {}", r.stderr);
        self.start_daemon(node);
    }

    pub fn ctl(&self, args: &[&str]) {
        let r = self.sim.ctl(args);
        assert_eq!(r.code, 0, "ctl {args:?}: {}", r.stderr);
    }

    /// One consistent sample: the markers are read while the simulator is locked, so no
    /// DRBD state changes meanwhile (a start touches its marker only after its promotion,
    /// a stop removes it before its demotion).
    pub fn sample(&self) -> BTreeMap<&'static str, NodeSample> {
        self.sim.with(|c| {
            NODES
                .iter()
                .map(|&n| {
                    let up = c.is_up(n);
                    let r = if up { c.view(n).remove("r0") } else { None };
                    let primary = r
                        .as_ref()
                        .is_some_and(|r| r.resource.role == Some(drbd::vocab::Role::Primary));
                    let quorum = r
                        .as_ref()
                        .is_some_and(|r| r.devices.get(&0).and_then(|d| d.quorum) == Some(true));
                    let marker = self.marker(n).exists();
                    (
                        n,
                        NodeSample {
                            up,
                            marker,
                            primary,
                            quorum,
                        },
                    )
                })
                .collect()
        })
    }

    /// The live nodes that serve (see [`NodeSample::serving`]).
    pub fn serving(&self) -> Vec<&'static str> {
        self.sample()
            .into_iter()
            .filter(|(_, s)| s.serving())
            .map(|(n, _)| n)
            .collect()
    }

    /// Polls until exactly one live node serves and no other live node has a marker;
    /// returns that node.
    pub fn wait_exactly_one(&self, what: &str) -> &'static str {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let s = self.sample();
            let serving: Vec<_> = s.iter().filter(|(_, s)| s.serving()).collect();
            let marked = s.values().filter(|s| s.up && s.marker).count();
            if serving.len() == 1 && marked == 1 {
                return serving[0].0;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: never exactly one node running the service: {s:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Polls `f` until it holds.
    pub fn wait_for(&self, what: &str, mut f: impl FnMut(&HaCluster) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !f(self) {
            assert!(
                Instant::now() < deadline,
                "{what} never happened: {:?}\n{}",
                self.sample(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Polls until `node`'s log contains `text` at least `count` times.
    pub fn wait_for_log(&self, node: &str, text: &str, count: usize) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let log = self.log(node);
            if log.matches(text).count() >= count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{node} never logged {text:?} ({count}x):\n{log}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Samples the cluster every 20 ms on its own thread; `finish` returns what it saw.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<SamplerReport>,
}

#[derive(Debug, Default)]
pub struct SamplerReport {
    pub samples: usize,
    /// Samples in which two live nodes served.
    pub violations: Vec<String>,
}

impl Sampler {
    /// `strict`: also count a live node with its marker and quorum as running (see
    /// [`NodeSample::marked_with_quorum`]).
    pub fn start(cluster: Arc<HaCluster>, strict: bool) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut report = SamplerReport::default();
            while !s.load(Ordering::SeqCst) {
                let sample = cluster.sample();
                let running = sample
                    .values()
                    .filter(|n| {
                        if strict {
                            n.marked_with_quorum()
                        } else {
                            n.serving()
                        }
                    })
                    .count();
                report.samples += 1;
                if running > 1 {
                    report.violations.push(format!("{sample:?}"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            report
        });
        Sampler { stop, handle }
    }

    pub fn finish(self) -> SamplerReport {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap()
    }
}
