//! Trusted time: with `--tsa URL` each checkpoint a run writes gets an RFC 3161 token beside
//! it; `runledger-verify --tsa-cert` checks them, and the report shows the TSA's time beside
//! the host's.
//!
//! The TSA is OpenSSL (`openssl ts -reply`, not written here) behind a small HTTP server on
//! 127.0.0.1 in this file; its CA and certificates (RSA and P-256, extended key usage
//! timeStamping) are made with `openssl` for each test. Every token we store is also checked
//! by `openssl ts -verify`. For the skew case the TSA's clock is moved with `faketime` (Debian
//! `faketime`, installed by scripts/test), so the token is a real one whose time is 30 s ahead.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::common::{runledger, runledger_verify, text};

/// A CA and two TSA certificates with their keys, made by `openssl`.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("ext.cnf"),
            format!(
                "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = test TSA CA\n\
                 [v3_ca]\nbasicConstraints = critical,CA:true\nkeyUsage = critical,keyCertSign\n\
                 [v3_tsa]\nbasicConstraints = critical,CA:false\nkeyUsage = critical,digitalSignature\n\
                 extendedKeyUsage = critical,timeStamping\nsubjectKeyIdentifier = hash\n\
                 [tsa]\ndefault_tsa = tsa_config\n[tsa_config]\nserial = {}\nsigner_digest = sha256\n\
                 default_policy = 1.3.6.1.4.1.99999.1\ndigests = sha256\naccuracy = secs:1\n\
                 tsa_name = yes\ness_cert_id_alg = sha256\n",
                d.join("serial").display()
            ),
        )
        .unwrap();
        std::fs::write(d.join("serial"), "01\n").unwrap();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-config",
                "ext.cnf",
                "-extensions",
                "v3_ca",
            ],
        );
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "rsa.key",
            ],
        );
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                "ec.key",
            ],
        );
        for (k, serial) in [("rsa", "11"), ("ec", "12")] {
            openssl(
                d,
                &[
                    "req",
                    "-new",
                    "-key",
                    &format!("{k}.key"),
                    "-subj",
                    &format!("/CN=test TSA {k}"),
                    "-out",
                    &format!("{k}.csr"),
                ],
            );
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{k}.csr"),
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-set_serial",
                    serial,
                    "-days",
                    "2",
                    "-extfile",
                    "ext.cnf",
                    "-extensions",
                    "v3_tsa",
                    "-out",
                    &format!("{k}.pem"),
                ],
            );
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {:?}", text(&out));
    out
}

