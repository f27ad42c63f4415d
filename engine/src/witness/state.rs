//! The witness's record of each log: the size and root of the latest checkpoint it cosigned,
//! in SQLite, checked and moved forward in one transaction.
//!
//! The check of the old size against the record and the write of the new record are one
//! `BEGIN IMMEDIATE` transaction, committed (WAL, `synchronous=FULL`: on disk) before the
//! caller cosigns; two requests from the same old size cannot both pass. It never moves a log
//! backwards: a new record is only written over the size it was proven consistent with.

use std::path::Path;

use runledger_verifier::merkle::{self, Hash};
use rusqlite::{params, Connection, OptionalExtension as _, TransactionBehavior};

/// What the record says to a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Consistent and recorded (committed): cosign it.
    Cosign,
    /// The old size is not the recorded one, or the same size has another root: the witness
    /// holds `size`.
    Conflict {
        /// The recorded size (0 for a log never cosigned).
        size: u64,
    },
    /// The consistency proof from the recorded checkpoint does not verify.
    BadProof {
        /// Why.
        reason: String,
    },
}

/// The open state database.
pub struct State {
    conn: Connection,
}

impl State {
    /// Opens (creating if needed) the state database at `path`.
    pub fn open(path: &Path) -> rusqlite::Result<State> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch(
            "PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS witnessed (
                 origin     TEXT PRIMARY KEY,
                 size       INTEGER NOT NULL CHECK (size >= 0),
                 root       BLOB NOT NULL CHECK (length(root) = 32),
                 checkpoint TEXT NOT NULL,
                 cosigned_at INTEGER NOT NULL
             );",
        )?;
        Ok(State { conn })
    }

    /// The recorded size and root of `origin`, if any.
    #[cfg(test)]
    pub fn get(&self, origin: &str) -> rusqlite::Result<Option<(u64, Hash)>> {
        read(&self.conn, origin)
    }

    /// Checks `old_size` against the record of `origin` and the consistency `proof` from the
    /// recorded checkpoint to the new one (`size`, `root`), and records the new one (its note
    /// text `body`, at `now`), atomically. Sizes must fit in an i64 (the caller checks).
    #[allow(clippy::too_many_arguments)]
    pub fn check_and_update(
        &mut self,
        origin: &str,
        old_size: u64,
        size: u64,
        root: &Hash,
        proof: &[Hash],
        body: &str,
        now: u64,
    ) -> rusqlite::Result<Decision> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let recorded = read(&tx, origin)?;
        let recorded_size = recorded.map_or(0, |(s, _)| s);
        if old_size != recorded_size {
            return Ok(Decision::Conflict {
                size: recorded_size,
            });
        }
        let old_root = match recorded {
            Some((_, r)) => r,
            None => merkle::empty_root(),
        };
        if old_size == size && recorded.is_some() && old_root != *root {
            // The same size with another root: a fork, reported as the spec asks.
            return Ok(Decision::Conflict {
                size: recorded_size,
            });
        }
        if let Err(e) = merkle::verify_consistency(old_size, size, &old_root, root, proof) {
            return Ok(Decision::BadProof {
                reason: e.to_string(),
            });
        }
        tx.execute(
            "INSERT INTO witnessed (origin, size, root, checkpoint, cosigned_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (origin) DO UPDATE SET
                 size = excluded.size, root = excluded.root,
                 checkpoint = excluded.checkpoint, cosigned_at = excluded.cosigned_at
             WHERE excluded.size >= witnessed.size",
            params![
                origin,
                i64::try_from(size).unwrap_or(i64::MAX),
                root.as_slice(),
                body,
                i64::try_from(now).unwrap_or(i64::MAX)
            ],
        )?;
        tx.commit()?;
        Ok(Decision::Cosign)
    }
}

fn read(conn: &Connection, origin: &str) -> rusqlite::Result<Option<(u64, Hash)>> {
    conn.query_row(
        "SELECT size, root FROM witnessed WHERE origin = ?1",
        [origin],
        |r| {
            let size: i64 = r.get(0)?;
            let root: Vec<u8> = r.get(1)?;
            Ok((size, root))
        },
    )
    .optional()?
    .map(|(size, root)| {
        let root = Hash::try_from(root.as_slice()).map_err(|_| {
            rusqlite::Error::InvalidColumnType(1, "root".into(), rusqlite::types::Type::Blob)
        })?;
        Ok((u64::try_from(size).unwrap_or(0), root))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use runledger_verifier::merkle::{consistency_proof, leaf_hash, root_from_leaves};

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&[i as u8])).collect()
    }

    #[test]
    fn moves_forward_only_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let l = leaves(8);
        let mut s = State::open(&path).unwrap();
        let r3 = root_from_leaves(&l[..3]);
        assert_eq!(
            s.check_and_update("o", 0, 3, &r3, &[], "b", 1).unwrap(),
            Decision::Cosign
        );
        // Same size, same root: cosigned again; another root: conflict.
        assert_eq!(
            s.check_and_update("o", 3, 3, &r3, &[], "b", 2).unwrap(),
            Decision::Cosign
        );
        let other = root_from_leaves(&leaves(4)[1..4]);
        assert_eq!(
            s.check_and_update("o", 3, 3, &other, &[], "b", 2).unwrap(),
            Decision::Conflict { size: 3 }
        );
        let r8 = root_from_leaves(&l);
        let p = consistency_proof(&l, 3).unwrap();
        assert!(matches!(
            s.check_and_update("o", 3, 8, &r8, &p[1..], "b", 3).unwrap(),
            Decision::BadProof { .. }
        ));
        assert_eq!(
            s.check_and_update("o", 0, 8, &r8, &[], "b", 3).unwrap(),
            Decision::Conflict { size: 3 }
        );
        assert_eq!(
            s.check_and_update("o", 3, 8, &r8, &p, "b", 3).unwrap(),
            Decision::Cosign
        );
        drop(s);
        let s = State::open(&path).unwrap();
        assert_eq!(s.get("o").unwrap(), Some((8, r8)));
        assert_eq!(s.get("other").unwrap(), None);
    }
}
