//! The simulated `.trn` log backup file: a small header that `RESTORE HEADERONLY` reads, a
//! payload standing in for the log records, and checksums.
//!
//! Layout (all integers little-endian):
//! `"RLSIMTRN"`, version byte `1`, header length (u32), header (JSON), SHA-256 of the header,
//! payload length (u64), payload, SHA-256 of every byte before it.
//! The header checksum lets `RESTORE HEADERONLY` reject a damaged header (3241) while still
//! reading a file whose payload changed, as SQL Server reads the media header. The trailing
//! SHA-256 stands for two different things, kept apart as SQL Server keeps them: when the
//! header says `HasBackupChecksums` it is the backup checksum, which `RESTORE VERIFYONLY` and
//! `RESTORE LOG` check (3183); without it, it stands for the log records' own consistency,
//! which only applying them finds broken (`RESTORE LOG`: 3203), while `VERIFYONLY` checks no
//! more than that the backup set is complete. This module never touches the simulated
//! catalog: it only reads and writes bytes.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::lsn::Lsn;

const MAGIC: &[u8; 8] = b"RLSIMTRN";
const VERSION: u8 = 1;

/// The backup set header, with the columns of `RESTORE HEADERONLY` that matter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupHeader {
    /// Database the log belongs to (`mgc`).
    pub database_name: String,
    /// SQL Server instance that wrote the backup (the primary or its mirror).
    pub server_name: String,
    /// Machine that wrote the backup.
    pub machine_name: String,
    /// 2 = transaction log.
    pub backup_type: i16,
    /// First LSN in the set (decimal).
    #[serde(rename = "FirstLSN")]
    pub first_lsn: String,
    /// LSN of the next log record after the set (exclusive end, decimal).
    #[serde(rename = "LastLSN")]
    pub last_lsn: String,
    /// Most recent checkpoint when the backup was taken (decimal).
    #[serde(rename = "CheckpointLSN")]
    pub checkpoint_lsn: String,
    /// Begin-of-checkpoint LSN of the full backup this log chains to (decimal).
    #[serde(rename = "DatabaseBackupLSN")]
    pub database_backup_lsn: String,
    /// Writer's local time, `YYYY-MM-DD HH:MM:SS.fff`.
    pub backup_start_date: String,
    /// Writer's local time, `YYYY-MM-DD HH:MM:SS.fff`.
    pub backup_finish_date: String,
    /// Stable across restores of one database.
    #[serde(rename = "FamilyGUID")]
    pub family_guid: String,
    /// Recovery fork at the start of the set.
    #[serde(rename = "FirstRecoveryForkID")]
    pub first_recovery_fork_id: String,
    /// Recovery fork at the end of the set.
    #[serde(rename = "RecoveryForkID")]
    pub recovery_fork_id: String,
    /// Size of the backup in bytes, as SQL Server reports it.
    pub backup_size: i64,
    /// Written `WITH CHECKSUM`: page and backup checksums can be verified.
    #[serde(rename = "HasBackupChecksums", default)]
    pub has_backup_checksums: bool,
}

impl BackupHeader {
    /// FirstLSN as a number.
    pub fn first(&self) -> Lsn {
        Lsn::parse(&self.first_lsn).unwrap_or(Lsn(0))
    }

    /// LastLSN as a number.
    pub fn last(&self) -> Lsn {
        Lsn::parse(&self.last_lsn).unwrap_or(Lsn(0))
    }
}

/// Why a backup file could not be used; each maps to a SQL Server error number.
#[derive(Debug, thiserror::Error)]
pub enum BackupFileError {
    /// The file could not be opened (3201).
    #[error("cannot open backup device: {0}")]
    Open(#[source] io::Error),
    /// Not a backup file, or its header bytes changed (3241).
    #[error("the media family is incorrectly formed")]
    Malformed,
    /// The file ends before its declared end (3203).
    #[error("read failed: reached the end of the file")]
    Truncated,
}

/// A whole backup file read back: its header, its payload, and whether the payload is what
/// was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whole {
    /// The header.
    pub header: BackupHeader,
    /// The payload's bytes as read.
    pub payload: Vec<u8>,
    /// The payload's bytes are the ones written (the trailing SHA-256 holds).
    pub payload_intact: bool,
}

/// Writes a backup file with this header and payload, and syncs it.
pub fn write(path: &Path, header: &BackupHeader, payload: &[u8]) -> io::Result<()> {
    let bytes = encode(header, payload);
    let mut f = fs::File::create(path)?;
    f.write_all(&bytes)?;
    f.sync_all()
}

