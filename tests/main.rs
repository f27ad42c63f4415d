//! End-to-end tests: each module drives the built `runledger` and `runledger-verify` binaries
//! and is named for the promise it keeps.
//!
//! | module | promise |
//! |---|---|
//! | `fixture_journals` | the committed journal fixtures are exactly what their generator writes (they pin the format) |
//! | `fixtures_verify` | every fixture reaches its `EXPECT`ed verdict, seq and check through the library and the CLI, on SQLite and JSONL |
//! | `independent_envelope` | a second, independent reading of the format accepts the JSONL export (no shared decoder) |
//! | `journal_tools` | keys, checkpoints, inclusion proofs, consistency with older checkpoints, requirements, bad input exits 2 |
//! | `sim_crash_restore` | killing `runledger sim serve` mid-restore loses no committed state; `sim cs-shell` exit codes |

mod common;
mod drill;
mod drill_scenarios;
mod fixture_journals;
mod fixtures_verify;
mod format_vectors;
mod independent_envelope;
mod journal_tools;
mod replay;
mod resume_refusals;
mod sim_crash_restore;
