//! Runbook parameters: each declares its kind, its value is checked against that kind when the
//! runbook is loaded, and it is rendered for the context its placeholder stands in.
//!
//! A `{{name}}` is never pasted as text into a cmdlet line or a T-SQL batch:
//!
//! - in a cmdlet line it becomes a PowerShell single-quoted literal (every quote doubled), and
//!   the placeholder must stand as a whole argument outside any quoted string;
//! - in T-SQL it stands inside a string literal (its `'` doubled), or, outside any literal, it
//!   must be an `identifier` or a `server_name`, whose characters cannot end a token;
//! - in the structured fields the engine quotes itself (paths, a database name) and in text for
//!   people (titles, instructions), it is the value as declared.
//!
//! A literal is closed exactly where the template closes it, so no value can add a statement,
//! a pipeline, a subexpression or a parameter to the line it goes into.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a parameter's value is, which decides what it may hold.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Letters, digits, space and `.` `-` `_` `\` `/` `:` only (what a plain string is).
    Text,
    /// A database name: `[A-Za-z_][A-Za-z0-9_]*`, at most 128 characters.
    Identifier,
    /// An `@@SERVERNAME`: a host name, optionally `\INSTANCE`.
    ServerName,
    /// A DNS name: labels of letters, digits and `-`, separated by `.`.
    Fqdn,
    /// One or more DNS names (a TOML array).
    FqdnList,
    /// A drive-letter path, `X:\…`.
    WindowsPath,
    /// A UNC path, `\\server\share[\…]`.
    UncPath,
    /// A folder as the host running runledger reaches it: `/…`, `X:\…` or `\\server\share…`.
    LocalPath,
}

impl Kind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [Kind; 8] = [
        Kind::Text,
        Kind::Identifier,
        Kind::ServerName,
        Kind::Fqdn,
        Kind::FqdnList,
        Kind::WindowsPath,
        Kind::UncPath,
        Kind::LocalPath,
    ];

    /// The kind's name as written in `kind = "…"`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Identifier => "identifier",
            Kind::ServerName => "server_name",
            Kind::Fqdn => "fqdn",
            Kind::FqdnList => "fqdn_list",
            Kind::WindowsPath => "windows_path",
            Kind::UncPath => "unc_path",
            Kind::LocalPath => "local_path",
        }
    }

    /// The kind written `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether the value is a TOML array.
    pub fn is_list(self) -> bool {
        self == Kind::FqdnList
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A parameter as written under `[parameters]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Parameter {
    /// A plain string: kind `text`.
    Text(String),
    /// `{ kind = "KIND", value = … }`.
    Typed(TypedParameter),
}

/// A parameter with its declared kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TypedParameter {
    /// The kind, which decides what the value may hold and where it may be used.
    pub kind: Kind,
    /// A string, or for `fqdn_list` an array of strings.
    pub value: ParameterValue,
}

/// A parameter's value: one string, or a list for `fqdn_list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ParameterValue {
    /// One string.
    One(String),
    /// An array of strings.
    List(Vec<String>),
}

impl Parameter {
    /// A typed parameter of one value.
    pub fn typed(kind: Kind, value: &str) -> Parameter {
        Parameter::Typed(TypedParameter {
            kind,
            value: ParameterValue::One(value.to_string()),
        })
    }

    /// Its kind (`text` for a plain string).
    pub fn kind(&self) -> Kind {
        match self {
            Parameter::Text(_) => Kind::Text,
            Parameter::Typed(t) => t.kind,
        }
    }

    /// Its value as one string for `run.started`: a list joined with `,`, which no FQDN holds.
    pub fn recorded(&self) -> String {
        match self {
            Parameter::Text(s)
            | Parameter::Typed(TypedParameter {
                value: ParameterValue::One(s),
                ..
            }) => s.clone(),
            Parameter::Typed(TypedParameter {
                value: ParameterValue::List(v),
                ..
            }) => v.join(","),
        }
    }

    fn one(&self) -> Option<&str> {
        match self {
            Parameter::Text(s)
            | Parameter::Typed(TypedParameter {
                value: ParameterValue::One(s),
                ..
            }) => Some(s),
            _ => None,
        }
    }

    fn items(&self) -> Vec<&str> {
        match self {
            Parameter::Typed(TypedParameter {
                value: ParameterValue::List(v),
                ..
            }) => v.iter().map(String::as_str).collect(),
            other => other.one().into_iter().collect(),
        }
    }
}

/// Why a value does not fit its kind: `at` is the byte offset in the value of the character
/// at fault, when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Byte offset in the value.
    pub at: Option<usize>,
    /// What is wrong.
    pub message: String,
}

fn refuse<T>(at: Option<usize>, message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        at,
        message: message.into(),
    })
}

/// A value in a message: quoted, a control character escaped, nothing else changed.
fn shown(value: &str) -> String {
    let mut s = String::from("\"");
    for c in value.chars() {
        if c.is_control() {
            s.extend(c.escape_default());
        } else {
            s.push(c);
        }
    }
    s.push('"');
    s
}

/// A character in a message, quoted.
fn shown_char(c: char) -> String {
    if c.is_control() {
        format!("'{}'", c.escape_default())
    } else if c == '\'' {
        "\"'\"".to_string()
    } else {
        format!("'{c}'")
    }
}

/// The characters a `text` value may hold besides letters and digits.
pub const TEXT_PUNCTUATION: &str = " .-_\\/:";

/// Checks one value (a list item for `fqdn_list`) against its kind.
pub fn check(kind: Kind, value: &str) -> Result<(), Refusal> {
    match kind {
        Kind::Text => check_text(value),
        Kind::Identifier => check_identifier(value),
        Kind::ServerName => check_server_name(value),
        Kind::Fqdn | Kind::FqdnList => check_fqdn(value),
        Kind::WindowsPath => check_windows_path(value),
        Kind::UncPath => check_unc_path(value),
        Kind::LocalPath => check_local_path(value),
    }
}

fn check_text(value: &str) -> Result<(), Refusal> {
    match value
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || TEXT_PUNCTUATION.contains(*c)))
    {
        Some((i, c)) => refuse(
            Some(i),
            format!("holds {sc}, which a text value may not hold (letters, digits, space and . - _ \\ / : only)", sc = shown_char(c)),
        ),
        None => Ok(()),
    }
}

