//! Calls: binding arguments to parameters (with Python's error messages), pushing frames for
//! Toy functions, calling builtins and types, and calling back into Toy code from Rust.

use std::sync::Arc;

use super::push::PushFast;
use super::{Frame, GenState, Vm};
use crate::dict::{hash_value, DictTable};
use crate::exceptions::ExcKind;
use crate::ops::{err, type_error};
use crate::value::*;

/// Deepest nesting of Rust-level calls back into the VM (builtins calling Toy functions that
/// call builtins …) before `RecursionError`, so the native stack can never overflow.
const MAX_NATIVE_DEPTH: usize = 4000;

pub fn kwargs_from_dict(d: Option<&Value>) -> PResult<Vec<(Arc<str>, Value)>> {
    let mut kw = Vec::new();
    match d {
        None => {}
        Some(Value::Dict(d)) => {
            for (k, v) in d.table.lock().iter() {
                match k {
                    Value::Str(s) => kw.push((Arc::from(s.as_str()), v.clone())),
                    _ => return type_error("keywords must be strings"),
                }
            }
        }
        Some(other) => {
            return type_error(format!(
                "argument after ** must be a mapping, not {}",
                other.type_name()
            ));
        }
    }
    Ok(kw)
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{} {}", n, word)
    } else {
        format!("{} {}s", n, word)
    }
}

/// `'a'`, `'a' and 'b'`, `'a', 'b', and 'c'` — Python's list of missing names.
fn name_list(names: &[&str]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("'{}'", n)).collect();
    match q.len() {
        0 => String::new(),
        1 => q[0].clone(),
        2 => format!("{} and {}", q[0], q[1]),
        _ => format!("{}, and {}", q[..q.len() - 1].join(", "), q[q.len() - 1]),
    }
}

impl Vm {
    /// Call the callable at `stack[fidx]` with the `argc` values above it. Returns true when a
    /// new frame was pushed (the dispatch loop must switch to it), false when the result is
    /// already on the stack.
    pub(super) fn call_from_stack(&mut self, fidx: usize, argc: usize) -> PResult<bool> {
        if let Value::Func(f) = &self.stack[fidx] {
            let code = &f.code;
            let nparams = code.argcount as usize;
            if argc <= nparams
                && argc + f.defaults.len() >= nparams
                && !code.has_varargs
                && !code.has_varkw
                && code.kwonlycount == 0
                && !code.is_generator
            {
                self.enter_from_stack(argc)?;
                return Ok(true);
            }
        }
        if let Value::Builtin(b) = &self.stack[fidx] {
            if b.bound.is_none() {
                let func = b.func;
                let args: smallvec::SmallVec<[Value; 6]> = self.stack.drain(fidx + 1..).collect();
                self.stack.pop();
                let r = func(self, &args, &[])?;
                self.stack.push(r);
                return Ok(false);
            }
        }
        let args = self.stack.split_off(fidx + 1);
        let func = self.stack.pop().unwrap();
        self.call_general(func, args, Vec::new())
    }

    /// The fast call: the Toy function at `stack[len - argc - 1]` takes `argc` positional
    /// parameters, or more that have defaults (and no `*args`, `**kw` or keyword-only ones; not
    /// a generator). The arguments already sit where its first locals go: the missing
    /// parameters take their defaults, the other locals start unbound, and the function moves
    /// out of its stack slot into the new frame (no reference counting).
    #[inline(always)]
    pub(super) fn enter_from_stack(&mut self, argc: usize) -> PResult<()> {
        self.check_depth()?;
        let fidx = self.stack.len() - argc - 1;
        let Value::Func(f) = std::mem::replace(&mut self.stack[fidx], Value::None) else {
            unreachable!("enter_from_stack: not a function")
        };
        let (nparams, nlocals) = (f.argcount as usize, f.nlocals as usize);
        if argc < nparams {
            let first_default = nparams - f.defaults.len();
            for k in argc..nparams {
                self.stack.push_fast(f.defaults[k - first_default].clone());
            }
        }
        for _ in nparams.max(argc)..nlocals {
            self.stack.push_fast(Value::Unbound);
        }
        self.enter_frame(f, fidx + 1, fidx);
        Ok(())
    }

