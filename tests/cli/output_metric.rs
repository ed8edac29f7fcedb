//! Metric results for a person: `-o summary` (the default on a terminal:
//! a row per series, sparkline, min/max/last/mean humanized, units from the
//! query) and `--chart` (a Braille line chart with axes and legend), as
//! snapshots at fixed widths (`COLUMNS`) with colours off; the full table
//! stays `-o table`, the default off a terminal; on a terminal the summary
//! is the default and colours follow `NO_COLOR`.
use crate::common::*;

/// Three services over an hour with different shapes: steady, rising, a
/// burst; each line carries a size so bytes vary too.
fn store() -> TestEnv {
    let env = TestEnv::new();
    let start = 1_714_521_600; // 2024-05-01T00:00:00Z
    let mut files = Vec::new();
    for (app, host) in [("api", "a"), ("web", "a"), ("batch", "b")] {
        let mut s = String::new();
        for minute in 0..60i64 {
            let n = match app {
                "api" => 4,
                "web" => 1 + minute / 6,
                _ if (20..26).contains(&minute) => 30,
                _ => 0,
            };
            for k in 0..n {
                let ts = jiff::Timestamp::from_second(start + minute * 60 + k).unwrap();
                let pad = "x".repeat(((minute * 7 + k * 13) % 90) as usize);
                s.push_str(&format!(
                    "{ts} level=info app={app} msg=\"req {k}\" pad={pad}\n"
                ));
            }
        }
        files.push((app, host, env.write(&format!("{app}.log"), s)));
    }
    for (app, host, f) in &files {
        env.ingest([f])
            .arg("--no-filename-label")
            .labels([
                &format!("app={app}") as &str,
                &format!("host={host}"),
                "env=prod",
            ])
            .ok();
    }
    env
}

const RANGE: [&str; 4] = [
    "--from",
    "2024-05-01T00:00:00Z",
    "--to",
    "2024-05-01T01:00:00Z",
];

fn run(env: &TestEnv, cols: &str, args: &[&str]) -> String {
    let mut c = env.cmd(["query", "-z", "UTC"]);
    c.args(RANGE).args(args).env("COLUMNS", cols);
    c.stdout()
}

/// `lokal --store STORE query -z UTC RANGE ARGS 'QUERY'` on a terminal
/// (util-linux `script`), with `envs` set and `NO_COLOR` removed unless
/// set there; what the terminal showed, `\r\n` as `\n`.
fn on_a_terminal(env: &TestEnv, args: &str, q: &str, envs: &[(&str, &str)]) -> String {
    let line = format!(
        "{} --store {} query -z UTC {} {args} '{q}'",
        env!("CARGO_BIN_EXE_lokal"),
        env.store().display(),
        RANGE.join(" ")
    );
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .env_remove("LOKAL_STORE")
        .envs(envs.iter().copied())
        .stdin(std::process::Stdio::null());
    String::from_utf8_lossy(&c.output().unwrap().stdout).replace("\r\n", "\n")
}

