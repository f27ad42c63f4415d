//! Promise: a TDS client we did not write (FreeTDS `tsql`) runs the statements of the
//! failover against the simulator and sees SQL Server's results and error numbers.

mod common;

use common::*;
use runledger_sim::Scenario;

#[test]
fn tsql_runs_the_failover_statements() {
    let dc = Dc::new(Scenario::SessionsHoldingDb);
    let status = runledger_sim::status(dc.path()).unwrap();
    // The secondary is in STANDBY: the restore point is the end of the last log restored.
    let redo: u128 = status
        .files
        .iter()
        .filter(|f| f.restored)
        .map(|f| f.last_lsn.parse::<u128>().unwrap())
        .max()
        .unwrap();
    let next = status
        .files
        .iter()
        .find(|f| {
            f.first_lsn.parse::<u128>().unwrap() <= redo && redo < f.last_lsn.parse().unwrap()
        })
        .unwrap();
    let applied = status.files.iter().find(|f| f.restored).unwrap();
    let dest = |name: &str| dest_path(name);
    assert!(next.in_dest);
    let script = format!(
        "SELECT 1 AS one, @@SERVERNAME AS server, @@SPID AS spid
go
SELECT s.secondary_id, s.backup_source_directory, cj.name AS copy_job, d.restore_mode FROM msdb.dbo.log_shipping_secondary AS s JOIN msdb.dbo.log_shipping_secondary_databases AS d ON d.secondary_id = s.secondary_id LEFT JOIN msdb.dbo.sysjobs AS cj ON cj.job_id = s.copy_job_id WHERE d.secondary_database = N'mgc'
go
SELECT j.name, a.start_execution_date FROM msdb.dbo.sysjobactivity AS a JOIN msdb.dbo.sysjobs AS j ON j.job_id = a.job_id WHERE a.stop_execution_date IS NULL
go
EXEC msdb.dbo.sp_update_job @job_name = N'LSRestore_PCSQL01_mgc', @enabled = 0
go
DECLARE @rc int; EXEC @rc = master.dbo.sp_delete_log_shipping_secondary_database @secondary_database = N'mgc'; SELECT @rc AS rc_marker
go
RESTORE HEADERONLY FROM DISK = N'{next}'
go
SELECT d.state_desc, d.is_in_standby, mf.redo_start_lsn FROM sys.databases AS d LEFT JOIN sys.master_files AS mf ON mf.database_id = d.database_id AND mf.file_id = 1 WHERE d.name = N'mgc'
go
SELECT session_id, program_name FROM sys.dm_exec_sessions WHERE database_id = DB_ID(N'mgc')
go
SELECT request_session_id, request_mode FROM sys.dm_tran_locks WHERE resource_database_id = DB_ID(N'mgc')
go
SELECT session_id, command FROM sys.dm_exec_requests WHERE command LIKE 'RESTORE%'
go
RESTORE LOG [mgc] FROM DISK = N'{next}' WITH FILE = 1, NORECOVERY, STATS = 10
go
KILL 61
go
KILL 64
go
KILL 99
go
RESTORE LOG [mgc] FROM DISK = N'{next}' WITH FILE = 1, NORECOVERY, STATS = 10
go
RESTORE LOG [mgc] FROM DISK = N'{applied}' WITH FILE = 1, NORECOVERY
go
SELECT TOP (50) rh.restore_type, rh.recovery, bs.last_lsn, bmf.physical_device_name FROM msdb.dbo.restorehistory AS rh JOIN msdb.dbo.backupset AS bs ON bs.backup_set_id = rh.backup_set_id LEFT JOIN msdb.dbo.backupmediafamily AS bmf ON bmf.media_set_id = bs.media_set_id WHERE rh.destination_database_name = N'mgc' ORDER BY rh.restore_history_id DESC
go
ALTER DATABASE mgc SET SINGLE_USER WITH ROLLBACK IMMEDIATE
go
RESTORE DATABASE [mgc] WITH RECOVERY
go
SELECT d.state_desc, mf.redo_start_lsn FROM sys.databases AS d LEFT JOIN sys.master_files AS mf ON mf.database_id = d.database_id AND mf.file_id = 1 WHERE d.name = N'mgc'
go
RESTORE LOG [mgc] FROM DISK = N'{next}' WITH NORECOVERY
go
SELECT mirroring_role_desc, mirroring_state_desc FROM sys.database_mirroring WHERE database_id = DB_ID(N'mgc')
go
SELECT dp.name FROM mgc.sys.database_principals AS dp LEFT JOIN sys.server_principals AS sp ON sp.sid = dp.sid WHERE dp.type IN ('U','G','S') AND dp.principal_id > 4 AND sp.sid IS NULL
go
SELECT name, type_desc FROM sys.server_principals WHERE type = 'G'
go
MERGE INTO x USING y ON 1 = 1",
        next = dest(&next.name),
        applied = dest(&applied.name),
    );
    let (out, err, _) = tsql(dc.bak(), &dc.bak().password, &script);
    let all = format!("{out}\n{err}");
    let expect = [
        "PCSQLDR01",
        "LSCopy_PCSQL01_mgc",
        "rc_marker",
        "Transaction Log",
        "Microsoft SQL Server Management Studio - Query",
        "Msg 3101",
        "Msg 3013",
        "Msg 6106",
        "Msg 4326",
        "Msg 5052",
        "ONLINE",
        "Msg 3117",
        "CONTOSO\\RTCUniversalServerAdmins",
        "Msg 102",
        "MERGE INTO x USING y",
    ];
    for e in expect {
        assert!(all.contains(e), "tsql output lacks {e:?}:\n{all}");
    }
    let history = runledger_sim::status(dc.path()).unwrap().history;
    let restores = history
        .iter()
        .filter(|h| h.command.starts_with("RESTORE LOG"))
        .count();
    assert_eq!(restores, 1, "only the restore after the KILLs ran:\n{all}");
    assert!(history
        .iter()
        .any(|h| h.command == "RESTORE DATABASE [mgc] WITH RECOVERY"));
}
