//! The dispatcher: the only code that appends to a run's journal, and the seam between
//! deciding and acting.
//!
//! Step logic never touches the world directly. It asks the dispatcher to `observe` a fact,
//! to `act` (an intent, then the action, then its outcome) and to `approve`. In a live run the
//! dispatcher records each fact before returning it and makes each intent durable before the
//! action starts. After a crash the same step logic runs again over the recorded events
//! (replay): facts and outcomes come from the journal, never from the world, and every intent
//! the logic produces must equal the recorded one — a difference is a divergence, reported
//! with both values and never papered over. When the recorded events run out, the dispatcher
//! reconciles the intent left without outcome by its effect class and goes live.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use runledger_verifier::event::results::to_result;
use runledger_verifier::event::{
    ActionKind, AlreadyInEffect, Approval, ApprovalWithheld, Body, Decision, Effect, Event,
    FileRef, Finding, IntentRef, Observation, OperatorSettled, OutcomeStatus, ReconcileVerdict,
    StepIntent, StepOutcome, StepReconciled, Withheld,
};
use runledger_verifier::signing::hex;
use runledger_verifier::timeline::{self, End, Keep};
use runledger_verifier::verify::step_of;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::checkpoints::Keeper;
pub use crate::fault::CrashPoint;
use crate::fault::{self, FaultPlan};
use crate::journal::{Journal, JournalError};

/// The name of the observation that records why a run stopped: a fact about the run, never an
/// input to a decision, so replay passes over it.
pub use runledger_verifier::timeline::HALT_OBSERVATION;

/// The plan a run records before any step (`text::plan`): what the run announced, never an
/// input to a decision, so replay passes over it — and a run written before plans were
/// recorded replays the same.
pub use runledger_verifier::plan_check::PLAN_OBSERVATION;

fn is_marker(e: &Event) -> bool {
    match &e.body {
        Body::RunResumed(_) => true,
        Body::Observation(o) => o.name == HALT_OBSERVATION || o.name == PLAN_OBSERVATION,
        _ => false,
    }
}

/// What the logic wants to execute: becomes a `step.intent`.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// Step id or `<step>/<unit>`.
    pub unit: String,
    /// Action kind.
    pub action: ActionKind,
    /// Effect class.
    pub effect: Effect,
    /// The exact text executed.
    pub command: String,
    /// Target name.
    pub target: String,
    /// Files read.
    pub inputs: Vec<FileRef>,
}

/// How an action ended, as recorded in `step.outcome` (or reconstructed from a reconciliation).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Succeeded or failed.
    pub status: OutcomeStatus,
    /// What happened (server messages, rows, exit code, files).
    pub result: serde_json::Value,
    /// Whether it comes from a reconciliation after a crash (the action's own result is lost).
    pub reconciled: bool,
}

impl Outcome {
    /// A successful outcome.
    pub fn ok(result: serde_json::Value) -> Outcome {
        Outcome {
            status: OutcomeStatus::Succeeded,
            result,
            reconciled: false,
        }
    }

    /// A failed outcome.
    pub fn failed(result: serde_json::Value) -> Outcome {
        Outcome {
            status: OutcomeStatus::Failed,
            result,
            reconciled: false,
        }
    }

    /// True when succeeded.
    pub fn succeeded(&self) -> bool {
        self.status == OutcomeStatus::Succeeded
    }
}

/// What a probe found about an interrupted action.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeFinding {
    /// Affirmative evidence that the action took effect.
    Applied(serde_json::Value),
    /// Affirmative evidence that it did not.
    NotApplied(serde_json::Value),
    /// The probe could not tell.
    Unknown(serde_json::Value),
}

/// How approvals are given.
#[derive(Debug, Clone, Default)]
pub struct ApprovalPolicy {
    /// `--yes`: approve every step.
    pub all: bool,
    /// `--approve STEP`: approve these steps.
    pub steps: Vec<String>,
    /// `--accept-data-loss STEP`: accept a recovery point short of the newest log at this step.
    pub data_loss: Vec<String>,
    /// `--skip STEP`: go on without a step whose readiness does not hold.
    pub skip: Vec<String>,
    /// Ask on the terminal when neither says.
    pub interactive: bool,
    /// Who approves (`user@host`).
    pub operator: String,
    /// Set for a rehearsal runbook that approves its own steps: recorded with those approvals.
    pub auto_label: Option<String>,
}

