//! The built-in functions and types (spec §5): the names every Toy program can use without an
//! import, each with Python's behaviour and Python's error messages.
//!
//! Submodules: `args` (arity checks), `methods` (methods of str/list/dict/set/tuple),
//! `subscript` (indexing and slicing), `io` (stdout buffering), `file` (open()).

pub mod args;
pub mod file;
pub mod io;
pub mod methods;
pub mod subscript;
pub mod unicode;

use std::sync::Arc;

use num_bigint::BigInt;
use num_traits::{Signed, ToPrimitive, Zero};
use rustc_hash::FxHashMap;

use crate::dict::{hash_value, DictTable, SetTable};
use crate::exceptions::{ExcKind, ExcObj};
use crate::ops::{self, err, type_error};
use crate::value::*;
use crate::vm::Vm;

type Kw<'a> = &'a [(Arc<str>, Value)];

pub fn builtin(name: &'static str, func: BuiltinFnPtr) -> Value {
    Value::Builtin(Arc::new(Builtin {
        name,
        func,
        method: false,
        bound: None,
        owner: None,
    }))
}

/// Every builtin name and its value.
pub fn table() -> FxHashMap<&'static str, Value> {
    let mut t = FxHashMap::default();
    let fns: &[(&'static str, BuiltinFnPtr)] = &[
        ("print", b_print),
        ("len", b_len),
        ("abs", b_abs),
        ("min", b_min),
        ("max", b_max),
        ("sum", b_sum),
        ("sorted", b_sorted),
        ("reversed", b_reversed),
        ("enumerate", b_enumerate),
        ("zip", b_zip),
        ("map", b_map),
        ("filter", b_filter),
        ("any", b_any),
        ("all", b_all),
        ("repr", b_repr),
        ("ascii", b_ascii),
        ("isinstance", b_isinstance),
        ("hash", b_hash),
        ("id", b_id),
        ("round", b_round),
        ("divmod", b_divmod),
        ("pow", b_pow),
        ("chr", b_chr),
        ("ord", b_ord),
        ("hex", b_hex),
        ("bin", b_bin),
        ("oct", b_oct),
        ("iter", b_iter),
        ("next", b_next),
        ("open", file::b_open),
        ("callable", b_callable),
        ("input", b_input),
        ("format", b_format),
        ("__displayhook__", b_displayhook),
    ];
    for (name, f) in fns {
        t.insert(*name, builtin(name, *f));
    }
    t.insert("thread", crate::thread::builtin_value());
    t.insert("process", crate::process::builtin_value());
    for (name, k) in [
        ("int", TypeKind::Int),
        ("float", TypeKind::Float),
        ("str", TypeKind::Str),
        ("bool", TypeKind::Bool),
        ("list", TypeKind::List),
        ("tuple", TypeKind::Tuple),
        ("dict", TypeKind::Dict),
        ("set", TypeKind::Set),
        ("range", TypeKind::Range),
        ("type", TypeKind::Type),
        ("object", TypeKind::Object),
        ("slice", TypeKind::Slice),
    ] {
        t.insert(name, Value::Type(TypeWord::new(k)));
    }
    for k in ExcKind::ALL {
        if matches!(
            k,
            ExcKind::Empty | ExcKind::Full | ExcKind::ProcessError | ExcKind::BrokenBarrierError
        ) {
            continue;
        }
        t.insert(k.name(), Value::Type(TypeWord::new(TypeKind::Exc(*k))));
    }
    t
}

// ---------------------------------------------------------------------------------------------
// print and friends
// ---------------------------------------------------------------------------------------------

fn b_print(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::parse("print", &[], kw, &["sep", "end", "file", "flush"], 0, 0, 0)?;
    let k: Vec<Option<&Value>> = vec![k[0].as_ref(), k[1].as_ref(), k[3].as_ref(), k[2].as_ref()];
    let sep = match k[0] {
        None | Some(Value::None) => " ".to_string(),
        Some(Value::Str(s)) => s.s.as_str().to_owned(),
        Some(v) => {
            return type_error(format!(
                "sep must be None or a string, not {}",
                v.type_name()
            ))
        }
    };
    let end = match k[1] {
        None | Some(Value::None) => "\n".to_string(),
        Some(Value::Str(s)) => s.s.as_str().to_owned(),
        Some(v) => {
            return type_error(format!(
                "end must be None or a string, not {}",
                v.type_name()
            ))
        }
    };
    let mut s = String::new();
    for (i, x) in a.iter().enumerate() {
        if i > 0 {
            s.push_str(&sep);
        }
        match x {
            Value::Str(t) => s.push_str(&t.s),
            other => s.push_str(&ops::to_str_checked(other)?),
        }
    }
    s.push_str(&end);
    let to_stderr = matches!(k[3], Some(Value::Native(n)) if n.0.type_name() == "stderr");
    let to_stdout = match k[3] {
        None | Some(Value::None) => true,
        Some(Value::Native(n)) => n.0.type_name() == "stdout",
        _ => false,
    };
    if !to_stderr && !to_stdout {
        // Any other object with a write method (a file opened for writing).
        let file = k[3].unwrap().clone();
        let write = vm.get_attr(&file, "write")?;
        vm.call(&write, vec![Value::str(s)])?;
        if k[2].map(|v| v.truthy()).unwrap_or(false) {
            let flush = vm.get_attr(&file, "flush")?;
            vm.call(&flush, Vec::new())?;
        }
        return Ok(Value::None);
    }
    if to_stderr {
        vm.rt.stdout.lock().flush();
        io::write_stderr(&s);
        return Ok(Value::None);
    }
    let mut out = vm.rt.stdout.lock();
    out.write(&s);
    if k[2].map(|v| v.truthy()).unwrap_or(false) {
        out.flush();
    }
    Ok(Value::None)
}

fn b_displayhook(vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    if let Some(v) = a.first() {
        if !matches!(v, Value::None) {
            let mut s = ops::repr_plain(v);
            s.push('\n');
            let mut out = vm.rt.stdout.lock();
            out.write(&s);
            out.flush();
        }
    }
    Ok(Value::None)
}

fn b_input(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::positional("input", "input", a, kw, 0, 1)?;
    if let Some(p) = a.first() {
        let mut out = vm.rt.stdout.lock();
        out.write(&ops::to_str(p));
        out.flush();
    } else {
        vm.rt.stdout.lock().flush();
    }
    // Wait for input without the GIL, in slices, so that Ctrl-C ends the wait.
    let check = vm.interrupt_check();
    let ready = vm.blocking(|| {
        use std::os::fd::AsFd;
        let stdin = std::io::stdin();
        loop {
            if check() {
                return false;
            }
            let mut fds = [nix::poll::PollFd::new(
                stdin.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(50u16)) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                _ => return true,
            }
        }
    });
    if !ready {
        return Err(vm.take_interrupt());
    }
    let mut line = String::new();
    let n = vm
        .blocking(|| std::io::stdin().read_line(&mut line))
        .map_err(|e| ExcObj::os_error(&e, None))?;
    if n == 0 {
        return err(ExcKind::EOFError, "EOF when reading a line");
    }
    // Only the newline goes: CPython's stdin keeps a '\r' before it (no newline translation).
    if line.ends_with('\n') {
        line.pop();
    }
    Ok(Value::str(line))
}

