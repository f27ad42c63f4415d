//! `plan`, `run`, `resume`, `status`: the operator's commands, on top of the engine.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use runledger_engine::dispatcher::{ApprovalPolicy, Halt, Ui};
use runledger_engine::fault::FaultPlan;
use runledger_engine::journal::JournalError;
use runledger_engine::keyfile::KeySpec;
use runledger_engine::run::{self, RunError, RunOptions};
use runledger_engine::runbook::{self, LoadedRunbook};
use runledger_verifier::terminal;

use crate::cli::Approvals;
use crate::exit::Exit;
use crate::witnessing::{WitnessArgs, Witnessing};

/// A runbook file, or `builtin:NAME`.
pub fn load_runbook(spec: &str) -> Result<LoadedRunbook> {
    if let Some(name) = spec.strip_prefix("builtin:") {
        let source = runbook::built_in(name).with_context(|| {
            format!("no built-in runbook {name:?}; `runledger runbooks list` names them")
        })?;
        return Ok(runbook::parse(source, &format!("<built-in {name}>"))?);
    }
    Ok(runbook::load(Path::new(spec))?)
}

/// One line to standard error, its control characters made visible (the text holds runbook
/// titles, file names, server messages); a closed standard error is not a panic.
pub(crate) fn say(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{}", terminal::line(text));
}

/// Lines to standard error; questions on the terminal.
pub(crate) struct Terminal;

impl Ui for Terminal {
    fn line(&mut self, text: &str) {
        say(text);
    }

    fn confirm(&mut self, question: &str) -> bool {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{} [y/N] ", terminal::line(question));
        let _ = err.flush();
        let mut answer = String::new();
        if std::io::stdin().lock().read_line(&mut answer).is_err() {
            return false;
        }
        matches!(answer.trim(), "y" | "Y" | "yes" | "YES")
    }
}

/// Progress bars on standard error, drawn only when it is a terminal.
#[derive(Default)]
pub(crate) struct Bars {
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl runledger_engine::step::Progress for Bars {
    fn start(&self, label: &str, total: u64) {
        let bar = if total > 0 {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "    {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        } else {
            let b = indicatif::ProgressBar::new_spinner();
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        };
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar.set_message(label.to_string());
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(bar);
        }
    }

    fn set(&self, done: u64) {
        if let Ok(slot) = self.bar.lock() {
            if let Some(b) = slot.as_ref() {
                b.set_position(done);
            }
        }
    }

    fn finish(&self) {
        if let Ok(mut slot) = self.bar.lock() {
            if let Some(b) = slot.take() {
                b.finish_and_clear();
            }
        }
    }
}

fn policy(a: &Approvals) -> ApprovalPolicy {
    ApprovalPolicy {
        all: a.yes,
        steps: a.approve.clone(),
        data_loss: a.accept_data_loss.clone(),
        skip: a.skip.clone(),
        interactive: !a.no_prompt && std::io::stdin().is_terminal(),
        operator: run::operator_label(),
        auto_label: None,
    }
}

fn options(
    journal: &Path,
    key: &KeySpec,
    checkpoints: &[PathBuf],
    tsa: Option<String>,
    a: &Approvals,
) -> Result<RunOptions> {
    let key = key.load()?;
    let stop = Arc::new(AtomicBool::new(false));
    Ok(RunOptions {
        journal: journal.to_path_buf(),
        key,
        policy: policy(a),
        ui: Box::new(Terminal),
        stop,
        pace_ms: a.pace,
        faults: FaultPlan::of(a.inject_fault.iter().copied()),
        checkpoints: checkpoints.to_vec(),
        progress: Some(Arc::new(Bars::default())),
        tsa,
    })
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Ctrl-C sets the stop flag: the run stops cleanly before its next action.
pub(crate) fn watch_ctrl_c(rt: &tokio::runtime::Runtime, stop: Arc<AtomicBool>) {
    rt.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.store(true, Ordering::SeqCst);
            eprintln!("\nstopping before the next action (Ctrl-C)…");
        }
    });
}

