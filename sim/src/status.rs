//! `runledger sim status`: the simulated state and the ordered history of every
//! state-changing command, read from the state file alone (the server need not run).

use std::path::Path;

use rusqlite::Connection;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{state, SimError};

/// The whole simulated state.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Status {
    /// Scenario name.
    pub scenario: String,
    /// The seed every generated name, LSN and byte came from.
    pub seed: u64,
    /// Milliseconds per restore.
    pub pace_ms: u64,
    /// SQL instances.
    pub instances: Vec<InstanceStatus>,
    /// The Persistent Chat pool as the CMS holds it.
    pub pool: PoolStatus,
    /// The log backup files.
    pub files: Vec<FileStatus>,
    /// Every state-changing command, in order.
    pub history: Vec<HistoryEntry>,
}

/// One SQL instance.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct InstanceStatus {
    /// `BAK` or `BAK-M`.
    pub name: String,
    /// `@@SERVERNAME`.
    pub server_name: String,
    /// Its FQDN in the topology.
    pub fqdn: String,
    /// Loopback port.
    pub port: u16,
    /// Whether the instance answers (a scenario can take it down; `sim heal` brings it back).
    pub reachable: bool,
    /// User databases.
    pub databases: Vec<DatabaseStatus>,
    /// Log-shipping secondary configuration (msdb).
    pub log_shipping: Vec<LogShippingStatus>,
    /// Agent jobs.
    pub jobs: Vec<JobStatus>,
    /// Sessions other than the simulator's own clients.
    pub sessions: Vec<SessionStatus>,
}

/// A user database.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DatabaseStatus {
    /// The database name, as in sys.databases.
    pub name: String,
    /// `state_desc`.
    pub state: String,
    /// `is_in_standby`: ONLINE read-only between two `RESTORE … WITH STANDBY`.
    pub is_in_standby: bool,
    /// `user_access_desc`.
    pub user_access: String,
    /// `redo_start_lsn` while restoring (decimal).
    pub redo_start_lsn: Option<String>,
    /// `PRINCIPAL`, `MIRROR` or none.
    pub mirroring_role: Option<String>,
    /// Mirroring state.
    pub mirroring_state: Option<String>,
    /// Mirroring partner.
    pub mirroring_partner: Option<String>,
    /// The backup file whose restore was stopped half-way (only that file may be restored
    /// next), or `recovery` when a recovery was.
    pub interrupted_restore: Option<String>,
}

/// A log-shipping secondary database and its configuration.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LogShippingStatus {
    /// Secondary database.
    pub secondary_database: String,
    /// Secondary id.
    pub secondary_id: String,
    /// Primary server.
    pub primary_server: Option<String>,
    /// The backup share.
    pub backup_source_directory: Option<String>,
    /// The copy destination.
    pub backup_destination_directory: Option<String>,
    /// Last file copied by the copy job.
    pub last_copied_file: Option<String>,
    /// Last file restored by the restore job.
    pub last_restored_file: Option<String>,
}

/// An agent job.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct JobStatus {
    /// Job name.
    pub name: String,
    /// Job id.
    pub job_id: String,
    /// Whether the Agent would start it on its schedule.
    pub enabled: bool,
    /// Running now.
    pub running: bool,
}

/// A session the scenario created (or a connected client).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SessionStatus {
    /// Session id.
    pub session_id: i64,
    /// `client`, `simulated` or `agent`.
    pub kind: String,
    /// Program name.
    pub program: Option<String>,
    /// Current database.
    pub database: Option<String>,
}

/// The pool.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PoolStatus {
    /// CMS identity.
    pub identity: String,
    /// Pool FQDN.
    pub fqdn: String,
    /// `Normal` or `FailedOver`.
    pub pool_state: String,
    /// Active servers.
    pub active_servers: Vec<String>,
    /// All servers with their site.
    pub servers: Vec<(String, String)>,
    /// Where the Central Management Store is.
    pub cms_fqdn: String,
    /// Whether the CMS can be reached.
    pub cms_reachable: bool,
}

/// A log backup file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FileStatus {
    /// File name.
    pub name: String,
    /// Which server wrote it.
    pub writer: String,
    /// FirstLSN.
    pub first_lsn: String,
    /// LastLSN.
    pub last_lsn: String,
    /// SHA-256 of the file as written.
    pub sha256: String,
    /// On the share at init.
    pub in_share: bool,
    /// In the copy destination at init.
    pub in_dest: bool,
    /// Restored into `mgc`.
    pub restored: bool,
    /// What the scenario did to it.
    pub note: Option<String>,
}

/// One state-changing command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HistoryEntry {
    /// Order of execution (1, 2, …).
    pub seq: i64,
    /// When (UTC).
    pub at: String,
    /// Which system executed it: an instance name or `cs-shell`.
    pub system: String,
    /// The SQL session, for SQL commands.
    pub session_id: Option<i64>,
    /// The command exactly as received.
    pub command: String,
    /// What it changed.
    pub effect: String,
}

