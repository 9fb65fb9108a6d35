//! `start-until` (spec ctl.md §4.10, errata A5): bring a disabled promoter resource up by
//! hand, for maintenance. First the promoter's construction, done by the promoter crate
//! itself exactly as the daemon does it (`drbdadm sh-ll-dev`, the wait for backing devices,
//! `drbdadm adjust`, the drop-ins written and recorded under the unit directory), then the
//! promote unit and the start list up to the named entry.
//!
//! Must never: start anything when the construction failed, write drop-ins anywhere but the
//! promoter's unit directory, or wait for backing devices without a deadline.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use drbd_reactor_config::{PluginKind, Strictness};
use drbd_reactor_promoter::config::{self, ResourceConfig, Runner};
use drbd_reactor_promoter::exec::{Executor, ProcessRunner};
use drbd_reactor_promoter::policy::machine::{DEVICE_POLL, DEVICE_WAIT_LIMIT};
use drbd_reactor_promoter::policy::{Action, Outcome};
use drbd_reactor_promoter::{dropins, PromoterConfig};

use crate::commands::Ctx;
use crate::resolve::{resolve, Wanted};
use crate::system::{self, systemctl, ActiveState};
use crate::units;

/// Overrides how long start-until waits for backing devices (seconds; default the daemon's).
pub const DEVICE_TIMEOUT_ENV: &str = "DRBD_REACTORCTL_DEVICE_TIMEOUT";

fn flush() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

/// The start entries up to `until`: a count, or up to and including the entry equal to it.
pub fn start_prefix<'a>(start: &'a [String], until: &str) -> Option<&'a [String]> {
    if let Ok(n) = until.parse::<usize>() {
        return Some(&start[..n.min(start.len())]);
    }
    start.iter().position(|e| e == until).map(|i| &start[..=i])
}

/// Every `[[promoter]]` of the snippet, typed and checked as the daemon checks them (the
/// first error names file, line and key).
pub fn promoters(path: &Path) -> anyhow::Result<Vec<PromoterConfig>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("Could not read snippet '{}'", path.display()))?;
    let parsed = drbd_reactor_config::parse_one(path, &text, true)
        .with_context(|| format!("Could not parse snippet '{}'", path.display()))?;
    let mut out = Vec::new();
    for section in parsed.plugins_of(PluginKind::Promoter) {
        let (promoter, _) = section
            .parse::<PromoterConfig>(Strictness::WarnUnknownKeys)
            .with_context(|| format!("Could not parse snippet '{}'", path.display()))?;
        let (errors, _) = config::validate(&promoter);
        if let Some(e) = errors.into_iter().next() {
            bail!(
                "{}: key '{}': {}",
                section.origin_of(&e.key),
                e.key,
                e.message
            );
        }
        out.push(promoter);
    }
    Ok(out)
}

