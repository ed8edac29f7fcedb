//! `lokal push`: the stored streams a selector picks, sent to a Loki's push
//! API in batches, with a checkpoint in the store (`store::push`) after
//! every request Loki answered, so an interrupted push resumes where it
//! stopped and a repeated one sends nothing twice.
//!
//! **What a run sends.** The segments of the tenant its target has not
//! finished (`done`), fixed when the run starts (`run.segments`: data
//! ingested during the push waits for the next one). Streams go one after
//! another in label order, each in time order: its blocks from all those
//! segments sorted by (first timestamp, segment, offset), blocks whose
//! times overlap read together and merged by a stable sort, so Loki sees
//! every stream in order (it refuses entries far behind a stream's newest
//! one) and the order is the same on every run — which is what lets the
//! checkpoint say "streams before S, and the first N entries of S".
//!
//! **Batches** close before they would pass `batch_bytes` (line and
//! structured-metadata bytes, as promtail counts a batch's size) or
//! `batch_entries`; a batch holds several streams. Each is encoded as
//! protobuf + snappy (promtail's wire) or as Loki's JSON push body.
//!
//! **Answers.** 2xx: delivered. 429 and 5xx: retried by the client with
//! backoff (and `Retry-After`); when the retries run out the push stops with
//! the error and the checkpoint of what was delivered. Any other 4xx is
//! Loki refusing entries (too old, too long, out of order, bad labels): as
//! promtail does, the batch is not sent again; its reason is kept for the
//! summary with the number of entries Loki says it ignored (`total
//! ignored: N out of M`; all of the batch when it does not say), and the
//! checkpoint moves past it.
//!
//! **Delivery.** Each request is followed by a durable checkpoint, so a
//! kill between Loki's answer and the checkpoint sends that one batch again
//! on resume; Loki stores an identical `(timestamp, line)` of a stream
//! once, so every entry is stored once.

use std::collections::BTreeSet;

use serde_json::json;

use super::client::{Client, ClientError, Retry};
use super::push::{self as wire, EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter};
use crate::chunk::{Block, BlockMeta};
use crate::engine::plan::{PlannedChunk, Planner};
use crate::logql::Matcher;
use crate::model::Labels;
use crate::store::push::{self as checkpoint, PushRun, PushTarget};
use crate::store::{Store, StoreError};
use crate::time::TimeRange;

/// The path of Loki's push API.
pub const PUSH_PATH: &str = "/loki/api/v1/push";

/// The body encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Protobuf + snappy, as promtail and Alloy send.
    #[default]
    Protobuf,
    /// Loki's JSON push body (lines that are not UTF-8 are sent with U+FFFD).
    Json,
}

/// What to push and how.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// The streams (empty: all).
    pub matchers: Vec<Matcher>,
    /// Only entries in this range (`from`, `to`: as given, for the checkpoint key).
    pub from: Option<i64>,
    /// See `from`.
    pub to: Option<i64>,
    /// Body encoding.
    pub format: Format,
    /// Most line + metadata bytes in one request.
    pub batch_bytes: usize,
    /// Most entries in one request.
    pub batch_entries: usize,
}

/// One refusal by Loki.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reject {
    /// The status code.
    pub status: u16,
    /// Loki's text.
    pub reason: String,
    /// Entries it refused.
    pub entries: u64,
}

/// The summary of a push.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PushReport {
    /// Streams with entries sent.
    pub streams: u64,
    /// Entries sent (accepted or refused).
    pub entries: u64,
    /// Line and metadata bytes of those entries.
    pub bytes: u64,
    /// Bytes of the request bodies, as sent (compressed for protobuf).
    pub body_bytes: u64,
    /// Requests Loki answered (retries not counted).
    pub requests: u64,
    /// Retries.
    pub retries: u64,
    /// Entries Loki refused.
    pub rejected: u64,
    /// Each refusal.
    pub rejects: Vec<Reject>,
    /// Entries an earlier, interrupted run had delivered (skipped now).
    pub resumed: u64,
    /// Segments this run covered.
    pub segments: u64,
}

