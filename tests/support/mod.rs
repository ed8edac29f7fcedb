//! Helpers every integration-test binary shares: the top-level `tests/*.rs`
//! include this file with `mod support;`, `tests/cli/` with
//! `#[path = "../support/mod.rs"] mod support;`.
//!
//! # Tests that need `../shared`
//!
//! The real sample logs and Loki's conformance corpora live in `../shared`
//! beside the crate, not in it. A test that needs them asks [`shared`]: when
//! the path is there it gets it; when not, it is skipped with a note on
//! stderr — **unless `CI` is `true` (or `1`)**, where the same test fails,
//! so a CI run can never report "all 1,095 `.logqltest` cases pass" without
//! having run them. `LOKAL_SHARED_DIR` points the tests at another copy of
//! the directory (or at a missing one, which is how `tests/cli/logqltest.rs`
//! checks both behaviours of this rule).
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

pub mod loki;
pub mod stamps;
pub mod tls;

/// Prints expected and got in banner blocks when they differ, as ripgrep's
/// `eqnice!` does: multi-line outputs stay readable, where `assert_eq!`
/// would print them as one escaped Debug string.
#[macro_export]
macro_rules! eqnice {
    ($expected:expr, $got:expr $(,)?) => {
        $crate::support::assert_same(&*$expected, &*$got, "")
    };
    ($expected:expr, $got:expr, $($ctx:tt)+) => {
        $crate::support::assert_same(&*$expected, &*$got, &format!($($ctx)+))
    };
}

/// The body of [`eqnice!`]; `context` (may be empty) says what was compared.
#[track_caller]
pub fn assert_same(expected: &str, got: &str, context: &str) {
    if expected != got {
        panic!(
            "{}outputs differ!\n\nexpected:\n{}\n\ngot:\n{}\n",
            if context.is_empty() {
                String::new()
            } else {
                format!("{context}: ")
            },
            banner(expected),
            banner(got)
        );
    }
}

/// `text` between two rules of tildes, so trailing whitespace and empty
/// output are visible.
pub fn banner(text: &str) -> String {
    let rule = "~".repeat(79);
    let nl = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    format!("{rule}\n{text}{nl}{rule}")
}

/// The environment variable that replaces `../shared`.
pub const SHARED_DIR_VAR: &str = "LOKAL_SHARED_DIR";

/// The shared directory: `$LOKAL_SHARED_DIR`, else `../shared` beside the crate.
pub fn shared_root() -> PathBuf {
    match std::env::var_os(SHARED_DIR_VAR) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    }
}

/// Whether this is a CI run (`CI=true` or `CI=1`, as GitHub Actions, GitLab
/// and most others set it): missing prerequisites then fail the test.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// `<shared>/<rel>` (canonical) when it exists. When it does not, the
/// caller must skip: this prints a note and returns `None` — or, under
/// `CI=true`, panics (see the module doc).
#[track_caller]
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = shared_root().join(rel);
    if p.exists() {
        Some(p.canonicalize().unwrap())
    } else {
        skip(&format!("{} is absent", p.display()));
        None
    }
}

/// Reports a missing prerequisite (`../shared`, python3): a note on stderr
/// when run by hand, a failure under `CI=true`. The caller returns after it.
#[track_caller]
pub fn skip(why: &str) {
    if in_ci() {
        panic!("{why}: this test needs it, and CI=true does not allow skipping it");
    }
    // Straight to the process' stderr: the test harness captures
    // `eprintln!`, and a skip must be visible in a plain `cargo test`.
    let _ = writeln!(
        std::io::stderr(),
        "note: {why}; skipping this test (under CI=true it fails)"
    );
}
