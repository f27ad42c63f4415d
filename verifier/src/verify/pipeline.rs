//! The parallel half of verification: the work on one record that depends on no other.

use super::*;

/// Environment variable that sets how many threads prepare records (decode, hash, verify the
/// signature); unset or 0: one per core. `1` checks every record on the calling thread.
pub const THREADS_ENV: &str = "RUNLEDGER_VERIFY_THREADS";

/// Records per chunk handed to a worker: large enough that channel costs vanish next to
/// ~50 µs of signature check per record, small enough to keep every core busy.
const CHUNK_RECORDS: usize = 256;
/// A chunk is also closed once its records hold this many bytes, so that chunks of very large
/// events (up to `MAX_EVENT_BYTES` each) still bound memory.
const CHUNK_BYTES: usize = 1 << 20;
/// Chunks read but not yet checked in order, per worker: bounds memory to about
/// `workers × CHUNKS_PER_WORKER × (CHUNK_BYTES + one event)` whatever the journal's length.
const CHUNKS_PER_WORKER: usize = 3;

pub(super) fn worker_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        Some(n) if n > 0 => n.min(256),
        _ => cores,
    }
}

/// A record with the work done that depends on no other record: decoded (which checks its
/// canonical form), hashed, and its signature checked strictly under the key it names when
/// that key is trusted. Still untrusted: nothing here has been held against the journal.
pub(super) struct Prepared {
    pub(super) position: Position,
    pub(super) stored_leaf_hash: Option<Vec<u8>>,
    pub(super) decoded: Result<Event, EventError>,
    pub(super) leaf: Hash,
    /// `None` when the event did not decode or names an untrusted key.
    pub(super) signature: Option<Result<(), SignatureError>>,
}

impl Prepared {
    /// Does the per-record work; pure, so it may run on any thread.
    pub(super) fn new(record: RawRecord, trusted: &TrustedKeys) -> Prepared {
        let decoded = Event::from_canonical_bytes(&record.event);
        let leaf = signing::event_leaf_hash(&record.event);
        let signature = match &decoded {
            Ok(event) => trusted
                .get(&event.key)
                .map(|key| signing::verify_leaf(&key.key, &leaf, &record.sig)),
            Err(_) => None,
        };
        Prepared {
            position: record.position,
            stored_leaf_hash: record.stored_leaf_hash,
            decoded,
            leaf,
            signature,
        }
    }
}

/// A bounded run of consecutive records, and the reader's end if it came after them.
struct Chunk<T> {
    index: u64,
    records: Vec<T>,
    end: Option<Result<(), SourceError>>,
}

