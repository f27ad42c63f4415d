//! The recovery point of a run and what reaching it costs: the LSN the database is rolled
//! forward to, the last log backup that brings it there (with its `BackupFinishDate`), and
//! every backup file that was not applied and why.
//!
//! Each decision to accept data loss is preceded by a `data_loss` observation holding a
//! [`DataLoss`]: the journal then states, in structured form, which files the decision gives
//! up and where the database will stand. The run keeps a [`Ledger`] of these (rebuilt the same
//! way when a run is replayed) so that the recovery's approval can say what it costs. This
//! module never decides anything: it keeps and words the facts.

use serde::{Deserialize, Serialize};

pub use runledger_verifier::event::DATA_LOSS_OBSERVATION;

/// Where the database stands, or will stand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryPoint {
    /// The LSN the database is rolled forward to (decimal).
    pub lsn: String,
    /// The last log backup that brings it there, when known.
    #[serde(default)]
    pub file: Option<String>,
    /// That backup's `BackupFinishDate` (the primary's local time), when known.
    #[serde(default)]
    pub backup_finish_date: Option<String>,
}

/// A backup file (or a stretch of log) that is not applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotApplied {
    /// The file's name, or a description of the missing stretch when no file holds it.
    pub file: String,
    /// Why, in one line.
    pub reason: String,
    /// SQL Server's error number, when one said so.
    #[serde(default)]
    pub error: Option<i64>,
    /// The file's FirstLSN, when its header could be read.
    #[serde(default)]
    pub first_lsn: Option<String>,
    /// The file's LastLSN, when its header could be read.
    #[serde(default)]
    pub last_lsn: Option<String>,
}

impl NotApplied {
    /// `file: reason (error N)`.
    pub fn line(&self) -> String {
        match self.error {
            Some(n) => format!("{}: {} (error {n})", self.file, self.reason),
            None => format!("{}: {}", self.file, self.reason),
        }
    }
}

/// What accepting a data loss gives up: the `data_loss` observation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataLoss {
    /// The database that loses data.
    pub database: String,
    /// Where it will stand.
    pub recovery_point: RecoveryPoint,
    /// What is not applied.
    pub not_applied: Vec<NotApplied>,
}

impl DataLoss {
    /// The decision's text: the files, the errors and the recovery point it implies.
    pub fn text(&self) -> String {
        let files: Vec<String> = self.not_applied.iter().map(NotApplied::line).collect();
        format!(
            "{} cannot be rolled forward past LSN {}: {}; recovering it there loses every transaction after {}",
            self.database,
            self.recovery_point.lsn,
            files.join("; "),
            point_words(&self.recovery_point),
        )
    }
}

fn point_words(p: &RecoveryPoint) -> String {
    match (&p.file, &p.backup_finish_date) {
        (Some(f), Some(t)) => format!("the end of {f} (BackupFinishDate {t})"),
        (Some(f), None) => format!("the end of {f}"),
        _ => format!("LSN {}", p.lsn),
    }
}

/// What a run knows about its recovery point, kept as steps run (and replay).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// When the operator declared the primary down (the journal's time of that approval).
    pub failure_declared_at: Option<String>,
    /// Where the database stands after the last log applied, when known.
    pub point: Option<RecoveryPoint>,
    /// Every file not applied, once each, in the order they were found.
    pub not_applied: Vec<NotApplied>,
}

impl Ledger {
    /// Adds the files a data-loss observation lists (each file once).
    pub fn note(&mut self, loss: &DataLoss) {
        for f in &loss.not_applied {
            if !self.not_applied.iter().any(|x| x.file == f.file) {
                self.not_applied.push(f.clone());
            }
        }
    }

    /// The recovery point objective in words: the time from the last applied log's finish to
    /// the declared failure, or why it cannot be said.
    pub fn rpo(&self) -> String {
        let finish = self
            .point
            .as_ref()
            .and_then(|p| p.backup_finish_date.clone());
        match (finish, &self.failure_declared_at) {
            (Some(f), Some(declared)) => match (sql_time_micros(&f), rfc3339_micros(declared)) {
                (Some(a), Some(b)) if b >= a => format!(
                    "{} (from {f}, when the last applied log finished on the primary's clock, taken as UTC, to {declared}, when the failure was declared)",
                    words((b - a) as u64)
                ),
                _ => format!("not computable from {f} and {declared}"),
            },
            (None, _) => "unknown: the time of the last applied log is not known".into(),
            (Some(_), None) => "unknown: no step declared the failure".into(),
        }
    }

