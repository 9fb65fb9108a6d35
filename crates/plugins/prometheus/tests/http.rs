//! The HTTP edge on real loopback sockets: paths, methods, gzip, and that idle clients or a
//! burst of scrapers neither delay a scrape nor make the body render more than once.

use drbd::{parse_line, State};
use drbd_reactor_prometheus::chunks::{Encoding, Frame};
use drbd_reactor_prometheus::render::*;
use drbd_reactor_prometheus::server::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Fixture(State);
impl MetricsSource for Fixture {
    fn generation(&self) -> u64 {
        1
    }
    fn frame(&self) -> Result<Frame, String> {
        Ok(Frame {
            resources: self.0.snapshot(),
            ctx: ctx(),
        })
    }
}

fn ctx() -> RenderContext {
    RenderContext {
        enums: true,
        versions: DrbdVersions {
            kmod: Some("9.2.8".into()),
            utils: Some("9.28.0".into()),
            last_refresh_ok: true,
            probed: true,
        },
        reactor: Vec::new(),
    }
}

fn fixture() -> Arc<Fixture> {
    let mut s = State::new();
    let mut out = Vec::new();
    for l in include_str!("fixtures/monitoring-example.events2").lines() {
        s.apply(parse_line(l).unwrap().event, &mut out);
    }
    Arc::new(Fixture(s))
}

async fn start() -> (std::net::SocketAddr, tokio::sync::watch::Sender<bool>) {
    start_with(Timeouts {
        read: Duration::from_secs(2),
        connection: Duration::from_secs(5),
    })
    .await
}

async fn start_with(
    timeouts: Timeouts,
) -> (std::net::SocketAddr, tokio::sync::watch::Sender<bool>) {
    let l = bind(&["127.0.0.1:0".parse().unwrap()]).await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(serve(l, Endpoint::new(fixture(), true), timeouts, rx));
    (addr, tx)
}

