//! Writes a synthetic `drbdsetup events2 --full` stream to stdout, for benchmarks and the
//! daemon's whole-process bench.
//!
//! `gen-events2 dump <resources> <peers>` prints an initial dump ending with `exists -`;
//! `gen-events2 changes <resources> <peers> <count> [seed]` prints change lines for that dump.

use std::io::Write;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: gen-events2 dump <resources> <peers>\n       \
         gen-events2 changes <resources> <peers> <count> [seed]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let lines = match (args.first().map(String::as_str), num(1), num(2)) {
        (Some("dump"), Some(r), Some(p)) if args.len() == 3 => {
            drbd::synth::initial_dump(r as usize, p as u32)
        }
        (Some("changes"), Some(r), Some(p)) if (4..=5).contains(&args.len()) => {
            let Some(count) = num(3) else {
                return usage();
            };
            let seed = if args.len() == 5 {
                match num(4) {
                    Some(s) => s,
                    None => return usage(),
                }
            } else {
                1
            };
            drbd::synth::full_change_lines(r as usize, p as u32, count as usize, seed)
        }
        _ => return usage(),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in &lines {
        if writeln!(out, "{line}").is_err() {
            return ExitCode::FAILURE;
        }
    }
    if out.flush().is_err() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
