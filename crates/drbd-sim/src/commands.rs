//! The command lines of `drbdsetup`, `drbdadm` and `drbd-sim ctl`, executed against the
//! model: argument parsing, exit codes and the texts real drbd-utils print.
//!
//! Must never: do I/O. Long-lived commands (events2 without `--now`, wait-connect) are
//! returned as a description for the server to run.

use crate::config::OnNoQuorum;
use crate::model::{Cluster, Failure};
use crate::printer::{Decor, Options, Printer};
use crate::status;

/// What a one-shot command prints and its exit status.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Reply {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Reply {
    pub fn ok(stdout: impl Into<String>) -> Reply {
        Reply {
            code: 0,
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }
    pub fn err(code: i32, stderr: impl Into<String>) -> Reply {
        let mut stderr = stderr.into();
        if !stderr.ends_with('\n') {
            stderr.push('\n');
        }
        Reply {
            code,
            stdout: String::new(),
            stderr,
        }
    }
}

impl From<Result<(), Failure>> for Reply {
    fn from(r: Result<(), Failure>) -> Reply {
        match r {
            Ok(()) => Reply::ok(""),
            Err(f) => Reply::err(f.code, f.message),
        }
    }
}

/// An `events2` invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Events2 {
    pub opts: Options,
    pub decor: Decor,
    pub filter: Option<String>,
    pub now: bool,
    pub poll: bool,
    pub timestamps: bool,
}

/// What the server has to do for a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Reply(Reply),
    Events2(Events2),
    /// Block until every connection of the resource is Connected.
    WaitConnect(String),
    /// ctl kill-events2: end the node's events2 streams.
    KillStreams(String, Reply),
    /// ctl crash succeeded: the processes registered for the node end with it.
    Crashed(String),
    /// ctl register NODE PID: `PID` (and its process group) runs on NODE.
    Register(String, i32),
}

pub const KERNEL_VERSION: &str = "9.2.12";
pub const UTILS_VERSION: &str = "9.29.0";

/// The `--version` text of drbdadm and drbdsetup.
pub fn version() -> String {
    format!(
        "DRBDADM_BUILDTAG=GIT-hash:\\ drbd-sim\\ build\\ by\\ drbd-sim\n\
         DRBDADM_API_VERSION=2\n\
         DRBD_KERNEL_VERSION_CODE=0x{}\n\
         DRBD_KERNEL_VERSION={KERNEL_VERSION}\n\
         DRBDADM_VERSION_CODE=0x{}\n\
         DRBDADM_VERSION={UTILS_VERSION}\n",
        code(KERNEL_VERSION),
        code(UTILS_VERSION)
    )
}

fn code(v: &str) -> String {
    v.split('.')
        .map(|p| format!("{:02x}", p.parse::<u8>().unwrap_or(0)))
        .collect()
}

fn usage(program: &str, msg: &str) -> Action {
    Action::Reply(Reply::err(20, format!("{program}: {msg}")))
}

/// Splits `--key=value`/`--key value` options from positional arguments.
struct Args {
    positional: Vec<String>,
    flags: Vec<(String, Option<String>)>,
}

fn parse_args(args: &[String], with_value: &[&str]) -> Args {
    let mut positional = Vec::new();
    let mut flags = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(opt) = a.strip_prefix("--") {
            match opt.split_once('=') {
                Some((k, v)) => flags.push((k.to_string(), Some(v.to_string()))),
                None if with_value.contains(&opt) => {
                    flags.push((opt.to_string(), it.next().cloned()))
                }
                None => flags.push((opt.to_string(), None)),
            }
        } else if a == "-V" {
            flags.push(("version".into(), None));
        } else {
            positional.push(a.clone());
        }
    }
    Args { positional, flags }
}

impl Args {
    fn has(&self, k: &str) -> bool {
        self.flags.iter().any(|(f, _)| f == k)
    }
    fn value(&self, k: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(f, _)| f == k)
            .and_then(|(_, v)| v.as_deref())
    }
    fn unknown(&self, known: &[&str]) -> Option<&str> {
        self.flags
            .iter()
            .map(|(f, _)| f.as_str())
            .find(|f| !known.contains(f))
    }
}

