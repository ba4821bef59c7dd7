//! The compiler: AST → bytecode (`Code`), after scope analysis (`scope.rs`).
//!
//! One `Unit` is the code object being built (module, function, lambda or comprehension).
//! Control flow that leaves blocks early (`break`, `continue`, `return`) runs the cleanups of
//! the blocks it leaves — a `finally` body is emitted inline, a `with` manager is exited, a
//! handled exception is restored — exactly as CPython 3.11 compiles it. Exceptions are routed
//! by a handler table built from *regions*: a region covers the instructions of a protected
//! body; it is suspended while inline cleanup code of the blocks being left is emitted.

mod peephole;
pub mod scope;

use std::sync::Arc;

use crate::ast::*;
use crate::bytecode::{Code, Handler as HandlerEntry, Instr};
use crate::value::Value;
use scope::{node_id, NameKind, ScopeTable};

/// Compile a parsed module. `global_slot` gives the slot of a module-level name (creating it).
pub fn compile_module(
    body: &[Stmt],
    filename: &str,
    interactive: bool,
    global_slot: &mut dyn FnMut(&str) -> u32,
) -> Result<Arc<Code>, SyntaxError> {
    let scopes = scope::analyze(body)?;
    let mut c = Compiler {
        filename: Arc::from(filename),
        scopes: &scopes,
        global_slot,
        units: Vec::new(),
        interactive,
        depth: 0,
    };
    c.units.push(Unit::new("<module>", 0, 1));
    c.stmts(body)?;
    c.emit(Instr::LoadNone);
    c.emit(Instr::Return);
    let unit = c.units.pop().unwrap();
    Ok(Arc::new(c.finish(unit, None)))
}

#[derive(Clone, Copy, PartialEq)]
enum BlockKind {
    /// A loop; `is_for` loops keep an iterator on the iterator stack.
    Loop { is_for: bool },
    /// The protected body of `try/finally`.
    Finally,
    /// The body of an `except` handler: a saved exc_info is on the stack.
    Handler,
    /// A `finally` body running because of an exception: saved exc_info and the exception.
    FinallyExc,
    /// The body of a `with`: the manager is on the stack.
    With,
    /// `try/except` body: nothing to clean, but its region must be suspended.
    TryExcept,
}

struct Block {
    kind: BlockKind,
    /// For loops: where `continue` goes; jumps to patch to the loop's end for `break`.
    continue_target: usize,
    breaks: Vec<usize>,
    /// For `Finally`: the body to run inline.
    finalbody: Option<Vec<Stmt>>,
    /// The region this block's body is protected by (if any).
    region: Option<usize>,
}

struct Region {
    target: usize,
    depth: u32,
    iters: u32,
    open_since: Option<usize>,
    segments: Vec<(usize, usize)>,
}

struct Unit {
    name: String,
    instrs: Vec<Instr>,
    lines: Vec<u32>,
    consts: Vec<Value>,
    names: Vec<Arc<str>>,
    handlers: Vec<HandlerEntry>,
    children: Vec<Arc<Code>>,
    blocks: Vec<Block>,
    regions: Vec<Region>,
    line: u32,
    /// Static depth of the value stack at statement level (things blocks keep there).
    depth: u32,
    /// Number of enclosing `for` loops (their iterators are on the iterator stack).
    iters: u32,
    /// Scope index (0: module).
    scope: usize,
    /// Extra hidden local slots (e.g. a return value kept while `finally` runs).
    extra_locals: Vec<String>,
    first_line: u32,
}

impl Unit {
    fn new(name: &str, scope: usize, line: u32) -> Unit {
        Unit {
            name: name.to_string(),
            instrs: Vec::new(),
            lines: Vec::new(),
            consts: Vec::new(),
            names: Vec::new(),
            handlers: Vec::new(),
            children: Vec::new(),
            blocks: Vec::new(),
            regions: Vec::new(),
            line,
            depth: 0,
            iters: 0,
            scope,
            extra_locals: Vec::new(),
            first_line: line,
        }
    }
}

struct Compiler<'a> {
    filename: Arc<str>,
    scopes: &'a ScopeTable,
    global_slot: &'a mut dyn FnMut(&str) -> u32,
    units: Vec<Unit>,
    interactive: bool,
    /// Expression nesting depth, to refuse absurdly deep code instead of overflowing.
    depth: u32,
}

const MAX_NESTING: u32 = 1000;

type CResult<T = ()> = Result<T, SyntaxError>;

