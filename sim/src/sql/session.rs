//! One client session of a simulated instance: runs batches and RPC calls statement by
//! statement and collects what the client must receive.
//!
//! The session owns its SQLite connection (with its per-session views) and its current
//! database; variables live for one batch, as in T-SQL. It never writes to the network: the
//! server turns the outputs into tokens.

use std::collections::HashMap;
use std::time::Duration;

use rusqlite::Connection;

use super::error::{SqlError, SqlMessage};
use super::lexer::{lex, Tok};
use super::select::{self, Env, Lit, ResultSet};
use super::statement::{parse_batch, Parsed, Statement};
use super::{procs, restore};
use crate::state;
use crate::tds::rpc::RpcCall;

/// What the server lets a statement know about its connection and the other sessions.
pub trait Host: Send + Sync {
    /// True once the client sent an attention, or the session was killed: stop the statement.
    fn interrupted(&self) -> bool;
    /// Closes the live connection with this session id, if there is one.
    fn kill(&self, instance: &str, session_id: i64) -> bool;
    /// How long each restore takes (`--pace`).
    fn pace(&self) -> Duration;
}

/// Something the client receives, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A result set.
    Rows(ResultSet),
    /// An INFO or ERROR message.
    Message(SqlMessage),
    /// End of a statement.
    Done {
        /// Rows selected or affected, when meaningful.
        rows: Option<u64>,
        /// The statement failed.
        error: bool,
        /// The statement was a procedure call (DONEPROC).
        proc: bool,
    },
    /// A procedure's return code.
    ReturnStatus(i32),
    /// The current database changed.
    Database {
        /// New database.
        new: String,
        /// Previous database.
        old: String,
    },
    /// The statement stopped because of an attention signal.
    Cancelled,
}

/// A session of one simulated instance.
pub struct Session<'h> {
    /// Its SQLite connection, with the per-session views.
    pub conn: Connection,
    /// Instance name (`BAK`, `BAKM`).
    pub instance: String,
    /// `@@SERVERNAME`.
    pub server_name: String,
    /// `@@SPID`.
    pub spid: i64,
    /// Login name.
    pub login: String,
    /// Current database.
    pub database: String,
    /// The drill directory: Windows paths resolve to folders under `DIR/sim/`.
    pub root: std::path::PathBuf,
    /// The server side of the connection.
    pub host: &'h dyn Host,
}

impl<'h> Session<'h> {
    /// Runs a SQL batch.
    pub fn batch(&mut self, sql: &str) -> Vec<Output> {
        let mut out = Vec::new();
        let mut vars = HashMap::new();
        self.run(sql, &mut vars, &mut out);
        out
    }

    /// Runs an RPC call; only `sp_executesql` is served, as tiberius sends it.
    pub fn rpc(&mut self, call: &RpcCall) -> Vec<Output> {
        let mut out = Vec::new();
        if call.proc_name != "sp_executesql" {
            let e = SqlError::no_procedure(&call.proc_name);
            out.extend(e.messages.into_iter().map(Output::Message));
            out.push(Output::Done {
                rows: None,
                error: true,
                proc: true,
            });
            return out;
        }
        let mut vars = HashMap::new();
        let mut stmt = String::new();
        for (i, (name, literal)) in call.params.iter().enumerate() {
            let name = name.trim_start_matches('@').to_ascii_lowercase();
            if i == 0 || name == "stmt" {
                stmt = literal_value(literal).text().unwrap_or_default();
            } else if i == 1 || name == "params" {
                continue;
            } else {
                vars.insert(format!("@{name}"), literal_value(literal));
            }
        }
        self.run(&stmt, &mut vars, &mut out);
        if matches!(out.last(), Some(Output::Cancelled)) {
            return out;
        }
        out.push(Output::ReturnStatus(0));
        out.push(Output::Done {
            rows: None,
            error: false,
            proc: true,
        });
        out
    }

