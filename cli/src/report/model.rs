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
use runledger_verifier::event::{Body, Decision, Event, FileRef};
use runledger_verifier::keys::TrustedKeys;
use runledger_verifier::report::{format_duration, Report};
use runledger_verifier::source;
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
    /// Files a `data_loss` observation names that no action or decision followed yet: they
    /// count once something follows, and not at all when a resume read the world again.
    pub pending_gaps: Vec<String>,
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
    /// Paths under which the journal names it.
    pub paths: Vec<String>,
    /// Size.
    pub size: u64,
    /// sha256.
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
pub fn gather(journal: &Path, trust: Option<&Path>, checkpoints: &[PathBuf]) -> Result<Incident> {
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
    let verification = verify(journal, &trusted, &options)
        .with_context(|| format!("cannot verify {}", journal.display()))?;
    let engine_version = events.0.iter().find_map(|e| match &e.body {
        Body::JournalOpened(o) => Some(o.engine_version.clone()),
        _ => None,
    });
    Ok(Incident {
        verification,
        trust: basis,
        engine_version,
        runs: runs(&events.0),
        unreadable: events.1,
    })
}

/// Every record that reads as an event, and a line for each that does not.
fn read_events(journal: &Path) -> Result<(Vec<Event>, Vec<String>)> {
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
    TrustedKeys::parse(&format!("journal-named-key {key}\n"), "journal.opened")
        .with_context(|| format!("the key named by {} is not usable", journal.display()))
}

