//! Synchronisation primitives behind Toy's `thread` builtin (spec §9): `Lock`, `RLock`,
//! `Semaphore`, `BoundedSemaphore`, `Condition`, `Event`, `Barrier` and `Queue`, each with the
//! semantics and error messages of CPython 3.11's `threading` and `queue` modules. They are plain
//! generic Rust built on `parking_lot` (a `Mutex` guarding the state plus a `Condvar`) and know
//! nothing about Toy values: the wrapper that exposes them as Toy objects converts arguments,
//! releases the GIL around every method that can block, and turns a [`SyncError`] into a Toy
//! exception (see [`SyncError::type_name`] and [`SyncError::message`]).
//!
//! Blocking and interrupts: every method that can block takes an [`Interrupt`] and never sleeps
//! longer than [`SLICE`] (20 ms) at a time; between slices it calls [`Interrupt::pending`], and if
//! that returns true the method gives up at once with [`SyncError::Interrupted`], having changed
//! nothing (no lock taken, no item removed, no permit consumed; `Condition.wait` first takes its
//! lock back, as it does on every exit). The wrapper then runs its signal handling (normally
//! raising `KeyboardInterrupt`). Fast paths (a free lock, a non-empty queue) succeed without
//! consulting the interrupt. Timeouts are `Option<Duration>`, `None` meaning
//! "forever"; [`lock_timeout`], [`wait_timeout`] and [`queue_timeout`] convert Python's float
//! arguments with CPython's validation rules.
//!
//! Thread identity: [`RLock`] (and a [`Condition`] over one) records its owner as the
//! [`std::thread::ThreadId`] of the OS thread calling `acquire`. Every Toy thread runs on its own
//! OS thread, so the owner is the calling Toy thread; the wrapper must call these methods on the
//! Toy thread itself, never from a helper thread. A plain [`Lock`] has no owner and may be
//! released by any thread, as in Python.

// An API for the Toy wrapper, which need not use every accessor.
#![allow(dead_code)]

use parking_lot::{Condvar, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// The longest a blocking method sleeps before checking its [`Interrupt`] again.
pub const SLICE: Duration = Duration::from_millis(20);

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a synchronisation call failed.
///
/// | variant            | Python exception                 | message                      |
/// |--------------------|----------------------------------|------------------------------|
/// | `RuntimeError(m)`  | `RuntimeError`                   | `m`                          |
/// | `ValueError(m)`    | `ValueError`                     | `m`                          |
/// | `OverflowError(m)` | `OverflowError`                  | `m`                          |
/// | `BrokenBarrier`    | `threading.BrokenBarrierError` (a `RuntimeError` subclass) | empty |
/// | `Empty`            | `queue.Empty` (Toy: `thread.Empty`) | empty                     |
/// | `Full`             | `queue.Full` (Toy: `thread.Full`)   | empty                     |
/// | `Interrupted`      | none: a signal is pending; run the signal handlers (usually `KeyboardInterrupt`) |  |
///
/// Timeouts are not errors: `acquire`/`wait` return `Ok(false)`, a queue raises `Empty`/`Full`,
/// a barrier breaks (`BrokenBarrier`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncError {
    RuntimeError(&'static str),
    ValueError(&'static str),
    OverflowError(&'static str),
    BrokenBarrier,
    Empty,
    Full,
    Interrupted,
}

impl SyncError {
    /// The Python exception type to raise. `Interrupted` reports `"KeyboardInterrupt"`, but the
    /// wrapper should really run its pending-signal handling instead.
    pub fn type_name(&self) -> &'static str {
        match self {
            SyncError::RuntimeError(_) => "RuntimeError",
            SyncError::ValueError(_) => "ValueError",
            SyncError::OverflowError(_) => "OverflowError",
            SyncError::BrokenBarrier => "BrokenBarrierError",
            SyncError::Empty => "Empty",
            SyncError::Full => "Full",
            SyncError::Interrupted => "KeyboardInterrupt",
        }
    }

    /// The nearest built-in base class: `"RuntimeError"` for `BrokenBarrier`, `"Exception"` for
    /// `Empty`/`Full`, otherwise the type itself. For a Toy that maps `BrokenBarrierError` onto a
    /// built-in type.
    pub fn builtin_base(&self) -> &'static str {
        match self {
            SyncError::BrokenBarrier => "RuntimeError",
            SyncError::Empty | SyncError::Full => "Exception",
            other => other.type_name(),
        }
    }

    /// The exception message (`str(exc)` in CPython); empty for the last four variants.
    pub fn message(&self) -> &'static str {
        match self {
            SyncError::RuntimeError(m) | SyncError::ValueError(m) | SyncError::OverflowError(m) => {
                m
            }
            _ => "",
        }
    }
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message().is_empty() {
            f.write_str(self.type_name())
        } else {
            write!(f, "{}: {}", self.type_name(), self.message())
        }
    }
}

impl std::error::Error for SyncError {}

/// Shorthand for results of this module.
pub type SyncResult<T> = Result<T, SyncError>;

const RELEASE_UNLOCKED: SyncError = SyncError::RuntimeError("release unlocked lock");
const RELEASE_UNACQUIRED: SyncError = SyncError::RuntimeError("cannot release un-acquired lock");
const WAIT_UNACQUIRED: SyncError = SyncError::RuntimeError("cannot wait on un-acquired lock");
const NOTIFY_UNACQUIRED: SyncError = SyncError::RuntimeError("cannot notify on un-acquired lock");
const LOCK_NONBLOCKING_TIMEOUT: SyncError =
    SyncError::ValueError("can't specify a timeout for a non-blocking call");
const SEM_NONBLOCKING_TIMEOUT: SyncError =
    SyncError::ValueError("can't specify timeout for non-blocking acquire");
const SEM_NEGATIVE: SyncError = SyncError::ValueError("semaphore initial value must be >= 0");
const SEM_TOO_MANY: SyncError = SyncError::ValueError("Semaphore released too many times");
const N_ONE_OR_MORE: SyncError = SyncError::ValueError("n must be one or more");
const TASK_DONE_TOO_MANY: SyncError = SyncError::ValueError("task_done() called too many times");

// ---------------------------------------------------------------------------------------------
// Interrupts and timeouts
// ---------------------------------------------------------------------------------------------

/// How a blocking call learns that it should give up: `check` returns true when a signal
/// (Ctrl-C) is pending for the calling thread. It is called without any internal lock held, at
/// most every [`SLICE`], and only while the call actually has to wait.
#[derive(Clone, Copy)]
pub struct Interrupt<'a> {
    pub check: &'a dyn Fn() -> bool,
}

fn never_interrupted() -> bool {
    false
}

impl<'a> Interrupt<'a> {
    /// An interrupt that never fires (for threads that receive no signals, and for tests).
    pub const NEVER: Interrupt<'static> = Interrupt {
        check: &never_interrupted,
    };

    pub fn new(check: &'a dyn Fn() -> bool) -> Interrupt<'a> {
        Interrupt { check }
    }

    /// True when the blocked call should stop with [`SyncError::Interrupted`].
    pub fn pending(&self) -> bool {
        (self.check)()
    }
}

/// CPython's largest representable timeout (`threading.TIMEOUT_MAX`, i64 nanoseconds).
const MAX_TIMEOUT_SECS: f64 = 9_223_372_036.854_775;

/// Converts the `timeout` argument of `Lock.acquire`/`RLock.acquire` (and `Condition.acquire`),
/// whose default is `-1`, with CPython's checks: NaN → `ValueError: Invalid value NaN (not a
/// number)`; out of range → `OverflowError: timestamp out of range for platform time_t`;
/// non-blocking with a timeout other than -1 → `ValueError: can't specify a timeout for a
/// non-blocking call`; negative other than -1 → `ValueError: timeout value must be positive`.
/// `-1` gives `None` (forever).
pub fn lock_timeout(blocking: bool, timeout: f64) -> SyncResult<Option<Duration>> {
    if timeout.is_nan() {
        return Err(SyncError::ValueError("Invalid value NaN (not a number)"));
    }
    if timeout.abs() >= MAX_TIMEOUT_SECS {
        return Err(SyncError::OverflowError(
            "timestamp out of range for platform time_t",
        ));
    }
    if timeout == -1.0 {
        return Ok(None);
    }
    if !blocking {
        return Err(LOCK_NONBLOCKING_TIMEOUT);
    }
    if timeout < 0.0 {
        return Err(SyncError::ValueError("timeout value must be positive"));
    }
    Ok(Some(Duration::from_secs_f64(timeout)))
}

/// Converts the optional float timeout of `Condition.wait`, `Event.wait`, `Semaphore.acquire`,
/// `Barrier.wait` (and `Thread.join`): `None` → forever; negative or NaN → zero (CPython returns
/// at once); beyond ~292 years → forever.
pub fn wait_timeout(timeout: Option<f64>) -> Option<Duration> {
    match timeout {
        None => None,
        Some(t) if t.is_nan() || t <= 0.0 => Some(Duration::ZERO),
        Some(t) if t >= MAX_TIMEOUT_SECS => None,
        Some(t) => Some(Duration::from_secs_f64(t)),
    }
}

