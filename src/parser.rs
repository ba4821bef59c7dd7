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
//! Expression nodes are built together with the depth of their tree, and a tree deeper than
//! `MAX_EXPR_DEPTH` is refused as soon as it would be built: dropping a tree cannot overflow
//! the stack, and the later (recursive) stages can rely on that bound.

use std::borrow::Cow;
use std::collections::HashSet;

use lalrpop_util::{lalrpop_mod, ParseError};

use crate::ast::*;
use crate::lexer::{LexInfo, Lexer, RawFPart, Role, Spanned, StrLit, Tok};

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
        Ok(Top::Expr(e)) => Err(SyntaxError::new("invalid syntax", e.e.pos)),
        Err(err) => Err(module_error(err, &mut lexer)),
    }
}

/// Parses the expression of an f-string replacement field; `pos` is where `text` starts.
fn parse_fstring_expr(text: &str, pos: Pos) -> Result<Ex, SyntaxError> {
    let mut lexer = Lexer::for_expression(text, pos);
    let mut st = State::default();
    let tokens = std::iter::once(Ok((pos, Tok::StartExpr, pos))).chain(&mut lexer);
    let result = toy::TopParser::new().parse(&mut st, tokens);
    let mut err = match result {
        Ok(Top::Expr(e)) => match st.unsupported.first() {
            Some((pos, what)) => SyntaxError::new(format!("{what} not supported in Toy"), *pos),
            None if matches!(e.e.kind, ExprKind::Starred(_)) => {
                SyntaxError::new("cannot use starred expression here", e.e.pos)
            }
            None => return Ok(e),
        },
        Ok(Top::Module(_)) => SyntaxError::new("invalid syntax", pos),
        Err(ParseError::User { error }) => error,
        Err(ParseError::UnrecognizedEof { location, .. }) => {
            SyntaxError::new("invalid syntax", location)
        }
        Err(ParseError::UnrecognizedToken {
            token: (_, Tok::BadStr(e), _),
            ..
        })
        | Err(ParseError::ExtraToken {
            token: (_, Tok::BadStr(e), _),
        }) => *e,
        Err(ParseError::UnrecognizedToken {
            token: (l, tok, _), ..
        })
        | Err(ParseError::ExtraToken { token: (l, tok, _) }) => generic_error(&tok, l, &lexer),
        Err(ParseError::InvalidToken { location }) => SyntaxError::new("invalid syntax", location),
    };
    if !err.msg.starts_with("f-string") && !err.msg.ends_with("not supported in Toy") {
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
    // An expression right after another one: CPython's second pass then parses the second
    // expression, possibly up to the end of the input.
    let mut juxtaposed = None;
    // The token after the error token, when a guess needed to look at it.
    let mut peeked = None;
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
        ParseError::ExtraToken {
            token: (_, Tok::BadStr(e), _),
        } => *e,
        ParseError::ExtraToken { token: (l, tok, _) } => generic_error(&tok, l, lexer),
        ParseError::UnrecognizedToken {
            token: (l, tok, r),
            expected,
        } => {
            if starts_expr(&tok) && info.prev.ends_expr {
                juxtaposed = Some(l);
            }
            let has = |s: &str| expected.iter().any(|e| e == s);
            // A NEWLINE token ends the line whose head we want.
            let line_head = if matches!(tok, Tok::Newline) {
                info.prev_head
            } else {
                info.head
            };
            let head = line_head.map(|(what, _)| what);
            let compound = head.is_some_and(|h| h != "statement") && info.last.depth == 0;
            let forced_colon = matches!(
                head,
                Some(
                    "function definition"
                        | "class definition"
                        | "'try' statement"
                        | "'else' statement"
                        | "'finally' statement"
                )
            );
            match tok {
                Tok::BadStr(e) => *e,
                Tok::Indent => {
                    let col = r.col.saturating_sub(1).max(1);
                    let mut e = SyntaxError::new("unexpected indent", Pos { line: r.line, col });
                    e.kind = "IndentationError";
                    return e;
                }
                // `except A, B` not followed by `:`.
                _ if info.except_comma.is_some_and(|c| c.line == l.line) => {
                    SyntaxError::new("invalid syntax", info.except_comma.unwrap_or(l))
                }
                _ if has("\"except\"") && has("\"finally\"") && !has("\"pass\"") => {
                    let mut e = SyntaxError::new("expected 'except' or 'finally' block", l);
                    e.at_eof = matches!(tok, Tok::Dedent) && lexer.exhausted();
                    e
                }
                Tok::Dedent if !has("Indent") => {
                    let mut e = SyntaxError::new("unexpected unindent", l);
                    e.kind = "IndentationError";
                    return e;
                }
                _ if has("Indent") => {
                    // A DEDENT made by the end of the input: the block may still come.
                    let mut e = expected_block(l, &info);
                    e.at_eof = matches!(tok, Tok::Dedent) && lexer.exhausted();
                    e
                }
                Tok::Walrus => {
                    SyntaxError::new("assignment expressions (':=') are not supported in Toy", l)
                }
                _ if expected.len() == 1 && has("\"(\"") => SyntaxError::new("expected '('", l),
                Tok::RBrace | Tok::Comma
                    if expected.len() == 1 && has("\":\"") && lexer_in_braces(&tok, lexer) =>
                {
                    SyntaxError::new("':' expected after dictionary key", info.prev.pos)
                }
                Tok::Assign if !has("\"=\"") => {
                    let next = lexer.next();
                    let e = assign_in_expression(lexer, &info, next.as_ref());
                    peeked = next;
                    e
                }
                _ if has("\":\"")
                    && compound
                    && (matches!(tok, Tok::Newline)
                        || forced_colon
                            && expected.iter().all(|e| e == "\":\"" || e == "\"->\"")) =>
                {
                    SyntaxError::new("expected ':'", l)
                }
                _ if has("\"else\"") && !has("\"pass\"") && !matches!(tok, Tok::Colon) => {
                    SyntaxError::new("expected 'else' after 'if' expression", l)
                }
                _ => generic_error(&tok, l, lexer),
            }
        }
    };
    // CPython tokenizes the rest of the input after a parser error; a tokenizer error found
    // there is reported instead. An unclosed bracket is reported only if it opened on an
    // earlier line, or if CPython's second pass, parsing the expression at the error, would
    // have run into the end of the input. Bad indentation and continuation lines stop that
    // scan without replacing the error.
    let generic = error.msg.starts_with("invalid syntax") || error.kind == "IndentationError";
    // Whether the expression starting at the error token (CPython's second pass parses it)
    // has visibly ended before the end of the input.
    let (mut depth, mut ended) = (0usize, false);
    // When the error token is an opening bracket: its contents start like an expression.
    let mut bracket_content_starts = None;
    for item in peeked.into_iter().chain(lexer.by_ref()) {
        let e = match item {
            Ok((_, tok, _)) => {
                bracket_content_starts
                    .get_or_insert(starts_expr(&tok) || matches!(tok, Tok::Star | Tok::DoubleStar));
                match tok {
                    Tok::LParen | Tok::LBracket | Tok::LBrace => depth += 1,
                    Tok::RParen | Tok::RBracket | Tok::RBrace if depth == 0 => ended = true,
                    Tok::RParen | Tok::RBracket | Tok::RBrace => depth -= 1,
                    _ if depth == 0 && !continues_expr(&tok) => ended = true,
                    _ => {}
                }
                continue;
            }
            Err(e) => e,
        };
        let quiet = e.kind != "SyntaxError"
            || e.msg == "invalid syntax"
            || e.msg.starts_with("unexpected EOF")
            || e.msg
                .starts_with("unexpected character after line continuation");
        let unclosed = e.msg.ends_with("was never closed");
        let runs_to_end = juxtaposed.is_some_and(|at| {
            generic
                && if at == e.pos {
                    bracket_content_starts.unwrap_or(true)
                } else {
                    !ended
                }
        });
        if !quiet && (!unclosed || info.last.pos.line > e.pos.line || runs_to_end) {
            return e;
        }
        break;
    }
    error
}

