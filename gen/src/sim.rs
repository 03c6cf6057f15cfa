//! Simulates one Python process running requests on several threads under the GIL: one thread at a time
//! advances a shared clock, switching every few events. Each request is a root call with a random call tree
//! below it; calls can raise (and unwind several frames), generators suspend and resume, and profiled lines
//! and debugger values are interspersed. The simulation knows nothing of output formats: sinks render its
//! [`SimEvent`]s.

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::distributions::{LogNormalTable, ZipfTable};
use crate::functions::Function;
use crate::values::{repr_value, variable_name};
use crate::GenOptions;
use pylu_formats::event::{DebugKind, UpdateAction};

/// What happened; function numbers index the shared function table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SimKind {
    Enter {
        func: u32,
    },
    /// `enter_ns` is when the call began (the text log prints the call's duration).
    Exit {
        func: u32,
        raised: bool,
        enter_ns: u64,
    },
    Suspend {
        func: u32,
    },
    Resume {
        func: u32,
    },
    Line {
        func: u32,
        line: u32,
        duration_ns: u64,
    },
    Debug {
        func: u32,
        line: u32,
        kind: DebugKind,
        name: &'static str,
        value: String,
    },
    Update {
        id: u32,
        action: UpdateAction,
        description: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SimEvent {
    /// Index of the thread in [`ProcessSim::threads`].
    pub thread: usize,
    /// Monotonic ns.
    pub time_ns: u64,
    pub kind: SimKind,
}

#[derive(Debug, Clone)]
pub(crate) struct SimThread {
    /// Python's `threading.get_ident()`: a pthread address.
    pub tid: u64,
    pub name: String,
    stack: Vec<Frame>,
}

#[derive(Debug, Clone)]
struct Frame {
    func: u32,
    depth: u32,
    enter_ns: u64,
    children_left: u32,
    /// An exception is passing through: no more children, the exit is raised.
    raising: bool,
    yields_left: u32,
    /// Nothing happened in it yet (a debugger value now is its parameters).
    fresh: bool,
    /// A generator this frame called that is waiting to be resumed.
    suspended_child: Option<Box<Frame>>,
}

/// Distributions of the simulated timings, in ns.
#[derive(Debug, Clone)]
struct Timing {
    /// Between two consecutive events of the running thread (interpreter work between instrumented points).
    gap: LogNormalTable,
    /// Extra time a leaf call spends in its own body.
    leaf_self: LogNormalTable,
    /// A blocking call (database, network) now and then.
    io_wait: LogNormalTable,
    /// Idle time between two requests of a thread.
    between_requests: LogNormalTable,
    /// One execution of a profiled line.
    line: LogNormalTable,
}

impl Timing {
    fn new() -> Self {
        let lognormal = LogNormalTable::new;
        Timing {
            gap: lognormal(700.0, 1.0),
            leaf_self: lognormal(1_500.0, 1.2),
            io_wait: lognormal(300_000.0, 1.0),
            between_requests: lognormal(150_000.0, 1.5),
            line: lognormal(400.0, 1.0),
        }
    }
}

pub(crate) struct ProcessSim<'f> {
    pub pid: u32,
    pub process_name: String,
    pub threads: Vec<SimThread>,
    /// Monotonic clock the threads share (one runs at a time under the GIL).
    pub clock_ns: u64,
    /// The clock reading paired with `wall_anchor_ns` (what a binary header stores).
    pub monotonic_anchor_ns: u64,
    pub wall_anchor_ns: u64,
    functions: &'f [Function],
    rng: ChaCha8Rng,
    timing: Timing,
    root_choice: ZipfTable,
    /// The program's static call graph: what each function's body calls, most frequent first.
    callees: Vec<Vec<u32>>,
    opts: GenOptions,
    current: usize,
    draining: bool,
    events_until_update: u64,
    next_update_id: u32,
    update_applied: bool,
    /// The call being finished (popped, its last time still to come), for [`GenOptions::slowdown`].
    finishing: Option<u32>,
}

fn clamp_rate(rate: f64, max: f64) -> f64 {
    if rate.is_nan() {
        0.0
    } else {
        rate.clamp(0.0, max)
    }
}

