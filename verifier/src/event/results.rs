//! The shapes of `step.outcome`'s `result`, per action (docs/journal-format.md §3.3).
//!
//! The envelope keeps `result` as JSON: a result written by an older engine, with fields this
//! version does not know, still decodes and verifies byte for byte. These types are how the
//! engine writes a result and how every reader takes one apart, so the two share a single
//! definition and no reader decides anything from a field name spelt out in its own code.
//! None of them rejects unknown fields.

#[cfg(feature = "schema")]
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::StepOutcome;

/// A result as the JSON stored in `step.outcome`.
///
/// These types hold only strings, integers, booleans and JSON values, whose serialisation
/// cannot fail.
pub fn to_result<T: Serialize>(result: &T) -> serde_json::Value {
    serde_json::to_value(result).expect("a result type serialises to JSON")
}

/// Reads one member of a result, `None` when it is absent or not of the expected form: a
/// reader takes what it understands and leaves the rest.
fn member<T: DeserializeOwned>(result: &serde_json::Value, name: &str) -> Option<T> {
    T::deserialize(result.get(name)?).ok()
}

/// A result decoded as `T`, `None` when it does not have that shape.
pub fn decode<T: DeserializeOwned>(result: &serde_json::Value) -> Option<T> {
    T::deserialize(result).ok()
}

/// One result set: column names and rows of JSON values (integers beyond 2^53 as decimal
/// strings, like every other value a server returns as text).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct ResultSet {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, at most the writer's bound.
    pub rows: Vec<Vec<serde_json::Value>>,
}

impl ResultSet {
    fn get(&self, row: usize, column: &str) -> Option<&serde_json::Value> {
        let i = self
            .columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(column))?;
        self.rows.get(row)?.get(i)
    }

    /// A column's value as text (numbers as their decimal text), None for NULL or missing.
    pub fn text(&self, row: usize, column: &str) -> Option<String> {
        match self.get(row, column)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// A column's value as an integer.
    pub fn int(&self, row: usize, column: &str) -> Option<i64> {
        match self.get(row, column)? {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::Bool(b) => Some(i64::from(*b)),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }
}

/// A message the server sent with a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct SqlMessage {
    /// Error number, e.g. 4305.
    pub number: u32,
    /// Where in the server it was raised, as the server reports it.
    pub state: u8,
    /// Severity; 10 and below are informational.
    pub severity: u8,
    /// The text.
    pub text: String,
}

/// What a T-SQL batch returned: the result of `sql`, `recover_database`, `kill_sessions` and
/// of a log file restored by `restore_logs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct SqlBatch {
    /// Every result set, in order, bounded.
    pub result_sets: Vec<ResultSet>,
    /// The server's messages.
    pub messages: Vec<SqlMessage>,
    /// Row counts.
    pub rows_affected: Vec<u64>,
    /// The return code the runbook required of the last result set (`expect_return_code`), as
    /// the server returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_code: Option<serde_json::Value>,
    /// `sql` with `writes`: the file the batch wrote, as this host read it once the batch
    /// succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<Written>,
}

/// A file a `sql` batch wrote (a full backup), read whole by the host running runledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct Written {
    /// The file as the SQL Server names it in the batch.
    pub path: String,
    /// The same file as this host read it.
    pub local_path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
}

/// An error of a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct SqlError {
    /// The server's error number; null when the server said nothing (a lost connection, a
    /// timeout), which says nothing about what the statement did.
    pub number: Option<i64>,
    /// The text.
    pub text: String,
}

/// A statement that ended in an error: the failed result of `sql`, `recover_database`,
/// `kill_sessions` and `restore_logs`, and two results that count as success — a log the
/// server found already applied (4326, `skipped`) and a session already gone (6106).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct SqlFailure {
    /// The error.
    pub error: SqlError,
    /// Why the failure is no failure (`restore_logs`: already applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The server refused the file before anything was restored from it (`RESTORE
    /// VERIFYONLY`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refused: bool,
    /// The engine's words, with a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A failure the engine states in words, with the action's own result when there is one (a
