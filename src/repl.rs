//! The interactive prompt, as `python3`'s: `>>> ` and `... ` prompts with line editing and
//! history (rustyline; history kept in `~/.toy_history`), the repr of an expression statement
//! echoed (not `None`), a block ends at an empty line, an error prints its traceback and the
//! session keeps its state, Ctrl-C abandons the current input, Ctrl-D exits with status 0.
//! Threads started at the prompt keep running; leaving waits for the non-daemon ones.

use std::sync::Arc;

use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

use crate::builtins::io::write_stderr;
use crate::exceptions::ExcKind;
use crate::vm::{Runtime, Vm};

/// What the lines typed so far amount to.
enum Input {
    /// A complete statement (or block ended by an empty line): run it.
    Ready(Vec<crate::ast::Stmt>),
    /// More lines are needed (`... `).
    More,
    /// A syntax error to report.
    Error(crate::ast::SyntaxError),
}

fn classify(buf: &str, last_line_empty: bool) -> Input {
    match crate::parser::parse_module(buf) {
        Ok(body) => {
            // A compound statement (or anything spanning several lines) waits for the
            // empty line that ends it, as Python's prompt does.
            let first = buf.lines().next().unwrap_or("");
            let multi = buf.trim_end().lines().count() > 1 || first.trim_end().ends_with(':');
            if multi && !last_line_empty {
                Input::More
            } else {
                Input::Ready(body)
            }
        }
        Err(e) if e.at_eof && !last_line_empty => Input::More,
        Err(e) => Input::Error(e),
    }
}

pub fn run(rt: Arc<Runtime>) -> i32 {
    let mut vm = Vm::new(rt.clone());
    let mut editor = match DefaultEditor::new() {
        Ok(e) => e,
        Err(e) => {
            write_stderr(&format!("toy: cannot start the line editor: {}\n", e));
            return 1;
        }
    };
    let history = std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".toy_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "Toy {} (a Python 3.11 subset with a real GIL). Ctrl-D to exit.",
        env!("CARGO_PKG_VERSION")
    );
    let mut buf = String::new();
    let mut status = 0;
    loop {
        let prompt = if buf.is_empty() { ">>> " } else { "... " };
        match editor.readline(prompt) {
            Ok(line) => {
                if buf.is_empty() && line.trim().is_empty() {
                    continue;
                }
                buf.push_str(&line);
                buf.push('\n');
                match classify(&buf, line.trim().is_empty()) {
                    Input::More => continue,
                    Input::Error(e) => {
                        let _ = editor.add_history_entry(buf.trim_end());
                        write_stderr(&crate::report::syntax_error(&e, "<stdin>", &buf));
                    }
                    Input::Ready(body) => {
                        let _ = editor.add_history_entry(buf.trim_end());
                        if let Some(code) = execute(&rt, &mut vm, &buf, &body) {
                            status = code;
                            break;
                        }
                    }
                }
                buf.clear();
            }
            Err(ReadlineError::Interrupted) => {
                // Ctrl-C abandons the current input.
                println!("KeyboardInterrupt");
                buf.clear();
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                write_stderr(&format!("toy: {}\n", e));
                status = 1;
                break;
            }
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    crate::thread::at_exit(&mut vm);
    crate::process::at_exit(&mut vm);
    rt.stdout.lock().flush();
    status
}

/// Compile and run one input in the session's VM. Returns an exit status when the input
/// ended the session (`sys.exit`).
fn execute(rt: &Arc<Runtime>, vm: &mut Vm, source: &str, body: &[crate::ast::Stmt]) -> Option<i32> {
    rt.add_source("<stdin>", source);
    let code =
        match crate::compiler::compile_module(body, "<stdin>", true, &mut |n| rt.global_slot(n)) {
            Ok(c) => c,
            Err(e) => {
                write_stderr(&crate::report::syntax_error(&e, "<stdin>", source));
                return None;
            }
        };
    let result = vm.run_module(code);
    rt.stdout.lock().flush();
    if let Err(exc) = result {
        if exc.kind == ExcKind::SystemExit {
            return Some(crate::report::system_exit_status(&exc));
        }
        write_stderr(&crate::report::traceback(rt, &exc));
    }
    None
}
