//! Exception types (Python's built-in hierarchy), exception objects and traceback entries.
//!
//! Toy has no classes, so the exception types form a fixed tree: `ExcKind::parent` is the one
//! source of truth for `except` matching and `isinstance`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::value::Value;

macro_rules! exc_kinds {
    ($( $kind:ident : $name:literal => $parent:ident ),* $(,)?) => {
        #[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
        pub enum ExcKind { $( $kind ),* }

        impl ExcKind {
            /// Every kind, in declaration order (parents before children).
            pub const ALL: &'static [ExcKind] = &[ $( ExcKind::$kind ),* ];
            pub fn name(self) -> &'static str {
                match self { $( ExcKind::$kind => $name ),* }
            }
            pub fn parent(self) -> Option<ExcKind> {
                match self { $( ExcKind::$kind => exc_kinds!(@parent $parent) ),* }
            }
        }
    };
    (@parent Root) => { None };
    (@parent $p:ident) => { Some(ExcKind::$p) };
}

exc_kinds! {
    BaseException: "BaseException" => Root,
    SystemExit: "SystemExit" => BaseException,
    KeyboardInterrupt: "KeyboardInterrupt" => BaseException,
    Exception: "Exception" => BaseException,
    ArithmeticError: "ArithmeticError" => Exception,
    ZeroDivisionError: "ZeroDivisionError" => ArithmeticError,
    OverflowError: "OverflowError" => ArithmeticError,
    LookupError: "LookupError" => Exception,
    IndexError: "IndexError" => LookupError,
    KeyError: "KeyError" => LookupError,
    ValueError: "ValueError" => Exception,
    UnicodeError: "UnicodeError" => ValueError,
    TypeError: "TypeError" => Exception,
    NameError: "NameError" => Exception,
    UnboundLocalError: "UnboundLocalError" => NameError,
    AttributeError: "AttributeError" => Exception,
    RuntimeError: "RuntimeError" => Exception,
    RecursionError: "RecursionError" => RuntimeError,
    BrokenBarrierError: "BrokenBarrierError" => RuntimeError,
    NotImplementedError: "NotImplementedError" => RuntimeError,
    MemoryError: "MemoryError" => Exception,
    AssertionError: "AssertionError" => Exception,
    StopIteration: "StopIteration" => Exception,
    EOFError: "EOFError" => Exception,
    OSError: "OSError" => Exception,
    FileNotFoundError: "FileNotFoundError" => OSError,
    FileExistsError: "FileExistsError" => OSError,
    PermissionError: "PermissionError" => OSError,
    IsADirectoryError: "IsADirectoryError" => OSError,
    TimeoutError: "TimeoutError" => OSError,
    ConnectionError: "ConnectionError" => OSError,
    BrokenPipeError: "BrokenPipeError" => ConnectionError,
    ConnectionResetError: "ConnectionResetError" => ConnectionError,
    // `io.UnsupportedOperation` (reading a file opened for writing …): an OSError and also a
    // ValueError, as in CPython (see `is_subclass`).
    UnsupportedOperation: "UnsupportedOperation" => OSError,
    ImportError: "ImportError" => Exception,
    ModuleNotFoundError: "ModuleNotFoundError" => ImportError,
    SyntaxError: "SyntaxError" => Exception,
    IndentationError: "IndentationError" => SyntaxError,
    TabError: "TabError" => IndentationError,
    // The queue exceptions of `thread` (CPython's are `_queue.Empty` and `queue.Full`).
    Empty: "Empty" => Exception,
    Full: "Full" => Exception,
    // A child process that ended without sending a result.
    ProcessError: "ProcessError" => Exception,
}

impl ExcKind {
    pub fn is_subclass(self, other: ExcKind) -> bool {
        if self == ExcKind::UnsupportedOperation && ExcKind::ValueError.is_subclass(other) {
            return true;
        }
        let mut k = Some(self);
        while let Some(x) = k {
            if x == other {
                return true;
            }
            k = x.parent();
        }
        false
    }
    /// The name an uncaught exception of this kind is printed with.
    pub fn qualified_name(self) -> &'static str {
        match self {
            ExcKind::Empty => "_queue.Empty",
            ExcKind::UnsupportedOperation => "io.UnsupportedOperation",
            ExcKind::Full => "queue.Full",
            ExcKind::ProcessError => "process.ProcessError",
            ExcKind::BrokenBarrierError => "threading.BrokenBarrierError",
            k => k.name(),
        }
    }
    pub fn by_name(name: &str) -> Option<ExcKind> {
        ExcKind::ALL.iter().copied().find(|k| k.name() == name)
    }
}

