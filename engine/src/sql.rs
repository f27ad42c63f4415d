//! SQL Server through tiberius over TCP: the only way the engine reaches SQL Server, in
//! production and in the drill alike (the drill replaces the server, never this adapter).
//!
//! It owns the connection (one [`SqlSession`] is one TDS connection, one SPID), the mapping of
//! TDS values to [`SqlValue`] and of tiberius' errors to [`SqlError`], and the quoting of names
//! and strings spliced into T-SQL. It must never decide anything (the executor does), never
//! log or format a password, and never pass a NUMERIC through floating point: LSNs are
//! `numeric(25,0)` and must stay exact.
//!
//! What tiberius 0.12 gives us, and what it does not (read from its source, `TokenStream` and
//! `QueryStream`): result sets with exact NUMERIC values (an `i128` and a scale), and the
//! *first* ERROR token of a response (number, state, class, text). It does **not** expose
//! INFO tokens (PRINT output, "RESTORE LOG successfully processed …", 5701 "Changed database
//! context"): it only logs their text through `tracing`. It drops every ERROR token after the
//! first (so the usual 3013 "terminating abnormally" companion of a 4305 is lost), the DONE
//! row counts of a query stream, and RETURNSTATUS tokens. [`BatchResult::messages`] and
//! [`BatchResult::rows_affected`] are therefore empty with tiberius 0.12; they are part of the
//! type so that callers need not change when a client that exposes them replaces it. A
//! procedure's return code is read with `DECLARE @rc int; EXEC @rc = …; SELECT @rc`.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::{FutureExt, TryStreamExt};
use runledger_verifier::signing::hex;
use tiberius::{AuthMethod, Client, ColumnData, Config, EncryptionLevel, QueryItem};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

/// How to reach one SQL Server instance.
#[derive(Debug, Clone)]
pub struct SqlEndpoint {
    /// The runbook's target name, used in every message about this endpoint.
    pub name: String,
    /// Host name or address.
    pub host: String,
    /// TCP port of the instance; 0 with [`SqlEndpoint::instance`] asks SQL Browser (UDP 1434).
    pub port: u16,
    /// Named instance, if any (`SQLHOST\INSTANCE`).
    pub instance: Option<String>,
    /// How to log in.
    pub auth: SqlAuth,
    /// Whether the connection is encrypted.
    pub encryption: Encryption,
    /// Accept the server's certificate without validating it (self-signed test servers only).
    pub trust_server_certificate: bool,
    /// PEM (or `.crt`, `.der`) file of the CA that must have signed the server's certificate,
    /// instead of the system's roots. Not together with `trust_server_certificate`.
    pub trust_cert_ca: Option<PathBuf>,
    /// Database the session starts in.
    pub database: String,
    /// Shown by the server as `program_name` / `APP_NAME()`, so a DBA sees who is connected.
    pub application_name: String,
    /// Limit on TCP connect plus pre-login, TLS and login.
    pub connect_timeout: Duration,
}

/// How to log in. `Debug` is written by hand so that a password never reaches a log.
#[derive(Clone)]
pub enum SqlAuth {
    /// A SQL Server login.
    Sql {
        /// Login name.
        user: String,
        /// Its password (never formatted).
        password: String,
    },
    /// A Windows account through NTLM (available on windows builds only).
    Ntlm {
        /// Windows domain, if the user name does not carry it.
        domain: Option<String>,
        /// Account name.
        user: String,
        /// Its password (never formatted).
        password: String,
    },
    /// The identity of the process running runledger (SSPI; windows builds only).
    Integrated,
}

impl fmt::Debug for SqlAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlAuth::Sql { user, .. } => f
                .debug_struct("Sql")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            SqlAuth::Ntlm { domain, user, .. } => f
                .debug_struct("Ntlm")
                .field("domain", domain)
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            SqlAuth::Integrated => f.write_str("Integrated"),
        }
    }
}

/// Encryption setting, as SQL Server clients name it (mapped to tiberius' `EncryptionLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// Encrypt the login only, when the server supports it.
    Off,
    /// Encrypt everything if the server supports it.
    On,
    /// Encrypt everything; fail if the server cannot.
    Required,
    /// Never encrypt (servers without TLS, such as the drill's simulator).
    NotSupported,
}

