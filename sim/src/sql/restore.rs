//! RESTORE HEADERONLY / VERIFYONLY / LOG / DATABASE … WITH RECOVERY, with SQL Server's rules:
//! the LSN chain (4305 gap, 4326 already applied), no log restore once the database is
//! recovered (3117), exclusive access (3101), media that changed since it was written (3241,
//! 3183 with backup checksums, 3203 without), a restore interrupted half-way (4319, 4347), and a
//! `backupset`/`restorehistory` row per log restored. Paths are Windows paths, resolved
//! through the site's folders (paths.rs).
//!
//! A restore is claimed in one transaction (a `dm_exec_requests` row, and the database marked
//! as in the middle of that backup set), takes `--pace`, then re-checks and applies in a second
//! transaction that clears the mark. A restore stopped in between (KILL, attention, the server
//! killed) leaves the mark: the database is then in the middle of a restore, and only that
//! backup set may be restored next, as on SQL Server.

use std::io;
use std::path::PathBuf;
use std::time::Instant;

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::error::{SqlError, SqlMessage};
use super::select::ResultSet;
use super::session::{Output, Session};
use crate::backup_file::{self, BackupFileError, BackupHeader, Whole};
use crate::lsn::Lsn;
use crate::paths::{self, OsError};
use crate::state;
use crate::tds::token::{Column, SqlType, Value};

fn device_error(path: &str, os: OsError) -> SqlError {
    SqlError::new(
        3201,
        16,
        2,
        format!(
            "Cannot open backup device '{path}'. Operating system error {}.",
            os.quoted()
        ),
    )
}

pub(super) fn open_error(path: &str, e: &io::Error) -> SqlError {
    let os = if e.kind() == io::ErrorKind::PermissionDenied {
        "5(Access is denied.)".to_string()
    } else {
        OsError::FileNotFound.quoted()
    };
    SqlError::new(
        3201,
        16,
        2,
        format!("Cannot open backup device '{path}'. Operating system error {os}."),
    )
}

/// The local file behind a Windows path the client sent.
pub(super) fn local(s: &Session, path: &str, statement: &str) -> Result<PathBuf, SqlError> {
    paths::resolve(&s.root, path).map_err(|os| device_error(path, os).terminating(statement))
}

pub(super) fn media_error(path: &str, e: BackupFileError, statement: &str) -> SqlError {
    let err = match e {
        BackupFileError::Open(io) => open_error(path, &io),
        BackupFileError::Malformed => SqlError::new(
            3241,
            16,
            0,
            format!("The media family on device '{path}' is incorrectly formed. SQL Server cannot process this media family."),
        ),
        BackupFileError::Truncated => SqlError::new(3203, 16, 1, format!("Read on \"{path}\" failed: 38(Reached the end of the file.)")),
    };
    err.terminating(statement)
}

/// 3183: the backup checksum does not hold.
fn checksum_error(path: &str, db: &str, statement: &str) -> SqlError {
    SqlError::new(
        3183,
        16,
        2,
        format!("RESTORE detected an error on page (1:{}) in database \"{db}\" as read from the backup set.", 1000 + path.len()),
    )
    .terminating(statement)
}

/// 3187: `WITH CHECKSUM` was asked of a backup set written without backup checksums.
pub(super) fn check_checksum_option(
    h: &BackupHeader,
    asked: bool,
    statement: &str,
) -> Result<(), SqlError> {
    if asked && !h.has_backup_checksums {
        return Err(SqlError::new(
            3187,
            16,
            1,
            "RESTORE WITH CHECKSUM cannot be specified because the backup set does not contain checksum information.",
        )
        .terminating(statement));
    }
    Ok(())
}

/// A restore of a backup set whose payload changed since it was written: 3183 when the set
/// has backup checksums; without them nothing is checked before the content is applied, and
/// the damage shows while reading it (3203).
pub(super) fn check_payload(
    whole: &Whole,
    path: &str,
    db: &str,
    statement: &str,
) -> Result<(), SqlError> {
    if whole.payload_intact {
        return Ok(());
    }
    Err(if whole.header.has_backup_checksums {
        checksum_error(path, db, statement)
    } else {
        SqlError::new(
            3203,
            16,
            1,
            format!("Read on \"{path}\" failed: 13(The data is invalid.)"),
        )
        .terminating(statement)
    })
}

