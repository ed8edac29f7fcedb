//! Push checkpoints: what `lokal push` has delivered to each Loki, kept in
//! the tenant directory as `PUSHED` (JSON) so an interrupted push resumes
//! where it stopped and a repeated one sends nothing twice.
//!
//! One target per destination and selection (the key the pusher builds
//! from the address, tenant, selector and range). A target lists the
//! segments whose selected entries were all delivered (`done`) and, while
//! a push is under way, its `run`: the segments it is sending and how far
//! it got, as the stream being sent and how many of that stream's entries
//! (in the pusher's fixed order) were delivered. Segments are immutable
//! and every new one gets a larger id, so data ingested later is in
//! segments no target lists yet.
//!
//! The file is replaced atomically as the manifest is (temporary file,
//! fsync, rename, fsync of the directory), after every request Loki
//! accepted; a crash leaves the last checkpoint, so at most the one request
//! in flight is sent again, and Loki stores an identical `(timestamp,
//! line)` of a stream once. Pushes of one tenant exclude each other with
//! the flock `push.lock` (not the writer lock: ingest goes on meanwhile).
//! `lokal check` reads the file ([`check`]).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::check::{CheckReport, Finding};
use super::{Manifest, StoreError, Tenant, WriterLock};

/// The checkpoint file in a tenant directory.
pub const PUSH_FILE: &str = "PUSHED";

/// Its temporary name while it is replaced (not `*.tmp`: writers remove
/// those of their own, and a push runs beside them).
const PUSH_TMP: &str = "PUSHED.new";

/// The lock pushes of one tenant take.
pub const PUSH_LOCK: &str = "push.lock";

/// The file format version.
pub const PUSH_VERSION: u32 = 1;

/// Every target's checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushCheckpoints {
    /// [`PUSH_VERSION`].
    pub version: u32,
    /// By target key.
    pub targets: BTreeMap<String, PushTarget>,
}

/// What was delivered to one destination for one selection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushTarget {
    /// The Loki's address, for people reading the file.
    pub addr: String,
    /// `X-Scope-OrgID` sent, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// The stream selector.
    pub selector: String,
    /// Start of the range pushed (ns), if limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<i64>,
    /// End of the range pushed (ns, excluded), if limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<i64>,
    /// Segments whose selected entries were all delivered, ascending.
    pub done: Vec<u64>,
    /// The push under way, if one was interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<PushRun>,
    /// Entries delivered to this target over all runs.
    pub entries: u64,
}

/// A push under way: its segments and how far it got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRun {
    /// The segments it sends, ascending.
    pub segments: Vec<u64>,
    /// Streams before this one (in label order) are delivered; `None`: none yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Entries of `stream` delivered.
    pub sent: u64,
}

fn corrupt(path: &Path, what: impl Into<String>) -> StoreError {
    StoreError::CorruptCheckpoint {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

/// Parses the checkpoint file's bytes.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<PushCheckpoints, StoreError> {
    let c: PushCheckpoints =
        serde_json::from_slice(bytes).map_err(|e| corrupt(path, e.to_string()))?;
    if c.version > PUSH_VERSION {
        return Err(corrupt(
            path,
            format!(
                "version {} is newer than this lokal's; upgrade lokal",
                c.version
            ),
        ));
    }
    for (key, t) in &c.targets {
        if !t.done.windows(2).all(|w| w[0] < w[1]) {
            return Err(corrupt(
                path,
                format!("target {key:?}: done is not ascending"),
            ));
        }
        if let Some(r) = &t.run {
            if !r.segments.windows(2).all(|w| w[0] < w[1]) {
                return Err(corrupt(
                    path,
                    format!("target {key:?}: run is not ascending"),
                ));
            }
        }
    }
    Ok(c)
}

/// The checkpoints of `tenant` (empty when it has none).
pub fn read(tenant: &Tenant) -> Result<PushCheckpoints, StoreError> {
    let path = tenant.dir().join(PUSH_FILE);
    let bytes = match crate::file::open_regular(&path) {
        Ok(mut f) => {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut b).map_err(|e| StoreError::io(&path, e))?;
            b
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(PushCheckpoints {
                version: PUSH_VERSION,
                ..Default::default()
            })
        }
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    parse(&path, &bytes)
}

/// Replaces `tenant`'s checkpoints with `c`, atomically and durably.
pub fn write(tenant: &Tenant, c: &PushCheckpoints) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec_pretty(c).expect("checkpoints serialize");
    super::replace_file(
        tenant.dir(),
        &tenant.dir().join(PUSH_TMP),
        &tenant.dir().join(PUSH_FILE),
        &bytes,
        || {},
    )?;
    super::trace::point("push-checkpoint");
    Ok(())
}

