//! Printing what ingest did with timestamps: the summary's table of files
//! whose entries took another time than their own line's, and
//! `lokal ingest --dry-run`'s per-input report (table or JSON).

use std::fmt::Write as _;

use anyhow::Result;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use lokal::ingest::{DryRun, FileTimestamps};
use lokal::time::rfc3339_nano;

/// "6 took the previous entry's time; 1 timestamps not taken (implausible)":
/// every fallback and flag of one input ("" when there is none).
pub fn fallbacks(t: &FileTimestamps) -> String {
    fallback_parts(t).join("; ")
}

/// [`fallbacks`], one item each.
fn fallback_parts(t: &FileTimestamps) -> Vec<String> {
    let mut parts = Vec::new();
    let mut add = |n: u64, what: &str| {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    };
    add(t.previous_line, "took the previous entry's time");
    add(t.first_found, "took the file's first timestamp");
    add(t.mtime, "took the file's modification time");
    add(t.implausible, "timestamps not taken (implausible)");
    add(t.unknown_zone, "read in --timezone (unknown zone name)");
    add(
        t.far_from_previous,
        "more than 30 days from the previous entry",
    );
    parts
}

/// The table of inputs with a fallback, or `None` when every entry had its
/// own line's time.
pub fn fallback_table(files: &[FileTimestamps]) -> Option<Table> {
    let rows: Vec<&FileTimestamps> = files.iter().filter(|t| t.has_fallback()).collect();
    if rows.is_empty() {
        return None;
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec!["timestamps of", "format", "entries", "fallbacks"]);
    if t.width().is_none() {
        // Not a terminal: wrap as a 120-column one would.
        t.set_width(120);
    }
    for f in rows {
        let mut what = fallback_parts(f).join("\n");
        for n in &f.notes {
            // The row names the file already: `FILE:12: x` shows as `line 12: x`.
            let n = n.strip_prefix(f.file.as_str()).unwrap_or(n);
            let n = match n.strip_prefix(':') {
                Some(rest) => format!("line {rest}"),
                None => n.trim_start_matches(": ").to_string(),
            };
            let _ = write!(what, "\n{n}");
        }
        t.add_row(vec![
            f.file.clone(),
            f.format.clone(),
            f.entries.to_string(),
            what,
        ]);
    }
    Some(t)
}

/// The dry run for people: per input its format, labels, counts and first
/// entries with their times.
pub fn dry_run_text(d: &DryRun) -> String {
    let mut s = String::new();
    for (k, i) in d.inputs.iter().enumerate() {
        if k > 0 {
            s.push('\n');
        }
        let _ = writeln!(s, "{}", i.input);
        if let Some(e) = &i.error {
            let _ = writeln!(s, "  skipped    {e}");
            continue;
        }
        let t = &i.timestamps;
        let _ = writeln!(s, "  format     {}", t.format);
        let _ = writeln!(s, "  labels     {}", i.labels);
        let _ = writeln!(
            s,
            "  read       {} lines, {} bytes: {} entries",
            i.lines, i.bytes, t.entries
        );
        for (reason, n) in &i.rejected {
            let _ = writeln!(s, "  rejected   {n} ({reason})");
        }
        let _ = write!(s, "  times      {} from their own line", t.found);
        let f = fallbacks(t);
        let _ = writeln!(s, "{}{f}", if f.is_empty() { "" } else { "; " });
        for n in &t.notes {
            let _ = writeln!(s, "             {n}");
        }
        if let (Some(a), Some(b)) = (i.min_t, i.max_t) {
            let _ = writeln!(s, "  range      {} .. {}", rfc3339_nano(a), rfc3339_nano(b));
        }
        if !i.head.is_empty() {
            let _ = writeln!(s, "  first entries");
            let w = i
                .head
                .iter()
                .map(|e| rfc3339_nano(e.ts).len())
                .max()
                .unwrap_or(0);
            for e in &i.head {
                let _ = writeln!(
                    s,
                    "  {:>5}  {:<w$}  {:<15}  {}",
                    e.entry,
                    rfc3339_nano(e.ts),
                    e.source.name(),
                    e.line
                );
            }
        }
        pipeline_text(i, &mut s);
    }
    s
}

/// `--dry-run --config`: the pipeline's counts, then per first entry what
/// each stage changed (line, labels, time, metadata, extracted data).
fn pipeline_text(i: &lokal::ingest::DryRunInput, s: &mut String) {
    let Some(n) = i.pipeline_entries else { return };
    let _ = write!(
        s,
        "  pipeline   {n} entries stored of {}",
        i.timestamps.entries
    );
    for (reason, k) in &i.dropped {
        let _ = write!(s, "; {k} dropped ({reason})");
    }
    s.push('\n');
    let short = |v: &str| -> String {
        let v: String = v.chars().take(100).collect();
        format!("{v:?}")
    };
    for t in &i.pipeline {
        let first = i.head.iter().find(|h| h.entry == t.entry);
        let _ = writeln!(s, "  entry {} through the stages", t.entry);
        let mut line = first.map(|h| h.line.clone()).unwrap_or_default();
        let mut labels = i.labels.clone();
        let mut ts = first.map(|h| h.ts);
        let mut metadata: Vec<(String, String)> = Vec::new();
        let mut extracted: std::collections::BTreeMap<String, String> = Default::default();
        let w = t
            .steps
            .iter()
            .map(|st| st.stage.chars().count())
            .max()
            .unwrap_or(0)
            .clamp(12, 48);
        for step in &t.steps {
            let mut rows: Vec<(&str, String)> = Vec::new();
            if let Some(note) = &step.note {
                rows.push(("", note.clone()));
            }
            if let Some(e) = &step.entry {
                if e.line != line {
                    rows.push(("line", short(&e.line)));
                    line = e.line.clone();
                }
                let l = e.labels.to_string();
                if l != labels {
                    rows.push(("labels", l.clone()));
                    labels = l;
                }
                if ts != Some(e.ts) {
                    rows.push(("time", rfc3339_nano(e.ts)));
                    ts = Some(e.ts);
                }
                if e.metadata != metadata {
                    let m: Vec<String> = e
                        .metadata
                        .iter()
                        .map(|(k, v)| format!("{k}={}", short(v)))
                        .collect();
                    rows.push(("metadata", m.join(" ")));
                    metadata = e.metadata.clone();
                }
                let now: std::collections::BTreeMap<String, String> =
                    step.extracted.iter().cloned().collect();
                let changed: Vec<String> = now
                    .iter()
                    .filter(|(k, v)| {
                        extracted.get(*k) != Some(*v)
                            && e.labels.get(k).is_none_or(|l| l != v.as_str())
                    })
                    .map(|(k, v)| format!("{k}={}", short(v)))
                    .collect();
                if !changed.is_empty() {
                    rows.push(("extracted", changed.join(" ")));
                }
                extracted = now;
            }
            if rows.is_empty() {
                rows.push(("", "no change".into()));
            }
            for (k, (what, text)) in rows.into_iter().enumerate() {
                let stage = if k == 0 { step.stage.as_str() } else { "" };
                let _ = writeln!(s, "    {stage:<w$}  {what:<9} {text}");
            }
        }
    }
}

/// The dry run as one JSON object.
pub fn dry_run_json(d: &DryRun) -> Result<String> {
    Ok(serde_json::to_string_pretty(d)?)
}
