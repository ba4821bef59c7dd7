//! Operators on values: arithmetic, comparison, containment, repr and str — with Python's
//! results and Python's error messages. Everything here is pure (no frames, no VM state), so
//! the VM's dispatch loop and the builtins share one implementation.

use std::cell::{Cell, RefCell};
use std::cmp::Ordering;
use std::sync::Arc;

use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{One, Pow, Signed, ToPrimitive, Zero};

use crate::ast::BinOp;
use crate::dict::{
    hash_value, int_float_cmp_b, int_float_cmp_i, num_eq, num_of, Num, SetSource, SetTable,
};
use crate::exceptions::{ExcKind, ExcObj};
use crate::value::*;

#[cold]
#[inline(never)]
pub fn err<T>(kind: ExcKind, msg: impl Into<String>) -> PResult<T> {
    Err(ExcObj::new(kind, msg))
}

#[cold]
#[inline(never)]
pub fn type_error<T>(msg: impl Into<String>) -> PResult<T> {
    err(ExcKind::TypeError, msg)
}

/// Largest collection Toy will try to build before raising MemoryError instead of aborting.
pub const MAX_ITEMS: usize = 1 << 32;

pub fn check_size(n: u128) -> PResult<()> {
    if n > MAX_ITEMS as u128 {
        return err(ExcKind::MemoryError, "");
    }
    Ok(())
}

pub fn binop_symbol(op: u32) -> &'static str {
    match binop_from(op) {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::FloorDiv => "//",
        BinOp::Mod => "%",
        BinOp::Pow => "**",
        BinOp::LShift => "<<",
        BinOp::RShift => ">>",
        BinOp::BitOr => "|",
        BinOp::BitXor => "^",
        BinOp::BitAnd => "&",
        BinOp::MatMul => "@",
    }
}

pub fn binop_from(op: u32) -> BinOp {
    const ALL: [BinOp; 13] = [
        BinOp::Add,
        BinOp::Sub,
        BinOp::Mul,
        BinOp::Div,
        BinOp::FloorDiv,
        BinOp::Mod,
        BinOp::Pow,
        BinOp::LShift,
        BinOp::RShift,
        BinOp::BitOr,
        BinOp::BitXor,
        BinOp::BitAnd,
        BinOp::MatMul,
    ];
    ALL[op as usize]
}

fn unsupported<T>(op: &str, a: &Value, b: &Value) -> PResult<T> {
    type_error(format!(
        "unsupported operand type(s) for {}: '{}' and '{}'",
        op,
        a.type_name(),
        b.type_name()
    ))
}

pub fn to_bigint(v: &Value) -> Option<BigInt> {
    match v {
        Value::Int(i) => Some(BigInt::from(*i)),
        Value::Bool(b) => Some(BigInt::from(b.get() as i64)),
        Value::BigInt(b) => Some((**b).clone()),
        _ => None,
    }
}

fn is_int(v: &Value) -> bool {
    matches!(v, Value::Int(_) | Value::Bool(_) | Value::BigInt(_))
}

/// An int or float as f64 (OverflowError for ints too large).
pub fn to_f64(v: &Value) -> PResult<Option<f64>> {
    Ok(match v {
        Value::Float(f) => Some(f.get()),
        Value::Int(i) => Some(*i as f64),
        Value::Bool(b) => Some(b.get() as i64 as f64),
        Value::BigInt(b) => match b.to_f64() {
            Some(f) if f.is_finite() => Some(f),
            _ => return err(ExcKind::OverflowError, "int too large to convert to float"),
        },
        _ => None,
    })
}

fn small_or_big(a: &Value) -> Option<Result<i64, BigInt>> {
    match a {
        Value::Int(i) => Some(Ok(*i)),
        Value::Bool(b) => Some(Ok(b.get() as i64)),
        Value::BigInt(b) => Some(Err((**b).clone())),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Arithmetic
// ---------------------------------------------------------------------------------------------

#[inline(never)]
pub fn add(a: &Value, b: &Value) -> PResult<Value> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(match x.checked_add(*y) {
            Some(r) => Value::Int(r),
            None => Value::from_bigint(BigInt::from(*x) + y),
        }),
        (Value::Float(x), Value::Float(y)) => Ok(Value::float(x.get() + y.get())),
        (Value::Str(x), Value::Str(y)) => Ok(str_concat(x, y)),
        (Value::List(x), Value::List(y)) => {
            let mut v = x.items.lock().clone();
            let other = y.items.lock().clone();
            v.extend(other);
            Ok(Value::list(v))
        }
        (Value::Tuple(x), Value::Tuple(y)) => {
            let mut v = x.items.to_vec();
            v.extend(y.items.iter().cloned());
            Ok(Value::tuple(v))
        }
        (Value::Str(_), _) => type_error(format!(
            "can only concatenate str (not \"{}\") to str",
            b.type_name()
        )),
        (Value::List(_), _) => type_error(format!(
            "can only concatenate list (not \"{}\") to list",
            b.type_name()
        )),
        (Value::Tuple(_), _) => type_error(format!(
            "can only concatenate tuple (not \"{}\") to tuple",
            b.type_name()
        )),
        _ => arith(BinOp::Add, a, b),
    }
}

/// `x + y` for two strs, as a new string.
pub fn str_concat(x: &StrObj, y: &StrObj) -> Value {
    let mut s = StrBuf::with_capacity(x.s.len() + y.s.len());
    s.push_str(&x.s);
    s.push_str(&y.s);
    Value::str_known(s, x.ascii && y.ascii)
}

/// Before `a + b` whose result goes straight back into the local `slot`: drop the local's
/// reference if it is the same string as `a` (it is about to be overwritten anyway), so that
/// [`str_append`] may find `a` unique.
#[inline(always)]
pub fn release_target(stack: &mut [Value], top: usize, slot: usize) {
    if let (Value::Str(x), Value::Str(y)) = (&stack[top], &stack[slot]) {
        if Arc::ptr_eq(x, y) {
            stack[slot] = Value::Unbound;
        }
    }
}