fn device_timeout() -> Duration {
    std::env::var(DEVICE_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(DEVICE_WAIT_LIMIT, Duration::from_secs)
}

/// The promoter's construction of one resource: adjust (after its backing devices are
/// there) when `adjust-resource-on-start`, then its drop-ins, then `systemctl daemon-reload`
/// if any drop-in changed.
fn construct(
    runtime: &tokio::runtime::Runtime,
    executor: &Executor,
    res: &str,
    cfg: &ResourceConfig,
) -> anyhow::Result<()> {
    if cfg.runner == Runner::Shell {
        bail!("resource '{res}' uses runner = \"shell\": its start list are shell commands, not units; start-until needs the systemd runner");
    }
    let perform = |action: Action| runtime.block_on(executor.perform(res, cfg, action));
    if cfg.adjust_resource_on_start {
        let devices = match perform(Action::ListBackingDevices) {
            Some(Outcome::BackingDevices(Ok(devices))) => devices,
            Some(Outcome::BackingDevices(Err(e))) => bail!("Could not adjust '{res}': {e}"),
            other => bail!("drbdadm sh-ll-dev {res}: unexpected outcome {other:?}"),
        };
        let real: Vec<String> = devices.into_iter().filter(|d| d != "none").collect();
        let limit = device_timeout();
        let give_up = Instant::now() + limit;
        let mut said = false;
        loop {
            if let Some(Outcome::DevicesReady(true)) = perform(Action::CheckDevices(real.clone())) {
                break;
            }
            let now = Instant::now();
            if now >= give_up {
                bail!(
                    "Could not adjust '{res}': backing devices {real:?} not ready after {}s",
                    limit.as_secs()
                );
            }
            if !said {
                outln!(
                    "Waiting for the backing devices of '{res}': {}",
                    real.join(", ")
                );
                flush();
                said = true;
            }
            std::thread::sleep(DEVICE_POLL.min(give_up - now));
        }
        match perform(Action::Adjust) {
            Some(Outcome::Adjusted(Ok(()))) => {}
            Some(Outcome::Adjusted(Err(e))) => bail!("Could not adjust '{res}': {e}"),
            other => bail!("drbdadm adjust {res}: unexpected outcome {other:?}"),
        }
    }
    let shim = drbd_reactor_promoter::write::installed_shim();
    let files = dropins::render_with_shim(res, cfg, shim).map_err(|e| {
        anyhow::anyhow!(
            "generate_systemd_templates: resource '{res}', start[{}]: {}",
            e.index,
            e.message
        )
    })?;
    let report = executor
        .unit_dir
        .sync(res, &files)
        .with_context(|| format!("Could not write the drop-ins of '{res}'"))?;
    if report.changed() {
        systemctl(&["daemon-reload"])?;
    }
    Ok(())
}

pub fn run(ctx: &Ctx, until: &str, config: &str) -> anyhow::Result<()> {
    let resolved = resolve(&ctx.snippets, &[config.to_string()], Wanted::Disabled, true);
    resolved.print_messages();
    let Some(path) = resolved.paths.first() else {
        bail!(
            "Could not find the disabled snippet '{config}' in '{}'",
            ctx.snippets.display()
        );
    };
    let promoters = promoters(path)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("Could not start the async runtime")?;
    let executor = Executor::new(
        Arc::new(ProcessRunner),
        drbd_reactor_promoter::plugin::unit_dir(),
    );
    for promoter in &promoters {
        // every start list is checked before anything is changed
        let mut plans = Vec::new();
        for (res, cfg) in &promoter.resources {
            let Some(selected) = start_prefix(&cfg.start, until) else {
                bail!("Could not find unit '{until}' in the start list of resource '{res}'");
            };
            let mut to_start = Vec::new();
            for entry in selected {
                to_start.push(units::start_unit(entry, res).map_err(anyhow::Error::msg)?);
            }
            plans.push((res, cfg, to_start));
        }
        for (res, cfg, _) in &plans {
            construct(&runtime, &executor, res, cfg)?;
        }
        for (res, _, to_start) in &plans {
            let promote = units::promote(res);
            outln!("systemctl start {promote}");
            flush();
            systemctl(&["start", &promote])?;
            // a lost promotion is a skipped condition: start succeeds, the unit stays inactive
            let state = system::active_state(&promote);
            if state != ActiveState::Active {
                bail!("'{promote}' is {state:?} after 'systemctl start', so '{res}' was not promoted here (Primary elsewhere, or no UpToDate data?); nothing else was started");
            }
            for unit in to_start {
                outln!("systemctl start {unit}");
                flush();
                systemctl(&["start", unit])?;
            }
            crate::color::info(&format!(
                "To resume normal operation, execute:\n- systemctl start {} # on this node\n- drbd-reactorctl enable {} # on all cluster nodes",
                units::target(res),
                path.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_prefix_by_count_or_by_entry() {
        let s: Vec<String> = ["a", "b", "c"].iter().map(|x| x.to_string()).collect();
        assert_eq!(start_prefix(&s, "0").unwrap().len(), 0);
        assert_eq!(start_prefix(&s, "2").unwrap(), &s[..2]);
        assert_eq!(start_prefix(&s, "9").unwrap(), &s[..]);
        assert_eq!(start_prefix(&s, "b").unwrap(), &s[..2]);
        assert_eq!(start_prefix(&s, "x"), None);
    }

    #[test]
    fn promoter_errors_name_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml.disabled");
        std::fs::write(
            &path,
            "[[promoter]]\n[promoter.resources.r1]\nstart = [\"a.service\", \"a.service\"]\n",
        )
        .unwrap();
        let err = format!("{:#}", promoters(&path).unwrap_err());
        assert!(
            err.contains("p.toml.disabled:3: key 'resources.r1.start"),
            "{err}"
        );
        std::fs::write(
            &path,
            "[[promoter]]\n[promoter.resources.r1]\nrunner = \"x\"\n",
        )
        .unwrap();
        let err = format!("{:#}", promoters(&path).unwrap_err());
        assert!(err.contains("p.toml.disabled:3"), "{err}");
    }
}
