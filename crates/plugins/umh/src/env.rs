//! The DRBD_* environment of a umh command (umh spec §5), derived from one update.
//!
//! Values reach commands only through the environment, never through the shell's text.
//! Must never: omit a documented variable (the original did: Q10), or change a name or value
//! format of one it did set.

use drbd::event::HelperPhase;
use drbd::update::{Change, HelperUpdate, ObjectUpdate};
use drbd::Resource;

pub type Env = Vec<(String, String)>;

fn b(v: bool) -> String {
    if v { "true" } else { "false" }.to_string()
}

fn set(env: &mut Env, k: &str, v: impl Into<String>) {
    env.push((k.to_string(), v.into()));
}

/// `DRBD_MINOR[_<vol>]` and `DRBD_BACKING_DEV[_<vol>]` of the local device with `volume`.
fn local_device(env: &mut Env, r: &Resource, volume: u32) {
    if let Some(d) = r.device(volume) {
        let minor = d.minor.to_string();
        let backing = d.backing_dev.clone().unwrap_or_else(|| "none".into());
        set(env, "DRBD_MINOR", minor.clone());
        set(env, &format!("DRBD_MINOR_{volume}"), minor);
        set(env, "DRBD_BACKING_DEV", backing.clone());
        set(env, &format!("DRBD_BACKING_DEV_{volume}"), backing);
    }
}

/// The variables for an object update, in a stable order.
pub fn object_env(u: &ObjectUpdate) -> Env {
    let mut env = Env::new();
    set(&mut env, "DRBD_RES_NAME", u.resource.name.to_string());
    match &u.change {
        Change::Resource(d) => {
            set(&mut env, "DRBD_OLD_ROLE", d.old.role.as_str());
            set(&mut env, "DRBD_NEW_ROLE", d.new.role.as_str());
            set(&mut env, "DRBD_OLD_MAY_PROMOTE", b(d.old.may_promote));
            set(&mut env, "DRBD_NEW_MAY_PROMOTE", b(d.new.may_promote));
            set(
                &mut env,
                "DRBD_OLD_PROMOTION_SCORE",
                d.old.promotion_score.to_string(),
            );
            set(
                &mut env,
                "DRBD_NEW_PROMOTION_SCORE",
                d.new.promotion_score.to_string(),
            );
        }
        Change::Device { volume, diff: d } => {
            local_device(&mut env, &u.resource, *volume);
            set(&mut env, "DRBD_VOLUME", volume.to_string());
            set(&mut env, "DRBD_OLD_DISK_STATE", d.old.disk_state.as_str());
            set(&mut env, "DRBD_NEW_DISK_STATE", d.new.disk_state.as_str());
            set(&mut env, "DRBD_OLD_CLIENT", b(d.old.client));
            set(&mut env, "DRBD_NEW_CLIENT", b(d.new.client));
            set(&mut env, "DRBD_OLD_QUORUM", b(d.old.quorum));
            set(&mut env, "DRBD_NEW_QUORUM", b(d.new.quorum));
            set(&mut env, "DRBD_OLD_OPEN", b(d.old.open));
            set(&mut env, "DRBD_NEW_OPEN", b(d.new.open));
        }
        Change::PeerDevice {
            volume,
            peer_node_id,
            diff: d,
        } => {
            local_device(&mut env, &u.resource, *volume);
            set(&mut env, "DRBD_VOLUME", volume.to_string());
            set(&mut env, "DRBD_PEER_NODE_ID", peer_node_id.to_string());
            set(
                &mut env,
                "DRBD_OLD_PEER_REPLICATION_STATE",
                d.old.replication_state.as_str(),
            );
            set(
                &mut env,
                "DRBD_NEW_PEER_REPLICATION_STATE",
                d.new.replication_state.as_str(),
            );
            set(
                &mut env,
                "DRBD_OLD_PEER_DISK_STATE",
                d.old.peer_disk_state.as_str(),
            );
            set(
                &mut env,
                "DRBD_NEW_PEER_DISK_STATE",
                d.new.peer_disk_state.as_str(),
            );
            set(&mut env, "DRBD_OLD_PEER_CLIENT", b(d.old.peer_client));
            set(&mut env, "DRBD_NEW_PEER_CLIENT", b(d.new.peer_client));
            set(
                &mut env,
                "DRBD_OLD_PEER_RESYNC_SUSPENDED",
                b(d.old.resync_suspended),
            );
            set(
                &mut env,
                "DRBD_NEW_PEER_RESYNC_SUSPENDED",
                b(d.new.resync_suspended),
            );
        }
        Change::Connection {
            peer_node_id,
            diff: d,
        } => {
            set(&mut env, "DRBD_PEER_NODE_ID", peer_node_id.to_string());
            set(&mut env, "DRBD_CSTATE", d.new.connection_state.as_str());
            set(&mut env, "DRBD_OLD_CONN_NAME", d.old.conn_name.to_string());
            set(&mut env, "DRBD_NEW_CONN_NAME", d.new.conn_name.to_string());
            set(
                &mut env,
                "DRBD_OLD_CONN_STATE",
                d.old.connection_state.as_str(),
            );
            set(
                &mut env,
                "DRBD_NEW_CONN_STATE",
                d.new.connection_state.as_str(),
            );
            set(&mut env, "DRBD_OLD_PEER_ROLE", d.old.peer_role.as_str());
            set(&mut env, "DRBD_NEW_PEER_ROLE", d.new.peer_role.as_str());
            set(&mut env, "DRBD_OLD_CONGESTED", b(d.old.congested));
            set(&mut env, "DRBD_NEW_CONGESTED", b(d.new.congested));
        }
    }
    env
}

