//! The journal writer: the only code that appends to a journal (docs/architecture.md §3).
//!
//! Each append encodes the event with the verifier's canonical encoder, hashes and signs it,
//! and commits one SQLite row in WAL mode with `synchronous=FULL`; it returns only once the
//! row is durable, so an intent is on disk before its action starts. One writer at a time:
//! opening takes an exclusive lock on `<journal>.lock`, released by the OS if the process
//! dies. This module never updates or deletes a row — triggers refuse it anyway.
//!
//! **Faults (drills and tests only, none by default).** A [`FaultPlan`] handed to the writer
//! when it is created or opened can make its Nth append (1 = its first) and every later one
//! fail with SQLite's "database or disk is full" *before* anything is written, as a full disk
//! would, and can kill the process right after the journal holds N events. The end-to-end
//! tests drive the real binary into a failed durable append this way (through its hidden
//! `--inject-fault` flag) and check that no action starts without its intent.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use runledger_verifier::checkpoint::{Checkpoint, CheckpointError};
use runledger_verifier::event::{Body, Event, JournalOpened, Seal, ZERO_HASH_HEX};
use runledger_verifier::keys::TrustedKeys;
use runledger_verifier::merkle::{Frontier, Hash};
use runledger_verifier::note::NoteError;
use runledger_verifier::report::Check;
use runledger_verifier::signer::{SharedSigner, SignError};
use runledger_verifier::signing::{self, hex};
use runledger_verifier::source::{self, SQLITE_APPLICATION_ID, SQLITE_SCHEMA, SQLITE_USER_VERSION};
use runledger_verifier::verify::{verify_with_tail, Options as VerifyOptions, VerifyError};
use runledger_verifier::{Report, Verdict};
use rusqlite::{params, Connection, OpenFlags};

use crate::clock::{Clock, SystemClock};
use crate::fault::{self, FaultPlan};

