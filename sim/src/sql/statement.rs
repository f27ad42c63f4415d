//! A batch cut into statements, each recognised as one of the shapes the simulator models.
//!
//! T-SQL needs no `;` between statements, so a new statement also starts at a keyword that can
//! only begin one. Anything that is not a modelled shape is refused here, before any
//! statement of the batch runs, with an error that quotes it (as a compile error would).

use super::error::SqlError;
use super::lexer::{Tok, Token};

/// A parameter of `EXEC`.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// `@name` for a named argument.
    pub name: Option<String>,
    /// The value's tokens (a literal, a variable, or a bare word).
    pub value: Vec<Token>,
    /// Marked `OUTPUT`: the procedure's value for this parameter goes back into the variable.
    pub output: bool,
}

/// One recognised statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `SELECT …` (or `WITH … SELECT …`), answered from the simulated catalog.
    Select(Vec<Token>),
    /// `DECLARE @a type [= expr] [, …]`.
    Declare(Vec<(String, String, Option<Vec<Token>>)>),
    /// `SET @a = expr`.
    SetVar(String, Vec<Token>),
    /// `SET NOCOUNT ON` and other session options, accepted and ignored.
    SetOption,
    /// `EXEC [@rc =] proc args`.
    Exec {
        /// Variable receiving the return code.
        rc: Option<String>,
        /// The procedure's name parts as written (`master`, `dbo`, `sp_…`).
        name: Vec<String>,
        /// Arguments in order.
        args: Vec<Arg>,
    },
    /// `RESTORE HEADERONLY FROM DISK = …`.
    RestoreHeaderOnly(Vec<Token>),
    /// `RESTORE VERIFYONLY FROM DISK = … [WITH CHECKSUM]`.
    RestoreVerifyOnly {
        /// Path tokens.
        path: Vec<Token>,
        /// `WITH CHECKSUM` was asked for.
        checksum: bool,
    },
    /// `RESTORE LOG db FROM DISK = … [WITH …]`.
    RestoreLog {
        /// Database name tokens (a name or a variable).
        db: Vec<Token>,
        /// Path tokens.
        path: Vec<Token>,
        /// WITH RECOVERY, or neither NORECOVERY nor STANDBY (SQL Server's default is RECOVERY).
        recovery: bool,
        /// `WITH STANDBY = <undo file>`: the undo file's tokens.
        standby: Option<Vec<Token>>,
        /// `WITH RESTART`: restore again a backup set whose restore was interrupted.
        restart: bool,
    },
    /// `RESTORE DATABASE db WITH RECOVERY` (no FROM: recovery only).
    RestoreRecovery(Vec<Token>),
    /// `RESTORE DATABASE db FROM DISK = … WITH [REPLACE,] RECOVERY | NORECOVERY [, CHECKSUM]`.
    RestoreDatabase {
        /// Database name tokens.
        db: Vec<Token>,
        /// Path tokens.
        path: Vec<Token>,
        /// `WITH REPLACE`: overwrite a database of another backup family.
        replace: bool,
        /// `WITH RECOVERY` or neither (SQL Server's default): ONLINE afterwards.
        recovery: bool,
        /// `WITH CHECKSUM`.
        checksum: bool,
    },
    /// `BACKUP DATABASE db TO DISK = … [WITH CHECKSUM, INIT, FORMAT, …]`.
    BackupDatabase {
        /// Database name tokens.
        db: Vec<Token>,
        /// Path tokens.
        path: Vec<Token>,
        /// `WITH CHECKSUM`.
        checksum: bool,
        /// `WITH INIT` or `FORMAT`: the file is overwritten rather than appended to.
        init: bool,
    },
    /// `KILL spid`.
    Kill(Vec<Token>),
    /// `USE db`.
    Use(String),
    /// `ALTER DATABASE db …`.
    AlterDatabase(String, Vec<Token>),
    /// `PRINT expr`.
    Print(Vec<Token>),
}

/// A statement with its text as the client sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// What it is.
    pub statement: Statement,
    /// Its source text.
    pub text: String,
}

