//! `open(path, mode)`: text files in modes `r`, `w`, `a` (and `+`), with `read readline
//! readlines write close`, line iteration and `with`. Every OS call goes through
//! `Vm::blocking`, the one place where a thread says "I am about to block" (the GIL is
//! released there).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;

use parking_lot::Mutex;

use super::args;
use crate::exceptions::{ExcKind, ExcObj};
use crate::ops::{err, type_error};
use crate::value::*;
use crate::vm::Vm;

type Kw<'a> = &'a [(Arc<str>, Value)];

enum Handle {
    Read(BufReader<File>),
    Write(File),
    Closed,
}

pub struct TextFile {
    name: String,
    mode: String,
    handle: Mutex<Handle>,
}

pub fn b_open(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::kw(
        "open",
        kw,
        &["file", "mode", "encoding", "newline", "errors", "buffering"],
    )?;
    let path = match a.first().or(k[0]) {
        Some(Value::Str(s)) => s.s.clone(),
        Some(v) => {
            return type_error(format!(
                "expected str, bytes or os.PathLike object, not {}",
                v.type_name()
            ))
        }
        None => return type_error("open() missing required argument 'file' (pos 1)"),
    };
    let mode = match a.get(1).or(k[1]) {
        Some(Value::Str(s)) => s.s.clone(),
        Some(v) => {
            return type_error(format!(
                "open() argument 'mode' must be str, not {}",
                v.type_name()
            ))
        }
        None => "r".to_string(),
    };
    let base: String = mode.chars().filter(|c| !matches!(c, 't' | '+')).collect();
    if !matches!(base.as_str(), "r" | "w" | "a" | "x") || mode.contains('b') {
        if mode.contains('b') {
            return err(ExcKind::ValueError, "binary mode is not supported in Toy");
        }
        return err(ExcKind::ValueError, format!("invalid mode: '{}'", mode));
    }
    let p = path.clone();
    let m = base.clone();
    let plus = mode.contains('+');
    let opened = vm.blocking(move || {
        let mut o = OpenOptions::new();
        match m.as_str() {
            "r" => o.read(true).write(plus),
            "w" => o.write(true).create(true).truncate(true).read(plus),
            "a" => o.append(true).create(true).read(plus),
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
    let handle = if base == "r" {
        Handle::Read(BufReader::new(f))
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
        ExcKind::OSError,
        vec![Value::str("not readable")],
    ))
}

fn f_read(vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    let f = this(a)?;
    let n = match a.get(1) {
        None | Some(Value::None) => -1,
        Some(v) => crate::ops::as_index(v, || {
            format!(
                "argument should be integer or None, not '{}'",
                v.type_name()
            )
        })?,
    };
    let mut h = f.handle.lock();
    let r = match &mut *h {
        Handle::Read(r) => vm.blocking(|| {
            if n < 0 {
                let mut s = String::new();
                r.read_to_string(&mut s).map(|_| s)
            } else {
                let mut out = String::new();
                let mut count = 0;
                while count < n {
                    let mut line = String::new();
                    // Read char by char through the buffer (text mode counts characters).
                    let buf = r.fill_buf()?;
                    if buf.is_empty() {
                        break;
                    }
                    let text = String::from_utf8_lossy(buf).to_string();
                    let mut used = 0;
                    for c in text.chars() {
                        if count >= n || c == '\u{fffd}' && used + 4 > buf.len() {
                            break;
                        }
                        line.push(c);
                        used += c.len_utf8();
                        count += 1;
                    }
                    r.consume(used);
                    out.push_str(&line);
                    if used == 0 {
                        break;
                    }
                }
                Ok(out)
            }
        }),
        Handle::Write(_) => return not_readable(),
        Handle::Closed => return closed(),
    };
    r.map(Value::str).map_err(|e| ExcObj::os_error(&e, None))
}

fn read_line(vm: &mut Vm, f: &TextFile) -> PResult<Option<String>> {
    let mut h = f.handle.lock();
    match &mut *h {
        Handle::Read(r) => {
            let mut s = String::new();
            let n = vm
                .blocking(|| r.read_line(&mut s))
                .map_err(|e| ExcObj::os_error(&e, None))?;
            Ok(if n == 0 { None } else { Some(s) })
        }
        Handle::Write(_) => not_readable(),
        Handle::Closed => closed(),
    }
}

fn f_readline(vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    let f = this(a)?;
    Ok(Value::str(read_line(vm, f)?.unwrap_or_default()))
}

fn f_readlines(vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    let f = this(a)?;
    let mut out = Vec::new();
    while let Some(l) = read_line(vm, f)? {
        out.push(Value::str(l));
    }
    Ok(Value::list(out))
}

fn f_write(vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    let f = this(a)?;
    args::range("write", &a[1..], 1, 1)?;
    let s = match &a[1] {
        Value::Str(s) => s.clone(),
        v => {
            return type_error(format!(
                "write() argument must be str, not {}",
                v.type_name()
            ))
        }
    };
    let mut h = f.handle.lock();
    match &mut *h {
        Handle::Write(w) => {
            vm.blocking(|| w.write_all(s.s.as_bytes()))
                .map_err(|e| ExcObj::os_error(&e, None))?;
            Ok(Value::Int(s.char_len() as i64))
        }
        Handle::Read(_) => Err(ExcObj::with_args(
            ExcKind::OSError,
            vec![Value::str("not writable")],
        )),
        Handle::Closed => closed(),
    }
}

fn f_close(_vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    let f = this(a)?;
    *f.handle.lock() = Handle::Closed;
    Ok(Value::None)
}

fn f_flush(_vm: &mut Vm, a: &[Value], _kw: Kw) -> PResult<Value> {
    let f = this(a)?;
    if let Handle::Write(w) = &mut *f.handle.lock() {
        let _ = w.flush();
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
            "closed" => Value::Bool(matches!(*self.handle.lock(), Handle::Closed)),
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
        Ok(read_line(vm, self)?.map(Value::str))
    }
    fn iterable(&self) -> bool {
        true
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
