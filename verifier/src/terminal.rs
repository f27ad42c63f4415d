//! Text bound for a terminal: the control characters of untrusted text made visible.
//!
//! A runbook title, a file name, a server's message or a journal's step id can hold bytes a
//! terminal acts on instead of showing: ANSI escape sequences (colours, cursor moves, window
//! titles, hyperlinks), a carriage return that overprints the start of the line, a bidi override
//! that displays text in another order than it is stored. Every program of this workspace
//! passes such text through [`line()`] or [`block`] before printing it, so that what is shown is
//! what the file holds. It never changes JSON output (JSON has its own escaping) or the bytes
//! that are hashed and signed. [`first_line`] shortens a message or a batch to the one line a
//! summary has room for; it escapes nothing.

use std::borrow::Cow;

/// True for a character a terminal may act on rather than show: C0 controls and DEL, C1
/// controls, and the Unicode bidirectional formatting characters (embeddings, overrides,
/// isolates and marks).
pub fn is_control(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{61c}' | '\u{200e}' | '\u{200f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_control(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !is_control(c) || keep(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// `text` as one line: every control character, line breaks and tabs included, written as a
/// visible escape (`\n`, `\r`, `\t`, `\u{1b}`, `\u{202e}`, …).
pub fn line(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

/// `text` as lines: line feeds and tabs kept (a T-SQL batch, a rendered report), every other
/// control character written as a visible escape.
pub fn block(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n' || c == '\t')
}

/// The first line of `text` that is not blank, without its leading and trailing whitespace;
/// empty when every line is blank.
pub fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_bidi_and_line_breaks_become_visible() {
        assert_eq!(line("plain text, é ü 日本"), "plain text, é ü 日本");
        assert!(matches!(line("plain"), Cow::Borrowed(_)));
        assert_eq!(line("a\u{1b}[31mred"), "a\\u{1b}[31mred");
        assert_eq!(line("ok\rFAKE"), "ok\\rFAKE");
        assert_eq!(line("two\nlines\t."), "two\\nlines\\t.");
        assert_eq!(line("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(line("x\u{202e}txt.exe"), "x\\u{202e}txt.exe");
        assert_eq!(
            line("\u{2066}\u{200f}\u{7f}\u{0}"),
            "\\u{2066}\\u{200f}\\u{7f}\\u{0}"
        );
        assert_eq!(
            block("SELECT 1\n\tFROM t\u{1b}]0;x\u{7}"),
            "SELECT 1\n\tFROM t\\u{1b}]0;x\\u{7}"
        );
        assert_eq!(block("a\r\nb"), "a\\r\nb");
    }

    #[test]
    fn the_first_line_is_the_first_that_is_not_blank() {
        assert_eq!(
            first_line("\n  \n  RESTORE LOG mgc  \n  FROM DISK"),
            "RESTORE LOG mgc"
        );
        assert_eq!(first_line("one"), "one");
        assert_eq!(first_line(" \n\t\n"), "");
    }
}