// ---------------------------------------------------------------------------------------------
// Sizes, numbers
// ---------------------------------------------------------------------------------------------

pub fn len_of(v: &Value) -> PResult<usize> {
    Ok(match v {
        Value::Str(s) => s.char_len(),
        Value::List(l) => l.items.lock().len(),
        Value::Tuple(t) => t.items.len(),
        Value::Dict(d) => d.table.lock().len(),
        Value::Set(s) => s.table.lock().len(),
        Value::Range(r) => match usize::try_from(r.len()) {
            Ok(n) if n <= i64::MAX as usize => n,
            _ => {
                return err(
                    ExcKind::OverflowError,
                    "Python int too large to convert to C ssize_t",
                )
            }
        },
        Value::Native(n) if n.0.len().is_some() => n.0.len().unwrap_or(0),
        Value::Native(n) => match n.0.get_attr(v, "__len__") {
            Some(Value::Int(i)) => i as usize,
            _ => return type_error(format!("object of type '{}' has no len()", v.type_name())),
        },
        _ => return type_error(format!("object of type '{}' has no len()", v.type_name())),
    })
}

fn b_len(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::onearg("len", a, kw)?;
    Ok(Value::Int(len_of(&a[0])? as i64))
}

fn b_abs(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::onearg("abs", a, kw)?;
    Ok(match &a[0] {
        Value::Int(i) => match i.checked_abs() {
            Some(r) => Value::Int(r),
            None => Value::from_bigint(BigInt::from(*i).abs()),
        },
        Value::Bool(b) => Value::Int(b.get() as i64),
        Value::BigInt(b) => Value::from_bigint(b.abs()),
        Value::Float(f) => Value::float(f.get().abs()),
        v => return type_error(format!("bad operand type for abs(): '{}'", v.type_name())),
    })
}

/// The least (or greatest) of a list or tuple of ints, when every item is an int. None: not
/// that case (the general code handles it).
fn int_extreme(v: &Value, want_less: bool) -> Option<Value> {
    fn scan(items: &[Value], want_less: bool) -> Option<Value> {
        let mut best = match items.first()? {
            Value::Int(i) => *i,
            _ => return None,
        };
        for x in &items[1..] {
            let Value::Int(i) = x else { return None };
            if (want_less && *i < best) || (!want_less && *i > best) {
                best = *i;
            }
        }
        Some(Value::Int(best))
    }
    match v {
        Value::List(l) => scan(&l.items.lock(), want_less),
        Value::Tuple(t) => scan(&t.items, want_less),
        _ => None,
    }
}

fn min_max(vm: &mut Vm, a: &[Value], kw: Kw, name: &str, want_less: bool) -> PResult<Value> {
    if a.is_empty() {
        return type_error(format!("{} expected at least 1 argument, got 0", name));
    }
    if a.len() == 1 && kw.is_empty() {
        if let Some(r) = int_extreme(&a[0], want_less) {
            return Ok(r);
        }
    }
    let k = args::parse(name, &[], kw, &["key", "default"], 0, 0, 0)?;
    let k: Vec<Option<&Value>> = k.iter().map(|v| v.as_ref()).collect();
    let key = k[0].filter(|v| !matches!(v, Value::None)).cloned();
    let items = if a.len() == 1 {
        vm.collect_iterable(&a[0])?
    } else {
        if k[1].is_some() {
            return type_error(format!(
                "Cannot specify a default for {}() with multiple positional arguments",
                name
            ));
        }
        a.to_vec()
    };
    if items.is_empty() {
        return match k[1] {
            Some(d) => Ok(d.clone()),
            None => err(
                ExcKind::ValueError,
                format!("{}() arg is an empty sequence", name),
            ),
        };
    }
    let mut best = items[0].clone();
    let mut best_key = match &key {
        Some(f) => vm.call(f, vec![best.clone()])?,
        None => best.clone(),
    };
    for x in items.into_iter().skip(1) {
        let xk = match &key {
            Some(f) => vm.call(f, vec![x.clone()])?,
            None => x.clone(),
        };
        // CPython asks `item < best` for min and `item > best` for max.
        let better = if want_less {
            ops::compare(ops::CmpKind::Lt, &xk, &best_key)?
        } else {
            ops::compare(ops::CmpKind::Gt, &xk, &best_key)?
        };
        if better {
            best = x;
            best_key = xk;
        }
    }
    Ok(best)
}

fn b_min(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    min_max(vm, a, kw, "min", true)
}

fn b_max(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    min_max(vm, a, kw, "max", false)
}

fn b_sum(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::parse("sum", a, kw, &["iterable", "start"], 1, 1, 2)?;
    let mut acc = k[1].clone().unwrap_or(Value::Int(0));
    match &acc {
        Value::Str(_) => return type_error("sum() can't sum strings [use ''.join(seq) instead]"),
        Value::List(_) | Value::Tuple(_) => {}
        _ => {}
    }
    let mut it = crate::vm::LoopIter::new(&a[0])?;
    // Ints from a list or tuple: add them up in place while they stay ints and the total
    // fits, then go on one item at a time from there.
    if let Value::Int(mut total) = acc {
        let guard;
        let (items, idx): (&[Value], Option<&mut usize>) = match &mut it {
            crate::vm::LoopIter::Tuple { tuple, idx } => (&tuple.items[..], Some(idx)),
            crate::vm::LoopIter::List { list, idx } => {
                guard = list.items.lock();
                (&guard[..], Some(idx))
            }
            _ => (&[][..], None),
        };
        if let Some(idx) = idx {
            let mut k = 0;
            for x in items {
                match x {
                    Value::Int(i) => match total.checked_add(*i) {
                        Some(t) => total = t,
                        None => break,
                    },
                    _ => break,
                }
                k += 1;
            }
            *idx = k;
        }
        acc = Value::Int(total);
    }
    while let Some(x) = vm.loop_next(&mut it)? {
        acc = match (&acc, &x) {
            (Value::Int(p), Value::Int(q)) => match p.checked_add(*q) {
                Some(r) => Value::Int(r),
                None => ops::add(&acc, &x)?,
            },
            (Value::Float(p), Value::Float(q)) => Value::float(p.get() + q.get()),
            _ => ops::add(&acc, &x)?,
        };
    }
    Ok(acc)
}

