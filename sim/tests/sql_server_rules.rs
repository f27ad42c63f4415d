//! Promise: the simulator keeps SQL Server's rules with SQL Server's error numbers: each rule
//! has a test that triggers it.

mod common;

use common::*;
use runledger_sim::{InitOptions, Scenario};
use tiberius::numeric::Numeric;

/// Files of the data center in LSN order: (path as the server names it in the copy
/// destination, first, last), copying into the destination what only the share holds.
fn chain(dc: &Dc) -> Vec<(String, u128, u128)> {
    let status = runledger_sim::status(dc.path()).unwrap();
    status
        .files
        .iter()
        .filter(|f| f.in_share || f.in_dest)
        .map(|f| {
            let dest = dc.dest().join(&f.name);
            if !dest.exists() {
                std::fs::copy(dc.share().join(&f.name), &dest).unwrap();
            }
            (
                dest_path(&f.name),
                f.first_lsn.parse().unwrap(),
                f.last_lsn.parse().unwrap(),
            )
        })
        .collect()
}

async fn redo(c: &mut Sql) -> Option<u128> {
    let r = batch(c, "SELECT redo_start_lsn FROM sys.master_files WHERE database_id = DB_ID(N'mgc') AND file_id = 1").await.unwrap();
    r[0][0].get::<Numeric, _>(0).map(|n| n.value() as u128)
}

/// The last LSN restored, from msdb's history (what a STANDBY database's catalog does not show).
async fn restored_to(c: &mut Sql) -> u128 {
    let r = batch(c, "SELECT TOP (1) bs.last_lsn FROM msdb.dbo.restorehistory AS rh JOIN msdb.dbo.backupset AS bs ON bs.backup_set_id = rh.backup_set_id WHERE rh.destination_database_name = N'mgc' ORDER BY rh.restore_history_id DESC").await.unwrap();
    r[0][0].get::<Numeric, _>(0).unwrap().value() as u128
}

fn restore(path: &str) -> String {
    format!("RESTORE LOG [mgc] FROM DISK = N'{path}' WITH FILE = 1, NORECOVERY")
}

#[test]
fn a_log_already_applied_is_4326_and_a_gap_is_4305() {
    let dc = Dc::with(InitOptions {
        scenario: Scenario::LsnGap,
        logs: 8,
        ..InitOptions::default()
    });
    let files = chain(&dc);
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        let applied = files
            .iter()
            .find(|(_, _, last)| *last <= files[1].2)
            .unwrap();
        let (n, text) = error(&mut c, &restore(&applied.0)).await;
        assert_eq!(n, 4326, "{text}");
        assert!(text.contains("too early"), "{text}");
        let mut gap_seen = false;
        for (path, first, last) in &files {
            let r = redo(&mut c).await.unwrap();
            if *last <= r {
                continue;
            }
            if *first > r {
                let (n, text) = error(&mut c, &restore(path)).await;
                assert_eq!(n, 4305, "{text}");
                assert!(
                    text.contains(&format!("begins at LSN {first}"))
                        && text.contains(&format!("includes LSN {r}")),
                    "{text}"
                );
                assert_eq!(
                    redo(&mut c).await,
                    Some(r),
                    "a refused restore changes nothing"
                );
                gap_seen = true;
                break;
            }
            batch(&mut c, &restore(path)).await.unwrap();
        }
        assert!(gap_seen, "the lsn-gap scenario has a gap");
    });
}

#[test]
fn recovery_makes_the_database_online_and_then_a_log_restore_is_3117() {
    let dc = Dc::new(Scenario::Normal);
    let files = chain(&dc);
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        let before: i32 = batch(&mut c, "SELECT COUNT(*) FROM msdb.dbo.restorehistory")
            .await
            .unwrap()[0][0]
            .get(0)
            .unwrap();
        let r = redo(&mut c).await.unwrap();
        let next = files.iter().find(|(_, f, l)| *f <= r && r < *l).unwrap();
        batch(&mut c, &restore(&next.0)).await.unwrap();
        let after: i32 = batch(&mut c, "SELECT COUNT(*) FROM msdb.dbo.restorehistory")
            .await
            .unwrap()[0][0]
            .get(0)
            .unwrap();
        assert_eq!(after, before + 1, "one restorehistory row per restore");
        let bs = batch(
            &mut c,
            "SELECT TOP 1 type, last_lsn FROM msdb.dbo.backupset ORDER BY backup_set_id DESC",
        )
        .await
        .unwrap();
        assert_eq!(bs[0][0].get::<&str, _>(0), Some("L"));
        batch(&mut c, "RESTORE DATABASE mgc WITH RECOVERY")
            .await
            .unwrap();
        let r = batch(
            &mut c,
            "SELECT state_desc FROM sys.databases WHERE name = 'mgc'",
        )
        .await
        .unwrap();
        assert_eq!(r[0][0].get::<&str, _>(0), Some("ONLINE"));
        assert_eq!(redo(&mut c).await, None, "RECOVERY clears redo_start_lsn");
        let later = files.iter().find(|(_, _, l)| *l > next.2).unwrap();
        let (n, text) = error(&mut c, &restore(&later.0)).await;
        assert_eq!(n, 3117, "{text}");
        // Recovering again changes nothing and is not an error.
        batch(&mut c, "RESTORE DATABASE [mgc] WITH RECOVERY")
            .await
            .unwrap();
    });
}

