//! Exit codes, and which one an error gets. The library returns typed
//! errors; only here are they sorted into "the user asked for something
//! wrong" (2) and "the store failed" (3).

use lokal::chunk::block::{CompressError, DecodeError};
use lokal::chunk::segment::SegmentError;
use lokal::engine::QueryError;
use lokal::index::IndexError;
use lokal::ingest::IngestError;
use lokal::store::StoreError;

/// The process exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Success.
    Ok = 0,
    /// The query matched nothing, or a `lokal test` case failed.
    NothingMatched = 1,
    /// Usage, input or query error (also an ingest where some file failed).
    Usage = 2,
    /// Store error: I/O, corruption (a block that fails its checksum or
    /// zstd), a lock timeout.
    Store = 3,
}

impl ExitCode {
    /// `Ok` when something matched, else `NothingMatched`.
    pub fn matched(any: bool) -> ExitCode {
        if any {
            ExitCode::Ok
        } else {
            ExitCode::NothingMatched
        }
    }

    /// The process's exit status.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The exit code for an error: the first cause the library classifies,
    /// else a usage error.
    pub fn of_error(err: &anyhow::Error) -> ExitCode {
        err.chain().find_map(classify).unwrap_or(ExitCode::Usage)
    }
}

fn store(e: &StoreError) -> ExitCode {
    match e {
        StoreError::InvalidTenant { .. } | StoreError::NoStore { .. } => ExitCode::Usage,
        _ => ExitCode::Store,
    }
}

/// Library errors forward their inner error's message and source
/// (`#[error(transparent)]`), so an inner store error is not a separate link
/// of the chain: the wrappers are looked into here.
fn classify(cause: &(dyn std::error::Error + 'static)) -> Option<ExitCode> {
    let query = |e: &QueryError| match e {
        QueryError::Store(s) => Some(store(s)),
        _ => None,
    };
    let ingest = |e: &IngestError| match e {
        IngestError::Store(s) => Some(store(s)),
        _ => None,
    };
    if let Some(e) = cause.downcast_ref::<lokal::querier::Error>() {
        return match e {
            lokal::querier::Error::Query(q) => query(q),
            lokal::querier::Error::Store(s) => Some(store(s)),
            lokal::querier::Error::Ingest(i) => ingest(i),
            lokal::querier::Error::TempStore(_) => None,
            lokal::querier::Error::Partial(_) => Some(ExitCode::Store),
        };
    }
    if let Some(e) = cause.downcast_ref::<QueryError>() {
        return query(e);
    }
    if let Some(e) = cause.downcast_ref::<IngestError>() {
        return ingest(e);
    }
    if let Some(e) = cause.downcast_ref::<StoreError>() {
        return Some(store(e));
    }
    if let Some(e) = cause.downcast_ref::<lokal::compact::CompactError>() {
        return Some(match e {
            lokal::compact::CompactError::Store(s) => store(s),
            lokal::compact::CompactError::Invalid(_) => ExitCode::Usage,
        });
    }
    let damaged = cause.is::<SegmentError>()
        || cause.is::<IndexError>()
        || cause.is::<DecodeError>()
        || cause.is::<CompressError>();
    damaged.then_some(ExitCode::Store)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zstd_failure() -> SegmentError {
        SegmentError::CorruptBlock {
            path: "/s/0000000000000001.seg".into(),
            offset: 16,
            len: 31,
            what: "zstd: Unknown frame descriptor".into(),
        }
    }

    #[test]
    fn zstd_failures_are_store_errors() {
        // Reading: a block that is not a zstd frame, however it reaches main.
        let bare = anyhow::Error::from(zstd_failure());
        assert_eq!(ExitCode::of_error(&bare), ExitCode::Store);
        let wrapped = anyhow::Error::from(lokal::querier::Error::Query(QueryError::Store(
            StoreError::Segment(zstd_failure()),
        )))
        .context("running the query");
        assert_eq!(ExitCode::of_error(&wrapped), ExitCode::Store);
        // Writing: a block zstd cannot compress.
        let compress = IngestError::Store(StoreError::Compress(CompressError(
            std::io::Error::other("out of memory"),
        )));
        assert_eq!(
            ExitCode::of_error(&anyhow::Error::from(compress)),
            ExitCode::Store
        );
    }

    #[test]
    fn user_errors_are_usage_errors() {
        let parse = lokal::logql::parse_expr("{").unwrap_err();
        let e = anyhow::Error::from(lokal::querier::Error::from(parse));
        assert_eq!(ExitCode::of_error(&e), ExitCode::Usage);
        let tenant = StoreError::InvalidTenant { name: "..".into() };
        assert_eq!(
            ExitCode::of_error(&anyhow::Error::from(tenant)),
            ExitCode::Usage
        );
        assert_eq!(
            ExitCode::of_error(&anyhow::anyhow!("--day: bad")),
            ExitCode::Usage
        );
        assert_eq!(ExitCode::matched(false).code(), 1);
    }
}
