//! The conformance suite: runs every `tests/conformance/**/NAME.toy` with the built `toy` and
//! compares it with what CPython 3.11 gave for it (TOY.md §0), recorded by `tests/regen`:
//!
//! - `NAME.expected`: the exact standard output;
//! - `NAME.status`, present only when the exit status is not 0: line 1 the status, line 2 the
//!   last non-empty line of standard error (the type and message of an uncaught exception).
//!
//! Each script runs in its own directory (`toy NAME.toy`, stdin from /dev/null, 60 s at most),
//! on a pool of `available_parallelism()` workers. Every failing script is reported with a line
//! diff of expected against actual output, then `N passed, M failed`.
//!
//! `tests/conformance/xfail.txt` lists scripts known to fail today, one per line as
//! `PATH  # reason`: they are still run and reported, but do not fail the suite; a listed
//! script that passes fails the suite, so the list can only shrink.
//!
//! `TOY_TEST_FILTER=SUBSTRING` runs only the scripts whose path under `tests/conformance`
//! contains SUBSTRING (e.g. `numbers/` or `fstring`).

mod support;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);
/// Lines of stderr shown with a failure.
const STDERR_TAIL: usize = 12;
/// Diff lines shown per failure.
const MAX_DIFF_LINES: usize = 120;
/// Lines of unchanged context around each change in a diff.
const CONTEXT: usize = 3;
const RULE: &str = "==============================================================================";
const THIN_RULE: &str =
    "------------------------------------------------------------------------------";

#[test]
fn conformance() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut scripts = Vec::new();
    find_scripts(&root, &mut scripts);
    scripts.sort();
    let filter = std::env::var("TOY_TEST_FILTER").unwrap_or_default();
    scripts.retain(|path| relative(&root, path).contains(&filter));
    assert!(
        !scripts.is_empty(),
        "no conformance scripts under {} match TOY_TEST_FILTER={filter:?}",
        root.display()
    );

    let xfail = known_failures(&root);
    let results: Vec<(String, Option<String>)> = support::par_map(&scripts, |script| {
        (relative(&root, script), check(&root, script))
    });

    let mut report = String::new();
    let (mut failed, mut known, mut fixed) = (0, Vec::new(), Vec::new());
    for (rel, outcome) in &results {
        let listed = xfail.iter().find(|(p, _)| p == rel);
        match (outcome, listed) {
            (Some(failure), None) => {
                failed += 1;
                report.push_str(failure);
            }
            (Some(_), Some((p, why))) => known.push(format!("  {p}  # {why}")),
            (None, Some((p, _))) => fixed.push(p.clone()),
            (None, None) => {}
        }
    }
    if !known.is_empty() {
        let _ = writeln!(
            report,
            "known failures (tests/conformance/xfail.txt), {}:",
            known.len()
        );
        for k in &known {
            let _ = writeln!(report, "{k}");
        }
    }
    for p in &fixed {
        failed += 1;
        let _ = writeln!(
            report,
            "FIXED {p}: it passes now; remove it from tests/conformance/xfail.txt"
        );
    }
    let passed = results.len() - failed - known.len();
    let _ = writeln!(
        report,
        "{} passed, {} failed, {} known failures",
        passed,
        failed,
        known.len()
    );
    eprint!("{report}");
    assert!(
        failed == 0,
        "{} of {} conformance scripts failed (reports above)",
        failed,
        scripts.len()
    );
}

/// `xfail.txt`: `path/under/conformance.toy  # reason` per line.
fn known_failures(root: &Path) -> Vec<(String, String)> {
    let Ok(text) = fs::read_to_string(root.join("xfail.txt")) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| {
            let (p, why) = l.split_once('#').unwrap_or((l, "no reason given"));
            (p.trim().to_string(), why.trim().to_string())
        })
        .collect()
}

