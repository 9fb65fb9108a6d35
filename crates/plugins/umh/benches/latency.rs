//! Latency from an events2 line to the start of the rule's command: parse, apply, match, build
//! the environment, spawn `sh` (spawn returns once the shell runs). 1,000 events, one at a time;
//! prints p50 and p99. The daemon adds one channel hop to this path.
use drbd::{parse_line, State};
use drbd_reactor_umh::matcher::invocations;
use drbd_reactor_umh::rules::UmhConfig;
use drbd_reactor_umh::runner::run;
use std::time::{Duration, Instant};

fn main() {
    let config: UmhConfig = toml::from_str(
        "[[device]]\nname = \"quorum changed\"\ncommand = \"true\"\nold.quorum = { operator = \"NotEquals\", value = true }\n[[device]]\nname = \"quorum lost\"\ncommand = \"true\"\nold.quorum = true\nnew.quorum = false\n",
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut state = State::new();
    let mut out = Vec::new();
    state.apply(parse_line("exists resource name:r0 role:Primary suspended:no may_promote:no promotion_score:10101").unwrap().event, &mut out);
    let mut latencies: Vec<Duration> = Vec::with_capacity(1000);
    for i in 0..1000 {
        let quorum = if i % 2 == 0 { "yes" } else { "no" };
        let line = format!("change device name:r0 volume:0 minor:1000 backing_dev:/dev/vg/r0 disk:UpToDate client:no open:yes quorum:{quorum} size:1048576 read:0 written:0 al-writes:0 bm-writes:0 upper-pending:0 lower-pending:0 al-suspended:no");
        let t0 = Instant::now();
        out.clear();
        state.apply(parse_line(&line).unwrap().event, &mut out);
        let inv = out
            .iter()
            .flat_map(|u| invocations(&config, u))
            .next()
            .expect("a rule matches every flip");
        let report = rt.block_on(run(&inv));
        latencies.push(report.started_at.unwrap() - t0);
    }
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "event line -> command start over 1000 events: p50 {:?}, p99 {:?}, max {:?}",
        p(0.50),
        p(0.99),
        latencies[999]
    );
}
