//! `runledger witness serve` and `runledger witness vkey`: a C2SP tlog-witness for the logs of
//! others, and the key line a policy file names it by.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use runledger_engine::keyfile;
use runledger_engine::witness::server::{Config, Logs, Server};
use runledger_verifier::cosignature::WitnessKey;
use runledger_verifier::keys::TrustedKeys;
use runledger_verifier::signing::hex;
use runledger_verifier::terminal;

use crate::cli::WitnessCommand;
use crate::exit::Exit;
use crate::output::outln;

/// Runs one `witness` subcommand.
pub fn run(command: WitnessCommand) -> Result<Exit> {
    match command {
        WitnessCommand::Serve {
            listen,
            key,
            state,
            logs,
            threads,
        } => serve(&listen, &key, &state, &logs, threads),
        WitnessCommand::Vkey { key, url } => vkey(&key, url.as_deref()),
    }
}

fn serve(listen: &str, key: &Path, state: &Path, logs: &Path, threads: usize) -> Result<Exit> {
    let key = keyfile::load(key)?;
    let logs = Logs::load(logs)?;
    let count = logs.len();
    let name = key.name.clone();
    let server = Server::bind(
        listen,
        Config {
            key,
            state: state.to_path_buf(),
            logs,
            threads,
        },
    )?;
    let addr = server
        .addr()
        .map_or_else(|| listen.to_string(), |a| a.to_string());
    eprintln!(
        "{}",
        terminal::line(&format!(
            "witness {name} cosigning {count} log(s) on http://{addr}/add-checkpoint, state {}",
            state.display()
        ))
    );
    server.run()?;
    Ok(Exit::Ok)
}

fn vkey(path: &Path, url: Option<&str>) -> Result<Exit> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    let witness = if text.starts_with("PRIVATE+KEY+") {
        let key = keyfile::load(path)?;
        WitnessKey {
            name: key.name,
            key: key.key.verifying_key(),
        }
    } else {
        let keys = TrustedKeys::parse(&text, &path.display().to_string())?;
        let mut iter = keys.iter();
        match (iter.next(), iter.next()) {
            (Some(k), None) => WitnessKey {
                name: k.name.clone(),
                key: k.key,
            },
            _ => bail!(
                "{}: expected one key (a private key file or its .pub line)",
                path.display()
            ),
        }
    };
    let mut policy = format!("witness {} {}", witness.name, hex(witness.key.as_bytes()));
    if let Some(url) = url {
        if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            bail!("--url {url:?}: expected a URL without spaces (a policy line is split on them)");
        }
        policy.push(' ');
        policy.push_str(url);
    }
    outln!("# C2SP vkey (cosignature/v1)")?;
    outln!("{}", witness.vkey())?;
    outln!("# policy file line")?;
    outln!("{policy}")?;
    Ok(Exit::Ok)
}
