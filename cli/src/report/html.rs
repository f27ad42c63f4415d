//! The report as one self-contained HTML page: inline CSS (screen, narrow screen and print),
//! inline SVG, no script, no font, no image and no link to anything outside the page.
//!
//! Every string from the journal is escaped with [`escape::html`]; the verdict box comes first
//! and, when verification failed, every section repeats that nothing in it is proven.

use std::fmt::Write as _;

use runledger_verifier::report::{format_duration, CheckStatus};

use super::escape::html as esc;
use super::model::{max_skew_text, span, AttemptView, Incident, RunView, StepView};
use super::{timeline, verdict};

const CSS: &str = r#"
:root{--ok:#1b5e20;--okbg:#e8f5e9;--open:#8a5300;--openbg:#fff4e0;--bad:#b71c1c;--badbg:#ffebee;--line:#d0d4d9;--muted:#555}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:0 auto;max-width:1100px;padding:16px;color:#111;line-height:1.4;font-size:15px}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.25em;border-bottom:2px solid var(--line);padding-bottom:.2em;margin-top:1.6em}h3{font-size:1.05em;margin:.2em 0}
code,pre{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"Liberation Mono",monospace;font-size:.88em}
pre{background:#f6f8fa;border:1px solid var(--line);padding:8px;white-space:pre-wrap;overflow-wrap:anywhere;margin:.3em 0}
.hash,.wrap{overflow-wrap:anywhere;word-break:break-all}
p,li,h3,dd{overflow-wrap:anywhere}td{overflow-wrap:break-word}
.verdict{border:4px solid;padding:12px 16px;border-radius:6px;margin:8px 0 16px}
.verdict p{margin:.35em 0}.verdict .headline{font-size:1.45em;font-weight:800;letter-spacing:.02em}
.ok{border-color:var(--ok);background:var(--okbg)}.ok .headline{color:var(--ok)}
.open{border-color:var(--open);background:var(--openbg)}.open .headline{color:var(--open)}
.bad{border-color:var(--bad);background:var(--badbg)}.bad .headline{color:var(--bad)}
.claim{background:var(--badbg);border-left:6px solid var(--bad);padding:6px 10px;font-weight:700;color:var(--bad)}
body.unproven{background:repeating-linear-gradient(135deg,#fff,#fff 24px,#fff5f5 24px,#fff5f5 48px)}
table{border-collapse:collapse;width:100%;margin:.4em 0}th,td{border:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top}th{background:#eef1f4}
.scroll{overflow-x:auto}
.s-succeeded,.s-passed{color:var(--ok);font-weight:700}.s-failed{color:var(--bad);font-weight:700}.s-in-flight,.s-not_reached{color:var(--open);font-weight:700}
.step{border:1px solid var(--line);border-radius:6px;padding:8px 12px;margin:10px 0;break-inside:avoid}
.attempt{border-top:1px dashed var(--line);padding-top:6px;margin-top:6px}
.muted{color:var(--muted)}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:.4em 0}dl.kv dt{font-weight:700}dl.kv dd{margin:0;overflow-wrap:anywhere}
.chart{overflow-x:auto}.chart svg{display:block;width:100%;min-width:720px;height:auto}
.legend span{display:inline-block;margin-right:12px}.sw{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:middle;margin-right:4px}
@media (max-width:640px){body{padding:8px;font-size:14px}dl.kv{grid-template-columns:1fr}dl.kv dd{margin-bottom:6px}.verdict .headline{font-size:1.15em}}
@media print{body{max-width:none;padding:0;font-size:10pt;background:none}body.unproven{background:none}.verdict,.claim,.sw,th,rect{-webkit-print-color-adjust:exact;print-color-adjust:exact}
.chart{overflow:visible}.chart svg{min-width:0}.scroll{overflow:visible}h2{break-after:avoid}.step,tr{break-inside:avoid}pre{white-space:pre-wrap}}
"#;

/// Renders the whole page.
pub fn render(incident: &Incident) -> String {
    let st = verdict::standing(incident);
    let v = &incident.verification;
    let title = incident
        .runs
        .first()
        .map(|r| format!("Post-incident report: {}", r.runbook))
        .unwrap_or_else(|| "Post-incident report".into());
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src 'none'\">\
<meta name=\"referrer\" content=\"no-referrer\">\
<title>{}</title><style>{CSS}</style></head><body class=\"{}\">\n",
        esc(&format!("{} — {}", title, v.verdict.words())),
        if incident.proven() { "proven" } else { "unproven" }
    );
    // The verdict comes first, before anything read from the journal.
    let _ = write!(
        h,
        "<section class=\"verdict {}\" id=\"verdict\"><p class=\"headline\">{}</p>",
        st.class,
        esc(&st.headline)
    );
    for s in &st.sentences {
        let _ = write!(h, "<p>{}</p>", esc(s));
    }
    h.push_str("</section>\n");
    let _ = writeln!(h, "<h1>{}</h1>", esc(&title));
    let note = |h: &mut String| {
        if let Some(n) = &st.section_note {
            let _ = write!(h, "<p class=\"claim\">{}</p>", esc(n));
        }
    };

    h.push_str("<h2 id=\"checks\">Verification checks</h2>");
    h.push_str("<div class=\"scroll\"><table><thead><tr><th>check</th><th>status</th><th>detail</th></tr></thead><tbody>");
    for c in &v.checks {
        let status = match c.status {
            CheckStatus::Passed => "passed",
            CheckStatus::Failed => "failed",
            CheckStatus::NotReached => "not_reached",
            CheckStatus::Skipped => "skipped",
        };
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td class=\"s-{status}\">{status}</td><td>{}</td></tr>",
            esc(c.check.name()),
            esc(&c.detail)
        );
    }
    h.push_str("</tbody></table></div>");
    let j = &v.journal;
    h.push_str("<dl class=\"kv\">");
    kv(&mut h, "journal", &format!("{} ({})", j.path, j.format));
    kv(
        &mut h,
        "journal id",
        j.journal_id.as_deref().unwrap_or("(unread)"),
    );
    kv(
        &mut h,
        "events verified",
        &format!(
            "{}{}",
            j.events,
            j.last_seq
                .map(|s| format!(", seq 0 to {s}"))
                .unwrap_or_default()
        ),
    );
    kv_hash(&mut h, "tree root", &j.root);
    for s in &j.signers {
        kv(
            &mut h,
            "signer",
            &format!("{} ({} events)", s.name, s.events),
        );
        kv_hash(&mut h, "signer key id", &s.key_id);
    }
    for c in &v.checkpoints {
        kv(
            &mut h,
            "checkpoint",
            &format!(
                "{}: size {}, signed by {}, {}",
                c.path,
                c.size,
                c.signer.as_deref().unwrap_or("(no trusted signature)"),
                c.status
            ),
        );
    }
    if let Some(e) = &incident.engine_version {
        kv(&mut h, "written by", e);
    }
    h.push_str("</dl>\n");
    if !incident.stamps.is_empty() {
        h.push_str("<h2 id=\"trusted-time\">Trusted time</h2>");
        note(&mut h);
        for line in verdict::stamp_notes(incident) {
            let _ = write!(h, "<p class=\"claim\">{}</p>", esc(&line));
        }
        h.push_str("<div class=\"scroll\"><table><thead><tr><th>checkpoint (events)</th><th>TSA time</th><th>host time (last event)</th><th>skew</th><th>token</th></tr></thead><tbody>");
        for s in &incident.stamps {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td{}>{}{}</td><td>{}</td></tr>",
                s.row.size,
                esc(s.row.tsa_time.as_deref().unwrap_or("-")),
                esc(&match (&s.host_time, s.host_seq) {
                    (Some(t), Some(seq)) => format!("{t} (seq {seq})"),
                    _ => "-".into(),
                }),
                if s.flagged() {
                    " class=\"s-failed\""
                } else {
                    ""
                },
                esc(&s.skew_text()),
                if s.flagged() {
                    format!(" SKEW OVER {}", max_skew_text())
                } else {
                    String::new()
                },
                esc(&verdict::stamp_status(s))
            );
        }
        h.push_str("</tbody></table></div>");
    }

    if !incident.unreadable.is_empty() {
        h.push_str("<h2>Records that could not be read</h2>");
        note(&mut h);
        h.push_str("<ul>");
        for u in &incident.unreadable {
            let _ = write!(h, "<li><code class=\"wrap\">{}</code></li>", esc(u));
        }
        h.push_str("</ul>");
    }
    if incident.runs.is_empty() {
        h.push_str("<h2>Runs</h2>");
        note(&mut h);
        h.push_str("<p>The journal holds no run.</p>");
    }
    for run in &incident.runs {
        render_run(&mut h, run, &note);
        if let Some(o) = incident.objectives.iter().find(|o| o.run_id == run.id) {
            render_objectives(&mut h, o);
        }
    }
    let _ = write!(
        h,
        "<footer><p class=\"muted\">Written by runledger {} from {}. This page loads nothing: no script, font, style sheet or image from anywhere.</p></footer>\n</body></html>\n",
        esc(env!("CARGO_PKG_VERSION")),
        esc(&j.path)
    );
    h
}

fn kv(h: &mut String, k: &str, v: &str) {
    let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
}

fn kv_hash(h: &mut String, k: &str, v: &str) {
    let _ = write!(
        h,
        "<dt>{}</dt><dd><code class=\"hash\">{}</code></dd>",
        esc(k),
        esc(v)
    );
}

fn status_cell(s: &str) -> String {
    let class = s.replace(' ', "-");
    format!("<span class=\"s-{}\">{}</span>", esc(&class), esc(s))
}

fn render_run(h: &mut String, run: &RunView, note: &dyn Fn(&mut String)) {
    let _ = write!(h, "<h2 id=\"run-{}\">Run summary</h2>", esc(&run.id));
    note(h);
    h.push_str("<dl class=\"kv\">");
    kv(h, "run id", &run.id);
    kv(h, "operator", &format!("{}@{}", run.user, run.host));
    kv(h, "host", &run.host);
    kv(
        h,
        "runbook",
        &format!("{} version {}", run.runbook, run.version),
    );
    kv_hash(h, "runbook sha256", &run.runbook_sha256);
    kv(
        h,
        "started",
        &format!("{} (seq {})", run.started_at, run.started_seq),
    );
    kv(
        h,
        "ended",
        run.finished_at.as_deref().unwrap_or("(not finished)"),
    );
    kv(
        h,
        "elapsed",
        &span(&run.started_at, run.finished_at.as_deref()),
    );
    let _ = write!(h, "<dt>outcome</dt><dd>{}", status_cell(&run.status));
    if let Some(s) = &run.summary {
        let _ = write!(h, ": {}", esc(s));
    }
    h.push_str("</dd>");
    kv(h, "resumes", &run.resumes.len().to_string());
    for r in &run.resumes {
        kv(
            h,
            "resumed",
            &format!(
                "{} (seq {}): {}{}",
                r.at,
                r.seq,
                r.reason,
                if r.in_doubt.is_empty() {
                    String::new()
                } else {
                    format!("; in doubt: {}", r.in_doubt.join(", "))
                }
            ),
        );
    }
    for (name, kind, endpoint) in &run.targets {
        kv(h, &format!("target {name}"), &format!("{kind} {endpoint}"));
    }
    for (k, val) in &run.parameters {
        kv(h, &format!("parameter {k}"), val);
    }
    h.push_str("</dl>\n");

    h.push_str("<h2 id=\"recovery\">Recovery point, files not applied and operator decisions</h2>");
    note(h);
    match &run.recovery {
        Some(r) => {
            let _ = write!(
                h,
                "<p><strong>Recovery point reached: LSN <code>{}</code></strong>{}. <span class=\"muted\">{}</span></p>",
                esc(&r.lsn),
                if r.recovered {
                    ", then the database was recovered"
                } else {
                    " — the database was not recovered in this journal"
                },
                esc(&r.evidence)
            );
            if let Some(n) = &r.newest_available {
                let short =
                    r.lsn.parse::<u128>().ok() < n.parse::<u128>().ok() || !run.gaps.is_empty();
                let _ = write!(
                    h,
                    "<p>Newest LastLSN among the backup headers recorded: <code>{}</code>{}</p>",
                    esc(n),
                    if short {
                        " — the recovery point is short of what was available: transactions after the recovery point are lost (see the files not applied below)"
                    } else {
                        " — every log backup the journal records was applied"
                    }
                );
            }
        }
        None => h.push_str("<p>No restore point was observed in this run.</p>"),
    }
    if run.gaps.is_empty() {
        h.push_str("<p>Files not applied: none — every backup the journal names was applied or already contained.</p>");
    } else {
        h.push_str("<p><strong>Files not applied (and why):</strong></p><ul>");
        for g in &run.gaps {
            let _ = write!(h, "<li>{}</li>", esc(g));
        }
        h.push_str("</ul>");
    }
    if run.decisions.is_empty() {
        h.push_str("<p>No approval or operator decision was recorded.</p>");
    } else {
        h.push_str("<div class=\"scroll\"><table><thead><tr><th>seq</th><th>time</th><th>step</th><th>decision</th><th>by</th><th>what</th></tr></thead><tbody>");
        for d in &run.decisions {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td><strong>{}</strong></td><td>{}</td><td>{}</td></tr>",
                d.seq,
                esc(&d.at),
                esc(&d.step),
                esc(d.decision.as_str()),
                esc(&d.operator),
                esc(&d.text)
            );
        }
        h.push_str("</tbody></table></div>");
    }

    h.push_str("<h2 id=\"timeline\">Timeline</h2>");
    note(h);
    match timeline::svg(run) {
        Some(svg) => {
            h.push_str("<div class=\"chart\">");
            h.push_str(&svg);
            h.push_str("</div><p class=\"legend muted\"><span><i class=\"sw\" style=\"background:#2e7d32\"></i>succeeded</span><span><i class=\"sw\" style=\"background:#c62828\"></i>failed</span><span><i class=\"sw\" style=\"background:#6a1b9a\"></i>reconciled after a crash</span><span><i class=\"sw\" style=\"background:#ef6c00\"></i>in flight</span><span>dashed line: run resumed</span></p>");
        }
        None => h.push_str("<p>No step was attempted.</p>"),
    }

    h.push_str("<h2 id=\"steps\">Steps</h2>");
    note(h);
    h.push_str("<div class=\"scroll\"><table><thead><tr><th>#</th><th>step</th><th>action</th><th>status</th><th>attempts</th><th>span</th><th>executing</th></tr></thead><tbody>");
    for (i, s) in run.steps.iter().enumerate() {
        let _ = write!(
            h,
            "<tr><td>{}</td><td><a href=\"#step-{}\"><code>{}</code></a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            i + 1,
            esc(&s.id),
            esc(&s.id),
            esc(&s.action),
            status_cell(&s.status()),
            s.attempts.len(),
            esc(&s.first_at().map(|f| span(f, s.last_at())).unwrap_or_else(|| "-".into())),
            esc(&s.executed_us().map(format_duration).unwrap_or_else(|| "-".into()))
        );
    }
    h.push_str("</tbody></table></div>");
    for (i, s) in run.steps.iter().enumerate() {
        render_step(h, i + 1, s);
    }

    h.push_str("<h2 id=\"files\">Backup files</h2>");
    note(h);
    if run.files.is_empty() {
        h.push_str("<p>No backup file is named in this run.</p>");
    } else {
        h.push_str("<div class=\"scroll\"><table><thead><tr><th>file</th><th>size (bytes)</th><th>sha256</th><th>FirstLSN – LastLSN</th><th>copied at</th><th>restored at</th></tr></thead><tbody>");
        for f in &run.files {
            let lsn = match (&f.first_lsn, &f.last_lsn) {
                (Some(a), Some(b)) => format!("{a} – {b}"),
                _ => "(no header recorded)".into(),
            };
            let _ = write!(
                h,
                "<tr><td><code class=\"wrap\">{}</code>{}{}</td><td>{}</td><td><code class=\"hash\">{}</code></td><td><code class=\"wrap\">{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(&f.name),
                f.server
                    .as_deref()
                    .map(|s| format!("<br><span class=\"muted\">written by {}</span>", esc(s)))
                    .unwrap_or_default(),
                f.notes
                    .iter()
                    .map(|n| format!("<br><span class=\"muted\">{}</span>", esc(n)))
                    .collect::<String>(),
                f.size,
                esc(&f.sha256),
                esc(&lsn),
                esc(f.copied_at.as_deref().unwrap_or("-")),
                esc(f.restored_at.as_deref().unwrap_or("-"))
            );
        }
        h.push_str("</tbody></table></div><p class=\"muted\">In LSN order, which is the order logs must be restored in; file names and times do not sort that way when two servers wrote them.</p>");
    }
}

