//! `lokal ingest --dry-run`: what an ingest would make of each input — the
//! timestamp format found, the labels of its stream, its first entries with
//! the time each would get, and the counts — reading the inputs through the
//! same code as an ingest (learning, parsing, filling in times) but writing
//! nothing: no store is opened or created, no lock taken. The result is a
//! data structure ([`DryRun`]) the CLI prints as a table or JSON, so later
//! front ends (a promtail `--config`) can extend it.

use std::collections::BTreeMap;
use std::io::Read;

use super::batch::parse_auto;
use super::clock::{self, MISSING};
use super::reader::cut_point;
use super::report::FileTimestamps;
use super::source::{self, Compression, Input};
use super::timestamp::TimestampExtractor;
use super::{IngestError, IngestOptions, InputFormat};
use crate::model::validate_labels;

/// Bytes parsed at a time.
const CHUNK_BYTES: usize = 4 << 20;

/// Where a dry run's entry got its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeSource {
    /// Its own line.
    Line,
    /// The previous entry (the line has no timestamp, or a refused one).
    PreviousLine,
    /// The input's first timestamp (the line comes before it).
    FirstFound,
    /// The input's modification time (stdin: now): it has no timestamp.
    Mtime,
}

impl TimeSource {
    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            TimeSource::Line => "line",
            TimeSource::PreviousLine => "previous line's",
            TimeSource::FirstFound => "file's first",
            TimeSource::Mtime => "mtime",
        }
    }
}

/// One of the first entries of an input, with the time it would get.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DryRunEntry {
    /// Entry number, from 1: the line number unless `--multiline-start`
    /// joins lines or a line is rejected.
    pub entry: u64,
    /// The entry's time, ns.
    pub ts: i64,
    /// Where that time came from.
    pub source: TimeSource,
    /// The entry's first line (its first 200 characters, invalid UTF-8 replaced).
    pub line: String,
}

/// What an ingest would make of one input.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DryRunInput {
    /// The input as named in messages (`-` for stdin).
    pub input: String,
    /// Its stream's labels, in Loki's printed form.
    pub labels: String,
    /// Lines read.
    pub lines: u64,
    /// Bytes read (decompressed).
    pub bytes: u64,
    /// Lines that would not be stored, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// The timestamp format found and every fallback, as the ingest
    /// summary would list them.
    pub timestamps: FileTimestamps,
    /// Oldest entry time, ns.
    pub min_t: Option<i64>,
    /// Newest entry time, ns.
    pub max_t: Option<i64>,
    /// The first entries.
    pub head: Vec<DryRunEntry>,
    /// Why an ingest would skip the input (then nothing else is filled in).
    pub error: Option<String>,
    /// With a pipeline (`--config`): what each stage made of the first
    /// entries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pipeline: Vec<DryRunTrace>,
    /// With a pipeline: the entries it would store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline_entries: Option<u64>,
    /// With a pipeline: entries it would drop, by reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dropped: BTreeMap<String, u64>,
}

/// One of the first entries through the pipeline, stage by stage.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DryRunTrace {
    /// Entry number, as in [`DryRunEntry::entry`].
    pub entry: u64,
    /// Each stage's result, in order.
    pub steps: Vec<super::hook::TraceStep>,
}

/// What `lokal ingest --dry-run` found, per input.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DryRun {
    /// One per input, in the order ingest would read them.
    pub inputs: Vec<DryRunInput>,
}

/// Reads every input of `opts` as an ingest would, from its start (stored
/// positions are not consulted), and reports per input; `head` is how many
/// first entries to show. Writes nothing.
pub fn dry_run(opts: &IngestOptions, head: usize) -> Result<DryRun, IngestError> {
    if opts.inputs.is_empty() {
        return Err(IngestError::Config(
            "nothing to look at: give files, globs, directories or - for stdin".into(),
        ));
    }
    if opts.format != InputFormat::Auto {
        return Err(IngestError::Config(
            "--dry-run shows how lines become entries (--format auto); logcli and loki-push \
             inputs carry their own labels and timestamps"
                .into(),
        ));
    }
    super::labels::check_static(opts)?;
    let extractor = clock::extractor(opts)?;
    let mut inputs = source::expand_inputs(&opts.inputs, opts.recursive)?;
    if let Some(hook) = &opts.hook {
        inputs.retain(|i| hook.reads(&i.display()));
    }
    let mut out = DryRun::default();
    for input in inputs {
        let mut one = DryRunInput {
            input: input.display(),
            ..DryRunInput::default()
        };
        if let Err(msg) = look(&input, opts, extractor.clone(), head, &mut one) {
            one.error = Some(msg);
        }
        out.inputs.push(one);
    }
    Ok(out)
}

/// Opens an input: its reader and reference time (mtime; stdin: now).
fn open(input: &Input, name: &str) -> Result<(Box<dyn Read + Send>, Compression, i64), String> {
    match input {
        Input::Stdin => Ok((
            Box::new(std::io::stdin()),
            Compression::None,
            jiff::Timestamp::now().as_nanosecond() as i64,
        )),
        Input::File(path) => {
            let file =
                std::fs::File::open(path).map_err(|e| format!("{name}: cannot open: {e}"))?;
            if file.metadata().is_ok_and(|m| m.is_dir()) {
                return Err(format!(
                    "{name}: is a directory (use --recursive or a glob)"
                ));
            }
            let id = source::identity(&file).map_err(|e| format!("{name}: cannot stat: {e}"))?;
            let compression = Compression::of(path);
            let reader = source::open_reader(file, compression)
                .map_err(|e| format!("{name}: cannot read: {e}"))?;
            Ok((reader, compression, id.mtime_ns))
        }
    }
}

