//! CLI tests: run the real `lokal` binary against temporary stores.
mod common;
mod crash;
mod docs;
mod exit_codes;
mod index;
mod ingest;
mod logqltest;
mod query;
mod real_queries;
mod stdin;
mod store;
