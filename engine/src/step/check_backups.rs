//! `check_backups`: before anything changes, the copy destination can be written and has room
//! for the log backups still to copy, and the backup share can be read (if it cannot, this is
//! stated, and the copy step decides with the operator).

use std::path::Path;

use runledger_verifier::event::results::to_result;
use runledger_verifier::event::{ActionKind, Effect};
use runledger_verifier::event::{BackupRoom, Failure, ResultView, Room};

use super::attempt::require;
use super::backups::{free_bytes, Folder};
use super::probe::nothing_to_probe;
use crate::dispatcher::{Dispatcher, Halt, Intent, Outcome};
use crate::files;
use crate::runbook::Step;

/// `(name, size)` of the `.trn` files of a folder.
fn sizes(dir: &str) -> std::io::Result<Vec<(String, u64)>> {
    Ok(files::list_dir(Path::new(dir), "trn")?
        .files
        .into_iter()
        .map(|f| (f.name, f.size))
        .collect())
}

/// Whether a file can be created (and removed) in `dir`.
fn writable(dir: &str) -> std::io::Result<()> {
    let probe = Path::new(dir).join(".runledger-write-check");
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

fn check(share: Folder<'_>, destination: Folder<'_>) -> Outcome {
    let dest = match sizes(destination.local) {
        Ok(d) => d,
        Err(e) => {
            return Outcome::failed(to_result(&Failure::because(format!(
                "the copy destination {} cannot be read: {e}",
                destination.local
            ))))
        }
    };
    if let Err(e) = writable(destination.local) {
        return Outcome::failed(to_result(&Failure::because(format!(
            "the copy destination {} cannot be written: {e}",
            destination.local
        ))));
    }
    let share_files = match sizes(share.local) {
        Ok(s) => s,
        Err(e) => {
            return Outcome::ok(to_result(&BackupRoom {
                share_readable: false,
                note: Some(format!("the backup share {} cannot be read ({e}); the copy step states the recovery point without it and asks the operator", share.local)),
                room: None,
            }))
        }
    };
    let missing: Vec<&(String, u64)> = share_files
        .iter()
        .filter(|(n, s)| !dest.iter().any(|(dn, ds)| dn == n && ds == s))
        .collect();
    // An upper bound: every share file the destination does not hold identically.
    let needed: u64 = missing.iter().map(|(_, s)| s).sum();
    let free = free_bytes(destination.local);
    let result = to_result(&BackupRoom {
        share_readable: true,
        note: None,
        room: Some(Room {
            files_to_copy_at_most: missing.len() as u64,
            bytes_needed_at_most: needed,
            bytes_free: free,
        }),
    });
    match free {
        Some(f) if f < needed => Outcome::failed(to_result(&Failure::with_result(
            format!("the copy destination {} has {f} bytes free; up to {needed} are needed for {} file(s): free space there before log shipping is removed", destination.local, missing.len()),
            result,
        ))),
        _ => Outcome::ok(result),
    }
}

/// Runs the gate.
pub async fn run(
    d: &mut Dispatcher,
    step: &Step,
    share: Folder<'_>,
    destination: Folder<'_>,
    approval: Option<String>,
) -> Result<(), Halt> {
    let intent = Intent {
        unit: step.id.clone(),
        action: ActionKind::CheckBackups,
        effect: Effect::ReadOnly,
        command: crate::text::check_backups(share.local, destination.local).fill(&[]),
        target: "files".into(),
        inputs: vec![],
    };
    let outcome = d
        .act(
            intent,
            approval,
            || async move {
                let (s, l) = (share.server.to_string(), share.local.to_string());
                let (ds, dl) = (
                    destination.server.to_string(),
                    destination.local.to_string(),
                );
                tokio::task::spawn_blocking(move || {
                    check(Folder::new(&s, Some(&l)), Folder::new(&ds, Some(&dl)))
                })
                .await
                .unwrap_or_else(|e| {
                    Outcome::failed(to_result(&Failure::because(format!(
                        "the check failed: {e}"
                    ))))
                })
            },
            nothing_to_probe,
        )
        .await?;
    if let Some(note) = ResultView::of(&outcome.result).note {
        d.say(&format!("  warning: {note}"));
    }
    require(step, &outcome)
}