/// An `=` where an expression goes on: CPython guesses that `==` was meant. `next` is the
/// token after the `=`.
fn assign_in_expression(
    lexer: &Lexer,
    info: &LexInfo,
    next: Option<&Result<Spanned, SyntaxError>>,
) -> SyntaxError {
    let prev = info.prev;
    let value_follows = matches!(
        next,
        Some(Ok((_, t, _))) if starts_expr(t) && !matches!(t, Tok::Not | Tok::Lambda)
            || matches!(t, Tok::Minus | Tok::Plus | Tok::Await)
    );
    let plain_name = prev.name && !prev.after_dot;
    let attribute = prev.name && prev.after_dot;
    let condition = matches!(
        info.head,
        Some((
            "'if' statement" | "'elif' statement" | "'while' statement",
            _
        ))
    );
    let generic = SyntaxError::new("invalid syntax", lexer.info.last.pos);
    if !value_follows {
        return generic;
    }
    match info.last.enclosing {
        Some((_, Role::DefParams | Role::DefDefault)) => generic,
        Some((_, Role::Call)) if prev.ends_expr => SyntaxError::new(
            "expression cannot contain assignment, perhaps you meant \"==\"?",
            prev.pos,
        ),
        None if !condition => generic,
        _ if plain_name => SyntaxError::new(
            "invalid syntax. Maybe you meant '==' or ':=' instead of '='?",
            prev.pos,
        ),
        _ if attribute => SyntaxError::new(
            "cannot assign to attribute here. Maybe you meant '==' instead of '='?",
            prev.pos,
        ),
        _ => generic,
    }
}

