//! The committed journal fixtures: how they are made, and the promise that they pin the format.
//!
//! `fixtures/journals/<area>_<defect>/` each hold a journal (SQLite `journal.db`, JSONL
//! `journal.jsonl`, or both), `trusted.keys`, sometimes checkpoints and backups, and `EXPECT`,
//! which states the verdict, the first failing seq and the check that names it.
//!
//! Regenerate them (only when the format changes on purpose, with docs/journal-format.md):
//! `RUNLEDGER_WRITE_FIXTURES=1 cargo test --workspace --test e2e fixture_journals::`
//! Without that variable, the test regenerates into a temporary directory and requires the
//! text files (JSONL, checkpoints, EXPECT, keys) to equal the committed ones byte for byte.

use std::path::{Path, PathBuf};

use runledger_engine::clock::SteppingClock;
use runledger_engine::Journal;
use runledger_verifier::checkpoint::Checkpoint;
use runledger_verifier::event::*;
use runledger_verifier::keys::{trusted_key_line, PrivateKey};
use runledger_verifier::merkle;
use runledger_verifier::plan_check::{Piece, PlanData, PlanStep, PLAN_OBSERVATION};
use runledger_verifier::signing::{self, hex, sha256_hex};
use runledger_verifier::source::{
    self, Format, SQLITE_APPLICATION_ID, SQLITE_SCHEMA, SQLITE_USER_VERSION,
};

/// 2026-01-15T03:00:00Z, in unix microseconds.
const START_US: i64 = 1_768_446_000_000_000;
const JOURNAL_ID: &str = "0b5e1f6c-2a7d-4c39-9e8a-5f0d3c2b1a00";
const RUN_ID: &str = "7d3c9a10-4b2e-4f61-8c55-0e9b2d7a4f11";

/// The fixtures' signing key: a fixed seed, named test-only so it is never mistaken for a real one.
pub fn test_key() -> PrivateKey {
    PrivateKey {
        name: "test-only-operator".into(),
        key: ed25519_dalek::SigningKey::from_bytes(&seed(
            "runledger fixtures: test-only operator key",
        )),
    }
}

/// A key nobody trusts: the forger's.
pub fn untrusted_key() -> PrivateKey {
    PrivateKey {
        name: "test-only-forger".into(),
        key: ed25519_dalek::SigningKey::from_bytes(&seed(
            "runledger fixtures: test-only forger key",
        )),
    }
}

/// A second key the auditor trusts (another operator's): trusted, yet not the key that
/// started the run.
pub fn second_operator_key() -> PrivateKey {
    PrivateKey {
        name: "test-only-second-operator".into(),
        key: ed25519_dalek::SigningKey::from_bytes(&seed(
            "runledger fixtures: test-only second operator key",
        )),
    }
}

fn seed(label: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(label.as_bytes()).into()
}

const RUNBOOK: &str = r#"# fixture runbook: the shape of the Persistent Chat failover, cut short
name = "fixture-failover"
version = "1"

[[steps]]
id = "preflight"
title = "Confirm the backup instance"
action = "check"

[[steps]]
id = "copy"
title = "Copy the backup files not yet copied"
action = "copy_backups"

[[steps]]
id = "restore"
title = "Apply the remaining logs in LSN order"
action = "restore_logs"

[[steps]]
id = "recover"
title = "Recover mgc"
action = "recover_database"
"#;

/// The backup files the fixture run names: (file name, content).
pub fn backup_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "mgc_20260115025500.trn",
            b"TRN fixture log backup 1: LSN 41000000012300001 - 41000000012800001\n".to_vec(),
        ),
        (
            "mgc_20260115030000.trn",
            b"TRN fixture log backup 2: LSN 41000000012800001 - 41000000013300001\n".to_vec(),
        ),
    ]
}

fn file_ref(name: &str, content: &[u8]) -> FileRef {
    FileRef {
        path: format!("\\\\pri-fs\\mgc-logs\\{name}"),
        size: content.len() as u64,
        sha256: sha256_hex(content),
    }
}