    fn check_depth(&self) -> PResult<()> {
        if self.frames.len()
            >= self
                .rt
                .recursion_limit
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            return err(ExcKind::RecursionError, "maximum recursion depth exceeded");
        }
        Ok(())
    }

    /// Push the frame of `f`, whose locals are the top slots of the stack from `locals_base`
    /// (its operand stack starts right above them); its return cuts the stack back to
    /// `pop_to`. The frame's cells are the ones this code creates (`code.cellvars`); its free
    /// variables are read from `f.closure` (see `cell_at`).
    #[inline(always)]
    fn enter_frame(&mut self, f: Arc<Function>, locals_base: usize, pop_to: usize) {
        let cells = if !f.has_cells {
            None
        } else {
            Some(self.make_cells(&f.code, locals_base))
        };
        self.frames.push_fast(Frame {
            func: Some(f),
            cells,
            ip: 0,
            stack_base: self.stack.len(),
            locals_base,
            pop_to,
            iter_base: self.iters.len(),
            gen: None,
        });
    }

    /// Push the frame of `f` with the locals bound by `bind_args` (None: unbound).
    fn push_frame_with(&mut self, f: Arc<Function>, locals: Vec<Option<Value>>) {
        let base = self.stack.len();
        self.stack
            .extend(locals.into_iter().map(|v| v.unwrap_or(Value::Unbound)));
        self.enter_frame(f, base, base);
    }

    #[inline(never)]
    fn make_cells(&self, code: &crate::bytecode::Code, locals_base: usize) -> Box<[Arc<Cell>]> {
        let mut cells = Vec::with_capacity(code.cellvars.len());
        for (ci, _) in code.cellvars.iter().enumerate() {
            let init = code
                .cell_params
                .iter()
                .find(|(c, _)| *c as usize == ci)
                .and_then(|(_, li)| match &self.stack[locals_base + *li as usize] {
                    Value::Unbound => None,
                    v => Some(v.clone()),
                });
            cells.push(Cell::new(init));
        }
        cells.into_boxed_slice()
    }

    /// `f(a, k=v)` with the callee, the arguments and then the keyword values on the stack
    /// (from `fidx`): plain Toy functions bind straight from the stack into their locals.
    /// Anything unusual (and every error) goes the general way, `call_kw`.
    #[inline(never)]
    pub(super) fn call_kw_from_stack(
        &mut self,
        fidx: usize,
        argc: usize,
        names: &Arc<TupleObj>,
    ) -> PResult<bool> {
        let nkw = names.items.len();
        if let Value::Func(f) = &self.stack[fidx] {
            let npos = argc - nkw;
            let site = match self.kw_sites.lookup(names, f, npos) {
                Some(pos) => Some(pos),
                None => {
                    let pos = keyword_slots(f, npos, names);
                    if let Some(pos) = pos {
                        self.kw_sites.store(names, f, npos, pos);
                    }
                    pos
                }
            };
            if let Some(pos) = site {
                self.check_depth()?;
                let Value::Func(f) = std::mem::replace(&mut self.stack[fidx], Value::None) else {
                    unreachable!()
                };
                let (argcount, kwonly) = (f.argcount as usize, f.code.kwonlycount as usize);
                // The positional arguments already sit in their slots (from fidx + 1). The
                // other locals start unbound; each keyword value moves from where it was
                // passed to its parameter's slot (through the top of the stack, as the two
                // sets of slots may overlap).
                let base = fidx + 1;
                for _ in argc..f.nlocals as usize {
                    self.stack.push_fast(Value::Unbound);
                }
                // Keywords passed in their parameters' order right after the positional
                // ones (`f(a, k=1)`) are already in place: only the slots after them can
                // still need a default.
                let unset_from = if in_place(&pos, npos, nkw) {
                    argc
                } else {
                    for j in 0..nkw {
                        let v = std::mem::replace(&mut self.stack[base + npos + j], Value::Unbound);
                        self.stack.push_fast(v);
                    }
                    for j in (0..nkw).rev() {
                        let v = self.stack.pop().expect("keyword value");
                        self.stack[base + pos[j] as usize] = v;
                    }
                    npos
                };
                let first_default = argcount - f.defaults.len();
                for i in unset_from..argcount + kwonly {
                    if matches!(self.stack[base + i], Value::Unbound) {
                        self.stack[base + i] = if i < argcount {
                            f.defaults[i - first_default].clone()
                        } else {
                            f.kwdefaults[i - argcount].clone().unwrap_or(Value::Unbound)
                        };
                    }
                }
                self.enter_frame(f, base, fidx);
                return Ok(true);
            }
        }
        let mut args = self.stack.split_off(fidx + 1);
        let callee = self.stack.pop().expect("stack underflow");
        let kwvals = args.split_off(argc - nkw);
        self.call_kw(callee, args, names, kwvals)
    }

    /// The general call path (keyword arguments, builtins, types, generators).
    #[inline(never)]
    pub(super) fn call_general(
        &mut self,
        func: Value,
        args: Vec<Value>,
        kwargs: Vec<(Arc<str>, Value)>,
    ) -> PResult<bool> {
        match &func {
            Value::Func(f) => {
                let f = f.clone();
                self.check_depth()?;
                let locals = bind_args(&f, args, kwargs)?;
                if f.code.is_generator {
                    let g = make_generator(f, locals)?;
                    self.stack.push(g);
                    return Ok(false);
                }
                self.push_frame_with(f, locals);
                Ok(true)
            }
            _ => {
                let r = self.call_value(&func, args, kwargs)?;
                self.stack.push(r);
                Ok(false)
            }
        }
    }

    /// `f(a, k=v)`: Toy functions bind the keyword names straight from the constant tuple.
    pub(super) fn call_kw(
        &mut self,
        callee: Value,
        args: Vec<Value>,
        names: &TupleObj,
        kwvals: Vec<Value>,
    ) -> PResult<bool> {
        if let Value::Func(f) = &callee {
            if !f.code.is_generator {
                self.check_depth()?;
                let names = names.items.iter().map(|n| n.as_str().unwrap_or(""));
                let locals = bind_args(f, args, names.zip(kwvals))?;
                if let Value::Func(f) = callee {
                    self.push_frame_with(f, locals);
                }
                return Ok(true);
            }
        }
        let kwargs: Vec<(Arc<str>, Value)> = names
            .items
            .iter()
            .map(|n| Arc::from(n.as_str().unwrap_or("")))
            .zip(kwvals)
            .collect();
        self.call_general(callee, args, kwargs)
    }

    /// Call any callable from Rust and wait for its result (used by builtins such as `map`,
    /// `sorted(key=…)` and by the thread and process machinery).
    pub fn call(&mut self, func: &Value, args: Vec<Value>) -> PResult<Value> {
        self.call_value(func, args, Vec::new())
    }

    #[inline(never)]
    pub fn call_value(
        &mut self,
        func: &Value,
        args: Vec<Value>,
        kwargs: Vec<(Arc<str>, Value)>,
    ) -> PResult<Value> {
        match func {
            Value::Func(f) => {
                let f = f.clone();
                self.check_depth()?;
                if self.native_depth >= MAX_NATIVE_DEPTH {
                    return err(ExcKind::RecursionError, "maximum recursion depth exceeded");
                }
                let depth = self.frames.len();
                if kwargs.is_empty() && args.len() == f.argcount as usize && f.plain_positional {
                    // `key=lambda v: ...`, `map(f, xs)`: the arguments become the first
                    // locals directly (no binding vector).
                    let base = self.stack.len();
                    self.stack.extend(args);
                    for _ in f.argcount..f.nlocals {
                        self.stack.push_fast(Value::Unbound);
                    }
                    self.enter_frame(f, base, base);
                } else {
                    let locals = bind_args(&f, args, kwargs)?;
                    if f.code.is_generator {
                        return make_generator(f, locals);
                    }
                    self.push_frame_with(f, locals);
                }
                self.native_depth += 1;
                let r = self.run(depth);
                self.native_depth -= 1;
                r
            }
            Value::Builtin(b) => {
                let b = b.clone();
                match &b.bound {
                    Some(this) => {
                        let mut all = Vec::with_capacity(args.len() + 1);
                        all.push(this.clone());
                        all.extend(args);
                        (b.func)(self, &all, &kwargs)
                    }
                    None => (b.func)(self, &args, &kwargs),
                }
            }
            Value::Type(t) => crate::builtins::construct(self, t.get(), &args, &kwargs),
            Value::Native(n) => {
                let n = n.clone();
                match n.0.call(self, func, &args, &kwargs) {
                    Some(r) => r,
                    None => type_error(format!("'{}' object is not callable", func.type_name())),
                }
            }
            _ => type_error(format!("'{}' object is not callable", func.type_name())),
        }
    }
}

