//! The `plan` check: every text a run executed is the text its plan announced.
//!
//! A run records its plan as its first event after `run.started`: an observation named `plan`
//! holding, per step of the runbook, the text templates the step executes and the names of the
//! fields only the run can decide (the file chosen by LSN, a session id, an identity read from
//! the server). The plan is an observation, not a field of `run.started`, because that body
//! admits no unknown field and every v1 reader reads it strictly; an observation is an event
//! kind every v1 reader already reads.
//!
//! The check holds when the plan's `digest` is the SHA-256 of the canonical JSON of its steps,
//! its steps are the runbook's (same ids, same actions, same order), and every `step.intent`
//! of the run has a command equal to one of its step's templates with only the named fields
//! filled, each filled value obeying the rules of [`value_rule`]. A run written before plans
//! were recorded has none: its intents are counted as not checked, neither passed nor failed.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::event::{ActionKind, Body, Event};
use crate::report::{Check, CheckStatus, Failure};
use crate::verify::step_of;

/// The name of the observation that records a run's plan.
pub const PLAN_OBSERVATION: &str = "plan";

/// A backup file's name, in the texts that copy and restore it.
pub const FILE: &str = "file";
/// A session's id, in `KILL`.
pub const SESSION_ID: &str = "session_id";
/// The identity a `cs_cmdlet` reads at run time (the runbook writes it `{{resolved_identity}}`).
pub const RESOLVED_IDENTITY: &str = "resolved_identity";

/// The fields a plan may leave to the run, each with the rule its value obeys.
pub const PLACEHOLDERS: [&str; 3] = [FILE, SESSION_ID, RESOLVED_IDENTITY];

/// Whether the text of `action` is T-SQL: a value there sits inside a string literal at most,
/// and must not close it.
fn is_tsql(action: &str) -> bool {
    matches!(
        ActionKind::parse(action),
        Some(
            ActionKind::Sql
                | ActionKind::RestoreLogs
                | ActionKind::KillSessions
                | ActionKind::RecoverDatabase
        )
    )
}

/// A named field of a template, decided at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Its name, one of [`PLACEHOLDERS`].
    pub placeholder: String,
}

/// A piece of a template: literal text, or a field the run fills.
///
/// In JSON a literal is a string and a field is `{"placeholder": NAME}`: no escaping, so no
/// literal text can be read as a field, whatever it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Piece {
    /// Text executed as it stands.
    Text(String),
    /// A field decided at run time.
    Field(Field),
}

impl Piece {
    /// A literal piece.
    pub fn text(s: impl Into<String>) -> Piece {
        Piece::Text(s.into())
    }

    /// A field piece.
    pub fn field(name: &str) -> Piece {
        Piece::Field(Field {
            placeholder: name.to_string(),
        })
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanStep {
    /// The step id.
    pub step: String,
    /// Its action kind.
    pub action: String,
    /// The texts its intents may record: each intent's command is one of them, filled.
    pub templates: Vec<Vec<Piece>>,
    /// The fields decided at run time, in the order they first appear.
    pub placeholders: Vec<String>,
}

/// The data of a `plan` observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanData {
    /// Lowercase hex SHA-256 of the canonical JSON of `steps`.
    pub digest: String,
    /// Every step of the runbook, in order.
    pub steps: Vec<PlanStep>,
}

impl PlanData {
    /// A plan of `steps`, with its digest.
    pub fn of(steps: Vec<PlanStep>) -> PlanData {
        PlanData {
            digest: digest(&steps),
            steps,
        }
    }
}

/// Lowercase hex SHA-256 of the canonical JSON of a plan's steps.
pub fn digest(steps: &[PlanStep]) -> String {
    // Strings and arrays only: the canonical encoding cannot refuse them; an empty digest
    // would not match any recorded one anyway.
    crate::canonical::to_canonical_bytes(&steps)
        .map(|bytes| crate::signing::sha256_hex(&bytes))
        .unwrap_or_default()
}

/// A template as text, each field written `{{name}}`.
pub fn render(template: &[Piece]) -> String {
    template
        .iter()
        .map(|p| match p {
            Piece::Text(t) => t.clone(),
            Piece::Field(f) => format!("{{{{{}}}}}", f.placeholder),
        })
        .collect()
}

/// Whether a value may fill the field `name` of a template of `action`, and why not.
///
/// Every value is non-empty, holds no control character (so no line break: a value stays on
/// its line) and is the same wherever the field repeats in one text. Besides:
/// - `file` is a file name, not a path: no `/` or `\`, not `.` or `..`; in T-SQL each `'` in
///   it is doubled, so that it cannot close the string literal it sits in;
/// - `session_id` is ASCII digits;
/// - `resolved_identity` is one PowerShell single-quoted literal, each quote inside it doubled
///   (as it stands, or inside a POSIX single-quoted word where each `'` is written `'\''`).
pub fn value_rule(name: &str, action: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{name} is empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{name} holds a control character"));
    }
    match name {
        FILE => {
            if value.contains(['/', '\\']) || value == "." || value == ".." {
                return Err(format!("file {value:?} is not a file name"));
            }
            if is_tsql(action) && !quotes_doubled(value, |c| c == '\'') {
                return Err(format!("file {value:?} would close its string literal"));
            }
            Ok(())
        }
        SESSION_ID if value.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        SESSION_ID => Err(format!("session id {value:?} is not a number")),
        RESOLVED_IDENTITY => {
            let shown = value.replace("'\\''", "'");
            if ps_literal(value) || (shown != value && ps_literal(&shown)) {
                Ok(())
            } else {
                Err(format!(
                    "identity {value:?} is not one single-quoted literal"
                ))
            }
        }
        other => Err(format!(
            "{other} is not a field a plan may leave to the run"
        )),
    }
}

