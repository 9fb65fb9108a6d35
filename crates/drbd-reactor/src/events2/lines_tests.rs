//! Line assembly, the line cap and what is reported about lines that are not for the core.

use super::*;

fn feed(asm: &mut Assembler, chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Vec<usize>) {
    let (mut lines, mut too_long) = (Vec::new(), Vec::new());
    for chunk in chunks {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', chunk) {
            match asm.line_end(&chunk[start..end], chunk.is_ascii()) {
                Ok(Piece::Line(b, _)) => lines.push(b.to_vec()),
                Ok(Piece::Dropped) => {}
                Err(n) => too_long.push(n),
            }
            start = end + 1;
        }
        if let Err(n) = asm.cut(&chunk[start..]) {
            too_long.push(n);
        }
    }
    if let Some(last) = asm.finish() {
        lines.push(last.to_vec());
    }
    (lines, too_long)
}

#[test]
fn lines_cut_by_reads_are_joined_and_a_last_line_without_newline_counts() {
    let mut asm = Assembler::default();
    let (lines, too_long) = feed(&mut asm, &[b"ab", b"c\nde", b"f\ng"]);
    assert_eq!(lines, [b"abc".to_vec(), b"def".to_vec(), b"g".to_vec()]);
    assert!(too_long.is_empty());
}

#[test]
fn a_line_longer_than_the_cap_is_dropped_up_to_its_newline_and_the_next_one_is_kept() {
    let mut asm = Assembler::default();
    let block = vec![b'x'; 64 * 1024];
    let mut chunks: Vec<&[u8]> = vec![&block; 40]; // 2.5 MiB without a newline
    chunks.push(b"xxx\nexists -\n");
    let (lines, too_long) = feed(&mut asm, &chunks);
    assert_eq!(lines, [b"exists -".to_vec()]);
    assert_eq!(too_long.len(), 1, "reported once: {too_long:?}");
    assert!(too_long[0] > MAX_LINE);
    assert!(asm.carry.capacity() <= MAX_LINE, "memory stays bounded");
}

#[test]
fn a_too_long_last_line_without_newline_is_not_handed_out() {
    let mut asm = Assembler::default();
    let block = vec![b'y'; MAX_LINE + 1];
    let (lines, too_long) = feed(&mut asm, &[&block]);
    assert!(lines.is_empty());
    assert_eq!(too_long, [MAX_LINE + 1]);
}

#[test]
fn the_rate_limit_lets_one_through_per_period_and_counts_the_rest() {
    let mut r = RateLimit::new(Duration::from_secs(10));
    let t = Instant::now();
    assert_eq!(r.allow(t), Some(0));
    assert_eq!(r.allow(t + Duration::from_secs(1)), None);
    assert_eq!(r.allow(t + Duration::from_secs(9)), None);
    assert_eq!(r.allow(t + Duration::from_secs(10)), Some(2));
    assert_eq!(r.allow(t + Duration::from_secs(11)), None);
}

fn lines_of(input: &[&str]) -> (Vec<Line>, DaemonMetrics) {
    let pool = BatchPool::default();
    let metrics = DaemonMetrics::detached();
    let mut lines = Lines::new(&pool, &metrics);
    for l in input {
        lines.line(l.as_bytes(), true);
    }
    let out = lines.batch.take(&pool);
    (out, metrics)
}

#[test]
fn garbage_lines_are_rejected_and_counted_not_processed() {
    let garbage: Vec<String> = (0..208)
        .map(|i| format!("exists device name:r volume:x{i}"))
        .collect();
    let mut input: Vec<&str> = garbage.iter().map(String::as_str).collect();
    input.push("exists resource name:r0 role:Secondary");
    let (out, metrics) = lines_of(&input);
    assert_eq!(out.len(), 1);
    assert_eq!(metrics.lines_rejected.load(Ordering::Relaxed), 208);
}

#[test]
fn unknown_verbs_and_kinds_are_counted_and_kept_from_the_core() {
    let (out, metrics) = lines_of(&[
        "frobnicate resource name:r0",
        "exists gizmo name:r0",
        "exists gizmo name:r1",
        "exists -",
    ]);
    assert_eq!(out.len(), 1);
    assert!(matches!(out[0].event, Event::EndOfDump));
    assert_eq!(metrics.lines_unknown.load(Ordering::Relaxed), 3);
}

#[test]
fn skipped_notifications_are_counted_by_their_number() {
    let (out, metrics) = lines_of(&["- skipped 7", "- skipped 3"]);
    assert!(out.is_empty());
    assert_eq!(metrics.notifications_skipped.load(Ordering::Relaxed), 10);
}

#[test]
fn an_unknown_state_keeps_its_line_and_is_counted_each_time() {
    let (out, metrics) = lines_of(&[
        "exists resource name:r0 role:Secondary",
        "exists peer-device name:r0 peer-node-id:1 conn-name:b volume:0 replication:Established peer-disk:UpToDate resync-suspended:newreason",
        "change peer-device name:r0 peer-node-id:1 conn-name:b volume:0 replication:Established peer-disk:UpToDate resync-suspended:newreason",
    ]);
    assert_eq!(out.len(), 3, "no line was dropped");
    assert_eq!(metrics.unknown_values.load(Ordering::Relaxed), 2);
    assert_eq!(metrics.lines_rejected.load(Ordering::Relaxed), 0);
}

#[test]
fn a_nul_in_a_name_rejects_the_line() {
    let (out, metrics) = lines_of(&["exists resource name:r\u{0}0 role:Secondary"]);
    assert!(out.is_empty());
    assert_eq!(metrics.lines_rejected.load(Ordering::Relaxed), 1);
}

#[test]
fn an_ascii_line_is_trimmed_exactly_as_str_trim_trims_it() {
    for b in 0u8..128 {
        let c = b as char;
        for text in [
            format!("{c}x y{c}"),
            format!("{c}{c}"),
            format!("x{c}"),
            format!("{c}"),
            String::new(),
        ] {
            assert_eq!(
                trim_ascii_line(&text),
                text.trim(),
                "byte {b:#04x} in {text:?}"
            );
        }
    }
}

#[test]
fn skipped_notifications_saturate_instead_of_wrapping_to_a_counter_reset() {
    let (_, metrics) = lines_of(&[&format!("- skipped {}", u64::MAX), "- skipped 7"]);
    assert_eq!(
        metrics.notifications_skipped.load(Ordering::Relaxed),
        u64::MAX
    );
}

#[test]
fn lines_are_logged_with_control_characters_escaped_and_unchanged_otherwise() {
    assert_eq!(
        printable("exists \u{1b}foo name:r"),
        "exists \\u{1b}foo name:r"
    );
    assert_eq!(printable("bad\0line"), "bad\\0line");
    let clean = "change resource name:\"r\" role:Primary";
    assert!(matches!(printable(clean), std::borrow::Cow::Borrowed(s) if s == clean));
}
