//! DRBD 9 as drbd-reactor sees it: the vocabularies, the `drbdsetup events2` grammar (parse
//! and print), the state of every resource, the diffs plugins react to, and reconciliation
//! after drbdsetup restarts.
//!
//! This crate is the functional core: it never does I/O, never reads a clock and never
//! spawns anything. The daemon and the simulator both build on it.

pub mod dump;
pub mod event;
mod fields;
mod fresh;
pub mod model;
pub mod parse;
pub mod print;
pub mod reconcile;
pub mod replay;
pub mod resource_list;
mod resources;
pub mod state;
pub mod synth;
mod unknowns;
pub mod update;
pub mod values;
pub mod vocab;

pub use event::{Event, EventType, Line, ObjectLine};
pub use model::{Connection, Device, Path, PeerDevice, Resource};
pub use parse::{parse_line, parse_line_into, ParseError};
pub use resource_list::ResourceList;
pub use state::State;
pub use unknowns::SeenUnknowns;
pub use update::{Change, ObjectUpdate, PluginUpdate};
