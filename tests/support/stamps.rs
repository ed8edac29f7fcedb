//! Timestamps as written in the sample logs and in `gen_corpus.py`'s
//! corpus, read independently of lokal's detector: per-format regexes with
//! named groups (from `../shared/data/README.md`'s tables), turned into
//! instants with jiff. Tests compare what lokal stores with these.
//!
//! Groups: `Y` (4-digit year), `y` (2-digit: 69-99 are 19xx), `m` or `b`
//! (month number or name), `d` (day, maybe space-padded), `H` `M` `S`, `f`
//! (fraction digits), `ms` (unpadded milliseconds), `z` (`Z`, `±hhmm`),
//! `es` (epoch seconds), `ems` (epoch milliseconds).

use regex::bytes::{Captures, Regex};

/// How one file's (or corpus format's) timestamps are written.
pub struct Rules {
    /// The first regex that matches a line gives its timestamp; a line
    /// matching none has no timestamp.
    pub regexes: Vec<Regex>,
    /// Whether the format writes no year (`--year` is needed to be exact).
    pub yearless: bool,
}

const ISO_T: &str = r"(?P<Y>\d{4})-(?P<m>\d\d)-(?P<d>\d\d)T(?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d)(?:\.(?P<f>\d+))?(?P<z>Z)";
const LOG4J: &str =
    r"^(?P<Y>\d{4})-(?P<m>\d\d)-(?P<d>\d\d) (?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d),(?P<f>\d{3})";
const SYSLOG: &str = r"^(?P<b>[A-Z][a-z]{2}) (?P<d>[ \d]\d) (?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d) ";
const KLOG: &str =
    r"^[IWEF](?P<m>\d\d)(?P<d>\d\d) (?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d)\.(?P<f>\d{6})";
const CLF: &str = r"\[(?P<d>\d\d)/(?P<b>[A-Z][a-z]{2})/(?P<Y>\d{4}):(?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d) (?P<z>[+-]\d{4})\]";
const YMD_MS: &str =
    r"^(?P<Y>\d{4})-(?P<m>\d\d)-(?P<d>\d\d) (?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d)\.(?P<f>\d{3})";

fn rules(yearless: bool, res: &[&str]) -> Rules {
    Rules {
        regexes: res.iter().map(|r| Regex::new(r).unwrap()).collect(),
        yearless,
    }
}

/// `--year` for the real files whose format writes no year: the year they
/// were written in (from the loghub and Loki sources).
pub const REAL_YEARS: &[(&str, i32)] = &[
    ("linux.log", 2005),
    ("openssh.log", 2017),
    ("mac.log", 2017),
    ("android.log", 2017),
    ("kubernetes.log", 2024),
    ("journald.log", 2024),
    ("proxifier.log", 2016),
];

/// The year of a yearless real file ([`REAL_YEARS`]).
pub fn real_year(file: &str) -> Option<i32> {
    REAL_YEARS.iter().find(|(f, _)| *f == file).map(|&(_, y)| y)
}

