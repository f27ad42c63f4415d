//! Witnesses (C2SP `tlog-witness`): the client that asks a witness to cosign a checkpoint, and
//! the witness server `runledger witness serve` runs.

mod client;
pub mod server;
mod state;

pub use client::{add_checkpoint, request_body, AddError, MAX_PROOF_LINES};
