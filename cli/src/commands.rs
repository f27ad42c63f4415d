//! What each subcommand does: validate the input, call the libraries, report.

use std::io::Write as _;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use runledger_engine::checkpoints;
use runledger_engine::keyfile::{self, KeySpec};
use runledger_verifier::checkpoint::Checkpoint;
use runledger_verifier::keys::{trusted_key_line, TrustedKeys};
use runledger_verifier::merkle;
use runledger_verifier::proof;
use runledger_verifier::signer::Signer;
use runledger_verifier::source::{self, Format};
use runledger_verifier::terminal;
use runledger_verifier::verify::{verify_with_tail, Options, Tail};

use crate::cli::{Command, KeysCommand, RunbooksCommand, SiteCommand};
use crate::exit::Exit;
use crate::output::{self, outln, Output};

/// Runs one subcommand.
pub fn run(command: Command) -> Result<Exit> {
    match command {
        Command::Plan { runbook } => {
            let loaded = crate::operate::load_runbook(&runbook)?;
            output::print(&runledger_engine::plan::render(&loaded))?;
            Ok(Exit::Ok)
        }
        Command::Run {
            runbook,
            journal,
            key,
            tsa,
            approvals,
            witness,
        } => crate::operate::run(&runbook, &journal, &key, tsa, &approvals, &witness),
        Command::Resume {
            journal,
            key,
            runbook,
            checkpoint,
            tsa,
            approvals,
            witness,
        } => crate::operate::resume(
            runbook.as_deref(),
            &journal,
            &key,
            &checkpoint,
            tsa,
            &approvals,
            &witness,
        ),
        Command::Site(SiteCommand::Init { site, origin, key }) => {
            crate::witnessing::init(site.as_deref(), &origin, key.as_deref())
        }
        Command::Site(SiteCommand::Show { site }) => crate::witnessing::show(site.as_deref()),
        Command::Drill(args) => crate::drill::drill(&args),
        Command::Status { journal, json } => crate::operate::status(&journal, json),
        Command::Report {
            journal,
            html,
            md,
            trust,
            checkpoint,
            tsa_cert,
            force,
        } => crate::report::report(
            &journal,
            html.as_deref().map(Output::from_arg).as_ref(),
            md.as_deref().map(Output::from_arg).as_ref(),
            trust.as_deref(),
            &checkpoint,
            &tsa_cert,
            force,
        ),
        Command::Runbooks(RunbooksCommand::List) => {
            for (name, source) in runledger_engine::runbook::BUILT_IN {
                let loaded = runledger_engine::runbook::parse(source, name)?;
                outln!("{name}  {}", loaded.runbook.description)?;
            }
            Ok(Exit::Ok)
        }
        Command::Runbooks(RunbooksCommand::Show { name }) => {
            match runledger_engine::runbook::built_in(&name) {
                Some(source) => {
                    output::print(source)?;
                    Ok(Exit::Ok)
                }
                None => bail!("no built-in runbook {name:?}; `runledger runbooks list` names them"),
            }
        }
        Command::Keys(KeysCommand::Generate { out, name }) => keys_generate(&out, name),
        Command::Keys(KeysCommand::Public { key }) => keys_public(&key),
        Command::Export {
            journal,
            jsonl,
            force,
        } => export(&journal, &Output::from_arg(&jsonl), force),
        Command::Checkpoint {
            journal,
            key,
            out,
            force,
            witness,
            tsa,
        } => checkpoint(
            &journal,
            key,
            &out.as_deref().map_or(Output::Stdout, Output::from_arg),
            &witness,
            force,
            tsa.as_deref(),
        ),
        Command::Prove {
            journal,
            seq,
            out,
            key,
            force,
        } => prove(&journal, seq, &Output::from_arg(&out), key, force),
        Command::Sim(cmd) => crate::simulator::run(cmd),
        Command::Witness(cmd) => crate::witness::run(cmd),
        Command::Completions { shell } => completions(shell),
    }
}

