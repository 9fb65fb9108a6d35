//! Random fault histories on a 3-node cluster (a small deterministic generator, many seeds),
//! with quorum and without it (where forced promotions make split brains): at every step no
//! two connected nodes are Primary, and for every node the events2 stream (dump, then change
//! lines only, then an `n` refresh) rebuilds exactly the state that a fresh `events2 --now`
//! would show, in plain and in `--full` mode. After healing, every node is UpToDate unless
//! the history made a split brain, which shows StandAlone on both sides and converges once
//! one side discards its data.

use drbd::vocab::{ConnectionState, ReplicationState, Role};
use drbd::State;
use drbd_sim::config::ClusterConfig;
use drbd_sim::model::Cluster;
use drbd_sim::printer::{Options, Printer};

const NODES: [&str; 3] = ["alpha", "beta", "gamma"];

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// True one time in `n`.
    fn coin(&mut self, n: u64) -> bool {
        self.next() % n == 0
    }
    fn pick<'a>(&mut self, of: &[&'a str]) -> &'a str {
        of[(self.next() % of.len() as u64) as usize]
    }
}

fn random_op(c: &mut Cluster, rng: &mut Rng) {
    let n = rng.pick(&NODES);
    let m = rng.pick(&NODES);
    let _ = match rng.next() % 15 {
        0 => c.primary(n, "r0", rng.coin(4)),
        1 => c.secondary(n, "r0", rng.coin(2)),
        2 => c.crash(n),
        3 => c.restart(n),
        4 => c.partition(&[n]),
        5 => c.heal(),
        6 => c.set_link(n, m, rng.coin(2)),
        7 => c.set_disk(n, "r0", 0, rng.coin(2), rng.coin(3)),
        8 => c.set_open(n, "r0", 0, rng.coin(2)),
        9 => c.write(n, "r0", 1 + rng.next() % 100_000),
        10 => {
            c.tick(rng.next() % 3000);
            Ok(())
        }
        11 => c.down(n, "r0"),
        12 => c.up(n, "r0"),
        13 => c.connect(n, "r0", rng.coin(2)),
        _ => c.resource_options(
            n,
            "r0",
            Some(if rng.coin(2) {
                drbd_sim::config::OnNoQuorum::IoError
            } else {
                drbd_sim::config::OnNoQuorum::SuspendIo
            }),
            None,
            None,
        ),
    };
}

/// The two configurations the histories run on: quorum majority (the default) and quorum off.
fn configs() -> [ClusterConfig; 2] {
    let mut off = ClusterConfig::simple(&NODES, "r0");
    off.resources[0].options.quorum = "off".into();
    [ClusterConfig::simple(&NODES, "r0"), off]
}

/// The state a consumer rebuilds from `lines`, as dump lines. Plain events2 prints `done:`
/// only while a resync runs and never says it ended, so resync progress is compared only
/// for peer devices that are resyncing.
fn state_of(lines: &[drbd::Line]) -> Vec<drbd::Line> {
    let mut s = State::new();
    let mut updates = Vec::new();
    for l in lines {
        s.apply(l.event.clone(), &mut updates);
    }
    let mut dump = s.dump();
    for l in dump.iter_mut() {
        if let drbd::Event::Object {
            object: drbd::ObjectLine::PeerDevice(p),
            ..
        } = &mut l.event
        {
            if !matches!(
                p.replication,
                Some(
                    ReplicationState::SyncSource
                        | ReplicationState::SyncTarget
                        | ReplicationState::PausedSyncS
                        | ReplicationState::PausedSyncT
                )
            ) {
                p.progress = None;
            }
        }
    }
    dump
}

fn assert_single_primary(c: &Cluster, seed: u64) {
    for n in NODES {
        let v = c.view(n);
        let Some(r) = v.get("r0") else { continue };
        if r.resource.role != Some(Role::Primary) {
            continue;
        }
        for conn in r.connections.values() {
            if conn.conn.connection == Some(ConnectionState::Connected) {
                assert_ne!(
                    conn.conn.role,
                    Some(Role::Primary),
                    "seed {seed}: {n} and a connected peer are both Primary"
                );
            }
        }
    }
}

#[test]
fn streams_rebuild_the_current_state_and_there_is_never_a_second_connected_primary() {
    for (seed, cfg) in (1..=150u64).flat_map(|s| configs().map(|c| (s, c))) {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut c = Cluster::new(cfg);
        let mut streams: Vec<(&str, Options, Printer, Vec<drbd::Line>)> = Vec::new();
        for n in NODES {
            for opts in [
                Options::default(),
                Options {
                    statistics: false,
                    full: true,
                },
            ] {
                let mut p = Printer::new(opts, None);
                let lines = p.dump(&c.view(n));
                streams.push((n, opts, p, lines));
            }
        }
        for _ in 0..40 {
            random_op(&mut c, &mut rng);
            assert_single_primary(&c, seed);
            for (n, opts, p, lines) in streams.iter_mut() {
                if !c.is_up(n) {
                    // The stream died with the node; a new drbdsetup starts on restart.
                    *p = Printer::new(*opts, None);
                    lines.clear();
                    lines.extend(p.dump(&c.view(n)));
                    continue;
                }
                lines.extend(p.update(&c.view(n), false));
            }
        }
        for (n, opts, p, lines) in streams.iter_mut() {
            lines.extend(p.update(&c.view(n), true));
            let fresh = Printer::new(*opts, None).dump(&c.view(n));
            assert_eq!(
                state_of(lines),
                state_of(&fresh),
                "seed {seed}, node {n}, {opts:?}"
            );
        }
    }
}

