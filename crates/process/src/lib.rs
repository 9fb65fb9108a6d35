//! Everything drbd-reactor and its tools do with child processes and retries, in one place:
//! spawn a child in its own process group (optionally dying with us; with `posix_spawn` where
//! std can use it: see [`program`]), signal or kill the whole group, wait with a deadline, read
//! its output as capped, lossily decoded lines, back off between retries, and write a script a
//! child will run (see [`script`]), and tell a process from a reused pid (see [`identity`]).
//!
//! Must never: signal a process group it did not create (no pid 0, no negative guesses), leave
//! a group running after its owner is dropped, or stop reading a child's output early (the
//! child would die of SIGPIPE).

pub mod backoff;
pub mod group;
pub mod identity;
pub mod output;
pub mod program;
pub mod script;

pub use backoff::Backoff;
pub use group::{spawn_group, GroupChild, Waited, REAP_GRACE};
pub use identity::start_time;
pub use output::{read_lines, LineLimit, OutputStats};
pub use program::{command_in_path, find_in_path};
pub use script::write_script;
