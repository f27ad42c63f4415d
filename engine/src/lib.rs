//! runledger's engine: runbooks, the dispatcher that runs and resumes them, the journal
//! writer, and the adapters to SQL Server (tiberius), the Lync shell and backup files. It reaches the journal format only through `runledger-verifier`,
//! so there is one encoder.
#![deny(missing_docs)]

pub mod agent;
pub mod checkpoints;
pub mod clock;
pub mod dispatcher;
pub mod fault;
pub mod files;
pub mod journal;
pub mod keyfile;
pub mod lsn;
pub mod plan;
pub mod recovery;
pub mod run;
pub mod runbook;
pub mod shell;
pub mod site;
pub mod sql;
pub mod standing;
pub mod step;
pub mod text;
pub mod tsa;
pub mod witness;

pub use journal::{Appended, Journal, JournalError};
