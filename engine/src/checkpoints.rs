//! The checkpoint history of a journal: every checkpoint a run signs, kept beside the journal
//! and never overwritten, and the checkpoints a run or resume holds the journal against
//! before it acts.
//!
//! A run signs a checkpoint after every event it appends and keeps each one as
//! `<journal>.checkpoints/<size>.txt` (the journal's file name with `.checkpoints` appended;
//! `journal.db.checkpoints/75.txt` covers seq 0..74). `checkpoint.txt` beside the journal
//! stays the latest copy for the operator to hand over; the history is what makes a cut or a
//! rewrite of the journal visible to the next `resume` even when `checkpoint.txt` was
//! replaced, and, being one checkpoint per event, pins the first seq that differs.
//!
//! This module never deletes or replaces a kept checkpoint: a checkpoint of the same size with
//! other content is an error, reported and left in place.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use runledger_verifier::checkpoint;
use runledger_verifier::source::{self, Format};

/// `<journal>.checkpoints`: where the checkpoints of the journal at `journal` are kept.
pub fn history_dir(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".checkpoints");
    PathBuf::from(name)
}

/// `checkpoint.txt` beside the journal: the latest checkpoint, for the operator to hand over.
pub fn latest_path(journal: &Path) -> PathBuf {
    journal
        .parent()
        .unwrap_or(Path::new("."))
        .join("checkpoint.txt")
}

/// The kept checkpoints of `journal`, as `(size, path)` in increasing size. A missing folder
/// is an empty history; files other than `<size>.txt` are ignored (a temporary file left by a
/// crash among them).
pub fn kept(journal: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let dir = history_dir(journal);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display()))),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(size) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".txt"))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((size, entry.path()));
    }
    out.sort();
    Ok(out)
}

/// Why the checkpoints to hold a journal against could not be gathered.
#[derive(Debug, thiserror::Error)]
#[error("cannot read checkpoint {path}: {source}")]
pub struct GatherError {
    /// The checkpoint file or folder.
    pub path: String,
    /// The error.
    pub source: io::Error,
}

/// Every checkpoint to hold `journal` against before appending to it, as `(name, text)` for
/// the verifier, smallest first: its kept history, `checkpoint.txt` beside it when that names
/// this journal (the file is shared by the journals of one folder), and the files `given`.
pub fn gather(journal: &Path, given: &[PathBuf]) -> Result<Vec<(String, String)>, GatherError> {
    let read = |path: &Path| {
        fs::read_to_string(path).map_err(|source| GatherError {
            path: path.display().to_string(),
            source,
        })
    };
    let mut out = Vec::new();
    let history = kept(journal).map_err(|source| GatherError {
        path: history_dir(journal).display().to_string(),
        source,
    })?;
    for (_, path) in &history {
        out.push((path.display().to_string(), read(path)?));
    }
    let latest = latest_path(journal);
    if let (Ok(text), Some(id)) = (fs::read_to_string(&latest), journal_id(journal)) {
        let mine = checkpoint::parse_signed(&text)
            .is_ok_and(|s| s.checkpoint.origin == format!("runledger/{id}"));
        if mine {
            out.push((latest.display().to_string(), text));
        }
    }
    for path in given {
        out.push((path.display().to_string(), read(path)?));
    }
    Ok(out)
}

/// The journal id its first event claims (unverified: only to tell whose `checkpoint.txt` it
/// is; the verifier checks everything it is then given).
fn journal_id(journal: &Path) -> Option<String> {
    let mut id = None;
    source::for_each_record(journal, Format::Sqlite, |r| {
        id = journal_id_of(&r.event);
        false
    })
    .ok()?;
    id
}

/// The journal id an event's bytes name (unverified).
pub(crate) fn journal_id_of(event: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(event)
        .ok()
        .and_then(|e| e["journal"].as_str().map(str::to_string))
}

/// Writes `bytes` to `path` once: whole to a temporary file beside it, flushed to disk, then
/// linked under its final name, which never replaces a file — an existing one is left as it
/// is and the error is [`io::ErrorKind::AlreadyExists`] (other errors are as the OS gave
/// them, for the caller to name the file).
pub fn write_once(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| with_path(e, dir))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::hard_link(&tmp, path)
    })();
    let _ = fs::remove_file(&tmp);
    if written.is_ok() {
        // Best effort: the journal, not the checkpoint, is the record.
        let _ = crate::files::sync_dir(path);
    }
    written
}

