//! `lokal ingest --config promtail.yaml`: promtail's configuration and
//! pipeline stages over lokal's ingest path.
//!
//! [`Config`] reads the file (`config.rs`: scrape configs, static targets,
//! the agent sections accepted with a note); `stages.rs` holds each stage's
//! configuration and work, `pipeline.rs` runs them with promtail's data flow
//! (labels seed the extracted map, parsers fill it, later stages read it) and
//! the per-file state of the stateful ones; `jmespath.rs` is the JMESPath
//! subset of `json` expressions and `value.rs` the extracted values.
//!
//! [`Hook`] plugs a config into `ingest` (`crate::ingest::hook`): it names
//! the files the run reads (the `__path__` globs, less `__path_exclude__`),
//! gives each its target's labels plus `filename`, and a pipeline state of
//! its own, so positions, rotation, exactly-once commits, batching and
//! limits stay ingest's.

mod config;
pub mod jmespath;
pub mod pipeline;
pub mod stages;
pub mod value;

use std::path::Path;
use std::sync::Arc;

pub use config::{expand_env, Config, ConfigError, Target};
pub use pipeline::{Clock, FileProcessor, PEntry, Pipeline};

use crate::ingest::hook::{EntryHook, HookTarget};

/// A configuration as ingest's per-entry hook.
#[derive(Debug)]
pub struct Hook {
    config: Arc<Config>,
    clock: Clock,
}

impl Hook {
    /// The hook of `config`, with the real clock.
    pub fn new(config: Arc<Config>) -> Hook {
        Hook {
            config,
            clock: Clock(None),
        }
    }

    /// The target that reads the file `name` (absolute): the first whose
    /// `__path__` matches and whose `__path_exclude__` does not.
    pub fn target(&self, name: &str) -> Option<&Target> {
        let any = |pats: &[(String, glob::Pattern)]| {
            pats.iter().any(|(_, p)| config::glob_matches(p, name))
        };
        self.config
            .targets
            .iter()
            .find(|t| any(&t.include) && !any(&t.exclude_pats))
    }
}

impl EntryHook for Hook {
    fn reads(&self, name: &str) -> bool {
        self.target(name).is_some()
    }

    fn open(&self, name: &str) -> Option<HookTarget> {
        let t = self.target(name)?;
        let mut labels = t.labels.clone();
        // promtail's file target sets `filename` to the path it found.
        labels.set("filename", name);
        Some(HookTarget {
            labels,
            processor: (!t.pipeline.stages.is_empty()).then(|| {
                Box::new(FileProcessor::new(t.pipeline.clone(), self.clock))
                    as Box<dyn crate::ingest::hook::EntryProcessor>
            }),
        })
    }
}

impl Config {
    /// Every `__path__` glob, matching a file now or not: `ingest --follow
    /// --config` waits for the files, as promtail does.
    pub fn globs(&self) -> Vec<String> {
        let mut globs: Vec<String> = Vec::new();
        for (g, _) in self.targets.iter().flat_map(|t| &t.include) {
            if !globs.contains(g) {
                globs.push(g.clone());
            }
        }
        globs
    }

    /// The `__path__` globs that match a file now (ingest's inputs), and a
    /// note for each that matches none (promtail would wait for them).
    pub fn inputs(&self) -> (Vec<String>, Vec<String>) {
        let mut inputs: Vec<String> = Vec::new();
        let mut notes = Vec::new();
        for t in &self.targets {
            let mut found = false;
            for (g, _) in &t.include {
                let any = Path::new(g).is_file()
                    || glob::glob(g)
                        .map(|mut m| m.any(|p| p.is_ok_and(|p| p.is_file())))
                        .unwrap_or(false);
                if any && !inputs.contains(g) {
                    inputs.push(g.clone());
                }
                found |= any;
            }
            if !found {
                notes.push(format!(
                    "job {:?}: no file matches __path__ {} yet",
                    t.job, t.path
                ));
            }
        }
        (inputs, notes)
    }
}

#[cfg(test)]
mod tests;
