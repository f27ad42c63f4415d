//! Promise: every statement of the failover and its probes runs
//! against the simulator through tiberius with SQL Server's results, from the pre-step-1
//! snapshot to recovery, and every state change lands in the history in order.

mod common;

use common::*;
use runledger_sim::Scenario;
use tiberius::numeric::Numeric;

const SNAPSHOT: &str = "SELECT s.secondary_id, s.primary_server, s.primary_database,
       s.backup_source_directory, s.backup_destination_directory, s.file_retention_period,
       s.copy_job_id, s.restore_job_id, cj.name AS copy_job, rj.name AS restore_job,
       s.monitor_server, s.last_copied_file, s.last_copied_date,
       d.secondary_database, d.restore_mode, d.restore_delay, d.restore_all, d.disconnect_users,
       d.last_restored_file, d.last_restored_date,
       m.last_copied_date_utc, m.last_restored_date_utc, m.last_restored_latency
FROM msdb.dbo.log_shipping_secondary AS s
JOIN msdb.dbo.log_shipping_secondary_databases AS d ON d.secondary_id = s.secondary_id
LEFT JOIN msdb.dbo.log_shipping_monitor_secondary AS m
       ON m.secondary_id = s.secondary_id AND m.secondary_database = d.secondary_database
LEFT JOIN msdb.dbo.sysjobs AS cj ON cj.job_id = s.copy_job_id
LEFT JOIN msdb.dbo.sysjobs AS rj ON rj.job_id = s.restore_job_id
WHERE d.secondary_database = N'mgc';";

const RUNNING_JOBS: &str = "SELECT j.job_id, j.name, j.enabled, a.start_execution_date
FROM msdb.dbo.sysjobactivity AS a
JOIN msdb.dbo.sysjobs AS j ON j.job_id = a.job_id
WHERE a.session_id = (SELECT MAX(session_id) FROM msdb.dbo.syssessions)
  AND a.start_execution_date IS NOT NULL AND a.stop_execution_date IS NULL;";

const POSITION: &str =
    "SELECT d.state_desc, d.is_in_standby, d.user_access_desc, d.recovery_model_desc,
       mf.redo_start_lsn, mf.redo_start_fork_guid
FROM sys.databases AS d
LEFT JOIN sys.master_files AS mf ON mf.database_id = d.database_id AND mf.file_id = 1
WHERE d.name = N'mgc';";

const HISTORY: &str =
    "SELECT TOP (50) rh.restore_history_id, rh.restore_date, rh.restore_type, rh.recovery,
       bs.first_lsn, bs.last_lsn, bs.database_backup_lsn, bs.backup_start_date,
       bmf.physical_device_name
FROM msdb.dbo.restorehistory AS rh
JOIN msdb.dbo.backupset AS bs ON bs.backup_set_id = rh.backup_set_id
LEFT JOIN msdb.dbo.backupmediafamily AS bmf ON bmf.media_set_id = bs.media_set_id
WHERE rh.destination_database_name = N'mgc'
ORDER BY rh.restore_history_id DESC;";

const ORPHANS: &str = "SELECT dp.name, dp.type_desc, dp.sid
FROM mgc.sys.database_principals AS dp
LEFT JOIN sys.server_principals AS sp ON sp.sid = dp.sid
WHERE dp.type IN ('U','G','S') AND dp.principal_id > 4 AND dp.sid IS NOT NULL
  AND sp.sid IS NULL;";

fn lsn(n: Option<Numeric>) -> Option<u128> {
    n.map(|n| n.value() as u128)
}

