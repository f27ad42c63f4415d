//! The runbook: a TOML file declaring targets, the shell, parameters and ordered steps
//! (docs/runbook-reference.md, `schemas/runbook.schema.json`).
//!
//! This module owns parsing and validation: every error names the file, line and column.
//! It renders `{{parameter}}` placeholders once, at load, each for the context it stands in
//! (`params`), so the text the plan shows is the text that runs. It never reads a secret's
//! value (that happens when a target is connected) and never writes one anywhere.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use runledger_verifier::event::{ActionKind, Effect};

pub mod params;

use params::Context;
pub use params::{Kind, Parameter, ParameterValue, TypedParameter};

/// A parsed, validated runbook and the exact source it came from.
#[derive(Debug, Clone)]
pub struct LoadedRunbook {
    /// Where it was read from (`<built-in NAME>` for embedded ones).
    pub origin: String,
    /// The exact source text (embedded in `run.started`).
    pub source: String,
    /// The runbook, placeholders resolved.
    pub runbook: Runbook,
}

/// A runbook as written in TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    /// Short name, e.g. `persistent-chat-failover`.
    pub name: String,
    /// Version of this runbook text.
    pub version: String,
    /// What the runbook does, for the plan's header.
    #[serde(default)]
    pub description: String,
    /// For rehearsals only: every approval is given (and recorded); accepting data loss still
    /// needs the operator.
    #[serde(default)]
    pub auto_approve: bool,
    /// Values rendered for `{{name}}` in step text, each by the context it stands in. Names
    /// are letters, digits, `_` and `-`. A value is a plain string (kind `text`: letters,
    /// digits, space and `.` `-` `_` `\` `/` `:` only) or `{ kind = "KIND", value = … }`.
    #[serde(default)]
    pub parameters: BTreeMap<String, Parameter>,
    /// SQL Server instances, by name.
    #[serde(default)]
    pub targets: BTreeMap<String, SqlTarget>,
    /// The Lync Management Shell (needed by `cs_cmdlet` steps).
    #[serde(default)]
    pub shell: Option<ShellConfig>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// A SQL Server instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlTarget {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Named instance: shown in the plan, and with `port = 0` looked up through SQL Browser.
    #[serde(default)]
    pub instance: Option<String>,
    /// `sql` (a SQL login), `ntlm` (Windows user) or `integrated`.
    pub auth: AuthMethod,
    /// Login or Windows user (not for `integrated`).
    #[serde(default)]
    pub user: Option<String>,
    /// Windows domain for `ntlm`.
    #[serde(default)]
    pub domain: Option<String>,
    /// Where the password is read from; never the password itself.
    #[serde(default)]
    pub password: Option<SecretSource>,
    /// TLS: `off` (login only), `on`, `required`, `not_supported`.
    #[serde(default)]
    pub encryption: EncryptionSetting,
    /// Accept the server's certificate without validation (lab use).
    #[serde(default)]
    pub trust_server_certificate: bool,
    /// PEM file of the CA that must have signed the server's certificate: how a site pins its
    /// own CA. Not together with `trust_server_certificate = true`.
    #[serde(default)]
    pub trust_cert_ca: Option<PathBuf>,
}

fn default_port() -> u16 {
    1433
}

/// Authentication method of a SQL target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// SQL Server login and password.
    Sql,
    /// Windows user and password (NTLM).
    Ntlm,
    /// The current Windows identity.
    Integrated,
}

/// Encryption setting of a SQL target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EncryptionSetting {
    /// Encrypt the login only.
    Off,
    /// Encrypt if the server supports it.
    On,
    /// Always encrypt; refuse a server that cannot.
    #[default]
    Required,
    /// No encryption at all (loopback drills).
    NotSupported,
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum SecretSource {
    /// An environment variable's value.
    Env(String),
    /// The first line of a file (readable by its owner only).
    File(PathBuf),
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "snake_case")]
        enum Table {
            Env(String),
            File(PathBuf),
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            Table(Table),
            Inline(#[allow(dead_code)] String),
        }
        match Given::deserialize(d)? {
            Given::Table(Table::Env(v)) => Ok(SecretSource::Env(v)),
            Given::Table(Table::File(p)) => Ok(SecretSource::File(p)),
            Given::Inline(_) => Err(serde::de::Error::custom(
                "a password is never written in a runbook: use password = { env = \"VAR\" } or { file = \"PATH\" }",
            )),
        }
    }
}