fn status_text(c: &Cluster, node: &str, filter: Option<&str>, json: bool) -> Reply {
    let view = c.view(node);
    if let Some(r) = filter.filter(|r| *r != "all") {
        if !view.contains_key(r) {
            return Reply::err(10, format!("{r}: No such resource"));
        }
    }
    let id = c.node_id(node).unwrap_or(0);
    let selected = view
        .values()
        .filter(|r| filter.is_none_or(|f| f == "all" || f == r.resource.name));
    if json {
        let all: Vec<_> = selected.map(|r| status::json(r, id)).collect();
        Reply::ok(serde_json::to_string_pretty(&all).unwrap() + "\n")
    } else {
        Reply::ok(selected.map(status::text).collect::<String>())
    }
}

/// Runs `drbdsetup ARGS` on `node`.
pub fn drbdsetup(c: &mut Cluster, node: &str, args: &[String]) -> Action {
    let a = parse_args(
        args,
        &[
            "on-no-quorum",
            "on-no-data-accessible",
            "on-no-data",
            "quorum",
        ],
    );
    if a.has("version") || a.positional.is_empty() && a.has("help") {
        return Action::Reply(Reply::ok(version()));
    }
    if !c.is_up(node) {
        return Action::Reply(Reply::err(
            20,
            "Could not connect to 'drbd' generic netlink family",
        ));
    }
    let Some(cmd) = a.positional.first() else {
        return usage("drbdsetup", "missing command");
    };
    let res = a.positional.get(1).map(String::as_str);
    let need_res = |res: Option<&str>| res.ok_or(()).map(str::to_string);
    match cmd.as_str() {
        "events2" => {
            if let Some(bad) = a.unknown(&[
                "full",
                "poll",
                "now",
                "statistics",
                "timestamps",
                "color",
                "diff",
                "rcvbuf",
            ]) {
                return usage("drbdsetup", &format!("unrecognized option '--{bad}'"));
            }
            Action::Events2(Events2 {
                opts: Options {
                    statistics: a.has("statistics"),
                    full: a.has("full"),
                },
                decor: Decor {
                    diff: a.has("diff"),
                    // `auto` is resolved by the shim, which knows whether stdout is a terminal.
                    color: a.has("color") && a.value("color").is_none_or(|v| v == "always"),
                },
                filter: res.filter(|r| *r != "all").map(str::to_string),
                now: a.has("now"),
                poll: a.has("poll"),
                timestamps: a.has("timestamps"),
            })
        }
        "status" => Action::Reply(status_text(c, node, res, a.has("json"))),
        "show" => {
            let Ok(res) = need_res(res) else {
                return usage("drbdsetup", "show: missing resource name");
            };
            let view = c.view(node);
            match (view.get(&res), c.options(node, &res)) {
                (Some(r), Some(o)) => {
                    let v = status::show(r, c.node_id(node).unwrap_or(0), &o);
                    Action::Reply(Reply::ok(serde_json::to_string_pretty(&v).unwrap() + "\n"))
                }
                _ => Action::Reply(Reply::err(10, format!("{res}: No such resource"))),
            }
        }
        "primary" | "secondary" | "down" | "resource-options" => {
            let Ok(res) = need_res(res) else {
                return usage("drbdsetup", &format!("{cmd}: missing resource name"));
            };
            let force = a.has("force") && a.value("force").is_none_or(|v| v == "yes");
            let r = match cmd.as_str() {
                "primary" => c.primary(node, &res, force),
                "secondary" => c.secondary(node, &res, force),
                "down" => c.down(node, &res),
                _ => {
                    let policy = |k: &str| -> Result<Option<OnNoQuorum>, Failure> {
                        match a.value(k) {
                            None => Ok(None),
                            Some(v) => OnNoQuorum::parse(v).map(Some).ok_or_else(|| {
                                Failure::new(
                                    20,
                                    format!("Parse error: '{v}' is not a valid value for --{k}"),
                                )
                            }),
                        }
                    };
                    let q = policy("on-no-quorum");
                    let d = policy("on-no-data-accessible").and_then(|d| match d {
                        Some(d) => Ok(Some(d)),
                        None => policy("on-no-data"),
                    });
                    match (q, d) {
                        (Ok(q), Ok(d)) => c.resource_options(
                            node,
                            &res,
                            q,
                            d,
                            a.value("quorum").map(str::to_string),
                        ),
                        (Err(e), _) | (_, Err(e)) => Err(e),
                    }
                }
            };
            Action::Reply(r.into())
        }
        other => usage("drbdsetup", &format!("unknown command '{other}'")),
    }
}

