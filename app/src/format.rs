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
    let bytes = bytes.max(0) as u64;
    let unit = (1..UNITS.len()).rev().find(|&u| bytes >= 1000u64.pow(u as u32)).unwrap_or(0);
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{} {}", decimal(bytes, 1000u64.pow(unit as u32), 1), UNITS[unit])
    }
}

/// `numerator / denominator` with `places` decimals (`decimal(15, 10, 1)` is `1.5`), rounded
/// half up. In integers: the client bundle then carries no float formatting.
pub fn decimal(numerator: u64, denominator: u64, places: u32) -> String {
    let (denominator, scale) = (u128::from(denominator.max(1)), 10u128.pow(places));
    let scaled = (u128::from(numerator) * scale * 2 + denominator) / (denominator * 2);
    let (whole, fraction) = (scaled / scale, scaled % scale);
    if places == 0 { whole.to_string() } else { format!("{whole}.{fraction:0width$}", width = places as usize) }
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
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1000), "1.0 kB");
        assert_eq!(human_size(1_049), "1.0 kB");
        assert_eq!(human_size(1_050), "1.1 kB");
        assert_eq!(human_size(3_000_000_000_000_000), "3000.0 TB");
        assert_eq!(human_duration(65), "1m 05s");
        assert_eq!(human_duration(7380), "2h 03m");
        assert_eq!(short_time("2026-11-24T10:15:14Z"), "2026-11-24 10:15 UTC");
        assert_eq!(short_revision("0123456789abcdef"), "0123456");
    }

    #[test]
    fn decimals_round_half_up_in_integers() {
        assert_eq!(decimal(1, 3, 2), "0.33");
        assert_eq!(decimal(2, 3, 2), "0.67");
        assert_eq!(decimal(1_250, 1000, 2), "1.25");
        assert_eq!(decimal(1_005, 1000, 2), "1.01");
        assert_eq!(decimal(7, 0, 1), "7.0");
        assert_eq!(decimal(u64::MAX, 1, 2), format!("{}.00", u64::MAX));
        assert_eq!(decimal(5, 2, 0), "3");
    }
}
