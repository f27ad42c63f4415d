//! `runledger witness serve` is a C2SP tlog-witness: it cosigns a log's first checkpoint and
//! then only checkpoints proven consistent with the last one it cosigned, answers a rollback or
//! a fork with 409 and its size, a bad proof with 422, an unknown key with 403, an unknown
//! origin with 404; its record survives a kill; of two requests from one old size exactly one
//! is cosigned. The real binary runs as a child process on 127.0.0.1; the client under test is
//! `runledger_engine::witness::add_checkpoint`, and one exchange is written by hand from the
//! spec's wire format, its cosignature checked without our cosignature module.

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use runledger_engine::witness::{add_checkpoint, request_body, AddError};
use runledger_verifier::checkpoint::Checkpoint;
use runledger_verifier::cosignature::{self, WitnessKey};
use runledger_verifier::keys::{trusted_key_line, TrustedKeys};
use runledger_verifier::merkle::{consistency_proof, leaf_hash, root_from_leaves, Hash};
use runledger_verifier::witness_policy::Policy;
use sha2::{Digest as _, Sha256};

use crate::common::{runledger, text, WitnessServer as Server};

const ORIGIN: &str = "runledger/site-a";
const LOG_KEY_NAME: &str = "site-log";
const WITNESS_NAME: &str = "witness.example/w1";
const TIMEOUT: Duration = Duration::from_secs(10);

/// A witness's files and the log it witnesses.
struct Setup {
    dir: tempfile::TempDir,
    log_key: SigningKey,
    witness: WitnessKey,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let out = runledger()
            .args(["keys", "generate", "--name", WITNESS_NAME, "--out"])
            .arg(dir.path().join("w.key"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{:?}", text(&out));
        let trusted = TrustedKeys::load(&dir.path().join("w.key.pub")).unwrap();
        let w = trusted.iter().next().unwrap();
        let witness = WitnessKey {
            name: w.name.clone(),
            key: w.key,
        };
        let log_key = SigningKey::from_bytes(&[42; 32]);
        std::fs::write(
            dir.path().join("logs"),
            format!(
                "# the site log\n{ORIGIN} {}\n",
                trusted_key_line(LOG_KEY_NAME, &log_key.verifying_key())
            ),
        )
        .unwrap();
        Setup {
            dir,
            log_key,
            witness,
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("witness.db")
    }

    fn serve(&self) -> Server {
        let dir = self.dir.path();
        Server::start(&dir.join("w.key"), &dir.join("logs"), &self.state())
    }

    /// The log's checkpoint of the first `size` of `leaves`, signed.
    fn checkpoint(&self, leaves: &[Hash], size: usize) -> String {
        signed(ORIGIN, leaves, size, LOG_KEY_NAME, &self.log_key)
    }
}

fn signed(origin: &str, leaves: &[Hash], size: usize, name: &str, key: &SigningKey) -> String {
    Checkpoint {
        origin: origin.into(),
        size: size as u64,
        root: root_from_leaves(&leaves[..size]),
        extensions: Vec::new(),
    }
    .sign(name, key)
    .unwrap()
}

fn leaves(tag: u8, n: usize) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&[tag, i as u8])).collect()
}

