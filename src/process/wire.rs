//! What crosses a process boundary (spec §10): `None`, `bool`, `int` (big ones too), `float`,
//! `str`, `list`, `tuple`, `dict`, `set` and exception instances, in a compact binary format.
//! Anything else is `TypeError: cannot send 'T' object to another process`.
//!
//! A message is a *frame*: an 8-byte header (payload length, u32 little-endian; the sender's
//! pid, u32 little-endian, so that a reader waiting for the rest of a frame can tell that its
//! writer died) followed by the payload: one value, encoded as a tag byte and its contents:
//!
//! | tag | value | contents |
//! |-----|-------|----------|
//! | 0 1 2 | `None` `False` `True` | — |
//! | 3 | int (machine word) | zigzag LEB128 |
//! | 4 | int (big) | LEB128 byte count, two's complement little-endian bytes |
//! | 5 | float | 8 bytes, IEEE little-endian |
//! | 6 | str | LEB128 byte count, UTF-8 |
//! | 7 8 10 | list tuple set | LEB128 count, the items |
//! | 9 | dict | LEB128 count, key value key value … |
//! | 11 | exception | type name (as a str without tag), LEB128 arg count, the args |
//! | 12 | reference | LEB128 index of an earlier list/dict/set of this message |
//!
//! Lists, dicts and sets are numbered in the order they start; a repeated one is sent as a
//! reference, so shared and self-containing structures survive the trip (as with pickle).
//! Encoding and decoding are iterative (no native recursion, so no stack overflow on deep
//! data); encoding stops at the interpreter's recursion limit like CPython's pickler. Decoding
//! checks every count against the bytes that remain before allocating, so garbage can cost no
//! more memory than its own size, and any malformed or truncated input is an error value,
//! never a panic.

use std::sync::Arc;

use num_bigint::BigInt;
use parking_lot::Mutex;
use rustc_hash::FxHashMap;

use crate::dict::{hash_value, DictTable, SetTable};
use crate::exceptions::{ExcKind, ExcObj};
use crate::value::*;

/// The frame header: payload length and sender pid.
pub const HEADER: usize = 8;
/// The largest payload a frame may announce (a larger one is malformed).
pub const MAX_PAYLOAD: usize = (1 << 31) - 1;
/// The deepest nesting a decoder accepts (an encoder never produces more than the recursion
/// limit it is given).
pub const MAX_DECODE_DEPTH: usize = 100_000;

const T_NONE: u8 = 0;
const T_FALSE: u8 = 1;
const T_TRUE: u8 = 2;
const T_INT: u8 = 3;
const T_BIG: u8 = 4;
const T_FLOAT: u8 = 5;
const T_STR: u8 = 6;
const T_LIST: u8 = 7;
const T_TUPLE: u8 = 8;
const T_DICT: u8 = 9;
const T_SET: u8 = 10;
const T_EXC: u8 = 11;
const T_REF: u8 = 12;

