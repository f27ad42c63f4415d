//! The command line, as clap structs only. Behaviour lives in `commands`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use runledger_engine::keyfile::KeySpec;

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
    /// Print every step with the exact text it will execute; changes nothing anywhere.
    Plan {
        /// The runbook (TOML), or `builtin:NAME`.
        runbook: String,
    },
    /// Run a runbook step by step, journaling every step before and after it executes.
    Run {
        /// The runbook (TOML), or `builtin:NAME`.
        runbook: String,
        /// The journal to create.
        #[arg(long)]
        journal: PathBuf,
        /// The signing key: a private key file, or `ssh-agent:SHA256:…` / `ssh-agent:COMMENT`
        /// for an Ed25519 key held by the ssh-agent at SSH_AUTH_SOCK.
        #[arg(long, value_name = "KEY")]
        key: KeySpec,
        /// A time-stamping authority (RFC 3161, HTTP): each checkpoint written gets its token
        /// beside it (`.tsr`); when it fails the run warns and goes on.
        #[arg(long, value_name = "URL")]
        tsa: Option<String>,
        #[command(flatten)]
        approvals: Approvals,
        #[command(flatten)]
        witness: crate::witnessing::WitnessArgs,
    },
    /// Continue the last run of a journal after a crash or a halt.
    Resume {
        /// The journal.
        #[arg(long)]
        journal: PathBuf,
        /// The signing key (the one that started the journal): a private key file, or
        /// `ssh-agent:SHA256:…` / `ssh-agent:COMMENT` for a key held by the ssh-agent.
        #[arg(long, value_name = "KEY")]
        key: KeySpec,
        /// The runbook file; refused unless it is the one embedded in the journal.
        #[arg(long)]
        runbook: Option<String>,
        /// A checkpoint of the journal to hold it against, besides the ones kept beside it
        /// (repeatable): a journal shorter than it, or other than it, is refused.
        #[arg(long, value_name = "FILE")]
        checkpoint: Vec<PathBuf>,
        /// A time-stamping authority (RFC 3161, HTTP): each checkpoint written gets its token
        /// beside it (`.tsr`); when it fails the run warns and goes on.
        #[arg(long, value_name = "URL")]
        tsa: Option<String>,
        #[command(flatten)]
        approvals: Approvals,
        #[command(flatten)]
        witness: crate::witnessing::WitnessArgs,
    },
    /// Say where the run stands, from the journal alone.
    Status {
        /// The journal.
        #[arg(long)]
        journal: PathBuf,
        /// Print JSON (`schemas/status.schema.json`) instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Rehearse the Persistent Chat failover against a simulated data center.
    Drill(crate::drill::DrillArgs),
    /// The built-in runbooks.
    #[command(subcommand)]
    Runbooks(RunbooksCommand),
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The site log that witnesses cosign for every journal of a site.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Write the journal as JSONL: one `{"event":…,"sig":…}` line per event.
    Export {
        /// The journal (SQLite).
        #[arg(long)]
        journal: PathBuf,
        /// Where to write the JSONL export (`-`: standard output).
        #[arg(long)]
        jsonl: PathBuf,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Write a signed checkpoint (C2SP tlog-checkpoint) of the journal as it stands.
    Checkpoint {
        /// The journal (SQLite).
        #[arg(long)]
        journal: PathBuf,
        /// The signing key: a private key file, or `ssh-agent:SHA256:…` / `ssh-agent:COMMENT`
        /// [default: operator.key beside the journal].
        #[arg(long, value_name = "KEY")]
        key: Option<KeySpec>,
        /// Where to write it (`-`: standard output) [default: standard output].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        witness: crate::witnessing::WitnessArgs,
        /// A time-stamping authority (RFC 3161, HTTP): its token over the checkpoint is written
        /// beside it (`FILE.tsr`, or `X.tsr` for `X.txt`); needs `--out FILE`; a failure is an
        /// error.
        #[arg(long, value_name = "URL")]
        tsa: Option<String>,
    },
    /// Write an inclusion proof of one event that `runledger-verify --proof` checks alone.
    Prove {
        /// The journal (SQLite).
        #[arg(long)]
        journal: PathBuf,
        /// The event's seq.
        #[arg(long)]
        seq: u64,
        /// Where to write the proof (`-`: standard output).
        #[arg(long)]
        out: PathBuf,
        /// The key that signs the proof's checkpoint: a private key file, or
        /// `ssh-agent:SHA256:…` / `ssh-agent:COMMENT` [default: operator.key beside the journal].
        #[arg(long, value_name = "KEY")]
        key: Option<KeySpec>,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Write the post-incident report: the verification verdict first, then a timeline of the
    /// steps, commands, results, approvals, backup files and the recovery point.
    Report {
        /// The journal (SQLite or JSONL export).
        #[arg(long)]
        journal: PathBuf,
        /// Where to write the self-contained HTML page (`-`: standard output). At least one of
        /// `--html` and `--md` is given.
        #[arg(long, required_unless_present = "md")]
        html: Option<PathBuf>,
        /// Where to write the same content as Markdown, for tickets (`-`: standard output).
        #[arg(long)]
        md: Option<PathBuf>,
        /// Trusted-keys file [default: the key the journal names, reported as not checked].
        #[arg(long)]
        trust: Option<PathBuf>,
        /// A checkpoint to hold the journal against (repeatable).
        #[arg(long)]
        checkpoint: Vec<PathBuf>,
        /// A trusted time-stamping authority's certificate(s) (PEM; repeatable): the tokens
        /// beside the checkpoints are checked, and the TSA's time shown beside the host's.
        #[arg(long, value_name = "PEM")]
        tsa_cert: Vec<PathBuf>,
        /// Replace the output files if they exist.
        #[arg(long)]
        force: bool,
    },
    /// The simulated data center for drills.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Witness other logs' checkpoints (C2SP tlog-witness): serve, or print the witness key.
    #[command(subcommand)]
    Witness(WitnessCommand),
    /// Print the completion script of a shell (bash, zsh, fish, elvish, powershell) to
    /// standard output, e.g. `runledger completions bash > /etc/bash_completion.d/runledger`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `runledger keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a signing key: K (owner-only) and K.pub (a trusted-keys line); never over an
    /// existing file.
    Generate {
        /// Where to write the private key (a file: not `-`).
        #[arg(long)]
        out: PathBuf,
        /// The key's name in trusted-keys files and on checkpoints [default: the file's stem].
        #[arg(long)]
        name: Option<String>,
    },
    /// Print the trusted-keys line (`name base64-public-key`) of a signing key: a private key
    /// file, or `ssh-agent:SHA256:…` / `ssh-agent:COMMENT` for a key held by the ssh-agent.
    Public {
        /// The key.
        #[arg(long, value_name = "KEY")]
        key: KeySpec,
    },
}

/// `runledger witness …`
#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Cosign checkpoints of the logs in LOGS as a C2SP tlog-witness: `POST /add-checkpoint`
    /// over HTTP on ADDR, each log's latest cosigned size and root kept in STATE; runs until
    /// killed, one line per request on standard error.
    Serve {
        /// Where to listen, `HOST:PORT` (port 0: any free port; the address is printed).
        #[arg(long, value_name = "ADDR")]
        listen: String,
        /// The witness's private key (`runledger keys generate`); its name is the name of the
        /// cosignatures.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The witness state (SQLite), created if missing.
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
        /// The logs it witnesses: `ORIGIN NAME BASE64-KEY` or `ORIGIN VKEY` lines.
        #[arg(long, value_name = "FILE")]
        logs: PathBuf,
        /// Requests answered at once.
        #[arg(long, default_value_t = 4)]
        threads: usize,
    },
    /// Print the witness's C2SP vkey (type 0x04) and its `witness` line for a policy file.
    Vkey {
        /// The witness key: the private key file or its `.pub`.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The witness's URL, for the policy line.
        #[arg(long)]
        url: Option<String>,
    },
}

/// `runledger site …`
#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Create the site log, once per site: its folder, key and origin. Prints the line each
    /// witness is configured with.
    Init {
        /// The site log folder [default: $RUNLEDGER_SITE, else ~/.local/share/runledger/site].
        #[arg(long, value_name = "DIR")]
        site: Option<PathBuf>,
        /// The site log's origin, as witnesses know it (e.g. `example.com/runledger-site`).
        #[arg(long)]
        origin: String,
        /// The key that signs the site log [default: a new DIR/site.key].
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Print the site log's origin, size and witness configuration lines.
    Show {
        /// The site log folder [default: $RUNLEDGER_SITE, else ~/.local/share/runledger/site].
        #[arg(long, value_name = "DIR")]
        site: Option<PathBuf>,
    },
}

/// How approvals are given without a prompt.
#[derive(Debug, Clone, clap::Args)]
pub struct Approvals {
    /// Approve this step (repeatable).
    #[arg(long = "approve", value_name = "STEP")]
    pub approve: Vec<String>,
    /// Accept a recovery point short of the newest log at this step (repeatable).
    #[arg(long = "accept-data-loss", value_name = "STEP")]
    pub accept_data_loss: Vec<String>,
    /// Go on without this step, whose readiness does not hold (repeatable; recorded).
    #[arg(long = "skip", value_name = "STEP")]
    pub skip: Vec<String>,
    /// Approve every step.
    #[arg(long)]
    pub yes: bool,
    /// Never prompt: halt at a step that needs approval.
    #[arg(long)]
    pub no_prompt: bool,
    /// Milliseconds to wait per copied file (drills).
    #[arg(long, default_value_t = 0, hide = true)]
    pub pace: u64,
    /// Faults to inject (crash and storage tests): `fail-append:N`, `crash-after-events:N`,
    /// `crash:POINT[:N]` (repeatable). Never needed in a real run.
    #[arg(long = "inject-fault", value_name = "FAULT", hide = true)]
    pub inject_fault: Vec<runledger_engine::fault::Fault>,
}

/// `runledger runbooks …`
#[derive(Debug, Subcommand)]
pub enum RunbooksCommand {
    /// List the built-in runbooks.
    List,
    /// Write a built-in runbook out, to edit it for a site.
    Show {
        /// Its name.
        name: String,
    },
}

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
        #[arg(long, default_value = "normal", help = runledger_sim::scenario::HELP)]
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
