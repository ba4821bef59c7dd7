//! The parser glue: runs the lalrpop grammar (`grammar/toy.lalrpop`) over the layout lexer
//! (`lexer.rs`) and returns the module's statements or a `SyntaxError` worded as CPython
//! 3.11 words it.
//!
//! Besides the entry point `parse_module`, this file holds the helpers the grammar's actions
//! call: building nodes, validating assignment/deletion targets, call arguments and parameter
//! lists, joining adjacent string literals and parsing the expressions inside f-strings (by
//! running the same grammar in expression mode). Error reporting follows CPython's order: a
//! tokenizer error anywhere in the file beats a parser error found before it (CPython
//! tokenizes the rest of the file after a parse error), and the reserved features (class,
//! decorators, yield, async/await) are reported only when the file has no real syntax error.

use std::borrow::Cow;
use std::collections::HashSet;

use lalrpop_util::{lalrpop_mod, ParseError};

use crate::ast::*;
use crate::lexer::{Lexer, RawFPart, StrLit, Tok};

lalrpop_mod!(
    #[allow(clippy::all, unused_parens, unused_imports, dead_code)]
    toy
);

/// Parses a whole module (a file, `-c` code, or the REPL's input so far).
///
/// `SyntaxError.at_eof` is set when the only problem is that the input ended early (an
/// unclosed bracket or triple-quoted string, a block header without its body, a trailing
/// backslash), so that the REPL can ask for another line.
pub fn parse_module(source: &str) -> Result<Vec<Stmt>, SyntaxError> {
    if let Some(off) = source.find('\0') {
        let mut cur = crate::lexer::Cursor::new(source, Pos { line: 1, col: 1 });
        return Err(SyntaxError::new(
            "source code cannot contain null bytes",
            cur.pos_at(off),
        ));
    }
    let src: Cow<str> = if source.contains('\r') {
        Cow::Owned(source.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(source)
    };
    let mut lexer = Lexer::new(&src);
    let mut st = State::default();
    let start = Pos { line: 1, col: 1 };
    let tokens = std::iter::once(Ok((start, Tok::StartModule, start))).chain(&mut lexer);
    match toy::TopParser::new().parse(&mut st, tokens) {
        Ok(Top::Module(stmts)) => {
            match st.unsupported.iter().min_by_key(|(p, _)| (p.line, p.col)) {
                Some((pos, what)) => Err(SyntaxError::new(
                    format!("{what} not supported in Toy"),
                    *pos,
                )),
                None => Ok(stmts),
            }
        }
        Ok(Top::Expr(e)) => Err(SyntaxError::new("invalid syntax", e.pos)),
        Err(err) => Err(module_error(err, &mut lexer)),
    }
}

/// Parses the expression of an f-string replacement field; `pos` is where `text` starts.
fn parse_fstring_expr(text: &str, pos: Pos) -> Result<Expr, SyntaxError> {
    let mut lexer = Lexer::for_expression(text, pos);
    let mut st = State::default();
    let tokens = std::iter::once(Ok((pos, Tok::StartExpr, pos))).chain(&mut lexer);
    let result = toy::TopParser::new().parse(&mut st, tokens);
    let mut err = match result {
        Ok(Top::Expr(e)) => match st.unsupported.first() {
            Some((pos, what)) => SyntaxError::new(format!("{what} not supported in Toy"), *pos),
            None if matches!(e.kind, ExprKind::Starred(_)) => {
                SyntaxError::new("cannot use starred expression here", e.pos)
            }
            None => return Ok(e),
        },
        Ok(Top::Module(_)) => SyntaxError::new("invalid syntax", pos),
        Err(ParseError::User { error }) => error,
        Err(ParseError::UnrecognizedEof { location, .. }) => {
            SyntaxError::new("invalid syntax", location)
        }
        Err(ParseError::UnrecognizedToken {
            token: (l, tok, _), ..
        })
        | Err(ParseError::ExtraToken { token: (l, tok, _) }) => generic_error(&tok, l, &lexer),
        Err(ParseError::InvalidToken { location }) => SyntaxError::new("invalid syntax", location),
    };
    if !err.msg.starts_with("f-string") {
        err.msg = format!("f-string: {}", err.msg);
    }
    err.at_eof = false;
    Err(err)
}

// ---------------------------------------------------------------------------------------------
// Error reporting

/// Turns a failed module parse into CPython's error.
fn module_error(err: ParseError<Pos, Tok, SyntaxError>, lexer: &mut Lexer) -> SyntaxError {
    let info = lexer.info.clone();
    let error = match err {
        // Errors of the tokenizer itself are final.
        ParseError::User { error } if lexer.failed() => return error,
        ParseError::User { error } => error,
        ParseError::InvalidToken { location } => SyntaxError::new("invalid syntax", location),
        ParseError::UnrecognizedEof { location, expected } => {
            let has = |s: &str| expected.iter().any(|e| e == s);
            let mut e = if has("Indent") {
                expected_block(location, &info)
            } else if has("\"except\"") && has("\"finally\"") {
                SyntaxError::new("expected 'except' or 'finally' block", location)
            } else {
                SyntaxError::new("invalid syntax", location)
            };
            e.at_eof = true;
            return e;
        }
        ParseError::ExtraToken { token: (l, tok, _) } => generic_error(&tok, l, lexer),
        ParseError::UnrecognizedToken {
            token: (l, tok, r),
            expected,
        } => {
            let has = |s: &str| expected.iter().any(|e| e == s);
            match tok {
                Tok::Indent => {
                    let mut e = SyntaxError::new(
                        "unexpected indent",
                        Pos {
                            line: r.line,
                            col: r.col.saturating_sub(1).max(1),
                        },
                    );
                    e.kind = "IndentationError";
                    return e;
                }
                Tok::Dedent if !has("Indent") => {
                    let mut e = SyntaxError::new("unexpected unindent", l);
                    e.kind = "IndentationError";
                    return e;
                }
                _ if has("Indent") => return expected_block(l, &info),
                Tok::Walrus => {
                    SyntaxError::new("assignment expressions (':=') are not supported in Toy", l)
                }
                _ if expected.len() == 1 && has("\"(\"") => SyntaxError::new("expected '('", l),
                Tok::RBrace | Tok::Comma
                    if expected.len() == 1 && has("\":\"") && lexer_in_braces(&tok, lexer) =>
                {
                    SyntaxError::new("':' expected after dictionary key", info.prev.pos)
                }
                Tok::Assign if !has("\"=\"") => assign_in_expression(lexer),
                _ if has("\":\"")
                    && (matches!(tok, Tok::Newline)
                        || expected.iter().all(|e| e == "\":\"" || e == "\"->\"")) =>
                {
                    SyntaxError::new("expected ':'", l)
                }
                _ if has("\"else\"") && !has("\"pass\"") && !matches!(tok, Tok::Colon) => {
                    SyntaxError::new("expected 'else' after 'if' expression", l)
                }
                _ if has("\"except\"") && has("\"finally\"") && !has("\"pass\"") => {
                    SyntaxError::new("expected 'except' or 'finally' block", l)
                }

                _ => generic_error(&tok, l, lexer),
            }
        }
    };
    // CPython tokenizes the rest of the input after a parser error; a tokenizer error found
    // there is reported instead (an unclosed bracket only if it opened before the error).
    for item in lexer.by_ref() {
        if let Err(e) = item {
            let unclosed = e.msg.ends_with("was never closed");
            if !unclosed
                || error.pos.line > e.pos.line
                || error.msg.starts_with("invalid syntax") && error.pos.line >= e.pos.line
            {
                return e;
            }
            break;
        }
    }
    error
}

/// Whether the token `tok` (just read) is directly inside `{}`.
fn lexer_in_braces(tok: &Tok, lexer: &Lexer) -> bool {
    matches!(tok, Tok::RBrace) || matches!(lexer.innermost_bracket(), Some(('{', _)))
}

/// An `=` where an expression goes on: CPython guesses that `==` was meant.
fn assign_in_expression(lexer: &Lexer) -> SyntaxError {
    let prev = lexer.info.prev;
    let in_call = matches!(lexer.innermost_bracket(), Some(('(', false)));
    if prev.name && !prev.after_dot {
        return SyntaxError::new(
            "invalid syntax. Maybe you meant '==' or ':=' instead of '='?",
            prev.pos,
        );
    }
    if in_call {
        return SyntaxError::new(
            "expression cannot contain assignment, perhaps you meant \"==\"?",
            prev.pos,
        );
    }
    if prev.name && prev.after_dot {
        return SyntaxError::new(
            "cannot assign to attribute here. Maybe you meant '==' instead of '='?",
            prev.pos,
        );
    }
    SyntaxError::new("invalid syntax", lexer.info.last.pos)
}

/// "expected an indented block after 'if' statement on line N".
fn expected_block(pos: Pos, info: &crate::lexer::LexInfo) -> SyntaxError {
    let (what, line) = info.prev_head.unwrap_or(("statement", pos.line));
    let mut e = SyntaxError::new(
        format!("expected an indented block after {what} on line {line}"),
        pos,
    );
    e.kind = "IndentationError";
    e
}

/// `invalid syntax`, or one of CPython's friendlier guesses for an unexpected token.
fn generic_error(tok: &Tok, pos: Pos, lexer: &Lexer) -> SyntaxError {
    let info = &lexer.info;
    let starts_expr = matches!(
        tok,
        Tok::Name(_)
            | Tok::Int(_)
            | Tok::Float(_)
            | Tok::Str(_)
            | Tok::LParen
            | Tok::LBracket
            | Tok::LBrace
            | Tok::True
            | Tok::False
            | Tok::None
            | Tok::Ellipsis
            | Tok::Lambda
            | Tok::Not
            | Tok::Tilde
    );
    if starts_expr {
        if let Some(name) = info.prev.legacy {
            return SyntaxError::new(
                format!("Missing parentheses in call to '{name}'. Did you mean {name}(...)?"),
                info.prev.pos,
            );
        }
        let name_then_string = matches!(tok, Tok::Str(_)) && info.prev.name;
        let in_def_params = matches!(lexer.innermost_bracket(), Some((_, true)));
        if info.prev.ends_expr && info.prev.depth > 0 && !name_then_string && !in_def_params {
            return SyntaxError::new("invalid syntax. Perhaps you forgot a comma?", info.prev.pos);
        }
    }
    SyntaxError::new("invalid syntax", pos)
}

fn user<'a>(error: SyntaxError) -> ParseError<Pos, Tok<'a>, SyntaxError> {
    ParseError::User { error }
}

type PResult<'a, T> = Result<T, ParseError<Pos, Tok<'a>, SyntaxError>>;

/// An action that always fails with `msg`.
pub fn fail<'a, T>(pos: Pos, msg: &str) -> PResult<'a, T> {
    Err(user(SyntaxError::new(msg, pos)))
}

// ---------------------------------------------------------------------------------------------
// Types shared with the grammar

/// Parser state threaded through the grammar's actions.
#[derive(Default)]
pub struct State {
    /// Reserved features seen (position, "'class' is" ...), reported after a clean parse.
    pub unsupported: Vec<(Pos, &'static str)>,
}

/// What the grammar's single entry point returns, depending on the start token.
pub enum Top {
    Module(Vec<Stmt>),
    Expr(Expr),
}

/// One item of a `def` or `lambda` parameter list, before validation.
pub enum ParamItem {
    Plain(Pos, String, Option<Expr>),
    Star(Pos, Option<String>),
    DoubleStar(Pos, String),
    Slash(Pos),
}

/// One call argument, before validation.
pub enum ArgItem {
    Positional(Expr),
    /// An unparenthesised generator expression (allowed only as the sole argument).
    Generator(Expr),
    Keyword(Pos, String, Expr),
    Star(Pos, Expr),
    DoubleStar(Expr),
}

pub enum CompKind {
    List,
    Set,
    Dict,
    Gen,
}

/// What a target is for.
#[derive(Clone, Copy, PartialEq)]
pub enum Ctx {
    Store,
    Del,
}

// ---------------------------------------------------------------------------------------------
// Node builders

pub fn expr(pos: Pos, kind: ExprKind) -> Expr {
    Expr { pos, kind }
}

pub fn stmt(pos: Pos, kind: StmtKind) -> Stmt {
    Stmt { pos, kind }
}

pub fn bin(pos: Pos, left: Expr, op: BinOp, right: Expr) -> Expr {
    expr(
        pos,
        ExprKind::BinOp {
            left: Box::new(left),
            op,
            right: Box::new(right),
        },
    )
}

pub fn bool_op(pos: Pos, op: BoolOp, first: Expr, rest: Vec<Expr>) -> Expr {
    let mut values = vec![first];
    values.extend(rest);
    expr(pos, ExprKind::BoolOp { op, values })
}

/// `a, b` is a tuple, `a,` too, `a` is itself.
pub fn tuple_or_single(pos: Pos, (mut items, trailing): (Vec<Expr>, bool)) -> Expr {
    if items.len() == 1 && !trailing {
        if let Some(e) = items.pop() {
            return e;
        }
    }
    expr(pos, ExprKind::Tuple(items))
}

/// The index of a subscript: `a[i]`, `a[i, j]` (a tuple), `a[*b]` (a tuple too).
pub fn subscript_index(pos: Pos, (mut items, trailing): (Vec<Expr>, bool)) -> Expr {
    if items.len() == 1 && !trailing && !matches!(items[0].kind, ExprKind::Starred(_)) {
        if let Some(e) = items.pop() {
            return e;
        }
    }
    expr(pos, ExprKind::Tuple(items))
}

/// `( ... )`: the inner expression, or a tuple positioned at the parenthesis.
pub fn parenthesized<'a>(pos: Pos, (mut items, trailing): (Vec<Expr>, bool)) -> PResult<'a, Expr> {
    if items.len() == 1 && !trailing {
        if let Some(e) = items.pop() {
            if matches!(e.kind, ExprKind::Starred(_)) {
                return fail(e.pos, "cannot use starred expression here");
            }
            return Ok(e);
        }
    }
    Ok(expr(pos, ExprKind::Tuple(items)))
}

/// A `yield` expression: recorded as unsupported, replaced by `None`.
pub fn yield_expr(st: &mut State, pos: Pos) -> Expr {
    st.unsupported.push((pos, "'yield' is"));
    expr(pos, ExprKind::None)
}

pub fn if_stmt(
    pos: Pos,
    test: Expr,
    body: Vec<Stmt>,
    elifs: Vec<(Pos, Expr, Vec<Stmt>)>,
    orelse: Vec<Stmt>,
) -> Stmt {
    let mut orelse = orelse;
    for (p, test, body) in elifs.into_iter().rev() {
        orelse = vec![stmt(p, StmtKind::If { test, body, orelse })];
    }
    stmt(pos, StmtKind::If { test, body, orelse })
}

pub fn comprehension<'a>(
    pos: Pos,
    kind: CompKind,
    elt: Expr,
    value: Option<Expr>,
    generators: Vec<Comprehension>,
) -> PResult<'a, Expr> {
    if matches!(elt.kind, ExprKind::Starred(_)) {
        return fail(
            elt.pos,
            "iterable unpacking cannot be used in comprehension",
        );
    }
    let elt = Box::new(elt);
    let kind = match (kind, value) {
        (CompKind::Dict, Some(v)) => ExprKind::DictComp {
            key: elt,
            value: Box::new(v),
            generators,
        },
        (CompKind::List, _) => ExprKind::ListComp { elt, generators },
        (CompKind::Set, _) => ExprKind::SetComp { elt, generators },
        _ => ExprKind::GeneratorExp { elt, generators },
    };
    Ok(expr(pos, kind))
}

