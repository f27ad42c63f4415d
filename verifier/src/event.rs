//! The event: its envelope, its kinds and their bodies (docs/journal-format.md §3).
//!
//! This module owns the shape of every event and the rules a single event must satisfy on its
//! own (field formats, body per kind). It never decides whether a sequence of events is
//! consistent — that is `verify` — and it never serialises bytes for hashing except through
//! `canonical`, so there is exactly one encoder.

use std::collections::BTreeMap;

#[cfg(feature = "schema")]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::canonical;

pub mod results;
pub use results::{
    AlreadyInEffect, ApprovalWithheld, BackupRoom, CheckRows, Confirmed, Copied, Failure, Finding,
    Precheck, ResultSet, ResultView, Room, ShellResult, SqlBatch, SqlError, SqlFailure, SqlMessage,
    Withheld,
};

/// The format version written in every event's `v` field.
pub const FORMAT_VERSION: u64 = 1;

/// 64 `0` characters: the `prev` of event 0.
pub const ZERO_HASH_HEX: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Reads a field that must be present but may be `null`: serde would otherwise take a
/// missing `Option` as `None`, and two byte strings would then mean one event.
fn nullable<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d)
}

/// The largest event the writer appends, in canonical bytes: far above any real event (a
/// runbook source, a share listing), far below the JSONL line limit.
pub const MAX_EVENT_BYTES: usize = 8 << 20;

/// [`Envelope`] as read from an event's canonical bytes, `body` borrowed as its JSON text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeText<'a> {
    #[allow(dead_code)] // checked against FORMAT_VERSION before this is read
    v: u64,
    journal: String,
    seq: u64,
    prev: String,
    at: String,
    #[serde(deserialize_with = "nullable")]
    run: Option<String>,
    kind: Kind,
    key: String,
    #[serde(borrow)]
    body: &'a serde_json::value::RawValue,
}

/// A `serde_json` error's message without the " at line L column C" it adds when reading
/// text, so that a reason reads the same whichever way the event was decoded.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(message) => message.to_string(),
        None => text,
    }
}

/// The envelope every event shares. `body` is kept as JSON until its kind is known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Format version, always 1.
    pub v: u64,
    /// Journal id (a lowercase UUID).
    pub journal: String,
    /// Sequence number: 0, 1, 2, … without gaps.
    pub seq: u64,
    /// Lowercase hex leaf hash of event `seq - 1`; 64 `0`s for seq 0.
    pub prev: String,
    /// UTC time, RFC 3339 with exactly six fractional digits and `Z`.
    pub at: String,
    /// Run id, or null for journal-level events.
    #[serde(deserialize_with = "nullable")]
    #[cfg_attr(feature = "schema", schemars(required))]
    pub run: Option<String>,
    /// Event kind.
    pub kind: Kind,
    /// Key id of the signer: lowercase hex SHA-256 of its 32-byte Ed25519 public key.
    pub key: String,
    /// Body, per kind.
    pub body: serde_json::Value,
}

/// The event kinds of format version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub enum Kind {
    /// The first event of every journal.
    #[serde(rename = "journal.opened")]
    JournalOpened,
    /// A run begins; carries the runbook source.
    #[serde(rename = "run.started")]
    RunStarted,
    /// A fact read from the environment that a decision depends on.
    #[serde(rename = "observation")]
    Observation,
    /// What is about to be executed; durable before the action starts.
    #[serde(rename = "step.intent")]
    StepIntent,
    /// How an intended action ended.
    #[serde(rename = "step.outcome")]
    StepOutcome,
    /// After a crash: how an intent without outcome was settled.
    #[serde(rename = "step.reconciled")]
    StepReconciled,
    /// An operator's decision.
    #[serde(rename = "approval")]
    Approval,
    /// A run continues after an interruption.
    #[serde(rename = "run.resumed")]
    RunResumed,
    /// A run ends, sealing every event before it.
    #[serde(rename = "run.finished")]
    RunFinished,
}

impl Kind {
    /// Every kind, in the order docs/journal-format.md lists them.
    pub const ALL: [Kind; 9] = [
        Kind::JournalOpened,
        Kind::RunStarted,
        Kind::Observation,
        Kind::StepIntent,
        Kind::StepOutcome,
        Kind::StepReconciled,
        Kind::Approval,
        Kind::RunResumed,
        Kind::RunFinished,
    ];