/// The plan the fixture run records: the texts its intents execute, the file a field.
fn fixture_plan() -> PlanData {
    let step = |id: &str, action: &str, template: Vec<Piece>, fields: &[&str]| PlanStep {
        step: id.into(),
        action: action.into(),
        templates: vec![template],
        placeholders: fields.iter().map(|f| f.to_string()).collect(),
    };
    PlanData::of(vec![
        step(
            "preflight",
            "check",
            vec![Piece::text("SELECT @@SERVERNAME")],
            &[],
        ),
        step(
            "copy",
            "copy_backups",
            vec![
                Piece::text("copy \\\\pri-fs\\mgc-logs\\"),
                Piece::field("file"),
                Piece::text(" -> D:\\mgc-copy\\"),
                Piece::field("file"),
            ],
            &["file"],
        ),
        step(
            "restore",
            "restore_logs",
            vec![
                Piece::text("RESTORE LOG [mgc] FROM DISK = N'D:\\mgc-copy\\"),
                Piece::field("file"),
                Piece::text("' WITH NORECOVERY"),
            ],
            &["file"],
        ),
        step(
            "recover",
            "recover_database",
            vec![Piece::text("RESTORE DATABASE [mgc] WITH RECOVERY")],
            &[],
        ),
    ])
}

/// Writes the run of the valid fixtures through the real journal writer, stopping after
/// `stop_after` events when given (an open journal).
fn write_run(path: &Path, stop_after: Option<u64>) -> Journal {
    let clock = Box::new(SteppingClock::new(START_US, 1_500_000));
    let mut j = Journal::create_with_id(
        path,
        test_key(),
        "runledger 0.1.0",
        clock,
        JOURNAL_ID.into(),
    )
    .expect("create fixture journal");
    let files = backup_files();
    let refs: Vec<FileRef> = files.iter().map(|(n, c)| file_ref(n, c)).collect();
    let run = Some(RUN_ID);
    let mut bodies = vec![
        Body::RunStarted(Box::new(RunStarted {
            run_id: RUN_ID.into(),
            runbook: RunbookSource {
                name: "fixture-failover".into(),
                version: "1".into(),
                sha256: sha256_hex(RUNBOOK.as_bytes()),
                source: RUNBOOK.into(),
            },
            parameters: [("database".to_string(), "mgc".to_string())].into(),
            operator: Operator {
                user: "ops".into(),
                host: "dr-laptop".into(),
            },
            targets: vec![Target {
                name: "backup".into(),
                kind: "sql".into(),
                endpoint: "127.0.0.1:14330".into(),
                settings: [("auth".to_string(), "sql".to_string())].into(),
            }],
        })),
        Body::Observation(Observation {
            step: None,
            name: PLAN_OBSERVATION.into(),
            source: "the plan of runbook fixture-failover version 1".into(),
            data: serde_json::to_value(fixture_plan()).expect("a plan is JSON"),
        }),
        Body::Observation(Observation {
            step: Some("copy".into()),
            name: "share_listing".into(),
            source: "\\\\pri-fs\\mgc-logs".into(),
            data: serde_json::json!({"files": refs.iter().map(|r| serde_json::json!({"path": r.path, "size": r.size, "sha256": r.sha256})).collect::<Vec<_>>()}),
        }),
        Body::StepIntent(StepIntent {
            step: "preflight".into(),
            attempt: 1,
            action: "check".into(),
            effect: Effect::ReadOnly,
            command: "SELECT @@SERVERNAME".into(),
            target: "backup".into(),
            inputs: vec![],
        }),
        Body::StepOutcome(StepOutcome {
            step: "preflight".into(),
            attempt: 1,
            status: OutcomeStatus::Succeeded,
            result: serde_json::json!({"rows": [["BAK\\PCHAT"]]}),
            duration_us: 4210,
        }),
    ];
    for (i, r) in refs.iter().enumerate() {
        let name = files[i].0;
        bodies.push(Body::StepIntent(StepIntent {
            step: format!("copy/{name}"),
            attempt: 1,
            action: "copy_backups".into(),
            effect: Effect::Idempotent,
            command: format!("copy {} -> D:\\mgc-copy\\{name}", r.path),
            target: "files".into(),
            inputs: vec![r.clone()],
        }));
        bodies.push(Body::StepOutcome(StepOutcome {
            step: format!("copy/{name}"),
            attempt: 1,
            status: OutcomeStatus::Succeeded,
            result: serde_json::json!({"size": r.size, "sha256": r.sha256}),
            duration_us: 120_000 + i as u64,
        }));
    }
    // The restore of the first file is in flight when the engine "crashes".
    let restore_unit = format!("restore/{}", files[0].0);
    bodies.push(Body::StepIntent(StepIntent {
        step: restore_unit.clone(),
        attempt: 1,
        action: "restore_logs".into(),
        effect: Effect::Guarded,
        command: format!(
            "RESTORE LOG [mgc] FROM DISK = N'D:\\mgc-copy\\{}' WITH NORECOVERY",
            files[0].0
        ),
        target: "backup".into(),
        inputs: vec![refs[0].clone()],
    }));
    let mut appended = Vec::new();
    for body in bodies {
        appended.push(j.append(run, body).expect("append"));
        if stop_after.is_some_and(|n| j.len() >= n) {
            return j;
        }
    }
    let in_flight_seq = appended.last().expect("events").seq;
    j.append(
        run,
        Body::RunResumed(RunResumed {
            reason: "engine process ended without an outcome for the restore".into(),
            in_doubt: vec![InDoubt {
                step: restore_unit.clone(),
                attempt: 1,
                intent_seq: in_flight_seq,
            }],
        }),
    )
    .expect("append");
    j.append(
        run,
        Body::StepReconciled(StepReconciled {
            step: restore_unit,
            attempt: 1,
            probe: "SELECT redo_start_lsn FROM sys.master_files WHERE database_id = DB_ID(N'mgc') AND type = 0".into(),
            probe_result: serde_json::json!({"redo_start_lsn": "41000000012800001"}),
            verdict: ReconcileVerdict::Applied,
        }),
    )
    .expect("append");
    let intent = j
        .append(
            run,
            Body::StepIntent(StepIntent {
                step: "recover".into(),
                attempt: 1,
                action: "recover_database".into(),
                effect: Effect::Irreversible,
                command: "RESTORE DATABASE [mgc] WITH RECOVERY".into(),
                target: "backup".into(),
                inputs: vec![],
            }),
        )
        .expect("append");
    j.append(
        run,
        Body::Approval(Approval {
            step: "recover".into(),
            operator: "ops@dr-laptop".into(),
            decision: Decision::Approved,
            text: "recover mgc: no further log can be applied after this".into(),
            intent: Some(IntentRef {
                seq: intent.seq,
                leaf_hash: hex(&intent.leaf_hash),
            }),
        }),
    )
    .expect("append");
    j.append(
        run,
        Body::StepOutcome(StepOutcome {
            step: "recover".into(),
            attempt: 1,
            status: OutcomeStatus::Succeeded,
            result: serde_json::json!({"messages": [{"number": 3014, "text": "RESTORE DATABASE successfully processed 0 pages"}]}),
            duration_us: 2_400_000,
        }),
    )
    .expect("append");
    let sealed = j.seal();
    j.append(
        run,
        Body::RunFinished(RunFinished {
            status: RunStatus::Succeeded,
            summary: "4 steps, 2 files copied, 1 log restored, database recovered".into(),
            sealed,
        }),
    )
    .expect("append");
    j
}