/// Runs `drbdadm ARGS` on `node`.
pub fn drbdadm(c: &mut Cluster, node: &str, args: &[String]) -> Action {
    let a = parse_args(args, &[]);
    if a.has("version") {
        return Action::Reply(Reply::ok(version()));
    }
    if let Some(bad) = a.unknown(&["force", "discard-my-data"]) {
        return usage("drbdadm", &format!("unrecognized option '--{bad}'"));
    }
    let Some(cmd) = a.positional.first().cloned() else {
        return usage("drbdadm", "missing command");
    };
    let target = a.positional.get(1).cloned();
    let resources: Vec<String> = match target.as_deref() {
        None if cmd == "status" => c.configured_resources(node),
        None => return usage("drbdadm", &format!("{cmd}: missing resource name")),
        Some("all") => c.configured_resources(node),
        Some(r) if c.configured(node, r) => vec![r.to_string()],
        Some(r) => {
            return Action::Reply(Reply::err(
                10,
                format!("'{r}' not defined in your config (for this host)."),
            ))
        }
    };
    let force = a.has("force");
    let mut out = Reply::ok("");
    for res in &resources {
        let r: Reply = match cmd.as_str() {
            "primary" => c.primary(node, res, force).into(),
            "secondary" => c.secondary(node, res, force).into(),
            "up" | "adjust" => c.up(node, res).into(),
            "connect" => c.connect(node, res, a.has("discard-my-data")).into(),
            "down" => match c.down(node, res) {
                Err(f) if f.code == 10 => Reply::ok(""),
                r => r.into(),
            },
            "role" => match c.view(node).get(res) {
                Some(r) => Reply::ok(format!("{}\n", r.resource.role.unwrap_or_default())),
                None => Reply::err(10, format!("{res}: No such resource")),
            },
            "status" => status_text(c, node, Some(res), false),
            "sh-ll-dev" => {
                Reply::ok(c.lower_devices(node, res).unwrap_or_default().join("\n") + "\n")
            }
            "wait-connect" => return Action::WaitConnect(res.clone()),
            other => return usage("drbdadm", &format!("Unknown command '{other}'")),
        };
        out.stdout.push_str(&r.stdout);
        out.stderr.push_str(&r.stderr);
        if r.code != 0 {
            out.code = r.code;
            break;
        }
    }
    Action::Reply(out)
}

