//! The `result` of Loki's `streams` body (`/loki/api/v1/query_range` for a
//! log query) built from entries handed over one at a time.
//!
//! Loki groups a log answer by stream: every stream once, sorted by labels,
//! its entries in the query's order. An answer of any size arrives here in
//! time order across streams, so nothing can be written before the last
//! entry; instead, entries are kept per stream up to a memory budget and
//! the rest goes to an unnamed temporary file (`$TMPDIR`, removed when the
//! body is dropped, even on a crash), read back in order while the body is
//! serialized. Memory then holds the budget plus, per distinct stream of
//! the answer, its label set's sort key and some 100 bytes of bookkeeping
//! (140 bytes a stream in all over a million streams of three labels).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;

use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::engine::logquery::LogEntry;
use crate::model::Labels;

/// Bytes of entries a [`StreamsBody`] keeps in memory before it writes
/// them to its temporary file: 32 MiB.
pub const SPILL_BUDGET: usize = 32 << 20;

/// One stream's entries: runs in the temporary file, then the tail still
/// in memory, each a sequence of records `ts i64 LE | len u32 LE | line`.
#[derive(Default)]
struct Group {
    runs: Vec<(u64, usize)>,
    tail: Vec<u8>,
}

/// Entries grouped by stream for Loki's `streams` result; serializes as
/// `[{"stream": {…}, "values": [["<ns>", "<line>"], …]}, …]`.
pub struct StreamsBody {
    /// By the label set's sort key ([`Labels::write_sort_key`]): a stream
    /// costs its key's bytes where its `Labels` took some 300 (six strings,
    /// a vector, an `Arc`). Hashed, not ordered: each entry finds its stream
    /// with one hash where a `BTreeMap` of label sets compared some twenty
    /// (half the CPU of `-o json` over a million streams); the keys are
    /// sorted once, when the body is written, and sort as the sets do.
    groups: HashMap<Box<[u8]>, Group>,
    /// The key of the entry being added.
    key: Vec<u8>,
    spill: Option<BufWriter<File>>,
    spill_len: u64,
    buffered: usize,
    budget: usize,
    entries: u64,
    /// Where the temporary file goes (`None`: `$TMPDIR`).
    spill_dir: Option<std::path::PathBuf>,
}

impl Default for StreamsBody {
    fn default() -> Self {
        Self::with_budget(SPILL_BUDGET)
    }
}

impl StreamsBody {
    /// An empty body that keeps up to `budget` bytes of entries in memory.
    pub fn with_budget(budget: usize) -> StreamsBody {
        StreamsBody {
            groups: HashMap::new(),
            key: Vec::new(),
            spill: None,
            spill_len: 0,
            buffered: 0,
            budget,
            entries: 0,
            spill_dir: None,
        }
    }

    /// Groups `entries` (small answers: nothing spills below the budget).
    pub fn of(entries: &[LogEntry]) -> io::Result<StreamsBody> {
        let mut b = StreamsBody::default();
        for e in entries {
            b.push_parts(&e.labels, e.ts, &e.line)?;
        }
        Ok(b)
    }

    /// Adds the next entry of the answer.
    pub fn push(&mut self, e: LogEntry) -> io::Result<()> {
        self.push_parts(&e.labels, e.ts, &e.line)
    }

    fn push_parts(&mut self, labels: &Labels, ts: i64, line: &[u8]) -> io::Result<()> {
        self.key.clear();
        labels.write_sort_key(&mut self.key);
        let g = match self.groups.get_mut(&self.key[..]) {
            Some(g) => g,
            None => self.groups.entry(self.key.as_slice().into()).or_default(),
        };
        let len = u32::try_from(line.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "line over 4 GiB"))?;
        g.tail.extend_from_slice(&ts.to_le_bytes());
        g.tail.extend_from_slice(&len.to_le_bytes());
        g.tail.extend_from_slice(line);
        self.buffered += 12 + line.len();
        self.entries += 1;
        if self.buffered > self.budget {
            self.spill_tails()?;
        }
        Ok(())
    }

    /// Moves every stream's tail to the temporary file.
    fn spill_tails(&mut self) -> io::Result<()> {
        let w = match &mut self.spill {
            Some(w) => w,
            None => {
                let dir = self.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
                let file = tempfile::tempfile_in(&dir).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "cannot create a temporary file in {} for the entries of -o json beyond {} MiB \
                             (set TMPDIR to a writable directory, or use -o jsonl, which needs none): {e}",
                            dir.display(),
                            self.budget >> 20
                        ),
                    )
                })?;
                self.spill.insert(BufWriter::with_capacity(1 << 20, file))
            }
        };
        for g in self.groups.values_mut() {
            if g.tail.is_empty() {
                continue;
            }
            w.write_all(&g.tail)?;
            g.runs.push((self.spill_len, g.tail.len()));
            self.spill_len += g.tail.len() as u64;
            g.tail = Vec::new();
        }
        w.flush()?;
        self.buffered = 0;
        Ok(())
    }

    /// Entries added.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Bytes written to the temporary file.
    pub fn spilled(&self) -> u64 {
        self.spill_len
    }

    /// Distinct streams.
    pub fn streams(&self) -> usize {
        self.groups.len()
    }
}

