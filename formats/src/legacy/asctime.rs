//! The `asctime` column (`2020-05-10 12:28:16,048`, logging's default date format) as nanoseconds since the
//! epoch. The log carries no zone; it is read as UTC (docs/LEGACY.md says why).

use nom::bytes::complete::take;
use nom::character::complete::char;
use nom::combinator::{all_consuming, map_opt};
use nom::sequence::tuple;
use nom::IResult;

/// Exactly `width` ASCII digits as a number.
fn fixed_digits(width: usize) -> impl Fn(&[u8]) -> IResult<&[u8], u32> {
    move |input| {
        map_opt(take(width), |digits: &[u8]| {
            digits.iter().try_fold(0u32, |acc, &b| {
                let d = b.wrapping_sub(b'0');
                (d <= 9).then_some(acc * 10 + u32::from(d))
            })
        })(input)
    }
}

fn asctime_fields(input: &[u8]) -> IResult<&[u8], [u32; 7]> {
    let (rest, (year, _, month, _, day, _, hour, _, minute, _, second, _, millis)) = all_consuming(tuple((
        fixed_digits(4),
        char('-'),
        fixed_digits(2),
        char('-'),
        fixed_digits(2),
        char(' '),
        fixed_digits(2),
        char(':'),
        fixed_digits(2),
        char(':'),
        fixed_digits(2),
        char(','),
        fixed_digits(3),
    )))(input)?;
    Ok((rest, [year, month, day, hour, minute, second, millis]))
}

/// `asctime` as UTC nanoseconds since the epoch, or `None` when it is not a valid date and time.
#[inline]
pub(crate) fn parse_asctime(text: &[u8]) -> Option<i64> {
    let (_, [year, month, day, hour, minute, second, millis]) = asctime_fields(text).ok()?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = crate::timefmt::days_from_civil(i64::from(year), month, day);
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    // Nanoseconds since 1970 overflow an i64 after 2262-04-11: such a time is not one we can represent.
    seconds.checked_mul(1_000_000_000)?.checked_add(i64::from(millis) * 1_000_000)
}

// `is_multiple_of` needs Rust 1.87; the workspace supports 1.80.
#[allow(unknown_lints, clippy::manual_is_multiple_of)]
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing: a year past 2262 overflowed the nanosecond count (a panic in debug builds, a wrong
    /// time in release).
    #[test]
    fn times_past_2262_are_not_representable() {
        assert_eq!(parse_asctime(b"4020-05-10 12:28:19,001"), None);
        assert_eq!(parse_asctime(b"2262-04-11 23:47:16,854"), Some(9_223_372_036_854_000_000));
        assert_eq!(parse_asctime(b"2262-04-11 23:47:17,000"), None);
    }

    #[test]
    fn reads_utc() {
        // 1589113696 = 2020-05-10 12:28:16 UTC.
        assert_eq!(parse_asctime(b"2020-05-10 12:28:16,048"), Some(1_589_113_696_048_000_000));
        assert_eq!(parse_asctime(b"1970-01-01 00:00:00,000"), Some(0));
        assert_eq!(parse_asctime(b"2000-02-29 23:59:59,999"), Some(951_868_799_999_000_000));
        assert_eq!(parse_asctime(b"1969-12-31 23:59:59,000"), Some(-1_000_000_000));
    }

    #[test]
    fn refuses_impossible_dates() {
        for bad in [
            &b"2021-02-29 00:00:00,000"[..],
            b"2020-13-01 00:00:00,000",
            b"2020-00-01 00:00:00,000",
            b"2020-01-00 00:00:00,000",
            b"2020-01-01 24:00:00,000",
            b"2020-01-01 00:60:00,000",
            b"2020-01-01 00:00:00.000",
            b"2020-01-01 00:00:00,00",
            b"2020-01-01 00:00:00,0000",
            b"2020-1-01 00:00:00,000",
            b"",
        ] {
            assert_eq!(parse_asctime(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
