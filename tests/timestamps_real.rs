//! Timestamp detection on every real sample in `../shared/data/real`.
//!
//! For each file: the auto styles with no flags, the others with the flags
//! the data README documents. Every line the README's regex says has a
//! timestamp must get one, every other line must get `None`, and the first
//! and last lines must give hand-checked instants. For auto files, the
//! value of every line must also equal what the README regex's capture
//! gives when fed to `--timestamp-regex` (a second, independent path).
//!
//! Skipped, with a note, when `../shared` is not beside the crate (and
//! failing then under `CI=true`: see `tests/support`).

mod support;

use std::path::PathBuf;

use lokal::ingest::timestamp::{TimestampConfig, TimestampExtractor};
use regex::bytes::Regex;

/// One file and how `lokal ingest` is told to read its timestamps.
struct Case {
    file: &'static str,
    format: Option<&'static str>,
    regex: Option<&'static str>,
    /// `--year`, for yearless styles (deterministic tests).
    year: Option<i32>,
    /// Matches exactly the lines that carry a timestamp; group 1 is the
    /// timestamp text (used for the cross-check of auto files).
    has_ts: &'static str,
    /// Instants of the first and last lines, RFC 3339.
    first: &'static str,
    last: &'static str,
}

const fn auto(
    file: &'static str,
    has_ts: &'static str,
    first: &'static str,
    last: &'static str,
) -> Case {
    Case {
        file,
        format: None,
        regex: None,
        year: None,
        has_ts,
        first,
        last,
    }
}

const fn yearless(
    file: &'static str,
    year: i32,
    has_ts: &'static str,
    first: &'static str,
    last: &'static str,
) -> Case {
    Case {
        file,
        format: None,
        regex: None,
        year: Some(year),
        has_ts,
        first,
        last,
    }
}

const LOG4J: &str = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})";
const SYSLOG: &str = r"^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)";
const CLF: &str = r"\[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000)\]";
const LOGFMT: &str = r"^ts=(\S+)";
const KLOG: &str = r"^([IWEF]\d{4} \d\d:\d\d:\d\d\.\d{6})";