/// Whether every quote character of `s` comes doubled.
fn quotes_doubled(s: &str, quote: impl Fn(char) -> bool) -> bool {
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if quote(c) && chars.next() != Some(c) {
            return false;
        }
    }
    true
}

/// The quote characters PowerShell takes for `'`.
fn ps_quote(c: char) -> bool {
    matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}')
}

/// Whether `s` is one PowerShell single-quoted literal.
fn ps_literal(s: &str) -> bool {
    let mut chars = s.chars();
    let (Some(first), Some(last)) = (chars.next(), chars.next_back()) else {
        return false;
    };
    ps_quote(first) && ps_quote(last) && quotes_doubled(chars.as_str(), ps_quote)
}

/// The values that fill `template` into `text` under the rules of [`value_rule`], if any do.
pub fn fill_of(template: &[Piece], action: &str, text: &str) -> Option<BTreeMap<String, String>> {
    let mut bound = BTreeMap::new();
    matches(template, action, text, &mut bound).then_some(bound)
}

fn matches(
    pieces: &[Piece],
    action: &str,
    text: &str,
    bound: &mut BTreeMap<String, String>,
) -> bool {
    let Some((first, rest)) = pieces.split_first() else {
        return text.is_empty();
    };
    match first {
        Piece::Text(t) => text
            .strip_prefix(t.as_str())
            .is_some_and(|after| matches(rest, action, after, bound)),
        Piece::Field(f) => {
            let name = &f.placeholder;
            if let Some(v) = bound.get(name).cloned() {
                return text
                    .strip_prefix(v.as_str())
                    .is_some_and(|after| matches(rest, action, after, bound));
            }
            // A value holds no control character: the candidates end before the first one.
            let reach = text.find(char::is_control).unwrap_or(text.len());
            let mut ends: Vec<usize> = match rest.first() {
                None => vec![text.len()],
                // Every place the next literal starts, overlapping ones too.
                Some(Piece::Text(next)) => (1..=reach)
                    .filter(|&i| text.is_char_boundary(i) && text[i..].starts_with(next.as_str()))
                    .collect(),
                // Two adjacent fields are refused with the plan.
                Some(Piece::Field(_)) => vec![],
            };
            ends.retain(|&e| e > 0 && e <= reach);
            for end in ends {
                let value = &text[..end];
                if value_rule(name, action, value).is_err() {
                    continue;
                }
                bound.insert(name.clone(), value.to_string());
                if matches(rest, action, &text[end..], bound) {
                    return true;
                }
                bound.remove(name);
            }
            false
        }
    }
}

/// What the `plan` check counted, for the report's detail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Runs that recorded a plan.
    pub planned: u64,
    /// Runs without one (written before plans were recorded): not checked.
    pub unplanned: u64,
    /// Intents held against their step's templates.
    pub intents: u64,
    /// Intents of runs without a plan.
    pub intents_unchecked: u64,
}

