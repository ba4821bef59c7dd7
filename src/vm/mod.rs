//! The virtual machine: one `Vm` per OS thread, running bytecode on heap-allocated frames.
//!
//! State is split the way threads need it:
//! - `Runtime` (shared, behind an `Arc`): globals, imported modules, stdout, settings — what
//!   every thread of the process sees.
//! - `Vm` (per thread): the frame stack, the value stack, the locals, the loop-iterator stack
//!   and the exception being handled.
//!
//! Toy calls never recurse on the native stack: a call pushes a `Frame` and the dispatch loop
//! goes on in the callee, so deep Toy recursion ends in `RecursionError`, never in a crash.
//! The loop checks the eval breaker (`Runtime::eval_breaker`) at backward jumps and calls;
//! that is where the GIL and signal handling hook in.

mod call;
pub mod iter;
mod method_cache;
mod push;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rustc_hash::FxHashMap;

use crate::builtins::methods;
use crate::bytecode::{Code, Instr};
use crate::dict::{hash_value, DictTable, SetTable};
use crate::exceptions::{ExcKind, ExcObj, TbEntry};
use crate::ops::{self, err, type_error, CmpKind};
use crate::value::*;
use push::PushFast;

pub use iter::LoopIter;

/// What every thread of one process shares.
pub struct Runtime {
    pub globals: Arc<Globals>,
    pub builtins: FxHashMap<&'static str, Value>,
    pub modules: Mutex<FxHashMap<String, Value>>,
    pub recursion_limit: AtomicUsize,
    /// Source text of each file, for tracebacks.
    pub sources: Mutex<FxHashMap<String, Arc<Vec<String>>>>,
    pub argv: Vec<String>,
    pub stdout: Mutex<crate::builtins::io::Output>,
    /// The global interpreter lock (src/gil.rs). Its breaker word is the eval breaker that
    /// the dispatch loop polls at backward jumps and calls.
    pub gil: crate::gil::Gil,
    /// Set by the SIGINT handler: the main thread raises KeyboardInterrupt at its next check
    /// point, or when the blocking wait it is in wakes up.
    pub interrupted: Arc<AtomicBool>,
    /// Every Toy thread of this process (MainThread first), finished ones included.
    pub threads: Mutex<Vec<Arc<crate::thread::ThreadHandle>>>,
    /// For `Thread-N` names.
    pub thread_counter: AtomicUsize,
}

impl Runtime {
    pub fn new(argv: Vec<String>) -> Arc<Runtime> {
        let builtins = crate::builtins::table();
        let globals = Arc::new(Globals::new());
        let rt = Runtime {
            globals,
            builtins,
            modules: Mutex::new(FxHashMap::default()),
            recursion_limit: AtomicUsize::new(1000),
            sources: Mutex::new(FxHashMap::default()),
            argv,
            stdout: Mutex::new(crate::builtins::io::Output::stdout()),
            gil: crate::gil::Gil::new(crate::gil::DEFAULT_INTERVAL),
            interrupted: Arc::new(AtomicBool::new(false)),
            threads: Mutex::new(Vec::new()),
            thread_counter: AtomicUsize::new(0),
        };
        let rt = Arc::new(rt);
        {
            let name = "__name__";
            let slot = rt.global_slot(name);
            let mut slots = rt.globals.slots.write();
            slots[slot as usize].value = Some(Value::str("__main__"));
            rt.globals.bump();
        }
        rt
    }

    /// The slot of a module-level name, created on first use (compile time).
    pub fn global_slot(&self, name: &str) -> u32 {
        let mut index = self.globals.index.lock();
        if let Some(&i) = index.get(name) {
            return i;
        }
        let mut slots = self.globals.slots.write();
        let i = slots.len() as u32;
        let name: Arc<str> = Arc::from(name);
        slots.push(GlobalSlot {
            name: name.clone(),
            value: None,
            builtin: self.builtins.get(&*name).cloned(),
        });
        index.insert(name, i);
        i
    }

    pub fn global_name(&self, slot: u32) -> String {
        self.globals
            .slots
            .read()
            .get(slot as usize)
            .map(|s| s.name.to_string())
            .unwrap_or_default()
    }

    pub fn set_switch_interval(&self, s: f64) {
        self.gil.set_interval(std::time::Duration::from_secs_f64(s));
    }

    pub fn switch_interval(&self) -> f64 {
        // The GIL is the one place the interval lives.
        self.gil.interval().as_secs_f64()
    }

    pub fn add_source(&self, filename: &str, source: &str) {
        let lines = source.lines().map(|l| l.to_string()).collect();
        self.sources
            .lock()
            .insert(filename.to_string(), Arc::new(lines));
    }

    pub fn source_line(&self, filename: &str, line: u32) -> Option<String> {
        let s = self.sources.lock().get(filename).cloned()?;
        s.get(line.checked_sub(1)? as usize).cloned()
    }
}

pub struct Frame {
    /// The function running in this frame. While the frame executes, the dispatch loop holds
    /// it (moved out of here, so a frame switch costs no reference counting); it is put back
    /// before anything else can look at the frame (a call, an exception, a yield).
    pub func: Option<Arc<Function>>,
    /// The cells this frame's code creates (None when it creates none: most frames).
    pub cells: Option<Box<[Arc<Cell>]>>,
    pub ip: usize,
    /// The frame's slots on the thread's one value stack: its locals start at `locals_base`
    /// (unbound ones hold `Value::Unbound`), its operand stack at `stack_base` (right after
    /// the locals), and on return the stack is cut back to `pop_to` (below the locals: the
    /// callee's slot of the call that made this frame, when it was made from the stack).
    pub stack_base: usize,
    pub locals_base: usize,
    pub pop_to: usize,
    pub iter_base: usize,
    /// For a generator-expression frame: the generator object it belongs to.
    pub gen: Option<Arc<IterObj>>,
}

impl Frame {
    /// The frame's function (never called on the frame the dispatch loop is running).
    pub fn func(&self) -> &Arc<Function> {
        self.func
            .as_ref()
            .expect("frame: its function is held by the running dispatch loop")
    }
}

/// A suspended generator: its frame and the parts of the two stacks that belong to it (its
/// locals and operand stack, then its loop iterators).
pub struct GenState {
    pub frame: Frame,
    pub stack: Vec<Value>,
    pub iters: Vec<LoopIter>,
}

pub struct Vm {
    pub rt: Arc<Runtime>,
    pub frames: Vec<Frame>,
    /// Every frame's locals and operand stack, one frame above the other.
    pub stack: Vec<Value>,
    pub iters: Vec<LoopIter>,
    /// The exception being handled (`sys.exc_info()`), for bare `raise` and chaining.
    pub exc_info: Option<Arc<ExcObj>>,
    /// This thread's row in the GIL (which it holds while it runs Toy code).
    pub token: crate::gil::ThreadToken,
    /// The handle of the Toy thread this VM runs (MainThread for the program itself).
    pub current: Arc<crate::thread::ThreadHandle>,
    /// Instructions executed since they were last reported to the GIL statistics.
    executed: u64,
    /// Set by `Yield` so that `resume` can tell a yield from a return.
    yielded: bool,
    /// How many Rust-level calls back into the dispatch loop are active (see call.rs).
    native_depth: usize,
    /// Global values this thread has loaded, by slot, with the `Globals::version` they were
    /// read at: valid while the version is unchanged (any store to a global changes it).
    gcache: Vec<(u64, Option<Value>)>,
    /// Where the keyword arguments of recent keyword call sites go (see `call.rs`).
    kw_sites: call::KwSites,
    /// Method ids of recent `LoadMethod`s (see method_cache.rs).
    methods: method_cache::MethodCache,
}

impl Vm {
    /// The VM of the main thread: registers `MainThread` and takes the GIL.
    pub fn new(rt: Arc<Runtime>) -> Vm {
        let handle = crate::thread::ThreadHandle::main();
        rt.threads.lock().push(handle.clone());
        let token = rt.gil.register_thread(&handle.name);
        Vm::for_thread(rt, handle, token)
    }

    /// A VM for the Toy thread `handle`, run by the calling OS thread: it joins the GIL's
    /// statistics and blocks until it holds the GIL.
    pub fn for_thread(
        rt: Arc<Runtime>,
        handle: Arc<crate::thread::ThreadHandle>,
        token: crate::gil::ThreadToken,
    ) -> Vm {
        rt.gil.acquire(&token);
        handle.set_ident();
        handle.mark_started();
        Vm {
            token,
            current: handle,
            executed: 0,
            rt,
            frames: Vec::with_capacity(64),
            stack: Vec::with_capacity(2048),
            iters: Vec::with_capacity(64),
            exc_info: None,
            yielded: false,
            native_depth: 0,
            gcache: Vec::new(),
            kw_sites: call::KwSites::new(),
            methods: method_cache::MethodCache::new(),
        }
    }

    /// Run a module's code object to completion.
    pub fn run_module(&mut self, code: Arc<Code>) -> PResult<Value> {
        let depth = self.frames.len();
        let n = code.nlocals();
        let func = Arc::new(Function::new(
            code,
            self.rt.globals.clone(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        ));
        let base = self.stack.len();
        self.stack.resize(base + n, Value::Unbound);
        self.frames.push(Frame {
            func: Some(func),
            cells: None,
            ip: 0,
            stack_base: base + n,
            locals_base: base,
            pop_to: base,
            iter_base: self.iters.len(),
            gen: None,
        });
        self.run(depth)
    }

    /// Run a blocking OS operation (file or pipe I/O, waiting for a child …). This is the one
    /// place where a thread says "I am about to block": the GIL is released around it.
    pub fn blocking<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.report_instructions();
        self.rt.gil.without(&self.token, f)
    }

    /// Pass the instruction count to the GIL statistics.
    pub fn report_instructions(&mut self) {
        if self.executed != 0 {
            self.rt.gil.add_instructions(&self.token, self.executed);
            self.executed = 0;
        }
    }

    /// Is this the program's main thread (the one Ctrl-C interrupts)?
    pub fn is_main(&self) -> bool {
        self.current.is_main()
    }

