//! Promise: the simulated SQL Server offers TLS as a SQL Server with a certificate that does
//! not force encryption: a client that requires or asks for encryption gets every message
//! after pre-login encrypted, a client with encryption off gets its login encrypted and the
//! rest in plaintext, a client that cannot encrypt gets plaintext; a client that pins the
//! drill's CA accepts the server, a client that pins it refuses a server certificate issued by
//! another CA, and the server goes on serving. Each test reads the wire through a tap: what
//! is said to be encrypted is checked not to be there in clear.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use runledger_sim::{InitOptions, Scenario};
use tiberius::EncryptionLevel;

const ENCRYPT_OFF: u8 = 0;
const ENCRYPT_ON: u8 = 1;
const ENCRYPT_NOT_SUP: u8 = 2;

/// A batch whose text is easy to look for on the wire.
const MARKED: &str = "SELECT @@SERVERNAME AS wire_marker_column";

async fn server_name(c: &mut Sql) -> Option<String> {
    first_text(&batch(c, MARKED).await.unwrap(), "wire_marker_column")
}

#[test]
fn required_with_the_pinned_ca_encrypts_everything_after_pre_login() {
    let dc = Dc::new(Scenario::Normal);
    let tap = Tap::new(dc.bak());
    let through = tap.instance(dc.bak());
    rt().block_on(async {
        let mut c = connect_encrypted(&through, EncryptionLevel::Required, Some(&dc.ca()))
            .await
            .expect("login over tls");
        assert_eq!(server_name(&mut c).await.as_deref(), Some("PCSQLDR01"));
        let r = batch(&mut c, "SELECT name FROM sys.databases WHERE name = N'mgc'")
            .await
            .unwrap();
        assert_eq!(first_text(&r, "name").as_deref(), Some("mgc"));
    });
    assert_eq!(tap.server_encryption(), Some(ENCRYPT_ON));
    let (sent, received) = (tap.sent(), tap.received());
    assert!(
        !contains(&sent, &utf16(&dc.bak().user)),
        "the login in clear"
    );
    assert!(!contains(&sent, &utf16(MARKED)), "a batch in clear");
    assert!(
        !contains(&received, &utf16("PCSQLDR01")),
        "a result in clear"
    );
}

#[test]
fn encryption_off_encrypts_the_login_and_nothing_after_it() {
    let dc = Dc::new(Scenario::Normal);
    let tap = Tap::new(dc.bak());
    let through = tap.instance(dc.bak());
    rt().block_on(async {
        let mut c = connect_encrypted(&through, EncryptionLevel::Off, Some(&dc.ca()))
            .await
            .expect("login with the login encrypted");
        for _ in 0..3 {
            assert_eq!(server_name(&mut c).await.as_deref(), Some("PCSQLDR01"));
        }
        let r = batch(
            &mut c,
            "SELECT state_desc FROM sys.databases WHERE name = N'mgc'",
        )
        .await
        .unwrap();
        assert_eq!(first_text(&r, "state_desc").as_deref(), Some("RESTORING"));
    });
    assert_eq!(tap.server_encryption(), Some(ENCRYPT_OFF));
    let (sent, received) = (tap.sent(), tap.received());
    assert!(
        !contains(&sent, &utf16(&dc.bak().user)),
        "the login in clear"
    );
    // The login response already travels in plaintext, as the client reads it.
    assert!(contains(&received, &utf16("master")), "login response");
    assert!(contains(&sent, &utf16(MARKED)), "batches after the login");
    assert!(contains(&received, &utf16("PCSQLDR01")), "results");
}

#[test]
fn a_client_that_cannot_encrypt_gets_no_tls() {
    let dc = Dc::new(Scenario::Normal);
    let tap = Tap::new(dc.bak());
    let through = tap.instance(dc.bak());
    rt().block_on(async {
        let mut c = connect_encrypted(&through, EncryptionLevel::NotSupported, None)
            .await
            .expect("plaintext login");
        assert_eq!(server_name(&mut c).await.as_deref(), Some("PCSQLDR01"));
    });
    assert_eq!(tap.server_encryption(), Some(ENCRYPT_NOT_SUP));
    assert!(contains(&tap.sent(), &utf16(&dc.bak().user)));
    assert!(contains(&tap.sent(), &utf16(MARKED)));
}

