//! Promise: an attention (cancel) stops a running statement — here a paced restore — which
//! is acknowledged with DONE(ATTN) and, as on SQL Server, leaves the database in the middle of
//! that restore — in plaintext and inside TLS alike: another file is refused with 4319 until
//! the interrupted one is restored again `WITH RESTART`.
//!
//! Neither tiberius nor `tsql` can send an attention on demand, so this test speaks TDS itself
//! through the simulator's own packet framing, and TLS through rustls' client.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use runledger_sim::tds::packet::{read_message, read_packet, write_message, PacketType};
use runledger_sim::{InitOptions, Scenario};
use rustls::{ClientConnection, StreamOwned};

const ENCRYPT_ON: u8 = 1;
const ENCRYPT_NOT_SUP: u8 = 2;

fn login7(user: &str, password: &str) -> Vec<u8> {
    let fields = [
        "test-host",
        user,
        password,
        "attention-test",
        "127.0.0.1",
        "",
        "raw",
        "",
        "",
    ];
    let mut data = Vec::new();
    let mut offsets = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        let mut bytes = utf16(f);
        if i == 2 {
            // Password obfuscation: swap nibbles, then XOR 0xA5.
            bytes = bytes.iter().map(|b| b.rotate_left(4) ^ 0xA5).collect();
        }
        offsets.push((94 + data.len(), f.encode_utf16().count()));
        data.extend_from_slice(&bytes);
    }
    let mut p = Vec::new();
    p.extend_from_slice(&((94 + data.len()) as u32).to_le_bytes());
    p.extend_from_slice(&0x7400_0004u32.to_le_bytes());
    p.extend_from_slice(&4096u32.to_le_bytes());
    p.extend_from_slice(&[0; 12]); // client version, pid, connection id
    p.extend_from_slice(&[0xE0, 0x03, 0, 0]); // option flags, type flags
    p.extend_from_slice(&[0; 8]); // time zone, LCID
                                  // HostName, UserName, Password, AppName, ServerName, Unused, CltIntName, Language, Database.
    for (off, len) in &offsets {
        p.extend_from_slice(&(*off as u16).to_le_bytes());
        p.extend_from_slice(&(*len as u16).to_le_bytes());
    }
    p.extend_from_slice(&[0; 6]); // client id
    p.extend_from_slice(&[0; 16]); // SSPI, attach db file, change password, SSPI long
    assert_eq!(p.len(), 94);
    p.extend_from_slice(&data);
    p
}

/// The client's side of the TLS handshake, its records in PRELOGIN packets, pinning `ca`.
fn tls_client(mut tcp: TcpStream, ca: &Path) -> StreamOwned<ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for der in rustls_pemfile::certs(&mut std::fs::read(ca).unwrap().as_slice()).unwrap() {
        roots.add(&rustls::Certificate(der)).unwrap();
    }
    let config = rustls::ClientConfig::builder()
        .with_safe_defaults()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = "127.0.0.1".try_into().unwrap();
    let mut tls = ClientConnection::new(Arc::new(config), name).unwrap();
    while tls.is_handshaking() {
        if tls.wants_write() {
            let mut records = Vec::new();
            while tls.wants_write() {
                tls.write_tls(&mut records).unwrap();
            }
            write_message(&mut tcp, PacketType::PreLogin, 0, 4096, &records).unwrap();
        } else {
            let packet = read_packet(&mut tcp).unwrap().expect("a handshake packet");
            assert_eq!(packet.ty, PacketType::PreLogin);
            let mut data = packet.payload.as_slice();
            while !data.is_empty() {
                tls.read_tls(&mut data).unwrap();
                tls.process_new_packets().unwrap();
            }
        }
    }
    StreamOwned::new(tls, tcp)
}

#[test]
fn an_attention_cancels_a_paced_restore() {
    attention_cancels_a_paced_restore(ENCRYPT_NOT_SUP);
}

#[test]
fn an_attention_cancels_a_paced_restore_over_tls() {
    attention_cancels_a_paced_restore(ENCRYPT_ON);
}

