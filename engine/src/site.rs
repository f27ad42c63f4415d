//! The site log as kept on the operator's host, and its witnessing.
//!
//! A site log (format: `runledger_verifier::site`) is a folder created once per site with
//! `runledger site init`: `site.toml` (its origin and signing key), the key, and `site.db`
//! (SQLite: the entries, the size each witness last cosigned, the cosignatures). Every time a
//! journal is witnessed — at the end of each `run`, `resume` or `drill` given a witness policy,
//! and by `runledger checkpoint --witness-policy` — its current tree is appended as a seal, the
//! site checkpoint is signed and submitted to every witness of the policy (C2SP
//! `tlog-witness`), and the cosigned checkpoint with every entry under it is written beside the
//! journal as `<journal>.witnessed.json` for the verifier.
//!
//! Before a seal is appended, the journal is held against its last seal: a journal shorter
//! than what was sealed, or with another root at that size, is refused here, naming the
//! witnesses that cosigned the seal. A site log rolled back behind what a witness cosigned is
//! refused by the witness (409), and said with the witness's recorded size.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension as _, TransactionBehavior};
use serde::{Deserialize, Serialize};

use runledger_verifier::checkpoint::Checkpoint;
use runledger_verifier::cosignature;
use runledger_verifier::keys::PrivateKey;
use runledger_verifier::merkle::{self, Hash};
use runledger_verifier::signing;
use runledger_verifier::site::{EvidenceFile, Seal, EVIDENCE_FORMAT};
use runledger_verifier::source;
use runledger_verifier::witness_policy::Policy;

use crate::keyfile;
use crate::witness::{self, AddError};

/// The configuration file of a site log.
pub const CONFIG_FILE: &str = "site.toml";
/// The SQLite file of a site log.
pub const DB_FILE: &str = "site.db";
/// The key file `runledger site init` generates when no key is given.
pub const KEY_FILE: &str = "site.key";
/// The environment variable naming the site log folder when `--site` is not given.
pub const SITE_ENV: &str = "RUNLEDGER_SITE";
/// How long one witness may take to answer.
pub const WITNESS_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the site log cannot be used, or a journal cannot be witnessed.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// No site log in the folder.
    #[error("no site log in {dir}: create one with `runledger site init --site {dir} --origin ORIGIN`, then give each witness the log line it prints")]
    Missing {
        /// The folder.
        dir: String,
    },
    /// The folder already holds a site log.
    #[error("{dir} already holds a site log ({file}); a site log is created once")]
    Exists {
        /// The folder.
        dir: String,
        /// The file found.
        file: String,
    },
    /// Reading or writing failed.
    #[error("site log {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// The journal contradicts a seal of it the site log holds.
    #[error("journal {journal}: {reason}; nothing was sealed or submitted")]
    Contradicted {
        /// The journal.
        journal: String,
        /// What the seal says and who cosigned it.
        reason: String,
    },
}

fn io(path: &Path, e: impl std::fmt::Display) -> SiteError {
    SiteError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// `site.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// The site log's origin, as witnesses are configured with it.
    pub origin: String,
    /// The signing key file, relative to the site folder unless absolute.
    pub key: String,
}

/// The folder of the site log: `--site`, else `$RUNLEDGER_SITE`, else the user's data folder
/// (`$XDG_DATA_HOME/runledger/site`, `~/.local/share/runledger/site`, or
/// `%APPDATA%\runledger\site`).
pub fn default_dir(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(d) = given {
        return Some(d.to_path_buf());
    }
    if let Some(d) = std::env::var_os(SITE_ENV).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(d));
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local").join("share"))
        })
        .or_else(|| std::env::var_os("APPDATA").map(PathBuf::from))?;
    Some(base.join("runledger").join("site"))
}

/// What `runledger site init` created.
pub struct Created {
    /// The site log as opened.
    pub site: Site,
    /// The key file written, when one was generated.
    pub generated_key: Option<PathBuf>,
}

