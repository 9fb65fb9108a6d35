//! Cluster scenarios over the library API: quorum, arbitration, resync and the I/O policy
//! after quorum loss, checked through what each node's kernel reports.

use drbd::vocab::*;
use drbd_sim::config::{ClusterConfig, OnNoQuorum};
use drbd_sim::model::Cluster;
use drbd_sim::view::ResView;

fn three() -> Cluster {
    Cluster::new(ClusterConfig::simple(&["alpha", "beta", "gamma"], "r0"))
}

fn res(c: &Cluster, node: &str) -> ResView {
    c.view(node).remove("r0").expect("r0 is up")
}

fn disk(c: &Cluster, node: &str) -> DiskState {
    res(c, node).devices[&0].disk.unwrap()
}

#[test]
fn a_fresh_cluster_is_connected_uptodate_and_everyone_may_promote() {
    let c = three();
    for n in ["alpha", "beta", "gamma"] {
        let r = res(&c, n);
        assert_eq!(r.resource.may_promote, Some(true), "{n}");
        assert_eq!(r.resource.promotion_score, Some(10103));
        assert!(r
            .connections
            .values()
            .all(|x| x.conn.connection == Some(ConnectionState::Connected)));
    }
}

#[test]
fn partitioning_one_node_away_takes_its_quorum_and_the_other_two_may_promote() {
    let mut c = three();
    c.partition(&["gamma"]).unwrap();
    let g = res(&c, "gamma");
    assert_eq!(g.devices[&0].quorum, Some(false));
    assert_eq!(g.resource.may_promote, Some(false));
    assert_eq!(disk(&c, "gamma"), DiskState::Outdated);
    for n in ["alpha", "beta"] {
        let r = res(&c, n);
        assert_eq!(r.devices[&0].quorum, Some(true));
        assert_eq!(r.resource.may_promote, Some(true), "{n}");
    }
    let err = c.primary("gamma", "r0", false).unwrap_err();
    assert_eq!(err.code, 11);
    assert!(err.message.contains("(-25) No quorum"), "{err}");
}

#[test]
fn a_promotion_without_uptodate_data_anywhere_is_refused_with_drbdsetups_status_17() {
    let mut c = three();
    for n in ["alpha", "beta", "gamma"] {
        c.set_disk(n, "r0", 0, false, false).unwrap();
    }
    let err = c.primary("alpha", "r0", false).unwrap_err();
    assert_eq!(err.code, 17, "{err}");
    assert!(
        err.message.contains("(-2) Need access to UpToDate data"),
        "{err}"
    );
}

#[test]
fn of_two_primary_calls_only_one_wins() {
    let mut c = three();
    c.primary("alpha", "r0", false).unwrap();
    let err = c.primary("beta", "r0", false).unwrap_err();
    assert_eq!(err.code, 11);
    assert!(err.message.contains("(-1) Multiple primaries"), "{err}");
    assert_eq!(res(&c, "beta").resource.may_promote, Some(false));
    assert_eq!(res(&c, "alpha").resource.role, Some(Role::Primary));
}

#[test]
fn after_a_heal_the_out_of_sync_data_resyncs_and_reaches_uptodate() {
    let mut c = three();
    c.primary("alpha", "r0", false).unwrap();
    c.partition(&["gamma"]).unwrap();
    c.write("alpha", "r0", 4096).unwrap();
    let pd = &res(&c, "alpha").connections[&2].peer_devices[&0];
    assert_eq!(pd.out_of_sync, Some(4096));
    c.heal().unwrap();
    let a = res(&c, "alpha");
    let pd = &a.connections[&2].peer_devices[&0];
    assert_eq!(pd.replication, Some(ReplicationState::SyncSource));
    assert_eq!(pd.peer_disk, Some(DiskState::Inconsistent));
    assert_eq!(disk(&c, "gamma"), DiskState::Inconsistent);
    let mut ticks = 0;
    while c.resyncing() {
        c.tick(10);
        ticks += 1;
        assert!(ticks < 1000, "resync never ends");
    }
    assert_eq!(disk(&c, "gamma"), DiskState::UpToDate);
    let pd = &res(&c, "alpha").connections[&2].peer_devices[&0];
    assert_eq!(pd.replication, Some(ReplicationState::Established));
    assert_eq!(pd.out_of_sync, Some(0));
}

