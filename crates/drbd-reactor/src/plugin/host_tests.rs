//! The host's supervision rules with a test plugin whose speed and stop time are chosen.

use super::*;
use drbd_reactor_plugin::{register, Plugin, Registration};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// What the test plugins did, in order: ("start"|"update"|"stopped"|"resynchronised", tag).
static JOURNAL: Mutex<Vec<(&'static str, u64)>> = Mutex::new(Vec::new());

fn journal(tag: u64) -> Vec<&'static str> {
    JOURNAL
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, t)| *t == tag)
        .map(|(e, _)| *e)
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
struct TestConfig {
    tag: u64,
    delay_per_update_ms: u64,
    stop_ms: u64,
    deadline_ms: u64,
    config_error: bool,
    fail: bool,
    deadline_forever: bool,
}

struct TestPlugin;

impl Plugin for TestPlugin {
    const KIND: PluginKind = PluginKind::Debugger;
    const INPUT: Input = Input::Updates;
    const SERIAL: bool = true;
    type Config = TestConfig;
    fn stop_deadline(c: &TestConfig) -> Duration {
        if c.deadline_forever {
            return Duration::MAX;
        }
        Duration::from_millis(c.deadline_ms.max(1))
    }
    async fn run(c: TestConfig, mut ctx: PluginContext) -> Result<(), PluginError> {
        if c.config_error {
            JOURNAL.lock().unwrap().push(("refused", c.tag));
            return Err(PluginError::Config("no such file".into()));
        }
        JOURNAL.lock().unwrap().push(("start", c.tag));
        if c.fail {
            return Err(PluginError::Failed("boom".into()));
        }
        while ctx.updates.next().await.is_some() {
            JOURNAL.lock().unwrap().push(("update", c.tag));
            tokio::time::sleep(Duration::from_millis(c.delay_per_update_ms)).await;
        }
        // Plugin contract: a stop sets shutdown before the updates end; a resynchronisation
        // ends them with shutdown still false.
        let why = if *ctx.shutdown.borrow() {
            "stopped"
        } else {
            "resynchronised"
        };
        tokio::time::sleep(Duration::from_millis(c.stop_ms)).await;
        JOURNAL.lock().unwrap().push((why, c.tag));
        Ok(())
    }
}

/// [`TestPlugin`] that must never wait before a resynchronisation (as the promoter).
struct AtOnceTestPlugin;

impl Plugin for AtOnceTestPlugin {
    const KIND: PluginKind = PluginKind::Debugger;
    const INPUT: Input = Input::Updates;
    const SERIAL: bool = true;
    const RESYNC_AT_ONCE: bool = true;
    type Config = TestConfig;
    async fn run(c: TestConfig, ctx: PluginContext) -> Result<(), PluginError> {
        TestPlugin::run(c, ctx).await
    }
}

fn configured(c: TestConfig) -> Configured {
    configured_as(c, register::<TestPlugin>())
}

fn configured_as(c: TestConfig, registration: Registration) -> Configured {
    let section = drbd_reactor_config::PluginInstance {
        kind: PluginKind::Debugger,
        table: toml::Value::try_from(&c)
            .unwrap()
            .as_table()
            .unwrap()
            .clone(),
        origin: Origin::new("test.toml", 1),
        key_lines: Default::default(),
        source_text: "".into(),
    };
    let (config, _) = (registration.parse)(&section).unwrap();
    Configured {
        config,
        origin: Origin::new("test.toml", 1),
    }
}

fn updates(n: usize) -> (State, Vec<UpdateBatch>) {
    let mut state = State::new();
    let mut out = Vec::new();
    for i in 0..n {
        let line = format!("exists resource name:r{i} role:Secondary");
        state.apply(drbd::parse_line(&line).unwrap().event, &mut out);
    }
    // one batch per update
    let batches = out.into_iter().map(|u| Arc::from(vec![u])).collect();
    (state, batches)
}

fn host(capacity: usize) -> (Host, mpsc::UnboundedReceiver<HostEvent>, Arc<SelfMetrics>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let metrics = Arc::new(SelfMetrics::default());
    (Host::new(tx, Arc::clone(&metrics), capacity), rx, metrics)
}

fn counter(metrics: &SelfMetrics, name: &str) -> f64 {
    metrics
        .samples()
        .into_iter()
        .find(|s| s.name == name)
        .map_or(-1.0, |s| s.value)
}

