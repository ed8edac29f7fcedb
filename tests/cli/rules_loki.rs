//! Rule files from Loki's own tests and documentation (`tests/rules/loki/`) load
//! and check as Loki's ruler accepts or refuses them: `lokal rules check` reports
//! an error (not a convention or warning) exactly for the files Loki refuses,
//! with the reason `EXPECTED.tsv` gives.
use std::path::Path;

use crate::common::*;

/// The problems `rules check` prints for `file` that are errors: Loki would
/// refuse the file (conventions and warnings are tagged as such).
fn errors(stdout: &str, file: &Path) -> Vec<String> {
    let prefix = format!("{}:", file.display());
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter(|rest| {
            let msg = rest.splitn(3, ':').nth(2).unwrap_or("").trim_start();
            !msg.starts_with("convention: ") && !msg.starts_with("warning: ")
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn lokis_rule_files_are_accepted_and_refused_as_loki_does() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules/loki");
    let env = TestEnv::new();
    let table = std::fs::read_to_string(dir.join("EXPECTED.tsv")).unwrap();
    let mut seen = Vec::new();
    for row in table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let f: Vec<&str> = row.split('\t').collect();
        let (file, verdict, lokal_says) = (dir.join(f[0]), f[1], f[3]);
        seen.push(f[0].to_string());
        let r = env.cmd(["rules", "check"]).arg(&file).run();
        let errs = errors(&r.stdout, &file);
        match verdict {
            "accepts" => {
                assert!(
                    errs.is_empty(),
                    "Loki accepts {}, lokal refuses it:\n{r}",
                    f[0]
                );
                assert!(matches!(r.code, Some(0 | 1)), "{r}");
            }
            "refuses" => {
                assert_eq!(r.code, Some(1), "{r}");
                assert!(
                    errs.iter().any(|e| e.contains(lokal_says)),
                    "Loki refuses {} ({}); lokal's errors lack {lokal_says:?}:\n{r}",
                    f[0],
                    f[2]
                );
            }
            v => panic!("bad verdict {v:?} in EXPECTED.tsv"),
        }
    }
    // Every file of the directory has a row.
    let mut files: Vec<String> = Vec::new();
    for sub in std::fs::read_dir(&dir).unwrap() {
        let sub = sub.unwrap().path();
        if sub.is_dir() {
            for f in std::fs::read_dir(&sub).unwrap() {
                let f = f.unwrap().path();
                files.push(f.strip_prefix(&dir).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    seen.sort();
    assert_eq!(files, seen);
    assert_eq!(seen.len(), 26);
}

/// `lokitool rules lint`'s own expectations (`pkg/tool/rules/rules_test.go`,
/// `TestLintExpressions`): the canonical form of each expression.
#[test]
fn lint_rewrites_expressions_as_lokitool_does() {
    let env = TestEnv::new();
    let cases = [
        (r#"count_over_time({ foo = "bar" }[12m]) > 1"#, r#"(count_over_time({foo="bar"}[12m]) > 1)"#),
        (
            "sum by (org_id) (\n  sum_over_time(\n  {job=\"loki-prod/query-frontend\"}\n      |= \"metrics.go\"\n      | logfmt\n      | unwrap duration(duration) [1m])\n   )\n",
            r#"sum by (org_id)(sum_over_time({job="loki-prod/query-frontend"} |= "metrics.go" | logfmt | unwrap duration(duration)[1m]))"#,
        ),
        (
            r#"count(count_over_time({foo="bar"}[1m])) or vector(1)"#,
            r#"(count(count_over_time({foo="bar"}[1m])) or vector(1.000000))"#,
        ),
    ];
    let mut text = String::from("# kept\ngroups:\n  - name: lint\n    rules:\n");
    for (i, (expr, _)) in cases.iter().enumerate() {
        let body: String = expr.lines().map(|l| format!("          {l}\n")).collect();
        text.push_str(&format!(
            "      - alert: A{i}   # rule {i}\n        expr: |\n{body}"
        ));
    }
    let f = env.write("lint.yaml", &text);
    // Without --fix: the differences, exit 1, nothing written.
    let r = env.cmd(["rules", "lint"]).arg(&f).assert_code(1);
    for (_, want) in &cases {
        assert!(r.stdout.contains(&format!("  + {want}\n")), "{r}");
    }
    assert!(
        r.stderr.contains("3 rules, 3 expressions not canonical"),
        "{r}"
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), text);
    // --fix: only the expressions change; a second lint finds nothing.
    env.cmd(["rules", "lint", "--fix"]).arg(&f).assert_code(0);
    let fixed = std::fs::read_to_string(&f).unwrap();
    let mut want = String::from("# kept\ngroups:\n  - name: lint\n    rules:\n");
    for (i, (_, canonical)) in cases.iter().enumerate() {
        want.push_str(&format!(
            "      - alert: A{i}   # rule {i}\n        expr: |\n          {canonical}\n"
        ));
    }
    eqnice!(want, fixed);
    env.cmd(["rules", "lint"]).arg(&f).assert_code(0);
    // lokitool's bad expression: Loki's parse error, exit 2.
    let bad = env.write(
        "bad.yaml",
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: count_over_time({ foo != \"bar\"%LKJ }[12m]) >         1\n",
    );
    let r = env.cmd(["rules", "lint"]).arg(&bad).assert_code(2);
    assert!(r.stderr.contains("bad.yaml:5:15: parse error at line 1, col 31: syntax error: unexpected %, expecting } or ,"), "{r}");
}

#[test]
fn check_takes_files_globs_and_directories() {
    let env = TestEnv::new();
    let ok = "groups:\n  - name: g\n    rules:\n      - record: job:x:count1m\n        expr: sum(count_over_time({job=\"x\"}[1m]))\n";
    env.write("rules/a/rules.yaml", ok);
    env.write("rules/b/rules.yml", ok);
    env.write("rules/b/notes.txt", "not a rule file");
    // Two files named `rules` are one namespace twice, which lokitool refuses.
    let r = env
        .cmd(["rules", "check"])
        .arg(env.path().join("rules"))
        .assert_code(1);
    assert!(
        r.stdout
            .contains("rules.yml:1:1: convention: namespace \"rules\" is also defined at "),
        "{r}"
    );
    assert!(
        r.stderr
            .contains("2 files, 2 rules: 0 errors, 1 convention problem, 0 warnings"),
        "{r}"
    );
    // A glob; several documents, one namespace each; a duplicate rule is a warning.
    let multi = format!("namespace: one\n{ok}---\nnamespace: two\n{ok}      - record: job:x:count1m\n        expr: sum(count_over_time({{job=\"x\"}}[1m]))\n");
    env.write("more/multi.yaml", multi);
    let r = env
        .cmd(["rules", "check"])
        .arg(format!("{}/rules/a/*.yaml", env.path().display()))
        .arg(env.path().join("more/multi.yaml"))
        .assert_code(0);
    assert!(r.stdout.contains("multi.yaml:14:9: warning: group \"g\", rule 2 \"job:x:count1m\": same name and labels as rule 1 (line 12)"), "{r}");
    // What cannot be read: exit 2.
    let r = env
        .cmd(["rules", "check"])
        .arg(env.path().join("nope.yaml"))
        .assert_code(2);
    assert!(
        r.stderr.contains("nope.yaml: no such file or directory"),
        "{r}"
    );
    let r = env
        .cmd(["rules", "check"])
        .arg(format!("{}/none/*.yaml", env.path().display()))
        .assert_code(2);
    assert!(r.stderr.contains("matches no file"), "{r}");
}
