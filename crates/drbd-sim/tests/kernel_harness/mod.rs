//! The simulator's printer fed one kernel message at a time, as drbd-utils' events2 harness
//! does: the objects and numbers of drbd-utils' fixtures, the steps that change them, and the
//! fixture files themselves (the corpus in crates/drbd/tests/fixtures).

use drbd::event::*;
use drbd::vocab::*;
use drbd_sim::printer::{Decor, Options, Printer};
use drbd_sim::view::{ConnView, NodeView, ResView};

pub const R: &str = "some-resource";

pub fn fixture(name: &str) -> Vec<String> {
    let path = format!(
        "{}/../drbd/tests/fixtures/events2/events2-{name}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(str::to_string)
        .collect()
}

pub fn resource() -> ResView {
    ResView {
        resource: ResourceLine {
            name: R.into(),
            role: Some(Role::Secondary),
            suspended: Some(Suspended::default()),
            force_io_failures: Some(false),
            write_ordering: Some(WriteOrdering::None),
            ..Default::default()
        },
        devices: Default::default(),
        connections: Default::default(),
    }
}

pub fn device(volume: u32) -> DeviceLine {
    DeviceLine {
        name: R.into(),
        volume,
        minor: Some(1000 + volume),
        backing_dev: Some(BackingDev::None),
        disk: Some(DiskState::Diskless),
        client: Some(Tristate::No),
        open: Some(Tristate::No),
        quorum: Some(true),
        size: Some(5),
        read: Some(10),
        written: Some(15),
        al_writes: Some(40),
        bm_writes: Some(50),
        upper_pending: Some(60),
        lower_pending: Some(70),
        al_suspended: Some(false),
        blocked: Some(Blocked::default()),
        unknown: vec![],
    }
}

pub fn connection() -> ConnView {
    ConnView {
        conn: ConnectionLine {
            name: R.into(),
            peer_node_id: 1,
            conn_name: "some-peer".into(),
            connection: Some(ConnectionState::StandAlone),
            role: Some(Role::Unknown),
            congested: Some(false),
            ap_in_flight: Some(10),
            rs_in_flight: Some(20),
            unknown: vec![],
        },
        peer_devices: Default::default(),
        paths: vec![],
    }
}

pub fn peer_device(volume: u32) -> PeerDeviceLine {
    PeerDeviceLine {
        name: R.into(),
        peer_node_id: 1,
        conn_name: "some-peer".into(),
        volume,
        replication: Some(ReplicationState::Off),
        peer_disk: Some(DiskState::DUnknown),
        peer_client: Some(Tristate::No),
        resync_suspended: Some(ResyncSuspended::default()),
        received: Some(5),
        sent: Some(10),
        out_of_sync: Some(0),
        pending: Some(30),
        unacked: Some(40),
        progress: None,
        unknown: vec![],
    }
}

pub fn path() -> PathLine {
    PathLine {
        name: R.into(),
        peer_node_id: 1,
        conn_name: "some-peer".into(),
        local: "ipv4:1.2.3.4:7789".parse().unwrap(),
        peer: "ipv4:5.6.7.8:7790".parse().unwrap(),
        established: Some(false),
        unknown: vec![],
    }
}

/// Kernel messages, one per step, as drbd-utils' harness sends them.
pub struct Harness {
    pub view: NodeView,
    pub printer: Printer,
    pub decor: Decor,
    pub out: Vec<String>,
}

impl Harness {
    pub fn new(opts: Options) -> Harness {
        Harness::with(opts, NodeView::new())
    }
    pub fn with(opts: Options, view: NodeView) -> Harness {
        Harness::decorated(opts, Decor::default(), view)
    }
    pub fn decorated(opts: Options, decor: Decor, mut view: NodeView) -> Harness {
        for r in view.values_mut() {
            r.derive_promotion();
        }
        let mut printer = Printer::new(opts, None);
        let out = printer
            .dump_text(&view, decor)
            .into_iter()
            .map(|(_, t)| t.replace('\x1b', "^["))
            .collect();
        Harness {
            view,
            printer,
            decor,
            out,
        }
    }
    pub fn step(&mut self, f: impl FnOnce(&mut NodeView)) -> &mut Self {
        f(&mut self.view);
        for r in self.view.values_mut() {
            r.derive_promotion();
        }
        let lines = self.printer.update_text(&self.view, false, self.decor);
        self.out
            .extend(lines.into_iter().map(|(_, t)| t.replace('\x1b', "^[")));
        self
    }
    pub fn res(&mut self, f: impl FnOnce(&mut ResView)) -> &mut Self {
        self.step(|v| f(v.get_mut(R).unwrap()))
    }
    pub fn conn(&mut self, f: impl FnOnce(&mut ConnView)) -> &mut Self {
        self.res(|r| f(r.connections.get_mut(&1).unwrap()))
    }
    pub fn raw(&mut self, line: Line) -> &mut Self {
        self.out.push(line.to_string());
        self
    }
}

pub fn create_resource(v: &mut NodeView) {
    v.insert(R.into(), resource());
}
pub fn create_device(vol: u32) -> impl FnOnce(&mut ResView) {
    move |r| {
        r.devices.insert(vol, device(vol));
    }
}
pub fn destroy_device(vol: u32) -> impl FnOnce(&mut ResView) {
    move |r| {
        r.devices.remove(&vol);
    }
}
pub fn attach_uptodate(vol: u32) -> impl FnOnce(&mut ResView) {
    move |r| {
        let d = r.devices.get_mut(&vol).unwrap();
        d.backing_dev = Some(BackingDev::Path("/dev/sda".into()));
        d.disk = Some(DiskState::UpToDate);
    }
}
pub fn create_connection(r: &mut ResView) {
    r.connections.insert(1, connection());
}
pub fn create_peer_device(c: &mut ConnView) {
    c.peer_devices.insert(0, peer_device(0));
}
pub fn create_path(c: &mut ConnView) {
    c.paths.push(path());
}
pub fn connected(c: &mut ConnView) {
    c.conn.connection = Some(ConnectionState::Connected);
    c.conn.role = Some(Role::Secondary);
}
pub fn peer_uptodate(c: &mut ConnView) {
    let pd = c.peer_devices.get_mut(&0).unwrap();
    pd.replication = Some(ReplicationState::Established);
    pd.peer_disk = Some(DiskState::UpToDate);
}

pub fn assert_lines(got: &[String], want: &[String]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "line {}", i + 1);
    }
    assert_eq!(
        got.len(),
        want.len(),
        "line count; got:\n{}",
        got.join("\n")
    );
}

pub const PLAIN: Options = Options {
    statistics: false,
    full: false,
};
pub const STATS: Options = Options {
    statistics: true,
    full: false,
};
pub const FULL: Options = Options {
    statistics: false,
    full: true,
};
