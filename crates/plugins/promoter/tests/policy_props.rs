//! Random update, timer and outcome sequences against one policy machine: whatever happens,
//! no start is issued while a stop is pending, at most one start is outstanding, no start is
//! issued while a peer is seen Primary, and nothing is done after exit finished.

mod common;
use common::*;
use drbd::vocab::{DiskState, Role};
use drbd::EventType;
use drbd_reactor_promoter::config::*;
use drbd_reactor_promoter::policy::{Action, Machine, Outcome, SplitBrainPolicy};
use proptest::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
enum Step {
    View {
        may_promote: bool,
        primary: bool,
        quorum: bool,
        disk: u8,
        peer_primary: bool,
        peer_uptodate: bool,
    },
    Advance(u16),
    FinishStart(bool),
    FinishStop(bool),
    Probe(bool),
    Destroy,
    Exit,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (any::<bool>(), any::<bool>(), any::<bool>(), 0u8..4, prop::bool::weighted(0.2), any::<bool>()).prop_map(
            |(may_promote, primary, quorum, disk, peer_primary, peer_uptodate)| Step::View { may_promote, primary, quorum, disk, peer_primary, peer_uptodate }
        ),
        3 => (0u16..90).prop_map(Step::Advance),
        2 => any::<bool>().prop_map(Step::FinishStart),
        2 => any::<bool>().prop_map(Step::FinishStop),
        1 => any::<bool>().prop_map(Step::Probe),
        1 => Just(Step::Destroy),
        1 => prop::bool::weighted(0.1).prop_map(|_| Step::Exit),
    ]
}

fn config() -> impl Strategy<Value = ResourceConfig> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(freeze, failover, prefs, exit_stop)| ResourceConfig {
            start: vec!["a.service".into(), "b.service".into()],
            on_quorum_loss: if freeze {
                QuorumLoss::Freeze
            } else {
                QuorumLoss::Shutdown
            },
            on_disk_detach: if failover {
                DiskDetach::FailOver
            } else {
                DiskDetach::Ignore
            },
            preferred_nodes: if prefs {
                vec!["beta".into(), "alpha".into()]
            } else {
                vec![]
            },
            stop_services_on_exit: exit_stop,
            adjust_resource_on_start: false,
            ..ResourceConfig::default()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]
    #[test]
    fn no_start_while_a_stop_is_pending_and_never_two_starts(cfg in config(), steps in prop::collection::vec(step(), 1..80)) {
        let t0 = Instant::now();
        let mut now = t0;
        let (mut m, _) = Machine::new("r0", Arc::new(cfg), Some("alpha".into()), now);
        m.on_outcome(now, Outcome::BackingDevices(Ok(vec![])));
        m.on_outcome(now, Outcome::Policy(Ok(SplitBrainPolicy::Quorum)));
        let mut view = secondary();
        let mut started = false;
        let mut starts: Vec<u64> = Vec::new();
        let mut stops: Vec<u64> = Vec::new();
        let mut exited_finished = false;
        for s in steps {
            let actions = match s {
                Step::View { may_promote, primary, quorum, disk, peer_primary, peer_uptodate } => {
                    view.may_promote = may_promote;
                    view.role = if primary { Role::Primary } else { Role::Secondary };
                    view.quorum = quorum;
                    view.disks = vec![[DiskState::UpToDate, DiskState::Outdated, DiskState::Diskless, DiskState::Inconsistent][disk as usize]];
                    view.peer("beta").role = if peer_primary { Role::Primary } else { Role::Secondary };
                    view.peer("beta").disks = vec![if peer_uptodate { DiskState::UpToDate } else { DiskState::Outdated }];
                    let et = if started { EventType::Change } else { EventType::Exists };
                    started = true;
                    m.on_update(now, &update(view.resource("r0"), et))
                }
                Step::Advance(s) => {
                    let end = now + Duration::from_secs(s.into());
                    let mut all = Vec::new();
                    while let Some(t) = m.next_deadline().filter(|t| *t <= end) {
                        now = t.max(now);
                        all.extend(m.on_timer(now));
                    }
                    now = end;
                    all
                }
                Step::FinishStart(ok) => match starts.pop() {
                    Some(id) => m.on_outcome(now, Outcome::Started { id, result: if ok { Ok(()) } else { Err("x".into()) } }),
                    None => vec![],
                },
                // Stops run in the resource's command lane, in order.
                Step::FinishStop(ok) => match (!stops.is_empty()).then(|| stops.remove(0)) {
                    Some(id) => m.on_outcome(now, Outcome::Stopped { id, result: if ok { Ok(()) } else { Err("x".into()) } }),
                    None => vec![],
                },
                Step::Probe(active) => m.on_outcome(now, Outcome::Probed(Ok(active))),
                Step::Destroy => {
                    let mut u = update(view.resource("r0"), EventType::Destroy);
                    u.event_type = EventType::Destroy;
                    started = false;
                    m.on_update(now, &u)
                }
                Step::Exit => m.on_exit(now),
            };
            if exited_finished {
                prop_assert!(actions.is_empty(), "acted after exit: {actions:?}");
            }
            for a in actions {
                match a {
                    Action::Start { id } => {
                        prop_assert!(stops.is_empty(), "start {id} while stop {stops:?} pending");
                        prop_assert!(starts.is_empty(), "start {id} while start {starts:?} outstanding");
                        prop_assert!(view.peers.iter().all(|p| p.role != Role::Primary), "start while a peer is Primary");
                        starts.push(id);
                    }
                    Action::Stop { id } => {
                        // A stop supersedes an outstanding start; that start's outcome is stale.
                        stops.push(id);
                    }
                    _ => {}
                }
            }
            if m.finished() {
                exited_finished = true;
            }
        }
    }
}
