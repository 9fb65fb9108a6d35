//! The umh plugin end to end: updates from the core run the rules they match and are counted.

use drbd::{parse_line, PluginUpdate, State};
use drbd_reactor_plugin::UpdateSource;
use drbd_reactor_umh::plugin::run;
use drbd_reactor_umh::rules::UmhConfig;
use std::sync::Arc;

struct Queue(std::collections::VecDeque<Arc<PluginUpdate>>);
impl UpdateSource for Queue {
    type Update = Arc<PluginUpdate>;
    async fn next(&mut self) -> Option<Arc<PluginUpdate>> {
        self.0.pop_front()
    }
}

#[tokio::test]
async fn matching_updates_run_their_rules_and_the_counters_see_them() {
    let dir = tempfile::tempdir().unwrap();
    let config: UmhConfig = toml::from_str(&format!(
        "[[device]]\nname = \"lost\"\ncommand = \"echo $DRBD_RES_NAME >> {}/fired\"\nold.quorum = true\nnew.quorum = false\n",
        dir.path().display()
    ))
    .unwrap();
    let mut s = State::new();
    let mut out = Vec::new();
    for l in [
        "exists device name:r0 volume:0 minor:1 disk:UpToDate client:no open:no quorum:yes",
        "change device name:r0 volume:0 minor:1 disk:UpToDate client:no open:no quorum:no",
        "change device name:r0 volume:0 minor:1 disk:UpToDate client:no open:no quorum:yes",
        "change device name:r0 volume:0 minor:1 disk:UpToDate client:no open:no quorum:no",
    ] {
        s.apply(parse_line(l).unwrap().event, &mut out);
    }
    let counters = Arc::new(Default::default());
    let updates = Queue(out.into_iter().map(Arc::new).collect());
    run(config, updates, Arc::clone(&counters)).await.unwrap();
    // The commands finish on their own after the plugin stopped; poll with a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let fired = loop {
        let f = std::fs::read_to_string(dir.path().join("fired")).unwrap_or_default();
        if f.lines().count() == 2 || std::time::Instant::now() > deadline {
            break f;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(fired, "r0\nr0\n");
}
