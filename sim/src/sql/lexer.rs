//! T-SQL tokens: identifiers (plain, `[bracketed]` or `"quoted"`), `@variables`,
//! `@@globals`, `N'strings'`, numbers and punctuation, with comments skipped.
//!
//! Each token keeps its byte range so that errors can quote the statement exactly as the
//! client sent it.

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// A plain identifier or keyword (case preserved).
    Word(String),
    /// A delimited identifier, `[x]` or `"x"`, without its delimiters.
    Quoted(String),
    /// `@name` (kept with its `@`).
    Var(String),
    /// `@@NAME` (kept with its `@@`).
    Global(String),
    /// A string literal's content, unescaped.
    Str(String),
    /// A number as written.
    Num(String),
    /// Punctuation or an operator (`.`, `,`, `(`, `)`, `;`, `=`, `<>`, `<=`, `*`, …).
    Punct(String),
}

/// A token and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Byte offset of its first character in the batch.
    pub start: usize,
    /// Byte offset just after it.
    pub end: usize,
}

impl Token {
    /// True when this is the keyword `kw` (case-insensitive); delimited identifiers never are.
    pub fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    /// True when this is the punctuation `p`.
    pub fn is_punct(&self, p: &str) -> bool {
        matches!(&self.tok, Tok::Punct(x) if x == p)
    }

    /// The identifier's name, plain or delimited.
    pub fn ident(&self) -> Option<&str> {
        match &self.tok {
            Tok::Word(w) | Tok::Quoted(w) => Some(w),
            _ => None,
        }
    }
}

/// Where the text stops making sense as T-SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// Byte offset of the problem.
    pub at: usize,
    /// What was wrong.
    pub what: &'static str,
}

/// Splits a batch into tokens.
pub fn lex(src: &str) -> Result<Vec<Token>, LexError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let end = src[i + 2..].find("*/").ok_or(LexError {
                at: i,
                what: "missing end comment mark '*/'",
            })?;
            i += 2 + end + 2;
            continue;
        }
        let tok = if c == b'\'' || ((c == b'N' || c == b'n') && b.get(i + 1) == Some(&b'\'')) {
            if c != b'\'' {
                i += 1;
            }
            let (s, next) = delimited(src, i, b'\'')?;
            i = next;
            Tok::Str(s)
        } else if c == b'[' {
            let end = src[i + 1..].find(']').ok_or(LexError {
                at: i,
                what: "unclosed quotation mark after the character string",
            })?;
            let name = src[i + 1..i + 1 + end].to_string();
            i += end + 2;
            Tok::Quoted(name)
        } else if c == b'"' {
            let (s, next) = delimited(src, i, b'"')?;
            i = next;
            Tok::Quoted(s)
        } else if c == b'@' {
            let global = b.get(i + 1) == Some(&b'@');
            let mut j = i + if global { 2 } else { 1 };
            while j < b.len() && is_word_byte(b[j]) {
                j += 1;
            }
            let text = src[i..j].to_string();
            i = j;
            if global {
                Tok::Global(text)
            } else {
                Tok::Var(text)
            }
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let mut j = i;
            if c == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
                j += 2;
                while j < b.len() && b[j].is_ascii_hexdigit() {
                    j += 1;
                }
            } else {
                while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
                    j += 1;
                }
            }
            let text = src[i..j].to_string();
            i = j;
            Tok::Num(text)
        } else if is_word_start(c) {
            let mut j = i;
            while j < b.len() && is_word_byte(b[j]) {
                j += 1;
            }
            let text = src[i..j].to_string();
            i = j;
            Tok::Word(text)
        } else {
            let two = src.get(i..i + 2).unwrap_or("");
            let p = if matches!(two, "<>" | "<=" | ">=" | "!=" | "!<" | "!>") {
                i += 2;
                two.to_string()
            } else {
                let ch = src[i..].chars().next().expect("in bounds");
                i += ch.len_utf8();
                ch.to_string()
            };
            Tok::Punct(p)
        };
        out.push(Token { tok, start, end: i });
    }
    Ok(out)
}

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'#' || c >= 0x80
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'#' | b'$' | b'@') || c >= 0x80
}

/// Reads a literal delimited by `q` where a doubled `q` stands for one.
fn delimited(src: &str, open: usize, q: u8) -> Result<(String, usize), LexError> {
    let b = src.as_bytes();
    let mut out = String::new();
    let mut i = open + 1;
    let mut seg = i;
    loop {
        if i >= b.len() {
            return Err(LexError {
                at: open,
                what: "unclosed quotation mark after the character string",
            });
        }
        if b[i] == q {
            out.push_str(&src[seg..i]);
            if b.get(i + 1) == Some(&q) {
                out.push(q as char);
                i += 2;
                seg = i;
                continue;
            }
            return Ok((out, i + 1));
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_strings_brackets_and_variables() {
        let t = lex("EXEC @rc = [master].dbo.x @a = N'it''s' -- c\n/* d */ ;").unwrap();
        let toks: Vec<Tok> = t.into_iter().map(|t| t.tok).collect();
        assert_eq!(
            toks,
            vec![
                Tok::Word("EXEC".into()),
                Tok::Var("@rc".into()),
                Tok::Punct("=".into()),
                Tok::Quoted("master".into()),
                Tok::Punct(".".into()),
                Tok::Word("dbo".into()),
                Tok::Punct(".".into()),
                Tok::Word("x".into()),
                Tok::Var("@a".into()),
                Tok::Punct("=".into()),
                Tok::Str("it's".into()),
                Tok::Punct(";".into()),
            ]
        );
    }
}
