//! A real Prometheus server (Debian package prometheus) scrapes the endpoint: it asks for gzip,
//! reads the whole stream assembled from cached deflate segments (the last family of the body
//! is in the last segment) and stores every series.
use drbd::State;
use drbd_reactor_prometheus::chunks::Frame;
use drbd_reactor_prometheus::render::{DrbdVersions, RenderContext};
use drbd_reactor_prometheus::server::{bind, serve, Endpoint, MetricsSource, Timeouts};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RESOURCES: usize = 100;

struct Synth(State);

impl MetricsSource for Synth {
    fn generation(&self) -> u64 {
        1
    }
    fn frame(&self) -> Result<Frame, String> {
        Ok(Frame {
            resources: self.0.snapshot(),
            ctx: RenderContext {
                enums: true,
                versions: DrbdVersions {
                    kmod: Some("9.2.8".into()),
                    utils: Some("9.28.0".into()),
                    last_refresh_ok: true,
                    probed: true,
                },
                reactor: Vec::new(),
            },
        })
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The value of an instant query's only sample, if there is one yet.
async fn query(port: u16, q: &str) -> Option<String> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let q: String = q
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let req = format!("GET /api/v1/query?query={q} HTTP/1.0\r\nHost: x\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).await.ok()?;
    // ..."value":[1700000000.123,"42"]...
    let v = text.split("\"value\":[").nth(1)?;
    let v = v.split(",\"").nth(1)?;
    Some(v.split('"').next()?.to_string())
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_gzip_body_and_stores_every_family() {
    let mut state = State::new();
    for line in drbd::synth::initial_dump(RESOURCES, 2) {
        state.apply(line.event, &mut Vec::new());
    }
    let endpoint = Endpoint::new(Arc::new(Synth(state)), true);
    let listener = bind(&["127.0.0.1:0".parse().unwrap()]).await.unwrap();
    let target = listener.local_addr().unwrap();
    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(serve(listener, endpoint.clone(), Timeouts::default(), rx));

    let dir = std::env::temp_dir().join(format!("prom-real-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 3s\n  scrape_timeout: 3s\nscrape_configs:\n  - job_name: drbd\n    static_configs:\n      - targets: ['{target}']\n"),
    )
    .unwrap();
    let web = free_port();
    let _prometheus = Kill(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian package prometheus) must be installed"),
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let expected = [
        ("up", "1".to_string()),
        ("drbd_resource_resources", RESOURCES.to_string()),
        // Ten states per connection, two connections per resource.
        (
            "count(drbd_connection_state)",
            (RESOURCES * 2 * 10).to_string(),
        ),
        // The last family of the body: in the last deflate segment.
        ("drbdreactor_drbd_version_ok", "1".to_string()),
    ];
    for (q, want) in expected {
        loop {
            if query(web, q).await.as_deref() == Some(&want) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus never stored {q} = {want}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let work = endpoint.work().await;
    assert!(work.bodies[1] >= 1, "prometheus asked for gzip: {work:?}");
    assert_eq!(work.bodies[0], 0, "and never for plain: {work:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
