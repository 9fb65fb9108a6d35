//! `ls`: the spec's texts for the spec's snippet set, and the fixed double listing.
mod common;
use common::*;

#[test]
fn ls_prints_the_spec_lines_for_the_spec_snippet_set() {
    let bench = Bench::new();
    spec_set(&bench);
    let out = bench.ctl(&["ls"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let d = bench.dir().display().to_string();
    let expected = format!(
        "{d}/ax.toml:\n- AgentX: localhost:705\n\
         {d}/linstor_db.toml:\n- Promoter: linstor_db; start = [\"var-lib-linstor.mount\", \"linstor-controller.service\"]\n\
         {d}/prom.toml:\n- Prometheus: :9942\n\
         {d}/umh.toml:\n- UMH\n\
         {d}/dbg.toml.disabled:\n- Debugger\n"
    );
    assert_eq!(stdout(&out), expected);
}

#[test]
fn ls_disabled_lists_only_disabled_snippets_and_marks_promoters() {
    let bench = Bench::new();
    spec_set(&bench);
    let long = "ocf:heartbeat:IPaddr2 p_iscsi_demo1_ip ip=10.43.7.223 cidr_netmask=16 ...";
    bench.snippet(
        "long.toml.disabled",
        &format!("[[promoter]]\n[promoter.resources.r2]\nstart = [\"{long}\", \"b.service\"]\n"),
    );
    let out = bench.ctl(&["ls", "--disabled"]);
    let d = bench.dir().display().to_string();
    assert_eq!(
        stdout(&out),
        format!(
            "{d}/dbg.toml.disabled:\n- Debugger\n{d}/long.toml.disabled:\n- Promoter: r2 (disabled); start = [\n   \"{long}\", \n   \"b.service\"]\n"
        )
    );
}

#[test]
fn ls_with_an_explicit_suffix_lists_the_file_once() {
    let bench = Bench::new();
    spec_set(&bench);
    let out = bench.ctl(&["ls", "linstor_db.toml", "dbg.toml.disabled", "prom"]);
    let text = stdout(&out);
    assert_eq!(text.matches("linstor_db.toml:").count(), 1, "{text}");
    assert!(!text.contains("(disabled)"), "{text}");
    assert_eq!(text.matches("dbg.toml.disabled:").count(), 1, "{text}");
    assert!(text.contains("prom.toml:"));
}

#[test]
fn ls_reports_a_broken_snippet_with_file_and_line_after_its_header_and_exits_1() {
    let bench = Bench::new();
    let path = bench.snippet("bad.toml", "[[prometheus]]\naddress = 7\n");
    let out = bench.ctl(&["ls"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), format!("{}:\n", path.display()));
    assert!(
        stderr(&out).contains(&format!("{}:2:1: key 'address'", path.display())),
        "{}",
        stderr(&out)
    );
}

#[test]
fn both_states_of_a_snippet_are_warned_about_on_stdout() {
    let bench = Bench::new();
    bench.snippet("x.toml", "[[debugger]]\n");
    bench.snippet("x.toml.disabled", "[[umh]]\n");
    let out = bench.ctl(&["ls"]);
    let d = bench.dir().display().to_string();
    assert!(
        stdout(&out).starts_with(&format!(
            "WARN: both '{d}/x.toml' and '{d}/x.toml.disabled' exist\n"
        )),
        "{}",
        stdout(&out)
    );
}

#[test]
fn an_empty_snippets_directory_lists_nothing_and_exits_0() {
    let bench = Bench::new();
    let out = bench.ctl(&["ls"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "");
}
