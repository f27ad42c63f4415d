//! The TDS listener: one port per simulated instance, one thread per connection.
//!
//! A connection runs pre-login, LOGIN7, then requests. Pre-login decides whether TLS wraps
//! the LOGIN7 only, everything after pre-login, or nothing (`login::negotiate`, `tds/tls.rs`).
//! A reader thread watches the connection so that an attention (cancel) or a `KILL` from
//! another session reaches a statement while it is running (a paced restore checks between
//! slices). All state lives in SQLite; the only in-memory state is the table of live
//! connections and the TLS certificate read at start, and a restart clears the connections, as
//! a real restart ends every session.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::params;

use crate::sql::session::{Host, Output, Session};
use crate::state;
use crate::tds::login::{self, Encryption, Login7};
use crate::tds::packet::{read_message, write_message, PacketType};
use crate::tds::rpc;
use crate::tds::tls::{self, Wire};
use crate::tds::token::{done, DoneKind, TokenWriter};
use crate::{agent, SimError};

/// A running simulated server (all instances of one data center).
pub struct ServerHandle {
    shared: Arc<Shared>,
    /// Each instance's name and the address it listens on.
    pub addrs: Vec<(String, SocketAddr)>,
    threads: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// Stops accepting connections, closes the live ones and waits for the listeners.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Blocks until the server stops (it only stops when the process is killed).
    pub fn wait(mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for ctl in self.shared.conns.lock().expect("conns lock").values() {
            ctl.killed.store(true, Ordering::SeqCst);
            let _ = ctl.stream.shutdown(Shutdown::Both);
        }
        for (_, addr) in &self.addrs {
            // Wake the blocking accept().
            let _ = TcpStream::connect_timeout(addr, Duration::from_millis(200));
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shutdown();
        }
    }
}

struct ConnCtl {
    attention: AtomicBool,
    killed: AtomicBool,
    stream: TcpStream,
}

struct Shared {
    /// The drill directory.
    root: PathBuf,
    db_path: PathBuf,
    /// The server's certificate and key; `None` for a data center made without them.
    tls: Option<Arc<rustls::ServerConfig>>,
    pace: Duration,
    stop: AtomicBool,
    conns: Mutex<HashMap<(String, i64), Arc<ConnCtl>>>,
    next_spid: Mutex<i64>,
}

struct InstanceInfo {
    name: String,
    server_name: String,
    login: String,
    password: String,
}

/// The session id after every session of the data center, at least 51 (SQL Server's first
/// user session id).
pub(crate) fn next_spid(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT MAX(51, COALESCE(MAX(session_id), 0) + 1) FROM sessions",
        [],
        |r| r.get(0),
    )
}

/// Starts every instance of the data center in `dir` on its recorded port.
pub fn start(dir: &Path) -> Result<ServerHandle, SimError> {
    let db_path = crate::state_path(dir);
    if !db_path.exists() {
        return Err(SimError::NotInitialised(dir.to_path_buf()));
    }
    let mut conn = state::open(&db_path)?;
    // Sessions of a previous run are gone, as after a server restart; simulated and agent
    // sessions are part of the scenario and stay.
    {
        let tx = state::write_tx(&mut conn)?;
        tx.execute("DELETE FROM sessions WHERE kind = 'client'", [])?;
        tx.execute(
            "DELETE FROM requests WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.instance = requests.instance AND s.session_id = requests.session_id)",
            [],
        )?;
        tx.commit()?;
    }
    agent::tick(&mut conn)?;
    let pace = state::meta(&conn, "pace_ms")?
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let first_spid = next_spid(&conn)?;
    let instances: Vec<(InstanceInfo, String, u16)> = {
        let mut stmt = conn.prepare(
            "SELECT name, server_name, login, password, host, port FROM instances ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                InstanceInfo {
                    name: r.get(0)?,
                    server_name: r.get(1)?,
                    login: r.get(2)?,
                    password: r.get(3)?,
                },
                r.get(4)?,
                r.get(5)?,
            ))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let tls = tls::server_config(&crate::sim_dir(dir))?;
    let shared = Arc::new(Shared {
        root: dir.to_path_buf(),
        db_path,
        tls,
        pace: Duration::from_millis(pace),
        stop: AtomicBool::new(false),
        conns: Mutex::new(HashMap::new()),
        next_spid: Mutex::new(first_spid),
    });
    let mut listeners = Vec::new();
    for (info, host, port) in instances {
        let listener = TcpListener::bind((host.as_str(), port)).map_err(|e| SimError::Listen {
            instance: info.name.clone(),
            port,
            source: e,
        })?;
        listeners.push((info, listener));
    }
    let mut addrs = Vec::new();
    let mut threads = Vec::new();
    for (info, listener) in listeners {
        addrs.push((info.name.clone(), listener.local_addr()?));
        let shared = shared.clone();
        let info = Arc::new(info);
        threads.push(std::thread::spawn(move || {
            accept_loop(listener, info, shared)
        }));
    }
    let ticker = shared.clone();
    threads.push(std::thread::spawn(move || {
        let Ok(mut conn) = state::open(&ticker.db_path) else {
            return;
        };
        while !ticker.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
            let _ = agent::tick(&mut conn);
            let _ = crate::mirroring::tick(&mut conn);
        }
    }));
    Ok(ServerHandle {
        shared,
        addrs,
        threads,
    })
}