    /// The kind's name as written in `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::JournalOpened => "journal.opened",
            Kind::RunStarted => "run.started",
            Kind::Observation => "observation",
            Kind::StepIntent => "step.intent",
            Kind::StepOutcome => "step.outcome",
            Kind::StepReconciled => "step.reconciled",
            Kind::Approval => "approval",
            Kind::RunResumed => "run.resumed",
            Kind::RunFinished => "run.finished",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `journal.opened` (seq 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct JournalOpened {
    /// The journal id; equals the envelope's `journal`.
    pub journal_id: String,
    /// The program that created the journal, e.g. `runledger 0.1.0`.
    pub engine_version: String,
    /// The signer's 32-byte Ed25519 public key, standard base64.
    pub public_key: String,
}

/// `run.started`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RunStarted {
    /// The run id; equals the envelope's `run`.
    pub run_id: String,
    /// The runbook, with its full source text.
    pub runbook: RunbookSource,
    /// Parameters, secrets redacted.
    pub parameters: BTreeMap<String, String>,
    /// Who started the run, and where.
    pub operator: Operator,
    /// The systems the run acts on, without secrets.
    pub targets: Vec<Target>,
}

/// The runbook embedded in `run.started`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RunbookSource {
    /// Runbook name.
    pub name: String,
    /// Runbook version as written in the runbook.
    pub version: String,
    /// Lowercase hex SHA-256 of `source`'s UTF-8 bytes.
    pub sha256: String,
    /// The full TOML source.
    pub source: String,
}

/// An operator: user name and host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Operator {
    /// User name.
    pub user: String,
    /// Host name.
    pub host: String,
}

/// A target system as recorded (never with secrets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Name the runbook gives the target.
    pub name: String,
    /// `sql` or `shell`.
    pub kind: String,
    /// Where it is reached: `host:port` for SQL, the command line for a shell.
    pub endpoint: String,
    /// Further non-secret settings (auth method, encryption, database).
    pub settings: BTreeMap<String, String>,
}

/// The name of the observation that states what a run gives up when the log chain does not
/// reach the newest log: `data` holds `database`, `recovery_point` (`lsn`, `file`,
/// `backup_finish_date`) and `not_applied` (a list of `file`, `reason`, `error`, `first_lsn`,
/// `last_lsn`). It precedes the operator's `accept_data_loss` decision (also when the loss
/// already happened: a database someone else recovered).
pub const DATA_LOSS_OBSERVATION: &str = "data_loss";

/// `observation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Observation {
    /// The step that made the observation, or null for preflight facts of the run.
    #[serde(deserialize_with = "nullable")]
    #[cfg_attr(feature = "schema", schemars(required))]
    pub step: Option<String>,
    /// What was observed, e.g. `share_listing`, `backup_header`, `database_state`.
    pub name: String,
    /// How it was observed: the query, command or path read.
    pub source: String,
    /// The fact itself (integers only; LSNs as decimal strings).
    pub data: serde_json::Value,
}

/// A file named by an intent or outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    /// Path as the engine saw it.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
}

/// Effect class of an action: what may be done with it after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Only reads: rerun.
    ReadOnly,
    /// Safe to execute again.
    Idempotent,
    /// Probe, act on affirmative evidence only, otherwise ask.
    Guarded,
    /// Always ask the operator.
    Irreversible,
}

/// The action kinds a runbook step names (`action = "…"`) and a `step.intent` records.
///
/// Written as the runbook writes it. The intent keeps the word as a string, so a journal that
/// names a kind this version does not know still decodes; [`ActionKind::parse`] tells which
/// kinds a reader knows how to interpret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// A T-SQL batch on a target.
    Sql,
    /// Copy the log backups not yet copied, one unit per file.
    CopyBackups,
    /// Before anything changes: the share can be read and the destination has room.
    CheckBackups,
    /// Restore the remaining log backups in LSN order, one unit per file.
    RestoreLogs,
    /// End the sessions holding a database, one unit per session.
    KillSessions,
    /// Bring a database online (`RESTORE DATABASE … WITH RECOVERY`).
    RecoverDatabase,
    /// A Lync Management Shell command.
    CsCmdlet,
    /// An assertion: a query or a command, polled while it may still come true.
    Check,
    /// An instruction the operator confirms.
    Manual,
}

