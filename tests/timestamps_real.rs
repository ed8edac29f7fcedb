//! Timestamp detection on every real sample in `../shared/data/real`.
//!
//! Every file goes through the extractor as `lokal ingest` runs it (the
//! file's modification time as reference, its first lines learned), with
//! no flags but `--year` for the formats that write none. Each line's
//! timestamp must be the one written in it, as `tests/support/stamps.rs`
//! reads it with its own regexes and jiff (an independent path, checked
//! itself against hand-computed first and last instants), and a line without
//! one must get `None`. The flags that were needed before still work.
//!
//! Skipped, with a note, when `../shared` is not beside the crate (and
//! failing then under `CI=true`: see `tests/support`).

mod support;

use std::path::{Path, PathBuf};

use lokal::ingest::timestamp::{TimestampConfig, TimestampExtractor, SAMPLE_LINES};
use support::stamps;

/// Hand-checked instants of each file's first and last line (RFC 3339),
/// with the years of `stamps::REAL_YEARS`.
const FIRST_LAST: &[(&str, &str, &str)] = &[
    (
        "hadoop.log",
        "2015-10-18T18:01:47.978Z",
        "2015-10-18T18:10:55.202Z",
    ),
    (
        "zookeeper.log",
        "2015-07-29T17:41:44.747Z",
        "2015-08-10T18:12:34.004Z",
    ),
    (
        "windows.log",
        "2016-09-28T04:30:30Z",
        "2016-09-29T02:04:40Z",
    ),
    (
        "openstack.log",
        "2017-05-16T00:00:00.008Z",
        "2017-05-16T00:14:47.687Z",
    ),
    (
        "apache_error.log",
        "2005-12-04T04:47:44Z",
        "2005-12-05T19:15:57Z",
    ),
    (
        "apache_access.log",
        "2015-05-17T10:05:03Z",
        "2015-05-20T21:05:15Z",
    ),
    (
        "nginx_access.log",
        "2024-10-04T00:00:18Z",
        "2024-10-04T13:17:43Z",
    ),
    (
        "nginxplus_status_json.log",
        "2015-10-30T23:58:19.322Z",
        "2015-10-31T00:40:53.399Z",
    ),
    (
        "distributor_logfmt.log",
        "2024-05-02T12:17:25.606619951Z",
        "2024-05-02T12:17:22.01212206Z",
    ),
    (
        "ingester_logfmt.log",
        "2024-04-17T09:52:46.364803306Z",
        "2024-04-17T09:52:46.363579783Z",
    ),
    (
        "grafana_agent_logfmt.log",
        "2024-04-16T15:10:44.103611953Z",
        "2024-04-16T15:10:42.555230437Z",
    ),
    (
        "drone_json.log",
        "2024-04-16T15:03:32Z",
        "2024-04-16T14:48:48Z",
    ),
    (
        "calico.log",
        "2024-05-08T15:23:58.902Z",
        "2024-05-08T15:23:56.399Z",
    ),
    (
        "kafka.log",
        "2024-05-07T10:55:53.434Z",
        "2024-05-07T10:55:40.485Z",
    ),
    (
        "vault.log",
        "2024-05-07T10:58:13.877Z",
        "2024-05-07T10:54:47.129Z",
    ),
    ("linux.log", "2005-06-14T15:16:01Z", "2005-07-27T14:42:00Z"),
    (
        "openssh.log",
        "2017-12-10T06:55:46Z",
        "2017-12-10T11:04:45Z",
    ),
    ("mac.log", "2017-07-01T09:00:55Z", "2017-07-08T08:10:46Z"),
    (
        "android.log",
        "2017-03-17T16:13:38.811Z",
        "2017-03-17T16:16:09.141Z",
    ),
    (
        "kubernetes.log",
        "2024-05-07T12:04:17.597069Z",
        "2024-05-07T12:02:27.92386Z",
    ),
    (
        "journald.log",
        "2024-05-07T11:59:44.523502Z",
        "2024-05-07T11:59:28.638532Z",
    ),
    ("hdfs.log", "2008-11-09T20:36:15Z", "2008-11-11T10:20:17Z"),
    ("spark.log", "2017-06-09T20:10:40Z", "2017-06-09T20:11:11Z"),
    ("bgl.log", "2005-06-03T22:42:50Z", "2006-01-03T15:13:09Z"),
    ("hpc.log", "2004-02-26T14:12:22Z", "2005-12-15T18:25:39Z"),
    (
        "thunderbird.log",
        "2005-11-09T20:01:01Z",
        "2005-11-09T20:15:32Z",
    ),
    (
        "healthapp.log",
        "2017-12-23T22:15:29.606Z",
        "2017-12-24T01:02:35.789Z",
    ),
    (
        "proxifier.log",
        "2016-10-30T16:49:06Z",
        "2016-07-27T10:23:42Z",
    ),
];

