//! The verification report: what `runledger-verify` prints, as data (`--json`, following
//! `schemas/verify-report.schema.json`) and as a human summary.
//!
//! This module owns the report's shape and its rendering; it never decides a verdict.

#[cfg(feature = "schema")]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The report of one verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct Report {
    /// Report format identifier, `runledger-verify-report/v1`.
    pub format: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The verdict as one sentence.
    pub verdict_text: String,
    /// The journal examined.
    pub journal: JournalSummary,
    /// Every check by name, in the order they are listed in docs/journal-format.md.
    pub checks: Vec<CheckResult>,
    /// The first failure, when the verdict is `invalid` or `could_not_check`.
    pub failure: Option<Failure>,
    /// Where the journal ends and why it is open, for `valid_open`.
    pub open: Option<OpenTail>,
    /// Runs in the journal (at most [`MAX_RUN_ROWS`]).
    pub runs: Vec<RunRow>,
    /// Runs not listed because of the cap.
    pub runs_omitted: u64,
    /// Steps, one row per intent (at most [`MAX_STEP_ROWS`]).
    pub steps: Vec<StepRow>,
    /// Step rows not listed because of the cap.
    pub steps_omitted: u64,
    /// Backup files named by intents (at most [`MAX_FILE_ROWS`]).
    pub backup_files: Vec<BackupFileRow>,
    /// Backup file rows not listed because of the cap.
    pub backup_files_omitted: u64,
    /// Backup files (or stretches of log) a run did not apply, as its `data_loss` observations
    /// state them (at most [`MAX_FILE_ROWS`]).
    #[serde(default)]
    pub not_applied: Vec<NotAppliedRow>,
    /// The checkpoints given with `--checkpoint`.
    pub checkpoints: Vec<CheckpointRow>,
    /// Requirements given on the command line and whether they hold.
    pub requirements: Vec<Requirement>,
    /// What witnesses vouch for, when a witness policy was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witnessed: Option<Witnessed>,
    /// The time-stamp tokens found beside checkpoints, and what each was found to be.
    #[serde(default)]
    pub trusted_time: Vec<StampRow>,
}

/// Caps that keep the report (and memory) bounded whatever the journal's length.
pub const MAX_STEP_ROWS: usize = 10_000;
/// See [`MAX_STEP_ROWS`].
pub const MAX_RUN_ROWS: usize = 1_000;
/// See [`MAX_STEP_ROWS`].
pub const MAX_FILE_ROWS: usize = 10_000;

/// The verdicts, from strongest to weakest. Never a bare "pass".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every check holds and a trusted checkpoint covers the whole journal.
    ValidAnchored,
    /// Every check holds and the last event is a `run.finished` whose seal matches.
    ValidSealed,
    /// Every check holds, but the last run is in flight or the tail is not sealed.
    ValidOpen,
    /// A check failed: tampering or inconsistency.
    Invalid,
    /// The journal or an input could not be read or is of an unknown version.
    CouldNotCheck,
}

impl Verdict {
    /// Words for humans.
    pub fn words(self) -> &'static str {
        match self {
            Verdict::ValidAnchored => "VALID AND ANCHORED",
            Verdict::ValidSealed => "VALID AND SEALED",
            Verdict::ValidOpen => "VALID BUT OPEN",
            Verdict::Invalid => "INVALID",
            Verdict::CouldNotCheck => "COULD NOT CHECK",
        }
    }
}

/// The journal as a whole.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct JournalSummary {
    /// Path given.
    pub path: String,
    /// `sqlite` or `jsonl`.
    pub format: String,
    /// Journal id (from seq 0), if read.
    pub journal_id: Option<String>,
    /// Number of events that passed every per-event check.
    pub events: u64,
    /// Seq of the last such event.
    pub last_seq: Option<u64>,
    /// RFC 9162 root over those events, lowercase hex.
    pub root: String,
    /// Keys that signed events.
    pub signers: Vec<SignerRow>,
}

/// A key that signed events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct SignerRow {
    /// Key id.
    pub key_id: String,
    /// Name in the trusted-keys file.
    pub name: String,
    /// Events signed.
    pub events: u64,
}

