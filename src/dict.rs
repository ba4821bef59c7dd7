//! Hash tables behind `dict` and `set`, and Python's hash of the built-in values.
//!
//! `DictTable` is insertion-ordered like CPython's compact dict: an entries vector (with
//! tombstones) plus an index of positions. `SetTable` reproduces CPython's set table (open
//! addressing, nine linear probes, then perturbation; the same growth rule) so that iterating
//! or printing a set of ints gives exactly CPython's order, which Python users see and rely on.
//!
//! Keys are hashed by the caller with `hash_value` (which raises `unhashable type`), so the
//! tables themselves never fail: key equality between hashable values (`key_eq`) cannot raise.

use std::sync::Arc;

use num_bigint::BigInt;
use num_traits::{Signed, ToPrimitive, Zero};

use crate::exceptions::{ExcKind, ExcObj};
use crate::value::{PResult, Value};

const HASH_BITS: u32 = 61;
const HASH_MODULUS: u64 = (1u64 << HASH_BITS) - 1;
const HASH_INF: i64 = 314159;

/// Python's `hash()` of an int.
#[inline]
pub fn hash_i64(i: i64) -> i64 {
    // |i| < 2**61 - 1: the int is its own hash (except -1, which CPython reserves).
    if (i as u64).wrapping_add(HASH_MODULUS - 1) < 2 * HASH_MODULUS - 1 {
        return if i == -1 { -2 } else { i };
    }
    hash_i64_wide(i)
}

#[inline(never)]
fn hash_i64_wide(i: i64) -> i64 {
    let m = HASH_MODULUS as i128;
    let v = i as i128;
    let mut h = (v.abs() % m) as i64;
    if v < 0 {
        h = -h;
    }
    if h == -1 {
        -2
    } else {
        h
    }
}

pub fn hash_bigint(b: &BigInt) -> i64 {
    let m = BigInt::from(HASH_MODULUS);
    let r = (b.abs() % &m).to_i64().unwrap_or(0);
    let h = if b.is_negative() { -r } else { r };
    if h == -1 {
        -2
    } else {
        h
    }
}

/// Python's `hash()` of a float (equal to the int's hash when the float is integral).
pub fn hash_f64(v: f64) -> i64 {
    if !v.is_finite() {
        if v.is_infinite() {
            return if v > 0.0 { HASH_INF } else { -HASH_INF };
        }
        return 0;
    }
    let (mut m, mut e) = frexp(v);
    let mut sign: i64 = 1;
    if m < 0.0 {
        sign = -1;
        m = -m;
    }
    let mut x: u64 = 0;
    while m != 0.0 {
        x = ((x << 28) & HASH_MODULUS) | (x >> (HASH_BITS - 28));
        m *= 268435456.0;
        e -= 28;
        let y = m as u64;
        m -= y as f64;
        x += y;
        if x >= HASH_MODULUS {
            x -= HASH_MODULUS;
        }
    }
    let bits = HASH_BITS as i32;
    let e = if e >= 0 {
        e % bits
    } else {
        bits - 1 - ((-1 - e) % bits)
    };
    x = ((x << e) & HASH_MODULUS) | (x >> (bits - e));
    let h = (x as i64).wrapping_mul(sign);
    if h == -1 {
        -2
    } else {
        h
    }
}

fn frexp(v: f64) -> (f64, i32) {
    if v == 0.0 {
        return (v, 0);
    }
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale up first.
        let (m, e) = frexp(v * (1u64 << 54) as f64);
        return (m, e - 54);
    }
    let e = exp - 1022;
    let m = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (m, e)
}

/// Python's `hash()`, raising `TypeError: unhashable type: 'list'` for mutable containers.
#[inline]
pub fn hash_value(v: &Value) -> PResult<i64> {
    match v {
        Value::Int(i) => Ok(hash_i64(*i)),
        Value::Str(s) => Ok(s.hash()),
        _ => hash_value_slow(v),
    }
}

