//! `SELECT` over the simulated catalog: the T-SQL is rewritten into SQLite over per-session
//! views (see `state::schema`) and run read-only.
//!
//! The rewrite is token by token: `sys.x`, `msdb.dbo.x` and `<db>.sys.x` become view names,
//! `TOP (n)` becomes `LIMIT n`, `N'…'` and `[x]` lose their T-SQL spelling, variables and
//! `@@globals` become literals, and a few built-ins (`DB_ID`, `ISNULL`, `GETDATE`, …) get
//! their SQLite equivalent. An object the simulator does not model is error 208, never an
//! empty result. Result column types come from the declared SQL Server type of the column, or
//! for expressions from the values (documented in docs/drill.md).

use std::collections::HashMap;

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use super::error::SqlError;
use super::lexer::{Tok, Token};
use crate::tds::token::{Column, SqlType, Value};

/// A value of a T-SQL variable or scalar expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    /// NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// A string.
    Str(String),
    /// A binary value, written `0x…` in T-SQL.
    Bytes(Vec<u8>),
}

impl Lit {
    /// The value as SQLite literal text.
    pub fn sql(&self) -> String {
        match self {
            Lit::Null => "NULL".into(),
            Lit::Int(n) => n.to_string(),
            Lit::Real(f) => f.to_string(),
            Lit::Str(s) => format!("'{}'", s.replace('\'', "''")),
            Lit::Bytes(b) => format!(
                "X'{}'",
                b.iter().map(|x| format!("{x:02X}")).collect::<String>()
            ),
        }
    }

    /// The value as text (for paths, names).
    pub fn text(&self) -> Option<String> {
        match self {
            Lit::Null => None,
            Lit::Int(n) => Some(n.to_string()),
            Lit::Real(f) => Some(f.to_string()),
            Lit::Str(s) => Some(s.clone()),
            Lit::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        }
    }
}

/// What a statement sees of its session.
#[derive(Debug)]
pub struct Env<'a> {
    /// `@@SERVERNAME`.
    pub server_name: &'a str,
    /// `@@SPID`.
    pub spid: i64,
    /// The current database.
    pub database: &'a str,
    /// The login.
    pub login: &'a str,
    /// Declared variables, lowercase names with their `@`.
    pub vars: &'a HashMap<String, Lit>,
}

/// A result set.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSet {
    /// The columns with their names and declared types, in order.
    pub columns: Vec<Column>,
    /// The rows, one value per column.
    pub rows: Vec<Vec<Value>>,
}

const SERVER_VIEWS: &[&str] = &[
    "databases",
    "master_files",
    "database_mirroring",
    "database_mirroring_endpoints",
    "tcp_endpoints",
    "dm_exec_sessions",
    "dm_exec_requests",
    "dm_tran_locks",
    "server_principals",
    "sysprocesses",
];
const DATABASE_VIEWS: &[&str] = &["database_principals", "objects"];
const MSDB_TABLES: &[&str] = &[
    "log_shipping_primary_databases",
    "log_shipping_primary_secondaries",
    "sysschedules",
    "sysjobschedules",
    "log_shipping_secondary",
    "log_shipping_secondary_databases",
    "log_shipping_monitor_secondary",
    "sysjobs",
    "sysjobactivity",
    "syssessions",
    "backupset",
    "backupmediafamily",
    "restorehistory",
];

/// Runs a SELECT statement and returns its rows.
pub fn run(conn: &Connection, tokens: &[Token], env: &Env) -> Result<ResultSet, SqlError> {
    let sql = translate(conn, tokens, env)?;
    query(conn, &sql)
}

