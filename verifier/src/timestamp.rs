//! Trusted time: RFC 3161 time-stamp tokens over checkpoints, checked offline.
//!
//! A run that is given a time-stamping authority (TSA) sends it the SHA-256 of each checkpoint's
//! note body (the text before the blank line that precedes the signature lines, so a
//! cosignature added later does not change what was stamped) and keeps the token it answers
//! beside the checkpoint: `<size>.tsr` beside `<size>.txt` in the journal's history,
//! `checkpoint.tsr` beside `checkpoint.txt` ([`token_path`]). The token proves that the
//! checkpoint — and so every event it covers — existed by the TSA's time. It says nothing of the
//! host's clock for other events.
//!
//! [`verify`] checks one token against the body and the TSA certificates an auditor trusts,
//! with no network: a CMS SignedData whose content is a TSTInfo, the TSTInfo's message imprint
//! equal to the body's SHA-256, the signer one of the given certificates (by issuer and serial
//! or by subject key identifier), its signed attributes naming the TSTInfo content type and
//! its digest, their signature valid under the certificate's key (RSA PKCS#1 v1.5 with SHA-256,
//! or ECDSA P-256 with SHA-256), the certificate marked for time-stamping (extended key usage
//! `id-kp-timeStamping`) and valid at the token's time. The certificate is trusted as given:
//! no chain to a CA is built. The ASN.1 is RustCrypto's (`cms`, `x509-cert`, `x509-tsp`).

use std::path::{Path, PathBuf};

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode, Tag, Tagged};
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectKeyIdentifier};
use x509_cert::Certificate;
use x509_tsp::TstInfo;

/// Hash algorithms a token's message imprint may use: SHA-256 only.
pub const SUPPORTED_HASHES: &str = "SHA-256";
/// Signature kinds a token may be signed with.
pub const SUPPORTED_SIGNATURES: &str = "RSA PKCS#1 v1.5 with SHA-256, ECDSA P-256 with SHA-256";

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// `id-ct-TSTInfo`, the content type of a time-stamp token's signed content.
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// SHA-256.
pub const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const ID_CE_SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");

/// What a token says, once read (and, from [`verify`], checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// The TSA's time, `YYYY-MM-DDTHH:MM:SSZ`.
    pub gen_time: String,
    /// The same, in seconds since 1970.
    pub gen_unix: u64,
    /// The token's serial number, lowercase hex.
    pub serial: String,
    /// The TSA's policy (an object identifier).
    pub policy: String,
    /// Who signed: the certificate's subject after [`verify`]; the name the token gives, as
    /// claimed, after [`read`].
    pub tsa: String,
}

/// Why a token does not hold.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimestampError {
    /// Not a time-stamp token this verifier can read.
    #[error("not a time-stamp token: {0}")]
    Malformed(String),
    /// The token stamps other bytes than the checkpoint beside it.
    #[error("the token stamps another text: its imprint is {found}, the checkpoint's body hashes to {expected}")]
    Imprint {
        /// SHA-256 of the body, hex.
        expected: String,
        /// The token's imprint, hex.
        found: String,
    },
    /// A hash or signature algorithm this verifier does not check.
    #[error("{0}")]
    Unsupported(String),
    /// No given certificate signed it, or the signature does not verify.
    #[error("{0}")]
    Signature(String),
    /// The signing certificate is not one for time-stamping at the token's time.
    #[error("{0}")]
    Certificate(String),
}

/// A TSA certificate an auditor trusts (`--tsa-cert`).
#[derive(Debug, Clone)]
pub struct TsaCert {
    cert: Certificate,
    subject: String,
}

impl TsaCert {
    /// The certificate's subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

/// Every certificate of a PEM file (one or several `CERTIFICATE` blocks).
pub fn load_pem(pem: &[u8]) -> Result<Vec<TsaCert>, String> {
    let certs =
        Certificate::load_pem_chain(pem).map_err(|e| format!("not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in it".into());
    }
    Ok(certs
        .into_iter()
        .map(|cert| TsaCert {
            subject: cert.tbs_certificate.subject.to_string(),
            cert,
        })
        .collect())
}

/// The certificates of the trusted TSAs in the PEM files `paths` (`--tsa-cert`), or None when
/// none is given: the tokens are then only listed, unchecked.
pub fn load_certs(paths: &[PathBuf]) -> Result<Option<Vec<TsaCert>>, String> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut certs = Vec::new();
    for p in paths {
        let pem =
            std::fs::read(p).map_err(|e| format!("cannot read --tsa-cert {}: {e}", p.display()))?;
        certs.extend(load_pem(&pem).map_err(|e| format!("--tsa-cert {}: {e}", p.display()))?);
    }
    Ok(Some(certs))
}

