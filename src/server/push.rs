//! `POST /loki/api/v1/push`: Loki's push API on `lokal serve`. A body is
//! decoded as Loki's distributor decodes it (`Content-Encoding` gzip or
//! deflate, then JSON for `application/json` and snappy-compressed protobuf
//! otherwise), checked by [`crate::ingest::push::validate`], and handed to
//! the one committer thread, which writes what several workers queued
//! meanwhile in one commit per tenant (a group commit) and only then lets
//! each of them answer 204: a 204 means the entries are durable.

use std::io::Read;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::handlers::{Reply, Request};
use super::ServerConfig;
use crate::ingest::push::{validate, PushRefused, PushWriter, PushedStream, NO_STREAMS};
use crate::ingest::{IngestError, OwnedStream};
use crate::loki::push::MAX_DECODED_BYTES;
use crate::store::StoreError;

/// Line bytes a group commit gathers at most before it writes.
const GROUP_BYTES: u64 = 64 << 20;

/// One push waiting for its commit.
struct Job {
    tenant: String,
    streams: Vec<OwnedStream>,
    bytes: u64,
    done: mpsc::Sender<Result<(), Reply>>,
}

/// The handle workers queue pushes through; the thread behind it ends
/// (committing what is queued and rebuilding the indexes it left stale)
/// once every handle is dropped and [`Committer::join`] is called.
pub struct Committer {
    tx: mpsc::Sender<Job>,
}

/// The committer thread, for [`Committer::join`].
pub struct CommitThread(JoinHandle<Result<(), IngestError>>);

impl CommitThread {
    /// Waits until every queued push is committed and the indexes left
    /// stale are rebuilt; the error of that last rebuild, if any.
    pub fn join(self) -> Result<(), IngestError> {
        self.0
            .join()
            .unwrap_or_else(|_| Err(IngestError::Config("the push committer panicked".into())))
    }
}

impl Committer {
    /// Starts the committer thread over `config`'s store.
    pub fn start(config: &ServerConfig) -> (Committer, CommitThread) {
        let (tx, rx) = mpsc::channel::<Job>();
        let mut writer = PushWriter::new(config.store.clone(), Some(config.lock_timeout));
        let handle = std::thread::spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut bytes = first.bytes;
                let mut jobs = vec![first];
                while bytes < GROUP_BYTES {
                    match rx.try_recv() {
                        Ok(j) => {
                            bytes += j.bytes;
                            jobs.push(j);
                        }
                        Err(_) => break,
                    }
                }
                commit_group(&mut writer, jobs);
            }
            // Every handle is gone: the server is stopping.
            writer.finish()
        });
        (Committer { tx }, CommitThread(handle))
    }

    /// Queues `streams` of `tenant` and waits for their commit.
    fn commit(&self, tenant: &str, streams: Vec<OwnedStream>, bytes: u64) -> Result<(), Reply> {
        let (done, wait) = mpsc::channel();
        let job = Job {
            tenant: tenant.to_string(),
            streams,
            bytes,
            done,
        };
        if self.tx.send(job).is_err() {
            return Err(Reply::error_line(
                503,
                "lokal serve is stopping; push again later",
            ));
        }
        wait.recv()
            .unwrap_or_else(|_| Err(Reply::error_line(500, "the push committer stopped")))
    }
}

/// Writes `jobs` in one commit per tenant, then answers each.
fn commit_group(writer: &mut PushWriter, jobs: Vec<Job>) {
    let mut tenants: Vec<String> = jobs.iter().map(|j| j.tenant.clone()).collect();
    tenants.sort();
    tenants.dedup();
    let mut jobs: Vec<Option<Job>> = jobs.into_iter().map(Some).collect();
    for tenant in tenants {
        let mut streams = Vec::new();
        let mut waiting = Vec::new();
        for slot in jobs.iter_mut() {
            if slot.as_ref().is_some_and(|j| j.tenant == tenant) {
                let j = slot.take().expect("checked");
                streams.extend(j.streams);
                waiting.push(j.done);
            }
        }
        let result = writer
            .write(&tenant, streams)
            .map(|_| ())
            .map_err(write_error);
        for w in waiting {
            let _ = w.send(result.as_ref().map(|_| ()).map_err(Reply::clone));
        }
    }
}

/// A failed commit: 503 when another writer holds the store (promtail and
/// Loki's clients retry on 5xx), 500 otherwise.
fn write_error(e: IngestError) -> Reply {
    let status = match &e {
        IngestError::Store(StoreError::LockTimeout { .. }) => 503,
        _ => 500,
    };
    Reply::error_line(status, e)
}

/// What one push did, for `/metrics`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pushed {
    /// Entries stored.
    pub entries: u64,
    /// Line bytes stored.
    pub bytes: u64,
    /// Entries refused.
    pub rejected: u64,
}

/// Answers `POST /loki/api/v1/push`.
pub fn push(config: &ServerConfig, committer: &Committer, r: &Request) -> (Reply, Pushed) {
    let mut done = Pushed::default();
    let streams = match decode(&r.body, &r.content_type, &r.content_encoding) {
        Ok(s) => s,
        Err(msg) => return (Reply::error_line(400, msg), done),
    };
    let v = match validate(streams, &config.push_limits, r.now) {
        Ok(v) => v,
        Err(PushRefused(msg)) => {
            let status = if msg == NO_STREAMS { 422 } else { 400 };
            return (Reply::error_line(status, msg), done);
        }
    };
    done.rejected = v.rejected;
    if !v.streams.is_empty() {
        if let Err(reply) = committer.commit(&r.tenant, v.streams, v.bytes) {
            return (reply, done);
        }
        done.entries = v.entries;
        done.bytes = v.bytes;
    }
    let reply = match v.errors {
        Some(text) => Reply::error_line(400, text),
        None => Reply {
            status: 204,
            content_type: "text/plain; charset=utf-8",
            body: Vec::new(),
        },
    };
    (reply, done)
}

