//! Methods of the built-in types: str, list, dict, set, tuple (spec §5), and dict views.
//!
//! Each method is a builtin whose first argument is the receiver. `lookup` finds a method by
//! the receiver's type and name and returns a shared, prebuilt builtin value (no allocation
//! per call): `LoadMethod`/`CallMethod` then pass the receiver as the first argument.

use std::sync::{Arc, OnceLock};

use super::args;
use crate::dict::{hash_value, DictTable, SetSource, SetTable};
use crate::exceptions::{ExcKind, ExcObj};
use crate::ops::{self, err, type_error};
use crate::value::*;
use crate::vm::Vm;

type Kw<'a> = &'a [(Arc<str>, Value)];
type Table = &'static [(&'static str, BuiltinFnPtr)];

const STR_METHODS: Table = &[
    ("split", str_split),
    ("rsplit", str_rsplit),
    ("join", str_join),
    ("strip", str_strip),
    ("lstrip", str_lstrip),
    ("rstrip", str_rstrip),
    ("upper", str_upper),
    ("lower", str_lower),
    ("replace", str_replace),
    ("startswith", str_startswith),
    ("endswith", str_endswith),
    ("find", str_find),
    ("rfind", str_rfind),
    ("index", str_index),
    ("rindex", str_rindex),
    ("count", str_count),
    ("format", str_format),
    ("isdigit", str_isdigit),
    ("isnumeric", str_isnumeric),
    ("isdecimal", str_isdecimal),
    ("isalpha", str_isalpha),
    ("isalnum", str_isalnum),
    ("isspace", str_isspace),
    ("isupper", str_isupper),
    ("islower", str_islower),
    ("splitlines", str_splitlines),
    ("zfill", str_zfill),
    ("ljust", str_ljust),
    ("rjust", str_rjust),
    ("center", str_center),
    ("title", str_title),
    ("capitalize", str_capitalize),
    ("swapcase", str_swapcase),
    ("partition", str_partition),
    ("rpartition", str_rpartition),
];

const LIST_METHODS: Table = &[
    ("append", list_append),
    ("extend", list_extend),
    ("insert", list_insert),
    ("pop", list_pop),
    ("remove", list_remove),
    ("index", list_index),
    ("count", list_count),
    ("sort", list_sort),
    ("reverse", list_reverse),
    ("copy", list_copy),
    ("clear", list_clear),
];

const DICT_METHODS: Table = &[
    ("get", dict_get),
    ("keys", dict_keys),
    ("values", dict_values),
    ("items", dict_items),
    ("pop", dict_pop),
    ("popitem", dict_popitem),
    ("setdefault", dict_setdefault),
    ("update", dict_update),
    ("copy", dict_copy),
    ("clear", dict_clear),
];

const SET_METHODS: Table = &[
    ("add", set_add),
    ("remove", set_remove),
    ("discard", set_discard),
    ("pop", set_pop),
    ("union", set_union),
    ("intersection", set_intersection),
    ("difference", set_difference),
    ("symmetric_difference", set_symmetric_difference),
    ("issubset", set_issubset),
    ("issuperset", set_issuperset),
    ("isdisjoint", set_isdisjoint),
    ("update", set_update),
    ("copy", set_copy),
    ("clear", set_clear),
];

const TUPLE_METHODS: Table = &[("count", tuple_count), ("index", tuple_index)];
const RANGE_METHODS: Table = &[("count", range_count), ("index", range_index)];

const EXC_METHODS: Table = &[("with_traceback", exc_with_traceback)];

/// Prebuilt method values: `by_type[tag][i]` is method `i` of the type's table, so a lookup
/// is a scan of a short table of names and an index, with no hashing.
struct Registry {
    by_type: Vec<Vec<Value>>,
}

/// The method tables by type tag (see `method_table_tag`), with the name of the type.
const TABLES: [(Table, &str); 7] = [
    (STR_METHODS, "str"),
    (LIST_METHODS, "list"),
    (DICT_METHODS, "dict"),
    (SET_METHODS, "set"),
    (TUPLE_METHODS, "tuple"),
    (EXC_METHODS, "BaseException"),
    (RANGE_METHODS, "range"),
];

/// Which method table `v`'s type has: its index in `TABLES`, also the high bits of a method
/// id from `lookup_id` (None: a type without built-in methods).
#[inline(always)]
pub fn method_table_tag(v: &Value) -> Option<u8> {
    Some(match v {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Dict(_) => 2,
        Value::Set(_) => 3,
        Value::Tuple(_) => 4,
        Value::Exc(_) => 5,
        Value::Range(_) => 6,
        _ => return None,
    })
}

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| {
        let by_type = TABLES
            .iter()
            .map(|&(table, owner)| {
                table
                    .iter()
                    .map(|(name, f)| {
                        Value::Builtin(Arc::new(Builtin {
                            name,
                            func: *f,
                            method: true,
                            bound: None,
                            owner: Some(owner),
                        }))
                    })
                    .collect()
            })
            .collect();
        Registry { by_type }
    })
}

/// The position of method `name` in `table`.
#[inline(always)]
fn position(table: Table, name: &str) -> Option<usize> {
    // Length and first byte before the full comparison: most names are told apart by those.
    let (len, first) = (name.len(), *name.as_bytes().first()?);
    table
        .iter()
        .position(|(n, _)| n.len() == len && n.as_bytes()[0] == first && *n == name)
}

/// The method `name` of `v`'s type, as an unbound method builtin (receiver = first argument).
#[inline]
pub fn lookup(v: &Value, name: &str) -> Option<Value> {
    let tag = method_table_tag(v)?;
    let i = position(TABLES[tag as usize].0, name)?;
    Some(registry().by_type[tag as usize][i].clone())
}

/// The method `name` of `v`'s type as a small id for `method_fn` (what `LoadMethod` keeps on
/// the stack: no reference counting on the way to the call).
#[inline]
pub fn lookup_id(v: &Value, name: &str) -> Option<u32> {
    let tag = method_table_tag(v)?;
    let i = position(TABLES[tag as usize].0, name)?;
    Some(((tag as u32) << 8) | i as u32)
}

/// The ids of the two methods that `CallMethod` runs inline (`list.append`, `dict.get`): the
/// first entries of the list (tag 1) and dict (tag 2) tables.
pub const LIST_APPEND: u32 = 1 << 8;
pub const DICT_GET: u32 = 2 << 8;

/// The function of a method id from `lookup_id`.
#[inline(always)]
pub fn method_fn(id: u32) -> Option<BuiltinFnPtr> {
    let (table, _) = TABLES.get((id >> 8) as usize)?;
    table.get((id & 0xff) as usize).map(|m| m.1)
}

/// `str.lower`, `list.append`, …: the unbound method of a type.
pub fn lookup_type_attr(t: TypeKind, name: &str) -> Option<Value> {
    let sample = match t {
        TypeKind::Str => Value::str(""),
        TypeKind::List => Value::list(Vec::new()),
        TypeKind::Dict => Value::dict(DictTable::new()),
        TypeKind::Set => Value::set(SetTable::new()),
        TypeKind::Tuple => Value::tuple(Vec::new()),
        _ => return None,
    };
    // Called as `str.upper(s)`, the receiver is an ordinary first argument.
    match lookup(&sample, name)? {
        Value::Builtin(b) => Some(Value::Builtin(Arc::new(Builtin {
            name: b.name,
            func: b.func,
            method: false,
            bound: None,
            owner: b.owner,
        }))),
        other => Some(other),
    }
}

// ---------------------------------------------------------------------------------------------
// Receivers and small helpers
// ---------------------------------------------------------------------------------------------

/// The receiver of a method of type `owner`: `unbound method str.upper() needs an argument`,
/// `descriptor 'upper' for 'str' objects doesn't apply to a 'int' object`.
fn bad_recv<T>(a: &[Value], owner: &str, name: &str) -> PResult<T> {
    match a.first() {
        Some(v) => type_error(format!(
            "descriptor '{}' for '{}' objects doesn't apply to a '{}' object",
            name,
            owner,
            v.type_name()
        )),
        None => type_error(format!(
            "unbound method {}.{}() needs an argument",
            owner, name
        )),
    }
}

fn recv_str<'a>(a: &'a [Value], name: &str) -> PResult<&'a Arc<StrObj>> {
    match a.first() {
        Some(Value::Str(s)) => Ok(s),
        _ => bad_recv(a, "str", name),
    }
}

fn recv_list<'a>(a: &'a [Value], name: &str) -> PResult<&'a Arc<ListObj>> {
    match a.first() {
        Some(Value::List(l)) => Ok(l),
        _ => bad_recv(a, "list", name),
    }
}

fn recv_dict<'a>(a: &'a [Value], name: &str) -> PResult<&'a Arc<DictObj>> {
    match a.first() {
        Some(Value::Dict(d)) => Ok(d),
        _ => bad_recv(a, "dict", name),
    }
}

