//! `status`: text and JSON for every plugin type, promoter entries from stand-in
//! drbdsetup/systemctl, the JSON schema kept in the project, and the spec's example.
mod common;
use common::*;
use serde_json::Value;

const PEER_PRIMARY: &str = r#"[{"name":"linstor_db","role":"Secondary","connections":[{"name":"alpha","peer-role":"Primary"}]}]"#;
const LOCAL_PRIMARY: &str = r#"[{"name":"r1","role":"Primary","connections":[]}]"#;

fn schema_check(json: &Value) {
    let schema: Value = serde_json::from_str(include_str!("../schema/status.schema.json")).unwrap();
    let compiled = jsonschema::JSONSchema::compile(&schema).expect("schema compiles");
    let list: Vec<String> = match compiled.validate(json) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect(),
    };
    assert!(list.is_empty(), "status --json does not validate: {list:?}");
}

fn spec_example_state(bench: &Bench) {
    bench.snippet(
        "linstor_db.toml",
        "[[promoter]]\n[promoter.resources.linstor_db]\nstart = [\"var-lib-linstor.mount\"]\n",
    );
    bench.snippet("prom.toml", "[[prometheus]]\n");
    bench.drbd("linstor_db", PEER_PRIMARY);
    for unit in [
        "drbd-services@linstor_db.target",
        "drbd-promote@linstor_db.service",
        "var-lib-linstor.mount",
    ] {
        bench.unit(unit, "active", "running");
    }
}

#[test]
fn status_json_matches_the_spec_example_validates_against_the_schema_and_has_no_trailing_newline() {
    let bench = Bench::new();
    spec_example_state(&bench);
    let out = bench.ctl(&["status", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.ends_with('\n'));
    let d = bench.dir().display().to_string();
    let spec = r#"{"promoter":[{"drbd_resource":"linstor_db","path":"/etc/drbd-reactor.d/linstor_db.toml",
  "enabled":true,"primary_on":"alpha",
  "target":{"name":"drbd-services@linstor_db.target","status":"active","freezer":"running"},
  "dependencies":[{"name":"drbd-promote@linstor_db.service","status":"active","freezer":"running"},
                  {"name":"var-lib-linstor.mount","status":"active","freezer":"running"}],
  "status":"active"}],
 "prometheus":[{"path":"/etc/drbd-reactor.d/prom.toml","enabled":true,"address":":9942","status":"active"}],
 "debugger":[],"umh":[],"agentx":[]}"#
        .replace("/etc/drbd-reactor.d", &d);
    let expected: Value = serde_json::from_str(&spec).unwrap();
    let got: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(got, expected);
    schema_check(&got);
    // compact, keys in the spec's order: the spec text without its layout whitespace
    assert_eq!(text, spec.split_whitespace().collect::<String>());
}