fn look(
    input: &Input,
    opts: &IngestOptions,
    mut ex: TimestampExtractor,
    head: usize,
    out: &mut DryRunInput,
) -> Result<(), String> {
    let name = input.display();
    let (mut reader, compression, reference_ns) = open(input, &name)?;
    let (labels, mut processor) = match opts.hook.as_ref().and_then(|h| h.open(&name)) {
        Some(t) => (super::labels::hook_labels(t.labels, opts), t.processor),
        None => (
            super::labels::input_labels(input, &input.display(), opts),
            None,
        ),
    };
    let mut hook_counts = super::hook::HookCounts::default();
    let mut handed: Vec<super::hook::HookEntry> = Vec::new();
    if processor.is_some() {
        out.pipeline_entries = Some(0);
    }
    let mut piped = 0u64;
    out.labels = labels.to_string();
    validate_labels(&labels, &opts.limits).map_err(|e| format!("{name}: {e}"))?;
    let (mut buf, mut eof) =
        clock::read_head(&mut *reader).map_err(|e| format!("{name}: cannot read: {e}"))?;
    if !opts.binary && compression == Compression::None {
        if let Some(off) = memchr::memchr(0, &buf[..buf.len().min(8192)]) {
            return Err(format!(
                "{name}: looks binary (NUL byte at offset {off}); ingest would skip it (--binary ingests it)"
            ));
        }
    }
    ex.set_reference(reference_ns);
    clock::learn(&mut ex, &buf, eof, &name, 1)?;
    out.timestamps = FileTimestamps {
        file: name.clone(),
        format: ex.describe(),
        ..FileTimestamps::default()
    };
    let mut carry = None;
    let mut line_no = 1u64;
    let mut entry_no = 0u64;
    loop {
        while !eof && buf.len() < CHUNK_BYTES {
            let old = buf.len();
            buf.resize(old + (1 << 20), 0);
            let n = read_some(&mut *reader, &mut buf[old..]).map_err(|e| {
                format!("{name}: read error at byte {}: {e}", out.bytes + old as u64)
            })?;
            buf.truncate(old + n);
            eof = n == 0;
        }
        let cut = if eof {
            buf.len()
        } else {
            // A chunk that is one unfinished multiline entry is parsed whole.
            match cut_point(
                &buf,
                opts.multiline_start.as_ref(),
                opts.multiline_max_lines,
            ) {
                0 => memchr::memrchr(b'\n', &buf).map_or(buf.len(), |i| i + 1),
                cut => cut,
            }
        };
        let piece = &buf[..cut];
        let (mut entries, counts) = parse_auto(piece, line_no, &name, &mut ex, opts);
        out.lines += counts.lines;
        out.bytes += piece.len() as u64;
        line_no += memchr::memchr_iter(b'\n', piece).count() as u64;
        for (k, v) in counts.rejected {
            *out.rejected.entry(k).or_default() += v;
        }
        let ts = &mut out.timestamps;
        ts.implausible += counts.ts_implausible;
        ts.unknown_zone += counts.ts_unknown_zone;
        for n in counts.ts_notes {
            ts.note(|| n);
        }
        let missing: Vec<bool> = entries
            .iter()
            .take(head.saturating_sub(out.head.len()))
            .map(|e| e.ts == MISSING)
            .collect();
        let had_carry = carry.is_some();
        let (found_before, mtime_before) = (ts.found, ts.mtime);
        clock::fill(
            &mut carry,
            reference_ns,
            ts,
            entries.iter_mut().map(|e| &mut e.ts),
        );
        let no_time_in_piece = ts.found == found_before && ts.mtime > mtime_before;
        let mut seen_found = had_carry;
        for (e, was_missing) in entries.iter().zip(missing) {
            entry_no += 1;
            let source = match (was_missing, seen_found) {
                (false, _) => TimeSource::Line,
                (true, true) => TimeSource::PreviousLine,
                (true, false) if no_time_in_piece => TimeSource::Mtime,
                (true, false) => TimeSource::FirstFound,
            };
            seen_found |= !was_missing || source == TimeSource::Mtime;
            let text: String = String::from_utf8_lossy(&e.line).chars().take(200).collect();
            out.head.push(DryRunEntry {
                entry: entry_no,
                ts: e.ts,
                source,
                line: text.lines().next().unwrap_or("").to_string(),
            });
        }
        if let Some(p) = processor.as_mut() {
            for e in &entries {
                piped += 1;
                let h = super::hook::HookEntry {
                    labels: labels.clone(),
                    ts: e.ts,
                    line: String::from_utf8_lossy(&e.line).into_owned(),
                    metadata: Vec::new(),
                };
                if out.pipeline.len() < head {
                    let steps = p.trace(h, &mut handed, &mut hook_counts);
                    out.pipeline.push(DryRunTrace {
                        entry: piped,
                        steps,
                    });
                } else {
                    p.process(h, &mut handed, &mut hook_counts);
                }
                *out.pipeline_entries.get_or_insert(0) += handed.len() as u64;
                handed.clear();
            }
            if eof && buf.len() == cut {
                p.flush(&mut handed, &mut hook_counts);
                *out.pipeline_entries.get_or_insert(0) += handed.len() as u64;
                handed.clear();
                out.dropped = std::mem::take(&mut hook_counts.dropped);
            }
        }
        entry_no = out.timestamps.entries;
        for e in &entries {
            out.min_t = Some(out.min_t.map_or(e.ts, |m| m.min(e.ts)));
            out.max_t = Some(out.max_t.map_or(e.ts, |m| m.max(e.ts)));
        }
        drop(entries);
        buf.drain(..cut);
        if eof && buf.is_empty() {
            return Ok(());
        }
    }
}

fn read_some(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