/// `RESTORE HEADERONLY`: one row describing the backup set in the file.
pub fn header_only(s: &Session, path: &str) -> Result<ResultSet, SqlError> {
    const STMT: &str = "RESTORE HEADERONLY";
    let file = local(s, path, STMT)?;
    let h = backup_file::read_header(&file).map_err(|e| media_error(path, e, STMT))?;
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
        (
            "HasBackupChecksums",
            SqlType::Bit,
            int(h.has_backup_checksums as i128),
        ),
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
            text(if h.backup_type == 1 {
                "Database"
            } else {
                "Transaction Log"
            }),
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

/// `RESTORE VERIFYONLY [WITH CHECKSUM]`: the backup set is complete and readable, and its
/// backup checksums hold when it has them (SQL Server checks them by default).
pub fn verify_only(s: &Session, path: &str, checksum: bool) -> Result<(), SqlError> {
    const STMT: &str = "VERIFY DATABASE";
    let file = local(s, path, STMT)?;
    let whole = backup_file::read_whole(&file).map_err(|e| media_error(path, e, STMT))?;
    let h = &whole.header;
    check_checksum_option(h, checksum, STMT)?;
    if h.has_backup_checksums && !whole.payload_intact {
        return Err(checksum_error(path, &h.database_name, STMT));
    }
    Ok(())
}

/// A backup set whose restore was stopped half-way, or a recovery stopped half-way: the
/// database stays in the middle of it until the same operation runs to its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Interrupted {
    /// `RESTORE LOG` of this backup set.
    Log {
        /// The backup file's name.
        file: String,
        /// Its FirstLSN.
        first_lsn: String,
        /// Its LastLSN.
        last_lsn: String,
    },
    /// `RESTORE DATABASE … WITH RECOVERY`.
    Recovery,
}

impl Interrupted {
    fn of(h: &BackupHeader, file: &str) -> Interrupted {
        Interrupted::Log {
            file: file.to_string(),
            first_lsn: h.first_lsn.clone(),
            last_lsn: h.last_lsn.clone(),
        }
    }

    fn is_set(&self, h: &BackupHeader) -> bool {
        matches!(self, Interrupted::Log { first_lsn, last_lsn, .. }
            if *first_lsn == h.first_lsn && *last_lsn == h.last_lsn)
    }
}

struct Db {
    name: String,
    state: String,
    standby: bool,
    /// Where the next roll-forward starts: `redo_start_lsn`, or while in standby (where the
    /// catalog shows NULL) the point the last standby restore reached.
    redo: Option<i64>,
    fork: Option<String>,
    family: Option<String>,
    interrupted: Option<Interrupted>,
}

impl Db {
    /// RESTORING, or in standby between two restores: a log can still be applied.
    fn rolls_forward(&self) -> bool {
        self.state == "RESTORING" || (self.state == "ONLINE" && self.standby)
    }
}

fn database(s: &Session, db: &str) -> Result<Option<Db>, SqlError> {
    Ok(s.conn
        .query_row(
            "SELECT name, state_desc, is_in_standby, COALESCE(redo_start_lsn, standby_redo_lsn),
                    COALESCE(redo_start_fork_guid, standby_fork_guid), family_guid, interrupted_restore
             FROM main.databases WHERE instance = ?1 AND name = ?2",
            params![s.instance, db],
            |r| {
                let interrupted: Option<String> = r.get(6)?;
                Ok(Db {
                    name: r.get(0)?,
                    state: r.get(1)?,
                    standby: r.get::<_, i64>(2)? != 0,
                    redo: r.get(3)?,
                    fork: r.get(4)?,
                    family: r.get(5)?,
                    interrupted: interrupted.and_then(|j| serde_json::from_str(&j).ok()),
                })
            },
        )
        .optional()?)
}

