//! Helpers shared by the simulator's tests: a data center in a temporary directory with its
//! server running in-process, a tiberius client, and FreeTDS `tsql`.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

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
    let mut config = Config::new();
    config.host(&inst.host);
    config.port(inst.port);
    config.authentication(AuthMethod::sql_server(&inst.user, password));
    config.encryption(EncryptionLevel::NotSupported);
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
    let which = Command::new("tsql").arg("-C").output();
    assert!(
        which.is_ok(),
        "FreeTDS `tsql` is not installed: these tests need an external TDS client (apt-get install -y freetds-bin)"
    );
    let mut child = Command::new("tsql")
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