/// The Lync Management Shell command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellConfig {
    /// The program, e.g. `powershell.exe`.
    pub program: String,
    /// Arguments before the cmdlet line, e.g. `["-NoProfile", "-Command"]`.
    #[serde(default)]
    pub args: Vec<String>,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Step {
    /// Unique id: letters, digits, `-` and `_`.
    pub id: String,
    /// One line for humans.
    pub title: String,
    /// What the step does.
    #[serde(flatten)]
    pub action: Action,
    /// Ask the operator before acting.
    #[serde(default)]
    pub requires_approval: bool,
    /// The approval must name this step (`--approve STEP`, or a yes at the prompt): `--yes` and
    /// a rehearsal's `auto_approve` do not give it. For decisions nobody may take by default,
    /// such as failing the Central Management Store over.
    #[serde(default)]
    pub explicit_approval: bool,
    /// What must hold before the step acts, e.g. the mirror answers. When it does not, the run
    /// halts for a decision: a later `resume` looks again, `--skip STEP` goes on without the
    /// step (recorded).
    #[serde(default)]
    pub ready: Option<Readiness>,
    /// Steps this one needs: when the operator skipped any of them (`--skip`), this step is
    /// skipped too, and the record says why.
    #[serde(default)]
    pub needs: Vec<String>,
    /// Time limit of each action, e.g. `30s`, `10m`, `1h`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Limit>,
    /// Further attempts after a failed action whose effect class allows it.
    #[serde(default)]
    pub retries: u32,
}

/// A readiness condition: a read-only query on a target that returns one row whose column
/// `ok` is 1 when the step may act.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Readiness {
    /// The SQL target the query runs on.
    pub target: String,
    /// The query.
    pub query: String,
    /// What it establishes, in the operator's words (shown in the decision when it fails).
    pub what: String,
}

/// A file a `sql` batch writes (a full backup to the share): once the batch succeeds, this host
/// reads it and the outcome records its size and SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WrittenFile {
    /// The folder, as the SQL Server names it in the batch (`\\pcfs01\mgc-logs`).
    pub folder: String,
    /// The same folder as the host running runledger reaches it [default: `folder`].
    #[serde(default)]
    pub local_folder: Option<String>,
    /// The file's name in that folder (`mgc_failback.bak`).
    pub file: String,
}

impl WrittenFile {
    /// The file as the SQL Server names it in the batch.
    pub fn path(&self) -> String {
        crate::step::join(&self.folder, &self.file)
    }

    /// The file as the host running runledger reaches it.
    pub fn local_path(&self) -> String {
        crate::step::join(
            self.local_folder.as_deref().unwrap_or(&self.folder),
            &self.file,
        )
    }

    /// Refuses a `file` that is not a plain file name.
    fn check_name(&self) -> Result<(), String> {
        let name = &self.file;
        let plain = !(name.is_empty()
            || name == "."
            || name == ".."
            || name.contains(['\\', '/'])
            || name.chars().any(char::is_control));
        plain
            .then_some(())
            .ok_or_else(|| format!("`writes.file` {name:?} must be a file name, without a folder"))
    }
}