#[test]
fn a_data_center_without_a_certificate_offers_no_encryption() {
    let dir = tempfile::tempdir().unwrap();
    let instances = runledger_sim::init(dir.path(), &InitOptions::default()).unwrap();
    // As made before the simulator offered TLS.
    let sim = runledger_sim::sim_dir(dir.path());
    for file in ["ca.pem", "server.pem", "server.key"] {
        std::fs::remove_file(sim.join(file)).unwrap();
    }
    let _server = runledger_sim::start(dir.path()).unwrap();
    let bak = &instances[0];
    // FreeTDS' default asks for the login to be encrypted and settles for plaintext.
    let tap = Tap::new(bak);
    let (out, err, _) = tsql(&tap.instance(bak), &bak.password, MARKED);
    assert!(out.contains("PCSQLDR01"), "stdout: {out}\nstderr: {err}");
    assert_eq!(tap.server_encryption(), Some(ENCRYPT_NOT_SUP));
    assert!(contains(&tap.sent(), &utf16(&bak.user)));
    // A client that requires encryption gets none, and no login either.
    rt().block_on(async {
        let refused = connect_encrypted(bak, EncryptionLevel::Required, None).await;
        assert!(refused.is_err(), "a login without the encryption required");
        let mut c = connect(bak).await;
        assert_eq!(server_name(&mut c).await.as_deref(), Some("PCSQLDR01"));
    });
}

#[test]
fn a_certificate_from_another_ca_is_refused_and_the_server_serves_on() {
    let dc = Dc::with_wrong_ca();
    rt().block_on(async {
        for _ in 0..2 {
            let err = match connect_encrypted(dc.bak(), EncryptionLevel::Required, Some(&dc.ca()))
                .await
            {
                Ok(_) => panic!("a certificate from another CA was accepted"),
                Err(e) => e.to_string(),
            };
            assert!(
                err.contains("certificate") && err.contains("UnknownIssuer"),
                "{err}"
            );
        }
        // The server shrugged it off: other clients still get in, with and without TLS.
        let mut c = connect(dc.bak()).await;
        assert_eq!(server_name(&mut c).await.as_deref(), Some("PCSQLDR01"));
        let issuer = runledger_sim::sim_dir(dc.path()).join("server-issuer.pem");
        let mut c = connect_encrypted(dc.bak(), EncryptionLevel::Required, Some(&issuer))
            .await
            .expect("the server's real issuer is accepted");
        assert_eq!(server_name(&mut c).await.as_deref(), Some("PCSQLDR01"));
    });
}

#[test]
fn a_client_that_sends_no_tls_after_asking_for_it_loses_only_its_own_connection() {
    use runledger_sim::tds::packet::{read_message, write_message, PacketType};
    let dc = Dc::new(Scenario::Normal);
    let inst = dc.bak();
    let mut s = std::net::TcpStream::connect((inst.host.as_str(), inst.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let prelogin = [
        0u8, 0, 11, 0, 6, 1, 0, 17, 0, 1, 0xFF, 11, 0, 0, 0, 0, 0, ENCRYPT_ON,
    ];
    write_message(&mut s, PacketType::PreLogin, 0, 4096, &prelogin).unwrap();
    read_message(&mut s).unwrap().unwrap();
    // Not a TLS record: the server answers with an alert, or nothing, and closes.
    write_message(&mut s, PacketType::PreLogin, 0, 4096, b"no tls here").unwrap();
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut rest).expect("the server closes the connection");
    rt().block_on(async {
        let mut c = connect_encrypted(inst, EncryptionLevel::Required, Some(&dc.ca()))
            .await
            .unwrap();
        assert_eq!(server_name(&mut c).await.as_deref(), Some("PCSQLDR01"));
    });
}

#[test]
fn a_kill_from_another_session_ends_a_restore_over_tls() {
    let dc = Dc::with(InitOptions {
        pace_ms: 5_000,
        ..InitOptions::default()
    });
    let status = runledger_sim::status(dc.path()).unwrap();
    let next = status
        .files
        .iter()
        .find(|f| f.in_dest && !f.restored)
        .unwrap();
    let restore = format!(
        "RESTORE LOG [mgc] FROM DISK = N'{}' WITH NORECOVERY",
        dc.dest().join(&next.name).display()
    );
    let ca = dc.ca();
    let started = Instant::now();
    rt().block_on(async {
        let mut victim = connect_encrypted(dc.bak(), EncryptionLevel::Required, Some(&ca))
            .await
            .unwrap();
        let spid = batch(&mut victim, "SELECT @@SPID AS spid").await.unwrap()[0][0]
            .get::<i32, _>("spid")
            .unwrap();
        let mut killer = connect_encrypted(dc.bak(), EncryptionLevel::Required, Some(&ca))
            .await
            .unwrap();
        let kill = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            batch(&mut killer, &format!("KILL {spid}")).await
        };
        let (restored, killed) = tokio::join!(batch(&mut victim, &restore), kill);
        killed.expect("KILL runs");
        assert!(restored.is_err(), "the killed session's restore finished");
    });
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the restore ran its whole pace"
    );
    let after = runledger_sim::status(dc.path()).unwrap();
    assert!(
        after.history.iter().all(|h| !h.command.contains("RESTORE")),
        "the killed restore changed nothing: {:?}",
        after.history
    );
    assert_eq!(
        after.instances[0].databases[0].redo_start_lsn,
        status.instances[0].databases[0].redo_start_lsn
    );
}

