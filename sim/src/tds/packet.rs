//! TDS packets: the 8-byte header, and messages made of one or more packets (MS-TDS §2.2.3).
//!
//! A message is the concatenation of packet payloads up to the one whose status has the
//! end-of-message bit. This module frames bytes and nothing else: it never looks inside a
//! payload.

use std::io::{self, Read, Write};

/// Packet types the server reads or writes (MS-TDS §2.2.3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// SQL batch (1).
    SqlBatch,
    /// Remote procedure call (3).
    Rpc,
    /// Tabular result, server to client (4).
    TabularResult,
    /// Attention signal: cancel the running request (6).
    Attention,
    /// Transaction manager request (14).
    TransactionManager,
    /// LOGIN7 (16).
    Login7,
    /// Pre-login (18).
    PreLogin,
    /// Any other type, kept so that the server can refuse it by number.
    Other(u8),
}

impl PacketType {
    fn from_byte(b: u8) -> PacketType {
        match b {
            1 => PacketType::SqlBatch,
            3 => PacketType::Rpc,
            4 => PacketType::TabularResult,
            6 => PacketType::Attention,
            14 => PacketType::TransactionManager,
            16 => PacketType::Login7,
            18 => PacketType::PreLogin,
            other => PacketType::Other(other),
        }
    }

    fn byte(self) -> u8 {
        match self {
            PacketType::SqlBatch => 1,
            PacketType::Rpc => 3,
            PacketType::TabularResult => 4,
            PacketType::Attention => 6,
            PacketType::TransactionManager => 14,
            PacketType::Login7 => 16,
            PacketType::PreLogin => 18,
            PacketType::Other(b) => b,
        }
    }
}

const HEADER_LEN: usize = 8;
const STATUS_EOM: u8 = 0x01;
/// Messages larger than this are refused rather than buffered: no statement the simulator
/// knows comes near it, and it bounds what a misbehaving client can make us allocate.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// One packet: its type, whether it ends its message, and its payload.
#[derive(Debug)]
pub struct Packet {
    /// The packet's type.
    pub ty: PacketType,
    /// The end-of-message bit.
    pub last: bool,
    /// The bytes after the header.
    pub payload: Vec<u8>,
}

/// Reads one packet; `Ok(None)` when the client closed the connection before its header.
pub fn read_packet(r: &mut impl Read) -> io::Result<Option<Packet>> {
    let mut header = [0u8; HEADER_LEN];
    if let Err(e) = r.read_exact(&mut header) {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            return Ok(None);
        }
        return Err(e);
    }
    let len = u16::from_be_bytes([header[2], header[3]]) as usize;
    if len < HEADER_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "packet shorter than its header",
        ));
    }
    let mut payload = vec![0; len - HEADER_LEN];
    r.read_exact(&mut payload)?;
    Ok(Some(Packet {
        ty: PacketType::from_byte(header[0]),
        last: header[1] & STATUS_EOM != 0,
        payload,
    }))
}

/// Reads one whole message; `Ok(None)` when the client closed the connection cleanly.
pub fn read_message(r: &mut impl Read) -> io::Result<Option<(PacketType, Vec<u8>)>> {
    let mut payload = Vec::new();
    let mut first_type = None;
    loop {
        let Some(packet) = read_packet(r)? else {
            if first_type.is_none() {
                return Ok(None);
            }
            return Err(io::ErrorKind::UnexpectedEof.into());
        };
        if payload.len() + packet.payload.len() > MAX_MESSAGE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "message too large",
            ));
        }
        payload.extend_from_slice(&packet.payload);
        let ty = *first_type.get_or_insert(packet.ty);
        if packet.last {
            return Ok(Some((ty, payload)));
        }
    }
}

/// Writes `payload` as one message split into packets of at most `packet_size` bytes.
pub fn write_message(
    w: &mut impl Write,
    ty: PacketType,
    spid: u16,
    packet_size: usize,
    payload: &[u8],
) -> io::Result<()> {
    let chunk = packet_size.max(512) - HEADER_LEN;
    let mut out = Vec::with_capacity(payload.len() + HEADER_LEN * (payload.len() / chunk + 1));
    let mut chunks = payload.chunks(chunk).peekable();
    let mut id: u8 = 1;
    if chunks.peek().is_none() {
        out.extend_from_slice(&header(ty, STATUS_EOM, HEADER_LEN, spid, id));
    }
    while let Some(part) = chunks.next() {
        let status = if chunks.peek().is_none() {
            STATUS_EOM
        } else {
            0
        };
        out.extend_from_slice(&header(ty, status, HEADER_LEN + part.len(), spid, id));
        out.extend_from_slice(part);
        id = id.wrapping_add(1);
    }
    w.write_all(&out)?;
    w.flush()
}

fn header(ty: PacketType, status: u8, len: usize, spid: u16, id: u8) -> [u8; HEADER_LEN] {
    let l = (len as u16).to_be_bytes();
    let s = spid.to_be_bytes();
    [ty.byte(), status, l[0], l[1], s[0], s[1], id, 0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_split_into_packets_reads_back_whole() {
        let payload: Vec<u8> = (0..2000u32).map(|i| i as u8).collect();
        let mut wire = Vec::new();
        write_message(&mut wire, PacketType::TabularResult, 51, 512, &payload).unwrap();
        assert_eq!(wire.len(), payload.len() + 8 * 4);
        let (ty, back) = read_message(&mut wire.as_slice()).unwrap().unwrap();
        assert_eq!(ty, PacketType::TabularResult);
        assert_eq!(back, payload);
        assert!(read_message(&mut [].as_slice()).unwrap().is_none());
    }
}
