//! End-to-end tests: each module drives the built `runledger` and `runledger-verify` binaries
//! and is named for the promise it keeps.
//!
//! | module | promise |
//! |---|---|
//! | `drill` | `runledger drill` completes the failover (the simulator's record is the witness); killed after any event or between any action and its outcome, `resume` reaches the same end state without repeating what must not be repeated |
//! | `drill_scenarios` | every simulator scenario ends as a DBA expects: gaps and damaged files wait for a recorded decision, sessions are ended, a running restore job is waited for, an unreachable CMS or share is stated |
//! | `fixture_journals` | the committed journal fixtures are exactly what their generator writes (they pin the format) |
//! | `fixtures_verify` | every fixture reaches its `EXPECT`ed verdict, seq and check through the library and the CLI, on SQLite and JSONL |
//! | `format_vectors` | the worked vectors of docs/journal-format.md hold, checked independently, and the writer reproduces them byte for byte |
//! | `independent_envelope` | a second, independent reading of the format accepts the JSONL export (no shared decoder) |
//! | `interrupt` | Ctrl-C stops between actions, says how to resume, and resume completes |
//! | `journal_tools` | keys, checkpoints, inclusion proofs, consistency with older checkpoints, requirements, bad input exits 2 |
//! | `replay` | golden journals replay without divergence; every prefix leads to the next recorded decision; a forged decision is a divergence |
//! | `report` | the post-incident report renders verdict, steps and backup hashes in headless Chromium with no network request; a tampered journal's report proves nothing; the Markdown is pinned by a snapshot |
//! | `resume_refusals` | resume refuses another runbook, another key, a journal that does not verify or is locked, appending nothing |
//! | `sim_crash_restore` | killing `runledger sim serve` mid-restore loses no committed state; `sim cs-shell` exit codes |

mod common;
mod drill;
mod drill_scenarios;
mod fixture_journals;
mod fixtures_verify;
mod format_vectors;
mod independent_envelope;
mod interrupt;
mod journal_tools;
mod replay;
mod report;
mod resume_refusals;
mod sim_crash_restore;
