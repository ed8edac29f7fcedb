//! Backfilling recording rules from logs: `lokal rules eval --from --to --record`
//! writes OpenMetrics that Debian's `prometheus` package's `promtool tsdb
//! create-blocks-from openmetrics` turns into TSDB blocks, and `promtool tsdb
//! dump` must show exactly the recorded series and samples — computed here from
//! the raw apache_error.log, not by lokal.
use std::process::Command;

use super::rules::{apache, count5m, rules_dir};

fn promtool(args: &[&std::ffi::OsStr]) -> Option<String> {
    let out = match Command::new("promtool").args(args).output() {
        Ok(o) => o,
        Err(_) => {
            crate::support::skip("promtool is not installed (Debian package prometheus)");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "promtool {:?} failed:\n{}{}",
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn promtool_backfills_exactly_the_recorded_series() {
    let Some((env, errors)) = apache() else {
        return;
    };
    let om = env.path().join("recorded.om");
    env.cmd([
        "rules",
        "eval",
        "-q",
        "--from",
        "2005-12-04T06:00:00Z",
        "--to",
        "2005-12-04T09:59:00Z",
    ])
    .args(["--external-label", "cluster=ci", "--record"])
    .arg(&om)
    .arg(rules_dir().join("apache_errors.yaml"))
    .assert_code(1);
    let blocks = env.path().join("blocks");
    let Some(created) = promtool(&[
        "tsdb".as_ref(),
        "create-blocks-from".as_ref(),
        "openmetrics".as_ref(),
        om.as_os_str(),
        blocks.as_os_str(),
    ]) else {
        return;
    };
    // 06:00-10:00 spans two of promtool's 2-hour blocks.
    assert_eq!(created.lines().skip(1).count(), 2, "{created}");
    // `tsdb dump` also reads a write-ahead log; a backfill has none.
    std::fs::create_dir_all(blocks.join("wal")).unwrap();
    let Some(dump) = promtool(&["tsdb".as_ref(), "dump".as_ref(), blocks.as_os_str()]) else {
        return;
    };
    let mut got: Vec<&str> = dump.lines().collect();
    got.sort();
    let start = "2005-12-04T06:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_second();
    let mut want: Vec<String> = (0..240)
        .map(|m| start + m * 60)
        .filter(|&t| count5m(&errors, t) > 0)
        .map(|t| {
            format!(
                "{{__name__=\"job:apache_errors:count5m\", cluster=\"ci\", job=\"apache\"}} {} {}",
                count5m(&errors, t),
                t * 1000
            )
        })
        .collect();
    want.sort();
    assert!(want.len() > 60, "{}", want.len());
    assert_eq!(got, want);
}
