//! `open(path, mode)`: text files in modes `r`, `w`, `a` (and `+`), with `read readline
//! readlines write close`, line iteration and `with`. Every OS call goes through
//! `Vm::blocking`, the one place where a thread says "I am about to block" (the GIL is
//! released there).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::sync::Arc;

use parking_lot::Mutex;

use super::args;
use crate::exceptions::{ExcKind, ExcObj};
use crate::ops::{err, type_error};
use crate::value::*;
use crate::vm::Vm;

type Kw<'a> = &'a [(Arc<str>, Value)];

/// A text-mode reader: UTF-8 decoding across chunk boundaries and, unless `newline` says
/// otherwise, universal newlines (`\r\n` and `\r` read as `\n`).
struct TextReader {
    inner: File,
    /// Decoded text not yet handed out.
    buf: String,
    /// Where the unconsumed text in `buf` starts (bytes).
    pos: usize,
    /// Undecoded bytes (an incomplete UTF-8 sequence at the end of a chunk).
    raw: Vec<u8>,
    /// The previous chunk ended with '\r' (a following '\n' belongs to it).
    pending_cr: bool,
    translate: bool,
    eof: bool,
}

impl TextReader {
    fn new(inner: File, translate: bool) -> TextReader {
        TextReader {
            inner,
            buf: String::new(),
            pos: 0,
            raw: Vec::new(),
            pending_cr: false,
            translate,
            eof: false,
        }
    }

    fn avail(&self) -> &str {
        &self.buf[self.pos..]
    }

    /// Read one more chunk into `buf`; false at the end of the file.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 65536 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = [0u8; 8192];
        let n = loop {
            match self.inner.read(&mut chunk) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            self.eof = true;
            if !self.raw.is_empty() {
                let rest = std::mem::take(&mut self.raw);
                let text = String::from_utf8_lossy(&rest).into_owned();
                self.push_text(&text);
            }
            return Ok(false);
        }
        self.raw.extend_from_slice(&chunk[..n]);
        let raw = std::mem::take(&mut self.raw);
        let mut start = 0;
        let mut text = String::new();
        loop {
            match std::str::from_utf8(&raw[start..]) {
                Ok(t) => {
                    text.push_str(t);
                    break;
                }
                Err(e) => {
                    let good = start + e.valid_up_to();
                    text.push_str(std::str::from_utf8(&raw[start..good]).unwrap_or(""));
                    match e.error_len() {
                        Some(bad) => {
                            text.push('\u{fffd}');
                            start = good + bad;
                        }
                        None => {
                            self.raw = raw[good..].to_vec();
                            break;
                        }
                    }
                }
            }
        }
        self.push_text(&text);
        Ok(true)
    }

    fn push_text(&mut self, text: &str) {
        if !self.translate {
            self.buf.push_str(text);
            return;
        }
        for c in text.chars() {
            if self.pending_cr {
                self.pending_cr = false;
                if c == '\n' {
                    continue;
                }
            }
            if c == '\r' {
                self.buf.push('\n');
                self.pending_cr = true;
            } else {
                self.buf.push(c);
            }
        }
    }

    /// Everything up to the end of the file.
    fn read_all(&mut self) -> std::io::Result<String> {
        while self.fill()? {}
        let out = self.avail().to_string();
        self.pos = self.buf.len();
        Ok(out)
    }

    /// Up to `n` characters.
    fn read_chars(&mut self, n: usize) -> std::io::Result<String> {
        loop {
            if let Some((b, _)) = self.avail().char_indices().nth(n) {
                let out = self.avail()[..b].to_string();
                self.pos += b;
                return Ok(out);
            }
            if !self.fill()? {
                return self.read_all();
            }
        }
    }

    /// One line (with its '\n'), at most `limit` characters; "" at the end of the file.
    fn read_line(&mut self, limit: Option<usize>) -> std::io::Result<String> {
        loop {
            let avail = self.avail();
            let mut end = None;
            let mut count = 0;
            for (b, c) in avail.char_indices() {
                if limit == Some(count) {
                    end = Some(b);
                    break;
                }
                count += 1;
                if c == '\n' {
                    end = Some(b + 1);
                    break;
                }
            }
            if end.is_none() && limit == Some(count) {
                end = Some(avail.len());
            }
            if let Some(e) = end {
                let out = self.avail()[..e].to_string();
                self.pos += e;
                return Ok(out);
            }
            if !self.fill()? {
                let out = self.avail().to_string();
                self.pos = self.buf.len();
                return Ok(out);
            }
        }
    }
}

enum Handle {
    Read(TextReader),
    Write(File),
    Closed,
}

pub struct TextFile {
    name: String,
    mode: String,
    handle: Mutex<Handle>,
}

/// The type name in an argument error: `None` for None itself.
fn arg_type(v: &Value) -> &'static str {
    match v {
        Value::None => "None",
        _ => v.type_name(),
    }
}

fn opt_str(k: &Option<Value>, what: &str) -> PResult<Option<String>> {
    match k {
        None | Some(Value::None) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.s.to_string())),
        Some(v) => type_error(format!(
            "open() argument '{}' must be str or None, not {}",
            what,
            v.type_name()
        )),
    }
}