/// Joins adjacent string literals; any f-string among them makes the result an f-string.
pub fn strings<'a>(pos: Pos, lits: Vec<Box<StrLit<'a>>>) -> PResult<'a, Expr> {
    if lits.iter().all(|l| matches!(**l, StrLit::Plain(_))) {
        let mut s = String::new();
        for lit in lits {
            if let StrLit::Plain(p) = *lit {
                s.push_str(&p);
            }
        }
        return Ok(expr(pos, ExprKind::Str(s)));
    }
    let mut parts: Vec<FPart> = Vec::new();
    for lit in lits {
        match *lit {
            StrLit::Plain(s) => push_lit(&mut parts, s),
            StrLit::F(raw) => {
                for part in fstring_parts(raw).map_err(user)? {
                    match part {
                        FPart::Lit(s) => push_lit(&mut parts, s),
                        value => parts.push(value),
                    }
                }
            }
        }
    }
    Ok(expr(pos, ExprKind::FString(parts)))
}

fn push_lit(parts: &mut Vec<FPart>, s: String) {
    if s.is_empty() {
        return;
    }
    match parts.last_mut() {
        Some(FPart::Lit(prev)) => prev.push_str(&s),
        _ => parts.push(FPart::Lit(s)),
    }
}

/// Parses the fields of one f-string.
fn fstring_parts(raw: Vec<RawFPart>) -> Result<Vec<FPart>, SyntaxError> {
    let mut out = Vec::with_capacity(raw.len());
    for part in raw {
        match part {
            RawFPart::Lit(s) => out.push(FPart::Lit(s)),
            RawFPart::Field {
                expr,
                pos,
                conversion,
                spec,
                ..
            } => {
                let e = parse_fstring_expr(expr, pos)?;
                let spec = match spec {
                    Some(s) => Some(fstring_parts(s)?),
                    None => None,
                };
                out.push(FPart::Value {
                    expr: Box::new(e),
                    conversion,
                    spec,
                });
            }
        }
    }
    Ok(out)
}

