//! The importable modules (spec §7): `sys`, `math`, `time`, `os`, `random`. A module is created
//! on first import and cached in the runtime, so every thread sees the same one.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;

use num_bigint::BigInt;
use num_traits::{FromPrimitive, Signed, ToPrimitive, Zero};

use crate::builtins::{args, builtin};
use crate::exceptions::{ExcKind, ExcObj};
use crate::ops::{self, err, type_error};
use crate::value::*;
use crate::vm::Vm;

type Kw<'a> = &'a [(Arc<str>, Value)];

pub fn import(vm: &mut Vm, name: &str) -> PResult<Value> {
    if let Some(m) = vm.rt.modules.lock().get(name) {
        return Ok(m.clone());
    }
    let m = match name {
        "sys" => make_sys(vm),
        "math" => make_math(),
        "time" => make_time(),
        "os" => make_os(),
        "random" => make_random(),
        "gil" => crate::thread::gil_module(),
        "subprocess" => crate::subprocess::module(),
        _ => {
            return err(
                ExcKind::ModuleNotFoundError,
                // `import a.b` names the first module that is missing: `a`.
                format!(
                    "No module named '{}'",
                    name.split('.').next().unwrap_or(name)
                ),
            );
        }
    };
    let v = Value::Module(Arc::new(m));
    vm.rt.modules.lock().insert(name.to_string(), v.clone());
    Ok(v)
}

