//! Whether witnesses vouch for the journal: directly (a checkpoint of the journal carrying
//! cosignatures) or through the site log (a cosigned site checkpoint whose entries seal the
//! journal). Offline: the evidence is read from files, nothing is fetched.

use super::*;
use crate::note::Note;
use crate::report::{Cosigner, Witnessed};
use crate::site::{seals_hold, Evidence, SealsHold};
use crate::witness_policy::Policy;

/// What the verifier is asked about witnesses.
#[derive(Debug, Clone)]
pub struct WitnessOptions {
    /// The auditor's witness policy: the witnesses, their keys and the quorum.
    pub policy: Policy,
    /// Site evidence files, as (file name for reports, text).
    pub evidence: Vec<(String, String)>,
}

/// Evidence read before the walk.
pub(super) struct HeldEvidence {
    pub(super) evidence: Evidence,
    pub(super) cosigners: Vec<Cosigner>,
    pub(super) quorum: crate::witness_policy::QuorumResult,
}

/// The witnesses of `policy` whose cosignature on `note` verifies, with its time.
pub(super) fn cosigners(policy: &Policy, note: &Note) -> Vec<Cosigner> {
    policy
        .witnesses()
        .iter()
        .filter_map(|w| {
            let time = crate::cosignature::verify_note(note, &w.key).ok()?;
            Some(Cosigner {
                witness: w.name.clone(),
                time,
                at: crate::report::unix_rfc3339(time),
            })
        })
        .collect()
}

