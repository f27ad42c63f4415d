//! TLS inside TDS, server side (MS-TDS §2.2.6.5, §3.3.5.2): the handshake's records travel in
//! the payload of PRELOGIN (0x12) packets; once it is done, TDS packets travel inside TLS
//! records. Which messages are encrypted is decided at pre-login (`login::negotiate`).
//!
//! A connection is read by one thread (so that an attention or a `KILL` reaches a running
//! statement) and written by another, and `KILL` ends it by shutting the socket down. So the
//! TLS session is rustls' sans-I/O `ServerConnection` behind a mutex, shared by handles over
//! clones of one `TcpStream`: the reader waits for ciphertext without the lock, then feeds it
//! in and takes plaintext out; the writer puts plaintext in and writes the records out under
//! the lock, so that records leave in the order they were sealed.
//!
//! The server offers TLS 1.2 only, as SQL Server 2012 does; it also keeps every server record
//! of the handshake inside PRELOGIN packets, which TLS 1.3's records after the handshake
//! (session tickets) would not be. This module never decides what a client may do: a client
//! that fails the handshake gets an alert and a closed connection, nothing more.

use std::fs;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rustls::{Certificate, PrivateKey, ServerConfig, ServerConnection};

use crate::certs;
use crate::tds::packet::{read_packet, write_message, PacketType};
use crate::SimError;

/// How much ciphertext the reader takes from the socket at a time: small enough that rustls'
/// buffer of received plaintext (16 KiB) never overflows while it is fed.
const READ_CHUNK: usize = 4096;
/// The packet size of the handshake's PRELOGIN packets (LOGIN7 has not set one yet).
const HANDSHAKE_PACKET_SIZE: usize = 4096;

/// The TLS configuration of a data center: `None` when `DIR/sim` has no `server.pem` (a data
/// center made before the simulator offered TLS), which then answers every pre-login with
/// `ENCRYPT_NOT_SUP`.
pub fn server_config(sim_dir: &Path) -> Result<Option<Arc<ServerConfig>>, SimError> {
    let cert_path = sim_dir.join(certs::SERVER_CERT_FILE);
    if !cert_path.exists() {
        return Ok(None);
    }
    let key_path = sim_dir.join(certs::SERVER_KEY_FILE);
    let unusable = |path: &Path, reason: String| SimError::Certificate {
        path: path.to_path_buf(),
        reason,
    };
    let read = |path: &Path| fs::read(path).map_err(|e| unusable(path, e.to_string()));
    let chain: Vec<Certificate> = rustls_pemfile::certs(&mut read(&cert_path)?.as_slice())
        .map_err(|e| unusable(&cert_path, e.to_string()))?
        .into_iter()
        .map(Certificate)
        .collect();
    if chain.is_empty() {
        return Err(unusable(&cert_path, "no certificate in the file".into()));
    }
    let key = rustls_pemfile::pkcs8_private_keys(&mut read(&key_path)?.as_slice())
        .map_err(|e| unusable(&key_path, e.to_string()))?
        .into_iter()
        .next()
        .map(PrivateKey)
        .ok_or_else(|| unusable(&key_path, "no PKCS#8 private key in the file".into()))?;
    let config = ServerConfig::builder()
        .with_safe_default_cipher_suites()
        .with_safe_default_kx_groups()
        .with_protocol_versions(&[&rustls::version::TLS12])
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| unusable(&cert_path, e.to_string()))?;
    Ok(Some(Arc::new(config)))
}

/// Runs the server's side of the TLS handshake over `tcp`, each flight in PRELOGIN packets, and
/// returns the established session. A client that gives up or refuses the certificate ends
/// it with an error (after the server's alert, if any, was sent).
pub fn handshake(tcp: &TcpStream, config: Arc<ServerConfig>) -> io::Result<TlsStream> {
    let mut session = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut reader = tcp;
    while session.is_handshaking() {
        let Some(packet) = read_packet(&mut reader)? else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the client closed the connection during the tls handshake",
            ));
        };
        if packet.ty != PacketType::PreLogin {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a {:?} packet during the tls handshake, which travels in pre-login packets",
                    packet.ty
                ),
            ));
        }
        let mut data = packet.payload.as_slice();
        while !data.is_empty() {
            if session.read_tls(&mut data)? == 0 {
                return Err(io::Error::other(
                    "the tls session takes no more handshake bytes",
                ));
            }
            if let Err(e) = session.process_new_packets() {
                // Tell the client why (a fatal alert), then give up on it.
                let _ = send_handshake_records(&mut session, tcp);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
        send_handshake_records(&mut session, tcp)?;
    }
    Ok(TlsStream {
        session: Arc::new(Mutex::new(session)),
        tcp: tcp.try_clone()?,
    })
}

