//! `promtool check metrics` (Debian package prometheus) on a body with every family present.
use drbd::{parse_line, State};
use drbd_reactor_prometheus::render::*;
use std::io::Write;
use std::process::{Command, Stdio};

/// The only findings we accept: the original's two counters without `_total`, kept for
/// compatibility next to their correctly named twins (docs/compat/prometheus.md).
const DOCUMENTED: &[&str] = &[
    "drbd_peerdevice_received_bytes counter metrics should have \"_total\" suffix",
    "drbd_peerdevice_sent_bytes counter metrics should have \"_total\" suffix",
];

#[test]
fn promtool_finds_nothing_but_the_documented_compatibility_exceptions() {
    let mut s = State::new();
    let mut out = Vec::new();
    for l in include_str!("fixtures/monitoring-example.events2").lines() {
        s.apply(parse_line(l).unwrap().event, &mut out);
    }
    // A resync in progress, so the progress families are present too.
    let syncing = "change peer-device name:r0 peer-node-id:2 conn-name:nodeC volume:0 replication:SyncSource peer-disk:Inconsistent peer-client:no resync-suspended:no done:37.50 received:0 sent:0 out-of-sync:64 pending:0 unacked:0 dbdt1:0.24 eta:10";
    s.apply(parse_line(syncing).unwrap().event, &mut out);
    let ctx = RenderContext {
        enums: true,
        versions: DrbdVersions {
            kmod: Some("9.2.8".into()),
            utils: Some("9.28.0".into()),
            last_refresh_ok: true,
            probed: true,
        },
        reactor: {
            // The daemon's list, as its parts register it.
            let list = drbd_reactor_plugin::SelfMetrics::default();
            let c = list.counter("drbdreactor_events_processed_total", "Lines processed");
            c.fetch_add(12, std::sync::atomic::Ordering::Relaxed);
            list.gauge(
                "drbdreactor_last_event_timestamp_seconds",
                "Unix time",
                || Some(1_763_750_000.5),
            );
            // A labelled family (the promoter's per-resource state), with a value to escape.
            list.labelled(
                "drbdreactor_promoter_starts_total",
                "Starts of the resource's services on this node",
                drbd_reactor_plugin::MetricKind::Counter,
                || {
                    vec![
                        (vec![("resource".into(), "r0".into())], 2.0),
                        (vec![("resource".into(), "odd\"name".into())], 0.0),
                    ]
                },
            );
            list.samples()
        },
    };
    let mut body = String::new();
    render(s.resources().map(|r| &**r), &ctx, &mut body);
    assert!(body.contains("drbd_peerdevice_resync_done_ratio{"));
    assert!(body.contains("drbdreactor_promoter_starts_total{resource=\"r0\"} 2\n"));
    assert_eq!(
        body.matches("# TYPE drbdreactor_promoter_starts_total counter")
            .count(),
        1
    );

    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) must be installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let findings: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    for f in &findings {
        assert!(DOCUMENTED.contains(f), "promtool: {f}");
    }
    assert_eq!(findings.len(), DOCUMENTED.len(), "promtool said: {text}");
}
