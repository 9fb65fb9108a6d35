//! `ls` (spec ctl.md §4.2): one line per plugin instance of a snippet, with the promoter's
//! abbreviated start list. Pure rendering; the caller prints `<path>:` before parsing.

use crate::snippet::{display_address, Plugin};

const SHOWN: usize = 3;
const WIDTH: usize = 80;

/// `start = [...]`: at most three entries plus `"..."`; one entry per line (three spaces
/// in) when the longest shown entry or all shown entries together exceed 80 characters.
pub fn start_list(start: &[String]) -> String {
    let mut shown: Vec<&str> = start.iter().take(SHOWN).map(String::as_str).collect();
    if start.len() > SHOWN {
        shown.push("...");
    }
    let longest = shown.iter().map(|s| s.len()).max().unwrap_or(0);
    let total: usize = shown.iter().map(|s| s.len()).sum();
    let lead = if longest > WIDTH || total > WIDTH {
        "\n   "
    } else {
        ""
    };
    let items: Vec<String> = shown.iter().map(|s| format!("{lead}\"{s}\"")).collect();
    format!("start = [{}]", items.join(", "))
}

/// The lines for one snippet's plugins: promoter resources by name, then prometheus,
/// debugger, umh, agentx. `(disabled)` only on promoter lines (as the original).
pub fn render(plugins: &[Plugin], enabled: bool) -> Vec<String> {
    let mut lines = Vec::new();
    for plugin in plugins {
        if let Plugin::Promoter(promoter) = plugin {
            for (res, conf) in &promoter.resources {
                let state = if enabled { "" } else { " (disabled)" };
                lines.push(format!(
                    "- Promoter: {res}{state}; {}",
                    start_list(&conf.start)
                ));
            }
        }
    }
    for wanted in ["prometheus", "debugger", "umh", "agentx"] {
        for plugin in plugins {
            let line = match (wanted, plugin) {
                ("prometheus", Plugin::Prometheus { address }) => {
                    format!("- Prometheus: {}", display_address(address))
                }
                ("debugger", Plugin::Debugger) => "- Debugger".into(),
                ("umh", Plugin::Umh) => "- UMH".into(),
                ("agentx", Plugin::Agentx { address }) => format!("- AgentX: {address}"),
                _ => continue,
            };
            lines.push(line);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn short_start_lists_stay_on_one_line_and_long_ones_break() {
        assert_eq!(start_list(&[]), "start = []");
        assert_eq!(
            start_list(&s(&["var-lib-linstor.mount", "linstor-controller.service"])),
            r#"start = ["var-lib-linstor.mount", "linstor-controller.service"]"#
        );
        assert_eq!(
            start_list(&s(&["a", "b", "c", "d"])),
            r#"start = ["a", "b", "c", "..."]"#
        );
        let long = "ocf:heartbeat:IPaddr2 p_iscsi_demo1_ip ip=10.43.7.223 cidr_netmask=16 ...";
        assert_eq!(
            start_list(&s(&[long, "b.service"])),
            format!("start = [\n   \"{long}\", \n   \"b.service\"]")
        );
    }
}
