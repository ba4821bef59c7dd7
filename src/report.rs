//! How errors reach the user: Python-format tracebacks and syntax errors on stderr.

use std::fmt::Write;
use std::sync::Arc;

use crate::ast::SyntaxError;
use crate::exceptions::{ExcKind, ExcObj};
use crate::ops;
use crate::vm::Runtime;

/// `  File "x.toy", line 3` + the source line + a caret + `SyntaxError: msg`.
pub fn syntax_error(err: &SyntaxError, filename: &str, source: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "  File \"{}\", line {}", filename, err.pos.line);
    if let Some(line) = source.lines().nth(err.pos.line.saturating_sub(1) as usize) {
        let trimmed = line.trim_start();
        let removed = line.chars().count() - trimmed.chars().count();
        let trimmed = trimmed.trim_end();
        if !trimmed.is_empty() {
            let _ = writeln!(out, "    {}", trimmed);
            let col = (err.pos.col as usize)
                .saturating_sub(1)
                .saturating_sub(removed);
            let col = col.min(trimmed.chars().count());
            let width = match err.end_col {
                // To the end of the line (a range that goes on to later lines).
                Some(u32::MAX) => trimmed.chars().count().saturating_sub(col).max(1),
                Some(e) if e > err.pos.col => (e - err.pos.col) as usize,
                _ => 1,
            };
            let _ = writeln!(out, "    {}{}", " ".repeat(col), "^".repeat(width));
        }
    }
    let _ = writeln!(out, "{}: {}", err.kind, err.msg);
    out
}

/// The whole traceback of an uncaught exception, with its context chain first.
pub fn traceback(rt: &Runtime, exc: &Arc<ExcObj>) -> String {
    let mut out = String::new();
    let mut seen = Vec::new();
    chain(rt, exc, &mut out, &mut seen);
    out
}

fn chain(rt: &Runtime, exc: &Arc<ExcObj>, out: &mut String, seen: &mut Vec<usize>) {
    seen.push(Arc::as_ptr(exc) as usize);
    let cause = exc.cause.lock().clone();
    let context = exc.context.lock().clone();
    if let Some(c) = &cause {
        if !seen.contains(&(Arc::as_ptr(c) as usize)) {
            chain(rt, c, out, seen);
            out.push_str(
                "\nThe above exception was the direct cause of the following exception:\n\n",
            );
        }
    } else if let Some(c) = context.as_ref().filter(|_| {
        !exc.suppress_context
            .load(std::sync::atomic::Ordering::Relaxed)
    }) {
        if !seen.contains(&(Arc::as_ptr(c) as usize)) {
            chain(rt, c, out, seen);
            out.push_str(
                "\nDuring handling of the above exception, another exception occurred:\n\n",
            );
        }
    }
    let tb = exc.traceback.lock().clone();
    if !tb.is_empty() {
        out.push_str("Traceback (most recent call last):\n");
        // As CPython: after three identical entries in a row, the rest are counted.
        let mut repeats = 0;
        let mut last: Option<&crate::exceptions::TbEntry> = None;
        let flush = |out: &mut String, repeats: usize| {
            if repeats > 3 {
                let n = repeats - 3;
                let _ = writeln!(
                    out,
                    "  [Previous line repeated {} more time{}]",
                    n,
                    if n == 1 { "" } else { "s" }
                );
            }
        };
        for e in tb.iter().rev() {
            let same =
                last.is_some_and(|l| l.file == e.file && l.line == e.line && l.func == e.func);
            if same {
                repeats += 1;
                if repeats > 3 {
                    continue;
                }
            } else {
                flush(out, repeats);
                repeats = 1;
            }
            last = Some(e);
            let _ = writeln!(
                out,
                "  File \"{}\", line {}, in {}",
                e.file,
                e.line,
                e.name()
            );
            if let Some(src) = rt.source_line(&e.file, e.line) {
                let s = src.trim();
                if !s.is_empty() {
                    let _ = writeln!(out, "    {}", s);
                }
            }
        }
        flush(out, repeats);
    }
    out.push_str(&exception_line(exc));
    out.push('\n');
}

/// `Type: message` (just `Type` when the message is empty), as the last traceback line.
pub fn exception_line(exc: &ExcObj) -> String {
    let msg = ops::exc_str(exc);
    let name = exc.kind.qualified_name();
    if msg.is_empty() {
        name.to_string()
    } else {
        format!("{}: {}", name, msg)
    }
}

/// The exit status for an uncaught SystemExit, printing its message if it has one.
pub fn system_exit_status(exc: &ExcObj) -> i32 {
    debug_assert_eq!(exc.kind, ExcKind::SystemExit);
    match exc.args.first() {
        None | Some(crate::value::Value::None) => 0,
        Some(crate::value::Value::Int(i)) => *i as i32,
        Some(crate::value::Value::Bool(b)) => b.get() as i32,
        Some(other) => {
            crate::builtins::io::write_stderr(&format!("{}\n", ops::to_str(other)));
            1
        }
    }
}