#[test]
fn a_reader_of_a_standby_database_is_3101_until_it_is_killed() {
    let dc = Dc::new(Scenario::SessionsHoldingDb);
    let files = chain(&dc);
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        let pos = batch(&mut c, "SELECT d.state_desc, d.is_in_standby, mf.redo_start_lsn FROM sys.databases AS d JOIN sys.master_files AS mf ON mf.database_id = d.database_id AND mf.file_id = 1 WHERE d.name = N'mgc'").await.unwrap();
        assert_eq!(pos[0][0].get::<&str, _>(0), Some("ONLINE"));
        assert_eq!(pos[0][0].get::<bool, _>(1), Some(true));
        assert_eq!(redo(&mut c).await, None, "a STANDBY database shows no redo_start_lsn");
        let r = restored_to(&mut c).await;
        let next = files.iter().find(|(_, f, l)| *f <= r && r < *l).unwrap();
        let (n, text) = error(&mut c, &restore(&next.0)).await;
        assert_eq!(n, 3101, "{text}");
        let (n, _) = error(&mut c, "RESTORE DATABASE mgc WITH RECOVERY").await;
        assert_eq!(n, 3101);
        let sessions = batch(&mut c, "SELECT session_id FROM sys.dm_exec_sessions WHERE database_id = DB_ID(N'mgc') AND session_id <> @@SPID ORDER BY session_id").await.unwrap();
        let ids: Vec<i16> = sessions[0].iter().map(|r| r.get::<i16, _>(0).unwrap()).collect();
        assert_eq!(ids, vec![61, 64]);
        let locks = batch(&mut c, "SELECT request_session_id, request_mode FROM sys.dm_tran_locks WHERE resource_type = 'DATABASE' AND resource_database_id = DB_ID(N'mgc')").await.unwrap();
        assert_eq!(locks[0].len(), 2);
        let (n, _) = error(&mut c, "KILL @@SPID").await;
        assert_eq!(n, 6104);
        let (n, _) = error(&mut c, "KILL 99").await;
        assert_eq!(n, 6106);
        let (n, _) = error(&mut c, "KILL 12").await;
        assert_eq!(n, 6107);
        // Readers may use the standby database (read-only)…
        let mut reader = connect(dc.bak()).await;
        batch(&mut reader, "USE mgc; SELECT TOP 1 name FROM sys.objects").await.unwrap();
        // It leaves the database before it disconnects: the server notices a closed connection
        // only later, and until then a session in mgc would hold the restore off (3101).
        batch(&mut reader, "USE master").await.unwrap();
        drop(reader);
        batch(&mut c, "KILL 61; KILL 64").await.unwrap();
        // …and WITH NORECOVERY the next log takes it out of standby, back to RESTORING.
        batch(&mut c, &restore(&next.0)).await.unwrap();
        let pos = batch(&mut c, "SELECT state_desc, is_in_standby FROM sys.databases WHERE name = N'mgc'").await.unwrap();
        assert_eq!(pos[0][0].get::<&str, _>(0), Some("RESTORING"));
        assert_eq!(pos[0][0].get::<bool, _>(1), Some(false));
        assert_eq!(redo(&mut c).await, Some(next.2));
        let history = runledger_sim::status(dc.path()).unwrap().history;
        assert_eq!(history.iter().map(|h| h.command.as_str()).collect::<Vec<_>>()[..2], ["KILL 61", "KILL 64"]);
        // A session cannot be in a RESTORING database at all.
        let (n, _) = error(&mut c, "USE mgc").await;
        assert_eq!(n, 927);
    });
}

