//! The timeline: one fold of a journal's events into what happened, typed.
//!
//! Every reader of a journal asks the same questions of it — which runs there are and how they
//! ended, which intents are still open, how each attempt ended, which decisions the operator
//! took and what they answered, which backup files were applied and which were given up. They
//! are answered here once, so that the verifier's rules, `resume`, `status` and the report
//! cannot tell different stories about one journal.
//!
//! The fold streams: [`Timeline::apply`] takes one event at a time and returns what that event
//! changed ([`Change`]), so a caller that keeps no history (the verifier, whose memory must not
//! grow with the journal) folds with [`Keep::Open`] and acts on each change as it comes, while
//! one that shows the whole story (status, the report) folds with [`Keep::All`].

use std::collections::BTreeMap;

use crate::event::{
    ActionKind, Body, Decision, Effect, Event, FileRef, Observation, OperatorSettled,
    OutcomeStatus, ReconcileVerdict, RunStarted, RunStatus, DATA_LOSS_OBSERVATION,
};
use crate::lsn::Lsn;
use crate::verify::step_of;

/// The name of the observation that records a step's readiness query.
pub const READINESS_OBSERVATION: &str = "readiness";
/// The name of the observation the engine writes when a run stops: a fact about the run,
/// never an input to a decision.
pub const HALT_OBSERVATION: &str = "halt";
/// The name of the observation that records where the database stands (its state and redo
/// start LSN).
pub const DATABASE_POSITION_OBSERVATION: &str = "database_position";

/// How much of the story a fold keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Everything: settled attempts with their results, decisions, findings, files.
    All,
    /// Only what is still open (attempts in flight, the findings nothing followed yet): memory
    /// grows with the intents in flight, not with the run. Settled things are handed to the
    /// caller in the [`Change`] and dropped.
    Open,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// Neither an outcome nor a reconciliation yet: in flight, or in doubt after a crash.
    Open,
    /// A `step.outcome`.
    Outcome {
        /// Its seq.
        seq: u64,
        /// Its time.
        at: String,
        /// Succeeded or failed.
        status: OutcomeStatus,
        /// Wall time of the action.
        duration_us: u64,
        /// The recorded result ([`Keep::All`] only).
        result: Option<serde_json::Value>,
    },
    /// A `step.reconciled` after a crash.
    Reconciled {
        /// Its seq.
        seq: u64,
        /// Its time.
        at: String,
        /// The conclusion.
        verdict: ReconcileVerdict,
        /// The operator's settlement, for an `operator_decided` verdict that records one.
        settled: Option<OperatorSettled>,
        /// Whether the action counts as having taken effect.
        applied: bool,
        /// What was executed to find out ([`Keep::All`] only).
        probe: Option<String>,
        /// What it returned ([`Keep::All`] only).
        probe_result: Option<serde_json::Value>,
    },
}

impl End {
    /// Whether the attempt took effect: Some(true) for a success or a reconciliation that
    /// found (or was told) it applied, Some(false) for a failure or one that was not, None
    /// while open.
    pub fn took_effect(&self) -> Option<bool> {
        match self {
            End::Open => None,
            End::Outcome { status, .. } => Some(*status == OutcomeStatus::Succeeded),
            End::Reconciled { applied, .. } => Some(*applied),
        }
    }

    /// The seq of the event that ended it.
    pub fn seq(&self) -> Option<u64> {
        match self {
            End::Open => None,
            End::Outcome { seq, .. } | End::Reconciled { seq, .. } => Some(*seq),
        }
    }

    /// The time of the event that ended it.
    pub fn at(&self) -> Option<&str> {
        match self {
            End::Open => None,
            End::Outcome { at, .. } | End::Reconciled { at, .. } => Some(at),
        }
    }
}

/// One attempt of a unit: its intent and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// The unit: a step id, or `step/file` for the work of a step on one file.
    pub unit: String,
    /// Attempt number, from 1.
    pub attempt: u64,
    /// Seq of the intent.
    pub intent_seq: u64,
    /// Time of the intent.
    pub intent_at: String,
    /// Action kind.
    pub action: String,
    /// Effect class.
    pub effect: Effect,
    /// The exact text executed.
    pub command: String,
    /// Target name.
    pub target: String,
    /// Files the action reads.
    pub inputs: Vec<FileRef>,
    /// Decisions bound to this intent (an approval naming its seq): (seq, decision).
    pub bound: Vec<(u64, Decision)>,
    /// How it ended.
    pub end: End,
}

impl Attempt {
    /// The step the unit belongs to.
    pub fn step(&self) -> &str {
        step_of(&self.unit)
    }

    /// Whether an `approved` approval is bound to the intent.
    pub fn approved(&self) -> bool {
        self.bound.iter().any(|(_, d)| *d == Decision::Approved)
    }

    /// Whether the operator's `treat_as_applied` is bound to the intent.
    pub fn treated_as_applied(&self) -> bool {
        self.bound
            .iter()
            .any(|(_, d)| *d == Decision::TreatAsApplied)
    }

    /// Whether neither an outcome nor a reconciliation ended it.
    pub fn is_open(&self) -> bool {
        self.end == End::Open
    }
}

/// An approval or operator decision.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    /// Its seq.
    pub seq: u64,
    /// Its time.
    pub at: String,
    /// The unit it names.
    pub unit: String,
    /// Who gave it.
    pub operator: String,
    /// The decision.
    pub decision: Decision,
    /// What the operator was shown or said.
    pub text: String,
    /// The seq of the intent it is bound to.
    pub intent_seq: Option<u64>,
}

