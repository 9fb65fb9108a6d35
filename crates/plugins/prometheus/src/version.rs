//! `drbdadm --version` → the kernel module and drbd-utils versions (prometheus spec §7).
//!
//! Pure parsing; the plugin runs the command. Must never: report 0.0.0 silently — a failure
//! is an error the caller turns into `drbdreactor_drbd_version_ok 0`.

/// `DRBDADM_VERSION_CODE=0x091c00` → "9.28.0".
fn code(stdout: &str, key: &str) -> Option<String> {
    let hex = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix("=0x"))?;
    let v = u32::from_str_radix(hex, 16).ok()?;
    Some(format!(
        "{}.{}.{}",
        (v >> 16) & 0xff,
        (v >> 8) & 0xff,
        v & 0xff
    ))
}

/// (kernel module, utils) versions, or why not.
pub fn parse_versions(stdout: &str) -> Result<(String, String), String> {
    let utils = code(stdout, "DRBDADM_VERSION_CODE").ok_or("no DRBDADM_VERSION_CODE line")?;
    let kmod =
        code(stdout, "DRBD_KERNEL_VERSION_CODE").ok_or("no DRBD_KERNEL_VERSION_CODE line")?;
    Ok((kmod, utils))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_codes_split_into_major_minor_patch() {
        let out = "DRBDADM_BUILDTAG=GIT-hash\nDRBDADM_API_VERSION=2\nDRBD_KERNEL_VERSION_CODE=0x090208\nDRBDADM_VERSION_CODE=0x091c00\nDRBDADM_VERSION=9.28.0\n";
        assert_eq!(
            parse_versions(out).unwrap(),
            ("9.2.8".to_string(), "9.28.0".to_string())
        );
    }

    #[test]
    fn missing_lines_are_errors() {
        assert!(parse_versions("DRBDADM_VERSION_CODE=0x091c00\n").is_err());
        assert!(parse_versions("").is_err());
        assert!(
            parse_versions("DRBDADM_VERSION_CODE=0xzz\nDRBD_KERNEL_VERSION_CODE=0x0\n").is_err()
        );
    }
}
