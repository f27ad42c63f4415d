//! The run's own rules, checked from its events and its embedded runbook alone.
//!
//! The bytes of a journal prove who wrote each event and that none was changed since. They do
//! not prove that the run followed its procedure: whoever holds the key can write a journal in
//! which a step ran without its approval, a failure was passed over, a log was restored out of
//! order or the database was recovered twice, and sign and seal it. These checks read each run
//! as an auditor would and name the first event that breaks one of its rules:
//!
//! - **approvals** — an action of a step that asks for approval (a `manual` step,
//!   `requires_approval`, or any `irreversible` effect) took effect only after an `approved`
//!   approval bound to its intent (or, for an interrupted one, the operator's `treat_as_applied`);
//! - **decisions** — every `data_loss` finding, and every readiness that does not hold, is
//!   answered by the operator's decision (`accept_data_loss` or `skip`, or `declined`) before
//!   anything else happens, unless a resume read the world again; a loss at or after a recovery
//!   point already accepted in the run is covered by that decision;
//! - **step_failures** — after an attempt failed, nothing else is started until the same unit
//!   is tried again or a decision about its step (`accept_data_loss`, `skip`) is recorded; a
//!   `warn_only` check may fail and the run go on;
//! - **restore_order** — each log restored continues the one restored before it (its FirstLSN at
//!   or before that one's LastLSN, its LastLSN after it), as the run's recorded headers say; a
//!   restore of a file whose header the run did not record cannot be judged and is counted as
//!   not checked;
//! - **recovery** — `WITH RECOVERY` takes effect at most once per run, no log is restored after
//!   it, and a run that restored logs and says it succeeded recovered the database if its
//!   runbook has a recovery step;
//! - **run_status** — `run.finished` says `succeeded` only when no failure is left unresolved and
//!   every step that asks for approval left a trace (an action, an observation or a decision),
//!   and `failed` only when one is;
//! - **run_signer** — every event of a run is signed by the key that signed its `run.started`;
//! - **runbook** (its part judged here) — a step that `reads` the file another step `writes` (the
//!   restore of a full backup) names as its only input exactly the file, size and SHA-256 that
//!   step's last succeeded outcome recorded.

use std::collections::{BTreeMap, HashMap};

use crate::event::results::{decode, Written};
use crate::event::{
    ActionKind, Body, Decision, Effect, Event, FileRef, Finding as ProbeFinding, OperatorSettled,
    OutcomeStatus, Precheck, RunStatus, StepIntent,
};
use crate::lsn::Lsn;
use crate::report::Check;
use crate::timeline::{Answer, Attempt, End, Finding, Keep, Run};
use crate::verify::step_of;

pub use crate::timeline::READINESS_OBSERVATION;

/// The name of the observation that records a step's probe before it acts.
pub const PRECHECK_OBSERVATION: &str = "precheck";
/// The name of the observation that records the headers of backup files.
pub const BACKUP_HEADERS_OBSERVATION: &str = "backup_headers";

/// What the embedded runbook says of one step.
#[derive(Debug, Clone, Default)]
pub struct StepRule {
    /// The step's action kind.
    pub action: String,
    /// The step asks the operator before acting (`manual`, or `requires_approval`).
    pub needs_approval: bool,
    /// A check whose failure is recorded and passed over.
    pub warn_only: bool,
    /// A `sql` step that reads the file another step `writes`: that step's id.
    pub reads: Option<String>,
}

impl StepRule {
    /// The step's action kind, `None` for a word this format does not know.
    pub fn kind(&self) -> Option<ActionKind> {
        ActionKind::parse(&self.action)
    }
}

/// A rule broken, at a seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The check that fails.
    pub check: Check,
    /// The first event at fault.
    pub seq: u64,
    /// Why, in one line.
    pub reason: String,
}

fn broken(check: Check, seq: u64, reason: String) -> Violation {
    Violation { check, seq, reason }
}

/// What the rules examined, for the report's details.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Actions that asked for approval and took effect, each checked for its approval.
    pub approvals: u64,
    /// Findings answered by a decision.
    pub decisions: u64,
    /// Log restores checked against the one before.
    pub restores_checked: u64,
    /// Log restores of a file whose header the run did not record: not checked.
    pub restores_unchecked: u64,
    /// Recoveries that took effect (`WITH RECOVERY`), each checked to come once, after the last restore.
    pub recoveries: u64,
}

impl Tally {
    /// Adds another run's tally.
    pub fn add(&mut self, o: Tally) {
        self.approvals += o.approvals;
        self.decisions += o.decisions;
        self.restores_checked += o.restores_checked;
        self.restores_unchecked += o.restores_unchecked;
        self.recoveries += o.recoveries;
    }
}