    fn run(&mut self, sql: &str, vars: &mut HashMap<String, Lit>, out: &mut Vec<Output>) {
        let parsed = lex(sql)
            .map_err(|e| {
                SqlError::syntax(
                    sql.get(e.at..)
                        .unwrap_or("")
                        .split_whitespace()
                        .next()
                        .unwrap_or(""),
                    sql,
                )
            })
            .and_then(|tokens| parse_batch(sql, &tokens));
        let statements = match parsed {
            Ok(s) => s,
            Err(e) => {
                fail(out, e);
                return;
            }
        };
        for p in &statements {
            if self.host.interrupted() {
                out.push(Output::Cancelled);
                return;
            }
            match self.statement(p, vars, out) {
                Ok(()) => {}
                Err(e) if e.number() == INTERRUPTED => {
                    out.push(Output::Cancelled);
                    return;
                }
                Err(e) => {
                    let stop = e.aborts_batch;
                    fail(out, e);
                    if stop {
                        return;
                    }
                }
            }
        }
    }

    /// The environment a SELECT sees.
    pub fn env<'a>(&'a self, vars: &'a HashMap<String, Lit>) -> Env<'a> {
        Env {
            server_name: &self.server_name,
            spid: self.spid,
            database: &self.database,
            login: &self.login,
            vars,
        }
    }

