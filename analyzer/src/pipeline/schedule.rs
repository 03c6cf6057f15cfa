//! Scheduling: [`in_order`] runs the units on rayon's workers and hands their outputs to one stitching thread in
//! the units' order, with the workers kept a few units ahead of it (so memory holds a few outputs, whatever the
//! input's size) and a panic on any side woken up and passed on rather than left to hang.

use std::collections::BTreeMap;

/// How many units each worker may run ahead of the stitching.
pub(super) const AHEAD_PER_WORKER: usize = 4;

/// Runs `run` on every unit in parallel and hands the outputs to `stitch` in the units' order, on a thread of
/// its own, as they arrive. Workers (rayon's) take units in order as they come free, so no core waits for
/// another at the end of a batch, and stay at most `ahead` units ahead of the stitching, so memory holds that
/// many outputs whatever the number of units. A panic in `run` or `stitch` reaches the caller; nothing hangs.
pub(super) fn in_order<U: Sync, O: Send>(
    units: &[U],
    ahead: usize,
    run: &(impl Fn(&U) -> O + Sync),
    stitch: &mut (impl FnMut(O) + Send),
) {
    let ahead = ahead.max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let progress = Progress::default();
    let (sender, receiver) = std::sync::mpsc::channel::<(usize, O)>();
    let progress = &progress;
    std::thread::scope(|threads| {
        let stitching = threads.spawn(move || {
            let _wake = WakeOnPanic(progress);
            let mut waiting = BTreeMap::new();
            let mut done = 0;
            for (i, out) in receiver {
                waiting.insert(i, out);
                while let Some(out) = waiting.remove(&done) {
                    stitch(out);
                    done += 1;
                    progress.update(|p| p.stitched = done);
                }
            }
        });
        rayon::scope(|scope| {
            for _ in 0..rayon::current_num_threads().max(1) {
                let sender = sender.clone();
                let next = &next;
                scope.spawn(move |_| {
                    // A worker or the stitcher that panics wakes the waiting workers, which then stop, so that
                    // none waits for a unit forever.
                    let _wake = WakeOnPanic(progress);
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(unit) = units.get(i) else { break };
                        {
                            let mut state = progress.state.lock().unwrap_or_else(|e| e.into_inner());
                            while i >= state.stitched + ahead && !state.abandoned {
                                state = progress.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                            }
                            if state.abandoned {
                                break;
                            }
                        }
                        // The stitcher stops only when every sender is gone (or it panicked: then this fails).
                        let _ = sender.send((i, run(unit)));
                    }
                });
            }
        });
        drop(sender);
        stitching.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    });
}

/// How far [`in_order`] has stitched, which its waiting workers watch.
#[derive(Default)]
struct Progress {
    state: std::sync::Mutex<ProgressState>,
    /// Notified at every change of `state`.
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct ProgressState {
    /// Units stitched.
    stitched: usize,
    /// A worker or the stitcher panicked: the workers stop.
    abandoned: bool,
}

impl Progress {
    fn update(&self, change: impl FnOnce(&mut ProgressState)) {
        // A panic while the lock was held cannot leave the state half-written: each change is one store.
        change(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.notify_all();
    }
}

/// Marks [`Progress`] as abandoned, and wakes the workers waiting on it, if dropped while its thread panics.
struct WakeOnPanic<'p>(&'p Progress);

impl Drop for WakeOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.update(|p| p.abandoned = true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::in_order;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Runs `f` on a thread and fails if it takes longer than a minute (a hang), returning whether it panicked.
    fn panics_without_hanging(f: impl FnOnce() + Send + 'static) -> bool {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err();
            let _ = done.send(panicked);
        });
        finished.recv_timeout(Duration::from_secs(60)).expect("in_order hung")
    }

    /// Uneven pseudo-random work, so that units finish out of order.
    fn work(i: usize) {
        std::thread::sleep(Duration::from_micros((i as u64 * 7919) % 13 * 150));
    }

    #[test]
    fn outputs_are_stitched_in_order_and_workers_stay_close() {
        for threads in [1, 2, 4] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let units: Vec<usize> = (0..300).collect();
            let stitched = AtomicUsize::new(0);
            let farthest = AtomicUsize::new(0);
            let mut seen = Vec::new();
            pool.install(|| {
                in_order(
                    &units,
                    3,
                    &|&i: &usize| {
                        // How far this unit is ahead of the stitching when it starts.
                        let behind = stitched.load(Ordering::SeqCst);
                        farthest.fetch_max(i - behind.min(i), Ordering::SeqCst);
                        work(i);
                        i * 2
                    },
                    &mut |out| {
                        // Slower than the workers: without the bound they would run far ahead.
                        std::thread::sleep(Duration::from_micros(400));
                        seen.push(out);
                        stitched.fetch_add(1, Ordering::SeqCst);
                    },
                )
            });
            assert_eq!(seen, units.iter().map(|i| i * 2).collect::<Vec<_>>(), "{threads} threads");
            assert!(farthest.load(Ordering::SeqCst) < 3, "{threads} threads: a worker ran too far ahead");
        }
    }

    #[test]
    fn a_panic_in_a_worker_or_the_stitcher_reaches_the_caller() {
        for threads in [1, 2, 4] {
            let run_panics = panics_without_hanging(move || {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let units: Vec<usize> = (0..100).collect();
                pool.install(|| {
                    in_order(
                        &units,
                        2,
                        &|&i: &usize| {
                            work(i);
                            assert!(i != 37, "unit 37 fails");
                            i
                        },
                        &mut |_| {},
                    )
                });
            });
            assert!(run_panics, "{threads} threads");
            let stitch_panics = panics_without_hanging(move || {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let units: Vec<usize> = (0..100).collect();
                pool.install(|| in_order(&units, 2, &|&i: &usize| i, &mut |i| assert!(i != 11, "stitching 11 fails")));
            });
            assert!(stitch_panics, "{threads} threads");
        }
    }
}
