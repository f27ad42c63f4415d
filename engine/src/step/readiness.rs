//! What must hold before a step acts (`ready`), and what a step needs (`needs`).
//!
//! A readiness query that does not hold is a decision, not a failure: the run halts, a later
//! `resume` reads the condition again (the world may have changed: a mirror back up), and
//! `--skip STEP` goes on without the step — recorded, as is every step skipped because a step
//! it needs was skipped.

use serde::{Deserialize, Serialize};

use super::env::Env;
use super::record::{query, Rows};
use crate::dispatcher::{Dispatcher, Halt};
use crate::runbook::{Readiness, Step};

/// The readiness query's answer, as recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ready {
    /// The query's `ok` was 1.
    pub ok: bool,
    /// Its rows.
    pub rows: Vec<Rows>,
    /// Its error, when it failed (a target that does not answer).
    pub error: Option<String>,
}

/// Whether the step goes ahead: its readiness holds, or it is skipped by a recorded decision
/// (false). A condition that does not hold and no decision halts the run.
pub async fn holds(
    d: &mut Dispatcher,
    env: &Env,
    step: &Step,
    ready: &Readiness,
) -> Result<bool, Halt> {
    let found: Ready = d
        .observe(Some(&step.id), "readiness", &ready.query, async {
            match query(env, &ready.target, &ready.query).await {
                Ok(rows) => Ready {
                    ok: rows.first().and_then(|rs| rs.int(0, "ok")) == Some(1),
                    rows,
                    error: None,
                },
                Err(e) => Ready {
                    error: Some(e),
                    ..Ready::default()
                },
            }
        })
        .await?;
    if found.ok {
        return Ok(true);
    }
    let detail = found
        .error
        .clone()
        .unwrap_or_else(|| "its `ok` column is not 1".into());
    let text = format!(
        "{}: {} does not hold ({detail}); resume once it does, or go on without this step",
        step.title, ready.what
    );
    d.say(&format!("  {text}"));
    if d.skip(&step.id, &text).await? {
        d.say(&format!("  the operator skipped {}", step.id));
        Ok(false)
    } else {
        Err(Halt::StepFailed {
            step: step.id.clone(),
            reason: text,
        })
    }
}

/// The first step this one needs that was skipped, recorded as the reason this one is skipped
/// too.
pub async fn skipped_need(d: &mut Dispatcher, step: &Step) -> Result<Option<String>, Halt> {
    let skipped = |n: &String| d.skipped.contains(n) || d.skipped_with.contains(n);
    let Some(need) = step.needs.iter().find(|n| skipped(n)).cloned() else {
        return Ok(None);
    };
    let reason = format!("skipped: it needs {need}, which was skipped");
    let recorded: String = d
        .observe(Some(&step.id), "skipped", "the steps it needs", async {
            reason.clone()
        })
        .await?;
    d.skipped_with.insert(step.id.clone());
    Ok(Some(recorded))
}
