//! The driver: read the program, parse, compile, run, and turn the outcome into an exit
//! status (0, 1 for an uncaught exception or syntax error, N for `sys.exit(N)`, 2 when the
//! file cannot be opened).

use std::io::Read;
use std::sync::Arc;

use crate::builtins::io::write_stderr;
use crate::cli::{Config, Source};
use crate::exceptions::ExcKind;
use crate::vm::{Runtime, Vm};

pub fn main(config: Config) -> i32 {
    let (filename, bytes) = match &config.source {
        Source::File(path) => match std::fs::read(path) {
            Ok(b) => (path.clone(), b),
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(0);
                write_stderr(&format!(
                    "toy: can't open file '{}': [Errno {}] {}\n",
                    path,
                    errno,
                    crate::exceptions::strerror(errno)
                ));
                return 2;
            }
        },
        Source::Code(c) => ("<string>".to_string(), c.clone().into_bytes()),
        Source::Stdin => {
            let mut b = Vec::new();
            if let Err(e) = std::io::stdin().read_to_end(&mut b) {
                write_stderr(&format!("toy: cannot read standard input: {}\n", e));
                return 2;
            }
            ("<stdin>".to_string(), b)
        }
        Source::Repl => {
            let rt = Runtime::new(config.argv.clone());
            rt.set_switch_interval(config.switch_interval);
            install_sigint(&rt);
            return crate::repl::run(rt);
        }
    };
    let rt = Runtime::new(config.argv.clone());
    rt.set_switch_interval(config.switch_interval);
    install_sigint(&rt);
    let source = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let pos = e.utf8_error().valid_up_to();
            let byte = e.as_bytes()[pos];
            write_stderr(&format!(
                "SyntaxError: (unicode error) 'utf-8' codec can't decode byte 0x{:02x} in position {}: invalid start byte\n",
                byte, pos
            ));
            return 1;
        }
    };
    let status = run_source(&rt, &source, &filename, config.dis, config.gil_stats);
    rt.stdout.lock().flush();
    status
}

/// Ctrl-C sets the runtime's `interrupted` flag; the main thread turns it into
/// KeyboardInterrupt at its next check point or when its blocking wait wakes up.
fn install_sigint(rt: &Arc<Runtime>) {
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, rt.interrupted.clone());
}

/// Parse, compile and run one program in `rt`; returns the exit status.
pub fn run_source(
    rt: &Arc<Runtime>,
    source: &str,
    filename: &str,
    dis: bool,
    gil_stats: bool,
) -> i32 {
    rt.add_source(filename, source);
    let body = match crate::parser::parse_module(source) {
        Ok(b) => b,
        Err(e) => {
            write_stderr(&crate::report::syntax_error(&e, filename, source));
            return 1;
        }
    };
    let code =
        match crate::compiler::compile_module(&body, filename, false, &mut |n| rt.global_slot(n)) {
            Ok(c) => c,
            Err(e) => {
                write_stderr(&crate::report::syntax_error(&e, filename, source));
                return 1;
            }
        };
    drop(body);
    if dis {
        let text = crate::bytecode::disassemble(&code, &|slot| rt.global_name(slot));
        rt.stdout.lock().write(&text);
        return 0;
    }
    let mut vm = Vm::new(rt.clone());
    // An interpreter bug must not lose the program's output: flush what it printed, then
    // report the internal error (exit status 101, as a Rust panic).
    let result =
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| vm.run_module(code))) {
            Ok(r) => r,
            Err(_) => {
                if let Some(mut out) = rt.stdout.try_lock() {
                    out.flush();
                }
                write_stderr(
                    "toy: internal error (a bug in Toy, not in your program); please report it\n",
                );
                return 101;
            }
        };
    // The program ends when the main thread ends and every non-daemon thread has finished.
    // As CPython: stdout is flushed when the main module ends, before waiting for threads
    // and children, so their output comes after the parent's.
    rt.stdout.lock().flush();
    crate::thread::at_exit(&mut vm);
    crate::process::at_exit(&mut vm);
    if gil_stats {
        vm.report_instructions();
        write_stderr(&crate::gil::format_stats_table(&rt.gil.stats()));
    }
    let status = match result {
        Ok(_) => 0,
        Err(exc) => {
            rt.stdout.lock().flush();
            if exc.kind == ExcKind::SystemExit {
                crate::report::system_exit_status(&exc)
            } else {
                write_stderr(&crate::report::traceback(rt, &exc));
                if exc.kind == ExcKind::KeyboardInterrupt {
                    130
                } else {
                    1
                }
            }
        }
    };
    rt.stdout.lock().flush();
    status
}