fn recv_set<'a>(a: &'a [Value], name: &str) -> PResult<&'a Arc<SetObj>> {
    match a.first() {
        Some(Value::Set(s)) => Ok(s),
        _ => bad_recv(a, "set", name),
    }
}

fn recv_tuple<'a>(a: &'a [Value], name: &str) -> PResult<&'a Arc<TupleObj>> {
    match a.first() {
        Some(Value::Tuple(t)) => Ok(t),
        _ => bad_recv(a, "tuple", name),
    }
}

/// The type name CPython's argument errors print: `None` for None itself.
fn arg_type(v: &Value) -> &'static str {
    match v {
        Value::None => "None",
        _ => v.type_name(),
    }
}

fn str_of<'a>(v: &'a Value, what: &str) -> PResult<&'a str> {
    match v {
        Value::Str(s) => Ok(&s.s),
        _ => type_error(format!("{} must be str, not {}", what, v.type_name())),
    }
}

fn opt_index(v: Option<&Value>) -> PResult<Option<i64>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(x) => Ok(Some(args::slice_index(
            x,
            "slice indices must be integers or None or have an __index__ method",
        )?)),
    }
}

/// Python's (start, end) clamp for find/count/startswith, in code points.
fn clamp_range(len: usize, start: Option<i64>, end: Option<i64>) -> (usize, usize) {
    let n = len as i64;
    let fix = |i: i64| -> i64 {
        if i < 0 {
            (i + n).max(0)
        } else {
            i.min(n)
        }
    };
    let s = fix(start.unwrap_or(0));
    let e = fix(end.unwrap_or(n));
    (s as usize, e.max(s) as usize)
}

/// CPython's ADJUST_INDICES for str searches: negative indices count from the end (and stop at
/// 0), `end` stops at the length, but `start` may stay beyond it and `end` below `start`
/// (callers then find nothing).
fn str_span(len: usize, start: Option<i64>, end: Option<i64>) -> (i64, i64) {
    let n = len as i64;
    let mut s = start.unwrap_or(0);
    let mut e = end.unwrap_or(n);
    if e > n {
        e = n;
    } else if e < 0 {
        e = (e + n).max(0);
    }
    if s < 0 {
        s = (s + n).max(0);
    }
    (s, e)
}

/// Byte offset of the code point index `ci` in `s`.
fn byte_at(s: &str, ascii: bool, ci: usize) -> usize {
    if ascii {
        return ci.min(s.len());
    }
    s.char_indices().nth(ci).map(|(b, _)| b).unwrap_or(s.len())
}

fn char_index(s: &str, ascii: bool, byte: usize) -> usize {
    if ascii {
        byte
    } else {
        s[..byte].chars().count()
    }
}

/// `args::old_style` for a str method (receiver in `a[0]`), with the qualified name built only
/// when there is an error to report.
#[inline]
fn str_args(name: &str, a: &[Value], kw: Kw, min: usize, max: usize) -> PResult<()> {
    let n = a.len() - 1;
    if kw.is_empty() && n >= min && n <= max {
        return Ok(());
    }
    args::old_style(&format!("str.{}", name), name, &a[1..], kw, min, max)
}

/// A piece of `parent` as a new str: a piece of an ASCII string is ASCII (no rescan).
#[inline]
fn substr(parent: &StrObj, piece: &str) -> Value {
    if parent.ascii {
        Value::str_known(piece, true)
    } else {
        Value::str(piece)
    }
}

// ---------------------------------------------------------------------------------------------
// str
// ---------------------------------------------------------------------------------------------

fn split_common(a: &[Value], kw: Kw, name: &str, from_right: bool) -> PResult<Value> {
    let s = recv_str(a, name)?;
    let k;
    let (sep, maxsplit) = if kw.is_empty() && a.len() <= 3 {
        (a.get(1), a.get(2))
    } else {
        k = args::parse(name, &a[1..], kw, &["sep", "maxsplit"], 0, 0, 2)?;
        (k[0].as_ref(), k[1].as_ref())
    };
    let maxsplit = match maxsplit {
        Some(v) => args::ssize(v)?,
        None => -1,
    };
    let text = &s.s;
    // CPython's maxcount: a negative maxsplit means no limit.
    let maxcount = if maxsplit < 0 {
        usize::MAX
    } else {
        maxsplit as usize
    };
    let parts: Vec<&str> = match sep {
        None | Some(Value::None) => {
            if from_right {
                rsplit_whitespace(text, maxcount)
            } else {
                split_whitespace(text, maxcount)
            }
        }
        Some(v) => {
            let Value::Str(sep) = v else {
                return type_error(format!("must be str or None, not {}", v.type_name()));
            };
            let sep = sep.s.as_str();
            if sep.is_empty() {
                return err(ExcKind::ValueError, "empty separator");
            }
            if let ([b], false, usize::MAX) = (sep.as_bytes(), from_right, maxcount) {
                // One ASCII byte, no limit: memchr, and the list sized up front.
                let bytes = text.as_bytes();
                let mut out = Vec::with_capacity(memchr::memchr_iter(*b, bytes).count() + 1);
                let mut last = 0;
                for at in memchr::memchr_iter(*b, bytes) {
                    out.push(substr(s, &text[last..at]));
                    last = at + 1;
                }
                out.push(substr(s, &text[last..]));
                return Ok(Value::list(out));
            }
            if from_right {
                let mut v: Vec<&str> = if maxcount == usize::MAX {
                    text.rsplit(sep).collect()
                } else {
                    text.rsplitn(maxcount.saturating_add(1), sep).collect()
                };
                v.reverse();
                v
            } else if maxcount == usize::MAX {
                text.split(sep).collect()
            } else {
                text.splitn(maxcount.saturating_add(1), sep).collect()
            }
        }
    };
    Ok(Value::list(
        parts.into_iter().map(|p| substr(s, p)).collect(),
    ))
}

/// `s.split()` with Python's whitespace, at most `maxcount` splits.
fn split_whitespace(s: &str, mut maxcount: usize) -> Vec<&str> {
    let sp = super::unicode::is_space;
    let mut out = Vec::new();
    let mut rest = s;
    while maxcount > 0 {
        rest = rest.trim_start_matches(sp);
        if rest.is_empty() {
            return out;
        }
        let end = rest.find(sp).unwrap_or(rest.len());
        out.push(&rest[..end]);
        rest = &rest[end..];
        maxcount -= 1;
    }
    let rest = rest.trim_start_matches(sp);
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// `s.rsplit()` with Python's whitespace, at most `maxcount` splits from the right.
fn rsplit_whitespace(s: &str, mut maxcount: usize) -> Vec<&str> {
    let sp = super::unicode::is_space;
    let mut out = Vec::new();
    let mut rest = s;
    while maxcount > 0 {
        rest = rest.trim_end_matches(sp);
        if rest.is_empty() {
            break;
        }
        let start = rest
            .rfind(sp)
            .map(|i| i + rest[i..].chars().next().map_or(1, |c| c.len_utf8()))
            .unwrap_or(0);
        out.push(&rest[start..]);
        rest = &rest[..start];
        maxcount -= 1;
    }
    if maxcount == 0 {
        let rest = rest.trim_end_matches(sp);
        if !rest.is_empty() {
            out.push(rest);
        }
    }
    out.reverse();
    out
}

fn str_split(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    split_common(a, kw, "split", false)
}
fn str_rsplit(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    split_common(a, kw, "rsplit", true)
}

fn str_join(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_str(a, "join")?;
    args::onearg("str.join", &a[1..], kw)?;
    match &a[1] {
        Value::List(l) => return join_strs(s, &l.items.lock()),
        Value::Tuple(t) => return join_strs(s, &t.items),
        _ => {}
    }
    let items = match &a[1] {
        Value::Str(_) | Value::Dict(_) | Value::Set(_) => vm.collect_iterable(&a[1])?,
        other => {
            let it = crate::vm::iter::make_iter(other)
                .map_err(|_| ExcObj::new(ExcKind::TypeError, "can only join an iterable"))?;
            vm.collect_iterable(&it)?
        }
    };
    join_strs(s, &items)
}

/// `sep.join(items)`: sized in a first pass (which also checks that every item is a str).
fn join_strs(sep: &StrObj, items: &[Value]) -> PResult<Value> {
    if let [x @ Value::Str(_)] = items {
        return Ok(x.clone());
    }
    let (mut len, mut ascii) = (sep.s.len() * items.len().saturating_sub(1), sep.ascii);
    for (i, x) in items.iter().enumerate() {
        match x {
            Value::Str(t) => {
                len += t.s.len();
                ascii &= t.ascii;
            }
            other => {
                return type_error(format!(
                    "sequence item {}: expected str instance, {} found",
                    i,
                    other.type_name()
                ))
            }
        }
    }
    crate::ops::check_size(len as u128)?;
    // Built as a String, whose push is a capacity check and a copy (a StrBuf's push does
    // more); a long one keeps its buffer as the new str's.
    let mut out = String::with_capacity(len);
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(&sep.s);
        }
        if let Value::Str(t) = x {
            out.push_str(&t.s);
        }
    }
    Ok(Value::str_known(out, ascii))
}

