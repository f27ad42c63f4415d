//! `runledger report`: the post-incident report shows the verifier's verdict first, renders in
//! a real browser without fetching anything, never presents a tampered journal as proven, and
//! its Markdown form is pinned by a redacted snapshot.
//!
//! The browser is Debian's headless `chromium` (installed by `.ci/run`). What the network test
//! proves: Chromium's own network log (`--log-net-log`), with every host name mapped to
//! NOTFOUND, records no request for any URL other than the report's own `file://` URL while it
//! loads and renders the page, apart from the few requests Chromium makes by itself for any
//! page (told apart by their traffic annotation, see [`BROWSER_OWN`]); a control page with one
//! remote image proves that the same harness does catch a page's request. The page also
//! carries a `default-src 'none'` Content-Security-Policy, and its source holds no `src`, no
//! `url(` and no `href` other than `#fragment` links. It does not prove what a different
//! browser would do with the page, nor watch traffic outside Chromium.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{runledger, runledger_verify, text};

const CHROMIUM: &str = "/usr/bin/chromium";
const SNAPSHOT: &str = "tests/snapshots/report_drill_seed1.md";

/// A finished drill (default scenario, seed 1) in its own temporary directory.
fn drill() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = runledger()
        .arg("drill")
        .arg("--dir")
        .arg(dir.path())
        .args(["--seed", "1"])
        .output()
        .expect("run the drill");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let html = dir.path().join("report.html");
    assert!(html.exists(), "the drill writes DIR/report.html: {stdout}");
    assert!(
        stdout.contains(&html.display().to_string()),
        "the drill's summary names the report: {stdout}"
    );
    dir
}

/// `runledger-verify --json` of a drill: the independent list of steps and files to look for.
fn verify_json(dir: &Path) -> serde_json::Value {
    let out = runledger_verify()
        .arg(dir.join("journal.db"))
        .arg("--trust")
        .arg(dir.join("operator.key.pub"))
        .arg("--json")
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).expect("runledger-verify --json prints JSON")
}

fn chromium() -> &'static str {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: these tests render the report in Debian's headless chromium, \
         which CI installs through .ci/run (locally: apt-get install -y chromium)"
    );
    CHROMIUM
}

/// Runs headless Chromium on a file with the given extra arguments, killed after 90 s.
fn run_chromium(page: &Path, extra: &[String]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--host-resolver-rules=MAP * ~NOTFOUND",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    // Drain both pipes while waiting: a page's DOM is larger than a pipe's buffer, and a
    // browser blocked on a full pipe never exits.
    // A helper process that outlives the browser may hold a pipe open: give up on it after a
    // while rather than wait for ever.
    fn drain(mut from: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<Vec<u8>> {
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = from.read_to_end(&mut bytes);
            let _ = send.send(bytes);
        });
        receive
    }
    let collected = |r: std::sync::mpsc::Receiver<Vec<u8>>| {
        r.recv_timeout(Duration::from_secs(20)).unwrap_or_default()
    };
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: collected(stdout),
        stderr: collected(stderr),
    }
}

/// Traffic annotations (Chromium's ids for why a request is made) of the requests headless
/// Chromium makes on its own whatever page it shows, despite the flags above: the network time
/// query, Google's account list, an async Google query, and (Chromium 156 on, in spite of
/// `--disable-component-update`) the component updater's `update.googleapis.com` check.
/// Everything else is a request the page caused. An unknown background service makes the test
/// fail, never pass wrongly.
const BROWSER_OWN: [u64; 4] = [46_188_932, 35_565_745, 109_231_476, 54_845_618];

/// (traffic annotation, URL) of every request started in a Chromium NetLog file.
fn requests(netlog: &Path) -> Vec<(u64, String)> {
    let text = std::fs::read_to_string(netlog)
        .unwrap_or_else(|e| panic!("chromium wrote no net log {}: {e}", netlog.display()));
    let mut found = Vec::new();
    // Request parameters are flat objects: `{"priority":…,"traffic_annotation":N,"url":"…"}`.
    for object in text.split('{') {
        let object = &object[..object.find('}').unwrap_or(object.len())];
        let field = |name: &str| {
            let key = format!("\"{name}\":");
            let at = object.find(&key)? + key.len();
            Some(&object[at..])
        };
        let (Some(annotation), Some(url)) = (field("traffic_annotation"), field("url")) else {
            continue;
        };
        let annotation: String = annotation
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let url = url.trim_start_matches('"');
        let url = &url[..url.find('"').unwrap_or(url.len())];
        found.push((annotation.parse().unwrap_or(0), url.to_string()));
    }
    found
}