/// Why the run stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum Halt {
    /// A journal append failed: nothing further was done.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The replayed logic produced something other than what the journal recorded.
    #[error("replay diverged at seq {seq}: recorded {recorded}, expected {expected}; the runbook logic or its inputs changed since the journal was written")]
    Divergence {
        /// Seq of the recorded event.
        seq: u64,
        /// What the journal holds.
        recorded: String,
        /// What the logic produced.
        expected: String,
    },
    /// A step needs an operator decision that was not given.
    #[error("step {step} waits for an operator decision: {text}; to give it, continue with `runledger resume --journal {journal} --key K {flag} {step}`")]
    NeedsApproval {
        /// The step.
        step: String,
        /// What is to be decided.
        text: String,
        /// The journal.
        journal: String,
        /// The flag that gives the decision: `--approve`, `--accept-data-loss` or `--skip`.
        flag: &'static str,
    },
    /// The operator declined.
    #[error("step {step}: the operator declined: {text}")]
    Declined {
        /// The step.
        step: String,
        /// What was declined.
        text: String,
    },
    /// A step failed and may not be retried now.
    #[error("step {step} failed: {reason}")]
    StepFailed {
        /// The step or unit.
        step: String,
        /// One line.
        reason: String,
    },
    /// Ctrl-C between actions.
    #[error("stopped by the operator before {step}; continue with `runledger resume --journal {journal} --key K`")]
    Interrupted {
        /// The next step.
        step: String,
        /// The journal.
        journal: String,
    },
    /// Replay-only mode reached the end of the recorded events.
    #[error("the recorded events end here; the next decision is {next}")]
    ReplayEnd {
        /// The next observation, intent, approval or reconciliation, described as
        /// recorded events are (`describe`).
        next: String,
    },
}

/// Prints what happens, one line per step or unit.
pub trait Ui: Send {
    /// A line for the operator.
    fn line(&mut self, text: &str);
    /// Asks a yes/no question on the terminal.
    fn confirm(&mut self, question: &str) -> bool;
}

/// The dispatcher of one run.
pub struct Dispatcher {
    journal: Journal,
    run_id: String,
    /// Recorded events of this run not yet consumed by replay.
    recorded: VecDeque<Event>,
    /// Last attempt per unit.
    attempts: HashMap<String, u64>,
    policy: ApprovalPolicy,
    ui: Box<dyn Ui>,
    stop: Arc<AtomicBool>,
    /// The run's checkpoints (none when replaying only).
    checkpoints: Option<Keeper>,
    /// Where the fault plan kills the process, and how often that point was passed.
    crash_at: Option<(CrashPoint, u64)>,
    crash_count: u64,
    /// True when continuing a run (recorded events were given): an attempt that failed last
    /// in the journal is tried again, as the operator's resume asks.
    pub resumed: bool,
    /// Stop with `Halt::ReplayEnd` where a live run would observe, act or ask.
    pub replay_only: bool,
    /// The data loss the operator accepted in this run (replayed or live), for the summary.
    pub data_loss_accepted: Vec<String>,
    /// Recovery points the operator accepted in this run (LSNs): a later loss at or after one
    /// of them is already covered by that decision and is not asked again.
    accepted_points: Vec<u128>,
    /// Steps whose approval must name them (`explicit_approval`).
    pub explicit_steps: std::collections::HashSet<String>,
    /// Steps the operator chose to go on without (`--skip`), replayed or live.
    pub skipped: std::collections::HashSet<String>,
    /// Steps skipped because a step they need was skipped.
    pub skipped_with: std::collections::BTreeSet<String>,
    /// The time of the last approval recorded or replayed (e.g. when the operator declared the
    /// primary down).
    pub last_approval_at: Option<String>,
    /// The run's recovery point and the files it did not apply, as the steps found them.
    pub ledger: crate::recovery::Ledger,
    /// The run's time-stamping authority (`--tsa`): each checkpoint written is stamped.
    pub tsa: Option<crate::tsa::Stamper>,
    /// The files `sql` steps wrote and hashed (`writes`), by step id, as their outcomes
    /// recorded them (replayed or live): what a step that `reads` one compares the file with.
    pub written: HashMap<String, runledger_verifier::event::results::Written>,
}

/// What an action's probe found before it acted: the format's `precheck` observation.
pub use runledger_verifier::event::Precheck;

