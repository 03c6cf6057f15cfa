//! Reading the times users give to `--since` and `--until`.

use pylu_formats::timefmt::days_from_civil;

use crate::error::AnalyzeError;

/// Nanoseconds since the epoch for `text`: epoch seconds (`1589113696.5`), or a UTC date and time
/// (`2020-05-10 12:28:16`, `2020-05-10T12:28:16.048Z`, `2020-05-10 12:28:16,048` as in the original's log,
/// or just `2020-05-10`).
pub fn parse_time(text: &str) -> Result<i64, AnalyzeError> {
    let bad = || AnalyzeError::BadTime { text: text.to_owned() };
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        // Epoch seconds, read exactly (an f64 would be off by hundreds of ns today).
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        if int.is_empty() || frac.len() > 9 || frac.contains('.') {
            return Err(bad());
        }
        let secs: i64 = int.parse().map_err(|_| bad())?;
        let frac_ns: i64 = if frac.is_empty() {
            0
        } else {
            frac.parse::<i64>().map_err(|_| bad())? * 10i64.pow(9 - frac.len() as u32)
        };
        return secs.checked_mul(1_000_000_000).and_then(|n| n.checked_add(frac_ns)).ok_or_else(bad);
    }
    let t = t.strip_suffix('Z').unwrap_or(t);
    let (date, time) = match t.find(['T', ' ']) {
        Some(i) => (&t[..i], &t[i + 1..]),
        None => (t, ""),
    };
    let mut d = date.split('-');
    let (Some(y), Some(m), Some(dd), None) = (d.next(), d.next(), d.next(), d.next()) else { return Err(bad()) };
    let y: i64 = y.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    let dd: u32 = dd.parse().map_err(|_| bad())?;
    if !(1..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&dd) {
        return Err(bad());
    }
    // Nanoseconds since 1970 fit an i64 from 1677 to 2262 only: a date outside is an error, not a wrap.
    let mut ns = days_from_civil(y, m, dd).checked_mul(86_400 * 1_000_000_000).ok_or_else(bad)?;
    if !time.is_empty() {
        let (hms, frac) = match time.find(['.', ',']) {
            Some(i) => (&time[..i], &time[i + 1..]),
            None => (time, ""),
        };
        let parts: Vec<&str> = hms.split(':').collect();
        if parts.len() < 2 || parts.len() > 3 {
            return Err(bad());
        }
        let mut secs = 0i64;
        for (k, p) in parts.iter().enumerate() {
            let v: i64 = p.parse().map_err(|_| bad())?;
            let limit = if k == 0 { 24 } else { 60 };
            if v < 0 || v >= limit {
                return Err(bad());
            }
            secs = secs * 60 + v;
        }
        if parts.len() == 2 {
            secs *= 60;
        }
        ns = ns.checked_add(secs * 1_000_000_000).ok_or_else(bad)?;
        if !frac.is_empty() {
            if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let v: i64 = frac.parse().map_err(|_| bad())?;
            ns = ns.checked_add(v * 10i64.pow(9 - frac.len() as u32)).ok_or_else(bad)?;
        }
    }
    Ok(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_outside_i64_nanoseconds_are_errors() {
        assert!(parse_time("3000-01-01").is_err());
        assert!(parse_time("2262-04-11T23:47:17").is_err());
        assert!(parse_time("1600-01-01").is_err());
        assert!(parse_time("99999999999-01-01").is_err());
        assert_eq!(parse_time("2262-04-11T23:47:16").unwrap(), 9_223_372_036_000_000_000);
    }

    #[test]
    fn reads_the_shapes_users_type() {
        assert_eq!(parse_time("1589113696.048286").unwrap(), 1_589_113_696_048_286_000);
        assert_eq!(parse_time("2020-05-10 12:28:16,048").unwrap(), 1_589_113_696_048_000_000);
        assert_eq!(parse_time("2020-05-10T12:28:16.048Z").unwrap(), 1_589_113_696_048_000_000);
        assert_eq!(parse_time("2020-05-10").unwrap(), 1_589_068_800_000_000_000);
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2020-13-01").is_err());
    }
}
