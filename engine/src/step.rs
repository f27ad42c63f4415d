//! What each action does, expressed through the dispatcher (SPEC §5, domain.md §8–§9).
//!
//! Every fact a decision depends on is observed through the dispatcher first; every effect
//! goes through `Dispatcher::act` with its exact text and a probe that can tell, after a
//! crash, whether it took effect. Nothing here appends to the journal or reads the world
//! behind the dispatcher's back, so the same journal always leads to the same next intent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use runledger_verifier::event::{Effect, FileRef};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::dispatcher::{Dispatcher, Halt, Intent, Outcome, ProbeFinding};
use crate::files;
use crate::lsn::{plan_chain, BackupHeader, Lsn};
use crate::runbook::{Action, ShellConfig, Step};
use crate::shell::{self, ShellCommand};
use crate::sql::{
    quote_ident, quote_nstring, BatchResult, SqlEndpoint, SqlError, SqlSession, SqlValue,
};

/// Default time limit of one action.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Shows the progress of a long action (a copy in bytes, a restore as it runs).
pub trait Progress: Send + Sync {
    /// A new action starts; `total` is its size in bytes, 0 when unknown.
    fn start(&self, label: &str, total: u64);
    /// Bytes done so far.
    fn set(&self, done: u64);
    /// The action ended.
    fn finish(&self);
}

/// The outside world as the steps reach it: SQL sessions per target, the shell, pacing.
pub struct Env {
    endpoints: HashMap<String, SqlEndpoint>,
    sessions: tokio::sync::Mutex<HashMap<String, SqlSession>>,
    shell: Option<ShellConfig>,
    /// Extra delay per copied file (drills), in milliseconds.
    pub pace_ms: u64,
    /// Where long actions show their progress.
    pub progress: Option<std::sync::Arc<dyn Progress>>,
    /// Environment variables that held secrets: removed from every shell command's
    /// environment.
    pub hidden_env: Vec<String>,
}

impl Env {
    /// An environment over these SQL endpoints (secrets already resolved) and shell.
    pub fn new(endpoints: HashMap<String, SqlEndpoint>, shell: Option<ShellConfig>) -> Env {
        Env {
            endpoints,
            sessions: tokio::sync::Mutex::new(HashMap::new()),
            shell,
            pace_ms: 0,
            progress: None,
            hidden_env: Vec::new(),
        }
    }

    /// Runs a batch on a target's session, connecting on first use and again after a failure
    /// that ends the session.
    pub async fn sql(
        &self,
        target: &str,
        text: &str,
        timeout: Duration,
    ) -> Result<BatchResult, SqlError> {
        let mut sessions = self.sessions.lock().await;
        if !sessions.contains_key(target) {
            let ep = self
                .endpoints
                .get(target)
                .ok_or_else(|| SqlError::Connect {
                    endpoint: target.to_string(),
                    reason: "no such target in the runbook".into(),
                })?;
            let session = SqlSession::connect(ep).await?;
            sessions.insert(target.to_string(), session);
        }
        let session = sessions.get_mut(target).expect("inserted above");
        let result = session.batch(text, timeout).await;
        if matches!(
            result,
            Err(SqlError::Timeout { .. } | SqlError::Protocol { .. } | SqlError::Connect { .. })
        ) {
            sessions.remove(target);
        }
        result
    }

    /// Runs a cmdlet line through the configured shell.
    pub async fn cmdlet(&self, line: &str, timeout: Duration) -> shell::ShellOutcome {
        let Some(cfg) = &self.shell else {
            return shell::ShellOutcome::SpawnFailed {
                reason: "the runbook declares no [shell]".into(),
            };
        };
        let mut args = cfg.args.clone();
        args.push(line.to_string());
        shell::run(&ShellCommand {
            program: cfg.program.clone(),
            args,
            stdin: None,
            timeout,
            env_remove: self.hidden_env.clone(),
        })
        .await
    }

    fn shell_display(&self, line: &str) -> String {
        match &self.shell {
            Some(cfg) => {
                let mut args = cfg.args.clone();
                args.push(line.to_string());
                ShellCommand {
                    program: cfg.program.clone(),
                    args,
                    stdin: None,
                    timeout: DEFAULT_TIMEOUT,
                    env_remove: Vec::new(),
                }
                .display()
            }
            None => line.to_string(),
        }
    }
}

/// A result set as recorded: column names and rows of JSON values (bounded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rows {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<serde_json::Value>>,
}

