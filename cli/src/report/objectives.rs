//! The recovery objectives of a run, each figure with the seqs it is computed from: how much
//! data the run gave up (RPO) and how long the service was down (RTO), whether the run was a
//! drill, and how old the last successful drill of the same runbook is when earlier journals
//! lie beside this one.
//!
//! - **RPO of a failover**: from the `BackupFinishDate` of the last log backup applied (the
//!   recorded header of the file the last successful `restore_logs` unit restored, or msdb's
//!   last restore when this run restored none) to the declared failure (the confirmation of
//!   the step with `declares_failure`). The primary's clock is read as UTC, as the approval of
//!   the recovery says.
//! - **RPO of a failback**: from the `BackupFinishDate` of the full backup (the `RESTORE
//!   HEADERONLY` in its outcome) to the moment the service stopped (the active servers list
//!   emptied). A backup that finished after the service stopped gave up nothing: 0.
//! - **RTO**: from the declared failure (or `run.started` when no step declares one) to the
//!   last successful step that gives the pool its servers back: `Set-CsPersistentChatState`,
//!   or `Set-CsPersistentChatActiveServer` with a list.
//! - **Drill or real**: a runbook that approves itself (`auto_approve`, which only rehearsals
//!   may use) is a drill; the embedded runbook in `run.started` says which.
//!
//! Everything is read from the events of a journal the report has verified; the earlier
//! drills are read from the other journals of the directory and are not verified here.

use std::cell::LazyCell;
use std::path::Path;

use runledger_engine::recovery::{rfc3339_micros, sql_time_micros};
use runledger_verifier::event::{Body, Decision, Event, OutcomeStatus, RunStatus};
use runledger_verifier::report::format_duration;
use runledger_verifier::verify::step_of;
use serde_json::Value;

/// One figure and where it comes from.
#[derive(Debug, Clone, Default)]
pub struct Figure {
    /// The figure in words (a duration, or why it cannot be computed).
    pub value: String,
    /// The events it is computed from: (seq, what that event says, the step it belongs to).
    pub from: Vec<(u64, String, Option<String>)>,
}

/// The recovery objectives of one run.
#[derive(Debug, Clone, Default)]
pub struct Objectives {
    /// The run.
    pub run_id: String,
    /// Its runbook.
    pub runbook: String,
    /// `drill` or `real`, with why.
    pub kind: String,
    /// Recovery point objective: the data given up.
    pub rpo: Figure,
    /// Recovery time objective: the time without service.
    pub rto: Figure,
    /// The last successful drill of this runbook before this run, when one is found.
    pub last_drill: Option<String>,
}

/// A time as the journal writes it, or as SQL Server prints a `datetime` (read as UTC), in
/// microseconds.
fn time_us(t: &str) -> Option<i64> {
    rfc3339_micros(t).or_else(|| sql_time_micros(t))
}

fn duration(from_us: i64, to_us: i64) -> String {
    if to_us <= from_us {
        return "0 s".into();
    }
    let us = (to_us - from_us) as u64;
    let s = us / 1_000_000;
    let (h, m) = (s / 3_600, s % 3_600 / 60);
    if h > 0 {
        format!("{h} h {m} min {} s", s % 60)
    } else {
        format_duration(us)
    }
}

struct Source {
    auto_approve: bool,
    declares_failure: Vec<String>,
}

