//! End-to-end tests: each module drives the built `runledger` and `runledger-verify` binaries
//! and is named for the promise it keeps.
//!
//! | module | promise |
//! |---|---|

mod common;
mod fixture_journals;
mod fixtures_verify;
mod independent_envelope;
