//! RESTORE HEADERONLY / VERIFYONLY / LOG / DATABASE … WITH RECOVERY, with SQL Server's rules
//! (domain.md §4): the LSN chain (4305 gap, 4326 already applied), no log restore once the
//! database is recovered (3117), exclusive access (3101), media that changed since it was
//! written (3241, 3183, 3203), and a `backupset`/`restorehistory` row per log restored.
//!
//! A restore is claimed (a `dm_exec_requests` row) in one transaction, takes `--pace`, then
//! re-checks and applies in a second transaction: a kill in between loses the claim only,
//! never half a restore. (SQL Server would leave an interrupted restore, 4319; see
//! docs/drill.md.)

use std::io;
use std::path::Path;
use std::time::Instant;

use rusqlite::{params, OptionalExtension};

use super::error::{SqlError, SqlMessage};
use super::select::ResultSet;
use super::session::{Output, Session};
use crate::backup_file::{self, BackupFileError, BackupHeader};
use crate::lsn::Lsn;
use crate::state;
use crate::tds::token::{Column, SqlType, Value};

fn open_error(path: &str, e: &io::Error) -> SqlError {
    let parent_missing = Path::new(path)
        .parent()
        .is_some_and(|p| !p.as_os_str().is_empty() && !p.exists());
    let os = if parent_missing {
        "3(The system cannot find the path specified.)"
    } else if e.kind() == io::ErrorKind::PermissionDenied {
        "5(Access is denied.)"
    } else {
        "2(The system cannot find the file specified.)"
    };
    SqlError::new(
        3201,
        16,
        2,
        format!("Cannot open backup device '{path}'. Operating system error {os}."),
    )
}

fn media_error(path: &str, db: &str, e: BackupFileError, statement: &str) -> SqlError {
    let err = match e {
        BackupFileError::Open(io) => open_error(path, &io),
        BackupFileError::Malformed => SqlError::new(
            3241,
            16,
            0,
            format!("The media family on device '{path}' is incorrectly formed. SQL Server cannot process this media family."),
        ),
        BackupFileError::Truncated => SqlError::new(3203, 16, 1, format!("Read on \"{path}\" failed: 38(Reached the end of the file.)")),
        BackupFileError::Damaged => SqlError::new(
            3183,
            16,
            2,
            format!("RESTORE detected an error on page (1:{}) in database \"{db}\" as read from the backup set.", 1000 + path.len()),
        ),
    };
    err.terminating(statement)
}

