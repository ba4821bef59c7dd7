//! The object model: every Toy value, and the heap objects behind them.
//!
//! `Value` is 16 bytes: a tag plus either an immediate (`None`, `bool`, a machine-word `int`, a
//! `float`) or one `Arc` pointer to a heap object. Ints and floats never allocate in the common
//! case; an int that leaves the i64 range becomes `BigInt` and comes back when it fits again.
//!
//! Thread safety is by construction: heap objects are shared with `Arc` and every mutable one
//! guards its contents with a `parking_lot::Mutex`, so `Value: Send + Sync` without any
//! `unsafe impl`. The GIL serialises *execution*; memory safety never depends on it.
//! Rule for every caller: never hold an object's lock while running Toy code or taking another
//! object's lock that might be the same one (clone what you need out of it, then release).

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use num_bigint::BigInt;
use parking_lot::Mutex;

use crate::bytecode::Code;
use crate::dict::{DictTable, SetTable};
use crate::exceptions::{ExcKind, ExcObj};

// `repr(u64)`: a tag word, and the tagged layout (never a niche-filling one, which can put a
// payload where the tag is and so lose the scalar pair described at `B64` below).
#[repr(u64)]
pub enum Value {
    None,
    Bool(B64),
    Int(i64),
    Float(F64),
    BigInt(Arc<BigInt>),
    Str(Arc<StrObj>),
    List(Arc<ListObj>),
    Tuple(Arc<TupleObj>),
    Dict(Arc<DictObj>),
    Set(Arc<SetObj>),
    Range(Arc<RangeObj>),
    Func(Arc<Function>),
    Builtin(Arc<Builtin>),
    Iter(Arc<IterObj>),
    Module(Arc<Module>),
    Exc(Arc<ExcObj>),
    Type(TypeWord),
    Slice(Arc<SliceObj>),
    Native(Arc<NativeBox>),
    /// An unbound local variable slot. Lives only in the VM's local slots (never on the
    /// operand stack or in any object): `LoadFast` turns it into `UnboundLocalError`.
    Unbound,
}

// Every payload of `Value` is one 64-bit word: an `i64`, an `Arc` pointer, or one of the
// wrappers below (`B64`, `F64`, `TypeWord`). With that, rustc lays `Value` out as a *scalar pair*
// (tag word, payload word): it moves a value as two register-sized loads and stores, passes and
// returns it in two registers, and never copies it through a stack temporary. With a `bool`
// or `f64` payload it is an opaque 16-byte aggregate instead, copied with vector moves: a
// 16-byte load of a value just written as a tag byte and a payload word cannot be served by
// store-to-load forwarding, and such stalls were a quarter of the run time of `fib`.

/// A `bool` payload as a word (see above): `Value::Bool(B64::True)`, also as a pattern.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[repr(u64)]
pub enum B64 {
    False = 0,
    True = 1,
}

impl B64 {
    #[inline(always)]
    pub const fn new(b: bool) -> B64 {
        if b {
            B64::True
        } else {
            B64::False
        }
    }
    #[inline(always)]
    pub const fn get(self) -> bool {
        matches!(self, B64::True)
    }
}

/// A `float` payload as the word of its bits (see above).
#[derive(Clone, Copy, Debug)]
#[repr(transparent)]
pub struct F64(u64);

impl F64 {
    #[inline(always)]
    pub const fn new(f: f64) -> F64 {
        F64(f.to_bits())
    }
    #[inline(always)]
    pub const fn get(self) -> f64 {
        f64::from_bits(self.0)
    }
}

/// A `TypeKind` payload as one word (see above): the variant's index in the low byte, the
/// exception kind's or native type's index above it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(transparent)]
pub struct TypeWord(u64);

impl TypeWord {
    const UNIT: [TypeKind; 17] = [
        TypeKind::NoneType,
        TypeKind::Bool,
        TypeKind::Int,
        TypeKind::Float,
        TypeKind::Str,
        TypeKind::List,
        TypeKind::Tuple,
        TypeKind::Dict,
        TypeKind::Set,
        TypeKind::Range,
        TypeKind::Function,
        TypeKind::BuiltinFunction,
        TypeKind::Iterator,
        TypeKind::Module,
        TypeKind::Type,
        TypeKind::Object,
        TypeKind::Slice,
    ];
    const EXC: u64 = 17;
    const NATIVE: u64 = 18;

