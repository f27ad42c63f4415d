//! Exit codes of `runledger`, in one place.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | the operation failed: a step, a check, a verification |
//! | 2 | bad input: arguments, files, keys, a journal that cannot be used |
//! | 3 | the run waits for an operator decision (`resume --approve STEP`, `--accept-data-loss STEP` or `--skip STEP`) |
//! | 4 | stopped by the operator (Ctrl-C) between actions; `resume` continues |

use std::process::ExitCode;

/// Why the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exit 0: what was asked was done, and it holds.
    Ok,
    /// The operation failed.
    Failed,
    /// Bad input.
    BadInput,
    /// Waiting for an operator decision.
    Waiting,
    /// Stopped by the operator.
    Interrupted,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::BadInput => 2,
            Exit::Waiting => 3,
            Exit::Interrupted => 4,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}
