//! The `--timestamps` prefix: `YYYY-MM-DDTHH:MM:SS.uuuuuu+HH:MM` (events2 spec §2.2).
//!
//! Must never: read the clock itself (callers pass the time), so it stays testable.

/// Formats microseconds since the epoch at a UTC offset given in seconds.
pub fn timestamp(unix_micros: i64, offset_secs: i32) -> String {
    let local = unix_micros + i64::from(offset_secs) * 1_000_000;
    let secs = local.div_euclid(1_000_000);
    let micros = local.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let off = offset_secs.unsigned_abs();
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}{sign}{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        off / 3600,
        off % 3600 / 60
    )
}

/// The current time in UTC, for the server.
pub fn now() -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    timestamp(micros, 0)
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// True if `s` has the shape of a drbdsetup timestamp.
pub fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let shape = "dddd-dd-ddTdd:dd:dd.dddddd+dd:dd";
    b.len() == shape.len()
        && shape.bytes().zip(b).all(|(p, &c)| match p {
            b'd' => c.is_ascii_digit(),
            b'+' => c == b'+' || c == b'-',
            _ => p == c,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_local_time_with_offset_like_drbdsetup() {
        assert_eq!(timestamp(0, 0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(
            timestamp(1_557_262_223_973_595, -7 * 3600),
            "2019-05-07T13:50:23.973595-07:00"
        );
        assert!(is_timestamp(&now()));
        assert!(!is_timestamp("2019-05-07 13:50:23"));
    }
}
