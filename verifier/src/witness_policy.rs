//! Witness policies: which witnesses a checkpoint must be cosigned by, in the Sigsum policy
//! file format.
//!
//! One statement a line, `#` starting a comment:
//!
//! ```text
//! log KEY [URL]                       a log key (kept, not required)
//! witness NAME KEY [URL]              a witness
//! group NAME THRESHOLD MEMBER...      THRESHOLD is `all`, `any` or k (1 ≤ k ≤ members)
//! quorum NAME                         the witness or group that must be satisfied
//! ```
//!
//! A witness KEY is 64 hex digits (an Ed25519 public key, as Sigsum writes it: its
//! cosignatures then go by the policy's NAME) or a C2SP vkey of type 0x04 (its cosignatures go
//! by the vkey's own name, which may differ from NAME). A log KEY is 64 hex digits or a
//! signed-note vkey (type 0x01). Witnesses and groups share one namespace; a group names only
//! members defined on earlier lines (so no cycle can be written); `none` is predefined, the
//! empty group, so `quorum none` asks for no cosignature. Exactly one `quorum` line.
//!
//! This module parses and evaluates the policy only: it never verifies a signature. The
//! caller verifies each witness's cosignature with [`crate::cosignature`] and hands the set of
//! policy NAMEs that verified to [`Policy::quorum`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ed25519_dalek::VerifyingKey;

use crate::cosignature::WitnessKey;
use crate::note;

/// The predefined empty group: `quorum none` asks for no cosignature.
pub const NONE: &str = "none";

/// Why a policy file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read witness policy {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A line is wrong.
    #[error("{path}:{line}: {reason}")]
    Line {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong, and what was expected.
        reason: String,
    },
    /// The file has no `quorum` line.
    #[error("{path}: no quorum line: expected `quorum NAME` naming a witness or group (`quorum none` for no cosignature)")]
    NoQuorum {
        /// The file.
        path: String,
    },
}

/// A witness of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWitness {
    /// Its name in the policy (what groups and [`Policy::quorum`] use).
    pub name: String,
    /// Its key, under the name its cosignature lines go by.
    pub key: WitnessKey,
    /// Where its tlog-witness API is, if the policy says.
    pub url: Option<String>,
}

/// A log key of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLog {
    /// The key's name, when it was given as a vkey.
    pub name: Option<String>,
    /// The log's public key.
    pub key: VerifyingKey,
    /// The log's URL, if the policy says.
    pub url: Option<String>,
}

/// A group: `threshold` of its members must be satisfied.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Group {
    threshold: usize,
    members: Vec<String>,
}

/// A parsed policy.
#[derive(Debug, Clone)]
pub struct Policy {
    logs: Vec<PolicyLog>,
    witnesses: Vec<PolicyWitness>,
    groups: BTreeMap<String, Group>,
    quorum: String,
}

/// Whether a set of cosigning witnesses satisfies the quorum, and why, in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumResult {
    /// True when the quorum is met.
    pub met: bool,
    /// What was counted, e.g. `2 of 3 in group site-witnesses (2 needed): w1, w2`.
    pub text: String,
}

