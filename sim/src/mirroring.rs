//! Database mirroring between the simulated backup instance and its mirror, as
//! `Install-CsMirrorDatabase` establishes it and `ALTER DATABASE … SET PARTNER OFF` removes it.
//!
//! Only what `sys.database_mirroring`, `sys.database_mirroring_endpoints` and `sys.databases`
//! show is modelled: endpoints, roles, states, partners. There is no log stream between the
//! two: a new session is SYNCHRONIZING until the mirror has caught up, which the server's
//! background tick declares after [`SYNC_MS`].

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, Transaction};

/// How long a new mirroring session stays SYNCHRONIZING before it is SYNCHRONIZED.
pub const SYNC_MS: i64 = 150;

/// The mirroring endpoint's port, as `Install-CsMirrorDatabase` creates it by default.
pub const ENDPOINT_PORT: i64 = 5022;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Creates the database-mirroring endpoint on `instance` unless it has one; returns whether it
/// was created.
pub fn ensure_endpoint(tx: &Transaction<'_>, instance: &str) -> rusqlite::Result<bool> {
    let existing: i64 = tx.query_row(
        "SELECT COUNT(*) FROM endpoints WHERE instance = ?1",
        [instance],
        |r| r.get(0),
    )?;
    if existing > 0 {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO endpoints (instance, name, endpoint_id, port, state_desc, role_desc) VALUES (?1, 'Mirroring', 65536, ?2, 'STARTED', 'ALL')",
        params![instance, ENDPOINT_PORT],
    )?;
    Ok(true)
}

/// Called by `serve` periodically: a mirroring session whose mirror has caught up becomes
/// SYNCHRONIZED on both partners.
pub fn tick(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE databases SET mirroring_state_desc = 'SYNCHRONIZED', mirroring_synchronized_at_ms = NULL
         WHERE mirroring_state_desc = 'SYNCHRONIZING' AND mirroring_synchronized_at_ms <= ?1",
        [now_ms()],
    )?;
    Ok(())
}

/// Why mirroring could not be established.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// The principal database is missing, not ONLINE or not in FULL recovery.
    #[error("{0}")]
    Principal(String),
    /// The mirror already holds the database and dropping it was not asked for.
    #[error("{0}")]
    MirrorHasDatabase(String),
    /// The store failed.
    #[error("state store: {0}")]
    Store(#[from] rusqlite::Error),
}

/// Makes `db` on `principal` the principal of a mirroring session with `mirror`.
pub fn establish(
    tx: &Transaction<'_>,
    principal: (&str, &str),
    mirror: (&str, &str),
    db: &str,
    drop_existing: bool,
) -> Result<(), MirrorError> {
    let (p_instance, p_fqdn) = principal;
    let (m_instance, m_fqdn) = mirror;
    let row: Option<(String, String, String, Option<String>, i64)> = tx
        .query_row(
            "SELECT name, state_desc, recovery_model_desc, family_guid, is_in_standby FROM databases WHERE instance = ?1 AND name = ?2",
            params![p_instance, db],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let Some((name, mut st, model, family, standby)) = row else {
        return Err(MirrorError::Principal(format!(
            "database {db} does not exist on {p_fqdn}"
        )));
    };
    if standby != 0 {
        st.push_str(" (STANDBY, read-only)");
    }
    if st != "ONLINE" || model != "FULL" {
        return Err(MirrorError::Principal(format!(
            "database {name} on {p_fqdn} is {st} with recovery model {model}; mirroring needs an ONLINE database in FULL recovery"
        )));
    }
    let existing: i64 = tx.query_row(
        "SELECT COUNT(*) FROM databases WHERE instance = ?1 AND name = ?2",
        params![m_instance, name],
        |r| r.get(0),
    )?;
    if existing > 0 {
        if !drop_existing {
            return Err(MirrorError::MirrorHasDatabase(format!(
                "database {name} already exists on the mirror {m_fqdn}; use -DropExistingDatabasesOnMirror to replace it"
            )));
        }
        tx.execute(
            "DELETE FROM databases WHERE instance = ?1 AND name = ?2",
            params![m_instance, name],
        )?;
    }
    let guid = crate::state::guid();
    let next_id: i64 = tx.query_row(
        "SELECT COALESCE(MAX(database_id), 4) + 1 FROM databases WHERE instance = ?1",
        [m_instance],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO databases (instance, database_id, name, state_desc, create_date, family_guid, mirroring_guid,
           mirroring_role_desc, mirroring_state_desc, mirroring_partner_name, mirroring_partner_instance,
           mirroring_witness_name, mirroring_safety_level_desc)
         VALUES (?1, ?2, ?3, 'RESTORING', ?4, ?5, ?6, 'MIRROR', 'SYNCHRONIZING', ?7, ?8, '', 'FULL')",
        params![m_instance, next_id, name, crate::state::now_sql(), family, guid, format!("TCP://{p_fqdn}:{ENDPOINT_PORT}"), p_instance_name(tx, p_instance)?],
    )?;
    tx.execute(
        "UPDATE databases SET mirroring_guid = ?3, mirroring_role_desc = 'PRINCIPAL', mirroring_state_desc = 'SYNCHRONIZING',
           mirroring_partner_name = ?4, mirroring_partner_instance = ?5, mirroring_witness_name = '',
           mirroring_safety_level_desc = 'FULL'
         WHERE instance = ?1 AND name = ?2",
        params![p_instance, name, guid, format!("TCP://{m_fqdn}:{ENDPOINT_PORT}"), p_instance_name(tx, m_instance)?],
    )?;
    tx.execute(
        "UPDATE databases SET mirroring_synchronized_at_ms = ?2 WHERE mirroring_guid = ?1",
        params![guid, now_ms() + SYNC_MS],
    )?;
    Ok(())
}

fn p_instance_name(tx: &Transaction<'_>, instance: &str) -> rusqlite::Result<String> {
    tx.query_row(
        "SELECT server_name FROM instances WHERE name = ?1",
        [instance],
        |r| r.get(0),
    )
}

/// Removes mirroring of `db` on `instance` and on its partner.
pub fn remove_partner(tx: &Transaction<'_>, instance: &str, db: &str) -> rusqlite::Result<()> {
    let guid: Option<String> = tx
        .query_row(
            "SELECT mirroring_guid FROM databases WHERE instance = ?1 AND name = ?2",
            params![instance, db],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    let clear = "UPDATE databases SET mirroring_guid = NULL, mirroring_role_desc = NULL, mirroring_state_desc = NULL,
        mirroring_partner_name = NULL, mirroring_partner_instance = NULL, mirroring_witness_name = NULL,
        mirroring_safety_level_desc = NULL";
    if let Some(g) = guid {
        tx.execute(&format!("{clear} WHERE mirroring_guid = ?1"), [g])?;
    }
    Ok(())
}
