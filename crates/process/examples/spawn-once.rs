//! Spawns `sh -c true` once the way the umh runner does (cleared environment, `PATH` set,
//! own process group), for `strace -f` to show which system call starts it:
//! `strace -f -e trace=clone,clone3,vfork,fork target/debug/examples/spawn-once [bare]`.
use drbd_reactor_process::{command_in_path, spawn_group};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let path = "/sbin:/usr/sbin:/bin:/usr/bin";
    let mut cmd = if std::env::args().nth(1).as_deref() == Some("bare") {
        tokio::process::Command::new("sh")
    } else {
        command_in_path("sh", path)
    };
    cmd.arg("-c").arg("true").env_clear().env("PATH", path);
    let mut child = spawn_group(&mut cmd, Default::default()).expect("spawn sh");
    child.wait().await.expect("wait");
}
