//! The `thread` builtin (spec §9): OS threads that run Toy functions under the GIL, and the
//! synchronisation objects of Python's `threading` and `queue` (built in `sync.rs`), as Toy
//! values. Also the `gil` module (`gil.stats()`).
//!
//! Every wait here goes through `Vm::blocking`, so a thread that waits for a lock, a queue, an
//! event or another thread never holds the GIL while it waits, and the main thread's waits end
//! early with KeyboardInterrupt on Ctrl-C.

pub mod sync;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::builtins::args;
use crate::dict::{hash_value, DictTable};
use crate::exceptions::{ExcKind, ExcObj};
use crate::ops::{err, type_error};
use crate::value::*;
use crate::vm::Vm;
use sync::{Interrupt, SyncError};

type Kw<'a> = &'a [(Arc<str>, Value)];

// ---------------------------------------------------------------------------------------------
// Thread handles
// ---------------------------------------------------------------------------------------------

/// One Toy thread: its name, whether it still runs, and what its function returned or raised.
pub struct ThreadHandle {
    pub name: String,
    pub daemon: bool,
    /// The program's main thread (in a forked child: the thread that forked).
    is_main: AtomicBool,
    pub ident: AtomicU64,
    alive: AtomicBool,
    started: AtomicBool,
    outcome: Mutex<Option<PResult<Value>>>,
    finished: Condvar,
    /// Set once `join` has delivered the outcome (an error never joined is reported at exit).
    pub joined: AtomicBool,
}

impl ThreadHandle {
    fn new(name: String, daemon: bool, is_main: bool) -> Arc<ThreadHandle> {
        Arc::new(ThreadHandle {
            name,
            daemon,
            is_main: AtomicBool::new(is_main),
            ident: AtomicU64::new(0),
            alive: AtomicBool::new(true),
            started: AtomicBool::new(false),
            outcome: Mutex::new(None),
            finished: Condvar::new(),
            joined: AtomicBool::new(false),
        })
    }

    pub fn main() -> Arc<ThreadHandle> {
        ThreadHandle::new("MainThread".to_string(), false, true)
    }

    /// Give the calling thread an `ident` if it has none yet (the main thread; threads
    /// started by `thread()` get their pthread_t from the parent).
    /// Called by the new thread once it holds the GIL: `thread()` returns after this, as
    /// CPython's `start()` does, so a new thread always gets to run before its starter
    /// continues.
    pub fn mark_started(&self) {
        let g = self.outcome.lock();
        self.started.store(true, Ordering::SeqCst);
        drop(g);
        self.finished.notify_all();
    }