/// Why a journal could not be created, opened or appended to.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Another process holds the journal.
    #[error("journal {path} is in use by another runledger process (lock {lock} is held); wait for it to finish or stop it")]
    Locked {
        /// The journal.
        path: String,
        /// The lock file.
        lock: String,
    },
    /// `create` on a path that exists.
    #[error("journal {0} already exists; use `runledger resume` to continue it")]
    Exists(String),
    /// `open` on a JSONL export: only the SQLite journal is appended to.
    #[error("{0} is a JSONL export; append to (resume) the SQLite journal it was exported from")]
    Export(String),
    /// `open` on a path that does not exist.
    #[error("journal {0} does not exist")]
    Missing(String),
    /// The private key is not the one the journal was opened with.
    #[error("key {given} is not the key of journal {path} ({expected}); resume with the key that started it")]
    WrongKey {
        /// The journal.
        path: String,
        /// Key id recorded in journal.opened.
        expected: String,
        /// Key id of the key given.
        given: String,
    },
    /// The journal's content is not what this writer wrote.
    #[error("journal {path} is damaged at seq {seq}: {reason}; run runledger-verify on it")]
    Damaged {
        /// The journal.
        path: String,
        /// First seq at fault.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// The journal does not hold what a checkpoint of it committed to: it is shorter (cut)
    /// or differs (rewritten, or another journal under its name).
    #[error("journal {path} contradicts its checkpoints: {reason}; refusing to continue it, nothing was executed. A journal that contradicts a checkpoint is never continued: keep both as evidence and start a new run in a new journal (operator guide §6.1)")]
    Contradicts {
        /// The journal.
        path: String,
        /// The first missing or differing seq.
        seq: u64,
        /// The verifier's reason, naming the checkpoint.
        reason: String,
    },
    /// A checkpoint to hold the journal against cannot be read or is not a signed checkpoint.
    #[error("cannot use checkpoint {path}: {reason}; refusing to continue journal {journal} without holding it against every checkpoint of it")]
    Checkpoint {
        /// The checkpoint file.
        path: String,
        /// The journal.
        journal: String,
        /// What is wrong with the checkpoint, in one line.
        reason: String,
    },
    /// A new journal would take the name of one whose checkpoints are kept.
    #[error("checkpoints of a journal at {path} are kept in {dir} (the latest covers seq 0..{last_seq}); a new journal must not take its name: resume it if it is still there, or start the new run with another --journal")]
    Orphaned {
        /// The journal path given to `run`.
        path: String,
        /// Its history folder.
        dir: String,
        /// Last seq the largest kept checkpoint covers.
        last_seq: u64,
    },
    /// An event could not be encoded.
    #[error("cannot encode event seq {seq}: {reason}")]
    Encode {
        /// Its seq.
        seq: u64,
        /// The encoder's error.
        reason: String,
    },
    /// SQLite or the file system failed; nothing was appended.
    #[error("cannot write journal {path} at seq {seq}: {source}")]
    Storage {
        /// The journal.
        path: String,
        /// The seq being written.
        seq: u64,
        /// The error.
        source: rusqlite::Error,
    },
    /// The journal's path no longer names the file this writer opened: it was deleted or
    /// replaced. Nothing is appended to it and no action may follow.
    #[error("journal {path} {what} while this run was writing it; nothing more is executed. If a copy of the journal exists, put it back and resume; otherwise finish the failover by hand (operator guide §8.2)")]
    Gone {
        /// The journal (or its `-wal` file).
        path: String,
        /// What happened: `was deleted`, `was replaced by another file`.
        what: &'static str,
    },
    /// I/O on the lock file or journal file.
    #[error("cannot open journal {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Reading the existing events failed.
    #[error(transparent)]
    Source(#[from] source::SourceError),
    /// The signer could not sign an event; nothing was written for it.
    #[error("event seq {seq} not written: {source}")]
    Sign {
        /// The seq the event would have had.
        seq: u64,
        /// Why.
        source: SignError,
    },
}

/// An event that is durable in the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Its seq.
    pub seq: u64,
    /// Its leaf hash.
    pub leaf_hash: Hash,
    /// Its timestamp.
    pub at: String,
}

/// The one writer of a journal.
pub struct Journal {
    conn: Connection,
    _lock: File,
    path: PathBuf,
    key: SharedSigner,
    key_id: String,
    journal_id: String,
    next_seq: u64,
    prev: Hash,
    frontier: Frontier,
    last_at: Option<String>,
    clock: Box<dyn Clock>,
    /// The files opened, to tell that the path still names them.
    identity: Identity,
    /// The faults injected into this writer (none in production).
    faults: FaultPlan,
    /// This writer's appends so far (counted for `faults.fail_append_at`).
    appends: u64,
}

fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// The journal file (and its WAL) as this writer opened them: a handle of its own on each,
/// compared by device and inode with what the path names now.
///
/// Someone who can write the directory can delete or replace the journal while a run writes
/// it; SQLite would go on committing into the unlinked file, and every later action would be
/// recorded nowhere anyone can read. So each append first checks that the path still names the
/// journal, and each action that it still names the journal and its WAL.
///
/// The handle is held open so that the file's inode cannot be freed and handed to another file
/// while this writer lives; its device and inode are read once, so each check costs one `stat`
/// of the path per file (system calls are the cost of an append here).
#[derive(Default)]
struct Identity {
    files: Vec<Held>,
}

struct Held {
    // Read by the unix check only: other platforms cannot compare a path with an open file.
    #[cfg_attr(not(unix), allow(dead_code))]
    path: PathBuf,
    /// Keeps the inode allocated.
    _file: File,
    /// (device, inode) of the file opened.
    #[cfg_attr(not(unix), allow(dead_code))]
    id: (u64, u64),
}

