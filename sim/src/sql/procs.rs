//! The stored procedures and commands of the failover: `sp_delete_log_shipping_secondary_database`,
//! `msdb.dbo.sp_update_job`, `msdb.dbo.sp_stop_job`, `sp_who2`, `KILL` and
//! `ALTER DATABASE`.
//!
//! Each state change is one transaction with its history row. Argument checking follows SQL
//! Server: a missing parameter is 201, an unknown named one 8145, a procedure that is not
//! modelled is 2812.

use rusqlite::{params, OptionalExtension};

use super::error::SqlError;
use super::lexer::Token;
use super::select::{self, Lit};
use super::session::{Output, Session};
use crate::state;

/// Calls a procedure; returns its return code.
pub fn call(
    s: &mut Session,
    name: &[String],
    args: &[(Option<String>, Lit)],
    text: &str,
    out: &mut Vec<Output>,
    outputs: &mut std::collections::HashMap<String, Lit>,
) -> Result<i32, SqlError> {
    let proc_name = name
        .last()
        .map(|n| n.to_ascii_lowercase())
        .unwrap_or_default();
    let db = match name.len() {
        3 => name[0].to_ascii_lowercase(),
        _ => s.database.to_ascii_lowercase(),
    };
    let written = name.join(".");
    match proc_name.as_str() {
        "sp_delete_log_shipping_secondary_database" => {
            let a = Args::bind(
                &proc_name,
                args,
                &["@secondary_database", "@ignoreremotemonitor"],
            )?;
            let db_name = a.required(0)?;
            delete_log_shipping_secondary(s, &db_name, text)
        }
        "sp_update_job" | "sp_stop_job" | "sp_add_schedule" | "sp_attach_schedule"
            if db != "msdb" =>
        {
            Err(SqlError::no_procedure(&written))
        }
        "sp_add_log_shipping_primary_database"
        | "sp_add_log_shipping_primary_secondary"
        | "sp_add_log_shipping_secondary_primary"
        | "sp_add_log_shipping_secondary_database"
        | "sp_add_schedule"
        | "sp_attach_schedule" => super::log_shipping::call(s, &proc_name, args, text, outputs),
        "sp_update_job" => {
            let a = Args::bind(
                &proc_name,
                args,
                &[
                    "@job_id",
                    "@job_name",
                    "@new_name",
                    "@enabled",
                    "@description",
                    "@start_step_id",
                    "@category_name",
                    "@owner_login_name",
                    "@notify_level_eventlog",
                    "@notify_level_email",
                    "@notify_level_page",
                    "@notify_email_operator_name",
                    "@notify_page_operator_name",
                    "@delete_level",
                    "@automatic_post",
                ],
            )?;
            let job = find_job(s, &a)?;
            let enabled = a.get(3);
            if let Some(Lit::Int(e)) = enabled {
                let tx = state::write_tx(&mut s.conn)?;
                tx.execute(
                    "UPDATE main.sysjobs SET enabled = ?3, date_modified = ?4 WHERE instance = ?1 AND job_id = ?2",
                    params![s.instance, job.0, (*e != 0) as i64, state::now_sql()],
                )?;
                state::record(
                    &tx,
                    &s.instance,
                    Some(s.spid),
                    text,
                    &format!(
                        "job {} {}",
                        job.1,
                        if *e != 0 { "enabled" } else { "disabled" }
                    ),
                )?;
                tx.commit()?;
            }
            Ok(0)
        }
        "sp_stop_job" => {
            let a = Args::bind(
                &proc_name,
                args,
                &[
                    "@job_id",
                    "@job_name",
                    "@originating_server",
                    "@server_name",
                ],
            )?;
            let job = find_job(s, &a)?;
            if !crate::agent::stop_job(
                &mut s.conn,
                &s.instance,
                &job.0,
                Some(s.spid),
                text,
                crate::agent::Ending::Stopped,
            )? {
                return Err(SqlError::new(
                    22022,
                    16,
                    1,
                    format!("SQLServerAgent Error: Request to stop job {} (from User {}) refused because the job is not currently running.", job.1, s.login),
                ));
            }
            Ok(0)
        }
        "sp_who2" | "sp_who" => {
            let sql = "SELECT s.spid AS SPID, s.status AS Status, s.loginame AS Login, s.hostname AS HostName, '  .' AS BlkBy,
                 (SELECT name FROM sys_databases WHERE database_id = s.dbid) AS DBName, s.cmd AS Command,
                 0 AS CPUTime, 0 AS DiskIO, '' AS LastBatch, s.program_name AS ProgramName, s.spid AS SPID2, 0 AS REQUESTID
                 FROM sys_sysprocesses s ORDER BY s.spid";
            let tokens = super::lexer::lex(sql).map_err(|_| SqlError::internal("sp_who2 query"))?;
            let vars = Default::default();
            let mut rs = select::run(&s.conn, &tokens, &s.env(&vars))?;
            if let Some(c) = rs.columns.get_mut(11) {
                c.name = "SPID".into();
            }
            let n = rs.rows.len() as u64;
            out.push(Output::Rows(rs));
            out.push(Output::Done {
                rows: Some(n),
                error: false,
                proc: false,
            });
            Ok(0)
        }
        _ => Err(SqlError::no_procedure(&written)),
    }
}

