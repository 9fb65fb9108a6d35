//! The drbd-reactor daemon (skeleton; being written).
