//! A real Prometheus server scrapes the daemon's endpoint; every query of the published
//! Grafana dashboard and every Piraeus alert expression (prometheus spec §8, §9) is run through
//! Prometheus' HTTP API and must return data, except the two that cannot by construction.

mod common;
use common::*;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The JSON answer of an instant query.
fn query(port: u16, promql: &str) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let req = format!(
        "GET /api/v1/query?query={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        urlencode(promql)
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

fn has_data(answer: &str) -> bool {
    answer.contains("\"status\":\"success\"") && !answer.contains("\"result\":[]")
}

// Dashboard "DRBD" (grafana.com 14339) with $instance and $resource set to ".*".
const DASHBOARD: &[&str] = &[
    r#"drbd_resource_resources{instance=~".*"}"#,
    r#"avg_over_time(scrape_duration_seconds{instance=~".*"}[5m])"#,
    r#"avg_over_time(scrape_duration_seconds{instance=~".*:9942"}[5m])"#,
    r#"sum(drbd_peerdevice_outofsync_bytes{instance=~".*"}) by(name, instance) > 0"#,
    r#"drbd_peerdevice_outofsync_bytes{instance=~".*"} > 0"#,
    r#"drbd_peerdevice_outofsync_bytes > 0"#,
    r#"count(drbd_device_unintentionaldiskless == 1) or vector(0)"#,
    r#"count(drbd_device_quorum{instance=~".*"} == 0) by(instance, name)"#,
    r#"count(drbd_device_quorum{instance=~".*"} == 0) by (instance)"#,
    r#"rate(drbd_device_written_bytes_total{instance=~".*"}[5m]) and topk(5, avg_over_time(drbd_device_written_bytes_total{instance=~".*"}[6h]) > 0)"#,
    r#"rate(drbd_device_written_bytes_total[5m]) and topk(5, avg_over_time(drbd_device_written_bytes_total[6h]) > 0)"#,
    r#"rate(drbd_device_read_bytes_total{instance=~".*"}[5m]) and topk(5, avg_over_time(drbd_device_read_bytes_total{instance=~".*"}[6h]) > 0)"#,
    r#"rate(drbd_device_read_bytes_total[5m]) and topk(5, avg_over_time(drbd_device_read_bytes_total[6h]) > 0)"#,
    r#"rate(drbd_device_written_bytes_total{instance=~".*", name=~".*"}[5m])"#,
    r#"rate(drbd_device_read_bytes_total{instance=~".*", name=~".*"}[5m])"#,
    // the template variables: label_values(drbdreactor_up, instance), label_values(drbd_resource_role, name)
    r#"drbdreactor_up"#,
    r#"drbd_resource_role"#,
];

// Piraeus operator PrometheusRule (config/extras/monitoring/alerts.yaml).
const ALERTS: &[&str] = &[
    r#"drbd_connection_state{drbd_connection_state!="Connected"} > 0"#,
    r#"drbd_device_state{drbd_device_state!~"UpToDate|Diskless"} > 0"#,
    r#"drbd_device_unintentionaldiskless > 0"#,
    r#"drbd_device_quorum == 0"#,
    r#"drbd_resource_suspended > 0"#,
];

/// Return no data whatever the exporter does: the dashboard's "Standalone" panel matches
/// `!UpToDate` as a connection state (PromQL has no negated regex), and this alert joins two
/// families with different label sets using a plain `and`.
const DEAD: &[&str] = &[
    r#"count(drbd_connection_state{drbd_connection_state=~"!UpToDate", instance=~".*"} == 1)"#,
    r#"drbd_device_state{drbd_device_state="Inconsistent"} and delta(drbd_peerdevice_outofsync_bytes[5m]) >= 0"#,
];

#[test]
fn a_real_prometheus_answers_every_dashboard_query_and_alert_expression() {
    let setup = Setup::new();
    let mut stream = include_str!("fixtures/monitoring-example.events2").replace("exists -\n", "");
    stream += "exists resource name:r1 role:Secondary suspended:quorum force-io-failures:no may_promote:no promotion_score:0\n\
               exists device name:r1 volume:0 minor:1001 backing_dev:/dev/vg0/r1 disk:Inconsistent client:no open:no quorum:no size:1024 read:0 written:0 al-writes:0 bm-writes:0 upper-pending:0 lower-pending:0 al-suspended:no blocked:no\n\
               exists resource name:r2 role:Secondary suspended:no force-io-failures:no may_promote:no promotion_score:0\n\
               exists device name:r2 volume:0 minor:1002 backing_dev:none disk:Diskless client:no open:no quorum:yes size:1024 read:0 written:0 al-writes:0 bm-writes:0 upper-pending:0 lower-pending:0 al-suspended:no blocked:no\n\
               exists -\n";
    setup.write("stream", &stream);
    let (exporter, server) = (free_port(), free_port());
    let config = setup.config(&format!(
        "[[prometheus]]\naddress = \"127.0.0.1:{exporter}\"\nenums = true\n"
    ));
    let mut daemon = setup.start(&config);
    // Scraped every second; the instance label is rewritten to the exporter's registered port.
    setup.write(
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: drbd\n    static_configs:\n      - targets: ['127.0.0.1:{exporter}']\n    relabel_configs:\n      - target_label: instance\n        replacement: 'node-a:9942'\n"
        ),
    );
    let mut prometheus = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            setup.path("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            setup.path("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{server}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus (Debian package prometheus) must be installed");
    // rate() needs two scrapes; wait until the slowest query has data.
    wait_for("two scrapes of the exporter", || {
        has_data(&query(server, DASHBOARD[14]))
    });
    for q in DASHBOARD.iter().chain(ALERTS) {
        let answer = query(server, q);
        assert!(has_data(&answer), "no data for {q}: {answer}");
    }
    for q in DEAD {
        let answer = query(server, q);
        assert!(
            answer.contains("\"result\":[]"),
            "the dead query {q} returned data: {answer}"
        );
    }
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    assert!(daemon.stop().success());
}
