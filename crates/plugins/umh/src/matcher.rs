//! Which rules of a `[[umh]]` instance fire for an update, and with what environment
//! (umh spec §4). Every filter a rule sets must hold; an unset filter is "don't care".
//!
//! Must never: run anything (the runner does), or stop at the first match.

use crate::env::{command_env, helper_env, object_env, Env};
use crate::pattern::holds;
use crate::rules::*;
use drbd::update::{Change, HelperUpdate, ObjectUpdate, PluginUpdate};

/// A command to run because a rule matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub rule_name: String,
    pub command: String,
    pub env: Env,
    pub timeout_secs: Option<u64>,
}

/// The invocations `update` causes under `config`, in rule order.
pub fn invocations(config: &UmhConfig, update: &PluginUpdate) -> Vec<Invocation> {
    match update {
        PluginUpdate::Object(u) => object_invocations(config, u),
        PluginUpdate::Helper(h) => helper_invocations(config, h),
    }
}

fn invocation(
    name: &str,
    command: &str,
    timeout: Option<u64>,
    env: Env,
    user: &std::collections::BTreeMap<String, String>,
) -> Invocation {
    Invocation {
        rule_name: name.to_string(),
        command: command.to_string(),
        env: command_env(env, user),
        timeout_secs: timeout,
    }
}

fn object_invocations(config: &UmhConfig, u: &ObjectUpdate) -> Vec<Invocation> {
    let mut out = Vec::new();
    let res: &str = &u.resource.name;
    let mut env: Option<Env> = None;
    let mut fire = |name: &str, command: &str, timeout, user: &_, out: &mut Vec<Invocation>| {
        let e = env.get_or_insert_with(|| object_env(u)).clone();
        out.push(invocation(name, command, timeout, e, user));
    };
    match &u.change {
        Change::Resource(d) => {
            for r in &config.resource {
                let ok = holds(&r.event_type, &u.event_type)
                    && holds(&r.resource_name, res)
                    && [(&r.old, &d.old), (&r.new, &d.new)].iter().all(|(f, s)| {
                        f.as_ref().is_none_or(|f| {
                            holds(&f.role, &s.role)
                                && holds(&f.may_promote, &s.may_promote)
                                && holds(&f.promotion_score, &s.promotion_score)
                        })
                    });
                if ok {
                    fire(&r.name, &r.command, r.timeout, &r.env, &mut out);
                }
            }
        }
        Change::Device { volume, diff: d } => {
            for r in &config.device {
                let ok = holds(&r.event_type, &u.event_type)
                    && holds(&r.resource_name, res)
                    && holds(&r.volume, volume)
                    && [(&r.old, &d.old), (&r.new, &d.new)].iter().all(|(f, s)| {
                        f.as_ref().is_none_or(|f| {
                            holds(&f.disk_state, &s.disk_state)
                                && holds(&f.client, &s.client)
                                && holds(&f.quorum, &s.quorum)
                                && holds(&f.open, &s.open)
                                && holds(&f.size, &s.size)
                        })
                    });
                if ok {
                    fire(&r.name, &r.command, r.timeout, &r.env, &mut out);
                }
            }
        }
        Change::PeerDevice {
            volume,
            peer_node_id,
            diff: d,
        } => {
            for r in &config.peerdevice {
                let ok = holds(&r.event_type, &u.event_type)
                    && holds(&r.resource_name, res)
                    && holds(&r.volume, volume)
                    && holds(&r.peer_node_id, peer_node_id)
                    && [(&r.old, &d.old), (&r.new, &d.new)].iter().all(|(f, s)| {
                        f.as_ref().is_none_or(|f| {
                            holds(&f.replication_state, &s.replication_state)
                                && holds(&f.peer_disk_state, &s.peer_disk_state)
                                && holds(&f.peer_client, &s.peer_client)
                                && holds(&f.resync_suspended, &s.resync_suspended)
                        })
                    });
                if ok {
                    fire(&r.name, &r.command, r.timeout, &r.env, &mut out);
                }
            }
        }
        Change::Connection {
            peer_node_id,
            diff: d,
        } => {
            for r in &config.connection {
                let ok = holds(&r.event_type, &u.event_type)
                    && holds(&r.resource_name, res)
                    && holds(&r.peer_node_id, peer_node_id)
                    && [(&r.old, &d.old), (&r.new, &d.new)].iter().all(|(f, s)| {
                        f.as_ref().is_none_or(|f| {
                            holds(&f.conn_name, &*s.conn_name)
                                && holds(&f.connection_state, &s.connection_state)
                                && holds(&f.peer_role, &s.peer_role)
                                && holds(&f.congested, &s.congested)
                        })
                    });
                if ok {
                    fire(&r.name, &r.command, r.timeout, &r.env, &mut out);
                }
            }
        }
    }
    out
}

fn helper_invocations(config: &UmhConfig, h: &HelperUpdate) -> Vec<Invocation> {
    let mut out = Vec::new();
    for r in &config.helper {
        let opt_holds = |f: &Option<crate::pattern::Pattern<crate::pattern::Int>>,
                         v: Option<u32>| match (f, v) {
            (None, _) => true,
            (Some(p), Some(v)) => p.matches(&v),
            (Some(p), None) => p.matches_absent(),
        };
        let exit_code = h.decoded_status().and_then(|s| s.exit_code());
        // Only a response has a result: `exit-code != 0` is for a helper that failed, which
        // includes one killed by a signal or that could not start (no exit code at all); a
        // call line matches no exit-code filter.
        let responded = h.status.is_some();
        let ok = holds(&r.resource_name, &h.resource_name)
            && holds(&r.phase, &h.phase)
            && holds(&r.helper, &h.helper)
            && opt_holds(&r.volume, h.volume)
            && opt_holds(&r.peer_node_id, h.peer_node_id)
            && match (&r.exit_code, exit_code) {
                (None, _) => true,
                (Some(p), Some(c)) => p.matches(&c),
                (Some(p), None) => responded && p.matches_absent(),
            };
        if ok {
            out.push(invocation(
                &r.name,
                &r.command,
                r.timeout,
                helper_env(h),
                &r.env,
            ));
        }
    }
    out
}
