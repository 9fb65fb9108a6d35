//! The `[[umh]]` plugin type for the daemon's host: match every live update against the rules
//! and run the commands of the rules that fire. The replay a run starts with (after a reload or
//! a restart) describes states that did not change, so no rule fires for it (the original's
//! replay made "became Primary" rules fire again).
//!
//! Must never: run commands for replayed state, or return from a stop while one of its
//! commands still runs (each ends on its own, at its timeout, or is killed after the grace).

use crate::matcher::invocations;
use crate::rules::UmhConfig;
use crate::runner::{RunCounters, Runner};
use drbd_reactor_config::{PluginKind, Strictness};
use drbd_reactor_plugin::contract::Finding;
use drbd_reactor_plugin::{
    Input, Plugin, PluginContext, PluginError, SelfMetrics, UpdateSource, DEFAULT_STOP_DEADLINE,
};
use std::sync::Arc;
use std::time::Duration;

/// How long commands without a timeout may go on after their plugin was told to stop.
pub const STOP_GRACE: Duration = DEFAULT_STOP_DEADLINE;

/// The `[[umh]]` plugin type.
pub struct Umh;

impl Plugin for Umh {
    const KIND: PluginKind = PluginKind::Umh;
    // A typo in a umh rule must not widen it: unknown keys are errors.
    const STRICTNESS: Strictness = Strictness::RejectUnknownKeys;
    const INPUT: Input = Input::Updates;
    type Config = UmhConfig;

    fn check(config: &UmhConfig) -> Result<Vec<Finding>, Finding> {
        // The semaphore's limit: more would panic each run, and 0 would run nothing.
        if let Some(n) = config.max_concurrent {
            if n == 0 || n > tokio::sync::Semaphore::MAX_PERMITS {
                return Err(Finding::at(
                    "max-concurrent",
                    format!(
                        "must be from 1 to {} (leave it out for no limit)",
                        tokio::sync::Semaphore::MAX_PERMITS
                    ),
                ));
            }
        }
        // 0 would kill every command as it starts; "no timeout" is leaving the key out.
        if let Some(key) = zero_timeout(config) {
            return Err(Finding::at(
                key,
                "must be at least 1 second (leave it out for no timeout)",
            ));
        }
        Ok(config
            .id
            .iter()
            .map(|_| Finding::at("id", "'id' is deprecated and ignored"))
            .collect())
    }

    /// Running commands get their own timeout (or the grace), then a killed one up to
    /// `REAP_GRACE` to die (asleep in the kernel, it dies when it wakes), plus a moment to be
    /// reported: the host cancels the instance only past all of it.
    fn stop_deadline(config: &UmhConfig) -> Duration {
        let longest = rule_timeouts(config)
            .max()
            .map_or(STOP_GRACE, |t| Duration::from_secs(t).max(STOP_GRACE));
        // Saturating: a `timeout` written as "forever" (i64::MAX) must not overflow.
        longest
            .saturating_add(drbd_reactor_process::REAP_GRACE)
            .saturating_add(Duration::from_secs(2))
    }

    fn register_metrics(metrics: &SelfMetrics) {
        counters(metrics);
    }

    async fn run(config: UmhConfig, mut ctx: PluginContext) -> Result<(), PluginError> {
        ctx.updates.skip_replay();
        let counters = Arc::new(counters(&ctx.metrics));
        run(config, ctx.updates, counters)
            .await
            .map_err(PluginError::Failed)
    }
}

/// Every rule's `timeout`, with the key path of the rule it belongs to (`device[0]`).
fn rule_timeouts_at(
    c: &UmhConfig,
) -> impl Iterator<Item = (&'static str, usize, Option<u64>)> + '_ {
    fn at<'a, T>(
        kind: &'static str,
        rules: &'a [T],
        timeout: fn(&T) -> Option<u64>,
    ) -> impl Iterator<Item = (&'static str, usize, Option<u64>)> + 'a {
        rules
            .iter()
            .enumerate()
            .map(move |(i, r)| (kind, i, timeout(r)))
    }
    at("resource", &c.resource, |r| r.timeout)
        .chain(at("device", &c.device, |r| r.timeout))
        .chain(at("peerdevice", &c.peerdevice, |r| r.timeout))
        .chain(at("connection", &c.connection, |r| r.timeout))
        .chain(at("helper", &c.helper, |r| r.timeout))
}

/// The `timeout` of every rule that has one.
fn rule_timeouts(c: &UmhConfig) -> impl Iterator<Item = u64> + '_ {
    rule_timeouts_at(c).filter_map(|(_, _, timeout)| timeout)
}

/// The key path of the first rule with `timeout = 0`.
fn zero_timeout(c: &UmhConfig) -> Option<String> {
    rule_timeouts_at(c)
        .find(|(_, _, timeout)| *timeout == Some(0))
        .map(|(kind, i, _)| format!("{kind}[{i}].timeout"))
}

/// The umh counters in the self-metrics list (shared by every `[[umh]]` instance).
fn counters(metrics: &SelfMetrics) -> RunCounters {
    RunCounters {
        runs: metrics.counter(
            "drbdreactor_umh_runs_total",
            "Number of umh commands started",
        ),
        failures: metrics.counter(
            "drbdreactor_umh_failures_total",
            "Number of umh commands that exited unsuccessfully",
        ),
        timeouts: metrics.counter(
            "drbdreactor_umh_timeouts_total",
            "Number of umh commands killed at their timeout",
        ),
        dropped: metrics.counter(
            "drbdreactor_umh_dropped_total",
            "Number of umh matches not run: 1024 commands were waiting for a free slot (max-concurrent)",
        ),
    }
}

/// Matches updates until they end, then stops the runner (see [`Runner::stop`]).
pub async fn run(
    config: UmhConfig,
    mut updates: impl UpdateSource,
    counters: Arc<RunCounters>,
) -> Result<(), String> {
    let mut runner = Runner::with_counters(config.max_concurrent, counters);
    while let Some(update) = updates.next().await {
        for invocation in invocations(&config, &update) {
            log::info!(target: "drbd_reactor::plugin::umh", "match for rule '{}'", invocation.rule_name);
            runner.submit(invocation);
        }
    }
    runner.stop(STOP_GRACE).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use drbd_reactor_plugin::Plugin;

    fn config(text: &str) -> UmhConfig {
        let t: toml::Table = text.parse().unwrap();
        t["umh"].as_array().unwrap()[0].clone().try_into().unwrap()
    }

    /// The host cancels an instance past its deadline: the deadline covers a command's
    /// timeout (or the grace), the wait for a killed command to die, and a moment.
    #[test]
    fn the_stop_deadline_covers_the_longest_timeout_and_the_reap_grace() {
        let none = config("[[umh]]\n[[umh.resource]]\ncommand = \"true\"\n");
        assert_eq!(Umh::stop_deadline(&none), Duration::from_secs(22));
        let long = config("[[umh]]\n[[umh.resource]]\ncommand = \"true\"\ntimeout = 30\n");
        assert_eq!(Umh::stop_deadline(&long), Duration::from_secs(42));
        // A timeout written as "forever" saturates instead of overflowing (a panic at stop).
        let forever = config(&format!(
            "[[umh]]\n[[umh.resource]]\ncommand = \"true\"\ntimeout = {}\n",
            i64::MAX
        ));
        assert!(Umh::stop_deadline(&forever) >= Duration::from_secs(i64::MAX as u64));
    }
}
