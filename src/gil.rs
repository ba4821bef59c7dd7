//! The global interpreter lock (GIL) of Toy: which thread may execute Toy bytecode right now.
//!
//! Notes on the algorithm (the same design as CPython's `Python/ceval_gil.c`):
//!
//! - What it protects. Exactly one thread of a process executes Toy bytecode at any moment; the
//!   GIL is the permission to do so. Memory safety never depends on it: every shared Rust
//!   structure is atomic or has a lock of its own, so a bug here gives wrong interleavings, never
//!   undefined behaviour. The GIL itself is the `holder` field of a small state behind a
//!   parking_lot mutex (held only for a few instructions at a time) plus two condition variables.
//!
//! - The eval breaker. The running thread never touches the mutex while it executes: at its
//!   check points (every backward jump and every call) it loads one atomic word, `breaker()`.
//!   `BREAK_GIL_DROP` asks it to hand the GIL over; any other bit belongs to someone else and
//!   this module never clears it (Ctrl-C is a separate flag, `Runtime::interrupted`, that the
//!   check points read next to this word).
//!
//! - Who asks for a switch, and when. A thread that finds the GIL taken sleeps on `cond` for at
//!   most the switch interval (default 5 ms, `sys.setswitchinterval`). If it times out while the
//!   GIL is still taken, it sets `BREAK_GIL_DROP` only if no switch happened during the whole
//!   interval: it notes `switch_number` (bumped each time the GIL passes to a different thread)
//!   before sleeping and compares afterwards. If another thread got the GIL meanwhile, that
//!   holder is fresh and is owed a full interval. The interval is a target, not a bound: a
//!   single long instruction (a `sum` over a huge list) delays the hand-over.
//!
//! - Forced switching. The holder that sees the request calls `yield_to_waiter`: it releases
//!   the GIL, wakes one waiter, then sleeps on `switch_cond` until `switch_number` changes (some
//!   other thread has really taken the GIL) and only then queues up for it again. Without this,
//!   on a multi-core machine the releasing thread, still on its CPU, would nearly always re-take
//!   the GIL before the woken waiter is scheduled, and the waiter would starve; parking_lot 0.13
//!   has no eventual fairness that could save it. If nobody waits any more, the request is stale
//!   and `yield_to_waiter` returns at once, still holding the GIL. Conversely a thread that
//!   releases and re-takes the GIL itself (no switch) keeps a pending request while others wait.
//!
//! - Blocking. Every operation that may block (sleep, I/O, joins, lock and queue waits) runs
//!   inside `without`, which releases the GIL first and takes it back afterwards.
//!
//! - Cheap when uncontended. Acquire and release with nobody waiting cost a mutex fast path (one
//!   compare-and-swap each way) and a vDSO clock read; no syscall. `waiters` and `switch_waiters`
//!   count the sleepers, so nobody signals a condition variable that has no one to wake.
//!
//! - Fork. In the child only the forking thread survives. The vanished threads may have left
//!   the mutex locked or themselves queued on a condition variable, and nothing can ever undo
//!   that (safe Rust cannot re-initialise a parking_lot lock in place). So `reinit_after_fork`
//!   switches to a brand-new `Core` (mutex, conditions, state) created in the child and chained
//!   after the abandoned one: the GIL is unlocked and held by nobody, the drop request is
//!   cleared, and the statistics restart with a single row, the surviving thread.
//!
//! - Statistics. Each thread has a row: seconds holding the GIL, seconds waiting for it (for a
//!   thread that never blocks, hold + wait is its running time), and the instructions the VM
//!   reports in batches. Rows outlive their threads (marked finished) and keep registration
//!   order, so the main thread, which registers first, comes first.

use parking_lot::{Condvar, Mutex, MutexGuard};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Eval breaker bit: a waiter asks the holder to hand the GIL over at its next check point.
pub const BREAK_GIL_DROP: u32 = 1;
/// Another eval-breaker bit, used by the tests to check that the GIL leaves foreign bits alone.
#[cfg(test)]
const BREAK_SIGNAL: u32 = 2;
/// The switch interval a new process starts with (CPython's default).
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(5);
/// Shorter intervals are rounded up to this (CPython's floor is one microsecond too).
const MIN_INTERVAL: Duration = Duration::from_micros(1);

/// The global interpreter lock. One per process; cheap to share (`Send + Sync`).
pub struct Gil {
    shared: Arc<Shared>,
}

