//! The grammar of the `message` column, one alternative per instrument of the original
//! (pyliveupdatescripts/*.py):
//!
//! ```text
//! func_begin; <epoch s>              FuncProfiler, on entry
//! func_end; <ms>; <epoch s>          FuncProfiler, on exit
//! <ms> ms                            LineProfiler ('{:.4f} ms')
//! parameters: <repr>                 FuncDebugger, on entry
//! returnvalues: <repr>               FuncDebugger, on exit
//! usevalues: <repr>                  VarDebugger / LineDebugger, a use
//! defvalues: <repr>                  VarDebugger / LineDebugger, a definition
//! ```

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while1};
use nom::character::complete::{char, space0, space1};
use nom::combinator::{all_consuming, map, map_opt, opt, rest, value};
use nom::sequence::{preceded, terminated, tuple};
use nom::IResult;

use super::number::{first_digits, leading_digits, plain_decimal_prefix, scaled_decimal, scaled_decimal_fast, POW10};
use crate::event::DebugKind;

/// A decoded message; times are ns since the epoch, durations ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    FuncBegin { time_ns: i64 },
    FuncEnd { duration_ns: u64, time_ns: i64 },
    LineTime { duration_ns: u64 },
    Debug { kind: DebugKind, value: &'a [u8] },
}

fn is_number_byte(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E')
}

/// A decimal number × 10^`scale` (see [`scaled_decimal`]).
fn scaled(scale: i32) -> impl Fn(&[u8]) -> IResult<&[u8], i64> {
    move |input| map_opt(take_while1(is_number_byte), |text| scaled_decimal(text, scale))(input)
}

/// A duration in ms as ns. A negative one (the wall clock stepped back between the two `time.time()` calls)
/// counts as zero rather than losing the record.
fn millis_as_ns(input: &[u8]) -> IResult<&[u8], u64> {
    map(scaled(6), |ns| ns.max(0) as u64)(input)
}

/// The `; ` inside a message (the fields were already split on the first nine).
fn separator(input: &[u8]) -> IResult<&[u8], ()> {
    value((), tuple((space0, char(';'), space0)))(input)
}

fn func_begin(input: &[u8]) -> IResult<&[u8], Message<'_>> {
    map(preceded(tuple((tag("func_begin"), separator)), scaled(9)), |time_ns| Message::FuncBegin { time_ns })(input)
}

fn func_end(input: &[u8]) -> IResult<&[u8], Message<'_>> {
    map(
        tuple((preceded(tuple((tag("func_end"), separator)), millis_as_ns), preceded(separator, scaled(9)))),
        |(duration_ns, time_ns)| Message::FuncEnd { duration_ns, time_ns },
    )(input)
}

fn line_time(input: &[u8]) -> IResult<&[u8], Message<'_>> {
    map(terminated(millis_as_ns, tuple((space1, tag("ms")))), |duration_ns| Message::LineTime { duration_ns })(input)
}

fn debug_value(input: &[u8]) -> IResult<&[u8], Message<'_>> {
    let kind = alt((
        value(DebugKind::Parameters, tag("parameters:")),
        value(DebugKind::ReturnValue, tag("returnvalues:")),
        value(DebugKind::Used, tag("usevalues:")),
        value(DebugKind::Defined, tag("defvalues:")),
    ));
    // The original wrote `'<kind>: {}'.format(v)`: one space, then the repr, whatever it contains.
    map(tuple((kind, opt(char(' ')), rest)), |(kind, _, value)| Message::Debug { kind, value })(input)
}

/// Parses a whole message (already stripped of surrounding whitespace).
#[inline]
pub(crate) fn parse_message(input: &[u8]) -> Result<Message<'_>, &'static str> {
    match all_consuming(alt((func_begin, func_end, debug_value, line_time)))(input) {
        Ok((_, message)) => Ok(message),
        Err(_) => Err(explain_failure(input)),
    }
}

