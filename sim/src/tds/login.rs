//! The two messages that open a connection: PRELOGIN (MS-TDS §2.2.6.5) and LOGIN7
//! (§2.2.6.4).
//!
//! The ENCRYPTION option is answered as SQL Server answers it when it has a certificate and
//! does not force encryption ([`negotiate`]); a data center made without certificates answers
//! `ENCRYPT_NOT_SUP` to everyone, as a server without one does. This module decodes and
//! encodes; the TLS itself is `tls.rs`'s, and deciding whether the credentials are right is the
//! server's job.

use std::fmt;

/// Pre-login option tokens.
const PL_VERSION: u8 = 0;
const PL_ENCRYPTION: u8 = 1;
const PL_INSTOPT: u8 = 2;
const PL_MARS: u8 = 4;
const PL_TERMINATOR: u8 = 0xFF;
/// Values of the ENCRYPTION option.
const ENCRYPT_OFF: u8 = 0;
const ENCRYPT_ON: u8 = 1;
const ENCRYPT_NOT_SUP: u8 = 2;
const ENCRYPT_REQ: u8 = 3;

/// What the server answered to the client's ENCRYPTION option, and so what the rest of the
/// connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// `ENCRYPT_NOT_SUP`: no TLS at all.
    NotSupported,
    /// `ENCRYPT_OFF`: TLS for the LOGIN7 message only; the login response and everything after
    /// it travel in plaintext.
    LoginOnly,
    /// `ENCRYPT_ON`: every message after pre-login travels inside TLS.
    Full,
}

/// The answer of a server that has a certificate (`has_certificate`) and does not force
/// encryption (MS-TDS §2.2.6.5): a client that cannot encrypt gets no TLS, a client that has
/// encryption off gets its login encrypted, and a client that asks for encryption or requires
/// it gets all of it. A client that sends no ENCRYPTION option, or a value the server does not
/// know, is taken as one that cannot encrypt.
pub fn negotiate(client: Option<u8>, has_certificate: bool) -> Encryption {
    if !has_certificate {
        return Encryption::NotSupported;
    }
    match client {
        Some(ENCRYPT_OFF) => Encryption::LoginOnly,
        Some(ENCRYPT_ON | ENCRYPT_REQ) => Encryption::Full,
        _ => Encryption::NotSupported,
    }
}

/// What a pre-login message asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreLogin {
    /// The client's ENCRYPTION option (0 off, 1 on, 2 not supported, 3 required), if sent.
    pub encryption: Option<u8>,
}

/// The message could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("malformed {what}")]
pub struct Malformed {
    what: &'static str,
}

fn malformed(what: &'static str) -> Malformed {
    Malformed { what }
}

/// Decodes a client's PRELOGIN payload.
pub fn parse_prelogin(payload: &[u8]) -> Result<PreLogin, Malformed> {
    let mut encryption = None;
    let mut at = 0;
    loop {
        let token = *payload.get(at).ok_or(malformed("pre-login"))?;
        if token == PL_TERMINATOR {
            return Ok(PreLogin { encryption });
        }
        let entry = payload.get(at..at + 5).ok_or(malformed("pre-login"))?;
        let offset = u16::from_be_bytes([entry[1], entry[2]]) as usize;
        let len = u16::from_be_bytes([entry[3], entry[4]]) as usize;
        if token == PL_ENCRYPTION && len >= 1 {
            encryption = Some(*payload.get(offset).ok_or(malformed("pre-login"))?);
        }
        at += 5;
    }
}

/// The server's PRELOGIN answer: SQL Server 2012's version number, the negotiated encryption,
/// no MARS.
pub fn prelogin_response(encryption: Encryption) -> Vec<u8> {
    let encryption = match encryption {
        Encryption::NotSupported => ENCRYPT_NOT_SUP,
        Encryption::LoginOnly => ENCRYPT_OFF,
        Encryption::Full => ENCRYPT_ON,
    };
    let options: [(u8, Vec<u8>); 4] = [
        // 11.0.7001.0: SQL Server 2012 SP4, a version Lync 2013's back ends run.
        (PL_VERSION, vec![11, 0, 0x1B, 0x59, 0, 0]),
        (PL_ENCRYPTION, vec![encryption]),
        (PL_INSTOPT, vec![0]),
        (PL_MARS, vec![0]),
    ];
    let table_len = options.len() * 5 + 1;
    let mut table = Vec::new();
    let mut data = Vec::new();
    for (token, value) in &options {
        let offset = (table_len + data.len()) as u16;
        table.push(*token);
        table.extend_from_slice(&offset.to_be_bytes());
        table.extend_from_slice(&(value.len() as u16).to_be_bytes());
        data.extend_from_slice(value);
    }
    table.push(PL_TERMINATOR);
    table.extend_from_slice(&data);
    table
}