/// `a += b` (or `a = a + b`) for two strs, in place when `a` holds the only reference to its
/// string (CPython's trick: the dispatch loop first drops the local that is about to be
/// overwritten, see [`release_target`]), so that building a string piece by piece is linear,
/// not quadratic. `a` must be a str.
#[inline(never)]
pub fn str_append(a: &mut Value, b: &StrObj) {
    let Value::Str(x) = a else {
        unreachable!("str_append on a non-str")
    };
    match Arc::get_mut(x) {
        Some(m) => m.push_str(&b.s, b.ascii),
        None => *a = str_concat(x, b),
    }
}

#[inline(never)]
pub fn sub(a: &Value, b: &Value) -> PResult<Value> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(match x.checked_sub(*y) {
            Some(r) => Value::Int(r),
            None => Value::from_bigint(BigInt::from(*x) - y),
        }),
        (Value::Float(x), Value::Float(y)) => Ok(Value::float(x.get() - y.get())),
        (Value::Set(x), Value::Set(y)) => set_op(BinOp::Sub, x, y),
        _ => arith(BinOp::Sub, a, b),
    }
}

#[inline(never)]
pub fn mul(a: &Value, b: &Value) -> PResult<Value> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(match x.checked_mul(*y) {
            Some(r) => Value::Int(r),
            None => Value::from_bigint(BigInt::from(*x) * y),
        }),
        (Value::Float(x), Value::Float(y)) => Ok(Value::float(x.get() * y.get())),
        (Value::Str(_) | Value::List(_) | Value::Tuple(_), _) if is_int(b) => repeat(a, b),
        (_, Value::Str(_) | Value::List(_) | Value::Tuple(_)) if is_int(a) => repeat(b, a),
        (Value::Str(_) | Value::List(_) | Value::Tuple(_), _)
            if !matches!(b, Value::Float(_)) && num_of(b).is_none() =>
        {
            type_error(format!(
                "can't multiply sequence by non-int of type '{}'",
                b.type_name()
            ))
        }
        (Value::Str(_) | Value::List(_) | Value::Tuple(_), Value::Float(_)) => {
            type_error("can't multiply sequence by non-int of type 'float'")
        }
        (Value::Float(_), Value::Str(_) | Value::List(_) | Value::Tuple(_)) => {
            type_error("can't multiply sequence by non-int of type 'float'")
        }
        // The sequence on the right: CPython tries its repeat too, with the same complaint.
        (_, Value::Str(_) | Value::List(_) | Value::Tuple(_)) if num_of(a).is_none() => {
            type_error(format!(
                "can't multiply sequence by non-int of type '{}'",
                a.type_name()
            ))
        }
        _ => arith(BinOp::Mul, a, b),
    }
}

fn repeat(seq: &Value, n: &Value) -> PResult<Value> {
    let count = match n {
        Value::Int(i) => *i,
        Value::Bool(b) => b.get() as i64,
        Value::BigInt(b) => {
            if b.is_negative() {
                0
            } else {
                return err(
                    ExcKind::OverflowError,
                    "cannot fit 'int' into an index-sized integer",
                );
            }
        }
        _ => 0,
    };
    let count = count.max(0) as usize;
    match seq {
        Value::Str(s) => {
            if s.s.len() as u128 * count as u128 > isize::MAX as u128 {
                return err(ExcKind::OverflowError, "repeated string is too long");
            }
            check_size(s.s.len() as u128 * count as u128)?;
            Ok(Value::str(s.s.repeat(count)))
        }
        Value::List(l) => {
            let items = l.items.lock().clone();
            check_size(items.len() as u128 * count as u128)?;
            let mut out = Vec::new();
            if out.try_reserve(items.len() * count).is_err() {
                return err(ExcKind::MemoryError, "");
            }
            for _ in 0..count {
                out.extend(items.iter().cloned());
            }
            Ok(Value::list(out))
        }
        Value::Tuple(t) => {
            check_size(t.items.len() as u128 * count as u128)?;
            let mut out = Vec::with_capacity(t.items.len() * count);
            for _ in 0..count {
                out.extend(t.items.iter().cloned());
            }
            Ok(Value::tuple(out))
        }
        _ => unreachable!(),
    }
}

/// The general numeric path of every binary operator (and the set/dict operators).
#[inline(never)]
pub fn arith(op: BinOp, a: &Value, b: &Value) -> PResult<Value> {
    let sym = binop_symbol(op as u32);
    // Sets and dicts.
    match (op, a, b) {
        (
            BinOp::BitOr | BinOp::BitAnd | BinOp::BitXor | BinOp::Sub,
            Value::Set(x),
            Value::Set(y),
        ) => {
            return set_op(op, x, y);
        }
        (BinOp::BitOr, Value::Dict(x), Value::Dict(y)) => {
            let mut t = x.table.lock().clone();
            let other = y.table.lock().clone();
            for (h, k, v) in other.iter_hashed() {
                t.insert(h, k.clone(), v.clone());
            }
            return Ok(Value::dict(t));
        }
        (BinOp::Mod, Value::Str(s), _) => return crate::builtins::percent_format(&s.s, b),
        (BinOp::BitOr | BinOp::BitAnd | BinOp::BitXor | BinOp::Sub, _, _)
            if matches!(a, Value::Native(_)) || matches!(b, Value::Native(_)) =>
        {
            if let Some(r) = crate::builtins::methods::dict_view_binop(op, a, b) {
                return r;
            }
        }
        _ => {}
    }
    match (small_or_big(a), small_or_big(b)) {
        (Some(x), Some(y)) => {
            // Both ints (bool counts as int); bool OP bool stays a bool for & | ^.
            if let (Value::Bool(p), Value::Bool(q)) = (a, b) {
                match op {
                    BinOp::BitAnd => return Ok(Value::bool(p.get() & q.get())),
                    BinOp::BitOr => return Ok(Value::bool(p.get() | q.get())),
                    BinOp::BitXor => return Ok(Value::bool(p.get() ^ q.get())),
                    _ => {}
                }
            }
            if let (Ok(x), Ok(y)) = (&x, &y) {
                if let Some(v) = int_op_small(op, *x, *y)? {
                    return Ok(v);
                }
            }
            let bx = match x {
                Ok(i) => BigInt::from(i),
                Err(b) => b,
            };
            let by = match y {
                Ok(i) => BigInt::from(i),
                Err(b) => b,
            };
            if let (Value::Bool(p), Value::Bool(q)) = (a, b) {
                match op {
                    BinOp::BitAnd => return Ok(Value::bool(p.get() & q.get())),
                    BinOp::BitOr => return Ok(Value::bool(p.get() | q.get())),
                    BinOp::BitXor => return Ok(Value::bool(p.get() ^ q.get())),
                    _ => {}
                }
            }
            int_op_big(op, &bx, &by)
        }
        _ => {
            let (fa, fb) = match (to_f64(a)?, to_f64(b)?) {
                (Some(x), Some(y)) => (x, y),
                _ => {
                    return match op {
                        BinOp::Pow => type_error(format!(
                            "unsupported operand type(s) for ** or pow(): '{}' and '{}'",
                            a.type_name(),
                            b.type_name()
                        )),
                        _ => unsupported(sym, a, b),
                    }
                }
            };
            float_op(op, fa, fb, a, b)
        }
    }
}

