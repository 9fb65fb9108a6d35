//! A loop device over a formatted image file, for agents that mount a block device
//! (ocf:heartbeat:Filesystem) or a stand-in backing device. Bind it into a container with
//! `Spec::bind(&loop_device.device)`.
//!
//! Must never: detach a loop device it did not attach.

use crate::host::{require_host, run_host, BASE};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A loop device over an image file, detached (and the image removed) on drop.
pub struct LoopDevice {
    pub device: PathBuf,
    image: PathBuf,
}

impl LoopDevice {
    /// A fresh `size_mib` image under the harness directory, formatted with `mkfs_args`
    /// (`["mkfs.ext4", "-q"]`, the image path is appended), attached to a free loop device.
    pub fn formatted(name: &str, size_mib: u64, mkfs_args: &[&str]) -> LoopDevice {
        require_host();
        let dir = Path::new(BASE).join("images");
        fs::create_dir_all(&dir).expect("image directory");
        let image = dir.join(format!("{name}.img"));
        let _ = fs::remove_file(&image);
        let file = fs::File::create(&image).expect("image file");
        file.set_len(size_mib << 20).expect("image size");
        drop(file);
        let (mkfs, rest) = mkfs_args.split_first().expect("mkfs command");
        run_host(Command::new(mkfs).args(rest).arg(&image))
            .unwrap_or_else(|e| panic!("{mkfs_args:?} {}: {e}", image.display()));
        let out = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&image)
            .output()
            .expect("running losetup");
        assert!(
            out.status.success(),
            "losetup --find --show {}: {} (are loop devices available on this host?)",
            image.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let device = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        LoopDevice { device, image }
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.device).output();
        let _ = fs::remove_file(&self.image);
    }
}