    pub fn set_ident(&self) {
        let _ = self.ident.compare_exchange(
            0,
            nix::unistd::gettid().as_raw() as u64,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    pub fn is_main(&self) -> bool {
        self.is_main.load(Ordering::Relaxed)
    }

    /// In a forked child the forking thread becomes the main thread, as in CPython.
    pub fn become_main(&self) {
        self.is_main.store(true, Ordering::Relaxed);
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    fn finish(&self, outcome: PResult<Value>) {
        *self.outcome.lock() = Some(outcome);
        self.alive.store(false, Ordering::SeqCst);
        self.finished.notify_all();
    }

    /// Wait (without the GIL) until the thread has finished, at most `timeout`.
    fn wait(&self, vm: &mut Vm, timeout: Option<Duration>) -> PResult<bool> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let check = vm.interrupt_check();
        let r = vm.blocking(|| {
            let mut g = self.outcome.lock();
            loop {
                if g.is_some() {
                    return Ok(true);
                }
                if check() {
                    return Err(());
                }
                let mut slice = Duration::from_millis(20);
                if let Some(d) = deadline {
                    let now = Instant::now();
                    if now >= d {
                        return Ok(false);
                    }
                    slice = slice.min(d - now);
                }
                self.finished.wait_for(&mut g, slice);
            }
        });
        r.map_err(|_| vm.take_interrupt())
    }
}

/// The Toy value of a thread handle.
struct ThreadObj(Arc<ThreadHandle>);

fn bound(name: &'static str, func: BuiltinFnPtr, this: &Value) -> Value {
    Value::Builtin(Arc::new(Builtin {
        name,
        func,
        method: false,
        bound: Some(this.clone()),
        owner: None,
    }))
}

fn native<T: 'static>(v: &Value) -> Option<&T> {
    match v {
        Value::Native(n) => n.0.as_any().downcast_ref::<T>(),
        _ => None,
    }
}

fn this<'a, T: 'static>(a: &'a [Value], what: &str) -> PResult<&'a T> {
    match a.first().and_then(native::<T>) {
        Some(t) => Ok(t),
        None => type_error(format!("expected a {} object", what)),
    }
}

fn t_join(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let h = this::<ThreadObj>(a, "thread")?.0.clone();
    let k = args::kw("join", kw, &["timeout"])?;
    let timeout = match a.get(1).or(k[0]) {
        None | Some(Value::None) => None,
        Some(v) => Some(float_arg(v)?),
    };
    if Arc::ptr_eq(&h, &vm.current) {
        return err(ExcKind::RuntimeError, "cannot join current thread");
    }
    let done = h.wait(vm, timeout.map(|t| Duration::from_secs_f64(t.max(0.0))))?;
    if !done {
        return err(
            ExcKind::TimeoutError,
            format!(
                "thread {} did not finish within {} seconds",
                h.name,
                crate::ops::repr_plain(&Value::float(timeout.unwrap_or(0.0)))
            ),
        );
    }
    h.joined.store(true, Ordering::SeqCst);
    let outcome = h.outcome.lock().clone();
    match outcome {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(e),
        None => Ok(Value::None),
    }
}

fn t_is_alive(_vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    Ok(Value::bool(this::<ThreadObj>(a, "thread")?.0.is_alive()))
}

impl NativeObj for ThreadObj {
    fn type_name(&self) -> &'static str {
        "Thread"
    }
    fn repr(&self) -> String {
        format!(
            "<Thread {} {}>",
            self.0.name,
            if self.0.is_alive() {
                "alive"
            } else {
                "finished"
            }
        )
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "join" => bound("join", t_join, this),
            "is_alive" => bound("is_alive", t_is_alive, this),
            "name" => Value::str(self.0.name.clone()),
            "ident" => Value::Int(self.0.ident.load(Ordering::Relaxed) as i64),
            "daemon" => Value::bool(self.0.daemon),
            _ => return None,
        })
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Start `f(*args, **kwargs)` on a new OS thread; returns its handle.
pub fn start(
    vm: &mut Vm,
    f: Value,
    args: Vec<Value>,
    kwargs: Vec<(Arc<str>, Value)>,
    name: Option<String>,
    daemon: bool,
) -> PResult<Arc<ThreadHandle>> {
    if !matches!(
        f,
        Value::Func(_) | Value::Builtin(_) | Value::Type(_) | Value::Native(_)
    ) {
        return type_error(format!("'{}' object is not callable", f.type_name()));
    }
    let name = match name {
        Some(n) => n,
        None => format!(
            "Thread-{}",
            vm.rt.thread_counter.fetch_add(1, Ordering::SeqCst) + 1
        ),
    };
    let handle = ThreadHandle::new(name.clone(), daemon, false);
    vm.rt.threads.lock().push(handle.clone());
    // The GIL's statistics list threads in creation order: register here, not in the thread.
    let token = vm.rt.gil.register_thread(&handle.name);
    let rt = vm.rt.clone();
    let h = handle.clone();
    let spawned = std::thread::Builder::new()
        .name(name)
        .stack_size(256 << 20)
        .spawn(move || {
            let mut tvm = Vm::for_thread(rt.clone(), h.clone(), token);
            let outcome = tvm.call_value(&f, args, kwargs);
            drop(f);
            tvm.report_instructions();
            rt.gil.release(&tvm.token);
            // Drop the VM (its GIL row is marked finished) before joiners are woken.
            drop(tvm);
            h.finish(outcome);
        });
    let joiner = match spawned {
        Ok(j) => j,
        Err(e) => {
            handle.finish(Ok(Value::None));
            return err(
                ExcKind::RuntimeError,
                format!("can't start new thread: {}", e),
            );
        }
    };
    // The ident is the thread's pthread_t, as CPython's; known as soon as the thread exists.
    {
        use std::os::unix::thread::JoinHandleExt;
        handle
            .ident
            .store(joiner.as_pthread_t() as u64, Ordering::SeqCst);
    }
    // As CPython's start(): wait (without the GIL) until the new thread has taken the GIL.
    let h = handle.clone();
    vm.blocking(move || {
        let mut g = h.outcome.lock();
        while !h.started.load(Ordering::SeqCst) && g.is_none() {
            h.finished.wait_for(&mut g, Duration::from_millis(5));
        }
    });
    Ok(handle)
}

/// At program end: wait for every non-daemon thread, then report the errors of threads that
/// were never joined, as `Exception in thread NAME:` plus the traceback.
pub fn at_exit(vm: &mut Vm) {
    loop {
        let pending: Vec<Arc<ThreadHandle>> = vm
            .rt
            .threads
            .lock()
            .iter()
            .filter(|h| !h.is_main() && !h.daemon && h.is_alive())
            .cloned()
            .collect();
        if pending.is_empty() {
            break;
        }
        for h in pending {
            if h.wait(vm, None).is_err() {
                // Ctrl-C while waiting for threads at exit: stop waiting.
                return;
            }
        }
    }
    let handles: Vec<Arc<ThreadHandle>> = vm.rt.threads.lock().clone();
    for h in handles {
        if h.joined.load(Ordering::SeqCst) || h.is_alive() {
            continue;
        }
        let outcome = h.outcome.lock().clone();
        if let Some(Err(e)) = outcome {
            if e.kind == ExcKind::SystemExit {
                continue;
            }
            vm.rt.stdout.lock().flush();
            let text = format!(
                "Exception in thread {}:\n{}",
                h.name,
                crate::report::traceback(&vm.rt, &e)
            );
            crate::builtins::io::write_stderr(&text);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The `thread` object: callable, with the primitives as members
// ---------------------------------------------------------------------------------------------

struct ThreadModule;

impl NativeObj for ThreadModule {
    fn type_name(&self) -> &'static str {
        "builtin_function_or_method"
    }
    fn repr(&self) -> String {
        "<built-in function thread>".to_string()
    }
    fn is_callable(&self) -> bool {
        true
    }
    fn get_attr(&self, _this: &Value, name: &str) -> Option<Value> {
        let f: BuiltinFnPtr = match name {
            "Lock" => new_lock,
            "RLock" => new_rlock,
            "Semaphore" => new_semaphore,
            "BoundedSemaphore" => new_bounded_semaphore,
            "Condition" => new_condition,
            "Event" => new_event,
            "Barrier" => new_barrier,
            "Queue" => new_queue,
            "current" => current,
            "active_count" => active_count,
            "map" => thread_map,
            "Empty" => return Some(Value::Type(TypeWord::new(TypeKind::Exc(ExcKind::Empty)))),
            "Full" => return Some(Value::Type(TypeWord::new(TypeKind::Exc(ExcKind::Full)))),
            "BrokenBarrierError" => {
                return Some(Value::Type(TypeWord::new(TypeKind::Exc(
                    ExcKind::BrokenBarrierError,
                ))))
            }
            _ => return None,
        };
        let name: &'static str = match name {
            "Lock" => "Lock",
            "RLock" => "RLock",
            "Semaphore" => "Semaphore",
            "BoundedSemaphore" => "BoundedSemaphore",
            "Condition" => "Condition",
            "Event" => "Event",
            "Barrier" => "Barrier",
            "Queue" => "Queue",
            "current" => "current",
            "active_count" => "active_count",
            _ => "map",
        };
        Some(crate::builtins::builtin(name, f))
    }
    fn call(&self, vm: &mut Vm, _this: &Value, a: &[Value], kw: Kw) -> Option<PResult<Value>> {
        Some(thread_call(vm, a, kw))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The value bound to the builtin name `thread`.
pub fn builtin_value() -> Value {
    Value::native(ThreadModule)
}

fn thread_call(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let Some(f) = a.first() else {
        return type_error("thread() missing 1 required positional argument: 'fn'");
    };
    let mut name = None;
    let mut daemon = false;
    let mut kwargs = Vec::new();
    for (k, v) in kw {
        match &**k {
            "name" => {
                if !matches!(v, Value::None) {
                    name = Some(crate::ops::to_str(v));
                }
            }
            "daemon" => daemon = v.truthy(),
            _ => kwargs.push((k.clone(), v.clone())),
        }
    }
    let h = start(vm, f.clone(), a[1..].to_vec(), kwargs, name, daemon)?;
    Ok(Value::native(ThreadObj(h)))
}

fn current(vm: &mut Vm, _a: &[Value], _kw: Kw) -> PResult<Value> {
    Ok(Value::native(ThreadObj(vm.current.clone())))
}

fn active_count(vm: &mut Vm, _a: &[Value], _kw: Kw) -> PResult<Value> {
    let n = vm
        .rt
        .threads
        .lock()
        .iter()
        .filter(|h| h.is_main() || h.is_alive())
        .count();
    Ok(Value::Int(n as i64))
}

/// State shared by the workers of one `thread.map` call.
struct MapJob {
    func: Value,
    items: Vec<Value>,
    next: AtomicUsize,
    results: Mutex<Vec<Option<PResult<Value>>>>,
}

impl NativeObj for MapJob {
    fn type_name(&self) -> &'static str {
        "map_job"
    }
    fn get_attr(&self, _this: &Value, _name: &str) -> Option<Value> {
        None
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn map_worker(vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    let job = this::<MapJob>(a, "map job")?;
    loop {
        let i = job.next.fetch_add(1, Ordering::SeqCst);
        if i >= job.items.len() {
            return Ok(Value::None);
        }
        let r = vm.call(&job.func, vec![job.items[i].clone()]);
        job.results.lock()[i] = Some(r);
    }
}

fn thread_map(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::kw("map", kw, &["workers"])?;
    if a.len() < 2 {
        return type_error("map() missing required arguments: 'fn' and 'iterable'");
    }
    let items = vm.collect_iterable(&a[1])?;
    let workers = match a.get(2).or(k[0]) {
        None | Some(Value::None) => {
            let cpus = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            (cpus + 4).min(32)
        }
        Some(v) => {
            let w = crate::ops::as_index(v, || {
                format!(
                    "'{}' object cannot be interpreted as an integer",
                    v.type_name()
                )
            })?;
            if w < 1 {
                return err(ExcKind::ValueError, "workers must be at least 1");
            }
            w as usize
        }
    };
    let n = items.len();
    if n == 0 {
        return Ok(Value::list(Vec::new()));
    }
    let job = Value::native(MapJob {
        func: a[0].clone(),
        items,
        next: AtomicUsize::new(0),
        results: Mutex::new((0..n).map(|_| None).collect()),
    });
    let worker = Value::Builtin(Arc::new(Builtin {
        name: "map_worker",
        func: map_worker,
        method: false,
        bound: Some(job.clone()),
        owner: None,
    }));
    let mut handles = Vec::new();
    for _ in 0..workers.min(n) {
        handles.push(start(
            vm,
            worker.clone(),
            Vec::new(),
            Vec::new(),
            None,
            false,
        )?);
    }
    for h in &handles {
        h.wait(vm, None)?;
        h.joined.store(true, Ordering::SeqCst);
    }
    let results = std::mem::take(&mut *native::<MapJob>(&job).expect("map job").results.lock());
    let mut out = Vec::with_capacity(n);
    for r in results {
        match r {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => return Err(e),
            None => out.push(Value::None),
        }
    }
    Ok(Value::list(out))
}

// ---------------------------------------------------------------------------------------------
// Synchronisation objects
// ---------------------------------------------------------------------------------------------

/// Turn a `SyncError` into the Toy exception (a Ctrl-C interruption becomes KeyboardInterrupt).
fn sync_err(vm: &mut Vm, e: SyncError) -> Arc<ExcObj> {
    match e {
        SyncError::Interrupted => vm.take_interrupt(),
        SyncError::Empty => ExcObj::with_args(ExcKind::Empty, Vec::new()),
        SyncError::Full => ExcObj::with_args(ExcKind::Full, Vec::new()),
        SyncError::BrokenBarrier => ExcObj::with_args(ExcKind::BrokenBarrierError, Vec::new()),
        other => {
            let kind = ExcKind::by_name(other.type_name()).unwrap_or(ExcKind::RuntimeError);
            ExcObj::new(kind, other.message())
        }
    }
}

fn float_arg(v: &Value) -> PResult<f64> {
    match crate::ops::to_f64(v)? {
        Some(f) => Ok(f),
        None => type_error(format!(
            "'{}' object cannot be interpreted as an integer",
            v.type_name()
        )),
    }
}

/// Run a blocking wait of a primitive without the GIL, interruptible by Ctrl-C.
fn wait_on<R>(vm: &mut Vm, f: impl FnOnce(&Interrupt) -> Result<R, SyncError>) -> PResult<R> {
    let check = vm.interrupt_check();
    let r = vm.blocking(|| f(&Interrupt::new(&check)));
    r.map_err(|e| sync_err(vm, e))
}

/// `acquire(blocking=True, timeout=-1)` arguments.
fn acquire_args(a: &[Value], kw: Kw) -> PResult<(bool, f64)> {
    let k = args::kw("acquire", kw, &["blocking", "timeout"])?;
    let blocking = a.get(1).or(k[0]).map(|v| v.truthy()).unwrap_or(true);
    let timeout = match a.get(2).or(k[1]) {
        None => -1.0,
        Some(v) => float_arg(v)?,
    };
    Ok((blocking, timeout))
}

macro_rules! native_type {
    ($t:ty, $name:literal) => {
        impl $t {
            fn of(a: &[Value]) -> PResult<&$t> {
                this::<$t>(a, $name)
            }
        }
    };
}

// --- Lock / RLock ---

struct LockObj(Arc<sync::Lock>);
struct RLockObj(Arc<sync::RLock>);
native_type!(LockObj, "Lock");
native_type!(RLockObj, "RLock");

fn new_lock(_vm: &mut Vm, _a: &[Value], _kw: Kw) -> PResult<Value> {
    Ok(Value::native(LockObj(Arc::new(sync::Lock::new()))))
}
fn new_rlock(_vm: &mut Vm, _a: &[Value], _kw: Kw) -> PResult<Value> {
    Ok(Value::native(RLockObj(Arc::new(sync::RLock::new()))))
}

fn lock_acquire(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let l = LockObj::of(a)?.0.clone();
    let (blocking, timeout) = acquire_args(a, kw)?;
    let t = sync::lock_timeout(blocking, timeout).map_err(|e| sync_err(vm, e))?;
    if l.try_acquire() {
        return Ok(Value::Bool(B64::True));
    }
    Ok(Value::bool(wait_on(vm, |i| l.acquire(blocking, t, i))?))
}
fn lock_release(vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    let l = LockObj::of(a)?;
    l.0.release().map_err(|e| sync_err(vm, e))?;
    Ok(Value::None)
}
fn lock_locked(_vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    Ok(Value::bool(LockObj::of(a)?.0.locked()))
}
fn rlock_acquire(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let l = RLockObj::of(a)?.0.clone();
    let (blocking, timeout) = acquire_args(a, kw)?;
    let t = sync::lock_timeout(blocking, timeout).map_err(|e| sync_err(vm, e))?;
    // RLock records its owner by OS thread, so it must be called on this thread: the wait
    // below runs on this same thread (without the GIL), which is what `blocking` does.
    Ok(Value::bool(wait_on(vm, |i| l.acquire(blocking, t, i))?))
}
fn rlock_release(vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    let l = RLockObj::of(a)?;
    l.0.release().map_err(|e| sync_err(vm, e))?;
    Ok(Value::None)
}

impl NativeObj for LockObj {
    fn type_name(&self) -> &'static str {
        "lock"
    }
    fn repr(&self) -> String {
        format!(
            "<{} _thread.lock object>",
            if self.0.locked() {
                "locked"
            } else {
                "unlocked"
            }
        )
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "acquire" => bound("acquire", lock_acquire, this),
            "release" => bound("release", lock_release, this),
            "locked" => bound("locked", lock_locked, this),
            _ => return None,
        })
    }
    fn enter(&self, vm: &mut Vm, _this: &Value) -> PResult<Value> {
        let l = self.0.clone();
        if !l.try_acquire() {
            wait_on(vm, |i| l.acquire(true, None, i))?;
        }
        Ok(Value::Bool(B64::True))
    }
    fn exit(&self, vm: &mut Vm, _exc: Option<&Arc<ExcObj>>) -> PResult<()> {
        self.0.release().map_err(|e| sync_err(vm, e))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl NativeObj for RLockObj {
    fn type_name(&self) -> &'static str {
        "RLock"
    }
    fn repr(&self) -> String {
        format!(
            "<{} _thread.RLock object count={}>",
            if self.0.count() > 0 {
                "locked"
            } else {
                "unlocked"
            },
            self.0.count()
        )
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "acquire" => bound("acquire", rlock_acquire, this),
            "release" => bound("release", rlock_release, this),
            _ => return None,
        })
    }
    fn enter(&self, vm: &mut Vm, _this: &Value) -> PResult<Value> {
        let l = self.0.clone();
        wait_on(vm, |i| l.acquire(true, None, i))?;
        Ok(Value::Bool(B64::True))
    }
    fn exit(&self, vm: &mut Vm, _exc: Option<&Arc<ExcObj>>) -> PResult<()> {
        self.0.release().map_err(|e| sync_err(vm, e))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// --- Semaphore ---

struct SemObj(Arc<sync::Semaphore>);
native_type!(SemObj, "Semaphore");

fn make_sem(vm: &mut Vm, a: &[Value], kw: Kw, bounded: bool) -> PResult<Value> {
    let k = args::kw("Semaphore", kw, &["value"])?;
    let value = match a.first().or(k[0]) {
        None => 1,
        Some(v) => crate::ops::as_index(v, || {
            format!(
                "'{}' object cannot be interpreted as an integer",
                v.type_name()
            )
        })?,
    };
    let s = if bounded {
        sync::Semaphore::bounded(value)
    } else {
        sync::Semaphore::new(value)
    };
    Ok(Value::native(SemObj(Arc::new(
        s.map_err(|e| sync_err(vm, e))?,
    ))))
}
fn new_semaphore(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    make_sem(vm, a, kw, false)
}
fn new_bounded_semaphore(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    make_sem(vm, a, kw, true)
}
fn sem_acquire(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = SemObj::of(a)?.0.clone();
    let k = args::kw("acquire", kw, &["blocking", "timeout"])?;
    let blocking = a.get(1).or(k[0]).map(|v| v.truthy()).unwrap_or(true);
    let timeout = match a.get(2).or(k[1]) {
        None | Some(Value::None) => None,
        Some(v) => Some(float_arg(v)?),
    };
    if !blocking && timeout.is_some() {
        return err(
            ExcKind::ValueError,
            "can't specify timeout for non-blocking acquire",
        );
    }
    let t = sync::wait_timeout(timeout);
    Ok(Value::bool(wait_on(vm, |i| s.acquire(blocking, t, i))?))
}
fn sem_release(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = SemObj::of(a)?;
    let k = args::kw("release", kw, &["n"])?;
    let n = match a.get(1).or(k[0]) {
        None => 1,
        Some(v) => crate::ops::as_index(v, || {
            format!(
                "'{}' object cannot be interpreted as an integer",
                v.type_name()
            )
        })?,
    };
    s.0.release(n).map_err(|e| sync_err(vm, e))?;
    Ok(Value::None)
}

impl NativeObj for SemObj {
    fn type_name(&self) -> &'static str {
        if self.0.is_bounded() {
            "BoundedSemaphore"
        } else {
            "Semaphore"
        }
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "acquire" => bound("acquire", sem_acquire, this),
            "release" => bound("release", sem_release, this),
            _ => return None,
        })
    }
    fn enter(&self, vm: &mut Vm, _this: &Value) -> PResult<Value> {
        let s = self.0.clone();
        wait_on(vm, |i| s.acquire(true, None, i))?;
        Ok(Value::Bool(B64::True))
    }
    fn exit(&self, vm: &mut Vm, _exc: Option<&Arc<ExcObj>>) -> PResult<()> {
        self.0.release(1).map_err(|e| sync_err(vm, e))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// --- Condition ---

struct CondObj(Arc<sync::Condition>);
native_type!(CondObj, "Condition");

fn new_condition(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::kw("Condition", kw, &["lock"])?;
    let cond = match a.first().or(k[0]) {
        None | Some(Value::None) => sync::Condition::default(),
        Some(v) => {
            if let Some(l) = native::<LockObj>(v) {
                sync::Condition::new(sync::CondLock::Lock(l.0.clone()))
            } else if let Some(l) = native::<RLockObj>(v) {
                sync::Condition::new(sync::CondLock::RLock(l.0.clone()))
            } else {
                return type_error(format!(
                    "Condition() argument must be a Lock or RLock, not {}",
                    v.type_name()
                ));
            }
        }
    };
    Ok(Value::native(CondObj(Arc::new(cond))))
}
fn cond_acquire(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let c = CondObj::of(a)?.0.clone();
    let (blocking, timeout) = acquire_args(a, kw)?;
    let t = sync::lock_timeout(blocking, timeout).map_err(|e| sync_err(vm, e))?;
    Ok(Value::bool(wait_on(vm, |i| c.acquire(blocking, t, i))?))
}
fn cond_release(vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    CondObj::of(a)?.0.release().map_err(|e| sync_err(vm, e))?;
    Ok(Value::None)
}
fn cond_wait(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let c = CondObj::of(a)?.0.clone();
    let k = args::kw("wait", kw, &["timeout"])?;
    let timeout = match a.get(1).or(k[0]) {
        None | Some(Value::None) => None,
        Some(v) => Some(float_arg(v)?),
    };
    let t = sync::wait_timeout(timeout);
    Ok(Value::bool(wait_on(vm, |i| c.wait(t, i))?))
}
fn cond_wait_for(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let c = CondObj::of(a)?.0.clone();
    let k = args::kw("wait_for", kw, &["predicate", "timeout"])?;
    let Some(pred) = a.get(1).or(k[0]).cloned() else {
        return type_error("wait_for() missing 1 required positional argument: 'predicate'");
    };
    let timeout = match a.get(2).or(k[1]) {
        None | Some(Value::None) => None,
        Some(v) => Some(float_arg(v)?),
    };
    let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.max(0.0)));
    loop {
        let r = vm.call(&pred, Vec::new())?;
        if r.truthy() {
            return Ok(r);
        }
        let remaining = match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return Ok(r);
                }
                Some(d - now)
            }
            None => None,
        };
        wait_on(vm, |i| c.wait(remaining, i))?;
    }
}
fn cond_notify(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let c = CondObj::of(a)?;
    let k = args::kw("notify", kw, &["n"])?;
    let n = match a.get(1).or(k[0]) {
        None => 1,
        Some(v) => crate::ops::as_index(v, || {
            format!(
                "'{}' object cannot be interpreted as an integer",
                v.type_name()
            )
        })?,
    };
    c.0.notify(n.max(0) as usize).map_err(|e| sync_err(vm, e))?;
    Ok(Value::None)
}
fn cond_notify_all(vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    CondObj::of(a)?
        .0
        .notify_all()
        .map_err(|e| sync_err(vm, e))?;
    Ok(Value::None)
}

