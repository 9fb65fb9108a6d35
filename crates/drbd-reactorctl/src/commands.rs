//! The snippet commands (spec ctl.md §4.2–4.9): resolution, the file operation
//! (atomic renames), then the reload step. Must never change a file outside the snippets
//! directory, and never run the reload step when nothing changed.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use anyhow::{bail, Context};

use crate::cli::{PluginType, StatusArgs};
use crate::reload::{Changes, Reloader};
use crate::resolve::{self, resolve, resolve_both, Wanted, DISABLED};
use crate::snippet;
use crate::status;
use crate::system::systemctl;
use crate::units;

pub struct Ctx {
    pub snippets: PathBuf,
    pub reloader: Reloader,
}

fn flush() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

pub fn ls(ctx: &Ctx, configs: &[String], only_disabled: bool) -> anyhow::Result<()> {
    let resolved = resolve_both(&ctx.snippets, configs);
    resolved.print_messages();
    for path in &resolved.paths {
        let enabled = resolve::state_of(path) == Some(Wanted::Enabled);
        if only_disabled && enabled {
            continue;
        }
        outln!("{}:", path.display());
        flush();
        let snippet = snippet::load(path)?;
        for line in crate::ls::render(&snippet.plugins, enabled) {
            outln!("{line}");
        }
    }
    Ok(())
}

pub fn status(ctx: &Ctx, args: &StatusArgs) -> anyhow::Result<()> {
    let resolved = resolve_both(&ctx.snippets, &args.configs);
    if args.json {
        // stdout is the JSON document; errors (an unreadable directory, unknown names) still
        // go to stderr, or a monitoring script reads an empty report as all well.
        for message in &resolved.rejected {
            errln!("{message}");
        }
    } else {
        resolved.print_messages();
    }
    let snippets = resolved
        .paths
        .iter()
        .map(|p| snippet::load(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let report = status::gather(
        &snippets,
        &args.resource,
        args.verbose && !args.json,
        &status::System,
    )?;
    if args.json {
        out!("{}", status::to_json(&report));
    } else {
        out!("{}", status::render_text(&report, crate::color::enabled()));
    }
    flush();
    Ok(())
}

pub fn cat(ctx: &Ctx, configs: &[String]) -> anyhow::Result<()> {
    let resolved = resolve(&ctx.snippets, configs, Wanted::Enabled, true);
    resolved.print_messages();
    for path in &resolved.paths {
        errln!("Displaying {}...", path.display());
        let shown = ["bat", "batcat", "cat"].iter().any(|viewer| {
            Process::new(viewer)
                .arg(path)
                .stdin(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        if !shown {
            bail!(
                "Could not display '{}' with bat, batcat or cat",
                path.display()
            );
        }
    }
    Ok(())
}

/// The reload step, only when something changed.
fn reload_if(ctx: &Ctx, changes: &Changes) -> anyhow::Result<()> {
    if changes.any() {
        ctx.reloader.reload(changes)?;
    }
    Ok(())
}

/// The end of a command that may have failed after it changed files: the reload step still
/// runs for what changed (the files must not say what the daemon was never told), then the
/// command's own error is returned.
fn reload_then(ctx: &Ctx, changes: &Changes, done: anyhow::Result<()>) -> anyhow::Result<()> {
    match done {
        Ok(()) => reload_if(ctx, changes),
        Err(e) => {
            if let Err(reload) = reload_if(ctx, changes) {
                errln!("Error: {reload:?}");
            }
            Err(e)
        }
    }
}

fn rename(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::rename(from, to).with_context(|| {
        format!(
            "Could not rename '{}' to '{}'",
            from.display(),
            to.display()
        )
    })
}

/// `rename` that never replaces a file at `to` (`RENAME_NOREPLACE`, so nothing created
/// between a check and the rename is lost): `Ok(false)` and nothing renamed when `to` exists.
fn rename_new(from: &Path, to: &Path) -> anyhow::Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes());
    let context = || {
        format!(
            "Could not rename '{}' to '{}'",
            from.display(),
            to.display()
        )
    };
    let (from_c, to_c) = (c(from).with_context(context)?, c(to).with_context(context)?);
    // SAFETY: two NUL-terminated paths relative to the working directory.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from_c.as_ptr(),
            libc::AT_FDCWD,
            to_c.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EEXIST) => Ok(false),
        // a file system without RENAME_NOREPLACE (EINVAL), a kernel without renameat2
        // (ENOSYS) or a seccomp filter that does not know it (EPERM, older container
        // runtimes): check, then rename; a real EPERM comes back from the rename itself
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EPERM) => {
            if to.symlink_metadata().is_ok() {
                return Ok(false);
            }
            rename(from, to).map(|()| true)
        }
        _ => Err(err).with_context(context),
    }
}

