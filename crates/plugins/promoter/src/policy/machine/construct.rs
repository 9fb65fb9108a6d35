//! Construction of an instance without blocking (spec §6.11): the backing devices are listed,
//! waited for (polled, with a limit) and the resource adjusted when `adjust-resource-on-start`
//! asks for it; the split-brain avoidance policy is detected, and retried with backoff when
//! that fails.
//!
//! Must never: wait for a device or a command itself (each step is an action whose outcome
//! comes back), or leave construction unfinished when a step fails (it warns and goes on).

use super::*;

impl Machine {
    /// The outcome of listing the backing devices (`drbdadm sh-ll-dev`).
    pub(super) fn backing_devices(
        &mut self,
        now: Instant,
        devices: Result<Vec<String>, String>,
        out: &mut Vec<Action>,
    ) {
        let devices = match devices {
            Ok(devices) => devices,
            Err(e) => {
                if self.cfg.adjust_resource_on_start {
                    let msg = format!("Could not adjust '{}': {e}", self.name);
                    self.log(out, Level::Warn, msg);
                }
                self.construct = Construct::Ready;
                return;
            }
        };
        self.configured_diskless = devices.iter().any(|d| d == "none");
        let real: Vec<String> = devices.into_iter().filter(|d| d != "none").collect();
        if self.cfg.adjust_resource_on_start && real.is_empty() {
            self.construct = Construct::Adjusting;
            out.push(Action::Adjust);
        } else if self.cfg.adjust_resource_on_start {
            for d in &real {
                let msg =
                    format!("adjust_resources: waiting for backing device '{d}' to become ready");
                self.log(out, Level::Info, msg);
            }
            self.construct = Construct::Waiting {
                devices: real.clone(),
                give_up_at: now + DEVICE_WAIT_LIMIT,
                next_check: None,
            };
            out.push(Action::CheckDevices(real));
        } else {
            self.construct = Construct::Ready;
        }
    }

    /// Whether the backing devices waited for are block devices now.
    pub(super) fn devices_ready(&mut self, now: Instant, ready: bool, out: &mut Vec<Action>) {
        let Construct::Waiting {
            devices,
            give_up_at,
            ..
        } = self.construct.clone()
        else {
            return;
        };
        if ready {
            for d in &devices {
                let msg = format!("adjust_resources: backing device '{d}' now ready");
                self.log(out, Level::Info, msg);
            }
            self.construct = Construct::Adjusting;
            out.push(Action::Adjust);
        } else if now >= give_up_at {
            let msg = format!(
                "Could not adjust '{}': backing devices {devices:?} not ready after {}s",
                self.name,
                DEVICE_WAIT_LIMIT.as_secs()
            );
            self.log(out, Level::Warn, msg);
            self.construct = Construct::Ready;
        } else {
            self.construct = Construct::Waiting {
                devices,
                give_up_at,
                next_check: Some(now + DEVICE_POLL),
            };
        }
    }

    /// The outcome of `drbdadm adjust`: construction ends either way.
    pub(super) fn adjusted(&mut self, result: Result<(), String>, out: &mut Vec<Action>) {
        if let Err(e) = result {
            let msg = format!("Could not adjust '{}': {e}", self.name);
            self.log(out, Level::Warn, msg);
        }
        self.construct = Construct::Ready;
    }

    /// The outcome of detecting the split-brain avoidance policy.
    pub(super) fn policy_detected(
        &mut self,
        now: Instant,
        result: Result<SplitBrainPolicy, String>,
        out: &mut Vec<Action>,
    ) {
        match result {
            Ok(p) => {
                let msg = format!("Detected split-brain avoidance policy: '{}'", p.as_str());
                self.log(out, Level::Info, msg);
                self.policy = PolicyState::Known(p);
            }
            Err(e) => {
                let failures = match self.policy {
                    PolicyState::Failed { failures, .. } => failures + 1,
                    _ => 1,
                };
                let wait = (POLICY_RETRY * 2u32.saturating_pow(failures - 1)).min(TICK);
                let msg = format!(
                    "IGNORING resource '{}': {e} (retrying in {}s)",
                    self.name,
                    wait.as_secs()
                );
                self.log(out, Level::Warn, msg);
                self.policy = PolicyState::Failed {
                    retry_at: now + wait,
                    failures,
                };
            }
        }
    }

    /// Construction's deadlines: the next device check, the next policy detection.
    pub(super) fn construction_timers(&mut self, now: Instant, out: &mut Vec<Action>) {
        if let Construct::Waiting {
            devices,
            give_up_at,
            next_check: Some(t),
        } = &self.construct
        {
            if *t <= now {
                let devices = devices.clone();
                self.construct = Construct::Waiting {
                    devices: devices.clone(),
                    give_up_at: *give_up_at,
                    next_check: None,
                };
                out.push(Action::CheckDevices(devices));
            }
        }
        if let PolicyState::Failed { retry_at, failures } = self.policy {
            if retry_at <= now {
                // Still Failed (with its count) until the outcome arrives; no second request.
                self.policy = PolicyState::Failed {
                    retry_at: now + MAX_BACKOFF * 1000,
                    failures,
                };
                out.push(Action::DetectPolicy);
            }
        }
    }
}
