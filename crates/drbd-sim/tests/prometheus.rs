//! A real Prometheus scrapes a real drbd-reactor on each node of a simulated 3-node cluster;
//! every query of the published Grafana dashboard and every Piraeus alert expression returns
//! data through Prometheus' HTTP API (prometheus spec §8, §9), except the two that cannot.
//! Fails (never skips) when the daemon binary or prometheus is missing.

mod common;
use common::*;

use drbd_sim::config::ClusterConfig;
use drbd_sim::server::{install_shims, Sim};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

const QUERIES: &[&str] = &[
    // Dashboard "DRBD" (grafana.com 14339), $instance and $resource set to ".*".
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
    r#"drbdreactor_up"#,
    r#"drbd_resource_role"#,
    // Piraeus operator alerts.
    r#"drbd_connection_state{drbd_connection_state!="Connected"} > 0"#,
    r#"drbd_device_state{drbd_device_state!~"UpToDate|Diskless"} > 0"#,
    r#"drbd_device_unintentionaldiskless > 0"#,
    r#"drbd_device_quorum == 0"#,
    r#"drbd_resource_suspended > 0"#,
];

/// No data whatever the exporter does: the "Standalone" panel's `!UpToDate` regex, and an
/// alert joining families with different label sets by a plain `and`.
const DEAD: &[&str] = &[
    r#"count(drbd_connection_state{drbd_connection_state=~"!UpToDate", instance=~".*"} == 1)"#,
    r#"drbd_device_state{drbd_device_state="Inconsistent"} and delta(drbd_peerdevice_outofsync_bytes[5m]) >= 0"#,
];

#[test]
fn a_real_prometheus_scraping_the_simulated_cluster_answers_every_dashboard_query_and_alert() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sim.sock");
    let cluster = ClusterConfig::parse(
        "[[node]]\nname = \"alpha\"\nid = 0\n[[node]]\nname = \"beta\"\nid = 1\n[[node]]\nname = \"gamma\"\nid = 2\n\
         [[resource]]\nname = \"r0\"\nport = 7000\n\
         [[resource]]\nname = \"r1\"\nport = 7001\nresync-rate = 1\n[[resource.volume]]\nnumber = 0\nminor = 1001\nsize = 1048576\ndisk = \"/dev/vg/r1\"\n",
    )
    .unwrap();
    let sim = Sim::from_config(cluster, &socket, Some(20)).unwrap();
    let mut targets = Vec::new();
    let mut daemons = Vec::new();
    for node in ["alpha", "beta", "gamma"] {
        let shims = dir.path().join(node);
        install_shims(
            Path::new(env!("CARGO_BIN_EXE_drbd-sim")),
            &shims,
            node,
            &socket,
        )
        .unwrap();
        let port = free_port();
        targets.push(format!("'127.0.0.1:{port}'"));
        let config = dir.path().join(format!("{node}.toml"));
        std::fs::write(
            &config,
            format!(
                "statistics-poll-interval = 1\n[[log]]\nlevel = \"info\"\nfile = \"{}\"\n[[prometheus]]\naddress = \"127.0.0.1:{port}\"\nenums = true\n",
                dir.path().join(format!("{node}.log")).display()
            ),
        )
        .unwrap();
        daemons.push(start_daemon(&config, &shims));
    }
    // Reads and writes on r1 at beta; gamma loses r0's disk (unintentionally diskless) and
    // misses writes to r1, then attaches again and resyncs at 1 KiB/s (Inconsistent, out of
    // sync); alpha is Primary of r0 and is partitioned away (no quorum, I/O suspended).
    for step in [
        &["primary", "beta", "r1"][..],
        &["read", "beta", "r1", "2048"],
        &["write", "beta", "r1", "1024"],
        &["detach", "gamma", "r0"],
        &["detach", "gamma", "r1"],
        &["write", "beta", "r1", "4096"],
        &["attach", "gamma", "r1"],
        &["primary", "alpha", "r0"],
        &["partition", "alpha"],
    ] {
        sim.ctl(step);
    }
    let server = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: drbd\n    static_configs:\n      - targets: [{}]\n    relabel_configs:\n      - source_labels: [__address__]\n        regex: '127.0.0.1:(.*)'\n        target_label: instance\n        replacement: 'node-$1:9942'\n",
            targets.join(", ")
        ),
    )
    .unwrap();
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prom_config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{server}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian package prometheus) must be installed"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut missing: Vec<&str> = QUERIES.to_vec();
    while !missing.is_empty() {
        assert!(Instant::now() < deadline, "no data for {missing:#?}");
        std::thread::sleep(Duration::from_millis(250));
        missing.retain(|q| !has_data(&query(server, q)));
    }
    for q in DEAD {
        let answer = query(server, q);
        assert!(
            answer.contains("\"result\":[]"),
            "the dead query {q} returned data: {answer}"
        );
    }
    drop(daemons);
}
