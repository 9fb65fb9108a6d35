//! The AgentX session with the SNMP master (snmpd): connect over TCP or a unix socket, Open,
//! Register the LINBIT subtree, answer Get/GetNext/GetBulk from the table, answer any Set with
//! notWritable, ping, and start over with backoff whenever the master goes away.
//!
//! Must never: give up (the master may come up later or restart), reconnect without backoff
//! (only a session that stayed healthy resets it), build a response larger than
//! [`MAX_RESPONSE`], block the daemon's core (it only reads snapshots), or hang shutdown (a
//! Close is sent and the task ends).

use crate::cache::CachePolicy;
use crate::mib::{MibTable, LINBIT};
use agentx_pdu::*;
use drbd_reactor_process::Backoff;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

pub(crate) const TARGET: &str = "drbd_reactor::plugin::agentx";
/// Larger PDUs from a master are a protocol error, not a reason to allocate.
const MAX_PDU: usize = 1 << 20;
/// The largest response built, in bytes of varbinds: far more than a walk needs per request,
/// and what net-snmp's master forwards in one SNMP message (RFC 2741 leaves the limit to the
/// subagent). GetBulk answers are cut to fit (RFC 3416 §4.2.3); Get and GetNext answer tooBig.
pub const MAX_RESPONSE: usize = 64 * 1024;

/// Where the master listens: `host:port` (TCP) or `unix:/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterAddress {
    Tcp(String),
    Unix(std::path::PathBuf),
}

impl std::str::FromStr for MasterAddress {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a socket path, e.g. unix:/var/agentx/master".into());
            }
            return Ok(MasterAddress::Unix(path.into()));
        }
        let tcp = s.strip_prefix("tcp:").unwrap_or(s);
        match tcp.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(MasterAddress::Tcp(tcp.to_string()))
            }
            _ => Err(format!(
                "'{s}' is not host:port or unix:PATH (e.g. localhost:705 or unix:/var/agentx/master)"
            )),
        }
    }
}

/// Timing of the session; tests shorten it.
#[derive(Debug, Clone)]
pub struct Timing {
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// A session that lasted this long resets the backoff.
    pub healthy_after: Duration,
    pub ping_every: Duration,
    /// How long the master may take to answer our Open, Register or Ping.
    pub answer_within: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            healthy_after: Duration::from_secs(60),
            ping_every: Duration::from_secs(30),
            answer_within: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub address: MasterAddress,
    /// Seconds, sent in Open (0..=255, checked at config time).
    pub agent_timeout: u8,
    pub cache_max: Duration,
    pub timing: Timing,
}

/// What the session serves: a generation that changes with the state, and the table for it
/// (`None` when the state is not available: the previous table is served meanwhile).
pub trait TableSource: Send + Sync + 'static {
    fn generation(&self) -> u64;
    /// May block (it waits for the core's answer and walks every resource): the session calls
    /// it on the runtime's blocking pool.
    fn build(&self) -> Option<MibTable>;
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

async fn connect(address: &MasterAddress) -> std::io::Result<Box<dyn Stream>> {
    Ok(match address {
        MasterAddress::Tcp(a) => Box::new(tokio::net::TcpStream::connect(a.as_str()).await?),
        MasterAddress::Unix(p) => Box::new(tokio::net::UnixStream::connect(p).await?),
    })
}

async fn read_pdu(stream: &mut (impl AsyncRead + Unpin)) -> Result<Pdu, String> {
    let mut buf = vec![0u8; HEADER_LEN];
    stream
        .read_exact(&mut buf)
        .await
        .map_err(|e| format!("reading from the master: {e}"))?;
    let len = frame_len(&buf).expect("a whole header");
    if len > MAX_PDU {
        return Err(format!("the master sent a PDU of {len} bytes"));
    }
    buf.resize(len, 0);
    stream
        .read_exact(&mut buf[HEADER_LEN..])
        .await
        .map_err(|e| format!("reading from the master: {e}"))?;
    Pdu::decode(&buf).map_err(|e| e.to_string())
}

async fn write_pdu(stream: &mut (impl AsyncWrite + Unpin), pdu: &Pdu) -> Result<(), String> {
    stream
        .write_all(&pdu.encode())
        .await
        .map_err(|e| format!("writing to the master: {e}"))
}

