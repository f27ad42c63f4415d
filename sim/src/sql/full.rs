//! Full database backups and their restore, as the failback uses them: `BACKUP DATABASE … TO
//! DISK … WITH CHECKSUM` and `RESTORE DATABASE … FROM DISK … WITH REPLACE, RECOVERY |
//! NORECOVERY`, with SQL Server's rules: a database that is not ONLINE cannot be backed up
//! (927), a folder that cannot be reached or written is 3201, a restore needs exclusive access
//! (3101), cannot overwrite a mirrored database (3104) nor, without `REPLACE`, a database of
//! another backup family (3154) or one whose log tail was not backed up (3159); a backup set
//! of a log is not a database backup (3135). Each is followed by 3013, as on SQL Server.
//!
//! The backup file carries what the simulator models of the database's content (its tables and
//! its users), so that a restore on another instance brings them there, and a `backupset` and
//! `backupmediafamily` row is written where the backup was taken and where it was restored,
//! with a `restorehistory` row for the restore.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::error::{SqlError, SqlMessage};
use super::restore::{
    check_checksum_option, check_payload, exclusive, insert_backupset, local, media_error,
    next_msdb_id, open_error,
};
use super::session::{Output, Session};
use crate::backup_file::{self, BackupHeader};
use crate::lsn::Lsn;
use crate::state;

/// A table of the database: id, name, schema id, type, type description, creation date.
type Table = (i64, String, i64, String, String, String);
/// A database user: id, name, SID, type, type description, default schema.
type User = (i64, String, Vec<u8>, String, String, Option<String>);

/// What a full backup holds of the database: its tables and its users.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Content {
    objects: Vec<Table>,
    principals: Vec<User>,
}

/// How `RESTORE DATABASE … FROM DISK` was asked to restore.
#[derive(Debug, Clone, Copy)]
pub struct RestoreFull {
    /// `WITH REPLACE`.
    pub replace: bool,
    /// `WITH RECOVERY` (the default) rather than `NORECOVERY`.
    pub recovery: bool,
    /// `WITH CHECKSUM`.
    pub checksum: bool,
}

struct DbRow {
    name: String,
    state: String,
    standby: bool,
    family: Option<String>,
    mirrored: bool,
    database_id: i64,
}

fn db_row(s: &Session, db: &str) -> Result<Option<DbRow>, SqlError> {
    Ok(s.conn
        .query_row(
            "SELECT name, state_desc, is_in_standby, family_guid, mirroring_guid IS NOT NULL, database_id FROM main.databases WHERE instance = ?1 AND name = ?2",
            params![s.instance, db],
            |r| {
                Ok(DbRow {
                    name: r.get(0)?,
                    state: r.get(1)?,
                    standby: r.get::<_, i64>(2)? != 0,
                    family: r.get(3)?,
                    mirrored: r.get(4)?,
                    database_id: r.get(5)?,
                })
            },
        )
        .optional()?)
}

/// The newest LSN the instance's history knows for the database (its last restore or backup).
fn current_lsn(s: &Session, db: &str) -> Result<Lsn, SqlError> {
    let last: Option<i64> = s.conn.query_row(
        "SELECT MAX(last_lsn) FROM main.backupset WHERE instance = ?1 AND database_name = ?2",
        params![s.instance, db],
        |r| r.get(0),
    )?;
    Ok(Lsn(last.unwrap_or(0).max(0) as u128).max(Lsn::from_parts(41, 1, 1)))
}

