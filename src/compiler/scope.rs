//! Scope analysis: decides, before any code is emitted, where every name of every function
//! lives — a local slot, a cell (a local captured by an inner function), a free variable (a
//! cell of an enclosing function) or a global — following Python's LEGB rules, `global` and
//! `nonlocal` declarations included.
//!
//! Scopes are found again by the compiler through the address of their AST node (a `def`,
//! a `lambda` or a comprehension), so the two passes need not walk the tree in the same order.

use std::collections::{HashMap, HashSet};

use crate::ast::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    Local(u32),
    /// An index into the code's cells (`cellvars` then `freevars`).
    Cell(u32),
    Global,
}

#[derive(Debug, Default)]
pub struct Scope {
    pub is_module: bool,
    /// Names with a local slot, parameters first.
    pub locals: Vec<String>,
    pub cellvars: Vec<String>,
    pub freevars: Vec<String>,
    pub names: HashMap<String, NameKind>,
    // Raw facts gathered by the first walk:
    params: Vec<String>,
    bound: Vec<String>,
    bound_set: HashSet<String>,
    used: Vec<String>,
    global_decl: HashSet<String>,
    nonlocal_decl: Vec<(String, Pos)>,
    parent: Option<usize>,
    children: Vec<usize>,
}

impl Scope {
    pub fn lookup(&self, name: &str) -> NameKind {
        self.names.get(name).copied().unwrap_or(NameKind::Global)
    }
    pub fn cell_index(&self, name: &str) -> Option<u32> {
        match self.names.get(name) {
            Some(NameKind::Cell(i)) => Some(*i),
            _ => None,
        }
    }
}

pub struct ScopeTable {
    pub scopes: Vec<Scope>,
    /// AST node address → scope index.
    pub by_node: HashMap<usize, usize>,
}

pub fn node_id<T>(node: &T) -> usize {
    node as *const T as usize
}

/// Analyse a module body. Errors are Python's compile-time scope errors.
pub fn analyze(body: &[Stmt]) -> Result<ScopeTable, SyntaxError> {
    let mut w = Walker {
        scopes: vec![Scope {
            is_module: true,
            ..Default::default()
        }],
        by_node: HashMap::new(),
        cur: 0,
    };
    w.by_node.insert(0, 0);
    for s in body {
        w.stmt(s)?;
    }
    resolve(&mut w.scopes)?;
    Ok(ScopeTable {
        scopes: w.scopes,
        by_node: w.by_node,
    })
}

struct Walker {
    scopes: Vec<Scope>,
    by_node: HashMap<usize, usize>,
    cur: usize,
}

impl Walker {
    fn bind(&mut self, name: &str) {
        let s = &mut self.scopes[self.cur];
        if s.bound_set.insert(name.to_string()) {
            s.bound.push(name.to_string());
        }
    }
    fn use_name(&mut self, name: &str) {
        self.scopes[self.cur].used.push(name.to_string());
    }
    fn check_decl(&self, name: &str, pos: Pos) -> Result<(), SyntaxError> {
        let s = &self.scopes[self.cur];
        if s.params.iter().any(|p| p == name) && (s.global_decl.contains(name)) {
            return Err(SyntaxError::new(
                format!("name '{}' is parameter and global", name),
                pos,
            ));
        }
        Ok(())
    }
    fn push_scope(&mut self, node: usize, params: &Params) -> usize {
        let idx = self.scopes.len();
        let mut sc = Scope {
            parent: Some(self.cur),
            ..Default::default()
        };
        for p in &params.args {
            sc.params.push(p.name.clone());
        }
        for p in &params.kwonly {
            sc.params.push(p.name.clone());
        }
        if let Some(v) = &params.vararg {
            sc.params.push(v.clone());
        }
        if let Some(k) = &params.kwarg {
            sc.params.push(k.clone());
        }
        for p in sc.params.clone() {
            if sc.bound_set.insert(p.clone()) {
                sc.bound.push(p);
            }
        }
        self.scopes.push(sc);
        self.scopes[self.cur].children.push(idx);
        self.by_node.insert(node, idx);
        self.cur = idx;
        idx
    }

    fn stmts(&mut self, body: &[Stmt]) -> Result<(), SyntaxError> {
        for s in body {
            self.stmt(s)?;
        }
        Ok(())
    }