/// A call, with CPython's checks on the order of its arguments.
/// `lparen` is where the argument list starts (CPython's position of a sole generator argument).
pub fn call<'a>(
    pos: Pos,
    func: Expr,
    lparen: Pos,
    (items, trailing): (Vec<ArgItem>, bool),
) -> PResult<'a, Expr> {
    let count = items.len() + trailing as usize;
    let mut args = Vec::with_capacity(count);
    let (mut keyword, mut unpacked_mapping) = (false, false);
    let mut names = HashSet::new();
    for item in items {
        match item {
            ArgItem::Positional(e) => {
                if unpacked_mapping {
                    return fail(
                        e.pos,
                        "positional argument follows keyword argument unpacking",
                    );
                }
                if keyword {
                    return fail(e.pos, "positional argument follows keyword argument");
                }
                args.push(Arg::Positional(e));
            }
            ArgItem::Generator(mut e) => {
                if count > 1 {
                    return fail(e.pos, "Generator expression must be parenthesized");
                }
                e.pos = lparen;
                args.push(Arg::Positional(e));
            }
            ArgItem::Star(p, e) => {
                if unpacked_mapping {
                    return fail(
                        p,
                        "iterable argument unpacking follows keyword argument unpacking",
                    );
                }
                args.push(Arg::Star(e));
            }
            ArgItem::Keyword(p, name, e) => {
                if !names.insert(name.clone()) {
                    return fail(p, &format!("keyword argument repeated: {name}"));
                }
                keyword = true;
                args.push(Arg::Keyword(name, e));
            }
            ArgItem::DoubleStar(e) => {
                unpacked_mapping = true;
                args.push(Arg::DoubleStar(e));
            }
        }
    }
    Ok(expr(
        pos,
        ExprKind::Call {
            func: Box::new(func),
            args,
        },
    ))
}

