//! Promise: each drill scenario stages exactly the outage docs/drill.md describes, as SQL Server
//! and the Lync Management Shell would show it — seen through FreeTDS `tsql`, a TDS client we did
//! not write, and through the simulated shell — and `runledger sim heal` ends the outages that can
//! end (share, missing file, CMS, mirror), recording that it did.

mod common;

use common::*;
use runledger_sim::Scenario;

/// tsql's stdout and stderr together.
fn tsql_all(dc: &Dc, sql: &str) -> String {
    let (out, err, _) = tsql(dc.bak(), &dc.bak().password, sql);
    format!("{out}\n{err}")
}

/// The files of the data center, in LSN order.
fn files(dc: &Dc) -> Vec<runledger_sim::status::FileStatus> {
    runledger_sim::status(dc.path()).unwrap().files
}

fn operator_history(dc: &Dc) -> Vec<String> {
    runledger_sim::status(dc.path())
        .unwrap()
        .history
        .into_iter()
        .filter(|h| h.system == "operator")
        .map(|h| h.effect)
        .collect()
}

#[test]
fn unreadable_header_one_share_file_is_3241_to_every_restore_statement() {
    let dc = Dc::new(Scenario::UnreadableHeader);
    let all = files(&dc);
    let bad = all.iter().find(|f| f.note.is_some()).unwrap();
    assert!(
        bad.in_share && !bad.in_dest,
        "a file the failover must copy"
    );
    let good = all.iter().find(|f| f.in_share && f.note.is_none()).unwrap();
    let out = tsql_all(
        &dc,
        &format!(
            "RESTORE HEADERONLY FROM DISK = N'{}'\ngo\nRESTORE VERIFYONLY FROM DISK = N'{}'\ngo\nRESTORE HEADERONLY FROM DISK = N'{}'",
            share_path(&bad.name),
            share_path(&bad.name),
            share_path(&good.name)
        ),
    );
    assert_eq!(out.matches("Msg 3241").count(), 2, "{out}");
    assert!(
        out.contains("Transaction Log"),
        "the other files read: {out}"
    );
    assert!(
        runledger_sim::heal(dc.path()).unwrap().is_empty(),
        "damage is not healed"
    );
}

#[test]
fn corrupt_no_checksum_passes_verifyonly_and_fails_restore_log_with_3203() {
    let dc = Dc::new(Scenario::CorruptNoChecksum);
    let bad = files(&dc).into_iter().find(|f| f.note.is_some()).unwrap();
    std::fs::copy(dc.share().join(&bad.name), dc.dest().join(&bad.name)).unwrap();
    let path = dest_path(&bad.name);
    let out = tsql_all(
        &dc,
        &format!(
            "RESTORE VERIFYONLY FROM DISK = N'{path}'\ngo\nRESTORE LOG [mgc] FROM DISK = N'{path}' WITH NORECOVERY"
        ),
    );
    assert!(out.contains("The backup set on file 1 is valid"), "{out}");
    // The file is not next in the chain yet: SQL Server reads it (3203) before it checks LSNs.
    assert!(
        out.contains("Msg 3203") && out.contains("The data is invalid"),
        "{out}"
    );
}

#[test]
fn standby_secondary_is_online_in_standby_with_a_reader() {
    let dc = Dc::new(Scenario::StandbySecondary);
    let out = tsql_all(
        &dc,
        "SELECT d.state_desc, d.is_in_standby FROM sys.databases AS d WHERE d.name = N'mgc'
go
SELECT restore_mode FROM msdb.dbo.log_shipping_secondary_databases WHERE secondary_database = N'mgc'
go
SELECT s.session_id, s.program_name, r.command FROM sys.dm_exec_sessions AS s JOIN sys.dm_exec_requests AS r ON r.session_id = s.session_id WHERE s.database_id = DB_ID(N'mgc')",
    );
    assert!(out.contains("ONLINE"), "{out}");
    assert!(out.contains("room activity export"), "{out}");
    assert!(out.contains("SELECT"), "{out}");
    let status = runledger_sim::status(dc.path()).unwrap();
    let mgc = &status.instances[0].databases[0];
    assert!(mgc.is_in_standby && mgc.state == "ONLINE" && mgc.redo_start_lsn.is_none());
    assert!(std::fs::read_dir(dc.dest()).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".tuf")));
}

