//! The service flows against a scripted agent and a recording notifier, in virtual time.

use super::*;
use crate::ocf::Ending;
use crate::settings::{parse, PreviousExit};
use std::collections::VecDeque;
use std::io;

/// Scripted agent: each call pops the next ending for its action (success when none is
/// scripted) and records the action; a call can take virtual time.
#[derive(Default)]
struct FakeAgent {
    script: VecDeque<(Call, Ending, Duration)>,
    calls: Vec<Call>,
    on_call: Option<Box<dyn FnMut(Call)>>,
}

impl Agent for FakeAgent {
    async fn call(&mut self, call: Call, _timeout: Duration) -> Ending {
        self.calls.push(call);
        if let Some(f) = self.on_call.as_mut() {
            f(call);
        }
        match self.script.front() {
            Some((c, _, _)) if *c == call => {
                let (_, ending, takes) = self.script.pop_front().unwrap();
                tokio::time::sleep(takes).await;
                ending
            }
            _ => Ending::Exited(0),
        }
    }
}

#[derive(Default)]
struct Recorder(Vec<String>);
impl Notifier for Recorder {
    fn notify(&mut self, message: &str) -> io::Result<()> {
        self.0.push(message.to_string());
        Ok(())
    }
}

/// A stop request whose signal handler never runs: the tests drive `asked`.
fn request(asked: watch::Receiver<bool>) -> StopRequest {
    static NEVER_RAISED: AtomicBool = AtomicBool::new(false);
    StopRequest {
        asked,
        raised: &NEVER_RAISED,
    }
}

fn settings(run_dir: &std::path::Path, extra: &[(&str, &str)]) -> Settings {
    let mut pairs = vec![
        (
            "AGENT",
            "/usr/lib/ocf/resource.d/heartbeat/Dummy".to_string(),
        ),
        ("OCF_ROOT", "/usr/lib/ocf".into()),
        ("OCF_RESOURCE_INSTANCE", "p_dummy_my\\x2dres".into()),
        ("monitor_interval", "10".into()),
        ("INVOCATION_ID", "0123456789abcdef0123456789abcdef".into()),
        ("OCF_RS_WRAPPER_RUN_DIR", run_dir.display().to_string()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    parse(&["start-and-monitor".to_string()], move |k| {
        pairs
            .iter()
            .rev()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
    })
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_failed_start_stops_the_agent_exits_with_its_code_and_never_sends_ready() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), &[]);
    let mut agent = FakeAgent::default();
    agent
        .script
        .push_back((Call::Start, Ending::Exited(6), Duration::ZERO));
    let mut n = Recorder::default();
    let (_tx, rx) = watch::channel(false);
    assert_eq!(
        start_and_monitor(&s, &mut agent, &mut n, request(rx)).await,
        6
    );
    assert_eq!(agent.calls, [Call::Start, Call::Stop]);
    assert!(n.0.iter().all(|m| !m.contains("READY=1")), "{:?}", n.0);
    assert!(n.0.iter().any(|m| m
        == "STATUS=Dummy:p_dummy_my\\x2dres,s-a-m,start: FAILED with exit code 6 (OCF_ERR_CONFIGURED)"));
}

#[tokio::test(start_paused = true)]
async fn a_monitor_reporting_not_running_ends_the_service_with_status_7() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), &[]);
    let mut agent = FakeAgent::default();
    agent.script.extend([
        (Call::Monitor, Ending::Exited(0), Duration::ZERO),
        (Call::Monitor, Ending::Exited(0), Duration::ZERO),
        (Call::Monitor, Ending::Exited(7), Duration::ZERO),
    ]);
    let mut n = Recorder::default();
    let (_tx, rx) = watch::channel(false);
    let began = Instant::now();
    assert_eq!(
        start_and_monitor(&s, &mut agent, &mut n, request(rx)).await,
        7
    );
    assert_eq!(
        agent.calls,
        [
            Call::Start,
            Call::Monitor,
            Call::Monitor,
            Call::Monitor,
            Call::Stop
        ]
    );
    // Virtual time: three intervals of 10 s.
    assert_eq!(began.elapsed(), Duration::from_secs(30));
    assert!(n.0.contains(
        &"READY=1\nSTATUS=Dummy:p_dummy_my\\x2dres: monitoring every 10 seconds".to_string()
    ));
}

#[tokio::test(start_paused = true)]
async fn a_monitor_that_times_out_fails_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), &[]);
    let mut agent = FakeAgent::default();
    agent.script.push_back((
        Call::Monitor,
        Ending::TimedOut(Duration::from_secs(30)),
        Duration::ZERO,
    ));
    let mut n = Recorder::default();
    let (_tx, rx) = watch::channel(false);
    assert_eq!(
        start_and_monitor(&s, &mut agent, &mut n, request(rx)).await,
        1
    );
    assert!(n
        .0
        .iter()
        .any(|m| m.contains("monitor: FAILED: no result after 30 s")));
}