    fn statement(
        &mut self,
        p: &Parsed,
        vars: &mut HashMap<String, Lit>,
        out: &mut Vec<Output>,
    ) -> Result<(), SqlError> {
        match &p.statement {
            Statement::Select(tokens) => {
                let rs = select::run(&self.conn, tokens, &self.env(vars))?;
                let n = rs.rows.len() as u64;
                out.push(Output::Rows(rs));
                out.push(Output::Done {
                    rows: Some(n),
                    error: false,
                    proc: false,
                });
            }
            Statement::Declare(decls) => {
                for (name, _ty, init) in decls {
                    let value = match init {
                        Some(t) => select::scalar(&self.conn, t, &self.env(vars))?,
                        None => Lit::Null,
                    };
                    vars.insert(name.clone(), value);
                }
            }
            Statement::SetVar(name, expr) => {
                if !vars.contains_key(name) {
                    return Err(SqlError::undeclared(name));
                }
                let value = select::scalar(&self.conn, expr, &self.env(vars))?;
                vars.insert(name.clone(), value);
            }
            Statement::SetOption => {}
            Statement::Print(expr) => {
                let v = select::scalar(&self.conn, expr, &self.env(vars))?;
                out.push(Output::Message(SqlMessage {
                    number: 0,
                    state: 1,
                    class: 0,
                    text: v.text().unwrap_or_default(),
                }));
            }
            Statement::Use(db) => {
                let state: Option<String> = self
                    .conn
                    .query_row(
                        "SELECT state_desc FROM sys_databases WHERE name = ?1",
                        [db],
                        |r| r.get(0),
                    )
                    .ok();
                match state.as_deref() {
                    None => return Err(SqlError::no_database(db)),
                    Some("ONLINE") => {}
                    Some(_) => return Err(SqlError::restoring(db)),
                }
                let real: String = self.conn.query_row(
                    "SELECT name FROM sys_databases WHERE name = ?1",
                    [db],
                    |r| r.get(0),
                )?;
                // The session's current database, as sys.dm_exec_sessions shows it.
                self.conn.execute(
                    "UPDATE main.sessions SET database_name = ?3 WHERE instance = ?1 AND session_id = ?2",
                    rusqlite::params![self.instance, self.spid, real],
                )?;
                let old = std::mem::replace(&mut self.database, real.clone());
                out.push(Output::Database {
                    new: real.clone(),
                    old,
                });
                out.push(Output::Message(SqlMessage::info(
                    5701,
                    format!("Changed database context to '{real}'."),
                )));
            }
            Statement::Exec { rc, name, args } => {
                if let Some(v) = rc {
                    if !vars.contains_key(v) {
                        return Err(SqlError::undeclared(v));
                    }
                }
                let values = args
                    .iter()
                    .map(|a| {
                        let v = match a.value.as_slice() {
                            // A bare word is a string, as T-SQL allows for procedure arguments.
                            [t] => match &t.tok {
                                Tok::Word(w) if !w.eq_ignore_ascii_case("NULL") => {
                                    Lit::Str(w.clone())
                                }
                                Tok::Quoted(w) => Lit::Str(w.clone()),
                                _ => select::scalar(&self.conn, &a.value, &self.env(vars))?,
                            },
                            _ => select::scalar(&self.conn, &a.value, &self.env(vars))?,
                        };
                        Ok((a.name.clone(), v))
                    })
                    .collect::<Result<Vec<_>, SqlError>>()?;
                let mut outputs = HashMap::new();
                let result = procs::call(self, name, &values, &p.text, out, &mut outputs);
                for a in args.iter().filter(|a| a.output) {
                    let (Some(param), [t]) = (&a.name, a.value.as_slice()) else {
                        continue;
                    };
                    if let (Tok::Var(var), Some(v)) = (&t.tok, outputs.get(param)) {
                        let var = var.to_ascii_lowercase();
                        if !vars.contains_key(&var) {
                            return Err(SqlError::undeclared(&var));
                        }
                        vars.insert(var, v.clone());
                    }
                }
                let (code, err) = match result {
                    Ok(code) => (code, None),
                    Err(e) if e.aborts_batch || e.number() == INTERRUPTED => return Err(e),
                    Err(e) => (1, Some(e)),
                };
                if let Some(v) = rc {
                    vars.insert(v.clone(), Lit::Int(code as i64));
                }
                let failed = err.is_some();
                if let Some(e) = err {
                    out.extend(e.messages.into_iter().map(Output::Message));
                }
                out.push(Output::ReturnStatus(code));
                out.push(Output::Done {
                    rows: None,
                    error: failed,
                    proc: true,
                });
            }
            Statement::RestoreHeaderOnly(path) => {
                let path = self.path(path, vars)?;
                let rs = restore::header_only(self, &path)?;
                let n = rs.rows.len() as u64;
                out.push(Output::Rows(rs));
                out.push(Output::Done {
                    rows: Some(n),
                    error: false,
                    proc: false,
                });
            }
            Statement::RestoreVerifyOnly { path, checksum } => {
                let path = self.path(path, vars)?;
                restore::verify_only(self, &path, *checksum)?;
                out.push(Output::Message(SqlMessage::info(
                    3262,
                    "The backup set on file 1 is valid.",
                )));
                out.push(Output::Done {
                    rows: None,
                    error: false,
                    proc: false,
                });
            }
            Statement::RestoreLog {
                db,
                path,
                recovery,
                standby,
                restart,
            } => {
                let db = self.name(db, vars)?;
                let path = self.path(path, vars)?;
                let after = match (standby, recovery) {
                    (Some(undo), _) => restore::AfterLog::Standby(self.path(undo, vars)?),
                    (None, true) => restore::AfterLog::Recovery,
                    (None, false) => restore::AfterLog::NoRecovery,
                };
                restore::restore_log(self, &db, &path, &after, *restart, &p.text, out)?;
                out.push(Output::Done {
                    rows: None,
                    error: false,
                    proc: false,
                });
            }
            Statement::RestoreRecovery(db) => {
                let db = self.name(db, vars)?;
                restore::recover(self, &db, &p.text, out)?;
                out.push(Output::Done {
                    rows: None,
                    error: false,
                    proc: false,
                });
            }
            Statement::RestoreDatabase {
                db,
                path,
                replace,
                recovery,
                checksum,
            } => {
                let db = self.name(db, vars)?;
                let path = self.path(path, vars)?;
                let how = super::full::RestoreFull {
                    replace: *replace,
                    recovery: *recovery,
                    checksum: *checksum,
                };
                super::full::restore_database(self, &db, &path, &how, &p.text, out)?;
                out.push(Output::Done {
                    rows: None,
                    error: false,
                    proc: false,
                });
            }
            Statement::BackupDatabase {
                db,
                path,
                checksum,
                init,
            } => {
                let db = self.name(db, vars)?;
                let path = self.path(path, vars)?;
                super::full::backup_database(self, &db, &path, *checksum, *init, &p.text, out)?;
                out.push(Output::Done {
                    rows: None,
                    error: false,
                    proc: false,
                });
            }
            Statement::Kill(target) => {
                let v = select::scalar(&self.conn, target, &self.env(vars))?;
                let Lit::Int(spid) = v else {
                    return Err(SqlError::syntax(&v.text().unwrap_or_default(), &p.text));
                };
                procs::kill(self, spid, &p.text)?;
                out.push(Output::Done {
                    rows: None,
                    error: false,
                    proc: false,
                });
            }
            Statement::AlterDatabase(db, rest) => {
                procs::alter_database(self, db, rest, &p.text)?;
                out.push(Output::Done {
                    rows: None,
                    error: false,
                    proc: false,
                });
            }
        }
        Ok(())
    }