/// A stored event: canonical bytes and signature.
#[derive(Clone)]
pub struct Rec {
    event: Vec<u8>,
    sig: Vec<u8>,
}

fn read_records(path: &Path) -> Vec<Rec> {
    let mut out = Vec::new();
    source::for_each_record(path, Format::Sqlite, |r| {
        out.push(Rec {
            event: r.event,
            sig: r.sig,
        });
        true
    })
    .expect("read fixture journal");
    out
}

fn parse(rec: &Rec) -> Event {
    Event::from_canonical_bytes(&rec.event).expect("fixture event parses")
}

/// Every event of a SQLite journal, parsed: what a key holder rewriting it starts from.
pub fn journal_events(path: &Path) -> Vec<Event> {
    read_records(path).iter().map(parse).collect()
}

fn sign(event: &Event, key: &PrivateKey) -> Rec {
    let bytes = event.to_canonical_bytes().expect("encode");
    let sig = signing::sign_leaf(&key.key, &signing::event_leaf_hash(&bytes))
        .to_bytes()
        .to_vec();
    Rec { event: bytes, sig }
}

/// Re-chains and re-signs every event as a key holder rewriting history would: seq, prev,
/// key and seals all made consistent again.
pub fn rewrite(events: Vec<Event>, key: &PrivateKey) -> Vec<Rec> {
    rewrite_signed_by(events, |_| key)
}