/// Headers of every file in the copy destination `dir`, in LSN order, read through RESTORE
/// HEADERONLY with the server's name of each file.
async fn headers(c: &mut Sql, dir: &std::path::Path) -> Vec<(String, u128, u128)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = dest_path(&file_name(&entry.unwrap().path()));
        let r = batch(c, &format!("RESTORE HEADERONLY FROM DISK = N'{path}'"))
            .await
            .unwrap();
        let row = &r[0][0];
        assert_eq!(row.get::<i16, _>("BackupType"), Some(2));
        assert_eq!(row.get::<&str, _>("DatabaseName"), Some("mgc"));
        out.push((
            path,
            lsn(row.get("FirstLSN")).unwrap(),
            lsn(row.get("LastLSN")).unwrap(),
        ));
    }
    out.sort_by_key(|(_, first, last)| (*last, *first));
    out
}

#[test]
fn the_whole_failover_runs_with_sql_servers_answers() {
    let dc = Dc::new(Scenario::Normal);
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        // G1 and G2: who we are, and the snapshot before step 1.
        assert_eq!(first_text(&batch(&mut c, "SELECT @@SERVERNAME AS s").await.unwrap(), "s").as_deref(), Some("PCSQLDR01"));
        let snap = batch(&mut c, SNAPSHOT).await.unwrap();
        let row = &snap[0][0];
        assert_eq!(row.get::<&str, _>("copy_job"), Some("LSCopy_PCSQL01_mgc"));
        assert_eq!(row.get::<&str, _>("restore_job"), Some("LSRestore_PCSQL01_mgc"));
        assert_eq!(row.get::<bool, _>("restore_mode"), Some(false));
        assert_eq!(row.get::<&str, _>("backup_source_directory"), Some(r"\\pcfs01\mgc-logs"));
        assert_eq!(row.get::<&str, _>("backup_destination_directory"), Some(r"D:\mgc-copy"));
        let copy_job = row.get::<uuid::Uuid, _>("copy_job_id").unwrap();
        let secondary_id = row.get::<uuid::Uuid, _>("secondary_id").unwrap();
        let date_col = row.columns().iter().find(|c| c.name() == "last_restored_date").unwrap();
        assert_eq!(date_col.column_type(), tiberius::ColumnType::Datetimen);
        assert!(batch(&mut c, RUNNING_JOBS).await.unwrap()[0].is_empty());

        // Disable the jobs, then step 1 with its return code.
        let r = batch(&mut c, &format!("EXEC msdb.dbo.sp_update_job @job_id = '{copy_job}', @enabled = 0")).await.unwrap();
        assert!(r.is_empty());
        let r = batch(&mut c, "SELECT enabled FROM msdb.dbo.sysjobs WHERE name = N'LSCopy_PCSQL01_mgc'").await.unwrap();
        assert_eq!(r[0][0].get::<u8, _>(0), Some(0));
        let r = batch(
            &mut c,
            "DECLARE @rc int; EXEC @rc = master.dbo.sp_delete_log_shipping_secondary_database @secondary_database = N'mgc'; SELECT @rc AS rc",
        )
        .await
        .unwrap();
        assert_eq!(r[0][0].get::<i32, _>("rc"), Some(0));
        // The §9 probe of step 1: all three empty; the database is still RESTORING.
        let r = batch(&mut c, &format!(
            "SELECT COUNT(*) FROM msdb.dbo.log_shipping_secondary_databases WHERE secondary_database = N'mgc';
             SELECT COUNT(*) FROM msdb.dbo.log_shipping_secondary WHERE secondary_id = '{secondary_id}';
             SELECT job_id FROM msdb.dbo.sysjobs WHERE job_id = '{copy_job}'"
        )).await.unwrap();
        assert_eq!(r[0][0].get::<i32, _>(0), Some(0));
        assert_eq!(r[1][0].get::<i32, _>(0), Some(0));
        assert!(r.len() == 2 || r[2].is_empty());
        let pos = batch(&mut c, POSITION).await.unwrap();
        assert_eq!(pos[0][0].get::<&str, _>("state_desc"), Some("RESTORING"));
        let mut redo = lsn(pos[0][0].get("redo_start_lsn")).unwrap();
        assert!(pos[0][0].get::<uuid::Uuid, _>("redo_start_fork_guid").is_some());

        // Step 2: copy what is missing from dest (the engine does this on the file system).
        for entry in std::fs::read_dir(dc.share()).unwrap() {
            let path = entry.unwrap().path();
            let to = dc.dest().join(path.file_name().unwrap());
            if !to.exists() {
                std::fs::copy(&path, to).unwrap();
            }
        }
        // Step 3: apply in LSN order what is not yet applied.
        let files = headers(&mut c, &dc.dest()).await;
        let mut applied = 0;
        for (path, first, last) in files {
            if last <= redo {
                continue;
            }
            assert!(first <= redo, "chain gap before {path}");
            batch(&mut c, &format!("RESTORE LOG [mgc] FROM DISK = N'{path}' WITH FILE = 1, NORECOVERY, STATS = 10")).await.unwrap();
            let pos = batch(&mut c, POSITION).await.unwrap();
            redo = lsn(pos[0][0].get("redo_start_lsn")).unwrap();
            assert_eq!(redo, last);
            applied += 1;
        }
        assert!(applied >= 2);
        let h = batch(&mut c, HISTORY).await.unwrap();
        assert_eq!(h[0][0].get::<&str, _>("restore_type"), Some("L"));
        assert_eq!(h[0][0].get::<bool, _>("recovery"), Some(false));
        assert_eq!(lsn(h[0][0].get("last_lsn")), Some(redo));
        assert!(h[0][0].get::<&str, _>("physical_device_name").unwrap().starts_with(r"D:\mgc-copy\"));

        // Step 4: sessions, requests and locks, then recovery.
        let r = batch(&mut c, "SELECT session_id, program_name FROM sys.dm_exec_sessions WHERE database_id = DB_ID(N'mgc') AND is_user_process = 1 AND session_id <> @@SPID").await.unwrap();
        assert!(r[0].is_empty());
        let r = batch(&mut c, "SELECT session_id, command, percent_complete FROM sys.dm_exec_requests WHERE database_id = DB_ID(N'mgc') OR command LIKE 'RESTORE%'").await.unwrap();
        assert!(r[0].is_empty());
        let r = batch(&mut c, "SELECT request_session_id FROM sys.dm_tran_locks WHERE resource_type = 'DATABASE' AND resource_database_id = DB_ID(N'mgc')").await.unwrap();
        assert!(r[0].is_empty());
        batch(&mut c, "RESTORE DATABASE [mgc] WITH RECOVERY").await.unwrap();
        let pos = batch(&mut c, POSITION).await.unwrap();
        assert_eq!(pos[0][0].get::<&str, _>("state_desc"), Some("ONLINE"));
        assert_eq!(pos[0][0].get::<Numeric, _>("redo_start_lsn"), None);

        // Step 5 checks: readable, no orphaned users; step 6 probe before mirroring.
        let r = batch(&mut c, "SELECT TOP 1 name FROM mgc.sys.objects").await.unwrap();
        assert_eq!(r[0].len(), 1);
        assert!(batch(&mut c, ORPHANS).await.unwrap()[0].is_empty());
        let r = batch(&mut c, "SELECT mirroring_role_desc, mirroring_state_desc, mirroring_partner_instance, mirroring_witness_name, mirroring_safety_level_desc FROM sys.database_mirroring WHERE database_id = DB_ID(N'mgc');").await.unwrap();
        assert_eq!(r[0][0].get::<&str, _>(0), None);

        let status = runledger_sim::status(dc.path()).unwrap();
        let commands: Vec<&str> = status.history.iter().map(|h| h.command.as_str()).collect();
        assert!(commands[0].starts_with("EXEC msdb.dbo.sp_update_job"));
        assert!(commands[1].starts_with("EXEC @rc = master.dbo.sp_delete_log_shipping_secondary_database"));
        assert_eq!(commands.iter().filter(|c| c.starts_with("RESTORE LOG")).count(), applied);
        assert_eq!(commands.last(), Some(&"RESTORE DATABASE [mgc] WITH RECOVERY"));
        assert!(status.history.windows(2).all(|w| w[0].seq < w[1].seq));
    });
}