/// The table the final report and `bench/README.md` repeat: flags per file.
fn cases() -> Vec<Case> {
    vec![
        // Styles detected with no flags.
        auto(
            "hadoop.log",
            LOG4J,
            "2015-10-18T18:01:47.978Z",
            "2015-10-18T18:10:55.202Z",
        ),
        auto(
            "zookeeper.log",
            LOG4J,
            "2015-07-29T17:41:44.747Z",
            "2015-08-10T18:12:34.004Z",
        ),
        auto(
            "windows.log",
            r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),",
            "2016-09-28T04:30:30Z",
            "2016-09-29T02:04:40Z",
        ),
        auto(
            "openstack.log",
            r"^\S+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})",
            "2017-05-16T00:00:00.008Z",
            "2017-05-16T00:14:47.687Z",
        ),
        auto(
            "apache_error.log",
            r"^\[([A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \d{4})\]",
            "2005-12-04T04:47:44Z",
            "2005-12-05T19:15:57Z",
        ),
        auto(
            "apache_access.log",
            CLF,
            "2015-05-17T10:05:03Z",
            "2015-05-20T21:05:15Z",
        ),
        auto(
            "nginx_access.log",
            CLF,
            "2024-10-04T00:00:18Z",
            "2024-10-04T13:17:43Z",
        ),
        auto(
            "nginxplus_status_json.log",
            r#","timestamp":(\d+),"#,
            "2015-10-30T23:58:19.322Z",
            "2015-10-31T00:40:53.399Z",
        ),
        auto(
            "distributor_logfmt.log",
            LOGFMT,
            "2024-05-02T12:17:25.606619951Z",
            "2024-05-02T12:17:22.01212206Z",
        ),
        auto(
            "ingester_logfmt.log",
            LOGFMT,
            "2024-04-17T09:52:46.364803306Z",
            "2024-04-17T09:52:46.363579783Z",
        ),
        auto(
            "grafana_agent_logfmt.log",
            LOGFMT,
            "2024-04-16T15:10:44.103611953Z",
            "2024-04-16T15:10:42.555230437Z",
        ),
        auto(
            "drone_json.log",
            r#""time":"([^"]+)""#,
            "2024-04-16T15:03:32Z",
            "2024-04-16T14:48:48Z",
        ),
        auto(
            "calico.log",
            r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})",
            "2024-05-08T15:23:58.902Z",
            "2024-05-08T15:23:56.399Z",
        ),
        auto(
            "kafka.log",
            r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]",
            "2024-05-07T10:55:53.434Z",
            "2024-05-07T10:55:40.485Z",
        ),
        auto(
            "vault.log",
            r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)",
            "2024-05-07T10:58:13.877Z",
            "2024-05-07T10:54:47.129Z",
        ),
        // Yearless styles, detected with no flags; the year comes from --year (or the mtime).
        yearless(
            "linux.log",
            2005,
            SYSLOG,
            "2005-06-14T15:16:01Z",
            "2005-07-27T14:42:00Z",
        ),
        yearless(
            "openssh.log",
            2017,
            SYSLOG,
            "2017-12-10T06:55:46Z",
            "2017-12-10T11:04:45Z",
        ),
        yearless(
            "mac.log",
            2017,
            SYSLOG,
            "2017-07-01T09:00:55Z",
            "2017-07-08T08:10:46Z",
        ),
        yearless(
            "android.log",
            2017,
            r"^(\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})",
            "2017-03-17T16:13:38.811Z",
            "2017-03-17T16:16:09.141Z",
        ),
        yearless(
            "kubernetes.log",
            2024,
            KLOG,
            "2024-05-07T12:04:17.597069Z",
            "2024-05-07T12:02:27.92386Z",
        ),
        // journald: klog, containerd logfmt `time="..."`, tab-indented logfmt `ts=` (109 lines
        // the README counts as without), a few RFC 3339 lines; 267 lines have none.
        yearless(
            "journald.log",
            2024,
            r#"^([IWEF]\d{4} \d\d:\d\d:\d\d\.\d{6}|time="[^"]+"|\d{4}-\d\d-\d\dT\S+|\tts=\S+)"#,
            "2024-05-07T11:59:44.523502Z",
            "2024-05-07T11:59:28.638532Z",
        ),
        // Exotic styles: flags needed.
        Case {
            format: Some("%y%m%d %H%M%S"),
            ..auto(
                "hdfs.log",
                r"^(\d{6} \d{6})",
                "2008-11-09T20:36:15Z",
                "2008-11-11T10:20:17Z",
            )
        },
        Case {
            format: Some("060102 150405"),
            ..auto(
                "hdfs.log",
                r"^(\d{6} \d{6})",
                "2008-11-09T20:36:15Z",
                "2008-11-11T10:20:17Z",
            )
        },
        Case {
            format: Some("%y/%m/%d %H:%M:%S"),
            ..auto(
                "spark.log",
                r"^(\d\d/\d\d/\d\d \d\d:\d\d:\d\d)",
                "2017-06-09T20:10:40Z",
                "2017-06-09T20:11:11Z",
            )
        },
        Case {
            format: Some("06/01/02 15:04:05"),
            ..auto(
                "spark.log",
                r"^(\d\d/\d\d/\d\d \d\d:\d\d:\d\d)",
                "2017-06-09T20:10:40Z",
                "2017-06-09T20:11:11Z",
            )
        },
        Case {
            regex: Some(r"^\S+ (\d+) "),
            ..auto(
                "bgl.log",
                r"^\S+ (\d+) ",
                "2005-06-03T22:42:50Z",
                "2006-01-03T15:13:09Z",
            )
        },
        Case {
            regex: Some(r"^\S+ (\d+) "),
            format: Some("Unix"),
            ..auto(
                "bgl.log",
                r"^\S+ (\d+) ",
                "2005-06-03T22:42:50Z",
                "2006-01-03T15:13:09Z",
            )
        },
        Case {
            regex: Some(r"^(?:\S+ ){4}(\d+) "),
            ..auto(
                "hpc.log",
                r"^(?:\S+ ){4}(\d+) ",
                "2004-02-26T14:12:22Z",
                "2005-12-15T18:25:39Z",
            )
        },
        Case {
            regex: Some(r"^\S+ (\d+) "),
            ..auto(
                "thunderbird.log",
                r"^\S+ (\d+) ",
                "2005-11-09T20:01:01Z",
                "2005-11-09T20:15:32Z",
            )
        },
        Case {
            format: Some("%Y%m%d-%H:%M:%S:%L"),
            ..auto(
                "healthapp.log",
                r"^(\d{8}-\d{1,2}:\d{1,2}:\d{1,2}:\d{1,3})\|",
                "2017-12-23T22:15:29.606Z",
                "2017-12-24T01:02:35.789Z",
            )
        },
        Case {
            format: Some("%m.%d %H:%M:%S"),
            year: Some(2016),
            ..auto(
                "proxifier.log",
                r"^\[(\d\d\.\d\d \d\d:\d\d:\d\d)\]",
                "2016-10-30T16:49:06Z",
                "2016-07-27T10:23:42Z",
            )
        },
        Case {
            format: Some("01.02 15:04:05"),
            year: Some(2016),
            ..auto(
                "proxifier.log",
                r"^\[(\d\d\.\d\d \d\d:\d\d:\d\d)\]",
                "2016-10-30T16:49:06Z",
                "2016-07-27T10:23:42Z",
            )
        },
    ]
}

#[track_caller]
fn data_dir() -> Option<PathBuf> {
    support::shared("data/real")
}

fn ns(rfc3339: &str) -> i64 {
    let t: jiff::Timestamp = rfc3339.parse().unwrap();
    t.as_nanosecond() as i64
}

/// Lines as `lokal ingest` hands them over: split on `\n`, `\r` stripped.
fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

