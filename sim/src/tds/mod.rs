//! The Tabular Data Stream protocol, server side, as far as the simulator needs it.

pub mod login;
pub mod packet;
pub mod rpc;
pub mod tls;
pub mod token;