/// The bytes of a backup file.
pub fn encode(header: &BackupHeader, payload: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(header).expect("header serialises");
    let mut out = Vec::with_capacity(json.len() + payload.len() + 128);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&Sha256::digest(&json));
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

/// Reads the header only, like `RESTORE HEADERONLY`: the payload is not checked.
pub fn read_header(path: &Path) -> Result<BackupHeader, BackupFileError> {
    let bytes = fs::read(path).map_err(BackupFileError::Open)?;
    parse_header(&bytes).map(|(h, _)| h)
}

/// Reads the whole file: its structure must be complete; whether the payload still holds
/// the bytes written is reported, not judged (who may see it depends on the checksums).
pub fn read_whole(path: &Path) -> Result<Whole, BackupFileError> {
    let bytes = fs::read(path).map_err(BackupFileError::Open)?;
    let (header, rest_at) = parse_header(&bytes)?;
    let len_end = rest_at + 8;
    let len = bytes
        .get(rest_at..len_end)
        .ok_or(BackupFileError::Truncated)?;
    let payload_len = u64::from_le_bytes(len.try_into().expect("8 bytes")) as usize;
    let end = len_end
        .checked_add(payload_len)
        .ok_or(BackupFileError::Malformed)?;
    if bytes.len() < end + 32 {
        return Err(BackupFileError::Truncated);
    }
    let payload_intact =
        bytes.len() == end + 32 && Sha256::digest(&bytes[..end]).as_slice() == &bytes[end..];
    Ok(Whole {
        header,
        payload: bytes[len_end..end].to_vec(),
        payload_intact,
    })
}

fn parse_header(bytes: &[u8]) -> Result<(BackupHeader, usize), BackupFileError> {
    if bytes.len() < 13 {
        return Err(if bytes.starts_with(&MAGIC[..bytes.len().min(8)]) {
            BackupFileError::Truncated
        } else {
            BackupFileError::Malformed
        });
    }
    if &bytes[..8] != MAGIC || bytes[8] != VERSION {
        return Err(BackupFileError::Malformed);
    }
    let len = u32::from_le_bytes(bytes[9..13].try_into().expect("4 bytes")) as usize;
    let json_end = 13 + len;
    let sum_end = json_end + 32;
    if bytes.len() < sum_end {
        return Err(BackupFileError::Truncated);
    }
    let json = &bytes[13..json_end];
    if Sha256::digest(json).as_slice() != &bytes[json_end..sum_end] {
        return Err(BackupFileError::Malformed);
    }
    let header = serde_json::from_slice(json).map_err(|_| BackupFileError::Malformed)?;
    Ok((header, sum_end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> BackupHeader {
        BackupHeader {
            database_name: "mgc".into(),
            server_name: "PCSQL01".into(),
            machine_name: "PCSQL01".into(),
            backup_type: 2,
            first_lsn: "34000000012300001".into(),
            last_lsn: "34000000015600001".into(),
            checkpoint_lsn: "34000000012000001".into(),
            database_backup_lsn: "33000000001000001".into(),
            backup_start_date: "2024-01-01 12:00:00.000".into(),
            backup_finish_date: "2024-01-01 12:00:01.000".into(),
            family_guid: "7C5C1B2E-0000-0000-0000-000000000001".into(),
            first_recovery_fork_id: "7C5C1B2E-0000-0000-0000-000000000002".into(),
            recovery_fork_id: "7C5C1B2E-0000-0000-0000-000000000002".into(),
            backup_size: 1024,
            has_backup_checksums: false,
        }
    }

    #[test]
    fn a_changed_payload_byte_is_seen_by_a_whole_read_but_not_by_headeronly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mgc.trn");
        write(&path, &header(), &[7u8; 100]).unwrap();
        let whole = read_whole(&path).unwrap();
        assert_eq!(whole.header, header());
        assert_eq!(whole.payload, [7u8; 100]);
        assert!(whole.payload_intact);
        let mut bytes = fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 40] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert_eq!(read_header(&path).unwrap(), header());
        assert!(!read_whole(&path).unwrap().payload_intact);
        fs::write(&path, &bytes[..n - 10]).unwrap();
        assert!(matches!(read_whole(&path), Err(BackupFileError::Truncated)));
        bytes[20] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            read_header(&path),
            Err(BackupFileError::Malformed)
        ));
    }
}
