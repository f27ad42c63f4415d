//! `runledger sim …` subcommands: thin wrappers over the library functions.
//!
//! Exit codes: 0 success; 1 the command ran and failed (a cmdlet error); 2 bad arguments or an
//! unusable drill directory.

use std::path::PathBuf;

use clap::Subcommand;

/// The `runledger sim` subcommands.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Create a simulated data center in DIR/sim and write DIR/sim/instances.json.
    Init {
        /// The drill directory.
        dir: PathBuf,
        /// Number of log backups the primary wrote.
        #[arg(long, default_value_t = 12)]
        logs: usize,
        /// Seed of every generated name, LSN and byte.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The scenario's name.
        #[arg(long, default_value = "normal", help = crate::scenario::HELP)]
        scenario: String,
        /// Milliseconds each simulated restore takes (applied by `serve`).
        #[arg(long, default_value_t = 0)]
        pace: u64,
    },
    /// Run the simulated SQL instances on their recorded loopback ports until killed.
    Serve {
        /// The drill directory.
        dir: PathBuf,
    },
    /// Print the simulated state and the history of state-changing commands.
    Status {
        /// The drill directory.
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// End the outage the scenario staged: the share, a missing file, the CMS and BAK-M come
    /// back (recorded in the history).
    Heal {
        /// The drill directory.
        dir: PathBuf,
    },
    /// The simulated Lync Management Shell: `-Command LINE`, or cmdlet lines on stdin.
    CsShell {
        /// The drill directory.
        dir: PathBuf,
        /// `-Command LINE…` (PowerShell style); without it, lines are read from stdin.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Runs one `runledger sim` subcommand and returns the process exit code.
pub fn run(cmd: SimCommand) -> anyhow::Result<u8> {
    match cmd {
        // `runledger` prints these itself (its output never panics on a closed pipe and
        // escapes what it prints): see cli/src/simulator.rs.
        SimCommand::Init { .. } | SimCommand::Status { .. } => {
            anyhow::bail!("`sim init` and `sim status` are run by the runledger binary")
        }
        SimCommand::Serve { dir } => {
            crate::serve(&dir)?;
            Ok(0)
        }
        SimCommand::Heal { dir } => {
            let done = crate::heal(&dir)?;
            if done.is_empty() {
                println!("nothing to heal in {}", crate::sim_dir(&dir).display());
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
                    Ok(crate::shell::run_lines(
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
                        return Ok(crate::shell::run_lines(
                            &dir,
                            stdin.lock(),
                            &mut std::io::stdout(),
                            &mut std::io::stderr(),
                        )?);
                    }
                    let out = crate::shell::run_line(&dir, &line)?;
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