/// check whose `ok` is not 1, a batch with the wrong return code, free space short).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct Failure {
    /// Why it failed.
    pub reason: String,
    /// What the action returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// `restore_logs`: the file was refused before the restore (it changed since it was
    /// listed); nothing was restored from it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refused: bool,
    /// `copy_backups`: the SHA-256 the copy found, when it differs from the listing's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl Failure {
    /// A failure in words alone.
    pub fn because(reason: impl Into<String>) -> Failure {
        Failure {
            reason: reason.into(),
            result: None,
            refused: false,
            sha256: None,
        }
    }

    /// A failure in words, with what the action returned.
    pub fn with_result(reason: impl Into<String>, result: serde_json::Value) -> Failure {
        Failure {
            result: Some(result),
            ..Failure::because(reason)
        }
    }
}

/// `copy_backups`, one file: the copy as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct Copied {
    /// Bytes copied.
    pub size: u64,
    /// SHA-256 of the bytes written, lowercase hex.
    pub sha256: String,
    /// Where they were written.
    pub destination: String,
}

/// `cs_cmdlet`, and `check` with a command: how the child process ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct ShellResult {
    /// One line: `exited 0`, `exited 1`, `timed out after …`, `could not start: …`.
    pub summary: String,
    /// The exit code, when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// A bounded excerpt of standard output, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// A bounded excerpt of standard error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// SHA-256 of the whole standard output, lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_sha256: Option<String>,
    /// SHA-256 of the whole standard error, lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_sha256: Option<String>,
}

/// `check` with a query: its rows and whether the first row's `ok` column is 1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct CheckRows {
    /// The result sets.
    pub rows: Vec<ResultSet>,
    /// Whether the assertion holds.
    pub ok: bool,
}

/// `manual`: the operator confirmed the instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct Confirmed {
    /// Always true: a refusal is a declined approval.
    pub confirmed: bool,
}

/// `check_backups`: whether the share can be read and the destination has room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct BackupRoom {
    /// Whether the backup share could be listed.
    pub share_readable: bool,
    /// Why the share could not be read, and what happens instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The room needed, when the share could be read.
    #[serde(flatten)]
    pub room: Option<Room>,
}

/// The room `check_backups` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct Room {
    /// Files of the share the destination does not hold identically.
    pub files_to_copy_at_most: u64,
    /// Their bytes: an upper bound of what the copy writes.
    pub bytes_needed_at_most: u64,
    /// Free bytes at the destination; null when the system does not tell.
    pub bytes_free: Option<u64>,
}

/// What a probe found, as the `precheck` observation records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// Affirmative evidence that the effect is in place.
    Applied,
    /// Affirmative evidence that it is not.
    NotApplied,
    /// The probe could not tell.
    Unknown,
}

/// The `precheck` observation: a step's probe before it acts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct Precheck {
    /// What was executed to find out.
    pub probe: String,
    /// What it concluded.
    pub finding: Finding,
    /// What it returned.
    pub evidence: serde_json::Value,
}

impl Precheck {
    /// Affirmative evidence that the effect is already in place.
    pub fn applied(&self) -> bool {
        self.finding == Finding::Applied
    }
}

/// Any action whose probe showed its effect already in place: it was not executed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct AlreadyInEffect {
    /// The probe and what it found.
    pub already_in_effect: Precheck,
}

/// Why an action that needed an approval did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub enum Withheld {
    /// The operator declined.
    #[serde(rename = "declined")]
    Declined,
    /// Nobody answered (no terminal, no `--approve`): the run waits for one.
    #[serde(rename = "not given")]
    NotGiven,
    /// A word this version does not know.
    #[serde(other)]
    #[cfg_attr(feature = "schema", schemars(skip))]
    Other,
}

/// Any action: the approval it needed was not given, so it did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct ApprovalWithheld {
    /// Declined, or not given.
    pub approval: Withheld,
}

/// What a reader looks for in any result, whatever its action and shape: each member read
/// on its own, so that one of an unexpected form hides only itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultView {
    /// The engine's words for a failure.
    pub reason: Option<String>,
    /// A statement's error.
    pub error: Option<SqlError>,
    /// The file was refused before anything was restored from it.
    pub refused: bool,
    /// Why a failed statement counts as done (a log already applied).
    pub skipped: Option<String>,
    /// A warning the action states with its success.
    pub note: Option<String>,
    /// The approval the action needed and did not get.
    pub approval: Option<Withheld>,
    /// A command's one-line summary.
    pub summary: Option<String>,
    /// The action's own result, inside a [`Failure`].
    pub result: Option<serde_json::Value>,
    /// Server messages.
    pub messages: Vec<SqlMessage>,
}