#[derive(Debug, Clone, PartialEq)]
pub enum WireError {
    /// A value that cannot cross (its type name).
    Unsendable(&'static str),
    /// Nested deeper than the recursion limit.
    TooDeep,
    /// The input ended inside a message.
    Truncated,
    /// The input is not a message.
    Malformed(String),
}

impl WireError {
    /// The Toy exception for this error.
    pub fn to_exc(&self) -> Arc<ExcObj> {
        match self {
            WireError::Unsendable(t) => ExcObj::new(
                ExcKind::TypeError,
                format!("cannot send '{}' object to another process", t),
            ),
            WireError::TooDeep => ExcObj::new(
                ExcKind::RecursionError,
                "maximum recursion depth exceeded while pickling an object",
            ),
            WireError::Truncated => ExcObj::new(ExcKind::OSError, "got end of file during message"),
            WireError::Malformed(m) => {
                ExcObj::new(ExcKind::ProcessError, format!("malformed message: {}", m))
            }
        }
    }
}

fn malformed<T>(m: impl Into<String>) -> Result<T, WireError> {
    Err(WireError::Malformed(m.into()))
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

fn put_varint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// The exception's args if they can all cross, else its message alone (as CPython's shim
/// falls back to `type(str(e))` when an exception does not pickle).
fn exc_args(e: &ExcObj, max_depth: usize) -> Vec<Value> {
    let args = e.args.clone();
    let probe = Value::tuple(args.clone());
    if encode(&probe, max_depth).is_ok() {
        args
    } else {
        vec![Value::str(crate::ops::exc_str(e))]
    }
}

/// Encode one value (the payload of a frame) into `out`. `max_depth`: the deepest container
/// nesting allowed (the interpreter's recursion limit).
pub fn encode_into(out: &mut Vec<u8>, v: &Value, max_depth: usize) -> Result<(), WireError> {
    // Work stack: the children still to encode of each open container.
    let mut stack: Vec<std::vec::IntoIter<Value>> = Vec::new();
    let mut memo: FxHashMap<usize, u64> = FxHashMap::default();
    let mut next: Option<Value> = Some(v.clone());
    loop {
        let x = match next.take() {
            Some(x) => x,
            None => match stack.last_mut() {
                None => return Ok(()),
                Some(it) => match it.next() {
                    Some(x) => x,
                    None => {
                        stack.pop();
                        continue;
                    }
                },
            },
        };
        let children: Vec<Value> = match &x {
            Value::None => {
                out.push(T_NONE);
                continue;
            }
            Value::Bool(b) => {
                out.push(if b.get() { T_TRUE } else { T_FALSE });
                continue;
            }
            Value::Int(i) => {
                out.push(T_INT);
                put_varint(out, ((*i << 1) ^ (*i >> 63)) as u64);
                continue;
            }
            Value::BigInt(b) => {
                out.push(T_BIG);
                put_bytes(out, &b.to_signed_bytes_le());
                continue;
            }
            Value::Float(f) => {
                out.push(T_FLOAT);
                out.extend_from_slice(&f.get().to_bits().to_le_bytes());
                continue;
            }
            Value::Str(s) => {
                out.push(T_STR);
                put_bytes(out, s.s.as_bytes());
                continue;
            }
            Value::Tuple(t) => {
                out.push(T_TUPLE);
                put_varint(out, t.items.len() as u64);
                t.items.to_vec()
            }
            Value::List(_) | Value::Dict(_) | Value::Set(_) => {
                let key = x.heap_ptr().unwrap_or(0);
                if let Some(&i) = memo.get(&key) {
                    out.push(T_REF);
                    put_varint(out, i);
                    continue;
                }
                let n = memo.len() as u64;
                memo.insert(key, n);
                match &x {
                    Value::List(l) => {
                        // Clone the items out: never hold a container's lock while encoding
                        // (it may contain itself).
                        let items = l.items.lock().clone();
                        out.push(T_LIST);
                        put_varint(out, items.len() as u64);
                        items
                    }
                    Value::Dict(d) => {
                        let mut flat = Vec::new();
                        {
                            let t = d.table.lock();
                            flat.reserve(t.len() * 2);
                            for (k, v) in t.iter() {
                                flat.push(k.clone());
                                flat.push(v.clone());
                            }
                        }
                        out.push(T_DICT);
                        put_varint(out, (flat.len() / 2) as u64);
                        flat
                    }
                    Value::Set(s) => {
                        let items = s.table.lock().keys();
                        out.push(T_SET);
                        put_varint(out, items.len() as u64);
                        items
                    }
                    _ => unreachable!(),
                }
            }
            Value::Exc(e) => {
                let args = exc_args(e, max_depth.saturating_sub(stack.len() + 1));
                out.push(T_EXC);
                put_bytes(out, e.kind.name().as_bytes());
                put_varint(out, args.len() as u64);
                args
            }
            other => return Err(WireError::Unsendable(other.type_name())),
        };
        if stack.len() >= max_depth {
            return Err(WireError::TooDeep);
        }
        stack.push(children.into_iter());
    }
}

/// Encode one value into a new buffer (payload only).
pub fn encode(v: &Value, max_depth: usize) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    encode_into(&mut out, v, max_depth)?;
    Ok(out)
}

/// Can `v` cross a process boundary? (Err: the type name of the first value that cannot.)
pub fn check_sendable(v: &Value, max_depth: usize) -> Result<(), WireError> {
    encode(v, max_depth).map(|_| ())
}

/// A whole frame (header + payload) for `v`, sent by process `pid`.
pub fn encode_frame(v: &Value, pid: u32, max_depth: usize) -> Result<Vec<u8>, WireError> {
    let mut out = vec![0u8; HEADER];
    encode_into(&mut out, v, max_depth)?;
    let n = out.len() - HEADER;
    if n > MAX_PAYLOAD {
        return malformed(format!("message too large ({} bytes)", n));
    }
    out[0..4].copy_from_slice(&(n as u32).to_le_bytes());
    out[4..8].copy_from_slice(&pid.to_le_bytes());
    Ok(out)
}

/// Parse a frame header: (payload length, sender pid).
pub fn parse_header(h: &[u8; HEADER]) -> Result<(usize, u32), WireError> {
    let n = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    let pid = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    if n > MAX_PAYLOAD {
        return malformed(format!("frame length {} too large", n));
    }
    Ok((n, pid))
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, WireError> {
        let x = *self.b.get(self.pos).ok_or(WireError::Truncated)?;
        self.pos += 1;
        Ok(x)
    }
    fn varint(&mut self) -> Result<u64, WireError> {
        let mut x: u64 = 0;
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            if shift == 63 && b > 1 || shift > 63 {
                return malformed("varint overflow");
            }
            x |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(x);
            }
            shift += 7;
        }
    }
    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
    fn take(&mut self, n: u64) -> Result<&'a [u8], WireError> {
        if n > self.remaining() as u64 {
            return Err(WireError::Truncated);
        }
        let s = &self.b[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }
    /// A count of items each needing at least `per` bytes.
    fn count(&mut self, per: usize) -> Result<usize, WireError> {
        let n = self.varint()?;
        if n.saturating_mul(per as u64) > self.remaining() as u64 {
            return Err(WireError::Truncated);
        }
        Ok(n as usize)
    }
    fn string(&mut self) -> Result<String, WireError> {
        let n = self.varint()?;
        let b = self.take(n)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => malformed("invalid UTF-8 in a str"),
        }
    }
}

