//! A simulated DRBD cluster whose nodes are real-systemd containers: one `drbd-sim` server in
//! this test process (its socket directory bind-mounted into every container), and per node a
//! container named `prom-<test>-<node>` whose hostname is the node name, with drbd-utils' units
//! (from the host's root), the simulator's shims at `/usr/sbin/drbdsetup` and
//! `/usr/sbin/drbdadm` (with `drbd-sim.toml` beside them), drbd-reactor, drbd-reactorctl and
//! ocf-rs-wrapper at their packaged paths, `ocf.rs@.service`, `drbd-reactor.service`, a few
//! dummy services and the test's snippets. Queries answer what each node's systemd says.
//!
//! Must never: sleep for a condition (everything polls with a deadline), or outlive the test
//! (containers are killed and the socket directory removed on drop, also after a panic).

use crate::bins::bins;
use drbd_sim::config::ClusterConfig;
use drbd_sim::server::Sim;
use nspawn_harness::{poll, require_file, require_host, Container, Spec};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const REACTOR_UNIT: &str = include_str!("../../../units/drbd-reactor.service");
const OCF_UNIT: &str = include_str!("../../../units/ocf.rs@.service");
/// The simulated volumes' backing disk, in the test's directory: the promoter waits until it
/// is a block device (a node made with `mknod`; nothing reads or writes it).
const BACKING_DISK: &str = "disk0";
/// Services a start list can name; each just sleeps.
pub const DUMMY_UNITS: &[&str] = &["dummy-app.service", "dummy-r1.service", "dummy-r1b.service"];
/// ActiveStates in which a unit counts as running the service. Not `deactivating`: a unit being
/// stopped is on its way out. With `on-quorum-loss = "freeze"` the old Primary, forced
/// Secondary after the heal, stops its frozen services (systemd thaws them to deliver SIGTERM)
/// while the new Primary runs them: by design of that policy (its device gives I/O errors).
const RUNNING: &[&str] = &["active", "activating", "reloading", "refreshing"];

/// The cluster file for `drbd-sim`: nodes alpha, beta, gamma; each resource on all three with
/// majority quorum, `on_no_quorum` (`io-error` for `on-quorum-loss = "shutdown"`,
/// `suspend-io` for `freeze`) for both quorum and data loss, one volume on `disk`.
pub fn cluster_toml(resources: &[&str], on_no_quorum: &str, disk: &Path) -> String {
    let mut s = String::new();
    for (id, n) in ["alpha", "beta", "gamma"].iter().enumerate() {
        s.push_str(&format!("[[node]]\nname = \"{n}\"\nid = {id}\n"));
    }
    for (i, r) in resources.iter().enumerate() {
        s.push_str(&format!(
            "[[resource]]\nname = \"{r}\"\nport = {}\n[resource.options]\nquorum = \"majority\"\n\
             on-no-quorum = \"{on_no_quorum}\"\non-no-data-accessible = \"{on_no_quorum}\"\n\
             [[resource.volume]]\nnumber = 0\nminor = {}\ndisk = \"{}\"\n",
            7789 + i,
            1000 + i,
            disk.display()
        ));
    }
    s
}

/// What goes into a node's `/etc/drbd-reactor.d/` before it boots: `(file name, contents)`.
pub type NodeSetup<'a> = &'a [(&'a str, &'a str)];

/// The simulator and the containers of the nodes booted so far.
pub struct Cluster {
    test: String,
    dir: PathBuf,
    sim: Sim,
    nodes: BTreeMap<String, Container>,
}

impl Cluster {
    /// Starts the simulator for a cluster of alpha, beta and gamma with `resources`
    /// ([`cluster_toml`]); `test` names the containers (`prom-<test>-<node>`) and must be unique
    /// among the tests of the workspace.
    pub fn new(test: &str, resources: &[&str]) -> Cluster {
        Cluster::with_on_no_quorum(test, resources, "io-error")
    }