/// `RESTORE HEADERONLY`: one row describing the backup set in the file.
pub fn header_only(path: &str) -> Result<ResultSet, SqlError> {
    let h = backup_file::read_header(Path::new(path))
        .map_err(|e| media_error(path, "", e, "RESTORE HEADERONLY"))?;
    let text = |s: &str| Value::Text(s.to_string());
    let int = |n: i128| Value::Int(n);
    let cols: Vec<(&str, SqlType, Value)> = vec![
        ("BackupName", SqlType::NVarChar, Value::Null),
        ("BackupDescription", SqlType::NVarChar, Value::Null),
        ("BackupType", SqlType::SmallInt, int(h.backup_type as i128)),
        ("ExpirationDate", SqlType::DateTime, Value::Null),
        ("Compressed", SqlType::Bit, int(0)),
        ("Position", SqlType::SmallInt, int(1)),
        ("DeviceType", SqlType::TinyInt, int(2)),
        (
            "UserName",
            SqlType::NVarChar,
            text("NT SERVICE\\SQLSERVERAGENT"),
        ),
        ("ServerName", SqlType::NVarChar, text(&h.server_name)),
        ("DatabaseName", SqlType::NVarChar, text(&h.database_name)),
        ("DatabaseVersion", SqlType::Int, int(706)),
        (
            "DatabaseCreationDate",
            SqlType::DateTime,
            text("2014-03-02 09:12:44.000"),
        ),
        ("BackupSize", SqlType::Numeric25, int(h.backup_size as i128)),
        ("FirstLSN", SqlType::Numeric25, int(h.first().0 as i128)),
        ("LastLSN", SqlType::Numeric25, int(h.last().0 as i128)),
        (
            "CheckpointLSN",
            SqlType::Numeric25,
            int(lsn(&h.checkpoint_lsn)),
        ),
        (
            "DatabaseBackupLSN",
            SqlType::Numeric25,
            int(lsn(&h.database_backup_lsn)),
        ),
        (
            "BackupStartDate",
            SqlType::DateTime,
            text(&h.backup_start_date),
        ),
        (
            "BackupFinishDate",
            SqlType::DateTime,
            text(&h.backup_finish_date),
        ),
        ("SortOrder", SqlType::SmallInt, int(52)),
        ("CodePage", SqlType::SmallInt, int(0)),
        ("UnicodeLocaleId", SqlType::Int, int(1033)),
        ("UnicodeComparisonStyle", SqlType::Int, int(196609)),
        ("CompatibilityLevel", SqlType::TinyInt, int(110)),
        ("SoftwareVendorId", SqlType::Int, int(4608)),
        ("SoftwareVersionMajor", SqlType::Int, int(11)),
        ("SoftwareVersionMinor", SqlType::Int, int(0)),
        ("SoftwareVersionBuild", SqlType::Int, int(7001)),
        ("MachineName", SqlType::NVarChar, text(&h.machine_name)),
        ("Flags", SqlType::Int, int(512)),
        ("BindingID", SqlType::UniqueIdentifier, text(&h.family_guid)),
        (
            "RecoveryForkID",
            SqlType::UniqueIdentifier,
            text(&h.recovery_fork_id),
        ),
        (
            "Collation",
            SqlType::NVarChar,
            text("SQL_Latin1_General_CP1_CI_AS"),
        ),
        (
            "FamilyGUID",
            SqlType::UniqueIdentifier,
            text(&h.family_guid),
        ),
        ("HasBulkLoggedData", SqlType::Bit, int(0)),
        ("IsSnapshot", SqlType::Bit, int(0)),
        ("IsReadOnly", SqlType::Bit, int(0)),
        ("IsSingleUser", SqlType::Bit, int(0)),
        ("HasBackupChecksums", SqlType::Bit, int(1)),
        ("IsDamaged", SqlType::Bit, int(0)),
        ("BeginsLogChain", SqlType::Bit, int(0)),
        ("HasIncompleteMetaData", SqlType::Bit, int(0)),
        ("IsForceOffline", SqlType::Bit, int(0)),
        ("IsCopyOnly", SqlType::Bit, int(0)),
        (
            "FirstRecoveryForkID",
            SqlType::UniqueIdentifier,
            text(&h.first_recovery_fork_id),
        ),
        ("ForkPointLSN", SqlType::Numeric25, Value::Null),
        ("RecoveryModel", SqlType::NVarChar, text("FULL")),
        ("DifferentialBaseLSN", SqlType::Numeric25, Value::Null),
        (
            "DifferentialBaseGUID",
            SqlType::UniqueIdentifier,
            Value::Null,
        ),
        (
            "BackupTypeDescription",
            SqlType::NVarChar,
            text("Transaction Log"),
        ),
        ("BackupSetGUID", SqlType::UniqueIdentifier, Value::Null),
        (
            "CompressedBackupSize",
            SqlType::BigInt,
            int(h.backup_size as i128),
        ),
        ("Containment", SqlType::TinyInt, int(0)),
    ];
    let columns = cols
        .iter()
        .map(|(n, t, _)| Column {
            name: n.to_string(),
            ty: *t,
        })
        .collect();
    let row = cols.into_iter().map(|(_, _, v)| v).collect();
    Ok(ResultSet {
        columns,
        rows: vec![row],
    })
}

fn lsn(s: &str) -> i128 {
    Lsn::parse(s).map_or(0, |l| l.0 as i128)
}

/// `RESTORE VERIFYONLY`: the whole file reads back and its checksums hold.
pub fn verify_only(path: &str) -> Result<(), SqlError> {
    backup_file::read_verified(Path::new(path))
        .map(|_| ())
        .map_err(|e| media_error(path, "", e, "VERIFY DATABASE"))
}

struct Db {
    name: String,
    state: String,
    redo: Option<i64>,
    fork: Option<String>,
    family: Option<String>,
}