/// The token of a checkpoint file: `X.tsr` for `X.txt` (`12.tsr` beside `12.txt`,
/// `checkpoint.tsr` beside `checkpoint.txt`), `FILE.tsr` for a name without `.txt`.
pub fn token_path(checkpoint: &Path) -> PathBuf {
    let mut name = checkpoint.as_os_str().to_owned();
    if checkpoint.extension().is_some_and(|e| e == "txt") {
        return checkpoint.with_extension("tsr");
    }
    name.push(".tsr");
    PathBuf::from(name)
}

/// The tokens beside a journal's kept checkpoints (`<journal>.checkpoints/<size>.tsr`) and
/// beside the checkpoint files `given` ([`token_path`]): `(checkpoint, token)` for each token
/// that exists, the kept ones by increasing size first.
pub fn beside(journal: &Path, given: &[PathBuf]) -> Vec<(PathBuf, PathBuf)> {
    let mut dir = journal.as_os_str().to_owned();
    dir.push(".checkpoints");
    let dir = PathBuf::from(dir);
    let mut kept: Vec<(u64, PathBuf)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let size = name
                .to_str()?
                .strip_suffix(".tsr")
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))?
                .parse::<u64>()
                .ok()?;
            Some((size, entry.path()))
        })
        .collect();
    kept.sort();
    let mut out: Vec<(PathBuf, PathBuf)> = kept
        .into_iter()
        .map(|(size, token)| (dir.join(format!("{size}.txt")), token))
        .collect();
    for cp in given {
        let token = token_path(cp);
        if token.is_file() {
            out.push((cp.clone(), token));
        }
    }
    out
}

/// Adds the tokens [`beside`] the journal and the given checkpoints to `options`. With TSA
/// certificates in `options`, each stamped checkpoint is also held against the journal (a
/// token counts only over a checkpoint the journal holds); without, the tokens are only
/// listed, unchecked.
pub fn add_stamps(
    options: &mut crate::verify::Options,
    journal: &Path,
    given: &[PathBuf],
) -> Result<(), String> {
    for (cp, token_file) in beside(journal, given) {
        let name = cp.display().to_string();
        let token = std::fs::read(&token_file)
            .map_err(|e| format!("cannot read time-stamp token {}: {e}", token_file.display()))?;
        if options.tsa_certs.is_some() && !options.checkpoints.iter().any(|(n, _)| *n == name) {
            let text = std::fs::read_to_string(&cp).map_err(|e| {
                format!(
                    "cannot read checkpoint {} (stamped by {}): {e}",
                    cp.display(),
                    token_file.display()
                )
            })?;
            options.checkpoints.push((name.clone(), text));
        }
        options.stamps.push(crate::verify::StampInput {
            checkpoint: name,
            path: token_file.display().to_string(),
            token,
        });
    }
    Ok(())
}

/// The bytes a checkpoint's token stamps: its note body, the text before the blank line that
/// precedes the signature lines, with its final newline.
pub fn stamped_body(checkpoint_text: &str) -> Result<String, String> {
    crate::note::parse(checkpoint_text)
        .map(|n| n.body)
        .map_err(|e| e.to_string())
}

/// SHA-256 of `body`, the imprint a request for it carries.
pub fn imprint(body: &[u8]) -> [u8; 32] {
    Sha256::digest(body).into()
}

/// Reads a token without checking its signature: what it claims (for a report that says it
/// was not checked), and its TSTInfo.
pub fn read(token_der: &[u8]) -> Result<Stamp, TimestampError> {
    let (_, tst) = decode(token_der)?;
    let tsa = match &tst.tsa {
        Some(GeneralName::DirectoryName(n)) => n.to_string(),
        Some(_) => "(a TSA named otherwise than by a directory name)".into(),
        None => "(the token names no TSA)".into(),
    };
    Ok(stamp_of(&tst, tsa))
}

/// The TSTInfo of a token, with its nonce and imprint, for the client that asked for it.
pub fn tst_info(token_der: &[u8]) -> Result<TstInfo, TimestampError> {
    decode(token_der).map(|(_, tst)| tst)
}

