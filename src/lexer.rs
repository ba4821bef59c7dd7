//! The Toy lexer: turns source text into the token stream the lalrpop grammar consumes.
//!
//! Two layers. `Tok` derives a logos tokenizer for the raw lexemes (names, keywords, numbers,
//! operators, string literals found by a hand-written scanner, comments and newlines). `Lexer`
//! wraps it and does what Python's tokenizer does on top: it turns leading whitespace into
//! `Indent`/`Dedent`, emits `Newline` only at the end of a logical line (never inside `()[]{}`,
//! after a backslash continuation, or for blank and comment-only lines), checks bracket
//! matching, decodes string literals (escapes, f-string structure) and reports lexical errors
//! with CPython 3.11's messages. It yields `Result<(Pos, Tok, Pos), SyntaxError>` triples:
//! positions are 1-based line/column (in characters), computed incrementally, so the parser
//! never has to map byte offsets back to lines.
//!
//! Bracket nesting is limited to 200, as in CPython (the parser limits the depth of expression
//! trees, so that the later, recursive stages cannot overflow the stack).

use std::collections::VecDeque;

use logos::Logos;
use num_bigint::BigUint;

use crate::ast::{IntLit, Pos, SyntaxError};

/// Deepest bracket nesting accepted (CPython's tokenizer MAXLEVEL).
pub const MAX_BRACKET_DEPTH: usize = 200;
/// Deepest indentation accepted (CPython's tokenizer MAXINDENT).
pub const MAX_INDENT_DEPTH: usize = 100;

/// A token triple as lalrpop wants it.
pub type Spanned<'s> = (Pos, Tok<'s>, Pos);

/// Errors the raw (logos) tokenizer can report; `Lexer` turns them into `SyntaxError`s.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum RawError {
    /// A character that starts no token.
    #[default]
    InvalidChar,
    /// A string literal without its closing quote; `at` is the byte offset where that was
    /// noticed (the newline of a one-line string, or the end of the input).
    Unterminated { triple: bool, at: usize },
    /// `0123`.
    LeadingZeros,
}

/// A decoded string literal (one token; adjacent literals are joined by the parser).
#[derive(Debug, Clone)]
pub enum StrLit<'s> {
    /// An ordinary string, escapes already decoded.
    Plain(String),
    /// An f-string split into literal text and replacement fields whose expressions are still
    /// source text (the parser parses them).
    F(Vec<RawFPart<'s>>),
}

/// A piece of an f-string before its expressions are parsed.
#[derive(Debug, Clone)]
pub enum RawFPart<'s> {
    Lit(String),
    Field {
        /// The expression's source text (between `{` and `=`/`!`/`:`/`}`).
        expr: &'s str,
        /// Position of the first character of `expr`.
        pos: Pos,
        conversion: Option<char>,
        spec: Option<Vec<RawFPart<'s>>>,
    },
}

/// Tokens. The variants without a logos attribute are made by `Lexer` (layout tokens, decoded
/// strings) or by the parser glue (the start tokens that select the grammar's entry point).
#[derive(Logos, Debug, Clone)]
#[logos(error = RawError)]
#[logos(skip r"[ \t\x0c\r]+")]
pub enum Tok<'s> {
    Indent,
    Dedent,
    StartModule,
    StartExpr,
    /// The `(` of `with (a as b, c):` (whose items are in parentheses), told apart from the
    /// `(` of an expression by looking ahead for `):`.
    WithLParen,
    Str(Box<StrLit<'s>>),
    /// A string literal whose contents are invalid (a bad escape, a malformed f-string).
    /// CPython reports these from the parser, so a tokenizer error later in the file still
    /// wins: the lexer goes on, and the parser rejects this token with its error.
    BadStr(Box<SyntaxError>),

    #[token("\n")]
    Newline,
    #[regex(r"#[^\n]*", allow_greedy = true)]
    Comment,
    #[regex(r"\\\r?\n")]
    Continuation,
    #[token("\\")]
    Backslash,

    #[regex(r"[A-Za-z_\u{80}-\u{10FFFF}][A-Za-z0-9_\u{80}-\u{10FFFF}]*", |lex| lex.slice())]
    Name(&'s str),
    #[regex(r"[0-9](_?[0-9])*", lex_int)]
    #[regex(r"0[xX](_?[0-9a-fA-F])+", lex_int)]
    #[regex(r"0[oO](_?[0-7])+", lex_int)]
    #[regex(r"0[bB](_?[01])+", lex_int)]
    Int(IntLit),
    #[regex(
        r"[0-9](_?[0-9])*\.([0-9](_?[0-9])*)?([eE][+-]?[0-9](_?[0-9])*)?",
        lex_float
    )]
    #[regex(r"\.[0-9](_?[0-9])*([eE][+-]?[0-9](_?[0-9])*)?", lex_float)]
    #[regex(r"[0-9](_?[0-9])*[eE][+-]?[0-9](_?[0-9])*", lex_float)]
    Float(f64),
    /// A whole string literal, prefix and quotes included (decoded by `Lexer` into `Str`).
    #[regex(r#"([rRuUfFbB]|[rR][fFbB]|[fFbB][rR])?['"]"#, lex_string)]
    RawStr(&'s str),

    #[token("False")]
    False,
    #[token("None")]
    None,
    #[token("True")]
    True,
    #[token("and")]
    And,
    #[token("as")]
    As,
    #[token("assert")]
    Assert,
    #[token("async")]
    Async,
    #[token("await")]
    Await,
    #[token("break")]
    Break,
    #[token("class")]
    Class,
    #[token("continue")]
    Continue,
    #[token("def")]
    Def,
    #[token("del")]
    Del,
    #[token("elif")]
    Elif,
    #[token("else")]
    Else,
    #[token("except")]
    Except,
    #[token("finally")]
    Finally,
    #[token("for")]
    For,
    #[token("from")]
    From,
    #[token("global")]
    Global,
    #[token("if")]
    If,
    #[token("import")]
    Import,
    #[token("in")]
    In,
    #[token("is")]
    Is,
    #[token("lambda")]
    Lambda,
    #[token("nonlocal")]
    Nonlocal,
    #[token("not")]
    Not,
    #[token("or")]
    Or,
    #[token("pass")]
    Pass,
    #[token("raise")]
    Raise,
    #[token("return")]
    Return,
    #[token("try")]
    Try,
    #[token("while")]
    While,
    #[token("with")]
    With,
    #[token("yield")]
    Yield,

    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token(";")]
    Semi,
    #[token(".")]
    Dot,
    #[token("...")]
    Ellipsis,
    #[token("->")]
    Arrow,
    #[token(":=")]
    Walrus,
    #[token("@")]
    At,
    #[token("=")]
    Assign,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("//")]
    DoubleSlash,
    #[token("%")]
    Percent,
    #[token("**")]
    DoubleStar,
    #[token("<<")]
    LShift,
    #[token(">>")]
    RShift,
    #[token("&")]
    Amper,
    #[token("|")]
    VBar,
    #[token("^")]
    Caret,
    #[token("~")]
    Tilde,
    #[token("<")]
    Less,
    #[token(">")]
    Greater,
    #[token("<=")]
    LessEq,
    #[token(">=")]
    GreaterEq,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("+=")]
    PlusEq,
    #[token("-=")]
    MinusEq,
    #[token("*=")]
    StarEq,
    #[token("/=")]
    SlashEq,
    #[token("//=")]
    DoubleSlashEq,
    #[token("%=")]
    PercentEq,
    #[token("**=")]
    DoubleStarEq,
    #[token("@=")]
    AtEq,
    #[token("<<=")]
    LShiftEq,
    #[token(">>=")]
    RShiftEq,
    #[token("&=")]
    AmperEq,
    #[token("|=")]
    VBarEq,
    #[token("^=")]
    CaretEq,
}