#[test]
fn a_standby_database_keeps_rolling_forward_with_standby_and_recovers() {
    let dc = Dc::new(Scenario::StandbySecondary);
    let files = chain(&dc);
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        let r = restored_to(&mut c).await;
        let next = files.iter().find(|(_, f, l)| *f <= r && r < *l).unwrap();
        let (n, _) = error(&mut c, &restore(&next.0)).await;
        assert_eq!(n, 3101, "the reporting session reads mgc");
        batch(&mut c, "KILL 67").await.unwrap();
        batch(
            &mut c,
            &format!(
                "RESTORE LOG [mgc] FROM DISK = N'{}' WITH STANDBY = N'D:\\mgc-copy\\mgc_undo.tuf'",
                next.0
            ),
        )
        .await
        .unwrap();
        let pos = batch(
            &mut c,
            "SELECT state_desc, is_in_standby FROM sys.databases WHERE name = N'mgc'",
        )
        .await
        .unwrap();
        assert_eq!(pos[0][0].get::<&str, _>(0), Some("ONLINE"));
        assert_eq!(pos[0][0].get::<bool, _>(1), Some(true));
        assert_eq!(restored_to(&mut c).await, next.2);
        assert!(
            dc.dest().join("mgc_undo.tuf").exists(),
            "the undo file is written"
        );
        batch(&mut c, "RESTORE DATABASE [mgc] WITH RECOVERY")
            .await
            .unwrap();
        let pos = batch(
            &mut c,
            "SELECT state_desc, is_in_standby FROM sys.databases WHERE name = N'mgc'",
        )
        .await
        .unwrap();
        assert_eq!(pos[0][0].get::<&str, _>(0), Some("ONLINE"));
        assert_eq!(pos[0][0].get::<bool, _>(1), Some(false));
        let later = files.iter().find(|(_, _, l)| *l > next.2).unwrap();
        let (n, _) = error(&mut c, &restore(&later.0)).await;
        assert_eq!(n, 3117, "recovered: no further log");
    });
}

#[test]
fn alter_database_on_a_restoring_database_is_5052() {
    let dc = Dc::new(Scenario::Normal);
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        let (n, text) = error(
            &mut c,
            "ALTER DATABASE mgc SET SINGLE_USER WITH ROLLBACK IMMEDIATE",
        )
        .await;
        assert_eq!(n, 5052);
        assert!(text.contains("Restoring state"), "{text}");
        let (n, _) = error(&mut c, "USE mgc").await;
        assert_eq!(n, 927);
        let (n, _) = error(&mut c, "SELECT TOP 1 name FROM mgc.sys.objects").await;
        assert_eq!(n, 927);
    });
}

#[test]
fn a_backup_file_whose_bytes_changed_is_rejected() {
    let dc = Dc::new(Scenario::CorruptFile);
    let status = runledger_sim::status(dc.path()).unwrap();
    let corrupt = status
        .files
        .iter()
        .find(|f| f.note.is_some())
        .unwrap()
        .name
        .clone();
    let files = chain(&dc);
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        let path = dest_path(&corrupt);
        // The header still reads, as SQL Server's HEADERONLY does not read the payload…
        let h = batch(&mut c, &format!("RESTORE HEADERONLY FROM DISK = N'{path}'"))
            .await
            .unwrap();
        assert_eq!(h[0].len(), 1);
        assert_eq!(
            h[0][0].get::<bool, _>("HasBackupChecksums"),
            Some(true),
            "this site backs up WITH CHECKSUM"
        );
        // …but the restore of the changed file is refused, once the chain reaches it.
        for (p, _, last) in &files {
            let r = redo(&mut c).await.unwrap();
            if *last <= r {
                continue;
            }
            if *p == path {
                let (n, text) = error(&mut c, &restore(p)).await;
                assert_eq!(n, 3183, "{text}");
                let (n, _) = error(&mut c, &format!("RESTORE VERIFYONLY FROM DISK = N'{p}'")).await;
                assert_eq!(n, 3183);
                break;
            }
            batch(&mut c, &restore(p)).await.unwrap();
        }
        // A changed header byte: even HEADERONLY refuses the media (3241); a cut file is 3203.
        let other = &files.last().unwrap().0;
        let local = dc.dest().join(other.rsplit('\\').next().unwrap());
        let mut bytes = std::fs::read(&local).unwrap();
        std::fs::write(&local, &bytes[..bytes.len() - 5]).unwrap();
        let (n, _) = error(&mut c, &restore(other)).await;
        assert_eq!(n, 3203);
        bytes[30] ^= 1;
        std::fs::write(&local, &bytes).unwrap();
        let (n, text) = error(
            &mut c,
            &format!("RESTORE HEADERONLY FROM DISK = N'{other}'"),
        )
        .await;
        assert_eq!(n, 3241, "{text}");
        let (n, text) = error(
            &mut c,
            &format!(
                "RESTORE HEADERONLY FROM DISK = N'{}'",
                dest_path("nope.trn")
            ),
        )
        .await;
        assert_eq!(n, 3201);
        assert!(
            text.contains("error 2(The system cannot find the file specified.)"),
            "{text}"
        );
    });
}

