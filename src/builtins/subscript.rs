//! Indexing and slicing: `o[i]`, `o[i] = v`, `del o[i]` for the built-in containers, with
//! Python's index normalisation, slice arithmetic and error messages.

use crate::dict::hash_value;
use crate::exceptions::{ExcKind, ExcObj};
use crate::ops::{self, err, type_error};
use crate::value::*;
use crate::vm::Vm;

/// Resolve a slice against a sequence of `len` items: (start, stop, step, count).
pub fn slice_indices(s: &SliceObj, len: i64) -> PResult<(i64, i64, i64, i64)> {
    let (start, stop, step, count) = slice_indices_wide(s, len as i128)?;
    // Start and stop are within [-1, len]; a step beyond i64 takes at most one item.
    let step = step.clamp(i64::MIN as i128 + 1, i64::MAX as i128) as i64;
    Ok((start as i64, stop as i64, step, count as i64))
}

/// `slice_indices` in 128-bit arithmetic (ranges, whose bounds and steps may exceed i64).
pub fn slice_indices_wide(s: &SliceObj, len: i128) -> PResult<(i128, i128, i128, i128)> {
    let get = |v: &Value| -> PResult<Option<i128>> {
        match v {
            Value::None => Ok(None),
            Value::Int(i) => Ok(Some(*i as i128)),
            Value::Bool(b) => Ok(Some(b.get() as i128)),
            Value::BigInt(b) => Ok(Some(num_traits::ToPrimitive::to_i128(&**b).unwrap_or(
                if num_traits::Signed::is_negative(&**b) {
                    i128::MIN / 4
                } else {
                    i128::MAX / 4
                },
            ))),
            _ => type_error("slice indices must be integers or None or have an __index__ method"),
        }
    };
    let step = get(&s.step)?.unwrap_or(1);
    if step == 0 {
        return err(ExcKind::ValueError, "slice step cannot be zero");
    }
    let (lower, upper) = if step < 0 { (-1, len - 1) } else { (0, len) };
    let adjust = |v: Option<i128>, default: i128| -> i128 {
        match v {
            None => default,
            Some(mut i) => {
                if i < 0 {
                    i += len;
                    if i < lower {
                        i = lower;
                    }
                } else if i > upper {
                    i = upper;
                }
                i
            }
        }
    };
    let start = adjust(get(&s.lower)?, if step < 0 { upper } else { lower });
    let stop = adjust(get(&s.upper)?, if step < 0 { lower } else { upper });
    let count = slice_count(start, stop, step);
    Ok((start, stop, step, count))
}

/// How many indices `start, start + step, …` come before `stop` (CPython's slice length), in
/// i128 for ranges and in i64 for sequences (whose division is not a library call).
#[inline]
fn slice_count<T: num_traits::PrimInt + num_traits::Signed>(start: T, stop: T, step: T) -> T {
    let (zero, one) = (T::zero(), T::one());
    if step == one {
        (stop - start).max(zero)
    } else if step < zero {
        if stop < start {
            (start - stop - one) / (-step) + one
        } else {
            zero
        }
    } else if start < stop {
        (stop - start - one) / step + one
    } else {
        zero
    }
}

/// `slice_indices` in machine words when every part is an int or None (the common case):
/// None when the general path is needed (bools, big ints, bad types, a zero step).
#[inline]
fn slice_indices_small(s: &SliceObj, len: i64) -> Option<(i64, i64, i64)> {
    let get = |v: &Value| match v {
        Value::None => Some(None),
        Value::Int(i) => Some(Some(*i)),
        _ => None,
    };
    let step = get(&s.step)?.unwrap_or(1);
    if step == 0 || step == i64::MIN {
        return None;
    }
    let (lower, upper) = if step < 0 { (-1, len - 1) } else { (0, len) };
    let adjust = |v: Option<i64>, default: i64| match v {
        None => default,
        Some(i) if i < 0 => (i + len).max(lower),
        Some(i) => i.min(upper),
    };
    let start = adjust(get(&s.lower)?, if step < 0 { upper } else { lower });
    let stop = adjust(get(&s.upper)?, if step < 0 { lower } else { upper });
    // Start and stop are within [-1, len] and the step is not i64::MIN: no overflow.
    let count = slice_count(start, stop, step);
    Some((start, step, count))
}