#[test]
fn summary_rows_at_fixed_widths() {
    let env = store();
    let q = r#"sum by (app, env) (count_over_time({env="prod"}[5m]))"#;
    for cols in ["100", "60"] {
        let out = run(&env, cols, &["--step", "2m", "-o", "summary", q]);
        for l in out.lines() {
            assert!(l.chars().count() <= cols.parse().unwrap(), "{cols}: {l}");
        }
        insta::assert_snapshot!(format!("summary_count_{cols}"), out);
    }
    // Units from the query: bytes, per second.
    let bytes = run(
        &env,
        "100",
        &[
            "-o",
            "summary",
            r#"sum by (app) (bytes_over_time({env="prod"}[10m]))"#,
        ],
    );
    assert!(bytes.contains(" kB"), "{bytes}");
    insta::assert_snapshot!("summary_bytes", bytes);
    let rate = run(
        &env,
        "100",
        &[
            "-o",
            "summary",
            "--step",
            "5m",
            r#"sum by (app) (rate({env="prod"}[5m]))"#,
        ],
    );
    assert!(rate.contains("/s"), "{rate}");
    insta::assert_snapshot!("summary_rate", rate);
    // An instant vector: a bar per series.
    let mut c = env.cmd([
        "instant-query",
        "-o",
        "summary",
        "--now",
        "2024-05-01T01:00:00Z",
    ]);
    c.env("COLUMNS", "70")
        .arg(r#"sort_desc(sum by (app) (count_over_time({env="prod"}[1h])))"#);
    insta::assert_snapshot!("summary_vector", c.stdout());
}

#[test]
fn chart_at_fixed_widths() {
    let env = store();
    let q = r#"sum by (app) (count_over_time({env="prod"}[5m]))"#;
    for cols in ["80", "50"] {
        let out = run(&env, cols, &["--step", "1m", "--chart", q]);
        assert!(out.contains('┤') && out.contains('└'), "{out}");
        for l in out.lines() {
            assert!(l.chars().count() <= cols.parse().unwrap(), "{cols}: {l}");
        }
        insta::assert_snapshot!(format!("chart_{cols}"), out);
    }
}

#[test]
fn table_json_jsonl_unchanged_and_table_off_a_terminal() {
    let env = store();
    let q = r#"sum by (app) (count_over_time({env="prod"}[30m]))"#;
    let default = run(&env, "100", &["--step", "30m", q]);
    let table = run(&env, "100", &["--step", "30m", "-o", "table", q]);
    eqnice!(table, default, "off a terminal the default is the table");
    assert!(table.contains('│'), "{table}");
    // --chart is for people: the formats for scripts stay as they are.
    let jsonl = run(&env, "100", &["--step", "30m", "-o", "jsonl", "--chart", q]);
    assert!(
        jsonl.lines().all(|l| l.starts_with("{\"metric\":")),
        "{jsonl}"
    );
    let json = run(&env, "100", &["--step", "30m", "-o", "json", "--chart", q]);
    assert!(
        json.trim_start().starts_with('{'),
        "-o json stays JSON: {json}"
    );
}

/// On a terminal (util-linux `script`): the summary is the default, in
/// colour unless `NO_COLOR`.
#[test]
fn on_a_terminal_the_summary_is_the_default() {
    if !crate::support::loki::have("script", "--version") {
        return;
    }
    let env = store();
    let q = r#"sum by (app) (count_over_time({env="prod"}[5m]))"#;
    let tty = |no_color: bool| {
        let envs: &[(&str, &str)] = if no_color { &[("NO_COLOR", "1")] } else { &[] };
        on_a_terminal(&env, "--step 5m", q, &[&[("COLUMNS", "90")], envs].concat())
    };
    let plain = tty(true);
    assert!(plain.contains('▁') || plain.contains('█'), "{plain}");
    assert!(!plain.contains('\x1b'), "{plain:?}");
    let coloured = tty(false);
    assert!(coloured.contains("\x1b[36m"), "{coloured:?}");
    let summary = run(&env, "90", &["--step", "5m", "-o", "summary", q]);
    eqnice!(summary, plain, "the terminal's default is -o summary");
}

/// `--plot FILE.svg`: an SVG that parses as XML, with the query as title,
/// a line and a legend entry per series, time and value axes with labels;
/// stdout as without it. A vector, an empty answer and another extension
/// are refused with a message.
#[test]
fn plot_svg_parses_with_series_and_axes() {
    let env = store();
    let q = r#"sum by (app) (bytes_rate({env="prod"}[5m]))"#;
    let svg = env.path().join("out.svg");
    let mut c = env.cmd(["query", "-z", "UTC", "--step", "1m", "-o", "table"]);
    c.args(RANGE).arg("--plot").arg(&svg).arg(q);
    let printed = c.stdout();
    let without = run(&env, "100", &["--step", "1m", "-o", "table", q]);
    eqnice!(without, printed, "stdout is the same with --plot");
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the SVG is XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_string())
        .collect();
    let has = |t: &str| texts.iter().any(|x| x == t);
    assert!(has(q), "the title is the query: {texts:?}");
    for app in ["api", "web", "batch"] {
        assert!(
            has(&format!("{{app=\"{app}\"}}")),
            "{app} in the legend: {texts:?}"
        );
    }
    assert!(has("time (UTC), 2024-05-01"), "{texts:?}");
    assert!(has("bytes per second"), "{texts:?}");
    // Time ticks within the hour and value ticks in the query's unit.
    assert!(
        texts.iter().filter(|t| t.starts_with("00:")).count() >= 4,
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.ends_with(" B/s")), "{texts:?}");
    // One line per series at least (plus the legend's samples).
    let lines = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .count();
    assert!(lines >= 6, "{lines} polylines");

    let refused = |args: &[&str], want: &str| {
        let mut c = env.cmd(["query", "-z", "UTC"]);
        c.args(RANGE).args(args);
        let err = c.assert_code(2).stderr;
        assert!(err.contains(want), "{args:?}: {err}");
    };
    let file = env.path().join("x.svg");
    let file = file.to_str().unwrap();
    refused(&["--plot", "out.txt", q], "must end in .svg or .png");
    let mut c = env.cmd([
        "instant-query",
        "--now",
        "2024-05-01T01:00:00Z",
        "--plot",
        file,
    ]);
    c.arg(q);
    let err = c.assert_code(2).stderr;
    assert!(err.contains("a vector (an instant query)"), "{err}");
    // PNG: the same chart drawn in-process (nothing on PATH needed); it
    // decodes, is 1100 x 560, and has text (dark pixels) where the title
    // and the legend are.
    let png_file = env.path().join("out.png");
    let mut c = env.cmd(["query", "-z", "UTC", "--step", "1m", "-o", "table"]);
    c.args(RANGE)
        .arg("--plot")
        .arg(&png_file)
        .arg(q)
        .env("PATH", "/nonexistent");
    c.stdout();
    let bytes = std::fs::read(&png_file).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("the PNG decodes");
    let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut rgb).expect("the PNG decodes");
    assert_eq!((info.width, info.height), (1100, 560));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let dark = |xs: std::ops::Range<usize>, ys: std::ops::Range<usize>| {
        ys.flat_map(|y| xs.clone().map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let p = &rgb[(y * 1100 + x) * 3..][..3];
                p.iter().all(|&c| c < 100)
            })
            .count()
    };
    let outside = dark(0..1100, 0..4);
    assert_eq!(outside, 0, "the top edge is background");
    let title = dark(150..950, 0..40);
    assert!(title > 300, "title text: {title} dark pixels");
    let legend = dark(104..240, 45..110);
    assert!(legend > 300, "legend text: {legend} dark pixels");
}

/// A query that scans shows a spinner with blocks and bytes read on a
/// terminal's stderr (at once with `LOKAL_TEST_PROGRESS_MS=0`), cleared
/// before the answer; off a terminal stderr stays empty.
#[test]
fn scan_progress_only_on_a_terminal() {
    if !crate::support::loki::have("script", "--version") {
        return;
    }
    let env = store();
    let q = r#"sum(count_over_time({env="prod"}[5m]))"#;
    let shown = on_a_terminal(
        &env,
        "-o table",
        q,
        &[("LOKAL_TEST_PROGRESS_MS", "0"), ("NO_COLOR", "1")],
    );
    assert!(shown.contains("scanning: "), "{shown:?}");
    assert!(shown.contains(" blocks, "), "{shown:?}");
    // Cleared (erase line) before the table.
    let table = shown.find('┌').expect("the table");
    assert!(shown[..table].ends_with("\x1b[2K"), "{shown:?}");
    let mut c = env.cmd(["query", "-z", "UTC"]);
    c.args(RANGE)
        .args(["-o", "table", q])
        .env("LOKAL_TEST_PROGRESS_MS", "0");
    let run = c.assert_code(0);
    assert_eq!(run.stderr, "", "nothing on stderr off a terminal");
}