#[tokio::test(start_paused = true)]
async fn sigterm_while_waiting_runs_stop_once_and_exits_with_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), &[]);
    let mut agent = FakeAgent::default();
    let mut n = Recorder::default();
    let (tx, rx) = watch::channel(false);
    let run = start_and_monitor(&s, &mut agent, &mut n, request(rx));
    let term = async {
        tokio::time::sleep(Duration::from_secs(25)).await;
        tx.send(true).unwrap();
    };
    let (status, ()) = tokio::join!(run, term);
    assert_eq!(status, 0);
    assert_eq!(
        agent.calls,
        [Call::Start, Call::Monitor, Call::Monitor, Call::Stop]
    );
    // Clean exit: ExecStopPost (EXIT_CODE=exited, EXIT_STATUS=0) does nothing.
    let mut post = s.clone();
    post.previous_exit = Some(PreviousExit {
        code: "exited".into(),
        status: "0".into(),
    });
    let mut agent = FakeAgent::default();
    assert_eq!(stop(&post, &mut agent, &mut n).await, 0);
    assert!(agent.calls.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failed_stop_after_sigterm_is_reported_and_not_run_again_by_exec_stop_post() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), &[]);
    let mut agent = FakeAgent::default();
    agent
        .script
        .push_back((Call::Stop, Ending::Exited(1), Duration::ZERO));
    let mut n = Recorder::default();
    let (tx, rx) = watch::channel(false);
    tx.send(true).unwrap();
    assert_eq!(
        start_and_monitor(&s, &mut agent, &mut n, request(rx)).await,
        1
    );
    assert_eq!(agent.calls, [Call::Start, Call::Stop]);

    let mut post = s.clone();
    post.previous_exit = Some(PreviousExit {
        code: "exited".into(),
        status: "1".into(),
    });
    let mut agent = FakeAgent::default();
    assert_eq!(stop(&post, &mut agent, &mut n).await, 1, "still a failure");
    assert!(agent.calls.is_empty(), "stop ran twice");
    // The note is used once: a later run of the same invocation would call stop.
    assert_eq!(stop(&post, &mut agent, &mut n).await, 0);
    assert_eq!(agent.calls, [Call::Stop]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_monitor_stops_the_agent_before_exiting_and_exec_stop_post_does_not_again() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), &[]);
    for (stop_ends, post_status) in [(Ending::Exited(0), 0), (Ending::Exited(1), 1)] {
        let mut agent = FakeAgent::default();
        agent.script.extend([
            (Call::Monitor, Ending::Exited(7), Duration::ZERO),
            (Call::Stop, stop_ends, Duration::ZERO),
        ]);
        let mut n = Recorder::default();
        let (_tx, rx) = watch::channel(false);
        assert_eq!(
            start_and_monitor(&s, &mut agent, &mut n, request(rx)).await,
            7
        );
        assert_eq!(agent.calls, [Call::Start, Call::Monitor, Call::Stop]);
        // failing, not stopping: Restart= still applies
        assert!(n.0.iter().all(|m| !m.contains("STOPPING=1")), "{:?}", n.0);

        let mut post = s.clone();
        post.previous_exit = Some(PreviousExit {
            code: "exited".into(),
            status: "7".into(),
        });
        let mut agent = FakeAgent::default();
        assert_eq!(stop(&post, &mut agent, &mut n).await, post_status);
        assert!(agent.calls.is_empty(), "stop ran twice");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "a note outlived its run"
        );
    }
}

#[test]
fn sigterm_asks_systemd_for_the_running_call_and_the_stop() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(
        dir.path(),
        &[("start_timeout", "120"), ("stop_timeout", "60")],
    );
    // 120 s start + 60 s stop + 15 s margin (10 s reap grace, 2 s output grace, 3 s)
    assert_eq!(sigterm_extension(&s), "EXTEND_TIMEOUT_USEC=195000000");
}

