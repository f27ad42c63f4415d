//! Trusted time: the time-stamp tokens beside checkpoints, checked against the TSA
//! certificates given (`crate::timestamp`). Run after the checkpoints hold: a token is worth
//! something only over a checkpoint the journal holds.

use super::*;
use crate::timestamp;

impl Verifier<'_> {
    /// Checks every token given; the first that does not hold is the failure. With TSA
    /// certificates given and no token at all, trusted time was asked for and is not there: a
    /// failure too, never a pass.
    pub(super) fn check_trusted_time(&mut self) -> Vec<StampRow> {
        let certs = self.options.tsa_certs.as_deref();
        let mut rows = Vec::new();
        let mut first: Option<Failure> = None;
        for input in &self.options.stamps {
            let held = self.checkpoints.iter().find(|c| c.path == input.checkpoint);
            let text = self
                .options
                .checkpoints
                .iter()
                .find(|(name, _)| *name == input.checkpoint)
                .map(|(_, text)| text.as_str());
            let mut row = StampRow {
                checkpoint: input.checkpoint.clone(),
                token: input.path.clone(),
                size: held.map_or(0, |c| c.checkpoint.size),
                status: "not_checked".into(),
                tsa_time: None,
                tsa_unix: None,
                tsa: None,
                serial: None,
                detail: String::new(),
            };
            let result = match (certs, text) {
                (None, _) => {
                    row.detail = "no --tsa-cert given: what the token claims is not proven".into();
                    timestamp::read(&input.token).map_err(|e| e.to_string())
                }
                (Some(_), None) => Err(format!(
                    "token {} names checkpoint {}, which was not given",
                    input.path, input.checkpoint
                )),
                (Some(certs), Some(text)) => timestamp::stamped_body(text)
                    .map_err(|e| format!("checkpoint {}: {e}", input.checkpoint))
                    .and_then(|body| {
                        timestamp::verify(&input.token, body.as_bytes(), certs)
                            .map_err(|e| e.to_string())
                    }),
            };
            match result {
                Ok(stamp) => {
                    if certs.is_some() {
                        row.status = "verified".into();
                    }
                    row.tsa_time = Some(stamp.gen_time);
                    row.tsa_unix = Some(stamp.gen_unix);
                    row.tsa = Some(stamp.tsa);
                    row.serial = Some(stamp.serial);
                }
                Err(reason) => {
                    row.status = if certs.is_some() {
                        "failed"
                    } else {
                        "not_checked"
                    }
                    .into();
                    row.detail = reason.clone();
                    if certs.is_some() && first.is_none() {
                        first = Some(Failure {
                            check: Check::TrustedTime,
                            seq: None,
                            position: Some(input.path.clone()),
                            reason: format!(
                                "time-stamp token {} over checkpoint {} does not hold: {reason}",
                                input.path, input.checkpoint
                            ),
                            expected: None,
                            found: None,
                        });
                    }
                }
            }
            rows.push(row);
        }
        if certs.is_some() && rows.is_empty() {
            first = Some(Failure {
                check: Check::TrustedTime,
                seq: None,
                position: None,
                reason: "trusted time was asked for (--tsa-cert) but no time-stamp token (.tsr) lies beside the journal's kept checkpoints or the checkpoints given: nothing proves when any of them existed".into(),
                expected: Some("a .tsr beside at least one checkpoint".into()),
                found: Some("none".into()),
            });
        }
        if self.failure.is_none() {
            self.failure = first;
        }
        rows
    }
}