    pub fn new(t: TypeKind) -> TypeWord {
        TypeWord(match t {
            TypeKind::Exc(k) => Self::EXC | (k as u64) << 8,
            TypeKind::Native(n) => Self::NATIVE | (n.0 as u64) << 8,
            unit => Self::UNIT
                .iter()
                .position(|u| *u == unit)
                .expect("unit TypeKind") as u64,
        })
    }

    pub fn get(self) -> TypeKind {
        match self.0 & 0xff {
            Self::EXC => TypeKind::Exc(ExcKind::ALL[(self.0 >> 8) as usize]),
            Self::NATIVE => TypeKind::Native(NativeType((self.0 >> 8) as u16)),
            i => Self::UNIT[i as usize],
        }
    }
}

const _: () = assert!(std::mem::size_of::<Value>() == 16);

/// Drop a value, skipping the (out-of-line) drop glue when it is an immediate: the dispatch
/// loop pops and overwrites ints and bools far more often than anything else.
#[inline(always)]
pub fn discard(v: Value) {
    if matches!(
        v,
        Value::None
            | Value::Bool(_)
            | Value::Int(_)
            | Value::Float(_)
            | Value::Type(_)
            | Value::Unbound
    ) {
        std::mem::forget(v);
    } else {
        drop(v);
    }
}

#[inline(always)]
pub fn discard_opt(v: Option<Value>) {
    if let Some(v) = v {
        discard(v)
    }
}

impl Clone for Value {
    /// Immediates copy; heap values bump their reference count. Written out (rather than
    /// derived) so that it inlines into the dispatch loop.
    #[inline(always)]
    fn clone(&self) -> Value {
        if let Value::Int(i) = self {
            return Value::Int(*i);
        }
        self.clone_slow()
    }
}

impl Value {
    #[inline(never)]
    fn clone_slow(&self) -> Value {
        match self {
            Value::None => Value::None,
            Value::Bool(b) => Value::Bool(*b),
            Value::Int(i) => Value::Int(*i),
            Value::Float(f) => Value::Float(*f),
            Value::Type(t) => Value::Type(*t),
            Value::BigInt(x) => Value::BigInt(Arc::clone(x)),
            Value::Str(x) => Value::Str(Arc::clone(x)),
            Value::List(x) => Value::List(Arc::clone(x)),
            Value::Tuple(x) => Value::Tuple(Arc::clone(x)),
            Value::Dict(x) => Value::Dict(Arc::clone(x)),
            Value::Set(x) => Value::Set(Arc::clone(x)),
            Value::Range(x) => Value::Range(Arc::clone(x)),
            Value::Func(x) => Value::Func(Arc::clone(x)),
            Value::Builtin(x) => Value::Builtin(Arc::clone(x)),
            Value::Iter(x) => Value::Iter(Arc::clone(x)),
            Value::Module(x) => Value::Module(Arc::clone(x)),
            Value::Exc(x) => Value::Exc(Arc::clone(x)),
            Value::Slice(x) => Value::Slice(Arc::clone(x)),
            Value::Native(x) => Value::Native(Arc::clone(x)),
            Value::Unbound => Value::Unbound,
        }
    }
}

/// The result of anything that can raise a Toy exception.
pub type PResult<T> = Result<T, Arc<ExcObj>>;

// ---------------------------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------------------------

/// The text of a str: up to [`STR_INLINE`] bytes live inside the `StrObj` itself, so that a
/// short string is one allocation (the `Arc`), not two.
pub type StrBuf = smallstr::SmallString<[u8; STR_INLINE]>;

/// The longest text stored inline in a [`StrObj`] (24: the `SmallVec` is then 32 bytes, as
/// large as a `String` plus the spare room of the allocation).
pub const STR_INLINE: usize = 24;

/// What a str can be made from: the text is copied inline when it is short (a short `String`
/// is copied and its buffer freed at once), and a long `String` keeps its buffer.
pub trait IntoStrBuf {
    fn into_str_buf(self) -> StrBuf;
}

impl IntoStrBuf for StrBuf {
    #[inline]
    fn into_str_buf(self) -> StrBuf {
        self
    }
}

impl IntoStrBuf for &str {
    #[inline]
    fn into_str_buf(self) -> StrBuf {
        StrBuf::from_str(self)
    }
}

impl IntoStrBuf for String {
    #[inline]
    fn into_str_buf(self) -> StrBuf {
        if self.len() <= STR_INLINE {
            StrBuf::from_str(&self)
        } else {
            StrBuf::from_string(self)
        }
    }
}

