//! `push_fast`: `Vec::push` for the dispatch loop's hot paths.
//!
//! `Vec::push` checks the capacity and, when it is full, calls out to grow the buffer, then
//! writes the value on the path both branches share. Because the value is live across that
//! call, LLVM builds a `Value` in a stack temporary with two narrow stores (the tag byte and
//! the payload word) and copies it into the vector with one 16-byte load. A wide load from
//! two narrow stores just made cannot be served by store-to-load forwarding: the CPU stalls
//! until the stores retire, some 10–15 cycles at every push. Profiles of `fib` put about a
//! quarter of all samples on such loads.
//!
//! Here the full-buffer case is a separate cold function that takes the value, so on the hot
//! path nothing is called between computing the value and storing it: the tag and payload
//! go straight into the vector's slot.

pub(crate) trait PushFast<T> {
    fn push_fast(&mut self, v: T);
}

impl<T> PushFast<T> for Vec<T> {
    #[inline(always)]
    fn push_fast(&mut self, v: T) {
        if self.len() < self.capacity() {
            // `push` sees the same length and capacity, so its own grow branch folds away.
            self.push(v)
        } else {
            push_cold(self, v)
        }
    }
}

#[cold]
#[inline(never)]
fn push_cold<T>(vec: &mut Vec<T>, v: T) {
    vec.push(v)
}
