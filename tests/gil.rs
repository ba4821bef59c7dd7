//! The GIL and the `thread` builtin seen from outside: these tests run the built `toy` binary
//! on small scripts (passed with `-c`) and check what only a whole process can show.
//!
//! - `stress_eight_threads_exact_totals`: 8 threads mixing a bounded queue, locks, an RLock, a
//!   semaphore, a condition, a barrier, an event and short sleeps for about 2 s must finish
//!   (killed after 60 s) with exact totals; once with the default switch interval and once with
//!   a tiny one (many more forced switches).
//! - `gil_stats_flag_prints_every_thread`: `--gil-stats` prints the table with one row per thread.
//! - `forced_switching_is_visible`: two CPU-bound threads, default interval: the GIL changes hands
//!   more than 10 times and both threads execute instructions.
//! - `ctrl_c_*`: SIGINT to a script blocked in `join`, `time.sleep`, a lock, a queue, ... ends it
//!   with `KeyboardInterrupt` and exit status 130 within a few seconds.
//! - `uncontended_gil_makes_no_syscall`: under `strace` (skipped when it is not installed), a
//!   single-threaded CPU loop makes a handful of futex calls, not a number that grows with the
//!   loop.
//! - `unjoined_thread_error_is_reported_at_exit` and `cpu_bound_daemon_threads_do_not_delay_exit`.
//!
//! Timing bounds are generous on purpose: the tests must not flake on a loaded 2-core machine.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const TOY: &str = env!("CARGO_BIN_EXE_toy");

fn toy_c(flags: &[&str], code: &str) -> Command {
    let mut cmd = Command::new(TOY);
    cmd.args(flags).arg("-c").arg(code);
    cmd
}

/// Runs `toy FLAGS -c CODE` with a deadline; panics with the output if it timed out.
fn run(flags: &[&str], code: &str, timeout: Duration) -> support::Outcome {
    let outcome = support::run(&mut toy_c(flags, code), timeout).expect("could not run toy");
    assert!(
        !outcome.timed_out,
        "toy {flags:?} -c ... {}\nstdout:\n{}\nstderr:\n{}",
        outcome.describe(timeout),
        support::tail(&outcome.stdout, 30),
        support::tail(&outcome.stderr, 30)
    );
    outcome
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn last_line(bytes: &[u8]) -> String {
    text(bytes)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string()
}

fn shell_status(status: &ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => -1,
    }
}

// ---------------------------------------------------------------------------------------------
// Stress
// ---------------------------------------------------------------------------------------------

/// Two producers feed a bounded queue read by two consumers (sum and count under a Lock,
/// task_done/join, a None sentinel each); two pingers alternate strictly through a Condition;
/// two mixers do read-modify-writes under Semaphore + nested RLock with sleeps inside, then a
/// short CPU loop, then wait for an Event. All eight start together on a Barrier.
const STRESS: &str = r#"
import time
ITEMS = 6000          # per producer
PING_ROUNDS = 4000    # per pinger
MIX_ROUNDS = 1000     # per mixer
lock = thread.Lock()
rlock = thread.RLock()
sem = thread.Semaphore(2)
cond = thread.Condition()
q = thread.Queue(maxsize=8)
start = thread.Barrier(8)
done = thread.Event()
totals = {"sum": 0, "count": 0, "mixed": 0, "turn": 0, "ticks": 0}

def producer(base):
    start.wait()
    for i in range(ITEMS):
        q.put(base + i)
        if i % 10 == 0:
            time.sleep(0.003)
    return "producer"

def consumer():
    start.wait()
    n = 0
    while True:
        item = q.get()
        if item is None:
            q.task_done()
            return n
        with lock:
            totals["sum"] += item
            totals["count"] += 1
        q.task_done()
        n += 1

def pinger(parity):
    start.wait()
    for r in range(PING_ROUNDS):
        with cond:
            cond.wait_for(lambda: totals["turn"] % 2 == parity)
            totals["turn"] += 1
            cond.notify_all()
        if r % 20 == 0:
            time.sleep(0.001)
    return "pinger"

