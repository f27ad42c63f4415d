//! Runs: their events in order, their runbook's steps, their intents in flight, and the run's
//! own rules (`semantics`).

use super::*;

/// State of the run in progress.
pub(super) struct RunState {
    pub(super) id: String,
    /// Step id → (position in the runbook, action).
    pub(super) steps: HashMap<String, (usize, String)>,
    pub(super) last_index: Option<usize>,
    /// (step unit, attempt) → in-flight intent.
    pub(super) in_flight: BTreeMap<(String, u64), InFlight>,
    /// Step unit → last attempt seen.
    pub(super) attempts: HashMap<String, u64>,
    pub(super) last_resume_seq: Option<u64>,
    pub(super) row: Option<usize>,
    /// The run's own rules (approvals, decisions, failures, restores, recovery, status).
    pub(super) rules: RunRules,
}

pub(super) struct InFlight {
    pub(super) seq: u64,
    pub(super) leaf: Hash,
    pub(super) row: Option<usize>,
}

#[derive(serde::Deserialize)]
struct RunbookSteps {
    #[serde(default)]
    steps: Vec<RunbookStep>,
}

#[derive(serde::Deserialize)]
struct RunbookStep {
    id: String,
    action: String,
    #[serde(default)]
    requires_approval: bool,
    #[serde(default)]
    warn_only: bool,
    #[serde(default)]
    reads: Option<String>,
}

