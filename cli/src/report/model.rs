//! What the post-incident report says, gathered from a journal: the verifier's verdict and
//! checks, and the runs, steps, files and decisions read from the journal's events.
//!
//! The verdict comes from the verifier alone (`runledger_verifier::verify`); this module never
//! checks a hash or a signature itself. Everything else is read from the events as stored and is
//! only as trustworthy as that verdict says: the renderers must show [`Incident::proven`] before
//! anything read here. Nothing in this module writes a file or touches the network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use runledger_engine::recovery::rfc3339_micros;
use runledger_verifier::event::results::decode;
use runledger_verifier::event::{
    ActionKind, Body, Decision, Event, FileRef, Finding as ProbeFinding, Observation,
    OutcomeStatus, Precheck, ResultSet, ResultView,
};
use runledger_verifier::keys::TrustedKeys;
use runledger_verifier::lsn::Lsn;
use runledger_verifier::report::{format_duration, Report};
use runledger_verifier::source;
use runledger_verifier::timeline::{
    Attempt, DecisionRecord, End, FileRecord, Finding, NotApplied, Resume, Run, Started, Timeline,
};
use runledger_verifier::verify::step_of;
use runledger_verifier::{verify, Options};
use serde_json::Value;

/// Where the report's trust in the signatures comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustBasis {
    /// A trusted-keys file given with `--trust`: the names of the keys in it.
    File {
        /// The file.
        path: String,
        /// The key names it holds.
        names: Vec<String>,
    },
    /// No `--trust`: the key named by the journal's own `journal.opened`, which proves only that
    /// the journal is consistent with itself, not who wrote it.
    JournalOwnKey,
}

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct Incident {
    /// The verifier's report (verdict, checks, failure).
    pub verification: Report,
    /// What the signatures were checked against.
    pub trust: TrustBasis,
    /// Engine version named by `journal.opened`, as claimed.
    pub engine_version: Option<String>,
    /// Records that could not be read as events (shown, never interpreted).
    pub unreadable: Vec<String>,
    /// The runs, in journal order.
    pub runs: Vec<RunView>,
    /// The recovery objectives of each run, in journal order.
    pub objectives: Vec<super::objectives::Objectives>,
    /// The time-stamp tokens over checkpoints, with the host's time beside the TSA's.
    pub stamps: Vec<StampView>,
}

/// The largest difference between the host's clock and a TSA's that the report lets pass
/// without a flag: 2 s (a TSA's time has whole seconds, and the token is asked for after the
/// checkpoint's last event).
pub const MAX_SKEW_US: i64 = 2_000_000;

/// [`MAX_SKEW_US`] for humans, as the report's skew flags say it: `2 s`.
pub fn max_skew_text() -> String {
    format!("{} s", MAX_SKEW_US / 1_000_000)
}

/// A time-stamp token over a checkpoint, as the verifier found it, with the time the host's
/// clock gave the last event the checkpoint covers.
#[derive(Debug, Clone)]
pub struct StampView {
    /// The verifier's row: the TSA's time, and whether the token was checked.
    pub row: runledger_verifier::report::StampRow,
    /// Seq of the last event the checkpoint covers.
    pub host_seq: Option<u64>,
    /// That event's time, by the host's clock.
    pub host_time: Option<String>,
    /// The host's time minus the TSA's, in microseconds.
    pub skew_us: Option<i64>,
}

impl StampView {
    /// Whether the host's clock and the TSA's differ by more than [`MAX_SKEW_US`].
    pub fn flagged(&self) -> bool {
        self.skew_us.is_some_and(|s| s.abs() > MAX_SKEW_US)
    }

    /// Whether the token was checked against a TSA certificate and holds.
    pub fn verified(&self) -> bool {
        self.row.status == "verified"
    }

    /// The skew for humans: `+31.2 s` (the host ahead of the TSA) or `-0.4 s`.
    pub fn skew_text(&self) -> String {
        match self.skew_us {
            Some(us) => format!(
                "{}{:.1} s",
                if us >= 0 { "+" } else { "-" },
                us.unsigned_abs() as f64 / 1e6
            ),
            None => "-".into(),
        }
    }
}

