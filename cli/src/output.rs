//! What the commands write: the files named by their output flags, and standard output.
//!
//! A command never clobbers: an output path that exists is refused before any work unless
//! `--force` is given, and never when it is one of the command's own inputs (the journal, a
//! checkpoint, a key). `-` is standard output for every output flag. A file is written whole
//! under a temporary name beside it, flushed, then put in place (linked, so that a file that
//! appeared meanwhile is not replaced, or renamed over the old one with `--force`); a special
//! file (a pipe, a terminal, `/dev/stdout`, `/dev/null`) is written in place and never renamed
//! over. A failed write to standard output — a closed pipe (`| head -1`), a full disk — is an
//! error naming standard output, never a panic.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

/// Where an output flag points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// `-`.
    Stdout,
    /// A path.
    File(PathBuf),
}

impl Output {
    /// The output a flag's value names: `-` is standard output.
    pub fn from_arg(path: &Path) -> Output {
        if path.as_os_str() == "-" {
            Output::Stdout
        } else {
            Output::File(path.to_path_buf())
        }
    }

    /// True for standard output.
    pub fn is_stdout(&self) -> bool {
        *self == Output::Stdout
    }

    /// How messages name it.
    pub fn describe(&self) -> String {
        match self {
            Output::Stdout => "standard output".into(),
            Output::File(p) => p.display().to_string(),
        }
    }
}

/// What is at an output path now.
enum Existing {
    Nothing,
    /// A pipe, a terminal, a socket, `/dev/null`: written in place, nothing to clobber.
    /// (Told apart on unix only; elsewhere every path is written through a temporary file.)
    #[cfg_attr(not(unix), allow(dead_code))]
    Special,
    /// A regular file, a block device, a link to one, or a dangling link.
    File,
}

fn existing(path: &Path) -> Result<Existing> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Existing::Nothing),
        Err(e) => return Err(e).with_context(|| format!("cannot write {}", path.display())),
        Ok(_) => {}
    }
    let Ok(target) = fs::metadata(path) else {
        return Ok(Existing::File); // a dangling link
    };
    if target.is_dir() {
        bail!("cannot write {}: it is a directory", path.display());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        let t = target.file_type();
        if t.is_fifo() || t.is_char_device() || t.is_socket() {
            return Ok(Existing::Special);
        }
    }
    Ok(Existing::File)
}

/// The same file (device and inode) as `b`, when both exist.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        match (fs::metadata(a), fs::metadata(b)) {
            (Ok(x), Ok(y)) => (x.dev(), x.ino()) == (y.dev(), y.ino()),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        fs::canonicalize(a)
            .ok()
            .is_some_and(|x| fs::canonicalize(b).ok() == Some(x))
    }
}

/// Refuses, before any work, an output that would clobber: an existing file without
/// `--force`, or one of the command's `inputs` whatever the flags.
pub fn check(out: &Output, force: bool, inputs: &[&Path]) -> Result<()> {
    let Output::File(path) = out else {
        return Ok(());
    };
    if let Some(input) = inputs.iter().find(|i| same_file(path, i)) {
        bail!(
            "refusing to write {}: it is {}, which this command reads",
            path.display(),
            input.display()
        );
    }
    match existing(path)? {
        Existing::Nothing | Existing::Special => Ok(()),
        Existing::File if force => Ok(()),
        Existing::File => bail!(
            "{} already exists; give --force to replace it, or another path",
            path.display()
        ),
    }
}

/// Refuses two outputs that are both standard output.
pub fn one_stdout(outputs: &[(&str, &Output)]) -> Result<()> {
    let on_stdout: Vec<&str> = outputs
        .iter()
        .filter(|(_, o)| o.is_stdout())
        .map(|(flag, _)| *flag)
        .collect();
    if on_stdout.len() > 1 {
        bail!(
            "{} cannot all be standard output (-): give files for all but one",
            on_stdout.join(" and ")
        );
    }
    Ok(())
}

/// An output being written: call [`Sink::finish`] to put it in place.
pub struct Sink {
    out: Output,
    kind: SinkKind,
}

enum SinkKind {
    Stdout(BufWriter<io::StdoutLock<'static>>),
    InPlace(BufWriter<File>),
    Temp {
        file: BufWriter<File>,
        tmp: PathBuf,
        force: bool,
    },
}

/// Opens `out` for writing (after [`check`]).
pub fn open(out: &Output, force: bool) -> Result<Sink> {
    let kind = match out {
        Output::Stdout => SinkKind::Stdout(BufWriter::new(io::stdout().lock())),
        Output::File(path) => {
            let cannot = || format!("cannot write {}", path.display());
            match existing(path)? {
                Existing::Special => SinkKind::InPlace(BufWriter::new(
                    OpenOptions::new()
                        .write(true)
                        .open(path)
                        .with_context(cannot)?,
                )),
                Existing::File if !force => bail!(
                    "{} already exists; give --force to replace it, or another path",
                    path.display()
                ),
                Existing::Nothing | Existing::File => {
                    let tmp = temporary_beside(path);
                    let file = OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&tmp)
                        .with_context(|| format!("cannot write {}", tmp.display()))?;
                    SinkKind::Temp {
                        file: BufWriter::new(file),
                        tmp,
                        force,
                    }
                }
            }
        }
    };
    Ok(Sink {
        out: out.clone(),
        kind,
    })
}