impl Identity {
    /// Takes a handle on `path` and, if it exists, its WAL.
    fn capture(&mut self, path: &Path) {
        self.files.clear();
        for p in [path.to_path_buf(), wal_path(path)] {
            if let Ok(f) = File::open(&p) {
                if let Some(id) = file_id(&f) {
                    self.files.push(Held {
                        path: p,
                        _file: f,
                        id,
                    });
                }
            }
        }
    }

    /// The path still names the file opened: a path that no longer resolves was deleted (or
    /// moved away), one that resolves to another inode was replaced. A path that resolves to
    /// the held inode is a link to it, so the file is not unlinked. `with_wal` checks the WAL
    /// too: a `stat` of a file being written can cost as much as the commit's own work here, so
    /// appends check the journal and every action checks both.
    #[cfg(unix)]
    fn check(&self, with_wal: bool) -> Result<(), JournalError> {
        use std::os::unix::fs::MetadataExt as _;
        let files = if with_wal {
            &self.files[..]
        } else {
            &self.files[..self.files.len().min(1)]
        };
        for held in files {
            let gone = |what| JournalError::Gone {
                path: held.path.display().to_string(),
                what,
            };
            match std::fs::metadata(&held.path) {
                Err(_) => return Err(gone("was deleted")),
                Ok(now) if (now.dev(), now.ino()) != held.id => {
                    return Err(gone("was replaced by another file"))
                }
                Ok(_) => {}
            }
        }
        Ok(())
    }

    /// Other platforms: the open file cannot be compared with the path; nothing is checked.
    #[cfg(not(unix))]
    fn check(&self, _with_wal: bool) -> Result<(), JournalError> {
        Ok(())
    }
}

