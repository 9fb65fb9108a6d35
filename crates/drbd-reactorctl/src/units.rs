//! systemd unit names ctl derives from promoter resources (spec promoter.md §3.4, §3.5,
//! ctl.md §7): escaping, target/promote units, OCF start entries. Pure; must stay identical
//! to the promoter's own rules.

/// systemd unit-name escaping (as `systemd-escape` without `--path`).
pub fn escape(name: &str) -> String {
    let mut out = String::new();
    for (i, byte) in name.bytes().enumerate() {
        match byte {
            b'/' => out.push('-'),
            b':' | b'_' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' => out.push(byte as char),
            b'.' if i > 0 => out.push('.'),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out
}

/// `drbd-services@ESC(res).target`
pub fn target(res: &str) -> String {
    format!("drbd-services@{}.target", escape(res))
}

/// `drbd-promote@ESC(res).service`
pub fn promote(res: &str) -> String {
    format!("drbd-promote@{}.service", escape(res))
}

/// The unit a start entry means: `ocf:<vendor>:<agent> <instance> ...` becomes
/// `ocf.rs@ESC(<instance>_<res>).service`, anything else is the trimmed entry itself.
pub fn start_unit(entry: &str, res: &str) -> Result<String, String> {
    let entry = entry.trim();
    let Some(rest) = entry.strip_prefix("ocf:") else {
        return Ok(entry.to_string());
    };
    let Some(split) = rest.find(char::is_whitespace) else {
        return Ok(entry.to_string());
    };
    let (head, args) = rest.split_at(split);
    // vendor:agent, both non-empty (the last colon separates them)
    match head.rfind(':') {
        Some(colon) if colon > 0 && colon + 1 < head.len() => {}
        _ => return Ok(entry.to_string()),
    }
    let words = shlex::split(args)
        .ok_or_else(|| format!("start entry '{entry}': cannot split its arguments"))?;
    let instance = words.first().ok_or_else(|| {
        format!("start entry '{entry}': agent needs at least one argument (its name)")
    })?;
    Ok(format!(
        "ocf.rs@{}.service",
        escape(&format!("{instance}_{res}"))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_the_spec_examples() {
        assert_eq!(escape("my-res.1_x/y:z"), "my\\x2dres.1_x-y:z");
        assert_eq!(escape(".hidden"), "\\x2ehidden");
        assert_eq!(escape("res-1"), "res\\x2d1");
        assert_eq!(escape(""), "");
    }

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
        assert!(start_unit("ocf:v:a 'unbalanced", "r").is_err());
        assert_eq!(target("linstor_db"), "drbd-services@linstor_db.target");
        assert_eq!(promote("r-1"), "drbd-promote@r\\x2d1.service");
    }
}
