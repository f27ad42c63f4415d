//! `runledger sim …` subcommands.

/// The `runledger sim` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// Print the simulated state.
    Status {
        /// The drill directory.
        dir: std::path::PathBuf,
    },
}

/// Runs one `runledger sim` subcommand and returns the process exit code.
pub fn run(cmd: SimCommand) -> anyhow::Result<u8> {
    match cmd {
        SimCommand::Status { dir } => {
            anyhow::bail!("no simulated data center in {}", dir.display())
        }
    }
}
