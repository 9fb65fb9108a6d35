//! Maps byte offsets and key paths of one TOML file to line numbers.
//! Key paths are dotted, with array indices in brackets: `promoter[0].resources.foo.start[1]`.
//! Pure: works on text already read; must never read files.

use std::collections::BTreeMap;
use std::ops::Range;

use toml_edit::{Item, TableLike, Value};

/// 1-based line of a byte offset in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Key path -> line of every key, table header and array element in `text`.
/// `text` must already be known to be valid TOML (returns an empty map otherwise).
pub fn key_lines(text: &str) -> BTreeMap<String, usize> {
    let mut lines = BTreeMap::new();
    if let Ok(doc) = toml_edit::ImDocument::parse(text) {
        walk_table(text, doc.as_table(), "", 1, &mut lines);
    }
    lines
}

/// The entries of `lines` below `prefix` (e.g. `promoter[0]`), with the prefix removed.
pub fn below(lines: &BTreeMap<String, usize>, prefix: &str) -> BTreeMap<String, usize> {
    lines
        .iter()
        .filter_map(|(path, line)| {
            let rest = path.strip_prefix(prefix)?;
            let rest = rest.strip_prefix('.').or_else(|| {
                // `prefix[0]` for arrays directly below the prefix
                rest.starts_with('[').then_some(rest)
            })?;
            Some((rest.to_string(), *line))
        })
        .collect()
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn span_line(text: &str, span: Option<Range<usize>>) -> Option<usize> {
    span.map(|s| line_of(text, s.start))
}

fn walk_table(
    text: &str,
    table: &dyn TableLike,
    prefix: &str,
    parent_line: usize,
    lines: &mut BTreeMap<String, usize>,
) {
    for (key, item) in table.iter() {
        let path = join(prefix, key);
        let key_span = table.get_key_value(key).and_then(|(k, _)| k.span());
        let line = span_line(text, key_span)
            .or_else(|| span_line(text, item_span(item)))
            .unwrap_or(parent_line);
        lines.insert(path.clone(), line);
        walk_item(text, item, &path, line, lines);
    }
}

fn item_span(item: &Item) -> Option<Range<usize>> {
    match item {
        Item::Table(t) => t.span(),
        Item::ArrayOfTables(a) => a.iter().next().and_then(|t| t.span()),
        other => other.span(),
    }
}

fn walk_item(
    text: &str,
    item: &Item,
    path: &str,
    line: usize,
    lines: &mut BTreeMap<String, usize>,
) {
    match item {
        Item::None => {}
        Item::Value(value) => walk_value(text, value, path, line, lines),
        Item::Table(table) => {
            let line = span_line(text, table.span()).unwrap_or(line);
            walk_table(text, table, path, line, lines)
        }
        Item::ArrayOfTables(array) => {
            for (index, table) in array.iter().enumerate() {
                let element = format!("{path}[{index}]");
                let line = span_line(text, table.span()).unwrap_or(line);
                lines.insert(element.clone(), line);
                walk_table(text, table, &element, line, lines);
            }
        }
    }
}

fn walk_value(
    text: &str,
    value: &Value,
    path: &str,
    line: usize,
    lines: &mut BTreeMap<String, usize>,
) {
    match value {
        Value::Array(array) => {
            for (index, element) in array.iter().enumerate() {
                let element_path = format!("{path}[{index}]");
                let element_line = span_line(text, element.span()).unwrap_or(line);
                lines.insert(element_path.clone(), element_line);
                walk_value(text, element, &element_path, element_line, lines);
            }
        }
        Value::InlineTable(table) => walk_table(text, table, path, line, lines),
        _ => {}
    }
}

/// The line for `path` in `lines`: the path itself, else its nearest recorded ancestor,
/// else `fallback`.
pub fn line_for(lines: &BTreeMap<String, usize>, path: &str, fallback: usize) -> usize {
    let mut current = path;
    loop {
        if let Some(line) = lines.get(current) {
            return *line;
        }
        match current.rfind(['.', '[']) {
            Some(cut) => current = &current[..cut],
            None => return fallback,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_of_counts_newlines_before_the_offset() {
        let text = "a\nbb\n\nc";
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, 2), 2);
        assert_eq!(line_of(text, 6), 4);
        assert_eq!(line_of(text, 999), 4);
    }

    #[test]
    fn key_lines_records_headers_keys_and_array_elements() {
        let lines = key_lines("x = 1\n[[p]]\na = [\n 1,\n 2]\n[p.t.u]\nk = 3\n");
        assert_eq!(lines["x"], 1);
        assert_eq!(lines["p[0]"], 2);
        assert_eq!(lines["p[0].a"], 3);
        assert_eq!(lines["p[0].a[1]"], 5);
        assert_eq!(lines["p[0].t.u.k"], 7);
    }

    #[test]
    fn line_for_falls_back_to_the_nearest_ancestor_then_the_default() {
        let lines = BTreeMap::from([("a".to_string(), 3), ("a.b".to_string(), 4)]);
        assert_eq!(line_for(&lines, "a.b", 1), 4);
        assert_eq!(line_for(&lines, "a.b.c[2]", 1), 4);
        assert_eq!(line_for(&lines, "a.x", 1), 3);
        assert_eq!(line_for(&lines, "z", 9), 9);
    }

    #[test]
    fn below_strips_the_section_prefix_and_keeps_only_its_keys() {
        let lines = key_lines("[[p]]\na = 1\n[[p]]\nb = [2]\n[[pp]]\nc = 3\n");
        let second = below(&lines, "p[1]");
        assert_eq!(
            second,
            BTreeMap::from([("b".to_string(), 4), ("b[0]".to_string(), 4)])
        );
    }
}
