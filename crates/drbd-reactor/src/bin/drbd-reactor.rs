//! The `drbd-reactor` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    drbd_reactor::daemon::main()
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