impl NativeObj for CondObj {
    fn type_name(&self) -> &'static str {
        "Condition"
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "acquire" => bound("acquire", cond_acquire, this),
            "release" => bound("release", cond_release, this),
            "wait" => bound("wait", cond_wait, this),
            "wait_for" => bound("wait_for", cond_wait_for, this),
            "notify" => bound("notify", cond_notify, this),
            "notify_all" => bound("notify_all", cond_notify_all, this),
            _ => return None,
        })
    }
    fn enter(&self, vm: &mut Vm, _this: &Value) -> PResult<Value> {
        let c = self.0.clone();
        Ok(Value::bool(wait_on(vm, |i| c.acquire(true, None, i))?))
    }
    fn exit(&self, vm: &mut Vm, _exc: Option<&Arc<ExcObj>>) -> PResult<()> {
        self.0.release().map_err(|e| sync_err(vm, e))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// --- Event ---

struct EventObj(Arc<sync::Event>);
native_type!(EventObj, "Event");

fn new_event(_vm: &mut Vm, _a: &[Value], _kw: Kw) -> PResult<Value> {
    Ok(Value::native(EventObj(Arc::new(sync::Event::new()))))
}
fn event_set(_vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    EventObj::of(a)?.0.set();
    Ok(Value::None)
}
fn event_clear(_vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    EventObj::of(a)?.0.clear();
    Ok(Value::None)
}
fn event_is_set(_vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    Ok(Value::bool(EventObj::of(a)?.0.is_set()))
}
fn event_wait(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let e = EventObj::of(a)?.0.clone();
    let k = args::kw("wait", kw, &["timeout"])?;
    let timeout = match a.get(1).or(k[0]) {
        None | Some(Value::None) => None,
        Some(v) => Some(float_arg(v)?),
    };
    let t = sync::wait_timeout(timeout);
    Ok(Value::bool(wait_on(vm, |i| e.wait(t, i))?))
}

impl NativeObj for EventObj {
    fn type_name(&self) -> &'static str {
        "Event"
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "set" => bound("set", event_set, this),
            "clear" => bound("clear", event_clear, this),
            "is_set" => bound("is_set", event_is_set, this),
            "wait" => bound("wait", event_wait, this),
            _ => return None,
        })
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// --- Barrier ---

