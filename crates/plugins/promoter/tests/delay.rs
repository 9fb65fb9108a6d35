//! The promotion delay of spec §6.5, including the original's golden table.

mod common;
use common::*;
use drbd::vocab::{ConnectionState, DiskState, Role};
use drbd_reactor_promoter::config::{QuorumLoss, ResourceConfig};
use drbd_reactor_promoter::policy::delay::{disk_seconds, preference_position, promotion_delay};
use drbd_reactor_promoter::policy::SplitBrainPolicy::{self, Fencing, Quorum};
use std::time::Duration;

/// The golden test's resource: volumes Diskless/Failed/UpToDate, one connection in
/// NetworkFailure.
fn golden(role: Role) -> drbd::Resource {
    let mut p = peer(1, "beta");
    p.conn = ConnectionState::NetworkFailure;
    View {
        role,
        may_promote: true,
        disks: vec![DiskState::Diskless, DiskState::Failed, DiskState::UpToDate],
        quorum: true,
        peers: vec![p],
    }
    .resource("r0")
}

fn ms(policy: SplitBrainPolicy, loss: QuorumLoss, role: Role, factor: u32, prefs: &[&str]) -> u128 {
    let cfg = ResourceConfig {
        on_quorum_loss: loss,
        sleep_before_promote_factor: factor,
        preferred_nodes: prefs.iter().map(|s| s.to_string()).collect(),
        fencing_promote_delay: 5,
        ..ResourceConfig::default()
    };
    promotion_delay(&cfg, policy, &golden(role), Some("me"), false).as_millis()
}

#[test]
fn golden_table_of_the_original() {
    assert_eq!(
        ms(Quorum, QuorumLoss::Shutdown, Role::Unknown, 1, &[]),
        6000
    );
    assert_eq!(
        ms(Quorum, QuorumLoss::Freeze, Role::Secondary, 1, &[]),
        8000
    );
    assert_eq!(
        ms(Quorum, QuorumLoss::Shutdown, Role::Secondary, 2, &[]),
        12000
    );
    assert_eq!(
        ms(Fencing, QuorumLoss::Shutdown, Role::Secondary, 1, &[]),
        11000
    );
    assert_eq!(
        ms(
            Quorum,
            QuorumLoss::Shutdown,
            Role::Secondary,
            1,
            &["", "", "me", ""]
        ),
        8000
    );
    assert_eq!(
        ms(
            Quorum,
            QuorumLoss::Shutdown,
            Role::Secondary,
            1,
            &["", "", ""]
        ),
        9000
    );
}

#[test]
fn disk_states_add_the_specified_seconds() {
    use DiskState::*;
    for (d, s) in [
        (Diskless, 6),
        (Attaching, 6),
        (Detaching, 6),
        (Failed, 6),
        (Negotiating, 6),
        (DUnknown, 6),
        (Inconsistent, 3),
        (Outdated, 2),
        (Consistent, 1),
        (UpToDate, 0),
    ] {
        assert_eq!(disk_seconds(d), s, "{d:?}");
    }
}

#[test]
fn factor_zero_disables_every_delay() {
    assert_eq!(
        ms(Fencing, QuorumLoss::Freeze, Role::Secondary, 0, &["x"]),
        0
    );
}

#[test]
fn preference_position_is_index_or_length_and_zero_when_unknown() {
    let p: Vec<String> = vec!["a".into(), "b".into()];
    assert_eq!(preference_position(&p, Some("b")), 1);
    assert_eq!(preference_position(&p, Some("z")), 2);
    assert_eq!(preference_position(&p, None), 0);
    assert_eq!(preference_position(&[], Some("a")), 0);
}

#[test]
fn no_volumes_yet_uses_the_configured_backing_devices() {
    let cfg = ResourceConfig::default();
    let r = drbd::Resource::new("r0");
    assert_eq!(
        promotion_delay(&cfg, Quorum, &r, None, true),
        Duration::from_secs(6)
    );
    assert_eq!(
        promotion_delay(&cfg, Quorum, &r, None, false),
        Duration::ZERO
    );
}

#[test]
fn fencing_without_connections_adds_nothing() {
    let cfg = ResourceConfig::default();
    let mut v = secondary();
    v.peers.clear();
    assert_eq!(
        promotion_delay(&cfg, Fencing, &v.resource("r0"), None, false),
        Duration::ZERO
    );
}
