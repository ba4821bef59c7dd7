//! Bytecode: the instruction set, code objects and the disassembler (`toy --dis`).
//!
//! The VM is a stack machine. Each instruction is one `Instr` (8 bytes: an opcode and its
//! operand inline), so dispatch is a single `match`. Notation below: `S` is the value stack
//! (top at the right), `L[i]` a local slot, `C[i]` a cell (captured variable), `G[i]` a global
//! slot, `K[i]` a constant, `N[i]` a name, `I` the loop-iterator stack (kept apart from `S`).
//! Jump targets are absolute instruction indexes.
//!
//! Notes:
//! - The eval breaker (GIL drop requests, signals) is checked at backward jumps (`Jump` to an
//!   earlier index, `ForIter` looping) and at calls, as in CPython and Lua.
//! - Exceptions use a table (`Code::handlers`), not setup/pop instructions: when an
//!   instruction raises, the innermost handler whose range covers it gets control with the
//!   stack cut to its depth and the exception pushed.

use std::fmt::Write;
use std::sync::Arc;

use crate::value::Value;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Instr {
    Nop,
    /// S += K[a]
    LoadConst(u32),
    /// S += small int a
    LoadInt(i32),
    LoadNone,
    /// S += L[a]   (UnboundLocalError if unset)
    LoadFast(u32),
    /// L[a] = pop S
    StoreFast(u32),
    /// unset L[a]
    DeleteFast(u32),
    /// S += C[a]
    LoadDeref(u32),
    /// C[a] = pop S
    StoreDeref(u32),
    DeleteDeref(u32),
    /// S += G[a] (or the builtin of that name)
    LoadGlobal(u32),
    StoreGlobal(u32),
    DeleteGlobal(u32),
    /// S[-1] = S[-1].N[a]
    LoadAttr(u32),
    /// obj = pop; v = pop; obj.N[a] = v
    StoreAttr(u32),
    /// obj = pop; S += (method N[a] of obj, obj)   — pairs with CallMethod
    LoadMethod(u32),
    /// call the method under a args: S[-a-2] is the method, S[-a-1] its self
    CallMethod(u32),
    /// i = pop; o = pop; S += o[i]
    Subscr,
    /// i = pop; o = pop; v = pop; o[i] = v
    StoreSubscr,
    /// i = pop; o = pop; del o[i]
    DeleteSubscr,
    /// S += slice(S[-a..]) for a in {2, 3}
    BuildSlice(u32),
    Pop,
    /// S += S[-1]
    Dup,
    /// S += S[-2], S[-1]
    Dup2,
    /// swap S[-1], S[-2]
    Rot2,
    /// S[-3], S[-2], S[-1] = S[-1], S[-3], S[-2]
    Rot3,
    /// r = pop; l = pop; S += l OP r  (a is a `BinOp` as u32)
    Binary(u32),
    /// Like Binary, but lists are changed in place for `+=` and `*=`.
    Inplace(u32),
    Add,
    Sub,
    Mul,
    Neg,
    Pos,
    Invert,
    Not,
    Lt,
    Le,
    Eq,
    Ne,
    Gt,
    Ge,
    Is,
    IsNot,
    In,
    NotIn,
    Jump(u32),
    /// if not truthy(pop): jump a
    JumpIfFalse(u32),
    JumpIfTrue(u32),
    /// if not truthy(S[-1]): jump a else pop
    JumpIfFalseOrPop(u32),
    JumpIfTrueOrPop(u32),
    /// I += iter(pop S)
    GetIter,
    /// S += next(I[-1]); at its end: pop I and jump a
    ForIter(u32),
    /// pop I (a `break` out of a `for`)
    PopIter,
    BuildTuple(u32),
    BuildList(u32),
    BuildSet(u32),
    /// S += dict of the a key/value pairs below
    BuildMap(u32),
    /// v = pop; S[-a].append(v)  (comprehensions)
    ListAppend(u32),
    SetAdd(u32),
    /// v = pop; k = pop; S[-a][k] = v
    MapAdd(u32),
    /// it = pop; S[-1].extend(it). a = 1 while building call arguments (`f(*x)`): errors
    /// then name the function, which is S[-2].
    ListExtend(u32),
    SetUpdate,
    /// m = pop; S[-1].update(m). a = 1 while building call keywords (`f(**m)`): duplicate
    /// keys are errors naming the function (S[-3]).
    DictUpdate(u32),
    ListToTuple,
    /// Unpack pop S into a values, pushed so that the first is on top.
    UnpackSequence(u32),
    /// `a, *b, c = …`: a = count before the star, b = count after.
    UnpackEx(u16, u16),
    /// Make a function from the nested code `children[a >> 2]`; flags `a & 3`: 1 = a tuple of
    /// defaults on S, 2 = a tuple of the kw-only defaults that exist (`Code::kwonly_defaults`).
    MakeFunction(u32),
    /// f = S[-a-1], args = S[-a..]
    Call(u32),
    /// Like Call, but the top of S is a tuple of keyword names for the last arguments.
    CallKw(u32),
    /// kwargs = pop if a&1 (a dict), args = pop (a tuple), f = pop
    CallEx(u32),
    Return,
    /// a = 0: bare `raise`; 1: raise pop; 2: cause = pop, raise pop
    Raise(u32),
    /// Re-raise the exception on top of S without adding a traceback entry; exc_info is
    /// restored from the saved one below it.
    Reraise,
    /// exc = pop; S += saved exc_info, exc; exc_info = exc
    PushExcInfo,
    /// exc_info = pop (the saved one)
    PopExcInfo,
    /// t = pop; S += exc S[-1] matches t
    CheckExcMatch,
    /// `with`: m = pop; S += m, m.__enter__()
    SetupWith,
    /// m = pop; m.__exit__(None)
    WithExit,
    /// exc = pop, saved = pop, m = pop; exc_info = saved; m.__exit__(exc); raise exc
    WithExitExc,
    /// S += import N[a]
    ImportName(u32),
    /// S += getattr(S[-1], N[a]) (ImportError if missing)
    ImportFrom(u32),
    /// f-string field: flags a: 1..3 = conversion (!s !r !a) in the low 2 bits, 4 = spec on S
    FormatValue(u32),
    /// concatenate the top a strings
    BuildString(u32),
    /// `assert` failure: a = 1 if a message is on S
    RaiseAssert(u32),
    /// Generator expressions: pop S and hand it to the consumer; resume here.
    Yield,

    // --- Superinstructions, made by the peephole pass (compiler/peephole.rs). Each one
    // replaces only the *first* instruction of the sequence it stands for; the rest of the
    // sequence stays in place. When its fast path applies (int operands, no overflow) it does
    // the whole sequence and skips over it; otherwise it does exactly what the instruction
    // it replaced did (`LoadFast a`) and execution goes on with the original instructions
    // after it. So jumps into the middle of a sequence, errors and tracebacks are unchanged.
    /// `LoadFast a; LoadInt k; <cmp c>; JumpIfFalse t` as (c, a, k); c: 0 Lt, 1 Le, 2 Gt,
    /// 3 Ge, 4 Eq, 5 Ne. The target is read from the JumpIfFalse (3 instructions on).
    FastCmpIntJump(u8, u8, i32),
    /// `LoadFast a; LoadInt k; <binop o>` as (o, a, k), o a `BinOp` code.
    FastIntOp(u8, u8, i32),
    /// `LoadFast a; LoadInt k; <binop o>; StoreFast a` as (o, a, k): `a += k` and the like.
    FastIntOpStore(u8, u8, i32),
    /// `LoadFast a; LoadFast b`.
    LoadFast2(u16, u16),
    /// `ForIter t; StoreFast a` as (a, t): the next item goes straight into the local.
    ForIterStore(u16, u32),
    /// `LoadFast a; LoadFast b; <binop o>` as (o, a, b): both ints, the result is pushed.
    /// Otherwise it is `LoadFast2(a, b)`.
    FastBinLocals(u8, u16, u16),
    /// `LoadInt k; <binop o>` as (o, k): the top of the stack, an int, is replaced by
    /// `top o k`. Otherwise it is `LoadInt k`.
    BinConstInt(u8, i32),
    /// `LoadFast a; LoadFast b; Subscr` as (a, b): `a[b]` read through the locals (no
    /// reference counting of the container) when it is a list, tuple, dict or str indexed
    /// the common way. Otherwise it is `LoadFast2(a, b)`.
    SubscrLocals(u16, u16),
    /// `LoadFast a; LoadFast b; In` (n = 0) or `NotIn` (n = 1) as (n, a, b): an int or str `a`
    /// looked up in the dict `b` through the locals. Otherwise it is `LoadFast2(a, b)`.
    InLocals(u8, u16, u16),
    /// `LoadFast a; LoadConst k; Subscr` as (a, k): `a[k]` with a constant index or slice
    /// (`p[1:4]`, `row[0]`, `d["key"]`), both read in place. Otherwise it is `LoadFast a`.
    SubscrLocalConst(u16, u32),
    /// `LoadConst k; LoadFast b; In` (n = 0) or `NotIn` (n = 1) as (n, k, b): a constant looked
    /// up in a str, list, tuple, dict or set local, both read in place. Otherwise it is
    /// `LoadConst k`.
    ConstInLocal(u8, u16, u16),
    /// `LoadGlobal g; LoadFast a; Call 1` as (a, g): when the global is a builtin function or
    /// type (`len(x)`, `str(x)`), it is called right here, without putting it on the stack
    /// (no reference counting of it, two dispatches fewer). Otherwise it is `LoadGlobal g`.
    CallGlobalLocal1(u16, u32),
    /// `LoadFast a; Return`: the local's value is moved out of its slot (the frame is ending,
    /// so no reference counting) and returned. Otherwise (unbound) it is `LoadFast a`.
    ReturnLocal(u32),
}

