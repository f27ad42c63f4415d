//! The report as Markdown for tickets: the same content as the HTML page, in the same order,
//! with the verdict first. Journal text is escaped (prose) or put verbatim in code spans and
//! fenced blocks, so it can add no link, image or HTML to the ticket.

use std::fmt::Write as _;

use runledger_verifier::report::{format_duration, CheckStatus};

use super::escape::{md, md_block, md_code};
use super::model::{max_skew_text, span, Incident, RunView};
use super::verdict;

/// Renders the Markdown report.
pub fn render(incident: &Incident) -> String {
    let st = verdict::standing(incident);
    let v = &incident.verification;
    let mut m = String::new();
    let title = incident
        .runs
        .first()
        .map(|r| format!("Post-incident report: {}", md(&r.runbook)))
        .unwrap_or_else(|| "Post-incident report".into());
    let _ = writeln!(m, "# {title}\n");
    let _ = writeln!(m, "> **{}**", md(&st.headline));
    for s in &st.sentences {
        let _ = writeln!(m, ">\n> {}", md(s));
    }
    m.push('\n');
    let note = |m: &mut String| {
        if let Some(n) = &st.section_note {
            let _ = writeln!(m, "**{}**\n", md(n));
        }
    };

    let _ = writeln!(m, "## Verification checks\n");
    let _ = writeln!(m, "| check | status | detail |\n|---|---|---|");
    for c in &v.checks {
        let status = match c.status {
            CheckStatus::Passed => "passed",
            CheckStatus::Failed => "**FAILED**",
            CheckStatus::NotReached => "not reached",
            CheckStatus::Skipped => "skipped",
        };
        let _ = writeln!(
            m,
            "| {} | {status} | {} |",
            md_code(c.check.name(), true),
            md(&c.detail)
        );
    }
    let j = &v.journal;
    let _ = writeln!(m);
    let _ = writeln!(
        m,
        "- **journal**: {} ({})",
        md_code(&j.path, false),
        md(&j.format)
    );
    let _ = writeln!(
        m,
        "- **journal id**: {}",
        md_code(j.journal_id.as_deref().unwrap_or("(unread)"), false)
    );
    let _ = writeln!(
        m,
        "- **events verified**: {}{}",
        j.events,
        j.last_seq
            .map(|s| format!(", seq 0 to {s}"))
            .unwrap_or_default()
    );
    let _ = writeln!(m, "- **tree root**: {}", md_code(&j.root, false));
    for s in &j.signers {
        let _ = writeln!(
            m,
            "- **signer**: {} ({} events), key id {}",
            md(&s.name),
            s.events,
            md_code(&s.key_id, false)
        );
    }
    for c in &v.checkpoints {
        let _ = writeln!(
            m,
            "- **checkpoint**: {} size {}, signed by {}, {}",
            md_code(&c.path, false),
            c.size,
            md(c.signer.as_deref().unwrap_or("(no trusted signature)")),
            md(&c.status)
        );
    }
    if let Some(e) = &incident.engine_version {
        let _ = writeln!(m, "- **written by**: {}", md(e));
    }
    m.push('\n');
    if !incident.stamps.is_empty() {
        let _ = writeln!(m, "## Trusted time\n");
        note(&mut m);
        for line in super::verdict::stamp_notes(incident) {
            let _ = writeln!(m, "{}\n", md(&line));
        }
        let _ = writeln!(
            m,
            "| checkpoint (events) | TSA time | host time (last event) | skew | token |\n|---|---|---|---|---|"
        );
        for s in &incident.stamps {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {}{} | {} |",
                s.row.size,
                md(s.row.tsa_time.as_deref().unwrap_or("-")),
                md(&match (&s.host_time, s.host_seq) {
                    (Some(t), Some(seq)) => format!("{t} (seq {seq})"),
                    _ => "-".into(),
                }),
                md(&s.skew_text()),
                if s.flagged() {
                    format!(" **SKEW OVER {}**", max_skew_text())
                } else {
                    String::new()
                },
                md(&super::verdict::stamp_status(s))
            );
        }
        m.push('\n');
    }
    if !incident.unreadable.is_empty() {
        let _ = writeln!(m, "## Records that could not be read\n");
        note(&mut m);
        for u in &incident.unreadable {
            let _ = writeln!(m, "- {}", md_code(u, false));
        }
        m.push('\n');
    }
    for run in &incident.runs {
        render_run(&mut m, run, &note);
        if let Some(o) = incident.objectives.iter().find(|o| o.run_id == run.id) {
            render_objectives(&mut m, o);
        }
    }
    m
}