/// [`parse_message`] for the two messages that make nearly every line, `func_begin; <epoch>` and
/// `func_end; <ms>; <epoch>`, by hand instead of through nom's combinators. `None` when the message is anything
/// else or malformed: the caller then asks [`parse_message`], which is the reference (whenever this returns
/// `Some`, it returns the same `Ok`; property-tested).
#[inline]
pub(crate) fn parse_message_fast<'m>(input: &'m [u8], seconds: &mut EpochSeconds) -> Option<Message<'m>> {
    if let Some(message) = logger_shape(input, seconds) {
        return Some(message);
    }
    let (tail, is_end) = if let Some(tail) = input.strip_prefix(b"func_begin") {
        (tail, false)
    } else {
        (input.strip_prefix(b"func_end")?, true)
    };
    let rest = skip_separator(tail)?;
    if !is_end {
        return Some(Message::FuncBegin { time_ns: seconds.epoch_ns(rest)? });
    }
    // `<ms>` is the longest run of number bytes, as nom's `take_while1` takes it: read in the same pass as its
    // value when it is plain `digits[.digits]`.
    let (duration_ns, ms_len) = match plain_decimal_prefix(rest, 6) {
        Some((ns, len)) if !rest.get(len).is_some_and(|&b| is_number_byte(b)) => (ns, len),
        _ => {
            let len = rest.iter().position(|&b| !is_number_byte(b)).unwrap_or(rest.len());
            if len == 0 {
                return None;
            }
            (scaled_decimal(&rest[..len], 6)?, len)
        }
    };
    let duration_ns = duration_ns.max(0) as u64;
    let epoch = skip_separator(&rest[ms_len..])?;
    Some(Message::FuncEnd { duration_ns, time_ns: seconds.epoch_ns(epoch)? })
}

/// The two messages exactly as the original's logger writes them — `func_begin; <epoch>` and
/// `func_end; <digits>.<digits>; <epoch>`, one space after each `;`, a duration of at most 19 significant digits
/// — read a word at a time; `None` for anything else (the general fast path then reads it). A third of the
/// line's time went to reading these two numbers digit by digit.
#[inline(always)]
fn logger_shape<'m>(input: &'m [u8], seconds: &mut EpochSeconds) -> Option<Message<'m>> {
    const BEGIN: u64 = u64::from_le_bytes(*b"func_beg");
    const END: u64 = u64::from_le_bytes(*b"func_end");
    let word = |at: usize| -> Option<u64> { Some(u64::from_le_bytes(input.get(at..at + 8)?.try_into().ok()?)) };
    let head = word(0)?;
    if head == BEGIN {
        let epoch = input.strip_prefix(b"func_begin; ")?;
        return Some(Message::FuncBegin { time_ns: seconds.epoch_ns(epoch)? });
    }
    if head != END || input.get(8..10)? != b"; " {
        return None;
    }
    // `<int>.<fraction>` from byte 10: the integer's digits end at its `.` within one word.
    let int_word = word(10)?;
    let int_len = leading_digits(int_word);
    if int_len == 0 || int_len == 8 || input[10 + int_len] != b'.' {
        return None;
    }
    let int = first_digits(int_word, int_len);
    let frac_at = 10 + int_len + 1;
    let first = word(frac_at)?;
    let mut frac_len = leading_digits(first);
    if frac_len == 0 {
        return None;
    }
    // The duration in ns is the fraction's first six digits, rounded half up by the seventh (exact: the rest
    // is below one unit of the seventh).
    let (six, seventh) = match frac_len {
        8 => {
            let eight = first_digits(first, 8);
            (eight / 100, eight / 10 % 10)
        }
        7 => {
            let seven = first_digits(first, 7);
            (seven / 10, seven % 10)
        }
        n => (first_digits(first, n) * POW10[6 - n], 0),
    };
    while frac_len.is_multiple_of(8) {
        let more = leading_digits(word(frac_at + frac_len)?);
        frac_len += more;
        if more < 8 {
            break;
        }
    }
    // Within what the general path reads exactly: at most 19 significant digits.
    let significant = if int == 0 {
        frac_len - input[frac_at..frac_at + frac_len].iter().take_while(|&&b| b == b'0').count()
    } else {
        (int_len - input[10..10 + int_len].iter().take_while(|&&b| b == b'0').count()) + frac_len
    };
    let end = frac_at + frac_len;
    if significant > 19 || input.get(end..end + 2)? != b"; " {
        return None;
    }
    let duration_ns = int * 1_000_000 + six + u64::from(seventh >= 5);
    Some(Message::FuncEnd { duration_ns, time_ns: seconds.epoch_ns(&input[end + 2..])? })
}