/// Reads every evidence file; one that is malformed or whose entries do not hash to its
/// checkpoint is an error (exit 2: the evidence cannot be used either way).
pub(super) fn hold_evidence(options: &WitnessOptions) -> Result<Vec<HeldEvidence>, VerifyError> {
    let mut out = Vec::new();
    for (path, text) in &options.evidence {
        let evidence = Evidence::parse(path, text).map_err(|e| VerifyError::Checkpoint {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let cosigners = cosigners(&options.policy, &evidence.note);
        let names = cosigners.iter().map(|c| c.witness.clone()).collect();
        let quorum = options.policy.quorum(&names);
        out.push(HeldEvidence {
            evidence,
            cosigners,
            quorum,
        });
    }
    Ok(out)
}

impl Verifier<'_> {
    /// Whether the root at `size` must be kept as the walk passes it.
    pub(super) fn wants_root(&self, size: u64) -> bool {
        self.checkpoints.iter().any(|cp| cp.checkpoint.size == size)
            || self.sealed_sizes.contains(&size)
    }

    /// The witness check, at the end of a walk that found nothing wrong: a contradiction by
    /// evidence that meets the quorum is a failure; anything short of a quorum covering the
    /// whole journal is said, and fails `--require-witness`.
    pub(super) fn check_witnesses(&mut self, total: u64) -> Option<Witnessed> {
        let options = self.options.witness.as_ref()?;
        let journal = format!(
            "runledger/{}",
            self.summary.journal_id.clone().unwrap_or_default()
        );
        let mut best: Option<Witnessed> = None;
        let mut notes: Vec<String> = Vec::new();
        // Directly: a checkpoint of this journal with cosignatures.
        for cp in &self.checkpoints {
            if cp.checkpoint.origin != journal || cp.signer.is_none() {
                continue;
            }
            let cosigners = cosigners(&options.policy, &cp.note);
            if cosigners.is_empty() {
                continue;
            }
            let names = cosigners.iter().map(|c| c.witness.clone()).collect();
            let quorum = options.policy.quorum(&names);
            let covers = cp.checkpoint.size == total && cp.matched == Some(true);
            let candidate = Witnessed {
                holds: quorum.met && covers,
                via: cp.path.clone(),
                site: None,
                site_size: None,
                entry: None,
                covers: if cp.matched == Some(true) {
                    cp.checkpoint.size
                } else {
                    0
                },
                cosigners,
                quorum: quorum.text.clone(),
                text: String::new(),
            };
            keep_best(&mut best, candidate);
        }
        // Through the site log.
        let roots = &self.roots_at;
        for held in &self.evidence {
            let ev = &held.evidence;
            let seals: Vec<_> = ev.seals_of(&journal).collect();
            let verdict = seals_hold(&seals, total, |n| roots.get(&n).copied());
            match verdict {
                SealsHold::Contradicted { index, seq, reason } if held.quorum.met => {
                    let mut f = fail(
                        Check::Witnesses,
                        Some(seq),
                        format!(
                            "{reason} (site log {} size {}, cosigned by {})",
                            ev.checkpoint.origin,
                            ev.checkpoint.size,
                            names(&held.cosigners)
                        ),
                    );
                    f.position = Some(format!("{} entry {index}", ev.path));
                    self.failure = Some(*f);
                    return None;
                }
                SealsHold::Contradicted { reason, .. } => notes.push(format!(
                    "{}: {reason}, but its cosignatures do not meet the quorum ({}): not counted",
                    ev.path, held.quorum.text
                )),
                SealsHold::None => notes.push(format!(
                    "{}: site log {} holds no seal of this journal",
                    ev.path, ev.checkpoint.origin
                )),
                SealsHold::Yes { size, index } => keep_best(
                    &mut best,
                    Witnessed {
                        holds: held.quorum.met && size == total,
                        via: ev.path.clone(),
                        site: Some(ev.checkpoint.origin.clone()),
                        site_size: Some(ev.checkpoint.size),
                        entry: Some(index),
                        covers: size,
                        cosigners: held.cosigners.clone(),
                        quorum: held.quorum.text.clone(),
                        text: String::new(),
                    },
                ),
            }
        }
        let mut w = best.unwrap_or_else(|| Witnessed {
            holds: false,
            via: String::new(),
            site: None,
            site_size: None,
            entry: None,
            covers: 0,
            cosigners: Vec::new(),
            quorum: String::new(),
            text: String::new(),
        });
        w.text = describe(&w, total, &notes);
        Some(w)
    }
}

/// Keeps the stronger of two findings: one that holds, else the one covering more.
fn keep_best(best: &mut Option<Witnessed>, candidate: Witnessed) {
    let better = match best {
        None => true,
        Some(b) => (candidate.holds, candidate.covers) > (b.holds, b.covers),
    };
    if better {
        *best = Some(candidate);
    }
}

fn names(cosigners: &[Cosigner]) -> String {
    if cosigners.is_empty() {
        return "no witness of the policy".into();
    }
    cosigners
        .iter()
        .map(|c| format!("{} at {}", c.witness, c.at))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(w: &Witnessed, total: u64, notes: &[String]) -> String {
    let via = match (&w.site, w.site_size, w.entry) {
        (Some(site), Some(size), Some(entry)) => {
            format!("site log {site} (size {size}, entry {entry}) in {}", w.via)
        }
        _ => w.via.clone(),
    };
    let mut text = if w.via.is_empty() {
        "no evidence of witnesses for this journal: no cosigned checkpoint of it and no site evidence sealing it".to_string()
    } else if w.holds {
        format!(
            "witnessed: all {total} events, through {via}; cosigned by {}; {}",
            names(&w.cosigners),
            w.quorum
        )
    } else if w.covers < total {
        format!(
            "NOT WITNESSED in full: the witnessed evidence ({via}) covers {} of {total} events (seq {} onward is not covered); cosigned by {}; {}",
            w.covers,
            w.covers,
            names(&w.cosigners),
            w.quorum
        )
    } else {
        format!(
            "NOT WITNESSED: {via} is cosigned by {}, which does not meet the quorum: {}",
            names(&w.cosigners),
            w.quorum
        )
    };
    for n in notes {
        text.push_str("; ");
        text.push_str(n);
    }
    text
}