#[test]
fn status_text_for_an_enabled_promoter_equals_the_spec_text() {
    let bench = Bench::new();
    spec_set(&bench);
    bench.drbd(
        "linstor_db",
        r#"[{"name":"linstor_db","role":"Primary","connections":[]}]"#,
    );
    for unit in [
        "drbd-services@linstor_db.target",
        "drbd-promote@linstor_db.service",
        "var-lib-linstor.mount",
        "linstor-controller.service",
    ] {
        bench.unit(unit, "active", "running");
    }
    let out = bench.ctl(&["status", "linstor_db"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let d = bench.dir().display().to_string();
    assert_eq!(
        stdout(&out),
        format!(
            "{d}/linstor_db.toml:\nPromoter: Resource linstor_db currently active on this node\n\
             ● drbd-services@linstor_db.target\n● ├─ drbd-promote@linstor_db.service\n\
             ● ├─ var-lib-linstor.mount\n● └─ linstor-controller.service\n\n"
        )
    );
    let calls = bench.systemctl_log();
    assert!(
        calls.contains(&"show --property=ActiveState drbd-services@linstor_db.target".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"show --property=FreezerState var-lib-linstor.mount".to_string()),
        "{calls:?}"
    );
}

#[test]
fn status_text_covers_every_plugin_type_in_the_spec_order() {
    let bench = Bench::new();
    spec_set(&bench);
    let out = bench.ctl(&["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let d = bench.dir().display().to_string();
    assert_eq!(
        stdout(&out),
        format!(
            "{d}/linstor_db.toml:\nPromoter: Resource linstor_db currently active on <unknown>\n\
             ○ drbd-services@linstor_db.target\n○ ├─ drbd-promote@linstor_db.service\n\
             ○ ├─ var-lib-linstor.mount\n○ └─ linstor-controller.service\n\n\
             {d}/prom.toml:\nPrometheus: listening on :9942\n\n\
             {d}/dbg.toml.disabled:\nDebugger (disabled): started\n\n\
             {d}/umh.toml:\nUMH: started\n\n\
             {d}/ax.toml:\nAgentX: connecting to main agent at localhost:705\n\n"
        )
    );
}

#[test]
fn without_a_subcommand_the_tool_shows_the_status() {
    let bench = Bench::new();
    spec_set(&bench);
    assert_eq!(stdout(&bench.ctl(&[])), stdout(&bench.ctl(&["status"])));
}

#[test]
fn a_disabled_promoter_that_is_primary_here_warns() {
    let bench = Bench::new();
    bench.snippet(
        "long.toml.disabled",
        "[[promoter]]\n[promoter.resources.r1]\nstart = [\"a.service\"]\n",
    );
    bench.drbd("r1", LOCAL_PRIMARY);
    let out = bench.ctl(&["status"]);
    let d = bench.dir().display().to_string();
    assert_eq!(
        stdout(&out),
        format!("{d}/long.toml.disabled:\nPromoter: Resource r1 (disabled) currently active on this node\nWARN: disabled but Primary\n\n")
    );
    let json: Value = serde_json::from_str(&stdout(&bench.ctl(&[
        "status",
        "--json",
        "long.toml.disabled",
    ])))
    .unwrap();
    assert_eq!(
        json["promoter"].as_array().unwrap().len(),
        1,
        "listed once: {json}"
    );
    assert_eq!(json["promoter"][0]["enabled"], false);
    schema_check(&json);
}

#[test]
fn frozen_units_show_their_freezer_state_and_unknown_active_states_do_not_abort() {
    let bench = Bench::new();
    bench.snippet(
        "r.toml",
        "[[promoter]]\n[promoter.resources.r1]\nstart = [\"a.mount\", \"b.service\"]\n",
    );
    bench.unit("drbd-services@r1.target", "refreshing", "frozen");
    bench.unit("a.mount", "active", "frozen");
    bench.unit("b.service", "something-new", "thawing");
    let out = bench.ctl(&["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("↻ drbd-services@r1.target\n"), "{text}");
    assert!(text.contains("● ├─ a.mount(frozen)\n"), "{text}");
    assert!(text.contains("? └─ b.service(thawing)\n"), "{text}");
    let json: Value = serde_json::from_str(&stdout(&bench.ctl(&["status", "--json"]))).unwrap();
    assert_eq!(json["promoter"][0]["status"], "refreshing");
    assert_eq!(json["promoter"][0]["dependencies"][2]["status"], "unknown");
    schema_check(&json);
}

#[test]
fn resource_filter_limits_promoter_entries_only() {
    let bench = Bench::new();
    bench.snippet(
        "a.toml",
        "[[promoter]]\n[promoter.resources.r1]\n[promoter.resources.r2]\n",
    );
    bench.snippet("p.toml", "[[prometheus]]\n");
    let json: Value =
        serde_json::from_str(&stdout(&bench.ctl(&["status", "--json", "-r", "r2"]))).unwrap();
    let names: Vec<&str> = json["promoter"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["drbd_resource"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["r2"]);
    assert_eq!(json["prometheus"].as_array().unwrap().len(), 1);
}

#[test]
fn ocf_start_entries_are_shown_as_their_ocf_rs_units() {
    let bench = Bench::new();
    bench.snippet("a.toml", "[[promoter]]\n[promoter.resources.res-1]\nstart = [\"ocf:heartbeat:IPaddr2 p_ip ip=10.0.0.1\"]\n");
    let json: Value = serde_json::from_str(&stdout(&bench.ctl(&["status", "--json"]))).unwrap();
    assert_eq!(
        json["promoter"][0]["target"]["name"],
        "drbd-services@res\\x2d1.target"
    );
    assert_eq!(
        json["promoter"][0]["dependencies"][1]["name"],
        "ocf.rs@p_ip_res\\x2d1.service"
    );
}

#[test]
fn verbose_status_reports_a_tcp_connect_per_prometheus_address() {
    let bench = Bench::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    bench.snippet("a.toml", &format!("[[prometheus]]\naddress = \"{open}\"\n"));
    bench.snippet(
        "b.toml",
        &format!("[[prometheus]]\naddress = \"{closed}\"\n"),
    );
    let text = stdout(&bench.ctl(&["status", "--verbose"]));
    assert!(
        text.contains(&format!(
            "Prometheus: listening on {open}\nTCP Connect ({open}): success\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "TCP Connect ({closed}): failed (Connection refused"
        )),
        "{text}"
    );
}

#[test]
fn colours_appear_only_when_forced_or_on_a_terminal() {
    let bench = Bench::new();
    bench.snippet("p.toml", "[[prometheus]]\n");
    assert!(!stdout(&bench.ctl(&["status"])).contains('\x1b'));
    let out = bench
        .cmd()
        .env("CLICOLOR_FORCE", "1")
        .arg("-c")
        .arg(bench.main())
        .arg("status")
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains("\x1b[1;32m:9942\x1b[0m"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_running_daemons_promoter_status_is_shown_and_its_json_validates() {
    let bench = Bench::new();
    spec_example_state(&bench);
    let status = bench.root().join("run/promoter/status");
    std::fs::create_dir_all(&status).unwrap();
    // The daemon's PromoterStatus for this one resource, as the promoter writes it.
    std::fs::write(
        status.join("linstor_db.json"),
        r#"{"resources":{"linstor_db":{"runs-services":false,"services":"stopped","role":"Secondary","may-promote":false,"policy":"quorum","start-units":[],"unit-states":[],"last-decision":"not promoting linstor_db: peer alpha is Primary","starts":0,"stops":0,"failures":0,"lost-races":0}}}"#,
    )
    .unwrap();
    let out = bench.ctl(&["status", "linstor_db"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            "drbd-reactor: does not run the services here (stopped); starts 0, stops 0, failures 0, lost races 0\n  last decision: not promoting linstor_db: peer alpha is Primary\n"
        ),
        "{text}"
    );
    let out = bench.ctl(&["status", "--json"]);
    let got: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(got["promoter"][0]["reactor"]["runs-services"], false);
    schema_check(&got);
}

/// `--json` keeps stdout a JSON document, but an unreadable snippets directory is still said
/// on stderr: a monitoring script must not read an empty report as all well.
#[test]
fn status_json_still_reports_an_unreadable_snippets_directory_on_stderr() {
    let bench = Bench::new();
    std::fs::remove_dir(bench.dir()).unwrap();
    let out = bench.ctl(&["status", "--json"]);
    assert!(
        stderr(&out).contains("Error reading files in"),
        "{}",
        stderr(&out)
    );
    let _: Value = serde_json::from_str(&stdout(&out)).expect("stdout stays JSON");
}
