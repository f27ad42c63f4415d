//! Promise: backup files are copied byte for byte with the hash of what was read, a copy only
//! ever appears under its final name complete, and listing never mistakes other files for
//! backups.

use std::fs;
use std::path::Path;

use runledger_engine::files::{copy_and_hash, hash_file, list_files, partial_path};
use sha2::{Digest, Sha256};

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Deterministic, not compressible-looking content of `len` bytes.
fn content(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn copy_has_the_sources_bytes_and_hash() {
    let dir = tempfile::tempdir().unwrap();
    // Not a multiple of the 4 MiB chunk, so the last chunk is short.
    let data = content(9 * 1024 * 1024 + 12_345);
    let src = dir.path().join("mgc_20240304010000.trn");
    let dst = dir.path().join("copy.trn");
    fs::write(&src, &data).unwrap();
    let mut reports = Vec::new();
    let copied = copy_and_hash(&src, &dst, &mut |n| reports.push(n)).unwrap();
    assert_eq!(copied.size, data.len() as u64);
    assert_eq!(copied.sha256, sha256_hex(&data));
    assert_eq!(fs::read(&dst).unwrap(), data);
    assert!(!partial_path(&dst).exists());
    assert_eq!(reports.last(), Some(&(data.len() as u64)));
    assert!(
        reports.windows(2).all(|w| w[0] < w[1]),
        "progress grows: {reports:?}"
    );
    assert_eq!(
        hash_file(&dst).unwrap(),
        (data.len() as u64, sha256_hex(&data))
    );
}

#[test]
fn a_missing_destination_folder_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("a.trn");
    fs::write(&src, content(1000)).unwrap();
    let dst = dir.path().join("no-such-folder").join("a.trn");
    let err = copy_and_hash(&src, &dst, &mut |_| {}).unwrap_err();
    assert!(
        err.to_string().contains("no-such-folder"),
        "the error names the file: {err}"
    );
    assert!(!dst.exists());
    assert!(!partial_path(&dst).exists());
}

#[test]
fn a_missing_source_is_named_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("gone.trn");
    let dst = dir.path().join("out.trn");
    let err = copy_and_hash(&src, &dst, &mut |_| {}).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert!(err.to_string().contains("gone.trn"), "{err}");
    assert!(!dst.exists() && !partial_path(&dst).exists());
}

#[test]
fn a_leftover_partial_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("a.trn");
    let data = content(5000);
    fs::write(&src, &data).unwrap();
    let dst = dir.path().join("b.trn");
    // An interrupted earlier copy left a longer, different partial file.
    fs::write(partial_path(&dst), content(50_000)).unwrap();
    let copied = copy_and_hash(&src, &dst, &mut |_| {}).unwrap();
    assert_eq!(copied.sha256, sha256_hex(&data));
    assert_eq!(fs::read(&dst).unwrap(), data);
    assert!(!partial_path(&dst).exists());
}

#[test]
fn an_existing_destination_is_replaced_whole() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("a.trn");
    let data = content(10);
    fs::write(&src, &data).unwrap();
    let dst = dir.path().join("b.trn");
    fs::write(&dst, content(100_000)).unwrap();
    copy_and_hash(&src, &dst, &mut |_| {}).unwrap();
    assert_eq!(fs::read(&dst).unwrap(), data);
}

#[test]
fn a_zero_byte_file_copies_with_the_empty_hash() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("empty.trn");
    fs::write(&src, b"").unwrap();
    let dst = dir.path().join("empty-copy.trn");
    let copied = copy_and_hash(&src, &dst, &mut |_| {}).unwrap();
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_eq!((copied.size, copied.sha256.as_str()), (0, empty));
    assert_eq!(fs::metadata(&dst).unwrap().len(), 0);
    assert_eq!(hash_file(&src).unwrap(), (0, empty.to_string()));
}

#[test]
fn hash_file_names_a_missing_file() {
    let err = hash_file(Path::new("/nonexistent/mgc.trn")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/mgc.trn"), "{err}");
}

#[test]
fn listing_keeps_only_files_with_the_extension_sorted_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "mgc_2.trn",
        "mgc_1.TRN",
        "mgc_3.trn.partial",
        "notes.txt",
        "mgc.bak",
    ] {
        fs::write(dir.path().join(name), name).unwrap();
    }
    fs::create_dir(dir.path().join("folder.trn")).unwrap();
    let names: Vec<_> = list_files(dir.path(), "trn")
        .unwrap()
        .into_iter()
        .map(|f| (f.name, f.size))
        .collect();
    assert_eq!(names, [("mgc_1.TRN".into(), 9), ("mgc_2.trn".into(), 9)]);
    let with_dot = list_files(dir.path(), ".trn").unwrap();
    assert_eq!(with_dot.len(), 2);
    assert!(list_files(&dir.path().join("missing"), "trn").is_err());
}

#[cfg(unix)]
#[test]
fn symbolic_links_are_reported_and_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside.secret");
    fs::write(&outside, b"not for the journal").unwrap();
    let share = dir.path().join("share");
    fs::create_dir(&share).unwrap();
    fs::write(share.join("a.trn"), b"log a").unwrap();
    std::os::unix::fs::symlink(&outside, share.join("b.trn")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", share.join("c.trn")).unwrap();

    let found = runledger_engine::files::list_dir(&share, "trn").unwrap();
    let names: Vec<&str> = found.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["a.trn"], "a link is not a file of the listing");
    assert_eq!(found.links, ["b.trn", "c.trn"], "and is reported");
    assert_eq!(list_files(&share, "trn").unwrap().len(), 1);

    // Opened by name (a link put in after the listing): refused, nothing read or written.
    let e = hash_file(&share.join("b.trn")).unwrap_err();
    assert!(e.to_string().contains("is a symbolic link"), "{e}");
    let dst = dir.path().join("b.copy");
    let e = copy_and_hash(&share.join("b.trn"), &dst, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("is a symbolic link"), "{e}");
    assert!(!dst.exists() && !partial_path(&dst).exists());

    // A link planted at the partial name does not redirect a copy.
    let victim = dir.path().join("victim");
    fs::write(&victim, b"keep").unwrap();
    let dst = dir.path().join("a.copy");
    std::os::unix::fs::symlink(&victim, partial_path(&dst)).unwrap();
    assert!(copy_and_hash(&share.join("a.trn"), &dst, &mut |_| {}).is_err());
    assert_eq!(fs::read(&victim).unwrap(), b"keep");
}
