//! `runledger`: plan, run, resume and prove database failover runbooks.

mod cli;
mod commands;
mod drill;
mod exit;
mod operate;
mod report;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli.command) {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("runledger: error: {e:#}");
            exit::Exit::BadInput.into()
        }
    }
}