/// Keeps the checkpoint of a journal's first `size` events in its history ([`write_once`]):
/// a checkpoint of that size already kept with the same text is left as it is, one with
/// another text is an error (it is evidence; it stays).
pub fn keep(journal: &Path, size: u64, text: &str) -> io::Result<PathBuf> {
    let path = history_dir(journal).join(format!("{size}.txt"));
    match write_once(&path, text.as_bytes()) {
        Ok(()) => Ok(path),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if fs::read_to_string(&path).is_ok_and(|t| t == text) {
                Ok(path)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} already holds another checkpoint of {size} events; it is kept as it is",
                        path.display()
                    ),
                ))
            }
        }
        Err(e) => Err(with_path(e, &path)),
    }
}

/// A run's checkpoints: each event's kept in the history, the latest copied to
/// `checkpoint.txt`. Writing them is best effort — the journal is the record — but a failure is
/// said, and `checkpoint.txt` is named afterwards only while it is current.
pub struct Keeper {
    journal: PathBuf,
    latest: PathBuf,
    /// The last checkpoint kept: its size and signed text.
    kept: Option<(u64, String)>,
    latest_current: bool,
    warned: bool,
}

impl Keeper {
    /// The checkpoints of the journal at `journal`.
    pub fn new(journal: &Path) -> Keeper {
        Keeper {
            journal: journal.to_path_buf(),
            latest: latest_path(journal),
            kept: None,
            latest_current: false,
            warned: false,
        }
    }

    /// Keeps the checkpoint of the journal's first `size` events (`text`, signed) in the
    /// history, unless it was the last one kept. Returns the warning to show the first time
    /// keeping fails.
    pub fn keep(&mut self, size: u64, text: &str) -> Option<String> {
        if self.kept_text(size).is_some() {
            return None;
        }
        match keep(&self.journal, size, text) {
            Ok(_) => {
                self.kept = Some((size, text.to_owned()));
                None
            }
            Err(e) if !self.warned => {
                self.warned = true;
                Some(format!(
                    "warning: cannot keep checkpoint {}: {e}; the history of checkpoints beside the journal is incomplete",
                    history_dir(&self.journal).join(format!("{size}.txt")).display()
                ))
            }
            Err(_) => None,
        }
    }

    /// The signed text of the checkpoint of `size` events, when it is the last one kept: a
    /// journal that has not grown since is not signed again.
    pub fn kept_text(&self, size: u64) -> Option<&str> {
        match &self.kept {
            Some((kept, text)) if *kept == size => Some(text),
            _ => None,
        }
    }

    /// Where the latest checkpoint is copied (`checkpoint.txt`).
    pub fn latest(&self) -> &Path {
        &self.latest
    }

    /// Records whether the last copy to [`Keeper::latest`] succeeded.
    pub fn set_latest_current(&mut self, current: bool) {
        self.latest_current = current;
    }

    /// `checkpoint.txt`, if it holds the checkpoint last written (None after a failed write).
    pub fn latest_if_current(&self) -> Option<&Path> {
        self.latest_current.then_some(self.latest.as_path())
    }
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_checkpoints_are_never_overwritten_and_listed_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal.db");
        assert!(kept(&journal).unwrap().is_empty());
        keep(&journal, 10, "ten\n").unwrap();
        keep(&journal, 9, "nine\n").unwrap();
        keep(&journal, 10, "ten\n").expect("the same checkpoint again is no change");
        let e = keep(&journal, 10, "another ten\n").unwrap_err();
        assert!(e.to_string().contains("10.txt already holds"), "{e}");
        assert_eq!(
            fs::read_to_string(history_dir(&journal).join("10.txt")).unwrap(),
            "ten\n"
        );
        fs::write(history_dir(&journal).join(".11.txt.1.tmp"), "x").unwrap();
        fs::write(history_dir(&journal).join("notes.txt"), "x").unwrap();
        let sizes: Vec<u64> = kept(&journal).unwrap().iter().map(|(s, _)| *s).collect();
        assert_eq!(sizes, [9, 10]);
        assert_eq!(
            history_dir(&journal),
            dir.path().join("journal.db.checkpoints")
        );
    }
}