#[cfg(unix)]
fn file_id(f: &File) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    f.metadata().ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &File) -> Option<(u64, u64)> {
    Some((0, 0))
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn take_lock(path: &Path) -> Result<File, JournalError> {
    let lock = lock_path(path);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(|source| JournalError::Io {
            path: lock.display().to_string(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(JournalError::Locked {
            path: path.display().to_string(),
            lock: lock.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(JournalError::Io {
            path: lock.display().to_string(),
            source,
        }),
    }
}

fn storage(path: &Path, seq: u64) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
    move |source| JournalError::Storage {
        path: path.display().to_string(),
        seq,
        source,
    }
}

impl Journal {
    /// Creates a journal at `path` and appends `journal.opened`.
    pub fn create(
        path: &Path,
        key: impl Into<SharedSigner>,
        engine_version: &str,
    ) -> Result<Journal, JournalError> {
        Journal::create_with_clock(path, key, engine_version, Box::new(SystemClock))
    }

    /// [`Journal::create`] with a clock of the caller's (tests, fixtures).
    pub fn create_with_clock(
        path: &Path,
        key: impl Into<SharedSigner>,
        engine_version: &str,
        clock: Box<dyn Clock>,
    ) -> Result<Journal, JournalError> {
        let journal_id = uuid::Uuid::new_v4().to_string();
        Journal::create_with_id(path, key, engine_version, clock, journal_id)
    }

    /// Creates a journal whose first run starts with it: `journal.opened`, `run.started` and
    /// the events that belong with it (the run's plan) are committed in one transaction, so no
    /// crash leaves a journal without its run, nor a run without its plan.
    /// `faults` apply from the first append on (none in production).
    pub fn create_with_run(
        path: &Path,
        key: impl Into<SharedSigner>,
        engine_version: &str,
        run_id: &str,
        started: Vec<Body>,
        faults: FaultPlan,
    ) -> Result<Journal, JournalError> {
        let journal_id = uuid::Uuid::new_v4().to_string();
        Journal::create_inner(
            path,
            key.into(),
            engine_version,
            Box::new(SystemClock),
            journal_id,
            Some((run_id, started)),
            faults,
        )
    }

    /// [`Journal::create_with_clock`] with a fixed journal id (fixtures and test vectors).
    pub fn create_with_id(
        path: &Path,
        key: impl Into<SharedSigner>,
        engine_version: &str,
        clock: Box<dyn Clock>,
        journal_id: String,
    ) -> Result<Journal, JournalError> {
        Journal::create_inner(
            path,
            key.into(),
            engine_version,
            clock,
            journal_id,
            None,
            FaultPlan::default(),
        )
    }

    fn create_inner(
        path: &Path,
        key: SharedSigner,
        engine_version: &str,
        clock: Box<dyn Clock>,
        journal_id: String,
        first_run: Option<(&str, Vec<Body>)>,
        mut faults: FaultPlan,
    ) -> Result<Journal, JournalError> {
        // The first events are one transaction: a kill after one of them would leave nothing
        // durable, so a crash point is armed by the caller once they are committed
        // (`crash_after_events`).
        faults.crash_after_events = None;
        let lock = take_lock(path)?;
        if path.exists() {
            if !holds_no_event(path) {
                return Err(JournalError::Exists(path.display().to_string()));
            }
            // A file left by a creation that never committed (the process died first) records
            // nothing: it is replaced, under the lock.
            remove_journal_files(path);
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(storage(path, 0))?;
        configure(&conn).map_err(storage(path, 0))?;
        // The schema and the first events commit together: a journal exists whole or not at all.
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; PRAGMA application_id = {SQLITE_APPLICATION_ID}; PRAGMA user_version = {SQLITE_USER_VERSION}; {SQLITE_SCHEMA}"
        ))
        .map_err(storage(path, 0))?;
        let key_id = key.id();
        let public_key = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(key.public_key().as_bytes())
        };
        let mut journal = Journal {
            conn,
            _lock: lock,
            path: path.to_path_buf(),
            key,
            key_id,
            journal_id: journal_id.clone(),
            next_seq: 0,
            prev: [0u8; 32],
            frontier: Frontier::new(),
            last_at: None,
            clock,
            identity: Identity::default(),
            faults,
            appends: 0,
        };
        journal.identity.capture(path);
        let opened = journal
            .append(
                None,
                Body::JournalOpened(JournalOpened {
                    journal_id,
                    engine_version: engine_version.to_string(),
                    public_key,
                }),
            )
            .and_then(|_| {
                let (run, bodies) = first_run.unwrap_or_default();
                bodies
                    .into_iter()
                    .try_for_each(|body| journal.append(Some(run), body).map(|_| ()))
            })
            .and_then(|()| {
                journal
                    .conn
                    .execute_batch("COMMIT")
                    .map_err(storage(path, journal.next_seq))
            });
        if opened.is_ok() {
            preallocate_wal(&journal.conn, path);
            journal.identity.capture(path);
        }
        if let Err(e) = opened {
            let _ = journal.conn.execute_batch("ROLLBACK");
            // A journal without journal.opened can be neither resumed nor created again: remove
            // the empty file this call made (it did not exist, and we hold the lock), so that the
            // same `run` works once the disk has room.
            let Journal { conn, _lock, .. } = journal;
            drop(conn);
            remove_journal_files(path);
            drop(_lock);
            return Err(e);
        }
        Ok(journal)
    }

    /// Opens an existing journal for appending with the key that created it.
    ///
    /// See [`Journal::open_verified`]; a journal that does not verify under `key` is refused
    /// with [`JournalError::WrongKey`] or [`JournalError::Damaged`] (see [`refusal`]).
    pub fn open(path: &Path, key: impl Into<SharedSigner>) -> Result<Journal, JournalError> {
        Journal::open_with_clock(path, key, Box::new(SystemClock))
    }

    /// [`Journal::open`] with a clock of the caller's.
    pub fn open_with_clock(
        path: &Path,
        key: impl Into<SharedSigner>,
        clock: Box<dyn Clock>,
    ) -> Result<Journal, JournalError> {
        let key = key.into();
        let given = key.id();
        match Journal::open_verified(path, key, clock, FaultPlan::default(), Vec::new())? {
            Opened::Valid(journal) => Ok(*journal),
            Opened::Refused(report) => Err(refusal(path, &given, &report)),
        }
    }

    /// Opens an existing journal for appending, after verifying all of it and holding it
    /// against `checkpoints` (`(name, text)`: its kept history, any given).
    ///
    /// Takes the writer's lock first, so that nothing is appended between the verification
    /// and the first append; then runs the verifier over every event with `key` as the only
    /// trusted key (every check of `runledger-verify`, signatures on all cores) and takes the
    /// chain's end — next seq, last leaf hash, Merkle frontier, last timestamp — from that
    /// same pass, so the journal is read once. A journal that does not verify under `key`
    /// (another key's journal included) is [`Opened::Refused`] with the verifier's report;
    /// one that cannot be read at all is an error.
    pub fn open_verified(
        path: &Path,
        key: impl Into<SharedSigner>,
        clock: Box<dyn Clock>,
        faults: FaultPlan,
        checkpoints: Vec<(String, String)>,
    ) -> Result<Opened, JournalError> {
        Journal::open_checked(path, key.into(), clock, faults, checkpoints, true)
    }

    /// [`Journal::open`] for replaying a journal without appending to it: verified and locked
    /// the same way, but its WAL is not prepared for appends (see [`preallocate_wal`]).
    pub fn open_to_replay(
        path: &Path,
        key: impl Into<SharedSigner>,
    ) -> Result<Journal, JournalError> {
        let key = key.into();
        let given = key.id();
        let opened = Journal::open_checked(
            path,
            key,
            Box::new(SystemClock),
            FaultPlan::default(),
            Vec::new(),
            false,
        )?;
        match opened {
            Opened::Valid(journal) => Ok(*journal),
            Opened::Refused(report) => Err(refusal(path, &given, &report)),
        }
    }

    fn open_checked(
        path: &Path,
        key: SharedSigner,
        clock: Box<dyn Clock>,
        faults: FaultPlan,
        checkpoints: Vec<(String, String)>,
        for_appending: bool,
    ) -> Result<Opened, JournalError> {
        if !path.exists() {
            return Err(JournalError::Missing(path.display().to_string()));
        }
        if source::detect(path)? != source::Format::Sqlite {
            return Err(JournalError::Export(path.display().to_string()));
        }
        let lock = take_lock(path)?;
        let mut trusted = TrustedKeys::default();
        trusted.insert(key.name().to_string(), key.public_key());
        let options = VerifyOptions {
            checkpoints,
            ..VerifyOptions::default()
        };
        let (report, tail) = verify_with_tail(path, &trusted, &options).map_err(|e| match e {
            VerifyError::Source(e) => JournalError::Source(e),
            VerifyError::Checkpoint { path: cp, reason } => JournalError::Checkpoint {
                path: cp,
                journal: path.display().to_string(),
                reason,
            },
        })?;
        if !matches!(
            report.verdict,
            Verdict::ValidOpen | Verdict::ValidSealed | Verdict::ValidAnchored
        ) {
            return Ok(Opened::Refused(Box::new(report)));
        }
        let Some(journal_id) = report.journal.journal_id.clone() else {
            return Err(JournalError::Damaged {
                path: path.display().to_string(),
                seq: 0,
                reason: "no journal.opened event".into(),
            });
        };
        let next_seq = tail.events;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(storage(path, next_seq))?;
        configure(&conn).map_err(storage(path, next_seq))?;
        if for_appending {
            preallocate_wal(&conn, path);
        }
        let mut identity = Identity::default();
        identity.capture(path);
        Ok(Opened::Valid(Box::new(Journal {
            conn,
            _lock: lock,
            path: path.to_path_buf(),
            key_id: key.id(),
            key,
            journal_id,
            next_seq,
            prev: tail.last_leaf,
            frontier: tail.frontier,
            last_at: tail.last_at,
            clock,
            identity,
            faults,
            appends: 0,
        })))
    }

    /// Appends one event and returns once it is durable. On error nothing was appended and
    /// the writer's state is unchanged: the caller must not act.
    pub fn append(&mut self, run: Option<&str>, body: Body) -> Result<Appended, JournalError> {
        self.identity.check(false)?;
        let seq = self.next_seq;
        let now = self.clock.now();
        // Timestamps never go backwards, even if the wall clock does.
        let at = match &self.last_at {
            Some(last) if *last > now => last.clone(),
            _ => now,
        };
        let event = Event {
            journal: self.journal_id.clone(),
            seq,
            prev: if seq == 0 {
                ZERO_HASH_HEX.to_string()
            } else {
                hex(&self.prev)
            },
            at: at.clone(),
            run: run.map(str::to_string),
            key: self.key_id.clone(),
            body,
        };
        let bytes = event
            .to_canonical_bytes()
            .map_err(|e| JournalError::Encode {
                seq,
                reason: e.to_string(),
            })?;
        if bytes.len() > runledger_verifier::event::MAX_EVENT_BYTES {
            return Err(JournalError::Encode {
                seq,
                reason: format!(
                    "event is {} bytes, more than the {} a journal event may hold",
                    bytes.len(),
                    runledger_verifier::event::MAX_EVENT_BYTES
                ),
            });
        }
        let leaf = signing::event_leaf_hash(&bytes);
        let sig = signing::sign_leaf_with(self.key.as_ref(), &leaf)
            .map_err(|source| JournalError::Sign { seq, source })?;
        self.appends += 1;
        if self
            .faults
            .fail_append_at
            .is_some_and(|n| self.appends >= n)
        {
            // An injected fault: fail as a full disk does, before a byte is written.
            return Err(JournalError::Storage {
                path: self.path.display().to_string(),
                seq,
                source: rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                    Some("database or disk is full (injected fault fail-append)".to_string()),
                ),
            });
        }
        self.conn
            .execute(
                "INSERT INTO events (seq, event, leaf_hash, sig) VALUES (?1, ?2, ?3, ?4)",
                params![
                    seq as i64,
                    bytes,
                    leaf.as_slice(),
                    sig.to_bytes().as_slice()
                ],
            )
            .map_err(storage(&self.path, seq))?;
        self.prev = leaf;
        self.frontier.push(leaf);
        self.last_at = Some(at.clone());
        self.next_seq += 1;
        if self.faults.crash_after_events == Some(self.next_seq) {
            // An abrupt, uncooperative stop right after a durable append (drills, crash tests).
            fault::kill_now();
        }
        Ok(Appended {
            seq,
            leaf_hash: leaf,
            at,
        })
    }

    /// Makes this writer's `n`th append (counted from its creation or opening, 1 = the first)
    /// and every later one fail as a full disk would, before anything is written (`None`:
    /// never). The library form of the `fail-append:N` fault, for tests.
    pub fn fail_append_at(&mut self, n: Option<u64>) {
        self.faults.fail_append_at = n;
    }

    /// Kills the process right after the journal holds `n` events (`None`: never); at once if
    /// it already holds that many (e.g. 2: `journal.opened` and `run.started`), as the append
    /// would have.
    pub fn crash_after_events(&mut self, n: Option<u64>) {
        self.faults.crash_after_events = n;
        if n.is_some_and(|n| self.next_seq >= n) {
            fault::kill_now();
        }
    }

    /// Checks that the journal's path still names the file this writer opened (same device
    /// and inode, still linked), as every append does: call it before starting an action.
    /// [`JournalError::Gone`] means the run must stop at once.
    pub fn check_still_open(&self) -> Result<(), JournalError> {
        self.identity.check(true)
    }

    /// The seal for a `run.finished` appended next: every event so far.
    pub fn seal(&self) -> Seal {
        Seal {
            size: self.next_seq,
            root: hex(&self.frontier.root()),
        }
    }

    /// The signed checkpoint text of the journal as it stands; an error only when the signer
    /// cannot sign (a key held by an agent that is gone).
    pub fn checkpoint_text(&self) -> Result<String, SignError> {
        let cp = Checkpoint {
            origin: format!("runledger/{}", self.journal_id),
            size: self.next_seq,
            root: self.frontier.root(),
            extensions: Vec::new(),
        };
        match cp.sign_with(self.key.as_ref()) {
            Ok(text) => Ok(text),
            Err(CheckpointError::Note(NoteError::Sign(e))) => Err(e),
            Err(e) => panic!(
                "a signer's name is a valid note key name and the checkpoint is well formed: {e}"
            ),
        }
    }

    /// Writes the signed checkpoint to `path` atomically (temp file, fsync, rename).
    pub fn write_checkpoint(&self, path: &Path) -> std::io::Result<()> {
        let text = self.checkpoint_text().map_err(std::io::Error::other)?;
        write_atomically(path, text.as_bytes())
    }

    /// Journal id.
    pub fn journal_id(&self) -> &str {
        &self.journal_id
    }

    /// Number of events (the next seq).
    pub fn len(&self) -> u64 {
        self.next_seq
    }

    /// True before journal.opened is written (never, for a created journal).
    pub fn is_empty(&self) -> bool {
        self.next_seq == 0
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What [`Journal::open_verified`] found.
pub enum Opened {
    /// Every event verified: the writer, ready to append after the last one.
    Valid(Box<Journal>),
    /// The journal does not verify under the key given: the verifier's report. Nothing was
    /// opened and the lock is released.
    Refused(Box<Report>),
}

/// The error for a journal [`Opened::Refused`] under the key `given` (its key id):
/// [`JournalError::WrongKey`] when its first failure is an event signed by another key,
/// [`JournalError::Contradicts`] when it verifies but not against a checkpoint, otherwise
/// [`JournalError::Damaged`] at the first failing seq.
pub fn refusal(path: &Path, given: &str, report: &Report) -> JournalError {
    let failure = report.failure.as_ref();
    if let Some(f) = failure.filter(|f| f.check == Check::Checkpoints) {
        return match f.seq {
            Some(seq) => JournalError::Contradicts {
                path: path.display().to_string(),
                seq,
                reason: f.reason.clone(),
            },
            // Not a checkpoint of this journal by its key: no seq to name.
            None => JournalError::Checkpoint {
                path: f.position.clone().unwrap_or_default(),
                journal: path.display().to_string(),
                reason: f.reason.clone(),
            },
        };
    }
    if let Some(f) = failure.filter(|f| f.reason.contains("untrusted key")) {
        return JournalError::WrongKey {
            path: path.display().to_string(),
            expected: f.found.clone().unwrap_or_default(),
            given: given.to_string(),
        };
    }
    JournalError::Damaged {
        path: path.display().to_string(),
        seq: failure.and_then(|f| f.seq).unwrap_or(0),
        reason: failure.map_or_else(|| report.verdict_text.clone(), |f| f.reason.clone()),
    }
}

/// True when the file at `path` holds no journal event: empty, not yet a database, or a
/// database whose creation never committed.
fn holds_no_event(path: &Path) -> bool {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
        return true;
    }
    let Ok(conn) = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return false;
    };
    let tables: rusqlite::Result<i64> = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'events'",
        [],
        |r| r.get(0),
    );
    match tables {
        Ok(0) => true,
        Ok(_) => conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
            .is_ok_and(|n| n == 0),
        Err(_) => false,
    }
}

