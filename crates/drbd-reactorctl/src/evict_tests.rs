//! evict in virtual time: a fake node whose Primary changes at given instants, which records
//! every systemctl call and every line printed.

use super::*;
use crate::snippet::{Promoter, PromoterResource};
use std::collections::{BTreeMap, BTreeSet};

/// Who is Primary over (virtual) time, relative to the stop of the target.
#[derive(Clone)]
enum Script {
    /// Local until the stop, then `peer` after `after`.
    PeerAfterStop { peer: &'static str, after: Duration },
    /// Always this answer.
    Always(PrimaryOn),
    /// drbdsetup fails.
    Fails,
}

struct Fake {
    script: BTreeMap<String, Script>,
    now: Duration,
    stopped_at: BTreeMap<String, Duration>,
    calls: Vec<String>,
    out: String,
    masks: BTreeSet<PathBuf>,
    fail: Option<&'static str>,
    interrupt_at: Option<Duration>,
    interrupted: bool,
    queries: usize,
    /// A unit file in /etc outranks the runtime mask.
    mask_outranked: bool,
}

impl Fake {
    fn new(script: &[(&str, Script)]) -> Fake {
        Fake {
            script: script
                .iter()
                .map(|(r, s)| (r.to_string(), s.clone()))
                .collect(),
            now: Duration::ZERO,
            stopped_at: BTreeMap::new(),
            calls: Vec::new(),
            out: String::new(),
            masks: BTreeSet::new(),
            fail: None,
            interrupt_at: None,
            interrupted: false,
            queries: 0,
            mask_outranked: false,
        }
    }
}

fn res_of_target(unit: &str) -> String {
    unit.trim_start_matches("drbd-services@")
        .trim_end_matches(".target")
        .to_string()
}

impl Node for Fake {
    fn primary(&mut self, res: &str) -> anyhow::Result<PrimaryOn> {
        self.queries += 1;
        match &self.script[res] {
            Script::Always(p) => Ok(p.clone()),
            Script::Fails => bail!("'drbdsetup status --json {res}' not executed successfully"),
            Script::PeerAfterStop { peer, after } => Ok(match self.stopped_at.get(res) {
                Some(t) if self.now >= *t + *after => PrimaryOn::Peer(peer.to_string()),
                Some(_) => PrimaryOn::Unknown,
                None => PrimaryOn::Local,
            }),
        }
    }
    fn systemctl(&mut self, args: &[&str], _output: Output) -> anyhow::Result<bool> {
        let line = args.join(" ");
        self.calls.push(line.clone());
        if self.fail.is_some_and(|f| line.starts_with(f)) {
            return Ok(false);
        }
        match args {
            ["mask", "--runtime", unit] => {
                self.masks
                    .insert(mask_path(Path::new("/run/u"), &res_of_target(unit)));
            }
            ["stop", unit] => {
                self.stopped_at.insert(res_of_target(unit), self.now);
            }
            _ => {}
        }
        Ok(true)
    }
    fn remove_mask(&mut self, path: &Path) -> anyhow::Result<Unmasked> {
        self.calls.push(format!("rm {}", path.display()));
        Ok(if self.masks.remove(path) {
            Unmasked::Removed
        } else {
            Unmasked::Absent
        })
    }
    fn is_masked(&self, path: &Path) -> bool {
        self.masks.contains(path)
    }
    fn load_state(&mut self, unit: &str) -> anyhow::Result<String> {
        self.calls.push(format!("show LoadState {unit}"));
        let mask = mask_path(Path::new(ROOT), &res_of_target(unit));
        Ok(if self.masks.contains(&mask) && !self.mask_outranked {
            "masked"
        } else {
            "loaded"
        }
        .into())
    }
    fn now(&self) -> Duration {
        self.now
    }
    fn sleep(&mut self, duration: Duration) {
        assert!(
            duration > Duration::ZERO && duration <= POLL,
            "{duration:?}"
        );
        self.now += duration;
        if self.interrupt_at.is_some_and(|t| self.now >= t) {
            self.interrupted = true;
        }
    }
    fn interrupted(&self) -> bool {
        self.interrupted
    }
    fn reset_interrupt(&mut self) {
        self.interrupted = false;
    }
    fn print(&mut self, text: &str) {
        self.out.push_str(text);
    }
}

fn snippet(path: &str, plugins: Vec<Plugin>) -> Snippet {
    Snippet {
        path: PathBuf::from(path),
        enabled: true,
        plugins,
    }
}

fn promoter(resources: &[(&str, Option<&str>)]) -> Plugin {
    Plugin::Promoter(Promoter {
        resources: resources
            .iter()
            .map(|(r, action)| {
                (
                    r.to_string(),
                    PromoterResource {
                        on_drbd_demote_failure: action.map(str::to_string),
                        ..Default::default()
                    },
                )
            })
            .collect(),
    })
}

fn options(delay: u32) -> Options {
    Options {
        delay,
        force: false,
        keep_masked: false,
        unmask: false,
    }
}

const ROOT: &str = "/run/u";

fn run_fake(fake: &mut Fake, snippets: &[Snippet], opts: Options) -> anyhow::Result<()> {
    run(fake, snippets, opts, Path::new(ROOT))
}

#[test]
fn a_peer_taking_over_after_two_and_a_half_seconds_ends_the_countdown_and_is_named() {
    let mut fake = Fake::new(&[(
        "linstor_db",
        Script::PeerAfterStop {
            peer: "peerhost",
            after: Duration::from_millis(2500),
        },
    )]);
    let s = [snippet(
        "/etc/drbd-reactor.d/linstor_db.toml",
        vec![promoter(&[("linstor_db", None)])],
    )];
    run_fake(&mut fake, &s, options(20)).unwrap();
    assert_eq!(
        fake.out,
        "/etc/drbd-reactor.d/linstor_db.toml:\nEvicting linstor_db\n20..19..18..\n\
         Node 'peerhost' took over\nRe-enabling linstor_db\n\
         Removed /run/u/drbd-services@linstor_db.target.\n"
    );
    assert_eq!(
        fake.calls,
        [
            "mask --runtime drbd-services@linstor_db.target",
            "daemon-reload",
            "show LoadState drbd-services@linstor_db.target",
            "stop drbd-services@linstor_db.target",
            "rm /run/u/drbd-services@linstor_db.target",
            "daemon-reload",
            "start drbd-services@linstor_db.target"
        ]
    );
    // the take-over is seen within one poll, not at the next full second
    assert!(fake.now < Duration::from_millis(2500) + POLL + Duration::from_millis(1));
}

#[test]
fn nobody_taking_over_counts_down_to_zero_and_never_waits_past_the_delay() {
    let mut fake = Fake::new(&[("r0", Script::Always(PrimaryOn::Local))]);
    let s = [snippet("/d/r0.toml", vec![promoter(&[("r0", None)])])];
    run_fake(&mut fake, &s, options(3)).unwrap();
    assert!(
        fake.out.contains(
            "Evicting r0\n3..2..1..0\nLocal node still DRBD Primary, not all services stopped in time locally\n"
        ),
        "{}",
        fake.out
    );
    assert_eq!(fake.now, Duration::from_secs(3));
    let mut fake = Fake::new(&[(
        "r0",
        Script::PeerAfterStop {
            peer: "never",
            after: Duration::from_secs(3600),
        },
    )]);
    run_fake(&mut fake, &s, options(1)).unwrap();
    assert!(
        fake.out
            .contains("1..0\nUnfortunately no other node took over, resource in unknown state\n"),
        "{}",
        fake.out
    );
}

#[test]
fn unknown_and_remote_resources_are_left_alone_and_not_started() {
    let mut fake = Fake::new(&[
        ("a", Script::Always(PrimaryOn::Unknown)),
        ("b", Script::Always(PrimaryOn::Peer("beta".into()))),
    ]);
    let s = [
        snippet("/d/a.toml", vec![promoter(&[("a", None)])]),
        snippet("/d/b.toml", vec![promoter(&[("b", None)])]),
    ];
    run_fake(&mut fake, &s, options(5)).unwrap();
    assert_eq!(
        fake.out,
        "/d/a.toml:\n/d/b.toml:\nEvicting b\nActive on 'beta', nothing to do on this node, ignoring\n\
         Evicting a\nSorry, resource state for 'a' unknown, ignoring\n"
    );
    assert!(fake.calls.is_empty(), "{:?}", fake.calls);
    // a mask left by an earlier --keep-masked is undone even when nothing is evicted now
    fake.masks.insert(mask_path(Path::new(ROOT), "a"));
    fake.out.clear();
    run_fake(&mut fake, &s[..1], options(5)).unwrap();
    assert!(fake
        .out
        .ends_with("Re-enabling a\nRemoved /run/u/drbd-services@a.target.\n"));
}

#[test]
fn resources_without_a_demote_failure_action_go_first_in_reverse_order() {
    let mut fake = Fake::new(&[]);
    let s = [
        snippet(
            "/d/x.toml",
            vec![promoter(&[
                ("r1", None),
                ("r2", Some("reboot")),
                ("r3", Some("none")),
            ])],
        ),
        snippet("/d/y.toml", vec![promoter(&[("r4", None)])]),
    ];
    let order: Vec<String> = collect(&mut fake, &s, true, Path::new(ROOT))
        .unwrap()
        .into_iter()
        .map(|t| t.res)
        .collect();
    assert_eq!(order, ["r4", "r3", "r1", "r2"]);
}

#[test]
fn without_force_mixed_snippets_and_several_resources_are_errors_before_any_action() {
    let mut fake = Fake::new(&[("r1", Script::Always(PrimaryOn::Local))]);
    let mixed = [
        snippet("/d/a.toml", vec![promoter(&[("r1", None)])]),
        snippet(
            "/d/m.toml",
            vec![promoter(&[("r1", None)]), Plugin::Debugger],
        ),
    ];
    let err = run_fake(&mut fake, &mixed, options(5)).unwrap_err();
    assert!(err
        .to_string()
        .contains("'/d/m.toml' contains mixed promoter and other plugins"));
    let several = [snippet(
        "/d/s.toml",
        vec![promoter(&[("r1", None), ("r2", None)])],
    )];
    let mut unmask = options(5);
    unmask.unmask = true;
    let err = run_fake(&mut fake, &several, unmask).unwrap_err();
    assert!(err
        .to_string()
        .contains("'/d/s.toml' responsible for multiple resources"));
    assert!(fake.calls.is_empty());
    // snippets without a promoter are skipped silently
    let none = [snippet("/d/p.toml", vec![Plugin::Umh])];
    run_fake(&mut fake, &none, options(5)).unwrap();
    assert_eq!(fake.out, "/d/a.toml:\n/d/m.toml:\n/d/s.toml:\n");
}

#[test]
fn keep_masked_leaves_the_mask_and_unmask_only_undoes_it() {
    let mut fake = Fake::new(&[(
        "r0",
        Script::PeerAfterStop {
            peer: "beta",
            after: Duration::from_millis(300),
        },
    )]);
    let s = [snippet("/d/r0.toml", vec![promoter(&[("r0", None)])])];
    let mut opts = options(5);
    opts.keep_masked = true;
    run_fake(&mut fake, &s, opts).unwrap();
    assert!(
        fake.out.ends_with("Node 'beta' took over\n"),
        "{}",
        fake.out
    );
    assert!(fake.is_masked(&mask_path(Path::new(ROOT), "r0")));
    fake.calls.clear();
    let mut opts = options(5);
    opts.unmask = true;
    run_fake(&mut fake, &s, opts).unwrap();
    assert_eq!(
        fake.calls,
        [
            "rm /run/u/drbd-services@r0.target",
            "daemon-reload",
            "start drbd-services@r0.target"
        ]
    );
    assert!(fake.masks.is_empty());
}

#[test]
fn an_interrupt_ends_the_wait_unmasks_and_skips_the_remaining_resources() {
    let mut fake = Fake::new(&[
        ("a", Script::Always(PrimaryOn::Local)),
        ("b", Script::Always(PrimaryOn::Local)),
    ]);
    fake.interrupt_at = Some(Duration::from_millis(1500));
    let s = [snippet(
        "/d/x.toml",
        vec![promoter(&[("a", None), ("b", None)])],
    )];
    let mut opts = options(20);
    opts.force = true;
    run_fake(&mut fake, &s, opts).unwrap();
    assert!(
        fake.out.contains("Evicting b\n20..19..\nInterrupted, not waiting any longer\nLocal node still DRBD Primary"),
        "{}",
        fake.out
    );
    assert!(
        fake.out.ends_with(
            "Re-enabling b\nRemoved /run/u/drbd-services@b.target.\nInterrupted, not evicting a\n"
        ),
        "{}",
        fake.out
    );
    assert!(fake.now < Duration::from_millis(1500) + POLL + Duration::from_millis(1));
    assert!(!fake.calls.iter().any(|c| c.ends_with("@a.target")));
}

#[test]
fn a_failing_step_after_the_mask_still_unmasks_and_then_is_the_error() {
    let mut fake = Fake::new(&[("r0", Script::Always(PrimaryOn::Local))]);
    fake.fail = Some("stop");
    let s = [snippet("/d/r0.toml", vec![promoter(&[("r0", None)])])];
    let err = run_fake(&mut fake, &s, options(5)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "'systemctl stop drbd-services@r0.target' failed"
    );
    assert!(fake.calls.ends_with(&[
        "rm /run/u/drbd-services@r0.target".to_string(),
        "daemon-reload".to_string(),
        "start drbd-services@r0.target".to_string()
    ]));
    // a failing drbdsetup before anything was masked changes nothing
    let mut fake = Fake::new(&[("r0", Script::Fails)]);
    let err = run_fake(&mut fake, &s, options(5)).unwrap_err();
    assert!(err.to_string().contains("drbdsetup status --json r0"));
    assert!(fake.calls.is_empty());
}

#[test]
fn the_primary_is_asked_at_least_once_a_poll_and_the_wait_is_bounded() {
    let mut fake = Fake::new(&[("r0", Script::Always(PrimaryOn::Unknown))]);
    fake.stopped_at.insert("r0".into(), Duration::ZERO);
    wait_for_peer(&mut fake, "r0", 2).unwrap();
    assert_eq!(fake.now, Duration::from_secs(2));
    // 2 s / 200 ms = 10 sleeps, 11 queries in the loop and the verdict
    assert_eq!(fake.queries, 12);
}

#[test]
fn a_mask_outranked_by_a_unit_file_in_etc_is_an_error_before_the_stop() {
    let mut fake = Fake::new(&[("r0", Script::Always(PrimaryOn::Local))]);
    fake.mask_outranked = true;
    let s = [snippet("/d/r0.toml", vec![promoter(&[("r0", None)])])];
    let err = run_fake(&mut fake, &s, options(5)).unwrap_err();
    assert!(
        err.to_string()
            .contains("is not masked after 'systemctl mask --runtime' (LoadState=loaded)"),
        "{err}"
    );
    assert!(
        !fake.calls.iter().any(|c| c.starts_with("stop")),
        "{:?}",
        fake.calls
    );
    assert!(fake.masks.is_empty(), "the useless mask is removed again");
}