impl From<Encryption> for EncryptionLevel {
    fn from(e: Encryption) -> EncryptionLevel {
        match e {
            Encryption::Off => EncryptionLevel::Off,
            Encryption::On => EncryptionLevel::On,
            Encryption::Required => EncryptionLevel::Required,
            Encryption::NotSupported => EncryptionLevel::NotSupported,
        }
    }
}

/// One value of a result set.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// TINYINT, SMALLINT, INT, BIGINT.
    Int(i64),
    /// BIT.
    Bool(bool),
    /// CHAR, VARCHAR, NCHAR, NVARCHAR, TEXT, NTEXT, XML.
    Text(String),
    /// NUMERIC/DECIMAL as an exact decimal string (never through `f64`: LSNs are
    /// `numeric(25,0)`). FLOAT, REAL and MONEY also land here, as the shortest decimal that
    /// reads back to the same `f64` (tiberius decodes MONEY as `f64`).
    Decimal(String),
    /// DATETIME, SMALLDATETIME, DATE, TIME, DATETIME2, DATETIMEOFFSET in ISO 8601
    /// (`2024-03-04T01:00:00.000`; the server's local time, as SQL Server has no zone except
    /// for DATETIMEOFFSET, which carries its offset).
    DateTime(String),
    /// UNIQUEIDENTIFIER, lowercase and hyphenated.
    Guid(String),
    /// BINARY, VARBINARY, IMAGE, as lowercase hex.
    Bytes(String),
}

impl SqlValue {
    /// The value as text when it is one, for probes that compare names and states.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            SqlValue::Text(s)
            | SqlValue::Decimal(s)
            | SqlValue::DateTime(s)
            | SqlValue::Guid(s)
            | SqlValue::Bytes(s) => Some(s),
            SqlValue::Null | SqlValue::Int(_) | SqlValue::Bool(_) => None,
        }
    }

    /// The value as an integer (Int, Bool, or a Decimal without fraction that fits).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            SqlValue::Int(n) => Some(*n),
            SqlValue::Bool(b) => Some(i64::from(*b)),
            SqlValue::Decimal(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// A whole, non-negative NUMERIC (an LSN) as `u128`.
    pub fn as_u128(&self) -> Option<u128> {
        match self {
            SqlValue::Int(n) => u128::try_from(*n).ok(),
            SqlValue::Decimal(s) => s.parse().ok(),
            _ => None,
        }
    }
}

/// One result set: column names in order and the rows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResultSet {
    /// Column names as the server sent them (empty for unnamed expressions).
    pub columns: Vec<String>,
    /// Rows, each with one value per column.
    pub rows: Vec<Vec<SqlValue>>,
}

impl ResultSet {
    /// Index of the column `name`, compared case-insensitively as SQL Server's default
    /// collation does; the first one wins when a name repeats.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
    }

    /// The value of column `name` in row `row`. Read backup headers this way, by name: the
    /// column list of `RESTORE HEADERONLY` grows with each SQL Server version.
    pub fn get(&self, row: usize, name: &str) -> Option<&SqlValue> {
        let col = self.column(name)?;
        self.rows.get(row)?.get(col)
    }
}

/// A message from the server (an INFO or ERROR token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerMessage {
    /// Error number (e.g. 4305).
    pub number: u32,
    /// Where in the server the message was raised, as it reports it (for Microsoft support).
    pub state: u8,
    /// Severity (class); 10 and below are informational.
    pub severity: u8,
    /// The text.
    pub text: String,
}

/// What one batch produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchResult {
    /// Every result set, in order (a statement that returns no rows still adds one when it
    /// sends column metadata).
    pub result_sets: Vec<ResultSet>,
    /// Informational messages; empty with tiberius 0.12, which does not expose them.
    pub messages: Vec<ServerMessage>,
    /// Row counts of DONE tokens; empty with tiberius 0.12, which does not expose them
    /// together with rows.
    pub rows_affected: Vec<u64>,
}

impl BatchResult {
    /// The first result set, if any.
    pub fn first(&self) -> Option<&ResultSet> {
        self.result_sets.first()
    }
}

