//! `drbd-sim`: the server, the ctl client, the shims (by argv[0]: `drbdsetup`, `drbdadm`)
//! and the demo. The command line is `drbd_sim::cli`; this is only the dispatch. Must never
//! panic on its arguments: a shim's failure is an exit code, as drbdsetup's would be.

use clap::Parser;
use drbd_sim::cli::{Cli, Command};
use drbd_sim::commands::CTL_HELP;
use drbd_sim::config::ClusterConfig;
use drbd_sim::server::{install_shims, Request, Sim};
use std::path::Path;

fn die(msg: &str) -> ! {
    eprintln!("drbd-sim: {msg}");
    std::process::exit(20)
}

fn main() {
    // Not `env::args`, which panics on an argument that is not UTF-8: drbdsetup and drbdadm
    // refuse such an argument as a usage error (exit 20).
    let argv0 = std::env::args_os()
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = Path::new(&argv0)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if base == "drbdsetup" || base == "drbdadm" {
        let args: Result<Vec<String>, _> = std::env::args_os()
            .skip(1)
            .map(|a| a.into_string())
            .collect();
        let Ok(args) = args else {
            eprintln!("{base}: an argument is not valid UTF-8");
            std::process::exit(20);
        };
        std::process::exit(drbd_sim::shim::run(&base, &argv0, args));
    }
    match Cli::parse().command {
        Command::Serve {
            cluster,
            socket,
            speed,
        } => {
            let file = cluster.display().to_string();
            let text =
                std::fs::read_to_string(&cluster).unwrap_or_else(|e| die(&format!("{file}: {e}")));
            let cfg = ClusterConfig::parse(&text).unwrap_or_else(|e| die(&format!("{file}: {e}")));
            let cluster = drbd_sim::model::Cluster::new(cfg);
            let _sim = Sim::start(cluster, &socket, Some(100), speed)
                .unwrap_or_else(|e| die(&format!("{}: {e}", socket.display())));
            eprintln!("drbd-sim: serving on {}", socket.display());
            loop {
                std::thread::park();
            }
        }
        Command::Ctl { socket, args } => {
            if args.is_empty() || args[0] == "help" {
                print!("{CTL_HELP}");
                return;
            }
            let req = Request {
                node: String::new(),
                program: "ctl".into(),
                args,
            };
            std::process::exit(drbd_sim::shim::send(&socket, &req, false));
        }
        Command::InstallShims { dir, node, socket } => {
            let me = std::env::current_exe().unwrap_or_else(|e| die(&e.to_string()));
            let socket = std::path::absolute(&socket).unwrap_or(socket);
            install_shims(&me, &dir, &node, &socket)
                .unwrap_or_else(|e| die(&format!("{}: {e}", dir.display())));
        }
        Command::Demo { interactive, dir } => {
            std::process::exit(drbd_sim::demo::run(interactive, dir));
        }
        Command::ExampleCluster => print!("{}", drbd_sim::demo::CLUSTER),
    }
}
