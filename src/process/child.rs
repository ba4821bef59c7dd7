//! Forking, the children of this process, and waiting for them.
//!
//! `spawn` forks: the child runs a body (a Toy function, or a `process.map` worker) on its copy
//! of the interpreter, sends `(True, result)` or `(False, exception)` through a pipe as one
//! wire frame, does what the end of a program does, and `_exit`s with 0, 1 or the
//! `sys.exit` code. The parent keeps a [`ProcHandle`].
//!
//! Per-process state lives in `REG`. A forked child inherits it and resets it at once (its own
//! children list is empty, its counter continues, it knows its own name). The forking thread
//! holds `REG`, the fork lock and the output lock across `fork()`, so none of them can be held
//! in the child by a thread that does not exist there.
//!
//! Reaping: a background thread (not a Toy thread; started on demand, gone when there is
//! nothing to reap) calls `waitpid(pid, WNOHANG)` on each unreaped child every 100 ms, so
//! finished children never stay zombies even if nobody joins them. It only ever waits for the
//! pids this module forked, never `-1`, so it cannot steal `subprocess.run`'s children. Join
//! waits with `poll` on the result pipe and a pidfd of the child, in slices without the GIL.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::conn::OwnerLock;
use super::sys::{self, Forked};
use super::wire::{self, FrameBuf};
use super::{check_interrupt, max_depth, SLICE};
use crate::exceptions::{ExcKind, ExcObj};
use crate::value::*;
use crate::vm::Vm;

fn my_pid() -> u32 {
    std::process::id()
}

/// A child process of this process and its exit status once reaped.
pub struct ChildRec {
    pub pid: i32,
    /// The process that forked it (only that one may wait for it).
    pub creator: u32,
    /// Once reaped: the exit code, or −signal.
    status: Mutex<Option<i32>>,
    pidfd: Option<OwnedFd>,
}

impl ChildRec {
    /// The exit status, reaping the child if it has ended (never blocks).
    pub fn try_reap(&self) -> Option<i32> {
        if self.creator != my_pid() {
            return None;
        }
        let mut st = self.status.lock();
        if st.is_none() {
            use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
            match waitpid(
                nix::unistd::Pid::from_raw(self.pid),
                Some(WaitPidFlag::WNOHANG),
            ) {
                Ok(WaitStatus::Exited(_, c)) => *st = Some(c),
                Ok(WaitStatus::Signaled(_, sig, _)) => *st = Some(-(sig as i32)),
                Ok(_) => {}
                // Not our child any more (cannot happen: only this module waits for it).
                Err(nix::errno::Errno::ECHILD) => *st = Some(255),
                Err(_) => {}
            }
        }
        *st
    }
    pub fn reaped(&self) -> bool {
        self.creator != my_pid() || self.status.lock().is_some()
    }
    /// Send `sig` unless the child has been reaped (its pid may belong to someone else then).
    /// Only the process that forked it may (its siblings cannot know whether it was reaped).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        if self.creator != my_pid() {
            return;
        }
        let st = self.status.lock();
        if st.is_none() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), sig);
        }
    }
    /// Sleep at most `slice` or until the child exits (without the GIL).
    fn wait_exit_slice(&self, vm: &mut Vm, slice: Duration) {
        match &self.pidfd {
            Some(fd) => {
                let raw = fd.as_raw_fd();
                let _ = vm.blocking(|| sys::poll(&[(raw, libc::POLLIN)], slice));
            }
            None => vm.blocking(|| std::thread::sleep(slice.min(Duration::from_millis(2)))),
        }
    }
}

/// What a child sent: Ok(result), Err(exception), or None (it ended without a result).
type Message = Option<Result<Value, Arc<ExcObj>>>;

struct ResultState {
    fd: Option<OwnedFd>,
    buf: FrameBuf,
    /// Some once settled.
    msg: Option<Message>,
}

/// The parent's handle of one child.
pub struct ProcHandle {
    pub name: String,
    pub daemon: bool,
    pub rec: Arc<ChildRec>,
    result: Mutex<ResultState>,
}

fn decode_message(v: Value) -> Message {
    if let Value::Tuple(t) = &v {
        if t.items.len() == 2 {
            match (&t.items[0], &t.items[1]) {
                (Value::Bool(B64::True), x) => return Some(Ok(x.clone())),
                (Value::Bool(B64::False), Value::Exc(e)) => return Some(Err(e.clone())),
                _ => {}
            }
        }
    }
    None
}