/// Evaluates a scalar expression (a literal, a variable, or anything a SELECT list accepts).
pub fn scalar(conn: &Connection, tokens: &[Token], env: &Env) -> Result<Lit, SqlError> {
    match tokens {
        [t] => match &t.tok {
            Tok::Str(s) => return Ok(Lit::Str(s.clone())),
            Tok::Num(n) if n.parse::<i64>().is_ok() => {
                return Ok(Lit::Int(n.parse().expect("checked")))
            }
            Tok::Var(v) => {
                return env
                    .vars
                    .get(&v.to_ascii_lowercase())
                    .cloned()
                    .ok_or_else(|| SqlError::undeclared(v))
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("NULL") => return Ok(Lit::Null),
            _ => {}
        },
        [sign, n] if sign.is_punct("-") => {
            if let Tok::Num(n) = &n.tok {
                if let Ok(v) = n.parse::<i64>() {
                    return Ok(Lit::Int(-v));
                }
            }
        }
        _ => {}
    }
    let sql = format!("SELECT {}", translate(conn, tokens, env)?);
    let mut stmt = conn.prepare(&sql).map_err(|e| map_sqlite(e, &sql))?;
    let mut rows = stmt.query([]).map_err(|e| map_sqlite(e, &sql))?;
    let Some(row) = rows.next().map_err(|e| map_sqlite(e, &sql))? else {
        return Ok(Lit::Null);
    };
    Ok(match row.get_ref(0).map_err(SqlError::internal)? {
        ValueRef::Null => Lit::Null,
        ValueRef::Integer(n) => Lit::Int(n),
        ValueRef::Real(f) => Lit::Real(f),
        ValueRef::Text(t) => Lit::Str(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Lit::Bytes(b.to_vec()),
    })
}

fn query(conn: &Connection, sql: &str) -> Result<ResultSet, SqlError> {
    let mut stmt = conn.prepare(sql).map_err(|e| map_sqlite(e, sql))?;
    if !stmt.readonly() {
        return Err(SqlError::syntax("SELECT", sql));
    }
    let decls: Vec<(String, Option<String>)> = stmt
        .columns()
        .iter()
        .map(|c| {
            (
                c.name().to_string(),
                c.decl_type().map(str::to_ascii_uppercase),
            )
        })
        .collect();
    let n = decls.len();
    let mut rows = Vec::new();
    let mut q = stmt.query([]).map_err(|e| map_sqlite(e, sql))?;
    while let Some(row) = q.next().map_err(|e| map_sqlite(e, sql))? {
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            values.push(match row.get_ref(i).map_err(SqlError::internal)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(v) => Value::Int(v as i128),
                ValueRef::Real(f) if f.fract() == 0.0 && f.abs() < 9e15 => Value::Int(f as i128),
                ValueRef::Real(f) => Value::Text(f.to_string()),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
            });
        }
        rows.push(values);
    }
    let columns = decls
        .into_iter()
        .enumerate()
        .map(|(i, (name, decl))| {
            let ty = match decl.as_deref() {
                Some(d) => declared_type(d),
                None => inferred_type(rows.iter().map(|r| &r[i])),
            };
            let plain = name.chars().all(|c| c.is_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            Column {
                name: if decl.is_some() || plain {
                    name
                } else {
                    String::new()
                },
                ty,
            }
        })
        .collect();
    Ok(ResultSet { columns, rows })
}

fn declared_type(d: &str) -> SqlType {
    match d {
        "INT" => SqlType::Int,
        "BIGINT" | "INTEGER" => SqlType::BigInt,
        "SMALLINT" => SqlType::SmallInt,
        "TINYINT" => SqlType::TinyInt,
        "BIT" => SqlType::Bit,
        "DATETIME" => SqlType::DateTime,
        "DATETIME2" => SqlType::DateTime2,
        "UNIQUEIDENTIFIER" => SqlType::UniqueIdentifier,
        "VARBINARY" => SqlType::VarBinary,
        d if d.starts_with("NUMERIC") => SqlType::Numeric25,
        _ => SqlType::NVarChar,
    }
}

/// Type of an expression column, from its values: integers of 16 digits and more can only be
/// LSNs in this catalog (numeric(25,0)); text shaped like a GUID or a date is one.
fn inferred_type<'a>(values: impl Iterator<Item = &'a Value>) -> SqlType {
    let mut ty: Option<SqlType> = None;
    for v in values {
        let this = match v {
            Value::Null => continue,
            Value::Int(n) if n.unsigned_abs() >= 1_000_000_000_000_000 => SqlType::Numeric25,
            Value::Int(n) if i32::try_from(*n).is_ok() => SqlType::Int,
            Value::Int(_) => SqlType::BigInt,
            Value::Text(t) if uuid::Uuid::parse_str(t).is_ok() && t.len() == 36 => {
                SqlType::UniqueIdentifier
            }
            Value::Text(t) if looks_like_datetime(t) => SqlType::DateTime,
            Value::Text(_) => SqlType::NVarChar,
            Value::Bytes(_) => SqlType::VarBinary,
        };
        ty = Some(match (ty, this) {
            (None, t) => t,
            (Some(a), b) if a == b => a,
            (Some(SqlType::Int), SqlType::BigInt) | (Some(SqlType::BigInt), SqlType::Int) => {
                SqlType::BigInt
            }
            (
                Some(SqlType::Numeric25 | SqlType::Int | SqlType::BigInt),
                SqlType::Numeric25 | SqlType::Int | SqlType::BigInt,
            ) => SqlType::Numeric25,
            _ => SqlType::NVarChar,
        });
    }
    ty.unwrap_or(SqlType::Int)
}