#[inline(never)]
fn hash_value_slow(v: &Value) -> PResult<i64> {
    Ok(match v {
        Value::Int(i) => hash_i64(*i),
        Value::Bool(b) => b.get() as i64,
        Value::Str(s) => s.hash(),
        Value::Float(f) => hash_f64(f.get()),
        Value::BigInt(b) => hash_bigint(b),
        Value::None => 0x5f3759df,
        Value::Tuple(t) => {
            const P1: u64 = 11400714785074694791;
            const P2: u64 = 14029467366897019727;
            const P5: u64 = 2870177450012600261;
            let mut acc: u64 = P5;
            for item in t.items.iter() {
                let lane = hash_value(item)? as u64;
                acc = acc.wrapping_add(lane.wrapping_mul(P2));
                acc = acc.rotate_left(31);
                acc = acc.wrapping_mul(P1);
            }
            acc = acc.wrapping_add((t.items.len() as u64) ^ (P5 ^ 3527539));
            if acc == u64::MAX {
                1546275796
            } else {
                acc as i64
            }
        }
        Value::Range(r) => {
            // CPython hashes a range as the tuple (len, start, step), with start and step
            // None where they do not matter (len 0: both; len 1: step).
            let n = r.len();
            let int = |i: i128| match i64::try_from(i) {
                Ok(i) => Value::Int(i),
                Err(_) => Value::from_bigint(BigInt::from(i)),
            };
            let key = match n {
                0 => vec![int(0), Value::None, Value::None],
                1 => vec![int(1), int(r.start), Value::None],
                _ => vec![int(n), int(r.start), int(r.step)],
            };
            return hash_value(&Value::tuple(key));
        }
        Value::List(_) | Value::Dict(_) | Value::Set(_) | Value::Slice(_) => {
            return Err(ExcObj::new(
                ExcKind::TypeError,
                format!("unhashable type: '{}'", v.type_name()),
            ))
        }
        Value::Type(t) => {
            let name = t.get().name();
            let mut h: i64 = 7;
            for b in name.bytes() {
                h = h.wrapping_mul(31).wrapping_add(b as i64);
            }
            h >> 4
        }
        Value::Native(n)
            if matches!(n.0.type_name(), "dict_keys" | "dict_items" | "dict_values")
                && n.0.type_name() != "dict_values" =>
        {
            return Err(ExcObj::new(
                ExcKind::TypeError,
                format!("unhashable type: '{}'", v.type_name()),
            ))
        }
        other => (other.heap_ptr().unwrap_or(0) >> 4) as i64,
    })
}

/// Equality of two hashable values, as dict and set lookups need it. Never raises.
#[inline]
pub fn key_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => Arc::ptr_eq(x, y) || x.s == y.s,
        _ => key_eq_slow(a, b),
    }
}

#[inline(never)]
fn key_eq_slow(a: &Value, b: &Value) -> bool {
    // Identity first, as CPython's lookups do (so a NaN key finds itself).
    if a.is(b) {
        return true;
    }
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Arc::ptr_eq(x, y) || x.s == y.s,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Range(x), Value::Range(y)) => {
            let (lx, ly) = (x.len(), y.len());
            lx == ly && (lx == 0 || (x.start == y.start && (lx == 1 || x.step == y.step)))
        }
        (Value::Tuple(x), Value::Tuple(y)) => {
            x.items.len() == y.items.len()
                && x.items
                    .iter()
                    .zip(y.items.iter())
                    .all(|(p, q)| key_eq(p, q))
        }
        _ => match (num_of(a), num_of(b)) {
            (Some(x), Some(y)) => num_eq(&x, &y),
            (None, None) => a.is(b) || matches!((a, b), (Value::None, Value::None)),
            _ => false,
        },
    }
}

/// A number seen as int or float, for cross-type equality.
pub enum Num<'a> {
    I(i64),
    B(&'a BigInt),
    F(f64),
}

pub fn num_of(v: &Value) -> Option<Num<'_>> {
    match v {
        Value::Int(i) => Some(Num::I(*i)),
        Value::Bool(b) => Some(Num::I(b.get() as i64)),
        Value::BigInt(b) => Some(Num::B(b)),
        Value::Float(f) => Some(Num::F(f.get())),
        _ => None,
    }
}

pub fn num_eq(a: &Num, b: &Num) -> bool {
    match (a, b) {
        (Num::I(x), Num::I(y)) => x == y,
        (Num::B(x), Num::B(y)) => x == y,
        (Num::I(_), Num::B(_)) | (Num::B(_), Num::I(_)) => false,
        (Num::F(x), Num::F(y)) => x == y,
        (Num::I(i), Num::F(f)) | (Num::F(f), Num::I(i)) => {
            int_float_cmp_i(*i, *f) == Some(std::cmp::Ordering::Equal)
        }
        (Num::B(b), Num::F(f)) | (Num::F(f), Num::B(b)) => {
            int_float_cmp_b(b, *f) == Some(std::cmp::Ordering::Equal)
        }
    }
}

