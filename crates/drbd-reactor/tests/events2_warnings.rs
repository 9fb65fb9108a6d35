//! What the reader warns about in drbdsetup's lines is warned about once for the daemon, not
//! again by every drbdsetup it starts (compat D18).

mod common;
use common::*;
use std::time::Instant;

#[test]
fn warnings_about_lines_are_given_once_for_the_daemon_not_again_for_each_drbdsetup_restart() {
    let setup = Setup::new();
    // An unknown kernel value, an unknown kind of line and a rejected line in every dump; the
    // stand-in ends after each dump and is started again.
    setup.write(
        "stream",
        "exists resource name:r0 role:Secondary\n\
         exists peer-device name:r0 peer-node-id:1 conn-name:b volume:0 replication:Established peer-disk:UpToDate resync-suspended:newreason\n\
         exists gizmo name:r0\n\
         exists device name:r0 volume:x\n\
         exists -\n",
    );
    setup.write("exit-after-stream", "");
    let config = setup.config("");
    let started = Instant::now();
    let mut daemon = setup.start(&config);
    // Four children, each of which printed its whole dump.
    daemon.wait_log("ended after 5 lines", 4);
    let elapsed = started.elapsed();
    assert_eq!(
        daemon.count("'resync-suspended:newreason' is not a value this version knows"),
        1,
        "{}",
        daemon.log()
    );
    assert_eq!(
        daemon.count("lines 'exists gizmo' are not known to this version"),
        1
    );
    // One rejected-line warning per 10 s.
    let rejected = daemon.count("; every rejected line is logged at debug level");
    assert!(
        rejected >= 1 && rejected as u64 <= 1 + elapsed.as_secs() / 10,
        "{rejected} rejected-line warnings in {elapsed:?}"
    );
    assert!(daemon.stop().success());
}