/// The run in progress, as the check sees it.
struct RunPlan {
    /// The runbook's steps: (id, action), in order.
    runbook: Vec<(String, String)>,
    /// The next event is the one that may be the plan.
    awaiting: bool,
    /// The plan's steps by id, once recorded.
    steps: Option<HashMap<String, PlanStep>>,
}

/// The `plan` check over a journal, fed every event in order.
#[derive(Default)]
pub struct PlanCheck {
    run: Option<RunPlan>,
    tally: Tally,
}

fn failed(seq: u64, reason: String) -> Box<Failure> {
    Box::new(Failure {
        check: Check::Plan,
        seq: Some(seq),
        position: None,
        reason,
        expected: None,
        found: None,
    })
}

impl PlanCheck {
    /// A run starts, whose embedded runbook has these steps: (id, action), in order. The
    /// verifier reads the runbook once, at `run.started`, and hands its steps over here.
    pub fn start(&mut self, runbook: Vec<(String, String)>) {
        self.run = Some(RunPlan {
            runbook,
            awaiting: true,
            steps: None,
        });
    }

    /// Checks the next event (one the other checks passed), after [`PlanCheck::start`] for
    /// its `run.started`.
    pub fn event(&mut self, event: &Event) -> Result<(), Box<Failure>> {
        let seq = event.seq;
        if let Body::RunStarted(_) = &event.body {
            return Ok(());
        }
        let Some(run) = self.run.as_mut() else {
            return Ok(());
        };
        let awaited = std::mem::replace(&mut run.awaiting, false);
        match &event.body {
            Body::Observation(o) if o.name == PLAN_OBSERVATION => {
                if !awaited || o.step.is_some() {
                    return Err(failed(
                        seq,
                        "a plan observation other than the run's first event after run.started"
                            .into(),
                    ));
                }
                let steps = read_plan(&o.data, &run.runbook).map_err(|r| failed(seq, r))?;
                run.steps = Some(steps);
                self.tally.planned += 1;
            }
            body => {
                if awaited {
                    self.tally.unplanned += 1;
                }
                match body {
                    Body::StepIntent(intent) => match &run.steps {
                        Some(steps) => {
                            let step = step_of(&intent.step);
                            let Some(planned) = steps.get(step) else {
                                return Err(failed(
                                    seq,
                                    format!("step {step:?} is not in the run's plan"),
                                ));
                            };
                            if planned.action != intent.action {
                                return Err(failed(
                                    seq,
                                    format!(
                                        "step {step:?} is a {} step in the plan, not {}",
                                        planned.action, intent.action
                                    ),
                                ));
                            }
                            let held = planned
                                .templates
                                .iter()
                                .any(|t| fill_of(t, &intent.action, &intent.command).is_some());
                            if !held {
                                let mut f = failed(
                                    seq,
                                    format!(
                                        "the command of {} is not the text the plan announced for step {step:?}",
                                        intent.step
                                    ),
                                );
                                f.expected = Some(
                                    planned
                                        .templates
                                        .iter()
                                        .map(|t| render(t))
                                        .collect::<Vec<_>>()
                                        .join("\n  or\n"),
                                );
                                f.found = Some(intent.command.clone());
                                return Err(f);
                            }
                            self.tally.intents += 1;
                        }
                        None => self.tally.intents_unchecked += 1,
                    },
                    Body::RunFinished(_) => self.run = None,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The check's status and detail for the report, when it did not fail.
    pub fn result(&self) -> (CheckStatus, String) {
        let t = self.tally;
        let unchecked = format!(
            "not checked: {} run(s) record no plan (written before runs recorded their plan), {} intent(s)",
            t.unplanned, t.intents_unchecked
        );
        match (t.planned, t.unplanned) {
            (0, 0) => (CheckStatus::Skipped, "no run".into()),
            (0, _) => (CheckStatus::Skipped, unchecked),
            (p, 0) => (
                CheckStatus::Passed,
                format!(
                    "{} intent(s) of {p} run(s) are the text of their plan",
                    t.intents
                ),
            ),
            (p, _) => (
                CheckStatus::Passed,
                format!(
                    "{} intent(s) of {p} run(s) are the text of their plan; {unchecked}",
                    t.intents
                ),
            ),
        }
    }
}

/// Reads and checks a plan against its digest and the runbook's steps.
fn read_plan(
    data: &serde_json::Value,
    runbook: &[(String, String)],
) -> Result<HashMap<String, PlanStep>, String> {
    let plan: PlanData = serde_json::from_value(data.clone())
        .map_err(|e| format!("the plan is not readable: {e}"))?;
    let actual = digest(&plan.steps);
    if actual != plan.digest {
        return Err(format!(
            "the plan's digest {} is not the SHA-256 of its steps ({actual})",
            plan.digest
        ));
    }
    let planned: Vec<(&str, &str)> = plan
        .steps
        .iter()
        .map(|s| (s.step.as_str(), s.action.as_str()))
        .collect();
    let declared: Vec<(&str, &str)> = runbook
        .iter()
        .map(|(id, action)| (id.as_str(), action.as_str()))
        .collect();
    if planned != declared {
        return Err("the plan's steps are not the runbook's steps (ids, actions, order)".into());
    }
    let mut out = HashMap::new();
    for step in plan.steps {
        for name in &step.placeholders {
            if !PLACEHOLDERS.contains(&name.as_str()) {
                return Err(format!(
                    "step {:?} leaves {name:?} to the run, which is not a field a plan may leave",
                    step.step
                ));
            }
        }
        for t in &step.templates {
            for pair in t.windows(2) {
                if matches!(pair, [Piece::Field(_), Piece::Field(_)]) {
                    return Err(format!(
                        "a template of step {:?} has two fields side by side: their values could not be told apart",
                        step.step
                    ));
                }
            }
            for p in t {
                if let Piece::Field(f) = p {
                    if !step.placeholders.contains(&f.placeholder) {
                        return Err(format!(
                            "a template of step {:?} names {:?}, which its list of fields decided at run time does not",
                            step.step, f.placeholder
                        ));
                    }
                }
            }
        }
        out.insert(step.step.clone(), step);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restore() -> Vec<Piece> {
        vec![
            Piece::text("RESTORE VERIFYONLY FROM DISK = N'D:\\c\\"),
            Piece::field("file"),
            Piece::text("';\nRESTORE LOG [mgc] FROM DISK = N'D:\\c\\"),
            Piece::field("file"),
            Piece::text("' WITH FILE = 1, NORECOVERY"),
        ]
    }

    #[test]
    fn a_template_matches_its_filled_text_and_nothing_else() {
        let t = restore();
        let text = "RESTORE VERIFYONLY FROM DISK = N'D:\\c\\a.trn';\nRESTORE LOG [mgc] FROM DISK = N'D:\\c\\a.trn' WITH FILE = 1, NORECOVERY";
        let fill = fill_of(&t, "restore_logs", text).unwrap();
        assert_eq!(fill["file"], "a.trn");
        // The same field, two values.
        assert!(fill_of(&t, "restore_logs", &text.replacen("a.trn", "b.trn", 1)).is_none());
        // A literal changed.
        assert!(fill_of(&t, "restore_logs", &text.replace("NORECOVERY", "RECOVERY")).is_none());
        // A value that closes the literal and adds a statement.
        let injected = "x'; DROP DATABASE [mgc]; --";
        let bad = text.replace("a.trn", injected);
        assert!(fill_of(&t, "restore_logs", &bad).is_none());
        // A doubled quote is a name.
        let quoted = text.replace("a.trn", "o''neil.trn");
        assert!(fill_of(&t, "restore_logs", &quoted).is_some());
        // A value on two lines, or a path.
        assert!(fill_of(&t, "restore_logs", &text.replace("a.trn", "a\nb.trn")).is_none());
        assert!(fill_of(&t, "restore_logs", &text.replace("a.trn", "..\\a.trn")).is_none());
        assert_eq!(
            render(&t),
            "RESTORE VERIFYONLY FROM DISK = N'D:\\c\\{{file}}';\nRESTORE LOG [mgc] FROM DISK = N'D:\\c\\{{file}}' WITH FILE = 1, NORECOVERY"
        );
    }

    #[test]
    fn each_field_has_its_rule() {
        let kill = vec![Piece::text("KILL "), Piece::field("session_id")];
        assert!(fill_of(&kill, "kill_sessions", "KILL 57").is_some());
        assert!(fill_of(&kill, "kill_sessions", "KILL 57; SHUTDOWN").is_none());
        assert!(fill_of(&kill, "kill_sessions", "KILL ").is_none());
        let set = vec![
            Piece::text("Set-CsPool -Identity "),
            Piece::field("resolved_identity"),
            Piece::text(" -State Off"),
        ];
        assert!(fill_of(&set, "cs_cmdlet", "Set-CsPool -Identity 'a''b' -State Off").is_some());
        assert!(fill_of(&set, "cs_cmdlet", "Set-CsPool -Identity 'a' -State Off").is_some());
        assert!(fill_of(
            &set,
            "cs_cmdlet",
            "Set-CsPool -Identity 'a'; Stop-X; 'b' -State Off"
        )
        .is_none());
        assert!(fill_of(&set, "cs_cmdlet", "Set-CsPool -Identity a -State Off").is_none());
        // Inside a POSIX single-quoted word.
        assert!(fill_of(
            &set,
            "cs_cmdlet",
            "Set-CsPool -Identity '\\''a'\\'''\\''b'\\'' -State Off"
        )
        .is_some());
        let copy = vec![
            Piece::text("copy /s/"),
            Piece::field("file"),
            Piece::text(" -> /d/"),
            Piece::field("file"),
        ];
        assert!(fill_of(&copy, "copy_backups", "copy /s/o'n.trn -> /d/o'n.trn").is_some());
        assert!(fill_of(&copy, "copy_backups", "copy /s/a.trn -> /d/b.trn").is_none());
        assert!(value_rule("host", "sql", "x").is_err());
    }

    #[test]
    fn a_literal_template_is_the_exact_text() {
        let t = vec![Piece::text("SELECT 1;")];
        assert!(fill_of(&t, "sql", "SELECT 1;").is_some());
        assert!(fill_of(&t, "sql", "SELECT 1; ").is_none());
        assert!(fill_of(&t, "sql", "SELECT 2;").is_none());
    }

    fn step(id: &str, action: &str, templates: Vec<Vec<Piece>>, fields: &[&str]) -> PlanStep {
        PlanStep {
            step: id.into(),
            action: action.into(),
            templates,
            placeholders: fields.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_plan_is_read_only_when_its_digest_and_steps_hold() {
        let runbook = vec![
            ("restore".to_string(), "restore_logs".to_string()),
            ("recover".to_string(), "recover_database".to_string()),
        ];
        let steps = vec![
            step("restore", "restore_logs", vec![restore()], &["file"]),
            step(
                "recover",
                "recover_database",
                vec![vec![Piece::text("RESTORE DATABASE [mgc] WITH RECOVERY")]],
                &[],
            ),
        ];
        let good = serde_json::to_value(PlanData::of(steps.clone())).unwrap();
        assert!(read_plan(&good, &runbook).is_ok());
        // The JSON form: literals are strings, fields are objects.
        assert_eq!(
            good["steps"][0]["templates"][0][1],
            serde_json::json!({"placeholder": "file"})
        );

        let mut wrong = good.clone();
        wrong["digest"] = serde_json::json!("00");
        assert!(read_plan(&wrong, &runbook).unwrap_err().contains("digest"));

        let reordered =
            serde_json::to_value(PlanData::of(vec![steps[1].clone(), steps[0].clone()])).unwrap();
        assert!(read_plan(&reordered, &runbook).is_err());

        let unknown = serde_json::to_value(PlanData::of(vec![
            step(
                "restore",
                "restore_logs",
                vec![restore()],
                &["file", "host"],
            ),
            steps[1].clone(),
        ]))
        .unwrap();
        assert!(read_plan(&unknown, &runbook).is_err());

        let unnamed = serde_json::to_value(PlanData::of(vec![
            step("restore", "restore_logs", vec![restore()], &[]),
            steps[1].clone(),
        ]))
        .unwrap();
        assert!(read_plan(&unnamed, &runbook).is_err());

        let adjacent = serde_json::to_value(PlanData::of(vec![
            step(
                "restore",
                "restore_logs",
                vec![vec![Piece::field("file"), Piece::field("file")]],
                &["file"],
            ),
            steps[1].clone(),
        ]))
        .unwrap();
        assert!(read_plan(&adjacent, &runbook).is_err());
    }

    #[test]
    fn the_report_says_when_runs_were_not_checked() {
        let mut c = PlanCheck::default();
        assert_eq!(c.result().0, CheckStatus::Skipped);
        c.tally.unplanned = 1;
        c.tally.intents_unchecked = 4;
        let (status, detail) = c.result();
        assert_eq!(status, CheckStatus::Skipped);
        assert!(detail.starts_with("not checked"), "{detail}");
        c.tally.planned = 1;
        c.tally.intents = 3;
        let (status, detail) = c.result();
        assert_eq!(status, CheckStatus::Passed);
        assert!(detail.contains("not checked"), "{detail}");
    }
}
