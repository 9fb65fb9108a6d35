use drbd::{parse_line, State};
use drbd_reactor_plugin::{DrbdVersions, SelfMetrics, Snapshot};
use drbd_reactor_prometheus::config::PrometheusConfig;
use drbd_reactor_prometheus::plugin::{run, Inputs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn snapshot(lines: &[&str]) -> Snapshot {
    let mut s = State::new();
    let mut out = Vec::new();
    for l in lines {
        s.apply(parse_line(l).unwrap().event, &mut out);
    }
    static GENERATION: AtomicU64 = AtomicU64::new(0);
    Snapshot::new(GENERATION.fetch_add(1, Ordering::Relaxed), s.snapshot())
}

async fn scrape(port: u16) -> Option<String> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.ok()?;
    Some(buf)
}

fn inputs(
    snapshots: tokio::sync::watch::Receiver<Snapshot>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Inputs {
    Inputs {
        snapshots,
        reactor: Arc::new(SelfMetrics::default()),
        versions: tokio::sync::watch::channel(DrbdVersions {
            kmod: Some("9.2.8".into()),
            utils: Some("9.28.0".into()),
            last_refresh_ok: true,
        })
        .1,
        shutdown,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_follow_the_published_snapshots_and_stop_on_shutdown() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (snap_tx, snap_rx) = tokio::sync::watch::channel(snapshot(&[]));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let config: PrometheusConfig =
        toml::from_str(&format!("address = \"127.0.0.1:{port}\"")).unwrap();
    let plugin = tokio::spawn(run(config, inputs(snap_rx, stop_rx)));
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        if let Some(b) = scrape(port).await {
            break b;
        }
        assert!(Instant::now() < deadline, "the endpoint never came up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(body.contains("drbd_resource_resources 0\n"), "{body}");
    snap_tx.send(snapshot(&["exists resource name:r0 role:Primary suspended:no force-io-failures:no may_promote:no promotion_score:1"])).unwrap();
    let body = scrape(port).await.unwrap();
    assert!(body.contains("drbd_resource_resources 1\n"), "{body}");
    assert!(
        body.contains("drbd_resource_promotionscore{name=\"r0\"} 1\n"),
        "{body}"
    );
    stop_tx.send(true).unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), plugin)
            .await
            .unwrap()
            .unwrap(),
        Ok(())
    );
}

#[tokio::test]
async fn an_address_in_use_is_an_error_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (_snap_tx, snap_rx) = tokio::sync::watch::channel(snapshot(&[]));
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let config: PrometheusConfig =
        toml::from_str(&format!("address = \"127.0.0.1:{port}\"")).unwrap();
    let err = run(config, inputs(snap_rx, stop_rx)).await.unwrap_err();
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("in use"),
        "{err}"
    );
}