/// Validates a `def`/`lambda` parameter list and sorts it into `Params`.
pub fn params<'a>(items: Vec<ParamItem>) -> PResult<'a, Params> {
    let mut params = Params::default();
    // 0: positional, 1: after `*`, 2: after `**`.
    let mut phase = 0;
    let mut bare_star = None;
    let mut seen_default = false;
    let mut names = HashSet::new();
    let mut check_name = |pos: Pos, name: &str| -> PResult<'a, ()> {
        if names.insert(name.to_string()) {
            Ok(())
        } else {
            fail(
                pos,
                &format!("duplicate argument '{name}' in function definition"),
            )
        }
    };
    for item in items {
        if phase == 2 {
            let pos = match &item {
                ParamItem::Plain(p, ..)
                | ParamItem::Star(p, _)
                | ParamItem::DoubleStar(p, _)
                | ParamItem::Slash(p) => *p,
            };
            return fail(pos, "arguments cannot follow var-keyword argument");
        }
        match item {
            ParamItem::Plain(pos, name, default) => {
                check_name(pos, &name)?;
                if phase == 0 {
                    if default.is_none() && seen_default {
                        return fail(pos, "non-default argument follows default argument");
                    }
                    seen_default |= default.is_some();
                    params.args.push(Param { pos, name, default });
                } else {
                    bare_star = None;
                    params.kwonly.push(Param { pos, name, default });
                }
            }
            ParamItem::Star(pos, name) => {
                if phase == 1 {
                    return fail(pos, "* argument may appear only once");
                }
                phase = 1;
                match name {
                    Some(n) => {
                        check_name(pos, &n)?;
                        params.vararg = Some(n);
                    }
                    None => bare_star = Some(pos),
                }
            }
            ParamItem::DoubleStar(pos, name) => {
                if let Some(p) = bare_star {
                    return fail(p, "named arguments must follow bare *");
                }
                check_name(pos, &name)?;
                params.kwarg = Some(name);
                phase = 2;
            }
            ParamItem::Slash(pos) => {
                return fail(
                    pos,
                    "positional-only parameters ('/') are not supported in Toy",
                )
            }
        }
    }
    if let Some(p) = bare_star {
        return fail(p, "named arguments must follow bare *");
    }
    Ok(params)
}