fn database(s: &Session, db: &str) -> Result<Option<Db>, SqlError> {
    Ok(s.conn
        .query_row(
            "SELECT name, state_desc, redo_start_lsn, redo_start_fork_guid, family_guid FROM main.databases
             WHERE instance = ?1 AND name = ?2",
            params![s.instance, db],
            |r| Ok(Db { name: r.get(0)?, state: r.get(1)?, redo: r.get(2)?, fork: r.get(3)?, family: r.get(4)? }),
        )
        .optional()?)
}

/// 3101 when another session uses the database or holds a restore request on it.
fn exclusive(s: &Session, db: &str, statement: &str) -> Result<(), SqlError> {
    let users: i64 = s.conn.query_row(
        "SELECT (SELECT COUNT(*) FROM main.sessions WHERE instance = ?1 AND session_id <> ?2 AND database_name = ?3)
              + (SELECT COUNT(*) FROM main.requests WHERE instance = ?1 AND session_id <> ?2 AND database_name = ?3)",
        params![s.instance, s.spid, db],
        |r| r.get(0),
    )?;
    if users > 0 {
        return Err(SqlError::new(
            3101,
            16,
            1,
            "Exclusive access could not be obtained because the database is in use.",
        )
        .terminating(statement));
    }
    Ok(())
}

/// The rules a log backup must pass against the database as it is now.
fn check_log(s: &Session, db: &str, h: &BackupHeader, statement: &str) -> Result<Db, SqlError> {
    let term = |e: SqlError| e.terminating(statement);
    let d = database(s, db)?.ok_or_else(|| term(SqlError::no_database(db)))?;
    if d.state != "RESTORING" {
        return Err(term(SqlError::new(3117, 16, 4, "The log or differential backup cannot be restored because no files are ready to rollforward.")));
    }
    if !h.database_name.eq_ignore_ascii_case(&d.name)
        || d.family
            .as_deref()
            .is_some_and(|f| !f.eq_ignore_ascii_case(&h.family_guid))
    {
        return Err(term(SqlError::new(3154, 16, 4, format!("The backup set holds a backup of a database other than the existing '{}' database.", d.name))));
    }
    if d.fork
        .as_deref()
        .is_some_and(|f| !f.eq_ignore_ascii_case(&h.first_recovery_fork_id))
    {
        return Err(term(SqlError::new(
            4330,
            16,
            1,
            "This backup set cannot be applied because it is on a recovery path that is inconsistent with the database. The recovery path is the sequence of data and log backups that have brought the database to a particular recovery point. Find a compatible backup to restore, or restore the rest of the database to match a recovery point within this backup set, which will restore the database to a different point in time.",
        )));
    }
    let redo = Lsn(d.redo.unwrap_or(0).max(0) as u128);
    if h.first() > redo {
        return Err(term(SqlError::new(4305, 16, 1, format!(
            "The log in this backup set begins at LSN {}, which is too recent to apply to the database. An earlier log backup that includes LSN {redo} can be restored.", h.first()))));
    }
    if h.last() <= redo {
        return Err(term(SqlError::new(4326, 16, 1, format!(
            "The log in this backup set terminates at LSN {}, which is too early to apply to the database. A more recent log backup that includes LSN {redo} can be restored.", h.last()))));
    }
    Ok(d)
}

/// `RESTORE LOG db FROM DISK = path WITH [NO]RECOVERY`.
pub fn restore_log(
    s: &mut Session,
    db: &str,
    path: &str,
    recovery: bool,
    text: &str,
    out: &mut Vec<Output>,
) -> Result<(), SqlError> {
    const STMT: &str = "RESTORE LOG";
    let started = Instant::now();
    let d = database(s, db)?.ok_or_else(|| SqlError::no_database(db).terminating(STMT))?;
    let db = d.name.clone();
    exclusive(s, &db, STMT)?;
    let h =
        backup_file::read_verified(Path::new(path)).map_err(|e| media_error(path, &db, e, STMT))?;
    check_log(s, &db, &h, STMT)?;
    claim(s, &db, STMT)?;
    let result = s
        .pace()
        .and_then(|()| apply_log(s, &db, path, &h, recovery, text));
    release(s)?;
    result?;
    let pages = h.backup_size / 8192 + 2;
    let secs = started.elapsed().as_secs_f64().max(0.001);
    out.push(Output::Message(SqlMessage::info(
        4035,
        format!("Processed {pages} pages for database '{db}', file '{db}_log' on file 1."),
    )));
    out.push(Output::Message(SqlMessage::info(
        3014,
        format!(
            "RESTORE LOG successfully processed {pages} pages in {secs:.3} seconds ({:.3} MB/sec).",
            pages as f64 * 8192.0 / 1048576.0 / secs
        ),
    )));
    Ok(())
}