/// Progress of a push, for a progress bar.
#[derive(Debug, Clone)]
pub enum Event {
    /// The run starts: at most this many entries to go (blocks that the
    /// range cuts count whole).
    Start {
        /// Entries.
        entries: u64,
    },
    /// Entries processed (sent, or skipped as delivered before).
    Progress {
        /// Entries since the last event.
        entries: u64,
    },
    /// A request is retried.
    Retry(Retry),
}

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Loki could not be reached, or kept failing, after the retries.
    #[error("pushing to Loki failed after {delivered} entries were delivered (the checkpoint keeps them; run the push again to resume): {err}")]
    Client {
        /// The client's error.
        err: ClientError,
        /// Entries delivered before it.
        delivered: u64,
    },
}

/// The checkpoint key of a target.
fn target_key(addr: &str, org: Option<&str>, selector: &str, o: &PushOptions) -> String {
    let t = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    format!(
        "{addr} org={} {selector} from={} to={}",
        org.unwrap_or(""),
        t(o.from),
        t(o.to)
    )
}

/// The selector as text (`{}` for all streams).
fn selector_text(m: &[Matcher]) -> String {
    let parts: Vec<String> = m.iter().map(|m| m.to_string()).collect();
    format!("{{{}}}", parts.join(", "))
}

/// One entry read from a block.
struct Entry {
    ts: i64,
    line: Vec<u8>,
    metadata: Vec<(String, String)>,
}

