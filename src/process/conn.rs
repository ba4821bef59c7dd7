//! `process.Pipe(duplex=True)`: two connection objects over a socket pair (duplex) or a pipe
//! (one-way: the first end reads, the second writes), with `send recv poll close fileno`.
//!
//! Messages are wire frames. Descriptors are non-blocking and every wait is a `poll` of at most
//! one slice without the GIL, so Ctrl-C interrupts a `recv` and two threads never deadlock on
//! the GIL. A reader takes exactly the bytes of one frame (never more), so nothing of a later
//! message is ever buffered in a process that may fork. A frame that stops in the middle
//! because its writer died is reported as `OSError: got end of file during message` (what
//! CPython says when the stream ends there) even while this process itself still holds the
//! writing end, which is where CPython would hang: the header names the writer's pid.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use super::wire::{self, FrameBuf, WireError};
use super::{check_interrupt, SLICE};
use crate::exceptions::{ExcKind, ExcObj};
use crate::value::*;
use crate::vm::Vm;

/// A lock for one process's threads that a forked child never finds held by a thread that
/// does not exist there: the holder is recorded as (pid, tid), and a holder from another pid
/// (the parent, before the fork) counts as gone. Waiting sleeps 1 ms at a time without the GIL.
#[derive(Default)]
pub struct OwnerLock {
    holder: AtomicU64,
}

pub struct OwnerGuard<'a> {
    lock: &'a OwnerLock,
}

impl Drop for OwnerGuard<'_> {
    fn drop(&mut self) {
        self.lock.holder.store(0, Ordering::Release);
    }
}

fn me() -> u64 {
    ((std::process::id() as u64) << 32) | nix::unistd::gettid().as_raw() as u32 as u64
}

impl OwnerLock {
    pub const fn new() -> OwnerLock {
        OwnerLock {
            holder: AtomicU64::new(0),
        }
    }
    pub fn try_lock(&self) -> Option<OwnerGuard<'_>> {
        let me = me();
        let cur = self.holder.load(Ordering::Acquire);
        let free = cur == 0 || (cur >> 32) as u32 != std::process::id();
        if free
            && self
                .holder
                .compare_exchange(cur, me, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            return Some(OwnerGuard { lock: self });
        }
        None
    }
    /// Take the lock, waiting without the GIL (Ctrl-C: KeyboardInterrupt).
    pub fn lock(&self, vm: &mut Vm) -> PResult<OwnerGuard<'_>> {
        loop {
            if let Some(g) = self.try_lock() {
                return Ok(g);
            }
            vm.blocking(|| std::thread::sleep(Duration::from_millis(1)));
            check_interrupt(vm)?;
        }
    }
}

pub struct Connection {
    fd: RwLock<Option<Arc<OwnedFd>>>,
    readable: bool,
    writable: bool,
    rlock: OwnerLock,
    wlock: OwnerLock,
}

fn closed<T>() -> PResult<T> {
    Err(ExcObj::new(ExcKind::OSError, "handle is closed"))
}

fn os_err(e: std::io::Error) -> Arc<ExcObj> {
    ExcObj::os_error(&e, None)
}

fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let fl =
        fcntl(fd, FcntlArg::F_GETFL).map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
    let fl = OFlag::from_bits_truncate(fl) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(fl)).map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
    Ok(())
}

/// `process.Pipe(duplex)`: (first, second) ends.
pub fn pipe(duplex: bool) -> std::io::Result<(Connection, Connection)> {
    let (a, b, ra, wa, rb, wb) = if duplex {
        let (a, b) = super::sys::socketpair()?;
        (a, b, true, true, true, true)
    } else {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
        (r, w, true, false, false, true)
    };
    set_nonblocking(&a)?;
    set_nonblocking(&b)?;
    let mk = |fd, readable, writable| Connection {
        fd: RwLock::new(Some(Arc::new(fd))),
        readable,
        writable,
        rlock: OwnerLock::new(),
        wlock: OwnerLock::new(),
    };
    Ok((mk(a, ra, wa), mk(b, rb, wb)))
}

enum Got {
    Data(usize),
    WouldBlock,
    Eof,
}

/// read(2) on a borrowed descriptor without taking ownership.
fn raw_read(fd: &OwnedFd, buf: &mut [u8]) -> std::io::Result<Got> {
    match nix::unistd::read(fd, buf) {
        Ok(0) => Ok(Got::Eof),
        Ok(n) => Ok(Got::Data(n)),
        Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => Ok(Got::WouldBlock),
        Err(e) => Err(std::io::Error::from_raw_os_error(e as i32)),
    }
}

fn raw_write(fd: &OwnedFd, data: &[u8]) -> std::io::Result<Option<usize>> {
    match nix::unistd::write(fd, data) {
        Ok(n) => Ok(Some(n)),
        Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => Ok(None),
        Err(e) => Err(std::io::Error::from_raw_os_error(e as i32)),
    }
}

/// Wait until `fd` is ready for `events` or `slice` passes (without the GIL).
fn wait_fd(vm: &mut Vm, fd: &OwnedFd, events: i16, slice: Duration) -> PResult<i16> {
    let raw = fd.as_raw_fd();
    let r = vm
        .blocking(|| super::sys::poll(&[(raw, events)], slice))
        .map_err(os_err)?;
    Ok(r[0])
}