fn word<T: serde::Serialize>(t: &T) -> String {
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

/// Builds the runs from the events, in order.
fn runs(events: &[Event]) -> Vec<RunView> {
    let mut runs: Vec<RunView> = Vec::new();
    // Per run: the backup files, keyed by (name, sha256) so that changed content shows twice.
    let mut headers: Vec<BTreeMap<(String, String), FileView>> = Vec::new();
    for e in events {
        let Some(run_id) = e.run.as_deref() else {
            continue;
        };
        if let Body::RunStarted(s) = &e.body {
            let mut run = RunView {
                id: run_id.to_string(),
                started_seq: e.seq,
                started_at: e.at.clone(),
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
                ..RunView::default()
            };
            run.steps = runbook_steps(&s.runbook.source);
            runs.push(run);
            headers.push(BTreeMap::new());
            continue;
        }
        let Some(i) = runs.iter().rposition(|r| r.id == run_id) else {
            continue;
        };
        let run = &mut runs[i];
        let files = &mut headers[i];
        match &e.body {
            Body::Observation(o) => {
                let step = o.step.clone().unwrap_or_default();
                if o.name.ends_with("headers") {
                    read_headers(&o.data, files);
                }
                if o.name == "database_position" {
                    if let (Some("RESTORING"), Some(lsn)) = (
                        o.data.get("state").and_then(Value::as_str),
                        o.data.get("redo_start_lsn").and_then(Value::as_str),
                    ) {
                        run.recovery = Some(RecoveryView {
                            lsn: lsn.to_string(),
                            evidence: format!(
                                "database_position observed at seq {} (step {step}): RESTORING, redo_start_lsn {lsn}",
                                e.seq
                            ),
                            ..RecoveryView::default()
                        });
                    }
                }
                if o.name == runledger_engine::recovery::DATA_LOSS_OBSERVATION {
                    for f in o.data["not_applied"].as_array().into_iter().flatten() {
                        let line = format!(
                            "{}: {}{} (seq {}, step {step})",
                            f["file"].as_str().unwrap_or("?"),
                            f["reason"].as_str().unwrap_or(""),
                            f["error"]
                                .as_i64()
                                .map(|n| format!(" (error {n})"))
                                .unwrap_or_default(),
                            e.seq
                        );
                        run.pending_gaps.push(line);
                    }
                }
                // A fact of the whole run (its plan) belongs to no step.
                if o.step.is_some() {
                    let summary = observation_summary(&o.name, &o.data);
                    step_mut(run, &step)
                        .observations
                        .push((e.seq, o.name.clone(), summary));
                }
            }
            Body::StepIntent(t) => {
                commit_gaps(run);
                let attempt = AttemptView {
                    unit: t.step.clone(),
                    attempt: t.attempt,
                    intent_seq: e.seq,
                    started_at: e.at.clone(),
                    effect: word(&t.effect),
                    command: t.command.clone(),
                    target: t.target.clone(),
                    inputs: t.inputs.clone(),
                    status: "in flight".into(),
                    ..AttemptView::default()
                };
                for f in &t.inputs {
                    let name = f.path.rsplit(['/', '\\']).next().unwrap_or(&f.path);
                    let entry = files
                        .entry((name.to_string(), f.sha256.clone()))
                        .or_insert_with(|| FileView {
                            name: name.to_string(),
                            size: f.size,
                            sha256: f.sha256.clone(),
                            ..FileView::default()
                        });
                    if !entry.paths.contains(&f.path) {
                        entry.paths.push(f.path.clone());
                    }
                }
                step_mut(run, step_of(&t.step)).attempts.push(attempt);
            }
            Body::StepOutcome(o) => {
                commit_gaps(run);
                let status = word(&o.status);
                let (action, inputs) =
                    (run_action(run, &o.step), a_inputs(run, &o.step, o.attempt));
                if let Some(a) = attempt_mut(run, &o.step, o.attempt) {
                    a.ended_at = Some(e.at.clone());
                    a.status = status.clone();
                    a.duration_us = Some(o.duration_us);
                    read_result(&o.result, a);
                    file_event(files, &action, &inputs, &status, &e.at, &o.result);
                }
            }
            Body::StepReconciled(r) => {
                let verdict = word(&r.verdict);
                let (action, inputs) =
                    (run_action(run, &r.step), a_inputs(run, &r.step, r.attempt));
                if let Some(a) = attempt_mut(run, &r.step, r.attempt) {
                    a.ended_at = Some(e.at.clone());
                    a.status = format!("reconciled: {verdict}");
                    a.reconciliation = Some(ReconciliationView {
                        seq: e.seq,
                        probe: r.probe.clone(),
                        probe_result: cap(&r.probe_result.to_string()),
                        verdict: verdict.clone(),
                    });
                    if verdict == "applied" {
                        file_event(files, &action, &inputs, "succeeded", &e.at, &Value::Null);
                    }
                }
            }
            Body::Approval(a) => {
                commit_gaps(run);
                let d = DecisionView {
                    seq: e.seq,
                    at: e.at.clone(),
                    step: a.step.clone(),
                    operator: a.operator.clone(),
                    decision: a.decision.clone(),
                    text: a.text.clone(),
                    intent_seq: a.intent.as_ref().map(|i| i.seq),
                };
                step_mut(run, step_of(&a.step)).decisions.push(d.clone());
                run.decisions.push(d);
            }
            Body::RunResumed(r) => {
                // What the stopped process read and nothing acted on was read again.
                run.pending_gaps.clear();
                run.resumes.push(ResumeView {
                    seq: e.seq,
                    at: e.at.clone(),
                    reason: r.reason.clone(),
                    in_doubt: r
                        .in_doubt
                        .iter()
                        .map(|d| {
                            format!(
                                "{} (attempt {}, intent seq {})",
                                d.step, d.attempt, d.intent_seq
                            )
                        })
                        .collect(),
                })
            }
            Body::RunFinished(f) => {
                commit_gaps(run);
                run.finished_at = Some(e.at.clone());
                run.status = word(&f.status);
                run.summary = Some(f.summary.clone());
            }
            Body::JournalOpened(_) | Body::RunStarted(_) => {}
        }
    }
    for (run, files) in runs.iter_mut().zip(headers) {
        finish_run(run, files);
    }
    runs
}

/// Counts the files a `data_loss` observation named once an action or decision follows it.
fn commit_gaps(run: &mut RunView) {
    for line in run.pending_gaps.drain(..) {
        let file = line.split(": ").next().unwrap_or("").to_string();
        if !run.gaps.iter().any(|g| g.starts_with(&format!("{file}: "))) {
            run.gaps.push(line);
        }
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

fn attempt_mut<'r>(run: &'r mut RunView, unit: &str, attempt: u64) -> Option<&'r mut AttemptView> {
    step_mut(run, unit)
        .attempts
        .iter_mut()
        .rev()
        .find(|a| a.unit == unit && a.attempt == attempt)
}

fn run_action(run: &mut RunView, unit: &str) -> String {
    step_mut(run, unit).action.clone()
}

fn a_inputs(run: &mut RunView, unit: &str, attempt: u64) -> Vec<FileRef> {
    attempt_mut(run, unit, attempt)
        .map(|a| a.inputs.clone())
        .unwrap_or_default()
}

/// Records a copy or restore of the input files at `at`.
fn file_event(
    files: &mut BTreeMap<(String, String), FileView>,
    action: &str,
    inputs: &[FileRef],
    status: &str,
    at: &str,
    result: &Value,
) {
    for f in inputs {
        let name = f.path.rsplit(['/', '\\']).next().unwrap_or(&f.path);
        let Some(file) = files.get_mut(&(name.to_string(), f.sha256.clone())) else {
            continue;
        };
        let skipped = result.get("skipped").and_then(Value::as_str);
        match (action, status) {
            ("copy_backups", "succeeded") => file.copied_at = Some(at.to_string()),
            ("restore_logs", "succeeded") if skipped.is_some() => file
                .notes
                .push(format!("restore skipped: {}", skipped.unwrap_or_default())),
            ("restore_logs", "succeeded") => file.restored_at = Some(at.to_string()),
            (_, "failed") => file.notes.push(format!(
                "{} failed at {at}: {}",
                if action == "copy_backups" {
                    "copy"
                } else {
                    "restore"
                },
                failure_text(result)
            )),
            _ => {}
        }
    }
}

fn failure_text(result: &Value) -> String {
    if let Some(r) = result.get("reason").and_then(Value::as_str) {
        return cap(r);
    }
    if let Some(err) = result.get("error") {
        return format!(
            "Msg {}: {}",
            err.get("number").map(scalar).unwrap_or_else(|| "?".into()),
            err.get("text").map(scalar).unwrap_or_default()
        );
    }
    cap(&result.to_string())
}

/// Reads the header list of a `*_headers` observation.
fn read_headers(data: &Value, files: &mut BTreeMap<(String, String), FileView>) {
    let Some(list) = data.get("headers").and_then(Value::as_array) else {
        return;
    };
    for h in list {
        let s = |k: &str| h.get(k).and_then(Value::as_str).map(str::to_string);
        let (Some(name), Some(sha)) = (s("file"), s("sha256")) else {
            continue;
        };
        let entry = files
            .entry((name.clone(), sha.clone()))
            .or_insert_with(|| FileView {
                name,
                sha256: sha,
                size: h.get("size").and_then(Value::as_u64).unwrap_or(0),
                ..FileView::default()
            });
        entry.first_lsn = s("first_lsn").or(entry.first_lsn.take());
        entry.last_lsn = s("last_lsn").or(entry.last_lsn.take());
        entry.server = s("server").or(entry.server.take());
        if let Some(p) = s("path") {
            if !entry.paths.contains(&p) {
                entry.paths.push(p);
            }
        }
    }
}

/// Takes a `step.outcome` result apart into messages, lines, tables and output.
fn read_result(result: &Value, a: &mut AttemptView) {
    if let Some(err) = result.get("error") {
        a.messages.push(format!(
            "Msg {}: {}",
            err.get("number").map(scalar).unwrap_or_else(|| "?".into()),
            err.get("text").map(scalar).unwrap_or_default()
        ));
    }
    if let Some(msgs) = result.get("messages").and_then(Value::as_array) {
        for m in msgs {
            a.messages.push(format!(
                "Msg {}, Level {}, State {}: {}",
                m.get("number").map(scalar).unwrap_or_default(),
                m.get("severity").map(scalar).unwrap_or_default(),
                m.get("state").map(scalar).unwrap_or_default(),
                m.get("text").map(scalar).unwrap_or_default()
            ));
        }
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
                for rs in v.as_array().into_iter().flatten() {
                    let columns = rs
                        .get("columns")
                        .and_then(Value::as_array)
                        .map(|c| c.iter().map(scalar).collect())
                        .unwrap_or_default();
                    let all = rs.get("rows").and_then(Value::as_array);
                    let rows: Vec<Vec<String>> = all
                        .into_iter()
                        .flatten()
                        .take(MAX_ROWS)
                        .map(|r| r.as_array().into_iter().flatten().map(scalar).collect())
                        .collect();
                    a.tables.push((columns, rows));
                    let n = all.map_or(0, Vec::len);
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
    if name == "precheck" {
        let probe = data.get("probe").map(scalar).unwrap_or_default();
        return match data.get("finding").and_then(Value::as_str) {
            Some("applied") => format!("already in effect (probe: {})", cap(&probe)),
            Some("not_applied") => format!("not in effect yet (probe: {})", cap(&probe)),
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
fn finish_run(run: &mut RunView, files: BTreeMap<(String, String), FileView>) {
    commit_gaps(run);
    let lsn = |s: &Option<String>| s.as_deref().and_then(|x| x.parse::<u128>().ok());
    let mut list: Vec<FileView> = files.into_values().collect();
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
    let restoring = run.steps.iter().any(|s| s.action == "restore_logs");
    for f in &mut list {
        if f.restored_at.is_none() && f.notes.is_empty() && restoring {
            f.notes.push("not restored by this run".into());
        }
    }
    run.files = list;
    let recovered = run
        .steps
        .iter()
        .any(|s| s.action == "recover_database" && s.status() == "succeeded");
    if let Some(r) = &mut run.recovery {
        r.recovered = recovered;
        r.newest_available = newest.map(|n| n.to_string());
    }
    for s in &run.steps {
        for a in &s.attempts {
            if a.messages.iter().any(|m| m.starts_with("Msg 4305")) {
                run.gaps.push(format!(
                    "{} refused by the server as too recent (seq {}): {}",
                    a.unit,
                    a.intent_seq,
                    a.messages.join("; ")
                ));
            }
            if a.result_lines.iter().any(|l| l == "refused: true") {
                run.gaps
                    .push(format!("{} refused (seq {})", a.unit, a.intent_seq));
            }
        }
    }
    // "None not applied" is only said after checking: a recorded log that ends after the
    // recovery point and was not restored is listed even when no event named it.
    if let Some(point) = run
        .recovery
        .as_ref()
        .and_then(|r| r.lsn.parse::<u128>().ok())
    {
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

/// Microseconds since 1970 of a journal timestamp (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
pub fn micros(at: &str) -> Option<i64> {
    let b = at.as_bytes();
    if b.len() != 27 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| at.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss, us) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..26)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mm) * 60_000_000 + ss * 1_000_000 + us)
}

/// The time from `from` to `to` for humans, or `-`.
pub fn span(from: &str, to: Option<&str>) -> String {
    match (micros(from), to.and_then(micros)) {
        (Some(a), Some(b)) if b >= a => format_duration((b - a) as u64),
        _ => "-".into(),
    }
}
