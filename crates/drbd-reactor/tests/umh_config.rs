//! Malformed umh rules stop the daemon at start with the file, line and key of the mistake:
//! a typo must not turn a rule into one that matches everything.

mod common;
use common::*;

/// Starts the daemon on `rules` (after a `[[umh]]` header at line 1) and returns stderr.
fn refused(rules: &str) -> (String, String) {
    let setup = Setup::new();
    setup.write("r.toml", &format!("[[umh]]\n{rules}"));
    let path = setup.path("r.toml");
    let (status, _, stderr) = run_once(&setup, &["-c", path.to_str().unwrap()]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    (stderr, path.display().to_string())
}

#[test]
fn an_unknown_field_names_file_line_and_key() {
    let (err, file) = refused("[[umh.device]]\ncommand = \"true\"\nnew.quorom = false\n");
    assert!(
        err.contains(&format!("{file}:4")) && err.contains("quorom"),
        "{err}"
    );
}

#[test]
fn a_wrong_type_names_file_line_and_key() {
    let (err, file) = refused("[[umh.device]]\ncommand = \"true\"\nvolume = \"0\"\n");
    assert!(
        err.contains(&format!("{file}:4")) && err.contains("volume"),
        "{err}"
    );
}

#[test]
fn mixed_operator_forms_are_refused_at_their_line() {
    let (err, file) = refused("[[umh.resource]]\ncommand = \"true\"\nold.role.operator = \"NotEquals\"\nold.role = \"Primary\"\n");
    assert!(err.contains(&format!("{file}:5")), "{err}");
}

#[test]
fn an_unknown_state_name_names_file_line_and_key() {
    let (err, file) = refused("[[umh.resource]]\ncommand = \"true\"\nnew.role = \"primary\"\n");
    assert!(
        err.contains(&format!("{file}:4")) && err.contains("role"),
        "{err}"
    );
}

#[test]
fn a_misspelt_operator_key_is_refused() {
    let (err, file) = refused("[[umh.resource]]\ncommand = \"true\"\nnew.role = { value = \"Primary\", operatr = \"NotEquals\" }\n");
    assert!(
        err.contains(&format!("{file}:4")) && err.contains("operatr"),
        "{err}"
    );
}
