//! Loading never panics, whatever the files hold: arbitrary bytes, arbitrary text, and valid
//! configurations with bytes inserted or removed anywhere. Every error still renders.

mod common;

use common::Setup;
use drbd_reactor_config::{load, logging::Logger, PluginKind, Strictness};
use proptest::prelude::*;

const VALID: &str = r#"snippets = "{snippets}"
statistics-poll-interval = 60
[[log]]
level = "debug"
file = "/nonexistent/dir/r.log"
[[prometheus]]
address = "[::]:9942"
enums = true
[[umh]]
[[umh.resource]]
command = "true"
new.role = { operator = "NotEquals", value = "Primary" }
[[promoter]]
[promoter.resources.r0]
start = ["a.service", "b.service"]
"#;

/// Loads `main` (and `snippet`) and exercises everything a daemon does with the result.
fn load_everything(main: &[u8], snippet: &[u8]) {
    let setup = Setup::new();
    std::fs::create_dir_all(setup.snippets_dir()).unwrap();
    let main_text = String::from_utf8_lossy(main)
        .replace("{snippets}", &setup.snippets_dir().display().to_string());
    let path = setup.path("drbd-reactor.toml");
    std::fs::write(&path, main_text.as_bytes()).unwrap();
    std::fs::write(setup.snippets_dir().join("s.toml"), snippet).unwrap();
    match load(&path) {
        Err(err) => drop(err.to_string()),
        Ok(config) => {
            for warning in &config.warnings {
                drop(warning.to_string());
            }
            for kind in PluginKind::ALL {
                for section in config.plugins_of(kind) {
                    let parsed = section.parse::<toml::Table>(Strictness::RejectUnknownKeys);
                    if let Err(err) = parsed {
                        drop(err.to_string());
                    }
                }
            }
            if let Err(err) = Logger::new(&config.log) {
                drop(err.to_string());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_bytes_never_make_loading_panic(
        main in proptest::collection::vec(any::<u8>(), 0..200),
        snippet in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        load_everything(&main, &snippet);
    }

    #[test]
    fn arbitrary_text_never_makes_loading_panic(main in "\\PC{0,200}", snippet in "[\\[\\]=a-z\"., \n\t{}-]{0,120}") {
        load_everything(main.as_bytes(), snippet.as_bytes());
    }

    #[test]
    fn a_mangled_valid_configuration_never_makes_loading_panic(
        cuts in proptest::collection::vec((0usize..VALID.len(), 0usize..4, "[\\[\\]=\"{}.,\n\t #a-z0-9\u{7f}\u{85}é\0-]{0,3}"), 1..4),
        snippet_cut in 0usize..VALID.len(),
    ) {
        let mut text = VALID.as_bytes().to_vec();
        for (at, remove, insert) in cuts {
            let at = at.min(text.len());
            let end = (at + remove).min(text.len());
            text.splice(at..end, insert.bytes());
        }
        load_everything(&text, &VALID.as_bytes()[snippet_cut..]);
    }
}