/// The `precheck` observation of a probe's finding.
fn precheck_of(probe: String, finding: ProbeFinding) -> Precheck {
    let (finding, evidence) = match finding {
        ProbeFinding::Applied(v) => (Finding::Applied, v),
        ProbeFinding::NotApplied(v) => (Finding::NotApplied, v),
        ProbeFinding::Unknown(v) => (Finding::Unknown, v),
    };
    Precheck {
        probe,
        finding,
        evidence,
    }
}

/// The name of the observation an action's probe records before the action, as the verifier
/// reads it.
pub use runledger_verifier::semantics::PRECHECK_OBSERVATION;

impl Dispatcher {
    /// A dispatcher appending to `journal` for run `run_id`, replaying `recorded` first.
    pub fn new(
        journal: Journal,
        run_id: String,
        recorded: Vec<Event>,
        policy: ApprovalPolicy,
        ui: Box<dyn Ui>,
        stop: Arc<AtomicBool>,
        checkpoints: Option<Keeper>,
    ) -> Dispatcher {
        let resumed = !recorded.is_empty();
        Dispatcher {
            journal,
            run_id,
            recorded: without_superseded(recorded).into(),
            attempts: HashMap::new(),
            policy,
            ui,
            stop,
            checkpoints,
            crash_at: None,
            crash_count: 0,
            resumed,
            replay_only: false,
            data_loss_accepted: Vec::new(),
            accepted_points: Vec::new(),
            explicit_steps: Default::default(),
            skipped: Default::default(),
            skipped_with: Default::default(),
            last_approval_at: None,
            ledger: Default::default(),
            tsa: None,
            written: HashMap::new(),
        }
    }

    /// Before a live resume: the facts read since the last action or decision were acted on by
    /// nothing, and the world may have changed since (a share back, a file found, a mirror up).
    /// They are read again — the new readings are recorded after `run.resumed` — instead of
    /// being replayed, so that a repaired outage never costs a data-loss decision.
    pub fn reread_unconsumed_facts(&mut self) {
        let keep = unconsumed_tail_start(self.recorded.make_contiguous());
        self.recorded.truncate(keep);
    }

    /// Takes the dispatcher's part of a fault plan: where to kill the process.
    pub fn inject(&mut self, faults: &FaultPlan) {
        self.crash_at = faults.crash_at;
    }

    /// True while recorded events remain to be replayed.
    pub fn replaying(&self) -> bool {
        !self.recorded.is_empty()
    }

