//! The simulated data center's state: one SQLite file, opened in WAL mode with full syncs so
//! that a committed change survives the process being killed.
//!
//! Every state-changing command runs in one `BEGIN IMMEDIATE` transaction that also appends
//! its row to `history`; this module offers the pieces (open, transaction, history row, time
//! stamps, new GUIDs) and never decides what a command does.

pub mod schema;

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, Transaction, TransactionBehavior};

/// Opens the state file with the settings every user of it needs.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Creates the per-connection views for one instance.
pub fn create_session_views(conn: &Connection, instance: &str) -> rusqlite::Result<()> {
    debug_assert!(instance
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    conn.execute_batch(&schema::SESSION_VIEWS.replace("{I}", instance))
}

/// Starts a write transaction that takes the write lock at once, so that the checks made
/// inside it still hold when it commits.
pub fn write_tx(conn: &mut Connection) -> rusqlite::Result<Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
}

/// Appends a row to the history of state-changing commands.
pub fn record(
    tx: &Transaction<'_>,
    system: &str,
    session_id: Option<i64>,
    command: &str,
    effect: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO history (at, system, session_id, command, effect) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now_rfc3339(), system, session_id, command, effect],
    )?;
    Ok(())
}

/// Current UTC time as SQL Server prints a datetime: `YYYY-MM-DD HH:MM:SS.fff`.
pub fn now_sql() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// A new random GUID as SQL Server shows a `uniqueidentifier`: hyphenated, upper case.
pub(crate) fn guid() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

/// Current UTC time, RFC 3339 with microseconds.
pub fn now_rfc3339() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Reads a `meta` value.
pub fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    use rusqlite::OptionalExtension;
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}