/// Converts the `timeout` of `Queue.put`/`Queue.get`: ignored when `block` is false; negative →
/// `ValueError: 'timeout' must be a non-negative number` (CPython skips this check for `put`
/// on an unbounded queue, where the timeout is never used); NaN or huge → forever (CPython
/// waits forever on NaN too).
pub fn queue_timeout(block: bool, timeout: Option<f64>) -> SyncResult<Option<Duration>> {
    match timeout {
        _ if !block => Ok(None),
        None => Ok(None),
        Some(t) if t < 0.0 => Err(SyncError::ValueError(
            "'timeout' must be a non-negative number",
        )),
        Some(t) if t.is_nan() || t >= MAX_TIMEOUT_SECS => Ok(None),
        Some(t) => Ok(Some(Duration::from_secs_f64(t))),
    }
}

fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    // An unrepresentable deadline is as good as forever.
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// The one waiting loop of the module. Calls `ready` (with the state locked) until it returns
/// true → `Ok(true)`; at the deadline → `Ok(false)`; on a pending interrupt →
/// `Err(Interrupted)`. `ready` may claim the resource it checks for, since it runs under the
/// lock and a `true` always ends the loop. Sleeps at most [`SLICE`] between checks.
fn wait_until_ready<S>(
    cv: &Condvar,
    guard: &mut MutexGuard<'_, S>,
    deadline: Option<Instant>,
    intr: &Interrupt<'_>,
    mut ready: impl FnMut(&mut S) -> bool,
) -> SyncResult<bool> {
    loop {
        if ready(guard) {
            return Ok(true);
        }
        let now = Instant::now();
        let mut until = now + SLICE;
        if let Some(deadline) = deadline {
            if now >= deadline {
                return Ok(false);
            }
            until = until.min(deadline);
        }
        if MutexGuard::unlocked(guard, || intr.pending()) {
            return Err(SyncError::Interrupted);
        }
        cv.wait_until(guard, until);
    }
}

/// Like [`wait_until_ready`] for condvars woken with `notify_one`: a waiter that leaves without
/// the resource passes a possibly consumed wake-up on, so no other waiter oversleeps.
fn wait_one<S>(
    cv: &Condvar,
    guard: &mut MutexGuard<'_, S>,
    deadline: Option<Instant>,
    intr: &Interrupt<'_>,
    ready: impl FnMut(&mut S) -> bool,
) -> SyncResult<bool> {
    let result = wait_until_ready(cv, guard, deadline, intr, ready);
    if !matches!(result, Ok(true)) {
        cv.notify_one();
    }
    result
}

// ---------------------------------------------------------------------------------------------
// Lock
// ---------------------------------------------------------------------------------------------

/// `threading.Lock`: not re-entrant, no owner; any thread may release it.
#[derive(Default)]
pub struct Lock {
    locked: Mutex<bool>,
    cv: Condvar,
}

impl Lock {
    pub const fn new() -> Lock {
        Lock {
            locked: Mutex::new(false),
            cv: Condvar::new(),
        }
    }

    /// `acquire(blocking=True, timeout=-1)`: `Ok(true)` once taken, `Ok(false)` if not free
    /// (non-blocking) or the timeout expired. `blocking == false` with `Some(timeout)` is
    /// `ValueError: can't specify a timeout for a non-blocking call`.
    pub fn acquire(
        &self,
        blocking: bool,
        timeout: Option<Duration>,
        intr: &Interrupt<'_>,
    ) -> SyncResult<bool> {
        if !blocking && timeout.is_some() {
            return Err(LOCK_NONBLOCKING_TIMEOUT);
        }
        let mut locked = self.locked.lock();
        if !*locked {
            *locked = true;
            return Ok(true);
        }
        if !blocking {
            return Ok(false);
        }
        wait_one(
            &self.cv,
            &mut locked,
            deadline_after(timeout),
            intr,
            take_lock,
        )
    }

    /// Non-blocking acquire.
    pub fn try_acquire(&self) -> bool {
        take_lock(&mut self.locked.lock())
    }

    /// `release()`: `RuntimeError: release unlocked lock` if it is not locked.
    pub fn release(&self) -> SyncResult<()> {
        let mut locked = self.locked.lock();
        if !*locked {
            return Err(RELEASE_UNLOCKED);
        }
        *locked = false;
        drop(locked);
        self.cv.notify_one();
        Ok(())
    }

    pub fn locked(&self) -> bool {
        *self.locked.lock()
    }

    /// Acquires without timeout and without listening to interrupts (used to restore a lock
    /// after `Condition.wait`).
    fn acquire_uninterruptibly(&self) {
        let mut locked = self.locked.lock();
        let _ = wait_one(&self.cv, &mut locked, None, &Interrupt::NEVER, take_lock);
    }
}

fn take_lock(locked: &mut bool) -> bool {
    !std::mem::replace(locked, true)
}

// ---------------------------------------------------------------------------------------------
// RLock
// ---------------------------------------------------------------------------------------------

struct RState {
    owner: Option<ThreadId>,
    count: usize,
}

/// `threading.RLock`: re-entrant; owned by the thread (its `ThreadId`) that acquired it, and only
/// that thread may release it.
pub struct RLock {
    state: Mutex<RState>,
    cv: Condvar,
}

/// What [`RLock::release_save`] gives up and [`RLock::acquire_restore`] takes back: the owner
/// and recursion level (CPython's `_release_save`/`_acquire_restore`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RLockSaved {
    pub owner: ThreadId,
    pub count: usize,
}

impl Default for RLock {
    fn default() -> Self {
        RLock::new()
    }
}

impl RLock {
    pub const fn new() -> RLock {
        RLock {
            state: Mutex::new(RState {
                owner: None,
                count: 0,
            }),
            cv: Condvar::new(),
        }
    }

    /// `acquire(blocking=True, timeout=-1)`: re-entry by the owner only increments the count.
    /// Same argument check as [`Lock::acquire`].
    pub fn acquire(
        &self,
        blocking: bool,
        timeout: Option<Duration>,
        intr: &Interrupt<'_>,
    ) -> SyncResult<bool> {
        if !blocking && timeout.is_some() {
            return Err(LOCK_NONBLOCKING_TIMEOUT);
        }
        let me = std::thread::current().id();
        let mut st = self.state.lock();
        if st.owner == Some(me) {
            st.count += 1;
            return Ok(true);
        }
        let take = |st: &mut RState| {
            if st.owner.is_none() {
                st.owner = Some(me);
                st.count = 1;
                true
            } else {
                false
            }
        };
        if !blocking {
            return Ok(take(&mut st));
        }
        wait_one(&self.cv, &mut st, deadline_after(timeout), intr, take)
    }

    /// `release()`: by the owner only, else `RuntimeError: cannot release un-acquired lock`.
    pub fn release(&self) -> SyncResult<()> {
        let me = std::thread::current().id();
        let mut st = self.state.lock();
        if st.owner != Some(me) || st.count == 0 {
            return Err(RELEASE_UNACQUIRED);
        }
        st.count -= 1;
        if st.count == 0 {
            st.owner = None;
            drop(st);
            self.cv.notify_one();
        }
        Ok(())
    }

    /// True if the calling thread holds it (CPython's `_is_owned`).
    pub fn is_owned(&self) -> bool {
        self.state.lock().owner == Some(std::thread::current().id())
    }

    /// Recursion level (0 when free).
    pub fn count(&self) -> usize {
        self.state.lock().count
    }

    pub fn owner(&self) -> Option<ThreadId> {
        self.state.lock().owner
    }

    /// Releases every level at once (the caller must own it, else `RuntimeError: cannot release
    /// un-acquired lock`) and returns what [`RLock::acquire_restore`] needs.
    pub fn release_save(&self) -> SyncResult<RLockSaved> {
        let me = std::thread::current().id();
        let mut st = self.state.lock();
        if st.owner != Some(me) || st.count == 0 {
            return Err(RELEASE_UNACQUIRED);
        }
        let saved = RLockSaved {
            owner: me,
            count: st.count,
        };
        st.owner = None;
        st.count = 0;
        drop(st);
        self.cv.notify_one();
        Ok(saved)
    }