/// Whether the token `tok` (just read) is directly inside `{}`.
fn lexer_in_braces(tok: &Tok, lexer: &Lexer) -> bool {
    matches!(tok, Tok::RBrace) || matches!(lexer.info.last.enclosing, Some(('{', _)))
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

/// Whether `tok` can be part of an expression that has already started (not `,`, `:`, `=`,
/// a statement keyword...).
fn continues_expr(tok: &Tok) -> bool {
    starts_expr(tok)
        || matches!(
            tok,
            Tok::Dot
                | Tok::Plus
                | Tok::Minus
                | Tok::Star
                | Tok::DoubleStar
                | Tok::Slash
                | Tok::DoubleSlash
                | Tok::Percent
                | Tok::At
                | Tok::LShift
                | Tok::RShift
                | Tok::Amper
                | Tok::VBar
                | Tok::Caret
                | Tok::Less
                | Tok::Greater
                | Tok::LessEq
                | Tok::GreaterEq
                | Tok::EqEq
                | Tok::NotEq
                | Tok::In
                | Tok::Is
                | Tok::And
                | Tok::Or
                | Tok::If
                | Tok::Else
                | Tok::Await
        )
}

/// Whether `tok` can start an expression (for CPython's "forgot a comma" guess).
fn starts_expr(tok: &Tok) -> bool {
    matches!(
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
    )
}

/// `invalid syntax`, or one of CPython's friendlier guesses for an unexpected token.
fn generic_error(tok: &Tok, pos: Pos, lexer: &Lexer) -> SyntaxError {
    let info = &lexer.info;
    if starts_expr(tok) {
        if let Some(name) = info.prev.legacy {
            return SyntaxError::new(
                format!("Missing parentheses in call to '{name}'. Did you mean {name}(...)?"),
                info.prev.pos,
            );
        }
        let name_then_string = matches!(tok, Tok::Str(_)) && info.prev.name;
        let in_def_params = matches!(
            info.last.enclosing,
            Some((_, Role::DefParams | Role::Comprehension))
        );
        let soft_keyword = info.prev.soft_keyword;
        if info.prev.ends_expr
            && info.prev.depth > 0
            && !name_then_string
            && !in_def_params
            && !soft_keyword
        {
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

/// An action that always fails with `msg`, underlining `from` up to `to` (exclusive).
pub fn fail_range<'a, T>(from: Pos, to: Pos, msg: &str) -> PResult<'a, T> {
    let mut e = SyntaxError::new(msg, from);
    if to.line == from.line {
        e.end_col = Some(to.col);
    }
    Err(user(e))
}

// ---------------------------------------------------------------------------------------------
// Types shared with the grammar

/// The deepest expression tree accepted (nodes on the longest root-to-leaf path). The later
/// stages walk trees recursively; CPython gives up near 3000 too ("maximum recursion depth
/// exceeded during compilation"). Brackets are limited separately, to 200, by the lexer.
pub const MAX_EXPR_DEPTH: u32 = 3000;

/// Parser state threaded through the grammar's actions.
#[derive(Default)]
pub struct State {
    /// Reserved features seen (position, "'class' is" ...), reported after a clean parse.
    pub unsupported: Vec<(Pos, &'static str)>,
}

/// What the grammar's single entry point returns, depending on the start token.
pub enum Top {
    Module(Vec<Stmt>),
    Expr(Ex),
}

/// An expression and the depth of its tree (1 for a leaf).
pub struct Ex {
    pub e: Expr,
    pub d: u32,
}

/// One item of a `def` or `lambda` parameter list, before validation.
pub enum ParamItem {
    Plain(Pos, String, Option<Ex>),
    Star(Pos, Option<String>),
    DoubleStar(Pos, String),
    Slash(Pos),
}

/// One call argument, before validation.
pub enum ArgItem {
    Positional(Ex),
    /// An unparenthesised generator expression (allowed only as the sole argument).
    Generator(Ex),
    Keyword(Pos, String, Ex),
    Star(Pos, Ex),
    DoubleStar(Ex),
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
// Node builders (each checks the depth of the tree it makes)

pub fn stmt(pos: Pos, kind: StmtKind) -> Stmt {
    Stmt { pos, kind }
}

/// A node without sub-expressions.
pub fn leaf(pos: Pos, kind: ExprKind) -> Ex {
    Ex {
        e: Expr { pos, kind },
        d: 1,
    }
}

/// A node whose deepest child has depth `child`.
fn node<'a>(pos: Pos, kind: ExprKind, child: u32) -> PResult<'a, Ex> {
    let d = child + 1;
    if d > MAX_EXPR_DEPTH {
        return fail(pos, "too many nested expressions");
    }
    Ok(Ex {
        e: Expr { pos, kind },
        d,
    })
}

/// The expressions of `items` and the depth of the deepest.
fn unzip(items: Vec<Ex>) -> (Vec<Expr>, u32) {
    let d = items.iter().map(|x| x.d).max().unwrap_or(0);
    (items.into_iter().map(|x| x.e).collect(), d)
}

fn depth_of(x: &Option<Ex>) -> u32 {
    x.as_ref().map_or(0, |x| x.d)
}

fn boxed(x: Option<Ex>) -> Option<Box<Expr>> {
    x.map(|x| Box::new(x.e))
}

pub fn bin<'a>(pos: Pos, left: Ex, op: BinOp, right: Ex) -> PResult<'a, Ex> {
    let d = left.d.max(right.d);
    let kind = ExprKind::BinOp {
        left: Box::new(left.e),
        op,
        right: Box::new(right.e),
    };
    node(pos, kind, d)
}

pub fn unary<'a>(pos: Pos, op: UnaryOp, operand: Ex) -> PResult<'a, Ex> {
    let d = operand.d;
    node(
        pos,
        ExprKind::UnaryOp {
            op,
            operand: Box::new(operand.e),
        },
        d,
    )
}

pub fn bool_op<'a>(pos: Pos, op: BoolOp, first: Ex, rest: Vec<Ex>) -> PResult<'a, Ex> {
    let mut values = vec![first];
    values.extend(rest);
    let (values, d) = unzip(values);
    node(pos, ExprKind::BoolOp { op, values }, d)
}

pub fn compare<'a>(pos: Pos, left: Ex, ops: Vec<(CmpOp, Ex)>) -> PResult<'a, Ex> {
    let d = ops.iter().map(|(_, x)| x.d).fold(left.d, u32::max);
    let ops = ops.into_iter().map(|(op, x)| (op, x.e)).collect();
    node(
        pos,
        ExprKind::Compare {
            left: Box::new(left.e),
            ops,
        },
        d,
    )
}

pub fn if_exp<'a>(pos: Pos, body: Ex, test: Ex, orelse: Ex) -> PResult<'a, Ex> {
    let d = body.d.max(test.d).max(orelse.d);
    let kind = ExprKind::IfExp {
        test: Box::new(test.e),
        body: Box::new(body.e),
        orelse: Box::new(orelse.e),
    };
    node(pos, kind, d)
}

pub fn lambda<'a>(pos: Pos, items: Vec<ParamItem>, body: Ex) -> PResult<'a, Ex> {
    let (params, defaults) = params(items)?;
    let d = body.d.max(defaults);
    node(
        pos,
        ExprKind::Lambda {
            params: Box::new(params),
            body: Box::new(body.e),
        },
        d,
    )
}

pub fn starred<'a>(pos: Pos, value: Ex) -> PResult<'a, Ex> {
    let d = value.d;
    node(pos, ExprKind::Starred(Box::new(value.e)), d)
}

pub fn attribute<'a>(pos: Pos, value: Ex, attr: String) -> PResult<'a, Ex> {
    let d = value.d;
    node(
        pos,
        ExprKind::Attribute {
            value: Box::new(value.e),
            attr,
        },
        d,
    )
}

pub fn subscript<'a>(pos: Pos, value: Ex, index: Ex) -> PResult<'a, Ex> {
    let d = value.d.max(index.d);
    node(
        pos,
        ExprKind::Subscript {
            value: Box::new(value.e),
            index: Box::new(index.e),
        },
        d,
    )
}

pub fn slice<'a>(
    pos: Pos,
    lower: Option<Ex>,
    upper: Option<Ex>,
    step: Option<Ex>,
) -> PResult<'a, Ex> {
    let d = depth_of(&lower).max(depth_of(&upper)).max(depth_of(&step));
    let kind = ExprKind::Slice {
        lower: boxed(lower),
        upper: boxed(upper),
        step: boxed(step),
    };
    node(pos, kind, d)
}

/// `[a, b]` or `{a, b}`.
pub fn display<'a>(pos: Pos, kind: CompKind, items: Vec<Ex>) -> PResult<'a, Ex> {
    let (items, d) = unzip(items);
    let kind = match kind {
        CompKind::Set => ExprKind::Set(items),
        _ => ExprKind::List(items),
    };
    node(pos, kind, d)
}

pub fn dict<'a>(pos: Pos, items: Vec<(Option<Ex>, Ex)>) -> PResult<'a, Ex> {
    let d = items
        .iter()
        .map(|(k, v)| depth_of(k).max(v.d))
        .max()
        .unwrap_or(0);
    let items = items
        .into_iter()
        .map(|(k, v)| (k.map(|k| k.e), v.e))
        .collect();
    node(pos, ExprKind::Dict(items), d)
}

/// `a, b` is a tuple, `a,` too, `a` is itself.
pub fn tuple_or_single<'a>(pos: Pos, (mut items, trailing): (Vec<Ex>, bool)) -> PResult<'a, Ex> {
    if items.len() == 1 && !trailing {
        if let Some(x) = items.pop() {
            return Ok(x);
        }
    }
    let (items, d) = unzip(items);
    node(pos, ExprKind::Tuple(items), d)
}

/// The index of a subscript: `a[i]`, `a[i, j]` (a tuple), `a[*b]` (a tuple too).
pub fn subscript_index<'a>(pos: Pos, (items, trailing): (Vec<Ex>, bool)) -> PResult<'a, Ex> {
    let starred = items.len() == 1 && matches!(items[0].e.kind, ExprKind::Starred(_));
    tuple_or_single(pos, (items, trailing || starred))
}

/// `( ... )`: the inner expression, or a tuple positioned at the parenthesis.
pub fn parenthesized<'a>(pos: Pos, (items, trailing): (Vec<Ex>, bool)) -> PResult<'a, Ex> {
    if let [x] = items.as_slice() {
        if !trailing && matches!(x.e.kind, ExprKind::Starred(_)) {
            return fail(x.e.pos, "cannot use starred expression here");
        }
    }
    tuple_or_single(pos, (items, trailing))
}

/// A `yield` expression: recorded as unsupported, replaced by `None`.
pub fn yield_expr(st: &mut State, pos: Pos) -> Ex {
    st.unsupported.push((pos, "'yield' is"));
    leaf(pos, ExprKind::None)
}

pub fn if_stmt(
    pos: Pos,
    test: Ex,
    body: Vec<Stmt>,
    elifs: Vec<(Pos, Ex, Vec<Stmt>)>,
    orelse: Vec<Stmt>,
) -> Stmt {
    let mut orelse = orelse;
    for (p, test, body) in elifs.into_iter().rev() {
        orelse = vec![stmt(
            p,
            StmtKind::If {
                test: test.e,
                body,
                orelse,
            },
        )];
    }
    stmt(
        pos,
        StmtKind::If {
            test: test.e,
            body,
            orelse,
        },
    )
}

/// One `for ... in ... if ...` clause of a comprehension, with its depth.
pub fn comp_clause<'a>(target: Ex, iter: Ex, ifs: Vec<Ex>) -> PResult<'a, (Comprehension, u32)> {
    check_target(&target.e, Ctx::Store)?;
    let (ifs, d) = unzip(ifs);
    let d = d.max(target.d).max(iter.d);
    Ok((
        Comprehension {
            target: target.e,
            iter: iter.e,
            ifs,
        },
        d,
    ))
}

pub fn comprehension<'a>(
    pos: Pos,
    kind: CompKind,
    elt: Ex,
    value: Option<Ex>,
    generators: Vec<(Comprehension, u32)>,
) -> PResult<'a, Ex> {
    if matches!(elt.e.kind, ExprKind::Starred(_)) {
        return fail(
            elt.e.pos,
            "iterable unpacking cannot be used in comprehension",
        );
    }
    let d = generators
        .iter()
        .map(|g| g.1)
        .fold(elt.d.max(depth_of(&value)), u32::max);
    let generators = generators.into_iter().map(|g| g.0).collect();
    let elt = Box::new(elt.e);
    let kind = match (kind, value) {
        (CompKind::Dict, Some(v)) => ExprKind::DictComp {
            key: elt,
            value: Box::new(v.e),
            generators,
        },
        (CompKind::List, _) => ExprKind::ListComp { elt, generators },
        (CompKind::Set, _) => ExprKind::SetComp { elt, generators },
        _ => ExprKind::GeneratorExp { elt, generators },
    };
    node(pos, kind, d)
}

/// Joins adjacent string literals; any f-string among them makes the result an f-string.
pub fn strings<'a>(pos: Pos, lits: Vec<Box<StrLit<'a>>>) -> PResult<'a, Ex> {
    if lits.iter().all(|l| matches!(**l, StrLit::Plain(_))) {
        let mut s = String::new();
        for lit in lits {
            if let StrLit::Plain(p) = *lit {
                s.push_str(&p);
            }
        }
        return Ok(leaf(pos, ExprKind::Str(s)));
    }
    let mut parts: Vec<FPart> = Vec::new();
    let mut d = 0;
    for lit in lits {
        match *lit {
            StrLit::Plain(s) => push_lit(&mut parts, s),
            StrLit::F(raw) => {
                let (fparts, fd) = fstring_parts(raw).map_err(user)?;
                d = d.max(fd);
                for part in fparts {
                    match part {
                        FPart::Lit(s) => push_lit(&mut parts, s),
                        value => parts.push(value),
                    }
                }
            }
        }
    }
    node(pos, ExprKind::FString(parts), d)
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

/// Parses the fields of one f-string; also returns the depth they add below the f-string
/// node (a field counts as a level).
fn fstring_parts(raw: Vec<RawFPart>) -> Result<(Vec<FPart>, u32), SyntaxError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut d = 0;
    for part in raw {
        match part {
            RawFPart::Lit(s) => out.push(FPart::Lit(s)),
            RawFPart::Field {
                expr,
                pos,
                conversion,
                spec,
            } => {
                let x = parse_fstring_expr(expr, pos)?;
                d = d.max(x.d + 1);
                let spec = match spec {
                    Some(s) => {
                        let (spec, sd) = fstring_parts(s)?;
                        d = d.max(sd + 1);
                        Some(spec)
                    }
                    None => None,
                };
                out.push(FPart::Value {
                    expr: Box::new(x.e),
                    conversion,
                    spec,
                });
            }
        }
    }
    Ok((out, d))
}