#[test]
fn log_backups_without_checksums_pass_verifyonly_and_fail_the_restore_when_damaged() {
    let dc = Dc::new(Scenario::CorruptNoChecksum);
    let status = runledger_sim::status(dc.path()).unwrap();
    let corrupt = status
        .files
        .iter()
        .find(|f| f.note.is_some())
        .unwrap()
        .name
        .clone();
    assert!(
        !status
            .files
            .iter()
            .find(|f| f.name == corrupt)
            .unwrap()
            .in_dest
    );
    let files = chain(&dc);
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        let path = dest_path(&corrupt);
        let h = batch(&mut c, &format!("RESTORE HEADERONLY FROM DISK = N'{path}'"))
            .await
            .unwrap();
        assert_eq!(h[0][0].get::<bool, _>("HasBackupChecksums"), Some(false));
        batch(&mut c, &format!("RESTORE VERIFYONLY FROM DISK = N'{path}'"))
            .await
            .unwrap();
        let (n, text) = error(
            &mut c,
            &format!("RESTORE VERIFYONLY FROM DISK = N'{path}' WITH CHECKSUM"),
        )
        .await;
        assert_eq!(n, 3187, "{text}");
        for (p, _, last) in &files {
            if *last <= redo(&mut c).await.unwrap() {
                continue;
            }
            if *p == path {
                let (n, text) = error(&mut c, &restore(p)).await;
                assert_eq!(n, 3203, "{text}");
                assert!(text.contains("13(The data is invalid.)"), "{text}");
                return;
            }
            batch(&mut c, &restore(p)).await.unwrap();
        }
        panic!("the damaged file was never reached");
    });
}

#[test]
fn the_server_reads_windows_paths_only_and_fails_as_windows_fails() {
    let dc = Dc::new(Scenario::Normal);
    let name = runledger_sim::status(dc.path()).unwrap().files[0]
        .name
        .clone();
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        let header = |p: String| format!("RESTORE HEADERONLY FROM DISK = N'{p}'");
        batch(&mut c, &header(share_path(&name))).await.unwrap();
        batch(&mut c, &header(dest_path(&name))).await.unwrap();
        batch(&mut c, &header(format!("d:/MGC-COPY/{name}")))
            .await
            .unwrap();
        // The engine's own path to the same file means nothing to the server.
        let local = dc.dest().join(&name).display().to_string();
        for (path, os) in [
            (local, "error 3(The system cannot find the path specified.)"),
            (format!(r"C:\mgc-copy\{name}"), "error 3("),
            (
                format!(r"\\pcfs09\mgc-logs\{name}"),
                "error 53(The network path was not found.)",
            ),
            (
                format!(r"\\pcfs01\logs\{name}"),
                "error 67(The network name cannot be found.)",
            ),
        ] {
            let (n, text) = error(&mut c, &header(path.clone())).await;
            assert_eq!(n, 3201, "{path}: {text}");
            assert!(text.contains(os), "{path}: {text}");
        }
    });
}

#[test]
fn a_killed_restore_leaves_the_database_in_the_middle_of_it() {
    let dc = Dc::new(Scenario::KilledRestore);
    let status = runledger_sim::status(dc.path()).unwrap();
    let bak = &status.instances[0].databases[0];
    let interrupted = bak
        .interrupted_restore
        .clone()
        .expect("an interrupted restore");
    let files = chain(&dc);
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        let r = redo(&mut c).await.unwrap();
        let same = files
            .iter()
            .find(|(p, _, _)| p.ends_with(&interrupted))
            .unwrap();
        assert!(
            same.1 <= r && r < same.2,
            "the interrupted file is the next in the chain"
        );
        let other = files.iter().find(|(_, _, l)| *l > same.2).unwrap();
        let (n, text) = error(&mut c, &restore(&other.0)).await;
        assert_eq!(n, 4319, "{text}");
        let (n, _) = error(&mut c, "RESTORE DATABASE [mgc] WITH RECOVERY").await;
        assert_eq!(n, 4319);
        batch(&mut c, &format!("{}, RESTART", restore(&same.0)))
            .await
            .unwrap();
        assert_eq!(redo(&mut c).await, Some(same.2));
        batch(&mut c, &restore(&other.0)).await.unwrap();
    });
    let after = runledger_sim::status(dc.path()).unwrap();
    assert_eq!(after.instances[0].databases[0].interrupted_restore, None);
}