/// `BACKUP DATABASE db TO DISK = path WITH [CHECKSUM] …`: writes one full backup set.
pub fn backup_database(
    s: &mut Session,
    db: &str,
    path: &str,
    checksum: bool,
    _init: bool,
    text: &str,
    out: &mut Vec<Output>,
) -> Result<(), SqlError> {
    const STMT: &str = "BACKUP DATABASE";
    let d = db_row(s, db)?.ok_or_else(|| SqlError::no_database(db).terminating(STMT))?;
    if d.state != "ONLINE" || d.standby {
        return Err(SqlError::restoring(&d.name).terminating(STMT));
    }
    let file = local(s, path, STMT)?;
    let content = Content {
        objects: rows(
            s,
            "SELECT object_id, name, schema_id, type, type_desc, create_date FROM main.objects WHERE instance = ?1 AND database_name = ?2 ORDER BY object_id",
            &d.name,
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )?,
        principals: rows(
            s,
            "SELECT principal_id, name, sid, type, type_desc, default_schema_name FROM main.database_principals WHERE instance = ?1 AND database_name = ?2 ORDER BY principal_id",
            &d.name,
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )?,
    };
    let payload = serde_json::to_vec(&content).map_err(SqlError::internal)?;
    let first = current_lsn(s, &d.name)?;
    let last = Lsn(first.0 + 2 * 100_000);
    let started = state::now_sql();
    let family = d.family.clone().unwrap_or_else(state::guid);
    let fork = state::guid();
    s.pace()?;
    let header = BackupHeader {
        database_name: d.name.clone(),
        server_name: s.server_name.clone(),
        machine_name: s.server_name.clone(),
        backup_type: 1,
        first_lsn: first.to_string(),
        last_lsn: last.to_string(),
        checkpoint_lsn: Lsn(first.0 + 100_000).to_string(),
        database_backup_lsn: first.to_string(),
        backup_start_date: started.clone(),
        backup_finish_date: state::now_sql(),
        family_guid: family.clone(),
        first_recovery_fork_id: fork.clone(),
        recovery_fork_id: fork.clone(),
        backup_size: payload.len() as i64 + 2048,
        has_backup_checksums: checksum,
    };
    backup_file::write(&file, &header, &payload)
        .map_err(|e| open_error(path, &e).terminating(STMT))?;
    let instance = s.instance.clone();
    let spid = s.spid;
    let tx = state::write_tx(&mut s.conn)?;
    insert_backupset(&tx, &instance, "D", &header, path)?;
    state::record(
        &tx,
        &instance,
        Some(spid),
        text,
        &format!(
            "full backup of {} to {path} (LSN {first} to {last}{})",
            d.name,
            if checksum { ", WITH CHECKSUM" } else { "" }
        ),
    )?;
    tx.commit()?;
    out.push(Output::Message(SqlMessage::info(
        4035,
        format!(
            "Processed {} pages for database '{}', file '{}' on file 1.",
            content.objects.len() * 8 + 328,
            d.name,
            d.name
        ),
    )));
    out.push(Output::Message(SqlMessage::info(
        3014,
        "BACKUP DATABASE successfully processed 352 pages in 0.120 seconds (22.916 MB/sec).",
    )));
    Ok(())
}

