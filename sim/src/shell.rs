//! The simulated Lync Management Shell: the Persistent Chat cmdlets of the failover, run
//! against the same SQLite state as the SQL instances.
//!
//! A line is parsed the way PowerShell binds parameters (`-Name value`, `-Name:value`,
//! switches, `$null`, `'a','b'` and `"a","b"` arrays, `''` as a quote inside a single-quoted
//! string, `@{Replace=…}` list modifiers); an unknown parameter or cmdlet is an error with
//! PowerShell's wording. Output is PowerShell's list format. Every cmdlet that writes to the
//! Central Management Store fails while the scenario makes it unreachable.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::Connection;

use crate::{mirroring, state, SimError};

/// What a cmdlet line produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellOutput {
    /// Standard output text.
    pub stdout: String,
    /// Standard error text (the error record).
    pub stderr: String,
    /// 0 on success, 1 on error.
    pub exit_code: u8,
}

/// A parameter value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Arg {
    Switch(bool),
    Null,
    List(Vec<String>),
    Modifier(String, Vec<String>),
}

impl Arg {
    fn text(&self) -> Option<String> {
        match self {
            Arg::List(v) if v.len() == 1 => Some(v[0].clone()),
            _ => None,
        }
    }
}

struct Cmd {
    name: String,
    positional: Vec<Arg>,
    named: BTreeMap<String, (String, Arg)>,
}

#[derive(Debug)]
struct Fail(String);

/// Splits a line into words the way PowerShell's tokenizer does for the failover's cmdlets:
/// whitespace and top-level commas separate, `{…}` nests, and a quoted string keeps its quotes
/// (so that values can be told from parameter names). Inside a string, its quote doubled (`''`
/// or `""`) is a quote, at any depth, including inside `@{Replace='a','b'}`.
fn words(line: &str) -> Result<Vec<String>, Fail> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut depth = 0;
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                cur.push(c);
                loop {
                    match chars.next() {
                        Some(x) if x == c && chars.peek() == Some(&c) => {
                            chars.next();
                            cur.push(c);
                            cur.push(c);
                        }
                        Some(x) if x == c => break,
                        Some(x) => cur.push(x),
                        None => {
                            return Err(Fail(format!("The string is missing the terminator: {c}.")))
                        }
                    }
                }
                cur.push(c);
            }
            '{' => {
                depth += 1;
                cur.push(c);
            }
            '}' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(",".into());
            }
            c if c.is_whitespace() && depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// A word's value: a single-quoted string is literal with `''` read as `'`; a double-quoted
/// one has `""` read as `"`; anything else is as written.
fn unquote(s: &str) -> String {
    let t = s.trim();
    if t.len() >= 2 && t.starts_with('\'') && t.ends_with('\'') {
        t[1..t.len() - 1].replace("''", "'")
    } else if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
        t[1..t.len() - 1].replace("\"\"", "\"")
    } else {
        t.to_string()
    }
}

/// Splits `'a','b'` (a list modifier's items) at the commas outside quoted strings.
fn items(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q && chars.peek() == Some(&q) => {
                chars.next();
                cur.push(q);
                cur.push(q);
            }
            Some(q) if c == q => {
                quote = None;
                cur.push(c);
            }
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                cur.push(c);
            }
            None if c == ',' => out.push(std::mem::take(&mut cur)),
            None => cur.push(c),
        }
    }
    out.push(cur);
    out.iter()
        .map(|w| unquote(w))
        .filter(|w| !w.is_empty())
        .collect()
}

fn value(ws: &[String], i: &mut usize) -> Arg {
    let first = &ws[*i];
    *i += 1;
    if first.eq_ignore_ascii_case("$null") {
        return Arg::Null;
    }
    if first.eq_ignore_ascii_case("$true") || first.eq_ignore_ascii_case("$false") {
        return Arg::Switch(first.eq_ignore_ascii_case("$true"));
    }
    if let Some(body) = first.strip_prefix("@{").and_then(|b| b.strip_suffix('}')) {
        let (k, v) = body.split_once('=').unwrap_or((body, ""));
        return Arg::Modifier(k.trim().to_ascii_lowercase(), items(v));
    }
    let mut items = vec![unquote(first)];
    while ws.get(*i).is_some_and(|w| w == ",") && *i + 1 < ws.len() {
        items.push(unquote(&ws[*i + 1]));
        *i += 2;
    }
    Arg::List(items)
}