const STARTERS: &[&str] = &[
    "SELECT",
    "EXEC",
    "EXECUTE",
    "DECLARE",
    "SET",
    "RESTORE",
    "KILL",
    "USE",
    "ALTER",
    "PRINT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "DROP",
    "CREATE",
    "BACKUP",
    "WAITFOR",
    "DBCC",
    "TRUNCATE",
    "RAISERROR",
    "RETURN",
    "IF",
    "WHILE",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "GRANT",
    "REVOKE",
    "MERGE",
    "THROW",
];

/// Cuts a batch into statements and recognises each one.
pub fn parse_batch(src: &str, tokens: &[Token]) -> Result<Vec<Parsed>, SqlError> {
    let mut out = Vec::new();
    for range in split(tokens) {
        let toks = &tokens[range];
        if toks.is_empty() {
            continue;
        }
        let text = src[toks[0].start..toks[toks.len() - 1].end].to_string();
        let statement = recognise(toks, &text)?;
        out.push(Parsed { statement, text });
    }
    Ok(out)
}

fn split(tokens: &[Token]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut depth = 0i32;
    for (i, t) in tokens.iter().enumerate() {
        if t.is_punct("(") {
            depth += 1;
        } else if t.is_punct(")") {
            depth -= 1;
        }
        if depth != 0 {
            continue;
        }
        if t.is_punct(";") {
            ranges.push(start..i);
            start = i + 1;
            continue;
        }
        if i == start || !STARTERS.iter().any(|k| t.is_kw(k)) {
            continue;
        }
        let first = &tokens[start];
        let prev = &tokens[i - 1];
        let continues = (t.is_kw("SELECT")
            && (["UNION", "ALL", "EXCEPT", "INTERSECT"]
                .iter()
                .any(|k| prev.is_kw(k))
                || first.is_kw("INSERT")
                || first.is_kw("WITH")))
            || (t.is_kw("SET") && (first.is_kw("ALTER") || first.is_kw("UPDATE")))
            || (t.is_kw("EXEC") && first.is_kw("INSERT"))
            || (t.is_kw("DATABASE") && first.is_kw("RESTORE"))
            // `… WITH ROLLBACK IMMEDIATE` is an option, not a ROLLBACK statement.
            || prev.is_kw("WITH");
        if !continues {
            ranges.push(start..i);
            start = i;
        }
    }
    ranges.push(start..tokens.len());
    ranges
}

fn word_at(t: &[Token], i: usize) -> String {
    t.get(i)
        .map(|t| match &t.tok {
            Tok::Word(w) | Tok::Quoted(w) | Tok::Var(w) | Tok::Global(w) | Tok::Num(w) => w.clone(),
            Tok::Str(s) => format!("'{s}'"),
            Tok::Punct(p) => p.clone(),
        })
        .unwrap_or_default()
}

