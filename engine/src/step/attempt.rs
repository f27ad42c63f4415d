//! What every action shares around the dispatcher's `act`: retries where the effect class
//! allows them, and a failed outcome turned into the halt that names the step.

use runledger_verifier::event::{Effect, ResultView};

use crate::dispatcher::{Dispatcher, Halt, Intent, Outcome, ProbeFinding};
use crate::runbook::Step;

/// Acts, retrying a failed attempt up to the step's `retries` when its effect class allows.
pub async fn with_retries<A, FA, P, FP>(
    d: &mut Dispatcher,
    step: &Step,
    intent: Intent,
    approval: Option<String>,
    action: A,
    probe: P,
) -> Result<Outcome, Halt>
where
    A: Fn(u32) -> FA,
    FA: std::future::Future<Output = Outcome>,
    P: Fn() -> FP,
    FP: std::future::Future<Output = (String, ProbeFinding)>,
{
    let mut tries = 0u32;
    loop {
        let outcome = d
            .act(intent.clone(), approval.clone(), || action(tries), &probe)
            .await?;
        let retryable = matches!(intent.effect, Effect::ReadOnly | Effect::Idempotent);
        if outcome.succeeded() || tries >= step.retries || !retryable {
            return Ok(outcome);
        }
        tries += 1;
    }
}

/// A succeeded outcome, or the halt naming the step and why it failed.
pub fn require(step: &Step, outcome: &Outcome) -> Result<(), Halt> {
    if outcome.succeeded() {
        Ok(())
    } else {
        Err(Halt::StepFailed {
            step: step.id.clone(),
            reason: format!("{}: {}", step.title, failure_reason(&outcome.result)),
        })
    }
}

/// One line from a failed outcome's result.
pub fn failure_reason(result: &serde_json::Value) -> String {
    let said = ResultView::of(result);
    if let Some(r) = said.reason {
        return r;
    }
    if let Some(e) = said.error {
        return match e.number {
            Some(n) => format!("SQL Server error {n}: {}", e.text),
            None => e.text,
        };
    }
    if let Some(s) = said.summary {
        return s;
    }
    result.to_string()
}