impl Verifier<'_> {
    pub(super) fn check_semantics(&mut self, event: &Event, leaf: &Hash) -> Result<(), Fail> {
        let seq = event.seq;
        self.last_was_sealed = false;
        if seq == 0 {
            let Body::JournalOpened(opened) = &event.body else {
                return Err(fail(
                    Check::EventForm,
                    Some(0),
                    format!("seq 0 is {}, expected journal.opened", event.body.kind()),
                ));
            };
            if opened.journal_id != event.journal {
                return Err(mismatch(
                    Check::JournalId,
                    0,
                    "journal.opened names another journal id",
                    event.journal.clone(),
                    opened.journal_id.clone(),
                ));
            }
            let key = decode_public_key(&opened.public_key).ok_or_else(|| {
                fail(
                    Check::EventForm,
                    Some(0),
                    "public_key is not a base64 Ed25519 key",
                )
            })?;
            if signing::key_id(&key) != event.key {
                return Err(mismatch(
                    Check::Signatures,
                    0,
                    "journal.opened's public key is not the key that signed it",
                    event.key.clone(),
                    signing::key_id(&key),
                ));
            }
            return Ok(());
        }
        let run_id = event.run.clone().unwrap_or_default();
        match &event.body {
            Body::JournalOpened(_) => Err(fail(
                Check::EventForm,
                Some(seq),
                "journal.opened after seq 0",
            )),
            Body::RunStarted(started) => {
                if let Some(run) = &self.run {
                    return Err(fail(
                        Check::IntentPairing,
                        Some(seq),
                        format!("run {run_id} started while run {} has not finished", run.id),
                    ));
                }
                if started.run_id != run_id {
                    return Err(mismatch(
                        Check::EventForm,
                        seq,
                        "run.started names another run id",
                        run_id,
                        started.run_id.clone(),
                    ));
                }
                if !self.run_ids.insert(run_id.clone()) {
                    return Err(fail(
                        Check::IntentPairing,
                        Some(seq),
                        format!("run id {run_id} started twice"),
                    ));
                }
                let actual = signing::sha256_hex(started.runbook.source.as_bytes());
                if actual != started.runbook.sha256 {
                    return Err(mismatch(
                        Check::Runbook,
                        seq,
                        "embedded runbook source does not match its sha256",
                        started.runbook.sha256.clone(),
                        actual,
                    ));
                }
                let parsed: RunbookSteps =
                    toml::from_str(&started.runbook.source).map_err(|e| {
                        fail(
                            Check::Runbook,
                            Some(seq),
                            format!(
                                "embedded runbook is not readable TOML: {}",
                                crate::terminal::first_line(&e.to_string())
                            ),
                        )
                    })?;
                self.plan.start(
                    parsed
                        .steps
                        .iter()
                        .map(|s| (s.id.clone(), s.action.clone()))
                        .collect(),
                );
                let mut steps = HashMap::new();
                let mut rules = Vec::with_capacity(parsed.steps.len());
                for (i, step) in parsed.steps.into_iter().enumerate() {
                    rules.push((
                        step.id.clone(),
                        StepRule {
                            action: step.action.clone(),
                            needs_approval: step.requires_approval
                                || ActionKind::parse(&step.action) == Some(ActionKind::Manual),
                            warn_only: step.warn_only,
                            reads: step.reads.clone(),
                        },
                    ));
                    if steps.insert(step.id.clone(), (i, step.action)).is_some() {
                        return Err(fail(
                            Check::Runbook,
                            Some(seq),
                            format!("embedded runbook declares step {:?} twice", step.id),
                        ));
                    }
                }
                let row = if self.runs.len() < MAX_RUN_ROWS {
                    self.runs.push(RunRow {
                        run_id: run_id.clone(),
                        runbook: started.runbook.name.clone(),
                        version: started.runbook.version.clone(),
                        runbook_sha256: started.runbook.sha256.clone(),
                        operator: format!("{}@{}", started.operator.user, started.operator.host),
                        started_at: event.at.clone(),
                        finished_at: None,
                        status: "in_flight".into(),
                        resumes: 0,
                        started_seq: seq,
                    });
                    Some(self.runs.len() - 1)
                } else {
                    self.runs_omitted += 1;
                    None
                };
                self.run = Some(RunState {
                    id: run_id,
                    steps,
                    last_index: None,
                    in_flight: BTreeMap::new(),
                    attempts: HashMap::new(),
                    last_resume_seq: None,
                    row,
                    rules: RunRules::new(rules, &event.key),
                });
                Ok(())
            }
            body => {
                let Some(run) = self.run.as_mut() else {
                    return Err(fail(
                        Check::IntentPairing,
                        Some(seq),
                        format!("{} for run {run_id}, which is not in progress", body.kind()),
                    ));
                };
                if run.id != run_id {
                    return Err(mismatch(
                        Check::IntentPairing,
                        seq,
                        format!("{} names another run than the one in progress", body.kind()),
                        run.id.clone(),
                        run_id,
                    ));
                }
                self.check_run_event(event, leaf)
            }
        }
    }

    fn check_run_event(&mut self, event: &Event, leaf: &Hash) -> Result<(), Fail> {
        let seq = event.seq;
        match &event.body {
            Body::Observation(_) => {}
            // The stopped process's unacted readings were read again by the resumed one.
            Body::RunResumed(_) => self.pending_not_applied.clear(),
            _ => self.commit_not_applied(),
        }
        let run = self
            .run
            .as_mut()
            .expect("caller checked the run is in progress");
        let known_step = |run: &RunState, unit: &str| -> Result<(usize, String), Fail> {
            run.steps.get(step_of(unit)).cloned().ok_or_else(|| {
                fail(
                    Check::Runbook,
                    Some(seq),
                    format!("step {:?} is not in the run's runbook", step_of(unit)),
                )
            })
        };
        match &event.body {
            Body::Observation(obs) => {
                if let Some(step) = &obs.step {
                    known_step(run, step)?;
                }
                if obs.name == DATA_LOSS_OBSERVATION {
                    let point = obs.data["recovery_point"]["lsn"]
                        .as_str()
                        .map(str::to_string);
                    for f in crate::timeline::NotApplied::listed(&obs.data) {
                        if self.pending_not_applied.len() >= MAX_FILE_ROWS {
                            break;
                        }
                        self.pending_not_applied.push(NotAppliedRow {
                            run_id: run.id.clone(),
                            step: obs.step.clone().unwrap_or_default(),
                            seq,
                            file: f.file,
                            reason: f.reason,
                            error: f.error,
                            recovery_point_lsn: point.clone(),
                        });
                    }
                }
            }
            Body::StepIntent(intent) => {
                let (index, action) = known_step(run, &intent.step)?;
                if action != intent.action {
                    return Err(mismatch(
                        Check::Runbook,
                        seq,
                        format!(
                            "step {:?} intends another action than the runbook's",
                            intent.step
                        ),
                        action,
                        intent.action.clone(),
                    ));
                }
                if let Some(last) = run.last_index {
                    if index < last {
                        return Err(fail(
                            Check::Runbook,
                            Some(seq),
                            format!(
                                "step {:?} runs after a later step of the runbook (order not respected)",
                                intent.step
                            ),
                        ));
                    }
                }
                let expected_attempt = run.attempts.get(&intent.step).copied().unwrap_or(0) + 1;
                if intent.attempt != expected_attempt {
                    return Err(mismatch(
                        Check::IntentPairing,
                        seq,
                        format!("step {:?} attempt out of order", intent.step),
                        expected_attempt.to_string(),
                        intent.attempt.to_string(),
                    ));
                }
                run.last_index = Some(index);
                run.attempts.insert(intent.step.clone(), intent.attempt);
                let row = if self.steps.len() < MAX_STEP_ROWS {
                    self.steps.push(StepRow {
                        run_id: run.id.clone(),
                        step: intent.step.clone(),
                        attempt: intent.attempt,
                        action: intent.action.clone(),
                        intent_seq: seq,
                        started_at: event.at.clone(),
                        ended_at: None,
                        status: "in_flight".into(),
                        duration_us: None,
                    });
                    Some(self.steps.len() - 1)
                } else {
                    self.steps_omitted += 1;
                    None
                };
                run.in_flight.insert(
                    (intent.step.clone(), intent.attempt),
                    InFlight {
                        seq,
                        leaf: *leaf,
                        row,
                    },
                );
                for input in &intent.inputs {
                    note_file(&mut self.files, &mut self.files_omitted, input, seq);
                }
            }
            Body::StepOutcome(outcome) => {
                let flight =
                    take_in_flight(run, &outcome.step, outcome.attempt, seq, "step.outcome")?;
                if let Some(row) = flight.row.and_then(|r| self.steps.get_mut(r)) {
                    row.ended_at = Some(event.at.clone());
                    row.status = serde_json::to_value(outcome.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    row.duration_us = Some(outcome.duration_us);
                }
            }
            Body::StepReconciled(rec) => {
                let in_doubt_before_resume = run
                    .in_flight
                    .get(&(rec.step.clone(), rec.attempt))
                    .zip(run.last_resume_seq)
                    .is_some_and(|(f, resumed)| f.seq < resumed);
                let flight = take_in_flight(run, &rec.step, rec.attempt, seq, "step.reconciled")?;
                if !in_doubt_before_resume {
                    return Err(fail(
                        Check::IntentPairing,
                        Some(seq),
                        format!(
                            "step.reconciled for {:?} attempt {} without a run.resumed after its intent (seq {})",
                            rec.step, rec.attempt, flight.seq
                        ),
                    ));
                }
                if let Some(row) = flight.row.and_then(|r| self.steps.get_mut(r)) {
                    row.ended_at = Some(event.at.clone());
                    row.status = format!(
                        "reconciled: {}",
                        match rec.verdict {
                            ReconcileVerdict::Applied => "applied",
                            ReconcileVerdict::NotApplied => "not_applied",
                            ReconcileVerdict::OperatorDecided => "operator_decided",
                        }
                    );
                }
            }
            Body::Approval(approval) => {
                known_step(run, &approval.step)?;
                if let Some(target) = &approval.intent {
                    let found = run
                        .in_flight
                        .values()
                        .find(|f| f.seq == target.seq)
                        .ok_or_else(|| {
                            fail(
                                Check::IntentPairing,
                                Some(seq),
                                format!(
                                    "approval names seq {}, which is not an intent in flight",
                                    target.seq
                                ),
                            )
                        })?;
                    if let Some(((step, _), _)) =
                        run.in_flight.iter().find(|(_, f)| f.seq == target.seq)
                    {
                        if step_of(step) != step_of(&approval.step) {
                            return Err(mismatch(
                                Check::IntentPairing,
                                seq,
                                format!(
                                    "approval of step {:?} names the intent of another step",
                                    approval.step
                                ),
                                step.clone(),
                                approval.step.clone(),
                            ));
                        }
                    }
                    if hex(&found.leaf) != target.leaf_hash {
                        return Err(mismatch(
                            Check::IntentPairing,
                            seq,
                            format!("approval names seq {} with another leaf hash", target.seq),
                            hex(&found.leaf),
                            target.leaf_hash.clone(),
                        ));
                    }
                }
            }
            Body::RunResumed(resumed) => {
                let expected: Vec<(String, u64, u64)> = run
                    .in_flight
                    .iter()
                    .map(|((s, a), f)| (s.clone(), *a, f.seq))
                    .collect();
                let mut found: Vec<(String, u64, u64)> = resumed
                    .in_doubt
                    .iter()
                    .map(|d| (d.step.clone(), d.attempt, d.intent_seq))
                    .collect();
                found.sort();
                if expected != found {
                    return Err(mismatch(
                        Check::IntentPairing,
                        seq,
                        "run.resumed lists other in-doubt intents than those without outcome",
                        describe_units(&expected),
                        describe_units(&found),
                    ));
                }
                run.last_resume_seq = Some(seq);
                if let Some(row) = run.row.and_then(|r| self.runs.get_mut(r)) {
                    row.resumes += 1;
                }
            }
            Body::RunFinished(finished) => {
                if let Some(((step, attempt), f)) = run.in_flight.iter().next() {
                    return Err(fail(
                        Check::IntentPairing,
                        Some(seq),
                        format!(
                            "run finished with step {step:?} attempt {attempt} (intent seq {}) neither completed nor reconciled",
                            f.seq
                        ),
                    ));
                }
                if finished.sealed.size != seq {
                    return Err(mismatch(
                        Check::Seal,
                        seq,
                        "seal does not cover every event before run.finished",
                        seq.to_string(),
                        finished.sealed.size.to_string(),
                    ));
                }
                let root = hex(&self.frontier.root());
                if finished.sealed.root != root {
                    return Err(mismatch(
                        Check::Seal,
                        seq,
                        "seal root differs from the tree of the events before it",
                        root,
                        finished.sealed.root.clone(),
                    ));
                }
                if let Some(row) = run.row.and_then(|r| self.runs.get_mut(r)) {
                    row.finished_at = Some(event.at.clone());
                    row.status = serde_json::to_value(finished.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                }
                run.rules.event(event).map_err(violated)?;
                self.tally.add(run.rules.tally());
                self.run = None;
                self.last_was_sealed = true;
                return Ok(());
            }
            Body::JournalOpened(_) | Body::RunStarted(_) => {
                unreachable!("handled by check_semantics")
            }
        }
        run.rules.event(event).map_err(violated)
    }

    /// Counts the files of `data_loss` observations an action or decision followed. A file a
    /// run already counted keeps its first finding — the one the operator's decision answered;
    /// a later step naming it again (restores short of the point accepted at the copy) adds
    /// nothing.
    pub(super) fn commit_not_applied(&mut self) {
        for row in std::mem::take(&mut self.pending_not_applied) {
            let counted = self
                .not_applied
                .iter()
                .any(|n| n.run_id == row.run_id && n.file == row.file);
            if !counted && self.not_applied.len() < MAX_FILE_ROWS {
                self.not_applied.push(row);
            }
        }
    }
}

fn take_in_flight(
    run: &mut RunState,
    step: &str,
    attempt: u64,
    seq: u64,
    kind: &str,
) -> Result<InFlight, Fail> {
    run.in_flight
        .remove(&(step.to_string(), attempt))
        .ok_or_else(|| {
            fail(
                Check::IntentPairing,
                Some(seq),
                format!("{kind} for step {step:?} attempt {attempt} without an intent in flight"),
            )
        })
}

fn note_file(
    files: &mut BTreeMap<(String, String), BackupFileRow>,
    omitted: &mut u64,
    input: &FileRef,
    seq: u64,
) {
    let key = (input.path.clone(), input.sha256.clone());
    if files.contains_key(&key) {
        return;
    }
    if files.len() >= MAX_FILE_ROWS {
        *omitted += 1;
        return;
    }
    files.insert(
        key,
        BackupFileRow {
            path: input.path.clone(),
            size: input.size,
            sha256: input.sha256.clone(),
            first_seq: seq,
            check: None,
        },
    );
}

fn describe_units(units: &[(String, u64, u64)]) -> String {
    if units.is_empty() {
        return "none".into();
    }
    units
        .iter()
        .map(|(s, a, q)| format!("{s}#{a}@{q}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::super::testing::{failed_at, note, Journal, RUN};
    use super::*;

    #[test]
    fn an_event_of_a_run_not_started_fails_its_pairing() {
        let mut j = Journal::opened(1);
        j.push(Some(RUN), note());
        assert_eq!(
            failed_at(&j.verify(&Options::default())),
            Some((Check::IntentPairing, Some(1)))
        );
    }

    #[test]
    fn a_run_started_while_another_is_in_flight_fails() {
        let mut j = Journal::opened(1);
        j.start_run();
        j.start_run();
        assert_eq!(
            failed_at(&j.verify(&Options::default())),
            Some((Check::IntentPairing, Some(2)))
        );
    }

    #[test]
    fn an_embedded_runbook_that_is_not_its_hash_fails() {
        let mut j = Journal::opened(1);
        j.start_run();
        let mut edited = j
            .records
            .pop()
            .map(|r| Event::from_canonical_bytes(&r.event).expect("the test's own event decodes"));
        let started = edited.as_mut().expect("run.started was appended");
        j.prev = {
            // The chain continues from journal.opened.
            signing::event_leaf_hash(&j.records[0].event)
        };
        if let Body::RunStarted(s) = &mut started.body {
            s.runbook.source.push_str("# edited\n");
        }
        j.append(started);
        assert_eq!(
            failed_at(&j.verify(&Options::default())),
            Some((Check::Runbook, Some(1)))
        );
    }

    #[test]
    fn the_step_of_a_unit_is_before_its_slash() {
        assert_eq!(step_of("copy-backups/mgc_1.trn"), "copy-backups");
        assert_eq!(step_of("recover"), "recover");
    }
}
