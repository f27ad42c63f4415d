//! Helpers shared by the simulator's tests: a data center in a temporary directory with its
//! server running in-process, a tiberius client, FreeTDS `tsql`, and a tap that keeps the
//! bytes a client and the server exchange.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use runledger_sim::{InitOptions, Instance, Scenario, ServerHandle};
use tiberius::{AuthMethod, Client, Config, EncryptionLevel, Row};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

/// A data center with its server running; dropped together.
pub struct Dc {
    pub server: Option<ServerHandle>,
    pub instances: Vec<Instance>,
    pub dir: tempfile::TempDir,
}

impl Dc {
    pub fn new(scenario: Scenario) -> Dc {
        Dc::with(InitOptions {
            scenario,
            ..InitOptions::default()
        })
    }

    pub fn with(opts: InitOptions) -> Dc {
        // `init` picks free ports and `start` binds them later: a test running in parallel can
        // take one in between, so a data center whose port was taken is made again.
        let mut tries = 0;
        loop {
            let dir = tempfile::tempdir().expect("temp dir");
            let instances = runledger_sim::init(dir.path(), &opts).expect("init");
            match runledger_sim::start(dir.path()) {
                Ok(server) => {
                    return Dc {
                        server: Some(server),
                        instances,
                        dir,
                    }
                }
                Err(runledger_sim::SimError::Listen { .. }) if tries < 3 => tries += 1,
                Err(e) => panic!("start: {e}"),
            }
        }
    }

    /// A data center whose server certificate was issued by a CA other than the one in
    /// `DIR/sim/ca.pem`.
    pub fn with_wrong_ca() -> Dc {
        let dir = tempfile::tempdir().expect("temp dir");
        let instances = runledger_sim::init(dir.path(), &InitOptions::default()).expect("init");
        runledger_sim::certs::generate(&runledger_sim::sim_dir(dir.path()), true)
            .expect("certificates");
        let server = runledger_sim::start(dir.path()).expect("start");
        Dc {
            server: Some(server),
            instances,
            dir,
        }
    }