fn strip_common(a: &[Value], kw: Kw, name: &str, left: bool, right: bool) -> PResult<Value> {
    let s = recv_str(a, name)?;
    args::positional(&format!("str.{}", name), name, &a[1..], kw, 0, 1)?;
    let out = match a.get(1) {
        None | Some(Value::None) => {
            let mut t: &str = &s.s;
            if left {
                t = t.trim_start_matches(super::unicode::is_space);
            }
            if right {
                t = t.trim_end_matches(super::unicode::is_space);
            }
            t.to_string()
        }
        Some(Value::Str(chars)) => {
            let set: Vec<char> = chars.s.chars().collect();
            let mut t: &str = &s.s;
            if left {
                t = t.trim_start_matches(|c| set.contains(&c));
            }
            if right {
                t = t.trim_end_matches(|c| set.contains(&c));
            }
            t.to_string()
        }
        Some(v) => {
            return type_error(format!("{} arg must be None or str", name)).inspect_err(|_e| {
                let _ = v;
            })
        }
    };
    Ok(Value::str(out))
}

fn str_strip(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    strip_common(a, kw, "strip", true, true)
}
fn str_lstrip(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    strip_common(a, kw, "lstrip", true, false)
}
fn str_rstrip(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    strip_common(a, kw, "rstrip", false, true)
}

fn str_upper(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_str(a, "upper")?;
    args::noargs("str.upper", &a[1..], kw)?;
    if s.ascii {
        return Ok(Value::str_known(s.s.to_ascii_uppercase(), true));
    }
    Ok(Value::str(s.s.to_uppercase()))
}
fn str_lower(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_str(a, "lower")?;
    args::noargs("str.lower", &a[1..], kw)?;
    if s.ascii {
        return Ok(Value::str_known(s.s.to_ascii_lowercase(), true));
    }
    Ok(Value::str(s.s.to_lowercase()))
}
fn str_swapcase(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_str(a, "swapcase")?;
    args::noargs("str.swapcase", &a[1..], kw)?;
    let low = super::unicode::Lowerer::new(&s.s);
    let (mut out, mut done) = (String::with_capacity(s.s.len()), 0);
    for c in s.s.chars() {
        if c.is_uppercase() {
            low.push(&mut out, c, done);
        } else if c.is_lowercase() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        done += super::unicode::lower_len(c);
    }
    Ok(Value::str(out))
}
fn str_title(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_str(a, "title")?;
    args::noargs("str.title", &a[1..], kw)?;
    let low = super::unicode::Lowerer::new(&s.s);
    let (mut out, mut done) = (String::with_capacity(s.s.len()), 0);
    let mut prev_cased = false;
    for c in s.s.chars() {
        if prev_cased {
            low.push(&mut out, c, done);
        } else {
            super::unicode::push_title(&mut out, c);
        }
        prev_cased = super::unicode::is_cased(c);
        done += super::unicode::lower_len(c);
    }
    Ok(Value::str(out))
}
fn str_capitalize(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_str(a, "capitalize")?;
    args::noargs("str.capitalize", &a[1..], kw)?;
    let low = super::unicode::Lowerer::new(&s.s);
    let (mut out, mut done) = (String::with_capacity(s.s.len()), 0);
    for (i, c) in s.s.chars().enumerate() {
        if i == 0 {
            super::unicode::push_title(&mut out, c);
        } else {
            low.push(&mut out, c, done);
        }
        done += super::unicode::lower_len(c);
    }
    Ok(Value::str(out))
}

fn str_replace(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_str(a, "replace")?;
    args::positional("str.replace", "replace", &a[1..], kw, 2, 3)?;
    let old = str_of(&a[1], "replace() argument 1").map_err(|_| {
        ExcObj::new(
            ExcKind::TypeError,
            format!("replace() argument 1 must be str, not {}", arg_type(&a[1])),
        )
    })?;
    let new = str_of(&a[2], "replace() argument 2").map_err(|_| {
        ExcObj::new(
            ExcKind::TypeError,
            format!("replace() argument 2 must be str, not {}", arg_type(&a[2])),
        )
    })?;
    let count = match a.get(3) {
        Some(v) => args::ssize(v)?,
        None => -1,
    };
    let out = if !old.is_empty() {
        let count = if count < 0 {
            usize::MAX
        } else {
            count as usize
        };
        crate::value::str_replace(&s.s, old, new, count)
    } else if count < 0 {
        s.s.replace(old, new)
    } else {
        // Python inserts `new` between characters (and at both ends), up to count times.
        let mut out = String::new();
        let mut n = 0;
        for c in s.s.chars() {
            if n < count {
                out.push_str(new);
                n += 1;
            }
            out.push(c);
        }
        if n < count {
            out.push_str(new);
        }
        out
    };
    let ascii = s.ascii
        && match &a[2] {
            Value::Str(n) => n.ascii,
            _ => false,
        };
    Ok(if ascii {
        Value::str_known(out, true)
    } else {
        Value::str(out)
    })
}

fn prefix_common(a: &[Value], kw: Kw, name: &str, start: bool) -> PResult<Value> {
    let s = recv_str(a, name)?;
    str_args(name, a, kw, 1, 3)?;
    if let [_, Value::Str(p)] = a {
        // No start/end: a byte-wise prefix/suffix test is the code-point one.
        return Ok(Value::Bool(if start {
            B64::new(s.s.starts_with(p.s.as_str()))
        } else {
            B64::new(s.s.ends_with(p.s.as_str()))
        }));
    }
    let (lo, hi) = str_span(s.char_len(), opt_index(a.get(2))?, opt_index(a.get(3))?);
    let hay = if lo <= hi {
        &s.s[byte_at(&s.s, s.ascii, lo as usize)..byte_at(&s.s, s.ascii, hi as usize)]
    } else {
        ""
    };
    let test = |p: &str| {
        // tailmatch: nothing matches when end - len(p) < start.
        if hi - (p.chars().count() as i64) < lo {
            false
        } else if start {
            hay.starts_with(p)
        } else {
            hay.ends_with(p)
        }
    };
    match &a[1] {
        Value::Str(p) => Ok(Value::bool(test(&p.s))),
        Value::Tuple(t) => {
            for x in t.items.iter() {
                match x {
                    Value::Str(p) => {
                        if test(&p.s) {
                            return Ok(Value::Bool(B64::True));
                        }
                    }
                    other => {
                        return type_error(format!(
                            "tuple for {} must only contain str, not {}",
                            name,
                            other.type_name()
                        ))
                    }
                }
            }
            Ok(Value::Bool(B64::False))
        }
        v => type_error(format!(
            "{} first arg must be str or a tuple of str, not {}",
            name,
            v.type_name()
        )),
    }
}

fn str_startswith(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    prefix_common(a, kw, "startswith", true)
}
fn str_endswith(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    prefix_common(a, kw, "endswith", false)
}

/// find/rfind/index/rindex/count share the argument handling.
fn find_common(a: &[Value], kw: Kw, name: &str, rev: bool) -> PResult<Option<usize>> {
    let s = recv_str(a, name)?;
    str_args(name, a, kw, 1, 3)?;
    // The start and end arguments are checked before the substring, as CPython does.
    let (start, end) = (opt_index(a.get(2))?, opt_index(a.get(3))?);
    let (sub, sub_len) = match &a[1] {
        Value::Str(p) => (&p.s, p.char_len()),
        v => return type_error(format!("must be str, not {}", v.type_name())),
    };
    let n = s.char_len();
    let (lo, hi) = str_span(n, start, end);
    if hi - lo < sub_len as i64 {
        return Ok(None);
    }
    let lo = lo as usize;
    let bl = byte_at(&s.s, s.ascii, lo);
    let bh = byte_at(&s.s, s.ascii, hi as usize);
    let hay = &s.s[bl..bh];
    let found = if rev {
        crate::value::str_rfind(hay, sub)
    } else {
        crate::value::str_find(hay, sub)
    };
    Ok(found.map(|b| lo + char_index(hay, s.ascii, b)))
}

