//! Micro-benchmarks of the journal format's per-event work: canonical encoding and decoding,
//! the leaf hash, signing, strict verification and the Merkle frontier.
//!
//! `cargo bench -p runledger-verifier --bench format`. Not run by `cargo test` (only compiled
//! by `--all-targets`); whole-process comparisons are in `scripts/bench`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

use runledger_verifier::event::*;
use runledger_verifier::merkle::{self, Frontier};
use runledger_verifier::signing::{self, sha256_hex};

/// A `step.intent` as the engine writes one per restored log file: a typical event.
fn intent_event() -> Event {
    let name = "restore/mgc_20240304024500.trn".to_string();
    Event {
        journal: "5f0d3c2b-1a00-4e8a-9c39-0b5e1f6c2a7d".into(),
        seq: 4242,
        prev: sha256_hex(b"prev"),
        at: "2026-01-15T03:40:00.123456Z".into(),
        run: Some("run-7".into()),
        key: sha256_hex(b"key"),
        body: Body::StepIntent(StepIntent {
            step: name.clone(),
            attempt: 1,
            action: "restore_logs".into(),
            effect: Effect::Guarded,
            command: format!(
                "RESTORE LOG [mgc] FROM DISK = N'D:\\mgc-copy\\{name}' WITH NORECOVERY"
            ),
            target: "backup".into(),
            inputs: vec![FileRef {
                path: format!("D:\\mgc-copy\\{name}"),
                size: 1_048_576,
                sha256: sha256_hex(name.as_bytes()),
            }],
        }),
    }
}

fn canonical(c: &mut Criterion) {
    let event = intent_event();
    let bytes = event.to_canonical_bytes().expect("encodes");
    let mut g = c.benchmark_group("canonical");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("encode", |b| {
        b.iter(|| black_box(&event).to_canonical_bytes().expect("encodes"))
    });
    g.bench_function("check_and_decode", |b| {
        b.iter(|| Event::from_canonical_bytes(black_box(&bytes)).expect("decodes"))
    });
    g.finish();
}

fn hashing(c: &mut Criterion) {
    let bytes = intent_event().to_canonical_bytes().expect("encodes");
    let mut g = c.benchmark_group("hash");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("leaf_hash", |b| {
        b.iter(|| signing::event_leaf_hash(black_box(&bytes)))
    });
    g.finish();
}

fn signatures(c: &mut Criterion) {
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let public = key.verifying_key();
    let leaf = signing::event_leaf_hash(&intent_event().to_canonical_bytes().expect("encodes"));
    let sig = signing::sign_leaf(&key, &leaf).to_bytes();
    let mut g = c.benchmark_group("ed25519");
    g.bench_function("sign", |b| {
        b.iter(|| signing::sign_leaf(&key, black_box(&leaf)))
    });
    g.bench_function("verify_strict", |b| {
        b.iter(|| signing::verify_leaf(&public, black_box(&leaf), black_box(&sig)).expect("valid"))
    });
    g.finish();
}

fn merkle_frontier(c: &mut Criterion) {
    let leaves: Vec<_> = (0u32..1024)
        .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
        .collect();
    let mut g = c.benchmark_group("merkle");
    g.throughput(Throughput::Elements(leaves.len() as u64));
    g.bench_function("frontier_push_1024", |b| {
        b.iter(|| {
            let mut f = Frontier::new();
            for leaf in &leaves {
                f.push(*leaf);
            }
            f
        })
    });
    let mut big = Frontier::new();
    for i in 0u32..1_000_000 {
        big.push(merkle::leaf_hash(&i.to_be_bytes()));
    }
    g.throughput(Throughput::Elements(1));
    g.bench_function("root_of_1m", |b| b.iter(|| black_box(&big).root()));
    g.finish();
}

criterion_group!(benches, canonical, hashing, signatures, merkle_frontier);
criterion_main!(benches);