#[derive(Debug, Clone, Copy)]
struct Span {
    first: Lsn,
    last: Lsn,
}

/// The rules of one run, fed its events in order.
///
/// What happened — which attempts are open, how each ended, which finding waits for the
/// operator and what answered it — is the run's [`timeline`](crate::timeline), folded keeping
/// only what is open; the rules judge each change it reports.
pub struct RunRules {
    steps: HashMap<String, StepRule>,
    order: Vec<String>,
    run: Run,
    /// Unit → (seq of the failure, its step): failures nothing resolved yet.
    failed: BTreeMap<String, (u64, String)>,
    /// Step → file → its LSNs, from the step's latest `backup_headers`.
    headers: HashMap<String, HashMap<String, Span>>,
    last_restore: Option<(String, Span)>,
    recovered_at: Option<u64>,
    recovery_in_effect: bool,
    /// Step → the file its latest succeeded outcome says the batch wrote, with that seq.
    written: HashMap<String, (u64, Written)>,
    tally: Tally,
}

impl RunRules {
    /// The rules of a run whose runbook declares `steps` (id, rule) in order, started by an
    /// event signed with key id `signer`.
    pub fn new(steps: Vec<(String, StepRule)>, signer: &str) -> RunRules {
        RunRules {
            order: steps.iter().map(|(id, _)| id.clone()).collect(),
            steps: steps.into_iter().collect(),
            run: Run::new(Keep::Open, signer),
            failed: BTreeMap::new(),
            headers: HashMap::new(),
            last_restore: None,
            recovered_at: None,
            recovery_in_effect: false,
            written: HashMap::new(),
            tally: Tally::default(),
        }
    }

    /// What the rules examined so far.
    pub fn tally(&self) -> Tally {
        self.tally
    }

    fn rule(&self, step: &str) -> StepRule {
        self.steps.get(step).cloned().unwrap_or_default()
    }

    /// Takes one event of the run (after `run.started`), in journal order.
    pub fn event(&mut self, e: &Event) -> Result<(), Violation> {
        if e.key != self.run.signer {
            return Err(broken(
                Check::RunSigner,
                e.seq,
                format!(
                    "{} is signed by key {}, the run was started with key {}",
                    e.body.kind(),
                    e.key,
                    self.run.signer
                ),
            ));
        }
        let change = self.run.apply(e);
        if let Some(f) = &change.answered {
            self.answered(e, f)?;
        }
        match &e.body {
            Body::Observation(o) => {
                let step = o.step.as_deref().map(step_of).unwrap_or_default();
                match o.name.as_str() {
                    BACKUP_HEADERS_OBSERVATION => self.read_headers(step, &o.data),
                    PRECHECK_OBSERVATION => {
                        let in_effect = decode::<Precheck>(&o.data)
                            .is_some_and(|p| p.finding == ProbeFinding::Applied);
                        if in_effect && self.rule(step).kind() == Some(ActionKind::RecoverDatabase)
                        {
                            self.recovery_in_effect = true;
                        }
                    }
                    _ => {}
                }
            }
            Body::StepIntent(i) => {
                self.intended(e.seq, &i.step, &i.action)?;
                self.reads_as_written(e.seq, i)?;
            }
            Body::StepOutcome(o) if o.status == OutcomeStatus::Succeeded => {
                if let Some(file) = o.result.get("written").and_then(decode::<Written>) {
                    self.written
                        .insert(step_of(&o.step).to_string(), (e.seq, file));
                }
            }
            Body::Approval(a) => {
                if matches!(a.decision, Decision::AcceptDataLoss | Decision::Skip) {
                    let step = step_of(&a.step);
                    self.failed.retain(|_, (_, s)| s != step);
                }
            }
            Body::RunFinished(f) => self.finished(e.seq, f.status)?,
            _ => {}
        }
        match change.settled {
            Some(att) => self.settle(att),
            None => Ok(()),
        }
    }

    /// Keeps the LSNs of the files a step's `backup_headers` names.
    fn read_headers(&mut self, step: &str, data: &serde_json::Value) {
        let mut files = HashMap::new();
        for h in data["headers"].as_array().into_iter().flatten() {
            let lsn = |k: &str| h[k].as_str().and_then(Lsn::parse);
            if let (Some(file), Some(first), Some(last)) =
                (h["file"].as_str(), lsn("first_lsn"), lsn("last_lsn"))
            {
                files.insert(file.to_string(), Span { first, last });
            }
        }
        self.headers.insert(step.to_string(), files);
    }

