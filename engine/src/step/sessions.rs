//! `kill_sessions`: list the sessions holding the database (its readers when it is in
//! STANDBY, or whoever holds a lock on it), record the list, then end each with `KILL` — never a
//! RESTORE, which is waited for (a killed restore leaves the database in the middle of it).

use std::time::Duration;

use runledger_verifier::event::{ActionKind, Effect};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::attempt::require;
use super::env::Env;
use super::position::observe_position;
use super::record::{batch_json, query, sql_error_json};
use crate::dispatcher::{Dispatcher, Halt, Intent, Outcome, ProbeFinding};
use crate::runbook::Step;
use crate::sql::quote_nstring;

/// A session found holding the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBy {
    /// Session id.
    pub session_id: i64,
    /// The login the session runs as.
    pub login: String,
    /// The program name the client gave when it connected.
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

/// Ends the sessions holding `database` on `target`.
pub async fn run(
    d: &mut Dispatcher,
    env: &Env,
    step: &Step,
    target: &str,
    database: &str,
    timeout: Duration,
    approval: Option<String>,
) -> Result<(), Halt> {
    let sid = Some(step.id.as_str());
    // A RESTORE in progress is waited for, never killed.
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
        let command =
            crate::text::kill().fill(&[(crate::text::SESSION_ID, &s.session_id.to_string())]);
        let intent = Intent {
            unit: format!("{}/session-{}", step.id, s.session_id),
            action: ActionKind::KillSessions,
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