/// A backup file a `data_loss` finding gives up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotApplied {
    /// File name.
    pub file: String,
    /// Why it is not applied.
    pub reason: String,
    /// The server's error number, when one refused it.
    pub error: Option<i64>,
}

impl NotApplied {
    /// The files a `data_loss` observation's data lists as given up, in its order.
    pub fn listed(data: &serde_json::Value) -> impl Iterator<Item = NotApplied> + '_ {
        data["not_applied"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| NotApplied {
                file: f["file"].as_str().unwrap_or("").to_string(),
                reason: f["reason"].as_str().unwrap_or("").to_string(),
                error: f["error"].as_i64(),
            })
    }
}

/// What a finding found.
#[derive(Debug, Clone, PartialEq)]
pub enum FindingKind {
    /// The log chain does not reach the newest log: what recovering at `point` gives up.
    DataLoss {
        /// The recovery point's LSN (0 when not readable).
        point: Lsn,
        /// The recovery point's LSN as written.
        point_text: Option<String>,
        /// The files not applied.
        not_applied: Vec<NotApplied>,
    },
    /// A step's readiness does not hold.
    Readiness,
}

/// How a finding was answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Nothing but observations followed it yet: it waits for the operator.
    Waiting,
    /// A loss at or after a recovery point already accepted in the run: that decision covers
    /// it, no other is asked for.
    Covered,
    /// It came while an earlier finding (at this seq) waited: that finding's answer is the
    /// one that counts.
    Alongside(u64),
    /// The operator's decision at `seq` answered it.
    Decided {
        /// Seq of the approval.
        seq: u64,
        /// The decision.
        decision: Decision,
    },
    /// The event at `seq` went on without the operator's decision.
    Unanswered {
        /// Seq of that event.
        seq: u64,
    },
    /// A resume at `seq` read the world again before anything acted on it.
    Reread {
        /// Seq of `run.resumed`.
        seq: u64,
    },
}

/// A `data_loss` finding, or a readiness that does not hold: the operator must answer it
/// before the run goes on.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Seq of the observation.
    pub seq: u64,
    /// The unit the observation names (empty for a run-level one).
    pub unit: String,
    /// What it found.
    pub kind: FindingKind,
    /// How it was answered.
    pub answer: Answer,
}

impl Finding {
    /// The step it belongs to.
    pub fn step(&self) -> &str {
        step_of(&self.unit)
    }

    /// Whether it is a `data_loss` finding.
    pub fn is_loss(&self) -> bool {
        matches!(self.kind, FindingKind::DataLoss { .. })
    }

    /// Whether `decision` at step `step` answers it: a loss by `accept_data_loss`, a readiness
    /// by `skip`, either by `declined`, always at the finding's own step.
    pub fn answered_by(&self, step: &str, decision: &Decision) -> bool {
        let fits = match decision {
            Decision::AcceptDataLoss => self.is_loss(),
            Decision::Skip => !self.is_loss(),
            Decision::Declined => true,
            _ => false,
        };
        fits && step_of(step) == self.step()
    }
}

/// A `run.resumed`.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    /// Its seq.
    pub seq: u64,
    /// Its time.
    pub at: String,
    /// Why the run stopped.
    pub reason: String,
    /// The intents it names in doubt: (unit, attempt, intent seq).
    pub in_doubt: Vec<(String, u64, u64)>,
}

/// Why the engine stopped the run, as its `halt` observation says.
#[derive(Debug, Clone, PartialEq)]
pub struct Halt {
    /// Seq of the observation.
    pub seq: u64,
    /// The step it stopped at.
    pub step: Option<String>,
    /// `waiting_for_decision`, `declined`, `failed`, `interrupted`.
    pub kind: String,
    /// The reason as the operator was told it.
    pub reason: String,
}

/// `run.finished`.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// Its seq.
    pub seq: u64,
    /// Its time.
    pub at: String,
    /// The final status.
    pub status: RunStatus,
    /// The summary line.
    pub summary: String,
}

/// What the journal says of one backup file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileRecord {
    /// File name.
    pub name: String,
    /// Lowercase hex SHA-256 of its content.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// The paths under which the journal names it.
    pub paths: Vec<String>,
    /// FirstLSN, as the latest recorded header says.
    pub first_lsn: Option<String>,
    /// LastLSN, as the latest recorded header says.
    pub last_lsn: Option<String>,
    /// The header's ServerName.
    pub server: Option<String>,
    /// When a copy of it took effect: (seq, time).
    pub copied: Option<(u64, String)>,
    /// When a restore of it took effect: (seq, time).
    pub restored: Option<(u64, String)>,
    /// Restores that succeeded without restoring it: (seq of the outcome, why).
    pub restores_skipped: Vec<(u64, String)>,
    /// Copies or restores of it that failed: (action, seq of the outcome, its time).
    pub failed: Vec<(String, u64, String)>,
    /// The `sql` batch that wrote it, whose outcome recorded its hash: (unit, seq, time).
    pub written: Option<(String, u64, String)>,
    /// `sql` batches that read it (`reads`) and took effect: (unit, seq, time).
    pub read_by: Vec<(String, u64, String)>,
}

/// The database's position read before recovery: the point it will be recovered at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryPoint {
    /// The redo start LSN of the database in RESTORING.
    pub lsn: String,
    /// Seq of the observation.
    pub seq: u64,
    /// The unit that observed it.
    pub unit: String,
}

