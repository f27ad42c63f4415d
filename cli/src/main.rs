//! `runledger`: plan, run, resume and prove database failover runbooks.

mod cli;
mod commands;
mod drill;
mod exit;
mod operate;
mod output;
mod report;
mod simulator;
mod witness;
mod witnessing;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli.command) {
        Ok(exit) => exit.into(),
        Err(e) => {
            // A closed standard error must not turn the error into a panic.
            let _ = writeln!(std::io::stderr(), "runledger: error: {}", one_line(&e));
            exit::Exit::BadInput.into()
        }
    }
}

/// The error and its causes on one line, without repeating a cause the message already says.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !line.contains(&c) {
            line.push_str(": ");
            line.push_str(&c);
        }
    }
    // One line, and what it quotes (file names, runbook text, server messages) cannot act on
    // the terminal.
    runledger_verifier::terminal::line(&line.replace('\n', " ")).into_owned()
}
