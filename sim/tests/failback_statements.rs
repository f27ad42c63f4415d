//! Promise: the statements of the failback run against the simulator through tiberius with
//! SQL Server's results and error numbers: a full backup of a database that is not ONLINE
//! (927) or to a folder that cannot be reached (3201), a restore over another backup family
//! without `REPLACE` (3154), over a database in use (3101) or a mirrored one (3104), and the
//! log-shipping procedures with their `OUTPUT` parameters and their refusals.

mod common;

use common::*;
use runledger_sim::Scenario;

const BAK_FILE: &str = r"\\pcfs01\mgc-logs\mgc_failback.bak";

#[test]
fn full_backups_restores_and_log_shipping_configuration_keep_sql_servers_rules() {
    let mut dc = Dc::new(Scenario::Normal);
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        let backup = format!(
            "BACKUP DATABASE [mgc] TO DISK = N'{BAK_FILE}' WITH CHECKSUM, INIT, FORMAT, STATS = 10"
        );
        // mgc is RESTORING on the backup server: no backup yet.
        let (n, text) = error(&mut c, &backup).await;
        assert_eq!(n, 927, "{text}");
        batch(&mut c, "RESTORE DATABASE [mgc] WITH RECOVERY")
            .await
            .unwrap();
        let (n, text) = error(
            &mut c,
            r"BACKUP DATABASE [mgc] TO DISK = N'\\nosuch\share\mgc.bak' WITH CHECKSUM",
        )
        .await;
        assert_eq!(n, 3201, "{text}");
        batch(&mut c, &backup).await.unwrap();
        let rows = batch(
            &mut c,
            &format!("RESTORE HEADERONLY FROM DISK = N'{BAK_FILE}'"),
        )
        .await
        .unwrap();
        assert_eq!(
            first_text(&rows, "BackupTypeDescription").as_deref(),
            Some("Database")
        );
        batch(
            &mut c,
            &format!("RESTORE VERIFYONLY FROM DISK = N'{BAK_FILE}' WITH CHECKSUM"),
        )
        .await
        .unwrap();
    });

    // The primary comes back: the server listens for it once restarted.
    dc.server.take().unwrap().stop();
    let pri = runledger_sim::primary_returns(dc.path()).unwrap();
    dc.server = Some(runledger_sim::start(dc.path()).unwrap());
    rt().block_on(async {
        let mut c = connect(&pri).await;
        let restore = format!(
            "RESTORE DATABASE [mgc] FROM DISK = N'{BAK_FILE}' WITH REPLACE, RECOVERY, CHECKSUM"
        );
        // Topology Builder's mgc is another database: REPLACE is needed.
        let (n, text) = error(
            &mut c,
            &format!("RESTORE DATABASE [mgc] FROM DISK = N'{BAK_FILE}' WITH RECOVERY"),
        )
        .await;
        assert_eq!(n, 3154, "{text}");
        // A session in mgc: exclusive access cannot be obtained.
        let mut other = connect(&pri).await;
        batch(&mut other, "USE mgc").await.unwrap();
        let (n, text) = error(&mut c, &restore).await;
        assert_eq!(n, 3101, "{text}");
        drop(other);
        // The server sees the session end when the connection closes.
        let mut done = false;
        for _ in 0..50 {
            if batch(&mut c, &restore).await.is_ok() {
                done = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(done, "the restore succeeds once the session is gone");
        let rows = batch(
            &mut c,
            "SELECT COUNT(*) AS tables FROM mgc.sys.objects WHERE type = 'U'",
        )
        .await
        .unwrap();
        assert_eq!(rows[0][0].get::<i32, _>(0), Some(5), "the backup's tables came with it");

        // The primary half of the log-shipping script, with OUTPUT parameters.
        let primary = "DECLARE @job uniqueidentifier, @id uniqueidentifier, @rc int;
EXEC @rc = master.dbo.sp_add_log_shipping_primary_database @database = N'mgc', @backup_directory = N'\\\\pcfs01\\mgc-logs', @backup_share = N'\\\\pcfs01\\mgc-logs', @backup_job_name = N'LSBackup_mgc', @backup_job_id = @job OUTPUT, @primary_id = @id OUTPUT;
SELECT @rc AS rc, (SELECT name FROM msdb.dbo.sysjobs WHERE job_id = @job) AS job, (SELECT COUNT(*) FROM msdb.dbo.log_shipping_primary_databases WHERE primary_id = @id) AS configured;";
        let rows = batch(&mut c, primary).await.unwrap();
        let last = rows.last().unwrap();
        assert_eq!(last[0].get::<i32, _>("rc"), Some(0));
        assert_eq!(last[0].get::<&str, _>("job"), Some("LSBackup_mgc"));
        assert_eq!(last[0].get::<i32, _>("configured"), Some(1));
        // Again without @overwrite = 1: refused.
        let (n, text) = error(
            &mut c,
            "EXEC master.dbo.sp_add_log_shipping_primary_database @database = N'mgc', @backup_directory = N'x', @backup_share = N'x', @backup_job_name = N'LSBackup_mgc'",
        )
        .await;
        assert_eq!(n, 32001, "{text}");
    });
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        batch(
            &mut c,
            "EXEC master.dbo.sp_add_log_shipping_secondary_primary @primary_server = N'PCSQL01', @primary_database = N'mgc', @backup_source_directory = N'\\\\pcfs01\\mgc-logs', @backup_destination_directory = N'D:\\mgc-copy', @copy_job_name = N'LSCopy_PCSQL01_mgc', @restore_job_name = N'LSRestore_PCSQL01_mgc', @overwrite = 1",
        )
        .await
        .unwrap();
        // The backup server's mgc is ONLINE: it must be re-seeded WITH NORECOVERY first.
        let (n, text) = error(
            &mut c,
            "EXEC master.dbo.sp_add_log_shipping_secondary_database @secondary_database = N'mgc', @primary_server = N'PCSQL01', @primary_database = N'mgc'",
        )
        .await;
        assert_eq!(n, 32016, "{text}");
    });
}

#[test]
fn a_mirrored_database_cannot_be_restored_over() {
    let dc = Dc::new(Scenario::Normal);
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        batch(&mut c, "RESTORE DATABASE [mgc] WITH RECOVERY")
            .await
            .unwrap();
        batch(
            &mut c,
            &format!("BACKUP DATABASE [mgc] TO DISK = N'{BAK_FILE}' WITH CHECKSUM, INIT"),
        )
        .await
        .unwrap();
    });
    ok(
        &dc,
        r"Install-CsMirrorDatabase -DatabaseType PersistentChat -FileShare '\\pcfsdr01\mirror' -SqlServerFqdn 'pcsqldr01.contoso.local' -DropExistingDatabasesOnMirror -Confirm:$false",
    );
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        let restore =
            format!("RESTORE DATABASE [mgc] FROM DISK = N'{BAK_FILE}' WITH REPLACE, NORECOVERY");
        let (n, text) = error(&mut c, &restore).await;
        assert_eq!(n, 3104, "{text}");
        batch(&mut c, "ALTER DATABASE [mgc] SET PARTNER OFF")
            .await
            .unwrap();
        batch(&mut c, &restore).await.unwrap();
        let rows = batch(
            &mut c,
            "SELECT state_desc FROM sys.databases WHERE name = N'mgc'",
        )
        .await
        .unwrap();
        assert_eq!(
            first_text(&rows, "state_desc").as_deref(),
            Some("RESTORING")
        );
    });
}
