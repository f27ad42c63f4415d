//! Promise: the SQL adapter speaks real TDS (tiberius over TCP) to the drill's simulated SQL
//! Server on loopback exactly as it would to production: logins, server errors with their
//! numbers, exact `numeric(25,0)` LSNs, each SQL type as the right `SqlValue`, several result
//! sets, timeouts that drop the session, and TLS that validates the server's certificate
//! against a pinned CA.

use std::path::{Path, PathBuf};
use std::time::Duration;

use runledger_engine::sql::{
    quote_nstring, Encryption, SqlAuth, SqlEndpoint, SqlError, SqlSession, SqlValue,
};
use runledger_sim::{InitOptions, Instance, ServerHandle};

const T: Duration = Duration::from_secs(20);

/// A simulated data center with its server running in this process; dropped together.
struct Dc {
    _server: ServerHandle,
    instances: Vec<Instance>,
    dir: tempfile::TempDir,
}

impl Dc {
    fn new(opts: InitOptions) -> Dc {
        Dc::made(opts, false)
    }

    /// A data center whose server certificate was issued by a CA other than the one in
    /// `DIR/sim/ca.pem`.
    fn with_wrong_ca() -> Dc {
        Dc::made(InitOptions::default(), true)
    }

    fn made(opts: InitOptions, wrong_ca: bool) -> Dc {
        let dir = tempfile::tempdir().unwrap();
        let instances = runledger_sim::init(dir.path(), &opts).unwrap();
        if wrong_ca {
            let sim = runledger_sim::sim_dir(dir.path());
            runledger_sim::certs::generate(&sim, true).unwrap();
        }
        let server = runledger_sim::start(dir.path()).unwrap();
        Dc {
            _server: server,
            instances,
            dir,
        }
    }

    fn bak(&self, database: &str) -> SqlEndpoint {
        let i = &self.instances[0];
        SqlEndpoint {
            name: i.name.clone(),
            host: i.host.clone(),
            port: i.port,
            instance: None,
            auth: SqlAuth::Sql {
                user: i.user.clone(),
                password: i.password.clone(),
            },
            encryption: Encryption::NotSupported,
            trust_server_certificate: false,
            trust_cert_ca: None,
            database: database.into(),
            application_name: "runledger adapter tests".into(),
            connect_timeout: T,
        }
    }

    /// [`Dc::bak`] with every message after pre-login encrypted, pinning `DIR/sim/ca.pem`.
    fn bak_tls(&self, database: &str) -> SqlEndpoint {
        SqlEndpoint {
            encryption: Encryption::Required,
            trust_cert_ca: Some(self.ca()),
            ..self.bak(database)
        }
    }

    fn ca(&self) -> PathBuf {
        runledger_sim::ca_path(self.dir.path())
    }