impl Policy {
    /// Parses a policy's text; `path` only names the source in errors.
    pub fn parse(text: &str, path: &str) -> Result<Policy, PolicyError> {
        let mut logs = Vec::new();
        let mut witnesses: Vec<PolicyWitness> = Vec::new();
        let mut groups = BTreeMap::new();
        groups.insert(
            NONE.to_string(),
            Group {
                threshold: 0,
                members: Vec::new(),
            },
        );
        let mut quorum: Option<String> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("");
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some((&keyword, args)) = fields.split_first() else {
                continue;
            };
            let err = |reason: String| PolicyError::Line {
                path: path.to_string(),
                line: i + 1,
                reason,
            };
            let defined = |name: &str, witnesses: &[PolicyWitness], groups: &BTreeMap<_, _>| {
                groups.contains_key(name) || witnesses.iter().any(|w| w.name == name)
            };
            match keyword {
                "log" => {
                    let (key, url) = match args {
                        [key] => (*key, None),
                        [key, url] => (*key, Some((*url).to_string())),
                        _ => return Err(err("expected `log KEY [URL]`".into())),
                    };
                    let (name, key) = parse_log_key(key).map_err(err)?;
                    if logs.iter().any(|l: &PolicyLog| l.key == key) {
                        return Err(err("log key listed twice".into()));
                    }
                    logs.push(PolicyLog { name, key, url });
                }
                "witness" => {
                    let (name, key, url) = match args {
                        [name, key] => (*name, *key, None),
                        [name, key, url] => (*name, *key, Some((*url).to_string())),
                        _ => return Err(err("expected `witness NAME KEY [URL]`".into())),
                    };
                    if defined(name, &witnesses, &groups) {
                        return Err(err(format!("duplicate name {name:?}")));
                    }
                    let key = parse_witness_key(name, key).map_err(err)?;
                    if let Some(w) = witnesses.iter().find(|w| w.key.key == key.key) {
                        return Err(err(format!(
                            "witness {name:?} has the key of witness {:?}: expected one key per witness",
                            w.name
                        )));
                    }
                    witnesses.push(PolicyWitness {
                        name: name.to_string(),
                        key,
                        url,
                    });
                }
                "group" => {
                    let [name, threshold, members @ ..] = args else {
                        return Err(err("expected `group NAME THRESHOLD MEMBER...`".into()));
                    };
                    if members.is_empty() {
                        return Err(err(format!("group {name:?} has no member")));
                    }
                    if defined(name, &witnesses, &groups) {
                        return Err(err(format!("duplicate name {name:?}")));
                    }
                    let n = members.len();
                    let threshold = match *threshold {
                        "all" => n,
                        "any" => 1,
                        text => match text.parse::<usize>() {
                            // Canonical decimal only: no sign, no leading zero.
                            Ok(k) if (1..=n).contains(&k) && k.to_string() == text => k,
                            _ => {
                                return Err(err(format!(
                                "invalid threshold {text:?} for {n} members: expected `all`, `any` or a number from 1 to {n}"
                            )))
                            }
                        },
                    };
                    let mut seen = BTreeSet::new();
                    for m in members.iter() {
                        if m == name {
                            return Err(err(format!(
                                "group {name:?} lists itself: a group holds only witnesses and groups defined before it"
                            )));
                        }
                        if !defined(m, &witnesses, &groups) {
                            return Err(err(format!(
                                "unknown member {m:?}: expected a witness or group defined on an earlier line"
                            )));
                        }
                        if !seen.insert(*m) {
                            return Err(err(format!("member {m:?} listed twice")));
                        }
                    }
                    groups.insert(
                        name.to_string(),
                        Group {
                            threshold,
                            members: members.iter().map(|m| m.to_string()).collect(),
                        },
                    );
                }
                "quorum" => {
                    let [name] = args else {
                        return Err(err("expected `quorum NAME`".into()));
                    };
                    if quorum.is_some() {
                        return Err(err("second quorum line: expected exactly one".into()));
                    }
                    if !defined(name, &witnesses, &groups) {
                        return Err(err(format!(
                            "unknown quorum {name:?}: expected a witness or group defined on an earlier line"
                        )));
                    }
                    quorum = Some(name.to_string());
                }
                other => {
                    return Err(err(format!(
                        "unknown keyword {other:?}: expected log, witness, group or quorum"
                    )))
                }
            }
        }
        let quorum = quorum.ok_or_else(|| PolicyError::NoQuorum {
            path: path.to_string(),
        })?;
        Ok(Policy {
            logs,
            witnesses,
            groups,
            quorum,
        })
    }

    /// Reads a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Policy::parse(&text, &path.display().to_string())
    }

    /// The witnesses, in the file's order.
    pub fn witnesses(&self) -> &[PolicyWitness] {
        &self.witnesses
    }

    /// The log keys, in the file's order.
    pub fn logs(&self) -> &[PolicyLog] {
        &self.logs
    }

    /// The name the `quorum` line gives.
    pub fn quorum_name(&self) -> &str {
        &self.quorum
    }

    /// Whether the witnesses named in `cosigned_by` (policy NAMEs whose cosignatures the
    /// caller verified) satisfy the quorum. Names the policy does not know are ignored.
    pub fn quorum(&self, cosigned_by: &BTreeSet<String>) -> QuorumResult {
        let (met, text) = self.evaluate(&self.quorum, cosigned_by);
        QuorumResult { met, text }
    }

    /// Evaluates one witness or group: whether it is satisfied, and its description.
    fn evaluate(&self, name: &str, cosigned_by: &BTreeSet<String>) -> (bool, String) {
        let Some(group) = self.groups.get(name) else {
            let met = cosigned_by.contains(name);
            let text = if met {
                format!("witness {name} cosigned")
            } else {
                format!("witness {name} did not cosign")
            };
            return (met, text);
        };
        if name == NONE {
            return (true, "quorum none: no cosignature required".into());
        }
        let mut satisfied = Vec::new();
        for m in &group.members {
            // Members were defined earlier in the file: the recursion ends.
            let (ok, text) = self.evaluate(m, cosigned_by);
            if ok {
                satisfied.push(if self.groups.contains_key(m) {
                    format!("{m} ({text})")
                } else {
                    m.clone()
                });
            }
        }
        let met = satisfied.len() >= group.threshold;
        let text = format!(
            "{} of {} in group {name} ({} needed){}{}",
            satisfied.len(),
            group.members.len(),
            group.threshold,
            if satisfied.is_empty() { "" } else { ": " },
            satisfied.join(", ")
        );
        (met, text)
    }
}

