//! `cs_cmdlet`: a Lync Management Shell command line, run through the configured shell as a
//! child process. The object's identity is read at run time (its form differs between versions
//! and documents) and recorded before it is used; the probe is a cmdlet whose output shows the
//! effect, or a SQL query.

use std::time::Duration;

use runledger_verifier::event::results::to_result;
use runledger_verifier::event::ShellResult;
use runledger_verifier::event::{ActionKind, Effect};
use serde_json::json;

use super::attempt::{require, with_retries};
use super::env::Env;
use super::probe::sql_probe;
use crate::dispatcher::{Dispatcher, Halt, Intent, Outcome, ProbeFinding};
use crate::runbook::params::ps_literal;
use crate::runbook::Step;
use crate::shell;
use crate::text;

/// Where a `cs_cmdlet` puts the identity it resolved at run time, as a PowerShell
/// single-quoted literal (the runbook left the placeholder bare at load).
pub const RESOLVED_IDENTITY: &str = crate::runbook::params::RESOLVED_IDENTITY;

/// What a `cs_cmdlet` step runs and how it is probed.
pub struct Cmdlet<'a> {
    /// The cmdlet line.
    pub command: &'a str,
    /// A cmdlet whose output contains `probe_expect` once the command took effect.
    pub probe: Option<&'a str>,
    /// That text.
    pub probe_expect: Option<&'a str>,
    /// Or a SQL probe: (target, query with `done`).
    pub probe_sql: Option<(&'a str, &'a str)>,
    /// The effect class.
    pub effect: Effect,
    /// A cmdlet line that prints the object's `Identity`.
    pub resolve_identity: Option<&'a str>,
}

/// A cmdlet's exit as an outcome: exit code, bounded excerpts and hashes of its output.
pub fn shell_outcome(out: shell::ShellOutcome) -> Outcome {
    let mut result = ShellResult {
        summary: out.summary(),
        ..ShellResult::default()
    };
    if let shell::ShellOutcome::Exited { code, .. } = &out {
        result.exit_code = Some(*code);
    }
    if let shell::ShellOutcome::Exited { output, .. }
    | shell::ShellOutcome::Signaled { output, .. }
    | shell::ShellOutcome::TimedOut { output, .. } = &out
    {
        result.stdout = Some(output.stdout_excerpt());
        result.stderr = Some(output.stderr_excerpt());
        result.stdout_sha256 = Some(output.stdout_sha256());
        result.stderr_sha256 = Some(output.stderr_sha256());
    }
    if out.succeeded() {
        Outcome::ok(to_result(&result))
    } else {
        Outcome::failed(to_result(&result))
    }
}

