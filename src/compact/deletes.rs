//! Delete requests, as Loki's delete API takes them
//! (`pkg/compactor/deletion/`): a stream selector with optional line
//! filters and a time range with both ends included. A request is stored
//! in the tenant's manifest (so adding, cancelling and processing one are
//! atomic commits) and applied by the next compaction: an entry is removed
//! when its stream matches the selector, its time lies in the range and the
//! line filters keep its line. Matching uses the query engine's matchers
//! and line filters, so a delete removes exactly what the same query shows.

use std::time::Duration;

use crate::engine::pipeline::{Pipeline, StreamPipeline};
use crate::logql::{Expr, Matcher, Stage};
use crate::model::Labels;
use crate::store::{DeleteRequest, DeleteStatus, Store, StoreError};

use super::CompactError;

/// A parsed delete query.
#[derive(Debug, Clone)]
pub struct DeleteQuery {
    /// The stream matchers.
    pub matchers: Vec<Matcher>,
    /// The line filters (`None` without any: every line of the range goes).
    filters: Option<Pipeline>,
}

impl DeleteQuery {
    /// Parses a delete query: a stream selector followed only by line
    /// filters (`|=`, `!=`, `|~`, `!~`, `|>`, `!>`, `ip()`), as Loki's delete
    /// API documents. Parsers, label filters and formatters are refused:
    /// what a delete removes must not depend on how a line parses.
    pub fn parse(query: &str) -> Result<DeleteQuery, String> {
        let log = match crate::logql::parse_expr(query).map_err(|e| e.to_string())? {
            Expr::Log(l) => l,
            Expr::Sample(_) => {
                return Err(
                    "a delete query is a stream selector with optional line filters, not a metric query"
                        .into(),
                )
            }
        };
        if let Some(s) = log
            .pipeline
            .iter()
            .find(|s| !matches!(s, Stage::LineFilter(_)))
        {
            return Err(format!(
                "a delete query is a stream selector with optional line filters (|=, !=, |~, !~, |>, !>); {:?} is not a line filter",
                s.to_string().trim()
            ));
        }
        let filters = if log.pipeline.is_empty() {
            None
        } else {
            Some(Pipeline::new(&log.pipeline).map_err(|e| e.0)?)
        };
        Ok(DeleteQuery {
            matchers: log.matchers,
            filters,
        })
    }

    /// Whether the selector matches the stream `labels`.
    pub fn selects(&self, labels: &Labels) -> bool {
        crate::engine::plan::selects(&self.matchers, labels)
    }

    /// True when every line of the range goes (no line filter): whole
    /// blocks inside the range are dropped without being read.
    pub fn whole_lines(&self) -> bool {
        self.filters.is_none()
    }

    /// The line test for one stream the selector matches.
    pub fn for_stream(&self, labels: &Labels) -> LineTest {
        LineTest(self.filters.as_ref().map(|p| p.for_stream(labels)))
    }
}

/// The line filters of a delete query, set up for one stream.
pub struct LineTest(Option<StreamPipeline>);

impl LineTest {
    /// Whether the line is deleted (its filters keep it).
    pub fn deletes(&mut self, ts: i64, line: &[u8]) -> bool {
        match &mut self.0 {
            None => true,
            Some(p) => p.process(ts, line).is_some(),
        }
    }
}

/// A stored request, parsed.
#[derive(Debug, Clone)]
pub struct PendingDelete {
    /// The stored request.
    pub request: DeleteRequest,
    /// Its query.
    pub query: DeleteQuery,
}

impl PendingDelete {
    /// The requests of a manifest still to apply. One whose query no longer
    /// parses (stored by a different lokal) is returned in the errors and
    /// not applied.
    pub fn pending(all: &[DeleteRequest]) -> (Vec<PendingDelete>, Vec<String>) {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for r in all.iter().filter(|r| r.status == DeleteStatus::Received) {
            match DeleteQuery::parse(&r.query) {
                Ok(query) => out.push(PendingDelete {
                    request: r.clone(),
                    query,
                }),
                Err(e) => errors.push(format!("delete request {}: {e}; not applied", r.id)),
            }
        }
        (out, errors)
    }

    /// Whether it may remove entries of the stream `labels` between
    /// `lo` and `hi`.
    pub fn touches(&self, labels: &Labels, lo: i64, hi: i64) -> bool {
        self.request.start <= hi && lo <= self.request.end && self.query.selects(labels)
    }
}

/// What `lokal delete` asks for.
#[derive(Debug, Clone)]
pub struct NewDelete {
    /// The query.
    pub query: String,
    /// First time, ns (included).
    pub start: i64,
    /// Last time, ns (included).
    pub end: i64,
    /// The current time, ns.
    pub now: i64,
}

impl NewDelete {
    /// The request as stored: `received`, nothing deleted yet.
    pub fn request(&self, id: String) -> DeleteRequest {
        DeleteRequest {
            id,
            query: self.query.clone(),
            start: self.start,
            end: self.end,
            created_at: self.now,
            status: DeleteStatus::Received,
            processed_at: None,
            deleted_entries: 0,
        }
    }
}

