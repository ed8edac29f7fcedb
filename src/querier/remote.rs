//! The same questions as [`Querier`](super::Querier) asked of a Grafana
//! Loki over HTTP (`--addr`): the answers come back as the querier's own
//! types, so the command line prints them with the same code. What Loki
//! measured (`stats`) and warned about comes beside them ([`Meta`]).

use crate::engine::logquery::LogResult;
use crate::engine::stats::QueryStats;
use crate::loki::client::{Client, ClientOptions};
use crate::loki::query::{self, Answer, Meta, RangeRequest};
use crate::model::Labels;
use crate::time::TimeRange;

use super::{Error, Lookup, MetricResult, QueryOptions, QueryResponse, RangeSpec};

/// logcli's default look-back when no range is given: one hour.
pub const DEFAULT_SINCE: i64 = 3_600_000_000_000;

/// A Loki to query.
#[derive(Debug)]
pub struct Remote {
    client: Client,
}

fn stats_of(meta: &Meta) -> QueryStats {
    QueryStats {
        warnings: meta.warnings.clone(),
        ..Default::default()
    }
}

fn lookup<T>(values: Vec<T>, meta: &Meta) -> Lookup<T> {
    Lookup {
        values,
        warnings: meta.warnings.clone(),
        partial: Vec::new(),
    }
}

impl Remote {
    /// A client of the Loki `opts` name.
    pub fn new(opts: ClientOptions) -> Result<Remote, Error> {
        Ok(Remote {
            client: Client::new(opts)?,
        })
    }

    /// The Loki's address.
    pub fn addr(&self) -> &str {
        self.client.base()
    }

    /// Fills in a user's range as logcli does: without `from`, `to` or
    /// `since`, the last hour.
    pub fn resolve_range(&self, spec: &RangeSpec) -> TimeRange {
        let mut s = *spec;
        if s.from.is_none() && s.to.is_none() && s.since.is_none() {
            s.since = Some(DEFAULT_SINCE);
        }
        super::fill_range(&s, None)
    }

    /// A range query (log or metric) of `text` over `range`; log queries
    /// read `batch` entries per request.
    pub fn query(
        &self,
        text: &str,
        range: TimeRange,
        opts: &QueryOptions,
        batch: usize,
    ) -> Result<(QueryResponse, Meta), Error> {
        let mut meta = Meta::default();
        let answer = query::query_range(
            &self.client,
            &RangeRequest {
                query: text,
                start: range.start,
                end: range.end,
                limit: opts.limit,
                batch,
                direction: opts.direction,
                step: opts.step,
            },
            &mut meta,
        )?;
        let stats = stats_of(&meta);
        let r = match answer {
            Answer::Streams(entries) => QueryResponse::Streams(LogResult { entries, stats }),
            Answer::Metric(value) => QueryResponse::Metric(MetricResult { value, stats }),
        };
        Ok((r, meta))
    }

    /// A metric query of `text` at `at`.
    pub fn instant_query(&self, text: &str, at: i64) -> Result<(MetricResult, Meta), Error> {
        let mut meta = Meta::default();
        let value = query::query_instant(&self.client, text, at, &mut meta)?;
        let stats = stats_of(&meta);
        Ok((MetricResult { value, stats }, meta))
    }

    /// Label names over `range`.
    pub fn labels(&self, range: TimeRange) -> Result<Lookup<String>, Error> {
        let mut meta = Meta::default();
        let v = query::labels(&self.client, range.start, range.end, &mut meta)?;
        Ok(lookup(v, &meta))
    }

    /// Values of label `name` over `range`.
    pub fn label_values(&self, name: &str, range: TimeRange) -> Result<Lookup<String>, Error> {
        let mut meta = Meta::default();
        let v = query::label_values(&self.client, name, range.start, range.end, &mut meta)?;
        Ok(lookup(v, &meta))
    }

    /// The streams `selector` selects over `range`.
    pub fn series(&self, selector: &str, range: TimeRange) -> Result<Lookup<Labels>, Error> {
        let mut meta = Meta::default();
        let v = query::series(&self.client, selector, range.start, range.end, &mut meta)?;
        Ok(lookup(v, &meta))
    }
}
