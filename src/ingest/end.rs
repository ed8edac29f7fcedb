//! What an ingest run does last, under its writer lock and before its last
//! index build: merge the segments it wrote into a day when they are more
//! than a compaction would write ([`RunEnd`]). Ingest knows only this trait; the compactor
//! implements it (`crate::compact::IngestMerge`), so the writer side stays
//! below the compactor that merges through it.

use crate::store::{StoreError, TenantWriter};

/// The end-of-run step of an ingest (`lokal ingest --compact=auto`).
pub trait RunEnd: Send + Sync + std::fmt::Debug {
    /// Segments of `tx` with ids from `first_id` up were written by this
    /// run, whose last batch is published in `tx` but not committed: merges
    /// those of each day that need it inside `tx`, so that the run's last
    /// commit makes the merge live together with the batch, its positions
    /// and the days' indexes (or, after a crash, none of them). `zstd_level`
    /// is the run's (called after every run, even one that wrote nothing:
    /// what a merge killed mid-way left is cleaned up). A day that cannot be
    /// merged is left as it is, with a
    /// message to `warn`. Returns the days merged.
    fn merge_days(
        &self,
        tx: &mut TenantWriter<'_>,
        first_id: u64,
        zstd_level: i32,
        warn: &mut dyn FnMut(String),
    ) -> Result<Vec<String>, StoreError>;
}