#[track_caller]
fn data_dir() -> Option<PathBuf> {
    support::shared("data/real")
}

fn ns(rfc3339: &str) -> i64 {
    let t: jiff::Timestamp = rfc3339.parse().unwrap();
    t.as_nanosecond() as i64
}

/// Lines as `lokal ingest` hands them over: split on `\n`, `\r` stripped.
fn lines(data: &[u8]) -> Vec<&[u8]> {
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect()
}

fn mtime_ns(path: &Path) -> i64 {
    let m = std::fs::metadata(path).unwrap().modified().unwrap();
    m.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64
}

/// An extractor set up for `path` as ingest sets it up: flags, the file's
/// mtime, and its first lines learned.
fn extractor(
    path: &Path,
    lines: &[&[u8]],
    format: Option<&str>,
    regex: Option<&str>,
    year: Option<i32>,
) -> TimestampExtractor {
    let cfg = TimestampConfig {
        format: format.map(Into::into),
        regex: regex.map(Into::into),
        year,
        ..TimestampConfig::default()
    };
    let mut ex = TimestampExtractor::new(&cfg).unwrap();
    ex.set_reference(mtime_ns(path));
    ex.learn(&lines[..lines.len().min(SAMPLE_LINES)]).unwrap();
    ex
}

/// Checks every line of `file` against the independent rules; returns the
/// failures.
fn check_file(dir: &Path, file: &str, format: Option<&str>, regex: Option<&str>) -> Vec<String> {
    let path = dir.join(file);
    let data = std::fs::read(&path).unwrap();
    let lines = lines(&data);
    let rules = stamps::real(file);
    let year = stamps::real_year(file);
    assert_eq!(
        rules.yearless,
        year.is_some(),
        "{file}: --year iff yearless"
    );
    let mut ex = extractor(&path, &lines, format, regex, year);
    let mut failures = Vec::new();
    let (mut with, mut without) = (0, 0);
    for (n, line) in lines.iter().enumerate() {
        let want = rules.instant(line, year.unwrap_or(0));
        let got = ex.extract(line);
        if want.is_some() {
            with += 1;
        } else {
            without += 1;
        }
        if got != want && failures.len() < 5 {
            failures.push(format!(
                "{file}:{} ({format:?} {regex:?}): got {got:?}, written {want:?}: {:.120}",
                n + 1,
                String::from_utf8_lossy(line)
            ));
        }
    }
    eprintln!("{file:28} {with:>5} with, {without:>4} without timestamp");
    failures
}

#[test]
fn every_real_file_has_rules_and_a_first_and_last_instant() {
    let Some(dir) = data_dir() else { return };
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let _ = stamps::real(&name);
        assert!(
            FIRST_LAST.iter().any(|(f, _, _)| *f == name),
            "{name} has no first/last case"
        );
    }
}

#[test]
fn the_independent_rules_give_the_hand_checked_instants() {
    let Some(dir) = data_dir() else { return };
    for (file, first, last) in FIRST_LAST {
        let data = std::fs::read(dir.join(file)).unwrap();
        let lines = lines(&data);
        let rules = stamps::real(file);
        let year = stamps::real_year(file).unwrap_or(0);
        let got = (
            rules.instant(lines[0], year),
            rules.instant(lines[lines.len() - 1], year),
        );
        assert_eq!(got, (Some(ns(first)), Some(ns(last))), "{file}");
    }
}