fn parse(line: &str, switches: &[&str]) -> Result<Cmd, Fail> {
    let ws = words(line)?;
    let name = ws.first().cloned().ok_or(Fail(String::new()))?;
    let mut cmd = Cmd {
        name,
        positional: Vec::new(),
        named: BTreeMap::new(),
    };
    let mut i = 1;
    while i < ws.len() {
        let w = &ws[i];
        if let Some(p) = w
            .strip_prefix('-')
            .filter(|p| p.starts_with(|c: char| c.is_ascii_alphabetic()))
        {
            i += 1;
            let (pname, inline) = match p.split_once(':') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (p.to_string(), None),
            };
            let key = pname.to_ascii_lowercase();
            let arg = if let Some(v) = inline {
                let mut j = 0;
                value(&[v], &mut j)
            } else if switches.contains(&key.as_str()) {
                Arg::Switch(true)
            } else if i < ws.len() {
                value(&ws, &mut i)
            } else {
                return Err(Fail(format!("Missing an argument for parameter '{pname}'. Specify a parameter of type 'System.Object' and try again.")));
            };
            cmd.named.insert(key, (pname, arg));
        } else {
            cmd.positional.push(value(&ws, &mut i));
        }
    }
    Ok(cmd)
}

const COMMON: &[&str] = &[
    "confirm",
    "whatif",
    "force",
    "verbose",
    "erroraction",
    "warningaction",
    "debug",
];

impl Cmd {
    fn allow(&self, params: &[&str]) -> Result<(), Fail> {
        for (key, (written, _)) in &self.named {
            if !params.contains(&key.as_str()) && !COMMON.contains(&key.as_str()) {
                return Err(Fail(format!(
                    "A parameter cannot be found that matches parameter name '{written}'."
                )));
            }
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Option<&Arg> {
        self.named.get(key).map(|(_, a)| a)
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some(Arg::Switch(true)))
    }

    fn text(&self, key: &str, position: Option<usize>) -> Option<String> {
        self.get(key).and_then(Arg::text).or_else(|| {
            position
                .and_then(|p| self.positional.get(p))
                .and_then(Arg::text)
        })
    }
}

struct Pool {
    identity: String,
    fqdn: String,
    state: String,
    active: Vec<String>,
    backup_sql: String,
    backup_mirror_sql: String,
    primary_sql: String,
    cms: String,
    cms_reachable: bool,
}

fn pool(conn: &Connection) -> rusqlite::Result<Pool> {
    conn.query_row(
        "SELECT identity, fqdn, pool_state, active_servers, backup_sql_fqdn, backup_mirror_sql_fqdn, primary_sql_fqdn, cms_fqdn, cms_reachable FROM pool",
        [],
        |r| {
            let active: String = r.get(3)?;
            Ok(Pool {
                identity: r.get(0)?,
                fqdn: r.get(1)?,
                state: r.get(2)?,
                active: serde_json::from_str(&active).unwrap_or_default(),
                backup_sql: r.get(4)?,
                backup_mirror_sql: r.get(5)?,
                primary_sql: r.get(6)?,
                cms: r.get(7)?,
                cms_reachable: r.get::<_, i64>(8)? != 0,
            })
        },
    )
}

fn list(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut s = String::from("\n");
    for (k, v) in rows {
        s.push_str(&format!("{k:<width$} : {v}\n"));
    }
    s.push('\n');
    s
}

/// Resolves `service:<pool>`, `PersistentChatServer:<pool>` (also with a stray space) or the
/// bare pool FQDN to the pool.
fn matches_pool(identity: &str, p: &Pool) -> bool {
    let id = identity.trim();
    let bare = id.split_once(':').map_or(id, |(_, rest)| rest).trim();
    let prefix_ok = id.split_once(':').is_none_or(|(kind, _)| {
        kind.eq_ignore_ascii_case("service") || kind.eq_ignore_ascii_case("PersistentChatServer")
    });
    prefix_ok && bare.eq_ignore_ascii_case(&p.fqdn)
}

/// Runs one cmdlet line against the data center in `dir`.
pub fn run_line(dir: &Path, line: &str) -> Result<ShellOutput, SimError> {
    let path = crate::state_path(dir);
    if !path.exists() {
        return Err(SimError::NotInitialised(dir.to_path_buf()));
    }
    let mut conn = state::open(&path)?;
    let name = line.split_whitespace().next().unwrap_or("").to_string();
    match execute(dir, &mut conn, line) {
        Ok(stdout) => Ok(ShellOutput { stdout, stderr: String::new(), exit_code: 0 }),
        Err(Fail(msg)) => Ok(ShellOutput {
            stdout: String::new(),
            stderr: format!("{name} : {msg}\n    + CategoryInfo          : InvalidOperation: ({name}) [], RuntimeException\n"),
            exit_code: 1,
        }),
    }
}

/// Whether a simulated SQL instance is up (the scenario or `sim heal` decides).
fn instance_reachable(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT reachable FROM instances WHERE name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|r| r != 0)
}

