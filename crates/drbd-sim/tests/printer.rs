//! The events2 printer over the model: what a kernel notification prints versus an `n`
//! refresh, `--full` change lines, and resource filters.

use drbd_sim::config::ClusterConfig;
use drbd_sim::model::Cluster;
use drbd_sim::printer::{Options, Printer};

const FULL: Options = Options {
    statistics: false,
    full: true,
};

fn text(lines: &[drbd::Line]) -> Vec<String> {
    lines.iter().map(|l| l.to_string()).collect()
}

#[test]
fn counters_alone_print_nothing_until_an_n_refresh() {
    let mut c = Cluster::new(ClusterConfig::simple(&["a", "b"], "r0"));
    c.primary("a", "r0", false).unwrap();
    let mut p = Printer::new(FULL, None);
    p.dump(&c.view("a"));
    c.write("a", "r0", 1024).unwrap();
    assert!(p.update(&c.view("a"), false).is_empty());
    let lines = text(&p.update(&c.view("a"), true));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("change device name:r0 volume:0 minor:1000 "));
    assert!(lines[0].contains(" written:1024 "), "{}", lines[0]);
    assert!(
        !lines[0].contains("blocked:"),
        "--full does not force blocked"
    );
    assert!(lines[1].starts_with("change peer-device name:r0 peer-node-id:1 conn-name:b volume:0"));
    assert!(lines[1].contains(" sent:1024 "), "{}", lines[1]);
    assert!(
        p.update(&c.view("a"), true).is_empty(),
        "nothing changed since"
    );
}

#[test]
fn full_change_lines_carry_every_key_of_their_kind() {
    let mut c = Cluster::new(ClusterConfig::simple(&["a", "b"], "r0"));
    let mut p = Printer::new(FULL, None);
    p.dump(&c.view("a"));
    c.primary("b", "r0", false).unwrap();
    let lines = text(&p.update(&c.view("a"), false));
    assert_eq!(
        lines,
        [
            "change resource name:r0 role:Secondary suspended:no force-io-failures:no write-ordering:flush may_promote:no promotion_score:10102",
            "change connection name:r0 peer-node-id:1 conn-name:b connection:Connected role:Primary congested:no ap-in-flight:0 rs-in-flight:0",
        ]
    );
}

#[test]
fn a_resource_filter_shows_only_that_resource() {
    let text_cfg = "[[node]]\nname='a'\nid=0\n[[node]]\nname='b'\nid=1\n\
                    [[resource]]\nname='r0'\n[[resource]]\nname='r1'\nport=7790\n\
                    [[resource.volume]]\nnumber=0\nminor=1001\n";
    let mut c = Cluster::new(ClusterConfig::parse(text_cfg).unwrap());
    let mut p = Printer::new(Options::default(), Some("r1".into()));
    let dump = text(&p.dump(&c.view("a")));
    assert!(
        dump.iter()
            .all(|l| l == "exists -" || l.contains("name:r1 ")),
        "{dump:?}"
    );
    assert_eq!(dump.len(), 6);
    c.primary("a", "r0", false).unwrap();
    assert!(p.update(&c.view("a"), false).is_empty());
    c.down("a", "r1").unwrap();
    let lines = text(&p.update(&c.view("a"), false));
    assert_eq!(lines.last().unwrap(), "destroy resource name:r1");
}
