//! Argument checking for builtins: arity and keyword helpers that produce Python's messages.

use std::sync::Arc;

use crate::ops::type_error;
use crate::value::*;

/// `name() takes exactly one argument (2 given)` and friends.
pub fn exact(name: &str, args: &[Value], n: usize) -> PResult<()> {
    if args.len() != n {
        return match n {
            0 => type_error(format!(
                "{}() takes no arguments ({} given)",
                name,
                args.len()
            )),
            1 => type_error(format!(
                "{}() takes exactly one argument ({} given)",
                name,
                args.len()
            )),
            _ => type_error(format!(
                "{} expected {} arguments, got {}",
                name,
                n,
                args.len()
            )),
        };
    }
    Ok(())
}

/// Between `min` and `max` positional arguments (`name expected at most 3 arguments, got 4`).
pub fn range(name: &str, args: &[Value], min: usize, max: usize) -> PResult<()> {
    if args.len() < min {
        if min == 1 && max == 1 {
            return exact(name, args, 1);
        }
        return type_error(format!(
            "{} expected at least {} argument{}, got {}",
            name,
            min,
            if min == 1 { "" } else { "s" },
            args.len()
        ));
    }
    if args.len() > max {
        return type_error(format!(
            "{} expected at most {} argument{}, got {}",
            name,
            max,
            if max == 1 { "" } else { "s" },
            args.len()
        ));
    }
    Ok(())
}

pub fn no_kwargs(name: &str, kwargs: &[(Arc<str>, Value)]) -> PResult<()> {
    if !kwargs.is_empty() {
        return type_error(format!("{}() takes no keyword arguments", name));
    }
    Ok(())
}

