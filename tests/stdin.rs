//! `input()` on a piped stdin: only the newline is taken off, a '\r' before it stays (CPython's
//! stdin does no newline translation; expected output taken from CPython 3.11). The
//! conformance scripts cannot check this: they run with stdin from /dev/null.

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn input_keeps_a_carriage_return() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_toy"))
        .arg("-c")
        .arg("print(repr(input()), repr(input()))")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("could not run toy");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"abc\r\ndef\n")
        .expect("writing stdin");
    let out = child.wait_with_output().expect("waiting for toy");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "'abc\\r' 'def'\n");
}