/// 3101 when another session uses the database or holds a restore request on it.
pub(super) fn exclusive(s: &Session, db: &str, statement: &str) -> Result<(), SqlError> {
    let users: i64 = s.conn.query_row(
        "SELECT (SELECT COUNT(*) FROM main.sessions WHERE instance = ?1 AND session_id <> ?2 AND database_name = ?3)
              + (SELECT COUNT(*) FROM main.requests WHERE instance = ?1 AND session_id <> ?2 AND database_name = ?3)",
        params![s.instance, s.spid, db],
        |r| r.get(0),
    )?;
    if users > 0 {
        return Err(in_use().terminating(statement));
    }
    Ok(())
}

fn in_use() -> SqlError {
    SqlError::new(
        3101,
        16,
        1,
        "Exclusive access could not be obtained because the database is in use.",
    )
}

fn no_rollforward() -> SqlError {
    SqlError::new(
        3117,
        16,
        4,
        "The log or differential backup cannot be restored because no files are ready to rollforward.",
    )
}

fn interrupted_log(db: &str) -> SqlError {
    SqlError::new(
        4319,
        16,
        1,
        format!("A previous restore operation was interrupted and did not complete processing on file '{db}_log'. Either restore the backup set that was interrupted or restart the restore sequence."),
    )
}

fn interrupted_recovery() -> SqlError {
    SqlError::new(
        4347,
        16,
        1,
        "The previous restore sequence was interrupted during the transition to the online state. Use RESTORE DATABASE WITH RECOVERY to complete the restore sequence.",
    )
}

