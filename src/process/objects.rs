//! The Toy objects of the `process` builtin: Process handles, `process.current()`, connections,
//! queues, locks, semaphores, events, shared `Value`s and `Array`s. Semantics and messages are
//! those of CPython 3.11's `multiprocessing` (as run through the reference shim).

use std::sync::Arc;
use std::time::{Duration, Instant};

use num_bigint::BigInt;
use num_traits::ToPrimitive;

use super::child::ProcHandle;
use super::conn::Connection;
use super::shm::{self, Cells, Owner, PutError, ShEvent, ShLock, ShQueue, ShSemaphore};
use super::{bind, check_interrupt, max_depth, method, this, timeout_arg, wire, Kw, SLICE};
use crate::exceptions::{ExcKind, ExcObj};
use crate::ops;
use crate::value::*;
use crate::vm::Vm;

fn os_err(e: std::io::Error) -> Arc<ExcObj> {
    ExcObj::os_error(&e, None)
}

/// Wait until `attempt` succeeds; `attempt(slice)` may sleep at most `slice` (zero: do not
/// sleep) and runs without the GIL when it may sleep. Ok(false): the timeout passed.
fn wait_for(
    vm: &mut Vm,
    timeout: Option<f64>,
    mut attempt: impl FnMut(Duration) -> bool,
) -> PResult<bool> {
    if attempt(Duration::ZERO) {
        return Ok(true);
    }
    let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.clamp(0.0, 1e9)));
    loop {
        let slice = match deadline {
            None => SLICE,
            Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
        };
        if slice.is_zero() {
            return Ok(false);
        }
        if vm.blocking(|| attempt(slice)) {
            return Ok(true);
        }
        check_interrupt(vm)?;
    }
}

/// `with x:` on an object that is not a context manager (as CPython says it).
pub fn no_with(type_name: &str) -> PResult<Value> {
    ops::type_error(format!(
        "'{}' object does not support the context manager protocol",
        type_name
    ))
}

