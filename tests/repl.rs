//! The REPL driven through a pseudo-terminal, as a person would use it: type a multi-line
//! `def`, call it, cause an error, use a variable defined before the error, press Ctrl-C in
//! the middle of an input, and leave with Ctrl-D (exit status 0).

use rexpect::session::spawn_command;
use std::process::Command;

const TIMEOUT_MS: u64 = 20_000;

#[test]
fn repl_session_through_a_pty() {
    let home = std::env::temp_dir().join(format!("toy-repl-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_toy"));
    cmd.env("HOME", &home).env("TERM", "xterm");
    let mut p = spawn_command(cmd, Some(TIMEOUT_MS)).expect("spawn toy on a pty");

    p.exp_string(">>> ").unwrap();
    p.send_line("x = 40").unwrap();
    p.exp_string(">>> ").unwrap();

    // A multi-line def ends at an empty line.
    p.send_line("def add(a, b):").unwrap();
    p.exp_string("... ").unwrap();
    p.send_line("    return a + b").unwrap();
    p.exp_string("... ").unwrap();
    p.send_line("").unwrap();
    p.exp_string(">>> ").unwrap();

    // An expression's repr is echoed; None is not.
    p.send_line("add(x, 2)").unwrap();
    p.exp_string("42").unwrap();
    p.exp_string(">>> ").unwrap();
    p.send_line("'a' * 3").unwrap();
    p.exp_string("'aaa'").unwrap();
    p.exp_string(">>> ").unwrap();

    // An error prints a traceback and the session keeps its state.
    p.send_line("1 / 0").unwrap();
    p.exp_string("ZeroDivisionError: division by zero").unwrap();
    p.exp_string(">>> ").unwrap();
    p.send_line("print(x + 1)").unwrap();
    p.exp_string("41").unwrap();
    p.exp_string(">>> ").unwrap();

    // Ctrl-C abandons the current input.
    p.send_line("for i in range(3):").unwrap();
    p.exp_string("... ").unwrap();
    p.send_control('c').unwrap();
    p.exp_string("KeyboardInterrupt").unwrap();
    p.exp_string(">>> ").unwrap();
    p.send_line("print('still here', x)").unwrap();
    p.exp_string("still here 40").unwrap();
    p.exp_string(">>> ").unwrap();

    // Ctrl-D leaves with status 0.
    p.send_control('d').unwrap();
    match p.process().wait() {
        Ok(rexpect::process::WaitStatus::Exited(_, code)) => assert_eq!(code, 0),
        other => panic!("toy did not exit normally after Ctrl-D: {:?}", other),
    }
    let _ = std::fs::remove_dir_all(&home);
}
