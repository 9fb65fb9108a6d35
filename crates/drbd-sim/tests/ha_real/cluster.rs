//! A 3-node simulated cluster with one real drbd-reactor per node and two shell-runner
//! `[[promoter]]` resources (r0: `on-quorum-loss = shutdown`, r1: `freeze`), plus a
//! `[[prometheus]]` endpoint per daemon. A resource's "service" on a node is the marker file
//! `<node>/service-<res>`, made and removed by the node's service script, which reads the
//! node's fault file for that resource (slow or failing start and stop). This is the
//! mechanism of the real-mode campaign: how to start, kill, crash and reload, and how to
//! look; the schedule runner (run.rs) decides when.
//!
//! Must never: sleep to wait for a condition (poll with a deadline), or decide what
//! "serving" means anywhere but [`NodeRes::serving`].

use crate::common::{free_port, reactor, Killed};
use crate::procs;
use crate::schedule::{Service, NODES, RESOURCES};
use drbd_sim::config::ClusterConfig;
use drbd_sim::server::{install_shims, Sim};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a daemon may take to exit after SIGTERM.
pub const EXIT_DEADLINE: Duration = Duration::from_secs(20);

/// What one sample saw of one resource on one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeRes {
    /// The node is powered on.
    pub up: bool,
    /// Its daemon runs.
    pub daemon: bool,
    /// The service's marker exists.
    pub marker: bool,
    pub primary: bool,
    /// Volume 0 has quorum (without it DRBD suspends I/O: the node cannot write).
    pub quorum: bool,
    /// The service ran while no daemon ran on the node, and no daemon has owned it since
    /// (owned: a live daemon on a Primary, which completes the services it finds). A daemon
    /// started later on a Secondary finds the shell runner's record and stops it (P36); the
    /// operator of the repair stops it only if that did not happen.
    pub left_over: bool,
}

impl NodeRes {
    /// Runs the service and can write: powered on, marker present, Primary with quorum.
    pub fn serving(&self) -> bool {
        self.up && self.marker && self.primary && self.quorum
    }
}

/// `[node][resource]`.
pub type Sample = [[NodeRes; 2]; 3];

struct Daemon {
    child: Killed,
    /// The value of its `HA_REAL_TAG`.
    tag: String,
}

pub struct RealCluster {
    pub dir: tempfile::TempDir,
    pub sim: Sim,
    ports: [u16; 3],
    daemons: Mutex<[Option<Daemon>; 3]>,
    /// Per node and resource: the harmless key a reload flips (`fencing-promote-delay`).
    generation: Mutex<[[u64; 2]; 3]>,
    instances: Mutex<u64>,
    /// `[node][resource]`: see [`NodeRes::left_over`].
    left_over: Mutex<[[bool; 2]; 3]>,
    /// Daemons that were gone when they should have run (exited on their own).
    pub died: Mutex<Vec<String>>,
}

fn cluster_config() -> ClusterConfig {
    let mut text = String::new();
    for (i, n) in NODES.iter().enumerate() {
        text.push_str(&format!("[[node]]\nname = \"{n}\"\nid = {i}\n"));
    }
    for (i, r) in RESOURCES.iter().enumerate() {
        // r0 (shutdown) fails I/O without quorum, as the promoter advises for it; r1
        // (freeze) suspends it. Small volumes: a full resync takes well under a second.
        let on_loss = if i == 0 { "io-error" } else { "suspend-io" };
        text.push_str(&format!(
            "[[resource]]\nname = \"{r}\"\nport = {}\n[resource.options]\n\
             on-no-quorum = \"{on_loss}\"\non-no-data-accessible = \"{on_loss}\"\n\
             [[resource.volume]]\nnumber = 0\nminor = {}\nsize = 65536\n",
            7789 + i,
            1000 + i
        ));
    }
    ClusterConfig::parse(&text).unwrap()
}

