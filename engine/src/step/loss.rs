//! How far the log chain reaches, and the decision when it does not reach the newest log.
//!
//! From the database's restore point, the readable headers and the files whose header could
//! not be read, [`reach`] says which files apply in LSN order, where the database would stand,
//! and every file (or stretch of log) that would not be applied and why: a gap, an unreadable
//! header, a file of another backup family or recovery fork. [`decide`] records that as a
//! `data_loss` observation and asks the operator to accept it; nothing is dropped otherwise.

use super::backups::Unreadable;
use crate::dispatcher::{Dispatcher, Halt};
use crate::lsn::{plan_chain, BackupHeader, Lsn};
use crate::recovery::{DataLoss, NotApplied, RecoveryPoint, DATA_LOSS_OBSERVATION};
use crate::runbook::Step;

/// Where the database's chain of log backups leads.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    /// The files that apply, in the order to restore them.
    pub apply: Vec<BackupHeader>,
    /// Where the database stands once they are applied.
    pub point: RecoveryPoint,
    /// What would not be applied, and why.
    pub not_applied: Vec<NotApplied>,
}

impl Reach {
    /// Something available would not be applied.
    pub fn short(&self) -> bool {
        !self.not_applied.is_empty()
    }
}

/// The database's identity a log backup must share to be applied.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity<'a> {
    /// `FamilyGUID` of the database's backups.
    pub family: Option<&'a str>,
    /// The recovery fork the next log must start on.
    pub fork: Option<&'a str>,
}

fn same(a: &str, b: &str) -> bool {
    a.trim_matches(['{', '}'])
        .eq_ignore_ascii_case(b.trim_matches(['{', '}']))
}

/// Plans the chain from `start` (where the database stands now) through `headers`.
pub fn reach(
    database: &str,
    start: RecoveryPoint,
    identity: Identity<'_>,
    headers: &[BackupHeader],
    unreadable: &[Unreadable],
) -> Reach {
    let from = Lsn::parse(&start.lsn).unwrap_or(Lsn(0));
    let mut not_applied = Vec::new();
    let mut chain: Vec<BackupHeader> = Vec::new();
    for h in headers {
        let later = h.last() > from;
        let of_this_database = h.backup_type == 2 && h.database.eq_ignore_ascii_case(database);
        if !(later && of_this_database) {
            chain.push(h.clone());
            continue;
        }
        let foreign = match (identity.family, h.family_guid.as_str()) {
            (Some(f), hf) if !hf.is_empty() && !same(f, hf) => Some(format!(
                "belongs to another backup family (FamilyGUID {hf}, the database's {f})"
            )),
            _ => None,
        };
        let forked = match (identity.fork, h.first_fork.as_str()) {
            (Some(f), hf) if !hf.is_empty() && !same(f, hf) => Some(format!(
                "starts on another recovery fork (FirstRecoveryForkID {hf}, the database's {f})"
            )),
            _ => None,
        };
        match foreign.or(forked) {
            Some(reason) => not_applied.push(NotApplied {
                file: h.file.clone(),
                reason,
                error: None,
                first_lsn: Some(h.first_lsn.clone()),
                last_lsn: Some(h.last_lsn.clone()),
            }),
            None => chain.push(h.clone()),
        }
    }
    let plan = plan_chain(from, database, &chain);
    let apply: Vec<BackupHeader> = plan.apply.iter().map(|&i| chain[i].clone()).collect();
    let point = match apply.last() {
        Some(h) => RecoveryPoint {
            lsn: h.last_lsn.clone(),
            file: Some(h.file.clone()),
            backup_finish_date: Some(h.backup_finish.clone()).filter(|f| !f.is_empty()),
        },
        None => start,
    };
    if let Some(gap) = &plan.gap {
        not_applied.push(NotApplied {
            file: format!("LSN {} to {}", gap.reached, gap.next_first),
            reason: format!(
                "this stretch of log is in no readable backup file (the next, {}, begins at {})",
                gap.next_file, gap.next_first
            ),
            error: None,
            first_lsn: Some(gap.reached.to_string()),
            last_lsn: Some(gap.next_first.to_string()),
        });
        let mut after: Vec<&BackupHeader> = chain
            .iter()
            .filter(|h| {
                h.backup_type == 2
                    && h.database.eq_ignore_ascii_case(database)
                    && h.last() > gap.reached
            })
            .collect();
        after.sort_by_key(|h| (h.last(), h.first()));
        for h in after {
            not_applied.push(NotApplied {
                file: h.file.clone(),
                reason: "comes after the missing stretch of log".into(),
                error: None,
                first_lsn: Some(h.first_lsn.clone()),
                last_lsn: Some(h.last_lsn.clone()),
            });
        }
    }
    for u in unreadable {
        not_applied.push(NotApplied {
            file: u.file.clone(),
            reason: format!("its header cannot be read: {}", u.text),
            error: u.error,
            first_lsn: None,
            last_lsn: None,
        });
    }
    Reach {
        apply,
        point,
        not_applied,
    }
}