/// A freetds.conf with `encryption` set, pinning the drill's CA, and the file FreeTDS logs
/// the connection to.
fn freetds_conf(dc: &Dc, encryption: &str) -> (PathBuf, PathBuf) {
    let conf = dc.path().join(format!("freetds-{encryption}.conf"));
    let dump = dc.path().join(format!("freetds-{encryption}.log"));
    std::fs::write(
        &conf,
        format!(
            "[global]\n\ttds version = 7.4\n\tencryption = {encryption}\n\tca file = {}\n\tdump file = {}\n",
            dc.ca().display(),
            dump.display()
        ),
    )
    .unwrap();
    (conf, dump)
}

fn tsql_through(tap: &Tap, dc: &Dc, conf: Option<&Path>) -> (String, String, bool) {
    tsql_with(&tap.instance(dc.bak()), &dc.bak().password, MARKED, conf)
}

#[test]
fn tsql_encrypts_the_login_by_default_and_everything_when_it_requires_encryption() {
    let dc = Dc::new(Scenario::Normal);

    // FreeTDS' default (`encryption = request`) sends ENCRYPT_OFF: the login only.
    let tap = Tap::new(dc.bak());
    let (out, err, _) = tsql_through(&tap, &dc, None);
    assert!(out.contains("PCSQLDR01"), "stdout: {out}\nstderr: {err}");
    assert_eq!(tap.server_encryption(), Some(ENCRYPT_OFF));
    assert!(
        !contains(&tap.sent(), &utf16(&dc.bak().user)),
        "login in clear"
    );
    assert!(contains(&tap.sent(), &utf16(MARKED)));

    let tap = Tap::new(dc.bak());
    let (conf, _) = freetds_conf(&dc, "require");
    let (out, err, _) = tsql_through(&tap, &dc, Some(&conf));
    assert!(out.contains("PCSQLDR01"), "stdout: {out}\nstderr: {err}");
    assert_eq!(tap.server_encryption(), Some(ENCRYPT_ON));
    assert!(
        !contains(&tap.sent(), &utf16(&dc.bak().user)),
        "login in clear"
    );
    assert!(!contains(&tap.sent(), &utf16(MARKED)), "batch in clear");
    assert!(
        !contains(&tap.received(), &utf16("PCSQLDR01")),
        "result in clear"
    );
}

#[test]
fn tsql_that_pins_the_ca_refuses_a_certificate_from_another_ca() {
    let dc = Dc::with_wrong_ca();
    let (conf, dump) = freetds_conf(&dc, "require");
    let (out, err, _) = tsql_with(dc.bak(), &dc.bak().password, MARKED, Some(&conf));
    assert!(!out.contains("PCSQLDR01"), "stdout: {out}\nstderr: {err}");
    let log = std::fs::read_to_string(&dump).unwrap();
    assert!(
        log.contains("handshake failed: Error in the certificate"),
        "FreeTDS refused the connection for another reason: {:?}",
        log.lines()
            .filter(|l| l.contains("fail"))
            .collect::<Vec<_>>()
    );
    // The server goes on serving.
    let (out, err, _) = tsql(dc.bak(), &dc.bak().password, MARKED);
    assert!(out.contains("PCSQLDR01"), "stdout: {out}\nstderr: {err}");
}

#[test]
fn a_certificate_without_its_key_stops_the_server_at_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    runledger_sim::init(dir.path(), &InitOptions::default()).unwrap();
    let key = runledger_sim::sim_dir(dir.path()).join("server.key");
    std::fs::remove_file(&key).unwrap();
    let err = match runledger_sim::start(dir.path()) {
        Ok(_) => panic!("a server started without its private key"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&key.display().to_string()), "{err}");
}