/// One line of a traceback: where an exception passed through a frame.
#[derive(Clone, Debug)]
pub struct TbEntry {
    pub file: Arc<str>,
    pub line: u32,
    /// The code's qualified name (`outer.<locals>.inner`).
    pub func: Arc<str>,
}

impl TbEntry {
    /// The name a traceback shows: CPython 3.11 prints `co_name` (`inner`, `<lambda>`,
    /// `<listcomp>`), not the qualified name.
    pub fn name(&self) -> &str {
        self.func.rsplit('.').next().unwrap_or(&self.func)
    }
}

pub struct ExcObj {
    pub kind: ExcKind,
    pub args: Vec<Value>,
    /// Innermost entry last.
    pub traceback: Mutex<Vec<TbEntry>>,
    /// The exception that was being handled when this one was raised (`__context__`).
    pub context: Mutex<Option<Arc<ExcObj>>>,
    /// `raise X from Y`.
    pub cause: Mutex<Option<Arc<ExcObj>>>,
    /// `__suppress_context__`: set by `raise X from Y` (also `from None`).
    pub suppress_context: AtomicBool,
    /// Attributes assigned to the instance (`e.extra = 42`), in assignment order.
    pub attrs: Mutex<Vec<(Arc<str>, Value)>>,
}

impl ExcObj {
    pub fn new(kind: ExcKind, msg: impl Into<String>) -> Arc<ExcObj> {
        Self::with_args(kind, vec![Value::str(msg.into())])
    }
    pub fn with_args(kind: ExcKind, args: Vec<Value>) -> Arc<ExcObj> {
        let kind = if kind == ExcKind::OSError {
            os_error_subclass(&args)
        } else {
            kind
        };
        Arc::new(ExcObj {
            kind,
            args,
            traceback: Mutex::new(Vec::new()),
            context: Mutex::new(None),
            cause: Mutex::new(None),
            suppress_context: AtomicBool::new(false),
            attrs: Mutex::new(Vec::new()),
        })
    }
    /// `OSError(errno, strerror, filename)` as Python builds it for a failed system call.
    pub fn os_error(err: &std::io::Error, filename: Option<&str>) -> Arc<ExcObj> {
        let errno = err.raw_os_error().unwrap_or(0);
        let kind = match err.kind() {
            std::io::ErrorKind::NotFound => ExcKind::FileNotFoundError,
            std::io::ErrorKind::PermissionDenied => ExcKind::PermissionError,
            std::io::ErrorKind::AlreadyExists => ExcKind::FileExistsError,
            std::io::ErrorKind::TimedOut => ExcKind::TimeoutError,
            _ if errno == libc::EISDIR => ExcKind::IsADirectoryError,
            _ if errno == libc::EPIPE => ExcKind::BrokenPipeError,
            _ if errno == libc::ECONNRESET => ExcKind::ConnectionResetError,
            _ => ExcKind::OSError,
        };
        let strerror = strerror(errno);
        let mut args = vec![Value::Int(errno as i64), Value::str(strerror)];
        if let Some(f) = filename {
            args.push(Value::str(f));
        }
        Self::with_args(kind, args)
    }
    pub fn add_traceback(&self, entry: TbEntry) {
        self.traceback.lock().push(entry);
    }
}

/// `OSError(errno, strerror, ...)` makes the subclass CPython maps the errno to (2 to 5
/// arguments, the first an int), among the subclasses Toy has.
fn os_error_subclass(args: &[Value]) -> ExcKind {
    let errno = match args.first() {
        Some(Value::Int(i)) if (2..=5).contains(&args.len()) => *i,
        Some(Value::Bool(b)) if (2..=5).contains(&args.len()) => b.get() as i64,
        _ => return ExcKind::OSError,
    };
    let Ok(errno) = i32::try_from(errno) else {
        return ExcKind::OSError;
    };
    match errno {
        libc::ENOENT => ExcKind::FileNotFoundError,
        libc::EEXIST => ExcKind::FileExistsError,
        libc::EACCES | libc::EPERM => ExcKind::PermissionError,
        libc::EISDIR => ExcKind::IsADirectoryError,
        libc::ETIMEDOUT => ExcKind::TimeoutError,
        libc::EPIPE | libc::ESHUTDOWN => ExcKind::BrokenPipeError,
        libc::ECONNRESET => ExcKind::ConnectionResetError,
        _ => ExcKind::OSError,
    }
}

/// The C library's message for an errno, as Python prints it.
pub fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    // Rust appends " (os error N)".
    match s.rfind(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
