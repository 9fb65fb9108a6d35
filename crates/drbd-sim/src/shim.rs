//! The `drbdsetup`/`drbdadm` shims: find the node and the server, send the command line,
//! copy the answer to stdout/stderr and exit with its code. Under `events2 --poll` stdin
//! bytes are forwarded and EOF of stdin ends the process with 0, as drbdsetup does.
//!
//! Must never: interpret a command itself; the server decides everything.

use crate::server::{Answer, Request, EXIT_MARK};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// `drbd-sim.toml` beside the shims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimConfig {
    pub node: String,
    pub socket: PathBuf,
}

/// The directory the program was started from (argv[0], or its PATH entry).
fn program_dir(argv0: &str) -> Option<PathBuf> {
    let p = Path::new(argv0);
    if argv0.contains('/') {
        return p.parent().map(Path::to_path_buf);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|d| d.join(argv0).exists())
}

/// Locates node and socket: DRBD_SIM_NODE and DRBD_SIM_SOCKET, else drbd-sim.toml.
pub fn locate(argv0: &str) -> Result<ShimConfig, String> {
    if let (Ok(node), Ok(socket)) = (
        std::env::var("DRBD_SIM_NODE"),
        std::env::var("DRBD_SIM_SOCKET"),
    ) {
        return Ok(ShimConfig {
            node,
            socket: socket.into(),
        });
    }
    let dir = program_dir(argv0).ok_or("cannot find the shim's directory")?;
    let file = dir.join("drbd-sim.toml");
    let text = std::fs::read_to_string(&file).map_err(|e| {
        format!(
            "{}: {e} (set DRBD_SIM_NODE and DRBD_SIM_SOCKET)",
            file.display()
        )
    })?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))
}

/// Runs one shim invocation and returns the exit code.
pub fn run(program: &str, argv0: &str, args: Vec<String>) -> i32 {
    let cfg = match locate(argv0) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{program}: {e}");
            return 20;
        }
    };
    let poll = args.iter().any(|a| a == "--poll");
    let args = if program == "drbdsetup" {
        resolve_color(args)
    } else {
        args
    };
    let req = Request {
        node: cfg.node,
        program: program.to_string(),
        args,
    };
    send(&cfg.socket, &req, poll)
}

/// `--color=auto` (the default) colours only on a terminal; the server cannot tell, so the
/// shim decides: `always` or `never`.
fn resolve_color(mut args: Vec<String>) -> Vec<String> {
    use std::io::IsTerminal;
    if let Some(i) = args.iter().position(|a| a == "--color=auto") {
        args.remove(i);
    } else if args.iter().any(|a| a.starts_with("--color")) {
        return args;
    }
    let mode = if std::io::stdout().is_terminal() {
        "always"
    } else {
        "never"
    };
    args.push(format!("--color={mode}"));
    args
}

/// Sends a request and relays the answer; returns the exit code.
pub fn send(socket: &Path, req: &Request, poll: bool) -> i32 {
    let mut conn = match UnixStream::connect(socket) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "{}: cannot reach the simulator at {}: {e}",
                req.program,
                socket.display()
            );
            return 20;
        }
    };
    let mut text = serde_json::to_string(req).unwrap();
    text.push('\n');
    if conn.write_all(text.as_bytes()).is_err() {
        return 20;
    }
    let mut reader = BufReader::new(conn.try_clone().expect("socket clone"));
    let mut first = String::new();
    if reader.read_line(&mut first).unwrap_or(0) == 0 {
        eprintln!("{}: the simulator closed the connection", req.program);
        return 20;
    }
    match serde_json::from_str::<Answer>(&first) {
        Ok(Answer::Reply(r)) => {
            print!("{}", r.stdout);
            eprint!("{}", r.stderr);
            let _ = std::io::stdout().flush();
            r.code
        }
        Ok(Answer::Stream) => stream(conn, reader, poll),
        Err(e) => {
            eprintln!("{}: bad answer from the simulator: {e}", req.program);
            20
        }
    }
}

fn stream(conn: UnixStream, mut reader: BufReader<UnixStream>, poll: bool) -> i32 {
    // drbdsetup looks at stdin only after the initial dump (events2 spec §1.3): an EOF on
    // stdin (`</dev/null`) must not cut the dump short.
    let mut to_server = poll.then_some(conn);
    let stdout = std::io::stdout();
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return 20,
            Ok(_) => {}
        }
        if let Some(code) = line.strip_prefix(EXIT_MARK) {
            return code.trim().parse().unwrap_or(20);
        }
        let mut out = stdout.lock();
        if out
            .write_all(line.as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            return 0;
        }
        if line.ends_with("exists -\n") {
            if let Some(conn) = to_server.take() {
                follow_stdin(conn);
            }
        }
    }
}

/// `--poll`: forwards `n` and newlines to the server; any other byte or EOF ends drbdsetup.
fn follow_stdin(mut to_server: UnixStream) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut byte = [0u8; 1];
        loop {
            match stdin.read(&mut byte) {
                Ok(1) => {
                    if to_server.write_all(&byte).is_err() {
                        break;
                    }
                    if byte[0] != b'n' && byte[0] != b'\n' {
                        std::process::exit(0);
                    }
                }
                _ => std::process::exit(0),
            }
        }
    });
}