// ---------------------------------------------------------------------------------------------
// Targets

/// How CPython names an expression in "cannot assign to ...".
fn expr_name(e: &Expr) -> &'static str {
    match &e.kind {
        ExprKind::Name(_) => "name",
        ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) => "literal",
        ExprKind::FString(_) => "f-string expression",
        ExprKind::True => "True",
        ExprKind::False => "False",
        ExprKind::None => "None",
        ExprKind::Ellipsis => "ellipsis",
        ExprKind::BinOp { .. } | ExprKind::UnaryOp { .. } | ExprKind::BoolOp { .. } => "expression",
        ExprKind::Compare { .. } => "comparison",
        ExprKind::IfExp { .. } => "conditional expression",
        ExprKind::Lambda { .. } => "lambda",
        ExprKind::Call { .. } => "function call",
        ExprKind::Attribute { .. } => "attribute",
        ExprKind::Subscript { .. } => "subscript",
        ExprKind::Slice { .. } => "slice",
        ExprKind::Starred(_) => "starred",
        ExprKind::List(_) => "list",
        ExprKind::Tuple(_) => "tuple",
        ExprKind::Set(_) => "set display",
        ExprKind::Dict(_) => "dict literal",
        ExprKind::ListComp { .. } => "list comprehension",
        ExprKind::SetComp { .. } => "set comprehension",
        ExprKind::DictComp { .. } => "dict comprehension",
        ExprKind::GeneratorExp { .. } => "generator expression",
    }
}