fn recognise(t: &[Token], text: &str) -> Result<Statement, SqlError> {
    let bad = |i: usize| SqlError::syntax(&word_at(t, i), text);
    let kw = |i: usize, k: &str| t.get(i).is_some_and(|x| x.is_kw(k));
    if kw(0, "SELECT") || kw(0, "WITH") {
        if t.iter().any(|x| x.is_kw("INTO")) {
            return Err(bad(t.iter().position(|x| x.is_kw("INTO")).unwrap_or(0)));
        }
        return Ok(Statement::Select(t.to_vec()));
    }
    if kw(0, "DECLARE") {
        let mut decls = Vec::new();
        for part in split_commas(&t[1..]) {
            let Some(Tok::Var(name)) = part.first().map(|x| &x.tok) else {
                return Err(bad(1));
            };
            let eq = part.iter().position(|x| x.is_punct("="));
            let ty_end = eq.unwrap_or(part.len());
            let ty: Vec<String> = (1..ty_end).map(|i| word_at(part, i)).collect();
            if ty.is_empty()
                || ty[0].eq_ignore_ascii_case("TABLE")
                || ty[0].eq_ignore_ascii_case("CURSOR")
            {
                return Err(bad(1));
            }
            let init = eq.map(|e| part[e + 1..].to_vec());
            decls.push((name.to_ascii_lowercase(), ty.concat(), init));
        }
        return Ok(Statement::Declare(decls));
    }
    if kw(0, "SET") {
        if let Some(Tok::Var(v)) = t.get(1).map(|x| &x.tok) {
            if !t.get(2).is_some_and(|x| x.is_punct("=")) || t.len() < 4 {
                return Err(bad(2));
            }
            return Ok(Statement::SetVar(v.to_ascii_lowercase(), t[3..].to_vec()));
        }
        let known = [
            "NOCOUNT",
            "TEXTSIZE",
            "ANSI_NULLS",
            "ANSI_WARNINGS",
            "ANSI_PADDING",
            "QUOTED_IDENTIFIER",
            "ARITHABORT",
            "CONCAT_NULL_YIELDS_NULL",
            "ANSI_NULL_DFLT_ON",
            "LOCK_TIMEOUT",
            "XACT_ABORT",
            "DATEFORMAT",
            "LANGUAGE",
            "IMPLICIT_TRANSACTIONS",
            "DEADLOCK_PRIORITY",
            "CURSOR_CLOSE_ON_COMMIT",
            "NUMERIC_ROUNDABORT",
            "DATEFIRST",
            "TRANSACTION",
            "ROWCOUNT",
            "STATISTICS",
        ];
        if t.len() >= 2 && known.iter().any(|k| t[1].is_kw(k)) {
            return Ok(Statement::SetOption);
        }
        return Err(bad(1));
    }
    if kw(0, "EXEC") || kw(0, "EXECUTE") {
        let mut i = 1;
        let mut rc = None;
        if let (Some(Tok::Var(v)), true) = (
            t.get(1).map(|x| &x.tok),
            t.get(2).is_some_and(|x| x.is_punct("=")),
        ) {
            rc = Some(v.to_ascii_lowercase());
            i = 3;
        }
        let mut name = Vec::new();
        loop {
            match t.get(i).and_then(Token::ident) {
                Some(n) => name.push(n.to_string()),
                None if t.get(i).is_some_and(|x| x.is_punct(".")) => name.push(String::new()),
                None => return Err(bad(i)),
            }
            i += 1;
            if t.get(i).is_some_and(|x| x.is_punct(".")) {
                i += 1;
                continue;
            }
            break;
        }
        let mut args = Vec::new();
        if i < t.len() {
            for part in split_commas(&t[i..]) {
                let mut part = part.to_vec();
                let output = part
                    .last()
                    .is_some_and(|x| x.is_kw("OUTPUT") || x.is_kw("OUT"));
                if output {
                    part.pop();
                }
                let arg = match (part.first().map(|x| &x.tok), part.get(1)) {
                    (Some(Tok::Var(n)), Some(eq)) if eq.is_punct("=") => Arg {
                        name: Some(n.to_ascii_lowercase()),
                        value: part[2..].to_vec(),
                        output,
                    },
                    _ => Arg {
                        name: None,
                        value: part,
                        output,
                    },
                };
                if arg.value.is_empty() {
                    return Err(bad(i));
                }
                args.push(arg);
            }
        }
        return Ok(Statement::Exec { rc, name, args });
    }
    if kw(0, "BACKUP") && kw(1, "DATABASE") {
        let with = t.iter().position(|x| x.is_kw("WITH")).unwrap_or(t.len());
        let options: Vec<String> = split_commas(&t[(with + 1).min(t.len())..])
            .iter()
            .map(|p| word_at(p, 0).to_ascii_uppercase())
            .collect();
        let allowed = [
            "CHECKSUM",
            "NO_CHECKSUM",
            "INIT",
            "NOINIT",
            "FORMAT",
            "NOFORMAT",
            "STATS",
            "COMPRESSION",
            "NO_COMPRESSION",
            "NAME",
            "DESCRIPTION",
            "SKIP",
            "NOSKIP",
            "COPY_ONLY",
        ];
        if let Some(o) = options.iter().position(|o| !allowed.contains(&o.as_str())) {
            return Err(SqlError::syntax(&options[o], text));
        }
        let db = t.get(2).cloned().ok_or_else(|| bad(2))?;
        if !(kw(3, "TO") && kw(4, "DISK") && t.get(5).is_some_and(|x| x.is_punct("=")) && 6 < with)
        {
            return Err(bad(3));
        }
        let has = |o: &str| options.iter().any(|x| x == o);
        return Ok(Statement::BackupDatabase {
            db: vec![db],
            path: t[6..with].to_vec(),
            checksum: has("CHECKSUM"),
            init: has("INIT") || has("FORMAT"),
        });
    }
    if kw(0, "RESTORE") {
        let with = t.iter().position(|x| x.is_kw("WITH")).unwrap_or(t.len());
        let option_parts = split_commas(&t[(with + 1).min(t.len())..]);
        let options: Vec<String> = option_parts
            .iter()
            .map(|p| word_at(p, 0).to_ascii_uppercase())
            .collect();
        let from_disk = |at: usize| -> Result<Vec<Token>, SqlError> {
            if kw(at, "FROM")
                && kw(at + 1, "DISK")
                && t.get(at + 2).is_some_and(|x| x.is_punct("="))
                && at + 3 < with
            {
                Ok(t[at + 3..with].to_vec())
            } else {
                Err(bad(at))
            }
        };
        let allowed = [
            "FILE",
            "NORECOVERY",
            "RECOVERY",
            "STATS",
            "CHECKSUM",
            "NOUNLOAD",
            "NOREWIND",
            "BUFFERCOUNT",
            "MAXTRANSFERSIZE",
            "BLOCKSIZE",
            "STANDBY",
            "RESTART",
            "REPLACE",
        ];
        if let Some(o) = options.iter().position(|o| !allowed.contains(&o.as_str())) {
            return Err(SqlError::syntax(&options[o], text));
        }
        if kw(1, "HEADERONLY") {
            return Ok(Statement::RestoreHeaderOnly(from_disk(2)?));
        }
        if kw(1, "VERIFYONLY") {
            return Ok(Statement::RestoreVerifyOnly {
                path: from_disk(2)?,
                checksum: options.iter().any(|o| o == "CHECKSUM"),
            });
        }
        if kw(1, "LOG") || kw(1, "DATABASE") {
            let db = t.get(2).cloned().ok_or_else(|| bad(2))?;
            if kw(1, "LOG") {
                let path = from_disk(3)?;
                let has = |o: &str| options.iter().any(|x| x == o);
                let standby = match option_parts
                    .iter()
                    .find(|p| word_at(p, 0).eq_ignore_ascii_case("STANDBY"))
                {
                    Some(p) if p.len() > 2 && p[1].is_punct("=") => Some(p[2..].to_vec()),
                    Some(_) => return Err(SqlError::syntax("STANDBY", text)),
                    None => None,
                };
                if [has("NORECOVERY"), has("RECOVERY"), standby.is_some()]
                    .iter()
                    .filter(|x| **x)
                    .count()
                    > 1
                {
                    return Err(SqlError::new(
                        3032,
                        16,
                        2,
                        "One or more of the options (recovery, norecovery, standby) are not supported for this statement together. Review the documentation for supported options.",
                    ));
                }
                let recovery = !has("NORECOVERY") && standby.is_none();
                return Ok(Statement::RestoreLog {
                    db: vec![db],
                    path,
                    recovery,
                    standby,
                    restart: has("RESTART"),
                });
            }
            if with == 3
                && options.iter().any(|o| o == "RECOVERY")
                && !options.iter().any(|o| o == "NORECOVERY")
            {
                return Ok(Statement::RestoreRecovery(vec![db]));
            }
            if kw(3, "FROM") {
                let path = from_disk(3)?;
                let has = |o: &str| options.iter().any(|x| x == o);
                if has("RECOVERY") && has("NORECOVERY") {
                    return Err(SqlError::new(
                        3032,
                        16,
                        2,
                        "One or more of the options (recovery, norecovery) are not supported for this statement together. Review the documentation for supported options.",
                    ));
                }
                if has("STANDBY") || has("RESTART") {
                    return Err(bad(3));
                }
                return Ok(Statement::RestoreDatabase {
                    db: vec![db],
                    path,
                    replace: has("REPLACE"),
                    recovery: !has("NORECOVERY"),
                    checksum: has("CHECKSUM"),
                });
            }
            return Err(bad(3));
        }
        return Err(bad(1));
    }
    if kw(0, "KILL") {
        if t.len() == 2 || (t.len() > 2 && t[2].is_kw("WITH")) {
            return Ok(Statement::Kill(vec![t[1].clone()]));
        }
        return Err(bad(1));
    }
    if kw(0, "USE") && t.len() == 2 {
        if let Some(n) = t[1].ident() {
            return Ok(Statement::Use(n.to_string()));
        }
    }
    if kw(0, "ALTER") && kw(1, "DATABASE") {
        if let Some(n) = t.get(2).and_then(Token::ident) {
            return Ok(Statement::AlterDatabase(n.to_string(), t[3..].to_vec()));
        }
    }
    if kw(0, "PRINT") && t.len() > 1 {
        return Ok(Statement::Print(t[1..].to_vec()));
    }
    Err(bad(0))
}

