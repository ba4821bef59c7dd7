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

pub fn str_arg<'a>(fname: &str, v: &'a Value, what: &str) -> PResult<&'a str> {
    match v {
        Value::Str(s) => Ok(&s.s),
        _ => type_error(format!(
            "{}() argument {} must be str, not {}",
            fname,
            what,
            v.type_name()
        )),
    }
}
