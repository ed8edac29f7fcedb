//! The query engine (Loki's querier internals): plan from the store's
//! indexes and footers (`plan`), scan blocks in parallel (`scan`), run the
//! LogQL pipeline (`pipeline`), merge. Log queries live in `logquery`,
//! metric queries in `eval`. Callers outside the library go through
//! the `querier` module, which sits above the engine.

mod blockplan;
pub mod eval;
pub mod logquery;
pub mod pipeline;
pub mod plan;
pub mod scan;
pub mod stats;
mod topk;
pub mod value;

use crate::store::StoreError;

/// Order of log results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Newest first (Loki's default).
    #[default]
    Backward,
    /// Oldest first.
    Forward,
}

/// Errors that stop a query.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query does not parse.
    #[error(transparent)]
    Parse(#[from] crate::logql::ParseError),
    /// A pipeline stage cannot be built (bad regex, template…).
    #[error("{0}")]
    Pipeline(String),
    /// The query is valid LogQL but cannot run this way.
    #[error("{0}")]
    Unsupported(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl QueryError {
    /// A stage that cannot be built is a parse error in Loki's words
    /// (`parse error : stage '|~ "(("' : error parsing regexp: …`), as
    /// Loki's `NewStageError` reports it.
    pub fn stage(e: pipeline::PipelineError) -> QueryError {
        QueryError::Parse(crate::logql::ParseError::semantic(e.0))
    }
}