fn check_identifier(value: &str) -> Result<(), Refusal> {
    if crate::runbook::is_sql_name(value) {
        return Ok(());
    }
    let rule = "an identifier is a letter or `_`, then letters, digits or `_`, at most 128";
    if value.is_empty() {
        return refuse(None, format!("is empty; {rule}"));
    }
    if let Some((i, c)) = value
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return refuse(
            Some(i),
            format!(
                "{sv} holds {sc}; {rule}",
                sv = shown(value),
                sc = shown_char(c)
            ),
        );
    }
    if value.starts_with(|c: char| c.is_ascii_digit()) {
        return refuse(
            Some(0),
            format!("{sv} starts with a digit; {rule}", sv = shown(value)),
        );
    }
    refuse(
        None,
        format!(
            "{sv} is {} characters long; {rule}",
            value.len(),
            sv = shown(value)
        ),
    )
}

/// A host name label: 1 to 63 letters, digits and `-`, not starting or ending with `-`.
fn check_label(value: &str, offset: usize, what: &str) -> Result<(), Refusal> {
    if value.is_empty() {
        return refuse(Some(offset), format!("{what} has an empty label"));
    }
    if value.len() > 63 {
        return refuse(
            Some(offset),
            format!(
                "{what} has a label of {} characters (at most 63)",
                value.len()
            ),
        );
    }
    if let Some((i, c)) = value
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return refuse(
            Some(offset + i),
            format!(
                "{what} holds {sc}; a label is letters, digits and `-`",
                sc = shown_char(c)
            ),
        );
    }
    if value.starts_with('-') {
        return refuse(
            Some(offset),
            format!("{what} has a label starting with `-`"),
        );
    }
    if value.ends_with('-') {
        return refuse(
            Some(offset + value.len() - 1),
            format!("{what} has a label ending with `-`"),
        );
    }
    Ok(())
}

fn check_server_name(value: &str) -> Result<(), Refusal> {
    let what = format!("server name {sv}", sv = shown(value));
    let (host, instance) = match value.split_once('\\') {
        Some((h, i)) => (h, Some(i)),
        None => (value, None),
    };
    check_label(host, 0, &what)?;
    if let Some(instance) = instance {
        let offset = host.len() + 1;
        if instance.is_empty() || instance.len() > 16 {
            return refuse(
                Some(offset),
                format!("{what}: the instance name after `\\` is 1 to 16 letters, digits or `_`"),
            );
        }
        if let Some((i, c)) = instance
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        {
            return refuse(
                Some(offset + i),
                format!(
                    "{what} holds {sc} in its instance name (letters, digits or `_`)",
                    sc = shown_char(c)
                ),
            );
        }
    }
    Ok(())
}

fn check_fqdn(value: &str) -> Result<(), Refusal> {
    let what = format!("DNS name {sv}", sv = shown(value));
    if value.is_empty() {
        return refuse(None, "is an empty DNS name");
    }
    if value.len() > 253 {
        return refuse(
            None,
            format!("{what} is {} characters long (at most 253)", value.len()),
        );
    }
    let mut offset = 0;
    for label in value.split('.') {
        check_label(label, offset, &what)?;
        offset += label.len() + 1;
    }
    Ok(())
}

/// One segment of a Windows path: no `< > : " / | ? *`, no control character.
fn check_segments(rest: &str, offset: usize, what: &str) -> Result<(), Refusal> {
    if let Some(i) = rest.find("{{").or_else(|| rest.find("}}")) {
        return refuse(
            Some(offset + i),
            format!(
                "{what} holds `{}`, which would read as a placeholder",
                &rest[i..i + 2]
            ),
        );
    }
    let segments: Vec<&str> = rest.split('\\').collect();
    let mut at = offset;
    for (n, seg) in segments.iter().enumerate() {
        // One trailing `\` is allowed (`D:\`, `D:\backups\`); an empty segment elsewhere is not.
        if seg.is_empty() && n + 1 < segments.len() {
            return refuse(Some(at), format!("{what} has an empty segment (`\\\\`)"));
        }
        if let Some((i, c)) = seg.char_indices().find(|(_, c)| {
            matches!(c, '<' | '>' | ':' | '"' | '/' | '|' | '?' | '*') || c.is_control()
        }) {
            return refuse(
                Some(at + i),
                format!(
                    "{what} holds {sc}, which Windows does not allow in a file name",
                    sc = shown_char(c)
                ),
            );
        }
        at += seg.len() + 1;
    }
    Ok(())
}

fn check_windows_path(value: &str) -> Result<(), Refusal> {
    let what = format!("Windows path {sv}", sv = shown(value));
    let b = value.as_bytes();
    if b.len() < 3 || !b[0].is_ascii_alphabetic() || b[1] != b':' || b[2] != b'\\' {
        return refuse(
            None,
            format!(
                "{sv} is not a Windows path: it starts with a drive letter, `:` and `\\` (X:\\…)",
                sv = shown(value)
            ),
        );
    }
    check_segments(&value[3..], 3, &what)
}

fn check_unc_path(value: &str) -> Result<(), Refusal> {
    let what = format!("UNC path {sv}", sv = shown(value));
    let Some(rest) = value.strip_prefix("\\\\") else {
        return refuse(
            None,
            format!(
                "{sv} is not a UNC path: it starts with `\\\\` (\\\\server\\share…)",
                sv = shown(value)
            ),
        );
    };
    let (server, share_and_more) = rest.split_once('\\').unwrap_or((rest, ""));
    if server.parse::<std::net::Ipv4Addr>().is_err() {
        check_fqdn(server).map_err(|r| Refusal {
            at: r.at.map(|i| i + 2),
            message: format!(
                "{what}: the server is a host name, a DNS name or an IPv4 address: {}",
                r.message
            ),
        })?;
    }
    let share = share_and_more.split('\\').next().unwrap_or("");
    if share.is_empty() {
        return refuse(None, format!("{what} names no share (\\\\server\\share…)"));
    }
    check_segments(share_and_more, 2 + server.len() + 1, &what)
}

