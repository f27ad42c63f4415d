//! The command line, as clap structs only. Behaviour lives in `commands`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// runledger: run a database failover runbook as an audit-grade, event-sourced workflow.
#[derive(Debug, Parser)]
#[command(name = "runledger", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Write the journal as JSONL: one `{"event":…,"sig":…}` line per event.
    Export {
        /// The journal (SQLite).
        #[arg(long)]
        journal: PathBuf,
        /// Where to write the JSONL export.
        #[arg(long)]
        jsonl: PathBuf,
    },
    /// Write a signed checkpoint (C2SP tlog-checkpoint) of the journal as it stands.
    Checkpoint {
        /// The journal (SQLite).
        #[arg(long)]
        journal: PathBuf,
        /// The signing key [default: operator.key beside the journal].
        #[arg(long)]
        key: Option<PathBuf>,
        /// Where to write it [default: standard output].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write an inclusion proof of one event that `runledger-verify --proof` checks alone.
    Prove {
        /// The journal (SQLite).
        #[arg(long)]
        journal: PathBuf,
        /// The event's seq.
        #[arg(long)]
        seq: u64,
        /// Where to write the proof.
        #[arg(long)]
        out: PathBuf,
        /// The key that signs the proof's checkpoint [default: operator.key beside the journal].
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// The simulated data center for drills.
    #[command(subcommand)]
    Sim(runledger_sim::cli::SimCommand),
}

/// `runledger keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a signing key: K (owner-only) and K.pub (a trusted-keys line).
    Generate {
        /// Where to write the private key.
        #[arg(long)]
        out: PathBuf,
        /// The key's name in trusted-keys files and on checkpoints [default: the file's stem].
        #[arg(long)]
        name: Option<String>,
    },
}