fn accept_loop(listener: TcpListener, info: Arc<InstanceInfo>, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        if !reachable(&shared, &info.name) {
            // The instance is down: the connection is dropped before a word is exchanged.
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        let (info, shared) = (info.clone(), shared.clone());
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let _ = serve_connection(stream, &info, &shared);
        });
    }
}

/// Whether the scenario (or `runledger sim heal`) has the instance up, read at each
/// connection so that a change takes effect while `serve` runs.
fn reachable(shared: &Shared, instance: &str) -> bool {
    state::open(&shared.db_path)
        .and_then(|c| {
            c.query_row(
                "SELECT reachable FROM instances WHERE name = ?1",
                [instance],
                |r| r.get::<_, i64>(0),
            )
        })
        .is_ok_and(|r| r != 0)
}

struct ConnHost {
    shared: Arc<Shared>,
    ctl: Arc<ConnCtl>,
}

impl Host for ConnHost {
    fn interrupted(&self) -> bool {
        self.ctl.attention.load(Ordering::SeqCst) || self.ctl.killed.load(Ordering::SeqCst)
    }

    fn kill(&self, instance: &str, session_id: i64) -> bool {
        let conns = self.shared.conns.lock().expect("conns lock");
        match conns.get(&(instance.to_string(), session_id)) {
            Some(ctl) => {
                ctl.killed.store(true, Ordering::SeqCst);
                let _ = ctl.stream.shutdown(Shutdown::Both);
                true
            }
            None => false,
        }
    }

    fn pace(&self) -> Duration {
        self.shared.pace
    }
}

enum Msg {
    Request(PacketType, Vec<u8>),
    Attention,
    Closed,
}