impl Entry {
    /// Its size in a batch: line and metadata bytes.
    fn size(&self) -> usize {
        self.line.len()
            + self
                .metadata
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}

/// A batch being filled: per stream its entries, in order.
#[derive(Default)]
struct Batch {
    streams: Vec<(Labels, Vec<Entry>)>,
    bytes: usize,
    entries: usize,
    /// Where the cursor stands after the batch: stream, entries of it sent.
    cursor: Option<(String, u64)>,
}

impl Batch {
    fn encode(&self, format: Format) -> (Vec<u8>, &'static str) {
        match format {
            Format::Protobuf => {
                let req = PushRequest {
                    streams: self
                        .streams
                        .iter()
                        .map(|(l, es)| StreamAdapter {
                            labels: l.to_string(),
                            entries: es
                                .iter()
                                .map(|e| EntryAdapter {
                                    timestamp: Some(wire::Timestamp::from_nanos(e.ts)),
                                    line: e.line.clone(),
                                    structured_metadata: e
                                        .metadata
                                        .iter()
                                        .map(|(k, v)| LabelPairAdapter {
                                            name: k.clone(),
                                            value: v.clone(),
                                        })
                                        .collect(),
                                })
                                .collect(),
                            hash: 0,
                        })
                        .collect(),
                };
                (wire::encode(&req), wire::CONTENT_TYPE_PROTOBUF)
            }
            Format::Json => {
                let streams: Vec<serde_json::Value> = self
                    .streams
                    .iter()
                    .map(|(l, es)| {
                        let values: Vec<serde_json::Value> = es
                            .iter()
                            .map(|e| {
                                let line = String::from_utf8_lossy(&e.line);
                                if e.metadata.is_empty() {
                                    json!([e.ts.to_string(), line])
                                } else {
                                    let md: serde_json::Map<String, serde_json::Value> = e
                                        .metadata
                                        .iter()
                                        .map(|(k, v)| (k.clone(), json!(v)))
                                        .collect();
                                    json!([e.ts.to_string(), line, md])
                                }
                            })
                            .collect();
                        json!({"stream": super::api::labels_json(l), "values": values})
                    })
                    .collect();
                (
                    serde_json::to_vec(&json!({ "streams": streams })).expect("JSON serializes"),
                    "application/json",
                )
            }
        }
    }
}

/// The entries Loki says it ignored in a refusal (`total ignored: N out of
/// M`, once per stream), or `None` when it does not say.
pub fn ignored_entries(body: &str) -> Option<u64> {
    let mut total = None;
    let mut rest = body;
    while let Some(i) = rest.find("total ignored: ") {
        rest = &rest[i + "total ignored: ".len()..];
        let n: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if let Ok(n) = n.parse::<u64>() {
            *total.get_or_insert(0) += n;
        }
    }
    total
}

/// Sends what `opts` selects from `tenant` of `store` through `client`,
/// resuming and recording the target's checkpoint; `on` hears the progress.
pub fn push(
    store: &Store,
    tenant: &str,
    client: &Client,
    opts: &PushOptions,
    on: &mut dyn FnMut(&Event),
) -> Result<PushReport, PushError> {
    store.ensure_exists()?;
    let t = store.tenant(tenant)?;
    if std::fs::symlink_metadata(t.dir()).is_err() {
        // A tenant that never held data has nothing to send (and no
        // directory for a checkpoint).
        return Ok(PushReport::default());
    }
    let _lock = checkpoint::lock(&t, None, || {})?;
    let snapshot = t.snapshot()?;
    let mut cps = checkpoint::read(&t)?;
    let selector = selector_text(&opts.matchers);
    let org = client.options().org_id.as_deref();
    let key = target_key(client.base(), org, &selector, opts);
    let mut target = cps
        .targets
        .get(&key)
        .cloned()
        .unwrap_or_else(|| PushTarget {
            addr: client.base().to_string(),
            org_id: org.map(String::from),
            selector: selector.clone(),
            from: opts.from,
            to: opts.to,
            ..Default::default()
        });
    let live: BTreeSet<u64> = snapshot.manifest.segments.iter().map(|s| s.id).collect();
    let mut report = PushReport::default();
    let run = match target.run.take() {
        Some(mut r) => {
            // A segment removed meanwhile (repaired away) has nothing to send.
            r.segments.retain(|id| live.contains(id));
            r
        }
        None => {
            let done: BTreeSet<u64> = target.done.iter().copied().collect();
            PushRun {
                segments: live.difference(&done).copied().collect(),
                stream: None,
                sent: 0,
            }
        }
    };
    report.segments = run.segments.len() as u64;
    if run.segments.is_empty() {
        return Ok(report);
    }
    target.run = Some(run.clone());
    cps.targets.insert(key.clone(), target.clone());
    checkpoint::write(&t, &cps)?;

    let mut snap = snapshot.clone();
    let in_run: BTreeSet<u64> = run.segments.iter().copied().collect();
    snap.manifest.segments.retain(|s| in_run.contains(&s.id));
    let range = TimeRange::new(opts.from.unwrap_or(i64::MIN), opts.to.unwrap_or(i64::MAX));
    // The streams come from the plan's cursor one at a time, in label
    // order, so a push holds one stream's blocks, never the plan (a block
    // reference per stream and segment: a million of them for a million
    // small streams). The total for the progress bar: every entry of the
    // run's segments when the push takes all of them, else a first walk of
    // the same cursor summing the blocks' entries.
    let mut planner = Planner::new(&snap);
    let whole = opts.matchers.is_empty()
        && snap
            .manifest
            .segments
            .iter()
            .all(|s| range.covers(s.min_t, s.max_t));
    let total = if whole {
        snap.manifest.segments.iter().map(|s| s.entries).sum()
    } else {
        let mut total = 0u64;
        let mut walk = planner.stream(&opts.matchers, range)?;
        while let Some(stream) = walk.next_stream()? {
            total += stream
                .iter()
                .flat_map(|c| &c.blocks)
                .map(|b| u64::from(b.entries))
                .sum::<u64>();
        }
        total
    };
    on(&Event::Start { entries: total });

    let mut sender = Sender {
        client,
        opts,
        report,
        batch: Batch::default(),
        tenant: &t,
        cps,
        key,
        target,
    };
    // Streams come in label order, which their printed names do not
    // follow (`{a="x!"}` prints before `{a="x"}`, `{a="1", b="2"}` before
    // `{a="1"}`): the checkpoint's stream is compared as labels.
    let resume = match &run.stream {
        None => None,
        Some(name) => Some(
            stream_labels(name).ok_or_else(|| StoreError::CorruptCheckpoint {
                path: t.dir().join(checkpoint::PUSH_FILE),
                what: format!("its stream {name:?} is not a label set"),
            })?,
        ),
    };
    let mut block = Block::default();
    let mut cursor = planner.stream(&opts.matchers, range)?;
    while let Some(stream) = cursor.next_stream()? {
        let labels = &stream[0].labels;
        if matches!(&resume, Some(r) if **labels < *r) {
            // Delivered by the interrupted run (counted by whole blocks).
            let n: u64 = group_entries(
                &stream
                    .iter()
                    .flat_map(|c| c.blocks.iter().map(move |b| (c, b)))
                    .collect::<Vec<_>>(),
            );
            sender.report.resumed += n;
            on(&Event::Progress { entries: n });
            continue;
        }
        let skip = match &resume {
            Some(r) if **labels == *r => run.sent,
            _ => 0,
        };
        // Printed only for streams that are sent (a resume skips the rest).
        let name = labels.to_string();
        let mut seen: u64 = 0;
        let mut any = false;
        for group in overlap_groups(&stream) {
            let mut entries = read_group(&group, &mut block, range)?;
            let n = entries.len() as u64;
            if seen + n <= skip {
                seen += n;
                sender.report.resumed += n;
                on(&Event::Progress {
                    entries: group_entries(&group),
                });
                continue;
            }
            let first = skip.saturating_sub(seen) as usize;
            sender.report.resumed += first as u64;
            seen += first as u64;
            for e in entries.drain(..).skip(first) {
                seen += 1;
                any = true;
                sender.add(labels, &name, seen, e, on)?;
            }
            on(&Event::Progress {
                entries: group_entries(&group),
            });
        }
        if any {
            sender.report.streams += 1;
        }
    }
    sender.flush(on)?;
    // The run is complete: its segments are done.
    let mut target = sender.target;
    let mut done: BTreeSet<u64> = target
        .done
        .iter()
        .copied()
        .filter(|id| live.contains(id))
        .collect();
    done.extend(run.segments.iter().copied());
    target.done = done.into_iter().collect();
    target.run = None;
    sender.cps.targets.insert(sender.key, target);
    checkpoint::write(&t, &sender.cps)?;
    Ok(sender.report)
}

/// The labels of a stream's printed name (`{a="1", b="x"}`), as a
/// checkpoint records it.
fn stream_labels(name: &str) -> Option<Labels> {
    crate::ingest::push::parse_label_string(name)
        .ok()
        .map(Labels::from_pairs)
}

/// Entries the blocks of `group` hold (for progress).
fn group_entries(group: &[(&PlannedChunk, &BlockMeta)]) -> u64 {
    group.iter().map(|(_, b)| u64::from(b.entries)).sum()
}

/// A stream's blocks (over its chunks, one per segment) sorted by (first
/// timestamp, segment, offset) and cut into groups whose times do not
/// overlap the next group's: each group is read and merged on its own.
fn overlap_groups(stream: &[PlannedChunk]) -> Vec<Vec<(&PlannedChunk, &BlockMeta)>> {
    let mut blocks: Vec<(&PlannedChunk, &BlockMeta)> = stream
        .iter()
        .flat_map(|c| c.blocks.iter().map(move |b| (c, b)))
        .collect();
    blocks.sort_by_key(|(c, b)| (b.min_t, c.segment_id, b.offset));
    let mut groups: Vec<Vec<(&PlannedChunk, &BlockMeta)>> = Vec::new();
    let mut max_t = i64::MIN;
    for (c, b) in blocks {
        match groups.last_mut() {
            Some(g) if b.min_t <= max_t => g.push((c, b)),
            _ => groups.push(vec![(c, b)]),
        }
        max_t = max_t.max(b.max_t);
    }
    groups
}

/// The entries of a group's blocks inside `range`, in time order (ties in
/// block order).
fn read_group(
    group: &[(&PlannedChunk, &BlockMeta)],
    block: &mut Block,
    range: TimeRange,
) -> Result<Vec<Entry>, StoreError> {
    let mut out = Vec::new();
    for (c, meta) in group {
        c.segment.read_block(meta, block)?;
        for k in 0..block.len() {
            let ts = block.ts[k];
            if ts < range.start || ts >= range.end {
                continue;
            }
            let mut md = Vec::new();
            block.metadata(k, &mut md);
            out.push(Entry {
                ts,
                line: block.line(k).to_vec(),
                metadata: md
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
            });
        }
    }
    if group.len() > 1 {
        out.sort_by_key(|e| e.ts);
    }
    Ok(out)
}

/// Fills batches, sends them, records the checkpoint after each.
struct Sender<'a> {
    client: &'a Client,
    opts: &'a PushOptions,
    report: PushReport,
    batch: Batch,
    tenant: &'a crate::store::Tenant,
    cps: checkpoint::PushCheckpoints,
    key: String,
    target: PushTarget,
}