    /// The journal (for the final seal and checkpoint).
    pub fn journal(&mut self) -> &mut Journal {
        &mut self.journal
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Prints a line.
    pub fn say(&mut self, text: &str) {
        if !self.replaying() {
            self.ui.line(text);
        }
    }

    fn append(&mut self, body: Body) -> Result<crate::journal::Appended, Halt> {
        let appended = self.journal.append(Some(&self.run_id), body)?;
        self.keep_checkpoint();
        Ok(appended)
    }

    /// Keeps the checkpoint of the journal as it stands in its history (every event of a run
    /// is covered by one, so a later cut or rewrite is pinned to its first seq).
    pub fn keep_checkpoint(&mut self) {
        let Some(keeper) = &mut self.checkpoints else {
            return;
        };
        let size = self.journal.len();
        let warning = match self.journal.checkpoint_text() {
            Ok(text) => keeper.keep(size, &text),
            Err(e) => Some(format!(
                "warning: cannot keep the checkpoint of {size} events: {e}"
            )),
        };
        if let Some(warning) = warning {
            self.ui.line(&warning);
        }
    }

    fn crash_point(&mut self, point: CrashPoint) {
        let Some((at, n)) = self.crash_at else {
            return;
        };
        if at == point {
            self.crash_count += 1;
            if self.crash_count == n {
                // A real, uncooperative death: no destructor, no flush beyond what is durable.
                fault::kill_now();
            }
        }
    }

    /// Skips the recorded markers (`run.resumed`, `halt` observations): they record
    /// interruptions, not decisions.
    fn next_recorded(&mut self) -> Option<&Event> {
        while self.recorded.front().is_some_and(is_marker) {
            self.recorded.pop_front();
        }
        self.recorded.front()
    }

    /// Whether the next recorded events are another attempt of `body` with the same text,
    /// possibly after its `precheck`.
    fn recorded_retry_of(&mut self, body: &StepIntent) -> bool {
        self.next_recorded();
        let mut next = self.recorded.iter().filter(|e| !is_marker(e));
        let mut e = next.next();
        if let Some(Body::Observation(o)) = e.map(|e| &e.body) {
            if o.name == PRECHECK_OBSERVATION && o.step.as_deref() == Some(&body.step) {
                // Probed, then stopped before any intent: the logic's next move decides (a
                // live resume reads that probe again anyway).
                e = next.next();
            }
        }
        match e.map(|e| &e.body) {
            Some(Body::StepIntent(i)) => i.step == body.step && i.command == body.command,
            _ => false,
        }
    }

    fn diverged(&mut self, expected: String) -> Halt {
        let (seq, recorded) = match self.next_recorded() {
            Some(e) => (e.seq, describe(e)),
            None => (self.journal.len(), "the end of the journal".into()),
        };
        Halt::Divergence {
            seq,
            recorded,
            expected,
        }
    }

    /// Records a fact read from the environment, or replays the recorded one.
    ///
    /// `read` is only called in a live run.
    pub async fn observe<T, F>(
        &mut self,
        step: Option<&str>,
        name: &str,
        source: &str,
        read: F,
    ) -> Result<T, Halt>
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = T>,
    {
        let same = |e: &Event| matches!(&e.body, Body::Observation(o) if o.name == name && o.step.as_deref() == step);
        if let Some(e) = self.next_recorded() {
            if !same(e) {
                return Err(self.diverged(format!(
                    "observation {name} of {}",
                    step.unwrap_or("the run")
                )));
            }
            let e = self.recorded.pop_front().expect("peeked");
            let Body::Observation(o) = e.body else {
                unreachable!()
            };
            return serde_json::from_value(o.data).map_err(|err| Halt::Divergence {
                seq: e.seq,
                recorded: format!("observation {name} in another shape"),
                expected: err.to_string(),
            });
        }
        if self.replay_only {
            return Err(Halt::ReplayEnd {
                next: format!("observation {name} of {}", step.unwrap_or("the run")),
            });
        }
        let value = read.await;
        let data = serde_json::to_value(&value).map_err(|e| Halt::StepFailed {
            step: step.unwrap_or("-").to_string(),
            reason: format!("observation {name} cannot be recorded: {e}"),
        })?;
        self.append(Body::Observation(Observation {
            step: step.map(str::to_string),
            name: name.to_string(),
            source: source.to_string(),
            data: data.clone(),
        }))?;
        Ok(value)
    }

    /// The next attempt number of a unit.
    fn next_attempt(&mut self, unit: &str) -> u64 {
        let a = self.attempts.entry(unit.to_string()).or_insert(0);
        *a += 1;
        *a
    }

    /// Records the intent, runs the action, records its outcome; or replays them.
    ///
    /// A state-changing action (any effect class but read-only) first runs `probe`: the finding
    /// is recorded (`precheck`), and an effect already in place is not executed again — the
    /// outcome says so. With `needs_approval`, the operator's approval of the durable intent is
    /// asked (or replayed) before the action starts; without it the attempt ends failed and the
    /// run halts until it is given. After a crash, an intent without outcome is settled with
    /// `probe` by the effect class. On resume, an attempt that failed last is tried again.
    pub async fn act<A, FA, P, FP>(
        &mut self,
        intent: Intent,
        needs_approval: Option<String>,
        action: A,
        probe: P,
    ) -> Result<Outcome, Halt>
    where
        A: Fn() -> FA,
        FA: Future<Output = Outcome>,
        P: Fn() -> FP,
        FP: Future<Output = (String, ProbeFinding)>,
    {
        let mut reconciled_now = false;
        loop {
            if intent.effect != Effect::ReadOnly && !reconciled_now {
                let found: Precheck = self
                    .observe(
                        Some(&intent.unit),
                        PRECHECK_OBSERVATION,
                        "the step's probe, before acting",
                        async {
                            let (text, finding) = probe().await;
                            precheck_of(text, finding)
                        },
                    )
                    .await?;
                if found.applied() {
                    self.say(&format!(
                        "  {} is already in effect ({}): not executed again",
                        intent.unit, found.probe
                    ));
                    return Ok(Outcome {
                        status: OutcomeStatus::Succeeded,
                        result: to_result(&AlreadyInEffect {
                            already_in_effect: found,
                        }),
                        reconciled: false,
                    });
                }
            }
            reconciled_now = false;
            let attempt = self.next_attempt(&intent.unit);
            let body = StepIntent {
                step: intent.unit.clone(),
                attempt,
                action: intent.action.as_str().to_string(),
                effect: intent.effect,
                command: intent.command.clone(),
                target: intent.target.clone(),
                inputs: intent.inputs.clone(),
            };
            if self.next_recorded().is_some() {
                let outcome = self
                    .replay_attempt(&body, needs_approval.as_deref(), &probe)
                    .await?;
                if outcome.reconciled && !outcome.succeeded() {
                    // Settled as not applied: the next attempt executes it, without probing
                    // again what the reconciliation just probed.
                    reconciled_now = true;
                    continue;
                }
                if !outcome.succeeded() && !outcome.reconciled {
                    // The journal shows this same intent tried again (its probe first, when
                    // one was recorded). Another text for the unit is the logic's own next
                    // move (a restore again WITH RESTART after 4319): the outcome goes back
                    // to the logic.
                    let retried = self.recorded_retry_of(&body);
                    if retried {
                        // The journal shows the next attempt: replay it.
                        continue;
                    }
                    let stopped_here = self.next_recorded().is_none() && self.resumed;
                    if stopped_here && intent.effect != Effect::Irreversible {
                        // The run stopped on this failure; the resume is the operator's retry.
                        continue;
                    }
                }
                return Ok(outcome);
            }
            if self.replay_only {
                return Err(Halt::ReplayEnd {
                    next: format!(
                        "step.intent {} attempt {}: {}",
                        body.step, body.attempt, body.command
                    ),
                });
            }
            if self.stop.load(Ordering::SeqCst) {
                return Err(Halt::Interrupted {
                    step: intent.unit.clone(),
                    journal: self.journal.path().display().to_string(),
                });
            }
            let appended = self.append(Body::StepIntent(body.clone()))?;
            self.crash_point(CrashPoint::AfterIntent);
            if let Some(text) = &needs_approval {
                match self
                    .approve(
                        &body.step,
                        text,
                        Some((appended.seq, hex(&appended.leaf_hash))),
                        Decision::Approved,
                    )
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        self.record_outcome(
                            &body,
                            &Outcome::failed(to_result(&ApprovalWithheld {
                                approval: Withheld::Declined,
                            })),
                            0,
                        )?;
                        return Err(Halt::Declined {
                            step: body.step.clone(),
                            text: text.clone(),
                        });
                    }
                    Err(halt @ Halt::NeedsApproval { .. }) => {
                        self.record_outcome(
                            &body,
                            &Outcome::failed(to_result(&ApprovalWithheld {
                                approval: Withheld::NotGiven,
                            })),
                            0,
                        )?;
                        return Err(halt);
                    }
                    Err(e) => return Err(e),
                }
            }
            // The journal must still be the file the intent went into: an action recorded in
            // a deleted or replaced file would be recorded nowhere anyone can read.
            self.journal.check_still_open()?;
            let started = Instant::now();
            let outcome = action().await;
            let duration_us = started.elapsed().as_micros() as u64;
            self.crash_point(CrashPoint::BeforeOutcome);
            self.record_outcome(&body, &outcome, duration_us)?;
            self.crash_point(CrashPoint::AfterOutcome);
            return Ok(outcome);
        }
    }

    fn record_outcome(
        &mut self,
        body: &StepIntent,
        outcome: &Outcome,
        duration_us: u64,
    ) -> Result<(), Halt> {
        self.append(Body::StepOutcome(StepOutcome {
            step: body.step.clone(),
            attempt: body.attempt,
            status: outcome.status,
            result: outcome.result.clone(),
            duration_us,
        }))?;
        self.write_checkpoint();
        Ok(())
    }

    /// Replays one attempt: its intent, its approval, then its outcome or reconciliation —
    /// or, when the journal ends after the intent, settles it by probing.
    async fn replay_attempt<P, FP>(
        &mut self,
        body: &StepIntent,
        needs_approval: Option<&str>,
        probe: &P,
    ) -> Result<Outcome, Halt>
    where
        P: Fn() -> FP,
        FP: Future<Output = (String, ProbeFinding)>,
    {
        match self.next_recorded().map(|e| &e.body) {
            Some(Body::StepIntent(recorded)) if recorded == body => {}
            _ => {
                return Err(self.diverged(format!(
                    "step.intent {} attempt {}: {}",
                    body.step, body.attempt, body.command
                )))
            }
        }
        let (intent_event, intent_leaf) = self.pop_recorded();
        if needs_approval.is_some() {
            let recorded = match self.next_recorded().map(|e| &e.body) {
                Some(Body::Approval(a)) => Some((a.decision == Decision::Approved, a.text.clone())),
                _ => None,
            };
            if let Some((given, text)) = recorded {
                let (e, _) = self.pop_recorded();
                self.last_approval_at = Some(e.at);
                // A decline is followed by the attempt's failed outcome; only a decline that
                // nothing follows and no resume revisits stands as the last word.
                if !given && self.next_recorded().is_none() && !self.resumed {
                    return Err(Halt::Declined {
                        step: body.step.clone(),
                        text,
                    });
                }
            }
        }
        let replay_only = self.replay_only;
        let recorded = self.next_recorded().map(|e| {
            timeline::ending(e, Keep::All)
                .filter(|(unit, attempt, _)| *unit == body.step && *attempt == body.attempt)
                .map(|(_, _, end)| end)
        });
        match recorded {
            Some(Some(end)) => {
                self.pop_recorded();
                Ok(outcome_of(end))
            }
            Some(None) => Err(self.diverged(format!(
                "the outcome of {} attempt {}",
                body.step, body.attempt
            ))),
            None if replay_only => Err(Halt::ReplayEnd {
                next: format!("reconciliation of {} attempt {}", body.step, body.attempt),
            }),
            None => {
                self.reconcile(&intent_event, intent_leaf, body, probe)
                    .await
            }
        }
    }

    fn pop_recorded(&mut self) -> (Event, String) {
        let e = self.recorded.pop_front().expect("peeked before popping");
        let leaf = e
            .to_canonical_bytes()
            .map(|b| hex(&runledger_verifier::signing::event_leaf_hash(&b)))
            .unwrap_or_default();
        (e, leaf)
    }

    async fn reconcile<P, FP>(
        &mut self,
        intent_event: &Event,
        intent_leaf: String,
        body: &StepIntent,
        probe: &P,
    ) -> Result<Outcome, Halt>
    where
        P: Fn() -> FP,
        FP: Future<Output = (String, ProbeFinding)>,
    {
        let (probe_text, finding) = match body.effect {
            Effect::ReadOnly => (
                "none: a read-only action runs again".to_string(),
                ProbeFinding::NotApplied(
                    serde_json::json!({"note": "read-only action: it runs again"}),
                ),
            ),
            _ => probe().await,
        };
        let (verdict, result) = match (&finding, body.effect) {
            (ProbeFinding::Applied(v), Effect::ReadOnly | Effect::Idempotent | Effect::Guarded) => {
                (ReconcileVerdict::Applied, v.clone())
            }
            (
                ProbeFinding::NotApplied(v),
                Effect::ReadOnly | Effect::Idempotent | Effect::Guarded,
            ) => (ReconcileVerdict::NotApplied, v.clone()),
            (ProbeFinding::Unknown(v), Effect::Idempotent) => (
                ReconcileVerdict::NotApplied,
                serde_json::json!({"probe": v, "note": "idempotent: it is executed again"}),
            ),
            (f, _) => {
                let (word, evidence) = match f {
                    ProbeFinding::Applied(v) => ("applied", v),
                    ProbeFinding::NotApplied(v) => ("not applied", v),
                    ProbeFinding::Unknown(v) => ("unknown", v),
                };
                let text = format!(
                    "{} attempt {} was interrupted; the probe says its effect is {word} ({evidence}); approve to treat it as applied, decline to run it again",
                    body.step, body.attempt
                );
                let applied = self
                    .approve(
                        &body.step,
                        &text,
                        Some((intent_event.seq, intent_leaf)),
                        Decision::TreatAsApplied,
                    )
                    .await?;
                (
                    ReconcileVerdict::OperatorDecided,
                    serde_json::json!({"probe": evidence, "operator": OperatorSettled::from_applied(applied).as_str()}),
                )
            }
        };
        let reconciled = StepReconciled {
            step: body.step.clone(),
            attempt: body.attempt,
            probe: probe_text,
            probe_result: result.clone(),
            verdict,
        };
        let applied = reconciled.applied();
        self.append(Body::StepReconciled(reconciled))?;
        self.write_checkpoint();
        self.ui.line(&format!(
            "  reconciled {} attempt {}: {}",
            body.step,
            body.attempt,
            if applied {
                "applied"
            } else {
                "not applied, executing again"
            }
        ));
        if !applied && body.effect == Effect::Irreversible {
            return Err(Halt::StepFailed {
                step: body.step.clone(),
                reason: "the operator treats the interrupted irreversible action as not applied; check the system and resume".into(),
            });
        }
        Ok(Outcome {
            status: if applied {
                OutcomeStatus::Succeeded
            } else {
                OutcomeStatus::Failed
            },
            result: serde_json::json!({"reconciled": result}),
            reconciled: true,
        })
    }

    /// Asks for (or replays) an operator decision. `decision` names what is approved, e.g.
    /// `approved` or `accept_data_loss`. Returns whether it was given.
    pub async fn approve(
        &mut self,
        step: &str,
        text: &str,
        intent: Option<(u64, String)>,
        decision: Decision,
    ) -> Result<bool, Halt> {
        if let Some(e) = self.next_recorded() {
            let Body::Approval(a) = &e.body else {
                return Err(self.diverged(format!("approval of {step}: {text}")));
            };
            if step_of(&a.step) != step_of(step) {
                return Err(self.diverged(format!("approval of {step}")));
            }
            let given = a.decision == decision;
            let accepted = (given && decision == Decision::AcceptDataLoss).then(|| a.text.clone());
            self.data_loss_accepted.extend(accepted);
            if given && decision == Decision::Skip {
                self.skipped.insert(step_of(step).to_string());
            }
            let (e, _) = self.pop_recorded();
            self.last_approval_at = Some(e.at);
            if given || !self.resumed || self.next_recorded().is_some() {
                return Ok(given);
            }
            // Declined last, and the operator resumed: the question is asked again below.
        }
        if self.replay_only {
            return Err(Halt::ReplayEnd {
                next: format!("approval of {step}"),
            });
        }
        let base = step_of(step).to_string();
        // `--yes` and a rehearsal's auto_approve give step approvals only: accepting data loss,
        // going on without a step, deciding what an interrupted action did, and approving a step
        // marked `explicit_approval` always take a flag naming the step, or a person.
        let given_by_flags = match decision {
            Decision::AcceptDataLoss => self.policy.data_loss.contains(&base),
            Decision::Skip => self.policy.skip.contains(&base),
            Decision::TreatAsApplied => self.policy.steps.contains(&base),
            _ if self.explicit_steps.contains(&base) => self.policy.steps.contains(&base),
            _ => self.policy.all || self.policy.steps.contains(&base),
        };
        let given = if given_by_flags {
            true
        } else if self.policy.interactive {
            self.ui.confirm(&format!("{step}: {text}. Approve?"))
        } else {
            return Err(Halt::NeedsApproval {
                step: base,
                text: text.to_string(),
                journal: self.journal.path().display().to_string(),
                flag: match decision {
                    Decision::AcceptDataLoss => "--accept-data-loss",
                    Decision::Skip => "--skip",
                    _ => "--approve",
                },
            });
        };
        if given && decision == Decision::AcceptDataLoss {
            self.data_loss_accepted.push(text.to_string());
        }
        if given && decision == Decision::Skip {
            self.skipped.insert(base.clone());
        }
        // Only a step approval given by the rehearsal's own auto_approve carries its label.
        let by_runbook =
            given_by_flags && decision == Decision::Approved && !self.policy.steps.contains(&base);
        let operator = match &self.policy.auto_label {
            Some(label) if by_runbook => format!("{} ({label})", self.policy.operator),
            _ => self.policy.operator.clone(),
        };
        let appended = self.append(Body::Approval(Approval {
            step: step.to_string(),
            operator,
            decision: if given { decision } else { Decision::Declined },
            text: text.to_string(),
            intent: intent.map(|(seq, leaf_hash)| IntentRef { seq, leaf_hash }),
        }))?;
        self.last_approval_at = Some(appended.at);
        Ok(given)
    }

    /// Asks the operator to accept recovering the database at `point` (an LSN), losing every
    /// transaction after it; `text` names the files, the errors and the recovery point. A loss
    /// at or after a point the operator already accepted in this run is covered by that
    /// decision and not asked again. Returns whether the loss is accepted.
    pub async fn accept_loss(&mut self, step: &str, point: u128, text: &str) -> Result<bool, Halt> {
        if self.accepted_points.iter().any(|&p| point >= p) {
            self.say(&format!(
                "  {text}; already accepted by the operator's earlier decision in this run"
            ));
            return Ok(true);
        }
        let given = self
            .approve(step, text, None, Decision::AcceptDataLoss)
            .await?;
        if given {
            self.accepted_points.push(point);
        }
        Ok(given)
    }

    /// Asks whether to go on without `step`, whose readiness does not hold (`--skip STEP`).
    pub async fn skip(&mut self, step: &str, text: &str) -> Result<bool, Halt> {
        self.approve(step, text, None, Decision::Skip).await
    }

    /// Keeps the checkpoint of the journal as it stands and rewrites `checkpoint.txt` beside
    /// the journal with it (best effort: the journal is the record; a failure is said).
    pub fn write_checkpoint(&mut self) {
        let Some(keeper) = &mut self.checkpoints else {
            return;
        };
        let size = self.journal.len();
        // Signed once: the same text is kept in the history, written to `checkpoint.txt` and
        // time-stamped; the checkpoint the last append kept is not signed again.
        let text = match keeper
            .kept_text(size)
            .map_or_else(|| self.journal.checkpoint_text(), |t| Ok(t.to_owned()))
        {
            Ok(text) => text,
            Err(e) => {
                keeper.set_latest_current(false);
                self.ui.line(&format!(
                    "warning: cannot write checkpoint {}: {e}",
                    keeper.latest().display()
                ));
                return;
            }
        };
        if let Some(warning) = keeper.keep(size, &text) {
            self.ui.line(&warning);
        }
        let written = crate::journal::write_atomically(keeper.latest(), text.as_bytes());
        keeper.set_latest_current(written.is_ok());
        match written {
            Ok(()) => {
                if let Some(tsa) = &mut self.tsa {
                    if let Some(warning) = tsa.stamp(self.journal.path(), size, &text) {
                        self.ui.line(&warning);
                    }
                }
            }
            Err(e) => self.ui.line(&format!(
                "warning: cannot write checkpoint {}: {e}",
                keeper.latest().display()
            )),
        }
    }

    /// `checkpoint.txt`, if the last write of it succeeded (it then covers the journal as it
    /// stood at that write).
    pub fn checkpoint_written(&self) -> Option<&Path> {
        self.checkpoints
            .as_ref()
            .and_then(Keeper::latest_if_current)
    }
}