impl ActionKind {
    /// Every kind, in the order the runbook reference lists them.
    pub const ALL: [ActionKind; 9] = [
        ActionKind::Sql,
        ActionKind::CopyBackups,
        ActionKind::CheckBackups,
        ActionKind::RestoreLogs,
        ActionKind::KillSessions,
        ActionKind::RecoverDatabase,
        ActionKind::CsCmdlet,
        ActionKind::Check,
        ActionKind::Manual,
    ];

    /// The word written in the runbook and in `step.intent`'s `action`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Sql => "sql",
            ActionKind::CopyBackups => "copy_backups",
            ActionKind::CheckBackups => "check_backups",
            ActionKind::RestoreLogs => "restore_logs",
            ActionKind::KillSessions => "kill_sessions",
            ActionKind::RecoverDatabase => "recover_database",
            ActionKind::CsCmdlet => "cs_cmdlet",
            ActionKind::Check => "check",
            ActionKind::Manual => "manual",
        }
    }

    /// The kind a word names, or None for a word this version does not know.
    pub fn parse(word: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|k| k.as_str() == word)
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `step.intent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StepIntent {
    /// Step id, or `<step id>/<file name>` for a per-file unit.
    pub step: String,
    /// Attempt number, from 1.
    pub attempt: u64,
    /// Action kind, e.g. `sql`, `restore_logs`.
    pub action: String,
    /// Effect class of the action.
    pub effect: Effect,
    /// The exact text about to be executed.
    pub command: String,
    /// The target it is executed on.
    pub target: String,
    /// Files the action reads.
    pub inputs: Vec<FileRef>,
}

impl StepIntent {
    /// The action kind, when it is one this version knows.
    pub fn action_kind(&self) -> Option<ActionKind> {
        ActionKind::parse(&self.action)
    }
}

/// Status of a step outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    /// The action took effect as intended.
    Succeeded,
    /// The action failed.
    Failed,
}

/// `step.outcome`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StepOutcome {
    /// Step id as in the intent.
    pub step: String,
    /// Attempt as in the intent.
    pub attempt: u64,
    /// How it ended.
    pub status: OutcomeStatus,
    /// Rows affected, server messages with error numbers, exit code, output excerpts, files.
    pub result: serde_json::Value,
    /// Wall time of the action in microseconds.
    pub duration_us: u64,
}

/// Verdict of a reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReconcileVerdict {
    /// The probe shows the action took effect.
    Applied,
    /// The probe shows it did not.
    NotApplied,
    /// The operator decided.
    OperatorDecided,
}

/// What the operator decided about an interrupted action whose effect the probe could not
/// tell: `probe_result.operator` of an `operator_decided` reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorSettled {
    /// `treat as applied`: the run goes on as if it took effect.
    Applied,
    /// `treat as not applied`: it is executed again (an irreversible one after a halt).
    NotApplied,
}

impl OperatorSettled {
    /// The words written in `probe_result.operator`.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorSettled::Applied => "treat as applied",
            OperatorSettled::NotApplied => "treat as not applied",
        }
    }

    /// The settlement for an operator's yes (applied) or no.
    pub fn from_applied(applied: bool) -> OperatorSettled {
        if applied {
            OperatorSettled::Applied
        } else {
            OperatorSettled::NotApplied
        }
    }
}

/// `step.reconciled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StepReconciled {
    /// Step id as in the intent.
    pub step: String,
    /// Attempt as in the intent.
    pub attempt: u64,
    /// What was executed to find out.
    pub probe: String,
    /// What it returned.
    pub probe_result: serde_json::Value,
    /// The conclusion.
    pub verdict: ReconcileVerdict,
}

