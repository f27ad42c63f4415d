//! The plan: every step with the exact text it will execute, and nothing changed anywhere.

use std::fmt::Write as _;

use crate::runbook::{Action, LoadedRunbook};
use crate::sql::{quote_ident, quote_nstring};
use crate::step::join;

/// Renders the plan of a runbook for the operator.
///
/// Every text from the runbook is shown with its control characters made visible
/// (`runledger_verifier::terminal`): a title cannot move the cursor, overprint a line or
/// reorder what is shown, and each field stays on its line.
pub fn render(loaded: &LoadedRunbook) -> String {
    use runledger_verifier::terminal::{block, line as t};
    let rb = &loaded.runbook;
    let mut s = String::new();
    let sha = runledger_verifier::signing::sha256_hex(loaded.source.as_bytes());
    let _ = writeln!(
        s,
        "runbook  {} version {} ({})",
        t(&rb.name),
        t(&rb.version),
        t(&loaded.origin)
    );
    let _ = writeln!(s, "sha256   {sha}");
    if !rb.description.is_empty() {
        let _ = writeln!(s, "         {}", t(&rb.description));
    }
    for (name, target) in &rb.targets {
        let _ = writeln!(
            s,
            "target   {}: {}:{} auth {}{} encryption {}{}",
            t(name),
            t(&target.host),
            target.port,
            spelled(target.auth),
            target
                .user
                .as_deref()
                .map(|u| format!(" as {}", t(u)))
                .unwrap_or_default(),
            spelled(target.encryption),
            target
                .trust_cert_ca
                .as_deref()
                .map(|ca| format!(" ca {}", t(&ca.display().to_string())))
                .unwrap_or_default()
        );
    }
    if let Some(sh) = &rb.shell {
        let _ = writeln!(s, "shell    {} {}", t(&sh.program), t(&sh.args.join(" ")));
    }
    let _ = writeln!(
        s,
        "\n{} steps; nothing has been changed anywhere.\n",
        rb.steps.len()
    );
    for (i, step) in rb.steps.iter().enumerate() {
        let a = &step.action;
        let _ = writeln!(
            s,
            "{:>2}. {}  {}\n    action {} · effect {}{}{}{}",
            i + 1,
            t(&step.id),
            t(&step.title),
            a.kind(),
            serde_json::to_value(a.effect())
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            a.sql_target()
                .map(|target| format!(" · target {}", t(target)))
                .unwrap_or_default(),
            if step.requires_approval {
                " · asks for approval"
            } else {
                ""
            },
            step.timeout
                .as_ref()
                .map(|timeout| format!(" · timeout {}", t(timeout.text())))
                .unwrap_or_default(),
        );
        if step.explicit_approval {
            let _ = writeln!(
                s,
                "    the approval must name this step (--approve {}); --yes and auto_approve do not give it",
                step.id
            );
        }
        if !step.needs.is_empty() {
            let _ = writeln!(
                s,
                "    skipped if the operator skips {}",
                step.needs.join(", ")
            );
        }
        if let Some(r) = &step.ready {
            let _ = writeln!(
                s,
                "    first, on {}: {} — otherwise it halts for a decision (resume looks again; --skip {} goes on without it):",
                r.target, r.what, step.id
            );
            for line in r.query.trim().lines() {
                let _ = writeln!(s, "      {line}");
            }
        }
        if a.effect() != crate::runbook::Effect::ReadOnly {
            let _ = writeln!(
                s,
                "    its probe runs first: an effect already in place is recorded and not executed again"
            );
        }
        for line in exact_text(a).lines() {
            let _ = writeln!(s, "      {}", block(line));
        }
        let _ = writeln!(s);
    }
    s
}

