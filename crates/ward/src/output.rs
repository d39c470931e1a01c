//! Standard output for the commands. `println!` panics when the reader has gone away
//! (`ward check --batch … | head`, `ward audit verify | head`); here that ends the process
//! quietly with [`EXIT_CLOSED`], as a Unix tool stopped by SIGPIPE does. `ward serve`'s lines
//! for scripts ([`announce!`]) never stop the server.

use std::io::Write;

/// Exit code when standard output was closed early: 128 + SIGPIPE, what shells report for a
/// process the signal stopped.
pub const EXIT_CLOSED: u8 = 141;

/// Writes to standard output; a closed pipe ends the process with [`EXIT_CLOSED`], any other
/// failure to write is reported and ends it with 3.
pub fn write(arguments: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(error) = out.write_fmt(arguments).and_then(|()| out.flush()) {
        exit_on(&error);
    }
}

/// Ends the process for a failed write to standard output.
pub fn exit_on(error: &std::io::Error) -> ! {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(EXIT_CLOSED.into());
    }
    eprintln!("ward: cannot write to standard output: {error}");
    std::process::exit(crate::EXIT_FAILURE.into());
}

/// Whether `error` (or what caused it) is a closed standard output.
pub fn is_closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `println!` that a closed pipe does not turn into a panic.
macro_rules! say {
    () => { $crate::output::write(format_args!("\n")) };
    ($($argument:tt)*) => {
        $crate::output::write(format_args!("{}\n", format_args!($($argument)*)))
    };
}

/// `print!` likewise.
macro_rules! say_inline {
    ($($argument:tt)*) => { $crate::output::write(format_args!($($argument)*)) };
}

/// A line for scripts from `ward serve`; if nobody reads it, the server goes on.
macro_rules! announce {
    ($($argument:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($argument)*).and_then(|()| out.flush());
    }};
}

pub(crate) use {announce, say, say_inline};
