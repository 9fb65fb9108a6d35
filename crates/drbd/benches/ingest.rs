//! Parse and parse+apply throughput on generated `--full` streams: a 10k-resource, 2-peer
//! initial dump (80k lines) and 200k change lines on 1k resources.
//!
//! Targets (2-core machine): dump parsed and applied in ≤ 30 ms; ≥ 2M change lines/s.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use drbd::{parse_line, synth, State};
use runs::{lines, parse_apply_keeping, parse_apply_owned};

mod runs;
use std::hint::black_box;
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A naive version of the daemon's shape: a reader thread parses owned lines into batches
/// while the other applies the previous batch. Kept as a recorded negative result: slower
/// than one thread (31 vs 27 ms for the dump), because what one thread allocates the other
/// frees. The daemon instead applies lines in place and returns the batches to the reader,
/// which parses into them again (see `drbd-reactor`'s events2 reader).
fn parse_apply_pipelined(text: &str, mut state: State) -> State {
    const BATCH: usize = 512;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<drbd::Line>>(4);
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            for line in lines(text) {
                batch.push(parse_line(line).unwrap());
                if batch.len() == BATCH {
                    tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                        .unwrap();
                }
            }
            tx.send(batch).unwrap();
        });
        let mut out = Vec::new();
        for batch in rx {
            for line in batch {
                state.apply(line.event, &mut out);
                out.clear();
            }
        }
    });
    state
}

fn ingest(c: &mut Criterion) {
    let dump = synth::render(&synth::initial_dump(10_000, 2));
    let changes = synth::render(&synth::full_change_lines(1_000, 2, 200_000, 1));
    let small_dump = synth::render(&synth::initial_dump(1_000, 2));

    let mut g = c.benchmark_group("dump_10k_x2");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(lines(&dump).count() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| {
            for line in lines(&dump) {
                black_box(parse_line(line).unwrap());
            }
        })
    });
    // The state is dropped outside the timing: the daemon builds it once and keeps it.
    g.bench_function("parse_apply", |b| {
        b.iter_with_large_drop(|| parse_apply_keeping(&dump, State::new(), 1))
    });
    g.bench_function("parse_apply_owned_lines", |b| {
        b.iter_with_large_drop(|| parse_apply_owned(&dump, State::new()))
    });
    g.bench_function("parse_apply_pipelined", |b| {
        b.iter_with_large_drop(|| parse_apply_pipelined(&dump, State::new()))
    });
    // As the daemon's core does: the updates of a batch of lines are kept until the batch is
    // applied (then handed to plugins), so each line after the first on a resource finds the
    // resource shared with an update and copies it (copy on write).
    g.bench_function("parse_apply_batched", |b| {
        b.iter_with_large_drop(|| parse_apply_keeping(&dump, State::new(), 256))
    });
    g.finish();

    let base = {
        let mut state = State::new();
        let mut out = Vec::new();
        for line in lines(&small_dump) {
            state.apply(parse_line(line).unwrap().event, &mut out);
        }
        state
    };
    let mut g = c.benchmark_group("changes_200k_on_1k");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(200_000));
    g.bench_function("parse", |b| {
        b.iter(|| {
            for line in lines(&changes) {
                black_box(parse_line(line).unwrap());
            }
        })
    });
    g.bench_function("parse_apply", |b| {
        b.iter_batched(
            || base.clone(),
            |state| parse_apply_keeping(&changes, state, 1),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("parse_apply_pipelined", |b| {
        b.iter_batched(
            || base.clone(),
            |state| parse_apply_pipelined(&changes, state),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// A state snapshot for the state readers (prometheus, agentx) at 10k resources: the core
/// builds one between two batches when a reader asks (a list of the resources' `Arc`s: 675 ->
/// 352 µs against the map by copied name it replaced, on a loaded machine).
fn snapshot(c: &mut Criterion) {
    let mut state = State::new();
    let mut out = Vec::new();
    for line in drbd::synth::initial_dump(10_000, 2) {
        state.apply(line.event, &mut out);
    }
    let _ = state.snapshot(); // the name order, sorted once
    let mut g = c.benchmark_group("snapshot_10k");
    g.sample_size(20);
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("snapshot", |b| b.iter(|| black_box(state.snapshot())));
    // As in the daemon, where the core's last batch and the readers' renders have pushed the
    // resources out of the caches before the next snapshot: 64 MB written between two.
    let mut evict = vec![0u8; 64 << 20];
    g.bench_function("snapshot_cold", |b| {
        b.iter_batched(
            || {
                evict
                    .iter_mut()
                    .step_by(64)
                    .for_each(|x| *x = x.wrapping_add(1))
            },
            |()| state.snapshot(),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, ingest, snapshot);
criterion_main!(benches);