/// A container being filled while its items are decoded.
enum Open {
    List(Arc<ListObj>, usize),
    Tuple(Vec<Value>, usize),
    Dict(Arc<DictObj>, usize, Option<Value>),
    Set(Arc<SetObj>, usize),
    Exc(ExcKind, Vec<Value>, usize),
}

impl Open {
    fn remaining(&self) -> usize {
        match self {
            Open::List(_, n) | Open::Tuple(_, n) | Open::Set(_, n) | Open::Exc(_, _, n) => *n,
            Open::Dict(_, n, k) => *n * 2 - k.is_some() as usize,
        }
    }
    /// Add one decoded item.
    fn push(&mut self, v: Value) -> Result<(), WireError> {
        match self {
            Open::List(l, n) => {
                l.items.lock().push(v);
                *n -= 1;
            }
            Open::Tuple(items, n) | Open::Exc(_, items, n) => {
                items.push(v);
                *n -= 1;
            }
            Open::Set(s, n) => {
                let h = hash_value(&v).or_else(|_| malformed("unhashable set item"))?;
                s.table.lock().add(h, v);
                *n -= 1;
            }
            Open::Dict(d, n, key) => match key.take() {
                None => *key = Some(v),
                Some(k) => {
                    let h = hash_value(&k).or_else(|_| malformed("unhashable dict key"))?;
                    d.table.lock().insert(h, k, v);
                    *n -= 1;
                }
            },
        }
        Ok(())
    }
    fn finish(self) -> Value {
        match self {
            Open::List(l, _) => Value::List(l),
            Open::Tuple(items, _) => Value::tuple(items),
            Open::Dict(d, _, _) => Value::Dict(d),
            Open::Set(s, _) => Value::Set(s),
            Open::Exc(kind, args, _) => Value::Exc(ExcObj::with_args(kind, args)),
        }
    }
}

