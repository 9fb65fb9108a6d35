//! Running what the policy decided (spec §6.9): the systemd runner with the exact `systemctl`
//! command lines, the shell runner, and the construction commands, all through a
//! [`CommandRunner`] so tests record the command lines.
//!
//! Must never: block a thread (everything is async), or run a command without a timeout.

pub mod command;
pub mod timeouts;

pub use command::{BoxFuture, CommandLine, CommandOutput, CommandRunner, Exit, ProcessRunner};
pub use timeouts::Timeouts;

use crate::config::{ResourceConfig, Runner};
use crate::dropins::DropIn;
use crate::policy::{Action, Outcome};
use crate::write::{self, UnitDir};
use crate::{detect, dropins, units};
use log::{info, warn};
use std::collections::BTreeSet;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

/// Performs actions for one resource.
#[derive(Clone)]
pub struct Executor {
    pub runner: Arc<dyn CommandRunner>,
    pub unit_dir: UnitDir,
    pub timeouts: Timeouts,
    /// Checked for unified cgroups (freeze needs them).
    pub cgroup_controllers: PathBuf,
    /// A `daemon-reload` after changed drop-ins failed: systemd may still have the old ones,
    /// though the files on disk are current, so the next write reloads even if it changes
    /// nothing (shared by every resource: one reload serves all).
    reload_owed: Arc<AtomicBool>,
}

impl Executor {
    pub fn new(runner: Arc<dyn CommandRunner>, unit_dir: UnitDir) -> Executor {
        Executor {
            runner,
            unit_dir,
            timeouts: Timeouts::default(),
            cgroup_controllers: PathBuf::from("/sys/fs/cgroup/cgroup.controllers"),
            reload_owed: Arc::default(),
        }
    }

    async fn cmd(
        &self,
        program: &str,
        args: &[&str],
        timeout: std::time::Duration,
    ) -> CommandOutput {
        self.runner
            .run(CommandLine::new(program, args, timeout))
            .await
    }

    async fn systemctl(&self, args: &[&str], timeout: std::time::Duration) -> CommandOutput {
        self.cmd("systemctl", args, timeout).await
    }

    async fn daemon_reload(&self) -> Result<(), String> {
        info!("systemd_daemon_reload: reloading daemon");
        let out = self
            .systemctl(&["daemon-reload"], self.timeouts.quick)
            .await;
        if out.ok() {
            self.reload_owed.store(false, SeqCst);
            Ok(())
        } else {
            self.reload_owed.store(true, SeqCst);
            Err(out.error())
        }
    }