/// An RFC 3161 TSA on 127.0.0.1: each POST body is handed to `openssl ts -reply` (under
/// `faketime` when `clock` is given), its reply sent back as `application/timestamp-reply`.
struct Tsa {
    url: String,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Tsa {
    fn start(pki: &Pki, key: &str, clock: Option<&str>) -> Tsa {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/tsa", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (dir, key) = (pki.dir.path().to_path_buf(), key.to_string());
        let clock = clock.map(str::to_string);
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                // Bounded: at most 10 minutes and 10,000 requests.
                let until = std::time::Instant::now() + Duration::from_secs(600);
                while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < until {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let n = requests.fetch_add(1, Ordering::Relaxed);
                            if n > 10_000 {
                                break;
                            }
                            serve(stream, &dir, &key, clock.as_deref(), n);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Tsa {
            url,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for Tsa {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(stream: TcpStream, dir: &Path, key: &str, clock: Option<&str>, n: usize) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut length = 0usize;
    let mut content_type = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "content-type" => content_type = value.trim().to_string(),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let query = dir.join(format!("q{n}.tsq"));
    let reply = dir.join(format!("r{n}.tsr"));
    std::fs::write(&query, &body).unwrap();
    let mut cmd = match clock {
        Some(offset) => {
            let mut c = Command::new("faketime");
            c.args(["-f", offset, "openssl"]);
            c
        }
        None => Command::new("openssl"),
    };
    let ok = content_type == "application/timestamp-query"
        && cmd
            .current_dir(dir)
            .args(["ts", "-reply", "-config", "ext.cnf", "-queryfile"])
            .arg(&query)
            .args([
                "-inkey",
                &format!("{key}.key"),
                "-signer",
                &format!("{key}.pem"),
                "-out",
            ])
            .arg(&reply)
            .output()
            .is_ok_and(|o| o.status.success());
    let mut stream = reader.into_inner();
    let _ = if ok {
        let r = std::fs::read(&reply).unwrap();
        stream
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    r.len()
                )
                .as_bytes(),
            )
            .and_then(|()| stream.write_all(&r))
    } else {
        stream.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
    };
}

fn drill(dir: &Path, tsa: &str) -> (String, String) {
    let out = runledger()
        .arg("drill")
        .arg("--dir")
        .arg(dir)
        .args(["--tsa", tsa])
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t:?}");
    t
}

/// The kept tokens of a journal: `(size, path)` by size.
fn kept_tokens(journal: &Path) -> Vec<(u64, PathBuf)> {
    let dir = PathBuf::from(format!("{}.checkpoints", journal.display()));
    let mut out: Vec<(u64, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let size = p
                .file_name()?
                .to_str()?
                .strip_suffix(".tsr")?
                .parse()
                .ok()?;
            Some((size, p))
        })
        .collect();
    out.sort();
    out
}

/// The note body of a checkpoint file, cut here independently of the code under test: the
/// text up to and including the newline before the last blank line.
fn body_of(checkpoint: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(checkpoint).unwrap();
    let at = text.rfind("\n\n").expect("a signed note has a blank line");
    text.as_bytes()[..at + 1].to_vec()
}

/// `openssl ts -verify` of a token over a checkpoint's body; its time as OpenSSL reads it.
fn openssl_verify(pki: &Pki, tsa_cert: &str, checkpoint: &Path, token: &Path) -> String {
    let body = pki.path("body.bin");
    std::fs::write(&body, body_of(checkpoint)).unwrap();
    let out = Command::new("openssl")
        .args(["ts", "-verify", "-data"])
        .arg(&body)
        .arg("-in")
        .arg(token)
        .args(["-token_in", "-CAfile"])
        .arg(pki.path("ca.pem"))
        .arg("-untrusted")
        .arg(pki.path(tsa_cert))
        .output()
        .unwrap();
    let (o, e) = text(&out);
    assert!(
        out.status.success() && o.contains("Verification: OK"),
        "openssl ts -verify {}: {o} {e}",
        token.display()
    );
    let out = Command::new("openssl")
        .args(["ts", "-reply", "-token_in", "-text", "-in"])
        .arg(token)
        .output()
        .unwrap();
    let (o, _) = text(&out);
    o.lines()
        .find_map(|l| l.strip_prefix("Time stamp: "))
        .expect("openssl prints the time stamp")
        .to_string()
}

/// `Nov 27 21:40:43 2026 GMT` as `2026-11-27T21:40:43Z`.
fn rfc3339_of_openssl(t: &str) -> String {
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = t.split_whitespace().collect();
    let month = months.iter().position(|m| *m == parts[0]).unwrap() + 1;
    let day: u32 = parts[1].parse().unwrap();
    format!("{}-{month:02}-{day:02}T{}Z", parts[3], parts[2])
}

fn verify(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let out = runledger_verify().args(args).output().unwrap();
    let (o, e) = text(&out);
    (out.status.code(), o, e)
}

fn verify_json(journal: &Path, extra: &[&Path], flag: &str) -> (Option<i32>, serde_json::Value) {
    let mut c = runledger_verify();
    c.arg(journal)
        .arg("--trust")
        .arg(journal.parent().unwrap().join("operator.key.pub"))
        .arg("--json");
    for p in extra {
        c.arg(flag).arg(p);
    }
    let out = c.output().unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).expect("--json prints JSON"),
    )
}

fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap()
}

