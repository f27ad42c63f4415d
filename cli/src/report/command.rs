//! `runledger report`: verify a journal, then write the post-incident report as HTML (and
//! Markdown with `--md`); and the drill's `DIR/report.html`.
//!
//! Each file is written whole to a temporary name beside it and renamed, so a reader never
//! sees half a report. The exit code says whether the report could claim anything as proven.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use runledger_engine::journal::write_atomically;

use super::model::{gather, Incident};
use super::{html, markdown};
use crate::exit::Exit;

/// `runledger report --journal J --html OUT [--md OUT] [--trust KEYS] [--checkpoint F]...`.
///
/// Exits 0 when the report was written and verification holds, 1 when it was written but
/// verification failed (the report says so at the top), 2 when it could not be written.
pub fn report(
    journal: &Path,
    html_out: &Path,
    md_out: Option<&Path>,
    trust: Option<&Path>,
    checkpoints: &[PathBuf],
) -> Result<Exit> {
    let incident = gather(journal, trust, checkpoints)?;
    write(html_out, &html::render(&incident))?;
    println!("wrote {}", html_out.display());
    if let Some(md_out) = md_out {
        write(md_out, &markdown::render(&incident))?;
        println!("wrote {}", md_out.display());
    }
    say_verdict(&incident);
    Ok(if incident.proven() {
        Exit::Ok
    } else {
        Exit::Failed
    })
}

/// Writes `DIR/report.html` for a drill, trusting the drill's own key file and checkpoint.
pub fn write_drill_report(dir: &Path, journal: &Path, key: &Path) -> Result<PathBuf> {
    let trust = PathBuf::from(format!("{}.pub", key.display()));
    let checkpoint = dir.join("checkpoint.txt");
    let checkpoints = if checkpoint.exists() {
        vec![checkpoint]
    } else {
        Vec::new()
    };
    let incident = gather(journal, Some(&trust), &checkpoints)?;
    let out = dir.join("report.html");
    write(&out, &html::render(&incident))?;
    Ok(out)
}

fn write(path: &Path, text: &str) -> Result<()> {
    write_atomically(path, text.as_bytes())
        .with_context(|| format!("cannot write report {}", path.display()))
}

fn say_verdict(incident: &Incident) {
    let st = super::verdict::standing(incident);
    println!("{}", st.headline);
    if let Some(first) = st.sentences.first() {
        println!("{first}");
    }
}