    /// What recovering now costs, for the recovery's approval.
    pub fn cost(&self) -> String {
        let point = match &self.point {
            Some(p) => format!("LSN {} ({})", p.lsn, point_words(p)),
            None => "unknown (no restore point was read)".into(),
        };
        let not_applied = if self.not_applied.is_empty() {
            "none".to_string()
        } else {
            self.not_applied
                .iter()
                .map(NotApplied::line)
                .collect::<Vec<_>>()
                .join("; ")
        };
        format!(
            "recovery point {point}; recovery point objective {}; files not applied: {not_applied}",
            self.rpo()
        )
    }
}

/// `YYYY-MM-DD HH:MM:SS[.fff]` or `YYYY-MM-DDTHH:MM:SS[.fff]` (SQL Server's datetime, as the
/// engine records it) as microseconds since 1970, reading it as UTC.
pub fn sql_time_micros(s: &str) -> Option<i64> {
    use time::macros::format_description;
    let s = s.trim().replace(' ', "T");
    let (date, clock) = s.split_once('T')?;
    let date = time::Date::parse(date, format_description!("[year]-[month]-[day]")).ok()?;
    let clock = time::Time::parse(
        clock,
        format_description!("[hour]:[minute]:[second][optional [.[subsecond]]]"),
    )
    .ok()?;
    let at = time::PrimitiveDateTime::new(date, clock).assume_utc();
    i64::try_from(at.unix_timestamp_nanos() / 1000).ok()
}

/// The journal's `YYYY-MM-DDTHH:MM:SS.ffffffZ` as microseconds since 1970.
pub fn rfc3339_micros(s: &str) -> Option<i64> {
    sql_time_micros(s.strip_suffix('Z')?)
}

/// `1 h 03 min 12 s`, `4 min 05 s`, `12 s`.
fn words(us: u64) -> String {
    let s = us / 1_000_000;
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s:02} s"),
        _ => format!("{h} h {m:02} min {s:02} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rpo_is_the_time_from_the_last_applied_log_to_the_declared_failure() {
        let ledger = Ledger {
            failure_declared_at: Some("2024-03-04T04:30:15.000000Z".into()),
            point: Some(RecoveryPoint {
                lsn: "45000000005700033".into(),
                file: Some("mgc_20240304032500.trn".into()),
                backup_finish_date: Some("2024-03-04T03:05:02.000".into()),
            }),
            not_applied: vec![],
        };
        assert!(
            ledger.rpo().starts_with("1 h 25 min 13 s"),
            "{}",
            ledger.rpo()
        );
        assert!(ledger.cost().contains("files not applied: none"));
        let unknown = Ledger::default();
        assert!(unknown.rpo().starts_with("unknown"));
        assert_eq!(
            sql_time_micros("1970-01-02 00:00:01.5"),
            Some(86_401_500_000)
        );
    }

    #[test]
    fn a_loss_names_every_file_and_the_point_and_the_ledger_keeps_each_file_once() {
        let loss = DataLoss {
            database: "mgc".into(),
            recovery_point: RecoveryPoint {
                lsn: "42".into(),
                file: Some("a.trn".into()),
                backup_finish_date: Some("2024-03-04 01:00:02.000".into()),
            },
            not_applied: vec![NotApplied {
                file: "b.trn".into(),
                reason: "the header cannot be read".into(),
                error: Some(3241),
                ..NotApplied::default()
            }],
        };
        let text = loss.text();
        for part in [
            "LSN 42",
            "b.trn",
            "3241",
            "a.trn",
            "BackupFinishDate 2024-03-04 01:00:02.000",
        ] {
            assert!(text.contains(part), "{part} missing from {text}");
        }
        let mut ledger = Ledger::default();
        ledger.note(&loss);
        ledger.note(&loss);
        assert_eq!(ledger.not_applied.len(), 1);
    }
}