/// Names of the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The journal and the inputs can be read.
    Readable,
    /// Every event is canonical JSON under the profile.
    CanonicalForm,
    /// Every event has the fields its kind requires.
    EventForm,
    /// Seq 0, 1, 2, … without gap, repeat or reorder (and SQLite rows agree).
    Sequence,
    /// The stored leaf hash column equals the hash of the stored bytes (SQLite).
    StoredHash,
    /// Every event is signed by a trusted key, strictly verified.
    Signatures,
    /// Every `prev` is the leaf hash of the event before.
    Chain,
    /// The journal id never changes.
    JournalId,
    /// Timestamps never go backwards.
    Timestamps,
    /// Every intent has exactly one outcome or reconciliation, or is in flight.
    IntentPairing,
    /// Events of a run agree with its embedded runbook.
    Runbook,
    /// An action that asks for approval took effect only after an approval bound to its intent.
    Approvals,
    /// Every finding that needs the operator (a data loss, a readiness that does not hold) is
    /// answered by a decision before the run goes on.
    Decisions,
    /// Nothing starts after a failure until it is tried again or decided on.
    StepFailures,
    /// Each log restored continues the one before it.
    RestoreOrder,
    /// `WITH RECOVERY` at most once, after the last restore; a succeeded run recovered.
    Recovery,
    /// `run.finished`'s status agrees with the run's events.
    RunStatus,
    /// Every event of a run is signed by the key that started it.
    RunSigner,
    /// Every intent's command is the text the run's recorded plan announced for its step.
    Plan,
    /// Each `run.finished` seal matches the events before it.
    Seal,
    /// Each given checkpoint is trusted and consistent with the journal.
    Checkpoints,
    /// Each backup file named is present with its recorded sha256 (`--backups`).
    BackupFiles,
    /// Witnesses of the policy cosigned a checkpoint covering the journal (`--witness-policy`),
    /// and no seal they cosigned contradicts it.
    Witnesses,
    /// Each time-stamp token beside a checkpoint verifies under a given TSA certificate
    /// (`--tsa-cert`).
    TrustedTime,
}

impl Check {
    /// Every check in report order.
    pub const ALL: [Check; 24] = [
        Check::Readable,
        Check::CanonicalForm,
        Check::EventForm,
        Check::Sequence,
        Check::StoredHash,
        Check::Signatures,
        Check::Chain,
        Check::JournalId,
        Check::Timestamps,
        Check::IntentPairing,
        Check::Runbook,
        Check::Approvals,
        Check::Decisions,
        Check::StepFailures,
        Check::RestoreOrder,
        Check::Recovery,
        Check::RunStatus,
        Check::RunSigner,
        Check::Plan,
        Check::Seal,
        Check::Checkpoints,
        Check::BackupFiles,
        Check::Witnesses,
        Check::TrustedTime,
    ];

    /// The check's name as written in reports.
    pub fn name(self) -> &'static str {
        match self {
            Check::Readable => "readable",
            Check::CanonicalForm => "canonical_form",
            Check::EventForm => "event_form",
            Check::Sequence => "sequence",
            Check::StoredHash => "stored_hash",
            Check::Signatures => "signatures",
            Check::Chain => "chain",
            Check::JournalId => "journal_id",
            Check::Timestamps => "timestamps",
            Check::IntentPairing => "intent_pairing",
            Check::Runbook => "runbook",
            Check::Approvals => "approvals",
            Check::Decisions => "decisions",
            Check::StepFailures => "step_failures",
            Check::RestoreOrder => "restore_order",
            Check::Recovery => "recovery",
            Check::RunStatus => "run_status",
            Check::RunSigner => "run_signer",
            Check::Plan => "plan",
            Check::Seal => "seal",
            Check::Checkpoints => "checkpoints",
            Check::BackupFiles => "backup_files",
            Check::Witnesses => "witnesses",
            Check::TrustedTime => "trusted_time",
        }
    }
}

/// Status of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Held for every event examined.
    Passed,
    /// Failed; see `failure`.
    Failed,
    /// Not evaluated because an earlier failure stopped verification.
    NotReached,
    /// Not asked for (e.g. no `--backups`), or nothing to check.
    Skipped,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct CheckResult {
    /// The check.
    pub check: Check,
    /// Its status.
    pub status: CheckStatus,
    /// A short note (what was counted or why skipped).
    pub detail: String,
}