/// `text.strip_prefix(prefix)` for a prefix of 8 to 16 bytes in two overlapping 8-byte compares (a `memcmp`
/// call cost more than the rest of the fraction's reading), other lengths as `strip_prefix`.
#[inline(always)]
fn strip_short_prefix<'t>(text: &'t [u8], prefix: &[u8]) -> Option<&'t [u8]> {
    let n = prefix.len();
    let word = |b: &[u8], at: usize| b.get(at..at + 8).map(|w| u64::from_le_bytes(w.try_into().unwrap_or_default()));
    match (n, text.get(..n)) {
        (8..=16, Some(head)) => {
            (word(head, 0) == word(prefix, 0) && word(head, n - 8) == word(prefix, n - 8)).then(|| &text[n..])
        }
        _ => text.strip_prefix(prefix),
    }
}

/// The last epoch's seconds (`1709283600.`) and their value in ns: consecutive lines mostly share them, so an
/// epoch that starts with them only has its fraction read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EpochSeconds {
    /// The seconds' digits and the `.` (`len` bytes of them; 0: nothing remembered).
    text: [u8; EPOCH_SECONDS_MAX + 1],
    len: usize,
    ns: i64,
}

/// The most digits of remembered seconds: with at most nine of the fraction, an epoch has at most 19 digits,
/// which [`scaled_decimal_fast`] reads exactly (as the sum below).
const EPOCH_SECONDS_MAX: usize = 10;

impl EpochSeconds {
    /// `scaled_decimal_fast(text, 9)`: through the remembered seconds when `text` starts with them and the rest
    /// is one to nine digits (then the value is exactly seconds × 10^9 + fraction × 10^(9 − its digits)).
    #[inline(always)]
    fn epoch_ns(&mut self, text: &[u8]) -> Option<i64> {
        let n = self.len;
        if let (true, Some(fraction)) = (n > 0, strip_short_prefix(text, &self.text[..n])) {
            let f = fraction.len();
            // One to eight digits: read from the last eight bytes of `text` in one word (its end is theirs).
            if let (1..=8, Some(last)) = (f, text.len().checked_sub(8).and_then(|at| text.get(at..))) {
                let word = u64::from_le_bytes(last.try_into().unwrap_or_default()) >> ((8 - f) * 8);
                if leading_digits(word) >= f {
                    let value = first_digits(word, f) as i64;
                    if let Some(ns) = self.ns.checked_add(value * POW10[9 - f] as i64) {
                        return Some(ns);
                    }
                }
            }
            if (1..=9).contains(&fraction.len()) {
                let mut value = 0i64;
                for &b in fraction {
                    let digit = b.wrapping_sub(b'0');
                    if digit > 9 {
                        return self.read(text);
                    }
                    value = value * 10 + i64::from(digit);
                }
                if let Some(ns) = self.ns.checked_add(value * 10i64.pow(9 - fraction.len() as u32)) {
                    return Some(ns);
                }
            }
        }
        self.read(text)
    }

    /// [`EpochSeconds::epoch_ns`] the long way, remembering `text`'s seconds when they are 1 to
    /// [`EPOCH_SECONDS_MAX`] digits followed by a `.`.
    #[cold]
    #[inline(never)]
    fn read(&mut self, text: &[u8]) -> Option<i64> {
        let value = scaled_decimal_fast(text, 9)?;
        let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
        if (1..=EPOCH_SECONDS_MAX).contains(&digits) && text.get(digits) == Some(&b'.') {
            if let Some(ns) = scaled_decimal_fast(&text[..digits], 9) {
                self.text[..=digits].copy_from_slice(&text[..=digits]);
                self.len = digits + 1;
                self.ns = ns;
            }
        }
        Some(value)
    }
}