/// Exact comparison of an int with a float (no rounding of big ints), as Python does.
pub fn int_float_cmp_i(i: i64, f: f64) -> Option<std::cmp::Ordering> {
    if f.is_nan() {
        return None;
    }
    if f.is_infinite() {
        return Some(if f > 0.0 {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Greater
        });
    }
    if (i as f64) as i64 == i && i.unsigned_abs() < (1u64 << 53) {
        return (i as f64).partial_cmp(&f);
    }
    int_float_cmp_b(&BigInt::from(i), f)
}

pub fn int_float_cmp_b(b: &BigInt, f: f64) -> Option<std::cmp::Ordering> {
    if f.is_nan() {
        return None;
    }
    if f.is_infinite() {
        return Some(if f > 0.0 {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Greater
        });
    }
    let fl = f.floor();
    let fb = num_bigint::BigInt::from(fl as i128);
    let fb = if fl.abs() < 1e38 {
        fb
    } else {
        // Very large floats: convert exactly through the decimal expansion.
        format!("{:.0}", fl)
            .parse::<BigInt>()
            .unwrap_or_else(|_| BigInt::zero())
    };
    match b.cmp(&fb) {
        std::cmp::Ordering::Equal => {
            if fl == f {
                Some(std::cmp::Ordering::Equal)
            } else {
                Some(std::cmp::Ordering::Less)
            }
        }
        o => Some(o),
    }
}

// ---------------------------------------------------------------------------------------------
// dict
// ---------------------------------------------------------------------------------------------

const DICT_MINSIZE: usize = 8;
/// Index slots: an entry position, or one of these two markers.
const IX_EMPTY: u32 = u32::MAX;
const IX_DUMMY: u32 = u32::MAX - 1;

/// How many entries (live or deleted) an index of `size` slots takes before it grows: 2/3,
/// as CPython's `USABLE_FRACTION`.
#[inline(always)]
fn usable(size: usize) -> usize {
    (size << 1) / 3
}

/// An insertion-ordered dict table laid out as CPython's compact dict: `entries` in insertion
/// order (deleted ones become None) and `indices`, an open-addressing table of entry
/// positions probed exactly as CPython probes (start at `hash & mask`, then
/// `i = 5*i + 1 + perturb` with `perturb >>= 5`). Python's int hashes are the ints
/// themselves, so nearby int keys land in nearby slots: lookups of sequential keys stay in
/// cache, and the perturbation still spreads keys that differ only in high bits.
#[derive(Clone, Default)]
pub struct DictTable {
    entries: Vec<Option<(i64, Value, Value)>>,
    /// A power of two in length, or empty before the first insert.
    indices: Vec<u32>,
    live: usize,
    /// Index slots that are not empty (live or deleted): the table grows before they
    /// reach `usable(indices.len())`, so every probe sequence meets an empty slot.
    fill: usize,
}

/// The probe sequence of a hash in an index of `mask + 1` slots.
struct Probe {
    i: usize,
    perturb: u64,
    mask: usize,
}

impl Probe {
    #[inline(always)]
    fn new(hash: i64, mask: usize) -> Probe {
        Probe {
            i: (hash as u64 as usize) & mask,
            perturb: hash as u64,
            mask,
        }
    }
    #[inline(always)]
    fn next(&mut self) {
        self.perturb >>= PERTURB_SHIFT;
        self.i = (self
            .i
            .wrapping_mul(5)
            .wrapping_add(1)
            .wrapping_add(self.perturb as usize))
            & self.mask;
    }
}