struct BarrierObj(Arc<sync::Barrier>);
native_type!(BarrierObj, "Barrier");

fn new_barrier(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::kw("Barrier", kw, &["parties", "action", "timeout"])?;
    let parties = match a.first().or(k[0]) {
        Some(v) => crate::ops::as_index(v, || {
            format!(
                "'{}' object cannot be interpreted as an integer",
                v.type_name()
            )
        })?,
        None => return type_error("Barrier() missing 1 required positional argument: 'parties'"),
    };
    if parties < 0 {
        return err(ExcKind::ValueError, "parties must be > 0");
    }
    let timeout = match a.get(2).or(k[2]) {
        None | Some(Value::None) => None,
        Some(v) => Some(Duration::from_secs_f64(float_arg(v)?.max(0.0))),
    };
    Ok(Value::native(BarrierObj(Arc::new(sync::Barrier::new(
        parties as usize,
        timeout,
    )))))
}
fn barrier_wait(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let b = BarrierObj::of(a)?.0.clone();
    let k = args::kw("wait", kw, &["timeout"])?;
    let timeout = match a.get(1).or(k[0]) {
        None | Some(Value::None) => None,
        Some(v) => Some(Duration::from_secs_f64(float_arg(v)?.max(0.0))),
    };
    Ok(Value::Int(wait_on(vm, |i| b.wait(timeout, i))? as i64))
}
fn barrier_reset(_vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    BarrierObj::of(a)?.0.reset();
    Ok(Value::None)
}
fn barrier_abort(_vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    BarrierObj::of(a)?.0.abort();
    Ok(Value::None)
}