/// A generator expression's generator. Its argument is the first iterable, which must be
/// iterable right away (`(x for x in 5)` raises TypeError where it is written, as in CPython).
fn make_generator(f: Arc<Function>, locals: Vec<Option<Value>>) -> PResult<Value> {
    if let Some(Some(first)) = locals.first() {
        super::LoopIter::new(first)?;
    }
    let cells: Vec<Arc<Cell>> = f.code.cellvars.iter().map(|_| Cell::new(None)).collect();
    let cells = (!cells.is_empty()).then(|| cells.into_boxed_slice());
    let frame = Frame {
        func: Some(f),
        cells,
        ip: 0,
        stack_base: locals.len(),
        locals_base: 0,
        pop_to: 0,
        iter_base: 0,
        gen: None,
    };
    Ok(Value::iter(IterState::Gen(Box::new(GenState {
        frame,
        stack: locals
            .into_iter()
            .map(|v| v.unwrap_or(Value::Unbound))
            .collect(),
        iters: Vec::new(),
    }))))
}

/// Bind call arguments to the parameters of `f`, as Python does, returning the initial
/// locals (parameters first, then unset slots).
pub fn bind_args<K: AsRef<str>>(
    f: &Function,
    args: Vec<Value>,
    kwargs: impl IntoIterator<Item = (K, Value)>,
) -> PResult<Vec<Option<Value>>> {
    let code = &f.code;
    let argcount = code.argcount as usize;
    let kwonly = code.kwonlycount as usize;
    let mut slots: Vec<Option<Value>> = vec![None; code.nlocals()];
    let fname = &*code.name;
    let npos = args.len();
    let ndefaults = f.defaults.len();
    let mut varargs_slot = argcount + kwonly;
    let kwargs: smallvec::SmallVec<[(K, Value); 4]> = kwargs.into_iter().collect();
    if npos > argcount && !code.has_varargs {
        let takes = if ndefaults > 0 {
            format!(
                "from {} to {} positional arguments",
                argcount - ndefaults,
                argcount
            )
        } else {
            plural(argcount, "positional argument")
        };
        let kw_given = kwargs
            .iter()
            .filter(|(k, _)| {
                code.local_names[argcount..argcount + kwonly]
                    .iter()
                    .any(|n| **n == *k.as_ref())
            })
            .count();
        let given = if kw_given > 0 {
            format!(
                "{} positional argument{} (and {} keyword-only argument{}) were given",
                npos,
                if npos == 1 { "" } else { "s" },
                kw_given,
                if kw_given == 1 { "" } else { "s" }
            )
        } else if npos == 1 {
            "1 was given".to_string()
        } else {
            format!("{} were given", npos)
        };
        return type_error(format!("{}() takes {} but {}", fname, takes, given));
    }
    let mut args = args;
    let extra = if npos > argcount {
        args.split_off(argcount)
    } else {
        Vec::new()
    };
    for (i, a) in args.into_iter().enumerate() {
        slots[i] = Some(a);
    }
    if code.has_varargs {
        slots[varargs_slot] = Some(Value::tuple(extra));
        varargs_slot += 1;
    }
    let mut kwdict: Option<DictTable> = if code.has_varkw {
        Some(DictTable::new())
    } else {
        None
    };
    for (k, v) in kwargs {
        let k = k.as_ref();
        let pos = code.local_names[..argcount + kwonly]
            .iter()
            .position(|n| **n == *k);
        match pos {
            Some(i) => {
                if slots[i].is_some() {
                    return type_error(format!(
                        "{}() got multiple values for argument '{}'",
                        fname, k
                    ));
                }
                slots[i] = Some(v);
            }
            None => match &mut kwdict {
                Some(d) => {
                    let key = Value::str(k.to_string());
                    let h = hash_value(&key)?;
                    d.insert(h, key, v);
                }
                None => {
                    return type_error(format!(
                        "{}() got an unexpected keyword argument '{}'",
                        fname, k
                    ));
                }
            },
        }
    }
    if let Some(d) = kwdict {
        slots[varargs_slot] = Some(Value::dict(d));
    }
    // Defaults for the trailing positional parameters.
    let first_default = argcount - ndefaults;
    let mut missing = Vec::new();
    for (i, slot) in slots.iter_mut().enumerate().take(argcount) {
        if slot.is_none() {
            if i >= first_default {
                *slot = Some(f.defaults[i - first_default].clone());
            } else {
                missing.push(&*code.local_names[i]);
            }
        }
    }
    if !missing.is_empty() {
        return type_error(format!(
            "{}() missing {} required positional argument{}: {}",
            fname,
            missing.len(),
            if missing.len() == 1 { "" } else { "s" },
            name_list(&missing)
        ));
    }
    let mut missing_kw = Vec::new();
    for j in 0..kwonly {
        let i = argcount + j;
        if slots[i].is_none() {
            match f.kwdefaults.get(j).cloned().flatten() {
                Some(d) => slots[i] = Some(d),
                None => missing_kw.push(&*code.local_names[i]),
            }
        }
    }
    if !missing_kw.is_empty() {
        return type_error(format!(
            "{}() missing {} required keyword-only argument{}: {}",
            fname,
            missing_kw.len(),
            if missing_kw.len() == 1 { "" } else { "s" },
            name_list(&missing_kw)
        ));
    }
    Ok(slots)
}