/// Splits at top-level commas.
pub fn split_commas(t: &[Token]) -> Vec<&[Token]> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, x) in t.iter().enumerate() {
        if x.is_punct("(") {
            depth += 1;
        } else if x.is_punct(")") {
            depth -= 1;
        } else if depth == 0 && x.is_punct(",") {
            parts.push(&t[start..i]);
            start = i + 1;
        }
    }
    if start < t.len() {
        parts.push(&t[start..]);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::super::lexer::lex;
    use super::*;

    fn parse(src: &str) -> Result<Vec<Statement>, SqlError> {
        let t = lex(src).unwrap();
        parse_batch(src, &t).map(|v| v.into_iter().map(|p| p.statement).collect())
    }

    #[test]
    fn statements_split_without_semicolons() {
        let s = parse(
            "DECLARE @rc int\nEXEC @rc = master.dbo.sp_x @secondary_database = N'mgc'\nSELECT @rc",
        )
        .unwrap();
        assert_eq!(s.len(), 3);
        assert!(
            matches!(&s[1], Statement::Exec { rc: Some(r), name, args } if r == "@rc" && name.len() == 3 && args.len() == 1)
        );
        let s = parse("RESTORE LOG [mgc] FROM DISK = N'x.trn' WITH FILE = 1, NORECOVERY, STATS = 10; RESTORE DATABASE mgc WITH RECOVERY").unwrap();
        assert!(matches!(
            &s[0],
            Statement::RestoreLog {
                recovery: false,
                ..
            }
        ));
        assert!(matches!(&s[1], Statement::RestoreRecovery(_)));
    }

    #[test]
    fn unknown_statements_are_refused_with_their_text() {
        let e = parse("SELECT 1; DROP TABLE users").unwrap_err();
        assert_eq!(e.number(), 102);
        assert!(e.messages[0].text.contains("DROP TABLE users"));
        assert!(matches!(
            &parse("RESTORE LOG mgc FROM DISK = 'x' WITH STANDBY = N'u.tuf'").unwrap()[0],
            Statement::RestoreLog {
                recovery: false,
                standby: Some(_),
                ..
            }
        ));
        assert_eq!(
            parse("RESTORE LOG mgc FROM DISK = 'x' WITH NORECOVERY, STANDBY = 'u.tuf'")
                .unwrap_err()
                .number(),
            3032
        );
        assert!(parse("RESTORE LOG mgc FROM DISK = 'x' WITH MOVE 'a' TO 'b'").is_err());
    }
}
