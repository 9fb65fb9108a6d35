//! The drop-ins a systemd-runner resource needs (spec §6.2 step 3: any error, the instance
//! is not started): while they could not be written this node never starts the resource's
//! services, and the ticker writes them again, so a full /run or a fixed configuration heals.
//!
//! Must never: start services on drop-ins that were not written, or stop what runs (the
//! safety rules still apply to a resource whose drop-ins failed).

use super::*;

impl Machine {
    /// The outcome of writing the drop-ins.
    pub(super) fn units_written(&mut self, result: Result<(), String>, out: &mut Vec<Action>) {
        match result {
            Ok(()) => {
                if self.units_failed.take().is_some() {
                    let msg = format!(
                        "wrote the drop-ins of '{}': this node may start its services again",
                        self.name
                    );
                    self.log(out, Level::Info, msg);
                }
            }
            Err(e) => {
                if self.pending_start.take().is_some() {
                    let msg = format!("not promoting {}: its drop-ins were not written", self.name);
                    self.log(out, Level::Info, msg);
                }
                // Said once per different error: the ticker tries again every 20 s.
                if self.units_failed.as_deref() != Some(e.as_str()) {
                    let msg = format!(
                        "not starting the services of '{}' on this node: writing its drop-ins failed: {e}; trying again every {} s",
                        self.name,
                        TICK.as_secs()
                    );
                    self.log(out, Level::Error, msg);
                }
                self.units_failed = Some(e);
            }
        }
    }

    /// The ticker's turn: drop-ins that failed are written again.
    pub(super) fn retry_units(&self, out: &mut Vec<Action>) {
        if self.units_failed.is_some() {
            out.push(Action::WriteUnits);
        }
    }
}
