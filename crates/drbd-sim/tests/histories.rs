//! Random fault histories on a 3-node cluster (a small deterministic generator, many seeds):
//! at every step no two connected nodes are Primary, and for every node the events2 stream
//! (dump, then change lines only, then an `n` refresh) rebuilds exactly the state that a
//! fresh `events2 --now` would show, in plain and in `--full` mode.

use drbd::vocab::{ConnectionState, Role};
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
        self.next().is_multiple_of(n)
    }
    fn pick<'a>(&mut self, of: &[&'a str]) -> &'a str {
        of[(self.next() % of.len() as u64) as usize]
    }
}

fn random_op(c: &mut Cluster, rng: &mut Rng) {
    let n = rng.pick(&NODES);
    let m = rng.pick(&NODES);
    let _ = match rng.next() % 14 {
        0 => c.primary(n, "r0", false),
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

fn state_of(lines: &[drbd::Line]) -> State {
    let mut s = State::new();
    let mut updates = Vec::new();
    for l in lines {
        s.apply(l.event.clone(), &mut updates);
    }
    s
}

fn assert_single_primary(c: &Cluster) {
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
                    "{n} and a connected peer are both Primary"
                );
            }
        }
    }
}

#[test]
fn streams_rebuild_the_current_state_and_there_is_never_a_second_connected_primary() {
    for seed in 1..=150u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut c = Cluster::new(ClusterConfig::simple(&NODES, "r0"));
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
            assert_single_primary(&c);
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
                state_of(lines).dump(),
                state_of(&fresh).dump(),
                "seed {seed}, node {n}, {opts:?}"
            );
        }
    }
}

#[test]
fn after_any_history_healing_everything_converges_to_uptodate_everywhere() {
    for seed in 1..=150u64 {
        let mut rng = Rng(seed.wrapping_mul(0xd1b5_4a32_d192_ed03) | 1);
        let mut c = Cluster::new(ClusterConfig::simple(&NODES, "r0"));
        for _ in 0..40 {
            random_op(&mut c, &mut rng);
        }
        c.heal().unwrap();
        for n in NODES {
            c.restart(n).unwrap();
            c.up(n, "r0").unwrap();
        }
        let mut ticks = 0;
        while c.resyncing() {
            c.tick(1000);
            ticks += 1;
            assert!(ticks < 100, "seed {seed}: resync never ends");
        }
        for n in NODES {
            let v = c.view(n);
            let r = &v["r0"];
            assert_eq!(
                r.devices[&0].disk,
                Some(drbd::vocab::DiskState::UpToDate),
                "seed {seed}, node {n}"
            );
            assert!(r
                .connections
                .values()
                .all(|x| x.conn.connection == Some(ConnectionState::Connected)));
        }
    }
}
