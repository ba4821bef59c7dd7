//! The `process` builtin (spec §10): fork-based processes, each with its own interpreter and
//! GIL, and the ways they talk and share memory.
//!
//! - `process(fn, *args, name=None, daemon=False, **kwargs)` forks at once and returns a
//!   Process handle (`join pid name daemon exitcode is_alive terminate kill`); see `child.rs`.
//! - Members: `Pipe Queue Lock RLock Semaphore Event Value Array current map ProcessError`;
//!   see `objects.rs` (Toy objects), `conn.rs` (pipes), `shm.rs` (shared memory and
//!   process-shared locks), `wire.rs` (what crosses a process boundary), `sys.rs` (the only
//!   `unsafe` code: fork, mmap, futex, a few syscalls).
//!
//! Every wait happens in slices of at most [`SLICE`] inside `Vm::blocking` (the GIL is free
//! meanwhile) and looks for Ctrl-C between slices.

pub mod child;
pub mod conn;
mod objects;
pub mod shm;
pub mod sys;
pub mod wire;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::exceptions::{ExcKind, ExcObj};
use crate::ops;
use crate::value::*;
use crate::vm::Vm;

pub(crate) type Kw<'a> = &'a [(Arc<str>, Value)];

/// The longest a blocking wait sleeps before it looks for Ctrl-C again.
pub const SLICE: Duration = Duration::from_millis(20);

/// Raise KeyboardInterrupt if Ctrl-C was pressed (through the VM's own signal handling).
pub fn check_interrupt(vm: &mut Vm) -> PResult<()> {
    if vm.rt.interrupted.load(Ordering::SeqCst) {
        // `sleep` looks at the interrupt first and raises through the eval breaker.
        vm.sleep(Duration::ZERO)?;
    }
    Ok(())
}

/// How deep a value may nest to be sent (the recursion limit, as CPython's pickler).
pub fn max_depth(vm: &Vm) -> usize {
    vm.rt.recursion_limit.load(Ordering::Relaxed).max(1)
}

/// What a child does after its function, as the end of a program (and as the shim's child):
/// wait for its non-daemon threads (reporting errors of threads never joined), then for its own
/// non-daemon children, terminate its daemon children, reap them.
pub(crate) fn end_of_child_program(vm: &mut Vm) {
    // A child forked from a non-main thread still has that thread marked non-main, and
    // `thread::at_exit` would wait for it (itself): skip the thread wait there until the fork
    // hook makes the forking thread the child's main thread (as CPython's threading does).
    if vm.is_main() {
        crate::thread::at_exit(vm);
    }
    child::at_exit(vm);
}

/// The end of the program (call before the final flush of standard output: children's
/// output comes before the parent's last buffered lines, as in CPython).
pub fn at_exit(vm: &mut Vm) {
    child::at_exit(vm);
}

/// The `process` builtin object.
pub fn builtin_value() -> Value {
    Value::native(ProcessBuiltin)
}

// ---------------------------------------------------------------------------------------------
// Argument helpers
// ---------------------------------------------------------------------------------------------

/// Bind positional and keyword arguments to `names` (Python's messages for the mistakes).
pub(crate) fn bind(
    fname: &str,
    a: &[Value],
    kw: Kw,
    names: &[&str],
) -> PResult<Vec<Option<Value>>> {
    if a.len() > names.len() {
        return ops::type_error(format!(
            "{}() takes at most {} argument{} ({} given)",
            fname,
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            a.len()
        ));
    }
    let mut out: Vec<Option<Value>> = vec![None; names.len()];
    for (i, v) in a.iter().enumerate() {
        out[i] = Some(v.clone());
    }
    for (k, v) in kw {
        match names.iter().position(|n| **n == **k) {
            Some(i) if out[i].is_some() => {
                return ops::type_error(format!(
                    "{}() got multiple values for argument '{}'",
                    fname, k
                ))
            }
            Some(i) => out[i] = Some(v.clone()),
            None => {
                return ops::type_error(format!(
                    "{}() got an unexpected keyword argument '{}'",
                    fname, k
                ))
            }
        }
    }
    Ok(out)
}

