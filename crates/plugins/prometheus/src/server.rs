//! The metrics endpoint: a real HTTP/1.1 server. GET and HEAD on /metrics (and on / for
//! clients that do not ask for HTML, as the original served its body on every path), a small
//! HTML page on / for browsers, 404 elsewhere, 405 for other methods, gzip when accepted.
//!
//! One body is rendered per state generation, off the async runtime, and shared by every
//! scrape of that generation. Must never: let one client delay another (each connection is
//! its own task, with read and overall timeouts), or block shutdown on a client.

use crate::body::PiecesBody;
use crate::chunks::{Chunks, Encoding, Frame, Pieces, Work};
use drbd_reactor_plugin::memory;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_TYPE, VARY,
};
use hyper::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Mutex};

pub(crate) const TARGET: &str = "drbd_reactor::plugin::prometheus";
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the endpoint serves: a generation that changes with what would be rendered, and the
/// state to render (taken once per generation, on a blocking thread: it may wait for the
/// daemon's core to answer; an error says why there is none).
pub trait MetricsSource: Send + Sync + 'static {
    fn generation(&self) -> u64;
    fn frame(&self) -> Result<Frame, String>;
}

/// Why there is no body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The state to render was not available (503).
    Unavailable(String),
    /// Rendering failed (500).
    Failed(String),
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

/// What every connection shares: the source and the cached body pieces of its latest
/// generation. The cache lock is held by the one scrape that renders a new generation; the
/// scrapes behind it wait and then share its result, so a burst renders once.
pub struct Endpoint {
    source: Arc<dyn MetricsSource>,
    enums: bool,
    cache: Arc<Mutex<Cache>>,
}

struct Cache {
    generation: Option<u64>,
    chunks: Option<Chunks>,
    /// The last failure to get the state: (its generation, when, why). Scrapes queued behind
    /// it for that generation get it at once for a moment, instead of each waiting for the
    /// core in turn (the k-th of them answered after k waits, past Prometheus' timeout).
    unavailable: Option<(u64, Instant, String)>,
}

/// How long a failure to get the state answers the scrapes of the same generation.
const UNAVAILABLE_FOR: Duration = Duration::from_secs(1);

impl Endpoint {
    pub fn new(source: Arc<dyn MetricsSource>, enums: bool) -> Arc<Endpoint> {
        Arc::new(Endpoint {
            source,
            enums,
            cache: Arc::new(Mutex::new(Cache {
                generation: None,
                chunks: Some(Chunks::new(enums)),
                unavailable: None,
            })),
        })
    }

    /// What the cache did so far (tests count renders with it).
    pub async fn work(&self) -> Work {
        let cache = self.cache.lock().await;
        cache.chunks.as_ref().map(Chunks::work).unwrap_or_default()
    }

    /// The body of the current generation in `encoding`, rendered at most once per generation.
    ///
    /// The render and the cache's return run in a task of their own, holding the cache's lock:
    /// a scrape abandoned on the way (a client gone, Prometheus' scrape timeout) only stops
    /// waiting. Dropped with it, the render ran on detached and the next scrape began a full
    /// one from an empty cache, so a client that connected and left in a loop started any
    /// number of them at once.
    pub async fn body(&self, encoding: Encoding) -> Result<Pieces, BodyError> {
        let cache = Arc::clone(&self.cache).lock_owned().await;
        let (source, enums) = (Arc::clone(&self.source), self.enums);
        tokio::spawn(render_into(cache, source, enums, encoding))
            .await
            .map_err(|e| BodyError::Failed(e.to_string()))?
    }
}