/// A write the master must take within `within`: one that stopped reading would otherwise
/// hold the session (no ping check, no shutdown) for good.
async fn send(
    stream: &mut (impl AsyncWrite + Unpin),
    pdu: &Pdu,
    within: Duration,
) -> Result<(), String> {
    tokio::time::timeout(within, write_pdu(stream, pdu))
        .await
        .map_err(|_| format!("the master did not read for {within:?}"))?
}

/// Runs until `shutdown` turns true: connects, serves, reconnects.
pub async fn run(
    config: SessionConfig,
    source: impl TableSource,
    mut shutdown: watch::Receiver<bool>,
) {
    let source = Arc::new(source);
    let t = &config.timing;
    let mut backoff = Backoff::new(t.backoff_min, t.backoff_max, t.healthy_after);
    let mut served = Served::new(&config);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let attempt = async {
            let mut stream = connect(&config.address).await.map_err(|e| {
                format!(
                    "cannot connect to the AgentX master at {:?}: {e}",
                    config.address
                )
            })?;
            let session_id = open(&mut stream, &config).await?;
            log::info!(target: TARGET, "registered with the AgentX master at {:?} (session {session_id})", config.address);
            Ok::<_, String>((stream, session_id))
        };
        let (stream, session_id) = tokio::select! {
            r = attempt => match r {
                Ok(s) => s,
                Err(e) => {
                    let delay = backoff.next_delay();
                    log::warn!(target: TARGET, "{e}; retrying in {delay:?}");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            },
            _ = shutdown.changed() => continue,
        };
        let since = Instant::now();
        match serve(
            stream,
            session_id,
            &config,
            &source,
            &mut served,
            &mut shutdown,
        )
        .await
        {
            Ok(()) => return,
            Err(e) => {
                let delay = backoff.after_run(since, Instant::now());
                log::warn!(target: TARGET, "AgentX session ended: {e}; reconnecting in {delay:?}");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}

/// One session over a stream that is already connected, without connecting, reconnecting or
/// backoff: Open, Register, then answer until the master's bytes end or break. `run` does the
/// same per connection; this entry lets the fuzz target (and tests) play the master from bytes
/// in memory. Returns why the session ended.
#[doc(hidden)]
pub async fn session_over(
    stream: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    config: &SessionConfig,
    source: impl TableSource,
) -> Result<(), String> {
    let source = Arc::new(source);
    let mut stream: Box<dyn Stream> = Box::new(stream);
    let session_id = open(&mut stream, config).await?;
    let mut served = Served::new(config);
    // Kept alive so that shutdown never fires: the session ends with its stream.
    let (_keep, mut shutdown) = watch::channel(false);
    serve(
        stream,
        session_id,
        config,
        &source,
        &mut served,
        &mut shutdown,
    )
    .await
}

/// The table being served and when to rebuild it; survives reconnects.
struct Served {
    table: MibTable,
    generation: Option<u64>,
    policy: CachePolicy,
}

impl Served {
    fn new(config: &SessionConfig) -> Self {
        Served {
            table: MibTable::default(),
            generation: None,
            policy: CachePolicy::new(config.cache_max),
        }
    }

    /// Rebuilds the table if the cache policy says so (a GetNext or GetBulk is part of a
    /// walk). The build runs on the blocking pool: it waits for the core's answer and walks
    /// every resource. Never `block_in_place` on a runtime worker instead: that hands the
    /// worker to a new thread and lets this one end when idle, and a child started from it
    /// with `PR_SET_PDEATHSIG` (drbdsetup) would be killed with it.
    async fn refresh<S: TableSource>(&mut self, source: &Arc<S>, walk: bool) {
        let generation = source.generation();
        let changed = self.generation != Some(generation);
        let now = Instant::now();
        let rebuild = if walk {
            self.policy.before_get_next(changed, now)
        } else {
            self.policy.before_get(changed, now)
        };
        if rebuild || (self.generation.is_none() && self.policy.may_try(now)) {
            let source = Arc::clone(source);
            if let Ok(Some(table)) = tokio::task::spawn_blocking(move || source.build()).await {
                self.table = table;
                self.generation = Some(generation);
                self.policy.built(now);
            } else {
                self.policy.failed(Instant::now());
            }
        }
    }
}

async fn open(stream: &mut Box<dyn Stream>, config: &SessionConfig) -> Result<u32, String> {
    let open = Pdu {
        ids: Ids {
            packet_id: 1,
            ..Ids::default()
        },
        payload: Payload::Open {
            timeout: config.agent_timeout,
            id: Oid(LINBIT.to_vec()),
            descr: b"DRBD by drbd-reactor::agentx".to_vec(),
        },
    };
    let session_id = request(stream, open, config).await?.session_id;
    let register = Pdu {
        ids: Ids {
            session_id,
            packet_id: 2,
            ..Ids::default()
        },
        payload: Payload::Register {
            context: None,
            timeout: 0,
            priority: 127,
            subtree: Oid(LINBIT.to_vec()),
        },
    };
    request(stream, register, config).await?;
    Ok(session_id)
}

/// Sends an administrative PDU and waits for its Response; an error in it is an error.
async fn request(
    stream: &mut Box<dyn Stream>,
    pdu: Pdu,
    config: &SessionConfig,
) -> Result<Ids, String> {
    send(stream, &pdu, config.timing.answer_within).await?;
    let answer = tokio::time::timeout(config.timing.answer_within, read_pdu(stream))
        .await
        .map_err(|_| "the master did not answer".to_string())??;
    match answer.payload {
        Payload::Response { error, .. } if answer.ids.packet_id == pdu.ids.packet_id => {
            if error == error::NO_ERROR {
                Ok(answer.ids)
            } else {
                Err(format!(
                    "the master refused our request (AgentX error {error})"
                ))
            }
        }
        other => Err(format!("unexpected answer from the master: {other:?}")),
    }
}

async fn serve(
    stream: Box<dyn Stream>,
    session_id: u32,
    config: &SessionConfig,
    source: &Arc<impl TableSource>,
    served: &mut Served,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    // One read in progress for the whole session, kept across the loop's turns: a PDU half
    // read when the ping timer or shutdown wins is finished at the next turn, not dropped
    // (`read_exact` is not cancel-safe, and a lost byte breaks every PDU after it).
    let (reader, mut stream) = tokio::io::split(stream);
    let mut reading = Box::pin(next_pdu(reader));
    // The first ping one period from now. (`interval`'s immediate first tick is a timer at
    // "now", which the timer wheel fires at the next millisecond: a 1 ms stall per session.)
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + config.timing.ping_every,
        config.timing.ping_every,
    );
    let mut ping_sent: Option<Instant> = None;
    let mut packet_id = 10u32;
    loop {
        tokio::select! {
            (reader, pdu) = &mut reading => {
                reading = Box::pin(next_pdu(reader));
                let pdu = pdu?;
                if let Some(walk) = reads_table(&pdu) {
                    served.refresh(source, walk).await;
                }
                match answer(pdu, served) {
                    Reply::Send(r) => send(&mut stream, &r, config.timing.answer_within).await?,
                    // The answer to our ping (its packet id); other Responses are not ours.
                    Reply::Pong { packet_id: p, error } if ping_sent.is_some() && p == packet_id => {
                        if error != error::NO_ERROR {
                            // notOpen and the like: the master no longer serves us.
                            return Err(format!("the master answered our ping with error {error}"));
                        }
                        ping_sent = None;
                    }
                    Reply::Pong { .. } => {}
                    Reply::Closed => return Err("the master closed the session".into()),
                    Reply::Nothing => {}
                }
            }
            _ = ping.tick() => {
                if let Some(t) = ping_sent {
                    if t.elapsed() >= config.timing.answer_within {
                        return Err("the master did not answer our ping".into());
                    }
                } else {
                    packet_id = packet_id.wrapping_add(1);
                    let p = Pdu { ids: Ids { session_id, transaction_id: 0, packet_id }, payload: Payload::Ping { context: None } };
                    send(&mut stream, &p, config.timing.answer_within).await?;
                    ping_sent = Some(Instant::now());
                }
            }
            _ = shutdown.changed() => {
                let close = Pdu { ids: Ids { session_id, transaction_id: 0, packet_id: packet_id.wrapping_add(1) }, payload: Payload::Close { reason: CloseReason::Shutdown } };
                let _ = tokio::time::timeout(Duration::from_secs(1), write_pdu(&mut stream, &close)).await;
                return Ok(());
            }
        }
    }
}

/// Reads the next PDU, handing the read half back with it.
async fn next_pdu<R: AsyncRead + Unpin>(mut reader: R) -> (R, Result<Pdu, String>) {
    let pdu = read_pdu(&mut reader).await;
    (reader, pdu)
}

enum Reply {
    Send(Pdu),
    /// A Response from the master (to our ping, if its packet id is the ping's).
    Pong {
        packet_id: u32,
        error: u16,
    },
    Closed,
    Nothing,
}

fn response(ids: Ids, error: u16, index: u16, varbinds: Vec<VarBind>) -> Reply {
    Reply::Send(Pdu {
        ids,
        payload: Payload::Response {
            sys_uptime: 0,
            error,
            index,
            varbinds,
        },
    })
}

/// Whether answering `pdu` reads the table, and if so whether as part of a walk (GetNext,
/// GetBulk) or not (Get): the table is refreshed before [`answer`] is asked.
fn reads_table(pdu: &Pdu) -> Option<bool> {
    match pdu.payload {
        Payload::Get { .. } => Some(false),
        Payload::GetNext { .. } | Payload::GetBulk { .. } => Some(true),
        _ => None,
    }
}

/// The answer to one PDU from the master (RFC 2741 §7.2), from the table as refreshed for it.
fn answer(pdu: Pdu, served: &mut Served) -> Reply {
    let ids = pdu.ids;
    match pdu.payload {
        Payload::Get { ranges, .. } => {
            let mut vbs = Sized::default();
            for r in ranges {
                let vb = VarBind {
                    value: served.table.get(&r.start),
                    name: r.start,
                };
                if !vbs.push(vb) {
                    return response(ids, error::TOO_BIG, 0, Vec::new());
                }
            }
            response(ids, error::NO_ERROR, 0, vbs.varbinds)
        }
        Payload::GetNext { ranges, .. } => {
            let mut vbs = Sized::default();
            for r in &ranges {
                if !vbs.push(next(&served.table, r)) {
                    return response(ids, error::TOO_BIG, 0, Vec::new());
                }
            }
            if vbs.varbinds.iter().all(|v| v.value == Value::EndOfMibView) {
                served.policy.walk_ended();
            }
            response(ids, error::NO_ERROR, 0, vbs.varbinds)
        }
        Payload::GetBulk {
            non_repeaters,
            max_repetitions,
            ranges,
            ..
        } => {
            let n = (non_repeaters as usize).min(ranges.len());
            let mut vbs = Sized::default();
            for r in &ranges[..n] {
                if !vbs.push(next(&served.table, r)) {
                    return response(ids, error::TOO_BIG, 0, Vec::new());
                }
            }
            let mut repeaters: Vec<SearchRange> = ranges[n..].to_vec();
            'repeat: for _ in 0..max_repetitions {
                if repeaters.is_empty() {
                    break;
                }
                let mut all_end = true;
                for r in repeaters.iter_mut() {
                    let vb = next(&served.table, r);
                    if vb.value != Value::EndOfMibView {
                        all_end = false;
                        r.start = vb.name.clone();
                        r.include = false;
                    }
                    // Full: fewer varbinds than asked for (RFC 3416 §4.2.3).
                    if !vbs.push(vb) {
                        break 'repeat;
                    }
                }
                if all_end {
                    // A repetition of only endOfMibView ends the walk, as for GetNext (spec §5).
                    served.policy.walk_ended();
                    break;
                }
            }
            response(ids, error::NO_ERROR, 0, vbs.varbinds)
        }
        // Nothing here is writable: refuse the first varbind and keep the session.
        Payload::TestSet { .. } => response(ids, error::NOT_WRITABLE, 1, Vec::new()),
        Payload::CommitSet | Payload::UndoSet => response(ids, error::NO_ERROR, 0, Vec::new()),
        // RFC 2741 §7.2.4.4: no response to a CleanupSet.
        Payload::CleanupSet => Reply::Nothing,
        Payload::Response { error, .. } => Reply::Pong {
            packet_id: ids.packet_id,
            error,
        },
        Payload::Close { .. } => Reply::Closed,
        Payload::Ping { .. } => response(ids, error::NO_ERROR, 0, Vec::new()),
        _ => Reply::Nothing,
    }
}

/// Varbinds of a response, kept under [`MAX_RESPONSE`] bytes.
#[derive(Default)]
struct Sized {
    varbinds: Vec<VarBind>,
    bytes: usize,
}

impl Sized {
    /// Adds `vb` if it fits; false if the response is full.
    fn push(&mut self, vb: VarBind) -> bool {
        let len = vb.encoded_len();
        if self.bytes + len > MAX_RESPONSE {
            return false;
        }
        self.bytes += len;
        self.varbinds.push(vb);
        true
    }
}

fn next(table: &MibTable, r: &SearchRange) -> VarBind {
    match table.get_next(r) {
        Some((oid, v)) => VarBind {
            name: oid.clone(),
            value: v.clone(),
        },
        None => VarBind {
            name: r.start.clone(),
            value: Value::EndOfMibView,
        },
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
