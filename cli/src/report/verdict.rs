//! What the top of a report says about the verification, in words shared by the HTML and
//! Markdown renderers, so that both state exactly the same strength of proof.
//!
//! This module only words the verifier's verdict; it never weakens a failure or strengthens a
//! pass. Without a trusted-keys file it says so in the headline itself.

use runledger_verifier::report::{CheckStatus, Verdict};

use super::model::{max_skew_text, Incident, TrustBasis};

/// How the report presents itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// `ok`, `open` or `bad`: the colour of the verdict box.
    pub class: &'static str,
    /// The headline: the verdict in capitals, and what it is relative to.
    pub headline: String,
    /// Sentences under the headline, most important first.
    pub sentences: Vec<String>,
    /// Label put on every section below when nothing is proven.
    pub section_note: Option<String>,
}

/// The sentence naming what the signatures were checked against.
pub fn trust_sentence(trust: &TrustBasis) -> String {
    match trust {
        TrustBasis::File { path, names } => format!(
            "Signatures checked against the trusted-keys file {path} (keys: {}).",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ),
        TrustBasis::JournalOwnKey => "Signed by the key the journal names; not checked against a trusted-keys file. \
             This proves the journal is consistent with itself, not who wrote it: run `runledger report --trust KEYS` \
             with the operators' trusted keys for that."
            .to_string(),
    }
}

/// The verdict box's content.
pub fn standing(incident: &Incident) -> Standing {
    let v = &incident.verification;
    let mut sentences = Vec::new();
    let own_key = incident.trust == TrustBasis::JournalOwnKey;
    let qualifier = if own_key {
        " (SIGNED BY THE KEY THE JOURNAL NAMES; NOT CHECKED AGAINST A TRUSTED-KEYS FILE)"
    } else {
        ""
    };
    if !incident.proven() {
        let headline = format!(
            "VERIFICATION FAILED: {} — NOTHING IN THIS REPORT IS PROVEN",
            v.verdict.words()
        );
        sentences.push(v.verdict_text.clone());
        if let Some(f) = &v.failure {
            let at = match (f.seq, &f.position) {
                (Some(seq), Some(p)) => format!("seq {seq} ({p})"),
                (Some(seq), None) => format!("seq {seq}"),
                (None, Some(p)) => p.clone(),
                (None, None) => "an unnamed position".into(),
            };
            let mut s = format!(
                "First failure at {at}, check {}: {}.",
                f.check.name(),
                f.reason
            );
            if let Some(e) = &f.expected {
                s.push_str(&format!(" Expected {e}"));
                if let Some(found) = &f.found {
                    s.push_str(&format!(", found {found}"));
                }
                s.push('.');
            }
            sentences.push(s);
        }
        for r in &v.requirements {
            if !r.holds {
                sentences.push(format!("Requirement --require-{} is not met.", r.name));
            }
        }
        sentences.push(
            "Everything below is what the journal file claims, shown for investigation only: it may have been altered, \
             and no step, time, file hash or decision in it is established by this report."
                .into(),
        );
        sentences.push(trust_sentence(&incident.trust));
        return Standing {
            class: "bad",
            headline,
            sentences,
            section_note: Some("Not proven: read from a journal that failed verification.".into()),
        };
    }
    sentences.push(v.verdict_text.clone());
    sentences.push(trust_sentence(&incident.trust));
    let passed = v
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Passed)
        .count();
    sentences.push(format!(
        "{passed} of {} checks passed; the others were not applicable (see the table).",
        v.checks.len()
    ));
    let class = match v.verdict {
        Verdict::ValidOpen => {
            if let Some(o) = &v.open {
                sentences.push(format!(
                    "The journal is open: it ends at seq {}. {} A later cut of its tail could not be detected without a checkpoint.",
                    o.ends_at_seq, o.reason
                ));
            }
            "open"
        }
        _ if own_key => "open",
        _ => "ok",
    };
    if v.verdict != Verdict::ValidAnchored {
        sentences.push(
            "No trusted checkpoint covers the whole journal: a key holder could have rewritten it consistently (give --checkpoint with a checkpoint held by a third party)."
                .into(),
        );
    }
    Standing {
        class,
        headline: format!("{}{qualifier}", v.verdict.words()),
        sentences,
        section_note: None,
    }
}

/// What a stamp's token was found to be, in words.
pub fn stamp_status(s: &super::model::StampView) -> String {
    match s.row.status.as_str() {
        "verified" => format!(
            "verified: signed by {}",
            s.row.tsa.as_deref().unwrap_or("-")
        ),
        "not_checked" => format!(
            "NOT CHECKED against a TSA certificate (claims {}){}",
            s.row.tsa.as_deref().unwrap_or("nothing readable"),
            if s.row.tsa_time.is_none() {
                format!(": {}", s.row.detail)
            } else {
                String::new()
            }
        ),
        _ => format!("FAILED: {}", s.row.detail),
    }
}

/// The sentences above the trusted-time table: what the tokens prove, whether they were
/// checked, and any skew over the limit.
pub fn stamp_notes(incident: &Incident) -> Vec<String> {
    let stamps = &incident.stamps;
    let mut out = Vec::new();
    if stamps.iter().any(|s| !s.verified()) {
        out.push(
            "Some time-stamp tokens were NOT CHECKED against a TSA certificate (give `--tsa-cert PEM`): their times are what the tokens claim, not proven."
                .into(),
        );
    }
    let flagged: Vec<&super::model::StampView> = stamps.iter().filter(|s| s.flagged()).collect();
    if let Some(worst) = flagged
        .iter()
        .max_by_key(|s| s.skew_us.map(i64::unsigned_abs))
    {
        out.push(format!(
            "SKEW OVER {max}: the host's clock and the TSA's differ by more than {max} at {} of {} stamped checkpoints (at most {}, at the checkpoint of {} events): the event times the host recorded are off by about that much.",
            flagged.len(),
            stamps.len(),
            worst.skew_text(),
            worst.row.size,
            max = max_skew_text(),
        ));
    }
    out.push(
        "A verified token proves its checkpoint, and every event it covers, existed by the TSA's time; it says nothing of the host's clock for other events. Skew is the host's time of the checkpoint's last event minus the TSA's."
            .into(),
    );
    out
}
