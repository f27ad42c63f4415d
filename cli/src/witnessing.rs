//! `--witness-policy`: journals witnessed through the site log, and `runledger site`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use runledger_engine::site::{self, Site, SiteError, Witnessed};
use runledger_verifier::terminal;
use runledger_verifier::witness_policy::Policy;

use crate::exit::Exit;
use crate::output::outln;

/// The witness options of `run`, `resume`, `drill` and `checkpoint`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WitnessArgs {
    /// Have the journal witnessed: seal it in the site log and submit the site checkpoint to
    /// the witnesses of this policy (Sigsum policy format); the evidence is written beside the
    /// journal as JOURNAL.witnessed.json.
    #[arg(long, value_name = "POLICY")]
    pub witness_policy: Option<PathBuf>,
    /// The site log folder (`runledger site init`) [default: $RUNLEDGER_SITE, else
    /// ~/.local/share/runledger/site].
    #[arg(long, value_name = "DIR", requires = "witness_policy")]
    pub site: Option<PathBuf>,
}

/// A policy read and a site log found, before anything runs.
pub struct Witnessing {
    policy: Policy,
    site: PathBuf,
}

impl WitnessArgs {
    /// Reads the policy and opens the site log, so that a bad policy or a missing site log is
    /// said before the run starts. None without `--witness-policy`.
    pub fn load(&self) -> Result<Option<Witnessing>> {
        let Some(path) = &self.witness_policy else {
            return Ok(None);
        };
        let policy = Policy::load(path)?;
        let site = site_dir(self.site.as_deref())?;
        Site::open(&site)?;
        Ok(Some(Witnessing { policy, site }))
    }
}

impl Witnessing {
    /// Witnesses the journal as it stands and says what the witnesses answered, one line each.
    /// True when their cosignatures meet the policy's quorum.
    pub fn witness(&self, journal: &Path) -> Result<bool, SiteError> {
        let witnessed = site::witness_journal(&self.site, journal, &self.policy)?;
        Ok(say(&witnessed, journal))
    }

    /// Holds the journal against its last seal without changing anything.
    pub fn hold(&self, journal: &Path) -> Result<(), SiteError> {
        Site::open(&self.site)?.hold(journal).map(|_| ())
    }
}

/// Prints what the witnesses said; true when the quorum is met.
fn say(w: &Witnessed, journal: &Path) -> bool {
    let s = &w.submitted;
    let line = |text: String| eprintln!("{}", terminal::line(&text));
    for failure in &s.failures {
        line(format!(
            "runledger: witness refused or unreachable: {failure}"
        ));
    }
    let events = w.seal.size;
    let cosigned = s
        .cosigned
        .iter()
        .map(|(w, t)| format!("{w} at {}", runledger_verifier::report::unix_rfc3339(*t)))
        .collect::<Vec<_>>()
        .join(", ");
    if s.quorum.met {
        line(format!(
            "witnessed: {events} events of {} sealed in site log entry {} (site log size {}); cosigned by {cosigned}; {}; evidence {}",
            journal.display(),
            s.size.saturating_sub(1),
            s.size,
            s.quorum.text,
            w.evidence.display()
        ));
    } else {
        line(format!(
            "runledger: NOT WITNESSED: {events} events of {} are sealed in the site log (size {}), but the witnesses' cosignatures do not meet the policy's quorum ({}){}; the journal is anchored on this host only. `runledger checkpoint --journal {} --witness-policy POLICY` submits it again",
            journal.display(),
            s.size,
            s.quorum.text,
            if cosigned.is_empty() {
                String::new()
            } else {
                format!("; cosigned by {cosigned}")
            },
            journal.display()
        ));
    }
    s.quorum.met
}

/// After a run, resume or drill: witnesses the journal when asked, and turns a done run that is
/// not witnessed into a failure (the operator asked for witnesses; a local-only anchor is not
/// what was asked). Other exits stand as they are; the witness lines say what happened.
pub fn after_run(witnessing: Option<&Witnessing>, journal: &Path, exit: Exit) -> Exit {
    let Some(w) = witnessing else {
        return exit;
    };
    let met = match w.witness(journal) {
        Ok(met) => met,
        Err(e) => {
            eprintln!(
                "runledger: NOT WITNESSED: {}",
                terminal::line(&e.to_string())
            );
            false
        }
    };
    if exit == Exit::Ok && !met {
        Exit::Failed
    } else {
        exit
    }
}

/// The site log folder given, or the default one.
fn site_dir(given: Option<&Path>) -> Result<PathBuf> {
    site::default_dir(given).context(
        "no site log folder: give --site DIR or set RUNLEDGER_SITE (no home folder to default to)",
    )
}

/// `runledger site init`.
pub fn init(dir: Option<&Path>, origin: &str, key: Option<&Path>) -> Result<Exit> {
    let dir = site_dir(dir)?;
    let created = Site::init(&dir, origin, key)?;
    let s = &created.site;
    outln!("site log      {}", dir.display())?;
    outln!("origin        {}", s.origin())?;
    if let Some(k) = &created.generated_key {
        outln!(
            "key           {} (generated; keep it with the site log)",
            k.display()
        )?;
    }
    print_config(s)
}

/// `runledger site show`.
pub fn show(dir: Option<&Path>) -> Result<Exit> {
    let dir = site_dir(dir)?;
    let s = Site::open(&dir)?;
    outln!("site log      {}", dir.display())?;
    outln!("origin        {}", s.origin())?;
    outln!("entries       {}", s.size()?)?;
    print_config(&s)
}

fn print_config(s: &Site) -> Result<Exit> {
    let public = s.key().key.verifying_key();
    outln!(
        "witness logs line (runledger witness serve --logs FILE): {}",
        s.witness_config_line()
    )?;
    outln!(
        "policy log line:  log {}",
        runledger_verifier::signing::hex(public.as_bytes())
    )?;
    Ok(Exit::Ok)
}
