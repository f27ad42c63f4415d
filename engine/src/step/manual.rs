//! `manual`: an instruction the operator confirms; the confirmation is the step's recorded
//! approval. The one that declares the primary down also fixes when the failure was declared,
//! which the recovery point objective is measured against.

use runledger_verifier::event::results::to_result;
use runledger_verifier::event::Confirmed;
use runledger_verifier::event::{ActionKind, Effect};

use super::attempt::require;
use super::probe::nothing_to_probe;
use crate::dispatcher::{Dispatcher, Halt, Intent, Outcome};
use crate::runbook::Step;

/// Asks the operator to confirm `instruction`.
pub async fn run(
    d: &mut Dispatcher,
    step: &Step,
    instruction: &str,
    declares_failure: bool,
) -> Result<(), Halt> {
    let intent = Intent {
        unit: step.id.clone(),
        action: ActionKind::Manual,
        effect: Effect::ReadOnly,
        command: crate::text::manual(instruction).fill(&[]),
        target: "operator".into(),
        inputs: vec![],
    };
    let text = format!("{}: {instruction}", step.title);
    let outcome = d
        .act(
            intent,
            Some(text),
            || async { Outcome::ok(to_result(&Confirmed { confirmed: true })) },
            nothing_to_probe,
        )
        .await?;
    require(step, &outcome)?;
    if declares_failure {
        d.ledger.failure_declared_at = d.last_approval_at.clone();
    }
    Ok(())
}
