//! drbd-utils' own events2 regression outputs (the corpus in crates/drbd/tests/fixtures)
//! replayed through the simulator's printer: the same objects, names and numbers, fed one
//! kernel message at a time as drbd-utils' harness does, must print the same lines.

mod kernel_harness;

use drbd::event::*;
use drbd::vocab::*;
use drbd_sim::printer::{Decor, Options};
use drbd_sim::view::NodeView;
use kernel_harness::*;

/// The all-create-change story, in the given output mode.
fn all_create_change(opts: Options) -> Vec<String> {
    all_create_change_decorated(opts, Decor::default())
}

fn all_create_change_decorated(opts: Options, decor: Decor) -> Vec<String> {
    let mut h = Harness::decorated(opts, decor, NodeView::new());
    h.step(create_resource)
        .res(create_device(0))
        .res(create_connection)
        .conn(create_peer_device)
        .conn(create_path)
        .res(attach_uptodate(0))
        .conn(|c| c.paths[0].established = Some(true))
        .conn(connected)
        .conn(peer_uptodate)
        .res(|r| r.resource.role = Some(Role::Primary));
    h.out
}

#[test]
fn all_create_change_plain_matches_drbd_utils() {
    assert_lines(&all_create_change(PLAIN), &fixture("all-create-change"));
}

#[test]
fn all_create_change_statistics_matches_drbd_utils() {
    assert_lines(
        &all_create_change(STATS),
        &fixture("all-create-change--statistics"),
    );
}

#[test]
fn all_create_change_full_matches_drbd_utils() {
    assert_lines(
        &all_create_change(FULL),
        &fixture("all-create-change--full"),
    );
}

#[test]
fn all_create_change_timestamps_have_the_fixture_shape() {
    let ts = drbd_sim::clock::timestamp(1_700_000_000_123_456, 0);
    let got: Vec<String> = all_create_change(PLAIN)
        .iter()
        .map(|l| format!("{ts} {l}"))
        .collect();
    let want = fixture("all-create-change--timestamps");
    let shaped: Vec<String> = got
        .iter()
        .map(|l| {
            let (t, rest) = l.split_once(' ').unwrap();
            assert!(drbd_sim::clock::is_timestamp(t), "{t}");
            format!("TIME {rest}")
        })
        .collect();
    assert_lines(&shaped, &want);
}

fn created_with_peer(h: &mut Harness) {
    h.step(create_resource)
        .res(create_device(0))
        .res(create_connection)
        .conn(create_peer_device)
        .conn(create_path);
}

#[test]
fn all_create_destroy_matches_drbd_utils() {
    let mut h = Harness::new(PLAIN);
    created_with_peer(&mut h);
    h.conn(|c| c.paths.clear())
        .conn(|c| {
            c.peer_devices.clear();
        })
        .res(|r| {
            r.connections.clear();
        })
        .res(destroy_device(0))
        .step(|v| {
            v.clear();
        });
    assert_lines(&h.out, &fixture("all-create-destroy"));
}

fn helper(phase: HelperPhase, status: Option<u32>) -> Line {
    Line {
        timestamp: None,
        event: Event::Helper(HelperLine {
            phase,
            name: R.into(),
            peer_node_id: Some(1),
            conn_name: Some("some-peer".into()),
            local: None,
            peer: None,
            volume: Some(0),
            minor: None,
            helper: "before-resync-target".into(),
            status,
            unknown: vec![],
        }),
        unknown_values: vec![],
    }
}

fn all_create_helper() -> Vec<String> {
    let mut h = Harness::new(PLAIN);
    created_with_peer(&mut h);
    h.raw(helper(HelperPhase::Call, None))
        .raw(helper(HelperPhase::Response, Some(1)));
    h.out
}

#[test]
fn all_create_helper_matches_drbd_utils() {
    assert_lines(&all_create_helper(), &fixture("all-create-helper"));
}

#[test]
fn all_create_helper_timestamps_have_the_fixture_shape() {
    let ts = drbd_sim::clock::timestamp(1_700_000_000_000_001, -7 * 3600);
    assert!(drbd_sim::clock::is_timestamp(&ts), "{ts}");
    let got: Vec<String> = all_create_helper()
        .iter()
        .map(|l| format!("TIME {l}"))
        .collect();
    assert_lines(&got, &fixture("all-create-helper--timestamps"));
}

fn existing() -> NodeView {
    let mut v = NodeView::new();
    let mut r = resource();
    r.devices.insert(0, device(0));
    v.insert(R.into(), r);
    v
}

