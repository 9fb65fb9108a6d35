//! How long `load` takes for a main file plus many snippets (each parsed on its own,
//! keys located). Run: `cargo bench -p drbd-reactor-config --bench load`.

use std::time::Instant;

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let snippets = dir.path().join("snippets");
    std::fs::create_dir(&snippets).expect("mkdir");
    let main = dir.path().join("drbd-reactor.toml");
    std::fs::write(
        &main,
        format!(
            "snippets = \"{}\"\n[[log]]\nlevel = \"info\"\n",
            snippets.display()
        ),
    )
    .expect("write main");
    const SNIPPETS: usize = 200;
    for i in 0..SNIPPETS {
        std::fs::write(
            snippets.join(format!("{i:03}-res.toml")),
            format!(
                "[[promoter]]\n[promoter.resources.res{i}]\nstart = [\"mnt-{i}.mount\", \"svc-{i}.service\"]\non-drbd-demote-failure = \"reboot\"\n\n[[umh]]\n[[umh.resource]]\ncommand = \"echo {i}\"\nevent-type = \"Change\"\nresource-name = \"res{i}\"\n"
            ),
        )
        .expect("write snippet");
    }
    let rounds = 20;
    let start = Instant::now();
    for _ in 0..rounds {
        let config = drbd_reactor_config::load(&main).expect("load");
        assert_eq!(config.plugins.len(), 2 * SNIPPETS);
    }
    let per_load = start.elapsed() / rounds;
    println!(
        "load: main + {SNIPPETS} snippets ({} plugin sections): {per_load:?} per load",
        2 * SNIPPETS
    );
}