fn remove_journal_files(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // WAL with synchronous=FULL: a commit returns after the WAL is fsynced.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "journal_mode is {mode}, WAL required"
        )));
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    Ok(())
}

/// WAL frames written in place of zeros before the WAL grows: the automatic checkpoint's
/// threshold (SQLite's default, 1000 pages), after which SQLite starts the WAL over from its
/// beginning, plus room for the frames of the transaction that crosses it.
const WAL_PREALLOCATED_FRAMES: u64 = 1024;

/// Makes the commits that follow overwrite bytes already on disk instead of growing the WAL.
///
/// A commit that appends to the WAL makes the file system allocate blocks and record the new
/// file size before the fsync returns (a metadata journal commit); one that overwrites
/// allocated blocks flushes only the data. So, with no reader in the way, this checkpoints
/// the WAL into the database and truncates it (`wal_checkpoint(TRUNCATE)`, after which SQLite
/// restarts the WAL at its beginning with new salts), then fills it with zeros up to
/// [`WAL_PREALLOCATED_FRAMES`] frames and flushes them. SQLite reads a WAL only up to its
/// first frame whose salt and checksum do not match its header — a zero frame never does —
/// so the zeros are never taken for content, before or after a crash.
///
/// Only a speed-up: if a reader holds the WAL, or the disk has no room for the zeros (they
/// are then removed again), the journal is used as it is.
fn preallocate_wal(conn: &Connection, path: &Path) {
    let checkpointed = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
        r.get::<_, i64>(0)
    });
    if checkpointed != Ok(0) {
        return; // a reader is in the way (busy = 1), or the checkpoint failed
    }
    let page_size: u64 = match conn.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0)) {
        Ok(n) if n > 0 => n as u64,
        _ => return,
    };
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let Ok(mut file) = OpenOptions::new().write(true).open(PathBuf::from(wal)) else {
        return;
    };
    if file.metadata().map_or(true, |m| m.len() != 0) {
        return; // not the empty WAL the checkpoint leaves: leave it to SQLite
    }
    // WAL header (32 bytes), then frames of a 24-byte header and a page each.
    let target = 32 + WAL_PREALLOCATED_FRAMES * (24 + page_size);
    let zeros = vec![0u8; 1 << 16];
    let mut written = 0u64;
    let filled = (|| {
        while written < target {
            let n = zeros.len().min((target - written) as usize);
            file.write_all(&zeros[..n])?;
            written += n as u64;
        }
        file.sync_data()
    })();
    if filled.is_err() {
        // No room: give the space back. The WAL was empty, so nothing of SQLite's is lost.
        let _ = file.set_len(0);
    }
}