def mixer(k):
    start.wait()
    for r in range(MIX_ROUNDS):
        with sem:
            with rlock:
                with rlock:
                    v = totals["mixed"]
                    if r % 3 == 0:
                        time.sleep(0.001)
                    totals["mixed"] = v + 1
        x = 0
        for j in range(200):
            x += j
        with lock:
            totals["ticks"] += x
    done.wait(5)
    return "mixer"

hs = [thread(producer, 0), thread(producer, ITEMS), thread(consumer), thread(consumer),
      thread(pinger, 0), thread(pinger, 1), thread(mixer, 0), thread(mixer, 1)]
print(hs[0].join(), hs[1].join())
q.join()
q.put(None)
q.put(None)
print("consumed", hs[2].join() + hs[3].join())
print(hs[4].join(), hs[5].join())
done.set()
print(hs[6].join(), hs[7].join())
print("sum", totals["sum"], totals["sum"] == sum(range(2 * ITEMS)))
print("count", totals["count"])
print("turn", totals["turn"])
print("mixed", totals["mixed"])
print("ticks", totals["ticks"])
print("alive", thread.active_count())
print("queue empty", q.empty(), q.qsize())
"#;

const STRESS_EXPECTED: &str = "producer producer
consumed 12000
pinger pinger
mixer mixer
sum 71994000 True
count 12000
turn 8000
mixed 2000
ticks 39800000
alive 1
queue empty True 0
";