/// The first part of a target that cannot be assigned to (or deleted).
fn invalid_target(e: &Expr, ctx: Ctx) -> Option<&Expr> {
    match &e.kind {
        ExprKind::List(items) | ExprKind::Tuple(items) => {
            items.iter().find_map(|x| invalid_target(x, ctx))
        }
        ExprKind::Starred(inner) if ctx == Ctx::Store => invalid_target(inner, ctx),
        ExprKind::Name(_) | ExprKind::Subscript { .. } | ExprKind::Attribute { .. } => None,
        _ => Some(e),
    }
}

/// `*a` must sit inside a list or tuple target, and only one per level.
fn check_starred(e: &Expr, top: bool) -> Result<(), SyntaxError> {
    match &e.kind {
        ExprKind::Starred(inner) if top => {
            let _ = inner;
            Err(SyntaxError::new(
                "starred assignment target must be in a list or tuple",
                e.pos,
            ))
        }
        ExprKind::Starred(inner) => check_starred(inner, false),
        ExprKind::List(items) | ExprKind::Tuple(items) => {
            if items
                .iter()
                .filter(|x| matches!(x.kind, ExprKind::Starred(_)))
                .count()
                > 1
            {
                return Err(SyntaxError::new(
                    "multiple starred expressions in assignment",
                    e.pos,
                ));
            }
            items.iter().try_for_each(|x| check_starred(x, false))
        }
        _ => Ok(()),
    }
}

/// Checks an assignment (`Store`) or `del` target.
pub fn check_target<'a>(e: &Expr, ctx: Ctx) -> PResult<'a, ()> {
    if let Some(bad) = invalid_target(e, ctx) {
        let verb = if ctx == Ctx::Store {
            "assign to"
        } else {
            "delete"
        };
        return fail(bad.pos, &format!("cannot {verb} {}", expr_name(bad)));
    }
    if ctx == Ctx::Store {
        check_starred(e, true).map_err(user)?;
    }
    Ok(())
}

/// The leftmost sub-expression that starts `e` (its first token belongs to it).
fn leftmost(e: &Expr) -> &Expr {
    match &e.kind {
        ExprKind::BinOp { left, .. } => leftmost(left),
        ExprKind::Compare { left, .. } => leftmost(left),
        ExprKind::Call { func, .. } => leftmost(func),
        ExprKind::Attribute { value, .. } | ExprKind::Subscript { value, .. } => leftmost(value),
        ExprKind::IfExp { body, .. } => leftmost(body),
        ExprKind::BoolOp { values, .. } => values.first().map_or(e, leftmost),
        ExprKind::Tuple(items) if items.first().is_some_and(|f| f.pos == e.pos) => {
            leftmost(&items[0])
        }
        _ => e,
    }
}

