//! The process module's only `unsafe` code: the few OS calls whose safety the compiler cannot
//! check, each behind a small safe function.
//!
//! - [`fork`], for `fork(2)`.
//! - [`exit_now`]: `_exit(2)` (a forked child must never return into the parent's stack or run
//!   the parent's destructors and exit handlers).
//! - [`SharedMem`]: an anonymous `MAP_SHARED` mapping (zero-filled, inherited by every child
//!   forked after it) with bounds-checked atomic cells and byte copies.
//! - [`futex_wait`] / [`futex_wake`]: the Linux futex on a word of shared memory (not
//!   `FUTEX_PRIVATE`, so that waiters in different processes meet on the same physical page).
//! - [`poll`], [`socketpair`], [`pidfd_open`]: thin wrappers over syscalls that the enabled nix
//!   features do not cover.
//!
//! Everything else in `src/process/` is safe Rust built on these.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Duration;

/// Which side of a fork we are on.
pub enum Forked {
    Parent(i32),
    Child,
}

/// `fork(2)`. The caller must make the child call only what is safe after a fork in a
/// multi-threaded process until it has re-initialised its state (see `Vm::after_fork_child`),
/// and must end the child with [`exit_now`].
pub fn fork() -> io::Result<Forked> {
    // SAFETY: fork is unsafe because the child of a multi-threaded process has only the calling
    // thread, and any lock held by another thread stays held forever. The process module
    // holds its own locks and the interpreter's output lock across the call (so none of them
    // is held by a vanished thread), the VM re-initialises the GIL and the thread registry in
    // the child (`after_fork_child`), and the child never returns into the parent's stack:
    // it runs the Toy function and leaves through `exit_now`.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok(Forked::Parent(child.as_raw())),
        Ok(nix::unistd::ForkResult::Child) => Ok(Forked::Child),
        Err(e) => Err(io::Error::from_raw_os_error(e as i32)),
    }
}

/// End this process at once with `code`, running no destructors and no exit handlers (the
/// caller has flushed what must be flushed).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions; it never returns.
    unsafe { libc::_exit(code) }
}

/// A zero-filled anonymous `MAP_SHARED` mapping: every process forked after its creation sees
/// the same memory. Access is only through atomics or through byte copies whose callers
/// serialise them with a lock living in the mapping itself.
pub struct SharedMem {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value (unmapped once, in Drop); all access
// goes through atomics or bounds-checked copies, so sharing the handle between threads is as
// safe as sharing a `[AtomicU8]`.
unsafe impl Send for SharedMem {}
// SAFETY: see `Send` above.
unsafe impl Sync for SharedMem {}

impl SharedMem {
    /// Map `len` bytes (rounded up to a page). `noreserve`: do not reserve swap for it (large
    /// mappings of which only the touched pages ever use memory, like a queue's ring).
    pub fn new(len: usize, noreserve: bool) -> io::Result<SharedMem> {
        let len = len.max(1).div_ceil(4096) * 4096;
        let mut flags = nix::sys::mman::MapFlags::MAP_SHARED;
        if noreserve {
            flags |= nix::sys::mman::MapFlags::MAP_NORESERVE;
        }
        let nz = std::num::NonZeroUsize::new(len).expect("len > 0");
        // SAFETY: a fresh anonymous mapping at an address the kernel chooses aliases no Rust
        // object; it stays valid until the munmap in Drop.
        let p = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                nz,
                nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
                flags,
            )
        }
        .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
        Ok(SharedMem { ptr: p.cast(), len })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    fn check(&self, off: usize, n: usize, align: usize) {
        assert!(
            off.is_multiple_of(align) && off.checked_add(n).is_some_and(|e| e <= self.len),
            "shared memory access out of bounds ({}+{} of {})",
            off,
            n,
            self.len
        );
    }

    /// The 32-bit atomic at byte offset `off` (4-aligned, in bounds: checked).
    pub fn u32_at(&self, off: usize) -> &AtomicU32 {
        self.check(off, 4, 4);
        // SAFETY: in bounds and aligned (checked above; the mapping is page-aligned), the
        // memory lives as long as `self`, and it is only ever accessed atomically.
        unsafe { &*(self.ptr.as_ptr().add(off) as *const AtomicU32) }
    }