/// Why a connection or a batch failed. Messages read after "failed to …".
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// No TCP connection, TLS failure or connect timeout.
    #[error("connect to sql endpoint {endpoint}: {reason}")]
    Connect {
        /// Target name.
        endpoint: String,
        /// What went wrong, with the address.
        reason: String,
    },
    /// The server refused the login (18456 and friends).
    #[error("log in to sql endpoint {endpoint}: error {number}: {text}")]
    Login {
        /// Target name.
        endpoint: String,
        /// Error number (18456 for a wrong password, 4060 for a database that cannot be opened).
        number: u32,
        /// The server's text.
        text: String,
    },
    /// The batch raised an error.
    #[error("run a batch on sql endpoint {endpoint}: error {number} (severity {severity}, state {state}): {text}")]
    Server {
        /// Target name.
        endpoint: String,
        /// Number of the first error.
        number: u32,
        /// Its state.
        state: u8,
        /// Its severity.
        severity: u8,
        /// Its text.
        text: String,
        /// Every error the client saw, first first (tiberius 0.12 keeps only the first).
        errors: Vec<ServerMessage>,
    },
    /// No complete answer in time; the connection was dropped and a new session is needed.
    #[error("get an answer from sql endpoint {endpoint} within {after:?}; the connection was dropped, connect again (a statement may still be running on the server: probe before retrying)")]
    Timeout {
        /// Target name.
        endpoint: String,
        /// The limit that expired.
        after: Duration,
    },
    /// The TDS conversation broke (connection lost, malformed stream, session closed).
    #[error("talk tds with sql endpoint {endpoint}: {reason}")]
    Protocol {
        /// Target name.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
}

impl SqlError {
    /// The server's error number, for login and server errors.
    pub fn number(&self) -> Option<u32> {
        match self {
            SqlError::Login { number, .. } | SqlError::Server { number, .. } => Some(*number),
            _ => None,
        }
    }

    /// The endpoint (target name) at fault.
    pub fn endpoint(&self) -> &str {
        match self {
            SqlError::Connect { endpoint, .. }
            | SqlError::Login { endpoint, .. }
            | SqlError::Server { endpoint, .. }
            | SqlError::Timeout { endpoint, .. }
            | SqlError::Protocol { endpoint, .. } => endpoint,
        }
    }
}

type TdsClient = Client<Compat<TcpStream>>;

/// One TDS connection, that is one SQL Server session (SPID). Not shared: one task owns it.
pub struct SqlSession {
    endpoint: String,
    /// `None` once a timeout or a broken stream made the connection unusable: a later batch on
    /// it would read the rest of the abandoned answer as its own.
    client: Option<TdsClient>,
}

impl fmt::Debug for SqlSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlSession")
            .field("endpoint", &self.endpoint)
            .field("open", &self.client.is_some())
            .finish()
    }
}

