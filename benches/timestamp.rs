//! ns per line of timestamp extraction on real samples.
//!
//! `cargo bench --bench timestamp`. Each iteration extracts every line of
//! one file from `../shared/data/real` with one extractor that learned the
//! file's first lines (as `lokal ingest` sets one up per file), so the
//! "style that matched last" path works as in real use. Divan prints the
//! time per iteration and items (lines) per second; ns/line is 1e9 / that
//! rate. Every real file is benched with no flags. Skipped, with a note,
//! when `../shared` is absent.

use std::path::{Path, PathBuf};

use divan::counter::{BytesCount, ItemsCount};
use divan::{black_box, Bencher};
use lokal::ingest::timestamp::{TimestampConfig, TimestampExtractor, SAMPLE_LINES};

fn main() {
    if data_dir().is_none() {
        eprintln!("note: ../shared/data/real not found; skipping the timestamp benchmarks");
        return;
    }
    divan::main();
}

fn data_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real");
    dir.is_dir().then_some(dir)
}

/// The lines of a sample, `\r` stripped, as the ingest code passes them.
fn lines(file: &str) -> Vec<Vec<u8>> {
    let data = std::fs::read(data_dir().unwrap().join(file)).unwrap();
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .collect()
}

fn run(bencher: Bencher, file: &str, format: Option<&str>, regex: Option<&str>) {
    let lines = lines(file);
    let cfg = TimestampConfig {
        format: format.map(Into::into),
        regex: regex.map(Into::into),
        year: Some(2024),
        ..TimestampConfig::default()
    };
    let mut ex = TimestampExtractor::new(&cfg).unwrap();
    let head: Vec<&[u8]> = lines.iter().take(SAMPLE_LINES).map(|l| &l[..]).collect();
    ex.learn(&head).unwrap();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    bencher
        .counter(ItemsCount::new(lines.len()))
        .counter(BytesCount::new(bytes))
        .bench_local(|| {
            for l in &lines {
                black_box(ex.extract(black_box(l)));
            }
        });
}

/// Every real file, with no flags.
#[divan::bench(args = [
    "android.log",
    "apache_access.log",
    "apache_error.log",
    "bgl.log",
    "calico.log",
    "distributor_logfmt.log",
    "drone_json.log",
    "grafana_agent_logfmt.log",
    "hadoop.log",
    "hdfs.log",
    "healthapp.log",
    "hpc.log",
    "ingester_logfmt.log",
    "journald.log",
    "kafka.log",
    "kubernetes.log",
    "linux.log",
    "mac.log",
    "nginx_access.log",
    "nginxplus_status_json.log",
    "openssh.log",
    "openstack.log",
    "proxifier.log",
    "spark.log",
    "thunderbird.log",
    "vault.log",
    "windows.log",
    "zookeeper.log",
])]
fn auto(bencher: Bencher, file: &str) {
    run(bencher, file, None, None);
}

/// journald's lines without a timestamp (AVC and audit messages): each
/// tries the file's styles and the anchored places (the worst case).
#[divan::bench]
fn auto_none(bencher: Bencher) {
    // The styles of journald's first lines (klog, logfmt, ISO 8601).
    let all = lines("journald.log");
    let lines: Vec<&Vec<u8>> = all
        .iter()
        .filter(|l| l.starts_with(b"AVC ") || l.starts_with(b"audit:"))
        .collect();
    let head: Vec<&[u8]> = all.iter().take(SAMPLE_LINES).map(|l| &l[..]).collect();
    let mut ex = TimestampExtractor::new(&TimestampConfig::default()).unwrap();
    ex.learn(&head).unwrap();
    bencher
        .counter(ItemsCount::new(lines.len()))
        .bench_local(|| {
            for l in &lines {
                black_box(ex.extract(black_box(l)));
            }
        });
}

/// `--timestamp-format`.
#[divan::bench(args = [
    ("hdfs.log", "%y%m%d %H%M%S"),
    ("hdfs.log", "060102 150405"),
    ("healthapp.log", "%Y%m%d-%H:%M:%S:%L"),
    ("proxifier.log", "%m.%d %H:%M:%S"),
])]
fn format(bencher: Bencher, (file, format): (&str, &str)) {
    run(bencher, file, Some(format), None);
}

/// `--timestamp-regex` (the regex crate dominates).
#[divan::bench(args = [("bgl.log", r"^\S+ (\d+) "), ("hpc.log", r"^(?:\S+ ){4}(\d+) ")])]
fn regex(bencher: Bencher, (file, regex): (&str, &str)) {
    run(bencher, file, None, Some(regex));
}

/// A named zone (Europe/Paris) instead of UTC: the DST-period cache.
#[divan::bench(args = ["hadoop.log"])]
fn auto_named_zone(bencher: Bencher, file: &str) {
    let lines = lines(file);
    let cfg = TimestampConfig {
        timezone: jiff::tz::TimeZone::get("Europe/Paris").unwrap(),
        ..TimestampConfig::default()
    };
    let mut ex = TimestampExtractor::new(&cfg).unwrap();
    bencher
        .counter(ItemsCount::new(lines.len()))
        .bench_local(|| {
            for l in &lines {
                black_box(ex.extract(black_box(l)));
            }
        });
}