impl NativeObj for BarrierObj {
    fn type_name(&self) -> &'static str {
        "Barrier"
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "wait" => bound("wait", barrier_wait, this),
            "reset" => bound("reset", barrier_reset, this),
            "abort" => bound("abort", barrier_abort, this),
            "parties" => Value::Int(self.0.parties() as i64),
            "n_waiting" => Value::Int(self.0.n_waiting() as i64),
            "broken" => Value::bool(self.0.broken()),
            _ => return None,
        })
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// --- Queue ---

struct QueueObj(Arc<sync::Queue<Value>>);
native_type!(QueueObj, "Queue");

fn new_queue(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::kw("Queue", kw, &["maxsize"])?;
    let maxsize = match a.first().or(k[0]) {
        None => 0,
        Some(v) => crate::ops::as_index(v, || {
            format!(
                "'{}' object cannot be interpreted as an integer",
                v.type_name()
            )
        })?,
    };
    Ok(Value::native(QueueObj(Arc::new(sync::Queue::new(maxsize)))))
}
fn block_timeout(
    vm: &mut Vm,
    block: Option<&Value>,
    timeout: Option<&Value>,
) -> PResult<(bool, Option<Duration>)> {
    let block = block.map(|v| v.truthy()).unwrap_or(true);
    let timeout = match timeout {
        None | Some(Value::None) => None,
        Some(v) => Some(float_arg(v)?),
    };
    let t = sync::queue_timeout(block, timeout).map_err(|e| sync_err(vm, e))?;
    Ok((block, t))
}
fn queue_put(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let q = QueueObj::of(a)?.0.clone();
    let k = args::kw("put", kw, &["item", "block", "timeout"])?;
    let Some(item) = a.get(1).or(k[0]).cloned() else {
        return type_error("put() missing 1 required positional argument: 'item'");
    };
    let (block, t) = block_timeout(vm, a.get(2).or(k[1]), a.get(3).or(k[2]))?;
    if !block || q.maxsize() <= 0 {
        q.put(item, false, None, &Interrupt::NEVER)
            .map_err(|e| sync_err(vm, e))?;
        return Ok(Value::None);
    }
    wait_on(vm, |i| q.put(item, block, t, i))?;
    Ok(Value::None)
}
fn queue_get(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let q = QueueObj::of(a)?.0.clone();
    let k = args::kw("get", kw, &["block", "timeout"])?;
    let (block, t) = block_timeout(vm, a.get(1).or(k[0]), a.get(2).or(k[1]))?;
    if let Ok(v) = q.get_nowait() {
        return Ok(v);
    }
    if !block {
        return Err(sync_err(vm, SyncError::Empty));
    }
    wait_on(vm, |i| q.get(block, t, i))
}
fn queue_put_nowait(vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    let q = QueueObj::of(a)?;
    args::exact("put_nowait", &a[1..], 1)?;
    q.0.put_nowait(a[1].clone()).map_err(|e| sync_err(vm, e))?;
    Ok(Value::None)
}
fn queue_get_nowait(vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    let q = QueueObj::of(a)?;
    q.0.get_nowait().map_err(|e| sync_err(vm, e))
}
fn queue_qsize(_vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    Ok(Value::Int(QueueObj::of(a)?.0.qsize() as i64))
}
fn queue_empty(_vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    Ok(Value::bool(QueueObj::of(a)?.0.empty()))
}
fn queue_full(_vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    Ok(Value::bool(QueueObj::of(a)?.0.full()))
}
fn queue_task_done(vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    QueueObj::of(a)?
        .0
        .task_done()
        .map_err(|e| sync_err(vm, e))?;
    Ok(Value::None)
}
fn queue_join(vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    let q = QueueObj::of(a)?.0.clone();
    wait_on(vm, |i| q.join(i))?;
    Ok(Value::None)
}

