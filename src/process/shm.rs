//! Process-shared synchronisation and storage in anonymous shared memory: the state behind
//! `process.Lock`, `RLock`, `Semaphore`, `Event`, `Value`, `Array` and `Queue`.
//!
//! Every object lives in its own [`SharedMem`] mapping, so it is shared with every process
//! forked after its creation (and with every thread). Waiting is a Linux futex on a word of the
//! mapping; no wait here is ever longer than the slice the caller passes, so that the Toy
//! wrappers can wait in slices without the GIL and look for Ctrl-C between them. Nothing here
//! knows about Toy values or the GIL.
//!
//! The queue is a byte ring in shared memory guarded by an internal mutex that survives the
//! death of its holder: a waiter that finds the lock held for a long time by a process that
//! no longer exists takes it over. The ring is updated so that it is consistent after every
//! single store (the item bytes first, then one word with the read position and the bytes in
//! use), so a process killed while putting or getting loses at most its own item.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::sys::{futex_wait, futex_wake, SharedMem};

fn my_pid() -> u32 {
    std::process::id()
}

fn my_tid() -> u32 {
    nix::unistd::gettid().as_raw() as u32
}

/// Is process `pid` gone (or a zombie that will never run again)?
pub fn pid_dead(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None) {
        Err(nix::errno::Errno::ESRCH) => true,
        _ => match std::fs::read_to_string(format!("/proc/{}/stat", pid)) {
            Ok(s) => match s.rfind(')') {
                Some(i) => matches!(s[i + 1..].trim_start().chars().next(), Some('Z' | 'X')),
                None => false,
            },
            Err(_) => true,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Counting semaphore (also the binary semaphore behind Lock and RLock)
// ---------------------------------------------------------------------------------------------

/// A semaphore: `value` at `off`, the number of sleepers at `off + 4`.
#[derive(Clone)]
pub struct Sem {
    mem: Arc<SharedMem>,
    off: usize,
}

impl Sem {
    fn value(&self) -> &AtomicU32 {
        self.mem.u32_at(self.off)
    }
    fn sleepers(&self) -> &AtomicU32 {
        self.mem.u32_at(self.off + 4)
    }
    pub fn get(&self) -> u32 {
        self.value().load(Ordering::SeqCst)
    }
    pub fn try_acquire(&self) -> bool {
        let v = self.value();
        let mut cur = v.load(Ordering::Relaxed);
        while cur > 0 {
            match v.compare_exchange_weak(cur, cur - 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(x) => cur = x,
            }
        }
        false
    }
    /// Try to take a permit, sleeping at most `slice` if none is free.
    pub fn acquire_slice(&self, slice: Duration) -> bool {
        if self.try_acquire() {
            return true;
        }
        self.sleepers().fetch_add(1, Ordering::SeqCst);
        if self.value().load(Ordering::SeqCst) == 0 {
            futex_wait(self.value(), 0, slice);
        }
        self.sleepers().fetch_sub(1, Ordering::SeqCst);
        self.try_acquire()
    }
    /// Give a permit back; `max`: refuse (false) if the value would exceed it.
    pub fn release(&self, max: Option<u32>) -> bool {
        let v = self.value();
        let mut cur = v.load(Ordering::Relaxed);
        loop {
            if let Some(m) = max {
                if cur >= m {
                    return false;
                }
            }
            if cur == u32::MAX {
                return false;
            }
            match v.compare_exchange_weak(cur, cur + 1, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(x) => cur = x,
            }
        }
        if self.sleepers().load(Ordering::SeqCst) > 0 {
            futex_wake(self.value(), 1);
        }
        true
    }
}

/// Layout of the lock objects (one mapping each): the semaphore, the owner pid and thread
/// (for RLock and for repr), the recursion count.
const L_SEM: usize = 0;
const L_OWNER_PID: usize = 8;
const L_OWNER_TID: usize = 12;
const L_COUNT: usize = 16;
/// Bytes used by a lock at the start of a mapping (Value and Array keep their cells after it).
pub const LOCK_BYTES: usize = 64;

/// A process-shared lock: `Lock` (binary semaphore, anyone may release) or `RLock` (owned by
/// one thread of one process, re-entrant).
#[derive(Clone)]
pub struct ShLock {
    mem: Arc<SharedMem>,
    base: usize,
    pub recursive: bool,
}

pub enum Owner {
    Nobody,
    /// This thread of this process, with the recursion count.
    Me(u32),
    OtherThread,
    OtherProcess,
}

impl ShLock {
    pub fn new(recursive: bool) -> std::io::Result<ShLock> {
        let mem = Arc::new(SharedMem::new(LOCK_BYTES, false)?);
        Ok(ShLock::in_mem(mem, 0, recursive))
    }
    /// A lock at `base` of an existing (zeroed) mapping.
    pub fn in_mem(mem: Arc<SharedMem>, base: usize, recursive: bool) -> ShLock {
        let l = ShLock {
            mem,
            base,
            recursive,
        };
        l.sem().value().store(1, Ordering::SeqCst);
        l
    }
    fn sem(&self) -> Sem {
        Sem {
            mem: self.mem.clone(),
            off: self.base + L_SEM,
        }
    }
    fn owner_pid(&self) -> &AtomicU32 {
        self.mem.u32_at(self.base + L_OWNER_PID)
    }
    fn owner_tid(&self) -> &AtomicU32 {
        self.mem.u32_at(self.base + L_OWNER_TID)
    }
    fn count(&self) -> &AtomicU32 {
        self.mem.u32_at(self.base + L_COUNT)
    }
    fn mine(&self) -> bool {
        self.owner_tid().load(Ordering::SeqCst) == my_tid()
            && self.owner_pid().load(Ordering::SeqCst) == my_pid()
            && self.count().load(Ordering::SeqCst) > 0
    }
    fn took(&self) {
        self.owner_pid().store(my_pid(), Ordering::SeqCst);
        self.owner_tid().store(my_tid(), Ordering::SeqCst);
        self.count().store(1, Ordering::SeqCst);
    }
    /// Without waiting: Some(true) taken, Some(false) busy; re-entry of an RLock counts.
    pub fn try_acquire(&self) -> bool {
        if self.recursive && self.mine() {
            self.count().fetch_add(1, Ordering::SeqCst);
            return true;
        }
        if self.sem().try_acquire() {
            self.took();
            return true;
        }
        false
    }
    /// Try, sleeping at most `slice`.
    pub fn acquire_slice(&self, slice: Duration) -> bool {
        if self.try_acquire() {
            return true;
        }
        if self.sem().acquire_slice(slice) {
            self.took();
            return true;
        }
        false
    }
    /// Err: the message of the error to raise (Lock: ValueError, RLock: AssertionError).
    pub fn release(&self) -> Result<(), &'static str> {
        if self.recursive {
            if !self.mine() {
                return Err("attempt to release recursive lock not owned by thread");
            }
            if self.count().fetch_sub(1, Ordering::SeqCst) > 1 {
                return Ok(());
            }
            self.owner_tid().store(0, Ordering::SeqCst);
            self.owner_pid().store(0, Ordering::SeqCst);
            self.sem().release(Some(1));
            return Ok(());
        }
        self.count().store(0, Ordering::SeqCst);
        if self.sem().release(Some(1)) {
            Ok(())
        } else {
            Err("semaphore or lock released too many times")
        }
    }
    pub fn locked(&self) -> bool {
        self.sem().get() == 0
    }
    pub fn owner(&self) -> Owner {
        if !self.locked() {
            return Owner::Nobody;
        }
        if self.owner_pid().load(Ordering::SeqCst) == my_pid()
            && self.count().load(Ordering::SeqCst) > 0
        {
            if self.owner_tid().load(Ordering::SeqCst) == my_tid() {
                return Owner::Me(self.count().load(Ordering::SeqCst));
            }
            return Owner::OtherThread;
        }
        Owner::OtherProcess
    }
    /// The recursion count as a repr shows it (0 when free).
    pub fn depth(&self) -> u32 {
        if self.locked() {
            self.count().load(Ordering::SeqCst)
        } else {
            0
        }
    }
}

/// A process-shared counting semaphore.
#[derive(Clone)]
pub struct ShSemaphore {
    sem: Sem,
}

impl ShSemaphore {
    pub fn new(value: u32) -> std::io::Result<ShSemaphore> {
        let mem = Arc::new(SharedMem::new(16, false)?);
        let sem = Sem { mem, off: 0 };
        sem.value().store(value, Ordering::SeqCst);
        Ok(ShSemaphore { sem })
    }
    pub fn try_acquire(&self) -> bool {
        self.sem.try_acquire()
    }
    pub fn acquire_slice(&self, slice: Duration) -> bool {
        self.sem.acquire_slice(slice)
    }
    pub fn release(&self) -> bool {
        self.sem.release(None)
    }
    pub fn value(&self) -> u32 {
        self.sem.get()
    }
}

/// A process-shared event flag.
#[derive(Clone)]
pub struct ShEvent {
    mem: Arc<SharedMem>,
}

impl ShEvent {
    pub fn new() -> std::io::Result<ShEvent> {
        Ok(ShEvent {
            mem: Arc::new(SharedMem::new(8, false)?),
        })
    }
    fn flag(&self) -> &AtomicU32 {
        self.mem.u32_at(0)
    }
    pub fn is_set(&self) -> bool {
        self.flag().load(Ordering::SeqCst) != 0
    }
    pub fn set(&self) {
        self.flag().store(1, Ordering::SeqCst);
        futex_wake(self.flag(), i32::MAX);
    }
    pub fn clear(&self) {
        self.flag().store(0, Ordering::SeqCst);
    }
    /// Sleep at most `slice` unless set; returns whether it is set.
    pub fn wait_slice(&self, slice: Duration) -> bool {
        if !self.is_set() {
            futex_wait(self.flag(), 0, slice);
        }
        self.is_set()
    }
}

// ---------------------------------------------------------------------------------------------
// Shared cells (Value, Array)
// ---------------------------------------------------------------------------------------------

/// `n` 64-bit cells after an RLock, in one mapping: the storage of `Value` and `Array`.
pub struct Cells {
    mem: Arc<SharedMem>,
    pub n: usize,
}

impl Cells {
    pub fn new(n: usize) -> std::io::Result<(Cells, ShLock)> {
        let bytes = n
            .checked_mul(8)
            .and_then(|b| b.checked_add(LOCK_BYTES))
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENOMEM))?;
        let mem = Arc::new(SharedMem::new(bytes, n > 4096)?);
        let lock = ShLock::in_mem(mem.clone(), 0, true);
        Ok((Cells { mem, n }, lock))
    }
    pub fn get(&self, i: usize) -> u64 {
        assert!(i < self.n);
        self.mem.u64_at(LOCK_BYTES + i * 8).load(Ordering::SeqCst)
    }
    pub fn set(&self, i: usize, v: u64) {
        assert!(i < self.n);
        self.mem
            .u64_at(LOCK_BYTES + i * 8)
            .store(v, Ordering::SeqCst)
    }
    /// Add `d` to cell `i` atomically; returns the old value.
    pub fn fetch_add(&self, i: usize, d: u64) -> u64 {
        assert!(i < self.n);
        self.mem
            .u64_at(LOCK_BYTES + i * 8)
            .fetch_add(d, Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------------------------
// Robust internal mutex
// ---------------------------------------------------------------------------------------------

/// A mutex for short critical sections of this module: word at `off` (0 free, 1 locked,
/// 2 locked with sleepers), holder pid at `off + 4`. A holder that died is detected by
/// waiters after it has held the lock for a while, and the lock is taken over.
#[derive(Clone, Copy)]
struct RobustMutex<'a> {
    mem: &'a SharedMem,
    off: usize,
}

impl<'a> RobustMutex<'a> {
    fn word(&self) -> &AtomicU32 {
        self.mem.u32_at(self.off)
    }
    fn holder(&self) -> &AtomicU32 {
        self.mem.u32_at(self.off + 4)
    }
    fn lock(self) -> RobustGuard<'a> {
        let w = self.word();
        if w.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            let mut spins = 0;
            let mut since = Instant::now();
            let mut seen_holder = self.holder().load(Ordering::SeqCst);
            loop {
                if spins < 100 {
                    spins += 1;
                    std::hint::spin_loop();
                    if w.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        break;
                    }
                    continue;
                }
                if w.swap(2, Ordering::Acquire) == 0 {
                    break;
                }
                futex_wait(w, 2, Duration::from_millis(20));
                let h = self.holder().load(Ordering::SeqCst);
                if h != seen_holder {
                    seen_holder = h;
                    since = Instant::now();
                } else if since.elapsed() > Duration::from_millis(100) && pid_dead(h) {
                    // The holder died inside its critical section: take the lock over (the
                    // holder field arbitrates between several waiters noticing at once).
                    if self
                        .holder()
                        .compare_exchange(h, my_pid(), Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
                    {
                        w.store(2, Ordering::SeqCst);
                        return RobustGuard { m: self };
                    }
                    since = Instant::now();
                }
            }
        }
        self.holder().store(my_pid(), Ordering::SeqCst);
        RobustGuard { m: self }
    }
}

