//! The debugger plugin: every diff update the core produces, logged at debug level under
//! target `drbd_reactor::plugin::debugger` (debugger spec). Two formats: `verbose` (default,
//! multi-line: kind, event type, resource, identity, old, new, the resource as events2
//! `exists` lines) and `compact` (one line, only the fields that changed).
//! Must never: fail, block, or format anything when debug logging is off.

use drbd::update::{Change, Diff, HelperUpdate, ObjectUpdate};
use drbd::PluginUpdate;
use drbd_reactor_config::PluginKind;
use drbd_reactor_plugin::contract::Finding;
use drbd_reactor_plugin::{Input, Plugin, PluginContext, PluginError};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

pub const TARGET: &str = "drbd_reactor::plugin::debugger";

/// `[[debugger]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DebuggerConfig {
    /// Deprecated and ignored, but part of the identity (daemon spec §2.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `verbose` (default) or `compact`.
    #[serde(default)]
    pub format: Format,
    /// Test hook: panic on the first non-Exists update of this resource.
    #[cfg(feature = "fault-injection")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panic_on_change_of: Option<String>,
    /// Test hook: be this slow per update (milliseconds).
    #[cfg(any(test, feature = "fault-injection"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_per_update_ms: Option<u64>,
    /// Test hook: take this long to stop once the updates end (milliseconds).
    #[cfg(feature = "fault-injection")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_stop_ms: Option<u64>,
    /// Test hook: the stop deadline (milliseconds) instead of the default.
    #[cfg(feature = "fault-injection")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_deadline_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Verbose,
    Compact,
}

/// The `[[debugger]]` plugin type.
pub struct Debugger;

impl Plugin for Debugger {
    const KIND: PluginKind = PluginKind::Debugger;
    const INPUT: Input = Input::Updates;
    type Config = DebuggerConfig;

    fn check(config: &DebuggerConfig) -> Result<Vec<Finding>, Finding> {
        Ok(config
            .id
            .iter()
            .map(|_| Finding::at("id", "'id' is deprecated and ignored"))
            .collect())
    }

    #[cfg(feature = "fault-injection")]
    fn stop_deadline(config: &DebuggerConfig) -> std::time::Duration {
        config.stop_deadline_ms.map_or(
            drbd_reactor_plugin::DEFAULT_STOP_DEADLINE,
            std::time::Duration::from_millis,
        )
    }

    fn run(
        config: DebuggerConfig,
        ctx: PluginContext,
    ) -> impl std::future::Future<Output = Result<(), PluginError>> + Send + 'static {
        run(config, ctx)
    }
}

