//! Helpers shared by the end-to-end tests: where the binaries are, and running them.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The `runledger` binary under test.
pub fn runledger() -> Command {
    Command::new(env!("CARGO_BIN_EXE_runledger"))
}

/// The `runledger-verify` binary, built beside `runledger` by `cargo test --workspace`.
pub fn runledger_verify() -> Command {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_runledger"))
        .parent()
        .expect("binary has a parent directory")
        .to_path_buf();
    let path = dir.join(format!("runledger-verify{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    Command::new(path)
}

/// Output of a finished command, with stdout and stderr as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
