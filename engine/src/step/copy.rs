//! `copy_backups`: copy from the backup share to the copy destination the log backups the
//! database still needs, each file its own intent, hashed while copying.
//!
//! Before copying it works out how far the chain reaches from the database's restore point,
//! over the share and the destination together: a missing stretch of log, a header nobody can
//! read, a file of another backup family or fork, an unreachable share — each becomes a
//! recorded decision that names the files and the recovery point it implies. A resume after
//! such a halt lists the folders again, so a share that came back or a file that was found
//! costs nothing. The destination must have room for what is to be copied.

use std::path::Path;
use std::time::Duration;

use runledger_verifier::event::results::to_result;
use runledger_verifier::event::{ActionKind, Copied, Effect, Failure, FileRef};
use serde_json::json;

use super::attempt::{failure_reason, with_retries};
use super::backups::{
    free_bytes, join, list_with_hashes, read_headers, warn_links, Folder, Headers, Listing,
};
use super::env::Env;
use super::loss::{decide, reach, Identity};
use super::position::{observe_last_restore, observe_position, restore_point};
use crate::dispatcher::{Dispatcher, Halt, Intent, Outcome, ProbeFinding};
use crate::files;
use crate::lsn::BackupHeader;
use crate::recovery::{NotApplied, RecoveryPoint};
use crate::runbook::Step;

/// What a `copy_backups` step copies, from where to where.
pub struct Copy<'a> {
    /// The SQL target that reads backup headers.
    pub target: &'a str,
    /// The database.
    pub database: &'a str,
    /// The backup share.
    pub share: Folder<'a>,
    /// The copy destination.
    pub destination: Folder<'a>,
    /// The approval each copy needs, if the step requires one.
    pub approval: Option<String>,
}

/// Copies what the database still needs.
pub async fn run(d: &mut Dispatcher, env: &Env, step: &Step, c: Copy<'_>) -> Result<(), Halt> {
    let sid = Some(step.id.as_str());
    let position = observe_position(d, env, sid, c.target, c.database, false).await?;
    let last = observe_last_restore(d, env, &step.id, c.target, c.database).await?;
    let Some((from, fork)) = restore_point(&position, &last) else {
        if position.recovered() {
            d.say(&format!(
                "  {} is already recovered (ONLINE): no log can be applied, nothing to copy",
                c.database
            ));
            return Ok(());
        }
        return Err(Halt::StepFailed {
            step: step.id.clone(),
            reason: format!(
                "{} is {} on {}: no restore point to copy from{}",
                c.database,
                position.describe(),
                c.target,
                position.error_note()
            ),
        });
    };
    let start = RecoveryPoint {
        lsn: from.to_string(),
        file: last
            .file
            .as_deref()
            .filter(|_| last.last_lsn.as_deref() == Some(&from.to_string()))
            .map(|f| f.rsplit(['\\', '/']).next().unwrap_or(f).to_string()),
        backup_finish_date: last
            .backup_finish_date
            .clone()
            .filter(|_| last.last_lsn.as_deref() == Some(&from.to_string())),
    };
    let identity = Identity {
        family: last.family_guid.as_deref(),
        fork: fork.as_deref(),
    };
    let (source, destination) = (c.share.local, c.destination.local);
    let share: Listing = d
        .observe(sid, "share_listing", source, async {
            list_with_hashes(source)
        })
        .await?;
    let dest: Listing = d
        .observe(sid, "destination_listing", destination, async {
            list_with_hashes(destination)
        })
        .await?;
    warn_links(d, &share);
    warn_links(d, &dest);
    // Files only the destination holds (retention may have deleted them from the share) are
    // part of the chain too.
    let dest_only = Listing {
        dir: dest.dir.clone(),
        files: dest
            .files
            .iter()
            .filter(|f| !share.files.iter().any(|s| s.name == f.name))
            .cloned()
            .collect(),
        error: None,
        links: vec![],
    };
    let dest_headers: Headers = d
        .observe(
            sid,
            "destination_headers",
            "RESTORE HEADERONLY on each destination file not on the share",
            async { read_headers(env, c.target, c.destination, &dest_only).await },
        )
        .await?;
    let mut headers = dest_headers.headers.clone();
    let mut unreadable = dest_headers.unreadable.clone();
    let mut share_missing = None;
    if let Some(e) = &share.error {
        share_missing = Some(NotApplied {
            file: c.share.server.to_string(),
            reason: format!(
                "the backup share cannot be read ({e}): every log backup written after what the copy destination holds is unavailable"
            ),
            ..NotApplied::default()
        });
    } else {
        let share_headers: Headers = d
            .observe(
                sid,
                "share_headers",
                "RESTORE HEADERONLY on each share file",
                async { read_headers(env, c.target, c.share, &share).await },
            )
            .await?;
        headers.extend(share_headers.headers);
        unreadable.extend(share_headers.unreadable);
    }
    let mut r = reach(c.database, start.clone(), identity, &headers, &unreadable);
    r.not_applied.extend(share_missing);
    if r.short() {
        decide(d, step, c.database, &r.point, r.not_applied.clone()).await?;
    }
    let to_copy: Vec<&BackupHeader> = r
        .apply
        .iter()
        .filter(|h| share.files.iter().any(|f| f.name == h.file))
        .filter(|h| {
            !dest
                .files
                .iter()
                .any(|f| f.name == h.file && f.size == h.size && f.sha256 == h.sha256)
        })
        .collect();
    let needed: u64 = to_copy.iter().map(|h| h.size).sum();
    if let Some(free) = free_bytes(destination) {
        if free < needed {
            return Err(Halt::StepFailed {
                step: step.id.clone(),
                reason: format!(
                    "the copy destination {destination} has {free} bytes free, {needed} are needed for {} file(s); free space there, then resume",
                    to_copy.len()
                ),
            });
        }
    }
    let mut copied = 0;
    let mut reached = start;
    for (i, h) in r.apply.iter().enumerate() {
        if !to_copy.iter().any(|x| x.file == h.file) {
            reached = end_of(h);
            continue;
        }
        let outcome = copy_one(d, env, step, &c, h).await?;
        if !outcome.succeeded() {
            // The chain ends before this file: every later one is not applied either.
            let mut lost = vec![NotApplied {
                file: h.file.clone(),
                reason: format!("it cannot be copied: {}", failure_reason(&outcome.result)),
                error: None,
                first_lsn: Some(h.first_lsn.clone()),
                last_lsn: Some(h.last_lsn.clone()),
            }];
            lost.extend(r.apply[i + 1..].iter().map(|x| NotApplied {
                file: x.file.clone(),
                reason: "comes after a file that cannot be copied".into(),
                error: None,
                first_lsn: Some(x.first_lsn.clone()),
                last_lsn: Some(x.last_lsn.clone()),
            }));
            lost.extend(r.not_applied.iter().cloned());
            return decide(d, step, c.database, &reached, lost).await;
        }
        reached = end_of(h);
        copied += 1;
    }
    d.say(&format!("  {copied} file(s) copied"));
    Ok(())
}