fn serve_connection(
    stream: TcpStream,
    info: &InstanceInfo,
    shared: &Arc<Shared>,
) -> io::Result<()> {
    let Some((mut wire, login)) = open_connection(stream, shared)? else {
        return Ok(());
    };
    let conn = state::open(&shared.db_path).map_err(io::Error::other)?;
    state::create_session_views(&conn, &info.name).map_err(io::Error::other)?;
    if let Err(msg) = check_login(&conn, info, &login) {
        let mut w = TokenWriter::default();
        for (number, state, class, text) in msg {
            w.message(number, state, class, &text, &info.server_name);
        }
        w.done(DoneKind::Done, done::ERROR, 0, 0);
        write_message(&mut wire, PacketType::TabularResult, 0, 4096, &w.buf)?;
        return Ok(());
    }
    let database = if login.database.is_empty() {
        "master".to_string()
    } else {
        login.database.clone()
    };
    let spid = {
        let mut next = shared.next_spid.lock().expect("spid lock");
        let s = *next;
        *next += 1;
        s
    };
    conn.execute(
        "INSERT OR REPLACE INTO sessions (instance, session_id, kind, login_name, host_name, program_name, database_name, status, is_user_process, login_time)
         VALUES (?1, ?2, 'client', ?3, ?4, ?5, ?6, 'sleeping', 1, ?7)",
        params![info.name, spid, login.user_name, login.host_name, login.app_name, database, state::now_sql()],
    )
    .map_err(io::Error::other)?;
    let packet_size = match login.packet_size {
        0 => 4096,
        n => n.clamp(512, 32767) as usize,
    };
    let tds_version = match login.tds_version {
        v @ (0x7200_0009 | 0x7209_0002 | 0x730A_0003 | 0x730B_0003 | 0x7400_0004) => v,
        _ => 0x7400_0004,
    };
    let mut w = TokenWriter::default();
    w.env_database(&database, "master");
    w.message(
        5701,
        2,
        0,
        &format!("Changed database context to '{database}'."),
        &info.server_name,
    );
    w.env_collation();
    w.message(
        5703,
        1,
        0,
        "Changed language setting to us_english.",
        &info.server_name,
    );
    w.login_ack(tds_version);
    w.env_packet_size(packet_size as u32, 4096);
    if login.has_feature_ext && tds_version >= 0x7400_0004 {
        w.feature_ext_ack_none();
    }
    w.done(DoneKind::Done, 0, 0, 0);
    let spid16 = spid as u16;
    write_message(
        &mut wire,
        PacketType::TabularResult,
        spid16,
        packet_size,
        &w.buf,
    )?;

    let ctl = Arc::new(ConnCtl {
        attention: AtomicBool::new(false),
        killed: AtomicBool::new(false),
        stream: wire.tcp().try_clone()?,
    });
    shared
        .conns
        .lock()
        .expect("conns lock")
        .insert((info.name.clone(), spid), ctl.clone());
    let host = ConnHost {
        shared: shared.clone(),
        ctl: ctl.clone(),
    };
    let mut session = Session {
        conn,
        instance: info.name.clone(),
        server_name: info.server_name.clone(),
        spid,
        login: login.user_name.clone(),
        database,
        root: shared.root.clone(),
        host: &host,
    };
    let (tx, rx) = mpsc::channel();
    let mut reader = wire.try_clone()?;
    let reader_ctl = ctl.clone();
    std::thread::spawn(move || loop {
        match read_message(&mut reader) {
            Ok(Some((PacketType::Attention, _))) => {
                reader_ctl.attention.store(true, Ordering::SeqCst);
                if tx.send(Msg::Attention).is_err() {
                    return;
                }
            }
            Ok(Some((ty, payload))) => {
                if tx.send(Msg::Request(ty, payload)).is_err() {
                    return;
                }
            }
            Ok(None) | Err(_) => {
                let _ = tx.send(Msg::Closed);
                return;
            }
        }
    });
    let result = (|| -> io::Result<()> {
        for msg in rx {
            if ctl.killed.load(Ordering::SeqCst) {
                return Ok(());
            }
            match msg {
                Msg::Closed => return Ok(()),
                Msg::Attention => {
                    if ctl.attention.swap(false, Ordering::SeqCst) {
                        let mut w = TokenWriter::default();
                        w.done(DoneKind::Done, done::ATTN, 0, 0);
                        write_message(
                            &mut wire,
                            PacketType::TabularResult,
                            spid16,
                            packet_size,
                            &w.buf,
                        )?;
                    }
                }
                Msg::Request(ty, payload) => {
                    let (outputs, in_rpc) = match ty {
                        PacketType::SqlBatch => {
                            let body = rpc::skip_all_headers(&payload);
                            let units: Vec<u16> = body
                                .chunks_exact(2)
                                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                                .collect();
                            (session.batch(&String::from_utf16_lossy(&units)), false)
                        }
                        PacketType::Rpc => match rpc::parse(rpc::skip_all_headers(&payload)) {
                            Ok(call) => (session.rpc(&call), true),
                            Err(e) => (vec![protocol_error(&e.to_string())], true),
                        },
                        PacketType::TransactionManager => (Vec::new(), false),
                        _ => (vec![protocol_error("unsupported request type")], false),
                    };
                    let cancelled = outputs.iter().any(|o| matches!(o, Output::Cancelled));
                    if cancelled {
                        ctl.attention.store(false, Ordering::SeqCst);
                    }
                    if ctl.killed.load(Ordering::SeqCst) {
                        return Ok(());
                    }
                    let bytes = encode(&outputs, in_rpc, &info.server_name);
                    write_message(
                        &mut wire,
                        PacketType::TabularResult,
                        spid16,
                        packet_size,
                        &bytes,
                    )?;
                }
            }
        }
        Ok(())
    })();
    shared
        .conns
        .lock()
        .expect("conns lock")
        .remove(&(info.name.clone(), spid));
    let _ = session.conn.execute(
        "DELETE FROM requests WHERE instance = ?1 AND session_id = ?2",
        params![info.name, spid],
    );
    let _ = session.conn.execute(
        "DELETE FROM sessions WHERE instance = ?1 AND session_id = ?2 AND kind = 'client'",
        params![info.name, spid],
    );
    let _ = wire.tcp().shutdown(Shutdown::Both);
    result
}

