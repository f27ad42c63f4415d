//! Promise: `init` writes the data center docs/drill.md describes: the
//! instances file, a share and copy destination with one LSN chain from two writers whose
//! names do not sort in LSN order, some files already copied and restored; the same seed
//! gives the same chain.

use runledger_sim::{init, InitOptions, Scenario};

#[test]
fn init_writes_one_chain_from_two_writers_and_instances_json() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let opts = InitOptions {
        logs: 10,
        seed: 7,
        scenario: Scenario::Normal,
        pace_ms: 0,
    };
    let instances = init(a.path(), &opts).unwrap();
    init(b.path(), &opts).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runledger_sim::instances_path(a.path())).unwrap())
            .unwrap();
    let entry = &json[0];
    for key in ["name", "host", "port", "user", "password"] {
        assert!(!entry[key].is_null(), "instances.json lacks {key}");
    }
    assert_eq!(entry["host"], "127.0.0.1");
    assert_eq!(runledger_sim::read_instances(a.path()).unwrap(), instances);
    assert!(matches!(
        init(a.path(), &opts),
        Err(runledger_sim::SimError::AlreadyInitialised(_))
    ));

    let sa = runledger_sim::status(a.path()).unwrap();
    let sb = runledger_sim::status(b.path()).unwrap();
    let files = &sa.files;
    assert_eq!(files.len(), 10);
    for w in files.windows(2) {
        assert_eq!(w[0].last_lsn, w[1].first_lsn, "one unbroken chain");
    }
    let writers: std::collections::BTreeSet<&str> =
        files.iter().map(|f| f.writer.as_str()).collect();
    assert_eq!(
        writers.len(),
        2,
        "the primary and its mirror both wrote logs"
    );
    let mut by_name = files.clone();
    by_name.sort_by(|x, y| x.name.cmp(&y.name));
    assert_ne!(
        by_name.iter().map(|f| &f.name).collect::<Vec<_>>(),
        files.iter().map(|f| &f.name).collect::<Vec<_>>(),
        "names do not sort in LSN order"
    );
    assert!(
        files.iter().any(|f| f.restored)
            && files.iter().any(|f| f.in_dest && !f.restored)
            && files.iter().any(|f| !f.in_dest)
    );
    assert!(files.iter().all(|f| f.in_share));
    let same: Vec<_> = sb
        .files
        .iter()
        .map(|f| (&f.name, &f.first_lsn, &f.sha256))
        .collect();
    assert_eq!(
        files
            .iter()
            .map(|f| (&f.name, &f.first_lsn, &f.sha256))
            .collect::<Vec<_>>(),
        same,
        "same seed, same files"
    );
    let restoring = &sa.instances[0].databases[0];
    assert_eq!(
        (restoring.name.as_str(), restoring.state.as_str()),
        ("mgc", "RESTORING")
    );
    let last_restored = files.iter().rfind(|f| f.restored).unwrap();
    assert_eq!(
        restoring.redo_start_lsn.as_ref(),
        Some(&last_restored.last_lsn)
    );
    assert_eq!(sa.pool.pool_state, "Normal");
    assert!(sa.history.is_empty());
}

#[test]
fn bad_options_are_refused() {
    let d = tempfile::tempdir().unwrap();
    assert!(init(
        d.path(),
        &InitOptions {
            logs: 1,
            ..InitOptions::default()
        }
    )
    .is_err());
    assert!("nonsense"
        .parse::<Scenario>()
        .unwrap_err()
        .contains("restore-job-running"));
}