/// The rules a log backup must pass against the database as it is now.
fn check_log(
    s: &Session,
    db: &str,
    h: &BackupHeader,
    restart: bool,
    statement: &str,
) -> Result<Db, SqlError> {
    let term = |e: SqlError| e.terminating(statement);
    let d = database(s, db)?.ok_or_else(|| term(SqlError::no_database(db)))?;
    if !d.rolls_forward() {
        return Err(term(no_rollforward()));
    }
    // The interrupted backup set is restored again only when asked to (WITH RESTART).
    match &d.interrupted {
        Some(Interrupted::Recovery) => return Err(term(interrupted_recovery())),
        Some(i) if !(i.is_set(h) && restart) => return Err(term(interrupted_log(&d.name))),
        _ => {}
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

/// How a log restore leaves the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterLog {
    /// `WITH NORECOVERY`: RESTORING, ready for the next log.
    NoRecovery,
    /// `WITH STANDBY = N'undo file'`: ONLINE, read-only, ready for the next log.
    Standby(String),
    /// `WITH RECOVERY` (also the default): ONLINE; no further log can be applied.
    Recovery,
}

/// `RESTORE LOG db FROM DISK = path WITH [NO]RECOVERY | STANDBY = … [, RESTART]`.
pub fn restore_log(
    s: &mut Session,
    db: &str,
    path: &str,
    after: &AfterLog,
    restart: bool,
    text: &str,
    out: &mut Vec<Output>,
) -> Result<(), SqlError> {
    const STMT: &str = "RESTORE LOG";
    let started = Instant::now();
    let d = database(s, db)?.ok_or_else(|| SqlError::no_database(db).terminating(STMT))?;
    let db = d.name.clone();
    exclusive(s, &db, STMT)?;
    let file = local(s, path, STMT)?;
    let whole = backup_file::read_whole(&file).map_err(|e| media_error(path, e, STMT))?;
    check_payload(&whole, path, &db, STMT)?;
    let h = whole.header;
    check_log(s, &db, &h, restart, STMT)?;
    let undo = match after {
        AfterLog::Standby(undo) => Some(local(s, undo, STMT)?),
        _ => None,
    };
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    claim(s, &db, STMT, &Interrupted::of(&h, &name))?;
    let result = s.pace();
    let result = match result {
        // Stopped half-way: the database stays in the middle of this backup set.
        Err(e) => Err(e),
        Ok(()) => {
            let applied = apply_log(s, &db, path, &name, &h, after, text);
            if applied.is_err() {
                clear_interrupted(s, &db)?;
            }
            applied
        }
    };
    release(s)?;
    result?;
    if let Some(undo) = undo {
        // The undo file keeps the uncommitted work rolled back for standby reading.
        let _ = std::fs::write(undo, b"RLSIMTUF");
    }
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

/// Records this session's restore request and marks the database as in the middle of
/// `what`, after checking nobody else holds the database, in one transaction so that two
/// restores cannot both pass the check.
fn claim(s: &mut Session, db: &str, statement: &str, what: &Interrupted) -> Result<(), SqlError> {
    let tx = state::write_tx(&mut s.conn)?;
    let others: i64 = tx.query_row(
        "SELECT COUNT(*) FROM main.requests WHERE instance = ?1 AND session_id <> ?2 AND database_name = ?3",
        params![s.instance, s.spid, db],
        |r| r.get(0),
    )?;
    if others > 0 {
        return Err(in_use().terminating(statement));
    }
    tx.execute(
        "INSERT OR REPLACE INTO main.requests (instance, session_id, command, database_name, status, percent_complete, start_time)
         VALUES (?1, ?2, ?3, ?4, 'running', 0, ?5)",
        params![s.instance, s.spid, statement, db, state::now_sql()],
    )?;
    tx.execute(
        "UPDATE main.databases SET interrupted_restore = ?3 WHERE instance = ?1 AND name = ?2",
        params![
            s.instance,
            db,
            serde_json::to_string(what).map_err(SqlError::internal)?
        ],
    )?;
    tx.commit()?;
    Ok(())
}

fn clear_interrupted(s: &Session, db: &str) -> Result<(), SqlError> {
    s.conn.execute(
        "UPDATE main.databases SET interrupted_restore = NULL WHERE instance = ?1 AND name = ?2",
        params![s.instance, db],
    )?;
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
    name: &str,
    h: &BackupHeader,
    after: &AfterLog,
    text: &str,
) -> Result<(), SqlError> {
    let instance = s.instance.clone();
    let spid = s.spid;
    let login = s.login.clone();
    // Re-check inside the write transaction: another session may have moved the database on
    // while this one was paced.
    let tx = state::write_tx(&mut s.conn)?;
    let (st, standby, redo): (String, i64, Option<i64>) = tx.query_row(
        "SELECT state_desc, is_in_standby, COALESCE(redo_start_lsn, standby_redo_lsn) FROM main.databases WHERE instance = ?1 AND name = ?2",
        params![instance, db],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    if !(st == "RESTORING" || (st == "ONLINE" && standby != 0)) {
        return Err(no_rollforward().terminating("RESTORE LOG"));
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
    const CLEAR: &str =
        "interrupted_restore = NULL, standby_redo_lsn = NULL, standby_fork_guid = NULL";
    match after {
        AfterLog::Recovery => tx.execute(
            &format!("UPDATE main.databases SET state_desc = 'ONLINE', is_in_standby = 0, redo_start_lsn = NULL, redo_start_fork_guid = NULL, {CLEAR} WHERE instance = ?1 AND name = ?2"),
            params![instance, db],
        )?,
        AfterLog::NoRecovery => tx.execute(
            &format!("UPDATE main.databases SET state_desc = 'RESTORING', is_in_standby = 0, redo_start_lsn = ?3, redo_start_fork_guid = ?4, {CLEAR} WHERE instance = ?1 AND name = ?2"),
            params![instance, db, last, h.recovery_fork_id],
        )?,
        // In standby the catalog shows no redo_start_lsn (the database is ONLINE); the point
        // the next log must start from is kept aside.
        AfterLog::Standby(_) => tx.execute(
            "UPDATE main.databases SET state_desc = 'ONLINE', is_in_standby = 1, redo_start_lsn = NULL, redo_start_fork_guid = NULL,
               interrupted_restore = NULL, standby_redo_lsn = ?3, standby_fork_guid = ?4 WHERE instance = ?1 AND name = ?2",
            params![instance, db, last, h.recovery_fork_id],
        )?,
    };
    let set_id = insert_backupset(&tx, &instance, "L", h, path)?;
    let history_id = next_msdb_id(&tx, &instance, "restorehistory", "restore_history_id")?;
    let recovery = *after == AfterLog::Recovery;
    tx.execute(
        "INSERT INTO main.restorehistory (instance, restore_history_id, restore_date, destination_database_name, user_name,
           backup_set_id, restore_type, replace, recovery, restart, stop_at, device_count, stop_at_mark_name, stop_before)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'L', 0, ?7, 0, NULL, 1, NULL, 0)",
        params![instance, history_id, now, db, login, set_id, recovery as i64],
    )?;
    tx.execute(
        "UPDATE main.backup_files SET restored = 1 WHERE name = ?1",
        [name],
    )?;
    let effect = format!(
        "restored log {name} (LSN {} to {}) into {db}{}",
        h.first(),
        h.last(),
        match after {
            AfterLog::Recovery => "; database recovered, now ONLINE",
            AfterLog::NoRecovery => " WITH NORECOVERY; redo_start_lsn now the file's LastLSN",
            AfterLog::Standby(_) => " WITH STANDBY; ONLINE read-only until the next restore",
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
    if d.state == "ONLINE" && !d.standby {
        // Nothing to roll forward or back: SQL Server reports success without changing anything.
        out.push(Output::Message(SqlMessage::info(
            3014,
            "RESTORE DATABASE successfully processed 0 pages in 0.001 seconds (0.000 MB/sec).",
        )));
        return Ok(());
    }
    if !d.rolls_forward() {
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
    if let Some(Interrupted::Log { .. }) = d.interrupted {
        return Err(interrupted_log(&db).terminating(STMT));
    }
    claim(s, &db, STMT, &Interrupted::Recovery)?;
    let result = s.pace().and_then(|()| {
        let instance = s.instance.clone();
        let spid = s.spid;
        let tx = state::write_tx(&mut s.conn)?;
        let changed = tx.execute(
            "UPDATE main.databases SET state_desc = 'ONLINE', is_in_standby = 0, redo_start_lsn = NULL, redo_start_fork_guid = NULL,
               standby_redo_lsn = NULL, standby_fork_guid = NULL, interrupted_restore = NULL
             WHERE instance = ?1 AND name = ?2 AND (state_desc = 'RESTORING' OR is_in_standby = 1)",
            params![instance, db],
        )?;
        if changed == 1 {
            let from = if d.standby { "ONLINE in standby" } else { "RESTORING" };
            state::record(&tx, &instance, Some(spid), text, &format!("recovered {db}: {from} -> ONLINE, redo_start_lsn cleared"))?;
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

/// The next id of `column` in the msdb table `table` of `instance` (backup sets, media, restore
/// history, schedules).
pub(super) fn next_msdb_id(
    tx: &rusqlite::Transaction<'_>,
    instance: &str,
    table: &str,
    column: &str,
) -> rusqlite::Result<i64> {
    tx.query_row(
        &format!("SELECT COALESCE(MAX({column}), 0) + 1 FROM main.{table} WHERE instance = ?1"),
        [instance],
        |r| r.get(0),
    )
}

/// Records in msdb the backup set of type `kind` (`D` database, `L` log) that `h` describes,
/// read from the device `path`; returns its `backup_set_id`.
pub(super) fn insert_backupset(
    tx: &rusqlite::Transaction<'_>,
    instance: &str,
    kind: &str,
    h: &BackupHeader,
    path: &str,
) -> rusqlite::Result<i64> {
    let set_id = next_msdb_id(tx, instance, "backupset", "backup_set_id")?;
    let media_id = next_msdb_id(tx, instance, "backupmediafamily", "media_set_id")?;
    tx.execute(
        "INSERT INTO main.backupset (instance, backup_set_id, media_set_id, database_name, type, first_lsn, last_lsn,
           checkpoint_lsn, database_backup_lsn, backup_start_date, backup_finish_date, time_zone, server_name,
           machine_name, family_guid, first_recovery_fork_guid, last_recovery_fork_guid, backup_size)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?12, ?13, ?14, ?15, ?16, ?17)",
        params![
            instance, set_id, media_id, h.database_name, kind, h.first().to_i64(), h.last().to_i64(),
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
    Ok(set_id)
}