/// Logs in with the client's ENCRYPTION option `encryption`, starts a paced restore and
/// cancels it.
fn attention_cancels_a_paced_restore(encryption: u8) {
    let dc = Dc::with(InitOptions {
        scenario: Scenario::Normal,
        pace_ms: 5_000,
        ..InitOptions::default()
    });
    let status = runledger_sim::status(dc.path()).unwrap();
    let next = status
        .files
        .iter()
        .find(|f| f.in_dest && !f.restored)
        .unwrap();
    let inst = dc.bak();
    let mut tcp = TcpStream::connect((inst.host.as_str(), inst.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let prelogin = [
        0u8, 0, 11, 0, 6, 1, 0, 17, 0, 1, 0xFF, 11, 0, 0, 0, 0, 0, encryption,
    ];
    write_message(&mut tcp, PacketType::PreLogin, 0, 4096, &prelogin).unwrap();
    let (_, answer) = read_message(&mut tcp).unwrap().unwrap();
    let answered = runledger_sim::tds::login::parse_prelogin(&answer).unwrap();
    assert_eq!(answered.encryption, Some(encryption));
    let mut s: Box<dyn ReadWrite> = if encryption == ENCRYPT_ON {
        Box::new(tls_client(tcp, &dc.ca()))
    } else {
        Box::new(tcp)
    };
    write_message(
        &mut s,
        PacketType::Login7,
        0,
        4096,
        &login7(&inst.user, &inst.password),
    )
    .unwrap();
    let (_, reply) = read_message(&mut s).unwrap().unwrap();
    assert!(reply.contains(&0xAD), "no LOGINACK in the login reply");

    let sql = format!(
        "RESTORE LOG [mgc] FROM DISK = N'{}' WITH NORECOVERY",
        dest_path(&next.name)
    );
    let mut batch = Vec::new();
    batch.extend_from_slice(&22u32.to_le_bytes());
    batch.extend_from_slice(&18u32.to_le_bytes());
    batch.extend_from_slice(&2u16.to_le_bytes());
    batch.extend_from_slice(&[0; 8]);
    batch.extend_from_slice(&1u32.to_le_bytes());
    batch.extend_from_slice(&utf16(&sql));
    let started = Instant::now();
    write_message(&mut s, PacketType::SqlBatch, 0, 4096, &batch).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    write_message(&mut s, PacketType::Attention, 0, 4096, &[]).unwrap();
    let (_, reply) = read_message(&mut s).unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the restore ran its whole pace"
    );
    let done = &reply[reply.len() - 13..];
    assert_eq!(done[0], 0xFD, "the reply ends with DONE");
    assert_eq!(
        u16::from_le_bytes([done[1], done[2]]) & 0x20,
        0x20,
        "DONE acknowledges the attention"
    );
    let after = runledger_sim::status(dc.path()).unwrap();
    assert!(
        after.history.is_empty(),
        "the cancelled restore applied nothing"
    );
    assert_eq!(
        after.instances[0].databases[0].redo_start_lsn,
        status.instances[0].databases[0].redo_start_lsn
    );
    assert_eq!(
        after.instances[0].databases[0]
            .interrupted_restore
            .as_deref(),
        Some(next.name.as_str())
    );
    drop(s);

    // Any other file now: 4319. The interrupted one, WITH RESTART: it completes.
    let later = status
        .files
        .iter()
        .find(|f| f.in_dest && !f.restored && f.name != next.name)
        .unwrap();
    let (out, err, _) = tsql(
        inst,
        &inst.password,
        &format!(
            "RESTORE LOG [mgc] FROM DISK = N'{}' WITH NORECOVERY",
            dest_path(&later.name)
        ),
    );
    assert!(
        format!("{out}{err}").contains("4319"),
        "another file after an interrupted restore: {out}{err}"
    );
    let (out, err, _) = tsql(inst, &inst.password, "RESTORE DATABASE [mgc] WITH RECOVERY");
    assert!(
        format!("{out}{err}").contains("4319"),
        "recovery in the middle of a restore: {out}{err}"
    );
    let (out, err, _) = tsql(inst, &inst.password, &format!("{sql}, RESTART"));
    assert!(
        format!("{out}{err}").contains("RESTORE LOG successfully processed")
            && !format!("{out}{err}").contains("severity 16"),
        "the interrupted file restored again: {out}{err}"
    );
    let done = runledger_sim::status(dc.path()).unwrap();
    assert_eq!(done.instances[0].databases[0].interrupted_restore, None);
    assert_eq!(done.history.len(), 1, "{:?}", done.history);
}

/// A connection in clear or inside TLS.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}
