//! The long run: `cargo run --release -p ha-campaign --example ha_campaign -- COUNT [FIRST]`
//! runs the schedules of seeds FIRST..FIRST+COUNT and prints the figures, and the shrunk
//! schedule of the first few failing seeds (a progress line every 50,000). Exits 1 if a seed
//! breaks an invariant.

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("COUNT [FIRST] as numbers"))
        .collect();
    let count = args.first().copied().unwrap_or(1_000_000);
    let first = args.get(1).copied().unwrap_or(1);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = std::time::Instant::now();
    // In chunks, with a progress line after each (a long run is watched from its log).
    let chunk = 50_000;
    let mut f = ha_campaign::Figures::default();
    let mut from = first;
    while from < first + count {
        let to = (from + chunk).min(first + count);
        let part = ha_campaign::campaign(from, to, threads);
        f.schedules += part.schedules;
        f.steps += part.steps;
        f.failing.extend(part.failing);
        f.gaps.extend(part.gaps);
        if count > chunk {
            println!(
                "progress: {} of {count} schedules, {} failing, {} gaps, {:.0} s",
                f.schedules,
                f.failing.len(),
                f.gaps.len(),
                t.elapsed().as_secs_f64()
            );
        }
        from = to;
    }
    println!(
        "{} schedules, {} fault steps, {} failing, {} fail-back gaps (first: {:?}), {:.1} s on {threads} threads",
        f.schedules,
        f.steps,
        f.failing.len(),
        f.gaps.len(),
        f.gaps.first(),
        t.elapsed().as_secs_f64()
    );
    let mut gap_kinds = std::collections::BTreeMap::<String, (usize, u64)>::new();
    for (seed, m) in &f.gaps {
        let k: String = m.chars().filter(|c| !c.is_ascii_digit()).collect();
        gap_kinds.entry(k).or_insert((0, *seed)).0 += 1;
    }
    for (k, (count, seed)) in &gap_kinds {
        println!("{count:>7} x gap: {k} (first seed {seed})");
    }
    let mut kinds = std::collections::BTreeMap::<String, (usize, u64)>::new();
    for (seed, m) in &f.failing {
        let k: String = m.chars().filter(|c| !c.is_ascii_digit()).collect();
        kinds.entry(k).or_insert((0, *seed)).0 += 1;
    }
    for (k, (count, seed)) in &kinds {
        println!("{count:>7} x {k} (first seed {seed})");
    }
    for (seed, _) in f.failing.iter().take(3) {
        let steps = ha_campaign::shrink(&ha_campaign::schedule::generate(*seed));
        println!("{}", ha_campaign::report(*seed, &steps));
    }
    if !f.failing.is_empty() {
        let seeds: Vec<u64> = f.failing.iter().take(50).map(|(s, _)| *s).collect();
        println!("failing seeds: {seeds:?}");
        std::process::exit(1);
    }
}
