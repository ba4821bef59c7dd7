//! Standard output as Toy writes it: buffered like CPython's (line-buffered on a terminal,
//! block-buffered into a pipe or file), one lock for the whole process so that a `print`
//! call is atomic, and flushed before the process forks or exits so nothing is lost or
//! printed twice.

use std::io::{IsTerminal, Write};

pub struct Output {
    buf: Vec<u8>,
    tty: bool,
}

const BLOCK: usize = 8192;

impl Output {
    pub fn stdout() -> Output {
        Output {
            buf: Vec::with_capacity(BLOCK),
            tty: std::io::stdout().is_terminal(),
        }
    }

    /// Append text; flush when a terminal line is complete or the block is full.
    pub fn write(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
        if self.buf.len() >= BLOCK || (self.tty && s.contains('\n')) {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let mut out = std::io::stdout().lock();
        // A closed pipe (e.g. `toy x.toy | head`) must not crash the interpreter.
        let _ = out.write_all(&self.buf);
        let _ = out.flush();
        self.buf.clear();
    }

    /// Drop buffered output without writing it (a forked child's copy of the parent's buffer).
    pub fn discard(&mut self) {
        self.buf.clear();
    }
}

/// Write to standard error at once (unbuffered, as CPython's stderr is line-buffered).
pub fn write_stderr(s: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(s.as_bytes());
    let _ = e.flush();
}