async fn request(addr: std::net::SocketAddr, raw: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(raw.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (
        String::from_utf8_lossy(&buf[..split]).to_string(),
        buf[split + 4..].to_vec(),
    )
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n")
}

fn expected() -> String {
    let mut out = String::new();
    render(fixture().0.resources().map(|r| &**r), &ctx(), &mut out);
    out
}

#[tokio::test]
async fn get_metrics_serves_the_body_with_the_text_format_type() {
    let (addr, _stop) = start().await;
    let (head, body) = request(addr, &get("/metrics", "")).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert_eq!(String::from_utf8(body).unwrap(), expected());
}

#[tokio::test]
async fn root_serves_metrics_to_scrapers_and_a_page_to_browsers() {
    let (addr, _stop) = start().await;
    let (_, body) = request(addr, &get("/", "Accept: */*\r\n")).await;
    assert_eq!(String::from_utf8(body).unwrap(), expected());
    let (head, body) = request(
        addr,
        &get("/", "Accept: text/html,application/xhtml+xml\r\n"),
    )
    .await;
    assert!(head.to_lowercase().contains("text/html"));
    assert!(String::from_utf8(body)
        .unwrap()
        .contains("href=\"/metrics\""));
}

#[tokio::test]
async fn head_has_the_length_but_no_body_and_other_paths_and_methods_are_refused() {
    let (addr, _stop) = start().await;
    let (head, body) = request(
        addr,
        "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        head.contains(&format!("content-length: {}", expected().len())),
        "{head}"
    );
    assert!(body.is_empty());
    let (head, _) = request(addr, &get("/foo", "")).await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let (head, _) = request(
        addr,
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        head.starts_with("HTTP/1.1 405") && head.to_lowercase().contains("allow: get, head"),
        "{head}"
    );
}

#[tokio::test]
async fn gzip_is_used_when_accepted() {
    let (addr, _stop) = start().await;
    let (head, body) = request(addr, &get("/metrics", "Accept-Encoding: gzip\r\n")).await;
    assert!(
        head.to_lowercase().contains("content-encoding: gzip"),
        "{head}"
    );
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text).unwrap();
    assert_eq!(text, expected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_client_and_200_concurrent_scrapers_do_not_delay_a_scrape() {
    // The idle clients may hold the server for 60 s; the scrapes must all be served in half of
    // that. A server that serves one client at a time fails here instead of hanging.
    let (addr, _stop) = start_with(Timeouts {
        read: Duration::from_secs(60),
        connection: Duration::from_secs(120),
    })
    .await;
    let within = Duration::from_secs(30);
    let _idle = TcpStream::connect(addr).await.unwrap(); // connects, never sends
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\n").await.unwrap(); // half a request
    let scrapers: Vec<_> = (0..200)
        .map(|_| tokio::spawn(async move { request(addr, &get("/metrics", "")).await }))
        .collect();
    let t = Instant::now();
    let (head, body) = tokio::time::timeout(within, request(addr, &get("/metrics", "")))
        .await
        .expect("a scrape waited for the idle clients");
    let alone = t.elapsed();
    assert!(head.starts_with("HTTP/1.1 200"));
    assert_eq!(body.len(), expected().len());
    let all = async {
        for s in scrapers {
            let (h, b) = s.await.unwrap();
            assert!(h.starts_with("HTTP/1.1 200"));
            assert_eq!(b.len(), expected().len());
        }
    };
    tokio::time::timeout(within, all)
        .await
        .expect("the 200 scrapers waited for the idle clients");
    eprintln!("scrape next to an idle client and 200 scrapers took {alone:?}");
}

/// A state whose generation the test moves, counting how often it is taken for rendering.
struct Counted {
    state: State,
    generation: std::sync::atomic::AtomicU64,
    frames: std::sync::atomic::AtomicU64,
}

impl Counted {
    /// The fixture's state at generation 1, no frame taken yet.
    fn fixture() -> Counted {
        Counted {
            state: Arc::try_unwrap(fixture()).ok().unwrap().0,
            generation: 1.into(),
            frames: 0.into(),
        }
    }
}

impl MetricsSource for Counted {
    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn frame(&self) -> Result<Frame, String> {
        self.frames
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Frame {
            resources: self.state.snapshot(),
            ctx: ctx(),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_100_concurrent_scrapes_after_a_change_renders_once() {
    use std::sync::atomic::Ordering::SeqCst;
    let source = Arc::new(Counted::fixture());
    let endpoint = Endpoint::new(source.clone(), true);
    let l = bind(&["127.0.0.1:0".parse().unwrap()]).await.unwrap();
    let addr = l.local_addr().unwrap();
    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(serve(l, endpoint.clone(), Timeouts::default(), rx));
    request(addr, &get("/metrics", "")).await;
    assert_eq!(source.frames.load(SeqCst), 1);
    source.generation.store(2, SeqCst);
    let scrapers: Vec<_> = (0..100)
        .map(|i| {
            let extra = if i % 2 == 0 {
                "Accept-Encoding: gzip\r\n"
            } else {
                ""
            };
            tokio::spawn(async move { request(addr, &get("/metrics", extra)).await })
        })
        .collect();
    for s in scrapers {
        let (head, body) = s.await.unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let mut text = String::new();
        if head.to_lowercase().contains("content-encoding: gzip") {
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text)
                .unwrap();
        } else {
            text = String::from_utf8(body).unwrap();
        }
        assert_eq!(text, expected());
    }
    // The new generation is taken once; the encoding its first scrape did not ask for is
    // added once from the same generation's frame (the cache keeps no resources to render it
    // from), so the source is asked at most once more, whichever encoding came first.
    let frames = source.frames.load(SeqCst);
    assert!((2..=3).contains(&frames), "{frames} frames");
    let work = endpoint.work().await;
    assert_eq!(work.updates, frames);
    // Every chunk was compressed once in the burst: as many as a cache compressing it all.
    let mut once = drbd_reactor_prometheus::chunks::Chunks::new(true);
    once.update(
        &source.frame().unwrap(),
        drbd_reactor_prometheus::chunks::Encoding::Gzip,
    );
    assert_eq!(work.members_compressed, once.work().members_compressed);
    // The resources did not change: the burst rendered no block again.
    assert_eq!(work.blocks_rendered, once.work().blocks_rendered);
}

#[tokio::test]
async fn serve_io_answers_pipelined_requests_on_an_in_memory_stream() {
    let endpoint = Endpoint::new(fixture(), true);
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let conn = tokio::spawn(serve_io(server, endpoint, Duration::from_secs(5)));
    client
        .write_all(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    client.read_to_end(&mut buf).await.unwrap();
    conn.await.unwrap().unwrap();
    let text = String::from_utf8(buf).unwrap();
    let body = expected();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("HTTP/1.1 404"), "{text}");
    assert!(
        text.ends_with(&body),
        "the HTTP/1.0 GET ends the answer with the body"
    );
    assert_eq!(
        text.matches("# TYPE drbdreactor_up").count(),
        1,
        "HEAD has no body"
    );
}

#[test]
fn accept_encoding_allows_gzip_unless_its_quality_is_zero() {
    assert!(accepts_gzip("gzip"));
    assert!(accepts_gzip("deflate, GZIP;q=0.5"));
    assert!(!accepts_gzip("gzip;q=0"));
    assert!(!accepts_gzip("gzip; q=0.0, identity"));
    assert!(!accepts_gzip("x-gzip2, identity"));
    assert!(!accepts_gzip(""));
    // Parameter names are case-insensitive; a weight that is not a number refuses.
    assert!(!accepts_gzip("gzip;Q=0"));
    assert!(!accepts_gzip("gzip;q=nan"));
}

/// `/` serves the landing page only to a client that wants HTML at least as much as plain
/// text: a scraper of `/` that refuses HTML or ranks it last gets metrics.
#[test]
fn the_landing_page_goes_only_to_clients_that_prefer_html() {
    assert!(wants_html(
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    ));
    assert!(!wants_html("text/html;q=0, text/plain"));
    assert!(!wants_html("text/plain, text/html;q=0.5"));
    assert!(!wants_html(
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    ));
    assert!(!wants_html(""));
}

/// A source whose snapshot takes a while, as the core's answer can under load.
struct Slow(Counted);
impl MetricsSource for Slow {
    fn generation(&self) -> u64 {
        self.0.generation()
    }
    fn frame(&self) -> Result<Frame, String> {
        std::thread::sleep(Duration::from_millis(300));
        self.0.frame()
    }
}

/// A scrape given up during its render (the client gone, Prometheus' scrape timeout) only
/// stops waiting: the render fills the cache and the next scrape takes it. Dropped with the
/// scrape, the render ran on detached and the next scrape began another from an empty cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_abandoned_during_its_render_leaves_the_render_to_fill_the_cache() {
    use std::sync::atomic::Ordering::SeqCst;
    let source = Arc::new(Slow(Counted::fixture()));
    let endpoint = Endpoint::new(source.clone(), true);
    let abandoned =
        tokio::time::timeout(Duration::from_millis(50), endpoint.body(Encoding::Identity)).await;
    assert!(abandoned.is_err(), "given up during the render");
    let pieces = endpoint.body(Encoding::Identity).await.unwrap();
    assert_eq!(String::from_utf8(pieces.concat()).unwrap(), expected());
    assert_eq!(
        source.0.frames.load(SeqCst),
        1,
        "one render for both scrapes"
    );
}

/// A client that shuts its side down after the request (`nc -N`, scripted probes) gets the
/// answer, and every answer names what a cache in front must key on.
#[tokio::test]
async fn a_half_closed_client_is_answered_and_answers_say_what_they_vary_on() {
    let (addr, _stop) = start().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").await.unwrap();
    s.shutdown().await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.0 200"), "{text}");
    assert!(
        text.to_lowercase().contains("vary: accept-encoding\r\n"),
        "{text}"
    );
    let (head, _) = request(addr, &get("/", "Accept: text/html\r\n")).await;
    assert!(
        head.to_lowercase()
            .contains("vary: accept, accept-encoding"),
        "{head}"
    );
}

/// Connections to `port` the server has accepted: established sockets with that local port
/// that have a socket inode (one still in the backlog has none). Counted from /proc/net, not
/// from this process's open files, which the tests running beside this one change.
fn accepted_connections(port: u16) -> usize {
    let port = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        })
        .filter(|c| c.len() > 9 && c[1].ends_with(&port) && c[3] == "01" && c[9] != "0")
        .count()
}

/// Idle clients cannot take more than the connection limit: past it they wait in the
/// kernel's backlog, and the daemon keeps its file descriptors for drbdsetup and commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_beyond_the_connection_limit_wait_in_the_backlog() {
    let (addr, _stop) = start_with(Timeouts {
        read: Duration::from_secs(20),
        connection: Duration::from_secs(30),
    })
    .await;
    let clients = MAX_CONNECTIONS + 100;
    let mut idle = Vec::new();
    for _ in 0..clients {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let accepted = || accepted_connections(addr.port());
    let deadline = Instant::now() + Duration::from_secs(10);
    while accepted() < MAX_CONNECTIONS {
        assert!(Instant::now() < deadline, "only {} accepted", accepted());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Something that must not happen, given a moment to.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(accepted(), MAX_CONNECTIONS);
    drop(idle);
}

/// A connection whose time is up during a response gets that response whole (then the
/// connection closes), instead of being cut mid-way: a keep-alive scraper recorded `up=0`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_lets_the_response_in_flight_finish() {
    use std::sync::atomic::Ordering::SeqCst;
    let source = Arc::new(Slow(Counted::fixture()));
    let l = bind(&["127.0.0.1:0".parse().unwrap()]).await.unwrap();
    let addr = l.local_addr().unwrap();
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let timeouts = Timeouts {
        read: Duration::from_secs(2),
        // Ends while the 300 ms render of the first request is under way.
        connection: Duration::from_millis(100),
    };
    tokio::spawn(serve(l, Endpoint::new(source.clone(), true), timeouts, rx));
    let keep_alive = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    let (head, body) = request(addr, keep_alive).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_lowercase().contains("connection: close"), "{head}");
    assert_eq!(String::from_utf8(body).unwrap(), expected());
    assert_eq!(source.0.frames.load(SeqCst), 1);
}

/// A core that does not answer: each queued scrape waited for it in turn, the k-th answered
/// after k waits. A failure now answers the scrapes queued behind it for the same state.
struct Stuck(std::sync::atomic::AtomicU64);
impl MetricsSource for Stuck {
    fn generation(&self) -> u64 {
        7
    }
    fn frame(&self) -> Result<Frame, String> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(500));
        Err("no snapshot from the core within 500 ms".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_queued_behind_a_failed_snapshot_share_its_failure() {
    let source = Arc::new(Stuck(Default::default()));
    let endpoint = Endpoint::new(source.clone(), true);
    let scrapes: Vec<_> = (0..6)
        .map(|_| {
            let e = endpoint.clone();
            tokio::spawn(async move { e.body(Encoding::Identity).await })
        })
        .collect();
    for s in scrapes {
        assert!(matches!(s.await.unwrap(), Err(BodyError::Unavailable(_))));
    }
    assert_eq!(
        source.0.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one wait for the core, not one per scrape"
    );
}
