//! One scrape (render of the whole body) at 10k resources x 2 peers, enums on and off.
//! Targets: at most 40 ms without enums, 100 ms with (the original: 0.8 s and 1.5 s).
use criterion::{criterion_group, criterion_main, Criterion};
use drbd::State;
use drbd_reactor_prometheus::render::{render, RenderContext};

fn state() -> State {
    let mut s = State::new();
    let mut out = Vec::new();
    for line in drbd::synth::initial_dump(10_000, 2) {
        s.apply(line.event, &mut out);
        out.clear();
    }
    s
}

fn scrape(c: &mut Criterion) {
    let s = state();
    let mut g = c.benchmark_group("scrape_10k_resources_2_peers");
    g.sample_size(20);
    for enums in [false, true] {
        let ctx = RenderContext {
            enums,
            ..RenderContext::default()
        };
        let mut body = String::new();
        g.bench_function(if enums { "enums" } else { "no_enums" }, |b| {
            b.iter(|| {
                body.clear();
                render(s.resources().map(|r| &**r), &ctx, &mut body);
                body.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, scrape);
criterion_main!(benches);
