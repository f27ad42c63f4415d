//! The drill data center: a simulated backup SQL Server reachable over TDS on loopback and a
//! simulated Lync Management Shell, with their state in SQLite.
#![deny(missing_docs)]

pub mod backup_file;
pub mod cli;
pub mod lsn;
pub mod tds;
