//! Promise: an attention (cancel) stops a running statement — here a paced restore — which
//! is acknowledged with DONE(ATTN) and, as on SQL Server, leaves the database in the middle of
//! that restore: another file is refused with 4319 until the interrupted one is restored again.
//!
//! Neither tiberius nor `tsql` can send an attention on demand, so this test speaks TDS itself
//! through the simulator's own packet framing.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use runledger_sim::tds::packet::{read_message, write_message, PacketType};
use runledger_sim::{InitOptions, Scenario};

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

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

#[test]
fn an_attention_cancels_a_paced_restore() {
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
    let mut s = TcpStream::connect((inst.host.as_str(), inst.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let prelogin = [0u8, 0, 11, 0, 6, 1, 0, 17, 0, 1, 0xFF, 11, 0, 0, 0, 0, 0, 2];
    write_message(&mut s, PacketType::PreLogin, 0, 4096, &prelogin).unwrap();
    read_message(&mut s).unwrap().unwrap();
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
