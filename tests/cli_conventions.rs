//! Conventions of the command line: shell completions generated from the binary's own flags;
//! every `--json` output has a committed schema generated from its types, and what it prints
//! conforms to it.

use crate::common::{runledger, text};

/// Completes `runledger WORDS` in a real bash with the script `runledger completions bash`
/// prints, returning what bash would offer.
fn bash_offers(words: &[&str]) -> Vec<String> {
    let out = runledger().args(["completions", "bash"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let script = String::from_utf8(out.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runledger.bash");
    std::fs::write(&path, script).unwrap();
    let all: Vec<String> = std::iter::once("runledger")
        .chain(words.iter().copied())
        .map(|w| format!("'{w}'"))
        .collect();
    let probe = format!(
        "source {}; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; _runledger runledger \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display(),
        all.join(" "),
        words.len()
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &probe])
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_subcommands_and_their_flags() {
    let offered = bash_offers(&["re"]);
    for sub in ["resume", "report"] {
        assert!(offered.iter().any(|o| o == sub), "{sub} in {offered:?}");
    }
    assert!(!offered.iter().any(|o| o == "drill"), "{offered:?}");
    let flags = bash_offers(&["report", "--m"]);
    assert_eq!(flags, ["--md"], "report's flags starting --m");
}

#[test]
fn every_shell_clap_knows_gets_a_script_and_an_unknown_one_is_refused() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = runledger().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}: {:?}", text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains("resume"), "{shell} completes resume");
        assert!(
            script.contains("accept-data-loss"),
            "{shell} completes resume's flags"
        );
    }
    let out = runledger().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
}

/// Writes `schemas/NAME` when `RUNLEDGER_WRITE_SCHEMAS` is set; otherwise requires the
/// committed file to be exactly `schema`, pretty-printed with a final newline.
fn committed_schema_matches(name: &str, schema: &serde_json::Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas")
        .join(name);
    let mut text = serde_json::to_string_pretty(schema).unwrap();
    text.push('\n');
    if std::env::var_os("RUNLEDGER_WRITE_SCHEMAS").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "schemas/{name} drifted from the Rust types; regenerate with RUNLEDGER_WRITE_SCHEMAS=1 cargo test -p runledger-cli --test e2e -- cli_conventions"
    );
}

/// Every key of `value` is a property its schema declares, and every property the schema
/// requires is there, recursively through objects and arrays of objects (`$ref`s resolved
/// in `$defs`).
fn conforms(
    value: &serde_json::Value,
    schema: &serde_json::Value,
    root: &serde_json::Value,
    at: &str,
) {
    let schema = match schema.get("$ref").and_then(|r| r.as_str()) {
        Some(r) => &root["$defs"][r.trim_start_matches("#/$defs/")],
        None => schema,
    };
    match value {
        serde_json::Value::Object(map) => {
            let Some(props) = schema.get("properties").and_then(|p| p.as_object()) else {
                return;
            };
            for (k, v) in map {
                let sub = props
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}.{k} is printed but not in the schema"));
                conforms(v, sub, root, &format!("{at}.{k}"));
            }
            for req in schema["required"].as_array().into_iter().flatten() {
                let req = req.as_str().unwrap();
                assert!(
                    map.contains_key(req),
                    "{at}.{req} is required but not printed"
                );
            }
        }
        serde_json::Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    conforms(v, item, root, &format!("{at}[{i}]"));
                }
            }
        }
        _ => {}
    }
}

#[test]
fn sim_status_json_has_a_committed_schema_it_conforms_to() {
    let schema = runledger_sim::status::schema();
    committed_schema_matches("sim-status.schema.json", &schema);
    let dir = tempfile::tempdir().unwrap();
    let init = runledger()
        .args(["sim", "init"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(init.status.code(), Some(0), "{:?}", text(&init));
    let out = runledger()
        .args(["sim", "status", "--json"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(printed.get("history").is_some(), "the history key stays");
    conforms(&printed, &schema, &schema, "$");
}

#[test]
fn status_json_has_a_committed_schema_it_conforms_to() {
    let schema = runledger_engine::standing::schema();
    committed_schema_matches("status.schema.json", &schema);
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/golden");
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(&golden).unwrap() {
        let journal = entry.unwrap().path().join("journal.db");
        if !journal.exists() {
            continue;
        }
        let out = runledger()
            .args(["status", "--json", "--journal"])
            .arg(&journal)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
        let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(printed["format"], "runledger-status/v1");
        conforms(&printed, &schema, &schema, "$");
        kinds.push(printed["state"]["kind"].as_str().unwrap_or("").to_string());
    }
    assert!(kinds.len() >= 4, "golden journals read: {kinds:?}");
    // A journal that is not there is an error, not a standing.
    let dir = tempfile::tempdir().unwrap();
    let out = runledger()
        .args(["status", "--json", "--journal"])
        .arg(dir.path().join("none.db"))
        .output()
        .unwrap();
    assert_ne!(
        out.status.code(),
        Some(0),
        "a missing journal is an error, not a status"
    );
}
