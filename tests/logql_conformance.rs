//! Runs Loki's parser conformance corpus (`../shared/conformance/logql-parse.tsv`) through
//! `lokal fmt` with the corpus' own checker, requiring canonical forms and error texts
//! too. Every failing row must be listed, with a reason, in
//! `tests/data/logql-parse-unsupported.tsv`. Skipped (with a note) when `../shared` or
//! `python3` is not available, and failing then under `CI=true` (`tests/support`).

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;

#[test]
fn loki_parse_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(checker) = support::shared("conformance/check_parse.py") else {
        return;
    };
    let Some(corpus) = support::shared("conformance/logql-parse.tsv") else {
        return;
    };
    let bin = env!("CARGO_BIN_EXE_lokal");
    let out = match Command::new("python3")
        .arg(&checker)
        .args(["--canonical", "--errors", "-v"])
        .arg(format!("'{bin}' fmt -"))
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            support::skip(&format!("cannot run python3 ({e})"));
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");

    // Corpus line number -> query field (escaped as in the TSV).
    let corpus_text = std::fs::read_to_string(&corpus).expect("read corpus");
    let queries: HashMap<usize, &str> = corpus_text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split('\t').nth(1).unwrap_or("")))
        .collect();

    let unsupported_text =
        std::fs::read_to_string(root.join("tests/data/logql-parse-unsupported.tsv"))
            .expect("read unsupported list");
    let unsupported: HashSet<&str> = unsupported_text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once('\t'))
        .map(|(q, reason)| {
            assert!(
                !reason.trim().is_empty(),
                "unsupported row without a reason: {q}"
            );
            q
        })
        .collect();

    let mut unexpected = vec![];
    let mut failed = HashSet::new();
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("FAIL line ") else {
            continue;
        };
        let n: usize = rest
            .split_whitespace()
            .next()
            .and_then(|s| s.parse().ok())
            .expect("line number");
        let q = queries.get(&n).copied().unwrap_or("");
        failed.insert(q);
        if !unsupported.contains(q) {
            unexpected.push(line.to_string());
        }
    }
    for q in unsupported.difference(&failed) {
        println!("note: listed as unsupported but now passes: {q}");
    }
    assert!(
        stdout.contains("passed"),
        "checker did not run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        unexpected.is_empty(),
        "rows failing outside the unsupported list:\n{}",
        unexpected.join("\n")
    );
}
