//! The `[[promoter]]` plugin type for the daemon's host: the worked example of the plugin
//! contract (ARCHITECTURE.md "The plugin contract"). Its config is checked where it is read
//! (errors located at their key), every instance runs [`crate::shell::run`] on the updates
//! (the replay included: the policy needs the current state), instances are serial (an old
//! and a new one never act on one resource at once), and after every reload the drop-ins of
//! resources no longer configured are deleted once their stack is down (a running stack keeps
//! them, so stopping its target still stops the services before the demotion). Its
//! per-resource status goes to the self-metrics and to status files for `drbd-reactorctl
//! status` ([`crate::publish`]).
//!
//! Must never: act on a resource another instance manages (refused at config time), or block
//! the host (everything slow runs in the instance's own tasks).

use crate::config::{self, KeyMessage, PromoterConfig, Runner};
use crate::exec::command::{CommandLine, CommandRunner, ProcessRunner};
use crate::exec::Executor;
use crate::shell::{self, Context, PromoterError};
use crate::status::PromoterStatus;
use crate::units;
use crate::version::Refusal;
use crate::write::UnitDir;
use drbd_reactor_config::PluginKind;
use drbd_reactor_plugin::contract::Finding;
use drbd_reactor_plugin::{Input, Plugin, PluginContext, PluginError};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const TARGET: &str = "drbd_reactor::plugin::promoter";

/// The `[[promoter]]` plugin type.
pub struct Promoter;

fn finding(k: KeyMessage) -> Finding {
    Finding::at(k.key, k.message)
}

/// Where the drop-ins go: `$DRBD_REACTOR_UNIT_DIR` (tests, containers) or systemd's runtime
/// unit directory; the manifests of what was written under `$DRBD_REACTOR_RUN_DIR/promoter`.
pub fn unit_dir() -> UnitDir {
    let mut dir = UnitDir::default();
    if let Some(root) = std::env::var_os("DRBD_REACTOR_UNIT_DIR") {
        dir.root = PathBuf::from(root);
    }
    if let Some(run) = std::env::var_os("DRBD_REACTOR_RUN_DIR") {
        dir.manifests = PathBuf::from(run).join("promoter");
    }
    dir
}

/// Whether systemd says the target or the promote unit of the resource with this escaped name
/// is up (any state but inactive and failed). No answer (no systemd) counts as not running.
async fn stack_runs(escaped: &str) -> bool {
    let quick = crate::exec::timeouts::Timeouts::default().quick;
    let target = format!("drbd-services@{escaped}.target");
    let promote = format!("drbd-promote@{escaped}.service");
    let show = CommandLine::new(
        "systemctl",
        &[
            "show",
            "-p",
            "ActiveState",
            "--value",
            "--",
            &target,
            &promote,
        ],
        quick,
    );
    let out = ProcessRunner.run(show).await;
    out.ok() && any_unit_up(&out.stdout)
}

/// `systemctl show -p ActiveState --value U1 U2...` output: one state per unit (blank lines
/// between units). True when one of them is neither inactive nor failed.
fn any_unit_up(stdout: &str) -> bool {
    stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .any(|state| state != "inactive" && state != "failed")
}

impl Plugin for Promoter {
    const KIND: PluginKind = PluginKind::Promoter;
    const INPUT: Input = Input::Updates;
    const SERIAL: bool = true;
    // The services it keeps across a resynchronisation are unmanaged until the new run starts.
    const RESYNC_AT_ONCE: bool = true;
    type Config = PromoterConfig;

    fn check(c: &PromoterConfig) -> Result<Vec<Finding>, Finding> {
        let (errors, warnings) = config::validate(c);
        if let Some(e) = errors.into_iter().next() {
            return Err(finding(e));
        }
        Ok(config::deprecation_warnings(c)
            .into_iter()
            .chain(warnings)
            .map(finding)
            .collect())
    }

    fn check_together(configs: &[&PromoterConfig]) -> Vec<(usize, Finding)> {
        config::duplicate_resources(configs)
            .into_iter()
            .map(|(i, k)| (i, finding(k)))
            .collect()
    }

    fn register_metrics(metrics: &drbd_reactor_plugin::SelfMetrics) {
        crate::publish::register_metrics(metrics);
    }