/// The URLs the page itself requested, other than its own.
fn page_requests(netlog: &Path, page_url: &str) -> Vec<String> {
    requests(netlog)
        .into_iter()
        .filter(|(a, u)| !BROWSER_OWN.contains(a) && u != page_url)
        .map(|(_, u)| u)
        .collect()
}

fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!("{attr}=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let v = &html[i + needle.len()..];
            &v[..v.find('"').unwrap_or(v.len())]
        })
        .collect()
}

#[test]
fn drill_report_renders_verdict_steps_and_hashes_in_chromium_without_network() {
    let dir = drill();
    let page = dir.path().join("report.html");
    let source = std::fs::read_to_string(&page).unwrap();

    // The page's source refers to nothing outside itself.
    for tag in [
        "<script", "<link", "<img", "<iframe", "<object", "<embed", "@import", "url(",
    ] {
        assert!(!source.contains(tag), "report.html contains {tag}");
    }
    for attr in [" src", "srcset", "xlink:href", "action", "poster"] {
        assert!(
            attribute_values(&source, attr).is_empty(),
            "report.html has {attr}="
        );
    }
    for href in attribute_values(&source, "href") {
        assert!(
            href.starts_with('#'),
            "href {href:?} is not a link within the page"
        );
    }
    assert!(source.contains("Content-Security-Policy\" content=\"default-src 'none'"));

    // Rendered by a real browser, with its network log on.
    let netlog = dir.path().join("netlog.json");
    let out = run_chromium(
        &page,
        &[
            format!("--log-net-log={}", netlog.display()),
            "--net-log-capture-mode=Everything".into(),
            "--dump-dom".into(),
        ],
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("</html>"),
        "chromium rendered the page: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = verify_json(dir.path());
    assert_eq!(report["verdict"], "valid_sealed", "without the checkpoint");
    let headline = dom.find("VALID AND ANCHORED").expect("verdict rendered");
    assert!(
        headline < dom.find("<h1").unwrap(),
        "the verdict comes before anything else"
    );
    let steps = report["steps"].as_array().unwrap();
    assert!(steps.len() > 10);
    for s in steps {
        let unit = s["step"].as_str().unwrap();
        assert!(dom.contains(unit), "step {unit} rendered");
    }
    let files = report["backup_files"].as_array().unwrap();
    assert!(!files.is_empty());
    for f in files {
        let sha = f["sha256"].as_str().unwrap();
        assert!(dom.contains(sha), "backup file hash {sha} rendered");
    }
    assert!(dom.contains("<svg"), "the timeline chart is inline SVG");

    let page_url = format!("file://{}", page.display());
    let foreign = page_requests(&netlog, &page_url);
    assert!(foreign.is_empty(), "the page made requests: {foreign:?}");

    // Control: the same harness sees a page's request for a remote image.
    let control = dir.path().join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><html><body><img src=\"http://report-test.invalid/x.png\"></body></html>",
    )
    .unwrap();
    let control_log = dir.path().join("control-netlog.json");
    run_chromium(
        &control,
        &[
            format!("--log-net-log={}", control_log.display()),
            "--net-log-capture-mode=Everything".into(),
            "--dump-dom".into(),
        ],
    );
    let urls = page_requests(&control_log, &format!("file://{}", control.display()));
    assert!(
        urls.iter()
            .any(|u| u.starts_with("http://report-test.invalid/")),
        "the net log catches a remote request: {urls:?}"
    );
}

/// The drill's journal copied, its trigger dropped and one byte of seq 12 changed.
fn tampered(dir: &Path) -> PathBuf {
    let copy = dir.join("tampered.db");
    std::fs::copy(dir.join("journal.db"), &copy).unwrap();
    let conn = rusqlite::Connection::open(&copy).unwrap();
    conn.execute_batch(
        "DROP TRIGGER events_no_update; UPDATE events SET event = CAST(replace(CAST(event AS TEXT), 'PCSQLDR01', 'PCSQLDR02') AS BLOB) WHERE seq = 2;",
    )
    .unwrap();
    copy
}