#[test]
fn change_before_exists_matches_drbd_utils() {
    let mut h = Harness::with(PLAIN, existing());
    h.res(attach_uptodate(0))
        .res(|r| r.resource.role = Some(Role::Primary));
    assert_lines(&h.out, &fixture("change-before-exists"));
}

#[test]
fn create_and_exists_before_dump_end_match_drbd_utils() {
    let h = Harness::with(PLAIN, existing());
    assert_lines(&h.out, &fixture("create-before-exists"));
    assert_lines(&h.out, &fixture("exists-before-create"));
}

#[test]
fn destroy_before_exists_and_no_resources_match_drbd_utils() {
    let h = Harness::new(PLAIN);
    assert_lines(&h.out, &fixture("destroy-before-exists"));
    assert_lines(&h.out, &fixture("no-resources"));
}

#[test]
fn resource_exists_is_the_first_line_of_the_dump() {
    let mut v = NodeView::new();
    v.insert(R.into(), resource());
    let h = Harness::with(PLAIN, v);
    assert_lines(&h.out[..1], &fixture("resource-exists"));
    assert_eq!(h.out[1], "exists -");
}

#[test]
fn device_create_destroy_matches_drbd_utils() {
    let mut h = Harness::new(PLAIN);
    h.step(create_resource);
    for (first, second, d1, d2) in [(0, 1, 1, 0), (0, 1, 0, 1), (1, 0, 1, 0), (1, 0, 0, 1)] {
        h.res(create_device(first))
            .res(create_device(second))
            .res(destroy_device(d1))
            .res(destroy_device(d2));
    }
    h.step(|v| {
        v.clear();
    });
    assert_lines(&h.out, &fixture("device-create-destroy"));
}

#[test]
fn first_out_of_order_matches_drbd_utils() {
    let mut v = NodeView::new();
    v.insert(R.into(), resource());
    let mut h = Harness::with(PLAIN, v);
    h.res(create_device(1))
        .res(create_device(0))
        .res(create_connection);
    assert_lines(&h.out, &fixture("first-out-of-order"));
}

#[test]
fn out_of_order_matches_drbd_utils() {
    let mut h = Harness::new(PLAIN);
    h.step(create_resource)
        .res(create_device(0))
        .res(create_device(1))
        .res(create_connection);
    assert_lines(&h.out, &fixture("out-of-order"));
}

#[test]
fn may_promote_peer_data_matches_drbd_utils() {
    let mut h = Harness::new(PLAIN);
    h.step(create_resource)
        .res(create_device(0))
        .res(create_connection)
        .conn(create_peer_device)
        .conn(connected)
        .conn(peer_uptodate);
    assert_lines(&h.out, &fixture("may-promote-peer-data"));
}

#[test]
fn may_promote_peer_role_matches_drbd_utils() {
    let mut h = Harness::new(PLAIN);
    h.step(create_resource)
        .res(create_device(0))
        .res(create_connection)
        .conn(create_peer_device)
        .res(attach_uptodate(0))
        .conn(connected)
        .conn(|c| c.conn.role = Some(Role::Primary));
    assert_lines(&h.out, &fixture("may-promote-peer-role"));
}

#[test]
fn may_promote_quorum_matches_drbd_utils() {
    let mut h = Harness::new(PLAIN);
    h.step(create_resource)
        .res(create_device(0))
        .res(attach_uptodate(0))
        .res(|r| r.devices.get_mut(&0).unwrap().quorum = Some(false));
    assert_lines(&h.out, &fixture("may-promote-quorum"));
}

#[test]
fn promotion_score_devices_matches_drbd_utils() {
    let mut h = Harness::new(PLAIN);
    h.step(create_resource)
        .res(create_device(0))
        .res(attach_uptodate(0))
        .res(create_device(1))
        .res(attach_uptodate(1));
    assert_lines(&h.out, &fixture("promotion-score-devices"));
}

#[test]
fn promotion_score_inconsistent_matches_drbd_utils() {
    let mut h = Harness::new(PLAIN);
    h.step(create_resource)
        .res(create_device(0))
        .res(|r| {
            let d = r.devices.get_mut(&0).unwrap();
            d.backing_dev = Some(BackingDev::Path("/dev/sda".into()));
            d.disk = Some(DiskState::Inconsistent);
        })
        .res(create_connection)
        .conn(create_peer_device)
        .conn(connected)
        .conn(peer_uptodate);
    assert_lines(&h.out, &fixture("promotion-score-inconsistent"));
}