fn looks_like_datetime(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':'
        && t.chars().filter(|c| c.is_ascii_digit()).count() + 5 + usize::from(t.contains('.'))
            == t.len()
}

fn map_sqlite(e: rusqlite::Error, sql: &str) -> SqlError {
    let msg = e.to_string();
    // Newer SQLite appends " in <statement> at offset N" to these messages.
    let first = |rest: &str| rest.split_whitespace().next().unwrap_or("").to_string();
    if let Some(name) = msg.strip_prefix("no such table: ") {
        return SqlError::invalid_object(&first(name));
    }
    if let Some(name) = msg.strip_prefix("no such column: ") {
        return SqlError::invalid_column(&first(name));
    }
    if let Some(name) = msg.strip_prefix("no such function: ").map(first) {
        return SqlError::new(
            195,
            15,
            10,
            format!("'{name}' is not a recognized built-in function name."),
        )
        .batch();
    }
    if let Some(rest) = msg.strip_prefix("near \"") {
        let near = rest.split('"').next().unwrap_or("");
        return SqlError::syntax(near, sql);
    }
    SqlError::syntax("SELECT", &format!("{sql} ({msg})"))
}

/// Rewrites T-SQL tokens into SQLite text.
pub fn translate(conn: &Connection, t: &[Token], env: &Env) -> Result<String, SqlError> {
    let mut out: Vec<String> = Vec::new();
    // LIMIT owed by the SELECT at each parenthesis depth (from its TOP).
    let mut limits: Vec<Option<String>> = vec![None];
    let mut i = 0;
    while i < t.len() {
        let tok = &t[i];
        let next_is_paren = t.get(i + 1).is_some_and(|x| x.is_punct("("));
        match &tok.tok {
            Tok::Punct(p) if p == "(" => {
                limits.push(None);
                out.push("(".into());
            }
            Tok::Punct(p) if p == ")" => {
                if let Some(Some(n)) = limits.pop() {
                    out.push(format!("LIMIT {n}"));
                }
                if limits.is_empty() {
                    limits.push(None);
                }
                out.push(")".into());
            }
            Tok::Punct(p) if p == ";" => {}
            Tok::Punct(p) => out.push(p.clone()),
            Tok::Str(s) => out.push(Lit::Str(s.clone()).sql()),
            Tok::Num(n) if n.starts_with("0x") || n.starts_with("0X") => {
                out.push(format!("X'{}'", &n[2..]));
            }
            Tok::Num(n) => out.push(n.clone()),
            Tok::Var(v) => {
                let value = env
                    .vars
                    .get(&v.to_ascii_lowercase())
                    .ok_or_else(|| SqlError::undeclared(v))?;
                out.push(value.sql());
            }
            Tok::Global(g) => out.push(global(g, env)?),
            Tok::Word(w) if w.eq_ignore_ascii_case("TOP") => {
                let (n, used) = if t.get(i + 1).is_some_and(|x| x.is_punct("(")) {
                    (t.get(i + 2), 4)
                } else {
                    (t.get(i + 1), 2)
                };
                let n = n.and_then(|x| match &x.tok {
                    Tok::Num(n) => Some(n.clone()),
                    Tok::Var(v) => env.vars.get(&v.to_ascii_lowercase()).map(Lit::sql),
                    _ => None,
                });
                let Some(n) = n else {
                    return Err(SqlError::syntax("TOP", &source(t)));
                };
                *limits.last_mut().expect("never empty") = Some(n);
                i += used;
                continue;
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("WITH") && next_is_paren => {
                // Table hints such as WITH (NOLOCK) change nothing here.
                let close = t[i..]
                    .iter()
                    .position(|x| x.is_punct(")"))
                    .map_or(t.len(), |p| i + p);
                i = close + 1;
                continue;
            }
            Tok::Word(_) | Tok::Quoted(_) => {
                let (parts, used) = dotted(&t[i..]);
                let prev_from = i > 0 && (t[i - 1].is_kw("FROM") || t[i - 1].is_kw("JOIN"));
                if next_is_paren && parts.len() == 1 && matches!(tok.tok, Tok::Word(_)) {
                    let close = matching(t, i + 1);
                    let inner = translate(conn, &t[i + 2..close], env)?;
                    out.push(function(&parts[0], &inner, env)?);
                    i = close + 1;
                    continue;
                }
                if let Some(object) = map_object(conn, &parts, prev_from, env)? {
                    out.push(object);
                } else {
                    let quoted: Vec<String> = t[i..i + used]
                        .iter()
                        .map(|x| match &x.tok {
                            Tok::Quoted(q) => format!("\"{}\"", q.replace('"', "\"\"")),
                            Tok::Word(w) => w.clone(),
                            _ => ".".into(),
                        })
                        .collect();
                    out.push(quoted.concat());
                }
                i += used;
                continue;
            }
        }
        i += 1;
    }
    if let Some(Some(n)) = limits.first() {
        out.push(format!("LIMIT {n}"));
    }
    Ok(out.join(" "))
}

fn source(t: &[Token]) -> String {
    t.iter()
        .map(|x| match &x.tok {
            Tok::Word(w) | Tok::Var(w) | Tok::Global(w) | Tok::Num(w) | Tok::Punct(w) => w.clone(),
            Tok::Quoted(q) => format!("[{q}]"),
            Tok::Str(s) => format!("N'{s}'"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads `a.b.c` (also `a..c`) starting at `t[0]`; returns the parts and tokens used.
fn dotted(t: &[Token]) -> (Vec<String>, usize) {
    let mut parts = vec![t[0].ident().unwrap_or("").to_string()];
    let mut i = 1;
    while t.get(i).is_some_and(|x| x.is_punct(".")) {
        match t.get(i + 1) {
            Some(x) if x.ident().is_some() => {
                parts.push(x.ident().expect("checked").to_string());
                i += 2;
            }
            Some(x) if x.is_punct(".") => {
                parts.push(String::new());
                i += 1;
            }
            Some(x) if x.is_punct("*") => break,
            _ => break,
        }
    }
    (parts, i)
}

fn matching(t: &[Token], open: usize) -> usize {
    let mut depth = 0;
    for (j, x) in t.iter().enumerate().skip(open) {
        if x.is_punct("(") {
            depth += 1;
        } else if x.is_punct(")") {
            depth -= 1;
            if depth == 0 {
                return j;
            }
        }
    }
    t.len()
}

fn map_object(
    conn: &Connection,
    parts: &[String],
    prev_from: bool,
    env: &Env,
) -> Result<Option<String>, SqlError> {
    let lower: Vec<String> = parts.iter().map(|p| p.to_ascii_lowercase()).collect();
    let written = parts.join(".");
    let (db, schema, obj) = match lower.as_slice() {
        [obj] if prev_from => (
            env.database.to_ascii_lowercase(),
            String::new(),
            obj.clone(),
        ),
        [schema, obj] if schema == "sys" || schema == "dbo" => (
            env.database.to_ascii_lowercase(),
            schema.clone(),
            obj.clone(),
        ),
        [db, schema, obj] if schema.is_empty() || schema == "sys" || schema == "dbo" => {
            (db.clone(), schema.clone(), obj.clone())
        }
        [_, _, _, _] => return Err(SqlError::invalid_object(&written)),
        _ => return Ok(None),
    };
    let obj = obj.as_str();
    // sysprocesses is also reachable as master.dbo.sysprocesses (SQL 2008 R2 scripts).
    if (schema != "dbo" || obj == "sysprocesses") && SERVER_VIEWS.contains(&obj) {
        return Ok(Some(format!("sys_{obj}")));
    }
    if schema != "dbo" && DATABASE_VIEWS.contains(&obj) {
        let state: Option<String> = conn
            .query_row(
                "SELECT state_desc FROM sys_databases WHERE name = ?1",
                [&db],
                |r| r.get(0),
            )
            .ok();
        return match state.as_deref() {
            None => Err(SqlError::invalid_object(&written)),
            Some("ONLINE") => Ok(Some(format!(
                "(SELECT * FROM dbs_{obj} WHERE database_name = {})",
                Lit::Str(db).sql()
            ))),
            Some(_) => Err(SqlError::restoring(&db).batch()),
        };
    }
    if db == "msdb" && schema != "sys" && MSDB_TABLES.contains(&obj) {
        return Ok(Some(format!("msdb_{obj}")));
    }
    if parts.len() == 1 {
        // Perhaps a CTE name: leave it to SQLite, which reports it if it is unknown.
        return Ok(None);
    }
    Err(SqlError::invalid_object(&written))
}

fn global(g: &str, env: &Env) -> Result<String, SqlError> {
    Ok(match g.to_ascii_uppercase().as_str() {
        "@@SERVERNAME" => Lit::Str(env.server_name.to_string()).sql(),
        "@@SPID" => env.spid.to_string(),
        "@@VERSION" => Lit::Str(VERSION.to_string()).sql(),
        "@@SERVICENAME" => "'MSSQLSERVER'".into(),
        "@@LANGUAGE" => "'us_english'".into(),
        "@@TRANCOUNT" | "@@ROWCOUNT" | "@@ERROR" => "0".into(),
        _ => return Err(SqlError::undeclared(g)),
    })
}

/// What `@@VERSION` says.
pub const VERSION: &str = "Microsoft SQL Server 2012 (SP4) (KB4018073) - 11.0.7001.0 (X64) \
     (runledger drill simulator)";

fn function(name: &str, inner: &str, env: &Env) -> Result<String, SqlError> {
    let now = "strftime('%Y-%m-%d %H:%M:%f','now')";
    Ok(match name.to_ascii_uppercase().as_str() {
        "DB_ID" if inner.trim().is_empty() => format!(
            "(SELECT database_id FROM sys_databases WHERE name = {})",
            Lit::Str(env.database.into()).sql()
        ),
        "DB_ID" => format!("(SELECT database_id FROM sys_databases WHERE name = ({inner}))"),
        "DB_NAME" if inner.trim().is_empty() => Lit::Str(env.database.into()).sql(),
        "DB_NAME" => format!("(SELECT name FROM sys_databases WHERE database_id = ({inner}))"),
        "ISNULL" => format!("IFNULL({inner})"),
        "LEN" => format!("LENGTH({inner})"),
        "COUNT_BIG" => format!("COUNT({inner})"),
        "GETDATE" | "GETUTCDATE" | "SYSDATETIME" | "SYSUTCDATETIME" => now.to_string(),
        "SUSER_SNAME" | "SUSER_NAME" | "ORIGINAL_LOGIN" => Lit::Str(env.login.into()).sql(),
        "SERVERPROPERTY" => {
            let prop = inner.trim().trim_matches('\'').to_ascii_lowercase();
            match prop.as_str() {
                "servername" | "machinename" => Lit::Str(env.server_name.into()).sql(),
                "productversion" => "'11.0.7001.0'".into(),
                "edition" => "'Enterprise Edition (64-bit)'".into(),
                "instancename" | "ishadrenabled" => "NULL".into(),
                _ => "NULL".into(),
            }
        }
        "IS_SRVROLEMEMBER" => "1".into(),
        "CONVERT" => {
            // CONVERT(type, expr[, style]) → CAST(expr AS type); the style is ignored.
            let mut parts = inner.splitn(3, " , ");
            let ty = parts.next().unwrap_or("");
            let expr = parts.next().unwrap_or("NULL");
            format!("CAST({expr} AS {ty})")
        }
        upper => format!("{upper}({inner})"),
    })
}