/// (start, step, count) of a slice of a sequence of `len` items.
#[inline]
fn slice_span(sl: &SliceObj, len: i64) -> PResult<(i64, i64, i64)> {
    match slice_indices_small(sl, len) {
        Some(r) => Ok(r),
        None => {
            let (start, _, step, count) = slice_indices(sl, len)?;
            Ok((start, step, count))
        }
    }
}

/// `s[a:b:c]` of a str: byte slicing when it is ASCII; the string itself for a full slice
/// (as CPython).
fn str_slice(obj: &Value, s: &StrObj, sl: &SliceObj) -> PResult<Value> {
    if s.ascii {
        let len = s.s.len() as i64;
        let (start, step, count) = slice_span(sl, len)?;
        if step == 1 {
            if count == len {
                return Ok(obj.clone());
            }
            let piece = &s.s[start as usize..(start + count) as usize];
            return Ok(Value::str_known(piece, true));
        }
        let bytes = s.s.as_bytes();
        let mut out = StrBuf::with_capacity(count as usize);
        for k in 0..count {
            out.push(bytes[(start + k * step) as usize] as char);
        }
        return Ok(Value::str_known(out, true));
    }
    let chars: Vec<char> = s.s.chars().collect();
    let (start, step, count) = slice_span(sl, chars.len() as i64)?;
    if step == 1 && count == chars.len() as i64 {
        return Ok(obj.clone());
    }
    Ok(Value::str(
        pick(&chars, start, step, count)
            .into_iter()
            .collect::<String>(),
    ))
}

/// The hash of a dict key; slices are unhashable.
fn key_hash(idx: &Value) -> PResult<i64> {
    if let Value::Slice(_) = idx {
        return type_error("unhashable type: 'slice'");
    }
    hash_value(idx)
}

#[inline(always)]
fn norm_index(i: i64, len: usize) -> Option<usize> {
    let j = if i < 0 { i + len as i64 } else { i };
    if j < 0 || j >= len as i64 {
        None
    } else {
        Some(j as usize)
    }
}

fn index_of(v: &Value, type_name: &str, text: bool) -> PResult<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Bool(b) => Ok(b.get() as i64),
        Value::BigInt(_) => err(
            ExcKind::IndexError,
            "cannot fit 'int' into an index-sized integer",
        ),
        _ => {
            if text {
                type_error(format!(
                    "string indices must be integers, not '{}'",
                    v.type_name()
                ))
            } else {
                type_error(format!(
                    "{} indices must be integers or slices, not {}",
                    type_name,
                    v.type_name()
                ))
            }
        }
    }
}

fn pick<T: Clone>(items: &[T], start: i64, step: i64, count: i64) -> Vec<T> {
    (0..count)
        .map(|k| items[(start + k * step) as usize].clone())
        .collect()
}

/// `obj[idx]` for the common cases that cannot fail: a list at an int index in range, a
/// dict with an int or str key that is present. None: use `get_item`.
#[inline(always)]
pub fn get_item_fast(obj: &Value, idx: &Value) -> Option<Value> {
    match (obj, idx) {
        (Value::List(l), Value::Int(i)) => {
            let items = l.items.lock();
            let j = norm_index(*i, items.len())?;
            Some(items[j].clone())
        }
        (Value::Dict(d), Value::Int(_) | Value::Str(_)) => {
            let h = crate::dict::hash_value(idx).ok()?;
            d.table.lock().get(h, idx)
        }
        _ => None,
    }
}