/// The stamps of `rows` with the host's time of each checkpoint's last event from `events`.
pub fn stamp_views(
    rows: &[runledger_verifier::report::StampRow],
    events: &[Event],
) -> Vec<StampView> {
    rows.iter()
        .map(|row| {
            let last = row.size.checked_sub(1);
            let host_time = last
                .and_then(|seq| events.iter().find(|e| e.seq == seq))
                .map(|e| e.at.clone());
            let skew_us = match (host_time.as_deref().and_then(rfc3339_micros), row.tsa_unix) {
                (Some(host), Some(tsa)) => {
                    i64::try_from(tsa).ok().map(|tsa| host - tsa * 1_000_000)
                }
                _ => None,
            };
            StampView {
                row: row.clone(),
                host_seq: last,
                host_time,
                skew_us,
            }
        })
        .collect()
}

impl Incident {
    /// Whether the content is proven: a valid verdict meeting every requirement.
    pub fn proven(&self) -> bool {
        self.verification.holds()
    }
}

/// One run.
#[derive(Debug, Clone, Default)]
pub struct RunView {
    /// Run id.
    pub id: String,
    /// Seq of `run.started`.
    pub started_seq: u64,
    /// Time of `run.started`.
    pub started_at: String,
    /// Time of `run.finished`.
    pub finished_at: Option<String>,
    /// `succeeded`, `failed`, `aborted`, or `in flight`.
    pub status: String,
    /// The `run.finished` summary.
    pub summary: Option<String>,
    /// Runbook name.
    pub runbook: String,
    /// Runbook version.
    pub version: String,
    /// Runbook sha256.
    pub runbook_sha256: String,
    /// Operator user.
    pub user: String,
    /// Operator host.
    pub host: String,
    /// Parameters as recorded (secrets already redacted by the writer).
    pub parameters: Vec<(String, String)>,
    /// Targets: (name, kind, endpoint).
    pub targets: Vec<(String, String, String)>,
    /// Every `run.resumed`.
    pub resumes: Vec<ResumeView>,
    /// Steps in runbook order, then any step not in the runbook.
    pub steps: Vec<StepView>,
    /// Backup files, in LSN order.
    pub files: Vec<FileView>,
    /// Every approval and operator decision, in order.
    pub decisions: Vec<DecisionView>,
    /// Every backup file (or stretch of log) the run did not apply, and why, as the journal
    /// states them (`data_loss` observations, refused restores).
    pub gaps: Vec<String>,
    /// The recovery point reached.
    pub recovery: Option<RecoveryView>,
}

/// A `run.resumed` event.
#[derive(Debug, Clone)]
pub struct ResumeView {
    /// Its seq.
    pub seq: u64,
    /// Its time.
    pub at: String,
    /// Why the run stopped.
    pub reason: String,
    /// In-doubt step units found (`unit (attempt N, intent seq S)`).
    pub in_doubt: Vec<String>,
}

/// A step of the runbook.
#[derive(Debug, Clone, Default)]
pub struct StepView {
    /// Step id.
    pub id: String,
    /// Title from the embedded runbook.
    pub title: String,
    /// Action from the embedded runbook.
    pub action: String,
    /// Its attempts (one per intent; per-file units included).
    pub attempts: Vec<AttemptView>,
    /// Approvals and decisions given at this step.
    pub decisions: Vec<DecisionView>,
    /// Observations recorded for this step: (seq, name, one-line summary).
    pub observations: Vec<(u64, String, String)>,
}

impl StepView {
    /// Time of the first event of the step.
    pub fn first_at(&self) -> Option<&str> {
        self.attempts.first().map(|a| a.started_at.as_str())
    }

    /// Time the last attempt ended.
    pub fn last_at(&self) -> Option<&str> {
        self.attempts
            .iter()
            .filter_map(|a| a.ended_at.as_deref())
            .max()
    }

    /// The step's overall status: the worst of its attempts' last statuses.
    pub fn status(&self) -> String {
        if self.attempts.is_empty() {
            let noted = |name: &str| self.observations.iter().any(|(_, n, _)| n == name);
            return if noted("skipped")
                || self.decisions.iter().any(|d| d.decision == Decision::Skip)
            {
                "skipped".into()
            } else if self
                .observations
                .iter()
                .any(|(_, n, s)| n == "precheck" && s.starts_with("already in effect"))
            {
                "already in effect".into()
            } else if self.observations.is_empty() && self.decisions.is_empty() {
                "not reached".into()
            } else {
                "nothing to do".into()
            };
        }
        let mut last: BTreeMap<&str, &str> = BTreeMap::new();
        for a in &self.attempts {
            last.insert(a.unit.as_str(), a.status.as_str());
        }
        for bad in ["in flight", "failed", "reconciled: not_applied"] {
            if last.values().any(|s| *s == bad) {
                return bad.into();
            }
        }
        if last.values().all(|s| *s == "succeeded") {
            "succeeded".into()
        } else {
            last.values()
                .find(|s| **s != "succeeded")
                .map(|s| s.to_string())
                .unwrap_or_default()
        }
    }