/// A call, with CPython's checks on the order of its arguments. `lparen` is where the
/// argument list starts (CPython's position of a sole generator argument).
pub fn call<'a>(
    pos: Pos,
    func: Ex,
    lparen: Pos,
    (items, trailing): (Vec<ArgItem>, bool),
) -> PResult<'a, Ex> {
    let count = items.len() + trailing as usize;
    let mut args = Vec::with_capacity(items.len());
    let mut d = func.d;
    let (mut keyword, mut unpacked_mapping) = (false, false);
    let mut names = HashSet::new();
    for item in items {
        match item {
            ArgItem::Positional(x) => {
                if unpacked_mapping {
                    return fail(
                        x.e.pos,
                        "positional argument follows keyword argument unpacking",
                    );
                }
                if keyword {
                    return fail(x.e.pos, "positional argument follows keyword argument");
                }
                d = d.max(x.d);
                args.push(Arg::Positional(x.e));
            }
            ArgItem::Generator(mut x) => {
                if count > 1 {
                    return fail(x.e.pos, "Generator expression must be parenthesized");
                }
                d = d.max(x.d);
                x.e.pos = lparen;
                args.push(Arg::Positional(x.e));
            }
            ArgItem::Star(p, x) => {
                if unpacked_mapping {
                    return fail(
                        p,
                        "iterable argument unpacking follows keyword argument unpacking",
                    );
                }
                d = d.max(x.d);
                args.push(Arg::Star(x.e));
            }
            ArgItem::Keyword(p, name, x) => {
                if !names.insert(name.clone()) {
                    return fail(p, &format!("keyword argument repeated: {name}"));
                }
                keyword = true;
                d = d.max(x.d);
                args.push(Arg::Keyword(name, x.e));
            }
            ArgItem::DoubleStar(x) => {
                unpacked_mapping = true;
                d = d.max(x.d);
                args.push(Arg::DoubleStar(x.e));
            }
        }
    }
    node(
        pos,
        ExprKind::Call {
            func: Box::new(func.e),
            args,
        },
        d,
    )
}

