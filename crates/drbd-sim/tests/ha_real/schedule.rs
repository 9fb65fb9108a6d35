//! Fault schedules of the real-mode HA campaign: a seeded generator and the steps a schedule
//! is made of, printed so a failing schedule can be read and replayed (`HA_REAL_SEED=N`).
//! Its own types on purpose: the fast mode's (crates/ha-campaign) may change under it.
//!
//! Must never: touch a cluster or read a clock; a schedule is data, the same for a seed.

use std::fmt;

pub const NODES: [&str; 3] = ["alpha", "beta", "gamma"];
/// r0: `on-quorum-loss = shutdown`; r1: `freeze`.
pub const RESOURCES: [&str; 2] = ["r0", "r1"];

/// Node and resource indexes into [`NODES`] and [`RESOURCES`].
pub type N = usize;
pub type R = usize;

/// How the node's service script for a resource behaves from now on (its fault file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Service {
    #[default]
    Normal,
    /// Start takes [`SLOW_MS`] before the service runs.
    SlowStart,
    /// Start fails (after the promotion, which precedes it in the start list).
    FailStart,
    /// Stop takes [`SLOW_MS`] before the service ends.
    SlowStop,
    /// Stop ends the service but reports failure.
    FailStop,
}

/// How long a slow start or stop takes.
pub const SLOW_MS: u64 = 300;

impl Service {
    /// The word in the fault file the service script reads.
    pub fn word(self) -> &'static str {
        match self {
            Service::Normal => "normal",
            Service::SlowStart => "slow-start",
            Service::FailStart => "fail-start",
            Service::SlowStop => "slow-stop",
            Service::FailStop => "fail-stop",
        }
    }
}

/// One fault (or a partial repair, as operators and networks do mid-way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Power loss: kernel state, daemon, its commands and the markers ("/run") are gone.
    Crash(N),
    /// Power on: resources come up, the daemon starts.
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
    /// Something outside the services holds the device open (true) or lets go (false).
    HoldOpen(N, R, bool),
    /// The node's `drbdsetup events2` streams die (the daemon restarts its child).
    KillStream(N),
    /// SIGKILL to the daemon's process group (its commands run in groups of their own).
    KillDaemon(N),
    /// Starts the daemon if it is not running.
    StartDaemon(N),
    /// The config of one resource changes (a harmless key) and the daemon gets SIGHUP.
    Reload(N, R),
    Service(N, R, Service),
}

/// A fault after a pause of real time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub after_ms: u64,
    pub fault: Fault,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |i: N| NODES[i];
        let r = |i: R| RESOURCES[i];
        write!(f, "+{}ms ", self.after_ms)?;
        match self.fault {
            Fault::Crash(a) => write!(f, "crash {}", n(a)),
            Fault::Restart(a) => write!(f, "restart {}", n(a)),
            Fault::Isolate(a) => write!(f, "isolate {}", n(a)),
            Fault::Heal => write!(f, "heal"),
            Fault::Cut(a, b) => write!(f, "cut {} {}", n(a), n(b)),
            Fault::Mend(a, b) => write!(f, "mend {} {}", n(a), n(b)),
            Fault::Detach(a, x) => write!(f, "detach {} {}", n(a), r(x)),
            Fault::FailDisk(a, x) => write!(f, "fail-disk {} {}", n(a), r(x)),
            Fault::Attach(a, x) => write!(f, "attach {} {}", n(a), r(x)),
            Fault::HoldOpen(a, x, true) => write!(f, "hold-open {} {}", n(a), r(x)),
            Fault::HoldOpen(a, x, false) => write!(f, "let-go {} {}", n(a), r(x)),
            Fault::KillStream(a) => write!(f, "kill-events2 {}", n(a)),
            Fault::KillDaemon(a) => write!(f, "kill-daemon {}", n(a)),
            Fault::StartDaemon(a) => write!(f, "start-daemon {}", n(a)),
            Fault::Reload(a, x) => write!(f, "reload {} (changed {})", n(a), r(x)),
            Fault::Service(a, x, s) => write!(f, "service {} {} {}", n(a), r(x), s.word()),
        }
    }
}

/// A schedule printed one step a line.
pub fn describe(steps: &[Step]) -> String {
    steps.iter().map(|s| format!("  {s}\n")).collect()
}

/// xorshift64*: deterministic, no dependency.
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
        self.below(NODES.len() as u64) as N
    }
    fn res(&mut self) -> R {
        self.below(RESOURCES.len() as u64) as R
    }
}

/// The schedule of a seed: 1 to 8 faults, pauses from none to 400 ms (real time: a
/// failover here takes tens of ms, so this spans "in the middle of" to "well after").
pub fn generate(seed: u64) -> Vec<Step> {
    let mut rng = Rng::new(seed);
    let len = 1 + rng.below(8) as usize;
    let mut steps = Vec::with_capacity(len + 1);
    while steps.len() < len {
        let after_ms = match rng.below(4) {
            0 => 0,
            1 => rng.below(50),
            2 => rng.below(150),
            _ => rng.below(400),
        };
        let fault = fault(&mut rng);
        steps.push(Step { after_ms, fault });
        // A failover interrupted by a reload: the crash of a node, then, while the others
        // race for its resources, a reload of one of them.
        if let Fault::Crash(n) = fault {
            if rng.below(4) == 0 {
                let m = (n + 1 + rng.below(2) as usize) % NODES.len();
                steps.push(Step {
                    after_ms: rng.below(30),
                    fault: Fault::Reload(m, rng.res()),
                });
            }
        }
    }
    steps
}

fn fault(rng: &mut Rng) -> Fault {
    let (n, r) = (rng.node(), rng.res());
    let m = (n + 1 + rng.below(2) as usize) % NODES.len();
    match rng.below(20) {
        0..=2 => Fault::Crash(n),
        3 | 4 => Fault::Restart(n),
        5 => Fault::Isolate(n),
        6 => Fault::Heal,
        7 => Fault::Cut(n, m),
        8 => Fault::Mend(n, m),
        9 => Fault::Detach(n, r),
        10 => Fault::FailDisk(n, r),
        11 => Fault::Attach(n, r),
        12 => Fault::HoldOpen(n, r, rng.below(2) == 0),
        13 => Fault::KillStream(n),
        14 => Fault::KillDaemon(n),
        15 => Fault::StartDaemon(n),
        16 => Fault::Reload(n, r),
        _ => Fault::Service(
            n,
            r,
            match rng.below(5) {
                0 => Service::Normal,
                1 => Service::SlowStart,
                2 => Service::FailStart,
                3 => Service::SlowStop,
                _ => Service::FailStop,
            },
        ),
    }
}