fn find_scripts(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            find_scripts(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "toy") {
            out.push(path);
        }
    }
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Runs one script; `None` if it passed, else the report of how it failed.
fn check(root: &Path, script: &Path) -> Option<String> {
    let name = relative(root, script);
    let mut problems = Vec::new();
    let mut diff = None;

    let expected_stdout = fs::read(script.with_extension("expected"));
    let expected_status = fs::read_to_string(script.with_extension("status")).ok();
    let (want_code, want_line) = match &expected_status {
        None => (0, None),
        Some(text) => {
            let mut lines = text.lines();
            let code = lines.next().unwrap_or("").trim();
            match code.parse::<i32>() {
                Ok(code) => (code, Some(lines.next().unwrap_or("").to_string())),
                Err(_) => {
                    return Some(report(
                        &name,
                        &[format!("malformed .status file: {text:?}")],
                    ))
                }
            }
        }
    };

    let outcome = match support::run(
        Command::new(env!("CARGO_BIN_EXE_toy"))
            .arg(script.file_name().expect("script has a file name"))
            .current_dir(script.parent().expect("script has a directory")),
        TIMEOUT,
    ) {
        Ok(outcome) => outcome,
        Err(e) => return Some(report(&name, &[format!("could not run toy: {e}")])),
    };

    if outcome.timed_out {
        problems.push(outcome.describe(TIMEOUT));
    }
    match &expected_stdout {
        Err(e) => problems.push(format!(
            "cannot read {} ({e}); run tests/regen on the script",
            script.with_extension("expected").display()
        )),
        Ok(expected) if *expected != outcome.stdout => {
            let expected = String::from_utf8_lossy(expected);
            let actual = String::from_utf8_lossy(&outcome.stdout);
            let (text, first) = line_diff(&expected, &actual);
            problems.push(match first {
                Some(line) => format!("stdout differs (first difference at line {line})"),
                None => "stdout differs (in bytes that are not valid UTF-8)".to_string(),
            });
            diff = Some(text);
        }
        Ok(_) => {}
    }
    if !outcome.timed_out && outcome.shell_status() != want_code {
        problems.push(format!(
            "expected exit status {want_code}, got {}",
            outcome.describe(TIMEOUT)
        ));
    }
    if let Some(want_line) = &want_line {
        let stderr = String::from_utf8_lossy(&outcome.stderr);
        let got_line = stderr
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("");
        if got_line != want_line {
            problems.push(format!(
                "last non-empty stderr line differs\n    expected: {want_line}\n    actual:   {}",
                if got_line.is_empty() {
                    "(no stderr)".to_string()
                } else {
                    support::truncate(got_line, 300)
                }
            ));
        }
    }
    if problems.is_empty() {
        return None;
    }

    let mut text = report(&name, &problems);
    if let Some(diff) = diff {
        let _ = writeln!(
            text,
            "{THIN_RULE}\nstdout diff (- expected, + actual; lines with invisible \
             characters are shown quoted):\n{THIN_RULE}"
        );
        text.push_str(&diff);
    }
    if outcome.stderr.iter().all(u8::is_ascii_whitespace) {
        let _ = writeln!(text, "{THIN_RULE}\nstderr: (empty)");
    } else {
        let _ = write!(
            text,
            "{THIN_RULE}\nstderr (last {STDERR_TAIL} lines):\n{THIN_RULE}\n{}",
            support::tail(&outcome.stderr, STDERR_TAIL)
        );
    }
    text.push_str(RULE);
    text.push_str("\n\n");
    Some(text)
}

fn report(name: &str, problems: &[String]) -> String {
    let mut text = format!("{RULE}\nFAIL {name}\n");
    for problem in problems {
        let _ = writeln!(text, "  {problem}");
    }
    text
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Same,
    Removed,
    Added,
}

