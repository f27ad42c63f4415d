//! `runledger sim heal`: the outage a scenario staged ends — the backup share answers again, a
//! missing log backup is found and put back on the share, the Central Management Store and
//! the backup store's mirror answer again.
//!
//! It is how a drill rehearses "the share came back: resume". Each repair is one transaction
//! with its row in the history (system `operator`), so the record shows what changed between
//! the halt and the resume. Damage to a file's bytes is never healed: that is a loss the
//! operator must decide on. Healing works whether or not `serve` runs.

use std::fs;
use std::path::Path;

use crate::{state, SimError};

/// The command recorded in the history for every repair.
const COMMAND: &str = "runledger sim heal";

/// Repairs what the scenario of the data center in `dir` made unreachable or missing; returns
/// one line per repair (empty when there was nothing to heal).
pub fn heal(dir: &Path) -> Result<Vec<String>, SimError> {
    let path = crate::state_path(dir);
    if !path.exists() {
        return Err(SimError::NotInitialised(dir.to_path_buf()));
    }
    let mut conn = state::open(&path)?;
    let mut done = Vec::new();
    let names = &crate::datacenter::names::SHARE_UNC;

    let share = crate::share_dir(dir);
    let away = crate::unreachable_share_dir(dir);
    if away.is_dir() && !share.exists() {
        let tx = state::write_tx(&mut conn)?;
        fs::rename(&away, &share)?;
        let effect = format!("backup share {names} reachable again");
        state::record(&tx, "operator", None, COMMAND, &effect)?;
        tx.commit()?;
        done.push(effect);
    }

    let found = crate::recoverable_dir(dir);
    if found.is_dir() && share.is_dir() {
        let mut files: Vec<_> = fs::read_dir(&found)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tx = state::write_tx(&mut conn)?;
            let bytes = fs::read(&file)?;
            let mut out = fs::File::create(share.join(&name))?;
            std::io::Write::write_all(&mut out, &bytes)?;
            out.sync_all()?;
            fs::remove_file(&file)?;
            tx.execute(
                "UPDATE backup_files SET in_share = 1, note = COALESCE(note || '; ', '') || 'found and put back on the share by runledger sim heal' WHERE name = ?1",
                [&name],
            )?;
            let effect = format!("log backup {name} found and put back on the share {names}");
            state::record(&tx, "operator", None, COMMAND, &effect)?;
            tx.commit()?;
            done.push(effect);
        }
    }

    let tx = state::write_tx(&mut conn)?;
    let cms: Option<String> = tx
        .query_row(
            "SELECT cms_fqdn FROM pool WHERE cms_reachable = 0",
            [],
            |r| r.get(0),
        )
        .ok();
    if let Some(cms) = cms {
        tx.execute("UPDATE pool SET cms_reachable = 1", [])?;
        let effect = format!("Central Management Store {cms} reachable again");
        state::record(&tx, "operator", None, COMMAND, &effect)?;
        done.push(effect);
    }
    let down: Vec<(String, String)> = {
        let mut stmt =
            tx.prepare("SELECT name, fqdn FROM instances WHERE reachable = 0 ORDER BY name")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (name, fqdn) in down {
        tx.execute(
            "UPDATE instances SET reachable = 1 WHERE name = ?1",
            [&name],
        )?;
        let effect = format!("SQL Server {fqdn} ({name}) answers again");
        state::record(&tx, "operator", None, COMMAND, &effect)?;
        done.push(effect);
    }
    tx.commit()?;
    Ok(done)
}