impl<'a> Compiler<'a> {
    fn u(&mut self) -> &mut Unit {
        self.units.last_mut().unwrap()
    }
    fn emit(&mut self, i: Instr) -> usize {
        let u = self.u();
        u.instrs.push(i);
        let line = u.line;
        u.lines.push(line);
        u.instrs.len() - 1
    }
    fn here(&mut self) -> usize {
        self.u().instrs.len()
    }
    fn patch(&mut self, at: usize, target: usize) {
        let t = target as u32;
        let u = self.u();
        u.instrs[at] = match u.instrs[at] {
            Instr::Jump(_) => Instr::Jump(t),
            Instr::JumpIfFalse(_) => Instr::JumpIfFalse(t),
            Instr::JumpIfTrue(_) => Instr::JumpIfTrue(t),
            Instr::JumpIfFalseOrPop(_) => Instr::JumpIfFalseOrPop(t),
            Instr::JumpIfTrueOrPop(_) => Instr::JumpIfTrueOrPop(t),
            Instr::ForIter(_) => Instr::ForIter(t),
            other => other,
        };
    }
    fn set_line(&mut self, pos: Pos) {
        if pos.line > 0 {
            self.u().line = pos.line;
        }
    }
    fn konst(&mut self, v: Value) -> u32 {
        let u = self.u();
        if let Value::Str(s) = &v {
            for (i, c) in u.consts.iter().enumerate() {
                if let Value::Str(t) = c {
                    if t.s == s.s {
                        return i as u32;
                    }
                }
            }
        }
        u.consts.push(v);
        (u.consts.len() - 1) as u32
    }
    fn name_idx(&mut self, name: &str) -> u32 {
        let u = self.u();
        if let Some(i) = u.names.iter().position(|n| &**n == name) {
            return i as u32;
        }
        u.names.push(Arc::from(name));
        (u.names.len() - 1) as u32
    }
    fn scope(&self) -> &'a scope::Scope {
        let idx = self.units.last().unwrap().scope;
        &self.scopes.scopes[idx]
    }
    fn is_module(&self) -> bool {
        self.units.last().unwrap().scope == 0
    }
    fn hidden_local(&mut self, base: &str) -> u32 {
        let nlocals = self.scope().locals.len();
        let u = self.u();
        let name = format!(".{}{}", base, u.extra_locals.len());
        u.extra_locals.push(name);
        (nlocals + u.extra_locals.len() - 1) as u32
    }

    // --- regions (exception handler ranges) ---

    fn region_open(&mut self, depth: u32) -> usize {
        let start = self.here();
        let u = self.u();
        let iters = u.iters;
        u.regions.push(Region {
            target: 0,
            depth,
            iters,
            open_since: Some(start),
            segments: Vec::new(),
        });
        u.regions.len() - 1
    }
    fn region_suspend(&mut self, r: usize) {
        let here = self.here();
        let reg = &mut self.u().regions[r];
        if let Some(s) = reg.open_since.take() {
            if s < here {
                reg.segments.push((s, here));
            }
        }
    }
    fn region_resume(&mut self, r: usize) {
        let here = self.here();
        self.u().regions[r].open_since = Some(here);
    }
    /// Close the region; its handler code starts at the current position.
    fn region_close(&mut self, r: usize, target: usize) {
        self.region_suspend(r);
        let u = self.u();
        let reg = &mut u.regions[r];
        reg.target = target;
        let segs = std::mem::take(&mut reg.segments);
        let (depth, iters) = (reg.depth, reg.iters);
        for (s, e) in segs {
            u.handlers.push(HandlerEntry {
                start: s as u32,
                end: e as u32,
                target: target as u32,
                depth,
                iters,
            });
        }
    }

    fn finish(&mut self, unit: Unit, sc: Option<&scope::Scope>) -> Code {
        let mut local_names: Vec<Arc<str>> = Vec::new();
        let (mut argcount, mut kwonly, mut varargs, mut varkw) = (0, 0, false, false);
        let mut cellvars = Vec::new();
        let mut freevars = Vec::new();
        let mut cell_params = Vec::new();
        if let Some(sc) = sc {
            local_names = sc.locals.iter().map(|s| Arc::from(s.as_str())).collect();
            cellvars = sc
                .cellvars
                .iter()
                .map(|s| Arc::from(s.as_str()))
                .collect::<Vec<Arc<str>>>();
            freevars = sc.freevars.iter().map(|s| Arc::from(s.as_str())).collect();
            for (ci, c) in sc.cellvars.iter().enumerate() {
                if let Some(li) = sc.locals.iter().position(|l| l == c) {
                    cell_params.push((ci as u32, li as u32));
                }
            }
            let _ = (&mut argcount, &mut kwonly, &mut varargs, &mut varkw);
        }
        for e in &unit.extra_locals {
            local_names.push(Arc::from(e.as_str()));
        }
        Code {
            name: Arc::from(unit.name.as_str()),
            filename: self.filename.clone(),
            instrs: peephole::optimize(unit.instrs).into(),
            lines: unit.lines,
            consts: unit.consts,
            names: unit.names,
            handlers: unit.handlers,
            argcount,
            kwonlycount: kwonly,
            has_varargs: varargs,
            has_varkw: varkw,
            local_names,
            cellvars,
            freevars,
            cell_params,
            free_sources: Vec::new(),
            kwonly_defaults: Vec::new(),
            children: unit.children,
            is_generator: false,
            first_line: unit.first_line,
        }
    }

    // --- statements ---

    fn stmts(&mut self, body: &[Stmt]) -> CResult {
        for s in body {
            self.stmt(s)?;
        }
        Ok(())
    }

    fn stmt(&mut self, s: &Stmt) -> CResult {
        self.set_line(s.pos);
        match &s.kind {
            StmtKind::Expr(e) => {
                self.expr(e)?;
                if self.interactive && self.is_module() {
                    // The REPL echoes the repr of an expression statement (not None).
                    let slot = (self.global_slot)("__displayhook__");
                    self.emit(Instr::LoadGlobal(slot));
                    self.emit(Instr::Rot2);
                    self.emit(Instr::Call(1));
                }
                self.emit(Instr::Pop);
            }
            StmtKind::Assign { targets, value } => {
                self.expr(value)?;
                for (i, t) in targets.iter().enumerate() {
                    if i + 1 < targets.len() {
                        self.emit(Instr::Dup);
                    }
                    self.store(t)?;
                }
            }
            StmtKind::AugAssign { target, op, value } => self.aug_assign(target, *op, value)?,
            StmtKind::If { test, body, orelse } => {
                self.expr(test)?;
                let jf = self.emit(Instr::JumpIfFalse(0));
                self.stmts(body)?;
                if orelse.is_empty() {
                    let h = self.here();
                    self.patch(jf, h);
                } else {
                    let j = self.emit(Instr::Jump(0));
                    let h = self.here();
                    self.patch(jf, h);
                    self.stmts(orelse)?;
                    let h = self.here();
                    self.patch(j, h);
                }
            }
            StmtKind::While { test, body, orelse } => {
                let top = self.here();
                self.expr(test)?;
                let jf = self.emit(Instr::JumpIfFalse(0));
                self.push_block(BlockKind::Loop { is_for: false }, top);
                self.stmts(body)?;
                self.emit(Instr::Jump(top as u32));
                let b = self.u().blocks.pop().unwrap();
                let h = self.here();
                self.patch(jf, h);
                self.stmts(orelse)?;
                let end = self.here();
                for j in b.breaks {
                    self.patch(j, end);
                }
            }
            StmtKind::For {
                target,
                iter,
                body,
                orelse,
            } => {
                self.expr(iter)?;
                self.set_line(s.pos);
                self.emit(Instr::GetIter);
                self.u().iters += 1;
                let top = self.emit(Instr::ForIter(0));
                self.push_block(BlockKind::Loop { is_for: true }, top);
                self.store(target)?;
                self.stmts(body)?;
                self.set_line(s.pos);
                self.emit(Instr::Jump(top as u32));
                let b = self.u().blocks.pop().unwrap();
                self.u().iters -= 1;
                let h = self.here();
                self.patch(top, h);
                self.stmts(orelse)?;
                let end = self.here();
                for j in b.breaks {
                    self.patch(j, end);
                }
            }
            StmtKind::Break | StmtKind::Continue => {
                let is_break = matches!(s.kind, StmtKind::Break);
                let loop_idx = self
                    .u()
                    .blocks
                    .iter()
                    .rposition(|b| matches!(b.kind, BlockKind::Loop { .. }));
                let Some(li) = loop_idx else {
                    let msg = if is_break {
                        "'break' outside loop"
                    } else {
                        "'continue' not properly in loop"
                    };
                    return Err(SyntaxError::new(msg, s.pos));
                };
                let suspended = self.unwind_blocks(li + 1)?;
                if is_break {
                    if let BlockKind::Loop { is_for: true } = self.u().blocks[li].kind {
                        self.emit(Instr::PopIter);
                    }
                    let j = self.emit(Instr::Jump(0));
                    self.u().blocks[li].breaks.push(j);
                } else {
                    let t = self.u().blocks[li].continue_target;
                    self.emit(Instr::Jump(t as u32));
                }
                self.resume_regions(suspended);
            }
            StmtKind::Pass => {}
            StmtKind::FunctionDef(f) => {
                self.function(
                    node_id(&**f),
                    &f.name,
                    &f.params,
                    FnBody::Stmts(&f.body),
                    s.pos,
                )?;
                self.store_name(&f.name);
            }
            StmtKind::Return(v) => {
                if self.is_module() {
                    return Err(SyntaxError::new("'return' outside function", s.pos));
                }
                match v {
                    Some(e) => self.expr(e)?,
                    None => {
                        self.emit(Instr::LoadNone);
                    }
                }
                let needs_cleanup = self.u().blocks.iter().any(|b| {
                    !matches!(
                        b.kind,
                        BlockKind::Loop { is_for: false } | BlockKind::TryExcept
                    )
                });
                if needs_cleanup {
                    let tmp = self.hidden_local("retval");
                    self.emit(Instr::StoreFast(tmp));
                    let suspended = self.unwind_blocks(0)?;
                    self.emit(Instr::LoadFast(tmp));
                    self.emit(Instr::Return);
                    self.resume_regions(suspended);
                } else {
                    self.emit(Instr::Return);
                }
            }
            StmtKind::Global(_) | StmtKind::Nonlocal(_) => {}
            StmtKind::Del(targets) => {
                for t in targets {
                    self.delete(t)?;
                }
            }
            StmtKind::Assert { test, msg } => {
                self.expr(test)?;
                let j = self.emit(Instr::JumpIfTrue(0));
                if let Some(m) = msg {
                    self.expr(m)?;
                    self.emit(Instr::RaiseAssert(1));
                } else {
                    self.emit(Instr::RaiseAssert(0));
                }
                let h = self.here();
                self.patch(j, h);
            }
            StmtKind::Raise { exc, cause } => match (exc, cause) {
                (None, _) => {
                    self.emit(Instr::Raise(0));
                }
                (Some(e), None) => {
                    self.expr(e)?;
                    self.emit(Instr::Raise(1));
                }
                (Some(e), Some(c)) => {
                    self.expr(e)?;
                    self.expr(c)?;
                    self.emit(Instr::Raise(2));
                }
            },
            StmtKind::Try {
                body,
                handlers,
                orelse,
                finalbody,
            } => {
                if finalbody.is_empty() {
                    self.try_except(body, handlers, orelse)?;
                } else {
                    self.try_finally(body, handlers, orelse, finalbody)?;
                }
            }
            StmtKind::With { items, body } => self.with(items, body)?,
            StmtKind::Import(aliases) => {
                for a in aliases {
                    let idx = self.name_idx(&a.name);
                    self.emit(Instr::ImportName(idx));
                    match &a.asname {
                        Some(asn) => {
                            // `import a.b as c` binds the submodule.
                            for part in a.name.split('.').skip(1) {
                                let pi = self.name_idx(part);
                                self.emit(Instr::LoadAttr(pi));
                            }
                            self.store_name(asn);
                        }
                        None => {
                            let first = a.name.split('.').next().unwrap_or("").to_string();
                            if first != a.name {
                                self.emit(Instr::Pop);
                                let fi = self.name_idx(&first);
                                self.emit(Instr::ImportName(fi));
                            }
                            self.store_name(&first);
                        }
                    }
                }
            }
            StmtKind::ImportFrom { module, names } => {
                let idx = self.name_idx(module);
                self.emit(Instr::ImportName(idx));
                for a in names {
                    let ni = self.name_idx(&a.name);
                    self.emit(Instr::ImportFrom(ni));
                    self.store_name(a.asname.as_ref().unwrap_or(&a.name));
                }
                self.emit(Instr::Pop);
            }
        }
        Ok(())
    }

    fn push_block(&mut self, kind: BlockKind, continue_target: usize) {
        self.u().blocks.push(Block {
            kind,
            continue_target,
            breaks: Vec::new(),
            finalbody: None,
            region: None,
        });
    }

    /// Emit the cleanups of every block above `stop` (innermost first), suspending the
    /// regions of the blocks being left. Returns the suspended regions, to resume after the
    /// jump or return that follows.
    fn unwind_blocks(&mut self, stop: usize) -> CResult<Vec<usize>> {
        let mut suspended = Vec::new();
        let n = self.u().blocks.len();
        for i in (stop..n).rev() {
            let (kind, region, finalbody) = {
                let b = &self.u().blocks[i];
                (b.kind, b.region, b.finalbody.clone())
            };
            if let Some(r) = region {
                self.region_suspend(r);
                suspended.push(r);
            }
            match kind {
                BlockKind::Loop { is_for } => {
                    if is_for {
                        self.emit(Instr::PopIter);
                    }
                }
                BlockKind::TryExcept => {}
                BlockKind::Finally => {
                    // Run the finally body inline, outside its own block.
                    let saved = self.u().blocks.split_off(i);
                    let saved_depth = self.u().depth;
                    let saved_iters = self.u().iters;
                    let r = self.stmts(finalbody.as_deref().unwrap_or(&[]));
                    self.u().blocks.extend(saved);
                    self.u().depth = saved_depth;
                    self.u().iters = saved_iters;
                    r?;
                }
                BlockKind::Handler => {
                    self.emit(Instr::PopExcInfo);
                }
                BlockKind::FinallyExc => {
                    self.emit(Instr::Pop);
                    self.emit(Instr::PopExcInfo);
                }
                BlockKind::With => {
                    self.emit(Instr::WithExit);
                }
            }
        }
        Ok(suspended)
    }

    fn resume_regions(&mut self, regions: Vec<usize>) {
        for r in regions {
            self.region_resume(r);
        }
    }

    fn try_except(&mut self, body: &[Stmt], handlers: &[Handler], orelse: &[Stmt]) -> CResult {
        let depth = self.u().depth;
        let region = self.region_open(depth);
        self.push_block(BlockKind::TryExcept, 0);
        self.u().blocks.last_mut().unwrap().region = Some(region);
        self.stmts(body)?;
        self.u().blocks.pop();
        self.region_suspend(region);
        let to_else = self.emit(Instr::Jump(0));
        let target = self.here();
        self.region_close(region, target);
        let jumps = self.handlers(handlers, depth)?;
        let h = self.here();
        self.patch(to_else, h);
        self.stmts(orelse)?;
        let end = self.here();
        for j in jumps {
            self.patch(j, end);
        }
        Ok(())
    }

    /// The handler chain; on entry the exception is on the stack at `depth`.
    fn handlers(&mut self, handlers: &[Handler], depth: u32) -> CResult<Vec<usize>> {
        if let Some(h) = handlers[..handlers.len().saturating_sub(1)]
            .iter()
            .find(|h| h.typ.is_none())
        {
            // CPython underlines the whole handler: on its first line, up to the line's end.
            let mut e = SyntaxError::new("default 'except:' must be last", h.pos);
            e.end_col = Some(u32::MAX);
            return Err(e);
        }
        self.emit(Instr::PushExcInfo);
        // Stack: saved exc_info, exc. If anything below raises, restore exc_info and re-raise.
        let cleanup = self.region_open(depth + 1);
        let mut after = Vec::new();
        for h in handlers {
            self.set_line(h.pos);
            let mut next = None;
            if let Some(t) = &h.typ {
                self.expr(t)?;
                self.emit(Instr::CheckExcMatch);
                next = Some(self.emit(Instr::JumpIfFalse(0)));
            }
            match &h.name {
                Some(n) => self.store_name(n),
                None => {
                    self.emit(Instr::Pop);
                }
            }
            self.u().depth = depth + 1;
            self.push_block(BlockKind::Handler, 0);
            self.u().blocks.last_mut().unwrap().region = Some(cleanup);
            self.stmts(&h.body)?;
            self.u().blocks.pop();
            self.u().depth = depth;
            self.emit(Instr::PopExcInfo);
            if let Some(n) = &h.name {
                // Python unbinds the name at the end of the handler.
                self.emit(Instr::LoadNone);
                self.store_name(n);
                self.delete_name(n);
            }
            after.push(self.emit(Instr::Jump(0)));
            if let Some(nx) = next {
                let here = self.here();
                self.patch(nx, here);
            }
            if h.typ.is_none() {
                break;
            }
        }
        // No handler matched, or a handler raised: re-raise, restoring exc_info. (The
        // no-match path falls into the same instruction; it must not be inside the region.)
        let target = self.here();
        self.region_close(cleanup, target);
        self.emit(Instr::Reraise);
        Ok(after)
    }

    fn try_finally(
        &mut self,
        body: &[Stmt],
        handlers: &[Handler],
        orelse: &[Stmt],
        finalbody: &[Stmt],
    ) -> CResult {
        let depth = self.u().depth;
        let region = self.region_open(depth);
        self.push_block(BlockKind::Finally, 0);
        {
            let b = self.u().blocks.last_mut().unwrap();
            b.region = Some(region);
            b.finalbody = Some(finalbody.to_vec());
        }
        if handlers.is_empty() {
            self.stmts(body)?;
            self.stmts(orelse)?;
        } else {
            self.try_except(body, handlers, orelse)?;
        }
        self.u().blocks.pop();
        self.region_suspend(region);
        // Normal path.
        self.stmts(finalbody)?;
        let to_end = self.emit(Instr::Jump(0));
        // Exceptional path: [exc] → [saved, exc]; run the body; re-raise.
        let target = self.here();
        self.region_close(region, target);
        self.emit(Instr::PushExcInfo);
        let cleanup = self.region_open(depth + 1);
        self.u().depth = depth + 2;
        self.push_block(BlockKind::FinallyExc, 0);
        self.u().blocks.last_mut().unwrap().region = Some(cleanup);
        self.stmts(finalbody)?;
        self.u().blocks.pop();
        self.u().depth = depth;
        let ct = self.here();
        self.region_close(cleanup, ct);
        self.emit(Instr::Reraise);
        let end = self.here();
        self.patch(to_end, end);
        Ok(())
    }

    fn with(&mut self, items: &[WithItem], body: &[Stmt]) -> CResult {
        let Some((first, rest)) = items.split_first() else {
            return self.stmts(body);
        };
        self.expr(&first.context)?;
        self.emit(Instr::SetupWith);
        match &first.target {
            Some(t) => self.store(t)?,
            None => {
                self.emit(Instr::Pop);
            }
        }
        let depth = self.u().depth;
        self.u().depth = depth + 1;
        let region = self.region_open(depth + 1);
        self.push_block(BlockKind::With, 0);
        self.u().blocks.last_mut().unwrap().region = Some(region);
        self.with(rest, body)?;
        self.u().blocks.pop();
        self.region_suspend(region);
        self.emit(Instr::WithExit);
        let j = self.emit(Instr::Jump(0));
        let target = self.here();
        self.region_close(region, target);
        self.emit(Instr::PushExcInfo);
        self.emit(Instr::WithExitExc);
        self.u().depth = depth;
        let end = self.here();
        self.patch(j, end);
        Ok(())
    }

    fn aug_assign(&mut self, target: &Expr, op: BinOp, value: &Expr) -> CResult {
        let code = op as u32;
        match &target.kind {
            ExprKind::Name(n) => {
                self.load_name(n);
                self.expr(value)?;
                self.emit(Instr::Inplace(code));
                self.store_name(n);
            }
            ExprKind::Subscript { value: obj, index } => {
                self.expr(obj)?;
                self.subscript_index(index)?;
                self.emit(Instr::Dup2);
                self.emit(Instr::Subscr);
                self.expr(value)?;
                self.emit(Instr::Inplace(code));
                self.emit(Instr::Rot3);
                self.emit(Instr::StoreSubscr);
            }
            ExprKind::Attribute { value: obj, attr } => {
                self.expr(obj)?;
                self.emit(Instr::Dup);
                let ai = self.name_idx(attr);
                self.emit(Instr::LoadAttr(ai));
                self.expr(value)?;
                self.emit(Instr::Inplace(code));
                self.emit(Instr::Rot2);
                self.emit(Instr::StoreAttr(ai));
            }
            _ => {
                return Err(SyntaxError::new(
                    "'expression' is an illegal expression for augmented assignment",
                    target.pos,
                ))
            }
        }
        Ok(())
    }

    // --- names ---

    fn load_name(&mut self, n: &str) {
        if self.is_module() {
            let slot = (self.global_slot)(n);
            self.emit(Instr::LoadGlobal(slot));
            return;
        }
        match self.scope().lookup(n) {
            NameKind::Local(i) => self.emit(Instr::LoadFast(i)),
            NameKind::Cell(i) => self.emit(Instr::LoadDeref(i)),
            NameKind::Global => {
                let slot = (self.global_slot)(n);
                self.emit(Instr::LoadGlobal(slot))
            }
        };
    }
    fn store_name(&mut self, n: &str) {
        if self.is_module() {
            let slot = (self.global_slot)(n);
            self.emit(Instr::StoreGlobal(slot));
            return;
        }
        match self.scope().lookup(n) {
            NameKind::Local(i) => self.emit(Instr::StoreFast(i)),
            NameKind::Cell(i) => self.emit(Instr::StoreDeref(i)),
            NameKind::Global => {
                let slot = (self.global_slot)(n);
                self.emit(Instr::StoreGlobal(slot))
            }
        };
    }
    fn delete_name(&mut self, n: &str) {
        if self.is_module() {
            let slot = (self.global_slot)(n);
            self.emit(Instr::DeleteGlobal(slot));
            return;
        }
        match self.scope().lookup(n) {
            NameKind::Local(i) => self.emit(Instr::DeleteFast(i)),
            NameKind::Cell(i) => self.emit(Instr::DeleteDeref(i)),
            NameKind::Global => {
                let slot = (self.global_slot)(n);
                self.emit(Instr::DeleteGlobal(slot))
            }
        };
    }

    fn store(&mut self, t: &Expr) -> CResult {
        match &t.kind {
            ExprKind::Name(n) => self.store_name(n),
            ExprKind::Attribute { value, attr } => {
                self.expr(value)?;
                let ai = self.name_idx(attr);
                self.emit(Instr::StoreAttr(ai));
            }
            ExprKind::Subscript { value, index } => {
                self.expr(value)?;
                self.subscript_index(index)?;
                self.emit(Instr::StoreSubscr);
            }
            ExprKind::Tuple(items) | ExprKind::List(items) => {
                let star = items
                    .iter()
                    .position(|e| matches!(e.kind, ExprKind::Starred(_)));
                match star {
                    None => {
                        self.emit(Instr::UnpackSequence(items.len() as u32));
                    }
                    Some(si) => {
                        if items
                            .iter()
                            .filter(|e| matches!(e.kind, ExprKind::Starred(_)))
                            .count()
                            > 1
                        {
                            return Err(SyntaxError::new(
                                "multiple starred expressions in assignment",
                                t.pos,
                            ));
                        }
                        self.emit(Instr::UnpackEx(si as u16, (items.len() - si - 1) as u16));
                    }
                }
                for it in items {
                    match &it.kind {
                        ExprKind::Starred(inner) => self.store(inner)?,
                        _ => self.store(it)?,
                    }
                }
            }
            ExprKind::Starred(_) => {
                return Err(SyntaxError::new(
                    "starred assignment target must be in a list or tuple",
                    t.pos,
                ));
            }
            _ => return Err(SyntaxError::new("cannot assign to expression", t.pos)),
        }
        Ok(())
    }

    fn delete(&mut self, t: &Expr) -> CResult {
        match &t.kind {
            ExprKind::Name(n) => self.delete_name(n),
            ExprKind::Subscript { value, index } => {
                self.expr(value)?;
                self.subscript_index(index)?;
                self.emit(Instr::DeleteSubscr);
            }
            ExprKind::Tuple(items) | ExprKind::List(items) => {
                for i in items {
                    self.delete(i)?;
                }
            }
            ExprKind::Attribute { value, attr } => {
                // No Toy object has deletable attributes: evaluate, then fail as Python would.
                self.expr(value)?;
                self.emit(Instr::LoadNone);
                self.emit(Instr::Rot2);
                let ai = self.name_idx(attr);
                self.emit(Instr::StoreAttr(ai));
            }
            _ => return Err(SyntaxError::new("cannot delete expression", t.pos)),
        }
        Ok(())
    }

    // --- functions ---

    fn function(
        &mut self,
        node: usize,
        name: &str,
        params: &Params,
        body: FnBody,
        pos: Pos,
    ) -> CResult {
        // Defaults are evaluated where the function is defined.
        let mut flags = 0;
        let defaults: Vec<&Expr> = params
            .args
            .iter()
            .filter_map(|p| p.default.as_ref())
            .collect();
        if !defaults.is_empty() {
            for d in &defaults {
                self.expr(d)?;
            }
            self.emit(Instr::BuildTuple(defaults.len() as u32));
            flags |= 1;
        }
        let kwdefaults: Vec<&Expr> = params
            .kwonly
            .iter()
            .filter_map(|p| p.default.as_ref())
            .collect();
        if !kwdefaults.is_empty() {
            for d in &kwdefaults {
                self.expr(d)?;
            }
            self.emit(Instr::BuildTuple(kwdefaults.len() as u32));
            flags |= 2;
        }
        let scope_idx = self.scopes.by_node[&node];
        let qualname = self.qualname(name);
        self.units.push(Unit::new(&qualname, scope_idx, pos.line));
        self.set_line(pos);
        match body {
            FnBody::Stmts(stmts) => {
                self.stmts(stmts)?;
                self.emit(Instr::LoadNone);
                self.emit(Instr::Return);
            }
            FnBody::Expr(e) => {
                self.expr(e)?;
                self.emit(Instr::Return);
            }
        }
        let unit = self.units.pop().unwrap();
        let sc = &self.scopes.scopes[scope_idx];
        let mut code = self.finish(unit, Some(sc));
        code.argcount = params.args.len() as u32;
        code.kwonlycount = params.kwonly.len() as u32;
        code.has_varargs = params.vararg.is_some();
        code.has_varkw = params.kwarg.is_some();
        code.kwonly_defaults = params.kwonly.iter().map(|p| p.default.is_some()).collect();
        // Reorder locals so that parameters come first in Python's order: args, kwonly, *a, **k.
        // (scope.rs already put them first in exactly that order.)
        code.free_sources = self.free_sources(&code.freevars)?;
        let idx = self.add_child(code);
        self.emit(Instr::MakeFunction(idx << 2 | flags));
        Ok(())
    }

    fn qualname(&self, name: &str) -> String {
        let parent = self.units.last().unwrap();
        if parent.scope == 0 {
            name.to_string()
        } else {
            format!("{}.<locals>.{}", parent.name, name)
        }
    }

    /// Where the free variables of a new child come from in the current unit's cells.
    fn free_sources(&self, freevars: &[Arc<str>]) -> CResult<Vec<u32>> {
        let sc = self.scope();
        let mut out = Vec::new();
        for f in freevars {
            match sc.cell_index(f) {
                Some(i) => out.push(i),
                None => {
                    return Err(SyntaxError::new(
                        format!("internal: free variable '{}' has no cell", f),
                        Pos::default(),
                    ))
                }
            }
        }
        Ok(out)
    }

    fn add_child(&mut self, code: Code) -> u32 {
        let u = self.u();
        u.children.push(Arc::new(code));
        (u.children.len() - 1) as u32
    }

    fn comprehension(&mut self, e: &Expr, kind: CompKind, generators: &[Comprehension]) -> CResult {
        let node = node_id(e);
        let scope_idx = self.scopes.by_node[&node];
        let name = match kind {
            CompKind::List(_) => "<listcomp>",
            CompKind::Set(_) => "<setcomp>",
            CompKind::Dict(..) => "<dictcomp>",
            CompKind::Gen(_) => "<genexpr>",
        };
        let qualname = self.qualname(name);
        self.units.push(Unit::new(&qualname, scope_idx, e.pos.line));
        self.set_line(e.pos);
        match kind {
            CompKind::List(_) => {
                self.emit(Instr::BuildList(0));
            }
            CompKind::Set(_) => {
                self.emit(Instr::BuildSet(0));
            }
            CompKind::Dict(..) => {
                self.emit(Instr::BuildMap(0));
            }
            CompKind::Gen(_) => {}
        }
        let mut loops = Vec::new();
        for (i, g) in generators.iter().enumerate() {
            if i == 0 {
                self.emit(Instr::LoadFast(0));
            } else {
                self.expr(&g.iter)?;
            }
            self.emit(Instr::GetIter);
            self.u().iters += 1;
            let top = self.emit(Instr::ForIter(0));
            self.store(&g.target)?;
            for cond in &g.ifs {
                self.expr(cond)?;
                self.emit(Instr::JumpIfFalse(top as u32));
            }
            loops.push(top);
        }
        match kind {
            CompKind::List(elt) => {
                self.expr(elt)?;
                self.emit(Instr::ListAppend(1));
            }
            CompKind::Set(elt) => {
                self.expr(elt)?;
                self.emit(Instr::SetAdd(1));
            }
            CompKind::Dict(k, v) => {
                self.expr(k)?;
                self.expr(v)?;
                self.emit(Instr::MapAdd(1));
            }
            CompKind::Gen(elt) => {
                self.expr(elt)?;
                self.emit(Instr::Yield);
            }
        }
        for top in loops.into_iter().rev() {
            self.emit(Instr::Jump(top as u32));
            let h = self.here();
            self.patch(top, h);
            self.u().iters -= 1;
        }
        if let CompKind::Gen(_) = kind {
            self.emit(Instr::LoadNone);
        }
        self.emit(Instr::Return);
        let unit = self.units.pop().unwrap();
        let sc = &self.scopes.scopes[scope_idx];
        let mut code = self.finish(unit, Some(sc));
        code.argcount = 1;
        code.is_generator = matches!(kind, CompKind::Gen(_));
        code.free_sources = self.free_sources(&code.freevars)?;
        let idx = self.add_child(code);
        self.emit(Instr::MakeFunction(idx << 2));
        self.expr(&generators[0].iter)?;
        // (A generator expression checks that its first iterable is iterable when it is
        // created: see `make_generator` in vm/call.rs.)
        self.emit(Instr::Call(1));
        Ok(())
    }

    // --- expressions ---

    fn subscript_index(&mut self, index: &Expr) -> CResult {
        self.expr(index)
    }

    fn expr(&mut self, e: &Expr) -> CResult {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            self.depth -= 1;
            return Err(SyntaxError {
                kind: "RecursionError",
                msg: "maximum recursion depth exceeded during compilation".into(),
                pos: e.pos,
                end_col: None,
                at_eof: false,
            });
        }
        let r = self.expr_inner(e);
        self.depth -= 1;
        r
    }

    fn expr_inner(&mut self, e: &Expr) -> CResult {
        if e.pos.line > 0 {
            self.u().line = e.pos.line;
        }
        match &e.kind {
            ExprKind::Name(n) => self.load_name(n),
            ExprKind::Int(IntLit::Small(i)) => {
                if let Ok(small) = i32::try_from(*i) {
                    self.emit(Instr::LoadInt(small));
                } else {
                    let k = self.konst(Value::Int(*i));
                    self.emit(Instr::LoadConst(k));
                }
            }
            ExprKind::Int(IntLit::Big(digits)) => {
                let b: num_bigint::BigInt = digits
                    .parse()
                    .map_err(|_| SyntaxError::new("invalid integer literal", e.pos))?;
                let k = self.konst(Value::from_bigint(b));
                self.emit(Instr::LoadConst(k));
            }
            ExprKind::Float(f) => {
                let k = self.konst(Value::float(*f));
                self.emit(Instr::LoadConst(k));
            }
            ExprKind::Str(s) => {
                let k = self.konst(Value::str(s.clone()));
                self.emit(Instr::LoadConst(k));
            }
            ExprKind::FString(parts) => self.fstring(parts)?,
            ExprKind::True => {
                let k = self.konst(Value::bool(true));
                self.emit(Instr::LoadConst(k));
            }
            ExprKind::False => {
                let k = self.konst(Value::bool(false));
                self.emit(Instr::LoadConst(k));
            }
            ExprKind::None => {
                self.emit(Instr::LoadNone);
            }
            ExprKind::Ellipsis => {
                self.emit(Instr::LoadNone);
            }
            ExprKind::BinOp { left, op, right } => {
                self.expr(left)?;
                self.expr(right)?;
                self.u().line = e.pos.line.max(1);
                match op {
                    BinOp::Add => self.emit(Instr::Add),
                    BinOp::Sub => self.emit(Instr::Sub),
                    BinOp::Mul => self.emit(Instr::Mul),
                    other => self.emit(Instr::Binary(*other as u32)),
                };
            }
            ExprKind::UnaryOp { op, operand } => {
                // Fold negative literals so that -5 is a constant, as CPython does.
                if let (UnaryOp::Neg, ExprKind::Int(IntLit::Small(i))) = (op, &operand.kind) {
                    if let Ok(small) = i32::try_from(-*i) {
                        self.emit(Instr::LoadInt(small));
                        return Ok(());
                    }
                }
                if let (UnaryOp::Neg, ExprKind::Float(f)) = (op, &operand.kind) {
                    let k = self.konst(Value::float(-*f));
                    self.emit(Instr::LoadConst(k));
                    return Ok(());
                }
                self.expr(operand)?;
                self.emit(match op {
                    UnaryOp::Neg => Instr::Neg,
                    UnaryOp::Pos => Instr::Pos,
                    UnaryOp::Invert => Instr::Invert,
                    UnaryOp::Not => Instr::Not,
                });
            }
            ExprKind::BoolOp { op, values } => {
                let mut jumps = Vec::new();
                for (i, v) in values.iter().enumerate() {
                    self.expr(v)?;
                    if i + 1 < values.len() {
                        jumps.push(self.emit(match op {
                            BoolOp::And => Instr::JumpIfFalseOrPop(0),
                            BoolOp::Or => Instr::JumpIfTrueOrPop(0),
                        }));
                    }
                }
                let end = self.here();
                for j in jumps {
                    self.patch(j, end);
                }
            }
            ExprKind::Compare { left, ops } => {
                self.expr(left)?;
                if ops.len() == 1 {
                    self.expr(&ops[0].1)?;
                    self.u().line = e.pos.line.max(1);
                    self.emit(cmp_instr(ops[0].0));
                } else {
                    let mut cleanups = Vec::new();
                    for (i, (op, right)) in ops.iter().enumerate() {
                        self.expr(right)?;
                        if i + 1 < ops.len() {
                            self.emit(Instr::Dup);
                            self.emit(Instr::Rot3);
                            self.emit(cmp_instr(*op));
                            cleanups.push(self.emit(Instr::JumpIfFalseOrPop(0)));
                        } else {
                            self.emit(cmp_instr(*op));
                        }
                    }
                    let j = self.emit(Instr::Jump(0));
                    let c = self.here();
                    for x in cleanups {
                        self.patch(x, c);
                    }
                    self.emit(Instr::Rot2);
                    self.emit(Instr::Pop);
                    let end = self.here();
                    self.patch(j, end);
                }
            }
            ExprKind::IfExp { test, body, orelse } => {
                self.expr(test)?;
                let jf = self.emit(Instr::JumpIfFalse(0));
                self.expr(body)?;
                let j = self.emit(Instr::Jump(0));
                let h = self.here();
                self.patch(jf, h);
                self.expr(orelse)?;
                let end = self.here();
                self.patch(j, end);
            }
            ExprKind::Lambda { params, body } => {
                self.function(node_id(e), "<lambda>", params, FnBody::Expr(body), e.pos)?;
            }
            ExprKind::Call { func, args } => self.call(func, args, e.pos)?,
            ExprKind::Attribute { value, attr } => {
                self.expr(value)?;
                let ai = self.name_idx(attr);
                self.emit(Instr::LoadAttr(ai));
            }
            ExprKind::Subscript { value, index } => {
                self.expr(value)?;
                self.subscript_index(index)?;
                self.u().line = e.pos.line.max(1);
                self.emit(Instr::Subscr);
            }
            ExprKind::Slice { lower, upper, step } => {
                // `p[1:4]`, `s[-3:]`, `xs[::2]`: a slice of constants is itself a constant,
                // built once at compile time (CPython 3.11 builds one per execution).
                let parts = [lower, upper, step].map(|p| match p {
                    None => Some(Value::None),
                    Some(x) => const_slice_part(x),
                });
                if let [Some(lo), Some(up), Some(st)] = parts {
                    let k = self.konst(Value::Slice(Arc::new(crate::value::SliceObj {
                        lower: lo,
                        upper: up,
                        step: st,
                    })));
                    self.emit(Instr::LoadConst(k));
                    return Ok(());
                }
                for part in [lower, upper] {
                    match part {
                        Some(x) => self.expr(x)?,
                        None => {
                            self.emit(Instr::LoadNone);
                        }
                    }
                }
                match step {
                    Some(s) => {
                        self.expr(s)?;
                        self.emit(Instr::BuildSlice(3));
                    }
                    None => {
                        self.emit(Instr::BuildSlice(2));
                    }
                }
            }
            ExprKind::Starred(_) => {
                return Err(SyntaxError::new("can't use starred expression here", e.pos));
            }
            ExprKind::List(items) => self.sequence(items, SeqKind::List)?,
            ExprKind::Tuple(items) => self.sequence(items, SeqKind::Tuple)?,
            ExprKind::Set(items) => self.sequence(items, SeqKind::Set)?,
            ExprKind::Dict(pairs) => {
                if pairs.iter().all(|(k, _)| k.is_some()) && pairs.len() < 256 {
                    for (k, v) in pairs {
                        self.expr(k.as_ref().unwrap())?;
                        self.expr(v)?;
                    }
                    self.emit(Instr::BuildMap(pairs.len() as u32));
                } else {
                    self.emit(Instr::BuildMap(0));
                    for (k, v) in pairs {
                        match k {
                            Some(k) => {
                                self.expr(k)?;
                                self.expr(v)?;
                                self.emit(Instr::MapAdd(1));
                            }
                            None => {
                                self.expr(v)?;
                                self.emit(Instr::DictUpdate(0));
                            }
                        }
                    }
                }
            }
            ExprKind::ListComp { elt, generators } => {
                self.comprehension(e, CompKind::List(elt), generators)?
            }
            ExprKind::SetComp { elt, generators } => {
                self.comprehension(e, CompKind::Set(elt), generators)?
            }
            ExprKind::DictComp {
                key,
                value,
                generators,
            } => self.comprehension(e, CompKind::Dict(key, value), generators)?,
            ExprKind::GeneratorExp { elt, generators } => {
                self.comprehension(e, CompKind::Gen(elt), generators)?
            }
        }
        Ok(())
    }

    fn sequence(&mut self, items: &[Expr], kind: SeqKind) -> CResult {
        let has_star = items.iter().any(|e| matches!(e.kind, ExprKind::Starred(_)));
        if kind == SeqKind::Set && !has_star && items.len() > 2 {
            if let Some(order) = const_set_order(items) {
                // CPython builds an all-constant set display of three or more items from a
                // frozenset constant (BUILD_SET 0; SET_UPDATE), and that constant is a
                // frozenset rebuilt from the iteration order of one built from the source
                // order. SetUpdate adds these items to a fresh table, then merges it into the
                // empty set, so the result is laid out (and iterates) exactly as CPython's.
                let k = self.konst(Value::tuple(order));
                self.emit(Instr::BuildSet(0));
                self.emit(Instr::LoadConst(k));
                self.emit(Instr::SetUpdate);
                return Ok(());
            }
        }
        if !has_star {
            for it in items {
                self.expr(it)?;
            }
            let n = items.len() as u32;
            self.emit(match kind {
                SeqKind::List => Instr::BuildList(n),
                SeqKind::Tuple => Instr::BuildTuple(n),
                SeqKind::Set => Instr::BuildSet(n),
            });
            return Ok(());
        }
        match kind {
            SeqKind::Set => self.emit(Instr::BuildSet(0)),
            _ => self.emit(Instr::BuildList(0)),
        };
        for it in items {
            match &it.kind {
                ExprKind::Starred(inner) => {
                    self.expr(inner)?;
                    self.emit(if kind == SeqKind::Set {
                        Instr::SetUpdate
                    } else {
                        Instr::ListExtend(0)
                    });
                }
                _ => {
                    self.expr(it)?;
                    self.emit(if kind == SeqKind::Set {
                        Instr::SetAdd(1)
                    } else {
                        Instr::ListAppend(1)
                    });
                }
            }
        }
        if kind == SeqKind::Tuple {
            self.emit(Instr::ListToTuple);
        }
        Ok(())
    }

    fn call(&mut self, func: &Expr, args: &[Arg], pos: Pos) -> CResult {
        let simple = args.iter().all(|a| matches!(a, Arg::Positional(_)));
        let has_star = args
            .iter()
            .any(|a| matches!(a, Arg::Star(_) | Arg::DoubleStar(_)));
        if simple {
            if let ExprKind::Attribute { value, attr } = &func.kind {
                self.expr(value)?;
                let ai = self.name_idx(attr);
                self.emit(Instr::LoadMethod(ai));
                for a in args {
                    if let Arg::Positional(x) = a {
                        self.expr(x)?;
                    }
                }
                self.u().line = pos.line.max(1);
                self.emit(Instr::CallMethod(args.len() as u32));
                return Ok(());
            }
        }
        self.expr(func)?;
        if !has_star {
            let mut kwnames = Vec::new();
            for a in args {
                match a {
                    Arg::Positional(x) => self.expr(x)?,
                    Arg::Keyword(k, x) => {
                        if kwnames.iter().any(|n: &Value| n.as_str() == Some(k)) {
                            return Err(SyntaxError::new(
                                format!("keyword argument repeated: {}", k),
                                x.pos,
                            ));
                        }
                        self.expr(x)?;
                        kwnames.push(Value::str(k.clone()));
                    }
                    _ => unreachable!(),
                }
            }
            self.u().line = pos.line.max(1);
            if kwnames.is_empty() {
                self.emit(Instr::Call(args.len() as u32));
            } else {
                let k = self.konst(Value::tuple(kwnames));
                self.emit(Instr::LoadConst(k));
                self.emit(Instr::CallKw(args.len() as u32));
            }
            return Ok(());
        }
        // General form: build the positional tuple and the keyword dict.
        self.emit(Instr::BuildList(0));
        for a in args {
            match a {
                Arg::Positional(x) => {
                    self.expr(x)?;
                    self.emit(Instr::ListAppend(1));
                }
                Arg::Star(x) => {
                    self.expr(x)?;
                    self.emit(Instr::ListExtend(1));
                }
                _ => {}
            }
        }
        self.emit(Instr::ListToTuple);
        let has_kw = args
            .iter()
            .any(|a| matches!(a, Arg::Keyword(..) | Arg::DoubleStar(_)));
        if has_kw {
            self.emit(Instr::BuildMap(0));
            for a in args {
                match a {
                    Arg::Keyword(k, x) => {
                        let ki = self.konst(Value::str(k.clone()));
                        self.emit(Instr::LoadConst(ki));
                        self.expr(x)?;
                        self.emit(Instr::BuildMap(1));
                        self.emit(Instr::DictUpdate(1));
                    }
                    Arg::DoubleStar(x) => {
                        self.expr(x)?;
                        self.emit(Instr::DictUpdate(1));
                    }
                    _ => {}
                }
            }
        }
        self.u().line = pos.line.max(1);
        self.emit(Instr::CallEx(has_kw as u32));
        Ok(())
    }

    fn fstring(&mut self, parts: &[FPart]) -> CResult {
        let mut n = 0;
        for p in parts {
            match p {
                FPart::Lit(s) => {
                    if s.is_empty() {
                        continue;
                    }
                    let k = self.konst(Value::str(s.clone()));
                    self.emit(Instr::LoadConst(k));
                }
                FPart::Value {
                    expr,
                    conversion,
                    spec,
                } => {
                    self.expr(expr)?;
                    let mut flags = match conversion {
                        Some('s') => 1,
                        Some('r') => 2,
                        Some('a') => 3,
                        _ => 0,
                    };
                    if let Some(spec) = spec {
                        self.fstring(spec)?;
                        flags |= 4;
                    }
                    self.emit(Instr::FormatValue(flags));
                }
            }
            n += 1;
        }
        if n == 0 {
            let k = self.konst(Value::str(""));
            self.emit(Instr::LoadConst(k));
        } else if n > 1 {
            self.emit(Instr::BuildString(n));
        } else if let Some(FPart::Lit(_)) = parts
            .iter()
            .find(|p| !matches!(p, FPart::Lit(s) if s.is_empty()))
        {
            // A lone literal is already a str.
        } else {
            self.emit(Instr::BuildString(1));
        }
        Ok(())
    }
}

