//! Where the last run of a journal stands, read from the journal alone: what
//! `runledger status` prints, as lines for a person or as JSON for a script
//! (`schemas/status.schema.json`).
//!
//! The account is the journal's own. So it comes after the one thing that can be checked
//! without the operator's trusted keys: whether the journal holds together (chain,
//! signatures, the run's rules) under the key its `journal.opened` names. Whether that key is
//! the operator's is `runledger-verify --trust`'s question, not this one's.

use std::fmt;
use std::path::Path;

use runledger_verifier::event::{Body, Event, OutcomeStatus, ResultView};
use runledger_verifier::source::{self, Format};
use runledger_verifier::timeline::{End, Run};
use runledger_verifier::{verify, Options, TrustedKeys, Verdict};
use schemars::JsonSchema;
use serde::Serialize;

use crate::run::{last_run, RunError};

/// The format word of the JSON form.
pub const FORMAT: &str = "runledger-status/v1";

/// Where the last run of a journal stands.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Standing {
    /// Always `runledger-status/v1`.
    pub format: String,
    /// The journal read.
    pub journal: String,
    /// Whether the journal holds together under the key it names.
    pub integrity: Integrity,
    /// The last run; `null` when the journal holds no run.
    pub run: Option<RunNamed>,
    /// Actions of the last run whose outcome says they succeeded.
    pub actions_succeeded: u64,
    /// Where the last run stands; `null` when the journal holds no run.
    pub state: Option<State>,
}

/// The run a standing is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RunNamed {
    /// The run id.
    pub id: String,
    /// The runbook's name, as embedded in `run.started`.
    pub runbook: String,
    /// The runbook's version, as embedded in `run.started`.
    pub version: String,
}

/// Whether the journal holds together under the key its `journal.opened` names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Integrity {
    /// Chain, signatures and the run's rules hold for every event.
    Holds {
        /// Events checked.
        events: u64,
    },
    /// A check fails: what follows is only what the journal claims.
    DoesNotHoldTogether {
        /// The first event at fault, when one is.
        seq: Option<u64>,
        /// The check that fails, as `runledger-verify` names it.
        check: String,
        /// Why, in one line.
        reason: String,
    },
    /// The journal could not be checked at all.
    NotChecked {
        /// Why, in one line.
        reason: String,
    },
}

/// Where the last run stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum State {
    /// `run.finished` was written.
    Finished,
    /// The engine recorded why it stopped, and nothing but a resume followed.
    Halted {
        /// `waiting_for_decision`, `declined`, `failed`, `interrupted`, as recorded.
        halt: String,
        /// The step it stopped at.
        step: Option<String>,
        /// The reason as the operator was told it.
        reason: String,
    },
    /// An intent has no outcome: `runledger resume` reconciles it.
    InFlight {
        /// The step, or `STEP/FILE`.
        unit: String,
        /// Its attempt.
        attempt: u64,
        /// The seq of its `step.intent`.
        intent_seq: u64,
    },
    /// The last outcome withheld an action for want of an approval.
    WaitingForApproval {
        /// The step, or `STEP/FILE`.
        unit: String,
    },
    /// The last outcome is a failure.
    Failed {
        /// The step, or `STEP/FILE`.
        unit: String,
        /// The failure in one line.
        reason: String,
    },
    /// Stopped between two actions, without a recorded reason.
    Stopped {
        /// The unit of the last outcome, or `run.started`.
        after: String,
    },
}

impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Integrity::Holds { events } => write!(
                f,
                "{events} events hold together under the key it names (chain, signatures, the run's rules); `runledger-verify --trust KEYS` checks that key is yours"
            ),
            Integrity::DoesNotHoldTogether { seq, check, reason } => {
                let at = seq.map(|s| format!("seq {s}: ")).unwrap_or_default();
                write!(
                    f,
                    "DOES NOT HOLD TOGETHER ({at}[{check}] {reason}); what follows is only what it claims"
                )
            }
            Integrity::NotChecked { reason } => write!(f, "NOT CHECKED: {reason}"),
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Finished => write!(f, "finished"),
            State::Halted { halt, step, reason } => write!(
                f,
                "{} at {}: {reason}",
                halt.replace('_', " "),
                step.as_deref().unwrap_or("-")
            ),
            State::InFlight {
                unit,
                attempt,
                intent_seq,
            } => write!(
                f,
                "in flight: {unit} attempt {attempt} (intent seq {intent_seq}) has no outcome; `runledger resume` reconciles it"
            ),
            State::WaitingForApproval { unit } => write!(f, "waiting for approval of {unit}"),
            State::Failed { unit, reason } => write!(f, "failed at {unit}: {reason}"),
            State::Stopped { after } => {
                write!(f, "stopped after {after}; `runledger resume` continues")
            }
        }
    }
}