impl StepReconciled {
    /// The operator's settlement, for an `operator_decided` reconciliation that records one.
    pub fn operator_settled(&self) -> Option<OperatorSettled> {
        if self.verdict != ReconcileVerdict::OperatorDecided {
            return None;
        }
        match self.probe_result.get("operator")?.as_str()? {
            w if w == OperatorSettled::Applied.as_str() => Some(OperatorSettled::Applied),
            w if w == OperatorSettled::NotApplied.as_str() => Some(OperatorSettled::NotApplied),
            _ => None,
        }
    }

    /// Whether the action counts as having taken effect: the probe found it, or the operator
    /// said to treat it as applied. Anything else, an unknown word included, is not applied.
    pub fn applied(&self) -> bool {
        match self.verdict {
            ReconcileVerdict::Applied => true,
            ReconcileVerdict::NotApplied => false,
            ReconcileVerdict::OperatorDecided => {
                self.operator_settled() == Some(OperatorSettled::Applied)
            }
        }
    }
}

/// The intent an approval is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct IntentRef {
    /// Seq of the intent.
    pub seq: u64,
    /// Its lowercase hex leaf hash.
    pub leaf_hash: String,
}

/// `approval`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Step id.
    pub step: String,
    /// Who decided.
    pub operator: String,
    /// The decision.
    pub decision: Decision,
    /// What the operator was shown or said.
    pub text: String,
    /// The intent approved, when the approval is about one.
    #[serde(deserialize_with = "nullable")]
    #[cfg_attr(feature = "schema", schemars(required))]
    pub intent: Option<IntentRef>,
}

/// An operator's decision, as an `approval` records it.
///
/// Written as a lowercase string. A word this version does not know is kept as it was written
/// ([`Decision::Other`]) and never counts as approving anything.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The step (or the intent named) may run.
    Approved,
    /// The operator refused.
    Declined,
    /// The recovery point short of the newest log is accepted (preceded by a `data_loss`
    /// observation stating what is given up).
    AcceptDataLoss,
    /// An interrupted action whose effect the probe could not tell is taken as applied.
    TreatAsApplied,
    /// The run goes on without a step whose readiness does not hold.
    Skip,
    /// Any other word.
    Other(String),
}

impl Decision {
    /// The word written in the journal.
    pub fn as_str(&self) -> &str {
        match self {
            Decision::Approved => "approved",
            Decision::Declined => "declined",
            Decision::AcceptDataLoss => "accept_data_loss",
            Decision::TreatAsApplied => "treat_as_applied",
            Decision::Skip => "skip",
            Decision::Other(s) => s,
        }
    }

    /// The decision a word names.
    pub fn parse(word: &str) -> Decision {
        match word {
            "approved" => Decision::Approved,
            "declined" => Decision::Declined,
            "accept_data_loss" => Decision::AcceptDataLoss,
            "treat_as_applied" => Decision::TreatAsApplied,
            "skip" => Decision::Skip,
            other => Decision::Other(other.to_string()),
        }
    }
}

/// The default approves nothing.
impl Default for Decision {
    fn default() -> Decision {
        Decision::Declined
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Decision {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Decision {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Decision, D::Error> {
        let word = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Decision::parse(&word))
    }
}

#[cfg(feature = "schema")]
impl JsonSchema for Decision {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Decision".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "approved, declined, accept_data_loss, treat_as_applied, skip, or another word (which approves nothing)"
        })
    }
}

/// An intent found without outcome when a run resumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct InDoubt {
    /// Step id.
    pub step: String,
    /// Its attempt number: 1, then 2, … for each retry of the unit.
    pub attempt: u64,
    /// Seq of the intent.
    pub intent_seq: u64,
}

/// `run.resumed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RunResumed {
    /// Why the run was interrupted, as far as known.
    pub reason: String,
    /// The intents without outcome, to be reconciled next.
    pub in_doubt: Vec<InDoubt>,
}

/// Final status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every step succeeded.
    Succeeded,
    /// A step failed and the run stopped.
    Failed,
    /// The operator stopped the run.
    Aborted,
}

/// The seal in `run.finished`: the tree head of every event before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Seal {
    /// Number of events before `run.finished` (equals its seq).
    pub size: u64,
    /// Lowercase hex RFC 9162 root of those events.
    pub root: String,
}

