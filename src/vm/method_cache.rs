//! The method cache of `LoadMethod`: `xs.append`, `d.get`, `s.startswith` resolve their
//! method id once per (method name, receiver type) instead of comparing the name with a
//! type's method names at every call.
//!
//! Direct-mapped and per thread (each VM has its own). An entry holds the name it was made
//! for (an `Arc<str>` of some code's names, kept alive by the entry, so that pointer equality
//! identifies it), the receiver's method-table tag, and the id `methods::lookup_id` gave
//! (or that it gave none: the name is then an ordinary attribute lookup).

use std::sync::Arc;

use crate::builtins::methods;
use crate::value::Value;

const SIZE: usize = 64;
const NO_METHOD: u32 = u32::MAX;

pub struct MethodCache {
    entries: Vec<Option<(Arc<str>, u8, u32)>>,
}

impl MethodCache {
    pub fn new() -> MethodCache {
        MethodCache {
            entries: (0..SIZE).map(|_| None).collect(),
        }
    }

    /// `methods::lookup_id(obj, name)`, from the cache when it has the answer.
    #[inline]
    pub fn lookup_id(&mut self, obj: &Value, name: &Arc<str>) -> Option<u32> {
        let tag = methods::method_table_tag(obj)?;
        let slot = ((Arc::as_ptr(name) as *const u8 as usize >> 3) ^ tag as usize) % SIZE;
        if let Some((n, t, id)) = &self.entries[slot] {
            if *t == tag && Arc::ptr_eq(n, name) {
                return (*id != NO_METHOD).then_some(*id);
            }
        }
        let id = methods::lookup_id(obj, name);
        self.entries[slot] = Some((name.clone(), tag, id.unwrap_or(NO_METHOD)));
        id
    }
}
