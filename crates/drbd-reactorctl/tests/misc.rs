//! Usage errors, version, help, generate-completion, and the main config errors.
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
        stderr(&out).contains("main.toml:1:1: key 'snippets'"),
        "{}",
        stderr(&out)
    );
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

#[test]
fn a_config_path_that_is_not_utf8_is_refused_for_a_cluster_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let bench = Bench::new();
    let contexts = bench.root().join("xdg/drbd-reactorctl");
    std::fs::create_dir_all(&contexts).unwrap();
    std::fs::write(contexts.join("default.toml"), "[nodes.\"alpha.example\"]\n").unwrap();
    let out = bench
        .cmd()
        .arg("-c")
        .arg(std::ffi::OsStr::from_bytes(b"/etc/drbd-reactor-\xff.toml"))
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "not a panic (101): {out:?}");
    assert!(
        stderr(&out).contains("not UTF-8 cannot be sent to the other nodes"),
        "{}",
        stderr(&out)
    );
}