fn check_local_path(value: &str) -> Result<(), Refusal> {
    if value.starts_with('/') {
        if let Some((i, c)) = value.char_indices().find(|(_, c)| c.is_control()) {
            return refuse(
                Some(i),
                format!(
                    "path {sv} holds the control character {sc}",
                    sv = shown(value),
                    sc = shown_char(c)
                ),
            );
        }
        if let Some(i) = value.find("{{").or_else(|| value.find("}}")) {
            return refuse(
                Some(i),
                format!(
                    "path {sv} holds `{}`, which would read as a placeholder",
                    &value[i..i + 2],
                    sv = shown(value)
                ),
            );
        }
        return Ok(());
    }
    if value.starts_with("\\\\") {
        return check_unc_path(value);
    }
    let b = value.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return check_windows_path(value);
    }
    refuse(
        None,
        format!(
            "{sv} is not an absolute path: /…, X:\\… or \\\\server\\share…",
            sv = shown(value)
        ),
    )
}

/// A PowerShell single-quoted literal of `value`: every character PowerShell reads as a single
/// quote (`'` and the typographic ‘ ’ ‚ ‛) is doubled, which inside such a literal stands for
/// itself. Nothing else is special inside it: no `$`, no backtick, no subexpression.
pub fn ps_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if is_ps_single_quote(c) {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

fn is_ps_single_quote(c: char) -> bool {
    matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}')
}

fn is_ps_double_quote(c: char) -> bool {
    matches!(c, '"' | '\u{201C}' | '\u{201D}' | '\u{201E}')
}

/// The inside of a T-SQL string literal holding `value`: `'` doubled.
pub fn sql_literal_body(value: &str) -> String {
    value.replace('\'', "''")
}

/// Where a text goes, which decides how each placeholder in it is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// A cmdlet line; `resolved_identity`: whether `{{resolved_identity}}` may stand in it.
    Cmdlet {
        /// The step resolves an identity at run time.
        resolved_identity: bool,
    },
    /// A T-SQL batch or query.
    Sql,
    /// A structured field the engine quotes itself, or text for people: the value as declared.
    Plain,
    /// A `database` field: an `identifier` parameter, or a literal name.
    Database,
}

/// A placeholder that cannot be rendered where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misplaced {
    /// Byte offset of its `{{` in the template.
    pub at: usize,
    /// The placeholder as written (`{{name}}`), empty for an unclosed `{{`.
    pub written: String,
    /// What is wrong.
    pub message: String,
}

/// Where `{{resolved_identity}}` stays after load, to be filled at run time.
pub const RESOLVED_IDENTITY: &str = "{{resolved_identity}}";

struct Placeholder<'t> {
    start: usize,
    end: usize,
    name: &'t str,
}

fn placeholder_at(template: &str, start: usize) -> Result<Placeholder<'_>, Misplaced> {
    let after = &template[start + 2..];
    let end = after.find("}}").ok_or_else(|| Misplaced {
        at: start,
        written: String::new(),
        message: "unclosed `{{`".into(),
    })?;
    Ok(Placeholder {
        start,
        end: start + 2 + end + 2,
        name: after[..end].trim(),
    })
}

/// Renders every `{{name}}` of `template` for its context.
pub fn render(
    template: &str,
    context: Context,
    params: &BTreeMap<String, Parameter>,
) -> Result<String, Misplaced> {
    match context {
        Context::Cmdlet { resolved_identity } => render_cmdlet(template, resolved_identity, params),
        Context::Sql => render_sql(template, params),
        Context::Plain => render_plain(template, params),
        Context::Database => render_database(template, params),
    }
}

fn lookup<'p>(
    ph: &Placeholder<'_>,
    template: &str,
    params: &'p BTreeMap<String, Parameter>,
) -> Result<&'p Parameter, Misplaced> {
    let written = template[ph.start..ph.end].to_string();
    if ph.name == "resolved_identity" {
        return Err(Misplaced {
            at: ph.start,
            written,
            message: "{{resolved_identity}} is filled only in a cs_cmdlet's `command` and `probe`, with `resolve_identity`".into(),
        });
    }
    params.get(ph.name).ok_or_else(|| Misplaced {
        at: ph.start,
        written,
        message: format!("unknown parameter {{{{{}}}}}", ph.name),
    })
}

fn misplaced(ph: &Placeholder<'_>, template: &str, message: String) -> Misplaced {
    Misplaced {
        at: ph.start,
        written: template[ph.start..ph.end].to_string(),
        message,
    }
}

fn render_plain(template: &str, params: &BTreeMap<String, Parameter>) -> Result<String, Misplaced> {
    let mut out = String::with_capacity(template.len());
    let mut i = 0;
    while let Some(found) = template[i..].find("{{") {
        let ph = placeholder_at(template, i + found)?;
        out.push_str(&template[i..ph.start]);
        let p = lookup(&ph, template, params)?;
        let Some(v) = p.one() else {
            return Err(misplaced(
                &ph,
                template,
                format!(
                    "{{{{{}}}}} is a fqdn_list, which only a cmdlet line takes",
                    ph.name
                ),
            ));
        };
        out.push_str(v);
        i = ph.end;
    }
    out.push_str(&template[i..]);
    Ok(out)
}

fn render_database(
    template: &str,
    params: &BTreeMap<String, Parameter>,
) -> Result<String, Misplaced> {
    let Some(found) = template.find("{{") else {
        return Ok(template.to_string());
    };
    let ph = placeholder_at(template, found)?;
    let p = lookup(&ph, template, params)?;
    if ph.start != 0 || ph.end != template.len() {
        return Err(misplaced(
            &ph,
            template,
            "a `database` is exactly {{NAME}} of an identifier parameter, or a plain name".into(),
        ));
    }
    if p.kind() != Kind::Identifier {
        let hint = match p.one() {
            Some(v) if crate::runbook::is_sql_name(v) => format!(
                ": declare {} = {{ kind = \"identifier\", value = \"{v}\" }}",
                ph.name
            ),
            _ => String::new(),
        };
        return Err(misplaced(
            &ph,
            template,
            format!(
                "a `database` takes an identifier parameter; {} is {}{hint}",
                ph.name,
                p.kind()
            ),
        ));
    }
    Ok(p.one().unwrap_or_default().to_string())
}

/// T-SQL: where the scanner stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sql {
    Code,
    Literal,
    Bracketed,
    QuotedIdentifier,
    LineComment,
    BlockComment(u32),
}