/// The parts that survive a fork unchanged, plus the chain of cores.
struct Shared {
    /// The eval breaker: an OR of `BREAK_*` bits, polled by the holder with a relaxed load.
    breaker: AtomicU32,
    /// The switch interval, in nanoseconds (at least `MIN_INTERVAL`).
    interval_ns: AtomicU64,
    /// Source of token ids (1, 2, 3, ...; never reused).
    next_id: AtomicU64,
    /// Index of the live core in the chain starting at `first`: the number of
    /// `reinit_after_fork` calls behind this process (0 in the original process, 1 in a child,
    /// 2 in a grandchild, ...).
    generation: AtomicUsize,
    /// The first core; later ones hang off `Core::next`.
    first: Core,
}

/// Everything a vanished thread could have left locked at fork: replaced as a whole in a child.
struct Core {
    state: Mutex<State>,
    /// Signalled (one waiter at a time) when the GIL becomes free and `waiters > 0`.
    cond: Condvar,
    /// Signalled when `switch_number` changes and `switch_waiters > 0`.
    switch_cond: Condvar,
    /// The core a forked child moves to; set once, in the child, while it is single-threaded.
    next: OnceLock<Box<Core>>,
}

/// The GIL proper, protected by `Core::state`.
struct State {
    /// Token id of the thread holding the GIL; `None` when it is free.
    holder: Option<u64>,
    /// When the current holder took the GIL (meaningless while `holder` is `None`).
    held_since: Instant,
    /// Token id of the last thread that took the GIL (`None` until the first acquire).
    last_holder: Option<u64>,
    /// Hand-overs so far: times the GIL was taken by a thread other than `last_holder`.
    /// Doubles as the "did a switch happen while I waited" clock for waiters.
    switch_number: u64,
    /// Drop requests set so far: times `BREAK_GIL_DROP` went from clear to set.
    drop_requests: u64,
    /// Threads asleep in `acquire` (on `cond`), waiting for the GIL to be free.
    waiters: usize,
    /// Threads asleep in `yield_to_waiter` (on `switch_cond`), waiting for a switch.
    switch_waiters: usize,
    /// When this core started (process start, or the fork): the wall-clock base of the stats.
    started: Instant,
    /// One row per registered thread, in registration order.
    rows: Vec<Row>,
}

/// Statistics of one thread, kept after it finishes.
struct Row {
    /// The token id of the thread.
    id: u64,
    name: String,
    /// Total time holding the GIL, not counting the current hold.
    hold: Duration,
    /// Total time waiting for the GIL, not counting the current wait.
    wait: Duration,
    /// Start of the wait in progress, if the thread is waiting.
    waiting_since: Option<Instant>,
    /// Instructions executed, as reported by the VM (shared with the token: no lock to add).
    instructions: Arc<AtomicU64>,
    /// When the thread registered.
    registered: Instant,
    /// When its token was dropped; `None` while it lives.
    finished_at: Option<Instant>,
}

/// The identity of one OS thread that uses the GIL. Create one per thread with
/// [`Gil::register_thread`]; dropping it marks the thread finished in the statistics (and
/// releases the GIL if the thread still holds it, so a dying thread cannot block the others).
pub struct ThreadToken {
    shared: Arc<Shared>,
    /// Unique within its `Gil`.
    id: u64,
    /// Index of this thread's row in the live core's `rows` (checked against `id`).
    row: AtomicUsize,
    /// The thread's name, kept here as well so a forked child can rebuild its row without
    /// touching the abandoned core. Only the owning thread changes it.
    name: Mutex<String>,
    /// Instructions executed (the same counter as the row's).
    instructions: Arc<AtomicU64>,
}

/// A snapshot of the GIL statistics (`gil.stats()` and `--gil-stats`).
#[derive(Debug, Clone, PartialEq)]
pub struct GilStats {
    /// Times the GIL passed from one thread to a different one.
    pub switches: u64,
    /// Times a waiter asked the holder to drop the GIL.
    pub drop_requests: u64,
    /// The switch interval, in seconds.
    pub interval: f64,
    /// Seconds since the GIL was created (or since the fork that made this process).
    pub wall_seconds: f64,
    /// One entry per thread that has run in this process, in registration order.
    pub threads: Vec<ThreadStats>,
}

/// One thread's row of [`GilStats`].
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadStats {
    pub name: String,
    /// Seconds spent holding the GIL.
    pub hold_seconds: f64,
    /// Seconds spent waiting for the GIL.
    pub wait_seconds: f64,
    /// Instructions executed, as reported by the VM.
    pub instructions: u64,
    /// The thread has ended (its token was dropped).
    pub finished: bool,
    /// Seconds from registration to the end of the thread (or to now).
    pub alive_seconds: f64,
}

impl Shared {
    /// The live core: `generation` steps down the chain (no step at all before any fork).
    fn core(&self) -> &Core {
        let mut core = &self.first;
        for _ in 0..self.generation.load(Ordering::Acquire) {
            core = core
                .next
                .get()
                .expect("gil: core chain shorter than the fork generation");
        }
        core
    }

    fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_ns.load(Ordering::Relaxed))
    }

    fn clear_drop_request(&self) {
        if self.breaker.load(Ordering::Relaxed) & BREAK_GIL_DROP != 0 {
            self.breaker.fetch_and(!BREAK_GIL_DROP, Ordering::SeqCst);
        }
    }

    /// Sleep on `cond` until the GIL is free, setting a drop request after each interval in
    /// which no switch happened. Row `i` waits from `since` (unless it already waits).
    fn wait_until_free<'a>(
        &self,
        core: &'a Core,
        mut st: MutexGuard<'a, State>,
        i: usize,
        since: Instant,
    ) -> MutexGuard<'a, State> {
        st.rows[i].waiting_since.get_or_insert(since);
        st.waiters += 1;
        while st.holder.is_some() {
            let seen = st.switch_number;
            let timed_out = core.cond.wait_for(&mut st, self.interval()).timed_out();
            if timed_out && st.holder.is_some() && st.switch_number == seen {
                let before = self.breaker.fetch_or(BREAK_GIL_DROP, Ordering::SeqCst);
                if before & BREAK_GIL_DROP == 0 {
                    st.drop_requests += 1;
                }
            }
        }
        st.waiters -= 1;
        st
    }

    /// Make token `id` (row `i`) the holder of the free GIL.
    fn take(&self, core: &Core, st: &mut State, id: u64, i: usize) {
        if st.holder.is_some() {
            panic!("gil: taken while another thread holds it");
        }
        let now = Instant::now();
        st.holder = Some(id);
        st.held_since = now;
        if let Some(since) = st.rows[i].waiting_since.take() {
            st.rows[i].wait += now.saturating_duration_since(since);
        }
        if st.last_holder != Some(id) {
            if st.last_holder.is_some() {
                st.switch_number += 1;
            }
            st.last_holder = Some(id);
            if st.switch_waiters > 0 {
                core.switch_cond.notify_all();
            }
            // Any pending request was aimed at the previous holder.
            self.clear_drop_request();
        } else if st.waiters == 0 {
            // Same thread again and nobody waits: a leftover request is stale.
            self.clear_drop_request();
        }
    }

    /// Free the GIL held by row `i`; returns the moment it was freed.
    fn free(&self, core: &Core, st: &mut State, i: usize) -> Instant {
        let now = Instant::now();
        let held = now.saturating_duration_since(st.held_since);
        st.rows[i].hold += held;
        st.holder = None;
        if st.waiters > 0 {
            core.cond.notify_one();
        }
        now
    }
}

impl State {
    fn new(rows: Vec<Row>) -> State {
        let now = Instant::now();
        State {
            holder: None,
            held_since: now,
            last_holder: None,
            switch_number: 0,
            drop_requests: 0,
            waiters: 0,
            switch_waiters: 0,
            started: now,
            rows,
        }
    }

    /// The row of `t` in this core, if it has one (a token from before a fork has none).
    fn row_of(&self, t: &ThreadToken) -> Option<usize> {
        let i = t.row.load(Ordering::Relaxed);
        (self.rows.get(i)?.id == t.id).then_some(i)
    }

    fn expect_row(&self, t: &ThreadToken) -> usize {
        match self.row_of(t) {
            Some(i) => i,
            None => panic!("gil: thread token not registered here (a thread lost in a fork?)"),
        }
    }
}

impl Core {
    fn new(rows: Vec<Row>) -> Core {
        Core {
            state: Mutex::new(State::new(rows)),
            cond: Condvar::new(),
            switch_cond: Condvar::new(),
            next: OnceLock::new(),
        }
    }
}

impl Row {
    fn new(id: u64, name: String, instructions: Arc<AtomicU64>) -> Row {
        Row {
            id,
            name,
            hold: Duration::ZERO,
            wait: Duration::ZERO,
            waiting_since: None,
            instructions,
            registered: Instant::now(),
            finished_at: None,
        }
    }
}

impl Gil {
    /// A free GIL with the given switch interval and no threads.
    pub fn new(interval: Duration) -> Gil {
        Gil {
            shared: Arc::new(Shared {
                breaker: AtomicU32::new(0),
                interval_ns: AtomicU64::new(interval_to_ns(interval)),
                next_id: AtomicU64::new(1),
                generation: AtomicUsize::new(0),
                first: Core::new(Vec::new()),
            }),
        }
    }

    /// Change the switch interval (rounded up to one microsecond). Waiters use it from their
    /// next wait on.
    pub fn set_interval(&self, d: Duration) {
        self.shared
            .interval_ns
            .store(interval_to_ns(d), Ordering::Relaxed);
    }

