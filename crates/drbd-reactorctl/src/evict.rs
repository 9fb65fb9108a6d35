//! `evict` (spec ctl.md §4.9): move a promoter resource away from this node. Mask the
//! resource's target at runtime, stop it, wait until another node is Primary or the delay
//! passes (saying which node took over), then unmask and start it again unless the operator
//! keeps it masked. Everything outside (systemctl, drbdsetup, the mask file, the clock, the
//! interrupt flag, stdout) goes through [`Node`], so the whole algorithm runs in virtual time
//! in the tests below.
//!
//! Must never: wait without a deadline, delete a file in the unit directory that is not a
//! runtime mask (a link to /dev/null), or start a target it neither masked nor found masked.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;

use crate::snippet::{Plugin, Snippet};
use crate::system::PrimaryOn;
use crate::units;

/// How often the Primary is asked while waiting (the countdown still ticks once a second).
pub const POLL: Duration = Duration::from_millis(200);

/// The options of `drbd-reactorctl evict`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub delay: u32,
    pub force: bool,
    pub keep_masked: bool,
    pub unmask: bool,
}

/// How systemctl's output is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Inherit,
    NoStderr,
    Discard,
}

/// What removing a runtime mask found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unmasked {
    Removed,
    Absent,
    /// Something else is there (a unit file, a link elsewhere): left alone.
    NotAMask,
}

/// The world evict acts on.
pub trait Node {
    /// Where `res` is Primary; an error when drbdsetup fails or answers nonsense.
    fn primary(&mut self, res: &str) -> anyhow::Result<PrimaryOn>;
    /// `systemctl <args>`: Ok(success); Err only if it could not be executed.
    fn systemctl(&mut self, args: &[&str], output: Output) -> anyhow::Result<bool>;
    /// Removes the runtime mask link at `path`.
    fn remove_mask(&mut self, path: &Path) -> anyhow::Result<Unmasked>;
    /// Whether a runtime mask link is at `path`.
    fn is_masked(&self, path: &Path) -> bool;
    /// systemd's `LoadState` of `unit` (`masked` once the mask works).
    fn load_state(&mut self, unit: &str) -> anyhow::Result<String>;
    /// Time since an arbitrary start.
    fn now(&self) -> Duration;
    fn sleep(&mut self, duration: Duration);
    /// SIGINT or SIGTERM arrived since the last reset.
    fn interrupted(&self) -> bool;
    fn reset_interrupt(&mut self);
    /// Writes to stdout (and flushes).
    fn print(&mut self, text: &str);
}

/// One resource to evict and the runtime mask of its target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub res: String,
    pub mask: PathBuf,
}

/// The runtime mask link of `res`'s target under the unit directory `root`.
pub fn mask_path(root: &Path, res: &str) -> PathBuf {
    root.join(units::target(res))
}

fn demote_failure_is_none(action: Option<&str>) -> bool {
    matches!(action, None | Some("none"))
}

/// Step 1: the resources of the snippets' promoters in eviction order. Resources whose
/// `on-drbd-demote-failure` is `none` come first (in reverse order), the others after them.
/// Prints `<path>:` for every snippet with a promoter; without `--force` a snippet with other
/// plugins or a promoter with several resources is an error.
pub fn collect(
    node: &mut dyn Node,
    snippets: &[Snippet],
    force: bool,
    root: &Path,
) -> anyhow::Result<Vec<Target>> {
    let mut ordered: std::collections::VecDeque<String> = Default::default();
    for snippet in snippets {
        if snippet.promoters().next().is_none() {
            continue;
        }
        let path = snippet.path.display();
        node.print(&format!("{path}:\n"));
        if !force {
            if snippet
                .plugins
                .iter()
                .any(|p| !matches!(p, Plugin::Promoter(_)))
            {
                bail!("Config file '{path}' contains mixed promoter and other plugins (--force evicts its promoter resources anyway)");
            }
            if snippet.promoters().any(|p| p.resources.len() > 1) {
                bail!("Promoter in config file '{path}' responsible for multiple resources (--force evicts all of them)");
            }
        }
        for promoter in snippet.promoters() {
            for (res, conf) in &promoter.resources {
                if demote_failure_is_none(conf.on_drbd_demote_failure.as_deref()) {
                    ordered.push_front(res.clone());
                } else {
                    ordered.push_back(res.clone());
                }
            }
        }
    }
    Ok(ordered
        .into_iter()
        .map(|res| Target {
            mask: mask_path(root, &res),
            res,
        })
        .collect())
}

/// How the wait for another node ended.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Waited {
    TookOver(String),
    DelayPassed,
    Interrupted,
}