/// Records this session's restore request, after checking nobody else holds the database, in
/// one transaction so that two restores cannot both pass the check.
fn claim(s: &mut Session, db: &str, statement: &str) -> Result<(), SqlError> {
    let tx = state::write_tx(&mut s.conn)?;
    let others: i64 = tx.query_row(
        "SELECT COUNT(*) FROM main.requests WHERE instance = ?1 AND session_id <> ?2 AND database_name = ?3",
        params![s.instance, s.spid, db],
        |r| r.get(0),
    )?;
    if others > 0 {
        return Err(SqlError::new(
            3101,
            16,
            1,
            "Exclusive access could not be obtained because the database is in use.",
        )
        .terminating(statement));
    }
    tx.execute(
        "INSERT OR REPLACE INTO main.requests (instance, session_id, command, database_name, status, percent_complete, start_time)
         VALUES (?1, ?2, ?3, ?4, 'running', 0, ?5)",
        params![s.instance, s.spid, statement, db, state::now_sql()],
    )?;
    tx.commit()?;
    Ok(())
}

fn release(s: &mut Session) -> Result<(), SqlError> {
    s.conn.execute(
        "DELETE FROM main.requests WHERE instance = ?1 AND session_id = ?2",
        params![s.instance, s.spid],
    )?;
    Ok(())
}

fn apply_log(
    s: &mut Session,
    db: &str,
    path: &str,
    h: &BackupHeader,
    recovery: bool,
    text: &str,
) -> Result<(), SqlError> {
    let instance = s.instance.clone();
    let spid = s.spid;
    let login = s.login.clone();
    // Re-check inside the write transaction: another session may have moved the database on
    // while this one was paced.
    let tx = state::write_tx(&mut s.conn)?;
    let (st, redo): (String, Option<i64>) = tx.query_row(
        "SELECT state_desc, redo_start_lsn FROM main.databases WHERE instance = ?1 AND name = ?2",
        params![instance, db],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if st != "RESTORING" {
        return Err(SqlError::new(3117, 16, 4, "The log or differential backup cannot be restored because no files are ready to rollforward.").terminating("RESTORE LOG"));
    }
    let redo = Lsn(redo.unwrap_or(0).max(0) as u128);
    if h.first() > redo || h.last() <= redo {
        return Err(SqlError::new(4326, 16, 1, format!("The log in this backup set terminates at LSN {}, which is too early to apply to the database. A more recent log backup that includes LSN {redo} can be restored.", h.last())).terminating("RESTORE LOG"));
    }
    let last = h
        .last()
        .to_i64()
        .ok_or_else(|| SqlError::internal("LSN beyond 64 bits"))?;
    let now = state::now_sql();
    if recovery {
        tx.execute(
            "UPDATE main.databases SET state_desc = 'ONLINE', redo_start_lsn = NULL, redo_start_fork_guid = NULL WHERE instance = ?1 AND name = ?2",
            params![instance, db],
        )?;
    } else {
        tx.execute(
            "UPDATE main.databases SET redo_start_lsn = ?3, redo_start_fork_guid = ?4 WHERE instance = ?1 AND name = ?2",
            params![instance, db, last, h.recovery_fork_id],
        )?;
    }
    let next = |table: &str, col: &str| -> rusqlite::Result<i64> {
        tx.query_row(
            &format!("SELECT COALESCE(MAX({col}), 0) + 1 FROM main.{table} WHERE instance = ?1"),
            [&instance],
            |r| r.get(0),
        )
    };
    let set_id = next("backupset", "backup_set_id")?;
    let media_id = next("backupmediafamily", "media_set_id")?;
    let history_id = next("restorehistory", "restore_history_id")?;
    tx.execute(
        "INSERT INTO main.backupset (instance, backup_set_id, media_set_id, database_name, type, first_lsn, last_lsn,
           checkpoint_lsn, database_backup_lsn, backup_start_date, backup_finish_date, time_zone, server_name,
           machine_name, family_guid, first_recovery_fork_guid, last_recovery_fork_guid, backup_size)
         VALUES (?1, ?2, ?3, ?4, 'L', ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11, ?12, ?13, ?14, ?15, ?16)",
        params![
            instance, set_id, media_id, h.database_name, h.first().to_i64(), last,
            Lsn::parse(&h.checkpoint_lsn).and_then(Lsn::to_i64), Lsn::parse(&h.database_backup_lsn).and_then(Lsn::to_i64),
            h.backup_start_date, h.backup_finish_date, h.server_name, h.machine_name, h.family_guid,
            h.first_recovery_fork_id, h.recovery_fork_id, h.backup_size
        ],
    )?;
    tx.execute(
        "INSERT INTO main.backupmediafamily (instance, media_set_id, family_sequence_number, logical_device_name, physical_device_name, device_type, mirror)
         VALUES (?1, ?2, 1, NULL, ?3, 2, 0)",
        params![instance, media_id, path],
    )?;
    tx.execute(
        "INSERT INTO main.restorehistory (instance, restore_history_id, restore_date, destination_database_name, user_name,
           backup_set_id, restore_type, replace, recovery, restart, stop_at, device_count, stop_at_mark_name, stop_before)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'L', 0, ?7, 0, NULL, 1, NULL, 0)",
        params![instance, history_id, now, db, login, set_id, recovery as i64],
    )?;
    let name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tx.execute(
        "UPDATE main.backup_files SET restored = 1 WHERE name = ?1",
        [&name],
    )?;
    let effect = format!(
        "restored log {name} (LSN {} to {}) into {db}{}",
        h.first(),
        h.last(),
        if recovery {
            "; database recovered, now ONLINE"
        } else {
            " WITH NORECOVERY; redo_start_lsn now the file's LastLSN"
        }
    );
    state::record(&tx, &instance, Some(spid), text, &effect)?;
    tx.commit()?;
    Ok(())
}

