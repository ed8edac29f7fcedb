//! CLI tests: run the real `lokal` binary against temporary stores
//! (`testenv.rs`), and against the frozen store fixtures of `tests/fixtures`.
#[path = "../support/mod.rs"]
mod support;

mod bitflip;
mod check;
mod common;
mod compact;
mod crash;
mod diff;
mod diff_live;
mod docs;
mod exit_codes;
mod follow;
mod index;
mod ingest;
mod ingest_limits;
mod logqltest;
mod many_streams;
mod output_errors;
mod output_logcli;
mod output_metric;
mod pipes;
mod promtail;
mod push;
mod query;
mod real_queries;
mod rotation;
mod rules;
mod rules_alertmanager;
mod rules_backfill;
mod rules_loki;
mod rules_test;
mod semantics;
mod serve;
mod serve_limits;
mod serve_logcli;
mod serve_push;
mod stdin;
mod store;
mod store_v1;
mod store_v2;
mod store_v3;
mod tail;
mod testenv;
mod timestamps;