    fn stmt(&mut self, s: &Stmt) -> Result<(), SyntaxError> {
        match &s.kind {
            StmtKind::Expr(e) => self.expr(e)?,
            StmtKind::Assign { targets, value } => {
                self.expr(value)?;
                for t in targets {
                    self.target(t)?;
                }
            }
            StmtKind::AugAssign { target, value, .. } => {
                self.expr(value)?;
                if let ExprKind::Name(n) = &target.kind {
                    self.use_name(n);
                }
                self.target(target)?;
            }
            StmtKind::If { test, body, orelse } | StmtKind::While { test, body, orelse } => {
                self.expr(test)?;
                self.stmts(body)?;
                self.stmts(orelse)?;
            }
            StmtKind::For {
                target,
                iter,
                body,
                orelse,
            } => {
                self.expr(iter)?;
                self.target(target)?;
                self.stmts(body)?;
                self.stmts(orelse)?;
            }
            StmtKind::Break | StmtKind::Continue | StmtKind::Pass => {}
            StmtKind::FunctionDef(f) => {
                self.params_defaults(&f.params)?;
                self.bind(&f.name);
                let saved = self.cur;
                self.push_scope(node_id(&**f), &f.params);
                self.stmts(&f.body)?;
                self.cur = saved;
            }
            StmtKind::Return(v) => {
                if let Some(v) = v {
                    self.expr(v)?;
                }
            }
            StmtKind::Global(names) => {
                for n in names {
                    let sc = &self.scopes[self.cur];
                    if sc.used.iter().any(|u| u == n) && !sc.global_decl.contains(n) {
                        return Err(SyntaxError::new(
                            format!("name '{}' is used prior to global declaration", n),
                            s.pos,
                        ));
                    }
                    if sc.bound_set.contains(n)
                        && !sc.global_decl.contains(n)
                        && !sc.params.contains(n)
                    {
                        return Err(SyntaxError::new(
                            format!("name '{}' is assigned to before global declaration", n),
                            s.pos,
                        ));
                    }
                    if sc.params.contains(n) {
                        return Err(SyntaxError::new(
                            format!("name '{}' is parameter and global", n),
                            s.pos,
                        ));
                    }
                    self.scopes[self.cur].global_decl.insert(n.clone());
                    self.check_decl(n, s.pos)?;
                }
            }
            StmtKind::Nonlocal(names) => {
                if self.scopes[self.cur].is_module {
                    return Err(SyntaxError::new(
                        "nonlocal declaration not allowed at module level",
                        s.pos,
                    ));
                }
                for n in names {
                    let sc = &self.scopes[self.cur];
                    if sc.params.contains(n) {
                        return Err(SyntaxError::new(
                            format!("name '{}' is parameter and nonlocal", n),
                            s.pos,
                        ));
                    }
                    if sc.used.iter().any(|u| u == n) {
                        return Err(SyntaxError::new(
                            format!("name '{}' is used prior to nonlocal declaration", n),
                            s.pos,
                        ));
                    }
                    if sc.bound_set.contains(n) {
                        return Err(SyntaxError::new(
                            format!("name '{}' is assigned to before nonlocal declaration", n),
                            s.pos,
                        ));
                    }
                    self.scopes[self.cur].nonlocal_decl.push((n.clone(), s.pos));
                }
            }
            StmtKind::Del(targets) => {
                for t in targets {
                    self.target(t)?;
                }
            }
            StmtKind::Assert { test, msg } => {
                self.expr(test)?;
                if let Some(m) = msg {
                    self.expr(m)?;
                }
            }
            StmtKind::Raise { exc, cause } => {
                if let Some(e) = exc {
                    self.expr(e)?;
                }
                if let Some(c) = cause {
                    self.expr(c)?;
                }
            }
            StmtKind::Try {
                body,
                handlers,
                orelse,
                finalbody,
            } => {
                self.stmts(body)?;
                for h in handlers {
                    if let Some(t) = &h.typ {
                        self.expr(t)?;
                    }
                    if let Some(n) = &h.name {
                        self.bind(n);
                    }
                    self.stmts(&h.body)?;
                }
                self.stmts(orelse)?;
                self.stmts(finalbody)?;
            }
            StmtKind::With { items, body } => {
                for it in items {
                    self.expr(&it.context)?;
                    if let Some(t) = &it.target {
                        self.target(t)?;
                    }
                }
                self.stmts(body)?;
            }
            StmtKind::Import(aliases) => {
                for a in aliases {
                    let bound = a
                        .asname
                        .clone()
                        .unwrap_or_else(|| a.name.split('.').next().unwrap_or("").to_string());
                    self.bind(&bound);
                }
            }
            StmtKind::ImportFrom { names, .. } => {
                for a in names {
                    self.bind(a.asname.as_ref().unwrap_or(&a.name));
                }
            }
        }
        Ok(())
    }

