//! Data generations over the library API, as HA needs them: a promotion starts a new
//! generation, so a partitioned old Primary meets newer data on healing and becomes
//! SyncTarget (forced Secondary if it is suspended); two sides that both moved on meet as
//! split brain, StandAlone on both, until one side discards its data. Each scenario is also
//! checked in the events2 lines the nodes print.

use drbd::vocab::*;
use drbd_sim::commands::{self, Action};
use drbd_sim::config::ClusterConfig;
use drbd_sim::model::Cluster;
use drbd_sim::printer::{Options, Printer};
use drbd_sim::view::ResView;

const THREE: [&str; 3] = ["alpha", "beta", "gamma"];

fn res(c: &Cluster, node: &str) -> ResView {
    c.view(node).remove("r0").expect("r0 is up")
}

fn disk(c: &Cluster, node: &str) -> DiskState {
    res(c, node).devices[&0].disk.unwrap()
}

fn role(c: &Cluster, node: &str) -> Role {
    res(c, node).resource.role.unwrap()
}

/// The connection of `node` to the peer with `id`.
fn conn(c: &Cluster, node: &str, id: u32) -> ConnectionState {
    res(c, node).connections[&id].conn.connection.unwrap()
}

/// Both nodes hold the same current data generation of r0's volume 0.
fn assert_same_data(c: &Cluster, a: &str, b: &str) {
    assert_eq!(
        c.current_generation(a, "r0", 0),
        c.current_generation(b, "r0", 0),
        "{a} and {b}"
    );
}

/// alpha and beta with disks, gamma an intentionally diskless tiebreaker.
fn with_tiebreaker() -> ClusterConfig {
    let mut cfg = ClusterConfig::simple(&THREE, "r0");
    cfg.resources[0].clients = vec!["gamma".into()];
    cfg
}

fn replication(c: &Cluster, node: &str, id: u32) -> ReplicationState {
    res(c, node).connections[&id].peer_devices[&0]
        .replication
        .unwrap()
}

