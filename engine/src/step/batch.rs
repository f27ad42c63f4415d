//! `sql`: a T-SQL batch of the runbook on a target, with its probe, and the return code its
//! last result set must hold when the runbook says so.

use std::time::Duration;

use runledger_verifier::event::results::to_result;
use runledger_verifier::event::Failure;
use runledger_verifier::event::{ActionKind, Effect};

use super::attempt::{require, with_retries};
use super::env::Env;
use super::probe::sql_probe;
use super::record::{sql_batch, sql_error_json};
use crate::dispatcher::{Dispatcher, Halt, Intent, Outcome};
use crate::runbook::Step;

/// What a `sql` step runs.
pub struct Batch<'a> {
    /// The SQL target.
    pub target: &'a str,
    /// The batch.
    pub text: &'a str,
    /// The probe query (`done` = 1 once in effect).
    pub probe: Option<&'a str>,
    /// The effect class.
    pub effect: Effect,
    /// The return code the last result set must hold.
    pub expect_return_code: Option<i64>,
}

/// Runs the batch through the dispatcher.
pub async fn run(
    d: &mut Dispatcher,
    env: &Env,
    step: &Step,
    batch: Batch<'_>,
    timeout: Duration,
    approval: Option<String>,
) -> Result<(), Halt> {
    let text = crate::text::sql_batch(batch.text).fill(&[]);
    let intent = Intent {
        unit: step.id.clone(),
        action: ActionKind::Sql,
        effect: batch.effect,
        command: text.clone(),
        target: batch.target.to_string(),
        inputs: vec![],
    };
    let expect = batch.expect_return_code;
    let outcome = with_retries(
        d,
        step,
        intent,
        approval,
        |_| async {
            match env.sql(batch.target, &text, timeout).await {
                Ok(r) => {
                    let mut result = sql_batch(&r);
                    let rc = result
                        .result_sets
                        .last()
                        .and_then(|rs| rs.rows.first().and_then(|row| row.first()).cloned());
                    match (expect, rc) {
                        (Some(want), Some(got)) if got.as_i64() != Some(want) => {
                            let reason = format!("return code {got}, expected {want}");
                            result.return_code = Some(got);
                            Outcome::failed(to_result(&Failure::with_result(
                                reason,
                                to_result(&result),
                            )))
                        }
                        (Some(want), None) => Outcome::failed(to_result(&Failure::with_result(
                            format!("no return code, expected {want}"),
                            to_result(&result),
                        ))),
                        _ => {
                            result.return_code = expect.map(serde_json::Value::from);
                            Outcome::ok(to_result(&result))
                        }
                    }
                }
                Err(e) => Outcome::failed(sql_error_json(&e)),
            }
        },
        || sql_probe(env, batch.target, batch.probe),
    )
    .await?;
    require(step, &outcome)
}