/// [`rewrite`] with the key of each event chosen by its new seq.
fn rewrite_signed_by<'k>(events: Vec<Event>, key_of: impl Fn(u64) -> &'k PrivateKey) -> Vec<Rec> {
    let mut frontier = merkle::Frontier::new();
    let mut prev = ZERO_HASH_HEX.to_string();
    let mut out = Vec::new();
    // Seqs move when events are dropped: references to intents follow them.
    let mut new_seq = std::collections::HashMap::new();
    let mut leaves: Vec<String> = Vec::new();
    for (i, mut e) in events.into_iter().enumerate() {
        new_seq.insert(e.seq, i as u64);
        e.seq = i as u64;
        if let Body::Approval(Approval {
            intent: Some(r), ..
        }) = &mut e.body
        {
            r.seq = new_seq[&r.seq];
            r.leaf_hash = leaves[r.seq as usize].clone();
        }
        if let Body::RunResumed(r) = &mut e.body {
            for d in &mut r.in_doubt {
                d.intent_seq = new_seq[&d.intent_seq];
            }
        }
        let key = key_of(e.seq);
        e.prev = prev.clone();
        e.key = signing::key_id(&key.key.verifying_key());
        if let Body::JournalOpened(o) = &mut e.body {
            use base64::Engine as _;
            o.public_key = base64::engine::general_purpose::STANDARD
                .encode(key.key.verifying_key().as_bytes());
        }
        if let Body::RunFinished(f) = &mut e.body {
            f.sealed = Seal {
                size: frontier.size(),
                root: hex(&frontier.root()),
            };
        }
        let rec = sign(&e, key);
        let leaf = signing::event_leaf_hash(&rec.event);
        frontier.push(leaf);
        prev = hex(&leaf);
        leaves.push(prev.clone());
        out.push(rec);
    }
    out
}

fn write_jsonl(path: &Path, recs: &[Rec]) {
    let mut text = Vec::new();
    for r in recs {
        text.extend_from_slice(&source::jsonl_line(&r.event, &r.sig));
    }
    std::fs::write(path, text).expect("write jsonl");
}

/// Writes records into a fresh journal database as stored rows, keyed by position.
pub fn write_sqlite(path: &Path, recs: &[Rec]) {
    let _ = std::fs::remove_file(path);
    let conn = rusqlite::Connection::open(path).expect("open sqlite");
    conn.execute_batch(&format!(
        "PRAGMA application_id = {SQLITE_APPLICATION_ID}; PRAGMA user_version = {SQLITE_USER_VERSION}; {SQLITE_SCHEMA}"
    ))
    .expect("schema");
    for (i, r) in recs.iter().enumerate() {
        conn.execute(
            "INSERT INTO events (seq, event, leaf_hash, sig) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![
                i as i64,
                r.event,
                signing::event_leaf_hash(&r.event).as_slice(),
                r.sig
            ],
        )
        .expect("insert");
    }
}

fn checkpoint_of(recs: &[Rec], key: &PrivateKey) -> String {
    let leaves: Vec<_> = recs
        .iter()
        .map(|r| signing::event_leaf_hash(&r.event))
        .collect();
    let id = parse(&recs[0]).journal;
    Checkpoint {
        origin: format!("runledger/{id}"),
        size: leaves.len() as u64,
        root: merkle::root_from_leaves(&leaves),
        extensions: vec![],
    }
    .sign(&key.name, &key.key)
    .expect("sign checkpoint")
}

