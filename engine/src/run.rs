//! Starting and resuming a run: the journal's first and last events around the steps.
//!
//! `start` writes `run.started` with the runbook's full source, executes the steps through
//! the dispatcher and seals the run with `run.finished`. `resume` refuses a journal that does
//! not verify, a runbook other than the embedded one and a key other than the journal's,
//! appends `run.resumed` naming the in-doubt intents, replays the run and continues it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use runledger_verifier::event::{
    Body, Event, InDoubt, Operator, RunFinished, RunResumed, RunStarted, RunStatus, RunbookSource,
    Target,
};
use runledger_verifier::signer::SharedSigner;
use runledger_verifier::signing::sha256_hex;
use runledger_verifier::source;
use runledger_verifier::timeline::{self, Keep};
use runledger_verifier::verify::step_of;

use crate::checkpoints::{self, Keeper};
use crate::clock::SystemClock;
use crate::dispatcher::{ApprovalPolicy, Dispatcher, Halt, Ui};
use crate::fault::FaultPlan;
use crate::journal::{self, Journal, JournalError, Opened};
use crate::runbook::{self, AuthMethod, EncryptionSetting, LoadedRunbook, SecretSource};
use crate::sql::{Encryption, SqlAuth, SqlEndpoint};
use crate::step::{self, Env};

/// The engine's version string, recorded in `journal.opened`.
pub const ENGINE_VERSION: &str = concat!("runledger ", env!("CARGO_PKG_VERSION"));

/// Everything a run or resume needs besides the runbook.
pub struct RunOptions {
    /// The journal file.
    pub journal: PathBuf,
    /// The signer of every event and checkpoint (a key file's key, or an ssh-agent's).
    pub key: SharedSigner,
    /// How approvals are given.
    pub policy: ApprovalPolicy,
    /// Where lines go.
    pub ui: Box<dyn Ui>,
    /// Set by Ctrl-C: stop between actions.
    pub stop: Arc<AtomicBool>,
    /// Delay per copied file, for drills.
    pub pace_ms: u64,
    /// Faults to inject (drills and crash tests; none in production): the writer's failed
    /// appends, and where the process is killed.
    pub faults: FaultPlan,
    /// Checkpoints given by the operator to hold the journal against on resume, besides the
    /// ones kept beside it.
    pub checkpoints: Vec<PathBuf>,
    /// Where long actions show their progress.
    pub progress: Option<Arc<dyn crate::step::Progress>>,
    /// The time-stamping authority (RFC 3161) that stamps each checkpoint written (`--tsa`).
    pub tsa: Option<String>,
}

/// How a run ended.
#[derive(Debug)]
pub struct Finished {
    /// Run id.
    pub run_id: String,
    /// Events in the journal.
    pub events: u64,
    /// `checkpoint.txt`, when it was written at the end and covers every event (None when
    /// that write failed: the run said why).
    pub checkpoint: Option<PathBuf>,
}