enum FnBody<'b> {
    Stmts(&'b [Stmt]),
    Expr(&'b Expr),
}

#[derive(Clone, Copy, PartialEq)]
enum SeqKind {
    List,
    Tuple,
    Set,
}

enum CompKind<'b> {
    List(&'b Expr),
    Set(&'b Expr),
    Dict(&'b Expr, &'b Expr),
    Gen(&'b Expr),
}

fn cmp_instr(op: CmpOp) -> Instr {
    match op {
        CmpOp::Eq => Instr::Eq,
        CmpOp::NotEq => Instr::Ne,
        CmpOp::Lt => Instr::Lt,
        CmpOp::LtE => Instr::Le,
        CmpOp::Gt => Instr::Gt,
        CmpOp::GtE => Instr::Ge,
        CmpOp::Is => Instr::Is,
        CmpOp::IsNot => Instr::IsNot,
        CmpOp::In => Instr::In,
        CmpOp::NotIn => Instr::NotIn,
    }
}

/// A slice bound that is a constant: an int literal (possibly negated) or `None`.
fn const_slice_part(e: &Expr) -> Option<Value> {
    match &e.kind {
        ExprKind::None => Some(Value::None),
        ExprKind::Int(IntLit::Small(i)) => Some(Value::Int(*i)),
        ExprKind::UnaryOp {
            op: UnaryOp::Neg,
            operand,
        } => match &operand.kind {
            ExprKind::Int(IntLit::Small(i)) => i.checked_neg().map(Value::Int),
            _ => None,
        },
        _ => None,
    }
}

/// The value of a constant set item as CPython's compiler sees one (literals, negated
/// numbers, tuples of constants); None for anything computed at run time.
fn const_item(e: &Expr) -> Option<Value> {
    Some(match &e.kind {
        ExprKind::Int(IntLit::Small(i)) => Value::Int(*i),
        ExprKind::Int(IntLit::Big(digits)) => Value::from_bigint(digits.parse().ok()?),
        ExprKind::Float(f) => Value::float(*f),
        ExprKind::Str(s) => Value::str(s.clone()),
        ExprKind::True => Value::bool(true),
        ExprKind::False => Value::bool(false),
        ExprKind::None => Value::None,
        ExprKind::UnaryOp {
            op: UnaryOp::Neg,
            operand,
        } => match const_item(operand)? {
            v @ (Value::Int(_) | Value::BigInt(_) | Value::Float(_)) => crate::ops::neg(&v).ok()?,
            _ => return None,
        },
        ExprKind::Tuple(items) => {
            Value::tuple(items.iter().map(const_item).collect::<Option<Vec<_>>>()?)
        }
        _ => return None,
    })
}

/// For a set display whose items are all constants: the items in the iteration order of
/// the set built from them in source order (None if any item is not a constant).
fn const_set_order(items: &[Expr]) -> Option<Vec<Value>> {
    let mut t = crate::dict::SetTable::new();
    for it in items {
        let v = const_item(it)?;
        let h = crate::dict::hash_value(&v).ok()?;
        t.add(h, v);
    }
    Some(t.keys())
}