/// Integer literal callback: strips underscores, converts any base, keeps big ones as digits.
fn lex_int<'s>(lex: &mut logos::Lexer<'s, Tok<'s>>) -> Result<IntLit, RawError> {
    let text: String = lex.slice().chars().filter(|&c| c != '_').collect();
    let (radix, digits) = match text.as_bytes().get(1) {
        Some(b'x' | b'X') => (16, &text[2..]),
        Some(b'o' | b'O') => (8, &text[2..]),
        Some(b'b' | b'B') => (2, &text[2..]),
        _ => (10, &text[..]),
    };
    if radix == 10
        && digits.len() > 1
        && digits.starts_with('0')
        && digits.bytes().any(|b| b != b'0')
    {
        return Err(RawError::LeadingZeros);
    }
    if let Ok(v) = i64::from_str_radix(digits, radix) {
        return Ok(IntLit::Small(v));
    }
    if radix == 10 {
        return Ok(IntLit::Big(digits.trim_start_matches('0').to_string()));
    }
    match BigUint::parse_bytes(digits.as_bytes(), radix) {
        Some(big) => Ok(IntLit::Big(big.to_string())),
        None => Err(RawError::InvalidChar),
    }
}

/// Float literal callback (Rust's parser accepts `1.`, `.5` and `1e5`; overflow gives inf).
fn lex_float<'s>(lex: &mut logos::Lexer<'s, Tok<'s>>) -> Result<f64, RawError> {
    let text: String = lex.slice().chars().filter(|&c| c != '_').collect();
    text.parse::<f64>().map_err(|_| RawError::InvalidChar)
}

/// String literal callback: the regex matched the prefix and the opening quote; find the
/// closing quote (a backslash always escapes the next character, also in raw strings).
fn lex_string<'s>(lex: &mut logos::Lexer<'s, Tok<'s>>) -> Result<&'s str, RawError> {
    let quote = *lex.slice().as_bytes().last().unwrap_or(&b'"');
    let rest = lex.remainder().as_bytes();
    let start = lex.span().end;
    let triple = rest.len() >= 2 && rest[0] == quote && rest[1] == quote;
    let mut i = if triple { 2 } else { 0 };
    loop {
        let Some(&b) = rest.get(i) else {
            return Err(RawError::Unterminated {
                triple,
                at: start + rest.len(),
            });
        };
        if b == b'\\' {
            i += 2;
            continue;
        }
        if b == quote {
            if !triple {
                lex.bump(i + 1);
                return Ok(lex.slice());
            }
            if rest.get(i + 1) == Some(&quote) && rest.get(i + 2) == Some(&quote) {
                lex.bump(i + 3);
                return Ok(lex.slice());
            }
        }
        if b == b'\n' && !triple {
            return Err(RawError::Unterminated {
                triple,
                at: start + i,
            });
        }
        i += 1;
    }
}

/// Maps byte offsets of one text to positions, moving forward incrementally.
#[derive(Clone)]
pub struct Cursor<'s> {
    src: &'s str,
    base: Pos,
    off: usize,
    pos: Pos,
}

impl<'s> Cursor<'s> {
    pub fn new(src: &'s str, base: Pos) -> Self {
        Cursor {
            src,
            base,
            off: 0,
            pos: base,
        }
    }

    /// The position of byte offset `off` (cheap when offsets only grow).
    pub fn pos_at(&mut self, off: usize) -> Pos {
        let off = off.min(self.src.len());
        if off < self.off {
            self.off = 0;
            self.pos = self.base;
        }
        let Some(text) = self.src.get(self.off..off) else {
            return self.pos;
        };
        for c in text.chars() {
            if c == '\n' {
                self.pos.line += 1;
                self.pos.col = 1;
            } else {
                self.pos.col += 1;
            }
        }
        self.off = off;
        self.pos
    }
}

/// A summary of a token the parser has received, for the parser's error messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokInfo {
    pub pos: Pos,
    /// Bracket depth after this token.
    pub depth: usize,
    /// The innermost bracket open before this token, and what it holds.
    pub enclosing: Option<(char, Role)>,
    /// The token can end an expression (a name, literal or closing bracket).
    pub ends_expr: bool,
    /// The token is a name.
    pub name: bool,
    /// The token is a soft keyword (`_`, `match`, `case`).
    pub soft_keyword: bool,
    /// The token is `.`.
    pub dot: bool,
    /// The token before this one was `.`.
    pub after_dot: bool,
    /// The token is the name `print` or `exec` (Python 2 statements).
    pub legacy: Option<&'static str>,
}

/// What the parser glue needs to know about the tokens around a parse error.
#[derive(Debug, Clone, Default)]
pub struct LexInfo {
    /// The most recent token given to the parser, and the one before it.
    pub last: TokInfo,
    pub prev: TokInfo,
    /// The first keyword of the logical line that ended most recently (for "expected an
    /// indented block after ..."), as Python describes it, and its line.
    pub prev_head: Option<(&'static str, u32)>,
    /// The same for the current logical line.
    pub head: Option<(&'static str, u32)>,
    /// The line of the last `except` token, and the first comma outside brackets after it on
    /// that line (`except A, B:`): CPython reports a parse error on such a line there.
    pub except_line: Option<u32>,
    pub except_comma: Option<Pos>,
}

/// The layout lexer: an iterator of tokens for the parser (see the module docs).
/// A token ready for the parser, with the bracket depth after it and the innermost bracket
/// before it.
type Queued<'s> = (Spanned<'s>, usize, Option<(char, Role)>);

pub struct Lexer<'s> {
    src: &'s str,
    raw: logos::Lexer<'s, Tok<'s>>,
    cur: Cursor<'s>,
    /// Tokens ready for the parser, each with the bracket depth after it and the innermost
    /// bracket before it (see `TokInfo`).
    queue: VecDeque<Queued<'s>>,
    /// Indentation stack: (column with tabs to multiples of 8, column with tabs as 1).
    indents: Vec<(u32, u32)>,
    /// Open brackets: the character, its position and what it holds.
    brackets: Vec<(u8, Pos, Role)>,
    /// The last token processed can end an expression (so a `(` after it opens a call).
    after_operand: bool,
    /// The last token processed was `with`.
    after_with: bool,
    /// 1 after `def`, 2 after `def NAME` (to recognise the parameter list's bracket).
    def_state: u8,
    /// Byte offset where the current physical line starts.
    line_begin: usize,
    at_line_start: bool,
    /// Expression mode (f-string fields): behaves as inside brackets, no layout tokens.
    expr_mode: bool,
    finished: bool,
    /// An error has been returned (the lexer yields nothing after it).
    failed: bool,
    /// Position just after a backslash continuation when nothing has followed it yet.
    pending_continuation: Option<Pos>,
    pub info: LexInfo,
}

impl<'s> Lexer<'s> {
    /// A lexer for a module (file, `-c` code or REPL input). Newlines should be `\n`
    /// (`parser::parse_module` normalises `\r\n` and `\r`).
    pub fn new(src: &'s str) -> Self {
        Self::with_mode(src, Pos { line: 1, col: 1 }, false)
    }

    /// A lexer for the expression of an f-string field that starts at `base`.
    pub fn for_expression(src: &'s str, base: Pos) -> Self {
        Self::with_mode(src, base, true)
    }

    fn with_mode(src: &'s str, base: Pos, expr_mode: bool) -> Self {
        let mut raw = Tok::lexer(src);
        let mut line_begin = 0;
        if src.starts_with('\u{feff}') {
            raw.bump('\u{feff}'.len_utf8());
            line_begin = '\u{feff}'.len_utf8();
        }
        // A byte-order mark is not a column.
        let mut cur = Cursor::new(src, base);
        cur.off = line_begin;
        Lexer {
            src,
            raw,
            cur,
            queue: VecDeque::new(),
            indents: vec![(0, 0)],
            brackets: Vec::new(),
            def_state: 0,
            after_operand: false,
            after_with: false,
            line_begin,
            at_line_start: !expr_mode,
            expr_mode,
            finished: false,
            failed: false,
            pending_continuation: None,
            info: LexInfo::default(),
        }
    }