fn str_find(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    Ok(Value::Int(
        find_common(a, kw, "find", false)?
            .map(|i| i as i64)
            .unwrap_or(-1),
    ))
}
fn str_rfind(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    Ok(Value::Int(
        find_common(a, kw, "rfind", true)?
            .map(|i| i as i64)
            .unwrap_or(-1),
    ))
}
fn str_index(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    match find_common(a, kw, "index", false)? {
        Some(i) => Ok(Value::Int(i as i64)),
        None => err(ExcKind::ValueError, "substring not found"),
    }
}
fn str_rindex(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    match find_common(a, kw, "rindex", true)? {
        Some(i) => Ok(Value::Int(i as i64)),
        None => err(ExcKind::ValueError, "substring not found"),
    }
}
fn str_count(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_str(a, "count")?;
    str_args("count", a, kw, 1, 3)?;
    // The start and end arguments are checked before the substring, as CPython does.
    let (start, end) = (opt_index(a.get(2))?, opt_index(a.get(3))?);
    let (sub, sub_len) = match &a[1] {
        Value::Str(p) => (&p.s, p.char_len()),
        v => return type_error(format!("must be str, not {}", v.type_name())),
    };
    let n = s.char_len();
    let (lo, hi) = str_span(n, start, end);
    if hi - lo < sub_len as i64 {
        return Ok(Value::Int(0));
    }
    let hay = &s.s[byte_at(&s.s, s.ascii, lo as usize)..byte_at(&s.s, s.ascii, hi as usize)];
    let c = if sub.is_empty() {
        hay.chars().count() + 1
    } else {
        crate::value::str_count(hay, sub)
    };
    Ok(Value::Int(c as i64))
}

fn char_test(a: &[Value], kw: Kw, name: &str, f: fn(char) -> bool) -> PResult<Value> {
    let s = recv_str(a, name)?;
    args::noargs(&format!("str.{}", name), &a[1..], kw)?;
    Ok(Value::bool(!s.s.is_empty() && s.s.chars().all(f)))
}
fn str_isdigit(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    char_test(a, kw, "isdigit", super::unicode::is_digit)
}
fn str_isnumeric(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    char_test(a, kw, "isnumeric", super::unicode::is_numeric)
}
fn str_isdecimal(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    char_test(a, kw, "isdecimal", super::unicode::is_decimal)
}
fn str_isalpha(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    char_test(a, kw, "isalpha", super::unicode::is_alpha)
}
fn str_isalnum(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    char_test(a, kw, "isalnum", super::unicode::is_alnum)
}
fn str_isspace(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    char_test(a, kw, "isspace", super::unicode::is_space)
}
fn str_isupper(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_str(a, "isupper")?;
    args::noargs("str.isupper", &a[1..], kw)?;
    let mut cased = false;
    for c in s.s.chars() {
        if c.is_lowercase() || super::unicode::is_titlecase(c) {
            return Ok(Value::Bool(B64::False));
        }
        cased |= c.is_uppercase();
    }
    Ok(Value::bool(cased))
}
fn str_islower(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_str(a, "islower")?;
    args::noargs("str.islower", &a[1..], kw)?;
    let mut cased = false;
    for c in s.s.chars() {
        if c.is_uppercase() || super::unicode::is_titlecase(c) {
            return Ok(Value::Bool(B64::False));
        }
        cased |= c.is_lowercase();
    }
    Ok(Value::bool(cased))
}

fn str_splitlines(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_str(a, "splitlines")?;
    let k = args::parse("splitlines", &a[1..], kw, &["keepends"], 0, 0, 1)?;
    // `keepends` is an int (a bool is one): CPython takes no other truth value.
    let keep = match k[0].as_ref() {
        None => false,
        Some(Value::Int(i)) if i32::try_from(*i).is_ok() => *i != 0,
        Some(Value::Bool(b)) => b.get(),
        Some(Value::Int(_) | Value::BigInt(_)) => {
            return err(
                ExcKind::OverflowError,
                "Python int too large to convert to C int",
            )
        }
        Some(v) => {
            return type_error(format!(
                "'{}' object cannot be interpreted as an integer",
                v.type_name()
            ))
        }
    };
    let mut out = Vec::new();
    let text = &s.s;
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (b, c) = chars[i];
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if is_break {
            let mut end = b + c.len_utf8();
            if c == '\r' && i + 1 < chars.len() && chars[i + 1].1 == '\n' {
                end += 1;
                i += 1;
            }
            out.push(Value::str(if keep {
                &text[start..end]
            } else {
                &text[start..b]
            }));
            start = end;
        }
        i += 1;
    }
    if start < text.len() {
        out.push(Value::str(&text[start..]));
    }
    Ok(Value::list(out))
}

fn fill_char(v: Option<&Value>) -> PResult<char> {
    match v {
        None => Ok(' '),
        Some(Value::Str(s)) if s.char_len() == 1 => Ok(s.s.chars().next().unwrap()),
        Some(Value::Str(_)) => type_error("The fill character must be exactly one character long"),
        Some(v) => type_error(format!(
            "The fill character must be a unicode character, not {}",
            v.type_name()
        )),
    }
}

fn pad_common(a: &[Value], kw: Kw, name: &str, how: char) -> PResult<Value> {
    let s = recv_str(a, name)?;
    args::positional(&format!("str.{}", name), name, &a[1..], kw, 1, 2)?;
    let width = args::ssize(&a[1])?;
    let fill = fill_char(a.get(2))?;
    let n = s.char_len() as i64;
    if width <= n {
        return Ok(a[0].clone());
    }
    let pad = (width - n) as usize;
    crate::ops::check_size(pad as u128 * fill.len_utf8() as u128 + s.s.len() as u128)?;
    let (left, right) = match how {
        '<' => (0, pad),
        '>' => (pad, 0),
        _ => {
            // CPython's centering: extra space goes left when the width is odd.
            let left = pad / 2 + (pad & width as usize & 1);
            (left, pad - left)
        }
    };
    let mut out = String::new();
    out.extend(std::iter::repeat_n(fill, left));
    out.push_str(&s.s);
    out.extend(std::iter::repeat_n(fill, right));
    Ok(Value::str(out))
}

fn str_ljust(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    pad_common(a, kw, "ljust", '<')
}
fn str_rjust(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    pad_common(a, kw, "rjust", '>')
}
fn str_center(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    pad_common(a, kw, "center", '^')
}

fn str_zfill(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_str(a, "zfill")?;
    args::onearg("str.zfill", &a[1..], kw)?;
    let width = args::ssize(&a[1])?;
    let n = s.char_len() as i64;
    if width <= n {
        return Ok(a[0].clone());
    }
    crate::ops::check_size((width - n) as u128 + s.s.len() as u128)?;
    let pad = "0".repeat((width - n) as usize);
    let out = if s.s.starts_with('+') || s.s.starts_with('-') {
        format!("{}{}{}", &s.s[..1], pad, &s.s[1..])
    } else {
        format!("{}{}", pad, s.s)
    };
    Ok(Value::str(out))
}

fn partition_common(a: &[Value], kw: Kw, name: &str, rev: bool) -> PResult<Value> {
    let s = recv_str(a, name)?;
    args::onearg(&format!("str.{}", name), &a[1..], kw)?;
    let sep = match &a[1] {
        Value::Str(p) => p.s.as_str(),
        v => return type_error(format!("must be str, not {}", v.type_name())),
    };
    if sep.is_empty() {
        return err(ExcKind::ValueError, "empty separator");
    }
    let text = s.s.as_str();
    let found = if rev {
        crate::value::str_rfind(text, sep)
    } else {
        crate::value::str_find(text, sep)
    };
    let parts = match found {
        Some(i) => [&text[..i], sep, &text[i + sep.len()..]],
        None if rev => ["", "", text],
        None => [text, "", ""],
    };
    Ok(Value::tuple(
        parts.into_iter().map(|p| substr(s, p)).collect(),
    ))
}
fn str_partition(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    partition_common(a, kw, "partition", false)
}
fn str_rpartition(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    partition_common(a, kw, "rpartition", true)
}

/// `str.format`: `{}`, `{0}`, `{name}`, `{0[1]}`, `{x.attr}`, `{!r}`, `{:spec}` with nested
/// `{}` fields inside the spec, `{{`/`}}`.
fn str_format(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_str(a, "format")?;
    let mut st = FormatState {
        pos: &a[1..],
        kw,
        auto: AutoNumber::Init,
        next: 0,
    };
    let chars: Vec<char> = s.s.chars().collect();
    let out = build_string(vm, &chars, &mut st, 2)?;
    Ok(Value::str(out))
}

#[derive(PartialEq)]
enum AutoNumber {
    Init,
    Auto,
    Manual,
}

struct FormatState<'a> {
    pos: &'a [Value],
    kw: Kw<'a>,
    auto: AutoNumber,
    /// The next automatic field number.
    next: usize,
}

fn fmt_err<T>(msg: &str) -> PResult<T> {
    err(ExcKind::ValueError, msg)
}

/// One replacement field, as CPython's `parse_field` splits it (indices into the template).
struct Field {
    name: (usize, usize),
    conversion: Option<char>,
    spec: (usize, usize),
    expand: bool,
}