/// `run.finished`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RunFinished {
    /// Final status.
    pub status: RunStatus,
    /// One line for humans.
    pub summary: String,
    /// The seal.
    pub sealed: Seal,
}

/// A body, typed by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// `journal.opened`
    JournalOpened(JournalOpened),
    /// `run.started`
    RunStarted(Box<RunStarted>),
    /// `observation`
    Observation(Observation),
    /// `step.intent`
    StepIntent(StepIntent),
    /// `step.outcome`
    StepOutcome(StepOutcome),
    /// `step.reconciled`
    StepReconciled(StepReconciled),
    /// `approval`
    Approval(Approval),
    /// `run.resumed`
    RunResumed(RunResumed),
    /// `run.finished`
    RunFinished(RunFinished),
}

impl Body {
    /// The kind this body belongs to.
    pub fn kind(&self) -> Kind {
        match self {
            Body::JournalOpened(_) => Kind::JournalOpened,
            Body::RunStarted(_) => Kind::RunStarted,
            Body::Observation(_) => Kind::Observation,
            Body::StepIntent(_) => Kind::StepIntent,
            Body::StepOutcome(_) => Kind::StepOutcome,
            Body::StepReconciled(_) => Kind::StepReconciled,
            Body::Approval(_) => Kind::Approval,
            Body::RunResumed(_) => Kind::RunResumed,
            Body::RunFinished(_) => Kind::RunFinished,
        }
    }

    /// The body as a JSON value.
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            Body::JournalOpened(b) => serde_json::to_value(b),
            Body::RunStarted(b) => serde_json::to_value(b),
            Body::Observation(b) => serde_json::to_value(b),
            Body::StepIntent(b) => serde_json::to_value(b),
            Body::StepOutcome(b) => serde_json::to_value(b),
            Body::StepReconciled(b) => serde_json::to_value(b),
            Body::Approval(b) => serde_json::to_value(b),
            Body::RunResumed(b) => serde_json::to_value(b),
            Body::RunFinished(b) => serde_json::to_value(b),
        }
    }

    /// Reads the body of an event of kind `kind` from its JSON text, rejecting unknown or
    /// missing fields.
    pub fn from_json_text(kind: Kind, text: &str) -> Result<Body, serde_json::Error> {
        Ok(match kind {
            Kind::JournalOpened => Body::JournalOpened(serde_json::from_str(text)?),
            Kind::RunStarted => Body::RunStarted(Box::new(serde_json::from_str(text)?)),
            Kind::Observation => Body::Observation(serde_json::from_str(text)?),
            Kind::StepIntent => Body::StepIntent(serde_json::from_str(text)?),
            Kind::StepOutcome => Body::StepOutcome(serde_json::from_str(text)?),
            Kind::StepReconciled => Body::StepReconciled(serde_json::from_str(text)?),
            Kind::Approval => Body::Approval(serde_json::from_str(text)?),
            Kind::RunResumed => Body::RunResumed(serde_json::from_str(text)?),
            Kind::RunFinished => Body::RunFinished(serde_json::from_str(text)?),
        })
    }
}

/// An event with its body typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Journal id.
    pub journal: String,
    /// Sequence number.
    pub seq: u64,
    /// Leaf hash of the previous event, lowercase hex.
    pub prev: String,
    /// Timestamp (see [`Envelope::at`]).
    pub at: String,
    /// Run id, or None for journal-level events.
    pub run: Option<String>,
    /// Signer key id.
    pub key: String,
    /// Typed body.
    pub body: Body,
}

/// Why a single event is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The bytes are not canonical JSON under the profile.
    #[error("not canonical: {0}")]
    Canonical(#[from] canonical::CanonicalError),
    /// The format version is not one this verifier knows.
    #[error("unsupported format version {0} (this verifier reads version {FORMAT_VERSION})")]
    UnsupportedVersion(u64),
    /// A field is missing, unknown or of the wrong type.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Envelope or body.
        what: String,
        /// Serde's explanation.
        reason: String,
    },
    /// A field's value is not in its required form.
    #[error("field `{field}`: expected {expected}, found {found:?}")]
    Field {
        /// The field's name.
        field: &'static str,
        /// What form was required.
        expected: &'static str,
        /// What was found.
        found: String,
    },
}

