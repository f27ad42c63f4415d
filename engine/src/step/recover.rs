//! `recover_database`: `RESTORE DATABASE … WITH RECOVERY`, after which no log can be applied.
//! Its approval states what it costs: the recovery point (LSN and the time of the last applied
//! log), the recovery point objective, and every file not applied.

use std::time::Duration;

use runledger_verifier::event::{ActionKind, Effect};

use super::attempt::{require, with_retries};
use super::env::Env;
use super::position::recovery_probe;
use super::record::{batch_json, sql_error_json};
use crate::dispatcher::{Dispatcher, Halt, Intent, Outcome};
use crate::runbook::Step;

/// The statement that recovers `database`.
pub fn command(database: &str) -> String {
    crate::text::recover(database).fill(&[])
}

/// Recovers the database; an approval, when the step requires one, shows the cost.
pub async fn run(
    d: &mut Dispatcher,
    env: &Env,
    step: &Step,
    target: &str,
    database: &str,
    timeout: Duration,
) -> Result<(), Halt> {
    let command = command(database);
    let approval = step
        .requires_approval
        .then(|| format!("{} — {command}; {}", step.title, d.ledger.cost()));
    let intent = Intent {
        unit: step.id.clone(),
        action: ActionKind::RecoverDatabase,
        effect: Effect::Guarded,
        command: command.clone(),
        target: target.to_string(),
        inputs: vec![],
    };
    let outcome = with_retries(
        d,
        step,
        intent,
        approval,
        |_| async {
            match env.sql(target, &command, timeout).await {
                Ok(r) => Outcome::ok(batch_json(&r)),
                Err(e) => Outcome::failed(sql_error_json(&e)),
            }
        },
        || recovery_probe(env, target, database),
    )
    .await?;
    require(step, &outcome)
}