    fn params_defaults(&mut self, p: &Params) -> Result<(), SyntaxError> {
        for a in p.args.iter().chain(p.kwonly.iter()) {
            if let Some(d) = &a.default {
                self.expr(d)?;
            }
        }
        Ok(())
    }

    fn target(&mut self, t: &Expr) -> Result<(), SyntaxError> {
        match &t.kind {
            ExprKind::Name(n) => self.bind(n),
            ExprKind::Tuple(items) | ExprKind::List(items) => {
                for i in items {
                    self.target(i)?;
                }
            }
            ExprKind::Starred(inner) => self.target(inner)?,
            ExprKind::Attribute { value, .. } => self.expr(value)?,
            ExprKind::Subscript { value, index } => {
                self.expr(value)?;
                self.expr(index)?;
            }
            _ => self.expr(t)?,
        }
        Ok(())
    }

    fn comprehension(
        &mut self,
        node: usize,
        gens: &[Comprehension],
        elts: &[&Expr],
    ) -> Result<(), SyntaxError> {
        // The first iterable is evaluated in the enclosing scope.
        self.expr(&gens[0].iter)?;
        let saved = self.cur;
        let params = Params {
            args: vec![Param {
                name: ".0".into(),
                default: None,
            }],
            ..Default::default()
        };
        self.push_scope(node, &params);
        for (i, g) in gens.iter().enumerate() {
            if i > 0 {
                self.expr(&g.iter)?;
            }
            self.target(&g.target)?;
            for c in &g.ifs {
                self.expr(c)?;
            }
        }
        for e in elts {
            self.expr(e)?;
        }
        self.cur = saved;
        Ok(())
    }

    fn expr(&mut self, e: &Expr) -> Result<(), SyntaxError> {
        match &e.kind {
            ExprKind::Name(n) => self.use_name(n),
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::True
            | ExprKind::False
            | ExprKind::None
            | ExprKind::Ellipsis => {}
            ExprKind::FString(parts) => self.fparts(parts)?,
            ExprKind::BinOp { left, right, .. } => {
                self.expr(left)?;
                self.expr(right)?;
            }
            ExprKind::UnaryOp { operand, .. } => self.expr(operand)?,
            ExprKind::BoolOp { values, .. } => {
                for v in values {
                    self.expr(v)?;
                }
            }
            ExprKind::Compare { left, ops } => {
                self.expr(left)?;
                for (_, r) in ops {
                    self.expr(r)?;
                }
            }
            ExprKind::IfExp { test, body, orelse } => {
                self.expr(test)?;
                self.expr(body)?;
                self.expr(orelse)?;
            }
            ExprKind::Lambda { params, body } => {
                self.params_defaults(params)?;
                let saved = self.cur;
                self.push_scope(node_id(e), params);
                self.expr(body)?;
                self.cur = saved;
            }
            ExprKind::Call { func, args } => {
                self.expr(func)?;
                for a in args {
                    match a {
                        Arg::Positional(x)
                        | Arg::Star(x)
                        | Arg::Keyword(_, x)
                        | Arg::DoubleStar(x) => self.expr(x)?,
                    }
                }
            }
            ExprKind::Attribute { value, .. } => self.expr(value)?,
            ExprKind::Subscript { value, index } => {
                self.expr(value)?;
                self.expr(index)?;
            }
            ExprKind::Slice { lower, upper, step } => {
                for x in [lower, upper, step].into_iter().flatten() {
                    self.expr(x)?;
                }
            }
            ExprKind::Starred(x) => self.expr(x)?,
            ExprKind::List(xs) | ExprKind::Tuple(xs) | ExprKind::Set(xs) => {
                for x in xs {
                    self.expr(x)?;
                }
            }
            ExprKind::Dict(pairs) => {
                for (k, v) in pairs {
                    if let Some(k) = k {
                        self.expr(k)?;
                    }
                    self.expr(v)?;
                }
            }
            ExprKind::ListComp { elt, generators }
            | ExprKind::SetComp { elt, generators }
            | ExprKind::GeneratorExp { elt, generators } => {
                self.comprehension(node_id(e), generators, &[elt])?
            }
            ExprKind::DictComp {
                key,
                value,
                generators,
            } => self.comprehension(node_id(e), generators, &[key, value])?,
        }
        Ok(())
    }