fn end_of(h: &BackupHeader) -> RecoveryPoint {
    RecoveryPoint {
        lsn: h.last_lsn.clone(),
        file: Some(h.file.clone()),
        backup_finish_date: Some(h.backup_finish.clone()).filter(|f| !f.is_empty()),
    }
}

/// Copies one file (its own intent), checking the copy's hash against the listing's.
async fn copy_one(
    d: &mut Dispatcher,
    env: &Env,
    step: &Step,
    c: &Copy<'_>,
    h: &BackupHeader,
) -> Result<Outcome, Halt> {
    let src = join(c.share.local, &h.file);
    let dst = join(c.destination.local, &h.file);
    let intent = Intent {
        unit: format!("{}/{}", step.id, h.file),
        action: ActionKind::CopyBackups,
        effect: Effect::Idempotent,
        command: crate::text::copy(c.share.local, c.destination.local)
            .fill(&[(crate::text::FILE, &h.file)]),
        target: "files".into(),
        inputs: vec![FileRef {
            path: src.clone(),
            size: h.size,
            sha256: h.sha256.clone(),
        }],
    };
    d.say(&format!("  copy {} ({} bytes)", h.file, h.size));
    let expected = h.sha256.clone();
    let pace = env.pace_ms;
    let (label, total) = (format!("copy {}", h.file), h.size);
    with_retries(
        d,
        step,
        intent,
        c.approval.clone(),
        |_| {
            let (src, dst, expected) = (src.clone(), dst.clone(), expected.clone());
            let progress = env.progress.clone();
            let label = label.clone();
            async move {
                if let Some(p) = &progress {
                    p.start(&label, total);
                }
                if pace > 0 {
                    tokio::time::sleep(Duration::from_millis(pace)).await;
                }
                let (from, to) = (src.clone(), dst.clone());
                let shown = progress.clone();
                let r = tokio::task::spawn_blocking(move || {
                    files::copy_and_hash(Path::new(&from), Path::new(&to), &mut |done| {
                        if let Some(p) = &shown {
                            p.set(done);
                        }
                    })
                })
                .await;
                if let Some(p) = &progress {
                    p.finish();
                }
                match r {
                    Ok(Ok(c)) if c.sha256 == expected => {
                        Outcome::ok(to_result(&Copied { size: c.size, sha256: c.sha256, destination: dst }))
                    }
                    Ok(Ok(c)) => {
                        let _ = std::fs::remove_file(&dst);
                        Outcome::failed(to_result(&Failure {
                            sha256: Some(c.sha256.clone()),
                            ..Failure::because(format!("{src} changed since it was listed: sha256 {} now, {expected} when listed", c.sha256))
                        }))
                    }
                    Ok(Err(e)) => {
                        Outcome::failed(to_result(&Failure::because(format!("cannot copy {src} to {dst}: {e}"))))
                    }
                    Err(e) => Outcome::failed(to_result(&Failure::because(format!("copy task failed: {e}")))),
                }
            }
        },
        || {
            let dst = dst.clone();
            let expected = expected.clone();
            async move {
                let found = files::hash_file(Path::new(&dst)).ok();
                let evidence = json!({"destination": dst, "found": found.as_ref().map(|(s, h)| json!({"size": s, "sha256": h}))});
                match found {
                    Some((_, h)) if h == expected => {
                        (format!("sha256 of {dst}"), ProbeFinding::Applied(evidence))
                    }
                    _ => (format!("sha256 of {dst}"), ProbeFinding::NotApplied(evidence)),
                }
            }
        },
    )
    .await
}