/// The built-in actions, tagged by `action = "…"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// A T-SQL batch on a target.
    Sql {
        /// The SQL target.
        target: String,
        /// The batch.
        batch: String,
        /// A read-only query that returns one row with column `done` (1 when the batch has
        /// taken effect); used after a crash.
        #[serde(default)]
        probe: Option<String>,
        /// Effect class (default `guarded`).
        #[serde(default)]
        effect: Option<Effect>,
        /// The value the batch's last result set must hold in its first column, e.g. a
        /// procedure's return code selected with `SELECT @rc`.
        #[serde(default)]
        expect_return_code: Option<i64>,
        /// The file the batch writes: hashed by this host once the batch succeeds, its size and
        /// SHA-256 recorded in the outcome.
        #[serde(default)]
        writes: Option<WrittenFile>,
        /// The id of an earlier `sql` step whose `writes` this batch reads: the file is hashed
        /// again just before the batch, which runs only when it equals that step's record.
        #[serde(default)]
        reads: Option<String>,
    },
    /// Copy the backup files not yet copied from the share to the copy destination.
    CopyBackups {
        /// The SQL target that reads backup headers.
        target: String,
        /// The database whose backups are copied.
        database: String,
        /// The backup share, as the SQL Server names it (`RESTORE HEADERONLY` reads it).
        source: String,
        /// The copy destination, as the SQL Server names it.
        destination: String,
        /// The backup share as the host running runledger reaches it (it lists, hashes and
        /// copies the files) [default: `source`].
        #[serde(default)]
        local_source: Option<String>,
        /// The copy destination as the host running runledger reaches it [default:
        /// `destination`].
        #[serde(default)]
        local_destination: Option<String>,
    },
    /// Before anything changes: the backup share and the copy destination can be read, and
    /// the destination has room for the files still to copy.
    CheckBackups {
        /// The SQL target (for the database's restore point).
        target: String,
        /// The database.
        database: String,
        /// The backup share, as the SQL Server names it.
        source: String,
        /// The copy destination, as the SQL Server names it.
        destination: String,
        /// The backup share as the host running runledger reaches it [default: `source`].
        #[serde(default)]
        local_source: Option<String>,
        /// The copy destination as the host running runledger reaches it [default:
        /// `destination`].
        #[serde(default)]
        local_destination: Option<String>,
    },
    /// Apply the not-yet-applied log backups in LSN order, WITH NORECOVERY.
    RestoreLogs {
        /// The SQL target.
        target: String,
        /// The database.
        database: String,
        /// The folder holding the log backups (the copy destination), as the SQL Server
        /// names it in `RESTORE LOG … FROM DISK`.
        directory: String,
        /// The same folder as the host running runledger reaches it (it lists and re-hashes
        /// the files) [default: `directory`].
        #[serde(default)]
        local_directory: Option<String>,
    },
    /// End the sessions holding the database (never a RESTORE).
    KillSessions {
        /// The SQL target.
        target: String,
        /// The database.
        database: String,
    },
    /// `RESTORE DATABASE … WITH RECOVERY`.
    RecoverDatabase {
        /// The SQL target.
        target: String,
        /// The database.
        database: String,
    },
    /// A Lync Management Shell command line.
    CsCmdlet {
        /// The cmdlet line.
        command: String,
        /// A read-only cmdlet line whose output contains `probe_expect` once the command has
        /// taken effect.
        #[serde(default)]
        probe: Option<String>,
        /// Text the probe's output contains when applied.
        #[serde(default)]
        probe_expect: Option<String>,
        /// Or a SQL probe: the target it runs on…
        #[serde(default)]
        probe_target: Option<String>,
        /// …and the query, returning one row with column `done` (1 when applied).
        #[serde(default)]
        probe_query: Option<String>,
        /// Effect class (default `idempotent`).
        #[serde(default)]
        effect: Option<Effect>,
        /// A read-only cmdlet line whose output names the object's `Identity`; it replaces
        /// `{{resolved_identity}}` in `command` and `probe` at run time (and is recorded).
        #[serde(default)]
        resolve_identity: Option<String>,
    },
    /// An assertion: a query returning one row whose column `ok` is 1, or a shell command
    /// that exits 0.
    Check {
        /// The SQL target (with `query`).
        #[serde(default)]
        target: Option<String>,
        /// The query.
        #[serde(default)]
        query: Option<String>,
        /// A cmdlet line (instead of a query).
        #[serde(default)]
        command: Option<String>,
        /// Poll (every 500 ms) until the check holds or this long has passed, e.g. `10m`:
        /// what is still running is waited for.
        #[serde(default)]
        #[schemars(with = "Option<String>")]
        wait: Option<Limit>,
        /// A failed check is recorded and reported, and the runbook continues.
        #[serde(default)]
        warn_only: bool,
        /// With `command`: text the cmdlet's output must contain for the check to hold.
        #[serde(default)]
        expect: Option<String>,
    },
    /// An instruction the operator confirms.
    Manual {
        /// What the operator must do or confirm.
        instruction: String,
        /// The confirmation declares the failure: its time is what the recovery point objective
        /// is measured against.
        #[serde(default)]
        declares_failure: bool,
    },
}

