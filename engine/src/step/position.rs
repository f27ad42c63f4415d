//! Where the database stands: its state, whether it is in STANDBY, its recovery model and the
//! point the next roll-forward starts from — read from the catalog, and for a STANDBY database
//! (whose catalog shows no `redo_start_lsn`) from msdb's restore history.
//!
//! A STANDBY database is ONLINE and read-only between two restores: it is never taken for
//! recovered. Everything read here is recorded as an observation before a decision uses it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::env::Env;
use super::record::query;
use crate::dispatcher::{Dispatcher, Halt, ProbeFinding};
use crate::lsn::Lsn;
use crate::sql::quote_nstring;

/// The database's position (the catalog's view).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DbPosition {
    /// `state_desc`, or None when the database does not exist.
    pub state: Option<String>,
    /// `is_in_standby`: ONLINE read-only between `RESTORE … WITH STANDBY`s.
    #[serde(default)]
    pub is_in_standby: bool,
    /// `recovery_model_desc`.
    #[serde(default)]
    pub recovery_model: Option<String>,
    /// `redo_start_lsn` (decimal), None unless RESTORING.
    pub redo_start_lsn: Option<String>,
    /// `redo_start_fork_guid`: the recovery fork the next log must start on.
    #[serde(default)]
    pub redo_start_fork_guid: Option<String>,
    /// RESTORE requests running on the database.
    pub restores_running: i64,
    /// The query's error, if it failed.
    pub error: Option<String>,
}

impl DbPosition {
    /// RESTORING, or in STANDBY: a log can still be applied.
    pub fn rolls_forward(&self) -> bool {
        match self.state.as_deref() {
            Some("RESTORING") => true,
            Some("ONLINE") => self.is_in_standby,
            _ => false,
        }
    }

    /// ONLINE and not in STANDBY: recovered, no further log can be applied.
    pub fn recovered(&self) -> bool {
        self.state.as_deref() == Some("ONLINE") && !self.is_in_standby
    }

    /// ` (the query's error)` when reading the position failed, else nothing: for messages.
    pub fn error_note(&self) -> String {
        self.error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    }

    /// `RESTORING`, `ONLINE (STANDBY)`, …, or `missing`.
    pub fn describe(&self) -> String {
        match (self.state.as_deref(), self.is_in_standby) {
            (Some(s), true) => format!("{s} (STANDBY)"),
            (Some(s), false) => s.to_string(),
            (None, _) => "missing".into(),
        }
    }
}

/// The position query (the restore requests are counted so that a probe never races one).
pub fn position_query(database: &str) -> String {
    let name = quote_nstring(database);
    format!(
        "SELECT d.state_desc, d.is_in_standby, d.recovery_model_desc, mf.redo_start_lsn, mf.redo_start_fork_guid, \
(SELECT COUNT(*) FROM sys.dm_exec_requests AS r WHERE r.database_id = d.database_id AND r.command LIKE 'RESTORE%') AS restores_running \
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
                is_in_standby: rs.int(0, "is_in_standby") == Some(1),
                recovery_model: rs.text(0, "recovery_model_desc"),
                redo_start_lsn: rs.text(0, "redo_start_lsn"),
                redo_start_fork_guid: rs.text(0, "redo_start_fork_guid"),
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
pub async fn settled_position(env: &Env, target: &str, database: &str) -> DbPosition {
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
pub async fn observe_position(
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

/// The newest restore msdb records for the database: what was restored last, from which backup
/// family and recovery fork, and when that backup finished.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LastRestore {
    /// `backupset.last_lsn` (decimal).
    pub last_lsn: Option<String>,
    /// `backupset.family_guid`.
    pub family_guid: Option<String>,
    /// `backupset.last_recovery_fork_guid`.
    pub recovery_fork_guid: Option<String>,
    /// `backupset.backup_finish_date`.
    pub backup_finish_date: Option<String>,
    /// `backupmediafamily.physical_device_name`: the file restored.
    pub file: Option<String>,
    /// The query's error, if it failed.
    pub error: Option<String>,
}

fn last_restore_query(database: &str) -> String {
    format!(
        "SELECT TOP (1) bs.last_lsn, bs.family_guid, bs.last_recovery_fork_guid, bs.backup_finish_date, bmf.physical_device_name \
FROM msdb.dbo.restorehistory AS rh JOIN msdb.dbo.backupset AS bs ON bs.backup_set_id = rh.backup_set_id \
LEFT JOIN msdb.dbo.backupmediafamily AS bmf ON bmf.media_set_id = bs.media_set_id \
WHERE rh.destination_database_name = {} ORDER BY rh.restore_history_id DESC;",
        quote_nstring(database)
    )
}

/// Records the newest restore msdb knows of as an observation.
pub async fn observe_last_restore(
    d: &mut Dispatcher,
    env: &Env,
    step: &str,
    target: &str,
    database: &str,
) -> Result<LastRestore, Halt> {
    let q = last_restore_query(database);
    d.observe(Some(step), "last_restore", &q, async {
        match query(env, target, &q).await {
            Ok(rows) => match rows.first().filter(|rs| !rs.rows.is_empty()) {
                Some(rs) => LastRestore {
                    last_lsn: rs.text(0, "last_lsn"),
                    family_guid: rs.text(0, "family_guid"),
                    recovery_fork_guid: rs.text(0, "last_recovery_fork_guid"),
                    backup_finish_date: rs.text(0, "backup_finish_date"),
                    file: rs.text(0, "physical_device_name"),
                    error: None,
                },
                None => LastRestore::default(),
            },
            Err(e) => LastRestore {
                error: Some(e),
                ..LastRestore::default()
            },
        }
    })
    .await
}

/// Where the next roll-forward starts, and on which recovery fork: the catalog's
/// `redo_start_lsn` while RESTORING, the last restored LSN from msdb while in STANDBY.
pub fn restore_point(pos: &DbPosition, last: &LastRestore) -> Option<(Lsn, Option<String>)> {
    if pos.state.as_deref() == Some("RESTORING") {
        let lsn = pos.redo_start_lsn.as_deref().and_then(Lsn::parse)?;
        return Some((lsn, pos.redo_start_fork_guid.clone()));
    }
    if pos.rolls_forward() {
        let lsn = last.last_lsn.as_deref().and_then(Lsn::parse)?;
        return Some((lsn, last.recovery_fork_guid.clone()));
    }
    None
}

/// The recovery's probe: ONLINE and out of STANDBY is recovered; RESTORING or STANDBY is not.
pub async fn recovery_probe(env: &Env, target: &str, database: &str) -> (String, ProbeFinding) {
    let pos = settled_position(env, target, database).await;
    let evidence = serde_json::to_value(&pos).unwrap_or(serde_json::Value::Null);
    let finding = if pos.recovered() {
        ProbeFinding::Applied(evidence)
    } else if pos.rolls_forward() {
        ProbeFinding::NotApplied(evidence)
    } else {
        ProbeFinding::Unknown(evidence)
    };
    (position_query(database), finding)
}