/// What follows [`separator`] (spaces or tabs, `;`, spaces or tabs), or `None` when `input` does not start
/// with one.
#[inline(always)]
fn skip_separator(input: &[u8]) -> Option<&[u8]> {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = input.iter().position(|b| !blank(b)).unwrap_or(input.len());
    let after = input[start..].strip_prefix(b";")?;
    let start = after.iter().position(|b| !blank(b)).unwrap_or(after.len());
    Some(&after[start..])
}

/// Which message the line meant to be, for a useful error (nom's own error only says which combinator gave up).
fn explain_failure(input: &[u8]) -> &'static str {
    if input.starts_with(b"func_begin") {
        "malformed func_begin message (expected `func_begin; <epoch seconds>`)"
    } else if input.starts_with(b"func_end") {
        "malformed func_end message (expected `func_end; <ms>; <epoch seconds>`)"
    } else if input.ends_with(b"ms") {
        "malformed line time (expected `<ms> ms`)"
    } else {
        "unknown message (not a func_begin/func_end, line time or debugger value)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn each_instrument() {
        assert_eq!(
            parse_message(b"func_begin; 1589113696.048286"),
            Ok(Message::FuncBegin { time_ns: 1_589_113_696_048_286_000 })
        );
        assert_eq!(
            parse_message(b"func_end; 0.0123456789; 1589113696.0483"),
            Ok(Message::FuncEnd { duration_ns: 12_346, time_ns: 1_589_113_696_048_300_000 })
        );
        assert_eq!(
            parse_message(b"func_end; 1e-05; 1589113696"),
            Ok(Message::FuncEnd { duration_ns: 10, time_ns: 1_589_113_696_000_000_000 })
        );
        assert_eq!(parse_message(b"0.0123 ms"), Ok(Message::LineTime { duration_ns: 12_300 }));
        assert_eq!(
            parse_message(b"parameters: {'a': 1; 'b': 2}"),
            Ok(Message::Debug { kind: DebugKind::Parameters, value: b"{'a': 1; 'b': 2}" })
        );
        assert_eq!(
            parse_message(b"returnvalues: None"),
            Ok(Message::Debug { kind: DebugKind::ReturnValue, value: b"None" })
        );
        assert_eq!(
            parse_message(b"usevalues: {'x': 'a: b'}"),
            Ok(Message::Debug { kind: DebugKind::Used, value: b"{'x': 'a: b'}" })
        );
        assert_eq!(parse_message(b"defvalues:"), Ok(Message::Debug { kind: DebugKind::Defined, value: b"" }));
    }

    #[test]
    fn negative_durations_clamp_to_zero() {
        assert_eq!(
            parse_message(b"func_end; -0.5; 10"),
            Ok(Message::FuncEnd { duration_ns: 0, time_ns: 10_000_000_000 })
        );
    }

    #[test]
    fn fast_path_takes_the_common_messages() {
        for m in [&b"func_begin; 1709283600.000039"[..], b"func_end; 0.0040531158447265625; 1709283600.000072"] {
            assert!(parse_message_fast(m, &mut EpochSeconds::default()).is_some(), "{}", String::from_utf8_lossy(m));
            assert_eq!(parse_message_fast(m, &mut EpochSeconds::default()).ok_or(""), parse_message(m));
        }
        assert_eq!(parse_message_fast(b"0.0123 ms", &mut EpochSeconds::default()), None, "left to the general parser");
    }

    /// Messages near the two the fast path takes: separators with spaces and tabs, odd numbers, junk after.
    fn near_func_messages() -> impl Strategy<Value = Vec<u8>> {
        let head = prop::sample::select(vec!["func_begin", "func_end", "func_beg", "func_endx", "func_beginn", ""]);
        let sep = prop::sample::select(vec!["; ", ";", " ; ", "\t;\t", " ;  ", ";;", " ", "", ": "]);
        let num = prop_oneof![
            "[0-9]{1,10}\\.[0-9]{0,20}",
            "[0-9]{1,3}\\.[0-9]{1,25}",
            "0\\.0{0,5}[1-9][0-9]{0,22}",
            "-?[0-9]{0,3}(\\.[0-9]{0,4})?(e[+-]?[0-9]{0,3})?",
            "0\\.0{0,8}[0-9]{0,20}",
            "[0-9.eE+-]{0,6}",
            Just("nan".to_owned()),
        ];
        let tail = prop::sample::select(vec!["", "", "", " ", "x", ";", " ms", "\t"]);
        (head, sep.clone(), num.clone(), sep, num, tail, any::<bool>()).prop_map(|(head, s1, n1, s2, n2, tail, two)| {
            let text = if two { format!("{head}{s1}{n1}{s2}{n2}{tail}") } else { format!("{head}{s1}{n1}{tail}") };
            text.into_bytes()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn fast_path_agrees_with_the_grammar(m in near_func_messages()) {
            if let Some(fast) = parse_message_fast(&m, &mut EpochSeconds::default()) {
                prop_assert_eq!(Ok(fast), parse_message(&m));
            } else {
                // It declines only what is not a func_begin or func_end message.
                prop_assert!(
                    !matches!(parse_message(&m), Ok(Message::FuncBegin { .. } | Message::FuncEnd { .. })),
                    "{:?}",
                    String::from_utf8_lossy(&m)
                );
            }
        }

        #[test]
        fn fast_path_agrees_on_any_bytes(m in proptest::collection::vec(any::<u8>(), 0..40), head in 0usize..3) {
            let m = [[&b"func_begin"[..], b"func_end", b""][head], &m].concat();
            if let Some(fast) = parse_message_fast(&m, &mut EpochSeconds::default()) {
                prop_assert_eq!(Ok(fast), parse_message(&m));
            }
        }

        #[test]
        fn strip_short_prefix_is_strip_prefix(text in "[0-9.]{0,20}", prefix in "[0-9.]{0,17}") {
            prop_assert_eq!(strip_short_prefix(text.as_bytes(), prefix.as_bytes()), text.as_bytes().strip_prefix(prefix.as_bytes()));
        }

        /// A run of messages read with one [`EpochSeconds`]: each as the grammar reads it alone (the seconds of
        /// one are those of the next, or nearly).
        #[test]
        fn remembered_seconds_change_nothing(
            seconds in prop::collection::vec(prop_oneof![
                Just("1709283600".to_owned()), Just("1709283601".to_owned()), Just("0".to_owned()),
                Just("9999999999".to_owned()), Just("9223372036".to_owned()), "[0-9]{1,12}",
            ], 1..4),
            messages in prop::collection::vec((0usize..4, "[0-9]{0,11}", "(|x| |\\.5|e3)", any::<bool>()), 1..12),
        ) {
            let mut remembered = EpochSeconds::default();
            for (which, fraction, tail, end) in messages {
                let epoch = format!("{}.{fraction}{tail}", seconds[which % seconds.len()]);
                let m = if end { format!("func_end; 0.5; {epoch}") } else { format!("func_begin; {epoch}") };
                let alone = parse_message_fast(m.as_bytes(), &mut EpochSeconds::default());
                prop_assert_eq!(parse_message_fast(m.as_bytes(), &mut remembered), alone, "{}", m);
            }
        }
    }

    #[test]
    fn malformed_messages_are_explained() {
        assert!(parse_message(b"func_begin").unwrap_err().contains("func_begin"));
        assert!(parse_message(b"func_begin; soon").unwrap_err().contains("func_begin"));
        assert!(parse_message(b"func_end; 1.0").unwrap_err().contains("func_end"));
        assert!(parse_message(b"func_end; 1.0; 2; 3").unwrap_err().contains("func_end"));
        assert!(parse_message(b"fast ms").unwrap_err().contains("line time"));
        assert!(parse_message(b"hello world").unwrap_err().contains("unknown"));
        assert!(parse_message(b"").is_err());
    }
}