/// The pairs of nodes whose connection is StandAlone, as `(node, peer)`.
fn standalone(c: &Cluster) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for n in NODES {
        let v = c.view(n);
        for conn in v["r0"].connections.values() {
            if conn.conn.connection == Some(ConnectionState::StandAlone) {
                out.push((n.to_string(), conn.conn.conn_name.clone()));
            }
        }
    }
    out
}

fn resync_to_the_end(c: &mut Cluster, seed: u64) {
    let mut ticks = 0;
    while c.resyncing() {
        c.tick(1000);
        ticks += 1;
        assert!(ticks < 100, "seed {seed}: resync never ends");
    }
}

fn assert_all_uptodate_and_connected(c: &Cluster, seed: u64) {
    for n in NODES {
        let v = c.view(n);
        let r = &v["r0"];
        assert_eq!(
            r.devices[&0].disk,
            Some(drbd::vocab::DiskState::UpToDate),
            "seed {seed}, node {n}"
        );
        assert!(
            r.connections
                .values()
                .all(|x| x.conn.connection == Some(ConnectionState::Connected)),
            "seed {seed}, node {n}"
        );
    }
}

#[test]
fn after_healing_without_split_brain_every_node_is_uptodate_and_a_split_brain_is_standalone_on_both_sides(
) {
    let mut split_brains = 0;
    for (seed, cfg) in (1..=150u64).flat_map(|s| configs().map(|c| (s, c))) {
        let mut rng = Rng(seed.wrapping_mul(0xd1b5_4a32_d192_ed03) | 1);
        let mut c = Cluster::new(cfg);
        for _ in 0..40 {
            random_op(&mut c, &mut rng);
        }
        // Healing: the services stop (every node demotes), links and nodes come back, and
        // `drbdadm adjust` reconnects what is StandAlone.
        for n in NODES {
            let _ = c.secondary(n, "r0", true);
        }
        c.heal().unwrap();
        for n in NODES {
            c.restart(n).unwrap();
            c.up(n, "r0").unwrap();
        }
        assert_single_primary(&c, seed);
        let sb = standalone(&c);
        if sb.is_empty() {
            resync_to_the_end(&mut c, seed);
            assert_all_uptodate_and_connected(&c, seed);
            continue;
        }
        split_brains += 1;
        // Every connection that did not come back is StandAlone on at least one side (the
        // side that ran `up` last retries and shows Connecting).
        for n in NODES {
            for conn in c.view(n)["r0"].connections.values() {
                let peer = conn.conn.conn_name.clone();
                if conn.conn.connection != Some(ConnectionState::Connected) {
                    assert!(
                        sb.contains(&(n.to_string(), peer.clone()))
                            || sb.contains(&(peer.clone(), n.to_string())),
                        "seed {seed}: {n}-{peer} is neither connected nor StandAlone"
                    );
                }
            }
        }
        // The operator resolves each split brain: the later-named side discards its data.
        for _ in 0..3 {
            for (a, b) in standalone(&c) {
                let (keep, victim) = if a < b { (a, b) } else { (b, a) };
                c.connect(&victim, "r0", true).unwrap();
                c.connect(&keep, "r0", false).unwrap();
            }
        }
        resync_to_the_end(&mut c, seed);
        assert!(standalone(&c).is_empty(), "seed {seed}: split brain stays");
        assert_all_uptodate_and_connected(&c, seed);
    }
    assert!(split_brains > 0, "no history made a split brain");
}

/// `tick` without a resync only moves the clock (the HA campaign steps time often and relies
/// on it being cheap): what every node reports is the same as a full recomputation gives.
#[test]
fn time_without_a_resync_changes_nothing_a_node_reports() {
    for seed in 1..=100u64 {
        let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
        let mut c = Cluster::new(ClusterConfig::simple(&NODES, "r0"));
        for _ in 0..30 {
            random_op(&mut c, &mut rng);
            if c.resyncing() {
                continue;
            }
            let before: Vec<_> = NODES.iter().map(|n| c.view(n)).collect();
            c.tick(60_000);
            let after: Vec<_> = NODES.iter().map(|n| c.view(n)).collect();
            assert_eq!(before, after, "seed {seed}");
        }
    }
}