/// The first failure found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct Failure {
    /// The check that failed.
    pub check: Check,
    /// The first failing seq, when one can be named.
    pub seq: Option<u64>,
    /// Where in the file (`row N`, `line N`), or which input.
    pub position: Option<String>,
    /// What is wrong, one line.
    pub reason: String,
    /// What was expected, when there is one value to compare.
    pub expected: Option<String>,
    /// What was found.
    pub found: Option<String>,
}

/// Why a valid journal is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct OpenTail {
    /// Seq of the last event.
    pub ends_at_seq: u64,
    /// The run in flight, if any.
    pub run_in_flight: Option<String>,
    /// Intents without outcome at the end.
    pub intents_in_flight: Vec<String>,
    /// One sentence.
    pub reason: String,
}

/// A run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct RunRow {
    /// Run id.
    pub run_id: String,
    /// Runbook name.
    pub runbook: String,
    /// Runbook version.
    pub version: String,
    /// Runbook sha256.
    pub runbook_sha256: String,
    /// `user@host`.
    pub operator: String,
    /// Time of `run.started`.
    pub started_at: String,
    /// Time of `run.finished`, if any.
    pub finished_at: Option<String>,
    /// `succeeded`, `failed`, `aborted` or `in_flight`.
    pub status: String,
    /// Number of `run.resumed` events.
    pub resumes: u64,
    /// Seq of `run.started`.
    pub started_seq: u64,
}

/// A step attempt (one intent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct StepRow {
    /// Run id.
    pub run_id: String,
    /// Step id (or `<step>/<file>`).
    pub step: String,
    /// Its attempt number: 1, then 2, … for each retry of the unit.
    pub attempt: u64,
    /// Action kind.
    pub action: String,
    /// Seq of the intent.
    pub intent_seq: u64,
    /// Time of the intent.
    pub started_at: String,
    /// Time of the outcome or reconciliation.
    pub ended_at: Option<String>,
    /// `succeeded`, `failed`, `reconciled: <verdict>` or `in_flight`.
    pub status: String,
    /// Duration from the outcome.
    pub duration_us: Option<u64>,
}

/// A backup file named in the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct BackupFileRow {
    /// Path as recorded.
    pub path: String,
    /// Size as recorded.
    pub size: u64,
    /// sha256 as recorded.
    pub sha256: String,
    /// Seq of the first intent naming it.
    pub first_seq: u64,
    /// With `--backups`: `present`, `missing` or `mismatch`.
    pub check: Option<String>,
}

/// A backup file (or stretch of log) a run did not apply, from a `data_loss` observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct NotAppliedRow {
    /// The run.
    pub run_id: String,
    /// The step that found it.
    pub step: String,
    /// Seq of the observation.
    pub seq: u64,
    /// The file, or the stretch of log.
    pub file: String,
    /// Why it was not applied.
    pub reason: String,
    /// SQL Server's error number, when one said so.
    pub error: Option<i64>,
    /// The recovery point that observation states (LSN).
    pub recovery_point_lsn: Option<String>,
}

/// A checkpoint given to the verifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct CheckpointRow {
    /// File it came from.
    pub path: String,
    /// Signer name, if a trusted signature was found.
    pub signer: Option<String>,
    /// Tree size.
    pub size: u64,
    /// Root, lowercase hex.
    pub root: String,
    /// `consistent`, or why not.
    pub status: String,
}

/// What witnesses vouch for: the strongest evidence found for the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct Witnessed {
    /// Cosignatures meeting the policy's quorum cover every event of the journal.
    pub holds: bool,
    /// The file the evidence came from (empty when there is none).
    pub via: String,
    /// The site log's origin, when the journal is witnessed through one.
    pub site: Option<String>,
    /// The site checkpoint's size.
    pub site_size: Option<u64>,
    /// The index of the site log entry that seals the journal last.
    pub entry: Option<u64>,
    /// How many of the journal's events the witnessed checkpoint or seal covers.
    pub covers: u64,
    /// The witnesses of the policy whose cosignature verified.
    pub cosigners: Vec<Cosigner>,
    /// The quorum, as evaluated.
    pub quorum: String,
    /// One sentence.
    pub text: String,
}

/// One verified cosignature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct Cosigner {
    /// The witness's name in the policy.
    pub witness: String,
    /// The time in the cosignature, seconds since the UNIX epoch (the witness's clock).
    pub time: u64,
    /// The same time, RFC 3339 UTC.
    pub at: String,
}