    /// An error at byte offset `off`.
    fn error_at(&mut self, off: usize, msg: impl Into<String>) -> SyntaxError {
        let pos = self.cur.pos_at(off);
        SyntaxError::new(msg, pos)
    }

    /// Whether the whole input has been read (what is left are the final layout tokens).
    pub fn exhausted(&self) -> bool {
        self.finished
    }

    /// Whether the lexer has reported an error (then it is the error of the whole parse).
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// The innermost open bracket, and what it holds.
    pub fn innermost_bracket(&self) -> Option<(char, Role)> {
        self.brackets.last().map(|&(b, _, role)| (b as char, role))
    }

    fn fail(&mut self, err: SyntaxError) -> Option<Result<Spanned<'s>, SyntaxError>> {
        self.finished = true;
        self.failed = true;
        self.queue.clear();
        Some(Err(err))
    }

    /// Records a token handed to the parser.
    fn note(&mut self, tok: &Tok<'s>, pos: Pos, depth: usize, enclosing: Option<(char, Role)>) {
        let ends_expr = ends_expr(tok);
        let legacy = match tok {
            Tok::Name("print") => Some("print"),
            Tok::Name("exec") => Some("exec"),
            _ => None,
        };
        self.info.prev = self.info.last;
        match tok {
            Tok::Except => self.info.except_line = Some(pos.line),
            Tok::Comma
                if depth == 0
                    && self.info.except_line == Some(pos.line)
                    && self.info.except_comma.is_none_or(|c| c.line != pos.line) =>
            {
                self.info.except_comma = Some(pos)
            }
            _ => {}
        }
        let name = matches!(tok, Tok::Name(_));
        let soft_keyword = matches!(tok, Tok::Name("_" | "match" | "case"));
        let dot = matches!(tok, Tok::Dot);
        let after_dot = self.info.last.dot;
        self.info.last = TokInfo {
            pos,
            depth,
            enclosing,
            ends_expr,
            name,
            soft_keyword,
            dot,
            after_dot,
            legacy,
        };
    }

    /// Handles the end of the input: unclosed brackets, a dangling continuation, then the final
    /// NEWLINE and DEDENTs.
    fn finish(&mut self) -> Option<SyntaxError> {
        let end = self.src.len();
        let eof = self.cur.pos_at(end);
        if let Some(&(b, pos, _)) = self.brackets.last() {
            let mut e = SyntaxError::new(format!("'{}' was never closed", b as char), pos);
            e.at_eof = true;
            return Some(e);
        }
        if let Some(pos) = self.pending_continuation {
            let mut e = SyntaxError::new("unexpected EOF while parsing", pos);
            e.at_eof = true;
            return Some(e);
        }
        if self.expr_mode {
            return None;
        }
        if !self.at_line_start {
            self.queue.push_back(((eof, Tok::Newline, eof), 0, None));
            self.at_line_start = true;
        }
        while self.indents.len() > 1 {
            self.indents.pop();
            self.queue.push_back(((eof, Tok::Dedent, eof), 0, None));
        }
        None
    }

    /// At the first token of a logical line: compares its indentation with the stack and
    /// queues INDENT/DEDENT tokens (or fails as Python's tokenizer does).
    fn indentation(&mut self, tok_start: usize) -> Result<(), SyntaxError> {
        let (mut col, mut alt) = (0u32, 0u32);
        let ws = self.src.get(self.line_begin..tok_start).unwrap_or("");
        for c in ws.chars() {
            match c {
                ' ' => {
                    col += 1;
                    alt += 1;
                }
                '\t' => {
                    col = (col / 8 + 1) * 8;
                    alt += 1;
                }
                '\x0c' => {
                    col = 0;
                    alt = 0;
                }
                _ => break,
            }
        }
        let line_pos = self.cur.pos_at(self.line_begin);
        let tok_pos = self.cur.pos_at(tok_start);
        let tab_error = |pos: Pos| {
            let mut e = SyntaxError::new("inconsistent use of tabs and spaces in indentation", pos);
            e.kind = "TabError";
            e
        };
        let &(top, top_alt) = self.indents.last().unwrap_or(&(0, 0));
        if col == top {
            if alt != top_alt {
                return Err(tab_error(line_pos));
            }
        } else if col > top {
            if alt <= top_alt {
                return Err(tab_error(line_pos));
            }
            if self.indents.len() > MAX_INDENT_DEPTH {
                let mut e = SyntaxError::new("too many levels of indentation", tok_pos);
                e.kind = "IndentationError";
                return Err(e);
            }
            self.indents.push((col, alt));
            self.queue
                .push_back(((line_pos, Tok::Indent, tok_pos), 0, None));
        } else {
            while self.indents.len() > 1 && col < self.indents.last().map_or(0, |t| t.0) {
                self.indents.pop();
                self.queue
                    .push_back(((tok_pos, Tok::Dedent, tok_pos), 0, None));
            }
            let &(top, top_alt) = self.indents.last().unwrap_or(&(0, 0));
            if col != top {
                let line_end = self.src[tok_start..]
                    .find('\n')
                    .map_or(self.src.len(), |i| tok_start + i);
                let width = self
                    .src
                    .get(self.line_begin..line_end)
                    .map_or(0, |l| l.chars().count());
                let pos = Pos {
                    line: line_pos.line,
                    col: width as u32 + 1,
                };
                let mut e =
                    SyntaxError::new("unindent does not match any outer indentation level", pos);
                e.kind = "IndentationError";
                return Err(e);
            }
            if alt != top_alt {
                return Err(tab_error(line_pos));
            }
        }
        Ok(())
    }

    /// Checks what follows a number: `1abc`, `0b12`, `1_` and `1j` are errors, as is
    /// anything identifier-like except the keywords that may follow a number.
    fn check_number_end(&mut self, start: usize, end: usize) -> Result<(), SyntaxError> {
        let rest = &self.src[end..];
        let Some(c) = rest.chars().next() else {
            return Ok(());
        };
        if !(c.is_alphanumeric() || c == '_') {
            return Ok(());
        }
        let text = &self.src[start..end];
        if c == 'j' || c == 'J' {
            return Err(self.error_at(start, "complex numbers are not supported in Toy"));
        }
        let keyword_follows = ["and", "else", "for", "if", "in", "is", "not", "or"]
            .iter()
            .any(|k| rest.starts_with(k));
        // `0o`, `0x`, `0b` always start a prefixed literal (`0or` is a bad octal literal).
        let prefix = text == "0" && matches!(c, 'x' | 'X' | 'o' | 'O' | 'b' | 'B');
        if keyword_follows && !prefix {
            return Ok(());
        }
        let kind = match text.as_bytes().get(1) {
            Some(b'x' | b'X') => "hexadecimal",
            Some(b'o' | b'O') => "octal",
            Some(b'b' | b'B') => "binary",
            _ if prefix => {
                let (kind, ok): (&str, fn(char) -> bool) = match c {
                    'x' | 'X' => ("hexadecimal", |d| d.is_ascii_hexdigit()),
                    'o' | 'O' => ("octal", |d| ('0'..='7').contains(&d)),
                    _ => ("binary", |d| d == '0' || d == '1'),
                };
                let next = rest[1..].chars().next();
                return Err(match next {
                    Some(d) if d.is_ascii_digit() && !ok(d) && kind != "hexadecimal" => {
                        self.error_at(end + 1, format!("invalid digit '{d}' in {kind} literal"))
                    }
                    _ => self.error_at(end + 1, format!("invalid {kind} literal")),
                });
            }
            _ => "decimal",
        };
        if c.is_ascii_digit() && kind != "decimal" {
            return Err(self.error_at(end, format!("invalid digit '{c}' in {kind} literal")));
        }
        Err(self.error_at(start, format!("invalid {kind} literal")))
    }

    /// Checks a name's characters (the raw regex accepts any non-ASCII character).
    fn check_name(&mut self, start: usize, name: &str) -> Result<(), SyntaxError> {
        for (i, c) in name.char_indices() {
            if c.is_ascii()
                || c.is_alphanumeric() && !(i == 0 && c.is_numeric() && !c.is_alphabetic())
            {
                continue;
            }
            return Err(self.error_at(start + i, invalid_character(c)));
        }
        Ok(())
    }

    /// Processes one raw token (not a newline or comment): layout, brackets, literals.
    fn token(&mut self, tok: Tok<'s>, start: usize, end: usize) -> Result<(), SyntaxError> {
        self.pending_continuation = None;
        let enclosing = self.innermost_bracket();
        let first_of_line = self.at_line_start;
        if self.at_line_start {
            self.at_line_start = false;
            self.indentation(start)?;
        }
        let pos = self.cur.pos_at(start);
        if !matches!(tok, Tok::Name(_) | Tok::Def | Tok::LParen) {
            self.def_state = 0;
        }
        let tok = match tok {
            Tok::Backslash => {
                let after = self.cur.pos_at(end);
                let msg = if end >= self.src.len() {
                    let mut e = SyntaxError::new("unexpected EOF while parsing", after);
                    e.at_eof = true;
                    return Err(e);
                } else {
                    "unexpected character after line continuation character"
                };
                return Err(SyntaxError::new(msg, after));
            }
            Tok::Name(name) => {
                self.check_name(start, name)?;
                self.def_state = if self.def_state == 1 { 2 } else { 0 };
                tok
            }
            Tok::Def => {
                self.def_state = 1;
                tok
            }
            Tok::Int(_) | Tok::Float(_) => {
                self.check_number_end(start, end)?;
                tok
            }
            Tok::RawStr(text) => match decode_string(text, pos) {
                Ok(lit) => Tok::Str(Box::new(lit)),
                Err((off, msg)) => {
                    let mut c = Cursor::new(text, pos);
                    Tok::BadStr(Box::new(SyntaxError::new(msg, c.pos_at(off))))
                }
            },
            Tok::LParen | Tok::LBracket | Tok::LBrace => {
                if self.brackets.len() >= MAX_BRACKET_DEPTH {
                    return Err(SyntaxError::new("too many nested parentheses", pos));
                }
                let b = self.src.as_bytes()[start];
                let role = if self.def_state == 2 {
                    Role::DefParams
                } else if b == b'(' && self.after_operand {
                    Role::Call
                } else {
                    Role::Plain
                };
                self.brackets.push((b, pos, role));
                self.def_state = 0;
                let tok = if self.after_with && b == b'(' && self.parenthesized_with_items() {
                    Tok::WithLParen
                } else {
                    tok
                };
                return self.push(tok, end, pos, first_of_line, enclosing);
            }
            Tok::RParen | Tok::RBracket | Tok::RBrace => {
                let close = self.src.as_bytes()[start] as char;
                let Some((open, open_pos, _)) = self.brackets.pop() else {
                    return Err(SyntaxError::new(format!("unmatched '{close}'"), pos));
                };
                let open = open as char;
                if !matches!((open, close), ('(', ')') | ('[', ']') | ('{', '}')) {
                    let mut msg = format!(
                        "closing parenthesis '{close}' does not match opening parenthesis '{open}'"
                    );
                    if open_pos.line != pos.line {
                        msg += &format!(" on line {}", open_pos.line);
                    }
                    return Err(SyntaxError::new(msg, pos));
                }
                tok
            }
            Tok::Assign | Tok::Comma | Tok::For => {
                if let Some(b) = self.brackets.last_mut() {
                    b.2 = match (&tok, b.2) {
                        (Tok::Assign, Role::DefParams) => Role::DefDefault,
                        (Tok::Comma, Role::DefDefault) => Role::DefParams,
                        (Tok::For, Role::Plain | Role::Call) => Role::Comprehension,
                        (_, role) => role,
                    };
                }
                tok
            }
            _ => tok,
        };
        self.push(tok, end, pos, first_of_line, enclosing)
    }

    /// Just after `with (`: whether the parenthesis holds the whole list of items, as in
    /// `with (open(a) as f, open(b) as g):` (Python 3.10+), rather than starting the first
    /// item's expression (`with (a, b) as c:`, `with (x for x in y):`). Scans ahead to the
    /// matching `)` and checks that `:` follows (or, if it is never closed, that an `as` shows
    /// that items were meant).
    fn parenthesized_with_items(&self) -> bool {
        let mut ahead = self.raw.clone();
        let mut depth = 1usize;
        let mut saw_as = false;
        while let Some(Ok(tok)) = ahead.next() {
            match tok {
                Tok::LParen | Tok::LBracket | Tok::LBrace => depth += 1,
                Tok::RParen | Tok::RBracket | Tok::RBrace => {
                    depth -= 1;
                    if depth == 0 {
                        let next =
                            ahead.find(|t| !matches!(t, Ok(Tok::Comment | Tok::Continuation)));
                        return matches!(next, Some(Ok(Tok::Colon)));
                    }
                }
                Tok::For if depth == 1 => return false,
                Tok::As if depth == 1 => saw_as = true,
                _ => {}
            }
        }
        saw_as
    }

    /// Queues a processed token for the parser.
    fn push(
        &mut self,
        tok: Tok<'s>,
        end: usize,
        pos: Pos,
        first_of_line: bool,
        enclosing: Option<(char, Role)>,
    ) -> Result<(), SyntaxError> {
        if first_of_line {
            self.info.head = Some((head_description(&tok), pos.line));
        }
        self.after_operand = ends_expr(&tok);
        self.after_with = matches!(tok, Tok::With);
        let end_pos = self.cur.pos_at(end);
        self.queue
            .push_back(((pos, tok, end_pos), self.brackets.len(), enclosing));
        Ok(())
    }
}

