//! The drbd-utils and kernel module version gate (spec §1.1, errata B): a `[[promoter]]`
//! needs drbd-utils ≥ 9.29.0 (the unit templates) and DRBD ≥ 9.1.7 (`secondary --force`).
//!
//! Pure: parses `drbdadm --version` output; the daemon runs the command. Must never: accept
//! a version it could not read.

pub const MIN_UTILS: (u32, u32, u32) = (9, 29, 0);
pub const MIN_KERNEL: (u32, u32, u32) = (9, 1, 7);

fn code(stdout: &str, key: &str) -> Result<(u32, u32, u32), String> {
    let hex = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix("=0x"))
        .ok_or_else(|| {
            format!("Could not determine version from pattern '^{key}=0x([[:xdigit:]]+)$'")
        })?;
    let v = u32::from_str_radix(hex, 16).map_err(|_| {
        format!("Could not determine version from pattern '^{key}=0x([[:xdigit:]]+)$'")
    })?;
    Ok(((v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff))
}

fn show(v: (u32, u32, u32)) -> String {
    format!("{}.{}.{}", v.0, v.1, v.2)
}

/// Why the gate did not let a promoter run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No DRBD kernel module (yet): a boot that starts the daemon before loading it passes
    /// later with nothing changed here, so this is worth trying again.
    ModuleNotLoaded,
    /// A version too old or unreadable: passes only after an upgrade.
    Unfit(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::ModuleNotLoaded => {
                f.write_str("Looks like the DRBD kernel module is not installed or not loaded")
            }
            Refusal::Unfit(why) => f.write_str(why),
        }
    }
}

/// Checks the output of `drbdadm --version`.
pub fn check(stdout: &str) -> Result<(), Refusal> {
    let utils = code(stdout, "DRBDADM_VERSION_CODE").map_err(Refusal::Unfit)?;
    if utils < MIN_UTILS {
        return Err(Refusal::Unfit(format!(
            "drbdsetup minimum version ('{}') not fulfilled by '{}'",
            show(MIN_UTILS),
            show(utils)
        )));
    }
    let kernel = code(stdout, "DRBD_KERNEL_VERSION_CODE").map_err(Refusal::Unfit)?;
    if kernel == (0, 0, 0) {
        return Err(Refusal::ModuleNotLoaded);
    }
    if kernel < MIN_KERNEL {
        return Err(Refusal::Unfit(format!(
            "DRBD kernel module minimum version ('{}') not fulfilled by '{}'",
            show(MIN_KERNEL),
            show(kernel)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_utils_and_module_pass() {
        check("DRBDADM_BUILDTAG=x\nDRBDADM_API_VERSION=2\nDRBD_KERNEL_VERSION_CODE=0x090200\nDRBDADM_VERSION_CODE=0x091d00\n").unwrap();
    }

    #[test]
    fn debian_12_utils_without_module_is_refused() {
        let e = check("DRBDADM_VERSION_CODE=0x091600\nDRBD_KERNEL_VERSION_CODE=0x000000\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "drbdsetup minimum version ('9.29.0') not fulfilled by '9.22.0'"
        );
        let e = check("DRBDADM_VERSION_CODE=0x091d00\nDRBD_KERNEL_VERSION_CODE=0x000000\n")
            .unwrap_err();
        assert_eq!(e, Refusal::ModuleNotLoaded, "worth trying again later");
        assert!(e
            .to_string()
            .starts_with("Looks like the DRBD kernel module"));
        let e = check("DRBDADM_VERSION_CODE=0x091d00\nDRBD_KERNEL_VERSION_CODE=0x090106\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "DRBD kernel module minimum version ('9.1.7') not fulfilled by '9.1.6'"
        );
    }

    #[test]
    fn unreadable_output_is_an_error() {
        assert!(check("garbage")
            .unwrap_err()
            .to_string()
            .starts_with("Could not determine version"));
    }
}
