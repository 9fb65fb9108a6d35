//! `drbdsetup status` (text and `--json`) and `drbdsetup show --json --show-defaults`,
//! rendered from a node's view and options.
//!
//! Must never: change the cluster; it only reads a view.

use crate::config::ResourceOptions;
use crate::view::ResView;
use drbd::vocab::*;
use serde_json::{json, Value};

/// The text of `drbdsetup status RES` for one resource (ends with a blank line).
pub fn text(r: &ResView) -> String {
    let res = &r.resource;
    let mut s = format!("{} role:{}", res.name, res.role.unwrap_or_default());
    let susp = res.suspended.unwrap_or_default();
    if susp.any() {
        s.push_str(&format!(" suspended:{susp}"));
    }
    if res.force_io_failures == Some(true) {
        s.push_str(" force-io-failures:yes");
    }
    s.push('\n');
    let multi = r.devices.len() > 1 || r.devices.keys().any(|v| *v != 0);
    for d in r.devices.values() {
        s.push_str("  ");
        if multi {
            s.push_str(&format!("volume:{} ", d.volume));
        }
        s.push_str(&format!("disk:{}", d.disk.unwrap_or_default()));
        if d.client == Some(Tristate::Yes) {
            s.push_str(" client:yes");
        }
        if d.open == Some(Tristate::Yes) {
            s.push_str(" open:yes");
        }
        if d.quorum == Some(false) {
            s.push_str(" quorum:no");
        }
        s.push('\n');
    }
    for c in r.connections.values() {
        let cs = c.conn.connection.unwrap_or_default();
        if cs == ConnectionState::Connected {
            s.push_str(&format!(
                "  {} role:{}\n",
                c.conn.conn_name,
                c.conn.role.unwrap_or_default()
            ));
        } else {
            s.push_str(&format!("  {} connection:{cs}\n", c.conn.conn_name));
        }
        if cs != ConnectionState::Connected {
            continue;
        }
        for pd in c.peer_devices.values() {
            s.push_str("    ");
            if multi {
                s.push_str(&format!("volume:{} ", pd.volume));
            }
            let repl = pd.replication.unwrap_or_default();
            if repl != ReplicationState::Established {
                s.push_str(&format!("replication:{repl} "));
            }
            s.push_str(&format!("peer-disk:{}", pd.peer_disk.unwrap_or_default()));
            if pd.peer_client == Some(Tristate::Yes) {
                s.push_str(" peer-client:yes");
            }
            if let Some(done) = pd.progress.as_ref().and_then(|p| p.done) {
                s.push_str(&format!(" done:{done}"));
            }
            s.push('\n');
        }
    }
    s.push('\n');
    s
}

