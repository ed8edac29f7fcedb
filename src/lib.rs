//! lokal: Grafana Loki's log model over a local store.
pub mod logql;
