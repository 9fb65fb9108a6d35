//! The pure parts of a scrape at 10k resources x 2 peers (the body is ~72 MB with enums):
//! - `full_render`: the whole body into one string (enums on and off);
//! - `cold`: the cached pieces built from nothing (the first scrape);
//! - `one_changed`: one resource changed since the last scrape (target: 10 ms whole scrape);
//! - `all_changed`: the counters of every resource moved, as after a statistics poll (target:
//!   40 ms plain, 60 ms gzip whole scrape);
//! - `gzip_whole_body`: one deflate stream over the whole body, for comparison.
//!
//! The `one_changed` and `all_changed` cases alternate between two states, so every iteration
//! sees the change again. With the daemon's allocator, its options and its regions (as in
//! the binary: pieces renewed in place and split over size classes only happen there); before
//! 2026-12-06 (late night) these figures were taken with glibc's malloc.

#[path = "synth/mod.rs"]
mod synth;

use criterion::{criterion_group, criterion_main, Criterion};
use drbd_reactor_prometheus::chunks::{gzip_member, Chunks, Encoding};
use drbd_reactor_prometheus::render::{render, RenderContext};
use synth::{frame, move_counters, state};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn scrape(c: &mut Criterion) {
    synth::use_daemon_allocator_options();
    synth::use_daemon_regions();
    let mut s = state(10_000, 2);
    let mut g = c.benchmark_group("scrape_10k_resources_2_peers");
    g.sample_size(10);
    for enums in [false, true] {
        let ctx = RenderContext {
            enums,
            ..RenderContext::default()
        };
        let mut body = String::new();
        g.bench_function(
            if enums {
                "full_render/enums"
            } else {
                "full_render/no_enums"
            },
            |b| {
                b.iter(|| {
                    body.clear();
                    render(s.resources().map(|r| &**r), &ctx, &mut body);
                    body.len()
                })
            },
        );
    }
    let base = frame(&s);
    for encoding in [Encoding::Identity, Encoding::Gzip] {
        g.bench_function(format!("cold/{encoding:?}"), |b| {
            b.iter(|| {
                let mut chunks = Chunks::new(true);
                chunks.update(&base, encoding);
                chunks.body(encoding).expect("the encoding taken").len
            })
        });
    }
    move_counters(&mut s, |i| i == 5_000, 1);
    let one = frame(&s);
    move_counters(&mut s, |_| true, 7);
    let all = frame(&s);
    for (name, other) in [("one_changed", &one), ("all_changed", &all)] {
        for encoding in [Encoding::Identity, Encoding::Gzip] {
            let mut chunks = Chunks::new(true);
            chunks.update(&base, encoding);
            chunks.body(encoding);
            let mut flip = false;
            g.bench_function(format!("{name}/{encoding:?}"), |b| {
                b.iter(|| {
                    flip = !flip;
                    chunks.update(if flip { other } else { &base }, encoding);
                    chunks.body(encoding).expect("the encoding taken").len
                })
            });
        }
    }
    let mut whole = String::new();
    render(base.resources.iter().map(|r| &**r), &base.ctx, &mut whole);
    g.bench_function("gzip_whole_body", |b| {
        b.iter(|| gzip_member(whole.as_bytes()).len())
    });
    g.finish();
}

criterion_group!(benches, scrape);
criterion_main!(benches);
