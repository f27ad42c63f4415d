//! The operator's signing key: a private key file, created readable by its owner only and
//! refused otherwise, or a key held by an ssh-agent (`ssh-agent:SELECTOR`, see `agent`).

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use runledger_verifier::keys::{trusted_key_line, KeyError, PrivateKey};
use runledger_verifier::signer::SharedSigner;

use crate::agent::{AgentError, AgentSigner};

/// Why a key file could not be written or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing failed.
    #[error("cannot {action} key file {path}: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Group or others may read the private key.
    #[error("key file {path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// Not a private key file.
    #[error(transparent)]
    Format(#[from] KeyError),
    /// The name cannot be a key name.
    #[error("key name {0:?} must be non-empty and contain no whitespace or `+`")]
    BadName(String),
    /// The ssh-agent key could not be found or used.
    #[error("key {spec}: {source}")]
    Agent {
        /// The key as given (`ssh-agent:…`).
        spec: String,
        /// Why.
        source: AgentError,
    },
}

/// Where the signing key is, as `--key` gives it: `ssh-agent:SELECTOR` (an OpenSSH fingerprint
/// `SHA256:…` or the key's comment) selects a key of the ssh-agent at `SSH_AUTH_SOCK`;
/// anything else is a private key file's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySpec {
    /// A private key file.
    File(PathBuf),
    /// A key held by the ssh-agent, by fingerprint or comment.
    Agent(String),
}

/// What marks a `--key` value as an ssh-agent key.
pub const AGENT_PREFIX: &str = "ssh-agent:";

impl std::str::FromStr for KeySpec {
    type Err = String;

    fn from_str(s: &str) -> Result<KeySpec, String> {
        match s.strip_prefix(AGENT_PREFIX) {
            Some("") => Err(format!(
                "{AGENT_PREFIX} needs the key's fingerprint (SHA256:…, as `ssh-add -l` prints it) or its comment"
            )),
            Some(selector) => Ok(KeySpec::Agent(selector.to_string())),
            None if s.is_empty() => Err("the key file's path is empty".into()),
            None => Ok(KeySpec::File(PathBuf::from(s))),
        }
    }
}

impl std::fmt::Display for KeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySpec::File(p) => write!(f, "{}", p.display()),
            KeySpec::Agent(s) => write!(f, "{AGENT_PREFIX}{s}"),
        }
    }
}

impl KeySpec {
    /// The key file, if it is one (a command's output must not be written over it).
    pub fn file(&self) -> Option<&Path> {
        match self {
            KeySpec::File(p) => Some(p),
            KeySpec::Agent(_) => None,
        }
    }

    /// Loads the signer: the key file (refused if group or others can read it), or the agent's
    /// one Ed25519 key the selector names.
    pub fn load(&self) -> Result<SharedSigner, KeyFileError> {
        match self {
            KeySpec::File(p) => Ok(Arc::new(load(p)?)),
            KeySpec::Agent(selector) => AgentSigner::select(selector)
                .map(|s| Arc::new(s) as SharedSigner)
                .map_err(|source| KeyFileError::Agent {
                    spec: self.to_string(),
                    source,
                }),
        }
    }
}

/// Generates a key named `name`, writes it to `path` (mode 0600) and its trusted-keys line to
/// `path.pub` (mode 0644 whatever the umask: the line is public, and others must not be able
/// to change it). Never writes over an existing file: both paths are refused if either
/// exists. Returns the `.pub` path.
pub fn generate(path: &Path, name: &str) -> Result<(PrivateKey, PathBuf), KeyFileError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(KeyFileError::BadName(name.to_string()));
    }
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let key = PrivateKey {
        name: name.to_string(),
        key: ed25519_dalek::SigningKey::from_bytes(&seed),
    };
    let io = |source| KeyFileError::Io {
        action: "write",
        path: path.display().to_string(),
        source,
    };
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    let pub_path = PathBuf::from(pub_path);
    let pub_io = |source| KeyFileError::Io {
        action: "write",
        path: pub_path.display().to_string(),
        source,
    };
    if std::fs::symlink_metadata(&pub_path).is_ok() {
        return Err(pub_io(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "it exists, and keys generate never writes over a file",
        )));
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(io)?;
    f.write_all(key.to_file_text().as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    let line = format!("{}\n", trusted_key_line(name, &key.key.verifying_key()));
    if let Err(e) = write_public(&pub_path, &line) {
        // No private key without its trusted-keys line: this call made it, it goes.
        let _ = std::fs::remove_file(path);
        return Err(pub_io(e));
    }
    Ok((key, pub_path))
}

/// Writes the trusted-keys line to a new file with mode 0644 exactly.
fn write_public(path: &Path, line: &str) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o644);
    }
    let mut f = options.open(path)?;
    #[cfg(unix)]
    {
        // The mode given at creation is narrowed by the umask (or widened by none at all).
        use std::os::unix::fs::PermissionsExt as _;
        f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    f.write_all(line.as_bytes())?;
    f.sync_all()
}

/// Loads a private key file, refusing one that group or others can read.
pub fn load(path: &Path) -> Result<PrivateKey, KeyFileError> {
    let io = |source| KeyFileError::Io {
        action: "read",
        path: path.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::TooOpen {
                path: path.display().to_string(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = std::fs::read_to_string(path).map_err(io)?;
    if text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
        return Err(KeyFileError::Format(KeyError::Private {
            path: path.display().to_string(),
            reason: format!(
                "an OpenSSH key; add it to an ssh-agent (`ssh-add {}`) and give --key ssh-agent:FINGERPRINT",
                path.display()
            ),
        }));
    }
    Ok(PrivateKey::parse(&text, &path.display().to_string())?)
}