/// The help of `drbd-sim ctl`.
pub const CTL_HELP: &str = "\
commands:
  status [NODE]                 drbdsetup status of every node (or one)
  crash NODE | restart NODE     power a node off / on (crash kills what is registered)
  register NODE PID             PID runs on NODE: a crash of NODE kills its process group
  partition NODE...             cut every link between these nodes and the rest
  heal                          restore every link
  cut A B | restore A B         cut / restore one link
  detach|attach|fail-disk NODE RES [VOL]
  open|close NODE RES [VOL]     open / close a device
  write NODE RES [KIB]          write on a Primary (out of sync for unreachable peers)
  read NODE RES [KIB]           read on a Primary (counts in the device's read statistics)
  primary|secondary NODE RES    as drbdsetup on that node
  connect NODE RES [--discard-my-data]
                                reconnect StandAlone connections (after a split brain)
  kill-events2 NODE             end the node's events2 streams
  tick MS                       advance virtual time
";

/// Runs `drbd-sim ctl ARGS`.
pub fn ctl(c: &mut Cluster, args: &[String]) -> Action {
    let s: Vec<&str> = args.iter().map(String::as_str).collect();
    let vol = |i: usize| s.get(i).and_then(|v| v.parse().ok()).unwrap_or(0u32);
    let r: Result<(), Failure> = match s.as_slice() {
        ["status"] | ["status", _] => {
            let mut out = String::new();
            for n in c.node_names() {
                if s.len() == 2 && s[1] != n {
                    continue;
                }
                if !c.is_up(&n) {
                    out.push_str(&format!("== {n} (down)\n\n"));
                    continue;
                }
                out.push_str(&format!("== {n}\n"));
                out.push_str(&status_text(c, &n, None, false).stdout);
            }
            return Action::Reply(Reply::ok(out));
        }
        ["crash", n] => match c.crash(n) {
            Ok(()) => return Action::Crashed(n.to_string()),
            Err(f) => Err(f),
        },
        ["register", n, pid] => match pid.parse::<i32>() {
            Ok(pid) if pid > 0 && c.node_id(n).is_some() => {
                return Action::Register(n.to_string(), pid)
            }
            _ => Err(Failure::new(
                20,
                format!("register: a node name and a process id expected, not {n} {pid}"),
            )),
        },
        ["restart", n] => c.restart(n),
        ["partition", nodes @ ..] if !nodes.is_empty() => c.partition(nodes),
        ["heal"] => c.heal(),
        ["cut", a, b] => c.set_link(a, b, false),
        ["restore", a, b] => c.set_link(a, b, true),
        ["detach", n, r, ..] => c.set_disk(n, r, vol(3), false, false),
        ["attach", n, r, ..] => c.set_disk(n, r, vol(3), true, false),
        ["fail-disk", n, r, ..] => c.set_disk(n, r, vol(3), false, true),
        ["open", n, r, ..] => c.set_open(n, r, vol(3), true),
        ["close", n, r, ..] => c.set_open(n, r, vol(3), false),
        ["write", n, r, rest @ ..] => {
            let kib = rest.first().and_then(|k| k.parse().ok()).unwrap_or(1024);
            c.write(n, r, kib)
        }
        ["read", n, r, rest @ ..] => {
            let kib = rest.first().and_then(|k| k.parse().ok()).unwrap_or(1024);
            c.read(n, r, kib)
        }
        ["primary", n, r] => c.primary(n, r, false),
        ["secondary", n, r] => c.secondary(n, r, false),
        ["connect", n, r] => c.connect(n, r, false),
        ["connect", n, r, "--discard-my-data"] => c.connect(n, r, true),
        ["tick", ms] => match ms.parse() {
            Ok(ms) => {
                c.tick(ms);
                Ok(())
            }
            Err(_) => Err(Failure::new(20, "tick: milliseconds expected")),
        },
        ["kill-events2", n] => return Action::KillStreams(n.to_string(), Reply::ok("")),
        _ => Err(Failure::new(
            20,
            format!("unknown ctl command {s:?}\n{CTL_HELP}"),
        )),
    };
    Action::Reply(r.into())
}

/// A fresh printer for an events2 invocation.
pub fn printer(e: &Events2) -> Printer {
    Printer::new(e.opts, e.filter.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_codes_are_hex_of_major_minor_patch() {
        let v = version();
        assert!(v.contains("DRBDADM_VERSION_CODE=0x091d00\n"), "{v}");
        assert!(v.contains("DRBD_KERNEL_VERSION_CODE=0x09020c\n"), "{v}");
    }

    #[test]
    fn options_take_values_inline_or_as_the_next_argument() {
        let args: Vec<String> = [
            "resource-options",
            "--on-no-quorum",
            "io-error",
            "--force=yes",
            "r0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let a = parse_args(&args, &["on-no-quorum"]);
        assert_eq!(a.positional, ["resource-options", "r0"]);
        assert_eq!(a.value("on-no-quorum"), Some("io-error"));
        assert_eq!(a.value("force"), Some("yes"));
        assert_eq!(a.unknown(&["on-no-quorum"]), Some("force"));
    }

    #[test]
    fn events2_color_is_on_only_for_always_or_bare_color() {
        let mut c = Cluster::new(crate::config::ClusterConfig::simple(&["a"], "r0"));
        let mut decor = |flag: &str| match drbdsetup(&mut c, "a", &["events2".into(), flag.into()])
        {
            Action::Events2(e) => e.decor,
            other => panic!("{other:?}"),
        };
        assert!(decor("--color").color);
        assert!(decor("--color=always").color);
        assert!(!decor("--color=never").color);
        assert!(decor("--diff").diff);
    }

    #[test]
    fn a_bare_color_takes_no_value_so_the_next_option_and_the_filter_stay() {
        let mut c = Cluster::new(crate::config::ClusterConfig::simple(&["a"], "r0"));
        let args: Vec<String> = ["events2", "--color", "--now", "r0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        match drbdsetup(&mut c, "a", &args) {
            Action::Events2(e) => {
                assert!(e.decor.color);
                assert!(e.now, "--now was taken as the colour");
                assert_eq!(e.filter.as_deref(), Some("r0"));
            }
            other => panic!("{other:?}"),
        }
        let rcvbuf: Vec<String> = ["events2", "--rcvbuf=1048576", "--now"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(matches!(
            drbdsetup(&mut c, "a", &rcvbuf),
            Action::Events2(_)
        ));
    }
}