/// `run.started` as the timeline keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    /// Its seq.
    pub seq: u64,
    /// Its time.
    pub at: String,
    /// Its body: the runbook embedded, parameters, operator, targets.
    pub body: Box<RunStarted>,
}

/// The steps of a run with their attempts, in the order they were first intended.
#[derive(Debug, Clone, PartialEq)]
pub struct StepAttempts<'a> {
    /// Step id.
    pub step: &'a str,
    /// Its attempts, per-file units included, in intent order.
    pub attempts: Vec<&'a Attempt>,
}

/// What one event changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Change {
    /// The finding this event answered, or went on past without an answer (its
    /// [`Finding::answer`] says which).
    pub answered: Option<Finding>,
    /// The attempt this event ended, with its ending.
    pub settled: Option<Attempt>,
}

/// One run's story.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    keep: Keep,
    /// Run id (empty for a run folded without its `run.started`).
    pub id: String,
    /// Key id that signed `run.started`.
    pub signer: String,
    /// `run.started`, when folded.
    pub started: Option<Started>,
    /// Every attempt in intent order ([`Keep::Open`]: only those still open).
    pub attempts: Vec<Attempt>,
    /// Every approval and decision in order ([`Keep::All`] only).
    pub decisions: Vec<DecisionRecord>,
    /// Every finding in order ([`Keep::Open`]: only those nothing but observations followed).
    pub findings: Vec<Finding>,
    /// Index in `findings` of the first one nothing but observations followed.
    pending_from: usize,
    /// Index in `findings` of the finding waiting for the operator.
    waiting: Option<usize>,
    /// The recovery points the operator accepted in the run.
    pub accepted_points: Vec<Lsn>,
    /// Every `run.resumed` ([`Keep::All`] only).
    pub resumes: Vec<Resume>,
    /// Why the engine stopped the run, while nothing but a resume followed.
    pub halt: Option<Halt>,
    /// The backup files, by (name, sha256) ([`Keep::All`] only).
    pub files: BTreeMap<(String, String), FileRecord>,
    /// The database's position before recovery, as last read.
    pub recovery_point: Option<RecoveryPoint>,
    /// `run.finished`.
    pub finished: Option<Finished>,
}

impl Run {
    /// A run folded from its first event after `run.started`, signed by `signer`.
    pub fn new(keep: Keep, signer: &str) -> Run {
        Run {
            keep,
            id: String::new(),
            signer: signer.to_string(),
            started: None,
            attempts: Vec::new(),
            decisions: Vec::new(),
            findings: Vec::new(),
            pending_from: 0,
            waiting: None,
            accepted_points: Vec::new(),
            resumes: Vec::new(),
            halt: None,
            files: BTreeMap::new(),
            recovery_point: None,
            finished: None,
        }
    }

    /// A run begun by its `run.started`.
    pub fn started(keep: Keep, e: &Event, body: &RunStarted) -> Run {
        let mut run = Run::new(keep, &e.key);
        run.id = e.run.clone().unwrap_or_default();
        run.started = Some(Started {
            seq: e.seq,
            at: e.at.clone(),
            body: Box::new(body.clone()),
        });
        run
    }

    /// Takes one event of the run (after `run.started`), in journal order.
    pub fn apply(&mut self, e: &Event) -> Change {
        let mut change = Change::default();
        if !matches!(e.body, Body::RunResumed(_)) {
            self.halt = None;
        }
        match &e.body {
            Body::Observation(o) => self.observed(e, o),
            Body::RunResumed(r) => self.resumed(e, r),
            _ => change.answered = self.followed(e),
        }
        match &e.body {
            Body::StepIntent(i) => self.attempts.push(Attempt {
                unit: i.step.clone(),
                attempt: i.attempt,
                intent_seq: e.seq,
                intent_at: e.at.clone(),
                action: i.action.clone(),
                effect: i.effect,
                command: i.command.clone(),
                target: i.target.clone(),
                inputs: i.inputs.clone(),
                bound: Vec::new(),
                end: End::Open,
            }),
            Body::Approval(a) => self.decided(e, a),
            Body::StepOutcome(_) | Body::StepReconciled(_) => {
                if let Some((unit, attempt, end)) = ending(e, self.keep) {
                    change.settled = self.settle(unit, attempt, end);
                }
            }
            Body::RunFinished(f) => {
                self.finished = Some(Finished {
                    seq: e.seq,
                    at: e.at.clone(),
                    status: f.status,
                    summary: f.summary.clone(),
                })
            }
            Body::Observation(_)
            | Body::RunResumed(_)
            | Body::JournalOpened(_)
            | Body::RunStarted(_) => {}
        }
        if let Body::StepIntent(i) = &e.body {
            self.note_inputs(&i.inputs);
        }
        if let Some(settled) = &change.settled {
            self.note_ending(settled);
        }
        change
    }

