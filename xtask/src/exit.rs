//! The exit-code convention every command shares (0 success, 1 something
//! failed, 2 bad usage or input, 130 interrupted, or a child's own status),
//! and the two error types that mean exit 2: `Usage` and `BadInput`.

use std::fmt;

/// What a command's exit status means: one table for every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done, every check passed (warnings allowed).
    Success,
    /// The command ran and something failed: a check, a migration, a step.
    Failed,
    /// Bad usage or bad input: an unknown flag, a file that cannot be read or
    /// parsed, an invalid URL or parameter, a missing URL, a placeholder password.
    BadInput,
    /// Stopped by Ctrl-C.
    Interrupted,
    /// A child's own status, passed on (`migrate` passes Prisma's).
    Child(i32),
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::BadInput => 2,
            Exit::Interrupted => 130,
            Exit::Child(c) => c,
        }
    }

    /// The status of an error that ended a command.
    pub fn of_error(e: &anyhow::Error) -> Exit {
        if e.downcast_ref::<Usage>().is_some() || e.downcast_ref::<BadInput>().is_some() {
            Exit::BadInput
        } else {
            Exit::Failed
        }
    }

    /// Success when `ok`, else Failed.
    pub fn ok_if(ok: bool) -> Exit {
        if ok {
            Exit::Success
        } else {
            Exit::Failed
        }
    }
}

/// Bad usage: unknown flag, missing or malformed value. Exit 2.
#[derive(Debug)]
pub struct Usage(pub String);

/// Bad input: a file that cannot be parsed, an invalid URL, a missing file.
/// Exit 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Usage {}
impl std::error::Error for BadInput {}

/// Returns an exit-2 error for bad input.
pub fn bad_input(msg: impl Into<String>) -> anyhow::Error {
    BadInput(msg.into()).into()
}
