//! The one event model both readers decode into.
//!
//! A binary trace and an original pyliveupdate text log both become a stream of [`Event`]s. Strings borrow
//! from the input bytes (zero-copy over a memory map). Functions are referred to either by the id a binary
//! trace interned with a [`EventKind::FuncDef`], or by name where the text log spells them out on every line.

/// One decoded record, with the process and thread it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    pub pid: u32,
    /// The thread id as the recorder saw it (binary: the block's thread id; text log: the `thread` column).
    pub tid: u64,
    /// Wall-clock time in nanoseconds since the Unix epoch. Binary traces convert their monotonic clock with the
    /// file header's clock anchor; text logs use the epoch the message carries, else the `asctime` column read as UTC.
    pub time_ns: i64,
    pub kind: EventKind<'a>,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind<'a> {
    /// Interns a function id for the rest of the file (binary traces only). Carries no meaningful time.
    FuncDef(FuncDef<'a>),
    /// Names the event's thread from here on. Carries no meaningful time.
    ThreadName(&'a str),
    /// The OS's ids of the event's thread (binary traces since minor version 2, whose thread id is then a serial
    /// that never names two OS threads). Carries no meaningful time.
    ThreadIdent { ident: u64, native_id: u64 },
    /// A call began.
    Enter(FuncRef<'a>),
    /// A call ended. `duration_ns` is set where the recorder measured the call itself (the text log's
    /// `func_end; <ms>`); otherwise the duration is the distance to the matching [`EventKind::Enter`].
    Exit { func: FuncRef<'a>, exception: bool, duration_ns: Option<u64> },
    /// A generator or coroutine yielded or awaited: its frame leaves the stack, the call is not over.
    Suspend(FuncRef<'a>),
    /// A suspended generator or coroutine runs again: its frame is back on the stack.
    Resume(FuncRef<'a>),
    /// One execution of a profiled line, ending at the event's time.
    Line { func: FuncRef<'a>, line: u32, duration_ns: u64 },
    /// A debugger value. `value` is the `repr()` text, cut at [`crate::MAX_REPR_BYTES`] (then `truncated`).
    Debug { func: FuncRef<'a>, line: u32, kind: DebugKind, name: &'a str, value: &'a str, truncated: bool },
    /// A modification was applied or reverted at this moment.
    Update { id: u32, action: UpdateAction, description: &'a str },
}

/// A function as the records name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FuncRef<'a> {
    /// An id interned by a [`FuncDef`] of the same file.
    Id(u32),
    /// Spelled out (text logs): the module and the function name, joined with `.` for display.
    Named { module: &'a str, name: &'a str, file: &'a str },
}

/// An interned function definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuncDef<'a> {
    pub id: u32,
    /// `__qualname__`, e.g. `IndexView.get`.
    pub qualname: &'a str,
    /// `__module__`, e.g. `polls.views`.
    pub module: &'a str,
    pub file: &'a str,
    pub first_line: u32,
}

/// `module.name`, or just `name` where the module is unknown.
pub fn join_name(module: &str, name: &str) -> String {
    if module.is_empty() {
        name.to_owned()
    } else {
        let mut s = String::with_capacity(module.len() + 1 + name.len());
        s.push_str(module);
        s.push('.');
        s.push_str(name);
        s
    }
}

/// What a debug record shows, after the original debuggers' messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum DebugKind {
    /// FuncDebugger on entry (`parameters: …`).
    Parameters = 0,
    /// FuncDebugger on exit (`returnvalues: …`).
    ReturnValue = 1,
    /// VarDebugger / LineDebugger: a variable's value where a statement uses it (`usevalues: …`).
    Used = 2,
    /// VarDebugger / LineDebugger: a variable's value after a statement assigns it (`defvalues: …`).
    Defined = 3,
    /// Any other named value (custom instruments).
    Variable = 4,
}

impl DebugKind {
    pub const ALL: [DebugKind; 5] =
        [DebugKind::Parameters, DebugKind::ReturnValue, DebugKind::Used, DebugKind::Defined, DebugKind::Variable];

    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.get(v as usize).copied()
    }

    /// The lower-case name used in dumps and JSON (`parameters`, `return`, `used`, `defined`, `variable`).
    pub fn as_str(self) -> &'static str {
        match self {
            DebugKind::Parameters => "parameters",
            DebugKind::ReturnValue => "return",
            DebugKind::Used => "used",
            DebugKind::Defined => "defined",
            DebugKind::Variable => "variable",
        }
    }
}

/// Whether an update marker records an update going in or coming out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum UpdateAction {
    Applied = 0,
    Reverted = 1,
}

impl UpdateAction {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(UpdateAction::Applied),
            1 => Some(UpdateAction::Reverted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UpdateAction::Applied => "applied",
            UpdateAction::Reverted => "reverted",
        }
    }
}

impl EventKind<'_> {
    /// Whether the event's time means anything (definitions and thread names carry none).
    pub fn is_timed(&self) -> bool {
        !matches!(self, EventKind::FuncDef(_) | EventKind::ThreadName(_) | EventKind::ThreadIdent { .. })
    }
}

impl std::fmt::Display for FuncRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FuncRef::Id(id) => write!(f, "fn#{id}"),
            FuncRef::Named { module: "", name, .. } => f.write_str(name),
            FuncRef::Named { module, name, .. } => write!(f, "{module}.{name}"),
        }
    }
}

/// One line, no newline; strings are quoted and escaped so a record never spans lines.
impl std::fmt::Display for EventKind<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventKind::FuncDef(d) => {
                write!(
                    f,
                    "funcdef fn#{} {:?} module={:?} file={:?}:{}",
                    d.id, d.qualname, d.module, d.file, d.first_line
                )
            }
            EventKind::ThreadName(name) => write!(f, "thread-name {name:?}"),
            EventKind::ThreadIdent { ident, native_id } => write!(f, "thread-ident {ident:#x} native={native_id}"),
            EventKind::Enter(func) => write!(f, "enter {func}"),
            EventKind::Exit { func, exception, duration_ns } => {
                write!(f, "exit {func}")?;
                if *exception {
                    f.write_str(" raised")?;
                }
                match duration_ns {
                    Some(d) => write!(f, " duration_ns={d}"),
                    None => Ok(()),
                }
            }
            EventKind::Suspend(func) => write!(f, "suspend {func}"),
            EventKind::Resume(func) => write!(f, "resume {func}"),
            EventKind::Line { func, line, duration_ns } => write!(f, "line {func}:{line} duration_ns={duration_ns}"),
            EventKind::Debug { func, line, kind, name, value, truncated } => {
                write!(f, "debug {func}:{line} {} {name:?}={value:?}", kind.as_str())?;
                if *truncated {
                    f.write_str(" truncated")?;
                }
                Ok(())
            }
            EventKind::Update { id, action, description } => {
                write!(f, "update {id} {} {description:?}", action.as_str())
            }
        }
    }
}

/// `<ISO 8601 time or -> pid=<pid> tid=<tid> <kind>`: what `pylu-analyze dump` prints per record.
impl std::fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.kind.is_timed() {
            f.write_str(&crate::timefmt::iso8601(self.time_ns))?;
        } else {
            f.write_str("-")?;
        }
        write!(f, " pid={} tid={} {}", self.pid, self.tid, self.kind)
    }
}