/// Sort values in place with Python's semantics: stable, optional key, `reverse` keeps the
/// stability of equal elements, errors from `<` propagate.
pub fn sort_values(
    vm: &mut Vm,
    items: &mut Vec<Value>,
    key: Option<&Value>,
    reverse: bool,
) -> PResult<()> {
    if key.is_none() {
        // All ints: sort the numbers themselves (equal ints cannot be told apart, so an
        // unstable sort is fine, and descending order is the ascending one reversed).
        if items.iter().all(|v| matches!(v, Value::Int(_))) {
            let mut xs: Vec<i64> = items
                .iter()
                .map(|v| if let Value::Int(x) = v { *x } else { 0 })
                .collect();
            xs.sort_unstable();
            if reverse {
                xs.reverse();
            }
            for (slot, x) in items.iter_mut().zip(xs) {
                *slot = Value::Int(x);
            }
            return Ok(());
        }
        // All strs: a stable sort of the values themselves (no index vector).
        if items.iter().all(|v| matches!(v, Value::Str(_))) {
            if reverse {
                items.reverse();
            }
            items.sort_by(|a, b| match (a, b) {
                (Value::Str(x), Value::Str(y)) => x.s.cmp(&y.s),
                _ => std::cmp::Ordering::Equal,
            });
            if reverse {
                items.reverse();
            }
            return Ok(());
        }
    }
    let keys: Vec<Value> = match key {
        Some(f) => {
            let mut ks = Vec::with_capacity(items.len());
            for x in items.iter() {
                ks.push(vm.call(f, vec![x.clone()])?);
            }
            ks
        }
        None => items.clone(),
    };
    let mut idx: Vec<usize> = (0..items.len()).collect();
    if reverse {
        idx.reverse();
    }
    // Fast paths for homogeneous ints and strs (no comparison can fail).
    let all_int = keys.iter().all(|k| matches!(k, Value::Int(_)));
    let all_str = keys.iter().all(|k| matches!(k, Value::Str(_)));
    if all_int {
        // Sort (key, index) pairs: contiguous, no indirection per comparison.
        let mut pairs: Vec<(i64, usize)> = idx
            .iter()
            .map(|&i| (if let Value::Int(x) = keys[i] { x } else { 0 }, i))
            .collect();
        pairs.sort_by_key(|p| p.0);
        idx = pairs.into_iter().map(|p| p.1).collect();
    } else if all_str {
        idx.sort_by(|&i, &j| match (&keys[i], &keys[j]) {
            (Value::Str(x), Value::Str(y)) => x.s.cmp(&y.s),
            _ => std::cmp::Ordering::Equal,
        });
    } else {
        // A stable merge sort that, like CPython's timsort, always asks "is the later item
        // less than the earlier one?", so a failing comparison reports the same types.
        let lt = |later: usize, earlier: usize| ops::less_than(&keys[later], &keys[earlier]);
        idx = merge_sort(idx, &lt)?;
    }
    if reverse {
        idx.reverse();
    }
    // Move the values into their new order (each index appears once).
    let mut old = std::mem::take(items);
    *items = idx
        .iter()
        .map(|&i| std::mem::replace(&mut old[i], Value::None))
        .collect();
    Ok(())
}