/// The rules of a file of `../shared/data/real`, by name.
pub fn real(file: &str) -> Rules {
    match file {
        "hdfs.log" => corpus("hdfs"),
        "hadoop.log" | "zookeeper.log" => corpus("log4j"),
        "spark.log" => corpus("spark"),
        "bgl.log" => corpus("bgl"),
        "hpc.log" => corpus("hpc"),
        "thunderbird.log" => corpus("thunderbird"),
        "linux.log" | "openssh.log" | "mac.log" => corpus("syslog"),
        "android.log" => corpus("logcat"),
        "healthapp.log" => corpus("healthapp"),
        "proxifier.log" => corpus("proxifier"),
        "windows.log" => corpus("windows_cbs"),
        "openstack.log" => corpus("openstack"),
        "apache_error.log" => corpus("apache_error"),
        "apache_access.log" | "nginx_access.log" => corpus("combined"),
        "distributor_logfmt.log" | "ingester_logfmt.log" | "grafana_agent_logfmt.log" => {
            corpus("logfmt")
        }
        "drone_json.log" => corpus("json"),
        "calico.log" => corpus("calico"),
        "kafka.log" => corpus("kafka"),
        "kubernetes.log" => corpus("klog"),
        "vault.log" => corpus("hclog"),
        // klog, containerd's `time="..."`, a few RFC 3339 lines and
        // tab-indented logfmt `ts=` (the README counts the last among the
        // lines without, but they carry one where logfmt puts it).
        "journald.log" => rules(
            true,
            &[
                KLOG,
                &format!("^time=\"{ISO_T}\""),
                &format!("^{ISO_T} "),
                &format!("^\tts={ISO_T} "),
            ],
        ),
        "nginxplus_status_json.log" => rules(false, &[r#","timestamp":(?P<ems>\d{13}),"#]),
        other => panic!("no timestamp rules for {other}"),
    }
}

/// The rules of a `format` of `gen_corpus.py`'s manifest.csv (its README's
/// table "where the timestamp is"); `journald_mixed` also reads the lines the
/// generator leaves as they were in the sample (see `real("journald.log")`).
pub fn corpus(format: &str) -> Rules {
    match format {
        "hdfs" => rules(
            false,
            &[r"^(?P<y>\d\d)(?P<m>\d\d)(?P<d>\d\d) (?P<H>\d\d)(?P<M>\d\d)(?P<S>\d\d) "],
        ),
        "log4j" | "zookeeper" => rules(false, &[LOG4J]),
        "spark" => rules(
            false,
            &[r"^(?P<y>\d\d)/(?P<m>\d\d)/(?P<d>\d\d) (?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d) "],
        ),
        "bgl" | "thunderbird" => rules(false, &[r"^\S+ (?P<es>\d{10}) "]),
        "hpc" => rules(false, &[r"^(?:\S+ ){4}(?P<es>\d{10}) "]),
        "syslog" => rules(true, &[SYSLOG]),
        "logcat" => rules(
            true,
            &[r"^(?P<m>\d\d)-(?P<d>\d\d) (?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d)\.(?P<f>\d{3}) "],
        ),
        "healthapp" => rules(
            false,
            &[
                r"^(?P<Y>\d{4})(?P<m>\d\d)(?P<d>\d\d)-(?P<H>\d{1,2}):(?P<M>\d{1,2}):(?P<S>\d{1,2}):(?P<ms>\d{1,3})\|",
            ],
        ),
        "proxifier" => rules(
            true,
            &[r"^\[(?P<m>\d\d)\.(?P<d>\d\d) (?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d)\]"],
        ),
        "windows_cbs" => rules(
            false,
            &[r"^(?P<Y>\d{4})-(?P<m>\d\d)-(?P<d>\d\d) (?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d),"],
        ),
        "openstack" => rules(
            false,
            &[
                r"^\S+ (?P<Y>\d{4})-(?P<m>\d\d)-(?P<d>\d\d) (?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d)\.(?P<f>\d{3}) ",
            ],
        ),
        "apache_error" => rules(
            false,
            &[
                r"^\[[A-Z][a-z]{2} (?P<b>[A-Z][a-z]{2}) (?P<d>\d\d) (?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d) (?P<Y>\d{4})\]",
            ],
        ),
        "combined" => rules(false, &[CLF]),
        "logfmt" => rules(false, &[&format!("^ts={ISO_T} ")]),
        "json" => rules(
            false,
            &[
                &format!("^\\{{\"ts\":\"{ISO_T}\""),
                &format!("\"time\":\"{ISO_T}\""),
            ],
        ),
        "calico" => rules(false, &[YMD_MS]),
        "kafka" => rules(
            false,
            &[
                r"^\[(?P<Y>\d{4})-(?P<m>\d\d)-(?P<d>\d\d) (?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d),(?P<f>\d{3})\] ",
            ],
        ),
        "klog" => rules(true, &[KLOG]),
        "hclog" => rules(false, &[&format!("^{ISO_T} ")]),
        "journald_mixed" => real("journald.log"),
        other => panic!("no timestamp rules for corpus format {other}"),
    }
}

impl Rules {
    /// The instant (ns) written in `line`, or `None` when it has none;
    /// `year` stands in for a yearless format's.
    pub fn instant(&self, line: &[u8], year: i32) -> Option<i64> {
        let caps = self.regexes.iter().find_map(|r| r.captures(line))?;
        Some(instant(&caps, year))
    }
}

fn num(c: &Captures, name: &str) -> Option<i64> {
    let m = c.name(name)?;
    let s = std::str::from_utf8(m.as_bytes()).unwrap().trim();
    Some(s.parse().unwrap())
}

fn instant(c: &Captures, year: i32) -> i64 {
    if let Some(s) = num(c, "es") {
        return s * 1_000_000_000;
    }
    if let Some(ms) = num(c, "ems") {
        return ms * 1_000_000;
    }
    let y = match (num(c, "Y"), num(c, "y")) {
        (Some(y), _) => y,
        (None, Some(y)) if y >= 69 => 1900 + y,
        (None, Some(y)) => 2000 + y,
        (None, None) => i64::from(year),
    };
    let month = match (num(c, "m"), c.name("b")) {
        (Some(m), _) => m,
        (None, Some(b)) => {
            const NAMES: [&[u8]; 12] = [
                b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct",
                b"Nov", b"Dec",
            ];
            NAMES.iter().position(|n| *n == b.as_bytes()).unwrap() as i64 + 1
        }
        (None, None) => panic!("no month group"),
    };
    let nanos = match (c.name("f"), num(c, "ms")) {
        (Some(f), _) => {
            let digits = std::str::from_utf8(f.as_bytes()).unwrap();
            let padded = format!("{digits:0<9}");
            padded[..9].parse::<i64>().unwrap()
        }
        (None, Some(ms)) => ms * 1_000_000,
        (None, None) => 0,
    };
    let offset = match c.name("z").map(|z| z.as_bytes()) {
        None | Some(b"Z") => 0,
        Some(z) => {
            let s = std::str::from_utf8(z).unwrap();
            let sign = if s.starts_with('-') { -1 } else { 1 };
            sign * (s[1..3].parse::<i32>().unwrap() * 3600 + s[3..5].parse::<i32>().unwrap() * 60)
        }
    };
    let dt = jiff::civil::date(y as i16, month as i8, num(c, "d").unwrap() as i8).at(
        num(c, "H").unwrap() as i8,
        num(c, "M").unwrap() as i8,
        num(c, "S").unwrap() as i8,
        nanos as i32,
    );
    let tz = jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(offset).unwrap());
    dt.to_zoned(tz).unwrap().timestamp().as_nanosecond() as i64
}

/// What ingest must store for a file's lines: each line's own timestamp,
/// else the previous entry's, else (before the first) the file's first.
pub fn expected_times(lines: &[Vec<u8>], rules: &Rules, year: i32) -> Vec<i64> {
    let found: Vec<Option<i64>> = lines.iter().map(|l| rules.instant(l, year)).collect();
    let first = found.iter().flatten().next().copied();
    let mut prev = None;
    found
        .into_iter()
        .map(|t| {
            let t = t.or(prev).or(first).expect("the file has a timestamp");
            prev = Some(t);
            t
        })
        .collect()
}