    /// Executed time: the sum of the attempts' recorded durations.
    pub fn executed_us(&self) -> Option<u64> {
        let mut sum = None;
        for a in &self.attempts {
            if let Some(d) = a.duration_us {
                sum = Some(sum.unwrap_or(0) + d);
            }
        }
        sum
    }
}

/// One attempt: an intent and what ended it.
#[derive(Debug, Clone, Default)]
pub struct AttemptView {
    /// The step unit (`step` or `step/file`).
    pub unit: String,
    /// Attempt number.
    pub attempt: u64,
    /// Seq of the intent.
    pub intent_seq: u64,
    /// Time of the intent.
    pub started_at: String,
    /// Effect class.
    pub effect: String,
    /// The exact command.
    pub command: String,
    /// Target name.
    pub target: String,
    /// Input files.
    pub inputs: Vec<FileRef>,
    /// Time of the outcome or reconciliation.
    pub ended_at: Option<String>,
    /// `succeeded`, `failed`, `reconciled: <verdict>` or `in flight`.
    pub status: String,
    /// Recorded duration.
    pub duration_us: Option<u64>,
    /// Server messages and errors, each `Msg N: text`.
    pub messages: Vec<String>,
    /// Other result lines (reason, exit code, rows affected, …).
    pub result_lines: Vec<String>,
    /// Result sets: (columns, rows), capped.
    pub tables: Vec<(Vec<String>, Vec<Vec<String>>)>,
    /// Captured output excerpts: (stream name, text).
    pub output: Vec<(String, String)>,
    /// The reconciliation after a crash, if this attempt was reconciled.
    pub reconciliation: Option<ReconciliationView>,
    /// The server's error numbers in the result (its error and its messages).
    pub error_numbers: Vec<i64>,
    /// The file was refused before anything was restored from it.
    pub refused: bool,
}

/// A `step.reconciled`.
#[derive(Debug, Clone, Default)]
pub struct ReconciliationView {
    /// Its seq.
    pub seq: u64,
    /// What was executed to find out.
    pub probe: String,
    /// What it found, as compact JSON.
    pub probe_result: String,
    /// `applied`, `not_applied` or `operator_decided`.
    pub verdict: String,
}

/// An approval or operator decision.
#[derive(Debug, Clone, Default)]
pub struct DecisionView {
    /// Its seq.
    pub seq: u64,
    /// Its time.
    pub at: String,
    /// The step unit.
    pub step: String,
    /// Who gave it.
    pub operator: String,
    /// `approved`, `accept_data_loss`, `declined`, …
    pub decision: Decision,
    /// What was approved.
    pub text: String,
    /// The intent approved: seq.
    pub intent_seq: Option<u64>,
}

/// A backup file named in the journal.
#[derive(Debug, Clone, Default)]
pub struct FileView {
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of its content.
    pub sha256: String,
    /// FirstLSN, if a header was recorded.
    pub first_lsn: Option<String>,
    /// LastLSN, if a header was recorded.
    pub last_lsn: Option<String>,
    /// ServerName of the header.
    pub server: Option<String>,
    /// Time of the successful copy.
    pub copied_at: Option<String>,
    /// Time of the successful restore.
    pub restored_at: Option<String>,
    /// Notes (already applied, refused, not restored, …).
    pub notes: Vec<String>,
}

/// The recovery point the database reached.
#[derive(Debug, Clone, Default)]
pub struct RecoveryView {
    /// The LSN (redo start) the database stood at before recovery.
    pub lsn: String,
    /// Where this comes from.
    pub evidence: String,
    /// Whether a recovery step succeeded afterwards.
    pub recovered: bool,
    /// The newest LastLSN among the recorded backup headers.
    pub newest_available: Option<String>,
}

/// Most result rows shown per result set.
const MAX_ROWS: usize = 20;
/// Longest cell or excerpt shown, in characters.
const MAX_CELL: usize = 400;

