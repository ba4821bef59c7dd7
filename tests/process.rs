//! The `process` builtin from the outside: runs the built `toy` on small scripts and checks
//! what only the operating system can see — zombies, output duplicated through a pipe or a
//! file, children killed in the middle of a message, exit statuses — with bounded run times
//! (every run has a deadline; no assertion depends on how fast the machine is).

mod support;

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("toy-process-test-{}-{}", name, std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Write `script` to a file and run it with stdout and stderr captured through pipes.
fn run_script(name: &str, script: &str) -> support::Outcome {
    let dir = scratch(name);
    let path = dir.join(format!("{}.toy", name));
    fs::write(&path, script).unwrap();
    let out = support::run(
        Command::new(env!("CARGO_BIN_EXE_toy"))
            .arg(&path)
            .current_dir(&dir),
        DEADLINE,
    )
    .unwrap();
    assert!(!out.timed_out, "{}: timed out", name);
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn last_line(b: &[u8]) -> String {
    text(b)
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string()
}

/// The state letter of a process from /proc (None: it no longer exists).
fn proc_state(pid: i32) -> Option<char> {
    let s = fs::read_to_string(format!("/proc/{}/stat", pid)).ok()?;
    let i = s.rfind(')')?;
    s[i + 1..].trim_start().chars().next()
}

#[test]
fn no_zombies_while_running_or_after_exit() {
    let out = run_script(
        "zombies",
        r#"
import time
def quick(k):
    return k
def sleeper():
    time.sleep(60)
def dies():
    import sys
    sys.exit(4)
ps = [process(quick, k) for k in range(5)] + [process(dies)]
d = process(sleeper, daemon=True)
n = process(sleeper)
time.sleep(0.5)
states = []
for p in ps:
    try:
        with open("/proc/%d/stat" % p.pid) as f:
            states.append(f.read().split(")")[1].split()[0])
    except FileNotFoundError:
        states.append("gone")
print(states)
n.terminate()
for p in ps + [d, n]:
    print(p.pid)
"#,
    );
    assert_eq!(out.shell_status(), 0, "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    // Finished children were reaped although nobody joined them.
    assert_eq!(
        lines.next().unwrap(),
        "['gone', 'gone', 'gone', 'gone', 'gone', 'gone']"
    );
    // After the script: every child (the daemon was terminated, the others waited for) is gone.
    let pids: Vec<i32> = lines.map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(pids.len(), 8);
    for pid in pids {
        let st = proc_state(pid);
        assert!(
            st.is_none() || st != Some('Z'),
            "child {} left behind in state {:?}",
            pid,
            st
        );
    }
}

const OUTPUT_SCRIPT: &str = r#"
import sys
for i in range(3000):
    print("parent line", i)
sys.stdout.write("no newline yet ")
def child(k):
    for i in range(1000):
        print("child", k, "line", i)
    return k
for k in range(3):
    print("joined", process(child, k).join())
print("end")
"#;

fn expected_output() -> String {
    let mut s = String::new();
    for i in 0..3000 {
        s.push_str(&format!("parent line {}\n", i));
    }
    s.push_str("no newline yet ");
    for k in 0..3 {
        for i in 0..1000 {
            s.push_str(&format!("child {} line {}\n", k, i));
        }
        s.push_str(&format!("joined {}\n", k));
    }
    s.push_str("end\n");
    s
}

#[test]
fn output_is_never_duplicated_into_a_pipe() {
    let out = run_script("dup_pipe", OUTPUT_SCRIPT);
    assert_eq!(out.shell_status(), 0);
    assert!(
        text(&out.stdout) == expected_output(),
        "output differs:\n{}",
        text(&out.stdout)
    );
}

#[test]
fn output_is_never_duplicated_into_a_file() {
    let dir = scratch("dup_file");
    let script = dir.join("dup_file.toy");
    fs::write(&script, OUTPUT_SCRIPT).unwrap();
    let out_path = dir.join("out.txt");
    let file = fs::File::create(&out_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_toy"))
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("timed out");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(status.success());
    assert!(fs::read_to_string(&out_path).unwrap() == expected_output());
}

#[test]
fn fifty_forks_while_four_cpu_bound_threads_run() {
    let out = run_script(
        "forks_threads",
        r#"
stop = [False]
def spin():
    n = 0
    while not stop[0]:
        n += 1
    return n
ts = [thread(spin) for _ in range(4)]
def child(k):
    return k * 2
total = 0
for k in range(50):
    total += process(child, k).join()
print(total, process.map(child, range(10)))
stop[0] = True
print(all(t.join() > 0 for t in ts))
"#,
    );
    assert_eq!(out.shell_status(), 0, "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "2450 [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]\nTrue\n"
    );
}

#[test]
fn child_killed_in_the_middle_of_a_send() {
    let out = run_script(
        "kill_mid_send",
        r#"
def sender(conn):
    conn.send("x" * 20000000)
a, b = process.Pipe()
p = process(sender, b)
while not a.poll(0.05):
    pass
p.kill()
try:
    a.recv()
    print("received a whole message?!")
except OSError as e:
    print("OSError:", e)
try:
    p.join()
except process.ProcessError as e:
    print("ProcessError:", e)

def big_result():
    return "y" * 30000000
q = process(big_result)
import time
time.sleep(0.3)
q.kill()
try:
    q.join()
except process.ProcessError as e:
    print("ProcessError:", e)
a.send("the pipe still works")
print(b.recv())
"#,
    );
    assert_eq!(out.shell_status(), 0, "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "OSError: got end of file during message\n\
         ProcessError: process Process-1 exited with code -9 without a result\n\
         ProcessError: process Process-2 exited with code -9 without a result\n\
         the pipe still works\n"
    );
}

#[test]
fn a_child_that_raises() {
    let out = run_script(
        "raises",
        r#"
def boom(x):
    raise ValueError("boom %d" % x)
p = process(boom, 7)
try:
    p.join()
except ValueError as e:
    print("caught:", e, p.exitcode)
process(boom, 8).join()
"#,
    );
    assert_eq!(out.shell_status(), 1);
    assert_eq!(text(&out.stdout), "caught: boom 7 1\n");
    assert_eq!(last_line(&out.stderr), "ValueError: boom 8");
    // The child printed no traceback of its own: only the parent's uncaught one.
    assert_eq!(
        text(&out.stderr).matches("Traceback").count(),
        1,
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn sys_exit_3_in_a_child() {
    let out = run_script(
        "exit3",
        r#"
import sys
def leave():
    print("leaving")
    sys.exit(3)
p = process(leave)
try:
    p.join()
except process.ProcessError as e:
    print("ProcessError:", e)
print(p.exitcode)
"#,
    );
    assert_eq!(out.shell_status(), 0, "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "leaving\nProcessError: process Process-1 exited with code 3 without a result\n3\n"
    );
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn a_child_that_never_returns_is_terminated() {
    let started = Instant::now();
    let out = run_script(
        "never_returns",
        r#"
def forever():
    n = 0
    while True:
        n += 1
p = process(forever)
try:
    p.join(0.2)
except TimeoutError as e:
    print("TimeoutError:", e)
print(p.is_alive())
p.terminate()
try:
    p.join()
except process.ProcessError as e:
    print("ProcessError:", e)
print(p.exitcode, p.is_alive())
"#,
    );
    assert_eq!(out.shell_status(), 0, "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "TimeoutError: process Process-1 did not finish within 0.2 seconds\nTrue\n\
         ProcessError: process Process-1 exited with code -15 without a result\n-15 False\n"
    );
    assert!(started.elapsed() < DEADLINE);
}

#[test]
fn queue_items_survive_a_join_before_get() {
    // CPython's multiprocessing.Queue deadlocks here (the child waits for its feeder thread
    // to flush into a full pipe while the parent waits for the child): Toy's queue is shared
    // memory, so the child's put is complete when it returns.
    let out = run_script(
        "queue_join_first",
        r#"
def put_many(q):
    for i in range(2000):
        q.put("x" * 1000)
    return "done"
q = process.Queue()
p = process(put_many, q)
print(p.join(), q.qsize(), len(q.get()))
"#,
    );
    assert_eq!(out.shell_status(), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "done 2000 1000\n");
}

/// Processes whose process group is `pgid` (from /proc).
fn group_members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(s) = fs::read_to_string(format!("/proc/{}/stat", pid)) else {
            continue;
        };
        let Some(i) = s.rfind(')') else { continue };
        let fields: Vec<&str> = s[i + 1..].split_whitespace().collect();
        // state ppid pgrp ...
        if fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) && fields[0] != "Z" {
            out.push(pid);
        }
    }
    out
}

#[test]
fn ctrl_c_reaches_the_whole_process_group() {
    use std::io::{BufRead, BufReader, Read};
    use std::os::unix::process::CommandExt;
    let dir = scratch("ctrl_c");
    let path = dir.join("ctrl_c.toy");
    fs::write(
        &path,
        r#"
import time
def forever():
    while True:
        pass
def sleeper():
    time.sleep(100)
ps = [process(forever), process(sleeper), process(sleeper, daemon=True)]
q = process.Queue()
print("started", flush=True)
try:
    q.get()
except KeyboardInterrupt:
    print("KeyboardInterrupt in get", flush=True)
ps[0].join()
print("not reached")
"#,
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_toy"))
        .arg(&path)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = child.id() as i32;
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(first, "started\n");
    let interrupt = || {
        // SAFETY: kill(2) has no memory effects; the group is the one created for this run.
        unsafe { libc::kill(-pgid, libc::SIGINT) };
    };
    interrupt();
    std::thread::sleep(Duration::from_millis(300));
    interrupt();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > DEADLINE {
            // SAFETY: as above.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            panic!("still running after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{}", err);
    assert_eq!(rest, "KeyboardInterrupt in get\n");
    assert_eq!(last_line(err.as_bytes()), "KeyboardInterrupt");
    // Nothing of the program is left running.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !group_members(pgid).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(group_members(pgid), Vec::<i32>::new());
}
