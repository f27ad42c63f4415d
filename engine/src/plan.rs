//! The plan: every step with the exact text it will execute, and nothing changed anywhere.
//!
//! The texts come from `text`, the builder the steps execute from: a field only the run can
//! decide is shown as `{{name}}` and named below its step.

use std::fmt::Write as _;

use crate::runbook::{Action, LoadedRunbook};
use crate::sql::quote_nstring;
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
        // What the step executes; a line run through the shell is shown as the shell's last
        // argument reads it, and the run records the whole command line.
        let templates = crate::text::executed(step);
        if let (true, Some(sh)) = (crate::text::through_shell(step), &rb.shell) {
            let _ = writeln!(
                s,
                "    runs as the last argument of: {} {} (recorded as the whole command line, each word quoted for a POSIX shell)",
                t(&sh.program),
                t(&sh.args.join(" "))
            );
        }
        for (i, template) in templates.iter().enumerate() {
            if i > 0 {
                let _ = writeln!(s, "    or{}:", alternative(a));
            }
            for line in template.shown().lines() {
                let _ = writeln!(s, "      {}", block(line));
            }
        }
        let mut fields: Vec<String> = Vec::new();
        for name in templates.iter().flat_map(crate::text::Template::fields) {
            if !fields.contains(&name) {
                fields.push(name);
            }
        }
        for name in &fields {
            let _ = writeln!(
                s,
                "    decided at run time: {{{{{name}}}}} — {}",
                crate::text::field_meaning(name)
            );
        }
        for line in notes(a).lines() {
            let _ = writeln!(s, "    {}", block(line));
        }
        let _ = writeln!(s);
    }
    s
}

/// When a step's second text is the one executed.
fn alternative(action: &Action) -> &'static str {
    match action {
        Action::RestoreLogs { .. } => {
            ", when a previous restore of the file was interrupted (4319)"
        }
        _ => "",
    }
}

/// What the plan says of an action besides its texts: what it reads first, how it is probed
/// after a crash, what it must find.
pub fn notes(action: &Action) -> String {
    match action {
        Action::Sql {
            expect_return_code,
            probe,
            writes,
            reads,
            ..
        } => {
            let mut t = String::new();
            if let Some(r) = reads {
                t.push_str(&format!("-- before it: the file {r} wrote is hashed again; the batch runs only on the size and sha256 {r} recorded\n"));
            }
            if let Some(w) = writes {
                t.push_str(&format!(
                    "-- once it succeeds: this host reads {} whole and records its size and sha256\n",
                    w.local_path()
                ));
            }
            if let Some(rc) = expect_return_code {
                t.push_str(&format!("-- the last result must be {rc}\n"));
            }
            if let Some(p) = probe {
                t.push_str(&format!("-- after a crash, probe: {}\n", one_line(p)));
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
                "-- first: list {local_source} and {local_destination} (size, sha256) and have the server read each file's header with\n--   RESTORE HEADERONLY FROM DISK = {};\n-- then the copy above for each log backup of {database} with LastLSN > redo_start_lsn not already in the destination (hashed while copying, fsynced)",
                quote_nstring(&join(source, "<file>")),
            )
        }
        Action::RestoreLogs {
            database,
            directory,
            local_directory,
            ..
        } => format!(
            "-- first: read redo_start_lsn of {database}, list {} and read the header of every file; order by LastLSN, FirstLSN\n-- then the text above for each log that applies: each file re-hashed just before; a file that changed or fails VERIFYONLY is not restored; 4326 = already applied; a gap halts for an operator decision",
            local_directory.as_deref().unwrap_or(directory),
        ),
        Action::KillSessions { database, .. } => format!(
            "-- first: list the sessions holding {database} (sys.dm_exec_sessions, sys.dm_exec_requests, sys.dm_tran_locks); wait for any RESTORE\n-- then the text above for each other session"
        ),
        Action::RecoverDatabase { .. } => String::new(),
        Action::CsCmdlet {
            probe,
            probe_target,
            probe_query,
            resolve_identity,
            ..
        } => {
            let mut t = String::new();
            if let Some(r) = resolve_identity {
                t.push_str(&format!("-- the identity is read first with: {r}\n"));
            }
            if let Some(p) = probe {
                t.push_str(&format!("-- after a crash, probe: {p}\n"));
            }
            if let (Some(target), Some(q)) = (probe_target, probe_query) {
                t.push_str(&format!("-- after a crash, probe on {target}: {}\n", one_line(q)));
            }
            t
        }
        Action::Check {
            wait,
            warn_only,
            expect,
            ..
        } => {
            let mut t = String::new();
            if let Some(w) = wait {
                t.push_str(&format!(
                    "-- polled every 500 ms for up to {} until it holds
",
                    w.text()
                ));
            }
            if let Some(e) = expect {
                t.push_str(&format!("-- the output must contain {e:?}\n"));
            }
            if *warn_only {
                t.push_str("-- a failure is reported and the runbook continues\n");
            }
            t
        }
        Action::Manual {
            declares_failure, ..
        } => {
            if *declares_failure {
                "-- the operator confirms it; the confirmation's time is the declared failure (the recovery point objective is measured to it)".into()
            } else {
                "-- the operator confirms it".into()
            }
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
            format!("-- names and sizes of {s} and {d}; writes and removes {} to prove {d} can be written;\n-- the bytes free at {d} must cover the share files {d} does not hold (read-only otherwise)", join(d, ".runledger-write-check"))
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