impl SqlSession {
    /// Connects and logs in, within `ep.connect_timeout`.
    pub async fn connect(ep: &SqlEndpoint) -> Result<SqlSession, SqlError> {
        let connect_err = |reason: String| SqlError::Connect {
            endpoint: ep.name.clone(),
            reason,
        };
        let config = config_for(ep)?;
        let address = match &ep.instance {
            Some(i) if ep.port == 0 => format!("{}\\{i} (via sql browser)", ep.host),
            _ => format!("{}:{}", ep.host, ep.port),
        };
        if let Some(ca) = &ep.trust_cert_ca {
            check_ca_file(ca).map_err(|m| connect_err(format!("{address}: {m}")))?;
        }
        let attempt = async {
            let tcp = if ep.instance.is_some() && ep.port == 0 {
                use tiberius::SqlBrowser;
                TcpStream::connect_named(&config)
                    .await
                    .map_err(|e| connect_err(format!("{address}: {e}")))?
            } else {
                TcpStream::connect((ep.host.as_str(), ep.port))
                    .await
                    .map_err(|e| connect_err(format!("{address}: {e}")))?
            };
            // Requests are small and answered one at a time: Nagle would only add latency.
            let _ = tcp.set_nodelay(true);
            Client::connect(config, tcp.compat_write())
                .await
                .map_err(|e| match e {
                    tiberius::error::Error::Server(t) => SqlError::Login {
                        endpoint: ep.name.clone(),
                        number: t.code(),
                        text: t.message().to_string(),
                    },
                    tiberius::error::Error::Routing { host, port } => connect_err(format!(
                        "{address}: the server redirected to {host}:{port}, which runledger does not follow; point the target there"
                    )),
                    other => connect_err(format!("{address}: {}", tls_refusal(ep, &other))),
                })
        };
        // tiberius panics on a token it does not implement; a hostile or odd server must not
        // take the engine down, so a panic becomes an error like any other.
        let guarded = AssertUnwindSafe(attempt).catch_unwind();
        match tokio::time::timeout(ep.connect_timeout, guarded).await {
            Err(_) => Err(connect_err(format!(
                "{address}: no login within {:?}",
                ep.connect_timeout
            ))),
            Ok(Err(panic)) => Err(connect_err(format!(
                "{address}: the tds client failed: {}",
                panic_text(&panic)
            ))),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Ok(Ok(client))) => Ok(SqlSession {
                endpoint: ep.name.clone(),
                client: Some(client),
            }),
        }
    }

    /// Runs one T-SQL batch; collects every result set, and the messages and row counts the
    /// client exposes (see the module docs). On timeout the connection is dropped and every
    /// later call fails: open a new session.
    pub async fn batch(&mut self, text: &str, timeout: Duration) -> Result<BatchResult, SqlError> {
        let endpoint = self.endpoint.clone();
        let Some(client) = self.client.as_mut() else {
            return Err(SqlError::Protocol {
                endpoint,
                reason: "the session was closed after an earlier timeout or broken connection; connect again".into(),
            });
        };
        let run = AssertUnwindSafe(collect(client, text)).catch_unwind();
        let outcome = tokio::time::timeout(timeout, run).await;
        match outcome {
            Err(_) => {
                // Dropping the connection is how the batch is abandoned: tiberius cannot send
                // an attention, and a half-read answer would poison the next batch.
                self.client = None;
                Err(SqlError::Timeout {
                    endpoint,
                    after: timeout,
                })
            }
            Ok(Err(panic)) => {
                self.client = None;
                Err(SqlError::Protocol {
                    endpoint,
                    reason: format!("the tds client failed: {}", panic_text(&panic)),
                })
            }
            Ok(Ok(Ok(result))) => Ok(result),
            Ok(Ok(Err(e))) => {
                let err = map_batch_error(&endpoint, e);
                if matches!(err, SqlError::Protocol { .. }) {
                    self.client = None;
                }
                Err(err)
            }
        }
    }

    /// The target name this session was opened for.
    pub fn endpoint_name(&self) -> &str {
        &self.endpoint
    }

    /// False once a timeout or a broken connection closed the session.
    pub fn is_open(&self) -> bool {
        self.client.is_some()
    }
}

/// The CA file as tiberius will read it: readable, named `.pem`, `.crt` or `.der` (tiberius
/// picks the format by the extension), and a PEM holding exactly one certificate.
fn check_ca_file(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read the CA certificate {}: {e}", path.display()))?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("pem" | "crt") => {
            let n = String::from_utf8_lossy(&bytes)
                .matches("-----BEGIN CERTIFICATE-----")
                .count();
            if n == 1 {
                Ok(())
            } else {
                Err(format!(
                    "the CA certificate {} holds {n} PEM certificates, not one: keep only the CA that signs the server's certificate",
                    path.display()
                ))
            }
        }
        Some("der") => Ok(()),
        _ => Err(format!(
            "the CA certificate {} must be named .pem, .crt or .der",
            path.display()
        )),
    }
}