    /// Every log backup in LSN order as (path in the copy destination, FirstLSN, LastLSN),
    /// copying into the destination those still only on the share.
    fn chain(&self) -> Vec<(PathBuf, String, String)> {
        let status = runledger_sim::status(self.dir.path()).unwrap();
        let dest = runledger_sim::dest_dir(self.dir.path());
        let share = runledger_sim::share_dir(self.dir.path());
        let mut files: Vec<_> = status
            .files
            .iter()
            .filter(|f| f.in_share || f.in_dest)
            .map(|f| {
                let path = dest.join(&f.name);
                if !path.exists() {
                    std::fs::copy(share.join(&f.name), &path).unwrap();
                }
                (path, f.first_lsn.clone(), f.last_lsn.clone())
            })
            .collect();
        files.sort_by_key(|(_, first, _)| first.parse::<u128>().unwrap());
        files
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A file of the copy destination as the SQL Server names it (`D:\mgc-copy\…`): the server
/// sees Windows paths, not the folders of this machine.
fn server_path(local: &Path) -> String {
    let name = local.file_name().unwrap().to_string_lossy();
    format!("{}\\{name}", runledger_sim::datacenter::names::DEST_PATH)
}

fn restore_log(path: &Path) -> String {
    format!(
        "RESTORE LOG [mgc] FROM DISK = {} WITH FILE = 1, NORECOVERY",
        quote_nstring(&server_path(path))
    )
}

async fn redo_start_lsn(s: &mut SqlSession) -> u128 {
    let r = s
        .batch(
            "SELECT redo_start_lsn FROM sys.master_files WHERE database_id = DB_ID(N'mgc') AND file_id = 1",
            T,
        )
        .await
        .unwrap();
    r.result_sets[0].rows[0][0].as_u128().unwrap()
}

#[test]
fn logs_in_and_reads_the_server_name() {
    let dc = Dc::new(InitOptions::default());
    block_on(async {
        let mut s = SqlSession::connect(&dc.bak("master")).await.unwrap();
        assert_eq!(s.endpoint_name(), "BAK");
        let r = s.batch("SELECT @@SERVERNAME AS name", T).await.unwrap();
        assert_eq!(r.result_sets.len(), 1);
        assert_eq!(r.result_sets[0].columns, ["name"]);
        assert_eq!(
            r.result_sets[0].get(0, "NAME"),
            Some(&SqlValue::Text("PCSQLDR01".into()))
        );
        // tiberius 0.12 exposes neither INFO messages nor DONE counts (see sql.rs).
        assert!(r.messages.is_empty() && r.rows_affected.is_empty());
    });
}

#[test]
fn a_wrong_password_is_login_error_18456_without_the_password() {
    let dc = Dc::new(InitOptions::default());
    let mut ep = dc.bak("master");
    ep.auth = SqlAuth::Sql {
        user: "runledger".into(),
        password: "Wrong-Pa55word".into(),
    };
    let err = block_on(SqlSession::connect(&ep)).unwrap_err();
    match &err {
        SqlError::Login {
            endpoint, number, ..
        } => assert_eq!((endpoint.as_str(), *number), ("BAK", 18456)),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.number(), Some(18456));
    let text = format!("{err} {err:?} {ep:?}");
    assert!(!text.contains("Wrong-Pa55word"), "{text}");
    assert!(
        err.to_string().starts_with("log in to sql endpoint BAK"),
        "{err}"
    );
}

#[test]
fn a_database_in_restore_cannot_be_the_login_database() {
    let dc = Dc::new(InitOptions::default());
    let err = block_on(SqlSession::connect(&dc.bak("mgc"))).unwrap_err();
    // The server sends 4060 then 18456; tiberius keeps the first.
    assert_eq!(err.number(), Some(4060), "{err}");
}

#[test]
fn nothing_listening_is_a_connect_error_naming_the_endpoint() {
    let dc = Dc::new(InitOptions::default());
    let mut ep = dc.bak("master");
    // A port that was free a moment ago; nothing listens there.
    ep.port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = block_on(SqlSession::connect(&ep)).unwrap_err();
    assert!(matches!(err, SqlError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("BAK"), "{err}");
    assert!(err.to_string().contains(&ep.port.to_string()), "{err}");
}

#[test]
fn a_statement_the_server_refuses_is_a_server_error_quoting_it() {
    let dc = Dc::new(InitOptions::default());
    block_on(async {
        let mut s = SqlSession::connect(&dc.bak("master")).await.unwrap();
        let err = s.batch("CREATE TABLE t (x int)", T).await.unwrap_err();
        match &err {
            SqlError::Server {
                endpoint,
                number,
                severity,
                text,
                errors,
                ..
            } => {
                assert_eq!(endpoint, "BAK");
                assert!(*number > 0 && *severity > 10, "{err}");
                assert!(text.contains("CREATE TABLE t (x int)"), "{text}");
                assert_eq!(errors.len(), 1);
                assert_eq!(errors[0].number, *number);
            }
            other => panic!("{other:?}"),
        }
        // A server error leaves the session usable.
        assert!(s.is_open());
        s.batch("SELECT 1 AS one", T).await.unwrap();
    });
}

#[test]
fn restore_headeronly_gives_exact_lsns_and_typed_values() {
    let dc = Dc::new(InitOptions::default());
    let chain = dc.chain();
    let (path, first, last) = &chain[chain.len() - 1];
    let header = runledger_sim::backup_file::read_header(path).unwrap();
    block_on(async {
        let mut s = SqlSession::connect(&dc.bak("master")).await.unwrap();
        let sql = format!(
            "RESTORE HEADERONLY FROM DISK = {}",
            quote_nstring(&server_path(path))
        );
        let r = s.batch(&sql, T).await.unwrap();
        let h = &r.result_sets[0];
        assert_eq!(h.rows.len(), 1);
        // numeric(25,0), beyond f64's exact range, arrives digit for digit.
        assert_eq!(
            h.get(0, "FirstLSN"),
            Some(&SqlValue::Decimal(first.clone()))
        );
        assert_eq!(h.get(0, "lastlsn"), Some(&SqlValue::Decimal(last.clone())));
        assert!(first.len() >= 17, "a realistic LSN: {first}");
        // SMALLINT, TINYINT, INT, BIT, NVARCHAR, DATETIME, UNIQUEIDENTIFIER.
        assert_eq!(h.get(0, "BackupType"), Some(&SqlValue::Int(2)));
        assert_eq!(h.get(0, "DeviceType"), Some(&SqlValue::Int(2)));
        assert_eq!(h.get(0, "SoftwareVersionBuild"), Some(&SqlValue::Int(7001)));
        assert_eq!(h.get(0, "IsDamaged"), Some(&SqlValue::Bool(false)));
        assert_eq!(
            h.get(0, "HasBackupChecksums"),
            Some(&SqlValue::Bool(false)),
            "log shipping backs up without checksums unless the site asks"
        );
        assert_eq!(h.get(0, "BackupName"), Some(&SqlValue::Null));
        assert_eq!(
            h.get(0, "DatabaseName"),
            Some(&SqlValue::Text("mgc".into()))
        );
        assert_eq!(
            h.get(0, "BindingID"),
            Some(&SqlValue::Guid(header.family_guid.to_lowercase()))
        );
        let start = header.backup_start_date.replace(' ', "T");
        assert_eq!(
            h.get(0, "BackupStartDate"),
            Some(&SqlValue::DateTime(start[..23].to_string())),
            "sim wrote {}",
            header.backup_start_date
        );
        assert_eq!(h.get(0, "NoSuchColumn"), None);
    });
}

#[test]
fn bigint_and_several_result_sets_in_one_batch() {
    let dc = Dc::new(InitOptions::default());
    block_on(async {
        let mut s = SqlSession::connect(&dc.bak("master")).await.unwrap();
        let r = s
            .batch(
                "SET NOCOUNT ON; SELECT @@SERVERNAME AS server; SELECT TOP (1) backup_size FROM msdb.dbo.backupset ORDER BY backup_set_id; SELECT name, database_id FROM sys.databases WHERE name = N'mgc'",
                T,
            )
            .await
            .unwrap();
        assert_eq!(r.result_sets.len(), 3, "{r:?}");
        assert_eq!(r.result_sets[0].columns, ["server"]);
        // The full backup's size (50 MiB) as a BIGINT.
        assert_eq!(
            r.result_sets[1].get(0, "backup_size"),
            Some(&SqlValue::Int(52_428_800))
        );
        assert_eq!(
            r.result_sets[2].get(0, "name"),
            Some(&SqlValue::Text("mgc".into()))
        );
        assert!(matches!(
            r.result_sets[2].get(0, "database_id"),
            Some(SqlValue::Int(_))
        ));
    });
}

#[test]
fn a_procedures_return_code_is_read_with_a_select() {
    let dc = Dc::new(InitOptions::default());
    block_on(async {
        let mut s = SqlSession::connect(&dc.bak("master")).await.unwrap();
        let r = s
            .batch("DECLARE @rc int; EXEC @rc = sp_who2; SELECT @rc AS rc", T)
            .await
            .unwrap();
        let last = r.result_sets.last().unwrap();
        assert_eq!(last.get(0, "rc"), Some(&SqlValue::Int(0)), "{r:?}");
    });
}

#[test]
fn a_restore_out_of_order_is_4305_and_changes_nothing() {
    let dc = Dc::new(InitOptions::default());
    let chain = dc.chain();
    block_on(async {
        let mut s = SqlSession::connect(&dc.bak("master")).await.unwrap();
        let redo = redo_start_lsn(&mut s).await;
        // Skip the next file: the one after it begins after the database's current point.
        let too_recent = chain
            .iter()
            .find(|(_, first, _)| first.parse::<u128>().unwrap() > redo)
            .expect("a file beyond the next one");
        let err = s.batch(&restore_log(&too_recent.0), T).await.unwrap_err();
        assert_eq!(err.number(), Some(4305), "{err}");
        assert!(err.to_string().contains("4305"), "{err}");
        assert_eq!(redo_start_lsn(&mut s).await, redo);
    });
}

#[test]
fn a_timeout_drops_the_session_and_a_new_one_works() {
    let dc = Dc::new(InitOptions {
        pace_ms: 3_000,
        ..InitOptions::default()
    });
    let chain = dc.chain();
    block_on(async {
        let ep = dc.bak("master");
        let mut s = SqlSession::connect(&ep).await.unwrap();
        let redo = redo_start_lsn(&mut s).await;
        let next = chain
            .iter()
            .find(|(_, first, last)| {
                first.parse::<u128>().unwrap() <= redo && redo < last.parse::<u128>().unwrap()
            })
            .expect("the next file");
        let err = s
            .batch(&restore_log(&next.0), Duration::from_millis(300))
            .await
            .unwrap_err();
        match &err {
            SqlError::Timeout { endpoint, after } => {
                assert_eq!(
                    (endpoint.as_str(), *after),
                    ("BAK", Duration::from_millis(300))
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(!s.is_open());
        let again = s.batch("SELECT 1 AS one", T).await.unwrap_err();
        assert!(matches!(again, SqlError::Protocol { .. }), "{again:?}");
        let mut fresh = SqlSession::connect(&ep).await.unwrap();
        fresh.batch("SELECT @@SPID AS spid", T).await.unwrap();
    });
}

#[test]
fn required_encryption_with_the_pinned_ca_logs_in_and_runs_batches() {
    let dc = Dc::new(InitOptions::default());
    block_on(async {
        let mut s = SqlSession::connect(&dc.bak_tls("master")).await.unwrap();
        let r = s.batch("SELECT @@SERVERNAME AS name", T).await.unwrap();
        assert_eq!(
            r.result_sets[0].get(0, "name"),
            Some(&SqlValue::Text("PCSQLDR01".into()))
        );
        let r = s
            .batch(
                "SELECT redo_start_lsn FROM sys.master_files WHERE database_id = DB_ID(N'mgc') AND file_id = 1",
                T,
            )
            .await
            .unwrap();
        assert!(r.result_sets[0].rows[0][0].as_u128().is_some(), "{r:?}");
    });
}

#[test]
fn a_certificate_not_signed_by_the_pinned_ca_is_a_one_line_connect_error() {
    let dc = Dc::with_wrong_ca();
    let ep = dc.bak_tls("master");
    let err = block_on(SqlSession::connect(&ep)).unwrap_err();
    assert!(matches!(err, SqlError::Connect { .. }), "{err:?}");
    let text = err.to_string();
    let ca = dc.ca().display().to_string();
    assert!(text.starts_with("connect to sql endpoint BAK: "), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{}", ep.port)), "{text}");
    assert!(
        text.contains(&format!(
            "the server's certificate was not signed by the CA in {ca}"
        )),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
    // Never a quiet fall back to plaintext: the same endpoint without TLS is another setting.
    let plain = SqlEndpoint {
        encryption: Encryption::NotSupported,
        trust_cert_ca: None,
        ..ep
    };
    block_on(SqlSession::connect(&plain)).expect("the server still serves");
}

#[test]
fn a_missing_ca_file_is_a_one_line_connect_error_naming_it() {
    let dc = Dc::new(InitOptions::default());
    let missing = dc.dir.path().join("no-such-ca.pem");
    let ep = SqlEndpoint {
        trust_cert_ca: Some(missing.clone()),
        ..dc.bak_tls("master")
    };
    let err = block_on(SqlSession::connect(&ep)).unwrap_err();
    assert!(matches!(err, SqlError::Connect { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "cannot read the CA certificate {}",
            missing.display()
        )),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn a_ca_file_tiberius_cannot_read_is_refused_before_connecting() {
    let dc = Dc::new(InitOptions::default());
    let bundle = dc.dir.path().join("bundle.pem");
    let ca = std::fs::read_to_string(dc.ca()).unwrap();
    std::fs::write(&bundle, format!("{ca}{ca}")).unwrap();
    let renamed = dc.dir.path().join("ca.cer");
    std::fs::write(&renamed, &ca).unwrap();
    for (path, says) in [
        (bundle, "holds 2 PEM certificates, not one"),
        (renamed, "must be named .pem, .crt or .der"),
    ] {
        let ep = SqlEndpoint {
            trust_cert_ca: Some(path),
            ..dc.bak_tls("master")
        };
        let err = block_on(SqlSession::connect(&ep)).unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
    }
}

#[test]
fn a_pinned_ca_together_with_trusting_any_certificate_is_refused_not_a_panic() {
    let dc = Dc::new(InitOptions::default());
    let ep = SqlEndpoint {
        trust_server_certificate: true,
        ..dc.bak_tls("master")
    };
    let err = block_on(SqlSession::connect(&ep)).unwrap_err();
    assert!(
        err.to_string()
            .contains("trust_cert_ca and trust_server_certificate exclude each other"),
        "{err}"
    );
}
