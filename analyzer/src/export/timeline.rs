//! What the timeline exports (Chrome, speedscope) share: each thread's stretches on the stack, cut to a time
//! window, short ones left out, sorted and nested.
//!
//! A call is drawn as one span per stretch on the stack (a generator that suspended has several; drawn as one,
//! it would cover its caller's other calls). Viewers need spans of a thread to nest; times from a text log can
//! disagree slightly (a measured duration against the line's timestamp), so a span is cut at its enclosing
//! span's end. Calls never closed have no end and are not drawn.

use super::replay::{CallRow, DebugArg, Sink, ThreadMeta};
use pylu_formats::UpdateAction;

/// One stretch of a call on the stack (wall-clock ns).
#[derive(Debug, Clone)]
pub struct Span {
    pub start: i64,
    pub end: i64,
    pub func: u32,
    pub depth: u32,
    pub raised: bool,
    /// Set on the call's last stretch only.
    pub args: Vec<DebugArg>,
}

/// An instant: an update marker, or a debugger value no open call received.
#[derive(Debug, Clone)]
pub struct Instant {
    pub time: i64,
    /// The debugger value's function, whose name starts the instant's name when written.
    pub func: Option<u32>,
    pub name: String,
    pub args: Vec<(String, String)>,
}

/// The window and the shortest span kept.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from: i64,
    pub to: i64,
    pub min_dur: u64,
}

impl Default for Window {
    fn default() -> Self {
        Window { from: i64::MIN, to: i64::MAX, min_dur: 0 }
    }
}

/// One thread's spans and instants.
#[derive(Debug)]
pub struct ThreadLine {
    pub meta: ThreadMeta,
    pub name: Option<String>,
    pub spans: Vec<Span>,
    pub instants: Vec<Instant>,
    pub win: Window,
}

impl ThreadLine {
    pub fn new(meta: ThreadMeta, win: Window) -> Self {
        ThreadLine { meta, name: None, spans: Vec::new(), instants: Vec::new(), win }
    }

    fn keep(&mut self, start: i64, end: i64, func: u32, depth: u32, raised: bool, args: &[DebugArg]) {
        let (start, end) = (start.max(self.win.from), end.min(self.win.to));
        if end < start || end.abs_diff(start) < self.win.min_dur {
            return;
        }
        self.spans.push(Span { start, end, func, depth, raised, args: args.to_vec() });
    }

    /// The thread's name as recorded, else its id.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.meta.tid.to_string())
    }

    /// Sorts the spans (start, then the longest first) and cuts each at its enclosing span's end.
    pub fn nest(&mut self) {
        self.spans.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)).then(a.depth.cmp(&b.depth)));
        let mut open: Vec<i64> = Vec::new();
        for s in &mut self.spans {
            while open.last().is_some_and(|&end| end <= s.start) {
                open.pop();
            }
            if let Some(&end) = open.last() {
                s.end = s.end.min(end);
            }
            open.push(s.end);
        }
        self.instants.sort_by_key(|i| i.time);
    }

    /// The earliest time drawn (spans are sorted by [`ThreadLine::nest`]).
    pub fn first_time(&self) -> Option<i64> {
        let s = self.spans.first().map(|s| s.start);
        let i = self.instants.first().map(|i| i.time);
        match (s, i) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn last_time(&self) -> Option<i64> {
        let s = self.spans.iter().map(|s| s.end).max();
        let i = self.instants.last().map(|i| i.time);
        s.max(i)
    }
}

impl Sink for ThreadLine {
    fn thread_name(&mut self, name: &str) {
        self.name = Some(name.to_owned());
    }

    fn call(&mut self, row: &CallRow<'_>) {
        let Some(end) = row.end_ns else { return };
        for &(s, e) in row.segments {
            self.keep(s, e, row.func, row.depth, false, &[]);
        }
        self.keep(row.last_start_ns, end, row.func, row.depth, row.raised, row.args);
    }

    fn update(&mut self, time_ns: i64, id: u32, action: UpdateAction, description: &str) {
        if time_ns < self.win.from || time_ns > self.win.to {
            return;
        }
        self.instants.push(Instant {
            time: time_ns,
            func: None,
            name: format!("update {id} {}", action.as_str()),
            args: vec![("description".into(), description.to_owned())],
        });
    }

    fn debug(&mut self, time_ns: i64, func: u32, arg: DebugArg) {
        if time_ns < self.win.from || time_ns > self.win.to {
            return;
        }
        self.instants.push(Instant {
            time: time_ns,
            func: Some(func),
            name: arg.kind.as_str().to_owned(),
            args: vec![(arg_name(&arg), arg.value)],
        });
    }
}

/// The key a debugger value gets among a span's args: its name, or its kind when it has none.
pub fn arg_name(a: &DebugArg) -> String {
    if a.name.is_empty() {
        a.kind.as_str().to_owned()
    } else {
        format!("{} {}", a.kind.as_str(), a.name)
    }
}
