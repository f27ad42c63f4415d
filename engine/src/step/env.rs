//! The outside world as the steps reach it: SQL sessions per target, the shell, pacing and
//! progress. Every effect and every fact goes through here, and only the dispatcher decides
//! when (live) or whether (replay) it is reached at all.

use std::collections::HashMap;
use std::time::Duration;

use crate::runbook::ShellConfig;
use crate::shell::{self, ShellCommand};
use crate::sql::{BatchResult, SqlEndpoint, SqlError, SqlSession};

/// Default time limit of one action.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Shows the progress of a long action (a copy in bytes, a restore as it runs).
pub trait Progress: Send + Sync {
    /// A new action starts; `total` is its size in bytes, 0 when unknown.
    fn start(&self, label: &str, total: u64);
    /// Bytes done so far.
    fn set(&self, done: u64);
    /// The action ended.
    fn finish(&self);
}

/// SQL sessions per target, the shell, pacing.
pub struct Env {
    endpoints: HashMap<String, SqlEndpoint>,
    sessions: tokio::sync::Mutex<HashMap<String, SqlSession>>,
    shell: Option<ShellConfig>,
    /// Extra delay per copied file (drills), in milliseconds.
    pub pace_ms: u64,
    /// Where long actions show their progress.
    pub progress: Option<std::sync::Arc<dyn Progress>>,
    /// Environment variables that held secrets: removed from every shell command's
    /// environment.
    pub hidden_env: Vec<String>,
}

impl Env {
    /// An environment over these SQL endpoints (secrets already resolved) and shell.
    pub fn new(endpoints: HashMap<String, SqlEndpoint>, shell: Option<ShellConfig>) -> Env {
        Env {
            endpoints,
            sessions: tokio::sync::Mutex::new(HashMap::new()),
            shell,
            pace_ms: 0,
            progress: None,
            hidden_env: Vec::new(),
        }
    }

    /// Runs a batch on a target's session, connecting on first use and again after a failure
    /// that ends the session.
    pub async fn sql(
        &self,
        target: &str,
        text: &str,
        timeout: Duration,
    ) -> Result<BatchResult, SqlError> {
        let mut sessions = self.sessions.lock().await;
        if !sessions.contains_key(target) {
            let ep = self
                .endpoints
                .get(target)
                .ok_or_else(|| SqlError::Connect {
                    endpoint: target.to_string(),
                    reason: "no such target in the runbook".into(),
                })?;
            let session = SqlSession::connect(ep).await?;
            sessions.insert(target.to_string(), session);
        }
        let session = sessions.get_mut(target).expect("inserted above");
        let result = session.batch(text, timeout).await;
        if matches!(
            result,
            Err(SqlError::Timeout { .. } | SqlError::Protocol { .. } | SqlError::Connect { .. })
        ) {
            sessions.remove(target);
        }
        result
    }

    /// Runs a cmdlet line through the configured shell.
    pub async fn cmdlet(&self, line: &str, timeout: Duration) -> shell::ShellOutcome {
        let Some(cfg) = &self.shell else {
            return shell::ShellOutcome::SpawnFailed {
                reason: "the runbook declares no [shell]".into(),
            };
        };
        let mut args = cfg.args.clone();
        args.push(line.to_string());
        shell::run(&ShellCommand {
            program: cfg.program.clone(),
            args,
            stdin: None,
            timeout,
            env_remove: self.hidden_env.clone(),
        })
        .await
    }

    /// The whole command line a cmdlet runs as, for intents and the plan.
    pub fn shell_display(&self, line: &str) -> String {
        crate::text::shell_shown(self.shell(), &crate::text::Template::literal(line)).shown()
    }

    /// The configured shell, which the texts of cmdlet lines are shown through.
    pub fn shell(&self) -> Option<&ShellConfig> {
        self.shell.as_ref()
    }
}
