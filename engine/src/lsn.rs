//! Log sequence numbers and the choice of log backups to restore.
//!
//! This module decides which log backups apply to a database and in what order, from their
//! `RESTORE HEADERONLY` LSNs alone — never from file names or times, which do not sort in LSN
//! order when two servers (a primary and its mirror) wrote the files. It never touches a file
//! or a server: it works on recorded headers, so replay reaches the same choice.

use serde::{Deserialize, Serialize};

/// The LSN type is the journal format's: the engine compares what it records the way a
/// verifier reads it.
pub use runledger_verifier::lsn::Lsn;

/// The header fields of one log backup file that the choice depends on, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupHeader {
    /// File name in its folder.
    pub file: String,
    /// Full path as the server reads it.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    /// `BackupType` (2 = transaction log).
    pub backup_type: i64,
    /// `DatabaseName`.
    pub database: String,
    /// `ServerName`: which primary wrote it.
    pub server: String,
    /// `FirstLSN`, decimal.
    pub first_lsn: String,
    /// `LastLSN`, decimal (exclusive end).
    pub last_lsn: String,
    /// `DatabaseBackupLSN`, decimal.
    pub database_backup_lsn: String,
    /// `BackupStartDate`.
    pub backup_start: String,
    /// `BackupFinishDate` (the writer's local time).
    #[serde(default)]
    pub backup_finish: String,
    /// `FamilyGUID`.
    pub family_guid: String,
    /// `FirstRecoveryForkID`: the recovery fork the set starts on.
    #[serde(default)]
    pub first_fork: String,
}

impl BackupHeader {
    /// FirstLSN (0 when unreadable).
    pub fn first(&self) -> Lsn {
        Lsn::parse(&self.first_lsn).unwrap_or(Lsn(0))
    }

    /// LastLSN (0 when unreadable).
    pub fn last(&self) -> Lsn {
        Lsn::parse(&self.last_lsn).unwrap_or(Lsn(0))
    }
}

/// What to restore next, given where the database stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainPlan {
    /// Indexes into the headers, in the order to restore.
    pub apply: Vec<usize>,
    /// Files whose logs the database already contains (`LastLSN <= ` the restore point).
    pub already_applied: Vec<usize>,
    /// Files that are not log backups of the database (wrong type or database), or empty.
    pub ignored: Vec<usize>,
    /// A break in the chain after the files of `apply`, if any.
    pub gap: Option<Gap>,
}

/// A missing stretch of log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The database can be rolled forward to here (exclusive).
    pub reached: Lsn,
    /// The next file available begins here; the log from `reached` to `next_first` is missing.
    pub next_first: Lsn,
    /// That next file.
    pub next_file: String,
}

/// Chooses and orders the log backups that apply after `redo_start` (the database's
/// `redo_start_lsn`): a file applies when `FirstLSN <= point < LastLSN`, and the point then
/// moves to its `LastLSN`. Files are considered in (`LastLSN`, `FirstLSN`) order.
pub fn plan_chain(redo_start: Lsn, database: &str, headers: &[BackupHeader]) -> ChainPlan {
    let mut candidates: Vec<usize> = Vec::new();
    let mut ignored = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let valid = h.backup_type == 2
            && h.database.eq_ignore_ascii_case(database)
            && Lsn::parse(&h.first_lsn).is_some()
            && Lsn::parse(&h.last_lsn).is_some()
            && h.first() < h.last();
        if valid {
            candidates.push(i);
        } else {
            ignored.push(i);
        }
    }
    candidates.sort_by_key(|&i| {
        (
            headers[i].last(),
            headers[i].first(),
            headers[i].file.clone(),
        )
    });
    let mut point = redo_start;
    let mut apply = Vec::new();
    let mut already_applied = Vec::new();
    let mut gap = None;
    for i in candidates {
        let h = &headers[i];
        if h.last() <= point {
            already_applied.push(i);
        } else if h.first() <= point {
            apply.push(i);
            point = h.last();
        } else {
            gap = Some(Gap {
                reached: point,
                next_first: h.first(),
                next_file: h.file.clone(),
            });
            break;
        }
    }
    ChainPlan {
        apply,
        already_applied,
        ignored,
        gap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(file: &str, first: u128, last: u128) -> BackupHeader {
        BackupHeader {
            file: file.into(),
            path: format!("/d/{file}"),
            size: 1,
            sha256: String::new(),
            backup_type: 2,
            database: "mgc".into(),
            server: "PRI".into(),
            first_lsn: first.to_string(),
            last_lsn: last.to_string(),
            database_backup_lsn: "1".into(),
            backup_start: String::new(),
            backup_finish: String::new(),
            family_guid: String::new(),
            first_fork: String::new(),
        }
    }

    #[test]
    fn orders_by_lsn_not_by_name() {
        // The mirror's file sorts first by name but comes second in the chain.
        let headers = vec![
            h("a_mirror.trn", 300, 400),
            h("z_primary.trn", 200, 300),
            h("m.trn", 100, 200),
        ];
        let plan = plan_chain(Lsn(150), "mgc", &headers);
        assert_eq!(plan.apply, vec![2, 1, 0]);
        assert!(plan.gap.is_none());
    }

    #[test]
    fn skips_what_is_contained_and_stops_at_a_gap() {
        let headers = vec![h("1", 100, 200), h("2", 200, 300), h("4", 400, 500)];
        let plan = plan_chain(Lsn(200), "mgc", &headers);
        assert_eq!(plan.already_applied, vec![0]);
        assert_eq!(plan.apply, vec![1]);
        assert_eq!(
            plan.gap,
            Some(Gap {
                reached: Lsn(300),
                next_first: Lsn(400),
                next_file: "4".into()
            })
        );
    }

    #[test]
    fn ignores_other_databases_other_types_and_empty_logs() {
        let mut other = h("o", 100, 200);
        other.database = "mgccomp".into();
        let mut full = h("f", 100, 200);
        full.backup_type = 1;
        let headers = vec![other, full, h("e", 150, 150), h("ok", 100, 200)];
        let plan = plan_chain(Lsn(120), "mgc", &headers);
        assert_eq!(plan.ignored, vec![0, 1, 2]);
        assert_eq!(plan.apply, vec![3]);
    }
}