/// Checks a token over `body` against the TSA certificates trusted; see the module's text.
pub fn verify(
    token_der: &[u8],
    body: &[u8],
    tsa_certs: &[TsaCert],
) -> Result<Stamp, TimestampError> {
    let (signed, tst) = decode(token_der)?;
    check_imprint(&tst, body)?;
    let econtent = econtent(&signed)?;
    let econtent_digest: [u8; 32] = Sha256::digest(econtent).into();

    let mut why = Vec::new();
    for info in signed.signer_infos.0.iter() {
        let Some(tsa) = tsa_certs.iter().find(|c| signed_by(info, &c.cert)) else {
            why.push(format!(
                "a signer ({}) that is none of the certificates given",
                signer_name(info)
            ));
            continue;
        };
        if !signed
            .digest_algorithms
            .iter()
            .any(|a| a.oid == info.digest_alg.oid)
        {
            return Err(TimestampError::Malformed(format!(
                "its signer's digest {} is not among the token's digest algorithms",
                info.digest_alg.oid
            )));
        }
        check_signer(info, &tsa.cert, &econtent_digest)?;
        check_certificate(&tsa.cert, &tst)?;
        return Ok(stamp_of(&tst, tsa.subject.clone()));
    }
    Err(TimestampError::Signature(format!(
        "no signature by a given TSA certificate ({}): the token has {}",
        tsa_certs
            .iter()
            .map(|c| c.subject.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        if why.is_empty() {
            "no signer".to_string()
        } else {
            why.join(", ")
        }
    )))
}

fn malformed(what: &str, e: impl std::fmt::Display) -> TimestampError {
    TimestampError::Malformed(format!("{what}: {e}"))
}

/// The token's SignedData and TSTInfo.
fn decode(token_der: &[u8]) -> Result<(SignedData, TstInfo), TimestampError> {
    let ci = ContentInfo::from_der(token_der).map_err(|e| malformed("ContentInfo", e))?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(TimestampError::Malformed(format!(
            "its content type is {}, not signed data",
            ci.content_type
        )));
    }
    let signed: SignedData = ci
        .content
        .decode_as()
        .map_err(|e| malformed("SignedData", e))?;
    if signed.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(TimestampError::Malformed(format!(
            "its signed content is {}, not a TSTInfo",
            signed.encap_content_info.econtent_type
        )));
    }
    let tst = TstInfo::from_der(econtent(&signed)?).map_err(|e| malformed("TSTInfo", e))?;
    Ok((signed, tst))
}

/// The DER bytes of the TSTInfo: the contents of the eContent OCTET STRING.
fn econtent(signed: &SignedData) -> Result<&[u8], TimestampError> {
    let any = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| TimestampError::Malformed("it carries no TSTInfo".into()))?;
    if any.tag() != Tag::OctetString {
        return Err(TimestampError::Malformed(
            "its eContent is not an OCTET STRING".into(),
        ));
    }
    Ok(any.value())
}

fn check_imprint(tst: &TstInfo, body: &[u8]) -> Result<(), TimestampError> {
    let mi = &tst.message_imprint;
    if mi.hash_algorithm.oid != ID_SHA256 {
        return Err(TimestampError::Unsupported(format!(
            "the token's imprint uses hash algorithm {}; supported: {SUPPORTED_HASHES}",
            mi.hash_algorithm.oid
        )));
    }
    let expected = imprint(body);
    if mi.hashed_message.as_bytes() != expected {
        return Err(TimestampError::Imprint {
            expected: crate::signing::hex(&expected),
            found: crate::signing::hex(mi.hashed_message.as_bytes()),
        });
    }
    Ok(())
}

fn subject_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    let ext = cert
        .tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == ID_CE_SUBJECT_KEY_ID)?;
    let ski = SubjectKeyIdentifier::from_der(ext.extn_value.as_bytes()).ok()?;
    Some(ski.0.as_bytes().to_vec())
}

fn signed_by(info: &SignerInfo, cert: &Certificate) -> bool {
    match &info.sid {
        SignerIdentifier::IssuerAndSerialNumber(is) => {
            is.issuer == cert.tbs_certificate.issuer
                && is.serial_number == cert.tbs_certificate.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            subject_key_id(cert).is_some_and(|k| k == ski.0.as_bytes())
        }
    }
}

fn signer_name(info: &SignerInfo) -> String {
    match &info.sid {
        SignerIdentifier::IssuerAndSerialNumber(is) => format!(
            "issuer {}, serial {}",
            is.issuer,
            crate::signing::hex(is.serial_number.as_bytes())
        ),
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            format!("subject key id {}", crate::signing::hex(ski.0.as_bytes()))
        }
    }
}