    fn fparts(&mut self, parts: &[FPart]) -> Result<(), SyntaxError> {
        for p in parts {
            if let FPart::Value { expr, spec, .. } = p {
                self.expr(expr)?;
                if let Some(s) = spec {
                    self.fparts(s)?;
                }
            }
        }
        Ok(())
    }
}

/// Decide every scope's name kinds, then number locals and cells.
fn resolve(scopes: &mut [Scope]) -> Result<(), SyntaxError> {
    // Which names each function scope owns as locals.
    let n = scopes.len();
    let mut owns: Vec<HashSet<String>> = vec![HashSet::new(); n];
    for i in 0..n {
        if scopes[i].is_module {
            continue;
        }
        let nonlocals: HashSet<&String> = scopes[i].nonlocal_decl.iter().map(|(n, _)| n).collect();
        for b in &scopes[i].bound {
            if !scopes[i].global_decl.contains(b) && !nonlocals.contains(b) {
                owns[i].insert(b.clone());
            }
        }
    }
    let mut cells: Vec<Vec<String>> = vec![Vec::new(); n];
    let mut frees: Vec<Vec<String>> = vec![Vec::new(); n];
    let push_unique = |v: &mut Vec<String>, s: &str| {
        if !v.iter().any(|x| x == s) {
            v.push(s.to_string());
        }
    };
    for i in 0..n {
        if scopes[i].is_module {
            continue;
        }
        // Names this scope needs from outside: uses of unbound names, and nonlocals.
        let mut wanted: Vec<(String, Option<Pos>)> = Vec::new();
        for u in &scopes[i].used {
            if !owns[i].contains(u) && !scopes[i].global_decl.contains(u) {
                wanted.push((u.clone(), None));
            }
        }
        for (nl, pos) in &scopes[i].nonlocal_decl {
            wanted.push((nl.clone(), Some(*pos)));
        }
        for b in &scopes[i].bound {
            if scopes[i].nonlocal_decl.iter().any(|(n, _)| n == b) {
                wanted.push((b.clone(), None));
            }
        }
        for (name, nonlocal_pos) in wanted {
            // Walk outwards to the nearest function scope that owns the name.
            let mut path = vec![i];
            let mut p = scopes[i].parent;
            let mut owner = None;
            while let Some(pi) = p {
                if scopes[pi].is_module {
                    break;
                }
                if owns[pi].contains(&name) {
                    owner = Some(pi);
                    break;
                }
                if scopes[pi].global_decl.contains(&name) {
                    break;
                }
                path.push(pi);
                p = scopes[pi].parent;
            }
            match owner {
                Some(o) => {
                    push_unique(&mut cells[o], &name);
                    for &s in &path {
                        push_unique(&mut frees[s], &name);
                    }
                }
                None => {
                    if let Some(pos) = nonlocal_pos {
                        return Err(SyntaxError::new(
                            format!("no binding for nonlocal '{}' found", name),
                            pos,
                        ));
                    }
                }
            }
        }
    }
    for i in 0..n {
        let sc = &mut scopes[i];
        if sc.is_module {
            // Every module-level name is a global; only hidden temporaries get local slots.
            continue;
        }
        let mut locals: Vec<String> = sc.params.clone();
        for b in &sc.bound {
            if owns[i].contains(b) && !locals.contains(b) {
                locals.push(b.clone());
            }
        }
        let cellvars = cells[i].clone();
        let freevars: Vec<String> = frees[i]
            .iter()
            .filter(|f| !cellvars.contains(f))
            .cloned()
            .collect();
        let mut names = HashMap::new();
        for (li, l) in locals.iter().enumerate() {
            names.insert(l.clone(), NameKind::Local(li as u32));
        }
        for (ci, c) in cellvars.iter().chain(freevars.iter()).enumerate() {
            names.insert(c.clone(), NameKind::Cell(ci as u32));
        }
        for g in &sc.global_decl {
            names.insert(g.clone(), NameKind::Global);
        }
        sc.locals = locals;
        sc.cellvars = cellvars;
        sc.freevars = freevars;
        sc.names = names;
    }
    Ok(())
}