fn keys_generate(out: &Path, name: Option<String>) -> Result<Exit> {
    if out.as_os_str() == "-" {
        bail!("a private key is written to a file, with its .pub beside it: give --out K, not -");
    }
    let name = match name {
        Some(n) => n,
        None => out
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("operator")
            .to_string(),
    };
    let (key, pub_path) = keyfile::generate(out, &name)
        .with_context(|| format!("failed to generate key {}", out.display()))?;
    outln!(
        "wrote private key {} (owner-only) and trusted-keys line {}\nkey {} id {}",
        terminal::line(&out.display().to_string()),
        terminal::line(&pub_path.display().to_string()),
        terminal::line(&key.name),
        key.id()
    )?;
    Ok(Exit::Ok)
}

/// `runledger keys public --key K`: the trusted-keys line of a key file or an agent key, on
/// standard output, and where it came from on standard error.
fn keys_public(spec: &KeySpec) -> Result<Exit> {
    let key = spec.load()?;
    output::print(&format!(
        "{}\n",
        trusted_key_line(key.name(), &key.public_key())
    ))?;
    eprintln!("key {} id {}", terminal::line(&spec.to_string()), key.id());
    Ok(Exit::Ok)
}

fn export(journal: &Path, out: &Output, force: bool) -> Result<Exit> {
    output::check(out, force, &[journal])?;
    let format = source::detect(journal)?;
    if format != Format::Sqlite {
        bail!("{} is not a SQLite journal", journal.display());
    }
    let mut sink = output::open(out, force)?;
    let mut count = 0u64;
    let mut write_err = None;
    source::for_each_record(journal, Format::Sqlite, |record| {
        match sink.write_all(&source::jsonl_line(&record.event, &record.sig)) {
            Ok(()) => {
                count += 1;
                true
            }
            Err(e) => {
                write_err = Some(e);
                false
            }
        }
    })?;
    if let Some(e) = write_err {
        return Err(sink.error(e));
    }
    sink.finish()?;
    let said = format!(
        "exported {count} events from {} to {}",
        journal.display(),
        out.describe()
    );
    let said = terminal::line(&said);
    if out.is_stdout() {
        eprintln!("{said}");
    } else {
        outln!("{said}")?;
    }
    Ok(Exit::Ok)
}

/// The key given, or the key file `operator.key` beside the journal.
fn signing_key(journal: &Path, key: Option<KeySpec>) -> Result<KeySpec> {
    let spec = match key {
        Some(k) => k,
        None => {
            let beside = journal
                .parent()
                .unwrap_or(Path::new("."))
                .join("operator.key");
            if !beside.exists() {
                bail!(
                    "no signing key: give --key K (no {} beside the journal)",
                    beside.display()
                );
            }
            KeySpec::File(beside)
        }
    };
    Ok(spec)
}

/// The files a command reads: the journal, and the key when it is a file.
fn inputs<'a>(journal: &'a Path, key: &'a KeySpec) -> Vec<&'a Path> {
    std::iter::once(journal).chain(key.file()).collect()
}

/// Verifies the journal under the signing key and returns its id and where the verified
/// events end (their count and Merkle frontier), so that the key signs a tree over exactly the
/// events it has just vouched for, even if a writer appends meanwhile.
fn verified_tail(journal: &Path, key: &dyn Signer) -> Result<(String, Tail)> {
    let mut trusted = TrustedKeys::default();
    trusted.insert(key.name().to_string(), key.public_key());
    // Never sign a journal that is shorter than, or other than, a checkpoint of it.
    let options = Options {
        checkpoints: checkpoints::gather(journal, &[])?,
        ..Options::default()
    };
    let (report, tail) = verify_with_tail(journal, &trusted, &options)?;
    if !report.holds() {
        bail!(
            "refusing to sign: journal {} does not verify under key {}: {}",
            journal.display(),
            key.name(),
            report.verdict_text
        );
    }
    let id = report.journal.journal_id.unwrap_or_default();
    Ok((id, tail))
}

