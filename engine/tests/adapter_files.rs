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
    // Not a multiple of the 1 MiB chunk, so the last chunk is short, and past the 16 MiB at
    // which writing to disk is started while the copy goes on.
    let data = content(17 * 1024 * 1024 + 12_345);
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

/// The copy's hash is SHA-256 as the standard defines it: the FIPS 180-2 examples, copied.
#[test]
fn the_copy_hash_is_sha256_by_the_standard_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let million_a = vec![b'a'; 1_000_000];
    let vectors: [(&[u8], &str); 4] = [
        (
            b"",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            b"abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
        (
            &million_a,
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
        ),
    ];
    for (i, (bytes, sha256)) in vectors.into_iter().enumerate() {
        let src = dir.path().join(format!("v{i}.trn"));
        let dst = dir.path().join(format!("v{i}.copy"));
        fs::write(&src, bytes).unwrap();
        let copied = copy_and_hash(&src, &dst, &mut |_| {}).unwrap();
        assert_eq!(copied.sha256, sha256, "vector {i}");
        assert_eq!(copied.size, bytes.len() as u64);
        assert_eq!(
            hash_file(&dst).unwrap().1,
            sha256,
            "vector {i}, hashed again"
        );
    }
}

/// A copy of many chunks hashes as another program does: `sha256sum` of the source.
#[cfg(unix)]
#[test]
fn a_copy_of_many_chunks_hashes_as_sha256sum_does() {
    let dir = tempfile::tempdir().unwrap();
    let data = content(33 * 1024 * 1024 + 7);
    let src = dir.path().join("mgc_big.trn");
    fs::write(&src, &data).unwrap();
    let out = std::process::Command::new("sha256sum")
        .arg(&src)
        .output()
        .expect("sha256sum (coreutils) runs");
    assert!(out.status.success());
    let theirs = String::from_utf8(out.stdout).unwrap();
    let theirs = theirs.split_whitespace().next().unwrap().to_string();
    let dst = dir.path().join("copy.trn");
    let copied = copy_and_hash(&src, &dst, &mut |_| {}).unwrap();
    assert_eq!(copied.sha256, theirs);
    assert_eq!(fs::read(&dst).unwrap(), data);
}

/// The child side of [`a_copy_killed_mid_file_leaves_no_copy_and_is_copied_again`]: copies
/// the file it is given and, once past its first 2 MiB, says so and waits to be killed.
#[test]
fn copy_child_waits_mid_file() {
    let Ok(paths) = std::env::var("RUNLEDGER_TEST_COPY_CHILD") else {
        return; // run as an ordinary test: nothing to do
    };
    let (src, dst) = paths.split_once('\n').unwrap();
    let mut said = false;
    let _ = copy_and_hash(Path::new(src), Path::new(dst), &mut |done| {
        if done >= 2 << 20 && !said {
            said = true;
            println!("mid-file {done}");
            use std::io::Write as _;
            std::io::stdout().flush().unwrap();
            std::thread::sleep(std::time::Duration::from_secs(600));
        }
    });
    panic!("the copy was to be killed before it ended");
}

/// A process killed in the middle of a copy leaves only the partial file: nothing under the
/// final name, so the check `copy_backups` makes on resume (the copy's hash) finds no copy and
/// the file is copied again, from its first byte, and hashed again.
#[test]
fn a_copy_killed_mid_file_leaves_no_copy_and_is_copied_again() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let data = content(24 * 1024 * 1024 + 99);
    let src = dir.path().join("mgc_mid.trn");
    let dst = dir.path().join("copy").join("mgc_mid.trn");
    fs::create_dir(dst.parent().unwrap()).unwrap();
    fs::write(&src, &data).unwrap();

    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "copy_child_waits_mid_file",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            "RUNLEDGER_TEST_COPY_CHILD",
            format!("{}\n{}", src.display(), dst.display()),
        )
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let said = stdout
        .lines()
        .map(|l| l.unwrap())
        .find(|l| l.contains("mid-file "));
    assert!(said.is_some(), "the child reached the middle of the file");
    child.kill().unwrap(); // SIGKILL: no destructor, no clean-up runs
    child.wait().unwrap();

    let partial = fs::metadata(partial_path(&dst)).expect("the partial file is left");
    assert!(
        partial.len() >= 2 << 20 && partial.len() < data.len() as u64,
        "killed mid-file: {} of {} bytes",
        partial.len(),
        data.len()
    );
    assert!(!dst.exists(), "nothing under the final name");
    assert!(hash_file(&dst).is_err(), "the resume's check finds no copy");

    let mut reports = Vec::new();
    let copied = copy_and_hash(&src, &dst, &mut |n| reports.push(n)).unwrap();
    assert_eq!(
        reports.first(),
        Some(&(1 << 20)),
        "copied again from its first byte"
    );
    assert_eq!(copied.sha256, sha256_hex(&data), "hashed again, all of it");
    assert_eq!(copied.size, data.len() as u64);
    assert_eq!(fs::read(&dst).unwrap(), data);
    assert!(!partial_path(&dst).exists());
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
