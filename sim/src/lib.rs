//! The drill data center: a simulated backup SQL Server reachable over TDS on loopback and a
//! simulated Lync Management Shell, with their state in SQLite.
//!
//! Layout of a drill directory `DIR` (docs/drill.md): `DIR/sim/state.db` (the state),
//! `DIR/sim/share/` (the backup share the primary wrote to), `DIR/sim/dest/` (the copy
//! destination on the backup server) and `DIR/sim/instances.json` (how to reach each
//! simulated SQL instance); `DIR/sim/ca.pem`, `server.pem` and `server.key` are the
//! certificates of the server's TLS (certs.rs).
//!
//! Entry points: [`init`] builds a data center, [`serve`] runs its SQL instances until the
//! process is killed ([`start`] runs them in the background and returns a handle), [`status`]
//! reads the state and the history of state-changing commands, [`shell::run_line`] runs
//! one Lync Management Shell cmdlet line, and [`heal`] undoes what a scenario broke.
#![deny(missing_docs)]

pub mod agent;
pub mod backup_file;
pub mod certs;
pub mod datacenter;
pub mod failback;
pub mod heal;
pub mod lsn;
pub mod mirroring;
pub mod paths;
pub mod scenario;
pub mod server;
pub mod shell;
pub mod sql;
pub mod state;
pub mod status;
pub mod tds;

use std::path::{Path, PathBuf};

pub use datacenter::{init, InitOptions, Instance};
pub use failback::primary_returns;
pub use heal::heal;
pub use scenario::Scenario;
pub use server::{start, ServerHandle};
pub use status::{status, Status};

/// Errors of the simulator's library functions.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// `DIR/sim` holds no data center yet.
    #[error("no simulated data center in {0}: run `runledger sim init` first")]
    NotInitialised(PathBuf),
    /// `DIR/sim` already holds one.
    #[error("a simulated data center already exists in {0}")]
    AlreadyInitialised(PathBuf),
    /// A bad option value.
    #[error("{0}")]
    Invalid(String),
    /// A port could not be bound.
    #[error("failed to listen for instance {instance} on port {port} (is `runledger sim serve` already running?): {source}")]
    Listen {
        /// Instance name.
        instance: String,
        /// The loopback port instances.json gives it.
        port: u16,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The drill's TLS certificate could not be made or loaded.
    #[error("tls certificate {path}: {reason}")]
    Certificate {
        /// The file concerned.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A file system error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The state store failed.
    #[error("state store: {0}")]
    Store(#[from] rusqlite::Error),
    /// JSON encoding or decoding failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// `DIR/sim`.
pub fn sim_dir(dir: &Path) -> PathBuf {
    dir.join("sim")
}

/// `DIR/sim/state.db`.
pub fn state_path(dir: &Path) -> PathBuf {
    sim_dir(dir).join("state.db")
}

/// `DIR/sim/instances.json`.
pub fn instances_path(dir: &Path) -> PathBuf {
    sim_dir(dir).join("instances.json")
}

/// `DIR/sim/share`: the backup share.
pub fn share_dir(dir: &Path) -> PathBuf {
    sim_dir(dir).join("share")
}

/// `DIR/sim/dest`: the copy destination folder.
pub fn dest_dir(dir: &Path) -> PathBuf {
    sim_dir(dir).join("dest")
}

/// `DIR/sim/mirror-share`: the share `Install-CsMirrorDatabase` exports and imports through.
pub fn mirror_share_dir(dir: &Path) -> PathBuf {
    sim_dir(dir).join("mirror-share")
}

/// `DIR/sim/share-unreachable`: where the share's files wait while the scenario makes the
/// share unreachable (`runledger sim heal` puts them back).
pub fn unreachable_share_dir(dir: &Path) -> PathBuf {
    sim_dir(dir).join("share-unreachable")
}

/// `DIR/sim/recoverable`: copies of log backups the scenario deleted from the share, which
/// `runledger sim heal` puts back (as when a missing file is found elsewhere).
pub fn recoverable_dir(dir: &Path) -> PathBuf {
    sim_dir(dir).join("recoverable")
}

/// `DIR/sim/ca.pem`: the certificate of the CA that signed the simulated server's certificate,
/// the one a drill pins.
pub fn ca_path(dir: &Path) -> PathBuf {
    sim_dir(dir).join(certs::CA_FILE)
}

/// Runs every simulated SQL instance of `dir` until the process is killed.
pub fn serve(dir: &Path) -> Result<(), SimError> {
    let handle = start(dir)?;
    for (name, addr) in &handle.addrs {
        eprintln!("runledger sim: instance {name} listening on {addr}");
    }
    handle.wait();
    Ok(())
}

/// Reads `DIR/sim/instances.json`.
pub fn read_instances(dir: &Path) -> Result<Vec<Instance>, SimError> {
    let path = instances_path(dir);
    let text =
        std::fs::read_to_string(&path).map_err(|_| SimError::NotInitialised(dir.to_path_buf()))?;
    Ok(serde_json::from_str(&text)?)
}

/// Writes `DIR/sim/instances.json`: to a file beside it, synced, then renamed over it, so that
/// a reader never sees it half-written and it survives the process being killed.
pub(crate) fn write_instances(dir: &Path, instances: &[Instance]) -> Result<(), SimError> {
    use std::io::Write;
    let json = serde_json::to_string_pretty(instances)?;
    let path = instances_path(dir);
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(json.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}
