//! Checkpoints held against the journal, and what an open journal's tail proves.

use super::*;

/// A checkpoint parsed and held against the journal as it streams by.
pub(super) struct HeldCheckpoint {
    pub(super) path: String,
    pub(super) checkpoint: Checkpoint,
    /// Its note, for the cosignatures it may carry.
    pub(super) note: crate::note::Note,
    pub(super) signer: Option<String>,
    /// Some(true) when the root at its size matched, Some(false) when it did not.
    pub(super) matched: Option<bool>,
}

impl Verifier<'_> {
    pub(super) fn check_checkpoints(&mut self, total: u64) {
        let journal_id = self.summary.journal_id.clone().unwrap_or_default();
        let origin = format!("runledger/{journal_id}");
        let at = |cp: &HeldCheckpoint, reason: String| {
            let mut f = fail(Check::Checkpoints, None, reason);
            f.position = Some(cp.path.clone());
            f
        };
        // First what each checkpoint is: signed by a trusted key, of this journal.
        for cp in &self.checkpoints {
            let failure = if cp.signer.is_none() {
                Some(at(
                    cp,
                    format!(
                        "checkpoint {} carries no valid signature by a trusted key",
                        cp.path
                    ),
                ))
            } else if cp.checkpoint.origin != origin {
                let mut f = at(cp, format!("checkpoint {} is for another log", cp.path));
                f.expected = Some(origin.clone());
                f.found = Some(cp.checkpoint.origin.clone());
                Some(f)
            } else {
                None
            };
            if let Some(f) = failure {
                self.failure = Some(*f);
                return;
            }
        }
        // Then what the journal holds of them. The smallest checkpoint it does not hold names
        // the earliest seq at fault; the largest one below it that it holds says from where
        // on the journal may differ: with a checkpoint after every event (as runs keep them),
        // that is the first seq that differs.
        let holds = |cp: &HeldCheckpoint| {
            cp.checkpoint.size <= total
                && (cp.matched == Some(true)
                    || (cp.checkpoint.size == 0
                        && cp.checkpoint.root == crate::merkle::empty_root()))
        };
        let Some(cp) = self
            .checkpoints
            .iter()
            .filter(|cp| !holds(cp))
            .min_by_key(|cp| cp.checkpoint.size)
        else {
            return;
        };
        let size = cp.checkpoint.size;
        let f = if size > total {
            let mut f = at(
                cp,
                format!(
                    "journal truncated: checkpoint {} covers {size} events but the journal has {total}{}",
                    cp.path,
                    if total > 0 {
                        format!(" (ends at seq {}; seq {total} is the first missing)", total - 1)
                    } else {
                        String::new()
                    }
                ),
            );
            f.seq = Some(total);
            f.expected = Some(format!("{size} events"));
            f.found = Some(format!("{total} events"));
            f
        } else {
            let pinned = self
                .checkpoints
                .iter()
                .filter(|c| holds(c) && c.checkpoint.size < size)
                .max_by_key(|c| c.checkpoint.size);
            let from = pinned.map_or(0, |c| c.checkpoint.size);
            let last = size - 1;
            let which = match pinned {
                Some(p) if from == last => format!(
                    "checkpoint {} holds seq 0..{} as they are, so seq {last} is the first that differs",
                    p.path,
                    from.saturating_sub(1)
                ),
                Some(p) if from > 0 => format!(
                    "checkpoint {} holds seq 0..{} as they are, so the first that differs is one of seq {from}..{last}",
                    p.path,
                    from - 1
                ),
                _ if last == 0 => "seq 0 differs".to_string(),
                _ => format!(
                    "the first that differs is one of seq 0..{last} (a checkpoint's root does not say which; a checkpoint of fewer events narrows it)"
                ),
            };
            let mut f = at(
                cp,
                format!(
                    "journal rewritten: its first {size} events (seq 0..{last}) are not the ones checkpoint {} committed to; {which}",
                    cp.path
                ),
            );
            f.seq = Some(from);
            f.expected = Some(format!("root {}", hex(&cp.checkpoint.root)));
            f.found = Some("a journal prefix with another root".into());
            f
        };
        self.failure = Some(*f);
    }

    pub(super) fn open_tail(&self, total: u64) -> OpenTail {
        let ends_at_seq = total.saturating_sub(1);
        match &self.run {
            Some(run) => {
                let intents: Vec<String> = run
                    .in_flight
                    .iter()
                    .map(|((s, a), f)| format!("{s} attempt {a} (intent seq {})", f.seq))
                    .collect();
                OpenTail {
                    ends_at_seq,
                    run_in_flight: Some(run.id.clone()),
                    reason: if intents.is_empty() {
                        format!("run {} is in flight; the journal ends at seq {ends_at_seq}", run.id)
                    } else {
                        format!(
                            "run {} is in flight with {} intent(s) without outcome; the journal ends at seq {ends_at_seq}",
                            run.id,
                            intents.len()
                        )
                    },
                    intents_in_flight: intents,
                }
            }
            None => OpenTail {
                ends_at_seq,
                run_in_flight: None,
                intents_in_flight: Vec::new(),
                reason: format!(
                    "no sealed run.finished at the end; the journal ends at seq {ends_at_seq} (a cut tail cannot be ruled out without a checkpoint)"
                ),
            },
        }
    }
}

pub(super) fn checkpoint_status(c: &HeldCheckpoint, total: u64) -> String {
    if c.signer.is_none() {
        "no trusted signature".into()
    } else if c.checkpoint.size > total {
        "covers more events than the journal has".into()
    } else if c.matched == Some(true)
        || (c.checkpoint.size == 0 && c.checkpoint.root == crate::merkle::empty_root())
    {
        if c.checkpoint.size == total {
            "consistent, covers the whole journal".into()
        } else {
            "consistent (a prefix of the journal)".into()
        }
    } else if c.matched == Some(false) {
        "root differs from the journal's prefix".into()
    } else {
        "not reached".into()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{failed_at, Journal, RUN};
    use super::*;

    #[test]
    fn an_open_journal_names_its_run_in_flight() {
        let mut j = Journal::opened(1);
        j.start_run();
        let report = j.verify(&Options::default());
        let open = report.open.expect("an open journal says why");
        assert_eq!(open.ends_at_seq, 1);
        assert_eq!(open.run_in_flight.as_deref(), Some(RUN));
        assert!(open.reason.contains(RUN), "{}", open.reason);
    }

    #[test]
    fn a_checkpoint_nobody_trusted_signed_is_not_counted() {
        let j = Journal::opened(1);
        let text = "runledger/journal-under-test\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— stranger AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";
        let report = j.verify(&Options {
            checkpoints: vec![("cp.txt".into(), text.into())],
            ..Options::default()
        });
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(failed_at(&report), Some((Check::Checkpoints, None)));
        assert!(report
            .failure
            .expect("a failure")
            .reason
            .contains("no valid signature"));
    }
}
