//! `drbd-sim`: the server, the ctl client, the shims (by argv[0]: `drbdsetup`, `drbdadm`)
//! and the demo.

use drbd_sim::commands::CTL_HELP;
use drbd_sim::config::ClusterConfig;
use drbd_sim::server::{install_shims, Request, Sim};
use std::path::{Path, PathBuf};

const HELP: &str = "\
usage:
  drbd-sim serve --cluster FILE --socket PATH [--speed N]
  drbd-sim ctl [--socket PATH] COMMAND...      (or DRBD_SIM_SOCKET)
  drbd-sim install-shims DIR --node NODE --socket PATH
  drbd-sim demo [--interactive] [--dir DIR]
  drbd-sim example-cluster
Started as drbdsetup or drbdadm (a symlink), it is that shim.
";

fn flag(args: &mut Vec<String>, name: &str) -> Option<String> {
    let i = args.iter().position(|a| a == name)?;
    args.remove(i);
    (i < args.len()).then(|| args.remove(i))
}

fn switch(args: &mut Vec<String>, name: &str) -> bool {
    let i = args.iter().position(|a| a == name);
    if let Some(i) = i {
        args.remove(i);
    }
    i.is_some()
}

fn die(msg: &str) -> ! {
    eprintln!("drbd-sim: {msg}");
    std::process::exit(20)
}

fn main() {
    let mut argv: Vec<String> = std::env::args().collect();
    let argv0 = argv.remove(0);
    let base = Path::new(&argv0)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if base == "drbdsetup" || base == "drbdadm" {
        std::process::exit(drbd_sim::shim::run(&base, &argv0, argv));
    }
    let mut args = argv;
    if args.is_empty() {
        print!("{HELP}");
        std::process::exit(20);
    }
    let cmd = args.remove(0);
    match cmd.as_str() {
        "serve" => {
            let file = flag(&mut args, "--cluster")
                .unwrap_or_else(|| die("serve: --cluster FILE missing"));
            let socket =
                flag(&mut args, "--socket").unwrap_or_else(|| die("serve: --socket PATH missing"));
            let speed = flag(&mut args, "--speed")
                .and_then(|s| s.parse().ok())
                .unwrap_or(1);
            let text =
                std::fs::read_to_string(&file).unwrap_or_else(|e| die(&format!("{file}: {e}")));
            let cfg = ClusterConfig::parse(&text).unwrap_or_else(|e| die(&format!("{file}: {e}")));
            let cluster = drbd_sim::model::Cluster::new(cfg);
            let _sim = Sim::start(cluster, Path::new(&socket), Some(100), speed)
                .unwrap_or_else(|e| die(&format!("{socket}: {e}")));
            eprintln!("drbd-sim: serving on {socket}");
            loop {
                std::thread::park();
            }
        }
        "ctl" => {
            let socket = flag(&mut args, "--socket")
                .or_else(|| std::env::var("DRBD_SIM_SOCKET").ok())
                .unwrap_or_else(|| die("ctl: --socket PATH or DRBD_SIM_SOCKET missing"));
            if args.is_empty() || args[0] == "help" {
                print!("{CTL_HELP}");
                return;
            }
            let req = Request {
                node: String::new(),
                program: "ctl".into(),
                args,
            };
            std::process::exit(drbd_sim::shim::send(Path::new(&socket), &req, false));
        }
        "install-shims" => {
            let node =
                flag(&mut args, "--node").unwrap_or_else(|| die("install-shims: --node missing"));
            let socket = flag(&mut args, "--socket")
                .unwrap_or_else(|| die("install-shims: --socket missing"));
            let dir = args
                .first()
                .cloned()
                .unwrap_or_else(|| die("install-shims: DIR missing"));
            let me = std::env::current_exe().unwrap_or_else(|e| die(&e.to_string()));
            let socket = std::path::absolute(&socket).unwrap_or_else(|_| PathBuf::from(&socket));
            install_shims(&me, Path::new(&dir), &node, &socket)
                .unwrap_or_else(|e| die(&format!("{dir}: {e}")));
        }
        "demo" => {
            let interactive = switch(&mut args, "--interactive");
            let dir = flag(&mut args, "--dir").map(PathBuf::from);
            std::process::exit(drbd_sim::demo::run(interactive, dir));
        }
        "example-cluster" => print!("{}", drbd_sim::demo::CLUSTER),
        "--help" | "-h" | "help" => print!("{HELP}"),
        other => die(&format!("unknown command {other}\n{HELP}")),
    }
}