/// Where the keyword arguments `names` of a call with `npos` positional arguments go among
/// the locals of `f`, if the fast path of `call_kw_from_stack` can bind them: a plain function
/// (no `*args`, `**kw`, not a generator), each name one of its parameters not already passed
/// by position, and every parameter left unset with a default. None: take the general path
/// (which also reports the errors).
fn keyword_slots(f: &Function, npos: usize, names: &TupleObj) -> Option<[u8; KwSites::MAX_KW]> {
    let code = &f.code;
    let (argcount, kwonly) = (code.argcount as usize, code.kwonlycount as usize);
    let nkw = names.items.len();
    if nkw > KwSites::MAX_KW
        || npos > argcount
        || code.has_varargs
        || code.has_varkw
        || code.is_generator
    {
        return None;
    }
    let mut pos = [0u8; KwSites::MAX_KW];
    for (j, n) in names.items.iter().enumerate() {
        let n = n.as_str()?;
        let i = code.local_names[..argcount + kwonly]
            .iter()
            .position(|l| **l == *n)?;
        if i < npos || i > u8::MAX as usize {
            return None;
        }
        pos[j] = i as u8;
    }
    let first_default = argcount.saturating_sub(f.defaults.len());
    for i in npos..argcount + kwonly {
        if pos[..nkw].contains(&(i as u8)) {
            continue;
        }
        let has_default = if i < argcount {
            i >= first_default
        } else {
            matches!(f.kwdefaults.get(i - argcount), Some(Some(_)))
        };
        if !has_default {
            return None;
        }
    }
    Some(pos)
}

