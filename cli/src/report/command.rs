//! `runledger report`: verify a journal, then write the post-incident report as HTML
//! (`--html`), Markdown (`--md`) or both; and the drill's `DIR/report.html`.
//!
//! Each file is written whole to a temporary name beside it and put in place, so a reader
//! never sees half a report; an existing file is refused without `--force`. The exit code says whether the report could claim anything as proven.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use runledger_engine::journal::write_atomically;

use super::model::gather;
use super::{html, markdown};
use crate::exit::Exit;
use crate::output::{self, outln, Output};

/// `runledger report --journal J [--html OUT] [--md OUT] [--trust KEYS] [--checkpoint F]...
/// [--force]`, with at least one of `--html` and `--md`; `-` writes one of them to standard
/// output.
///
/// Exits 0 when the report was written and verification holds, 1 when it was written but
/// verification failed (the report says so at the top), 2 when it could not be written.
pub fn report(
    journal: &Path,
    html_out: Option<&Output>,
    md_out: Option<&Output>,
    trust: Option<&Path>,
    checkpoints: &[PathBuf],
    tsa_certs: &[PathBuf],
    force: bool,
) -> Result<Exit> {
    let mut inputs: Vec<&Path> = vec![journal];
    inputs.extend(trust);
    inputs.extend(checkpoints.iter().map(PathBuf::as_path));
    inputs.extend(tsa_certs.iter().map(PathBuf::as_path));
    let mut outputs: Vec<(&str, &Output)> = html_out.map(|h| ("--html", h)).into_iter().collect();
    outputs.extend(md_out.map(|m| ("--md", m)));
    if outputs.is_empty() {
        anyhow::bail!("give --html OUT, --md OUT or both: the report is written to a file or `-`");
    }
    output::one_stdout(&outputs)?;
    for (_, out) in &outputs {
        output::check(out, force, &inputs)?;
    }
    let incident = gather(journal, trust, checkpoints, tsa_certs)?;
    // What is said about the files goes where the files are not.
    let to_stdout = outputs.iter().any(|(_, o)| o.is_stdout());
    let say = |line: &str| -> Result<()> {
        let line = runledger_verifier::terminal::line(line);
        if to_stdout {
            eprintln!("{line}");
            Ok(())
        } else {
            outln!("{line}")
        }
    };
    if let Some(html_out) = html_out {
        output::write(html_out, force, html::render(&incident).as_bytes())?;
        say(&format!("wrote {}", html_out.describe()))?;
    }
    if let Some(md_out) = md_out {
        output::write(md_out, force, markdown::render(&incident).as_bytes())?;
        say(&format!("wrote {}", md_out.describe()))?;
    }
    let st = super::verdict::standing(&incident);
    say(&st.headline)?;
    if let Some(first) = st.sentences.first() {
        say(first)?;
    }
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
    let checkpoints = if checkpoint.is_file() {
        vec![checkpoint]
    } else {
        Vec::new()
    };
    let incident = gather(journal, Some(&trust), &checkpoints, &[])?;
    let out = dir.join("report.html");
    write(&out, &html::render(&incident))?;
    Ok(out)
}

fn write(path: &Path, text: &str) -> Result<()> {
    write_atomically(path, text.as_bytes())
        .with_context(|| format!("cannot write report {}", path.display()))
}