/// `obj[idx] = v` for the common cases that cannot fail: a list at an int index in range, a
/// dict with an int or str key. `Err(v)`: not done, use `set_item`.
#[inline(always)]
pub fn set_item_fast(obj: &Value, idx: &Value, v: Value) -> Result<(), Value> {
    match (obj, idx) {
        (Value::List(l), Value::Int(i)) => {
            let mut items = l.items.lock();
            let Some(j) = norm_index(*i, items.len()) else {
                return Err(v);
            };
            let old = std::mem::replace(&mut items[j], v);
            drop(items);
            discard(old);
            Ok(())
        }
        (Value::Dict(d), Value::Int(_) | Value::Str(_)) => {
            let Ok(h) = crate::dict::hash_value(idx) else {
                return Err(v);
            };
            let old = d.table.lock().insert(h, idx.clone(), v);
            discard_opt(old);
            Ok(())
        }
        _ => Err(v),
    }
}

pub fn get_item(obj: &Value, idx: &Value) -> PResult<Value> {
    match obj {
        Value::List(l) => {
            if let Value::Slice(s) = idx {
                let items = l.items.lock();
                let (start, step, count) = slice_span(s, items.len() as i64)?;
                return Ok(Value::list(pick(&items, start, step, count)));
            }
            let i = index_of(idx, "list", false)?;
            let items = l.items.lock();
            match norm_index(i, items.len()) {
                Some(j) => Ok(items[j].clone()),
                None => err(ExcKind::IndexError, "list index out of range"),
            }
        }
        Value::Tuple(t) => {
            if let Value::Slice(s) = idx {
                let (start, step, count) = slice_span(s, t.items.len() as i64)?;
                return Ok(Value::tuple(pick(&t.items, start, step, count)));
            }
            let i = index_of(idx, "tuple", false)?;
            match norm_index(i, t.items.len()) {
                Some(j) => Ok(t.items[j].clone()),
                None => err(ExcKind::IndexError, "tuple index out of range"),
            }
        }
        Value::Str(s) => {
            if let Value::Slice(sl) = idx {
                return str_slice(obj, s, sl);
            }
            let i = index_of(idx, "string", true)?;
            if s.ascii {
                return match norm_index(i, s.s.len()) {
                    Some(j) => Ok(ascii_char(s.s.as_bytes()[j])),
                    None => err(ExcKind::IndexError, "string index out of range"),
                };
            }
            let n = s.char_len();
            match norm_index(i, n) {
                Some(j) => Ok(Value::str(s.s.chars().nth(j).unwrap().to_string())),
                None => err(ExcKind::IndexError, "string index out of range"),
            }
        }
        Value::Dict(d) => {
            let h = key_hash(idx)?;
            match d.table.lock().get(h, idx) {
                Some(v) => Ok(v),
                None => Err(ExcObj::with_args(ExcKind::KeyError, vec![idx.clone()])),
            }
        }
        Value::Range(r) => {
            if let Value::Slice(s) = idx {
                let (start, stop, step, _) = slice_indices_wide(s, r.len())?;
                let at = |k: i128| r.start.saturating_add(k.saturating_mul(r.step));
                return Ok(Value::Range(std::sync::Arc::new(RangeObj {
                    start: at(start),
                    stop: at(stop),
                    step: r.step.saturating_mul(step),
                })));
            }
            let i: i128 = match idx {
                Value::BigInt(b) => num_traits::ToPrimitive::to_i128(&**b).unwrap_or(i128::MAX),
                other => index_of(other, "range", false)? as i128,
            };
            let n = r.len();
            let j = if i < 0 { i + n } else { i };
            if j < 0 || j >= n {
                return err(ExcKind::IndexError, "range object index out of range");
            }
            Ok(int_from_i128(r.get(j)))
        }
        Value::Type(t) => Ok(Value::Type(*t)),
        Value::Native(n) => match n.0.get_attr(obj, "__getitem__") {
            Some(f @ Value::Builtin(_)) => {
                // Native containers (e.g. process.Array) expose item access as a builtin.
                let _ = f;
                type_error(format!("'{}' object is not subscriptable", obj.type_name()))
            }
            _ => type_error(format!("'{}' object is not subscriptable", obj.type_name())),
        },
        _ => type_error(format!("'{}' object is not subscriptable", obj.type_name())),
    }
}