/// Why a run could not start, continue or finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The journal refused.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A step halted the run (it stays open and can be resumed).
    #[error(transparent)]
    Halted(#[from] Halt),
    /// A secret could not be read.
    #[error("target {target}: {reason}")]
    Secret {
        /// The target.
        target: String,
        /// Why it could not be read: the variable is unset, or the file unreadable.
        reason: String,
    },
    /// The journal does not verify: nothing is appended to it.
    #[error("journal {path} does not verify ({verdict}); refusing to continue it. Run runledger-verify on it")]
    Unverified {
        /// The journal.
        path: String,
        /// The verifier's sentence.
        verdict: String,
    },
    /// The runbook given is not the one the run started with.
    #[error("runbook {given} (sha256 {given_sha}) is not the runbook this run started with ({embedded} sha256 {embedded_sha}); resume uses the embedded runbook, give none or the same file")]
    RunbookChanged {
        /// The file given.
        given: String,
        /// Its hash.
        given_sha: String,
        /// The embedded name.
        embedded: String,
        /// Its hash.
        embedded_sha: String,
    },
    /// The last run has already finished: the failover it records is complete.
    #[error("journal {path}: run {run_id} has already finished; nothing to resume")]
    AlreadyFinished {
        /// The journal.
        path: String,
        /// The run.
        run_id: String,
    },
    /// Nothing to resume.
    #[error("journal {path}: {reason}")]
    NothingToResume {
        /// The journal.
        path: String,
        /// Why: no run was ever started in it, or its last run cannot be read.
        reason: String,
    },
    /// The embedded runbook no longer parses.
    #[error(transparent)]
    Runbook(#[from] runbook::RunbookError),
}

fn read_secret(target: &str, source: &SecretSource) -> Result<String, RunError> {
    let err = |reason: String| RunError::Secret {
        target: target.to_string(),
        reason,
    };
    match source {
        SecretSource::Env(var) => {
            std::env::var(var).map_err(|_| err(format!("environment variable {var} is not set")))
        }
        SecretSource::File(path) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                let mode = std::fs::metadata(path)
                    .map_err(|e| err(format!("cannot read password file {}: {e}", path.display())))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(err(format!(
                        "password file {} is readable by others (mode {:o}); run `chmod 600 {}`",
                        path.display(),
                        mode & 0o777,
                        path.display()
                    )));
                }
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| err(format!("cannot read password file {}: {e}", path.display())))?;
            Ok(text.lines().next().unwrap_or("").to_string())
        }
    }
}

/// SQL endpoints with their secrets read (never recorded).
fn endpoints(rb: &runbook::Runbook) -> Result<HashMap<String, SqlEndpoint>, RunError> {
    let mut out = HashMap::new();
    for (name, t) in &rb.targets {
        let password = match &t.password {
            Some(s) => read_secret(name, s)?,
            None => String::new(),
        };
        let user = t.user.clone().unwrap_or_default();
        let auth = match t.auth {
            AuthMethod::Sql => SqlAuth::Sql { user, password },
            AuthMethod::Ntlm => SqlAuth::Ntlm {
                domain: t.domain.clone(),
                user,
                password,
            },
            AuthMethod::Integrated => SqlAuth::Integrated,
        };
        out.insert(
            name.clone(),
            SqlEndpoint {
                name: name.clone(),
                host: t.host.clone(),
                port: t.port,
                instance: t.instance.clone(),
                auth,
                encryption: match t.encryption {
                    EncryptionSetting::Off => Encryption::Off,
                    EncryptionSetting::On => Encryption::On,
                    EncryptionSetting::Required => Encryption::Required,
                    EncryptionSetting::NotSupported => Encryption::NotSupported,
                },
                database: "master".into(),
                trust_server_certificate: t.trust_server_certificate,
                trust_cert_ca: t.trust_cert_ca.clone(),
                application_name: ENGINE_VERSION.into(),
                connect_timeout: Duration::from_secs(15),
            },
        );
    }
    Ok(out)
}

/// The environment variables the runbook's secrets are read from: a child process (the shell)
/// gets the environment without them.
fn secret_env_vars(rb: &runbook::Runbook) -> Vec<String> {
    rb.targets
        .values()
        .filter_map(|t| match &t.password {
            Some(SecretSource::Env(var)) => Some(var.clone()),
            _ => None,
        })
        .collect()
}

/// Targets as recorded in `run.started`: where, how, never a secret.
fn recorded_targets(rb: &runbook::Runbook) -> Vec<Target> {
    let mut out: Vec<Target> = rb
        .targets
        .iter()
        .map(|(name, t)| {
            let mut settings = std::collections::BTreeMap::new();
            settings.insert("auth".to_string(), format!("{:?}", t.auth).to_lowercase());
            settings.insert(
                "encryption".to_string(),
                format!("{:?}", t.encryption).to_lowercase(),
            );
            if let Some(u) = &t.user {
                settings.insert("user".to_string(), u.clone());
            }
            if let Some(i) = &t.instance {
                settings.insert("instance".to_string(), i.clone());
            }
            Target {
                name: name.clone(),
                kind: "sql".into(),
                endpoint: format!("{}:{}", t.host, t.port),
                settings,
            }
        })
        .collect();
    if let Some(shell) = &rb.shell {
        let mut line = vec![shell.program.clone()];
        line.extend(shell.args.iter().cloned());
        out.push(Target {
            name: "shell".into(),
            kind: "shell".into(),
            endpoint: line.join(" "),
            settings: Default::default(),
        });
    }
    out
}