/// The variables for a kernel helper event, named after what DRBD passes to its helpers.
pub fn helper_env(h: &HelperUpdate) -> Env {
    let mut env = Env::new();
    set(&mut env, "DRBD_RESOURCE", h.resource_name.clone());
    set(&mut env, "DRBD_RES_NAME", h.resource_name.clone());
    set(&mut env, "DRBD_HELPER", h.helper.clone());
    set(
        &mut env,
        "DRBD_HELPER_PHASE",
        match h.phase {
            HelperPhase::Call => "call",
            HelperPhase::Response => "response",
        },
    );
    if let Some(v) = h.volume {
        set(&mut env, "DRBD_VOLUME", v.to_string());
    }
    if let Some(m) = h.minor {
        set(&mut env, "DRBD_MINOR", m.to_string());
    }
    if let Some(p) = h.peer_node_id {
        set(&mut env, "DRBD_PEER_NODE_ID", p.to_string());
    }
    if let Some(c) = &h.conn_name {
        set(&mut env, "DRBD_CONN_NAME", c.clone());
    }
    if let Some(raw) = h.status {
        set(&mut env, "DRBD_HELPER_STATUS_RAW", raw.to_string());
        match h.decoded_status() {
            Some(drbd::event::HelperStatus::Exited(code)) => {
                set(&mut env, "DRBD_HELPER_STATUS", code.to_string())
            }
            Some(drbd::event::HelperStatus::Signaled(sig)) => {
                set(&mut env, "DRBD_HELPER_SIGNAL", sig.to_string())
            }
            Some(drbd::event::HelperStatus::StartFailed(errno)) => {
                set(&mut env, "DRBD_HELPER_ERRNO", errno.to_string())
            }
            None => {}
        }
    }
    if let (Some(r), Some(v)) = (&h.resource, h.volume) {
        if let Some(d) = r.device(v) {
            set(
                &mut env,
                "DRBD_BACKING_DEV",
                d.backing_dev.clone().unwrap_or_else(|| "none".into()),
            );
        }
    }
    env
}

/// The whole environment of a command: the DRBD variables, the fixed ones, then the rule's
/// own `env`, which wins (as the umh manual promises; the original let the fixed ones win).
pub fn command_env(drbd: Env, user: &std::collections::BTreeMap<String, String>) -> Env {
    let mut env = drbd;
    for (k, v) in [
        ("HOME", "/"),
        ("TERM", "Linux"),
        ("PATH", "/sbin:/usr/sbin:/bin:/usr/bin"),
    ] {
        env.push((k.into(), v.into()));
    }
    for (k, v) in user {
        env.retain(|(ek, _)| ek != k);
        env.push((k.clone(), v.clone()));
    }
    env
}