    pub fn interval(&self) -> Duration {
        self.shared.interval()
    }

    /// The eval breaker the VM polls at check points (a plain atomic load, no lock).
    pub fn breaker(&self) -> &AtomicU32 {
        &self.shared.breaker
    }

    /// Register the calling thread (or one about to start) and get its token. Rows keep
    /// registration order, so the main thread must register first.
    pub fn register_thread(&self, name: &str) -> ThreadToken {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let instructions = Arc::new(AtomicU64::new(0));
        let mut st = self.shared.core().state.lock();
        let row = st.rows.len();
        st.rows
            .push(Row::new(id, name.to_owned(), instructions.clone()));
        ThreadToken {
            shared: self.shared.clone(),
            id,
            row: AtomicUsize::new(row),
            name: Mutex::new(name.to_owned()),
            instructions,
        }
    }

    /// Take the GIL, blocking as long as another thread holds it. After each switch interval
    /// without any hand-over the waiter sets a drop request (`BREAK_GIL_DROP`). The time spent
    /// blocked counts as wait time.
    pub fn acquire(&self, t: &ThreadToken) {
        self.check_token(t);
        let shared = &*self.shared;
        let core = shared.core();
        let mut st = core.state.lock();
        if st.holder == Some(t.id) {
            panic!("gil: acquire by a thread that already holds it");
        }
        let i = st.expect_row(t);
        if st.holder.is_some() {
            st = shared.wait_until_free(core, st, i, Instant::now());
        }
        shared.take(core, &mut st, t.id, i);
    }

    /// Give the GIL up. The time since it was taken counts as hold time.
    pub fn release(&self, t: &ThreadToken) {
        self.check_token(t);
        let core = self.shared.core();
        let mut st = core.state.lock();
        if st.holder != Some(t.id) {
            panic!("gil: release by a thread that does not hold it");
        }
        let i = st.expect_row(t);
        self.shared.free(core, &mut st, i);
    }

    /// Called by the holder at a check point when `breaker() & BREAK_GIL_DROP != 0`: drop the
    /// GIL, wait until another thread has taken it (forced switch), then re-acquire. Returns at
    /// once if no other thread is waiting. (Without a pending request it still hands over to a
    /// waiter, which makes it usable as an explicit "let others run".)
    pub fn yield_to_waiter(&self, t: &ThreadToken) {
        self.check_token(t);
        let shared = &*self.shared;
        let core = shared.core();
        let mut st = core.state.lock();
        if st.holder != Some(t.id) {
            panic!("gil: yield_to_waiter by a thread that does not hold it");
        }
        if st.waiters == 0 {
            shared.clear_drop_request();
            return;
        }
        let i = st.expect_row(t);
        let freed = shared.free(core, &mut st, i);
        st.rows[i].waiting_since = Some(freed);
        let seen = st.switch_number;
        st.switch_waiters += 1;
        // Wait for the switch. Stop early only if nobody is left to take the GIL. The wait is
        // timed so that even a lost wake-up costs one interval, not a hang.
        // `switch_number` is checked under the mutex the taker bumps it under, so a switch
        // cannot slip in between this check and the sleep (CPython, with a separate switch
        // mutex, documents that race at the same spot).
        while st.switch_number == seen && (st.holder.is_some() || st.waiters > 0) {
            core.switch_cond.wait_for(&mut st, shared.interval());
        }
        st.switch_waiters -= 1;
        if st.holder.is_some() {
            st = shared.wait_until_free(core, st, i, freed);
        }
        shared.take(core, &mut st, t.id, i);
    }

