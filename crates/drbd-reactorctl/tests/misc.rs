//! Usage errors, version, help, generate-completion, start-until, evict (not yet), and the
//! main config errors.
mod common;
use common::*;

#[test]
fn usage_errors_exit_1_and_help_and_version_exit_0() {
    let bench = Bench::new();
    // -c is top-level only
    let out = bench.cmd().args(["ls", "-c", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Usage"), "{}", stderr(&out));
    let out = bench
        .cmd()
        .args(["edit", "--type", "foo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("possible values: agentx, debugger, prometheus, promoter, umh"),
        "{}",
        stderr(&out)
    );
    let out = bench.cmd().arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("drbd-reactorctl "));
    let out = bench.cmd().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("Controls a local drbd-reactor daemon"));
    for sub in [
        "cat",
        "disable",
        "edit",
        "enable",
        "evict",
        "ls",
        "restart",
        "rm",
        "start-until",
        "status",
        "generate-completion",
    ] {
        assert!(stdout(&out).contains(sub), "help lists {sub}");
    }
}

#[test]
fn generate_completion_needs_no_config_and_covers_bash_zsh_and_fish() {
    let bench = Bench::new();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef drbd-reactorctl"),
        ("fish", "complete -c drbd-reactorctl"),
    ] {
        let out = bench
            .cmd()
            .args(["-c", "/nonexistent", "generate-completion", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains(marker), "{shell}: {text}");
        assert!(
            text.contains("start-until"),
            "{shell} completes the subcommands"
        );
    }
    let default = bench.cmd().arg("generate-completion").output().unwrap();
    assert!(stdout(&default).contains("complete -F"));
    assert_eq!(
        bench
            .cmd()
            .args(["generate-completion", "tcsh"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn a_missing_or_snippetless_main_config_is_named_and_exits_1() {
    let bench = Bench::new();
    let out = bench
        .cmd()
        .args(["-c", "/nonexistent.toml", "ls"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Could not get snippets path from config file '/nonexistent.toml'"),
        "{}",
        stderr(&out)
    );
    std::fs::write(bench.main(), "[[debugger]]\n").unwrap();
    let out = bench.ctl(&["ls"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("sets no 'snippets' directory"),
        "{}",
        stderr(&out)
    );
    std::fs::write(bench.main(), "snippets = 3\n").unwrap();
    let out = bench.ctl(&["ls"]);
    assert!(
        stderr(&out).contains("main.toml:1: key 'snippets'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn evict_is_defined_but_not_implemented_yet() {
    let bench = Bench::new();
    bench.snippet("p.toml", "[[promoter]]\n[promoter.resources.r1]\n");
    let out = bench.ctl(&["evict", "--delay", "5", "--keep-masked", "p"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not implemented yet"),
        "{}",
        stderr(&out)
    );
    assert!(bench.systemctl_log().is_empty());
    let out = bench.ctl(&["evict", "--delay", "0", "p"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("positive integer"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn start_until_starts_the_promote_unit_and_the_start_list_up_to_the_named_entry() {
    let bench = Bench::new();
    let path = bench.snippet(
        "p.toml.disabled",
        "[[promoter]]\n[promoter.resources.r1]\nstart = [\"a.mount\", \"ocf:heartbeat:IPaddr2 p_ip ip=1.2.3.4\", \"c.service\"]\n",
    );
    let out = bench.ctl(&["start-until", "ocf:heartbeat:IPaddr2 p_ip ip=1.2.3.4", "p"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        bench.systemctl_log(),
        [
            "start drbd-promote@r1.service",
            "start a.mount",
            "start ocf.rs@p_ip_r1.service"
        ]
    );
    assert_eq!(
        stdout(&out),
        format!(
            "systemctl start drbd-promote@r1.service\nsystemctl start a.mount\nsystemctl start ocf.rs@p_ip_r1.service\n\
             INFO: To resume normal operation, execute:\n- systemctl start drbd-services@r1.target # on this node\n\
             - drbd-reactorctl enable {} # on all cluster nodes\n",
            path.display()
        )
    );
}

#[test]
fn start_until_by_count_and_its_errors() {
    let bench = Bench::new();
    bench.snippet(
        "p.toml.disabled",
        "[[promoter]]\n[promoter.resources.r1]\nstart = [\"a.service\", \"b.service\"]\n",
    );
    assert!(bench.ctl(&["start-until", "1", "p"]).status.success());
    assert_eq!(
        bench.systemctl_log(),
        ["start drbd-promote@r1.service", "start a.service"]
    );
    let out = bench.ctl(&["start-until", "x.service", "p"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Could not find unit 'x.service'"),
        "{}",
        stderr(&out)
    );
    let out = bench.ctl(&["start-until", "1", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    std::fs::write(bench.root().join("fail-start"), "").unwrap();
    let out = bench.ctl(&["start-until", "1", "p"]);
    assert_eq!(out.status.code(), Some(1), "a failing start aborts");
}

#[test]
fn without_home_and_xdg_config_home_commands_run_locally() {
    let bench = Bench::new();
    bench.snippet("d.toml", "[[debugger]]\n");
    let out = bench
        .cmd()
        .env_remove("HOME")
        .env_remove("XDG_CONFIG_HOME")
        .arg("-c")
        .arg(bench.main())
        .arg("ls")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).ends_with("d.toml:\n- Debugger\n"));
}

#[test]
fn the_shipped_bash_completion_is_what_generate_completion_prints() {
    // packages install examples/ctl.completion.bash as
    // /usr/share/bash-completion/completions/drbd-reactorctl; regenerate it with
    // `drbd-reactorctl generate-completion bash > examples/ctl.completion.bash`
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/ctl.completion.bash"
    ))
    .unwrap();
    let bench = Bench::new();
    assert_eq!(
        stdout(
            &bench
                .cmd()
                .args(["generate-completion", "bash"])
                .output()
                .unwrap()
        ),
        shipped
    );
}
