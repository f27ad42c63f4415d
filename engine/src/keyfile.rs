//! The operator's private key file: created readable by its owner only, refused otherwise.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use runledger_verifier::keys::{trusted_key_line, KeyError, PrivateKey};

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
    Ok(PrivateKey::parse(&text, &path.display().to_string())?)
}
