//! The prometheus plugin as the daemon runs it: scrapes follow the core's snapshots, a busy
//! address is an error naming it, a core that does not answer makes a 503 instead of a hang.

use drbd::{parse_line, State};
use drbd_reactor_plugin::{
    snapshot_channel, DrbdVersions, SelfMetrics, SnapshotPublisher, Snapshots,
};
use drbd_reactor_prometheus::config::PrometheusConfig;
use drbd_reactor_prometheus::plugin::{run, Inputs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn state(lines: &[&str]) -> State {
    let mut s = State::new();
    let mut out = Vec::new();
    for l in lines {
        s.apply(parse_line(l).unwrap().event, &mut out);
    }
    s
}

/// The core's part: answers each question with the state of the moment.
struct Core {
    publisher: Arc<SnapshotPublisher>,
    state: Arc<Mutex<State>>,
}

impl Core {
    fn start(initial: State) -> (Core, Snapshots) {
        let (publisher, snapshots) = snapshot_channel();
        let core = Core {
            publisher: Arc::new(publisher),
            state: Arc::new(Mutex::new(initial)),
        };
        let (publisher, state) = (Arc::clone(&core.publisher), Arc::clone(&core.state));
        tokio::spawn(async move {
            loop {
                publisher.asked().await;
                if publisher.wanted() {
                    publisher.publish(state.lock().unwrap().snapshot());
                }
            }
        });
        (core, snapshots)
    }

    fn change(&self, to: State) {
        drop(self.publisher.changed());
        *self.state.lock().unwrap() = to;
    }
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

/// The plugin serving on a free loopback port.
struct Served {
    port: u16,
    stop: tokio::sync::watch::Sender<bool>,
    plugin: tokio::task::JoinHandle<Result<(), String>>,
}

fn serve(snapshots: Snapshots) -> Served {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let config: PrometheusConfig =
        toml::from_str(&format!("address = \"127.0.0.1:{port}\"")).unwrap();
    let plugin = tokio::spawn(run(config, inputs(snapshots, stop_rx)));
    Served { port, stop, plugin }
}

impl Served {
    /// The first answer, once the endpoint is up.
    async fn first_scrape(&self, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(b) = scrape(self.port).await {
                return b;
            }
            assert!(Instant::now() < deadline, "the endpoint never came up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asks the plugin to stop; it must end cleanly within `within`.
    async fn stop(self, within: Duration) {
        self.stop.send(true).unwrap();
        assert_eq!(
            tokio::time::timeout(within, self.plugin)
                .await
                .unwrap()
                .unwrap(),
            Ok(())
        );
    }
}

fn inputs(snapshots: Snapshots, shutdown: tokio::sync::watch::Receiver<bool>) -> Inputs {
    Inputs {
        snapshots,
        reactor: Arc::new(SelfMetrics::default()),
        versions: tokio::sync::watch::channel(DrbdVersions {
            kmod: Some("9.2.8".into()),
            utils: Some("9.28.0".into()),
            last_refresh_ok: true,
            probed: true,
        })
        .1,
        shutdown,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_follow_the_state_asked_of_the_core_and_stop_on_shutdown() {
    let (core, snap_rx) = Core::start(state(&[]));
    let served = serve(snap_rx);
    let body = served.first_scrape(Duration::from_secs(10)).await;
    assert!(body.contains("drbd_resource_resources 0\n"), "{body}");
    core.change(state(&["exists resource name:r0 role:Primary suspended:no force-io-failures:no may_promote:no promotion_score:1"]));
    let body = scrape(served.port).await.unwrap();
    assert!(body.contains("drbd_resource_resources 1\n"), "{body}");
    assert!(
        body.contains("drbd_resource_promotionscore{name=\"r0\"} 1\n"),
        "{body}"
    );
    served.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_address_in_use_is_an_error_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (_core, snap_rx) = Core::start(state(&[]));
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let config: PrometheusConfig =
        toml::from_str(&format!("address = \"127.0.0.1:{port}\"")).unwrap();
    let err = run(config, inputs(snap_rx, stop_rx)).await.unwrap_err();
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("in use"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_is_answered_503_when_the_core_does_not_answer_in_time() {
    // A core that never answers (stuck): the publisher lives, nobody listens to it.
    let (_publisher, snapshots) = snapshot_channel();
    let served = serve(snapshots);
    let body = served.first_scrape(Duration::from_secs(30)).await;
    assert!(body.starts_with("HTTP/1.1 503"), "{body}");
    assert!(body.contains("state not available"), "{body}");
    served.stop(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_scrape_after_start_carries_the_probed_versions_not_zeros() {
    let (_core, snapshots) = Core::start(state(&[]));
    let (versions_tx, versions) = tokio::sync::watch::channel(DrbdVersions::default());
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config: PrometheusConfig =
        toml::from_str(&format!("address = \"127.0.0.1:{port}\"")).unwrap();
    let plugin = tokio::spawn(run(
        config,
        Inputs {
            versions,
            ..inputs(snapshots, stop_rx)
        },
    ));
    let served = Served { port, stop, plugin };
    // drbdadm --version answers a moment after the plugin started.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        versions_tx.send_modify(|v| {
            v.kmod = Some("9.2.8".into());
            v.utils = Some("9.28.0".into());
            v.last_refresh_ok = true;
            v.probed = true;
        });
    });
    let body = served.first_scrape(Duration::from_secs(10)).await;
    assert!(
        body.contains("drbd_version{kmod=\"9.2.8\",utils=\"9.28.0\"} 1\n"),
        "{body}"
    );
    served.stop(Duration::from_secs(5)).await;
}