/// Verifies the journal (through the verifier) and reads what the report shows.
pub fn gather(
    journal: &Path,
    trust: Option<&Path>,
    checkpoints: &[PathBuf],
    tsa_certs: &[PathBuf],
) -> Result<Incident> {
    let events = read_events(journal)?;
    let (trusted, basis) = match trust {
        Some(path) => {
            let keys = TrustedKeys::load(path)
                .with_context(|| format!("cannot read trusted keys {}", path.display()))?;
            let names = keys.iter().map(|k| k.name.clone()).collect();
            (
                keys,
                TrustBasis::File {
                    path: path.display().to_string(),
                    names,
                },
            )
        }
        None => (own_key(journal, &events.0)?, TrustBasis::JournalOwnKey),
    };
    let mut options = Options::default();
    for cp in checkpoints {
        let text = std::fs::read_to_string(cp)
            .with_context(|| format!("cannot read checkpoint {}", cp.display()))?;
        options.checkpoints.push((cp.display().to_string(), text));
    }
    options.tsa_certs =
        runledger_verifier::timestamp::load_certs(tsa_certs).map_err(anyhow::Error::msg)?;
    runledger_verifier::timestamp::add_stamps(&mut options, journal, checkpoints)
        .map_err(anyhow::Error::msg)?;
    let verification = verify(journal, &trusted, &options)
        .with_context(|| format!("cannot verify {}", journal.display()))?;
    let engine_version = events.0.iter().find_map(|e| match &e.body {
        Body::JournalOpened(o) => Some(o.engine_version.clone()),
        _ => None,
    });
    let stamps = stamp_views(&verification.trusted_time, &events.0);
    Ok(Incident {
        verification,
        trust: basis,
        engine_version,
        stamps,
        runs: runs(&events.0),
        objectives: super::objectives::objectives(&events.0, journal),
        unreadable: events.1,
    })
}

/// Every record that reads as an event, and a line for each that does not.
pub(super) fn read_events(journal: &Path) -> Result<(Vec<Event>, Vec<String>)> {
    let format = source::detect(journal)
        .with_context(|| format!("cannot read journal {}", journal.display()))?;
    let mut events = Vec::new();
    let mut unreadable = Vec::new();
    let walk = source::for_each_record(journal, format, |r| {
        match Event::from_canonical_bytes(&r.event) {
            Ok(e) => events.push(e),
            Err(e) => unreadable.push(format!("{}: {e}", r.position)),
        }
        true
    });
    if let Err(e) = walk {
        unreadable.push(e.to_string());
    }
    if events.is_empty() && !unreadable.is_empty() {
        anyhow::bail!(
            "cannot read journal {}: no event could be read ({})",
            journal.display(),
            unreadable[0]
        );
    }
    Ok((events, unreadable))
}

/// The key the journal names in its `journal.opened`, as a one-key trust set.
fn own_key(journal: &Path, events: &[Event]) -> Result<TrustedKeys> {
    let key = events
        .iter()
        .find_map(|e| match &e.body {
            Body::JournalOpened(o) if e.seq == 0 => Some(o.public_key.clone()),
            _ => None,
        })
        .with_context(|| {
            format!(
                "journal {} has no readable journal.opened at seq 0 naming its key; give --trust KEYS",
                journal.display()
            )
        })?;
    TrustedKeys::named_by_journal(&key)
        .with_context(|| format!("the key named by {} is not usable", journal.display()))
}

/// A value as the format spells it (`succeeded`, `guarded`): its serde name, for display.
fn serde_word<T: serde::Serialize>(t: &T) -> String {
    match serde_json::to_value(t) {
        Ok(Value::String(s)) => s,
        Ok(v) => v.to_string(),
        Err(_) => "?".into(),
    }
}

/// Cuts text to [`MAX_CELL`] characters.
pub fn cap(s: &str) -> String {
    if s.chars().count() <= MAX_CELL {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX_CELL).collect();
        t.push_str(" …");
        t
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => cap(s),
        Value::Null => "NULL".into(),
        other => cap(&other.to_string()),
    }
}

