//! The SQL layer: the statements of the failover and its probes, answered with SQL Server's
//! results and error numbers.

pub mod error;
pub mod full;
pub mod lexer;
pub mod log_shipping;
pub mod procs;
pub mod restore;
pub mod select;
pub mod session;
pub mod statement;