impl ResultView {
    /// Reads the members of `result` this version knows.
    pub fn of(result: &serde_json::Value) -> ResultView {
        ResultView {
            reason: member(result, "reason"),
            error: member(result, "error"),
            refused: member(result, "refused").unwrap_or(false),
            skipped: member(result, "skipped"),
            note: member(result, "note"),
            approval: member(result, "approval"),
            summary: member(result, "summary"),
            result: member(result, "result"),
            messages: member(result, "messages").unwrap_or_default(),
        }
    }

    /// The server's error number, when the server gave one.
    pub fn error_number(&self) -> Option<i64> {
        self.error.as_ref()?.number
    }

    /// Whether the server, or the engine's check before it, answered about the file itself:
    /// the restore was refused or failed with an error number. A failure without one (a lost
    /// connection, a timeout) says nothing about the file.
    pub fn answered(&self) -> bool {
        self.refused || self.error_number().is_some()
    }
}

impl StepOutcome {
    /// The members of the result any reader looks for.
    pub fn result_view(&self) -> ResultView {
        ResultView::of(&self.result)
    }

    /// The result as `T`, when it has that shape.
    pub fn result_as<T: DeserializeOwned>(&self) -> Option<T> {
        decode(&self.result)
    }

    /// The result of a batch that ran (`sql`, `recover_database`, `kill_sessions`, a restore).
    pub fn sql_result(&self) -> Option<SqlBatch> {
        self.result_as()
    }

    /// The error of a statement that did not run.
    pub fn sql_failure(&self) -> Option<SqlFailure> {
        self.result_as()
    }

    /// The copy of one file (`copy_backups`).
    pub fn copied(&self) -> Option<Copied> {
        self.result_as()
    }

    /// How a command ended (`cs_cmdlet`, `check` with a command).
    pub fn shell_result(&self) -> Option<ShellResult> {
        self.result_as()
    }

    /// A query check's rows (`check`).
    pub fn check_rows(&self) -> Option<CheckRows> {
        self.result_as()
    }

    /// The room `check_backups` found.
    pub fn backup_room(&self) -> Option<BackupRoom> {
        self.result_as()
    }

    /// A failure in the engine's words.
    pub fn failure(&self) -> Option<Failure> {
        self.result_as()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Each shape writes exactly what the engine has always written.
    #[test]
    fn each_shape_writes_the_recorded_json() {
        let batch = SqlBatch::default();
        assert_eq!(
            to_result(&batch),
            json!({"result_sets": [], "messages": [], "rows_affected": []})
        );
        let e = SqlFailure {
            error: SqlError {
                number: None,
                text: "timed out".into(),
            },
            skipped: None,
            refused: false,
            reason: None,
        };
        assert_eq!(
            to_result(&e),
            json!({"error": {"number": null, "text": "timed out"}})
        );
        assert_eq!(to_result(&Failure::because("no")), json!({"reason": "no"}));
        let room = BackupRoom {
            share_readable: true,
            note: None,
            room: Some(Room {
                files_to_copy_at_most: 2,
                bytes_needed_at_most: 10,
                bytes_free: None,
            }),
        };
        assert_eq!(
            to_result(&room),
            json!({"share_readable": true, "files_to_copy_at_most": 2, "bytes_needed_at_most": 10, "bytes_free": null})
        );
        let back: BackupRoom = decode(&to_result(&room)).expect("decodes");
        assert_eq!(back, room);
        let unreadable = json!({"share_readable": false, "note": "cannot be read"});
        let back: BackupRoom = decode(&unreadable).expect("decodes");
        assert_eq!(back.room, None);
        assert_eq!(to_result(&back), unreadable);
        assert_eq!(
            to_result(&ApprovalWithheld {
                approval: Withheld::NotGiven
            }),
            json!({"approval": "not given"})
        );
    }

    #[test]
    fn a_view_reads_what_it_knows_and_ignores_the_rest() {
        let v = ResultView::of(&json!({
            "error": {"number": 4305, "text": "too recent"},
            "refused": true,
            "approval": "postponed",
            "reason": 7,
            "from_a_later_version": {"x": 1}
        }));
        assert_eq!(v.error_number(), Some(4305));
        assert!(v.refused && v.answered());
        assert_eq!(v.approval, Some(Withheld::Other));
        assert_eq!(v.reason, None, "a reason that is not text is not read");
        let none = ResultView::of(&json!("text"));
        assert_eq!(none, ResultView::default());
        assert!(!none.answered());
    }
}
