//! Signed journals built in memory for the unit tests of this module: each test writes the
//! events it needs, then breaks exactly one thing.

use ed25519_dalek::SigningKey;

use super::*;
use crate::event::{JournalOpened, Observation, Operator, RunStarted, RunbookSource};

pub(super) const JOURNAL: &str = "journal-under-test";
pub(super) const RUN: &str = "run-under-test";

/// A journal being written: its key, its chain's end and the records so far.
pub(super) struct Journal {
    pub(super) key: SigningKey,
    pub(super) prev: Hash,
    pub(super) records: Vec<RawRecord>,
}

impl Journal {
    /// A journal holding only its `journal.opened`, signed by the key of `seed`.
    pub(super) fn opened(seed: u8) -> Journal {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let public_key = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes())
        };
        let mut journal = Journal {
            key,
            prev: [0u8; 32],
            records: Vec::new(),
        };
        journal.push(
            None,
            Body::JournalOpened(JournalOpened {
                journal_id: JOURNAL.into(),
                engine_version: "runledger test".into(),
                public_key,
            }),
        );
        journal
    }

    /// The keys a verifier of this journal trusts: its own.
    pub(super) fn trusted(&self) -> TrustedKeys {
        let mut keys = TrustedKeys::default();
        keys.insert("tester".into(), self.key.verifying_key());
        keys
    }

    /// The next event, not yet appended.
    pub(super) fn next(&self, run: Option<&str>, body: Body) -> Event {
        let seq = self.records.len() as u64;
        Event {
            journal: JOURNAL.into(),
            seq,
            prev: hex(&self.prev),
            at: format!("2026-01-01T00:00:{:02}.000000Z", seq.min(59)),
            run: run.map(str::to_string),
            key: signing::key_id(&self.key.verifying_key()),
            body,
        }
    }

    /// Signs and appends `event` as it is, whatever it says.
    pub(super) fn append(&mut self, event: &Event) {
        let bytes = event.to_canonical_bytes().expect("a test event encodes");
        let leaf = signing::event_leaf_hash(&bytes);
        let sig = signing::sign_leaf(&self.key, &leaf).to_bytes().to_vec();
        self.records.push(RawRecord {
            position: Position::Line(self.records.len() as u64 + 1),
            event: bytes,
            sig,
            stored_leaf_hash: None,
        });
        self.prev = leaf;
    }

    /// Appends the next event with `body`.
    pub(super) fn push(&mut self, run: Option<&str>, body: Body) {
        let event = self.next(run, body);
        self.append(&event);
    }

    /// Appends a `run.started` of a runbook of one `manual` step.
    pub(super) fn start_run(&mut self) {
        let source = "name = \"t\"\nversion = \"1\"\n\n[[steps]]\nid = \"confirm\"\naction = \"manual\"\ninstruction = \"go\"\n".to_string();
        self.push(
            Some(RUN),
            Body::RunStarted(Box::new(RunStarted {
                run_id: RUN.into(),
                runbook: RunbookSource {
                    name: "t".into(),
                    version: "1".into(),
                    sha256: signing::sha256_hex(source.as_bytes()),
                    source,
                },
                parameters: BTreeMap::new(),
                operator: Operator {
                    user: "op".into(),
                    host: "h".into(),
                },
                targets: Vec::new(),
            })),
        );
    }

    /// Verifies the records in order on this thread, as [`Verifier::push`] does.
    pub(super) fn verify(&self, options: &Options) -> Report {
        let trusted = self.trusted();
        let mut v = Verifier::new("test".into(), Format::Jsonl, &trusted, options)
            .expect("no checkpoint to parse");
        for r in &self.records {
            if !v.push(r.clone()) {
                break;
            }
        }
        v.finish()
    }

    /// The JSONL export of the records.
    pub(super) fn jsonl(&self) -> String {
        use base64::Engine as _;
        self.records
            .iter()
            .map(|r| {
                format!(
                    "{{\"event\":{},\"sig\":\"{}\"}}\n",
                    String::from_utf8_lossy(&r.event),
                    base64::engine::general_purpose::STANDARD.encode(&r.sig)
                )
            })
            .collect()
    }
}

/// The failing check and seq of a report, or `None` when it holds.
pub(super) fn failed_at(report: &Report) -> Option<(Check, Option<u64>)> {
    report.failure.as_ref().map(|f| (f.check, f.seq))
}

/// An observation of no consequence: an event that is only a link of the chain.
pub(super) fn note() -> Body {
    Body::Observation(Observation {
        step: None,
        name: "note".into(),
        source: "test".into(),
        data: serde_json::json!({}),
    })
}