fn checkpoint(
    journal: &Path,
    key: Option<KeySpec>,
    out: &Output,
    witness: &crate::witnessing::WitnessArgs,
    force: bool,
    tsa: Option<&str>,
) -> Result<Exit> {
    let spec = signing_key(journal, key)?;
    output::check(out, force, &inputs(journal, &spec))?;
    // The token is a file beside the checkpoint: standard output has no beside.
    let token_out = match (tsa, out) {
        (None, _) => None,
        (Some(_), Output::Stdout) => {
            bail!("--tsa needs --out FILE: the token is written beside the checkpoint file")
        }
        (Some(url), Output::File(path)) => {
            let token_out = Output::File(runledger_verifier::timestamp::token_path(path));
            output::check(&token_out, force, &inputs(journal, &spec))?;
            Some((url, token_out))
        }
    };
    let key = spec.load()?;
    let witnessing = witness.load()?;
    // A journal that contradicts what witnesses cosigned of it is refused first, naming them.
    if let Some(w) = &witnessing {
        w.hold(journal)?;
    }
    let (id, tail) = verified_tail(journal, key.as_ref())?;
    let cp = Checkpoint {
        origin: format!("runledger/{id}"),
        size: tail.events,
        root: tail.frontier.root(),
        extensions: Vec::new(),
    };
    let text = cp.sign_with(key.as_ref())?;
    // Asked before anything is written: no checkpoint file without the token asked for.
    let token = match &token_out {
        Some((url, _)) => Some(runledger_engine::tsa::request(url, &text).with_context(|| {
            format!(
                "TSA {url}: no token for the checkpoint of {} events",
                cp.size
            )
        })?),
        None => None,
    };
    output::write(out, force, text.as_bytes())?;
    if !out.is_stdout() {
        eprintln!(
            "wrote checkpoint of {} events to {}",
            cp.size,
            terminal::line(&out.describe())
        );
    }
    if let (Some((_, token_out)), Some(token)) = (&token_out, token) {
        output::write(token_out, force, &token)?;
        eprintln!(
            "wrote its time-stamp token to {}",
            terminal::line(&token_out.describe())
        );
    }
    Ok(crate::witnessing::after_run(
        witnessing.as_ref(),
        journal,
        Exit::Ok,
    ))
}

fn prove(
    journal: &Path,
    seq: u64,
    out: &Output,
    key: Option<KeySpec>,
    force: bool,
) -> Result<Exit> {
    let spec = signing_key(journal, key)?;
    output::check(out, force, &inputs(journal, &spec))?;
    let key = spec.load()?;
    let (id, tail) = verified_tail(journal, key.as_ref())?;
    if seq >= tail.events {
        bail!(
            "journal {} has no seq {seq} (it ends at seq {})",
            journal.display(),
            tail.events.saturating_sub(1)
        );
    }
    // The leaves of the verified events (not of any appended since), and the proven record,
    // in one more pass.
    let mut leaves = Vec::with_capacity(usize::try_from(tail.events).unwrap_or(0));
    let mut record = None;
    source::for_each_record(journal, Format::Sqlite, |r| {
        leaves.push(merkle::leaf_hash(&r.event));
        if r.position == source::Position::Row(seq as i64) {
            record = Some(r);
        }
        (leaves.len() as u64) < tail.events
    })?;
    let record = record.with_context(|| format!("seq {seq} not found"))?;
    let cp = Checkpoint {
        origin: format!("runledger/{id}"),
        size: tail.events,
        root: tail.frontier.root(),
        extensions: Vec::new(),
    };
    if merkle::root_from_leaves(&leaves) != cp.root {
        bail!(
            "journal {} changed while it was being read; run the command again",
            journal.display()
        );
    }
    let path = merkle::inclusion_proof(&leaves, seq)?;
    let text = proof::write_proof(
        &record.event,
        &record.sig,
        &path,
        &cp.sign_with(key.as_ref())?,
        cp.size,
    );
    output::write(out, force, &text)?;
    let said = format!(
        "wrote inclusion proof of seq {seq} in the {}-event tree to {}",
        cp.size,
        out.describe()
    );
    let said = terminal::line(&said);
    if out.is_stdout() {
        eprintln!("{said}");
    } else {
        outln!("{said}")?;
    }
    Ok(Exit::Ok)
}

/// `runledger completions SHELL`: the script is generated from the command line's own
/// definition, so it never names a flag the binary does not take.
fn completions(shell: clap_complete::Shell) -> Result<Exit> {
    use clap::CommandFactory as _;
    let mut script = Vec::new();
    clap_complete::generate(
        shell,
        &mut crate::cli::Cli::command(),
        "runledger",
        &mut script,
    );
    output::write(&Output::from_arg(Path::new("-")), false, &script)?;
    Ok(Exit::Ok)
}