fn render_sql(template: &str, params: &BTreeMap<String, Parameter>) -> Result<String, Misplaced> {
    let mut out = String::with_capacity(template.len());
    let mut state = Sql::Code;
    let mut i = 0;
    let b = template.as_bytes();
    while i < template.len() {
        if template[i..].starts_with("{{") {
            let ph = placeholder_at(template, i)?;
            let p = lookup(&ph, template, params)?;
            let Some(value) = p.one() else {
                return Err(misplaced(
                    &ph,
                    template,
                    format!(
                        "{{{{{}}}}} is a fqdn_list, which has no T-SQL form",
                        ph.name
                    ),
                ));
            };
            if state == Sql::Literal {
                out.push_str(&sql_literal_body(value));
            } else {
                if !matches!(p.kind(), Kind::Identifier | Kind::ServerName) {
                    let hint = if p.kind() == Kind::Text && crate::runbook::is_sql_name(value) {
                        format!(
                            ": declare {} = {{ kind = \"identifier\", value = \"{value}\" }}, or put it inside N'…'",
                            ph.name
                        )
                    } else {
                        ": put it inside N'…'".to_string()
                    };
                    return Err(misplaced(
                        &ph,
                        template,
                        format!(
                            "{{{{{}}}}} stands outside a T-SQL string literal, where only identifier and server_name parameters may go; {} is {}{hint}",
                            ph.name,
                            ph.name,
                            p.kind()
                        ),
                    ));
                }
                if value.contains("--") {
                    return Err(misplaced(
                        &ph,
                        template,
                        format!(
                            "{{{{{}}}}} stands outside a T-SQL string literal and its value {sv} holds `--`, which would start a comment: put it inside N'…'",
                            ph.name, sv = shown(value)),
                    ));
                }
                out.push_str(value);
            }
            i = ph.end;
            continue;
        }
        let c = template[i..].chars().next().expect("in bounds");
        let next = b.get(i + 1).copied();
        let mut step = c.len_utf8();
        state = match (state, c) {
            (Sql::Code, '\'') => Sql::Literal,
            (Sql::Code, '[') => Sql::Bracketed,
            (Sql::Code, '"') => Sql::QuotedIdentifier,
            (Sql::Code, '-') if next == Some(b'-') => {
                step = 2;
                Sql::LineComment
            }
            (Sql::Code, '/') if next == Some(b'*') => {
                step = 2;
                Sql::BlockComment(1)
            }
            (Sql::Literal, '\'') if next == Some(b'\'') => {
                step = 2;
                Sql::Literal
            }
            (Sql::Literal, '\'') => Sql::Code,
            (Sql::Bracketed, ']') if next == Some(b']') => {
                step = 2;
                Sql::Bracketed
            }
            (Sql::Bracketed, ']') => Sql::Code,
            (Sql::QuotedIdentifier, '"') if next == Some(b'"') => {
                step = 2;
                Sql::QuotedIdentifier
            }
            (Sql::QuotedIdentifier, '"') => Sql::Code,
            (Sql::LineComment, '\n') => Sql::Code,
            (Sql::BlockComment(d), '/') if next == Some(b'*') => {
                step = 2;
                Sql::BlockComment(d + 1)
            }
            (Sql::BlockComment(d), '*') if next == Some(b'/') => {
                step = 2;
                if d == 1 {
                    Sql::Code
                } else {
                    Sql::BlockComment(d - 1)
                }
            }
            (s, _) => s,
        };
        out.push_str(&template[i..i + step]);
        i += step;
    }
    Ok(out)
}

/// PowerShell: where the scanner stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ps {
    Code,
    /// A single-quoted string opened at this byte offset of the template.
    Single(usize),
    /// A double-quoted string opened at this byte offset.
    Double(usize),
    LineComment,
    BlockComment,
    HereString(char),
}

/// The characters a placeholder may follow and precede in a cmdlet line.
const PS_BEFORE: &str = "=,(:";
const PS_AFTER: &str = ",})";

