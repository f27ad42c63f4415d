//! What each action does, expressed through the dispatcher: one module per action, with its
//! intent, its execution and its probe together.
//!
//! Every fact a decision depends on is observed through the dispatcher first; every effect
//! goes through `Dispatcher::act` with its exact text and a probe that tells, before acting and
//! after a crash, whether it is in effect. Nothing here appends to the journal or reads the
//! world behind the dispatcher's back, so the same journal always leads to the same next intent.

mod attempt;
mod backups;
mod batch;
mod check;
mod check_backups;
mod cmdlet;
mod copy;
mod env;
mod loss;
mod manual;
mod position;
mod probe;
mod readiness;
mod record;
mod recover;
mod restore;
mod sessions;

use runledger_verifier::event::Effect;
use runledger_verifier::terminal::first_line;

pub use attempt::failure_reason;
pub use backups::{join, Folder, Headers, ListedFile, Listing, Unreadable};
pub use cmdlet::RESOLVED_IDENTITY;
pub use env::{Env, Progress, DEFAULT_TIMEOUT};
pub use position::{DbPosition, LastRestore};
pub use record::{rows_of, Rows};
pub use sessions::HeldBy;

use crate::dispatcher::{Dispatcher, Halt};
use crate::runbook::{Action, Step};

/// Executes one runbook step: skipped when a step it needs was skipped, halted for a decision
/// when its readiness does not hold, otherwise its action.
pub async fn execute(d: &mut Dispatcher, env: &Env, step: &Step) -> Result<(), Halt> {
    if let Some(reason) = readiness::skipped_need(d, step).await? {
        d.say(&format!("  {reason}"));
        return Ok(());
    }
    if let Some(ready) = &step.ready {
        if !readiness::holds(d, env, step, ready).await? {
            return Ok(());
        }
    }
    let timeout = step
        .timeout
        .as_ref()
        .and_then(crate::runbook::Limit::duration)
        .unwrap_or(DEFAULT_TIMEOUT);
    // An irreversible action is never run without an approval bound to its intent, whatever
    // the runbook says.
    let approval = (step.requires_approval || step.action.effect() == Effect::Irreversible)
        .then(|| format!("{} — {}", step.title, describe_action(&step.action)));
    match &step.action {
        Action::Sql {
            target,
            batch,
            probe,
            effect,
            expect_return_code,
            writes,
            reads,
        } => {
            let b = batch::Batch {
                target,
                text: batch,
                probe: probe.as_deref(),
                effect: effect.unwrap_or(Effect::Guarded),
                expect_return_code: *expect_return_code,
                writes: writes.as_ref(),
                reads: reads.as_deref(),
            };
            batch::run(d, env, step, b, timeout, approval).await
        }
        Action::Check {
            target,
            query,
            command,
            wait,
            warn_only,
            expect,
        } => {
            let a = check::Assertion {
                query: target.as_deref().zip(query.as_deref()),
                command: command.as_deref(),
                expect: expect.as_deref(),
                wait: wait.as_ref().and_then(crate::runbook::Limit::duration),
                warn_only: *warn_only,
            };
            check::run(d, env, step, a, timeout, approval).await
        }
        Action::Manual {
            instruction,
            declares_failure,
        } => manual::run(d, step, instruction, *declares_failure).await,
        Action::CsCmdlet {
            command,
            probe,
            probe_expect,
            probe_target,
            probe_query,
            effect,
            resolve_identity,
        } => {
            let c = cmdlet::Cmdlet {
                command,
                probe: probe.as_deref(),
                probe_expect: probe_expect.as_deref(),
                probe_sql: probe_target.as_deref().zip(probe_query.as_deref()),
                effect: effect.unwrap_or(Effect::Idempotent),
                resolve_identity: resolve_identity.as_deref(),
            };
            cmdlet::run(d, env, step, c, timeout, approval).await
        }
        Action::CheckBackups {
            source,
            destination,
            local_source,
            local_destination,
            ..
        } => {
            let share = Folder::new(source, local_source.as_deref());
            let dest = Folder::new(destination, local_destination.as_deref());
            check_backups::run(d, step, share, dest, approval).await
        }
        Action::CopyBackups {
            target,
            database,
            source,
            destination,
            local_source,
            local_destination,
        } => {
            let c = copy::Copy {
                target,
                database,
                share: Folder::new(source, local_source.as_deref()),
                destination: Folder::new(destination, local_destination.as_deref()),
                approval,
            };
            copy::run(d, env, step, c).await
        }
        Action::RestoreLogs {
            target,
            database,
            directory,
            local_directory,
        } => {
            let r = restore::Restore {
                target,
                database,
                folder: Folder::new(directory, local_directory.as_deref()),
                timeout,
                approval,
            };
            restore::run(d, env, step, r).await
        }
        Action::KillSessions { target, database } => {
            sessions::run(d, env, step, target, database, timeout, approval).await
        }
        Action::RecoverDatabase { target, database } => {
            recover::run(d, env, step, target, database, timeout).await
        }
    }
}

/// One line describing an action for approvals.
pub fn describe_action(action: &Action) -> String {
    match action {
        Action::Sql { batch, .. } => first_line(batch),
        Action::CopyBackups {
            source,
            destination,
            ..
        } => format!("copy backups from {source} to {destination}"),
        Action::CheckBackups {
            source,
            destination,
            ..
        } => format!("check that {source} can be read and {destination} has room"),
        Action::RestoreLogs {
            database,
            directory,
            ..
        } => format!("restore the log backups in {directory} to {database}"),
        Action::KillSessions { database, .. } => format!("end the sessions holding {database}"),
        Action::RecoverDatabase { database, .. } => recover::command(database),
        Action::CsCmdlet { command, .. } => command.clone(),
        Action::Check { query, command, .. } => query
            .clone()
            .or(command.clone())
            .map(|s| first_line(&s))
            .unwrap_or_default(),
        Action::Manual { instruction, .. } => instruction.clone(),
    }
}
