//! Backup files on disk: listing a folder, hashing a file, and copying a file while hashing it.
//!
//! It owns the bytes-on-disk side of `copy_backups` and of the re-hash before each restore:
//! every byte is read once, hashed with SHA-256 on the way, and a copy appears under its final
//! name only once it is complete and durable (`dst.partial`, fsync, rename, fsync of the
//! folder). Symbolic links are never followed: a link in a listed folder is reported, not
//! listed as a file, and a file that is a link when it is opened (hashed, copied, written) is
//! refused — otherwise a link in the share to any file the account can read (`/etc/passwd`)
//! would be hashed, signed into the journal and copied. It must never decide which files to copy or in which order to restore them: the
//! name order of [`list_files`] is for display, LSN order comes from the backup headers.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use runledger_verifier::signing::{hex, sha256_of_reader};
use sha2::{Digest, Sha256};

/// A file found by [`list_files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// File name (no folder).
    pub name: String,
    /// Full path.
    pub path: PathBuf,
    /// Size in bytes when listed.
    pub size: u64,
}

/// Result of [`copy_and_hash`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Bytes copied.
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes copied (read once, from the source).
    pub sha256: String,
}

/// Size of one read: large enough that per-call costs vanish next to hashing, small enough
/// that a buffer is still in the CPU's cache when the hasher and then the writer read it
/// (docs/benchmarks.md has the measurements behind these three sizes).
const CHUNK: usize = 1 << 20;
/// Buffers in flight between the pipeline's stages: 8 MiB in all.
const IN_FLIGHT: usize = 8;
/// Bytes written between two requests to the kernel to start writing them to disk: the disk
/// gets large requests, and the final fsync finds at most this much (and what is in flight)
/// left to write.
const WRITEBACK: u64 = 16 << 20;

/// What [`list_dir`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// The regular files, sorted by name.
    pub files: Vec<FileInfo>,
    /// The names of the symbolic links with the extension, sorted: never followed.
    pub links: Vec<String>,
}

/// Regular files of `dir` whose extension is `extension` (with or without the dot, compared
/// case-insensitively as on the Windows shares backups live on), sorted by name. The order is
/// for display only: never restore in name order (a mirror's clock can make names lie).
/// Symbolic links are not files here (see [`list_dir`]).
pub fn list_files(dir: &Path, extension: &str) -> io::Result<Vec<FileInfo>> {
    Ok(list_dir(dir, extension)?.files)
}

/// [`list_files`], and the symbolic links with that extension, which are never followed.
pub fn list_dir(dir: &Path, extension: &str) -> io::Result<Found> {
    let wanted = extension.trim_start_matches('.');
    let entries = fs::read_dir(dir).map_err(|e| with_path(e, "list", dir))?;
    let mut out = Vec::new();
    let mut links = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| with_path(e, "list", dir))?;
        let path = entry.path();
        let matches = path
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| x.eq_ignore_ascii_case(wanted));
        if !matches {
            continue;
        }
        // The entry itself, never what a link points to.
        let meta =
            fs::symlink_metadata(&path).map_err(|e| with_path(e, "read metadata of", &path))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if meta.file_type().is_symlink() {
            links.push(name);
            continue;
        }
        if !meta.is_file() {
            continue;
        }
        out.push(FileInfo {
            name,
            path,
            size: meta.len(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    links.sort();
    Ok(Found { files: out, links })
}

/// Opens `path` for reading without following a symbolic link at its last component.
fn open_no_follow(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    no_follow(&mut options);
    options.open(path).map_err(|e| link_refused(e, path))
}

#[cfg(unix)]
fn no_follow(options: &mut OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt as _;
    options.custom_flags(libc::O_NOFOLLOW);
}

#[cfg(not(unix))]
fn no_follow(_options: &mut OpenOptions) {}

/// ELOOP from `O_NOFOLLOW` said as what it is.
fn link_refused(e: io::Error, path: &Path) -> io::Error {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ELOOP) {
        return io::Error::new(
            e.kind(),
            format!(
                "{} is a symbolic link, which is never followed",
                path.display()
            ),
        );
    }
    let _ = path;
    e
}

/// Size and lowercase hex SHA-256 of the file at `path`, in one streaming pass; a symbolic
/// link is refused, not followed.
pub fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let file = open_no_follow(path).map_err(|e| with_path(e, "open", path))?;
    sha256_of_reader(file).map_err(|e| with_path(e, "read", path))
}

