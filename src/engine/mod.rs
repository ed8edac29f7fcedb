//! The query engine's building blocks; [`pipeline`] evaluates LogQL log pipelines.
pub mod pipeline;
