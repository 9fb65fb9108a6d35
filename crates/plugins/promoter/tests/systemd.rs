//! Checks against the real systemd tools: our escaping is `systemd-escape`'s, and the
//! rendered drop-ins load cleanly on top of drbd-utils' templates (`systemd-analyze verify`).
//! Both tools ship with the `systemd` package (installed in CI).

use drbd_reactor_promoter::config::PromoterConfig;
use drbd_reactor_promoter::units::{escape_unit, resolve_start_list};
use drbd_reactor_promoter::{dropins, units};
use std::fs;
use std::path::Path;
use std::process::Command;

fn tool(name: &str) -> bool {
    Command::new(name).arg("--version").output().is_ok()
}

const TRICKY: &[&str] = &[
    "r0",
    "my-res",
    "my-res.1_x/y:z",
    ".hidden",
    "a..b",
    "trailing.",
    "sp ace",
    "tab\tx",
    "per%cent",
    "back\\slash",
    "ümlaut",
    "@at",
    "a//b",
    "/lead",
    "trail/",
    "UPPER_lower:09",
    "x-",
    "~tilde",
    "quote'\"",
];

#[test]
fn escaping_is_identical_to_systemd_escape_for_tricky_names() {
    assert!(
        tool("systemd-escape"),
        "systemd-escape is needed (package systemd)"
    );
    for name in TRICKY {
        let out = Command::new("systemd-escape")
            .arg("--")
            .arg(name)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}");
        let want = String::from_utf8(out.stdout).unwrap();
        assert_eq!(escape_unit(name), want.trim_end_matches('\n'), "{name:?}");
    }
}

const CONFIG: &str = r#"
[[promoter]]
[promoter.resources.r0]
start = ["ocf:heartbeat:Dummy p_dummy fake='a%b c' other=x", "dummy-app.service"]
on-drbd-demote-failure = "reboot"

[[promoter]]
[promoter.resources.my-res]
start = ["var-lib-x.mount", "ocf:heartbeat:IPaddr2 p_ip ip=10.0.0.1 pass='50%'", " app.service "]
on-drbd-demote-failure = "reboot-immediate"
dependencies-as = "BindsTo"
target-as = "Wants"
"#;

#[derive(serde::Deserialize)]
struct File {
    promoter: Vec<PromoterConfig>,
}

#[test]
fn rendered_units_pass_systemd_analyze_verify_without_warnings() {
    assert!(
        tool("systemd-analyze"),
        "systemd-analyze is needed (package systemd)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/units");
    for t in fs::read_dir(templates).unwrap() {
        let t = t.unwrap().path();
        fs::copy(&t, dir.join(t.file_name().unwrap())).unwrap();
    }
    // Stand-ins for drbd-reactor's ocf.rs@.service and the users' units.
    fs::write(
        dir.join("ocf.rs@.service"),
        "[Unit]\nDescription=OCF %I\n[Service]\nType=notify\nRestart=always\n\
         Environment=OCF_ROOT=/usr/lib/ocf\nEnvironment=OCF_RESOURCE_INSTANCE=%i\n\
         ExecStart=/bin/true start-and-monitor %n\nExecStopPost=/bin/true stop %n\n",
    )
    .unwrap();
    for svc in ["dummy-app.service", "app.service"] {
        fs::write(dir.join(svc), "[Service]\nExecStart=/bin/sleep infinity\n").unwrap();
    }
    fs::write(
        dir.join("var-lib-x.mount"),
        "[Mount]\nWhat=/dev/drbd1000\nWhere=/var/lib/x\n",
    )
    .unwrap();
    let file: File = toml::from_str(CONFIG).unwrap();
    let mut names = Vec::new();
    for inst in &file.promoter {
        for (res, cfg) in &inst.resources {
            for f in dropins::render(res, cfg).unwrap() {
                let path = dir.join(&f.path);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(path, f.content).unwrap();
            }
            names.push(units::target(res));
            names.push(units::promote(res));
            names.push(units::escalate(res));
            names.extend(
                resolve_start_list(res, &cfg.start)
                    .unwrap()
                    .into_iter()
                    .map(|u| u.name),
            );
        }
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&names)
        .env("SYSTEMD_UNIT_PATH", format!("{}:", dir.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            l.contains(&*dir.to_string_lossy()) || l.contains("ocf.rs@") || l.contains("drbd-")
        })
        .collect();
    assert!(out.status.success(), "{stderr}");
    assert!(
        ours.is_empty(),
        "systemd-analyze complained:\n{}",
        ours.join("\n")
    );
}

#[test]
fn verify_would_catch_an_unescaped_percent() {
    // The check above is only worth something if systemd-analyze reports what the original
    // wrote (`\x25` followed by a letter is a specifier after unescaping).
    assert!(tool("systemd-analyze"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(dir.join("x.service"), "[Service]\nExecStart=/bin/true\n").unwrap();
    fs::create_dir_all(dir.join("x.service.d")).unwrap();
    fs::write(
        dir.join("x.service.d/reactor.conf"),
        "[Service]\nEnvironment= A=a\\x25zb\n",
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "x.service"])
        .env("SYSTEMD_UNIT_PATH", format!("{}:", dir.display()))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("specifiers"));
}