    /// Run `f` without the GIL (for sleep, I/O, lock waits): release, run, re-acquire. The GIL
    /// is taken back even if `f` panics.
    pub fn without<R>(&self, t: &ThreadToken, f: impl FnOnce() -> R) -> R {
        struct Reacquire<'a> {
            gil: &'a Gil,
            t: &'a ThreadToken,
        }
        impl Drop for Reacquire<'_> {
            fn drop(&mut self) {
                self.gil.acquire(self.t);
            }
        }
        self.release(t);
        let _reacquire = Reacquire { gil: self, t };
        f()
    }

    /// Add `n` executed instructions to the thread's count (the VM reports in batches). No lock.
    pub fn add_instructions(&self, t: &ThreadToken, n: u64) {
        debug_assert!(Arc::ptr_eq(&self.shared, &t.shared));
        t.instructions.fetch_add(n, Ordering::Relaxed);
    }

    /// Rename the thread in the statistics (`thread.current().name = ...`).
    #[cfg(test)]
    pub fn set_thread_name(&self, t: &ThreadToken, name: &str) {
        self.check_token(t);
        *t.name.lock() = name.to_owned();
        let mut st = self.shared.core().state.lock();
        if let Some(i) = st.row_of(t) {
            st.rows[i].name = name.to_owned();
        }
    }

    /// A snapshot of the statistics; the hold or wait in progress is counted up to now.
    pub fn stats(&self) -> GilStats {
        let st = self.shared.core().state.lock();
        let now = Instant::now();
        let threads = st
            .rows
            .iter()
            .map(|r| {
                let mut hold = r.hold;
                if st.holder == Some(r.id) {
                    hold += now.saturating_duration_since(st.held_since);
                }
                let mut wait = r.wait;
                if let Some(since) = r.waiting_since {
                    wait += now.saturating_duration_since(since);
                }
                let end = r.finished_at.unwrap_or(now);
                ThreadStats {
                    name: r.name.clone(),
                    hold_seconds: hold.as_secs_f64(),
                    wait_seconds: wait.as_secs_f64(),
                    instructions: r.instructions.load(Ordering::Relaxed),
                    finished: r.finished_at.is_some(),
                    alive_seconds: end.saturating_duration_since(r.registered).as_secs_f64(),
                }
            })
            .collect();
        GilStats {
            switches: st.switch_number,
            drop_requests: st.drop_requests,
            interval: self.shared.interval().as_secs_f64(),
            wall_seconds: now.saturating_duration_since(st.started).as_secs_f64(),
            threads,
        }
    }

    /// In a forked child, where `t` is the only thread left: move to a fresh, unlocked GIL
    /// held by nobody, clear the drop request, and restart the statistics with `t` alone
    /// (zeroed). `t` must then `acquire` before running bytecode. Never call it in a process
    /// that still has other threads using this GIL.
    pub fn reinit_after_fork(&self, t: &ThreadToken) {
        self.check_token(t);
        let old = self.shared.core();
        t.instructions.store(0, Ordering::Relaxed);
        let name = t.name.lock().clone();
        let fresh = Core::new(vec![Row::new(t.id, name, t.instructions.clone())]);
        if old.next.set(Box::new(fresh)).is_err() {
            panic!("gil: reinit_after_fork: this core already has a successor");
        }
        t.row.store(0, Ordering::Relaxed);
        self.shared.generation.fetch_add(1, Ordering::Release);
        self.shared.clear_drop_request();
    }

    /// Whether `t` holds the GIL right now.
    #[cfg(test)]
    pub fn is_held_by(&self, t: &ThreadToken) -> bool {
        Arc::ptr_eq(&self.shared, &t.shared) && self.shared.core().state.lock().holder == Some(t.id)
    }

    fn check_token(&self, t: &ThreadToken) {
        if !Arc::ptr_eq(&self.shared, &t.shared) {
            panic!("gil: thread token belongs to another GIL");
        }
    }
}

impl Default for Gil {
    fn default() -> Gil {
        Gil::new(DEFAULT_INTERVAL)
    }
}

impl Drop for ThreadToken {
    fn drop(&mut self) {
        let shared = &*self.shared;
        let core = shared.core();
        let mut st = core.state.lock();
        let Some(i) = st.row_of(self) else {
            return; // a token that did not survive a fork: nothing of it is left here
        };
        if st.holder == Some(self.id) {
            shared.free(core, &mut st, i);
        }
        st.rows[i].finished_at = Some(Instant::now());
    }
}

fn interval_to_ns(d: Duration) -> u64 {
    u64::try_from(d.max(MIN_INTERVAL).as_nanos()).unwrap_or(u64::MAX)
}