impl IntoStrBuf for std::borrow::Cow<'_, str> {
    #[inline]
    fn into_str_buf(self) -> StrBuf {
        match self {
            std::borrow::Cow::Borrowed(s) => s.into_str_buf(),
            std::borrow::Cow::Owned(s) => s.into_str_buf(),
        }
    }
}

impl IntoStrBuf for char {
    #[inline]
    fn into_str_buf(self) -> StrBuf {
        StrBuf::from(self)
    }
}

/// Text being built, in a `String` or a [`StrBuf`] (digits and the like are written into
/// either without an intermediate copy).
pub trait TextSink {
    fn push_text(&mut self, s: &str);
    fn push_char(&mut self, c: char);
    fn reserve_text(&mut self, additional: usize);
}

// `String` and `StrBuf` (a small-string-optimised String) have the same methods.
macro_rules! text_sink {
    ($($t:ty),*) => {$(
        impl TextSink for $t {
            #[inline]
            fn reserve_text(&mut self, additional: usize) {
                self.reserve(additional)
            }
            #[inline]
            fn push_text(&mut self, s: &str) {
                self.push_str(s)
            }
            #[inline]
            fn push_char(&mut self, c: char) {
                self.push(c)
            }
        }
    )*};
}
text_sink!(String, StrBuf);

/// An immutable Unicode string. `ascii` makes code-point indexing O(1) in the common case;
/// the hash is computed once, on first use (0 means "not yet").
pub struct StrObj {
    pub s: StrBuf,
    pub ascii: bool,
    hash: AtomicI64,
}

impl StrObj {
    pub fn new(s: impl IntoStrBuf) -> StrObj {
        let s = s.into_str_buf();
        let ascii = s.is_ascii();
        StrObj {
            s,
            ascii,
            hash: AtomicI64::new(0),
        }
    }
    /// A string whose ASCII-ness the caller already knows (a slice of an ASCII string, a
    /// concatenation of known parts, digits): no rescan.
    #[inline]
    pub fn with_ascii(s: impl IntoStrBuf, ascii: bool) -> StrObj {
        let s = s.into_str_buf();
        debug_assert_eq!(ascii, s.is_ascii());
        StrObj {
            s,
            ascii,
            hash: AtomicI64::new(0),
        }
    }
    /// Append in place (only for a string nobody else can see yet: `Arc::get_mut`).
    #[inline]
    pub fn push_str(&mut self, t: &str, t_ascii: bool) {
        self.s.push_str(t);
        self.ascii &= t_ascii;
        *self.hash.get_mut() = 0;
    }
    pub fn as_str(&self) -> &str {
        &self.s
    }
    /// Length in code points.
    pub fn char_len(&self) -> usize {
        if self.ascii {
            self.s.len()
        } else {
            self.s.chars().count()
        }
    }
    pub fn hash(&self) -> i64 {
        let h = self.hash.load(Ordering::Relaxed);
        if h != 0 {
            return h;
        }
        // FNV-1a over the bytes, folded into Python's hash range (never -1, never 0 cached).
        let mut x: u64 = 0xcbf29ce484222325;
        for b in self.s.as_bytes() {
            x ^= *b as u64;
            x = x.wrapping_mul(0x100000001b3);
        }
        let mut h = (x >> 2) as i64;
        if h == 0 || h == -1 {
            h = 2;
        }
        self.hash.store(h, Ordering::Relaxed);
        h
    }
}

/// The one-character string of an ASCII byte: the 128 of them are made once and shared (as
/// CPython shares its one-character Latin-1 strings), so `s[i]`, `str(7)` or iterating over a
/// string allocate nothing.
#[inline]
pub fn ascii_char(b: u8) -> Value {
    static CHARS: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    CHARS.get_or_init(|| {
        (0..128u8)
            .map(|c| Value::Str(Arc::new(StrObj::with_ascii(c as char, true))))
            .collect()
    })[b as usize & 127]
        .clone()
}

/// Byte offset of the first `needle` in `hay` (both UTF-8, so a match is always on a
/// character boundary): memchr for one byte, a plain scan for short haystacks (no searcher
/// set-up), SIMD memmem otherwise.
#[inline]
pub fn str_find(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    match n.len() {
        0 => Some(0),
        1 => memchr::memchr(n[0], h),
        k if k > h.len() => None,
        k if h.len() <= 64 => {
            // Short haystack: a plain scan (no searcher set-up, no memcmp calls).
            let (first, rest) = (n[0], &n[1..]);
            h.windows(k)
                .position(|w| w[0] == first && w[1..].iter().zip(rest).all(|(a, b)| a == b))
        }
        _ => memchr::memmem::find(h, n),
    }
}