#[test]
fn resync_progress_falls_at_the_configured_rate_with_done_and_eta() {
    let mut c = three();
    c.primary("alpha", "r0", false).unwrap();
    c.partition(&["gamma"]).unwrap();
    c.write("alpha", "r0", 409_600).unwrap();
    c.heal().unwrap();
    c.tick(1000); // default rate 102400 KiB/s
    let pd = res(&c, "alpha").connections[&2].peer_devices[&0].clone();
    assert_eq!(pd.out_of_sync, Some(307_200));
    let p = pd.progress.unwrap();
    assert_eq!(p.done.unwrap().to_string(), "25.00");
    assert_eq!(p.eta.unwrap().to_string(), "3");
}

fn isolated_primary(on_no_quorum: OnNoQuorum) -> Cluster {
    let mut c = three();
    c.resource_options("alpha", "r0", Some(on_no_quorum), None, None)
        .unwrap();
    c.primary("alpha", "r0", false).unwrap();
    c.set_open("alpha", "r0", 0, true).unwrap();
    c.partition(&["alpha"]).unwrap();
    c
}

#[test]
fn a_primary_that_loses_quorum_is_suspended_under_suspend_io() {
    let c = isolated_primary(OnNoQuorum::SuspendIo);
    let r = res(&c, "alpha");
    assert_eq!(r.resource.role, Some(Role::Primary));
    assert_eq!(r.resource.suspended.unwrap().to_string(), "quorum");
    assert_eq!(r.resource.force_io_failures, Some(false));
}

#[test]
fn a_primary_that_loses_quorum_gets_force_io_failures_under_io_error() {
    let mut c = isolated_primary(OnNoQuorum::IoError);
    let r = res(&c, "alpha");
    assert_eq!(r.resource.suspended.unwrap().to_string(), "no");
    assert_eq!(r.resource.force_io_failures, Some(true));
    assert_eq!(r.resource.may_promote, Some(false));
    assert!(c.write("alpha", "r0", 1).is_err());
}

#[test]
fn a_suspended_primary_that_finds_newer_data_is_forced_secondary() {
    let mut c = isolated_primary(OnNoQuorum::SuspendIo);
    c.primary("beta", "r0", false).unwrap();
    c.write("beta", "r0", 100).unwrap();
    c.heal().unwrap();
    let r = res(&c, "alpha");
    assert_eq!(r.resource.role, Some(Role::Secondary));
    assert_eq!(r.resource.force_io_failures, Some(true), "still open");
    assert_eq!(disk(&c, "alpha"), DiskState::Inconsistent);
    c.set_open("alpha", "r0", 0, false).unwrap();
    assert_eq!(res(&c, "alpha").resource.force_io_failures, Some(false));
}

#[test]
fn an_open_device_refuses_a_plain_demotion_but_not_a_forced_one() {
    let mut c = three();
    c.primary("alpha", "r0", false).unwrap();
    c.set_open("alpha", "r0", 0, true).unwrap();
    let err = c.secondary("alpha", "r0", false).unwrap_err();
    assert_eq!(err.code, 11);
    assert!(err.message.contains("(-12)"), "{err}");
    c.secondary("alpha", "r0", true).unwrap();
    let r = res(&c, "alpha");
    assert_eq!(r.resource.role, Some(Role::Secondary));
    assert_eq!(r.resource.force_io_failures, Some(true));
    assert_eq!(r.resource.may_promote, Some(false));
}

#[test]
fn a_diskless_tie_breaker_keeps_quorum_for_the_surviving_disk() {
    let cfg = ClusterConfig::parse(
        "[[node]]\nname='a'\nid=0\n[[node]]\nname='b'\nid=1\n[[node]]\nname='t'\nid=2\n\
         [[resource]]\nname='r0'\nclients=['t']\n",
    )
    .unwrap();
    let mut c = Cluster::new(cfg);
    let t = res(&c, "t");
    assert_eq!(t.devices[&0].disk, Some(DiskState::Diskless));
    assert_eq!(t.devices[&0].client, Some(Tristate::Yes));
    assert_eq!(
        t.resource.promotion_score,
        Some(2),
        "diskless: two UpToDate peers"
    );
    c.crash("b").unwrap();
    assert_eq!(res(&c, "a").devices[&0].quorum, Some(true));
    assert!(c.view("b").is_empty());
    c.crash("t").unwrap();
    assert_eq!(res(&c, "a").devices[&0].quorum, Some(false));
}

#[test]
fn quorum_off_keeps_an_isolated_node_uptodate_and_fencing_outdates_the_peer() {
    let cfg = ClusterConfig::parse(
        "[[node]]\nname='a'\nid=0\n[[node]]\nname='b'\nid=1\n\
         [[resource]]\nname='r0'\n[resource.options]\nquorum='off'\nfencing='resource-and-stonith'\n",
    )
    .unwrap();
    let mut c = Cluster::new(cfg);
    c.primary("a", "r0", false).unwrap();
    c.set_link("a", "b", false).unwrap();
    assert_eq!(res(&c, "a").devices[&0].quorum, Some(true));
    assert_eq!(disk(&c, "a"), DiskState::UpToDate);
    assert_eq!(disk(&c, "b"), DiskState::Outdated);
    assert!(c.primary("b", "r0", false).is_err());
}