    /// The 64-bit atomic at byte offset `off` (8-aligned, in bounds: checked).
    pub fn u64_at(&self, off: usize) -> &AtomicU64 {
        self.check(off, 8, 8);
        // SAFETY: as in `u32_at`.
        unsafe { &*(self.ptr.as_ptr().add(off) as *const AtomicU64) }
    }

    /// Copy `buf.len()` bytes out of the mapping from `off`. The caller holds the lock that
    /// serialises every writer of that range.
    pub fn read(&self, off: usize, buf: &mut [u8]) {
        self.check(off, buf.len(), 1);
        // SAFETY: source in bounds (checked), destination is a distinct Rust buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr.as_ptr().add(off), buf.as_mut_ptr(), buf.len())
        }
    }

    /// Copy `data` into the mapping at `off`. The caller holds the lock that serialises every
    /// reader and writer of that range.
    pub fn write(&self, off: usize, data: &[u8]) {
        self.check(off, data.len(), 1);
        // SAFETY: destination in bounds (checked), source is a distinct Rust buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(off), data.len())
        }
    }
}

impl Drop for SharedMem {
    fn drop(&mut self) {
        // SAFETY: this mapping was created by `new` with this length and is unmapped only here;
        // no reference into it outlives `self` (all accessors borrow `self`).
        let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), self.len) };
    }
}

/// Sleep until `word` no longer holds `expected`, someone calls [`futex_wake`] on it, or
/// `timeout` passes (spurious wake-ups are possible: callers re-check their condition).
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `word` is a valid, aligned u32 for the duration of the call and `ts` a valid
    // timespec; FUTEX_WAIT only reads them. Errors (EAGAIN, ETIMEDOUT, EINTR) all mean "check
    // again", which every caller does.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
        );
    }
}

/// Wake up to `n` waiters of `word` (in any process).
pub fn futex_wake(word: &AtomicU32, n: i32) {
    // SAFETY: `word` is a valid, aligned u32; FUTEX_WAKE does not access memory through it.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n);
    }
}

/// `poll(2)` on `(fd, events)` pairs for at most `timeout`; returns the `revents` of each.
pub fn poll(fds: &[(RawFd, i16)], timeout: Duration) -> io::Result<Vec<i16>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&(fd, events)| libc::pollfd {
            fd,
            events,
            revents: 0,
        })
        .collect();
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `p` is a valid array of `p.len()` pollfd structs that poll may write to.
    let r = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![0; fds.len()]);
        }
        return Err(e);
    }
    Ok(p.iter().map(|x| x.revents).collect())
}

/// A connected pair of Unix stream sockets (close-on-exec).
pub fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two ints for socketpair to fill.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socketpair succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A pidfd for our child `pid` (readable once the child has exited), or an error on kernels
/// without `pidfd_open` (callers fall back to polling `waitpid`).
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a fresh descriptor (close-on-exec) that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn shared_memory_is_shared_with_a_child() {
        let m = SharedMem::new(64, false).unwrap();
        assert_eq!(m.len(), 4096);
        m.write(8, b"hello");
        match fork().unwrap() {
            Forked::Child => {
                let mut b = [0u8; 5];
                m.read(8, &mut b);
                let ok = &b == b"hello";
                m.u64_at(16)
                    .store(if ok { 42 } else { 1 }, Ordering::SeqCst);
                exit_now(0);
            }
            Forked::Parent(pid) => {
                nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap();
                assert_eq!(m.u64_at(16).load(Ordering::SeqCst), 42);
            }
        }
    }

    #[test]
    #[should_panic]
    fn out_of_bounds_is_refused() {
        let m = SharedMem::new(16, false).unwrap();
        m.u32_at(4096);
    }

    #[test]
    fn futex_times_out_and_wakes() {
        let m = SharedMem::new(16, false).unwrap();
        let t = std::time::Instant::now();
        futex_wait(m.u32_at(0), 0, Duration::from_millis(20));
        assert!(t.elapsed() >= Duration::from_millis(15));
        // A changed value returns at once.
        m.u32_at(0).store(1, Ordering::SeqCst);
        futex_wait(m.u32_at(0), 0, Duration::from_secs(5));
        futex_wake(m.u32_at(0), 1);
    }
}
