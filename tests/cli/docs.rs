//! The checked-in completions and man pages must match the CLI.
use std::fs;
use std::path::Path;

use crate::common::*;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn completions_are_current() {
    for (shell, file) in [
        ("bash", "lokal.bash"),
        ("zsh", "_lokal"),
        ("fish", "lokal.fish"),
    ] {
        let out = std::process::Command::new(bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        let checked_in = fs::read(repo().join("completions").join(file)).unwrap_or_default();
        assert!(
            checked_in == out.stdout,
            "completions/{file} is stale: run `scripts/gen-docs.sh` and commit the result"
        );
    }
}

#[test]
fn man_pages_are_current() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin())
        .arg("man")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert!(!names.is_empty());
    for n in &names {
        let fresh = fs::read(dir.path().join(n)).unwrap();
        let checked_in = fs::read(repo().join("man").join(n)).unwrap_or_default();
        assert!(
            checked_in == fresh,
            "man/{} is stale: run `scripts/gen-docs.sh` and commit the result",
            n.to_string_lossy()
        );
    }
    let mut have: Vec<_> = fs::read_dir(repo().join("man"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    have.sort();
    assert_eq!(
        have, names,
        "man/ holds pages for commands that no longer exist"
    );
}
