//! lokal: Grafana Loki's log model over a local store.
//!
//! Index only the labels, keep the lines in compressed chunks, query with
//! LogQL. See `ARCHITECTURE.md` for the design and the on-disk formats.
pub mod chunk;
pub mod compact;
pub mod engine;
pub mod file;
pub mod go;
pub mod index;
pub mod ingest;
pub mod logql;
pub mod logqltest;
pub mod loki;
pub mod model;
pub mod output;
pub mod promtail;
pub mod querier;
pub mod rules;
pub mod server;
pub mod store;
pub mod time;
pub mod units;
pub mod varint;