async fn poll_until(mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "condition not reached in 10 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_plugin_that_falls_behind_is_cut_off_then_resynchronised_without_blocking() {
    let (mut host, mut events, metrics) = host(4);
    host.start(
        configured(TestConfig {
            tag: 1,
            delay_per_update_ms: 5,
            deadline_ms: 10_000,
            ..Default::default()
        }),
        &State::new(),
    );
    let (state, updates) = updates(20);
    // dispatch is not async: it cannot wait for the plugin
    for batch in updates.iter().chain(&updates[..3]) {
        host.dispatch(batch);
    }
    assert!(counter(&metrics, "drbdreactor_plugin_updates_dropped_total") >= 15.0);
    assert!(matches!(host.instances[0].state, RunState::Draining { lag, .. } if lag >= 18));
    // the run drains its queue, ends, and is started again with the state replayed
    let ended = events.recv().await.unwrap();
    assert!(matches!(
        ended,
        HostEvent::Ended {
            outcome: Outcome::Finished,
            ..
        }
    ));
    host.handle(ended, &state);
    assert!(matches!(host.instances[0].state, RunState::Running(_)));
    assert_eq!(counter(&metrics, "drbdreactor_plugin_restarts_total"), 1.0);
    host.shutdown(|_| {}).await;
    let j = journal(1);
    assert_eq!(
        j.iter().filter(|e| **e == "resynchronised").count(),
        1,
        "{j:?}"
    );
    assert_eq!(j.last(), Some(&"stopped"), "{j:?}");
}

/// Fills the queue of the running run and waits until it has drained and ended; returns
/// how long the instance then waits before its next run (zero: at once).
async fn fall_behind(
    host: &mut Host,
    events: &mut mpsc::UnboundedReceiver<HostEvent>,
    state: &State,
    updates: &[UpdateBatch],
    dropped: &dyn Fn() -> f64,
) -> Duration {
    assert!(matches!(host.instances[0].state, RunState::Running(_)));
    for batch in updates {
        host.dispatch(batch);
    }
    assert!(matches!(host.instances[0].state, RunState::Draining { .. }));
    let ended = events.recv().await.unwrap();
    assert!(matches!(ended, HostEvent::Ended { .. }), "{ended:?}");
    host.handle(ended, state);
    let t = tokio::time::Instant::now();
    if matches!(host.instances[0].state, RunState::Running(_)) {
        return Duration::ZERO;
    }
    assert!(matches!(host.instances[0].state, RunState::Waiting));
    let before = dropped();
    host.dispatch(&updates[0]);
    assert_eq!(
        dropped(),
        before + 1.0,
        "an update during the delay is dropped"
    );
    let due = events.recv().await.unwrap();
    assert!(matches!(due, HostEvent::RestartDue { .. }), "{due:?}");
    let waited = t.elapsed();
    host.handle(due, state);
    waited
}

/// A plugin that stays slower than the events was resynchronised at once every time: fill,
/// cut off, drain, full replay, two warnings per cycle, in a loop. Paused time: the delays
/// measured are virtual.
#[tokio::test(start_paused = true)]
async fn a_plugin_that_keeps_falling_behind_waits_longer_before_each_resynchronisation() {
    let (mut host, mut events, metrics) = host(4);
    host.start(
        configured(TestConfig {
            tag: 70,
            delay_per_update_ms: 5,
            deadline_ms: 10_000,
            ..Default::default()
        }),
        &State::new(),
    );
    let (state, updates) = updates(20);
    let dropped = || counter(&metrics, "drbdreactor_plugin_updates_dropped_total");
    let mut waited = Vec::new();
    for _ in 0..4 {
        waited.push(fall_behind(&mut host, &mut events, &state, &updates, &dropped).await);
    }
    let ms: Vec<u128> = waited.iter().map(|d| d.as_millis()).collect();
    assert_eq!(ms[0], 0, "the first resynchronisation is at once: {ms:?}");
    for (i, least) in [(1, 1000), (2, 2000), (3, 4000)] {
        assert!(
            ms[i] >= least && ms[i] < least + 500,
            "resynchronisation {i} waited {ms:?}"
        );
    }
    // A run that kept up for a while before it fell behind starts over: at once again.
    if let RunState::Running(run) = &mut host.instances[0].state {
        run.since = run.since.checked_sub(KEPT_UP).unwrap();
    }
    assert_eq!(
        fall_behind(&mut host, &mut events, &state, &updates, &dropped).await,
        Duration::ZERO
    );
    host.shutdown(|_| {}).await;
    assert_eq!(
        journal(70)
            .iter()
            .filter(|e| **e == "resynchronised")
            .count(),
        5
    );
}