    /// [`Cluster::new`] with DRBD's `on-no-quorum` (and `on-no-data-accessible`) set.
    pub fn with_on_no_quorum(test: &str, resources: &[&str], on_no_quorum: &str) -> Cluster {
        require_host();
        require_file(
            "/usr/lib/systemd/system/drbd-promote@.service",
            "drbd-utils",
        );
        require_file("/usr/lib/ocf/resource.d/heartbeat/Dummy", "resource-agents");
        let bins = bins();
        let dir = Path::new("/dev/shm").join(format!("prom-{test}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("socket directory");
        let disk = dir.join(BACKING_DISK);
        let made = Command::new("mknod")
            .arg(&disk)
            .args(["b", "7", "0"])
            .status()
            .expect("running mknod");
        assert!(made.success(), "mknod {} b 7 0 failed", disk.display());
        let config = ClusterConfig::parse(&cluster_toml(resources, on_no_quorum, &disk))
            .expect("cluster file");
        let sim = Sim::from_config(config, &dir.join("sim.sock"), Some(50))
            .unwrap_or_else(|e| panic!("starting the simulator in {}: {e}", dir.display()));
        assert!(bins.dir.is_dir());
        Cluster {
            test: test.to_string(),
            dir,
            sim,
            nodes: BTreeMap::new(),
        }
    }

    /// Boots `node`'s container with `snippets` in `/etc/drbd-reactor.d/` (the daemon is
    /// installed, not started: see [`Cluster::start_daemon`]).
    pub fn boot(&mut self, node: &str, snippets: NodeSetup) -> &Container {
        let bin = &bins().dir;
        let at = |name: &str| bin.join(name).display().to_string();
        let shim_config = format!(
            "node = \"{node}\"\nsocket = \"{}\"\n",
            self.dir.join("sim.sock").display()
        );
        let mut spec = Spec::new(&format!("prom-{}-{node}", self.test))
            .hostname(node)
            .symlink(&at("drbd-sim"), "/usr/sbin/drbdsetup")
            .symlink(&at("drbd-sim"), "/usr/sbin/drbdadm")
            .file("/usr/sbin/drbd-sim.toml", shim_config, 0o644)
            .symlink(&at("drbd-reactor"), "/usr/sbin/drbd-reactor")
            .symlink(&at("drbd-reactorctl"), "/usr/sbin/drbd-reactorctl")
            .symlink(
                &at("ocf-rs-wrapper"),
                "/usr/libexec/drbd-reactor/ocf-rs-wrapper",
            )
            .file(
                "/usr/lib/systemd/system/drbd-reactor.service",
                REACTOR_UNIT,
                0o644,
            )
            .file("/usr/lib/systemd/system/ocf.rs@.service", OCF_UNIT, 0o644)
            .file(
                "/etc/drbd-reactor.toml",
                "snippets = \"/etc/drbd-reactor.d\"\n[[log]]\nlevel = \"debug\"\n",
                0o644,
            )
            .bind(bin)
            .bind(&self.dir);
        for unit in DUMMY_UNITS {
            spec = spec.unit(
                unit,
                &format!("[Unit]\nDescription=test service {unit}\n[Service]\nExecStart=/bin/sleep infinity\n"),
            );
        }
        for (name, text) in snippets {
            spec = spec.file(&format!("/etc/drbd-reactor.d/{name}"), *text, 0o644);
        }
        let container = Container::boot(spec);
        self.nodes.insert(node.to_string(), container);
        self.node(node)
    }

    /// The container of `node` (panics if it is not running).
    pub fn node(&self, node: &str) -> &Container {
        self.nodes
            .get(node)
            .unwrap_or_else(|| panic!("node {node} has no running container"))
    }

    pub fn node_mut(&mut self, node: &str) -> &mut Container {
        self.nodes
            .get_mut(node)
            .unwrap_or_else(|| panic!("node {node} has no running container"))
    }

    /// The nodes with a running container.
    pub fn nodes(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// `drbd-sim ctl ARGS`; panics unless it succeeded. Returns its output.
    pub fn ctl(&self, args: &[&str]) -> String {
        let reply = self.sim.ctl(args);
        assert_eq!(
            reply.code, 0,
            "drbd-sim ctl {args:?}: {} {}",
            reply.stdout, reply.stderr
        );
        reply.stdout
    }

    /// `systemctl start --no-block drbd-reactor.service` on `node`.
    pub fn start_daemon(&self, node: &str) {
        self.node(node)
            .ok(&["systemctl", "start", "--no-block", "drbd-reactor.service"]);
    }

    /// Waits until `node`'s daemon is up (it sends READY=1 after its first configuration pass
    /// and the initial events2 dump).
    pub fn wait_daemon_active(&self, node: &str, deadline: Duration) {
        self.node(node).wait_for_property(
            "drbd-reactor.service",
            "ActiveState",
            "active",
            deadline,
        );
    }

    /// A power loss of `node`: the simulator crashes it (its peers lose the connection at
    /// once), then its container's PID 1 is killed (nothing inside runs a stop job).
    pub fn crash(&mut self, node: &str) {
        self.ctl(&["crash", node]);
        let mut c = self
            .nodes
            .remove(node)
            .unwrap_or_else(|| panic!("node {node} has no running container"));
        c.kill();
    }

    /// `unit`'s ActiveState on `node`.
    pub fn state(&self, node: &str, unit: &str) -> String {
        self.node(node).property(unit, "ActiveState")
    }

    /// The nodes on which `unit` runs: active, activating or reloading, and not frozen
    /// (a frozen service's processes are stopped by the kernel: quorum loss with `freeze`).
    pub fn running(&self, unit: &str) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, c)| {
                let p = c.show(unit, &["ActiveState", "FreezerState"]);
                let active = p.get("ActiveState").map_or("", String::as_str);
                RUNNING.contains(&active)
                    && p.get("FreezerState").map(String::as_str) != Some("frozen")
            })
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Polls until `unit` is active on exactly one node (other than `not`), checking at every
    /// sample that it never runs on two nodes. Returns that node.
    pub fn wait_one_active(
        &self,
        what: &str,
        unit: &str,
        not: Option<&str>,
        deadline: Duration,
    ) -> String {
        let mut last = Vec::new();
        let found = poll(deadline, || {
            last = self.running(unit);
            self.assert_at_most_one(what, unit, &last);
            match last.as_slice() {
                [n] if Some(n.as_str()) != not && self.state(n, unit) == "active" => {
                    Some(n.clone())
                }
                _ => None,
            }
        });
        found.unwrap_or_else(|| {
            panic!(
                "{what}: {unit} not active on exactly one node{} within {deadline:?} (running on {last:?})\n{}",
                not.map(|n| format!(" other than {n}")).unwrap_or_default(),
                self.logs()
            )
        })
    }

    /// Polls until `unit` runs nowhere, checking at every sample that it never runs on two.
    pub fn wait_none_running(&self, what: &str, unit: &str, deadline: Duration) {
        let mut last = Vec::new();
        let stopped = poll(deadline, || {
            last = self.running(unit);
            self.assert_at_most_one(what, unit, &last);
            last.is_empty().then_some(())
        });
        if stopped.is_none() {
            panic!(
                "{what}: {unit} still runs on {last:?} after {deadline:?}\n{}",
                self.logs()
            );
        }
    }

    /// Polls until `condition(nodes running unit)` holds, checking at every sample that `unit`
    /// never runs on two nodes.
    pub fn wait_checked(
        &self,
        what: &str,
        unit: &str,
        deadline: Duration,
        mut condition: impl FnMut(&[String]) -> bool,
    ) {
        let mut last = Vec::new();
        let reached = poll(deadline, || {
            last = self.running(unit);
            self.assert_at_most_one(what, unit, &last);
            condition(&last).then_some(())
        });
        if reached.is_none() {
            panic!(
                "{what}: not reached within {deadline:?} ({unit} runs on {last:?})\n{}",
                self.logs()
            );
        }
    }

    /// Samples `unit` on every node for `window`: it runs on exactly `node` all the time.
    pub fn assert_stays_on(&self, what: &str, unit: &str, node: &str, window: Duration) {
        let deviation = poll(window, || {
            let now = self.running(unit);
            (now != [node.to_string()]).then_some(now)
        });
        if let Some(now) = deviation {
            panic!(
                "{what}: {unit} should run on {node} only, runs on {now:?}\n{}",
                self.logs()
            );
        }
    }

    fn assert_at_most_one(&self, what: &str, unit: &str, running: &[String]) {
        if running.len() > 1 {
            let states: Vec<String> = running
                .iter()
                .map(|n| {
                    let p = self.node(n).show(unit, &["ActiveState", "FreezerState"]);
                    format!("{n}: {p:?}")
                })
                .collect();
            panic!(
                "{what}: {unit} runs on two live nodes at once: {states:?}\n{}",
                self.logs()
            );
        }
    }

    /// Every live node's drbd-reactor journal and the simulator's status, for panic messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (n, c) in &self.nodes {
            let journal = c.journal("drbd-reactor.service");
            let tail: Vec<&str> = journal.lines().rev().take(40).collect();
            out.push_str(&format!("---- {n}: drbd-reactor journal (last 40 lines)\n"));
            for l in tail.iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        let status = self.sim.ctl(&["status"]);
        out.push_str(&format!("---- simulator status\n{}", status.stdout));
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A power loss is enough at the end and takes milliseconds (a poweroff ~1.2 s each).
        for c in self.nodes.values_mut() {
            c.kill();
        }
        self.nodes.clear();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
