//! The exact texts the steps execute — T-SQL, cmdlet lines, copies — built in one place for the
//! plan and for the run.
//!
//! A step asks this module for its text, fills the fields only the run can decide (the file
//! chosen by LSN, a session id, the identity read from the server), records the filled text in
//! its intent and executes it. The plan shows the same templates with those fields left as
//! `{{name}}`, and the run records them in its `plan` observation: what the operator read
//! before the run is, piece for piece, what the run executed, and the verifier holds every
//! intent to it.

use runledger_verifier::plan_check::{Piece, PlanData, PlanStep};

use crate::runbook::{Action, Runbook, ShellConfig, Step};
use crate::shell::shell_quote;
use crate::sql::{quote_ident, quote_nstring};
use crate::step::join;

/// A text with the fields the run fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(pub Vec<Piece>);

impl Template {
    /// A text without fields.
    pub fn literal(s: impl Into<String>) -> Template {
        Template(vec![Piece::text(s)])
    }

    /// This text followed by `other`, adjacent literals merged.
    pub fn then(mut self, other: Template) -> Template {
        for p in other.0 {
            match (self.0.last_mut(), p) {
                (Some(Piece::Text(a)), Piece::Text(b)) => a.push_str(&b),
                (_, p) => self.0.push(p),
            }
        }
        self
    }

    /// The text with each field given its value; a field without one stays `{{name}}`.
    pub fn fill(&self, values: &[(&str, &str)]) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.clone(),
                Piece::Field(f) => values
                    .iter()
                    .find(|(name, _)| *name == f.placeholder)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_else(|| format!("{{{{{}}}}}", f.placeholder)),
            })
            .collect()
    }

    /// The text as the plan shows it: each field as `{{name}}`.
    pub fn shown(&self) -> String {
        self.fill(&[])
    }

    /// The names of its fields, each once, in order.
    pub fn fields(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in &self.0 {
            if let Piece::Field(f) = p {
                if !out.contains(&f.placeholder) {
                    out.push(f.placeholder.clone());
                }
            }
        }
        out
    }
}

/// The fields a plan leaves to the run, named as the verifier's plan check knows them.
pub use runledger_verifier::plan_check::{
    FILE, RESOLVED_IDENTITY as RESOLVED_IDENTITY_NAME, SESSION_ID,
};

/// What a field means, for the plan.
pub fn field_meaning(name: &str) -> &'static str {
    match name {
        FILE => {
            "each log backup the run copies or restores, chosen by LSN from the headers it reads"
        }
        SESSION_ID => "each session the run finds holding the database",
        RESOLVED_IDENTITY_NAME => {
            "the object's identity, read at run time and put in as a single-quoted literal"
        }
        _ => "decided at run time",
    }
}

/// A command line as the journal shows it: through the configured shell, each word quoted for
/// a POSIX shell where needed (`ShellCommand::display`).
///
/// A line with a field is always quoted: its value (a single-quoted literal) holds a quote.
/// A field's value is then shown with each `'` written `'\''` (see [`shell_value`]).
pub fn shell_shown(shell: Option<&ShellConfig>, line: &Template) -> Template {
    let Some(cfg) = shell else {
        return line.clone();
    };
    let head = std::iter::once(&cfg.program)
        .chain(&cfg.args)
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ");
    if line.fields().is_empty() {
        return Template::literal(format!("{head} {}", shell_quote(&line.shown())));
    }
    let mut out = Template::literal(format!("{head} '"));
    for p in &line.0 {
        out = out.then(Template(vec![match p {
            Piece::Text(t) => Piece::text(t.replace('\'', r"'\''")),
            f => f.clone(),
        }]));
    }
    out.then(Template::literal("'"))
}

/// A field's value as [`shell_shown`] shows it when a shell is configured.
pub fn shell_value(shell: Option<&ShellConfig>, value: &str) -> String {
    match shell {
        Some(_) => value.replace('\'', r"'\''"),
        None => value.to_string(),
    }
}

/// A `sql` step's batch, as the runbook gives it.
pub fn sql_batch(batch: &str) -> Template {
    Template::literal(batch)
}

/// A `check` step's query, or its cmdlet line as shown through the shell.
pub fn check(shell: Option<&ShellConfig>, query: Option<&str>, command: Option<&str>) -> Template {
    match (query, command) {
        (Some(q), _) => Template::literal(q),
        (None, Some(c)) => shell_shown(shell, &Template::literal(c)),
        (None, None) => Template::literal(""),
    }
}

