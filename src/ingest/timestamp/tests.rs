//! Tests of the public extractor: every auto style, flags, zones, year
//! inference, the plausible window, errors, and no panic on arbitrary bytes.

use super::*;

/// The instant of an RFC 3339 string, computed by jiff as the oracle.
fn ns(rfc3339: &str) -> i64 {
    let t: jiff::Timestamp = rfc3339.parse().unwrap();
    t.as_nanosecond() as i64
}

fn cfg() -> TimestampConfig {
    TimestampConfig {
        year: Some(2024),
        ..TimestampConfig::default()
    }
}

/// The timestamp of `line` as the only line of a file.
fn auto(line: &str) -> Option<i64> {
    TimestampExtractor::new(&cfg())
        .unwrap()
        .extract(line.as_bytes())
}

/// The timestamp of `line` in a file of lines like it: styles in a later
/// field need two lines that agree.
fn auto_file(line: &str) -> Option<i64> {
    let mut ex = TimestampExtractor::new(&cfg()).unwrap();
    ex.learn(&[line.as_bytes(), line.as_bytes()]).unwrap();
    ex.extract(line.as_bytes())
}

fn with(format: Option<&str>, regex: Option<&str>, line: &str) -> Option<i64> {
    let c = TimestampConfig {
        format: format.map(Into::into),
        regex: regex.map(Into::into),
        ..cfg()
    };
    TimestampExtractor::new(&c)
        .unwrap()
        .extract(line.as_bytes())
}

#[test]
fn auto_iso_and_rfc3339() {
    assert_eq!(
        auto("2024-05-07T10:58:13.877Z [INFO] x"),
        Some(ns("2024-05-07T10:58:13.877Z"))
    );
    assert_eq!(
        auto("2024-05-07T10:58:13+02:00 x"),
        Some(ns("2024-05-07T08:58:13Z"))
    );
    assert_eq!(
        auto("2024-05-07T10:58:13.5-0130 x"),
        Some(ns("2024-05-07T12:28:13.5Z"))
    );
    assert_eq!(
        auto("2024-05-07t10:58:13+05 x"),
        Some(ns("2024-05-07T05:58:13Z"))
    );
    assert_eq!(
        auto("2024-05-07 10:58:13.123456789123 x"),
        Some(ns("2024-05-07T10:58:13.123456789Z"))
    );
    assert_eq!(
        auto("2015-10-18 18:01:47,978 INFO"),
        Some(ns("2015-10-18T18:01:47.978Z"))
    );
    assert_eq!(
        auto("2016-09-28 04:30:30, Info   CBS"),
        Some(ns("2016-09-28T04:30:30Z"))
    );
    assert_eq!(
        auto("[2024-05-07 10:55:53,434] INFO"),
        Some(ns("2024-05-07T10:55:53.434Z"))
    );
    assert_eq!(
        auto("2024-05-07 10:00:00.5 -0700 MST m=+0.1"),
        Some(ns("2024-05-07T17:00:00.5Z"))
    );
    assert_eq!(
        auto("2024-05-07 10:00:00 UTC x"),
        Some(ns("2024-05-07T10:00:00Z"))
    );
    // A space then a small negative number is not an offset.
    assert_eq!(
        auto("2024-05-07 10:00:00 -12 ms"),
        Some(ns("2024-05-07T10:00:00Z"))
    );
    // The file-name date (with `_`) is skipped; the real timestamp follows.
    let nova = "nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO";
    assert_eq!(auto_file(nova), Some(ns("2017-05-16T00:00:00.008Z")));
    assert_eq!(
        auto_file("level=info at 2024-01-02T03:04:05Z done"),
        Some(ns("2024-01-02T03:04:05Z"))
    );
    // One line alone does not show its file puts a date in field 3.
    assert_eq!(auto("level=info at 2024-01-02T03:04:05Z done"), None);
    // Invalid dates and times are not timestamps.
    assert_eq!(auto("2024-02-30 10:00:00 x"), None);
    assert_eq!(auto("2024-13-01 10:00:00 x"), None);
    assert_eq!(auto("2024-01-01 24:00:00 x"), None);
    assert_eq!(auto("2024-01-01 10:00:000 x"), None);
    assert_eq!(
        auto("2005-06-03-15.42.50.675872 R02"),
        Some(ns("2005-06-03T15:42:50.675872Z"))
    );
}

