//! `cargo run -p drbd-reactor-docgen`: rewrites man/*.1 and completions/ from the clap
//! definitions (run it after changing a command line; `tests/current.rs` reminds you).

fn main() -> std::process::ExitCode {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match drbd_reactor_docgen::write_all(&root) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