impl RealCluster {
    /// The simulator and the nodes' shims, service scripts and configs; no daemon yet.
    pub fn new() -> RealCluster {
        let dir = tempfile::Builder::new()
            .prefix("ha-real-")
            .tempdir()
            .unwrap();
        let socket = dir.path().join("sim.sock");
        let sim = Sim::from_config(cluster_config(), &socket, Some(20)).unwrap();
        let c = RealCluster {
            dir,
            sim,
            ports: [free_port(), free_port(), free_port()],
            daemons: Mutex::new([None, None, None]),
            generation: Mutex::new([[5; 2]; 3]),
            instances: Mutex::new(0),
            left_over: Mutex::new([[false; 2]; 3]),
            died: Mutex::new(Vec::new()),
        };
        for (n, name) in NODES.iter().enumerate() {
            install_shims(
                std::path::Path::new(env!("CARGO_BIN_EXE_drbd-sim")),
                &c.node_dir(n),
                name,
                &socket,
            )
            .unwrap();
            c.write_service_script(n);
            c.write_config(n);
        }
        c
    }

    pub fn node_dir(&self, n: usize) -> PathBuf {
        self.dir.path().join(NODES[n])
    }
    pub fn marker(&self, n: usize, r: usize) -> PathBuf {
        self.node_dir(n).join(format!("service-{}", RESOURCES[r]))
    }
    pub fn run_dir(&self, n: usize) -> PathBuf {
        self.node_dir(n).join("run")
    }
    pub fn units_dir(&self, n: usize) -> PathBuf {
        self.node_dir(n).join("units")
    }
    /// What the node's daemons wrote to stderr (panics; the log goes to reactor.log).
    pub fn stderr(&self, n: usize) -> String {
        std::fs::read_to_string(self.node_dir(n).join("stderr.log")).unwrap_or_default()
    }
    pub fn port(&self, n: usize) -> u16 {
        self.ports[n]
    }
    /// The tag prefix of every process of this cluster, or of one node.
    pub fn tag_prefix(&self, n: Option<usize>) -> String {
        match n {
            None => format!("{}/", self.dir.path().display()),
            Some(n) => format!("{}#", self.node_dir(n).display()),
        }
    }
    /// How many times the service script was asked to start `r` on `n`.
    pub fn starts(&self, n: usize, r: usize) -> usize {
        let calls = self.node_dir(n).join(format!("calls-{}", RESOURCES[r]));
        std::fs::read_to_string(calls)
            .unwrap_or_default()
            .lines()
            .filter(|l| *l == "start")
            .count()
    }

    fn write_service_script(&self, n: usize) {
        let path = self.node_dir(n).join("svc");
        let slow = format!(
            "{}.{:03}",
            crate::schedule::SLOW_MS / 1000,
            crate::schedule::SLOW_MS % 1000
        );
        let text = format!(
            "#!/bin/sh\n\
             # svc start|stop RES: the service of RES here is the marker file service-RES;\n\
             # the fault file fault-RES makes it slow or failing.\n\
             d='{d}'\n\
             f=$(cat \"$d/fault-$2\" 2>/dev/null)\n\
             echo \"$1\" >> \"$d/calls-$2\"\n\
             case \"$1:$f\" in\n\
             start:slow-start) sleep {slow}; touch \"$d/service-$2\" ;;\n\
             start:fail-start) exit 1 ;;\n\
             start:*) touch \"$d/service-$2\" ;;\n\
             stop:slow-stop) sleep {slow}; rm -f \"$d/service-$2\" ;;\n\
             stop:fail-stop) rm -f \"$d/service-$2\"; exit 1 ;;\n\
             stop:*) rm -f \"$d/service-$2\" ;;\n\
             *) exit 2 ;;\n\
             esac\n",
            d = self.node_dir(n).display()
        );
        drbd_reactor_process::write_script(&path, &text).unwrap();
    }

    /// Writes the node's config from the current reload generations.
    fn write_config(&self, n: usize) {
        let gen = self.generation.lock().unwrap()[n];
        let svc = self.node_dir(n).join("svc");
        let mut text = format!(
            "[[log]]\nlevel = \"debug\"\nfile = \"{}\"\n\n[[prometheus]]\naddress = \"127.0.0.1:{}\"\n\n",
            self.node_dir(n).join("reactor.log").display(),
            self.ports[n]
        );
        for (r, res) in RESOURCES.iter().enumerate() {
            let on_loss = if r == 0 { "shutdown" } else { "freeze" };
            text.push_str(&format!(
                "[[promoter]]\n[promoter.resources.{res}]\nrunner = \"shell\"\n\
                 start = [\"drbdadm primary {res}\", \"{svc} start {res}\"]\n\
                 stop = [\"{svc} stop {res}\", \"drbdadm secondary {res}\"]\n\
                 adjust-resource-on-start = false\n\
                 on-quorum-loss = \"{on_loss}\"\n\
                 fencing-promote-delay = {}\n\n",
                gen[r],
                svc = svc.display()
            ));
        }
        let path = self.node_dir(n).join("reactor.toml");
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(tmp, path).unwrap();
    }