    /// Blocks (ignoring interrupts) until free, then restores owner and level.
    pub fn acquire_restore(&self, saved: RLockSaved) {
        let mut st = self.state.lock();
        let _ = wait_one(&self.cv, &mut st, None, &Interrupt::NEVER, |st| {
            if st.owner.is_none() {
                st.owner = Some(saved.owner);
                st.count = saved.count;
                true
            } else {
                false
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Semaphore and BoundedSemaphore
// ---------------------------------------------------------------------------------------------

/// `threading.Semaphore`, and `threading.BoundedSemaphore` when built with
/// [`Semaphore::bounded`].
pub struct Semaphore {
    value: Mutex<usize>,
    cv: Condvar,
    /// The initial value, for a bounded semaphore.
    bound: Option<usize>,
}

impl Semaphore {
    /// `Semaphore(value=1)`: `ValueError: semaphore initial value must be >= 0` if negative.
    pub fn new(value: i64) -> SyncResult<Semaphore> {
        Ok(Semaphore {
            value: Mutex::new(Self::initial(value)?),
            cv: Condvar::new(),
            bound: None,
        })
    }

    /// `BoundedSemaphore(value=1)`: releasing above `value` is an error.
    pub fn bounded(value: i64) -> SyncResult<Semaphore> {
        let v = Self::initial(value)?;
        Ok(Semaphore {
            value: Mutex::new(v),
            cv: Condvar::new(),
            bound: Some(v),
        })
    }

    fn initial(value: i64) -> SyncResult<usize> {
        usize::try_from(value).map_err(|_| SEM_NEGATIVE)
    }

    /// `acquire(blocking=True, timeout=None)`: `Ok(true)` with a permit taken, `Ok(false)` when
    /// none is available (non-blocking) or the timeout expired. Non-blocking with a timeout is
    /// `ValueError: can't specify timeout for non-blocking acquire`.
    pub fn acquire(
        &self,
        blocking: bool,
        timeout: Option<Duration>,
        intr: &Interrupt<'_>,
    ) -> SyncResult<bool> {
        if !blocking && timeout.is_some() {
            return Err(SEM_NONBLOCKING_TIMEOUT);
        }
        let take = |v: &mut usize| {
            if *v > 0 {
                *v -= 1;
                true
            } else {
                false
            }
        };
        let mut value = self.value.lock();
        if !blocking {
            return Ok(take(&mut value));
        }
        wait_one(&self.cv, &mut value, deadline_after(timeout), intr, take)
    }

    /// `release(n=1)`: `ValueError: n must be one or more` if `n < 1`; for a bounded semaphore
    /// `ValueError: Semaphore released too many times` if the value would exceed the initial one
    /// (nothing is released then).
    pub fn release(&self, n: i64) -> SyncResult<()> {
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n >= 1)
            .ok_or(N_ONE_OR_MORE)?;
        let mut value = self.value.lock();
        let new = value.checked_add(n).ok_or(SEM_TOO_MANY)?;
        if let Some(bound) = self.bound {
            if new > bound {
                return Err(SEM_TOO_MANY);
            }
        }
        *value = new;
        drop(value);
        for _ in 0..n {
            if !self.cv.notify_one() {
                break;
            }
        }
        Ok(())
    }

    /// The current counter (CPython's `_value`).
    pub fn value(&self) -> usize {
        *self.value.lock()
    }

    pub fn is_bounded(&self) -> bool {
        self.bound.is_some()
    }
}

// ---------------------------------------------------------------------------------------------
// Condition
// ---------------------------------------------------------------------------------------------

/// The lock under a [`Condition`]; shared, so `Condition(lock)` can use a lock the program
/// created (and still uses) separately.
#[derive(Clone)]
pub enum CondLock {
    Lock(Arc<Lock>),
    RLock(Arc<RLock>),
}

enum CondSaved {
    Lock,
    RLock(RLockSaved),
}

impl CondLock {
    pub fn acquire(
        &self,
        blocking: bool,
        timeout: Option<Duration>,
        intr: &Interrupt<'_>,
    ) -> SyncResult<bool> {
        match self {
            CondLock::Lock(l) => l.acquire(blocking, timeout, intr),
            CondLock::RLock(l) => l.acquire(blocking, timeout, intr),
        }
    }

    pub fn release(&self) -> SyncResult<()> {
        match self {
            CondLock::Lock(l) => l.release(),
            CondLock::RLock(l) => l.release(),
        }
    }

    /// CPython's `Condition._is_owned`: an RLock must be held by the calling thread; a plain
    /// Lock only has to be locked (by anyone).
    pub fn is_owned(&self) -> bool {
        match self {
            CondLock::Lock(l) => l.locked(),
            CondLock::RLock(l) => l.is_owned(),
        }
    }

    fn release_save(&self) -> SyncResult<CondSaved> {
        match self {
            CondLock::Lock(l) => l.release().map(|()| CondSaved::Lock),
            CondLock::RLock(l) => l.release_save().map(CondSaved::RLock),
        }
    }

    fn acquire_restore(&self, saved: CondSaved) {
        match (self, saved) {
            (CondLock::Lock(l), _) => l.acquire_uninterruptibly(),
            (CondLock::RLock(l), CondSaved::RLock(s)) => l.acquire_restore(s),
            (CondLock::RLock(_), CondSaved::Lock) => unreachable!("saved state of another lock"),
        }
    }
}

struct CondState {
    next_ticket: u64,
    /// Tickets of the threads waiting and not yet notified, oldest first (so sorted).
    waiting: VecDeque<u64>,
}

/// `threading.Condition(lock=None)` (a new RLock when none is given). Waiters are notified in
/// FIFO order; a notification is never lost to a waiter that times out or is interrupted.
pub struct Condition {
    lock: CondLock,
    state: Mutex<CondState>,
    cv: Condvar,
}

impl Default for Condition {
    fn default() -> Self {
        Condition::new(CondLock::RLock(Arc::new(RLock::new())))
    }
}

impl Condition {
    pub fn new(lock: CondLock) -> Condition {
        Condition {
            lock,
            state: Mutex::new(CondState {
                next_ticket: 0,
                waiting: VecDeque::new(),
            }),
            cv: Condvar::new(),
        }
    }

    /// The underlying lock.
    pub fn lock(&self) -> &CondLock {
        &self.lock
    }

    /// Delegates to the lock's `acquire`.
    pub fn acquire(
        &self,
        blocking: bool,
        timeout: Option<Duration>,
        intr: &Interrupt<'_>,
    ) -> SyncResult<bool> {
        self.lock.acquire(blocking, timeout, intr)
    }

    /// Delegates to the lock's `release`.
    pub fn release(&self) -> SyncResult<()> {
        self.lock.release()
    }

    pub fn is_owned(&self) -> bool {
        self.lock.is_owned()
    }

    /// `wait(timeout=None)`: the caller must hold the lock (`RuntimeError: cannot wait on
    /// un-acquired lock`). Releases it completely (every level of an RLock), waits for a
    /// notification, then re-acquires it to the same level before returning, also on timeout
    /// and on `Interrupted` (that re-acquisition ignores interrupts, so the caller's `with`
    /// block stays consistent). `Ok(true)` if notified, `Ok(false)` on timeout; a waiter both
    /// notified and interrupted reports `Ok(true)`, leaving the signal for later.
    pub fn wait(&self, timeout: Option<Duration>, intr: &Interrupt<'_>) -> SyncResult<bool> {
        if !self.lock.is_owned() {
            return Err(WAIT_UNACQUIRED);
        }
        let ticket = {
            let mut st = self.state.lock();
            let t = st.next_ticket;
            st.next_ticket += 1;
            st.waiting.push_back(t);
            t
        };
        let saved = match self.lock.release_save() {
            Ok(saved) => saved,
            Err(e) => {
                self.remove_ticket(&mut self.state.lock(), ticket);
                return Err(e);
            }
        };
        let result = {
            let mut st = self.state.lock();
            let r = wait_until_ready(&self.cv, &mut st, deadline_after(timeout), intr, |st| {
                st.waiting.binary_search(&ticket).is_err()
            });
            match r {
                Ok(true) => Ok(true),
                // Notified after the last check? Then the notification wins.
                _ if !self.remove_ticket(&mut st, ticket) => Ok(true),
                other => other,
            }
        };
        self.lock.acquire_restore(saved);
        result
    }

    /// Removes a ticket still waiting; false if it was already notified.
    fn remove_ticket(&self, st: &mut CondState, ticket: u64) -> bool {
        match st.waiting.binary_search(&ticket) {
            Ok(i) => {
                st.waiting.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// `wait_for(predicate, timeout=None)`, for Rust callers (a Toy wrapper can loop over
    /// [`Condition::wait`] itself, since its predicate needs the GIL): waits until `predicate`
    /// returns true or the timeout expires, and returns the predicate's last result.
    pub fn wait_for(
        &self,
        mut predicate: impl FnMut() -> bool,
        timeout: Option<Duration>,
        intr: &Interrupt<'_>,
    ) -> SyncResult<bool> {
        let deadline = deadline_after(timeout);
        let mut result = predicate();
        while !result {
            let remaining = match deadline {
                None => None,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    Some(left)
                }
            };
            self.wait(remaining, intr)?;
            result = predicate();
        }
        Ok(result)
    }

    /// `notify(n=1)`: wakes the `n` longest-waiting threads. The caller must hold the lock
    /// (`RuntimeError: cannot notify on un-acquired lock`).
    pub fn notify(&self, n: usize) -> SyncResult<()> {
        if !self.lock.is_owned() {
            return Err(NOTIFY_UNACQUIRED);
        }
        let mut st = self.state.lock();
        let k = n.min(st.waiting.len());
        if k > 0 {
            st.waiting.drain(..k);
            drop(st);
            self.cv.notify_all();
        }
        Ok(())
    }

    /// `notify_all()`: same lock requirement as [`Condition::notify`].
    pub fn notify_all(&self) -> SyncResult<()> {
        self.notify(usize::MAX)
    }
}

// ---------------------------------------------------------------------------------------------
// Event
// ---------------------------------------------------------------------------------------------

struct EventState {
    flag: bool,
    /// Bumped by every `set` that changes the flag, so a waiter woken by a `set` returns true
    /// even if the flag was cleared again before it ran (as in CPython).
    generation: u64,
}

/// `threading.Event`.
pub struct Event {
    state: Mutex<EventState>,
    cv: Condvar,
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl Event {
    pub const fn new() -> Event {
        Event {
            state: Mutex::new(EventState {
                flag: false,
                generation: 0,
            }),
            cv: Condvar::new(),
        }
    }

    pub fn is_set(&self) -> bool {
        self.state.lock().flag
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        let mut st = self.state.lock();
        if !st.flag {
            st.flag = true;
            st.generation += 1;
            drop(st);
            self.cv.notify_all();
        }
    }

    pub fn clear(&self) {
        self.state.lock().flag = false;
    }

    /// `wait(timeout=None)`: true if the flag is set (or was set while waiting), false on
    /// timeout.
    pub fn wait(&self, timeout: Option<Duration>, intr: &Interrupt<'_>) -> SyncResult<bool> {
        let mut st = self.state.lock();
        if st.flag {
            return Ok(true);
        }
        let generation = st.generation;
        wait_until_ready(&self.cv, &mut st, deadline_after(timeout), intr, |st| {
            st.flag || st.generation != generation
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Barrier
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BarrierPhase {
    Filling,
    Draining,
    Resetting,
    Broken,
}

struct BarrierState {
    phase: BarrierPhase,
    count: usize,
}

/// `threading.Barrier(parties, timeout=None)` (no `action`), a transcription of CPython's
/// state machine: the i-th thread to arrive gets index `i` (0 first, `parties - 1` last, which
/// releases the others). A timeout breaks the barrier, as does `abort`; every current and future
/// waiter then gets `BrokenBarrier` until `reset`. An interrupted waiter leaves without breaking
/// it (as a `KeyboardInterrupt` does in CPython). `parties == 0` is accepted as in 3.11 (the
/// barrier then never trips).
pub struct Barrier {
    parties: usize,
    timeout: Option<Duration>,
    state: Mutex<BarrierState>,
    cv: Condvar,
}

impl Barrier {
    /// `timeout` is the default for [`Barrier::wait`] calls that pass `None`.
    pub fn new(parties: usize, timeout: Option<Duration>) -> Barrier {
        Barrier {
            parties,
            timeout,
            state: Mutex::new(BarrierState {
                phase: BarrierPhase::Filling,
                count: 0,
            }),
            cv: Condvar::new(),
        }
    }

    /// `wait(timeout=None)`: the arrival index, or `BrokenBarrier`.
    pub fn wait(&self, timeout: Option<Duration>, intr: &Interrupt<'_>) -> SyncResult<usize> {
        let timeout = timeout.or(self.timeout);
        let mut st = self.state.lock();
        // _enter: wait while the previous cycle drains or resets.
        wait_until_ready(&self.cv, &mut st, None, intr, |st| {
            !matches!(st.phase, BarrierPhase::Draining | BarrierPhase::Resetting)
        })?;
        if st.phase == BarrierPhase::Broken {
            return Err(SyncError::BrokenBarrier);
        }
        let index = st.count;
        st.count += 1;
        let result = if index + 1 == self.parties {
            st.phase = BarrierPhase::Draining;
            self.cv.notify_all();
            Ok(index)
        } else {
            let r = wait_until_ready(&self.cv, &mut st, deadline_after(timeout), intr, |st| {
                st.phase != BarrierPhase::Filling
            });
            match r {
                Ok(false) => {
                    st.phase = BarrierPhase::Broken;
                    self.cv.notify_all();
                    Err(SyncError::BrokenBarrier)
                }
                Ok(true) if st.phase == BarrierPhase::Draining => Ok(index),
                Ok(true) => Err(SyncError::BrokenBarrier),
                Err(e) => Err(e),
            }
        };
        // _exit: the last one out of a draining or resetting barrier refills it.
        st.count -= 1;
        if st.count == 0 && matches!(st.phase, BarrierPhase::Draining | BarrierPhase::Resetting) {
            st.phase = BarrierPhase::Filling;
            self.cv.notify_all();
        }
        result
    }

    /// Returns the barrier to its empty state; threads waiting in it get `BrokenBarrier`.
    pub fn reset(&self) {
        let mut st = self.state.lock();
        if st.count > 0 {
            if matches!(st.phase, BarrierPhase::Filling | BarrierPhase::Broken) {
                st.phase = BarrierPhase::Resetting;
            }
        } else {
            st.phase = BarrierPhase::Filling;
        }
        self.cv.notify_all();
    }

    /// Breaks the barrier: current and future waiters get `BrokenBarrier` until `reset`.
    pub fn abort(&self) {
        self.state.lock().phase = BarrierPhase::Broken;
        self.cv.notify_all();
    }

    pub fn parties(&self) -> usize {
        self.parties
    }

    /// Threads currently waiting (0 while draining, resetting or broken).
    pub fn n_waiting(&self) -> usize {
        let st = self.state.lock();
        if st.phase == BarrierPhase::Filling {
            st.count
        } else {
            0
        }
    }

    pub fn broken(&self) -> bool {
        self.state.lock().phase == BarrierPhase::Broken
    }

    /// The default timeout given to [`Barrier::new`].
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
}

// ---------------------------------------------------------------------------------------------
// Queue
// ---------------------------------------------------------------------------------------------

struct QueueState<T> {
    items: VecDeque<T>,
    unfinished: usize,
}

/// `queue.Queue(maxsize=0)`: FIFO; `maxsize <= 0` means unbounded. Every successful `put`
/// counts an unfinished task, which `task_done` ends and `join` waits for.
pub struct Queue<T> {
    maxsize: i64,
    state: Mutex<QueueState<T>>,
    not_empty: Condvar,
    not_full: Condvar,
    all_done: Condvar,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue::new(0)
    }
}

impl<T> Queue<T> {
    pub fn new(maxsize: i64) -> Queue<T> {
        Queue {
            maxsize,
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                unfinished: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            all_done: Condvar::new(),
        }
    }

    /// The `maxsize` given to [`Queue::new`] (as Python's `q.maxsize`).
    pub fn maxsize(&self) -> i64 {
        self.maxsize
    }

    fn has_room(&self, len: usize) -> bool {
        self.maxsize <= 0 || (len as u64) < self.maxsize as u64
    }

    /// `put(item, block=True, timeout=None)`: waits for a free slot; `Full` if there is none
    /// and `block` is false, or the timeout expires (the item is dropped then). `timeout` is
    /// ignored when `block` is false.
    pub fn put(
        &self,
        item: T,
        block: bool,
        timeout: Option<Duration>,
        intr: &Interrupt<'_>,
    ) -> SyncResult<()> {
        let mut st = self.state.lock();
        if !self.has_room(st.items.len()) {
            if !block {
                return Err(SyncError::Full);
            }
            let room = wait_one(
                &self.not_full,
                &mut st,
                deadline_after(timeout),
                intr,
                |st| self.has_room(st.items.len()),
            )?;
            if !room {
                return Err(SyncError::Full);
            }
        }
        st.items.push_back(item);
        st.unfinished += 1;
        drop(st);
        self.not_empty.notify_one();
        Ok(())
    }

    /// `put_nowait(item)` = `put(item, block=False)`.
    pub fn put_nowait(&self, item: T) -> SyncResult<()> {
        self.put(item, false, None, &Interrupt::NEVER)
    }

    /// `get(block=True, timeout=None)`: the oldest item; `Empty` if there is none and `block`
    /// is false, or the timeout expires. `timeout` is ignored when `block` is false.
    pub fn get(
        &self,
        block: bool,
        timeout: Option<Duration>,
        intr: &Interrupt<'_>,
    ) -> SyncResult<T> {
        let mut st = self.state.lock();
        if st.items.is_empty() {
            if !block {
                return Err(SyncError::Empty);
            }
            let ready = wait_one(
                &self.not_empty,
                &mut st,
                deadline_after(timeout),
                intr,
                |st| !st.items.is_empty(),
            )?;
            if !ready {
                return Err(SyncError::Empty);
            }
        }
        let item = st.items.pop_front().expect("queue checked non-empty");
        drop(st);
        self.not_full.notify_one();
        Ok(item)
    }

    /// `get_nowait()` = `get(block=False)`.
    pub fn get_nowait(&self) -> SyncResult<T> {
        self.get(false, None, &Interrupt::NEVER)
    }

    pub fn qsize(&self) -> usize {
        self.state.lock().items.len()
    }

    pub fn empty(&self) -> bool {
        self.state.lock().items.is_empty()
    }

    /// `0 < maxsize <= qsize()`.
    pub fn full(&self) -> bool {
        !self.has_room(self.state.lock().items.len())
    }

    /// Ends one unfinished task: `ValueError: task_done() called too many times` if none is
    /// unfinished. Wakes `join` when the last one ends.
    pub fn task_done(&self) -> SyncResult<()> {
        let mut st = self.state.lock();
        if st.unfinished == 0 {
            return Err(TASK_DONE_TOO_MANY);
        }
        st.unfinished -= 1;
        if st.unfinished == 0 {
            drop(st);
            self.all_done.notify_all();
        }
        Ok(())
    }

    /// Blocks until every item ever put has been matched by a `task_done`.
    pub fn join(&self, intr: &Interrupt<'_>) -> SyncResult<()> {
        let mut st = self.state.lock();
        wait_until_ready(&self.all_done, &mut st, None, intr, |st| st.unfinished == 0)?;
        Ok(())
    }

    /// Items put and not yet marked done (`q.unfinished_tasks`).
    pub fn unfinished_tasks(&self) -> usize {
        self.state.lock().unfinished
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
    use std::sync::mpsc;
    use std::thread;

    const NO: &Interrupt<'static> = &Interrupt::NEVER;
    const MS: Duration = Duration::from_millis(1);

    /// Runs `f` on its own thread and fails the test, instead of hanging, if it has not
    /// finished within `secs`. Panics inside `f` are re-raised.
    fn guarded<F: FnOnce() + Send + 'static>(secs: u64, f: F) {
        let (tx, rx) = mpsc::channel::<()>();
        let h = thread::spawn(move || {
            f();
            let _ = tx.send(());
        });
        match rx.recv_timeout(Duration::from_secs(secs)) {
            Ok(()) => h.join().unwrap(),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                if let Err(p) = h.join() {
                    std::panic::resume_unwind(p);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("watchdog: test still running after {secs} s")
            }
        }
    }

    /// Polls `cond` until true, failing after 5 s.
    fn eventually(what: &str, cond: impl Fn() -> bool) {
        let end = Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            thread::sleep(MS);
        }
    }

    /// A read-then-write increment: loses updates unless callers exclude each other.
    fn racy_inc(c: &AtomicU64) {
        let v = c.load(SeqCst);
        std::hint::spin_loop();
        c.store(v + 1, SeqCst);
    }

    #[test]
    fn error_mapping_and_messages() {
        let l = Lock::new();
        let e = l.release().unwrap_err();
        assert_eq!(
            (e.type_name(), e.message()),
            ("RuntimeError", "release unlocked lock")
        );
        assert_eq!(e.to_string(), "RuntimeError: release unlocked lock");
        assert_eq!(SyncError::BrokenBarrier.type_name(), "BrokenBarrierError");
        assert_eq!(SyncError::BrokenBarrier.builtin_base(), "RuntimeError");
        assert_eq!(SyncError::Empty.to_string(), "Empty");
        assert_eq!(SyncError::Full.message(), "");
        assert_eq!(SyncError::Interrupted.type_name(), "KeyboardInterrupt");
    }

    #[test]
    fn timeout_conversions() {
        assert_eq!(lock_timeout(true, -1.0), Ok(None));
        assert_eq!(lock_timeout(false, -1.0), Ok(None));
        assert_eq!(
            lock_timeout(true, 0.5),
            Ok(Some(Duration::from_millis(500)))
        );
        assert_eq!(
            lock_timeout(false, 1.0),
            Err(SyncError::ValueError(
                "can't specify a timeout for a non-blocking call"
            ))
        );
        assert_eq!(
            lock_timeout(true, -2.0),
            Err(SyncError::ValueError("timeout value must be positive"))
        );
        assert_eq!(
            lock_timeout(true, f64::NAN),
            Err(SyncError::ValueError("Invalid value NaN (not a number)"))
        );
        assert_eq!(
            lock_timeout(true, 1e10),
            Err(SyncError::OverflowError(
                "timestamp out of range for platform time_t"
            ))
        );
        assert_eq!(wait_timeout(None), None);
        assert_eq!(wait_timeout(Some(-3.0)), Some(Duration::ZERO));
        assert_eq!(wait_timeout(Some(f64::NAN)), Some(Duration::ZERO));
        assert_eq!(wait_timeout(Some(0.25)), Some(Duration::from_millis(250)));
        assert_eq!(wait_timeout(Some(1e300)), None);
        assert_eq!(queue_timeout(false, Some(-1.0)), Ok(None));
        assert_eq!(
            queue_timeout(true, Some(2.0)),
            Ok(Some(Duration::from_secs(2)))
        );
        assert_eq!(
            queue_timeout(true, Some(-1.0)),
            Err(SyncError::ValueError(
                "'timeout' must be a non-negative number"
            ))
        );
    }

    #[test]
    fn lock_mutual_exclusion_8x10000() {
        guarded(60, || {
            let lock = Arc::new(Lock::new());
            let counter = Arc::new(AtomicU64::new(0));
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    let (lock, counter) = (lock.clone(), counter.clone());
                    thread::spawn(move || {
                        for _ in 0..10_000 {
                            assert!(lock.acquire(true, None, NO).unwrap());
                            racy_inc(&counter);
                            lock.release().unwrap();
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(counter.load(SeqCst), 80_000);
            assert!(!lock.locked());
        });
    }

    #[test]
    fn lock_semantics() {
        guarded(20, || {
            let l = Arc::new(Lock::new());
            assert!(!l.locked());
            assert_eq!(l.acquire(true, None, NO), Ok(true));
            assert!(l.locked());
            assert_eq!(l.acquire(false, None, NO), Ok(false));
            assert!(!l.try_acquire());
            assert_eq!(
                l.acquire(false, Some(MS), NO),
                Err(SyncError::ValueError(
                    "can't specify a timeout for a non-blocking call"
                ))
            );
            let t0 = Instant::now();
            assert_eq!(l.acquire(true, Some(30 * MS), NO), Ok(false));
            assert!(t0.elapsed() >= 25 * MS);
            assert_eq!(l.acquire(true, Some(Duration::ZERO), NO), Ok(false));
            // Any thread may release a Lock.
            let l2 = l.clone();
            thread::spawn(move || l2.release().unwrap()).join().unwrap();
            assert!(!l.locked());
            assert_eq!(
                l.release(),
                Err(SyncError::RuntimeError("release unlocked lock"))
            );
            // A blocked acquirer is woken by a release from another thread.
            assert!(l.try_acquire());
            let l2 = l.clone();
            let h = thread::spawn(move || l2.acquire(true, Some(Duration::from_secs(5)), NO));
            thread::sleep(20 * MS);
            l.release().unwrap();
            assert_eq!(h.join().unwrap(), Ok(true));
            assert!(l.locked());
        });
    }

    #[test]
    fn rlock_reentry_and_ownership() {
        guarded(20, || {
            let r = Arc::new(RLock::new());
            assert_eq!(
                r.release(),
                Err(SyncError::RuntimeError("cannot release un-acquired lock"))
            );
            for _ in 0..3 {
                assert_eq!(r.acquire(true, None, NO), Ok(true));
            }
            assert_eq!(r.count(), 3);
            assert!(r.is_owned());
            assert_eq!(r.owner(), Some(thread::current().id()));
            let r2 = r.clone();
            let (other_acq, other_rel, other_owned) = thread::spawn(move || {
                (
                    r2.acquire(true, Some(20 * MS), NO),
                    r2.release(),
                    r2.is_owned(),
                )
            })
            .join()
            .unwrap();
            assert_eq!(other_acq, Ok(false));
            assert_eq!(
                other_rel,
                Err(SyncError::RuntimeError("cannot release un-acquired lock"))
            );
            assert!(!other_owned);
            assert_eq!(r.count(), 3);
            // release_save / acquire_restore, as Condition.wait uses them.
            let saved = r.release_save().unwrap();
            assert_eq!(saved.count, 3);
            assert_eq!((r.count(), r.owner()), (0, None));
            let r2 = r.clone();
            assert!(thread::spawn(move || {
                let ok = r2.acquire(false, None, NO).unwrap();
                r2.release().unwrap();
                ok
            })
            .join()
            .unwrap());
            r.acquire_restore(saved);
            assert_eq!(r.count(), 3);
            for _ in 0..3 {
                r.release().unwrap();
            }
            assert!(r.release().is_err());
            assert_eq!(r.owner(), None);
        });
    }

    #[test]
    fn rlock_mutual_exclusion() {
        guarded(30, || {
            let r = Arc::new(RLock::new());
            let counter = Arc::new(AtomicU64::new(0));
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let (r, counter) = (r.clone(), counter.clone());
                    thread::spawn(move || {
                        for _ in 0..5_000 {
                            r.acquire(true, None, NO).unwrap();
                            r.acquire(true, None, NO).unwrap();
                            racy_inc(&counter);
                            r.release().unwrap();
                            racy_inc(&counter);
                            r.release().unwrap();
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(counter.load(SeqCst), 40_000);
        });
    }

    #[test]
    fn semaphore_limits_concurrency() {
        guarded(20, || {
            const N: usize = 3;
            const THREADS: usize = 8;
            let sem = Arc::new(Semaphore::new(N as i64).unwrap());
            let inside = Arc::new(AtomicUsize::new(0));
            let done = Arc::new(AtomicUsize::new(0));
            let max_seen = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (sem, inside, done, max_seen) =
                        (sem.clone(), inside.clone(), done.clone(), max_seen.clone());
                    thread::spawn(move || {
                        for _ in 0..3 {
                            assert!(sem.acquire(true, None, NO).unwrap());
                            let now = inside.fetch_add(1, SeqCst) + 1;
                            max_seen.fetch_max(now, SeqCst);
                            // Hold the permit until the semaphore is saturated or nobody is
                            // left to take a free permit: deterministic, no timing.
                            eventually("saturation", || {
                                let cur = inside.load(SeqCst);
                                cur >= N || cur + done.load(SeqCst) == THREADS
                            });
                            inside.fetch_sub(1, SeqCst);
                            sem.release(1).unwrap();
                        }
                        done.fetch_add(1, SeqCst);
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(max_seen.load(SeqCst), N);
            assert_eq!(sem.value(), N);
        });
    }

    #[test]
    fn semaphore_errors_and_bounded() {
        guarded(20, || {
            let neg = SyncError::ValueError("semaphore initial value must be >= 0");
            assert_eq!(Semaphore::new(-1).err(), Some(neg));
            assert_eq!(Semaphore::bounded(-5).err(), Some(neg));
            let s = Semaphore::new(0).unwrap();
            assert_eq!(
                s.release(0),
                Err(SyncError::ValueError("n must be one or more"))
            );
            assert_eq!(
                s.release(-2),
                Err(SyncError::ValueError("n must be one or more"))
            );
            assert_eq!(
                s.acquire(false, Some(MS), NO),
                Err(SyncError::ValueError(
                    "can't specify timeout for non-blocking acquire"
                ))
            );
            assert_eq!(s.acquire(false, None, NO), Ok(false));
            assert_eq!(s.acquire(true, Some(20 * MS), NO), Ok(false));
            s.release(2).unwrap(); // unbounded: any amount
            assert_eq!(s.value(), 2);
            assert!(!s.is_bounded());

            let too_many = SyncError::ValueError("Semaphore released too many times");
            let b = Semaphore::bounded(2).unwrap();
            assert!(b.is_bounded());
            assert_eq!(b.release(1), Err(too_many));
            assert!(b.acquire(true, None, NO).unwrap());
            assert_eq!(b.release(2), Err(too_many));
            assert_eq!(b.value(), 1);
            b.release(1).unwrap();
            assert_eq!(b.value(), 2);

            // release(n) wakes n blocked acquirers.
            let s = Arc::new(Semaphore::new(0).unwrap());
            let got = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..3)
                .map(|_| {
                    let (s, got) = (s.clone(), got.clone());
                    thread::spawn(move || {
                        assert!(s.acquire(true, Some(Duration::from_secs(5)), NO).unwrap());
                        got.fetch_add(1, SeqCst);
                    })
                })
                .collect();
            thread::sleep(20 * MS);
            s.release(3).unwrap();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!((got.load(SeqCst), s.value()), (3, 0));
        });
    }

    #[test]
    fn condition_producer_consumer() {
        guarded(30, || {
            let cond = Arc::new(Condition::new(CondLock::Lock(Arc::new(Lock::new()))));
            // The data is only touched while holding the condition's lock; the inner Mutex is
            // just there to make that safe Rust.
            let buf = Arc::new(Mutex::new(VecDeque::<Option<u64>>::new()));
            const CAP: usize = 4;
            const PER: u64 = 2_000;
            let mut hs = Vec::new();
            for p in 0..2u64 {
                let (cond, buf) = (cond.clone(), buf.clone());
                hs.push(thread::spawn(move || {
                    for i in 0..=PER {
                        let item = (i < PER).then_some(p * PER + i);
                        cond.acquire(true, None, NO).unwrap();
                        while buf.lock().len() >= CAP {
                            cond.wait(None, NO).unwrap();
                        }
                        buf.lock().push_back(item);
                        cond.notify_all().unwrap();
                        cond.release().unwrap();
                    }
                    0u64
                }));
            }
            for _ in 0..2 {
                let (cond, buf) = (cond.clone(), buf.clone());
                hs.push(thread::spawn(move || {
                    let mut sum = 0;
                    loop {
                        cond.acquire(true, None, NO).unwrap();
                        assert!(cond.wait_for(|| !buf.lock().is_empty(), None, NO).unwrap());
                        let item = buf.lock().pop_front().unwrap();
                        cond.notify(1).unwrap();
                        cond.release().unwrap();
                        match item {
                            Some(v) => sum += v,
                            None => return sum,
                        }
                    }
                }));
            }
            let total: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
            let n = 2 * PER;
            assert_eq!(total, n * (n - 1) / 2);
            assert!(buf.lock().is_empty());
        });
    }

    #[test]
    fn condition_over_shared_rlock_releases_all_levels() {
        guarded(20, || {
            let r = Arc::new(RLock::new());
            let cond = Arc::new(Condition::new(CondLock::RLock(r.clone())));
            let flag = Arc::new(AtomicBool::new(false));
            cond.acquire(true, None, NO).unwrap();
            r.acquire(true, None, NO).unwrap(); // the same lock, two levels
            assert_eq!(r.count(), 2);
            let (r2, cond2, flag2) = (r.clone(), cond.clone(), flag.clone());
            let h = thread::spawn(move || {
                // Only possible if wait released both levels.
                assert!(r2.acquire(true, Some(Duration::from_secs(5)), NO).unwrap());
                flag2.store(true, SeqCst);
                cond2.notify(1).unwrap();
                r2.release().unwrap();
            });
            assert_eq!(
                cond.wait_for(|| flag.load(SeqCst), Some(Duration::from_secs(5)), NO),
                Ok(true)
            );
            assert_eq!(r.count(), 2);
            assert!(cond.is_owned());
            h.join().unwrap();
            // A timed-out wait also restores the lock.
            assert_eq!(cond.wait(Some(20 * MS), NO), Ok(false));
            assert_eq!(cond.wait(Some(Duration::ZERO), NO), Ok(false));
            assert_eq!(r.count(), 2);
            r.release().unwrap();
            cond.release().unwrap();
            assert_eq!(r.owner(), None);
            // Default condition: its own RLock.
            let c = Condition::default();
            assert!(matches!(c.lock(), CondLock::RLock(_)));
        });
    }

    #[test]
    fn condition_errors_and_notify_counts() {
        guarded(20, || {
            let c = Condition::default();
            let wait_err = SyncError::RuntimeError("cannot wait on un-acquired lock");
            let notify_err = SyncError::RuntimeError("cannot notify on un-acquired lock");
            assert_eq!(c.wait(None, NO), Err(wait_err));
            assert_eq!(c.notify(1), Err(notify_err));
            assert_eq!(c.notify_all(), Err(notify_err));
            assert_eq!(
                c.release(),
                Err(SyncError::RuntimeError("cannot release un-acquired lock"))
            );
            let cl = Condition::new(CondLock::Lock(Arc::new(Lock::new())));
            assert_eq!(cl.wait(Some(MS), NO), Err(wait_err));
            assert_eq!(
                cl.release(),
                Err(SyncError::RuntimeError("release unlocked lock"))
            );

            // notify(1) wakes exactly one waiter, oldest first; notify_all the rest.
            let cond = Arc::new(Condition::new(CondLock::Lock(Arc::new(Lock::new()))));
            let ready = Arc::new(AtomicUsize::new(0));
            let woke = Arc::new(Mutex::new(Vec::new()));
            let mut hs = Vec::new();
            for i in 0..3 {
                let (cond, ready, woke) = (cond.clone(), ready.clone(), woke.clone());
                // Start them one at a time so the FIFO order is known.
                eventually("previous waiter", || ready.load(SeqCst) == i);
                hs.push(thread::spawn(move || {
                    cond.acquire(true, None, NO).unwrap();
                    ready.fetch_add(1, SeqCst);
                    assert_eq!(cond.wait(None, NO), Ok(true));
                    woke.lock().push(i);
                    cond.release().unwrap();
                }));
            }
            // Once we hold the lock with ready == 3, all three are registered waiters.
            let all_waiting = || {
                cond.acquire(true, None, NO).unwrap();
                if ready.load(SeqCst) == 3 {
                    return true;
                }
                cond.release().unwrap();
                false
            };
            eventually("three waiters", all_waiting);
            cond.notify(1).unwrap();
            cond.release().unwrap();
            eventually("one wake-up", || woke.lock().len() == 1);
            thread::sleep(50 * MS);
            assert_eq!(*woke.lock(), vec![0]);
            cond.acquire(true, None, NO).unwrap();
            cond.notify_all().unwrap();
            cond.release().unwrap();
            for h in hs {
                h.join().unwrap();
            }
            let mut w = woke.lock().clone();
            w.sort();
            assert_eq!(w, vec![0, 1, 2]);
        });
    }

    #[test]
    fn event_wakes_all_waiters() {
        guarded(20, || {
            let e = Arc::new(Event::new());
            assert!(!e.is_set());
            assert_eq!(e.wait(Some(20 * MS), NO), Ok(false));
            assert_eq!(e.wait(Some(Duration::ZERO), NO), Ok(false));
            let hs: Vec<_> = (0..5)
                .map(|_| {
                    let e = e.clone();
                    thread::spawn(move || e.wait(None, NO))
                })
                .collect();
            thread::sleep(30 * MS);
            e.set();
            for h in hs {
                assert_eq!(h.join().unwrap(), Ok(true));
            }
            assert!(e.is_set());
            assert_eq!(e.wait(None, NO), Ok(true));
            e.set();
            e.clear();
            assert!(!e.is_set());
            assert_eq!(e.wait(Some(MS), NO), Ok(false));
        });
    }

    #[test]
    fn barrier_indices_rounds_and_breaking() {
        guarded(20, || {
            assert_eq!(Barrier::new(1, None).wait(None, NO), Ok(0));
            // 4 threads, 3 rounds: indices are 0..4 each round; arriving in a known order
            // (thread i waits for i earlier arrivals), thread i gets index i.
            let b = Arc::new(Barrier::new(4, None));
            assert_eq!((b.parties(), b.n_waiting(), b.broken()), (4, 0, false));
            let hs: Vec<_> = (0..4)
                .map(|i| {
                    let b = b.clone();
                    thread::spawn(move || {
                        let mut got = Vec::new();
                        for round in 0..3 {
                            if round == 0 {
                                eventually("earlier arrivals", || b.n_waiting() == i);
                            }
                            got.push(b.wait(Some(Duration::from_secs(5)), NO).unwrap());
                        }
                        (i, got)
                    })
                })
                .collect();
            let results: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
            for round in 0..3 {
                let idx: HashSet<usize> = results.iter().map(|(_, g)| g[round]).collect();
                assert_eq!(idx, (0..4).collect::<HashSet<_>>());
            }
            for (i, got) in &results {
                assert_eq!(got[0], *i);
            }
            assert_eq!((b.n_waiting(), b.broken()), (0, false));

            // A timeout breaks the barrier for everyone, until reset.
            let b = Arc::new(Barrier::new(3, None));
            let b2 = b.clone();
            let other = thread::spawn(move || b2.wait(None, NO));
            eventually("one waiter", || b.n_waiting() == 1);
            assert_eq!(b.wait(Some(30 * MS), NO), Err(SyncError::BrokenBarrier));
            assert_eq!(other.join().unwrap(), Err(SyncError::BrokenBarrier));
            assert!(b.broken());
            assert_eq!(b.n_waiting(), 0);
            assert_eq!(b.wait(None, NO), Err(SyncError::BrokenBarrier));
            b.reset();
            assert!(!b.broken());

            // abort wakes waiters with BrokenBarrier; the default timeout applies.
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let b = b.clone();
                    thread::spawn(move || b.wait(None, NO))
                })
                .collect();
            eventually("two waiters", || b.n_waiting() == 2);
            b.abort();
            for h in hs {
                assert_eq!(h.join().unwrap(), Err(SyncError::BrokenBarrier));
            }
            let b = Barrier::new(2, Some(20 * MS));
            assert_eq!(b.timeout(), Some(20 * MS));
            assert_eq!(b.wait(None, NO), Err(SyncError::BrokenBarrier));
        });
    }

    #[test]
    fn barrier_reset_while_waiting() {
        guarded(20, || {
            let b = Arc::new(Barrier::new(3, None));
            let b2 = b.clone();
            let h = thread::spawn(move || b2.wait(None, NO));
            eventually("one waiter", || b.n_waiting() == 1);
            b.reset();
            assert_eq!(h.join().unwrap(), Err(SyncError::BrokenBarrier));
            assert!(!b.broken());
            // Usable again after the reset.
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let b = b.clone();
                    thread::spawn(move || b.wait(Some(Duration::from_secs(5)), NO))
                })
                .collect();
            let mine = b.wait(Some(Duration::from_secs(5)), NO).unwrap();
            let mut idx: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
            idx.push(mine);
            idx.sort();
            assert_eq!(idx, vec![0, 1, 2]);
        });
    }

    #[test]
    fn queue_basics_and_timeouts() {
        guarded(20, || {
            let q: Queue<String> = Queue::new(0);
            for i in 0..100 {
                q.put(i.to_string(), true, None, NO).unwrap();
            }
            assert!(!q.full());
            assert_eq!(q.qsize(), 100);
            for i in 0..100 {
                assert_eq!(q.get(true, None, NO).unwrap(), i.to_string());
            }
            assert!(q.empty());
            assert_eq!(q.get_nowait(), Err(SyncError::Empty));
            assert_eq!(
                q.get(false, Some(Duration::from_secs(9)), NO),
                Err(SyncError::Empty)
            );
            let t0 = Instant::now();
            assert_eq!(q.get(true, Some(40 * MS), NO), Err(SyncError::Empty));
            assert!(t0.elapsed() >= 35 * MS);
            assert_eq!(q.get(true, Some(Duration::ZERO), NO), Err(SyncError::Empty));

            let unbounded: Queue<u32> = Queue::new(-3);
            for i in 0..1000 {
                unbounded.put_nowait(i).unwrap();
            }
            assert!(!unbounded.full());
            assert_eq!(unbounded.maxsize(), -3);

            let q: Queue<u32> = Queue::new(2);
            q.put_nowait(1).unwrap();
            q.put(2, false, None, NO).unwrap();
            assert!(q.full());
            assert_eq!(q.put_nowait(3), Err(SyncError::Full));
            let t0 = Instant::now();
            assert_eq!(q.put(3, true, Some(40 * MS), NO), Err(SyncError::Full));
            assert!(t0.elapsed() >= 35 * MS);
            assert_eq!(q.qsize(), 2);
            assert_eq!(q.get_nowait(), Ok(1));
            assert_eq!(q.get_nowait(), Ok(2));
        });
    }

    #[test]
    fn queue_maxsize_blocks_producer() {
        guarded(20, || {
            let q = Arc::new(Queue::<u32>::new(1));
            let max_seen = Arc::new(AtomicUsize::new(0));
            let (q2, m2) = (q.clone(), max_seen.clone());
            let producer = thread::spawn(move || {
                for i in 0..200 {
                    q2.put(i, true, None, NO).unwrap();
                    m2.fetch_max(q2.qsize(), SeqCst);
                }
            });
            for i in 0..200 {
                if i % 50 == 0 {
                    thread::sleep(5 * MS); // let the producer hit the limit
                }
                assert_eq!(q.get(true, Some(Duration::from_secs(5)), NO), Ok(i));
            }
            producer.join().unwrap();
            assert!(max_seen.load(SeqCst) <= 1);
            assert!(q.empty());
        });
    }

    #[test]
    fn queue_task_done_and_join() {
        guarded(20, || {
            let q = Arc::new(Queue::<Option<u64>>::new(4));
            assert_eq!(
                q.task_done(),
                Err(SyncError::ValueError("task_done() called too many times"))
            );
            q.join(NO).unwrap(); // nothing unfinished
            let processed = Arc::new(AtomicU64::new(0));
            let workers: Vec<_> = (0..3)
                .map(|_| {
                    let (q, processed) = (q.clone(), processed.clone());
                    thread::spawn(move || loop {
                        let item = q.get(true, None, NO).unwrap();
                        if let Some(v) = item {
                            if v % 10 == 0 {
                                thread::sleep(MS);
                            }
                            processed.fetch_add(v, SeqCst);
                        }
                        q.task_done().unwrap();
                        if item.is_none() {
                            return;
                        }
                    })
                })
                .collect();
            for v in 1..=60 {
                q.put(Some(v), true, None, NO).unwrap();
            }
            q.join(NO).unwrap();
            assert_eq!(processed.load(SeqCst), 60 * 61 / 2);
            assert_eq!(q.unfinished_tasks(), 0);
            for _ in 0..3 {
                q.put(None, true, None, NO).unwrap();
            }
            for w in workers {
                w.join().unwrap();
            }
            q.join(NO).unwrap();
            assert_eq!(
                q.task_done(),
                Err(SyncError::ValueError("task_done() called too many times"))
            );
        });
    }

    /// Runs `f` with an interrupt that fires 50 ms from now; asserts it returned
    /// `Interrupted` within 200 ms of the interrupt.
    fn interrupted_after_50ms<R: fmt::Debug>(
        what: &str,
        f: impl FnOnce(&Interrupt<'_>) -> SyncResult<R>,
    ) {
        let start = Instant::now();
        let fire = Duration::from_millis(50);
        let check = move || start.elapsed() >= fire;
        let r = f(&Interrupt::new(&check));
        let late = start.elapsed().saturating_sub(fire);
        assert_eq!(r.err(), Some(SyncError::Interrupted), "{what}");
        assert!(
            late < Duration::from_millis(200),
            "{what}: interrupted {late:?} late"
        );
    }

    #[test]
    fn interrupts_end_waits_promptly() {
        guarded(20, || {
            let always = || true;
            let now = Interrupt::new(&always);
            // Fast paths never consult the interrupt.
            let l = Lock::new();
            assert_eq!(l.acquire(true, None, &now), Ok(true));
            interrupted_after_50ms("Lock", |i| l.acquire(true, None, i));
            interrupted_after_50ms("Lock timed", |i| {
                l.acquire(true, Some(Duration::from_secs(60)), i)
            });
            assert!(l.locked());
            l.release().unwrap();

            let r = Arc::new(RLock::new());
            let r2 = r.clone();
            let (tx, rx) = mpsc::channel::<()>();
            let holder = thread::spawn(move || {
                r2.acquire(true, None, NO).unwrap();
                tx.send(()).unwrap();
                thread::sleep(400 * MS);
                r2.release().unwrap();
            });
            rx.recv().unwrap();
            interrupted_after_50ms("RLock", |i| r.acquire(true, None, i));
            assert!(!r.is_owned());
            holder.join().unwrap();

            let s = Semaphore::new(0).unwrap();
            interrupted_after_50ms("Semaphore", |i| s.acquire(true, None, i));
            assert_eq!(s.value(), 0);

            let c = Condition::default();
            c.acquire(true, None, NO).unwrap();
            c.acquire(true, None, NO).unwrap();
            interrupted_after_50ms("Condition", |i| c.wait(None, i));
            assert!(c.is_owned()); // restored, both levels
            c.release().unwrap();
            c.release().unwrap();
            assert!(!c.is_owned());

            let e = Event::new();
            interrupted_after_50ms("Event", |i| e.wait(None, i));

            let b = Barrier::new(2, None);
            interrupted_after_50ms("Barrier", |i| b.wait(None, i));
            assert_eq!((b.n_waiting(), b.broken()), (0, false));

            let q = Queue::<u8>::new(1);
            interrupted_after_50ms("Queue.get", |i| q.get(true, None, i));
            q.put_nowait(7).unwrap();
            interrupted_after_50ms("Queue.put", |i| q.put(8, true, None, i));
            assert_eq!(q.qsize(), 1);
            interrupted_after_50ms("Queue.join", |i| q.join(i));
            assert_eq!(q.get_nowait(), Ok(7));
            q.task_done().unwrap();
            q.join(&now).unwrap(); // nothing to wait for
        });
    }

    #[derive(Default, Debug)]
    struct Stats {
        lock_ops: u64,
        rlock_ops: u64,
        q_n: u64,
        q_sum: u64,
        c_n: u64,
        c_sum: u64,
    }

    impl Stats {
        fn add(&mut self, o: &Stats) {
            self.lock_ops += o.lock_ops;
            self.rlock_ops += o.rlock_ops;
            self.q_n += o.q_n;
            self.q_sum += o.q_sum;
            self.c_n += o.c_n;
            self.c_sum += o.c_sum;
        }
    }

    const PRODUCERS: u64 = 4;
    const CONSUMERS: usize = 4;
    const CBUF_CAP: usize = 8;

    /// Everything the stress test's threads share.
    struct Shared {
        lock: Lock,
        counter: AtomicU64,
        rlock: RLock,
        rcounter: AtomicU64,
        queue: Queue<Option<u64>>,
        /// Guards `cbuf` and `producers_done`, a second producer/consumer channel.
        cond: Condition,
        cbuf: Mutex<VecDeque<u64>>,
        producers_done: AtomicU64,
        sem: Semaphore,
        inside: AtomicUsize,
        max_inside: AtomicUsize,
        start: Event,
        barrier: Barrier,
        deadline: Mutex<Option<Instant>>,
    }

    impl Shared {
        fn locked_inc(&self) {
            self.lock.acquire(true, None, NO).unwrap();
            racy_inc(&self.counter);
            self.lock.release().unwrap();
        }

        /// Takes everything in `cbuf` (the caller holds `cond`), notifying producers.
        fn pop_cbuf(&self, st: &mut Stats) -> bool {
            let mut b = self.cbuf.lock();
            let n = b.len();
            st.c_n += n as u64;
            st.c_sum += b.drain(..).sum::<u64>();
            drop(b);
            if n > 0 {
                self.cond.notify_all().unwrap();
            }
            n > 0
        }

        fn producer(&self, p: u64) -> Stats {
            let mut st = Stats::default();
            self.barrier.wait(None, NO).unwrap();
            assert!(self.start.wait(None, NO).unwrap());
            let deadline = self.deadline.lock().unwrap();
            let mut i = 0u64;
            while Instant::now() < deadline {
                i += 1;
                let v = p * 1_000_000_000 + i;
                self.locked_inc();
                st.lock_ops += 1;
                self.queue.put(Some(v), true, None, NO).unwrap();
                st.q_n += 1;
                st.q_sum += v;
                if i.is_multiple_of(8) {
                    self.cond.acquire(true, None, NO).unwrap();
                    let room = || self.cbuf.lock().len() < CBUF_CAP;
                    assert!(self.cond.wait_for(room, None, NO).unwrap());
                    self.cbuf.lock().push_back(v);
                    self.cond.notify_all().unwrap();
                    self.cond.release().unwrap();
                    st.c_n += 1;
                    st.c_sum += v;
                }
                if i.is_multiple_of(16) {
                    self.rlock.acquire(true, None, NO).unwrap();
                    self.rlock.acquire(true, None, NO).unwrap();
                    racy_inc(&self.rcounter);
                    self.rlock.release().unwrap();
                    self.rlock.release().unwrap();
                    st.rlock_ops += 1;
                }
                if i.is_multiple_of(64) {
                    self.sem.acquire(true, None, NO).unwrap();
                    let n = self.inside.fetch_add(1, SeqCst) + 1;
                    self.max_inside.fetch_max(n, SeqCst);
                    thread::sleep(MS);
                    self.inside.fetch_sub(1, SeqCst);
                    self.sem.release(1).unwrap();
                }
            }
            self.queue.put(None, true, None, NO).unwrap();
            self.cond.acquire(true, None, NO).unwrap();
            self.producers_done.fetch_add(1, SeqCst);
            self.cond.notify_all().unwrap();
            self.cond.release().unwrap();
            self.barrier
                .wait(Some(Duration::from_secs(20)), NO)
                .unwrap();
            st
        }

        fn consumer(&self) -> Stats {
            let mut st = Stats::default();
            let mut last_seen = [0u64; PRODUCERS as usize];
            self.barrier.wait(None, NO).unwrap();
            assert!(self.start.wait(None, NO).unwrap());
            let mut gets = 0u64;
            loop {
                gets += 1;
                match self.queue.get(true, Some(5 * MS), NO) {
                    Ok(Some(v)) => {
                        // FIFO: each producer's items arrive in order.
                        let (p, i) = ((v / 1_000_000_000) as usize, v % 1_000_000_000);
                        assert!(i > last_seen[p], "queue reordered items");
                        last_seen[p] = i;
                        st.q_n += 1;
                        st.q_sum += v;
                        self.locked_inc();
                        st.lock_ops += 1;
                        self.queue.task_done().unwrap();
                        if i.is_multiple_of(100) {
                            thread::sleep(MS);
                        }
                    }
                    Ok(None) => {
                        self.queue.task_done().unwrap();
                        break;
                    }
                    Err(SyncError::Empty) => gets = 0, // drain cbuf below
                    Err(e) => panic!("unexpected {e}"),
                }
                if gets.is_multiple_of(32) {
                    self.cond.acquire(true, None, NO).unwrap();
                    self.pop_cbuf(&mut st);
                    self.cond.release().unwrap();
                }
            }
            // Drain the condition-guarded buffer until every producer is done.
            self.cond.acquire(true, None, NO).unwrap();
            loop {
                let more = || {
                    !self.cbuf.lock().is_empty() || self.producers_done.load(SeqCst) == PRODUCERS
                };
                assert!(self.cond.wait_for(more, None, NO).unwrap());
                if self.cbuf.lock().is_empty() {
                    break;
                }
                self.pop_cbuf(&mut st);
            }
            self.cond.release().unwrap();
            self.barrier
                .wait(Some(Duration::from_secs(20)), NO)
                .unwrap();
            st
        }
    }

    #[test]
    fn stress_mixed_primitives() {
        guarded(40, || {
            let sh = Arc::new(Shared {
                lock: Lock::new(),
                counter: AtomicU64::new(0),
                rlock: RLock::new(),
                rcounter: AtomicU64::new(0),
                queue: Queue::new(16),
                cond: Condition::new(CondLock::Lock(Arc::new(Lock::new()))),
                cbuf: Mutex::new(VecDeque::new()),
                producers_done: AtomicU64::new(0),
                sem: Semaphore::bounded(3).unwrap(),
                inside: AtomicUsize::new(0),
                max_inside: AtomicUsize::new(0),
                start: Event::new(),
                barrier: Barrier::new(PRODUCERS as usize + CONSUMERS, None),
                deadline: Mutex::new(None),
            });
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|p| {
                    let sh = sh.clone();
                    thread::spawn(move || sh.producer(p))
                })
                .collect();
            let consumers: Vec<_> = (0..CONSUMERS)
                .map(|_| {
                    let sh = sh.clone();
                    thread::spawn(move || sh.consumer())
                })
                .collect();
            *sh.deadline.lock() = Some(Instant::now() + Duration::from_millis(1500));
            sh.start.set();
            let (mut prod, mut cons) = (Stats::default(), Stats::default());
            for h in producers {
                prod.add(&h.join().unwrap());
            }
            for h in consumers {
                cons.add(&h.join().unwrap());
            }
            sh.queue.join(NO).unwrap();
            assert!(prod.q_n > 1000, "too little work done: {prod:?}");
            assert_eq!((cons.q_n, cons.q_sum), (prod.q_n, prod.q_sum));
            assert_eq!((cons.c_n, cons.c_sum), (prod.c_n, prod.c_sum));
            assert_eq!(sh.counter.load(SeqCst), prod.lock_ops + cons.lock_ops);
            assert_eq!(sh.rcounter.load(SeqCst), prod.rlock_ops);
            assert!(sh.max_inside.load(SeqCst) <= 3);
            assert_eq!(sh.sem.value(), 3);
            assert!(sh.queue.empty() && sh.cbuf.lock().is_empty());
            assert!(!sh.lock.locked() && sh.rlock.owner().is_none());
            assert_eq!(sh.queue.unfinished_tasks(), 0);
        });
    }
}