/// `secs` since the UNIX epoch as RFC 3339 UTC (`2026-11-27T21:40:00Z`).
pub fn unix_rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem / 60 % 60,
        rem % 60
    )
}

/// A time-stamp token (RFC 3161) over a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct StampRow {
    /// The checkpoint it stamps.
    pub checkpoint: String,
    /// The token's file.
    pub token: String,
    /// The checkpoint's size (events covered).
    pub size: u64,
    /// `verified` (under a given TSA certificate), `not_checked` (no `--tsa-cert`: what it
    /// claims, unproven) or `failed`.
    pub status: String,
    /// The TSA's time, `YYYY-MM-DDTHH:MM:SSZ`, when the token could be read.
    pub tsa_time: Option<String>,
    /// The same in seconds since 1970.
    pub tsa_unix: Option<u64>,
    /// The TSA: the certificate's subject when verified, the name the token claims otherwise.
    pub tsa: Option<String>,
    /// The token's serial number, hex.
    pub serial: Option<String>,
    /// Why it failed, or why it was not checked.
    pub detail: String,
}

/// A requirement from the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct Requirement {
    /// `sealed` or `anchor` (as in `--require-sealed`, `--require-anchor`).
    pub name: String,
    /// Whether it holds.
    pub holds: bool,
}

impl Report {
    /// Whether the verification succeeded: a valid verdict that meets every requirement.
    pub fn holds(&self) -> bool {
        matches!(
            self.verdict,
            Verdict::ValidAnchored | Verdict::ValidSealed | Verdict::ValidOpen
        ) && self.requirements.iter().all(|r| r.holds)
    }