/// Like [`source::for_each_record`], but hands `visit` each record already [`Prepared`],
/// in order. A reader thread cuts the journal into chunks, `workers` threads prepare them,
/// and the calling thread puts them back in order and visits them. At most
/// `workers × CHUNKS_PER_WORKER` chunks exist at any time (the reader waits for a credit that
/// the calling thread returns once it has taken a chunk), so memory does not grow with the
/// journal. When `visit` returns false, or the container fails, the walk ends exactly where
/// the sequential walk would have; records read ahead of that point are dropped unvisited.
pub(super) fn for_each_prepared(
    path: &Path,
    format: Format,
    trusted: &TrustedKeys,
    workers: usize,
    mut visit: impl FnMut(Prepared) -> bool,
) -> Result<(), SourceError> {
    let in_flight = workers * CHUNKS_PER_WORKER;
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (credit_tx, credit_rx) = sync_channel::<()>(in_flight);
        for _ in 0..in_flight {
            credit_tx.send(()).expect("room for every credit");
        }
        let (work_tx, work_rx) = sync_channel::<Chunk<RawRecord>>(in_flight);
        let (done_tx, done_rx) = sync_channel::<Chunk<Prepared>>(in_flight);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let stop = &stop;

        s.spawn(move || {
            let mut index = 0u64;
            let mut records = Vec::with_capacity(CHUNK_RECORDS);
            let mut bytes = 0usize;
            // Sends a chunk once a credit is free; false once the consumer is gone.
            let mut send = |records: Vec<RawRecord>, end: Option<Result<(), SourceError>>| {
                if credit_rx.recv().is_err() {
                    return false;
                }
                let chunk = Chunk {
                    index,
                    records,
                    end,
                };
                index += 1;
                work_tx.send(chunk).is_ok()
            };
            let walk = source::for_each_record(path, format, |record| {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                bytes += record.event.len() + record.sig.len();
                records.push(record);
                if records.len() < CHUNK_RECORDS && bytes < CHUNK_BYTES {
                    return true;
                }
                bytes = 0;
                let full = std::mem::replace(&mut records, Vec::with_capacity(CHUNK_RECORDS));
                send(full, None)
            });
            send(records, Some(walk));
        });

        for _ in 0..workers {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            s.spawn(move || loop {
                // The lock is held only while waiting for the next chunk, not while working.
                let next = work_rx.lock().map(|rx| rx.recv());
                let Ok(Ok(chunk)) = next else { return };
                let prepared = Chunk {
                    index: chunk.index,
                    records: chunk
                        .records
                        .into_iter()
                        .map(|r| Prepared::new(r, trusted))
                        .collect(),
                    end: chunk.end,
                };
                if done_tx.send(prepared).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);

        // In order: chunk `next` is visited only after every chunk before it.
        let mut waiting: BTreeMap<u64, Chunk<Prepared>> = BTreeMap::new();
        let mut next = 0u64;
        let outcome = loop {
            let chunk = match waiting.remove(&next) {
                Some(chunk) => chunk,
                None => match done_rx.recv() {
                    Ok(chunk) => {
                        waiting.insert(chunk.index, chunk);
                        continue;
                    }
                    // Every worker is gone without the last chunk: only a panic does that,
                    // and the scope re-raises it.
                    Err(_) => break Ok(()),
                },
            };
            next += 1;
            let _ = credit_tx.send(());
            let mut stopped = false;
            for prepared in chunk.records {
                if !visit(prepared) {
                    stopped = true;
                    break;
                }
            }
            if stopped {
                break Ok(());
            }
            if let Some(end) = chunk.end {
                break end;
            }
        };
        // Unblock and end the reader and the workers: they stop at their next send or wait.
        stop.store(true, Ordering::Relaxed);
        drop(credit_tx);
        drop(done_rx);
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{note, Journal, RUN};
    use super::*;

    fn written(events: usize) -> (Journal, tempfile::TempDir, PathBuf) {
        let mut j = Journal::opened(1);
        j.start_run();
        for _ in 0..events {
            j.push(Some(RUN), note());
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("journal.jsonl");
        std::fs::write(&path, j.jsonl()).expect("the export is written");
        (j, dir, path)
    }

    #[test]
    fn prepared_records_come_back_in_order_with_their_signatures_checked() {
        // More records than one chunk holds, so that chunks overtake each other.
        let (j, _dir, path) = written(CHUNK_RECORDS * 2 + 17);
        let trusted = j.trusted();
        let mut seen = Vec::new();
        for_each_prepared(&path, Format::Jsonl, &trusted, 3, |p| {
            assert!(matches!(p.signature, Some(Ok(()))));
            seen.push(p.decoded.expect("every record decodes").seq);
            true
        })
        .expect("the walk ends cleanly");
        let expected: Vec<u64> = (0..j.records.len() as u64).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn the_walk_stops_where_the_visitor_does() {
        let (j, _dir, path) = written(CHUNK_RECORDS + 5);
        let trusted = j.trusted();
        let mut visited = 0;
        for_each_prepared(&path, Format::Jsonl, &trusted, 2, |_| {
            visited += 1;
            visited < 10
        })
        .expect("a stopped walk is not an error");
        assert_eq!(visited, 10);
    }

    #[test]
    fn the_parallel_walk_gives_the_sequential_verdict() {
        let (mut j, _dir, _path) = written(40);
        let mut bad = j.next(Some(RUN), note());
        bad.prev = hex(&[9u8; 32]);
        j.append(&bad);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("journal.jsonl");
        std::fs::write(&path, j.jsonl()).expect("the export is written");
        let trusted = j.trusted();
        let parallel = verify(&path, &trusted, &Options::default()).expect("readable");
        let sequential = j.verify(&Options::default());
        assert_eq!(parallel.failure, sequential.failure);
        assert_eq!(parallel.verdict, Verdict::Invalid);
    }
}
