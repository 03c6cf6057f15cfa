//! Text logs: a thread's events replayed in order on its real stack, with the rule for requests whose root
//! raised (docs/ANALYZER.md, "Text logs: requests whose root raised").
//!
//! The original's `func_end` runs on return only, so a call that raised leaves no trace of its end. A function
//! the thread has entered with nothing open, and never seen end inside another call, is an *entry point* (a
//! request handler, a task). When an entry point is entered again while calls are open, the open calls that
//! will never end are taken for dead (an exception left the previous request) and cut, so the new call starts
//! at the thread's root instead of under them. Calls that will end stay: the new call nests under them, as it
//! does when the entry point is recursive (`walk` calling `walk`), which the moment of the enter alone cannot
//! tell apart from a request after a raised one.
//!
//! Whether a call ends is known by reading ahead: [`TextReplay`] replays each event `read_ahead` events of the
//! thread after reading it, and the reading runs the original's rule alone (an exit ends the innermost open
//! call of its function; the calls above it never end) to mark every call it sees end. A call whose end lies
//! further ahead than that counts as never ending; if it ends after all, the cut was wrong: its exit is counted
//! as unmatched, and the entry point that cut it is not taken for one again on that thread.
//!
//! Main type: [`TextReplay`], one per text-log thread, next to the thread's [`Machine`].

use std::collections::VecDeque;

use rustc_hash::FxHashSet;

use super::{Machine, Suspended, TextEv, NO_DURATION, NO_SLOT};

/// [`TextReplay::entry_points`] states.
const UNKNOWN: u8 = 0;
const ENTRY_POINT: u8 = 1;
const NESTED: u8 = 2;

/// A stretch of the thread's events as the stitch handed it over, kept whole until replayed: with the default
/// read-ahead a thread's events mostly all wait for the end, so moving the stretch in costs nothing where
/// copying each event into a queue of its own cost a copy and ~40 bytes of fresh memory per event.
#[derive(Debug, Clone, Default)]
struct Stretch {
    /// The thread's event number of `evs[0]`.
    first: u64,
    evs: Vec<TextEv>,
    /// Per event: an enter, or a resume that starts a call (no suspension to take), whose end the reading saw.
    ends: Vec<bool>,
}

/// A call open (or suspended) in the replay: the index of the event that started it, and whether the reading
/// has seen it end.
#[derive(Debug, Clone, Copy)]
struct Call {
    start: u64,
    ends: bool,
}

/// One text-log thread's replay: the read-ahead and the entry-point rule (see the module docs).
#[derive(Debug, Clone, Default)]
pub(crate) struct TextReplay {
    /// Per function label: [`ENTRY_POINT`] once the thread has entered it with nothing open, [`NESTED`] (for
    /// good) once a call of it has ended inside another call or a cut it made proved wrong.
    entry_points: Vec<u8>,
    /// The entry point that last cut calls, and the functions of the calls it cut.
    last_cut: (u32, Vec<u32>),
    /// Events handed over and not yet replayed, in order: the first stretch's event `front` is the thread's event
    /// number `replayed`. Events from number `read` on are not read yet (the last stretch, while it is fed).
    ahead: VecDeque<Stretch>,
    front: usize,
    replayed: u64,
    read: u64,
    /// The reading's open and suspended calls: (function, number of the event that started the call).
    read_open: Vec<(u32, u64)>,
    read_suspended: Vec<(u32, u64)>,
    /// The replay's open calls (as the machine's frames, bottom first) and suspended calls (as the machine's
    /// `suspended`).
    open: Vec<Call>,
    suspended: Vec<Call>,
    /// Calls the replay had started before the reading saw them end (they lasted longer than the read-ahead),
    /// by starting event: kept aside rather than found in `open`, which could take a search as deep as the
    /// read-ahead for every such end. Emptied as the replay ends them.
    late_ends: FxHashSet<u64>,
    /// Calls the replay cut, by starting event, to count those the reading then sees end. Forgotten when the
    /// reading sees them end or pops them unended; the others are dead calls that the reading also still holds
    /// open (it runs the original's rule, under which they never close).
    cut: FxHashSet<u64>,
    /// Calls the replay cut that the reading then saw end.
    wrong_cuts: u64,
}

impl TextReplay {
    /// Reads `evs` (the thread's next events, whose function `f` is `labels[f]` here) and replays what is
    /// `read_ahead` events behind the reading.
    pub fn feed(&mut self, m: &mut Machine, mut evs: Vec<TextEv>, labels: &[u32], read_ahead: usize) {
        if evs.is_empty() {
            return;
        }
        for ev in evs.iter_mut() {
            *ev = relabel_ev(*ev, |f| labels[f as usize]);
        }
        let n = evs.len();
        let mut stretch = Stretch { first: self.read, ends: vec![false; n], evs };
        // The events read before the replay has to start (usually all: the read-ahead holds most of a thread)
        // are read with their stretch at hand, not yet queued.
        let free = self.replayed.saturating_add(read_ahead as u64).saturating_sub(self.read).min(n as u64) as usize;
        for i in 0..free {
            let ev = stretch.evs[i];
            self.read(ev, Some(&mut stretch));
        }
        self.ahead.push_back(stretch);
        for i in free..n {
            let ev = self.ahead.back().expect("just pushed").evs[i];
            self.read(ev, None);
            if self.read - self.replayed > read_ahead as u64 {
                self.replay_one(m);
            }
        }
    }