/// A timeout argument: None (or absent) waits forever.
pub(crate) fn timeout_arg(v: Option<&Value>) -> PResult<Option<f64>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(Value::Int(i)) => Ok(Some(*i as f64)),
        Some(Value::Bool(b)) => Ok(Some(b.get() as i64 as f64)),
        Some(Value::Float(f)) if f.get().is_nan() => {
            ops::err(ExcKind::ValueError, "Invalid value NaN (not a number)")
        }
        Some(Value::Float(f)) => Ok(Some(f.get())),
        Some(Value::BigInt(_)) => Ok(Some(1e18)),
        Some(v) => ops::type_error(format!(
            "'{}' object cannot be interpreted as an integer",
            v.type_name()
        )),
    }
}

pub(crate) fn method(name: &'static str, func: BuiltinFnPtr, this: &Value) -> Value {
    Value::Builtin(Arc::new(Builtin {
        name,
        func,
        method: false,
        bound: Some(this.clone()),
        owner: Some("process"),
    }))
}

fn function(name: &'static str, func: BuiltinFnPtr) -> Value {
    Value::Builtin(Arc::new(Builtin {
        name,
        func,
        method: false,
        bound: None,
        owner: Some("process"),
    }))
}

/// The native object of type `T` that a method is bound to (args[0]).
pub(crate) fn this<T: 'static>(a: &[Value]) -> PResult<&T> {
    if let Some(Value::Native(n)) = a.first() {
        if let Some(x) = n.0.as_any().downcast_ref::<T>() {
            return Ok(x);
        }
    }
    ops::type_error("descriptor requires a process object")
}

fn is_callable(v: &Value) -> bool {
    matches!(
        v,
        Value::Func(_) | Value::Builtin(_) | Value::Type(_) | Value::Native(_)
    )
}

fn not_callable<T>(v: &Value) -> PResult<T> {
    ops::type_error(format!("'{}' object is not callable", v.type_name()))
}

// ---------------------------------------------------------------------------------------------
// The process object
// ---------------------------------------------------------------------------------------------

struct ProcessBuiltin;