/// Read one whole frame from a non-blocking descriptor: Ok(None) at a clean end of stream
/// (before any byte of a frame).
pub fn read_frame(vm: &mut Vm, fd: &OwnedFd) -> PResult<Option<Value>> {
    let mut fb = FrameBuf::new();
    let mut buf = vec![0u8; wire::HEADER];
    let mut idle_since = Instant::now();
    loop {
        let want = fb.wanted().map_err(|e| e.to_exc())?;
        if want == 0 {
            return fb.next_frame().map_err(|e| e.to_exc());
        }
        let chunk = want.min(1 << 20);
        if buf.len() < chunk {
            buf.resize(chunk, 0);
        }
        match raw_read(fd, &mut buf[..chunk]).map_err(os_err)? {
            Got::Data(n) => {
                fb.feed(&buf[..n]);
                idle_since = Instant::now();
            }
            Got::Eof => {
                return match fb.at_eof() {
                    Ok(()) => Ok(None),
                    Err(e) => Err(e.to_exc()),
                };
            }
            Got::WouldBlock => {
                wait_fd(vm, fd, libc::POLLIN, SLICE)?;
                check_interrupt(vm)?;
                // Inside a frame whose writer has died, nothing more will come.
                if idle_since.elapsed() >= SLICE {
                    if let Ok(Some((_, pid))) = fb.header() {
                        if pid != std::process::id() && super::shm::pid_dead(pid) {
                            // Take what is left (the kernel may still hold some), then stop.
                            if let Ok(Got::Data(n)) = raw_read(fd, &mut buf[..chunk]) {
                                fb.feed(&buf[..n]);
                                continue;
                            }
                            return Err(WireError::Truncated.to_exc());
                        }
                    }
                    idle_since = Instant::now();
                }
            }
        }
    }
}

/// Write all of `data` to a non-blocking descriptor, waiting without the GIL when it is full.
pub fn write_all(vm: &mut Vm, fd: &OwnedFd, data: &[u8]) -> PResult<()> {
    let mut off = 0;
    while off < data.len() {
        match raw_write(fd, &data[off..]).map_err(os_err)? {
            Some(n) => off += n,
            None => {
                wait_fd(vm, fd, libc::POLLOUT, SLICE)?;
                check_interrupt(vm)?;
            }
        }
    }
    Ok(())
}

impl Connection {
    fn fd(&self) -> PResult<Arc<OwnedFd>> {
        match &*self.fd.read() {
            Some(f) => Ok(f.clone()),
            None => closed(),
        }
    }

    pub fn send(&self, vm: &mut Vm, v: &Value) -> PResult<()> {
        let fd = self.fd()?;
        if !self.writable {
            return Err(ExcObj::new(ExcKind::OSError, "connection is read-only"));
        }
        let frame = wire::encode_frame(v, std::process::id(), super::max_depth(vm))
            .map_err(|e| e.to_exc())?;
        let _g = match self.wlock.try_lock() {
            Some(g) => g,
            None => self.wlock.lock(vm)?,
        };
        write_all(vm, &fd, &frame)
    }

    pub fn recv(&self, vm: &mut Vm) -> PResult<Value> {
        let fd = self.fd()?;
        if !self.readable {
            return Err(ExcObj::new(ExcKind::OSError, "connection is write-only"));
        }
        let _g = match self.rlock.try_lock() {
            Some(g) => g,
            None => self.rlock.lock(vm)?,
        };
        match read_frame(vm, &fd)? {
            Some(v) => Ok(v),
            None => Err(ExcObj::with_args(ExcKind::EOFError, vec![])),
        }
    }

    /// `poll(timeout=0.0)`: is there something to receive (or the end of the stream)?
    /// `timeout` None: wait as long as it takes.
    pub fn poll(&self, vm: &mut Vm, timeout: Option<f64>) -> PResult<bool> {
        let fd = self.fd()?;
        if !self.readable {
            return Err(ExcObj::new(ExcKind::OSError, "connection is write-only"));
        }
        // Not `clamp`: a NaN timeout must become 0, never reach `from_secs_f64`.
        #[allow(clippy::manual_clamp)]
        let deadline =
            timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.max(0.0).min(1e9)));
        loop {
            let slice = match deadline {
                None => SLICE,
                Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
            };
            let raw = fd.as_raw_fd();
            let r = if slice.is_zero() {
                super::sys::poll(&[(raw, libc::POLLIN)], Duration::ZERO).map_err(os_err)?[0]
            } else {
                wait_fd(vm, &fd, libc::POLLIN, slice)?
            };
            if r != 0 {
                return Ok(true);
            }
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    return Ok(false);
                }
            }
            check_interrupt(vm)?;
        }
    }

    pub fn close(&self) {
        *self.fd.write() = None;
    }

    pub fn closed(&self) -> bool {
        self.fd.read().is_none()
    }

    pub fn fileno(&self) -> PResult<i64> {
        Ok(self.fd()?.as_raw_fd() as i64)
    }

    pub fn readable(&self) -> bool {
        self.readable
    }

    pub fn writable(&self) -> bool {
        self.writable
    }
}