/// `str.format`'s template expansion, following CPython's `unicode_format.h` (MarkupIterator,
/// parse_field, get_field_object) so that malformed templates raise the same errors.
fn build_string(vm: &mut Vm, t: &[char], st: &mut FormatState, depth: i32) -> PResult<String> {
    if depth <= 0 {
        return fmt_err("Max string recursion exceeded");
    }
    let mut out = String::new();
    let mut i = 0;
    let end = t.len();
    while i < end {
        // Literal text up to a brace.
        let start = i;
        let mut c = '\0';
        let mut markup = false;
        while i < end {
            c = t[i];
            i += 1;
            if c == '{' || c == '}' {
                markup = true;
                break;
            }
        }
        let at_end = i >= end;
        let mut len = i - start;
        if markup && c == '}' && (at_end || t[i] != '}') {
            return fmt_err("Single '}' encountered in format string");
        }
        if markup && at_end && c == '{' {
            return fmt_err("Single '{' encountered in format string");
        }
        if markup && !at_end {
            if t[i] == c {
                i += 1;
                markup = false;
            } else {
                len -= 1;
            }
        }
        out.extend(&t[start..start + len]);
        if !markup {
            continue;
        }
        let field = parse_field(t, &mut i)?;
        let v = field_object(vm, &t[field.name.0..field.name.1], st)?;
        let v = match field.conversion {
            None => v,
            Some('r') => Value::str(ops::repr_plain(&v)),
            Some('s') => Value::str(ops::to_str(&v)),
            Some('a') => Value::str(super::ascii_of(&ops::repr_plain(&v))),
            Some(other) => {
                return fmt_err(&if (other as u32) > 32 && (other as u32) < 127 {
                    format!("Unknown conversion specifier {}", other)
                } else {
                    format!("Unknown conversion specifier \\x{:x}", other as u32)
                })
            }
        };
        let spec_chars = &t[field.spec.0..field.spec.1];
        let spec: String = if field.expand {
            build_string(vm, spec_chars, st, depth - 1)?
        } else {
            spec_chars.iter().collect()
        };
        out.push_str(&super::format_value(&v, &spec)?);
    }
    Ok(out)
}

/// After a '{': the field name, `!conversion` and `:spec`, up to the matching '}'.
fn parse_field(t: &[char], i: &mut usize) -> PResult<Field> {
    let end = t.len();
    let name_start = *i;
    let mut c = '\0';
    let mut stopped = false;
    while *i < end {
        c = t[*i];
        *i += 1;
        match c {
            '{' => return fmt_err("unexpected '{' in field name"),
            '[' => {
                while *i < end && t[*i] != ']' {
                    *i += 1;
                }
            }
            '}' | ':' | '!' => {
                stopped = true;
                break;
            }
            _ => {}
        }
    }
    let name = (name_start, *i - 1);
    let mut field = Field {
        name,
        conversion: None,
        spec: (0, 0),
        expand: false,
    };
    if stopped && (c == '!' || c == ':') {
        if c == '!' {
            if *i >= end {
                return fmt_err("end of string while looking for conversion specifier");
            }
            field.conversion = Some(t[*i]);
            *i += 1;
            if *i < end {
                let c2 = t[*i];
                *i += 1;
                if c2 == '}' {
                    return Ok(field);
                }
                if c2 != ':' {
                    return fmt_err("expected ':' after conversion specifier");
                }
            }
        }
        let spec_start = *i;
        let mut count = 1;
        while *i < end {
            let c3 = t[*i];
            *i += 1;
            match c3 {
                '{' => {
                    field.expand = true;
                    count += 1;
                }
                '}' => {
                    count -= 1;
                    if count == 0 {
                        field.spec = (spec_start, *i - 1);
                        return Ok(field);
                    }
                }
                _ => {}
            }
        }
        return fmt_err("unmatched '{' in format spec");
    }
    if !(stopped && c == '}') {
        return fmt_err("expected '}' before end of string");
    }
    Ok(field)
}

/// CPython's get_integer: a run of decimal digits (any script), or None.
fn field_integer(s: &[char]) -> PResult<Option<usize>> {
    if s.is_empty() {
        return Ok(None);
    }
    let mut acc: usize = 0;
    for &c in s {
        let Some(d) = crate::format::decimal_value(c) else {
            return Ok(None);
        };
        if acc > (isize::MAX as usize - d as usize) / 10 {
            return fmt_err("Too many decimal digits in format string");
        }
        acc = acc * 10 + d as usize;
    }
    Ok(Some(acc))
}

/// The value a field name designates: `''` (next automatic), `0`, `name`, then `[k]`/`.attr`.
fn field_object(vm: &mut Vm, name: &[char], st: &mut FormatState) -> PResult<Value> {
    let first_end = name
        .iter()
        .position(|&c| c == '.' || c == '[')
        .unwrap_or(name.len());
    let first = &name[..first_end];
    let mut idx = field_integer(first)?;
    let empty = first.is_empty();
    if empty || idx.is_some() {
        if st.auto == AutoNumber::Init {
            st.auto = if empty {
                AutoNumber::Auto
            } else {
                AutoNumber::Manual
            };
        }
        if st.auto == AutoNumber::Manual && empty {
            return fmt_err(
                "cannot switch from manual field specification to automatic field numbering",
            );
        }
        if st.auto == AutoNumber::Auto && !empty {
            return fmt_err(
                "cannot switch from automatic field numbering to manual field specification",
            );
        }
        if empty {
            idx = Some(st.next);
            st.next += 1;
        }
    }
    let mut v = match idx {
        None => {
            let key: String = first.iter().collect();
            match st.kw.iter().find(|(k, _)| **k == *key) {
                Some((_, v)) => v.clone(),
                None => return Err(ExcObj::with_args(ExcKind::KeyError, vec![Value::str(key)])),
            }
        }
        Some(n) => match st.pos.get(n) {
            Some(v) => v.clone(),
            None => {
                return err(
                    ExcKind::IndexError,
                    format!(
                        "Replacement index {} out of range for positional args tuple",
                        n
                    ),
                )
            }
        },
    };
    let mut i = first_end;
    while i < name.len() {
        let c = name[i];
        i += 1;
        let start = i;
        let (part, is_attr) = match c {
            '.' => {
                while i < name.len() && name[i] != '.' && name[i] != '[' {
                    i += 1;
                }
                (&name[start..i], true)
            }
            '[' => {
                while i < name.len() && name[i] != ']' {
                    i += 1;
                }
                if i >= name.len() {
                    return fmt_err("Missing ']' in format string");
                }
                i += 1;
                (&name[start..i - 1], false)
            }
            _ => return fmt_err("Only '.' or '[' may follow ']' in format field specifier"),
        };
        if part.is_empty() {
            return fmt_err("Empty attribute in format string");
        }
        let text: String = part.iter().collect();
        v = if is_attr {
            vm.get_attr(&v, &text)?
        } else {
            let key = match field_integer(part)? {
                Some(n) => Value::Int(n as i64),
                None => Value::str(text),
            };
            super::subscript::get_item(&v, &key)?
        };
    }
    Ok(v)
}

// ---------------------------------------------------------------------------------------------
// list
// ---------------------------------------------------------------------------------------------

fn list_append(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let l = recv_list(a, "append")?;
    args::onearg("list.append", &a[1..], kw)?;
    l.items.lock().push(a[1].clone());
    Ok(Value::None)
}

fn list_extend(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let l = recv_list(a, "extend")?;
    args::onearg("list.extend", &a[1..], kw)?;
    let items = vm.collect_iterable(&a[1])?;
    l.items.lock().extend(items);
    Ok(Value::None)
}

fn list_insert(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let l = recv_list(a, "insert")?;
    args::positional("list.insert", "insert", &a[1..], kw, 2, 2)?;
    if a.len() != 3 {
        return type_error(format!("insert expected 2 arguments, got {}", a.len() - 1));
    }
    let i = args::ssize(&a[1])?;
    let mut items = l.items.lock();
    let n = items.len() as i64;
    let j = if i < 0 { (i + n).max(0) } else { i.min(n) };
    items.insert(j as usize, a[2].clone());
    Ok(Value::None)
}

fn list_pop(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let l = recv_list(a, "pop")?;
    args::positional("list.pop", "pop", &a[1..], kw, 0, 1)?;
    let mut items = l.items.lock();
    if items.is_empty() {
        return err(ExcKind::IndexError, "pop from empty list");
    }
    let n = items.len() as i64;
    let i = match a.get(1) {
        Some(v) => args::ssize(v)?,
        None => -1,
    };
    let j = if i < 0 { i + n } else { i };
    if j < 0 || j >= n {
        return err(ExcKind::IndexError, "pop index out of range");
    }
    Ok(items.remove(j as usize))
}

fn list_remove(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let l = recv_list(a, "remove")?;
    args::onearg("list.remove", &a[1..], kw)?;
    let snapshot = l.items.lock().clone();
    for (i, x) in snapshot.iter().enumerate() {
        if x.is(&a[1]) || ops::eq_checked(x, &a[1])? {
            let mut items = l.items.lock();
            if i < items.len() {
                items.remove(i);
            }
            return Ok(Value::None);
        }
    }
    err(ExcKind::ValueError, "list.remove(x): x not in list")
}