impl Event {
    /// The envelope with the body serialised to JSON.
    pub fn envelope(&self) -> Result<Envelope, serde_json::Error> {
        Ok(Envelope {
            v: FORMAT_VERSION,
            journal: self.journal.clone(),
            seq: self.seq,
            prev: self.prev.clone(),
            at: self.at.clone(),
            run: self.run.clone(),
            kind: self.body.kind(),
            key: self.key.clone(),
            body: self.body.to_value()?,
        })
    }

    /// The event's canonical bytes: what is stored, hashed and signed.
    pub fn to_canonical_bytes(&self) -> Result<Vec<u8>, EventError> {
        self.check_fields()?;
        let envelope = self.envelope().map_err(|e| EventError::Malformed {
            what: "event".into(),
            reason: e.to_string(),
        })?;
        Ok(canonical::to_canonical_bytes(&envelope)?)
    }

    /// Parses untrusted bytes: they must be canonical, of a known version, and well formed.
    ///
    /// Once the bytes are proven canonical (which also proves them to be JSON within the
    /// format's profile), the typed event is read from them directly, the body kept as its
    /// text until the kind is known: no second tree is built.
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<Event, EventError> {
        let value = canonical::check_canonical(bytes)?;
        if let Some(canonical::Value::Int(v)) = value.get("v") {
            if *v >= 0 && *v as u64 != FORMAT_VERSION {
                return Err(EventError::UnsupportedVersion(*v as u64));
            }
        }
        drop(value);
        let envelope: EnvelopeText<'_> =
            serde_json::from_slice(bytes).map_err(|e| EventError::Malformed {
                what: "envelope".into(),
                reason: without_position(&e),
            })?;
        let kind = envelope.kind;
        let body =
            Body::from_json_text(kind, envelope.body.get()).map_err(|e| EventError::Malformed {
                what: format!("{kind} body"),
                reason: without_position(&e),
            })?;
        let event = Event {
            journal: envelope.journal,
            seq: envelope.seq,
            prev: envelope.prev,
            at: envelope.at,
            run: envelope.run,
            key: envelope.key,
            body,
        };
        event.check_fields()?;
        Ok(event)
    }

    /// Checks the envelope fields' forms (hex lengths, timestamp form, run presence) and the
    /// hashes named in the body.
    pub fn check_fields(&self) -> Result<(), EventError> {
        match &self.body {
            Body::StepIntent(i) => {
                for f in &i.inputs {
                    check_hex32("inputs.sha256", &f.sha256)?;
                }
            }
            Body::Approval(Approval {
                intent: Some(r), ..
            }) => check_hex32("intent.leaf_hash", &r.leaf_hash)?,
            Body::RunFinished(f) => check_hex32("sealed.root", &f.sealed.root)?,
            Body::RunStarted(r) => check_hex32("runbook.sha256", &r.runbook.sha256)?,
            _ => {}
        }
        check_hex32("prev", &self.prev)?;
        check_hex32("key", &self.key)?;
        check_id("journal", &self.journal)?;
        check_timestamp(&self.at)?;
        match (&self.body, &self.run) {
            (Body::JournalOpened(_), None) => {}
            (Body::JournalOpened(_), Some(run)) => {
                return Err(EventError::Field {
                    field: "run",
                    expected: "null for journal.opened",
                    found: run.clone(),
                })
            }
            (_, None) => {
                return Err(EventError::Field {
                    field: "run",
                    expected: "a run id",
                    found: "null".into(),
                })
            }
            (_, Some(run)) => check_id("run", run)?,
        }
        Ok(())
    }
}

/// Requires 64 lowercase hex digits.
pub fn check_hex32(field: &'static str, s: &str) -> Result<(), EventError> {
    if s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(EventError::Field {
            field,
            expected: "64 lowercase hex digits",
            found: s.to_string(),
        })
    }
}

/// Requires an id: 1 to 64 characters from `[0-9a-z-]`.
fn check_id(field: &'static str, s: &str) -> Result<(), EventError> {
    if !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-')
    {
        Ok(())
    } else {
        Err(EventError::Field {
            field,
            expected: "1 to 64 characters of [0-9a-z-]",
            found: s.to_string(),
        })
    }
}