/// Decodes a push body as Loki does; errors in Loki's words where lokal
/// can give them (`snappy: corrupt input`, `EOF`, `Content-Encoding "br"
/// not supported`, …).
pub fn decode(
    body: &[u8],
    content_type: &str,
    content_encoding: &str,
) -> Result<Vec<PushedStream>, String> {
    let inflated;
    let body = match content_encoding.trim() {
        "" | "snappy" => body,
        "gzip" => {
            // Go's gzip reader: a header shorter than 10 bytes is an EOF,
            // a wrong magic number an invalid header.
            match body.len() {
                0 => return Err("EOF".into()),
                1..10 => return Err("unexpected EOF".into()),
                _ if !body.starts_with(&[0x1f, 0x8b]) => return Err("gzip: invalid header".into()),
                _ => {}
            }
            inflated = inflate(flate2::read::GzDecoder::new(body))?;
            &inflated
        }
        "deflate" => {
            inflated = inflate(flate2::read::DeflateDecoder::new(body))?;
            &inflated
        }
        other => return Err(format!("Content-Encoding {other:?} not supported")),
    };
    if media_type(content_type)? == "application/json" {
        return decode_json(body);
    }
    let req = crate::loki::push::decode(body).map_err(|e| match e {
        crate::loki::push::PushDecodeError::Snappy(_) => "snappy: corrupt input".to_string(),
        e => e.to_string(),
    })?;
    Ok(req
        .streams
        .into_iter()
        .map(|s| PushedStream {
            labels: s.labels,
            entries: s
                .entries
                .into_iter()
                .map(|e| {
                    (
                        e.timestamp.map_or(0, |t| t.as_nanos()),
                        e.line,
                        e.structured_metadata
                            .into_iter()
                            .map(|p| (p.name, p.value))
                            .collect(),
                    )
                })
                .collect(),
        })
        .collect())
}

/// Reads a decompressing reader, at most [`MAX_DECODED_BYTES`].
fn inflate(r: impl Read) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    r.take(MAX_DECODED_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => "unexpected EOF".to_string(),
            _ => e.to_string(),
        })?;
    if out.len() > MAX_DECODED_BYTES {
        return Err(format!(
            "push body inflates to more than {MAX_DECODED_BYTES} bytes"
        ));
    }
    Ok(out)
}

/// The media type of a `Content-Type` (Go's `mime.ParseMediaType`, with its
/// errors for a missing type and a malformed parameter).
fn media_type(content_type: &str) -> Result<String, String> {
    if content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .is_empty()
    {
        return Err("mime: no media type".into());
    }
    let Some((media, params)) = content_type.split_once(';') else {
        return Ok(content_type.trim().to_ascii_lowercase());
    };
    let params: Vec<&str> = params.split(';').collect();
    // Every parameter is `key=value`; one trailing `;` is ignored.
    for (i, p) in params.iter().enumerate() {
        let p = p.trim();
        if p.is_empty() && i == params.len() - 1 {
            continue;
        }
        match p.split_once('=') {
            Some((k, _)) if !k.trim().is_empty() => {}
            _ => return Err("mime: invalid media parameter".into()),
        }
    }
    let media = media.trim().to_ascii_lowercase();
    Ok(media)
}

/// A JSON push body (`{"streams":[{"stream":{…},"values":[["ns","line",{…}]]}]}`),
/// read by ingest's parser of the same bodies; the labels are printed in
/// Loki's form so that they are checked as a protobuf body's are.
fn decode_json(body: &[u8]) -> Result<Vec<PushedStream>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("EOF".into());
    }
    let streams = crate::ingest::format::parse_push_bodies(body)?;
    Ok(streams
        .into_iter()
        .map(|s| PushedStream {
            labels: s.labels.to_string(),
            entries: s
                .entries
                .into_iter()
                .map(|(t, l, m)| (t, l.into_bytes(), m))
                .collect(),
        })
        .collect())
}

/// How long the committer waits for another writer by default.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_decode_as_loki_decodes_them() {
        let json = br#"{"streams":[{"stream":{"job":"a","x":""},"values":[["5","l",{"t":"1"}]]}]}"#;
        let want = vec![PushedStream {
            labels: r#"{job="a", x=""}"#.into(),
            entries: vec![(5, b"l".to_vec(), vec![("t".into(), "1".into())])],
        }];
        assert_eq!(
            decode(json, "application/json; charset=utf-8", ""),
            Ok(want.clone())
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, json).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decode(&gz, "application/json", "gzip"), Ok(want.clone()));
        let mut df = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut df, json).unwrap();
        assert_eq!(
            decode(&df.finish().unwrap(), "application/json", "deflate"),
            Ok(want)
        );
        for (body, ct, ce, err) in [
            (
                &b"x"[..],
                "application/json",
                "br",
                "Content-Encoding \"br\" not supported",
            ),
            (json, "application/json", "gzip", "gzip: invalid header"),
            (
                b"garbage",
                "application/x-protobuf",
                "",
                "snappy: corrupt input",
            ),
            (b"garbage", "text/plain", "", "snappy: corrupt input"),
            (b"garbage", "", "", "mime: no media type"),
            (b"{}", "application/json", "gzip", "unexpected EOF"),
            (b"", "application/json", "", "EOF"),
            (
                json,
                "application/json;;;",
                "",
                "mime: invalid media parameter",
            ),
        ] {
            assert_eq!(decode(body, ct, ce), Err(err.to_string()), "{ct} {ce}");
        }
    }
}