/// A `manual` step's instruction, which the operator confirms.
pub fn manual(instruction: &str) -> Template {
    Template::literal(instruction)
}

/// A `cs_cmdlet` line, with the identity read at run time as a field when the step reads one.
pub fn cmdlet_line(command: &str, resolves_identity: bool) -> Template {
    if !resolves_identity {
        return Template::literal(command);
    }
    let placeholder = crate::runbook::params::RESOLVED_IDENTITY;
    let mut out = Template(vec![]);
    let mut parts = command.split(placeholder).peekable();
    while let Some(part) = parts.next() {
        if !part.is_empty() {
            out = out.then(Template::literal(part));
        }
        if parts.peek().is_some() {
            out = out.then(Template(vec![Piece::field(RESOLVED_IDENTITY_NAME)]));
        }
    }
    out
}

/// What `check_backups` does, in one line.
pub fn check_backups(share: &str, destination: &str) -> Template {
    Template::literal(format!(
        "list {share} and {destination}; free space of {destination}"
    ))
}

/// The copy of one log backup from the share to the destination (both as this host reads
/// them).
pub fn copy(share: &str, destination: &str) -> Template {
    Template(vec![
        Piece::text(format!("copy {}", join(share, ""))),
        Piece::field(FILE),
        Piece::text(format!(" -> {}", join(destination, ""))),
        Piece::field(FILE),
    ])
}

/// A file's path inside a T-SQL string literal: the directory as the server names it, the
/// file a field.
fn path_literal(directory: &str) -> Template {
    let prefix = quote_nstring(&join(directory, ""));
    // quote_nstring closes the literal: the field goes before that closing quote.
    let open = prefix.strip_suffix('\'').unwrap_or(&prefix).to_string();
    Template(vec![
        Piece::text(open),
        Piece::field(FILE),
        Piece::text("'"),
    ])
}

/// A file name as it stands inside a T-SQL string literal.
pub fn in_sql_string(file: &str) -> String {
    file.replace('\'', "''")
}

/// `RESTORE VERIFYONLY` of one log backup in `directory` (as the server names it).
pub fn verify_only(directory: &str) -> Template {
    Template::literal("RESTORE VERIFYONLY FROM DISK = ")
        .then(path_literal(directory))
        .then(Template::literal(";"))
}

/// `RESTORE LOG … NORECOVERY` of one log backup, `WITH RESTART` when a previous restore of it
/// was interrupted.
pub fn restore_log(database: &str, directory: &str, restart: bool) -> Template {
    Template::literal(format!(
        "RESTORE LOG {} FROM DISK = ",
        quote_ident(database)
    ))
    .then(path_literal(directory))
    .then(Template::literal(format!(
        " WITH FILE = 1, NORECOVERY{}",
        if restart { ", RESTART" } else { "" }
    )))
}

/// What a `restore_logs` intent records: the verification, then the restore.
pub fn restore_recorded(database: &str, directory: &str, restart: bool) -> Template {
    verify_only(directory)
        .then(Template::literal("\n"))
        .then(restore_log(database, directory, restart))
}

/// `KILL` of one session.
pub fn kill() -> Template {
    Template(vec![Piece::text("KILL "), Piece::field(SESSION_ID)])
}

/// The statement that recovers `database`.
pub fn recover(database: &str) -> Template {
    Template::literal(format!(
        "RESTORE DATABASE {} WITH RECOVERY",
        quote_ident(database)
    ))
}

/// Whether a step's text runs through the configured shell (as its last argument).
pub fn through_shell(step: &Step) -> bool {
    matches!(
        &step.action,
        Action::CsCmdlet { .. }
            | Action::Check {
                query: None,
                command: Some(_),
                ..
            }
    )
}