/// `x | y`, `x & y`, `x - y`, `x ^ y` on two sets, built as CPython's setobject.c builds
/// them (the order keys go in decides the order the result prints in).
fn set_op(op: BinOp, x: &Arc<SetObj>, y: &Arc<SetObj>) -> PResult<Value> {
    let mine = x.table.lock().clone();
    let same = Arc::ptr_eq(x, y);
    let src = SetSource::Set(if same {
        mine.clone()
    } else {
        y.table.lock().clone()
    });
    Ok(Value::set(match op {
        BinOp::BitOr => {
            let mut r = mine.copied();
            if !same {
                r.update(&src);
            }
            r
        }
        BinOp::BitAnd if same => mine.copied(),
        BinOp::BitAnd => mine.intersection(&src),
        BinOp::Sub => mine.difference(&src),
        _ => mine.symmetric_difference(&src),
    }))
}

/// `s |= o`, `s &= o`, `s -= o`, `s ^= o` on two sets, in place as CPython does them.
fn set_inplace(op: BinOp, s: &Arc<SetObj>, o: &Arc<SetObj>) {
    let same = Arc::ptr_eq(s, o);
    let src = if same {
        None
    } else {
        Some(SetSource::Set(o.table.lock().clone()))
    };
    let mut t = s.table.lock();
    let old = match (op, &src) {
        (BinOp::BitOr, Some(src)) => {
            t.update(src);
            None
        }
        (BinOp::BitOr, None) => None,
        (BinOp::BitAnd, _) => {
            let r = match &src {
                Some(src) => t.intersection(src),
                None => t.copied(),
            };
            Some(t.replace_body(r))
        }
        (BinOp::Sub, Some(src)) => {
            t.difference_update(src);
            None
        }
        (_, Some(src)) => {
            t.symmetric_difference_update(src);
            None
        }
        (_, None) => Some(t.take_cleared()),
    };
    drop(t);
    drop(old);
}

fn int_op_small(op: BinOp, x: i64, y: i64) -> PResult<Option<Value>> {
    Ok(match op {
        BinOp::Add => x.checked_add(y).map(Value::Int),
        BinOp::Sub => x.checked_sub(y).map(Value::Int),
        BinOp::Mul => x.checked_mul(y).map(Value::Int),
        BinOp::Div => {
            if y == 0 {
                return err(ExcKind::ZeroDivisionError, "division by zero");
            }
            if x.unsigned_abs() < (1 << 53) && y.unsigned_abs() < (1 << 53) {
                Some(Value::float(x as f64 / y as f64))
            } else {
                None
            }
        }
        BinOp::FloorDiv => {
            if y == 0 {
                return err(
                    ExcKind::ZeroDivisionError,
                    "integer division or modulo by zero",
                );
            }
            x.checked_div_euclid(y)
                .map(|_| Value::Int(num_integer::Integer::div_floor(&x, &y)))
        }
        BinOp::Mod => {
            if y == 0 {
                return err(ExcKind::ZeroDivisionError, "integer modulo by zero");
            }
            if y == -1 {
                Some(Value::Int(0))
            } else {
                Some(Value::Int(x.mod_floor(&y)))
            }
        }
        BinOp::Pow => {
            if y < 0 {
                if x == 0 {
                    return err(
                        ExcKind::ZeroDivisionError,
                        "0.0 cannot be raised to a negative power",
                    );
                }
                Some(Value::float((x as f64).powf(y as f64)))
            } else if y <= u32::MAX as i64 {
                x.checked_pow(y as u32).map(Value::Int)
            } else {
                None
            }
        }
        BinOp::LShift => {
            if y < 0 {
                return err(ExcKind::ValueError, "negative shift count");
            }
            if y < 63 && x.unsigned_abs() < (1u64 << (63 - y)) {
                Some(Value::Int(x << y))
            } else {
                None
            }
        }
        BinOp::RShift => {
            if y < 0 {
                return err(ExcKind::ValueError, "negative shift count");
            }
            Some(Value::Int(if y >= 64 {
                if x < 0 {
                    -1
                } else {
                    0
                }
            } else {
                x >> y
            }))
        }
        BinOp::BitAnd => Some(Value::Int(x & y)),
        BinOp::BitOr => Some(Value::Int(x | y)),
        BinOp::BitXor => Some(Value::Int(x ^ y)),
        BinOp::MatMul => return type_error("unsupported operand type(s) for @: 'int' and 'int'"),
    })
}