impl Action {
    /// The action's kind, written as in `action = "…"`.
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Sql { .. } => ActionKind::Sql,
            Action::CopyBackups { .. } => ActionKind::CopyBackups,
            Action::CheckBackups { .. } => ActionKind::CheckBackups,
            Action::RestoreLogs { .. } => ActionKind::RestoreLogs,
            Action::KillSessions { .. } => ActionKind::KillSessions,
            Action::RecoverDatabase { .. } => ActionKind::RecoverDatabase,
            Action::CsCmdlet { .. } => ActionKind::CsCmdlet,
            Action::Check { .. } => ActionKind::Check,
            Action::Manual { .. } => ActionKind::Manual,
        }
    }

    /// The effect class: what may be done with an interrupted action after a crash.
    pub fn effect(&self) -> Effect {
        match self {
            Action::Sql { effect, .. } => effect.unwrap_or(Effect::Guarded),
            Action::CopyBackups { .. } => Effect::Idempotent,
            Action::CheckBackups { .. } => Effect::ReadOnly,
            Action::RestoreLogs { .. } => Effect::Guarded,
            Action::KillSessions { .. } => Effect::Guarded,
            Action::RecoverDatabase { .. } => Effect::Guarded,
            Action::CsCmdlet { effect, .. } => effect.unwrap_or(Effect::Idempotent),
            Action::Check { .. } => Effect::ReadOnly,
            Action::Manual { .. } => Effect::ReadOnly,
        }
    }

    /// The SQL target the action uses, if any.
    pub fn sql_target(&self) -> Option<&str> {
        match self {
            Action::Sql { target, .. }
            | Action::CopyBackups { target, .. }
            | Action::CheckBackups { target, .. }
            | Action::RestoreLogs { target, .. }
            | Action::KillSessions { target, .. }
            | Action::RecoverDatabase { target, .. } => Some(target),
            Action::Check { target, .. } => target.as_deref(),
            Action::CsCmdlet { probe_target, .. } => probe_target.as_deref(),
            Action::Manual { .. } => None,
        }
    }

    /// The database the action works on, if any.
    pub fn database(&self) -> Option<&str> {
        match self {
            Action::CopyBackups { database, .. }
            | Action::CheckBackups { database, .. }
            | Action::RestoreLogs { database, .. }
            | Action::KillSessions { database, .. }
            | Action::RecoverDatabase { database, .. } => Some(database),
            _ => None,
        }
    }

    /// Every text field that may hold placeholders: its key, the context its placeholders are
    /// rendered for, and the text.
    fn fields_mut(&mut self) -> Vec<(&'static str, Context, &mut String)> {
        let cmdlet = |resolved_identity| Context::Cmdlet { resolved_identity };
        match self {
            Action::Sql {
                batch,
                probe,
                writes,
                ..
            } => {
                let mut v = vec![("batch", Context::Sql, batch)];
                v.extend(probe.as_mut().map(|p| ("probe", Context::Sql, p)));
                if let Some(w) = writes.as_mut() {
                    v.push(("writes.folder", Context::Plain, &mut w.folder));
                    v.extend(
                        w.local_folder
                            .as_mut()
                            .map(|t| ("writes.local_folder", Context::Plain, t)),
                    );
                    v.push(("writes.file", Context::Plain, &mut w.file));
                }
                v
            }
            Action::CopyBackups {
                database,
                source,
                destination,
                local_source,
                local_destination,
                ..
            }
            | Action::CheckBackups {
                database,
                source,
                destination,
                local_source,
                local_destination,
                ..
            } => {
                let mut v = vec![
                    ("database", Context::Database, database),
                    ("source", Context::Plain, source),
                    ("destination", Context::Plain, destination),
                ];
                v.extend(
                    local_source
                        .as_mut()
                        .map(|t| ("local_source", Context::Plain, t)),
                );
                v.extend(
                    local_destination
                        .as_mut()
                        .map(|t| ("local_destination", Context::Plain, t)),
                );
                v
            }
            Action::RestoreLogs {
                database,
                directory,
                local_directory,
                ..
            } => {
                let mut v = vec![
                    ("database", Context::Database, database),
                    ("directory", Context::Plain, directory),
                ];
                v.extend(
                    local_directory
                        .as_mut()
                        .map(|t| ("local_directory", Context::Plain, t)),
                );
                v
            }
            Action::KillSessions { database, .. } | Action::RecoverDatabase { database, .. } => {
                vec![("database", Context::Database, database)]
            }
            Action::CsCmdlet {
                command,
                probe,
                probe_expect,
                probe_query,
                resolve_identity,
                ..
            } => {
                let resolves = resolve_identity.is_some();
                let mut v = vec![("command", cmdlet(resolves), command)];
                v.extend(probe.as_mut().map(|t| ("probe", cmdlet(resolves), t)));
                v.extend(
                    probe_expect
                        .as_mut()
                        .map(|t| ("probe_expect", Context::Plain, t)),
                );
                v.extend(
                    probe_query
                        .as_mut()
                        .map(|t| ("probe_query", Context::Sql, t)),
                );
                v.extend(
                    resolve_identity
                        .as_mut()
                        .map(|t| ("resolve_identity", cmdlet(false), t)),
                );
                v
            }
            Action::Check {
                query,
                command,
                expect,
                ..
            } => {
                let mut v = Vec::new();
                v.extend(query.as_mut().map(|t| ("query", Context::Sql, t)));
                v.extend(command.as_mut().map(|t| ("command", cmdlet(false), t)));
                v.extend(expect.as_mut().map(|t| ("expect", Context::Plain, t)));
                v
            }
            Action::Manual { instruction, .. } => {
                vec![("instruction", Context::Plain, instruction)]
            }
        }
    }
}

