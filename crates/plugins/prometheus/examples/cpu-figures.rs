//! The benchmark cases of `benches/scrape.rs` measured in CPU time (user + system of the whole
//! process, every thread), which a loaded machine inflates much less than wall time. Prints,
//! per case, the median wall time and the CPU time per iteration. With the daemon's allocator
//! and regions.
//!
//! cargo run --release -p drbd-reactor-prometheus --example cpu-figures [ITERATIONS]
//! (ONLY=all_changed/Identity: that case alone)
use drbd_reactor_prometheus::chunks::{gzip_member, Chunks, Encoding};
use drbd_reactor_prometheus::render::render;
use std::time::{Duration, Instant};
use synth::{frame, move_counters, state};

#[path = "../benches/synth/mod.rs"]
mod synth;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// CPU time of the whole process so far, every thread.
fn cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Measures `f` unless ONLY is set and not a part of `name` (for a profiler: one case).
fn measure(name: &str, n: usize, mut f: impl FnMut()) {
    if std::env::var("ONLY").is_ok_and(|only| !name.contains(&only)) {
        return;
    }
    f();
    let mut walls = Vec::new();
    let c0 = cpu();
    for _ in 0..n {
        let t = Instant::now();
        f();
        walls.push(t.elapsed());
    }
    let c = (cpu() - c0) / n as u32;
    walls.sort();
    println!(
        "{name:<28} wall median {:>8.1} ms   cpu {:>8.1} ms",
        walls[n / 2].as_secs_f64() * 1e3,
        c.as_secs_f64() * 1e3
    );
}

fn main() {
    let n: usize = std::env::args().nth(1).map_or(10, |a| a.parse().unwrap());
    // As in the daemon: mimalloc with its options (freed pages given back at once, no
    // transparent huge pages; ALLOCATOR_DEFAULTS=1: mimalloc's defaults), and the pieces in
    // its regions (NO_SPLIT=1: never split).
    if std::env::var_os("ALLOCATOR_DEFAULTS").is_none() {
        synth::use_daemon_allocator_options();
    }
    synth::use_daemon_regions();
    let mut s = state(10_000, 2);
    let base = frame(&s);
    let mut body = String::new();
    measure("full_render/enums", n, || {
        body.clear();
        render(base.resources.iter().map(|r| &**r), &base.ctx, &mut body);
    });
    println!("body: {} bytes", body.len());
    for e in [Encoding::Identity, Encoding::Gzip] {
        measure(&format!("cold/{e:?}"), n, || {
            let mut c = Chunks::new(true);
            c.update(&base, e);
            c.body(e);
        });
    }
    move_counters(&mut s, |i| i == 5000, 3);
    let one = frame(&s);
    move_counters(&mut s, |_| true, 5);
    let all = frame(&s);
    for (name, other) in [("one_changed", &one), ("all_changed", &all)] {
        for e in [Encoding::Identity, Encoding::Gzip] {
            let mut c = Chunks::new(true);
            c.update(&base, e);
            let len = c.body(e).expect("the encoding taken").len;
            let mut flip = false;
            measure(&format!("{name}/{e:?}"), n, || {
                flip = !flip;
                c.update(if flip { other } else { &base }, e);
                c.body(e);
            });
            if name == "one_changed" {
                println!("  {e:?} body: {len} bytes, kept {:?}", c.kept_bytes());
            }
        }
    }
    measure("gzip_whole_body", n.min(3), || {
        gzip_member(body.as_bytes());
    });
}