/// Builds the runs from the events, in order: what happened from the journal's timeline, the
/// observations' summaries from the events themselves.
fn runs(events: &[Event]) -> Vec<RunView> {
    let timeline = Timeline::fold(events);
    timeline
        .runs
        .iter()
        .filter_map(|run| {
            let started = run.started.as_ref()?;
            let observations = events.iter().filter_map(|e| match &e.body {
                // The run's plan is the plan check's, and belongs to no step.
                Body::Observation(o)
                    if e.run.as_deref() == Some(run.id.as_str())
                        && o.name != runledger_verifier::plan_check::PLAN_OBSERVATION =>
                {
                    Some((e.seq, o))
                }
                _ => None,
            });
            Some(run_view(run, started, observations.collect()))
        })
        .collect()
}

/// One thing that happened at a step, in journal order: the steps not in the runbook are
/// listed in the order something first happened at them.
enum AtStep<'a> {
    Observed(&'a Observation),
    Intended(&'a Attempt),
    Decided(&'a DecisionRecord),
}

fn run_view(run: &Run, started: &Started, observations: Vec<(u64, &Observation)>) -> RunView {
    let mut view = run_header(run, started);
    place_at_steps(&mut view, run, observations);
    view.resumes = run.resumes.iter().map(resume_view).collect();
    view.gaps = run
        .not_applied()
        .into_iter()
        .map(|(f, n)| gap_line(f, n))
        .collect();
    view.recovery = run.recovery_point.as_ref().map(|p| RecoveryView {
        lsn: p.lsn.clone(),
        evidence: format!(
            "database_position observed at seq {} (step {}): RESTORING, redo_start_lsn {}",
            p.seq, p.unit, p.lsn
        ),
        ..RecoveryView::default()
    });
    if let Some(f) = &run.finished {
        view.finished_at = Some(f.at.clone());
        view.status = serde_word(&f.status);
        view.summary = Some(f.summary.clone());
    }
    let files = run.files.values().map(|f| file_view(run, f)).collect();
    finish_run(&mut view, files);
    view
}

/// The run as `run.started` describes it, its steps those of the embedded runbook.
fn run_header(run: &Run, started: &Started) -> RunView {
    let s = &started.body;
    RunView {
        id: run.id.clone(),
        started_seq: started.seq,
        started_at: started.at.clone(),
        status: "in flight".into(),
        runbook: s.runbook.name.clone(),
        version: s.runbook.version.clone(),
        runbook_sha256: s.runbook.sha256.clone(),
        user: s.operator.user.clone(),
        host: s.operator.host.clone(),
        parameters: s
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        targets: s
            .targets
            .iter()
            .map(|t| (t.name.clone(), t.kind.clone(), t.endpoint.clone()))
            .collect(),
        steps: runbook_steps(&s.runbook.source),
        ..RunView::default()
    }
}

/// Places the observations, attempts and decisions at their steps in journal order, so that a
/// step not in the runbook is listed where something first happened at it.
fn place_at_steps(view: &mut RunView, run: &Run, observations: Vec<(u64, &Observation)>) {
    let mut at_steps: Vec<(u64, AtStep<'_>)> = observations
        .into_iter()
        .map(|(seq, o)| (seq, AtStep::Observed(o)))
        .collect();
    at_steps.extend(
        run.attempts
            .iter()
            .map(|a| (a.intent_seq, AtStep::Intended(a))),
    );
    at_steps.extend(run.decisions.iter().map(|d| (d.seq, AtStep::Decided(d))));
    at_steps.sort_by_key(|(seq, _)| *seq);
    for (seq, thing) in at_steps {
        match thing {
            AtStep::Observed(o) => {
                let summary = observation_summary(&o.name, &o.data);
                step_mut(view, o.step.as_deref().unwrap_or_default())
                    .observations
                    .push((seq, o.name.clone(), summary));
            }
            AtStep::Intended(a) => {
                let attempt = attempt_view(a);
                step_mut(view, &a.unit).attempts.push(attempt);
            }
            AtStep::Decided(d) => {
                let d = decision_view(d);
                step_mut(view, &d.step).decisions.push(d.clone());
                view.decisions.push(d);
            }
        }
    }
}

/// A file given up, with the finding that gave it up: `file: reason (error N) (seq S, step X)`.
fn gap_line(f: &Finding, n: &NotApplied) -> String {
    format!(
        "{}: {}{} (seq {}, step {})",
        if n.file.is_empty() { "?" } else { &n.file },
        n.reason,
        n.error.map(|n| format!(" (error {n})")).unwrap_or_default(),
        f.seq,
        f.unit
    )
}

fn attempt_view(a: &Attempt) -> AttemptView {
    let mut view = AttemptView {
        unit: a.unit.clone(),
        attempt: a.attempt,
        intent_seq: a.intent_seq,
        started_at: a.intent_at.clone(),
        effect: serde_word(&a.effect),
        command: a.command.clone(),
        target: a.target.clone(),
        inputs: a.inputs.clone(),
        ended_at: a.end.at().map(str::to_string),
        status: "in flight".into(),
        ..AttemptView::default()
    };
    match &a.end {
        End::Open => {}
        End::Outcome {
            status,
            duration_us,
            result,
            ..
        } => {
            view.status = serde_word(status);
            view.duration_us = Some(*duration_us);
            read_result(result.as_ref().unwrap_or(&Value::Null), &mut view);
        }
        End::Reconciled {
            seq,
            verdict,
            probe,
            probe_result,
            ..
        } => {
            let verdict = serde_word(verdict);
            view.status = format!("reconciled: {verdict}");
            view.reconciliation = Some(ReconciliationView {
                seq: *seq,
                probe: probe.clone().unwrap_or_default(),
                probe_result: cap(&probe_result.clone().unwrap_or_default().to_string()),
                verdict,
            });
        }
    }
    view
}

fn decision_view(d: &DecisionRecord) -> DecisionView {
    DecisionView {
        seq: d.seq,
        at: d.at.clone(),
        step: d.unit.clone(),
        operator: d.operator.clone(),
        decision: d.decision.clone(),
        text: d.text.clone(),
        intent_seq: d.intent_seq,
    }
}

fn resume_view(r: &Resume) -> ResumeView {
    ResumeView {
        seq: r.seq,
        at: r.at.clone(),
        reason: r.reason.clone(),
        in_doubt: r
            .in_doubt
            .iter()
            .map(|(unit, attempt, seq)| format!("{unit} (attempt {attempt}, intent seq {seq})"))
            .collect(),
    }
}

/// A backup file as the report shows it, its notes (restores skipped, copies and restores
/// that failed, with the failure's reason) in journal order.
fn file_view(run: &Run, f: &FileRecord) -> FileView {
    let mut notes: Vec<(u64, String)> = f
        .restores_skipped
        .iter()
        .map(|(seq, why)| (*seq, format!("restore skipped: {why}")))
        .collect();
    if let Some((unit, seq, at)) = &f.written {
        notes.push((
            *seq,
            format!(
                "written by {unit} at {at} (seq {seq}), whose outcome records this size and sha256"
            ),
        ));
    }
    for (unit, seq, at) in &f.read_by {
        notes.push((
            *seq,
            format!("read by {unit} at {at} (seq {seq}), whose intent names this size and sha256"),
        ));
    }
    for (action, seq, at) in &f.failed {
        let result = run
            .attempts
            .iter()
            .find_map(|a| match &a.end {
                End::Outcome { seq: s, result, .. } if s == seq => result.clone(),
                _ => None,
            })
            .unwrap_or_default();
        let what = if ActionKind::parse(action) == Some(ActionKind::CopyBackups) {
            "copy"
        } else {
            "restore"
        };
        notes.push((
            *seq,
            format!("{what} failed at {at}: {}", failure_text(&result)),
        ));
    }
    notes.sort_by_key(|(seq, _)| *seq);
    FileView {
        name: f.name.clone(),
        size: f.size,
        sha256: f.sha256.clone(),
        first_lsn: f.first_lsn.clone(),
        last_lsn: f.last_lsn.clone(),
        server: f.server.clone(),
        copied_at: f.copied.as_ref().map(|(_, at)| at.clone()),
        restored_at: f.restored.as_ref().map(|(_, at)| at.clone()),
        notes: notes.into_iter().map(|(_, n)| n).collect(),
    }
}

/// The runbook's steps (id, title, action) from its embedded TOML source.
fn runbook_steps(source: &str) -> Vec<StepView> {
    #[derive(serde::Deserialize)]
    struct Book {
        #[serde(default)]
        steps: Vec<Step>,
    }
    #[derive(serde::Deserialize)]
    struct Step {
        id: String,
        #[serde(default)]
        title: String,
        #[serde(default)]
        action: String,
    }
    toml::from_str::<Book>(source)
        .map(|b| {
            b.steps
                .into_iter()
                .map(|s| StepView {
                    id: s.id,
                    title: s.title,
                    action: s.action,
                    ..StepView::default()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn step_mut<'r>(run: &'r mut RunView, id: &str) -> &'r mut StepView {
    let id = step_of(id);
    match run.steps.iter().position(|s| s.id == id) {
        Some(i) => &mut run.steps[i],
        None => {
            run.steps.push(StepView {
                id: id.to_string(),
                title: "(not in the embedded runbook)".into(),
                ..StepView::default()
            });
            run.steps.last_mut().expect("just pushed")
        }
    }
}

/// `Msg N: text` of a statement's error; `NULL` for an error the server did not number.
fn error_line(e: &runledger_verifier::event::SqlError) -> String {
    let number = e
        .number
        .map_or_else(|| "NULL".to_string(), |n| n.to_string());
    format!("Msg {number}: {}", cap(&e.text))
}

fn failure_text(result: &Value) -> String {
    let said = ResultView::of(result);
    if let Some(r) = said.reason {
        return cap(&r);
    }
    if let Some(e) = said.error {
        return error_line(&e);
    }
    cap(&result.to_string())
}

/// Takes a `step.outcome` result apart into messages, lines, tables and output.
fn read_result(result: &Value, a: &mut AttemptView) {
    let said = ResultView::of(result);
    a.refused |= said.refused;
    if let Some(e) = &said.error {
        a.messages.push(error_line(e));
        a.error_numbers.extend(e.number);
    }
    for m in &said.messages {
        a.messages.push(format!(
            "Msg {}, Level {}, State {}: {}",
            m.number,
            m.severity,
            m.state,
            cap(&m.text)
        ));
        a.error_numbers.push(i64::from(m.number));
    }
    let Some(obj) = result.as_object() else {
        if !result.is_null() {
            a.result_lines.push(cap(&result.to_string()));
        }
        return;
    };
    for (k, v) in obj {
        match k.as_str() {
            "error" | "messages" | "stdout_sha256" | "stderr_sha256" => {}
            "result_sets" | "rows" => {
                for rs in decode::<Vec<ResultSet>>(v).unwrap_or_default() {
                    let columns = rs.columns.iter().map(|c| cap(c)).collect();
                    let rows: Vec<Vec<String>> = rs
                        .rows
                        .iter()
                        .take(MAX_ROWS)
                        .map(|r| r.iter().map(scalar).collect())
                        .collect();
                    a.tables.push((columns, rows));
                    let n = rs.rows.len();
                    if n > MAX_ROWS {
                        a.result_lines
                            .push(format!("… {} more rows not shown", n - MAX_ROWS));
                    }
                }
            }
            "stdout" | "stderr" => {
                let text = v.as_str().unwrap_or_default();
                if !text.trim().is_empty() {
                    let sha = obj
                        .get(&format!("{k}_sha256"))
                        .and_then(Value::as_str)
                        .map(|h| format!(" (sha256 {h})"))
                        .unwrap_or_default();
                    a.output.push((format!("{k}{sha}"), cap(text)));
                }
            }
            "result" => read_result(v, a),
            "rows_affected" if v.as_array().is_some_and(Vec::is_empty) => {}
            _ => a.result_lines.push(format!("{k}: {}", scalar(v))),
        }
    }
}

fn observation_summary(name: &str, data: &Value) -> String {
    if let Some(files) = data.get("files").and_then(Value::as_array) {
        return format!(
            "{} file(s) in {}",
            files.len(),
            data.get("dir").map(scalar).unwrap_or_default()
        );
    }
    if let Some(h) = data.get("headers").and_then(Value::as_array) {
        let unreadable = data
            .get("unreadable")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        return if unreadable == 0 {
            format!("{} backup header(s) read", h.len())
        } else {
            format!(
                "{} backup header(s) read, {unreadable} could not be read",
                h.len()
            )
        };
    }
    if name == runledger_engine::dispatcher::PRECHECK_OBSERVATION {
        let found = decode::<Precheck>(data);
        let probe = found.as_ref().map(|p| cap(&p.probe)).unwrap_or_default();
        return match found.map(|p| p.finding) {
            Some(ProbeFinding::Applied) => format!("already in effect (probe: {})", cap(&probe)),
            Some(ProbeFinding::NotApplied) => format!("not in effect yet (probe: {})", cap(&probe)),
            _ => format!("the probe could not tell (probe: {})", cap(&probe)),
        };
    }
    if name == runledger_engine::recovery::DATA_LOSS_OBSERVATION {
        return format!(
            "recovery point LSN {}; {} file(s) not applied",
            data["recovery_point"]["lsn"].as_str().unwrap_or("?"),
            data["not_applied"].as_array().map_or(0, Vec::len)
        );
    }
    if name == "database_position" {
        return format!(
            "state {}, redo_start_lsn {}",
            data.get("state").map(scalar).unwrap_or_default(),
            data.get("redo_start_lsn").map(scalar).unwrap_or_default()
        );
    }
    // Some observations record a Rust `Result` as `{"Ok": …}` / `{"Err": …}`.
    if let Some(ok) = data.get("Ok") {
        return match ok {
            Value::Array(a) if a.is_empty() => "none found".into(),
            Value::Array(a) => format!("{} found: {}", a.len(), cap(&ok.to_string())),
            other => scalar(other),
        };
    }
    if let Some(err) = data.get("Err") {
        return format!("error: {}", scalar(err));
    }
    cap(&data.to_string())
}

/// Orders the files by LSN, notes what this run did not restore, and settles the recovery point.
fn finish_run(run: &mut RunView, mut list: Vec<FileView>) {
    let lsn = |s: &Option<String>| s.as_deref().and_then(Lsn::parse);
    list.sort_by(|a, b| {
        (
            lsn(&a.last_lsn).is_none(),
            lsn(&a.first_lsn),
            lsn(&a.last_lsn),
            &a.name,
        )
            .cmp(&(
                lsn(&b.last_lsn).is_none(),
                lsn(&b.first_lsn),
                lsn(&b.last_lsn),
                &b.name,
            ))
    });
    let newest = list.iter().filter_map(|f| lsn(&f.last_lsn)).max();
    let kind = |s: &StepView| ActionKind::parse(&s.action);
    let restoring = run
        .steps
        .iter()
        .any(|s| kind(s) == Some(ActionKind::RestoreLogs));
    for f in &mut list {
        if f.restored_at.is_none() && f.notes.is_empty() && restoring {
            f.notes.push("not restored by this run".into());
        }
    }
    run.files = list;
    let recovered = run.steps.iter().any(|s| {
        kind(s) == Some(ActionKind::RecoverDatabase)
            && s.status() == serde_word(&OutcomeStatus::Succeeded)
    });
    if let Some(r) = &mut run.recovery {
        r.recovered = recovered;
        r.newest_available = newest.map(|n| n.to_string());
    }
    // A refusal the run's own finding already names (with its reason, seq and step) is not
    // listed a second time; one no finding names (a journal written before findings were
    // recorded) is.
    let named = |gaps: &[String], unit: &str| {
        let file = unit.rsplit('/').next().unwrap_or(unit);
        gaps.iter().any(|g| g.starts_with(&format!("{file}: ")))
    };
    for s in &run.steps {
        for a in &s.attempts {
            if named(&run.gaps, &a.unit) {
                continue;
            }
            // 4305: the log begins after the database's restore point.
            if a.error_numbers.contains(&4305) {
                run.gaps.push(format!(
                    "{} refused by the server as too recent (seq {}): {}",
                    a.unit,
                    a.intent_seq,
                    a.messages.join("; ")
                ));
            }
            if a.refused {
                run.gaps
                    .push(format!("{} refused (seq {})", a.unit, a.intent_seq));
            }
        }
    }
    // "None not applied" is only said after checking: a recorded log that ends after the
    // recovery point and was not restored is listed even when no event named it.
    if let Some(point) = run.recovery.as_ref().and_then(|r| Lsn::parse(&r.lsn)) {
        for f in &run.files {
            let ends_after = lsn(&f.last_lsn).is_some_and(|l| l > point);
            let listed = run
                .gaps
                .iter()
                .any(|g| g.starts_with(&format!("{}: ", f.name)));
            if ends_after && f.restored_at.is_none() && !listed {
                run.gaps.push(format!(
                    "{}: not restored, although its log ends after the recovery point (LastLSN {})",
                    f.name,
                    f.last_lsn.clone().unwrap_or_default()
                ));
            }
        }
    }
}

/// The time from `from` to `to` for humans, or `-`.
pub fn span(from: &str, to: Option<&str>) -> String {
    match (rfc3339_micros(from), to.and_then(rfc3339_micros)) {
        (Some(a), Some(b)) if b >= a => format_duration((b - a) as u64),
        _ => "-".into(),
    }
}
