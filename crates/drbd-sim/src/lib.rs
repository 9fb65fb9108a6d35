//! A simulated DRBD 9 cluster that speaks `drbdsetup` and `drbdadm`: a pure, steppable
//! model of the kernels ([`model`]), drbdsetup's events2 printer ([`printer`]) and a thin
//! I/O shell (server, shims, ctl, demo).

pub mod clock;
pub mod config;
pub mod model;
pub mod printer;
pub mod view;
