//! The parts of event -> command start that the umh plugin owns (issue 18): matching an update
//! against five rules and building the command's environment (pure), looking `sh` up in the
//! command's PATH, and starting `sh -c true` in its own group the way the runner does, with
//! `sh` looked up by us (std uses posix_spawn: vfork) against the bare name (std falls back to
//! fork + exec). The spawns run while this process holds 64 MiB of touched heap, as a daemon
//! holding 10k resources does: fork copies the page tables of all of it.
//! `cargo bench -p drbd-reactor-umh --bench spawn`.
use criterion::{criterion_group, criterion_main, Criterion};
use drbd::{parse_line, State};
use drbd_reactor_process::{command_in_path, find_in_path, spawn_group};
use drbd_reactor_umh::matcher::invocations;
use drbd_reactor_umh::rules::UmhConfig;
use std::hint::black_box;
use std::process::Stdio;

const RULES: &str = r#"
[[resource]]
name = "probe"
command = "true"
resource-name = "r0"
[[resource]]
name = "became primary"
command = "true"
resource-name = "r9"
new.role = "Primary"
[[device]]
name = "quorum lost"
command = "true"
old.quorum = true
new.quorum = false
[[device]]
name = "quorum changed"
command = "true"
old.quorum = { operator = "NotEquals", value = false }
[[peerdevice]]
name = "peer"
command = "true"
resource-name = "r9"
"#;

const PATH: &str = "/sbin:/usr/sbin:/bin:/usr/bin";

fn match_and_env(c: &mut Criterion) {
    let config: UmhConfig = toml::from_str(RULES).unwrap();
    let mut state = State::new();
    let mut out = Vec::new();
    for line in [
        "exists resource name:r0 role:Secondary suspended:no may_promote:no promotion_score:10101",
        "exists device name:r0 volume:0 minor:1000 backing_dev:/dev/vg/r0 disk:UpToDate client:no open:no quorum:yes size:1048576",
    ] {
        state.apply(parse_line(line).unwrap().event, &mut out);
    }
    out.clear();
    state.apply(
        parse_line("change device name:r0 volume:0 minor:1000 backing_dev:/dev/vg/r0 disk:UpToDate client:no open:no quorum:no size:1048576").unwrap().event,
        &mut out,
    );
    let update = out.pop().expect("the quorum flip is an update");
    c.bench_function(
        "umh: quorum flip against 5 rules -> 2 invocations with env",
        |b| {
            b.iter(|| {
                let inv = invocations(&config, black_box(&update));
                assert_eq!(inv.len(), 2);
                inv
            })
        },
    );
    c.bench_function("umh: look sh up in the command's PATH", |b| {
        b.iter(|| find_in_path(black_box("sh"), black_box(PATH)))
    });
}

fn spawns(c: &mut Criterion) {
    // A daemon-sized heap, every page touched.
    let heap: Vec<u8> = vec![1u8; 64 << 20];
    black_box(&heap);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("umh: spawn and reap sh -c true, 64 MiB heap");
    group.sample_size(30);
    for (name, resolved) in [
        ("sh looked up by us (posix_spawn)", true),
        ("bare sh (fork+exec)", false),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut cmd = if resolved {
                    command_in_path("sh", PATH)
                } else {
                    tokio::process::Command::new("sh")
                };
                cmd.arg("-c")
                    .arg("true")
                    .env_clear()
                    .env("PATH", PATH)
                    .stdin(Stdio::null());
                rt.block_on(async {
                    let mut child = spawn_group(&mut cmd, Default::default()).unwrap();
                    child.wait().await.unwrap()
                })
            })
        });
    }
    group.finish();
    black_box(heap);
}

criterion_group!(benches, match_and_env, spawns);
criterion_main!(benches);