/// `RESTORE DATABASE db FROM DISK = path WITH [REPLACE,] RECOVERY | NORECOVERY [, CHECKSUM]`.
pub fn restore_database(
    s: &mut Session,
    db: &str,
    path: &str,
    how: &RestoreFull,
    text: &str,
    out: &mut Vec<Output>,
) -> Result<(), SqlError> {
    const STMT: &str = "RESTORE DATABASE";
    let file = local(s, path, STMT)?;
    let whole = backup_file::read_whole(&file).map_err(|e| media_error(path, e, STMT))?;
    if whole.header.backup_type != 1 {
        return Err(SqlError::new(
            3135,
            16,
            2,
            format!("The backup set in file '{path}' was created by BACKUP LOG and cannot be used for this restore operation."),
        )
        .terminating(STMT));
    }
    check_checksum_option(&whole.header, how.checksum, STMT)?;
    check_payload(&whole, path, db, STMT)?;
    let content: Content = serde_json::from_slice(&whole.payload).unwrap_or_default();
    let h = whole.header;
    let existing = db_row(s, db)?;
    if let Some(d) = &existing {
        if d.mirrored {
            return Err(SqlError::new(
                3104,
                16,
                1,
                format!("RESTORE cannot operate on database '{}' because it is configured for database mirroring or has joined an availability group. If you intend to restore the database, use ALTER DATABASE to remove mirroring or to remove the database from its availability group.", d.name),
            )
            .terminating(STMT));
        }
        exclusive(s, &d.name, STMT)?;
        if !how.replace && d.family.as_deref() != Some(h.family_guid.as_str()) {
            return Err(SqlError::new(
                3154,
                16,
                4,
                format!(
                    "The backup set holds a backup of a database other than the existing '{}' database.",
                    d.name
                ),
            )
            .terminating(STMT));
        }
        if !how.replace && d.state == "ONLINE" {
            return Err(SqlError::new(
                3159,
                16,
                1,
                format!("The tail of the log for the database \"{}\" has not been backed up. Use BACKUP LOG WITH NORECOVERY to backup the log if it contains work you do not want to lose. Use the WITH REPLACE or WITH STOPAT clause of the RESTORE statement to just overwrite the contents of the log.", d.name),
            )
            .terminating(STMT));
        }
    }
    s.pace()?;
    let instance = s.instance.clone();
    let spid = s.spid;
    let login = s.login.clone();
    let name = existing
        .as_ref()
        .map_or_else(|| db.to_string(), |d| d.name.clone());
    let tx = state::write_tx(&mut s.conn)?;
    let last = h.last();
    let (st, redo, redo_fork) = if how.recovery {
        ("ONLINE", None, None)
    } else {
        ("RESTORING", last.to_i64(), Some(h.recovery_fork_id.clone()))
    };
    match &existing {
        Some(d) => tx.execute(
            "UPDATE main.databases SET state_desc = ?3, is_in_standby = 0, user_access_desc = 'MULTI_USER', recovery_model_desc = 'FULL',
               redo_start_lsn = ?4, redo_start_fork_guid = ?5, family_guid = ?6, standby_redo_lsn = NULL, standby_fork_guid = NULL,
               interrupted_restore = NULL, mirroring_guid = NULL, mirroring_role_desc = NULL, mirroring_state_desc = NULL,
               mirroring_partner_name = NULL, mirroring_partner_instance = NULL, mirroring_witness_name = NULL,
               mirroring_safety_level_desc = NULL, mirroring_synchronized_at_ms = NULL
             WHERE instance = ?1 AND database_id = ?2",
            params![instance, d.database_id, st, redo, redo_fork, h.family_guid],
        )?,
        None => tx.execute(
            "INSERT INTO main.databases (instance, database_id, name, state_desc, recovery_model_desc, create_date, redo_start_lsn, redo_start_fork_guid, family_guid)
             VALUES (?1, (SELECT COALESCE(MAX(database_id), 4) + 1 FROM main.databases WHERE instance = ?1), ?2, ?3, 'FULL', ?4, ?5, ?6, ?7)",
            params![instance, name, st, state::now_sql(), redo, redo_fork, h.family_guid],
        )?,
    };
    tx.execute(
        "DELETE FROM main.objects WHERE instance = ?1 AND database_name = ?2",
        params![instance, name],
    )?;
    tx.execute(
        "DELETE FROM main.database_principals WHERE instance = ?1 AND database_name = ?2",
        params![instance, name],
    )?;
    for (id, oname, schema, ty, desc, created) in &content.objects {
        tx.execute(
            "INSERT INTO main.objects (instance, database_name, object_id, name, schema_id, type, type_desc, create_date) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![instance, name, id, oname, schema, ty, desc, created],
        )?;
    }
    for (id, pname, sid, ty, desc, schema) in &content.principals {
        tx.execute(
            "INSERT INTO main.database_principals (instance, database_name, principal_id, name, sid, type, type_desc, default_schema_name) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![instance, name, id, pname, sid, ty, desc, schema],
        )?;
    }
    let set_id = insert_backupset(&tx, &instance, "D", &h, path)?;
    let history_id = next_msdb_id(&tx, &instance, "restorehistory", "restore_history_id")?;
    tx.execute(
        "INSERT INTO main.restorehistory (instance, restore_history_id, restore_date, destination_database_name, user_name,
           backup_set_id, restore_type, replace, recovery, restart, stop_at, device_count, stop_at_mark_name, stop_before)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'D', ?7, ?8, 0, NULL, 1, NULL, 0)",
        params![instance, history_id, state::now_sql(), name, login, set_id, how.replace as i64, how.recovery as i64],
    )?;
    let effect = format!(
        "restored the full backup {path} of {} (written by {}, LSN {} to {}) over {name}{}; {name} now {st}",
        h.database_name,
        h.server_name,
        h.first(),
        last,
        if how.replace { " WITH REPLACE" } else { "" },
    );
    state::record(&tx, &instance, Some(spid), text, &effect)?;
    tx.commit()?;
    out.push(Output::Message(SqlMessage::info(
        4035,
        format!(
            "Processed {} pages for database '{name}', file '{name}' on file 1.",
            content.objects.len() * 8 + 328
        ),
    )));
    out.push(Output::Message(SqlMessage::info(
        3014,
        "RESTORE DATABASE successfully processed 352 pages in 0.150 seconds (18.333 MB/sec).",
    )));
    Ok(())
}

fn rows<T>(
    s: &Session,
    sql: &str,
    db: &str,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, SqlError> {
    let mut stmt = s.conn.prepare(sql)?;
    let r = stmt.query_map(params![s.instance, db], f)?;
    Ok(r.collect::<Result<_, _>>()?)
}
