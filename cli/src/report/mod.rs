//! The post-incident report (`runledger report`, and the drill's `report.html`): the verifier's
//! verdict first, then the runs, steps, files and decisions read from the journal, as one
//! self-contained HTML page or as Markdown for tickets.
//!
//! Layout: `model` gathers (it calls the verifier and reads events, never re-verifying),
//! `verdict` words the verdict, `html`, `timeline` and `markdown` render, `escape` keeps journal
//! text inert, and `command` writes the files.

mod command;
mod escape;
mod html;
mod markdown;
mod model;
mod objectives;
mod timeline;
mod verdict;

pub use command::{report, write_drill_report};