/// Who runs this process, and where: recorded in `run.started` and with approvals.
pub fn operator() -> Operator {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown".into());
    Operator { user, host }
}

/// [`operator`] as approvals name it: `user@host`.
pub fn operator_label() -> String {
    let who = operator();
    format!("{}@{}", who.user, who.host)
}

/// Starts a run of `loaded` in a new journal.
pub async fn start(loaded: &LoadedRunbook, opts: RunOptions) -> Result<Finished, RunError> {
    refuse_kept_history(&opts.journal)?;
    let rb = &loaded.runbook;
    let endpoints = endpoints(rb)?;
    let run_id = uuid::Uuid::new_v4().to_string();
    let parameters = rb
        .parameters
        .iter()
        .filter(|(k, _)| !k.to_ascii_lowercase().contains("password"))
        .map(|(k, v)| (k.clone(), v.recorded()))
        .collect();
    // The plan, with run.started: every text the run may execute, with the fields only the
    // run decides named. An observation rather than a member of run.started, whose body every
    // v1 reader reads strictly; one transaction with it, so no run starts without its plan; a
    // resume replays and records no other.
    let plan = crate::text::plan(rb);
    let mut journal = Journal::create_with_run(
        &opts.journal,
        opts.key.clone(),
        ENGINE_VERSION,
        &run_id,
        vec![
            Body::RunStarted(Box::new(RunStarted {
                run_id: run_id.clone(),
                runbook: RunbookSource {
                    name: rb.name.clone(),
                    version: rb.version.clone(),
                    sha256: sha256_hex(loaded.source.as_bytes()),
                    source: loaded.source.clone(),
                },
                parameters,
                operator: operator(),
                targets: recorded_targets(rb),
            })),
            Body::Observation(runledger_verifier::event::Observation {
                step: None,
                name: crate::dispatcher::PLAN_OBSERVATION.into(),
                source: format!("the plan of runbook {} version {}", rb.name, rb.version),
                data: serde_json::to_value(&plan).unwrap_or_default(),
            }),
        ],
        opts.faults.clone(),
    )?;
    journal.crash_after_events(opts.faults.crash_after_events);
    execute(journal, run_id, Vec::new(), rb, endpoints, opts).await
}

/// A new journal never takes the name of one whose checkpoints are kept: that journal was
/// deleted or moved, and a new one under its name would hide it.
fn refuse_kept_history(journal: &Path) -> Result<(), RunError> {
    let kept = checkpoints::kept(journal).map_err(|e| JournalError::Io {
        path: checkpoints::history_dir(journal).display().to_string(),
        source: e,
    })?;
    match kept.last() {
        Some((size, _)) => Err(JournalError::Orphaned {
            path: journal.display().to_string(),
            dir: checkpoints::history_dir(journal).display().to_string(),
            last_seq: size.saturating_sub(1),
        }
        .into()),
        None => Ok(()),
    }
}

/// Runs (or continues) the steps of a run through a dispatcher, then seals it.
async fn execute(
    journal: Journal,
    run_id: String,
    recorded: Vec<Event>,
    rb: &runbook::Runbook,
    endpoints: HashMap<String, SqlEndpoint>,
    opts: RunOptions,
) -> Result<Finished, RunError> {
    let mut env = Env::new(endpoints, rb.shell.clone());
    env.pace_ms = opts.pace_ms;
    env.progress = opts.progress.clone();
    env.hidden_env = secret_env_vars(rb);
    let policy = with_runbook_policy(opts.policy, rb);
    let resuming = !recorded.is_empty();
    let mut d = Dispatcher::new(
        journal,
        run_id,
        recorded,
        policy,
        opts.ui,
        opts.stop,
        Some(Keeper::new(&opts.journal)),
    );
    d.explicit_steps = explicit_steps(rb);
    d.tsa = opts.tsa.as_deref().map(crate::tsa::Stamper::new);
    if resuming {
        d.reread_unconsumed_facts();
    }
    d.inject(&opts.faults);
    d.write_checkpoint();
    if let Err(halt) = drive(&mut d, &env, rb).await {
        record_halt(&mut d, &halt);
        return Err(halt.into());
    }
    finish(d)
}