#[test]
fn a_running_restore_job_holds_the_database_until_it_is_stopped() {
    let dc = Dc::new(Scenario::RestoreJobRunning);
    let files = chain(&dc);
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        let running = batch(&mut c, "SELECT j.name FROM msdb.dbo.sysjobactivity AS a JOIN msdb.dbo.sysjobs AS j ON j.job_id = a.job_id
            WHERE a.session_id = (SELECT MAX(session_id) FROM msdb.dbo.syssessions) AND a.start_execution_date IS NOT NULL AND a.stop_execution_date IS NULL").await.unwrap();
        assert_eq!(first_text(&running, "name").as_deref(), Some("LSRestore_PCSQL01_mgc"));
        let req = batch(&mut c, "SELECT session_id, command FROM sys.dm_exec_requests WHERE command LIKE 'RESTORE%'").await.unwrap();
        assert_eq!(req[0][0].get::<&str, _>(1), Some("RESTORE LOG"));
        let r = redo(&mut c).await.unwrap();
        let next = files.iter().find(|(_, f, l)| *f <= r && r < *l).unwrap();
        let (n, _) = error(&mut c, &restore(&next.0)).await;
        assert_eq!(n, 3101);
        batch(&mut c, "EXEC msdb.dbo.sp_update_job @job_name = N'LSRestore_PCSQL01_mgc', @enabled = 0").await.unwrap();
        let (n, _) = error(&mut c, &restore(&next.0)).await;
        assert_eq!(n, 3101, "disabling a job does not stop its running execution");
        batch(&mut c, "EXEC msdb.dbo.sp_stop_job @job_name = N'LSRestore_PCSQL01_mgc'").await.unwrap();
        // Stopped in the middle of its restore: that set again, WITH RESTART, and nothing else.
        let (n, _) = error(&mut c, &restore(&next.0)).await;
        assert_eq!(n, 4319, "the job's restore was interrupted");
        batch(&mut c, &format!("{}, RESTART", restore(&next.0))).await.unwrap();
        let (n, _) = error(&mut c, "EXEC msdb.dbo.sp_stop_job @job_name = N'LSRestore_PCSQL01_mgc'").await;
        assert_eq!(n, 22022);
    });
}

#[test]
fn an_unreachable_share_cannot_be_read() {
    let dc = Dc::new(Scenario::ShareUnreachable);
    let status = runledger_sim::status(dc.path()).unwrap();
    let name = &status.files.iter().find(|f| !f.in_dest).unwrap().name;
    assert!(!dc.share().exists());
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        let (n, text) = error(
            &mut c,
            &format!("RESTORE HEADERONLY FROM DISK = N'{}'", share_path(name)),
        )
        .await;
        assert_eq!(n, 3201);
        assert!(
            text.contains("error 53(The network path was not found.)"),
            "{text}"
        );
    });
}

#[test]
fn retention_deletes_the_oldest_files_first_and_the_missing_file_was_never_copied() {
    let dc = Dc::new(Scenario::MissingFile);
    let status = runledger_sim::status(dc.path()).unwrap();
    let missing = status
        .files
        .iter()
        .position(|f| !f.in_share && !f.in_dest)
        .expect("a file on neither the share nor the destination");
    assert!(!dc.share().join(&status.files[missing].name).exists());
    // Every older file is gone from the share too; every newer one is still there.
    for (i, f) in status.files.iter().enumerate() {
        assert_eq!(f.in_share, i > missing, "{}", f.name);
        assert_eq!(dc.share().join(&f.name).exists(), i > missing, "{}", f.name);
    }
    assert!(status.files[..missing].iter().all(|f| f.in_dest));
}

#[test]
fn the_running_restore_job_ends_by_itself_soon_after_serve_starts() {
    let dc = Dc::new(Scenario::RestoreJobRunning);
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        let probe = "SELECT COUNT(*) FROM msdb.dbo.sysjobactivity WHERE start_execution_date IS NOT NULL AND stop_execution_date IS NULL";
        let start = std::time::Instant::now();
        loop {
            let n: i32 = batch(&mut c, probe).await.unwrap()[0][0].get(0).unwrap();
            if n == 0 {
                break;
            }
            assert!(start.elapsed() < std::time::Duration::from_secs(15), "the job never finished");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let r = batch(&mut c, "SELECT COUNT(*) FROM master.dbo.sysprocesses WHERE program_name LIKE 'SQLAgent%'").await.unwrap();
        assert_eq!(r[0][0].get::<i32, _>(0), Some(0));
    });
}