impl Standing {
    /// The lines `runledger status` prints: the run, the journal's integrity, the actions that
    /// succeeded and the state; one line when the journal holds no run.
    pub fn lines(&self) -> Vec<String> {
        let (Some(run), Some(state)) = (&self.run, &self.state) else {
            return vec![format!("{}: no run started", self.journal)];
        };
        vec![
            format!(
                "run      {} ({} version {})",
                run.id, run.runbook, run.version
            ),
            format!("journal  {}", self.integrity),
            format!("actions  {} succeeded", self.actions_succeeded),
            format!("state    {state}"),
        ]
    }
}

/// Reads where the last run of the journal at `path` stands.
pub fn standing(path: &Path) -> Result<Standing, RunError> {
    let last = last_run(path)?;
    let integrity = integrity(path);
    let journal = path.display().to_string();
    let Some(last) = last else {
        return Ok(Standing {
            format: FORMAT.into(),
            journal,
            integrity,
            run: None,
            actions_succeeded: 0,
            state: None,
        });
    };
    let rb = &last.started.runbook;
    Ok(Standing {
        format: FORMAT.into(),
        journal,
        integrity,
        run: Some(RunNamed {
            id: last.run_id.clone(),
            runbook: rb.name.clone(),
            version: rb.version.clone(),
        }),
        actions_succeeded: succeeded(&last.timeline),
        state: Some(state(&last.timeline)),
    })
}

/// The JSON Schema of the JSON form.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Standing)).unwrap_or_default()
}

/// Checks the journal under the key its `journal.opened` names.
fn integrity(journal: &Path) -> Integrity {
    let not_checked = |reason: String| Integrity::NotChecked { reason };
    let mut named = None;
    let read = source::for_each_record(journal, Format::Sqlite, |r| {
        if let Ok(Event {
            body: Body::JournalOpened(o),
            ..
        }) = Event::from_canonical_bytes(&r.event)
        {
            named = Some(o.public_key);
        }
        false
    });
    let key = match (read, named) {
        (Ok(()), Some(key)) => key,
        (Err(e), _) => return not_checked(e.to_string()),
        (Ok(()), None) => {
            return not_checked("seq 0 is not a readable journal.opened naming its key".into())
        }
    };
    let trusted = match TrustedKeys::named_by_journal(&key) {
        Ok(t) => t,
        Err(e) => return not_checked(format!("the key it names is not usable: {e}")),
    };
    match verify(journal, &trusted, &Options::default()) {
        Ok(r) => match r.verdict {
            Verdict::Invalid | Verdict::CouldNotCheck => match r.failure {
                Some(f) => Integrity::DoesNotHoldTogether {
                    seq: f.seq,
                    check: f.check.name().to_string(),
                    reason: f.reason,
                },
                None => Integrity::DoesNotHoldTogether {
                    seq: None,
                    check: "verdict".into(),
                    reason: r.verdict_text,
                },
            },
            _ => Integrity::Holds {
                events: r.journal.events,
            },
        },
        Err(e) => not_checked(e.to_string()),
    }
}

/// Actions whose `step.outcome` says they succeeded.
fn succeeded(run: &Run) -> u64 {
    run.attempts
        .iter()
        .filter(|a| {
            matches!(
                a.end,
                End::Outcome {
                    status: OutcomeStatus::Succeeded,
                    ..
                }
            )
        })
        .count() as u64
}

/// Where the run stands, from its timeline: finished, stopped by the engine for a reason it
/// recorded, an intent in flight, a failure, or stopped between actions.
fn state(run: &Run) -> State {
    if run.finished.is_some() {
        return State::Finished;
    }
    // The engine records why it stopped; nothing but a resume after that record means it
    // still stands.
    if let Some(h) = &run.halt {
        return State::Halted {
            halt: h.kind.clone(),
            step: h.step.clone(),
            reason: h.reason.clone(),
        };
    }
    if let Some(a) = run.open_attempts().first() {
        return State::InFlight {
            unit: a.unit.clone(),
            attempt: a.attempt,
            intent_seq: a.intent_seq,
        };
    }
    let last = run.last_outcome();
    let failed = last.and_then(|a| match &a.end {
        End::Outcome {
            status: OutcomeStatus::Failed,
            result,
            ..
        } => Some((a, result.clone().unwrap_or_default())),
        _ => None,
    });
    if let Some((a, result)) = failed {
        return if ResultView::of(&result).approval.is_some() {
            State::WaitingForApproval {
                unit: a.unit.clone(),
            }
        } else {
            State::Failed {
                unit: a.unit.clone(),
                reason: crate::step::failure_reason(&result),
            }
        };
    }
    State::Stopped {
        after: last.map_or_else(|| "run.started".to_string(), |a| a.unit.clone()),
    }
}