/// Records what stopping at `point` gives up (`data_loss`) and asks the operator to accept it
/// (`--accept-data-loss STEP`). A loss the operator already accepted in this run is not asked
/// again. Returns `Ok` when accepted; a refusal halts the step.
pub async fn decide(
    d: &mut Dispatcher,
    step: &Step,
    database: &str,
    point: &RecoveryPoint,
    not_applied: Vec<NotApplied>,
) -> Result<(), Halt> {
    let loss = DataLoss {
        database: database.to_string(),
        recovery_point: point.clone(),
        not_applied,
    };
    let recorded: DataLoss = d
        .observe(
            Some(&step.id),
            DATA_LOSS_OBSERVATION,
            "what the chain of log backups reaches",
            async { loss.clone() },
        )
        .await?;
    d.ledger.note(&recorded);
    let text = recorded.text();
    d.say(&format!("  {text}"));
    let lsn = Lsn::parse(&recorded.recovery_point.lsn).map_or(0, |l| l.0);
    if d.accept_loss(&step.id, lsn, &text).await? {
        d.say(&format!(
            "  the operator accepted data loss: recovery point LSN {}",
            recorded.recovery_point.lsn
        ));
        Ok(())
    } else {
        Err(Halt::StepFailed {
            step: step.id.clone(),
            reason: text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(file: &str, first: u128, last: u128) -> BackupHeader {
        BackupHeader {
            file: file.into(),
            path: format!(r"D:\d\{file}"),
            size: 1,
            sha256: String::new(),
            backup_type: 2,
            database: "mgc".into(),
            server: "PRI".into(),
            first_lsn: first.to_string(),
            last_lsn: last.to_string(),
            database_backup_lsn: "1".into(),
            backup_start: String::new(),
            backup_finish: format!("2024-03-04 01:{:02}:00.000", last % 60),
            family_guid: "FAM".into(),
            first_fork: "FORK".into(),
        }
    }

    fn start(lsn: u128) -> RecoveryPoint {
        RecoveryPoint {
            lsn: lsn.to_string(),
            ..RecoveryPoint::default()
        }
    }

    #[test]
    fn a_whole_chain_reaches_its_last_file() {
        let r = reach(
            "mgc",
            start(100),
            Identity::default(),
            &[h("b", 200, 300), h("a", 100, 200)],
            &[],
        );
        assert_eq!(
            r.apply.iter().map(|h| h.file.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(!r.short());
        assert_eq!(r.point.lsn, "300");
        assert_eq!(r.point.file.as_deref(), Some("b"));
    }

    #[test]
    fn a_gap_an_unreadable_header_and_a_foreign_file_are_each_named() {
        let mut foreign = h("x", 300, 350);
        foreign.family_guid = "OTHER".into();
        let r = reach(
            "mgc",
            start(100),
            Identity {
                family: Some("fam"),
                fork: Some("{fork}"),
            },
            &[h("a", 100, 200), h("c", 300, 400), foreign],
            &[Unreadable {
                file: "b".into(),
                error: Some(3241),
                text: "incorrectly formed".into(),
            }],
        );
        assert_eq!(r.apply.len(), 1);
        assert_eq!(r.point.lsn, "200");
        let files: Vec<&str> = r.not_applied.iter().map(|n| n.file.as_str()).collect();
        assert_eq!(files, ["x", "LSN 200 to 300", "c", "b"]);
        assert_eq!(r.not_applied[3].error, Some(3241));
        assert!(r.not_applied[0].reason.contains("another backup family"));
    }

    #[test]
    fn a_log_on_another_recovery_fork_is_never_in_the_chain() {
        let mut forked = h("b", 200, 300);
        forked.first_fork = "NEW".into();
        let r = reach(
            "mgc",
            start(100),
            Identity {
                family: None,
                fork: Some("FORK"),
            },
            &[h("a", 100, 200), forked],
            &[],
        );
        assert_eq!(r.apply.len(), 1);
        assert!(r.not_applied[0].reason.contains("recovery fork"));
    }
}