#[test]
fn unrelated_job_running_runs_throughout_and_holds_nothing_of_mgc() {
    let dc = Dc::new(Scenario::UnrelatedJobRunning);
    // Longer than the restore job of restore-job-running keeps running.
    std::thread::sleep(std::time::Duration::from_millis(4_500));
    let all_jobs = "SELECT j.name FROM msdb.dbo.sysjobactivity AS a JOIN msdb.dbo.sysjobs AS j ON j.job_id = a.job_id WHERE a.session_id = (SELECT MAX(session_id) FROM msdb.dbo.syssessions) AND a.start_execution_date IS NOT NULL AND a.stop_execution_date IS NULL";
    let log_shipping_jobs = "SELECT COUNT(*) AS ls_running FROM msdb.dbo.sysjobactivity AS a JOIN msdb.dbo.log_shipping_secondary AS s ON a.job_id IN (s.copy_job_id, s.restore_job_id) WHERE a.start_execution_date IS NOT NULL AND a.stop_execution_date IS NULL";
    let out = tsql_all(
        &dc,
        &format!("{all_jobs}\ngo\n{log_shipping_jobs}\ngo\nSELECT COUNT(*) AS holders FROM sys.dm_tran_locks WHERE resource_database_id = DB_ID(N'mgc')"),
    );
    assert!(
        out.contains("DatabaseIntegrityCheck - SYSTEM_DATABASES"),
        "{out}"
    );
    assert!(!out.contains("LSRestore"), "{out}");
    let status = runledger_sim::status(dc.path()).unwrap();
    let running: Vec<&str> = status.instances[0]
        .jobs
        .iter()
        .filter(|j| j.running)
        .map(|j| j.name.as_str())
        .collect();
    assert_eq!(running, ["DatabaseIntegrityCheck - SYSTEM_DATABASES"]);
    // Killing its session ends that job only.
    let out = tsql_all(&dc, "KILL 59");
    assert!(!out.contains("Msg 6106"), "{out}");
    let status = runledger_sim::status(dc.path()).unwrap();
    assert!(status.instances[0].jobs.iter().all(|j| !j.running));
    assert_eq!(
        status.history.last().unwrap().effect,
        "job DatabaseIntegrityCheck - SYSTEM_DATABASES stopped"
    );
}

#[test]
fn partial_previous_attempt_has_no_log_shipping_and_logs_restored_by_hand() {
    let dc = Dc::new(Scenario::PartialPreviousAttempt);
    let all = files(&dc);
    let by_hand: Vec<_> = all
        .iter()
        .filter(|f| f.note.as_deref().is_some_and(|n| n.contains("by hand")))
        .collect();
    assert_eq!(by_hand.len(), 2);
    assert!(by_hand.iter().all(|f| f.restored && f.in_dest));
    let out = tsql_all(
        &dc,
        "SELECT COUNT(*) AS ls_rows FROM msdb.dbo.log_shipping_secondary_databases
go
SELECT COUNT(*) AS ls_jobs FROM msdb.dbo.sysjobs WHERE name LIKE 'LS%'
go
EXEC msdb.dbo.sp_update_job @job_name = N'LSCopy_PCSQL01_mgc', @enabled = 0
go
SELECT TOP (1) rh.user_name, bs.last_lsn FROM msdb.dbo.restorehistory AS rh JOIN msdb.dbo.backupset AS bs ON bs.backup_set_id = rh.backup_set_id ORDER BY rh.restore_history_id DESC
go
SELECT state_desc FROM sys.databases WHERE name = N'mgc'",
    );
    assert!(out.contains("Msg 14262"), "the jobs are gone: {out}");
    assert!(
        out.contains("ls_rows\n0\n") && out.contains("ls_jobs\n0\n"),
        "{out}"
    );
    assert!(out.contains("CONTOSO\\dba1"), "{out}");
    assert!(out.contains(&by_hand[1].last_lsn), "{out}");
    assert!(out.contains("RESTORING"), "{out}");
    let status = runledger_sim::status(dc.path()).unwrap();
    assert!(status.instances[0].log_shipping.is_empty());
    assert_eq!(
        status.instances[0].databases[0].redo_start_lsn.as_deref(),
        Some(by_hand[1].last_lsn.as_str())
    );
}