/// Where the run of facts at the end of `events` begins: the observations after the last
/// action, outcome or decision (the markers among them count with them).
fn unconsumed_tail_start(events: &[Event]) -> usize {
    let mut start = events.len();
    while start > 0 {
        let e = &events[start - 1];
        let fact = is_marker(e) || matches!(e.body, Body::Observation(_));
        if !fact {
            break;
        }
        start -= 1;
    }
    // Markers before the first fact belong to what came before.
    while start < events.len() && is_marker(&events[start]) {
        start += 1;
    }
    start
}

/// The recorded events without the facts a resume read again: before each `run.resumed`, the
/// observations after the last action or decision were acted on by nothing, and the resumed
/// process read the world again instead of them ([`Dispatcher::reread_unconsumed_facts`]), so
/// a replay passes over them exactly as that process did.
fn without_superseded(events: Vec<Event>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::with_capacity(events.len());
    for e in events {
        if matches!(e.body, Body::RunResumed(_)) {
            let start = unconsumed_tail_start(&out);
            let tail: Vec<Event> = out.drain(start..).filter(is_marker).collect();
            out.extend(tail);
        }
        out.push(e);
    }
    out
}

/// The outcome the step logic is given for a recorded ending: the action's own result, or
/// for a reconciliation the probe's evidence (the action's result is lost).
fn outcome_of(end: End) -> Outcome {
    let took_effect = end.took_effect();
    let (result, reconciled) = match end {
        End::Outcome { result, .. } => (result.unwrap_or_default(), false),
        End::Reconciled { probe_result, .. } => (
            serde_json::json!({"reconciled": probe_result.unwrap_or_default()}),
            true,
        ),
        End::Open => (serde_json::Value::Null, false),
    };
    Outcome {
        status: if took_effect == Some(true) {
            OutcomeStatus::Succeeded
        } else {
            OutcomeStatus::Failed
        },
        result,
        reconciled,
    }
}

/// Describes a recorded event as `Halt::ReplayEnd` describes the next decision.
pub fn describe(e: &Event) -> String {
    match &e.body {
        Body::StepIntent(i) => format!(
            "step.intent {} attempt {}: {}",
            i.step, i.attempt, i.command
        ),
        Body::Observation(o) => format!(
            "observation {} of {}",
            o.name,
            o.step.as_deref().unwrap_or("the run")
        ),
        Body::Approval(a) => format!("approval of {}", a.step),
        Body::StepOutcome(o) => format!("reconciliation of {} attempt {}", o.step, o.attempt),
        Body::StepReconciled(r) => format!("reconciliation of {} attempt {}", r.step, r.attempt),
        other => other.kind().to_string(),
    }
}
