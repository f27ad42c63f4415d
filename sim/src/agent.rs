//! The simulated SQL Server Agent: the log-shipping restore job that the
//! `restore-job-running` scenario leaves running, and how it ends (`sp_stop_job`, `KILL` of
//! its session, or finishing on its own a few seconds after `serve` starts).
//!
//! The job's session holds an exclusive lock on the database through its `RESTORE LOG`
//! request, so the failover's own restores get 3101 until it ends. The job never applies a
//! file itself: the simulator only models that it is in the way.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

use crate::state;

/// Meta key: how long the running job keeps running once `serve` has started, in ms.
pub const RUNS_MS: &str = "agent_job_runs_ms";
/// Meta key: when (Unix ms) the running job finishes on its own.
pub const DEADLINE: &str = "agent_job_deadline_ms";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Ends the running execution of a job: returns false if it was not running.
pub fn stop_job(
    conn: &mut Connection,
    instance: &str,
    job_id: &str,
    by_session: Option<i64>,
    command: &str,
) -> rusqlite::Result<bool> {
    let tx = state::write_tx(conn)?;
    let running: Option<(i64, String)> = tx
        .query_row(
            "SELECT a.rowid, COALESCE(j.name, a.job_id) FROM sysjobactivity a LEFT JOIN sysjobs j ON j.instance = a.instance AND j.job_id = a.job_id
             WHERE a.instance = ?1 AND a.job_id = ?2 AND a.start_execution_date IS NOT NULL AND a.stop_execution_date IS NULL",
            params![instance, job_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((rowid, name)) = running else {
        return Ok(false);
    };
    tx.execute(
        "UPDATE sysjobactivity SET stop_execution_date = ?2 WHERE rowid = ?1",
        params![rowid, state::now_sql()],
    )?;
    tx.execute("DELETE FROM requests WHERE instance = ?1 AND session_id IN (SELECT session_id FROM sessions WHERE instance = ?1 AND kind = 'agent')", [instance])?;
    tx.execute(
        "DELETE FROM sessions WHERE instance = ?1 AND kind = 'agent'",
        [instance],
    )?;
    state::record(
        &tx,
        instance,
        by_session,
        command,
        &format!("job {name} stopped; its RESTORE LOG request ended without applying a file"),
    )?;
    tx.commit()?;
    Ok(true)
}

/// Called by `serve` at start and then periodically: sets the deadline of a running job the
/// first time, and ends the job once the deadline has passed.
pub fn tick(conn: &mut Connection) -> rusqlite::Result<()> {
    let Some(runs) = state::meta(conn, RUNS_MS)? else {
        return Ok(());
    };
    let deadline = match state::meta(conn, DEADLINE)? {
        Some(d) => d.parse::<i64>().unwrap_or(0),
        None => {
            let d = now_ms() + runs.parse::<i64>().unwrap_or(0);
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![DEADLINE, d.to_string()],
            )?;
            d
        }
    };
    if now_ms() < deadline {
        return Ok(());
    }
    let running: Vec<(String, String)> = {
        let mut stmt = conn.prepare(
            "SELECT instance, job_id FROM sysjobactivity WHERE start_execution_date IS NOT NULL AND stop_execution_date IS NULL",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (instance, job) in running {
        stop_job(
            conn,
            &instance,
            &job,
            None,
            "SQL Server Agent: job step completed",
        )?;
    }
    conn.execute("DELETE FROM meta WHERE key = ?1", [RUNS_MS])?;
    Ok(())
}