#[tokio::test]
async fn a_plugin_that_must_not_go_blind_is_resynchronised_at_once_every_time() {
    let (mut host, mut events, metrics) = host(4);
    host.start(
        configured_as(
            TestConfig {
                tag: 71,
                delay_per_update_ms: 5,
                deadline_ms: 10_000,
                ..Default::default()
            },
            register::<AtOnceTestPlugin>(),
        ),
        &State::new(),
    );
    let (state, updates) = updates(20);
    let dropped = || counter(&metrics, "drbdreactor_plugin_updates_dropped_total");
    for _ in 0..4 {
        assert_eq!(
            fall_behind(&mut host, &mut events, &state, &updates, &dropped).await,
            Duration::ZERO
        );
    }
    host.shutdown(|_| {}).await;
}

#[tokio::test]
async fn reconfigure_keeps_equal_instances_and_replaces_changed_ones() {
    let (mut host, _events, _) = host(16);
    let state = State::new();
    let c = |tag| {
        configured(TestConfig {
            tag,
            deadline_ms: 1000,
            ..Default::default()
        })
    };
    host.start(c(10), &state);
    host.start(c(11), &state);
    let first_id = host.instances[0].id;
    let (kept, stopped, started) = host.reconfigure(vec![c(10), c(12)], &state);
    assert_eq!((kept, stopped, started), (1, 1, 1));
    assert_eq!(host.instances[0].id, first_id);
    assert_eq!(host.len(), 2);
    host.shutdown(|_| {}).await;
    assert!(host.is_empty());
}

#[tokio::test]
async fn reconfigure_returns_at_once_while_a_replaced_instance_takes_long_to_stop() {
    let (mut host, mut events, _) = host(16);
    let state = State::new();
    let slow = TestConfig {
        tag: 20,
        stop_ms: 30_000,
        deadline_ms: 60_000,
        ..Default::default()
    };
    host.start(configured(slow), &state);
    poll_until(|| journal(20) == ["start"]).await;
    let started = Instant::now();
    let next = TestConfig {
        tag: 21,
        ..Default::default()
    };
    host.reconfigure(vec![configured(next)], &state);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(host.stopping(), 1);
    // The new instance of the same type waits for the old one: never both at once.
    assert!(matches!(host.instances[0].state, RunState::Pending));
    assert!(journal(21).is_empty());
    // A Stopped report (here sent by hand, as the stop task would) starts it.
    let id = host.stopping[0].id;
    host.stopping[0].task.abort();
    host.handle(HostEvent::Stopped { instance: id }, &state);
    poll_until(|| journal(21) == ["start"]).await;
    drop(events.try_recv());
    host.shutdown(|_| {}).await;
}

#[tokio::test]
async fn a_new_instance_starts_only_after_the_old_one_of_its_type_has_stopped() {
    let (mut host, mut events, _) = host(16);
    let state = State::new();
    let old = TestConfig {
        tag: 30,
        stop_ms: 200,
        deadline_ms: 10_000,
        ..Default::default()
    };
    host.start(configured(old), &state);
    poll_until(|| journal(30) == ["start"]).await;
    let new = TestConfig {
        tag: 31,
        ..Default::default()
    };
    host.reconfigure(vec![configured(new)], &state);
    loop {
        let ev = events.recv().await.unwrap();
        let stopped = matches!(ev, HostEvent::Stopped { .. });
        host.handle(ev, &state);
        if stopped {
            break;
        }
    }
    poll_until(|| journal(31) == ["start"]).await;
    let all = JOURNAL.lock().unwrap().clone();
    let old_stopped = all.iter().position(|e| *e == ("stopped", 30)).unwrap();
    let new_started = all.iter().position(|e| *e == ("start", 31)).unwrap();
    assert!(old_stopped < new_started, "{all:?}");
    host.shutdown(|_| {}).await;
}

// Paused time: the elapsed time below is virtual, so the check does not depend on the
// machine's speed.
#[tokio::test(start_paused = true)]
async fn shutdown_stops_instances_in_parallel_each_cancelled_at_its_own_deadline() {
    let (mut host, _events, _) = host(16);
    let state = State::new();
    for tag in [40, 41, 42] {
        host.start(
            configured(TestConfig {
                tag,
                stop_ms: 30_000,
                deadline_ms: 300,
                ..Default::default()
            }),
            &state,
        );
    }
    poll_until(|| [40, 41, 42].iter().all(|t| journal(*t) == ["start"])).await;
    let started = tokio::time::Instant::now();
    let mut bound = None;
    host.shutdown(|b| bound = Some(b)).await;
    let bound = bound.expect("the bound was announced before the wait");
    assert!(
        bound <= Duration::from_millis(300) && bound > Duration::from_millis(200),
        "the latest deadline from now: {bound:?}"
    );
    // One after another would take 900 ms at least; in parallel 300 ms.
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    assert!([40, 41, 42].iter().all(|t| journal(*t) == ["start"]));
}