fn module(name: &str, fns: &[(&'static str, BuiltinFnPtr)], extra: Vec<(&str, Value)>) -> Module {
    let mut attrs: Vec<(Arc<str>, Value)> = Vec::new();
    for (n, f) in fns {
        let v = Value::Builtin(Arc::new(Builtin {
            name: n,
            func: *f,
            method: false,
            bound: None,
            owner: None,
        }));
        attrs.push((Arc::from(*n), v));
    }
    for (n, v) in extra {
        attrs.push((Arc::from(n), v));
    }
    Module {
        name: name.to_string(),
        attrs: Mutex::new(attrs),
    }
}

fn num_arg(fname: &str, v: &Value) -> PResult<f64> {
    match ops::to_f64(v)? {
        Some(f) => Ok(f),
        None => {
            type_error(format!("must be real number, not {}", v.type_name())).inspect_err(|_e| {
                let _ = fname;
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// sys
// ---------------------------------------------------------------------------------------------

struct StdStream {
    err: bool,
}

fn stream_write(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let is_err = matches!(a.first(), Some(Value::Native(n)) if n.0.type_name() == "stderr");
    args::onearg("TextIOWrapper.write", &a[1..], kw)?;
    let s = match &a[1] {
        Value::Str(s) => s.clone(),
        Value::None => return type_error("write() argument must be str, not None"),
        v => {
            return type_error(format!(
                "write() argument must be str, not {}",
                v.type_name()
            ))
        }
    };
    if is_err {
        vm.rt.stdout.lock().flush();
        crate::builtins::io::write_stderr(&s.s);
    } else {
        vm.rt.stdout.lock().write(&s.s);
    }
    Ok(Value::Int(s.char_len() as i64))
}

fn stream_flush(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::noargs("TextIOWrapper.flush", &a[1.min(a.len())..], kw)?;
    vm.rt.stdout.lock().flush();
    Ok(Value::None)
}

impl NativeObj for StdStream {
    fn type_name(&self) -> &'static str {
        if self.err {
            "stderr"
        } else {
            "stdout"
        }
    }
    fn repr(&self) -> String {
        format!(
            "<_io.TextIOWrapper name='<{}>' mode='w' encoding='utf-8'>",
            self.type_name()
        )
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        let f: BuiltinFnPtr = match name {
            "write" => stream_write,
            "flush" => stream_flush,
            _ => return None,
        };
        Some(Value::Builtin(Arc::new(Builtin {
            name: if name == "write" { "write" } else { "flush" },
            func: f,
            method: false,
            bound: Some(this.clone()),
            owner: None,
        })))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn make_sys(vm: &mut Vm) -> Module {
    let argv = Value::list(vm.rt.argv.iter().map(|a| Value::str(a.clone())).collect());
    module(
        "sys",
        &[
            ("exit", sys_exit),
            ("setrecursionlimit", sys_setrecursionlimit),
            ("getrecursionlimit", sys_getrecursionlimit),
            ("setswitchinterval", sys_setswitchinterval),
            ("getswitchinterval", sys_getswitchinterval),
        ],
        vec![
            ("argv", argv),
            ("stdout", Value::native(StdStream { err: false })),
            ("stderr", Value::native(StdStream { err: true })),
            ("maxsize", Value::Int(i64::MAX)),
            ("platform", Value::str("linux")),
            (
                "version",
                Value::str(concat!("Toy ", env!("CARGO_PKG_VERSION"))),
            ),
        ],
    )
}

fn sys_exit(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::positional("sys.exit", "exit", a, kw, 0, 1)?;
    // sys.exit(None) raises SystemExit() with no arguments, as CPython does.
    let args = match a.first() {
        None | Some(Value::None) => Vec::new(),
        Some(v) => vec![v.clone()],
    };
    Err(ExcObj::with_args(ExcKind::SystemExit, args))
}

fn sys_setrecursionlimit(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::onearg("sys.setrecursionlimit", a, kw)?;
    if let Value::BigInt(_) = &a[0] {
        return err(
            ExcKind::OverflowError,
            "Python int too large to convert to C int",
        );
    }
    let n = ops::as_index(&a[0], || {
        format!(
            "'{}' object cannot be interpreted as an integer",
            a[0].type_name()
        )
    })?;
    if n < 1 {
        return err(
            ExcKind::ValueError,
            "recursion limit must be greater or equal than 1",
        );
    }
    vm.rt.recursion_limit.store(n as usize, Ordering::Relaxed);
    crate::ops::set_recursion_limit(n as usize);
    Ok(Value::None)
}

fn sys_getrecursionlimit(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::noargs("sys.getrecursionlimit", a, kw)?;
    Ok(Value::Int(
        vm.rt.recursion_limit.load(Ordering::Relaxed) as i64
    ))
}

fn sys_setswitchinterval(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::onearg("sys.setswitchinterval", a, kw)?;
    let s = num_arg("setswitchinterval", &a[0])?;
    if s <= 0.0 {
        return err(
            ExcKind::ValueError,
            "switch interval must be strictly positive",
        );
    }
    vm.rt.set_switch_interval(s);
    Ok(Value::None)
}

fn sys_getswitchinterval(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::noargs("sys.getswitchinterval", a, kw)?;
    Ok(Value::float(vm.rt.switch_interval()))
}

// ---------------------------------------------------------------------------------------------
// math
// ---------------------------------------------------------------------------------------------

fn make_math() -> Module {
    module(
        "math",
        &[
            ("sqrt", m_sqrt),
            ("floor", m_floor),
            ("ceil", m_ceil),
            ("trunc", m_trunc),
            ("isqrt", m_isqrt),
            ("log", m_log),
            ("log2", m_log2),
            ("log10", m_log10),
            ("exp", m_exp),
            ("sin", m_sin),
            ("cos", m_cos),
            ("tan", m_tan),
            ("atan", m_atan),
            ("atan2", m_atan2),
            ("fabs", m_fabs),
            ("pow", m_pow),
            ("hypot", m_hypot),
            ("gcd", m_gcd),
            ("factorial", m_factorial),
            ("isnan", m_isnan),
            ("isinf", m_isinf),
            ("isfinite", m_isfinite),
            ("isclose", m_isclose),
        ],
        vec![
            ("pi", Value::float(std::f64::consts::PI)),
            ("e", Value::float(std::f64::consts::E)),
            ("tau", Value::float(std::f64::consts::TAU)),
            ("inf", Value::float(f64::INFINITY)),
            ("nan", Value::float(f64::NAN)),
        ],
    )
}

fn one(name: &str, a: &[Value], kw: Kw) -> PResult<f64> {
    args::onearg(&format!("math.{}", name), a, kw)?;
    num_arg(name, &a[0])
}

fn domain<T>() -> PResult<T> {
    err(ExcKind::ValueError, "math domain error")
}

fn m_sqrt(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let x = one("sqrt", a, kw)?;
    if x < 0.0 {
        return domain();
    }
    Ok(Value::float(x.sqrt()))
}

fn int_round(a: &[Value], kw: Kw, name: &str, f: fn(f64) -> f64) -> PResult<Value> {
    args::onearg(&format!("math.{}", name), a, kw)?;
    if let Value::Int(_) | Value::BigInt(_) = &a[0] {
        return Ok(a[0].clone());
    }
    if let Value::Bool(b) = &a[0] {
        return Ok(Value::Int(b.get() as i64));
    }
    if name == "trunc" && !matches!(a[0], Value::Float(_)) {
        return type_error(format!(
            "type {} doesn't define __trunc__ method",
            a[0].type_name()
        ));
    }
    let x = num_arg(name, &a[0])?;
    if x.is_nan() {
        return err(ExcKind::ValueError, "cannot convert float NaN to integer");
    }
    if x.is_infinite() {
        return err(
            ExcKind::OverflowError,
            "cannot convert float infinity to integer",
        );
    }
    Ok(crate::builtins::float_to_int(f(x)))
}

fn m_floor(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    int_round(a, kw, "floor", f64::floor)
}
fn m_ceil(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    int_round(a, kw, "ceil", f64::ceil)
}
fn m_trunc(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    int_round(a, kw, "trunc", f64::trunc)
}

fn m_isqrt(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::onearg("math.isqrt", a, kw)?;
    let Some(n) = ops::to_bigint(&a[0]) else {
        return type_error(format!(
            "'{}' object cannot be interpreted as an integer",
            a[0].type_name()
        ));
    };
    if num_traits::Signed::is_negative(&n) {
        return err(ExcKind::ValueError, "isqrt() argument must be nonnegative");
    }
    Ok(Value::from_bigint(n.sqrt()))
}

/// CPython's loghelper: ints too large for a float are taken as x * 2**e (x in [0.5, 1)),
/// giving f(x) + f(2) * e; zero and negative numbers are a domain error.
fn loghelper(v: &Value, name: &str, f: fn(f64) -> f64) -> PResult<f64> {
    if let (Value::BigInt(b), Err(_)) = (v, ops::to_f64(v)) {
        if !b.is_positive() {
            return domain();
        }
        let bits = b.bits();
        let shift = bits.saturating_sub(64);
        let top: BigInt = &**b >> shift;
        let x = top.to_f64().unwrap_or(1.0) / 2f64.powi(bits.min(64) as i32);
        return Ok(f(x) + f(2.0) * bits as f64);
    }
    let x = num_arg(name, v)?;
    if x <= 0.0 {
        return domain();
    }
    Ok(f(x))
}

fn m_log(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::no_kwargs("log", kw)?;
    if a.is_empty() || a.len() > 2 {
        return type_error("math.log requires 1 to 2 arguments");
    }
    let x = loghelper(&a[0], "log", f64::ln)?;
    match a.get(1) {
        Some(b) => {
            let lb = loghelper(b, "log", f64::ln)?;
            if lb == 0.0 {
                return err(ExcKind::ZeroDivisionError, "float division by zero");
            }
            Ok(Value::float(x / lb))
        }
        None => Ok(Value::float(x)),
    }
}

fn m_log2(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::onearg("math.log2", a, kw)?;
    Ok(Value::float(loghelper(&a[0], "log2", f64::log2)?))
}
fn m_log10(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::onearg("math.log10", a, kw)?;
    Ok(Value::float(loghelper(&a[0], "log10", f64::log10)?))
}
fn m_exp(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let x = one("exp", a, kw)?;
    let r = x.exp();
    if r.is_infinite() && x.is_finite() {
        return err(ExcKind::OverflowError, "math range error");
    }
    Ok(Value::float(r))
}
fn m_sin(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let x = one("sin", a, kw)?;
    if x.is_infinite() {
        return domain();
    }
    Ok(Value::float(x.sin()))
}
fn m_cos(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let x = one("cos", a, kw)?;
    if x.is_infinite() {
        return domain();
    }
    Ok(Value::float(x.cos()))
}
fn m_tan(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let x = one("tan", a, kw)?;
    if x.is_infinite() {
        return domain();
    }
    Ok(Value::float(x.tan()))
}
fn m_atan(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    Ok(Value::float(one("atan", a, kw)?.atan()))
}
fn m_atan2(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::positional("math.atan2", "atan2", a, kw, 2, 2)?;
    Ok(Value::float(
        num_arg("atan2", &a[0])?.atan2(num_arg("atan2", &a[1])?),
    ))
}
fn m_fabs(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    Ok(Value::float(one("fabs", a, kw)?.abs()))
}
fn m_pow(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::positional("math.pow", "pow", a, kw, 2, 2)?;
    let (x, y) = (num_arg("pow", &a[0])?, num_arg("pow", &a[1])?);
    // CPython's math_pow: IEEE specials handled directly, libm for finite**finite.
    if !x.is_finite() || !y.is_finite() {
        let r = if x.is_nan() {
            if y == 0.0 {
                1.0
            } else {
                x
            }
        } else if y.is_nan() {
            if x == 1.0 {
                1.0
            } else {
                y
            }
        } else if x.is_infinite() {
            let odd_y = y.is_finite() && (y.abs() % 2.0) == 1.0;
            if y > 0.0 {
                if odd_y {
                    x
                } else {
                    x.abs()
                }
            } else if y == 0.0 {
                1.0
            } else if odd_y {
                0.0f64.copysign(x)
            } else {
                0.0
            }
        } else if x.abs() == 1.0 {
            1.0
        } else if y > 0.0 && x.abs() > 1.0 {
            y
        } else if y < 0.0 && x.abs() < 1.0 {
            -y
        } else {
            0.0
        };
        return Ok(Value::float(r));
    }
    let r = x.powf(y);
    if r.is_nan() || (r.is_infinite() && x == 0.0) {
        return domain();
    }
    if r.is_infinite() {
        return err(ExcKind::OverflowError, "math range error");
    }
    Ok(Value::float(r))
}
fn m_hypot(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::no_kwargs("math.hypot", kw)?;
    let mut acc = 0.0f64;
    for v in a {
        let x = num_arg("hypot", v)?;
        acc = acc.hypot(x);
    }
    Ok(Value::float(acc))
}
fn m_gcd(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::no_kwargs("math.gcd", kw)?;
    let mut g = num_bigint::BigInt::from(0);
    for v in a {
        let Some(n) = ops::to_bigint(v) else {
            return type_error(format!(
                "'{}' object cannot be interpreted as an integer",
                v.type_name()
            ));
        };
        g = num_integer::Integer::gcd(&g, &n);
    }
    Ok(Value::from_bigint(g))
}
fn m_factorial(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::onearg("math.factorial", a, kw)?;
    let n = match &a[0] {
        Value::Int(i) => *i,
        Value::Bool(b) => b.get() as i64,
        Value::Float(_) => return type_error("'float' object cannot be interpreted as an integer"),
        Value::BigInt(b) if b.is_negative() => {
            return err(
                ExcKind::ValueError,
                "factorial() not defined for negative values",
            )
        }
        Value::BigInt(_) => {
            return err(
                ExcKind::OverflowError,
                "factorial() argument should not exceed 9223372036854775807",
            )
        }
        v => {
            return type_error(format!(
                "'{}' object cannot be interpreted as an integer",
                v.type_name()
            ))
        }
    };
    if n < 0 {
        return err(
            ExcKind::ValueError,
            "factorial() not defined for negative values",
        );
    }
    let mut acc = num_bigint::BigInt::from(1);
    for i in 2..=n {
        acc *= i;
    }
    Ok(Value::from_bigint(acc))
}
fn m_isnan(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    Ok(Value::bool(one("isnan", a, kw)?.is_nan()))
}
fn m_isinf(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    Ok(Value::bool(one("isinf", a, kw)?.is_infinite()))
}
fn m_isfinite(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    Ok(Value::bool(one("isfinite", a, kw)?.is_finite()))
}
fn m_isclose(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::parse("isclose", a, kw, &["a", "b", "rel_tol", "abs_tol"], 0, 2, 2)?;
    let k: Vec<Option<&Value>> = k.iter().map(|v| v.as_ref()).collect();
    let (x, y) = (
        num_arg("isclose", k[0].unwrap())?,
        num_arg("isclose", k[1].unwrap())?,
    );
    let rel = match k[2] {
        Some(v) => num_arg("isclose", v)?,
        None => 1e-9,
    };
    let abs = match k[3] {
        Some(v) => num_arg("isclose", v)?,
        None => 0.0,
    };
    if rel < 0.0 || abs < 0.0 {
        return err(ExcKind::ValueError, "tolerances must be non-negative");
    }
    if x == y {
        return Ok(Value::Bool(B64::True));
    }
    if x.is_infinite() || y.is_infinite() {
        return Ok(Value::Bool(B64::False));
    }
    let d = (x - y).abs();
    Ok(Value::bool(
        d <= (rel * y.abs()).max(rel * x.abs()) || d <= abs,
    ))
}

// ---------------------------------------------------------------------------------------------
// time
// ---------------------------------------------------------------------------------------------

fn make_time() -> Module {
    module(
        "time",
        &[
            ("time", t_time),
            ("perf_counter", t_perf_counter),
            ("monotonic", t_monotonic),
            ("sleep", t_sleep),
            ("process_time", t_process_time),
            ("thread_time", t_thread_time),
        ],
        Vec::new(),
    )
}

fn t_time(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::noargs("time.time", a, kw)?;
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Value::float(d.as_secs_f64()))
}

fn clock(id: libc::clockid_t) -> f64 {
    nix::time::clock_gettime(nix::time::ClockId::from_raw(id))
        .map(|t| t.tv_sec() as f64 + t.tv_nsec() as f64 * 1e-9)
        .unwrap_or(0.0)
}

fn t_perf_counter(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::noargs("time.perf_counter", a, kw)?;
    Ok(Value::float(clock(libc::CLOCK_MONOTONIC)))
}
fn t_monotonic(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::noargs("time.monotonic", a, kw)?;
    Ok(Value::float(clock(libc::CLOCK_MONOTONIC)))
}
fn t_process_time(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::noargs("time.process_time", a, kw)?;
    Ok(Value::float(clock(libc::CLOCK_PROCESS_CPUTIME_ID)))
}
fn t_thread_time(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::noargs("time.thread_time", a, kw)?;
    Ok(Value::float(clock(libc::CLOCK_THREAD_CPUTIME_ID)))
}

fn t_sleep(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::onearg("time.sleep", a, kw)?;
    let too_large = || {
        err(
            ExcKind::OverflowError,
            "timestamp too large to convert to C _PyTime_t",
        )
    };
    let s = match &a[0] {
        Value::Float(f) => {
            if f.get().is_nan() {
                return err(ExcKind::ValueError, "Invalid value NaN (not a number)");
            }
            if (f.get() * 1e9).abs() >= 9.223_372_036_854_776e18 {
                return err(
                    ExcKind::OverflowError,
                    "timestamp out of range for platform time_t",
                );
            }
            f.get()
        }
        Value::Int(i) => {
            if i.checked_mul(1_000_000_000).is_none() {
                return too_large();
            }
            *i as f64
        }
        Value::Bool(b) => b.get() as i64 as f64,
        Value::BigInt(_) => return too_large(),
        v => {
            return type_error(format!(
                "'{}' object cannot be interpreted as an integer",
                v.type_name()
            ))
        }
    };
    if s < 0.0 {
        return err(ExcKind::ValueError, "sleep length must be non-negative");
    }
    vm.sleep(std::time::Duration::from_secs_f64(s))?;
    Ok(Value::None)
}

// ---------------------------------------------------------------------------------------------
// os
// ---------------------------------------------------------------------------------------------

fn make_os() -> Module {
    module(
        "os",
        &[
            ("getpid", os_getpid),
            ("getppid", os_getppid),
            ("cpu_count", os_cpu_count),
            ("getenv", os_getenv),
        ],
        vec![("sep", Value::str("/")), ("name", Value::str("posix"))],
    )
}

fn os_getpid(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::noargs("posix.getpid", a, kw)?;
    Ok(Value::Int(std::process::id() as i64))
}
fn os_getppid(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::noargs("posix.getppid", a, kw)?;
    Ok(Value::Int(nix::unistd::getppid().as_raw() as i64))
}
fn os_cpu_count(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::noargs("posix.cpu_count", a, kw)?;
    Ok(Value::Int(
        std::thread::available_parallelism()
            .map(|n| n.get() as i64)
            .unwrap_or(1),
    ))
}
fn os_getenv(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::pyfunc("getenv", a, kw, &["key", "default"], 1, false)?;
    let key = match k[0].as_ref() {
        Some(Value::Str(s)) => s.s.to_string(),
        Some(v) => return type_error(format!("str expected, not {}", v.type_name())),
        None => unreachable!(),
    };
    Ok(match std::env::var(&key) {
        Ok(v) => Value::str(v),
        Err(_) => k[1].clone().unwrap_or(Value::None),
    })
}

// ---------------------------------------------------------------------------------------------
// random (xoshiro256**; its numbers need not match CPython's)
// ---------------------------------------------------------------------------------------------

static RNG: Mutex<Option<[u64; 4]>> = Mutex::new(None);

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e3779b97f4a7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

fn seeded(seed: u64) -> [u64; 4] {
    let mut x = seed;
    [
        splitmix(&mut x),
        splitmix(&mut x),
        splitmix(&mut x),
        splitmix(&mut x),
    ]
}

fn next_u64() -> u64 {
    let mut g = RNG.lock();
    let s = g.get_or_insert_with(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        seeded(t.as_nanos() as u64 ^ ((std::process::id() as u64) << 32))
    });
    let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
    let t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s[3].rotate_left(45);
    result
}

/// Re-seed after fork so that parent and child do not produce the same numbers.
pub fn reseed_random_after_fork() {
    let mut g = RNG.lock();
    if g.is_some() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        *g = Some(seeded(
            t.as_nanos() as u64 ^ ((std::process::id() as u64) << 32),
        ));
    }
}

fn rand_below(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let x = next_u64();
        if x < zone {
            return x % n;
        }
    }
}

fn make_random() -> Module {
    module(
        "random",
        &[
            ("random", r_random),
            ("randint", r_randint),
            ("randrange", r_randrange),
            ("uniform", r_uniform),
            ("choice", r_choice),
            ("shuffle", r_shuffle),
            ("seed", r_seed),
        ],
        Vec::new(),
    )
}

fn r_random(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::noargs("Random.random", a, kw)?;
    Ok(Value::float(
        (next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64),
    ))
}

/// A uniformly random integer in [0, n) for n > 0 (rejection sampling on n's bit length).
fn rand_below_big(n: &BigInt) -> BigInt {
    if let Some(m) = n.to_u64() {
        return BigInt::from(rand_below(m));
    }
    let bits = n.bits();
    loop {
        let mut r = BigInt::zero();
        let mut left = bits;
        while left > 0 {
            let take = left.min(64);
            let chunk = if take == 64 {
                next_u64()
            } else {
                next_u64() >> (64 - take)
            };
            r = (r << take) + BigInt::from(chunk);
            left -= take;
        }
        if &r < n {
            return r;
        }
    }
}

/// randrange's integer arguments: ints as they are, integral floats accepted (CPython
/// deprecates them), anything else a ValueError/TypeError as `int(x)` would give.
fn rr_index(v: &Value, what: &str) -> PResult<BigInt> {
    if let Some(b) = ops::to_bigint(v) {
        if !matches!(v, Value::Float(_)) {
            return Ok(b);
        }
    }
    let non_integer = || {
        err(
            ExcKind::ValueError,
            format!("non-integer {} for randrange()", what),
        )
    };
    match v {
        Value::Float(f) => {
            if f.get().is_nan() {
                return err(ExcKind::ValueError, "cannot convert float NaN to integer");
            }
            if f.get().is_infinite() {
                return err(
                    ExcKind::OverflowError,
                    "cannot convert float infinity to integer",
                );
            }
            if f.get().fract() != 0.0 {
                return non_integer();
            }
            Ok(BigInt::from_f64(f.get()).unwrap_or_default())
        }
        Value::Str(_) => {
            crate::builtins::int_of(v)?;
            non_integer()
        }
        _ => type_error(format!(
            "int() argument must be a string, a bytes-like object or a real number, not '{}'",
            v.type_name()
        )),
    }
}

fn randrange(start: &Value, stop: Option<&Value>, step: Option<&Value>) -> PResult<Value> {
    let istart = rr_index(start, "arg 1")?;
    let Some(stop) = stop.filter(|v| !matches!(v, Value::None)) else {
        if step.is_some() {
            return type_error("Missing a non-None stop argument");
        }
        if istart.is_positive() {
            return Ok(Value::from_bigint(rand_below_big(&istart)));
        }
        return err(ExcKind::ValueError, "empty range for randrange()");
    };
    let istop = rr_index(stop, "stop")?;
    let width = &istop - &istart;
    let istep = match step {
        None => BigInt::from(1),
        Some(s) => rr_index(s, "step")?,
    };
    if istep == BigInt::from(1) {
        if width.is_positive() {
            return Ok(Value::from_bigint(istart + rand_below_big(&width)));
        }
        return err(
            ExcKind::ValueError,
            format!(
                "empty range for randrange() ({}, {}, {})",
                istart, istop, width
            ),
        );
    }
    let n = if istep.is_positive() {
        num_integer::Integer::div_floor(&(&width + &istep - 1), &istep)
    } else if istep.is_negative() {
        num_integer::Integer::div_floor(&(&width + &istep + 1), &istep)
    } else {
        return err(ExcKind::ValueError, "zero step for randrange()");
    };
    if !n.is_positive() {
        return err(ExcKind::ValueError, "empty range for randrange()");
    }
    Ok(Value::from_bigint(istart + istep * rand_below_big(&n)))
}

fn r_randint(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::pyfunc("Random.randint", a, kw, &["a", "b"], 0, true)?;
    let (lo, hi) = (k[0].as_ref().unwrap(), k[1].as_ref().unwrap());
    let stop = ops::add(hi, &Value::Int(1))?;
    randrange(lo, Some(&stop), None)
}

fn r_randrange(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::pyfunc(
        "Random.randrange",
        a,
        kw,
        &["start", "stop", "step"],
        2,
        true,
    )?;
    randrange(k[0].as_ref().unwrap(), k[1].as_ref(), k[2].as_ref())
}

fn r_uniform(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::pyfunc("Random.uniform", a, kw, &["a", "b"], 0, true)?;
    let (a, b) = (k[0].as_ref().unwrap(), k[1].as_ref().unwrap());
    // a + (b - a) * random(), with Python's operator errors.
    let width = ops::sub(b, a)?;
    let r = (next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    ops::add(a, &ops::mul(&width, &Value::float(r))?)
}

fn r_choice(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::pyfunc("Random.choice", a, kw, &["seq"], 0, true)?;
    let seq = k[0].as_ref().unwrap();
    let n = crate::builtins::len_of(seq)?;
    if n == 0 {
        return err(ExcKind::IndexError, "Cannot choose from an empty sequence");
    }
    let _ = vm;
    crate::builtins::subscript::get_item(seq, &Value::Int(rand_below(n as u64) as i64))
}

fn r_shuffle(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::pyfunc("Random.shuffle", a, kw, &["x"], 0, true)?;
    let x = k[0].as_ref().unwrap();
    match x {
        Value::List(l) => {
            let mut items = l.items.lock();
            for i in (1..items.len()).rev() {
                let j = rand_below(i as u64 + 1) as usize;
                items.swap(i, j);
            }
            Ok(Value::None)
        }
        v => {
            let n = crate::builtins::len_of(v)?;
            if n <= 1 {
                return Ok(Value::None);
            }
            type_error(format!(
                "'{}' object does not support item assignment",
                v.type_name()
            ))
        }
    }
}

fn r_seed(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::pyfunc("Random.seed", a, kw, &["a", "version"], 2, true)?;
    let seed =
        match k[0].as_ref() {
            None | Some(Value::None) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos() as u64,
            Some(Value::Str(s)) => {
                // FNV-1a: a seed that does not depend on the process's string hashing.
                let mut h: u64 = 0xcbf29ce484222325;
                for b in s.s.bytes() {
                    h = (h ^ b as u64).wrapping_mul(0x100000001b3);
                }
                h
            }
            Some(v @ (Value::Int(_) | Value::BigInt(_) | Value::Bool(_) | Value::Float(_))) => {
                crate::dict::hash_value(v)? as u64
            }
            Some(_) => return type_error(
                "The only supported seed types are: None,\nint, float, str, bytes, and bytearray.",
            ),
        };
    *RNG.lock() = Some(seeded(seed));
    Ok(Value::None)
}

#[allow(dead_code)]
fn _b() -> Value {
    builtin("x", r_random)
}