/// Records why the run stopped, so that `status` (and the report) can say it from the journal
/// alone. Best effort: the halt itself is what the operator is told.
fn record_halt(d: &mut Dispatcher, halt: &Halt) {
    let (step, kind, flag) = match halt {
        Halt::NeedsApproval { step, flag, .. } => {
            (step.clone(), "waiting_for_decision", Some(*flag))
        }
        Halt::Declined { step, .. } => (step.clone(), "declined", None),
        Halt::StepFailed { step, .. } => (step.clone(), "failed", None),
        Halt::Interrupted { step, .. } => (step.clone(), "interrupted", None),
        // The journal cannot be written, or must not be (divergence, replay-only).
        Halt::Journal(_) | Halt::Divergence { .. } | Halt::ReplayEnd { .. } => return,
    };
    let step = step_of(&step).to_string();
    let body = Body::Observation(runledger_verifier::event::Observation {
        step: Some(step.clone()),
        name: crate::dispatcher::HALT_OBSERVATION.into(),
        source: "runledger".into(),
        data: serde_json::json!({"kind": kind, "reason": halt.to_string(), "flag": flag}),
    });
    let run_id = d.run_id().to_string();
    let _ = d.journal().append(Some(&run_id), body);
    d.write_checkpoint();
}

/// The steps whose approval must name them.
fn explicit_steps(rb: &runbook::Runbook) -> std::collections::HashSet<String> {
    rb.steps
        .iter()
        .filter(|s| s.explicit_approval)
        .map(|s| s.id.clone())
        .collect()
}

/// A rehearsal runbook (`auto_approve = true`) approves every step itself; it never accepts
/// data loss, which stays an explicit operator decision.
fn with_runbook_policy(mut policy: ApprovalPolicy, rb: &runbook::Runbook) -> ApprovalPolicy {
    if rb.auto_approve {
        policy.all = true;
        policy.auto_label = Some(format!("auto_approve in runbook {}", rb.name));
    }
    policy
}

async fn drive(d: &mut Dispatcher, env: &Env, rb: &runbook::Runbook) -> Result<(), Halt> {
    for step in &rb.steps {
        d.say(&format!("[{}] {}", step.id, step.title));
        step::execute(d, env, step).await?;
    }
    Ok(())
}

fn finish(mut d: Dispatcher) -> Result<Finished, RunError> {
    let run_id = d.run_id().to_string();
    let seal = d.journal().seal();
    let mut summary = if d.data_loss_accepted.is_empty() {
        "every step succeeded".to_string()
    } else {
        format!(
            "every step succeeded after the operator accepted data loss: {}",
            d.data_loss_accepted.join("; ")
        )
    };
    if !d.skipped.is_empty() {
        let mut skipped: Vec<&str> = d.skipped.iter().map(String::as_str).collect();
        skipped.sort();
        summary.push_str(&format!(
            "; skipped by the operator's decision: {}",
            skipped.join(", ")
        ));
    }
    if !d.skipped_with.is_empty() {
        let with: Vec<&str> = d.skipped_with.iter().map(String::as_str).collect();
        summary.push_str(&format!("; skipped with it: {}", with.join(", ")));
    }
    if d.ledger.point.is_some() {
        summary.push_str(&format!("; {}", d.ledger.cost()));
    }
    d.journal().append(
        Some(&run_id),
        Body::RunFinished(RunFinished {
            status: RunStatus::Succeeded,
            summary,
            sealed: seal,
        }),
    )?;
    d.write_checkpoint();
    // "Finished" is said of a journal someone can read: not of one deleted meanwhile.
    d.journal().check_still_open()?;
    let events = d.journal().len();
    Ok(Finished {
        run_id,
        events,
        checkpoint: d.checkpoint_written().map(Path::to_path_buf),
    })
}

