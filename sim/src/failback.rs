//! The primary data center comes back, rebuilt, for the failback: a SQL instance `PRI`
//! (`@@SERVERNAME` PCSQL01) answers again, with the `mgc` that Topology Builder re-created
//! there — ONLINE, FULL recovery, empty of chat data, a new database with a backup family of
//! its own — and the server logins of the Lync groups (Windows groups keep their domain SIDs).
//!
//! It is one transaction with its history row (system `operator`), and it adds `PRI` to
//! `instances.json`; the running `serve` must be restarted to listen for it. With the scenario
//! `failback-primary-in-use`, a Persistent Chat server is still connected to the re-created
//! `mgc`, so that a restore over it fails with 3101 until that session is ended.

use std::path::Path;

use rusqlite::params;

use crate::datacenter::{names, Instance};
use crate::scenario::Scenario;
use crate::{state, SimError};

/// The instance name of the rebuilt primary.
pub const PRIMARY_INSTANCE: &str = "PRI";

/// The command recorded in the history.
const COMMAND: &str = "the primary data center is rebuilt (Topology Builder re-created mgc)";

/// Brings the primary data center back into the data center in `dir`; returns its instance.
/// Calling it again returns the instance already there.
pub fn primary_returns(dir: &Path) -> Result<Instance, SimError> {
    let path = crate::state_path(dir);
    if !path.exists() {
        return Err(SimError::NotInitialised(dir.to_path_buf()));
    }
    let mut instances = crate::read_instances(dir)?;
    if let Some(i) = instances.iter().find(|i| i.name == PRIMARY_INSTANCE) {
        return Ok(i.clone());
    }
    let mut conn = state::open(&path)?;
    let scenario: Scenario = state::meta(&conn, "scenario")?
        .and_then(|s| s.parse().ok())
        .unwrap_or(Scenario::Normal);
    let bak = instances
        .iter()
        .find(|i| i.name == "BAK")
        .cloned()
        .ok_or_else(|| SimError::Invalid("the data center has no BAK instance".into()))?;
    let port = crate::datacenter::free_port()?;
    let instance = Instance {
        name: PRIMARY_INSTANCE.into(),
        host: bak.host.clone(),
        port,
        user: bak.user.clone(),
        password: bak.password.clone(),
    };
    let fqdn = crate::datacenter::fqdn(names::PRIMARY);
    let tx = state::write_tx(&mut conn)?;
    crate::datacenter::add_instance(
        &tx,
        &instance,
        names::PRIMARY,
        "primary",
        true,
        &state::now_sql(),
    )?;
    // The same logins as the backup server: the SQL login of the drill, and the Lync groups
    // with their Windows SIDs (a group's SID is the domain's, the same on every server).
    tx.execute(
        "INSERT INTO server_principals (instance, principal_id, name, sid, type, type_desc, is_disabled, default_database_name)
         SELECT ?1, principal_id, name, sid, type, type_desc, is_disabled, default_database_name FROM server_principals WHERE instance = 'BAK'",
        [PRIMARY_INSTANCE],
    )?;
    // mgc as Topology Builder leaves it: a new, empty database with its schema.
    let family = state::guid();
    tx.execute(
        "INSERT INTO databases (instance, database_id, name, state_desc, recovery_model_desc, create_date, family_guid) VALUES (?1, 5, ?2, 'ONLINE', 'FULL', ?3, ?4)",
        params![PRIMARY_INSTANCE, names::DB, state::now_sql(), family],
    )?;
    for (id, name, sid, ty, desc) in [
        (1, "dbo", vec![1u8], "S", "SQL_USER"),
        (2, "guest", vec![0u8], "S", "SQL_USER"),
    ] {
        tx.execute(
            "INSERT INTO database_principals (instance, database_name, principal_id, name, sid, type, type_desc, default_schema_name) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'dbo')",
            params![PRIMARY_INSTANCE, names::DB, id, name, sid, ty, desc],
        )?;
    }
    tx.execute(
        "INSERT INTO objects (instance, database_name, object_id, name, schema_id, type, type_desc, create_date)
         SELECT ?1, database_name, object_id, name, schema_id, type, type_desc, ?2 FROM objects WHERE instance = 'BAK' AND database_name = ?3",
        params![PRIMARY_INSTANCE, state::now_sql(), names::DB],
    )?;
    let mut effect = format!(
        "SQL Server {fqdn} ({PRIMARY_INSTANCE}) answers again, rebuilt; mgc re-created by Topology Builder: ONLINE, FULL recovery, empty (backup family {family})"
    );
    if scenario == Scenario::FailbackPrimaryInUse {
        let spid = crate::server::next_spid(&tx)?;
        tx.execute(
            "INSERT INTO sessions (instance, session_id, kind, login_name, host_name, program_name, database_name, status, is_user_process, login_time, job_id)
             VALUES (?1, ?2, 'simulated', 'CONTOSO\\PC01$', 'PC01', 'Persistent Chat Server - channel service', ?3, 'sleeping', 1, ?4, NULL)",
            params![PRIMARY_INSTANCE, spid, names::DB, state::now_sql()],
        )?;
        effect.push_str(&format!(
            "; the Persistent Chat server pc01 holds a session ({spid}) in mgc"
        ));
    }
    state::record(&tx, "operator", None, COMMAND, &effect)?;
    tx.commit()?;
    instances.push(instance.clone());
    crate::write_instances(dir, &instances)?;
    Ok(instance)
}