    /// An observation: a finding to answer, the halt, the headers of backup files, the
    /// database's position.
    fn observed(&mut self, e: &Event, o: &Observation) {
        let unit = o.step.clone().unwrap_or_default();
        match o.name.as_str() {
            DATA_LOSS_OBSERVATION => {
                let point_text = o.data["recovery_point"]["lsn"].as_str().map(str::to_string);
                let point = point_text
                    .as_deref()
                    .and_then(Lsn::parse)
                    .unwrap_or_default();
                let not_applied = NotApplied::listed(&o.data).collect();
                let covered = self.accepted_points.iter().any(|&p| point >= p);
                let kind = FindingKind::DataLoss {
                    point,
                    point_text,
                    not_applied,
                };
                self.found(e.seq, unit, kind, covered);
            }
            READINESS_OBSERVATION if !Readiness::holds(&o.data) => {
                self.found(e.seq, unit, FindingKind::Readiness, false);
            }
            HALT_OBSERVATION => {
                self.halt = Some(Halt {
                    seq: e.seq,
                    step: o.step.clone(),
                    kind: o.data["kind"].as_str().unwrap_or("stopped").to_string(),
                    reason: o.data["reason"].as_str().unwrap_or("").to_string(),
                })
            }
            DATABASE_POSITION_OBSERVATION => {
                if let (Some("RESTORING"), Some(lsn)) =
                    (o.data["state"].as_str(), o.data["redo_start_lsn"].as_str())
                {
                    self.recovery_point = Some(RecoveryPoint {
                        lsn: lsn.to_string(),
                        seq: e.seq,
                        unit,
                    });
                }
            }
            name if name.ends_with("headers") && self.keep == Keep::All => {
                self.read_headers(&o.data)
            }
            _ => {}
        }
    }

    fn found(&mut self, seq: u64, unit: String, kind: FindingKind, covered: bool) {
        let answer = match self.waiting {
            _ if covered => Answer::Covered,
            Some(w) => Answer::Alongside(self.findings[w].seq),
            None => {
                self.waiting = Some(self.findings.len());
                Answer::Waiting
            }
        };
        self.findings.push(Finding {
            seq,
            unit,
            kind,
            answer,
        });
    }

    /// A resume: what the stopped process read and nothing acted on was read again by the
    /// resumed one, so those findings are answered by the reading, not by the operator.
    fn resumed(&mut self, e: &Event, r: &crate::event::RunResumed) {
        for f in &mut self.findings[self.pending_from..] {
            f.answer = Answer::Reread { seq: e.seq };
        }
        self.close_pending();
        if self.keep == Keep::Open {
            return;
        }
        self.resumes.push(Resume {
            seq: e.seq,
            at: e.at.clone(),
            reason: r.reason.clone(),
            in_doubt: r
                .in_doubt
                .iter()
                .map(|d| (d.step.clone(), d.attempt, d.intent_seq))
                .collect(),
        });
    }

    /// An event that is neither an observation nor a resume: it answers the finding waiting
    /// for the operator, or goes on without its answer.
    fn followed(&mut self, e: &Event) -> Option<Finding> {
        let Some(waiting) = self.waiting else {
            // Only findings a decision already covers: they stand, nothing re-reads them.
            self.close_pending();
            return None;
        };
        let answer = match &e.body {
            Body::Approval(a) if self.findings[waiting].answered_by(&a.step, &a.decision) => {
                if a.decision == Decision::AcceptDataLoss {
                    if let FindingKind::DataLoss { point, .. } = self.findings[waiting].kind {
                        self.accepted_points.push(point);
                    }
                }
                Answer::Decided {
                    seq: e.seq,
                    decision: a.decision.clone(),
                }
            }
            _ => Answer::Unanswered { seq: e.seq },
        };
        self.findings[waiting].answer = answer;
        let answered = self.findings[waiting].clone();
        self.close_pending();
        Some(answered)
    }

    /// The findings nothing followed yet are followed now: in [`Keep::Open`] they are dropped.
    fn close_pending(&mut self) {
        self.waiting = None;
        if self.keep == Keep::Open {
            self.findings.clear();
        }
        self.pending_from = self.findings.len();
    }

    fn decided(&mut self, e: &Event, a: &crate::event::Approval) {
        let intent_seq = a.intent.as_ref().map(|i| i.seq);
        if let Some(seq) = intent_seq {
            if let Some(att) = self
                .attempts
                .iter_mut()
                .find(|att| att.is_open() && att.intent_seq == seq)
            {
                att.bound.push((e.seq, a.decision.clone()));
            }
        }
        if self.keep == Keep::All {
            self.decisions.push(DecisionRecord {
                seq: e.seq,
                at: e.at.clone(),
                unit: a.step.clone(),
                operator: a.operator.clone(),
                decision: a.decision.clone(),
                text: a.text.clone(),
                intent_seq,
            });
        }
    }

    /// Ends the open attempt `attempt` of `unit`; returns it with its ending.
    fn settle(&mut self, unit: &str, attempt: u64, end: End) -> Option<Attempt> {
        let i = self
            .attempts
            .iter()
            .rposition(|a| a.is_open() && a.unit == unit && a.attempt == attempt)?;
        if self.keep == Keep::Open {
            let mut settled = self.attempts.remove(i);
            settled.end = end;
            return Some(settled);
        }
        self.attempts[i].end = end;
        Some(self.attempts[i].clone())
    }

    /// Reads the header list of a `*headers` observation into the files.
    fn read_headers(&mut self, data: &serde_json::Value) {
        for h in data["headers"].as_array().into_iter().flatten() {
            let s = |k: &str| h[k].as_str().map(str::to_string);
            let (Some(name), Some(sha)) = (s("file"), s("sha256")) else {
                continue;
            };
            let size = h["size"].as_u64().unwrap_or(0);
            let file = self
                .files
                .entry((name.clone(), sha.clone()))
                .or_insert_with(|| FileRecord {
                    name,
                    sha256: sha,
                    size,
                    ..FileRecord::default()
                });
            file.first_lsn = s("first_lsn").or(file.first_lsn.take());
            file.last_lsn = s("last_lsn").or(file.last_lsn.take());
            file.server = s("server").or(file.server.take());
            if let Some(p) = s("path") {
                if !file.paths.contains(&p) {
                    file.paths.push(p);
                }
            }
        }
    }