/// Why a runbook was refused: always with file, line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct RunbookError {
    /// File name (or `<built-in NAME>`).
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// The runbooks shipped inside the binary.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "persistent-chat-failover",
        include_str!("../runbooks/persistent-chat-failover.toml"),
    ),
    (
        "persistent-chat-failback",
        include_str!("../runbooks/persistent-chat-failback.toml"),
    ),
];

/// A built-in runbook's source by name.
pub fn built_in(name: &str) -> Option<&'static str> {
    BUILT_IN.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Reads and validates a runbook file.
pub fn load(path: &Path) -> Result<LoadedRunbook, RunbookError> {
    let origin = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| RunbookError {
        origin: origin.clone(),
        line: 1,
        column: 1,
        message: format!("cannot read runbook: {e}"),
    })?;
    parse(&source, &origin)
}

/// Parses and validates runbook source; `origin` names it in errors.
pub fn parse(source: &str, origin: &str) -> Result<LoadedRunbook, RunbookError> {
    let at = |offset: usize, message: String| {
        let (line, column) = line_col(source, offset);
        RunbookError {
            origin: origin.to_string(),
            line,
            column,
            message,
        }
    };
    let toml_error = |e: toml::de::Error| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        at(offset, e.message().trim().to_string())
    };
    // The document with the position of every value: parameters are checked here, before the
    // types are read, so that each error names the parameter and points at its text.
    let doc = toml::de::DeTable::parse(source).map_err(toml_error)?;
    let doc = doc.get_ref();
    params::check_declarations(doc, source).map_err(|r| at(r.offset, r.message))?;
    let mut runbook: Runbook = toml::from_str(source).map_err(toml_error)?;
    // Locates a value in the source for validation errors (the first occurrence after `after`).
    let find = |needle: &str, after: usize| -> usize {
        source[after.min(source.len())..]
            .find(needle)
            .map(|i| i + after)
            .unwrap_or(0)
    };

    for (name, target) in &runbook.targets {
        let pos = find(&format!("[targets.{name}]"), 0);
        match (target.auth, &target.user, &target.password) {
            (AuthMethod::Integrated, _, _) => {}
            (_, None, _) => {
                return Err(at(
                    pos,
                    format!("target {name}: auth {} needs `user`", if target.auth == AuthMethod::Sql { "sql" } else { "ntlm" }),
                ))
            }
            (_, _, None) => {
                return Err(at(pos, format!("target {name}: needs `password = {{ env = \"VAR\" }}` or `{{ file = \"PATH\" }}`")))
            }
            _ => {}
        }
        if target.trust_cert_ca.is_some() && target.trust_server_certificate {
            return Err(at(
                find("trust_cert_ca", pos),
                format!("target {name}: `trust_cert_ca` and `trust_server_certificate = true` exclude each other; pin the CA, or (labs only) accept any certificate"),
            ));
        }
    }
    check_step_keys(source, &at)?;
    if runbook.steps.is_empty() {
        return Err(at(0, "a runbook needs at least one `[[steps]]`".into()));
    }
    let mut seen = std::collections::HashSet::new();
    // The `sql` steps that write a file, with the file's path as their batch names it.
    let mut writers: HashMap<String, String> = HashMap::new();
    let mut cursor = 0;
    let declared = runbook.parameters.clone();
    let shell = runbook.shell.is_some();
    let targets: Vec<String> = runbook.targets.keys().cloned().collect();
    for (index, step) in runbook.steps.iter_mut().enumerate() {
        let pos = find_id(source, &step.id, cursor);
        cursor = pos + 1;
        if !is_id(&step.id) {
            return Err(at(
                pos,
                format!("step id {:?} must be letters, digits, `_` or `-`", step.id),
            ));
        }
        if !seen.insert(step.id.clone()) {
            return Err(at(pos, format!("step id {:?} is used twice", step.id)));
        }
        if let Some(t) = &step.timeout {
            t.checked()
                .map_err(|m| at(find(t.text(), pos), format!("step {}: {m}", step.id)))?;
        }
        if let Action::CsCmdlet {
            command,
            probe,
            resolve_identity: None,
            ..
        } = &step.action
        {
            let uses = |t: &str| t.contains("{{resolved_identity}}");
            if uses(command) || probe.as_deref().is_some_and(uses) {
                return Err(at(
                    pos,
                    format!(
                        "step {}: {{{{resolved_identity}}}} needs `resolve_identity`",
                        step.id
                    ),
                ));
            }
        }
        if let Action::Check { wait: Some(w), .. } = &step.action {
            w.checked()
                .map_err(|m| at(find(w.text(), pos), format!("step {}: {m}", step.id)))?;
        }
        if let Some(target) = step.action.sql_target() {
            if !targets.iter().any(|t| t == target) {
                return Err(at(
                    pos,
                    format!("step {}: unknown target {target:?}", step.id),
                ));
            }
        }
        if let Some(ready) = &step.ready {
            if !targets.contains(&ready.target) {
                return Err(at(
                    pos,
                    format!(
                        "step {}: `ready` names unknown target {:?}",
                        step.id, ready.target
                    ),
                ));
            }
        }
        for needed in &step.needs {
            if !seen.contains(needed) || needed == &step.id {
                return Err(at(
                    pos,
                    format!(
                        "step {}: `needs` names {needed:?}, which is not an earlier step",
                        step.id
                    ),
                ));
            }
        }
        if step.explicit_approval && !step.requires_approval {
            return Err(at(
                pos,
                format!(
                    "step {}: `explicit_approval` needs `requires_approval = true`",
                    step.id
                ),
            ));
        }
        match &step.action {
            Action::CsCmdlet { .. } if !shell => {
                return Err(at(
                    pos,
                    format!("step {}: cs_cmdlet needs a [shell] section", step.id),
                ))
            }
            Action::Check {
                query,
                command,
                target,
                ..
            } => match (query, command, target) {
                (Some(_), None, Some(_)) => {}
                (None, Some(_), None) if shell => {}
                _ => {
                    return Err(at(
                        pos,
                        format!(
                        "step {}: check needs `target` and `query`, or `command` (with a [shell])",
                        step.id
                    ),
                    ))
                }
            },
            _ => {}
        }
        let id = step.id.clone();
        let mut fields = vec![("title", Context::Plain, &mut step.title)];
        if let Some(ready) = step.ready.as_mut() {
            fields.push(("ready.query", Context::Sql, &mut ready.query));
            fields.push(("ready.what", Context::Plain, &mut ready.what));
        }
        fields.extend(step.action.fields_mut());
        for (key, context, text) in fields {
            *text = params::render(text, context, &declared).map_err(|m| {
                let offset = placeholder_offset(doc, source, index, key, text, &m).unwrap_or(pos);
                at(offset, format!("step {id}: {}", m.message))
            })?;
        }
        if let Some(db) = step.action.database() {
            if !is_sql_name(db) {
                return Err(at(
                    pos,
                    format!(
                        "step {}: database name {db:?} is not a plain identifier",
                        step.id
                    ),
                ));
            }
        }
        if let Action::Sql {
            batch,
            probe,
            writes,
            reads,
            ..
        } = &step.action
        {
            let named = |path: &str| batch.contains(&crate::text::in_sql_string(path));
            if let Some(w) = writes {
                w.check_name()
                    .map_err(|m| at(pos, format!("step {id}: {m}")))?;
                let path = w.path();
                if probe.is_some() {
                    return Err(at(pos, format!("step {id}: a step that `writes` a file takes no `probe`: the file is hashed each time the batch runs, and a batch found in effect would leave it unhashed")));
                }
                if !named(&path) {
                    return Err(at(
                        pos,
                        format!("step {id}: the batch does not name the file it `writes`, {path}"),
                    ));
                }
                writers.insert(id.clone(), path);
            }
            if let Some(r) = reads {
                let Some(path) = writers.get(r) else {
                    return Err(at(pos, format!("step {id}: `reads` names {r:?}, which is not an earlier sql step that `writes` a file")));
                };
                if !named(path) {
                    return Err(at(
                        pos,
                        format!("step {id}: the batch does not name {path}, the file it `reads` from {r}"),
                    ));
                }
            }
        }
    }
    Ok(LoadedRunbook {
        origin: origin.to_string(),
        source: source.to_string(),
        runbook,
    })
}

