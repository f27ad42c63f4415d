//! The simulated SQL Server Agent: the jobs a scenario leaves running, and how they end
//! (`sp_stop_job`, `KILL` of the job's session, or — for the log-shipping restore job of
//! `restore-job-running` — finishing on its own a few seconds after `serve` starts).
//!
//! A running job has a session (tied to it by `job_id`) and a request. The restore job's
//! `RESTORE LOG` request holds an exclusive lock on the database, so the failover's own
//! restores get 3101 until it ends; an unrelated job (`unrelated-job-running`) holds nothing
//! of `mgc` and never ends by itself. No job applies a file: the simulator only models that it
//! is in the way.

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

/// How a job's run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Its step completed.
    Completed,
    /// Stopped from outside (`sp_stop_job`, `KILL`): a restore it was running is left
    /// half-done, as SQL Server leaves it.
    Stopped,
}

/// Ends the running execution of a job: returns false if it was not running.
pub fn stop_job(
    conn: &mut Connection,
    instance: &str,
    job_id: &str,
    by_session: Option<i64>,
    command: &str,
    ending: Ending,
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
    let restoring: Option<String> = tx
        .query_row(
            "SELECT database_name FROM requests WHERE instance = ?1 AND command LIKE 'RESTORE%' AND session_id IN (SELECT session_id FROM sessions WHERE instance = ?1 AND job_id = ?2)",
            params![instance, job_id],
            |r| r.get(0),
        )
        .optional()?;
    let mut half_done = None;
    if let (Some(db), Ending::Stopped) = (&restoring, ending) {
        // The file the job was restoring is the one that follows the database's redo point.
        half_done = interrupt_restore(&tx, instance, db)?;
    }
    tx.execute("DELETE FROM requests WHERE instance = ?1 AND session_id IN (SELECT session_id FROM sessions WHERE instance = ?1 AND job_id = ?2)", params![instance, job_id])?;
    tx.execute(
        "DELETE FROM sessions WHERE instance = ?1 AND job_id = ?2",
        params![instance, job_id],
    )?;
    let effect = match (&restoring, half_done) {
        (Some(db), Some(file)) => format!("job {name} stopped in the middle of restoring {file}: {db} is left in the middle of that restore"),
        (Some(_), None) => format!("job {name} stopped; its RESTORE LOG request ended without applying a file"),
        (None, _) => format!("job {name} stopped"),
    };
    state::record(&tx, instance, by_session, command, &effect)?;
    tx.commit()?;
    Ok(true)
}

/// Marks `db` as in the middle of restoring the log backup in the copy destination that follows
/// its redo point; returns that file's name.
fn interrupt_restore(
    tx: &rusqlite::Transaction<'_>,
    instance: &str,
    db: &str,
) -> rusqlite::Result<Option<String>> {
    let next: Option<(String, i64, i64)> = tx
        .query_row(
            "SELECT f.name, f.first_lsn, f.last_lsn FROM backup_files f, databases d
             WHERE d.instance = ?1 AND d.name = ?2 AND f.in_dest = 1
               AND f.first_lsn <= COALESCE(d.redo_start_lsn, d.standby_redo_lsn)
               AND f.last_lsn > COALESCE(d.redo_start_lsn, d.standby_redo_lsn)
             ORDER BY f.last_lsn LIMIT 1",
            params![instance, db],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((file, first, last)) = next else {
        return Ok(None);
    };
    let mark = crate::sql::restore::Interrupted::Log {
        file: file.clone(),
        first_lsn: first.to_string(),
        last_lsn: last.to_string(),
    };
    tx.execute(
        "UPDATE databases SET interrupted_restore = ?3 WHERE instance = ?1 AND name = ?2",
        params![
            instance,
            db,
            serde_json::to_string(&mark).expect("a mark serialises")
        ],
    )?;
    Ok(Some(file))
}

/// Called by `serve` at start and then periodically: sets the deadline of the running restore
/// job the first time, and ends it once the deadline has passed.
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
            "SELECT a.instance, a.job_id FROM sysjobactivity a JOIN sysjobs j ON j.instance = a.instance AND j.job_id = a.job_id
             WHERE a.start_execution_date IS NOT NULL AND a.stop_execution_date IS NULL AND j.name LIKE 'LSRestore%'",
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
            Ending::Completed,
        )?;
    }
    conn.execute("DELETE FROM meta WHERE key = ?1", [RUNS_MS])?;
    Ok(())
}