/// The last run of a journal, read from its events.
pub struct LastRun {
    /// Run id.
    pub run_id: String,
    /// Its `run.started`.
    pub started: RunStarted,
    /// Every event of the run after `run.started`.
    pub events: Vec<Event>,
    /// The run's timeline: its attempts and how they ended, its decisions, its halt.
    pub timeline: timeline::Run,
}

/// Reads the last run of a journal (SQLite).
///
/// The last run is the journal's end, so the events are read from the last one backwards to
/// the last `run.started`, and no further: the cost is the run's length, not the journal's.
/// This reads; it does not verify (`resume` verifies before it acts).
pub fn last_run(path: &Path) -> Result<Option<LastRun>, RunError> {
    let mut events = Vec::new();
    let mut started = None;
    let mut problem = None;
    source::for_each_sqlite_record_backwards(path, |r| {
        match Event::from_canonical_bytes(&r.event) {
            Ok(e) if matches!(e.body, Body::RunStarted(_)) => {
                started = Some(e);
                return false;
            }
            Ok(e) => events.push(e),
            Err(err) => {
                problem = Some(err.to_string());
                return false;
            }
        }
        true
    })
    .map_err(JournalError::from)?;
    if let Some(p) = problem {
        return Err(RunError::Unverified {
            path: path.display().to_string(),
            verdict: p,
        });
    }
    let Some(started_event) = started else {
        return Ok(None);
    };
    let Body::RunStarted(body) = &started_event.body else {
        return Ok(None);
    };
    events.reverse();
    let mut run = timeline::Run::started(Keep::All, &started_event, body);
    for e in &events {
        run.apply(e);
    }
    // run.finished is the run's last word: the events kept are those before it.
    events.retain(|e| !matches!(e.body, Body::RunFinished(_)));
    Ok(Some(LastRun {
        run_id: body.run_id.clone(),
        started: (**body).clone(),
        events,
        timeline: run,
    }))
}

impl LastRun {
    /// Whether `run.finished` was written.
    pub fn finished(&self) -> bool {
        self.timeline.finished.is_some()
    }
}

/// Intents of a run without outcome or reconciliation: what a resume reconciles.
pub fn in_doubt(run: &timeline::Run) -> Vec<InDoubt> {
    run.open_attempts()
        .into_iter()
        .map(|a| InDoubt {
            step: a.unit.clone(),
            attempt: a.attempt,
            intent_seq: a.intent_seq,
        })
        .collect()
}

