//! The binaries a container runs: drbd-reactor, drbd-reactorctl, ocf-rs-wrapper and drbd-sim
//! (its shims). No manifest can depend on another package's binary, so the first caller builds
//! them with the cargo that runs the tests, into this test's target directory and profile.
//!
//! Must never: fall back to binaries found elsewhere on the host.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const PACKAGES: &[&str] = &[
    "drbd-reactor",
    "drbd-reactorctl",
    "ocf-rs-wrapper",
    "drbd-sim",
];

/// The directory holding the freshly built binaries (bind-mounted into every container).
pub struct Bins {
    pub dir: PathBuf,
}

impl Bins {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Builds the binaries once per test process and returns where they are. Panics with cargo's
/// output when the build fails.
pub fn bins() -> &'static Bins {
    static BUILT: OnceLock<Bins> = OnceLock::new();
    BUILT.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        // target/<profile>/deps/<test binary>
        let profile_dir = exe.parent().and_then(Path::parent).expect("profile dir");
        let target_dir = profile_dir.parent().expect("target dir");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev".to_string(),
            Some(p) => p.to_string(),
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(&workspace).args(["build", "--quiet"]);
        for p in PACKAGES {
            cmd.args(["-p", p]);
        }
        let out = cmd
            .args(["--bins", "--profile", &profile, "--target-dir"])
            .arg(target_dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
        assert!(
            out.status.success(),
            "building {PACKAGES:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for p in PACKAGES {
            let bin = profile_dir.join(p);
            assert!(
                bin.is_file(),
                "{} is missing after the build",
                bin.display()
            );
        }
        Bins {
            dir: profile_dir.to_path_buf(),
        }
    })
}