/// Pre-login, the TLS handshake if one was negotiated, and LOGIN7: the connection's bytes from
/// here on and the login, or `None` when the client went away or sent something else.
fn open_connection(mut tcp: TcpStream, shared: &Shared) -> io::Result<Option<(Wire, Login7)>> {
    let Some((ty, payload)) = read_message(&mut tcp)? else {
        return Ok(None);
    };
    if ty != PacketType::PreLogin {
        return Ok(None);
    }
    let Ok(prelogin) = login::parse_prelogin(&payload) else {
        return Ok(None);
    };
    let encryption = login::negotiate(prelogin.encryption, shared.tls.is_some());
    write_message(
        &mut tcp,
        PacketType::TabularResult,
        0,
        4096,
        &login::prelogin_response(encryption),
    )?;
    let (wire, message) = match (encryption, &shared.tls) {
        (Encryption::Full, Some(config)) => {
            let mut tls = tls::handshake(&tcp, config.clone())?;
            let message = read_message(&mut tls)?;
            (Wire::Tls(tls), message)
        }
        (Encryption::LoginOnly, Some(config)) => {
            // The client drops TLS as soon as LOGIN7 is sent and reads the answer in
            // plaintext; so does the server once LOGIN7 is read.
            let mut tls = tls::handshake(&tcp, config.clone())?;
            let message = read_message(&mut tls)?;
            (Wire::Plain(tcp), message)
        }
        _ => {
            let message = read_message(&mut tcp)?;
            (Wire::Plain(tcp), message)
        }
    };
    match message {
        Some((PacketType::Login7, payload)) => Ok(login::parse_login7(&payload)
            .ok()
            .map(|login| (wire, login))),
        _ => Ok(None),
    }
}

fn protocol_error(what: &str) -> Output {
    Output::Message(crate::sql::error::SqlMessage {
        number: 4002,
        state: 1,
        class: 16,
        text: format!(
            "The incoming tabular data stream (TDS) protocol stream is incorrect: {what}."
        ),
    })
}

type LoginError = Vec<(i32, u8, u8, String)>;

fn check_login(
    conn: &rusqlite::Connection,
    info: &InstanceInfo,
    login: &Login7,
) -> Result<(), LoginError> {
    if login.integrated_security {
        return Err(vec![(18452, 1, 14, "Login failed. The login is from an untrusted domain and cannot be used with Integrated authentication.".into())]);
    }
    if !login.user_name.eq_ignore_ascii_case(&info.login) || login.password != info.password {
        return Err(vec![(
            18456,
            1,
            14,
            format!("Login failed for user '{}'.", login.user_name),
        )]);
    }
    if !login.database.is_empty() {
        let state: Option<String> = conn
            .query_row(
                "SELECT state_desc FROM sys_databases WHERE name = ?1",
                [&login.database],
                |r| r.get(0),
            )
            .ok();
        if state.as_deref() != Some("ONLINE") {
            return Err(vec![
                (
                    4060,
                    1,
                    11,
                    format!(
                        "Cannot open database \"{}\" requested by the login. The login failed.",
                        login.database
                    ),
                ),
                (
                    18456,
                    1,
                    14,
                    format!("Login failed for user '{}'.", login.user_name),
                ),
            ]);
        }
    }
    Ok(())
}

/// Turns a request's outputs into tokens; DONE tokens get MORE except the last.
fn encode(outputs: &[Output], in_rpc: bool, server: &str) -> Vec<u8> {
    let mut w = TokenWriter::default();
    let mut outputs: Vec<Output> = outputs.to_vec();
    if !matches!(
        outputs.last(),
        Some(Output::Done { .. } | Output::Cancelled)
    ) {
        outputs.push(Output::Done {
            rows: None,
            error: false,
            proc: in_rpc,
        });
    }
    let last_done = outputs
        .iter()
        .rposition(|o| matches!(o, Output::Done { .. } | Output::Cancelled));
    for (i, o) in outputs.iter().enumerate() {
        let more = if Some(i) == last_done { 0 } else { done::MORE };
        match o {
            Output::Rows(rs) => {
                w.col_metadata(&rs.columns);
                for r in &rs.rows {
                    w.row(&rs.columns, r);
                }
            }
            Output::Message(m) => w.message(m.number, m.state, m.class, &m.text, server),
            Output::ReturnStatus(n) => w.return_status(*n),
            Output::Database { new, old } => w.env_database(new, old),
            Output::Done { rows, error, proc } => {
                let kind = match (proc, in_rpc) {
                    (true, _) => DoneKind::Proc,
                    (false, true) => DoneKind::InProc,
                    (false, false) => DoneKind::Done,
                };
                let mut status = more;
                if *error {
                    status |= done::ERROR;
                }
                if rows.is_some() {
                    status |= done::COUNT;
                }
                w.done(
                    kind,
                    status,
                    if rows.is_some() { 0xC1 } else { 0 },
                    rows.unwrap_or(0),
                );
            }
            Output::Cancelled => w.done(DoneKind::Done, done::ATTN, 0, 0),
        }
    }
    w.buf
}
