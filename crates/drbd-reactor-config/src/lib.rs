//! drbd-reactor's configuration (skeleton; being written).