impl DictTable {
    pub fn new() -> DictTable {
        DictTable::default()
    }
    pub fn len(&self) -> usize {
        self.live
    }
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
    /// The index slot and entry position of `key`.
    #[inline]
    fn lookup(&self, hash: i64, key: &Value) -> Option<(usize, usize)> {
        if self.indices.is_empty() {
            return None;
        }
        let mut p = Probe::new(hash, self.indices.len() - 1);
        loop {
            let ix = self.indices[p.i];
            if ix == IX_EMPTY {
                return None;
            }
            if ix != IX_DUMMY {
                if let Some((h, k, _)) = &self.entries[ix as usize] {
                    if *h == hash && key_eq(k, key) {
                        return Some((p.i, ix as usize));
                    }
                }
            }
            p.next();
        }
    }
    #[inline]
    fn find(&self, hash: i64, key: &Value) -> Option<usize> {
        self.lookup(hash, key).map(|(_, ix)| ix)
    }
    #[inline]
    pub fn get(&self, hash: i64, key: &Value) -> Option<Value> {
        self.get_ref(hash, key).cloned()
    }
    /// The value of `key`, borrowed.
    #[inline]
    pub fn get_ref(&self, hash: i64, key: &Value) -> Option<&Value> {
        match self.find(hash, key) {
            Some(i) => self.entries[i].as_ref().map(|e| &e.2),
            None => None,
        }
    }
    #[inline]
    pub fn contains(&self, hash: i64, key: &Value) -> bool {
        self.find(hash, key).is_some()
    }
    /// Insert or replace; an existing key keeps its position (and its original key object).
    /// Returns the value replaced, if any (for the caller to drop after releasing its lock).
    pub fn insert(&mut self, hash: i64, key: Value, value: Value) -> Option<Value> {
        if let Some(i) = self.find(hash, &key) {
            return self.entries[i]
                .as_mut()
                .map(|e| std::mem::replace(&mut e.2, value));
        }
        if self.fill >= usable(self.indices.len()) || self.entries.len() >= u32::MAX as usize - 2 {
            // CPython's GROWTH_RATE: room for three times the live keys.
            self.rebuild(self.live * 3);
        }
        let pos = self.entries.len();
        self.entries.push(Some((hash, key, value)));
        self.place(hash, pos);
        self.live += 1;
        None
    }
    /// Put entry position `pos` in the first free (empty or deleted) slot of its probe
    /// sequence; the key is known to be absent.
    #[inline]
    fn place(&mut self, hash: i64, pos: usize) {
        let mut p = Probe::new(hash, self.indices.len() - 1);
        while self.indices[p.i] < IX_DUMMY {
            p.next();
        }
        if self.indices[p.i] == IX_EMPTY {
            self.fill += 1;
        }
        self.indices[p.i] = pos as u32;
    }
    /// Drop the deleted entries and rebuild the index with at least `minsize` slots (a power
    /// of two whose usable part holds every live entry).
    fn rebuild(&mut self, minsize: usize) {
        let mut size = DICT_MINSIZE;
        while size < minsize || usable(size) <= self.live {
            size <<= 1;
        }
        if self.live != self.entries.len() {
            self.entries.retain(|e| e.is_some());
        }
        self.indices.clear();
        self.indices.resize(size, IX_EMPTY);
        self.fill = self.live;
        let mask = size - 1;
        for (pos, e) in self.entries.iter().enumerate() {
            if let Some((h, _, _)) = e {
                let mut p = Probe::new(*h, mask);
                while self.indices[p.i] != IX_EMPTY {
                    p.next();
                }
                self.indices[p.i] = pos as u32;
            }
        }
    }
    pub fn remove(&mut self, hash: i64, key: &Value) -> Option<(Value, Value)> {
        let (slot, i) = self.lookup(hash, key)?;
        self.indices[slot] = IX_DUMMY;
        let e = self.entries[i].take();
        self.live -= 1;
        if self.entries.len() > 16 && self.live * 2 < self.entries.len() {
            self.compact();
        }
        e.map(|(_, k, v)| (k, v))
    }
    /// Remove and return the last inserted pair (for `popitem`).
    pub fn pop_last(&mut self) -> Option<(Value, Value)> {
        while let Some(last) = self.entries.last() {
            if last.is_none() {
                self.entries.pop();
                continue;
            }
            let (h, k, _) = last.clone().unwrap();
            return self.remove(h, &k);
        }
        None
    }
    /// Drop the deleted entries (keeping the index size unless it can shrink).
    fn compact(&mut self) {
        self.rebuild(self.live * 3);
    }
    pub fn iter(&self) -> impl Iterator<Item = (&Value, &Value)> {
        self.entries
            .iter()
            .filter_map(|e| e.as_ref().map(|(_, k, v)| (k, v)))
    }
    pub fn iter_hashed(&self) -> impl Iterator<Item = (i64, &Value, &Value)> {
        self.entries
            .iter()
            .filter_map(|e| e.as_ref().map(|(h, k, v)| (*h, k, v)))
    }
    pub fn keys(&self) -> Vec<Value> {
        self.iter().map(|(k, _)| k.clone()).collect()
    }
    /// The first live key at entry position `pos` or after it, with the next position to
    /// look at (for iterators that see the dict as it is).
    pub fn key_from(&self, pos: usize) -> Option<(Value, usize)> {
        let mut i = pos;
        while i < self.entries.len() {
            if let Some((_, k, _)) = &self.entries[i] {
                return Some((k.clone(), i + 1));
            }
            i += 1;
        }
        None
    }
    pub fn values(&self) -> Vec<Value> {
        self.iter().map(|(_, v)| v.clone()).collect()
    }
    /// The first live entry at position `pos` or after it, with the next position to look
    /// at (for iterators over values and items).
    #[inline]
    pub fn entry_from(&self, pos: usize) -> Option<(&Value, &Value, usize)> {
        let mut i = pos;
        while i < self.entries.len() {
            if let Some((_, k, v)) = &self.entries[i] {
                return Some((k, v, i + 1));
            }
            i += 1;
        }
        None
    }
    /// Room for `additional` more keys without growing (for `update` and friends).
    pub fn reserve(&mut self, additional: usize) {
        if self.fill + additional >= usable(self.indices.len()) {
            self.rebuild((self.live + additional) * 3 / 2 + 1);
        }
        self.entries.reserve(additional);
    }
}