fn body(note: &str) -> &str {
    &note[..note.rfind("\n\n").unwrap() + 1]
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The witness under test, asked through the client under test.
fn add(server: &Server, old: u64, proof: &[Hash], note: &str) -> Result<String, AddError> {
    add_checkpoint(&server.url(), old, proof, note, TIMEOUT)
}

fn status(result: &Result<String, AddError>) -> u16 {
    match result {
        Ok(_) => 200,
        Err(AddError::Conflict { .. }) => 409,
        Err(AddError::Refused { status, .. }) => *status,
        Err(e) => panic!("unexpected {e}"),
    }
}

/// Checks a cosignature line without our cosignature module: the blob's layout, key ID and
/// signed message rebuilt here from the C2SP text. Returns its timestamp.
fn check_independently(body: &str, line: &str, witness: &VerifyingKey) -> u64 {
    let rest = line
        .strip_prefix(&format!("\u{2014} {WITNESS_NAME} "))
        .unwrap_or_else(|| panic!("not a signature line of {WITNESS_NAME}: {line:?}"));
    let blob = STANDARD.decode(rest.trim_end_matches('\n')).unwrap();
    assert_eq!(blob.len(), 4 + 8 + 64, "key ID, timestamp, signature");
    let mut id_input = format!("{WITNESS_NAME}\n").into_bytes();
    id_input.push(0x04);
    id_input.extend_from_slice(witness.as_bytes());
    assert_eq!(blob[..4], Sha256::digest(&id_input)[..4], "key ID");
    let time = u64::from_be_bytes(blob[4..12].try_into().unwrap());
    let message = format!("cosignature/v1\ntime {time}\n{body}");
    let sig = Signature::from_bytes(&blob[12..].try_into().unwrap());
    witness
        .verify_strict(message.as_bytes(), &sig)
        .expect("the cosignature verifies over cosignature/v1, the time and the body");
    time
}

#[test]
fn first_checkpoint_is_cosigned_then_only_consistent_ones() {
    let setup = Setup::new();
    let server = setup.serve();
    let l = leaves(1, 9);
    let before = now();
    let cp3 = setup.checkpoint(&l, 3);
    let lines = add(&server, 0, &[], &cp3).unwrap();
    let time = cosignature::verify_line(body(&cp3), &lines, &setup.witness).unwrap();
    assert!(time >= before && time <= now() + 1, "time {time}");
    assert_eq!(
        check_independently(body(&cp3), &lines, &setup.witness.key),
        time
    );
    // The cosignature appended to the checkpoint is a note our note parser and quorum accept.
    let cosigned = runledger_verifier::note::parse(&format!("{cp3}{lines}")).unwrap();
    cosignature::verify_note(&cosigned, &setup.witness).unwrap();
    let policy = Policy::parse(
        &format!(
            "witness {WITNESS_NAME} {}\nquorum {WITNESS_NAME}\n",
            runledger_verifier::signing::hex(setup.witness.key.as_bytes())
        ),
        "policy",
    )
    .unwrap();
    let by: BTreeSet<String> = [WITNESS_NAME.to_string()].into();
    assert!(policy.quorum(&by).met);

    // A larger tree with a proof from the recorded size.
    let cp9 = setup.checkpoint(&l, 9);
    let proof = consistency_proof(&l, 3).unwrap();
    let lines = add(&server, 3, &proof, &cp9).unwrap();
    cosignature::verify_line(body(&cp9), &lines, &setup.witness).unwrap();
    // The same checkpoint again: cosigned again.
    let lines = add(&server, 9, &[], &cp9).unwrap();
    cosignature::verify_line(body(&cp9), &lines, &setup.witness).unwrap();
    let log = server.log();
    assert!(
        log.contains(&format!("origin={ORIGIN} old=3 size=9 -> 200 cosigned")),
        "{log}"
    );
}

#[test]
fn rollback_and_fork_get_409_with_the_recorded_size() {
    let setup = Setup::new();
    let server = setup.serve();
    let l = leaves(2, 6);
    add(&server, 0, &[], &setup.checkpoint(&l, 6)).unwrap();
    // A smaller tree, from any old size but the recorded one.
    let cp4 = setup.checkpoint(&l, 4);
    for old in [0, 2] {
        let proof = if old == 0 {
            Vec::new()
        } else {
            consistency_proof(&l[..4], old as u64).unwrap()
        };
        match add(&server, old as u64, &proof, &cp4) {
            Err(AddError::Conflict { size, .. }) => assert_eq!(size, 6),
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
    // From the recorded size to a smaller one: old above new is a bad request.
    assert_eq!(status(&add(&server, 6, &[], &cp4)), 400);
    // The same size with another root: a fork.
    let forked = setup.checkpoint(&leaves(3, 6), 6);
    match add(&server, 6, &[], &forked) {
        Err(AddError::Conflict { size, .. }) => assert_eq!(size, 6),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // The record did not move: the original size still passes, the fork still does not.
    add(&server, 6, &[], &setup.checkpoint(&l, 6)).unwrap();
}

#[test]
fn bad_proof_unknown_key_and_unknown_origin_are_refused() {
    let setup = Setup::new();
    let server = setup.serve();
    let l = leaves(4, 8);
    add(&server, 0, &[], &setup.checkpoint(&l, 3)).unwrap();
    let cp8 = setup.checkpoint(&l, 8);
    let proof = consistency_proof(&l, 3).unwrap();
    // A flipped hash, a missing one, one too many, and a proof for another old size.
    let mut flipped = proof.clone();
    flipped[0][0] ^= 1;
    let mut longer = proof.clone();
    longer.push([0; 32]);
    for bad in [
        flipped,
        proof[1..].to_vec(),
        longer,
        consistency_proof(&l, 2).unwrap(),
    ] {
        let r = add(&server, 3, &bad, &cp8);
        assert_eq!(status(&r), 422, "{r:?}");
        let Err(e) = r else { unreachable!() };
        assert!(e.to_string().contains("consistency proof"), "{e}");
    }
    // Signed by a key the witness does not know for the origin (same name, other key).
    let stranger = SigningKey::from_bytes(&[7; 32]);
    let r = add(
        &server,
        3,
        &proof,
        &signed(ORIGIN, &l, 8, LOG_KEY_NAME, &stranger),
    );
    assert_eq!(status(&r), 403, "{r:?}");
    // An origin the witness does not witness.
    let r = add(
        &server,
        0,
        &[],
        &signed("runledger/site-b", &l, 8, LOG_KEY_NAME, &setup.log_key),
    );
    assert_eq!(status(&r), 404, "{r:?}");
    let Err(e) = r else { unreachable!() };
    assert!(e.to_string().contains("unknown"), "{e}");
    // None of them moved the record: the good proof still passes.
    add(&server, 3, &proof, &cp8).unwrap();
}

#[test]
fn a_killed_witness_keeps_its_record() {
    let setup = Setup::new();
    let l = leaves(5, 12);
    let mut server = setup.serve();
    add(&server, 0, &[], &setup.checkpoint(&l, 7)).unwrap();
    server.kill();
    let server = setup.serve();
    // A rollback to a smaller tree, as if the witness had never seen the log.
    match add(&server, 0, &[], &setup.checkpoint(&l, 5)) {
        Err(AddError::Conflict { size, .. }) => assert_eq!(size, 7),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let proof = consistency_proof(&l, 7).unwrap();
    add(&server, 7, &proof, &setup.checkpoint(&l, 12)).unwrap();
}

#[test]
fn of_concurrent_requests_from_one_old_size_exactly_one_is_cosigned() {
    let setup = Setup::new();
    let server = setup.serve();
    let l = leaves(6, 40);
    add(&server, 0, &[], &setup.checkpoint(&l, 4)).unwrap();
    let url = server.url();
    let mut old = 4;
    for round in 0..3 {
        // Eight valid extensions of the recorded tree, sent at once.
        let sizes: Vec<usize> = (old + 1..=old + 8).collect();
        let barrier = Arc::new(Barrier::new(sizes.len()));
        let handles: Vec<_> = sizes
            .iter()
            .map(|&size| {
                let note = setup.checkpoint(&l, size);
                let proof = consistency_proof(&l[..size], old as u64).unwrap();
                let (url, barrier) = (url.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    (
                        size,
                        add_checkpoint(&url, old as u64, &proof, &note, TIMEOUT),
                    )
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<usize> = results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for (_, r) in &results {
            match r {
                Ok(_) => {}
                Err(AddError::Conflict { size, .. }) => assert_eq!(*size, winners[0] as u64),
                Err(e) => panic!("round {round}: unexpected {e}"),
            }
        }
        old = winners[0];
    }
}

/// Sends one request over a raw socket and returns (status, content type, body).
fn raw_post(addr: &str, path: &str, body: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, payload) = response.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let code = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let content_type = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    (code, content_type, payload.to_string())
}

#[test]
fn a_request_written_by_hand_from_the_wire_format() {
    let setup = Setup::new();
    let server = setup.serve();
    let l = leaves(7, 5);
    let cp2 = setup.checkpoint(&l, 2);
    // The body as the spec writes it, not as our client builds it.
    let (code, _, payload) = raw_post(server.addr(), "/add-checkpoint", &format!("old 0\n\n{cp2}"));
    assert_eq!(code, 200, "{payload}");
    check_independently(body(&cp2), &payload, &setup.witness.key);
    let cp5 = setup.checkpoint(&l, 5);
    let proof: String = consistency_proof(&l, 2)
        .unwrap()
        .iter()
        .map(|h| format!("{}\n", STANDARD.encode(h)))
        .collect();
    let by_hand = format!("old 2\n{proof}\n{cp5}");
    assert_eq!(
        by_hand,
        request_body(2, &consistency_proof(&l, 2).unwrap(), &cp5)
    );
    let (code, _, payload) = raw_post(server.addr(), "/add-checkpoint", &by_hand);
    assert_eq!(code, 200, "{payload}");
    check_independently(body(&cp5), &payload, &setup.witness.key);
    // A stale old size: 409, text/x.tlog.size, the size and a newline.
    let (code, content_type, payload) =
        raw_post(server.addr(), "/add-checkpoint", &format!("old 0\n\n{cp2}"));
    assert_eq!(
        (code, content_type.as_str(), payload.as_str()),
        (409, "text/x.tlog.size", "5\n")
    );
    // Malformed bodies: 400.
    for bad in ["", "old 1\n", "old x\n\n", &format!("old 0\n{cp2}")] {
        let (code, _, _) = raw_post(server.addr(), "/add-checkpoint", bad);
        assert_eq!(code, 400, "{bad:?}");
    }
    let (code, _, _) = raw_post(server.addr(), "/other", "old 0\n\n");
    assert_eq!(code, 404);
}

#[test]
fn witness_vkey_prints_the_vkey_and_the_policy_line() {
    let setup = Setup::new();
    let out = runledger()
        .args([
            "witness",
            "vkey",
            "--url",
            "https://witness.example/w1",
            "--key",
        ])
        .arg(setup.dir.path().join("w.key"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(WitnessKey::from_vkey(lines[0]).unwrap(), setup.witness);
    let policy = Policy::parse(&format!("{}\nquorum {WITNESS_NAME}\n", lines[1]), "p").unwrap();
    assert_eq!(policy.witnesses()[0].key, setup.witness);
    assert_eq!(
        policy.witnesses()[0].url.as_deref(),
        Some("https://witness.example/w1")
    );
    // The .pub gives the same lines.
    let out = runledger()
        .args([
            "witness",
            "vkey",
            "--url",
            "https://witness.example/w1",
            "--key",
        ])
        .arg(setup.dir.path().join("w.key.pub"))
        .output()
        .unwrap();
    assert_eq!(text(&out).0, stdout);
    // A vkey line works in a policy too, under the vkey's own name.
    let policy = Policy::parse(&format!("witness w1 {}\nquorum w1\n", lines[0]), "p").unwrap();
    assert_eq!(policy.witnesses()[0].key.name, WITNESS_NAME);
}

#[test]
fn a_bad_logs_file_is_one_error_line_naming_it() {
    let setup = Setup::new();
    std::fs::write(setup.dir.path().join("logs"), "runledger/site-a\n").unwrap();
    let out = runledger()
        .args(["witness", "serve", "--listen", "127.0.0.1:0", "--key"])
        .arg(setup.dir.path().join("w.key"))
        .arg("--state")
        .arg(setup.state())
        .arg("--logs")
        .arg(setup.dir.path().join("logs"))
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("logs:1: expected `ORIGIN NAME BASE64-KEY` or `ORIGIN VKEY`"),
        "{stderr}"
    );
}