fn seq_index(items: &[Value], a: &[Value], not_found: String) -> PResult<Value> {
    let n = items.len();
    let idx = |v: Option<&Value>| -> PResult<Option<i64>> {
        match v {
            None => Ok(None),
            Some(x) => Ok(Some(args::slice_index(
                x,
                "slice indices must be integers or have an __index__ method",
            )?)),
        }
    };
    let (lo, hi) = clamp_range(n, idx(a.get(2))?, idx(a.get(3))?);
    for (i, item) in items.iter().enumerate().take(hi).skip(lo) {
        if item.is(&a[1]) || ops::eq_checked(item, &a[1])? {
            return Ok(Value::Int(i as i64));
        }
    }
    err(ExcKind::ValueError, not_found)
}

fn list_index(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let l = recv_list(a, "index")?;
    args::positional("list.index", "index", &a[1..], kw, 1, 3)?;
    let items = l.items.lock().clone();
    seq_index(
        &items,
        a,
        format!("{} is not in list", ops::repr_plain(&a[1])),
    )
}

fn list_count(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let l = recv_list(a, "count")?;
    args::onearg("list.count", &a[1..], kw)?;
    let items = l.items.lock().clone();
    count_equal(&items, &a[1])
}

fn count_equal(items: &[Value], x: &Value) -> PResult<Value> {
    let mut n = 0;
    for item in items {
        if item.is(x) || ops::eq_checked(item, x)? {
            n += 1;
        }
    }
    Ok(Value::Int(n))
}

fn list_sort(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let l = recv_list(a, "sort")?;
    let k = args::parse("sort", &a[1..], kw, &["key", "reverse"], 0, 0, 0)?;
    let k: Vec<Option<&Value>> = k.iter().map(|v| v.as_ref()).collect();
    let key = k[0].filter(|v| !matches!(v, Value::None));
    let reverse = k[1].map(|v| v.truthy()).unwrap_or(false);
    // Python empties the list while sorting so that the key function sees it empty.
    let mut items = std::mem::take(&mut *l.items.lock());
    let r = super::sort_values(vm, &mut items, key, reverse);
    *l.items.lock() = items;
    r?;
    Ok(Value::None)
}

fn list_reverse(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let l = recv_list(a, "reverse")?;
    args::noargs("list.reverse", &a[1..], kw)?;
    l.items.lock().reverse();
    Ok(Value::None)
}

fn list_copy(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let l = recv_list(a, "copy")?;
    args::noargs("list.copy", &a[1..], kw)?;
    let items = l.items.lock().clone();
    Ok(Value::list(items))
}

fn list_clear(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let l = recv_list(a, "clear")?;
    args::noargs("list.clear", &a[1..], kw)?;
    let old = std::mem::take(&mut *l.items.lock());
    drop(old);
    Ok(Value::None)
}

// ---------------------------------------------------------------------------------------------
// dict
// ---------------------------------------------------------------------------------------------

fn dict_get(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let d = recv_dict(a, "get")?;
    args::positional("dict.get", "get", &a[1..], kw, 1, 2)?;
    dict_get_or(d, &a[1], || a.get(2).cloned().unwrap_or(Value::None))
}

/// `d.get(k, default)` once the arguments are checked: the value of `k`, else `default()`
/// (also the dispatch loop's inline `d.get`).
pub fn dict_get_or(d: &DictObj, k: &Value, default: impl FnOnce() -> Value) -> PResult<Value> {
    let h = hash_value(k)?;
    let found = d.table.lock().get(h, k);
    Ok(found.unwrap_or_else(default))
}

fn dict_keys(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let d = recv_dict(a, "keys")?;
    args::noargs("dict.keys", &a[1..], kw)?;
    Ok(Value::native(DictView {
        dict: d.clone(),
        kind: ViewKind::Keys,
    }))
}
fn dict_values(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let d = recv_dict(a, "values")?;
    args::noargs("dict.values", &a[1..], kw)?;
    Ok(Value::native(DictView {
        dict: d.clone(),
        kind: ViewKind::Values,
    }))
}
fn dict_items(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let d = recv_dict(a, "items")?;
    args::noargs("dict.items", &a[1..], kw)?;
    Ok(Value::native(DictView {
        dict: d.clone(),
        kind: ViewKind::Items,
    }))
}

fn dict_pop(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let d = recv_dict(a, "pop")?;
    args::positional("dict.pop", "pop", &a[1..], kw, 1, 2)?;
    if d.table.lock().is_empty() {
        // CPython answers for an empty dict before hashing the key: `{}.pop([])` is a
        // KeyError, not "unhashable type".
        return match a.get(2) {
            Some(dflt) => Ok(dflt.clone()),
            None => Err(ExcObj::with_args(ExcKind::KeyError, vec![a[1].clone()])),
        };
    }
    let h = hash_value(&a[1])?;
    match d.table.lock().remove(h, &a[1]) {
        Some((_, v)) => Ok(v),
        None => match a.get(2) {
            Some(dflt) => Ok(dflt.clone()),
            None => Err(ExcObj::with_args(ExcKind::KeyError, vec![a[1].clone()])),
        },
    }
}

fn dict_popitem(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let d = recv_dict(a, "popitem")?;
    args::noargs("dict.popitem", &a[1..], kw)?;
    match d.table.lock().pop_last() {
        Some((k, v)) => Ok(Value::tuple(vec![k, v])),
        None => err(ExcKind::KeyError, "popitem(): dictionary is empty"),
    }
}

fn dict_setdefault(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let d = recv_dict(a, "setdefault")?;
    args::positional("dict.setdefault", "setdefault", &a[1..], kw, 1, 2)?;
    let h = hash_value(&a[1])?;
    let mut t = d.table.lock();
    if let Some(v) = t.get(h, &a[1]) {
        return Ok(v);
    }
    let v = a.get(2).cloned().unwrap_or(Value::None);
    t.insert(h, a[1].clone(), v.clone());
    Ok(v)
}

fn dict_update(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let d = recv_dict(a, "update")?;
    args::check_positional("update", a.len() - 1, 0, 1)?;
    if let (Some(Value::Dict(src)), true) = (a.get(1), kw.is_empty()) {
        // From another dict: no Toy code can run, so insert in place (a copy of the source's
        // entries first: two dicts are never locked at once).
        if Arc::ptr_eq(src, d) {
            return Ok(Value::None);
        }
        let items: Vec<(i64, Value, Value)> = src
            .table
            .lock()
            .iter_hashed()
            .map(|(h, k, v)| (h, k.clone(), v.clone()))
            .collect();
        let mut old = Vec::new();
        {
            let mut t = d.table.lock();
            t.reserve(items.len());
            for (h, k, v) in items {
                if let Some(o) = t.insert(h, k, v) {
                    old.push(o);
                }
            }
        }
        drop(old);
        return Ok(Value::None);
    }
    let mut t = d.table.lock().clone();
    if let Some(src) = a.get(1) {
        super::dict_update_from(vm, &mut t, src)?;
    }
    for (k, v) in kw {
        let key = Value::str(k.to_string());
        t.insert(hash_value(&key)?, key, v.clone());
    }
    *d.table.lock() = t;
    Ok(Value::None)
}

fn dict_copy(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let d = recv_dict(a, "copy")?;
    args::noargs("dict.copy", &a[1..], kw)?;
    let t = d.table.lock().clone();
    Ok(Value::dict(t))
}

fn dict_clear(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let d = recv_dict(a, "clear")?;
    args::noargs("dict.clear", &a[1..], kw)?;
    let old = std::mem::take(&mut *d.table.lock());
    drop(old);
    Ok(Value::None)
}

#[derive(Clone, Copy, PartialEq)]
enum ViewKind {
    Keys,
    Values,
    Items,
}

/// `d.keys()`, `d.values()`, `d.items()`: live views of a dict.
struct DictView {
    dict: Arc<DictObj>,
    kind: ViewKind,
}

impl DictView {
    fn items(&self) -> Vec<Value> {
        let t = self.dict.table.lock();
        match self.kind {
            ViewKind::Keys => t.keys(),
            ViewKind::Values => t.values(),
            ViewKind::Items => t
                .iter()
                .map(|(k, v)| Value::tuple(vec![k.clone(), v.clone()]))
                .collect(),
        }
    }
}

/// The dict behind a view and what iterating the view yields; None if `v` is not a view.
pub fn dict_view_parts(v: &Value) -> Option<(Arc<DictObj>, crate::vm::iter::DictIterKind)> {
    use crate::vm::iter::DictIterKind;
    let Value::Native(n) = v else {
        return None;
    };
    let view = n.0.as_any().downcast_ref::<DictView>()?;
    let kind = match view.kind {
        ViewKind::Keys => DictIterKind::Keys,
        ViewKind::Values => DictIterKind::Values,
        ViewKind::Items => DictIterKind::Items,
    };
    Some((view.dict.clone(), kind))
}