/// Python's checks of an `open()` mode string; returns the base mode ('r', 'w', 'a' or 'x').
fn check_mode(mode: &str) -> PResult<char> {
    let (mut base, mut count, mut text, mut binary) = (' ', 0, false, false);
    let chars: Vec<char> = mode.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        match c {
            'r' | 'w' | 'a' | 'x' => {
                base = *c;
                count += 1;
            }
            '+' => {}
            't' => text = true,
            'b' => binary = true,
            _ => return err(ExcKind::ValueError, format!("invalid mode: '{}'", mode)),
        }
        if chars[i + 1..].contains(c) {
            return err(ExcKind::ValueError, format!("invalid mode: '{}'", mode));
        }
    }
    if text && binary {
        return err(
            ExcKind::ValueError,
            "can't have text and binary mode at once",
        );
    }
    if count > 1 {
        return err(
            ExcKind::ValueError,
            "must have exactly one of create/read/write/append mode",
        );
    }
    if count == 0 {
        return err(
            ExcKind::ValueError,
            "Must have exactly one of create/read/write/append mode and at most one plus",
        );
    }
    if binary {
        return err(ExcKind::ValueError, "binary mode is not supported in Toy");
    }
    Ok(base)
}

pub fn b_open(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::parse(
        "open",
        a,
        kw,
        &[
            "file",
            "mode",
            "buffering",
            "encoding",
            "errors",
            "newline",
            "closefd",
            "opener",
        ],
        0,
        1,
        8,
    )?;
    let mode = match &k[1] {
        Some(Value::Str(s)) => s.s.to_string(),
        Some(v) => {
            return type_error(format!(
                "open() argument 'mode' must be str, not {}",
                arg_type(v)
            ))
        }
        None => "r".to_string(),
    };
    if let Some(b) = &k[2] {
        crate::ops::as_index(b, || {
            format!(
                "'{}' object cannot be interpreted as an integer",
                b.type_name()
            )
        })?;
    }
    let unbuffered = matches!(k[2], Some(Value::Int(0)) | Some(Value::Bool(B64::False)));
    opt_str(&k[3], "encoding")?;
    opt_str(&k[4], "errors")?;
    let newline = opt_str(&k[5], "newline")?;
    let path = match &k[0] {
        Some(Value::Str(s)) => s.s.to_string(),
        Some(v) => {
            return type_error(format!(
                "expected str, bytes or os.PathLike object, not {}",
                v.type_name()
            ))
        }
        None => unreachable!(),
    };
    let base = check_mode(&mode)?;
    if let Some(nl) = &newline {
        if !matches!(nl.as_str(), "" | "\n" | "\r" | "\r\n") {
            return err(
                ExcKind::ValueError,
                format!("illegal newline value: {}", nl),
            );
        }
    }
    let p = path.clone();
    let plus = mode.contains('+');
    let opened = vm.blocking(move || {
        let mut o = OpenOptions::new();
        match base {
            'r' => o.read(true).write(plus),
            'w' => o.write(true).create(true).truncate(true).read(plus),
            'a' => o.append(true).create(true).read(plus),
            _ => o.write(true).create_new(true).read(plus),
        };
        o.open(&p)
    });
    let f = opened.map_err(|e| ExcObj::os_error(&e, Some(&path)))?;
    if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(ExcObj::os_error(
            &std::io::Error::from_raw_os_error(libc::EISDIR),
            Some(&path),
        ));
    }
    if unbuffered {
        return err(ExcKind::ValueError, "can't have unbuffered text I/O");
    }
    let handle = if base == 'r' {
        Handle::Read(TextReader::new(f, newline.is_none()))
    } else {
        Handle::Write(f)
    };
    Ok(Value::native(TextFile {
        name: path,
        mode,
        handle: Mutex::new(handle),
    }))
}

fn closed<T>() -> PResult<T> {
    err(ExcKind::ValueError, "I/O operation on closed file.")
}

fn this(a: &[Value]) -> PResult<&TextFile> {
    match a.first() {
        Some(Value::Native(n)) => match n.0.as_any().downcast_ref::<TextFile>() {
            Some(f) => Ok(f),
            None => type_error("expected a file"),
        },
        _ => type_error("expected a file"),
    }
}

fn not_readable<T>() -> PResult<T> {
    Err(ExcObj::with_args(
        ExcKind::UnsupportedOperation,
        vec![Value::str("not readable")],
    ))
}

/// `size` arguments of read/readlines: an int or None (None and negatives: no limit).
fn size_arg(v: Option<&Value>) -> PResult<Option<usize>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(Value::BigInt(_)) => err(
            ExcKind::OverflowError,
            "cannot fit 'int' into an index-sized integer",
        ),
        Some(v) => {
            let n = crate::ops::as_index(v, || {
                format!(
                    "argument should be integer or None, not '{}'",
                    v.type_name()
                )
            })?;
            Ok(if n < 0 { None } else { Some(n as usize) })
        }
    }
}