fn render_run(m: &mut String, run: &RunView, note: &dyn Fn(&mut String)) {
    let _ = writeln!(m, "## Run summary\n");
    note(m);
    let _ = writeln!(m, "- **run id**: {}", md_code(&run.id, false));
    let _ = writeln!(
        m,
        "- **operator**: {}",
        md_code(&format!("{}@{}", run.user, run.host), false)
    );
    let _ = writeln!(
        m,
        "- **runbook**: {} version {}",
        md(&run.runbook),
        md(&run.version)
    );
    let _ = writeln!(
        m,
        "- **runbook sha256**: {}",
        md_code(&run.runbook_sha256, false)
    );
    let _ = writeln!(
        m,
        "- **started**: {} (seq {})",
        md(&run.started_at),
        run.started_seq
    );
    let _ = writeln!(
        m,
        "- **ended**: {}",
        md(run.finished_at.as_deref().unwrap_or("(not finished)"))
    );
    let _ = writeln!(
        m,
        "- **elapsed**: {}",
        md(&span(&run.started_at, run.finished_at.as_deref()))
    );
    let _ = writeln!(
        m,
        "- **outcome**: **{}**{}",
        md(&run.status),
        run.summary
            .as_deref()
            .map(|s| format!(": {}", md(s)))
            .unwrap_or_default()
    );
    let _ = writeln!(m, "- **resumes**: {}", run.resumes.len());
    for r in &run.resumes {
        let _ = writeln!(
            m,
            "  - {} (seq {}): {}{}",
            md(&r.at),
            r.seq,
            md(&r.reason),
            if r.in_doubt.is_empty() {
                String::new()
            } else {
                format!("; in doubt: {}", md(&r.in_doubt.join(", ")))
            }
        );
    }
    for (name, kind, endpoint) in &run.targets {
        let _ = writeln!(
            m,
            "- **target {}**: {} {}",
            md(name),
            md(kind),
            md_code(endpoint, false)
        );
    }
    for (k, v) in &run.parameters {
        let _ = writeln!(m, "- **parameter {}**: {}", md(k), md_code(v, false));
    }
    m.push('\n');

    let _ = writeln!(
        m,
        "## Recovery point, files not applied and operator decisions\n"
    );
    note(m);
    match &run.recovery {
        Some(r) => {
            let _ = writeln!(
                m,
                "**Recovery point reached: LSN {}**{}. {}\n",
                md_code(&r.lsn, false),
                if r.recovered {
                    ", then the database was recovered"
                } else {
                    " — the database was not recovered in this journal"
                },
                md(&r.evidence)
            );
            if let Some(n) = &r.newest_available {
                let short =
                    r.lsn.parse::<u128>().ok() < n.parse::<u128>().ok() || !run.gaps.is_empty();
                let _ = writeln!(
                    m,
                    "Newest LastLSN among the backup headers recorded: {}{}\n",
                    md_code(n, false),
                    if short {
                        " — the recovery point is short of what was available: transactions after the recovery point are lost (see the files not applied below)"
                    } else {
                        " — every log backup the journal records was applied"
                    }
                );
            }
        }
        None => m.push_str("No restore point was observed in this run.\n\n"),
    }
    if run.gaps.is_empty() {
        m.push_str("Files not applied: none — every backup the journal names was applied or already contained.\n\n");
    } else {
        m.push_str("**Files not applied (and why):**\n\n");
        for g in &run.gaps {
            let _ = writeln!(m, "- {}", md(g));
        }
        m.push('\n');
    }
    if run.decisions.is_empty() {
        m.push_str("No approval or operator decision was recorded.\n\n");
    } else {
        m.push_str("| seq | time | step | decision | by | what |\n|---|---|---|---|---|---|\n");
        for d in &run.decisions {
            let _ = writeln!(
                m,
                "| {} | {} | {} | **{}** | {} | {} |",
                d.seq,
                md(&d.at),
                md_code(&d.step, true),
                md(d.decision.as_str()),
                md(&d.operator),
                md(&d.text)
            );
        }
        m.push('\n');
    }

    let _ = writeln!(m, "## Timeline\n");
    note(m);
    m.push_str("| # | step | action | status | attempts | started | span | executing |\n|---|---|---|---|---|---|---|---|\n");
    for (i, s) in run.steps.iter().enumerate() {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            i + 1,
            md_code(&s.id, true),
            md(&s.action),
            md(&s.status()),
            s.attempts.len(),
            md(s.first_at().unwrap_or("-")),
            md(&s
                .first_at()
                .map(|f| span(f, s.last_at()))
                .unwrap_or_else(|| "-".into())),
            md(&s
                .executed_us()
                .map(format_duration)
                .unwrap_or_else(|| "-".into()))
        );
    }
    m.push('\n');

    let _ = writeln!(m, "## Steps\n");
    note(m);
    for (i, s) in run.steps.iter().enumerate() {
        let _ = writeln!(
            m,
            "### {}. {} — {}\n\naction {}, status **{}**\n",
            i + 1,
            md_code(&s.id, false),
            md(&s.title),
            md(&s.action),
            md(&s.status())
        );
        for (seq, name, summary) in &s.observations {
            let _ = writeln!(
                m,
                "- observed {} (seq {seq}): {}",
                md_code(name, false),
                md(summary)
            );
        }
        for d in &s.decisions {
            let _ = writeln!(
                m,
                "- **{}** by {} at {} (seq {}{}): {}",
                md(d.decision.as_str()),
                md(&d.operator),
                md(&d.at),
                d.seq,
                d.intent_seq
                    .map(|i| format!(", for the intent at seq {i}"))
                    .unwrap_or_default(),
                md(&d.text)
            );
        }
        if !s.observations.is_empty() || !s.decisions.is_empty() {
            m.push('\n');
        }
        for a in &s.attempts {
            let _ = writeln!(
                m,
                "**{}** attempt {}: **{}**, target {}, effect {}, intent seq {} at {}, {}{}\n",
                md_code(&a.unit, false),
                a.attempt,
                md(&a.status),
                md_code(&a.target, false),
                md(&a.effect),
                a.intent_seq,
                md(&a.started_at),
                md(&a
                    .ended_at
                    .as_deref()
                    .map(|e| format!("ended {e}"))
                    .unwrap_or_else(|| "no outcome".into())),
                a.duration_us
                    .map(|d| format!(", took {}", md(&format_duration(d))))
                    .unwrap_or_default()
            );
            m.push_str(&md_block(&a.command));
            m.push('\n');
            for f in &a.inputs {
                let _ = writeln!(
                    m,
                    "- input {}, {} bytes, sha256 {}",
                    md_code(&f.path, false),
                    f.size,
                    md_code(&f.sha256, false)
                );
            }
            for msg in &a.messages {
                let _ = writeln!(m, "- server message: {}", md_code(msg, false));
            }
            for l in &a.result_lines {
                let _ = writeln!(m, "- result: {}", md(l));
            }
            for (cols, rows) in &a.tables {
                let _ = writeln!(
                    m,
                    "- result set ({} row(s) shown): {}",
                    rows.len(),
                    md_code(&cols.join(", "), false)
                );
                for r in rows {
                    let _ = writeln!(m, "  - {}", md_code(&r.join(" ¦ "), false));
                }
            }
            for (name, text) in &a.output {
                let _ = writeln!(m, "- {}:\n", md(name));
                m.push_str(&md_block(text));
            }
            if let Some(r) = &a.reconciliation {
                let _ = writeln!(
                    m,
                    "- **reconciled after a crash** (seq {}): verdict **{}**; probe {} found {}",
                    r.seq,
                    md(&r.verdict),
                    md_code(&r.probe, false),
                    md_code(&r.probe_result, false)
                );
            }
            m.push('\n');
        }
    }

    let _ = writeln!(m, "## Backup files\n");
    note(m);
    if run.files.is_empty() {
        m.push_str("No backup file is named in this run.\n\n");
        return;
    }
    m.push_str("In LSN order, the order logs must be restored in.\n\n| file | size (bytes) | sha256 | FirstLSN – LastLSN | copied at | restored at | notes |\n|---|---|---|---|---|---|---|\n");
    for f in &run.files {
        let lsn = match (&f.first_lsn, &f.last_lsn) {
            (Some(a), Some(b)) => format!("{a} – {b}"),
            _ => "(no header recorded)".into(),
        };
        let mut notes = f.notes.clone();
        if let Some(s) = &f.server {
            notes.insert(0, format!("written by {s}"));
        }
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} |",
            md_code(&f.name, true),
            f.size,
            md_code(&f.sha256, true),
            md(&lsn),
            md(f.copied_at.as_deref().unwrap_or("-")),
            md(f.restored_at.as_deref().unwrap_or("-")),
            md(&notes.join("; "))
        );
    }
    m.push('\n');
}

/// The run's recovery objectives, each figure with the seqs it comes from.
fn render_objectives(m: &mut String, o: &super::objectives::Objectives) {
    let _ = writeln!(m, "### Recovery objectives\n");
    let _ = writeln!(m, "- **run**: {}", md(&o.kind));
    for (name, f) in [("RPO", &o.rpo), ("RTO", &o.rto)] {
        let _ = writeln!(m, "- **{name}**: {}", md(&f.value));
        for (seq, what, _) in &f.from {
            let _ = writeln!(m, "  - seq {seq}: {}", md(what));
        }
    }
    let _ = writeln!(
        m,
        "- **last successful drill**: {}\n",
        md(o.last_drill
            .as_deref()
            .unwrap_or("none found in this journal or beside it"))
    );
}