impl Sender<'_> {
    /// Adds entry number `nth` (from 1) of stream `name`, sending the batch
    /// first when the entry would not fit.
    fn add(
        &mut self,
        labels: &Labels,
        name: &str,
        nth: u64,
        e: Entry,
        on: &mut dyn FnMut(&Event),
    ) -> Result<(), PushError> {
        let size = e.size();
        if self.batch.entries > 0
            && (self.batch.entries >= self.opts.batch_entries.max(1)
                || self.batch.bytes + size > self.opts.batch_bytes)
        {
            self.flush(on)?;
        }
        let b = &mut self.batch;
        match b.streams.last_mut() {
            Some((l, es)) if l == labels => es.push(e),
            _ => b.streams.push((labels.clone(), vec![e])),
        }
        b.bytes += size;
        b.entries += 1;
        b.cursor = Some((name.to_string(), nth));
        Ok(())
    }

    /// Sends the batch, if any, and records the checkpoint.
    fn flush(&mut self, on: &mut dyn FnMut(&Event)) -> Result<(), PushError> {
        if self.batch.entries == 0 {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let (body, ct) = batch.encode(self.opts.format);
        let mut retries = 0u64;
        let answer = self
            .client
            .post(PUSH_PATH, ct, &body, &mut |r| {
                retries += 1;
                on(&Event::Retry(r.clone()));
            })
            .map_err(|err| PushError::Client {
                err,
                delivered: self.target.entries,
            });
        self.report.retries += retries;
        let answer = answer?;
        let status = answer.status;
        if status == 429 || status >= 500 {
            return Err(PushError::Client {
                err: ClientError::Status {
                    url: format!("{}{PUSH_PATH}", self.client.base()),
                    status,
                    body: String::from_utf8_lossy(&answer.body).into_owned(),
                },
                delivered: self.target.entries,
            });
        }
        let n = batch.entries as u64;
        self.report.requests += 1;
        self.report.entries += n;
        self.report.bytes += batch.bytes as u64;
        self.report.body_bytes += body.len() as u64;
        if !(200..300).contains(&status) {
            let reason = String::from_utf8_lossy(&answer.body).trim().to_string();
            let refused = ignored_entries(&reason).unwrap_or(n).min(n);
            self.report.rejected += refused;
            self.report.rejects.push(Reject {
                status,
                reason,
                entries: refused,
            });
        }
        crate::store::trace::point("push-sent");
        self.target.entries += n;
        let (stream, sent) = batch.cursor.expect("a batch with entries has a cursor");
        if let Some(run) = &mut self.target.run {
            run.stream = Some(stream);
            run.sent = sent;
        }
        self.cps
            .targets
            .insert(self.key.clone(), self.target.clone());
        checkpoint::write(self.tenant, &self.cps)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::{Arc, Mutex};

    /// One entry as pushed: stream, ts, line, metadata.
    type Pushed = (String, i64, Vec<u8>, Vec<(String, String)>);

    /// Received bodies of accepted requests; the request numbers (from 0)
    /// answered 500 are in `fail`.
    #[derive(Default)]
    struct Sink {
        bodies: Vec<Vec<u8>>,
        n: usize,
        fail: Vec<usize>,
    }

    /// A loopback HTTP/1.1 server writing into `sink`; its address.
    fn server(sink: Arc<Mutex<Sink>>) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", l.local_addr().unwrap());
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { return };
                let sink = sink.clone();
                std::thread::spawn(move || {
                    let mut w = c.try_clone().unwrap();
                    let mut r = BufReader::new(c);
                    loop {
                        let mut len = 0usize;
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        loop {
                            line.clear();
                            if r.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            let h = line.trim_end().to_ascii_lowercase();
                            if h.is_empty() {
                                break;
                            }
                            if let Some(v) = h.strip_prefix("content-length:") {
                                len = v.trim().parse().unwrap();
                            }
                        }
                        let mut body = vec![0; len];
                        r.read_exact(&mut body).unwrap();
                        let status = {
                            let mut s = sink.lock().unwrap();
                            let n = s.n;
                            s.n += 1;
                            if s.fail.contains(&n) {
                                500
                            } else {
                                s.bodies.push(body);
                                204
                            }
                        };
                        let _ = write!(w, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
                    }
                });
            }
        });
        addr
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]

        /// Streams written in several overlapping commits (so several
        /// segments per stream, blocks overlapping in time), pushed in small
        /// batches with failing requests on the way, then resumed: every
        /// entry is accepted exactly once and each stream arrives in time
        /// order, metadata kept. The streams' printed names sort otherwise
        /// than their labels (`{s="x!"}` < `{s="x"}` < `{s="x", t="1"}`),
        /// so a resume that compared names would skip or resend streams.
        #[test]
        fn interrupted_pushes_deliver_each_entry_once_in_stream_order(
            commits in proptest::collection::vec(
                proptest::collection::vec((0usize..3, 0i64..5_000, proptest::bool::ANY), 1..60),
                1..4,
            ),
            batch in 1usize..40,
            fail in proptest::collection::vec(0usize..30, 0..3),
            json in proptest::bool::ANY,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::new(dir.path());
            let mut want: Vec<Pushed> = Vec::new();
            let mut seq = 0;
            for c in &commits {
                let mut streams: Vec<crate::ingest::OwnedStream> = Vec::new();
                for &(s, ts, md) in c {
                    seq += 1;
                    let labels = match s {
                        0 => Labels::from_pairs([("s", "x")]),
                        1 => Labels::from_pairs([("s", "x!")]),
                        _ => Labels::from_pairs([("s", "x"), ("t", "1")]),
                    };
                    let line = format!("line {seq}").into_bytes();
                    let meta = if md { vec![("m".to_string(), seq.to_string())] } else { vec![] };
                    want.push((labels.to_string(), ts, line.clone(), meta.clone()));
                    match streams.iter_mut().find(|(l, _)| *l == labels) {
                        Some((_, e)) => e.push((ts, line, meta)),
                        None => streams.push((labels, vec![(ts, line, meta)])),
                    }
                }
                crate::ingest::write_streams(&store, "t", streams).unwrap();
            }
            let sink = Arc::new(Mutex::new(Sink { fail: fail.clone(), ..Default::default() }));
            let client = Client::new(crate::loki::client::ClientOptions {
                addr: server(sink.clone()),
                ..Default::default()
            })
            .unwrap();
            let opts = PushOptions {
                matchers: Vec::new(),
                from: None,
                to: None,
                format: if json { Format::Json } else { Format::Protobuf },
                batch_bytes: 1 << 20,
                batch_entries: batch,
            };
            let mut runs = 0;
            while push(&store, "t", &client, &opts, &mut |_| {}).is_err() {
                runs += 1;
                proptest::prop_assert!(runs <= fail.len());
            }
            let again = push(&store, "t", &client, &opts, &mut |_| {}).unwrap();
            proptest::prop_assert_eq!(again.entries, 0);
            let ct = if json { "application/json" } else { wire::CONTENT_TYPE_PROTOBUF };
            let mut got = Vec::new();
            for b in &sink.lock().unwrap().bodies {
                if ct == "application/json" {
                    let v: serde_json::Value = serde_json::from_slice(b).unwrap();
                    for st in v["streams"].as_array().unwrap() {
                        let l = Labels::from_pairs(
                            st["stream"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())),
                        );
                        for e in st["values"].as_array().unwrap() {
                            let md: Vec<(String, String)> = e.get(2).map_or(vec![], |m| {
                                m.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect()
                            });
                            got.push((l.to_string(), e[0].as_str().unwrap().parse().unwrap(), e[1].as_str().unwrap().as_bytes().to_vec(), md));
                        }
                    }
                } else {
                    for st in wire::decode(b).unwrap().streams {
                        for e in st.entries {
                            got.push((st.labels.clone(), e.timestamp.unwrap().as_nanos(), e.line, e.structured_metadata.into_iter().map(|p| (p.name, p.value)).collect()));
                        }
                    }
                }
            }
            let mut last: std::collections::HashMap<String, i64> = Default::default();
            for (l, ts, _, _) in &got {
                let prev = last.insert(l.clone(), *ts);
                proptest::prop_assert!(prev.is_none_or(|p| p <= *ts), "{} out of order", l);
            }
            got.sort();
            want.sort();
            proptest::prop_assert_eq!(got, want);
        }
    }

    /// The Start event's total is what the Progress events reach: for
    /// every stream (the segments' entries), a selector and a range (a
    /// first walk of the plan), with a run split by a failing request.
    #[test]
    fn start_counts_what_progress_reaches() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        for c in 0..3i64 {
            let streams: Vec<crate::ingest::OwnedStream> = (0..4)
                .map(|s| {
                    let labels = Labels::from_pairs([("s", s.to_string())]);
                    let es = (0..5i64)
                        .map(|k| {
                            (
                                c * 100 + k * 7 + s,
                                format!("{c} {s} {k}").into_bytes(),
                                vec![],
                            )
                        })
                        .collect();
                    (labels, es)
                })
                .collect();
            crate::ingest::write_streams(&store, "t", streams).unwrap();
        }
        let sink = Arc::new(Mutex::new(Sink {
            fail: vec![1],
            ..Default::default()
        }));
        let client = Client::new(crate::loki::client::ClientOptions {
            addr: server(sink),
            ..Default::default()
        })
        .unwrap();
        let cases = [
            (r#"{s=~".+"}"#, None, None, 60),
            (r#"{s="2"}"#, None, None, 15),
            (r#"{s=~".+"}"#, Some(100), Some(200), 20),
        ];
        for (i, (sel, from, to, sent)) in cases.into_iter().enumerate() {
            let opts = PushOptions {
                matchers: if i == 0 {
                    Vec::new()
                } else {
                    crate::logql::parse_matchers(sel).unwrap()
                },
                from,
                to,
                format: Format::Protobuf,
                batch_bytes: 1 << 20,
                batch_entries: 4,
            };
            let mut entries = 0;
            for _ in 0..2 {
                let (mut start, mut progress) = (None, 0);
                let r = push(&store, "t", &client, &opts, &mut |e| match e {
                    Event::Start { entries } => start = Some(*entries),
                    Event::Progress { entries } => progress += entries,
                    Event::Retry(_) => {}
                });
                match r {
                    Ok(r) => {
                        assert_eq!(start, Some(progress), "{sel} {from:?}");
                        entries += r.entries;
                        break;
                    }
                    // The failing request: the resumed run counts again.
                    Err(_) => assert!(start.is_some_and(|s| s >= progress)),
                }
            }
            assert!(entries <= sent && entries > 0, "{sel}: {entries}");
        }
    }

    #[test]
    fn counts_what_loki_says_it_ignored() {
        let body = "entry for stream '{a=\"b\"}' has timestamp too old: 2001-01-01T00:00:00Z, oldest acceptable timestamp is: 2024-01-01T00:00:00Z\nuser 'fake', total ignored: 3 out of 10 for stream: {a=\"b\"}\nuser 'fake', total ignored: 2 out of 5 for stream: {a=\"c\"}";
        assert_eq!(ignored_entries(body), Some(5));
        assert_eq!(ignored_entries("error parsing labels"), None);
    }

    #[test]
    fn keys_name_the_whole_selection() {
        let o = PushOptions {
            matchers: Vec::new(),
            from: Some(5),
            to: None,
            format: Format::Protobuf,
            batch_bytes: 1,
            batch_entries: 1,
        };
        assert_eq!(
            target_key("http://l:3100", Some("t"), "{}", &o),
            "http://l:3100 org=t {} from=5 to="
        );
        let m = crate::logql::parse_matchers(r#"{job="a",x=~"y.*"}"#).unwrap();
        assert_eq!(selector_text(&m), r#"{job="a", x=~"y.*"}"#);
    }
}
