//! `parse_one`: one file's text read as the daemon reads it, for tools that validate.
use drbd_reactor_config::{parse_one, PluginKind};
use std::path::Path;

#[test]
fn a_snippet_text_rejects_global_keys_and_a_main_text_does_not_read_its_snippets() {
    let err = parse_one(
        Path::new("/d/x.toml"),
        "snippets = \"/x\"\n[[debugger]]\n",
        true,
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("/d/x.toml:1:1: key 'snippets'"),
        "{err}"
    );
    let main = parse_one(
        Path::new("/etc/r.toml"),
        "snippets = \"/nonexistent\"\n[[umh]]\n",
        false,
    )
    .unwrap();
    assert_eq!(main.snippets.as_deref(), Some(Path::new("/nonexistent")));
    assert_eq!(main.plugins_of(PluginKind::Umh).count(), 1);
    let err = parse_one(Path::new("/d/y.toml"), "[[prometheus]]\naddress = \n", true).unwrap_err();
    assert!(err.to_string().starts_with("/d/y.toml:2:"), "{err}");
}