/// Takes `tenant`'s push lock, waiting up to `timeout` (forever when
/// `None`), and removes a temporary checkpoint a killed push left.
pub fn lock(
    tenant: &Tenant,
    timeout: Option<Duration>,
    on_wait: impl FnOnce(),
) -> Result<WriterLock, StoreError> {
    super::check_dirs(tenant.dir(), PUSH_FILE)?;
    let l = WriterLock::acquire(&tenant.dir().join(PUSH_LOCK), timeout, on_wait)?;
    let tmp = tenant.dir().join(PUSH_TMP);
    if fs::symlink_metadata(&tmp).is_ok_and(|m| m.file_type().is_file()) {
        let _ = fs::remove_file(&tmp);
    }
    Ok(l)
}

/// `lokal check`'s look at the checkpoints: a file that does not parse is a
/// problem (nothing is repaired: without it the next push sends everything
/// again, which Loki stores once but costs a full transfer); segments a
/// target names that are no longer live (compacted or repaired away) are a
/// note; a leftover temporary file is a note.
pub fn check(dir: &Path, manifest: Option<&Manifest>, rep: &mut CheckReport) {
    let path: PathBuf = dir.join(PUSH_FILE);
    let finding = |what: String| Finding {
        file: PUSH_FILE.into(),
        what,
    };
    if fs::symlink_metadata(dir.join(PUSH_TMP)).is_ok() {
        rep.notes.push(Finding {
            file: PUSH_TMP.into(),
            what: "left by an interrupted push; the next push removes it".into(),
        });
    }
    let bytes = match crate::file::open_regular(&path) {
        Ok(mut f) => {
            let mut b = Vec::new();
            if let Err(e) = std::io::Read::read_to_end(&mut f, &mut b) {
                rep.problems.push(finding(format!("unreadable: {e}")));
                return;
            }
            b
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            rep.problems.push(finding(format!("cannot be opened: {e}")));
            return;
        }
    };
    let c = match parse(&path, &bytes) {
        Ok(c) => c,
        Err(e) => {
            let what = match e {
                StoreError::CorruptCheckpoint { what, .. } => what,
                e => e.to_string(),
            };
            rep.problems.push(finding(format!(
                "corrupt push checkpoint ({what}); nothing is repaired: remove the file and the next push sends everything again (Loki stores identical entries once)"
            )));
            return;
        }
    };
    let Some(m) = manifest else { return };
    let live: HashSet<u64> = m.segments.iter().map(|s| s.id).collect();
    for (key, t) in &c.targets {
        let gone = t
            .done
            .iter()
            .chain(t.run.iter().flat_map(|r| &r.segments))
            .filter(|id| !live.contains(id))
            .count();
        if gone > 0 {
            rep.notes.push(finding(format!(
                "push target {key}: {gone} segment(s) it names are no longer in the store; their entries, if moved to new segments, are pushed again"
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::new(dir.path());
        let t = store.tenant("fake").unwrap();
        fs::create_dir_all(t.dir()).unwrap();
        assert!(read(&t).unwrap().targets.is_empty());
        let mut c = PushCheckpoints {
            version: PUSH_VERSION,
            ..Default::default()
        };
        c.targets.insert(
            "k".into(),
            PushTarget {
                addr: "http://x".into(),
                selector: "{}".into(),
                done: vec![1, 3],
                run: Some(PushRun {
                    segments: vec![4],
                    stream: Some("{a=\"b\"}".into()),
                    sent: 7,
                }),
                entries: 9,
                ..Default::default()
            },
        );
        let _l = lock(&t, None, || {}).unwrap();
        write(&t, &c).unwrap();
        assert_eq!(read(&t).unwrap(), c);
        assert!(!t.dir().join(PUSH_TMP).exists());

        let p = Path::new("PUSHED");
        assert!(parse(p, b"{").is_err());
        assert!(parse(p, br#"{"version":9,"targets":{}}"#)
            .unwrap_err()
            .to_string()
            .contains("upgrade lokal"));
        let bad = br#"{"version":1,"targets":{"k":{"addr":"a","selector":"{}","done":[3,1],"entries":0}}}"#;
        assert!(parse(p, bad).unwrap_err().to_string().contains("ascending"));

        let mut rep = CheckReport::default();
        fs::write(t.dir().join(PUSH_FILE), b"nonsense").unwrap();
        check(t.dir(), None, &mut rep);
        assert_eq!(rep.problems.len(), 1, "{rep:?}");
        assert!(rep.problems[0].what.starts_with("corrupt push checkpoint"));
    }
}
