//! The daemon on each node: its events2 stream (the simulator's printer over the node's
//! view), a `drbd::State` fed with the printed events, and one promoter `Machine` per
//! resource fed with the resulting object updates, as the plugin host hands them over.
//!
//! Must never: skip the events2 text: the machines only learn what a real stream says.

use crate::setup::{NODES, RESOURCES};
use crate::world::World;
use drbd::{PluginUpdate, State};
use drbd_reactor_promoter::policy::Machine;
use drbd_sim::printer::{Options, Printer};

#[derive(Clone)]
pub(crate) struct Daemon {
    pub(crate) epoch: u64,
    pub(crate) printer: Printer,
    pub(crate) state: State,
    /// None until the stream's first dump.
    pub(crate) started: bool,
    /// The version of the node's view it printed last (`World::view_version`).
    pub(crate) printed: u64,
    pub(crate) machines: Vec<Machine>,
}

impl World {
    pub(crate) fn start_daemon(&mut self, n: usize) {
        if !self.up(n) || self.daemons[n].is_some() {
            return;
        }
        self.next_epoch += 1;
        let epoch = self.next_epoch;
        let now = self.instant();
        let mut machines = Vec::new();
        for r in 0..3 {
            let (m, first) = Machine::new(
                RESOURCES[r],
                self.cfgs[r].clone(),
                Some(NODES[n].to_string()),
                now,
            );
            machines.push(m);
            self.enqueue(n, r, epoch, first);
        }
        self.daemons[n] = Some(Daemon {
            epoch,
            printer: Printer::new(Options::default(), None),
            state: State::new(),
            started: false,
            printed: 0,
            machines,
        });
        self.daemon_since[n] = Some(self.now);
    }

    /// Feeds every live daemon the lines its events2 stream prints now.
    pub(crate) fn deliver(&mut self) -> bool {
        let fresh_stream = self.daemons.iter().flatten().any(|d| !d.started);
        if !self.dirty && !fresh_stream {
            return false;
        }
        if self.dirty {
            for n in 0..3 {
                let view = self.model.view(NODES[n]);
                if view != self.views[n] {
                    self.views[n] = view;
                    self.view_version[n] += 1;
                }
            }
            self.dirty = false;
        }
        let mut any = false;
        let now = self.instant();
        for n in 0..3 {
            let view = &self.views[n];
            let Some(d) = self.daemons[n].as_mut() else {
                continue;
            };
            // An unchanged view prints nothing: the printer is asked only about changed ones.
            if d.started && d.printed == self.view_version[n] {
                continue;
            }
            d.printed = self.view_version[n];
            let lines = if d.started {
                d.printer.update(view, false)
            } else {
                d.started = true;
                d.printer.dump(view)
            };
            if lines.is_empty() {
                continue;
            }
            any = true;
            let mut updates = Vec::new();
            for l in lines {
                d.state.apply(l.event, &mut updates);
            }
            let epoch = d.epoch;
            let mut decided = Vec::new();
            for u in updates {
                let PluginUpdate::Object(u) = u else { continue };
                let Some(r) = RESOURCES.iter().position(|x| *x == u.resource_name()) else {
                    continue;
                };
                decided.push((r, d.machines[r].on_update(now, &u)));
            }
            for (r, a) in decided {
                self.enqueue(n, r, epoch, a);
            }
        }
        any
    }
}