    pub fn set_service(&self, n: usize, r: usize, s: Service) {
        let path = self.node_dir(n).join(format!("fault-{}", RESOURCES[r]));
        std::fs::write(path, s.word()).unwrap();
    }

    pub fn is_up(&self, n: usize) -> bool {
        self.sim.with(|c| c.is_up(NODES[n]))
    }

    /// Whether the node's daemon runs; a daemon that exited on its own is reaped and
    /// recorded in [`RealCluster::died`].
    pub fn daemon_running(&self, n: usize) -> bool {
        let mut d = self.daemons.lock().unwrap();
        let exited = match d[n].as_mut() {
            None => return false,
            Some(daemon) => daemon.child.0.try_wait().unwrap(),
        };
        if let Some(status) = exited {
            self.died
                .lock()
                .unwrap()
                .push(format!("{}'s daemon exited on its own: {status}", NODES[n]));
            d[n] = None;
            return false;
        }
        true
    }

    /// Starts the node's daemon in its own process group, registered with the simulator
    /// (`ctl crash` kills it), unless it runs or the node is off.
    pub fn start_daemon(&self, n: usize) {
        use std::os::unix::process::CommandExt;
        if self.daemon_running(n) || !self.is_up(n) {
            return;
        }
        let instance = {
            let mut i = self.instances.lock().unwrap();
            *i += 1;
            *i
        };
        let tag = format!("{}#{instance}", self.node_dir(n).display());
        let shims = self.node_dir(n);
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(shims.join("stderr.log"))
            .unwrap();
        let child = Command::new(reactor())
            .args(["--allow-tty", "-c"])
            .arg(shims.join("reactor.toml"))
            .env(
                "PATH",
                format!("{}:{}", shims.display(), std::env::var("PATH").unwrap()),
            )
            .env_remove("DRBD_SIM_NODE")
            .env_remove("DRBD_SIM_SOCKET")
            .env("DRBD_REACTOR_RUN_DIR", self.run_dir(n))
            .env("DRBD_REACTOR_UNIT_DIR", self.units_dir(n))
            .env(procs::TAG, &tag)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .unwrap();
        self.sim.register(NODES[n], child.id());
        self.daemons.lock().unwrap()[n] = Some(Daemon {
            child: Killed(child),
            tag,
        });
    }

    /// SIGKILL to the daemon's process group (not to the commands it runs in groups of
    /// their own); returns the dead instance's tag.
    pub fn kill_daemon(&self, n: usize) -> Option<String> {
        if !self.daemon_running(n) {
            return None;
        }
        let mut d = self.daemons.lock().unwrap()[n].take()?;
        let pid = d.child.0.id() as i32;
        // SAFETY: killpg(2) of the group our child leads (process_group(0)).
        unsafe { libc::killpg(pid, libc::SIGKILL) };
        let _ = d.child.0.wait();
        Some(d.tag)
    }

