//! The simulator server: one [`Cluster`] behind a mutex, a unix socket speaking
//! line-delimited JSON, events2 streams pushed after every change, and a ticker that
//! advances resyncs in real time. [`Sim`] is also the library API for tests; when its last
//! handle is dropped, the server's threads end.
//!
//! Must never: put policy here (every decision is in `model`, `commands` and `printer`), or
//! let its own threads keep it alive (they hold the shared part, not a [`Sim`]).

use crate::commands::{self, Action, Events2, Reply};
use crate::config::ClusterConfig;
use crate::model::Cluster;
use crate::printer::Printer;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A request: run `program args` on `node` (`program` is drbdsetup, drbdadm or ctl).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub node: String,
    pub program: String,
    pub args: Vec<String>,
}

/// The first line of every answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Answer {
    /// A one-shot command finished.
    Reply(Reply),
    /// An events2 stream follows: raw lines, ended by `#exit <code>`.
    Stream,
}

/// The in-band end of an events2 stream (events2 lines never start with `#`).
pub const EXIT_MARK: &str = "#exit ";

struct Stream {
    id: u64,
    node: String,
    printer: Printer,
    out: UnixStream,
    timestamps: bool,
    now: bool,
    decor: crate::printer::Decor,
}

struct World {
    cluster: Cluster,
    streams: Vec<Stream>,
    next_id: u64,
    procs: crate::procs::Registry,
}

fn write_lines(s: &mut Stream, lines: &[(drbd::Line, String)]) -> bool {
    if lines.is_empty() {
        return true;
    }
    let ts = s.timestamps.then(crate::clock::now);
    let mut text = String::new();
    for (_, l) in lines {
        if let Some(ts) = &ts {
            text.push_str(ts);
            text.push(' ');
        }
        text.push_str(l);
        text.push('\n');
    }
    s.out.write_all(text.as_bytes()).is_ok()
}

impl World {
    /// Sends every stream the lines for the current state; ends streams of nodes that
    /// are down and streams whose reader went away.
    fn push(&mut self) {
        let mut streams = std::mem::take(&mut self.streams);
        streams.retain_mut(|s| {
            if !self.cluster.is_up(&s.node) {
                let _ = s.out.write_all(format!("{EXIT_MARK}137\n").as_bytes());
                return false;
            }
            if s.now {
                return true;
            }
            let lines = s
                .printer
                .update_text(&self.cluster.view(&s.node), false, s.decor);
            let ok = write_lines(s, &lines);
            if !ok {
                let _ = s.out.shutdown(std::net::Shutdown::Both);
            }
            ok
        });
        self.streams = streams;
    }

    /// Carries out a one-shot action; None for the long-lived ones (events2, wait-connect).
    fn apply(&mut self, action: Action) -> Option<Reply> {
        match action {
            Action::Reply(r) => Some(r),
            Action::KillStreams(node, r) => {
                self.kill(&node);
                Some(r)
            }
            Action::Crashed(node) => {
                let n = self.procs.crash(&node);
                Some(Reply::ok(if n == 0 {
                    String::new()
                } else {
                    format!("killed {n} registered process(es) of {node}\n")
                }))
            }
            Action::Register(node, pid) => {
                self.procs.register(&node, pid);
                Some(Reply::ok(""))
            }
            Action::WaitConnect(_) | Action::Events2(_) => None,
        }
    }

    fn kill(&mut self, node: &str) -> usize {
        let before = self.streams.len();
        self.streams.retain_mut(|s| {
            if s.node == node {
                let _ = s.out.write_all(format!("{EXIT_MARK}137\n").as_bytes());
                let _ = s.out.shutdown(std::net::Shutdown::Both);
                false
            } else {
                true
            }
        });
        before - self.streams.len()
    }
}

/// A running simulator: the server thread, the ticker and the library API. Clones share one
/// server; dropping the last one stops it (see [`Running`]).
#[derive(Clone)]
pub struct Sim {
    shared: Shared,
    _running: Arc<Running>,
}

/// What the server's threads share with the handles.
#[derive(Clone)]
struct Shared {
    world: Arc<Mutex<World>>,
    socket: PathBuf,
    stop: Arc<AtomicBool>,
}

/// Owned by the handles only: its drop, with the last handle, stops the threads (the accept
/// thread's listener is shut down, which ends its wait even when the socket's directory is
/// gone; the ticker sees the flag at its next tick; each stream is shut down so its thread's
/// read ends).
struct Running {
    shared: Shared,
    listener: UnixListener,
}

