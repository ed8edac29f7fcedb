//! `TestEnv`: one temporary directory with a store, the input files a test
//! writes, and the real `lokal` binary pointed at that store (fd's
//! `TestEnv`, ripgrep's `Dir`/`TestCommand`).
//!
//! Every command runs through [`assert_cmd`] with `--store` set and a clean
//! environment, and every failed expectation prints the command line, the
//! exit code, stdout and stderr in banner blocks, so a failing CLI test says
//! what ran and what it printed.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::support::banner;

/// The lokal binary under test (built by cargo for the integration tests).
fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lokal"))
}

/// A temporary directory holding a store (`<dir>/store`, created by the
/// first writer) and whatever input files the test writes. Removed on drop.
pub struct TestEnv {
    dir: tempfile::TempDir,
    store: PathBuf,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    /// A fresh directory; the store inside does not exist yet.
    pub fn new() -> TestEnv {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let store = dir.path().join("store");
        TestEnv { dir, store }
    }

    /// The temporary directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The store directory every command of this environment uses.
    pub fn store(&self) -> &Path {
        &self.store
    }

    /// Writes `contents` to `name` (relative to [`TestEnv::path`], parent
    /// directories created) and returns its absolute path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    }

    /// Writes a log of `n` lines with RFC 3339 timestamps one second apart
    /// from `start_s` (unix seconds), tagged `tag=<tag>`; returns its path.
    pub fn write_log(&self, name: &str, n: usize, start_s: i64, tag: &str) -> PathBuf {
        use std::fmt::Write;
        let mut s = String::new();
        for i in 0..n {
            let ts = jiff::Timestamp::from_second(start_s + i as i64).unwrap();
            writeln!(
                s,
                "{ts} level=info tag={tag} msg=\"event {i}\" pad=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            )
            .unwrap();
        }
        self.write(name, s)
    }

    /// `lokal --store <store>` with a clean environment: add arguments,
    /// then run it with one of [`LokalCmd`]'s assertions.
    pub fn lokal(&self) -> LokalCmd {
        LokalCmd::new(Some(&self.store))
    }

    /// The same command as a plain `std::process::Command`, for the tests
    /// that must spawn and kill it (`crash.rs`).
    pub fn std_command(&self) -> std::process::Command {
        base_command(Some(&self.store))
    }

    /// `lokal ARGS…` (see [`TestEnv::lokal`]).
    pub fn cmd<I, S>(&self, args: I) -> LokalCmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = self.lokal();
        c.args(args);
        c
    }

    /// `lokal ARGS…`, asserting success; its stdout.
    #[track_caller]
    pub fn ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd(args).stdout()
    }

    /// `lokal ingest` of `inputs` (paths, globs or `-`): add labels and
    /// flags, then run it with [`Ingest::ok`] or [`Ingest::report`].
    pub fn ingest<I, S>(&self, inputs: I) -> Ingest
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Ingest {
            cmd: self.cmd(["ingest"]),
            inputs: inputs.into_iter().map(|s| s.as_ref().to_owned()).collect(),
        }
    }

    /// Every stored entry of tenant `fake`, via the hidden `lokal dump`.
    #[track_caller]
    pub fn dump(&self) -> Vec<crate::common::Dumped> {
        crate::common::parse_dump(&self.cmd(["dump"]).run().assert_code(0).bytes)
    }

    /// The manifest of tenant `fake` as JSON.
    pub fn manifest(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.store.join("fake/MANIFEST")).unwrap()).unwrap()
    }

    /// Replaces the manifest of tenant `fake` (tests of damaged manifests).
    pub fn write_manifest(&self, m: &serde_json::Value) {
        std::fs::write(
            self.store.join("fake/MANIFEST"),
            serde_json::to_vec(m).unwrap(),
        )
        .unwrap();
    }
}

/// `lokal [--store STORE]` with `LOKAL_*` cleared (the developer's own
/// store and tenant must never leak into a test) and colour off.
fn base_command(store: Option<&Path>) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin());
    cmd.env_remove("LOKAL_STORE")
        .env_remove("LOKAL_TENANT")
        .env("NO_COLOR", "1");
    // logcli's variables would send queries to a Loki (`--addr`).
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LOKI_") {
            cmd.env_remove(k);
        }
    }
    if let Some(s) = store {
        cmd.arg("--store").arg(s);
    }
    cmd
}

/// A `lokal` command being built (ripgrep's `TestCommand`). The terminal
/// methods run it and check the outcome, printing everything on a mismatch.
pub struct LokalCmd {
    cmd: assert_cmd::Command,
    /// The arguments, for messages.
    shown: Vec<OsString>,
}