/// Byte offset of the last `needle` in `hay`.
pub fn str_rfind(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    match n.len() {
        0 => Some(h.len()),
        1 => memchr::memrchr(n[0], h),
        _ => memchr::memmem::rfind(h, n),
    }
}

/// The number of non-overlapping `needle`s in `hay` (`needle` not empty).
pub fn str_count(hay: &str, needle: &str) -> usize {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    match n.len() {
        1 => memchr::memchr_iter(n[0], h).count(),
        k if k > h.len() => 0,
        _ => memchr::memmem::find_iter(h, n).count(),
    }
}

/// `hay.replace(old, new)` for every occurrence (`old` not empty), at most `count`.
pub fn str_replace(hay: &str, old: &str, new: &str, count: usize) -> String {
    let (h, o) = (hay.as_bytes(), old.as_bytes());
    let mut out = String::with_capacity(hay.len());
    let mut last = 0;
    let mut push = |out: &mut String, at: usize| {
        out.push_str(&hay[last..at]);
        out.push_str(new);
        last = at + o.len();
    };
    if count > 0 {
        if o.len() == 1 {
            for at in memchr::memchr_iter(o[0], h).take(count) {
                push(&mut out, at);
            }
        } else {
            for at in memchr::memmem::find_iter(h, o).take(count) {
                push(&mut out, at);
            }
        }
    }
    out.push_str(&hay[last..]);
    out
}

// ---------------------------------------------------------------------------------------------
// Containers
// ---------------------------------------------------------------------------------------------

pub struct ListObj {
    pub items: Mutex<Vec<Value>>,
}

pub struct TupleObj {
    pub items: Box<[Value]>,
}

pub struct DictObj {
    pub table: Mutex<DictTable>,
}

pub struct SetObj {
    pub table: Mutex<SetTable>,
}

/// `a[lo:hi:step]`: the three parts as given (None where missing).
pub struct SliceObj {
    pub lower: Value,
    pub upper: Value,
    pub step: Value,
}

/// `range(start, stop, step)`. Bounds are i128 so that ranges past the machine word
/// (`range(10**20)`) work; iteration uses an i64 fast path when everything fits.
#[derive(Clone, Copy)]
pub struct RangeObj {
    pub start: i128,
    pub stop: i128,
    pub step: i128,
}

impl RangeObj {
    pub fn len(&self) -> i128 {
        let (lo, hi, step) = (self.start, self.stop, self.step);
        if step > 0 {
            if lo < hi {
                (hi - lo - 1) / step + 1
            } else {
                0
            }
        } else if lo > hi {
            (lo - hi - 1) / (-step) + 1
        } else {
            0
        }
    }
    pub fn get(&self, i: i128) -> i128 {
        self.start + i * self.step
    }
    /// The bounds as i64 when they all fit (the common case).
    pub fn small(&self) -> Option<(i64, i64, i64)> {
        Some((
            i64::try_from(self.start).ok()?,
            i64::try_from(self.stop).ok()?,
            i64::try_from(self.step).ok()?,
        ))
    }
}

/// An int value from an i128 (machine word when it fits).
pub fn int_from_i128(i: i128) -> Value {
    match i64::try_from(i) {
        Ok(x) => Value::Int(x),
        Err(_) => Value::BigInt(Arc::new(num_bigint::BigInt::from(i))),
    }
}

// ---------------------------------------------------------------------------------------------
// Functions
// ---------------------------------------------------------------------------------------------

/// A variable captured by a closure: shared by reference between the frames that use it.
pub struct Cell {
    pub value: Mutex<Option<Value>>,
}

impl Cell {
    pub fn new(v: Option<Value>) -> Arc<Cell> {
        Arc::new(Cell {
            value: Mutex::new(v),
        })
    }
}

impl Function {
    pub fn new(
        code: Arc<Code>,
        globals: Arc<Globals>,
        defaults: Vec<Value>,
        kwdefaults: Vec<Option<Value>>,
        closure: Vec<Arc<Cell>>,
    ) -> Function {
        Function {
            argcount: code.argcount,
            nlocals: code.nlocals() as u32,
            plain_positional: code.plain_positional(),
            has_cells: !code.cellvars.is_empty(),
            instrs: code.instrs.clone(),
            code,
            globals,
            defaults,
            kwdefaults,
            closure,
            attrs: Default::default(),
        }
    }
}