/// The items of a dict view (`d.keys()`, `d.values()`, `d.items()`), in order; None if `v`
/// is not a view.
pub fn dict_view_items(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::Native(n) => n.0.as_any().downcast_ref::<DictView>().map(|d| d.items()),
        _ => None,
    }
}

fn set_view_of(v: &Value) -> Option<&DictView> {
    match v {
        Value::Native(n) => {
            n.0.as_any()
                .downcast_ref::<DictView>()
                .filter(|d| d.kind != ViewKind::Values)
        }
        _ => None,
    }
}

fn hashed(items: Vec<Value>) -> PResult<SetSource> {
    let mut out = Vec::with_capacity(items.len());
    for x in items {
        out.push((hash_value(&x)?, x));
    }
    Ok(SetSource::Items(out))
}

/// An operand of a dict view's set operator, read as CPython iterates it (None: not an
/// iterable these operators take here).
fn view_operand(v: &Value) -> Option<PResult<SetSource>> {
    Some(match v {
        Value::Set(s) => Ok(SetSource::Set(s.table.lock().clone())),
        Value::Dict(d) => Ok(SetSource::Dict(d.table.lock().clone())),
        Value::List(l) => hashed(l.items.lock().clone()),
        Value::Tuple(t) => hashed(t.items.to_vec()),
        _ => {
            let view = set_view_of(v)?;
            if view.kind == ViewKind::Keys {
                let t = view.dict.table.lock();
                Ok(SetSource::Items(
                    t.iter_hashed().map(|(h, k, _)| (h, k.clone())).collect(),
                ))
            } else {
                hashed(view.items())
            }
        }
    })
}

/// CPython's dictviews_to_set: a keys view is read as its dict, anything else iterated.
fn view_to_set(v: &Value) -> Option<PResult<SetTable>> {
    if let Some(view) = set_view_of(v) {
        if view.kind == ViewKind::Keys {
            let d = view.dict.table.lock().clone();
            return Some(Ok(SetTable::from_source(&SetSource::Dict(d))));
        }
    }
    Some(view_operand(v)?.map(|s| SetTable::from_source(&s)))
}

/// `key in view` for a keys or items view.
fn view_contains(view: &DictView, h: i64, x: &Value) -> PResult<bool> {
    if view.kind == ViewKind::Keys {
        return Ok(view.dict.table.lock().contains(h, x));
    }
    let Value::Tuple(t) = x else {
        return Ok(false);
    };
    if t.items.len() != 2 {
        return Ok(false);
    }
    let kh = hash_value(&t.items[0])?;
    let found = view.dict.table.lock().get(kh, &t.items[0]);
    match found {
        Some(v) => ops::eq_checked(&v, &t.items[1]).map(|e| e || v.is(&t.items[1])),
        None => Ok(false),
    }
}

