//! lokal: Grafana Loki's log model over a local store.
pub mod ingest;
pub mod logql;
