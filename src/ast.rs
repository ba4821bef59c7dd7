//! The abstract syntax tree: what the parser produces and the compiler consumes.
//!
//! Every statement and expression carries the source position (`Pos`) of its first token so
//! that the compiler can map bytecode back to lines for tracebacks, and so that syntax errors
//! found after parsing (e.g. `return` outside a function) can point at the right place.

/// A position in the source: 1-based line, 1-based column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

#[derive(Debug, Clone)]
pub struct Stmt {
    pub pos: Pos,
    pub kind: StmtKind,
}

#[derive(Debug, Clone)]
pub struct Expr {
    pub pos: Pos,
    pub kind: ExprKind,
}

#[derive(Debug, Clone)]
pub enum StmtKind {
    Expr(Expr),
    /// `a = b = value`: targets in source order, then the value.
    Assign {
        targets: Vec<Expr>,
        value: Expr,
    },
    AugAssign {
        target: Expr,
        op: BinOp,
        value: Expr,
    },
    If {
        test: Expr,
        body: Vec<Stmt>,
        orelse: Vec<Stmt>,
    },
    While {
        test: Expr,
        body: Vec<Stmt>,
        orelse: Vec<Stmt>,
    },
    For {
        target: Expr,
        iter: Expr,
        body: Vec<Stmt>,
        orelse: Vec<Stmt>,
    },
    Break,
    Continue,
    Pass,
    FunctionDef(Box<FunctionDef>),
    Return(Option<Expr>),
    Global(Vec<String>),
    Nonlocal(Vec<String>),
    Del(Vec<Expr>),
    Assert {
        test: Expr,
        msg: Option<Expr>,
    },
    /// `raise`, `raise E`, `raise E from C` (cause kept for completeness).
    Raise {
        exc: Option<Expr>,
        cause: Option<Expr>,
    },
    Try {
        body: Vec<Stmt>,
        handlers: Vec<Handler>,
        orelse: Vec<Stmt>,
        finalbody: Vec<Stmt>,
    },
    With {
        items: Vec<WithItem>,
        body: Vec<Stmt>,
    },
    /// `import a.b as c, d`
    Import(Vec<Alias>),
    /// `from m import a, b as c` (`names` empty never; `*` is not supported)
    ImportFrom {
        module: String,
        names: Vec<Alias>,
    },
}

#[derive(Debug, Clone)]
pub struct Alias {
    pub name: String,
    pub asname: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Handler {
    pub pos: Pos,
    /// `except:` has no type.
    pub typ: Option<Expr>,
    pub name: Option<String>,
    pub body: Vec<Stmt>,
}

#[derive(Debug, Clone)]
pub struct WithItem {
    pub context: Expr,
    pub target: Option<Expr>,
}

#[derive(Debug, Clone)]
pub struct FunctionDef {
    pub name: String,
    pub params: Params,
    pub body: Vec<Stmt>,
}

/// Parameters of a `def` or `lambda`, in Python's order.
#[derive(Debug, Clone, Default)]
pub struct Params {
    /// Positional-or-keyword parameters with optional defaults (defaults only at the tail).
    pub args: Vec<Param>,
    /// `*args` (None if absent; a bare `*` sets `kwonly_marker` instead).
    pub vararg: Option<String>,
    /// Keyword-only parameters (after `*` or `*args`), each with an optional default.
    pub kwonly: Vec<Param>,
    /// `**kwargs`.
    pub kwarg: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub default: Option<Expr>,
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    Name(String),
    Int(IntLit),
    Float(f64),
    Str(String),
    /// f-string: literal parts and formatted values, in order.
    FString(Vec<FPart>),
    True,
    False,
    None,
    /// `...` (Ellipsis) is accepted only so that `...` as a statement parses.
    Ellipsis,
    BinOp {
        left: Box<Expr>,
        op: BinOp,
        right: Box<Expr>,
    },
    UnaryOp {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    /// `a and b and c` / `a or b`: all operands, at least two.
    BoolOp {
        op: BoolOp,
        values: Vec<Expr>,
    },
    /// `a < b <= c`: the first operand, then (op, operand) pairs.
    Compare {
        left: Box<Expr>,
        ops: Vec<(CmpOp, Expr)>,
    },
    IfExp {
        test: Box<Expr>,
        body: Box<Expr>,
        orelse: Box<Expr>,
    },
    Lambda {
        params: Box<Params>,
        body: Box<Expr>,
    },
    Call {
        func: Box<Expr>,
        args: Vec<Arg>,
    },
    Attribute {
        value: Box<Expr>,
        attr: String,
    },
    Subscript {
        value: Box<Expr>,
        index: Box<Expr>,
    },
    /// `lower:upper:step` inside a subscript; any part may be missing.
    Slice {
        lower: Option<Box<Expr>>,
        upper: Option<Box<Expr>>,
        step: Option<Box<Expr>>,
    },
    /// `*x` in a display, an assignment target or a call's positional arguments.
    Starred(Box<Expr>),
    List(Vec<Expr>),
    Tuple(Vec<Expr>),
    Set(Vec<Expr>),
    /// `{k: v, **d}`: `None` key means `**value`.
    Dict(Vec<(Option<Expr>, Expr)>),
    ListComp {
        elt: Box<Expr>,
        generators: Vec<Comprehension>,
    },
    SetComp {
        elt: Box<Expr>,
        generators: Vec<Comprehension>,
    },
    DictComp {
        key: Box<Expr>,
        value: Box<Expr>,
        generators: Vec<Comprehension>,
    },
    GeneratorExp {
        elt: Box<Expr>,
        generators: Vec<Comprehension>,
    },
}

/// An integer literal: small ones fit in i64, larger ones keep their decimal digits.
#[derive(Debug, Clone)]
pub enum IntLit {
    Small(i64),
    /// Decimal digits (underscores removed, already converted from any base).
    Big(String),
}

#[derive(Debug, Clone)]
pub enum FPart {
    Lit(String),
    /// `{expr!conv:spec}`; the spec itself may contain nested replacement fields.
    Value {
        expr: Box<Expr>,
        conversion: Option<char>,
        spec: Option<Vec<FPart>>,
    },
}

#[derive(Debug, Clone)]
pub struct Comprehension {
    pub target: Expr,
    pub iter: Expr,
    pub ifs: Vec<Expr>,
}

#[derive(Debug, Clone)]
pub enum Arg {
    Positional(Expr),
    /// `*iterable`
    Star(Expr),
    Keyword(String, Expr),
    /// `**mapping`
    DoubleStar(Expr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
    LShift,
    RShift,
    BitOr,
    BitXor,
    BitAnd,
    MatMul,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Pos,
    Invert,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoolOp {
    And,
    Or,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtE,
    Gt,
    GtE,
    Is,
    IsNot,
    In,
    NotIn,
}

/// A syntax error found by the lexer, the parser or the compiler.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    /// `SyntaxError`, `IndentationError` or `TabError`.
    pub kind: &'static str,
    pub msg: String,
    pub pos: Pos,
    /// Caret end column (exclusive, 1-based) when Python underlines a range; `None` for one caret.
    pub end_col: Option<u32>,
    /// True when the error is only that the input ended too early (an unclosed bracket or
    /// string, a block with no body yet): the REPL then asks for more lines.
    pub at_eof: bool,
}

impl SyntaxError {
    pub fn new(msg: impl Into<String>, pos: Pos) -> Self {
        SyntaxError {
            kind: "SyntaxError",
            msg: msg.into(),
            pos,
            end_col: None,
            at_eof: false,
        }
    }
}