fn rows<T>(
    conn: &Connection,
    sql: &str,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut stmt = conn.prepare(sql)?;
    let r = stmt.query_map([], f)?;
    r.collect()
}

/// Reads the status of the data center in `dir`.
pub fn status(dir: &Path) -> Result<Status, SimError> {
    let path = crate::state_path(dir);
    if !path.exists() {
        return Err(SimError::NotInitialised(dir.to_path_buf()));
    }
    let conn = state::open(&path)?;
    let meta = |k: &str| state::meta(&conn, k).map(Option::unwrap_or_default);
    let mut instances = rows(
        &conn,
        "SELECT name, server_name, fqdn, port, reachable FROM instances ORDER BY name",
        |r| {
            Ok(InstanceStatus {
                name: r.get(0)?,
                server_name: r.get(1)?,
                fqdn: r.get(2)?,
                port: r.get(3)?,
                reachable: r.get::<_, i64>(4)? != 0,
                databases: vec![],
                log_shipping: vec![],
                jobs: vec![],
                sessions: vec![],
            })
        },
    )?;
    for i in &mut instances {
        let q = |sql: &str| sql.replace("{I}", &i.name.replace('\'', "''"));
        i.databases = rows(&conn, &q("SELECT name, state_desc, user_access_desc, redo_start_lsn, mirroring_role_desc, mirroring_state_desc, mirroring_partner_instance, is_in_standby, interrupted_restore FROM databases WHERE instance = '{I}' AND database_id > 4 ORDER BY database_id"), |r| {
            let interrupted: Option<String> = r.get(8)?;
            Ok(DatabaseStatus {
                name: r.get(0)?,
                state: r.get(1)?,
                is_in_standby: r.get::<_, i64>(7)? != 0,
                user_access: r.get(2)?,
                redo_start_lsn: r.get::<_, Option<i64>>(3)?.map(|l| l.to_string()),
                mirroring_role: r.get(4)?,
                mirroring_state: r.get(5)?,
                mirroring_partner: r.get(6)?,
                interrupted_restore: interrupted.and_then(|j| {
                    match serde_json::from_str(&j).ok()? {
                        crate::sql::restore::Interrupted::Log { file, .. } => Some(file),
                        crate::sql::restore::Interrupted::Recovery => Some("recovery".into()),
                    }
                }),
            })
        })?;
        i.log_shipping = rows(&conn, &q("SELECT d.secondary_database, d.secondary_id, s.primary_server, s.backup_source_directory, s.backup_destination_directory, s.last_copied_file, d.last_restored_file
             FROM log_shipping_secondary_databases d LEFT JOIN log_shipping_secondary s ON s.instance = d.instance AND s.secondary_id = d.secondary_id WHERE d.instance = '{I}'"), |r| {
            Ok(LogShippingStatus { secondary_database: r.get(0)?, secondary_id: r.get(1)?, primary_server: r.get(2)?, backup_source_directory: r.get(3)?, backup_destination_directory: r.get(4)?, last_copied_file: r.get(5)?, last_restored_file: r.get(6)? })
        })?;
        i.jobs = rows(&conn, &q("SELECT name, job_id, enabled, EXISTS (SELECT 1 FROM sysjobactivity a WHERE a.instance = j.instance AND a.job_id = j.job_id AND a.start_execution_date IS NOT NULL AND a.stop_execution_date IS NULL) FROM sysjobs j WHERE instance = '{I}' ORDER BY name"), |r| {
            Ok(JobStatus { name: r.get(0)?, job_id: r.get(1)?, enabled: r.get::<_, i64>(2)? != 0, running: r.get(3)? })
        })?;
        i.sessions = rows(&conn, &q("SELECT session_id, kind, program_name, database_name FROM sessions WHERE instance = '{I}' ORDER BY session_id"), |r| {
            Ok(SessionStatus { session_id: r.get(0)?, kind: r.get(1)?, program: r.get(2)?, database: r.get(3)? })
        })?;
    }
    let mut pool = conn.query_row(
        "SELECT identity, fqdn, pool_state, active_servers, cms_reachable, cms_fqdn FROM pool",
        [],
        |r| {
            let active: String = r.get(3)?;
            Ok(PoolStatus {
                identity: r.get(0)?,
                fqdn: r.get(1)?,
                pool_state: r.get(2)?,
                active_servers: serde_json::from_str(&active).unwrap_or_default(),
                servers: vec![],
                cms_fqdn: r.get(5)?,
                cms_reachable: r.get::<_, i64>(4)? != 0,
            })
        },
    )?;
    pool.servers = rows(
        &conn,
        "SELECT fqdn, site FROM pool_servers ORDER BY fqdn",
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let files = rows(&conn, "SELECT name, writer, first_lsn, last_lsn, sha256, in_share, in_dest, restored, note FROM backup_files ORDER BY first_lsn", |r| {
        Ok(FileStatus {
            name: r.get(0)?,
            writer: r.get(1)?,
            first_lsn: r.get::<_, i64>(2)?.to_string(),
            last_lsn: r.get::<_, i64>(3)?.to_string(),
            sha256: r.get(4)?,
            in_share: r.get::<_, i64>(5)? != 0,
            in_dest: r.get::<_, i64>(6)? != 0,
            restored: r.get::<_, i64>(7)? != 0,
            note: r.get(8)?,
        })
    })?;
    let history = rows(
        &conn,
        "SELECT seq, at, system, session_id, command, effect FROM history ORDER BY seq",
        |r| {
            Ok(HistoryEntry {
                seq: r.get(0)?,
                at: r.get(1)?,
                system: r.get(2)?,
                session_id: r.get(3)?,
                command: r.get(4)?,
                effect: r.get(5)?,
            })
        },
    )?;
    Ok(Status {
        scenario: meta("scenario")?,
        seed: meta("seed")?.parse().unwrap_or(0),
        pace_ms: meta("pace_ms")?.parse().unwrap_or(0),
        instances,
        pool,
        files,
        history,
    })
}

impl Status {
    /// The human-readable form of `runledger sim status`.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "scenario {} (seed {}, pace {} ms)",
            self.scenario, self.seed, self.pace_ms
        );
        for i in &self.instances {
            let _ = writeln!(
                s,
                "\ninstance {} ({}, {}) on 127.0.0.1:{}{}",
                i.name,
                i.server_name,
                i.fqdn,
                i.port,
                if i.reachable { "" } else { " — DOWN" }
            );
            for d in &i.databases {
                let _ = writeln!(
                    s,
                    "  database {}: {}{} {}{}{}{}",
                    d.name,
                    d.state,
                    if d.is_in_standby { " (STANDBY)" } else { "" },
                    d.user_access,
                    d.redo_start_lsn
                        .as_ref()
                        .map(|l| format!(", redo_start_lsn {l}"))
                        .unwrap_or_default(),
                    d.mirroring_role
                        .as_ref()
                        .map(|r| format!(
                            ", mirroring {r} {} with {}",
                            d.mirroring_state.clone().unwrap_or_default(),
                            d.mirroring_partner.clone().unwrap_or_default()
                        ))
                        .unwrap_or_default(),
                    d.interrupted_restore
                        .as_ref()
                        .map(|f| format!(", in the middle of an interrupted restore of {f}"))
                        .unwrap_or_default()
                );
            }
            for l in &i.log_shipping {
                let _ = writeln!(
                    s,
                    "  log shipping: {} from {} (share {}, dest {})",
                    l.secondary_database,
                    l.primary_server.clone().unwrap_or_default(),
                    l.backup_source_directory.clone().unwrap_or_default(),
                    l.backup_destination_directory.clone().unwrap_or_default()
                );
            }
            for j in &i.jobs {
                let _ = writeln!(
                    s,
                    "  job {}: {}{}",
                    j.name,
                    if j.enabled { "enabled" } else { "disabled" },
                    if j.running { ", running" } else { "" }
                );
            }
            for x in &i.sessions {
                let _ = writeln!(
                    s,
                    "  session {} ({}): {} in {}",
                    x.session_id,
                    x.kind,
                    x.program.clone().unwrap_or_default(),
                    x.database.clone().unwrap_or_default()
                );
            }
        }
        let p = &self.pool;
        let _ = writeln!(
            s,
            "\npool {} ({}): {}; active servers: {}; CMS {} {}",
            p.fqdn,
            p.identity,
            p.pool_state,
            if p.active_servers.is_empty() {
                "(none)".into()
            } else {
                p.active_servers.join(", ")
            },
            p.cms_fqdn,
            if p.cms_reachable {
                "reachable"
            } else {
                "UNREACHABLE"
            }
        );
        let _ = writeln!(s, "\nfiles (in LSN order):");
        for f in &self.files {
            let _ = writeln!(
                s,
                "  {} by {}: LSN {}..{}{}{}{}{}",
                f.name,
                f.writer,
                f.first_lsn,
                f.last_lsn,
                if f.in_share { ", share" } else { "" },
                if f.in_dest { ", dest" } else { "" },
                if f.restored { ", restored" } else { "" },
                f.note
                    .as_ref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(
            s,
            "\nhistory ({} state-changing commands):",
            self.history.len()
        );
        for h in &self.history {
            let _ = writeln!(
                s,
                "  {:>3} {} {}{}: {}\n      -> {}",
                h.seq,
                h.at,
                h.system,
                h.session_id
                    .map(|x| format!(" spid {x}"))
                    .unwrap_or_default(),
                h.command.replace('\n', " "),
                h.effect
            );
        }
        s
    }
}

/// The JSON Schema of `runledger sim status --json` (`schemas/sim-status.schema.json`):
/// generated from these types, which are what the command prints, so that a script reading
/// the status, its `history` included, has a contract that cannot drift.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Status)).unwrap_or_default()
}