/// A line diff of `expected` against `actual` in hunks with context, and the 1-based line of
/// `expected` where they first differ (`None` if the texts are equal).
fn line_diff(expected: &str, actual: &str) -> (String, Option<usize>) {
    let a: Vec<&str> = expected.split_inclusive('\n').collect();
    let b: Vec<&str> = actual.split_inclusive('\n').collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    if prefix == a.len() && prefix == b.len() {
        return (String::new(), None);
    }
    // Each entry: the operation and the index of its line in `a` (Same, Removed) or `b` (Added).
    let mut ops: Vec<(Op, usize)> = (0..prefix).map(|i| (Op::Same, i)).collect();
    middle_diff(&a, &b, prefix, a.len() - suffix, b.len() - suffix, &mut ops);
    ops.extend((a.len() - suffix..a.len()).map(|i| (Op::Same, i)));

    // Which operations to show: every change, and CONTEXT unchanged lines around each.
    let mut show = vec![false; ops.len()];
    for (k, &(op, _)) in ops.iter().enumerate() {
        if op != Op::Same {
            let lo = k.saturating_sub(CONTEXT);
            let hi = (k + CONTEXT + 1).min(ops.len());
            show[lo..hi].iter_mut().for_each(|s| *s = true);
        }
    }
    let mut out = String::new();
    let mut shown = 0;
    let (mut line_a, mut line_b) = (0, 0); // lines of a and b before ops[k]
    for (k, &(op, i)) in ops.iter().enumerate() {
        if show[k] {
            if shown == MAX_DIFF_LINES {
                let rest = ops[k..].iter().filter(|(op, _)| *op != Op::Same).count();
                let _ = writeln!(out, "[... diff cut here; {rest} more changed lines]");
                break;
            }
            if k == 0 || !show[k - 1] {
                let _ = writeln!(
                    out,
                    "@@ expected line {}, actual line {} @@",
                    line_a + 1,
                    line_b + 1
                );
            }
            let (mark, line) = match op {
                Op::Same => (' ', a[i]),
                Op::Removed => ('-', a[i]),
                Op::Added => ('+', b[i]),
            };
            let _ = writeln!(out, "{mark} {}", render(line));
            shown += 1;
        }
        match op {
            Op::Same => {
                line_a += 1;
                line_b += 1;
            }
            Op::Removed => line_a += 1,
            Op::Added => line_b += 1,
        }
    }
    (out, Some(prefix + 1))
}

/// Appends to `ops` an edit script taking `a[lo..a_hi]` to `b[lo..b_hi]`: a longest common
/// subsequence when the table is small enough, else all of one then all of the other.
fn middle_diff(
    a: &[&str],
    b: &[&str],
    lo: usize,
    a_hi: usize,
    b_hi: usize,
    ops: &mut Vec<(Op, usize)>,
) {
    let (n, m) = (a_hi - lo, b_hi - lo);
    if n * m > 4_000_000 {
        ops.extend((lo..a_hi).map(|i| (Op::Removed, i)));
        ops.extend((lo..b_hi).map(|j| (Op::Added, j)));
        return;
    }
    // lcs[i][j]: length of the LCS of a[lo+i..a_hi] and b[lo+j..b_hi].
    let width = m + 1;
    let mut lcs = vec![0u32; (n + 1) * width];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i * width + j] = if a[lo + i] == b[lo + j] {
                lcs[(i + 1) * width + j + 1] + 1
            } else {
                lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[lo + i] == b[lo + j] {
            ops.push((Op::Same, lo + i));
            i += 1;
            j += 1;
        } else if j == m || (i < n && lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
            ops.push((Op::Removed, lo + i));
            i += 1;
        } else {
            ops.push((Op::Added, lo + j));
            j += 1;
        }
    }
}

/// One output line for a diff: as it is, or quoted when it holds something invisible (trailing
/// blanks, control characters, a missing final newline).
fn render(line: &str) -> String {
    let (body, newline) = match line.strip_suffix('\n') {
        Some(body) => (body, true),
        None => (line, false),
    };
    let invisible =
        body.ends_with([' ', '\t']) || body.chars().any(|c| c.is_control() && c != '\t');
    let shown = if invisible {
        format!("{body:?}")
    } else {
        body.to_string()
    };
    let shown = support::truncate(&shown, 300);
    if newline {
        shown
    } else {
        format!("{shown}    [no newline at end]")
    }
}