/// Refuses keys a step does not have: `Step` flattens its action, so serde cannot deny unknown
/// fields itself, and a misspelt `requires_aproval` must not pass silently. The keys allowed per
/// action are read from the runbook's own schema, so the two cannot drift apart.
fn check_step_keys(
    source: &str,
    at: &dyn Fn(usize, String) -> RunbookError,
) -> Result<(), RunbookError> {
    let schema = schema();
    let step = &schema["$defs"]["Step"];
    let common: Vec<&str> = step["properties"]
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let table: toml::Table = toml::from_str(source).map_err(|e| at(0, e.message().to_string()))?;
    let Some(steps) = table.get("steps").and_then(|s| s.as_array()) else {
        return Ok(());
    };
    let mut cursor = 0;
    for s in steps {
        let Some(t) = s.as_table() else { continue };
        let id = t.get("id").and_then(|v| v.as_str()).unwrap_or("");
        let action = t.get("action").and_then(|v| v.as_str()).unwrap_or("");
        let pos = find_id(source, id, cursor);
        cursor = pos + 1;
        let variant = step["oneOf"].as_array().and_then(|vs| {
            vs.iter()
                .find(|v| v["properties"]["action"]["const"].as_str() == Some(action))
        });
        let Some(variant) = variant else { continue };
        for key in t.keys() {
            let known =
                common.contains(&key.as_str()) || variant["properties"].get(key.as_str()).is_some();
            if !known {
                let key_pos = source[pos.min(source.len())..]
                    .find(&format!("\n{key}"))
                    .map(|i| pos + i + 1)
                    .unwrap_or(pos);
                return Err(at(
                    key_pos,
                    format!("step {id}: unknown field `{key}` for action {action}"),
                ));
            }
        }
    }
    Ok(())
}

