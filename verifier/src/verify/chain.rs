//! Each event in its place: seq, stored hash, signature under a trusted key, chain, journal id
//! and time.

use super::*;

impl Verifier<'_> {
    pub(super) fn check_record(&mut self, record: Prepared) -> Result<(), Fail> {
        let seq = self.next_seq;
        let event = record.decoded.map_err(|e| match e {
            EventError::Canonical(c) => fail(Check::CanonicalForm, Some(seq), c.to_string()),
            EventError::UnsupportedVersion(_) => {
                self.could_not_check = true;
                fail(Check::EventForm, Some(seq), e.to_string())
            }
            other => fail(Check::EventForm, Some(seq), other.to_string()),
        })?;

        // Sequence: the event's own seq, and for SQLite the row it sits in.
        if event.seq != seq {
            let what = if event.seq < seq {
                "repeated or reordered event"
            } else {
                "missing event(s) or reordered event"
            };
            return Err(mismatch(
                Check::Sequence,
                seq,
                format!("{what}: expected seq {seq}, found seq {}", event.seq),
                seq.to_string(),
                event.seq.to_string(),
            ));
        }
        if let Position::Row(row) = record.position {
            if row != seq as i64 {
                return Err(mismatch(
                    Check::Sequence,
                    seq,
                    format!("row {row} holds event seq {seq}"),
                    seq.to_string(),
                    row.to_string(),
                ));
            }
        }

        let leaf = record.leaf;
        if let Some(stored) = &record.stored_leaf_hash {
            if stored.as_slice() != leaf {
                return Err(mismatch(
                    Check::StoredHash,
                    seq,
                    "stored leaf_hash column differs from the hash of the stored event",
                    hex(&leaf),
                    hex(stored),
                ));
            }
        }

        let Some(key) = self.trusted.get(&event.key) else {
            return Err(mismatch(
                Check::Signatures,
                seq,
                format!("signed by untrusted key {}", event.key),
                "a key in the trusted-keys file",
                event.key.clone(),
            ));
        };
        // Prepared under these same trusted keys, so a trusted key always has its result;
        // were it missing, fail closed rather than accept an unchecked signature.
        match record.signature {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                return Err(fail(
                    Check::Signatures,
                    Some(seq),
                    format!("{e} ({})", key.name),
                ))
            }
            None => {
                return Err(fail(
                    Check::Signatures,
                    Some(seq),
                    format!("signature was not checked ({})", key.name),
                ))
            }
        }

        // Compared without building the expected hex string (one allocation per event saved).
        let prev_holds = if seq == 0 {
            event.prev == ZERO_HASH_HEX
        } else {
            is_hex_of(&event.prev, &self.prev)
        };
        if !prev_holds {
            let expected_prev = if seq == 0 {
                ZERO_HASH_HEX.to_string()
            } else {
                hex(&self.prev)
            };
            return Err(mismatch(
                Check::Chain,
                seq,
                format!(
                    "chain break at seq {seq}: prev is not the leaf hash of seq {}",
                    seq.saturating_sub(1)
                ),
                expected_prev,
                event.prev.clone(),
            ));
        }

        match &self.summary.journal_id {
            None => self.summary.journal_id = Some(event.journal.clone()),
            Some(id) if *id != event.journal => {
                return Err(mismatch(
                    Check::JournalId,
                    seq,
                    "journal id changed",
                    id.clone(),
                    event.journal.clone(),
                ))
            }
            Some(_) => {}
        }

        if let Some(last) = &self.last_at {
            if event.at < *last {
                return Err(mismatch(
                    Check::Timestamps,
                    seq,
                    "timestamp goes backwards",
                    format!("at or after {last}"),
                    event.at.clone(),
                ));
            }
        }

        self.check_semantics(&event, &leaf)?;
        self.plan.event(&event)?;

        // Everything about this event holds: fold it in.
        match self.signers.get_mut(&event.key) {
            Some(n) => *n += 1,
            None => {
                self.signers.insert(event.key.clone(), 1);
            }
        }
        self.last_at = Some(event.at);
        self.prev = leaf;
        self.frontier.push(leaf);
        self.next_seq += 1;
        self.summary.events = self.next_seq;
        self.summary.last_seq = Some(seq);
        let size = self.frontier.size();
        // The root costs ~log2(size) node hashes: only computed at a checkpoint's size.
        if self.wants_root(size) {
            let root = self.frontier.root();
            for cp in &mut self.checkpoints {
                if cp.checkpoint.size == size {
                    cp.matched = Some(cp.checkpoint.root == root);
                }
            }
            if self.sealed_sizes.contains(&size) {
                self.roots_at.insert(size, root);
            }
        }
        Ok(())
    }
}

/// True when `text` is the lowercase hex of `hash` (what [`hex`] would write).
fn is_hex_of(text: &str, hash: &Hash) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let text = text.as_bytes();
    text.len() == 64
        && hash.iter().zip(text.chunks_exact(2)).all(|(b, pair)| {
            pair[0] == DIGITS[usize::from(b >> 4)] && pair[1] == DIGITS[usize::from(b & 15)]
        })
}

pub(super) fn decode_public_key(b64: &str) -> Option<VerifyingKey> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    VerifyingKey::from_bytes(&bytes.try_into().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{failed_at, note, Journal, RUN};
    use super::*;

    #[test]
    fn a_journal_built_by_the_rules_holds() {
        let mut j = Journal::opened(1);
        j.start_run();
        let report = j.verify(&Options::default());
        assert_eq!(failed_at(&report), None, "{:?}", report.failure);
        assert_eq!(report.verdict, Verdict::ValidOpen);
    }

    #[test]
    fn an_event_that_does_not_name_the_leaf_before_it_breaks_the_chain() {
        let mut j = Journal::opened(1);
        let mut started = j.next(Some(RUN), note());
        started.prev = hex(&[7u8; 32]);
        j.append(&started);
        assert_eq!(
            failed_at(&j.verify(&Options::default())),
            Some((Check::Chain, Some(1)))
        );
    }

    #[test]
    fn a_skipped_seq_is_a_sequence_failure() {
        let mut j = Journal::opened(1);
        let mut skipped = j.next(Some(RUN), note());
        skipped.seq = 2;
        j.append(&skipped);
        assert_eq!(
            failed_at(&j.verify(&Options::default())),
            Some((Check::Sequence, Some(1)))
        );
    }

    #[test]
    fn an_event_of_a_key_not_trusted_fails_its_signature() {
        let mut j = Journal::opened(1);
        let stranger = Journal::opened(2);
        let mut foreign = j.next(Some(RUN), note());
        foreign.key = signing::key_id(&stranger.key.verifying_key());
        j.append(&foreign);
        assert_eq!(
            failed_at(&j.verify(&Options::default())),
            Some((Check::Signatures, Some(1)))
        );
    }

    #[test]
    fn time_that_goes_backwards_fails() {
        let mut j = Journal::opened(1);
        let mut early = j.next(Some(RUN), note());
        early.at = "2025-12-31T23:59:59.000000Z".into();
        j.append(&early);
        assert_eq!(
            failed_at(&j.verify(&Options::default())),
            Some((Check::Timestamps, Some(1)))
        );
    }
}