/// The text of a failed connection, saying which CA refused the server's certificate. tiberius
/// flattens rustls' error into text (`invalid peer certificate: UnknownIssuer`), so the text
/// is all there is to go by.
fn tls_refusal(ep: &SqlEndpoint, e: &tiberius::error::Error) -> String {
    let text = e.to_string();
    let Some(at) = text.find("invalid peer certificate") else {
        return text;
    };
    let detail = &text[at..];
    match &ep.trust_cert_ca {
        Some(ca) if detail.contains("UnknownIssuer") || detail.contains("BadSignature") => {
            format!(
                "the server's certificate was not signed by the CA in {} ({detail})",
                ca.display()
            )
        }
        Some(ca) => format!(
            "the server's certificate was refused ({detail}; CA {})",
            ca.display()
        ),
        None => format!("the server's certificate was refused ({detail})"),
    }
}

fn config_for(ep: &SqlEndpoint) -> Result<Config, SqlError> {
    let mut config = Config::new();
    config.host(&ep.host);
    if ep.port != 0 {
        config.port(ep.port);
    }
    if let Some(instance) = &ep.instance {
        config.instance_name(instance);
    }
    if !ep.database.is_empty() {
        config.database(&ep.database);
    }
    config.application_name(&ep.application_name);
    config.encryption(ep.encryption.into());
    match (&ep.trust_cert_ca, ep.trust_server_certificate) {
        // tiberius panics when given both.
        (Some(_), true) => {
            return Err(SqlError::Connect {
                endpoint: ep.name.clone(),
                reason: "trust_cert_ca and trust_server_certificate exclude each other".into(),
            })
        }
        (Some(ca), false) => {
            let ca = ca.to_str().ok_or_else(|| SqlError::Connect {
                endpoint: ep.name.clone(),
                reason: format!("the CA path {} is not valid UTF-8", ca.display()),
            })?;
            config.trust_cert_ca(ca);
        }
        (None, true) => config.trust_cert(),
        (None, false) => {}
    }
    config.authentication(auth_method(ep)?);
    Ok(config)
}

fn auth_method(ep: &SqlEndpoint) -> Result<AuthMethod, SqlError> {
    match &ep.auth {
        SqlAuth::Sql { user, password } => Ok(AuthMethod::sql_server(user, password)),
        SqlAuth::Ntlm {
            domain,
            user,
            password,
        } => ntlm(ep, domain.as_deref(), user, password),
        SqlAuth::Integrated => integrated(ep),
    }
}

#[cfg(windows)]
fn ntlm(
    _ep: &SqlEndpoint,
    domain: Option<&str>,
    user: &str,
    password: &str,
) -> Result<AuthMethod, SqlError> {
    // tiberius splits `DOMAIN\user` itself.
    let account = match domain {
        Some(d) if !user.contains('\\') => format!("{d}\\{user}"),
        _ => user.to_string(),
    };
    Ok(AuthMethod::windows(account, password))
}

#[cfg(not(windows))]
fn ntlm(
    ep: &SqlEndpoint,
    _domain: Option<&str>,
    _user: &str,
    _password: &str,
) -> Result<AuthMethod, SqlError> {
    Err(SqlError::Connect {
        endpoint: ep.name.clone(),
        reason: "ntlm logins need the windows build of runledger (tiberius offers them on windows only); use a sql login here".into(),
    })
}

#[cfg(windows)]
fn integrated(_ep: &SqlEndpoint) -> Result<AuthMethod, SqlError> {
    Ok(AuthMethod::Integrated)
}

#[cfg(not(windows))]
fn integrated(ep: &SqlEndpoint) -> Result<AuthMethod, SqlError> {
    Err(SqlError::Connect {
        endpoint: ep.name.clone(),
        reason: "integrated logins need the windows build of runledger (kerberos on unix is not built in); use a sql login here".into(),
    })
}

/// Reads the whole answer of one batch. tiberius returns the first ERROR only after the end
/// of the answer, so the connection is ready for the next batch when it does.
async fn collect(client: &mut TdsClient, text: &str) -> tiberius::Result<BatchResult> {
    let mut stream = client.simple_query(text).await?;
    let mut result = BatchResult::default();
    while let Some(item) = stream.try_next().await? {
        match item {
            QueryItem::Metadata(meta) => result.result_sets.push(ResultSet {
                columns: meta
                    .columns()
                    .iter()
                    .map(|c| c.name().to_string())
                    .collect(),
                rows: Vec::new(),
            }),
            QueryItem::Row(row) => {
                let values = row.into_iter().map(|cell| value(&cell)).collect();
                match result.result_sets.last_mut() {
                    Some(set) => set.rows.push(values),
                    // tiberius always sends metadata before rows; keep the row anyway.
                    None => result.result_sets.push(ResultSet {
                        columns: Vec::new(),
                        rows: vec![values],
                    }),
                }
            }
        }
    }
    Ok(result)
}