#[test]
fn a_drill_with_a_tsa_keeps_a_token_beside_each_checkpoint_it_writes_and_the_verifier_checks_them()
{
    let pki = Pki::new();
    let tsa = Tsa::start(&pki, "rsa", None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    drill(d, &tsa.url);
    let journal = d.join("journal.db");
    let tokens = kept_tokens(&journal);
    // One token per checkpoint written to checkpoint.txt (start, each outcome, the end), not
    // one per event; each asked for once.
    assert!(tokens.len() >= 3, "{tokens:?}");
    assert_eq!(tsa.requests(), tokens.len());
    let events = super::common::event_count(&journal) as u64;
    let (last_size, last_token) = tokens.last().unwrap().clone();
    assert_eq!(last_size, events, "the end of the run is stamped");
    assert_eq!(
        std::fs::read(d.join("checkpoint.tsr")).unwrap(),
        std::fs::read(&last_token).unwrap(),
        "checkpoint.tsr is the token of checkpoint.txt"
    );
    // Independently: OpenSSL verifies every token we stored over its checkpoint's body.
    let mut openssl_times = Vec::new();
    for (size, token) in &tokens {
        let cp = token.with_extension("txt");
        let t = openssl_verify(&pki, "rsa.pem", &cp, token);
        openssl_times.push((*size, rfc3339_of_openssl(&t)));
    }
    openssl_verify(
        &pki,
        "rsa.pem",
        &d.join("checkpoint.txt"),
        &d.join("checkpoint.tsr"),
    );

    // runledger-verify checks them and names each TSA time with its checkpoint's size, as
    // OpenSSL reads them.
    let trust = d.join("operator.key.pub");
    let (code, out, err) = verify(&[
        journal.as_os_str(),
        "--trust".as_ref(),
        trust.as_os_str(),
        "--tsa-cert".as_ref(),
        pki.path("rsa.pem").as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("trusted_time"), "{out}");
    for ((size, time), (_, token)) in openssl_times.iter().zip(&tokens) {
        assert!(
            out.contains(&format!(
                "{}  size {size}  TSA time {time}  CN=test TSA rsa  verified",
                token.display()
            )),
            "{size} {time}: {out}"
        );
    }
    let (code, report) = verify_json(&journal, &[&pki.path("rsa.pem")], "--tsa-cert");
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(check(&report, "trusted_time")["status"], "passed");
    let rows = report["trusted_time"].as_array().unwrap();
    assert_eq!(rows.len(), tokens.len());
    for (row, (size, time)) in rows.iter().zip(&openssl_times) {
        assert_eq!(row["status"], "verified", "{row}");
        assert_eq!(row["size"], *size);
        assert_eq!(row["tsa_time"], time.as_str());
        assert_eq!(row["tsa"], "CN=test TSA rsa");
    }

    // Without --tsa-cert the tokens are listed, not checked, and the check says so.
    let (code, report) = verify_json(&journal, &[], "--tsa-cert");
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(check(&report, "trusted_time")["status"], "skipped");
    assert!(check(&report, "trusted_time")["detail"]
        .as_str()
        .unwrap()
        .contains("not checked"));
    assert!(report["trusted_time"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "not_checked"));

    // Another TSA's certificate: every token fails, the first named.
    let (code, report) = verify_json(&journal, &[&pki.path("ec.pem")], "--tsa-cert");
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["verdict"], "invalid");
    assert_eq!(report["failure"]["check"], "trusted_time");
    assert_eq!(
        report["failure"]["position"],
        tokens[0].1.display().to_string()
    );
    assert!(report["failure"]["reason"]
        .as_str()
        .unwrap()
        .contains("no signature by a given TSA certificate"));

    // A token swapped between two checkpoints: the one put in the wrong place fails.
    let (_, first) = &tokens[0];
    let (_, second) = &tokens[1];
    let saved = std::fs::read(second).unwrap();
    std::fs::copy(first, second).unwrap();
    let (code, report) = verify_json(&journal, &[&pki.path("rsa.pem")], "--tsa-cert");
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["failure"]["position"], second.display().to_string());
    assert!(report["failure"]["reason"]
        .as_str()
        .unwrap()
        .contains("stamps another text"));
    std::fs::write(second, &saved).unwrap();

    // A flipped byte in a token: in the TSA's time (GeneralizedTime, tag 0x18, 15 bytes).
    let mut bad = saved.clone();
    let at = bad
        .windows(2)
        .position(|w| w == [0x18, 0x0f])
        .expect("the token has a GeneralizedTime");
    bad[at + 2 + 12] ^= 0x01; // a digit of the seconds
    std::fs::write(second, &bad).unwrap();
    let (code, report) = verify_json(&journal, &[&pki.path("rsa.pem")], "--tsa-cert");
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["failure"]["check"], "trusted_time");
    assert_eq!(report["failure"]["position"], second.display().to_string());
    std::fs::write(second, &saved).unwrap();

    // Every token removed: trusted time was asked for and is not there — never a pass.
    for (_, t) in &tokens {
        std::fs::remove_file(t).unwrap();
    }
    let (code, report) = verify_json(&journal, &[&pki.path("rsa.pem")], "--tsa-cert");
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["failure"]["check"], "trusted_time");
    assert!(report["failure"]["reason"]
        .as_str()
        .unwrap()
        .contains("no time-stamp token"));
}

