//! Iteration: the loop-iterator stack entries (`LoopIter`), Python's iterator objects
//! (`iter()`, `map`, `zip`, generator expressions …) and the helpers every builtin uses to
//! walk an iterable.
//!
//! A `for` loop keeps its iterator on the VM's own iterator stack, not in a heap object, so
//! the common loops (over a range, a list, a tuple) advance without taking any lock.

use std::sync::Arc;

use super::Vm;
use crate::exceptions::ExcKind;
use crate::ops::{err, type_error};
use crate::value::*;

pub enum LoopIter {
    Range {
        cur: i64,
        stop: i64,
        step: i64,
    },
    List {
        list: Arc<ListObj>,
        idx: usize,
    },
    Tuple {
        tuple: Arc<TupleObj>,
        idx: usize,
    },
    /// A dict, or one of its views: live, and an error if its size changes meanwhile.
    Dict {
        dict: Arc<DictObj>,
        pos: usize,
        size: usize,
        kind: DictIterKind,
    },
    /// Any iterator object (`Value::Iter` or an iterable native object such as a file).
    Object(Value),
}

/// What a dict loop yields: keys (`for k in d`, `d.keys()`), values or `(key, value)` items.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum DictIterKind {
    Keys,
    Values,
    Items,
}

/// One step of a loop iterator that is not a range, list or tuple.
pub enum SlowStep {
    Item(Option<Value>),
    /// A dict item handed over as its key and value, for a loop that unpacks it at once
    /// (`for k, v in d.items()`): no tuple is built.
    Pair(Value, Value),
}

/// The next step of a dict loop (see `LoopIter::Dict`). With `pair`, items come as
/// `SlowStep::Pair`.
#[inline(always)]
fn dict_step(
    dict: &DictObj,
    pos: &mut usize,
    size: &mut usize,
    kind: DictIterKind,
    pair: bool,
) -> PResult<SlowStep> {
    let t = dict.table.lock();
    if t.len() != *size {
        *size = usize::MAX;
        return err(
            ExcKind::RuntimeError,
            "dictionary changed size during iteration",
        );
    }
    let Some((k, v, next)) = t.entry_from(*pos) else {
        *pos = usize::MAX;
        return Ok(SlowStep::Item(None));
    };
    *pos = next;
    Ok(match kind {
        DictIterKind::Keys => SlowStep::Item(Some(k.clone())),
        DictIterKind::Values => SlowStep::Item(Some(v.clone())),
        DictIterKind::Items => {
            let (k, v) = (k.clone(), v.clone());
            drop(t);
            if pair {
                SlowStep::Pair(k, v)
            } else {
                SlowStep::Item(Some(Value::tuple(vec![k, v])))
            }
        }
    })
}

impl LoopIter {
    /// The next item of a range, list or tuple loop — no VM needed, no lock for ranges and
    /// tuples. `Err(())`: another kind of loop, for `Vm::loop_step_slow`.
    #[inline(always)]
    pub fn advance(&mut self) -> Result<Option<Value>, ()> {
        Ok(match self {
            LoopIter::Range { cur, stop, step } => {
                if (*step > 0 && *cur < *stop) || (*step < 0 && *cur > *stop) {
                    let v = *cur;
                    *cur += *step;
                    Some(Value::Int(v))
                } else {
                    None
                }
            }
            LoopIter::List { list, idx } => {
                let v = list.items.lock().get(*idx).cloned();
                *idx += 1;
                v
            }
            LoopIter::Tuple { tuple, idx } => {
                let v = tuple.items.get(*idx).cloned();
                *idx += 1;
                v
            }
            LoopIter::Dict { .. } | LoopIter::Object(_) => return Err(()),
        })
    }

    /// `iter(v)` as the loop needs it.
    pub fn new(v: &Value) -> PResult<LoopIter> {
        Ok(match v {
            Value::Range(r) if r.small().is_some() => {
                let (cur, stop, step) = r.small().unwrap();
                LoopIter::Range { cur, stop, step }
            }
            Value::List(l) => LoopIter::List {
                list: l.clone(),
                idx: 0,
            },
            Value::Tuple(t) => LoopIter::Tuple {
                tuple: t.clone(),
                idx: 0,
            },
            Value::Dict(d) => {
                let size = d.table.lock().len();
                LoopIter::Dict {
                    size,
                    dict: d.clone(),
                    pos: 0,
                    kind: DictIterKind::Keys,
                }
            }
            Value::Native(_) => match crate::builtins::methods::dict_view_parts(v) {
                Some((dict, kind)) => {
                    let size = dict.table.lock().len();
                    LoopIter::Dict {
                        size,
                        dict,
                        pos: 0,
                        kind,
                    }
                }
                None => LoopIter::Object(make_iter(v)?),
            },
            _ => LoopIter::Object(make_iter(v)?),
        })
    }
}