/// Requires `YYYY-MM-DDTHH:MM:SS.ffffffZ` with a valid date and time (no leap second).
///
/// The fixed width makes byte order equal time order, which the monotonicity check relies on.
pub fn check_timestamp(s: &str) -> Result<(), EventError> {
    let bad = || EventError::Field {
        field: "at",
        expected: "UTC time as YYYY-MM-DDTHH:MM:SS.ffffffZ",
        found: s.to_string(),
    };
    let b = s.as_bytes();
    if b.len() != 27 {
        return Err(bad());
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let mut n = 0u32;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u32::from(c - b'0');
        }
        Some(n)
    };
    let seps = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ];
    if seps.iter().any(|&(i, c)| b[i] != c) {
        return Err(bad());
    }
    let (Some(year), Some(month), Some(day), Some(hour), Some(min), Some(sec), Some(_micros)) = (
        digits(0..4),
        digits(5..7),
        digits(8..10),
        digits(11..13),
        digits(14..16),
        digits(17..19),
        digits(20..26),
    ) else {
        return Err(bad());
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if day == 0 || day > days_in_month || hour > 23 || min > 59 || sec > 59 {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_fixed_width_utc_with_micros() {
        assert!(check_timestamp("2026-11-26T06:39:52.123456Z").is_ok());
        assert!(check_timestamp("2024-02-29T23:59:59.000000Z").is_ok());
        for bad in [
            "2026-11-26T06:39:52.12345Z",
            "2026-11-26T06:39:52Z",
            "2026-11-26T06:39:52.123456+00:00",
            "2025-02-29T00:00:00.000000Z",
            "2026-13-01T00:00:00.000000Z",
            "2026-11-26T24:00:00.000000Z",
            "2026-11-26T06:39:60.000000Z",
            "2026-11-26 06:39:52.123456Z",
        ] {
            assert!(check_timestamp(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn every_action_kind_round_trips_its_word() {
        for kind in ActionKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, serde_json::Value::String(kind.as_str().into()));
            assert_eq!(ActionKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ActionKind::parse("format_disk"), None);
    }

    #[test]
    fn every_kind_round_trips_its_name() {
        for kind in Kind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, serde_json::Value::String(kind.as_str().into()));
        }
    }

    /// Canonical bytes of a journal.opened event whose body is `body` (a JSON object text
    /// with sorted keys) and whose version is `v`, written out by hand.
    fn event_bytes(v: i64, body: &str) -> Vec<u8> {
        let zeros = "0".repeat(64);
        format!(
            r#"{{"at":"2026-11-26T06:39:52.123456Z","body":{body},"journal":"7f1c2b9e-0000-4000-8000-000000000001","key":"{zeros}","kind":"journal.opened","prev":"{zeros}","run":null,"seq":0,"v":{v}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn decoding_reads_the_typed_event_and_names_what_is_wrong_without_text_positions() {
        let good = r#"{"engine_version":"t","journal_id":"7f1c2b9e-0000-4000-8000-000000000001","public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#;
        let event = Event::from_canonical_bytes(&event_bytes(1, good)).unwrap();
        assert_eq!(event.seq, 0);
        assert_eq!(event.run, None);
        let Body::JournalOpened(opened) = &event.body else {
            panic!("{:?}", event.body)
        };
        assert_eq!(opened.engine_version, "t");
        // Encoding the decoded event gives the same bytes back.
        assert_eq!(
            event.to_canonical_bytes().unwrap(),
            event_bytes(1, good),
            "decode and encode agree"
        );

        let extra = r#"{"engine_version":"t","extra":1,"journal_id":"7f1c2b9e-0000-4000-8000-000000000001","public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#;
        match Event::from_canonical_bytes(&event_bytes(1, extra)) {
            Err(EventError::Malformed { what, reason }) => {
                assert_eq!(what, "journal.opened body");
                assert!(reason.starts_with("unknown field `extra`"), "{reason}");
                assert!(!reason.contains(" at line "), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Event::from_canonical_bytes(&event_bytes(2, good)),
            Err(EventError::UnsupportedVersion(2))
        ));
    }
}