#[test]
fn every_real_file_with_no_flags_gets_the_written_timestamps() {
    let Some(dir) = data_dir() else { return };
    let mut failures = Vec::new();
    for (file, _, _) in FIRST_LAST {
        failures.extend(check_file(&dir, file, None, None));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_flags_once_needed_still_work() {
    let Some(dir) = data_dir() else { return };
    let cases: &[(&str, Option<&str>, Option<&str>)] = &[
        ("hdfs.log", Some("%y%m%d %H%M%S"), None),
        ("hdfs.log", Some("060102 150405"), None),
        ("spark.log", Some("%y/%m/%d %H:%M:%S"), None),
        ("spark.log", Some("06/01/02 15:04:05"), None),
        ("bgl.log", None, Some(r"^\S+ (\d+) ")),
        ("bgl.log", Some("Unix"), Some(r"^\S+ (\d+) ")),
        ("hpc.log", None, Some(r"^(?:\S+ ){4}(\d+) ")),
        ("thunderbird.log", None, Some(r"^\S+ (\d+) ")),
        ("healthapp.log", Some("%Y%m%d-%H:%M:%S:%L"), None),
        ("proxifier.log", Some("%m.%d %H:%M:%S"), None),
        ("proxifier.log", Some("01.02 15:04:05"), None),
        ("linux.log", Some("Jan _2 15:04:05"), None),
    ];
    let mut failures = Vec::new();
    for (file, format, regex) in cases {
        failures.extend(check_file(&dir, file, *format, *regex));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn calico_bird_and_journald_lines_have_none() {
    let Some(dir) = data_dir() else { return };
    let count_none = |file: &str| {
        let path = dir.join(file);
        let data = std::fs::read(&path).unwrap();
        let lines = lines(&data);
        let mut ex = extractor(&path, &lines, None, None, Some(2024));
        lines.iter().filter(|l| ex.extract(l).is_none()).count()
    };
    assert_eq!(count_none("calico.log"), 6, "calico's bird: lines");
    // The README's 38% (376) includes 109 tab-indented logfmt lines that do carry `ts=`.
    assert_eq!(
        count_none("journald.log"),
        267,
        "journald lines without a timestamp"
    );
}

#[test]
fn a_mixed_file_without_year_takes_its_dated_lines_year() {
    // journald mixes yearless klog lines with RFC 3339 ones from 2024; the
    // file's modification time is of another year. Every line lands in 2024.
    let Some(dir) = data_dir() else { return };
    let path = dir.join("journald.log");
    let data = std::fs::read(&path).unwrap();
    let lines = lines(&data);
    let mut ex = extractor(&path, &lines, None, None, None);
    let (lo, hi) = (ns("2024-05-07T00:00:00Z"), ns("2024-05-08T00:00:00Z"));
    for (n, line) in lines.iter().enumerate() {
        if let Some(t) = ex.extract(line) {
            assert!((lo..hi).contains(&t), "line {}: {t}", n + 1);
        }
    }
    assert!(
        ex.describe().contains("nearest the file's dated lines"),
        "{}",
        ex.describe()
    );
}

#[test]
fn exact_nanoseconds_of_known_lines() {
    let Some(dir) = data_dir() else { return };
    let first = |file: &str| {
        let path = dir.join(file);
        let data = std::fs::read(&path).unwrap();
        let lines = lines(&data);
        extractor(&path, &lines, None, None, Some(2017)).extract(lines[0])
    };
    // Hand-computed: 2015-05-17 is day 16572 since 1970; 16572*86400 + 10*3600 + 5*60 + 3.
    assert_eq!(first("apache_access.log"), Some(1_431_857_103_000_000_000));
    assert_eq!(
        first("nginxplus_status_json.log"),
        Some(1_446_249_499_322_000_000)
    );
    assert_eq!(first("bgl.log"), Some(1_117_838_570_000_000_000));
    // 2017-03-17 is day 17242: 17242*86400 + 16*3600 + 13*60 + 38, plus .811.
    assert_eq!(first("android.log"), Some(1_489_767_218_811_000_000));
}

#[test]
fn proxifier_rolls_over_the_new_year_from_the_file_time() {
    let Some(dir) = data_dir() else { return };
    let data = std::fs::read(dir.join("proxifier.log")).unwrap();
    let lines = lines(&data);
    let mut ex = TimestampExtractor::new(&TimestampConfig::default()).unwrap();
    // As if the file was last written just after its last line (July 2017):
    // October lines then belong to 2016.
    ex.set_reference(ns("2017-07-27T10:30:00Z"));
    ex.learn(&lines[..SAMPLE_LINES]).unwrap();
    let v: Vec<i64> = lines.iter().map(|l| ex.extract(l).unwrap()).collect();
    assert_eq!(v[0], ns("2016-10-30T16:49:06Z"));
    assert_eq!(*v.last().unwrap(), ns("2017-07-27T10:23:42Z"));
}
