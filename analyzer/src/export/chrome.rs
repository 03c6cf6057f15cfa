//! `export chrome`: the Chrome trace event format (JSON object form) that ui.perfetto.dev and chrome://tracing
//! open. Processes and threads are named with `M` metadata events; each stretch of a call is a complete event
//! (`ph: "X"`, `ts` and `dur` in µs with ns decimals, measured from the earliest time exported so that doubles
//! keep the nanoseconds: the origin is in `otherData`); debugger values are the call's `args`; update markers
//! (and debugger values recorded outside a call of their function) are instant events (`ph: "i"`). Thread
//! ids become small numbers per process (1, 2, …, in the order of the threads): recorded ids are 64-bit
//! pointers on some platforms, which viewers do not take; the real id is in the thread's name.

use std::collections::HashMap;
use std::io::{self, Write};

use super::replay::Func;
use super::timeline::{arg_name, ThreadLine};

/// Writes `threads` (already [`ThreadLine::nest`]ed), in their order.
pub fn write(threads: &[ThreadLine], funcs: &[Func], out: &mut dyn Write) -> io::Result<()> {
    let origin = threads.iter().filter_map(|t| t.first_time()).min().unwrap_or(0);
    let ts = |t: i64| -> String {
        let d = t.saturating_sub(origin).max(0) as u64;
        format!("{}.{:03}", d / 1000, d % 1000)
    };
    let dur = |ns: u64| -> String { format!("{}.{:03}", ns / 1000, ns % 1000) };
    let q = |s: &str| serde_json::to_string(s).expect("strings serialize");
    writeln!(out, "{{\"displayTimeUnit\":\"ns\",\"otherData\":{{\"exporter\":\"pylu-analyze {}\",\"origin_ns\":{origin},\"origin\":{}}},\"traceEvents\":[",
        env!("CARGO_PKG_VERSION"), q(&pylu_formats::timefmt::iso8601(origin)))?;
    let mut first = true;
    let mut sep = |out: &mut dyn Write| -> io::Result<()> {
        if !first {
            out.write_all(b",\n")?;
        }
        first = false;
        Ok(())
    };
    let mut named_pids: HashMap<u32, ()> = HashMap::new();
    let mut small: HashMap<u32, u32> = HashMap::new();
    for t in threads {
        let pid = t.meta.pid;
        if named_pids.insert(pid, ()).is_none() {
            sep(out)?;
            let name = format!("pid {pid} ({})", t.meta.host);
            write!(
                out,
                "{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{pid},\"tid\":0,\"args\":{{\"name\":{}}}}}",
                q(&name)
            )?;
        }
        let n = small.entry(pid).or_insert(0);
        *n += 1;
        let tid = *n;
        sep(out)?;
        let name = format!("{} (tid {})", t.display_name(), t.meta.tid);
        write!(
            out,
            "{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":{pid},\"tid\":{tid},\"args\":{{\"name\":{}}}}}",
            q(&name)
        )?;
        sep(out)?;
        write!(out, "{{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":{pid},\"tid\":{tid},\"args\":{{\"sort_index\":{tid}}}}}")?;
        for s in &t.spans {
            sep(out)?;
            let f = &funcs[s.func as usize];
            write!(
                out,
                "{{\"ph\":\"X\",\"name\":{},\"cat\":{},\"pid\":{pid},\"tid\":{tid},\"ts\":{},\"dur\":{}",
                q(&f.name),
                q(if f.module.is_empty() { "python" } else { &f.module }),
                ts(s.start),
                dur(s.end.saturating_sub(s.start).max(0) as u64)
            )?;
            if !s.args.is_empty() || s.raised {
                out.write_all(b",\"args\":{")?;
                let mut comma = false;
                if s.raised {
                    out.write_all(b"\"raised\":true")?;
                    comma = true;
                }
                for a in &s.args {
                    if comma {
                        out.write_all(b",")?;
                    }
                    write!(out, "{}:{}", q(&arg_name(a)), q(&a.value))?;
                    comma = true;
                }
                out.write_all(b"}")?;
            }
            out.write_all(b"}")?;
        }
        for i in &t.instants {
            sep(out)?;
            let name = match i.func {
                Some(f) => format!("{} {}", funcs[f as usize].name, i.name),
                None => i.name.clone(),
            };
            // Updates change the whole process: drawn across it.
            let scope = if i.func.is_some() { "t" } else { "p" };
            write!(
                out,
                "{{\"ph\":\"i\",\"s\":\"{scope}\",\"name\":{},\"pid\":{pid},\"tid\":{tid},\"ts\":{},\"args\":{{",
                q(&name),
                ts(i.time)
            )?;
            for (k, (name, value)) in i.args.iter().enumerate() {
                if k > 0 {
                    out.write_all(b",")?;
                }
                write!(out, "{}:{}", q(name), q(value))?;
            }
            out.write_all(b"}}")?;
        }
    }
    out.write_all(b"\n]}\n")
}