impl ProcHandle {
    /// Read what has arrived of the result without waiting; true once settled.
    fn poll_result(&self, child_dead: bool) -> bool {
        let mut st = self.result.lock();
        if st.msg.is_some() {
            return true;
        }
        let mut chunk = vec![0u8; 0];
        loop {
            let want = match st.buf.wanted() {
                Ok(w) => w,
                Err(_) => {
                    st.msg = Some(None);
                    break;
                }
            };
            if want == 0 {
                let m = match st.buf.next_frame() {
                    Ok(Some(v)) => decode_message(v),
                    _ => None,
                };
                st.msg = Some(m);
                break;
            }
            let Some(fd) = st.fd.as_ref() else {
                st.msg = Some(None);
                break;
            };
            let n = want.min(1 << 20);
            if chunk.len() < n {
                chunk.resize(n, 0);
            }
            match nix::unistd::read(fd, &mut chunk[..n]) {
                Ok(0) => {
                    st.msg = Some(None);
                    break;
                }
                Ok(k) => st.buf.feed(&chunk[..k]),
                Err(nix::errno::Errno::EINTR) => {}
                Err(nix::errno::Errno::EAGAIN) => {
                    if child_dead {
                        // Everything it wrote is here; an incomplete frame stays incomplete.
                        st.msg = Some(None);
                    }
                    break;
                }
                Err(_) => {
                    st.msg = Some(None);
                    break;
                }
            }
        }
        if st.msg.is_some() {
            st.fd = None;
            st.buf = FrameBuf::new();
            true
        } else {
            false
        }
    }

    fn result_fd(&self) -> Option<i32> {
        self.result.lock().fd.as_ref().map(|f| f.as_raw_fd())
    }

    /// Wait (in slices, without the GIL) until the child's message is settled and then until
    /// it has exited. Ok(false): the deadline passed first.
    fn wait(&self, vm: &mut Vm, deadline: Option<Instant>) -> PResult<bool> {
        loop {
            if self.poll_result(false) {
                break;
            }
            if self.rec.try_reap().is_some() {
                self.poll_result(true);
                break;
            }
            let slice = match deadline {
                None => SLICE,
                Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
            };
            if slice.is_zero() {
                return Ok(false);
            }
            let mut fds = Vec::with_capacity(2);
            if let Some(fd) = self.result_fd() {
                fds.push((fd, libc::POLLIN));
            }
            if let Some(p) = &self.rec.pidfd {
                fds.push((p.as_raw_fd(), libc::POLLIN));
            }
            let poll_slice = if self.rec.pidfd.is_some() {
                slice
            } else {
                slice.min(Duration::from_millis(5))
            };
            let _ = vm.blocking(|| sys::poll(&fds, poll_slice));
            check_interrupt(vm)?;
        }
        loop {
            if self.rec.try_reap().is_some() {
                return Ok(true);
            }
            let slice = match deadline {
                None => SLICE,
                Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
            };
            if slice.is_zero() {
                return Ok(false);
            }
            self.rec.wait_exit_slice(vm, slice);
            check_interrupt(vm)?;
        }
    }

    /// `join(timeout)`: the result, or the child's exception, or ProcessError/TimeoutError.
    pub fn join(&self, vm: &mut Vm, timeout: Option<f64>, timeout_repr: &str) -> PResult<Value> {
        if self.rec.creator != my_pid() {
            return Err(ExcObj::new(
                ExcKind::AssertionError,
                "can only join a child process",
            ));
        }
        let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.clamp(0.0, 1e9)));
        if !self.wait(vm, deadline)? {
            return Err(ExcObj::new(
                ExcKind::TimeoutError,
                format!(
                    "process {} did not finish within {} seconds",
                    self.name, timeout_repr
                ),
            ));
        }
        let code = self.rec.try_reap().unwrap_or(0);
        let msg = self.result.lock().msg.clone().flatten();
        match msg {
            Some(Ok(v)) => Ok(v),
            // A fresh exception object each time (tracebacks accumulate on the object).
            Some(Err(e)) => Err(ExcObj::with_args(e.kind, e.args.clone())),
            None => Err(ExcObj::new(
                ExcKind::ProcessError,
                format!(
                    "process {} exited with code {} without a result",
                    self.name, code
                ),
            )),
        }
    }

    pub fn exitcode(&self) -> Option<i32> {
        self.rec.try_reap()
    }

    pub fn is_alive(&self) -> PResult<bool> {
        if self.rec.creator != my_pid() {
            return Err(ExcObj::new(
                ExcKind::AssertionError,
                "can only test a child process",
            ));
        }
        Ok(self.rec.try_reap().is_none())
    }
}

