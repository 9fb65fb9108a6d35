//! A child's output as lines: bytes in, lossily decoded text out, with a cap on what is kept so
//! that one 100 MB line or an endless stream cannot grow our memory.
//!
//! Must never: stop reading before end of file (the writer would die of SIGPIPE), keep more than
//! `max_line_bytes` of one line, or fail on bytes that are not UTF-8.

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// What is kept of an output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineLimit {
    /// Bytes kept of one line; the rest of it is counted and dropped.
    pub max_line_bytes: usize,
    /// Lines handed on; later lines are counted and dropped. `None`: no limit.
    pub max_lines: Option<u64>,
}

impl Default for LineLimit {
    fn default() -> Self {
        LineLimit {
            max_line_bytes: 64 * 1024,
            max_lines: None,
        }
    }
}

/// What a stream carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputStats {
    /// Lines handed to the caller.
    pub lines: u64,
    /// Lines dropped whole because of `max_lines`.
    pub lines_dropped: u64,
    /// Bytes dropped: the tails of over-long lines and the dropped lines.
    pub bytes_dropped: u64,
    /// Lines that were cut at `max_line_bytes`.
    pub lines_truncated: u64,
}

/// Reads `reader` to its end and calls `on_line` with each line (without its newline or a
/// trailing `\r`), invalid UTF-8 replaced by U+FFFD. A last line without newline counts. A
/// read error ends the stream like end of file.
pub async fn read_lines<R: AsyncRead + Unpin>(
    reader: R,
    limit: LineLimit,
    mut on_line: impl FnMut(&str),
) -> OutputStats {
    let mut reader = BufReader::new(reader);
    let mut stats = OutputStats::default();
    let mut line: Vec<u8> = Vec::new();
    let mut truncated = false;
    let mut emit = |line: &mut Vec<u8>, truncated: &mut bool, stats: &mut OutputStats| {
        if limit.max_lines.is_some_and(|max| stats.lines >= max) {
            stats.lines_dropped += 1;
            stats.bytes_dropped += line.len() as u64;
        } else {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            stats.lines += 1;
            stats.lines_truncated += u64::from(*truncated);
            on_line(&String::from_utf8_lossy(line));
        }
        line.clear();
        *truncated = false;
    };
    loop {
        let chunk = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        let mut rest = chunk;
        let consumed = chunk.len();
        while !rest.is_empty() {
            let (part, newline) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            let room = limit.max_line_bytes.saturating_sub(line.len());
            let take = part.len().min(room);
            line.extend_from_slice(&part[..take]);
            if take < part.len() {
                truncated = true;
                stats.bytes_dropped += (part.len() - take) as u64;
            }
            rest = &rest[part.len() + usize::from(newline)..];
            if newline {
                emit(&mut line, &mut truncated, &mut stats);
            }
        }
        reader.consume(consumed);
    }
    if !line.is_empty() || truncated {
        emit(&mut line, &mut truncated, &mut stats);
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], limit: LineLimit) -> (Vec<String>, OutputStats) {
        let mut out = Vec::new();
        let stats = read_lines(input, limit, |l| out.push(l.to_string())).await;
        (out, stats)
    }

    #[tokio::test]
    async fn invalid_utf8_is_replaced_and_reading_goes_on() {
        let (out, stats) = lines(b"caf\xe9\nnext\n", LineLimit::default()).await;
        assert_eq!(out, ["caf\u{fffd}", "next"]);
        assert_eq!(stats.lines, 2);
    }

    #[tokio::test]
    async fn an_over_long_line_is_cut_and_its_tail_counted() {
        let mut input = vec![b'x'; 10_000];
        input.extend_from_slice(b"\nshort\n");
        let limit = LineLimit {
            max_line_bytes: 100,
            max_lines: None,
        };
        let (out, stats) = lines(&input, limit).await;
        assert_eq!(out[0].len(), 100);
        assert_eq!(out[1], "short");
        assert_eq!(stats.bytes_dropped, 9_900);
        assert_eq!(stats.lines_truncated, 1);
    }

    #[tokio::test]
    async fn lines_past_the_limit_are_counted_not_kept() {
        let limit = LineLimit {
            max_line_bytes: 100,
            max_lines: Some(2),
        };
        let (out, stats) = lines(b"a\nb\ncc\ndd\n", limit).await;
        assert_eq!(out, ["a", "b"]);
        assert_eq!(stats.lines_dropped, 2);
        assert_eq!(stats.bytes_dropped, 4);
    }

    #[tokio::test]
    async fn a_last_line_without_newline_counts_and_crlf_is_trimmed() {
        let (out, _) = lines(b"one\r\ntwo", LineLimit::default()).await;
        assert_eq!(out, ["one", "two"]);
    }

    #[tokio::test]
    async fn a_huge_line_is_read_to_its_end_with_bounded_memory() {
        // 64 MiB through a pipe-like reader in small chunks; only 1 KiB is kept.
        let (mut w, r) = tokio::io::duplex(64 * 1024);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let block = vec![b'y'; 1 << 20];
            for _ in 0..64 {
                w.write_all(&block).await.unwrap();
            }
            w.write_all(b"\nend\n").await.unwrap();
        });
        let limit = LineLimit {
            max_line_bytes: 1024,
            max_lines: None,
        };
        let mut out = Vec::new();
        let stats = read_lines(r, limit, |l| out.push(l.len())).await;
        writer.await.unwrap();
        assert_eq!(out, [1024, 3]);
        assert_eq!(stats.bytes_dropped, (64 << 20) - 1024);
    }
}