/// The module-level namespace. Names are resolved to slots when code is compiled, so a global
/// access at run time is an index, never a string hash. Each slot also remembers the builtin of
/// the same name (if any), which is what a load falls back to while the global is unset.
pub struct Globals {
    pub slots: parking_lot::RwLock<Vec<GlobalSlot>>,
    pub index: Mutex<rustc_hash::FxHashMap<Arc<str>, u32>>,
    /// Changes (to a number never used before, by any `Globals`) whenever a slot's value
    /// changes: each thread caches the values it loads and trusts them while this stays the
    /// same (see `Vm::gcache`).
    pub version: std::sync::atomic::AtomicU64,
}

static GLOBALS_VERSION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Globals {
    pub fn new() -> Globals {
        Globals {
            slots: parking_lot::RwLock::new(Vec::new()),
            index: Mutex::new(rustc_hash::FxHashMap::default()),
            version: std::sync::atomic::AtomicU64::new(Self::next_version()),
        }
    }
    fn next_version() -> u64 {
        GLOBALS_VERSION.fetch_add(1, Ordering::Relaxed) + 1
    }
    /// Call with the slots' write lock held, after changing a value.
    pub fn bump(&self) {
        self.version.store(Self::next_version(), Ordering::Release);
    }
}

#[derive(Clone)]
pub struct GlobalSlot {
    pub name: Arc<str>,
    pub value: Option<Value>,
    pub builtin: Option<Value>,
}

pub struct Function {
    pub code: Arc<Code>,
    // What every call and frame switch reads of `code`, copied here (by `Function::new`) so
    // that it is one load away, not two: `code.argcount`, `code.nlocals()`,
    // `code.instrs`, `code.plain_positional()` and whether the code creates cells.
    pub argcount: u32,
    pub nlocals: u32,
    pub instrs: Arc<[crate::bytecode::Instr]>,
    pub plain_positional: bool,
    pub has_cells: bool,
    pub globals: Arc<Globals>,
    /// Defaults of the trailing positional parameters.
    pub defaults: Vec<Value>,
    /// Defaults of keyword-only parameters, one per kw-only parameter (None: required).
    pub kwdefaults: Vec<Option<Value>>,
    /// The cells of the enclosing scopes this function uses (its free variables), in the order
    /// of `code.freevars`.
    pub closure: Vec<Arc<Cell>>,
    /// Attributes assigned to the function object (`f.calls = 0`).
    pub attrs: Mutex<Vec<(Arc<str>, Value)>>,
}

/// The signature of a builtin function: positional arguments and keyword arguments.
pub type BuiltinFnPtr = fn(&mut crate::vm::Vm, &[Value], &[(Arc<str>, Value)]) -> PResult<Value>;

pub struct Builtin {
    pub name: &'static str,
    pub func: BuiltinFnPtr,
    /// A method of a built-in type: it takes its receiver as the first argument.
    pub method: bool,
    /// For a method looked up on a value (e.g. `[].append`), the value it is bound to.
    pub bound: Option<Value>,
    /// The module or type it belongs to, for repr (e.g. "math").
    pub owner: Option<&'static str>,
}

pub struct Module {
    pub name: String,
    pub attrs: Mutex<Vec<(Arc<str>, Value)>>,
}

