//! Grafana Loki's wire side: the HTTP API's JSON bodies ([`api`]; a
//! `streams` result of any size is [`streams`]) and the push API's
//! protobuf bodies ([`push`]). The Loki
//! client (`lokal query --addr`, `lokal push`) and the Loki-compatible server
//! (`lokal serve`) belong here too, above the engine and ingest they call
//! and below the command-line output.

pub mod api;
pub mod push;
pub mod streams;