/// `iter(v)`: a new iterator object over `v` (an iterator returns itself).
pub fn make_iter(v: &Value) -> PResult<Value> {
    Ok(match v {
        Value::Iter(_) => v.clone(),
        Value::Range(r) => Value::iter(IterState::Range {
            cur: r.start,
            stop: r.stop,
            step: r.step,
        }),
        Value::List(l) => Value::iter(IterState::List {
            list: l.clone(),
            idx: 0,
        }),
        Value::Tuple(t) => Value::iter(IterState::Seq {
            items: t.clone(),
            idx: 0,
        }),
        Value::Str(s) => Value::iter(IterState::Str {
            s: s.clone(),
            byte_idx: 0,
        }),
        Value::Dict(d) => {
            let size = d.table.lock().len();
            Value::iter(IterState::DictKeys {
                dict: d.clone(),
                idx: 0,
                size,
            })
        }
        Value::Set(s) => {
            let size = s.table.lock().len();
            Value::iter(IterState::SetItems {
                set: s.clone(),
                idx: 0,
                size,
            })
        }
        Value::Native(n) if n.0.iterable() => n.0.iter_value().unwrap_or_else(|| v.clone()),
        _ => return type_error(format!("'{}' object is not iterable", v.type_name())),
    })
}

/// What to do for one step of an iterator whose next item needs the VM.
enum Step {
    Ready(Option<Value>),
    Map(Value, Vec<Value>),
    Filter(Value, Value),
    Enumerate(Value, i64),
    Zip(Vec<Value>),
    Gen(Box<super::GenState>),
}

impl Vm {
    /// Advance a loop iterator.
    pub fn loop_next(&mut self, it: &mut LoopIter) -> PResult<Option<Value>> {
        if let Ok(v) = it.advance() {
            return Ok(v);
        }
        match it {
            LoopIter::Dict {
                dict,
                pos,
                size,
                kind,
            } => match dict_step(dict, pos, size, *kind, false)? {
                SlowStep::Item(v) => Ok(v),
                SlowStep::Pair(k, v) => Ok(Some(Value::tuple(vec![k, v]))),
            },
            LoopIter::Object(o) => {
                let o = o.clone();
                self.next_value(&o)
            }
            _ => unreachable!("loop_next: advance handles ranges, lists and tuples"),
        }
    }

    /// The step of the loop iterator `self.iters[n]` when `advance` cannot make it: dicts
    /// and iterator objects. `pair`: the loop unpacks each item into two names at once, so
    /// a dict item may come as `SlowStep::Pair`.
    #[inline(never)]
    pub fn loop_step_slow(&mut self, n: usize, pair: bool) -> PResult<SlowStep> {
        match &mut self.iters[n] {
            LoopIter::Dict {
                dict,
                pos,
                size,
                kind,
            } => dict_step(dict, pos, size, *kind, pair),
            LoopIter::Object(o) => {
                let o = o.clone();
                Ok(SlowStep::Item(self.next_value(&o)?))
            }
            it => Ok(SlowStep::Item(it.advance().unwrap_or(None))),
        }
    }