struct RobustGuard<'a> {
    m: RobustMutex<'a>,
}

impl Drop for RobustGuard<'_> {
    fn drop(&mut self) {
        self.m.holder().store(0, Ordering::SeqCst);
        if self.m.word().swap(0, Ordering::Release) == 2 {
            futex_wake(self.m.word(), 1);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Queue
// ---------------------------------------------------------------------------------------------

/// Header layout of a queue mapping (the ring starts at `Q_DATA`).
const Q_LOCK: usize = 0; // + holder at 4
const Q_NOT_EMPTY: usize = 8; // sequence word
const Q_GET_SLEEPERS: usize = 12;
const Q_NOT_FULL: usize = 16;
const Q_PUT_SLEEPERS: usize = 20;
const Q_POS: usize = 24; // u64: read position (low 32 bits) | bytes in use (high 32 bits)
const Q_COUNT: usize = 32; // u64: items (for qsize/full; emptiness is decided by bytes in use)
const Q_DATA: usize = 4096;

/// The default ring: 64 MiB of address space, of which only what a backlog touches uses
/// memory (the ring restarts at its beginning whenever it becomes empty).
pub const DEFAULT_RING: usize = 64 << 20;

pub enum PutError {
    /// No room now; the not-full sequence number seen (wait for it to change).
    Full(u32),
    /// The item can never fit.
    TooBig,
}

pub struct ShQueue {
    mem: Arc<SharedMem>,
    cap: usize,
    /// 0: unbounded.
    pub maxsize: u64,
}

impl ShQueue {
    pub fn new(maxsize: u64, ring: usize) -> std::io::Result<ShQueue> {
        let ring = ring.clamp(4096, 1 << 31);
        let mem = Arc::new(SharedMem::new(Q_DATA + ring, true)?);
        let cap = mem.len() - Q_DATA;
        Ok(ShQueue { mem, cap, maxsize })
    }
    fn mutex(&self) -> RobustMutex<'_> {
        RobustMutex {
            mem: &self.mem,
            off: Q_LOCK,
        }
    }
    fn pos(&self) -> (usize, usize) {
        let p = self.mem.u64_at(Q_POS).load(Ordering::SeqCst);
        ((p & 0xffff_ffff) as usize, (p >> 32) as usize)
    }
    fn set_pos(&self, head: usize, used: usize) {
        self.mem
            .u64_at(Q_POS)
            .store((head as u64) | ((used as u64) << 32), Ordering::SeqCst);
    }
    fn ring_write(&self, at: usize, data: &[u8]) {
        let at = at % self.cap;
        let first = data.len().min(self.cap - at);
        self.mem.write(Q_DATA + at, &data[..first]);
        if first < data.len() {
            self.mem.write(Q_DATA, &data[first..]);
        }
    }
    fn ring_read(&self, at: usize, buf: &mut [u8]) {
        let at = at % self.cap;
        let first = buf.len().min(self.cap - at);
        self.mem.read(Q_DATA + at, &mut buf[..first]);
        if first < buf.len() {
            self.mem.read(Q_DATA, &mut buf[first..]);
        }
    }
    pub fn qsize(&self) -> u64 {
        self.mem.u64_at(Q_COUNT).load(Ordering::SeqCst)
    }
    pub fn empty(&self) -> bool {
        self.pos().1 == 0
    }
    pub fn full(&self) -> bool {
        self.maxsize > 0 && self.qsize() >= self.maxsize
    }
    /// Put one item without waiting.
    pub fn try_put(&self, data: &[u8]) -> Result<(), PutError> {
        let need = data.len() + 4;
        if need > self.cap {
            return Err(PutError::TooBig);
        }
        {
            let _g = self.mutex().lock();
            let (head, used) = self.pos();
            let count = self.qsize();
            if (self.maxsize > 0 && count >= self.maxsize) || used + need > self.cap {
                return Err(PutError::Full(
                    self.mem.u32_at(Q_NOT_FULL).load(Ordering::SeqCst),
                ));
            }
            let at = head + used;
            self.ring_write(at, &(data.len() as u32).to_le_bytes());
            self.ring_write(at + 4, data);
            // Commit: one store makes the item visible.
            self.set_pos(head, used + need);
            self.mem.u64_at(Q_COUNT).fetch_add(1, Ordering::SeqCst);
            self.mem.u32_at(Q_NOT_EMPTY).fetch_add(1, Ordering::SeqCst);
        }
        if self.mem.u32_at(Q_GET_SLEEPERS).load(Ordering::SeqCst) > 0 {
            futex_wake(self.mem.u32_at(Q_NOT_EMPTY), 1);
        }
        Ok(())
    }
    /// Take one item without waiting: Ok(bytes) or Err(not-empty sequence number seen).
    pub fn try_get(&self) -> Result<Vec<u8>, u32> {
        let item;
        {
            let _g = self.mutex().lock();
            let (head, used) = self.pos();
            if used == 0 {
                return Err(self.mem.u32_at(Q_NOT_EMPTY).load(Ordering::SeqCst));
            }
            let mut len = [0u8; 4];
            self.ring_read(head, &mut len);
            let n = (u32::from_le_bytes(len) as usize).min(used.saturating_sub(4));
            let mut buf = vec![0u8; n];
            self.ring_read(head + 4, &mut buf);
            item = buf;
            let left = used - 4 - n;
            // Commit; an empty ring starts again at its beginning (keeps the touched pages few).
            if left == 0 {
                self.set_pos(0, 0);
            } else {
                self.set_pos((head + 4 + n) % self.cap, left);
            }
            let c = self.mem.u64_at(Q_COUNT);
            let _ = c.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |x| {
                Some(x.saturating_sub(1))
            });
            self.mem.u32_at(Q_NOT_FULL).fetch_add(1, Ordering::SeqCst);
        }
        if self.mem.u32_at(Q_PUT_SLEEPERS).load(Ordering::SeqCst) > 0 {
            futex_wake(self.mem.u32_at(Q_NOT_FULL), 1);
        }
        Ok(item)
    }
    /// Sleep at most `slice` unless the not-empty sequence moves on from `seen`.
    pub fn wait_not_empty(&self, seen: u32, slice: Duration) {
        let s = self.mem.u32_at(Q_GET_SLEEPERS);
        s.fetch_add(1, Ordering::SeqCst);
        futex_wait(self.mem.u32_at(Q_NOT_EMPTY), seen, slice);
        s.fetch_sub(1, Ordering::SeqCst);
    }
    /// Sleep at most `slice` unless the not-full sequence moves on from `seen`.
    pub fn wait_not_full(&self, seen: u32, slice: Duration) {
        let s = self.mem.u32_at(Q_PUT_SLEEPERS);
        s.fetch_add(1, Ordering::SeqCst);
        futex_wait(self.mem.u32_at(Q_NOT_FULL), seen, slice);
        s.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::super::sys::{exit_now, fork, Forked};
    use super::*;

    fn wait_child(pid: i32) -> i32 {
        match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap() {
            nix::sys::wait::WaitStatus::Exited(_, c) => c,
            other => panic!("{:?}", other),
        }
    }

    #[test]
    fn lock_is_exclusive_across_processes() {
        let lock = ShLock::new(false).unwrap();
        let (cells, _) = Cells::new(1).unwrap();
        let mut kids = Vec::new();
        for _ in 0..3 {
            match fork().unwrap() {
                Forked::Child => {
                    for _ in 0..2000 {
                        while !lock.acquire_slice(Duration::from_millis(50)) {}
                        let v = cells.get(0);
                        std::hint::spin_loop();
                        cells.set(0, v + 1);
                        lock.release().unwrap();
                    }
                    exit_now(0);
                }
                Forked::Parent(p) => kids.push(p),
            }
        }
        for p in kids {
            assert_eq!(wait_child(p), 0);
        }
        assert_eq!(cells.get(0), 6000);
        assert!(lock.release().is_err());
    }

    #[test]
    fn rlock_reenters_and_belongs_to_its_thread() {
        let l = ShLock::new(true).unwrap();
        assert!(l.try_acquire());
        assert!(l.try_acquire());
        assert_eq!(l.depth(), 2);
        let l2 = l.clone();
        let other = std::thread::spawn(move || (l2.try_acquire(), l2.release().is_err()))
            .join()
            .unwrap();
        assert_eq!(other, (false, true));
        l.release().unwrap();
        l.release().unwrap();
        assert!(l.release().is_err());
        assert!(!l.locked());
    }

    #[test]
    fn semaphore_and_event_wake_across_processes() {
        let s = ShSemaphore::new(0).unwrap();
        let e = ShEvent::new().unwrap();
        match fork().unwrap() {
            Forked::Child => {
                while !e.wait_slice(Duration::from_millis(50)) {}
                s.release();
                exit_now(0);
            }
            Forked::Parent(p) => {
                assert!(!s.acquire_slice(Duration::from_millis(10)));
                e.set();
                let t = Instant::now();
                while !s.acquire_slice(Duration::from_millis(50)) {
                    assert!(t.elapsed() < Duration::from_secs(10));
                }
                assert_eq!(wait_child(p), 0);
            }
        }
    }

    #[test]
    fn queue_many_producers_and_consumers() {
        let q = ShQueue::new(0, 8192).unwrap();
        let (sum, _) = Cells::new(1).unwrap();
        let lock = ShLock::new(false).unwrap();
        let mut kids = Vec::new();
        // Two producers of 500 items of varying sizes (the small ring wraps and fills).
        for k in 0..2u64 {
            match fork().unwrap() {
                Forked::Child => {
                    for i in 0..500u64 {
                        let v = k * 1000 + i;
                        let mut data = v.to_le_bytes().to_vec();
                        data.resize(8 + (i as usize % 300), 7);
                        loop {
                            match q.try_put(&data) {
                                Ok(()) => break,
                                Err(PutError::Full(seq)) => {
                                    q.wait_not_full(seq, Duration::from_millis(20))
                                }
                                Err(PutError::TooBig) => exit_now(3),
                            }
                        }
                    }
                    exit_now(0);
                }
                Forked::Parent(p) => kids.push(p),
            }
        }
        // Two consumers taking 500 each.
        for _ in 0..2 {
            match fork().unwrap() {
                Forked::Child => {
                    for _ in 0..500 {
                        let item = loop {
                            match q.try_get() {
                                Ok(b) => break b,
                                Err(seq) => q.wait_not_empty(seq, Duration::from_millis(20)),
                            }
                        };
                        let mut a = [0u8; 8];
                        a.copy_from_slice(&item[..8]);
                        let v = u64::from_le_bytes(a);
                        if item.len() != 8 + (v % 1000) as usize % 300 {
                            exit_now(4);
                        }
                        while !lock.acquire_slice(Duration::from_millis(20)) {}
                        sum.set(0, sum.get(0) + v);
                        lock.release().unwrap();
                    }
                    exit_now(0);
                }
                Forked::Parent(p) => kids.push(p),
            }
        }
        for p in kids {
            assert_eq!(wait_child(p), 0);
        }
        let expect: u64 = (0..500).sum::<u64>() + (1000..1500).sum::<u64>();
        assert_eq!(sum.get(0), expect);
        assert!(q.empty());
        assert_eq!(q.qsize(), 0);
        assert!(matches!(q.try_put(&vec![0u8; 9000]), Err(PutError::TooBig)));
    }

    #[test]
    fn bounded_queue_reports_full() {
        let q = ShQueue::new(2, 4096).unwrap();
        assert!(q.try_put(b"a").is_ok());
        assert!(q.try_put(b"b").is_ok());
        assert!(q.full());
        assert!(matches!(q.try_put(b"c"), Err(PutError::Full(_))));
        assert_eq!(q.try_get().unwrap(), b"a");
        assert_eq!(q.qsize(), 1);
    }

    #[test]
    fn queue_lock_held_by_a_dead_process_is_taken_over() {
        let q = ShQueue::new(0, 4096).unwrap();
        match fork().unwrap() {
            Forked::Child => {
                let m = q.mutex();
                let g = m.lock();
                std::mem::forget(g);
                exit_now(0); // dies holding the queue's lock
            }
            Forked::Parent(p) => {
                wait_child(p);
                let t = Instant::now();
                assert!(q.try_put(b"x").is_ok());
                assert!(t.elapsed() < Duration::from_secs(5));
                assert_eq!(q.try_get().unwrap(), b"x");
            }
        }
    }
}
