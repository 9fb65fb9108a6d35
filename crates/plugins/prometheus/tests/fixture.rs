//! The rendered body against the original's, byte for byte, on the events2 fixture (with and
//! without enums): metric names, labels and order are a contract with dashboards and alerts.

use drbd::{parse_line, State};
use drbd_reactor_prometheus::render::*;

fn fixture_state() -> State {
    let mut state = State::new();
    let mut out = Vec::new();
    for line in include_str!("fixtures/monitoring-example.events2").lines() {
        state.apply(parse_line(line).unwrap().event, &mut out);
    }
    state
}

fn body(enums: bool) -> String {
    let state = fixture_state();
    let ctx = RenderContext {
        enums,
        versions: DrbdVersions {
            kmod: Some("9.2.8".into()),
            utils: Some("9.28.0".into()),
            last_refresh_ok: true,
            probed: true,
        },
        reactor: Vec::new(),
    };
    let mut out = String::new();
    render(state.resources().map(|r| &**r), &ctx, &mut out);
    out
}

/// The body up to and including the last family the original has.
fn original_families(body: &str) -> String {
    let end = body
        .find("# TYPE drbd_peerdevice_sent_bytes_total")
        .unwrap();
    body[..end].to_string()
}

#[test]
fn fixture_state_renders_the_originals_enum_body_byte_for_byte() {
    assert_eq!(
        original_families(&body(true)),
        include_str!("fixtures/prometheus-example-enums.txt")
    );
}

#[test]
fn fixture_state_renders_the_originals_noenum_body_byte_for_byte() {
    assert_eq!(
        original_families(&body(false)),
        include_str!("fixtures/prometheus-example-noenums.txt")
    );
}

#[test]
fn empty_state_renders_the_three_global_families_with_zero_resources() {
    let mut out = String::new();
    render(std::iter::empty(), &RenderContext::default(), &mut out);
    assert!(out.starts_with("# TYPE drbdreactor_up gauge\n# HELP drbdreactor_up Boolean indicating whether or not drbdreactor is running. Always 1\ndrbdreactor_up 1\n"));
    assert!(out.contains("drbd_version{kmod=\"0.0.0\",utils=\"0.0.0\"} 1\n"));
    assert!(out.contains("drbd_resource_resources 0\n"));
    assert!(!out.contains("drbd_resource_suspended"));
    assert!(out.contains("drbdreactor_drbd_version_ok 0\n"));
}

#[test]
fn a_peer_device_with_states_from_a_newer_kernel_keeps_its_metrics() {
    let mut state = fixture_state();
    let mut out = Vec::new();
    let line = "change peer-device name:r0 peer-node-id:1 conn-name:nodeB volume:0 replication:Teleporting peer-disk:Melted resync-suspended:user,future received:100 sent:200 out-of-sync:4 pending:0 unacked:0";
    state.apply(parse_line(line).unwrap().event, &mut out);
    let ctx = RenderContext {
        enums: true,
        ..RenderContext::default()
    };
    let mut body = String::new();
    render(state.resources().map(|r| &**r), &ctx, &mut body);
    assert!(body.contains(
        "drbd_peerdevice_outofsync_bytes{name=\"r0\",conn_name=\"nodeB\",peer_node_id=\"1\",volume=\"0\"} 4096\n"
    ));
    for line in body.lines().filter(|l| l.contains("conn_name=\"nodeB\"")) {
        assert!(
            !line.contains("Teleporting") && !line.contains("Melted"),
            "{line}"
        );
    }
}

#[test]
fn a_diskless_device_whose_client_flag_is_unknown_counts_as_unintentionally_diskless() {
    let mut state = fixture_state();
    let mut out = Vec::new();
    let line = "change device name:r0 volume:0 minor:1000 disk:Diskless client:unknown";
    state.apply(parse_line(line).unwrap().event, &mut out);
    let mut body = String::new();
    render(
        state.resources().map(|r| &**r),
        &RenderContext::default(),
        &mut body,
    );
    assert!(
        body.contains("drbd_device_client{name=\"r0\",volume=\"0\",minor=\"1000\"} 0\n"),
        "{body}"
    );
    assert!(body.contains(
        "drbd_device_unintentionaldiskless{name=\"r0\",volume=\"0\",minor=\"1000\"} 1\n"
    ));
}

#[test]
fn build_info_names_our_version_and_the_compatible_release() {
    let mut out = String::new();
    render(std::iter::empty(), &RenderContext::default(), &mut out);
    let line = format!(
        "drbdreactor_build_info{{version=\"{}\",compatible_with=\"1.11.0\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    );
    assert!(out.contains(&line), "{out}");
    assert!(out.contains("# TYPE drbdreactor_build_info gauge\n"));
}