impl Drop for Running {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        self.shared.stop.store(true, Ordering::SeqCst);
        // SAFETY: shutdown(2) on the listener this value owns; accept(2) on it then fails.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        let mut w = self.shared.lock();
        for s in w.streams.drain(..) {
            let _ = s.out.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Sim {
    /// Serves `cluster` on a unix socket at `socket`. With `tick_ms`, virtual time follows
    /// real time (`speed` virtual ms per real ms).
    pub fn start(
        cluster: Cluster,
        socket: &Path,
        tick_ms: Option<u64>,
        speed: u64,
    ) -> std::io::Result<Sim> {
        let _ = std::fs::remove_file(socket);
        let listener = UnixListener::bind(socket)?;
        let shared = Shared {
            world: Arc::new(Mutex::new(World {
                cluster,
                streams: Vec::new(),
                next_id: 0,
                procs: Default::default(),
            })),
            socket: socket.to_path_buf(),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let accepting = listener.try_clone()?;
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in accepting.incoming() {
                if s.stopped() {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || s.handle(conn));
            }
        });
        if let Some(ms) = tick_ms {
            let s = shared.clone();
            std::thread::spawn(move || loop {
                std::thread::sleep(Duration::from_millis(ms));
                if s.stopped() {
                    break;
                }
                let mut w = s.lock();
                if w.cluster.resyncing() {
                    w.cluster.tick(ms * speed);
                    w.push();
                }
            });
        }
        Ok(Sim {
            _running: Arc::new(Running {
                shared: shared.clone(),
                listener,
            }),
            shared,
        })
    }

    /// Starts a server for a cluster file.
    pub fn from_config(
        config: ClusterConfig,
        socket: &Path,
        tick_ms: Option<u64>,
    ) -> std::io::Result<Sim> {
        Sim::start(Cluster::new(config), socket, tick_ms, 1)
    }

    pub fn socket(&self) -> &Path {
        &self.shared.socket
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        self.shared.lock()
    }

    /// Runs `f` on the cluster, then pushes the resulting events2 lines.
    pub fn with<T>(&self, f: impl FnOnce(&mut Cluster) -> T) -> T {
        let mut w = self.lock();
        let t = f(&mut w.cluster);
        w.push();
        t
    }

    /// Same as `drbd-sim ctl ARGS`.
    pub fn ctl(&self, args: &[&str]) -> Reply {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let mut w = self.lock();
        let action = commands::ctl(&mut w.cluster, &args);
        let reply = w
            .apply(action)
            .unwrap_or_else(|| Reply::err(20, "unexpected ctl action"));
        w.push();
        reply
    }

    /// Registers `pid` as running on `node`: `ctl crash NODE` kills it (and the process
    /// group it leads). Same as `drbd-sim ctl register NODE PID`.
    pub fn register(&self, node: &str, pid: u32) {
        self.lock().procs.register(node, pid as i32);
    }

    /// Number of events2 streams currently attached to a node.
    pub fn streams(&self, node: &str) -> usize {
        self.lock()
            .streams
            .iter()
            .filter(|s| s.node == node)
            .count()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn handle(&self, conn: UnixStream) {
        let Ok(read_half) = conn.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(read_half);
        let mut first = String::new();
        if reader.read_line(&mut first).is_err() {
            return;
        }
        let mut conn = conn;
        let req: Request = match serde_json::from_str(&first) {
            Ok(r) => r,
            Err(e) => {
                let _ = answer(
                    &mut conn,
                    &Answer::Reply(Reply::err(20, format!("bad request: {e}"))),
                );
                return;
            }
        };
        let action = {
            let mut w = self.lock();
            let c = &mut w.cluster;
            match req.program.as_str() {
                "drbdsetup" => commands::drbdsetup(c, &req.node, &req.args),
                "drbdadm" => commands::drbdadm(c, &req.node, &req.args),
                "ctl" => commands::ctl(c, &req.args),
                p => Action::Reply(Reply::err(20, format!("unknown program {p}"))),
            }
        };
        match action {
            Action::WaitConnect(res) => {
                // Until every peer is connected; a resource that is not up (or goes down)
                // is an error, and a client that went away ends the wait.
                let reply = loop {
                    let w = self.lock();
                    if w.cluster.all_connected(&req.node, &res) {
                        break Reply::ok("");
                    }
                    if !w.cluster.is_running(&req.node, &res) {
                        break Reply::err(10, format!("{res}: No such resource"));
                    }
                    drop(w);
                    if client_gone(&conn) || self.stopped() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                };
                let _ = answer(&mut conn, &Answer::Reply(reply));
            }
            Action::Events2(e) => self.events2(conn, reader, req.node, e),
            one_shot => {
                let mut w = self.lock();
                let r = w.apply(one_shot).unwrap_or_default();
                w.push();
                drop(w);
                let _ = answer(&mut conn, &Answer::Reply(r));
            }
        }
    }

    fn events2(
        &self,
        mut conn: UnixStream,
        mut reader: BufReader<UnixStream>,
        node: String,
        e: Events2,
    ) {
        if answer(&mut conn, &Answer::Stream).is_err() {
            return;
        }
        let id = {
            let mut w = self.lock();
            // Checked under the lock the stop takes to end the streams: none is added after.
            if self.stopped() {
                return;
            }
            let Ok(out) = conn.try_clone() else { return };
            // A reader that stops reading must not stall the whole cluster (the push runs
            // under the lock): its stream is dropped instead.
            let _ = out.set_write_timeout(Some(Duration::from_secs(5)));
            let mut s = Stream {
                id: w.next_id,
                node: node.clone(),
                printer: commands::printer(&e),
                out,
                timestamps: e.timestamps,
                now: e.now,
                decor: e.decor,
            };
            w.next_id += 1;
            let view = w.cluster.view(&node);
            let lines = s.printer.dump_text(&view, s.decor);
            if !write_lines(&mut s, &lines) {
                return;
            }
            if e.now && !e.poll {
                let _ = conn.write_all(format!("{EXIT_MARK}0\n").as_bytes());
                return;
            }
            let id = s.id;
            w.streams.push(s);
            id
        };
        // The --poll protocol: `n` refreshes, newline is ignored, anything else or EOF ends.
        let mut byte = [0u8; 1];
        loop {
            match reader.read(&mut byte) {
                Ok(1) if byte[0] == b'n' => {
                    let mut w = self.lock();
                    let view = w.cluster.view(&node);
                    let Some(s) = w.streams.iter_mut().find(|s| s.id == id) else {
                        break;
                    };
                    let lines = if s.now {
                        s.printer = commands::printer(&e);
                        s.printer.dump_text(&view, s.decor)
                    } else {
                        s.printer.update_text(&view, true, s.decor)
                    };
                    if !write_lines(s, &lines) {
                        break;
                    }
                }
                Ok(1) if byte[0] == b'\n' => {}
                _ => break,
            }
        }
        let mut w = self.lock();
        if let Some(pos) = w.streams.iter().position(|s| s.id == id) {
            let mut s = w.streams.remove(pos);
            let _ = s.out.write_all(format!("{EXIT_MARK}0\n").as_bytes());
        }
    }
}

fn answer(conn: &mut UnixStream, a: &Answer) -> std::io::Result<()> {
    let mut text = serde_json::to_string(a).unwrap();
    text.push('\n');
    conn.write_all(text.as_bytes())
}

/// Creates `drbdsetup` and `drbdadm` symlinks to `binary` in `dir`, and the
/// `drbd-sim.toml` beside them that names the node and the socket.
pub fn install_shims(binary: &Path, dir: &Path, node: &str, socket: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for name in ["drbdsetup", "drbdadm"] {
        let link = dir.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(binary, &link)?;
    }
    let shim = crate::shim::ShimConfig {
        node: node.to_string(),
        socket: socket.to_path_buf(),
    };
    std::fs::write(dir.join("drbd-sim.toml"), toml::to_string(&shim).unwrap())
}

/// True once the client closed its end (a request is one line; it sends nothing more).
fn client_gone(conn: &UnixStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut byte = 0u8;
    // SAFETY: peeks at most one byte into a live local, on a socket borrowed for the call.
    let n = unsafe {
        libc::recv(
            conn.as_raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        0 => true,
        1.. => false,
        _ => !matches!(
            std::io::Error::last_os_error().kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn one_node_sim(dir: &Path) -> Sim {
        let config = ClusterConfig::simple(&["alpha", "beta"], "r0");
        Sim::from_config(config, &dir.join("sim.sock"), Some(5)).unwrap()
    }

    #[test]
    fn dropping_the_last_handle_ends_every_thread_and_stream_of_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let sim = one_node_sim(dir.path());
        let world = Arc::downgrade(&sim.shared.world);
        // A client following events2, as a daemon's drbdsetup does.
        let mut client = UnixStream::connect(sim.socket()).unwrap();
        let request = Request {
            node: "alpha".into(),
            program: "drbdsetup".into(),
            args: vec!["events2".into(), "--full".into()],
        };
        client
            .write_all(format!("{}\n", serde_json::to_string(&request).unwrap()).as_bytes())
            .unwrap();
        wait_for("the stream to be attached", || sim.streams("alpha") == 1);
        let second = sim.clone();
        drop(sim);
        // The socket's directory may be gone before the simulator is dropped.
        std::fs::remove_file(second.socket()).unwrap();
        assert_eq!(
            second.streams("alpha"),
            1,
            "a clone's drop stopped the server"
        );
        drop(second);
        // The stream ends (EOF) and nothing of the server holds its world any more.
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        wait_for("the accept, ticker and stream threads to end", || {
            world.upgrade().is_none()
        });
    }
}