    /// Runs one action; returns the outcome the machine waits for, if any.
    pub async fn perform(
        &self,
        res: &str,
        cfg: &ResourceConfig,
        action: Action,
    ) -> Option<Outcome> {
        let q = self.timeouts.quick;
        match action {
            Action::Log(_) => None,
            Action::WriteUnits => Some(Outcome::UnitsWritten(self.write_units(res, cfg).await)),
            Action::ListBackingDevices => {
                let out = self.cmd("drbdadm", &["sh-ll-dev", res], q).await;
                Some(Outcome::BackingDevices(if out.ok() {
                    Ok(out
                        .stdout
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from)
                        .collect())
                } else {
                    Err(format!("drbdadm sh-ll-dev {res}: {}", out.error()))
                }))
            }
            Action::CheckDevices(devices) => Some(Outcome::DevicesReady(
                devices.iter().all(|d| is_block_device(Path::new(d))),
            )),
            Action::Adjust => {
                let out = self
                    .cmd("drbdadm", &["adjust", res], self.timeouts.adjust)
                    .await;
                Some(Outcome::Adjusted(if out.ok() {
                    Ok(())
                } else {
                    Err(format!("drbdadm adjust {res}: {}", out.error()))
                }))
            }
            Action::DetectPolicy => {
                let out = self
                    .cmd("drbdsetup", &["show", "--show-defaults", "--json", res], q)
                    .await;
                if !out.ok() {
                    return Some(Outcome::Policy(Err(format!(
                        "drbdsetup show: {}",
                        out.error()
                    ))));
                }
                Some(Outcome::Policy(detect::parse_show(&out.stdout, res).map(
                    |(policy, shown)| {
                        let unified = self.cgroup_controllers.exists();
                        for w in detect::option_warnings(res, cfg, policy, &shown, unified) {
                            warn!("{w}");
                        }
                        policy
                    },
                )))
            }
            Action::Start { id } => Some(Outcome::Started {
                id,
                result: self.start(res, cfg).await,
            }),
            Action::Stop { id } => Some(Outcome::Stopped {
                id,
                result: self.stop(res, cfg).await,
            }),
            Action::Freeze(units) => {
                self.freeze_thaw(res, cfg, "freeze", &units).await;
                None
            }
            Action::Thaw(units) => {
                self.freeze_thaw(res, cfg, "thaw", &units).await;
                None
            }
            Action::Probe if cfg.runner == Runner::Shell => Some(Outcome::Probed(Ok(self
                .unit_dir
                .shell_started(res)
                .exists()))),
            Action::Probe => {
                let out = self
                    .systemctl(&["show", "--property=ActiveState", &units::target(res)], q)
                    .await;
                // A failed query says nothing: taken for "inactive", it marked running
                // services stopped, and nothing probed them again.
                Some(Outcome::Probed(if out.ok() {
                    Ok(active_state(&out.stdout) == Some("active"))
                } else {
                    Err(format!(
                        "systemctl show {}: {}",
                        units::target(res),
                        out.error()
                    ))
                }))
            }
            Action::RemoveBefore => {
                match self.unit_dir.remove_before(res) {
                    Ok(true) => {
                        if let Err(e) = self.daemon_reload().await {
                            warn!("Stopping '{res}' failed: daemon-reload: {e}");
                        }
                    }
                    Ok(false) => {}
                    Err(e) => warn!("Stopping '{res}' failed: {e}"),
                }
                None
            }
        }
    }

    /// systemd's view of the target, the promote unit and the start units.
    pub async fn unit_states(
        &self,
        res: &str,
        start_units: &[String],
    ) -> Vec<crate::status::UnitState> {
        let mut args: Vec<String> = [
            "show",
            "--property=Id",
            "--property=ActiveState",
            "--property=FreezerState",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(units::target(res));
        args.push(units::promote(res));
        args.extend(start_units.iter().cloned());
        let mut cmd = CommandLine::new("systemctl", &[], self.timeouts.quick);
        cmd.args = args;
        let out = self.runner.run(cmd).await;
        if out.ok() {
            crate::status::parse_unit_states(&out.stdout)
        } else {
            Vec::new()
        }
    }

    async fn write_units(&self, res: &str, cfg: &ResourceConfig) -> Result<(), String> {
        let files = dropins::render_with_shim(res, cfg, write::installed_shim())
            .map_err(|e| format!("generate_systemd_templates: {}", e.message))?;
        for f in &files {
            info!(
                "systemd_write_unit: creating {:?}",
                self.unit_dir.root.join(&f.path)
            );
        }
        let keep = self.running_dropped_units(res, &files).await;
        let report = self
            .unit_dir
            .sync_keeping(res, &files, &keep)
            .map_err(|e| e.to_string())?;
        if report.changed() || self.reload_owed.load(SeqCst) {
            self.daemon_reload()
                .await
                .map_err(|e| format!("systemctl daemon-reload: {e}"))?;
        }
        Ok(())
    }

    /// The stale drop-ins of units dropped from the start list that still run: without
    /// theirs (`PartOf` the target, `BindsTo` the promote unit) a stop of the target would
    /// leave them running on a node about to demote. A later write, once they are down,
    /// deletes them. The resource's own units (target, promote, escalation) are not kept: a
    /// drop-in the operator configured away (`on-drbd-demote-failure = "none"`) must go.
    async fn running_dropped_units(&self, res: &str, files: &[DropIn]) -> BTreeSet<PathBuf> {
        let own = [
            units::target(res),
            units::promote(res),
            units::escalate(res),
        ];
        let mut keep = BTreeSet::new();
        for path in self.unit_dir.stale(res, files) {
            let Some(unit) = path
                .parent()
                .and_then(|d| d.to_str())
                .and_then(|d| d.strip_suffix(".d"))
            else {
                continue;
            };
            if own.iter().any(|o| o == unit) {
                continue;
            }
            let out = self
                .systemctl(
                    &["show", "--property=ActiveState", unit],
                    self.timeouts.quick,
                )
                .await;
            match active_state(&out.stdout) {
                Some(state) if out.ok() && state != "inactive" && state != "failed" => {
                    info!("systemd_write_unit: keeping {:?}: '{unit}' is no longer in the start list of '{res}' but is {state}; it goes with a later write once the unit is down", self.unit_dir.root.join(&path));
                    keep.insert(path);
                }
                _ => {}
            }
        }
        keep
    }

    async fn start(&self, res: &str, cfg: &ResourceConfig) -> Result<(), String> {
        match cfg.runner {
            Runner::Systemd => {
                let target = units::target(res);
                let q = self.timeouts.quick;
                // Result ignored: a target that was never loaded is "not loaded" (errata B).
                self.systemctl(&["reset-failed", &target], q).await;
                info!("systemd_start: systemctl start {target}");
                let out = self
                    .systemctl(&["start", &target], self.timeouts.start)
                    .await;
                if !out.ok() {
                    return Err(out.error());
                }
                let out = self
                    .systemctl(&["show", "--property=ActiveState", &target], q)
                    .await;
                match active_state(&out.stdout) {
                    Some("active") if out.ok() => Ok(()),
                    _ => Err(format!("systemd_start: unit '{target}' is not active")),
                }
            }
            Runner::Shell => {
                // Recorded before the first command: a start cut short leaves services to stop.
                let record = self.unit_dir.shell_started(res);
                if let Err(e) = write::mark_run_file(&record, "started\n") {
                    warn!(
                        "recording the start of '{res}' in {} failed: {e}",
                        record.display()
                    );
                }
                self.shell_list(&cfg.start).await
            }
        }
    }

    async fn stop(&self, res: &str, cfg: &ResourceConfig) -> Result<(), String> {
        info!("stop_actions (could trigger 'on-drbd-demote-failure' actions if configured): {res}");
        match cfg.runner {
            Runner::Systemd => {
                let target = units::target(res);
                // Persist the journal first: the stop may escalate to a reboot.
                self.cmd("journalctl", &["--flush", "--sync"], self.timeouts.quick)
                    .await;
                info!("stop_actions: stopping '{target}'");
                info!("systemd_stop: systemctl stop {target}");
                let out = self.systemctl(&["stop", &target], self.timeouts.stop).await;
                if out.ok() {
                    Ok(())
                } else {
                    Err(out.error())
                }
            }
            Runner::Shell => {
                self.shell_list(&cfg.effective_stop()).await?;
                let record = self.unit_dir.shell_started(res);
                match std::fs::remove_file(&record) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        warn!("removing {} failed: {e}", record.display())
                    }
                    _ => {}
                }
                Ok(())
            }
        }
    }

    async fn shell_list(&self, entries: &[String]) -> Result<(), String> {
        for e in entries {
            info!("system: sh -c {e}");
            let mut cmd = CommandLine::new("sh", &["-c", e], self.timeouts.shell);
            cmd.stdin_null = false;
            let out = self.runner.run(cmd).await;
            if !out.ok() {
                return Err(out.error());
            }
        }
        Ok(())
    }

    async fn freeze_thaw(&self, res: &str, cfg: &ResourceConfig, verb: &str, units: &[String]) {
        if cfg.runner == Runner::Shell {
            return;
        }
        // The original's text, whichever the verb (errata B); the next line names it.
        info!(
            "freeze_actions: freezing/thawing services in target '{}'",
            units::target(res)
        );
        if units.is_empty() {
            let what = if verb == "freeze" {
                "Freezing"
            } else {
                "Thawing"
            };
            warn!("{what} '{res}' failed: services list empty");
            return;
        }
        info!("systemd_freeze_thaw: systemctl {verb} {}", units.join(" "));
        for u in units {
            let out = self.systemctl(&[verb, u], self.timeouts.quick).await;
            if !out.ok() {
                warn!(
                    "systemd_freeze_thaw: 'systemctl {verb} {u}' failed ('{}'), this might be fine if there is no process in that unit",
                    out.error()
                );
            }
        }
    }
}

/// `ActiveState=<v>` from `systemctl show --property=ActiveState`.
pub fn active_state(stdout: &str) -> Option<&str> {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("ActiveState="))
}

fn is_block_device(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.file_type().is_block_device())
        .unwrap_or(false)
}