/// Decode one payload (it must be exactly one value).
pub fn decode(b: &[u8]) -> Result<Value, WireError> {
    let mut r = Reader { b, pos: 0 };
    let mut stack: Vec<Open> = Vec::new();
    let mut memo: Vec<Value> = Vec::new();
    loop {
        let tag = r.byte()?;
        let mut done: Option<Value> = match tag {
            T_NONE => Some(Value::None),
            T_FALSE => Some(Value::Bool(B64::False)),
            T_TRUE => Some(Value::Bool(B64::True)),
            T_INT => {
                let z = r.varint()?;
                Some(Value::Int(((z >> 1) as i64) ^ -((z & 1) as i64)))
            }
            T_BIG => {
                let n = r.varint()?;
                let bytes = r.take(n)?;
                Some(Value::from_bigint(BigInt::from_signed_bytes_le(bytes)))
            }
            T_FLOAT => {
                let s = r.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(s);
                Some(Value::float(f64::from_bits(u64::from_le_bytes(a))))
            }
            T_STR => Some(Value::str(r.string()?)),
            T_LIST => {
                let n = r.count(1)?;
                let l = Arc::new(ListObj {
                    items: Mutex::new(Vec::with_capacity(n)),
                });
                memo.push(Value::List(l.clone()));
                stack.push(Open::List(l, n));
                None
            }
            T_TUPLE => {
                let n = r.count(1)?;
                stack.push(Open::Tuple(Vec::with_capacity(n), n));
                None
            }
            T_DICT => {
                let n = r.count(2)?;
                let d = Arc::new(DictObj {
                    table: Mutex::new(DictTable::new()),
                });
                memo.push(Value::Dict(d.clone()));
                stack.push(Open::Dict(d, n, None));
                None
            }
            T_SET => {
                let n = r.count(1)?;
                let s = Arc::new(SetObj {
                    table: Mutex::new(SetTable::new()),
                });
                memo.push(Value::Set(s.clone()));
                stack.push(Open::Set(s, n));
                None
            }
            T_EXC => {
                let name = r.string()?;
                let kind = match ExcKind::by_name(&name) {
                    Some(k) => k,
                    None => return malformed(format!("unknown exception type '{}'", name)),
                };
                let n = r.count(1)?;
                stack.push(Open::Exc(kind, Vec::with_capacity(n), n));
                None
            }
            T_REF => {
                let i = r.varint()?;
                match memo.get(i as usize) {
                    Some(v) => Some(v.clone()),
                    None => return malformed("reference to an unknown object"),
                }
            }
            t => return malformed(format!("unknown tag {}", t)),
        };
        if stack.len() > MAX_DECODE_DEPTH {
            return malformed("nested too deeply");
        }
        // Close every container that is complete, handing each to its parent.
        loop {
            if let Some(v) = done.take() {
                match stack.last_mut() {
                    None => {
                        if r.remaining() != 0 {
                            return malformed("trailing bytes after the value");
                        }
                        return Ok(v);
                    }
                    Some(top) => top.push(v)?,
                }
            }
            match stack.last() {
                Some(top) if top.remaining() == 0 => {
                    done = Some(stack.pop().expect("non-empty").finish());
                }
                _ => break,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Framing a byte stream
// ---------------------------------------------------------------------------------------------

/// Reassembles frames from a byte stream that arrives in pieces (a pipe or socket).
#[derive(Default)]
pub struct FrameBuf {
    buf: Vec<u8>,
}

impl FrameBuf {
    pub fn new() -> FrameBuf {
        FrameBuf { buf: Vec::new() }
    }
    /// Append bytes read from the stream.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }
    /// Nothing buffered (a stream ending now ends cleanly).
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// The header of the frame being received, once it is complete: (length, sender pid).
    pub fn header(&self) -> Result<Option<(usize, u32)>, WireError> {
        if self.buf.len() < HEADER {
            return Ok(None);
        }
        let mut h = [0u8; HEADER];
        h.copy_from_slice(&self.buf[..HEADER]);
        parse_header(&h).map(Some)
    }
    /// How many more bytes the current frame needs (at least 1 when incomplete, 0 when a whole
    /// frame is buffered).
    pub fn wanted(&self) -> Result<usize, WireError> {
        match self.header()? {
            None => Ok(HEADER - self.buf.len()),
            Some((n, _)) => Ok((HEADER + n).saturating_sub(self.buf.len())),
        }
    }
    /// Take the next complete frame's payload out, decoded (None: not complete yet).
    pub fn next_frame(&mut self) -> Result<Option<Value>, WireError> {
        let Some((n, _)) = self.header()? else {
            return Ok(None);
        };
        if self.buf.len() < HEADER + n {
            return Ok(None);
        }
        let v = decode(&self.buf[HEADER..HEADER + n]);
        self.buf.drain(..HEADER + n);
        v.map(Some)
    }
    /// The stream ended: an error if it ended inside a frame.
    pub fn at_eof(&self) -> Result<(), WireError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(WireError::Truncated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{eq, repr_plain};

    fn big(s: &str) -> Value {
        Value::from_bigint(s.parse::<BigInt>().unwrap())
    }

    fn samples() -> Vec<Value> {
        let mut d = DictTable::new();
        for (k, v) in [
            (Value::str("a"), Value::Int(1)),
            (Value::Int(2), Value::list(vec![Value::None])),
            (
                Value::tuple(vec![Value::Int(1), Value::str("x")]),
                Value::float(0.5),
            ),
        ] {
            d.insert(hash_value(&k).ok().unwrap(), k, v);
        }
        let mut s = SetTable::new();
        for x in [Value::Int(3), Value::str("é"), Value::Bool(B64::True)] {
            s.add(hash_value(&x).ok().unwrap(), x);
        }
        vec![
            Value::None,
            Value::Bool(B64::True),
            Value::Bool(B64::False),
            Value::Int(0),
            Value::Int(-1),
            Value::Int(i64::MAX),
            Value::Int(i64::MIN),
            big("123456789012345678901234567890"),
            big("-340282366920938463463374607431768211456"),
            Value::float(1.5),
            Value::float(-0.0),
            Value::float(f64::INFINITY),
            Value::float(1e300),
            Value::str(""),
            Value::str("héllo wörld ✓"),
            Value::list(vec![]),
            Value::tuple(vec![]),
            Value::list(vec![Value::Int(1), Value::tuple(vec![Value::str("x")])]),
            Value::dict(d),
            Value::set(s),
            Value::Exc(ExcObj::new(ExcKind::ValueError, "bad value")),
            Value::Exc(ExcObj::with_args(ExcKind::KeyError, vec![Value::str("k")])),
            Value::Exc(ExcObj::with_args(ExcKind::RuntimeError, vec![])),
        ]
    }

    #[test]
    fn round_trips() {
        for v in samples() {
            let b = encode(&v, 1000).unwrap();
            let w = decode(&b).unwrap();
            assert_eq!(repr_plain(&v), repr_plain(&w), "{:?}", v);
            assert_eq!(v.type_name(), w.type_name());
            if !matches!(v, Value::Exc(_)) {
                assert!(eq(&v, &w) || matches!(v, Value::Float(f) if f.get().is_nan()));
            }
        }
    }

    #[test]
    fn nan_and_exception_kind_survive() {
        let b = encode(&Value::float(f64::NAN), 10).unwrap();
        assert!(matches!(decode(&b).unwrap(), Value::Float(f) if f.get().is_nan()));
        let e = ExcObj::with_args(
            ExcKind::ZeroDivisionError,
            vec![Value::str("division by zero")],
        );
        let w = decode(&encode(&Value::Exc(e), 10).unwrap()).unwrap();
        match w {
            Value::Exc(e) => {
                assert_eq!(e.kind, ExcKind::ZeroDivisionError);
                assert_eq!(crate::ops::exc_str(&e), "division by zero");
            }
            _ => panic!(),
        }
    }

    #[test]
    fn unsendable_names_the_type() {
        let f = Value::Range(Arc::new(RangeObj {
            start: 0,
            stop: 3,
            step: 1,
        }));
        let v = Value::list(vec![Value::Int(1), Value::tuple(vec![f])]);
        assert_eq!(encode(&v, 100), Err(WireError::Unsendable("range")));
        let e = WireError::Unsendable("function").to_exc();
        assert_eq!(e.kind, ExcKind::TypeError);
        assert_eq!(
            crate::ops::exc_str(&e),
            "cannot send 'function' object to another process"
        );
    }

    #[test]
    fn exception_with_unsendable_args_falls_back_to_its_message() {
        let r = Value::Range(Arc::new(RangeObj {
            start: 0,
            stop: 2,
            step: 1,
        }));
        let e = ExcObj::with_args(ExcKind::ValueError, vec![r]);
        let w = decode(&encode(&Value::Exc(e), 100).unwrap()).unwrap();
        assert_eq!(repr_plain(&w), "ValueError('range(0, 2)')");
    }

    #[test]
    fn shared_and_cyclic_structures() {
        let inner = Value::list(vec![Value::Int(1)]);
        let outer = Value::list(vec![inner.clone(), inner.clone()]);
        let w = decode(&encode(&outer, 100).unwrap()).unwrap();
        let Value::List(l) = &w else { panic!() };
        let items = l.items.lock().clone();
        assert!(items[0].is(&items[1]));
        // A list containing itself.
        let Value::List(c) = Value::list(vec![Value::Int(7)]) else {
            panic!()
        };
        c.items.lock().push(Value::List(c.clone()));
        let w = decode(&encode(&Value::List(c.clone()), 100).unwrap()).unwrap();
        assert_eq!(repr_plain(&w), "[7, [...]]");
        c.items.lock().clear(); // break the cycle so the test does not leak
    }

    #[test]
    fn depth_limit_and_deep_decode() {
        let mut v = Value::Int(0);
        for _ in 0..50 {
            v = Value::list(vec![v]);
        }
        assert_eq!(encode(&v, 20), Err(WireError::TooDeep));
        assert!(encode(&v, 51).is_ok());
        // Deep data decodes without native recursion (run on a small stack).
        let mut deep = Vec::new();
        for _ in 0..MAX_DECODE_DEPTH {
            deep.extend_from_slice(&[T_LIST, 1]);
        }
        deep.push(T_NONE);
        let too_deep = [&[T_LIST, 1][..], &deep[..]].concat();
        let r = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                // (Dropping so deep a value would recurse: keep it.)
                let ok = decode(&deep).map(std::mem::forget).is_ok();
                (ok, decode(&too_deep).map(std::mem::forget).is_err())
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(r, (true, true));
    }

    #[test]
    fn truncation_at_every_offset_is_an_error() {
        for v in samples() {
            let b = encode(&v, 100).unwrap();
            for cut in 0..b.len() {
                let r = decode(&b[..cut]);
                assert!(r.is_err(), "{:?} cut at {}", v, cut);
            }
            // Frames over a stream: a stream ending at any offset inside a frame.
            let f = encode_frame(&v, 42, 100).unwrap();
            for cut in 0..f.len() {
                let mut fb = FrameBuf::new();
                fb.feed(&f[..cut]);
                assert!(matches!(fb.next_frame(), Ok(None)));
                assert_eq!(cut == 0, fb.at_eof().is_ok());
                assert!(fb.wanted().unwrap() >= 1);
            }
            let mut fb = FrameBuf::new();
            for byte in &f {
                fb.feed(std::slice::from_ref(byte));
            }
            assert_eq!(fb.header().unwrap(), Some((f.len() - HEADER, 42)));
            let w = fb.next_frame().unwrap().unwrap();
            assert_eq!(repr_plain(&v), repr_plain(&w));
            assert!(fb.is_empty());
        }
    }

    #[test]
    fn trailing_bytes_and_bad_tags_are_malformed() {
        assert!(matches!(
            decode(&[T_NONE, T_NONE]),
            Err(WireError::Malformed(_))
        ));
        assert!(matches!(decode(&[99]), Err(WireError::Malformed(_))));
        assert!(matches!(decode(&[T_REF, 0]), Err(WireError::Malformed(_))));
        // An unhashable dict key.
        assert!(matches!(
            decode(&[T_DICT, 1, T_LIST, 0, T_NONE]),
            Err(WireError::Malformed(_))
        ));
        // A huge count with few bytes behind it allocates nothing.
        let mut b = vec![T_LIST];
        put_varint(&mut b, u64::MAX / 2);
        assert_eq!(decode(&b).err(), Some(WireError::Truncated));
        assert!(parse_header(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err());
        assert!(matches!(
            decode(&[T_STR, 2, 0xff, 0xfe]),
            Err(WireError::Malformed(_))
        ));
        assert!(matches!(
            decode(&[T_INT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            Err(WireError::Malformed(_))
        ));
    }

    #[test]
    fn random_garbage_never_panics() {
        // A small xorshift generator: deterministic, no dependency.
        let mut s: u64 = 0x9e3779b97f4a7c15;
        let mut rnd = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let seeds: Vec<Vec<u8>> = samples().iter().map(|v| encode(v, 100).unwrap()).collect();
        for round in 0..20_000 {
            let mut b: Vec<u8> = if round % 2 == 0 {
                let n = (rnd() % 64) as usize;
                (0..n).map(|_| (rnd() % 14) as u8).collect()
            } else {
                seeds[(rnd() % seeds.len() as u64) as usize].clone()
            };
            // Mutate a few bytes.
            for _ in 0..(rnd() % 4) {
                if !b.is_empty() {
                    let i = (rnd() % b.len() as u64) as usize;
                    b[i] = rnd() as u8;
                }
            }
            let _ = decode(&b);
            let mut fb = FrameBuf::new();
            fb.feed(&b);
            let _ = fb.next_frame();
            let _ = fb.at_eof();
        }
    }
}