    /// Raise KeyboardInterrupt now if Ctrl-C was pressed (main thread only).
    pub fn check_interrupt(&mut self) -> PResult<()> {
        if self.is_main() && self.rt.interrupted.load(Ordering::SeqCst) {
            return Err(self.take_interrupt());
        }
        Ok(())
    }

    /// A closure that tells a blocking wait to give up because Ctrl-C was pressed (only
    /// the main thread is interrupted, as in Python).
    pub fn interrupt_check(&self) -> impl Fn() -> bool + Send + Sync + 'static {
        let flag = self.rt.interrupted.clone();
        let main = self.is_main();
        move || main && flag.load(Ordering::Relaxed)
    }

    /// The KeyboardInterrupt a blocking wait raises when it was cut short by Ctrl-C.
    pub fn take_interrupt(&mut self) -> Arc<ExcObj> {
        self.rt.interrupted.store(false, Ordering::SeqCst);
        ExcObj::with_args(ExcKind::KeyboardInterrupt, Vec::new())
    }

    /// Everything a forked child must reset before it runs Toy code: it has only the forking
    /// thread, a fresh GIL and no inherited locks in a held state. Called by the process
    /// module right after `fork()` returns in the child.
    pub fn after_fork_child(&mut self) {
        // Output buffered before the fork was flushed by the parent (see `before_fork`).
        self.rt.stdout.lock().discard();
        crate::modules::reseed_random_after_fork();
        // Only the forking thread exists here: a fresh GIL that it holds, and a thread
        // registry with just its own handle.
        self.rt.gil.reinit_after_fork(&self.token);
        self.rt.gil.acquire(&self.token);
        self.current.become_main();
        *self.rt.threads.lock() = vec![self.current.clone()];
        self.rt.interrupted.store(false, Ordering::SeqCst);
    }

    /// Called in the parent right before `fork()`: nothing buffered may be printed twice.
    pub fn before_fork(&mut self) {
        self.rt.stdout.lock().flush();
    }

    /// `time.sleep`: blocks without the GIL and wakes early for Ctrl-C.
    pub fn sleep(&mut self, d: std::time::Duration) -> PResult<()> {
        if d.is_zero() {
            // CPython's sleep(0) releases the GIL: another thread that wants it gets it.
            self.check_interrupt()?;
            self.report_instructions();
            self.rt.gil.yield_to_waiter(&self.token);
            return Ok(());
        }
        let deadline = std::time::Instant::now() + d;
        loop {
            if self.is_main() && self.rt.interrupted.load(Ordering::SeqCst) {
                return Err(self.take_interrupt());
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Ok(());
            }
            let step = (deadline - now).min(std::time::Duration::from_millis(50));
            self.blocking(|| std::thread::sleep(step));
        }
    }

    // -----------------------------------------------------------------------------------------
    // The dispatch loop
    // -----------------------------------------------------------------------------------------

    /// Execute until the frame stack is back to `stop_depth` frames; return the value that
    /// the last frame returned (or yielded).
    // (`seg` is reset after every counted run, also where no instruction follows.)
    #[allow(unused_assignments)]
    pub fn run(&mut self, stop_depth: usize) -> PResult<Value> {
        // The two words the eval breaker polls, reached through a local handle on the
        // runtime (no pointer chase through `self` at every check point).
        let rt = self.rt.clone();
        let breaker: &AtomicU32 = rt.gil.breaker();
        let interrupted: &AtomicBool = &rt.interrupted;
        // Instructions executed by this call of `run`, kept in a local and added to
        // `self.executed` whenever `run` returns or reaches a check point. They are counted a
        // straight run at a time: `seg` is where the current run of instructions began, and
        // every jump, frame switch and check point adds `ip - seg` (a superinstruction that
        // skips the instructions it stands for counts them too, as it moves `ip` past them).
        let mut executed: u64 = 0;
        // Leave `run` with an exception that no handler in these frames catches.
        macro_rules! unwind_or_exit {
            ($e:expr, $tb:expr) => {
                if let Err(x) = self.unwind($e, $tb, stop_depth) {
                    self.executed += executed;
                    return Err(x);
                }
            };
        }
        'frames: loop {
            let fi = self.frames.len() - 1;
            let top = self.frames.last_mut().expect("run: no frame");
            let func: Arc<Function> = top.func.take().expect("run: frame without a function");
            let (mut ip, locals_base) = (top.ip, top.locals_base);
            let code: &Code = &func.code;
            let globals: &Globals = &func.globals;
            let instrs: &[Instr] = &func.instrs;
            let mut add_tb = true;
            let mut seg = ip;

            // Count the straight run of instructions that ends here.
            macro_rules! flush_seg {
                () => {
                    executed += (ip - seg) as u64;
                    seg = ip;
                };
            }
            // A jump: count the run that ends here and start a new one at the target.
            macro_rules! jump {
                ($t:expr) => {{
                    let t = $t;
                    flush_seg!();
                    ip = t;
                    seg = t;
                }};
            }

            macro_rules! tri {
                ($e:expr) => {
                    match $e {
                        Ok(v) => v,
                        Err(e) => {
                            break e;
                        }
                    }
                };
            }
            macro_rules! pop {
                () => {
                    self.stack.pop().expect("stack underflow")
                };
            }
            macro_rules! top {
                () => {
                    self.stack.last().expect("stack underflow")
                };
            }
            // Before anything that may look at this frame or at the statistics (a call, a
            // raise, a check point): its ip, and the instructions counted so far.
            macro_rules! save_ip {
                () => {
                    self.frames[fi].ip = ip;
                    flush_seg!();
                    self.executed += executed;
                    executed = 0;
                };
            }
            // Give the frame its function back (before a call or anything that inspects it).
            // (With an ip: the frame's ip too, in the same access.)
            macro_rules! restore {
                ($($ip:expr)?) => {{
                    // This frame is the top one. Its function slot is empty (taken at the top
                    // of this loop): no drop check.
                    let top = self.frames.last_mut().expect("run: no frame");
                    $(top.ip = $ip;)?
                    let old = top.func.replace(func);
                    debug_assert!(old.is_none());
                    std::mem::forget(old);
                }};
            }
            // Leave this frame for a call: give the function back, make the call (which may
            // push a frame), and let the outer loop pick up whichever frame is on top.
            macro_rules! call_out {
                ($e:expr) => {{
                    flush_seg!();
                    restore!();
                    if let Err(e) = $e {
                        unwind_or_exit!(e, true);
                    }
                    continue 'frames;
                }};
            }
            macro_rules! check_breaker {
                () => {
                    if breaker.load(Ordering::Relaxed) != 0 || interrupted.load(Ordering::Relaxed) {
                        save_ip!();
                        tri!(self.handle_eval_breaker());
                    }
                };
            }

            // The result of `in` / `not in`: `if x in c:` takes the JumpIfFalse that follows
            // right here (the instruction stays in place for anything that jumps to it).
            macro_rules! in_result {
                ($r:expr) => {{
                    let r: bool = $r;
                    if let Some(&Instr::JumpIfFalse(t)) = instrs.get(ip) {
                        if r {
                            ip += 1;
                        } else {
                            if (t as usize) < ip {
                                check_breaker!();
                            }
                            jump!(t as usize);
                        }
                        continue;
                    }
                    self.stack.push_fast(Value::bool(r));
                }};
            }

            // `LoadFast a; LoadFast b` (the slow path of the superinstructions that read two
            // locals).
            macro_rules! load_fast2 {
                ($a:expr, $b:expr) => {{
                    let (x, y) = (
                        &self.stack[locals_base + $a as usize],
                        &self.stack[locals_base + $b as usize],
                    );
                    if !matches!(x, Value::Unbound) && !matches!(y, Value::Unbound) {
                        let (x, y) = (x.clone(), y.clone());
                        self.stack.push_fast(x);
                        self.stack.push_fast(y);
                        ip += 1;
                    } else {
                        load_fast!($a)
                    }
                }};
            }

            macro_rules! load_global {
                ($slot:expr) => {{
                    let slot = $slot;
                    let ver = globals.version.load(Ordering::Acquire);
                    match self.gcache.get(slot as usize) {
                        Some((cver, Some(v))) if *cver == ver => {
                            // Globals are mostly functions about to be called: their
                            // reference count is bumped right here, not out of line.
                            let v = match v {
                                Value::Func(f) => Value::Func(Arc::clone(f)),
                                v => v.clone(),
                            };
                            self.stack.push_fast(v);
                        }
                        _ => tri!(self.load_global_slow(globals, slot)),
                    }
                }};
            }

            macro_rules! load_fast {
                ($i:expr) => {
                    match &self.stack[locals_base + $i as usize] {
                        Value::Unbound => tri!(err(
                            ExcKind::UnboundLocalError,
                            format!(
                                "cannot access local variable '{}' where it is not associated with a value",
                                code.local_names[$i as usize]
                            )
                        )),
                        v => {
                            let v = v.clone();
                            self.stack.push_fast(v)
                        }
                    }
                };
            }

            // The next item of the innermost loop. `$pair`: the loop unpacks each item into
            // two names right away, so a dict item may come as its key and value (pushed
            // here, key on top, as the UnpackSequence would leave them, which is skipped).
            macro_rules! for_next {
                ($pair:expr) => {{
                    let n = self.iters.len() - 1;
                    match self.iters[n].advance() {
                        Ok(v) => v,
                        Err(()) => {
                            save_ip!();
                            match tri!(self.loop_step_slow(n, $pair)) {
                                iter::SlowStep::Item(v) => v,
                                iter::SlowStep::Pair(k, v) => {
                                    self.stack.push_fast(v);
                                    self.stack.push_fast(k);
                                    ip += 1;
                                    continue;
                                }
                            }
                        }
                    }
                }};
            }

            // The result of a built-in method: a call used as a statement (`xs.sort()`) drops
            // it here and skips the Pop that follows.
            macro_rules! method_result {
                ($r:expr) => {{
                    let r: Value = $r;
                    if let Some(Instr::Pop) = instrs.get(ip) {
                        discard(r);
                        ip += 1;
                    } else {
                        self.stack.push_fast(r);
                    }
                }};
            }

            // `s = s + t` / `s += t` with the str `s` on top of the stack: append `t` in place
            // when `s` is the last reference (the local the result goes to gives up its own).
            macro_rules! append_str_top {
                ($y:expr) => {{
                    if let Instr::StoreFast(t) = instrs[ip] {
                        let top = self.stack.len() - 1;
                        ops::release_target(&mut self.stack, top, locals_base + t as usize);
                    }
                    let a = self.stack.last_mut().expect("stack underflow");
                    ops::str_append(a, $y);
                }};
            }

            // Leave the frame with `v` as its result (Return and ReturnLocal).
            macro_rules! do_return {
                ($v:expr) => {{
                    let v: Value = $v;
                    let top = self.frames.last().expect("frame stack underflow");
                    let (pop_to, iter_base) = (top.pop_to, top.iter_base);
                    self.release_storage(pop_to, iter_base);
                    let top = self.frames.last().expect("frame stack underflow");
                    if top.cells.is_none() && top.gen.is_none() {
                        // The common case: nothing in the frame needs dropping (the running
                        // loop holds its function), so it is not moved out first. Moving
                        // it would read back, 16 bytes at a time, fields the call wrote a
                        // word at a time moments ago: loads that store forwarding cannot
                        // serve.
                        std::mem::forget(self.frames.pop());
                    } else {
                        let frame = self.frames.pop().expect("frame stack underflow");
                        let Frame {
                            func: held,
                            cells,
                            gen,
                            ..
                        } = frame;
                        debug_assert!(held.is_none());
                        drop(held);
                        drop(cells);
                        if let Some(g) = gen {
                            *g.state.lock() = IterState::Done;
                            self.yielded = false;
                        }
                    }
                    if self.frames.len() == stop_depth {
                        self.executed += executed;
                        return Ok(v);
                    }
                    self.stack.push_fast(v);
                    continue 'frames;
                }};
            }

            let error: Arc<ExcObj> = loop {
                let instr = &instrs[ip];
                ip += 1;
                match *instr {
                    Instr::Nop => {}
                    Instr::LoadConst(k) => self.stack.push_fast(code.consts[k as usize].clone()),
                    Instr::LoadInt(i) => self.stack.push_fast(Value::Int(i as i64)),
                    Instr::LoadNone => self.stack.push_fast(Value::None),
                    Instr::LoadFast(i) => load_fast!(i),
                    Instr::FastCmpIntJump(c, a, k) => {
                        if let Value::Int(x) = &self.stack[locals_base + a as usize] {
                            let (x, k) = (*x, k as i64);
                            let r = match c {
                                0 => x < k,
                                1 => x <= k,
                                2 => x > k,
                                3 => x >= k,
                                4 => x == k,
                                _ => x != k,
                            };
                            ip += 3;
                            if !r {
                                let Instr::JumpIfFalse(t) = instrs[ip - 1] else {
                                    unreachable!("FastCmpIntJump without its JumpIfFalse")
                                };
                                if (t as usize) < ip {
                                    check_breaker!();
                                }
                                jump!(t as usize);
                            }
                        } else {
                            load_fast!(a)
                        }
                    }
                    Instr::FastIntOp(o, a, k) => {
                        if let Value::Int(x) = &self.stack[locals_base + a as usize] {
                            if let Some(r) = int_fast(o as u32, *x, k as i64) {
                                self.stack.push_fast(Value::Int(r));
                                ip += 2;
                                continue;
                            }
                        }
                        load_fast!(a)
                    }
                    Instr::FastIntOpStore(o, a, k) => {
                        if let Value::Int(x) = &mut self.stack[locals_base + a as usize] {
                            if let Some(r) = int_fast(o as u32, *x, k as i64) {
                                *x = r;
                                ip += 3;
                                continue;
                            }
                        }
                        load_fast!(a)
                    }
                    Instr::BinConstInt(o, k) => {
                        if let Some(Value::Int(x)) = self.stack.last_mut() {
                            if let Some(r) = int_fast(o as u32, *x, k as i64) {
                                *x = r;
                                ip += 1;
                                continue;
                            }
                        }
                        self.stack.push_fast(Value::Int(k as i64));
                    }
                    Instr::FastBinLocals(o, a, b) => {
                        let (x, y) = (
                            &self.stack[locals_base + a as usize],
                            &self.stack[locals_base + b as usize],
                        );
                        if let (Value::Int(x), Value::Int(y)) = (x, y) {
                            if let Some(r) = int_fast(o as u32, *x, *y) {
                                self.stack.push_fast(Value::Int(r));
                                ip += 2;
                                continue;
                            }
                        }
                        load_fast2!(a, b)
                    }
                    Instr::SubscrLocals(a, b) => {
                        if let Some(v) = crate::builtins::subscript::get_item_fast(
                            &self.stack[locals_base + a as usize],
                            &self.stack[locals_base + b as usize],
                        ) {
                            self.stack.push_fast(v);
                            ip += 2;
                            continue;
                        }
                        load_fast2!(a, b)
                    }
                    Instr::SubscrLocalConst(a, k) => {
                        let obj = &self.stack[locals_base + a as usize];
                        if !matches!(obj, Value::Native(_) | Value::Unbound) {
                            let v = tri!(crate::builtins::subscript::get_item(
                                obj,
                                &code.consts[k as usize]
                            ));
                            self.stack.push_fast(v);
                            ip += 2;
                            continue;
                        }
                        load_fast!(a)
                    }
                    Instr::ConstInLocal(neg, k, b) => {
                        let hay = &self.stack[locals_base + b as usize];
                        if matches!(
                            hay,
                            Value::Str(_)
                                | Value::List(_)
                                | Value::Tuple(_)
                                | Value::Dict(_)
                                | Value::Set(_)
                        ) {
                            if let Some(r) = tri!(ops::contains(hay, &code.consts[k as usize])) {
                                ip += 2;
                                in_result!(r != (neg == 1));
                                continue;
                            }
                        }
                        self.stack.push_fast(code.consts[k as usize].clone());
                    }
                    Instr::InLocals(neg, a, b) => {
                        let fast = dict_contains_fast(
                            &self.stack[locals_base + b as usize],
                            &self.stack[locals_base + a as usize],
                        );
                        if let Some(r) = fast {
                            ip += 2;
                            in_result!(r != (neg == 1));
                            continue;
                        }
                        load_fast2!(a, b)
                    }
                    Instr::LoadFast2(a, b) => load_fast2!(a, b),
                    Instr::StoreFast(i) => {
                        let v = pop!();
                        discard(std::mem::replace(
                            &mut self.stack[locals_base + i as usize],
                            v,
                        ));
                    }
                    Instr::DeleteFast(i) => {
                        let old = std::mem::replace(
                            &mut self.stack[locals_base + i as usize],
                            Value::Unbound,
                        );
                        if matches!(old, Value::Unbound) {
                            tri!(err(
                                ExcKind::UnboundLocalError,
                                format!(
                                    "cannot access local variable '{}' where it is not associated with a value",
                                    code.local_names[i as usize]
                                )
                            ))
                        }
                    }
                    Instr::LoadDeref(i) => {
                        let v = cell_at(self.frames[fi].cells.as_deref().unwrap_or(&[]), &func, i)
                            .value
                            .lock()
                            .clone();
                        match v {
                            Some(v) => self.stack.push_fast(v),
                            None => tri!(self.unbound_cell(code, i as usize)),
                        }
                    }
                    Instr::StoreDeref(i) => {
                        let v = pop!();
                        *cell_at(self.frames[fi].cells.as_deref().unwrap_or(&[]), &func, i)
                            .value
                            .lock() = Some(v);
                    }
                    Instr::DeleteDeref(i) => {
                        let old =
                            cell_at(self.frames[fi].cells.as_deref().unwrap_or(&[]), &func, i)
                                .value
                                .lock()
                                .take();
                        if old.is_none() {
                            tri!(self.unbound_cell(code, i as usize))
                        }
                    }
                    Instr::CallGlobalLocal1(a, slot) => {
                        let ver = globals.version.load(Ordering::Acquire);
                        let callee = match self.gcache.get(slot as usize) {
                            Some((cver, Some(Value::Builtin(b))))
                                if *cver == ver && b.bound.is_none() =>
                            {
                                Some(Ok(b.func))
                            }
                            Some((cver, Some(Value::Type(t)))) if *cver == ver => Some(Err(*t)),
                            _ => None,
                        };
                        let arg = &self.stack[locals_base + a as usize];
                        if let (Some(callee), false) = (callee, matches!(arg, Value::Unbound)) {
                            let arg = arg.clone();
                            ip += 2;
                            save_ip!();
                            check_breaker!();
                            let args = std::slice::from_ref(&arg);
                            let r = match callee {
                                Ok(f) => tri!(f(self, args, &[])),
                                Err(t) => {
                                    tri!(crate::builtins::construct(self, t.get(), args, &[]))
                                }
                            };
                            discard(arg);
                            self.stack.push_fast(r);
                            continue;
                        }
                        load_global!(slot)
                    }
                    Instr::LoadGlobal(slot) => load_global!(slot),
                    Instr::StoreGlobal(slot) => {
                        let v = pop!();
                        let old = {
                            let mut slots = globals.slots.write();
                            let old = slots[slot as usize].value.replace(v);
                            globals.bump();
                            old
                        };
                        drop(old);
                    }
                    Instr::DeleteGlobal(slot) => {
                        let old = {
                            let mut slots = globals.slots.write();
                            let old = slots[slot as usize].value.take();
                            globals.bump();
                            old
                        };
                        if old.is_none() {
                            tri!(err(
                                ExcKind::NameError,
                                format!("name '{}' is not defined", self.rt.global_name(slot))
                            ))
                        }
                    }
                    Instr::LoadAttr(n) => {
                        let obj = pop!();
                        let v = tri!(self.get_attr(&obj, &code.names[n as usize]));
                        self.stack.push_fast(v);
                    }
                    Instr::StoreAttr(n) => {
                        let obj = pop!();
                        let v = pop!();
                        tri!(self.set_attr(&obj, &code.names[n as usize], v));
                    }
                    Instr::LoadMethod(n) => {
                        let obj = pop!();
                        let name = &code.names[n as usize];
                        // A method of a built-in type goes on the stack as its id (an int:
                        // nothing to count), with the receiver, never None, above it; any
                        // other callable has None there.
                        match self.methods.lookup_id(&obj, name) {
                            Some(id) => {
                                self.stack.push_fast(Value::Int(id as i64));
                                self.stack.push_fast(obj);
                            }
                            None => {
                                let v = tri!(self.get_attr(&obj, name));
                                self.stack.push_fast(v);
                                self.stack.push_fast(Value::None);
                            }
                        }
                    }
                    Instr::CallMethod(argc) => {
                        let argc = argc as usize;
                        let fidx = self.stack.len() - argc - 2;
                        if let (Value::Int(id), false) = (
                            &self.stack[fidx],
                            matches!(self.stack[fidx + 1], Value::None),
                        ) {
                            let id = *id as u32;
                            // `xs.append(x)` and `d.get(k[, default])`, the commonest method
                            // calls, run right here: the value moves into the list and the key
                            // is looked up without an argument vector.
                            if id == methods::LIST_APPEND && argc == 1 {
                                let x = pop!();
                                let recv = pop!();
                                discard(pop!());
                                let Value::List(l) = &recv else {
                                    unreachable!("list.append id on a non-list")
                                };
                                l.items.lock().push(x);
                                drop(recv);
                                method_result!(Value::None);
                                continue;
                            }
                            if id == methods::DICT_GET && (argc == 1 || argc == 2) {
                                save_ip!();
                                let default = if argc == 2 { pop!() } else { Value::None };
                                let k = pop!();
                                let recv = pop!();
                                discard(pop!());
                                let Value::Dict(d) = &recv else {
                                    unreachable!("dict.get id on a non-dict")
                                };
                                let r = tri!(methods::dict_get_or(d, &k, || default));
                                self.stack.push_fast(r);
                                continue;
                            }
                            if let Some(func) = methods::method_fn(id) {
                                save_ip!();
                                let r = tri!(self.call_native_from_stack(func, fidx + 1));
                                method_result!(r);
                                continue;
                            }
                        }
                        let is_method = matches!(&self.stack[fidx], Value::Builtin(b) if b.method);
                        if is_method {
                            let func = match &self.stack[fidx] {
                                Value::Builtin(b) => b.func,
                                _ => unreachable!(),
                            };
                            save_ip!();
                            let r = tri!(self.call_native_from_stack(func, fidx + 1));
                            self.stack.push_fast(r);
                        } else {
                            // Not a method: drop the receiver slot and make a plain call.
                            self.stack.remove(fidx + 1);
                            save_ip!();
                            check_breaker!();
                            call_out!(self.call_from_stack(fidx, argc));
                        }
                    }
                    Instr::Subscr => {
                        let n = self.stack.len();
                        if let Some(v) = crate::builtins::subscript::get_item_fast(
                            &self.stack[n - 2],
                            &self.stack[n - 1],
                        ) {
                            discard(pop!());
                            let slot = self.stack.last_mut().expect("stack underflow");
                            discard(std::mem::replace(slot, v));
                            continue;
                        }
                        let idx = pop!();
                        let obj = pop!();
                        let v = if let Value::Native(n) = &obj {
                            save_ip!();
                            let n = n.clone();
                            match n.0.get_item(self, &idx) {
                                Some(r) => tri!(r),
                                None => tri!(crate::builtins::subscript::get_item(&obj, &idx)),
                            }
                        } else {
                            tri!(crate::builtins::subscript::get_item(&obj, &idx))
                        };
                        self.stack.push_fast(v);
                    }
                    Instr::StoreSubscr => {
                        let idx = pop!();
                        let obj = pop!();
                        let v = pop!();
                        let v = match crate::builtins::subscript::set_item_fast(&obj, &idx, v) {
                            Ok(()) => {
                                discard(idx);
                                discard(obj);
                                continue;
                            }
                            Err(v) => v,
                        };
                        save_ip!();
                        if let Value::Native(n) = &obj {
                            let n = n.clone();
                            match n.0.set_item(self, &idx, v) {
                                Some(r) => tri!(r),
                                None => tri!(type_error(format!(
                                    "'{}' object does not support item assignment",
                                    obj.type_name()
                                ))),
                            }
                        } else {
                            tri!(crate::builtins::subscript::set_item(self, &obj, &idx, v));
                        }
                    }
                    Instr::DeleteSubscr => {
                        let idx = pop!();
                        let obj = pop!();
                        tri!(crate::builtins::subscript::del_item(&obj, &idx));
                    }
                    Instr::BuildSlice(n) => {
                        let step = if n == 3 { pop!() } else { Value::None };
                        let upper = pop!();
                        let lower = pop!();
                        self.stack
                            .push(Value::Slice(Arc::new(SliceObj { lower, upper, step })));
                    }
                    Instr::Pop => {
                        discard(pop!());
                    }
                    Instr::Dup => {
                        let v = top!().clone();
                        self.stack.push_fast(v);
                    }
                    Instr::Dup2 => {
                        let n = self.stack.len();
                        let a = self.stack[n - 2].clone();
                        let b = self.stack[n - 1].clone();
                        self.stack.push_fast(a);
                        self.stack.push_fast(b);
                    }
                    Instr::Rot2 => {
                        let n = self.stack.len();
                        self.stack.swap(n - 1, n - 2);
                    }
                    Instr::Rot3 => {
                        let v = pop!();
                        let n = self.stack.len();
                        self.stack.insert(n - 2, v);
                    }
                    Instr::Add => {
                        let b = pop!();
                        let a = self.stack.last_mut().unwrap();
                        if let (Value::Int(x), Value::Int(y)) = (&mut *a, &b) {
                            if let Some(r) = x.checked_add(*y) {
                                *x = r;
                                discard(b);
                                continue;
                            }
                        }
                        if let (Value::Str(_), Value::Str(y)) = (&*a, &b) {
                            append_str_top!(y);
                            continue;
                        }
                        let a = pop!();
                        let r = tri!(ops::add(&a, &b));
                        self.stack.push_fast(r);
                    }
                    Instr::Sub => {
                        let b = pop!();
                        let a = self.stack.last_mut().unwrap();
                        if let (Value::Int(x), Value::Int(y)) = (&mut *a, &b) {
                            if let Some(r) = x.checked_sub(*y) {
                                *x = r;
                                discard(b);
                                continue;
                            }
                        }
                        let a = pop!();
                        let r = tri!(ops::sub(&a, &b));
                        self.stack.push_fast(r);
                    }
                    Instr::Mul => {
                        let b = pop!();
                        let a = self.stack.last_mut().unwrap();
                        if let (Value::Int(x), Value::Int(y)) = (&mut *a, &b) {
                            if let Some(r) = x.checked_mul(*y) {
                                *x = r;
                                discard(b);
                                continue;
                            }
                        }
                        let a = pop!();
                        let r = tri!(ops::mul(&a, &b));
                        self.stack.push_fast(r);
                    }
                    Instr::Binary(op) | Instr::Inplace(op) => {
                        let n = self.stack.len();
                        if let (Value::Int(x), Value::Int(y)) =
                            (&self.stack[n - 2], &self.stack[n - 1])
                        {
                            if let Some(r) = int_fast(op, *x, *y) {
                                // Both operands are ints: overwrite in place, nothing to drop.
                                self.stack.truncate(n - 1);
                                if let Value::Int(slot) = &mut self.stack[n - 2] {
                                    *slot = r;
                                }
                                continue;
                            }
                        }
                        if let (Instr::Inplace(0), Value::Str(_), Value::Str(_)) =
                            (instr, &self.stack[n - 2], &self.stack[n - 1])
                        {
                            let b = pop!();
                            if let Value::Str(y) = &b {
                                append_str_top!(y);
                            }
                            continue;
                        }
                        let b = pop!();
                        let a = pop!();
                        let r = if let Instr::Inplace(_) = instr {
                            save_ip!();
                            match ops::inplace(ops::binop_from(op), &a, &b, self) {
                                Ok(r) => r,
                                Err(e) => break inplace_error(e),
                            }
                        } else {
                            tri!(ops::arith(ops::binop_from(op), &a, &b))
                        };
                        self.stack.push_fast(r);
                    }
                    Instr::Neg => {
                        let a = pop!();
                        let r = tri!(ops::neg(&a));
                        self.stack.push_fast(r);
                    }
                    Instr::Pos => {
                        let a = pop!();
                        let r = tri!(ops::pos(&a));
                        self.stack.push_fast(r);
                    }
                    Instr::Invert => {
                        let a = pop!();
                        let r = tri!(ops::invert(&a));
                        self.stack.push_fast(r);
                    }
                    Instr::Not => {
                        let a = pop!();
                        self.stack.push_fast(Value::bool(!a.truthy()));
                    }
                    Instr::Lt | Instr::Le | Instr::Gt | Instr::Ge => {
                        let n = self.stack.len();
                        if let (Value::Int(x), Value::Int(y)) =
                            (&self.stack[n - 2], &self.stack[n - 1])
                        {
                            let r = match instr {
                                Instr::Lt => x < y,
                                Instr::Le => x <= y,
                                Instr::Gt => x > y,
                                _ => x >= y,
                            };
                            discard(pop!());
                            let slot = self.stack.last_mut().unwrap();
                            discard(std::mem::replace(slot, Value::bool(r)));
                            continue;
                        }
                        let b = pop!();
                        let a = pop!();
                        let r = if let (Value::Int(x), Value::Int(y)) = (&a, &b) {
                            match instr {
                                Instr::Lt => x < y,
                                Instr::Le => x <= y,
                                Instr::Gt => x > y,
                                _ => x >= y,
                            }
                        } else {
                            let k = match instr {
                                Instr::Lt => CmpKind::Lt,
                                Instr::Le => CmpKind::Le,
                                Instr::Gt => CmpKind::Gt,
                                _ => CmpKind::Ge,
                            };
                            tri!(ops::compare(k, &a, &b))
                        };
                        self.stack.push_fast(Value::bool(r));
                    }
                    Instr::Eq | Instr::Ne => {
                        let n = self.stack.len();
                        let same = match (&self.stack[n - 2], &self.stack[n - 1]) {
                            (Value::Int(x), Value::Int(y)) => x == y,
                            (a, b) => tri!(ops::eq_checked(a, b)),
                        };
                        self.stack.truncate(n - 2);
                        self.stack
                            .push_fast(Value::bool(same == matches!(instr, Instr::Eq)));
                    }
                    Instr::Is => {
                        let b = pop!();
                        let a = pop!();
                        self.stack.push_fast(Value::bool(a.is(&b)));
                    }
                    Instr::IsNot => {
                        let b = pop!();
                        let a = pop!();
                        self.stack.push_fast(Value::bool(!a.is(&b)));
                    }
                    Instr::In | Instr::NotIn => {
                        let n = self.stack.len();
                        let fast = dict_contains_fast(&self.stack[n - 1], &self.stack[n - 2]);
                        let r = match fast {
                            Some(r) => {
                                discard(pop!());
                                discard(pop!());
                                r
                            }
                            None => {
                                let hay = pop!();
                                let needle = pop!();
                                save_ip!();
                                tri!(self.contains(&hay, &needle))
                            }
                        };
                        in_result!(r == matches!(instr, Instr::In));
                    }
                    Instr::Jump(t) => {
                        if (t as usize) < ip {
                            check_breaker!();
                        }
                        jump!(t as usize);
                    }
                    Instr::JumpIfFalse(t) => {
                        let v = pop!();
                        let truth = match &v {
                            Value::Bool(b) => *b,
                            other => B64::new(other.truthy()),
                        };
                        discard(v);
                        if !truth.get() {
                            if (t as usize) < ip {
                                check_breaker!();
                            }
                            jump!(t as usize);
                        }
                    }
                    Instr::JumpIfTrue(t) => {
                        let v = pop!();
                        let truth = v.truthy();
                        discard(v);
                        if truth {
                            jump!(t as usize);
                        }
                    }
                    Instr::JumpIfFalseOrPop(t) => {
                        if !top!().truthy() {
                            jump!(t as usize);
                        } else {
                            pop!();
                        }
                    }
                    Instr::JumpIfTrueOrPop(t) => {
                        if top!().truthy() {
                            jump!(t as usize);
                        } else {
                            pop!();
                        }
                    }
                    Instr::GetIter => {
                        let v = pop!();
                        let it = tri!(LoopIter::new(&v));
                        self.iters.push(it);
                    }
                    // No eval-breaker check in ForIter: every loop comes back to it through
                    // a backward jump, which checks.
                    Instr::ForIter(t) => {
                        let next =
                            for_next!(matches!(instrs.get(ip), Some(Instr::UnpackSequence(2))));
                        match next {
                            Some(v) => self.stack.push_fast(v),
                            None => {
                                self.iters.pop();
                                jump!(t as usize);
                            }
                        }
                    }
                    Instr::ForIterStore(slot, t) => {
                        // The commonest loop, `for i in range(...)` into an int local: no
                        // value built, moved or dropped.
                        if let Some(LoopIter::Range { cur, stop, step }) = self.iters.last_mut() {
                            if (*step > 0 && *cur < *stop) || (*step < 0 && *cur > *stop) {
                                let v = *cur;
                                *cur += *step;
                                let slot = &mut self.stack[locals_base + slot as usize];
                                if let Value::Int(x) = slot {
                                    *x = v;
                                } else {
                                    discard(std::mem::replace(slot, Value::Int(v)));
                                }
                                ip += 1;
                                continue;
                            }
                        }
                        let next = for_next!(false);
                        match next {
                            Some(v) => {
                                discard(std::mem::replace(
                                    &mut self.stack[locals_base + slot as usize],
                                    v,
                                ));
                                ip += 1;
                            }
                            None => {
                                self.iters.pop();
                                jump!(t as usize);
                            }
                        }
                    }
                    Instr::PopIter => {
                        self.iters.pop();
                    }
                    Instr::BuildTuple(n) => {
                        let items = self.stack.split_off(self.stack.len() - n as usize);
                        self.stack.push_fast(Value::tuple(items));
                    }
                    Instr::BuildList(n) => {
                        let items = self.stack.split_off(self.stack.len() - n as usize);
                        self.stack.push_fast(Value::list(items));
                    }
                    Instr::BuildSet(n) => {
                        let items = self.stack.split_off(self.stack.len() - n as usize);
                        let t = tri!(set_from(items));
                        self.stack.push_fast(Value::set(t));
                    }
                    Instr::BuildMap(n) => {
                        let items = self.stack.split_off(self.stack.len() - 2 * n as usize);
                        let t = tri!(dict_from_flat(items));
                        self.stack.push_fast(Value::dict(t));
                    }
                    Instr::ListAppend(d) => {
                        let v = pop!();
                        let n = self.stack.len();
                        if let Value::List(l) = &mut self.stack[n - d as usize] {
                            // The list a comprehension builds is referenced from this stack
                            // slot alone: no lock to take then.
                            match Arc::get_mut(l) {
                                Some(l) => l.items.get_mut().push(v),
                                None => l.items.lock().push(v),
                            }
                        }
                    }
                    Instr::SetAdd(d) => {
                        let v = pop!();
                        let h = tri!(hash_value(&v));
                        let n = self.stack.len();
                        if let Value::Set(s) = &mut self.stack[n - d as usize] {
                            match Arc::get_mut(s) {
                                Some(s) => s.table.get_mut().add(h, v),
                                None => s.table.lock().add(h, v),
                            };
                        }
                    }
                    Instr::MapAdd(d) => {
                        let v = pop!();
                        let k = pop!();
                        let h = tri!(hash_value(&k));
                        let n = self.stack.len();
                        if let Value::Dict(m) = &mut self.stack[n - d as usize] {
                            let old = match Arc::get_mut(m) {
                                Some(m) => m.table.get_mut().insert(h, k, v),
                                None => m.table.lock().insert(h, k, v),
                            };
                            discard_opt(old);
                        }
                    }
                    Instr::ListExtend(in_call) => {
                        let it = pop!();
                        save_ip!();
                        if (in_call == 1 || !matches!(it, Value::List(_) | Value::Tuple(_)))
                            && LoopIter::new(&it).is_err()
                        {
                            tri!(type_error(if in_call == 1 {
                                let n = self.stack.len();
                                format!(
                                    "{}() argument after * must be an iterable, not {}",
                                    call_name(&self.stack[n - 2]),
                                    it.type_name()
                                )
                            } else {
                                // `[*x]`, `(*x,)` (a set display says 'is not iterable').
                                format!("Value after * must be an iterable, not {}", it.type_name())
                            }));
                        }
                        let items = tri!(self.collect_iterable(&it));
                        if let Value::List(l) = top!() {
                            l.items.lock().extend(items);
                        }
                    }
                    Instr::SetUpdate => {
                        let it = pop!();
                        save_ip!();
                        let items = tri!(self.collect_iterable(&it));
                        let add = tri!(set_from(items));
                        if let Value::Set(s) = top!() {
                            s.table.lock().merge(&add);
                        }
                    }
                    Instr::DictUpdate(in_call) => {
                        let other = pop!();
                        let n = self.stack.len();
                        let r = if in_call == 1 {
                            dict_merge_kwargs(&self.stack[n - 3], &self.stack[n - 1], &other)
                        } else {
                            dict_update_plain(&self.stack[n - 1], &other)
                        };
                        tri!(r);
                    }
                    Instr::ListToTuple => {
                        let v = pop!();
                        if let Value::List(l) = v {
                            let items = std::mem::take(&mut *l.items.lock());
                            self.stack.push_fast(Value::tuple(items));
                        }
                    }
                    Instr::UnpackSequence(n) => {
                        let v = pop!();
                        // Fast path: a tuple or list of the right length.
                        let v = match v {
                            Value::Tuple(t) if t.items.len() == n as usize => {
                                match Arc::try_unwrap(t) {
                                    Ok(t) => {
                                        self.stack.extend(t.items.into_vec().into_iter().rev())
                                    }
                                    Err(t) => self.stack.extend(t.items.iter().rev().cloned()),
                                }
                                continue;
                            }
                            Value::List(l) => {
                                {
                                    let items = l.items.lock();
                                    if items.len() == n as usize {
                                        self.stack.extend(items.iter().rev().cloned());
                                        continue;
                                    }
                                }
                                Value::List(l)
                            }
                            v => v,
                        };
                        save_ip!();
                        tri!(self.unpack(v, n as usize, None));
                    }
                    Instr::UnpackEx(before, after) => {
                        let v = pop!();
                        save_ip!();
                        tri!(self.unpack(v, before as usize, Some(after as usize)));
                    }
                    Instr::MakeFunction(packed) => {
                        let (k, flags) = (packed >> 2, packed & 3);
                        let child = code.children[k as usize].clone();
                        let kwdefaults_vals = if flags & 2 != 0 { Some(pop!()) } else { None };
                        let defaults = if flags & 1 != 0 {
                            match pop!() {
                                Value::Tuple(t) => t.items.to_vec(),
                                _ => Vec::new(),
                            }
                        } else {
                            Vec::new()
                        };
                        let mut kwdefaults = Vec::new();
                        if let Some(Value::Tuple(t)) = kwdefaults_vals {
                            let mut vals = t.items.iter();
                            for has in &child.kwonly_defaults {
                                kwdefaults.push(if *has { vals.next().cloned() } else { None });
                            }
                        } else {
                            kwdefaults = vec![None; child.kwonlycount as usize];
                        }
                        let frame = &self.frames[fi];
                        let closure = child
                            .free_sources
                            .iter()
                            .map(|&i| {
                                cell_at(frame.cells.as_deref().unwrap_or(&[]), &func, i).clone()
                            })
                            .collect();
                        let f = Function::new(
                            child,
                            func.globals.clone(),
                            defaults,
                            kwdefaults,
                            closure,
                        );
                        self.stack.push_fast(Value::Func(Arc::new(f)));
                    }
                    Instr::Call(argc) => {
                        flush_seg!();
                        check_breaker!();
                        let fidx = self.stack.len() - argc as usize - 1;
                        // Toy functions called with exactly their positional parameters get
                        // a frame right here; builtins run right here.
                        if let Value::Func(f) = &self.stack[fidx] {
                            let (np, nd) = (f.argcount as usize, f.defaults.len());
                            if argc as usize <= np && argc as usize + nd >= np && f.plain_positional
                            {
                                // This frame keeps its ip, for the callee's traceback, and
                                // gets its function back; the count of instructions just goes
                                // on in `executed`.
                                restore!(ip);
                                if let Err(e) = self.enter_from_stack(argc as usize) {
                                    unwind_or_exit!(e, true);
                                }
                                continue 'frames;
                            }
                        }
                        // The other calls: the frame's ip for tracebacks, and the count for
                        // the statistics (which a builtin may read).
                        self.frames[fi].ip = ip;
                        self.executed += executed;
                        executed = 0;
                        if let Value::Builtin(b) = &self.stack[fidx] {
                            if b.bound.is_none() {
                                let bf = b.func;
                                let r = tri!(self.call_native_from_stack(bf, fidx + 1));
                                self.stack.push_fast(r);
                                continue;
                            }
                        }
                        if let Value::Type(t) = &self.stack[fidx] {
                            // `str(x)`, `int(s)`, `list(it)` …: no argument vector either.
                            let t = *t;
                            let r = tri!(self.call_with_stack_args(fidx + 1, |vm, args| {
                                crate::builtins::construct(vm, t.get(), args, &[])
                            }));
                            self.stack.push_fast(r);
                            continue;
                        }
                        call_out!(self.call_from_stack(fidx, argc as usize));
                    }
                    Instr::CallKw(argc) => {
                        save_ip!();
                        check_breaker!();
                        let names = pop!();
                        let argc = argc as usize;
                        let fidx = self.stack.len() - argc - 1;
                        let Value::Tuple(names) = names else {
                            unreachable!("CallKw without names")
                        };
                        call_out!(self.call_kw_from_stack(fidx, argc, &names));
                    }
                    Instr::CallEx(flags) => {
                        save_ip!();
                        check_breaker!();
                        let kwargs = if flags & 1 != 0 { Some(pop!()) } else { None };
                        let args = pop!();
                        let callee = pop!();
                        let args = match args {
                            Value::Tuple(t) => t.items.to_vec(),
                            _ => Vec::new(),
                        };
                        let kw = tri!(call::kwargs_from_dict(kwargs.as_ref()));
                        call_out!(self.call_general(callee, args, kw));
                    }
                    Instr::Return => {
                        flush_seg!();
                        let v = pop!();
                        do_return!(v);
                    }
                    Instr::ReturnLocal(a) => {
                        let slot = locals_base + a as usize;
                        if matches!(self.stack[slot], Value::Unbound) {
                            load_fast!(a);
                            continue;
                        }
                        ip += 1; // the Return this stands for
                        flush_seg!();
                        let v = std::mem::replace(&mut self.stack[slot], Value::Unbound);
                        do_return!(v);
                    }
                    Instr::Yield => {
                        let v = pop!();
                        save_ip!();
                        restore!();
                        let frame = self.frames.pop().unwrap();
                        let stack = self.stack.split_off(frame.locals_base);
                        let iters = self.iters.split_off(frame.iter_base);
                        self.stack.truncate(frame.pop_to);
                        if let Some(g) = frame.gen.clone() {
                            *g.state.lock() = IterState::Gen(Box::new(GenState {
                                frame,
                                stack,
                                iters,
                            }));
                        }
                        self.yielded = true;
                        self.executed += executed;
                        return Ok(v);
                    }
                    Instr::Raise(n) => {
                        save_ip!();
                        let e = match n {
                            0 => match &self.exc_info {
                                Some(e) => {
                                    // As CPython: a bare `raise` keeps the traceback it
                                    // has and adds no entry for the frame it is in (the
                                    // callers it passes through still add theirs).
                                    add_tb = false;
                                    e.clone()
                                }
                                None => ExcObj::new(
                                    ExcKind::RuntimeError,
                                    "No active exception to reraise",
                                ),
                            },
                            1 => {
                                let v = pop!();
                                tri!(self.make_exception(v))
                            }
                            _ => {
                                let cause = pop!();
                                let v = pop!();
                                let e = tri!(self.make_exception(v));
                                e.suppress_context.store(true, Ordering::Relaxed);
                                match cause {
                                    Value::None => *e.cause.lock() = None,
                                    c => {
                                        let ce = match self.make_exception(c) {
                                            Ok(ce) => ce,
                                            Err(_) => tri!(type_error(
                                                "exception causes must derive from BaseException"
                                            )),
                                        };
                                        *e.cause.lock() = Some(ce);
                                    }
                                }
                                e
                            }
                        };
                        if n != 0 {
                            self.set_context(&e, true);
                        }
                        break e;
                    }
                    Instr::Reraise => {
                        let e = pop!();
                        let saved = pop!();
                        self.exc_info = match saved {
                            Value::Exc(s) => Some(s),
                            _ => None,
                        };
                        match e {
                            Value::Exc(e) => {
                                add_tb = false;
                                break e;
                            }
                            _ => tri!(err(
                                ExcKind::RuntimeError,
                                "internal: re-raise of a non-exception"
                            )),
                        }
                    }
                    Instr::PushExcInfo => {
                        let e = pop!();
                        let saved = match self.exc_info.take() {
                            Some(s) => Value::Exc(s),
                            None => Value::None,
                        };
                        self.stack.push_fast(saved);
                        if let Value::Exc(x) = &e {
                            self.exc_info = Some(x.clone());
                        }
                        self.stack.push_fast(e);
                    }
                    Instr::PopExcInfo => {
                        let saved = pop!();
                        self.exc_info = match saved {
                            Value::Exc(s) => Some(s),
                            _ => None,
                        };
                    }
                    Instr::CheckExcMatch => {
                        let t = pop!();
                        let r = match top!() {
                            Value::Exc(e) => tri!(exc_matches(e.kind, &t)),
                            _ => false,
                        };
                        self.stack.push_fast(Value::bool(r));
                    }
                    Instr::SetupWith => {
                        let m = pop!();
                        save_ip!();
                        let entered = tri!(self.with_enter(&m));
                        self.stack.push_fast(m);
                        self.stack.push_fast(entered);
                    }
                    Instr::WithExit => {
                        let m = pop!();
                        save_ip!();
                        tri!(self.with_exit(&m, None));
                    }
                    Instr::WithExitExc => {
                        let e = pop!();
                        let saved = pop!();
                        let m = pop!();
                        self.exc_info = match saved {
                            Value::Exc(s) => Some(s),
                            _ => None,
                        };
                        save_ip!();
                        if let Value::Exc(e) = e {
                            tri!(self.with_exit(&m, Some(&e)));
                            add_tb = false;
                            break e;
                        }
                    }
                    Instr::ImportName(n) => {
                        save_ip!();
                        let m = tri!(crate::modules::import(self, &code.names[n as usize]));
                        self.stack.push_fast(m);
                    }
                    Instr::ImportFrom(n) => {
                        let name = &code.names[n as usize];
                        let m = top!().clone();
                        let v = match &m {
                            Value::Module(md) => md.get(name),
                            _ => None,
                        };
                        match v {
                            Some(v) => self.stack.push_fast(v),
                            None => {
                                let mname = match &m {
                                    Value::Module(md) => md.name.clone(),
                                    _ => String::new(),
                                };
                                tri!(err(
                                    ExcKind::ImportError,
                                    format!(
                                        "cannot import name '{}' from '{}' (unknown location)",
                                        name, mname
                                    )
                                ))
                            }
                        }
                    }
                    Instr::FormatValue(flags) => {
                        let spec = if flags & 4 != 0 { Some(pop!()) } else { None };
                        let v = pop!();
                        let s = tri!(crate::format::fstring_field(v, flags & 3, spec.as_ref()));
                        self.stack.push_fast(s);
                    }
                    Instr::BuildString(n) => {
                        let first = self.stack.len() - n as usize;
                        let s = tri!(crate::format::fstring_join(&self.stack[first..]));
                        self.stack.truncate(first);
                        self.stack.push_fast(s);
                    }
                    Instr::RaiseAssert(has_msg) => {
                        let args = if has_msg == 1 {
                            vec![pop!()]
                        } else {
                            Vec::new()
                        };
                        let e = ExcObj::with_args(ExcKind::AssertionError, args);
                        self.set_context(&e, true);
                        break e;
                    }
                }
            };

            // An instruction raised `error`: find a handler, unwinding frames as needed.
            save_ip!();
            restore!();
            unwind_or_exit!(error, add_tb);
        }
    }

    /// Call the Rust function `f` with the values `stack[first..]` as its arguments, popping
    /// them and the callee below them (small counts without building a vector).
    #[inline(always)]
    fn call_native_from_stack(&mut self, f: BuiltinFnPtr, first: usize) -> PResult<Value> {
        self.call_with_stack_args(first, |vm, args| f(vm, args, &[]))
    }

    #[inline(always)]
    fn call_with_stack_args(
        &mut self,
        first: usize,
        f: impl FnOnce(&mut Vm, &[Value]) -> PResult<Value>,
    ) -> PResult<Value> {
        match self.stack.len() - first {
            0 => {
                discard(self.stack.pop().expect("stack underflow"));
                f(self, &[])
            }
            1 => {
                let a = self.stack.pop().expect("stack underflow");
                discard(self.stack.pop().expect("stack underflow"));
                f(self, std::slice::from_ref(&a))
            }
            2 => {
                let b = self.stack.pop().expect("stack underflow");
                let a = self.stack.pop().expect("stack underflow");
                discard(self.stack.pop().expect("stack underflow"));
                f(self, &[a, b])
            }
            3 => {
                let c = self.stack.pop().expect("stack underflow");
                let b = self.stack.pop().expect("stack underflow");
                let a = self.stack.pop().expect("stack underflow");
                discard(self.stack.pop().expect("stack underflow"));
                f(self, &[a, b, c])
            }
            _ => {
                let args: smallvec::SmallVec<[Value; 6]> = self.stack.drain(first..).collect();
                self.stack.pop();
                f(self, &args)
            }
        }
    }

    /// `LoadGlobal` when this thread's cache has no valid entry: read the slot under the
    /// lock, push it and remember it with the version it was read at.
    #[inline(never)]
    fn load_global_slow(&mut self, globals: &Globals, slot: u32) -> PResult<()> {
        let (v, ver) = {
            let slots = globals.slots.read();
            let ver = globals.version.load(Ordering::Acquire);
            let s = &slots[slot as usize];
            let v = match &s.value {
                Some(v) => Some(v.clone()),
                None => s.builtin.clone(),
            };
            (v, ver)
        };
        match v {
            Some(v) => {
                let i = slot as usize;
                if self.gcache.len() <= i {
                    self.gcache.resize(i + 1, (0, None));
                }
                self.gcache[i] = (ver, Some(v.clone()));
                self.stack.push_fast(v);
                Ok(())
            }
            None => err(
                ExcKind::NameError,
                format!("name '{}' is not defined", self.rt.global_name(slot)),
            ),
        }
    }

    /// Drop what a finished frame left on the value, locals and iterator stacks. Written
    /// as pops so that ints and other immediates skip the drop glue (a return usually
    /// leaves a few int locals and nothing else).
    #[inline(always)]
    fn release_frame_storage(&mut self, frame: &Frame) {
        self.release_storage(frame.pop_to, frame.iter_base);
    }

    /// `release_frame_storage` of a frame whose stacks start at `pop_to` and `iter_base`.
    #[inline(always)]
    fn release_storage(&mut self, pop_to: usize, iter_base: usize) {
        while self.stack.len() > pop_to {
            discard(self.stack.pop().expect("stack underflow"));
        }
        if self.iters.len() > iter_base {
            self.iters.truncate(iter_base);
        }
    }

    /// Route an exception to the innermost handler, popping frames that have none. Returns
    /// Err when the exception leaves the frame at `stop_depth`.
    #[inline(never)]
    fn unwind(&mut self, exc: Arc<ExcObj>, mut add_tb: bool, stop_depth: usize) -> PResult<()> {
        if add_tb {
            // Raised while another exception was being handled (not a re-raise).
            self.set_context(&exc, false);
        }
        loop {
            let frame = self.frames.last_mut().unwrap();
            let at = frame.ip.saturating_sub(1);
            if add_tb {
                exc.add_traceback(TbEntry {
                    file: frame.func().code.filename.clone(),
                    line: frame.func().code.line_at(at),
                    func: frame.func().code.name.clone(),
                });
            }
            let handler = frame
                .func()
                .code
                .handlers
                .iter()
                .find(|h| (h.start as usize) <= at && at < h.end as usize)
                .copied();
            if let Some(h) = handler {
                let (sb, ib) = (frame.stack_base, frame.iter_base);
                frame.ip = h.target as usize;
                self.stack.truncate(sb + h.depth as usize);
                self.iters.truncate(ib + h.iters as usize);
                self.stack.push_fast(Value::Exc(exc));
                return Ok(());
            }
            let frame = self.frames.pop().unwrap();
            self.release_frame_storage(&frame);
            if let Some(g) = &frame.gen {
                *g.state.lock() = IterState::Done;
            }
            add_tb = true;
            if self.frames.len() <= stop_depth {
                return Err(exc);
            }
        }
    }

    /// Implicit chaining: `e.__context__` = the exception being handled, as CPython's
    /// `_PyErr_SetObject` does. A `raise` statement replaces an existing context
    /// (`overwrite`); an error routed to a handler only fills a missing one (an exception
    /// coming back from a nested run already got its context where it was raised).
    #[inline(never)]
    fn set_context(&self, e: &Arc<ExcObj>, overwrite: bool) {
        let Some(cur) = &self.exc_info else { return };
        if Arc::ptr_eq(cur, e) || (!overwrite && e.context.lock().is_some()) {
            return;
        }
        // Avoid a cycle: cut the chain of `cur` where it reaches `e`.
        let mut o = cur.clone();
        loop {
            let next = o.context.lock().clone();
            match next {
                Some(c) if Arc::ptr_eq(&c, e) => {
                    *o.context.lock() = None;
                    break;
                }
                Some(c) => o = c,
                None => break,
            }
        }
        *e.context.lock() = Some(cur.clone());
    }

    #[inline(never)]
    fn unbound_cell(&self, code: &Code, i: usize) -> PResult<()> {
        let name = code.cell_name(i);
        if i < code.cellvars.len() {
            err(
                ExcKind::UnboundLocalError,
                format!(
                    "cannot access local variable '{}' where it is not associated with a value",
                    name
                ),
            )
        } else {
            err(
                ExcKind::NameError,
                format!("cannot access free variable '{}' where it is not associated with a value in enclosing scope", name),
            )
        }
    }

    /// Called at check points when the eval breaker is set.
    #[inline(never)]
    fn handle_eval_breaker(&mut self) -> PResult<()> {
        if self.is_main() && self.rt.interrupted.swap(false, Ordering::SeqCst) {
            return Err(ExcObj::with_args(ExcKind::KeyboardInterrupt, Vec::new()));
        }
        if self.rt.gil.breaker().load(Ordering::Relaxed) & crate::gil::BREAK_GIL_DROP != 0 {
            // Another thread has waited a whole switch interval: hand the GIL over.
            self.report_instructions();
            self.rt.gil.yield_to_waiter(&self.token);
        }
        Ok(())
    }

    /// `raise X`: X may be an exception instance or an exception type (called with no args).
    #[inline(never)]
    fn make_exception(&mut self, v: Value) -> PResult<Arc<ExcObj>> {
        match v {
            Value::Exc(e) => Ok(e),
            Value::Type(t) => match t.get() {
                TypeKind::Exc(k) => Ok(ExcObj::with_args(k, Vec::new())),
                _ => type_error("exceptions must derive from BaseException"),
            },
            _ => type_error("exceptions must derive from BaseException"),
        }
    }

    #[inline(never)]
    fn unpack(&mut self, v: Value, n: usize, after: Option<usize>) -> PResult<()> {
        let items: Vec<Value> = match &v {
            Value::Tuple(t) => t.items.to_vec(),
            Value::List(l) => l.items.lock().clone(),
            _ => {
                if LoopIter::new(&v).is_err() {
                    return type_error(format!(
                        "cannot unpack non-iterable {} object",
                        v.type_name()
                    ));
                }
                self.collect_iterable(&v)?
            }
        };
        match after {
            None => {
                if items.len() != n {
                    if items.len() > n {
                        return err(
                            ExcKind::ValueError,
                            format!("too many values to unpack (expected {})", n),
                        );
                    }
                    return err(
                        ExcKind::ValueError,
                        format!(
                            "not enough values to unpack (expected {}, got {})",
                            n,
                            items.len()
                        ),
                    );
                }
                for x in items.into_iter().rev() {
                    self.stack.push_fast(x);
                }
            }
            Some(after) => {
                let before = n;
                if items.len() < before + after {
                    return err(
                        ExcKind::ValueError,
                        format!(
                            "not enough values to unpack (expected at least {}, got {})",
                            before + after,
                            items.len()
                        ),
                    );
                }
                let mut items = items;
                let tail = items.split_off(items.len() - after);
                let middle = items.split_off(before);
                for x in tail.into_iter().rev() {
                    self.stack.push_fast(x);
                }
                self.stack.push_fast(Value::list(middle));
                for x in items.into_iter().rev() {
                    self.stack.push_fast(x);
                }
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Attributes
    // -----------------------------------------------------------------------------------------

    #[inline(never)]
    pub fn get_attr(&mut self, obj: &Value, name: &str) -> PResult<Value> {
        match obj {
            Value::Module(m) => {
                if let Some(v) = m.get(name) {
                    return Ok(v);
                }
                if name == "__name__" {
                    return Ok(Value::str(m.name.clone()));
                }
                return err(
                    ExcKind::AttributeError,
                    format!("module '{}' has no attribute '{}'", m.name, name),
                );
            }
            Value::Exc(e) => match name {
                "args" => return Ok(Value::tuple(crate::ops::exc_visible_args(e))),
                "code" if e.kind == ExcKind::SystemExit => {
                    return Ok(match e.args.len() {
                        0 => Value::None,
                        1 => e.args[0].clone(),
                        _ => Value::tuple(e.args.clone()),
                    })
                }
                "errno" | "strerror" | "filename" if e.kind.is_subclass(ExcKind::OSError) => {
                    let i = match name {
                        "errno" => 0,
                        "strerror" => 1,
                        _ => 2,
                    };
                    return Ok(if e.args.len() >= 2 {
                        e.args.get(i).cloned().unwrap_or(Value::None)
                    } else {
                        Value::None
                    });
                }
                "value" if e.kind == ExcKind::StopIteration => {
                    return Ok(e.args.first().cloned().unwrap_or(Value::None));
                }
                "__cause__" => {
                    return Ok(e
                        .cause
                        .lock()
                        .clone()
                        .map(Value::Exc)
                        .unwrap_or(Value::None))
                }
                "__context__" => {
                    return Ok(e
                        .context
                        .lock()
                        .clone()
                        .map(Value::Exc)
                        .unwrap_or(Value::None))
                }
                "__suppress_context__" => {
                    return Ok(Value::bool(e.suppress_context.load(Ordering::Relaxed)))
                }
                _ => {
                    let attrs = e.attrs.lock();
                    if let Some((_, v)) = attrs.iter().find(|(k, _)| &**k == name) {
                        return Ok(v.clone());
                    }
                }
            },
            Value::Type(t) => {
                if name == "__name__" {
                    return Ok(Value::str(t.get().name()));
                }
                if let Some(v) = crate::builtins::methods::lookup_type_attr(t.get(), name) {
                    return Ok(v);
                }
                return err(
                    ExcKind::AttributeError,
                    format!(
                        "type object '{}' has no attribute '{}'",
                        t.get().name(),
                        name
                    ),
                );
            }
            Value::Func(f) => {
                if name == "__name__" {
                    let n = f.code.name.rsplit('.').next().unwrap_or("").to_string();
                    return Ok(Value::str(n));
                }
                if name == "__qualname__" {
                    return Ok(Value::str(f.code.name.to_string()));
                }
                let attrs = f.attrs.lock();
                if let Some((_, v)) = attrs.iter().find(|(k, _)| &**k == name) {
                    return Ok(v.clone());
                }
            }
            Value::Builtin(b) if name == "__name__" => {
                return Ok(Value::str(b.name));
            }
            Value::Native(n) => {
                if let Some(v) = n.0.get_attr(obj, name) {
                    return Ok(v);
                }
            }
            Value::Slice(s) => match name {
                "start" => return Ok(s.lower.clone()),
                "stop" => return Ok(s.upper.clone()),
                "step" => return Ok(s.step.clone()),
                _ => {}
            },
            Value::Range(r) => match name {
                "start" => return Ok(int_from_i128(r.start)),
                "stop" => return Ok(int_from_i128(r.stop)),
                "step" => return Ok(int_from_i128(r.step)),
                _ => {}
            },
            _ => {}
        }
        if let Some(Value::Builtin(m)) = crate::builtins::methods::lookup(obj, name) {
            return Ok(Value::Builtin(Arc::new(Builtin {
                name: m.name,
                func: m.func,
                method: false,
                bound: Some(obj.clone()),
                owner: m.owner,
            })));
        }
        err(
            ExcKind::AttributeError,
            format!("'{}' object has no attribute '{}'", obj.type_name(), name),
        )
    }

    #[inline(never)]
    fn set_attr(&mut self, obj: &Value, name: &str, v: Value) -> PResult<()> {
        match obj {
            Value::Module(m) => {
                m.set(name, v);
                Ok(())
            }
            Value::Exc(e) => {
                let exc_or_none = |v: &Value, what: &str| -> PResult<Option<Arc<ExcObj>>> {
                    match v {
                        Value::None => Ok(None),
                        Value::Exc(x) => Ok(Some(x.clone())),
                        _ => type_error(format!(
                            "exception {what} must be None or derive from BaseException"
                        )),
                    }
                };
                match name {
                    "__cause__" => {
                        let c = exc_or_none(&v, "cause")?;
                        *e.cause.lock() = c;
                        e.suppress_context.store(true, Ordering::Relaxed);
                    }
                    "__context__" => {
                        let c = exc_or_none(&v, "context")?;
                        *e.context.lock() = c;
                    }
                    "__suppress_context__" => {
                        let b = v.truthy();
                        e.suppress_context.store(b, Ordering::Relaxed);
                    }
                    _ => {
                        let mut attrs = e.attrs.lock();
                        match attrs.iter_mut().find(|(k, _)| &**k == name) {
                            Some(slot) => slot.1 = v,
                            None => attrs.push((Arc::from(name), v)),
                        }
                    }
                }
                Ok(())
            }
            Value::Func(f) if !matches!(name, "__name__" | "__qualname__") => {
                let mut attrs = f.attrs.lock();
                match attrs.iter_mut().find(|(k, _)| &**k == name) {
                    Some(slot) => slot.1 = v,
                    None => attrs.push((Arc::from(name), v)),
                }
                Ok(())
            }
            Value::Native(n) => {
                let n = n.clone();
                match n.0.set_attr(self, name, v) {
                    Some(r) => r,
                    None => err(
                        ExcKind::AttributeError,
                        format!("'{}' object has no attribute '{}'", obj.type_name(), name),
                    ),
                }
            }
            _ => {
                let has = self.get_attr(obj, name).is_ok();
                if has {
                    err(
                        ExcKind::AttributeError,
                        format!(
                            "'{}' object attribute '{}' is read-only",
                            obj.type_name(),
                            name
                        ),
                    )
                } else {
                    err(
                        ExcKind::AttributeError,
                        format!("'{}' object has no attribute '{}'", obj.type_name(), name),
                    )
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // with
    // -----------------------------------------------------------------------------------------

    #[inline(never)]
    fn with_enter(&mut self, m: &Value) -> PResult<Value> {
        match m {
            Value::Native(n) => {
                let n = n.clone();
                n.0.enter(self, m)
            }
            _ => type_error(format!(
                "'{}' object does not support the context manager protocol",
                m.type_name()
            )),
        }
    }

    #[inline(never)]
    fn with_exit(&mut self, m: &Value, exc: Option<&Arc<ExcObj>>) -> PResult<()> {
        if let Value::Native(n) = m {
            let n = n.clone();
            return n.0.exit(self, exc);
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Containment
    // -----------------------------------------------------------------------------------------

    #[inline(never)]
    pub fn contains(&mut self, hay: &Value, needle: &Value) -> PResult<bool> {
        if let Some(r) = ops::contains(hay, needle)? {
            return Ok(r);
        }
        match hay {
            Value::Iter(_) | Value::Native(_) => {
                let mut it = LoopIter::new(hay)?;
                while let Some(x) = self.loop_next(&mut it)? {
                    if x.is(needle) || ops::eq(&x, needle) {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            _ => type_error(format!(
                "argument of type '{}' is not iterable",
                hay.type_name()
            )),
        }
    }
}

/// Cell `i` of a frame (`C[i]`): its own cells first, then its function's free variables.
#[inline(always)]
fn cell_at<'a>(cells: &'a [Arc<Cell>], func: &'a Function, i: u32) -> &'a Arc<Cell> {
    let i = i as usize;
    if i < cells.len() {
        &cells[i]
    } else {
        &func.closure[i - cells.len()]
    }
}

/// How a call error names its function: `__main__.f` for Toy functions, `len` for builtins.
pub fn call_name(f: &Value) -> String {
    match f {
        Value::Func(func) => format!("__main__.{}", func.code.name),
        Value::Builtin(b) => b.name.to_string(),
        Value::Type(t) => t.get().name().to_string(),
        other => other.type_name().to_string(),
    }
}

fn dict_update_plain(target: &Value, other: &Value) -> PResult<()> {
    match other {
        Value::Dict(o) => {
            let src = o.table.lock().clone();
            if let Value::Dict(d) = target {
                let mut t = d.table.lock();
                for (h, k, v) in src.iter_hashed() {
                    t.insert(h, k.clone(), v.clone());
                }
            }
            Ok(())
        }
        _ => type_error(format!("'{}' object is not a mapping", other.type_name())),
    }
}

/// `f(k=v, **m)`: add keyword arguments, refusing duplicates as Python does.
fn dict_merge_kwargs(func: &Value, target: &Value, other: &Value) -> PResult<()> {
    let Value::Dict(o) = other else {
        return type_error(format!(
            "{}() argument after ** must be a mapping, not {}",
            call_name(func),
            other.type_name()
        ));
    };
    let src = o.table.lock().clone();
    if let Value::Dict(d) = target {
        let mut t = d.table.lock();
        for (h, k, v) in src.iter_hashed() {
            if !matches!(k, Value::Str(_)) {
                return type_error("keywords must be strings");
            }
            if t.contains(h, k) {
                return type_error(format!(
                    "{}() got multiple values for keyword argument '{}'",
                    call_name(func),
                    ops::to_str(k)
                ));
            }
            t.insert(h, k.clone(), v.clone());
        }
    }
    Ok(())
}

/// `key in hay` when `hay` is a dict and `key` an int or str (hashing cannot fail); None for
/// anything else (the general `contains`).
#[inline(always)]
fn dict_contains_fast(hay: &Value, key: &Value) -> Option<bool> {
    match (hay, key) {
        (Value::Dict(d), k @ (Value::Int(_) | Value::Str(_))) => {
            hash_value(k).ok().map(|h| d.table.lock().contains(h, k))
        }
        _ => None,
    }
}

/// An augmented assignment names its own operator: `unsupported operand type(s) for +=:`
/// (`ops` words the binary operator's message, `for +:` and `for ** or pow():`).
#[cold]
#[inline(never)]
fn inplace_error(e: Arc<ExcObj>) -> Arc<ExcObj> {
    const HEAD: &str = "unsupported operand type(s) for ";
    if e.kind != ExcKind::TypeError || e.args.len() != 1 {
        return e;
    }
    let Value::Str(_) = &e.args[0] else { return e };
    let msg = ops::to_str(&e.args[0]);
    let Some((op, rest)) = msg.strip_prefix(HEAD).and_then(|m| m.split_once(": ")) else {
        return e;
    };
    let op = op.strip_suffix(" or pow()").unwrap_or(op);
    ExcObj::new(ExcKind::TypeError, format!("{HEAD}{op}=: {rest}"))
}

/// The int-by-int cases of the binary operators that need no allocation and cannot fail
/// (None: take the general path, which also produces the errors).
#[inline(always)]
fn int_fast(op: u32, x: i64, y: i64) -> Option<i64> {
    use crate::ast::BinOp;
    match ops::binop_from(op) {
        BinOp::Add => x.checked_add(y),
        BinOp::Sub => x.checked_sub(y),
        BinOp::Mul => x.checked_mul(y),
        BinOp::FloorDiv if y > 0 && x >= 0 => Some(x / y),
        BinOp::FloorDiv if y != 0 && y != -1 => Some(num_integer::Integer::div_floor(&x, &y)),
        BinOp::Mod if y > 0 && x >= 0 => Some(x % y),
        BinOp::Mod if y != 0 && y != -1 => Some(num_integer::Integer::mod_floor(&x, &y)),
        BinOp::BitAnd => Some(x & y),
        BinOp::BitOr => Some(x | y),
        BinOp::BitXor => Some(x ^ y),
        BinOp::RShift if (0..64).contains(&y) => Some(x >> y),
        BinOp::LShift if (0..63).contains(&y) && x.unsigned_abs() < (1u64 << (62 - y)) => {
            Some(x << y)
        }
        _ => None,
    }
}

fn set_from(items: Vec<Value>) -> PResult<SetTable> {
    let mut t = SetTable::new();
    for it in items {
        let h = hash_value(&it)?;
        t.add(h, it);
    }
    Ok(t)
}

fn dict_from_flat(items: Vec<Value>) -> PResult<DictTable> {
    let mut t = DictTable::new();
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        let h = hash_value(&k)?;
        t.insert(h, k, v);
    }
    Ok(t)
}

/// Does an exception of kind `k` match the `except` clause type `t` (a type or a tuple)?
pub fn exc_matches(k: ExcKind, t: &Value) -> PResult<bool> {
    match t {
        Value::Type(w) => match w.get() {
            TypeKind::Exc(c) => Ok(k.is_subclass(c)),
            _ => {
                type_error("catching classes that do not inherit from BaseException is not allowed")
            }
        },
        Value::Tuple(items) => {
            for i in items.items.iter() {
                if exc_matches(k, i)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        _ => type_error("catching classes that do not inherit from BaseException is not allowed"),
    }
}