impl Instr {
    /// The instruction a superinstruction replaced (for the disassembler); others: itself.
    pub fn original(self) -> Instr {
        match self {
            Instr::FastCmpIntJump(_, a, _)
            | Instr::FastIntOp(_, a, _)
            | Instr::FastIntOpStore(_, a, _) => Instr::LoadFast(a as u32),
            Instr::LoadFast2(a, _)
            | Instr::FastBinLocals(_, a, _)
            | Instr::SubscrLocals(a, _)
            | Instr::InLocals(_, a, _) => Instr::LoadFast(a as u32),
            Instr::BinConstInt(_, k) => Instr::LoadInt(k),
            Instr::SubscrLocalConst(a, _) => Instr::LoadFast(a as u32),
            Instr::CallGlobalLocal1(_, g) => Instr::LoadGlobal(g),
            Instr::ConstInLocal(_, k, _) => Instr::LoadConst(k as u32),
            Instr::ForIterStore(_, t) => Instr::ForIter(t),
            Instr::ReturnLocal(a) => Instr::LoadFast(a),
            other => other,
        }
    }
}

/// What a handler-table entry protects: instructions `start..end` jump to `target` with the
/// value stack cut to `depth` and the loop-iterator stack cut to `iters`.
#[derive(Clone, Copy, Debug)]
pub struct Handler {
    pub start: u32,
    pub end: u32,
    pub target: u32,
    pub depth: u32,
    pub iters: u32,
}