// ---------------------------------------------------------------------------------------------
// set (CPython's table layout)
// ---------------------------------------------------------------------------------------------

const SET_MINSIZE: usize = 8;
const LINEAR_PROBES: usize = 9;
const PERTURB_SHIFT: u32 = 5;

#[derive(Clone)]
enum Slot {
    Empty,
    Dummy,
    Active(i64, Value),
}

#[derive(Clone)]
pub struct SetTable {
    table: Vec<Slot>,
    fill: usize,
    used: usize,
    finger: usize,
}

impl Default for SetTable {
    fn default() -> Self {
        SetTable {
            table: vec![Slot::Empty; SET_MINSIZE],
            fill: 0,
            used: 0,
            finger: 0,
        }
    }
}

impl SetTable {
    pub fn new() -> SetTable {
        SetTable::default()
    }
    pub fn len(&self) -> usize {
        self.used
    }
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }
    fn mask(&self) -> usize {
        self.table.len() - 1
    }
    pub fn contains(&self, hash: i64, key: &Value) -> bool {
        self.lookup(hash, key).is_some()
    }
    fn lookup(&self, hash: i64, key: &Value) -> Option<usize> {
        let mask = self.mask();
        let mut perturb = hash as u64;
        let mut i = (hash as u64 as usize) & mask;
        loop {
            let probes = if i + LINEAR_PROBES <= mask {
                LINEAR_PROBES
            } else {
                0
            };
            for j in 0..=probes {
                match &self.table[i + j] {
                    Slot::Empty => return None,
                    Slot::Active(h, k) if *h == hash && key_eq(k, key) => return Some(i + j),
                    _ => {}
                }
            }
            perturb >>= PERTURB_SHIFT;
            i = (i
                .wrapping_mul(5)
                .wrapping_add(1)
                .wrapping_add(perturb as usize))
                & mask;
        }
    }
    /// Add a key; returns false if it was already present.
    pub fn add(&mut self, hash: i64, key: Value) -> bool {
        let mask = self.mask();
        let mut perturb = hash as u64;
        let mut i = (hash as u64 as usize) & mask;
        let mut freeslot: Option<usize> = None;
        loop {
            let probes = if i + LINEAR_PROBES <= mask {
                LINEAR_PROBES
            } else {
                0
            };
            for j in 0..=probes {
                let idx = i + j;
                match &self.table[idx] {
                    Slot::Empty => {
                        if let Some(f) = freeslot {
                            self.table[f] = Slot::Active(hash, key);
                            self.used += 1;
                            return true;
                        }
                        self.table[idx] = Slot::Active(hash, key);
                        self.fill += 1;
                        self.used += 1;
                        if self.fill * 5 >= mask * 3 {
                            self.resize(if self.used > 50000 {
                                self.used * 2
                            } else {
                                self.used * 4
                            });
                        }
                        return true;
                    }
                    Slot::Active(h, k) => {
                        if *h == hash && key_eq(k, &key) {
                            return false;
                        }
                    }
                    Slot::Dummy => {
                        // CPython 3.11 keeps the *last* dummy slot seen on the probe
                        // sequence (not the first), and reuses it for the new key.
                        freeslot = Some(idx);
                    }
                }
            }
            perturb >>= PERTURB_SHIFT;
            i = (i
                .wrapping_mul(5)
                .wrapping_add(1)
                .wrapping_add(perturb as usize))
                & mask;
        }
    }
    fn insert_clean(table: &mut [Slot], hash: i64, key: Value) {
        let mask = table.len() - 1;
        let mut perturb = hash as u64;
        let mut i = (hash as u64 as usize) & mask;
        loop {
            if matches!(table[i], Slot::Empty) {
                table[i] = Slot::Active(hash, key);
                return;
            }
            if i + LINEAR_PROBES <= mask {
                for j in 1..=LINEAR_PROBES {
                    if matches!(table[i + j], Slot::Empty) {
                        table[i + j] = Slot::Active(hash, key);
                        return;
                    }
                }
            }
            perturb >>= PERTURB_SHIFT;
            i = (i
                .wrapping_mul(5)
                .wrapping_add(1)
                .wrapping_add(perturb as usize))
                & mask;
        }
    }
    fn resize(&mut self, minused: usize) {
        let mut newsize = SET_MINSIZE;
        while newsize <= minused {
            newsize <<= 1;
        }
        if newsize == SET_MINSIZE && self.table.len() == SET_MINSIZE && self.fill == self.used {
            // CPython leaves a small table without dummies as it is (re-inserting could
            // move keys).
            return;
        }
        let old = std::mem::replace(&mut self.table, vec![Slot::Empty; newsize]);
        for slot in old {
            if let Slot::Active(h, k) = slot {
                Self::insert_clean(&mut self.table, h, k);
            }
        }
        self.fill = self.used;
    }
    pub fn remove(&mut self, hash: i64, key: &Value) -> bool {
        match self.lookup(hash, key) {
            Some(i) => {
                self.table[i] = Slot::Dummy;
                self.used -= 1;
                true
            }
            None => false,
        }
    }
    /// `set.pop()`: CPython's finger walk, so the same element comes out first.
    pub fn pop(&mut self) -> Option<Value> {
        if self.used == 0 {
            return None;
        }
        let mask = self.mask();
        let mut i = self.finger & mask;
        while !matches!(self.table[i], Slot::Active(..)) {
            i = (i + 1) & mask;
        }
        let slot = std::mem::replace(&mut self.table[i], Slot::Dummy);
        self.used -= 1;
        self.finger = i + 1;
        match slot {
            Slot::Active(_, k) => Some(k),
            _ => None,
        }
    }
    /// Add every key of `other` (CPython's set_merge: grow once, then insert).
    pub fn merge(&mut self, other: &SetTable) {
        if other.used == 0 {
            return;
        }
        if (self.fill + other.used) * 5 >= self.mask() * 3 {
            self.resize((self.used + other.used) * 2);
        }
        if self.fill == 0 && self.mask() == other.mask() && other.fill == other.used {
            self.table = other.table.clone();
            self.fill = other.fill;
            self.used = other.used;
            return;
        }
        if self.fill == 0 {
            for slot in &other.table {
                if let Slot::Active(h, k) = slot {
                    Self::insert_clean(&mut self.table, *h, k.clone());
                    self.fill += 1;
                    self.used += 1;
                }
            }
            return;
        }
        for (h, k) in other.iter_hashed() {
            self.add(h, k.clone());
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = &Value> {
        self.table.iter().filter_map(|s| match s {
            Slot::Active(_, k) => Some(k),
            _ => None,
        })
    }
    pub fn iter_hashed(&self) -> impl Iterator<Item = (i64, &Value)> {
        self.table.iter().filter_map(|s| match s {
            Slot::Active(h, k) => Some((*h, k)),
            _ => None,
        })
    }
    pub fn keys(&self) -> Vec<Value> {
        self.iter().cloned().collect()
    }
    /// The first live key at table slot `pos` or after it, with the next slot to look at.
    pub fn key_from(&self, pos: usize) -> Option<(Value, usize)> {
        let mut i = pos;
        while i < self.table.len() {
            if let Slot::Active(_, k) = &self.table[i] {
                return Some((k.clone(), i + 1));
            }
            i += 1;
        }
        None
    }

    // The set algebra below follows CPython 3.11's Objects/setobject.c step by step, since
    // the order in which a result's keys are inserted (and when its table resizes) decides
    // the order Python prints it in.

    /// `set.clear()`: back to the minimum table (the pop finger stays, as in CPython),
    /// returning the old contents (for the caller to drop after unlocking).
    pub fn take_cleared(&mut self) -> SetTable {
        let mut fresh = SetTable::new();
        fresh.finger = self.finger;
        std::mem::replace(self, fresh)
    }
    /// `so.copy()` (make_new_set + set_merge).
    pub fn copied(&self) -> SetTable {
        let mut t = SetTable::new();
        t.merge(self);
        t
    }
    /// set_update_internal with a dict: one resize up front, then the keys in order.
    pub fn update_dict(&mut self, d: &DictTable) {
        let n = d.len();
        if (self.fill + n) * 5 >= self.mask() * 3 {
            self.resize((self.used + n) * 2);
        }
        for (h, k, _) in d.iter_hashed() {
            self.add(h, k.clone());
        }
    }
    /// set_update_internal with any other iterable (already hashed).
    pub fn update_items(&mut self, items: &[(i64, Value)]) {
        for (h, k) in items {
            self.add(*h, k.clone());
        }
    }
    pub fn update(&mut self, other: &SetSource) {
        match other {
            SetSource::Set(o) => self.merge(o),
            SetSource::Dict(d) => self.update_dict(d),
            SetSource::Items(v) => self.update_items(v),
        }
    }
    /// make_new_set(other).
    pub fn from_source(other: &SetSource) -> SetTable {
        let mut t = SetTable::new();
        t.update(other);
        t
    }
    /// set_intersection(so, other) (`so` and `other` distinct objects).
    pub fn intersection(&self, other: &SetSource) -> SetTable {
        let mut result = SetTable::new();
        match other {
            SetSource::Set(o) => {
                // Iterate the smaller set (the other one when sizes are equal).
                let (probe, walk) = if o.len() > self.len() {
                    (o, self)
                } else {
                    (self, o)
                };
                for (h, k) in walk.iter_hashed() {
                    if probe.contains(h, k) {
                        result.add(h, k.clone());
                    }
                }
            }
            SetSource::Dict(d) => {
                for (h, k, _) in d.iter_hashed() {
                    if self.contains(h, k) {
                        result.add(h, k.clone());
                        if result.len() >= self.len() {
                            break;
                        }
                    }
                }
            }
            SetSource::Items(v) => {
                for (h, k) in v {
                    if self.contains(*h, k) {
                        result.add(*h, k.clone());
                        if result.len() >= self.len() {
                            break;
                        }
                    }
                }
            }
        }
        result
    }
    /// set_difference_update_internal(so, other) (distinct objects).
    pub fn difference_update(&mut self, other: &SetSource) {
        match other {
            SetSource::Set(o) => {
                if (o.len() >> 3) > self.len() {
                    let small = self.intersection(other);
                    for (h, k) in small.iter_hashed() {
                        self.remove(h, k);
                    }
                } else {
                    for (h, k) in o.iter_hashed() {
                        self.remove(h, k);
                    }
                }
            }
            SetSource::Dict(d) => {
                for (h, k, _) in d.iter_hashed() {
                    self.remove(h, k);
                }
            }
            SetSource::Items(v) => {
                for (h, k) in v {
                    self.remove(*h, k);
                }
            }
        }
        // More than a quarter dummies: resize them away.
        if self.fill - self.used > self.mask() / 4 {
            self.resize(if self.used > 50000 {
                self.used * 2
            } else {
                self.used * 4
            });
        }
    }
    /// set_difference(so, other) (distinct objects).
    pub fn difference(&self, other: &SetSource) -> SetTable {
        let other_size = match other {
            SetSource::Set(o) => o.len(),
            SetSource::Dict(d) => d.len(),
            SetSource::Items(_) => usize::MAX,
        };
        if other_size == usize::MAX || (self.len() >> 2) > other_size {
            let mut r = self.copied();
            r.difference_update(other);
            return r;
        }
        let mut result = SetTable::new();
        for (h, k) in self.iter_hashed() {
            let found = match other {
                SetSource::Set(o) => o.contains(h, k),
                SetSource::Dict(d) => d.contains(h, k),
                SetSource::Items(_) => false,
            };
            if !found {
                result.add(h, k.clone());
            }
        }
        result
    }
    /// Toggle every key of `other` in this set, in `other`'s order.
    fn toggle_all<'a>(&mut self, keys: impl Iterator<Item = (i64, &'a Value)>) {
        for (h, k) in keys {
            if !self.remove(h, k) {
                self.add(h, k.clone());
            }
        }
    }
    /// set_symmetric_difference_update(so, other) (distinct objects).
    pub fn symmetric_difference_update(&mut self, other: &SetSource) {
        match other {
            SetSource::Set(o) => self.toggle_all(o.iter_hashed()),
            SetSource::Dict(d) => self.toggle_all(d.iter_hashed().map(|(h, k, _)| (h, k))),
            SetSource::Items(_) => {
                let o = SetTable::from_source(other);
                self.toggle_all(o.iter_hashed());
            }
        }
    }
    /// set_symmetric_difference(so, other): a new set from `other`, then `so` toggled in.
    pub fn symmetric_difference(&self, other: &SetSource) -> SetTable {
        let mut result = SetTable::from_source(other);
        result.toggle_all(self.iter_hashed());
        result
    }
    /// set_swap_bodies for `&=`: take `other`'s table, keep this set's pop finger.
    /// Returns the old contents (for the caller to drop after unlocking).
    pub fn replace_body(&mut self, other: SetTable) -> SetTable {
        let finger = self.finger;
        let old = std::mem::replace(self, other);
        self.finger = finger;
        old
    }
}