    /// `DIR/sim/ca.pem`.
    pub fn ca(&self) -> std::path::PathBuf {
        runledger_sim::ca_path(self.path())
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn bak(&self) -> &Instance {
        &self.instances[0]
    }

    pub fn bak_m(&self) -> &Instance {
        &self.instances[1]
    }

    pub fn dest(&self) -> std::path::PathBuf {
        runledger_sim::dest_dir(self.path())
    }

    pub fn share(&self) -> std::path::PathBuf {
        runledger_sim::share_dir(self.path())
    }
}

/// A file of the copy destination, as the backup SQL Server names it (`D:\mgc-copy\NAME`).
pub fn dest_path(name: &str) -> String {
    runledger_sim::paths::join(runledger_sim::datacenter::names::DEST_PATH, name)
}

/// A file of the backup share, as the backup SQL Server names it.
pub fn share_path(name: &str) -> String {
    runledger_sim::paths::join(runledger_sim::datacenter::names::SHARE_UNC, name)
}

/// The file name of a local path.
pub fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

pub type Sql = Client<Compat<TcpStream>>;

pub async fn connect_as(inst: &Instance, password: &str) -> tiberius::Result<Sql> {
    login(inst, password, EncryptionLevel::NotSupported, None).await
}

/// Logs in with tiberius at `encryption`, validating the server's certificate against `ca`
/// when given (and against the system's roots otherwise).
pub async fn connect_encrypted(
    inst: &Instance,
    encryption: EncryptionLevel,
    ca: Option<&Path>,
) -> tiberius::Result<Sql> {
    login(inst, &inst.password, encryption, ca).await
}

async fn login(
    inst: &Instance,
    password: &str,
    encryption: EncryptionLevel,
    ca: Option<&Path>,
) -> tiberius::Result<Sql> {
    let mut config = Config::new();
    config.host(&inst.host);
    config.port(inst.port);
    config.authentication(AuthMethod::sql_server(&inst.user, password));
    config.encryption(encryption);
    if let Some(ca) = ca {
        config.trust_cert_ca(ca.display());
    }
    let tcp = TcpStream::connect((inst.host.as_str(), inst.port)).await?;
    tcp.set_nodelay(true)?;
    Client::connect(config, tcp.compat_write()).await
}

pub async fn connect(inst: &Instance) -> Sql {
    connect_as(inst, &inst.password).await.expect("login")
}

/// Runs a batch and returns every result set.
pub async fn batch(c: &mut Sql, sql: &str) -> tiberius::Result<Vec<Vec<Row>>> {
    c.simple_query(sql).await?.into_results().await
}

/// Runs a batch expected to fail and returns the server's error number and text.
pub async fn error(c: &mut Sql, sql: &str) -> (u32, String) {
    match batch(c, sql).await {
        Ok(r) => panic!(
            "expected an error from {sql:?}, got {} result sets",
            r.len()
        ),
        Err(tiberius::error::Error::Server(e)) => (e.code(), e.message().to_string()),
        Err(e) => panic!("expected a server error from {sql:?}, got {e}"),
    }
}

/// The value of column `col` of the first row of the first result set, as text.
pub fn first_text(rows: &[Vec<Row>], col: &str) -> Option<String> {
    rows.first()?
        .first()?
        .try_get::<&str, _>(col)
        .ok()?
        .map(str::to_string)
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `tsql` (FreeTDS) with `sql` on stdin; panics with advice when it is not installed.
pub fn tsql(inst: &Instance, password: &str, sql: &str) -> (String, String, bool) {
    tsql_with(inst, password, sql, None)
}

/// Runs `tsql` as [`tsql`] does, reading its settings from the freetds.conf `conf` when given.
pub fn tsql_with(
    inst: &Instance,
    password: &str,
    sql: &str,
    conf: Option<&Path>,
) -> (String, String, bool) {
    let which = Command::new("tsql").arg("-C").output();
    assert!(
        which.is_ok(),
        "FreeTDS `tsql` is not installed: these tests need an external TDS client (apt-get install -y freetds-bin)"
    );
    let mut command = Command::new("tsql");
    if let Some(conf) = conf {
        command.env("FREETDSCONF", conf);
    }
    let mut child = command
        .args([
            "-H",
            &inst.host,
            "-p",
            &inst.port.to_string(),
            "-U",
            &inst.user,
            "-P",
            password,
            "-o",
            "q",
        ])
        .env("TDSVER", "7.4")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tsql");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(format!("{sql}\ngo\nexit\n").as_bytes())
            .expect("write tsql stdin");
    }
    let out = child.wait_with_output().expect("tsql output");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

/// Runs a cmdlet line in the simulated shell, which must succeed; returns its output.
pub fn ok(dc: &Dc, line: &str) -> String {
    let out = runledger_sim::shell::run_line(dc.path(), line).unwrap();
    assert_eq!(out.exit_code, 0, "{line}: {}", out.stderr);
    out.stdout
}

/// Runs a cmdlet line in the simulated shell, which must fail; returns its error record.
pub fn fails(dc: &Dc, line: &str) -> String {
    let out = runledger_sim::shell::run_line(dc.path(), line).unwrap();
    assert_eq!(out.exit_code, 1, "{line} should fail: {}", out.stdout);
    out.stderr
}

/// A loopback relay in front of an instance that keeps every byte each way: what a client's
/// settings really put on the wire.
pub struct Tap {
    port: u16,
    to_server: Arc<Mutex<Vec<u8>>>,
    to_client: Arc<Mutex<Vec<u8>>>,
}

impl Tap {
    pub fn new(target: &Instance) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the tap");
        let port = listener.local_addr().expect("tap address").port();
        let tap = Tap {
            port,
            to_server: Arc::default(),
            to_client: Arc::default(),
        };
        let (to_server, to_client) = (tap.to_server.clone(), tap.to_client.clone());
        let target = (target.host.clone(), target.port);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let server = std::net::TcpStream::connect((target.0.as_str(), target.1))
                    .expect("the tap reaches the instance");
                relay(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    to_server.clone(),
                );
                relay(server, client, to_client.clone());
            }
        });
        tap
    }

    /// The instance as seen through the tap.
    pub fn instance(&self, inst: &Instance) -> Instance {
        Instance {
            port: self.port,
            ..inst.clone()
        }
    }

    /// Every byte clients sent through the tap.
    pub fn sent(&self) -> Vec<u8> {
        self.to_server.lock().unwrap().clone()
    }

    /// Every byte the server answered.
    pub fn received(&self) -> Vec<u8> {
        self.to_client.lock().unwrap().clone()
    }

    /// The ENCRYPTION option of the server's first pre-login answer.
    pub fn server_encryption(&self) -> Option<u8> {
        let received = self.received();
        let (_, payload) = runledger_sim::tds::packet::read_message(&mut received.as_slice())
            .ok()
            .flatten()?;
        runledger_sim::tds::login::parse_prelogin(&payload)
            .ok()?
            .encryption
    }
}

fn relay(mut from: std::net::TcpStream, mut to: std::net::TcpStream, log: Arc<Mutex<Vec<u8>>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    log.lock().unwrap().extend_from_slice(&buf[..n]);
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// Text as TDS carries it (UTF-16LE).
pub fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