impl Module {
    pub fn get(&self, name: &str) -> Option<Value> {
        self.attrs
            .lock()
            .iter()
            .find(|(k, _)| &**k == name)
            .map(|(_, v)| v.clone())
    }
    pub fn set(&self, name: &str, v: Value) {
        let mut a = self.attrs.lock();
        if let Some(slot) = a.iter_mut().find(|(k, _)| &**k == name) {
            slot.1 = v;
        } else {
            a.push((Arc::from(name), v));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Iterators
// ---------------------------------------------------------------------------------------------

pub struct IterObj {
    pub state: Mutex<IterState>,
}

pub enum IterState {
    Range {
        cur: i128,
        stop: i128,
        step: i128,
    },
    /// Lists are iterated by index so that appends during iteration are seen, as in Python.
    List {
        list: Arc<ListObj>,
        idx: usize,
    },
    Seq {
        items: Arc<TupleObj>,
        idx: usize,
    },
    Str {
        s: Arc<StrObj>,
        byte_idx: usize,
    },
    /// Dict/set iteration over a snapshot of keys (size changes are detected by the caller).
    /// Iterating a dict itself: live, and an error if its size changes meanwhile.
    DictKeys {
        dict: Arc<DictObj>,
        idx: usize,
        size: usize,
    },
    /// Iterating a set: live, and an error if its size changes meanwhile.
    SetItems {
        set: Arc<SetObj>,
        idx: usize,
        size: usize,
    },
    Enumerate {
        inner: Value,
        count: i64,
    },
    Zip {
        inners: Vec<Value>,
    },
    Map {
        func: Value,
        inners: Vec<Value>,
    },
    Filter {
        func: Value,
        inner: Value,
    },
    Reversed {
        items: Vec<Value>,
        idx: usize,
    },
    /// A suspended generator-expression frame.
    Gen(Box<crate::vm::GenState>),
    /// Running right now (a generator that is executing cannot be re-entered).
    Running,
    Done,
}

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/// The built-in types that a Toy program can name (`int`, `list`, …) or meet via `type(x)`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TypeKind {
    NoneType,
    Bool,
    Int,
    Float,
    Str,
    List,
    Tuple,
    Dict,
    Set,
    Range,
    Function,
    BuiltinFunction,
    Iterator,
    Module,
    Type,
    Object,
    Slice,
    Exc(ExcKind),
    /// A native object type, e.g. files and locks (an interned type name, to keep the
    /// enum — and so `Value` — two words small).
    Native(NativeType),
}

/// The name of a native type, interned: `NativeType::of("dict_keys")`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NativeType(u16);

static NATIVE_TYPES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

impl NativeType {
    pub fn of(name: &'static str) -> NativeType {
        let mut names = NATIVE_TYPES.lock();
        let i = match names.iter().position(|n| *n == name) {
            Some(i) => i,
            None => {
                names.push(name);
                names.len() - 1
            }
        };
        NativeType(i as u16)
    }
    pub fn name(&self) -> &'static str {
        NATIVE_TYPES
            .lock()
            .get(self.0 as usize)
            .copied()
            .unwrap_or("object")
    }
}

impl TypeKind {
    pub fn name(&self) -> &'static str {
        match self {
            TypeKind::NoneType => "NoneType",
            TypeKind::Bool => "bool",
            TypeKind::Int => "int",
            TypeKind::Float => "float",
            TypeKind::Str => "str",
            TypeKind::List => "list",
            TypeKind::Tuple => "tuple",
            TypeKind::Dict => "dict",
            TypeKind::Set => "set",
            TypeKind::Range => "range",
            TypeKind::Function => "function",
            TypeKind::BuiltinFunction => "builtin_function_or_method",
            TypeKind::Iterator => "iterator",
            TypeKind::Module => "module",
            TypeKind::Type => "type",
            TypeKind::Object => "object",
            TypeKind::Slice => "slice",
            TypeKind::Exc(k) => k.name(),
            TypeKind::Native(n) => n.name(),
        }
    }
    /// Is `self` the same type as `other` or a subtype of it?
    pub fn is_subtype(&self, other: &TypeKind) -> bool {
        if self == other || *other == TypeKind::Object {
            return true;
        }
        match (self, other) {
            (TypeKind::Bool, TypeKind::Int) => true,
            (TypeKind::Exc(a), TypeKind::Exc(b)) => a.is_subclass(*b),
            _ => false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Native objects (files, locks, thread handles, …)
// ---------------------------------------------------------------------------------------------

/// A value implemented in Rust with its own methods: files, and later the concurrency objects.
pub trait NativeObj: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn repr(&self) -> String {
        format!("<{} object>", self.type_name())
    }
    /// Look up an attribute or method. Methods are returned as builtins bound to `this`.
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value>;
    /// `with obj as x:` — what `x` becomes.
    fn enter(&self, vm: &mut crate::vm::Vm, this: &Value) -> PResult<Value> {
        let _ = vm;
        Ok(this.clone())
    }
    /// End of a `with` block (`exc` is the exception leaving it, if any).
    fn exit(&self, vm: &mut crate::vm::Vm, exc: Option<&Arc<ExcObj>>) -> PResult<()> {
        let _ = (vm, exc);
        Ok(())
    }
    /// For iteration (`for line in f`): the next item or None at the end.
    fn next(&self, vm: &mut crate::vm::Vm) -> PResult<Option<Value>> {
        let _ = vm;
        Ok(None)
    }
    fn iterable(&self) -> bool {
        false
    }
    /// `obj.name = v` (None: the object has no settable attributes).
    fn set_attr(&self, vm: &mut crate::vm::Vm, name: &str, v: Value) -> Option<PResult<()>> {
        let _ = (vm, name, v);
        None
    }
    /// `obj[idx]` (None: not subscriptable).
    fn get_item(&self, vm: &mut crate::vm::Vm, idx: &Value) -> Option<PResult<Value>> {
        let _ = (vm, idx);
        None
    }
    /// `obj[idx] = v` (None: no item assignment).
    fn set_item(&self, vm: &mut crate::vm::Vm, idx: &Value, v: Value) -> Option<PResult<()>> {
        let _ = (vm, idx, v);
        None
    }
    /// `len(obj)` (None: no length).
    fn len(&self) -> Option<usize> {
        None
    }
    /// Equality with another value, for objects that have one (dict views compare as sets).
    fn eq_value(&self, other: &Value) -> Option<bool> {
        let _ = other;
        None
    }
    /// For a container (e.g. a dict view): a new iterator over it. None: the object is its own
    /// iterator (`next` gives the items), as files are.
    fn iter_value(&self) -> Option<Value> {
        None
    }
    /// Whether `callable(obj)` is true (objects that implement `call`).
    fn is_callable(&self) -> bool {
        false
    }
    /// Calling the object (`thread(...)`); None if it is not callable.
    fn call(
        &self,
        vm: &mut crate::vm::Vm,
        this: &Value,
        args: &[Value],
        kwargs: &[(Arc<str>, Value)],
    ) -> Option<PResult<Value>> {
        let _ = (vm, this, args, kwargs);
        None
    }
    fn as_any(&self) -> &dyn std::any::Any;
}

pub struct NativeBox(pub Box<dyn NativeObj>);

// ---------------------------------------------------------------------------------------------
// Constructors and basic queries
// ---------------------------------------------------------------------------------------------

impl Value {
    /// A str from a `String` (its buffer is kept if it is too long to store inline), a
    /// `&str` (copied: inline when short) or a `StrBuf`.
    pub fn str(s: impl IntoStrBuf) -> Value {
        let s = s.into_str_buf();
        if let [b] = s.as_bytes() {
            if b.is_ascii() {
                return ascii_char(*b);
            }
        }
        Value::Str(Arc::new(StrObj::new(s)))
    }
    #[inline(always)]
    pub const fn bool(b: bool) -> Value {
        Value::Bool(B64::new(b))
    }
    #[inline(always)]
    pub const fn float(f: f64) -> Value {
        Value::Float(F64::new(f))
    }
    /// [`Value::str`] when the caller knows whether `s` is ASCII.
    #[inline]
    pub fn str_known(s: impl IntoStrBuf, ascii: bool) -> Value {
        let s = s.into_str_buf();
        if let [b] = s.as_bytes() {
            return ascii_char(*b);
        }
        Value::Str(Arc::new(StrObj::with_ascii(s, ascii)))
    }
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(ListObj {
            items: Mutex::new(items),
        }))
    }
    pub fn tuple(items: Vec<Value>) -> Value {
        Value::Tuple(Arc::new(TupleObj {
            items: items.into_boxed_slice(),
        }))
    }
    pub fn dict(t: DictTable) -> Value {
        Value::Dict(Arc::new(DictObj {
            table: Mutex::new(t),
        }))
    }
    pub fn set(t: SetTable) -> Value {
        Value::Set(Arc::new(SetObj {
            table: Mutex::new(t),
        }))
    }
    pub fn iter(state: IterState) -> Value {
        Value::Iter(Arc::new(IterObj {
            state: Mutex::new(state),
        }))
    }
    pub fn native(obj: impl NativeObj + 'static) -> Value {
        Value::Native(Arc::new(NativeBox(Box::new(obj))))
    }
    /// An int from a BigInt, normalised to the machine-word form when it fits.
    pub fn from_bigint(b: BigInt) -> Value {
        use num_traits::ToPrimitive;
        match b.to_i64() {
            Some(i) => Value::Int(i),
            None => Value::BigInt(Arc::new(b)),
        }
    }