    /// SIGTERM to the daemon and waits for it; returns its tag and how it ended (`None`:
    /// it ignored SIGTERM past [`EXIT_DEADLINE`] and was killed).
    pub fn stop_daemon(&self, n: usize) -> Option<(String, Option<std::process::ExitStatus>)> {
        if !self.daemon_running(n) {
            return None;
        }
        let mut d = self.daemons.lock().unwrap()[n].take()?;
        let pid = d.child.0.id() as i32;
        // SAFETY: kill(2) of our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + EXIT_DEADLINE;
        loop {
            if let Some(status) = d.child.0.try_wait().unwrap() {
                return Some((d.tag, Some(status)));
            }
            if Instant::now() > deadline {
                return Some((d.tag, None));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Power loss: the kernel state, the daemon, every process it started (whatever its
    /// group) and "/run" (markers, run directory) are gone.
    pub fn crash(&self, n: usize) {
        // Out of the table first: the sampler must not take its death for an exit.
        let daemon = self.daemons.lock().unwrap()[n].take();
        let _ = self.sim.ctl(&["crash", NODES[n]]);
        procs::kill_all(&self.tag_prefix(Some(n)));
        if let Some(mut d) = daemon {
            let _ = d.child.0.wait();
        }
        for r in 0..RESOURCES.len() {
            let _ = std::fs::remove_file(self.marker(n, r));
        }
        let _ = std::fs::remove_dir_all(self.run_dir(n));
    }

    /// Power on (if off) and start the daemon.
    pub fn restart(&self, n: usize) {
        if !self.is_up(n) {
            let _ = self.sim.ctl(&["restart", NODES[n]]);
        }
        self.start_daemon(n);
    }

    /// Flips a harmless key of `r`'s section (so its instance is rebuilt) and sends SIGHUP.
    pub fn reload(&self, n: usize, r: usize) {
        {
            let mut g = self.generation.lock().unwrap();
            g[n][r] = if g[n][r] == 5 { 6 } else { 5 };
        }
        self.write_config(n);
        if !self.daemon_running(n) {
            return;
        }
        let d = self.daemons.lock().unwrap();
        if let Some(d) = d[n].as_ref() {
            // SAFETY: kill(2) of our own child.
            unsafe { libc::kill(d.child.0.id() as i32, libc::SIGHUP) };
        }
    }

    /// The daemon's pid, if it runs.
    pub fn daemon_pid(&self, n: usize) -> Option<u32> {
        self.daemons.lock().unwrap()[n]
            .as_ref()
            .map(|d| d.child.0.id())
    }

    /// `drbd-sim ctl ARGS`; the exit code (faults on a node that is off fail, as they
    /// would).
    pub fn ctl(&self, args: &[&str]) -> i32 {
        self.sim.ctl(args).code
    }

    /// `drbdadm ARGS` as the node runs it (its shim).
    pub fn drbdadm(&self, n: usize, args: &[&str]) -> i32 {
        Command::new(self.node_dir(n).join("drbdadm"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.code().unwrap_or(-1))
            .unwrap_or(-1)
    }

    /// Runs the node's service script (`start` or `stop` of `r`) as an operator would.
    pub fn service(&self, n: usize, r: usize, verb: &str) {
        let _ = Command::new(self.node_dir(n).join("svc"))
            .args([verb, RESOURCES[r]])
            .stdin(Stdio::null())
            .status();
    }

    /// One consistent sample: the markers are read while the simulator is locked, so no
    /// DRBD state changes meanwhile (a start makes its marker only after its promotion, a
    /// stop removes it before its demotion).
    pub fn sample(&self) -> Sample {
        let daemons: [bool; 3] = {
            let d = self.daemons.lock().unwrap();
            [d[0].is_some(), d[1].is_some(), d[2].is_some()]
        };
        let mut left_over = self.left_over.lock().unwrap();
        self.sim.with(|c| {
            let mut s = Sample::default();
            for (n, node) in NODES.iter().enumerate() {
                let up = c.is_up(node);
                let view = if up { c.view(node) } else { Default::default() };
                for (r, res) in RESOURCES.iter().enumerate() {
                    let v = view.get(*res);
                    s[n][r] = NodeRes {
                        up,
                        daemon: daemons[n],
                        marker: self.marker(n, r).exists(),
                        primary: v
                            .is_some_and(|v| v.resource.role == Some(drbd::vocab::Role::Primary)),
                        quorum: v.is_some_and(|v| {
                            v.devices.get(&0).and_then(|d| d.quorum) == Some(true)
                        }),
                        left_over: false,
                    };
                    let x = &mut s[n][r];
                    let lo = &mut left_over[n][r];
                    if !x.marker || (x.daemon && x.primary) {
                        *lo = false;
                    } else if !x.daemon {
                        *lo = true;
                    }
                    x.left_over = *lo;
                }
            }
            s
        })
    }
}

impl Drop for RealCluster {
    fn drop(&mut self) {
        // Whatever a failed run left: no process of this cluster outlives it.
        let mut d = self.daemons.lock().unwrap();
        for slot in d.iter_mut() {
            slot.take();
        }
        drop(d);
        procs::kill_all(&self.tag_prefix(None));
    }
}
