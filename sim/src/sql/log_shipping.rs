//! Configuring log shipping again, with the procedures SSMS scripts: on the primary
//! `sp_add_log_shipping_primary_database` and `sp_add_log_shipping_primary_secondary`, on the
//! secondary `sp_add_log_shipping_secondary_primary` and
//! `sp_add_log_shipping_secondary_database`, and the Agent's `msdb.dbo.sp_add_schedule` and
//! `sp_attach_schedule` for the jobs they create.
//!
//! Each call is one transaction with its history row; ids come back through `OUTPUT`
//! parameters. A configuration that exists already is replaced only with `@overwrite = 1`. The
//! checks follow the documented preconditions: the primary database must exist, ONLINE, in
//! FULL (or BULK_LOGGED) recovery; the secondary database must be restoring.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension, Transaction};

use super::error::SqlError;
use super::procs::{find_job, Args};
use super::select::Lit;
use super::session::Session;
use crate::state;

fn int(a: &Args, i: usize, default: i64) -> i64 {
    match a.get(i) {
        Some(Lit::Int(n)) => *n,
        Some(Lit::Str(s)) => s.trim().parse().unwrap_or(default),
        _ => default,
    }
}

fn exists_error(what: String) -> SqlError {
    SqlError::new(32001, 16, 1, what)
}

