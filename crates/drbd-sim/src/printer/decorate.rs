//! `--diff` (`key:old->new`) and `--color` (ANSI codes around state values): drbdsetup's
//! decorations of an already printed line. Values come from the `drbd` printer; this only
//! rearranges `key:value` tokens.
//!
//! Must never: change which keys a line carries (except `quorum` on `--diff` create lines,
//! which drbdsetup leaves out there).

use crate::view::NodeView;
use drbd::event::{Event, EventType, ObjectLine};
use drbd::Line;

/// The decorations of one events2 invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decor {
    pub diff: bool,
    pub color: bool,
}

/// The object a line is about, as it was in `prev` (drbdsetup's copy before the change).
pub fn previous(prev: &NodeView, line: &Line) -> Option<ObjectLine> {
    let Event::Object { object, .. } = &line.event else {
        return None;
    };
    let r = prev.get(object.resource_name())?;
    Some(match object {
        ObjectLine::Resource(_) => ObjectLine::Resource(r.resource.clone()),
        ObjectLine::Device(d) => ObjectLine::Device(r.devices.get(&d.volume)?.clone()),
        ObjectLine::Connection(c) => {
            ObjectLine::Connection(r.connections.get(&c.peer_node_id)?.conn.clone())
        }
        ObjectLine::PeerDevice(p) => ObjectLine::PeerDevice(
            r.connections
                .get(&p.peer_node_id)?
                .peer_devices
                .get(&p.volume)?
                .clone(),
        ),
        ObjectLine::Path(p) => ObjectLine::Path(
            r.connections
                .get(&p.peer_node_id)?
                .paths
                .iter()
                .find(|x| x.local == p.local && x.peer == p.peer)?
                .clone(),
        ),
    })
}

/// Number of identifying keys at the start of a line of this kind.
fn identity_keys(o: &ObjectLine) -> usize {
    match o {
        ObjectLine::Resource(_) => 1,
        ObjectLine::Device(_) => 3,
        ObjectLine::Connection(_) => 3,
        ObjectLine::PeerDevice(_) => 4,
        ObjectLine::Path(_) => 5,
    }
}

/// Keys drbdsetup prints without an arrow when their value did not change.
const PLAIN_IF_SAME: &[&str] = &["client", "open", "quorum", "peer-client"];

fn color_code(key: &str, value: &str) -> Option<&'static str> {
    match (key, value) {
        ("role", "Primary") => Some("1;36"),
        ("disk", "UpToDate") => Some("1;32"),
        ("disk", "Diskless" | "Failed") => Some("1;31"),
        ("peer-disk", "UpToDate") => Some("32"),
        ("connection", "StandAlone") => Some("1;31"),
        _ => None,
    }
}

/// The text of `line` with the decorations; `old` is the object before the change.
pub fn render(line: &Line, old: Option<&ObjectLine>, decor: Decor) -> String {
    let text = line.to_string();
    let Event::Object { event_type, object } = &line.event else {
        return text;
    };
    if (!decor.diff && !decor.color) || *event_type == EventType::Destroy {
        return text;
    }
    let (prefix, body) = match &line.timestamp {
        Some(ts) => text.split_at(ts.len() + 1),
        None => ("", text.as_str()),
    };
    let mut tokens = body.split(' ');
    let mut out = String::from(prefix);
    out.push_str(tokens.next().unwrap_or_default());
    out.push(' ');
    out.push_str(tokens.next().unwrap_or_default());
    let old_text = old.map(|o| {
        Line::new(
            None,
            Event::Object {
                event_type: EventType::Change,
                object: o.clone(),
            },
        )
        .to_string()
    });
    let old_value = |key: &str| -> Option<String> {
        old_text.as_deref()?.split(' ').skip(2).find_map(|t| {
            let (k, v) = t.split_once(':')?;
            (k == key).then(|| v.to_string())
        })
    };
    for (i, token) in tokens.enumerate() {
        let Some((key, value)) = token.split_once(':') else {
            continue;
        };
        let shown = if i < identity_keys(object) {
            token.to_string()
        } else if decor.diff {
            let before = match old {
                None if key == "quorum" => continue,
                None if key == "promotion_score" => "0".to_string(),
                None => "UNKNOWN".to_string(),
                Some(_) => old_value(key).unwrap_or_else(|| "UNKNOWN".into()),
            };
            if old.is_some() && before == value && PLAIN_IF_SAME.contains(&key) {
                token.to_string()
            } else {
                format!("{key}:{before}->{value}")
            }
        } else {
            match color_code(key, value) {
                Some(c) => format!("{key}:\x1b[{c}m{value}\x1b[0m"),
                None => token.to_string(),
            }
        };
        out.push(' ');
        out.push_str(&shown);
    }
    out
}
