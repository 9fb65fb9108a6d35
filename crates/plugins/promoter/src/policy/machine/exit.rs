//! The end of an instance (reload, shutdown): from then on nothing is acted on, and with
//! `stop-services-on-exit` the services are stopped. A handover (the host resynchronises an
//! instance that fell behind and starts a new one at once) ends it the same way but leaves
//! the services as they are.
//!
//! Must never: start anything or act on an update after exit was asked for, or stop the
//! services for a handover.

use super::*;

impl Machine {
    /// The instance ends: no more updates are acted on (§12.22); with
    /// `stop-services-on-exit` the before drop-in goes and the services are stopped.
    pub fn on_exit(&mut self, _now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.stop_acting() {
            return out;
        }
        if self.cfg.stop_services_on_exit {
            let msg = format!(
                "stopping the services of '{}' on exit (stop-services-on-exit)",
                self.name
            );
            self.log(&mut out, Level::Info, msg);
            if self.cfg.runner == Runner::Systemd {
                out.push(Action::RemoveBefore);
            }
            self.stop(&mut out);
        } else {
            self.finished = true;
        }
        out
    }

    /// The instance ends to be resynchronised (plugin contract: its updates ended without a
    /// stop); a new instance with the current state takes over at once. Nothing is stopped,
    /// whatever `stop-services-on-exit` says: no reload, shutdown or removal was asked for.
    pub fn on_handover(&mut self, _now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.stop_acting() {
            return out;
        }
        let msg = format!(
            "'{}': this instance fell behind and is resynchronised; the services stay as they are for the new instance to take over",
            self.name
        );
        self.log(&mut out, Level::Info, msg);
        self.finished = true;
        out
    }

    /// From now on nothing is acted on and no start is pending; false if that was so already.
    fn stop_acting(&mut self) -> bool {
        if self.exiting {
            return false;
        }
        self.exiting = true;
        self.pending_start = None;
        true
    }
}
