//! Small text formats shared by the pages.

/// What a query value escapes, so that a copied link stays readable (`?branch=feature/login`).
pub const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// `1.5 MB`, `820 B`: sizes as people read them (powers of 1000, as file browsers show).
pub fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes.max(0) as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// `1m 05s`, `2h 03m`, `42s`.
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// `2026-11-24 10:15 UTC` from an RFC 3339 UTC timestamp.
pub fn short_time(rfc3339: &str) -> String {
    match (rfc3339.get(0..10), rfc3339.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => rfc3339.to_owned(),
    }
}

/// Seven characters of a commit, as CI pages show them.
pub fn short_revision(revision: &str) -> &str {
    revision.get(0..7).unwrap_or(revision)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_naturally() {
        assert_eq!(human_size(820), "820 B");
        assert_eq!(human_size(1_500_000), "1.5 MB");
        assert_eq!(human_duration(65), "1m 05s");
        assert_eq!(human_duration(7380), "2h 03m");
        assert_eq!(short_time("2026-11-24T10:15:14Z"), "2026-11-24 10:15 UTC");
        assert_eq!(short_revision("0123456789abcdef"), "0123456");
    }
}