#[tokio::test(start_paused = true)]
async fn a_note_left_before_a_clean_exit_is_removed_by_exec_stop_post() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), &[]);
    leave_stop_note(&s, 0);
    let mut post = s.clone();
    post.previous_exit = Some(PreviousExit {
        code: "exited".into(),
        status: "0".into(),
    });
    assert_eq!(
        stop(&post, &mut FakeAgent::default(), &mut Recorder::default()).await,
        0
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A SIGTERM arrives while the first monitor runs (it takes `takes`, then ends as
/// `ending`): the exit status, the calls made, the notifications and the run directory's
/// entries after it.
async fn sigterm_during_a_monitor(
    ending: Ending,
    takes: Duration,
) -> (u8, Vec<Call>, Vec<String>, usize) {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), &[]);
    let (tx, rx) = watch::channel(false);
    let mut agent = FakeAgent::default();
    agent.script.push_back((Call::Monitor, ending, takes));
    agent.on_call = Some(Box::new(move |c| {
        if c == Call::Monitor {
            tx.send(true).unwrap();
        }
    }));
    let mut n = Recorder::default();
    let status = start_and_monitor(&s, &mut agent, &mut n, request(rx)).await;
    let left = std::fs::read_dir(dir.path()).unwrap().count();
    (status, agent.calls, n.0, left)
}

#[tokio::test(start_paused = true)]
async fn sigterm_during_a_monitor_lets_it_finish_then_stops() {
    let (status, calls, notes, _) =
        sigterm_during_a_monitor(Ending::Exited(0), Duration::from_secs(3)).await;
    assert_eq!(status, 0);
    assert_eq!(calls, [Call::Start, Call::Monitor, Call::Stop]);
    assert!(notes.iter().any(|m| m.starts_with("STOPPING=1\n")));
}

#[tokio::test(start_paused = true)]
async fn sigterm_during_a_monitor_that_fails_stops_the_unit_instead_of_failing_it() {
    let (status, calls, notes, left) =
        sigterm_during_a_monitor(Ending::Exited(7), Duration::from_secs(1)).await;
    assert_eq!(status, 0);
    assert_eq!(calls, [Call::Start, Call::Monitor, Call::Stop]);
    assert!(
        notes.iter().any(|m| m.starts_with("STOPPING=1\n")),
        "{notes:?}"
    );
    assert_eq!(left, 0, "no note");
}

/// The signal handler ran (the thaw case), the runtime's signal task not yet: the
/// monitor due is not started. The binary test `sigterm_and_a_monitor_both_due_at_a_thaw_
/// stop_without_the_monitor` shows the same with real signals.
#[tokio::test(start_paused = true)]
async fn a_stop_seen_only_by_the_signal_handler_stops_before_the_monitor_due() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), &[]);
    let (_tx, rx) = watch::channel(false);
    let raised: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
    let mut agent = FakeAgent::default();
    agent
        .script
        .push_back((Call::Monitor, Ending::Exited(7), Duration::ZERO));
    // Raised before the first monitor is due (monitor_interval is 10 s).
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        raised.store(true, Ordering::SeqCst);
    });
    let mut n = Recorder::default();
    let request = StopRequest { asked: rx, raised };
    assert_eq!(start_and_monitor(&s, &mut agent, &mut n, request).await, 0);
    assert_eq!(agent.calls, [Call::Start, Call::Stop]);
}

#[tokio::test(start_paused = true)]
async fn exec_stop_post_after_a_failed_monitor_runs_the_agents_stop() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), &[("EXIT_CODE", "exited"), ("EXIT_STATUS", "7")]);
    s.action = crate::settings::Action::Stop;
    let mut agent = FakeAgent::default();
    agent
        .script
        .push_back((Call::Stop, Ending::Exited(5), Duration::ZERO));
    let mut n = Recorder::default();
    assert_eq!(
        stop(&s, &mut agent, &mut n).await,
        5,
        "a failed stop is a failure"
    );
    assert_eq!(agent.calls, [Call::Stop]);
    assert_eq!(
        n.0,
        ["STOPPING=1\nSTATUS=Dummy:p_dummy_my\\x2dres: about to exec stop"]
    );
}

struct Broken;
impl Notifier for Broken {
    fn notify(&mut self, _: &str) -> io::Result<()> {
        Err(io::Error::other("connection refused"))
    }
}

#[tokio::test(start_paused = true)]
async fn only_a_lost_ready_is_fatal_a_lost_status_never_stops_a_stop() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(
        dir.path(),
        &[("EXIT_CODE", "killed"), ("EXIT_STATUS", "KILL")],
    );
    let mut agent = FakeAgent::default();
    let (_tx, rx) = watch::channel(false);
    assert_eq!(
        start_and_monitor(&s, &mut agent, &mut Broken, request(rx)).await,
        1
    );
    assert_eq!(
        agent.calls,
        [Call::Start, Call::Stop],
        "no monitoring without READY; stopped before failing"
    );
    // ExecStopPost of another run (no note of its own)
    let other = tempfile::tempdir().unwrap();
    let s = settings(
        other.path(),
        &[("EXIT_CODE", "killed"), ("EXIT_STATUS", "KILL")],
    );
    let mut agent = FakeAgent::default();
    assert_eq!(stop(&s, &mut agent, &mut Broken).await, 0);
    assert_eq!(agent.calls, [Call::Stop]);
}