#[test]
fn auto_json() {
    let line = r#"{"version":6,"load_timestamp":1445680800424,"timestamp":1446249499322,"pid":1}"#;
    assert_eq!(auto(line), Some(1_446_249_499_322_000_000));
    assert_eq!(
        auto(r#"{"level":"debug","time":"2024-04-16T15:03:28Z"}"#),
        Some(ns("2024-04-16T15:03:28Z"))
    );
    assert_eq!(
        auto(r#" { "ts" : 1715083182.25 , "x": 1}"#),
        Some(ns("2024-05-07T11:59:42.25Z"))
    );
    assert_eq!(
        auto(r#"{"@timestamp":"2024-01-01T00:00:00.123+01:00"}"#),
        Some(ns("2023-12-31T23:00:00.123Z"))
    );
    assert_eq!(
        auto(r#"{"ts":1715083182123456}"#),
        Some(1_715_083_182_123_456_000)
    );
    assert_eq!(
        auto(r#"{"ts":1715083182123456789}"#),
        Some(1_715_083_182_123_456_789)
    );
    assert_eq!(
        auto(r#"{"ts":"1715083182"}"#),
        Some(1_715_083_182_000_000_000)
    );
    // Nested keys do not count; escapes and arrays are skipped properly.
    let nested = r#"{"a":{"ts":"2020-01-01T00:00:00Z"},"b":["x\"}",{"c":[1]}],"time":"2024-01-01T00:00:00Z"}"#;
    assert_eq!(auto(nested), Some(ns("2024-01-01T00:00:00Z")));
    // An unparsable time key falls through to the next one.
    assert_eq!(
        auto(r#"{"time":"soon","ts":"2024-01-01T00:00:00Z"}"#),
        Some(ns("2024-01-01T00:00:00Z"))
    );
    assert_eq!(auto(r#"{"msg":"no time here","n":5}"#), None);
    // Only time keys count: a date under another key is data.
    assert_eq!(auto(r#"{"created":"2024-01-01T00:00:00Z"}"#), None);
    assert_eq!(
        auto(r#"{"__REALTIME_TIMESTAMP":"1715083182707123","MESSAGE":"x"}"#),
        Some(1_715_083_182_707_123_000)
    );
    assert_eq!(auto(r#"{"ts":true}"#), None);
    assert_eq!(auto(r#"{"ts":"#), None);
}

#[test]
fn auto_logfmt() {
    let line = "ts=2024-05-02T12:17:25.60442226Z caller=http.go:194 level=debug";
    assert_eq!(auto(line), Some(ns("2024-05-02T12:17:25.60442226Z")));
    let line = r#"time="2024-05-07T11:59:43.954655670Z" level=info msg="StartContainer""#;
    assert_eq!(auto(line), Some(ns("2024-05-07T11:59:43.954655670Z")));
    assert_eq!(
        auto("level=info ts=1715083182 msg=x"),
        Some(1_715_083_182_000_000_000)
    );
    assert_eq!(
        auto(r#"level=info time="2024-05-07 11:59:43" msg=x"#),
        Some(ns("2024-05-07T11:59:43Z"))
    );
    // Keys that merely end in ts/time are not time keys.
    assert_eq!(auto("starts=1715083182 my_time=1715083182 x"), None);
}

#[test]
fn auto_apache_nginx_ctime() {
    let line = r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200"#;
    assert_eq!(auto_file(line), Some(ns("2015-05-17T10:05:03Z")));
    assert_eq!(
        auto_file("::1 - - [10/Oct/2000:13:55:36 -0700] x"),
        Some(ns("2000-10-10T20:55:36Z"))
    );
    assert_eq!(
        auto("[Sun Dec 04 04:47:44 2005] [notice] x"),
        Some(ns("2005-12-04T04:47:44Z"))
    );
    assert_eq!(
        auto("[Wed Oct 11 14:32:52.123456 2000] [core:error]"),
        Some(ns("2000-10-11T14:32:52.123456Z"))
    );
    assert_eq!(
        auto("Sun Dec  4 04:47:44 2005 x"),
        Some(ns("2005-12-04T04:47:44Z"))
    );
    assert_eq!(
        auto_file("at Mon Jan  2 15:04:05 UTC 2006: x"),
        Some(ns("2006-01-02T15:04:05Z"))
    );
    assert_eq!(
        auto("Mon Jan 02 15:04:05 -0700 2006"),
        Some(ns("2006-01-02T22:04:05Z"))
    );
    assert_eq!(
        auto_file("Date: Mon, 02 Jan 2006 15:04:05 GMT"),
        Some(ns("2006-01-02T15:04:05Z"))
    );
    assert_eq!(
        auto("Mon, 02 Jan 2006 15:04:05 +0100"),
        Some(ns("2006-01-02T14:04:05Z"))
    );
    assert_eq!(auto("Sun Dec 04 04:47:44 20051"), None);
    assert_eq!(auto("Sun Feb 30 04:47:44 2005"), None);
}

#[test]
fn auto_yearless_styles() {
    assert_eq!(
        auto("Jun 14 15:16:01 combo sshd"),
        Some(ns("2024-06-14T15:16:01Z"))
    );
    assert_eq!(
        auto("Jul  1 09:00:55 host kernel"),
        Some(ns("2024-07-01T09:00:55Z"))
    );
    assert_eq!(
        auto("<34>Oct 11 22:14:15 mymachine su"),
        Some(ns("2024-10-11T22:14:15Z"))
    );
    assert_eq!(
        auto("I0507 12:04:17.597069       1 descheduler.go"),
        Some(ns("2024-05-07T12:04:17.597069Z"))
    );
    assert_eq!(
        auto("E1231 23:59:59.000001 x"),
        Some(ns("2024-12-31T23:59:59.000001Z"))
    );
    assert_eq!(
        auto("03-17 16:13:38.811  1702  2395 D"),
        Some(ns("2024-03-17T16:13:38.811Z"))
    );
    // Syslog only at line start: elsewhere `Nov 9 12:01:01` is not read
    // (Thunderbird's timestamp is the epoch in field 2).
    assert_eq!(
        auto_file("- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228"),
        Some(1_131_566_461_000_000_000)
    );
    assert_eq!(auto("Jun 31 15:16:01 combo"), None);
}

#[test]
fn auto_epoch_at_start() {
    assert_eq!(auto("1117838570 x"), Some(1_117_838_570_000_000_000));
    assert_eq!(auto("1117838570.5 x"), Some(1_117_838_570_500_000_000));
    assert_eq!(auto("1446249499322 x"), Some(1_446_249_499_322_000_000));
    assert_eq!(auto("1446249499322123 x"), Some(1_446_249_499_322_123_000));
    assert_eq!(auto("1446249499322123456"), Some(1_446_249_499_322_123_456));
    assert_eq!(auto("1446249499 "), Some(1_446_249_499_000_000_000));
}

#[test]
fn formerly_exotic_styles_are_found() {
    let cases = [
        (
            "081109 203615 148 INFO dfs.DataNode$PacketResponder: x",
            ns("2008-11-09T20:36:15Z"),
        ),
        (
            "17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend",
            ns("2017-06-09T20:10:40Z"),
        ),
        (
            "20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579",
            ns("2017-12-23T22:15:29.606Z"),
        ),
        (
            "[10.30 16:49:06] chrome.exe - proxy.cse.cuhk.edu.hk:5070 open",
            ns("2024-10-30T16:49:06Z"),
        ),
        (
            "2024/01/02 03:04:05 [error] 12#12: *1 open() failed",
            ns("2024-01-02T03:04:05Z"),
        ),
        (
            "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47",
            ns("2003-10-11T22:14:15.003Z"),
        ),
        (
            "Jan 2, 2024 1:02:03 PM org.apache.catalina.startup.Catalina start",
            ns("2024-01-02T13:02:03Z"),
        ),
        (
            "[Mon Jan  1 00:00:07 2024] usb 1-1: new high-speed USB device",
            ns("2024-01-01T00:00:07Z"),
        ),
        (
            "2024-01-01 00:00:00.123 UTC [4711] LOG:  database system is ready",
            ns("2024-01-01T00:00:00.123Z"),
        ),
        (
            "1286536308.779    180 192.168.0.224 TCP_MISS/200 411 GET http://x/",
            1_286_536_308_779_000_000,
        ),
    ];
    for (line, want) in cases {
        assert_eq!(auto(line), Some(want), "{line}");
    }
    // Epochs and dates in a later field, in files whose lines agree on it.
    for (line, want) in [
        (
            "1:M 01 Jan 2024 00:00:00.123 * Ready to accept connections",
            ns("2024-01-01T00:00:00.123Z"),
        ),
        (
            "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02",
            1_117_838_570_000_000_000,
        ),
        (
            "134681 node-246 unix.hw state_change.unavailable 1077804742 1 Component",
            1_077_804_742_000_000_000,
        ),
    ] {
        assert_eq!(auto_file(line), Some(want), "{line}");
    }
}

#[test]
fn lines_without_a_timestamp_get_none() {
    for line in [
        "audit: type=1400 audit(1715083182.707:151): apparmor=\"DENIED\"",
        "XMT: Solicit on eth0, interval 117950ms.",
        "bird: Mesh_10_0_0_1: State changed to down",
        "12345678901 is not an epoch",
        "see the 2024-01-01T00:00:00Z release notes, and Fri Dec 10 19:02:14 EST 2004 too",
        "",
        "\r",
    ] {
        assert_eq!(auto(line), None, "{line}");
    }
}

#[test]
fn flags_for_exotic_styles() {
    let hdfs = "081109 203615 148 INFO dfs.DataNode";
    assert_eq!(
        with(Some("%y%m%d %H%M%S"), None, hdfs),
        Some(ns("2008-11-09T20:36:15Z"))
    );
    assert_eq!(
        with(Some("060102 150405"), None, hdfs),
        Some(ns("2008-11-09T20:36:15Z"))
    );
    let spark = "17/06/09 20:10:40 INFO x";
    assert_eq!(
        with(Some("%y/%m/%d %H:%M:%S"), None, spark),
        Some(ns("2017-06-09T20:10:40Z"))
    );
    assert_eq!(
        with(Some("06/01/02 15:04:05"), None, spark),
        Some(ns("2017-06-09T20:10:40Z"))
    );
    let health = "20171223-22:16:0:7|Step_LSC|30002312|x";
    assert_eq!(
        with(Some("%Y%m%d-%H:%M:%S:%L"), None, health),
        Some(ns("2017-12-23T22:16:00.007Z"))
    );
    let proxifier = "[10.30 16:49:06] chrome.exe - x";
    assert_eq!(
        with(Some("%m.%d %H:%M:%S"), None, proxifier),
        Some(ns("2024-10-30T16:49:06Z"))
    );
    assert_eq!(
        with(Some("01.02 15:04:05"), None, proxifier),
        Some(ns("2024-10-30T16:49:06Z"))
    );
    let bgl = "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02";
    assert_eq!(
        with(None, Some(r"^- (\d+) "), bgl),
        Some(1_117_838_570_000_000_000)
    );
    assert_eq!(
        with(Some("Unix"), Some(r"^- (\d+) "), bgl),
        Some(1_117_838_570_000_000_000)
    );
    let bgl_us = ns("2005-06-03T15:42:50.675872Z");
    assert_eq!(
        with(
            Some("%Y-%m-%d-%H.%M.%S.%f"),
            Some(r"^(?:\S+ ){4}(?P<ts>\S+)"),
            bgl
        ),
        Some(bgl_us)
    );
    let hpc = "134681 node-246 unix.hw state_change.unavailable 1077804742 1 Component";
    assert_eq!(
        with(None, Some(r"^(?:\S+ ){4}(\d+) "), hpc),
        Some(1_077_804_742_000_000_000)
    );
    let tb = "- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond";
    assert_eq!(
        with(None, Some(r"^- (\d+) "), tb),
        Some(1_131_566_461_000_000_000)
    );
    // A date-only capture is midnight.
    assert_eq!(
        with(None, Some(r"(\d{4}-\d\d-\d\d)"), "x 2024-01-02 y"),
        Some(ns("2024-01-02T00:00:00Z"))
    );
    // Capture that is not a timestamp, or no match at all.
    assert_eq!(with(None, Some(r"^(\S+)"), "hello world"), None);
    assert_eq!(with(None, Some(r"^(\d+)"), "hello world"), None);
    // A format that does not match at the start (nor after `[`).
    assert_eq!(with(Some("%Y-%m-%d"), None, "x 2024-01-02"), None);
    assert_eq!(with(Some("%Y-%m-%d"), None, "[x 2024-01-02"), None);
}

#[test]
fn promtail_named_and_go_layouts() {
    let f = |fmt: &str, line: &str| with(Some(fmt), None, line);
    assert_eq!(
        f("RFC3339", "2024-05-07T10:58:13.877Z x"),
        Some(ns("2024-05-07T10:58:13.877Z"))
    );
    assert_eq!(
        f("RFC3339Nano", "2024-05-07T10:58:13.8+01:00"),
        Some(ns("2024-05-07T09:58:13.8Z"))
    );
    assert_eq!(
        f("2006-01-02T15:04:05.000Z07:00", "2024-05-07T10:58:13.877Z"),
        Some(ns("2024-05-07T10:58:13.877Z"))
    );
    assert_eq!(
        f("UnixMs", "1446249499322 x"),
        Some(1_446_249_499_322_000_000)
    );
    assert_eq!(
        f("Unix", "1562708916.000000123"),
        Some(1_562_708_916_000_000_123)
    );
    assert_eq!(
        f("RFC1123Z", "Mon, 02 Jan 2006 15:04:05 -0700"),
        Some(ns("2006-01-02T22:04:05Z"))
    );
    assert_eq!(
        f("Jan _2 15:04:05", "Dec 31 23:59:59 host"),
        Some(ns("2024-12-31T23:59:59Z"))
    );
    assert_eq!(
        f(
            "02/Jan/2006:15:04:05 -0700",
            "[17/May/2015:10:05:03 +0000] x"
        ),
        Some(ns("2015-05-17T10:05:03Z"))
    );
    assert_eq!(
        f("2006-01-02 3:04:05 PM", "2024-01-02 1:02:03 PM"),
        Some(ns("2024-01-02T13:02:03Z"))
    );
    assert_eq!(
        f("2006-01-02 3:04:05 PM", "2024-01-02 12:02:03 am"),
        Some(ns("2024-01-02T00:02:03Z"))
    );
    assert_eq!(
        f("2006 002 15:04", "2024 060 01:02"),
        Some(ns("2024-02-29T01:02:00Z"))
    );
}

#[test]
fn zones() {
    let zoned = |tz: &str, format: Option<&str>, line: &str| {
        let c = TimestampConfig {
            format: format.map(Into::into),
            timezone: jiff::tz::TimeZone::get(tz).unwrap(),
            ..cfg()
        };
        TimestampExtractor::new(&c)
            .unwrap()
            .extract(line.as_bytes())
    };
    // No offset in the text: the configured zone applies, DST included.
    assert_eq!(
        zoned("Europe/Paris", None, "2024-01-15 12:00:00 x"),
        Some(ns("2024-01-15T11:00:00Z"))
    );
    assert_eq!(
        zoned("Europe/Paris", None, "2024-07-15 12:00:00 x"),
        Some(ns("2024-07-15T10:00:00Z"))
    );
    assert_eq!(
        zoned("America/New_York", None, "Jul  1 09:00:55 h"),
        Some(ns("2024-07-01T13:00:55Z"))
    );
    // An offset in the text wins over the zone.
    assert_eq!(
        zoned("Europe/Paris", None, "2024-07-15T12:00:00Z x"),
        Some(ns("2024-07-15T12:00:00Z"))
    );
    // Unknown abbreviations defer to the zone; UTC/GMT do not.
    let f = Some("%Y-%m-%d %H:%M:%S %Z");
    assert_eq!(
        zoned("Europe/Paris", f, "2024-07-15 12:00:00 CEST"),
        Some(ns("2024-07-15T10:00:00Z"))
    );
    assert_eq!(
        zoned("Europe/Paris", f, "2024-07-15 12:00:00 UTC"),
        Some(ns("2024-07-15T12:00:00Z"))
    );
    // Gap (02:30 does not exist on 2024-03-31 in Paris) and fold: "compatible".
    assert_eq!(
        zoned("Europe/Paris", None, "2024-03-31 02:30:00 x"),
        Some(ns("2024-03-31T01:30:00Z"))
    );
    assert_eq!(
        zoned("Europe/Paris", None, "2024-10-27 02:30:00 x"),
        Some(ns("2024-10-27T00:30:00Z"))
    );
    // Fixed offsets.
    let c = TimestampConfig {
        timezone: jiff::tz::TimeZone::fixed(jiff::tz::offset(-5)),
        ..cfg()
    };
    let mut ex = TimestampExtractor::new(&c).unwrap();
    assert_eq!(
        ex.extract(b"2024-01-15 12:00:00"),
        Some(ns("2024-01-15T17:00:00Z"))
    );
}

#[test]
fn named_zone_cache_is_consistent_across_transitions() {
    let c = TimestampConfig {
        timezone: jiff::tz::TimeZone::get("America/New_York").unwrap(),
        ..cfg()
    };
    let mut cached = TimestampExtractor::new(&c).unwrap();
    let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
    // Walk two years in uneven steps, through both transitions, on one extractor.
    let mut t = jiff::civil::datetime(2023, 1, 1, 0, 0, 0, 0);
    let end = jiff::civil::datetime(2025, 1, 1, 0, 0, 0, 0);
    while t < end {
        let line = t.strftime("%Y-%m-%d %H:%M:%S").to_string();
        let want = tz
            .to_ambiguous_timestamp(t)
            .compatible()
            .unwrap()
            .as_nanosecond() as i64;
        assert_eq!(cached.extract(line.as_bytes()), Some(want), "{line}");
        t = t
            .checked_add(jiff::SignedDuration::from_secs(7 * 3600 + 13 * 60 + 7))
            .unwrap();
    }
}

#[test]
fn year_inference_and_rollover() {
    let c = TimestampConfig::default();
    let mut ex = TimestampExtractor::new(&c).unwrap();
    // File written 2024-01-02: a December line is from 2023.
    ex.set_reference(ns("2024-01-02T10:00:00Z"));
    assert_eq!(
        ex.extract(b"Dec 31 23:59:59 h x"),
        Some(ns("2023-12-31T23:59:59Z"))
    );
    assert_eq!(
        ex.extract(b"Jan  2 09:00:00 h x"),
        Some(ns("2024-01-02T09:00:00Z"))
    );
    // Up to a day after the reference stays in the reference year (clock skew).
    assert_eq!(
        ex.extract(b"Jan  3 09:00:00 h x"),
        Some(ns("2024-01-03T09:00:00Z"))
    );
    assert_eq!(
        ex.extract(b"Jan  4 09:00:00 h x"),
        Some(ns("2023-01-04T09:00:00Z"))
    );
    assert_eq!(
        ex.extract(b"I1231 23:00:00.000000 x"),
        Some(ns("2023-12-31T23:00:00Z"))
    );
    // Feb 29 only exists in leap years.
    ex.set_reference(ns("2024-03-01T00:00:00Z"));
    assert_eq!(
        ex.extract(b"02-29 10:00:00.000 x"),
        Some(ns("2024-02-29T10:00:00Z"))
    );
    ex.set_reference(ns("2023-03-01T00:00:00Z"));
    assert_eq!(ex.extract(b"02-29 10:00:00.000 x"), None);
    // The reference year is taken in the configured zone.
    let c = TimestampConfig {
        timezone: jiff::tz::TimeZone::fixed(jiff::tz::offset(3)),
        ..TimestampConfig::default()
    };
    let mut ex = TimestampExtractor::new(&c).unwrap();
    ex.set_reference(ns("2023-12-31T22:00:00Z")); // 2024-01-01 01:00 local
    assert_eq!(
        ex.extract(b"Jan  1 00:30:00 h"),
        Some(ns("2023-12-31T21:30:00Z"))
    );
    // --year wins over the reference, without rollover.
    let mut ex = TimestampExtractor::new(&TimestampConfig {
        year: Some(2005),
        ..TimestampConfig::default()
    })
    .unwrap();
    ex.set_reference(ns("2024-01-02T10:00:00Z"));
    assert_eq!(
        ex.extract(b"Dec 31 23:59:59 h x"),
        Some(ns("2005-12-31T23:59:59Z"))
    );
}

#[test]
fn styles_follow_changing_shapes() {
    // Learned from its first line only: later shapes at the line start or
    // behind a time key are picked up line by line; a shape whose timestamp
    // is in a later field (an access log) is only learned from first lines.
    let mut ex = TimestampExtractor::new(&cfg()).unwrap();
    let lines = [
        ("2024-01-01T00:00:00Z a", Some(ns("2024-01-01T00:00:00Z"))),
        (
            "I0507 12:04:17.597069 b",
            Some(ns("2024-05-07T12:04:17.597069Z")),
        ),
        ("no time", None),
        (
            "time=\"2024-05-07T11:59:43Z\" c",
            Some(ns("2024-05-07T11:59:43Z")),
        ),
        ("2024-01-01T00:00:01Z a", Some(ns("2024-01-01T00:00:01Z"))),
        ("10.0.0.1 - - [17/May/2015:10:05:03 +0000] x", None),
        (
            r#"{"a":1,"ts":1715083182}"#,
            Some(1_715_083_182_000_000_000),
        ),
        (
            r#"{"a":2,"ts":1715083183}"#,
            Some(1_715_083_183_000_000_000),
        ),
        (
            r#"{"a":22,"ts":1715083184}"#,
            Some(1_715_083_184_000_000_000),
        ),
        (
            r#"{"ts":1715083184,"a":2}"#,
            Some(1_715_083_184_000_000_000),
        ),
    ];
    for (line, want) in lines {
        assert_eq!(ex.extract(line.as_bytes()), want, "{line}");
    }
    // The same access log lines, when a file starts with them.
    let mut ex = TimestampExtractor::new(&cfg()).unwrap();
    let access: [&[u8]; 2] = [
        b"10.0.0.1 - - [17/May/2015:10:05:03 +0000] x",
        b"10.0.0.123 - alice [17/May/2015:10:05:04 +0000] y",
    ];
    ex.learn(&access).unwrap();
    for (line, want) in access
        .iter()
        .zip(["2015-05-17T10:05:03Z", "2015-05-17T10:05:04Z"])
    {
        assert_eq!(ex.extract(line), Some(ns(want)));
    }
}

#[test]
fn bad_config_errors_name_the_problem() {
    let err = |format: Option<&str>, regex: Option<&str>| {
        let c = TimestampConfig {
            format: format.map(Into::into),
            regex: regex.map(Into::into),
            ..cfg()
        };
        TimestampExtractor::new(&c).unwrap_err().to_string()
    };
    let e = err(None, Some("(unclosed"));
    assert!(e.contains("(unclosed") && e.contains("regex"), "{e}");
    let e = err(Some("%Y-%q"), None);
    assert!(e.contains("%q") && e.contains("%Y-%q"), "{e}");
    let e = err(Some("nonsense"), None);
    assert!(
        e.contains("\"nonsense\"") && e.contains("no date or time fields"),
        "{e}"
    );
    let e = err(Some("15:04:05"), Some("(.*)"));
    assert!(e.contains("no date"), "{e}");
    let e = err(None, Some(r"\d{4}-\d\d"));
    assert!(e.contains("no capture group"), "{e}");
    let e = err(Some("dmesg"), None);
    assert!(e.contains("--boot-time"), "{e}");
    let c = TimestampConfig {
        year: Some(99999),
        ..TimestampConfig::default()
    };
    assert!(TimestampExtractor::new(&c)
        .unwrap_err()
        .to_string()
        .contains("99999"));
}

#[test]
fn implausible_dates_are_refused_and_said() {
    let mut ex = TimestampExtractor::new(&cfg()).unwrap();
    ex.set_reference(ns("2024-06-01T00:00:00Z"));
    ex.learn(&[b"2024-05-31T00:00:00Z a"]).unwrap();
    let e = ex.extract_detailed(b"1985-01-01T00:00:00Z old");
    assert_eq!((e.ts, e.rejected), (None, Some(ns("1985-01-01T00:00:00Z"))));
    assert!(ex
        .why_implausible(e.rejected.unwrap())
        .contains("before 1990"));
    let e = ex.extract_detailed(b"2024-06-03T00:00:00Z future");
    assert_eq!((e.ts, e.rejected), (None, Some(ns("2024-06-03T00:00:00Z"))));
    assert!(ex
        .why_implausible(e.rejected.unwrap())
        .contains("after the file's modification time"));
    // Up to a day after the modification time is taken (zones, clock skew).
    assert_eq!(
        ex.extract(b"2024-06-01T20:00:00Z late"),
        Some(ns("2024-06-01T20:00:00Z"))
    );
    // An epoch in the far future is no timestamp either.
    assert_eq!(ex.extract_detailed(b"{\"ts\":9999999999}").ts, None);
}

#[test]
fn zone_abbreviations_are_applied_or_flagged() {
    let mut ex = TimestampExtractor::new(&cfg()).unwrap();
    let cases = [
        (
            "[Fri Dec 10 19:02:14 EST 2004] a",
            "2004-12-11T00:02:14Z",
            false,
        ),
        (
            "[Sun Jul 10 19:02:14 PDT 2005] a",
            "2005-07-11T02:02:14Z",
            false,
        ),
        (
            "[Sun Jul 10 19:02:14 CEST 2005] a",
            "2005-07-10T17:02:14Z",
            false,
        ),
        (
            "[Sun Jul 10 19:02:14 GMT 2005] a",
            "2005-07-10T19:02:14Z",
            false,
        ),
        // Not in the table: read in --timezone (UTC here), and flagged.
        (
            "[Sun Jul 10 19:02:14 JST 2005] a",
            "2005-07-10T19:02:14Z",
            true,
        ),
        (
            "[Sun Jul 10 19:02:14 IST 2005] a",
            "2005-07-10T19:02:14Z",
            true,
        ),
    ];
    for (line, want, unknown) in cases {
        let e = ex.extract_detailed(line.as_bytes());
        assert_eq!((e.ts, e.zone_unknown), (Some(ns(want)), unknown), "{line}");
    }
    assert_eq!(
        auto("2024-07-15 12:00:00 CEST x"),
        Some(ns("2024-07-15T10:00:00Z"))
    );
    assert_eq!(
        auto("Mon, 02 Jan 2006 15:04:05 PST"),
        Some(ns("2006-01-02T23:04:05Z"))
    );
}

#[test]
fn numbers_that_look_like_epochs_need_their_place() {
    // An ISO file: a 10-digit number in a continuation line is no time.
    let mut ex = TimestampExtractor::new(&cfg()).unwrap();
    let sample: [&[u8]; 4] = [
        b"2024-01-01T00:00:00Z user 1234567890 logged in",
        b"2024-01-01T00:00:01Z ok",
        b"1234567890 rows copied",
        b"2024-01-01T00:00:02Z order 1704067200123 shipped",
    ];
    ex.learn(&sample).unwrap();
    assert_eq!(ex.extract(sample[2]), None);
    assert_eq!(ex.extract(sample[3]), Some(ns("2024-01-01T00:00:02Z")));
    // A JSON id that looks like an epoch is not the time key.
    assert_eq!(
        auto(r#"{"id":1104067200,"ts":"2024-01-01T00:00:00Z"}"#),
        Some(ns("2024-01-01T00:00:00Z"))
    );
    // Other digit counts are ids.
    assert_eq!(auto("17040672001 x"), None);
    assert_eq!(auto("170406720 x"), None);
}

#[test]
fn a_mixed_sample_keeps_every_style() {
    let mut ex = TimestampExtractor::new(&cfg()).unwrap();
    let lines: [(&[u8], &str); 5] = [
        (
            b"I0101 00:00:01.000000    1 main.go:1] klog",
            "2024-01-01T00:00:01Z",
        ),
        (
            b"time=\"2024-01-01T00:00:02Z\" level=info",
            "2024-01-01T00:00:02Z",
        ),
        (
            b"{\"level\":\"info\",\"ts\":1704067203}",
            "2024-01-01T00:00:03Z",
        ),
        (b"2024-01-01 00:00:04,000 INFO x", "2024-01-01T00:00:04Z"),
        (b"Jan  1 00:00:05 host app: x", "2024-01-01T00:00:05Z"),
    ];
    let sample: Vec<&[u8]> = lines.iter().map(|(l, _)| *l).collect();
    ex.learn(&sample).unwrap();
    let d = ex.describe();
    for want in [
        "klog",
        "logfmt key time=",
        "JSON key \"ts\"",
        "ISO 8601",
        "syslog",
    ] {
        assert!(d.contains(want), "{want} in {d}");
    }
    for (line, want) in lines.iter().rev() {
        assert_eq!(ex.extract(line), Some(ns(want)));
    }
}

#[test]
fn yearless_dates_take_the_year_nearest_the_files_dated_lines() {
    let c = TimestampConfig::default();
    let mut ex = TimestampExtractor::new(&c).unwrap();
    ex.set_reference(ns("2026-12-01T00:00:00Z"));
    ex.learn(&[
        b"time=\"2024-12-31T23:59:58Z\" level=info".as_slice(),
        b"I1231 23:59:59.000000 1 x.go:1] a",
    ])
    .unwrap();
    assert_eq!(
        ex.extract(b"I1231 23:59:59.000000 1 x.go:1] a"),
        Some(ns("2024-12-31T23:59:59Z"))
    );
    // Across the new year: nearest to the last dated line.
    assert_eq!(
        ex.extract(b"I0101 00:00:01.000000 1 x.go:1] b"),
        Some(ns("2025-01-01T00:00:01Z"))
    );
    // Without dated lines, the modification time's year (or the one before).
    let mut ex = TimestampExtractor::new(&c).unwrap();
    ex.set_reference(ns("2026-03-01T00:00:00Z"));
    ex.learn(&[b"Feb 28 10:00:00 h a".as_slice(), b"Dec 31 10:00:00 h b"])
        .unwrap();
    assert_eq!(
        ex.extract(b"Feb 28 10:00:00 h a"),
        Some(ns("2026-02-28T10:00:00Z"))
    );
    assert_eq!(
        ex.extract(b"Dec 31 10:00:00 h b"),
        Some(ns("2025-12-31T10:00:00Z"))
    );
    assert!(
        ex.describe().contains("2026 (modification time's"),
        "{}",
        ex.describe()
    );
}

#[test]
fn flags_that_cannot_be_right_say_so() {
    let learn = |format: Option<&str>, regex: Option<&str>, lines: &[&[u8]]| {
        let c = TimestampConfig {
            format: format.map(Into::into),
            regex: regex.map(Into::into),
            ..TimestampConfig::default()
        };
        let mut ex = TimestampExtractor::new(&c).unwrap();
        ex.learn(lines)
    };
    let iso: [&[u8]; 3] = [b"", b"2024-01-01T00:00:00Z a", b"2024-01-01T00:00:01Z b"];
    assert_eq!(
        learn(Some("%d.%m.%Y"), None, &iso),
        Err(SampleError::NoMatch { line: 1 })
    );
    assert_eq!(
        learn(Some("Unix"), None, &iso),
        Err(SampleError::Implausible {
            line: 1,
            ts: 2024 * 1_000_000_000
        })
    );
    assert_eq!(
        learn(None, Some(r"^(\d+) "), &iso),
        Err(SampleError::NoMatch { line: 1 })
    );
    assert_eq!(learn(Some("RFC3339"), None, &iso), Ok(()));
    // One matching line is enough: other lines may be continuations.
    let some: [&[u8]; 2] = [b"\tat x", b"2024-01-01T00:00:00Z a"];
    assert_eq!(learn(Some("RFC3339"), None, &some), Ok(()));
}

#[test]
fn dmesg_uptimes_count_from_the_boot_time() {
    let c = TimestampConfig {
        format: Some("dmesg".into()),
        boot_time: Some(ns("2024-01-01T00:00:00Z")),
        ..TimestampConfig::default()
    };
    let mut ex = TimestampExtractor::new(&c).unwrap();
    assert_eq!(
        ex.extract(b"[    5.123456] Linux version 6.1.0"),
        Some(ns("2024-01-01T00:00:05.123456Z"))
    );
    assert_eq!(
        ex.extract(b"[12345.000001] usb 1-1: new device"),
        Some(ns("2024-01-01T03:25:45.000001Z"))
    );
    // Never guessed without the flag.
    assert_eq!(auto("[    5.123456] Linux version 6.1.0"), None);
}

#[test]
fn extractor_is_send_and_clone() {
    fn check<T: Send + Sync + Clone>() {}
    check::<TimestampExtractor>();
    check::<TimestampConfig>();
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn extractors() -> Vec<TimestampExtractor> {
        let mk = |format: Option<&str>, regex: Option<&str>, tz: &str| {
            let c = TimestampConfig {
                format: format.map(Into::into),
                regex: regex.map(Into::into),
                year: None,
                timezone: jiff::tz::TimeZone::get(tz).unwrap(),
                boot_time: Some(0),
            };
            TimestampExtractor::new(&c).unwrap()
        };
        vec![
            mk(None, None, "UTC"),
            mk(None, None, "Europe/Paris"),
            mk(Some("%Y-%m-%d %H:%M:%S%.f %z"), None, "UTC"),
            mk(
                Some("Mon Jan _2 3:04:05.999 PM MST 2006"),
                None,
                "America/New_York",
            ),
            mk(Some("%y%m%d%H%M%S%3f %j %s"), None, "UTC"),
            mk(Some("UnixNs"), None, "UTC"),
            mk(None, Some(r"(\S+ \S+)"), "UTC"),
        ]
    }

    /// Bytes biased towards timestamp-like text, so the parsers get deep.
    fn line() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            any::<u8>().prop_map(|b| vec![b]),
            "[0-9]{1,20}".prop_map(String::into_bytes),
            Just(b"2024-02-29T23:59:60.999999999999+14:00".to_vec()),
            Just(b"Sun Dec  4 ".to_vec()),
            Just(b"{\"ts\":".to_vec()),
            Just(b"\"".to_vec()),
            Just(b"time=".to_vec()),
            Just(b"/May/".to_vec()),
            Just(b" -07".to_vec()),
            Just(b"I0229 ".to_vec()),
            Just(b"<999>".to_vec()),
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
    }

    /// Message text full of things that look like timestamps.
    fn message() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            "[a-z]{1,8}",
            "[0-9]{1,19}",
            Just("2019-07-07T07:07:07Z".to_string()),
            Just("1943-05-01 10:00:00".to_string()),
            Just("Fri Dec 10 19:02:14 EST 2004".to_string()),
            Just("[17/May/2015:10:05:03 +0000]".to_string()),
            Just("Jun 14 15:16:01".to_string()),
            Just("I0507 12:04:17.597069".to_string()),
            Just("081109 203615".to_string()),
            Just("1117838570".to_string()),
            Just("{\"ts\":1715083182}".to_string()),
        ];
        proptest::collection::vec(piece, 0..10).prop_map(|v| v.join(" "))
    }

    proptest! {
        /// A file of RFC 3339 lines with continuation lines, every message
        /// full of date-like text: each line gets its own leading time, each
        /// continuation none; nothing is read from the text.
        #[test]
        fn times_come_from_the_line_start_never_from_text(
            rows in proptest::collection::vec(
                (631_152_000i64..1_700_000_000i64, 0u32..1_000_000_000, message(), any::<bool>()),
                1..40,
            )
        ) {
            let lines: Vec<(Vec<u8>, Option<i64>)> = rows
                .iter()
                .map(|(secs, nanos, msg, continuation)| {
                    if *continuation {
                        (format!("\tat a b c d e f {msg}").into_bytes(), None)
                    } else {
                        let t = jiff::Timestamp::new(*secs, *nanos as i32).unwrap();
                        (format!("{t} {msg}").into_bytes(), Some(t.as_nanosecond() as i64))
                    }
                })
                .collect();
            let mut ex = TimestampExtractor::new(&TimestampConfig::default()).unwrap();
            let head: Vec<&[u8]> = lines.iter().map(|(l, _)| &l[..]).collect();
            ex.learn(&head).unwrap();
            for (line, want) in &lines {
                prop_assert_eq!(ex.extract(line), *want, "{}", String::from_utf8_lossy(line));
            }
        }

        #[test]
        fn extract_never_panics(lines in proptest::collection::vec(line(), 1..6)) {
            for mut ex in extractors() {
                for l in &lines {
                    let _ = ex.extract(l);
                }
            }
        }

        #[test]
        fn extract_never_panics_on_raw_bytes(l in proptest::collection::vec(any::<u8>(), 0..300)) {
            for mut ex in extractors() {
                let _ = ex.extract(&l);
            }
        }

        #[test]
        fn iso_round_trips(secs in 631_152_000i64..1_700_000_000i64, nanos in 0u32..1_000_000_000) {
            let t = jiff::Timestamp::new(secs, nanos as i32).unwrap();
            let line = format!("{t} msg");
            let mut ex = TimestampExtractor::new(&TimestampConfig::default()).unwrap();
            prop_assert_eq!(ex.extract(line.as_bytes()), Some(t.as_nanosecond() as i64));
        }
    }
}