fn merge_sort(v: Vec<usize>, lt: &dyn Fn(usize, usize) -> PResult<bool>) -> PResult<Vec<usize>> {
    if v.len() <= 1 {
        return Ok(v);
    }
    if v.len() <= 16 {
        // Binary insertion sort, as CPython uses for short runs.
        let mut out: Vec<usize> = Vec::with_capacity(v.len());
        for x in v {
            let (mut lo, mut hi) = (0, out.len());
            while lo < hi {
                let mid = (lo + hi) / 2;
                if lt(x, out[mid])? {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            out.insert(lo, x);
        }
        return Ok(out);
    }
    let mut v = v;
    let right = v.split_off(v.len() / 2);
    let left = merge_sort(v, lt)?;
    let right = merge_sort(right, lt)?;
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if lt(right[j], left[i])? {
            out.push(right[j]);
            j += 1;
        } else {
            out.push(left[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&left[i..]);
    out.extend_from_slice(&right[j..]);
    Ok(out)
}

fn b_sorted(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::check_positional("sorted", a.len(), 1, 1)?;
    let mut items = vm.collect_iterable(&a[0])?;
    let k = args::parse("sort", &[], kw, &["key", "reverse"], 0, 0, 0)?;
    let k: Vec<Option<&Value>> = k.iter().map(|v| v.as_ref()).collect();
    let key = k[0].filter(|v| !matches!(v, Value::None));
    let reverse = k[1].map(|v| v.truthy()).unwrap_or(false);
    sort_values(vm, &mut items, key, reverse)?;
    Ok(Value::list(items))
}

fn b_reversed(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::positional("reversed", "reversed", a, kw, 1, 1)?;
    let items = match &a[0] {
        Value::List(_) | Value::Tuple(_) | Value::Str(_) | Value::Range(_) => {
            vm.collect_iterable(&a[0])?
        }
        Value::Dict(d) => d.table.lock().keys(),
        v => match methods::dict_view_items(v) {
            Some(items) => items,
            None => return type_error(format!("'{}' object is not reversible", v.type_name())),
        },
    };
    let mut items = items;
    items.reverse();
    Ok(Value::iter(IterState::Reversed { items, idx: 0 }))
}

fn b_enumerate(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    // CPython's enum_vectorcall, argument by argument.
    let bad = |k: &str| -> PResult<Value> {
        type_error(format!(
            "'{}' is an invalid keyword argument for enumerate()",
            k
        ))
    };
    let (nargs, nkw) = (a.len(), kw.len());
    let (it, start): (&Value, Option<&Value>) = match nargs + nkw {
        2 => match nkw {
            0 => (&a[0], Some(&a[1])),
            1 => {
                if &*kw[0].0 != "start" {
                    return bad(&kw[0].0);
                }
                (&a[0], Some(&kw[0].1))
            }
            _ => {
                if &*kw[0].0 == "start" {
                    if &*kw[1].0 != "iterable" {
                        return bad(&kw[1].0);
                    }
                    (&kw[1].1, Some(&kw[0].1))
                } else {
                    if &*kw[0].0 != "iterable" {
                        return bad(&kw[0].0);
                    }
                    if &*kw[1].0 != "start" {
                        return bad(&kw[1].0);
                    }
                    (&kw[0].1, Some(&kw[1].1))
                }
            }
        },
        1 => {
            if nkw == 1 {
                if &*kw[0].0 != "iterable" {
                    return bad(&kw[0].0);
                }
                (&kw[0].1, None)
            } else {
                (&a[0], None)
            }
        }
        _ if nargs == 0 => {
            return type_error("enumerate() missing required argument 'iterable'");
        }
        n => {
            return type_error(format!(
                "enumerate() takes at most 2 arguments ({} given)",
                n
            ))
        }
    };
    let inner = crate::vm::iter::make_iter(it)?;
    let start = match start {
        None => BigInt::zero(),
        Some(v) => match ops::to_bigint(v) {
            Some(b) if !matches!(v, Value::Float(_)) => b,
            _ => {
                return type_error(format!(
                    "'{}' object cannot be interpreted as an integer",
                    v.type_name()
                ))
            }
        },
    };
    match start.to_i64() {
        Some(c) if (i64::MIN / 2..i64::MAX / 2).contains(&c) => {
            Ok(Value::iter(IterState::Enumerate { inner, count: c }))
        }
        _ => Ok(Value::native(BigEnumerate {
            inner,
            count: parking_lot::Mutex::new(start),
        })),
    }
}

/// `enumerate(it, start)` with a start too large for the VM's machine-int counter.
struct BigEnumerate {
    inner: Value,
    count: parking_lot::Mutex<BigInt>,
}

impl NativeObj for BigEnumerate {
    fn type_name(&self) -> &'static str {
        "enumerate"
    }
    fn repr(&self) -> String {
        format!("<enumerate object at {:#x}>", self as *const _ as usize)
    }
    fn get_attr(&self, _this: &Value, _name: &str) -> Option<Value> {
        None
    }
    fn iterable(&self) -> bool {
        true
    }
    fn next(&self, vm: &mut Vm) -> PResult<Option<Value>> {
        let Some(v) = vm.next_value(&self.inner)? else {
            return Ok(None);
        };
        let mut c = self.count.lock();
        let n = Value::from_bigint(c.clone());
        *c += 1;
        Ok(Some(Value::tuple(vec![n, v])))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn b_zip(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::parse("zip", &[], kw, &["strict"], 0, 0, 0)?;
    let strict = k[0].as_ref().map(|v| v.truthy()).unwrap_or(false);
    let mut inners = Vec::new();
    for x in a {
        inners.push(crate::vm::iter::make_iter(x)?);
    }
    if strict && inners.len() > 1 {
        return Ok(Value::native(StrictZip {
            inners: parking_lot::Mutex::new(Some(inners)),
        }));
    }
    Ok(Value::iter(IterState::Zip { inners }))
}

/// `zip(..., strict=True)`: raises ValueError when the arguments' lengths differ.
struct StrictZip {
    /// None once exhausted.
    inners: parking_lot::Mutex<Option<Vec<Value>>>,
}

impl NativeObj for StrictZip {
    fn type_name(&self) -> &'static str {
        "zip"
    }
    fn repr(&self) -> String {
        format!("<zip object at {:#x}>", self as *const _ as usize)
    }
    fn get_attr(&self, _this: &Value, _name: &str) -> Option<Value> {
        None
    }
    fn iterable(&self) -> bool {
        true
    }
    fn next(&self, vm: &mut Vm) -> PResult<Option<Value>> {
        let Some(inners) = self.inners.lock().clone() else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(inners.len());
        for (i, it) in inners.iter().enumerate() {
            match vm.next_value(it)? {
                Some(v) => out.push(v),
                None => {
                    *self.inners.lock() = None;
                    let plural = |i: usize| if i == 1 { " " } else { "s 1-" };
                    if i > 0 {
                        return err(
                            ExcKind::ValueError,
                            format!(
                                "zip() argument {} is shorter than argument{}{}",
                                i + 1,
                                plural(i),
                                i
                            ),
                        );
                    }
                    for (j, other) in inners.iter().enumerate().skip(1) {
                        if vm.next_value(other)?.is_some() {
                            return err(
                                ExcKind::ValueError,
                                format!(
                                    "zip() argument {} is longer than argument{}{}",
                                    j + 1,
                                    plural(j),
                                    j
                                ),
                            );
                        }
                    }
                    return Ok(None);
                }
            }
        }
        Ok(Some(Value::tuple(out)))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn b_map(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::no_kwargs("map", kw)?;
    if a.len() < 2 {
        return type_error("map() must have at least two arguments.");
    }
    let mut inners = Vec::new();
    for x in &a[1..] {
        inners.push(crate::vm::iter::make_iter(x)?);
    }
    Ok(Value::iter(IterState::Map {
        func: a[0].clone(),
        inners,
    }))
}

fn b_filter(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::positional("filter", "filter", a, kw, 2, 2)?;
    let inner = crate::vm::iter::make_iter(&a[1])?;
    Ok(Value::iter(IterState::Filter {
        func: a[0].clone(),
        inner,
    }))
}

fn b_any(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::onearg("any", a, kw)?;
    let mut it = crate::vm::LoopIter::new(&a[0])?;
    while let Some(x) = vm.loop_next(&mut it)? {
        if x.truthy() {
            return Ok(Value::Bool(B64::True));
        }
    }
    Ok(Value::Bool(B64::False))
}

fn b_all(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::onearg("all", a, kw)?;
    let mut it = crate::vm::LoopIter::new(&a[0])?;
    while let Some(x) = vm.loop_next(&mut it)? {
        if !x.truthy() {
            return Ok(Value::Bool(B64::False));
        }
    }
    Ok(Value::Bool(B64::True))
}

fn b_repr(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::onearg("repr", a, kw)?;
    Ok(Value::str(ops::repr_checked(&a[0])?))
}

/// `ascii()`: the repr with every non-ASCII character escaped.
pub fn ascii_of(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let u = c as u32;
        if u < 0x80 {
            out.push(c);
        } else if u < 0x100 {
            out.push_str(&format!("\\x{:02x}", u));
        } else if u < 0x10000 {
            out.push_str(&format!("\\u{:04x}", u));
        } else {
            out.push_str(&format!("\\U{:08x}", u));
        }
    }
    out
}

fn b_ascii(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::onearg("ascii", a, kw)?;
    Ok(Value::str(ascii_of(&ops::repr_checked(&a[0])?)))
}

fn type_matches(v: &Value, t: &Value) -> PResult<bool> {
    match t {
        Value::Type(k) => Ok(v.type_kind().is_subtype(&k.get())),
        Value::Tuple(items) => {
            for i in items.items.iter() {
                if type_matches(v, i)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Value::Native(n) => Ok(matches!(v, Value::Native(m) if m.0.type_name() == n.0.type_name())),
        _ => type_error("isinstance() arg 2 must be a type, a tuple of types, or a union"),
    }
}

fn b_isinstance(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::positional("isinstance", "isinstance", a, kw, 2, 2)?;
    Ok(Value::bool(type_matches(&a[0], &a[1])?))
}

fn b_hash(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::onearg("hash", a, kw)?;
    // Key and item views are unhashable (they compare like sets); values views hash by identity.
    if let Value::Native(n) = &a[0] {
        if matches!(n.0.type_name(), "dict_keys" | "dict_items") {
            return type_error(format!("unhashable type: '{}'", n.0.type_name()));
        }
    }
    Ok(Value::Int(hash_value(&a[0])?))
}

fn b_id(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::onearg("id", a, kw)?;
    Ok(Value::Int(match &a[0] {
        Value::Int(i) => 0x7f00_0000_0000 + i.wrapping_mul(32),
        Value::None => 0x7f00_0000_0010,
        Value::Bool(b) => 0x7f00_0000_0020 + b.get() as i64 * 32,
        Value::Float(f) => f.get().to_bits() as i64 >> 4,
        Value::Type(t) => {
            0x7e00_0000_0000 + crate::dict::hash_value(&Value::Type(*t)).unwrap_or(0) % 4096 * 64
        }
        v => v.heap_ptr().unwrap_or(0) as i64,
    }))
}

fn b_round(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::parse("round", a, kw, &["number", "ndigits"], 0, 1, 2)?;
    let number = k[0].as_ref().unwrap();
    let nd = k[1].as_ref().filter(|v| !matches!(v, Value::None));
    let a = std::slice::from_ref(number);
    match (&a[0], nd) {
        (Value::Float(f), None) => {
            if f.get().is_nan() {
                return err(ExcKind::ValueError, "cannot convert float NaN to integer");
            }
            if f.get().is_infinite() {
                return err(
                    ExcKind::OverflowError,
                    "cannot convert float infinity to integer",
                );
            }
            let r = round_half_even(f.get());
            Ok(float_to_int(r))
        }
        (Value::Float(f), Some(n)) => {
            let n = args::slice_index(
                n,
                &format!(
                    "'{}' object cannot be interpreted as an integer",
                    n.type_name()
                ),
            )?;
            Ok(Value::float(round_float_digits(f.get(), n)))
        }
        (Value::Int(_) | Value::BigInt(_) | Value::Bool(_), None) => Ok(ops::pos(&a[0])?),
        (Value::Int(_) | Value::BigInt(_) | Value::Bool(_), Some(n)) => {
            let n = args::slice_index(
                n,
                &format!(
                    "'{}' object cannot be interpreted as an integer",
                    n.type_name()
                ),
            )?;
            if n >= 0 {
                return ops::pos(&a[0]);
            }
            let x = ops::to_bigint(&a[0]).unwrap_or_default();
            // 10**-n beyond the number's own digits: everything rounds to 0.
            if (-(n as i128)) as u128 > x.bits() as u128 / 3 + 2 {
                return Ok(Value::Int(0));
            }
            let p = num_traits::pow(BigInt::from(10), (-n) as usize);
            let (q, r) = num_integer::Integer::div_mod_floor(&x, &p);
            let twice = &r * 2;
            let q = if twice > p || (twice == p && num_integer::Integer::is_odd(&q)) {
                q + 1
            } else {
                q
            };
            Ok(Value::from_bigint(q * p))
        }
        (v, _) => type_error(format!(
            "type {} doesn't define __round__ method",
            v.type_name()
        )),
    }
}

pub fn round_half_even(f: f64) -> f64 {
    let r = f.round();
    if (f - f.trunc()).abs() == 0.5 {
        2.0 * (f / 2.0).round()
    } else {
        r
    }
}

/// round(x, n) for floats, correctly rounded through the shortest decimal representation.
fn round_float_digits(f: f64, n: i64) -> f64 {
    if !f.is_finite() || f == 0.0 {
        return f;
    }
    if n > 308 {
        return f;
    }
    if n < -308 {
        return 0.0f64.copysign(f);
    }
    if n >= 0 {
        // Format with n digits using correct rounding (round-half-even on the exact value).
        let s = format!("{:.*}", n as usize, f);
        s.parse().unwrap_or(f)
    } else {
        // Round to a multiple of 10**-n on the exact value, as CPython does (its dtoa in mode
        // 3): with e the decimal exponent of f, that keeps e + 1 + n significant digits.
        let e: i64 = format!("{:e}", f)
            .split_once('e')
            .and_then(|(_, e)| e.parse().ok())
            .unwrap_or(0);
        let digits = e + 1 + n;
        if digits >= 1 {
            let s = format!("{:.*e}", (digits - 1) as usize, f);
            return s.parse().unwrap_or(f);
        }
        if digits == 0 {
            // |f| < 10**-n: 0 or one unit of 10**-n, whichever is nearer (0 on a tie, it is
            // the even multiple).
            let unit: f64 = format!("1e{}", -n).parse().unwrap_or(f64::INFINITY);
            let half: f64 = format!("5e{}", -n - 1).parse().unwrap_or(f64::INFINITY);
            return if f.abs() > half {
                unit.copysign(f)
            } else {
                0.0f64.copysign(f)
            };
        }
        0.0f64.copysign(f)
    }
}

pub fn float_to_int(f: f64) -> Value {
    if f.abs() < 9.0e18 {
        Value::Int(f as i64)
    } else {
        use num_traits::FromPrimitive;
        Value::from_bigint(BigInt::from_f64(f).unwrap_or_default())
    }
}

fn b_divmod(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::positional("divmod", "divmod", a, kw, 2, 2)?;
    let (x, y) = (&a[0], &a[1]);
    let numeric = |v: &Value| {
        matches!(
            v,
            Value::Int(_) | Value::BigInt(_) | Value::Bool(_) | Value::Float(_)
        )
    };
    if !numeric(x) || !numeric(y) {
        return type_error(format!(
            "unsupported operand type(s) for divmod(): '{}' and '{}'",
            x.type_name(),
            y.type_name()
        ));
    }
    if let (Value::Float(_), _) | (_, Value::Float(_)) = (x, y) {
        let fx = ops::to_f64(x)?.unwrap_or(0.0);
        let fy = ops::to_f64(y)?.unwrap_or(0.0);
        if fy == 0.0 {
            return err(ExcKind::ZeroDivisionError, "float divmod()");
        }
        let (q, r) = ops::float_divmod(fx, fy);
        return Ok(Value::tuple(vec![Value::float(q), Value::float(r)]));
    }
    let q = ops::arith(crate::ast::BinOp::FloorDiv, x, y)?;
    let r = ops::arith(crate::ast::BinOp::Mod, x, y)?;
    Ok(Value::tuple(vec![q, r]))
}

fn b_pow(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::parse("pow", a, kw, &["base", "exp", "mod"], 0, 2, 3)?;
    let a: Vec<Value> = k.into_iter().flatten().collect();
    let a = &a[..];
    if a.len() == 3 && !matches!(a[2], Value::None) {
        let (b, e, m) = (
            ops::to_bigint(&a[0]),
            ops::to_bigint(&a[1]),
            ops::to_bigint(&a[2]),
        );
        let (Some(b), Some(e), Some(m)) = (b, e, m) else {
            return type_error("pow() 3rd argument not allowed unless all arguments are integers");
        };
        if m.is_zero() {
            return err(ExcKind::ValueError, "pow() 3rd argument cannot be 0");
        }
        let (b, e) = if e.is_negative() {
            // pow(b, -e, m) is the inverse of b modulo m, raised to e (Python 3.8+).
            let mm = m.abs();
            let g =
                num_integer::Integer::extended_gcd(&num_integer::Integer::mod_floor(&b, &mm), &mm);
            if g.gcd != BigInt::from(1) {
                return err(
                    ExcKind::ValueError,
                    "base is not invertible for the given modulus",
                );
            }
            (num_integer::Integer::mod_floor(&g.x, &mm), -e)
        } else {
            (b, e)
        };
        let r = b.modpow(&e, &m);
        let r = if !r.is_zero() && (r.is_negative() != m.is_negative()) {
            r + &m
        } else {
            r
        };
        return Ok(Value::from_bigint(r));
    }
    ops::arith(crate::ast::BinOp::Pow, &a[0], &a[1])
}

fn b_chr(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::onearg("chr", a, kw)?;
    let i = match &a[0] {
        Value::Int(i) => *i,
        Value::Bool(b) => b.get() as i64,
        Value::BigInt(_) => {
            return err(
                ExcKind::OverflowError,
                "Python int too large to convert to C int",
            )
        }
        v => {
            return type_error(format!(
                "'{}' object cannot be interpreted as an integer",
                v.type_name()
            ))
        }
    };
    match u32::try_from(i).ok().and_then(char::from_u32) {
        Some(c) => Ok(Value::str(c.to_string())),
        None => err(ExcKind::ValueError, "chr() arg not in range(0x110000)"),
    }
}

fn b_ord(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::onearg("ord", a, kw)?;
    match &a[0] {
        Value::Str(s) => {
            let n = s.char_len();
            if n != 1 {
                return type_error(format!(
                    "ord() expected a character, but string of length {} found",
                    n
                ));
            }
            Ok(Value::Int(s.s.chars().next().unwrap() as i64))
        }
        v => type_error(format!(
            "ord() expected string of length 1, but {} found",
            v.type_name()
        )),
    }
}

fn radix(a: &[Value], kw: Kw, name: &str, base: u32) -> PResult<Value> {
    args::onearg(name, a, kw)?;
    if let Value::Int(i) = &a[0] {
        return Ok(Value::str(crate::format::i64_to_str_radix(*i, base)));
    }
    let Some(b) = ops::to_bigint(&a[0]) else {
        return type_error(format!(
            "'{}' object cannot be interpreted as an integer",
            a[0].type_name()
        ));
    };
    Ok(Value::str(crate::format::int_to_str_radix(&b, base)))
}

fn b_hex(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    radix(a, kw, "hex", 16)
}
fn b_bin(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    radix(a, kw, "bin", 2)
}
fn b_oct(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    radix(a, kw, "oct", 8)
}

fn b_iter(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::positional("iter", "iter", a, kw, 1, 2)?;
    if a.len() == 2 {
        if !matches!(&a[0], Value::Func(_) | Value::Builtin(_) | Value::Type(_)) {
            return type_error("iter(v, w): v must be callable");
        }
        return Ok(Value::native(CallableIter {
            state: parking_lot::Mutex::new(Some((a[0].clone(), a[1].clone()))),
        }));
    }
    crate::vm::iter::make_iter(&a[0])
}

/// `iter(f, sentinel)`: calls `f()` until it returns the sentinel.
struct CallableIter {
    /// The function and the sentinel; None once the sentinel was seen.
    state: parking_lot::Mutex<Option<(Value, Value)>>,
}

impl NativeObj for CallableIter {
    fn type_name(&self) -> &'static str {
        "callable_iterator"
    }
    fn repr(&self) -> String {
        format!(
            "<callable_iterator object at {:#x}>",
            self as *const _ as usize
        )
    }
    fn get_attr(&self, _this: &Value, _name: &str) -> Option<Value> {
        None
    }
    fn iterable(&self) -> bool {
        true
    }
    fn next(&self, vm: &mut Vm) -> PResult<Option<Value>> {
        let Some((f, sentinel)) = self.state.lock().clone() else {
            return Ok(None);
        };
        let v = vm.call(&f, Vec::new())?;
        if v.is(&sentinel) || ops::eq(&v, &sentinel) {
            *self.state.lock() = None;
            return Ok(None);
        }
        Ok(Some(v))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn b_next(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::positional("next", "next", a, kw, 1, 2)?;
    if !matches!(&a[0], Value::Iter(_)) && !matches!(&a[0], Value::Native(n) if n.0.iterable()) {
        return type_error(format!("'{}' object is not an iterator", a[0].type_name()));
    }
    match vm.next_value(&a[0])? {
        Some(v) => Ok(v),
        None => match a.get(1) {
            Some(d) => Ok(d.clone()),
            None => Err(ExcObj::with_args(ExcKind::StopIteration, Vec::new())),
        },
    }
}

fn b_callable(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::onearg("callable", a, kw)?;
    Ok(Value::bool(match &a[0] {
        Value::Func(_) | Value::Builtin(_) | Value::Type(_) => true,
        Value::Native(n) => n.0.is_callable(),
        _ => false,
    }))
}

fn b_format(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    args::positional("format", "format", a, kw, 1, 2)?;
    let spec = match a.get(1) {
        Some(Value::Str(s)) => s.s.as_str().to_owned(),
        Some(v) => {
            return type_error(format!(
                "format() argument 2 must be str, not {}",
                v.type_name()
            ))
        }
        None => String::new(),
    };
    Ok(Value::str(format_value(&a[0], &spec)?))
}

// ---------------------------------------------------------------------------------------------
// Formatting glue (the algorithms live in crate::format)
// ---------------------------------------------------------------------------------------------

/// `format(v, spec)`: the format-spec mini-language for ints, floats and strs.
pub fn format_value(v: &Value, spec: &str) -> PResult<String> {
    use crate::format as f;
    if spec.is_empty() {
        return Ok(ops::to_str(v));
    }
    let parsed = f::parse_spec(spec).map_err(|m| ExcObj::new(ExcKind::ValueError, m))?;
    if let (Some(inv), false) = (&parsed.invalid, matches!(v, Value::Str(_))) {
        let _ = inv;
    }
    let r = match v {
        Value::Int(i) => f::format_i64(*i, &parsed),
        Value::Bool(b) => f::format_bool(b.get(), &parsed),
        Value::BigInt(b) => f::format_bigint(b, &parsed),
        Value::Float(x) => f::format_float(x.get(), &parsed),
        Value::Str(s) => f::format_str(&s.s, &parsed),
        other => {
            return type_error(format!(
                "unsupported format string passed to {}.__format__",
                other.type_name()
            ))
        }
    };
    r.map_err(|m| {
        let kind = ExcKind::by_name(f::error_type(&m)).unwrap_or(ExcKind::ValueError);
        if kind == ExcKind::MemoryError {
            ExcObj::with_args(kind, Vec::new())
        } else {
            ExcObj::new(kind, m)
        }
    })
}

/// `fmt % args`.
pub fn percent_format(fmt: &str, args: &Value) -> PResult<Value> {
    use crate::format::{PercentArg, PercentArgs};
    use std::borrow::Cow;
    fn classify(v: &Value) -> PercentArg<'_> {
        match v {
            Value::Int(i) => PercentArg::SmallInt(*i),
            Value::BigInt(b) => PercentArg::Int(b),
            Value::Bool(b) => PercentArg::Bool(b.get()),
            Value::Float(f) => PercentArg::Float(f.get()),
            Value::Str(s) => PercentArg::Str(&s.s),
            other => PercentArg::Obj {
                type_name: other.type_name(),
                str: Cow::Owned(ops::to_str(other)),
                repr: Cow::Owned(ops::repr_plain(other)),
            },
        }
    }
    fn owned(v: &Value) -> PercentArg<'static> {
        match v {
            Value::Int(i) => PercentArg::SmallInt(*i),
            Value::Bool(b) => PercentArg::Bool(b.get()),
            Value::Float(f) => PercentArg::Float(f.get()),
            other => PercentArg::Obj {
                type_name: other.type_name(),
                str: Cow::Owned(ops::to_str(other)),
                repr: Cow::Owned(ops::repr_plain(other)),
            },
        }
    }
    let result = match args {
        Value::Tuple(t) => {
            let items: Vec<PercentArg> = t.items.iter().map(classify).collect();
            crate::format::percent_format(fmt, PercentArgs::Tuple(&items))
        }
        Value::Dict(d) => {
            let table = d.table.lock().clone();
            let mut lookup = |key: &str| -> Result<PercentArg<'static>, crate::format::PyErrMsg> {
                let k = Value::str(key);
                let h = hash_value(&k).unwrap_or(0);
                match table.get(h, &k) {
                    Some(v) => Ok(owned(&v)),
                    None => Err(("KeyError", ops::str_repr(key))),
                }
            };
            crate::format::percent_format(fmt, PercentArgs::Mapping(owned(args), &mut lookup))
        }
        Value::List(_) | Value::Range(_) => {
            // Python treats anything with __getitem__ as a mapping here: `%(k)s` indexes it.
            let mut lookup = |key: &str| -> Result<PercentArg<'static>, crate::format::PyErrMsg> {
                match subscript::get_item(args, &Value::str(key)) {
                    Ok(v) => Ok(owned(&v)),
                    Err(e) => Err((
                        e.kind.name(),
                        e.args.first().map(ops::to_str).unwrap_or_default(),
                    )),
                }
            };
            crate::format::percent_format(fmt, PercentArgs::Mapping(owned(args), &mut lookup))
        }
        other => crate::format::percent_format(fmt, PercentArgs::Single(classify(other))),
    };
    match result {
        Ok(s) => Ok(Value::str(s)),
        Err((kind, msg)) => {
            let k = ExcKind::by_name(kind).unwrap_or(ExcKind::TypeError);
            if k == ExcKind::KeyError {
                // The message is already the key's repr.
                return Err(ExcObj::with_args(
                    ExcKind::KeyError,
                    vec![Value::str(msg.trim_matches('\'').to_string())],
                ));
            }
            Err(ExcObj::new(k, msg))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Type constructors: int(x), str(x), list(it), …, and exception types
// ---------------------------------------------------------------------------------------------

pub fn construct(vm: &mut Vm, t: TypeKind, a: &[Value], kw: Kw) -> PResult<Value> {
    match t {
        TypeKind::Int => {
            let k = args::parse("int", a, kw, &["x", "base"], 1, 0, 2)?;
            let base = k[1].as_ref();
            let Some(x) = k[0].as_ref() else {
                if base.is_some() {
                    return type_error("int() missing string argument");
                }
                return Ok(Value::Int(0));
            };
            if let Some(b) = base {
                let b = ops::as_index(b, || {
                    format!(
                        "'{}' object cannot be interpreted as an integer",
                        b.type_name()
                    )
                })?;
                let Value::Str(s) = x else {
                    return type_error("int() can't convert non-string with explicit base");
                };
                if b != 0 && !(2..=36).contains(&b) {
                    return err(
                        ExcKind::ValueError,
                        "int() base must be >= 2 and <= 36, or 0",
                    );
                }
                return match crate::format::parse_int_str_py(&s.s, b as u32) {
                    Ok(v) => Ok(Value::from_bigint(v)),
                    Err(m) => err(ExcKind::ValueError, m),
                };
            }
            int_of(x)
        }
        TypeKind::Float => {
            args::no_kwargs("float", kw)?;
            args::range("float", a, 0, 1)?;
            match a.first() {
                None => Ok(Value::float(0.0)),
                Some(Value::Float(f)) => Ok(Value::Float(*f)),
                Some(Value::Str(s)) => match crate::format::parse_float_str_py(&s.s) {
                    Ok(f) if f.is_nan() => Ok(Value::float(fresh_nan(f))),
                    Ok(f) => Ok(Value::float(f)),
                    Err(m) => err(ExcKind::ValueError, m),
                },
                Some(v) => match ops::to_f64(v)? {
                    Some(f) => Ok(Value::float(f)),
                    None => type_error(format!(
                        "float() argument must be a string or a real number, not '{}'",
                        v.type_name()
                    )),
                },
            }
        }
        TypeKind::Str => {
            if let ([v], true) = (a, kw.is_empty()) {
                return ops::str_value_checked(v);
            }
            let k = args::parse("str", a, kw, &["object", "encoding", "errors"], 0, 0, 3)?;
            Ok(match k[0].as_ref() {
                None => Value::str(""),
                Some(v @ Value::Str(_)) => v.clone(),
                Some(v) => Value::str(ops::to_str_checked(v)?),
            })
        }
        TypeKind::Bool => {
            args::positional("bool", "bool", a, kw, 0, 1)?;
            Ok(Value::bool(a.first().map(|v| v.truthy()).unwrap_or(false)))
        }
        TypeKind::List => {
            args::no_kwargs("list", kw)?;
            args::range("list", a, 0, 1)?;
            Ok(Value::list(match a.first() {
                None => Vec::new(),
                Some(v) => vm.collect_iterable(v)?,
            }))
        }
        TypeKind::Tuple => {
            args::no_kwargs("tuple", kw)?;
            args::range("tuple", a, 0, 1)?;
            Ok(match a.first() {
                None => Value::tuple(Vec::new()),
                Some(v @ Value::Tuple(_)) => v.clone(),
                Some(v) => Value::tuple(vm.collect_iterable(v)?),
            })
        }
        TypeKind::Dict => {
            args::range("dict", a, 0, 1)?;
            let mut t = DictTable::new();
            if let Some(src) = a.first() {
                dict_update_from(vm, &mut t, src)?;
            }
            for (k, v) in kw {
                let key = Value::str(k.to_string());
                t.insert(hash_value(&key)?, key, v.clone());
            }
            Ok(Value::dict(t))
        }
        TypeKind::Set => {
            args::no_kwargs("set", kw)?;
            args::range("set", a, 0, 1)?;
            let t = match a.first() {
                Some(src) => methods::new_set_from(vm, src)?,
                None => SetTable::new(),
            };
            Ok(Value::set(t))
        }
        TypeKind::Range => {
            args::no_kwargs("range", kw)?;
            let idx = |v: &Value| -> PResult<i128> {
                match v {
                    Value::Int(i) => Ok(*i as i128),
                    Value::Bool(b) => Ok(b.get() as i128),
                    Value::BigInt(b) => num_traits::ToPrimitive::to_i128(&**b).ok_or_else(|| {
                        ExcObj::new(
                            ExcKind::OverflowError,
                            "Python int too large to convert to C ssize_t",
                        )
                    }),
                    _ => type_error(format!(
                        "'{}' object cannot be interpreted as an integer",
                        v.type_name()
                    )),
                }
            };
            let (start, stop, step) = match a.len() {
                1 => (0, idx(&a[0])?, 1),
                2 => (idx(&a[0])?, idx(&a[1])?, 1),
                3 => (idx(&a[0])?, idx(&a[1])?, idx(&a[2])?),
                0 => return type_error("range expected at least 1 argument, got 0"),
                n => return type_error(format!("range expected at most 3 arguments, got {}", n)),
            };
            if step == 0 {
                return err(ExcKind::ValueError, "range() arg 3 must not be zero");
            }
            Ok(Value::Range(Arc::new(RangeObj { start, stop, step })))
        }
        TypeKind::Type => {
            if a.len() == 1 && !kw.is_empty() {
                return type_error("type() takes no keyword arguments");
            }
            if a.len() == 1 {
                return Ok(Value::Type(TypeWord::new(match &a[0] {
                    Value::Iter(_) => TypeKind::Native(NativeType::of(a[0].type_name())),
                    v => v.type_kind(),
                })));
            }
            if a.len() == 3 {
                // type(name, bases, dict) would create a class, which Toy does not have;
                // its argument checks still apply.
                for (i, want, ok) in [
                    (1, "str", matches!(a[0], Value::Str(_))),
                    (2, "tuple", matches!(a[1], Value::Tuple(_))),
                    (3, "dict", matches!(a[2], Value::Dict(_))),
                ] {
                    if !ok {
                        return type_error(format!(
                            "type.__new__() argument {} must be {}, not {}",
                            i,
                            want,
                            a[i - 1].type_name()
                        ));
                    }
                }
            }
            type_error("type() takes 1 or 3 arguments")
        }
        TypeKind::Object => {
            if !a.is_empty() || !kw.is_empty() {
                return type_error("object() takes no arguments");
            }
            Ok(Value::Type(TypeWord::new(TypeKind::Object)))
        }
        TypeKind::NoneType => {
            if !a.is_empty() || !kw.is_empty() {
                return type_error("NoneType takes no arguments");
            }
            Ok(Value::None)
        }
        TypeKind::Slice => {
            args::positional("slice", "slice", a, kw, 1, 3)?;
            let (l, u, s) = match a.len() {
                1 => (Value::None, a[0].clone(), Value::None),
                2 => (a[0].clone(), a[1].clone(), Value::None),
                _ => (a[0].clone(), a[1].clone(), a[2].clone()),
            };
            Ok(Value::Slice(Arc::new(SliceObj {
                lower: l,
                upper: u,
                step: s,
            })))
        }
        TypeKind::Exc(k) => {
            if !kw.is_empty() {
                return type_error(format!("{}() takes no keyword arguments", k.name()));
            }
            Ok(Value::Exc(ExcObj::with_args(k, a.to_vec())))
        }
        other => type_error(format!("cannot create '{}' instances", other.name())),
    }
}

/// A NaN with a payload of its own. Floats are immediates whose identity (`is`, and the
/// identity test of `in` and `==` on containers) is their bit pattern; CPython's
/// `float('nan')` makes a new object each time, so `float('nan') in [nan]` is False while
/// `nan in [nan]` is True. Distinct payloads give the same answers.
fn fresh_nan(f: f64) -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let payload = NEXT.fetch_add(1, Ordering::Relaxed) & ((1 << 51) - 1);
    let bits = 0x7ff8_0000_0000_0000u64 | payload.max(1) | (f.to_bits() & (1 << 63));
    f64::from_bits(bits)
}

/// `int(x)` for one argument.
pub fn int_of(x: &Value) -> PResult<Value> {
    match x {
        Value::Int(_) | Value::BigInt(_) => Ok(x.clone()),
        Value::Bool(b) => Ok(Value::Int(b.get() as i64)),
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
            Ok(float_to_int(f.get().trunc()))
        }
        Value::Str(s) => match crate::format::parse_int_str_py(&s.s, 10) {
            Ok(v) => Ok(Value::from_bigint(v)),
            Err(m) => err(ExcKind::ValueError, m),
        },
        v => type_error(format!(
            "int() argument must be a string, a bytes-like object or a real number, not '{}'",
            v.type_name()
        )),
    }
}

/// `dict(src)` / `d.update(src)`: from a dict or from an iterable of pairs.
pub fn dict_update_from(vm: &mut Vm, t: &mut DictTable, src: &Value) -> PResult<()> {
    if let Value::Dict(d) = src {
        let other = d.table.lock().clone();
        for (h, k, v) in other.iter_hashed() {
            t.insert(h, k.clone(), v.clone());
        }
        return Ok(());
    }
    let items = match vm.collect_iterable(src) {
        Ok(items) => items,
        Err(_) => return type_error(format!("'{}' object is not iterable", src.type_name())),
    };
    for (i, item) in items.into_iter().enumerate() {
        let pair = match &item {
            Value::Tuple(_) | Value::List(_) | Value::Str(_) => vm.collect_iterable(&item)?,
            other => {
                return type_error(format!(
                    "cannot convert dictionary update sequence element #{} to a sequence",
                    i
                ))
                .inspect_err(|_e| {
                    let _ = other;
                })
            }
        };
        if pair.len() != 2 {
            return err(
                ExcKind::ValueError,
                format!(
                    "dictionary update sequence element #{} has length {}; 2 is required",
                    i,
                    pair.len()
                ),
            );
        }
        let mut p = pair.into_iter();
        let k = p.next().unwrap();
        let v = p.next().unwrap();
        t.insert(hash_value(&k)?, k, v);
    }
    Ok(())
}

#[allow(dead_code)]
fn _unused(b: &BigInt) -> Option<i64> {
    b.to_i64()
}
