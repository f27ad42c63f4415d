//! `restore_logs`: apply the log backups the database still needs, in LSN order, `WITH
//! NORECOVERY`, each file its own intent: re-hashed just before, read whole by the server
//! (`RESTORE VERIFYONLY`), then restored.
//!
//! The database may be RESTORING or in STANDBY (ONLINE read-only between restores, its restore
//! point read from msdb): STANDBY is never taken for recovered. Every header is compared with
//! the database's backup family and recovery fork first. What SQL Server refuses ends the chain
//! there and becomes a recorded decision naming the file, the error and the recovery point;
//! 4326 (already applied) is a recorded skip; 4319 (a previous restore of this set was
//! interrupted) restores the same set again `WITH RESTART`.

use std::path::PathBuf;
use std::time::Duration;

use runledger_verifier::event::results::to_result;
use runledger_verifier::event::{ActionKind, Effect, Failure, FileRef, ResultView};
use serde_json::json;

use super::attempt::{failure_reason, require, with_retries};
use super::backups::{join, list_with_hashes, read_headers, warn_links, Folder, Headers, Listing};
use super::env::Env;
use super::loss::{decide, reach, Identity};
use super::position::{
    observe_last_restore, observe_position, position_query, restore_point, settled_position,
};
use super::record::{batch_json, query, sql_error_json, sql_failure};
use crate::dispatcher::{Dispatcher, Halt, Intent, Outcome, ProbeFinding};
use crate::files;
use crate::lsn::{BackupHeader, Lsn};
use crate::recovery::{NotApplied, RecoveryPoint};
use crate::runbook::Step;
use crate::sql::{quote_nstring, SqlError};
use crate::text;

/// What a `restore_logs` step restores, where from.
pub struct Restore<'a> {
    /// The SQL target.
    pub target: &'a str,
    /// The database.
    pub database: &'a str,
    /// The folder holding the log backups (the copy destination).
    pub folder: Folder<'a>,
    /// Time limit of each statement.
    pub timeout: Duration,
    /// The approval each restore needs, if the step requires one.
    pub approval: Option<String>,
}

fn point_of(h: &BackupHeader) -> RecoveryPoint {
    RecoveryPoint {
        lsn: h.last_lsn.clone(),
        file: Some(h.file.clone()),
        backup_finish_date: Some(h.backup_finish.clone()).filter(|f| !f.is_empty()),
    }
}