    /// Notes the files an intent reads, under the paths it names.
    fn note_inputs(&mut self, inputs: &[FileRef]) {
        if self.keep != Keep::All {
            return;
        }
        for input in inputs {
            self.file_at(&input.path, &input.sha256, input.size);
        }
    }

    /// The record of the file named `path` with content `sha256`, noting the path.
    fn file_at(&mut self, path: &str, sha256: &str, size: u64) -> &mut FileRecord {
        let name = file_name(path).to_string();
        let file = self
            .files
            .entry((name.clone(), sha256.to_string()))
            .or_insert_with(|| FileRecord {
                name,
                sha256: sha256.to_string(),
                size,
                ..FileRecord::default()
            });
        if !file.paths.iter().any(|p| p == path) {
            file.paths.push(path.to_string());
        }
        file
    }

    /// Notes what an attempt's ending did to the files it read: a copy or restore took
    /// effect (by its outcome, or a probe that found it applied), or failed.
    fn note_ending(&mut self, att: &Attempt) {
        if self.keep != Keep::All {
            return;
        }
        let (seq, at, took_effect, result) = match &att.end {
            End::Outcome {
                seq,
                at,
                status,
                result,
                ..
            } => (
                *seq,
                at,
                *status == OutcomeStatus::Succeeded,
                result.clone().unwrap_or_default(),
            ),
            End::Reconciled {
                seq, at, verdict, ..
            } if *verdict == ReconcileVerdict::Applied => (*seq, at, true, serde_json::Value::Null),
            _ => return,
        };
        let skipped = crate::event::ResultView::of(&result).skipped;
        if let Some(w) = result
            .get("written")
            .and_then(crate::event::results::decode::<crate::event::results::Written>)
            .filter(|_| took_effect)
        {
            self.file_at(&w.path, &w.sha256, w.size).written =
                Some((att.unit.clone(), seq, at.clone()));
        }
        for input in &att.inputs {
            let key = (file_name(&input.path).to_string(), input.sha256.clone());
            let Some(file) = self.files.get_mut(&key) else {
                continue;
            };
            match (ActionKind::parse(&att.action), took_effect) {
                (Some(ActionKind::CopyBackups), true) => file.copied = Some((seq, at.clone())),
                (Some(ActionKind::RestoreLogs), true) => match &skipped {
                    Some(why) => file.restores_skipped.push((seq, why.clone())),
                    None => file.restored = Some((seq, at.clone())),
                },
                (Some(ActionKind::Sql), true) => {
                    file.read_by.push((att.unit.clone(), seq, at.clone()))
                }
                (_, false) => file.failed.push((att.action.clone(), seq, at.clone())),
                _ => {}
            }
        }
    }

    /// The attempts still open, ordered by unit, attempt and intent seq: what a resume
    /// reconciles.
    pub fn open_attempts(&self) -> Vec<&Attempt> {
        let mut open: Vec<&Attempt> = self.attempts.iter().filter(|a| a.is_open()).collect();
        open.sort_by(|a, b| {
            (&a.unit, a.attempt, a.intent_seq).cmp(&(&b.unit, b.attempt, b.intent_seq))
        });
        open
    }

    /// The steps with their attempts, in the order each was first intended.
    pub fn steps(&self) -> Vec<StepAttempts<'_>> {
        let mut steps: Vec<StepAttempts<'_>> = Vec::new();
        for a in &self.attempts {
            match steps.iter_mut().find(|s| s.step == a.step()) {
                Some(s) => s.attempts.push(a),
                None => steps.push(StepAttempts {
                    step: a.step(),
                    attempts: vec![a],
                }),
            }
        }
        steps
    }

    /// The attempt that ended last with a `step.outcome`.
    pub fn last_outcome(&self) -> Option<&Attempt> {
        self.attempts
            .iter()
            .filter(|a| matches!(a.end, End::Outcome { .. }))
            .max_by_key(|a| a.end.seq())
    }

    /// The files the run gave up, each once (its first finding), from the `data_loss` findings
    /// something acted on or that still stand: (finding, file). A finding a resume read again
    /// gives up nothing.
    pub fn not_applied(&self) -> Vec<(&Finding, &NotApplied)> {
        let mut out: Vec<(&Finding, &NotApplied)> = Vec::new();
        for f in &self.findings {
            if matches!(f.answer, Answer::Reread { .. }) {
                continue;
            }
            let FindingKind::DataLoss { not_applied, .. } = &f.kind else {
                continue;
            };
            for n in not_applied {
                if !out.iter().any(|(_, o)| o.file == n.file) {
                    out.push((f, n));
                }
            }
        }
        out
    }
}

/// The unit, attempt and ending a `step.outcome` or `step.reconciled` records; None for any
/// other event. One reading of how an attempt ended, for the fold and for a replay that meets
/// the event in the queue.
pub fn ending(e: &Event, keep: Keep) -> Option<(&str, u64, End)> {
    let all = keep == Keep::All;
    match &e.body {
        Body::StepOutcome(o) => Some((
            o.step.as_str(),
            o.attempt,
            End::Outcome {
                seq: e.seq,
                at: e.at.clone(),
                status: o.status,
                duration_us: o.duration_us,
                result: all.then(|| o.result.clone()),
            },
        )),
        Body::StepReconciled(r) => Some((
            r.step.as_str(),
            r.attempt,
            End::Reconciled {
                seq: e.seq,
                at: e.at.clone(),
                verdict: r.verdict,
                settled: r.operator_settled(),
                applied: r.applied(),
                probe: all.then(|| r.probe.clone()),
                probe_result: all.then(|| r.probe_result.clone()),
            },
        )),
        _ => None,
    }
}

