//! Runs one ingest of a generated stream, for instruction counts under callgrind (timings
//! on a shared machine vary; instruction counts do not): `ingest-once dump|changes into|owned|batched`.
//!
//! `valgrind --tool=callgrind --toggle-collect='ingest_once::runs::*' target/release/examples/ingest-once dump into`
//!
//! With a count (`ingest-once dump into 50`) it times that many runs and prints the fastest and
//! the median: on a machine shared with others the fastest run is the one least disturbed.

use drbd::{parse_line, synth, State};
use runs::{lines, parse_apply_keeping, parse_apply_owned};

#[path = "../benches/runs/mod.rs"]
mod runs;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn run(text: &str, state: State, variant: &str) -> State {
    match variant {
        "owned" => parse_apply_owned(text, state),
        "batched" => parse_apply_keeping(text, state, 256),
        _ => parse_apply_keeping(text, state, 1),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (what, variant) = (args[1].as_str(), args.get(2).map_or("into", String::as_str));
    let (text, base) = match what {
        "dump" => (synth::render(&synth::initial_dump(10_000, 2)), State::new()),
        _ => {
            let mut base = State::new();
            let mut out = Vec::new();
            for line in synth::render(&synth::initial_dump(1_000, 2)).lines() {
                base.apply(parse_line(line).unwrap().event, &mut out);
            }
            (
                synth::render(&synth::full_change_lines(1_000, 2, 200_000, 1)),
                base,
            )
        }
    };
    let runs: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(0);
    if runs == 0 {
        std::hint::black_box(run(&text, base, variant));
        return;
    }
    let lines = lines(&text).count();
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let base = base.clone();
        let start = std::time::Instant::now();
        let state = run(&text, base, variant);
        times.push(start.elapsed());
        drop(std::hint::black_box(state));
    }
    times.sort();
    let (fastest, median) = (times[0], times[runs / 2]);
    println!(
        "{what} {variant}: {lines} lines, fastest {:.1} ms ({:.2} M lines/s), median {:.1} ms over {runs} runs",
        fastest.as_secs_f64() * 1e3,
        lines as f64 / fastest.as_secs_f64() / 1e6,
        median.as_secs_f64() * 1e3,
    );
}