    fn path(
        &self,
        tokens: &[super::lexer::Token],
        vars: &HashMap<String, Lit>,
    ) -> Result<String, SqlError> {
        select::scalar(&self.conn, tokens, &self.env(vars))?
            .text()
            .ok_or_else(|| SqlError::new(3201, 16, 1, "Cannot open backup device ''. Operating system error 2(The system cannot find the file specified.)."))
    }

    fn name(
        &self,
        tokens: &[super::lexer::Token],
        vars: &HashMap<String, Lit>,
    ) -> Result<String, SqlError> {
        match tokens.first().and_then(|t| t.ident()) {
            Some(n) => Ok(n.to_string()),
            None => Ok(select::scalar(&self.conn, tokens, &self.env(vars))?
                .text()
                .unwrap_or_default()),
        }
    }

    /// Appends the history row of a state change inside `tx`.
    pub fn record(
        &self,
        tx: &rusqlite::Transaction<'_>,
        command: &str,
        effect: &str,
    ) -> Result<(), SqlError> {
        state::record(tx, &self.instance, Some(self.spid), command, effect)?;
        Ok(())
    }

    /// Sleeps for the pace, in short slices so that an attention or a KILL stops it.
    pub fn pace(&self) -> Result<(), SqlError> {
        let total = self.host.pace();
        let start = std::time::Instant::now();
        while start.elapsed() < total {
            if self.host.interrupted() {
                return Err(interrupted());
            }
            std::thread::sleep(Duration::from_millis(10).min(total - start.elapsed().min(total)));
        }
        if self.host.interrupted() {
            return Err(interrupted());
        }
        Ok(())
    }
}

/// Marker number of a statement stopped by an attention or a KILL (never sent to a client).
pub const INTERRUPTED: i32 = -1;

fn interrupted() -> SqlError {
    SqlError::new(INTERRUPTED, 0, 0, "interrupted")
}

fn fail(out: &mut Vec<Output>, e: SqlError) {
    out.extend(e.messages.into_iter().map(Output::Message));
    out.push(Output::Done {
        rows: None,
        error: true,
        proc: false,
    });
}

/// Reads a T-SQL literal produced by the RPC decoder.
fn literal_value(text: &str) -> Lit {
    let Ok(tokens) = lex(text) else {
        return Lit::Str(text.to_string());
    };
    match tokens.as_slice() {
        [t] => match &t.tok {
            Tok::Str(s) => Lit::Str(s.clone()),
            Tok::Num(n) if n.starts_with("0x") => Lit::Bytes(
                (2..n.len())
                    .step_by(2)
                    .filter_map(|i| u8::from_str_radix(n.get(i..i + 2)?, 16).ok())
                    .collect(),
            ),
            Tok::Num(n) => n
                .parse()
                .map(Lit::Int)
                .unwrap_or_else(|_| n.parse().map(Lit::Real).unwrap_or(Lit::Str(n.clone()))),
            _ => Lit::Null,
        },
        [sign, n] if sign.is_punct("-") => match &n.tok {
            Tok::Num(n) => n
                .parse::<i64>()
                .map(|v| Lit::Int(-v))
                .unwrap_or_else(|_| n.parse::<f64>().map(|v| Lit::Real(-v)).unwrap_or(Lit::Null)),
            _ => Lit::Null,
        },
        _ => Lit::Null,
    }
}