/// Are the keyword values (passed after `npos` positional ones) already in their slots?
#[inline]
fn in_place(pos: &[u8; KwSites::MAX_KW], npos: usize, nkw: usize) -> bool {
    pos[..nkw]
        .iter()
        .enumerate()
        .all(|(j, &p)| p as usize == npos + j)
}

/// A small direct-mapped cache of `keyword_slots`, so that a keyword call site binds by
/// looking up its names once rather than at every call. An entry holds the names tuple and the
/// code it was computed for (keeping both alive, so pointer equality identifies them). Which
/// parameters have defaults is fixed by the `def` that made the code; the number of defaults is
/// checked too, as it costs one comparison.
pub struct KwSites {
    entries: Vec<Option<KwSite>>,
}

struct KwSite {
    names: Arc<TupleObj>,
    code: Arc<crate::bytecode::Code>,
    npos: usize,
    ndefaults: usize,
    pos: [u8; KwSites::MAX_KW],
}

impl KwSites {
    pub const MAX_KW: usize = 8;
    const SIZE: usize = 64;

    pub fn new() -> KwSites {
        KwSites {
            entries: (0..Self::SIZE).map(|_| None).collect(),
        }
    }

    fn slot(names: &Arc<TupleObj>) -> usize {
        (Arc::as_ptr(names) as usize >> 4) % Self::SIZE
    }

    #[inline]
    fn lookup(
        &self,
        names: &Arc<TupleObj>,
        f: &Function,
        npos: usize,
    ) -> Option<[u8; Self::MAX_KW]> {
        match &self.entries[Self::slot(names)] {
            Some(e)
                if Arc::ptr_eq(&e.names, names)
                    && Arc::ptr_eq(&e.code, &f.code)
                    && e.npos == npos
                    && e.ndefaults == f.defaults.len() =>
            {
                Some(e.pos)
            }
            _ => None,
        }
    }

    fn store(&mut self, names: &Arc<TupleObj>, f: &Function, npos: usize, pos: [u8; Self::MAX_KW]) {
        self.entries[Self::slot(names)] = Some(KwSite {
            names: names.clone(),
            code: f.code.clone(),
            npos,
            ndefaults: f.defaults.len(),
            pos,
        });
    }
}
