//! `runledger plan` shows what the run executes: over the normal drill's journal, every
//! intent's command is its step's text as the plan shows it, with only the named fields
//! filled, and the run's recorded plan is the plan of its embedded runbook.

use runledger_verifier::plan_check::{fill_of, PlanData, PLAN_OBSERVATION};

use crate::common::{export_events, runledger, stop_server, text};

#[test]
fn the_plan_is_the_text_the_normal_drill_executed() {
    let dir = tempfile::tempdir().unwrap();
    let out = runledger()
        .arg("drill")
        .arg("--dir")
        .arg(dir.path())
        .output()
        .expect("run the drill");
    stop_server(dir.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let events = export_events(&dir.path().join("journal.db"));

    // The run's plan is its first event after run.started, and the plan of its runbook.
    assert_eq!(events[1]["kind"], "run.started");
    let source = events[1]["body"]["runbook"]["source"].as_str().unwrap();
    let plan_event = &events[2];
    assert_eq!(plan_event["kind"], "observation");
    assert_eq!(plan_event["body"]["name"], PLAN_OBSERVATION);
    assert!(plan_event["body"]["step"].is_null());
    let recorded: PlanData = serde_json::from_value(plan_event["body"]["data"].clone()).unwrap();
    let loaded = runledger_engine::runbook::parse(source, "embedded").unwrap();
    assert_eq!(recorded, runledger_engine::text::plan(&loaded.runbook));
    assert_eq!(
        events
            .iter()
            .filter(|e| e["kind"] == "observation" && e["body"]["name"] == PLAN_OBSERVATION)
            .count(),
        1,
        "one plan per run"
    );

    // What `runledger plan` prints for the same runbook.
    let runbook = dir.path().join("embedded.toml");
    std::fs::write(&runbook, source).unwrap();
    let planned = runledger().arg("plan").arg(&runbook).output().unwrap();
    let (shown, err) = text(&planned);
    assert!(planned.status.success(), "{err}");

    let mut checked = 0;
    let mut fields_filled = 0;
    for e in events.iter().filter(|e| e["kind"] == "step.intent") {
        let unit = e["body"]["step"].as_str().unwrap();
        let step = unit.split_once('/').map_or(unit, |(s, _)| s);
        let action = e["body"]["action"].as_str().unwrap();
        let command = e["body"]["command"].as_str().unwrap();
        let planned = recorded
            .steps
            .iter()
            .find(|s| s.step == step)
            .unwrap_or_else(|| panic!("{step} is in the plan"));
        let fill = planned
            .templates
            .iter()
            .find_map(|t| fill_of(t, action, command))
            .unwrap_or_else(|| panic!("{unit}: {command:?} is not a text of its plan"));
        fields_filled += fill.len();
        // Only the fields the plan names are filled.
        for name in fill.keys() {
            assert!(planned.placeholders.contains(name), "{unit}: {name}");
        }
        // And the plan the operator read shows each text, line for line, under its step.
        let i = recorded.steps.iter().position(|s| s.step == step).unwrap();
        let header = |i: usize| format!("{:>2}. {}  ", i + 1, recorded.steps[i].step);
        let block = shown
            .split(&header(i))
            .nth(1)
            .unwrap_or_else(|| panic!("{step} in the plan's output:\n{shown}"));
        let block = match recorded.steps.get(i + 1) {
            Some(_) => block.split(&header(i + 1)).next().unwrap_or(""),
            None => block,
        };
        // (a line run through the shell as the shell's last argument reads it).
        let step_of_runbook = loaded.runbook.steps.iter().find(|s| s.id == step).unwrap();
        for template in runledger_engine::text::executed(step_of_runbook) {
            for line in template.shown().lines() {
                assert!(
                    block.contains(&format!("      {line}\n")),
                    "{step}: {line:?} not in\n{block}"
                );
            }
        }
        for name in &planned.placeholders {
            assert!(
                block.contains(&format!("decided at run time: {{{{{name}}}}}")),
                "{step}: the plan names {name}:\n{block}"
            );
        }
        checked += 1;
    }
    assert!(checked > 20, "a normal drill has many intents ({checked})");
    assert!(fields_filled > 0, "some texts have fields the run filled");
}

#[test]
fn a_run_recorded_before_runs_recorded_their_plan_is_not_checked_never_passed_or_failed() {
    use crate::fixture_journals::{rewrite, write_sqlite};
    use runledger_verifier::event::Body;
    use std::os::unix::fs::PermissionsExt as _;

    // The normal drill's golden journal as an earlier version wrote it: without its plan,
    // re-chained and re-signed with its own key.
    let golden =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/golden/drill_normal");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("operator.key");
    std::fs::copy(golden.join("operator.key"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut events = crate::fixture_journals::journal_events(&golden.join("journal.db"));
    let before = events.len();
    events.retain(|e| !matches!(&e.body, Body::Observation(o) if o.name == PLAN_OBSERVATION));
    assert_eq!(events.len(), before - 1);
    let journal = dir.path().join("journal.db");
    let k = runledger_engine::keyfile::load(&key).unwrap();
    write_sqlite(&journal, &rewrite(events, &k));

    let out = crate::common::runledger_verify()
        .arg(&journal)
        .arg("--trust")
        .arg(golden.join("operator.key.pub"))
        .arg("--json")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["verdict"], "valid_sealed");
    let plan = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "plan")
        .unwrap();
    assert_eq!(plan["status"], "skipped", "{plan}");
    assert!(
        plan["detail"]
            .as_str()
            .unwrap()
            .starts_with("not checked: 1 run(s) record no plan"),
        "{plan}"
    );
}