#[test]
fn killed_restore_the_next_restore_of_another_file_is_4319() {
    let dc = Dc::new(Scenario::KilledRestore);
    let status = runledger_sim::status(dc.path()).unwrap();
    let interrupted = status.instances[0].databases[0]
        .interrupted_restore
        .clone()
        .unwrap();
    let other = status
        .files
        .iter()
        .find(|f| f.in_dest && !f.restored && f.name != interrupted)
        .unwrap();
    let out = tsql_all(
        &dc,
        &format!(
            "RESTORE LOG [mgc] FROM DISK = N'{}' WITH NORECOVERY\ngo\nRESTORE LOG [mgc] FROM DISK = N'{}' WITH NORECOVERY, RESTART",
            dest_path(&other.name),
            dest_path(&interrupted)
        ),
    );
    assert!(out.contains("Msg 4319"), "{out}");
    assert!(out.contains("RESTORE LOG successfully processed"), "{out}");
    let jobs = &status.instances[0].jobs;
    assert!(
        jobs.iter().all(|j| !j.running),
        "the killed job is not running"
    );
}

#[test]
fn mirror_not_ready_bak_m_answers_no_connection_until_healed() {
    let dc = Dc::new(Scenario::MirrorNotReady);
    let (out, err, _) = tsql(dc.bak_m(), &dc.bak_m().password, "SELECT @@SERVERNAME AS s");
    assert!(
        !out.contains("PCSQLDR02"),
        "BAK-M must not answer: {out}{err}"
    );
    let out = tsql_all(&dc, "RESTORE DATABASE [mgc] WITH RECOVERY");
    assert!(!out.contains("severity 16"), "{out}");
    let install = "Install-CsMirrorDatabase -DatabaseType PersistentChat -FileShare \\\\pcfsdr01\\mirror -SqlServerFqdn pcsqldr01.contoso.local -DropExistingDatabasesOnMirror -Confirm:$false";
    let e = fails(&dc, install);
    assert!(
        e.contains("pcsqldr02.contoso.local") && e.contains("not accessible"),
        "{e}"
    );
    let healed = runledger_sim::heal(dc.path()).unwrap();
    assert_eq!(
        healed,
        ["SQL Server pcsqldr02.contoso.local (BAK-M) answers again"]
    );
    let (out, err, _) = tsql(dc.bak_m(), &dc.bak_m().password, "SELECT @@SERVERNAME AS s");
    assert!(out.contains("PCSQLDR02"), "{out}{err}");
    assert!(ok(&dc, install).contains("successfully established"));
    assert_eq!(operator_history(&dc), healed);
}

#[test]
fn cms_unreachable_is_ended_by_a_cms_failover_to_the_backup_store() {
    let dc = Dc::new(Scenario::CmsUnreachable);
    let set = "Set-CsPersistentChatState -Identity PersistentChatServer:pchat.contoso.local -PoolState FailedOver";
    assert!(fails(&dc, set).contains("Central Management Store"));
    let failover = "Invoke-CsManagementServerFailover -BackupSqlServerFqdn pcsqldr01.contoso.local -BackupSqlInstanceName MSSQLSERVER";
    assert!(
        fails(&dc, failover).contains("NonInteractive"),
        "it asks unless -Force"
    );
    assert!(fails(&dc, &failover.replace("pcsqldr01", "pcsql01")).contains("not accessible"));
    assert!(fails(&dc, &failover.replace("pcsqldr01", "pcsqldr09"))
        .contains("not the backup Central Management Store"));
    assert!(fails(&dc, "Invoke-CsManagementServerFailover -Force").contains("BackupSqlServerFqdn"));
    assert!(ok(&dc, &format!("{failover} -Force")).contains("pcsqldr01.contoso.local"));
    ok(&dc, set);
    let status = runledger_sim::status(dc.path()).unwrap();
    assert!(status.pool.cms_reachable);
    assert_eq!(status.pool.cms_fqdn, "pcsqldr01.contoso.local");
    assert_eq!(status.pool.pool_state, "FailedOver");
    assert!(ok(
        &dc,
        "Get-CsManagementStoreReplicationStatus -CentralManagementStoreStatus"
    )
    .contains("pcsqldr01.contoso.local"));
    assert!(status.history[0]
        .effect
        .starts_with("Central Management Store failed over"));
}