impl LokalCmd {
    /// `lokal [--store STORE]` (see [`base_command`]).
    pub fn new(store: Option<&Path>) -> LokalCmd {
        let shown = match store {
            Some(s) => vec!["--store".into(), s.into()],
            None => Vec::new(),
        };
        LokalCmd {
            cmd: assert_cmd::Command::from_std(base_command(store)),
            shown,
        }
    }

    /// Adds one argument.
    pub fn arg(&mut self, a: impl AsRef<OsStr>) -> &mut Self {
        self.shown.push(a.as_ref().to_owned());
        self.cmd.arg(a);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self.arg(a);
        }
        self
    }

    /// Sets an environment variable for the command.
    pub fn env(&mut self, k: &str, v: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env(k, v);
        self
    }

    /// Runs the command in `dir` (relative paths in its arguments and in
    /// the files it reads are taken from there).
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Feeds `input` on stdin (written from another thread, so a large input
    /// cannot deadlock against the child's output).
    pub fn stdin(&mut self, input: impl Into<Vec<u8>>) -> &mut Self {
        self.cmd.write_stdin(input.into());
        self
    }

    /// Kills the command after `t` (the run then has no exit code): for
    /// tests of what must not hang.
    pub fn timeout(&mut self, t: std::time::Duration) -> &mut Self {
        self.cmd.timeout(t);
        self
    }

    /// Runs the command, whatever its exit code.
    pub fn run(&mut self) -> Run {
        let out = self.cmd.output().expect("run lokal");
        Run {
            command: self.to_string(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            bytes: out.stdout,
        }
    }

    /// Runs the command and asserts it succeeded; its stdout.
    #[track_caller]
    pub fn stdout(&mut self) -> String {
        self.run().assert_code(0).stdout
    }

    /// Runs the command, asserts success and parses stdout as one JSON value.
    #[track_caller]
    pub fn json(&mut self) -> serde_json::Value {
        self.run().assert_code(0).json()
    }

    /// Runs the command and asserts its exit code.
    #[track_caller]
    pub fn assert_code(&mut self, code: i32) -> Run {
        self.run().assert_code(code)
    }
}

impl std::fmt::Display for LokalCmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "lokal")?;
        for a in &self.shown {
            let a = a.to_string_lossy();
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "\"'{}|$`\\".contains(c)) {
                write!(f, " '{}'", a.replace('\'', r"'\''"))?;
            } else {
                write!(f, " {a}")?;
            }
        }
        Ok(())
    }
}

/// What a finished command left.
#[derive(Debug)]
pub struct Run {
    /// The command line, for messages.
    pub command: String,
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Stdout, lossily decoded.
    pub stdout: String,
    /// Stderr, lossily decoded.
    pub stderr: String,
    /// Stdout as it came.
    pub bytes: Vec<u8>,
}

impl Run {
    /// Asserts the exit code, printing the command and its output otherwise.
    #[track_caller]
    pub fn assert_code(self, code: i32) -> Run {
        if self.code != Some(code) {
            panic!("expected exit code {code}\n{self}");
        }
        self
    }

    /// Stdout as one JSON value.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e})\n{self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "command: {}\nexit code: {}\n\nstdout:\n{}\n\nstderr:\n{}\n",
            self.command,
            self.code
                .map_or("none (killed by a signal)".to_string(), |c| c.to_string()),
            banner(&self.stdout),
            banner(&self.stderr)
        )
    }
}

/// `lokal ingest` being built: flags and labels first, the inputs last.
pub struct Ingest {
    cmd: LokalCmd,
    inputs: Vec<OsString>,
}

impl Ingest {
    /// Adds `-l NAME=VALUE`.
    pub fn label(mut self, name_value: &str) -> Self {
        self.cmd.args(["-l", name_value]);
        self
    }

    /// Adds one `-l` per `NAME=VALUE`.
    pub fn labels<'a>(mut self, labels: impl IntoIterator<Item = &'a str>) -> Self {
        for l in labels {
            self = self.label(l);
        }
        self
    }

    /// Adds flags.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Adds one flag.
    pub fn arg(self, a: impl AsRef<OsStr>) -> Self {
        self.args([a])
    }

    /// Feeds `input` on stdin (for the input `-`).
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.cmd.stdin(input);
        self
    }

    /// The command with the inputs appended, to run with any assertion.
    pub fn cmd(mut self) -> LokalCmd {
        self.cmd.args(&self.inputs);
        self.cmd
    }

    /// Runs it with `-q`, asserting success.
    #[track_caller]
    pub fn ok(self) {
        self.arg("-q").cmd().stdout();
    }

    /// Runs it with `-o json`, asserting success; the report.
    #[track_caller]
    pub fn report(self) -> serde_json::Value {
        self.args(["-o", "json"]).cmd().json()
    }
}
