//! The committed schemas in `schemas/` are exactly what the Rust types generate.
//!
//! After a deliberate change to a type: `RUNLEDGER_WRITE_SCHEMAS=1 cargo test -p runledger-verifier --test schemas`.

use std::path::Path;

use runledger_verifier::schema;

#[test]
fn committed_schemas_match_the_types() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let write = std::env::var_os("RUNLEDGER_WRITE_SCHEMAS").is_some();
    for (name, value) in schema::all() {
        let path = root.join(name);
        let text = schema::to_file_text(&value);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("schemas/{name}: {e}; regenerate with RUNLEDGER_WRITE_SCHEMAS=1")
        });
        assert!(
            committed == text,
            "schemas/{name} drifted from the Rust types; regenerate with RUNLEDGER_WRITE_SCHEMAS=1 and review the diff"
        );
    }
}

#[test]
fn the_verify_report_schema_describes_a_real_report() {
    // An independent check that the schema is usable: every required property of the report
    // schema appears in a real report's JSON.
    let schema = schema::all()
        .into_iter()
        .find(|(n, _)| *n == "verify-report.schema.json")
        .unwrap()
        .1;
    let required = schema["required"].as_array().expect("required list");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/journals/valid_sealed");
    let trusted = runledger_verifier::TrustedKeys::load(&dir.join("trusted.keys")).unwrap();
    let report =
        runledger_verifier::verify(&dir.join("journal.db"), &trusted, &Default::default()).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    for r in required {
        assert!(json.get(r.as_str().unwrap()).is_some(), "report lacks {r}");
    }
}