fn render_step(h: &mut String, n: usize, s: &StepView) {
    let _ = write!(
        h,
        "<section class=\"step\" id=\"step-{}\"><h3>{n}. <code>{}</code> — {}</h3><p class=\"muted\">action {} · status {}</p>",
        esc(&s.id),
        esc(&s.id),
        esc(&s.title),
        esc(&s.action),
        status_cell(&s.status())
    );
    for (seq, name, summary) in &s.observations {
        let _ = write!(
            h,
            "<p class=\"muted\">observed <code>{}</code> (seq {seq}): {}</p>",
            esc(name),
            esc(summary)
        );
    }
    for d in &s.decisions {
        let _ = write!(
            h,
            "<p><strong>{}</strong> by {} at {} (seq {}{}): {}</p>",
            esc(d.decision.as_str()),
            esc(&d.operator),
            esc(&d.at),
            d.seq,
            d.intent_seq
                .map(|i| format!(", for the intent at seq {i}"))
                .unwrap_or_default(),
            esc(&d.text)
        );
    }
    for a in &s.attempts {
        render_attempt(h, a);
    }
    h.push_str("</section>\n");
}

fn render_attempt(h: &mut String, a: &AttemptView) {
    let _ = write!(
        h,
        "<div class=\"attempt\"><p><code>{}</code> attempt {} · {} · target <code>{}</code> · effect {} · intent seq {} at {} · {}{}</p><pre>{}</pre>",
        esc(&a.unit),
        a.attempt,
        status_cell(&a.status),
        esc(&a.target),
        esc(&a.effect),
        a.intent_seq,
        esc(&a.started_at),
        esc(a.ended_at.as_deref().map(|e| format!("ended {e}")).as_deref().unwrap_or("no outcome")),
        a.duration_us
            .map(|d| format!(" · took {}", esc(&format_duration(d))))
            .unwrap_or_default(),
        esc(&a.command)
    );
    for f in &a.inputs {
        let _ = write!(
            h,
            "<p class=\"muted\">input <code class=\"wrap\">{}</code>, {} bytes, sha256 <code class=\"hash\">{}</code></p>",
            esc(&f.path),
            f.size,
            esc(&f.sha256)
        );
    }
    if !a.messages.is_empty() {
        h.push_str("<p><strong>Server messages:</strong></p><ul>");
        for m in &a.messages {
            let _ = write!(h, "<li><code class=\"wrap\">{}</code></li>", esc(m));
        }
        h.push_str("</ul>");
    }
    for l in &a.result_lines {
        let _ = write!(h, "<p class=\"wrap\">{}</p>", esc(l));
    }
    for (cols, rows) in &a.tables {
        h.push_str("<div class=\"scroll\"><table><thead><tr>");
        for c in cols {
            let _ = write!(h, "<th>{}</th>", esc(c));
        }
        h.push_str("</tr></thead><tbody>");
        for r in rows {
            h.push_str("<tr>");
            for c in r {
                let _ = write!(h, "<td class=\"wrap\">{}</td>", esc(c));
            }
            h.push_str("</tr>");
        }
        h.push_str("</tbody></table></div>");
    }
    for (name, text) in &a.output {
        let _ = write!(
            h,
            "<p class=\"muted\">{}</p><pre>{}</pre>",
            esc(name),
            esc(text)
        );
    }
    if let Some(r) = &a.reconciliation {
        let _ = write!(
            h,
            "<p><strong>Reconciled after a crash</strong> (seq {}): verdict <strong>{}</strong>; probe <code class=\"wrap\">{}</code> found <code class=\"wrap\">{}</code></p>",
            r.seq,
            esc(&r.verdict),
            esc(&r.probe),
            esc(&r.probe_result)
        );
    }
    h.push_str("</div>");
}

/// The run's recovery objectives, each figure with the seqs it comes from.
fn render_objectives(h: &mut String, o: &super::objectives::Objectives) {
    let _ = write!(
        h,
        "<h3 id=\"objectives-{}\">Recovery objectives</h3><dl class=\"kv\">",
        esc(&o.run_id)
    );
    kv(h, "run", &o.kind);
    for (name, f) in [("RPO", &o.rpo), ("RTO", &o.rto)] {
        let _ = write!(h, "<dt>{name}</dt><dd>{}", esc(&f.value));
        for (seq, what, step) in &f.from {
            match step {
                Some(step) => {
                    let _ = write!(
                        h,
                        "<br>from <a href=\"#step-{}\">seq {seq}</a>: {}",
                        esc(step),
                        esc(what)
                    );
                }
                None => {
                    let _ = write!(h, "<br>from seq {seq}: {}", esc(what));
                }
            }
        }
        h.push_str("</dd>");
    }
    kv(
        h,
        "last successful drill",
        o.last_drill
            .as_deref()
            .unwrap_or("none found in this journal or beside it"),
    );
    h.push_str("</dl>");
}