#[test]
fn resource_create_destroy_matches_drbd_utils() {
    let mut h = Harness::new(PLAIN);
    h.step(create_resource).step(|v| {
        v.clear();
    });
    assert_lines(&h.out, &fixture("resource-create-destroy"));
}

fn sync(opts: Options) -> Vec<String> {
    let mut h = Harness::new(opts);
    created_with_peer(&mut h);
    h.res(attach_uptodate(0))
        .conn(|c| c.paths[0].established = Some(true))
        .conn(connected)
        .conn(|c| {
            let pd = c.peer_devices.get_mut(&0).unwrap();
            pd.replication = Some(ReplicationState::SyncSource);
            pd.peer_disk = Some(DiskState::Inconsistent);
            pd.out_of_sync = Some(2500);
            pd.progress = Some(Box::new(drbd_sim::model::progress(4000, 2500, 246, 0)));
        });
    h.out
}

#[test]
fn sync_matches_drbd_utils() {
    assert_lines(&sync(PLAIN), &fixture("sync"));
}

#[test]
fn sync_statistics_matches_drbd_utils() {
    assert_lines(&sync(STATS), &fixture("sync--statistics"));
}

#[test]
fn all_create_change_diff_matches_drbd_utils() {
    let decor = Decor {
        diff: true,
        color: false,
    };
    assert_lines(
        &all_create_change_decorated(PLAIN, decor),
        &fixture("all-create-change--diff"),
    );
}

#[test]
fn all_create_change_color_matches_drbd_utils() {
    let decor = Decor {
        diff: false,
        color: true,
    };
    assert_lines(
        &all_create_change_decorated(PLAIN, decor),
        &fixture("all-create-change--color"),
    );
}

#[test]
fn objects_that_appear_in_their_final_state_are_created_as_the_kernel_creates_them_then_changed() {
    // `drbdadm up` of a resource whose disk attaches and whose peer connects at once: the
    // create lines still show the kernel's initial state (the fixture's), and the state
    // reached follows in change lines, so a consumer ignoring creates (the promoter) sees
    // may_promote turn true.
    let mut h = Harness::new(PLAIN);
    h.step(|v| {
        let mut r = resource();
        r.devices.insert(0, device(0));
        let mut c = connection();
        c.peer_devices.insert(0, peer_device(0));
        c.paths.push(path());
        r.connections.insert(1, c);
        v.insert(R.into(), r);
        let r = v.get_mut(R).unwrap();
        attach_uptodate(0)(r);
        let c = r.connections.get_mut(&1).unwrap();
        c.paths[0].established = Some(true);
        connected(c);
        peer_uptodate(c);
    });
    let want = fixture("all-create-change");
    let mut creates: Vec<&String> = h.out.iter().filter(|l| l.starts_with("create ")).collect();
    let mut fixture_creates: Vec<&String> =
        want.iter().filter(|l| l.starts_with("create ")).collect();
    creates.sort();
    fixture_creates.sort();
    assert_eq!(creates, fixture_creates, "{}", h.out.join("\n"));
    let changes: Vec<&String> = h.out.iter().filter(|l| l.starts_with("change ")).collect();
    for want in [
        "change resource name:some-resource may_promote:yes promotion_score:10102",
        "change connection name:some-resource peer-node-id:1 conn-name:some-peer connection:Connected role:Secondary",
        "change device name:some-resource volume:0 minor:1000 backing_dev:/dev/sda disk:UpToDate",
        "change peer-device name:some-resource peer-node-id:1 conn-name:some-peer volume:0 replication:Established peer-disk:UpToDate",
        "change path name:some-resource peer-node-id:1 conn-name:some-peer local:ipv4:1.2.3.4:7789 peer:ipv4:5.6.7.8:7790 established:yes",
    ] {
        assert!(
            changes.iter().any(|l| l.starts_with(want)),
            "missing {want:?} in\n{}",
            h.out.join("\n")
        );
    }

    // A volume added attached: created Diskless after the resource's own line, then changed.
    let at = h.out.len();
    h.res(|r| {
        r.devices.insert(1, device(1));
        attach_uptodate(1)(r);
    });
    let added = &h.out[at..];
    let create = added.iter().position(|l| {
        l.starts_with(
            "create device name:some-resource volume:1 minor:1001 backing_dev:none disk:Diskless",
        )
    });
    let change = added.iter().position(|l| l.starts_with("change device name:some-resource volume:1 minor:1001 backing_dev:/dev/sda disk:UpToDate"));
    assert!(
        matches!((create, change), (Some(a), Some(b)) if a < b),
        "{added:#?}"
    );
}
