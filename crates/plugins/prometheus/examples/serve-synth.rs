//! Serves the metrics of a generated state on 127.0.0.1:PORT while changing it like the core
//! does: every INTERVAL ms the counters of CHANGED resources move (`all`, `one` or `none`) and
//! a new snapshot is published. For measuring scrapes with curl and checking the body with
//! real clients (curl --compressed, gzip -t, a prometheus server). Pieces are kept in mimalloc
//! heaps as the daemon keeps them (`NO_REGIONS=1`: in the global allocator; `NO_SPLIT=1`:
//! never in two parts; `PURGE0=1`: the daemon's allocator options, freed pages given back at once and no
//! transparent huge pages).
//!
//! cargo run --release -p drbd-reactor-prometheus --example serve-synth -- 9942 10000 2 all 100
use drbd_reactor_prometheus::chunks::Frame;
use drbd_reactor_prometheus::server::{bind, serve, Endpoint, MetricsSource, Timeouts};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use synth::{frame, move_counters, state};

#[path = "../benches/synth/mod.rs"]
mod synth;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Source {
    generation: AtomicU64,
    frame: Mutex<Frame>,
}

impl MetricsSource for Source {
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
    fn frame(&self) -> Result<Frame, String> {
        Ok(self.frame.lock().unwrap().clone())
    }
}

#[tokio::main]
async fn main() {
    // The daemon's regions, unless NO_REGIONS is set.
    if std::env::var_os("NO_REGIONS").is_none() {
        synth::use_daemon_regions();
    }
    if std::env::var_os("PURGE0").is_some() {
        synth::use_daemon_allocator_options();
    }
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_string());
    let port: u16 = arg(1, "9942").parse().unwrap();
    let resources: usize = arg(2, "10000").parse().unwrap();
    let peers: u32 = arg(3, "2").parse().unwrap();
    let changed = arg(4, "all");
    let interval: u64 = arg(5, "100").parse().unwrap();
    let mut state = state(resources, peers);
    let source = Arc::new(Source {
        generation: AtomicU64::new(1),
        frame: Mutex::new(frame(&state)),
    });
    let writer = Arc::clone(&source);
    std::thread::spawn(move || {
        let mut tick = 0u64;
        loop {
            std::thread::sleep(Duration::from_millis(interval));
            tick += 1;
            let which = |i: usize| {
                changed == "all" || (changed == "one" && i == (tick as usize) % resources)
            };
            if move_counters(&mut state, which, 1) == 0 {
                continue;
            }
            *writer.frame.lock().unwrap() = frame(&state);
            writer.generation.fetch_add(1, Ordering::SeqCst);
        }
    });
    let listener = bind(&[([127, 0, 0, 1], port).into()]).await.unwrap();
    let (_stop, rx) = tokio::sync::watch::channel(false);
    eprintln!("serving on http://127.0.0.1:{port}/metrics");
    serve(
        listener,
        Endpoint::new(source, true),
        Timeouts::default(),
        rx,
    )
    .await;
}
