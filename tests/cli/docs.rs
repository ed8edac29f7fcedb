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
        let out = LokalCmd::new(None)
            .args(["completions", shell])
            .assert_code(0);
        let checked_in = fs::read(repo().join("completions").join(file)).unwrap_or_default();
        assert!(
            checked_in == out.bytes,
            "completions/{file} is stale: run `scripts/gen-docs.sh` and commit the result"
        );
    }
}

#[test]
fn man_pages_are_current() {
    let env = TestEnv::new();
    let dir = env.path().join("man");
    fs::create_dir(&dir).unwrap();
    LokalCmd::new(None).arg("man").arg(&dir).assert_code(0);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert!(!names.is_empty());
    for n in &names {
        let fresh = fs::read(dir.join(n)).unwrap();
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