/// One fixture to write.
struct Fixture {
    name: &'static str,
    recs: Vec<Rec>,
    /// Forms to write: SQLite, JSONL.
    sqlite: bool,
    jsonl: bool,
    checkpoints: Vec<(&'static str, String)>,
    backups: Option<Vec<(&'static str, Vec<u8>)>>,
    /// Keys trusted besides the operator's.
    also_trusted: Vec<PrivateKey>,
    expect: &'static str,
}

impl Fixture {
    fn both(name: &'static str, recs: Vec<Rec>, expect: &'static str) -> Fixture {
        Fixture {
            name,
            recs,
            sqlite: true,
            jsonl: true,
            checkpoints: vec![],
            backups: None,
            also_trusted: vec![],
            expect,
        }
    }
}

/// Builds every fixture into `root` (one directory each).
pub fn generate(root: &Path) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let sealed_db = scratch.path().join("sealed.db");
    drop(write_run(&sealed_db, None));
    let open_db = scratch.path().join("open.db");
    drop(write_run(&open_db, Some(11)));
    let valid = read_records(&sealed_db);
    let open = read_records(&open_db);
    let key = test_key();
    let forger = untrusted_key();
    let events: Vec<Event> = valid.iter().map(parse).collect();

    let mut fixtures = Vec::new();
    let mut sealed = Fixture::both("valid_sealed", valid.clone(), "valid_sealed");
    sealed.backups = Some(backup_files());
    fixtures.push(sealed);
    let mut anchored = Fixture::both("valid_anchored", valid.clone(), "valid_anchored");
    anchored.checkpoints = vec![("checkpoint.txt", checkpoint_of(&valid, &key))];
    fixtures.push(anchored);
    fixtures.push(Fixture::both("valid_open", open.clone(), "valid_open"));

    // A changed byte inside a body: 'D:' -> 'E:' in the copy command of seq 6.
    let mut recs = valid.clone();
    let pos = find(&recs[6].event, b"D:\\\\mgc-copy");
    recs[6].event[pos] = b'E';
    fixtures.push(Fixture::both(
        "body_changed_byte",
        recs,
        "invalid 6 signatures",
    ));

    let mut recs = valid.clone();
    let pos = find(&recs[6].event, b"\"at\":\"2026-01-15T03:00:0") + 24;
    recs[6].event[pos] = recs[6].event[pos] + 1 - if recs[6].event[pos] == b'9' { 10 } else { 0 };
    fixtures.push(Fixture::both(
        "timestamp_changed",
        recs,
        "invalid 6 signatures",
    ));

    let mut recs = valid.clone();
    recs.remove(6);
    fixtures.push(Fixture::both(
        "chain_event_deleted",
        recs,
        "invalid 6 sequence",
    ));

    let mut recs = valid.clone();
    recs.swap(6, 7);
    fixtures.push(Fixture::both(
        "chain_events_swapped",
        recs,
        "invalid 6 sequence",
    ));

    let mut recs = valid.clone();
    recs.insert(7, recs[6].clone());
    fixtures.push(Fixture::both(
        "seq_event_duplicated",
        recs,
        "invalid 7 sequence",
    ));

    let mut recs = valid.clone();
    recs[7].sig = recs[6].sig.clone();
    fixtures.push(Fixture::both(
        "sig_copied_from_other_event",
        recs,
        "invalid 7 signatures",
    ));

    // The key holder changes the journal id of seq 5 and signs it again.
    let mut recs = valid.clone();
    let mut e = events[5].clone();
    e.journal = "0b5e1f6c-2a7d-4c39-9e8a-5f0d3c2b1aff".into();
    recs[5] = sign(&e, &key);
    fixtures.push(Fixture::both(
        "journal_id_changed",
        recs,
        "invalid 5 journal_id",
    ));

    // An event removed and the later ones renumbered, without the key.
    let mut recs = valid.clone();
    recs.remove(6);
    for r in recs.iter_mut().skip(6) {
        let e = parse(r);
        let from = format!("\"seq\":{}", e.seq);
        let to = format!("\"seq\":{}", e.seq - 1);
        let pos = find(&r.event, from.as_bytes());
        r.event.splice(pos..pos + from.len(), to.bytes());
    }
    fixtures.push(Fixture::both(
        "seq_renumbered_after_deletion",
        recs,
        "invalid 6 signatures",
    ));

    // The whole chain rebuilt and signed by a key the auditor does not trust.
    fixtures.push(Fixture::both(
        "key_untrusted_resign",
        rewrite(events.clone(), &forger),
        "invalid 0 signatures",
    ));

    // A forged event inserted at seq 7, correctly chained, signed by the forger.
    let mut recs = valid.clone();
    let mut e = events[6].clone();
    e.seq = 7;
    e.prev = hex(&signing::event_leaf_hash(&recs[6].event));
    e.key = signing::key_id(&forger.key.verifying_key());
    recs.insert(7, sign(&e, &forger));
    fixtures.push(Fixture::both(
        "chain_forged_insertion",
        recs,
        "invalid 7 signatures",
    ));

    // The tail cut off after an auditor received a checkpoint of the whole journal.
    let mut truncated = Fixture::both(
        "checkpoint_tail_truncated",
        valid[..11].to_vec(),
        "invalid 11 checkpoints",
    );
    truncated.checkpoints = vec![("checkpoint.txt", checkpoint_of(&valid, &key))];
    fixtures.push(truncated);

    // The key holder rewrites the preflight's result (seq 5) and re-signs everything; only the
    // earlier checkpoint (of 9) catches it.
    let mut forged = events.clone();
    if let Body::StepOutcome(o) = &mut forged[5].body {
        o.result = serde_json::json!({"rows": [["PRI\\PCHAT"]]});
    }
    // A checkpoint's root does not say which event differs: against the one checkpoint, the
    // first seq that may differ is 0.
    let forged = rewrite(forged, &key);
    let mut rewritten = Fixture::both(
        "checkpoint_key_holder_rewrite",
        forged.clone(),
        "invalid 0 checkpoints",
    );
    rewritten.checkpoints = vec![("checkpoint-at-9.txt", checkpoint_of(&valid[..9], &key))];
    fixtures.push(rewritten);

    // The same rewrite against checkpoints a run keeps (one per event): the last one the
    // journal holds and the first it does not pin the first seq that differs.
    let mut pinned = Fixture::both(
        "checkpoint_history_rewrite",
        forged,
        "invalid 5 checkpoints",
    );
    pinned.checkpoints = vec![
        ("checkpoint-at-5.txt", checkpoint_of(&valid[..5], &key)),
        ("checkpoint-at-6.txt", checkpoint_of(&valid[..6], &key)),
        ("checkpoint-at-9.txt", checkpoint_of(&valid[..9], &key)),
    ];
    fixtures.push(pinned);

    // The key holder seals with a wrong root.
    let mut resealed = events.clone();
    let mut recs = rewrite(resealed.clone(), &key);
    if let Some(Body::RunFinished(f)) = resealed.last_mut().map(|e| &mut e.body) {
        f.sealed.root = hex(&[0x5a; 32]);
    }
    let last = resealed.len() - 1;
    let mut e = resealed[last].clone();
    e.prev = hex(&signing::event_leaf_hash(&recs[last - 1].event));
    recs[last] = sign(&e, &key);
    fixtures.push(Fixture::both("seal_wrong_root", recs, "invalid 16 seal"));

    // The key holder drops an outcome and writes run.finished anyway.
    let mut dropped = events.clone();
    dropped.remove(7);
    fixtures.push(Fixture::both(
        "pairing_intent_without_outcome",
        rewrite(dropped, &key),
        "invalid 10 intent_pairing",
    ));

    // The key holder backdates an event.
    let mut backdated = events.clone();
    backdated[8].at = "2026-01-15T02:59:59.000000Z".into();
    fixtures.push(Fixture::both(
        "timestamps_backwards",
        rewrite(backdated, &key),
        "invalid 8 timestamps",
    ));

    // A backup file changed after the run recorded it.
    let mut changed = Fixture::both(
        "backups_file_changed",
        valid.clone(),
        "invalid 8 backup_files",
    );
    let mut files = backup_files();
    files[1].1[0] = b'X';
    changed.backups = Some(files);
    fixtures.push(changed);

    fixtures.extend(insider_edits(&events, &key));

    // Random bytes where a journal should be.
    let mut noise = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.push(x as u8);
    }
    noise[0] = b'{';
    let random = Fixture {
        name: "file_random_bytes",
        recs: vec![],
        sqlite: false,
        jsonl: false,
        checkpoints: vec![],
        backups: None,
        also_trusted: vec![],
        expect: "invalid 0 canonical_form",
    };
    fixtures.push(random);

