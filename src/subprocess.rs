//! The `subprocess` module: `run(args, capture_output=False, text=False)` returning an object
//! with `args`, `returncode`, `stdout` and `stderr`. The child runs while this thread waits
//! without the GIL (`Vm::blocking`), so other Toy threads keep running meanwhile.
//!
//! Toy has no bytes type, so captured output is always a str (what `text=True` gives in
//! Python); `text=False` is accepted for compatibility.

use std::process::{Command, Stdio};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::builtins::args;
use crate::exceptions::{ExcKind, ExcObj};
use crate::ops::{err, type_error};
use crate::value::*;
use crate::vm::Vm;

type Kw<'a> = &'a [(Arc<str>, Value)];

pub fn module() -> Module {
    let run = crate::builtins::builtin("run", run);
    Module {
        name: "subprocess".to_string(),
        attrs: Mutex::new(vec![
            (Arc::from("run"), run),
            (Arc::from("PIPE"), Value::Int(-1)),
            (Arc::from("DEVNULL"), Value::Int(-3)),
        ]),
    }
}

struct Completed {
    args: Value,
    returncode: i64,
    stdout: Value,
    stderr: Value,
}

impl NativeObj for Completed {
    fn type_name(&self) -> &'static str {
        "CompletedProcess"
    }
    fn repr(&self) -> String {
        let mut s = format!(
            "CompletedProcess(args={}, returncode={}",
            crate::ops::repr_plain(&self.args),
            self.returncode
        );
        if !matches!(self.stdout, Value::None) {
            s.push_str(&format!(
                ", stdout={}",
                crate::ops::repr_plain(&self.stdout)
            ));
        }
        if !matches!(self.stderr, Value::None) {
            s.push_str(&format!(
                ", stderr={}",
                crate::ops::repr_plain(&self.stderr)
            ));
        }
        s.push(')');
        s
    }
    fn get_attr(&self, _this: &Value, name: &str) -> Option<Value> {
        Some(match name {
            "args" => self.args.clone(),
            "returncode" => Value::Int(self.returncode),
            "stdout" => self.stdout.clone(),
            "stderr" => self.stderr.clone(),
            _ => return None,
        })
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn run(vm: &mut Vm, a: &[Value], kw: Kw) -> PResult<Value> {
    let k = args::kw(
        "run",
        kw,
        &[
            "args",
            "capture_output",
            "text",
            "check",
            "shell",
            "cwd",
            "input",
        ],
    )?;
    let Some(argv_v) = a.first().or(k[0]).cloned() else {
        return type_error("run() missing 1 required positional argument: 'args'");
    };
    let capture = k[1].map(|v| v.truthy()).unwrap_or(false);
    let shell = k[4].map(|v| v.truthy()).unwrap_or(false);
    let argv: Vec<String> = match &argv_v {
        Value::Str(s) if shell => vec!["/bin/sh".into(), "-c".into(), s.s.to_string()],
        Value::Str(s) => vec![s.s.to_string()],
        Value::List(_) | Value::Tuple(_) => {
            let mut out = Vec::new();
            for x in vm.collect_iterable(&argv_v)? {
                match x {
                    Value::Str(s) => out.push(s.s.to_string()),
                    other => {
                        return type_error(format!(
                            "expected str, bytes or os.PathLike object, not {}",
                            other.type_name()
                        ))
                    }
                }
            }
            out
        }
        other => {
            return type_error(format!(
                "expected str, bytes or os.PathLike object, not {}",
                other.type_name()
            ))
        }
    };
    if argv.is_empty() {
        return err(ExcKind::IndexError, "list index out of range");
    }
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    if let Some(Value::Str(dir)) = k[5] {
        cmd.current_dir(dir.s.as_str());
    }
    let input = match k[6] {
        Some(Value::Str(s)) => Some(s.s.to_string()),
        _ => None,
    };
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::inherit()
    });
    if capture {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    // Whatever we printed so far must come before the child's output.
    vm.rt.stdout.lock().flush();
    let program = argv[0].clone();
    let outcome = vm.blocking(move || -> std::io::Result<std::process::Output> {
        let mut child = cmd.spawn()?;
        if let Some(text) = input {
            use std::io::Write;
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(text.as_bytes());
            }
        }
        child.wait_with_output()
    });
    let output = outcome.map_err(|e| ExcObj::os_error(&e, Some(&program)))?;
    use std::os::unix::process::ExitStatusExt;
    let returncode = match output.status.code() {
        Some(c) => c as i64,
        None => -(output.status.signal().unwrap_or(0) as i64),
    };
    let (stdout, stderr) = if capture {
        (
            Value::str(String::from_utf8_lossy(&output.stdout).into_owned()),
            Value::str(String::from_utf8_lossy(&output.stderr).into_owned()),
        )
    } else {
        (Value::None, Value::None)
    };
    if k[3].map(|v| v.truthy()).unwrap_or(false) && returncode != 0 {
        return err(
            ExcKind::RuntimeError,
            format!(
                "Command {} returned non-zero exit status {}.",
                crate::ops::repr_plain(&argv_v),
                returncode
            ),
        );
    }
    Ok(Value::native(Completed {
        args: argv_v,
        returncode,
        stdout,
        stderr,
    }))
}
