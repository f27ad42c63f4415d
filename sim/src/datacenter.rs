//! Building a simulated data center: the backup instance (BAK) with `mgc` RESTORING under log
//! shipping, its designated mirror (BAK-M), the backup share and copy destination with `.trn`
//! files from two writers, and the Persistent Chat pool with servers in two sites.
//!
//! Everything is derived from the seed, so the same seed gives the same files, LSNs and names
//! (ports and the password aside). The scenario then bends one thing (scenario.rs).

use std::fs;
use std::net::TcpListener;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::backup_file::{self, BackupHeader};
use crate::lsn::Lsn;
use crate::scenario::Scenario;
use crate::{state, SimError};

/// Options of `runledger sim init`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Number of log backups the primary wrote (at least 2).
    pub logs: usize,
    /// Seed of every generated name, LSN and byte.
    pub seed: u64,
    /// The scenario.
    pub scenario: Scenario,
    /// Milliseconds each restore takes (`--pace`).
    pub pace_ms: u64,
}

impl Default for InitOptions {
    fn default() -> InitOptions {
        InitOptions {
            logs: 12,
            seed: 1,
            scenario: Scenario::Normal,
            pace_ms: 0,
        }
    }
}

/// One entry of `instances.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// `BAK` (the log-shipping secondary, the new primary) or `BAK-M` (its mirror).
    pub name: String,
    /// Loopback address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// SQL login.
    pub user: String,
    /// Its password.
    pub password: String,
}

/// Fixed names of the simulated topology.
pub mod names {
    /// Primary SQL Server (in the failed data center).
    pub const PRIMARY: &str = "PCSQL01";
    /// Its mirror (also in the failed data center).
    pub const PRIMARY_MIRROR: &str = "PCSQL02";
    /// The log-shipping secondary: `@@SERVERNAME` of instance BAK.
    pub const BACKUP: &str = "PCSQLDR01";
    /// The mirror designated for the backup store: `@@SERVERNAME` of BAK-M.
    pub const BACKUP_MIRROR: &str = "PCSQLDR02";
    /// DNS domain.
    pub const DOMAIN: &str = "contoso.local";
    /// Persistent Chat pool.
    pub const POOL: &str = "pchat.contoso.local";
    /// Central Management Store.
    pub const CMS: &str = "cms.contoso.local";
    /// The database.
    pub const DB: &str = "mgc";
    /// Site of the failed (primary) data center.
    pub const SITE_PRIMARY: &str = "Dublin";
    /// Site of the backup data center.
    pub const SITE_BACKUP: &str = "Amsterdam";
    /// The log-shipping backup share, as the SQL Servers name it (`backup_source_directory`).
    pub const SHARE_UNC: &str = r"\\pcfs01\mgc-logs";
    /// The copy destination on the backup server, as it names it
    /// (`backup_destination_directory`).
    pub const DEST_PATH: &str = r"D:\mgc-copy";
    /// The share `Install-CsMirrorDatabase` exports and imports through.
    pub const MIRROR_SHARE_UNC: &str = r"\\pcfsdr01\mirror";
}

struct LogFile {
    header: BackupHeader,
    name: String,
    payload: Vec<u8>,
}

pub(crate) fn fqdn(host: &str) -> String {
    format!("{}.{}", host.to_ascii_lowercase(), names::DOMAIN)
}

/// Registers the SQL instance `inst` (server `server`, in `role`) with its system databases,
/// created at `created`.
pub(crate) fn add_instance(
    tx: &rusqlite::Transaction<'_>,
    inst: &Instance,
    server: &str,
    role: &str,
    reachable: bool,
    created: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO instances (name, server_name, fqdn, host, port, login, password, role, reachable) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![inst.name, server, fqdn(server), inst.host, inst.port, inst.user, inst.password, role, reachable as i64],
    )?;
    for (id, db, model) in [
        (1, "master", "SIMPLE"),
        (2, "tempdb", "SIMPLE"),
        (3, "model", "FULL"),
        (4, "msdb", "SIMPLE"),
    ] {
        tx.execute(
            "INSERT INTO databases (instance, database_id, name, state_desc, recovery_model_desc, create_date) VALUES (?1, ?2, ?3, 'ONLINE', ?4, ?5)",
            params![inst.name, id, db, model, created],
        )?;
    }
    Ok(())
}

