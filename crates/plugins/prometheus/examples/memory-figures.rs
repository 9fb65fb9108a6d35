//! Where a scrape's memory goes, with the daemon's allocator and its options: resident memory
//! (VmRSS, and the peak VmHWM) after each step of the bench's plain-client story on a 10k x 2
//! state, beside the bytes the cache keeps. What is resident above state + kept pieces is the
//! allocator's rounding and partly used pages, and the render's temporaries.
//!
//! cargo run --release -p drbd-reactor-prometheus --example memory-figures
use drbd_reactor_prometheus::chunks::{Chunks, Encoding};
use synth::{frame, move_counters, state};

#[path = "../benches/synth/mod.rs"]
mod synth;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// VmRSS and VmHWM in MB.
fn resident() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
}

fn report(step: &str, chunks: Option<&Chunks>) {
    let (rss, hwm) = resident();
    let (plain, gzip) = chunks.map(Chunks::kept_bytes).unwrap_or_default();
    println!(
        "{step:<40} rss {rss:>7.1} MB  peak {hwm:>7.1} MB  kept plain {:>6.1} MB gzip {:>5.1} MB",
        plain as f64 / 1048576.0,
        gzip as f64 / 1048576.0
    );
}

fn main() {
    // The daemon's allocator options (crates/drbd-reactor/src/bin/drbd-reactor.rs).
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    // SAFETY: sets one of the allocator's options (mi_option_purge_delay = 15) before use.
    unsafe { libmimalloc_sys::mi_option_set(15, 0) };
    report("start", None);
    let mut s = state(10_000, 2);
    report("state 10k x 2", None);
    let mut chunks = Chunks::new(true);
    let f = frame(&s);
    chunks.update(&f, Encoding::Identity);
    drop(f);
    let body = chunks.body(Encoding::Identity).expect("taken");
    report("first plain scrape (body held)", Some(&chunks));
    drop(body);
    report("body sent", Some(&chunks));
    move_counters(&mut s, |_| true, 7);
    report("statistics poll applied", Some(&chunks));
    let f = frame(&s);
    chunks.update(&f, Encoding::Identity);
    drop(f);
    let body = chunks.body(Encoding::Identity).expect("taken");
    report("plain scrape after the poll", Some(&chunks));
    drop(body);
    for round in 0..3 {
        move_counters(&mut s, |_| true, 11 + round);
        let f = frame(&s);
        chunks.update(&f, Encoding::Identity);
        drop(f);
        chunks.body(Encoding::Identity);
    }
    report("three more polls and scrapes", Some(&chunks));
    // A gzip-only client from now on: the plain pieces go at the state after next.
    for round in 0..3 {
        move_counters(&mut s, |_| true, 21 + round);
        let f = frame(&s);
        chunks.update(&f, Encoding::Gzip);
        drop(f);
        chunks.body(Encoding::Gzip);
    }
    report("gzip only, three polls later", Some(&chunks));
    // What the daemon does when an encoding was dropped (server.rs, release_if_dropped).
    if let Some(pool) = drbd_reactor_prometheus::background::render_pool() {
        // SAFETY: mi_collect walks the allocator's own bookkeeping, from any thread.
        pool.broadcast(|_| unsafe { libmimalloc_sys::mi_collect(true) });
    }
    unsafe { libmimalloc_sys::mi_collect(true) };
    report("after collecting every thread", Some(&chunks));
    if std::env::var_os("MI_STATS").is_some() {
        // SAFETY: prints the allocator's statistics to stderr.
        unsafe { libmimalloc_sys::mi_stats_print(std::ptr::null_mut()) };
    }
}