#[test]
fn sp_delete_log_shipping_secondary_database_takes_a_positional_argument_and_keeps_the_database() {
    let dc = Dc::new(Scenario::Normal);
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        batch(&mut c, "EXEC sp_delete_log_shipping_secondary_database mgc").await.unwrap();
        let r = batch(&mut c, "SELECT COUNT(*) AS n FROM msdb.dbo.sysjobs WHERE name LIKE 'LS%'; SELECT state_desc FROM sys.databases WHERE name = 'mgc'").await.unwrap();
        assert_eq!(r[0][0].get::<i32, _>("n"), Some(0));
        assert_eq!(r[1][0].get::<&str, _>(0), Some("RESTORING"));
        let (n, text) = error(&mut c, "EXEC master.dbo.sp_delete_log_shipping_secondary_database").await;
        assert_eq!(n, 201, "{text}");
        let (n, _) = error(&mut c, "EXEC sp_delete_log_shipping_secondary_database @database = N'mgc'").await;
        assert_eq!(n, 8145);
        let (n, _) = error(&mut c, "EXEC sp_update_job @job_name = N'x', @enabled = 0").await;
        assert_eq!(n, 2812, "sp_update_job lives in msdb");
        let (n, _) = error(&mut c, "EXEC msdb.dbo.sp_update_job @job_name = N'LSCopy_PCSQL01_mgc', @enabled = 0").await;
        assert_eq!(n, 14262, "the job was deleted with the configuration");
    });
}