/// The `--gil-stats` table: a header line with the interval, switches and drop requests, then
/// one row per thread with seconds held, seconds waited, instructions and the share of the wall
/// time it held the GIL.
pub fn format_stats_table(s: &GilStats) -> String {
    let name_width = s
        .threads
        .iter()
        .map(|t| t.name.chars().count())
        .chain([6])
        .max()
        .unwrap_or(6);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "GIL: switch interval {:.3} ms, {} switches, {} drop requests, wall {:.3} s",
        s.interval * 1e3,
        s.switches,
        s.drop_requests,
        s.wall_seconds
    );
    let _ = writeln!(
        out,
        "{:<name_width$}  {:<8}  {:>10}  {:>10}  {:>14}  {:>6}",
        "thread", "state", "held s", "waited s", "instructions", "% held"
    );
    for t in &s.threads {
        let share = if s.wall_seconds > 0.0 {
            100.0 * t.hold_seconds / s.wall_seconds
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "{:<name_width$}  {:<8}  {:>10.3}  {:>10.3}  {:>14}  {:>6.1}",
            t.name,
            if t.finished { "finished" } else { "running" },
            t.hold_seconds,
            t.wait_seconds,
            t.instructions,
            share
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc;
    use std::thread;

    fn spin(n: u32) -> u64 {
        let mut x = 0u64;
        for k in 0..n {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(k as u64));
        }
        x
    }

    /// The check point of a toy VM: hand over if asked.
    fn check_point(gil: &Gil, t: &ThreadToken) {
        if gil.breaker().load(Ordering::Relaxed) & BREAK_GIL_DROP != 0 {
            gil.yield_to_waiter(t);
        }
    }

    #[test]
    fn never_two_holders() {
        let gil = Arc::new(Gil::new(Duration::from_millis(1)));
        let inside = Arc::new(AtomicUsize::new(0));
        let total = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..4)
            .map(|k| {
                let (gil, inside, total) = (gil.clone(), inside.clone(), total.clone());
                thread::spawn(move || {
                    let t = gil.register_thread(&format!("T{k}"));
                    for round in 0..300 {
                        gil.acquire(&t);
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                        assert!(gil.is_held_by(&t));
                        for _ in 0..3 {
                            spin(200);
                            assert_eq!(inside.load(Ordering::SeqCst), 1);
                            if gil.breaker().load(Ordering::Relaxed) & BREAK_GIL_DROP != 0 {
                                inside.fetch_sub(1, Ordering::SeqCst);
                                gil.yield_to_waiter(&t);
                                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                            }
                        }
                        total.fetch_add(1, Ordering::Relaxed);
                        inside.fetch_sub(1, Ordering::SeqCst);
                        if round % 10 == 0 {
                            gil.without(&t, thread::yield_now);
                            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                            inside.fetch_sub(1, Ordering::SeqCst);
                        }
                        gil.release(&t);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(total.load(Ordering::Relaxed), 1200);
        let s = gil.stats();
        assert_eq!(s.threads.len(), 4);
        assert!(s.threads.iter().all(|t| t.finished));
    }

    #[test]
    #[should_panic(expected = "gil: release by a thread that does not hold it")]
    fn release_without_holding_panics() {
        let gil = Gil::default();
        let t = gil.register_thread("MainThread");
        gil.release(&t);
    }

    #[test]
    #[should_panic(expected = "gil: acquire by a thread that already holds it")]
    fn double_acquire_panics() {
        let gil = Gil::default();
        let t = gil.register_thread("MainThread");
        gil.acquire(&t);
        gil.acquire(&t);
    }

    #[test]
    fn uncontended_yield_keeps_the_gil() {
        let gil = Gil::default();
        let t = gil.register_thread("MainThread");
        gil.acquire(&t);
        gil.breaker()
            .fetch_or(BREAK_GIL_DROP | BREAK_SIGNAL, Ordering::SeqCst);
        gil.yield_to_waiter(&t);
        assert!(gil.is_held_by(&t));
        // The stale drop request is gone; the signal bit is not the GIL's to clear.
        assert_eq!(gil.breaker().load(Ordering::SeqCst), BREAK_SIGNAL);
        gil.release(&t);
        assert_eq!(gil.stats().switches, 0);
    }

    /// A holder spinning with check points gives the GIL to a waiter after about one interval.
    #[test]
    fn drop_request_is_honoured_within_an_interval() {
        let interval = Duration::from_millis(10);
        let gil = Arc::new(Gil::new(interval));
        let main = gil.register_thread("MainThread");
        let mut waits = Vec::new();
        for _ in 0..5 {
            let stop = Arc::new(AtomicBool::new(false));
            let (ready_tx, ready_rx) = mpsc::channel();
            let holder = {
                let (gil, stop) = (gil.clone(), stop.clone());
                thread::spawn(move || {
                    let t = gil.register_thread("holder");
                    gil.acquire(&t);
                    ready_tx.send(()).unwrap();
                    while !stop.load(Ordering::Relaxed) {
                        spin(100);
                        check_point(&gil, &t);
                    }
                    gil.release(&t);
                })
            };
            ready_rx.recv().unwrap();
            let start = Instant::now();
            gil.acquire(&main);
            let waited = start.elapsed();
            stop.store(true, Ordering::Relaxed);
            gil.release(&main);
            holder.join().unwrap();
            assert!(
                waited >= interval / 2,
                "took the GIL before any request: {waited:?}"
            );
            assert!(
                waited < Duration::from_secs(1),
                "drop request ignored: {waited:?}"
            );
            waits.push(waited);
        }
        waits.sort();
        let median = waits[waits.len() / 2];
        assert!(median < interval * 10, "median hand-over {median:?}");
        let s = gil.stats();
        assert!(s.drop_requests >= 5, "{s:?}");
        assert!(s.switches >= 10, "{s:?}");
    }

    /// Two CPU-bound threads with check points alternate: each runs about one interval.
    #[test]
    fn forced_switching_alternates_two_cpu_bound_threads() {
        let gil = Arc::new(Gil::new(Duration::from_millis(1)));
        let main = gil.register_thread("MainThread");
        let sequence = Arc::new(Mutex::new(Vec::<u32>::new()));
        let started = Instant::now();
        let run = |k: u32, gil: Arc<Gil>, sequence: Arc<Mutex<Vec<u32>>>| {
            move || {
                let t = gil.register_thread(&format!("cpu-{k}"));
                gil.acquire(&t);
                loop {
                    spin(500);
                    gil.add_instructions(&t, 500);
                    {
                        let mut seq = sequence.lock();
                        if seq.last() != Some(&k) {
                            seq.push(k);
                        }
                    }
                    // Spin for ~50 ms; keep going (up to 2 s) on a machine too busy to switch.
                    let elapsed = started.elapsed();
                    if elapsed > Duration::from_millis(50)
                        && (gil.stats().switches > 20 || elapsed > Duration::from_secs(2))
                    {
                        break;
                    }
                    check_point(&gil, &t);
                }
                gil.release(&t);
            }
        };
        let a = thread::spawn(run(1, gil.clone(), sequence.clone()));
        let b = thread::spawn(run(2, gil.clone(), sequence.clone()));
        a.join().unwrap();
        b.join().unwrap();
        let seq = sequence.lock().clone();
        let ones = seq.iter().filter(|&&k| k == 1).count();
        let twos = seq.iter().filter(|&&k| k == 2).count();
        let s = gil.stats();
        assert!(ones >= 5 && twos >= 5, "sequence {seq:?}");
        assert!(s.switches > 10, "{s:?}");
        assert!(s.drop_requests > 5, "{s:?}");
        assert_eq!(s.threads[0].name, "MainThread");
        for t in &s.threads[1..] {
            assert!(t.finished && t.instructions >= 500 && t.hold_seconds > 0.0);
        }
        drop(main);
    }

    /// A thread inside `without` does not hold the GIL, so another thread can run.
    #[test]
    fn without_lets_another_thread_run() {
        let gil = Arc::new(Gil::default());
        let main = gil.register_thread("MainThread");
        gil.acquire(&main);
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel();
        let other = {
            let gil = gil.clone();
            thread::spawn(move || {
                let t = gil.register_thread("other");
                go_rx.recv().unwrap();
                gil.acquire(&t);
                done_tx.send(gil.is_held_by(&t)).unwrap();
                gil.release(&t);
            })
        };
        let answer = gil.without(&main, || {
            assert!(!gil.is_held_by(&main));
            go_tx.send(()).unwrap();
            // "Blocking": only possible to finish if the other thread can take the GIL.
            done_rx.recv_timeout(Duration::from_secs(5))
        });
        assert_eq!(answer, Ok(true));
        assert!(gil.is_held_by(&main));
        gil.release(&main);
        other.join().unwrap();
    }

    #[test]
    fn stats_are_sane() {
        let gil = Arc::new(Gil::new(Duration::from_millis(1)));
        let main = gil.register_thread("MainThread");
        let handles: Vec<_> = (1..=2)
            .map(|k| {
                let gil = gil.clone();
                thread::spawn(move || {
                    let t = gil.register_thread(&format!("Thread-{k}"));
                    let start = Instant::now();
                    gil.acquire(&t);
                    // Spin for ~60 ms; longer (up to 2 s) if the machine is too busy to switch.
                    loop {
                        let elapsed = start.elapsed();
                        if elapsed > Duration::from_millis(60)
                            && (gil.stats().switches >= 2 || elapsed > Duration::from_secs(2))
                        {
                            break;
                        }
                        spin(300);
                        gil.add_instructions(&t, 300);
                        check_point(&gil, &t);
                    }
                    gil.release(&t);
                    (format!("Thread-{k}"), start.elapsed())
                })
            })
            .collect();
        let walls: Vec<(String, Duration)> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        gil.set_thread_name(&main, "MainThread");
        let s = gil.stats();
        assert_eq!(s.interval, 0.001);
        assert_eq!(s.threads.len(), 3);
        assert_eq!(s.threads[0].name, "MainThread");
        assert!(!s.threads[0].finished);
        assert_eq!(s.threads[0].hold_seconds, 0.0);
        let mut total_hold = 0.0;
        for (name, wall) in &walls {
            // The two threads register in whatever order they get to run.
            let row = s.threads.iter().find(|r| &r.name == name).unwrap();
            let wall = wall.as_secs_f64();
            let both = row.hold_seconds + row.wait_seconds;
            assert!(row.finished);
            assert!(row.instructions > 0 && row.instructions % 300 == 0);
            assert!(
                (both - wall).abs() < 0.25 * wall + 0.02,
                "{row:?}: hold + wait {both} vs wall {wall}"
            );
            assert!(row.alive_seconds >= both - 1e-3);
            total_hold += row.hold_seconds;
        }
        // Never two holders, so the holds cannot add up to more than the wall time.
        assert!(total_hold <= s.wall_seconds + 1e-3, "{s:?}");
        assert!(s.switches > 0 && s.drop_requests > 0, "{s:?}");
        let table = format_stats_table(&s);
        assert!(
            table.starts_with("GIL: switch interval 1.000 ms"),
            "{table}"
        );
        assert_eq!(table.lines().count(), 5, "{table}");
        assert!(table.lines().nth(2).unwrap().starts_with("MainThread"));
        for line in table.lines().skip(3) {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert!(
                words[0].starts_with("Thread-") && words[1] == "finished",
                "{table}"
            );
        }
        drop(main);
    }

    /// Simulates the child of a fork taken while another thread held the GIL and a third
    /// waited for it: the forking thread gets a free GIL and fresh statistics.
    #[test]
    fn reinit_after_fork_gives_a_fresh_free_gil() {
        let gil = Arc::new(Gil::new(Duration::from_millis(1)));
        let main = gil.register_thread("MainThread");
        let forker = gil.register_thread("Thread-7");
        gil.add_instructions(&forker, 42);
        let (held_tx, held_rx) = mpsc::channel();
        let (quit_tx, quit_rx) = mpsc::channel::<()>();
        let holder = {
            let gil = gil.clone();
            thread::spawn(move || {
                let t = gil.register_thread("holder");
                gil.acquire(&t);
                held_tx.send(()).unwrap();
                quit_rx.recv().unwrap();
                // Ends holding the old GIL, like a thread that vanished at fork; its token
                // finds no row in the new state and leaves it alone.
            })
        };
        held_rx.recv().unwrap();
        gil.breaker()
            .fetch_or(BREAK_GIL_DROP | BREAK_SIGNAL, Ordering::SeqCst);

        gil.reinit_after_fork(&forker);

        assert!(!gil.is_held_by(&forker));
        assert_eq!(gil.breaker().load(Ordering::SeqCst), BREAK_SIGNAL);
        let s = gil.stats();
        assert_eq!((s.switches, s.drop_requests), (0, 0));
        assert_eq!(s.threads.len(), 1);
        let row = &s.threads[0];
        assert_eq!((row.name.as_str(), row.instructions), ("Thread-7", 0));
        assert_eq!(
            (row.hold_seconds, row.wait_seconds, row.finished),
            (0.0, 0.0, false)
        );

        let start = Instant::now();
        gil.acquire(&forker);
        assert!(start.elapsed() < Duration::from_millis(500));
        assert!(gil.is_held_by(&forker));
        let t2 = gil.register_thread("child-thread");
        assert_eq!(gil.stats().threads.len(), 2);
        gil.release(&forker);
        gil.acquire(&t2);
        gil.release(&t2);
        assert_eq!(gil.stats().switches, 1);

        quit_tx.send(()).unwrap();
        holder.join().unwrap();
        drop(main);
        assert_eq!(gil.stats().threads.len(), 2);
        // A second fork (from the child) works the same way.
        gil.reinit_after_fork(&t2);
        gil.acquire(&t2);
        assert!(gil.is_held_by(&t2));
        assert_eq!(gil.stats().threads[0].name, "child-thread");
    }

    #[test]
    fn interval_is_settable_and_floored() {
        let gil = Gil::default();
        assert_eq!(gil.interval(), Duration::from_millis(5));
        gil.set_interval(Duration::from_millis(20));
        assert_eq!(gil.interval(), Duration::from_millis(20));
        gil.set_interval(Duration::ZERO);
        assert_eq!(gil.interval(), Duration::from_micros(1));
    }

    #[test]
    fn dropping_a_token_releases_and_finishes() {
        let gil = Gil::default();
        let main = gil.register_thread("MainThread");
        let t = gil.register_thread("Thread-1");
        gil.acquire(&t);
        drop(t);
        gil.acquire(&main);
        let s = gil.stats();
        assert!(s.threads[1].finished && !s.threads[0].finished);
        assert_eq!(s.switches, 1);
    }

    fn _assert_send_sync() {
        fn is<T: Send + Sync>() {}
        is::<Gil>();
        is::<ThreadToken>();
    }
}
