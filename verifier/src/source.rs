//! Readers for the two journal forms: the SQLite file the engine writes and the JSONL export.
//!
//! A reader yields each record's untrusted bytes exactly as stored — it never re-serialises an
//! event — one at a time, so memory does not grow with the journal. Whether the bytes are a
//! valid event is for `event` and `verify` to say.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rusqlite::{Connection, OpenFlags};

use crate::canonical;
use crate::merkle::Hash;

/// SQLite `application_id` of a runledger journal ("RLJ1").
pub const SQLITE_APPLICATION_ID: i32 = 0x524c_4a31;
/// SQLite `user_version` of a format-1 journal.
pub const SQLITE_USER_VERSION: i32 = 1;

/// The SQL that creates a journal database (docs/journal-format.md §7).
pub const SQLITE_SCHEMA: &str = "
CREATE TABLE events (
    seq       INTEGER PRIMARY KEY,
    event     BLOB    NOT NULL,
    leaf_hash BLOB    NOT NULL,
    sig       BLOB    NOT NULL
);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'runledger journal is append-only: UPDATE refused'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'runledger journal is append-only: DELETE refused'); END;
";

/// One stored record, untrusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// Where it was found: `row seq N` or `line N`.
    pub position: Position,
    /// The event's bytes exactly as stored.
    pub event: Vec<u8>,
    /// The signature bytes.
    pub sig: Vec<u8>,
    /// The leaf hash the SQLite row stores (JSONL stores none).
    pub stored_leaf_hash: Option<Vec<u8>>,
}

/// Where a record sits in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The SQLite row with this `seq` key.
    Row(i64),
    /// The 1-based JSONL line.
    Line(u64),
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Row(n) => write!(f, "row {n}"),
            Position::Line(n) => write!(f, "line {n}"),
        }
    }
}

/// The form of a journal file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The SQLite database the engine writes.
    Sqlite,
    /// `runledger export --jsonl`.
    Jsonl,
}

impl Format {
    /// Name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Sqlite => "sqlite",
            Format::Jsonl => "jsonl",
        }
    }
}

/// Why a journal could not be read at all, or a record could not be taken from it.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// The operating system's or SQLite's error.
        reason: String,
    },
    /// The file is a SQLite database but not a runledger journal of a known version.
    #[error("{path} is not a runledger journal: {reason}")]
    NotAJournal {
        /// The file.
        path: String,
        /// What shows it is not one: a missing table, another format version.
        reason: String,
    },
    /// A record's container (the JSONL line, the SQLite row) is malformed.
    #[error("{position}: {reason}")]
    Record {
        /// The line (JSONL) or row (SQLite) of the record.
        position: Position,
        /// What is wrong.
        reason: String,
    },
}

/// Tells the two forms apart by the first 16 bytes (the SQLite header string).
pub fn detect(path: &Path) -> Result<Format, SourceError> {
    let mut f = std::fs::File::open(path).map_err(|e| SourceError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => {
                return Err(SourceError::Unreadable {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })
            }
        }
    }
    Ok(if &head[..n] == b"SQLite format 3\0" {
        Format::Sqlite
    } else {
        Format::Jsonl
    })
}

/// Calls `visit` with every record in order. `visit` returns false to stop early.
///
/// Errors from the container stop the walk and are returned; the records before them have
/// been visited.
pub fn for_each_record(
    path: &Path,
    format: Format,
    mut visit: impl FnMut(RawRecord) -> bool,
) -> Result<(), SourceError> {
    match format {
        Format::Sqlite => read_sqlite(path, &mut visit),
        Format::Jsonl => read_jsonl(path, &mut visit),
    }
}

/// Calls `visit` with the records of a SQLite journal from the last to the first; `visit`
/// returns false to stop. Readers of a journal's end (the last run) read only that end.
pub fn for_each_sqlite_record_backwards(
    path: &Path,
    mut visit: impl FnMut(RawRecord) -> bool,
) -> Result<(), SourceError> {
    read_sqlite_ordered(path, "DESC", &mut visit)
}

/// Opens a journal database read-only and checks that it is one.
pub fn open_sqlite_read_only(path: &Path) -> Result<Connection, SourceError> {
    let unreadable = |e: rusqlite::Error| SourceError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(unreadable)?;
    let app: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(unreadable)?;
    let version: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(unreadable)?;
    if app != SQLITE_APPLICATION_ID {
        return Err(SourceError::NotAJournal {
            path: path.display().to_string(),
            reason: format!("application_id is {app:#x}, expected {SQLITE_APPLICATION_ID:#x}"),
        });
    }
    if version != SQLITE_USER_VERSION {
        return Err(SourceError::NotAJournal {
            path: path.display().to_string(),
            reason: format!(
                "user_version is {version}, this verifier reads version {SQLITE_USER_VERSION}"
            ),
        });
    }
    Ok(conn)
}

