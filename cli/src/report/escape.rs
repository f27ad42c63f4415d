//! Escaping of untrusted journal text for HTML (and inline SVG) and for Markdown.
//!
//! Every string read from a journal passes through here before it is written into a report:
//! a journal is untrusted input, and a report must never let it add markup, a script, a link
//! or an image that a browser or a ticket system would load.

/// Text for HTML element content and quoted attribute values: `& < > " '` escaped.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {
                out.push_str("&#xFFFD;");
            }
            c => out.push(c),
        }
    }
    out
}

/// Text for Markdown prose and table cells, never at the start of a line: every character that
/// Markdown (or HTML inside Markdown) gives a meaning mid-line is backslash-escaped or
/// entity-encoded, and line breaks become spaces so that a table row stays one row.
pub fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '|' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// An inline code span holding `s` verbatim, fenced with more backticks than `s` contains in a
/// row. Inside a table cell a `|` still splits the cell, so it is replaced by `¦` there.
pub fn md_code(s: &str, in_table: bool) -> String {
    let mut text: String = s
        .chars()
        .map(|c| match c {
            '\n' | '\r' => ' ',
            '|' if in_table => '¦',
            c if (c as u32) < 0x20 => '\u{FFFD}',
            c => c,
        })
        .collect();
    if text.is_empty() {
        text.push(' ');
    }
    let ticks = "`".repeat(longest_run(&text, '`') + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

/// A fenced code block holding `s` verbatim, fenced with more backticks than `s` holds in a row.
pub fn md_block(s: &str) -> String {
    let ticks = "`".repeat((longest_run(s, '`') + 1).max(3));
    let body: String = s
        .chars()
        .map(|c| {
            if (c as u32) < 0x20 && c != '\n' && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect();
    format!("{ticks}text\n{}\n{ticks}\n", body.trim_end_matches('\n'))
}

fn longest_run(s: &str, ch: char) -> usize {
    let (mut best, mut now) = (0, 0);
    for c in s.chars() {
        if c == ch {
            now += 1;
            best = best.max(now);
        } else {
            now = 0;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_the_five_characters() {
        assert_eq!(
            html(r#"<img src="x" onerror='a'>&"#),
            "&lt;img src=&quot;x&quot; onerror=&#39;a&#39;&gt;&amp;"
        );
    }

    #[test]
    fn markdown_cannot_make_links_or_images() {
        let s = md("![x](http://evil/) <b>|");
        assert!(!s.contains("]("), "{s}");
        assert!(!s.contains('<'), "{s}");
        assert_eq!(md_code("a``b", false), "```a``b```");
        assert!(md_block("```\nx").starts_with("````text\n"));
    }
}