/// Calls one of the log-shipping or schedule procedures; returns its return code.
pub fn call(
    s: &mut Session,
    proc_name: &str,
    args: &[(Option<String>, Lit)],
    text: &str,
    outputs: &mut HashMap<String, Lit>,
) -> Result<i32, SqlError> {
    match proc_name {
        "sp_add_log_shipping_primary_database" => {
            let a = Args::bind(
                proc_name,
                args,
                &[
                    "@database",
                    "@backup_directory",
                    "@backup_share",
                    "@backup_job_name",
                    "@backup_retention_period",
                    "@monitor_server",
                    "@monitor_server_security_mode",
                    "@monitor_server_login",
                    "@monitor_server_password",
                    "@backup_threshold",
                    "@threshold_alert",
                    "@threshold_alert_enabled",
                    "@history_retention_period",
                    "@backup_job_id",
                    "@primary_id",
                    "@backup_compression",
                    "@overwrite",
                    "@ignoreremotemonitor",
                ],
            )?;
            let db = a.required(0)?;
            let directory = a.required(1)?;
            let share = a.required(2)?;
            let job_name = a.required(3)?;
            let overwrite = int(&a, 16, 0) != 0;
            let instance = s.instance.clone();
            let spid = s.spid;
            let server = s.server_name.clone();
            let tx = state::write_tx(&mut s.conn)?;
            let row: Option<(String, String)> = tx
                .query_row(
                    "SELECT state_desc, recovery_model_desc FROM main.databases WHERE instance = ?1 AND name = ?2",
                    params![instance, db],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            match row {
                None => {
                    return Err(SqlError::new(
                        32010,
                        16,
                        1,
                        format!("Database {db} does not exist on the server {server}."),
                    ))
                }
                Some((st, model)) if st != "ONLINE" || model == "SIMPLE" => {
                    return Err(SqlError::new(
                        32022,
                        16,
                        1,
                        format!("Database {db} cannot be a log shipping primary: it is {st} in {model} recovery; it must be ONLINE in FULL or BULK_LOGGED recovery."),
                    ))
                }
                Some(_) => {}
            }
            let old: Option<(String, Option<String>)> = tx
                .query_row(
                    "SELECT primary_id, backup_job_id FROM main.log_shipping_primary_databases WHERE instance = ?1 AND primary_database = ?2",
                    params![instance, db],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((old_id, old_job)) = &old {
                if !overwrite {
                    return Err(exists_error(format!("The database {db} is already configured as a log shipping primary (primary_id {old_id}); use @overwrite = 1 to replace the configuration.")));
                }
                tx.execute("DELETE FROM main.log_shipping_primary_databases WHERE instance = ?1 AND primary_id = ?2", params![instance, old_id])?;
                tx.execute("DELETE FROM main.log_shipping_primary_secondaries WHERE instance = ?1 AND primary_id = ?2", params![instance, old_id])?;
                if let Some(job) = old_job {
                    delete_job(&tx, &instance, job)?;
                }
            }
            let primary_id = state::guid();
            let job_id = state::guid();
            tx.execute(
                "INSERT INTO main.log_shipping_primary_databases VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, 0, NULL, NULL, ?9)",
                params![instance, primary_id, db, directory, share, int(&a, 4, 4320), job_id, server, int(&a, 15, 2)],
            )?;
            add_job(
                &tx,
                &instance,
                &job_id,
                &job_name,
                "Log shipping backup job",
            )?;
            state::record(
                &tx,
                &instance,
                Some(spid),
                text,
                &format!("{db} configured as log-shipping primary (primary_id {primary_id}, backup to {share}); job {job_name} created, disabled{}", if old.is_some() { "; the previous configuration replaced" } else { "" }),
            )?;
            tx.commit()?;
            outputs.insert("@backup_job_id".into(), Lit::Str(job_id));
            outputs.insert("@primary_id".into(), Lit::Str(primary_id));
            Ok(0)
        }
        "sp_add_log_shipping_primary_secondary" => {
            let a = Args::bind(
                proc_name,
                args,
                &[
                    "@primary_database",
                    "@secondary_server",
                    "@secondary_database",
                    "@overwrite",
                ],
            )?;
            let db = a.required(0)?;
            let server = a.required(1)?;
            let secondary_db = a.required(2)?;
            let overwrite = int(&a, 3, 0) != 0;
            let instance = s.instance.clone();
            let spid = s.spid;
            let tx = state::write_tx(&mut s.conn)?;
            let primary_id: String = tx
                .query_row(
                    "SELECT primary_id FROM main.log_shipping_primary_databases WHERE instance = ?1 AND primary_database = ?2",
                    params![instance, db],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| SqlError::new(32010, 16, 1, format!("Database {db} does not exist as log shipping primary.")))?;
            let existing: i64 = tx.query_row(
                "SELECT COUNT(*) FROM main.log_shipping_primary_secondaries WHERE instance = ?1 AND primary_id = ?2 AND secondary_server = ?3 AND secondary_database = ?4",
                params![instance, primary_id, server, secondary_db],
                |r| r.get(0),
            )?;
            if existing > 0 && !overwrite {
                return Err(exists_error(format!("The secondary {server}.{secondary_db} is already configured for the log shipping primary {db}.")));
            }
            tx.execute(
                "DELETE FROM main.log_shipping_primary_secondaries WHERE instance = ?1 AND primary_id = ?2 AND secondary_server = ?3 AND secondary_database = ?4",
                params![instance, primary_id, server, secondary_db],
            )?;
            tx.execute(
                "INSERT INTO main.log_shipping_primary_secondaries VALUES (?1, ?2, ?3, ?4)",
                params![instance, primary_id, server, secondary_db],
            )?;
            state::record(
                &tx,
                &instance,
                Some(spid),
                text,
                &format!("{server}.{secondary_db} added as log-shipping secondary of {db}"),
            )?;
            tx.commit()?;
            Ok(0)
        }
        "sp_add_log_shipping_secondary_primary" => {
            let a = Args::bind(
                proc_name,
                args,
                &[
                    "@primary_server",
                    "@primary_database",
                    "@backup_source_directory",
                    "@backup_destination_directory",
                    "@copy_job_name",
                    "@restore_job_name",
                    "@file_retention_period",
                    "@monitor_server",
                    "@monitor_server_security_mode",
                    "@monitor_server_login",
                    "@monitor_server_password",
                    "@copy_job_id",
                    "@restore_job_id",
                    "@secondary_id",
                    "@overwrite",
                    "@ignoreremotemonitor",
                ],
            )?;
            let primary = a.required(0)?;
            let db = a.required(1)?;
            let source = a.required(2)?;
            let dest = a.required(3)?;
            let copy_name = a.required(4)?;
            let restore_name = a.required(5)?;
            let overwrite = int(&a, 14, 0) != 0;
            let instance = s.instance.clone();
            let spid = s.spid;
            let server = s.server_name.clone();
            let tx = state::write_tx(&mut s.conn)?;
            let old: Option<(String, Option<String>, Option<String>)> = tx
                .query_row(
                    "SELECT secondary_id, copy_job_id, restore_job_id FROM main.log_shipping_secondary WHERE instance = ?1 AND primary_server = ?2 AND primary_database = ?3",
                    params![instance, primary, db],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            if let Some((old_id, copy, restore)) = &old {
                if !overwrite {
                    return Err(exists_error(format!("The primary {primary}.{db} is already configured for log shipping on this secondary (secondary_id {old_id}); use @overwrite = 1 to replace the configuration.")));
                }
                tx.execute("DELETE FROM main.log_shipping_secondary WHERE instance = ?1 AND secondary_id = ?2", params![instance, old_id])?;
                for job in [copy, restore].into_iter().flatten() {
                    delete_job(&tx, &instance, job)?;
                }
            }
            let secondary_id = state::guid();
            let copy_id = state::guid();
            let restore_id = state::guid();
            tx.execute(
                "INSERT INTO main.log_shipping_secondary VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, NULL, NULL)",
                params![instance, secondary_id, primary, db, source, dest, int(&a, 6, 4320), copy_id, restore_id, server],
            )?;
            add_job(
                &tx,
                &instance,
                &copy_id,
                &copy_name,
                "Log shipping copy job",
            )?;
            add_job(
                &tx,
                &instance,
                &restore_id,
                &restore_name,
                "Log shipping restore job",
            )?;
            state::record(
                &tx,
                &instance,
                Some(spid),
                text,
                &format!("log shipping from {primary}.{db} configured (secondary_id {secondary_id}, {source} -> {dest}); jobs {copy_name} and {restore_name} created, disabled"),
            )?;
            tx.commit()?;
            outputs.insert("@copy_job_id".into(), Lit::Str(copy_id));
            outputs.insert("@restore_job_id".into(), Lit::Str(restore_id));
            outputs.insert("@secondary_id".into(), Lit::Str(secondary_id));
            Ok(0)
        }
        "sp_add_log_shipping_secondary_database" => {
            let a = Args::bind(
                proc_name,
                args,
                &[
                    "@secondary_database",
                    "@primary_server",
                    "@primary_database",
                    "@restore_delay",
                    "@restore_all",
                    "@restore_mode",
                    "@disconnect_users",
                    "@block_size",
                    "@buffer_count",
                    "@max_transfer_size",
                    "@restore_threshold",
                    "@threshold_alert",
                    "@threshold_alert_enabled",
                    "@history_retention_period",
                    "@overwrite",
                    "@ignoreremotemonitor",
                ],
            )?;
            let db = a.required(0)?;
            let primary = a.required(1)?;
            let primary_db = a.required(2)?;
            let overwrite = int(&a, 14, 0) != 0;
            let instance = s.instance.clone();
            let spid = s.spid;
            let server = s.server_name.clone();
            let tx = state::write_tx(&mut s.conn)?;
            let secondary_id: String = tx
                .query_row(
                    "SELECT secondary_id FROM main.log_shipping_secondary WHERE instance = ?1 AND primary_server = ?2 AND primary_database = ?3",
                    params![instance, primary, primary_db],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| SqlError::new(32009, 16, 1, format!("A log shipping primary entry for {primary}.{primary_db} does not exist on this secondary: run sp_add_log_shipping_secondary_primary first.")))?;
            let st: Option<String> = tx
                .query_row(
                    "SELECT state_desc FROM main.databases WHERE instance = ?1 AND name = ?2",
                    params![instance, db],
                    |r| r.get(0),
                )
                .optional()?;
            match st.as_deref() {
                Some("RESTORING") => {}
                Some(other) => return Err(SqlError::new(32016, 16, 1, format!("The secondary database {db} is {other}; a log shipping secondary must be restored WITH NORECOVERY or STANDBY."))),
                None => return Err(SqlError::new(32010, 16, 1, format!("Database {db} does not exist on the server {server}."))),
            }
            let existing: i64 = tx.query_row(
                "SELECT COUNT(*) FROM main.log_shipping_secondary_databases WHERE instance = ?1 AND secondary_database = ?2",
                params![instance, db],
                |r| r.get(0),
            )?;
            if existing > 0 && !overwrite {
                return Err(exists_error(format!("The database {db} is already a log shipping secondary; use @overwrite = 1 to replace the configuration.")));
            }
            tx.execute("DELETE FROM main.log_shipping_secondary_databases WHERE instance = ?1 AND secondary_database = ?2", params![instance, db])?;
            tx.execute("DELETE FROM main.log_shipping_monitor_secondary WHERE instance = ?1 AND secondary_database = ?2", params![instance, db])?;
            tx.execute(
                "INSERT INTO main.log_shipping_secondary_databases VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, -1, -1, -1, NULL, NULL)",
                params![instance, db, secondary_id, int(&a, 3, 0), int(&a, 4, 1), int(&a, 5, 0), int(&a, 6, 0)],
            )?;
            tx.execute(
                "INSERT INTO main.log_shipping_monitor_secondary VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 14421, ?8, NULL, NULL, NULL, NULL, NULL, NULL, NULL, ?9)",
                params![instance, server, db, secondary_id, primary, primary_db, int(&a, 10, 45), int(&a, 12, 1), int(&a, 13, 5760)],
            )?;
            state::record(
                &tx,
                &instance,
                Some(spid),
                text,
                &format!("{db} added as log-shipping secondary of {primary}.{primary_db} (secondary_id {secondary_id}, restore_mode {})", int(&a, 5, 0)),
            )?;
            tx.commit()?;
            Ok(0)
        }
        "sp_add_schedule" => {
            let a = Args::bind(
                proc_name,
                args,
                &[
                    "@schedule_name",
                    "@enabled",
                    "@freq_type",
                    "@freq_interval",
                    "@freq_subday_type",
                    "@freq_subday_interval",
                    "@freq_relative_interval",
                    "@freq_recurrence_factor",
                    "@active_start_date",
                    "@active_end_date",
                    "@active_start_time",
                    "@active_end_time",
                    "@owner_login_name",
                    "@schedule_uid",
                    "@schedule_id",
                    "@originating_server",
                ],
            )?;
            let name = a.required(0)?;
            let instance = s.instance.clone();
            let spid = s.spid;
            let tx = state::write_tx(&mut s.conn)?;
            let id = super::restore::next_msdb_id(&tx, &instance, "sysschedules", "schedule_id")?;
            let uid = state::guid();
            tx.execute(
                "INSERT INTO main.sysschedules VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![instance, id, uid, name, int(&a, 1, 1), int(&a, 2, 0), int(&a, 3, 0), int(&a, 4, 0), int(&a, 5, 0), int(&a, 8, 0), int(&a, 9, 99991231), int(&a, 10, 0), int(&a, 11, 235959)],
            )?;
            state::record(
                &tx,
                &instance,
                Some(spid),
                text,
                &format!("schedule {name} (id {id}) created"),
            )?;
            tx.commit()?;
            outputs.insert("@schedule_id".into(), Lit::Int(id));
            outputs.insert("@schedule_uid".into(), Lit::Str(uid));
            Ok(0)
        }
        "sp_attach_schedule" => {
            let a = Args::bind(
                proc_name,
                args,
                &[
                    "@job_id",
                    "@job_name",
                    "@schedule_id",
                    "@schedule_name",
                    "@automatic_post",
                ],
            )?;
            let job = find_job(s, &a)?;
            let schedule: Option<(i64, String)> = match (a.get(2), a.get(3).and_then(Lit::text)) {
                (Some(id), _) => {
                    let id = match id {
                        Lit::Int(n) => *n,
                        other => other.text().and_then(|t| t.parse().ok()).unwrap_or(-1),
                    };
                    s.conn
                        .query_row(
                            "SELECT schedule_id, name FROM main.sysschedules WHERE instance = ?1 AND schedule_id = ?2",
                            params![s.instance, id],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()?
                }
                (None, Some(name)) => s
                    .conn
                    .query_row(
                        "SELECT schedule_id, name FROM main.sysschedules WHERE instance = ?1 AND name = ?2",
                        params![s.instance, name],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?,
                (None, None) => {
                    return Err(SqlError::new(
                        14273,
                        16,
                        1,
                        "You must provide either @job_id or @job_name (and, optionally, @schedule_name), or @schedule_id.",
                    ))
                }
            };
            let Some((schedule_id, schedule_name)) = schedule else {
                return Err(SqlError::new(
                    14262,
                    16,
                    1,
                    "The specified @schedule_id does not exist.",
                ));
            };
            let instance = s.instance.clone();
            let spid = s.spid;
            let tx = state::write_tx(&mut s.conn)?;
            tx.execute(
                "INSERT INTO main.sysjobschedules VALUES (?1, ?2, ?3)",
                params![instance, schedule_id, job.0],
            )?;
            state::record(
                &tx,
                &instance,
                Some(spid),
                text,
                &format!("schedule {schedule_name} attached to job {}", job.1),
            )?;
            tx.commit()?;
            Ok(0)
        }
        _ => Err(SqlError::no_procedure(proc_name)),
    }
}

fn add_job(
    tx: &Transaction<'_>,
    instance: &str,
    id: &str,
    name: &str,
    description: &str,
) -> rusqlite::Result<()> {
    let now = state::now_sql();
    tx.execute(
        "INSERT INTO main.sysjobs VALUES (?1, ?2, ?3, 0, ?4, 6, ?5, ?5)",
        params![instance, id, name, description, now],
    )?;
    Ok(())
}

/// Deletes an Agent job: its `sysjobs` row, its activity and its schedule attachments.
pub(super) fn delete_job(tx: &Transaction<'_>, instance: &str, id: &str) -> rusqlite::Result<()> {
    for table in ["sysjobs", "sysjobactivity", "sysjobschedules"] {
        tx.execute(
            &format!("DELETE FROM main.{table} WHERE instance = ?1 AND job_id = ?2"),
            params![instance, id],
        )?;
    }
    Ok(())
}
