//! `sql`: a T-SQL batch of the runbook on a target, with its probe, and the return code its
//! last result set must hold when the runbook says so. A batch that writes a file (a full
//! backup) has the file hashed once it succeeds; a batch that reads that file (the restore of
//! the backup) runs only after the file is hashed again and found unchanged.

use std::time::Duration;

use runledger_verifier::event::results::{to_result, Written};
use runledger_verifier::event::{ActionKind, Effect, FileRef};
use runledger_verifier::event::{Failure, SqlBatch};

use super::attempt::{require, with_retries};
use super::env::Env;
use super::probe::sql_probe;
use super::record::{sql_batch, sql_error_json};
use crate::dispatcher::{Dispatcher, Halt, Intent, Outcome};
use crate::files;
use crate::runbook::{Step, WrittenFile};

/// What a `sql` step runs.
pub struct Batch<'a> {
    /// The SQL target.
    pub target: &'a str,
    /// The batch.
    pub text: &'a str,
    /// The probe query (`done` = 1 once in effect).
    pub probe: Option<&'a str>,
    /// The effect class.
    pub effect: Effect,
    /// The return code the last result set must hold.
    pub expect_return_code: Option<i64>,
    /// The file the batch writes.
    pub writes: Option<&'a WrittenFile>,
    /// The step whose written file the batch reads.
    pub reads: Option<&'a str>,
}

/// The file `writer` wrote, as its outcome recorded it; the step cannot run without it.
fn recorded_file(d: &Dispatcher, step: &Step, writer: &str) -> Result<Written, Halt> {
    d.written.get(writer).cloned().ok_or_else(|| Halt::StepFailed {
        step: step.id.clone(),
        reason: format!(
            "{}: {writer} recorded no file in this run, so there is nothing to check the file against; it was not run",
            step.title
        ),
    })
}

/// Before a batch that reads `file`: the file hashed again, the same bytes as recorded.
async fn unchanged(file: &Written, writer: &str) -> Result<(), Failure> {
    match files::hash_in_background(&file.local_path).await {
        Ok((size, sha256)) if size == file.size && sha256 == file.sha256 => Ok(()),
        Ok((size, sha256)) => Err(Failure {
            refused: true,
            sha256: Some(sha256.clone()),
            ..Failure::because(format!(
                "{} changed since {writer} wrote it: {size} bytes, sha256 {sha256}; recorded {} bytes, sha256 {}; the batch was not run",
                file.local_path, file.size, file.sha256
            ))
        }),
        Err(e) => Err(Failure::because(format!(
            "cannot read {} before the batch that reads it: {e}; the batch was not run",
            file.local_path
        ))),
    }
}

/// After a batch that wrote a file: the file as this host reads it, or why it cannot.
async fn written(file: &WrittenFile, result: &SqlBatch) -> Result<Written, Failure> {
    let local_path = file.local_path();
    files::hash_in_background(&local_path)
        .await
        .map(|(size, sha256)| Written {
            path: file.path(),
            local_path,
            size,
            sha256,
        })
        .map_err(|e| {
            Failure::with_result(
                format!("the batch succeeded, but this host cannot read the file it wrote: {e}"),
                to_result(result),
            )
        })
}

/// Runs the batch through the dispatcher.
pub async fn run(
    d: &mut Dispatcher,
    env: &Env,
    step: &Step,
    batch: Batch<'_>,
    timeout: Duration,
    approval: Option<String>,
) -> Result<(), Halt> {
    let text = crate::text::sql_batch(batch.text).fill(&[]);
    let read = match batch.reads {
        Some(writer) => Some((writer, recorded_file(d, step, writer)?)),
        None => None,
    };
    let intent = Intent {
        unit: step.id.clone(),
        action: ActionKind::Sql,
        effect: batch.effect,
        command: text.clone(),
        target: batch.target.to_string(),
        inputs: read
            .iter()
            .map(|(_, f)| FileRef {
                path: f.path.clone(),
                size: f.size,
                sha256: f.sha256.clone(),
            })
            .collect(),
    };
    let expect = batch.expect_return_code;
    let outcome = with_retries(
        d,
        step,
        intent,
        approval,
        |_| async {
            if let Some((writer, file)) = &read {
                if let Err(refused) = unchanged(file, writer).await {
                    return Outcome::failed(to_result(&refused));
                }
            }
            match env.sql(batch.target, &text, timeout).await {
                Ok(r) => {
                    let mut result = sql_batch(&r);
                    let rc = result
                        .result_sets
                        .last()
                        .and_then(|rs| rs.rows.first().and_then(|row| row.first()).cloned());
                    match (expect, rc) {
                        (Some(want), Some(got)) if got.as_i64() != Some(want) => {
                            let reason = format!("return code {got}, expected {want}");
                            result.return_code = Some(got);
                            Outcome::failed(to_result(&Failure::with_result(
                                reason,
                                to_result(&result),
                            )))
                        }
                        (Some(want), None) => Outcome::failed(to_result(&Failure::with_result(
                            format!("no return code, expected {want}"),
                            to_result(&result),
                        ))),
                        _ => {
                            result.return_code = expect.map(serde_json::Value::from);
                            if let Some(file) = batch.writes {
                                match written(file, &result).await {
                                    Ok(file) => result.written = Some(file),
                                    Err(f) => return Outcome::failed(to_result(&f)),
                                }
                            }
                            Outcome::ok(to_result(&result))
                        }
                    }
                }
                Err(e) => Outcome::failed(sql_error_json(&e)),
            }
        },
        || sql_probe(env, batch.target, batch.probe),
    )
    .await?;
    if outcome.succeeded() && batch.writes.is_some() {
        // Replayed or live, the outcome's record is what a later step compares the file with.
        let file = outcome
            .result
            .get("written")
            .and_then(runledger_verifier::event::results::decode::<Written>);
        if let Some(file) = file {
            d.say(&format!(
                "  {}: {} bytes, sha256 {}",
                file.path, file.size, file.sha256
            ));
            d.written.insert(step.id.clone(), file);
        }
    }
    require(step, &outcome)
}