/// The texts a step executes (a cmdlet line as the shell's last argument reads it).
pub fn executed(step: &Step) -> Vec<Template> {
    match &step.action {
        Action::Sql { batch, .. } => vec![sql_batch(batch)],
        Action::Check { query, command, .. } => {
            vec![check(None, query.as_deref(), command.as_deref())]
        }
        Action::Manual { instruction, .. } => vec![manual(instruction)],
        Action::CsCmdlet {
            command,
            resolve_identity,
            ..
        } => vec![cmdlet_line(command, resolve_identity.is_some())],
        Action::CheckBackups {
            source,
            destination,
            local_source,
            local_destination,
            ..
        } => vec![check_backups(
            local_source.as_deref().unwrap_or(source),
            local_destination.as_deref().unwrap_or(destination),
        )],
        Action::CopyBackups {
            source,
            destination,
            local_source,
            local_destination,
            ..
        } => vec![copy(
            local_source.as_deref().unwrap_or(source),
            local_destination.as_deref().unwrap_or(destination),
        )],
        Action::RestoreLogs {
            database,
            directory,
            ..
        } => vec![
            restore_recorded(database, directory, false),
            restore_recorded(database, directory, true),
        ],
        Action::KillSessions { .. } => vec![kill()],
        Action::RecoverDatabase { database, .. } => vec![recover(database)],
    }
}

/// The texts a step's intents may record: what it executes, a line run through the shell shown
/// as the whole command line.
pub fn recorded(shell: Option<&ShellConfig>, step: &Step) -> Vec<Template> {
    let texts = executed(step);
    if !through_shell(step) {
        return texts;
    }
    texts.iter().map(|t| shell_shown(shell, t)).collect()
}

/// The plan a run records: every step of the runbook, its templates and the fields the run
/// decides.
pub fn plan(rb: &Runbook) -> PlanData {
    let steps = rb
        .steps
        .iter()
        .map(|step| {
            let templates = recorded(rb.shell.as_ref(), step);
            let mut placeholders: Vec<String> = Vec::new();
            for name in templates.iter().flat_map(Template::fields) {
                if !placeholders.contains(&name) {
                    placeholders.push(name);
                }
            }
            PlanStep {
                step: step.id.clone(),
                action: step.action.kind().to_string(),
                templates: templates.into_iter().map(|t| t.0).collect(),
                placeholders,
            }
        })
        .collect();
    PlanData::of(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use runledger_verifier::plan_check::fill_of;

    #[test]
    fn a_filled_template_is_what_the_verifier_reads_back() {
        let r = restore_recorded("mgc", "D:\\c", false);
        let text = r.fill(&[(FILE, &in_sql_string("o'n.trn"))]);
        assert_eq!(
            text,
            format!(
                "RESTORE VERIFYONLY FROM DISK = {};\nRESTORE LOG [mgc] FROM DISK = {} WITH FILE = 1, NORECOVERY",
                quote_nstring("D:\\c\\o'n.trn"),
                quote_nstring("D:\\c\\o'n.trn")
            )
        );
        assert_eq!(
            fill_of(&r.0, "restore_logs", &text).unwrap()["file"],
            "o''n.trn"
        );
        let c = copy("/s", "/d/");
        assert_eq!(c.fill(&[(FILE, "a.trn")]), "copy /s/a.trn -> /d/a.trn");
        assert_eq!(c.shown(), "copy /s/{{file}} -> /d/{{file}}");
    }

    #[test]
    fn a_cmdlet_line_through_the_shell_keeps_its_field() {
        let shell = ShellConfig {
            program: "pwsh".into(),
            args: vec!["-NoProfile".into(), "-Command".into()],
        };
        let line = cmdlet_line(
            "Set-CsX -Identity {{resolved_identity}} -Note 'it''s'",
            true,
        );
        let id = crate::runbook::params::ps_literal("pc'1");
        let executed = line.fill(&[(RESOLVED_IDENTITY_NAME, &id)]);
        assert_eq!(executed, "Set-CsX -Identity 'pc''1' -Note 'it''s'");
        let shown = shell_shown(Some(&shell), &line);
        let recorded = shown.fill(&[(RESOLVED_IDENTITY_NAME, &shell_value(Some(&shell), &id))]);
        let display = crate::shell::ShellCommand {
            program: "pwsh".into(),
            args: vec!["-NoProfile".into(), "-Command".into(), executed],
            stdin: None,
            timeout: std::time::Duration::from_secs(1),
            env_remove: vec![],
        }
        .display();
        assert_eq!(recorded, display);
        assert!(fill_of(&shown.0, "cs_cmdlet", &recorded).is_some());
        // Without the field, the line is shown as the shell would.
        let plain = shell_shown(Some(&shell), &cmdlet_line("Get-CsPool", false));
        assert_eq!(plain.shown(), "pwsh -NoProfile -Command Get-CsPool");
    }
}
