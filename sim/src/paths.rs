//! The file system as the simulated SQL Server sees it: Windows paths only.
//!
//! A real SQL Server reads `RESTORE … FROM DISK = N'D:\mgc-copy\x.trn'` or a UNC path such as
//! `\\pcfs01\mgc-logs\x.trn`; it knows nothing of the folders of the machine that runs
//! runledger. The simulator keeps that split: a small table maps each Windows folder of the
//! simulated site to a folder under `DIR/sim/`, and every path a client sends is resolved
//! through it. A path that is not a Windows path, or names a folder the site does not have,
//! fails the way Windows fails (OS error 3, 53 or 67), so a runbook that gives the server the
//! engine's own path fails the drill instead of passing by accident.
//!
//! This module only maps names; it never opens a file.

use std::path::{Path, PathBuf};

use crate::datacenter::names;

/// Why Windows could not resolve a path, with its Win32 error number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsError {
    /// 2: the folder exists, the file does not.
    FileNotFound,
    /// 3: a folder on the way does not exist (or the path is not a Windows path).
    PathNotFound,
    /// 53: the server of a UNC path cannot be reached.
    NetworkPathNotFound,
    /// 67: the server answers but has no share of that name.
    NetworkNameNotFound,
}

impl OsError {
    /// The Win32 error number.
    pub fn code(self) -> u32 {
        match self {
            OsError::FileNotFound => 2,
            OsError::PathNotFound => 3,
            OsError::NetworkPathNotFound => 53,
            OsError::NetworkNameNotFound => 67,
        }
    }

    /// Windows' text for it.
    pub fn text(self) -> &'static str {
        match self {
            OsError::FileNotFound => "The system cannot find the file specified.",
            OsError::PathNotFound => "The system cannot find the path specified.",
            OsError::NetworkPathNotFound => "The network path was not found.",
            OsError::NetworkNameNotFound => "The network name cannot be found.",
        }
    }

    /// `N(text)` as SQL Server quotes an operating system error.
    pub fn quoted(self) -> String {
        format!("{}({})", self.code(), self.text())
    }
}

/// One Windows folder of the simulated site and where it lives under `DIR/sim/`.
struct Mount {
    windows: &'static str,
    local: fn(&Path) -> PathBuf,
}

/// The folders the simulated SQL Servers can reach, by their Windows names.
const MOUNTS: &[Mount] = &[
    Mount {
        windows: names::SHARE_UNC,
        local: crate::share_dir,
    },
    Mount {
        windows: names::DEST_PATH,
        local: crate::dest_dir,
    },
    Mount {
        windows: names::MIRROR_SHARE_UNC,
        local: crate::mirror_share_dir,
    },
];

/// A Windows path split into its root (`D:` or `\\server\share`) and its folder names, with
/// `.` and `..` applied.
#[derive(Debug, PartialEq, Eq)]
struct WindowsPath {
    root: Root,
    parts: Vec<String>,
}

#[derive(Debug, PartialEq, Eq)]
enum Root {
    Drive(char),
    Unc { server: String, share: String },
}

fn parse(path: &str) -> Option<WindowsPath> {
    let p = path.replace('/', "\\");
    let (root, rest) = if let Some(unc) = p.strip_prefix("\\\\") {
        let mut it = unc.splitn(3, '\\');
        let server = it.next().filter(|s| !s.is_empty())?;
        let share = it.next().filter(|s| !s.is_empty())?;
        (
            Root::Unc {
                server: server.to_ascii_lowercase(),
                share: share.to_ascii_lowercase(),
            },
            it.next().unwrap_or(""),
        )
    } else {
        let mut chars = p.chars();
        let drive = chars.next().filter(char::is_ascii_alphabetic)?;
        if chars.next() != Some(':') || !p[2..].starts_with('\\') {
            return None;
        }
        (Root::Drive(drive.to_ascii_uppercase()), &p[3..])
    };
    let mut parts: Vec<String> = Vec::new();
    for part in rest.split('\\') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p.to_string()),
        }
    }
    Some(WindowsPath { root, parts })
}