#[test]
fn runledger_checkpoint_with_a_p256_tsa_writes_the_token_beside_the_file_and_fails_loudly_without_one(
) {
    let pki = Pki::new();
    let tsa = Tsa::start(&pki, "ec", None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = runledger()
        .arg("drill")
        .arg("--dir")
        .arg(d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let journal = d.join("journal.db");
    assert!(kept_tokens(&journal).is_empty(), "no --tsa: no token");

    let cp = d.join("handover.txt");
    let out = runledger()
        .args(["checkpoint", "--journal"])
        .arg(&journal)
        .args(["--tsa", &tsa.url, "--out"])
        .arg(&cp)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let token = d.join("handover.tsr");
    openssl_verify(&pki, "ec.pem", &cp, &token);
    let (code, report) = {
        let out = runledger_verify()
            .arg(&journal)
            .arg("--trust")
            .arg(d.join("operator.key.pub"))
            .arg("--checkpoint")
            .arg(&cp)
            .arg("--tsa-cert")
            .arg(pki.path("ec.pem"))
            .arg("--json")
            .output()
            .unwrap();
        (
            out.status.code(),
            serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        )
    };
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["verdict"], "valid_anchored");
    let rows = report["trusted_time"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{report}");
    assert_eq!(rows[0]["token"], token.display().to_string());
    assert_eq!(rows[0]["status"], "verified");
    assert_eq!(rows[0]["tsa"], "CN=test TSA ec");

    // --out - has no "beside": refused before anything is asked or written.
    let asked = tsa.requests();
    let out = runledger()
        .args(["checkpoint", "--journal"])
        .arg(&journal)
        .args(["--tsa", &tsa.url, "--out", "-"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out).1.contains("--tsa needs --out FILE"),
        "{:?}",
        text(&out)
    );
    assert_eq!(tsa.requests(), asked);

    // The TSA down: a one-line error naming it, a non-zero exit, no checkpoint file.
    let url = tsa.url.clone();
    drop(tsa);
    let cp2 = d.join("second.txt");
    let out = runledger()
        .args(["checkpoint", "--journal"])
        .arg(&journal)
        .args(["--tsa", &url, "--out"])
        .arg(&cp2)
        .output()
        .unwrap();
    let (_, err) = text(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&url), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!cp2.exists() && !d.join("second.tsr").exists());
}

#[test]
fn a_tsa_that_is_down_is_a_loud_warning_and_the_run_goes_on() {
    // A port nothing listens on: bound, then closed.
    let url = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/tsa", l.local_addr().unwrap())
    };
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = drill(dir.path(), &url);
    let all = format!("{out}{err}");
    let warnings: Vec<&str> = all
        .lines()
        .filter(|l| l.starts_with("WARNING: no trusted time"))
        .collect();
    assert_eq!(
        warnings.len(),
        3,
        "three tries, then it stops asking: {all}"
    );
    assert!(warnings.iter().all(|w| w.contains(&url)), "{all}");
    assert!(warnings[0].contains("checkpoint of "), "{all}");
    assert!(warnings[2].contains("no more time-stamps"), "{all}");
    let journal = dir.path().join("journal.db");
    assert!(kept_tokens(&journal).is_empty());
    assert!(!dir.path().join("checkpoint.tsr").exists());
    // The failover itself finished: the journal is sealed.
    let trust = dir.path().join("operator.key.pub");
    let (code, o, e) = verify(&[journal.as_os_str(), "--trust".as_ref(), trust.as_os_str()]);
    assert_eq!(code, Some(0), "{o}{e}");
}