fn int_op_big(op: BinOp, x: &BigInt, y: &BigInt) -> PResult<Value> {
    Ok(match op {
        BinOp::Add => Value::from_bigint(x + y),
        BinOp::Sub => Value::from_bigint(x - y),
        BinOp::Mul => {
            check_size((x.bits() + y.bits()) as u128 / 8)?;
            Value::from_bigint(x * y)
        }
        BinOp::Div => {
            if y.is_zero() {
                return err(ExcKind::ZeroDivisionError, "division by zero");
            }
            Value::float(big_true_div(x, y)?)
        }
        BinOp::FloorDiv => {
            if y.is_zero() {
                return err(
                    ExcKind::ZeroDivisionError,
                    "integer division or modulo by zero",
                );
            }
            Value::from_bigint(x.div_floor(y))
        }
        BinOp::Mod => {
            if y.is_zero() {
                return err(ExcKind::ZeroDivisionError, "integer modulo by zero");
            }
            Value::from_bigint(x.mod_floor(y))
        }
        BinOp::Pow => {
            if y.is_negative() {
                if x.is_zero() {
                    return err(
                        ExcKind::ZeroDivisionError,
                        "0.0 cannot be raised to a negative power",
                    );
                }
                let fx = x.to_f64().unwrap_or(f64::INFINITY);
                let fy = y.to_f64().unwrap_or(f64::NEG_INFINITY);
                return Ok(Value::float(fx.powf(fy)));
            }
            if x.is_zero() || x.is_one() {
                return Ok(Value::from_bigint(x.clone()));
            }
            if *x == BigInt::from(-1) {
                return Ok(Value::Int(if y.is_even() { 1 } else { -1 }));
            }
            let e = match y.to_u64() {
                Some(e) => e,
                None => return err(ExcKind::MemoryError, ""),
            };
            check_size(x.bits() as u128 * e as u128 / 8)?;
            Value::from_bigint(Pow::pow(x, e))
        }
        BinOp::LShift => {
            if y.is_negative() {
                return err(ExcKind::ValueError, "negative shift count");
            }
            if x.is_zero() {
                return Ok(Value::Int(0));
            }
            // CPython shifts by whole 30-bit digits: a result of more digits than a size
            // can count is an OverflowError, anything smaller that cannot be allocated a
            // MemoryError.
            const MAX_LONG_DIGITS: u64 = (i64::MAX as u64 - 24) / 4;
            let digits = x.bits().div_ceil(30);
            let s = match y.to_u64() {
                Some(s) if s / 30 + digits < MAX_LONG_DIGITS => s,
                _ => {
                    let wordshift: BigInt = y / 30;
                    return if wordshift + digits + 1u32 > BigInt::from(MAX_LONG_DIGITS) {
                        err(ExcKind::OverflowError, "too many digits in integer")
                    } else {
                        err(ExcKind::MemoryError, "")
                    };
                }
            };
            check_size((x.bits() + s) as u128 / 8)?;
            Value::from_bigint(x << s)
        }
        BinOp::RShift => {
            if y.is_negative() {
                return err(ExcKind::ValueError, "negative shift count");
            }
            match y.to_u64() {
                Some(s) => Value::from_bigint(x >> s),
                None => Value::Int(if x.is_negative() { -1 } else { 0 }),
            }
        }
        BinOp::BitAnd => Value::from_bigint(x & y),
        BinOp::BitOr => Value::from_bigint(x | y),
        BinOp::BitXor => Value::from_bigint(x ^ y),
        BinOp::MatMul => return type_error("unsupported operand type(s) for @: 'int' and 'int'"),
    })
}

/// Correctly rounded int / int for big operands.
fn big_true_div(x: &BigInt, y: &BigInt) -> PResult<f64> {
    if let (Some(a), Some(b)) = (x.to_f64(), y.to_f64()) {
        if x.bits() <= 53 && y.bits() <= 53 {
            return Ok(a / b);
        }
    }
    if x.is_zero() {
        // 0 / -n is -0.0, as with floats.
        return Ok(if y.is_negative() { -0.0 } else { 0.0 });
    }
    // Scale so the quotient has 64+ significant bits, then divide.
    let shift = (y.bits() as i64) - (x.bits() as i64) + 66;
    let (num, den) = if shift > 0 {
        (x << shift as u64, y.clone())
    } else {
        (x.clone(), y << (-shift) as u64)
    };
    let q = num / den;
    let qf = q.to_f64().unwrap_or(f64::INFINITY);
    let r = qf * 2f64.powi(-(shift as i32));
    if r.is_infinite() {
        return err(
            ExcKind::OverflowError,
            "integer division result too large for a float",
        );
    }
    Ok(r)
}

fn float_op(op: BinOp, x: f64, y: f64, a: &Value, b: &Value) -> PResult<Value> {
    Ok(Value::Float(match op {
        BinOp::Add => F64::new(x + y),
        BinOp::Sub => F64::new(x - y),
        BinOp::Mul => F64::new(x * y),
        BinOp::Div => {
            if y == 0.0 {
                return err(ExcKind::ZeroDivisionError, "float division by zero");
            }
            F64::new(x / y)
        }
        BinOp::FloorDiv => {
            if y == 0.0 {
                return err(ExcKind::ZeroDivisionError, "float floor division by zero");
            }
            F64::new(float_divmod(x, y).0)
        }
        BinOp::Mod => {
            if y == 0.0 {
                return err(ExcKind::ZeroDivisionError, "float modulo");
            }
            F64::new(float_divmod(x, y).1)
        }
        BinOp::Pow => {
            if x == 0.0 && y < 0.0 {
                return err(
                    ExcKind::ZeroDivisionError,
                    "0.0 cannot be raised to a negative power",
                );
            }
            if x < 0.0 && y.fract() != 0.0 && y.is_finite() {
                return err(ExcKind::ValueError, "math domain error");
            }
            let r = x.powf(y);
            if r.is_infinite() && x.is_finite() && y.is_finite() {
                return err(
                    ExcKind::OverflowError,
                    "(34, 'Numerical result out of range')",
                );
            }
            F64::new(r)
        }
        _ => return unsupported(binop_symbol(op as u32), a, b),
    }))
}

/// Python's float divmod: floor quotient and a remainder with the sign of the divisor.
pub fn float_divmod(x: f64, y: f64) -> (f64, f64) {
    let mut m = x % y;
    let mut div = (x - m) / y;
    if m != 0.0 {
        if (y < 0.0) != (m < 0.0) {
            m += y;
            div -= 1.0;
        }
    } else {
        m = 0.0f64.copysign(y);
    }
    let floordiv = if div != 0.0 {
        let mut f = div.floor();
        if div - f > 0.5 {
            f += 1.0;
        }
        f
    } else {
        0.0f64.copysign(x / y)
    };
    (floordiv, m)
}

