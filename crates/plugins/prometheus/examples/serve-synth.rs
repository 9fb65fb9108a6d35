//! Serves the metrics of a generated state on 127.0.0.1:PORT while changing it like the core
//! does: every INTERVAL ms the counters of CHANGED resources move (`all`, `one` or `none`) and
//! a new snapshot is published. For measuring scrapes with curl and checking the body with
//! real clients (curl --compressed, gzip -t, a prometheus server).
//!
//! cargo run --release -p drbd-reactor-prometheus --example serve-synth -- 9942 10000 2 all 100
use drbd::{parse_line, State};
use drbd_reactor_prometheus::chunks::Frame;
use drbd_reactor_prometheus::render::RenderContext;
use drbd_reactor_prometheus::server::{bind, serve, Endpoint, MetricsSource, Timeouts};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    fn frame(&self) -> Frame {
        self.frame.lock().unwrap().clone()
    }
}

fn frame(s: &State) -> Frame {
    Frame {
        resources: s.resources().cloned().collect(),
        ctx: RenderContext {
            enums: true,
            ..RenderContext::default()
        },
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_string());
    let port: u16 = arg(1, "9942").parse().unwrap();
    let resources: usize = arg(2, "10000").parse().unwrap();
    let peers: u32 = arg(3, "2").parse().unwrap();
    let changed = arg(4, "all");
    let interval: u64 = arg(5, "100").parse().unwrap();
    let mut state = State::new();
    let mut out = Vec::new();
    for line in drbd::synth::initial_dump(resources, peers) {
        state.apply(line.event, &mut out);
    }
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
            let mut lines = Vec::new();
            for (i, r) in state.resources().enumerate() {
                if changed == "none" || (changed == "one" && i != (tick as usize) % resources) {
                    continue;
                }
                for c in &r.connections {
                    for p in &c.peer_devices {
                        lines.push(format!(
                            "change peer-device name:{} peer-node-id:{} conn-name:{} volume:{} received:{} sent:{}",
                            r.name, c.peer_node_id, c.conn_name, p.volume, p.received + 1, p.sent + 2
                        ));
                    }
                }
            }
            if lines.is_empty() {
                continue;
            }
            for l in lines {
                state.apply(parse_line(&l).unwrap().event, &mut out);
                out.clear();
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