impl Rows {
    fn get(&self, row: usize, column: &str) -> Option<&serde_json::Value> {
        let i = self
            .columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(column))?;
        self.rows.get(row)?.get(i)
    }

    fn text(&self, row: usize, column: &str) -> Option<String> {
        match self.get(row, column)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    fn int(&self, row: usize, column: &str) -> Option<i64> {
        match self.get(row, column)? {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::Bool(b) => Some(i64::from(*b)),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }
}

/// Most rows of one result set kept in the journal.
const MAX_ROWS: usize = 200;

fn value_json(v: &SqlValue) -> serde_json::Value {
    match v {
        SqlValue::Null => serde_json::Value::Null,
        SqlValue::Int(i) if i.unsigned_abs() < (1 << 53) => json!(i),
        SqlValue::Int(i) => json!(i.to_string()),
        SqlValue::Bool(b) => json!(b),
        SqlValue::Text(s)
        | SqlValue::Decimal(s)
        | SqlValue::DateTime(s)
        | SqlValue::Guid(s)
        | SqlValue::Bytes(s) => json!(s),
    }
}

/// A batch's result sets, bounded, as recorded.
pub fn rows_of(result: &BatchResult) -> Vec<Rows> {
    result
        .result_sets
        .iter()
        .map(|rs| Rows {
            columns: rs.columns.clone(),
            rows: rs
                .rows
                .iter()
                .take(MAX_ROWS)
                .map(|r| r.iter().map(value_json).collect())
                .collect(),
        })
        .collect()
}

fn sql_error_json(e: &SqlError) -> serde_json::Value {
    json!({"error": {"number": e.number(), "text": e.to_string()}})
}

fn batch_json(result: &BatchResult) -> serde_json::Value {
    json!({
        "result_sets": rows_of(result),
        "messages": result.messages.iter().map(|m| json!({"number": m.number, "state": m.state, "severity": m.severity, "text": m.text})).collect::<Vec<_>>(),
        "rows_affected": result.rows_affected,
    })
}

/// Runs a read-only query for an observation: rows, or the error as recorded data.
async fn query(env: &Env, target: &str, text: &str) -> Result<Vec<Rows>, String> {
    env.sql(target, text, DEFAULT_TIMEOUT)
        .await
        .map(|r| rows_of(&r))
        .map_err(|e| e.to_string())
}

/// Executes one runbook step.
pub async fn execute(d: &mut Dispatcher, env: &Env, step: &Step) -> Result<(), Halt> {
    let timeout = step
        .timeout
        .as_deref()
        .and_then(|t| crate::runbook::parse_duration(t).ok())
        .unwrap_or(DEFAULT_TIMEOUT);
    let approval = step
        .requires_approval
        .then(|| format!("{} — {}", step.title, describe_action(&step.action)));
    match &step.action {
        Action::Sql {
            target,
            batch,
            probe,
            effect,
            expect_return_code,
        } => {
            let intent = Intent {
                unit: step.id.clone(),
                action: "sql".into(),
                effect: effect.unwrap_or(Effect::Guarded),
                command: batch.clone(),
                target: target.clone(),
                inputs: vec![],
            };
            let expect = *expect_return_code;
            let outcome = with_retries(d, step, intent, approval, |_| async {
                match env.sql(target, batch, timeout).await {
                    Ok(r) => {
                        let mut result = batch_json(&r);
                        let rc = rows_of(&r).last().and_then(|rs| rs.rows.first().and_then(|row| row.first()).cloned());
                        match (expect, rc) {
                            (Some(want), Some(got)) if got.as_i64() != Some(want) => {
                                result["return_code"] = got.clone();
                                Outcome::failed(json!({"result": result, "reason": format!("return code {got}, expected {want}")}))
                            }
                            (Some(want), None) => Outcome::failed(json!({"result": result, "reason": format!("no return code, expected {want}")})),
                            _ => {
                                if expect.is_some() {
                                    result["return_code"] = json!(expect);
                                }
                                Outcome::ok(result)
                            }
                        }
                    }
                    Err(e) => Outcome::failed(sql_error_json(&e)),
                }
            }, || sql_probe(env, target, probe.as_deref()))
            .await?;
            require(step, &outcome)
        }
        Action::Check {
            target,
            query: q,
            command,
            wait,
            warn_only,
        } => {
            let wait = wait
                .as_deref()
                .and_then(|w| crate::runbook::parse_duration(w).ok());
            let (cmd, tgt) = match (q, command) {
                (Some(q), _) => (q.clone(), target.clone().unwrap_or_default()),
                (None, Some(c)) => (env.shell_display(c), "shell".to_string()),
                (None, None) => unreachable!("validated at load"),
            };
            let intent = Intent {
                unit: step.id.clone(),
                action: "check".into(),
                effect: Effect::ReadOnly,
                command: cmd,
                target: tgt,
                inputs: vec![],
            };
            let once = || async {
                match (q, command, target) {
                    (Some(q), _, Some(t)) => match env.sql(t, q, timeout).await {
                        Ok(r) => {
                            let rows = rows_of(&r);
                            let ok = rows.first().and_then(|rs| rs.int(0, "ok")) == Some(1);
                            let result = json!({"rows": rows, "ok": ok});
                            if ok {
                                Outcome::ok(result)
                            } else {
                                Outcome::failed(
                                    json!({"result": result, "reason": "the check's `ok` column is not 1"}),
                                )
                            }
                        }
                        Err(e) => Outcome::failed(sql_error_json(&e)),
                    },
                    (_, Some(c), _) => shell_outcome(env.cmdlet(c, timeout).await),
                    _ => Outcome::failed(json!({"reason": "check has neither query nor command"})),
                }
            };
            let outcome = with_retries(
                d,
                step,
                intent,
                approval,
                |_| async {
                    // With `wait`, poll until the check holds: what is running is waited for.
                    let started = std::time::Instant::now();
                    let mut polls = 1u64;
                    let mut outcome = once().await;
                    while let Some(w) = wait {
                        if outcome.succeeded() || started.elapsed() >= w {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        outcome = once().await;
                        polls += 1;
                    }
                    if wait.is_some() {
                        outcome.result["polls"] = json!(polls);
                    }
                    outcome
                },
                || async { ("none".to_string(), ProbeFinding::Unknown(json!(null))) },
            )
            .await?;
            if !outcome.succeeded() && *warn_only {
                d.say(&format!(
                    "  warning: {} does not hold ({}); the runbook continues",
                    step.id,
                    failure_reason(&outcome.result)
                ));
                return Ok(());
            }
            require(step, &outcome)
        }
        Action::Manual { instruction } => {
            let intent = Intent {
                unit: step.id.clone(),
                action: "manual".into(),
                effect: Effect::ReadOnly,
                command: instruction.clone(),
                target: "operator".into(),
                inputs: vec![],
            };
            let text = format!("{}: {instruction}", step.title);
            let outcome = d
                .act(
                    intent,
                    Some(text),
                    || async { Outcome::ok(json!({"confirmed": true})) },
                    || async { ("none".to_string(), ProbeFinding::Unknown(json!(null))) },
                )
                .await?;
            require(step, &outcome)
        }
        Action::CsCmdlet {
            command,
            probe,
            probe_expect,
            probe_target,
            probe_query,
            effect,
            resolve_identity,
        } => {
            // The identity is the object's own, read at run time and recorded first.
            let (command, probe) = match resolve_identity {
                Some(line) => {
                    let found: Result<String, String> = d
                        .observe(Some(&step.id), "identity", line, async {
                            identity_of(env.cmdlet(line, timeout).await)
                        })
                        .await?;
                    let id = found.map_err(|reason| Halt::StepFailed {
                        step: step.id.clone(),
                        reason: format!(
                            "{}: cannot resolve the identity with `{line}`: {reason}",
                            step.title
                        ),
                    })?;
                    (
                        command.replace(RESOLVED_IDENTITY, &id),
                        probe.as_ref().map(|p| p.replace(RESOLVED_IDENTITY, &id)),
                    )
                }
                None => (command.clone(), probe.clone()),
            };
            let (command, probe) = (&command, &probe);
            let intent = Intent {
                unit: step.id.clone(),
                action: "cs_cmdlet".into(),
                effect: effect.unwrap_or(Effect::Idempotent),
                command: env.shell_display(command),
                target: "shell".into(),
                inputs: vec![],
            };
            let outcome = with_retries(
                d,
                step,
                intent,
                approval,
                |_| async { shell_outcome(env.cmdlet(command, timeout).await) },
                || async {
                    if let (Some(t), Some(q)) = (probe_target, probe_query) {
                        return sql_probe(env, t, Some(q)).await;
                    }
                    match (probe, probe_expect) {
                        (Some(p), Some(expect)) => {
                            let out = env.cmdlet(p, timeout).await;
                            let text = match &out {
                                shell::ShellOutcome::Exited { code: 0, output } => {
                                    Some(output.stdout_excerpt())
                                }
                                _ => None,
                            };
                            let found = json!({"probe_output": text, "summary": out.summary()});
                            match text {
                                Some(t) if t.contains(expect.as_str()) => {
                                    (p.clone(), ProbeFinding::Applied(found))
                                }
                                Some(_) => (p.clone(), ProbeFinding::NotApplied(found)),
                                None => (p.clone(), ProbeFinding::Unknown(found)),
                            }
                        }
                        _ => (
                            "none".to_string(),
                            ProbeFinding::Unknown(json!({"note": "no probe declared"})),
                        ),
                    }
                },
            )
            .await?;
            require(step, &outcome)
        }
        Action::CopyBackups {
            target,
            database,
            source,
            destination,
        } => {
            copy_backups(
                d,
                env,
                step,
                target,
                database,
                source,
                destination,
                approval,
            )
            .await
        }
        Action::RestoreLogs {
            target,
            database,
            directory,
        } => restore_logs(d, env, step, target, database, directory, timeout, approval).await,
        Action::KillSessions { target, database } => {
            kill_sessions(d, env, step, target, database, timeout, approval).await
        }
        Action::RecoverDatabase { target, database } => {
            let command = format!("RESTORE DATABASE {} WITH RECOVERY", quote_ident(database));
            let intent = Intent {
                unit: step.id.clone(),
                action: "recover_database".into(),
                effect: Effect::Guarded,
                command: command.clone(),
                target: target.clone(),
                inputs: vec![],
            };
            let outcome = with_retries(
                d,
                step,
                intent,
                approval,
                |_| async {
                    match env.sql(target, &command, timeout).await {
                        Ok(r) => Outcome::ok(batch_json(&r)),
                        Err(e) => Outcome::failed(sql_error_json(&e)),
                    }
                },
                || recovery_probe(env, target, database),
            )
            .await?;
            require(step, &outcome)
        }
    }
}

/// Where a `cs_cmdlet` puts the identity it resolved at run time.
pub const RESOLVED_IDENTITY: &str = "{{resolved_identity}}";

/// The `Identity` of a cmdlet's list output, checked to be safe to put in a cmdlet line.
fn identity_of(out: shell::ShellOutcome) -> Result<String, String> {
    let text = match &out {
        shell::ShellOutcome::Exited { code: 0, output } => {
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
        _ => return Err(out.summary()),
    };
    let id = text
        .lines()
        .find_map(|l| {
            let rest = l.trim_start().strip_prefix("Identity")?;
            Some(rest.trim_start().strip_prefix(':')?.trim().to_string())
        })
        .filter(|id| !id.is_empty())
        .ok_or_else(|| "no `Identity : …` line in its output".to_string())?;
    if id
        .chars()
        .any(|c| matches!(c, '\'' | '"' | '`' | '$' | ';' | '[' | ']') || c.is_control())
    {
        return Err(format!(
            "the identity {id:?} holds characters that would change the cmdlet line"
        ));
    }
    Ok(id)
}

/// One line describing an action for approvals.
pub fn describe_action(action: &Action) -> String {
    match action {
        Action::Sql { batch, .. } => first_line(batch),
        Action::CopyBackups {
            source,
            destination,
            ..
        } => format!("copy backups from {source} to {destination}"),
        Action::RestoreLogs {
            database,
            directory,
            ..
        } => format!("restore the log backups in {directory} to {database}"),
        Action::KillSessions { database, .. } => format!("end the sessions holding {database}"),
        Action::RecoverDatabase { database, .. } => {
            format!("RESTORE DATABASE {} WITH RECOVERY", quote_ident(database))
        }
        Action::CsCmdlet { command, .. } => command.clone(),
        Action::Check { query, command, .. } => query
            .clone()
            .or(command.clone())
            .map(|s| first_line(&s))
            .unwrap_or_default(),
        Action::Manual { instruction } => instruction.clone(),
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

/// Acts, retrying a failed attempt up to the step's `retries` when its effect class allows.
async fn with_retries<A, FA, P, FP>(
    d: &mut Dispatcher,
    step: &Step,
    intent: Intent,
    approval: Option<String>,
    action: A,
    probe: P,
) -> Result<Outcome, Halt>
where
    A: Fn(u32) -> FA,
    FA: std::future::Future<Output = Outcome>,
    P: Fn() -> FP,
    FP: std::future::Future<Output = (String, ProbeFinding)>,
{
    let mut tries = 0u32;
    loop {
        let outcome = d
            .act(intent.clone(), approval.clone(), || action(tries), &probe)
            .await?;
        let retryable = matches!(intent.effect, Effect::ReadOnly | Effect::Idempotent);
        if outcome.succeeded() || tries >= step.retries || !retryable {
            return Ok(outcome);
        }
        tries += 1;
    }
}

fn require(step: &Step, outcome: &Outcome) -> Result<(), Halt> {
    if outcome.succeeded() {
        Ok(())
    } else {
        Err(Halt::StepFailed {
            step: step.id.clone(),
            reason: format!("{}: {}", step.title, failure_reason(&outcome.result)),
        })
    }
}

/// One line from a failed outcome's result.
pub fn failure_reason(result: &serde_json::Value) -> String {
    if let Some(r) = result.get("reason").and_then(|r| r.as_str()) {
        return r.to_string();
    }
    if let Some(e) = result.get("error") {
        let text = e.get("text").and_then(|t| t.as_str()).unwrap_or("");
        return match e.get("number").and_then(|n| n.as_i64()) {
            Some(n) => format!("SQL Server error {n}: {text}"),
            None => text.to_string(),
        };
    }
    if let Some(s) = result.get("summary").and_then(|s| s.as_str()) {
        return s.to_string();
    }
    result.to_string()
}

fn shell_outcome(out: shell::ShellOutcome) -> Outcome {
    let summary = out.summary();
    let mut result = json!({"summary": summary});
    if let shell::ShellOutcome::Exited { code, .. } = &out {
        result["exit_code"] = json!(code);
    }
    if let shell::ShellOutcome::Exited { output, .. }
    | shell::ShellOutcome::Signaled { output, .. }
    | shell::ShellOutcome::TimedOut { output, .. } = &out
    {
        result["stdout"] = json!(output.stdout_excerpt());
        result["stderr"] = json!(output.stderr_excerpt());
        result["stdout_sha256"] = json!(output.stdout_sha256());
        result["stderr_sha256"] = json!(output.stderr_sha256());
    }
    if out.succeeded() {
        Outcome::ok(result)
    } else {
        Outcome::failed(result)
    }
}

async fn sql_probe(env: &Env, target: &str, probe: Option<&str>) -> (String, ProbeFinding) {
    let Some(p) = probe else {
        return (
            "none".to_string(),
            ProbeFinding::Unknown(json!({"note": "no probe declared"})),
        );
    };
    match query(env, target, p).await {
        Ok(rows) => {
            let done = rows.first().and_then(|r| r.int(0, "done"));
            let evidence = json!({"rows": rows});
            match done {
                Some(1) => (p.to_string(), ProbeFinding::Applied(evidence)),
                Some(0) => (p.to_string(), ProbeFinding::NotApplied(evidence)),
                _ => (p.to_string(), ProbeFinding::Unknown(evidence)),
            }
        }
        Err(e) => (p.to_string(), ProbeFinding::Unknown(json!({"error": e}))),
    }
}

/// The database's position: state and redo_start_lsn (domain.md §9 helper).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DbPosition {
    /// `state_desc`, or None when the database does not exist.
    pub state: Option<String>,
    /// `redo_start_lsn` (decimal), None unless RESTORING.
    pub redo_start_lsn: Option<String>,
    /// RESTORE requests running on the database.
    pub restores_running: i64,
    /// The query's error, if it failed.
    pub error: Option<String>,
}

fn position_query(database: &str) -> String {
    let name = quote_nstring(database);
    format!(
        "SELECT d.state_desc, mf.redo_start_lsn, (SELECT COUNT(*) FROM sys.dm_exec_requests AS r WHERE r.database_id = d.database_id AND r.command LIKE 'RESTORE%') AS restores_running \
FROM sys.databases AS d LEFT JOIN sys.master_files AS mf ON mf.database_id = d.database_id AND mf.file_id = 1 WHERE d.name = {name};"
    )
}

async fn read_position(env: &Env, target: &str, database: &str) -> DbPosition {
    match query(env, target, &position_query(database)).await {
        Ok(rows) => {
            let Some(rs) = rows.first() else {
                return DbPosition::default();
            };
            if rs.rows.is_empty() {
                return DbPosition::default();
            }
            DbPosition {
                state: rs.text(0, "state_desc"),
                redo_start_lsn: rs.text(0, "redo_start_lsn"),
                restores_running: rs.int(0, "restores_running").unwrap_or(0),
                error: None,
            }
        }
        Err(e) => DbPosition {
            error: Some(e),
            ..DbPosition::default()
        },
    }
}

/// Waits (bounded) until no RESTORE runs on the database, then reads its position: a probe
/// must never race an in-flight request.
async fn settled_position(env: &Env, target: &str, database: &str) -> DbPosition {
    let mut pos = read_position(env, target, database).await;
    for _ in 0..600 {
        if pos.restores_running == 0 || pos.error.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        pos = read_position(env, target, database).await;
    }
    pos
}

/// Records the database's position as an observation; with `settle`, once no RESTORE runs on it.
async fn observe_position(
    d: &mut Dispatcher,
    env: &Env,
    step: Option<&str>,
    target: &str,
    database: &str,
    settle: bool,
) -> Result<DbPosition, Halt> {
    d.observe(
        step,
        "database_position",
        &position_query(database),
        async move {
            if settle {
                settled_position(env, target, database).await
            } else {
                read_position(env, target, database).await
            }
        },
    )
    .await
}

async fn recovery_probe(env: &Env, target: &str, database: &str) -> (String, ProbeFinding) {
    let pos = settled_position(env, target, database).await;
    let evidence = serde_json::to_value(&pos).unwrap_or_default();
    let finding = match pos.state.as_deref() {
        Some("ONLINE") => ProbeFinding::Applied(evidence),
        Some("RESTORING") => ProbeFinding::NotApplied(evidence),
        _ => ProbeFinding::Unknown(evidence),
    };
    (position_query(database), finding)
}

/// A file in a listing, with its content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedFile {
    /// File name.
    pub name: String,
    /// Size.
    pub size: u64,
    /// SHA-256.
    pub sha256: String,
}

/// A folder listing as recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The folder.
    pub dir: String,
    /// `.trn` files with size and hash.
    pub files: Vec<ListedFile>,
    /// Why it could not be read.
    pub error: Option<String>,
    /// `.trn` names that are symbolic links: never followed, hashed or copied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
}

/// Says which names of a listing are symbolic links, left alone.
fn warn_links(d: &mut Dispatcher, listing: &Listing) {
    for name in &listing.links {
        d.say(&format!(
            "  warning: {} is a symbolic link; links are never followed, so it is neither copied nor restored",
            join(&listing.dir, name)
        ));
    }
}

fn list_with_hashes(dir: &str) -> Listing {
    match files::list_dir(Path::new(dir), "trn") {
        Ok(found) => Listing {
            dir: dir.to_string(),
            links: found.links,
            files: found
                .files
                .into_iter()
                .filter_map(|f| {
                    let (size, sha256) = files::hash_file(&f.path).ok()?;
                    Some(ListedFile {
                        name: f.name,
                        size,
                        sha256,
                    })
                })
                .collect(),
            error: None,
        },
        Err(e) => Listing {
            dir: dir.to_string(),
            files: vec![],
            error: Some(e.to_string()),
            links: vec![],
        },
    }
}

pub(crate) fn join(dir: &str, name: &str) -> String {
    let sep = if dir.contains('\\') && !dir.contains('/') {
        '\\'
    } else {
        '/'
    };
    if dir.ends_with(sep) {
        format!("{dir}{name}")
    } else {
        format!("{dir}{sep}{name}")
    }
}

/// Reads the headers of the listed files through the server (`RESTORE HEADERONLY`).
async fn read_headers(
    env: &Env,
    target: &str,
    listing: &Listing,
) -> Vec<Result<BackupHeader, String>> {
    let mut out = Vec::new();
    for f in &listing.files {
        let path = join(&listing.dir, &f.name);
        let text = format!("RESTORE HEADERONLY FROM DISK = {};", quote_nstring(&path));
        let header = match query(env, target, &text).await {
            Ok(rows) => match rows.first() {
                Some(rs) if !rs.rows.is_empty() => Ok(BackupHeader {
                    file: f.name.clone(),
                    path: path.clone(),
                    size: f.size,
                    sha256: f.sha256.clone(),
                    backup_type: rs.int(0, "BackupType").unwrap_or(0),
                    database: rs.text(0, "DatabaseName").unwrap_or_default(),
                    server: rs.text(0, "ServerName").unwrap_or_default(),
                    first_lsn: rs.text(0, "FirstLSN").unwrap_or_default(),
                    last_lsn: rs.text(0, "LastLSN").unwrap_or_default(),
                    database_backup_lsn: rs.text(0, "DatabaseBackupLSN").unwrap_or_default(),
                    backup_start: rs.text(0, "BackupStartDate").unwrap_or_default(),
                    family_guid: rs.text(0, "FamilyGUID").unwrap_or_default(),
                }),
                _ => Err(format!("{}: no backup set in the file", f.name)),
            },
            Err(e) => Err(format!("{}: {e}", f.name)),
        };
        out.push(header);
    }
    out
}

/// Headers as recorded: readable ones, and the files whose header could not be read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Headers {
    /// Readable headers.
    pub headers: Vec<BackupHeader>,
    /// Files whose header could not be read, with the reason.
    pub unreadable: Vec<String>,
}

fn split_headers(all: Vec<Result<BackupHeader, String>>) -> Headers {
    let mut h = Headers::default();
    for r in all {
        match r {
            Ok(x) => h.headers.push(x),
            Err(e) => h.unreadable.push(e),
        }
    }
    h
}

#[allow(clippy::too_many_arguments)]
async fn copy_backups(
    d: &mut Dispatcher,
    env: &Env,
    step: &Step,
    target: &str,
    database: &str,
    source: &str,
    destination: &str,
    approval: Option<String>,
) -> Result<(), Halt> {
    let sid = Some(step.id.as_str());
    let position = observe_position(d, env, sid, target, database, false).await?;
    let share: Listing = d
        .observe(sid, "share_listing", source, async {
            list_with_hashes(source)
        })
        .await?;
    let dest: Listing = d
        .observe(sid, "destination_listing", destination, async {
            list_with_hashes(destination)
        })
        .await?;
    warn_links(d, &share);
    warn_links(d, &dest);
    let redo = position
        .redo_start_lsn
        .as_deref()
        .and_then(Lsn::parse)
        .unwrap_or(Lsn(0));
    if let Some(e) = &share.error {
        // What the copy destination alone can bring the database to.
        let dest_headers: Headers = d
            .observe(
                sid,
                "destination_headers",
                "RESTORE HEADERONLY on each destination file",
                async { split_headers(read_headers(env, target, &dest).await) },
            )
            .await?;
        let plan = plan_chain(redo, database, &dest_headers.headers);
        let point = plan
            .apply
            .last()
            .and_then(|&i| Lsn::parse(&dest_headers.headers[i].last_lsn))
            .unwrap_or(redo);
        let last_file = plan
            .apply
            .last()
            .map(|&i| format!(", the end of {}", dest_headers.headers[i].file))
            .unwrap_or_default();
        let text = format!(
            "the backup share {source} cannot be read ({e}); without it the recovery point is LSN {point}{last_file}, from the {} log(s) {destination} already holds; logs taken after it on the primary are lost",
            plan.apply.len()
        );
        d.say(&format!("  {text}"));
        if !d.approve(&step.id, &text, None, "accept_data_loss").await? {
            return Err(Halt::StepFailed {
                step: step.id.clone(),
                reason: text,
            });
        }
        return Ok(());
    }
    let headers: Headers = d
        .observe(
            sid,
            "share_headers",
            "RESTORE HEADERONLY on each share file",
            async { split_headers(read_headers(env, target, &share).await) },
        )
        .await?;
    let wanted: Vec<&BackupHeader> = headers
        .headers
        .iter()
        .filter(|h| h.backup_type == 2 && h.database.eq_ignore_ascii_case(database))
        .filter(|h| Lsn::parse(&h.last_lsn).is_some_and(|l| l > redo))
        .collect();
    let mut copied = 0;
    for h in wanted {
        let in_dest = dest.files.iter().find(|f| f.name == h.file);
        if in_dest.is_some_and(|f| f.size == h.size && f.sha256 == h.sha256) {
            continue;
        }
        let src = join(source, &h.file);
        let dst = join(destination, &h.file);
        let input = FileRef {
            path: src.clone(),
            size: h.size,
            sha256: h.sha256.clone(),
        };
        let intent = Intent {
            unit: format!("{}/{}", step.id, h.file),
            action: "copy_backups".into(),
            effect: Effect::Idempotent,
            command: format!("copy {src} -> {dst}"),
            target: "files".into(),
            inputs: vec![input],
        };
        d.say(&format!("  copy {} ({} bytes)", h.file, h.size));
        let expected = h.sha256.clone();
        let pace = env.pace_ms;
        let (label, total) = (format!("copy {}", h.file), h.size);
        let outcome = with_retries(d, step, intent, approval.clone(), |_| {
            let (src, dst, expected) = (src.clone(), dst.clone(), expected.clone());
            let progress = env.progress.clone();
            let label = label.clone();
            async move {
                if let Some(p) = &progress {
                    p.start(&label, total);
                }
                if pace > 0 {
                    tokio::time::sleep(Duration::from_millis(pace)).await;
                }
                let (s2, d2) = (src.clone(), dst.clone());
                let shown = progress.clone();
                let r = tokio::task::spawn_blocking(move || {
                    files::copy_and_hash(Path::new(&s2), Path::new(&d2), &mut |done| {
                        if let Some(p) = &shown {
                            p.set(done);
                        }
                    })
                })
                .await;
                if let Some(p) = &progress {
                    p.finish();
                }
                match r {
                    Ok(Ok(c)) if c.sha256 == expected => Outcome::ok(json!({"size": c.size, "sha256": c.sha256, "destination": dst})),
                    Ok(Ok(c)) => {
                        let _ = std::fs::remove_file(&dst);
                        Outcome::failed(json!({"reason": format!("{src} changed since it was listed: sha256 {} now, {expected} when listed", c.sha256), "sha256": c.sha256}))
                    }
                    Ok(Err(e)) => Outcome::failed(json!({"reason": format!("cannot copy {src} to {dst}: {e}")})),
                    Err(e) => Outcome::failed(json!({"reason": format!("copy task failed: {e}")})),
                }
            }
        }, || {
            let dst = dst.clone();
            let expected = expected.clone();
            async move {
                let found = files::hash_file(Path::new(&dst)).ok();
                let evidence = json!({"destination": dst, "found": found.as_ref().map(|(s, h)| json!({"size": s, "sha256": h}))});
                match found {
                    Some((_, h)) if h == expected => (format!("sha256 of {dst}"), ProbeFinding::Applied(evidence)),
                    _ => (format!("sha256 of {dst}"), ProbeFinding::NotApplied(evidence)),
                }
            }
        })
        .await?;
        require(step, &outcome)?;
        copied += 1;
    }
    d.say(&format!("  {copied} file(s) copied"));
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn restore_logs(
    d: &mut Dispatcher,
    env: &Env,
    step: &Step,
    target: &str,
    database: &str,
    directory: &str,
    timeout: Duration,
    approval: Option<String>,
) -> Result<(), Halt> {
    let sid = Some(step.id.as_str());
    let position = observe_position(d, env, sid, target, database, true).await?;
    match position.state.as_deref() {
        Some("RESTORING") => {}
        Some("ONLINE") => {
            d.say(&format!("  {database} is already ONLINE: no log can be restored (the recovery step already ran)"));
            return Ok(());
        }
        other => {
            return Err(Halt::StepFailed {
                step: step.id.clone(),
                reason: format!(
                    "{database} is {} on {target}, expected RESTORING{}",
                    other.unwrap_or("missing"),
                    position
                        .error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                ),
            })
        }
    }
    let Some(redo) = position.redo_start_lsn.as_deref().and_then(Lsn::parse) else {
        return Err(Halt::StepFailed {
            step: step.id.clone(),
            reason: format!("{database} is RESTORING but has no redo_start_lsn"),
        });
    };
    let listing: Listing = d
        .observe(sid, "destination_listing", directory, async {
            list_with_hashes(directory)
        })
        .await?;
    warn_links(d, &listing);
    let headers: Headers = d
        .observe(
            sid,
            "backup_headers",
            "RESTORE HEADERONLY on each file",
            async { split_headers(read_headers(env, target, &listing).await) },
        )
        .await?;
    let plan = plan_chain(redo, database, &headers.headers);
    d.say(&format!(
        "  restore point {redo}; {} log(s) to apply, {} already contained",
        plan.apply.len(),
        plan.already_applied.len()
    ));
    let mut point = redo;
    for &i in &plan.apply {
        let h = &headers.headers[i];
        let verify = format!("RESTORE VERIFYONLY FROM DISK = {};", quote_nstring(&h.path));
        let command = format!(
            "RESTORE LOG {} FROM DISK = {} WITH FILE = 1, NORECOVERY",
            quote_ident(database),
            quote_nstring(&h.path)
        );
        let intent = Intent {
            unit: format!("{}/{}", step.id, h.file),
            action: "restore_logs".into(),
            effect: Effect::Guarded,
            command: format!("{verify}\n{command}"),
            target: target.to_string(),
            inputs: vec![FileRef {
                path: h.path.clone(),
                size: h.size,
                sha256: h.sha256.clone(),
            }],
        };
        d.say(&format!(
            "  restore {} (LSN {} – {})",
            h.file, h.first_lsn, h.last_lsn
        ));
        let (path, expected, last) = (
            h.path.clone(),
            h.sha256.clone(),
            Lsn::parse(&h.last_lsn).unwrap_or(Lsn(0)),
        );
        let outcome = with_retries(d, step, intent, approval.clone(), |_| {
            let (path, expected, command, verify) =
                (path.clone(), expected.clone(), command.clone(), verify.clone());
            async move {
                // Re-hash just before the restore: a file changed since it was listed is refused.
                let p = PathBuf::from(&path);
                let now = tokio::task::spawn_blocking(move || files::hash_file(&p)).await;
                match now {
                    Ok(Ok((_, h))) if h == expected => {}
                    Ok(Ok((_, h))) => {
                        return Outcome::failed(json!({"refused": true, "reason": format!("{path} changed since it was listed: sha256 {h}, expected {expected}; it was not restored")}))
                    }
                    Ok(Err(e)) => return Outcome::failed(json!({"reason": format!("cannot read {path} before restoring it: {e}")})),
                    Err(e) => return Outcome::failed(json!({"reason": format!("hash task failed: {e}")})),
                }
                // The server reads the whole backup set before anything is restored from it.
                if let Err(e) = env.sql(target, &verify, timeout).await {
                    let mut j = sql_error_json(&e);
                    // Only the server's verdict on the media refuses the file; a connection
                    // failure says nothing about it.
                    if !matches!(e, SqlError::Server { .. }) {
                        return Outcome::failed(j);
                    }
                    j["refused"] = json!(true);
                    j["reason"] = json!(format!("{path} failed RESTORE VERIFYONLY ({e}); it was not restored"));
                    return Outcome::failed(j);
                }
                if let Some(p) = &env.progress {
                    p.start(&format!("restore {}", PathBuf::from(&path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()), 0);
                }
                let restored = env.sql(target, &command, timeout).await;
                if let Some(p) = &env.progress {
                    p.finish();
                }
                match restored {
                    Ok(r) => Outcome::ok(batch_json(&r)),
                    Err(e) if e.number() == Some(4326) => {
                        let mut j = sql_error_json(&e);
                        j["skipped"] = json!("already applied (4326)");
                        Outcome::ok(j)
                    }
                    Err(e) => Outcome::failed(sql_error_json(&e)),
                }
            }
        }, || async move {
            let pos = settled_position(env, target, database).await;
            let evidence = serde_json::to_value(&pos).unwrap_or_default();
            let redo_now = pos.redo_start_lsn.as_deref().and_then(Lsn::parse);
            let finding = match (pos.state.as_deref(), redo_now) {
                (Some("RESTORING"), Some(r)) if r >= last => ProbeFinding::Applied(evidence),
                (Some("RESTORING"), Some(_)) => ProbeFinding::NotApplied(evidence),
                _ => ProbeFinding::Unknown(evidence),
            };
            (position_query(database), finding)
        })
        .await?;
        if !outcome.succeeded() {
            let number = outcome
                .result
                .pointer("/error/number")
                .and_then(|n| n.as_i64());
            if number == Some(4305) {
                return gap_decision(
                    d,
                    step,
                    database,
                    point,
                    &format!("SQL Server refused {} as too recent (4305)", h.file),
                )
                .await;
            }
            if outcome.result["refused"] == json!(true) {
                // A damaged or changed file breaks the chain where it stands.
                return gap_decision(d, step, database, point, &failure_reason(&outcome.result))
                    .await;
            }
            return require(step, &outcome);
        }
        point = last;
    }
    if let Some(gap) = &plan.gap {
        return gap_decision(
            d,
            step,
            database,
            gap.reached,
            &format!(
                "the log from LSN {} to {} is missing (next file {} begins at {})",
                gap.reached, gap.next_first, gap.next_file, gap.next_first
            ),
        )
        .await;
    }
    if !headers.unreadable.is_empty() {
        d.say(&format!(
            "  warning: {} file(s) with unreadable headers were not used: {}",
            headers.unreadable.len(),
            headers.unreadable.join("; ")
        ));
    }
    Ok(())
}

async fn gap_decision(
    d: &mut Dispatcher,
    step: &Step,
    database: &str,
    reached: Lsn,
    what: &str,
) -> Result<(), Halt> {
    let text = format!(
        "gap in the log chain of {database}: {what}; {database} can be recovered at LSN {reached}, losing every transaction after it"
    );
    d.say(&format!("  {text}"));
    if d.approve(&step.id, &text, None, "accept_data_loss").await? {
        d.say(&format!(
            "  the operator accepted data loss: recovery point LSN {reached}"
        ));
        Ok(())
    } else {
        Err(Halt::StepFailed {
            step: step.id.clone(),
            reason: text,
        })
    }
}

/// A session found holding the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBy {
    /// Session id.
    pub session_id: i64,
    /// Login.
    pub login: String,
    /// Program.
    pub program: String,
    /// Current command, if a request runs.
    pub command: String,
}

fn sessions_query(database: &str) -> String {
    let db = quote_nstring(database);
    format!(
        "SELECT s.session_id, s.login_name, s.program_name, ISNULL(r.command, N'') AS command \
FROM sys.dm_exec_sessions AS s LEFT JOIN sys.dm_exec_requests AS r ON r.session_id = s.session_id \
WHERE s.is_user_process = 1 AND s.session_id <> @@SPID AND (s.database_id = DB_ID({db}) \
OR s.session_id IN (SELECT l.request_session_id FROM sys.dm_tran_locks AS l WHERE l.resource_type = 'DATABASE' AND l.resource_database_id = DB_ID({db})));"
    )
}

async fn read_sessions(env: &Env, target: &str, database: &str) -> Result<Vec<HeldBy>, String> {
    let rows = query(env, target, &sessions_query(database)).await?;
    let Some(rs) = rows.first() else {
        return Ok(vec![]);
    };
    let mut out: Vec<HeldBy> = (0..rs.rows.len())
        .map(|i| HeldBy {
            session_id: rs.int(i, "session_id").unwrap_or(0),
            login: rs.text(i, "login_name").unwrap_or_default(),
            program: rs.text(i, "program_name").unwrap_or_default(),
            command: rs.text(i, "command").unwrap_or_default(),
        })
        .collect();
    out.sort_by_key(|s| s.session_id);
    out.dedup_by_key(|s| s.session_id);
    Ok(out)
}

async fn kill_sessions(
    d: &mut Dispatcher,
    env: &Env,
    step: &Step,
    target: &str,
    database: &str,
    timeout: Duration,
    approval: Option<String>,
) -> Result<(), Halt> {
    let sid = Some(step.id.as_str());
    // A RESTORE in progress is waited for, never killed (a killed restore leaves 4319/4347).
    let position = observe_position(d, env, sid, target, database, true).await?;
    if position.restores_running > 0 {
        return Err(Halt::StepFailed {
            step: step.id.clone(),
            reason: format!("a RESTORE is still running on {database} after waiting; stop the restore job, then resume"),
        });
    }
    let sessions: Result<Vec<HeldBy>, String> = d
        .observe(
            sid,
            "sessions",
            &sessions_query(database),
            read_sessions(env, target, database),
        )
        .await?;
    let sessions = sessions.map_err(|e| Halt::StepFailed {
        step: step.id.clone(),
        reason: format!("cannot list the sessions holding {database}: {e}"),
    })?;
    if sessions.is_empty() {
        d.say(&format!("  no session holds {database}"));
    }
    for s in sessions
        .iter()
        .filter(|s| !s.command.to_ascii_uppercase().starts_with("RESTORE"))
    {
        let command = format!("KILL {}", s.session_id);
        let intent = Intent {
            unit: format!("{}/session-{}", step.id, s.session_id),
            action: "kill_sessions".into(),
            effect: Effect::Guarded,
            command: command.clone(),
            target: target.to_string(),
            inputs: vec![],
        };
        d.say(&format!(
            "  end session {} ({} {})",
            s.session_id, s.login, s.program
        ));
        let id = s.session_id;
        let outcome = d
            .act(
                intent,
                approval.clone(),
                || async {
                    match env.sql(target, &command, timeout).await {
                        Ok(r) => Outcome::ok(batch_json(&r)),
                        // 6106: the session is not active any more: the goal holds.
                        Err(e) if e.number() == Some(6106) => Outcome::ok(sql_error_json(&e)),
                        Err(e) => Outcome::failed(sql_error_json(&e)),
                    }
                },
                || async move {
                    match read_sessions(env, target, database).await {
                        Ok(now) if now.iter().any(|x| x.session_id == id) => (
                            sessions_query(database),
                            ProbeFinding::NotApplied(json!({"still_present": id})),
                        ),
                        Ok(_) => (
                            sessions_query(database),
                            ProbeFinding::Applied(json!({"gone": id})),
                        ),
                        Err(e) => (
                            sessions_query(database),
                            ProbeFinding::Unknown(json!({"error": e})),
                        ),
                    }
                },
            )
            .await?;
        require(step, &outcome)?;
    }
    Ok(())
}