/// `a OP= b`: lists are extended / repeated in place, everything else is `a OP b`.
#[inline(never)]
pub fn inplace(op: BinOp, a: &Value, b: &Value, vm: &mut crate::vm::Vm) -> PResult<Value> {
    if let Value::List(l) = a {
        match op {
            BinOp::Add => {
                let items = vm.collect_iterable(b)?;
                l.items.lock().extend(items);
                return Ok(a.clone());
            }
            BinOp::Mul if is_int(b) => {
                if let Value::List(r) = repeat(a, b)? {
                    let items = r.items.lock().clone();
                    *l.items.lock() = items;
                }
                return Ok(a.clone());
            }
            _ => {}
        }
    }
    if let (Value::Set(s), Value::Set(o)) = (a, b) {
        if matches!(
            op,
            BinOp::BitOr | BinOp::BitAnd | BinOp::Sub | BinOp::BitXor
        ) {
            set_inplace(op, s, o);
            return Ok(a.clone());
        }
    }
    if let (Value::Dict(d), Value::Dict(o), BinOp::BitOr) = (a, b, op) {
        let other = o.table.lock().clone();
        let mut t = d.table.lock();
        for (h, k, v) in other.iter_hashed() {
            t.insert(h, k.clone(), v.clone());
        }
        return Ok(a.clone());
    }
    match op {
        BinOp::Add => add(a, b),
        BinOp::Sub => sub(a, b),
        BinOp::Mul => mul(a, b),
        _ => arith(op, a, b),
    }
}

#[inline(never)]
pub fn neg(a: &Value) -> PResult<Value> {
    Ok(match a {
        Value::Int(i) => match i.checked_neg() {
            Some(r) => Value::Int(r),
            None => Value::from_bigint(-BigInt::from(*i)),
        },
        Value::Bool(b) => Value::Int(-(b.get() as i64)),
        Value::BigInt(b) => Value::from_bigint(-(**b).clone()),
        Value::Float(f) => Value::float(-f.get()),
        _ => return type_error(format!("bad operand type for unary -: '{}'", a.type_name())),
    })
}

#[inline(never)]
pub fn pos(a: &Value) -> PResult<Value> {
    Ok(match a {
        Value::Int(_) | Value::BigInt(_) | Value::Float(_) => a.clone(),
        Value::Bool(b) => Value::Int(b.get() as i64),
        _ => return type_error(format!("bad operand type for unary +: '{}'", a.type_name())),
    })
}

#[inline(never)]
pub fn invert(a: &Value) -> PResult<Value> {
    Ok(match a {
        Value::Int(i) => Value::Int(!i),
        Value::Bool(b) => Value::Int(!(b.get() as i64)),
        Value::BigInt(b) => Value::from_bigint(-(**b).clone() - 1),
        _ => return type_error(format!("bad operand type for unary ~: '{}'", a.type_name())),
    })
}

// ---------------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Recursion depth of comparisons and reprs
// ---------------------------------------------------------------------------------------------

/// The recursion limit (`sys.setrecursionlimit`), as the comparison and repr of nested
/// containers see it: each nested container counts one level, as in CPython, and going past
/// the limit raises RecursionError instead of recursing on (so no nesting can overflow the
/// interpreter's own stack).
static RECURSION_LIMIT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1000);
/// Whatever the limit, nesting deeper than this raises (the native stack bounds it).
const HARD_DEPTH_LIMIT: usize = 100_000;

/// Called by `sys.setrecursionlimit`.
pub fn set_recursion_limit(n: usize) {
    RECURSION_LIMIT.store(n, std::sync::atomic::Ordering::Relaxed);
}

fn depth_limit() -> usize {
    RECURSION_LIMIT
        .load(std::sync::atomic::Ordering::Relaxed)
        .min(HARD_DEPTH_LIMIT)
}

thread_local! {
    /// Nested container comparisons under way on this thread.
    static CMP_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// One level of container comparison; leaving it (drop) decrements the depth.
struct CmpLevel;

impl Drop for CmpLevel {
    fn drop(&mut self) {
        CMP_DEPTH.with(|d| d.set(d.get() - 1));
    }
}

#[inline]
fn enter_cmp() -> PResult<CmpLevel> {
    let depth = CMP_DEPTH.with(|d| {
        let n = d.get() + 1;
        d.set(n);
        n
    });
    let level = CmpLevel;
    if depth > depth_limit() {
        return err(
            ExcKind::RecursionError,
            "maximum recursion depth exceeded in comparison",
        );
    }
    Ok(level)
}

/// `a == b` for the built-in types, for callers that cannot raise: a RecursionError (from
/// nesting deeper than the recursion limit) reads as "not equal". Use `eq_checked` where the
/// error can be raised.
#[inline(never)]
pub fn eq(a: &Value, b: &Value) -> bool {
    eq_checked(a, b).unwrap_or(false)
}

/// `a == b` for the built-in types. Containers compare element by element (without holding a
/// lock while comparing, so a list that contains itself cannot deadlock); nesting deeper than
/// the recursion limit raises RecursionError, as in CPython.
#[inline(never)]
pub fn eq_checked(a: &Value, b: &Value) -> PResult<bool> {
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => Arc::ptr_eq(x, y) || x.s == y.s,
        (Value::None, Value::None) => true,
        (Value::List(x), Value::List(y)) => {
            if Arc::ptr_eq(x, y) {
                return Ok(true);
            }
            let _level = enter_cmp()?;
            let xs = x.items.lock().clone();
            let ys = y.items.lock().clone();
            seq_eq(&xs, &ys)?
        }
        (Value::Tuple(x), Value::Tuple(y)) => {
            if Arc::ptr_eq(x, y) {
                return Ok(true);
            }
            let _level = enter_cmp()?;
            seq_eq(&x.items, &y.items)?
        }
        (Value::Dict(x), Value::Dict(y)) => {
            if Arc::ptr_eq(x, y) {
                return Ok(true);
            }
            let _level = enter_cmp()?;
            let xt = x.table.lock().clone();
            let yt = y.table.lock().clone();
            if xt.len() != yt.len() {
                return Ok(false);
            }
            for (h, k, v) in xt.iter_hashed() {
                match yt.get_ref(h, k) {
                    Some(w) => {
                        if !(v.is(w) || eq_checked(v, w)?) {
                            return Ok(false);
                        }
                    }
                    None => return Ok(false),
                }
            }
            true
        }
        (Value::Set(x), Value::Set(y)) => {
            if Arc::ptr_eq(x, y) {
                return Ok(true);
            }
            let xt = x.table.lock().clone();
            let yt = y.table.lock().clone();
            xt.len() == yt.len() && xt.iter_hashed().all(|(h, k)| yt.contains(h, k))
        }
        (Value::Range(x), Value::Range(y)) => {
            let (lx, ly) = (x.len(), y.len());
            lx == ly && (lx == 0 || (x.start == y.start && (lx == 1 || x.step == y.step)))
        }
        (Value::Exc(x), Value::Exc(y)) => Arc::ptr_eq(x, y),
        (Value::Type(x), Value::Type(y)) => x == y,
        (Value::Native(n), other) | (other, Value::Native(n)) if n.0.eq_value(other).is_some() => {
            n.0.eq_value(other).unwrap_or(false)
        }
        (Value::Slice(x), Value::Slice(y)) => {
            eq_checked(&x.lower, &y.lower)?
                && eq_checked(&x.upper, &y.upper)?
                && eq_checked(&x.step, &y.step)?
        }
        _ => match (num_of(a), num_of(b)) {
            (Some(x), Some(y)) => num_eq(&x, &y),
            _ => a.is(b),
        },
    })
}