/// `|`, `&`, `-`, `^` with a `dict_keys` or `dict_items` view on either side, built as
/// CPython's dictviews_or/sub/xor and _PyDictView_Intersect build them. None when neither
/// side is such a view, or the other side is not an iterable handled here.
pub fn dict_view_binop(op: crate::ast::BinOp, a: &Value, b: &Value) -> Option<PResult<Value>> {
    use crate::ast::BinOp;
    if set_view_of(a).is_none() && set_view_of(b).is_none() {
        return None;
    }
    if op != BinOp::BitAnd {
        let mut result = match view_to_set(a)? {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        let other = match view_operand(b)? {
            Ok(o) => o,
            Err(e) => return Some(Err(e)),
        };
        match op {
            BinOp::BitOr => result.update(&other),
            BinOp::Sub => result.difference_update(&other),
            _ => result.symmetric_difference_update(&other),
        }
        return Some(Ok(Value::set(result)));
    }
    // Intersection: `this` is a view; a bigger view on the other side takes its place.
    let (mut this, mut other) = if set_view_of(a).is_some() {
        (a, b)
    } else {
        (b, a)
    };
    let len_this = set_view_of(this)?.dict.table.lock().len();
    if let Value::Set(s) = other {
        let st = s.table.lock().clone();
        if len_this <= st.len() {
            // other.intersection(view)
            return Some(view_operand(this)?.map(|src| Value::set(st.intersection(&src))));
        }
    }
    if let Some(ov) = set_view_of(other) {
        if ov.dict.table.lock().len() > len_this {
            std::mem::swap(&mut this, &mut other);
        }
    }
    let view = set_view_of(this)?;
    let items = match view_operand(other)? {
        Ok(SetSource::Items(v)) => v,
        Ok(SetSource::Set(t)) => t.iter_hashed().map(|(h, k)| (h, k.clone())).collect(),
        Ok(SetSource::Dict(d)) => d.iter_hashed().map(|(h, k, _)| (h, k.clone())).collect(),
        Err(e) => return Some(Err(e)),
    };
    let mut result = SetTable::new();
    for (h, x) in items {
        match view_contains(view, h, &x) {
            Ok(true) => {
                result.add(h, x);
            }
            Ok(false) => {}
            Err(e) => return Some(Err(e)),
        }
    }
    Some(Ok(Value::set(result)))
}

impl NativeObj for DictView {
    fn type_name(&self) -> &'static str {
        match self.kind {
            ViewKind::Keys => "dict_keys",
            ViewKind::Values => "dict_values",
            ViewKind::Items => "dict_items",
        }
    }
    fn repr(&self) -> String {
        format!(
            "{}({})",
            self.type_name(),
            ops::repr_plain(&Value::list(self.items()))
        )
    }
    fn get_attr(&self, _this: &Value, name: &str) -> Option<Value> {
        match name {
            "__len__" => Some(Value::Int(self.dict.table.lock().len() as i64)),
            _ => None,
        }
    }
    fn eq_value(&self, other: &Value) -> Option<bool> {
        if self.kind == ViewKind::Values {
            return None;
        }
        let other_items = match other {
            Value::Set(s) => s.table.lock().keys(),
            Value::Native(n) if n.0.type_name() == self.type_name() => {
                dict_view_items(other).unwrap_or_default()
            }
            _ => return None,
        };
        let mine = self.items();
        if mine.len() != other_items.len() {
            return Some(false);
        }
        let mut t = SetTable::new();
        for x in &mine {
            match hash_value(x) {
                Ok(h) => {
                    t.add(h, x.clone());
                }
                Err(_) => return Some(false),
            }
        }
        Some(
            other_items
                .iter()
                .all(|x| hash_value(x).map(|h| t.contains(h, x)).unwrap_or(false)),
        )
    }
    fn iterable(&self) -> bool {
        true
    }
    fn iter_value(&self) -> Option<Value> {
        let size = self.dict.table.lock().len();
        if self.kind == ViewKind::Keys {
            return Some(Value::iter(IterState::DictKeys {
                dict: self.dict.clone(),
                idx: 0,
                size,
            }));
        }
        Some(Value::native(DictViewIter {
            dict: self.dict.clone(),
            kind: self.kind,
            pos: parking_lot::Mutex::new((0, size)),
        }))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Iterating `d.values()` or `d.items()`: live, and a RuntimeError if the dict's size
/// changes meanwhile (as iterating the dict itself).
struct DictViewIter {
    dict: Arc<DictObj>,
    kind: ViewKind,
    /// The next entry position and the size the dict must keep (usize::MAX after an error).
    pos: parking_lot::Mutex<(usize, usize)>,
}

impl NativeObj for DictViewIter {
    fn type_name(&self) -> &'static str {
        match self.kind {
            ViewKind::Keys => "dict_keyiterator",
            ViewKind::Values => "dict_valueiterator",
            ViewKind::Items => "dict_itemiterator",
        }
    }
    fn repr(&self) -> String {
        format!(
            "<{} object at {:#x}>",
            self.type_name(),
            self as *const _ as usize
        )
    }
    fn get_attr(&self, _this: &Value, _name: &str) -> Option<Value> {
        None
    }
    fn iterable(&self) -> bool {
        true
    }
    fn next(&self, _vm: &mut Vm) -> PResult<Option<Value>> {
        let mut pos = self.pos.lock();
        let t = self.dict.table.lock();
        if t.len() != pos.1 {
            pos.1 = usize::MAX;
            return err(
                ExcKind::RuntimeError,
                "dictionary changed size during iteration",
            );
        }
        let Some((k, v, next)) = t.entry_from(pos.0) else {
            return Ok(None);
        };
        pos.0 = next;
        let (k, v) = (k.clone(), v.clone());
        drop(t);
        Ok(Some(match self.kind {
            ViewKind::Values => v,
            _ => Value::tuple(vec![k, v]),
        }))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// ---------------------------------------------------------------------------------------------
// set
// ---------------------------------------------------------------------------------------------

fn set_add(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_set(a, "add")?;
    args::onearg("set.add", &a[1..], kw)?;
    let h = hash_value(&a[1])?;
    s.table.lock().add(h, a[1].clone());
    Ok(Value::None)
}

fn set_remove(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_set(a, "remove")?;
    args::onearg("set.remove", &a[1..], kw)?;
    if !set_discard_key(s, &a[1])? {
        return Err(ExcObj::with_args(ExcKind::KeyError, vec![a[1].clone()]));
    }
    Ok(Value::None)
}

/// Remove `key` if present. A set key is looked up as the frozenset it would be (CPython
/// retries so): sets hold no frozensets here, so it is never found.
fn set_discard_key(s: &Arc<SetObj>, key: &Value) -> PResult<bool> {
    if let Value::Set(_) = key {
        return Ok(false);
    }
    let h = hash_value(key)?;
    Ok(s.table.lock().remove(h, key))
}

fn set_discard(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_set(a, "discard")?;
    args::onearg("set.discard", &a[1..], kw)?;
    set_discard_key(s, &a[1])?;
    Ok(Value::None)
}

fn set_pop(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_set(a, "pop")?;
    args::noargs("set.pop", &a[1..], kw)?;
    match s.table.lock().pop() {
        Some(v) => Ok(v),
        None => err(ExcKind::KeyError, "pop from an empty set"),
    }
}

fn other_set(vm: &mut Vm, v: &Value) -> PResult<SetTable> {
    match v {
        Value::Set(s) => Ok(s.table.lock().clone()),
        _ => Ok(SetTable::from_source(&set_source(vm, v)?)),
    }
}

/// The other operand of a set operation, read without holding any set's lock (see
/// `SetSource`): sets and dicts by their tables, anything else iterated and hashed.
pub fn set_source(vm: &mut Vm, v: &Value) -> PResult<SetSource> {
    Ok(match v {
        Value::Set(s) => SetSource::Set(s.table.lock().clone()),
        Value::Dict(d) => SetSource::Dict(d.table.lock().clone()),
        _ => {
            let items = vm.collect_iterable(v)?;
            let mut out = Vec::with_capacity(items.len());
            for x in items {
                out.push((hash_value(&x)?, x));
            }
            SetSource::Items(out)
        }
    })
}

/// `set(iterable)`: CPython's make_new_set (a set is merged, a dict's keys added after one
/// resize, anything else added item by item).
pub fn new_set_from(vm: &mut Vm, v: &Value) -> PResult<SetTable> {
    Ok(SetTable::from_source(&set_source(vm, v)?))
}

fn same_set(s: &Arc<SetObj>, v: &Value) -> bool {
    matches!(v, Value::Set(o) if Arc::ptr_eq(s, o))
}

fn set_union(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_set(a, "union")?;
    args::no_kwargs("set.union", kw)?;
    let mut result = s.table.lock().copied();
    for other in &a[1..] {
        if same_set(s, other) {
            continue;
        }
        let src = set_source(vm, other)?;
        result.update(&src);
    }
    Ok(Value::set(result))
}

fn set_intersection(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_set(a, "intersection")?;
    args::no_kwargs("set.intersection", kw)?;
    let mut result = s.table.lock().clone();
    let mut is_self = true;
    for other in &a[1..] {
        result = if is_self && same_set(s, other) {
            result.copied()
        } else {
            let src = set_source(vm, other)?;
            result.intersection(&src)
        };
        is_self = false;
    }
    if is_self {
        result = result.copied();
    }
    Ok(Value::set(result))
}

fn set_difference(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_set(a, "difference")?;
    args::no_kwargs("set.difference", kw)?;
    let mine = s.table.lock().clone();
    let Some(first) = a.get(1) else {
        return Ok(Value::set(mine.copied()));
    };
    let src = set_source(vm, first)?;
    let mut result = mine.difference(&src);
    for other in &a[2..] {
        let src = set_source(vm, other)?;
        result.difference_update(&src);
    }
    Ok(Value::set(result))
}

fn set_symmetric_difference(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_set(a, "symmetric_difference")?;
    args::onearg("set.symmetric_difference", &a[1..], kw)?;
    let src = set_source(vm, &a[1])?;
    let mine = s.table.lock().clone();
    Ok(Value::set(mine.symmetric_difference(&src)))
}

fn set_issubset(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_set(a, "issubset")?;
    args::onearg("set.issubset", &a[1..], kw)?;
    let o = other_set(vm, &a[1])?;
    let mine = s.table.lock().clone();
    let r = mine.iter_hashed().all(|(h, k)| o.contains(h, k));
    Ok(Value::bool(r))
}

fn set_issuperset(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_set(a, "issuperset")?;
    args::onearg("set.issuperset", &a[1..], kw)?;
    let o = other_set(vm, &a[1])?;
    let mine = s.table.lock().clone();
    let r = o.iter_hashed().all(|(h, k)| mine.contains(h, k));
    Ok(Value::bool(r))
}

fn set_isdisjoint(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_set(a, "isdisjoint")?;
    args::onearg("set.isdisjoint", &a[1..], kw)?;
    let o = other_set(vm, &a[1])?;
    let mine = s.table.lock().clone();
    let r = !mine.iter_hashed().any(|(h, k)| o.contains(h, k));
    Ok(Value::bool(r))
}

fn set_update(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_set(a, "update")?;
    args::no_kwargs("set.update", kw)?;
    for other in &a[1..] {
        if same_set(s, other) {
            continue;
        }
        let src = set_source(vm, other)?;
        s.table.lock().update(&src);
    }
    Ok(Value::None)
}

fn set_copy(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_set(a, "copy")?;
    args::noargs("set.copy", &a[1..], kw)?;
    let mut t = SetTable::new();
    t.merge(&s.table.lock().clone());
    Ok(Value::set(t))
}

fn set_clear(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let s = recv_set(a, "clear")?;
    args::noargs("set.clear", &a[1..], kw)?;
    let old = s.table.lock().take_cleared();
    drop(old);
    Ok(Value::None)
}

// ---------------------------------------------------------------------------------------------
// tuple, exceptions
// ---------------------------------------------------------------------------------------------

fn tuple_count(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let t = recv_tuple(a, "count")?;
    args::onearg("tuple.count", &a[1..], kw)?;
    count_equal(&t.items, &a[1])
}

fn tuple_index(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let t = recv_tuple(a, "index")?;
    args::positional("tuple.index", "index", &a[1..], kw, 1, 3)?;
    seq_index(&t.items, a, "tuple.index(x): x not in tuple".to_string())
}

/// Where `x` sits in range `r`: `Ok(Some(i))` at index i, `Ok(None)` not there; `Err(())` when
/// `x` is not a number (no element can equal it). Floats equal to an int count as that int.
fn range_position(r: &RangeObj, x: &Value) -> Result<Option<i128>, ()> {
    use num_traits::ToPrimitive;
    let v = match x {
        Value::Int(i) => *i as i128,
        Value::Bool(b) => b.get() as i128,
        Value::BigInt(b) => match b.to_i128() {
            Some(v) => v,
            None => return Ok(None),
        },
        Value::Float(f) if f.get().fract() == 0.0 && f.get().abs() < 1e38 => f.get() as i128,
        Value::Float(_) => return Ok(None),
        _ => return Err(()),
    };
    let (start, stop, step) = (r.start, r.stop, r.step);
    let inside = if step > 0 {
        start <= v && v < stop
    } else {
        stop < v && v <= start
    };
    Ok((inside && (v - start) % step == 0).then(|| (v - start) / step))
}

fn recv_range<'a>(a: &'a [Value], name: &str) -> PResult<&'a RangeObj> {
    match a.first() {
        Some(Value::Range(r)) => Ok(r),
        _ => type_error(format!("descriptor '{}' requires a 'range' object", name)),
    }
}

fn range_count(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let r = recv_range(a, "count")?;
    args::onearg("range.count", &a[1..], kw)?;
    Ok(Value::Int(
        matches!(range_position(r, &a[1]), Ok(Some(_))) as i64
    ))
}

fn range_index(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let r = recv_range(a, "index")?;
    args::onearg("range.index", &a[1..], kw)?;
    match range_position(r, &a[1]) {
        Ok(Some(i)) => Ok(int_from_i128(i)),
        Ok(None) if matches!(a[1], Value::Int(_) | Value::Bool(_) | Value::BigInt(_)) => err(
            ExcKind::ValueError,
            format!("{} is not in range", ops::repr_plain(&a[1])),
        ),
        _ => err(ExcKind::ValueError, "sequence.index(x): x not in sequence"),
    }
}

fn exc_with_traceback(_vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    Ok(a[0].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_method_ids_match_the_tables() {
        assert_eq!(
            lookup_id(&Value::list(Vec::new()), "append"),
            Some(LIST_APPEND)
        );
        assert_eq!(
            lookup_id(&Value::dict(DictTable::new()), "get"),
            Some(DICT_GET)
        );
    }
}