/// A site log opened for appending.
pub struct Site {
    dir: PathBuf,
    config: SiteConfig,
    key: PrivateKey,
    db: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS witnesses (name TEXT PRIMARY KEY, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cosignatures (
    size INTEGER NOT NULL, witness TEXT NOT NULL, line TEXT NOT NULL, time INTEGER NOT NULL,
    PRIMARY KEY (size, witness));
";

impl Site {
    /// Creates a site log in `dir` with `origin`, signed by the key file `key` or by a key
    /// generated as `dir/site.key`.
    pub fn init(dir: &Path, origin: &str, key: Option<&Path>) -> Result<Created, SiteError> {
        let origin_ok = !origin.is_empty()
            && !origin.bytes().any(|b| b < 0x20)
            && !origin.starts_with("runledger/");
        if !origin_ok {
            return Err(SiteError::Io {
                path: dir.join(CONFIG_FILE).display().to_string(),
                reason: format!("origin {origin:?} must be one line of text, not starting with runledger/ (journals' origins); e.g. example.com/runledger-site"),
            });
        }
        for file in [CONFIG_FILE, DB_FILE] {
            if dir.join(file).exists() {
                return Err(SiteError::Exists {
                    dir: dir.display().to_string(),
                    file: dir.join(file).display().to_string(),
                });
            }
        }
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let (key_text, generated_key) = match key {
            Some(k) => (
                std::path::absolute(k)
                    .unwrap_or_else(|_| k.to_path_buf())
                    .display()
                    .to_string(),
                None,
            ),
            None => {
                let path = dir.join(KEY_FILE);
                keyfile::generate(&path, "site").map_err(|e| io(&path, e))?;
                (KEY_FILE.to_string(), Some(path))
            }
        };
        let config = SiteConfig {
            origin: origin.to_string(),
            key: key_text,
        };
        let text = toml::to_string(&config).map_err(|e| io(&dir.join(CONFIG_FILE), e))?;
        crate::journal::write_atomically(&dir.join(CONFIG_FILE), text.as_bytes())
            .map_err(|e| io(&dir.join(CONFIG_FILE), e))?;
        let site = Site::open(dir)?;
        Ok(Created {
            site,
            generated_key,
        })
    }

    /// Opens the site log in `dir`.
    pub fn open(dir: &Path) -> Result<Site, SiteError> {
        let config_path = dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&config_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SiteError::Missing {
                    dir: dir.display().to_string(),
                })
            }
            Err(e) => return Err(io(&config_path, e)),
        };
        let config: SiteConfig = toml::from_str(&text).map_err(|e| io(&config_path, e))?;
        let key_path = dir.join(&config.key);
        let key = keyfile::load(&key_path).map_err(|e| io(&key_path, e))?;
        let db_path = dir.join(DB_FILE);
        let db = Connection::open(&db_path).map_err(|e| io(&db_path, e))?;
        db.busy_timeout(Duration::from_secs(30))
            .and_then(|_| db.pragma_update(None, "journal_mode", "WAL"))
            .and_then(|_| db.pragma_update(None, "synchronous", "FULL"))
            .and_then(|_| db.execute_batch(SCHEMA))
            .map_err(|e| io(&db_path, e))?;
        Ok(Site {
            dir: dir.to_path_buf(),
            config,
            key,
            db,
        })
    }

    /// The site log's origin.
    pub fn origin(&self) -> &str {
        &self.config.origin
    }

    /// The key that signs the site log.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    fn db_err(&self, e: impl std::fmt::Display) -> SiteError {
        io(&self.dir.join(DB_FILE), e)
    }

    /// Every entry, in order.
    pub fn entries(&self) -> Result<Vec<String>, SiteError> {
        let mut stmt = self
            .db
            .prepare("SELECT entry FROM entries ORDER BY idx")
            .map_err(|e| self.db_err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.db_err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.db_err(e))
    }

    /// The seals of the journal `origin` with their index, in order.
    pub fn seals_of(&self, journal: &str) -> Result<Vec<(u64, Seal)>, SiteError> {
        let mut out = Vec::new();
        for (i, entry) in self.entries()?.iter().enumerate() {
            let seal = Seal::parse(entry, i as u64).map_err(|e| self.db_err(e))?;
            if seal.journal == journal {
                out.push((i as u64, seal));
            }
        }
        Ok(out)
    }

    /// The witnesses that cosigned a site checkpoint at `size` or larger, with the smallest
    /// such size: who vouches for an entry below `size`.
    fn cosigners_from(&self, size: u64) -> Result<Vec<(String, u64)>, SiteError> {
        let mut stmt = self
            .db
            .prepare("SELECT witness, MIN(size) FROM cosignatures WHERE size >= ?1 GROUP BY witness ORDER BY witness")
            .map_err(|e| self.db_err(e))?;
        let rows = stmt
            .query_map([size as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(|e| self.db_err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.db_err(e))
    }

    /// Holds the journal at `journal_path`, as it stands, against its last seal in the site log
    /// and returns its seal now: a journal shorter than what was sealed, or with another root
    /// at that size, is refused, naming the witnesses that cosigned the seal. The flag says
    /// whether the last seal is already exactly this one.
    pub fn hold(&self, journal_path: &Path) -> Result<(Seal, bool), SiteError> {
        let (journal_id, leaves) = journal_leaves(journal_path)?;
        let origin = format!("runledger/{journal_id}");
        let total = leaves.len() as u64;
        let seal = Seal {
            journal: origin.clone(),
            size: total,
            root: merkle::root_from_leaves(&leaves),
        };
        let Some((index, last)) = self.seals_of(&origin)?.pop() else {
            return Ok((seal, false));
        };
        let holds = last.size <= total
            && merkle::root_from_leaves(&leaves[..last.size as usize]) == last.root;
        if holds {
            return Ok((seal, last.size == total));
        }
        let cosigners = self.cosigners_from(index + 1)?;
        let who = if cosigners.is_empty() {
            "not yet cosigned by any witness".to_string()
        } else {
            format!(
                "cosigned by {}",
                cosigners
                    .iter()
                    .map(|(w, s)| format!("witness {w} (site log size {s})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let what = if last.size > total {
            format!("it now holds {total} events: it was cut")
        } else {
            format!(
                "its first {} events now have another root: they were rewritten",
                last.size
            )
        };
        Err(SiteError::Contradicted {
            journal: journal_path.display().to_string(),
            reason: format!(
                "site log {} entry {index} sealed it at {} events, {who}; {what}",
                self.config.origin, last.size
            ),
        })
    }

    /// Appends `seal` and returns the site log's size after it.
    pub fn append(&mut self, seal: &Seal) -> Result<u64, SiteError> {
        let db_path = self.dir.join(DB_FILE);
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| io(&db_path, e))?;
        let size: i64 = tx
            .query_row("SELECT COUNT(*) FROM entries", [], |r| r.get(0))
            .map_err(|e| io(&db_path, e))?;
        tx.execute(
            "INSERT INTO entries (idx, entry) VALUES (?1, ?2)",
            params![size, seal.entry()],
        )
        .and_then(|_| tx.commit())
        .map_err(|e| io(&db_path, e))?;
        Ok(size as u64 + 1)
    }

    /// Entries in the site log.
    pub fn size(&self) -> Result<u64, SiteError> {
        self.db
            .query_row("SELECT COUNT(*) FROM entries", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.db_err(e))
    }

    /// The site log as it stands: its entries, their leaf hashes, and its checkpoint signed
    /// by the site key — read, hashed and signed once for a submission and its evidence.
    pub fn tree(&self) -> Result<SiteTree, SiteError> {
        let entries = self.entries()?;
        let leaves: Vec<Hash> = entries
            .iter()
            .map(|e| merkle::leaf_hash(e.as_bytes()))
            .collect();
        let checkpoint = Checkpoint {
            origin: self.config.origin.clone(),
            size: leaves.len() as u64,
            root: merkle::root_from_leaves(&leaves),
            extensions: Vec::new(),
        };
        let note = checkpoint
            .sign_with(&self.key)
            .expect("a site origin checked at init and a key name from a key file");
        Ok(SiteTree {
            entries,
            leaves,
            body: checkpoint.body(),
            note,
        })
    }

    /// Submits the site checkpoint of `tree` to every witness of `policy` and records the
    /// cosignatures they return.
    pub fn submit(&mut self, tree: &SiteTree, policy: &Policy) -> Submitted {
        let mut cosigned = Vec::new();
        let mut failures = Vec::new();
        for w in policy.witnesses() {
            let Some(url) = w.url.as_deref() else {
                failures.push(format!(
                    "witness {}: the policy gives no URL to submit to",
                    w.name
                ));
                continue;
            };
            match self.submit_one(&w.name, &w.key, url, tree) {
                Ok(time) => cosigned.push((w.name.clone(), time)),
                Err(reason) => failures.push(format!("witness {} ({url}): {reason}", w.name)),
            }
        }
        let names: BTreeSet<String> = cosigned.iter().map(|(n, _)| n.clone()).collect();
        Submitted {
            size: tree.leaves.len() as u64,
            quorum: policy.quorum(&names),
            cosigned,
            failures,
        }
    }

    fn submit_one(
        &mut self,
        name: &str,
        key: &cosignature::WitnessKey,
        url: &str,
        tree: &SiteTree,
    ) -> Result<u64, String> {
        let size = tree.leaves.len() as u64;
        let mut old = self
            .db
            .query_row("SELECT size FROM witnesses WHERE name = ?1", [name], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .map_err(|e| e.to_string())?
            .map_or(0, |s| s as u64);
        let mut retried = false;
        let lines = loop {
            if old > size {
                return Err(format!(
                    "it has cosigned {old} entries of site log {} but this site log holds {size}: the site log was rolled back or forked; nothing is witnessed",
                    self.config.origin
                ));
            }
            // Empty from nothing or to the same size (RFC 9162 §2.1.4).
            let proof = merkle::consistency_proof(&tree.leaves, old).map_err(|e| e.to_string())?;
            match witness::add_checkpoint(url, old, &proof, &tree.note, WITNESS_TIMEOUT) {
                Ok(lines) => break lines,
                Err(AddError::Conflict { size: theirs, .. }) if theirs > size => {
                    return Err(format!(
                        "refused (409): it has cosigned {theirs} entries of site log {} but this site log holds {size}: the site log was rolled back or forked; nothing is witnessed",
                        self.config.origin
                    ));
                }
                Err(AddError::Conflict { size: theirs, .. }) if retried || theirs == old => {
                    return Err(format!(
                        "refused (409): it has cosigned another history of site log {} at {theirs} entries than the one this site log holds: the site log was rolled back and appended to (forked); nothing is witnessed",
                        self.config.origin
                    ));
                }
                Err(AddError::Conflict { size: theirs, .. }) => {
                    // Our record of its size is behind (another host of the site submitted
                    // meanwhile): prove consistency from the size it holds.
                    retried = true;
                    old = theirs;
                }
                Err(e) => return Err(e.to_string()),
            }
        };
        // Keep only a cosignature that verifies: a witness answering with anything else has
        // not witnessed this checkpoint.
        let sigs = cosignature::parse_lines(&lines)
            .map_err(|e| format!("its answer is not a cosignature: {e}"))?;
        // One parsed signature per line of the answer, in order.
        let found = sigs.iter().zip(lines.lines()).find_map(|(sig, line)| {
            cosignature::verify(&tree.body, sig, key)
                .ok()
                .map(|time| (time, line.to_string()))
        });
        let Some((time, line)) = found else {
            return Err(format!(
                "its answer holds no cosignature that verifies with its key in the policy ({} line(s) returned)",
                sigs.len()
            ));
        };
        let tx = self.db.transaction().map_err(|e| e.to_string())?;
        tx.execute(
            "INSERT OR REPLACE INTO cosignatures (size, witness, line, time) VALUES (?1, ?2, ?3, ?4)",
            params![size as i64, name, line, time as i64],
        )
        .and_then(|_| {
            tx.execute(
                "INSERT INTO witnesses (name, size) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET size = MAX(size, excluded.size)",
                params![name, size as i64],
            )
        })
        .and_then(|_| tx.commit())
        .map_err(|e| e.to_string())?;
        Ok(time)
    }

    /// The evidence for the verifier: the site checkpoint of `tree` with every cosignature
    /// recorded for it, and its entries.
    pub fn evidence(&self, tree: SiteTree) -> Result<EvidenceFile, SiteError> {
        let mut checkpoint = tree.note;
        let mut stmt = self
            .db
            .prepare("SELECT line FROM cosignatures WHERE size = ?1 ORDER BY witness")
            .map_err(|e| self.db_err(e))?;
        let lines: Vec<String> = stmt
            .query_map([tree.leaves.len() as i64], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.db_err(e))?;
        for line in lines {
            checkpoint.push_str(&line);
            checkpoint.push('\n');
        }
        Ok(EvidenceFile {
            format: EVIDENCE_FORMAT.into(),
            checkpoint,
            entries: tree.entries,
        })
    }

    /// The line a witness is configured with for this site log: origin and the site key's
    /// trusted-keys line.
    pub fn witness_config_line(&self) -> String {
        format!(
            "{} {}",
            self.config.origin,
            runledger_verifier::keys::trusted_key_line(
                &self.key.name,
                &self.key.key.verifying_key()
            )
        )
    }
}

/// What the witnesses of a policy said of one site checkpoint.
#[derive(Debug)]
pub struct Submitted {
    /// The site log size submitted.
    pub size: u64,
    /// Witnesses whose cosignature verified, with its time.
    pub cosigned: Vec<(String, u64)>,
    /// One line per witness that did not cosign.
    pub failures: Vec<String>,
    /// Whether their cosignatures meet the policy's quorum.
    pub quorum: runledger_verifier::witness_policy::QuorumResult,
}

/// The site log as read for one submission.
pub struct SiteTree {
    /// Every entry, in order.
    pub entries: Vec<String>,
    /// Their RFC 9162 leaf hashes.
    pub leaves: Vec<Hash>,
    /// The site checkpoint's body (what witnesses cosign).
    pub body: String,
    /// The site checkpoint signed by the site key.
    pub note: String,
}

/// A journal witnessed through the site log.
#[derive(Debug)]
pub struct Witnessed {
    /// The journal's seal.
    pub seal: Seal,
    /// What the witnesses said of the site checkpoint that holds it.
    pub submitted: Submitted,
    /// The evidence file written beside the journal.
    pub evidence: PathBuf,
}

/// The journal's id and the leaf hash of each of its events, computed from the event bytes.
pub fn journal_leaves(path: &Path) -> Result<(String, Vec<Hash>), SiteError> {
    let format = source::detect(path).map_err(|e| io(path, e))?;
    let mut leaves = Vec::new();
    let mut id = None;
    source::for_each_record(path, format, |r| {
        if id.is_none() {
            id = crate::checkpoints::journal_id_of(&r.event);
        }
        leaves.push(signing::event_leaf_hash(&r.event));
        true
    })
    .map_err(|e| io(path, e))?;
    let id = id.ok_or_else(|| io(path, "holds no event naming its journal id"))?;
    Ok((id, leaves))
}

/// Witnesses the journal at `journal` through the site log in `site_dir`: holds it against
/// its last seal, seals it as it stands, submits the site checkpoint to the witnesses of
/// `policy` and writes `<journal>.witnessed.json`.
pub fn witness_journal(
    site_dir: &Path,
    journal: &Path,
    policy: &Policy,
) -> Result<Witnessed, SiteError> {
    let mut site = Site::open(site_dir)?;
    let (seal, sealed) = site.hold(journal)?;
    if !sealed {
        site.append(&seal)?;
    }
    let tree = site.tree()?;
    let submitted = site.submit(&tree, policy);
    let evidence = site.evidence(tree)?;
    let path = runledger_verifier::site::evidence_path(journal);
    let mut text = serde_json::to_string_pretty(&evidence).map_err(|e| io(&path, e))?;
    text.push('\n');
    crate::journal::write_atomically(&path, text.as_bytes()).map_err(|e| io(&path, e))?;
    Ok(Witnessed {
        seal,
        submitted,
        evidence: path,
    })
}