/// The fields of LOGIN7 the simulator uses.
#[derive(Clone, PartialEq, Eq)]
pub struct Login7 {
    /// TDS version the client asked for, as the DWORD value (e.g. `0x74000004`).
    pub tds_version: u32,
    /// Packet size the client wants.
    pub packet_size: u32,
    /// Client host name.
    pub host_name: String,
    /// SQL login name.
    pub user_name: String,
    /// SQL login password, decoded.
    pub password: String,
    /// Client application name.
    pub app_name: String,
    /// Initial database, empty for the login's default.
    pub database: String,
    /// The client asked for integrated (SSPI) authentication.
    pub integrated_security: bool,
    /// The client sent a feature extension block (TDS 7.4).
    pub has_feature_ext: bool,
}

impl fmt::Debug for Login7 {
    // Never print the password, even in a test failure.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login7")
            .field("tds_version", &format_args!("{:#x}", self.tds_version))
            .field("user_name", &self.user_name)
            .field("database", &self.database)
            .field("app_name", &self.app_name)
            .finish_non_exhaustive()
    }
}

/// Decodes a LOGIN7 payload.
pub fn parse_login7(p: &[u8]) -> Result<Login7, Malformed> {
    if p.len() < 94 {
        return Err(malformed("LOGIN7"));
    }
    let u32_at = |at: usize| u32::from_le_bytes(p[at..at + 4].try_into().expect("4 bytes"));
    let u16_at = |at: usize| u16::from_le_bytes([p[at], p[at + 1]]) as usize;
    let text = |at: usize| -> Result<Vec<u16>, Malformed> {
        let (offset, chars) = (u16_at(at), u16_at(at + 2));
        let bytes = p
            .get(offset..offset + chars * 2)
            .ok_or(malformed("LOGIN7 string"))?;
        Ok(bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect())
    };
    let string = |at: usize| text(at).map(|units| String::from_utf16_lossy(&units));
    // The password is obfuscated byte by byte: swap the nibbles back, then undo the XOR.
    let password_bytes: Vec<u8> = {
        let (offset, chars) = (u16_at(44), u16_at(46));
        p.get(offset..offset + chars * 2)
            .ok_or(malformed("LOGIN7 password"))?
            .iter()
            .map(|b| (b ^ 0xA5).rotate_left(4))
            .collect()
    };
    let units: Vec<u16> = password_bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Ok(Login7 {
        tds_version: u32_at(4),
        packet_size: u32_at(8),
        host_name: string(36)?,
        user_name: string(40)?,
        password: String::from_utf16_lossy(&units),
        app_name: string(48)?,
        database: string(68)?,
        integrated_security: p[25] & 0x80 != 0,
        has_feature_ext: p[27] & 0x10 != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_carries_the_negotiated_encryption() {
        for (answer, byte) in [
            (Encryption::NotSupported, ENCRYPT_NOT_SUP),
            (Encryption::LoginOnly, ENCRYPT_OFF),
            (Encryption::Full, ENCRYPT_ON),
        ] {
            let payload = prelogin_response(answer);
            assert_eq!(parse_prelogin(&payload).unwrap().encryption, Some(byte));
        }
    }

    #[test]
    fn a_server_with_a_certificate_answers_as_sql_server_does() {
        let cases = [
            (Some(ENCRYPT_OFF), Encryption::LoginOnly),
            (Some(ENCRYPT_ON), Encryption::Full),
            (Some(ENCRYPT_NOT_SUP), Encryption::NotSupported),
            (Some(ENCRYPT_REQ), Encryption::Full),
            (None, Encryption::NotSupported),
            (Some(0x80), Encryption::NotSupported),
        ];
        for (client, answer) in cases {
            assert_eq!(negotiate(client, true), answer, "client {client:?}");
            assert_eq!(negotiate(client, false), Encryption::NotSupported);
        }
    }
}