/// A stop deadline of "forever" (a umh `timeout` of i64::MAX seconds) overflowed an
/// `Instant` and panicked the core at the stop.
#[tokio::test]
async fn a_stop_deadline_of_forever_does_not_overflow_at_the_stop() {
    let (mut host, _events, _) = host(16);
    let state = State::new();
    host.start(
        configured(TestConfig {
            tag: 43,
            deadline_forever: true,
            ..Default::default()
        }),
        &state,
    );
    poll_until(|| journal(43) == ["start"]).await;
    let mut bound = None;
    host.shutdown(|b| bound = Some(b)).await;
    assert!(bound.unwrap() > Duration::from_secs(365 * 86400));
    assert_eq!(journal(43), ["start", "stopped"]);
}

#[tokio::test]
async fn a_configuration_error_is_reported_once_and_not_restarted() {
    let (mut host, mut events, metrics) = host(16);
    let state = State::new();
    host.start(
        configured(TestConfig {
            tag: 50,
            config_error: true,
            ..Default::default()
        }),
        &state,
    );
    let ev = events.recv().await.unwrap();
    host.handle(ev, &state);
    assert!(matches!(host.instances[0].state, RunState::Broken));
    assert!(events.try_recv().is_err());
    assert_eq!(counter(&metrics, "drbdreactor_plugin_restarts_total"), 0.0);
    host.shutdown(|_| {}).await;
}

#[tokio::test]
async fn updates_for_an_instance_waiting_out_its_restart_delay_are_counted_as_dropped() {
    let (mut host, mut events, metrics) = host(16);
    let state = State::new();
    host.start(
        configured(TestConfig {
            tag: 60,
            fail: true,
            ..Default::default()
        }),
        &state,
    );
    let ev = events.recv().await.unwrap();
    host.handle(ev, &state);
    assert!(matches!(host.instances[0].state, RunState::Waiting));
    let (_, batches) = updates(3);
    for b in &batches {
        host.dispatch(b);
    }
    assert_eq!(
        counter(&metrics, "drbdreactor_plugin_updates_dropped_total"),
        3.0
    );
    host.shutdown(|_| {}).await;
}

/// What a plugin refuses may lie outside its section (the promoter's version gate reads the
/// installed drbd-utils): a reload tries a refused instance again, also with the same section.
#[tokio::test]
async fn a_reload_tries_an_instance_that_refused_its_configuration_again() {
    let (mut host, mut events, _) = host(16);
    let state = State::new();
    let refusing = || {
        configured(TestConfig {
            tag: 51,
            config_error: true,
            ..Default::default()
        })
    };
    host.start(refusing(), &state);
    let ev = events.recv().await.unwrap();
    host.handle(ev, &state);
    assert!(matches!(host.instances[0].state, RunState::Broken));
    assert_eq!(host.configs().count(), 0, "not running, not dumped");
    assert_eq!(host.reconfigure(vec![refusing()], &state), (1, 0, 0));
    let ev = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("the kept instance ran again")
        .unwrap();
    host.handle(ev, &state);
    assert!(matches!(host.instances[0].state, RunState::Broken));
    assert_eq!(journal(51), ["refused", "refused"]);
    host.shutdown(|_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_readers_get_a_snapshot_of_the_current_state_when_they_ask_and_only_then() {
    let (mut host, _events, _) = host(16);
    let (state, _) = updates(2);
    let rx = host.snapshots.subscribe();
    host.state_changed();
    host.answer_snapshot(&state);
    assert!(
        rx.current(Duration::ZERO).is_none(),
        "nothing built before a reader asked"
    );
    let reader = {
        let rx = rx.clone();
        tokio::task::spawn_blocking(move || rx.current(Duration::from_secs(10)))
    };
    tokio::time::timeout(Duration::from_secs(10), host.snapshot_asked())
        .await
        .expect("the reader asked");
    host.answer_snapshot(&state);
    let got = reader.await.unwrap().expect("answered");
    assert_eq!(got.resources.len(), 2);
    assert_eq!(got.generation, host.snapshot_generation());
    host.state_changed();
    assert!(host.snapshot_generation() > got.generation);
    let r = state.resources().next().unwrap();
    drop(got);
    assert_eq!(
        Arc::strong_count(r),
        1,
        "after a change nothing but the state holds the resources"
    );
}
