//! The drill's certificates: a CA that a drill pins, and the certificate the simulated SQL
//! Server presents in the TLS handshake of pre-login.
//!
//! `generate` writes three files into `DIR/sim/`: `ca.pem` (the CA certificate, alone, as a
//! client's "trust this CA" setting wants it), `server.pem` (the server certificate followed by
//! the certificate of its issuer) and `server.key` (the server's private key, PKCS#8, readable
//! by its owner only). The server certificate names every address a drill may use for the
//! backup instances: `localhost`, `127.0.0.1` and the FQDNs of `PCSQLDR01` and `PCSQLDR02`.
//!
//! With `wrong_ca` the server certificate is issued by a second CA whose certificate is not the
//! one in `ca.pem` (it is written to `server-issuer.pem`, for whoever wants to see what the
//! server presents): a client that pins `ca.pem` must refuse the server.
//!
//! Keys are ECDSA P-256, made with `ring`; SQL Server itself is usually given an RSA
//! certificate, which changes nothing a TDS client can observe but the signature algorithm.
//! The CAs' private keys are never written: nothing signs after init.

use std::fs;
use std::io::Write;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use crate::datacenter::names;
use crate::SimError;

/// The CA certificate a drill pins (`trust_cert_ca`).
pub const CA_FILE: &str = "ca.pem";
/// The server's certificate chain, leaf first.
pub const SERVER_CERT_FILE: &str = "server.pem";
/// The server's private key (mode 0600 on unix).
pub const SERVER_KEY_FILE: &str = "server.key";
/// The certificate of the CA that really issued the server certificate, when it is not the
/// one in `ca.pem`.
pub const ISSUER_FILE: &str = "server-issuer.pem";

/// Makes the CA and the server certificate and writes them into `sim_dir` (`DIR/sim`).
pub fn generate(sim_dir: &Path, wrong_ca: bool) -> Result<(), SimError> {
    let fail = |file: &str| {
        let path = sim_dir.join(file);
        move |e: rcgen::Error| SimError::Certificate {
            path: path.clone(),
            reason: e.to_string(),
        }
    };
    let now = OffsetDateTime::now_utc();
    let (ca_params, ca_key) = ca("Contoso Drill Root CA", now).map_err(fail(CA_FILE))?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(fail(CA_FILE))?;
    let trusted = Issuer::new(ca_params, ca_key);

    let other = if wrong_ca {
        let (params, key) = ca("Contoso Drill Unknown CA", now).map_err(fail(ISSUER_FILE))?;
        let cert = params.self_signed(&key).map_err(fail(ISSUER_FILE))?;
        Some((cert, Issuer::new(params, key)))
    } else {
        None
    };
    let (issuer_cert, issuer) = match &other {
        Some((cert, issuer)) => (cert, issuer),
        None => (&ca_cert, &trusted),
    };

    let server_key = KeyPair::generate().map_err(fail(SERVER_KEY_FILE))?;
    let server_cert = server_params(now)
        .map_err(fail(SERVER_CERT_FILE))?
        .signed_by(&server_key, issuer)
        .map_err(fail(SERVER_CERT_FILE))?;

    write(&sim_dir.join(CA_FILE), ca_cert.pem().as_bytes(), false)?;
    if other.is_some() {
        write(
            &sim_dir.join(ISSUER_FILE),
            issuer_cert.pem().as_bytes(),
            false,
        )?;
    }
    let chain = format!("{}{}", server_cert.pem(), issuer_cert.pem());
    write(&sim_dir.join(SERVER_CERT_FILE), chain.as_bytes(), false)?;
    write(
        &sim_dir.join(SERVER_KEY_FILE),
        server_key.serialize_pem().as_bytes(),
        true,
    )?;
    Ok(())
}

fn ca(
    common_name: &str,
    now: OffsetDateTime,
) -> Result<(CertificateParams, KeyPair), rcgen::Error> {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(3650);
    Ok((params, KeyPair::generate()?))
}

fn server_params(now: OffsetDateTime) -> Result<CertificateParams, rcgen::Error> {
    let backup = format!("{}.{}", names::BACKUP, names::DOMAIN).to_lowercase();
    let mirror = format!("{}.{}", names::BACKUP_MIRROR, names::DOMAIN).to_lowercase();
    let mut params = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        backup.clone(),
        mirror,
    ])?;
    params.distinguished_name = name(&backup);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // SQL Server only loads a certificate meant for server authentication.
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(825);
    Ok(params)
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Contoso");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn write(path: &Path, bytes: &[u8], private: bool) -> Result<(), SimError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_are_written_and_the_key_is_private() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), false).unwrap();
        let ca = fs::read_to_string(dir.path().join(CA_FILE)).unwrap();
        let chain = fs::read_to_string(dir.path().join(SERVER_CERT_FILE)).unwrap();
        assert_eq!(ca.matches("BEGIN CERTIFICATE").count(), 1);
        assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(chain.ends_with(&ca), "the chain ends with the pinned CA");
        assert!(!dir.path().join(ISSUER_FILE).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(SERVER_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn with_the_wrong_ca_the_chain_does_not_end_with_the_pinned_one() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), true).unwrap();
        let ca = fs::read_to_string(dir.path().join(CA_FILE)).unwrap();
        let issuer = fs::read_to_string(dir.path().join(ISSUER_FILE)).unwrap();
        let chain = fs::read_to_string(dir.path().join(SERVER_CERT_FILE)).unwrap();
        assert_ne!(ca, issuer);
        assert!(chain.ends_with(&issuer) && !chain.contains(&ca));
    }
}