/// Follows events2 (`--full`) of every node: the lines printed since the last call.
struct Streams(Vec<(&'static str, Printer)>);

impl Streams {
    fn new(c: &Cluster, nodes: &[&'static str]) -> Streams {
        Streams(
            nodes
                .iter()
                .map(|n| {
                    let mut p = Printer::new(
                        Options {
                            statistics: false,
                            full: true,
                        },
                        None,
                    );
                    p.dump(&c.view(n));
                    (*n, p)
                })
                .collect(),
        )
    }
    fn lines(&mut self, c: &Cluster, node: &str) -> String {
        let (_, p) = self.0.iter_mut().find(|(n, _)| *n == node).unwrap();
        p.update_text(&c.view(node), false, Default::default())
            .into_iter()
            .map(|(_, l)| l + "\n")
            .collect()
    }
}

fn resync_to_the_end(c: &mut Cluster) {
    let mut ticks = 0;
    while c.resyncing() {
        c.tick(100);
        ticks += 1;
        assert!(ticks < 1000, "the resync never ends");
    }
}

fn two_nodes_without_quorum() -> Cluster {
    let mut cfg = ClusterConfig::simple(&["alpha", "beta"], "r0");
    cfg.resources[0].options.quorum = "off".into();
    Cluster::new(cfg)
}

#[test]
fn a_promotion_starts_a_new_generation_shared_by_the_connected_peers() {
    let mut c = Cluster::new(ClusterConfig::simple(&THREE, "r0"));
    c.crash("gamma").unwrap();
    let before = c.current_generation("alpha", "r0", 0);
    c.primary("alpha", "r0", false).unwrap();
    let after = c.current_generation("alpha", "r0", 0);
    assert_ne!(before, after);
    assert_eq!(c.current_generation("beta", "r0", 0), after);
    assert_eq!(c.current_generation("gamma", "r0", 0), before);
}

#[test]
fn a_write_that_misses_a_peer_starts_one_new_generation_and_later_writes_keep_it() {
    let mut c = Cluster::new(ClusterConfig::simple(&THREE, "r0"));
    c.primary("alpha", "r0", false).unwrap();
    let promoted = c.current_generation("alpha", "r0", 0);
    c.write("alpha", "r0", 100).unwrap();
    assert_eq!(c.current_generation("alpha", "r0", 0), promoted);
    c.crash("gamma").unwrap();
    c.write("alpha", "r0", 100).unwrap();
    let missed = c.current_generation("alpha", "r0", 0);
    assert_ne!(missed, promoted);
    c.write("alpha", "r0", 100).unwrap();
    assert_eq!(c.current_generation("alpha", "r0", 0), missed);
    assert_eq!(c.current_generation("beta", "r0", 0), missed);
}

#[test]
fn partition_the_primary_promote_the_other_side_heal_the_old_primary_becomes_synctarget_and_secondary(
) {
    let mut c = Cluster::new(ClusterConfig::simple(&THREE, "r0"));
    c.primary("alpha", "r0", false).unwrap();
    c.write("alpha", "r0", 1000).unwrap();
    c.partition(&["alpha"]).unwrap();
    assert!(res(&c, "alpha").resource.suspended.unwrap().quorum);
    c.primary("beta", "r0", false).unwrap();
    c.write("beta", "r0", 4096).unwrap();
    let mut s = Streams::new(&c, &THREE);
    c.heal().unwrap();
    // on-suspended-primary-outdated=force-secondary: alpha gives up, then resyncs.
    assert_eq!(role(&c, "alpha"), Role::Secondary);
    assert_eq!(role(&c, "beta"), Role::Primary);
    assert_eq!(replication(&c, "alpha", 1), ReplicationState::SyncTarget);
    assert_eq!(replication(&c, "beta", 0), ReplicationState::SyncSource);
    assert_eq!(disk(&c, "alpha"), DiskState::Inconsistent);
    let pd = &res(&c, "beta").connections[&0].peer_devices[&0];
    assert_eq!(pd.out_of_sync, Some(4096));
    let alpha = s.lines(&c, "alpha");
    for want in [
        "change resource name:r0 role:Secondary suspended:no",
        "change device name:r0 volume:0 minor:1000 backing_dev:/dev/vg/disk0 disk:Inconsistent",
        "conn-name:beta volume:0 replication:SyncTarget peer-disk:UpToDate",
    ] {
        assert!(alpha.contains(want), "alpha lacks {want:?}:\n{alpha}");
    }
    let beta = s.lines(&c, "beta");
    assert!(
        beta.contains("conn-name:alpha connection:Connected role:Secondary")
            && beta.contains("conn-name:alpha volume:0 replication:SyncSource")
            && beta.contains("out-of-sync:4096"),
        "{beta}"
    );
    resync_to_the_end(&mut c);
    assert_eq!(disk(&c, "alpha"), DiskState::UpToDate);
    assert!(s.lines(&c, "alpha").contains("disk:UpToDate"));
    assert_same_data(&c, "alpha", "beta");
}

#[test]
fn a_suspended_outdated_primary_is_forced_secondary_even_when_nothing_was_written() {
    let mut c = Cluster::new(ClusterConfig::simple(&THREE, "r0"));
    c.primary("alpha", "r0", false).unwrap();
    c.set_open("alpha", "r0", 0, true).unwrap();
    c.partition(&["alpha"]).unwrap();
    c.primary("beta", "r0", false).unwrap();
    c.heal().unwrap();
    let a = res(&c, "alpha");
    assert_eq!(a.resource.role, Some(Role::Secondary));
    // The application that still holds the device gets I/O errors.
    assert_eq!(a.resource.force_io_failures, Some(true));
    assert_eq!(a.devices[&0].disk, Some(DiskState::UpToDate));
    assert_eq!(conn(&c, "alpha", 1), ConnectionState::Connected);
}

#[test]
fn an_older_primary_that_is_not_forced_secondary_refuses_the_connection_standalone() {
    let mut cfg = ClusterConfig::simple(&THREE, "r0");
    cfg.resources[0].options.on_suspended_primary_outdated = "disconnect".into();
    let mut c = Cluster::new(cfg);
    c.set_disk("beta", "r0", 0, false, false).unwrap();
    c.primary("alpha", "r0", false).unwrap();
    c.partition(&["alpha"]).unwrap();
    c.primary("beta", "r0", false).unwrap();
    c.heal().unwrap();
    assert_eq!(role(&c, "alpha"), Role::Primary);
    assert_eq!(conn(&c, "alpha", 1), ConnectionState::StandAlone);
    assert_eq!(conn(&c, "beta", 0), ConnectionState::StandAlone);
    assert_eq!(conn(&c, "gamma", 0), ConnectionState::StandAlone);
    assert_eq!(conn(&c, "beta", 2), ConnectionState::Connected);
}

#[test]
fn both_sides_wrote_after_the_split_so_they_meet_as_split_brain_standalone_on_both() {
    let mut c = two_nodes_without_quorum();
    c.primary("alpha", "r0", false).unwrap();
    c.set_link("alpha", "beta", false).unwrap();
    c.write("alpha", "r0", 3000).unwrap();
    c.primary("beta", "r0", false).unwrap();
    c.write("beta", "r0", 5000).unwrap();
    c.secondary("alpha", "r0", false).unwrap();
    c.secondary("beta", "r0", false).unwrap();
    let mut s = Streams::new(&c, &["alpha", "beta"]);
    c.set_link("alpha", "beta", true).unwrap();
    for (node, peer) in [("alpha", 1), ("beta", 0)] {
        assert_eq!(conn(&c, node, peer), ConnectionState::StandAlone, "{node}");
        assert_eq!(disk(&c, node), DiskState::UpToDate, "{node}");
        let pd = &res(&c, node).connections[&peer].peer_devices[&0];
        assert_eq!(pd.replication, Some(ReplicationState::Off));
        assert_eq!(pd.peer_disk, Some(DiskState::DUnknown));
    }
    assert!(s
        .lines(&c, "alpha")
        .contains("change connection name:r0 peer-node-id:1 conn-name:beta connection:StandAlone role:Unknown"));
    assert!(s
        .lines(&c, "beta")
        .contains("change connection name:r0 peer-node-id:0 conn-name:alpha connection:StandAlone role:Unknown"));
    // StandAlone stays: the link is fine, but nobody reconnects on its own.
    c.tick(10_000);
    assert_eq!(conn(&c, "alpha", 1), ConnectionState::StandAlone);
}

#[test]
fn a_split_brain_comes_back_after_a_restart_and_ends_when_one_side_discards_its_data() {
    let mut c = two_nodes_without_quorum();
    c.set_link("alpha", "beta", false).unwrap();
    for n in ["alpha", "beta"] {
        c.primary(n, "r0", false).unwrap();
        c.write(n, "r0", 2000).unwrap();
        c.secondary(n, "r0", false).unwrap();
    }
    c.set_link("alpha", "beta", true).unwrap();
    assert_eq!(conn(&c, "alpha", 1), ConnectionState::StandAlone);
    c.crash("beta").unwrap();
    c.restart("beta").unwrap();
    c.connect("alpha", "r0", false).unwrap();
    assert_eq!(
        conn(&c, "alpha", 1),
        ConnectionState::StandAlone,
        "detected again"
    );
    assert_eq!(conn(&c, "beta", 0), ConnectionState::StandAlone);
    // As an operator does: `drbdadm connect --discard-my-data r0` on the victim.
    let reply = |a: Action| match a {
        Action::Reply(r) => r,
        other => panic!("{other:?}"),
    };
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let r = reply(commands::drbdadm(
        &mut c,
        "beta",
        &args(&["connect", "--discard-my-data", "r0"]),
    ));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(conn(&c, "beta", 0), ConnectionState::Connecting);
    let r = reply(commands::drbdadm(
        &mut c,
        "alpha",
        &args(&["connect", "r0"]),
    ));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(replication(&c, "beta", 0), ReplicationState::SyncTarget);
    assert_eq!(replication(&c, "alpha", 1), ReplicationState::SyncSource);
    // What both sides wrote since the split is copied back.
    let pd = &res(&c, "alpha").connections[&1].peer_devices[&0];
    assert_eq!(pd.out_of_sync, Some(4000));
    resync_to_the_end(&mut c);
    assert_eq!(disk(&c, "beta"), DiskState::UpToDate);
    assert_same_data(&c, "alpha", "beta");
}

#[test]
fn two_primaries_that_meet_drop_their_connection_even_without_a_disk_to_compare() {
    let mut cfg = ClusterConfig::simple(&THREE, "r0");
    cfg.resources[0].options.quorum = "off".into();
    cfg.resources[0].clients = vec!["gamma".into()];
    let mut c = Cluster::new(cfg);
    c.set_link("alpha", "gamma", false).unwrap();
    c.set_link("alpha", "beta", false).unwrap();
    c.primary("alpha", "r0", false).unwrap();
    // The diskless gamma runs on beta's data.
    c.primary("gamma", "r0", false).unwrap();
    c.set_link("alpha", "gamma", true).unwrap();
    assert_eq!(conn(&c, "alpha", 2), ConnectionState::StandAlone);
    assert_eq!(conn(&c, "gamma", 0), ConnectionState::StandAlone);
    assert_eq!(role(&c, "alpha"), Role::Primary);
    assert_eq!(role(&c, "gamma"), Role::Primary);
}

#[test]
fn a_primary_reachable_through_a_peer_refuses_a_second_promotion() {
    let mut c = Cluster::new(ClusterConfig::simple(&THREE, "r0"));
    c.set_link("alpha", "beta", false).unwrap();
    c.primary("alpha", "r0", false).unwrap();
    let err = c.primary("beta", "r0", false).unwrap_err();
    assert!(err.message.contains("(-1) Multiple primaries"), "{err}");
}

/// HA campaign seed 836: an isolated Primary (its promoter dead) rejoining a cluster that
/// promoted another node connected through a third, diskless node (no resync to refuse), and
/// both were Primary with quorum (on-no-quorum io-error: the isolated Primary is not
/// suspended, so the forced-Secondary path does not apply).
#[test]
fn a_primary_rejoining_a_cluster_with_another_primary_is_refused_through_a_third_node_too() {
    let mut cfg = ClusterConfig::simple(&["alpha", "beta", "gamma"], "r0");
    cfg.resources[0].options.on_no_quorum = drbd_sim::config::OnNoQuorum::IoError;
    let mut c = Cluster::new(cfg);
    c.set_disk("beta", "r0", 0, false, false).unwrap();
    c.primary("alpha", "r0", false).unwrap();
    c.partition(&["alpha"]).unwrap();
    c.primary("gamma", "r0", false).unwrap();
    c.heal().unwrap();
    let with_quorum = |n: &str| {
        let v = c.view(n);
        let r = &v["r0"];
        r.resource.role == Some(drbd::vocab::Role::Primary)
            && r.devices.values().all(|d| d.quorum == Some(true))
    };
    assert!(with_quorum("gamma"));
    assert!(!with_quorum("alpha"), "alpha must not join gamma's cluster");
}

/// HA campaign seeds 1781 and 2362: a Primary that lost its disk runs on its peers' data;
/// when the disk is attached again it is older than theirs, and DRBD resyncs it while the
/// node stays Primary (its I/O goes to the peers meanwhile), rather than refusing the
/// connection as it does for a Primary whose own data is older (the test above).
#[test]
fn a_diskless_primary_whose_older_disk_is_attached_again_resyncs_as_synctarget_and_stays_primary() {
    let mut c = Cluster::new(ClusterConfig::simple(&THREE, "r0"));
    c.primary("alpha", "r0", false).unwrap();
    c.set_disk("alpha", "r0", 0, false, true).unwrap();
    assert_eq!(disk(&c, "alpha"), DiskState::Diskless);
    c.write("alpha", "r0", 2048).unwrap();
    assert_ne!(
        c.current_generation("alpha", "r0", 0),
        c.current_generation("beta", "r0", 0),
        "the detached disk is older than its peers'"
    );
    let mut s = Streams::new(&c, &THREE);
    c.set_disk("alpha", "r0", 0, true, false).unwrap();
    assert_eq!(role(&c, "alpha"), Role::Primary);
    assert_eq!(conn(&c, "alpha", 1), ConnectionState::Connected);
    assert_eq!(conn(&c, "alpha", 2), ConnectionState::Connected);
    assert_eq!(disk(&c, "alpha"), DiskState::Inconsistent);
    let from: Vec<ReplicationState> = [1, 2].map(|p| replication(&c, "alpha", p)).to_vec();
    assert!(
        from.contains(&ReplicationState::SyncTarget),
        "one peer resyncs alpha: {from:?}"
    );
    assert!(res(&c, "alpha").devices[&0].quorum.unwrap());
    assert!(s.lines(&c, "alpha").contains("replication:SyncTarget"));
    // The applications keep writing through the peers during the resync.
    c.write("alpha", "r0", 100).unwrap();
    resync_to_the_end(&mut c);
    assert_eq!(disk(&c, "alpha"), DiskState::UpToDate);
    assert_eq!(role(&c, "alpha"), Role::Primary);
    for peer in ["beta", "gamma"] {
        assert_eq!(
            c.current_generation("alpha", "r0", 0),
            c.current_generation(peer, "r0", 0),
            "{peer}"
        );
    }
}

/// What stays refused: a Primary that kept its disk while the other side moved on (a split
/// with two Primaries) meets newer data, and is not made SyncTarget under its applications.
#[test]
fn a_primary_that_kept_its_disk_meeting_newer_data_still_refuses_while_one_that_reattached_does_not(
) {
    let mut cfg = ClusterConfig::simple(&THREE, "r0");
    cfg.resources[0].options.on_suspended_primary_outdated = "disconnect".into();
    let mut c = Cluster::new(cfg);
    c.primary("alpha", "r0", false).unwrap();
    c.partition(&["alpha"]).unwrap();
    c.primary("beta", "r0", false).unwrap();
    c.write("beta", "r0", 100).unwrap();
    c.secondary("beta", "r0", false).unwrap();
    c.heal().unwrap();
    assert_eq!(
        conn(&c, "alpha", 1),
        ConnectionState::StandAlone,
        "kept its disk"
    );
    // The same Primary detaches and attaches its disk: now it only catches up.
    c.set_disk("alpha", "r0", 0, false, false).unwrap();
    for n in THREE {
        c.connect(n, "r0", false).unwrap();
    }
    assert_eq!(conn(&c, "alpha", 1), ConnectionState::Connected, "diskless");
    c.set_disk("alpha", "r0", 0, true, false).unwrap();
    assert_eq!(role(&c, "alpha"), Role::Primary);
    assert_eq!(conn(&c, "alpha", 1), ConnectionState::Connected);
    resync_to_the_end(&mut c);
    assert_eq!(disk(&c, "alpha"), DiskState::UpToDate);
    assert_same_data(&c, "alpha", "beta");
}

/// HA campaign seeds 7125, 20466, 24088 (the "open kind" of issue 15): a disk that missed
/// writes comes back while its only connected peer is diskless. The diskless peer saw the
/// newer data generation, so the returning disk is Outdated (no promotion, no split brain)
/// until the disk holding the writes returns and resyncs it.
#[test]
fn a_disk_that_missed_writes_and_meets_only_a_tiebreaker_stays_outdated_until_the_newer_disk_returns(
) {
    let mut c = Cluster::new(with_tiebreaker());
    c.primary("alpha", "r0", false).unwrap();
    c.crash("beta").unwrap();
    c.write("alpha", "r0", 4096).unwrap();
    c.crash("alpha").unwrap();
    c.restart("beta").unwrap();
    assert_eq!(conn(&c, "beta", 2), ConnectionState::Connected);
    assert!(
        res(&c, "beta").devices[&0].quorum.unwrap(),
        "beta and gamma are a majority"
    );
    assert_eq!(
        disk(&c, "beta"),
        DiskState::Outdated,
        "gamma saw the writes beta missed"
    );
    c.primary("beta", "r0", false)
        .expect_err("an Outdated disk is not promoted");
    c.restart("alpha").unwrap();
    resync_to_the_end(&mut c);
    assert_eq!(disk(&c, "beta"), DiskState::UpToDate);
    assert_same_data(&c, "alpha", "beta");
    c.primary("beta", "r0", false).unwrap();
}

/// What a diskless node knows is kernel memory: after it restarted too, nothing tells the
/// returning disk that it is stale (DRBD cannot know either), and it is UpToDate.
#[test]
fn a_tiebreaker_that_restarted_has_forgotten_the_newer_generation() {
    let mut c = Cluster::new(with_tiebreaker());
    c.primary("alpha", "r0", false).unwrap();
    c.crash("beta").unwrap();
    c.write("alpha", "r0", 4096).unwrap();
    c.crash("alpha").unwrap();
    c.crash("gamma").unwrap();
    c.restart("gamma").unwrap();
    c.restart("beta").unwrap();
    assert_eq!(conn(&c, "beta", 2), ConnectionState::Connected);
    assert_eq!(disk(&c, "beta"), DiskState::UpToDate);
}

/// A detached disk's own lineage is not replaced by what its node saw while diskless: when
/// attached again it is compared as the data it holds (and resyncs), not as its peers'.
#[test]
fn a_detached_disk_keeps_its_own_generation_while_its_node_follows_the_peers() {
    let mut c = Cluster::new(ClusterConfig::simple(&THREE, "r0"));
    c.primary("alpha", "r0", false).unwrap();
    c.set_disk("beta", "r0", 0, false, false).unwrap();
    let before = c.current_generation("beta", "r0", 0);
    c.write("alpha", "r0", 1024).unwrap();
    assert_eq!(c.current_generation("beta", "r0", 0), before);
    c.set_disk("beta", "r0", 0, true, false).unwrap();
    assert_eq!(
        disk(&c, "beta"),
        DiskState::Inconsistent,
        "beta resyncs what it missed"
    );
    resync_to_the_end(&mut c);
    assert_same_data(&c, "alpha", "beta");
}

/// A Primary whose disk is still SyncTarget (it was promoted on its sync source's data) does
/// not become UpToDate when that source's disk fails: the resync did not finish. (Checked
/// while tracing HA campaign seed 132427, whose cause was the reconnection order below.)
#[test]
fn a_synctarget_primary_whose_source_disk_fails_stays_inconsistent() {
    let mut c = Cluster::new(ClusterConfig::simple(&THREE, "r0"));
    c.primary("beta", "r0", false).unwrap();
    c.crash("alpha").unwrap();
    c.write("beta", "r0", 65536).unwrap();
    c.restart("alpha").unwrap();
    assert_eq!(
        disk(&c, "alpha"),
        DiskState::Inconsistent,
        "alpha resyncs what it missed"
    );
    c.crash("beta").unwrap();
    assert_eq!(disk(&c, "alpha"), DiskState::Inconsistent, "now from gamma");
    c.primary("alpha", "r0", false).unwrap();
    c.set_disk("gamma", "r0", 0, false, true).unwrap();
    assert_ne!(
        disk(&c, "alpha"),
        DiskState::UpToDate,
        "the resync never finished"
    );
}

/// HA campaign seed 132427: a node whose `adjust` re-attaches its disk reconnects to two
/// Primaries at once, the one it served (with quorum) and an isolated one without quorum.
/// The handshakes run one after the other, and one not done yet is no path to a Primary:
/// before, both new connections counted at once, the Primary with quorum was refused, the
/// one without was taken, and then refused too (older data): nobody had quorum.
#[test]
fn a_node_reconnecting_to_two_primaries_at_once_keeps_the_one_it_served() {
    let mut cfg = ClusterConfig::simple(&THREE, "r0");
    cfg.resources[0].options.on_no_quorum = drbd_sim::config::OnNoQuorum::IoError;
    let mut c = Cluster::new(cfg);
    c.primary("beta", "r0", false).unwrap();
    c.partition(&["beta"]).unwrap();
    c.primary("alpha", "r0", false).unwrap();
    c.write("alpha", "r0", 1024).unwrap();
    c.set_disk("gamma", "r0", 0, false, true).unwrap();
    c.heal().unwrap();
    assert_eq!(
        conn(&c, "alpha", 1),
        ConnectionState::StandAlone,
        "two Primaries"
    );
    c.up("beta", "r0").unwrap();
    c.up("gamma", "r0").unwrap();
    assert_eq!(conn(&c, "alpha", 2), ConnectionState::Connected);
    assert_eq!(conn(&c, "gamma", 1), ConnectionState::StandAlone);
    assert!(res(&c, "alpha").devices[&0].quorum.unwrap());
    assert_eq!(role(&c, "alpha"), Role::Primary);
}

/// A diskless Primary whose I/O was suspended when it lost quorum (suspend-io), while the
/// other side promoted and wrote, meets the newer data when the partition heals: it ran on
/// outdated data and is forced Secondary (`on-suspended-primary-outdated force-secondary`),
/// as a diskful one is, instead of leaving both sides StandAlone (HA campaign fail-back gaps,
/// first seed 195).
#[test]
fn a_suspended_diskless_primary_meeting_newer_data_is_forced_secondary() {
    let mut c = Cluster::new(ClusterConfig::simple(&THREE, "r0"));
    c.set_disk("gamma", "r0", 0, false, false).unwrap();
    c.primary("gamma", "r0", false).unwrap();
    c.write("gamma", "r0", 1024).unwrap();
    c.partition(&["gamma"]).unwrap();
    assert!(
        !res(&c, "gamma").devices[&0].quorum.unwrap(),
        "gamma alone: I/O suspended"
    );
    c.primary("alpha", "r0", false).unwrap();
    c.write("alpha", "r0", 1024).unwrap();
    c.heal().unwrap();
    assert_eq!(role(&c, "gamma"), Role::Secondary, "forced Secondary");
    assert_eq!(role(&c, "alpha"), Role::Primary);
    assert_eq!(conn(&c, "gamma", 0), ConnectionState::Connected);
}
