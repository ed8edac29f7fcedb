//! Grafana Loki's wire side: the HTTP API's JSON bodies ([`api`]; a
//! `streams` result of any size is [`streams`]), the push API's protobuf
//! bodies ([`push`]), the HTTP client ([`client`], also the ruler's for
//! Alertmanager), Loki's query API from the client side ([`query`], behind
//! `--addr`) and `lokal push` ([`pusher`]). The Loki-compatible server
//! (`lokal serve`) is `server/`, above the querier.

pub mod api;
pub mod client;
pub mod push;
pub mod pusher;
pub mod query;
pub mod streams;