    /// The end of the thread's events: replays the rest (calls still open in the reading never end).
    pub fn finish(&mut self, m: &mut Machine) {
        // Everything is read: the stretches are replayed whole, each taken out of the queue (the replay of an
        // event never looks at the stretches, only at what the reading marked in them), without the queue's
        // bookkeeping per event.
        while let Some(s) = self.ahead.pop_front() {
            let from = std::mem::take(&mut self.front);
            for (&ev, &ends) in s.evs[from..].iter().zip(&s.ends[from..]) {
                self.replay_event(m, ev, ends);
            }
        }
        debug_assert_eq!(self.replayed, self.read);
        m.warnings.wrong_cuts += std::mem::take(&mut self.wrong_cuts);
    }

    /// Runs the original's rule on `ev`, the next event handed over, which is in `current` when its stretch is
    /// not queued yet (in the last stretch queued otherwise).
    fn read(&mut self, ev: TextEv, current: Option<&mut Stretch>) {
        let number = self.read;
        self.read += 1;
        match ev {
            TextEv::Enter { func, .. } => self.read_open.push((func, number)),
            TextEv::Exit { func, .. } => {
                if let Some(k) = self.read_open.iter().rposition(|&(f, _)| f == func) {
                    let start = self.read_open[k].1;
                    self.read_abandon_from(k + 1);
                    self.read_open.truncate(k);
                    self.mark_ends(start, current);
                }
            }
            TextEv::Suspend { func, .. } => {
                if let Some(k) = self.read_open.iter().rposition(|&(f, _)| f == func) {
                    self.read_abandon_from(k + 1);
                    self.read_suspended.push(self.read_open[k]);
                    self.read_open.truncate(k);
                }
            }
            TextEv::Resume { func, .. } => match self.read_suspended.iter().rposition(|&(f, _)| f == func) {
                Some(k) => {
                    let call = self.read_suspended.remove(k);
                    self.read_open.push(call);
                }
                None => self.read_open.push((func, number)),
            },
        }
    }

    /// The reading's open calls from `depth` up never end (an exit or suspend below them popped them): a cut of
    /// one of them can no longer prove wrong, so `cut` forgets them.
    fn read_abandon_from(&mut self, depth: usize) {
        if !self.cut.is_empty() {
            for &(_, start) in &self.read_open[depth..] {
                self.cut.remove(&start);
            }
        }
    }

    /// The reading saw the call started by event `start` end (`current`: the stretch being read, not queued).
    fn mark_ends(&mut self, start: u64, current: Option<&mut Stretch>) {
        if start >= self.replayed {
            // Not replayed yet: in a stretch still held, most often the one being read.
            if let Some(s) = current.filter(|s| s.first <= start) {
                s.ends[(start - s.first) as usize] = true;
            } else if let Some(s) = self.ahead.iter_mut().rev().find(|s| s.first <= start) {
                s.ends[(start - s.first) as usize] = true;
            }
        } else if self.cut.remove(&start) {
            // Its exit will be unmatched in the replay.
            self.wrong_cuts += 1;
        } else {
            self.late_ends.insert(start);
        }
    }

    /// Whether the reading has seen `call` end.
    fn ends(&self, call: &Call) -> bool {
        call.ends || (!self.late_ends.is_empty() && self.late_ends.contains(&call.start))
    }

    /// The replay's open calls from `depth` up have left the stack (ended, or popped by an exit below them).
    fn close_from(&mut self, depth: usize) {
        if !self.late_ends.is_empty() {
            for c in &self.open[depth.min(self.open.len())..] {
                self.late_ends.remove(&c.start);
            }
        }
        self.open.truncate(depth);
    }

    /// Replays the oldest event read.
    fn replay_one(&mut self, m: &mut Machine) {
        let Some(s) = self.ahead.front() else { return };
        let (ev, ends) = (s.evs[self.front], s.ends[self.front]);
        self.front += 1;
        if self.front == s.evs.len() {
            self.ahead.pop_front();
            self.front = 0;
        }
        self.replay_event(m, ev, ends);
    }