/// The offset of a step's `id = "…"` value at or after `after` (0 when not found).
fn find_id(source: &str, id: &str, after: usize) -> usize {
    let quoted = format!("\"{id}\"");
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        if start < after {
            continue;
        }
        let t = line.trim_start();
        if t.starts_with("id") && t[2..].trim_start().starts_with('=') {
            if let Some(i) = line.find(&quoted) {
                return start + i;
            }
        }
    }
    0
}

/// Where a misplaced placeholder stands in the source: in the raw text of the step's field
/// `key` (`ready.query` for a nested one), at the same rank among the occurrences of its text.
fn placeholder_offset(
    doc: &toml::de::DeTable<'_>,
    source: &str,
    index: usize,
    key: &str,
    template: &str,
    m: &params::Misplaced,
) -> Option<usize> {
    use toml::de::DeValue;
    let DeValue::Array(steps) = doc.get("steps")?.get_ref() else {
        return None;
    };
    let mut value = steps.get(index)?;
    for part in key.split('.') {
        let DeValue::Table(t) = value.get_ref() else {
            return None;
        };
        value = t.get(part)?;
    }
    let span = value.span();
    let written = if m.written.is_empty() {
        "{{"
    } else {
        m.written.as_str()
    };
    let rank = template.get(..m.at)?.matches(written).count();
    source[span.clone()]
        .match_indices(written)
        .nth(rank)
        .map(|(i, _)| span.start + i)
}

