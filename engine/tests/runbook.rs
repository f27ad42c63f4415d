//! Runbooks: the committed schema is what the types generate, the built-in runbook parses,
//! and every invalid runbook in fixtures/runbooks/invalid is refused with the file, line and
//! column its `# expect:` header names.

use std::path::Path;

use runledger_engine::runbook;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn committed_runbook_schema_matches_the_types() {
    let path = root().join("schemas/runbook.schema.json");
    let text = runledger_verifier::schema::to_file_text(&runbook::schema());
    if std::env::var_os("RUNLEDGER_WRITE_SCHEMAS").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).expect("schemas/runbook.schema.json");
    assert!(
        committed == text,
        "schemas/runbook.schema.json drifted from the Rust types; regenerate with RUNLEDGER_WRITE_SCHEMAS=1 cargo test -p runledger-engine --test runbook"
    );
}

#[test]
fn every_built_in_runbook_parses_and_the_valid_fixtures_too() {
    for (name, source) in runbook::BUILT_IN {
        let loaded = runbook::parse(source, name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.runbook.name, *name);
        assert!(
            !loaded.runbook.auto_approve,
            "a built-in runbook never approves by itself"
        );
    }
    for entry in std::fs::read_dir(root().join("fixtures/runbooks/valid")).unwrap() {
        let path = entry.unwrap().path();
        runbook::load(&path).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn every_invalid_runbook_is_refused_at_its_line_and_column() {
    let dir = root().join("fixtures/runbooks/invalid");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no `# expect:` line", path.display()));
        let (pos, fragment) = expect.split_once(' ').unwrap();
        let err = runbook::load(&path).expect_err(&format!("{} must be refused", path.display()));
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("{}:{pos}: ", path.display())),
            "{}: expected position {pos}, got: {shown}",
            path.display()
        );
        assert!(
            shown.contains(fragment),
            "{}: expected {fragment:?} in: {shown}",
            path.display()
        );
        assert_eq!(shown.lines().count(), 1, "one line: {shown}");
        n += 1;
    }
    assert!(n >= 10, "the invalid runbook fixtures are there ({n})");
}

#[test]
fn parameters_are_substituted_once_at_load() {
    let src = "name = \"x\"\nversion = \"1\"\n[parameters]\ndb = \"mgc\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\naction = \"manual\"\ninstruction = \"recover {{db}} now\"\n";
    let loaded = runbook::parse(src, "t.toml").unwrap();
    match &loaded.runbook.steps[0].action {
        runbook::Action::Manual { instruction, .. } => assert_eq!(instruction, "recover mgc now"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        loaded.source, src,
        "the source is kept verbatim for run.started"
    );
}

#[test]
fn a_pinned_ca_is_read_and_shown_in_the_plan() {
    let src = "name = \"x\"\nversion = \"1\"\n[targets.backup]\nhost = \"h\"\nauth = \"integrated\"\nencryption = \"required\"\ntrust_cert_ca = \"contoso-root-ca.pem\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\naction = \"manual\"\ninstruction = \"confirm\"\n";
    let loaded = runbook::parse(src, "t.toml").unwrap();
    let target = &loaded.runbook.targets["backup"];
    assert_eq!(
        target.trust_cert_ca.as_deref(),
        Some(Path::new("contoso-root-ca.pem"))
    );
    assert!(!target.trust_server_certificate);
    let plan = runledger_engine::plan::render(&loaded);
    assert!(
        plan.contains("encryption required ca contoso-root-ca.pem"),
        "{plan}"
    );
}
