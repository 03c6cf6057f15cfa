//! Record decoding, one record at a time: the field readers, every kind of record but calls (`other_into`),
//! the iterator over a block's records, and [`RecordSink`], what the fast loops of `decode` hand records to.

use super::decode::is_ascii;
use crate::binary::block::*;
use crate::error::RecordError;
use crate::event::{DebugKind, EventKind, FuncDef, FuncRef, UpdateAction};
use crate::varint;

/// A decoded record with its monotonic time (0 for the untimed func def, thread name and thread ident).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub time_ns: u64,
    pub kind: EventKind<'a>,
}

/// Iterator over a block's records.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    pub(super) payload: &'a [u8],
    pub(super) pos: usize,
    pub(super) time: u64,
    pub(super) payload_offset: u64,
    pub(super) failed: bool,
}

impl<'a> Records<'a> {
    #[inline(always)]
    fn varint(&mut self) -> Option<u64> {
        let (v, n) = varint::get(&self.payload[self.pos..])?;
        self.pos += n;
        Some(v)
    }

    #[inline(always)]
    fn dt(&mut self) -> Option<u64> {
        let dt = self.varint()?;
        self.time = self.time.wrapping_add(dt);
        Some(self.time)
    }

    #[inline(always)]
    fn u32(&mut self) -> Option<u32> {
        self.varint().and_then(|v| u32::try_from(v).ok())
    }

    /// A function id: a u32 but [`RESERVED_FUNC_ID`].
    #[inline(always)]
    fn func(&mut self) -> Result<u32, &'static str> {
        func_id(self.varint().ok_or("record cut off at the end of the block")?)
    }

    #[inline(always)]
    fn byte(&mut self) -> Option<u8> {
        let b = *self.payload.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    #[inline(always)]
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        let end = self.pos.checked_add(len).filter(|&e| e <= self.payload.len())?;
        let s = &self.payload[self.pos..end];
        self.pos = end;
        Some(s)
    }

    fn str(&mut self) -> Result<&'a str, &'static str> {
        let b = self.bytes().ok_or("string runs past the block")?;
        std::str::from_utf8(b).map_err(|_| "string is not UTF-8")
    }

    /// A string's bytes, checked as [`Records::str`] checks them but not kept: most strings are ASCII, checked
    /// a word at a time without `from_utf8`'s per-call setup.
    #[inline(always)]
    fn check_str(&mut self) -> Result<(), &'static str> {
        let b = self.bytes().ok_or("string runs past the block")?;
        if is_ascii(b) || std::str::from_utf8(b).is_ok() {
            Ok(())
        } else {
            Err("string is not UTF-8")
        }
    }

    /// Decodes a record other than enter/exit (its kind already read) into `sink`: suspend, resume and line
    /// records through their own methods, debug records only if the sink wants them (otherwise their fields are
    /// checked as far, in the same order, but nothing is built), the rest as a [`Record`]. Kept out of line so
    /// the hot loop over calls stays small enough to inline into the caller.
    #[inline(never)]
    pub(super) fn other_into(&mut self, kind: u64, sink: &mut impl RecordSink<'a>) -> Result<(), &'static str> {
        const CUT: &str = "record cut off at the end of the block";
        let rec = match kind {
            KIND_SUSPEND | KIND_RESUME => {
                let func = self.func()?;
                let time_ns = self.dt().ok_or(CUT)?;
                if kind == KIND_SUSPEND {
                    sink.suspend(func, time_ns)
                } else {
                    sink.resume(func, time_ns)
                }
                return Ok(());
            }
            KIND_LINE => {
                let func = self.func()?;
                let line = self.u32().ok_or(CUT)?;
                let duration_ns = self.varint().ok_or(CUT)?;
                let time_ns = self.dt().ok_or(CUT)?;
                sink.line(func, line, duration_ns, time_ns);
                return Ok(());
            }
            KIND_DEBUG => {
                let func = FuncRef::Id(self.func()?);
                let line = self.u32().ok_or(CUT)?;
                let flags = self.byte().ok_or(CUT)?;
                let kind = DebugKind::from_u8(flags & 0x7f).ok_or("unknown debug kind")?;
                if !sink.wants_debug() {
                    self.check_str()?;
                    self.check_str()?;
                    self.dt().ok_or(CUT)?;
                    return Ok(());
                }
                let truncated = flags & 0x80 != 0;
                let name = self.str()?;
                let value = self.str()?;
                let time_ns = self.dt().ok_or(CUT)?;
                Record { time_ns, kind: EventKind::Debug { func, line, kind, name, value, truncated } }
            }
            KIND_FUNC_DEF => {
                let id = self.func()?;
                let qualname = self.str()?;
                let module = self.str()?;
                let file = self.str()?;
                let first_line = self.u32().ok_or(CUT)?;
                Record { time_ns: 0, kind: EventKind::FuncDef(FuncDef { id, qualname, module, file, first_line }) }
            }
            KIND_THREAD_NAME => Record { time_ns: 0, kind: EventKind::ThreadName(self.str()?) },
            KIND_UPDATE => {
                let id = self.u32().ok_or(CUT)?;
                let action = UpdateAction::from_u8(self.byte().ok_or(CUT)?).ok_or("unknown update action")?;
                let description = self.str()?;
                let time_ns = self.dt().ok_or(CUT)?;
                Record { time_ns, kind: EventKind::Update { id, action, description } }
            }
            KIND_THREAD_IDENT => {
                // Later minor versions may append fields to the body: they are skipped with it.
                let body = self.bytes().ok_or(CUT)?;
                let (ident, n) = varint::get(body).ok_or("thread ident record too short")?;
                let (native_id, _) = varint::get(&body[n..]).ok_or("thread ident record too short")?;
                Record { time_ns: 0, kind: EventKind::ThreadIdent { ident, native_id } }
            }
            k if k >= FIRST_EXTENSION_KIND => {
                self.bytes().ok_or(CUT)?;
                return Ok(());
            }
            _ => return Err("reserved record kind"),
        };
        sink.other(rec);
        Ok(())
    }

    /// [`Records::other_into`] for the iterator: the record, or `None` for a skipped extension.
    fn other(&mut self, kind: u64) -> Result<Option<Record<'a>>, &'static str> {
        let mut one = None;
        self.other_into(kind, &mut EveryRecord(|r| one = Some(r)))?;
        Ok(one)
    }
}