    /// The targets' `reactor.conf` of the systemd-run resources (daemon spec §9 step 2),
    /// with the content the instance writes.
    fn generated_units(c: &PromoterConfig) -> Vec<(PathBuf, String)> {
        let root = unit_dir().root;
        let shim = crate::write::installed_shim();
        let mut out = Vec::new();
        for res in systemd_run_resources(std::slice::from_ref(c)) {
            let path = PathBuf::from(format!("{}.d", units::target(&res))).join("reactor.conf");
            let Ok(files) = crate::dropins::render_with_shim(&res, &c.resources[&res], shim) else {
                continue;
            };
            if let Some(f) = files.into_iter().find(|f| f.path == path) {
                out.push((root.join(path), f.content));
            }
        }
        out
    }

    /// Stopping may stop the services (`stop-services-on-exit`) and demote; the resources
    /// exit side by side, so the slowest one counts. A shell runner's stop list runs entry by
    /// entry, each with its own timeout: cut at the systemd figure, its last entries (the
    /// demotion, typically) would never run.
    fn stop_deadline(c: &PromoterConfig) -> Duration {
        let t = crate::exec::timeouts::Timeouts::default();
        let systemd = t.stop + 2 * t.quick;
        c.resources
            .values()
            .filter(|r| r.runner == Runner::Shell && r.stop_services_on_exit)
            .map(|r| {
                let entries = u32::try_from(r.effective_stop().len()).unwrap_or(u32::MAX);
                t.shell.saturating_mul(entries).saturating_add(2 * t.quick)
            })
            .fold(systemd, Duration::max)
    }

