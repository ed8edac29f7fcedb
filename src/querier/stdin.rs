//! Queries over standard input (`lokal query --stdin`): the lines are
//! ingested into a temporary store with the caller's ingest options — the
//! same options `lokal ingest` takes, so every one of them (timestamps,
//! year, time zone, multiline, limits) applies — and queried from there.

use super::{Error, Querier};
use crate::ingest::{IngestOptions, Silent};
use crate::model::Labels;
use crate::store::{Store, DEFAULT_TENANT};

/// A temporary store holding what standard input held; removed on drop.
pub struct StdinStore {
    querier: Querier,
    selector: Labels,
    // Dropped last: the querier's snapshot maps files inside it.
    _dir: tempfile::TempDir,
}

impl StdinStore {
    /// Reads standard input to its end into a new temporary store, with
    /// `opts` (their inputs become standard input alone).
    pub fn ingest(mut opts: IngestOptions) -> Result<StdinStore, Error> {
        let dir = tempfile::tempdir().map_err(Error::TempStore)?;
        opts.inputs = vec!["-".into()];
        // Standard input has no file name to label it with.
        opts.filename_label = false;
        let store = Store::new(dir.path());
        let report = crate::ingest::ingest(&store, DEFAULT_TENANT, &opts, &Silent)?;
        // Refused input (binary) or input of which nothing could be kept is
        // an error, not a query that matched nothing.
        if let Some(msg) = report.errors.first() {
            return Err(crate::ingest::IngestError::Config(msg.clone()).into());
        }
        if report.all_rejected() {
            let reasons: Vec<String> = report
                .rejected
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect();
            return Err(crate::ingest::IngestError::Config(format!(
                "<stdin>: every line was rejected ({})",
                reasons.join(", ")
            ))
            .into());
        }
        // The labels ingest gives standard input.
        let selector = if opts.labels.is_empty() {
            Labels::from_pairs([("job", "stdin")])
        } else {
            Labels::from_pairs(opts.labels.clone())
        };
        Ok(StdinStore {
            querier: Querier::open(&store, DEFAULT_TENANT)?,
            selector,
            _dir: dir,
        })
    }

    /// The querier over the temporary store.
    pub fn querier(&self) -> &Querier {
        &self.querier
    }

    /// The labels of the one stream standard input became.
    pub fn selector(&self) -> &Labels {
        &self.selector
    }

    /// `query` as it runs over this store: a bare pipeline (starting with
    /// `|` or `!`) gets the stream's selector in front.
    pub fn complete_query(&self, query: &str) -> String {
        let q = query.trim_start();
        if q.starts_with('|') || q.starts_with('!') {
            format!("{} {q}", self.selector)
        } else {
            query.to_string()
        }
    }
}