/// Checks a new request as Loki's API does: a valid query, `start` not
/// after `end`, `end` not in the future.
pub fn validate(new: &NewDelete) -> Result<DeleteQuery, CompactError> {
    let q = DeleteQuery::parse(&new.query)
        .map_err(|e| CompactError::Invalid(format!("invalid query expression: {e}")))?;
    if new.end > new.now {
        return Err(CompactError::Invalid(
            "deletes in the future are not allowed (--to is later than now)".into(),
        ));
    }
    if new.start > new.end {
        return Err(CompactError::Invalid(
            "start time can't be greater than end time (--from is after --to)".into(),
        ));
    }
    Ok(q)
}

/// Stores a new request in `tenant` of `store` (one manifest commit under
/// the writer lock) and returns it.
pub fn add(
    store: &Store,
    tenant: &str,
    new: &NewDelete,
    lock_timeout: Option<Duration>,
    on_wait: impl FnOnce(),
) -> Result<DeleteRequest, CompactError> {
    validate(new)?;
    let t = store.tenant(tenant)?;
    if !t.exists() {
        return Err(CompactError::Invalid(format!(
            "tenant {tenant:?} has no data in {}; nothing to delete",
            store.root().display()
        )));
    }
    let lock = store.lock_writer(lock_timeout, on_wait)?;
    let mut tx = t.begin_write(&lock)?;
    let mut seed = xxhash_rust::xxh3::xxh3_64(
        format!("{}\0{}\0{}\0{}", new.query, new.start, new.end, new.now).as_bytes(),
    );
    let id = loop {
        let id = format!("{:08x}", seed as u32);
        if !tx.manifest().deletes.iter().any(|d| d.id == id) {
            break id;
        }
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    };
    let req = new.request(id);
    tx.deletes_mut().push(req.clone());
    tx.commit()?;
    Ok(req)
}

/// The requests of `tenant`, oldest first.
pub fn list(store: &Store, tenant: &str) -> Result<Vec<DeleteRequest>, StoreError> {
    store.ensure_exists()?;
    Ok(store.tenant(tenant)?.read_manifest()?.deletes)
}

/// Cancels a request that was not applied yet (Loki refuses to cancel one
/// in process or processed).
pub fn cancel(
    store: &Store,
    tenant: &str,
    id: &str,
    lock_timeout: Option<Duration>,
    on_wait: impl FnOnce(),
) -> Result<DeleteRequest, CompactError> {
    store.ensure_exists()?;
    let t = store.tenant(tenant)?;
    let lock = store.lock_writer(lock_timeout, on_wait)?;
    let mut tx = t.begin_write(&lock)?;
    let Some(i) = tx.manifest().deletes.iter().position(|d| d.id == id) else {
        return Err(CompactError::Invalid(format!(
            "could not find delete request with id {id:?}; `lokal delete --list` shows them"
        )));
    };
    if tx.manifest().deletes[i].status != DeleteStatus::Received {
        return Err(CompactError::Invalid(format!(
            "delete request {id} was already processed; cancelling it is not allowed"
        )));
    }
    let req = tx.deletes_mut().remove(i);
    tx.commit()?;
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_line_filters_are_accepted() {
        let q = DeleteQuery::parse(r#"{job="a"} |= "x" != "y""#).unwrap();
        assert!(!q.whole_lines());
        assert!(DeleteQuery::parse(r#"{job="a"}"#).unwrap().whole_lines());
        for bad in [
            r#"{job="a"} | json"#,
            r#"{job="a"} |= "x" | level="error""#,
            r#"{job="a"} | line_format "{{.x}}""#,
            r#"count_over_time({job="a"}[1m])"#,
        ] {
            assert!(DeleteQuery::parse(bad).is_err(), "{bad}");
        }
        // Loki's own checks: a selector needs a matcher that is not empty-compatible.
        assert!(DeleteQuery::parse(r#"{job=~".*"}"#).is_err());
        assert!(DeleteQuery::parse(r#"{job="a"} |~ "(""#).is_err());
    }

    #[test]
    fn line_filters_decide_per_line() {
        let q = DeleteQuery::parse(r#"{job="a"} |= "secret" != "keep""#).unwrap();
        let l = Labels::from_pairs([("job", "a")]);
        assert!(q.selects(&l));
        assert!(!q.selects(&Labels::from_pairs([("job", "b")])));
        let mut t = q.for_stream(&l);
        assert!(t.deletes(1, b"a secret here"));
        assert!(!t.deletes(1, b"a secret to keep"));
        assert!(!t.deletes(1, b"nothing"));
    }

    #[test]
    fn requests_are_checked_as_loki_checks_them() {
        let new = |start, end| NewDelete {
            query: r#"{job="a"}"#.into(),
            start,
            end,
            now: 100,
        };
        assert!(validate(&new(1, 100)).is_ok());
        assert!(validate(&new(1, 101))
            .unwrap_err()
            .to_string()
            .contains("future"));
        assert!(validate(&new(50, 40))
            .unwrap_err()
            .to_string()
            .contains("greater than end"));
    }
}