/// `.<name>.<pid>.tmp` beside `path`: never a name a user's file is likely to have.
fn temporary_beside(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.kind {
            SinkKind::Stdout(w) => w.write(buf),
            SinkKind::InPlace(w) => w.write(buf),
            SinkKind::Temp { file, .. } => file.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.kind {
            SinkKind::Stdout(w) => w.flush(),
            SinkKind::InPlace(w) => w.flush(),
            SinkKind::Temp { file, .. } => file.flush(),
        }
    }
}

impl Sink {
    /// The error for a failed write to this output.
    pub fn error(&self, e: io::Error) -> anyhow::Error {
        anyhow::Error::new(e).context(format!("cannot write {}", self.out.describe()))
    }

    /// Flushes the output and, for a file, makes it durable and puts it in place.
    pub fn finish(self) -> Result<()> {
        let describe = self.out.describe();
        let cannot = || format!("cannot write {describe}");
        match self.kind {
            SinkKind::Stdout(mut w) => w.flush().with_context(cannot),
            SinkKind::InPlace(mut w) => w.flush().with_context(cannot),
            SinkKind::Temp { file, tmp, force } => {
                let Output::File(path) = &self.out else {
                    unreachable!("a temporary file is only made for a path")
                };
                let placed = file
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .and_then(|f| f.sync_all())
                    .and_then(|()| place(&tmp, path, force));
                let _ = fs::remove_file(&tmp);
                placed.with_context(cannot)?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    // The new name durable too (best effort on systems that cannot sync a folder).
                    if let Ok(d) = File::open(dir) {
                        let _ = d.sync_all();
                    }
                }
                Ok(())
            }
        }
    }
}

/// Puts the finished temporary file at `path`: over an old file only with `force`.
fn place(tmp: &Path, path: &Path, force: bool) -> io::Result<()> {
    if force {
        // Over the old file (on Windows, once whoever reads it has let go).
        return runledger_engine::files::replace(tmp, path);
    }
    match fs::hard_link(tmp, path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(io::Error::new(
            e.kind(),
            "it appeared while being written; give --force to replace it",
        )),
        // A file system without hard links: the check before the work stands.
        Err(e) if e.kind() != io::ErrorKind::NotFound && !path.exists() => fs::rename(tmp, path),
        other => other,
    }
}

/// Writes `bytes` to `out` whole.
pub fn write(out: &Output, force: bool, bytes: &[u8]) -> Result<()> {
    let mut sink = open(out, force)?;
    if let Err(e) = sink.write_all(bytes) {
        return Err(sink.error(e));
    }
    sink.finish()
}

/// Writes `text` to standard output and flushes it: a closed pipe or a full disk is an error.
pub fn print(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write standard output")
}

/// `println!` that returns an error instead of panicking when standard output is closed.
macro_rules! outln {
    () => {
        $crate::output::print("\n")
    };
    ($($arg:tt)*) => {
        $crate::output::print(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_files_are_refused_without_force_and_inputs_always() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.txt");
        fs::write(&old, "keep me").unwrap();
        let out = Output::File(old.clone());
        let e = check(&out, false, &[]).unwrap_err().to_string();
        assert!(e.contains("already exists; give --force"), "{e}");
        assert!(write(&out, false, b"new").is_err());
        assert_eq!(fs::read_to_string(&old).unwrap(), "keep me");
        check(&out, true, &[]).unwrap();
        let e = check(&out, true, &[&old]).unwrap_err().to_string();
        assert!(e.contains("which this command reads"), "{e}");
        write(&out, true, b"new").unwrap();
        assert_eq!(fs::read_to_string(&old).unwrap(), "new");

        let fresh = Output::File(dir.path().join("fresh.txt"));
        write(&fresh, false, b"hello").unwrap();
        assert_eq!(fs::read(dir.path().join("fresh.txt")).unwrap(), b"hello");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");

        // A special file is written in place, never renamed over.
        let null = Output::File(PathBuf::from("/dev/null"));
        check(&null, false, &[]).unwrap();
        write(&null, false, b"x").unwrap();
        assert!(Path::new("/dev/null").exists());

        assert_eq!(Output::from_arg(Path::new("-")), Output::Stdout);
        let e = one_stdout(&[("--html", &Output::Stdout), ("--md", &Output::Stdout)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--html and --md"), "{e}");
    }
}