impl NativeObj for QueueObj {
    fn type_name(&self) -> &'static str {
        "Queue"
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "put" => bound("put", queue_put, this),
            "get" => bound("get", queue_get, this),
            "put_nowait" => bound("put_nowait", queue_put_nowait, this),
            "get_nowait" => bound("get_nowait", queue_get_nowait, this),
            "qsize" => bound("qsize", queue_qsize, this),
            "empty" => bound("empty", queue_empty, this),
            "full" => bound("full", queue_full, this),
            "task_done" => bound("task_done", queue_task_done, this),
            "join" => bound("join", queue_join, this),
            "maxsize" => Value::Int(self.0.maxsize()),
            _ => return None,
        })
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// ---------------------------------------------------------------------------------------------
// The `gil` module
// ---------------------------------------------------------------------------------------------

fn gil_stats(vm: &mut Vm, _a: &[Value], _kw: Kw) -> PResult<Value> {
    vm.report_instructions();
    let s = vm.rt.gil.stats();
    let mut threads = Vec::new();
    for t in &s.threads {
        let mut d = DictTable::new();
        for (k, v) in [
            ("name", Value::str(t.name.clone())),
            ("hold_seconds", Value::float(t.hold_seconds)),
            ("wait_seconds", Value::float(t.wait_seconds)),
            ("instructions", Value::Int(t.instructions as i64)),
        ] {
            let key = Value::str(k);
            d.insert(hash_value(&key)?, key, v);
        }
        threads.push(Value::dict(d));
    }
    let mut d = DictTable::new();
    for (k, v) in [
        ("switches", Value::Int(s.switches as i64)),
        ("drop_requests", Value::Int(s.drop_requests as i64)),
        ("interval", Value::float(vm.rt.switch_interval())),
        ("threads", Value::list(threads)),
    ] {
        let key = Value::str(k);
        d.insert(hash_value(&key)?, key, v);
    }
    Ok(Value::dict(d))
}

/// `import gil`.
pub fn gil_module() -> Module {
    Module {
        name: "gil".to_string(),
        attrs: Mutex::new(vec![(
            Arc::from("stats"),
            crate::builtins::builtin("stats", gil_stats),
        )]),
    }
}
