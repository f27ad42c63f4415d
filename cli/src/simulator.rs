//! `runledger sim status` and `runledger sim init`: what the simulated data center says,
//! printed for a person or a script. The other `sim` subcommands are the simulator's own
//! (`runledger_sim::cli`).
//!
//! Printed here rather than by the simulator so that a closed standard output is an error,
//! not a panic, and so that the text the simulated servers hold (statements they executed,
//! file names) reaches a terminal with its control characters made visible.

use std::path::Path;

use anyhow::Result;
use runledger_sim::cli::SimCommand;
use runledger_verifier::terminal;

use crate::exit::Exit;
use crate::output::{self, outln};

/// `runledger sim status DIR [--json]`.
pub fn status(dir: &Path, json: bool) -> Result<Exit> {
    let s = runledger_sim::status(dir)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&s)?)?;
    } else {
        output::print(&terminal::block(&s.render()))?;
    }
    Ok(Exit::Ok)
}

/// `runledger sim init DIR …`.
pub fn init(cmd: SimCommand) -> Result<Exit> {
    let SimCommand::Init {
        dir,
        logs,
        seed,
        scenario,
        pace,
    } = cmd
    else {
        unreachable!("sim::init is given `sim init` only")
    };
    let scenario: runledger_sim::Scenario =
        scenario.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    let instances = runledger_sim::init(
        &dir,
        &runledger_sim::InitOptions {
            logs,
            seed,
            scenario,
            pace_ms: pace,
        },
    )?;
    outln!(
        "simulated data center ({scenario}) created in {}",
        terminal::line(&runledger_sim::sim_dir(&dir).display().to_string())
    )?;
    for i in &instances {
        outln!("  {} on {}:{}", i.name, i.host, i.port)?;
    }
    outln!(
        "instances: {}",
        terminal::line(&runledger_sim::instances_path(&dir).display().to_string())
    )?;
    Ok(Exit::Ok)
}