fn read_sqlite(path: &Path, visit: &mut dyn FnMut(RawRecord) -> bool) -> Result<(), SourceError> {
    read_sqlite_ordered(path, "ASC", visit)
}

fn read_sqlite_ordered(
    path: &Path,
    order: &'static str,
    visit: &mut dyn FnMut(RawRecord) -> bool,
) -> Result<(), SourceError> {
    let conn = open_sqlite_read_only(path)?;
    let unreadable = |e: rusqlite::Error| SourceError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT seq, event, leaf_hash, sig FROM events ORDER BY seq {order}"
        ))
        .map_err(unreadable)?;
    let mut rows = stmt.query([]).map_err(unreadable)?;
    while let Some(row) = rows.next().map_err(unreadable)? {
        let seq: i64 = row.get(0).map_err(unreadable)?;
        let position = Position::Row(seq);
        let blob = |i: usize| -> Result<Vec<u8>, SourceError> {
            row.get::<_, Vec<u8>>(i).map_err(|e| SourceError::Record {
                position,
                reason: format!("column {i} is not a blob: {e}"),
            })
        };
        let record = RawRecord {
            position,
            event: blob(1)?,
            stored_leaf_hash: Some(blob(2)?),
            sig: blob(3)?,
        };
        if !visit(record) {
            break;
        }
    }
    Ok(())
}

/// The largest JSONL line accepted: an event with a large runbook source fits many times over.
pub const MAX_LINE_BYTES: usize = 16 << 20;

fn read_jsonl(path: &Path, visit: &mut dyn FnMut(RawRecord) -> bool) -> Result<(), SourceError> {
    let file = std::fs::File::open(path).map_err(|e| SourceError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let n = reader
            .by_ref()
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| SourceError::Unreadable {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        let position = Position::Line(number);
        if line.last() != Some(&b'\n') {
            let reason = if line.len() > MAX_LINE_BYTES {
                format!("line longer than {MAX_LINE_BYTES} bytes")
            } else {
                "last line does not end in a newline (truncated export?)".to_string()
            };
            return Err(SourceError::Record { position, reason });
        }
        line.pop();
        let record = parse_jsonl_line(&line, position)?;
        if !visit(record) {
            return Ok(());
        }
    }
}

/// Takes one JSONL line apart: `{"event":<event bytes verbatim>,"sig":"<base64>"}`.
pub fn parse_jsonl_line(line: &[u8], position: Position) -> Result<RawRecord, SourceError> {
    let bad = |reason: String| SourceError::Record { position, reason };
    let spans =
        canonical::member_spans(line).map_err(|e| bad(format!("not a JSON object: {e}")))?;
    let mut event = None;
    let mut sig = None;
    for (key, span) in spans {
        match key.as_str() {
            "event" => event = Some(line[span].to_vec()),
            "sig" => {
                let value = canonical::parse(&line[span])
                    .map_err(|e| bad(format!("`sig` is not a string: {e}")))?;
                let canonical::Value::String(s) = value else {
                    return Err(bad("`sig` is not a string".into()));
                };
                sig = Some(
                    B64.decode(s.as_bytes())
                        .map_err(|e| bad(format!("`sig` is not base64: {e}")))?,
                );
            }
            other => return Err(bad(format!("unknown member `{other}`"))),
        }
    }
    match (event, sig) {
        (Some(event), Some(sig)) => Ok(RawRecord {
            position,
            event,
            sig,
            stored_leaf_hash: None,
        }),
        (None, _) => Err(bad("no `event` member".into())),
        (_, None) => Err(bad("no `sig` member".into())),
    }
}

/// Writes one JSONL line for an event: its canonical bytes verbatim and its signature.
pub fn jsonl_line(event: &[u8], sig: &[u8]) -> Vec<u8> {
    let sig = B64.encode(sig);
    let mut out = Vec::with_capacity(event.len() + sig.len() + 20);
    out.extend_from_slice(b"{\"event\":");
    out.extend_from_slice(event);
    out.extend_from_slice(b",\"sig\":\"");
    out.extend_from_slice(sig.as_bytes());
    out.extend_from_slice(b"\"}\n");
    out
}

/// Interprets a stored leaf hash column.
pub fn stored_hash(bytes: &[u8]) -> Option<Hash> {
    bytes.try_into().ok()
}
