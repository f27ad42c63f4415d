//! Every `step.outcome` result and `precheck` observation in the golden journals is one of the
//! typed shapes of `event::results`, and that shape writes it back exactly: the engine writing
//! through the types produces the bytes the journals hold.

use std::path::Path;

use runledger_verifier::event::results::{decode, to_result};
use runledger_verifier::event::{
    AlreadyInEffect, ApprovalWithheld, BackupRoom, Body, CheckRows, Confirmed, Copied, Event,
    Failure, Precheck, ShellResult, SqlBatch, SqlFailure,
};
use runledger_verifier::semantics::PRECHECK_OBSERVATION;
use runledger_verifier::source::{self, Format};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

fn round_trips<T: DeserializeOwned + Serialize>(v: &Value) -> bool {
    decode::<T>(v).is_some_and(|t| to_result(&t) == *v)
}

/// The shape that writes `v` back exactly, if any.
fn shape_of(v: &Value) -> Option<&'static str> {
    let mut v = v.clone();
    // A polling check adds its number of tries to whichever shape it ends with.
    if let Some(o) = v.as_object_mut() {
        o.remove("polls");
    }
    let v = &v;
    [
        ("batch", round_trips::<SqlBatch> as fn(&Value) -> bool),
        ("statement error", round_trips::<SqlFailure>),
        ("failure", round_trips::<Failure>),
        ("copy", round_trips::<Copied>),
        ("command", round_trips::<ShellResult>),
        ("check rows", round_trips::<CheckRows>),
        ("confirmation", round_trips::<Confirmed>),
        ("room", round_trips::<BackupRoom>),
        ("already in effect", round_trips::<AlreadyInEffect>),
        ("approval withheld", round_trips::<ApprovalWithheld>),
    ]
    .into_iter()
    .find(|(_, fits)| fits(v))
    .map(|(name, _)| name)
}

#[test]
fn every_recorded_result_is_a_typed_shape_written_back_exactly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/golden");
    let mut outcomes = 0;
    let mut prechecks = 0;
    for dir in std::fs::read_dir(&root).expect("fixtures/golden") {
        let journal = dir.expect("entry").path().join("journal.db");
        if !journal.exists() {
            continue;
        }
        source::for_each_record(&journal, Format::Sqlite, |r| {
            let e = Event::from_canonical_bytes(&r.event).expect("a golden event decodes");
            match &e.body {
                Body::StepOutcome(o) => {
                    outcomes += 1;
                    assert!(
                        shape_of(&o.result).is_some(),
                        "{}: seq {}: no typed shape writes back {}",
                        journal.display(),
                        e.seq,
                        o.result
                    );
                }
                Body::Observation(o) if o.name == PRECHECK_OBSERVATION => {
                    prechecks += 1;
                    assert!(round_trips::<Precheck>(&o.data), "{}", o.data);
                }
                _ => {}
            }
            true
        })
        .expect("a golden journal reads");
    }
    assert!(
        outcomes > 0 && prechecks > 0,
        "{outcomes} outcomes, {prechecks} prechecks"
    );
}