/// Validates a `def`/`lambda` parameter list and sorts it into `Params`; also returns the
/// depth of the deepest default value.
pub fn params<'a>(items: Vec<ParamItem>) -> PResult<'a, (Params, u32)> {
    let mut params = Params::default();
    let mut defaults_depth = 0;
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
                defaults_depth = defaults_depth.max(depth_of(&default));
                let default = default.map(|x| x.e);
                if phase == 0 {
                    if default.is_none() && seen_default {
                        return fail(pos, "non-default argument follows default argument");
                    }
                    seen_default |= default.is_some();
                    params.args.push(Param { name, default });
                } else {
                    bare_star = None;
                    params.kwonly.push(Param { name, default });
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
    Ok((params, defaults_depth))
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
fn leftmost(mut e: &Expr) -> &Expr {
    loop {
        e = match &e.kind {
            ExprKind::BinOp { left, .. } | ExprKind::Compare { left, .. } => left,
            ExprKind::Call { func, .. } => func,
            ExprKind::Attribute { value, .. } | ExprKind::Subscript { value, .. } => value,
            ExprKind::IfExp { body, .. } => body,
            ExprKind::BoolOp { values, .. } if !values.is_empty() => &values[0],
            ExprKind::Tuple(items) if items.first().is_some_and(|f| f.pos == e.pos) => &items[0],
            _ => return e,
        };
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
pub fn assign<'a>(pos: Pos, first: Ex, rest: Vec<Ex>) -> PResult<'a, Stmt> {
    let mut targets = vec![first.e];
    targets.extend(rest.into_iter().map(|x| x.e));
    let value = targets.pop().unwrap_or(Expr {
        pos,
        kind: ExprKind::None,
    });
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

pub fn aug_assign<'a>(pos: Pos, target: Ex, op: BinOp, value: Ex) -> PResult<'a, Stmt> {
    let (target, value) = (target.e, value.e);
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
pub fn ann_assign<'a>(pos: Pos, target: Ex, value: Option<Ex>) -> PResult<'a, Stmt> {
    let (target, value) = (target.e, value.map(|x| x.e));
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

pub fn del<'a>(pos: Pos, (targets, _): (Vec<Ex>, bool)) -> PResult<'a, Stmt> {
    let targets: Vec<Expr> = targets.into_iter().map(|x| x.e).collect();
    for t in &targets {
        check_target(t, Ctx::Del)?;
    }
    Ok(stmt(pos, StmtKind::Del(targets)))
}

#[cfg(test)]
mod tests {
    use super::*;

    // A compact prefix notation for asserting tree shapes.
    fn e(x: &Expr) -> String {
        let list = |v: &[Expr]| v.iter().map(e).collect::<Vec<_>>().join(" ");
        let gens = |g: &[Comprehension]| {
            g.iter()
                .map(|c| {
                    let ifs: String = c.ifs.iter().map(|i| format!(" if {}", e(i))).collect();
                    format!(" for {} in {}{ifs}", e(&c.target), e(&c.iter))
                })
                .collect::<String>()
        };
        let opt = |o: &Option<Box<Expr>>| o.as_ref().map_or(String::new(), |x| e(x));
        match &x.kind {
            ExprKind::Name(n) => n.clone(),
            ExprKind::Int(IntLit::Small(v)) => v.to_string(),
            ExprKind::Int(IntLit::Big(v)) => format!("big{v}"),
            ExprKind::Float(f) => format!("{f:?}"),
            ExprKind::Str(s) => format!("{s:?}"),
            ExprKind::FString(parts) => format!("f[{}]", fparts(parts)),
            ExprKind::True => "True".into(),
            ExprKind::False => "False".into(),
            ExprKind::None => "None".into(),
            ExprKind::Ellipsis => "...".into(),
            ExprKind::BinOp { left, op, right } => format!("({op:?} {} {})", e(left), e(right)),
            ExprKind::UnaryOp { op, operand } => format!("({op:?} {})", e(operand)),
            ExprKind::BoolOp { op, values } => format!("({op:?} {})", list(values)),
            ExprKind::Compare { left, ops } => {
                let rest: String = ops
                    .iter()
                    .map(|(op, x)| format!(" {op:?} {}", e(x)))
                    .collect();
                format!("(Cmp {}{rest})", e(left))
            }
            ExprKind::IfExp { test, body, orelse } => {
                format!("(If {} {} {})", e(test), e(body), e(orelse))
            }
            ExprKind::Lambda { params, body } => format!("(Lambda {} {})", p(params), e(body)),
            ExprKind::Call { func, args } => {
                let args: Vec<String> = args
                    .iter()
                    .map(|a| match a {
                        Arg::Positional(x) => e(x),
                        Arg::Star(x) => format!("*{}", e(x)),
                        Arg::Keyword(n, x) => format!("{n}={}", e(x)),
                        Arg::DoubleStar(x) => format!("**{}", e(x)),
                    })
                    .collect();
                format!("(Call {} {})", e(func), args.join(" "))
            }
            ExprKind::Attribute { value, attr } => format!("(. {} {attr})", e(value)),
            ExprKind::Subscript { value, index } => format!("([] {} {})", e(value), e(index)),
            ExprKind::Slice { lower, upper, step } => {
                format!("({}:{}:{})", opt(lower), opt(upper), opt(step))
            }
            ExprKind::Starred(x) => format!("*{}", e(x)),
            ExprKind::List(v) => format!("[{}]", list(v)),
            ExprKind::Tuple(v) => format!("(Tuple {})", list(v)),
            ExprKind::Set(v) => format!("{{{}}}", list(v)),
            ExprKind::Dict(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|(k, v)| match k {
                        Some(k) => format!("{}: {}", e(k), e(v)),
                        None => format!("**{}", e(v)),
                    })
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
            ExprKind::ListComp { elt, generators } => format!("[{}{}]", e(elt), gens(generators)),
            ExprKind::SetComp { elt, generators } => format!("{{{}{}}}", e(elt), gens(generators)),
            ExprKind::GeneratorExp { elt, generators } => {
                format!("(Gen {}{})", e(elt), gens(generators))
            }
            ExprKind::DictComp {
                key,
                value,
                generators,
            } => format!("{{{}: {}{}}}", e(key), e(value), gens(generators)),
        }
    }

    fn fparts(parts: &[FPart]) -> String {
        let v: Vec<String> = parts
            .iter()
            .map(|part| match part {
                FPart::Lit(s) => format!("{s:?}"),
                FPart::Value {
                    expr,
                    conversion,
                    spec,
                } => {
                    let conv = conversion.map_or(String::new(), |c| format!("!{c}"));
                    let spec = spec
                        .as_ref()
                        .map_or(String::new(), |s| format!(":[{}]", fparts(s)));
                    format!("{{{}{conv}{spec}}}", e(expr))
                }
            })
            .collect();
        v.join(" ")
    }

    fn p(params: &Params) -> String {
        let one = |x: &Param| match &x.default {
            Some(d) => format!("{}={}", x.name, e(d)),
            None => x.name.clone(),
        };
        let mut v: Vec<String> = params.args.iter().map(one).collect();
        match &params.vararg {
            Some(n) => v.push(format!("*{n}")),
            None if !params.kwonly.is_empty() => v.push("*".into()),
            None => {}
        }
        v.extend(params.kwonly.iter().map(one));
        if let Some(k) = &params.kwarg {
            v.push(format!("**{k}"));
        }
        format!("({})", v.join(" "))
    }

    fn body(v: &[Stmt]) -> String {
        v.iter().map(s).collect::<Vec<_>>().join("; ")
    }

    fn s(x: &Stmt) -> String {
        let list = |v: &[Expr]| v.iter().map(e).collect::<Vec<_>>().join(" ");
        match &x.kind {
            StmtKind::Expr(x) => e(x),
            StmtKind::Assign { targets, value } => format!("{} = {}", list(targets), e(value)),
            StmtKind::AugAssign { target, op, value } => {
                format!("{} {op:?}= {}", e(target), e(value))
            }
            StmtKind::If {
                test,
                body: b,
                orelse,
            } => format!("if {} {{{}}} else {{{}}}", e(test), body(b), body(orelse)),
            StmtKind::While {
                test,
                body: b,
                orelse,
            } => format!(
                "while {} {{{}}} else {{{}}}",
                e(test),
                body(b),
                body(orelse)
            ),
            StmtKind::For {
                target,
                iter,
                body: b,
                orelse,
            } => {
                format!(
                    "for {} in {} {{{}}} else {{{}}}",
                    e(target),
                    e(iter),
                    body(b),
                    body(orelse)
                )
            }
            StmtKind::Break => "break".into(),
            StmtKind::Continue => "continue".into(),
            StmtKind::Pass => "pass".into(),
            StmtKind::FunctionDef(f) => {
                format!("def {}{} {{{}}}", f.name, p(&f.params), body(&f.body))
            }
            StmtKind::Return(v) => format!("return {}", v.as_ref().map_or(String::new(), e)),
            StmtKind::Global(v) => format!("global {}", v.join(" ")),
            StmtKind::Nonlocal(v) => format!("nonlocal {}", v.join(" ")),
            StmtKind::Del(v) => format!("del {}", list(v)),
            StmtKind::Assert { test, msg } => format!(
                "assert {} {}",
                e(test),
                msg.as_ref().map_or(String::new(), e)
            ),
            StmtKind::Raise { exc, cause } => {
                format!(
                    "raise {} {}",
                    exc.as_ref().map_or(String::new(), e),
                    cause.as_ref().map_or(String::new(), e)
                )
            }
            StmtKind::Try {
                body: b,
                handlers,
                orelse,
                finalbody,
            } => {
                let hs: String = handlers
                    .iter()
                    .map(|h| {
                        let typ = h.typ.as_ref().map_or(String::new(), e);
                        format!(
                            " except {typ} {} {{{}}}",
                            h.name.as_deref().unwrap_or(""),
                            body(&h.body)
                        )
                    })
                    .collect();
                format!(
                    "try {{{}}}{hs} else {{{}}} finally {{{}}}",
                    body(b),
                    body(orelse),
                    body(finalbody)
                )
            }
            StmtKind::With { items, body: b } => {
                let items: Vec<String> = items
                    .iter()
                    .map(|i| match &i.target {
                        Some(t) => format!("{} as {}", e(&i.context), e(t)),
                        None => e(&i.context),
                    })
                    .collect();
                format!("with {} {{{}}}", items.join(", "), body(b))
            }
            StmtKind::Import(v) => format!("import {}", aliases(v)),
            StmtKind::ImportFrom { module, names } => {
                format!("from {module} import {}", aliases(names))
            }
        }
    }

    fn aliases(v: &[Alias]) -> String {
        let v: Vec<String> = v
            .iter()
            .map(|a| match &a.asname {
                Some(n) => format!("{} as {n}", a.name),
                None => a.name.clone(),
            })
            .collect();
        v.join(", ")
    }

    /// The module's statements in prefix notation.
    fn parse(src: &str) -> String {
        match parse_module(src) {
            Ok(v) => body(&v),
            Err(err) => panic!("{src:?}: {}: {} at {:?}", err.kind, err.msg, err.pos),
        }
    }

    /// The expression statement `src`.
    fn ex(src: &str) -> String {
        parse(src)
    }

    fn err(src: &str) -> SyntaxError {
        match parse_module(src) {
            Ok(v) => panic!("{src:?} parsed: {}", body(&v)),
            Err(e) => e,
        }
    }

    fn msg(src: &str) -> String {
        let e = err(src);
        format!("{}: {}", e.kind, e.msg)
    }

    fn at(src: &str) -> (u32, u32) {
        let e = err(src);
        (e.pos.line, e.pos.col)
    }

    #[test]
    fn precedence() {
        assert_eq!(ex("-2**2"), "(Neg (Pow 2 2))");
        assert_eq!(ex("2**-1"), "(Pow 2 (Neg 1))");
        assert_eq!(ex("2**3**2"), "(Pow 2 (Pow 3 2))");
        assert_eq!(ex("a - b - c"), "(Sub (Sub a b) c)");
        assert_eq!(ex("a + b * c ** d"), "(Add a (Mul b (Pow c d)))");
        assert_eq!(
            ex("a | b ^ c & d << e + f"),
            "(BitOr a (BitXor b (BitAnd c (LShift d (Add e f)))))"
        );
        assert_eq!(
            ex("a // b % c @ d / e"),
            "(Div (MatMul (Mod (FloorDiv a b) c) d) e)"
        );
        assert_eq!(ex("~a + -b - +c"), "(Sub (Add (Invert a) (Neg b)) (Pos c))");
        assert_eq!(ex("not a == b"), "(Not (Cmp a Eq b))");
        assert_eq!(ex("a or b and not c"), "(Or a (And b (Not c)))");
        assert_eq!(ex("a or b or c"), "(Or a b c)");
        assert_eq!(ex("(a or b) or c"), "(Or (Or a b) c)");
        assert_eq!(
            ex("a < b <= c > d >= e == f != g"),
            "(Cmp a Lt b LtE c Gt d GtE e Eq f NotEq g)"
        );
        assert_eq!(
            ex("a in b not in c is d is not e"),
            "(Cmp a In b NotIn c Is d IsNot e)"
        );
        assert_eq!(ex("a | b < c & d"), "(Cmp (BitOr a b) Lt (BitAnd c d))");
        assert_eq!(ex("a if b else c if d else e"), "(If b a (If d c e))");
        assert_eq!(ex("a or b if c and d else e"), "(If (And c d) (Or a b) e)");
        assert_eq!(ex("lambda: a if b else c"), "(Lambda () (If b a c))");
        assert_eq!(
            ex("lambda x, y=1, *a, z, w=2, **k: x"),
            "(Lambda (x y=1 *a z w=2 **k) x)"
        );
        assert_eq!(ex("lambda *, k: k"), "(Lambda (* k) k)");
        assert_eq!(ex("-a.b(c)[d]"), "(Neg ([] (Call (. a b) c) d))");
        assert_eq!(ex("a.b.c"), "(. (. a b) c)");
        assert_eq!(ex("not -1"), "(Not (Neg 1))");
        assert_eq!(ex("- - 1"), "(Neg (Neg 1))");
        assert_eq!(ex("(a)"), "a");
        assert_eq!(ex("((a, b))"), "(Tuple a b)");
    }

    #[test]
    fn displays_and_comprehensions() {
        assert_eq!(ex("()"), "(Tuple )");
        assert_eq!(ex("(1,)"), "(Tuple 1)");
        assert_eq!(ex("1, 2"), "(Tuple 1 2)");
        assert_eq!(ex("1,"), "(Tuple 1)");
        assert_eq!(ex("[1, *a, 2,]"), "[1 *a 2]");
        assert_eq!(ex("{}"), "{}");
        assert_eq!(ex("{1, *a}"), "{1 *a}");
        assert_eq!(ex("{1: 2, **d, 'k': v}"), "{1: 2, **d, \"k\": v}");
        assert_eq!(
            ex("[x*y for x in a if x for y in b if y if z]"),
            "[(Mul x y) for x in a if x for y in b if y if z]"
        );
        assert_eq!(ex("{k: v for k, v in d}"), "{k: v for (Tuple k v) in d}");
        assert_eq!(ex("{x for x in a}"), "{x for x in a}");
        assert_eq!(ex("(x for x in a)"), "(Gen x for x in a)");
        assert_eq!(
            ex("sum(x*x for x in a)"),
            "(Call sum (Gen (Mul x x) for x in a))"
        );
        assert_eq!(ex("[x for x in a or b if c]"), "[x for x in (Or a b) if c]");
        assert_eq!(
            ex("a[1:2, ::3, :, 4]"),
            "([] a (Tuple (1:2:) (::3) (::) 4))"
        );
        assert_eq!(ex("a[:]"), "([] a (::))");
        assert_eq!(ex("a[x:y:z]"), "([] a (x:y:z))");
        assert_eq!(ex("a[1,]"), "([] a (Tuple 1))");
        assert_eq!(ex("a[*b]"), "([] a (Tuple *b))");
        assert_eq!(ex("f(a, *b, c=1, **d)"), "(Call f a *b c=1 **d)");
        assert_eq!(ex("f(a=1, *b)"), "(Call f a=1 *b)");
        assert_eq!(ex("f()()"), "(Call (Call f ) )");
        assert_eq!(ex("..."), "...");
        assert_eq!(ex("None, True, False"), "(Tuple None True False)");
    }

    #[test]
    fn literals() {
        assert_eq!(
            ex("0x1f, 0o17, 0b101, 1_000_000"),
            "(Tuple 31 15 5 1000000)"
        );
        assert_eq!(
            ex("123456789012345678901234567890"),
            "big123456789012345678901234567890"
        );
        assert_eq!(
            ex("1.5, .5, 5., 1e-3, 1_0.5"),
            "(Tuple 1.5 0.5 5.0 0.001 10.5)"
        );
        assert_eq!(ex("'a' \"b\" '''c''' r'\\n'"), "\"abc\\\\n\"");
        assert_eq!(ex("'\\x41\\u00e9\\n'"), "\"Aé\\n\"");
    }

    #[test]
    fn fstrings() {
        assert_eq!(ex("f'a{x}b'"), "f[\"a\" {x} \"b\"]");
        assert_eq!(ex("f'{x!r}{y!s}{z!a}'"), "f[{x!r} {y!s} {z!a}]");
        assert_eq!(ex("f'{x:>8.3f}'"), "f[{x:[\">8.3f\"]}]");
        assert_eq!(ex("f'{x:{w}.{p}f}'"), "f[{x:[{w} \".\" {p} \"f\"]}]");
        assert_eq!(ex("f'{{}} {{x}}'"), "f[\"{} {x}\"]");
        assert_eq!(ex("f'{x=}'"), "f[\"x=\" {x!r}]");
        assert_eq!(ex("f'{x = :>4}'"), "f[\"x = \" {x:[\">4\"]}]");
        assert_eq!(ex("'a' f'{b}' 'c' f'd'"), "f[\"a\" {b} \"cd\"]");
        assert_eq!(ex("f''"), "f[]");
        assert_eq!(ex("f'{a + b * 2}'"), "f[{(Add a (Mul b 2))}]");
        assert_eq!(ex("f'{a, b}'"), "f[{(Tuple a b)}]");
        assert_eq!(ex("f'{ {\"k\": 1}[\"k\"] }'"), "f[{([] {\"k\": 1} \"k\")}]");
        assert_eq!(
            ex("f'{a != b}{a >= b}'"),
            "f[{(Cmp a NotEq b)} {(Cmp a GtE b)}]"
        );
        assert_eq!(ex("f\"{f'{x}'}\""), "f[{f[{x}]}]");
        assert_eq!(ex("f'''{\nx\n}'''"), "f[{x}]");
        assert_eq!(ex("rf'\\d{x}'"), "f[\"\\\\d\" {x}]");
        assert_eq!(msg("f'{1 +}'"), "SyntaxError: f-string: invalid syntax");
        assert_eq!(
            msg("f'{*a}'"),
            "SyntaxError: f-string: cannot use starred expression here"
        );
        assert_eq!(
            msg("f'{}'"),
            "SyntaxError: f-string: empty expression not allowed"
        );
        // The inner expression's position points into the source.
        let stmts = parse_module("x = 1\ny = f'ab{ c }'\n").unwrap();
        let StmtKind::Assign { value, .. } = &stmts[1].kind else {
            panic!()
        };
        let ExprKind::FString(parts) = &value.kind else {
            panic!()
        };
        let FPart::Value { expr, .. } = &parts[1] else {
            panic!()
        };
        assert_eq!((expr.pos.line, expr.pos.col), (2, 11));
    }

    #[test]
    fn statements() {
        assert_eq!(parse("a = b = 0"), "a b = 0");
        assert_eq!(parse("a, b = b, a"), "(Tuple a b) = (Tuple b a)");
        assert_eq!(parse("a, *b = c"), "(Tuple a *b) = c");
        assert_eq!(parse("[a, (b, c)] = d"), "[a (Tuple b c)] = d");
        assert_eq!(parse("a[0].b = c"), "(. ([] a 0) b) = c");
        assert_eq!(parse("x += 1; y **= 2;"), "x Add= 1; y Pow= 2");
        assert_eq!(parse("x: int = 5\ny: str"), "x = 5; pass");
        assert_eq!(
            parse("if a:\n  b\nelif c:\n  d\nelif e: f\nelse:\n  g\n"),
            "if a {b} else {if c {d} else {if e {f} else {g}}}"
        );
        assert_eq!(parse("while a: b; c\nelse: d"), "while a {b; c} else {d}");
        assert_eq!(
            parse("for k, v in d.items():\n  break\nelse:\n  continue"),
            "for (Tuple k v) in (Call (. d items) ) {break} else {continue}"
        );
        assert_eq!(
            parse("for x in *a, b: pass"),
            "for x in (Tuple *a b) {pass} else {}"
        );
        assert_eq!(
            parse("def f(a, b=1, *args, c, d=2, **kw):\n  return a, b\n"),
            "def f(a b=1 *args c d=2 **kw) {return (Tuple a b)}"
        );
        assert_eq!(parse("def f(*, k): return"), "def f(* k) {return }");
        assert_eq!(
            parse("def f(a: int, *b: str) -> bool: pass"),
            "def f(a *b) {pass}"
        );
        assert_eq!(parse("def f(\n  a,\n  b,\n): pass"), "def f(a b) {pass}");
        assert_eq!(parse("global a, b\nnonlocal c"), "global a b; nonlocal c");
        assert_eq!(
            parse("del a, b[0], c.d\ndel (e, f)"),
            "del a ([] b 0) (. c d); del (Tuple e f)"
        );
        assert_eq!(
            parse("assert x\nassert x, 'm'"),
            "assert x ; assert x \"m\""
        );
        assert_eq!(
            parse("raise\nraise E\nraise E('m') from C"),
            "raise  ; raise E ; raise (Call E \"m\") C"
        );
        assert_eq!(
            parse("try:\n  a\nexcept E as e:\n  b\nexcept (A, B):\n  c\nexcept:\n  d\nelse:\n  f\nfinally:\n  g\n"),
            "try {a} except E e {b} except (Tuple A B)  {c} except   {d} else {f} finally {g}"
        );
        assert_eq!(parse("try: a\nfinally: b"), "try {a} else {} finally {b}");
        assert_eq!(
            parse("with a as b, c, d as (e, f): pass"),
            "with a as b, c, d as (Tuple e f) {pass}"
        );
        assert_eq!(parse("import a.b as c, d"), "import a.b as c, d");
        assert_eq!(
            parse("from m import a, b as c\nfrom m import (x,\n  y,)"),
            "from m import a, b as c; from m import x, y"
        );
        assert_eq!(parse("pass; pass\n\n\n# c\n"), "pass; pass");
        assert_eq!(parse("if x: y\n"), "if x {y} else {}");
        assert_eq!(
            parse("x = 1\r\nif x:\r\n  y = 2\r\n"),
            "x = 1; if x {y = 2} else {}"
        );
    }

    #[test]
    fn positions() {
        let stmts = parse_module("x = 1\nif x:\n    y = a + b.c(d)\n").unwrap();
        assert_eq!((stmts[1].pos.line, stmts[1].pos.col), (2, 1));
        let StmtKind::If { body, .. } = &stmts[1].kind else {
            panic!()
        };
        assert_eq!((body[0].pos.line, body[0].pos.col), (3, 5));
        let StmtKind::Assign { value, .. } = &body[0].kind else {
            panic!()
        };
        assert_eq!((value.pos.line, value.pos.col), (3, 9));
        let ExprKind::BinOp { right, .. } = &value.kind else {
            panic!()
        };
        assert_eq!((right.pos.line, right.pos.col), (3, 13));
        // Columns count characters, not bytes.
        let stmts = parse_module("s = 'é' + x").unwrap();
        let StmtKind::Assign { value, .. } = &stmts[0].kind else {
            panic!()
        };
        let ExprKind::BinOp { right, .. } = &value.kind else {
            panic!()
        };
        assert_eq!(right.pos.col, 11);
    }

    #[test]
    fn assignment_target_errors() {
        assert_eq!(
            msg("1 = x"),
            "SyntaxError: cannot assign to literal here. Maybe you meant '==' instead of '='?"
        );
        assert_eq!(msg("f() = 1"), "SyntaxError: cannot assign to function call here. Maybe you meant '==' instead of '='?");
        assert_eq!(
            msg("a + b = c"),
            "SyntaxError: cannot assign to expression here. Maybe you meant '==' instead of '='?"
        );
        assert_eq!(msg("(a, 1) = x"), "SyntaxError: cannot assign to literal");
        assert_eq!(at("(a, 1) = x"), (1, 5));
        assert_eq!(
            msg("[a, f()] = x"),
            "SyntaxError: cannot assign to function call"
        );
        assert_eq!(
            msg("x = f() = 1"),
            "SyntaxError: cannot assign to function call"
        );
        assert_eq!(msg("True = 1"), "SyntaxError: cannot assign to True");
        assert_eq!(msg("a < b = 1"), "SyntaxError: cannot assign to comparison");
        assert_eq!(msg("del f()"), "SyntaxError: cannot delete function call");
        assert_eq!(msg("del *a"), "SyntaxError: cannot delete starred");
        assert_eq!(
            msg("for 1 in x: pass"),
            "SyntaxError: cannot assign to literal"
        );
        assert_eq!(
            msg("with a as f(): pass"),
            "SyntaxError: cannot assign to function call"
        );
        assert_eq!(
            msg("[x for 1 in y]"),
            "SyntaxError: cannot assign to literal"
        );
        assert_eq!(
            msg("f() += 1"),
            "SyntaxError: 'function call' is an illegal expression for augmented assignment"
        );
        assert_eq!(
            msg("a, b += 1"),
            "SyntaxError: 'tuple' is an illegal expression for augmented assignment"
        );
        assert_eq!(
            msg("*a = 1"),
            "SyntaxError: starred assignment target must be in a list or tuple"
        );
        assert_eq!(
            msg("*a, *b = 1"),
            "SyntaxError: multiple starred expressions in assignment"
        );
        assert_eq!(
            msg("if x = 1: pass"),
            "SyntaxError: invalid syntax. Maybe you meant '==' or ':=' instead of '='?"
        );
    }

    #[test]
    fn call_and_parameter_errors() {
        assert_eq!(
            msg("f(a=1, 2)"),
            "SyntaxError: positional argument follows keyword argument"
        );
        assert_eq!(
            msg("f(**a, b)"),
            "SyntaxError: positional argument follows keyword argument unpacking"
        );
        assert_eq!(
            msg("f(**a, *b)"),
            "SyntaxError: iterable argument unpacking follows keyword argument unpacking"
        );
        assert_eq!(
            msg("f(x for x in y, 1)"),
            "SyntaxError: Generator expression must be parenthesized"
        );
        assert_eq!(
            msg("f(a=1, a=2)"),
            "SyntaxError: keyword argument repeated: a"
        );
        assert_eq!(msg("f(True=1)"), "SyntaxError: cannot assign to True");
        let e = err("f(x, None =2)");
        assert_eq!(
            (e.msg.as_str(), e.pos.col, e.end_col),
            ("cannot assign to None", 6, Some(12))
        );
    }

    #[test]
    fn except_tuple_without_parentheses() {
        let e = err("try:\n  pass\nexcept A, B as e:\n  pass\n");
        assert_eq!(e.msg, "multiple exception types must be parenthesized");
        assert_eq!((e.pos.line, e.pos.col, e.end_col), (3, 8, Some(17)));
        // Without the `:` it is a plain syntax error at the comma.
        let e = err("try:\n  pass\nexcept A, B\n  pass\n");
        assert_eq!(
            (e.msg.as_str(), e.pos.line, e.pos.col),
            ("invalid syntax", 3, 9)
        );
        assert_eq!(at("try:\n  pass\nexcept A,:\n  pass\n"), (3, 9));
        assert_eq!(
            msg("def f(a=1, b): pass"),
            "SyntaxError: non-default argument follows default argument"
        );
        assert_eq!(
            msg("def f(*): pass"),
            "SyntaxError: named arguments must follow bare *"
        );
        assert_eq!(
            msg("def f(a, a): pass"),
            "SyntaxError: duplicate argument 'a' in function definition"
        );
        assert_eq!(
            msg("def f(**k, a): pass"),
            "SyntaxError: arguments cannot follow var-keyword argument"
        );
        assert_eq!(
            msg("def f(*a, *b): pass"),
            "SyntaxError: * argument may appear only once"
        );
        assert_eq!(
            msg("[*a for a in b]"),
            "SyntaxError: iterable unpacking cannot be used in comprehension"
        );
        assert_eq!(
            msg("(*a)"),
            "SyntaxError: cannot use starred expression here"
        );
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(msg("if x\n    pass\n"), "SyntaxError: expected ':'");
        assert_eq!(at("if x\n    pass\n"), (1, 5));
        assert_eq!(msg("def f()\n  pass"), "SyntaxError: expected ':'");
        assert_eq!(msg("for x in y\n  pass"), "SyntaxError: expected ':'");
        assert_eq!(msg("def f:\n  pass"), "SyntaxError: expected '('");
        assert_eq!(msg("x y\n"), "SyntaxError: invalid syntax");
        assert_eq!(at("x y\n"), (1, 3));
        assert_eq!(msg("else:\n"), "SyntaxError: invalid syntax");
        assert_eq!(
            msg("foo(1 2)\n"),
            "SyntaxError: invalid syntax. Perhaps you forgot a comma?"
        );
        assert_eq!(msg("foo(1 2\n"), "SyntaxError: '(' was never closed");
        assert_eq!(
            msg("x = [1, 2, 3\ny = 2\n"),
            "SyntaxError: '[' was never closed"
        );
        assert_eq!(msg("x = 1)\n"), "SyntaxError: unmatched ')'");
        assert_eq!(
            msg("x = 3 if y\n"),
            "SyntaxError: expected 'else' after 'if' expression"
        );
        assert_eq!(
            msg("x = {1: 2, 3}"),
            "SyntaxError: ':' expected after dictionary key"
        );
        assert_eq!(
            msg("print 'hi'"),
            "SyntaxError: Missing parentheses in call to 'print'. Did you mean print(...)?"
        );
        assert_eq!(
            msg("try:\n  pass\nx = 1\n"),
            "SyntaxError: expected 'except' or 'finally' block"
        );
        assert_eq!(
            msg("x = (n := 1)"),
            "SyntaxError: assignment expressions (':=') are not supported in Toy"
        );
        // A tokenizer error later in the file wins over a parser error, as in CPython.
        assert_eq!(
            msg("x y\nz = 'abc\n"),
            "SyntaxError: unterminated string literal (detected at line 2)"
        );
        assert_eq!(at("a = 1\nb = 2\nc d\n"), (3, 3));
    }

    #[test]
    fn indentation_errors() {
        assert_eq!(msg("  x = 1\n"), "IndentationError: unexpected indent");
        assert_eq!(at("  x = 1\n"), (1, 2));
        assert_eq!(
            msg("if x:\n  pass\n    y\n"),
            "IndentationError: unexpected indent"
        );
        assert_eq!(
            msg("if x:\npass\n"),
            "IndentationError: expected an indented block after 'if' statement on line 1"
        );
        assert_eq!(at("if x:\npass\n"), (2, 1));
        assert_eq!(
            msg("def f():\n"),
            "IndentationError: expected an indented block after function definition on line 1"
        );
        assert_eq!(
            msg("while x:\n  pass\nelse:\n"),
            "IndentationError: expected an indented block after 'else' statement on line 3"
        );
        assert_eq!(
            msg("for x in y:\n  if x:\n  pass\n"),
            "IndentationError: expected an indented block after 'if' statement on line 2"
        );
        assert_eq!(
            msg("try:\n  pass\nexcept:\n"),
            "IndentationError: expected an indented block after 'except' statement on line 3"
        );
        assert_eq!(
            msg("if x:\n    a\n  b\n"),
            "IndentationError: unindent does not match any outer indentation level"
        );
        assert_eq!(
            msg("if x:\n\ta\n        b\n"),
            "TabError: inconsistent use of tabs and spaces in indentation"
        );
    }

    #[test]
    fn reserved_features() {
        assert_eq!(
            msg("class A: pass"),
            "SyntaxError: 'class' is not supported in Toy"
        );
        assert_eq!(
            msg("class A(B):\n  def f(self): pass\n"),
            "SyntaxError: 'class' is not supported in Toy"
        );
        assert_eq!(
            msg("def f():\n  yield 1\n"),
            "SyntaxError: 'yield' is not supported in Toy"
        );
        assert_eq!(at("def f():\n  x = yield 1\n"), (2, 7));
        assert_eq!(
            msg("def f():\n  yield from g()\n"),
            "SyntaxError: 'yield' is not supported in Toy"
        );
        assert_eq!(
            msg("@dec\ndef f(): pass"),
            "SyntaxError: decorators are not supported in Toy"
        );
        assert_eq!(at("@dec\ndef f(): pass"), (1, 2));
        assert_eq!(
            msg("@dec\nclass A: pass"),
            "SyntaxError: 'class' is not supported in Toy"
        );
        assert_eq!(
            msg("async def f(): pass"),
            "SyntaxError: 'async'/'await' is not supported in Toy"
        );
        assert_eq!(
            msg("def f():\n  await x\n"),
            "SyntaxError: 'async'/'await' is not supported in Toy"
        );
        assert_eq!(
            msg("def f():\n  return [x async for x in y]\n"),
            "SyntaxError: 'async' is not supported in Toy"
        );
        // A real syntax error anywhere comes first, as with the reference oracle.
        assert_eq!(msg("class A: pass\nx y\n"), "SyntaxError: invalid syntax");
        // Unsupported Python syntax that is not reserved.
        assert_eq!(
            msg("b'x'"),
            "SyntaxError: bytes literals are not supported in Toy"
        );
        assert_eq!(
            msg("from . import x"),
            "SyntaxError: relative imports are not supported in Toy"
        );
        assert_eq!(
            msg("from m import *"),
            "SyntaxError: 'from ... import *' is not supported in Toy"
        );
    }

    #[test]
    fn at_eof() {
        let eof = |src: &str| parse_module(src).err().map(|e| e.at_eof);
        for src in [
            "def f():\n    if x:\n",
            "for x in y:\n  while z:\n",
            "def f():\n  try:\n    pass\n",
            "x = (1,",
            "x = [\n1,\n",
            "if x:",
            "if x:\n",
            "def f():\n",
            "s = '''abc\n",
            "x = 1 + \\",
            "x = \\\n",
            "@dec\n",
            "try:\n  pass\n",
            "f(1 2\n",
        ] {
            assert_eq!(eof(src), Some(true), "{src:?}");
        }
        for src in [
            "x = 1 +",
            "x = 'abc\n",
            "x y",
            "x = 1)",
            "  x",
            "if x:\npass\n",
            "x = (1 2)",
        ] {
            assert_eq!(eof(src), Some(false), "{src:?}");
        }
        assert_eq!(eof("if x:\n    pass\n"), None);
    }

    #[test]
    fn nul_bytes() {
        assert_eq!(
            msg("x = 1\0"),
            "SyntaxError: source code cannot contain null bytes"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        assert_eq!(
            msg(&"(".repeat(10_000)),
            "SyntaxError: too many nested parentheses"
        );
        assert_eq!(
            msg(&format!("{}{}", "[".repeat(10_000), "]".repeat(10_000))),
            "SyntaxError: too many nested parentheses"
        );
        assert_eq!(
            msg(&format!("x = {}1", "-".repeat(100_000))),
            "SyntaxError: too many nested expressions"
        );
        assert_eq!(
            msg(&format!("x = {}1", "not ".repeat(100_000))),
            "SyntaxError: too many nested expressions"
        );
        assert_eq!(
            msg(&format!("f{}", "()".repeat(50_000))),
            "SyntaxError: too many nested expressions"
        );
        assert_eq!(
            msg(&format!("x = {}1", "lambda: ".repeat(50_000))),
            "SyntaxError: too many nested expressions"
        );
        // The deepest trees accepted can be built and dropped on a test thread's stack.
        let deep = format!("x = {}1", "-".repeat(lexer_depth_limit() - 10));
        assert!(parse_module(&deep).is_ok());
        let deep = format!("x = {}1", "1 + ".repeat(lexer_depth_limit() - 10));
        assert!(parse_module(&deep).is_ok());
        let ok = format!("x = {}1{}", "(".repeat(199), ")".repeat(199));
        assert_eq!(parse(&ok), "x = 1");
        let long = format!("x = [{}]", "1, ".repeat(30_000));
        assert!(parse_module(&long).is_ok());
        let long_line = format!("x = '{}'", "a".repeat(100_000));
        assert!(parse_module(&long_line).is_ok());
    }

    fn lexer_depth_limit() -> usize {
        MAX_EXPR_DEPTH as usize
    }

    /// A small deterministic generator (no dependency needed).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng(0x9e3779b97f4a7c15);
        for _ in 0..3000 {
            let len = rng.below(200);
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let src = String::from_utf8_lossy(&bytes);
            let _ = parse_module(&src);
        }
    }

    #[test]
    fn random_token_soup_never_panics() {
        const PIECES: &[&str] = &[
            "x",
            "y",
            "1",
            "0x1f",
            "1.5",
            "'s'",
            "f'{x}'",
            "f'{x:{y}}'",
            "\"\"\"t\n\"\"\"",
            "(",
            ")",
            "[",
            "]",
            "{",
            "}",
            ",",
            ":",
            ";",
            ".",
            "=",
            "+",
            "-",
            "*",
            "**",
            "/",
            "//",
            "%",
            "@",
            "<",
            "==",
            "!=",
            "not",
            "in",
            "is",
            "and",
            "or",
            "if",
            "else",
            "elif",
            "for",
            "while",
            "def",
            "return",
            "lambda",
            "yield",
            "class",
            "try",
            "except",
            "finally",
            "with",
            "as",
            "import",
            "from",
            "del",
            "pass",
            "global",
            "\n",
            "\n",
            "\n    ",
            "\n  ",
            "\t",
            " ",
            "\\\n",
            "#c\n",
            "*=",
            "->",
            "...",
            "async",
            "await",
            "'unterminated",
            "0b2",
            "€",
            "\\",
        ];
        let mut rng = Rng(12345);
        for _ in 0..5000 {
            let n = rng.below(40);
            let src: String = (0..n)
                .map(|_| PIECES[rng.below(PIECES.len())])
                .collect::<Vec<_>>()
                .join(" ");
            let _ = parse_module(&src);
            let src: String = (0..n).map(|_| PIECES[rng.below(PIECES.len())]).collect();
            let _ = parse_module(&src);
        }
    }
}
