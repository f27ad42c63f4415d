//! `runledger drill`: the whole failover rehearsed on one machine (docs/drill.md).
//!
//! It builds the simulated data center in DIR, starts the simulated SQL Server as its own
//! process (`runledger sim serve DIR`) so that the engine can die while the "server" stays up,
//! writes the runbook as run (the built-in runbook with its targets pointing at the simulated
//! instances), a fresh key, then runs the real engine, verifies the journal, and says where
//! everything is. The drill replaces the remote systems, never the engine's adapters.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use runledger_engine::fault::Fault;
use runledger_engine::keyfile;
use runledger_engine::runbook;
use runledger_verifier::event::ActionKind;
use runledger_verifier::keys::TrustedKeys;
use runledger_verifier::terminal;
use runledger_verifier::{verify, Options};

use crate::exit::Exit;
use crate::output::outln;

/// The drill's options.
#[derive(Debug, Clone, clap::Args)]
pub struct DrillArgs {
    /// The drill directory [default: a new temporary directory, kept].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Log backups the primary wrote.
    #[arg(long, default_value_t = 12)]
    pub logs: usize,
    /// Seed of the simulated data center.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value = "normal", help = runledger_sim::scenario::HELP)]
    pub scenario: String,
    /// Milliseconds every simulated restore and copy takes.
    #[arg(long, default_value_t = 0)]
    pub pace: u64,
    /// Stop the engine abruptly after this many journal events (then `runledger resume`).
    #[arg(long)]
    pub crash_after_events: Option<u64>,
    /// Faults to inject (crash tests), as for `run`.
    #[arg(long = "inject-fault", value_name = "FAULT", hide = true)]
    pub inject_fault: Vec<runledger_engine::fault::Fault>,
    #[command(flatten)]
    pub witness: crate::witnessing::WitnessArgs,
    /// After the failover, bring the primary data center back rebuilt and run the built-in
    /// failback against the same simulated data center (its journal in DIR/failback/).
    #[arg(long)]
    pub round_trip: bool,
    /// Faults to inject into the failback of a round trip (crash tests), as for `run`; then
    /// `runledger resume --journal DIR/failback/journal.db`.
    #[arg(long = "failback-inject-fault", value_name = "FAULT", hide = true)]
    pub failback_inject_fault: Vec<runledger_engine::fault::Fault>,
    /// A time-stamping authority (RFC 3161, HTTP): each checkpoint written gets its token
    /// beside it (`.tsr`); when it fails the drill warns and goes on.
    #[arg(long, value_name = "URL")]
    pub tsa: Option<String>,
}

/// A simulated SQL instance as the drill's runbook reaches it.
pub struct DrillTarget<'a> {
    /// The simulated instance.
    pub instance: &'a runledger_sim::Instance,
    /// The file holding its password (owner-only).
    pub password_file: &'a Path,
}

/// The built-in runbook with its site values pointing at the simulated data center: the backup
/// store (BAK) and its mirror (BAK-M), the folders as this host reaches them, the simulated shell.
pub fn drill_runbook(
    dir: &Path,
    backup: &DrillTarget<'_>,
    mirror: &DrillTarget<'_>,
    exe: &Path,
) -> Result<String> {
    let source =
        runbook::built_in("persistent-chat-failover").expect("the flagship runbook is built in");
    Ok(site_runbook(
        source,
        dir,
        &[("backup", backup), ("mirror", mirror)],
        // The simulated SQL Server names the share and the destination as the shipped runbook
        // does; this host reaches them as folders of the drill directory (kind local_path, as
        // declared in the shipped runbook).
        &[
            ("share_local", runledger_sim::share_dir(dir)),
            ("destination_local", runledger_sim::dest_dir(dir)),
        ],
        exe,
        "# Drill copy of the built-in runbook: targets point at the simulated data center in this directory.\n",
    ))
}

/// The simulated server running as a child process; killed when dropped unless released.
struct Server(Option<Child>, PathBuf);

