//! `runledger-verify`: proves to an auditor, offline, what a runledger journal records.
//!
//! Exit codes: 0 every check holds (and every `--require-…`), 1 a check failed, 2 could not
//! check (unreadable input, bad arguments). Arguments are parsed by hand to keep the
//! verifier's dependencies small.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use runledger_verifier::keys::TrustedKeys;
use runledger_verifier::proof::{self, ProofReport};
use runledger_verifier::report::{
    Check, CheckResult, CheckStatus, Failure, JournalSummary, Report, Verdict,
};
use runledger_verifier::site;
use runledger_verifier::terminal;
use runledger_verifier::timestamp;
use runledger_verifier::verify::{verify, Options, WitnessOptions};
use runledger_verifier::witness_policy::Policy;

const EXIT_HOLDS: u8 = 0;
const EXIT_FAILED: u8 = 1;
const EXIT_COULD_NOT_CHECK: u8 = 2;

const USAGE: &str = "\
usage: runledger-verify JOURNAL --trust KEYS [--checkpoint FILE]... [--backups DIR]
                        [--witness-policy POLICY [--require-witness]] [--tsa-cert PEM]...
                        [--require-sealed] [--require-anchor] [--json]
       runledger-verify --proof FILE --trust KEYS [--json]

JOURNAL is the SQLite journal or its JSONL export. KEYS holds trusted public keys,
one `name base64-public-key` per line. With --witness-policy, JOURNAL.witnessed.json
(the site evidence a run writes beside its journal) is read when present; a --checkpoint
FILE may also be such evidence, or a checkpoint of the journal carrying cosignatures.
--tsa-cert: the certificate(s) of a trusted time-stamping authority; every time-stamp token
(.tsr) beside the journal's kept checkpoints and the checkpoints given must verify under one
of them, and one at least must be there.
exit codes: 0 all checks hold, 1 a check failed, 2 could not check";

struct Args {
    journal: Option<PathBuf>,
    trust: PathBuf,
    checkpoints: Vec<PathBuf>,
    backups: Option<PathBuf>,
    tsa_certs: Vec<PathBuf>,
    proof: Option<PathBuf>,
    json: bool,
    require_sealed: bool,
    require_anchor: bool,
    witness_policy: Option<PathBuf>,
    require_witness: bool,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut journal = None;
    let mut trust = None;
    let mut checkpoints = Vec::new();
    let mut backups = None;
    let mut tsa_certs = Vec::new();
    let mut proof = None;
    let (mut json, mut require_sealed, mut require_anchor) = (false, false, false);
    let (mut witness_policy, mut require_witness) = (None, false);
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| it.next().ok_or_else(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "--trust" => trust = Some(PathBuf::from(value("--trust")?)),
            "--checkpoint" => checkpoints.push(PathBuf::from(value("--checkpoint")?)),
            "--backups" => backups = Some(PathBuf::from(value("--backups")?)),
            "--tsa-cert" => tsa_certs.push(PathBuf::from(value("--tsa-cert")?)),
            "--proof" => proof = Some(PathBuf::from(value("--proof")?)),
            "--json" => json = true,
            "--require-sealed" => require_sealed = true,
            "--require-anchor" => require_anchor = true,
            "--witness-policy" => witness_policy = Some(PathBuf::from(value("--witness-policy")?)),
            "--require-witness" => require_witness = true,
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s if journal.is_none() => journal = Some(PathBuf::from(s)),
            s => return Err(format!("unexpected argument {s}")),
        }
    }
    let trust = trust.ok_or("--trust KEYS is required")?;
    if require_witness && witness_policy.is_none() {
        return Err("--require-witness needs --witness-policy POLICY".into());
    }
    if journal.is_none() == proof.is_none() {
        return Err("give a JOURNAL or --proof FILE (one of them)".into());
    }
    Ok(Args {
        journal,
        trust,
        checkpoints,
        backups,
        tsa_certs,
        proof,
        json,
        require_sealed,
        require_anchor,
        witness_policy,
        require_witness,
    })
}

fn main() -> ExitCode {
    let code = run();
    if OUTPUT_FAILED.load(Ordering::Relaxed) {
        // The report did not reach its reader: whatever it said, nothing was told.
        return ExitCode::from(EXIT_COULD_NOT_CHECK);
    }
    ExitCode::from(code)
}

/// Set when standard output could not be written (a closed pipe, a full disk).
static OUTPUT_FAILED: AtomicBool = AtomicBool::new(false);

/// Writes to standard output; a failure is said once on standard error and makes the exit
/// code 2, never a panic.
fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if !OUTPUT_FAILED.swap(true, Ordering::Relaxed) {
            let _ = writeln!(
                std::io::stderr(),
                "runledger-verify: cannot write standard output: {e}"
            );
        }
    }
}