pub(crate) fn report(result: Result<run::Finished, RunError>, journal: &Path) -> Result<Exit> {
    match result {
        Ok(f) => {
            // Name only what was written: a checkpoint whose last write failed is stale.
            let checkpoint = match &f.checkpoint {
                Some(p) => format!("checkpoint {}", p.display()),
                None => "no checkpoint written (see the warning above)".into(),
            };
            say(&format!(
                "run {} finished: {} events in {}; {checkpoint}",
                f.run_id,
                f.events,
                journal.display(),
            ));
            Ok(Exit::Ok)
        }
        Err(RunError::Halted(h)) => {
            if matches!(h, Halt::Journal(_)) {
                // The journal cannot be written (exit 2): an error line, as for every exit 2.
                say(&format!("runledger: error: {h}"));
            } else {
                say(&format!("runledger: {h}"));
            }
            Ok(match h {
                Halt::NeedsApproval { .. } => Exit::Waiting,
                Halt::Interrupted { .. } => Exit::Interrupted,
                // Deleted or replaced under the run: the run failed, no input was bad.
                Halt::Journal(JournalError::Gone { .. }) => Exit::Failed,
                Halt::Journal(_) => Exit::BadInput,
                _ => Exit::Failed,
            })
        }
        Err(RunError::Journal(e @ JournalError::Gone { .. })) => {
            say(&format!("runledger: error: {e}"));
            Ok(Exit::Failed)
        }
        Err(
            e @ (RunError::Journal(_)
            | RunError::Unverified { .. }
            | RunError::RunbookChanged { .. }
            | RunError::Secret { .. }
            | RunError::Runbook(_)),
        ) => Err(anyhow::Error::new(e)),
        Err(e @ RunError::AlreadyFinished { .. }) => {
            // A process killed after it sealed the run: the failover is complete.
            say(&format!("runledger: {e}"));
            Ok(Exit::Ok)
        }
        Err(e @ RunError::NothingToResume { .. }) => {
            say(&format!("runledger: {e}"));
            Ok(Exit::Failed)
        }
    }
}

/// True when the run stopped because its journal was deleted or replaced under it: there is
/// nothing left to summarise or verify.
pub(crate) fn journal_lost(result: &Result<run::Finished, RunError>) -> bool {
    matches!(
        result,
        Err(RunError::Journal(JournalError::Gone { .. })
            | RunError::Halted(Halt::Journal(JournalError::Gone { .. })))
    )
}

/// `runledger run`.
pub fn run(
    spec: &str,
    journal: &Path,
    key: &KeySpec,
    tsa: Option<String>,
    a: &Approvals,
    witness: &WitnessArgs,
) -> Result<Exit> {
    let loaded = load_runbook(spec)?;
    let opts = options(journal, key, &[], tsa, a)?;
    let witnessing = witness.load()?;
    let rt = runtime()?;
    watch_ctrl_c(&rt, opts.stop.clone());
    say(&format!(
        "running {} version {} ({} steps); journal {}",
        loaded.runbook.name,
        loaded.runbook.version,
        loaded.runbook.steps.len(),
        journal.display()
    ));
    let result = rt.block_on(run::start(&loaded, opts));
    finish(result, journal, witnessing.as_ref())
}

/// Says how the run ended, then has the journal witnessed when asked (not when it is gone).
fn finish(
    result: Result<run::Finished, RunError>,
    journal: &Path,
    witnessing: Option<&Witnessing>,
) -> Result<Exit> {
    let lost = journal_lost(&result);
    let exit = report(result, journal)?;
    if lost {
        return Ok(exit);
    }
    Ok(crate::witnessing::after_run(witnessing, journal, exit))
}

/// `runledger resume`.
pub fn resume(
    spec: Option<&str>,
    journal: &Path,
    key: &KeySpec,
    checkpoints: &[PathBuf],
    tsa: Option<String>,
    a: &Approvals,
    witness: &WitnessArgs,
) -> Result<Exit> {
    let given = spec.map(load_runbook).transpose()?;
    let opts = options(journal, key, checkpoints, tsa, a)?;
    let witnessing = witness.load()?;
    // Never continue a journal shorter or other than what witnesses cosigned of it.
    if let Some(w) = &witnessing {
        w.hold(journal)?;
    }
    let rt = runtime()?;
    watch_ctrl_c(&rt, opts.stop.clone());
    say(&format!("resuming {}", journal.display()));
    let result = rt.block_on(run::resume(given.as_ref(), opts));
    finish(result, journal, witnessing.as_ref())
}

/// One line of `status` on standard output, its control characters made visible (it shows
/// step ids, file names and reasons read from the journal).
fn show(line: String) -> Result<()> {
    crate::output::print(&format!("{}\n", terminal::line(&line)))
}

/// `runledger status [--json]`: where the last run stands, from the journal alone (see
/// `runledger_engine::standing`).
pub fn status(journal: &Path, json: bool) -> Result<Exit> {
    let standing = runledger_engine::standing::standing(journal)?;
    if json {
        let mut text = serde_json::to_string_pretty(&standing)?;
        text.push('\n');
        crate::output::print(&text)?;
    } else {
        for line in standing.lines() {
            show(line)?;
        }
    }
    Ok(Exit::Ok)
}