/// Resumes the last run of a journal.
pub async fn resume(
    given: Option<&LoadedRunbook>,
    mut opts: RunOptions,
) -> Result<Finished, RunError> {
    let path = opts.journal.clone();
    if !path.exists() {
        return Err(JournalError::Missing(path.display().to_string()).into());
    }
    // Verify first: never continue a journal that does not hold up. The writer's lock is
    // taken before the verification, which also gives the writer the chain's end.
    let refused = |verdict: String| RunError::Unverified {
        path: path.display().to_string(),
        verdict,
    };
    // Held against every checkpoint of it: the kept history, checkpoint.txt, any given. A
    // journal shorter than one of them, or other than it, is refused before anything runs.
    let held =
        checkpoints::gather(&path, &opts.checkpoints).map_err(|e| JournalError::Checkpoint {
            path: e.path,
            journal: path.display().to_string(),
            reason: e.source.to_string(),
        })?;
    let opened = Journal::open_verified(
        &path,
        opts.key.clone(),
        Box::new(SystemClock),
        opts.faults.clone(),
        held,
    );
    let mut journal = match opened {
        Ok(Opened::Valid(journal)) => *journal,
        Ok(Opened::Refused(report)) => {
            // A journal signed by another key fails too; say so plainly when it is that.
            return Err(match journal::refusal(&path, &opts.key.id(), &report) {
                e @ (JournalError::WrongKey { .. }
                | JournalError::Contradicts { .. }
                | JournalError::Checkpoint { .. }) => e.into(),
                _ => refused(report.verdict_text),
            });
        }
        Err(JournalError::Source(e)) => return Err(refused(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    // The journal as verified is kept in the history before anything is appended to it, so
    // that what this resume adds is told apart from what another continuation added.
    let kept = journal
        .checkpoint_text()
        .map_err(std::io::Error::other)
        .and_then(|text| checkpoints::keep(&path, journal.len(), &text));
    if let Err(e) = kept {
        opts.ui.line(&format!(
            "warning: cannot keep the checkpoint of the journal as resumed: {e}"
        ));
    }
    journal.crash_after_events(opts.faults.crash_after_events);
    let Some(last) = last_run(&path)? else {
        return Err(RunError::NothingToResume {
            path: path.display().to_string(),
            reason: "no run was started in it".into(),
        });
    };
    if last.finished() {
        return Err(RunError::AlreadyFinished {
            path: path.display().to_string(),
            run_id: last.run_id.clone(),
        });
    }
    let embedded = &last.started.runbook;
    if let Some(g) = given {
        let given_sha = sha256_hex(g.source.as_bytes());
        if given_sha != embedded.sha256 {
            return Err(RunError::RunbookChanged {
                given: g.origin.clone(),
                given_sha,
                embedded: embedded.name.clone(),
                embedded_sha: embedded.sha256.clone(),
            });
        }
    }
    let loaded = runbook::parse(
        &embedded.source,
        &format!("<runbook embedded in {}>", path.display()),
    )?;
    let rb = &loaded.runbook;
    let endpoints = endpoints(rb)?;
    let doubt = in_doubt(&last.timeline);
    journal.append(
        Some(&last.run_id),
        Body::RunResumed(RunResumed {
            reason: if doubt.is_empty() {
                "the previous process stopped between actions".into()
            } else {
                format!(
                    "the previous process stopped with {} intent(s) without outcome",
                    doubt.len()
                )
            },
            in_doubt: doubt,
        }),
    )?;
    execute(
        journal,
        last.run_id.clone(),
        last.events,
        rb,
        endpoints,
        opts,
    )
    .await
}

/// Where a replay of a journal's last run ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayEnd {
    /// The recorded events carry the run through its last step.
    Complete,
    /// The recorded events stop before a decision: this one (see `dispatcher::describe`).
    Next(String),
}

/// Replays the last run of a journal without touching the world or appending anything,
/// optionally over its first `limit` events only (after `run.started`), and says where the
/// replay ends. A divergence between the step logic and the journal is an error.
///
/// The journal's writer lock is taken while replaying (the journal must not be in use).
pub async fn replay(
    path: &Path,
    key: impl Into<SharedSigner>,
    limit: Option<usize>,
) -> Result<ReplayEnd, RunError> {
    let journal = Journal::open_to_replay(path, key)?;
    let Some(mut last) = last_run(path)? else {
        return Err(RunError::NothingToResume {
            path: path.display().to_string(),
            reason: "no run was started in it".into(),
        });
    };
    if let Some(n) = limit {
        last.events.truncate(n);
    }
    let loaded = runbook::parse(&last.started.runbook.source, "<embedded runbook>")?;
    struct Silent;
    impl Ui for Silent {
        fn line(&mut self, _: &str) {}
        fn confirm(&mut self, _: &str) -> bool {
            false
        }
    }
    let env = Env::new(HashMap::new(), loaded.runbook.shell.clone());
    let mut d = Dispatcher::new(
        journal,
        last.run_id.clone(),
        last.events,
        ApprovalPolicy::default(),
        Box::new(Silent),
        Arc::new(AtomicBool::new(false)),
        None,
    );
    d.replay_only = true;
    d.explicit_steps = explicit_steps(&loaded.runbook);
    match drive(&mut d, &env, &loaded.runbook).await {
        Ok(()) if !d.replaying() => Ok(ReplayEnd::Complete),
        Ok(()) => Err(RunError::Halted(Halt::Divergence {
            seq: d.journal().len(),
            recorded: "events after the last step".into(),
            expected: "run.finished".into(),
        })),
        Err(Halt::ReplayEnd { next }) => Ok(ReplayEnd::Next(next)),
        Err(e) => Err(e.into()),
    }
}
