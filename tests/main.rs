//! End-to-end tests: each module drives the built `runledger` and `runledger-verify` binaries
//! and is named for the promise it keeps.
//!
//! | module | promise |
//! |---|---|
//! | `agreement` | `runledger-verify`, `runledger status`, `resume` and `runledger report` agree on the same journals: whether the last run finished, the intents in flight (those a resume reconciles), the files not applied |
//! | `drill` | `runledger drill` completes the failover (the simulator's record is the witness); killed after any event or between any action and its outcome, `resume` reaches the same end state without repeating what must not be repeated |
//! | `failback` | `runledger drill --round-trip` fails over and back against one simulated data center and ends in the topology a fresh one starts in; both journals verify anchored; a failback killed at its restores or its log-shipping configuration is resumed without executing any effect twice |
//! | `drill_scenarios` | every simulator scenario ends as a DBA expects: gaps and damaged files wait for a recorded decision, sessions are ended, a running restore job is waited for, an unreachable CMS or share is stated |
//! | `fixture_journals` | the committed journal fixtures are exactly what their generator writes (they pin the format) |
//! | `fixtures_verify` | every fixture reaches its `EXPECT`ed verdict, seq and check through the library and the CLI, on SQLite and JSONL |
//! | `format_vectors` | the worked vectors of docs/journal-format.md hold, checked independently, and the writer reproduces them byte for byte |
//! | `independent_envelope` | a second, independent reading of the format accepts the JSONL export (no shared decoder) |
//! | `interrupt` | Ctrl-C stops between actions, says how to resume, and resume completes |
//! | `report` | the post-incident report shows the verdict first, renders in headless Chromium with no network request, proves nothing for a tampered journal; its Markdown is pinned by a redacted snapshot |
//! | `cli_conventions` | `runledger completions SHELL` prints a script that completes the binary's own subcommands and flags in a real bash |
//! | `checkpoint_history` | every checkpoint a run signs is kept, never overwritten; run and resume refuse a journal shorter than or other than any of them (naming the checkpoint and the first missing or differing seq), executing nothing |
//! | `journal_tools` | keys, checkpoints, inclusion proofs, consistency with older checkpoints, requirements, bad input exits 2 |
//! | `output_hygiene` | no command overwrites an existing file without `--force`, nor its own input; `-` is standard output for every output flag; special files are written in place; a closed standard output or a full disk is one error line, never a panic |
//! | `plan` | `runledger plan` shows what the run executes: every intent of the normal drill is its step's text as the plan shows it, only the named fields filled; the run records the plan of its runbook once, before any step |
//! | `replay` | golden journals replay without divergence; every prefix leads to the next recorded decision; a forged decision is a divergence |
//! | `resume_refusals` | resume refuses another runbook, another key, a JSONL export, a journal that does not verify or is locked, appending nothing |
//! | `bad_input` | every bad-input case: one error line, its exit code, the journal unchanged or the failure recorded (its table says which test covers each case) |
//! | `storage_faults` | a failed durable append (disk full) halts before the action; the journal verifies; resume completes; torn SQLite files are refused with a reason |
//! | `concurrency` | two engines started on one journal at once: exactly one proceeds |
//! | `journal_gone` | a journal deleted or replaced under a running engine halts the run (exit 1) before its next action, never "finished" |
//! | `security` | private keys readable by group or others are refused; no secret in any output or file; injected identifiers and parameter values that are not of their kind (a PowerShell pipeline, say) are refused before any journal; a parameter is a quoted literal in every cmdlet line and T-SQL text, as the plan shows; a pinned CA is used, and a server it did not sign stops the run |
//! | `witness` | `runledger witness serve` is a C2SP tlog-witness: first checkpoint cosigned, then only consistent ones; rollback and fork 409 with its size, bad proof 422, unknown key 403, unknown origin 404; its record survives a kill; of concurrent requests from one old size exactly one is cosigned; a request written by hand from the wire format, its cosignature checked independently |
//! | `site_witness` | a drill with `--witness-policy` is cosigned by real `runledger witness serve` processes through the site log; the verifier's `--require-witness` holds only under the policy's quorum; a journal cut after it was witnessed is refused by `checkpoint` naming the witness and fails the verifier; a site log rolled back and appended to is refused by the witness (409), also after the witness restarts |
//! | `ssh_agent` | a run and a checkpoint signed through OpenSSH's `ssh-agent` verify under the line `keys public` prints, the key `ssh-keygen -y` reads; a missing agent, an unknown fingerprint, an RSA key or an ambiguous comment is one error line before any journal; an agent killed mid-run halts it with one error line, the journal verifying, and resume through a new agent completes it |
//! | `tsa` | with `--tsa URL` each checkpoint a run writes gets an RFC 3161 token beside it, which `openssl ts -verify` accepts; `runledger-verify --tsa-cert` passes them and fails a swapped, altered or foreign-signed token naming its file, and a missing one; a TSA that is down is a loud warning and the run goes on, an error for `runledger checkpoint`; the report flags a skew over 2 s (a TSA clock moved by `faketime`) |
//! | `sim_crash_restore` | killing `runledger sim serve` mid-restore loses no committed state; `sim cs-shell` exit codes |

mod agreement;
mod bad_input;
mod checkpoint_history;
mod cli_conventions;
mod common;
mod concurrency;
mod drill;
mod drill_scenarios;
mod failback;
mod fixture_journals;
mod fixtures_verify;
mod format_vectors;
mod independent_envelope;
mod interrupt;
mod journal_gone;
mod journal_tools;
mod output_hygiene;
mod plan;
mod replay;
mod report;
mod resume_refusals;
mod security;
mod sim_crash_restore;
mod site_witness;
mod ssh_agent;
mod storage_faults;
mod tsa;
mod witness;
