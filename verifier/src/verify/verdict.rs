//! The end of a walk: checkpoints, backup files, the verdict and the report.

use super::*;

impl Verifier<'_> {
    /// Ends verification: checkpoints, backup files, the verdict.
    pub fn finish(self) -> Report {
        self.finish_with_tail().0
    }

    /// [`Verifier::finish`], also returning where the events that passed end.
    pub fn finish_with_tail(mut self) -> (Report, Tail) {
        self.commit_not_applied();
        let tail = Tail {
            events: self.next_seq,
            last_leaf: self.prev,
            frontier: self.frontier.clone(),
            last_at: self.last_at.clone(),
        };
        let total = self.next_seq;
        if self.failure.is_none() && total == 0 {
            // An empty file, or a journal whose creation never committed: nothing was signed,
            // so there is nothing to vouch for, not even that it is open.
            self.could_not_check = true;
            let mut f = fail(
                Check::Readable,
                None,
                format!(
                    "journal {} holds no event (not even journal.opened): an empty file, or one whose creation never committed; there is nothing to verify",
                    self.summary.path
                ),
            );
            f.position = Some(self.summary.path.clone());
            self.failure = Some(*f);
        }
        if self.failure.is_none() {
            self.check_checkpoints(total);
        }
        let witnessed = if self.failure.is_none() {
            self.check_witnesses(total)
        } else {
            None
        };
        let backups_checked = self.failure.is_none() && self.options.backups.is_some();
        if backups_checked {
            self.check_backups();
        }
        let trusted_checked = self.failure.is_none();
        let trusted_time = if trusted_checked {
            self.check_trusted_time()
        } else {
            Vec::new()
        };

        let anchored = self.failure.is_none()
            && self.checkpoints.iter().any(|c| {
                c.signer.is_some() && c.checkpoint.size == total && c.matched == Some(true)
            });
        let verdict = match (&self.failure, self.could_not_check) {
            (Some(_), true) => Verdict::CouldNotCheck,
            (Some(_), false) => Verdict::Invalid,
            (None, _) if anchored => Verdict::ValidAnchored,
            (None, _) if self.last_was_sealed => Verdict::ValidSealed,
            (None, _) => Verdict::ValidOpen,
        };
        let open = (verdict == Verdict::ValidOpen).then(|| self.open_tail(total));
        let verdict_text = match verdict {
            Verdict::ValidAnchored => format!(
                "{total} events, every check holds, and a trusted checkpoint covers all of them{}",
                match &self.run {
                    Some(run) => format!("; run {} is still in flight", run.id),
                    None => String::new(),
                }
            ),
            Verdict::ValidSealed => format!(
                "{total} events, every check holds, and the last run's seal covers every event before it"
            ),
            Verdict::ValidOpen => format!(
                "{total} events, every check holds, but the journal is open: {}",
                open.as_ref().map(|o| o.reason.as_str()).unwrap_or("")
            ),
            Verdict::Invalid | Verdict::CouldNotCheck => {
                let f = self.failure.as_ref().expect("a failure");
                match f.seq {
                    Some(seq) => format!("seq {seq}: {}", f.reason),
                    None => f.reason.clone(),
                }
            }
        };

        let mut requirements = Vec::new();
        if self.options.require_sealed {
            requirements.push(Requirement {
                name: "sealed".into(),
                holds: matches!(verdict, Verdict::ValidSealed | Verdict::ValidAnchored),
            });
        }
        if self.options.require_witness {
            requirements.push(Requirement {
                name: "witness".into(),
                holds: matches!(
                    verdict,
                    Verdict::ValidAnchored | Verdict::ValidSealed | Verdict::ValidOpen
                ) && witnessed.as_ref().is_some_and(|w| w.holds),
            });
        }
        if self.options.require_anchor {
            requirements.push(Requirement {
                name: "anchor".into(),
                holds: verdict == Verdict::ValidAnchored,
            });
        }

        let checks = self.check_results(
            backups_checked,
            witnessed.as_ref(),
            trusted_checked,
            &trusted_time,
        );
        self.summary.root = hex(&self.frontier.root());
        self.summary.signers = self
            .signers
            .iter()
            .map(|(id, n)| SignerRow {
                key_id: id.clone(),
                name: self
                    .trusted
                    .get(id)
                    .map(|k| k.name.clone())
                    .unwrap_or_default(),
                events: *n,
            })
            .collect();
        let checkpoints = self
            .checkpoints
            .iter()
            .map(|c| CheckpointRow {
                path: c.path.clone(),
                signer: c.signer.clone(),
                size: c.checkpoint.size,
                root: hex(&c.checkpoint.root),
                status: checkpoint_status(c, total),
            })
            .collect();
        let report = Report {
            format: "runledger-verify-report/v1".into(),
            verdict,
            verdict_text,
            journal: self.summary,
            checks,
            failure: self.failure,
            open,
            runs: self.runs,
            runs_omitted: self.runs_omitted,
            steps: self.steps,
            steps_omitted: self.steps_omitted,
            backup_files: self.files.into_values().collect(),
            backup_files_omitted: self.files_omitted,
            not_applied: self.not_applied,
            checkpoints,
            requirements,
            witnessed,
            trusted_time,
        };
        (report, tail)
    }

    fn check_backups(&mut self) {
        let Some(dir) = self.options.backups.clone() else {
            return;
        };
        for row in self.files.values_mut() {
            let name = row.path.rsplit(['/', '\\']).next().unwrap_or(&row.path);
            let path = dir.join(name);
            let result = match std::fs::File::open(&path).and_then(signing::sha256_of_reader) {
                Err(_) => Err((
                    "missing",
                    format!("backup file {name} is missing from {}", dir.display()),
                    None,
                )),
                Ok((size, sha)) if sha != row.sha256 || size != row.size => Err((
                    "mismatch",
                    format!(
                        "backup file {} differs from the one the journal recorded",
                        path.display()
                    ),
                    Some(format!("size {size}, sha256 {sha}")),
                )),
                Ok(_) => Ok(()),
            };
            match result {
                Ok(()) => row.check = Some("present".into()),
                Err((status, reason, found)) => {
                    row.check = Some(status.into());
                    if self.failure.is_none() {
                        self.failure = Some(Failure {
                            check: Check::BackupFiles,
                            seq: Some(row.first_seq),
                            position: Some(path.display().to_string()),
                            reason,
                            expected: Some(format!("size {}, sha256 {}", row.size, row.sha256)),
                            found,
                        });
                    }
                }
            }
        }
    }

    fn check_results(
        &self,
        backups_checked: bool,
        witnessed: Option<&Witnessed>,
        trusted_checked: bool,
        trusted_time: &[StampRow],
    ) -> Vec<CheckResult> {
        let failed = self.failure.as_ref().map(|f| f.check);
        let mut tally = self.tally;
        if let Some(run) = &self.run {
            tally.add(run.rules.tally());
        }
        let per_event_stop = self.failure.is_some()
            && !matches!(
                failed,
                Some(
                    Check::Checkpoints | Check::BackupFiles | Check::Witnesses | Check::TrustedTime
                )
            );
        Check::ALL
            .iter()
            .map(|&check| {
                let (status, detail) = if Some(check) == failed {
                    (CheckStatus::Failed, String::new())
                } else {
                    match check {
                        Check::Checkpoints if self.checkpoints.is_empty() => {
                            (CheckStatus::Skipped, "no --checkpoint given".into())
                        }
                        Check::Witnesses if self.options.witness.is_none() => {
                            (CheckStatus::Skipped, "no --witness-policy given".into())
                        }
                        Check::Witnesses if failed.is_some() => {
                            (CheckStatus::NotReached, String::new())
                        }
                        Check::Witnesses => match &witnessed {
                            Some(w) if w.holds => (CheckStatus::Passed, w.text.clone()),
                            Some(w) => (CheckStatus::Skipped, w.text.clone()),
                            None => (CheckStatus::NotReached, String::new()),
                        },
                        Check::BackupFiles if self.options.backups.is_none() => {
                            (CheckStatus::Skipped, "no --backups given".into())
                        }
                        Check::BackupFiles if !backups_checked => {
                            (CheckStatus::NotReached, String::new())
                        }
                        Check::TrustedTime if self.options.tsa_certs.is_none() => (
                            CheckStatus::Skipped,
                            if self.options.stamps.is_empty() {
                                "no time-stamp token found".into()
                            } else {
                                format!(
                                    "{} time-stamp token(s) found, not checked: no --tsa-cert given",
                                    self.options.stamps.len()
                                )
                            },
                        ),
                        Check::TrustedTime if !trusted_checked => {
                            (CheckStatus::NotReached, String::new())
                        }
                        Check::TrustedTime => (
                            CheckStatus::Passed,
                            format!(
                                "{} token(s) verified{}",
                                trusted_time.len(),
                                trusted_time
                                    .iter()
                                    .max_by_key(|r| r.size)
                                    .map(|r| format!(
                                        "; the checkpoint of {} events stamped {} by {}",
                                        r.size,
                                        r.tsa_time.as_deref().unwrap_or("-"),
                                        r.tsa.as_deref().unwrap_or("-")
                                    ))
                                    .unwrap_or_default()
                            ),
                        ),
                        Check::StoredHash if self.summary.format == "jsonl" => {
                            (CheckStatus::Skipped, "JSONL stores no leaf hash".into())
                        }
                        Check::Checkpoints if per_event_stop => {
                            (CheckStatus::NotReached, String::new())
                        }
                        Check::Readable => (CheckStatus::Passed, String::new()),
                        _ if per_event_stop => (
                            CheckStatus::NotReached,
                            format!("held for seq 0..{}", self.next_seq),
                        ),
                        Check::Plan => self.plan.result(),
                        Check::Checkpoints => (
                            CheckStatus::Passed,
                            format!("{} checkpoint(s)", self.checkpoints.len()),
                        ),
                        Check::BackupFiles => {
                            (CheckStatus::Passed, format!("{} file(s)", self.files.len()))
                        }
                        Check::Approvals => (
                            CheckStatus::Passed,
                            format!("{} action(s) that asked for approval", tally.approvals),
                        ),
                        Check::Decisions => (
                            CheckStatus::Passed,
                            format!("{} finding(s) decided", tally.decisions),
                        ),
                        Check::RestoreOrder if tally.restores_unchecked > 0 => (
                            CheckStatus::Passed,
                            format!(
                                "{} restore(s) in LSN order; {} restore(s) of a file whose header the journal does not record were not checked",
                                tally.restores_checked, tally.restores_unchecked
                            ),
                        ),
                        Check::RestoreOrder => (
                            CheckStatus::Passed,
                            format!("{} restore(s) in LSN order", tally.restores_checked),
                        ),
                        Check::Recovery => (
                            CheckStatus::Passed,
                            format!("{} recovery(ies)", tally.recoveries),
                        ),
                        _ => (CheckStatus::Passed, format!("{} events", self.next_seq)),
                    }
                };
                CheckResult {
                    check,
                    status,
                    detail,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{failed_at, Journal};
    use super::*;

    #[test]
    fn a_journal_without_events_cannot_be_checked() {
        let j = Journal::opened(1);
        let trusted = j.trusted();
        let options = Options::default();
        let v = Verifier::new("empty".into(), Format::Jsonl, &trusted, &options)
            .expect("no checkpoint to parse");
        let report = v.finish();
        assert_eq!(report.verdict, Verdict::CouldNotCheck);
        assert_eq!(failed_at(&report), Some((Check::Readable, None)));
    }

    #[test]
    fn an_open_journal_holds_but_does_not_meet_a_seal_requirement() {
        let j = Journal::opened(1);
        let report = j.verify(&Options {
            require_sealed: true,
            ..Options::default()
        });
        assert_eq!(report.verdict, Verdict::ValidOpen);
        assert_eq!(report.requirements.len(), 1);
        assert!(!report.requirements[0].holds);
    }
}