fn current_name() -> String {
    match super::child::current() {
        Some(me) => me.name,
        None => "MainProcess".to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Process handles
// ---------------------------------------------------------------------------------------------

pub struct ProcObj(pub Arc<ProcHandle>);

fn ph_join(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let p = this::<ProcObj>(a)?;
    let k = bind("join", &a[1..], kw, &["timeout"])?;
    let timeout = timeout_arg(k[0].as_ref())?;
    let repr = match &k[0] {
        None => "None".to_string(),
        Some(v) => ops::to_str(v),
    };
    p.0.join(vm, timeout, &repr)
}

fn ph_is_alive(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let p = this::<ProcObj>(a)?;
    bind("is_alive", &a[1..], kw, &[])?;
    Ok(Value::bool(p.0.is_alive()?))
}

fn ph_terminate(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let p = this::<ProcObj>(a)?;
    bind("terminate", &a[1..], kw, &[])?;
    p.0.rec.signal(nix::sys::signal::Signal::SIGTERM);
    Ok(Value::None)
}

fn ph_kill(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let p = this::<ProcObj>(a)?;
    bind("kill", &a[1..], kw, &[])?;
    p.0.rec.signal(nix::sys::signal::Signal::SIGKILL);
    Ok(Value::None)
}

impl NativeObj for ProcObj {
    fn type_name(&self) -> &'static str {
        "Process"
    }
    fn repr(&self) -> String {
        format!("<Process {}>", self.0.name)
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "join" => method("join", ph_join, this),
            "is_alive" => method("is_alive", ph_is_alive, this),
            "terminate" => method("terminate", ph_terminate, this),
            "kill" => method("kill", ph_kill, this),
            "name" => Value::str(self.0.name.clone()),
            "pid" | "ident" => Value::Int(self.0.rec.pid as i64),
            "daemon" => Value::bool(self.0.daemon),
            "exitcode" => match self.0.exitcode() {
                Some(c) => Value::Int(c as i64),
                None => Value::None,
            },
            _ => return None,
        })
    }
    fn enter(&self, _vm: &mut Vm, _this: &Value) -> PResult<Value> {
        no_with(self.type_name())
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// `process.current()`: this process (the main one, or a child seen from inside).
pub struct SelfProc {
    pub name: String,
    pub daemon: bool,
    pub main: bool,
}

fn sp_is_alive(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    this::<SelfProc>(a)?;
    bind("is_alive", &a[1..], kw, &[])?;
    Ok(Value::Bool(B64::True))
}

fn sp_join(_vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    this::<SelfProc>(a)?;
    ops::err(ExcKind::AssertionError, "can only join a child process")
}

impl NativeObj for SelfProc {
    fn type_name(&self) -> &'static str {
        if self.main {
            "_MainProcess"
        } else {
            "Process"
        }
    }
    fn repr(&self) -> String {
        format!("<Process {}>", self.name)
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "is_alive" => method("is_alive", sp_is_alive, this),
            "join" if !self.main => method("join", sp_join, this),
            "name" => Value::str(self.name.clone()),
            "pid" | "ident" => Value::Int(std::process::id() as i64),
            "daemon" => Value::bool(self.daemon),
            "exitcode" => Value::None,
            _ => return None,
        })
    }
    fn enter(&self, _vm: &mut Vm, _this: &Value) -> PResult<Value> {
        no_with(self.type_name())
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Pipe connections
// ---------------------------------------------------------------------------------------------

pub struct ConnObj(Arc<Connection>);

pub fn p_pipe(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = bind("Pipe", a, kw, &["duplex"])?;
    let duplex = k[0].as_ref().map(|v| v.truthy()).unwrap_or(true);
    let (x, y) = super::conn::pipe(duplex).map_err(os_err)?;
    Ok(Value::tuple(vec![
        Value::native(ConnObj(Arc::new(x))),
        Value::native(ConnObj(Arc::new(y))),
    ]))
}

fn c_send(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let c = this::<ConnObj>(a)?.0.clone();
    let k = bind("send", &a[1..], kw, &["obj"])?;
    let Some(obj) = &k[0] else {
        return ops::type_error("send() missing 1 required positional argument: 'obj'");
    };
    c.send(vm, obj)?;
    Ok(Value::None)
}

fn c_recv(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let c = this::<ConnObj>(a)?.0.clone();
    bind("recv", &a[1..], kw, &[])?;
    c.recv(vm)
}

fn c_poll(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let c = this::<ConnObj>(a)?.0.clone();
    let k = bind("poll", &a[1..], kw, &["timeout"])?;
    let timeout = match &k[0] {
        None => Some(0.0),
        Some(v) => timeout_arg(Some(v))?,
    };
    Ok(Value::bool(c.poll(vm, timeout)?))
}

fn c_close(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let c = this::<ConnObj>(a)?;
    bind("close", &a[1..], kw, &[])?;
    c.0.close();
    Ok(Value::None)
}

fn c_fileno(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let c = this::<ConnObj>(a)?;
    bind("fileno", &a[1..], kw, &[])?;
    Ok(Value::Int(c.0.fileno()?))
}

impl NativeObj for ConnObj {
    fn type_name(&self) -> &'static str {
        "Connection"
    }
    fn repr(&self) -> String {
        "<Connection object>".to_string()
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "send" => method("send", c_send, this),
            "recv" => method("recv", c_recv, this),
            "poll" => method("poll", c_poll, this),
            "close" => method("close", c_close, this),
            "fileno" => method("fileno", c_fileno, this),
            "closed" => Value::bool(self.0.closed()),
            "readable" => Value::bool(self.0.readable()),
            "writable" => Value::bool(self.0.writable()),
            _ => return None,
        })
    }
    fn enter(&self, _vm: &mut Vm, _this: &Value) -> PResult<Value> {
        no_with("Connection")
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Queue
// ---------------------------------------------------------------------------------------------

pub struct QueueObj {
    q: ShQueue,
    closed: std::sync::atomic::AtomicBool,
}

pub fn p_queue(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = bind("Queue", a, kw, &["maxsize"])?;
    let maxsize = match &k[0] {
        None => 0,
        Some(v) => ops::as_index(v, || {
            format!(
                "'{}' object cannot be interpreted as an integer",
                v.type_name()
            )
        })?,
    };
    let q = ShQueue::new(maxsize.max(0) as u64, shm::DEFAULT_RING).map_err(os_err)?;
    Ok(Value::native(QueueObj {
        q,
        closed: std::sync::atomic::AtomicBool::new(false),
    }))
}

fn empty_exc() -> Arc<ExcObj> {
    ExcObj::with_args(ExcKind::Empty, vec![])
}

fn full_exc() -> Arc<ExcObj> {
    ExcObj::with_args(ExcKind::Full, vec![])
}

fn queue_put(
    vm: &mut Vm,
    q: &QueueObj,
    obj: &Value,
    block: bool,
    timeout: Option<f64>,
) -> PResult<()> {
    if q.closed.load(std::sync::atomic::Ordering::SeqCst) {
        return ops::err(ExcKind::ValueError, "Queue is closed");
    }
    let data = wire::encode(obj, max_depth(vm)).map_err(|e| e.to_exc())?;
    let mut too_big = false;
    let ok = if !block {
        match q.q.try_put(&data) {
            Ok(()) => true,
            Err(PutError::TooBig) => {
                too_big = true;
                false
            }
            Err(PutError::Full(_)) => false,
        }
    } else {
        let qq = &q.q;
        wait_for(vm, timeout, |slice| match qq.try_put(&data) {
            Ok(()) => true,
            Err(PutError::TooBig) => {
                too_big = true;
                true
            }
            Err(PutError::Full(seq)) => {
                if !slice.is_zero() {
                    qq.wait_not_full(seq, slice);
                }
                false
            }
        })?
    };
    if too_big {
        return ops::err(
            ExcKind::ValueError,
            format!("item too large for a process.Queue ({} bytes)", data.len()),
        );
    }
    if ok {
        Ok(())
    } else {
        Err(full_exc())
    }
}

fn queue_get(vm: &mut Vm, q: &QueueObj, block: bool, timeout: Option<f64>) -> PResult<Value> {
    let mut got: Option<Vec<u8>> = None;
    if !block {
        got = q.q.try_get().ok();
    } else {
        let qq = &q.q;
        wait_for(vm, timeout, |slice| match qq.try_get() {
            Ok(b) => {
                got = Some(b);
                true
            }
            Err(seq) => {
                if !slice.is_zero() {
                    qq.wait_not_empty(seq, slice);
                }
                false
            }
        })?;
    }
    match got {
        Some(b) => wire::decode(&b).map_err(|e| e.to_exc()),
        None => Err(empty_exc()),
    }
}

fn q_put(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let q = this::<QueueObj>(a)?;
    let k = bind("put", &a[1..], kw, &["obj", "block", "timeout"])?;
    let Some(obj) = &k[0] else {
        return ops::type_error("put() missing 1 required positional argument: 'obj'");
    };
    let block = k[1].as_ref().map(|v| v.truthy()).unwrap_or(true);
    let timeout = timeout_arg(k[2].as_ref())?;
    queue_put(vm, q, obj, block, timeout)?;
    Ok(Value::None)
}

fn q_put_nowait(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let q = this::<QueueObj>(a)?;
    let k = bind("put_nowait", &a[1..], kw, &["obj"])?;
    let Some(obj) = &k[0] else {
        return ops::type_error("put_nowait() missing 1 required positional argument: 'obj'");
    };
    queue_put(vm, q, obj, false, None)?;
    Ok(Value::None)
}

fn q_get(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let q = this::<QueueObj>(a)?;
    let k = bind("get", &a[1..], kw, &["block", "timeout"])?;
    let block = k[0].as_ref().map(|v| v.truthy()).unwrap_or(true);
    let timeout = timeout_arg(k[1].as_ref())?;
    queue_get(vm, q, block, timeout)
}

fn q_get_nowait(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let q = this::<QueueObj>(a)?;
    bind("get_nowait", &a[1..], kw, &[])?;
    queue_get(vm, q, false, None)
}

fn q_empty(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let q = this::<QueueObj>(a)?;
    bind("empty", &a[1..], kw, &[])?;
    Ok(Value::bool(q.q.empty()))
}

fn q_full(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let q = this::<QueueObj>(a)?;
    bind("full", &a[1..], kw, &[])?;
    Ok(Value::bool(q.q.full()))
}

fn q_qsize(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let q = this::<QueueObj>(a)?;
    bind("qsize", &a[1..], kw, &[])?;
    Ok(Value::Int(q.q.qsize() as i64))
}

fn q_close(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let q = this::<QueueObj>(a)?;
    bind("close", &a[1..], kw, &[])?;
    q.closed.store(true, std::sync::atomic::Ordering::SeqCst);
    Ok(Value::None)
}

fn q_noop(_vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    this::<QueueObj>(a)?;
    Ok(Value::None)
}

impl NativeObj for QueueObj {
    fn type_name(&self) -> &'static str {
        "ProcessQueue"
    }
    fn repr(&self) -> String {
        "<Queue object>".to_string()
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "put" => method("put", q_put, this),
            "get" => method("get", q_get, this),
            "put_nowait" => method("put_nowait", q_put_nowait, this),
            "get_nowait" => method("get_nowait", q_get_nowait, this),
            "empty" => method("empty", q_empty, this),
            "full" => method("full", q_full, this),
            "qsize" => method("qsize", q_qsize, this),
            "close" => method("close", q_close, this),
            "join_thread" => method("join_thread", q_noop, this),
            "cancel_join_thread" => method("cancel_join_thread", q_noop, this),
            _ => return None,
        })
    }
    fn enter(&self, _vm: &mut Vm, _this: &Value) -> PResult<Value> {
        no_with("ProcessQueue")
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Lock, RLock
// ---------------------------------------------------------------------------------------------

pub struct LockObj(ShLock);

pub fn p_lock(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    bind("Lock", a, kw, &[])?;
    Ok(Value::native(LockObj(ShLock::new(false).map_err(os_err)?)))
}

pub fn p_rlock(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    bind("RLock", a, kw, &[])?;
    Ok(Value::native(LockObj(ShLock::new(true).map_err(os_err)?)))
}

fn lock_acquire(vm: &mut Vm, l: &ShLock, block: bool, timeout: Option<f64>) -> PResult<bool> {
    if !block {
        return Ok(l.try_acquire());
    }
    wait_for(vm, timeout, |slice| {
        if slice.is_zero() {
            l.try_acquire()
        } else {
            l.acquire_slice(slice)
        }
    })
}

fn lock_release(l: &ShLock) -> PResult<()> {
    l.release().map_err(|m| {
        let kind = if l.recursive {
            ExcKind::AssertionError
        } else {
            ExcKind::ValueError
        };
        ExcObj::new(kind, m)
    })
}

/// acquire(block=True, timeout=None) of Lock, RLock, Semaphore and Synchronized objects.
fn acquire_args(a: &[Value], kw: Kw) -> PResult<(bool, Option<f64>)> {
    let k = bind("acquire", &a[1..], kw, &["block", "timeout"])?;
    let block = k[0].as_ref().map(|v| v.truthy()).unwrap_or(true);
    Ok((block, timeout_arg(k[1].as_ref())?))
}

fn l_acquire(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let l = this::<LockObj>(a)?.0.clone();
    let (block, timeout) = acquire_args(a, kw)?;
    Ok(Value::bool(lock_acquire(vm, &l, block, timeout)?))
}

fn l_release(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let l = this::<LockObj>(a)?;
    bind("release", &a[1..], kw, &[])?;
    lock_release(&l.0)?;
    Ok(Value::None)
}

impl NativeObj for LockObj {
    fn type_name(&self) -> &'static str {
        if self.0.recursive {
            "RLock"
        } else {
            "Lock"
        }
    }
    fn repr(&self) -> String {
        let owner = self.0.owner();
        if self.0.recursive {
            let (who, n) = match owner {
                Owner::Nobody => ("None".to_string(), 0),
                Owner::Me(n) => (current_name(), n),
                Owner::OtherThread => ("SomeOtherThread".to_string(), self.0.depth()),
                Owner::OtherProcess => ("SomeOtherProcess".to_string(), self.0.depth()),
            };
            format!("<RLock({}, {})>", who, n)
        } else {
            let who = match owner {
                Owner::Nobody => "None".to_string(),
                Owner::Me(_) => current_name(),
                Owner::OtherThread => "SomeOtherThread".to_string(),
                Owner::OtherProcess => "SomeOtherProcess".to_string(),
            };
            format!("<Lock(owner={})>", who)
        }
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "acquire" => method("acquire", l_acquire, this),
            "release" => method("release", l_release, this),
            _ => return None,
        })
    }
    fn enter(&self, vm: &mut Vm, _this: &Value) -> PResult<Value> {
        lock_acquire(vm, &self.0, true, None)?;
        Ok(Value::Bool(B64::True))
    }
    fn exit(&self, _vm: &mut Vm, _exc: Option<&Arc<ExcObj>>) -> PResult<()> {
        lock_release(&self.0)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Semaphore
// ---------------------------------------------------------------------------------------------

pub struct SemObj(ShSemaphore);

pub fn p_semaphore(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = bind("Semaphore", a, kw, &["value"])?;
    let value = match &k[0] {
        None => 1,
        Some(v) => ops::as_index(v, || {
            format!(
                "'{}' object cannot be interpreted as an integer",
                v.type_name()
            )
        })?,
    };
    if !(0..=i32::MAX as i64).contains(&value) {
        return Err(ExcObj::os_error(
            &std::io::Error::from_raw_os_error(libc::EINVAL),
            None,
        ));
    }
    Ok(Value::native(SemObj(
        ShSemaphore::new(value as u32).map_err(os_err)?,
    )))
}

fn s_acquire(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = this::<SemObj>(a)?.0.clone();
    let (block, timeout) = acquire_args(a, kw)?;
    if !block {
        return Ok(Value::bool(s.try_acquire()));
    }
    Ok(Value::bool(wait_for(vm, timeout, |slice| {
        if slice.is_zero() {
            s.try_acquire()
        } else {
            s.acquire_slice(slice)
        }
    })?))
}

fn s_release(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = this::<SemObj>(a)?;
    bind("release", &a[1..], kw, &[])?;
    if !s.0.release() {
        return ops::err(ExcKind::OverflowError, "semaphore value overflow");
    }
    Ok(Value::None)
}

fn s_get_value(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = this::<SemObj>(a)?;
    bind("get_value", &a[1..], kw, &[])?;
    Ok(Value::Int(s.0.value() as i64))
}

impl NativeObj for SemObj {
    fn type_name(&self) -> &'static str {
        "Semaphore"
    }
    fn repr(&self) -> String {
        format!("<Semaphore(value={})>", self.0.value())
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "acquire" => method("acquire", s_acquire, this),
            "release" => method("release", s_release, this),
            "get_value" => method("get_value", s_get_value, this),
            _ => return None,
        })
    }
    fn enter(&self, vm: &mut Vm, _this: &Value) -> PResult<Value> {
        let s = self.0.clone();
        wait_for(vm, None, |slice| {
            if slice.is_zero() {
                s.try_acquire()
            } else {
                s.acquire_slice(slice)
            }
        })?;
        Ok(Value::Bool(B64::True))
    }
    fn exit(&self, _vm: &mut Vm, _exc: Option<&Arc<ExcObj>>) -> PResult<()> {
        self.0.release();
        Ok(())
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Event
// ---------------------------------------------------------------------------------------------

pub struct EventObj(ShEvent);

pub fn p_event(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    bind("Event", a, kw, &[])?;
    Ok(Value::native(EventObj(ShEvent::new().map_err(os_err)?)))
}

fn e_is_set(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let e = this::<EventObj>(a)?;
    bind("is_set", &a[1..], kw, &[])?;
    Ok(Value::bool(e.0.is_set()))
}

fn e_set(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let e = this::<EventObj>(a)?;
    bind("set", &a[1..], kw, &[])?;
    e.0.set();
    Ok(Value::None)
}

fn e_clear(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let e = this::<EventObj>(a)?;
    bind("clear", &a[1..], kw, &[])?;
    e.0.clear();
    Ok(Value::None)
}

fn e_wait(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let e = this::<EventObj>(a)?.0.clone();
    let k = bind("wait", &a[1..], kw, &["timeout"])?;
    let timeout = timeout_arg(k[0].as_ref())?;
    Ok(Value::bool(wait_for(vm, timeout, |slice| {
        if slice.is_zero() {
            e.is_set()
        } else {
            e.wait_slice(slice)
        }
    })?))
}

impl NativeObj for EventObj {
    fn type_name(&self) -> &'static str {
        "Event"
    }
    fn repr(&self) -> String {
        format!("<Event({})>", if self.0.is_set() { "set" } else { "unset" })
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "is_set" => method("is_set", e_is_set, this),
            "set" => method("set", e_set, this),
            "clear" => method("clear", e_clear, this),
            "wait" => method("wait", e_wait, this),
            _ => return None,
        })
    }
    fn enter(&self, _vm: &mut Vm, _this: &Value) -> PResult<Value> {
        no_with("Event")
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Value and Array: C numbers in shared memory
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum CType {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

/// The ctypes type of an array-module typecode (None: unsupported).
fn ctype_of(code: &Value) -> Option<(CType, &'static str)> {
    Some(match code.as_str()? {
        "b" => (CType::I8, "c_byte"),
        "B" => (CType::U8, "c_ubyte"),
        "h" => (CType::I16, "c_short"),
        "H" => (CType::U16, "c_ushort"),
        "i" => (CType::I32, "c_int"),
        "I" => (CType::U32, "c_uint"),
        "l" | "q" => (CType::I64, "c_long"),
        "L" | "Q" => (CType::U64, "c_ulong"),
        "f" => (CType::F32, "c_float"),
        "d" => (CType::F64, "c_double"),
        _ => return None,
    })
}

fn no_size<T>() -> PResult<T> {
    ops::type_error("this type has no size")
}

/// A Toy number as the bits of a cell of type `t` (C conversion: ints wrap, as ctypes do).
fn to_cell(t: CType, v: &Value) -> PResult<u64> {
    if matches!(t, CType::F32 | CType::F64) {
        let f = match v {
            Value::Float(f) => f.get(),
            Value::Int(i) => *i as f64,
            Value::Bool(b) => b.get() as i64 as f64,
            Value::BigInt(b) => match b.to_f64() {
                Some(f) if f.is_finite() => f,
                _ => return ops::err(ExcKind::OverflowError, "int too large to convert to float"),
            },
            other => {
                return ops::type_error(format!("must be real number, not {}", other.type_name()))
            }
        };
        let f = if t == CType::F32 { f as f32 as f64 } else { f };
        return Ok(f.to_bits());
    }
    let x: u64 = match v {
        Value::Int(i) => *i as u64,
        Value::Bool(b) => b.get() as u64,
        Value::BigInt(b) => {
            let m: BigInt = num_integer::Integer::mod_floor(&**b, &(BigInt::from(1u8) << 64));
            m.to_u64().unwrap_or(0)
        }
        other => {
            return ops::type_error(format!(
                "'{}' object cannot be interpreted as an integer",
                other.type_name()
            ))
        }
    };
    Ok(match t {
        CType::I8 => x as i8 as i64 as u64,
        CType::U8 => x as u8 as u64,
        CType::I16 => x as i16 as i64 as u64,
        CType::U16 => x as u16 as u64,
        CType::I32 => x as i32 as i64 as u64,
        CType::U32 => x as u32 as u64,
        _ => x,
    })
}

fn from_cell(t: CType, bits: u64) -> Value {
    match t {
        CType::F32 | CType::F64 => Value::float(f64::from_bits(bits)),
        CType::U64 if bits > i64::MAX as u64 => Value::from_bigint(BigInt::from(bits)),
        _ => Value::Int(bits as i64),
    }
}

/// The lock of a Value/Array: its own RLock (lock=True), none (lock=False) or a given one.
fn lock_arg(v: Option<&Value>, own: ShLock) -> PResult<Option<ShLock>> {
    match v {
        None => Ok(Some(own)),
        Some(Value::Bool(B64::True)) => Ok(Some(own)),
        Some(Value::Bool(B64::False)) => Ok(None),
        Some(Value::Native(n)) => match n.0.as_any().downcast_ref::<LockObj>() {
            Some(l) => Ok(Some(l.0.clone())),
            None => Err(ExcObj::new(
                ExcKind::AttributeError,
                format!("'{}' object has no attribute 'acquire'", n.0.type_name()),
            )),
        },
        Some(v) if v.truthy() => Err(ExcObj::new(
            ExcKind::AttributeError,
            format!("'{}' object has no attribute 'acquire'", v.type_name()),
        )),
        Some(_) => Ok(None),
    }
}

pub struct ValueObj {
    cells: Cells,
    lock: Option<ShLock>,
    t: CType,
    cname: &'static str,
}

pub fn p_value(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = bind("Value", a, kw, &["typecode_or_type", "value", "lock"])?;
    let Some(code) = &k[0] else {
        return ops::type_error(
            "Value() missing 1 required positional argument: 'typecode_or_type'",
        );
    };
    let Some((t, cname)) = ctype_of(code) else {
        return no_size();
    };
    let init = match &k[1] {
        None => 0,
        Some(v) => to_cell(t, v)?,
    };
    let (cells, own) = Cells::new(1).map_err(os_err)?;
    cells.set(0, init);
    let lock = lock_arg(k[2].as_ref(), own)?;
    Ok(Value::native(ValueObj {
        cells,
        lock,
        t,
        cname,
    }))
}

fn get_lock_value(lock: &Option<ShLock>, what: &str) -> PResult<Value> {
    match lock {
        Some(l) => Ok(Value::native(LockObj(l.clone()))),
        None => ops::err(
            ExcKind::AttributeError,
            format!("'{}' object has no attribute 'get_lock'", what),
        ),
    }
}

fn v_get_lock(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let v = this::<ValueObj>(a)?;
    bind("get_lock", &a[1..], kw, &[])?;
    get_lock_value(&v.lock, v.cname)
}

fn v_acquire(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let v = this::<ValueObj>(a)?;
    let (block, timeout) = acquire_args(a, kw)?;
    match &v.lock {
        Some(l) => {
            let l = l.clone();
            Ok(Value::bool(lock_acquire(vm, &l, block, timeout)?))
        }
        None => Ok(Value::Bool(B64::True)),
    }
}

fn v_release(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let v = this::<ValueObj>(a)?;
    bind("release", &a[1..], kw, &[])?;
    if let Some(l) = &v.lock {
        lock_release(l)?;
    }
    Ok(Value::None)
}

impl NativeObj for ValueObj {
    fn type_name(&self) -> &'static str {
        if self.lock.is_some() {
            "Synchronized"
        } else {
            self.cname
        }
    }
    fn repr(&self) -> String {
        let inner = format!(
            "{}({})",
            self.cname,
            ops::repr_plain(&from_cell(self.t, self.cells.get(0)))
        );
        if self.lock.is_some() {
            format!("<Synchronized wrapper for {}>", inner)
        } else {
            inner
        }
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "value" => from_cell(self.t, self.cells.get(0)),
            "get_lock" if self.lock.is_some() => method("get_lock", v_get_lock, this),
            "acquire" if self.lock.is_some() => method("acquire", v_acquire, this),
            "release" if self.lock.is_some() => method("release", v_release, this),
            _ => return None,
        })
    }
    fn set_attr(&self, _vm: &mut Vm, name: &str, v: Value) -> Option<PResult<()>> {
        if name != "value" {
            return None;
        }
        Some(to_cell(self.t, &v).map(|bits| self.cells.set(0, bits)))
    }
    fn enter(&self, vm: &mut Vm, _this: &Value) -> PResult<Value> {
        match &self.lock {
            Some(l) => {
                let l = l.clone();
                Ok(Value::bool(lock_acquire(vm, &l, true, None)?))
            }
            None => ops::type_error(format!(
                "'{}' object does not support the context manager protocol",
                self.cname
            )),
        }
    }
    fn exit(&self, _vm: &mut Vm, _exc: Option<&Arc<ExcObj>>) -> PResult<()> {
        match &self.lock {
            Some(l) => lock_release(l),
            None => Ok(()),
        }
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

pub struct ArrayObj {
    cells: Cells,
    lock: Option<ShLock>,
    t: CType,
    cname: &'static str,
}

pub fn p_array(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = bind(
        "Array",
        a,
        kw,
        &["typecode_or_type", "size_or_initializer", "lock"],
    )?;
    let (Some(code), Some(init)) = (&k[0], &k[1]) else {
        return ops::type_error("Array() missing required argument 'size_or_initializer'");
    };
    let Some((t, cname)) = ctype_of(code) else {
        return no_size();
    };
    let values: Vec<u64> = match init {
        Value::Int(_) | Value::Bool(_) | Value::BigInt(_) => {
            let n = match init {
                Value::Int(i) => *i,
                Value::Bool(b) => b.get() as i64,
                _ => {
                    return ops::err(
                        ExcKind::OverflowError,
                        "cannot fit 'int' into an index-sized integer",
                    )
                }
            };
            if n < 0 {
                return ops::err(
                    ExcKind::ValueError,
                    format!("Array length must be >= 0, not {}", n),
                );
            }
            if n > (1 << 32) {
                return ops::err(ExcKind::MemoryError, "");
            }
            vec![0; n as usize]
        }
        Value::Float(_) | Value::None => {
            return ops::type_error(format!(
                "object of type '{}' has no len()",
                init.type_name()
            ))
        }
        other => {
            let items = vm.collect_iterable(other)?;
            let mut out = Vec::with_capacity(items.len());
            for x in &items {
                out.push(to_cell(t, x)?);
            }
            out
        }
    };
    let (cells, own) = Cells::new(values.len()).map_err(os_err)?;
    for (i, x) in values.iter().enumerate() {
        if *x != 0 {
            cells.set(i, *x);
        }
    }
    let lock = lock_arg(k[2].as_ref(), own)?;
    Ok(Value::native(ArrayObj {
        cells,
        lock,
        t,
        cname,
    }))
}

impl ArrayObj {
    fn index(&self, idx: &Value) -> PResult<usize> {
        let i = match idx {
            Value::Int(i) => *i,
            Value::Bool(b) => b.get() as i64,
            Value::BigInt(_) => return ops::err(ExcKind::IndexError, "invalid index"),
            _ => return ops::type_error("indices must be integers"),
        };
        let n = self.cells.n as i64;
        let j = if i < 0 { i + n } else { i };
        if j < 0 || j >= n {
            return ops::err(ExcKind::IndexError, "invalid index");
        }
        Ok(j as usize)
    }
    fn items(&self) -> Vec<Value> {
        (0..self.cells.n)
            .map(|i| from_cell(self.t, self.cells.get(i)))
            .collect()
    }
}

fn a_get_lock(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let v = this::<ArrayObj>(a)?;
    bind("get_lock", &a[1..], kw, &[])?;
    get_lock_value(&v.lock, "Array")
}

impl NativeObj for ArrayObj {
    fn type_name(&self) -> &'static str {
        if self.lock.is_some() {
            "SynchronizedArray"
        } else {
            "Array"
        }
    }
    fn repr(&self) -> String {
        let inner = format!("{}_Array_{}", self.cname, self.cells.n);
        if self.lock.is_some() {
            format!("<SynchronizedArray wrapper for {}>", inner)
        } else {
            format!("<{}>", inner)
        }
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "get_lock" if self.lock.is_some() => method("get_lock", a_get_lock, this),
            "__len__" => Value::Int(self.cells.n as i64),
            _ => return None,
        })
    }
    fn get_item(&self, _vm: &mut Vm, idx: &Value) -> Option<PResult<Value>> {
        Some((|| {
            if let Value::Slice(s) = idx {
                let (start, _stop, step, count) =
                    crate::builtins::subscript::slice_indices(s, self.cells.n as i64)?;
                let mut out = Vec::with_capacity(count as usize);
                let mut i = start;
                for _ in 0..count {
                    out.push(from_cell(self.t, self.cells.get(i as usize)));
                    i += step;
                }
                return Ok(Value::list(out));
            }
            let i = self.index(idx)?;
            Ok(from_cell(self.t, self.cells.get(i)))
        })())
    }
    fn set_item(&self, vm: &mut Vm, idx: &Value, v: Value) -> Option<PResult<()>> {
        Some((|| {
            if let Value::Slice(s) = idx {
                let (start, _stop, step, count) =
                    crate::builtins::subscript::slice_indices(s, self.cells.n as i64)?;
                let items = vm.collect_iterable(&v)?;
                if items.len() as i64 != count {
                    return ops::err(ExcKind::ValueError, "Can only assign sequence of same size");
                }
                let bits: Vec<u64> = items
                    .iter()
                    .map(|x| to_cell(self.t, x))
                    .collect::<PResult<_>>()?;
                let mut i = start;
                for b in bits {
                    self.cells.set(i as usize, b);
                    i += step;
                }
                return Ok(());
            }
            let i = self.index(idx)?;
            let b = to_cell(self.t, &v)?;
            self.cells.set(i, b);
            Ok(())
        })())
    }
    fn len(&self) -> Option<usize> {
        Some(self.cells.n)
    }
    fn iterable(&self) -> bool {
        true
    }
    fn iter_value(&self) -> Option<Value> {
        Some(Value::iter(IterState::Seq {
            items: Arc::new(TupleObj {
                items: self.items().into_boxed_slice(),
            }),
            idx: 0,
        }))
    }
    fn enter(&self, vm: &mut Vm, _this: &Value) -> PResult<Value> {
        match &self.lock {
            Some(l) => {
                let l = l.clone();
                Ok(Value::bool(lock_acquire(vm, &l, true, None)?))
            }
            None => ops::type_error("'Array' object does not support the context manager protocol"),
        }
    }
    fn exit(&self, _vm: &mut Vm, _exc: Option<&Arc<ExcObj>>) -> PResult<()> {
        match &self.lock {
            Some(l) => lock_release(l),
            None => Ok(()),
        }
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
