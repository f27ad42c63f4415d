//! The JSON Schemas in `schemas/`, generated from the Rust types so they cannot drift: a test
//! compares this list with the committed files.

use crate::event::*;
use crate::proof::{ProofFile, ProofReport};
use crate::report::Report;

/// Every schema this crate owns: (path under `schemas/`, schema).
pub fn all() -> Vec<(&'static str, serde_json::Value)> {
    fn s<T: schemars::JsonSchema>() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(T)).expect("a schema is JSON")
    }
    vec![
        ("verify-report.schema.json", s::<Report>()),
        ("inclusion-proof.schema.json", s::<ProofFile>()),
        ("proof-report.schema.json", s::<ProofReport>()),
        ("event.schema.json", s::<Envelope>()),
        ("events/journal.opened.schema.json", s::<JournalOpened>()),
        ("events/run.started.schema.json", s::<RunStarted>()),
        ("events/observation.schema.json", s::<Observation>()),
        ("events/step.intent.schema.json", s::<StepIntent>()),
        ("events/step.outcome.schema.json", s::<StepOutcome>()),
        ("events/step.reconciled.schema.json", s::<StepReconciled>()),
        ("events/approval.schema.json", s::<Approval>()),
        ("events/run.resumed.schema.json", s::<RunResumed>()),
        ("events/run.finished.schema.json", s::<RunFinished>()),
        ("results/batch.schema.json", s::<SqlBatch>()),
        ("results/statement-error.schema.json", s::<SqlFailure>()),
        ("results/failure.schema.json", s::<Failure>()),
        ("results/copy.schema.json", s::<Copied>()),
        ("results/command.schema.json", s::<ShellResult>()),
        ("results/check-rows.schema.json", s::<CheckRows>()),
        ("results/confirmation.schema.json", s::<Confirmed>()),
        ("results/room.schema.json", s::<BackupRoom>()),
        (
            "results/already-in-effect.schema.json",
            s::<AlreadyInEffect>(),
        ),
        (
            "results/approval-withheld.schema.json",
            s::<ApprovalWithheld>(),
        ),
    ]
}

/// A schema as committed: pretty JSON with a final newline.
pub fn to_file_text(schema: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(schema).expect("a schema serialises");
    s.push('\n');
    s
}