fn io_err(e: std::io::Error) -> Arc<ExcObj> {
    ExcObj::os_error(&e, None)
}

fn f_read(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let f = this(a)?;
    args::positional("TextIOWrapper.read", "read", &a[1..], kw, 0, 1)?;
    let n = size_arg(a.get(1))?;
    let mut h = f.handle.lock();
    let r = match &mut *h {
        Handle::Read(r) => vm.blocking(|| match n {
            None => r.read_all(),
            Some(n) => r.read_chars(n),
        }),
        Handle::Write(_) => return not_readable(),
        Handle::Closed => return closed(),
    };
    r.map(Value::str).map_err(io_err)
}

fn read_line(vm: &mut Vm, f: &TextFile, limit: Option<usize>) -> PResult<Option<String>> {
    let mut h = f.handle.lock();
    match &mut *h {
        Handle::Read(r) => {
            let s = vm.blocking(|| r.read_line(limit)).map_err(io_err)?;
            Ok(if s.is_empty() { None } else { Some(s) })
        }
        Handle::Write(_) => not_readable(),
        Handle::Closed => closed(),
    }
}

fn f_readline(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let f = this(a)?;
    args::positional("TextIOWrapper.readline", "readline", &a[1..], kw, 0, 1)?;
    let limit = match a.get(1) {
        None => None,
        Some(v) => {
            let n = args::ssize(v)?;
            if n < 0 {
                None
            } else {
                Some(n as usize)
            }
        }
    };
    Ok(Value::str(read_line(vm, f, limit)?.unwrap_or_default()))
}

fn f_readlines(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let f = this(a)?;
    args::positional("TextIOWrapper.readlines", "readlines", &a[1..], kw, 0, 1)?;
    let hint = size_arg(a.get(1))?.filter(|&h| h > 0);
    let mut out = Vec::new();
    let mut total = 0;
    while let Some(l) = read_line(vm, f, None)? {
        total += l.chars().count();
        out.push(Value::str(l));
        if hint.map(|h| total >= h).unwrap_or(false) {
            break;
        }
    }
    Ok(Value::list(out))
}

fn f_write(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let f = this(a)?;
    args::onearg("TextIOWrapper.write", &a[1..], kw)?;
    let s = match &a[1] {
        Value::Str(s) => s.clone(),
        v => return type_error(format!("write() argument must be str, not {}", arg_type(v))),
    };
    let mut h = f.handle.lock();
    match &mut *h {
        Handle::Write(w) => {
            vm.blocking(|| w.write_all(s.s.as_bytes()))
                .map_err(io_err)?;
            Ok(Value::Int(s.char_len() as i64))
        }
        Handle::Read(_) => Err(ExcObj::with_args(
            ExcKind::UnsupportedOperation,
            vec![Value::str("not writable")],
        )),
        Handle::Closed => closed(),
    }
}

fn f_close(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let f = this(a)?;
    args::noargs("TextIOWrapper.close", &a[1..], kw)?;
    *f.handle.lock() = Handle::Closed;
    Ok(Value::None)
}

fn f_flush(_vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let f = this(a)?;
    args::noargs("TextIOWrapper.flush", &a[1..], kw)?;
    match &mut *f.handle.lock() {
        Handle::Write(w) => {
            let _ = w.flush();
        }
        Handle::Read(_) => {}
        Handle::Closed => return closed(),
    }
    Ok(Value::None)
}

fn method(name: &'static str, func: BuiltinFnPtr, this: &Value) -> Value {
    Value::Builtin(Arc::new(Builtin {
        name,
        func,
        method: false,
        bound: Some(this.clone()),
        owner: Some("file"),
    }))
}

impl NativeObj for TextFile {
    fn type_name(&self) -> &'static str {
        "_io.TextIOWrapper"
    }
    fn repr(&self) -> String {
        format!(
            "<_io.TextIOWrapper name='{}' mode='{}' encoding='UTF-8'>",
            self.name, self.mode
        )
    }
    fn get_attr(&self, this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "read" => method("read", f_read, this),
            "readline" => method("readline", f_readline, this),
            "readlines" => method("readlines", f_readlines, this),
            "write" => method("write", f_write, this),
            "close" => method("close", f_close, this),
            "flush" => method("flush", f_flush, this),
            "name" => Value::str(self.name.clone()),
            "mode" => Value::str(self.mode.clone()),
            "closed" => Value::bool(matches!(*self.handle.lock(), Handle::Closed)),
            _ => return None,
        })
    }
    fn exit(&self, _vm: &mut Vm, _exc: Option<&Arc<ExcObj>>) -> PResult<()> {
        *self.handle.lock() = Handle::Closed;
        Ok(())
    }
    fn enter(&self, _vm: &mut Vm, this: &Value) -> PResult<Value> {
        if matches!(*self.handle.lock(), Handle::Closed) {
            return closed();
        }
        Ok(this.clone())
    }
    fn next(&self, vm: &mut Vm) -> PResult<Option<Value>> {
        Ok(read_line(vm, self, None)?.map(Value::str))
    }
    fn iterable(&self) -> bool {
        true
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