#[test]
fn the_report_shows_the_tsa_time_beside_the_hosts_and_flags_a_skew_over_two_seconds() {
    let pki = Pki::new();
    // The TSA's clock 30 s ahead of the host's (faketime moves only openssl's clock).
    let ahead = Tsa::start(&pki, "rsa", Some("+30s"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    drill(d, &ahead.url);
    let journal = d.join("journal.db");
    let report = |extra: &[&str]| {
        let out = runledger()
            .args(["report", "--force", "--journal"])
            .arg(&journal)
            .arg("--trust")
            .arg(d.join("operator.key.pub"))
            .args(extra)
            .args(["--md", "-"])
            .output()
            .unwrap();
        let (o, e) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{o}{e}");
        o
    };
    let cert = pki.path("rsa.pem");
    let md = report(&["--tsa-cert", cert.to_str().unwrap()]);
    assert!(md.contains("## Trusted time"), "{md}");
    let rows: Vec<&str> = md
        .lines()
        .filter(|l| l.contains("verified: signed by CN=test TSA rsa"))
        .collect();
    assert_eq!(rows.len(), kept_tokens(&journal).len(), "{md}");
    // Every stamp is flagged, with a skew near -30 s (the host behind the TSA).
    for r in &rows {
        assert!(r.contains("**SKEW OVER 2 s**"), "{r}");
        let skew: f64 = r
            .split('|')
            .nth(4)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((-33.0..=-27.0).contains(&skew), "{r}");
    }
    assert!(
        md.contains(&format!(
            "differ by more than 2 s at {0} of {0} stamped",
            rows.len()
        )),
        "{md}"
    );
    assert!(!md.contains("NOT CHECKED"), "{md}");

    // The same tokens without --tsa-cert: shown, and said not to be checked.
    let md = report(&[]);
    assert!(md.contains("NOT CHECKED against a TSA certificate"), "{md}");

    // A TSA whose clock agrees with the host's: no flag.
    let honest = Tsa::start(&pki, "rsa", None);
    let dir2 = tempfile::tempdir().unwrap();
    drill(dir2.path(), &honest.url);
    let out = runledger()
        .args(["report", "--journal"])
        .arg(dir2.path().join("journal.db"))
        .arg("--trust")
        .arg(dir2.path().join("operator.key.pub"))
        .args(["--tsa-cert", cert.to_str().unwrap(), "--md", "-"])
        .output()
        .unwrap();
    let (md, e) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{md}{e}");
    assert!(
        md.contains("## Trusted time") && md.contains("verified: signed by"),
        "{md}"
    );
    assert!(!md.contains("SKEW OVER"), "{md}");
}

#[test]
fn a_resume_with_a_tsa_stamps_the_checkpoints_it_writes() {
    let pki = Pki::new();
    let tsa = Tsa::start(&pki, "ec", None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = runledger()
        .arg("drill")
        .arg("--dir")
        .arg(d)
        .args(["--crash-after-events", "30"])
        .output()
        .unwrap();
    let _serving = super::common::Serving(d.to_path_buf());
    assert_ne!(out.status.code(), Some(0), "{:?}", text(&out));
    let journal = d.join("journal.db");
    assert!(kept_tokens(&journal).is_empty(), "the drill had no --tsa");

    let out = super::common::resume(&journal, &d.join("operator.key"), &["--tsa", &tsa.url]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let tokens = kept_tokens(&journal);
    assert!(tokens.len() >= 2, "{tokens:?}");
    assert!(tokens.iter().all(|(size, _)| *size > 30), "{tokens:?}");
    let (last_size, last) = tokens.last().unwrap();
    assert_eq!(*last_size, super::common::event_count(&journal) as u64);
    assert_eq!(
        std::fs::read(d.join("checkpoint.tsr")).unwrap(),
        std::fs::read(last).unwrap()
    );
    openssl_verify(&pki, "ec.pem", &last.with_extension("txt"), last);
    let (code, report) = verify_json(&journal, &[&pki.path("ec.pem")], "--tsa-cert");
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(
        report["trusted_time"].as_array().unwrap().len(),
        tokens.len()
    );
}
