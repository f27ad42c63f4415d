//! Backup files as the steps see them: one folder under its two names (the SQL Server's and this
//! host's), listings with sizes and hashes, and headers read through the server with
//! `RESTORE HEADERONLY`. A header that cannot be read is kept with the server's error, never
//! dropped: a file nobody can read is a file not applied, and someone must decide on it.

use serde::{Deserialize, Serialize};

use super::env::Env;
use crate::files;
use crate::lsn::BackupHeader;
use crate::sql::quote_nstring;

/// One folder under its two names: the SQL Server's (in `RESTORE … FROM DISK`) and the one
/// this host reaches it by (to list, hash and copy). They differ whenever runledger does not
/// run on the SQL Server itself: `D:\mgc-copy` there is `\\pcsqldr01\mgc-copy` here.
#[derive(Debug, Clone, Copy)]
pub struct Folder<'a> {
    /// As the SQL Server names it.
    pub server: &'a str,
    /// As this host reaches it.
    pub local: &'a str,
}

impl<'a> Folder<'a> {
    /// The folder `server`, reached here as `local` (the same name when not given).
    pub fn new(server: &'a str, local: Option<&'a str>) -> Folder<'a> {
        Folder {
            server,
            local: local.unwrap_or(server),
        }
    }
}

/// `dir` and `name` joined with the separator `dir` already uses (`\` for a Windows path).
pub fn join(dir: &str, name: &str) -> String {
    let sep = if dir.contains('\\') && !dir.contains('/') {
        '\\'
    } else {
        '/'
    };
    if dir.ends_with(sep) {
        format!("{dir}{name}")
    } else {
        format!("{dir}{sep}{name}")
    }
}

/// A file in a listing, with its content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedFile {
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256.
    pub sha256: String,
}

/// A folder listing as recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The folder.
    pub dir: String,
    /// `.trn` files with size and hash.
    pub files: Vec<ListedFile>,
    /// Why it could not be read.
    pub error: Option<String>,
    /// `.trn` names that are symbolic links: never followed, hashed or copied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
}

/// Says which names of a listing are symbolic links, left alone.
pub fn warn_links(d: &mut crate::dispatcher::Dispatcher, listing: &Listing) {
    for name in &listing.links {
        d.say(&format!(
            "  warning: {} is a symbolic link; links are never followed, so it is neither copied nor restored",
            join(&listing.dir, name)
        ));
    }
}

/// Lists the `.trn` files of a folder with their sizes and SHA-256 (symbolic links are named,
/// never followed).
pub fn list_with_hashes(dir: &str) -> Listing {
    match files::list_dir(std::path::Path::new(dir), "trn") {
        Ok(found) => Listing {
            dir: dir.to_string(),
            links: found.links,
            files: found
                .files
                .into_iter()
                .filter_map(|f| {
                    let (size, sha256) = files::hash_file(&f.path).ok()?;
                    Some(ListedFile {
                        name: f.name,
                        size,
                        sha256,
                    })
                })
                .collect(),
            error: None,
        },
        Err(e) => Listing {
            dir: dir.to_string(),
            files: vec![],
            error: Some(e.to_string()),
            links: vec![],
        },
    }
}

/// A file whose header the server could not read, with the server's error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    /// File name.
    pub file: String,
    /// SQL Server's error number, when the server answered.
    pub error: Option<i64>,
    /// What went wrong.
    pub text: String,
}

/// Headers as recorded: readable ones, and the files whose header could not be read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Headers {
    /// Readable headers.
    pub headers: Vec<BackupHeader>,
    /// Files whose header could not be read.
    pub unreadable: Vec<Unreadable>,
}

/// Reads the header of every file of `listing` through the server (`RESTORE HEADERONLY`, with
/// the server's name of `folder`).
pub async fn read_headers(
    env: &Env,
    target: &str,
    folder: Folder<'_>,
    listing: &Listing,
) -> Headers {
    let mut out = Headers::default();
    for f in &listing.files {
        let path = join(folder.server, &f.name);
        let text = format!("RESTORE HEADERONLY FROM DISK = {};", quote_nstring(&path));
        match env.sql(target, &text, super::env::DEFAULT_TIMEOUT).await {
            Ok(r) => {
                let rows = super::record::rows_of(&r);
                match rows.first() {
                    Some(rs) if !rs.rows.is_empty() => out.headers.push(BackupHeader {
                        file: f.name.clone(),
                        path: path.clone(),
                        size: f.size,
                        sha256: f.sha256.clone(),
                        backup_type: rs.int(0, "BackupType").unwrap_or(0),
                        database: rs.text(0, "DatabaseName").unwrap_or_default(),
                        server: rs.text(0, "ServerName").unwrap_or_default(),
                        first_lsn: rs.text(0, "FirstLSN").unwrap_or_default(),
                        last_lsn: rs.text(0, "LastLSN").unwrap_or_default(),
                        database_backup_lsn: rs.text(0, "DatabaseBackupLSN").unwrap_or_default(),
                        backup_start: rs.text(0, "BackupStartDate").unwrap_or_default(),
                        backup_finish: rs.text(0, "BackupFinishDate").unwrap_or_default(),
                        family_guid: rs.text(0, "FamilyGUID").unwrap_or_default(),
                        first_fork: rs.text(0, "FirstRecoveryForkID").unwrap_or_default(),
                    }),
                    _ => out.unreadable.push(Unreadable {
                        file: f.name.clone(),
                        error: None,
                        text: "no backup set in the file".into(),
                    }),
                }
            }
            Err(e) => out.unreadable.push(Unreadable {
                file: f.name.clone(),
                error: e.number().map(i64::from),
                text: e.to_string(),
            }),
        }
    }
    out
}

/// The bytes free where `dir` lives, when the platform can say.
pub fn free_bytes(dir: &str) -> Option<u64> {
    files::free_space(std::path::Path::new(dir)).ok().flatten()
}