fn map_batch_error(endpoint: &str, e: tiberius::error::Error) -> SqlError {
    match e {
        tiberius::error::Error::Server(t) => {
            let first = ServerMessage {
                number: t.code(),
                state: t.state(),
                severity: t.class(),
                text: t.message().to_string(),
            };
            SqlError::Server {
                endpoint: endpoint.to_string(),
                number: first.number,
                state: first.state,
                severity: first.severity,
                text: first.text.clone(),
                errors: vec![first],
            }
        }
        tiberius::error::Error::Io { kind, message } => SqlError::Protocol {
            endpoint: endpoint.to_string(),
            reason: format!("connection lost ({kind:?}): {message}"),
        },
        other => SqlError::Protocol {
            endpoint: endpoint.to_string(),
            reason: other.to_string(),
        },
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// Converts one TDS cell.
fn value(cell: &ColumnData<'_>) -> SqlValue {
    use SqlValue as V;
    match cell {
        ColumnData::U8(v) => v.map_or(V::Null, |n| V::Int(n.into())),
        ColumnData::I16(v) => v.map_or(V::Null, |n| V::Int(n.into())),
        ColumnData::I32(v) => v.map_or(V::Null, |n| V::Int(n.into())),
        ColumnData::I64(v) => v.map_or(V::Null, V::Int),
        ColumnData::F32(v) => v.map_or(V::Null, |f| V::Decimal(f.to_string())),
        ColumnData::F64(v) => v.map_or(V::Null, |f| V::Decimal(f.to_string())),
        ColumnData::Bit(v) => v.map_or(V::Null, V::Bool),
        ColumnData::String(v) => v.as_ref().map_or(V::Null, |s| V::Text(s.to_string())),
        ColumnData::Guid(v) => v.map_or(V::Null, |g| V::Guid(g.hyphenated().to_string())),
        ColumnData::Binary(v) => v.as_ref().map_or(V::Null, |b| V::Bytes(hex(b))),
        ColumnData::Numeric(v) => {
            v.map_or(V::Null, |n| V::Decimal(decimal_text(n.value(), n.scale())))
        }
        ColumnData::Xml(v) => v.as_ref().map_or(V::Null, |x| V::Text(x.to_string())),
        ColumnData::DateTime(v) => v.map_or(V::Null, |d| {
            V::DateTime(datetime_text(d.days(), d.seconds_fragments()))
        }),
        ColumnData::SmallDateTime(v) => v.map_or(V::Null, |d| {
            V::DateTime(smalldatetime_text(d.days(), d.seconds_fragments()))
        }),
        ColumnData::Time(v) => v.map_or(V::Null, |t| {
            V::DateTime(time_text(t.increments(), t.scale()))
        }),
        ColumnData::Date(v) => v.map_or(V::Null, |d| V::DateTime(date_text(d.days()))),
        ColumnData::DateTime2(v) => v.map_or(V::Null, |d| {
            V::DateTime(datetime2_text(
                d.date().days(),
                d.time().increments(),
                d.time().scale(),
            ))
        }),
        ColumnData::DateTimeOffset(v) => v.map_or(V::Null, |d| {
            V::DateTime(datetimeoffset_text(
                d.datetime2().date().days(),
                d.datetime2().time().increments(),
                d.datetime2().time().scale(),
                d.offset(),
            ))
        }),
    }
}

/// `value × 10^-scale` as exact decimal text, with integer arithmetic only.
fn decimal_text(value: i128, scale: u8) -> String {
    let digits = value.unsigned_abs().to_string();
    let sign = if value < 0 { "-" } else { "" };
    let scale = usize::from(scale);
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

/// Calendar date `days` after `base` (`(year, month, day)`), as `YYYY-MM-DD`. SQL Server's
/// dates stay within years 1..=9999, so the `time` crate's default range suffices.
fn date_after(base: (i32, u8, u8), days: i64) -> String {
    let month = time::Month::try_from(base.1).expect("valid month");
    let base = time::Date::from_calendar_date(base.0, month, base.2).expect("valid base date");
    match base.checked_add(time::Duration::days(days)) {
        Some(d) => format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
        // Out of range only for a malformed value; keep the raw number visible.
        None => format!("<days {days} after {base}>"),
    }
}

fn hms(total_seconds: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        total_seconds / 3600,
        total_seconds / 60 % 60,
        total_seconds % 60
    )
}

/// DATETIME: days since 1900-01-01 and 1/300-second ticks since midnight, shown with the
/// milliseconds SQL Server shows (.000, .003, .007).
fn datetime_text(days: i32, ticks: u32) -> String {
    let ms = (u64::from(ticks) * 10 + 1) / 3;
    format!(
        "{}T{}.{:03}",
        date_after((1900, 1, 1), days.into()),
        hms(ms / 1000),
        ms % 1000
    )
}

/// SMALLDATETIME: days since 1900-01-01 and minutes since midnight.
fn smalldatetime_text(days: u16, minutes: u16) -> String {
    format!(
        "{}T{}",
        date_after((1900, 1, 1), days.into()),
        hms(u64::from(minutes) * 60)
    )
}

/// DATE: days since 0001-01-01.
fn date_text(days: u32) -> String {
    date_after((1, 1, 1), days.into())
}

/// TIME(scale): `increments` units of 10^-scale seconds since midnight.
fn time_text(increments: u64, scale: u8) -> String {
    let unit = 10u64.pow(u32::from(scale));
    let whole = hms(increments / unit);
    if scale == 0 {
        whole
    } else {
        format!(
            "{whole}.{:0width$}",
            increments % unit,
            width = usize::from(scale)
        )
    }
}

fn datetime2_text(days: u32, increments: u64, scale: u8) -> String {
    format!("{}T{}", date_text(days), time_text(increments, scale))
}

/// DATETIMEOFFSET: TDS carries the UTC instant and the offset; ISO 8601 wants local time.
fn datetimeoffset_text(days: u32, increments: u64, scale: u8, offset_minutes: i16) -> String {
    let unit = 10i128.pow(u32::from(scale));
    let day_units = 86_400 * unit;
    let utc = i128::from(days) * day_units + i128::from(increments);
    let local = utc + i128::from(offset_minutes) * 60 * unit;
    let (d, t) = (local.div_euclid(day_units), local.rem_euclid(day_units));
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let off = offset_minutes.unsigned_abs();
    format!(
        "{}T{}{sign}{:02}:{:02}",
        date_after((1, 1, 1), d as i64),
        time_text(t as u64, scale),
        off / 60,
        off % 60
    )
}

/// Quotes a name as a T-SQL delimited identifier: `[name]`, with `]` doubled, so that no
/// name can end the identifier early (`mgc]; DROP DATABASE x; --` stays one name).
pub fn quote_ident(name: &str) -> String {
    format!("[{}]", name.replace(']', "]]"))
}

/// Quotes text as a T-SQL Unicode string literal: `N'text'`, with `'` doubled. The `N` keeps
/// non-ASCII paths intact (without it the server converts to its code page).
pub fn quote_nstring(s: &str) -> String {
    format!("N'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_bracketed_and_closing_brackets_doubled() {
        assert_eq!(quote_ident("mgc"), "[mgc]");
        assert_eq!(
            quote_ident("mgc]; DROP DATABASE x; --"),
            "[mgc]]; DROP DATABASE x; --]"
        );
        assert_eq!(quote_ident("a[b"), "[a[b]");
        assert_eq!(quote_ident(""), "[]");
        assert_eq!(quote_ident("]]"), "[]]]]]");
    }

    #[test]
    fn strings_are_unicode_literals_with_quotes_doubled() {
        assert_eq!(quote_nstring(r"D:\dest\mgc.trn"), r"N'D:\dest\mgc.trn'");
        assert_eq!(
            quote_nstring("x'; DROP DATABASE mgc; --"),
            "N'x''; DROP DATABASE mgc; --'"
        );
        assert_eq!(quote_nstring("O'Brien''s"), "N'O''Brien''''s'");
        assert_eq!(quote_nstring("Zürich ✓"), "N'Zürich ✓'");
        assert_eq!(quote_nstring(""), "N''");
    }

    /// Hostile text quoted must contain no quote that is not part of a doubled pair.
    #[test]
    fn quoted_literals_have_no_lone_quote_inside() {
        for s in ["'", "''", "a'b", "';--", "]'[", "\u{2019}'"] {
            let q = quote_nstring(s);
            let inner = &q[2..q.len() - 1];
            assert!(!inner.replace("''", "").contains('\''), "{q}");
            let q = quote_ident(s);
            let inner = &q[1..q.len() - 1];
            assert!(!inner.replace("]]", "").contains(']'), "{q}");
        }
    }

    #[test]
    fn the_password_is_never_in_debug_output() {
        let a = SqlAuth::Sql {
            user: "runledger".into(),
            password: "s3cret-pw".into(),
        };
        let n = SqlAuth::Ntlm {
            domain: Some("CONTOSO".into()),
            user: "svc".into(),
            password: "s3cret-pw".into(),
        };
        for text in [format!("{a:?}"), format!("{n:?}"), format!("{a:#?}")] {
            assert!(!text.contains("s3cret"), "{text}");
            assert!(text.contains("redacted"), "{text}");
        }
    }

    #[test]
    fn numerics_are_exact_decimal_text() {
        assert_eq!(decimal_text(0, 0), "0");
        // A 25-digit LSN, beyond f64's 15-17 significant digits.
        assert_eq!(
            decimal_text(1_234_567_890_123_456_789_012_345, 0),
            "1234567890123456789012345"
        );
        assert_eq!(decimal_text(12345, 2), "123.45");
        assert_eq!(decimal_text(5, 3), "0.005");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(-120, 1), "-12.0");
        assert_eq!(decimal_text(i128::MAX, 0), i128::MAX.to_string());
    }

    #[test]
    fn dates_and_times_are_iso_8601() {
        assert_eq!(datetime_text(0, 0), "1900-01-01T00:00:00.000");
        // 2024-03-04 01:00:00 is day 45353 after 1900-01-01; 1 tick = 3.33 ms.
        assert_eq!(
            datetime_text(45_353, 300 * 3600 + 1),
            "2024-03-04T01:00:00.003"
        );
        assert_eq!(
            datetime_text(45_353, 300 * 3600 + 2),
            "2024-03-04T01:00:00.007"
        );
        assert_eq!(datetime_text(-1, 0), "1899-12-31T00:00:00.000");
        assert_eq!(smalldatetime_text(1, 61), "1900-01-02T01:01:00");
        assert_eq!(date_text(0), "0001-01-01");
        assert_eq!(time_text(1_234_567, 7), "00:00:00.1234567");
        assert_eq!(time_text(3_661, 0), "01:01:01");
        assert_eq!(datetime2_text(1, 10, 1), "0001-01-02T00:00:01.0");
        // 23:30 UTC at +02:00 is 01:30 the next day, local.
        assert_eq!(
            datetimeoffset_text(0, 23 * 3600 + 1800, 0, 120),
            "0001-01-02T01:30:00+02:00"
        );
        assert_eq!(
            datetimeoffset_text(1, 1800, 0, -90),
            "0001-01-01T23:00:00-01:30"
        );
    }

    #[test]
    fn values_keep_their_sql_type() {
        assert_eq!(value(&ColumnData::I16(Some(-2))), SqlValue::Int(-2));
        assert_eq!(value(&ColumnData::Bit(None)), SqlValue::Null);
        assert_eq!(
            value(&ColumnData::Binary(Some(vec![0xAB, 0x01].into()))),
            SqlValue::Bytes("ab01".into())
        );
        let g = tiberius::Uuid::parse_str("6F9619FF-8B86-D011-B42D-00C04FC964FF").unwrap();
        assert_eq!(
            value(&ColumnData::Guid(Some(g))),
            SqlValue::Guid("6f9619ff-8b86-d011-b42d-00c04fc964ff".into())
        );
    }
}