/// [`Endpoint::body`]'s work, with the cache's lock held to its end.
async fn render_into(
    mut cache: tokio::sync::OwnedMutexGuard<Cache>,
    source: Arc<dyn MetricsSource>,
    enums: bool,
    encoding: Encoding,
) -> Result<Pieces, BodyError> {
    let generation = source.generation();
    if let Some((g, at, why)) = &cache.unavailable {
        if *g == generation && at.elapsed() < UNAVAILABLE_FOR {
            return Err(BodyError::Unavailable(why.clone()));
        }
    }
    let fresh = cache.generation != Some(generation);
    let mut chunks = cache.chunks.take().unwrap_or_else(|| Chunks::new(enums));
    // Off the async runtime: rendering a changed state takes milliseconds. Should it fail,
    // the next scrape starts from an empty cache.
    cache.generation = None;
    // A new generation is taken; an encoding the cache does not keep is added from the
    // same generation's frame (the cache keeps no resources to render it from).
    let take = fresh || !chunks.has(encoding);
    let (chunks, pieces) = tokio::task::spawn_blocking(move || {
        // A render frees and allocates again what it works with (its scratch, the few
        // chunks that could not be renewed in place): the pages it frees are kept for it
        // until the release below, when it re-renders a kept encoding or fills a gzip-only
        // cache (purged at once, they cost a TLB shootdown each and faulted in again: a
        // scrape after a poll 9-13 ms slower). Not in a cold plain render, whose peak is
        // the daemon's (kept for it, that peak rose by 0.6 MB).
        let gzip_only = encoding == Encoding::Gzip && !chunks.has(Encoding::Identity);
        let rerender = chunks.has(encoding);
        let refill = (take && (gzip_only || rerender)).then(memory::Refill::begin);
        let started = Instant::now();
        let work = chunks.work();
        // When the snapshot came and when the render ended, for a render.
        let mut rendered = None;
        if take {
            let frame = match source.frame() {
                Ok(frame) => frame,
                Err(e) => return (chunks, Err(BodyError::Unavailable(e))),
            };
            let snapshot = started.elapsed();
            if fresh {
                chunks.update(&frame, encoding);
            } else {
                chunks.add(&frame, encoding);
            }
            drop(frame);
            release_if_dropped(chunks.dropped_bytes());
            rendered = Some((snapshot, started.elapsed()));
        }
        let pieces = chunks.body(encoding).ok_or_else(|| {
            BodyError::Failed(format!(
                "{encoding:?} body missing after its state was taken"
            ))
        });
        drop(refill);
        if let Some((snapshot, render_end)) = rendered {
            let (done, total) = (chunks.work(), started.elapsed());
            log::debug!(
                target: TARGET,
                "{encoding:?} body of state {generation} in {:.1} ms: snapshot {:.1} ms, \
                 {} blocks rendered and {} chunks compressed in {:.1} ms, assembled in {:.1} ms",
                ms(total),
                ms(snapshot),
                done.blocks_rendered - work.blocks_rendered,
                done.members_compressed - work.members_compressed,
                ms(render_end - snapshot),
                ms(total - render_end),
            );
            // This thread rendered and assembled: the allocator keeps the pages it freed
            // (the previous body's piece list, render temporaries) until the thread
            // allocates again, which may be many scrapes later. About 0.1 ms at 10k
            // resources; 1.7 MB less resident with a gzip-only client. Not the regions'
            // free pages: the next render fills them again.
            memory::release_unused(memory::Scope::Thread);
        }
        (chunks, pieces)
    })
    .await
    .map_err(|e| BodyError::Failed(e.to_string()))?;
    // Without a state nothing was rendered: the cache stays, for the next scrape to update.
    cache.chunks = Some(chunks);
    if let Err(BodyError::Unavailable(why)) = &pieces {
        cache.unavailable = Some((generation, Instant::now(), why.clone()));
    }
    let pieces = pieces?;
    cache.unavailable = None;
    cache.generation = Some(generation);
    Ok(pieces)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Gives the pages of dropped chunks back to the system when an update dropped megabytes of
/// them: an encoding's pieces (a client stopped asking for it) or the blocks of resources
/// that went. The render pool allocated them and sits idle, so its threads and this one
/// release their freed pages now. A changed chunk replaced by one of about its size is left
/// to the allocator to reuse.
fn release_if_dropped(dropped: u64) {
    const WORTH_IT: u64 = 4 << 20;
    if dropped < WORTH_IT || !memory::releases() {
        return;
    }
    if let Some(pool) = crate::background::render_pool() {
        pool.broadcast(|_| memory::release_unused(memory::Scope::ThreadAndRegions));
    }
    memory::release_unused(memory::Scope::ThreadAndRegions);
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
/// Connections served at once. Far more than scrapers (a burst of 200 is tested); a slow
/// client holds one for at most the connection timeout.
pub const MAX_CONNECTIONS: usize = 256;

pub async fn serve(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    timeouts: Timeouts,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        // A free slot first: past the limit new clients wait in the kernel's backlog, and no
        // client can take the file descriptors drbdsetup, drbdadm and the plugins' commands
        // need (the unit's soft limit is 1024).
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("never closed"),
            _ = shutdown.changed() => return,
        };
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
        let endpoint = Arc::clone(&endpoint);
        let timeouts = timeouts.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                r = serve_io_until(stream, endpoint, timeouts.read, Some(timeouts.connection)) => {
                    if let Err(e) = r {
                        log::debug!(target: TARGET, "connection from {peer}: {e}");
                    }
                }
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}

/// Serves HTTP/1 requests arriving on `io` (a TCP stream, or an in-memory pipe in tests and
/// the fuzz target) until the client closes it or breaks the protocol. `read` bounds the wait
/// for a request's headers.
pub async fn serve_io<IO>(io: IO, endpoint: Arc<Endpoint>, read: Duration) -> hyper::Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    serve_io_until(io, endpoint, read, None).await
}