/// A compiled function body (or module, or comprehension).
pub struct Code {
    pub name: Arc<str>,
    pub filename: Arc<str>,
    pub instrs: Arc<[Instr]>,
    /// Source line of each instruction.
    pub lines: Vec<u32>,
    pub consts: Vec<Value>,
    /// Attribute, method and module names used by the instructions.
    pub names: Vec<Arc<str>>,
    pub handlers: Vec<Handler>,
    /// Parameters: positional (incl. those with defaults), then keyword-only, then *args,
    /// then **kwargs occupy the first local slots in that order.
    pub argcount: u32,
    pub kwonlycount: u32,
    pub has_varargs: bool,
    pub has_varkw: bool,
    pub local_names: Vec<Arc<str>>,
    /// Cells created by this code (locals captured by inner functions), then free variables
    /// (cells received from the enclosing function): together they are `C[..]`.
    pub cellvars: Vec<Arc<str>>,
    pub freevars: Vec<Arc<str>>,
    /// Parameters that are also cells: (cell index, local index) to copy at entry.
    pub cell_params: Vec<(u32, u32)>,
    /// For a nested function: where each of its free variables comes from in the code that
    /// creates it (an index into that code's `C[..]`).
    pub free_sources: Vec<u32>,
    /// Which keyword-only parameters have a default (the tuple of MakeFunction holds those).
    pub kwonly_defaults: Vec<bool>,
    /// Functions, lambdas and comprehensions defined inside this code.
    pub children: Vec<Arc<Code>>,
    pub is_generator: bool,
    pub first_line: u32,
}

