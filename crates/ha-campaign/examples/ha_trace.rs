//! Replays one seed's schedule (shrunk with `shrink`) and prints every decision and command:
//! `cargo run --release -p ha-campaign --example ha_trace -- SEED [shrink]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args.next().expect("SEED").parse().expect("a number");
    let mut steps = ha_campaign::schedule::generate(seed);
    if args.next().as_deref() == Some("shrink") {
        steps = ha_campaign::shrink(&steps);
    }
    let (result, trace) = ha_campaign::trace(&steps);
    for l in trace {
        println!("{l}");
    }
    println!("{}", ha_campaign::report(seed, &steps));
    println!("{result:?}");
}