pub fn set_item(vm: &mut Vm, obj: &Value, idx: &Value, v: Value) -> PResult<()> {
    match obj {
        Value::List(l) => {
            if let Value::Slice(s) = idx {
                // As list_ass_subscript: the slice is checked first, then the value must be
                // iterable (with different wording for simple and extended slices).
                let len = l.items.lock().len() as i64;
                let (_, _, step, _) = slice_indices(s, len)?;
                let new_items = match &v {
                    Value::List(_)
                    | Value::Tuple(_)
                    | Value::Str(_)
                    | Value::Dict(_)
                    | Value::Set(_)
                    | Value::Range(_) => vm.collect_iterable(&v)?,
                    other => {
                        let it = crate::vm::iter::make_iter(other).map_err(|_| {
                            ExcObj::new(
                                ExcKind::TypeError,
                                if step == 1 {
                                    "can only assign an iterable"
                                } else {
                                    "must assign iterable to extended slice"
                                },
                            )
                        })?;
                        vm.collect_iterable(&it)?
                    }
                };
                let mut items = l.items.lock();
                let (start, stop, step, count) = slice_indices(s, items.len() as i64)?;
                if step == 1 {
                    let stop = stop.max(start);
                    items.splice(start as usize..stop as usize, new_items);
                    return Ok(());
                }
                if new_items.len() as i64 != count {
                    return err(
                        ExcKind::ValueError,
                        format!(
                            "attempt to assign sequence of size {} to extended slice of size {}",
                            new_items.len(),
                            count
                        ),
                    );
                }
                for (k, x) in new_items.into_iter().enumerate() {
                    items[(start + k as i64 * step) as usize] = x;
                }
                return Ok(());
            }
            let i = index_of(idx, "list", false)?;
            let mut items = l.items.lock();
            match norm_index(i, items.len()) {
                Some(j) => {
                    let old = std::mem::replace(&mut items[j], v);
                    drop(items);
                    drop(old);
                    Ok(())
                }
                None => err(ExcKind::IndexError, "list assignment index out of range"),
            }
        }
        Value::Dict(d) => {
            let h = key_hash(idx)?;
            d.table.lock().insert(h, idx.clone(), v);
            Ok(())
        }
        Value::Tuple(_) | Value::Str(_) if matches!(idx, Value::BigInt(_)) => err(
            ExcKind::IndexError,
            "cannot fit 'int' into an index-sized integer",
        ),
        _ => type_error(format!(
            "'{}' object does not support item assignment",
            obj.type_name()
        )),
    }
}

pub fn del_item(obj: &Value, idx: &Value) -> PResult<()> {
    match obj {
        Value::List(l) => {
            if let Value::Slice(s) = idx {
                let mut items = l.items.lock();
                let (start, step, count) = slice_span(s, items.len() as i64)?;
                let mut doomed: Vec<usize> =
                    (0..count).map(|k| (start + k * step) as usize).collect();
                doomed.sort_unstable();
                for j in doomed.into_iter().rev() {
                    items.remove(j);
                }
                return Ok(());
            }
            let i = index_of(idx, "list", false)?;
            let mut items = l.items.lock();
            match norm_index(i, items.len()) {
                Some(j) => {
                    items.remove(j);
                    Ok(())
                }
                None => err(ExcKind::IndexError, "list assignment index out of range"),
            }
        }
        Value::Dict(d) => {
            let h = key_hash(idx)?;
            match d.table.lock().remove(h, idx) {
                Some(_) => Ok(()),
                None => Err(ExcObj::with_args(ExcKind::KeyError, vec![idx.clone()])),
            }
        }
        _ => type_error(format!(
            "'{}' object doesn't support item deletion",
            obj.type_name()
        )),
    }
}

#[allow(dead_code)]
fn _use(v: &Value) -> String {
    ops::repr_plain(v)
}
