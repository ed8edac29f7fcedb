//! Ingest: turning log files into entries (timestamp detection for now).
pub mod timestamp;