/// The local path behind the Windows path `path`, for a data center in `dir`.
///
/// Folder names compare case-insensitively, as on Windows. The file itself may or may not
/// exist: opening it is the caller's business (and gives [`OsError::FileNotFound`] there).
pub fn resolve(dir: &Path, path: &str) -> Result<PathBuf, OsError> {
    let wanted = parse(path).ok_or(OsError::PathNotFound)?;
    let mut unc_server_known = false;
    for mount in MOUNTS {
        let m = parse(mount.windows).expect("the site's own paths are Windows paths");
        if let (Root::Unc { server, .. }, Root::Unc { server: s2, .. }) = (&m.root, &wanted.root) {
            unc_server_known |= server == s2;
        }
        let same_root = m.root == wanted.root;
        let under = wanted.parts.len() >= m.parts.len()
            && m.parts
                .iter()
                .zip(&wanted.parts)
                .all(|(a, b)| a.eq_ignore_ascii_case(b));
        if !(same_root && under) {
            continue;
        }
        let local = (mount.local)(dir);
        if !local.is_dir() {
            // The folder is gone: a share in the failed data center, an unplugged disk.
            return Err(match m.root {
                Root::Unc { .. } => OsError::NetworkPathNotFound,
                Root::Drive(_) => OsError::PathNotFound,
            });
        }
        let mut out = local;
        for part in &wanted.parts[m.parts.len()..] {
            out.push(part);
        }
        return Ok(out);
    }
    Err(match wanted.root {
        Root::Unc { .. } if unc_server_known => OsError::NetworkNameNotFound,
        Root::Unc { .. } => OsError::NetworkPathNotFound,
        Root::Drive(_) => OsError::PathNotFound,
    })
}

/// `folder\name` with Windows' separator.
pub fn join(folder: &str, name: &str) -> String {
    format!("{}\\{name}", folder.trim_end_matches(['\\', '/']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dc() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for f in [crate::share_dir, crate::dest_dir, crate::mirror_share_dir] {
            std::fs::create_dir_all(f(d.path())).unwrap();
        }
        d
    }

    #[test]
    fn the_sites_windows_folders_map_to_their_local_folders() {
        let d = dc();
        let p = resolve(d.path(), r"\\PCFS01\MGC-Logs\mgc_1.trn").unwrap();
        assert_eq!(p, crate::share_dir(d.path()).join("mgc_1.trn"));
        let p = resolve(d.path(), r"d:/mgc-copy/sub\.\x\..\mgc_2.trn").unwrap();
        assert_eq!(p, crate::dest_dir(d.path()).join("sub").join("mgc_2.trn"));
    }

    #[test]
    fn paths_the_server_cannot_see_fail_as_windows_fails() {
        let d = dc();
        let local = crate::dest_dir(d.path()).join("mgc_1.trn");
        assert_eq!(
            resolve(d.path(), &local.display().to_string()),
            Err(OsError::PathNotFound)
        );
        assert_eq!(
            resolve(d.path(), r"C:\mgc-copy\x.trn"),
            Err(OsError::PathNotFound)
        );
        assert_eq!(
            resolve(d.path(), r"D:\mgc-copy\..\x.trn"),
            Err(OsError::PathNotFound)
        );
        assert_eq!(
            resolve(d.path(), r"\\pcfs02\mgc-logs\x.trn"),
            Err(OsError::NetworkPathNotFound)
        );
        assert_eq!(
            resolve(d.path(), r"\\pcfs01\other\x.trn"),
            Err(OsError::NetworkNameNotFound)
        );
        std::fs::remove_dir(crate::share_dir(d.path())).unwrap();
        assert_eq!(
            resolve(d.path(), r"\\pcfs01\mgc-logs\x.trn"),
            Err(OsError::NetworkPathNotFound)
        );
    }
}