/// The file name of a path as the engine saw it (Windows or POSIX separators).
pub fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// A journal's runs, folded one event at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    keep: Keep,
    /// The runs, in journal order.
    pub runs: Vec<Run>,
}

impl Timeline {
    /// An empty timeline that keeps `keep`.
    pub fn new(keep: Keep) -> Timeline {
        Timeline {
            keep,
            runs: Vec::new(),
        }
    }

    /// Every event of `events` folded, keeping everything.
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Timeline {
        let mut t = Timeline::new(Keep::All);
        for e in events {
            t.apply(e);
        }
        t
    }

    /// Takes the next event. An event of a run whose `run.started` was not folded starts a
    /// run without it (the events of a run read from its end, say); a journal-level event
    /// changes nothing.
    pub fn apply(&mut self, e: &Event) -> Change {
        let Some(run_id) = e.run.as_deref() else {
            return Change::default();
        };
        if let Body::RunStarted(s) = &e.body {
            self.runs.push(Run::started(self.keep, e, s));
            return Change::default();
        }
        let known = self.runs.last().is_some_and(|r| r.id == run_id);
        if !known {
            let mut run = Run::new(self.keep, &e.key);
            run.id = run_id.to_string();
            self.runs.push(run);
        }
        match self.runs.last_mut() {
            Some(run) => run.apply(e),
            None => Change::default(),
        }
    }

    /// The last run.
    pub fn last(&self) -> Option<&Run> {
        self.runs.last()
    }
}

/// A `readiness` observation as the engine writes it: `ok` is true only when the step may act.
#[derive(serde::Deserialize)]
struct Readiness {
    ok: bool,
}