fn seq_eq(xs: &[Value], ys: &[Value]) -> PResult<bool> {
    if xs.len() != ys.len() {
        return Ok(false);
    }
    for (p, q) in xs.iter().zip(ys.iter()) {
        if !(p.is(q) || eq_checked(p, q)?) {
            return Ok(false);
        }
    }
    Ok(true)
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CmpKind {
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpKind {
    fn symbol(self) -> &'static str {
        match self {
            CmpKind::Lt => "<",
            CmpKind::Le => "<=",
            CmpKind::Gt => ">",
            CmpKind::Ge => ">=",
        }
    }
    fn test(self, o: Ordering) -> bool {
        match self {
            CmpKind::Lt => o == Ordering::Less,
            CmpKind::Le => o != Ordering::Greater,
            CmpKind::Gt => o == Ordering::Greater,
            CmpKind::Ge => o != Ordering::Less,
        }
    }
}

/// `a < b` and friends.
#[inline(never)]
pub fn compare(op: CmpKind, a: &Value, b: &Value) -> PResult<bool> {
    if let (Value::Int(x), Value::Int(y)) = (a, b) {
        return Ok(op.test(x.cmp(y)));
    }
    if let (Value::Float(x), Value::Float(y)) = (a, b) {
        let (x, y) = (x.get(), y.get());
        return Ok(match op {
            CmpKind::Lt => x < y,
            CmpKind::Le => x <= y,
            CmpKind::Gt => x > y,
            CmpKind::Ge => x >= y,
        });
    }
    if let (Some(x), Some(y)) = (num_of(a), num_of(b)) {
        return Ok(match num_cmp(&x, &y) {
            Some(o) => op.test(o),
            None => false,
        });
    }
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Ok(op.test(x.s.cmp(&y.s))),
        (Value::List(x), Value::List(y)) => {
            let _level = enter_cmp()?;
            let xs = x.items.lock().clone();
            let ys = y.items.lock().clone();
            seq_compare(op, &xs, &ys)
        }
        (Value::Tuple(x), Value::Tuple(y)) => {
            let _level = enter_cmp()?;
            seq_compare(op, &x.items, &y.items)
        }
        (Value::Set(x), Value::Set(y)) => {
            let xt = x.table.lock().clone();
            let yt = y.table.lock().clone();
            let sub = |p: &SetTable, q: &SetTable| p.iter_hashed().all(|(h, k)| q.contains(h, k));
            Ok(match op {
                CmpKind::Le => sub(&xt, &yt),
                CmpKind::Lt => xt.len() < yt.len() && sub(&xt, &yt),
                CmpKind::Ge => sub(&yt, &xt),
                CmpKind::Gt => xt.len() > yt.len() && sub(&yt, &xt),
            })
        }
        _ => type_error(format!(
            "'{}' not supported between instances of '{}' and '{}'",
            op.symbol(),
            a.type_name(),
            b.type_name()
        )),
    }
}

fn num_cmp(a: &Num, b: &Num) -> Option<Ordering> {
    match (a, b) {
        (Num::I(x), Num::I(y)) => Some(x.cmp(y)),
        (Num::B(x), Num::B(y)) => Some(x.cmp(y)),
        (Num::I(x), Num::B(y)) => Some(BigInt::from(*x).cmp(y)),
        (Num::B(x), Num::I(y)) => Some((*x).cmp(&BigInt::from(*y))),
        (Num::F(x), Num::F(y)) => x.partial_cmp(y),
        (Num::I(i), Num::F(f)) => int_float_cmp_i(*i, *f),
        (Num::F(f), Num::I(i)) => int_float_cmp_i(*i, *f).map(|o| o.reverse()),
        (Num::B(b), Num::F(f)) => int_float_cmp_b(b, *f),
        (Num::F(f), Num::B(b)) => int_float_cmp_b(b, *f).map(|o| o.reverse()),
    }
}

fn seq_compare(op: CmpKind, xs: &[Value], ys: &[Value]) -> PResult<bool> {
    for (p, q) in xs.iter().zip(ys.iter()) {
        if !(p.is(q) || eq_checked(p, q)?) {
            return compare(op, p, q);
        }
    }
    Ok(op.test(xs.len().cmp(&ys.len())))
}

/// A total order for sorting: `a < b` as Python's sort uses it.
pub fn less_than(a: &Value, b: &Value) -> PResult<bool> {
    compare(CmpKind::Lt, a, b)
}

/// `x is y or x == y`, as `in` and `list.index` test items.
#[inline(always)]
fn item_eq(x: &Value, y: &Value) -> PResult<bool> {
    match (x, y) {
        (Value::Int(a), Value::Int(b)) => Ok(a == b),
        _ => Ok(x.is(y) || eq_checked(x, y)?),
    }
}