/// [`hash_file`] on a blocking thread, for async callers: the size and SHA-256 of `path`, or
/// why it cannot be read.
pub async fn hash_in_background(path: &str) -> Result<(u64, String), String> {
    let p = std::path::PathBuf::from(path);
    match tokio::task::spawn_blocking(move || hash_file(&p)).await {
        Ok(found) => found.map_err(|e| e.to_string()),
        Err(e) => Err(format!("hash task failed: {e}")),
    }
}

/// `dst` with `.partial` appended to its file name: where a copy is written until complete.
pub fn partial_path(dst: &Path) -> PathBuf {
    let mut name = dst.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    dst.with_file_name(name)
}

/// Copies src to dst reading each byte once: hashes while copying, writes `dst.partial`,
/// fsyncs it, renames to dst, fsyncs the directory. Reports progress in bytes. Never leaves a
/// partial file under the final name.
///
/// `progress` receives the running total of bytes written, after each chunk. An existing
/// `dst.partial` (from an interrupted copy) is replaced; an existing `dst` is replaced
/// atomically by the rename. On any failure `dst.partial` is removed and `dst` is untouched.
/// A source whose size changes during the copy is refused (`InvalidData`): its hash would
/// describe no version of the file.
///
/// Reading, hashing and writing run as a three-stage pipeline (a reader thread, a hashing
/// thread, and the calling thread writing), passing 1 MiB buffers, so the copy runs at the
/// speed of its slowest stage rather than their sum: on two cores, SHA-256 of the bytes
/// (SHA-NI where the CPU has it) or the disk, whichever is slower. A buffer goes to the writer
/// only after the hasher is done with it and nothing writes into it until the writer has
/// written it, so the hash is of exactly the bytes written. Writing to disk starts every
/// 16 MiB while the copy goes on, so the fsync at the end waits for little.
pub fn copy_and_hash(src: &Path, dst: &Path, progress: &mut dyn FnMut(u64)) -> io::Result<Copied> {
    let partial = partial_path(dst);
    let result = copy_to_partial(src, &partial, progress).and_then(|copied| {
        fs::rename(&partial, dst).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("rename {} to {}: {e}", partial.display(), dst.display()),
            )
        })?;
        sync_dir(dst)?;
        Ok(copied)
    });
    if result.is_err() {
        // Best effort: the error that matters is the one being returned.
        let _ = fs::remove_file(&partial);
    }
    result
}

fn copy_to_partial(
    src: &Path,
    partial: &Path,
    progress: &mut dyn FnMut(u64),
) -> io::Result<Copied> {
    let mut input = open_no_follow(src).map_err(|e| with_path(e, "open", src))?;
    let expected = input
        .metadata()
        .map_err(|e| with_path(e, "read metadata of", src))?
        .len();
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    // A link planted at the partial name must not redirect the copy.
    no_follow(&mut options);
    let mut output = options
        .open(partial)
        .map_err(|e| with_path(link_refused(e, partial), "create", partial))?;

    // Buffers circulate reader → hasher → writer → reader; the bounded channels and the fixed
    // number of buffers bound memory to IN_FLIGHT × CHUNK.
    let (free_tx, free_rx) = sync_channel::<Vec<u8>>(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        free_tx
            .send(vec![0u8; CHUNK])
            .expect("room for every buffer");
    }
    let (read_tx, read_rx) = sync_channel::<(Vec<u8>, usize)>(IN_FLIGHT);
    let (hashed_tx, hashed_rx) = sync_channel::<(Vec<u8>, usize)>(IN_FLIGHT);

    let (read_result, hash_result, write_result) = std::thread::scope(|s| {
        let reader = s.spawn(move || read_stage(&mut input, free_rx, read_tx));
        let hasher = s.spawn(move || hash_stage(read_rx, hashed_tx));
        let written = write_stage(&mut output, hashed_rx, free_tx, progress);
        // If writing failed, the receivers above are gone and both threads stop at their
        // next send.
        (
            reader.join().expect("reader thread panicked"),
            hasher.join().expect("hasher thread panicked"),
            written,
        )
    });
    read_result.map_err(|e| with_path(e, "read", src))?;
    let written = write_result.map_err(|e| with_path(e, "write", partial))?;
    let (size, sha256) = hash_result;
    if size != written {
        return Err(io::Error::other(format!(
            "copy {}: {size} bytes read but {written} written",
            src.display()
        )));
    }
    let now = fs::metadata(src)
        .map_err(|e| with_path(e, "read metadata of", src))?
        .len();
    if size != expected || now != expected {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "copy {}: the file changed size while being copied ({expected} bytes at start, {size} read, {now} now); copy it again once the writer is done",
                src.display()
            ),
        ));
    }
    output
        .sync_all()
        .map_err(|e| with_path(e, "flush to disk", partial))?;
    Ok(Copied { size, sha256 })
}