#[test]
fn removing_a_log_shipping_secondary_also_removes_its_jobs_schedules() {
    let dc = Dc::new(Scenario::Normal);
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        batch(&mut c, "EXEC msdb.dbo.sp_add_schedule @schedule_name = N'LSRestoreSchedule_PCSQL01_mgc', @freq_type = 4; EXEC msdb.dbo.sp_attach_schedule @job_name = N'LSRestore_PCSQL01_mgc', @schedule_name = N'LSRestoreSchedule_PCSQL01_mgc'").await.unwrap();
        const ATTACHED: &str = "SELECT COUNT(*) AS n FROM msdb.dbo.sysjobschedules";
        let r = batch(&mut c, ATTACHED).await.unwrap();
        assert_eq!(r[0][0].get::<i32, _>("n"), Some(1));
        batch(&mut c, "EXEC sp_delete_log_shipping_secondary_database mgc").await.unwrap();
        let r = batch(&mut c, ATTACHED).await.unwrap();
        assert_eq!(r[0][0].get::<i32, _>("n"), Some(0), "the restore job's schedule attachment is gone with the job");
    });
}

#[test]
fn statements_the_simulator_does_not_know_are_errors_that_quote_them() {
    let dc = Dc::new(Scenario::Normal);
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        let (n, text) = error(&mut c, "DROP DATABASE mgc").await;
        assert_eq!(n, 102);
        assert!(text.contains("DROP DATABASE mgc"), "{text}");
        let (n, text) = error(&mut c, "EXEC sp_frobnicate 1").await;
        assert_eq!(n, 2812);
        assert!(text.contains("sp_frobnicate"), "{text}");
        let (n, text) = error(
            &mut c,
            "SELECT * FROM msdb.dbo.log_shipping_monitor_primary",
        )
        .await;
        assert_eq!(n, 208);
        assert!(
            text.contains("msdb.dbo.log_shipping_monitor_primary"),
            "{text}"
        );
        let (n, _) = error(&mut c, "SELECT @undeclared").await;
        assert_eq!(n, 137);
        // Nothing of a batch with an unknown statement runs.
        let (n, _) = error(
            &mut c,
            "EXEC sp_delete_log_shipping_secondary_database N'mgc'; TRUNCATE TABLE x",
        )
        .await;
        assert_eq!(n, 102);
        assert!(runledger_sim::status(dc.path()).unwrap().history.is_empty());
    });
}