fn any_item_eq(items: &[Value], needle: &Value) -> PResult<bool> {
    for x in items {
        if item_eq(x, needle)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `needle in haystack` (iterators are consumed as in Python; the VM handles those).
#[inline(never)]
pub fn contains(hay: &Value, needle: &Value) -> PResult<Option<bool>> {
    Ok(Some(match hay {
        Value::Str(s) => match needle {
            Value::Str(n) => str_find(&s.s, &n.s).is_some(),
            _ => {
                return type_error(format!(
                    "'in <string>' requires string as left operand, not {}",
                    needle.type_name()
                ))
            }
        },
        Value::List(l) => {
            if matches!(
                needle,
                Value::Int(_) | Value::Str(_) | Value::Float(_) | Value::Bool(_) | Value::None
            ) {
                // Comparing anything with a number, a string or None takes no lock, so the
                // list can stay locked during the scan (no copy of it).
                let items = l.items.lock();
                return any_item_eq(&items, needle).map(Some);
            }
            let items = l.items.lock().clone();
            any_item_eq(&items, needle)?
        }
        Value::Tuple(t) => any_item_eq(&t.items, needle)?,
        Value::Dict(d) => {
            let h = hash_value(needle)?;
            d.table.lock().contains(h, needle)
        }
        // A set needle is looked up as a frozenset (CPython retries so); sets hold no
        // frozensets here, so it is never found.
        Value::Set(_) if matches!(needle, Value::Set(_)) => false,
        Value::Set(s) => {
            let h = hash_value(needle)?;
            s.table.lock().contains(h, needle)
        }
        Value::Range(r) => {
            let n: Option<i128> = match needle {
                Value::Int(i) => Some(*i as i128),
                Value::Bool(b) => Some(b.get() as i128),
                Value::BigInt(b) => b.to_i128(),
                Value::Float(f)
                    if f.get().fract() == 0.0 && f.get().is_finite() && f.get().abs() < 1e38 =>
                {
                    Some(f.get() as i128)
                }
                _ => None,
            };
            match n {
                Some(i) => {
                    let (start, stop, step) = (r.start, r.stop, r.step);
                    let inside = if step > 0 {
                        i >= start && i < stop
                    } else {
                        i <= start && i > stop
                    };
                    inside && (i - start) % step == 0
                }
                None => false,
            }
        }
        _ => return Ok(None),
    }))
}

// ---------------------------------------------------------------------------------------------
// repr and str
// ---------------------------------------------------------------------------------------------

thread_local! {
    /// Containers whose repr is being built (to print `[...]` for a list inside itself).
    static REPR_STACK: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    /// Set when a repr went deeper than the recursion limit (and stopped there): the
    /// `*_checked` functions turn it into RecursionError.
    static REPR_TOO_DEEP: Cell<bool> = const { Cell::new(false) };
    /// Set when a repr met an int of more than 4300 digits (CPython 3.11's limit for
    /// int-to-str conversion): the `*_checked` functions turn it into ValueError.
    static REPR_INT_TOO_LONG: Cell<bool> = const { Cell::new(false) };
}

/// Values whose repr may fail (nested too deep, or an int past the digit limit).
fn is_container(v: &Value) -> bool {
    matches!(
        v,
        Value::List(_)
            | Value::Tuple(_)
            | Value::Dict(_)
            | Value::Set(_)
            | Value::Native(_)
            | Value::BigInt(_)
    )
}

/// Run a repr, raising RecursionError if it went deeper than the recursion limit.
fn repr_guarded<T>(f: impl FnOnce() -> T) -> PResult<T> {
    REPR_TOO_DEEP.with(|c| c.set(false));
    REPR_INT_TOO_LONG.with(|c| c.set(false));
    let r = f();
    if REPR_INT_TOO_LONG.with(|c| c.replace(false)) {
        return err(
            ExcKind::ValueError,
            "Exceeds the limit (4300 digits) for integer string conversion; \
             use sys.set_int_max_str_digits() to increase the limit",
        );
    }
    if REPR_TOO_DEEP.with(|c| c.replace(false)) {
        return err(
            ExcKind::RecursionError,
            "maximum recursion depth exceeded while getting the repr of an object",
        );
    }
    Ok(r)
}

/// `repr(v)`, raising RecursionError for containers nested deeper than the recursion limit
/// (`repr_plain` cuts such a repr short instead).
pub fn repr_checked(v: &Value) -> PResult<String> {
    if !is_container(v) {
        return Ok(repr_plain(v));
    }
    repr_guarded(|| repr_plain(v))
}

/// `str(v)` as a String, raising RecursionError as `repr_checked` does.
pub fn to_str_checked(v: &Value) -> PResult<String> {
    if !is_container(v) {
        return Ok(to_str(v));
    }
    repr_guarded(|| to_str(v))
}

/// `str(v)` as a value, raising RecursionError as `repr_checked` does.
pub fn str_value_checked(v: &Value) -> PResult<Value> {
    if !is_container(v) {
        return Ok(str_value(v));
    }
    repr_guarded(|| str_value(v))
}

/// Python's `repr()` of a built-in value (no user classes exist, so it cannot fail).
pub fn repr_plain(v: &Value) -> String {
    let mut out = String::new();
    repr_into(v, &mut out);
    out
}

pub fn repr_into(v: &Value, out: &mut String) {
    match v {
        Value::None => out.push_str("None"),
        Value::Unbound => out.push_str("<unbound>"),
        Value::Bool(B64::True) => out.push_str("True"),
        Value::Bool(B64::False) => out.push_str("False"),
        Value::Int(i) => crate::format::push_i64(out, *i),
        Value::BigInt(b) => match crate::format::int_to_decimal(b) {
            Ok(d) => out.push_str(&d),
            Err(_) => {
                // Past the 4300-digit limit: the checked callers raise ValueError.
                REPR_INT_TOO_LONG.with(|c| c.set(true));
                out.push_str("<int too long>");
            }
        },
        Value::Float(f) => out.push_str(&crate::format::float_repr(f.get())),
        Value::Str(s) => str_repr_into(&s.s, out),
        Value::List(_) | Value::Tuple(_) | Value::Dict(_) | Value::Set(_) => container_repr(v, out),
        Value::Range(r) => {
            if r.step == 1 {
                out.push_str(&format!("range({}, {})", r.start, r.stop));
            } else {
                out.push_str(&format!("range({}, {}, {})", r.start, r.stop, r.step));
            }
        }
        Value::Func(f) => out.push_str(&format!(
            "<function {} at 0x{:x}>",
            f.code.name,
            v.heap_ptr().unwrap_or(0)
        )),
        Value::Builtin(b) => match &b.bound {
            Some(this) => out.push_str(&format!(
                "<built-in method {} of {} object at 0x{:x}>",
                b.name,
                this.type_name(),
                this.heap_ptr().unwrap_or(0)
            )),
            None => out.push_str(&format!("<built-in function {}>", b.name)),
        },
        Value::Iter(_) => out.push_str(&format!(
            "<{} object at 0x{:x}>",
            v.type_name(),
            v.heap_ptr().unwrap_or(0)
        )),
        Value::Module(m) => out.push_str(&format!("<module '{}' (built-in)>", m.name)),
        Value::Exc(e) => {
            out.push_str(e.kind.name());
            out.push('(');
            for (i, a) in exc_visible_args(e).iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_into(a, out);
            }
            out.push(')');
        }
        Value::Type(t) => match t.get() {
            TypeKind::Exc(k) => out.push_str(&format!("<class '{}'>", k.qualified_name())),
            TypeKind::Native(n) => out.push_str(&format!("<class '{}'>", n.name())),
            _ => out.push_str(&format!("<class '{}'>", t.get().name())),
        },
        Value::Slice(s) => {
            out.push_str("slice(");
            repr_into(&s.lower, out);
            out.push_str(", ");
            repr_into(&s.upper, out);
            out.push_str(", ");
            repr_into(&s.step, out);
            out.push(')');
        }
        Value::Native(n) => out.push_str(&n.0.repr()),
    }
}

fn container_repr(v: &Value, out: &mut String) {
    let ptr = v.heap_ptr().unwrap_or(0);
    let recursive = REPR_STACK.with(|s| s.borrow().contains(&ptr));
    if recursive {
        out.push_str(match v {
            Value::List(_) => "[...]",
            Value::Dict(_) => "{...}",
            Value::Set(_) => "set(...)",
            _ => "(...)",
        });
        return;
    }
    if REPR_STACK.with(|s| s.borrow().len()) >= depth_limit() {
        REPR_TOO_DEEP.with(|c| c.set(true));
        return;
    }
    REPR_STACK.with(|s| s.borrow_mut().push(ptr));
    match v {
        Value::List(l) => {
            let items = l.items.lock().clone();
            out.push('[');
            join_repr(&items, out);
            out.push(']');
        }
        Value::Tuple(t) => {
            out.push('(');
            join_repr(&t.items, out);
            if t.items.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        Value::Dict(d) => {
            let t = d.table.lock().clone();
            out.push('{');
            for (i, (k, val)) in t.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_into(k, out);
                out.push_str(": ");
                repr_into(val, out);
            }
            out.push('}');
        }
        Value::Set(s) => {
            let keys = s.table.lock().keys();
            if keys.is_empty() {
                out.push_str("set()");
            } else {
                out.push('{');
                join_repr(&keys, out);
                out.push('}');
            }
        }
        _ => {}
    }
    REPR_STACK.with(|s| {
        s.borrow_mut().pop();
    });
}

fn join_repr(items: &[Value], out: &mut String) {
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        repr_into(x, out);
    }
}