    async fn after_reconfigure(configs: Vec<PromoterConfig>) {
        let dir = unit_dir();
        let configured = systemd_run_resources(&configs);
        let mut removable = dir.unconfigured(configured.iter().map(String::as_str));
        // A stack still up keeps its drop-ins: they carry the ordering and the PartOf/BindsTo
        // that make `systemctl stop drbd-services@RES.target` (drbd-reactorctl disable --now,
        // an operator) stop the services before the demotion. Deleted at a later reload.
        let mut kept = Vec::new();
        for escaped in std::mem::take(&mut removable) {
            if stack_runs(&escaped).await {
                kept.push(escaped);
            } else {
                removable.push(escaped);
            }
        }
        for escaped in &kept {
            log::info!(target: TARGET, "keeping the drop-ins of '{escaped}' (no longer configured) while drbd-services@{escaped}.target or drbd-promote@{escaped}.service is active: stopping the target stops its services first; a reload after that deletes them");
        }
        let removed = tokio::task::spawn_blocking(move || dir.remove_escaped_all(&removable)).await;
        match removed {
            Ok(Ok(report)) if report.changed() => {
                for path in &report.deleted {
                    log::info!(target: TARGET, "removed {} (its resource is no longer configured with runner = \"systemd\")", path.display());
                }
                let quick = crate::exec::timeouts::Timeouts::default().quick;
                let reload = CommandLine::new("systemctl", &["daemon-reload"], quick);
                let out = ProcessRunner.run(reload).await;
                if !out.ok() {
                    log::warn!(target: TARGET, "systemctl daemon-reload after removing drop-ins: {}", out.error());
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                log::warn!(target: TARGET, "cannot remove the drop-ins of resources no longer configured: {e}")
            }
            Err(e) => {
                log::warn!(target: TARGET, "cannot remove the drop-ins of resources no longer configured: {e}")
            }
        }
    }

    async fn run(config: PromoterConfig, ctx: PluginContext) -> Result<(), PluginError> {
        // drbd-utils' unit templates and `secondary --force` need recent enough versions.
        let quick = crate::exec::timeouts::Timeouts::default().quick;
        let version = ProcessRunner
            .run(CommandLine::new("drbdadm", &["--version"], quick))
            .await;
        if !version.ok() {
            return Err(PluginError::Failed(format!(
                "drbdadm --version: {}",
                version.error()
            )));
        }
        match crate::version::check(&version.stdout) {
            Ok(()) => {}
            // Loaded later on a boot that starts the daemon first: the host tries again with
            // its backoff and logs each attempt.
            Err(r @ Refusal::ModuleNotLoaded) => return Err(PluginError::Failed(r.to_string())),
            // Only an upgrade helps; every reload tries again.
            Err(r @ Refusal::Unfit(_)) => return Err(PluginError::Config(r.to_string())),
        }
        let (status, followed) = watch::channel(PromoterStatus::default());
        let publisher = crate::publish::Publisher::start(
            followed,
            crate::publish::status_dir(),
            config.resources.keys().cloned().collect(),
        );
        let context = Context {
            executor: Executor::new(Arc::new(ProcessRunner), unit_dir()),
            node_name: shell::node_name(),
            status,
            query_unit_states: true,
        };
        let mut shutdown = ctx.shutdown;
        let stop = async move {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        let result = shell::run(config, ctx.updates, context, stop).await;
        // Every sender is gone with the shell: the publisher removes this instance's status.
        publisher.finish().await;
        result.map_err(|e| match e {
            PromoterError::Config(_) => PluginError::Config(e.to_string()),
            PromoterError::Failed(m) => PluginError::Failed(m),
        })
    }
}

/// The resources whose drop-ins stay: those the systemd runner starts. A resource that moved
/// to `runner = "shell"` has no use for its units' drop-ins (its old `BindsTo`/`PartOf` would
/// still tie those units to a promote unit nobody starts) and loses them like a removed one.
fn systemd_run_resources(configs: &[PromoterConfig]) -> Vec<String> {
    configs
        .iter()
        .flat_map(|c| c.resources.iter())
        .filter(|(_, res)| res.runner == config::Runner::Systemd)
        .map(|(name, _)| name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{any_unit_up, systemd_run_resources, Promoter};
    use crate::config::{PromoterConfig, ResourceConfig, Runner};
    use drbd_reactor_plugin::Plugin;

    #[test]
    fn the_stop_deadline_lets_a_shell_stop_list_run_every_entry_to_its_timeout() {
        use std::time::Duration;
        let shell = |stop_services_on_exit| ResourceConfig {
            runner: Runner::Shell,
            stop: vec![
                "stop-db".into(),
                "umount /mnt".into(),
                "drbdadm secondary r0".into(),
            ],
            stop_services_on_exit,
            ..ResourceConfig::default()
        };
        let mut c = PromoterConfig::default();
        c.resources.insert("r0".into(), ResourceConfig::default());
        assert_eq!(Promoter::stop_deadline(&c), Duration::from_secs(180));
        c.resources.insert("r1".into(), shell(false));
        assert_eq!(
            Promoter::stop_deadline(&c),
            Duration::from_secs(180),
            "nothing is stopped on exit"
        );
        c.resources.insert("r2".into(), shell(true));
        assert_eq!(
            Promoter::stop_deadline(&c),
            Duration::from_secs(3 * 600 + 60)
        );
    }

    #[test]
    fn only_resources_of_the_systemd_runner_keep_their_drop_ins() {
        let shell = ResourceConfig {
            runner: Runner::Shell,
            ..ResourceConfig::default()
        };
        let mut a = PromoterConfig::default();
        a.resources.insert("r0".into(), ResourceConfig::default());
        a.resources.insert("r1".into(), shell);
        let mut b = PromoterConfig::default();
        b.resources.insert("r2".into(), ResourceConfig::default());
        assert_eq!(systemd_run_resources(&[a, b]), ["r0", "r2"]);
    }

    #[test]
    fn a_stack_runs_while_its_target_or_promote_unit_is_in_any_state_but_inactive_or_failed() {
        assert!(!any_unit_up("inactive\n\ninactive\n"));
        assert!(!any_unit_up("failed\n\ninactive\n"));
        assert!(!any_unit_up(""));
        assert!(any_unit_up("inactive\n\nactive\n"));
        assert!(any_unit_up("deactivating\n\ninactive\n"));
        assert!(any_unit_up("activating\n"));
    }

    /// The daemon's monitor (spec §9 step 2) watches the targets' `reactor.conf` of the
    /// resources the systemd runner starts, with their escaped names and the content written.
    #[test]
    fn generated_units_are_the_targets_drop_ins_of_systemd_run_resources() {
        let mut c = PromoterConfig::default();
        let started = ResourceConfig {
            start: vec!["a.service".into()],
            ..ResourceConfig::default()
        };
        c.resources.insert("my-res.1".into(), started);
        // no start list: no target drop-in to watch
        c.resources.insert("r2".into(), ResourceConfig::default());
        let shell = ResourceConfig {
            runner: Runner::Shell,
            ..ResourceConfig::default()
        };
        c.resources.insert("r1".into(), shell);
        let root = super::unit_dir().root;
        let units = Promoter::generated_units(&c);
        let paths: Vec<_> = units.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(
            paths,
            [root.join(r"drbd-services@my\x2dres.1.target.d/reactor.conf")]
        );
        assert!(units[0].1.contains("[Unit]"), "{}", units[0].1);
    }
}