fn render_cmdlet(
    template: &str,
    resolved_identity: bool,
    params: &BTreeMap<String, Parameter>,
) -> Result<String, Misplaced> {
    let mut out = String::with_capacity(template.len());
    let mut state = Ps::Code;
    let mut stop_parsing = false;
    let mut i = 0;
    while i < template.len() {
        let rest = &template[i..];
        if rest.starts_with("{{") {
            let ph = placeholder_at(template, i)?;
            // `"{{name}}"` or `'{{name}}'` exactly: the quotes give way to the literal.
            let (before_at, after_at) = match state {
                Ps::Single(open) | Ps::Double(open) if open + 1 == ph.start => {
                    let q = template[open..].chars().next().expect("in bounds");
                    let closes = (q == '\'' || q == '"')
                        && template[ph.end..].starts_with(q)
                        && !template[ph.end + 1..].starts_with(q);
                    if !closes {
                        return Err(misplaced(&ph, template, in_string(ph.name)));
                    }
                    out.pop();
                    state = Ps::Code;
                    (open, ph.end + 1)
                }
                Ps::Code => (ph.start, ph.end),
                Ps::Single(_) | Ps::Double(_) | Ps::HereString(_) => {
                    return Err(misplaced(&ph, template, in_string(ph.name)))
                }
                Ps::LineComment | Ps::BlockComment => {
                    return Err(misplaced(
                        &ph,
                        template,
                        format!("{{{{{}}}}} stands in a comment of the cmdlet line", ph.name),
                    ))
                }
            };
            let before = template[..before_at].chars().next_back();
            let after = template[after_at..].chars().next();
            if let Some(c) = before.filter(|c| !(c.is_whitespace() || PS_BEFORE.contains(*c))) {
                return Err(misplaced(
                    &ph,
                    template,
                    format!("{{{{{}}}}} must stand as a whole argument of the cmdlet line, but follows {sc} (it may follow a space, `=`, `,`, `(` or `:`)", ph.name, sc = shown_char(c)),
                ));
            }
            if let Some(c) = after.filter(|c| !(c.is_whitespace() || PS_AFTER.contains(*c))) {
                return Err(misplaced(
                    &ph,
                    template,
                    format!("{{{{{}}}}} must stand as a whole argument of the cmdlet line, but is followed by {sc} (it may be followed by a space, `,`, `}}` or `)`)", ph.name, sc = shown_char(c)),
                ));
            }
            let previous_word = template[..before_at].split_whitespace().next_back();
            if matches!(previous_word, Some("&" | ".")) {
                return Err(misplaced(
                    &ph,
                    template,
                    format!("{{{{{}}}}} follows the operator `{}`, which would run the value as a command", ph.name, previous_word.unwrap_or_default()),
                ));
            }
            if stop_parsing {
                return Err(misplaced(
                    &ph,
                    template,
                    format!(
                        "{{{{{}}}}} follows `--%`, after which PowerShell passes text on unquoted",
                        ph.name
                    ),
                ));
            }
            if ph.name == "resolved_identity" {
                if !resolved_identity {
                    return Err(misplaced(
                        &ph,
                        template,
                        "{{resolved_identity}} is filled only in a cs_cmdlet's `command` and `probe`, with `resolve_identity`".into(),
                    ));
                }
                // Filled at run time, as a single-quoted literal too (step/cmdlet.rs).
                out.push_str(RESOLVED_IDENTITY);
            } else {
                let p = lookup(&ph, template, params)?;
                let items: Vec<String> = p.items().into_iter().map(ps_literal).collect();
                out.push_str(&items.join(","));
            }
            i = after_at;
            continue;
        }
        let c = rest.chars().next().expect("in bounds");
        let mut chars = rest.chars();
        chars.next();
        let next = chars.next();
        let prev = template[..i].chars().next_back();
        let mut step = c.len_utf8();
        match state {
            Ps::Code => {
                // An escape never swallows the `{` of a placeholder, which then stands refused.
                if c == '`' && !rest[1..].starts_with("{{") {
                    step += next.map_or(0, char::len_utf8);
                } else if c == '@'
                    && next.is_some_and(|n| is_ps_single_quote(n) || is_ps_double_quote(n))
                    && rest[1 + next.map_or(0, char::len_utf8)..]
                        .trim_start_matches([' ', '\t'])
                        .starts_with(['\r', '\n'])
                {
                    let q = next.expect("checked");
                    step += q.len_utf8();
                    state = Ps::HereString(if is_ps_single_quote(q) { '\'' } else { '"' });
                } else if is_ps_single_quote(c) {
                    state = Ps::Single(i);
                } else if is_ps_double_quote(c) {
                    state = Ps::Double(i);
                } else if c == '<' && next == Some('#') {
                    step = 2;
                    state = Ps::BlockComment;
                } else if c == '#'
                    && prev.is_none_or(|p| p.is_whitespace() || ";|&(){}".contains(p))
                {
                    state = Ps::LineComment;
                } else if rest.starts_with("--%") && prev.is_none_or(char::is_whitespace) {
                    stop_parsing = true;
                }
            }
            Ps::Single(_) => {
                if is_ps_single_quote(c) {
                    if next.is_some_and(is_ps_single_quote) {
                        step += next.map_or(0, char::len_utf8);
                    } else {
                        state = Ps::Code;
                    }
                }
            }
            Ps::Double(_) => {
                if c == '`' && !rest[1..].starts_with("{{") {
                    step += next.map_or(0, char::len_utf8);
                } else if is_ps_double_quote(c) {
                    if next.is_some_and(is_ps_double_quote) {
                        step += next.map_or(0, char::len_utf8);
                    } else {
                        state = Ps::Code;
                    }
                }
            }
            Ps::LineComment => {
                if c == '\n' || c == '\r' {
                    state = Ps::Code;
                }
            }
            Ps::BlockComment => {
                if c == '#' && next == Some('>') {
                    step = 2;
                    state = Ps::Code;
                }
            }
            Ps::HereString(q) => {
                let closes = |n: char| {
                    if q == '\'' {
                        is_ps_single_quote(n)
                    } else {
                        is_ps_double_quote(n)
                    }
                };
                if (c == '\n' || c == '\r')
                    && next.is_some_and(closes)
                    && rest[1 + next.map_or(0, char::len_utf8)..].starts_with('@')
                {
                    step += next.map_or(0, char::len_utf8) + 1;
                    state = Ps::Code;
                }
            }
        }
        out.push_str(&template[i..i + step.min(rest.len())]);
        i += step.min(rest.len());
    }
    Ok(out)
}

fn in_string(name: &str) -> String {
    format!("{{{{{name}}}}} stands inside a quoted string of the cmdlet line; write it bare (-Name {{{{{name}}}}}): it is put in as a single-quoted literal")
}

/// For a plain string no longer accepted: the typed declaration that would hold it, when one
/// kind accepts it (`"a","b"` reads as a `fqdn_list`).
pub fn suggest(name: &str, value: &str) -> Option<String> {
    let toml_str = |s: &str| toml::Value::String(s.to_string()).to_string();
    let items: Vec<String> = value
        .split(',')
        .map(|s| s.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
        .collect();
    if value.contains(',') && items.iter().all(|s| check_fqdn(s).is_ok()) {
        let list: Vec<String> = items.iter().map(|s| toml_str(s)).collect();
        return Some(format!(
            "{name} = {{ kind = \"fqdn_list\", value = [{}] }}",
            list.join(", ")
        ));
    }
    [
        Kind::Identifier,
        Kind::ServerName,
        Kind::Fqdn,
        Kind::UncPath,
        Kind::WindowsPath,
        Kind::LocalPath,
    ]
    .into_iter()
    .find(|k| check(*k, value).is_ok())
    .map(|k| format!("{name} = {{ kind = \"{k}\", value = {} }}", toml_str(value)))
}

/// A refused `[parameters]` entry: the byte offset in the source it is reported at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Byte offset in the runbook source.
    pub offset: usize,
    /// What is wrong, naming the parameter.
    pub message: String,
}

/// The names of every kind, for messages.
fn kind_names() -> String {
    Kind::ALL.map(Kind::name).join(", ")
}