fn sql_unreachable(fqdn: &str) -> Fail {
    Fail(format!("Cannot connect to SQL Server \"{fqdn}\": A network-related or instance-specific error occurred while establishing a connection to SQL Server. The server was not found or was not accessible. Verify that the instance name is correct and that SQL Server is configured to allow remote connections."))
}

/// A cmdlet that asks for confirmation cannot ask in a non-interactive host: the simulated
/// shell is always one (it reads a command line, never a keyboard).
fn non_interactive_prompt() -> Fail {
    Fail(
        "PowerShell is in NonInteractive mode. Read and Prompt functionality is not available."
            .into(),
    )
}

fn execute(dir: &Path, conn: &mut Connection, line: &str) -> Result<String, Fail> {
    let store = |e: rusqlite::Error| Fail(format!("the simulated state store failed: {e}"));
    let cmdlet = line
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let switches: &[&str] = &[
        "localstore",
        "force",
        "whatif",
        "confirm",
        "swap",
        "persistentchatserver",
        "dropexistingdatabasesonmirror",
        "configureddatabases",
        "fordefaultinstance",
        "centralmanagementstorestatus",
        "verbose",
    ];
    let dc = crate::datacenter::names::DB;
    let cmd = parse(line, switches)?;
    let p = pool(conn).map_err(store)?;
    let unreachable = || {
        Fail(format!(
        "Cannot connect to the Central Management Store on \"{}\": the SQL Server was not found or was not accessible. Verify that the Central Management Store is available, or fail it over with Invoke-CsManagementServerFailover.",
        p.cms
    ))
    };
    match cmdlet.as_str() {
        "get-cspersistentchatstate" => {
            cmd.allow(&["identity", "filter", "localstore"])?;
            if !p.cms_reachable && !cmd.flag("localstore") {
                return Err(unreachable());
            }
            if let Some(id) = cmd.text("identity", Some(0)) {
                if !matches_pool(&id, &p) {
                    return Err(Fail(format!("Cannot get \"PersistentChatState\" \"{id}\" because it does not exist.")));
                }
            }
            Ok(list(&[("Identity", p.identity.clone()), ("PoolState", p.state.clone())]))
        }
        "set-cspersistentchatstate" => {
            cmd.allow(&["identity", "poolstate", "instance"])?;
            if !p.cms_reachable {
                return Err(unreachable());
            }
            let id = cmd.text("identity", Some(0)).unwrap_or_else(|| p.identity.clone());
            if !matches_pool(&id, &p) {
                return Err(Fail(format!("Cannot set \"PersistentChatState\" \"{id}\" because it does not exist.")));
            }
            let Some(state_arg) = cmd.text("poolstate", None) else {
                return Ok(String::new());
            };
            let new = ["Normal", "FailedOver"].into_iter().find(|s| s.eq_ignore_ascii_case(&state_arg)).ok_or_else(|| {
                Fail(format!("Cannot bind parameter 'PoolState'. Cannot convert value \"{state_arg}\" to type \"Microsoft.Rtc.Management.WritableConfig.Policy.PersistentChat.PoolState\". Error: \"Unable to match the identifier name {state_arg} to a valid enumerator name. Specify one of the following enumerator names and try again: Normal, FailedOver\""))
            })?;
            if cmd.flag("whatif") {
                return Ok(format!("What if: Performing operation \"Set-CsPersistentChatState\" on Target \"{}\".\n", p.identity));
            }
            write(conn, line, &format!("pool {} state {} -> {new}", p.fqdn, p.state), |tx| {
                tx.execute("UPDATE pool SET pool_state = ?1", [new]).map(|_| ())
            })
            .map_err(store)?;
            Ok(String::new())
        }
        "set-cspersistentchatactiveserver" => {
            cmd.allow(&["identity", "activeservers", "swap"])?;
            if !p.cms_reachable {
                return Err(unreachable());
            }
            let servers: Vec<String> = {
                let mut stmt = conn.prepare("SELECT fqdn FROM pool_servers ORDER BY fqdn").map_err(store)?;
                let rows = stmt.query_map([], |r| r.get(0)).map_err(store)?;
                rows.collect::<Result<_, _>>().map_err(store)?
            };
            let known = |s: &str| servers.iter().find(|x| x.eq_ignore_ascii_case(s)).cloned().ok_or_else(|| {
                Fail(format!("\"{s}\" is not a Persistent Chat server of pool \"{}\". Specify a server that belongs to the pool.", p.fqdn))
            });
            let mut active = p.active.clone();
            if cmd.flag("swap") {
                active = servers.iter().filter(|s| !p.active.contains(s)).cloned().collect();
            } else {
                match cmd.get("activeservers") {
                    None => return Err(Fail("Cannot process command because of one or more missing mandatory parameters: ActiveServers.".into())),
                    Some(Arg::Null) => active.clear(),
                    Some(Arg::List(items)) => active = items.iter().map(|s| known(s)).collect::<Result<_, _>>()?,
                    Some(Arg::Modifier(op, items)) => {
                        let items: Vec<String> = items.iter().map(|s| known(s)).collect::<Result<_, _>>()?;
                        match op.as_str() {
                            "replace" => active = items,
                            "add" => active.extend(items.into_iter().filter(|s| !p.active.contains(s))),
                            "remove" => active.retain(|s| !items.contains(s)),
                            other => return Err(Fail(format!("Unsupported list modifier \"{other}\"; use Add, Remove or Replace."))),
                        }
                    }
                    Some(Arg::Switch(_)) => return Err(Fail("Cannot bind parameter 'ActiveServers'.".into())),
                }
            }
            if cmd.flag("whatif") {
                return Ok(format!("What if: Performing operation \"Set-CsPersistentChatActiveServer\" on Target \"{}\".\n", p.fqdn));
            }
            let json = serde_json::to_string(&active).expect("strings serialise");
            let effect = format!("active servers of {}: [{}] -> [{}]", p.fqdn, p.active.join(", "), active.join(", "));
            write(conn, line, &effect, |tx| tx.execute("UPDATE pool SET active_servers = ?1", [&json]).map(|_| ())).map_err(store)?;
            Ok(String::new())
        }
        "get-csservice" => {
            cmd.allow(&["persistentchatserver", "identity", "poolfqdn", "filter"])?;
            if !p.cms_reachable {
                return Err(unreachable());
            }
            if !cmd.flag("persistentchatserver") {
                return Err(Fail("The drill simulator models only Get-CsService -PersistentChatServer.".into()));
            }
            Ok(list(&[
                ("Identity", p.identity.clone()),
                ("PoolFqdn", p.fqdn.clone()),
                ("PersistentChatDatabase", format!("PersistentChatStore:{}", p.primary_sql)),
                ("MirrorPersistentChatDatabase", format!("PersistentChatStore:{}", p.primary_sql.replace("pcsql01", "pcsql02"))),
                ("BackupPersistentChatDatabase", format!("PersistentChatStore:{}", p.backup_sql)),
                ("BackupMirrorPersistentChatDatabase", format!("PersistentChatStore:{}", p.backup_mirror_sql)),
                ("PoolState", p.state.clone()),
                ("ActiveServers", format!("{{{}}}", p.active.join(", "))),
            ]))
        }
        "get-csmanagementstorereplicationstatus" => {
            cmd.allow(&["replicafqdn", "centralmanagementstorestatus"])?;
            if !p.cms_reachable {
                return Err(unreachable());
            }
            if cmd.flag("centralmanagementstorestatus") {
                return Ok(list(&[("ActiveMasterFqdn", p.cms.clone()), ("ActiveFileTransferAgents", format!("{{{}}}", p.cms)), ("ActiveReplicatorFqdn", p.cms.clone())]));
            }
            let mut stmt = conn.prepare("SELECT fqdn, site FROM pool_servers ORDER BY fqdn").map_err(store)?;
            let rows: Vec<(String, String)> = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(store)?.collect::<Result<_, _>>().map_err(store)?;
            let only = cmd.text("replicafqdn", None);
            let mut out = String::new();
            for (fqdn, site) in rows {
                if only.as_deref().is_some_and(|o| !o.eq_ignore_ascii_case(&fqdn)) {
                    continue;
                }
                // Replicas in the failed data center stopped reporting when it went down.
                let up = site != crate::datacenter::names::SITE_PRIMARY;
                out.push_str(&list(&[
                    ("UpToDate", if up { "True".into() } else { "False".into() }),
                    ("ReplicaFqdn", fqdn),
                    ("LastStatusReport", if up { state::now_sql() } else { "2024-03-04 03:58:12.000".into() }),
                    ("ProductVersion", "5.0.8308.0".into()),
                ]));
            }
            Ok(out)
        }
        "install-csmirrordatabase" => {
            cmd.allow(&["configureddatabases", "databasetype", "fileshare", "sqlserverfqdn", "sqlinstancename", "fordefaultinstance", "forinstance", "databasepathmap", "dropexistingdatabasesonmirror", "excludedatabaselist", "report"])?;
            if !p.cms_reachable {
                return Err(unreachable());
            }
            let share = cmd.text("fileshare", None).ok_or_else(|| Fail("Cannot process command because of one or more missing mandatory parameters: FileShare.".into()))?;
            let sql = cmd.text("sqlserverfqdn", None).ok_or_else(|| Fail("Cannot process command because of one or more missing mandatory parameters: SqlServerFqdn.".into()))?;
            let types = cmd.get("databasetype").cloned();
            let wants_pchat = match &types {
                None => cmd.flag("configureddatabases"),
                Some(Arg::List(t)) => t.iter().any(|x| x.eq_ignore_ascii_case("PersistentChat")),
                Some(_) => false,
            };
            if types.is_none() && !cmd.flag("configureddatabases") {
                return Err(Fail("Parameter set cannot be resolved using the specified named parameters: give -DatabaseType or -ConfiguredDatabases.".into()));
            }
            if let Some(Arg::List(t)) = &types {
                let valid = ["ActiveMonitoring", "Application", "Archiving", "CentralMgmt", "Edge", "Lyss", "Monitoring", "PersistentChat", "PersistentChatCompliance", "Provision", "Registrar", "SigninTelemetry", "User"];
                if let Some(bad) = t.iter().find(|x| !valid.iter().any(|v| v.eq_ignore_ascii_case(x))) {
                    return Err(Fail(format!("Cannot bind parameter 'DatabaseType'. Cannot convert value \"{bad}\" to type \"Microsoft.Rtc.Management.Deployment.DatabaseType\".")));
                }
            }
            if sql.eq_ignore_ascii_case(&p.primary_sql) {
                return Err(Fail(format!("Cannot connect to SQL Server \"{sql}\": the server was not found or was not accessible (it is in the failed data center).")));
            }
            if !sql.eq_ignore_ascii_case(&p.backup_sql) {
                return Err(Fail(format!("\"{sql}\" is not a SQL Server store defined in the topology.")));
            }
            if !wants_pchat {
                return Ok(format!("No database of the requested type is installed on {sql}. Nothing to mirror.\n"));
            }
            let db = dc;
            let drop = cmd.flag("dropexistingdatabasesonmirror");
            let report = format!(
                "\nDatabase: {db}\n  Primary SQL Server : {}\n  Mirror SQL Server  : {} (from the topology)\n  Witness            : (none)\n  File share         : {share}\n  Data path          : D:\\Data\\{db}.mdf\n  Log path           : L:\\Log\\{db}_log.ldf\n",
                p.backup_sql, p.backup_mirror_sql
            );
            if cmd.flag("whatif") {
                return Ok(format!("{report}What if: Performing operation \"Install-CsMirrorDatabase\" on Target \"{db}\".\n"));
            }
            // The cmdlet asks "Y/A/N/L/S" for each database unless told not to.
            if !matches!(cmd.get("confirm"), Some(Arg::Switch(false))) {
                return Err(non_interactive_prompt());
            }
            if !instance_reachable(conn, "BAK").map_err(store)? {
                return Err(sql_unreachable(&p.backup_sql));
            }
            if !instance_reachable(conn, "BAK-M").map_err(store)? {
                return Err(sql_unreachable(&p.backup_mirror_sql));
            }
            // Both SQL Servers export and import the database through the share.
            match crate::paths::resolve(dir, &share) {
                Ok(folder) if folder.is_dir() => {}
                Ok(_) => return Err(Fail(format!("The file share \"{share}\" cannot be accessed by the SQL Server service accounts: {}", crate::paths::OsError::PathNotFound.text()))),
                Err(os) => return Err(Fail(format!("The file share \"{share}\" cannot be accessed by the SQL Server service accounts: {}", os.text()))),
            }
            let tx = state::write_tx(conn).map_err(store)?;
            let mut created = Vec::new();
            for (instance, fqdn) in [("BAK", &p.backup_sql), ("BAK-M", &p.backup_mirror_sql)] {
                if mirroring::ensure_endpoint(&tx, instance).map_err(store)? {
                    created.push(fqdn.as_str());
                }
            }
            mirroring::establish(&tx, ("BAK", &p.backup_sql), ("BAK-M", &p.backup_mirror_sql), db, drop).map_err(|e| Fail(e.to_string()))?;
            let effect = format!(
                "mirroring established for {db}: principal {} (BAK), mirror {} (BAK-M), SYNCHRONIZING{}{}",
                p.backup_sql,
                p.backup_mirror_sql,
                if created.is_empty() { String::new() } else { format!("; mirroring endpoint (port {}) created on {}", mirroring::ENDPOINT_PORT, created.join(", ")) },
                if drop { "; existing copy on the mirror dropped" } else { "" }
            );
            state::record(&tx, "cs-shell", None, line, &effect).map_err(store)?;
            tx.commit().map_err(store)?;
            Ok(format!("{report}Mirroring was successfully established for database {db}.\n"))
        }
        "invoke-csmanagementserverfailover" => {
            cmd.allow(&["backupsqlserverfqdn", "backupsqlinstancename", "backupmirrorsqlserverfqdn", "backupmirrorsqlinstancename", "force"])?;
            let target = cmd.text("backupsqlserverfqdn", None).ok_or_else(|| Fail("Cannot process command because of one or more missing mandatory parameters: BackupSqlServerFqdn.".into()))?;
            if target.eq_ignore_ascii_case(&p.primary_sql) {
                return Err(sql_unreachable(&target));
            }
            if !target.eq_ignore_ascii_case(&p.backup_sql) {
                return Err(Fail(format!("\"{target}\" is not the backup Central Management Store in the topology; the backup store is on \"{}\".", p.backup_sql)));
            }
            if let Some(mirror) = cmd.text("backupmirrorsqlserverfqdn", None) {
                if !mirror.eq_ignore_ascii_case(&p.backup_mirror_sql) {
                    return Err(Fail(format!("\"{mirror}\" is not the mirror of the backup Central Management Store in the topology; the mirror is \"{}\".", p.backup_mirror_sql)));
                }
                if !instance_reachable(conn, "BAK-M").map_err(store)? {
                    return Err(sql_unreachable(&mirror));
                }
            }
            if !instance_reachable(conn, "BAK").map_err(store)? {
                return Err(sql_unreachable(&p.backup_sql));
            }
            if cmd.flag("whatif") {
                return Ok(format!("What if: Performing operation \"Invoke-CsManagementServerFailover\" on Target \"{}\".\n", p.backup_sql));
            }
            if !cmd.flag("force") {
                return Err(non_interactive_prompt());
            }
            let effect = format!(
                "Central Management Store failed over from {} to {}; the CMS is reachable",
                p.cms, p.backup_sql
            );
            write(conn, line, &effect, |tx| {
                tx.execute("UPDATE pool SET cms_fqdn = ?1, cms_reachable = 1", [&p.backup_sql]).map(|_| ())
            })
            .map_err(store)?;
            Ok(format!("The Central Management Server is now {}.\n", p.backup_sql))
        }
        "" => Ok(String::new()),
        _ => Err(Fail(format!(
            "The term '{}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.",
            cmd.name
        ))),
    }
}

fn write(
    conn: &mut Connection,
    line: &str,
    effect: &str,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let tx = state::write_tx(conn)?;
    f(&tx)?;
    state::record(&tx, "cs-shell", None, line, effect)?;
    tx.commit()
}

/// Runs cmdlet lines read from `input` one per line, like a PowerShell host reading a script
/// from standard input; returns 1 if any line failed.
pub fn run_lines(
    dir: &Path,
    input: impl std::io::BufRead,
    out: &mut impl std::io::Write,
    err: &mut impl std::io::Write,
) -> Result<u8, SimError> {
    let mut code = 0;
    for line in input.lines() {
        let line = line?;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if trimmed.eq_ignore_ascii_case("exit") {
            break;
        }
        let r = run_line(dir, trimmed)?;
        out.write_all(r.stdout.as_bytes())?;
        err.write_all(r.stderr.as_bytes())?;
        out.flush()?;
        code = code.max(r.exit_code);
    }
    Ok(code)
}
