//! runledger's engine: the journal writer, and (as it grows) the runbook model, planner,
//! executor and adapters. It reaches the journal format only through `runledger-verifier`,
//! so there is one encoder.
#![deny(missing_docs)]

pub mod clock;
pub mod journal;
pub mod keyfile;

pub use journal::{Appended, Journal, JournalError};