impl Code {
    /// Parameters are positional only: no `*args`, `**kwargs` or keyword-only ones, and
    /// not a generator (the calls that bind arguments by position straight into locals).
    #[inline(always)]
    pub fn plain_positional(&self) -> bool {
        !self.has_varargs && !self.has_varkw && self.kwonlycount == 0 && !self.is_generator
    }
    pub fn nlocals(&self) -> usize {
        self.local_names.len()
    }
    pub fn cell_name(&self, i: usize) -> &str {
        if i < self.cellvars.len() {
            &self.cellvars[i]
        } else {
            &self.freevars[i - self.cellvars.len()]
        }
    }
    /// The source line of instruction `ip` (0 if unknown).
    pub fn line_at(&self, ip: usize) -> u32 {
        self.lines.get(ip).copied().unwrap_or(self.first_line)
    }
}

/// Disassemble `code` and every function nested in its constants, one instruction a line:
/// `line  index  OPCODE  operand  (meaning)`.
pub fn disassemble(code: &Code, global_name: &dyn Fn(u32) -> String) -> String {
    let mut out = String::new();
    disassemble_into(code, global_name, &mut out);
    out
}

fn disassemble_into(code: &Code, global_name: &dyn Fn(u32) -> String, out: &mut String) {
    let _ = writeln!(out, "Disassembly of <code {}>:", code.name);
    let mut last_line = 0;
    for (i, ins) in code.instrs.iter().enumerate() {
        let ins = &ins.original();
        let line = code.line_at(i);
        let line_col = if line != last_line {
            format!("{:>4}", line)
        } else {
            "    ".to_string()
        };
        last_line = line;
        let note = match *ins {
            Instr::LoadConst(k) => {
                format!("({})", crate::ops::repr_plain(&code.consts[k as usize]))
            }
            Instr::MakeFunction(k) => format!("(<code {}>)", code.children[(k >> 2) as usize].name),
            Instr::LoadFast(a) | Instr::StoreFast(a) | Instr::DeleteFast(a) => {
                format!(
                    "({})",
                    code.local_names
                        .get(a as usize)
                        .map(|s| &**s)
                        .unwrap_or("?")
                )
            }
            Instr::LoadDeref(a) | Instr::StoreDeref(a) | Instr::DeleteDeref(a) => {
                format!("({})", code.cell_name(a as usize))
            }
            Instr::LoadGlobal(a) | Instr::StoreGlobal(a) | Instr::DeleteGlobal(a) => {
                format!("({})", global_name(a))
            }
            Instr::LoadAttr(a)
            | Instr::StoreAttr(a)
            | Instr::LoadMethod(a)
            | Instr::ImportName(a)
            | Instr::ImportFrom(a) => format!("({})", code.names[a as usize]),
            Instr::Binary(op) | Instr::Inplace(op) => format!("({})", crate::ops::binop_symbol(op)),
            _ => String::new(),
        };
        let text = format!("{:?}", ins);
        let (opname, operand) = match text.find('(') {
            Some(p) => (
                text[..p].to_string(),
                text[p + 1..text.len() - 1].to_string(),
            ),
            None => (text, String::new()),
        };
        let _ = writeln!(
            out,
            "{} {:>6}  {:<18} {:<8} {}",
            line_col, i, opname, operand, note
        )
        .map(|_| ());
        // Trim the trailing spaces of the line just written.
        while out.ends_with(' ') || out.ends_with("\n\n") {
            out.pop();
        }
        if !out.ends_with('\n') {
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
            out.push('\n');
        }
    }
    if !code.handlers.is_empty() {
        let _ = writeln!(out, "Exception table:");
        for h in &code.handlers {
            let _ = writeln!(
                out,
                "  {} to {} -> {} [depth {}, iters {}]",
                h.start, h.end, h.target, h.depth, h.iters
            );
        }
    }
    for child in &code.children {
        out.push('\n');
        disassemble_into(child, global_name, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_stay_eight_bytes() {
        assert_eq!(std::mem::size_of::<Instr>(), 8);
    }
}