impl<'s> Iterator for Lexer<'s> {
    type Item = Result<Spanned<'s>, SyntaxError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((item, depth, enclosing)) = self.queue.pop_front() {
                self.note(&item.1, item.0, depth, enclosing);
                return Some(Ok(item));
            }
            if self.finished {
                return None;
            }
            let Some(raw) = self.raw.next() else {
                self.finished = true;
                if let Some(e) = self.finish() {
                    return self.fail(e);
                }
                continue;
            };
            let span = self.raw.span();
            let tok = match raw {
                Ok(tok) => tok,
                Err(err) => {
                    // Bad indentation is found before anything on the line.
                    if self.at_line_start {
                        self.at_line_start = false;
                        if let Err(e) = self.indentation(span.start) {
                            return self.fail(e);
                        }
                    }
                    let e = self.raw_error(err, span.start);
                    return self.fail(e);
                }
            };
            match tok {
                Tok::Comment => {}
                Tok::Continuation => {
                    let pos = self.cur.pos_at(span.start);
                    self.pending_continuation = Some(Pos {
                        line: pos.line,
                        col: pos.col + 1,
                    });
                }
                Tok::Newline => {
                    self.pending_continuation = None;
                    if !(self.at_line_start || self.expr_mode || !self.brackets.is_empty()) {
                        let pos = self.cur.pos_at(span.start);
                        self.queue.push_back(((pos, Tok::Newline, pos), 0, None));
                        self.at_line_start = true;
                        self.info.prev_head = self.info.head.take();
                    }
                    self.line_begin = span.end;
                }
                tok => {
                    if let Err(e) = self.token(tok, span.start, span.end) {
                        return self.fail(e);
                    }
                }
            }
        }
    }
}