pub(crate) fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A database name that needs no quoting beyond `[…]`: letters, digits, `_`, not starting with a digit.
pub fn is_sql_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A time limit as the runbook writes it (`500ms`, `30s`, `10m`, `2h`), read into a
/// [`Duration`](std::time::Duration) once, when the runbook is loaded: loading refuses one that
/// does not read, naming its line and column, and execution never parses the text again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct Limit {
    text: String,
    value: Result<std::time::Duration, String>,
}

impl From<String> for Limit {
    fn from(text: String) -> Limit {
        let value = parse_duration(&text);
        Limit { text, value }
    }
}

impl From<Limit> for String {
    fn from(limit: Limit) -> String {
        limit.text
    }
}

impl Limit {
    /// The limit as the runbook writes it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The limit, or why its text does not read as one.
    pub fn checked(&self) -> Result<std::time::Duration, String> {
        self.value.clone()
    }

    /// The limit; `None` only for a runbook that was not validated (loading refuses it).
    pub fn duration(&self) -> Option<std::time::Duration> {
        self.value.as_ref().ok().copied()
    }
}

/// Parses `500ms`, `30s`, `10m`, `2h`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("timeout {s:?} is not like 30s, 10m or 1h"))?;
    let ms = match unit {
        "ms" => n,
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        _ => return Err(format!("timeout {s:?} is not like 30s, 10m or 1h")),
    };
    Ok(std::time::Duration::from_millis(ms))
}

fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The JSON Schema of the runbook format (`schemas/runbook.schema.json`).
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Runbook)).expect("a schema is JSON")
}