impl NativeObj for ProcessBuiltin {
    fn is_callable(&self) -> bool {
        true
    }
    fn type_name(&self) -> &'static str {
        "function"
    }
    fn repr(&self) -> String {
        "<function process>".to_string()
    }
    fn get_attr(&self, _this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "Pipe" => function("Pipe", objects::p_pipe),
            "Queue" => function("Queue", objects::p_queue),
            "Lock" => function("Lock", objects::p_lock),
            "RLock" => function("RLock", objects::p_rlock),
            "Semaphore" => function("Semaphore", objects::p_semaphore),
            "Event" => function("Event", objects::p_event),
            "Value" => function("Value", objects::p_value),
            "Array" => function("Array", objects::p_array),
            "current" => function("current", p_current),
            "map" => function("map", p_map),
            "ProcessError" => Value::Type(TypeWord::new(TypeKind::Exc(ExcKind::ProcessError))),
            "__name__" => Value::str("process"),
            _ => return None,
        })
    }
    fn enter(&self, _vm: &mut Vm, _this: &Value) -> PResult<Value> {
        objects::no_with("function")
    }
    fn call(
        &self,
        vm: &mut Vm,
        _this: &Value,
        args: &[Value],
        kwargs: &[(Arc<str>, Value)],
    ) -> Option<PResult<Value>> {
        Some(process_call(vm, args, kwargs))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// `process(fn, *args, name=None, daemon=False, **kwargs)`.
fn process_call(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let Some(f) = a.first().cloned() else {
        return ops::type_error("process() missing 1 required positional argument: 'fn'");
    };
    let mut name = None;
    let mut daemon = false;
    let mut kwargs = Vec::new();
    for (k, v) in kw {
        match &**k {
            "name" => {
                if !matches!(v, Value::None) {
                    name = Some(ops::to_str(v));
                }
            }
            "daemon" => daemon = v.truthy(),
            _ => kwargs.push((k.clone(), v.clone())),
        }
    }
    if !is_callable(&f) {
        return not_callable(&f);
    }
    let args = a[1..].to_vec();
    let h = child::spawn(
        vm,
        name,
        daemon,
        Box::new(move |vm: &mut Vm| vm.call_value(&f, args, kwargs)),
    )?;
    Ok(Value::native(objects::ProcObj(h)))
}

/// `process.current()`.
fn p_current(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    bind("current", a, kw, &[])?;
    Ok(Value::native(match child::current() {
        Some(me) => objects::SelfProc {
            name: me.name,
            daemon: me.daemon,
            main: false,
        },
        None => objects::SelfProc {
            name: "MainProcess".into(),
            daemon: false,
            main: true,
        },
    }))
}

/// `process.map(fn, iterable, workers=None)`: the items run in forked worker processes that
/// claim them one at a time from a shared counter; results in item order; the error of the
/// lowest-indexed failing item is raised after every item is done.
fn p_map(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = bind("map", a, kw, &["fn", "iterable", "workers"])?;
    let (Some(f), Some(it)) = (k[0].clone(), k[1].clone()) else {
        let missing = if k[0].is_none() {
            "'fn' and 'iterable'"
        } else {
            "'iterable'"
        };
        let n = if k[0].is_none() { 2 } else { 1 };
        return ops::type_error(format!(
            "_process_map() missing {} required positional argument{}: {}",
            n,
            if n == 1 { "" } else { "s" },
            missing
        ));
    };
    let items = Arc::new(vm.collect_iterable(&it)?);
    let n = items.len();
    let workers: i64 = match &k[2] {
        None | Some(Value::None) => std::thread::available_parallelism()
            .map(|n| n.get() as i64)
            .unwrap_or(1),
        Some(Value::Int(i)) => *i,
        Some(Value::Bool(b)) => b.get() as i64,
        Some(Value::Float(x)) if x.get().is_finite() => x.get().trunc() as i64,
        Some(Value::BigInt(_)) => i64::MAX,
        Some(v) => {
            return ops::type_error(format!(
                "int() argument must be a string, a bytes-like object or a real number, not '{}'",
                v.type_name()
            ))
        }
    };
    if workers < 1 {
        return ops::err(ExcKind::ValueError, "workers must be at least 1");
    }
    if n == 0 {
        return Ok(Value::list(vec![]));
    }
    let (counter, _lock) = shm::Cells::new(1).map_err(|e| ExcObj::os_error(&e, None))?;
    let counter = Arc::new(counter);
    let mut handles = Vec::new();
    for _ in 0..(workers as usize).min(n) {
        let f = f.clone();
        let items = items.clone();
        let counter = counter.clone();
        let body: child::Body = Box::new(move |vm: &mut Vm| {
            let depth = max_depth(vm).saturating_sub(2).max(1);
            let mut out = Vec::new();
            loop {
                let i = counter.fetch_add(0, 1) as usize;
                if i >= items.len() {
                    break;
                }
                let r = vm.call(&f, vec![items[i].clone()]);
                let entry = match r {
                    Ok(v) => match wire::check_sendable(&v, depth) {
                        Ok(()) => (Value::Bool(B64::True), v),
                        Err(e) => (Value::Bool(B64::False), Value::Exc(e.to_exc())),
                    },
                    Err(e) if e.kind.is_subclass(ExcKind::Exception) => {
                        (Value::Bool(B64::False), Value::Exc(e))
                    }
                    Err(e) => return Err(e),
                };
                out.push(Value::tuple(vec![Value::Int(i as i64), entry.0, entry.1]));
            }
            Ok(Value::list(out))
        });
        handles.push(child::spawn(vm, None, false, body)?);
    }
    let mut results: Vec<Value> = vec![Value::None; n];
    let mut errors: Vec<Option<Arc<ExcObj>>> = vec![None; n];
    let mut first_failure: Option<Arc<ExcObj>> = None;
    for h in &handles {
        let got = match h.join(vm, None, "None") {
            Ok(v) => v,
            Err(e) => {
                if first_failure.is_none() {
                    first_failure = Some(e);
                }
                continue;
            }
        };
        let Value::List(l) = got else { continue };
        for entry in l.items.lock().iter() {
            let Value::Tuple(t) = entry else { continue };
            if t.items.len() != 3 {
                continue;
            }
            let Value::Int(i) = t.items[0] else { continue };
            let i = i as usize;
            if i >= n {
                continue;
            }
            match (&t.items[1], &t.items[2]) {
                (Value::Bool(B64::True), v) => results[i] = v.clone(),
                (_, Value::Exc(e)) => errors[i] = Some(e.clone()),
                _ => {}
            }
        }
    }
    if let Some(e) = errors.into_iter().flatten().next() {
        return Err(ExcObj::with_args(e.kind, e.args.clone()));
    }
    if let Some(e) = first_failure {
        return Err(e);
    }
    Ok(Value::list(results))
}