/// The `Identity` of a cmdlet's list output. It goes into the cmdlet line as a single-quoted
/// literal, where no character but a quote (doubled) is special; a control character, which
/// would make the line and its record ambiguous, is refused.
fn identity_of(out: shell::ShellOutcome) -> Result<String, String> {
    let text = match &out {
        shell::ShellOutcome::Exited { code: 0, output } => {
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
        _ => return Err(out.summary()),
    };
    let id = text
        .lines()
        .find_map(|l| {
            let rest = l.trim_start().strip_prefix("Identity")?;
            Some(rest.trim_start().strip_prefix(':')?.trim().to_string())
        })
        .filter(|id| !id.is_empty())
        .ok_or_else(|| "no `Identity : …` line in its output".to_string())?;
    if id.chars().any(char::is_control) {
        return Err(format!("the identity {id:?} holds a control character"));
    }
    Ok(id)
}

/// A cmdlet line with the identity read at run time in place of `{{resolved_identity}}`, as a
/// single-quoted literal. No parameter value holds `{{`, so the only placeholders left in the
/// line are the template's.
fn with_identity(line: &str, id: &str) -> String {
    line.replace(RESOLVED_IDENTITY, &ps_literal(id))
}

async fn cmdlet_probe(
    env: &Env,
    probe: Option<&str>,
    expect: Option<&str>,
    timeout: Duration,
) -> (String, ProbeFinding) {
    let (Some(p), Some(expect)) = (probe, expect) else {
        return (
            "none".to_string(),
            ProbeFinding::Unknown(json!({"note": "no probe declared"})),
        );
    };
    let out = env.cmdlet(p, timeout).await;
    let text = match &out {
        shell::ShellOutcome::Exited { code: 0, output } => Some(output.stdout_excerpt()),
        _ => None,
    };
    let found = json!({"probe_output": text, "summary": out.summary()});
    match text {
        Some(t) if t.contains(expect) => (p.to_string(), ProbeFinding::Applied(found)),
        Some(_) => (p.to_string(), ProbeFinding::NotApplied(found)),
        None => (p.to_string(), ProbeFinding::Unknown(found)),
    }
}

/// Runs the cmdlet through the dispatcher.
pub async fn run(
    d: &mut Dispatcher,
    env: &Env,
    step: &Step,
    c: Cmdlet<'_>,
    timeout: Duration,
    approval: Option<String>,
) -> Result<(), Halt> {
    // The identity is the object's own, read at run time and recorded first.
    let (identity, probe) = match c.resolve_identity {
        Some(line) => {
            let found: Result<String, String> = d
                .observe(Some(&step.id), "identity", line, async {
                    identity_of(env.cmdlet(line, timeout).await)
                })
                .await?;
            let id = found.map_err(|reason| Halt::StepFailed {
                step: step.id.clone(),
                reason: format!(
                    "{}: cannot resolve the identity with `{line}`: {reason}",
                    step.title
                ),
            })?;
            (
                Some(ps_literal(&id)),
                c.probe.map(|p| with_identity(p, &id)),
            )
        }
        None => (None, c.probe.map(str::to_string)),
    };
    // The line and its record from one template: the identity is its one field.
    let line = text::cmdlet_line(c.command, c.resolve_identity.is_some());
    let (executed, recorded) = match &identity {
        Some(id) => (
            line.fill(&[(text::RESOLVED_IDENTITY_NAME, id)]),
            text::shell_shown(env.shell(), &line).fill(&[(
                text::RESOLVED_IDENTITY_NAME,
                &text::shell_value(env.shell(), id),
            )]),
        ),
        None => (
            line.fill(&[]),
            text::shell_shown(env.shell(), &line).fill(&[]),
        ),
    };
    let (command, probe) = (&executed, probe.as_deref());
    let intent = Intent {
        unit: step.id.clone(),
        action: ActionKind::CsCmdlet,
        effect: c.effect,
        command: recorded,
        target: "shell".into(),
        inputs: vec![],
    };
    let outcome = with_retries(
        d,
        step,
        intent,
        approval,
        |_| async { shell_outcome(env.cmdlet(command, timeout).await) },
        || async {
            match c.probe_sql {
                Some((t, q)) => sql_probe(env, t, Some(q)).await,
                None => cmdlet_probe(env, probe, c.probe_expect, timeout).await,
            }
        },
    )
    .await?;
    require(step, &outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(stdout: &str) -> shell::ShellOutcome {
        shell::ShellOutcome::Exited {
            code: 0,
            output: shell::Captured {
                stdout: stdout.as_bytes().to_vec(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn the_identity_goes_in_as_a_single_quoted_literal() {
        let id = identity_of(listed(
            "\nIdentity   : service:pc'chat $(x);`n\nPoolFqdn : p\n",
        ))
        .unwrap();
        assert_eq!(id, "service:pc'chat $(x);`n");
        assert_eq!(
            with_identity(
                "Set-X -Identity {{resolved_identity}} -PoolState FailedOver",
                &id
            ),
            "Set-X -Identity 'service:pc''chat $(x);`n' -PoolState FailedOver"
        );
        assert!(identity_of(listed("Identity : a\u{1b}[2Jb\n")).is_err());
        assert!(identity_of(listed("PoolFqdn : p\n")).is_err());
    }
}