    /// Replays `ev`, the oldest event read (taken out of its stretch), whose call the reading saw end if `ends`.
    #[inline(always)]
    fn replay_event(&mut self, m: &mut Machine, ev: TextEv, ends: bool) {
        let number = self.replayed;
        self.replayed += 1;
        match ev {
            TextEv::Enter { func, t } => {
                let i = func as usize;
                if i >= self.entry_points.len() {
                    self.entry_points.resize(i + 1, UNKNOWN);
                }
                if !m.has_open() {
                    if self.entry_points[i] == UNKNOWN {
                        self.entry_points[i] = ENTRY_POINT;
                    }
                } else if self.entry_points[i] == ENTRY_POINT {
                    self.cut_dead_calls(m, func);
                }
                m.enter(func, t);
                self.open.push(Call { start: number, ends });
            }
            TextEv::Exit { func, t, duration } => {
                let ended = m.exit(func, t, (duration != NO_DURATION).then_some(duration));
                self.close_from(m.frames().len());
                if !ended {
                    m.warnings.unmatched += 1;
                    // A call the last cut took for dead has ended: that cut was wrong, and its function is
                    // called inside other calls too (or shares its name with one that is).
                    if self.last_cut.1.contains(&func) {
                        self.entry_points[self.last_cut.0 as usize] = NESTED;
                        self.last_cut.1.clear();
                    }
                } else if m.has_open() {
                    // It ended inside another call: not (only) an entry point.
                    if let Some(e) = self.entry_points.get_mut(func as usize) {
                        *e = NESTED;
                    }
                }
            }
            TextEv::Suspend { func, t } => {
                if m.suspend(func, t) {
                    let depth = m.frames().len();
                    self.suspended.push(self.open[depth]);
                    self.open.truncate(depth);
                } else {
                    m.warnings.unmatched += 1;
                }
            }
            TextEv::Resume { func, t } => {
                // `suspended` mirrors the machine's list: the suspension taken has the same position in both.
                match m.suspended.iter().rposition(|s| s.func == func) {
                    Some(k) => {
                        let s = m.suspended.remove(k);
                        m.resume_from(s, t);
                        let call = self.suspended.remove(k);
                        self.open.push(call);
                    }
                    None => {
                        // As a chunk does: the call is back on the stack, without earlier time.
                        m.warnings.unmatched += 1;
                        m.resume_from(Suspended { func, acc: 0, slot: NO_SLOT, node: crate::tree::NO_NODE }, t);
                        self.open.push(Call { start: number, ends });
                    }
                }
            }
        }
    }

    /// Entry point `func` is entered while calls are open: cuts, from the top, those that never end.
    fn cut_dead_calls(&mut self, m: &mut Machine, func: u32) {
        let mut cut = Vec::new();
        while let (Some(&call), Some(frame)) = (self.open.last(), m.frames().last()) {
            if self.ends(&call) {
                break;
            }
            cut.push(frame.func());
            m.abandon_top();
            self.open.pop();
            self.cut.insert(call.start);
        }
        if !cut.is_empty() {
            self.last_cut = (func, cut);
        }
    }
}

#[inline(always)]
fn relabel_ev(ev: TextEv, relabel: impl Fn(u32) -> u32) -> TextEv {
    match ev {
        TextEv::Enter { func, t } => TextEv::Enter { func: relabel(func), t },
        TextEv::Exit { func, t, duration } => TextEv::Exit { func: relabel(func), t, duration },
        TextEv::Suspend { func, t } => TextEv::Suspend { func: relabel(func), t },
        TextEv::Resume { func, t } => TextEv::Resume { func: relabel(func), t },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::Warnings;

    /// A generator suspended at the root and resumed inside a request, which then calls its entry point
    /// again: both open calls end, so with the read-ahead nothing is cut; without it both are.
    #[test]
    fn resumed_generator_under_a_reentered_entry_point() {
        const H: u32 = 0;
        const G: u32 = 1;
        let evs = [
            TextEv::Enter { func: H, t: 0 },
            TextEv::Exit { func: H, t: 10, duration: NO_DURATION }, // h ends at the root: an entry point
            TextEv::Enter { func: G, t: 20 },
            TextEv::Suspend { func: G, t: 30 },
            TextEv::Enter { func: H, t: 40 },
            TextEv::Resume { func: G, t: 50 }, // g goes under h
            TextEv::Enter { func: H, t: 60 },  // h entered again while h and g are open
            TextEv::Exit { func: H, t: 70, duration: NO_DURATION },
            TextEv::Exit { func: G, t: 80, duration: NO_DURATION },
            TextEv::Exit { func: H, t: 90, duration: NO_DURATION },
        ];
        let run = |read_ahead: usize, chunks: usize| {
            let (mut m, mut r) = (Machine::new(), TextReplay::default());
            for part in evs.chunks(chunks) {
                r.feed(&mut m, part.to_vec(), &[0, 1], read_ahead);
            }
            r.finish(&mut m);
            m.finish(None);
            (m.calls, m.warnings)
        };
        // The second h's enter is replayed once 3 more events are read: both ends (g's, then h's) were read
        // after the replay had started those calls. With 2, only g's end is read, but g is on top: nothing
        // under a call that ends is cut.
        for (read_ahead, chunks) in [(3, 1), (3, 4), (2, 2), (100, 10)] {
            assert_eq!(run(read_ahead, chunks), (4, Warnings::default()), "read-ahead {read_ahead}");
        }
        // With no read-ahead, or 1 event, g and h are cut when h is entered again; their exits are unmatched,
        // and both are seen to end later.
        for read_ahead in [0, 1] {
            assert_eq!(run(read_ahead, 1), (2, Warnings { cut_calls: 2, unmatched: 2, wrong_cuts: 2, unfinished: 0 }));
        }
    }
}
