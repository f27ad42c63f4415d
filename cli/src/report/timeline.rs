//! The timeline chart: one row per step, each attempt a bar from its intent to its outcome,
//! drawn as inline SVG by hand.
//!
//! The chart uses no script, no font file and no external reference: text is set in the
//! reader's own sans-serif, and every label read from the journal is escaped.

use std::fmt::Write as _;

use runledger_engine::recovery::rfc3339_micros;
use runledger_verifier::report::format_duration;

use super::escape::html as esc;
use super::model::RunView;

const WIDTH: i64 = 1000;
const DURATION_END: i64 = 330;
const BAR_START: i64 = 345;
const BAR_END: i64 = 985;
const ROW: i64 = 22;
const TOP: i64 = 34;

/// The SVG timeline of a run, or None when no step has an attempt with a readable time.
pub fn svg(run: &RunView) -> Option<String> {
    let t0 = rfc3339_micros(&run.started_at)?;
    let rows: Vec<_> = run
        .steps
        .iter()
        .filter(|s| !s.attempts.is_empty())
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mut t1 = run
        .finished_at
        .as_deref()
        .and_then(rfc3339_micros)
        .unwrap_or(t0);
    for s in &rows {
        for a in &s.attempts {
            for t in [Some(a.started_at.as_str()), a.ended_at.as_deref()]
                .into_iter()
                .flatten()
            {
                t1 = t1.max(rfc3339_micros(t).unwrap_or(t0));
            }
        }
    }
    let total = (t1 - t0).max(1);
    let x = |t: i64| BAR_START + (t - t0).clamp(0, total) * (BAR_END - BAR_START) / total;
    let height = TOP + ROW * rows.len() as i64 + 12;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="timeline of {n} steps over {dur}" font-family="sans-serif" font-size="12">"##,
        n = rows.len(),
        dur = esc(&format_duration(total as u64)),
    );
    // Axis: five ticks, time since the run started.
    for i in 0..=4 {
        let tx = BAR_START + (BAR_END - BAR_START) * i / 4;
        let label = format!("+{}", format_duration((total * i / 4) as u64));
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            s,
            r##"<line x1="{tx}" y1="{y0}" x2="{tx}" y2="{y1}" stroke="#c8c8c8" stroke-width="1"/><text x="{tx}" y="{ty}" text-anchor="{anchor}" fill="#555">{label}</text>"##,
            y0 = TOP - 6,
            y1 = height - 8,
            ty = TOP - 12,
            label = esc(&label),
        );
    }
    let _ = write!(
        s,
        r##"<text x="0" y="{ty}" fill="#555" font-weight="bold">step</text><text x="{DURATION_END}" y="{ty}" text-anchor="end" fill="#555" font-weight="bold">span</text>"##,
        ty = TOP - 12
    );
    for r in &run.resumes {
        if let Some(t) = rfc3339_micros(&r.at) {
            let rx = x(t);
            let _ = write!(
                s,
                r##"<line x1="{rx}" y1="{y0}" x2="{rx}" y2="{y1}" stroke="#7b3fb0" stroke-width="2" stroke-dasharray="4 3"><title>run resumed at {at} (seq {seq})</title></line>"##,
                y0 = TOP - 6,
                y1 = height - 8,
                at = esc(&r.at),
                seq = r.seq,
            );
        }
    }
    for (i, step) in rows.iter().enumerate() {
        let y = TOP + ROW * i as i64;
        if i % 2 == 0 {
            let _ = write!(
                s,
                r##"<rect x="0" y="{y}" width="{WIDTH}" height="{ROW}" fill="#f4f6f8"/>"##
            );
        }
        let label: String = if step.id.chars().count() > 34 {
            step.id.chars().take(33).chain(['…']).collect()
        } else {
            step.id.clone()
        };
        let first = step.first_at().and_then(rfc3339_micros).unwrap_or(t0);
        let last = step.last_at().and_then(rfc3339_micros).unwrap_or(t1);
        let span = if step.last_at().is_some() {
            format_duration((last - first).max(0) as u64)
        } else {
            "in flight".into()
        };
        let _ = write!(
            s,
            r##"<text x="4" y="{ty}" fill="#111">{label}<title>{id}</title></text><text x="{DURATION_END}" y="{ty}" text-anchor="end" fill="#333">{span}</text>"##,
            ty = y + 15,
            label = esc(&label),
            id = esc(&step.id),
            span = esc(&span),
        );
        for a in &step.attempts {
            let start = rfc3339_micros(&a.started_at).unwrap_or(t0);
            let end = a.ended_at.as_deref().and_then(rfc3339_micros).unwrap_or(t1);
            let (bx, bw) = (x(start), (x(end) - x(start)).max(3));
            let color = match a.status.as_str() {
                "succeeded" => "#2e7d32",
                "failed" => "#c62828",
                "in flight" => "#ef6c00",
                _ => "#6a1b9a",
            };
            let _ = write!(
                s,
                r##"<rect x="{bx}" y="{by}" width="{bw}" height="{bh}" rx="2" fill="{color}"><title>{unit} attempt {att}: {status}, {from} to {to}</title></rect>"##,
                by = y + 4,
                bh = ROW - 8,
                unit = esc(&a.unit),
                att = a.attempt,
                status = esc(&a.status),
                from = esc(&a.started_at),
                to = esc(a.ended_at.as_deref().unwrap_or("(no outcome)")),
            );
        }
    }
    s.push_str("</svg>");
    Some(s)
}