#[test]
fn a_crashed_node_rejoins_outdated_and_resyncs_what_it_missed() {
    let mut c = three();
    c.primary("alpha", "r0", false).unwrap();
    c.crash("alpha").unwrap();
    assert_eq!(res(&c, "beta").resource.may_promote, Some(true));
    c.primary("beta", "r0", false).unwrap();
    c.write("beta", "r0", 1000).unwrap();
    c.restart("alpha").unwrap();
    assert_eq!(disk(&c, "alpha"), DiskState::Inconsistent);
    // One source at a time; the other waits (resync-suspended:dependency).
    let a = res(&c, "alpha");
    let states: Vec<_> = a
        .connections
        .values()
        .map(|x| {
            let pd = &x.peer_devices[&0];
            (
                pd.replication.unwrap(),
                pd.resync_suspended.unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            (ReplicationState::SyncTarget, "no".to_string()),
            (ReplicationState::PausedSyncT, "dependency".to_string())
        ]
    );
    while c.resyncing() {
        c.tick(100);
    }
    assert_eq!(disk(&c, "alpha"), DiskState::UpToDate);
    assert_eq!(res(&c, "alpha").resource.promotion_score, Some(10103));
}

#[test]
fn a_failed_disk_is_detached_and_the_primary_keeps_running_on_peer_data() {
    let mut c = three();
    c.primary("alpha", "r0", false).unwrap();
    c.set_disk("alpha", "r0", 0, false, true).unwrap();
    assert_eq!(disk(&c, "alpha"), DiskState::Diskless);
    let r = res(&c, "alpha");
    assert!(!r.resource.suspended.unwrap().any());
    c.set_disk("alpha", "r0", 0, true, false).unwrap();
    assert_eq!(disk(&c, "alpha"), DiskState::UpToDate);
}

#[test]
fn adjust_reattaches_a_detached_disk_which_catches_up_with_its_peers() {
    let mut c = three();
    c.primary("beta", "r0", false).unwrap();
    c.set_disk("alpha", "r0", 0, false, false).unwrap();
    assert_eq!(disk(&c, "alpha"), DiskState::Diskless);
    c.write("beta", "r0", 2048).unwrap();
    c.up("alpha", "r0").unwrap();
    assert_eq!(
        disk(&c, "alpha"),
        DiskState::Inconsistent,
        "syncs what it missed"
    );
    while c.resyncing() {
        c.tick(100);
    }
    assert_eq!(disk(&c, "alpha"), DiskState::UpToDate);
}

#[test]
fn secondaries_that_leave_gracefully_leave_the_primary_its_quorum_crashed_ones_do_not() {
    // DRBD's last man standing: a peer that went down while connected is Outdated and no
    // longer a voter until it connects again.
    let mut c = three();
    c.primary("alpha", "r0", false).unwrap();
    c.down("beta", "r0").unwrap();
    c.down("gamma", "r0").unwrap();
    let r = res(&c, "alpha");
    assert_eq!(r.devices[&0].quorum, Some(true));
    assert_eq!(r.resource.suspended, Some(Default::default()));
    // Back: voters again.
    c.up("beta", "r0").unwrap();
    c.up("gamma", "r0").unwrap();
    assert_eq!(res(&c, "alpha").devices[&0].quorum, Some(true));
    c.crash("beta").unwrap();
    c.crash("gamma").unwrap();
    assert_eq!(res(&c, "alpha").devices[&0].quorum, Some(false));
}

#[test]
fn a_client_is_no_voter_two_disks_of_three_have_quorum_against_one_disk_and_a_client() {
    let cfg = ClusterConfig::parse(
        "[[node]]\nname='a'\nid=0\n[[node]]\nname='b'\nid=1\n[[node]]\nname='c'\nid=2\n\
         [[node]]\nname='t'\nid=3\n[[resource]]\nname='r0'\nclients=['t']\n",
    )
    .unwrap();
    let mut c = Cluster::new(cfg);
    c.partition(&["b", "c"]).unwrap();
    for n in ["b", "c"] {
        assert_eq!(res(&c, n).devices[&0].quorum, Some(true), "{n}");
    }
    for n in ["a", "t"] {
        assert_eq!(res(&c, n).devices[&0].quorum, Some(false), "{n}");
    }
}