    pub fn type_kind(&self) -> TypeKind {
        match self {
            Value::None => TypeKind::NoneType,
            Value::Bool(_) => TypeKind::Bool,
            Value::Int(_) | Value::BigInt(_) => TypeKind::Int,
            Value::Float(_) => TypeKind::Float,
            Value::Str(_) => TypeKind::Str,
            Value::List(_) => TypeKind::List,
            Value::Tuple(_) => TypeKind::Tuple,
            Value::Dict(_) => TypeKind::Dict,
            Value::Set(_) => TypeKind::Set,
            Value::Range(_) => TypeKind::Range,
            Value::Func(_) => TypeKind::Function,
            Value::Builtin(_) => TypeKind::BuiltinFunction,
            Value::Iter(_) => TypeKind::Iterator,
            Value::Module(_) => TypeKind::Module,
            Value::Exc(e) => TypeKind::Exc(e.kind),
            Value::Type(_) => TypeKind::Type,
            Value::Slice(_) => TypeKind::Slice,
            Value::Native(n) => TypeKind::Native(NativeType::of(n.0.type_name())),
            Value::Unbound => TypeKind::NoneType,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Iter(it) => match &*it.state.lock() {
                IterState::Range { .. } => "range_iterator",
                IterState::List { .. } => "list_iterator",
                IterState::Seq { .. } => "tuple_iterator",
                IterState::Str { .. } => "str_ascii_iterator",
                IterState::DictKeys { .. } => "dict_keyiterator",
                IterState::SetItems { .. } => "set_iterator",
                IterState::Enumerate { .. } => "enumerate",
                IterState::Zip { .. } => "zip",
                IterState::Map { .. } => "map",
                IterState::Filter { .. } => "filter",
                IterState::Reversed { .. } => "list_reverseiterator",
                IterState::Gen(_) | IterState::Running | IterState::Done => "generator",
            },
            _ => self.type_kind().name(),
        }
    }

