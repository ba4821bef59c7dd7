//! Command-line flags, in one place. The rest of the program sees only `Config`.

use clap::Parser;

/// Toy: a small, fast, Python-flavoured interpreter with a real GIL, threads and processes.
#[derive(Parser, Debug)]
#[command(name = "toy", version, about, long_about = None)]
#[command(
    after_help = "Run a script: toy FILE [ARGS...]   Run code: toy -c CODE   Start the REPL: toy"
)]
struct Args {
    /// Program passed in as a string
    #[arg(short = 'c', value_name = "CODE", allow_hyphen_values = true)]
    code: Option<String>,

    /// Seconds a thread waiting for the GIL waits before asking the holder to drop it
    #[arg(long, value_name = "S", default_value_t = 0.005)]
    switch_interval: f64,

    /// Print the per-thread GIL statistics to stderr when the program ends
    #[arg(long)]
    gil_stats: bool,

    /// Print the bytecode of the program and exit
    #[arg(long)]
    dis: bool,

    /// The script to run ('-' for standard input), followed by its arguments
    #[arg(
        value_name = "FILE",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    rest: Vec<String>,
}

/// Where the program comes from.
pub enum Source {
    File(String),
    Code(String),
    Stdin,
    Repl,
}

pub struct Config {
    pub source: Source,
    /// `sys.argv`.
    pub argv: Vec<String>,
    pub switch_interval: f64,
    pub gil_stats: bool,
    pub dis: bool,
}

/// Parse the command line (clap prints help/version/usage errors and exits with 0 or 2).
pub fn parse() -> Config {
    let args = Args::parse();
    let interval = if args.switch_interval.is_finite() && args.switch_interval > 0.0 {
        args.switch_interval
    } else {
        eprintln!("toy: --switch-interval must be a positive number of seconds");
        std::process::exit(2);
    };
    let (source, argv) = if let Some(code) = args.code {
        let mut argv = vec!["-c".to_string()];
        argv.extend(args.rest);
        (Source::Code(code), argv)
    } else if let Some(first) = args.rest.first() {
        if first.starts_with('-') && first != "-" {
            eprintln!("toy: unknown option {}\nusage: toy [OPTIONS] [FILE | -c CODE | -] [ARGS...]\nTry 'toy --help' for more information.", first);
            std::process::exit(2);
        }
        if first == "-" {
            let mut argv = vec!["-".to_string()];
            argv.extend(args.rest[1..].iter().cloned());
            (Source::Stdin, argv)
        } else {
            (Source::File(first.clone()), args.rest.clone())
        }
    } else {
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal() {
            (Source::Repl, vec![String::new()])
        } else {
            (Source::Stdin, vec![String::new()])
        }
    };
    Config {
        source,
        argv,
        switch_interval: interval,
        gil_stats: args.gil_stats,
        dis: args.dis,
    }
}