    /// The human summary.
    ///
    /// Every text taken from the journal, a file name or a runbook is shown with its control
    /// characters made visible ([`crate::terminal::line`]): what is read is what the file holds.
    pub fn render_human(&self) -> String {
        use crate::terminal::line as t;
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(s, "{}: {}", self.verdict.words(), t(&self.verdict_text));
        for r in &self.requirements {
            if !r.holds {
                let _ = writeln!(s, "REQUIREMENT NOT MET: --require-{}", r.name);
            }
        }
        if let Some(w) = &self.witnessed {
            let _ = writeln!(s, "witnesses: {}", t(&w.text));
        }
        if let Some(f) = &self.failure {
            let at = match (f.seq, &f.position) {
                (Some(seq), Some(p)) => format!("seq {seq} ({})", t(p)),
                (Some(seq), None) => format!("seq {seq}"),
                (None, Some(p)) => t(p).into_owned(),
                (None, None) => "-".into(),
            };
            let _ = writeln!(
                s,
                "first failure: {at}: [{}] {}",
                f.check.name(),
                t(&f.reason)
            );
            if let Some(e) = &f.expected {
                let _ = writeln!(s, "  expected: {}", t(e));
            }
            if let Some(found) = &f.found {
                let _ = writeln!(s, "  found:    {}", t(found));
            }
        }
        let j = &self.journal;
        let _ = writeln!(s);
        let _ = writeln!(s, "journal   {} ({})", t(&j.path), j.format);
        let _ = writeln!(
            s,
            "id        {}",
            t(j.journal_id.as_deref().unwrap_or("(unread)"))
        );
        let _ = writeln!(
            s,
            "events    {} verified{}",
            j.events,
            j.last_seq
                .map(|q| format!(", last seq {q}"))
                .unwrap_or_default()
        );
        let _ = writeln!(s, "root      {}", j.root);
        for k in &j.signers {
            let _ = writeln!(
                s,
                "signer    {} {} ({} events)",
                t(&k.name),
                t(&k.key_id),
                k.events
            );
        }
        if !self.runs.is_empty() {
            let _ = writeln!(s, "\nruns");
            for r in &self.runs {
                let _ = writeln!(
                    s,
                    "  {}  {} {} (sha256 {})  by {}  {} → {}  {}{}",
                    t(&r.run_id),
                    t(&r.runbook),
                    t(&r.version),
                    t(short(&r.runbook_sha256)),
                    t(&r.operator),
                    t(&r.started_at),
                    t(r.finished_at.as_deref().unwrap_or("…")),
                    r.status,
                    if r.resumes > 0 {
                        format!(", resumed {}×", r.resumes)
                    } else {
                        String::new()
                    }
                );
            }
            if self.runs_omitted > 0 {
                let _ = writeln!(s, "  … {} more runs", self.runs_omitted);
            }
        }
        if !self.steps.is_empty() {
            let _ = writeln!(s, "\nsteps");
            let _ = writeln!(
                s,
                "  {:>6}  {:<27}  {:>12}  {:<20}  step",
                "seq", "started", "duration", "status"
            );
            for st in &self.steps {
                let _ = writeln!(
                    s,
                    "  {:>6}  {:<27}  {:>12}  {:<20}  {} (attempt {}, {})",
                    st.intent_seq,
                    t(&st.started_at),
                    st.duration_us
                        .map(format_duration)
                        .unwrap_or_else(|| "-".into()),
                    st.status,
                    t(&st.step),
                    st.attempt,
                    t(&st.action)
                );
            }
            if self.steps_omitted > 0 {
                let _ = writeln!(s, "  … {} more step attempts", self.steps_omitted);
            }
        }
        if !self.backup_files.is_empty() {
            let _ = writeln!(s, "\nbackup files");
            for f in &self.backup_files {
                let _ = writeln!(
                    s,
                    "  {}  {:>12} B  {}{}",
                    t(&f.sha256),
                    f.size,
                    t(&f.path),
                    f.check
                        .as_ref()
                        .map(|c| format!("  [{c}]"))
                        .unwrap_or_default()
                );
            }
            if self.backup_files_omitted > 0 {
                let _ = writeln!(s, "  … {} more files", self.backup_files_omitted);
            }
        }
        if !self.not_applied.is_empty() {
            let _ = writeln!(s, "\nfiles not applied (as the runs recorded them)");
            for n in &self.not_applied {
                let _ = writeln!(
                    s,
                    "  seq {:>6}  {}  {}: {}{}",
                    n.seq,
                    n.step,
                    n.file,
                    n.reason,
                    n.error.map(|e| format!(" (error {e})")).unwrap_or_default()
                );
            }
        }
        if !self.checkpoints.is_empty() {
            let _ = writeln!(s, "\ncheckpoints");
            for c in &self.checkpoints {
                let _ = writeln!(
                    s,
                    "  {}  size {}  signed by {}  {}",
                    t(&c.path),
                    c.size,
                    t(c.signer.as_deref().unwrap_or("(no trusted signature)")),
                    c.status
                );
            }
        }
        if !self.trusted_time.is_empty() {
            let _ = writeln!(s, "\ntrusted time (RFC 3161 tokens over checkpoints)");
            for r in &self.trusted_time {
                let _ = writeln!(
                    s,
                    "  {}  size {}  TSA time {}  {}  {}{}",
                    t(&r.token),
                    r.size,
                    r.tsa_time.as_deref().unwrap_or("-"),
                    t(r.tsa.as_deref().unwrap_or("-")),
                    match r.status.as_str() {
                        "verified" => "verified",
                        "not_checked" => "NOT CHECKED",
                        _ => "FAILED",
                    },
                    if r.detail.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", t(&r.detail))
                    }
                );
            }
        }
        let _ = writeln!(s, "\nchecks");
        for c in &self.checks {
            let mark = match c.status {
                CheckStatus::Passed => "ok     ",
                CheckStatus::Failed => "FAILED ",
                CheckStatus::NotReached => "not run",
                CheckStatus::Skipped => "skipped",
            };
            let _ = writeln!(s, "  {mark}  {:<15} {}", c.check.name(), t(&c.detail));
        }
        s
    }
}

fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

/// `1.234 s`, `12.3 ms`, `456 µs`.
pub fn format_duration(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{}.{:03} s", us / 1_000_000, (us % 1_000_000) / 1000)
    } else if us >= 1000 {
        format!("{}.{} ms", us / 1000, (us % 1000) / 100)
    } else {
        format!("{us} µs")
    }
}

#[cfg(test)]
mod tests {
    use super::unix_rfc3339;

    #[test]
    fn unix_times_read_as_the_calendar_says() {
        // Values from Python's datetime.fromtimestamp(t, UTC), not from this function.
        for (t, expected) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_795_814_400, "2026-11-27T21:20:00Z"),
            (4_102_444_799, "2099-12-31T23:59:59Z"),
        ] {
            assert_eq!(unix_rfc3339(t), expected, "{t}");
        }
    }
}