fn run() -> u8 {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            emit(&format!("{USAGE}\n"));
            return EXIT_HOLDS;
        }
        Err(e) => {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "runledger-verify: {}\n{USAGE}",
                terminal::line(&e)
            );
            return EXIT_COULD_NOT_CHECK;
        }
    };
    let trusted = match TrustedKeys::load(&args.trust) {
        Ok(t) if t.is_empty() => Err(format!(
            "{}: no trusted key in the file",
            args.trust.display()
        )),
        Ok(t) => Ok(t),
        Err(e) => Err(e.to_string()),
    };
    match &args.proof {
        Some(path) => run_proof(&args, path, trusted),
        None => run_journal(&args, trusted),
    }
}

fn run_proof(args: &Args, path: &PathBuf, trusted: Result<TrustedKeys, String>) -> u8 {
    let result = trusted.map_err(proof::ProofError::Malformed).and_then(|t| {
        let text = std::fs::read(path).map_err(|e| {
            proof::ProofError::Malformed(format!("cannot read {}: {e}", path.display()))
        })?;
        proof::verify_proof(&text, &t)
    });
    let report = ProofReport::from_result(&result);
    if args.json {
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).expect("report serialises")
        ));
    } else {
        match &result {
            Ok(p) => emit(&format!(
                "PROVEN: {}\n",
                terminal::line(&proof::describe(p))
            )),
            Err(e) => emit(&format!(
                "{}: {}: {}\n",
                report.verdict.to_uppercase().replace('_', " "),
                terminal::line(&path.display().to_string()),
                terminal::line(&e.to_string())
            )),
        }
    }
    match result {
        Ok(_) => EXIT_HOLDS,
        Err(proof::ProofError::Invalid(_)) => EXIT_FAILED,
        Err(proof::ProofError::Malformed(_)) => EXIT_COULD_NOT_CHECK,
    }
}

fn run_journal(args: &Args, trusted: Result<TrustedKeys, String>) -> u8 {
    let journal = args
        .journal
        .clone()
        .expect("parse_args requires a journal here");
    let report = trusted.and_then(|trusted| {
        let mut checkpoints = Vec::new();
        let mut evidence = Vec::new();
        for p in &args.checkpoints {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read checkpoint {}: {e}", p.display()))?;
            // Site evidence is JSON; a checkpoint is a note, which never starts with `{`.
            if text.trim_start().starts_with('{') {
                evidence.push((p.display().to_string(), text));
            } else {
                checkpoints.push((p.display().to_string(), text));
            }
        }
        let witness = match &args.witness_policy {
            Some(path) => {
                let policy = Policy::load(path).map_err(|e| e.to_string())?;
                let beside = site::evidence_path(&journal);
                match std::fs::read_to_string(&beside) {
                    Ok(text) => evidence.push((beside.display().to_string(), text)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(format!("cannot read {}: {e}", beside.display())),
                }
                Some(WitnessOptions { policy, evidence })
            }
            None if !evidence.is_empty() => {
                return Err(format!(
                    "{} is site evidence: give --witness-policy POLICY to check it",
                    evidence[0].0
                ))
            }
            None => None,
        };
        let mut options = Options {
            checkpoints,
            backups: args.backups.clone(),
            require_sealed: args.require_sealed,
            require_anchor: args.require_anchor,
            witness,
            require_witness: args.require_witness,
            ..Options::default()
        };
        options.tsa_certs = timestamp::load_certs(&args.tsa_certs)?;
        timestamp::add_stamps(&mut options, &journal, &args.checkpoints)?;
        if let Some(dir) = &options.backups {
            if !dir.is_dir() {
                return Err(format!("--backups {} is not a directory", dir.display()));
            }
        }
        verify(&journal, &trusted, &options).map_err(|e| e.to_string())
    });
    let report = report.unwrap_or_else(|reason| could_not_check(&journal, reason));
    if args.json {
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).expect("report serialises")
        ));
    } else {
        emit(&report.render_human());
    }
    match report.verdict {
        Verdict::CouldNotCheck => EXIT_COULD_NOT_CHECK,
        _ if report.holds() => EXIT_HOLDS,
        _ => EXIT_FAILED,
    }
}

fn could_not_check(journal: &std::path::Path, reason: String) -> Report {
    Report {
        format: "runledger-verify-report/v1".into(),
        verdict: Verdict::CouldNotCheck,
        verdict_text: reason.clone(),
        journal: JournalSummary {
            path: journal.display().to_string(),
            ..JournalSummary::default()
        },
        checks: Check::ALL
            .iter()
            .map(|&check| CheckResult {
                check,
                status: if check == Check::Readable {
                    CheckStatus::Failed
                } else {
                    CheckStatus::NotReached
                },
                detail: String::new(),
            })
            .collect(),
        failure: Some(Failure {
            check: Check::Readable,
            seq: None,
            position: None,
            reason,
            expected: None,
            found: None,
        }),
        open: None,
        runs: Vec::new(),
        runs_omitted: 0,
        steps: Vec::new(),
        steps_omitted: 0,
        backup_files: Vec::new(),
        backup_files_omitted: 0,
        not_applied: Vec::new(),
        checkpoints: Vec::new(),
        requirements: Vec::new(),
        witnessed: None,
        trusted_time: Vec::new(),
    }
}