fn guid(rng: &mut StdRng) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    uuid::Builder::from_random_bytes(b)
        .into_uuid()
        .to_string()
        .to_uppercase()
}

/// A loopback port for an instance: free now, and chosen below the kernel's ephemeral range.
///
/// `serve` binds it later, in another process. A port the kernel handed out as ephemeral could
/// be taken meanwhile by any outgoing connection on the machine (tests run many at once);
/// ports below that range are given only to those who ask for them by number. Falls back to
/// an ephemeral port when no such port is free.
pub(crate) fn free_port() -> Result<u16, SimError> {
    let ephemeral_from = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    const LOWEST: u16 = 10_000;
    if ephemeral_from > LOWEST {
        let mut rng = rand::thread_rng();
        for _ in 0..64 {
            let port = rng.gen_range(LOWEST..ephemeral_from);
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS.fff` and as a file-name stamp.
fn stamp(secs: i64) -> (String, String) {
    let t = time::OffsetDateTime::from_unix_timestamp(secs).expect("valid time");
    let (y, m, d, h, mi, s) = (
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    );
    (
        format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.000"),
        format!("{y:04}{m:02}{d:02}{h:02}{mi:02}{s:02}"),
    )
}

/// Creates the data center in `DIR/sim` and writes `DIR/sim/instances.json`.
pub fn init(dir: &Path, opts: &InitOptions) -> Result<Vec<Instance>, SimError> {
    if opts.logs < 2 {
        return Err(SimError::Invalid(format!(
            "--logs must be at least 2, not {}",
            opts.logs
        )));
    }
    if opts.logs > 10_000 {
        return Err(SimError::Invalid(format!(
            "--logs must be at most 10000, not {}",
            opts.logs
        )));
    }
    let sim = crate::sim_dir(dir);
    if crate::state_path(dir).exists() {
        return Err(SimError::AlreadyInitialised(sim));
    }
    let scenario = opts.scenario;
    let share = crate::share_dir(dir);
    let dest = crate::dest_dir(dir);
    for folder in [&share, &dest, &crate::mirror_share_dir(dir)] {
        fs::create_dir_all(folder)?;
    }
    // The drill's CA and the server's certificate (tls-wrong-ca: issued by another CA).
    crate::certs::generate(&sim, scenario == Scenario::TlsWrongCa)?;
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let password = format!("Drill-{:08x}!", rand::random::<u32>());
    let instances = vec![
        Instance {
            name: "BAK".into(),
            host: "127.0.0.1".into(),
            port: free_port()?,
            user: "runledger".into(),
            password: password.clone(),
        },
        Instance {
            name: "BAK-M".into(),
            host: "127.0.0.1".into(),
            port: free_port()?,
            user: "runledger".into(),
            password,
        },
    ];

    // The log chain: one LSN chain written first by the primary, then by its mirror after a
    // mirror failover. The mirror's clock runs 20 minutes behind, so around the switch the file
    // names do not sort in LSN order.
    let family = guid(&mut rng);
    let fork = guid(&mut rng);
    let mut vlf = 41u64;
    let mut block = rng.gen_range(1_000..5_000u64);
    let full_checkpoint = Lsn::from_parts(vlf, block, 1);
    block += rng.gen_range(50..300);
    let mut next = Lsn::from_parts(vlf, block, 1);
    let n = opts.logs;
    let restored = (n / 3).max(1);
    let mut copied = restored + n / 4;
    if scenario == Scenario::KilledRestore {
        // The restore job was working on a file it had copied.
        copied = copied.max(restored + 1).min(n);
    }
    let switch = restored + ((n - restored) / 2).max(1);
    let gap_at = (restored + 1).min(n - 1);
    // The first file the failover itself must copy, and the one after it.
    let first_uncopied = copied.min(n - 1);
    let damaged_at = (copied + 1).min(n - 1);
    let base = 1_709_514_000i64; // 2024-03-04 01:00:00 UTC
    let mut logs = Vec::with_capacity(n);
    for i in 0..n {
        let mut first = next;
        if scenario == Scenario::LsnGap && i == gap_at {
            // The out-of-band backup that took these records went elsewhere.
            block += rng.gen_range(100..400);
            first = Lsn::from_parts(vlf, block, 1);
        }
        if i % 3 == 2 {
            vlf += 1;
            block = rng.gen_range(10..200);
        } else {
            block += rng.gen_range(40..400);
        }
        let last = Lsn::from_parts(vlf, block, rng.gen_range(1..40));
        next = last;
        let writer = if i < switch {
            names::PRIMARY
        } else {
            names::PRIMARY_MIRROR
        };
        let skew = if i < switch { 0 } else { -20 * 60 };
        let started = base + i as i64 * 15 * 60 + skew;
        let (start_text, name_stamp) = stamp(started);
        let (finish_text, _) = stamp(started + 2);
        let size = rng.gen_range(8..32) * 1024;
        let mut payload = vec![0u8; size];
        rng.fill_bytes(&mut payload);
        let checkpoint = Lsn(first.0 + (last.0 - first.0) / 2);
        logs.push(LogFile {
            name: format!("{}_{name_stamp}.trn", names::DB),
            header: BackupHeader {
                database_name: names::DB.into(),
                server_name: writer.into(),
                machine_name: writer.into(),
                backup_type: 2,
                first_lsn: first.to_string(),
                last_lsn: last.to_string(),
                checkpoint_lsn: checkpoint.to_string(),
                database_backup_lsn: full_checkpoint.to_string(),
                backup_start_date: start_text,
                backup_finish_date: finish_text,
                family_guid: family.clone(),
                first_recovery_fork_id: fork.clone(),
                recovery_fork_id: fork.clone(),
                backup_size: size as i64 + 2048,
                has_backup_checksums: scenario.backups_with_checksum(),
            },
            payload,
        });
    }
    // Logs someone restored by hand before the tool was started (partial-previous-attempt).
    let by_hand = if scenario == Scenario::PartialPreviousAttempt {
        2.min(copied - restored)
    } else {
        0
    };
    let applied = restored + by_hand;

    let mut conn = state::open(&crate::state_path(dir))?;
    conn.execute_batch(state::schema::TABLES)?;
    let tx = state::write_tx(&mut conn)?;
    for (k, v) in [
        ("scenario", scenario.name().to_string()),
        ("seed", opts.seed.to_string()),
        ("pace_ms", opts.pace_ms.to_string()),
        ("logs", n.to_string()),
        ("created_at", state::now_rfc3339()),
    ] {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            params![k, v],
        )?;
    }
    for (inst, server, role) in [
        (&instances[0], names::BACKUP, "backup"),
        (&instances[1], names::BACKUP_MIRROR, "backup-mirror"),
    ] {
        let reachable = !(scenario == Scenario::MirrorNotReady && role == "backup-mirror");
        add_instance(
            &tx,
            inst,
            server,
            role,
            reachable,
            "2014-03-02 09:00:00.000",
        )?;
        let mut sid = |len: usize| {
            let mut b = vec![0u8; len];
            rng.fill_bytes(&mut b);
            b
        };
        let principals: Vec<(i64, String, Vec<u8>, &str, &str)> = vec![
            (1, "sa".into(), vec![1], "S", "SQL_LOGIN"),
            (259, inst.user.clone(), sid(16), "S", "SQL_LOGIN"),
            (
                260,
                "CONTOSO\\RTCUniversalServerAdmins".into(),
                sid(28),
                "G",
                "WINDOWS_GROUP",
            ),
            (
                261,
                "CONTOSO\\RTCComponentUniversalServices".into(),
                sid(28),
                "G",
                "WINDOWS_GROUP",
            ),
            (
                262,
                "CONTOSO\\RTCUniversalReadOnlyAdmins".into(),
                sid(28),
                "G",
                "WINDOWS_GROUP",
            ),
        ];
        for (id, name, sid, ty, desc) in principals {
            tx.execute(
                "INSERT INTO server_principals (instance, principal_id, name, sid, type, type_desc, is_disabled, default_database_name) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 'master')",
                params![inst.name, id, name, sid, ty, desc],
            )?;
        }
    }
    // The mgc database on BAK: restored from the full backup and the first logs, NORECOVERY
    // (or STANDBY: ONLINE, read-only, and the catalog shows no redo_start_lsn).
    let redo = logs[applied - 1].header.last();
    if scenario.standby() {
        tx.execute(
            "INSERT INTO databases (instance, database_id, name, state_desc, is_in_standby, recovery_model_desc, create_date, standby_redo_lsn, standby_fork_guid, family_guid)
             VALUES ('BAK', 5, ?1, 'ONLINE', 1, 'FULL', '2024-03-01 22:10:00.000', ?2, ?3, ?4)",
            params![names::DB, redo.to_i64(), fork, family],
        )?;
    } else {
        tx.execute(
            "INSERT INTO databases (instance, database_id, name, state_desc, recovery_model_desc, create_date, redo_start_lsn, redo_start_fork_guid, family_guid)
             VALUES ('BAK', 5, ?1, 'RESTORING', 'FULL', '2024-03-01 22:10:00.000', ?2, ?3, ?4)",
            params![names::DB, redo.to_i64(), fork, family],
        )?;
    }
    // Database users of mgc: the Lync groups, mapped to the same Windows SIDs as the logins.
    let groups: Vec<(String, Vec<u8>)> = {
        let mut stmt = tx.prepare("SELECT name, sid FROM server_principals WHERE instance = 'BAK' AND type = 'G' ORDER BY principal_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (id, name, sid, ty, desc) in [
        (1, "dbo".to_string(), vec![1u8], "S", "SQL_USER"),
        (2, "guest".into(), vec![0], "S", "SQL_USER"),
    ]
    .into_iter()
    .chain(
        groups
            .into_iter()
            .enumerate()
            .map(|(i, (n, s))| (5 + i as i64, n, s, "G", "WINDOWS_GROUP")),
    ) {
        tx.execute(
            "INSERT INTO database_principals (instance, database_name, principal_id, name, sid, type, type_desc, default_schema_name) VALUES ('BAK', ?1, ?2, ?3, ?4, ?5, ?6, 'dbo')",
            params![names::DB, id, name, sid, ty, desc],
        )?;
    }
    for (id, table) in [
        "tblNode",
        "tblPrincipal",
        "tblChat",
        "tblConfig",
        "tblPrincipalAffiliations",
    ]
    .iter()
    .enumerate()
    {
        tx.execute(
            "INSERT INTO objects (instance, database_name, object_id, name, schema_id, type, type_desc, create_date) VALUES ('BAK', ?1, ?2, ?3, 1, 'U', 'USER_TABLE', '2014-03-02 09:12:44.000')",
            params![names::DB, 245_575_913 + id as i64 * 16_000_000, table],
        )?;
    }

    // Log shipping configuration in msdb of BAK.
    let secondary_id = guid(&mut rng);
    let copy_job = guid(&mut rng);
    let restore_job = guid(&mut rng);
    let dest_of = |name: &str| crate::paths::join(names::DEST_PATH, name);
    // The copy job picks files by name, so "last copied" is the highest name among the copied.
    let last_copied = logs[..copied]
        .iter()
        .map(|l| l.name.clone())
        .max()
        .expect("at least one copied");
    let last_restored = &logs[restored - 1];
    let last_restored_date = stamp(base + restored as i64 * 15 * 60 + 5 * 60).0;
    let last_copied_date = stamp(base + copied as i64 * 15 * 60 + 60).0;
    let job_stopped = stamp(base + restored as i64 * 15 * 60 + 5 * 60 + 3).0;
    // partial-previous-attempt: someone disabled the jobs and ran
    // sp_delete_log_shipping_secondary_database, which removed the configuration and the jobs.
    let log_shipping = scenario != Scenario::PartialPreviousAttempt;
    if log_shipping {
        tx.execute(
            "INSERT INTO log_shipping_secondary VALUES ('BAK', ?1, ?2, ?3, ?4, ?5, 4320, ?6, ?7, ?8, 1, ?9, ?10)",
            params![secondary_id, names::PRIMARY, names::DB, names::SHARE_UNC, names::DEST_PATH, copy_job, restore_job, names::BACKUP, dest_of(&last_copied), last_copied_date],
        )?;
        tx.execute(
            "INSERT INTO log_shipping_secondary_databases VALUES ('BAK', ?1, ?2, 0, 1, ?3, 0, -1, -1, -1, ?4, ?5)",
            params![names::DB, secondary_id, scenario.standby() as i64, dest_of(&last_restored.name), last_restored_date],
        )?;
        tx.execute(
            "INSERT INTO log_shipping_monitor_secondary VALUES ('BAK', ?1, ?2, ?3, ?4, ?2, 45, 14421, 1, ?5, ?6, ?6, ?7, ?8, ?8, 5, 5760)",
            params![names::BACKUP, names::DB, secondary_id, names::PRIMARY, dest_of(&last_copied), last_copied_date, dest_of(&last_restored.name), last_restored_date],
        )?;
    }
    let maintenance_job = guid(&mut rng);
    let mut jobs = vec![(
        guid(&mut rng),
        "syspolicy_purge_history".to_string(),
        "Purges policy history",
        0,
    )];
    if log_shipping {
        jobs.push((
            copy_job.clone(),
            format!("LSCopy_{}_{}", names::PRIMARY, names::DB),
            "Log shipping copy job",
            6,
        ));
        jobs.push((
            restore_job.clone(),
            format!("LSRestore_{}_{}", names::PRIMARY, names::DB),
            "Log shipping restore job",
            7,
        ));
    }
    if scenario == Scenario::UnrelatedJobRunning {
        jobs.push((
            maintenance_job.clone(),
            "DatabaseIntegrityCheck - SYSTEM_DATABASES".to_string(),
            "DBCC CHECKDB of the system databases",
            3,
        ));
    }
    for (id, name, desc, category) in &jobs {
        tx.execute(
            "INSERT INTO sysjobs VALUES ('BAK', ?1, ?2, 1, ?3, ?4, '2024-03-01 22:20:00.000', '2024-03-01 22:20:00.000')",
            params![id, name, desc, category],
        )?;
    }
    tx.execute(
        "INSERT INTO syssessions VALUES ('BAK', 1, '2024-03-01 22:00:00.000')",
        [],
    )?;
    let insert_session = |spid: i64,
                          kind: &str,
                          login: &str,
                          host: &str,
                          program: &str,
                          db: &str,
                          status: &str,
                          job: Option<&str>|
     -> rusqlite::Result<usize> {
        tx.execute(
            "INSERT INTO sessions (instance, session_id, kind, login_name, host_name, program_name, database_name, status, is_user_process, login_time, job_id)
             VALUES ('BAK', ?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9)",
            params![spid, kind, login, host, program, db, status, state::now_sql(), job],
        )
    };
    let insert_request = |spid: i64, command: &str, db: &str, percent: i64| {
        tx.execute(
            "INSERT INTO requests VALUES ('BAK', ?1, ?2, ?3, 'suspended', ?4, ?5)",
            params![spid, command, db, percent, state::now_sql()],
        )
    };
    let restore_running = scenario == Scenario::RestoreJobRunning;
    if log_shipping {
        for id in [&copy_job, &restore_job] {
            let (start, stop) = if *id == restore_job && restore_running {
                (stamp(base + n as i64 * 15 * 60).0, None)
            } else {
                (last_restored_date.clone(), Some(job_stopped.clone()))
            };
            tx.execute(
                "INSERT INTO sysjobactivity VALUES ('BAK', 1, ?1, ?2, ?2, ?3, 1)",
                params![id, start, stop],
            )?;
        }
    }
    if restore_running {
        insert_session(
            58,
            "agent",
            "NT SERVICE\\SQLSERVERAGENT",
            names::BACKUP,
            "SQLAgent - TSQL JobStep (Job 0x5E1F : Step 1)",
            "master",
            "running",
            Some(&restore_job),
        )?;
        insert_request(58, "RESTORE LOG", names::DB, 37)?;
        tx.execute(
            "INSERT INTO meta VALUES (?1, '4000')",
            [crate::agent::RUNS_MS],
        )?;
    }
    if scenario == Scenario::UnrelatedJobRunning {
        tx.execute(
            "INSERT INTO sysjobactivity VALUES ('BAK', 1, ?1, ?2, ?2, NULL, 1)",
            params![maintenance_job, stamp(base + n as i64 * 15 * 60 - 300).0],
        )?;
        insert_session(
            59,
            "agent",
            "NT SERVICE\\SQLSERVERAGENT",
            names::BACKUP,
            "SQLAgent - TSQL JobStep (Job 0x9A44 : Step 1)",
            "msdb",
            "running",
            Some(&maintenance_job),
        )?;
        insert_request(59, "DBCC", "msdb", 12)?;
    }
    // Readers of a STANDBY secondary: the only case where sessions can be in mgc.
    match scenario {
        Scenario::SessionsHoldingDb => {
            insert_session(
                61,
                "simulated",
                "CONTOSO\\dba1",
                "ADMIN-WS07",
                "Microsoft SQL Server Management Studio - Query",
                names::DB,
                "sleeping",
                None,
            )?;
            insert_session(
                64,
                "simulated",
                "CONTOSO\\svc-monitor",
                "MON01",
                "SQLMonitor 11.0 - mgc health probe",
                names::DB,
                "running",
                None,
            )?;
            insert_request(64, "SELECT", names::DB, 0)?;
        }
        Scenario::StandbySecondary => {
            insert_session(
                67,
                "simulated",
                "CONTOSO\\svc-reports",
                "RPT01",
                "Persistent Chat reporting - room activity export",
                names::DB,
                "running",
                None,
            )?;
            insert_request(67, "SELECT", names::DB, 0)?;
        }
        _ => {}
    }

    // msdb history of the full restore and the logs already restored.
    tx.execute(
        "INSERT INTO backupset VALUES ('BAK', 1, 1, ?1, 'D', ?2, ?3, ?2, ?2, '2024-03-01 21:40:00.000', '2024-03-01 21:55:00.000', 0, ?4, ?4, ?5, ?6, ?6, 52428800)",
        params![names::DB, full_checkpoint.to_i64(), logs[0].header.first().to_i64(), names::PRIMARY, family, fork],
    )?;
    tx.execute(
        "INSERT INTO backupmediafamily VALUES ('BAK', 1, 1, NULL, ?1, 2, 0)",
        [crate::paths::join(
            names::SHARE_UNC,
            "mgc_full_20240301214000.bak",
        )],
    )?;
    tx.execute(
        "INSERT INTO restorehistory VALUES ('BAK', 1, '2024-03-01 22:10:00.000', ?1, 'CONTOSO\\dba1', 1, 'D', 1, 0, 0, NULL, 1, NULL, 0)",
        [names::DB],
    )?;
    for (i, log) in logs[..applied].iter().enumerate() {
        let id = i as i64 + 2;
        let h = &log.header;
        let user = if i < restored {
            "NT SERVICE\\SQLSERVERAGENT"
        } else {
            "CONTOSO\\dba1"
        };
        tx.execute(
            "INSERT INTO backupset VALUES ('BAK', ?1, ?1, ?2, 'L', ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?9, ?10, ?11, ?11, ?12)",
            params![id, h.database_name, h.first().to_i64(), h.last().to_i64(), Lsn::parse(&h.checkpoint_lsn).and_then(Lsn::to_i64), full_checkpoint.to_i64(), h.backup_start_date, h.backup_finish_date, h.server_name, h.family_guid, h.recovery_fork_id, h.backup_size],
        )?;
        tx.execute(
            "INSERT INTO backupmediafamily VALUES ('BAK', ?1, 1, NULL, ?2, 2, 0)",
            params![id, dest_of(&log.name)],
        )?;
        tx.execute(
            "INSERT INTO restorehistory VALUES ('BAK', ?1, ?2, ?3, ?4, ?1, 'L', 0, 0, 0, NULL, 1, NULL, 0)",
            params![id, stamp(base + i as i64 * 15 * 60 + 5 * 60).0, names::DB, user],
        )?;
    }
    if scenario == Scenario::KilledRestore {
        // Someone killed the restore job's session while it was restoring the next file.
        let h = &logs[restored].header;
        let mark = crate::sql::restore::Interrupted::Log {
            file: logs[restored].name.clone(),
            first_lsn: h.first_lsn.clone(),
            last_lsn: h.last_lsn.clone(),
        };
        tx.execute(
            "UPDATE databases SET interrupted_restore = ?1 WHERE instance = 'BAK' AND name = ?2",
            params![serde_json::to_string(&mark)?, names::DB],
        )?;
    }

    // The pool and the CMS.
    let servers = [
        ("pc01", names::SITE_PRIMARY),
        ("pc02", names::SITE_PRIMARY),
        ("pcdr01", names::SITE_BACKUP),
        ("pcdr02", names::SITE_BACKUP),
    ];
    for (host, site) in servers {
        tx.execute(
            "INSERT INTO pool_servers VALUES (?1, ?2, 1)",
            params![fqdn(host), site],
        )?;
    }
    tx.execute(
        "INSERT INTO pool VALUES (?1, ?2, 'Normal', ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            format!("PersistentChatServer:{}", names::POOL),
            names::POOL,
            serde_json::to_string(&[fqdn("pc01"), fqdn("pc02")])?,
            fqdn(names::PRIMARY),
            fqdn(names::PRIMARY_MIRROR),
            fqdn(names::BACKUP),
            fqdn(names::BACKUP_MIRROR),
            names::CMS,
            (scenario != Scenario::CmsUnreachable) as i64
        ],
    )?;

    // The files.
    let missing = (scenario == Scenario::MissingFile).then_some(first_uncopied);
    if missing.is_some() {
        fs::create_dir_all(crate::recoverable_dir(dir))?;
    }
    for (i, log) in logs.iter().enumerate() {
        let mut bytes = backup_file::encode(&log.header, &log.payload);
        let sha = hex(&Sha256::digest(&bytes));
        let mut note = None;
        let damaged = i == damaged_at && i >= copied;
        match scenario {
            Scenario::CorruptFile | Scenario::CorruptNoChecksum if damaged => {
                let at = bytes.len() - 100;
                bytes[at] ^= 0x40;
                note = Some(format!(
                    "payload byte changed after the backup was written (sha256 at write time {sha}){}",
                    if log.header.has_backup_checksums { "" } else { "; written without backup checksums" }
                ));
            }
            Scenario::UnreadableHeader if damaged => {
                bytes[20] ^= 0x40;
                note = Some(format!(
                    "header bytes damaged after the backup was written (sha256 at write time {sha})"
                ));
            }
            _ => {}
        }
        // Retention on the share deletes the oldest files first; with missing-file the copy
        // job lagged so far behind that one of them had never been copied.
        let in_share = missing.is_none_or(|m| i > m);
        let in_dest = i < copied;
        match missing {
            Some(m) if i == m => {
                note = Some("deleted from the share by retention (oldest first) before the copy job copied it".into());
                write_synced(&crate::recoverable_dir(dir).join(&log.name), &bytes)?;
            }
            Some(m) if i < m => {
                note = Some(
                    "deleted from the share by retention (oldest first) after it was copied".into(),
                );
            }
            _ => {}
        }
        if (restored..applied).contains(&i) {
            note = Some("restored by hand before the failover tool was started".into());
        }
        if scenario == Scenario::KilledRestore && i == restored {
            note = Some("the restore job was killed while restoring it: the database is left in the middle of this restore".into());
        }
        if in_share {
            write_synced(&share.join(&log.name), &bytes)?;
        }
        if in_dest {
            write_synced(&dest.join(&log.name), &bytes)?;
        }
        tx.execute(
            "INSERT INTO backup_files VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                log.name,
                log.header.server_name,
                log.header.first().to_i64(),
                log.header.last().to_i64(),
                sha,
                bytes.len() as i64,
                in_share as i64,
                in_dest as i64,
                (i < applied) as i64,
                note
            ],
        )?;
    }
    if scenario.standby() {
        // The undo file a STANDBY restore keeps beside the copied logs.
        let undo = format!(
            "{}_{}.tuf",
            names::DB,
            stamp(base + restored as i64 * 15 * 60 + 5 * 60).1
        );
        write_synced(&dest.join(undo), b"RLSIMTUF")?;
    }
    tx.commit()?;
    if scenario == Scenario::ShareUnreachable {
        // The share lived in the failed data center: its path no longer resolves.
        fs::rename(&share, crate::unreachable_share_dir(dir))?;
    }
    crate::write_instances(dir, &instances)?;
    Ok(instances)
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Lowercase hex of bytes. The simulator stands for the systems runledger drives and depends
/// on no runledger crate, so it keeps this one-liner rather than borrow the verifier's.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