/// Sends what the session has to say during the handshake, as one PRELOGIN message.
fn send_handshake_records(session: &mut ServerConnection, tcp: &TcpStream) -> io::Result<()> {
    let mut records = Vec::new();
    while session.wants_write() {
        session.write_tls(&mut records)?;
    }
    if records.is_empty() {
        return Ok(());
    }
    let mut writer = tcp;
    write_message(
        &mut writer,
        PacketType::PreLogin,
        0,
        HANDSHAKE_PACKET_SIZE,
        &records,
    )
}

/// An established TLS session over a TCP connection. Clones share the session: one may read
/// while another writes.
pub struct TlsStream {
    session: Arc<Mutex<ServerConnection>>,
    tcp: TcpStream,
}

impl TlsStream {
    /// Another handle on the same session and socket.
    pub fn try_clone(&self) -> io::Result<TlsStream> {
        Ok(TlsStream {
            session: self.session.clone(),
            tcp: self.tcp.try_clone()?,
        })
    }
}

fn lock(session: &Mutex<ServerConnection>) -> io::Result<MutexGuard<'_, ServerConnection>> {
    session
        .lock()
        .map_err(|_| io::Error::other("the tls session was poisoned by a panic"))
}

/// Writes the records the session has sealed (data, or an alert) to the socket.
fn flush_records(session: &mut ServerConnection, mut tcp: &TcpStream) -> io::Result<()> {
    while session.wants_write() {
        session.write_tls(&mut tcp)?;
    }
    Ok(())
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            {
                let mut session = lock(&self.session)?;
                match session.reader().read(buf) {
                    // 0: the client sent close_notify.
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            // Wait for ciphertext without the lock, so that the writer is never held up.
            let n = (&self.tcp).read(&mut chunk)?;
            if n == 0 {
                // The client closed the socket without close_notify (or a KILL shut it down).
                return Ok(0);
            }
            let mut session = lock(&self.session)?;
            let mut data = &chunk[..n];
            while !data.is_empty() {
                if session.read_tls(&mut data)? == 0 {
                    return Err(io::Error::other("the tls session takes no more bytes"));
                }
                let processed = session.process_new_packets();
                // An alert in answer to a bad record goes out before the error comes back.
                flush_records(&mut session, &self.tcp)?;
                processed.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut session = lock(&self.session)?;
        let n = session.writer().write(buf)?;
        flush_records(&mut session, &self.tcp)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut session = lock(&self.session)?;
        session.writer().flush()?;
        flush_records(&mut session, &self.tcp)?;
        (&self.tcp).flush()
    }
}

/// A connection's bytes after pre-login: plain TCP, or TLS over it.
pub enum Wire {
    /// No TLS (`ENCRYPT_NOT_SUP`, or after a login-only TLS session).
    Plain(TcpStream),
    /// Every byte inside TLS.
    Tls(TlsStream),
}

impl Wire {
    /// Another handle on the same connection, for a second thread.
    pub fn try_clone(&self) -> io::Result<Wire> {
        Ok(match self {
            Wire::Plain(tcp) => Wire::Plain(tcp.try_clone()?),
            Wire::Tls(tls) => Wire::Tls(tls.try_clone()?),
        })
    }

    /// The socket underneath, to shut the connection down.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Wire::Plain(tcp) => tcp,
            Wire::Tls(tls) => &tls.tcp,
        }
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(tcp) => tcp.read(buf),
            Wire::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(tcp) => tcp.write(buf),
            Wire::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Wire::Plain(tcp) => tcp.flush(),
            Wire::Tls(tls) => tls.flush(),
        }
    }
}