async fn run(config: DebuggerConfig, mut ctx: PluginContext) -> Result<(), PluginError> {
    log::trace!(target: TARGET, "run: start");
    while let Some(update) = ctx.updates.next().await {
        #[cfg(feature = "fault-injection")]
        if let (Some(name), PluginUpdate::Object(o)) = (&config.panic_on_change_of, &*update) {
            if o.event_type != drbd::EventType::Exists && o.resource_name() == name {
                panic!("fault injection: change of resource {name}");
            }
        }
        #[cfg(any(test, feature = "fault-injection"))]
        if let Some(ms) = config.delay_per_update_ms {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        if log::log_enabled!(target: TARGET, log::Level::Debug) {
            log::debug!(target: TARGET, "{}", render(config.format, &update));
        }
    }
    #[cfg(feature = "fault-injection")]
    if let Some(ms) = config.slow_stop_ms {
        log::info!(target: TARGET, "fault injection: stopping slowly ({ms} ms)");
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    log::trace!(target: TARGET, "run: exit");
    Ok(())
}

pub fn render(format: Format, update: &PluginUpdate) -> String {
    match (format, update) {
        (Format::Verbose, PluginUpdate::Object(o)) => verbose(o),
        (Format::Compact, PluginUpdate::Object(o)) => compact(o),
        (_, PluginUpdate::Helper(h)) => helper(h),
    }
}

/// `Device Change r0 volume:0`
fn header(o: &ObjectUpdate) -> String {
    let name = o.resource_name();
    let et = o.event_type;
    match &o.change {
        Change::Resource(_) => format!("Resource {et} {name}"),
        Change::Device { volume, .. } => format!("Device {et} {name} volume:{volume}"),
        Change::PeerDevice {
            volume,
            peer_node_id,
            ..
        } => format!("PeerDevice {et} {name} peer-node-id:{peer_node_id} volume:{volume}"),
        Change::Connection { peer_node_id, .. } => {
            format!("Connection {et} {name} peer-node-id:{peer_node_id}")
        }
    }
}

/// The old and new fields as (key, old, new) by their kebab-case names.
fn fields(change: &Change) -> Vec<(String, String, String)> {
    fn pairs<F: Serialize>(d: &Diff<F>) -> Vec<(String, String, String)> {
        let (old, new) = (to_map(&d.old), to_map(&d.new));
        old.into_iter()
            .zip(new)
            .map(|((k, o), (_, n))| (k, o, n))
            .collect()
    }
    match change {
        Change::Resource(d) => pairs(d),
        Change::Device { diff, .. } => pairs(diff),
        Change::PeerDevice { diff, .. } => pairs(diff),
        Change::Connection { diff, .. } => pairs(diff),
    }
}

fn to_map<F: Serialize>(fields: &F) -> Vec<(String, String)> {
    match serde_json::to_value(fields) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn verbose(o: &ObjectUpdate) -> String {
    let f = fields(&o.change);
    let mut s = header(o);
    let row = |pick: fn(&(String, String, String)) -> &String| {
        f.iter()
            .map(|t| format!("{}:{}", t.0, pick(t)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = write!(s, "\n  old: {}", row(|t| &t.1));
    let _ = write!(s, "\n  new: {}", row(|t| &t.2));
    s.push_str("\n  resource:");
    let mut lines = Vec::new();
    drbd::dump::dump_resource(&o.resource, &mut lines);
    for line in lines {
        let _ = write!(s, "\n    {line}");
    }
    s
}

fn compact(o: &ObjectUpdate) -> String {
    let mut s = header(o);
    let mut any = false;
    for (k, old, new) in fields(&o.change) {
        if old != new {
            let _ = write!(s, " {k}:{old}->{new}");
            any = true;
        }
    }
    if !any {
        s.push_str(" (unchanged)");
    }
    s
}

fn helper(h: &HelperUpdate) -> String {
    let mut s = format!("Helper {} {} {}", h.phase.verb(), h.resource_name, h.helper);
    if let Some(v) = h.volume {
        let _ = write!(s, " volume:{v}");
    }
    if let Some(m) = h.minor {
        let _ = write!(s, " minor:{m}");
    }
    if let Some(p) = h.peer_node_id {
        let _ = write!(s, " peer-node-id:{p}");
    }
    if let Some(c) = &h.conn_name {
        let _ = write!(s, " conn-name:{c}");
    }
    if let Some(st) = h.status {
        let _ = write!(s, " status:{st}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use drbd::State;

    fn updates(text: &str) -> Vec<PluginUpdate> {
        let mut state = State::new();
        let mut out = Vec::new();
        for line in text.lines() {
            state.apply(drbd::parse_line(line).unwrap().event, &mut out);
        }
        out
    }

    const DUMP: &str = "exists resource name:r0 role:Secondary suspended:no write-ordering:flush may_promote:no promotion_score:10102\n\
exists device name:r0 volume:0 minor:1 backing_dev:/dev/vg/r0 disk:UpToDate client:no open:no quorum:yes size:1024 read:0 written:0 al-writes:0 bm-writes:0 upper-pending:0 lower-pending:0 al-suspended:no blocked:no\n\
exists -\n\
change device name:r0 volume:0 minor:1 disk:Inconsistent client:no open:no quorum:yes size:1024 read:0 written:0 al-writes:0 bm-writes:0 upper-pending:0 lower-pending:0 al-suspended:no blocked:no\n";

    #[test]
    fn verbose_dump_names_kind_event_resource_identity_old_new_and_the_snapshot() {
        let u = updates(DUMP);
        let text = render(Format::Verbose, &u[1]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Device Exists r0 volume:0");
        assert!(lines[1].starts_with("  old: ") && lines[1].contains("disk-state:DUnknown"));
        assert!(lines[2].starts_with("  new: ") && lines[2].contains("disk-state:UpToDate"));
        assert_eq!(lines[3], "  resource:");
        assert!(lines[4].starts_with("    exists resource name:r0 role:Secondary"));
        assert!(lines[5].starts_with("    exists device name:r0 volume:0"));
    }

    #[test]
    fn compact_format_is_one_line_with_only_the_changed_fields() {
        let u = updates(DUMP);
        assert_eq!(
            render(Format::Compact, &u[2]),
            "Device Change r0 volume:0 disk-state:UpToDate->Inconsistent"
        );
        assert_eq!(
            render(Format::Compact, &u[0]),
            "Resource Exists r0 promotion-score:0->10102 role:Unknown->Secondary"
        );
    }

    #[test]
    fn config_defaults_to_verbose_and_reads_compact() {
        let c: DebuggerConfig = toml::from_str("").unwrap();
        assert_eq!(c, DebuggerConfig::default());
        let c: DebuggerConfig = toml::from_str("format = \"compact\"").unwrap();
        assert_eq!(c.format, Format::Compact);
        assert!(toml::from_str::<DebuggerConfig>("format = \"json\"").is_err());
    }
}
