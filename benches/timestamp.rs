//! ns per line of timestamp extraction on real samples.
//!
//! `cargo bench --bench timestamp`. Each iteration extracts every line of
//! one file from `../shared/data/real` with one extractor (as `lokal ingest`
//! does per file), so the detector cache is exercised as in real use. Divan
//! prints the time per iteration and items (lines) per second; ns/line is
//! 1e9 / that rate. Skipped, with a note, when `../shared` is absent.

use std::path::{Path, PathBuf};

use divan::counter::{BytesCount, ItemsCount};
use divan::{black_box, Bencher};
use lokal::ingest::timestamp::{TimestampConfig, TimestampExtractor};

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

/// Styles detected with no flags.
#[divan::bench(args = [
    "apache_access.log",
    "nginx_access.log",
    "hadoop.log",
    "openstack.log",
    "windows.log",
    "vault.log",
    "distributor_logfmt.log",
    "drone_json.log",
    "nginxplus_status_json.log",
    "linux.log",
    "kubernetes.log",
    "android.log",
    "apache_error.log",
    "journald.log",
])]
fn auto(bencher: Bencher, file: &str) {
    run(bencher, file, None, None);
}

/// No timestamp to find: the full scan runs on every line (worst case).
#[divan::bench(args = ["spark.log", "bgl.log"])]
fn auto_none(bencher: Bencher, file: &str) {
    run(bencher, file, None, None);
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