/// One stream of the body.
struct StreamSer<'a> {
    labels: &'a Labels,
    group: &'a Group,
    file: Option<&'a File>,
}

/// A stream's `values`.
struct ValuesSer<'a>(&'a StreamSer<'a>);

impl Serialize for StreamsBody {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let file = self.spill.as_ref().map(|w| w.get_ref());
        // Loki's order: by labels, which their keys sort as (24 bytes a
        // stream while the body is written).
        let mut groups: Vec<(&[u8], &Group)> = self.groups.iter().map(|(k, g)| (&**k, g)).collect();
        groups.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut seq = s.serialize_seq(Some(groups.len()))?;
        for (key, group) in groups {
            let labels = Labels::from_sort_key(key)
                .ok_or_else(|| S::Error::custom("a stream's key is not a label set's"))?;
            seq.serialize_element(&StreamSer {
                labels: &labels,
                group,
                file,
            })?;
        }
        seq.end()
    }
}

impl Serialize for StreamSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("stream", &super::api::LabelsJson(self.labels))?;
        m.serialize_entry("values", &ValuesSer(self))?;
        m.end()
    }
}

impl Serialize for ValuesSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let st = self.0;
        let mut seq = s.serialize_seq(None)?;
        let mut buf = Vec::new();
        for &(off, len) in &st.group.runs {
            let file = st
                .file
                .ok_or_else(|| S::Error::custom("a spilled run without its file"))?;
            buf.resize(len, 0);
            file.read_exact_at(&mut buf, off)
                .map_err(|e| S::Error::custom(format!("reading back the spilled entries: {e}")))?;
            records(&buf, &mut |ts, line| {
                seq.serialize_element(&(ts.to_string(), String::from_utf8_lossy(line)))
            })?;
        }
        records(&st.group.tail, &mut |ts, line| {
            seq.serialize_element(&(ts.to_string(), String::from_utf8_lossy(line)))
        })?;
        seq.end()
    }
}

/// Calls `f` for each record of `buf`, as [`StreamsBody::push_parts`] wrote them.
fn records<E>(mut buf: &[u8], f: &mut impl FnMut(i64, &[u8]) -> Result<(), E>) -> Result<(), E> {
    while buf.len() >= 12 {
        let ts = i64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes")) as usize;
        let end = (12 + len).min(buf.len());
        f(ts, &buf[12..end])?;
        buf = &buf[end..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn entry(stream: &str, ts: i64, line: &str) -> LogEntry {
        LogEntry {
            ts,
            labels: Arc::new(Labels::from_pairs([("app", stream)])),
            line: line.as_bytes().to_vec(),
        }
    }

    /// Spilled or not, the body is the same: streams by labels (label sets
    /// of one and of two labels, that a prefix orders), each stream's
    /// entries in the order they came.
    #[test]
    fn spilling_changes_nothing() {
        let entries: Vec<LogEntry> = (0..500)
            .map(|i| {
                let s = ["b", "a", "c\"é", "a", "b1"][i % 5];
                let mut e = entry(
                    s,
                    1000 - i as i64,
                    &format!("line {i} {}", "x".repeat(i % 17)),
                );
                if i % 7 < 2 {
                    e.labels = Arc::new(Labels::from_pairs([("app", s), ("x", ["", "1"][i % 7])]));
                }
                e
            })
            .collect();
        let mut want: BTreeMap<Labels, Vec<serde_json::Value>> = BTreeMap::new();
        for e in &entries {
            want.entry((*e.labels).clone())
                .or_default()
                .push(json!([e.ts.to_string(), String::from_utf8_lossy(&e.line)]));
        }
        let want: Vec<_> = want
            .into_iter()
            .map(|(l, v)| json!({"stream": super::super::api::labels_json(&l), "values": v}))
            .collect();
        // What the records take: 12 bytes of timestamp and length, the line.
        let total: usize = entries.iter().map(|e| 12 + e.line.len()).sum();
        for budget in [0, 1, 100, 5000, total - 1, total, SPILL_BUDGET] {
            let mut b = StreamsBody::with_budget(budget);
            for e in &entries {
                b.push(e.clone()).unwrap();
            }
            assert_eq!(b.entries(), 500);
            assert_eq!(b.streams(), 12);
            assert_eq!(b.spilled() > 0, budget < total, "{budget}");
            assert_eq!(serde_json::to_value(&b).unwrap(), json!(want), "{budget}");
            let pretty = serde_json::to_string_pretty(&b).unwrap();
            assert_eq!(pretty, serde_json::to_string_pretty(&json!(want)).unwrap());
        }
    }

    /// A temporary file that cannot be made is an error that says where and
    /// what to do, not a bare "No such file or directory".
    #[test]
    fn an_unwritable_temporary_directory_is_named() {
        let mut b = StreamsBody::with_budget(0);
        b.spill_dir = Some("/nonexistent/lokal-tmp".into());
        let err = b.push(entry("a", 1, "x")).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/lokal-tmp"), "{err}");
        assert!(err.contains("set TMPDIR"), "{err}");
    }
}
