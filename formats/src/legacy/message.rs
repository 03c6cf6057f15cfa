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

use super::number::scaled_decimal;
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