/// The names of the kinds a value must be declared with when it is not plain text.
fn typed_kind_names() -> String {
    Kind::ALL[1..]
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn type_name(v: &toml::de::DeValue<'_>) -> &'static str {
    use toml::de::DeValue;
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Where the character at byte `at` of a string value lies in the source: the value's raw
/// text (`span`) holds it at the same rank among its occurrences, escapes aside. Without a
/// character, or when an escape hides it, the value's first character.
fn offset_in(source: &str, span: std::ops::Range<usize>, value: &str, at: Option<usize>) -> usize {
    let raw = &source[span.clone()];
    let delimiter = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
        3
    } else {
        usize::from(raw.starts_with(['"', '\'']))
    };
    let start = span.start + delimiter;
    let Some(at) = at.filter(|a| *a < value.len()) else {
        return start;
    };
    let c = value[at..].chars().next().expect("in bounds");
    let rank = value[..at].matches(c).count();
    raw[delimiter..]
        .match_indices(c)
        .nth(rank)
        .map_or(start, |(i, _)| start + i)
}

/// Checks every `[parameters]` entry of the parsed document: its name, its form (a string, or
/// `{ kind = "KIND", value = … }`), its kind and its value. Errors point at the entry's text.
pub fn check_declarations(doc: &toml::de::DeTable<'_>, source: &str) -> Result<(), Refused> {
    use toml::de::DeValue;
    let Some(table) = doc.get("parameters") else {
        return Ok(());
    };
    let DeValue::Table(entries) = table.get_ref() else {
        return Ok(()); // the shape is the deserializer's to refuse
    };
    for (key, entry) in entries {
        let name: &str = key.get_ref();
        if !crate::runbook::is_id(name) {
            return Err(Refused {
                offset: key.span().start,
                message: format!("parameter name {name:?} must be letters, digits, `_` or `-`"),
            });
        }
        match entry.get_ref() {
            DeValue::String(value) => {
                if let Err(r) = check_text(value) {
                    let instead = match suggest(name, value) {
                        Some(declaration) => format!("declare its kind instead: {declaration}"),
                        None => format!(
                            "no parameter kind accepts this value either ({})",
                            typed_kind_names()
                        ),
                    };
                    return Err(Refused {
                        offset: offset_in(source, entry.span(), value, r.at),
                        message: format!("parameter {name} {}; {instead}", r.message),
                    });
                }
            }
            DeValue::Table(t) => check_typed(name, t, entry.span(), source)?,
            other => {
                return Err(Refused {
                    offset: entry.span().start,
                    message: format!(
                        "parameter {name} is {}; a parameter is a string or {{ kind = \"KIND\", value = … }}",
                        type_name(other)
                    ),
                })
            }
        }
    }
    Ok(())
}

fn check_typed(
    name: &str,
    t: &toml::de::DeTable<'_>,
    span: std::ops::Range<usize>,
    source: &str,
) -> Result<(), Refused> {
    use toml::de::DeValue;
    let refused = |offset: usize, message: String| Refused { offset, message };
    for (key, _) in t {
        let k: &str = key.get_ref();
        if k != "kind" && k != "value" {
            return Err(refused(
                key.span().start,
                format!("parameter {name}: unknown key `{k}`; a typed parameter is {{ kind = \"KIND\", value = … }}"),
            ));
        }
    }
    let (Some(kind), Some(value)) = (t.get("kind"), t.get("value")) else {
        let missing = if t.get("kind").is_none() {
            "kind"
        } else {
            "value"
        };
        return Err(refused(
            span.start,
            format!("parameter {name}: `{missing}` is missing; a typed parameter is {{ kind = \"KIND\", value = … }}"),
        ));
    };
    let DeValue::String(kind_name) = kind.get_ref() else {
        return Err(refused(
            kind.span().start,
            format!(
                "parameter {name}: `kind` is {}, not one of {}",
                type_name(kind.get_ref()),
                kind_names()
            ),
        ));
    };
    let Some(k) = Kind::from_name(kind_name) else {
        return Err(refused(
            kind.span().start,
            format!(
                "parameter {name}: unknown kind {:?}; the kinds are {}",
                kind_name.as_ref(),
                kind_names()
            ),
        ));
    };
    let item =
        |value: &toml::de::DeValue<'_>, vspan: std::ops::Range<usize>, what: &str| match value {
            DeValue::String(s) => check(k, s).map_err(|r| {
                let glue = if k == Kind::Text && what.is_empty() {
                    ""
                } else {
                    ":"
                };
                refused(
                    offset_in(source, vspan, s, r.at),
                    format!("parameter {name} (kind {k}){glue}{what} {}", r.message),
                )
            }),
            other => Err(refused(
                vspan.start,
                format!(
                    "parameter {name} (kind {k}):{what} is {}, not a string",
                    type_name(other)
                ),
            )),
        };
    match (k.is_list(), value.get_ref()) {
        (true, DeValue::Array(items)) => {
            if items.is_empty() {
                return Err(refused(
                    value.span().start,
                    format!("parameter {name} (kind {k}): the list is empty; give one or more DNS names"),
                ));
            }
            for (n, v) in items.iter().enumerate() {
                item(v.get_ref(), v.span(), &format!(" item {}:", n + 1))?;
            }
            Ok(())
        }
        (true, other) => Err(refused(
            value.span().start,
            format!("parameter {name} (kind {k}): the value is {}; a {k} is an array of strings, value = [\"a\", \"b\"]", type_name(other)),
        )),
        (false, DeValue::Array(_)) => Err(refused(
            value.span().start,
            format!("parameter {name} (kind {k}): the value is an array; a {k} is one string (only fqdn_list takes an array)"),
        )),
        (false, v) => item(v, value.span(), ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(kind: Kind, v: &str) {
        assert_eq!(check(kind, v), Ok(()), "{kind} must accept {v:?}");
    }

    fn no(kind: Kind, v: &str) -> Refusal {
        check(kind, v).expect_err(&format!("{kind} must refuse {v:?}"))
    }

    #[test]
    fn text_holds_letters_digits_and_path_punctuation_only() {
        ok(Kind::Text, "");
        ok(Kind::Text, "mgc");
        ok(Kind::Text, "D:\\mgc-copy/x_y. z");
        ok(Kind::Text, "Zürich");
        for (v, at) in [
            ("x | Out-File C:/pwn", 2),
            ("a&b", 1),
            ("a;b", 1),
            ("$(calc)", 0),
            ("@(1)", 0),
            ("a#b", 1),
            ("{x}", 0),
            ("\"a\"", 0),
            ("it's", 2),
            ("[x]", 0),
            ("a`b", 1),
            ("a<b", 1),
            ("a,b", 1),
            ("a\tb", 1),
            ("a\u{202e}b", 1),
        ] {
            assert_eq!(no(Kind::Text, v).at, Some(at), "{v:?}");
        }
    }

    #[test]
    fn identifier_is_a_plain_sql_name() {
        ok(Kind::Identifier, "mgc");
        ok(Kind::Identifier, "_x9");
        ok(Kind::Identifier, &"a".repeat(128));
        no(Kind::Identifier, "");
        no(Kind::Identifier, "9mgc");
        no(Kind::Identifier, "mgc-db");
        no(Kind::Identifier, "mgc]");
        no(Kind::Identifier, "mgc db");
        no(Kind::Identifier, "mgç");
        no(Kind::Identifier, &"a".repeat(129));
    }

    #[test]
    fn server_name_is_a_host_and_an_optional_instance() {
        ok(Kind::ServerName, "PCSQLDR01");
        ok(Kind::ServerName, "pc-sql-01\\PCHAT_01");
        ok(Kind::ServerName, &"a".repeat(63));
        ok(Kind::ServerName, &format!("a\\{}", "I".repeat(16)));
        no(Kind::ServerName, "");
        no(Kind::ServerName, "-pcsql");
        no(Kind::ServerName, "pcsql-");
        no(Kind::ServerName, &"a".repeat(64));
        no(Kind::ServerName, "pcsql.contoso.local");
        no(Kind::ServerName, "pcsql\\");
        no(Kind::ServerName, &format!("a\\{}", "I".repeat(17)));
        no(Kind::ServerName, "a\\b\\c");
        no(Kind::ServerName, "a\\in-st");
        no(Kind::ServerName, "a'b");
    }

    #[test]
    fn fqdn_is_labels_separated_by_dots() {
        ok(Kind::Fqdn, "pchat.contoso.local");
        ok(Kind::Fqdn, "localhost");
        ok(Kind::Fqdn, "xn--bcher-kva.example");
        ok(Kind::Fqdn, &format!("{}.b", "a".repeat(63)));
        let long = vec!["a".repeat(63); 4].join(".");
        assert_eq!(long.len(), 255);
        ok(Kind::Fqdn, &long[..253]);
        no(Kind::Fqdn, &long);
        no(Kind::Fqdn, "");
        no(Kind::Fqdn, "a..b");
        no(Kind::Fqdn, "a.b.");
        no(Kind::Fqdn, ".a");
        no(Kind::Fqdn, "-a.b");
        no(Kind::Fqdn, "a-.b");
        no(Kind::Fqdn, &format!("{}.b", "a".repeat(64)));
        no(Kind::Fqdn, "a_b.c");
        assert_eq!(no(Kind::Fqdn, "pc.contoso.local|x").at, Some(16));
    }

    #[test]
    fn windows_path_is_a_drive_and_segments() {
        ok(Kind::WindowsPath, "D:\\");
        ok(Kind::WindowsPath, "D:\\mgc-copy");
        ok(Kind::WindowsPath, "d:\\backups\\");
        ok(Kind::WindowsPath, "D:\\O'Brien's (copy)\\$x;#&@{a}");
        no(Kind::WindowsPath, "D:");
        no(Kind::WindowsPath, "D:/x");
        no(Kind::WindowsPath, "\\\\s\\share");
        no(Kind::WindowsPath, "1:\\x");
        no(Kind::WindowsPath, "D:\\a\\\\b");
        for bad in ['<', '>', ':', '"', '/', '|', '?', '*', '\n', '\u{7}'] {
            assert_eq!(
                no(Kind::WindowsPath, &format!("D:\\ab{bad}c")).at,
                Some(5),
                "{bad:?}"
            );
        }
        no(Kind::WindowsPath, "D:\\{{x}}");
    }

    #[test]
    fn unc_path_is_a_server_a_share_and_segments() {
        ok(Kind::UncPath, "\\\\pcfs01\\mgc-logs");
        ok(Kind::UncPath, "\\\\pcfs01.contoso.local\\D$\\logs\\");
        ok(Kind::UncPath, "\\\\10.0.0.7\\share");
        ok(Kind::UncPath, "\\\\fs\\it's\\(x)");
        no(Kind::UncPath, "\\\\pcfs01");
        no(Kind::UncPath, "\\\\pcfs01\\");
        no(Kind::UncPath, "\\pcfs01\\x");
        no(Kind::UncPath, "\\\\pc fs\\x");
        no(Kind::UncPath, "\\\\-fs\\x");
        no(Kind::UncPath, "\\\\fs\\x|y");
        no(Kind::UncPath, "\\\\fs\\x\\\\y");
        no(Kind::UncPath, "//fs/x");
        assert_eq!(no(Kind::UncPath, "\\\\fs\\x\"y").at, Some(6));
    }

    #[test]
    fn local_path_is_absolute_posix_windows_or_unc() {
        ok(Kind::LocalPath, "/");
        ok(Kind::LocalPath, "/tmp/drill dir/it's|x");
        ok(Kind::LocalPath, "D:\\mgc-copy");
        ok(Kind::LocalPath, "\\\\pcsqldr01\\mgc-copy");
        no(Kind::LocalPath, "");
        no(Kind::LocalPath, "tmp/x");
        no(Kind::LocalPath, "./x");
        no(Kind::LocalPath, "/tmp/a\nb");
        no(Kind::LocalPath, "/tmp/{{x}}");
        no(Kind::LocalPath, "D:\\a|b");
        no(Kind::LocalPath, "\\\\fs");
    }

    #[test]
    fn ps_literal_doubles_every_single_quote() {
        assert_eq!(ps_literal("a"), "'a'");
        assert_eq!(ps_literal("D:\\O'Brien"), "'D:\\O''Brien'");
        assert_eq!(ps_literal("a\u{2019}b"), "'a\u{2019}\u{2019}b'");
        assert_eq!(ps_literal("$(x) `y @z"), "'$(x) `y @z'");
    }

    fn params() -> BTreeMap<String, Parameter> {
        let mut p = BTreeMap::new();
        p.insert("db".to_string(), Parameter::typed(Kind::Identifier, "mgc"));
        p.insert(
            "srv".to_string(),
            Parameter::typed(Kind::ServerName, "PC\\I1"),
        );
        p.insert("plain".to_string(), Parameter::Text("mgc".into()));
        p.insert(
            "dest".to_string(),
            Parameter::typed(Kind::WindowsPath, "D:\\O'Brien"),
        );
        p.insert(
            "servers".to_string(),
            Parameter::Typed(TypedParameter {
                kind: Kind::FqdnList,
                value: ParameterValue::List(vec!["a.x".into(), "b.x".into()]),
            }),
        );
        p.insert(
            "dashes".to_string(),
            Parameter::typed(Kind::ServerName, "a--b"),
        );
        p
    }

    fn cmdlet(t: &str) -> Result<String, Misplaced> {
        render(
            t,
            Context::Cmdlet {
                resolved_identity: true,
            },
            &params(),
        )
    }

    #[test]
    fn a_cmdlet_placeholder_becomes_a_single_quoted_literal() {
        assert_eq!(
            cmdlet("Do -Path {{dest}}").unwrap(),
            "Do -Path 'D:\\O''Brien'"
        );
        assert_eq!(
            cmdlet("Do -Path:{{dest}} -X").unwrap(),
            "Do -Path:'D:\\O''Brien' -X"
        );
        assert_eq!(
            cmdlet("Set -A @{Replace={{servers}}}").unwrap(),
            "Set -A @{Replace='a.x','b.x'}"
        );
        assert_eq!(cmdlet("Set -A {{servers}}").unwrap(), "Set -A 'a.x','b.x'");
        assert_eq!(cmdlet("Do ({{db}}, {{db}})").unwrap(), "Do ('mgc', 'mgc')");
        assert_eq!(cmdlet("Do -I \"{{db}}\" -X").unwrap(), "Do -I 'mgc' -X");
        assert_eq!(cmdlet("Do -I '{{db}}'").unwrap(), "Do -I 'mgc'");
        assert_eq!(
            cmdlet("Do -I \"{{resolved_identity}}\"").unwrap(),
            "Do -I {{resolved_identity}}"
        );
        assert_eq!(
            cmdlet("Do -C:$false -N 'it''s' {{db}}").unwrap(),
            "Do -C:$false -N 'it''s' 'mgc'"
        );
    }

    #[test]
    fn a_cmdlet_placeholder_must_stand_as_a_whole_argument_outside_strings() {
        for t in [
            "Do -P x{{db}}",
            "Do -P {{db}}x",
            "Do -P ${{db}}",
            "Do -P `{{db}}",
            "Do -P {{db}};",
            "Do -P {{db}}|x",
            "Do -P {{db}}{{db}}",
            "Do -P \"x {{db}}\"",
            "Do -P \"{{db}} x\"",
            "Do -P '{{db}}''x'",
            "Do -P 'a' + '{{db}}x'",
            "Do -P \"{{db}}'",
            "Do # {{db}}",
            "Do <# {{db}} #>",
            "& {{db}}",
            ". {{db}}",
            "Do --% {{db}}",
            "Do {{resolved_identity",
            "Do \"`{{db}}\"",
        ] {
            assert!(cmdlet(t).is_err(), "{t:?} must be refused");
        }
        let e = cmdlet("Do -P x{{db}}").unwrap_err();
        assert_eq!((e.at, e.written.as_str()), (7, "{{db}}"));
        assert!(render(
            "Do {{resolved_identity}}",
            Context::Cmdlet {
                resolved_identity: false
            },
            &params()
        )
        .is_err());
    }

    #[test]
    fn sql_placeholders_are_escaped_in_literals_and_identifiers_only_outside() {
        let sql = |t: &str| render(t, Context::Sql, &params());
        assert_eq!(
            sql("SELECT N'{{dest}}', '{{db}}'").unwrap(),
            "SELECT N'D:\\O''Brien', 'mgc'"
        );
        assert_eq!(
            sql("SELECT 1 FROM {{db}}.sys.x WHERE n = N'it''s {{dest}}'").unwrap(),
            "SELECT 1 FROM mgc.sys.x WHERE n = N'it''s D:\\O''Brien'"
        );
        assert_eq!(
            sql("ALTER DATABASE [{{db}}]").unwrap(),
            "ALTER DATABASE [mgc]"
        );
        assert_eq!(
            sql("SELECT @@SERVERNAME, {{srv}}").unwrap(),
            "SELECT @@SERVERNAME, PC\\I1"
        );
        for t in [
            "SELECT {{dest}}",
            "SELECT {{plain}}",
            "SELECT [{{dest}}]",
            "SELECT N'a' + {{dest}}",
            "SELECT N'{{servers}}'",
            "-- it's\nSELECT {{dest}}",
            "SELECT {{dashes}}",
            "SELECT N'{{resolved_identity}}'",
        ] {
            assert!(sql(t).is_err(), "{t:?} must be refused");
        }
        // A quote inside a comment or brackets does not open a literal.
        assert!(sql("/* it's */ SELECT {{dest}}").is_err());
        assert!(sql("SELECT [it's] + {{dest}}").is_err());
    }

    #[test]
    fn plain_and_database_fields() {
        let plain = |t: &str| render(t, Context::Plain, &params());
        assert_eq!(plain("copy to {{dest}}").unwrap(), "copy to D:\\O'Brien");
        assert!(plain("{{servers}}").is_err());
        assert!(plain("{{nope}}").is_err());
        assert!(plain("{{db").is_err());
        let db = |t: &str| render(t, Context::Database, &params());
        assert_eq!(db("{{db}}").unwrap(), "mgc");
        assert_eq!(db("mgc").unwrap(), "mgc");
        let e = db("{{plain}}").unwrap_err();
        assert!(
            e.message
                .contains("plain = { kind = \"identifier\", value = \"mgc\" }"),
            "{}",
            e.message
        );
        assert!(db("{{db}}_2").is_err());
        assert!(db("{{srv}}").is_err());
    }

    #[test]
    fn suggestions_name_the_kind_that_fits() {
        assert_eq!(
            suggest("active_servers", "\"a.x\",\"b.x\"").as_deref(),
            Some("active_servers = { kind = \"fqdn_list\", value = [\"a.x\", \"b.x\"] }")
        );
        assert_eq!(
            suggest("d", "D:\\mgc (copy)").as_deref(),
            Some("d = { kind = \"windows_path\", value = 'D:\\mgc (copy)' }")
        );
        assert_eq!(suggest("x", "x | Out-File C:/pwn"), None);
    }
}