// ---------------------------------------------------------------------------------------------
// Per-process state
// ---------------------------------------------------------------------------------------------

/// This process's identity when it is a child forked by `spawn`.
#[derive(Clone)]
pub struct SelfInfo {
    pub name: String,
    pub daemon: bool,
}

struct Registry {
    /// The process this state describes (a forked child resets it).
    pid: u32,
    /// Process-N numbering: every `spawn` takes a number; a child continues its parent's.
    counter: u64,
    /// Children not yet reaped (for the reaper and for the end of the program).
    handles: Vec<Arc<ProcHandle>>,
    me: Option<SelfInfo>,
    reaper_running: bool,
}

static REG: Mutex<Registry> = Mutex::new(Registry {
    pid: 0,
    counter: 0,
    handles: Vec::new(),
    me: None,
    reaper_running: false,
});

static FORK_LOCK: OwnerLock = OwnerLock::new();

/// The running process: None for the main process, else its name and daemon flag.
pub fn current() -> Option<SelfInfo> {
    REG.lock().me.clone()
}

fn reaper() {
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let hs: Vec<Arc<ProcHandle>> = {
            let mut reg = REG.lock();
            reg.handles.retain(|h| !h.rec.reaped());
            if reg.handles.is_empty() {
                reg.reaper_running = false;
                return;
            }
            reg.handles.clone()
        };
        for h in hs {
            h.rec.try_reap();
        }
    }
}

/// What a child runs.
pub type Body = Box<dyn FnOnce(&mut Vm) -> PResult<Value>>;

/// Fork a child running `body`; the parent gets its handle at once.
pub fn spawn(
    vm: &mut Vm,
    name: Option<String>,
    daemon: bool,
    body: Body,
) -> PResult<Arc<ProcHandle>> {
    if REG.lock().me.as_ref().is_some_and(|m| m.daemon) {
        return Err(ExcObj::new(
            ExcKind::AssertionError,
            "daemonic processes are not allowed to have children",
        ));
    }
    let os =
        |e: nix::errno::Errno| ExcObj::os_error(&std::io::Error::from_raw_os_error(e as i32), None);
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(os)?;
    {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        fcntl(&r, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(os)?;
        // A larger pipe: most results then fit without the child waiting for the reader.
        let _ = fcntl(&r, FcntlArg::F_SETPIPE_SZ(1 << 20));
    }
    let fork_guard = FORK_LOCK.lock(vm)?;
    vm.before_fork();
    let rt = vm.rt.clone();
    let mut reg = REG.lock();
    if reg.pid != my_pid() {
        // First use in this process (or state inherited from a parent not through spawn).
        reg.pid = my_pid();
        reg.handles.clear();
        reg.reaper_running = false;
    }
    reg.counter += 1;
    let name = name.unwrap_or_else(|| format!("Process-{}", reg.counter));
    let mut out = rt.stdout.lock();
    out.flush();
    match sys::fork() {
        Err(e) => {
            drop(out);
            drop(reg);
            drop(fork_guard);
            Err(ExcObj::os_error(&e, None))
        }
        Ok(Forked::Child) => {
            // Nothing buffered before the fork is ours to print.
            out.discard();
            drop(out);
            // Our parent's children are not ours: close their result pipes here.
            // (try_lock: a thread of the parent may have held one at the fork; then the
            // descriptor simply stays open here.)
            for h in reg.handles.drain(..) {
                if let Some(mut st) = h.result.try_lock() {
                    st.fd = None;
                }
            }
            reg.pid = my_pid();
            reg.reaper_running = false;
            reg.me = Some(SelfInfo {
                name: name.clone(),
                daemon,
            });
            drop(reg);
            drop(fork_guard);
            drop(r);
            vm.after_fork_child();
            child_main(vm, body, w)
        }
        Ok(Forked::Parent(pid)) => {
            drop(out);
            drop(w);
            let pidfd = sys::pidfd_open(pid).ok();
            let rec = Arc::new(ChildRec {
                pid,
                creator: my_pid(),
                status: Mutex::new(None),
                pidfd,
            });
            let h = Arc::new(ProcHandle {
                name,
                daemon,
                rec,
                result: Mutex::new(ResultState {
                    fd: Some(r),
                    buf: FrameBuf::new(),
                    msg: None,
                }),
            });
            reg.handles.push(h.clone());
            let start = !reg.reaper_running;
            reg.reaper_running = true;
            drop(reg);
            drop(fork_guard);
            if start {
                let ok = std::thread::Builder::new()
                    .name("toy-reaper".into())
                    .stack_size(64 * 1024)
                    .spawn(reaper)
                    .is_ok();
                if !ok {
                    REG.lock().reaper_running = false;
                }
            }
            Ok(h)
        }
    }
}

/// The child's side: run the body, send the outcome, end like a program, `_exit`.
fn child_main(vm: &mut Vm, body: Body, w: OwnedFd) -> ! {
    // A child's standard input is /dev/null (as multiprocessing's).
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(vm)));
    let depth = max_depth(vm);
    let pid = my_pid();
    let send_err = |e: &Arc<ExcObj>| {
        let v = Value::tuple(vec![Value::Bool(B64::False), Value::Exc(e.clone())]);
        wire::encode_frame(&v, pid, depth).ok()
    };
    let (frame, code) = match outcome {
        Ok(Ok(v)) => {
            match wire::encode_frame(&Value::tuple(vec![Value::Bool(B64::True), v]), pid, depth) {
                Ok(f) => (Some(f), 0),
                Err(e) => (send_err(&e.to_exc()), 1),
            }
        }
        Ok(Err(e)) if e.kind == ExcKind::SystemExit => {
            // Its exit code and no result (a non-int code is printed to stderr, as Python does).
            (None, crate::report::system_exit_status(&e))
        }
        Ok(Err(e)) => (send_err(&e), 1),
        Err(_) => {
            crate::builtins::io::write_stderr(
                "toy: internal error in a child process (a bug in Toy, not in your program)\n",
            );
            (None, 101)
        }
    };
    if let Some(f) = frame {
        use std::io::Write;
        let mut file = std::fs::File::from(w);
        let _ = vm.blocking(|| file.write_all(&f));
        drop(file);
    } else {
        drop(w);
    }
    super::end_of_child_program(vm);
    vm.rt.stdout.lock().flush();
    sys::exit_now(code)
}

