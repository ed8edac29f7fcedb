//! The ruler: Loki's alerting and recording rules over the local store.
//!
//! Rule files in Loki's format (Prometheus' `rulefmt` with `lokitool`'s
//! namespaces) are found and decoded ([`file`], over the YAML tree of [`yaml`]),
//! checked as Loki's ruler and `lokitool rules check` check them ([`check`]),
//! and rewritten with canonical expressions ([`lint`]). [`eval`] evaluates groups
//! through the [`crate::querier`] API as instant queries on each group's grid and
//! replays alert state with Prometheus' state machine ([`alerting`]), so alert
//! state at any time needs no stored state; alert labels and annotations are
//! Go templates with Prometheus' functions ([`template`]), run by the same engine
//! as `line_format`. Firing and resolved alerts go to Alertmanager ([`notify`]);
//! recordings are written as OpenMetrics, the textfile collector's format or JSON
//! lines ([`record`]). [`unittest`] runs `promtool test rules`-style test files
//! with log streams as input.

pub mod alerting;
pub mod check;
pub mod eval;
pub mod file;
pub mod lint;
pub mod notify;
pub mod record;
pub mod template;
pub mod unittest;
pub mod yaml;

use std::path::PathBuf;

pub use check::{Level, Problem};
pub use file::{DecodeError, RuleFile};

/// Errors of the ruler.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// A file or directory cannot be read.
    #[error("{}: {err}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What failed.
        #[source]
        err: std::io::Error,
    },
    /// A glob or directory names no rule file.
    #[error("{0}: {1}")]
    Glob(String, String),
    /// Files that cannot be decoded as rule files.
    #[error("{}", show_all(.0))]
    Decode(Vec<DecodeError>),
    /// Rules Loki's ruler would refuse.
    #[error("{}", show_all(.0))]
    Invalid(Vec<Problem>),
    /// A rule that cannot be evaluated.
    #[error("{0}")]
    NotRunnable(String),
    /// The store failed under an evaluation.
    #[error("evaluating rules")]
    Query(#[source] crate::querier::Error),
    /// Alerts could not be delivered.
    #[error("{0}")]
    Alertmanager(String),
    /// An output file cannot be written.
    #[error("writing {}: {err}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// What failed.
        #[source]
        err: std::io::Error,
    },
    /// A rule test file is malformed.
    #[error("{0}")]
    TestFile(String),
}

fn show_all<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads the rule files `args` name ([`file::expand_paths`]): the decoded files
/// and the ones that cannot be decoded.
pub fn read_files(args: &[PathBuf]) -> Result<(Vec<RuleFile>, Vec<DecodeError>), RulesError> {
    let mut files = Vec::new();
    let mut bad = Vec::new();
    for p in file::expand_paths(args)? {
        match file::read(&p)? {
            Ok(f) => files.push(f),
            Err(e) => bad.push(e),
        }
    }
    Ok((files, bad))
}

/// Reads rule files for evaluation: every file must decode and pass Loki's
/// load-time checks (conventions `lokitool rules check` adds are not required).
pub fn load(args: &[PathBuf]) -> Result<Vec<RuleFile>, RulesError> {
    let (files, bad) = read_files(args)?;
    if !bad.is_empty() {
        return Err(RulesError::Decode(bad));
    }
    let problems: Vec<Problem> = check::check(&files, &check::Options::default())
        .into_iter()
        .filter(|p| p.level == Level::Error)
        .collect();
    if !problems.is_empty() {
        return Err(RulesError::Invalid(problems));
    }
    Ok(files)
}
