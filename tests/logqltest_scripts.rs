//! Loki's `.logqltest` scripts (`../shared/conformance/logqltest`) through the
//! library's one interpreter, `lokal::logqltest` (the code behind `lokal test`).
//! The whole suite also runs through the binary in `tests/cli/logqltest.rs`;
//! here each script parses, and the pipeline scripts pass in-process, where a
//! failure points at the pipeline. Skipped with a note when `../shared` is
//! absent, failing then under `CI=true` (`tests/support`).

mod support;

use std::path::PathBuf;

/// Every script of the suite, sorted.
fn scripts() -> Option<Vec<PathBuf>> {
    let dir = support::shared("conformance/logqltest")?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    Some(files)
}

#[test]
fn every_shared_script_parses() {
    let Some(files) = scripts() else { return };
    assert!(files.len() >= 9, "{files:?}");
    for p in files {
        let text = std::fs::read_to_string(&p).unwrap();
        if let Err(e) = lokal::logqltest::parse_script(&text) {
            panic!("{}: {e}", p.display());
        }
    }
}

/// The scripts about line filters, parsers, label filters, formatters and
/// conversions: every `eval` in them must pass. (These files were once run
/// by a second, partial interpreter in `src/engine/pipeline/tests.rs` that
/// checked only the cases it understood, over 200; this checks every one.)
#[test]
fn pipeline_scripts_pass() {
    let Some(files) = scripts() else { return };
    let mut failures = Vec::new();
    let mut total = 0;
    for f in [
        "line_filters",
        "parsers",
        "label_filters",
        "formatters",
        "conversions",
    ] {
        let path = files
            .iter()
            .find(|p| p.file_stem().is_some_and(|s| s == f))
            .unwrap_or_else(|| panic!("{f}.logqltest is missing"));
        let text = std::fs::read_to_string(path).unwrap();
        let results = lokal::logqltest::run_script(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Every `eval` is a case: none is skipped as unsupported.
        let evals = text.lines().filter(|l| l.starts_with("eval ")).count();
        assert_eq!(results.len(), evals, "{f}.logqltest");
        total += results.len();
        failures.extend(
            results
                .into_iter()
                .filter(|r| !r.passed)
                .map(|r| format!("{f}.logqltest:{}: {}\n{}", r.line, r.query, r.diff)),
        );
    }
    assert!(total > 200, "only {total} cases checked");
    assert!(
        failures.is_empty(),
        "{} of {total} cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