impl Server {
    fn start(exe: &Path, dir: &Path) -> Result<Server> {
        let log = std::fs::File::create(runledger_sim::sim_dir(dir).join("serve.log"))?;
        let child = Command::new(exe)
            .args(["sim", "serve"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("cannot start `runledger sim serve`")?;
        Ok(Server(Some(child), dir.to_path_buf()))
    }

    fn release(mut self) {
        self.0.take();
    }

    fn pid(&self) -> Option<u32> {
        self.0.as_ref().map(Child::id)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_for_port(host: &str, port: u16) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if std::net::TcpStream::connect((host, port)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the simulated SQL Server did not listen on {host}:{port} within 20 s (see sim/serve.log)");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `runledger drill`.
pub fn drill(args: &DrillArgs) -> Result<Exit> {
    let started = Instant::now();
    let scenario: runledger_sim::Scenario =
        args.scenario.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            let t = tempfile::Builder::new()
                .prefix("runledger-drill-")
                .tempdir()?;
            t.keep()
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let journal = dir.join("journal.db");
    if journal.exists() {
        bail!(
            "{} already holds a journal; use a new --dir, or `runledger resume --journal {} --key {}`",
            dir.display(),
            journal.display(),
            dir.join("operator.key").display()
        );
    }
    let witnessing = args.witness.load()?;
    let exe = std::env::current_exe().context("cannot find the runledger binary")?;
    let instances = runledger_sim::init(
        &dir,
        &runledger_sim::InitOptions {
            logs: args.logs,
            seed: args.seed,
            scenario,
            pace_ms: args.pace,
        },
    )?;
    let instance = |name: &str| {
        instances
            .iter()
            .find(|i| i.name == name)
            .with_context(|| format!("the simulated data center has no {name} instance"))
    };
    let (bak, bak_m) = (instance("BAK")?, instance("BAK-M")?);
    let password_file = runledger_sim::sim_dir(&dir).join("bak.password");
    write_private(&password_file, &format!("{}\n", bak.password))?;
    let mirror_password_file = runledger_sim::sim_dir(&dir).join("bak-m.password");
    write_private(&mirror_password_file, &format!("{}\n", bak_m.password))?;

    let key_path = dir.join("operator.key");
    if !key_path.exists() {
        keyfile::generate(&key_path, "drill-operator")?;
    }
    let runbook_path = dir.join("runbook.toml");
    std::fs::write(
        &runbook_path,
        drill_runbook(
            &dir,
            &DrillTarget {
                instance: bak,
                password_file: &password_file,
            },
            &DrillTarget {
                instance: bak_m,
                password_file: &mirror_password_file,
            },
            &exe,
        )?,
    )?;

    let server = Server::start(&exe, &dir)?;
    wait_for_port(&bak.host, bak.port)?;
    eprintln!(
        "drill in {} (scenario {}, {} logs, seed {})",
        dir.display(),
        args.scenario,
        args.logs,
        args.seed
    );

    let faults = args
        .inject_fault
        .iter()
        .copied()
        .chain(args.crash_after_events.map(Fault::CrashAfterEvents));
    let crash = args.crash_after_events.map(|n| {
        format!("the journal has fewer than {n} events: the run ended before the crash point")
    });
    let exit = match run_leg(
        server,
        &runbook_path,
        &journal,
        &key_path,
        faults,
        crash,
        args,
    )? {
        Leg::Ended(exit) => exit,
        Leg::Stopped(exit) => return Ok(exit),
    };
    let exit = crate::witnessing::after_run(witnessing.as_ref(), &journal, exit);
    summary(
        &dir,
        &journal,
        &key_path,
        started,
        args.witness.witness_policy.as_deref(),
    )?;
    if exit == Exit::Ok && (args.round_trip || scenario.round_trip()) {
        let backup = DrillTarget {
            instance: bak,
            password_file: &password_file,
        };
        let exit = failback_leg(&dir, &exe, &key_path, &backup, args)?;
        let failback = failback_dir(&dir).join("journal.db");
        if !failback.exists() {
            return Ok(exit);
        }
        return Ok(crate::witnessing::after_run(
            witnessing.as_ref(),
            &failback,
            exit,
        ));
    }
    Ok(exit)
}

/// How one leg of a drill ended.
enum Leg {
    /// The run ended (finished, halted, failed): summarise and report on its journal.
    Ended(Exit),
    /// Nothing more to say: a crash test ended as planned, or the journal is gone (its error
    /// line said why).
    Stopped(Exit),
}

/// Runs the runbook at `runbook` into `journal` against the simulated data center `server`
/// serves. With `crash` (a crash test, said when the run ends before its crash point) the
/// server outlives this process for `runledger resume`; otherwise Ctrl-C is watched, and the
/// server stops after a finished run or stays up for `runledger resume`.
fn run_leg(
    server: Server,
    runbook: &Path,
    journal: &Path,
    key_path: &Path,
    faults: impl IntoIterator<Item = Fault>,
    crash: Option<String>,
    args: &DrillArgs,
) -> Result<Leg> {
    let loaded = runbook::load(runbook)?;
    let opts = runledger_engine::run::RunOptions {
        journal: journal.to_path_buf(),
        key: keyfile::load(key_path)?.into(),
        policy: runledger_engine::dispatcher::ApprovalPolicy {
            operator: runledger_engine::run::operator_label(),
            ..Default::default()
        },
        ui: Box::new(crate::operate::Terminal),
        stop: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        pace_ms: args.pace,
        faults: runledger_engine::fault::FaultPlan::of(faults),
        checkpoints: Vec::new(),
        progress: Some(std::sync::Arc::new(crate::operate::Bars::default())),
        tsa: args.tsa.clone(),
    };
    let rt = crate::operate::runtime()?;
    if let Some(crash) = crash {
        // The server must outlive this process, as a real server outlives a dead laptop.
        server.release();
        let result = rt.block_on(runledger_engine::run::start(&loaded, opts));
        crate::operate::report(result, journal)?;
        eprintln!("{crash}");
        return Ok(Leg::Stopped(Exit::Ok));
    }
    crate::operate::watch_ctrl_c(&rt, opts.stop.clone());
    let result = rt.block_on(runledger_engine::run::start(&loaded, opts));
    let lost = crate::operate::journal_lost(&result);
    let exit = crate::operate::report(result, journal)?;
    if lost {
        return Ok(Leg::Stopped(exit));
    }
    if exit == Exit::Ok {
        drop(server);
    } else {
        // The run is open: the simulated data center stays up for `runledger resume`.
        if let Some(pid) = server.pid() {
            eprintln!(
                "the simulated data center stays up for `runledger resume --journal {} --key {}` (server pid {pid}; `kill {pid}` when done, `runledger sim serve {}` to restart it)",
                journal.display(),
                key_path.display(),
                server.1.display()
            );
        }
        server.release();
    }
    Ok(Leg::Ended(exit))
}

/// The failback's directory in a round trip: its journal, checkpoint, runbook and report.
pub fn failback_dir(dir: &Path) -> PathBuf {
    dir.join("failback")
}

/// A built-in runbook with its site values pointing at the simulated data center: each
/// `[targets.NAME]` given at a simulated instance (TLS required, the simulated site's CA
/// pinned), each `[parameters]` value named in `local_paths` at that folder (kind `local_path`,
/// made absolute: `--dir D` may be relative to where the drill was started), the shell at
/// `runledger sim cs-shell DIR`; `header` first, and `auto_approve` after the description.
fn site_runbook(
    source: &str,
    dir: &Path,
    targets: &[(&str, &DrillTarget<'_>)],
    local_paths: &[(&str, PathBuf)],
    exe: &Path,
    header: &str,
) -> String {
    let toml_str = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = String::from(header);
    let mut section = String::new();
    for line in source.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed.to_string();
        }
        let key = trimmed.split('=').next().unwrap_or("").trim();
        let target = targets
            .iter()
            .find(|(name, _)| section == format!("[targets.{name}]"))
            .map(|(_, t)| t);
        let local_path = local_paths
            .iter()
            .find(|(name, _)| section == "[parameters]" && *name == key)
            .map(|(_, p)| std::path::absolute(p).unwrap_or_else(|_| p.clone()));
        let replaced = match (target, section.as_str(), key) {
            _ if local_path.is_some() => local_path.map(|p| {
                format!(
                    "{key} = {{ kind = \"local_path\", value = {} }}",
                    toml_str(&p.display().to_string())
                )
            }),
            (Some(t), _, "host") => Some(format!("host = {}", toml_str(&t.instance.host))),
            (Some(t), _, "port") => Some(format!("port = {}", t.instance.port)),
            (Some(t), _, "auth") => Some(format!(
                "auth = \"sql\"\nuser = {}\npassword = {{ file = {} }}",
                toml_str(&t.instance.user),
                toml_str(&t.password_file.display().to_string())
            )),
            // The production connection path: TLS required, the simulated site's CA pinned
            // (tls-wrong-ca serves a certificate another CA signed).
            (Some(_), _, "encryption") => Some(format!(
                "encryption = \"required\"\ntrust_cert_ca = {}",
                toml_str(&runledger_sim::ca_path(dir).display().to_string())
            )),
            (None, "[shell]", "program") => Some(format!(
                "program = {}",
                toml_str(&exe.display().to_string())
            )),
            (None, "[shell]", "args") => Some(format!(
                "args = [\"sim\", \"cs-shell\", {}, \"-Command\"]",
                toml_str(&dir.display().to_string())
            )),
            _ => None,
        };
        out.push_str(replaced.as_deref().unwrap_or(line));
        out.push('\n');
        if trimmed.starts_with("description = ") && section.is_empty() {
            out.push_str("# A drill: every approval is given and recorded; data loss still needs --accept-data-loss.\nauto_approve = true\n");
        }
    }
    out
}

/// The second leg of a round trip: the primary data center comes back rebuilt, and the
/// built-in failback runs against the same simulated data center, in its own journal, with
/// `backup` (BAK, as the first leg reached it) as its backup target.
fn failback_leg(
    dir: &Path,
    exe: &Path,
    key_path: &Path,
    backup: &DrillTarget<'_>,
    args: &DrillArgs,
) -> Result<Exit> {
    let started = Instant::now();
    let pri = runledger_sim::primary_returns(dir)?;
    let sub = failback_dir(dir);
    std::fs::create_dir_all(&sub).with_context(|| format!("cannot create {}", sub.display()))?;
    let journal = sub.join("journal.db");
    if journal.exists() {
        bail!("{} already holds the failback's journal", sub.display());
    }
    let pri_password = runledger_sim::sim_dir(dir).join("pri.password");
    write_private(&pri_password, &format!("{}\n", pri.password))?;
    let runbook_path = sub.join("runbook.toml");
    let source =
        runbook::built_in("persistent-chat-failback").expect("the failback runbook is built in");
    std::fs::write(
        &runbook_path,
        site_runbook(
            source,
            dir,
            &[
                (
                    "primary",
                    &DrillTarget {
                        instance: &pri,
                        password_file: &pri_password,
                    },
                ),
                ("backup", backup),
            ],
            &[("share_local", runledger_sim::share_dir(dir))],
            exe,
            "# Drill copy of the built-in runbook: targets point at the simulated data center.\n",
        ),
    )?;
    // The server listens for the primary only once restarted.
    let server = Server::start(exe, dir)?;
    wait_for_port(&pri.host, pri.port)?;
    wait_for_port(&backup.instance.host, backup.instance.port)?;
    eprintln!(
        "\nfailback in {} (the primary data center is back, rebuilt)",
        sub.display()
    );
    let faults = args.failback_inject_fault.iter().copied();
    let crash = (!args.failback_inject_fault.is_empty())
        .then(|| "the failback's journal ended before the crash point".to_string());
    let exit = match run_leg(
        server,
        &runbook_path,
        &journal,
        key_path,
        faults,
        crash,
        args,
    )? {
        Leg::Ended(exit) => exit,
        Leg::Stopped(exit) => return Ok(exit),
    };
    summary(&sub, &journal, key_path, started, None)?;
    if exit == Exit::Ok {
        round_trip_summary(dir)?;
    }
    Ok(exit)
}

/// Where the simulated data center stands after a round trip, read from the simulator.
fn round_trip_summary(dir: &Path) -> Result<()> {
    let st = runledger_sim::status(dir)?;
    outln!("\nround trip")?;
    outln!("  failover journal  {}", dir.join("journal.db").display())?;
    outln!(
        "  failback journal  {}",
        failback_dir(dir).join("journal.db").display()
    )?;
    outln!(
        "  pool              {} with active servers {}",
        st.pool.pool_state,
        st.pool.active_servers.join(", ")
    )?;
    for i in &st.instances {
        for d in &i.databases {
            outln!("  {:<17} {} {}", i.name, d.name, d.state)?;
        }
        for l in &i.log_shipping {
            outln!(
                "  {:<17} log shipping of {} from {}",
                i.name,
                l.secondary_database,
                l.primary_server.as_deref().unwrap_or("?")
            )?;
        }
    }
    Ok(())
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    let mut f = o
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// The drill's closing summary: steps and durations, files restored, the verdict, the paths.
pub fn summary(
    dir: &Path,
    journal: &Path,
    key: &Path,
    started: Instant,
    witness_policy: Option<&Path>,
) -> Result<()> {
    let mut trusted = TrustedKeys::default();
    let k = keyfile::load(key)?;
    trusted.insert(k.name.clone(), k.key.verifying_key());
    let checkpoint = dir.join("checkpoint.txt");
    let mut options = Options::default();
    if let Ok(text) = std::fs::read_to_string(&checkpoint) {
        options
            .checkpoints
            .push((checkpoint.display().to_string(), text));
    }
    let report = verify(journal, &trusted, &options)?;
    outln!("\nsteps")?;
    let mut restored = 0;
    for s in &report.steps {
        let restore = ActionKind::parse(&s.action) == Some(ActionKind::RestoreLogs);
        if restore && s.status == "succeeded" {
            restored += 1;
        }
        outln!(
            "  {:<46} {:<12} {:>12}",
            terminal::line(&s.step),
            s.status,
            s.duration_us
                .map(runledger_verifier::report::format_duration)
                .unwrap_or_else(|| "-".into())
        )?;
    }
    outln!("\nlog backups restored: {restored}")?;
    outln!(
        "verification: {}: {}",
        report.verdict.words(),
        terminal::line(&report.verdict_text)
    )?;
    // Name checkpoint.txt only when it holds the checkpoint of the journal as it ends.
    let anchored = report.verdict == runledger_verifier::Verdict::ValidAnchored;
    let report_html = crate::report::write_drill_report(dir, journal, key)?;
    outln!("\ndrill directory  {}", dir.display())?;
    outln!("journal          {}", journal.display())?;
    if anchored {
        outln!("checkpoint       {}", checkpoint.display())?;
    } else {
        outln!("checkpoint       not written for the journal as it ends (see the warnings above); `runledger checkpoint --journal {}` writes one", journal.display())?;
    }
    outln!("runbook          {}", dir.join("runbook.toml").display())?;
    outln!("report           {}", report_html.display())?;
    outln!("trusted key      {}.pub", key.display())?;
    if anchored {
        outln!(
            "verify again     runledger-verify {} --trust {}.pub --checkpoint {} --require-anchor",
            journal.display(),
            key.display(),
            checkpoint.display()
        )?;
    } else {
        outln!(
            "verify again     runledger-verify {} --trust {}.pub",
            journal.display(),
            key.display()
        )?;
    }
    if let Some(policy) = witness_policy {
        outln!(
            "witnessed        runledger-verify {} --trust {}.pub --witness-policy {} --require-witness",
            journal.display(),
            key.display(),
            policy.display()
        )?;
    }
    outln!("took             {:.1} s", started.elapsed().as_secs_f64())?;
    Ok(())
}