/// One resource of `drbdsetup status --json`.
pub fn json(r: &ResView, node_id: u32) -> Value {
    let res = &r.resource;
    let devices: Vec<Value> = r
        .devices
        .values()
        .map(|d| {
            json!({
                "volume": d.volume,
                "minor": d.minor,
                "disk-state": d.disk.unwrap_or_default().as_str(),
                "client": d.client == Some(Tristate::Yes),
                "open": d.open == Some(Tristate::Yes),
                "quorum": d.quorum == Some(true),
                "size": d.size,
                "read": d.read,
                "written": d.written,
                "al-writes": d.al_writes,
                "bm-writes": d.bm_writes,
                "upper-pending": d.upper_pending,
                "lower-pending": d.lower_pending,
            })
        })
        .collect();
    let connections: Vec<Value> = r
        .connections
        .values()
        .map(|c| {
            let pds: Vec<Value> = c
                .peer_devices
                .values()
                .map(|pd| {
                    let p = pd.progress.as_deref();
                    json!({
                        "volume": pd.volume,
                        "replication-state": pd.replication.unwrap_or_default().as_str(),
                        "peer-disk-state": pd.peer_disk.unwrap_or_default().as_str(),
                        "peer-client": pd.peer_client == Some(Tristate::Yes),
                        "resync-suspended": pd.resync_suspended.unwrap_or_default().to_string(),
                        "received": pd.received,
                        "sent": pd.sent,
                        "out-of-sync": pd.out_of_sync,
                        "pending": pd.pending,
                        "unacked": pd.unacked,
                        "has-sync-details": p.is_some(),
                        "has-online-verify-details": false,
                        "percent-in-sync": p.and_then(|p| p.done).map_or(100.0, |d| d.as_f64()),
                    })
                })
                .collect();
            json!({
                "peer-node-id": c.conn.peer_node_id,
                "name": c.conn.conn_name,
                "connection-state": c.conn.connection.unwrap_or_default().as_str(),
                "congested": false,
                "peer-role": c.conn.role.unwrap_or_default().as_str(),
                "tls": false,
                "ap-in-flight": c.conn.ap_in_flight,
                "rs-in-flight": c.conn.rs_in_flight,
                "peer_devices": pds,
            })
        })
        .collect();
    json!({
        "name": res.name,
        "node-id": node_id,
        "role": res.role.unwrap_or_default().as_str(),
        "suspended": res.suspended.unwrap_or_default().any(),
        "suspended-user": false,
        "suspended-no-data": res.suspended.unwrap_or_default().no_data,
        "suspended-fencing": false,
        "suspended-quorum": res.suspended.unwrap_or_default().quorum,
        "force-io-failures": res.force_io_failures == Some(true),
        "write-ordering": "flush",
        "devices": devices,
        "connections": connections,
    })
}

/// `drbdsetup show --json --show-defaults RES` (the keys the promoter reads, and a few more).
pub fn show(r: &ResView, node_id: u32, opts: &ResourceOptions) -> Value {
    let volumes: Vec<Value> = r
        .devices
        .values()
        .map(|d| {
            json!({
                "volume_nr": d.volume,
                "device_minor": d.minor,
                "backing-disk": d.backing_dev.as_ref().map(|b| b.to_string()).unwrap_or_else(|| "none".into()),
                "meta-disk": "internal",
            })
        })
        .collect();
    let mut o = json!({
        "resource": r.resource.name,
        "_this_host": { "node-id": node_id, "volumes": volumes },
        "options": {
            "cpu-mask": "",
            "on-no-data-accessible": opts.on_no_data_accessible.as_str(),
            "auto-promote": opts.auto_promote,
            "peer-ack-window": "4096s",
            "peer-ack-delay": 100,
            "twopc-timeout": 300,
            "twopc-retry-timeout": 1,
            "auto-promote-timeout": 20,
            "max-io-depth": 8000,
            "quorum": opts.quorum,
            "on-no-quorum": opts.on_no_quorum.as_str(),
            "quorum-minimum-redundancy": "off",
            "on-suspended-primary-outdated": opts.on_suspended_primary_outdated,
        },
    });
    if !r.connections.is_empty() {
        let conns: Vec<Value> = r
            .connections
            .values()
            .map(|c| {
                let p = &c.paths[0];
                json!({
                    "_peer_node_id": c.conn.peer_node_id,
                    "path": { "_this_host": p.local.to_string(), "_remote_host": p.peer.to_string() },
                    "net": {
                        "_name": c.conn.conn_name,
                        "transport": "tcp",
                        "protocol": "C",
                        "fencing": opts.fencing,
                        "rr-conflict": opts.rr_conflict,
                        "after-sb-0pri": "disconnect",
                        "after-sb-1pri": "disconnect",
                        "after-sb-2pri": "disconnect",
                        "allow-two-primaries": false,
                    },
                    "volumes": r.devices.keys().map(|v| json!({"volume_nr": v, "disk": {}})).collect::<Vec<_>>(),
                })
            })
            .collect();
        o["connections"] = Value::Array(conns);
    }
    Value::Array(vec![o])
}
