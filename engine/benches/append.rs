//! Micro-benchmark of one durable journal append (encode, hash, sign, one SQLite row committed
//! in WAL mode with `synchronous=FULL`), on the disk holding the system's temp folder.
//!
//! `cargo bench -p runledger-engine --bench append`. Not run by `cargo test` (only compiled by
//! `--all-targets`); `scripts/bench` holds it against a bare `write` + `fdatasync`.

use criterion::{criterion_group, criterion_main, Criterion};

use runledger_engine::clock::SteppingClock;
use runledger_engine::journal::Journal;
use runledger_verifier::event::{Body, Observation};
use runledger_verifier::keys::PrivateKey;

fn append(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = PrivateKey {
        name: "bench".into(),
        key: ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]),
    };
    let clock = SteppingClock::new(1_768_446_000_000_000, 1000);
    let mut journal = Journal::create_with_clock(
        &dir.path().join("journal.db"),
        key,
        "bench",
        Box::new(clock),
    )
    .expect("journal");
    let mut g = c.benchmark_group("journal");
    g.sample_size(20);
    g.bench_function("durable_append", |b| {
        b.iter(|| {
            journal
                .append(
                    None,
                    Body::Observation(Observation {
                        step: None,
                        name: "bench".into(),
                        source: "criterion".into(),
                        data: serde_json::json!({"files": 3}),
                    }),
                )
                .expect("append")
        })
    });
    g.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