#[test]
fn heal_brings_back_the_share_the_missing_file_and_the_cms() {
    let dc = Dc::new(Scenario::ShareUnreachable);
    let name = files(&dc).into_iter().find(|f| !f.in_dest).unwrap().name;
    let header = format!("RESTORE HEADERONLY FROM DISK = N'{}'", share_path(&name));
    assert!(tsql_all(&dc, &header).contains("Msg 3201"));
    let healed = runledger_sim::heal(dc.path()).unwrap();
    assert_eq!(healed, [r"backup share \\pcfs01\mgc-logs reachable again"]);
    assert!(
        tsql_all(&dc, &header).contains("Transaction Log"),
        "served while `serve` runs"
    );
    assert!(
        runledger_sim::heal(dc.path()).unwrap().is_empty(),
        "healed once"
    );
    assert_eq!(operator_history(&dc), healed);

    let dc = Dc::new(Scenario::MissingFile);
    let missing = files(&dc)
        .into_iter()
        .find(|f| !f.in_share && !f.in_dest)
        .unwrap();
    let healed = runledger_sim::heal(dc.path()).unwrap();
    assert_eq!(healed.len(), 1);
    assert!(healed[0].contains(&missing.name), "{healed:?}");
    let header = format!(
        "RESTORE HEADERONLY FROM DISK = N'{}'",
        share_path(&missing.name)
    );
    assert!(tsql_all(&dc, &header).contains("Transaction Log"));
    let back = files(&dc)
        .into_iter()
        .find(|f| f.name == missing.name)
        .unwrap();
    assert!(back.in_share);
    let sha = runledger_sim::status(dc.path()).unwrap();
    let bytes = std::fs::read(dc.share().join(&missing.name)).unwrap();
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        hex,
        sha.files
            .iter()
            .find(|f| f.name == missing.name)
            .unwrap()
            .sha256,
        "the very file written"
    );

    let dc = Dc::new(Scenario::CmsUnreachable);
    assert_eq!(
        runledger_sim::heal(dc.path()).unwrap(),
        ["Central Management Store cms.contoso.local reachable again"]
    );
    ok(&dc, "Get-CsPersistentChatState");

    let dc = Dc::new(Scenario::Normal);
    assert!(runledger_sim::heal(dc.path()).unwrap().is_empty());
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        runledger_sim::heal(empty.path()),
        Err(runledger_sim::SimError::NotInitialised(_))
    ));
}

#[test]
fn a_restoring_database_cannot_be_anyones_current_database() {
    let dc = Dc::new(Scenario::Normal);
    let out = tsql_all(&dc, "USE mgc\ngo\nSELECT TOP 1 name FROM mgc.sys.objects");
    assert_eq!(out.matches("Msg 927").count(), 2, "{out}");
    rt().block_on(async {
        let mut config = tiberius::Config::new();
        config.host(&dc.bak().host);
        config.port(dc.bak().port);
        config.database("mgc");
        config.authentication(tiberius::AuthMethod::sql_server(
            &dc.bak().user,
            &dc.bak().password,
        ));
        config.encryption(tiberius::EncryptionLevel::NotSupported);
        let tcp = tokio::net::TcpStream::connect((dc.bak().host.as_str(), dc.bak().port))
            .await
            .unwrap();
        use tokio_util::compat::TokioAsyncWriteCompatExt;
        match tiberius::Client::connect(config, tcp.compat_write()).await {
            Err(tiberius::error::Error::Server(e)) => assert_eq!(e.code(), 4060),
            other => panic!("expected 4060, got {:?}", other.map(|_| ())),
        }
    });
}