/// The text an action executes, with per-file statements shown for one file.
pub fn exact_text(action: &Action) -> String {
    match action {
        Action::Sql {
            batch,
            probe,
            expect_return_code,
            ..
        } => {
            let mut t = batch.trim().to_string();
            if let Some(rc) = expect_return_code {
                t.push_str(&format!("\n-- the last result must be {rc}"));
            }
            if let Some(p) = probe {
                t.push_str(&format!("\n-- after a crash, probe: {}", one_line(p)));
            }
            t
        }
        Action::CopyBackups {
            database,
            source,
            destination,
            local_source,
            local_destination,
            ..
        } => {
            let (local_source, local_destination) = (
                local_source.as_deref().unwrap_or(source),
                local_destination.as_deref().unwrap_or(destination),
            );
            format!(
                "list {local_source} and {local_destination} (size, sha256) and have the server read each file's header with\n  RESTORE HEADERONLY FROM DISK = {};\nthen, for each log backup of {database} with LastLSN > redo_start_lsn not already in the destination:\n  copy {} -> {}  (hashed while copying, fsynced)",
                quote_nstring(&join(source, "<file>")),
                join(local_source, "<file>"),
                join(local_destination, "<file>")
            )
        }
        Action::RestoreLogs {
            database,
            directory,
            local_directory,
            ..
        } => {
            let file = quote_nstring(&join(directory, "<file>"));
            format!(
                "read redo_start_lsn of {database}, list {} and read the header of every file; order by LastLSN, FirstLSN; then for each log that applies:\n  RESTORE VERIFYONLY FROM DISK = {file};\n  RESTORE LOG {} FROM DISK = {file} WITH FILE = 1, NORECOVERY\n(each file re-hashed just before; a file that changed or fails VERIFYONLY is not restored; 4326 = already applied; a gap halts for an operator decision)",
                local_directory.as_deref().unwrap_or(directory),
                quote_ident(database)
            )
        }
        Action::KillSessions { database, .. } => format!(
            "list the sessions holding {database} (sys.dm_exec_sessions, sys.dm_exec_requests, sys.dm_tran_locks); wait for any RESTORE; then for each other session:\n  KILL <session_id>"
        ),
        Action::RecoverDatabase { database, .. } => {
            format!("RESTORE DATABASE {} WITH RECOVERY", quote_ident(database))
        }
        Action::CsCmdlet {
            command,
            probe,
            probe_target,
            probe_query,
            resolve_identity,
            ..
        } => {
            let mut t = String::new();
            if let Some(r) = resolve_identity {
                t.push_str(&format!("-- {{{{resolved_identity}}}} is read at run time from: {r}\n-- and put in as a single-quoted literal, like every parameter\n"));
            }
            t.push_str(command);
            if let Some(p) = probe {
                t.push_str(&format!("\n-- after a crash, probe: {p}"));
            }
            if let (Some(target), Some(q)) = (probe_target, probe_query) {
                t.push_str(&format!("\n-- after a crash, probe on {target}: {}", one_line(q)));
            }
            t
        }
        Action::Check {
            query,
            command,
            wait,
            warn_only,
            expect,
            ..
        } => {
            let mut t = query
                .clone()
                .or(command.clone())
                .unwrap_or_default()
                .trim()
                .to_string();
            if let Some(w) = wait {
                t.push_str(&format!(
                    "\n-- polled every 500 ms for up to {} until it holds",
                    w.text()
                ));
            }
            if let Some(e) = expect {
                t.push_str(&format!("\n-- the output must contain {e:?}"));
            }
            if *warn_only {
                t.push_str("\n-- a failure is reported and the runbook continues");
            }
            t
        }
        Action::Manual {
            instruction,
            declares_failure,
        } => {
            let mut t = format!("operator confirms: {instruction}");
            if *declares_failure {
                t.push_str("\n-- the confirmation's time is the declared failure (the recovery point objective is measured to it)");
            }
            t
        }
        Action::CheckBackups {
            source,
            destination,
            local_source,
            local_destination,
            ..
        } => {
            let (s, d) = (
                local_source.as_deref().unwrap_or(source),
                local_destination.as_deref().unwrap_or(destination),
            );
            format!("list {s} and {d} (names and sizes); write and remove {} to prove {d} can be written;\nthe bytes free at {d} must cover the share files {d} does not hold (read-only otherwise)", join(d, ".runledger-write-check"))
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A setting's name as the runbook spells it.
fn spelled<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