impl Readiness {
    /// Whether the readiness held; one that does not decode did not.
    fn holds(data: &serde_json::Value) -> bool {
        crate::event::results::decode::<Readiness>(data).is_some_and(|r| r.ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{
        Approval, InDoubt, IntentRef, Operator, RunFinished, RunResumed, RunbookSource, Seal,
        StepIntent, StepOutcome, StepReconciled,
    };

    const KEY: &str = "1111111111111111111111111111111111111111111111111111111111111111";

    /// Builds the events of one run, seq after seq.
    struct Journal {
        events: Vec<Event>,
    }

    impl Journal {
        fn new() -> Journal {
            let mut j = Journal { events: Vec::new() };
            j.push(Body::RunStarted(Box::new(RunStarted {
                run_id: "r1".into(),
                runbook: RunbookSource {
                    name: "rb".into(),
                    version: "1".into(),
                    sha256: "0".repeat(64),
                    source: String::new(),
                },
                parameters: BTreeMap::new(),
                operator: Operator {
                    user: "u".into(),
                    host: "h".into(),
                },
                targets: Vec::new(),
            })));
            j
        }

        fn push(&mut self, body: Body) -> u64 {
            let seq = self.events.len() as u64 + 1;
            self.events.push(Event {
                journal: "j".into(),
                seq,
                prev: "0".repeat(64),
                at: format!("2026-11-27T10:00:{:02}.000000Z", seq % 60),
                run: Some("r1".into()),
                key: KEY.into(),
                body,
            });
            seq
        }

        fn intent(&mut self, unit: &str, attempt: u64, action: &str, inputs: Vec<FileRef>) -> u64 {
            self.push(Body::StepIntent(StepIntent {
                step: unit.into(),
                attempt,
                action: action.into(),
                effect: Effect::Guarded,
                command: format!("do {unit}"),
                target: "t".into(),
                inputs,
            }))
        }

        fn outcome(&mut self, unit: &str, attempt: u64, ok: bool) -> u64 {
            self.push(Body::StepOutcome(StepOutcome {
                step: unit.into(),
                attempt,
                status: if ok {
                    OutcomeStatus::Succeeded
                } else {
                    OutcomeStatus::Failed
                },
                result: serde_json::json!({"reason": "r"}),
                duration_us: 5,
            }))
        }

        fn approval(&mut self, step: &str, decision: Decision, intent: Option<u64>) -> u64 {
            self.push(Body::Approval(Approval {
                step: step.into(),
                operator: "u@h".into(),
                decision,
                text: "ok".into(),
                intent: intent.map(|seq| IntentRef {
                    seq,
                    leaf_hash: "0".repeat(64),
                }),
            }))
        }

        fn observe(&mut self, step: &str, name: &str, data: serde_json::Value) -> u64 {
            self.push(Body::Observation(Observation {
                step: Some(step.into()),
                name: name.into(),
                source: "s".into(),
                data,
            }))
        }

        fn resume(&mut self) -> u64 {
            self.push(Body::RunResumed(RunResumed {
                reason: "crash".into(),
                in_doubt: Vec::<InDoubt>::new(),
            }))
        }

        fn loss(&mut self, step: &str, lsn: &str, file: &str) -> u64 {
            self.observe(
                step,
                DATA_LOSS_OBSERVATION,
                serde_json::json!({
                    "recovery_point": {"lsn": lsn},
                    "not_applied": [{"file": file, "reason": "damaged", "error": 3241}],
                }),
            )
        }

        fn fold(&self) -> Timeline {
            Timeline::fold(&self.events)
        }
    }

    fn file(name: &str) -> FileRef {
        FileRef {
            path: format!("\\\\share\\logs\\{name}"),
            size: 10,
            sha256: "a".repeat(64),
        }
    }

    #[test]
    fn attempts_end_by_outcome_or_reconciliation_and_the_rest_stay_open() {
        let mut j = Journal::new();
        let i1 = j.intent("stop", 1, "sql", vec![]);
        let o1 = j.outcome("stop", 1, false);
        j.intent("stop", 2, "sql", vec![]);
        let i3 = j.intent("restore/a.trn", 1, "restore_logs", vec![]);
        j.resume();
        let r = j.push(Body::StepReconciled(StepReconciled {
            step: "stop".into(),
            attempt: 2,
            probe: "p".into(),
            probe_result: serde_json::json!({"operator": "treat as applied"}),
            verdict: ReconcileVerdict::OperatorDecided,
        }));
        let t = j.fold();
        let run = t.last().unwrap();
        assert_eq!(run.id, "r1");
        assert_eq!(run.started.as_ref().map(|s| s.seq), Some(1));
        assert_eq!(run.attempts.len(), 3);
        assert_eq!(run.attempts[0].intent_seq, i1);
        assert_eq!(run.attempts[0].end.seq(), Some(o1));
        assert_eq!(run.attempts[0].end.took_effect(), Some(false));
        match &run.attempts[1].end {
            End::Reconciled {
                seq,
                settled,
                applied,
                ..
            } => {
                assert_eq!(*seq, r);
                assert_eq!(*settled, Some(OperatorSettled::Applied));
                assert!(applied);
            }
            other => panic!("{other:?}"),
        }
        let open: Vec<(&str, u64, u64)> = run
            .open_attempts()
            .iter()
            .map(|a| (a.unit.as_str(), a.attempt, a.intent_seq))
            .collect();
        assert_eq!(open, vec![("restore/a.trn", 1, i3)]);
        let steps: Vec<(&str, usize)> = run
            .steps()
            .iter()
            .map(|s| (s.step, s.attempts.len()))
            .collect();
        assert_eq!(steps, vec![("stop", 2), ("restore", 1)]);
        assert_eq!(run.last_outcome().map(|a| a.attempt), Some(1));
    }

    #[test]
    fn an_approval_binds_to_the_open_intent_it_names_only() {
        let mut j = Journal::new();
        let i1 = j.intent("recover", 1, "recover_database", vec![]);
        j.outcome("recover", 1, false);
        let i2 = j.intent("recover", 2, "recover_database", vec![]);
        // Naming the settled intent binds nothing; naming the open one binds it.
        j.approval("recover", Decision::Approved, Some(i1));
        let a = j.approval("recover", Decision::Approved, Some(i2));
        let t = j.fold();
        let run = t.last().unwrap();
        assert!(run.attempts[0].bound.is_empty());
        assert_eq!(run.attempts[1].bound, vec![(a, Decision::Approved)]);
        assert!(run.attempts[1].approved());
        assert!(!run.attempts[1].treated_as_applied());
        assert_eq!(run.decisions.len(), 2);
        assert_eq!(run.decisions[1].intent_seq, Some(i2));
    }

    #[test]
    fn a_finding_is_answered_by_the_matching_decision_or_passed_over() {
        let mut j = Journal::new();
        let f1 = j.loss("copy", "100", "a.trn");
        let d = j.approval("copy", Decision::AcceptDataLoss, None);
        // A later loss at or after the accepted point is covered.
        j.loss("restore", "150", "b.trn");
        j.intent("restore/b.trn", 1, "restore_logs", vec![]);
        // A readiness that does not hold, then an action without the decision.
        let f3 = j.observe(
            "check",
            READINESS_OBSERVATION,
            serde_json::json!({"ok": false}),
        );
        let i = j.intent("check", 1, "sql", vec![]);
        let t = j.fold();
        let run = t.last().unwrap();
        assert_eq!(run.findings[0].seq, f1);
        assert_eq!(
            run.findings[0].answer,
            Answer::Decided {
                seq: d,
                decision: Decision::AcceptDataLoss
            }
        );
        assert_eq!(
            run.accepted_points,
            vec![Lsn::parse("100").expect("an LSN")]
        );
        assert_eq!(run.findings[1].answer, Answer::Covered);
        assert_eq!(run.findings[2].seq, f3);
        assert_eq!(run.findings[2].answer, Answer::Unanswered { seq: i });
        let files: Vec<&str> = run
            .not_applied()
            .iter()
            .map(|(_, n)| n.file.as_str())
            .collect();
        assert_eq!(files, vec!["a.trn", "b.trn"]);
    }

    #[test]
    fn a_resume_rereads_what_nothing_acted_on_and_the_streaming_fold_returns_the_answer() {
        let mut j = Journal::new();
        j.loss("copy", "100", "a.trn");
        let r = j.resume();
        j.loss("copy", "100", "a.trn");
        let skip = j.approval("copy", Decision::Skip, None);
        let t = j.fold();
        let run = t.last().unwrap();
        assert_eq!(run.findings[0].answer, Answer::Reread { seq: r });
        // A skip does not answer a loss.
        assert_eq!(run.findings[1].answer, Answer::Unanswered { seq: skip });
        assert!(run.accepted_points.is_empty());
        assert_eq!(run.resumes.len(), 1);

        // Keeping only what is open: the change carries the answer, the run forgets it.
        let mut open = Timeline::new(Keep::Open);
        let mut answers = Vec::new();
        for e in &j.events {
            answers.extend(open.apply(e).answered.map(|f| f.answer));
        }
        assert_eq!(answers, vec![Answer::Unanswered { seq: skip }]);
        assert!(open.last().unwrap().findings.is_empty());
        assert!(open.last().unwrap().resumes.is_empty());
    }

    #[test]
    fn a_covered_finding_acted_on_stays_given_up_after_a_later_resume() {
        let mut j = Journal::new();
        j.loss("copy", "100", "a.trn");
        j.approval("copy", Decision::AcceptDataLoss, None);
        j.loss("restore", "120", "b.trn");
        j.intent("restore/b.trn", 1, "restore_logs", vec![]);
        j.resume();
        let t = j.fold();
        let run = t.last().unwrap();
        assert_eq!(run.findings[1].answer, Answer::Covered);
        let files: Vec<&str> = run
            .not_applied()
            .iter()
            .map(|(_, n)| n.file.as_str())
            .collect();
        assert_eq!(files, vec!["a.trn", "b.trn"]);
    }

    #[test]
    fn the_streaming_fold_keeps_only_open_attempts_and_hands_over_the_settled_one() {
        let mut j = Journal::new();
        let i1 = j.intent("a", 1, "sql", vec![]);
        let o1 = j.outcome("a", 1, true);
        j.intent("b", 1, "sql", vec![]);
        let mut t = Timeline::new(Keep::Open);
        let mut settled = Vec::new();
        for e in &j.events {
            settled.extend(t.apply(e).settled);
        }
        assert_eq!(settled.len(), 1);
        assert_eq!(settled[0].intent_seq, i1);
        assert_eq!(settled[0].end.seq(), Some(o1));
        // No result kept in the streaming fold.
        assert!(matches!(settled[0].end, End::Outcome { result: None, .. }));
        let run = t.last().unwrap();
        assert_eq!(run.attempts.len(), 1);
        assert_eq!(run.attempts[0].unit, "b");
    }

    #[test]
    fn files_are_copied_restored_or_failed_as_their_attempts_ended() {
        let mut j = Journal::new();
        j.observe(
            "copy",
            "backup_headers",
            serde_json::json!({"headers": [
                {"file": "a.trn", "sha256": "a".repeat(64), "first_lsn": "1", "last_lsn": "9", "size": 10},
            ]}),
        );
        j.intent("copy/a.trn", 1, "copy_backups", vec![file("a.trn")]);
        let c = j.outcome("copy/a.trn", 1, true);
        j.intent("restore/a.trn", 1, "restore_logs", vec![file("a.trn")]);
        let f = j.outcome("restore/a.trn", 1, false);
        j.intent("restore/a.trn", 2, "restore_logs", vec![file("a.trn")]);
        let r = j.outcome("restore/a.trn", 2, true);
        j.observe(
            "recover",
            DATABASE_POSITION_OBSERVATION,
            serde_json::json!({"state": "RESTORING", "redo_start_lsn": "9"}),
        );
        let h = j.observe(
            "recover",
            HALT_OBSERVATION,
            serde_json::json!({"kind": "failed", "reason": "no"}),
        );
        j.resume();
        let t = j.fold();
        let run = t.last().unwrap();
        let file = &run.files[&("a.trn".to_string(), "a".repeat(64))];
        assert_eq!(file.first_lsn.as_deref(), Some("1"));
        assert_eq!(file.copied.as_ref().map(|c| c.0), Some(c));
        assert_eq!(file.restored.as_ref().map(|r| r.0), Some(r));
        assert_eq!(file.failed.len(), 1);
        assert_eq!(file.failed[0].1, f);
        assert_eq!(file.paths, vec!["\\\\share\\logs\\a.trn".to_string()]);
        assert_eq!(
            run.recovery_point.as_ref().map(|p| p.lsn.as_str()),
            Some("9")
        );
        // A halt stands while only a resume follows it.
        assert_eq!(run.halt.as_ref().map(|h| h.seq), Some(h));
        assert_eq!(run.halt.as_ref().map(|h| h.kind.as_str()), Some("failed"));
    }

    #[test]
    fn a_run_is_finished_by_run_finished_and_a_halt_is_cleared_by_what_follows() {
        let mut j = Journal::new();
        j.observe(
            "a",
            HALT_OBSERVATION,
            serde_json::json!({"kind": "interrupted", "reason": "ctrl-c"}),
        );
        j.intent("a", 1, "sql", vec![]);
        j.outcome("a", 1, true);
        let fin = j.push(Body::RunFinished(RunFinished {
            status: RunStatus::Succeeded,
            summary: "done".into(),
            sealed: Seal {
                size: 0,
                root: "0".repeat(64),
            },
        }));
        let t = j.fold();
        let run = t.last().unwrap();
        assert_eq!(run.halt, None);
        let finished = run.finished.as_ref().unwrap();
        assert_eq!((finished.seq, finished.status), (fin, RunStatus::Succeeded));
        // Events without their run.started still fold, into a run of their own.
        let t = Timeline::fold(&j.events[1..]);
        assert_eq!(t.runs.len(), 1);
        assert_eq!(t.runs[0].id, "r1");
        assert!(t.runs[0].started.is_none());
        assert!(t.runs[0].finished.is_some());
    }
}