    /// `next(it)` on an iterator object; None at its end.
    #[inline(never)]
    pub fn next_value(&mut self, it: &Value) -> PResult<Option<Value>> {
        let obj = match it {
            Value::Iter(o) => o.clone(),
            Value::Native(n) => {
                let n = n.clone();
                return n.0.next(self);
            }
            _ => return type_error(format!("'{}' object is not an iterator", it.type_name())),
        };
        let step = {
            let mut st = obj.state.lock();
            match &mut *st {
                IterState::Range { cur, stop, step } => {
                    if (*step > 0 && *cur < *stop) || (*step < 0 && *cur > *stop) {
                        let v = *cur;
                        *cur += *step;
                        Step::Ready(Some(int_from_i128(v)))
                    } else {
                        Step::Ready(None)
                    }
                }
                IterState::List { list, idx } => {
                    let v = list.items.lock().get(*idx).cloned();
                    if v.is_some() {
                        *idx += 1;
                    } else {
                        *idx = usize::MAX;
                    }
                    Step::Ready(v)
                }
                IterState::Seq { items, idx } => {
                    let v = items.items.get(*idx).cloned();
                    *idx += 1;
                    Step::Ready(v)
                }
                IterState::Str { s, byte_idx } => match s.s[*byte_idx..].chars().next() {
                    Some(c) => {
                        *byte_idx += c.len_utf8();
                        Step::Ready(Some(Value::str(c.to_string())))
                    }
                    None => Step::Ready(None),
                },
                IterState::DictKeys { dict, idx, size } => {
                    let t = dict.table.lock();
                    if t.len() != *size {
                        *size = usize::MAX;
                        return err(
                            ExcKind::RuntimeError,
                            "dictionary changed size during iteration",
                        );
                    }
                    match t.key_from(*idx) {
                        Some((k, next)) => {
                            *idx = next;
                            Step::Ready(Some(k))
                        }
                        None => Step::Ready(None),
                    }
                }
                IterState::SetItems { set, idx, size } => {
                    let t = set.table.lock();
                    if t.len() != *size {
                        *size = usize::MAX;
                        return err(ExcKind::RuntimeError, "Set changed size during iteration");
                    }
                    match t.key_from(*idx) {
                        Some((k, next)) => {
                            *idx = next;
                            Step::Ready(Some(k))
                        }
                        None => Step::Ready(None),
                    }
                }
                IterState::Reversed { items, idx } => {
                    let v = items.get(*idx).cloned();
                    *idx += 1;
                    Step::Ready(v)
                }
                IterState::Enumerate { inner, count } => {
                    let c = *count;
                    *count += 1;
                    Step::Enumerate(inner.clone(), c)
                }
                IterState::Zip { inners } => Step::Zip(inners.clone()),
                IterState::Map { func, inners } => Step::Map(func.clone(), inners.clone()),
                IterState::Filter { func, inner } => Step::Filter(func.clone(), inner.clone()),
                IterState::Gen(_) => match std::mem::replace(&mut *st, IterState::Running) {
                    IterState::Gen(g) => Step::Gen(g),
                    _ => unreachable!(),
                },
                IterState::Running => {
                    return err(ExcKind::ValueError, "generator already executing")
                }
                IterState::Done => Step::Ready(None),
            }
        };
        match step {
            Step::Ready(v) => Ok(v),
            Step::Enumerate(inner, c) => Ok(self
                .next_value(&inner)?
                .map(|v| Value::tuple(vec![Value::Int(c), v]))),
            Step::Zip(inners) => {
                if inners.is_empty() {
                    return Ok(None);
                }
                let mut out = Vec::with_capacity(inners.len());
                for i in &inners {
                    match self.next_value(i)? {
                        Some(v) => out.push(v),
                        None => {
                            *obj.state.lock() = IterState::Done;
                            return Ok(None);
                        }
                    }
                }
                Ok(Some(Value::tuple(out)))
            }
            Step::Map(func, inners) => {
                let mut args = Vec::with_capacity(inners.len());
                for i in &inners {
                    match self.next_value(i)? {
                        Some(v) => args.push(v),
                        None => return Ok(None),
                    }
                }
                Ok(Some(self.call(&func, args)?))
            }
            Step::Filter(func, inner) => loop {
                let Some(v) = self.next_value(&inner)? else {
                    return Ok(None);
                };
                let keep = match &func {
                    Value::None => v.truthy(),
                    f => self.call(f, vec![v.clone()])?.truthy(),
                };
                if keep {
                    return Ok(Some(v));
                }
            },
            Step::Gen(g) => self.resume(&obj, *g),
        }
    }

    /// Run a suspended generator until its next `Yield` (Some) or its end (None).
    fn resume(&mut self, obj: &Arc<IterObj>, g: super::GenState) -> PResult<Option<Value>> {
        let super::GenState {
            mut frame,
            stack,
            iters,
        } = g;
        // The saved slots go back on top of the stack: the frame's positions move with them.
        let base = self.stack.len();
        frame.stack_base = base + (frame.stack_base - frame.locals_base);
        frame.locals_base = base;
        frame.pop_to = base;
        frame.iter_base = self.iters.len();
        frame.gen = Some(obj.clone());
        self.stack.extend(stack);
        self.iters.extend(iters);
        let depth = self.frames.len();
        self.frames.push(frame);
        self.yielded = false;
        self.native_depth += 1;
        let r = self.run(depth);
        self.native_depth -= 1;
        let v = match r {
            Ok(v) => v,
            Err(e) if e.kind == ExcKind::StopIteration => {
                // PEP 479: a StopIteration escaping a generator is a bug, not its end.
                let re = crate::exceptions::ExcObj::new(
                    ExcKind::RuntimeError,
                    "generator raised StopIteration",
                );
                *re.cause.lock() = Some(e);
                return Err(re);
            }
            Err(e) => return Err(e),
        };
        if self.yielded {
            self.yielded = false;
            Ok(Some(v))
        } else {
            Ok(None)
        }
    }

    /// All items of an iterable, in order.
    #[inline(never)]
    pub fn collect_iterable(&mut self, v: &Value) -> PResult<Vec<Value>> {
        match v {
            Value::List(l) => return Ok(l.items.lock().clone()),
            Value::Tuple(t) => return Ok(t.items.to_vec()),
            Value::Dict(d) => return Ok(d.table.lock().keys()),
            Value::Set(s) => return Ok(s.table.lock().keys()),
            Value::Str(s) => return Ok(s.s.chars().map(|c| Value::str(c.to_string())).collect()),
            Value::Range(r) => {
                crate::ops::check_size(r.len().max(0) as u128)?;
                return Ok((0..r.len()).map(|i| int_from_i128(r.get(i))).collect());
            }
            _ => {}
        }
        let mut it = LoopIter::new(v)?;
        let mut out = Vec::new();
        while let Some(x) = self.loop_next(&mut it)? {
            out.push(x);
        }
        Ok(out)
    }
}