/// Steps 4-5: the countdown (`20..19..` once a second, `0` at the end), asking for the
/// Primary every [`POLL`], until a peer is Primary, the delay passed or an interrupt came;
/// then the verdict line.
fn wait_for_peer(node: &mut dyn Node, res: &str, delay: u32) -> anyhow::Result<()> {
    let start = node.now();
    let limit = Duration::from_secs(u64::from(delay));
    let mut next_second: u32 = 0;
    let mut printed = false;
    let waited = loop {
        if let PrimaryOn::Peer(peer) = node.primary(res)? {
            break Waited::TookOver(peer);
        }
        let elapsed = node.now().saturating_sub(start);
        while next_second <= delay && Duration::from_secs(u64::from(next_second)) <= elapsed {
            let left = delay - next_second;
            node.print(&if left > 0 {
                format!("{left}..")
            } else {
                "0".to_string()
            });
            printed = true;
            next_second += 1;
        }
        if elapsed >= limit {
            break Waited::DelayPassed;
        }
        if node.interrupted() {
            break Waited::Interrupted;
        }
        // the next countdown second is always ahead of `elapsed` here
        let next_tick = Duration::from_secs(u64::from(next_second));
        let wake = (elapsed + POLL).min(next_tick);
        node.sleep(wake.saturating_sub(elapsed).max(Duration::from_millis(1)));
    };
    if printed {
        node.print("\n");
    }
    if waited == Waited::Interrupted {
        node.print("Interrupted, not waiting any longer\n");
    }
    let verdict = match waited {
        Waited::TookOver(peer) => PrimaryOn::Peer(peer),
        _ => node.primary(res)?,
    };
    node.print(&match verdict {
        PrimaryOn::Local => {
            "Local node still DRBD Primary, not all services stopped in time locally\n".to_string()
        }
        PrimaryOn::Peer(peer) => format!("Node '{peer}' took over\n"),
        PrimaryOn::Unknown => {
            "Unfortunately no other node took over, resource in unknown state\n".to_string()
        }
    });
    Ok(())
}

fn systemctl_checked(node: &mut dyn Node, args: &[&str], output: Output) -> anyhow::Result<()> {
    if !node.systemctl(args, output)? {
        bail!("'systemctl {}' failed", args.join(" "));
    }
    Ok(())
}

/// *evict-one*: returns whether the target was masked (so it must be re-enabled) and the
/// result.
fn evict_one(node: &mut dyn Node, target: &Target, delay: u32) -> (bool, anyhow::Result<()>) {
    let res = target.res.as_str();
    node.print(&format!("Evicting {res}\n"));
    match node.primary(res) {
        Err(e) => return (false, Err(e)),
        Ok(PrimaryOn::Unknown) => {
            node.print(&format!(
                "Sorry, resource state for '{res}' unknown, ignoring\n"
            ));
            return (false, Ok(()));
        }
        Ok(PrimaryOn::Peer(peer)) => {
            node.print(&format!(
                "Active on '{peer}', nothing to do on this node, ignoring\n"
            ));
            return (false, Ok(()));
        }
        Ok(PrimaryOn::Local) => {}
    }
    let unit = units::target(res);
    if let Err(e) = systemctl_checked(node, &["mask", "--runtime", &unit], Output::Inherit) {
        // whether a failed mask left a link behind is checked before re-enabling
        return (false, Err(e));
    }
    let result = systemctl_checked(node, &["daemon-reload"], Output::Inherit)
        .and_then(|()| mask_works(node, &unit))
        .and_then(|()| systemctl_checked(node, &["stop", &unit], Output::NoStderr))
        .and_then(|()| wait_for_peer(node, res, delay));
    (true, result)
}

/// A unit file of the target in /etc/systemd/system outranks the runtime mask in /run: the
/// mask then does nothing and the local promoter could start the target right after the stop.
fn mask_works(node: &mut dyn Node, unit: &str) -> anyhow::Result<()> {
    let state = node.load_state(unit)?;
    if state != "masked" {
        bail!("'{unit}' is not masked after 'systemctl mask --runtime' (LoadState={state}): a unit file of that name in /etc/systemd/system outranks the runtime mask; not stopping it");
    }
    Ok(())
}

/// *unmask-and-start*: removes the runtime mask, reloads systemd and starts the target
/// (its result ignored: it fails when a peer is Primary).
fn unmask_and_start(node: &mut dyn Node, target: &Target) -> anyhow::Result<()> {
    let res = target.res.as_str();
    node.print(&format!("Re-enabling {res}\n"));
    let path = target.mask.display();
    match node.remove_mask(&target.mask)? {
        Unmasked::Removed => node.print(&format!("Removed {path}.\n")),
        Unmasked::Absent => node.print(&format!("No runtime mask {path} to remove.\n")),
        Unmasked::NotAMask => node.print(&format!(
            "'{path}' is not a runtime mask (a link to /dev/null), left in place.\n"
        )),
    }
    systemctl_checked(node, &["daemon-reload"], Output::Inherit)?;
    let unit = units::target(res);
    node.systemctl(&["start", &unit], Output::Discard)?;
    Ok(())
}

/// The whole command for the resolved snippets.
pub fn run(
    node: &mut dyn Node,
    snippets: &[Snippet],
    options: Options,
    root: &Path,
) -> anyhow::Result<()> {
    let targets = collect(node, snippets, options.force, root)?;
    if options.unmask {
        for target in &targets {
            unmask_and_start(node, target)?;
        }
        return Ok(());
    }
    node.reset_interrupt();
    for (i, target) in targets.iter().enumerate() {
        let (masked, result) = evict_one(node, target, options.delay);
        // A mask from an earlier --keep-masked is undone too; a target this run neither
        // masked nor found masked is left to the promoter (never started here).
        if !options.keep_masked && (masked || node.is_masked(&target.mask)) {
            unmask_and_start(node, target)?;
        }
        result?;
        if node.interrupted() {
            let rest: Vec<&str> = targets[i + 1..].iter().map(|t| t.res.as_str()).collect();
            if !rest.is_empty() {
                node.print(&format!("Interrupted, not evicting {}\n", rest.join(", ")));
            }
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "evict_tests.rs"]
mod tests;