#[test]
fn tampered_journal_report_states_the_failure_first_and_proves_nothing() {
    let dir = drill();
    let d = dir.path();
    let journal = tampered(d);
    let (html, md) = (d.join("tampered.html"), d.join("tampered.md"));
    let out = runledger()
        .args(["report", "--journal"])
        .arg(&journal)
        .arg("--html")
        .arg(&html)
        .arg("--md")
        .arg(&md)
        .arg("--trust")
        .arg(d.join("operator.key.pub"))
        .arg("--checkpoint")
        .arg(d.join("checkpoint.txt"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("VERIFICATION FAILED"), "{stdout}");

    let page = std::fs::read_to_string(&html).unwrap();
    let body = &page[page.find("<body").unwrap()..];
    let failed = body
        .find("VERIFICATION FAILED: INVALID")
        .expect("the failure is stated");
    assert!(
        body[..failed].find("<h").is_none(),
        "nothing comes before the failure"
    );
    assert!(body.contains("class=\"verdict bad\""));
    assert!(body.contains("seq 2"), "the failing seq is named");
    assert!(body.contains("NOTHING IN THIS REPORT IS PROVEN"));
    for proven in [
        "VALID AND",
        "VALID BUT",
        "class=\"verdict ok\"",
        "class=\"verdict open\"",
    ] {
        assert!(!page.contains(proven), "the report presents {proven:?}");
    }
    // Every section repeats that it is not proven.
    let sections: Vec<&str> = body.split("<h2").skip(1).collect();
    assert!(sections.len() >= 5);
    for s in sections {
        let heading = &s[..s.find("</h2>").unwrap()];
        if heading.contains("Verification checks") {
            assert!(s.contains(">failed<"), "the failed check is listed");
            continue;
        }
        assert!(
            s.contains("Not proven: read from a journal that failed verification."),
            "section {heading} is marked as not proven"
        );
    }

    let md = std::fs::read_to_string(&md).unwrap();
    let quote = md.lines().find(|l| l.starts_with("> ")).unwrap();
    assert!(quote.contains("VERIFICATION FAILED: INVALID"), "{quote}");
    assert!(!md.contains("VALID AND"));
}

#[test]
fn report_without_trust_says_the_key_is_the_journals_own() {
    let dir = drill();
    let d = dir.path();
    let html = d.join("own-key.html");
    let out = runledger()
        .args(["report", "--journal"])
        .arg(d.join("journal.db"))
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let page = std::fs::read_to_string(&html).unwrap();
    let headline = &page[page.find("class=\"headline\"").unwrap()..];
    let headline = &headline[..headline.find("</p>").unwrap()];
    assert!(
        headline.contains(
            "SIGNED BY THE KEY THE JOURNAL NAMES; NOT CHECKED AGAINST A TRUSTED-KEYS FILE"
        ),
        "{headline}"
    );
    assert!(
        !page.contains("class=\"verdict ok\""),
        "never shown as fully proven"
    );
}

/// Replaces what differs between two drills of the same seed: times, durations, ids, hashes,
/// paths, ports, the operator's user and host.
fn redact(text: &str, dir: &Path, operator: &str) -> String {
    let mut s = text.to_string();
    let canonical = dir.canonicalize().unwrap();
    for (from, to) in [
        (env!("CARGO_BIN_EXE_runledger").to_string(), "<RUNLEDGER>"),
        (canonical.display().to_string(), "<DIR>"),
        (dir.display().to_string(), "<DIR>"),
        (operator.to_string(), "<USER>@<HOST>"),
    ] {
        s = s.replace(&from, to);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let is_hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
    let run = |i: usize, f: &dyn Fn(char) -> bool| chars[i..].iter().take_while(|c| f(**c)).count();
    while i < chars.len() {
        let boundary = i == 0 || !chars[i - 1].is_ascii_alphanumeric();
        // A timestamp: 2026-01-15T03:00:00.000000Z.
        if boundary && i + 27 <= chars.len() {
            let t: String = chars[i..i + 27].iter().collect();
            let shape = t.char_indices().all(|(k, c)| match k {
                4 | 7 => c == '-',
                10 => c == 'T',
                13 | 16 => c == ':',
                19 => c == '.',
                26 => c == 'Z',
                _ => c.is_ascii_digit(),
            });
            if shape {
                out.push_str("<TIME>");
                i += 27;
                continue;
            }
        }
        // A UUID or a 64-digit hex hash.
        if boundary {
            let h = run(i, &|c| is_hex(c) || c == '-');
            let word: String = chars[i..i + h].iter().collect();
            let groups: Vec<usize> = word.split('-').map(str::len).collect();
            if groups == [8, 4, 4, 4, 12] {
                out.push_str("<UUID>");
                i += h;
                continue;
            }
            let h = run(i, &is_hex);
            if h >= 32 && (i + h == chars.len() || !chars[i + h].is_ascii_alphanumeric()) {
                out.push_str("<HASH>");
                i += h;
                continue;
            }
        }
        // A duration: 12.3 ms, 456 µs, 1.234 s, 3 h 20 min (a recovery point objective runs
        // to the moment of the drill).
        if boundary && chars[i].is_ascii_digit() {
            let n = run(i, &|c| c.is_ascii_digit() || c == '.');
            let rest: String = chars[i + n..].iter().take(5).collect();
            let unit = [" ms", " µs", " min", " s", " h"].into_iter().find(|u| {
                rest.starts_with(u)
                    && rest[u.len()..]
                        .chars()
                        .next()
                        .is_none_or(|c| !c.is_alphanumeric())
            });
            if let Some(u) = unit {
                out.push_str("<DURATION>");
                i += n + u.chars().count();
                continue;
            }
        }
        // How many times a waiting check polled: the simulator's timing.
        if s_at(&chars, i, "polls: ") {
            out.push_str("polls: <N>");
            i += 7;
            i += run(i, &|c| c.is_ascii_digit());
            continue;
        }
        // The free space of the disk the drill runs on.
        if s_at(&chars, i, "bytes\\_free: ") {
            out.push_str("bytes\\_free: <BYTES>");
            i += 13;
            i += run(i, &|c| c.is_ascii_digit());
            continue;
        }
        // A loopback port.
        if s_at(&chars, i, "127.0.0.1:") {
            out.push_str("127.0.0.1:<PORT>");
            i += 10;
            i += run(i, &|c| c.is_ascii_digit());
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    // A duration in parts (3 h 20 min 5 s) is one duration, whichever parts it has.
    while out.contains("<DURATION> <DURATION>") {
        out = out.replace("<DURATION> <DURATION>", "<DURATION>");
    }
    out
}

fn s_at(chars: &[char], i: usize, pat: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    chars.len() >= i + p.len() && chars[i..i + p.len()] == p[..]
}

#[test]
fn markdown_report_of_the_seed_1_drill_matches_its_snapshot() {
    let dir = drill();
    let d = dir.path();
    let md = d.join("report.md");
    let out = runledger()
        .args(["report", "--journal"])
        .arg(d.join("journal.db"))
        .arg("--html")
        .arg(d.join("again.html"))
        .arg("--md")
        .arg(&md)
        .arg("--trust")
        .arg(d.join("operator.key.pub"))
        .arg("--checkpoint")
        .arg(d.join("checkpoint.txt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    // `--md` alone, to standard output: the same Markdown, and no HTML page anywhere.
    let alone = runledger()
        .args(["report", "--journal"])
        .arg(d.join("journal.db"))
        .args(["--md", "-", "--trust"])
        .arg(d.join("operator.key.pub"))
        .arg("--checkpoint")
        .arg(d.join("checkpoint.txt"))
        .output()
        .unwrap();
    assert_eq!(alone.status.code(), Some(0), "{:?}", text(&alone));
    assert_eq!(
        String::from_utf8_lossy(&alone.stdout),
        std::fs::read_to_string(&md).unwrap(),
        "--md alone writes what --html --md writes to its Markdown file"
    );
    let neither = runledger()
        .args(["report", "--journal"])
        .arg(d.join("journal.db"))
        .output()
        .unwrap();
    assert_eq!(neither.status.code(), Some(2), "{:?}", text(&neither));
    let report = verify_json(d);
    let operator = report["runs"][0]["operator"].as_str().unwrap().to_string();
    let got = redact(&std::fs::read_to_string(&md).unwrap(), d, &operator);
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(SNAPSHOT);
    if std::env::var_os("RUNLEDGER_WRITE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the snapshot {}: {e}; write it with RUNLEDGER_WRITE_SNAPSHOTS=1",
            path.display()
        )
    });
    if got != want {
        let line = got
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(got.lines().count().min(want.lines().count()));
        panic!(
            "the Markdown report differs from {} from line {}:\n got: {:?}\nwant: {:?}\n(if the change is intended, rerun with RUNLEDGER_WRITE_SNAPSHOTS=1 and review the diff)",
            path.display(),
            line + 1,
            got.lines().nth(line),
            want.lines().nth(line)
        );
    }
}
