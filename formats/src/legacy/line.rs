//! One line of the log: `asctime; processName; process; threadName; thread; pathname; lineno; module;
//! funcName; message`, as the original's log server formatted it.

use super::asctime::parse_asctime;
use super::message::{parse_message, Message};
use super::number::{parse_u32, parse_u64};
use crate::event::{Event, EventKind, FuncRef};

/// Columns before the message; the message itself may hold more `;` (a repr), so splitting stops here.
const SEPARATORS_BEFORE_MESSAGE: usize = 9;

/// Parses one line (without its `\n`; a trailing `\r` is tolerated) into its event and the thread name
/// column. The error says what was wrong, for [`super::LineError`].
pub fn parse_line(line: &[u8]) -> Result<(Event<'_>, &str), &'static str> {
    parse_line_cached(line, &mut AsctimeCache::default())
}

/// The last `asctime` read and its value: consecutive lines mostly share it (millisecond resolution), and
/// comparing 23 bytes is cheaper than parsing them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AsctimeCache<'a> {
    last: Option<(&'a str, i64)>,
}

impl<'a> AsctimeCache<'a> {
    #[inline]
    fn get(&mut self, asctime: &'a str) -> Option<i64> {
        match self.last {
            Some((text, ns)) if text == asctime => Some(ns),
            _ => {
                let ns = parse_asctime(asctime.as_bytes())?;
                self.last = Some((asctime, ns));
                Some(ns)
            }
        }
    }
}

/// [`parse_line`] with the `asctime` of the previous line remembered.
#[inline]
pub(crate) fn parse_line_cached<'a>(
    line: &'a [u8],
    cache: &mut AsctimeCache<'a>,
) -> Result<(Event<'a>, &'a str), &'static str> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = std::str::from_utf8(line).map_err(|_| "not UTF-8")?;

    // Columns are cut at `;` and trimmed of ASCII spaces: both ASCII, so every cut is a char boundary.
    let mut fields: [&str; SEPARATORS_BEFORE_MESSAGE] = [""; SEPARATORS_BEFORE_MESSAGE];
    let mut field_start = 0;
    let mut separators = memchr::memchr_iter(b';', line.as_bytes());
    for field in fields.iter_mut() {
        let at = separators.next().ok_or("fewer than 10 `;`-separated columns")?;
        *field = line[field_start..at].trim_ascii();
        field_start = at + 1;
    }
    let message = line[field_start..].trim_ascii();
    let [asctime, _process_name, process, thread_name, thread, pathname, lineno, module, func_name] = fields;

    let asctime_ns = cache.get(asctime).ok_or("bad asctime (expected `YYYY-MM-DD HH:MM:SS,mmm`)")?;
    let pid = parse_u32(process.as_bytes()).ok_or("bad process id")?;
    let tid = parse_u64(thread.as_bytes()).ok_or("bad thread id")?;
    let line_no = parse_u32(lineno.as_bytes()).ok_or("bad line number")?;
    let func = FuncRef::Named { module, name: func_name, file: pathname };

    let (time_ns, kind) = match parse_message(message.as_bytes())? {
        Message::FuncBegin { time_ns } => (time_ns, EventKind::Enter(func)),
        Message::FuncEnd { duration_ns, time_ns } => {
            (time_ns, EventKind::Exit { func, exception: false, duration_ns: Some(duration_ns) })
        }
        Message::LineTime { duration_ns } => (asctime_ns, EventKind::Line { func, line: line_no, duration_ns }),
        Message::Debug { kind, value } => {
            // The value is a suffix of the message, which is a str.
            let value = message.get(message.len() - value.len()..).unwrap_or_default();
            (asctime_ns, EventKind::Debug { func, line: line_no, kind, name: "", value, truncated: false })
        }
    };
    Ok((Event { pid, tid, time_ns, kind }, thread_name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::DebugKind;

    const VIEWS: FuncRef<'static> = FuncRef::Named { module: "views", name: "views_get2", file: "/srv/app/views.py" };

    #[test]
    fn func_begin_uses_the_message_epoch() {
        let line = b"2020-05-10 12:28:16,048; MainProcess; 4510; Thread-4; 140000000451001; /srv/app/views.py; 374; views; views_get2; func_begin; 1589113696.048286";
        let (event, thread) = parse_line(line).unwrap();
        assert_eq!(thread, "Thread-4");
        assert_eq!(
            event,
            Event {
                pid: 4510,
                tid: 140_000_000_451_001,
                time_ns: 1_589_113_696_048_286_000,
                kind: EventKind::Enter(VIEWS)
            }
        );
    }

    #[test]
    fn debug_value_keeps_semicolons_and_crlf_is_tolerated() {
        let line = b"2020-05-10 12:28:16,048; MainProcess; 4510; Thread-4; 7; /srv/app/views.py; 380; views; views_get2; usevalues: {'q': 'a; b; c'}\r";
        let (event, _) = parse_line(line).unwrap();
        assert_eq!(event.time_ns, 1_589_113_696_048_000_000);
        assert_eq!(
            event.kind,
            EventKind::Debug {
                func: VIEWS,
                line: 380,
                kind: DebugKind::Used,
                name: "",
                value: "{'q': 'a; b; c'}",
                truncated: false
            }
        );
    }

    #[test]
    fn bad_columns_are_named() {
        let ok = "2020-05-10 12:28:16,048; MainProcess; 4510; Thread-4; 7; /a.py; 3; a; f; 0.0010 ms";
        assert!(parse_line(ok.as_bytes()).is_ok());
        let cases = [
            (ok.replace("4510", "x"), "process"),
            (ok.replace("; 7;", "; -7;"), "thread"),
            (ok.replace("; 3;", "; three;"), "line number"),
            (ok.replace("2020-05-10", "2020-05-99"), "asctime"),
            (ok.replace("; a; f; ", "; a f "), "columns"),
        ];
        for (line, what) in cases {
            let err = parse_line(line.as_bytes()).unwrap_err();
            assert!(err.contains(what), "{line}: {err}");
        }
        assert_eq!(parse_line(b"\xff\xfe"), Err("not UTF-8"));
    }
}