fn extractor(format: Option<&str>, regex: Option<&str>, year: Option<i32>) -> TimestampExtractor {
    let cfg = TimestampConfig {
        format: format.map(Into::into),
        regex: regex.map(Into::into),
        year,
        ..TimestampConfig::default()
    };
    TimestampExtractor::new(&cfg).unwrap()
}

#[test]
fn every_real_file_has_a_case() {
    let Some(dir) = data_dir() else { return };
    let covered: Vec<&str> = cases().iter().map(|c| c.file).collect();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            covered.contains(&name.as_str()),
            "{name} has no timestamp test case"
        );
    }
}

#[test]
fn real_files_get_the_right_timestamps() {
    let Some(dir) = data_dir() else { return };
    let mut failures = Vec::new();
    for case in cases() {
        let data = std::fs::read(dir.join(case.file)).unwrap();
        let has_ts = Regex::new(case.has_ts).unwrap();
        let mut ex = extractor(case.format, case.regex, case.year);
        // The cross-check path: the README's capture, auto-detected.
        let auto_mode = case.format.is_none() && case.regex.is_none();
        let mut via_capture = extractor(None, Some(case.has_ts), case.year);
        let (mut with, mut without, mut values) = (0, 0, Vec::new());
        for (n, line) in lines(&data).enumerate() {
            let got = ex.extract(line);
            let text = String::from_utf8_lossy(line);
            match (has_ts.is_match(line), got) {
                (true, Some(_)) => with += 1,
                (false, None) => without += 1,
                (true, None) => failures.push(format!(
                    "{}:{}: no timestamp found in {text:.120}",
                    case.file,
                    n + 1
                )),
                (false, Some(v)) => failures.push(format!(
                    "{}:{}: unexpected timestamp {v} in {text:.120}",
                    case.file,
                    n + 1
                )),
            }
            if auto_mode {
                let other = via_capture.extract(line);
                if other != got {
                    failures.push(format!(
                        "{}:{}: auto {got:?} != capture {other:?}",
                        case.file,
                        n + 1
                    ));
                }
            }
            values.push(got);
        }
        let first = values.first().copied().flatten();
        let last = values.last().copied().flatten();
        if first != Some(ns(case.first)) || last != Some(ns(case.last)) {
            failures.push(format!(
                "{} ({:?} {:?}): first/last {first:?}/{last:?}, want {}/{}",
                case.file, case.format, case.regex, case.first, case.last
            ));
        }
        eprintln!(
            "{:28} {:>5} with, {:>4} without timestamp",
            case.file, with, without
        );
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn calico_bird_and_journald_lines_have_none() {
    let Some(dir) = data_dir() else { return };
    let mut ex = extractor(None, None, Some(2024));
    let data = std::fs::read(dir.join("calico.log")).unwrap();
    let bird: Vec<_> = lines(&data).filter(|l| l.starts_with(b"bird:")).collect();
    assert_eq!(bird.len(), 6);
    assert!(bird.iter().all(|l| ex.extract(l).is_none()));

    let data = std::fs::read(dir.join("journald.log")).unwrap();
    let none = lines(&data).filter(|l| ex.extract(l).is_none()).count();
    // The README's 38% (376) includes 109 tab-indented logfmt lines that do carry `ts=`.
    assert_eq!(none, 267, "journald lines without a timestamp");
}

#[test]
fn exact_nanoseconds_of_known_lines() {
    let Some(dir) = data_dir() else { return };
    let first = |file: &str, format: Option<&str>, regex: Option<&str>| {
        let data = std::fs::read(dir.join(file)).unwrap();
        let line = lines(&data).next().unwrap();
        extractor(format, regex, Some(2017)).extract(line)
    };
    // Hand-computed: 2015-05-17 is day 16572 since 1970; 16572*86400 + 10*3600 + 5*60 + 3.
    assert_eq!(
        first("apache_access.log", None, None),
        Some(1_431_857_103_000_000_000)
    );
    assert_eq!(
        first("nginxplus_status_json.log", None, None),
        Some(1_446_249_499_322_000_000)
    );
    assert_eq!(
        first("bgl.log", None, Some(r"^\S+ (\d+) ")),
        Some(1_117_838_570_000_000_000)
    );
    // 2017-03-17 is day 17242: 17242*86400 + 16*3600 + 13*60 + 38, plus .811.
    assert_eq!(
        first("android.log", None, None),
        Some(1_489_767_218_811_000_000)
    );
}

#[test]
fn proxifier_rolls_over_the_new_year_from_the_file_time() {
    let Some(dir) = data_dir() else { return };
    let data = std::fs::read(dir.join("proxifier.log")).unwrap();
    let mut ex = extractor(Some("%m.%d %H:%M:%S"), None, None);
    // As if the file was last written just after its last line (July 2017):
    // October lines then belong to 2016.
    ex.set_reference(ns("2017-07-27T10:30:00Z"));
    let v: Vec<i64> = lines(&data).map(|l| ex.extract(l).unwrap()).collect();
    assert_eq!(v[0], ns("2016-10-30T16:49:06Z"));
    assert_eq!(*v.last().unwrap(), ns("2017-07-27T10:23:42Z"));
}