#[test]
fn stress_eight_threads_exact_totals() {
    // The two runs go side by side: about 2 s of wall time for both.
    let runs: Vec<(Vec<&str>, support::Outcome)> = thread::scope(|s| {
        let handles: Vec<_> = [vec![], vec!["--switch-interval", "0.0001"]]
            .into_iter()
            .map(|flags| {
                s.spawn(move || {
                    let out = run(&flags, STRESS, Duration::from_secs(60));
                    (flags, out)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (flags, out) in runs {
        assert_eq!(
            (shell_status(&out.status), text(&out.stdout).as_str()),
            (0, STRESS_EXPECTED),
            "stress run with flags {flags:?}; stderr:\n{}",
            support::tail(&out.stderr, 30)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// GIL statistics and forced switching
// ---------------------------------------------------------------------------------------------

/// `gil.stats()` called by a thread counts that thread's own instructions up to the call
/// (Toy-only: the oracle's shim reports 0 instructions, CPython counts none).
#[test]
fn gil_stats_sees_the_calling_threads_instructions() {
    let code = "import gil\ns = 0\nfor i in range(10000):\n    s += i\n\
                print(gil.stats()['threads'][0]['instructions'] >= 30000)\n";
    let out = run(&[], code, Duration::from_secs(30));
    assert_eq!(
        text(&out.stdout).trim(),
        "True",
        "stderr: {}",
        text(&out.stderr)
    );
}

#[test]
fn gil_stats_flag_prints_every_thread() {
    let code = r#"
def spin(n):
    while n > 0:
        n -= 1
    return n
a = thread(spin, 20000)
b = thread(spin, 20000, name="alpha")
a.join()
b.join()
print(thread.map(spin, [100, 200, 300], workers=2))
"#;
    let out = run(&["--gil-stats"], code, Duration::from_secs(30));
    assert_eq!(shell_status(&out.status), 0, "{}", text(&out.stderr));
    // The table goes to stderr; stdout is the script's alone.
    assert_eq!(text(&out.stdout), "[0, 0, 0]\n");
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("GIL:"))
        .unwrap_or_else(|| panic!("no 'GIL:' line in the --gil-stats output:\n{err}"));
    assert!(
        lines[header].contains("switch interval 5.000 ms"),
        "header: {}",
        lines[header]
    );
    let rows: Vec<&str> = lines[header + 1..]
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for name in ["MainThread", "Thread-1", "alpha", "Thread-2", "Thread-3"] {
        assert!(
            rows.contains(&name),
            "no row for {name} in the --gil-stats table:\n{err}"
        );
    }
    assert_eq!(
        rows.iter().filter(|w| **w == "MainThread").count(),
        1,
        "one row for MainThread:\n{err}"
    );
    assert!(
        !rows.contains(&"Thread-4"),
        "a thread that never existed has a row:\n{err}"
    );
    // Without the flag, nothing is printed.
    let quiet = run(&[], code, Duration::from_secs(30));
    assert_eq!(text(&quiet.stderr), "");
}

#[test]
fn forced_switching_is_visible() {
    let code = r#"
import gil, sys
def count(n):
    while n > 0:
        n -= 1
    return n
a = thread(count, 3000000)
b = thread(count, 3000000)
print(a.join(), b.join())
s = gil.stats()
print("interval", s["interval"], sys.getswitchinterval())
print("switches", s["switches"])
print("drop_requests", s["drop_requests"])
for t in s["threads"]:
    print("row", t["name"], t["instructions"], t["hold_seconds"], t["wait_seconds"])
"#;
    let out = run(&[], code, Duration::from_secs(60));
    let stdout = text(&out.stdout);
    assert_eq!(
        shell_status(&out.status),
        0,
        "{stdout}{}",
        text(&out.stderr)
    );
    let field = |key: &str| -> Vec<String> {
        stdout
            .lines()
            .find_map(|l| {
                l.strip_prefix(key)
                    .map(|r| r.split_whitespace().map(String::from).collect())
            })
            .unwrap_or_else(|| panic!("no {key:?} line in:\n{stdout}"))
    };
    assert!(stdout.starts_with("0 0\n"), "{stdout}");
    assert_eq!(field("interval "), ["0.005", "0.005"], "{stdout}");
    let switches: u64 = field("switches ")[0].parse().unwrap();
    let drops: u64 = field("drop_requests ")[0].parse().unwrap();
    assert!(switches > 10, "only {switches} switches:\n{stdout}");
    assert!(drops > 0, "no drop request:\n{stdout}");
    for name in ["Thread-1", "Thread-2"] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(&format!("row {name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{stdout}"));
        let words: Vec<&str> = row.split_whitespace().collect();
        let instructions: u64 = words[2].parse().unwrap();
        let hold: f64 = words[3].parse().unwrap();
        // 3 million iterations of a while loop: certainly more than a million instructions.
        assert!(instructions > 1_000_000, "{row}");
        assert!(hold > 0.0, "{row}");
    }
    assert!(
        stdout
            .lines()
            .nth(4)
            .is_some_and(|l| l.starts_with("row MainThread ")),
        "MainThread is not the first row:\n{stdout}"
    );
}

// ---------------------------------------------------------------------------------------------
// Ctrl-C
// ---------------------------------------------------------------------------------------------

/// What happened after SIGINT: the shell status, the last stderr line, the time it took.
struct Interrupted {
    status: i32,
    last: String,
    stderr: String,
    took: Duration,
}

/// Starts `toy -c CODE` (stdin: `stdin`), waits for it to print `ready`, gives it 300 ms to
/// block, sends SIGINT and waits (at most 15 s) for it to end.
fn interrupt_when_ready(code: &str, stdin: Stdio) -> Result<Interrupted, String> {
    let mut child = toy_c(&[], code)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("could not run toy: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let kill_all = || {
        // SAFETY: kill(2) has no memory effects; the group is this child's own.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    };
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = ready_tx.send(line);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    match ready_rx.recv_timeout(Duration::from_secs(30)) {
        Ok(line) if line.trim() == "ready" => {}
        other => {
            kill_all();
            let _ = child.wait();
            let err = err_reader.join().unwrap_or_default();
            return Err(format!(
                "script did not print 'ready': {other:?}; stderr:\n{}",
                text(&err)
            ));
        }
    }
    thread::sleep(Duration::from_millis(300));
    // SAFETY: as above; the child has not been waited for, so the pid is still its own.
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
    let sent = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if sent.elapsed() > Duration::from_secs(15) {
            kill_all();
            let _ = child.wait();
            let err = err_reader.join().unwrap_or_default();
            return Err(format!(
                "still running 15 s after SIGINT; stderr:\n{}",
                support::tail(&err, 20)
            ));
        }
        thread::sleep(Duration::from_millis(5));
    };
    let took = sent.elapsed();
    let err = err_reader.join().unwrap_or_default();
    Ok(Interrupted {
        status: shell_status(&status),
        last: last_line(&err),
        stderr: text(&err),
        took,
    })
}

/// Runs every case side by side and checks each ended with KeyboardInterrupt and status 130.
fn check_interrupts(cases: &[(&str, &str)]) {
    let results = support::par_map(cases, |(what, code)| {
        (*what, interrupt_when_ready(code, Stdio::null()))
    });
    let mut failures = Vec::new();
    for (what, r) in results {
        match r {
            Err(e) => failures.push(format!("{what}: {e}")),
            Ok(r) => {
                if r.status != 130
                    || r.last != "KeyboardInterrupt"
                    || r.took > Duration::from_secs(5)
                {
                    failures.push(format!(
                        "{what}: exit status {} (want 130), last stderr line {:?} (want \
                         \"KeyboardInterrupt\"), {:?} after SIGINT; stderr:\n{}",
                        r.status, r.last, r.took, r.stderr
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "Ctrl-C failures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn ctrl_c_interrupts_join_sleep_and_lock() {
    check_interrupts(&[
        (
            "join of a sleeping daemon thread",
            "import time\nt = thread(time.sleep, 1000, daemon=True)\nprint('ready', flush=True)\nt.join()\n",
        ),
        (
            "join with a timeout",
            "import time\nt = thread(time.sleep, 1000, daemon=True)\nprint('ready', flush=True)\nt.join(1000)\n",
        ),
        (
            "time.sleep",
            "import time\nprint('ready', flush=True)\ntime.sleep(1000)\nprint('not reached')\n",
        ),
        (
            "Lock.acquire that can never succeed",
            "l = thread.Lock()\nl.acquire()\nprint('ready', flush=True)\nl.acquire()\n",
        ),
        (
            "join of a CPU-bound daemon thread",
            "def spin():\n    while True:\n        pass\nt = thread(spin, daemon=True)\nprint('ready', flush=True)\nt.join()\n",
        ),
    ]);
}

#[test]
fn ctrl_c_interrupts_other_waits() {
    check_interrupts(&[
        ("Queue.get", "q = thread.Queue()\nprint('ready', flush=True)\nq.get()\n"),
        (
            "Queue.put on a full queue",
            "q = thread.Queue(1)\nq.put(1)\nprint('ready', flush=True)\nq.put(2)\n",
        ),
        (
            "Condition.wait",
            "c = thread.Condition()\nc.acquire()\nprint('ready', flush=True)\nc.wait()\n",
        ),
        ("Event.wait", "e = thread.Event()\nprint('ready', flush=True)\ne.wait()\n"),
        ("Semaphore.acquire", "s = thread.Semaphore(0)\nprint('ready', flush=True)\ns.acquire()\n"),
        ("Barrier.wait", "b = thread.Barrier(2)\nprint('ready', flush=True)\nb.wait()\n"),
        (
            "main thread in a CPU loop while a daemon thread spins",
            "def spin():\n    while True:\n        pass\nthread(spin, daemon=True)\nprint('ready', flush=True)\nspin()\n",
        ),
    ]);
}

/// Spec §6: Ctrl-C interrupts I/O too. `input()` reading a pipe nobody writes to is not
/// interrupted today (the read is restarted after the signal).
#[test]
fn ctrl_c_interrupts_input() {
    // stdin: a pipe whose write end we keep open, so the read can only end by the signal.
    let (read_end, write_end) = {
        let mut fds = [0; 2];
        // SAFETY: pipe(2) fills the two descriptors we own from here on.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        use std::os::fd::FromRawFd;
        // SAFETY: both descriptors were just created and are owned by nobody else.
        unsafe {
            (
                std::fs::File::from_raw_fd(fds[0]),
                std::fs::File::from_raw_fd(fds[1]),
            )
        }
    };
    let r = interrupt_when_ready(
        "print('ready', flush=True)\ninput()\n",
        Stdio::from(read_end),
    );
    drop(write_end);
    let r = r.unwrap();
    assert!(
        r.status == 130 && r.last == "KeyboardInterrupt",
        "exit status {}, last stderr line {:?}",
        r.status,
        r.last
    );
}

// ---------------------------------------------------------------------------------------------
// The cost of an uncontended GIL
// ---------------------------------------------------------------------------------------------

/// Counts the futex calls of `toy -c CODE ARG` under `strace -f`; `None` if strace cannot run.
fn futex_calls(code: &str, arg: &str) -> Option<(usize, String)> {
    let log = std::env::temp_dir().join(format!("toy-gil-futex-{}-{arg}.txt", std::process::id()));
    let out = support::run(
        Command::new("strace")
            .args(["-f", "-qq", "-e", "trace=futex", "-o"])
            .arg(&log)
            .arg(TOY)
            .args(["-c", code, arg]),
        Duration::from_secs(60),
    );
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            eprintln!("skipping: cannot run strace ({e})");
            return None;
        }
    };
    let traced = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    if out.timed_out || shell_status(&out.status) != 0 {
        eprintln!(
            "skipping: strace failed ({}): {}",
            out.describe(Duration::from_secs(60)),
            support::tail(&out.stderr, 5)
        );
        return None;
    }
    let calls = traced.lines().filter(|l| l.contains("futex(")).count();
    Some((calls, text(&out.stdout)))
}

#[test]
fn uncontended_gil_makes_no_syscall() {
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("skipping uncontended_gil_makes_no_syscall: strace is not installed");
        return;
    }
    // Calls and backward jumps are the VM's check points: each one looks at the GIL.
    let code = r#"
import sys, gil
def step(x):
    return x + 1
n = int(sys.argv[1])
i = 0
t = 0
while i < n:
    t = step(t)
    i += 1
s = gil.stats()
print(t, s["switches"], s["drop_requests"])
"#;
    let Some((small, small_out)) = futex_calls(code, "1000") else {
        return;
    };
    let Some((big, big_out)) = futex_calls(code, "2000000") else {
        return;
    };
    assert_eq!(small_out, "1000 0 0\n");
    assert_eq!(big_out, "2000000 0 0\n");
    assert!(
        big <= small + 10 && big <= 50,
        "futex calls: {small} for 1000 iterations, {big} for 2000000: the uncontended GIL \
         should cost no syscall"
    );
}

// ---------------------------------------------------------------------------------------------
// Program exit
// ---------------------------------------------------------------------------------------------

#[test]
fn unjoined_thread_error_is_reported_at_exit() {
    let code = r#"
import time
def fail():
    raise ValueError("nobody joins me")
def late():
    time.sleep(0.1)
    print("late thread done")
thread(fail, name="lonely")
thread(late)
joined = thread(fail)
try:
    joined.join()
except ValueError as e:
    print("joined error caught:", e)
print("main done")
"#;
    let out = run(&[], code, Duration::from_secs(30));
    let err = text(&out.stderr);
    assert_eq!(shell_status(&out.status), 0, "{err}");
    assert_eq!(
        text(&out.stdout),
        "joined error caught: nobody joins me\nmain done\nlate thread done\n"
    );
    assert!(
        err.starts_with("Exception in thread lonely:\n"),
        "stderr:\n{err}"
    );
    assert!(
        err.contains("Traceback (most recent call last):"),
        "stderr:\n{err}"
    );
    assert!(err.contains(", in fail\n"), "stderr:\n{err}");
    assert_eq!(last_line(&out.stderr), "ValueError: nobody joins me");
    // The joined thread's error was delivered by join, so it is not reported again.
    assert_eq!(
        err.matches("Exception in thread").count(),
        1,
        "stderr:\n{err}"
    );
}

#[test]
fn cpu_bound_daemon_threads_do_not_delay_exit() {
    let code = "def spin():\n    while True:\n        pass\nfor _ in range(3):\n    thread(spin, daemon=True)\nprint('bye')\n";
    let start = Instant::now();
    let out = run(&[], code, Duration::from_secs(30));
    assert_eq!(
        (shell_status(&out.status), text(&out.stdout).as_str()),
        (0, "bye\n")
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "exit took {:?}",
        start.elapsed()
    );
}