/// Arguments bound to a procedure's parameters, by name or position.
pub(super) struct Args {
    values: Vec<Option<Lit>>,
    proc_name: String,
    names: Vec<&'static str>,
}

impl Args {
    pub(super) fn bind(
        proc_name: &str,
        args: &[(Option<String>, Lit)],
        names: &[&'static str],
    ) -> Result<Args, SqlError> {
        let mut values = vec![None; names.len()];
        let mut named_seen = false;
        for (i, (name, v)) in args.iter().enumerate() {
            let slot = match name {
                Some(n) => {
                    named_seen = true;
                    names.iter().position(|x| x.eq_ignore_ascii_case(n)).ok_or_else(|| {
                        SqlError::new(8145, 16, 1, format!("{n} is not a parameter for procedure {proc_name}."))
                    })?
                }
                None if named_seen => {
                    return Err(SqlError::new(119, 15, 1, format!("Must pass parameter number {} and subsequent parameters as '@name = value'. After the form '@name = value' has been used, all subsequent parameters must be passed in the form '@name = value'.", i + 1)))
                }
                None if i < names.len() => i,
                None => return Err(SqlError::new(8144, 16, 2, format!("Procedure or function {proc_name} has too many arguments specified."))),
            };
            values[slot] = Some(v.clone());
        }
        Ok(Args {
            values,
            proc_name: proc_name.to_string(),
            names: names.to_vec(),
        })
    }

    pub(super) fn get(&self, i: usize) -> Option<&Lit> {
        self.values[i].as_ref().filter(|v| **v != Lit::Null)
    }

    pub(super) fn required(&self, i: usize) -> Result<String, SqlError> {
        self.get(i).and_then(Lit::text).ok_or_else(|| {
            SqlError::new(
                201,
                16,
                4,
                format!(
                    "Procedure or function '{}' expects parameter '{}', which was not supplied.",
                    self.proc_name, self.names[i]
                ),
            )
        })
    }
}

/// Finds a job by `@job_id` (slot 0) or `@job_name` (slot 1): (id, name).
pub(super) fn find_job(s: &Session, a: &Args) -> Result<(String, String), SqlError> {
    let (col, value, label) = match (a.get(0).and_then(Lit::text), a.get(1).and_then(Lit::text)) {
        (Some(id), _) => (
            "job_id",
            id.trim_matches(|c| c == '{' || c == '}').to_string(),
            "@job_id",
        ),
        (None, Some(name)) => ("name", name, "@job_name"),
        (None, None) => {
            return Err(SqlError::new(
                14294,
                16,
                1,
                "Supply either @job_id or @job_name to identify the job.",
            ))
        }
    };
    s.conn
        .query_row(
            &format!("SELECT job_id, name FROM main.sysjobs WHERE instance = ?1 AND {col} = ?2"),
            params![s.instance, value],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| {
            SqlError::new(
                14262,
                16,
                1,
                format!("The specified {label} ('{value}') does not exist."),
            )
        })
}

/// Removes the secondary database from log shipping: its configuration and monitor rows, and
/// when no other secondary database shares the secondary id, the copy and restore jobs (with
/// their activity and schedule attachments) and the `log_shipping_secondary` row. The database itself is left as it is (still RESTORING).
fn delete_log_shipping_secondary(s: &mut Session, db: &str, text: &str) -> Result<i32, SqlError> {
    let instance = s.instance.clone();
    let spid = s.spid;
    let tx = state::write_tx(&mut s.conn)?;
    let secondary_id: Option<String> = tx
        .query_row(
            "SELECT secondary_id FROM main.log_shipping_secondary_databases WHERE instance = ?1 AND secondary_database = ?2",
            params![instance, db],
            |r| r.get(0),
        )
        .optional()?;
    let Some(secondary_id) = secondary_id else {
        // Already removed: nothing to do. (SQL Server's behaviour here is undocumented; see
        // docs/drill.md.)
        return Ok(0);
    };
    tx.execute("DELETE FROM main.log_shipping_secondary_databases WHERE instance = ?1 AND secondary_database = ?2", params![instance, db])?;
    tx.execute("DELETE FROM main.log_shipping_monitor_secondary WHERE instance = ?1 AND secondary_database = ?2", params![instance, db])?;
    let others: i64 = tx.query_row(
        "SELECT COUNT(*) FROM main.log_shipping_secondary_databases WHERE instance = ?1 AND secondary_id = ?2",
        params![instance, secondary_id],
        |r| r.get(0),
    )?;
    let mut effect = format!("removed {db} from log shipping (secondary_id {secondary_id})");
    if others == 0 {
        let jobs: (Option<String>, Option<String>) = tx.query_row(
            "SELECT copy_job_id, restore_job_id FROM main.log_shipping_secondary WHERE instance = ?1 AND secondary_id = ?2",
            params![instance, secondary_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        ).optional()?.unwrap_or((None, None));
        for job in [jobs.0, jobs.1].into_iter().flatten() {
            super::log_shipping::delete_job(&tx, &instance, &job)?;
        }
        tx.execute(
            "DELETE FROM main.log_shipping_secondary WHERE instance = ?1 AND secondary_id = ?2",
            params![instance, secondary_id],
        )?;
        effect.push_str("; deleted the copy and restore jobs and the log_shipping_secondary row");
    }
    state::record(&tx, &instance, Some(spid), text, &effect)?;
    tx.commit()?;
    Ok(0)
}

/// `KILL spid`.
pub fn kill(s: &mut Session, spid: i64, text: &str) -> Result<(), SqlError> {
    if spid == s.spid {
        return Err(SqlError::new(
            6104,
            16,
            1,
            "Cannot use KILL to kill your own process.",
        ));
    }
    if spid < 1 {
        return Err(SqlError::new(
            6106,
            16,
            2,
            format!("Process ID {spid} is not an active process ID."),
        ));
    }
    if spid <= 50 {
        return Err(SqlError::new(
            6107,
            14,
            1,
            "Only user processes can be killed.",
        ));
    }
    let instance = s.instance.clone();
    let kind: Option<(String, Option<String>, Option<String>)> = s
        .conn
        .query_row(
            "SELECT kind, program_name, job_id FROM main.sessions WHERE instance = ?1 AND session_id = ?2",
            params![instance, spid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((kind, program, job)) = kind else {
        return Err(SqlError::new(
            6106,
            16,
            2,
            format!("Process ID {spid} is not an active process ID."),
        ));
    };
    // Killing a job step's session ends that job's run.
    if let Some(job) = job {
        if crate::agent::stop_job(
            &mut s.conn,
            &instance,
            &job,
            Some(s.spid),
            text,
            crate::agent::Ending::Stopped,
        )? {
            return Ok(());
        }
    }
    let live = kind == "client" && s.host.kill(&instance, spid);
    let tx = state::write_tx(&mut s.conn)?;
    tx.execute(
        "DELETE FROM main.sessions WHERE instance = ?1 AND session_id = ?2",
        params![instance, spid],
    )?;
    tx.execute(
        "DELETE FROM main.requests WHERE instance = ?1 AND session_id = ?2",
        params![instance, spid],
    )?;
    let effect = format!(
        "killed session {spid} ({}{})",
        program.unwrap_or_default(),
        if live { ", connection closed" } else { "" }
    );
    state::record(&tx, &instance, Some(s.spid), text, &effect)?;
    tx.commit()?;
    Ok(())
}

/// `ALTER DATABASE db SET …`: refused with 5052 while the database is restoring.
pub fn alter_database(
    s: &mut Session,
    db: &str,
    rest: &[Token],
    text: &str,
) -> Result<(), SqlError> {
    let instance = s.instance.clone();
    let row: Option<(String, String)> = s
        .conn
        .query_row(
            "SELECT name, state_desc FROM main.databases WHERE instance = ?1 AND name = ?2",
            params![instance, db],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((db, st)) = row else {
        return Err(SqlError::new(5011, 14, 5, format!("User does not have permission to alter database '{db}', the database does not exist, or the database is not in a state that allows access checks.")));
    };
    if st != "ONLINE" {
        let pretty = st.chars().next().map(|c| c.to_string()).unwrap_or_default()
            + &st[1..].to_ascii_lowercase();
        let mut e = SqlError::new(
            5052,
            16,
            1,
            format!("ALTER DATABASE is not permitted while a database is in the {pretty} state."),
        );
        e.messages.push(super::error::SqlMessage {
            number: 5069,
            state: 1,
            class: 16,
            text: "ALTER DATABASE statement failed.".into(),
        });
        return Err(e);
    }
    let kw = |i: usize, k: &str| rest.get(i).is_some_and(|t| t.is_kw(k));
    let (column, value) = if kw(0, "SET")
        && (kw(1, "SINGLE_USER") || kw(1, "MULTI_USER") || kw(1, "RESTRICTED_USER"))
    {
        (
            "user_access_desc",
            rest[1].ident().unwrap_or("").to_ascii_uppercase(),
        )
    } else if kw(0, "SET") && kw(1, "PARTNER") && kw(2, "OFF") {
        ("mirroring_role_desc", String::new())
    } else {
        return Err(SqlError::syntax(
            rest.first().and_then(Token::ident).unwrap_or("ALTER"),
            text,
        ));
    };
    let tx = state::write_tx(&mut s.conn)?;
    if column == "user_access_desc" {
        tx.execute(
            "UPDATE main.databases SET user_access_desc = ?3 WHERE instance = ?1 AND name = ?2",
            params![instance, db, value],
        )?;
        // WITH ROLLBACK IMMEDIATE (or the default wait) ends the other sessions in the database.
        if value != "MULTI_USER" {
            tx.execute("DELETE FROM main.sessions WHERE instance = ?1 AND database_name = ?2 AND session_id <> ?3 AND kind <> 'client'", params![instance, db, s.spid])?;
        }
        state::record(
            &tx,
            &instance,
            Some(s.spid),
            text,
            &format!("{db} set to {value}"),
        )?;
    } else {
        crate::mirroring::remove_partner(&tx, &instance, &db)?;
        state::record(
            &tx,
            &instance,
            Some(s.spid),
            text,
            &format!("mirroring removed from {db}"),
        )?;
    }
    tx.commit()?;
    Ok(())
}
