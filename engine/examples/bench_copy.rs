//! Copies backup files with the engine's real copy step, for timing against `cp`.
//!
//! `bench_copy DEST_DIR FILE...` (used by `scripts/bench`; release build)
//!
//! Calls [`runledger_engine::files::copy_and_hash`] on each file in turn, as `copy_backups`
//! does (one file after the other, each read once, hashed, written to `NAME.partial`,
//! fsynced, renamed, its folder fsynced), and prints each file's size and sha256.

use std::path::PathBuf;

use runledger_engine::files::copy_and_hash;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let Some(dest) = args.next().map(PathBuf::from) else {
        return Err("usage: bench_copy DEST_DIR FILE...".into());
    };
    for src in args.map(PathBuf::from) {
        let name = src.file_name().ok_or("a file has no name")?;
        let copied = copy_and_hash(&src, &dest.join(name), &mut |_| {})?;
        println!(
            "{}  {} ({} bytes)",
            copied.sha256,
            src.display(),
            copied.size
        );
    }
    Ok(())
}
