//! The interpreter never panics, whatever it is given (TOY.md §6): runs the built `toy` over a
//! corpus of bad programs made here — truncated conformance scripts, random bytes, random
//! printable garbage, pathological nesting and sizes, bad indentation, NUL bytes, invalid UTF-8 —
//! each from a file in a temporary directory with 20 s at most. Any exit status is fine except
//! 101 (a Rust panic), death by a signal (abort, stack overflow) and a timeout; every offender is
//! reported at once.

mod support;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(20);
/// Cuts per conformance script, and how many scripts are cut.
const CUTS: usize = 4;
const SCRIPTS_TO_CUT: usize = 12;

#[test]
fn bad_input_never_crashes() {
    let dir = std::env::temp_dir().join(format!("toy-bad-input-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("creating the temporary directory");
    let cases = corpus();
    let files: Vec<(String, PathBuf)> = cases
        .iter()
        .enumerate()
        .map(|(i, (name, source))| {
            let path = dir.join(format!("case{i:03}.toy"));
            fs::write(&path, source).expect("writing a case");
            (name.clone(), path)
        })
        .collect();

    let offenders: Vec<String> = support::par_map(&files, |(name, path)| check(name, path))
        .into_iter()
        .flatten()
        .collect();
    let mut report = String::new();
    for offender in &offenders {
        report.push_str(offender);
    }
    if offenders.is_empty() {
        let _ = fs::remove_dir_all(&dir);
    } else {
        let _ = writeln!(
            report,
            "The cases are kept in {} (run: cd there && toy caseNNN.toy).",
            dir.display()
        );
    }
    let _ = writeln!(
        report,
        "{} bad inputs handled, {} crashed or hung",
        files.len() - offenders.len(),
        offenders.len()
    );
    eprint!("{report}");
    assert!(
        offenders.is_empty(),
        "{} of {} bad inputs made toy panic, die by a signal or time out (reports above)",
        offenders.len(),
        files.len()
    );
}

/// Runs one case; `None` if toy ended by itself with any status but 101.
///
/// A valid script cut short may be a valid program that never ends (a `while True:` whose
/// `break` was cut off): for those cases toy first compiles it (`--dis`, which must end), then
/// runs it, and a run that is still going at the time limit is killed and accepted.
fn check(name: &str, path: &Path) -> Option<String> {
    let may_loop = name.contains(" cut at byte ");
    if may_loop {
        let front = run_toy(path, &["--dis"], TIMEOUT);
        if let Some(report) = judge(name, path, front, false) {
            return Some(report);
        }
    }
    let limit = if may_loop { LOOP_TIMEOUT } else { TIMEOUT };
    judge(name, path, run_toy(path, &[], limit), may_loop)
}

/// How long a cut script may run before it is taken for a program that never ends.
const LOOP_TIMEOUT: Duration = Duration::from_secs(5);

fn run_toy(path: &Path, flags: &[&str], limit: Duration) -> std::io::Result<support::Outcome> {
    support::run(
        Command::new(env!("CARGO_BIN_EXE_toy"))
            .args(flags)
            .arg(path.file_name().expect("case has a file name"))
            .current_dir(path.parent().expect("case has a directory")),
        limit,
    )
}

fn judge(
    name: &str,
    path: &Path,
    outcome: std::io::Result<support::Outcome>,
    timeout_ok: bool,
) -> Option<String> {
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => return Some(format!("FAIL {name}: could not run toy: {e}\n")),
    };
    if outcome.timed_out && timeout_ok {
        return None;
    }
    let crashed =
        outcome.timed_out || outcome.status.code().is_none() || outcome.shell_status() == 101;
    if !crashed {
        return None;
    }
    Some(format!(
        "==============================================================================\n\
         FAIL {name} ({}): {}\n\
         --- stderr (last lines):\n{}",
        path.display(),
        outcome.describe(TIMEOUT),
        support::tail(&outcome.stderr, 8)
    ))
}

/// xorshift64: the same pseudo-random bytes on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Every case: a name for the report and the bytes of the script.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, source: Vec<u8>| cases.push((name.to_string(), source));
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);

    // Valid scripts cut short, anywhere (inside a string, a bracket, a block, a UTF-8 sequence).
    let builtin = "def f(a, b=2, *args, **kw):\n    return [x * b for x in range(a) if x % 2]\n\
                   try:\n    print(f'{f(5)!r:>20}', {'k': (1, 2.5, \"s\\n\")})\nexcept \
                   (ValueError, KeyError) as e:\n    print('é', e)\nfinally:\n    pass\n";
    let mut valid = vec![("builtin snippet".to_string(), builtin.as_bytes().to_vec())];
    valid.extend(conformance_scripts(SCRIPTS_TO_CUT));
    for (name, source) in &valid {
        for cut in 1..=CUTS {
            let at = source.len() * cut / (CUTS + 1) + rng.below(7);
            let at = at.min(source.len().saturating_sub(1));
            add(&format!("{name} cut at byte {at}"), source[..at].to_vec());
        }
    }

    for i in 0..12 {
        let len = 1 + rng.below(4096);
        let bytes = (0..len).map(|_| rng.next() as u8).collect();
        add(&format!("random bytes #{i} ({len} bytes)"), bytes);
    }

    let printable: Vec<u8> = (0x20u8..0x7f).chain(*b"\n\n\n\t").collect();
    for i in 0..12 {
        let len = 1 + rng.below(4096);
        let bytes = (0..len)
            .map(|_| printable[rng.below(printable.len())])
            .collect();
        add(&format!("random printable #{i} ({len} bytes)"), bytes);
    }

    // Token soup: closer to programs, so it gets further into the parser and compiler.
    let tokens = [
        "def ",
        "f",
        "(",
        ")",
        ":",
        "\n",
        "    ",
        "return ",
        "lambda ",
        "x",
        ",",
        "*",
        "**",
        "=",
        "[",
        "]",
        "{",
        "}",
        "if ",
        "else ",
        "for ",
        "in ",
        "while ",
        "not ",
        "and ",
        "1",
        "2.5",
        "'s'",
        "f'{",
        "!r",
        ":>8}",
        "'",
        "\"",
        "\\",
        "try",
        "except",
        "finally",
        "with ",
        "as ",
        "global ",
        "nonlocal ",
        "del ",
        "yield ",
        "class ",
        "@",
        "import ",
        "from ",
        ".",
        ";",
        "-",
        "~",
        "%",
        "//",
        "<<",
        "==",
        "is ",
        "None",
        "True",
        "#",
        "0x",
        "1e",
        "_",
        "é",
    ];
    for i in 0..12 {
        let n = 1 + rng.below(600);
        let soup: String = (0..n).map(|_| tokens[rng.below(tokens.len())]).collect();
        add(&format!("token soup #{i} ({n} tokens)"), soup.into_bytes());
    }

    for open in ["(", "[", "{"] {
        add(
            &format!("10 000 unclosed {open}"),
            open.repeat(10_000).into_bytes(),
        );
    }
    add(
        "10 000 nested (...)",
        format!(
            "x = {}1{}\nprint(x)\n",
            "(".repeat(10_000),
            ")".repeat(10_000)
        )
        .into_bytes(),
    );
    add(
        "10 000 nested [...]",
        format!(
            "x = {}1{}\nprint(x)\n",
            "[".repeat(10_000),
            "]".repeat(10_000)
        )
        .into_bytes(),
    );
    add("10 000 closing )", ")".repeat(10_000).into_bytes());
    add(
        "100 000 terms 1+1+...",
        format!("print({}1)\n", "1+".repeat(100_000)).into_bytes(),
    );
    add(
        "100 000 x if x else ...",
        format!("x = 0\nprint({}1)\n", "x if x else ".repeat(100_000)).into_bytes(),
    );
    add(
        "10 000 nested lambdas",
        format!("f = {}1\n", "lambda: ".repeat(10_000)).into_bytes(),
    );

    add(
        "unindent mismatch",
        b"if True:\n        a = 1\n    b = 2\n".to_vec(),
    );
    add("unexpected indent", b"x = 1\n    y = 2\n".to_vec());
    add(
        "expected an indented block",
        b"def f():\nreturn 1\n".to_vec(),
    );
    add(
        "tabs and spaces mixed",
        b"if True:\n\tx = 1\n        y = 2\n".to_vec(),
    );
    add("indented first line", b"   print(1)\n".to_vec());
    add("block at end of file", b"while True:\n".to_vec());
    let deep: String = (0..1000)
        .map(|d| format!("{}if True:\n", " ".repeat(d)))
        .collect();
    add(
        "1000 nested blocks",
        format!("{deep}{}pass\n", " ".repeat(1000)).into_bytes(),
    );

    add(
        "100 000-deep recursion",
        b"def f(n): return f(n+1)\nprint('start')\nf(0)\n".to_vec(),
    );
    add(
        "deep recursion inside a comprehension",
        b"def f(n): return [f(n + 1) for _ in (1,)]\nf(0)\n".to_vec(),
    );
    add(
        "1 000 000-digit int literal",
        format!("x = 1{}\nprint(x % 7)\n", "0".repeat(999_999)).into_bytes(),
    );
    add(
        "10 MB string literal",
        format!("s = '{}'\nprint(len(s))\n", "a".repeat(10_000_000)).into_bytes(),
    );
    add(
        "10 MB unterminated string literal",
        format!("s = '{}\n", "a".repeat(10_000_000)).into_bytes(),
    );
    add(
        "100 000 unary minus",
        format!("print({}1)\n", "-".repeat(100_000)).into_bytes(),
    );
    add(
        "100 000 unary not",
        format!("print({}1)\n", "not ".repeat(100_000)).into_bytes(),
    );
    add(
        "100 000 unary ~",
        format!("print({}1)\n", "~".repeat(100_000)).into_bytes(),
    );
    add(
        "allocation too large",
        b"print(1)\nx = [0] * 10**12\n".to_vec(),
    );
    add(
        "string too large",
        b"print(1)\nx = 'ab' * 10**12\n".to_vec(),
    );
    add("huge shift", b"print(1)\nx = 1 << 10**12\n".to_vec());

    add("NUL byte after a statement", b"print(1)\x00\n".to_vec());
    add("NUL bytes only", vec![0; 100]);
    add(
        "NUL inside a string",
        b"x = 'a\x00b'\nprint(len(x))\n".to_vec(),
    );
    add("NUL inside a comment", b"# \x00\nprint(1)\n".to_vec());
    add("invalid UTF-8 in a string", b"print('\xff\xfe')\n".to_vec());
    add("invalid UTF-8 in code", b"x = 1\n\xc3\x28 = 2\n".to_vec());
    add("truncated UTF-8 at end", b"print('\xe2\x82".to_vec());
    add("UTF-8 surrogate", b"s = '\xed\xa0\x80'\n".to_vec());
    add("overlong UTF-8", b"s = '\xc0\xaf'\n".to_vec());
    add("empty file", Vec::new());
    add("lone backslash", b"\\".to_vec());
    add(
        "bad escapes",
        b"print('\\x', '\\u12', '\\N{nope}')\n".to_vec(),
    );
    add("unterminated triple quote", b"s = '''abc\n\ndef\n".to_vec());
    add(
        "unterminated f-string brace",
        b"print(f'{1 + }')\nprint(f'{')\n".to_vec(),
    );
    add(
        "very long line",
        format!("x = {}\n", "a".repeat(1_000_000)).into_bytes(),
    );
    cases
}

/// Up to `n` conformance scripts, spread over the sorted list of all of them.
fn conformance_scripts(n: usize) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut all = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "toy") {
                all.push(path);
            }
        }
    }
    all.sort();
    let step = all.len().div_ceil(n).max(1);
    all.iter()
        .step_by(step)
        .filter_map(|path| {
            let name = path
                .strip_prefix(&root)
                .unwrap_or(path)
                .display()
                .to_string();
            fs::read(path).ok().map(|source| (name, source))
        })
        .collect()
}