    for f in &fixtures {
        let dir = root.join(f.name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        if f.sqlite {
            write_sqlite(&dir.join("journal.db"), &f.recs);
        }
        if f.jsonl {
            write_jsonl(&dir.join("journal.jsonl"), &f.recs);
        }
        if f.name == "file_random_bytes" {
            std::fs::write(dir.join("journal.jsonl"), &noise).expect("write");
        }
        let mut trusted = format!(
            "# test-only key: never trust it outside these fixtures\n{}\n",
            trusted_key_line(&key.name, &key.key.verifying_key())
        );
        for k in &f.also_trusted {
            trusted.push_str(&format!(
                "{}\n",
                trusted_key_line(&k.name, &k.key.verifying_key())
            ));
        }
        std::fs::write(dir.join("trusted.keys"), trusted).expect("write keys");
        for (name, text) in &f.checkpoints {
            std::fs::write(dir.join(name), text).expect("write checkpoint");
        }
        if let Some(files) = &f.backups {
            let b = dir.join("backups");
            std::fs::create_dir_all(&b).expect("mkdir");
            for (name, content) in files {
                std::fs::write(b.join(name), content).expect("write backup");
            }
        }
        std::fs::write(dir.join("EXPECT"), format!("expect: {}\n", f.expect))
            .expect("write expect");
    }

    // Two SQLite-only defects: rows edited or deleted after the triggers were dropped.
    for (name, sql, expect) in [
        (
            "sqlite_row_edited",
            "DROP TRIGGER events_no_update; UPDATE events SET event = CAST(replace(CAST(event AS TEXT), 'D:', 'E:') AS BLOB) WHERE seq = 6;",
            "invalid 6 stored_hash",
        ),
        (
            "sqlite_row_deleted",
            "DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq = 6;",
            "invalid 6 sequence",
        ),
    ] {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let db = dir.join("journal.db");
        write_sqlite(&db, &valid);
        rusqlite::Connection::open(&db).expect("open").execute_batch(sql).expect("tamper");
        std::fs::copy(root.join("valid_sealed/trusted.keys"), dir.join("trusted.keys")).expect("copy keys");
        std::fs::write(dir.join("EXPECT"), format!("expect: {expect}\n")).expect("write expect");
    }

    // The keys, for people who want to sign test journals of their own.
    let keys = root.parent().expect("fixtures/").join("keys");
    std::fs::create_dir_all(&keys).expect("mkdir keys");
    for k in [&key, &forger, &second_operator_key()] {
        std::fs::write(keys.join(format!("{}.key", k.name)), k.to_file_text()).expect("write key");
        std::fs::write(
            keys.join(format!("{}.key.pub", k.name)),
            format!("{}\n", trusted_key_line(&k.name, &k.key.verifying_key())),
        )
        .expect("write pub");
    }
}

/// The run's own rules broken by the key holder: each journal is edited, re-chained, re-signed
/// and re-sealed, so that only the checks of the run's procedure can catch it.
///
/// The fixture run, by seq: 0 journal.opened, 1 run.started, 2 the plan, 3 observation, 4–5
/// preflight, 6–9 two copies, 10 the restore's intent, 11 run.resumed, 12 its reconciliation,
/// 13 the recovery's intent, 14 its approval, 15 its outcome, 16 run.finished.
fn insider_edits(events: &[Event], key: &PrivateKey) -> Vec<Fixture> {
    let mut out = Vec::new();
    let edit = |f: &dyn Fn(&mut Vec<Event>)| {
        let mut e = events.to_vec();
        f(&mut e);
        rewrite(e, key)
    };

    // The approval of the recovery removed: the recovery ran unapproved.
    out.push(Fixture::both(
        "semantic_approval_removed",
        edit(&|e| {
            e.remove(14);
        }),
        "invalid 13 approvals",
    ));

    // The approval turned into a refusal, and the recovery ran anyway.
    out.push(Fixture::both(
        "semantic_approval_declined",
        edit(&|e| {
            if let Body::Approval(a) = &mut e[14].body {
                a.decision = Decision::Declined;
            }
        }),
        "invalid 13 approvals",
    ));

    // The recovery step removed from the record of a run that says it succeeded.
    out.push(Fixture::both(
        "semantic_step_removed",
        edit(&|e| {
            e.drain(13..16);
        }),
        "invalid 13 recovery",
    ));

    // The preflight check failed, and the copies started anyway.
    out.push(Fixture::both(
        "semantic_started_after_failure",
        edit(&|e| {
            if let Body::StepOutcome(o) = &mut e[5].body {
                o.status = OutcomeStatus::Failed;
            }
        }),
        "invalid 6 step_failures",
    ));

    // The recovery failed, and the run says it succeeded.
    out.push(Fixture::both(
        "semantic_succeeded_after_failure",
        edit(&|e| {
            if let Body::StepOutcome(o) = &mut e[15].body {
                o.status = OutcomeStatus::Failed;
            }
        }),
        "invalid 16 run_status",
    ));

    // WITH RECOVERY a second time: another attempt of the recovery, approved, after the first
    // succeeded.
    out.push(Fixture::both(
        "semantic_recovered_twice",
        edit(&|e| {
            let mut again: Vec<Event> = e[13..16].to_vec();
            let at = e[15].at.clone();
            for (i, x) in again.iter_mut().enumerate() {
                x.seq = 1000 + i as u64;
                x.at = at.clone();
                match &mut x.body {
                    Body::StepIntent(b) => b.attempt = 2,
                    Body::StepOutcome(b) => b.attempt = 2,
                    Body::Approval(a) => {
                        if let Some(r) = &mut a.intent {
                            r.seq = 1000;
                        }
                    }
                    _ => {}
                }
            }
            e.splice(16..16, again);
        }),
        "invalid 16 recovery",
    ));

    // Two logs restored in the wrong order: the later one first, then the one it follows.
    out.push(Fixture::both(
        "semantic_restore_out_of_order",
        edit(&|e| {
            let names: Vec<String> = backup_files().iter().map(|(n, _)| n.to_string()).collect();
            let template = e[10].clone();
            let headers = Event {
                body: Body::Observation(Observation {
                    step: Some("restore".into()),
                    name: "backup_headers".into(),
                    source: "RESTORE HEADERONLY on each file".into(),
                    data: serde_json::json!({"headers": [
                        {"file": names[0], "first_lsn": "41000000012800001", "last_lsn": "41000000015200001", "backup_type": 2},
                        {"file": names[1], "first_lsn": "41000000015200001", "last_lsn": "41000000019000001", "backup_type": 2},
                    ], "unreadable": []}),
                }),
                seq: 2000,
                ..template.clone()
            };
            let mut restores = vec![headers];
            for (i, name) in [&names[1], &names[0]].into_iter().enumerate() {
                let unit = format!("restore/{name}");
                let Body::StepIntent(mut intent) = template.body.clone() else {
                    unreachable!("seq 10 is the restore's intent")
                };
                intent.step = unit.clone();
                intent.command = format!("RESTORE LOG [mgc] FROM DISK = N'D:\\mgc-copy\\{name}' WITH NORECOVERY");
                restores.push(Event {
                    body: Body::StepIntent(intent),
                    seq: 2001 + 2 * i as u64,
                    ..template.clone()
                });
                restores.push(Event {
                    body: Body::StepOutcome(StepOutcome {
                        step: unit,
                        attempt: 1,
                        status: OutcomeStatus::Succeeded,
                        result: serde_json::json!({"messages": []}),
                        duration_us: 90_000,
                    }),
                    seq: 2002 + 2 * i as u64,
                    ..template.clone()
                });
            }
            // In place of the restore, its resume and its reconciliation.
            e.splice(10..13, restores);
        }),
        "invalid 13 restore_order",
    ));

    // A data loss found, and the run went on without the operator's decision.
    out.push(Fixture::both(
        "semantic_loss_not_decided",
        edit(&|e| {
            let mut loss = e[12].clone();
            loss.seq = 3000;
            loss.body = Body::Observation(Observation {
                step: Some("restore".into()),
                name: DATA_LOSS_OBSERVATION.into(),
                source: "what the chain of log backups reaches".into(),
                data: serde_json::json!({
                    "database": "mgc",
                    "recovery_point": {"lsn": "41000000012800001", "file": null, "backup_finish_date": null},
                    "not_applied": [{"file": "mgc_20260115030500.trn", "reason": "its header cannot be read", "error": 3241, "first_lsn": null, "last_lsn": null}],
                }),
            });
            e.insert(13, loss);
        }),
        "invalid 14 decisions",
    ));

    // The tail of the run signed by another operator's key the auditor also trusts.
    let second = second_operator_key();
    let mut two = Fixture::both(
        "semantic_second_signer",
        rewrite_signed_by(events.to_vec(), |seq| if seq >= 13 { &second } else { key }),
        "invalid 13 run_signer",
    );
    two.also_trusted = vec![second_operator_key()];
    out.push(two);

    // The preflight's text changed from the one the plan announced: another statement added.
    out.push(Fixture::both(
        "semantic_plan_text_changed",
        edit(&|e| {
            if let Body::StepIntent(i) = &mut e[4].body {
                i.command = "SELECT @@SERVERNAME; SHUTDOWN WITH NOWAIT".into();
            }
        }),
        "invalid 4 plan",
    ));
    out
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not in fixture event", String::from_utf8_lossy(needle)))
}

/// The committed fixtures directory.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/journals")
}

/// Every text file under a directory, by relative path.
fn text_files(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_none_or(|e| e != "db") {
                out.push((
                    path.strip_prefix(root).expect("prefix").to_path_buf(),
                    std::fs::read(&path).expect("read"),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn committed_fixtures_are_what_the_generator_writes() {
    if std::env::var_os("RUNLEDGER_WRITE_FIXTURES").is_some() {
        let root = fixtures_dir();
        let _ = std::fs::remove_dir_all(&root);
        generate(&root);
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("journals");
    generate(&root);
    let fresh = text_files(&root);
    let committed = text_files(&fixtures_dir());
    let names = |v: &[(PathBuf, Vec<u8>)]| v.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&committed),
        names(&fresh),
        "fixture files differ; regenerate on purpose only"
    );
    for ((path, a), (_, b)) in committed.iter().zip(&fresh) {
        assert!(
            a == b,
            "fixtures/journals/{} differs from what the generator writes",
            path.display()
        );
    }
    // The key files too.
    let keys = fixtures_dir().join("../keys");
    for k in [test_key(), untrusted_key()] {
        let committed =
            std::fs::read_to_string(keys.join(format!("{}.key", k.name))).expect("committed key");
        assert_eq!(committed, k.to_file_text());
    }
}