/// Whether `e` is at the precedence level of `|` or tighter (CPython's `bitwise_or`).
fn is_bitwise_or(e: &Expr) -> bool {
    !matches!(
        e.kind,
        ExprKind::Compare { .. }
            | ExprKind::BoolOp { .. }
            | ExprKind::UnaryOp {
                op: UnaryOp::Not,
                ..
            }
            | ExprKind::IfExp { .. }
            | ExprKind::Lambda { .. }
            | ExprKind::Starred(_)
    ) && !matches!(&e.kind, ExprKind::Tuple(items) if items.first().is_some_and(|f| f.pos == e.pos))
}

/// `targets = value` (the last of `exprs` is the value).
pub fn assign<'a>(pos: Pos, first: Expr, rest: Vec<Expr>) -> PResult<'a, Stmt> {
    let mut targets = vec![first];
    targets.extend(rest);
    let value = targets.pop().unwrap_or_else(|| expr(pos, ExprKind::None));
    if let [target] = targets.as_slice() {
        // CPython's `invalid_named_expression`: `f() = 1` probably meant `==`. It looks at
        // what stands right before the `=`: the last element of an unparenthesised tuple.
        let near = match &target.kind {
            ExprKind::Tuple(items) if items.first().is_some_and(|f| f.pos == target.pos) => {
                items.last()
            }
            _ => Some(target),
        };
        if let Some(near) = near.filter(|_| invalid_target(target, Ctx::Store).is_some()) {
            let start = leftmost(near);
            let excluded = matches!(
                start.kind,
                ExprKind::List(_)
                    | ExprKind::Tuple(_)
                    | ExprKind::GeneratorExp { .. }
                    | ExprKind::True
                    | ExprKind::False
                    | ExprKind::None
            );
            let value_ok = is_bitwise_or(leftmost(&value));
            if !std::ptr::eq(near, target) && matches!(near.kind, ExprKind::Name(_)) && value_ok {
                return fail(
                    near.pos,
                    "invalid syntax. Maybe you meant '==' or ':=' instead of '='?",
                );
            }
            if invalid_target(near, Ctx::Store).is_some()
                && !excluded
                && is_bitwise_or(near)
                && value_ok
            {
                let msg = format!(
                    "cannot assign to {} here. Maybe you meant '==' instead of '='?",
                    expr_name(near)
                );
                return fail(near.pos, &msg);
            }
        }
    }
    for t in &targets {
        check_target(t, Ctx::Store)?;
    }
    Ok(stmt(pos, StmtKind::Assign { targets, value }))
}

pub fn aug_assign<'a>(pos: Pos, target: Expr, op: BinOp, value: Expr) -> PResult<'a, Stmt> {
    if !matches!(
        target.kind,
        ExprKind::Name(_) | ExprKind::Attribute { .. } | ExprKind::Subscript { .. }
    ) {
        let msg = format!(
            "'{}' is an illegal expression for augmented assignment",
            expr_name(&target)
        );
        return fail(target.pos, &msg);
    }
    Ok(stmt(pos, StmtKind::AugAssign { target, op, value }))
}

/// `x: T = v` is `x = v` in Toy (the annotation is parsed and dropped); `x: T` is a no-op.
pub fn ann_assign<'a>(pos: Pos, target: Expr, value: Option<Expr>) -> PResult<'a, Stmt> {
    match &target.kind {
        ExprKind::Name(_) | ExprKind::Attribute { .. } | ExprKind::Subscript { .. } => {}
        ExprKind::Tuple(_) => {
            return fail(
                target.pos,
                "only single target (not tuple) can be annotated",
            )
        }
        ExprKind::List(_) => {
            return fail(target.pos, "only single target (not list) can be annotated")
        }
        _ => return fail(target.pos, "illegal target for annotation"),
    }
    Ok(match value {
        Some(value) => stmt(
            pos,
            StmtKind::Assign {
                targets: vec![target],
                value,
            },
        ),
        None => stmt(pos, StmtKind::Pass),
    })
}

pub fn del<'a>(pos: Pos, (targets, _): (Vec<Expr>, bool)) -> PResult<'a, Stmt> {
    for t in &targets {
        check_target(t, Ctx::Del)?;
    }
    Ok(stmt(pos, StmtKind::Del(targets)))
}
