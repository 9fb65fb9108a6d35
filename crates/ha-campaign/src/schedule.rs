//! Fault schedules: a deterministic generator from a seed, and the steps a schedule is made
//! of, printable as Rust so a shrunk failure is pasted into a regression test as it is.
//!
//! Must never: touch the world; a schedule is data.

use std::fmt;

/// Node and resource indexes into [`crate::world::NODES`] and [`crate::world::RESOURCES`].
pub type N = u8;
pub type R = u8;

/// How this node's `systemctl start/stop` of a resource behaves from now on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Commands {
    #[default]
    Normal,
    /// Start takes [`crate::world::SLOW_MS`].
    SlowStart,
    /// Start promotes, then the service fails.
    FailStart,
    /// Stop takes [`crate::world::SLOW_MS`] (a stop timeout: killed, reported failed).
    SlowStop,
    /// Stop ends the services but reports failure.
    FailStop,
}

/// One fault or repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Crash(N),
    Restart(N),
    /// Cut every link of this node.
    Isolate(N),
    /// Restore every link.
    Heal,
    Cut(N, N),
    Mend(N, N),
    Detach(N, R),
    FailDisk(N, R),
    Attach(N, R),
    /// Something outside the services holds the device open (or lets go).
    HoldOpen(N, R, bool),
    /// The events2 stream dies and is restarted (a fresh dump).
    KillStream(N),
    KillDaemon(N),
    StartDaemon(N),
    /// `systemctl reload drbd-reactor`: every instance exits and is built again.
    Reload(N),
    Commands(N, R, Commands),
}

/// A fault after a pause of virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub after_ms: u64,
    pub fault: Fault,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Step {{ after_ms: {}, fault: Fault::{:?} }}",
            self.after_ms, self.fault
        )
    }
}

/// xorshift64*: deterministic and without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    fn node(&mut self) -> N {
        self.below(3) as N
    }
    fn res(&mut self) -> R {
        self.below(3) as R
    }
}

/// The schedule of a seed: 1 to 24 faults, pauses from none to two minutes.
pub fn generate(seed: u64) -> Vec<Step> {
    let mut rng = Rng::new(seed);
    let len = 1 + rng.below(24) as usize;
    (0..len)
        .map(|_| {
            let after_ms = match rng.below(4) {
                0 => 0,
                1 => rng.below(3_000),
                2 => rng.below(30_000),
                _ => rng.below(120_000),
            };
            Step {
                after_ms,
                fault: fault(&mut rng),
            }
        })
        .collect()
}

fn fault(rng: &mut Rng) -> Fault {
    let (n, m, r) = (rng.node(), rng.node(), rng.res());
    match rng.below(20) {
        0 | 1 => Fault::Crash(n),
        2 | 3 => Fault::Restart(n),
        4 => Fault::Isolate(n),
        5 | 6 => Fault::Heal,
        7 => Fault::Cut(n, m),
        8 => Fault::Mend(n, m),
        9 => Fault::Detach(n, r),
        10 => Fault::FailDisk(n, r),
        11 => Fault::Attach(n, r),
        12 => Fault::HoldOpen(n, r, rng.below(2) == 0),
        13 => Fault::KillStream(n),
        14 => Fault::KillDaemon(n),
        15 => Fault::StartDaemon(n),
        16 => Fault::Reload(n),
        _ => Fault::Commands(
            n,
            r,
            match rng.below(5) {
                0 => Commands::Normal,
                1 => Commands::SlowStart,
                2 => Commands::FailStart,
                3 => Commands::SlowStop,
                _ => Commands::FailStop,
            },
        ),
    }
}