/// The program every process runs: a static call graph in which each function's body calls a fixed handful of
/// others, as real code does, so the set of distinct stacks stays bounded however long the trace (drawing any
/// function as any call's child made nearly every call a new stack — nothing like a real profile). Popular
/// functions (Zipf) are called from many places; callees always have a larger id, so there is no recursion and
/// the graph is a DAG. Built from the seed alone: every process runs the same code.
fn call_graph(opts: &GenOptions, function_count: u32, roots: u32) -> Vec<Vec<u32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let popularity = ZipfTable::new(function_count, opts.zipf_exponent);
    let mut by_rank: Vec<u32> = (0..function_count).collect();
    rand::seq::SliceRandom::shuffle(&mut by_rank[..], &mut rng);
    (0..function_count)
        .map(|f| {
            // A third of the functions below the request handlers are leaves (they call nothing profiled).
            if f >= roots && rng.gen_bool(0.33) {
                return Vec::new();
            }
            let wanted = rng.gen_range(1..=6);
            let mut sites: Vec<u32> = Vec::with_capacity(wanted);
            for _ in 0..wanted * 8 {
                if sites.len() == wanted {
                    break;
                }
                let callee = by_rank[popularity.sample(&mut rng)];
                if callee > f && !sites.contains(&callee) {
                    sites.push(callee);
                }
            }
            sites
        })
        .collect()
}

/// Wall clock of the first event: 2024-03-01 09:00:00 UTC.
const WALL_START_NS: u64 = 1_709_283_600_000_000_000;

impl<'f> ProcessSim<'f> {
    pub fn new(opts: &GenOptions, functions: &'f [Function], index: u32, pid: u32) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.run_seed.unwrap_or(opts.seed));
        // Each process draws from its own stream of the same seed: processes are independent and
        // reproducible whatever order they are generated in.
        rng.set_stream(u64::from(pid) + 1);
        let function_count = functions.len().max(1) as u32;
        let roots = (function_count / 20).max(1);
        let root_choice = ZipfTable::new(roots, opts.zipf_exponent);
        let callees = call_graph(opts, function_count, roots);

        let thread_count = opts.threads_per_process.max(1);
        let threads = (0..thread_count)
            .map(|t| SimThread {
                tid: 139_880_000_000_000 + u64::from(pid) * 1_000_000_000 + u64::from(t) * 8_392_704,
                name: if t == 0 { "MainThread".to_owned() } else { format!("ThreadPoolExecutor-0_{}", t - 1) },
                stack: Vec::new(),
            })
            .collect();
        let monotonic_anchor_ns = rng.gen_range(10_000_000_000_000..90_000_000_000_000u64);
        let wall_anchor_ns = WALL_START_NS + u64::from(index) * rng.gen_range(1_000_000..50_000_000u64);
        let events_until_update = rng.gen_range(50_000..400_000);
        ProcessSim {
            pid,
            process_name: if index == 0 { "MainProcess".to_owned() } else { format!("Process-{index}") },
            threads,
            clock_ns: monotonic_anchor_ns,
            monotonic_anchor_ns,
            wall_anchor_ns,
            functions,
            rng,
            timing: Timing::new(),
            root_choice,
            callees,
            opts: GenOptions {
                // Line and debug records do not advance a call: rates near 1 would never let a request end.
                line_rate: clamp_rate(opts.line_rate, 0.45),
                debug_rate: clamp_rate(opts.debug_rate, 0.45),
                ..opts.clone()
            },
            current: 0,
            draining: false,
            events_until_update,
            next_update_id: 1,
            update_applied: false,
            finishing: None,
        }
    }

    /// Wall-clock ns of a monotonic reading.
    pub fn wall_ns(&self, monotonic_ns: u64) -> u64 {
        self.wall_anchor_ns + (monotonic_ns - self.monotonic_anchor_ns)
    }

