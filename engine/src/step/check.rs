//! `check`: an assertion — a query whose one row has `ok` = 1, or a cmdlet that exits 0 (and,
//! with `expect`, prints that text) — polled while `wait` allows, so that what is still running
//! is waited for. A `warn_only` check that fails is recorded and the runbook goes on.

use std::time::Duration;

use runledger_verifier::event::results::{decode, to_result};
use runledger_verifier::event::{ActionKind, Effect};
use runledger_verifier::event::{CheckRows, Failure, ShellResult};
use serde_json::json;

use super::attempt::{failure_reason, require, with_retries};
use super::cmdlet::shell_outcome;
use super::env::Env;
use super::probe::nothing_to_probe;
use super::record::{rows_of, sql_error_json};
use crate::dispatcher::{Dispatcher, Halt, Intent, Outcome};
use crate::runbook::Step;

/// What a `check` step asserts.
pub struct Assertion<'a> {
    /// A query and its target, or
    pub query: Option<(&'a str, &'a str)>,
    /// a cmdlet line,
    pub command: Option<&'a str>,
    /// whose output must contain this text.
    pub expect: Option<&'a str>,
    /// How long to poll until it holds.
    pub wait: Option<Duration>,
    /// A failure is a warning.
    pub warn_only: bool,
}

async fn once(env: &Env, a: &Assertion<'_>, timeout: Duration) -> Outcome {
    match (a.query, a.command) {
        (Some((target, q)), _) => match env.sql(target, q, timeout).await {
            Ok(r) => {
                let rows = rows_of(&r);
                let ok = rows.first().and_then(|rs| rs.int(0, "ok")) == Some(1);
                let result = to_result(&CheckRows { rows, ok });
                if ok {
                    Outcome::ok(result)
                } else {
                    Outcome::failed(to_result(&Failure::with_result(
                        "the check's `ok` column is not 1",
                        result,
                    )))
                }
            }
            Err(e) => Outcome::failed(sql_error_json(&e)),
        },
        (None, Some(c)) => {
            let mut outcome = shell_outcome(env.cmdlet(c, timeout).await);
            if let Some(want) = a.expect {
                let printed = decode::<ShellResult>(&outcome.result)
                    .and_then(|r| r.stdout)
                    .unwrap_or_default();
                if outcome.succeeded() && !printed.contains(want) {
                    outcome = Outcome::failed(to_result(&Failure::with_result(
                        format!("the output does not contain {want:?}"),
                        outcome.result,
                    )));
                }
            }
            outcome
        }
        (None, None) => Outcome::failed(to_result(&Failure::because(
            "check has neither query nor command",
        ))),
    }
}

/// Runs the check through the dispatcher.
pub async fn run(
    d: &mut Dispatcher,
    env: &Env,
    step: &Step,
    a: Assertion<'_>,
    timeout: Duration,
    approval: Option<String>,
) -> Result<(), Halt> {
    let command = crate::text::check(env.shell(), a.query.map(|(_, q)| q), a.command).fill(&[]);
    let target = match a.query {
        Some((t, _)) => t.to_string(),
        None => "shell".to_string(),
    };
    let intent = Intent {
        unit: step.id.clone(),
        action: ActionKind::Check,
        effect: Effect::ReadOnly,
        command,
        target,
        inputs: vec![],
    };
    let outcome = with_retries(
        d,
        step,
        intent,
        approval,
        |_| async {
            let started = std::time::Instant::now();
            let mut polls = 1u64;
            let mut outcome = once(env, &a, timeout).await;
            while let Some(w) = a.wait {
                if outcome.succeeded() || started.elapsed() >= w {
                    break;
                }
                // Quick at first (most waits are short), then every 500 ms.
                let pause = if started.elapsed() < Duration::from_secs(2) {
                    100
                } else {
                    500
                };
                tokio::time::sleep(Duration::from_millis(pause)).await;
                outcome = once(env, &a, timeout).await;
                polls += 1;
            }
            if a.wait.is_some() {
                outcome.result["polls"] = json!(polls);
            }
            outcome
        },
        nothing_to_probe,
    )
    .await?;
    if !outcome.succeeded() && a.warn_only {
        d.say(&format!(
            "  warning: {} does not hold ({}); the runbook continues",
            step.id,
            failure_reason(&outcome.result)
        ));
        return Ok(());
    }
    require(step, &outcome)
}
