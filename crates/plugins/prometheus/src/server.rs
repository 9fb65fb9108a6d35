//! The metrics endpoint: a real HTTP/1.1 server. GET and HEAD on /metrics (and on / for
//! clients that do not ask for HTML, as the original served its body on every path), a small
//! HTML page on / for browsers, 404 elsewhere, 405 for other methods, gzip when accepted.
//!
//! One body is rendered per state generation, off the async runtime, and shared by every
//! scrape of that generation. Must never: let one client delay another (each connection is
//! its own task, with read and overall timeouts), or block shutdown on a client.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Mutex};

const TARGET: &str = "drbd_reactor::plugin::prometheus";
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the endpoint serves: a generation that changes with what would be rendered, and the
/// rendering itself (called on a blocking thread).
pub trait MetricsSource: Send + Sync + 'static {
    fn generation(&self) -> u64;
    fn render(&self, out: &mut String);
}

#[derive(Debug, Clone)]
pub struct Timeouts {
    /// To receive a request's headers.
    pub read: Duration,
    /// For a whole connection, keep-alive included.
    pub connection: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            read: Duration::from_secs(10),
            connection: Duration::from_secs(60),
        }
    }
}

/// The body of one generation, plain and (lazily) gzipped.
struct Body {
    generation: u64,
    plain: Bytes,
    gzip: Option<Bytes>,
}

struct Shared {
    source: Arc<dyn MetricsSource>,
    cache: Mutex<Option<Body>>,
}

/// Binds the first address that works of `candidates` (dual-stack before IPv4).
pub async fn bind(candidates: &[SocketAddr]) -> Result<TcpListener, String> {
    let mut last = String::from("no address to bind");
    for a in candidates {
        match TcpListener::bind(a).await {
            Ok(l) => return Ok(l),
            Err(e) => last = format!("cannot listen on {a}: {e}"),
        }
    }
    Err(last)
}

/// Serves until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    source: Arc<dyn MetricsSource>,
    timeouts: Timeouts,
    mut shutdown: watch::Receiver<bool>,
) {
    let shared = Arc::new(Shared {
        source,
        cache: Mutex::new(None),
    });
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    log::warn!(target: TARGET, "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let shared = Arc::clone(&shared);
        let timeouts = timeouts.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let service = hyper::service::service_fn(move |req| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, std::convert::Infallible>(handle(req, &shared).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(timeouts.read)
                .serve_connection(io, service);
            tokio::select! {
                r = tokio::time::timeout(timeouts.connection, conn) => {
                    if let Ok(Err(e)) = r {
                        log::debug!(target: TARGET, "connection from {peer}: {e}");
                    }
                }
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

const LANDING: &str = "<!DOCTYPE html>\n<html><head><title>drbd-reactor</title></head>\n<body><h1>drbd-reactor</h1>\n<p>DRBD metrics for Prometheus: <a href=\"/metrics\">/metrics</a></p>\n</body></html>\n";

async fn handle(req: Request<Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let wants_html = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    match req.uri().path() {
        "/metrics" => {}
        "/" if wants_html => {
            let mut r = Response::new(Full::new(Bytes::from_static(LANDING.as_bytes())));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            return r;
        }
        "/" => {}
        _ => {
            return plain(
                StatusCode::NOT_FOUND,
                "not found; metrics are on /metrics\n",
            )
        }
    }
    let gzip = req
        .headers()
        .get(ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|e| e.trim().starts_with("gzip")));
    let body = match body(shared, gzip).await {
        Ok(b) => b,
        Err(e) => {
            log::error!(target: TARGET, "rendering metrics failed: {e}");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n");
        }
    };
    let len = body.len();
    let mut r = Response::new(Full::new(if head { Bytes::new() } else { body }));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
    if gzip {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if head {
        h.insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    r
}

/// The body for the current generation, rendered once and shared.
async fn body(shared: &Shared, gzip: bool) -> Result<Bytes, String> {
    let mut cache = shared.cache.lock().await;
    let generation = shared.source.generation();
    if cache.as_ref().is_none_or(|b| b.generation != generation) {
        let source = Arc::clone(&shared.source);
        let plain = tokio::task::spawn_blocking(move || {
            let mut out = String::new();
            source.render(&mut out);
            Bytes::from(out)
        })
        .await
        .map_err(|e| e.to_string())?;
        *cache = Some(Body {
            generation,
            plain,
            gzip: None,
        });
    }
    let b = cache.as_mut().expect("filled above");
    if !gzip {
        return Ok(b.plain.clone());
    }
    if b.gzip.is_none() {
        let plain = b.plain.clone();
        let zipped = tokio::task::spawn_blocking(move || {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&plain)?;
            enc.finish()
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        b.gzip = Some(Bytes::from(zipped));
    }
    Ok(b.gzip.clone().expect("filled above"))
}