// ---------------------------------------------------------------------------------------------
// The end of the program
// ---------------------------------------------------------------------------------------------

fn my_handles() -> Vec<Arc<ProcHandle>> {
    let reg = REG.lock();
    if reg.pid != my_pid() {
        return Vec::new();
    }
    reg.handles.clone()
}

/// Wait for non-daemon children (their results are read so none blocks on a full pipe),
/// terminate daemon children, reap everything. Ctrl-C while waiting terminates the rest.
pub fn at_exit(vm: &mut Vm) {
    let hs = my_handles();
    let mut interrupted = false;
    for h in hs.iter().filter(|h| !h.daemon) {
        if interrupted {
            break;
        }
        // Settle the message first (as the shim's drain), the exit comes below.
        loop {
            if h.poll_result(false) {
                break;
            }
            if h.rec.try_reap().is_some() {
                h.poll_result(true);
                break;
            }
            let mut fds = Vec::new();
            if let Some(fd) = h.result_fd() {
                fds.push((fd, libc::POLLIN));
            }
            if let Some(p) = &h.rec.pidfd {
                fds.push((p.as_raw_fd(), libc::POLLIN));
            }
            let slice = if h.rec.pidfd.is_some() {
                SLICE
            } else {
                Duration::from_millis(5)
            };
            let _ = vm.blocking(|| sys::poll(&fds, slice));
            if check_interrupt(vm).is_err() {
                interrupted = true;
                break;
            }
        }
    }
    for h in &hs {
        if h.daemon || interrupted {
            h.rec.signal(nix::sys::signal::Signal::SIGTERM);
        }
    }
    let mut killed_at: Option<Instant> = if interrupted {
        Some(Instant::now())
    } else {
        None
    };
    for h in &hs {
        loop {
            if h.rec.try_reap().is_some() {
                break;
            }
            if let Some(t) = killed_at {
                if t.elapsed() > Duration::from_secs(2) {
                    h.rec.signal(nix::sys::signal::Signal::SIGKILL);
                }
            }
            h.rec.wait_exit_slice(vm, SLICE);
            if !interrupted && check_interrupt(vm).is_err() {
                interrupted = true;
                killed_at = Some(Instant::now());
                for x in &hs {
                    x.rec.signal(nix::sys::signal::Signal::SIGTERM);
                }
            }
        }
    }
    let mut reg = REG.lock();
    reg.handles.retain(|h| !h.rec.reaped());
}