/// The other operand of a set operation, read before the set itself is locked: a set
/// (its table), a dict (its keys, with CPython's dict fast paths) or any other iterable's
/// items with their hashes, in iteration order.
pub enum SetSource {
    Set(SetTable),
    Dict(DictTable),
    Items(Vec<(i64, Value)>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_hashes_match_python() {
        assert_eq!(hash_i64(-1), -2);
        assert_eq!(hash_i64((1 << 61) - 1), 0);
        assert_eq!(hash_f64(1.5), 1152921504606846977);
        assert_eq!(hash_f64(2.0), 2);
        assert_eq!(hash_f64(-0.5), -1152921504606846976);
        assert_eq!(hash_f64(f64::INFINITY), 314159);
    }

    #[test]
    fn set_order_matches_cpython() {
        // python3 -c "print({10, 100, 5, 3, 1, 64})" -> {64, 1, 3, 100, 5, 10}
        let mut s = SetTable::new();
        for i in [10i64, 100, 5, 3, 1, 64] {
            s.add(hash_i64(i), Value::Int(i));
        }
        let got: Vec<i64> = s
            .iter()
            .map(|v| if let Value::Int(i) = v { *i } else { 0 })
            .collect();
        assert_eq!(got, vec![64, 1, 3, 100, 5, 10]);
    }

    #[test]
    fn dict_deleted_slots_never_fill_the_index() {
        // Insert, delete, pop the trailing hole: deleted slots must still make it grow or
        // rebuild, or a lookup of a missing key would probe forever.
        let mut d = DictTable::new();
        for i in 0..20000i64 {
            d.insert(hash_i64(i), Value::Int(i), Value::None);
            d.remove(hash_i64(i), &Value::Int(i));
            assert!(d.pop_last().is_none());
            assert!(!d.contains(hash_i64(-i - 5), &Value::Int(-i - 5)));
        }
        // Keys that differ only in high bits still spread out.
        for i in 0..5000i64 {
            d.insert(hash_i64(i << 40), Value::Int(i << 40), Value::Int(i));
        }
        for i in 0..5000i64 {
            assert!(d.get(hash_i64(i << 40), &Value::Int(i << 40)).is_some());
        }
        assert_eq!(d.len(), 5000);
    }

    #[test]
    fn dict_keeps_insertion_order_across_removal() {
        let mut d = DictTable::new();
        for i in 0..40i64 {
            d.insert(hash_i64(i), Value::Int(i), Value::Int(i * 2));
        }
        for i in 0..30i64 {
            d.remove(hash_i64(i), &Value::Int(i));
        }
        let keys: Vec<i64> = d
            .keys()
            .iter()
            .map(|v| if let Value::Int(i) = v { *i } else { 0 })
            .collect();
        assert_eq!(keys, (30..40).collect::<Vec<_>>());
        assert!(d.get(hash_i64(35), &Value::Int(35)).is_some());
        assert!(d
            .get(hash_f64(35.0), &Value::Float(crate::value::F64::new(35.0)))
            .is_some());
    }
}