/// Applies what the database still needs.
pub async fn run(d: &mut Dispatcher, env: &Env, step: &Step, r: Restore<'_>) -> Result<(), Halt> {
    let sid = Some(step.id.as_str());
    let (target, database) = (r.target, r.database);
    let position = observe_position(d, env, sid, target, database, true).await?;
    let last = observe_last_restore(d, env, &step.id, target, database).await?;
    let recorded_point = RecoveryPoint {
        lsn: last.last_lsn.clone().unwrap_or_default(),
        file: last
            .file
            .as_deref()
            .map(|f| f.rsplit(['\\', '/']).next().unwrap_or(f).to_string()),
        backup_finish_date: last.backup_finish_date.clone(),
    };
    let listing: Listing = d
        .observe(sid, "destination_listing", r.folder.local, async {
            list_with_hashes(r.folder.local)
        })
        .await?;
    warn_links(d, &listing);
    let headers: Headers = d
        .observe(
            sid,
            "backup_headers",
            "RESTORE HEADERONLY on each file",
            async { read_headers(env, target, r.folder, &listing).await },
        )
        .await?;
    if position.recovered() {
        // Someone recovered the database before this step: no log can be applied any more.
        // The loss already happened; the operator still acknowledges it, with its cost, before
        // the run goes on.
        let from = Lsn::parse(&recorded_point.lsn).unwrap_or(Lsn(0));
        let lost: Vec<NotApplied> = headers
            .headers
            .iter()
            .filter(|h| h.backup_type == 2 && h.database.eq_ignore_ascii_case(database) && h.last() > from)
            .map(|h| NotApplied {
                file: h.file.clone(),
                reason: format!("{database} was recovered (ONLINE) before this step: no log can be applied after recovery"),
                error: None,
                first_lsn: Some(h.first_lsn.clone()),
                last_lsn: Some(h.last_lsn.clone()),
            })
            .collect();
        d.say(&format!(
            "  {database} is already recovered (ONLINE): no log can be restored"
        ));
        d.ledger.point = Some(recorded_point.clone());
        return decide(d, step, database, &recorded_point, lost).await;
    }
    let Some((from, fork)) = restore_point(&position, &last) else {
        return Err(Halt::StepFailed {
            step: step.id.clone(),
            reason: if position.rolls_forward() {
                format!("{database} is {} and msdb records no restore of it: its restore point cannot be read", position.describe())
            } else {
                format!(
                    "{database} is {} on {target}, expected RESTORING or STANDBY{}",
                    position.describe(),
                    position.error_note()
                )
            },
        });
    };
    let start = RecoveryPoint {
        lsn: from.to_string(),
        ..(if recorded_point.lsn == from.to_string() {
            recorded_point.clone()
        } else {
            RecoveryPoint::default()
        })
    };
    let plan = reach(
        database,
        start.clone(),
        Identity {
            family: last.family_guid.as_deref(),
            fork: fork.as_deref(),
        },
        &headers.headers,
        &headers.unreadable,
    );
    d.say(&format!(
        "  restore point {from}{}; {} log(s) to apply",
        if position.is_in_standby {
            " (STANDBY)"
        } else {
            ""
        },
        plan.apply.len()
    ));
    let mut point = start;
    for (i, h) in plan.apply.iter().enumerate() {
        let mut outcome = restore_one(d, env, step, &r, h, false).await?;
        if ResultView::of(&outcome.result).error_number() == Some(4319) {
            // A previous restore of this backup set was interrupted: restore it again from the
            // start of the set.
            d.say(&format!(
                "  {}: a previous restore of it was interrupted (4319); restoring it again WITH RESTART",
                h.file
            ));
            outcome = restore_one(d, env, step, &r, h, true).await?;
        }
        if outcome.succeeded() {
            point = point_of(h);
            continue;
        }
        let said = ResultView::of(&outcome.result);
        if !said.answered() {
            // The server said nothing about the file (a lost connection, a timeout): the step
            // stops, and a resume probes and tries again.
            return require(step, &outcome);
        }
        let mut lost = vec![NotApplied {
            file: h.file.clone(),
            reason: failure_reason(&outcome.result),
            error: said.error_number().filter(|&n| n != 0),
            first_lsn: Some(h.first_lsn.clone()),
            last_lsn: Some(h.last_lsn.clone()),
        }];
        lost.extend(plan.apply[i + 1..].iter().map(|x| NotApplied {
            file: x.file.clone(),
            reason: format!("comes after {}, which was not restored", h.file),
            error: None,
            first_lsn: Some(x.first_lsn.clone()),
            last_lsn: Some(x.last_lsn.clone()),
        }));
        lost.extend(plan.not_applied.iter().cloned());
        d.ledger.point = Some(point.clone());
        // 3117: the database was recovered while this step ran; the loss is a fact, which
        // the operator acknowledges like any other.
        return decide(d, step, database, &point, lost).await;
    }
    d.ledger.point = Some(point.clone());
    if plan.short() {
        return decide(d, step, database, &point, plan.not_applied.clone()).await;
    }
    Ok(())
}

/// The LSN the database is rolled forward to now: the catalog's while RESTORING, msdb's last
/// restore while in STANDBY.
async fn rolled_forward_to(
    env: &Env,
    target: &str,
    database: &str,
) -> (serde_json::Value, Option<Lsn>) {
    let pos = settled_position(env, target, database).await;
    let evidence = serde_json::to_value(&pos).unwrap_or(serde_json::Value::Null);
    if pos.state.as_deref() == Some("RESTORING") {
        return (evidence, pos.redo_start_lsn.as_deref().and_then(Lsn::parse));
    }
    if pos.rolls_forward() {
        let q = format!(
            "SELECT TOP (1) bs.last_lsn FROM msdb.dbo.restorehistory AS rh JOIN msdb.dbo.backupset AS bs ON bs.backup_set_id = rh.backup_set_id WHERE rh.destination_database_name = {} ORDER BY rh.restore_history_id DESC;",
            quote_nstring(database)
        );
        let lsn = query(env, target, &q)
            .await
            .ok()
            .and_then(|rows| rows.first().and_then(|rs| rs.text(0, "last_lsn")))
            .and_then(|l| Lsn::parse(&l));
        return (
            json!({"position": evidence, "last_restored_lsn": lsn.map(|l| l.to_string())}),
            lsn,
        );
    }
    (evidence, None)
}

