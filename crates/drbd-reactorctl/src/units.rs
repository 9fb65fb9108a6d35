//! systemd unit names ctl derives from promoter resources (spec promoter.md §3.4, §3.5,
//! ctl.md §7): taken from the promoter crate itself (`drbd_reactor_promoter::units`), so ctl
//! and the daemon can never disagree on a name. Pure; must never re-derive a name on its own.

use drbd_reactor_promoter::units;

/// `drbd-services@ESC(res).target`
pub fn target(res: &str) -> String {
    units::target(res)
}

/// `drbd-promote@ESC(res).service`
pub fn promote(res: &str) -> String {
    units::promote(res)
}

/// The unit a start entry means: `ocf:<vendor>:<agent> <instance> ...` becomes
/// `ocf.rs@ESC(<instance>_<res>).service`, anything else is the trimmed entry itself.
pub fn start_unit(entry: &str, res: &str) -> Result<String, String> {
    units::resolve_entry(res, entry)
        .map(|unit| unit.name)
        .map_err(|e| format!("start entry '{}': {e}", entry.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ocf_entries_become_ocf_rs_units_and_others_stay_verbatim() {
        let args = "ocf:vendor1:agent1 name1\nk1=v1 \nk2=\"with whitespace\" k3=with\\ different\\ whitespace foo empty='' pass='*pass/'";
        assert_eq!(
            start_unit(args, "res1").unwrap(),
            "ocf.rs@name1_res1.service"
        );
        assert_eq!(
            start_unit("ocf:v:a name-1 x=1", "res-1").unwrap(),
            "ocf.rs@name\\x2d1_res\\x2d1.service"
        );
        assert_eq!(start_unit(" a.mount ", "r").unwrap(), "a.mount");
        assert_eq!(
            start_unit("ocf:heartbeat:IPaddr2", "r").unwrap(),
            "ocf:heartbeat:IPaddr2"
        );
        let err = start_unit("ocf:v:a 'unbalanced", "r").unwrap_err();
        assert!(
            err.starts_with("start entry 'ocf:v:a 'unbalanced'"),
            "{err}"
        );
        assert_eq!(target("linstor_db"), "drbd-services@linstor_db.target");
        assert_eq!(target(".x/y"), "drbd-services@\\x2ex-y.target");
        assert_eq!(promote("r-1"), "drbd-promote@r\\x2d1.service");
    }
}