/// Writes a file so that readers see either the old or the new content, never a mix.
///
/// The bytes go to `<path>.tmp`, which is synced and closed before it replaces `path`
/// ([`crate::files::replace`]: Windows refuses to rename a file that is still open, and waits
/// are needed there for a reader of the old file to close it); the folder is then synced where
/// that is how a new name becomes durable (unix; on Windows a folder cannot be opened as a
/// file, and NTFS journals the rename itself).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
        // `f` is closed here, before the rename.
    })()
    .and_then(|()| crate::files::replace(&tmp, path));
    if let Err(e) = written {
        // Best effort: the error that matters is the one being returned.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    crate::files::sync_dir(path)
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_atomically_replaces_a_file_that_is_open_for_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        write_atomically(&path, b"first").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        // Someone reads the old version meanwhile (a browser showing the report, a scanner):
        // unix replaces it at once, Windows once the reader has closed it.
        let mut reader = File::open(&path).unwrap();
        let reading = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            let mut old = String::new();
            reader.read_to_string(&mut old).unwrap();
            old
        });
        write_atomically(&path, b"second, longer").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");
        assert_eq!(
            reading.join().unwrap(),
            "first",
            "the reader saw one version whole"
        );
        write_atomically(&path, b"third").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"third");
        assert_eq!(names(dir.path()), ["report.html"], "no temporary file left");
    }

    #[test]
    fn a_failed_replace_keeps_what_was_there_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // A folder holding a file cannot be replaced by a file, on any platform.
        let path = dir.path().join("report.html");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("kept"), "kept").unwrap();
        assert!(write_atomically(&path, b"new").is_err());
        assert_eq!(std::fs::read_to_string(path.join("kept")).unwrap(), "kept");
        assert_eq!(names(dir.path()), ["report.html"], "no temporary file left");
    }
}
