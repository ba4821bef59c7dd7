//! Shared by the integration tests that run the built `toy` binary (`conformance.rs`,
//! `bad_input.rs`): run one process with a deadline and capture its output, and map a function
//! over many items on a pool of `available_parallelism()` threads.
//!
//! Each run gets its own process group, so a timeout kills the script together with any process
//! it forked; a forked child that keeps the output pipes open past the deadline is killed too.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// What one run of a program gave.
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The deadline passed; the process group was killed (`status` is then the kill's).
    pub timed_out: bool,
}

impl Outcome {
    /// The exit status as a shell reports it: the code, or 128 + N after death by signal N.
    pub fn shell_status(&self) -> i32 {
        match (self.status.code(), self.status.signal()) {
            (Some(code), _) => code,
            (None, Some(sig)) => 128 + sig,
            (None, None) => -1,
        }
    }

    /// "exit status 1", "killed by signal 11 (exit status 139)" or "timed out after 60 s".
    pub fn describe(&self, timeout: Duration) -> String {
        if self.timed_out {
            format!("timed out after {} s", timeout.as_secs())
        } else if let Some(sig) = self.status.signal() {
            format!("killed by signal {sig} (exit status {})", 128 + sig)
        } else {
            format!("exit status {}", self.shell_status())
        }
    }
}

/// Runs `cmd` (stdin from /dev/null, stdout and stderr captured) and waits at most `timeout`
/// for it to exit and close its output; past that, kills its whole process group.
pub fn run(cmd: &mut Command, timeout: Duration) -> io::Result<Outcome> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let mut status = None;
    let mut timed_out = false;
    loop {
        if status.is_none() {
            status = child.try_wait()?;
        }
        if status.is_some() && stdout.is_finished() && stderr.is_finished() {
            break;
        }
        if Instant::now() >= deadline {
            kill_group(&mut child);
            timed_out = true;
            break;
        }
        thread::sleep(Duration::from_millis(2));
    }
    let status = match status {
        Some(status) => status,
        None => child.wait()?,
    };
    Ok(Outcome {
        status,
        stdout: stdout.join().expect("stdout reader panicked"),
        stderr: stderr.join().expect("stderr reader panicked"),
        timed_out,
    })
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    let mut pipe = pipe.expect("output is piped");
    thread::spawn(move || {
        let mut buf = Vec::new();
        // A read error ends the capture; what was read so far is still worth reporting.
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

fn kill_group(child: &mut Child) {
    let pgid = child.id() as libc::pid_t;
    // SAFETY: kill(2) has no memory effects; the group is the one `run` created for this child.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    let _ = child.kill();
}

/// `items.iter().map(f)` on a pool of `available_parallelism()` threads; results in item order.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(items.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(items.len()));
    thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let result = f(item);
                done.lock().unwrap().push((i, result));
            });
        }
    });
    let mut done = done.into_inner().unwrap();
    done.sort_by_key(|&(i, _)| i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// The last `n` lines of `text`, with a note of how many came before.
pub fn tail(text: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(text);
    let lines: Vec<&str> = text.lines().collect();
    let skip = lines.len().saturating_sub(n);
    let mut out = String::new();
    if skip > 0 {
        out.push_str(&format!("[... {skip} earlier lines]\n"));
    }
    for line in &lines[skip..] {
        out.push_str(&truncate(line, 300));
        out.push('\n');
    }
    out
}

/// `line` cut to at most `max` characters, saying how much was cut.
pub fn truncate(line: &str, max: usize) -> String {
    match line.char_indices().nth(max) {
        None => line.to_string(),
        Some((at, _)) => format!("{}[... {} more bytes]", &line[..at], line.len() - at),
    }
}