pub fn enable(ctx: &Ctx, configs: &[String]) -> anyhow::Result<Vec<PathBuf>> {
    let resolved = resolve(&ctx.snippets, configs, Wanted::Disabled, true);
    resolved.print_messages();
    enable_paths(ctx, &resolved.paths)
}

/// The renames and the reload of `enable`, for paths already resolved. Never resolves
/// again: a resolved path is not a name (with a relative snippets directory it would be
/// joined twice), and an empty list here means nothing, not "every disabled snippet".
fn enable_paths(ctx: &Ctx, paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    // all names are checked before the first rename, so an error leaves nothing half done
    if let Some(path) = paths
        .iter()
        .find(|p| resolve::state_of(p) != Some(Wanted::Disabled))
    {
        bail!(
            "Expected plugin path '{}' to end in {DISABLED}",
            path.display()
        );
    }
    let mut enabled = Vec::new();
    let mut changes = Changes::default();
    let mut done = Ok(());
    for path in paths {
        errln!("Enabling '{}'...", path.display());
        let Some(target) = resolve::counterpart(path) else {
            continue; // disabled, checked above
        };
        match changes.make_if(|| rename_new(path, &target)) {
            Ok(true) => enabled.push(target),
            Ok(false) => crate::color::warn(&format!(
                "'{}' already exists, doing nothing",
                target.display()
            )),
            Err(e) => {
                // the renames before it are reloaded all the same
                done = Err(e);
                break;
            }
        }
    }
    reload_then(ctx, &changes, done)?;
    Ok(enabled)
}

pub fn disable(ctx: &Ctx, configs: &[String], now: bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut changes = Changes::default();
    let Disabled { paths, refused } = rename_to_disabled(ctx, configs, &mut changes)?;
    reload_if(ctx, &changes)?;
    if now {
        stop_targets(&paths)?;
    }
    if !refused.is_empty() {
        bail!(refused_message(&refused));
    }
    Ok(paths)
}

/// What `disable_paths` did.
struct Disabled {
    /// The `.disabled` paths made.
    paths: Vec<PathBuf>,
    /// `(X.toml, X.toml.disabled)` left alone because the disabled file exists: renaming
    /// would lose it (the original overwrote it).
    refused: Vec<(PathBuf, PathBuf)>,
}

