//! Arbitrary bytes as what a client sends to the metrics endpoint (pipelined requests, bad
//! methods, huge headers, odd Accept-Encoding, HTTP/1.0, requests cut short), served by
//! `server::serve_io` on an in-memory pipe with the clock paused (timeouts pass instantly).
//! Invariants: no panic; the answer is a sequence of complete HTTP responses (or nothing: a
//! closed connection); every metrics body is the full render of the source's state, after
//! gunzip when it is gzip.
//!
//! Run from `fuzz/`: `RUSTC_BOOTSTRAP=1 cargo fuzz run prometheus_http -O -s none corpus/prometheus_http seeds/prometheus_http`.
#![no_main]

use drbd::State;
use drbd_reactor_prometheus::chunks::Frame;
use drbd_reactor_prometheus::render::{render, DrbdVersions, RenderContext};
use drbd_reactor_prometheus::server::{serve_io, Endpoint, MetricsSource};
use libfuzzer_sys::fuzz_target;
use std::io::Read;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Source(Frame);

impl MetricsSource for Source {
    fn generation(&self) -> u64 {
        1
    }
    fn frame(&self) -> Result<Frame, String> {
        Ok(self.0.clone())
    }
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    /// One endpoint for the whole run, as in the daemon: its first metrics request renders
    /// and compresses the body, later ones serve the cache (building it per input was half
    /// of the run's time).
    endpoint: Arc<Endpoint>,
    body: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut state = State::new();
        let mut out = Vec::new();
        for line in drbd::synth::initial_dump(5, 2) {
            state.apply(line.event, &mut out);
        }
        let frame = Frame {
            resources: state.snapshot(),
            ctx: RenderContext {
                enums: true,
                versions: DrbdVersions {
                    kmod: Some("9.2.8".into()),
                    utils: None,
                    last_refresh_ok: false,
                    probed: true,
                },
                reactor: Vec::new(),
            },
        };
        let mut body = String::new();
        render(frame.resources.iter().map(|r| &**r), &frame.ctx, &mut body);
        Fixture {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap(),
            endpoint: Endpoint::new(Arc::new(Source(frame)), true),
            body: body.into_bytes(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let answer = f.runtime.block_on(async {
        let endpoint = Arc::clone(&f.endpoint);
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let conn = tokio::spawn(tokio::time::timeout(
            Duration::from_secs(60),
            serve_io(server, endpoint, Duration::from_secs(10)),
        ));
        // Slow clients: the input arrives in pieces.
        for piece in data.chunks(97) {
            if client.write_all(piece).await.is_err() {
                break;
            }
            tokio::task::yield_now().await;
        }
        let mut answer = Vec::new();
        let _ = client.read_to_end(&mut answer).await;
        // Protocol errors and the timeout end the connection; both are fine answers.
        let _ = conn.await.expect("the connection task panicked");
        answer
    });
    check(&answer, &f.body);
});

/// The answer must be complete responses one after the other; metrics bodies must be `body`.
fn check(answer: &[u8], body: &[u8]) {
    let mut rest = answer;
    while !rest.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let n = match response.parse(rest) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!(
                "not an HTTP response ({other:?}): {:?}",
                String::from_utf8_lossy(&rest[..rest.len().min(200)])
            ),
        };
        let code = response.code.expect("a status");
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).to_string())
        };
        assert!(
            header("transfer-encoding").is_none(),
            "bodies have a length"
        );
        let len: usize = header("content-length").map_or(0, |v| v.parse().expect("a length"));
        let metrics = code == 200
            && header("content-type").is_some_and(|t| t.starts_with("text/plain; version=0.0.4"));
        let gzip = header("content-encoding").is_some_and(|e| e == "gzip");
        rest = &rest[n..];
        if (100..200).contains(&code) {
            continue;
        }
        // An answer to HEAD has the length but no body: the next response or the end follows.
        let head = len > 0 && (rest.is_empty() || rest.starts_with(b"HTTP/1."));
        if head {
            continue;
        }
        assert!(rest.len() >= len, "a body cut short");
        let (content, next) = rest.split_at(len);
        rest = next;
        if metrics && gzip && known_gzip(content) {
            continue;
        }
        if metrics {
            let text = if gzip {
                let mut t = Vec::new();
                flate2::read::GzDecoder::new(content)
                    .read_to_end(&mut t)
                    .expect("valid gzip");
                t
            } else {
                content.to_vec()
            };
            assert!(text == body, "a metrics body that is not the render");
            if gzip {
                remember_gzip(content);
            }
        }
    }
}

/// Gzip bodies already proven to inflate to the render. The endpoint serves the same cached
/// bytes to every request, so the oracle inflates each distinct body once, not once per
/// request (inflating was a fifth of the run's time).
fn verified() -> &'static std::sync::Mutex<Vec<Vec<u8>>> {
    static V: OnceLock<std::sync::Mutex<Vec<Vec<u8>>>> = OnceLock::new();
    V.get_or_init(Default::default)
}

fn known_gzip(content: &[u8]) -> bool {
    verified().lock().unwrap().iter().any(|v| v == content)
}

fn remember_gzip(content: &[u8]) {
    let mut v = verified().lock().unwrap();
    if v.len() < 8 {
        v.push(content.to_vec());
    }
}