    /// An intent: nothing starts while another unit's failure is unresolved, and no log is
    /// restored after the database was recovered.
    fn intended(&mut self, seq: u64, unit: &str, action: &str) -> Result<(), Violation> {
        if let Some((other, (at, _))) = self.failed.iter().find(|(other, _)| *other != unit) {
            return Err(broken(
                Check::StepFailures,
                seq,
                format!(
                    "{unit} starts while {other}, which failed at seq {at}, is unresolved: no later attempt of it and no decision about its step"
                ),
            ));
        }
        self.failed.remove(unit);
        if ActionKind::parse(action) == Some(ActionKind::RestoreLogs) {
            if let Some(at) = self.recovered_at {
                return Err(broken(
                    Check::Recovery,
                    seq,
                    format!("{unit} restores a log after the database was recovered at seq {at}"),
                ));
            }
        }
        Ok(())
    }

    /// A step that reads the file another step wrote names, as its input, exactly that file as
    /// the writer's outcome recorded it: the restore of a backup is bound to the bytes hashed
    /// when the backup was written.
    fn reads_as_written(&self, seq: u64, i: &StepIntent) -> Result<(), Violation> {
        let Some(writer) = self.rule(step_of(&i.step)).reads else {
            return Ok(());
        };
        let Some((at, file)) = self.written.get(&writer) else {
            return Err(broken(
                Check::Runbook,
                seq,
                format!(
                    "{} reads the file {writer} writes, but no outcome of {writer} in this run recorded one",
                    i.step
                ),
            ));
        };
        let same =
            |f: &FileRef| f.path == file.path && f.size == file.size && f.sha256 == file.sha256;
        if i.inputs.len() == 1 && same(&i.inputs[0]) {
            return Ok(());
        }
        let named: Vec<String> = i
            .inputs
            .iter()
            .map(|f| format!("{} ({} bytes, sha256 {})", f.path, f.size, f.sha256))
            .collect();
        Err(broken(
            Check::Runbook,
            seq,
            format!(
                "{} names as its input [{}], not {} ({} bytes, sha256 {}) as {writer} recorded it at seq {at}",
                i.step,
                named.join(", "),
                file.path,
                file.size,
                file.sha256
            ),
        ))
    }

    /// The finding the event answered, or went on past without the operator's decision.
    fn answered(&mut self, e: &Event, f: &Finding) -> Result<(), Violation> {
        if let Answer::Decided { .. } = f.answer {
            self.tally.decisions += 1;
            return Ok(());
        }
        let (what, flag) = if f.is_loss() {
            ("data_loss finding", "accept_data_loss")
        } else {
            ("readiness that does not hold", "skip")
        };
        Err(broken(
            Check::Decisions,
            e.seq,
            format!(
                "{} follows the {what} of step {} at seq {} without the operator's decision ({flag} or declined)",
                e.body.kind(),
                f.step(),
                f.seq
            ),
        ))
    }

    /// An attempt ended: a failure stays unresolved until a retry or a decision; one that
    /// took effect had its approval, continues the log chain, recovers at most once.
    fn settle(&mut self, att: Attempt) -> Result<(), Violation> {
        let (unit, attempt) = (att.unit.as_str(), att.attempt);
        let (Some(seq), Some(took_effect)) = (att.end.seq(), att.end.took_effect()) else {
            return Ok(());
        };
        let treated = matches!(
            att.end,
            End::Reconciled {
                settled: Some(OperatorSettled::Applied),
                ..
            }
        );
        let rule = self.rule(att.step());
        if !took_effect {
            if !rule.warn_only {
                self.failed
                    .insert(unit.to_string(), (seq, att.step().to_string()));
            }
            return Ok(());
        }
        self.failed.remove(unit);
        let needs = rule.needs_approval || att.effect == Effect::Irreversible;
        if needs {
            self.tally.approvals += 1;
        }
        if needs && !(att.approved() || (treated && att.treated_as_applied())) {
            return Err(broken(
                Check::Approvals,
                att.intent_seq,
                format!(
                    "{unit} attempt {attempt} took effect (seq {seq}) without an approved approval bound to its intent"
                ),
            ));
        }
        if ActionKind::parse(&att.action) == Some(ActionKind::RestoreLogs) {
            self.restored(&att, seq)?;
        }
        if is_recovery(&att) {
            if let Some(at) = self.recovered_at {
                return Err(broken(
                    Check::Recovery,
                    att.intent_seq,
                    format!("{unit} recovers the database a second time (first at seq {at})"),
                ));
            }
            self.recovered_at = Some(seq);
            self.tally.recoveries += 1;
        }
        Ok(())
    }