/// How long a connection whose time is up may take to receive the response in flight.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// [`serve_io`] for at most `limit`: then the response in flight is finished (with
/// `Connection: close`) and no further request is read, instead of the connection being cut
/// mid-response (a keep-alive scraper saw `unexpected EOF` and recorded `up=0`); a client
/// that does not take it within [`CLOSE_GRACE`] is cut.
async fn serve_io_until<IO>(
    io: IO,
    endpoint: Arc<Endpoint>,
    read: Duration,
    limit: Option<Duration>,
) -> hyper::Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let endpoint = Arc::clone(&endpoint);
        async move { Ok::<_, std::convert::Infallible>(handle(req, &endpoint).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(read)
        // A client that shuts its side down after the request (`nc -N`, scripted probes)
        // still gets the answer, as from the original.
        .half_close(true)
        .serve_connection(hyper_util::rt::TokioIo::new(io), service);
    let Some(limit) = limit else {
        return connection.await;
    };
    tokio::pin!(connection);
    tokio::select! {
        r = connection.as_mut() => return r,
        _ = tokio::time::sleep(limit) => {}
    }
    connection.as_mut().graceful_shutdown();
    tokio::time::timeout(CLOSE_GRACE, connection)
        .await
        .unwrap_or(Ok(()))
}

fn plain(status: StatusCode, text: &'static str) -> Response<PiecesBody> {
    let mut r = Response::new(PiecesBody::text(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

const LANDING: &str = "<!DOCTYPE html>\n<html><head><title>drbd-reactor</title></head>\n<body><h1>drbd-reactor</h1>\n<p>DRBD metrics for Prometheus: <a href=\"/metrics\">/metrics</a></p>\n</body></html>\n";

async fn handle(req: Request<Incoming>, endpoint: &Endpoint) -> Response<PiecesBody> {
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
        .is_some_and(wants_html);
    match req.uri().path() {
        "/metrics" => {}
        "/" if wants_html => {
            let mut r = Response::new(PiecesBody::text(LANDING));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r.headers_mut()
                .insert(VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
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
        .is_some_and(accepts_gzip);
    let encoding = if gzip {
        Encoding::Gzip
    } else {
        Encoding::Identity
    };
    let body = match endpoint.body(encoding).await {
        Ok(b) => b,
        Err(BodyError::Unavailable(e)) => {
            log::warn!(target: TARGET, "no metrics to serve: {e}");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "state not available\n");
        }
        Err(BodyError::Failed(e)) => {
            log::error!(target: TARGET, "rendering metrics failed: {e}");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n");
        }
    };
    let len = body.len;
    let mut r = Response::new(if head {
        PiecesBody::empty()
    } else {
        PiecesBody::new(body)
    });
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
    // What a cache in front must key on: gzip or not, and on `/` the landing page or not.
    let vary = if req.uri().path() == "/" {
        "Accept, Accept-Encoding"
    } else {
        "Accept-Encoding"
    };
    h.insert(VARY, HeaderValue::from_static(vary));
    if gzip {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if head {
        h.insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    r
}

/// The highest weight a header list (`Accept`, `Accept-Encoding`) gives an entry `named`
/// matches: `q` 1 when absent, the parameter name in any case, a weight that is not a number
/// (`q=nan`) or not positive taken as 0. `None` when no entry matches.
fn weight(value: &str, named: impl Fn(&str) -> bool) -> Option<f32> {
    value
        .split(',')
        .filter_map(|entry| {
            let mut parts = entry.split(';');
            let name = parts.next().unwrap_or("").trim();
            if !named(name) {
                return None;
            }
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .map_or(1.0, |(_, v)| v.trim().parse::<f32>().unwrap_or(0.0));
            Some(if q.is_nan() || q <= 0.0 { 0.0 } else { q })
        })
        .reduce(f32::max)
}

/// Whether an `Accept-Encoding` value allows gzip (`gzip;q=0` refuses it).
pub fn accepts_gzip(value: &str) -> bool {
    weight(value, |n| {
        n.eq_ignore_ascii_case("gzip") || n.eq_ignore_ascii_case("x-gzip")
    })
    .is_some_and(|q| q > 0.0)
}

/// Whether an `Accept` value asks for the landing page on `/`: `text/html` with a weight,
/// not below `text/plain`'s (a scraper that lists HTML last, or refuses it, gets metrics).
pub fn wants_html(value: &str) -> bool {
    let html = weight(value, |n| n.eq_ignore_ascii_case("text/html")).unwrap_or(0.0);
    let plain = weight(value, |n| n.eq_ignore_ascii_case("text/plain")).unwrap_or(0.0);
    html > 0.0 && html >= plain
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{exclusive, refills, releases, synth_frame as frame};
    use std::sync::atomic::{AtomicU64, Ordering};

    fn render_threads() -> usize {
        crate::background::render_pool().map_or(0, |p| p.current_num_threads())
    }

    /// Releases since `base`: of threads' pages only, and with the regions'.
    fn since(base: [usize; 2]) -> [usize; 2] {
        let now = releases();
        [now[0] - base[0], now[1] - base[1]]
    }

    #[test]
    fn pages_are_released_when_an_update_dropped_megabytes_and_not_for_a_few_changed_chunks() {
        let _one_at_a_time = exclusive();
        let base = releases();
        let mb = 1 << 20;
        // Nothing, or less than a few megabytes, dropped: left to the allocator.
        release_if_dropped(0);
        release_if_dropped(mb);
        assert_eq!(since(base), [0, 0]);
        // The plain pieces dropped (nobody asked for them since the last state): every
        // render thread and the calling one give their pages back, and the regions theirs.
        release_if_dropped(100 * mb);
        assert_eq!(since(base), [0, render_threads() + 1]);
    }

    struct Source {
        generation: AtomicU64,
        frame: std::sync::Mutex<Frame>,
    }

    impl MetricsSource for Source {
        fn generation(&self) -> u64 {
            self.generation.load(Ordering::SeqCst)
        }
        fn frame(&self) -> Result<Frame, String> {
            Ok(self.frame.lock().unwrap().clone())
        }
    }

    #[test]
    fn a_scrape_that_rendered_gives_back_its_threads_pages_and_a_cached_one_does_not() {
        let _one_at_a_time = exclusive();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(scrapes_and_releases());
    }

    async fn scrapes_and_releases() {
        let source = Arc::new(Source {
            generation: AtomicU64::new(1),
            frame: std::sync::Mutex::new(frame(3)),
        });
        let endpoint = Endpoint::new(source.clone(), true);
        // One block: rendered on the scrape's thread, which releases its own pages once (not
        // the regions': the next render fills their free pages again).
        let base = releases();
        let (began, ended, _) = refills();
        endpoint.body(Encoding::Gzip).await.unwrap();
        assert_eq!(since(base), [1, 0]);
        // The render kept freed pages for itself (a refill pass), and the pass had ended
        // when the scrape's thread released: what is left over goes back.
        let (b, e, released_at_end) = refills();
        assert_eq!((b - began, e - ended), (1, 1), "one refill pass");
        assert_eq!(
            released_at_end, base[0],
            "the pass ended before the release"
        );
        // The same generation again: nothing rendered, nothing to give back.
        endpoint.body(Encoding::Gzip).await.unwrap();
        assert_eq!(since(base), [1, 0]);
        assert_eq!(refills().0, b, "no pass without a render");
        // Many blocks: the render threads release after their pass, the scrape's thread
        // after assembling.
        *source.frame.lock().unwrap() = frame(2000);
        source.generation.store(2, Ordering::SeqCst);
        endpoint.body(Encoding::Gzip).await.unwrap();
        assert_eq!(since(base), [1 + render_threads() + 1, 0]);
        // Plain added to that state: a cold plain render, whose peak is the daemon's, keeps
        // nothing it frees; once plain is kept, its re-render after a change does.
        let (b, _, _) = refills();
        endpoint.body(Encoding::Identity).await.unwrap();
        assert_eq!(refills().0, b, "no pass for a cold plain render");
        *source.frame.lock().unwrap() = frame(1999);
        source.generation.store(3, Ordering::SeqCst);
        endpoint.body(Encoding::Identity).await.unwrap();
        assert_eq!(refills().0, b + 1, "a pass for its re-render");
    }
}