/// Python's repr of a str: quotes chosen as Python chooses them, escapes as Python writes them.
pub fn str_repr_into(s: &str, out: &mut String) {
    out.push_str(&crate::format::str_repr(s));
}

#[allow(dead_code)]
fn str_repr_into_old(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if (0x80..0xa0).contains(&(c as u32)) || c as u32 == 0xad => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if is_unprintable(c) => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

fn is_unprintable(c: char) -> bool {
    let u = c as u32;
    matches!(u, 0x2028 | 0x2029 | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0xfeff | 0xd800..=0xdfff | 0xe000..=0xf8ff | 0xfff9..=0xfffb)
        || (0x1680 == u)
        || (0x2000..=0x200a).contains(&u)
        || u == 0x3000
        || u == 0x205f
        || u == 0x202f
        || u == 0xa0
        || (0xe0000..=0xe007f).contains(&u)
        || u > 0x10ffff
}

pub fn str_repr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    str_repr_into(s, &mut out);
    out
}

/// Python's `str()` of a built-in value, as a str value (a str is returned as is; an int
/// is written directly, with no intermediate copy or ASCII rescan).
pub fn str_value(v: &Value) -> Value {
    match v {
        Value::Str(_) => v.clone(),
        Value::Int(i @ 0..=9) => ascii_char(b'0' + *i as u8),
        Value::Int(i) => {
            let mut s = StrBuf::new();
            crate::format::push_i64(&mut s, *i);
            Value::str_known(s, true)
        }
        _ => Value::str(to_str(v)),
    }
}

/// Python's `str()` of a built-in value.
pub fn to_str(v: &Value) -> String {
    match v {
        Value::Str(s) => s.s.as_str().to_owned(),
        Value::Exc(e) => exc_str(e),
        _ => repr_plain(v),
    }
}

/// `e.args`: an OSError made with (errno, strerror, filename) shows only the first two.
pub fn exc_visible_args(e: &ExcObj) -> Vec<Value> {
    if e.kind.is_subclass(ExcKind::OSError)
        && e.args.len() >= 3
        && matches!(e.args[0], Value::Int(_))
    {
        return e.args[..2].to_vec();
    }
    e.args.clone()
}

/// `str(exception)`: the message as Python prints it after `Type: `.
pub fn exc_str(e: &ExcObj) -> String {
    if e.kind == ExcKind::KeyError && e.args.len() == 1 {
        return repr_plain(&e.args[0]);
    }
    if e.kind.is_subclass(ExcKind::OSError) && (e.args.len() == 2 || e.args.len() == 3) {
        if let Value::Int(errno) = e.args[0] {
            let mut s = format!("[Errno {}] {}", errno, to_str(&e.args[1]));
            if e.args.len() == 3 {
                s.push_str(": ");
                s.push_str(&repr_plain(&e.args[2]));
            }
            return s;
        }
    }
    match e.args.len() {
        0 => String::new(),
        1 => to_str(&e.args[0]),
        _ => repr_plain(&Value::tuple(e.args.clone())),
    }
}

// ---------------------------------------------------------------------------------------------
// Ints
// ---------------------------------------------------------------------------------------------

/// An index-like int argument (`list[i]`, `range(n)`, …) as i64.
pub fn as_index(v: &Value, what: impl FnOnce() -> String) -> PResult<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Bool(b) => Ok(b.get() as i64),
        Value::BigInt(_) => err(
            ExcKind::IndexError,
            "cannot fit 'int' into an index-sized integer",
        ),
        _ => type_error(what()),
    }
}
