//! Toy's entry point: parse the flags, run the program, exit with its status.

mod ast;
mod builtins;
mod bytecode;
mod cli;
mod compiler;
mod dict;
mod exceptions;
mod format;
mod gil;
mod lexer;
mod modules;
mod ops;
mod parser;
mod process;
mod repl;
mod report;
mod run;
mod subprocess;
mod thread;
mod value;
mod vm;

/// Toy allocates many small, short-lived objects (strings, tuples, frames' cells): mimalloc's
/// per-thread free lists do that in far fewer instructions than the system allocator (CPython
/// has its own small-object allocator for the same reason).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let config = cli::parse();
    // The interpreter runs on a thread with a large stack: parsing and compiling deeply nested
    // code recurses, and builtins that call back into Toy code nest native frames.
    let handle = std::thread::Builder::new()
        .name("MainThread".into())
        .stack_size(512 << 20)
        .spawn(move || run::main(config))
        .expect("toy: cannot start the interpreter thread");
    let code = handle.join().unwrap_or(101);
    std::process::exit(code);
}
