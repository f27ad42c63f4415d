//! Probes: read-only ways to tell whether an action's effect is in place — before acting (an
//! effect already there is not executed again) and after a crash (an intent without outcome).

use serde_json::json;

use super::env::Env;
use super::record::query;
use crate::dispatcher::ProbeFinding;

/// A runbook probe query: one row whose column `done` is 1 when the effect is in place, 0 when
/// it is not; anything else (an error, no row) says nothing.
pub async fn sql_probe(env: &Env, target: &str, probe: Option<&str>) -> (String, ProbeFinding) {
    let Some(p) = probe else {
        return (
            "none".to_string(),
            ProbeFinding::Unknown(json!({"note": "no probe declared"})),
        );
    };
    match query(env, target, p).await {
        Ok(rows) => {
            let done = rows.first().and_then(|r| r.int(0, "done"));
            let evidence = json!({"rows": rows});
            match done {
                Some(1) => (p.to_string(), ProbeFinding::Applied(evidence)),
                Some(0) => (p.to_string(), ProbeFinding::NotApplied(evidence)),
                _ => (p.to_string(), ProbeFinding::Unknown(evidence)),
            }
        }
        Err(e) => (p.to_string(), ProbeFinding::Unknown(json!({"error": e}))),
    }
}

/// The probe of a read-only action: there is nothing to find, it runs again.
pub async fn nothing_to_probe() -> (String, ProbeFinding) {
    ("none".to_string(), ProbeFinding::Unknown(json!(null)))
}