/// Restores one file: its own intent (`WITH RESTART` when a previous restore of it was
/// interrupted).
async fn restore_one(
    d: &mut Dispatcher,
    env: &Env,
    step: &Step,
    r: &Restore<'_>,
    h: &BackupHeader,
    restart: bool,
) -> Result<Outcome, Halt> {
    let (target, database, timeout) = (r.target, r.database, r.timeout);
    // The file's name, as it stands in the string literal of each statement.
    let name = text::in_sql_string(&h.file);
    let values = [(text::FILE, name.as_str())];
    let verify = text::verify_only(r.folder.server).fill(&values);
    let command = text::restore_log(database, r.folder.server, restart).fill(&values);
    let intent = Intent {
        unit: format!("{}/{}", step.id, h.file),
        action: ActionKind::RestoreLogs,
        effect: Effect::Guarded,
        command: text::restore_recorded(database, r.folder.server, restart).fill(&values),
        target: target.to_string(),
        inputs: vec![FileRef {
            path: h.path.clone(),
            size: h.size,
            sha256: h.sha256.clone(),
        }],
    };
    d.say(&format!(
        "  restore {} (LSN {} – {})",
        h.file, h.first_lsn, h.last_lsn
    ));
    let (path, expected, last) = (
        join(r.folder.local, &h.file),
        h.sha256.clone(),
        Lsn::parse(&h.last_lsn).unwrap_or(Lsn(0)),
    );
    with_retries(
        d,
        step,
        intent,
        r.approval.clone(),
        |_| {
            let (path, expected, command, verify) =
                (path.clone(), expected.clone(), command.clone(), verify.clone());
            async move {
                // Re-hash just before the restore: a file changed since it was listed is refused.
                match files::hash_in_background(&path).await {
                    Ok((_, h)) if h == expected => {}
                    Ok((_, h)) => {
                        return Outcome::failed(to_result(&Failure {
                            refused: true,
                            ..Failure::because(format!("{path} changed since it was listed: sha256 {h}, expected {expected}; it was not restored"))
                        }))
                    }
                    Err(e) => return Outcome::failed(to_result(&Failure::because(format!("cannot read {path} before restoring it: {e}")))),
                }
                // The server reads the whole backup set before anything is restored from it.
                if let Err(e) = env.sql(target, &verify, timeout).await {
                    let mut j = sql_failure(&e);
                    // Only the server's verdict on the media refuses the file; a connection
                    // failure says nothing about it.
                    if matches!(e, SqlError::Server { .. }) {
                        j.refused = true;
                        j.reason = Some(format!("RESTORE VERIFYONLY refused it ({e}); it was not restored"));
                    }
                    return Outcome::failed(to_result(&j));
                }
                if let Some(p) = &env.progress {
                    let name = PathBuf::from(&path)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    p.start(&format!("restore {name}"), 0);
                }
                let restored = env.sql(target, &command, timeout).await;
                if let Some(p) = &env.progress {
                    p.finish();
                }
                match restored {
                    Ok(r) => Outcome::ok(batch_json(&r)),
                    Err(e) if e.number() == Some(4326) => {
                        let mut j = sql_failure(&e);
                        j.skipped = Some("already applied (4326)".into());
                        Outcome::ok(to_result(&j))
                    }
                    Err(e) => Outcome::failed(sql_error_json(&e)),
                }
            }
        },
        || async move {
            let (evidence, now) = rolled_forward_to(env, target, database).await;
            let finding = match now {
                Some(l) if l >= last => ProbeFinding::Applied(evidence),
                Some(_) => ProbeFinding::NotApplied(evidence),
                None => ProbeFinding::Unknown(evidence),
            };
            (position_query(database), finding)
        },
    )
    .await
}