/// A witness key: 64 hex digits (named `policy_name`) or a type 0x04 vkey (its own name).
fn parse_witness_key(policy_name: &str, text: &str) -> Result<WitnessKey, String> {
    if let Some(key) = parse_hex_key(text)? {
        if !note::is_valid_key_name(policy_name) {
            return Err(format!(
                "witness name {policy_name:?} cannot name a signature line (no '+'): give its key as a vkey"
            ));
        }
        return Ok(WitnessKey {
            name: policy_name.to_string(),
            key,
        });
    }
    WitnessKey::from_vkey(text)
        .map_err(|e| format!("witness key is neither 64 hex digits nor a cosignature vkey: {e}"))
}

/// A log key: 64 hex digits or a signed-note vkey (type 0x01).
fn parse_log_key(text: &str) -> Result<(Option<String>, VerifyingKey), String> {
    if let Some(key) = parse_hex_key(text)? {
        return Ok((None, key));
    }
    let (name, key) = note::decode_verifier_key(text)
        .map_err(|e| format!("log key is neither 64 hex digits nor a vkey: {e}"))?;
    Ok((Some(name), key))
}

/// `Some(key)` for 64 hex digits, `None` for anything that is not hex (a vkey, maybe), an
/// error for hex digits that are not a usable key.
fn parse_hex_key(text: &str) -> Result<Option<VerifyingKey>, String> {
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    if text.len() != 64 {
        return Err(format!(
            "expected a key of 64 hex digits, found {} digits",
            text.len()
        ));
    }
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
            .map_err(|_| "expected hex digits".to_string())?;
    }
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| {
        "expected an Ed25519 public key, found bytes that are not a curve point".to_string()
    })?;
    if key.is_weak() {
        return Err("expected a key of large order, found one of small order".into());
    }
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::hex;
    use ed25519_dalek::SigningKey;

    fn key_hex(seed: u8) -> String {
        hex(SigningKey::from_bytes(&[seed; 32])
            .verifying_key()
            .as_bytes())
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn policy(body: &str) -> Policy {
        let text = format!(
            "log {} https://log.example\nwitness w1 {}\nwitness w2 {} https://w2.example\nwitness w3 {}\n{body}",
            key_hex(9),
            key_hex(1),
            key_hex(2),
            key_hex(3)
        );
        Policy::parse(&text, "p").unwrap()
    }

    fn line_err(text: &str) -> String {
        Policy::parse(text, "site.policy").unwrap_err().to_string()
    }

    #[test]
    fn k_of_n_all_and_any() {
        let p = policy("group g 2 w1 w2 w3\nquorum g\n");
        assert!(!p.quorum(&set(&["w1"])).met);
        let r = p.quorum(&set(&["w1", "w3"]));
        assert!(r.met);
        assert_eq!(r.text, "2 of 3 in group g (2 needed): w1, w3");
        assert!(!p.quorum(&set(&[])).met);

        let p = policy("group g all w1 w2\nquorum g\n");
        assert!(!p.quorum(&set(&["w1"])).met);
        assert!(p.quorum(&set(&["w1", "w2"])).met);

        let p = policy("group g any w1 w2\nquorum g\n");
        assert!(!p.quorum(&set(&["w3"])).met);
        assert!(p.quorum(&set(&["w2"])).met);

        let p = policy("quorum w2\n");
        assert!(p.quorum(&set(&["w2"])).met);
        assert_eq!(p.quorum(&set(&["w1"])).text, "witness w2 did not cosign");
        // Names the policy does not know are ignored, not counted.
        assert!(!p.quorum(&set(&["w9", "stranger"])).met);

        let p = policy("quorum none\n");
        assert!(p.quorum(&set(&[])).met);
    }

    #[test]
    fn nested_groups() {
        let p = policy("group pair 2 w1 w2\ngroup top 2 pair w3\nquorum top\n");
        assert!(!p.quorum(&set(&["w1", "w3"])).met);
        let r = p.quorum(&set(&["w1", "w2", "w3"]));
        assert!(r.met);
        assert_eq!(
            r.text,
            "2 of 2 in group top (2 needed): pair (2 of 2 in group pair (2 needed): w1, w2), w3"
        );
        let p = policy("group pair any w1 w2\ngroup top all pair w3\nquorum top\n");
        assert!(p.quorum(&set(&["w2", "w3"])).met);
        assert!(!p.quorum(&set(&["w1", "w2"])).met);
    }

    #[test]
    fn witnesses_logs_and_key_names() {
        let sk = SigningKey::from_bytes(&[4; 32]);
        let vkey = WitnessKey {
            name: "witness.example/w4".into(),
            key: sk.verifying_key(),
        }
        .vkey();
        let text = format!(
            "# site\nlog {} https://log.example  # the log\nwitness w1 {} https://w1.example\nwitness w4 {vkey}\ngroup g any w1 w4\nquorum g\n",
            key_hex(9),
            key_hex(1)
        );
        let p = Policy::parse(&text, "p").unwrap();
        assert_eq!(p.logs().len(), 1);
        assert_eq!(p.logs()[0].url.as_deref(), Some("https://log.example"));
        let w = p.witnesses();
        assert_eq!(w.len(), 2);
        // A hex key goes by the policy name; a vkey by its own name.
        assert_eq!(w[0].key.name, "w1");
        assert_eq!(w[0].url.as_deref(), Some("https://w1.example"));
        assert_eq!(w[1].name, "w4");
        assert_eq!(w[1].key.name, "witness.example/w4");
        assert_eq!(w[1].key.key, sk.verifying_key());
        assert_eq!(w[1].url, None);
        assert_eq!(p.quorum_name(), "g");
        // A log key may be a signed-note vkey too; its name is kept.
        let log_vkey = note::encode_verifier_key("site-log", &sk.verifying_key());
        let p = Policy::parse(&format!("log {log_vkey}\nquorum none\n"), "p").unwrap();
        assert_eq!(p.logs()[0].name.as_deref(), Some("site-log"));
        assert_eq!(p.logs()[0].key, sk.verifying_key());
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let w1 = format!("witness w1 {}\n", key_hex(1));
        // Unknown member.
        let e = line_err(&format!("{w1}group g 1 w1 w2\nquorum g\n"));
        assert!(e.starts_with("site.policy:2: unknown member \"w2\""), "{e}");
        // Duplicate names: witness/witness, group/witness, and the predefined `none`.
        let e = line_err(&format!("{w1}witness w1 {}\n", key_hex(2)));
        assert!(e.starts_with("site.policy:2: duplicate name \"w1\""), "{e}");
        let e = line_err(&format!("{w1}group w1 any w1\n"));
        assert!(e.starts_with("site.policy:2: duplicate name"), "{e}");
        let e = line_err(&format!("witness none {}\n", key_hex(1)));
        assert!(
            e.starts_with("site.policy:1: duplicate name \"none\""),
            "{e}"
        );
        // The same key under two names.
        let e = line_err(&format!("{w1}witness w2 {}\n", key_hex(1)));
        assert!(
            e.starts_with("site.policy:2: witness \"w2\" has the key"),
            "{e}"
        );
        // Cycles: a group cannot name itself, nor a group defined after it.
        let e = line_err(&format!("{w1}group g any w1 g\nquorum g\n"));
        assert!(
            e.starts_with("site.policy:2: group \"g\" lists itself"),
            "{e}"
        );
        let e = line_err(&format!(
            "{w1}group a any w1 b\ngroup b any w1 a\nquorum a\n"
        ));
        assert!(e.starts_with("site.policy:2: unknown member \"b\""), "{e}");
        // Missing and repeated quorum.
        let e = line_err(&w1);
        assert_eq!(e, "site.policy: no quorum line: expected `quorum NAME` naming a witness or group (`quorum none` for no cosignature)");
        let e = line_err(&format!("{w1}quorum w1\nquorum w1\n"));
        assert!(e.starts_with("site.policy:3: second quorum"), "{e}");
        let e = line_err(&format!("{w1}quorum w9\n"));
        assert!(e.starts_with("site.policy:2: unknown quorum \"w9\""), "{e}");
        // Thresholds.
        for t in ["0", "3", "-1", "01", "two", "+1"] {
            let e = line_err(&format!(
                "{w1}witness w2 {}\ngroup g {t} w1 w2\n",
                key_hex(2)
            ));
            assert!(
                e.starts_with("site.policy:3: invalid threshold"),
                "{t}: {e}"
            );
        }
        let e = line_err(&format!("{w1}group g any w1 w1\n"));
        assert!(
            e.starts_with("site.policy:2: member \"w1\" listed twice"),
            "{e}"
        );
        let e = line_err(&format!("{w1}group g any\n"));
        assert!(
            e.starts_with("site.policy:2: group \"g\" has no member"),
            "{e}"
        );
        // Bad keys.
        let e = line_err("witness w1 abcd\n");
        assert!(
            e.starts_with("site.policy:1: expected a key of 64 hex digits"),
            "{e}"
        );
        let e = line_err(&format!("witness w1 {}\n", "00".repeat(32)));
        assert!(e.contains("small order"), "{e}");
        let e = line_err("witness w1 w1+00000000+BAAA\n");
        assert!(
            e.starts_with("site.policy:1: witness key is neither"),
            "{e}"
        );
        let signer =
            note::encode_verifier_key("w1", &SigningKey::from_bytes(&[1; 32]).verifying_key());
        let e = line_err(&format!("witness w1 {signer}\n"));
        assert!(e.contains("0x04"), "{e}");
        let e = line_err("log nothex\n");
        assert!(e.starts_with("site.policy:1: log key is neither"), "{e}");
        // Syntax.
        let e = line_err("witness w1\n");
        assert!(
            e.starts_with("site.policy:1: expected `witness NAME KEY [URL]`"),
            "{e}"
        );
        let e = line_err("quorum\n");
        assert!(
            e.starts_with("site.policy:1: expected `quorum NAME`"),
            "{e}"
        );
        let e = line_err("cosigner w1 x\n");
        assert!(
            e.starts_with("site.policy:1: unknown keyword \"cosigner\""),
            "{e}"
        );
        // Every error is one line.
        assert!(!e.contains('\n'));
    }

    #[test]
    fn sigsum_builtin_policy_parses() {
        // sigsum-go's sigsum-generic-2025-1 policy, as published.
        let text = "\
# This is a Sigsum trust policy using the log at https://seasalp.glasklar.is
log 0ec7e16843119b120377a73913ac6acbc2d03d82432e2c36b841b09a95841f25 https://seasalp.glasklar.is
witness witness.glasklar.is            b2106db9065ec97f25e09c18839216751a6e26d8ed8b41e485a563d3d1498536
witness witness.mullvad.net            15d6d0141543247b74bab3c1076372d9c894f619c376d64b29aa312cc00f61ad
witness tillitis.se/tillitis-witness-1 076be8c9ee7ea60916f0df3608c945d7730082ecb37749dad2c9ed339fea770c
group quorum-rule 2 witness.glasklar.is witness.mullvad.net tillitis.se/tillitis-witness-1
quorum quorum-rule
";
        let p = Policy::parse(text, "sigsum-generic-2025-1").unwrap();
        assert_eq!(p.witnesses().len(), 3);
        assert!(
            p.quorum(&set(&[
                "witness.mullvad.net",
                "tillitis.se/tillitis-witness-1"
            ]))
            .met
        );
        assert!(!p.quorum(&set(&["witness.mullvad.net"])).met);
    }
}
