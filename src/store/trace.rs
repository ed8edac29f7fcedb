//! Trace points on the write path, for crash tests. Each step of a commit
//! (a segment file created, a segment published, index files written, the
//! manifest written, the manifest renamed into place) calls [`point`], and
//! so does an ingest run once it has planned its inputs (`ingest-planned`,
//! before any is opened: rotation tests act there). A
//! harness that kills writers at random steps installs a hook — the `lokal`
//! binary does when `LOKAL_TEST_TRACE` is set, printing each point on
//! stderr — and so kills on observed progress instead of after a fixed
//! sleep. Without a hook a point costs one atomic load.

use std::sync::OnceLock;

static HOOK: OnceLock<fn(&str)> = OnceLock::new();

/// Installs the hook every trace point calls (the first call wins).
pub fn set_hook(hook: fn(&str)) {
    let _ = HOOK.set(hook);
}

/// Reports that the write path reached `name`.
#[inline]
pub fn point(name: &str) {
    if let Some(hook) = HOOK.get() {
        hook(name);
    }
}
