//! `runledger sim status` and `runledger sim init`: what the simulated data center says,
//! printed for a person or a script; and the other `sim` subcommands, thin wrappers over the
//! simulator's library (which has no command line of its own).
//!
//! Printed here rather than by the simulator so that a closed standard output is an error,
//! not a panic, and so that the text the simulated servers hold (statements they executed,
//! file names) reaches a terminal with its control characters made visible.

use std::path::Path;

use anyhow::Result;
use runledger_verifier::terminal;

use crate::cli::SimCommand;
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

/// Runs one `runledger sim` subcommand. Exit codes: 0 success; 1 the command ran and failed
/// (a cmdlet error); 2 bad arguments or an unusable drill directory.
pub fn run(cmd: SimCommand) -> Result<Exit> {
    match cmd {
        SimCommand::Status { dir, json } => status(&dir, json),
        SimCommand::Init { .. } => init(cmd),
        other => Ok(match simulated(other)? {
            0 => Exit::Ok,
            1 => Exit::Failed,
            _ => Exit::BadInput,
        }),
    }
}

/// The subcommands that act on the simulated data center itself; the shell's exit code.
fn simulated(cmd: SimCommand) -> Result<u8> {
    match cmd {
        SimCommand::Init { .. } | SimCommand::Status { .. } => unreachable!("run prints these"),
        SimCommand::Serve { dir } => {
            runledger_sim::serve(&dir)?;
            Ok(0)
        }
        SimCommand::Heal { dir } => {
            let done = runledger_sim::heal(&dir)?;
            if done.is_empty() {
                println!(
                    "nothing to heal in {}",
                    runledger_sim::sim_dir(&dir).display()
                );
            }
            for line in done {
                println!("healed: {line}");
            }
            Ok(0)
        }
        SimCommand::CsShell { dir, args } => {
            let mut rest = args.as_slice();
            // Options a PowerShell host accepts before -Command change nothing here.
            while let Some(first) = rest.first() {
                if ["-noprofile", "-noninteractive", "-nologo"]
                    .contains(&first.to_ascii_lowercase().as_str())
                {
                    rest = &rest[1..];
                } else {
                    break;
                }
            }
            match rest.first().map(|a| a.to_ascii_lowercase()) {
                None => {
                    let stdin = std::io::stdin();
                    Ok(runledger_sim::shell::run_lines(
                        &dir,
                        stdin.lock(),
                        &mut std::io::stdout(),
                        &mut std::io::stderr(),
                    )?)
                }
                Some(flag) if flag == "-command" || flag == "-c" => {
                    let line = rest[1..].join(" ");
                    if line.trim() == "-" {
                        let stdin = std::io::stdin();
                        return Ok(runledger_sim::shell::run_lines(
                            &dir,
                            stdin.lock(),
                            &mut std::io::stdout(),
                            &mut std::io::stderr(),
                        )?);
                    }
                    let out = runledger_sim::shell::run_line(&dir, &line)?;
                    print!("{}", out.stdout);
                    eprint!("{}", out.stderr);
                    Ok(out.exit_code)
                }
                Some(_) => anyhow::bail!(
                    "unexpected argument {:?}: use `-Command LINE` or pipe cmdlet lines on stdin",
                    rest[0]
                ),
            }
        }
    }
}