    fn restored(&mut self, att: &Attempt, seq: u64) -> Result<(), Violation> {
        let unit = att.unit.as_str();
        let file = unit.split_once('/').map_or(unit, |(_, f)| f);
        // The file's LSNs as the run's latest reading of its header says (the copy reads the
        // share's headers, the restore the destination's: the same files).
        let span = self
            .headers
            .get(att.step())
            .and_then(|h| h.get(file))
            .or_else(|| self.headers.values().find_map(|h| h.get(file)))
            .copied();
        let Some(span) = span else {
            // Nothing recorded to judge it by: counted as not checked, and the chain is judged
            // afresh from the next restore.
            self.tally.restores_unchecked += 1;
            self.last_restore = None;
            return Ok(());
        };
        if let Some((prev, p)) = &self.last_restore {
            if !(span.first <= p.last && span.last > p.last) {
                return Err(broken(
                    Check::RestoreOrder,
                    att.intent_seq,
                    format!(
                        "{file} (FirstLSN {}, LastLSN {}, restored at seq {seq}) does not continue {prev} (LastLSN {}), the log restored before it",
                        span.first, span.last, p.last
                    ),
                ));
            }
        }
        self.tally.restores_checked += 1;
        self.last_restore = Some((file.to_string(), span));
        Ok(())
    }

    fn finished(&mut self, seq: u64, status: RunStatus) -> Result<(), Violation> {
        let unresolved = self.failed.iter().next();
        match status {
            RunStatus::Succeeded => {
                if let Some((unit, (at, _))) = unresolved {
                    return Err(broken(
                        Check::RunStatus,
                        seq,
                        format!("run.finished says succeeded while {unit}, which failed at seq {at}, is unresolved"),
                    ));
                }
                let recovers = self
                    .order
                    .iter()
                    .any(|s| self.rule(s).kind() == Some(ActionKind::RecoverDatabase));
                let restored = self.tally.restores_checked + self.tally.restores_unchecked > 0;
                if recovers && restored && self.recovered_at.is_none() && !self.recovery_in_effect {
                    return Err(broken(
                        Check::Recovery,
                        seq,
                        "run.finished says succeeded: logs were restored, but the database was never recovered".into(),
                    ));
                }
            }
            RunStatus::Failed => {
                if unresolved.is_none() {
                    return Err(broken(
                        Check::RunStatus,
                        seq,
                        "run.finished says failed, but no failure is left unresolved".into(),
                    ));
                }
            }
            RunStatus::Aborted => {}
        }
        Ok(())
    }
}

/// Whether an attempt recovers a database: the recovery action, or a T-SQL batch with
/// `WITH RECOVERY` in it (`WITH NORECOVERY` and `WITH STANDBY` do not).
fn is_recovery(att: &Attempt) -> bool {
    match ActionKind::parse(&att.action) {
        Some(ActionKind::RecoverDatabase) => true,
        Some(ActionKind::Sql | ActionKind::RestoreLogs) => has_with_recovery(&att.command),
        _ => false,
    }
}

fn has_with_recovery(text: &str) -> bool {
    let upper = text.to_ascii_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    // Per statement: RESTORE …, then WITH …, then RECOVERY as a word of its own.
    let mut restore = false;
    let mut with = false;
    for w in words {
        match w {
            "RESTORE" => (restore, with) = (true, false),
            "WITH" if restore => with = true,
            "RECOVERY" if with => return true,
            "GO" => (restore, with) = (false, false),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_recovery_is_told_from_norecovery_and_standby() {
        assert!(has_with_recovery("RESTORE DATABASE [mgc] WITH RECOVERY"));
        assert!(has_with_recovery(
            "restore log x from disk = N'a' with\n  recovery;"
        ));
        assert!(!has_with_recovery(
            "RESTORE LOG [mgc] FROM DISK = N'a' WITH NORECOVERY"
        ));
        assert!(!has_with_recovery(
            "RESTORE LOG [mgc] FROM DISK = N'a' WITH STANDBY = N'u'"
        ));
        assert!(has_with_recovery(
            "RESTORE LOG [mgc] FROM DISK = N'a' WITH FILE = 1, RECOVERY"
        ));
        assert!(!has_with_recovery(
            "SELECT recovery_model FROM sys.databases"
        ));
        assert!(!has_with_recovery("SELECT 1 WHERE x = 'WITH RECOVERY'"));
    }
}