    pub fn function(&self, func: u32) -> &'f Function {
        &self.functions[func as usize]
    }

    /// No new requests from now on: threads finish what they are doing, then [`Self::next_event`] ends.
    pub fn drain(&mut self) {
        self.draining = true;
    }

    pub fn next_event(&mut self) -> Option<SimEvent> {
        loop {
            if self.rng.gen_ratio(1, 8) {
                self.switch_thread();
            }
            if self.draining && self.threads[self.current].stack.is_empty() {
                self.current = self.threads.iter().position(|t| !t.stack.is_empty())?;
            }
            if let Some(event) = self.step() {
                return Some(event);
            }
        }
    }

    fn switch_thread(&mut self) {
        let next = self.rng.gen_range(0..self.threads.len());
        if next != self.current {
            self.current = next;
            self.advance(|t| &t.gap);
        }
    }

    /// Moves the clock on by a draw from one of the timing distributions.
    fn advance(&mut self, pick: impl Fn(&Timing) -> &LogNormalTable) {
        let mut ns = pick(&self.timing).sample(&mut self.rng).min(5e9) as u64;
        if let Some((slow, factor)) = self.opts.slowdown {
            let running = self.finishing.or(self.threads[self.current].stack.last().map(|f| f.func));
            if running == Some(slow) {
                ns = (ns as f64 * factor) as u64;
            }
        }
        self.clock_ns += ns.max(1);
    }

    fn event(&self, kind: SimKind) -> SimEvent {
        SimEvent { thread: self.current, time_ns: self.clock_ns, kind }
    }

    /// One event of the current thread, or `None` when it has nothing left to do while draining.
    fn step(&mut self) -> Option<SimEvent> {
        if self.events_until_update == 0 {
            self.events_until_update = self.rng.gen_range(100_000..800_000);
            return Some(self.update_marker());
        }
        self.events_until_update -= 1;

        let Some(top) = self.threads[self.current].stack.last() else {
            if self.draining {
                return None;
            }
            self.advance(|t| &t.between_requests);
            let func = self.pick_root();
            return Some(self.push_call(func, 0));
        };

        let (func, depth, children_left, fresh, has_suspended) =
            (top.func, top.depth, top.children_left, top.fresh, top.suspended_child.is_some());
        let roll: f64 = self.rng.gen();
        if roll < self.opts.line_rate {
            return Some(self.line_record(func));
        }
        if roll < self.opts.line_rate + self.opts.debug_rate {
            let kind = match (fresh, children_left) {
                (true, _) => DebugKind::Parameters,
                (false, 0) => DebugKind::ReturnValue,
                _ if self.rng.gen_bool(0.5) => DebugKind::Used,
                _ => DebugKind::Defined,
            };
            return Some(self.debug_record(func, kind));
        }

        if has_suspended && (children_left == 0 || self.rng.gen_bool(0.4)) {
            return Some(self.resume_generator());
        }
        if children_left > 0 {
            let child = self.pick_child(func);
            let top = self.top_frame();
            top.children_left -= 1;
            top.fresh = false;
            return Some(self.push_call(child, depth + 1));
        }
        Some(self.finish_call())
    }

    fn top_frame(&mut self) -> &mut Frame {
        self.threads[self.current].stack.last_mut().expect("called with a non-empty stack")
    }

    fn pick_root(&mut self) -> u32 {
        self.root_choice.sample(&mut self.rng) as u32
    }

    /// One of `parent`'s call sites: the first ones (the common path through its body) most often.
    fn pick_child(&mut self, parent: u32) -> u32 {
        let sites = &self.callees[parent as usize];
        let mut i = 0;
        while i + 1 < sites.len() && self.rng.gen_bool(0.45) {
            i += 1;
        }
        sites[i]
    }

    /// How many calls a frame of `func` at `depth` makes: wide near the root, mostly leaves deep down, none
    /// where its body calls nothing.
    fn child_count(&mut self, func: u32, depth: u32) -> u32 {
        if depth + 1 >= self.opts.max_depth || self.callees[func as usize].is_empty() {
            return 0;
        }
        let leaf_probability = (0.30 + 0.06 * depth as f64).min(0.95);
        if self.rng.gen_bool(leaf_probability) {
            return 0;
        }
        let mut count = 1;
        while count < 12 && self.rng.gen_bool(0.55) {
            count += 1;
        }
        count
    }

    fn push_call(&mut self, func: u32, depth: u32) -> SimEvent {
        self.advance(|t| &t.gap);
        let children_left = self.child_count(func, depth);
        let yields_left = if self.function(func).is_generator { self.rng.gen_range(1..5) } else { 0 };
        let frame = Frame {
            func,
            depth,
            enter_ns: self.clock_ns,
            children_left,
            raising: false,
            yields_left,
            fresh: true,
            suspended_child: None,
        };
        self.threads[self.current].stack.push(frame);
        self.event(SimKind::Enter { func })
    }

    fn finish_call(&mut self) -> SimEvent {
        let exception_rate = clamp_rate(self.opts.exception_rate, 1.0);
        let stack = &mut self.threads[self.current].stack;
        let Some(mut frame) = stack.pop() else { unreachable!("finish_call needs a frame") };
        let was_leaf = frame.fresh;
        self.finishing = Some(frame.func);
        self.advance(|t| &t.gap);
        if was_leaf {
            self.advance(|t| &t.leaf_self);
            if self.rng.gen_bool(0.01) {
                self.advance(|t| &t.io_wait);
            }
        }
        self.finishing = None;
        let stack = &mut self.threads[self.current].stack;
        if frame.yields_left > 0 && !frame.raising {
            if let Some(parent) = stack.last_mut().filter(|p| p.suspended_child.is_none()) {
                frame.yields_left -= 1;
                frame.fresh = true;
                let func = frame.func;
                parent.suspended_child = Some(Box::new(frame));
                return self.event(SimKind::Suspend { func });
            }
        }
        let raised = frame.raising || self.rng.gen_bool(exception_rate);
        if raised {
            // Half the time the caller does not catch it either: the exception unwinds another frame.
            let unwinds = self.rng.gen_bool(0.5);
            if let Some(parent) = self.threads[self.current].stack.last_mut().filter(|_| unwinds) {
                parent.raising = true;
                parent.children_left = 0;
            }
        }
        self.event(SimKind::Exit { func: frame.func, raised, enter_ns: frame.enter_ns })
    }

    fn resume_generator(&mut self) -> SimEvent {
        self.advance(|t| &t.gap);
        let top = self.top_frame();
        top.fresh = false;
        let Some(mut generator) = top.suspended_child.take() else { unreachable!("checked by step") };
        let depth = generator.depth;
        let func = generator.func;
        generator.children_left = if self.rng.gen_bool(0.5) { 0 } else { self.child_count(func, depth) };
        self.threads[self.current].stack.push(*generator);
        self.event(SimKind::Resume { func })
    }

    fn line_record(&mut self, func: u32) -> SimEvent {
        let f = self.function(func);
        let line = f.first_line + 1 + self.rng.gen_range(0..f.body_lines);
        let duration_ns = (self.timing.line.sample(&mut self.rng) as u64).max(1);
        self.clock_ns += duration_ns;
        self.event(SimKind::Line { func, line, duration_ns })
    }

    fn debug_record(&mut self, func: u32, kind: DebugKind) -> SimEvent {
        self.advance(|t| &t.gap);
        let f = self.function(func);
        let line = match kind {
            DebugKind::Parameters => f.first_line,
            _ => f.first_line + 1 + self.rng.gen_range(0..f.body_lines),
        };
        let name = if kind == DebugKind::ReturnValue { "return" } else { variable_name(&mut self.rng) };
        let value = repr_value(&mut self.rng);
        self.top_frame().fresh = false;
        self.event(SimKind::Debug { func, line, kind, name, value })
    }

    fn update_marker(&mut self) -> SimEvent {
        self.advance(|t| &t.gap);
        let (id, action) = if self.update_applied {
            (self.next_update_id - 1, UpdateAction::Reverted)
        } else {
            self.next_update_id += 1;
            (self.next_update_id - 1, UpdateAction::Applied)
        };
        self.update_applied = !self.update_applied;
        let target_index = self.rng.gen_range(0..self.functions.len().max(1) as u32);
        let target = self.function(target_index);
        let description = format!("FuncProfiler.profile('{}.{}')", target.module, target.qualname);
        self.event(SimKind::Update { id, action, description })
    }
}