/// A record's function id, checked: a u32, and not [`RESERVED_FUNC_ID`] (readers use it for "no function").
#[inline(always)]
pub(super) fn func_id(v: u64) -> Result<u32, &'static str> {
    match u32::try_from(v) {
        Err(_) => Err("function id out of range"),
        Ok(RESERVED_FUNC_ID) => Err("function id 0xFFFFFFFF is reserved"),
        Ok(id) => Ok(id),
    }
}

/// What a call record says happened (the `op` of its header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOp {
    Enter,
    Exit,
    /// The call ended by raising an exception.
    ExitRaised,
}

/// Receives a block's records from [`Records::try_for_each`]: call records (nearly all of a trace) through
/// [`RecordSink::call`], without building a [`Record`], and everything else through [`RecordSink::other`].
pub trait RecordSink<'a> {
    /// A call record: `func` entered or left at `time_ns`.
    fn call(&mut self, op: CallOp, func: u32, time_ns: u64);
    /// Any other record (update, function definition, thread name; and suspend, resume, line and debug unless
    /// the methods below are overridden).
    fn other(&mut self, rec: Record<'a>);

    /// A suspend record (by default handed to [`RecordSink::other`]).
    #[inline(always)]
    fn suspend(&mut self, func: u32, time_ns: u64) {
        self.other(Record { time_ns, kind: EventKind::Suspend(FuncRef::Id(func)) })
    }

    /// A resume record (by default handed to [`RecordSink::other`]).
    #[inline(always)]
    fn resume(&mut self, func: u32, time_ns: u64) {
        self.other(Record { time_ns, kind: EventKind::Resume(FuncRef::Id(func)) })
    }

    /// A line record (by default handed to [`RecordSink::other`]).
    #[inline(always)]
    fn line(&mut self, func: u32, line: u32, duration_ns: u64, time_ns: u64) {
        self.other(Record { time_ns, kind: EventKind::Line { func: FuncRef::Id(func), line, duration_ns } })
    }

    /// The block's records are done, or stopped at damage: `time_ns` is the clock after the last record handed
    /// over (the last timed record's time; the block's base time when it had none). Called once per
    /// [`Records::try_for_each`], so a reader that needs a thread's last event (the analyzer ends calls still open
    /// there) need not store every record's time.
    #[inline(always)]
    fn end(&mut self, time_ns: u64) {
        let _ = time_ns;
    }

    /// Whether debug records reach [`RecordSink::other`]. When not, they are still decoded and checked exactly as
    /// far (a string that is not UTF-8 still ends the block with the same error), but nothing is built.
    #[inline(always)]
    fn wants_debug(&self) -> bool {
        true
    }
}

/// A closure as a [`RecordSink`] (call records become [`Record`]s too).
pub(super) struct EveryRecord<F>(pub(super) F);

impl<'a, F: FnMut(Record<'a>)> RecordSink<'a> for EveryRecord<F> {
    #[inline(always)]
    fn call(&mut self, op: CallOp, func: u32, time_ns: u64) {
        let func = FuncRef::Id(func);
        let kind = match op {
            CallOp::Enter => EventKind::Enter(func),
            CallOp::Exit => EventKind::Exit { func, exception: false, duration_ns: None },
            CallOp::ExitRaised => EventKind::Exit { func, exception: true, duration_ns: None },
        };
        (self.0)(Record { time_ns, kind });
    }

    #[inline(always)]
    fn other(&mut self, rec: Record<'a>) {
        (self.0)(rec)
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, RecordError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed || self.pos >= self.payload.len() {
                return None;
            }
            let start = self.pos;
            let result = match self.varint() {
                None => Err("bad varint"),
                Some(h) => {
                    let op = h & 3;
                    if op == OP_OTHER {
                        self.other(h >> 2)
                    } else {
                        match func_id(h >> 2) {
                            Err(what) => Err(what),
                            Ok(id) => match self.dt() {
                                None => Err("record cut off at the end of the block"),
                                Some(time_ns) => {
                                    let func = FuncRef::Id(id);
                                    let kind = match op {
                                        OP_ENTER => EventKind::Enter(func),
                                        _ => {
                                            EventKind::Exit { func, exception: op == OP_EXIT_RAISED, duration_ns: None }
                                        }
                                    };
                                    Ok(Some(Record { time_ns, kind }))
                                }
                            },
                        }
                    }
                }
            };
            match result {
                Ok(Some(rec)) => return Some(Ok(rec)),
                Ok(None) => continue,
                Err(what) => {
                    self.failed = true;
                    return Some(Err(RecordError { offset: self.payload_offset + start as u64, what }));
                }
            }
        }
    }
}