impl<'s> Lexer<'s> {
    fn raw_error(&mut self, err: RawError, start: usize) -> SyntaxError {
        match err {
            RawError::Unterminated { triple, at } => {
                // At the end of the input, the last line that has text.
                let at = if at >= self.src.len() && self.src.ends_with('\n') { at - 1 } else { at };
                let detected = self.cur.clone().pos_at(at).line;
                let kind = if triple { "triple-quoted string" } else { "string" };
                let mut e = self.error_at(start, format!("unterminated {kind} literal (detected at line {detected})"));
                e.at_eof = triple || at >= self.src.len();
                e
            }
            RawError::LeadingZeros => self.error_at(
                start,
                "leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers",
            ),
            RawError::InvalidChar => {
                let c = self.src[start..].chars().next().unwrap_or('\0');
                if c == '\0' {
                    self.error_at(start, "source code cannot contain null bytes")
                } else if c.is_ascii_graphic() || c == ' ' {
                    self.error_at(start, "invalid syntax")
                } else {
                    self.error_at(start, invalid_character(c))
                }
            }
        }
    }
}

/// What a bracket holds, as far as the parser's error messages care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Plain,
    /// The arguments of a call.
    Call,
    /// A `def`'s parameter list, at a parameter's name or annotation...
    DefParams,
    /// ... or at its default value.
    DefDefault,
    /// A comprehension or generator expression (after its `for`).
    Comprehension,
}

/// Whether a token can end an expression (a name, a literal or a closing bracket).
fn ends_expr(tok: &Tok) -> bool {
    matches!(
        tok,
        Tok::Name(_)
            | Tok::Int(_)
            | Tok::Float(_)
            | Tok::Str(_)
            | Tok::True
            | Tok::False
            | Tok::None
            | Tok::Ellipsis
            | Tok::RParen
            | Tok::RBracket
            | Tok::RBrace
    )
}

/// Python's message for a character that cannot appear outside strings and comments.
fn invalid_character(c: char) -> String {
    let printable = !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}'));
    if printable {
        format!("invalid character '{c}' (U+{:04X})", c as u32)
    } else {
        format!("invalid non-printable character U+{:04X}", c as u32)
    }
}

/// How Python names the block a line's first keyword opens, for "expected an indented block
/// after ...".
fn head_description(tok: &Tok) -> &'static str {
    match tok {
        Tok::If => "'if' statement",
        Tok::Elif => "'elif' statement",
        Tok::Else => "'else' statement",
        Tok::While => "'while' statement",
        Tok::For => "'for' statement",
        Tok::With => "'with' statement",
        Tok::Try => "'try' statement",
        Tok::Except => "'except' statement",
        Tok::Finally => "'finally' statement",
        Tok::Def | Tok::Async | Tok::At => "function definition",
        Tok::Class => "class definition",
        _ => "statement",
    }
}

/// Decodes one string literal token (prefix and quotes included). Errors carry a byte offset
/// into `text`.
pub fn decode_string<'s>(text: &'s str, pos: Pos) -> Result<StrLit<'s>, (usize, String)> {
    let prefix_len = text.find(['\'', '"']).unwrap_or(0);
    let prefix = text[..prefix_len].to_ascii_lowercase();
    let quote_len =
        if text[prefix_len..].starts_with("'''") || text[prefix_len..].starts_with("\"\"\"") {
            if text.len() >= prefix_len + 6 {
                3
            } else {
                1
            }
        } else {
            1
        };
    let body_start = prefix_len + quote_len;
    let body_end = text.len().saturating_sub(quote_len).max(body_start);
    let body = &text[body_start..body_end];
    let raw = prefix.contains('r');
    if prefix.contains('b') {
        return Err((0, "bytes literals are not supported in Toy".into()));
    }
    if prefix.contains('f') {
        let mut cur = Cursor::new(text, pos);
        let mut i = 0;
        let parts = fstring_parts(body, &mut i, raw, 0, &mut cur, body_start)
            .map_err(|(o, m)| (o + body_start, m))?;
        return Ok(StrLit::F(parts));
    }
    let s = if raw {
        body.to_string()
    } else {
        decode_escapes(body).map_err(|(o, m)| (o + body_start, m))?
    };
    Ok(StrLit::Plain(s))
}