/// The signed attributes name the TSTInfo and its digest, and their signature verifies under
/// the certificate's key.
fn check_signer(
    info: &SignerInfo,
    cert: &Certificate,
    econtent_digest: &[u8; 32],
) -> Result<(), TimestampError> {
    if info.digest_alg.oid != ID_SHA256 {
        return Err(TimestampError::Unsupported(format!(
            "the token's signer digest is {}; supported: {SUPPORTED_HASHES}",
            info.digest_alg.oid
        )));
    }
    let attrs = info.signed_attrs.as_ref().ok_or_else(|| {
        TimestampError::Signature("the token's signer has no signed attributes".into())
    })?;
    let value_of = |oid: ObjectIdentifier, name: &str| {
        let attr = attrs
            .iter()
            .find(|a| a.oid == oid)
            .ok_or_else(|| TimestampError::Signature(format!("no {name} signed attribute")))?;
        match attr.values.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(TimestampError::Signature(format!(
                "the {name} signed attribute has {} values, not one",
                attr.values.len()
            ))),
        }
    };
    let content_type: ObjectIdentifier = value_of(ID_CONTENT_TYPE, "content-type")?
        .decode_as()
        .map_err(|e| malformed("content-type attribute", e))?;
    if content_type != ID_CT_TST_INFO {
        return Err(TimestampError::Signature(format!(
            "the signed content-type attribute is {content_type}, not id-ct-TSTInfo"
        )));
    }
    let digest: OctetString = value_of(ID_MESSAGE_DIGEST, "message-digest")?
        .decode_as()
        .map_err(|e| malformed("message-digest attribute", e))?;
    if digest.as_bytes() != econtent_digest {
        return Err(TimestampError::Signature(
            "the signed message-digest attribute is not the SHA-256 of the token's TSTInfo".into(),
        ));
    }
    // The signature is over the DER encoding of the attributes as a SET OF.
    let signed_bytes = attrs
        .to_der()
        .map_err(|e| malformed("signed attributes", e))?;
    let signature = info.signature.as_bytes();
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let spki_der = spki
        .to_der()
        .map_err(|e| malformed("certificate public key", e))?;
    let sig_alg = info.signature_algorithm.oid;
    let bad = |e: &dyn std::fmt::Display| {
        TimestampError::Signature(format!(
            "the token's signature does not verify under the key of {}: {e}",
            cert.tbs_certificate.subject
        ))
    };
    if (sig_alg == RSA_ENCRYPTION || sig_alg == SHA256_WITH_RSA)
        && spki.algorithm.oid == RSA_ENCRYPTION
    {
        use rsa::pkcs8::DecodePublicKey as _;
        let key = rsa::RsaPublicKey::from_public_key_der(&spki_der)
            .map_err(|e| malformed("RSA public key", e))?;
        let hashed = Sha256::digest(&signed_bytes);
        key.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &hashed, signature)
            .map_err(|e| bad(&e))
    } else if sig_alg == ECDSA_WITH_SHA256 && spki.algorithm.oid == ID_EC_PUBLIC_KEY {
        use p256::ecdsa::signature::Verifier as _;
        use p256::pkcs8::DecodePublicKey as _;
        let key = p256::ecdsa::VerifyingKey::from_public_key_der(&spki_der)
            .map_err(|e| malformed("P-256 public key", e))?;
        let sig = p256::ecdsa::Signature::from_der(signature).map_err(|e| bad(&e))?;
        key.verify(&signed_bytes, &sig).map_err(|e| bad(&e))
    } else {
        Err(TimestampError::Unsupported(format!(
            "the token is signed with {sig_alg} by a {} key; supported: {SUPPORTED_SIGNATURES}",
            spki.algorithm.oid
        )))
    }
}

/// The certificate is for time-stamping and was valid at the token's time.
fn check_certificate(cert: &Certificate, tst: &TstInfo) -> Result<(), TimestampError> {
    let subject = &cert.tbs_certificate.subject;
    let eku = cert
        .tbs_certificate
        .extensions
        .as_ref()
        .and_then(|exts| exts.iter().find(|e| e.extn_id == ID_CE_EXT_KEY_USAGE))
        .and_then(|e| ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok());
    if !eku.is_some_and(|eku| eku.0.contains(&ID_KP_TIME_STAMPING)) {
        return Err(TimestampError::Certificate(format!(
            "certificate {subject} is not marked for time-stamping (extended key usage id-kp-timeStamping)"
        )));
    }
    let validity = &cert.tbs_certificate.validity;
    let at = tst.gen_time.to_unix_duration();
    if at < validity.not_before.to_unix_duration() || at > validity.not_after.to_unix_duration() {
        return Err(TimestampError::Certificate(format!(
            "certificate {subject} is valid from {} to {}, not at the token's time {}",
            validity.not_before,
            validity.not_after,
            tst.gen_time.to_date_time()
        )));
    }
    Ok(())
}

