//! A simulated DRBD 9 cluster that speaks `drbdsetup` and `drbdadm`: a pure, steppable
//! model of the kernels ([`model`]), drbdsetup's events2 printer ([`printer`]) and a thin
//! I/O shell (server, shims, ctl, demo). Must never touch a real DRBD device or the host's
//! drbd-utils: it is the one simulated part, and tests trust it to behave as DRBD does.

pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod demo;
mod demo_signals;
pub mod model;
pub mod ports;
pub mod printer;
pub mod procs;
pub mod server;
pub mod shim;
pub mod status;
pub mod view;