fn refused_message(refused: &[(PathBuf, PathBuf)]) -> String {
    refused
        .iter()
        .map(|(enabled, disabled)| {
            format!(
                "'{}' not disabled: '{}' exists and would be overwritten; remove or rename one of them",
                enabled.display(),
                disabled.display()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The renames of `disable`: the `.disabled` paths made.
fn rename_to_disabled(
    ctx: &Ctx,
    configs: &[String],
    changes: &mut Changes,
) -> anyhow::Result<Disabled> {
    let resolved = resolve(&ctx.snippets, configs, Wanted::Enabled, true);
    resolved.print_messages();
    disable_paths(&resolved.paths, changes)
}

/// The renames of `rename_to_disabled` for resolved paths. A failed rename puts the ones
/// before it back, so the files never say "disabled" for a set the daemon was not told of.
fn disable_paths(paths: &[PathBuf], changes: &mut Changes) -> anyhow::Result<Disabled> {
    let mut disabled = Vec::new();
    let mut refused = Vec::new();
    for path in paths {
        errln!("Disabling '{}'...", path.display());
        if resolve::state_of(path) != Some(Wanted::Enabled) {
            errln!("'{}' is already disabled, doing nothing", path.display());
            continue;
        }
        let Some(target) = resolve::counterpart(path) else {
            continue; // enabled, checked above
        };
        match changes.make_if(|| rename_new(path, &target)) {
            Ok(true) => disabled.push(target),
            Ok(false) => refused.push((path.clone(), target)),
            Err(e) => {
                rename_back(&disabled);
                return Err(e);
            }
        }
    }
    Ok(Disabled {
        paths: disabled,
        refused,
    })
}

/// `X.toml.disabled` -> `X.toml` for each path, reporting (not stopping at) failures.
fn rename_back(disabled: &[PathBuf]) {
    for path in disabled {
        if let Some(enabled) = resolve::counterpart(path) {
            match rename_new(path, &enabled) {
                Ok(true) => {}
                Ok(false) => errln!(
                    "'{}' stays disabled: '{}' exists again",
                    path.display(),
                    enabled.display()
                ),
                Err(e) => errln!("{e:#}"),
            }
        }
    }
}

fn stop_targets(paths: &[PathBuf]) -> anyhow::Result<()> {
    for path in paths {
        let snippet = snippet::load(path)?;
        for promoter in snippet.promoters() {
            for res in promoter.resources.keys() {
                systemctl(&["stop", &units::target(res)])?;
            }
        }
    }
    Ok(())
}

pub fn restart(ctx: &Ctx, configs: &[String], with_targets: bool) -> anyhow::Result<()> {
    if configs.is_empty() {
        return systemctl(&["restart", crate::reload::DAEMON_UNIT]);
    }
    // Every name must mean an enabled snippet: a typo is an error, never a daemon restart.
    // A name given twice (`p p`, `p p.toml`) is one snippet, not an error.
    let resolved = resolve(&ctx.snippets, configs, Wanted::Enabled, true);
    let missing: Vec<&String> = configs
        .iter()
        .filter(|name| {
            let one = resolve(
                &ctx.snippets,
                std::slice::from_ref(*name),
                Wanted::Enabled,
                true,
            );
            !one.paths
                .iter()
                .any(|p| resolve::state_of(p) == Some(Wanted::Enabled))
        })
        .collect();
    if !missing.is_empty() {
        resolved.print_messages();
        bail!(
            "no enabled snippet {} in '{}'; nothing restarted",
            missing
                .iter()
                .map(|m| format!("'{m}'"))
                .collect::<Vec<_>>()
                .join(", "),
            ctx.snippets.display()
        );
    }
    resolved.print_messages();
    // Disabling one whose disabled twin exists would lose that file; enabling it again
    // afterwards would not bring it back.
    let twins: Vec<(PathBuf, PathBuf)> = resolved
        .paths
        .iter()
        .filter_map(|p| Some((p.clone(), resolve::counterpart(p)?)))
        .filter(|(_, disabled)| disabled.symlink_metadata().is_ok())
        .collect();
    if !twins.is_empty() {
        bail!("{}; nothing restarted", refused_message(&twins));
    }
    let mut changes = Changes::default();
    let Disabled {
        paths: disabled,
        refused,
    } = disable_paths(&resolved.paths, &mut changes)?;
    if !refused.is_empty() {
        // created since the check above
        rename_back(&disabled);
        bail!("{}; nothing restarted", refused_message(&refused));
    }
    if disabled.is_empty() {
        bail!("nothing was disabled; nothing restarted");
    }
    if let Err(e) = reload_if(ctx, &changes) {
        // The daemon did not take the configuration without them (another snippet is
        // broken, or no answer in time): put them back, so the files say what it runs and
        // the next reload does not drop them.
        rename_back(&disabled);
        return Err(e.context("the snippets were renamed back; nothing restarted"));
    }
    // The snippets are enabled again even when stopping a target failed.
    let stopped = if with_targets {
        stop_targets(&disabled)
    } else {
        Ok(())
    };
    enable_paths(ctx, &disabled)?;
    stopped
}

/// Asks `Remove '<path>'? [N/y] ` until a known answer; end of input = no.
pub fn confirm(path: &Path, input: &mut dyn BufRead) -> bool {
    out!("Remove '{}'? [N/y] ", path.display());
    flush();
    loop {
        let mut line = String::new();
        match input.read_line(&mut line) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(_) => {
                errln!("Could not read answer from stdin");
                return false;
            }
        }
        match line.trim().to_lowercase().as_str() {
            "" | "n" | "no" => return false,
            "y" | "yes" => return true,
            other => outln!("Unknown answer '{other}', use 'y' or 'n'"),
        }
    }
}

pub fn rm(ctx: &Ctx, configs: &[String], force: bool, disabled: bool) -> anyhow::Result<()> {
    let wanted = if disabled {
        Wanted::Disabled
    } else {
        Wanted::Enabled
    };
    let resolved = resolve(&ctx.snippets, configs, wanted, true);
    resolved.print_messages();
    let mut changes = Changes::default();
    let stdin = std::io::stdin();
    let mut done = Ok(());
    for path in &resolved.paths {
        errln!("Removing '{}'...", path.display());
        if !force && !confirm(path, &mut stdin.lock()) {
            continue;
        }
        done = changes.make(|| {
            std::fs::remove_file(path)
                .with_context(|| format!("Could not remove '{}'", path.display()))
        });
        if done.is_err() {
            break; // the files removed before it are reloaded all the same
        }
    }
    reload_then(ctx, &changes, done)
}

pub fn edit(
    ctx: &Ctx,
    configs: &[String],
    kind: Option<PluginType>,
    force: bool,
    disabled: bool,
) -> anyhow::Result<()> {
    let wanted = if disabled {
        Wanted::Disabled
    } else {
        Wanted::Enabled
    };
    let resolved = resolve(&ctx.snippets, configs, wanted, false);
    resolved.print_messages();
    let mut changes = Changes::default();
    let mut done = Ok(());
    for path in &resolved.paths {
        let saved_at = match crate::edit::edit_one(&ctx.snippets, path, kind, force) {
            Ok(saved_at) => saved_at,
            Err(e) => {
                done = Err(e);
                break;
            }
        };
        // By the file saved, not by --disabled: an explicit suffix wins in resolution
        // (`--disabled x.toml` saves the enabled x.toml). A disabled snippet is not read by
        // the daemon: nothing to reload.
        if let Some(at) = saved_at.filter(|_| resolve::state_of(path) == Some(Wanted::Enabled)) {
            changes.record(at);
        }
    }
    reload_then(ctx, &changes, done)
}

/// `evict` (§4.9) for the resolved enabled snippets; not cluster-aware, never reloads.
pub fn evict(ctx: &Ctx, configs: &[String], options: crate::evict::Options) -> anyhow::Result<()> {
    let resolved = resolve(&ctx.snippets, configs, Wanted::Enabled, true);
    resolved.print_messages();
    let snippets = resolved
        .paths
        .iter()
        .map(|p| snippet::load(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let root = drbd_reactor_promoter::plugin::unit_dir().root;
    let mut node = crate::evict_system::System::new()?;
    crate::evict::run(&mut node, &snippets, options, &root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirm_defaults_to_no_and_asks_again_on_unknown_answers() {
        assert!(!confirm(Path::new("/d/x.toml"), &mut "\n".as_bytes()));
        assert!(!confirm(Path::new("/d/x.toml"), &mut "".as_bytes()));
        assert!(confirm(
            Path::new("/d/x.toml"),
            &mut "maybe\nYes\n".as_bytes()
        ));
        assert!(!confirm(Path::new("/d/x.toml"), &mut "N\n".as_bytes()));
    }
}
