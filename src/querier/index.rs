//! `lokal index`'s work as a library call: take the writer lock, rebuild the
//! label index of every day (or of the given days) of one or every tenant,
//! commit per tenant.

use std::path::Path;
use std::time::Duration;

use super::Error;
use crate::store::{self, IndexSummary, Store};

/// Which tenants a rebuild covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tenants {
    /// This one.
    One(String),
    /// Every tenant with data.
    All,
}

/// What to rebuild.
#[derive(Debug, Clone)]
pub struct RebuildRequest {
    /// The tenants.
    pub tenants: Tenants,
    /// UTC days (`YYYY-MM-DD`); empty means every day with data. A name
    /// that is not a date matches no segment and is skipped.
    pub days: Vec<String>,
    /// How long to wait for another writer; `None` waits as long as it takes.
    pub lock_timeout: Option<Duration>,
}

/// Something the caller may want to tell the user while a rebuild runs.
#[derive(Debug, Clone, Copy)]
pub enum RebuildEvent<'a> {
    /// Another writer holds the lock (this file); the rebuild waits.
    Waiting(&'a Path),
    /// The tenant holds no data, so it is left alone (not created).
    EmptyTenant(&'a str),
}

/// One day's rebuilt index of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantIndex {
    /// The tenant.
    pub tenant: String,
    /// What its day's build produced.
    pub summary: IndexSummary,
}

/// Rebuilds label indexes under the writer lock, one commit per tenant, and
/// returns what each day's build produced, in tenant then day order.
pub fn rebuild_index(
    store: &Store,
    req: &RebuildRequest,
    notify: &mut dyn FnMut(RebuildEvent<'_>),
) -> Result<Vec<TenantIndex>, Error> {
    // Rebuilding an index of a store that does not exist is a mistyped
    // path: say so rather than create an empty store there.
    store.ensure_exists()?;
    let tenants = match &req.tenants {
        Tenants::All => store.tenants()?,
        Tenants::One(t) => vec![t.clone()],
    };
    let lock_path = store.lock_path();
    let lock = store.lock_writer(req.lock_timeout, || {
        notify(RebuildEvent::Waiting(&lock_path))
    })?;
    let mut days = req.days.clone();
    days.sort();
    days.dedup();
    let mut out = Vec::new();
    for name in &tenants {
        let tenant = store.tenant(name)?;
        if !tenant.exists() || tenant.read_manifest()?.segments.is_empty() {
            notify(RebuildEvent::EmptyTenant(name));
            continue;
        }
        let mut tx = tenant.begin_write(&lock)?;
        let built = if days.is_empty() {
            store::rebuild_all(&mut tx)?
        } else {
            store::rebuild_days(&mut tx, &days)?
        };
        tx.commit()?;
        out.extend(built.into_iter().map(|summary| TenantIndex {
            tenant: name.clone(),
            summary,
        }));
    }
    Ok(out)
}