/// Decodes backslash escapes as Python does for a non-raw `str` literal body.
pub fn decode_escapes(body: &str) -> Result<String, (usize, String)> {
    if !body.contains('\\') {
        return Ok(body.to_string());
    }
    let bytes = body.as_bytes();
    let mut out = String::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let Some(j) = body[i..].find('\\').map(|k| i + k) else {
            out.push_str(&body[i..]);
            break;
        };
        out.push_str(&body[i..j]);
        let Some(&e) = bytes.get(j + 1) else {
            return Err((j, "(unicode error) 'unicodeescape' codec can't decode bytes in position {j}-{j}: \\ at end of string".replace("{j}", &j.to_string())));
        };
        i = j + 2;
        match e {
            b'\n' => {}
            b'\\' => out.push('\\'),
            b'\'' => out.push('\''),
            b'"' => out.push('"'),
            b'a' => out.push('\x07'),
            b'b' => out.push('\x08'),
            b'f' => out.push('\x0c'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'v' => out.push('\x0b'),
            b'0'..=b'7' => {
                let mut v = (e - b'0') as u32;
                let mut k = 0;
                while k < 2 && matches!(bytes.get(i), Some(b'0'..=b'7')) {
                    v = v * 8 + (bytes[i] - b'0') as u32;
                    i += 1;
                    k += 1;
                }
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            b'x' | b'u' | b'U' => {
                let (n, name) = match e {
                    b'x' => (2, "\\xXX"),
                    b'u' => (4, "\\uXXXX"),
                    _ => (8, "\\UXXXXXXXX"),
                };
                let digits = body
                    .get(i..i + n)
                    .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
                let Some(digits) = digits else {
                    let good = bytes[i..]
                        .iter()
                        .take(n)
                        .take_while(|b| b.is_ascii_hexdigit())
                        .count();
                    return Err((
                        j,
                        format!(
                            "(unicode error) 'unicodeescape' codec can't decode bytes in position {}-{}: truncated {} escape",
                            j,
                            j + 1 + good,
                            name
                        ),
                    ));
                };
                let v = u32::from_str_radix(digits, 16).unwrap_or(0xfffd);
                i += n;
                match char::from_u32(v) {
                    Some(c) => out.push(c),
                    None if (0xd800..0xe000).contains(&v) => out.push('\u{fffd}'),
                    None => {
                        return Err((
                            j,
                            format!(
                                "(unicode error) 'unicodeescape' codec can't decode bytes in position {}-{}: illegal Unicode character",
                                j,
                                i - 1
                            ),
                        ))
                    }
                }
            }
            b'N' => {
                let close = if bytes.get(i) == Some(&b'{') {
                    body[i..].find('}').map(|k| i + k)
                } else {
                    None
                };
                let msg = match close {
                    Some(k) => match unicode_name(&body[i + 1..k]) {
                        Some(c) => {
                            out.push(c);
                            i = k + 1;
                            continue;
                        }
                        None => format!(
                            "(unicode error) 'unicodeescape' codec can't decode bytes in position {}-{}: unknown Unicode character name",
                            j, k
                        ),
                    },
                    None => format!(
                        "(unicode error) 'unicodeescape' codec can't decode bytes in position {}-{}: malformed \\N character escape",
                        j,
                        j + 1
                    ),
                };
                return Err((j, msg));
            }
            _ => {
                // Unknown escapes keep their backslash (Python only warns).
                out.push('\\');
                i = j + 1;
            }
        }
    }
    Ok(out)
}

/// The few `\N{...}` names Toy knows (Python knows all of Unicode's).
fn unicode_name(name: &str) -> Option<char> {
    let name = name.to_ascii_uppercase();
    Some(match name.as_str() {
        "NULL" => '\0',
        "SPACE" => ' ',
        "NO-BREAK SPACE" => '\u{a0}',
        "BULLET" => '\u{2022}',
        "EM DASH" => '\u{2014}',
        "EN DASH" => '\u{2013}',
        "HORIZONTAL ELLIPSIS" => '\u{2026}',
        "DEGREE SIGN" => '\u{b0}',
        "GREEK SMALL LETTER ALPHA" => 'α',
        "GREEK SMALL LETTER BETA" => 'β',
        "GREEK SMALL LETTER PI" => 'π',
        "GREEK CAPITAL LETTER DELTA" => 'Δ',
        "GREEK CAPITAL LETTER OMEGA" => 'Ω',
        "MICRO SIGN" => 'µ',
        "COPYRIGHT SIGN" => '©',
        "EURO SIGN" => '€',
        "POUND SIGN" => '£',
        "CHECK MARK" => '✓',
        "RIGHTWARDS ARROW" => '→',
        "LEFTWARDS ARROW" => '←',
        "BLACK STAR" => '★',
        "SNOWMAN" => '☃',
        "LATIN SMALL LETTER E WITH ACUTE" => 'é',
        "INFINITY" => '∞',
        "MULTIPLICATION SIGN" => '×',
        "DIVISION SIGN" => '÷',
        "PLUS-MINUS SIGN" => '±',
        "LINE FEED" | "LF" => '\n',
        "CARRIAGE RETURN" | "CR" => '\r',
        "CHARACTER TABULATION" | "TAB" => '\t',
        "ESCAPE" | "ESC" => '\x1b',
        "BELL" | "BEL" => '\x07',
        "DELETE" | "DEL" => '\x7f',
        _ => return None,
    })
}

/// Splits an f-string body (or, at `lvl` 1, a format spec) into literal text and fields,
/// following CPython 3.11's `fstring_find_literal`/`fstring_find_expr`. `i` moves through
/// `s`; `cur` maps offsets of the whole token (`s` starts at `s_off` in it) to positions.
/// Errors carry a byte offset into `s`.
fn fstring_parts<'s>(
    s: &'s str,
    i: &mut usize,
    raw: bool,
    lvl: u32,
    cur: &mut Cursor<'s>,
    s_off: usize,
) -> Result<Vec<RawFPart<'s>>, (usize, String)> {
    let b = s.as_bytes();
    let n = b.len();
    let mut parts = Vec::new();
    loop {
        // The literal part, up to a `{` (field) or `}` (end of a format spec).
        let lit_start = *i;
        let mut doubled = false;
        while *i < n {
            let mut c = b[*i];
            *i += 1;
            if !raw && c == b'\\' && *i < n {
                c = b[*i];
                *i += 1;
                if c == b'N' {
                    if *i < n && b[*i] == b'{' {
                        *i += 1;
                        while *i < n && b[*i] != b'}' {
                            *i += 1;
                        }
                        *i = (*i + 1).min(n);
                    }
                    continue;
                }
            }
            if c == b'{' || c == b'}' {
                if lvl == 0 {
                    if *i < n && b[*i] == c {
                        doubled = true;
                        break;
                    }
                    if c == b'}' {
                        return Err((*i - 1, "f-string: single '}' is not allowed".into()));
                    }
                }
                *i -= 1;
                break;
            }
        }
        let lit = &s[lit_start..*i];
        if doubled {
            *i += 1;
        }
        if !lit.is_empty() {
            let text = if raw {
                lit.to_string()
            } else {
                decode_escapes(lit).map_err(|(o, m)| (lit_start + o, m))?
            };
            match parts.last_mut() {
                Some(RawFPart::Lit(prev)) => prev.push_str(&text),
                _ => parts.push(RawFPart::Lit(text)),
            }
        }
        if doubled {
            continue;
        }
        if *i >= n || b[*i] == b'}' {
            break;
        }
        // A field: `{` expr [=] [!conv] [:spec] `}`.
        if lvl >= 2 {
            return Err((*i, "f-string: expressions nested too deeply".into()));
        }
        *i += 1;
        let expr_start = *i;
        let mut stack: Vec<u8> = Vec::new();
        let mut quote: Option<(u8, bool)> = None;
        while *i < n {
            let c = b[*i];
            if c == b'\\' {
                return Err((
                    *i,
                    "f-string expression part cannot include a backslash".into(),
                ));
            }
            if let Some((q, triple)) = quote {
                if c == q {
                    if triple {
                        if *i + 2 < n && b[*i + 1] == q && b[*i + 2] == q {
                            *i += 2;
                            quote = None;
                        }
                    } else {
                        quote = None;
                    }
                }
                *i += 1;
                continue;
            }
            match c {
                b'\'' | b'"' => {
                    let triple = *i + 2 < n && b[*i + 1] == c && b[*i + 2] == c;
                    if triple {
                        *i += 2;
                    }
                    quote = Some((c, triple));
                }
                b'[' | b'{' | b'(' => {
                    if stack.len() >= MAX_BRACKET_DEPTH {
                        return Err((*i, "f-string: too many nested parenthesis".into()));
                    }
                    stack.push(c);
                }
                b'#' => return Err((*i, "f-string expression part cannot include '#'".into())),
                b'!' | b':' | b'}' | b'=' | b'>' | b'<' if stack.is_empty() => {
                    if *i + 1 < n && b[*i + 1] == b'=' && c != b':' && c != b'}' {
                        *i += 2;
                        continue;
                    }
                    if c == b'>' || c == b'<' {
                        *i += 1;
                        continue;
                    }
                    break;
                }
                b']' | b'}' | b')' => {
                    let Some(open) = stack.pop() else {
                        return Err((*i, format!("f-string: unmatched '{}'", c as char)));
                    };
                    if !matches!((open, c), (b'(', b')') | (b'[', b']') | (b'{', b'}')) {
                        return Err((
                            *i,
                            format!(
                                "f-string: closing parenthesis '{}' does not match opening parenthesis '{}'",
                                c as char, open as char
                            ),
                        ));
                    }
                }
                _ => {}
            }
            *i += 1;
        }
        if quote.is_some() {
            return Err((*i, "f-string: unterminated string".into()));
        }
        if let Some(&open) = stack.last() {
            return Err((*i, format!("f-string: unmatched '{}'", open as char)));
        }
        let expecting = |i: usize| (i, "f-string: expecting '}'".to_string());
        if *i >= n {
            return Err(expecting(*i));
        }
        let expr = &s[expr_start..*i];
        if expr
            .trim_matches(|c: char| c.is_ascii_whitespace())
            .is_empty()
        {
            return Err((*i, "f-string: empty expression not allowed".into()));
        }
        let pos = cur.pos_at(s_off + expr_start);
        let mut self_doc = None;
        if b[*i] == b'=' {
            *i += 1;
            while *i < n && b[*i].is_ascii_whitespace() {
                *i += 1;
            }
            if *i >= n {
                return Err(expecting(*i));
            }
            self_doc = Some(s[expr_start..*i].to_string());
        }
        let mut conversion = None;
        if b[*i] == b'!' {
            *i += 1;
            let Some(c) = s[*i..].chars().next() else {
                return Err(expecting(*i));
            };
            *i += c.len_utf8();
            if !matches!(c, 's' | 'r' | 'a') {
                return Err((
                    *i,
                    "f-string: invalid conversion character: expected 's', 'r', or 'a'".into(),
                ));
            }
            conversion = Some(c);
        }
        let mut spec = None;
        if *i < n && b[*i] == b':' {
            *i += 1;
            if *i >= n {
                return Err(expecting(*i));
            }
            spec = Some(fstring_parts(s, i, raw, lvl + 1, cur, s_off)?);
        }
        if *i >= n || b[*i] != b'}' {
            return Err(expecting(*i));
        }
        *i += 1;
        if self_doc.is_some() && spec.is_none() && conversion.is_none() {
            conversion = Some('r');
        }
        if let Some(text) = &self_doc {
            match parts.last_mut() {
                Some(RawFPart::Lit(prev)) => prev.push_str(text),
                _ => parts.push(RawFPart::Lit(text.clone())),
            }
        }
        parts.push(RawFPart::Field {
            expr,
            pos,
            conversion,
            spec,
        });
    }
    if lvl == 0 && *i < n {
        return Err((*i, "f-string: unexpected end of string".into()));
    }
    if lvl > 0 && (*i >= n || b[*i] != b'}') {
        return Err((*i, "f-string: expecting '}'".into()));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The token stream as a compact string: layout tokens by name, others by their text.
    fn toks(src: &str) -> String {
        let mut out = Vec::new();
        for item in Lexer::new(src) {
            match item {
                Ok((_, tok, _)) => out.push(match tok {
                    Tok::Indent => "INDENT".to_string(),
                    Tok::Dedent => "DEDENT".to_string(),
                    Tok::Newline => "NL".to_string(),
                    Tok::Name(n) => n.to_string(),
                    Tok::Int(IntLit::Small(v)) => v.to_string(),
                    Tok::Int(IntLit::Big(v)) => format!("big:{v}"),
                    Tok::Float(f) => format!("{f:?}"),
                    Tok::Str(s) => match *s {
                        StrLit::Plain(s) => format!("{s:?}"),
                        StrLit::F(parts) => format!("f{parts:?}"),
                    },
                    other => format!("{other:?}"),
                }),
                Err(e) => out.push(format!(
                    "ERR({}: {} @{}:{})",
                    e.kind, e.msg, e.pos.line, e.pos.col
                )),
            }
        }
        out.join(" ")
    }

    /// The first error: a lexer error, or the error carried by a bad string literal.
    fn err(src: &str) -> SyntaxError {
        let first = Lexer::new(src).find_map(|t| match t {
            Err(e) => Some(e),
            Ok((_, Tok::BadStr(e), _)) => Some(*e),
            Ok(_) => None,
        });
        match first {
            Some(e) => e,
            None => panic!("no error for {src:?}"),
        }
    }

    #[test]
    fn indentation() {
        assert_eq!(
            toks("if x:\n    y\nz\n"),
            "If x Colon NL INDENT y NL DEDENT z NL"
        );
        assert_eq!(
            toks("if a:\n  if b:\n    c\n  d\ne"),
            "If a Colon NL INDENT If b Colon NL INDENT c NL DEDENT d NL DEDENT e NL"
        );
        // Dedent of several levels at once, and at the end of the input.
        assert_eq!(
            toks("if a:\n if b:\n  c\nd\n"),
            "If a Colon NL INDENT If b Colon NL INDENT c NL DEDENT DEDENT d NL"
        );
        assert_eq!(toks("if a:\n  b"), "If a Colon NL INDENT b NL DEDENT");
        // Blank lines, comment-only lines (at any indentation) and trailing comments.
        assert_eq!(toks("a\n\n   \n  # c\n\t\nb  # c\n"), "a NL b NL");
        assert_eq!(
            toks("if a:\n\n    # c\n  # d\n    b\n"),
            "If a Colon NL INDENT b NL DEDENT"
        );
        // Newlines inside brackets and after a backslash are not tokens; nor is indentation.
        assert_eq!(
            toks("x = (1,\n  2,\n      3)\n"),
            "x Assign LParen 1 Comma 2 Comma 3 RParen NL"
        );
        assert_eq!(
            toks("x = [\n]\ny = {\n}\n"),
            "x Assign LBracket RBracket NL y Assign LBrace RBrace NL"
        );
        assert_eq!(toks("x = 1 + \\\n      2\n"), "x Assign 1 Plus 2 NL");
        // Tabs count to the next multiple of 8, consistently.
        assert_eq!(
            toks("if a:\n\tb\n\tc\n"),
            "If a Colon NL INDENT b NL c NL DEDENT"
        );
        assert_eq!(toks(""), "");
        assert_eq!(toks("\n\n# only a comment"), "");
        assert_eq!(toks("\u{feff}x\n"), "x NL");
    }

    #[test]
    fn indentation_errors() {
        let e = err("if a:\n    b\n  c\n");
        assert_eq!(
            (e.kind, e.msg.as_str()),
            (
                "IndentationError",
                "unindent does not match any outer indentation level"
            )
        );
        assert_eq!((e.pos.line, e.pos.col), (3, 4));
        let e = err("if a:\n\tb\n        c\n");
        assert_eq!(
            (e.kind, e.msg.as_str()),
            (
                "TabError",
                "inconsistent use of tabs and spaces in indentation"
            )
        );
        assert_eq!(e.pos.line, 3);
        let deep: String = (0..101)
            .map(|i| format!("{}if x:\n", " ".repeat(i)))
            .collect::<String>()
            + &" ".repeat(101)
            + "y\n";
        let e = err(&deep);
        assert_eq!(
            (e.kind, e.msg.as_str()),
            ("IndentationError", "too many levels of indentation")
        );
    }

    #[test]
    fn brackets() {
        assert_eq!(err("x = (1,\n2\n").msg, "'(' was never closed");
        assert!(err("x = (1,\n2\n").at_eof);
        assert_eq!((err("x = [\n").pos.line, err("x = [\n").pos.col), (1, 5));
        assert_eq!(err("x = 1)\n").msg, "unmatched ')'");
        assert_eq!(
            err("x = [1)\n").msg,
            "closing parenthesis ')' does not match opening parenthesis '['"
        );
        assert_eq!(
            err("x = [1\n)\n").msg,
            "closing parenthesis ')' does not match opening parenthesis '[' on line 1"
        );
        let ok = "(".repeat(200) + &")".repeat(200);
        assert!(!toks(&ok).contains("ERR"));
        let deep = "(".repeat(10_000);
        assert_eq!(err(&deep).msg, "too many nested parentheses");
    }

    #[test]
    fn continuation_errors() {
        let e = err("x = \\");
        assert_eq!(
            (e.msg.as_str(), e.at_eof),
            ("unexpected EOF while parsing", true)
        );
        let e = err("x = \\\n");
        assert_eq!(
            (e.msg.as_str(), e.at_eof),
            ("unexpected EOF while parsing", true)
        );
        let e = err("x = 1 \\ 2\n");
        assert_eq!(
            e.msg,
            "unexpected character after line continuation character"
        );
        assert_eq!((e.pos.line, e.pos.col), (1, 8));
    }

    #[test]
    fn integers() {
        assert_eq!(
            toks("0 7 1_000_000 0x1f 0X_FF 0o17 0O7 0b101 0B1_0"),
            "0 7 1000000 31 255 15 7 5 2 NL"
        );
        assert_eq!(toks("9223372036854775807"), "9223372036854775807 NL");
        assert_eq!(toks("9223372036854775808"), "big:9223372036854775808 NL");
        assert_eq!(
            toks("0x1_0000_0000_0000_0000"),
            "big:18446744073709551616 NL"
        );
        assert_eq!(toks("00 0_0"), "0 0 NL");
        assert_eq!(toks("1if x else 2"), "1 If x Else 2 NL");
    }

    #[test]
    fn integer_errors() {
        for (src, msg) in [
            ("0123", "leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers"),
            ("1_", "invalid decimal literal"),
            ("1__0", "invalid decimal literal"),
            ("1abc", "invalid decimal literal"),
            ("1e", "invalid decimal literal"),
            ("0x", "invalid hexadecimal literal"),
            ("0xg", "invalid hexadecimal literal"),
            ("0b12", "invalid digit '2' in binary literal"),
            ("0b2", "invalid digit '2' in binary literal"),
            ("0o8", "invalid digit '8' in octal literal"),
            ("0or x", "invalid octal literal"),
            ("1j", "complex numbers are not supported in Toy"),
        ] {
            assert_eq!(err(src).msg, msg, "{src}");
        }
    }

    #[test]
    fn floats() {
        assert_eq!(
            toks("1.5 .5 5. 1e-3 1E+5 1_0.5 1_000.000_1e1_0 1e400 0.0"),
            "1.5 0.5 5.0 0.001 100000.0 10.5 10000001000000.0 inf 0.0 NL"
        );
        assert_eq!(toks("x.y 1 .real"), "x Dot y 1 Dot real NL");
    }

    #[test]
    fn strings() {
        assert_eq!(
            toks(r#"'a' "b" '''c''' """d""" '' "" ''''''"#),
            r#""a" "b" "c" "d" "" "" "" NL"#
        );
        assert_eq!(toks("'''a'b''c\nd'''"), r#""a'b''c\nd" NL"#);
        assert_eq!(
            toks(r"r'\n\'' R'\d' u'x' U'y'"),
            r#""\\n\\'" "\\d" "x" "y" NL"#
        );
        assert_eq!(
            toks(r#"'\n\t\r\\\'\"\0\a\b\f\v\x41\u00e9\U0001F600\101\7\777'"#),
            format!("{:?} NL", "\n\t\r\\'\"\0\x07\x08\x0c\x0bAé😀A\x07\u{1ff}")
        );
        // Unknown escapes keep the backslash; backslash-newline disappears outside raw strings.
        assert_eq!(toks(r"'\d\q'"), r#""\\d\\q" NL"#);
        assert_eq!(toks("'a\\\nb' r'a\\\nb'"), r#""ab" "a\\\nb" NL"#);
        assert_eq!(toks(r"'\N{BULLET}'"), r#""•" NL"#);
        assert_eq!(toks("'é变'"), r#""é变" NL"#);
        assert_eq!(toks("'''a\r\nb'''"), r#""a\r\nb" NL"#);
    }

    #[test]
    fn string_errors() {
        let e = err("x = 'abc\n");
        assert_eq!(e.msg, "unterminated string literal (detected at line 1)");
        assert_eq!((e.pos.line, e.pos.col, e.at_eof), (1, 5, false));
        let e = err("x = f'abc");
        assert_eq!(
            (e.msg.as_str(), e.pos.col),
            ("unterminated string literal (detected at line 1)", 5)
        );
        let e = err("x = 'a\\\nbc\n");
        assert_eq!(e.msg, "unterminated string literal (detected at line 2)");
        let e = err("x = '''abc\n\nxx");
        assert_eq!(
            e.msg,
            "unterminated triple-quoted string literal (detected at line 3)"
        );
        assert!(e.at_eof);
        let e = err("def f():\n  '''doc\n");
        assert_eq!(
            e.msg,
            "unterminated triple-quoted string literal (detected at line 2)"
        );
        assert_eq!((e.pos.line, e.pos.col), (2, 3));
        assert_eq!(
            err(r"'ab\xg'").msg,
            r"(unicode error) 'unicodeescape' codec can't decode bytes in position 2-3: truncated \xXX escape"
        );
        assert!(err(r"'\u12'").msg.ends_with(r"truncated \uXXXX escape"));
        assert!(err(r"'\U0011ffff'")
            .msg
            .ends_with("illegal Unicode character"));
        assert!(err(r"'\N{NO SUCH NAME}'")
            .msg
            .ends_with("unknown Unicode character name"));
        assert_eq!(err("b'x'").msg, "bytes literals are not supported in Toy");
    }

    #[test]
    fn fstring_structure() {
        fn parts(src: &str) -> Vec<RawFPart<'_>> {
            match Lexer::new(src).next() {
                Some(Ok((_, Tok::Str(s), _))) => match *s {
                    StrLit::F(p) => p,
                    StrLit::Plain(_) => panic!("not an f-string"),
                },
                other => panic!("{other:?}"),
            }
        }
        let p = parts("f'a{x}b{{c}}'");
        assert!(
            matches!(&p[..], [RawFPart::Lit(a), RawFPart::Field { expr: "x", .. }, RawFPart::Lit(b)] if a == "a" && b == "b{c}")
        );
        let p = parts("f'{x!r:>{w}.3f}'");
        let [RawFPart::Field {
            expr: "x",
            conversion: Some('r'),
            spec: Some(spec),
            ..
        }] = &p[..]
        else {
            panic!("{p:?}")
        };
        assert!(
            matches!(&spec[..], [RawFPart::Lit(a), RawFPart::Field { expr: "w", .. }, RawFPart::Lit(b)] if a == ">" && b == ".3f")
        );
        let p = parts("f'{x = }'");
        assert!(
            matches!(&p[..], [RawFPart::Lit(a), RawFPart::Field { expr: "x ", conversion: Some('r'), spec: None, .. }] if a == "x = ")
        );
        let p = parts("f'{a != b}{c[\"k\"]}{ {1: 2}[1] }'");
        assert!(matches!(
            &p[..],
            [
                RawFPart::Field { expr: "a != b", .. },
                RawFPart::Field {
                    expr: "c[\"k\"]",
                    ..
                },
                RawFPart::Field {
                    expr: " {1: 2}[1] ",
                    ..
                }
            ]
        ));
        // Field positions point into the source, also on later lines.
        let p = parts("f'''\n  {x}'''");
        let [RawFPart::Lit(_), RawFPart::Field { pos, .. }] = &p[..] else {
            panic!("{p:?}")
        };
        assert_eq!((pos.line, pos.col), (2, 4));
        let p = parts(r"rf'\d{x}\n'");
        assert!(
            matches!(&p[..], [RawFPart::Lit(a), RawFPart::Field { .. }, RawFPart::Lit(b)] if a == "\\d" && b == "\\n")
        );
    }

    #[test]
    fn fstring_errors() {
        for (src, msg) in [
            ("f'{}'", "f-string: empty expression not allowed"),
            (
                "f'{x!z}'",
                "f-string: invalid conversion character: expected 's', 'r', or 'a'",
            ),
            ("f'{x'", "f-string: expecting '}'"),
            ("f'}'", "f-string: single '}' is not allowed"),
            ("f'{x:{y:{z}}}'", "f-string: expressions nested too deeply"),
            ("f'{a#b}'", "f-string expression part cannot include '#'"),
            (
                r"f'{a\n}'",
                "f-string expression part cannot include a backslash",
            ),
            ("f'{a)}'", "f-string: unmatched ')'"),
            (
                "f'{(a]}'",
                "f-string: closing parenthesis ']' does not match opening parenthesis '('",
            ),
        ] {
            assert_eq!(err(src).msg, msg, "{src}");
        }
    }

    #[test]
    fn invalid_characters() {
        assert_eq!(err("x = $\n").msg, "invalid syntax");
        assert_eq!(err("x = a ? b\n").msg, "invalid syntax");
        assert_eq!(err("x = €\n").msg, "invalid character '€' (U+20AC)");
        assert_eq!(
            err("x = \u{a0}1\n").msg,
            "invalid non-printable character U+00A0"
        );
        assert_eq!(
            err("x = \u{1}\n").msg,
            "invalid non-printable character U+0001"
        );
        assert_eq!(toks("été = 变量"), "été Assign 变量 NL");
    }

    #[test]
    fn positions() {
        let v: Vec<_> = Lexer::new("ab = 'é'\n  \n\tcd\n")
            .filter_map(|t| t.ok())
            .map(|(l, _, r)| (l.line, l.col, r.line, r.col))
            .collect();
        assert_eq!(v[0], (1, 1, 1, 3));
        assert_eq!(v[2], (1, 6, 1, 9));
        // `cd` is on line 3, column 2 (a tab is one column), after an INDENT.
        assert!(v.contains(&(3, 2, 3, 4)));
    }
}