fn source(text: &str) -> Source {
    let doc: toml::Value = toml::from_str(text).unwrap_or(toml::Value::Table(Default::default()));
    let auto_approve = doc
        .get("auto_approve")
        .and_then(toml::Value::as_bool)
        .unwrap_or(false);
    let declares_failure = doc
        .get("steps")
        .and_then(toml::Value::as_array)
        .map(|steps| {
            steps
                .iter()
                .filter(|s| s.get("declares_failure").and_then(toml::Value::as_bool) == Some(true))
                .filter_map(|s| s.get("id").and_then(toml::Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default();
    Source {
        auto_approve,
        declares_failure,
    }
}

/// A value of the first result set holding `column`, from a `sql` outcome's result.
fn column(result: &Value, column: &str) -> Option<String> {
    result["result_sets"].as_array()?.iter().find_map(|rs| {
        let i = rs["columns"]
            .as_array()?
            .iter()
            .position(|c| c.as_str() == Some(column))?;
        let v = &rs["rows"].as_array()?.first()?[i];
        Some(v.as_str().map_or_else(|| v.to_string(), String::from))
    })
}

/// The recovery objectives of every run in `events`, the journal at `journal`.
pub fn objectives(events: &[Event], journal: &Path) -> Vec<Objectives> {
    // The successful drills beside this journal, read once, when a run first asks.
    let drills = LazyCell::new(|| all_drills(events, journal));
    let mut out = Vec::new();
    for e in events {
        let Body::RunStarted(started) = &e.body else {
            continue;
        };
        let run_id = e.run.clone().unwrap_or_default();
        let of_run: Vec<&Event> = events
            .iter()
            .filter(|x| x.run.as_deref() == Some(run_id.as_str()))
            .collect();
        let src = source(&started.runbook.source);
        let mut o = Objectives {
            run_id: run_id.clone(),
            runbook: started.runbook.name.clone(),
            kind: if src.auto_approve {
                "drill: the runbook approves itself (auto_approve), as only a rehearsal may".into()
            } else {
                "real: the runbook does not approve itself".into()
            },
            ..Objectives::default()
        };
        // Intents by (unit, attempt): their command and action.
        let intent = |unit: &str, attempt: u64| {
            of_run.iter().find_map(|x| match &x.body {
                Body::StepIntent(i) if i.step == unit && i.attempt == attempt => Some(i),
                _ => None,
            })
        };
        let succeeded: Vec<(&Event, &runledger_verifier::event::StepIntent, &Value)> = of_run
            .iter()
            .filter_map(|x| match &x.body {
                Body::StepOutcome(out) if out.status == OutcomeStatus::Succeeded => {
                    intent(&out.step, out.attempt).map(|i| (*x, i, &out.result))
                }
                _ => None,
            })
            .collect();
        let declared = of_run.iter().find_map(|x| match &x.body {
            Body::Approval(a)
                if a.decision == Decision::Approved && src.declares_failure.contains(&a.step) =>
            {
                Some((x.seq, x.at.clone(), a.step.clone()))
            }
            _ => None,
        });

        // RPO.
        let mut rpo = Figure::default();
        let stopped = succeeded.iter().find(|(_, i, _)| {
            i.command.contains("Set-CsPersistentChatActiveServer") && i.command.contains("$null")
        });
        let full_backup = succeeded
            .iter()
            .rev()
            .find(|(_, i, _)| i.command.contains("BACKUP DATABASE"));
        if let Some((seq, at, step)) = &declared {
            let last_restore = succeeded
                .iter()
                .rev()
                .find(|(_, i, _)| i.action == "restore_logs");
            let point: Option<(u64, String, String, String, Option<String>)> = match last_restore {
                Some((x, i, _)) => {
                    let file = i.step.rsplit('/').next().unwrap_or("").to_string();
                    of_run.iter().rev().find_map(|ev| match &ev.body {
                        Body::Observation(ob) if ob.name == "backup_headers" => {
                            ob.data["headers"].as_array()?.iter().find_map(|h| {
                                (h["file"].as_str() == Some(file.as_str())).then(|| {
                                    (
                                        x.seq,
                                        format!(
                                            "{file} restored (its header recorded at seq {})",
                                            ev.seq
                                        ),
                                        h["backup_finish"].as_str().unwrap_or("").to_string(),
                                        h["last_lsn"].as_str().unwrap_or("").to_string(),
                                        Some(step_of(&i.step).to_string()),
                                    )
                                })
                            })
                        }
                        _ => None,
                    })
                }
                None => of_run.iter().rev().find_map(|ev| match &ev.body {
                    Body::Observation(ob) if ob.name == "last_restore" => Some((
                        ev.seq,
                        format!(
                            "msdb's last restore: {}",
                            ob.data["file"].as_str().unwrap_or("?")
                        ),
                        ob.data["backup_finish_date"]
                            .as_str()
                            .unwrap_or("")
                            .to_string(),
                        ob.data["last_lsn"].as_str().unwrap_or("").to_string(),
                        ob.step.as_deref().map(|x| step_of(x).to_string()),
                    )),
                    _ => None,
                }),
            };
            match point.and_then(|p| Some((time_us(&p.2)?, p))) {
                Some((finish_us, (pseq, what, finish, lsn, pstep))) => {
                    let declared_us = time_us(at).unwrap_or(finish_us);
                    rpo.value = format!(
                        "{} of log (the last applied log finished {finish} on the primary's clock, read as UTC; recovery point LSN {lsn})",
                        duration(finish_us, declared_us)
                    );
                    rpo.from.push((pseq, what, pstep));
                }
                None => rpo.value = "not computed: no applied log backup is recorded".into(),
            }
            rpo.from.push((
                *seq,
                format!("failure declared at {step}, {at}"),
                Some(step.clone()),
            ));
        } else if let (Some((bx, bi, result)), Some((sx, si, _))) = (full_backup, stopped) {
            let finish = column(result, "BackupFinishDate").unwrap_or_default();
            let lsn = column(result, "LastLSN").unwrap_or_default();
            match time_us(&finish) {
                Some(finish_us) => {
                    let stopped_us = time_us(&sx.at).unwrap_or(finish_us);
                    rpo.value = if finish_us >= stopped_us {
                        format!("0 s: the full backup (LSN {lsn}, finished {finish}) was taken after the service stopped, so it holds every committed change")
                    } else {
                        format!(
                            "{} (the full backup finished {finish}, before the service stopped; LSN {lsn})",
                            duration(finish_us, stopped_us)
                        )
                    };
                }
                None => rpo.value = "not computed: the full backup's header is not recorded".into(),
            }
            rpo.from.push((
                bx.seq,
                "the full backup and its header".into(),
                Some(step_of(&bi.step).to_string()),
            ));
            rpo.from.push((
                sx.seq,
                format!("service stopped (active servers emptied), {}", sx.at),
                Some(step_of(&si.step).to_string()),
            ));
        } else {
            rpo.value = "not computed: the run declares no failure and takes no full backup after stopping the service".into();
        }
        o.rpo = rpo;

        // RTO.
        let mut rto = Figure::default();
        let (from_seq, from_at, from_what, from_step) = match &declared {
            Some((seq, at, step)) => (
                *seq,
                at.clone(),
                format!("failure declared at {step}"),
                Some(step.clone()),
            ),
            None => (e.seq, e.at.clone(), "run.started".into(), None),
        };
        let restored = succeeded.iter().rev().find(|(_, i, _)| {
            i.command.contains("Set-CsPersistentChatState")
                || (i.command.contains("Set-CsPersistentChatActiveServer")
                    && !i.command.contains("$null"))
        });
        match restored {
            Some((x, i, _)) => {
                rto.value = match (time_us(&from_at), time_us(&x.at)) {
                    (Some(a), Some(b)) => duration(a, b),
                    _ => "not computed: unreadable times".into(),
                };
                rto.from
                    .push((from_seq, format!("{from_what}, {from_at}"), from_step));
                rto.from.push((
                    x.seq,
                    format!("service restored by {} at {}", i.step, x.at),
                    Some(step_of(&i.step).to_string()),
                ));
            }
            None => {
                rto.value =
                    "not reached: no step gave the pool its servers back in this run".into();
                rto.from
                    .push((from_seq, format!("{from_what}, {from_at}"), from_step));
            }
        }
        o.rto = rto;
        o.last_drill = drills
            .as_deref()
            .and_then(|d| last_drill(d, &o.runbook, &e.at));
        out.push(o);
    }
    out
}

/// A successful drill: a run of a runbook that approves itself, finished `succeeded`.
struct Drill {
    /// Its runbook.
    runbook: String,
    /// Its run.
    run: Option<String>,
    /// The journal it lies in, as the report names it.
    journal: String,
    /// When it finished, as the journal says.
    at: String,
    /// The same, in microseconds since 1970.
    us: i64,
}

/// Every successful drill in `evs`, the journal named `name`, in journal order.
fn drills(evs: &[Event], name: &str) -> Vec<Drill> {
    evs.iter()
        .filter_map(|e| {
            let Body::RunStarted(s) = &e.body else {
                return None;
            };
            if !source(&s.runbook.source).auto_approve {
                return None;
            }
            let (at, status) = evs.iter().find_map(|f| match &f.body {
                Body::RunFinished(r) if f.run == e.run => Some((&f.at, r.status)),
                _ => None,
            })?;
            if status != RunStatus::Succeeded {
                return None;
            }
            Some(Drill {
                runbook: s.runbook.name.clone(),
                run: e.run.clone(),
                journal: name.to_string(),
                at: at.clone(),
                us: time_us(at)?,
            })
        })
        .collect()
}

/// The successful drills of this journal, then of the other journals of its directory and of
/// the directory above (where a round trip's failover lies), read once for the whole report;
/// None when the journal has no directory.
fn all_drills(events: &[Event], journal: &Path) -> Option<Vec<Drill>> {
    let mut out = drills(events, "this journal");
    let dir = journal.parent()?;
    let mut others = Vec::new();
    for d in [Some(dir), dir.parent()].into_iter().flatten() {
        let Ok(entries) = std::fs::read_dir(if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        }) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.extension().is_some_and(|x| x == "db")
                && p.file_name() != journal.file_name().filter(|_| d == dir)
            {
                others.push(p);
            }
        }
    }
    others.sort();
    for p in others {
        if let Ok((evs, _)) = super::model::read_events(&p) {
            out.extend(drills(
                &evs,
                &format!("journal {}, not verified here", p.display()),
            ));
        }
    }
    Some(out)
}

/// The newest of `drills` of `runbook` that finished before `before` (the first found of
/// equally new ones): "N before this run (journal, run, finished at)".
fn last_drill(drills: &[Drill], runbook: &str, before: &str) -> Option<String> {
    let before_us = time_us(before)?;
    let best = drills
        .iter()
        .filter(|d| d.runbook == runbook && d.us < before_us)
        .reduce(|best, d| if d.us > best.us { d } else { best })?;
    Some(format!(
        "{} before this run ({}, run {}, finished {})",
        duration(best.us, before_us),
        best.journal,
        best.run.as_deref().unwrap_or("?"),
        best.at
    ))
}