fn stamp_of(tst: &TstInfo, tsa: String) -> Stamp {
    Stamp {
        gen_time: tst.gen_time.to_date_time().to_string(),
        gen_unix: tst.gen_time.to_unix_duration().as_secs(),
        serial: crate::signing::hex(tst.serial_number.as_bytes()),
        policy: tst.policy.to_string(),
        tsa,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_sits_beside_its_checkpoint() {
        assert_eq!(
            token_path(Path::new("j.db.checkpoints/12.txt")),
            Path::new("j.db.checkpoints/12.tsr")
        );
        assert_eq!(
            token_path(Path::new("d/checkpoint.txt")),
            Path::new("d/checkpoint.tsr")
        );
        assert_eq!(token_path(Path::new("cp")), Path::new("cp.tsr"));
        assert_eq!(token_path(Path::new("cp.note")), Path::new("cp.note.tsr"));
    }

    /// The tokens and certificates of `fixtures/tsa/`, made by OpenSSL (`make.sh` there).
    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fixtures/tsa")
                .join(name),
        )
        .unwrap()
    }

    fn certs(name: &str) -> Vec<TsaCert> {
        load_pem(&fixture(name)).unwrap()
    }

    #[test]
    fn openssl_tokens_verify_with_rsa_and_p256() {
        let body = fixture("body");
        for k in ["rsa", "ec"] {
            let token = fixture(&format!("{k}.tsr"));
            let stamp = verify(&token, &body, &certs(&format!("{k}.pem"))).unwrap();
            assert_eq!(stamp.tsa, format!("CN=runledger test-only TSA {k}"));
            assert_eq!(stamp.policy, "1.3.6.1.4.1.99999.1");
            assert_eq!(stamp.gen_time.len(), "2026-01-01T00:00:00Z".len());
            // What it claims, read unchecked, is the same time.
            assert_eq!(read(&token).unwrap().gen_unix, stamp.gen_unix);
            // Among several certificates, the one that signed is found.
            let mut both = certs("ec.pem");
            both.extend(certs("rsa.pem"));
            assert_eq!(verify(&token, &body, &both).unwrap(), stamp);
        }
    }

    #[test]
    fn a_token_over_other_bytes_or_by_another_tsa_or_altered_fails() {
        let body = fixture("body");
        let token = fixture("rsa.tsr");
        let e = verify(&token, b"another checkpoint\n", &certs("rsa.pem")).unwrap_err();
        assert!(matches!(e, TimestampError::Imprint { .. }), "{e}");
        let e = verify(&token, &body, &certs("ec.pem")).unwrap_err();
        assert!(
            e.to_string()
                .contains("no signature by a given TSA certificate"),
            "{e}"
        );
        // The CA is not the TSA: a token is checked against the TSA's own certificate.
        assert!(verify(&token, &body, &certs("ca.pem")).is_err());
        // The same issuer, serial and key, but not marked for time-stamping.
        let e = verify(&token, &body, &certs("rsa-no-eku.pem")).unwrap_err();
        assert!(
            e.to_string().contains("not marked for time-stamping"),
            "{e}"
        );
        // Any byte of what is signed (the TSTInfo) or of the signature changed: never a pass.
        // (The unsigned parts — the embedded certificates — prove nothing and are not read.)
        // Where the TSTInfo lies in this fixture (`openssl asn1parse -inform DER -in rsa.tsr`).
        let tst_start = 59;
        let tst_end = tst_start + 3 + 151;
        let signed = (tst_start..tst_end).chain(token.len() - 256..token.len());
        for i in signed {
            let mut bad = token.clone();
            bad[i] ^= 0x01;
            assert!(verify(&bad, &body, &certs("rsa.pem")).is_err(), "byte {i}");
        }
    }

    #[test]
    fn what_is_not_a_token_is_said_so() {
        for bytes in [&b""[..], b"\x30\x03\x02\x01\x01", b"not der at all"] {
            assert!(matches!(read(bytes), Err(TimestampError::Malformed(_))));
            assert!(matches!(
                verify(bytes, b"body", &[]),
                Err(TimestampError::Malformed(_))
            ));
        }
    }
}