fn read_stage(
    input: &mut File,
    free: Receiver<Vec<u8>>,
    out: SyncSender<(Vec<u8>, usize)>,
) -> io::Result<()> {
    for mut buf in free.iter() {
        // Fill the whole buffer when the file allows, so chunks stay large.
        let mut filled = 0;
        while filled < buf.len() {
            let n = read_retry(input, &mut buf[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        let end = filled < buf.len();
        if filled > 0 && out.send((buf, filled)).is_err() {
            return Ok(());
        }
        if end {
            return Ok(());
        }
    }
    Ok(())
}

fn hash_stage(
    input: Receiver<(Vec<u8>, usize)>,
    out: SyncSender<(Vec<u8>, usize)>,
) -> (u64, String) {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    for (buf, n) in input.iter() {
        hasher.update(&buf[..n]);
        size += n as u64;
        if out.send((buf, n)).is_err() {
            break;
        }
    }
    (size, hex(&hasher.finalize()))
}

fn write_stage(
    output: &mut File,
    input: Receiver<(Vec<u8>, usize)>,
    free: SyncSender<Vec<u8>>,
    progress: &mut dyn FnMut(u64),
) -> io::Result<u64> {
    let mut written = 0u64;
    let mut flushed = 0u64;
    for (buf, n) in input.iter() {
        output.write_all(&buf[..n])?;
        written += n as u64;
        if written - flushed >= WRITEBACK {
            start_writeback(output, flushed, written - flushed);
            flushed = written;
        }
        progress(written);
        // The reader may have finished and dropped its receiver: nothing left to recycle for.
        let _ = free.send(buf);
    }
    Ok(written)
}

/// Asks the kernel to start writing `len` bytes at `offset` to disk now, without waiting, so
/// that the disk works while later bytes are read and hashed and the final fsync finds
/// little left to write. Only a hint: a failure here is ignored (the fsync that follows
/// reports any write error).
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd as _;
    // SAFETY: sync_file_range(2) on an open descriptor reads no memory of ours.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

fn read_retry(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Makes the rename durable: on unix the new directory entry is only on disk once the
/// directory itself is synced.
#[cfg(unix)]
pub(crate) fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| with_path(e, "flush to disk the folder", dir))
}

/// Windows cannot open a directory as a file to sync it; NTFS journals the rename itself.
#[cfg(not(unix))]
pub(crate) fn sync_dir(_path: &Path) -> io::Result<()> {
    Ok(())
}

/// Renames `from` over `to`, replacing a file already there (`MoveFileEx` with replace
/// semantics on Windows). `from` must be closed: Windows refuses to rename an open file.
///
/// Windows also refuses to replace a file that another process holds open without allowing
/// its deletion ("Access is denied"): a virus scanner or an indexer opens a new file for a
/// moment, a viewer while it reads. There the rename is tried again for a little while; a file
/// held longer is an error and stays as it was. Unix replaces an open file at once (readers
/// keep the version they opened).
pub fn replace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(windows)]
    {
        let deadline = std::time::Instant::now() + REPLACE_PATIENCE;
        loop {
            match fs::rename(from, to) {
                Err(e)
                    if e.kind() == io::ErrorKind::PermissionDenied
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }
    #[cfg(not(windows))]
    fs::rename(from, to)
}

/// How long [`replace`] waits on Windows for another process to close the file it replaces.
#[cfg(windows)]
const REPLACE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// The bytes free for an unprivileged writer on the file system holding `dir`; `None` where the
/// platform gives no answer here.
pub fn free_space(dir: &Path) -> io::Result<Option<u64>> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt as _;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Some(
            (st.f_bavail as u64).saturating_mul(st.f_frsize as u64),
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_path_appends_to_the_file_name() {
        assert_eq!(
            partial_path(Path::new("/d/mgc_1.trn")),
            Path::new("/d/mgc_1.trn.partial")
        );
    }
}
