//! Conventions of the command line: shell completions generated from the binary's own flags.

use crate::common::{runledger, text};

/// Completes `runledger WORDS` in a real bash with the script `runledger completions bash`
/// prints, returning what bash would offer.
fn bash_offers(words: &[&str]) -> Vec<String> {
    let out = runledger().args(["completions", "bash"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let script = String::from_utf8(out.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runledger.bash");
    std::fs::write(&path, script).unwrap();
    let all: Vec<String> = std::iter::once("runledger")
        .chain(words.iter().copied())
        .map(|w| format!("'{w}'"))
        .collect();
    let probe = format!(
        "source {}; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; _runledger runledger \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display(),
        all.join(" "),
        words.len()
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &probe])
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_subcommands_and_their_flags() {
    let offered = bash_offers(&["re"]);
    for sub in ["resume", "report"] {
        assert!(offered.iter().any(|o| o == sub), "{sub} in {offered:?}");
    }
    assert!(!offered.iter().any(|o| o == "drill"), "{offered:?}");
    let flags = bash_offers(&["report", "--m"]);
    assert_eq!(flags, ["--md"], "report's flags starting --m");
}

#[test]
fn every_shell_clap_knows_gets_a_script_and_an_unknown_one_is_refused() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = runledger().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}: {:?}", text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains("resume"), "{shell} completes resume");
        assert!(
            script.contains("accept-data-loss"),
            "{shell} completes resume's flags"
        );
    }
    let out = runledger().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
}
