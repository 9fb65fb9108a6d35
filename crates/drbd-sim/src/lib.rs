//! A simulated DRBD 9 cluster (skeleton; being written).