/// Pick the allowed keyword arguments out; anything else is an error.
pub fn kw<'a>(
    name: &str,
    kwargs: &'a [(Arc<str>, Value)],
    allowed: &[&str],
) -> PResult<Vec<Option<&'a Value>>> {
    let mut out = vec![None; allowed.len()];
    for (k, v) in kwargs {
        match allowed.iter().position(|a| **a == **k) {
            Some(i) => out[i] = Some(v),
            None => {
                return type_error(format!(
                    "{}() got an unexpected keyword argument '{}'",
                    name, k
                ));
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// CPython's calling conventions, each with its own wording. `qual` is the name CPython prints
// for the callable (`len`, `str.upper`, `math.sqrt`, `posix.getpid`), `name` the short name.
// ---------------------------------------------------------------------------------------------

type Kw<'a> = &'a [(Arc<str>, Value)];

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// METH_NOARGS: `str.upper() takes no arguments (1 given)`.
pub fn noargs(qual: &str, a: &[Value], kw: Kw) -> PResult<()> {
    no_kwargs(qual, kw)?;
    if !a.is_empty() {
        return type_error(format!("{}() takes no arguments ({} given)", qual, a.len()));
    }
    Ok(())
}

/// METH_O: `len() takes exactly one argument (0 given)`.
pub fn onearg(qual: &str, a: &[Value], kw: Kw) -> PResult<()> {
    no_kwargs(qual, kw)?;
    if a.len() != 1 {
        return type_error(format!(
            "{}() takes exactly one argument ({} given)",
            qual,
            a.len()
        ));
    }
    Ok(())
}

/// Positional-only with `_PyArg_CheckPositional`: `divmod expected 2 arguments, got 0`,
/// `strip expected at most 1 argument, got 2`; keywords: `str.strip() takes no keyword arguments`.
pub fn positional(
    qual: &str,
    name: &str,
    a: &[Value],
    kw: Kw,
    min: usize,
    max: usize,
) -> PResult<()> {
    no_kwargs(qual, kw)?;
    check_positional(name, a.len(), min, max)
}

/// The positional count check alone (`name expected at least 1 argument, got 0`).
pub fn check_positional(name: &str, n: usize, min: usize, max: usize) -> PResult<()> {
    if n < min {
        return type_error(format!(
            "{} expected {}{} argument{}, got {}",
            name,
            if min == max { "" } else { "at least " },
            min,
            plural(min),
            n
        ));
    }
    if n > max {
        return type_error(format!(
            "{} expected {}{} argument{}, got {}",
            name,
            if min == max { "" } else { "at most " },
            max,
            plural(max),
            n
        ));
    }
    Ok(())
}

/// Old-style `PyArg_ParseTuple` counts: `find() takes at least 1 argument (0 given)`.
pub fn old_style(
    qual: &str,
    name: &str,
    a: &[Value],
    kw: Kw,
    min: usize,
    max: usize,
) -> PResult<()> {
    no_kwargs(qual, kw)?;
    let n = a.len();
    if n < min {
        return type_error(format!(
            "{}() takes {} {} argument{} ({} given)",
            name,
            if min == max { "exactly" } else { "at least" },
            min,
            plural(min),
            n
        ));
    }
    if n > max {
        return type_error(format!(
            "{}() takes {} {} argument{} ({} given)",
            name,
            if min == max { "exactly" } else { "at most" },
            max,
            plural(max),
            n
        ));
    }
    Ok(())
}

/// Argument Clinic's keyword parser (`_PyArg_UnpackKeywords`): `names` are all parameters in
/// order, the first `posonly` positional-only, the first `minpos` required, at most `maxpos`
/// positional (the rest keyword-only). Returns one slot per parameter.
pub fn parse(
    fname: &str,
    a: &[Value],
    kw: Kw,
    names: &[&str],
    posonly: usize,
    minpos: usize,
    maxpos: usize,
) -> PResult<Vec<Option<Value>>> {
    let nargs = a.len();
    let nkw = kw.len();
    let maxargs = names.len();
    if nargs + nkw > maxargs {
        return type_error(format!(
            "{}() takes at most {} {}argument{} ({} given)",
            fname,
            maxargs,
            if nargs == 0 { "keyword " } else { "" },
            plural(maxargs),
            nargs + nkw
        ));
    }
    if nargs > maxpos {
        if maxpos == 0 {
            return type_error(format!("{}() takes no positional arguments", fname));
        }
        return type_error(format!(
            "{}() takes {} {} positional argument{} ({} given)",
            fname,
            if minpos < maxpos {
                "at most"
            } else {
                "exactly"
            },
            maxpos,
            plural(maxpos),
            nargs
        ));
    }
    let minposonly = minpos.min(posonly);
    if nargs < minposonly {
        return type_error(format!(
            "{}() takes {} {} positional argument{} ({} given)",
            fname,
            if minposonly < maxpos {
                "at least"
            } else {
                "exactly"
            },
            minposonly,
            plural(minposonly),
            nargs
        ));
    }
    let mut out: Vec<Option<Value>> = vec![None; maxargs];
    for (i, v) in a.iter().enumerate() {
        out[i] = Some(v.clone());
    }
    let mut left = nkw;
    for i in nargs.max(posonly)..maxargs {
        let found = if left > 0 {
            kw.iter()
                .find(|(k, _)| **k == *names[i])
                .map(|(_, v)| v.clone())
        } else {
            None
        };
        match found {
            Some(v) => {
                out[i] = Some(v);
                left -= 1;
            }
            None if i < minpos => {
                return type_error(format!(
                    "{}() missing required argument '{}' (pos {})",
                    fname,
                    names[i],
                    i + 1
                ));
            }
            None => {}
        }
    }
    if left > 0 {
        for (i, name) in names.iter().enumerate().take(nargs).skip(posonly) {
            if kw.iter().any(|(k, _)| **k == **name) {
                return type_error(format!(
                    "argument for {}() given by name ('{}') and position ({})",
                    fname,
                    name,
                    i + 1
                ));
            }
        }
        for (k, _) in kw {
            if !names[posonly..].iter().any(|n| **n == **k) {
                return type_error(format!(
                    "'{}' is an invalid keyword argument for {}()",
                    k, fname
                ));
            }
        }
    }
    Ok(out)
}

/// A function written in Python (e.g. `Random.randint`): `names` are its parameters after
/// `self`, the last `ndefaults` optional. Python's messages count `self` when `method`.
pub fn pyfunc(
    qual: &str,
    a: &[Value],
    kw: Kw,
    names: &[&str],
    ndefaults: usize,
    method: bool,
) -> PResult<Vec<Option<Value>>> {
    let mut out: Vec<Option<Value>> = vec![None; names.len()];
    for (i, v) in a.iter().enumerate().take(names.len()) {
        out[i] = Some(v.clone());
    }
    for (k, v) in kw {
        match names.iter().position(|n| **n == **k) {
            None => {
                return type_error(format!(
                    "{}() got an unexpected keyword argument '{}'",
                    qual, k
                ))
            }
            Some(i) if out[i].is_some() => {
                return type_error(format!(
                    "{}() got multiple values for argument '{}'",
                    qual, k
                ))
            }
            Some(i) => out[i] = Some(v.clone()),
        }
    }
    let extra = method as usize;
    if a.len() > names.len() {
        let total = names.len() + extra;
        let required = names.len() - ndefaults + extra;
        let takes = if ndefaults > 0 {
            format!("from {} to {}", required, total)
        } else {
            total.to_string()
        };
        let given = a.len() + extra;
        return type_error(format!(
            "{}() takes {} positional argument{} but {} {} given",
            qual,
            takes,
            plural(if ndefaults > 0 { 2 } else { total }),
            given,
            if given == 1 { "was" } else { "were" }
        ));
    }
    let required = names.len() - ndefaults;
    let missing: Vec<String> = (0..required)
        .filter(|&i| out[i].is_none())
        .map(|i| format!("'{}'", names[i]))
        .collect();
    if !missing.is_empty() {
        let list = match missing.len() {
            1 => missing[0].clone(),
            2 => format!("{} and {}", missing[0], missing[1]),
            n => format!("{}, and {}", missing[..n - 1].join(", "), missing[n - 1]),
        };
        return type_error(format!(
            "{}() missing {} required positional argument{}: {}",
            qual,
            missing.len(),
            plural(missing.len()),
            list
        ));
    }
    Ok(out)
}

/// An integer argument that must fit a C `Py_ssize_t` (`PyNumber_AsSsize_t` with
/// OverflowError): `Python int too large to convert to C ssize_t`.
pub fn ssize(v: &Value) -> PResult<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Bool(b) => Ok(b.get() as i64),
        Value::BigInt(_) => crate::ops::err(
            crate::exceptions::ExcKind::OverflowError,
            "Python int too large to convert to C ssize_t",
        ),
        _ => type_error(format!(
            "'{}' object cannot be interpreted as an integer",
            v.type_name()
        )),
    }
}

/// A slice-like index (`_PyEval_SliceIndex`): ints too large for a machine word clamp to its
/// range instead of failing; `what` is the TypeError for other types.
pub fn slice_index(v: &Value, what: &str) -> PResult<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Bool(b) => Ok(b.get() as i64),
        Value::BigInt(b) => Ok(if num_traits::Signed::is_negative(&**b) {
            i64::MIN
        } else {
            i64::MAX
        }),
        _ => type_error(what.to_string()),
    }
}
