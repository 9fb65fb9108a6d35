//! Test support for the promoter on real systemd: the project's binaries built once per test
//! process ([`bins`]), and a simulated DRBD cluster whose nodes are nspawn containers with
//! systemd as PID 1, drbd-utils' units, the simulator's shims as `/usr/sbin/drbdsetup` and
//! `/usr/sbin/drbdadm`, and drbd-reactor as a systemd service ([`cluster`]).
//!
//! Must never: skip (a host that cannot run containers fails the test, saying what is
//! missing), or leave a container, mount or simulator socket behind.

pub mod bins;
pub mod cluster;

pub use cluster::{Cluster, NodeSetup};
pub use nspawn_harness::{poll, Container};