/// `RESTORE DATABASE db WITH RECOVERY` (recovery only).
pub fn recover(
    s: &mut Session,
    db: &str,
    text: &str,
    out: &mut Vec<Output>,
) -> Result<(), SqlError> {
    const STMT: &str = "RESTORE DATABASE";
    let d = database(s, db)?.ok_or_else(|| SqlError::no_database(db).terminating(STMT))?;
    let db = d.name.clone();
    exclusive(s, &db, STMT)?;
    if d.state == "ONLINE" {
        // Nothing to roll forward or back: SQL Server reports success without changing anything.
        out.push(Output::Message(SqlMessage::info(
            3014,
            "RESTORE DATABASE successfully processed 0 pages in 0.001 seconds (0.000 MB/sec).",
        )));
        return Ok(());
    }
    if d.state != "RESTORING" {
        return Err(SqlError::new(
            3148,
            16,
            1,
            format!(
                "This RESTORE statement is invalid in the current context. Database '{db}' is {}.",
                d.state
            ),
        )
        .terminating(STMT));
    }
    claim(s, &db, STMT)?;
    let result = s.pace().and_then(|()| {
        let instance = s.instance.clone();
        let spid = s.spid;
        let tx = state::write_tx(&mut s.conn)?;
        let changed = tx.execute(
            "UPDATE main.databases SET state_desc = 'ONLINE', redo_start_lsn = NULL, redo_start_fork_guid = NULL
             WHERE instance = ?1 AND name = ?2 AND state_desc = 'RESTORING'",
            params![instance, db],
        )?;
        if changed == 1 {
            state::record(&tx, &instance, Some(spid), text, &format!("recovered {db}: RESTORING -> ONLINE, redo_start_lsn cleared"))?;
        }
        tx.commit()?;
        Ok(())
    });
    release(s)?;
    result?;
    out.push(Output::Message(SqlMessage::info(
        3014,
        "RESTORE DATABASE successfully processed 0 pages in 0.100 seconds (0.000 MB/sec).",
    )));
    Ok(())
}