    /// Python's truth value of the built-in types (no user-defined __bool__ exists in Toy).
    pub fn truthy(&self) -> bool {
        match self {
            Value::None => false,
            Value::Bool(b) => b.get(),
            Value::Int(i) => *i != 0,
            Value::Float(f) => f.get() != 0.0,
            Value::BigInt(_) => true,
            Value::Str(s) => !s.s.is_empty(),
            Value::List(l) => !l.items.lock().is_empty(),
            Value::Tuple(t) => !t.items.is_empty(),
            Value::Dict(d) => !d.table.lock().is_empty(),
            Value::Set(s) => !s.table.lock().is_empty(),
            Value::Range(r) => r.len() != 0,
            Value::Native(n) => !matches!(n.0.get_attr(self, "__len__"), Some(Value::Int(0))),
            _ => true,
        }
    }

    /// Identity, as `is` sees it.
    pub fn is(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::None, Value::None) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b && (-5..=256).contains(a),
            (Value::Float(a), Value::Float(b)) => a.get().to_bits() == b.get().to_bits(),
            (Value::Type(a), Value::Type(b)) => a == b,
            _ => match (self.heap_ptr(), other.heap_ptr()) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
        }
    }

    /// The address of the heap object behind this value, if any (used for `id` and `is`).
    pub fn heap_ptr(&self) -> Option<usize> {
        Some(match self {
            Value::BigInt(a) => Arc::as_ptr(a) as *const u8 as usize,
            Value::Str(a) => Arc::as_ptr(a) as *const u8 as usize,
            Value::List(a) => Arc::as_ptr(a) as *const u8 as usize,
            Value::Tuple(a) => Arc::as_ptr(a) as *const u8 as usize,
            Value::Dict(a) => Arc::as_ptr(a) as *const u8 as usize,
            Value::Set(a) => Arc::as_ptr(a) as *const u8 as usize,
            Value::Range(a) => Arc::as_ptr(a) as *const u8 as usize,
            Value::Func(a) => Arc::as_ptr(a) as *const u8 as usize,
            Value::Builtin(a) => Arc::as_ptr(a) as *const u8 as usize,
            Value::Iter(a) => Arc::as_ptr(a) as *const u8 as usize,
            Value::Module(a) => Arc::as_ptr(a) as *const u8 as usize,
            Value::Exc(a) => Arc::as_ptr(a) as *const u8 as usize,
            Value::Native(a) => Arc::as_ptr(a) as *const u8 as usize,
            Value::Slice(a) => Arc::as_ptr(a) as *const u8 as usize,
            _ => return None,
        })
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(&s.s),
            _ => None,
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", crate::ops::repr_plain(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_two_words() {
        // The hot path depends on values staying small: a tag plus one word.
        assert_eq!(std::mem::size_of::<Value>(), 16);
    }

    #[test]
    fn values_cross_threads_without_unsafe() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Value>();
    }
}
