//! Which file is which across runs: matches a run's inputs to the positions
//! earlier runs committed, so that log rotation neither doubles nor loses a
//! line.
//!
//! promtail keeps one position per path; that reads `access.log.1` again
//! from its start after a rename, and misses what was appended to a file
//! just before it was renamed. Here a position belongs to a *file*, found
//! wherever it is now:
//!
//! - **by inode**: a file with the position's device and inode whose first
//!   bytes and the bytes just before the position still hash as recorded
//!   (inodes are reused as soon as a file is deleted; a file shorter than
//!   the position was truncated) is that file, under whatever name — it is
//!   read on from the position;
//! - **by content**: a file in the same directory with a rotated name of the
//!   position's file (`same_family`) whose first bytes hash the same is a
//!   copy of it — the copy `copytruncate` made, or a compressed rotated copy
//!   (`.1.gz`, `-20241201.zst`; heads of compressed files are compared
//!   decompressed). A plain copy must also match the bytes before the
//!   position (a shorter one lies wholly inside what was read); a compressed
//!   one is checked there while it is decompressed ([`super::batch`]).
//!
//! When several files hold the same content (an original and its copy) one
//! is read — the one found by inode, else the longest plain one — and the
//! others' positions follow it, so the content is stored once. A copy's
//! position is the content's: the same offset and name as its original's,
//! even when the copy is shorter. A copy may be looked at while it is being
//! written (`copytruncate` copies, then truncates; its size may also have
//! been taken an instant before the bytes its head is hashed from), and
//! what it gets after that look up to the offset was read from the
//! original: found again by inode, a rotated file shorter than its position
//! is such a copy (under its first name it would be a truncated file). A
//! copy (under a rotated name) too short yet to hash its head is recognised
//! by its bytes being the start of a file of its family found by inode, and
//! an empty file under a rotated name is not read (a position at its start
//! would make the copy written into it a new file); [`SETTLE`] is only a
//! last guard.
//!
//! A file whose position no longer holds when it is opened (truncated
//! between the plan and the open) is left to the next run, which plans it
//! and its copy together ([`super::reader`]); read from its start there and
//! then, it would replace the position its copy is recognised by.
//!
//! A position that no input claims but that belongs to this run's inputs
//! (its key or its original name is an input) is looked for in its
//! directory — the same inode under another name, or a rotated copy — so
//! `lokal ingest access.log` from cron still reads the lines appended just
//! before `access.log` was renamed; a position whose file is gone is
//! dropped. Positions are keyed by the path the file had when last read and
//! keep the name it was first read under (its `filename` label).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::source::{self, Compression, FileIdentity, Input, HEAD_LEN};
use crate::store::Position;

/// Positions by key (a path).
pub(crate) type Positions = BTreeMap<String, Position>;

/// Where reading an input starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Start {
    /// Never read (or `--from-start`): from its first byte.
    Fresh,
    /// Read before, under this or another name: on from this position.
    Resume(Position),
}

/// A file holding a copy of what a planned file holds. It is not read; its
/// position follows the planned file's.
#[derive(Debug, Clone)]
pub(crate) struct CopyOf {
    /// Its path (its position's key).
    pub key: String,
    /// Its identity.
    pub id: FileIdentity,
}

impl CopyOf {
    /// The copy's position when the file it copies, at key `key`, is at
    /// `p`: the same content read to the same offset, even when the copy is
    /// shorter — it may still be being written (`copytruncate` copies
    /// before it truncates), and what it gets past its present end was read
    /// from the original too. Its `name` is the original's: it is one log.
    pub fn position(&self, key: &str, p: &Position) -> Position {
        let name = p.name.clone().unwrap_or_else(|| key.to_string());
        Position {
            dev: self.id.dev,
            ino: self.id.ino,
            size: self.id.size,
            name: (name != self.key).then_some(name),
            ..p.clone()
        }
    }
}

/// One input to read, as the plan decided.
#[derive(Debug)]
pub(crate) struct Planned {
    /// What to open.
    pub input: Input,
    /// The path it was first read under: its `filename` label and its
    /// position's `name`.
    pub name: String,
    /// Where to start.
    pub start: Start,
    /// Identity when planned (regular files only); the file opened must
    /// still be this one.
    pub id: Option<FileIdentity>,
    /// Decompression, from its name.
    pub compression: Compression,
    /// Still written to: an unterminated last line is held back.
    pub live: bool,
    /// Found under another name than its position's.
    pub renamed: bool,
    /// Not an input: found by following a renamed file.
    pub followed: bool,
    /// Files holding copies of its content.
    pub copies: Vec<CopyOf>,
}

/// What a run reads, and the positions it starts from.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Inputs to read, in reading order: files read on from a position
    /// first, then new ones.
    pub items: Vec<Planned>,
    /// Inputs with nothing new.
    pub unchanged: u64,
    /// Inputs that cannot be read, one message each.
    pub failed: Vec<String>,
    /// Things the user may want to know (a file given twice).
    pub notes: Vec<String>,
    /// The committed positions re-keyed to where their files are now,
    /// positions of vanished files dropped: what the run's first commit
    /// writes, with what it read.
    pub positions: Positions,
}

/// How a file relates to a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// It holds the position's bytes and more: read on from it.
    Continues,
    /// It holds exactly what was read.
    Unchanged,
    /// A plain copy shorter than the position: all of it was read (and
    /// what it may still get up to the position).
    Within,
}

/// A file looked at while planning.
struct Candidate {
    path: PathBuf,
    key: String,
    id: FileIdentity,
    compression: Compression,
    /// Given on the command line (not found by following).
    input: bool,
    /// Its first `HEAD_LEN` decoded bytes, read when first needed
    /// (`Some(None)`: unreadable).
    head: Option<Option<Vec<u8>>>,
}

impl Candidate {
    fn new(path: &Path, md: &fs::Metadata, input: bool) -> Candidate {
        Candidate {
            path: path.to_path_buf(),
            key: path.display().to_string(),
            id: FileIdentity::of(md),
            compression: Compression::of(path),
            input,
            head: None,
        }
    }

    fn head_matches(&mut self, head_len: u64, head_hash: u64, raw: bool) -> bool {
        if head_len == 0 {
            return true;
        }
        if raw && self.compression != Compression::None {
            // Manifests before the tail hash hashed a compressed file's own bytes.
            return File::open(&self.path)
                .and_then(|f| source::hash_at(&f, 0, head_len))
                .is_ok_and(|h| h == Some(head_hash));
        }
        match self.head() {
            Some(h) if h.len() as u64 >= head_len => {
                source::hash(&h[..head_len as usize]) == head_hash
            }
            _ => false,
        }
    }

    /// Its first `HEAD_LEN` decoded bytes, read once (`None`: unreadable).
    fn head(&mut self) -> Option<&[u8]> {
        let (path, compression) = (&self.path, self.compression);
        self.head
            .get_or_insert_with(|| source::decoded_head(path, compression, HEAD_LEN as usize).ok())
            .as_deref()
    }

    /// The bytes before `p.offset` hash as recorded (plain files).
    fn tail_matches(&self, p: &Position) -> bool {
        if p.tail_len == 0 {
            return true;
        }
        if p.tail_len > p.offset {
            return false;
        }
        File::open(&self.path)
            .and_then(|f| source::hash_at(&f, p.offset - p.tail_len, p.tail_len))
            .is_ok_and(|h| h == Some(p.tail_hash))
    }

    /// How this file relates to `p`; `by_inode`: it has `p`'s inode.
    fn verify(&mut self, p: &Position, by_inode: bool) -> Option<Verdict> {
        let legacy = p.tail_len == 0 && p.offset > 0;
        if self.compression != Compression::None {
            if by_inode
                && self.id.size == p.size
                && (legacy || self.head_matches(p.head_len, p.head_hash, false))
            {
                return Some(Verdict::Unchanged);
            }
            if by_inode && legacy {
                return self
                    .head_matches(p.head_len, p.head_hash, true)
                    .then_some(Verdict::Continues);
            }
            return self
                .head_matches(p.head_len, p.head_hash, false)
                .then_some(Verdict::Continues);
        }
        if !self.head_matches(p.head_len, p.head_hash, false) {
            return None;
        }
        if self.id.size < p.offset {
            // Another file: a copy made (or still being made) before the
            // position was reached. The same inode shorter: truncated
            // (`copytruncate`) when it is under its first name; a rotated
            // file (renamed, or a copy whose position follows its
            // original's) shorter than the content read is a copy that was
            // still being written — the rest of it was read already.
            return (!by_inode || p.name.is_some()).then_some(Verdict::Within);
        }
        if !self.tail_matches(p) {
            return None;
        }
        Some(if self.id.size == p.offset {
            Verdict::Unchanged
        } else {
            Verdict::Continues
        })
    }
}

/// A file claiming a position.
#[derive(Debug, Clone, Copy)]
struct Claim {
    file: usize,
    verdict: Verdict,
    by_inode: bool,
}

/// Decides, for every input, where reading starts and under which name,
/// from the committed positions `old` (see the module docs).
///
/// With `missing_ok` (`ingest --follow`) an input file that does not exist
/// is no failure: it was rotated away and is not created again yet, or not
/// created at all yet. Its position is still followed to wherever its file
/// went, so the lines appended just before the rename are read now.
pub(crate) fn plan(inputs: &[Input], old: &Positions, from_start: bool, missing_ok: bool) -> Plan {
    let mut plan = Plan {
        positions: old.clone(),
        ..Default::default()
    };
    let mut cands: Vec<Candidate> = Vec::new();
    let mut streams: Vec<Planned> = Vec::new();
    let mut seen: HashMap<(u64, u64), usize> = HashMap::new();
    let mut missing: Vec<String> = Vec::new();
    for input in inputs {
        let path = match input {
            Input::Stdin => {
                streams.push(stream(input.clone()));
                continue;
            }
            Input::File(p) => p,
        };
        match fs::metadata(path) {
            Err(e) if missing_ok && e.kind() == std::io::ErrorKind::NotFound => {
                missing.push(path.display().to_string());
            }
            Err(e) => plan
                .failed
                .push(format!("{}: cannot open: {e}", path.display())),
            Ok(md) if md.is_dir() => plan.failed.push(format!(
                "{}: is a directory (use --recursive or a glob)",
                path.display()
            )),
            // A FIFO or a device: read as a stream, like stdin.
            Ok(md) if !md.is_file() => streams.push(stream(input.clone())),
            Ok(md) => {
                let c = Candidate::new(path, &md, true);
                if let Some(&i) = seen.get(&(c.id.dev, c.id.ino)) {
                    plan.notes.push(format!(
                        "{}: the same file as {}; read once",
                        c.key, cands[i].key
                    ));
                    continue;
                }
                seen.insert((c.id.dev, c.id.ino), cands.len());
                cands.push(c);
            }
        }
    }
    if from_start {
        let paths: HashSet<&str> = cands.iter().map(|c| c.key.as_str()).collect();
        plan.positions
            .retain(|k, p| !paths.contains(k.as_str()) && !seen.contains_key(&(p.dev, p.ino)));
        plan.items = cands.into_iter().map(fresh).collect();
        plan.items.extend(streams);
        return plan;
    }

    let mut by_inode: HashMap<(u64, u64), Vec<&str>> = HashMap::new();
    let mut by_dir: HashMap<&Path, Vec<&str>> = HashMap::new();
    for (k, p) in old {
        by_inode.entry((p.dev, p.ino)).or_default().push(k);
        if let Some(dir) = Path::new(k).parent() {
            by_dir.entry(dir).or_default().push(k);
        }
    }
    let mut claims: BTreeMap<String, Vec<Claim>> = BTreeMap::new();
    let mut superseded: HashSet<String> = HashSet::new();
    let mut claimed: Vec<bool> = vec![false; cands.len()];

    // By inode.
    for (fi, c) in cands.iter_mut().enumerate() {
        let Some(keys) = by_inode.get(&(c.id.dev, c.id.ino)) else {
            continue;
        };
        let mut best: Option<(&str, Verdict)> = None;
        for &k in keys {
            let Some(v) = c.verify(&old[k], true) else {
                continue;
            };
            let better = match best {
                None => true,
                Some((b, _)) => k == c.key || (b != c.key && old[k].offset > old[b].offset),
            };
            if better {
                best = Some((k, v));
            }
        }
        if let Some((k, verdict)) = best {
            claims.entry(k.to_string()).or_default().push(Claim {
                file: fi,
                verdict,
                by_inode: true,
            });
            claimed[fi] = true;
            // Older records of this same file (say from before --from-start).
            for &other in keys {
                if other != k && c.verify(&old[other], true).is_some() {
                    superseded.insert(other.to_string());
                }
            }
        }
    }

    // By content, among the rotated names of a position's file.
    for fi in 0..cands.len() {
        if claimed[fi] {
            continue;
        }
        if let Some((k, claim)) = content_claim(&mut cands[fi], fi, old, &by_dir, &superseded) {
            claims.entry(k).or_default().push(claim);
            claimed[fi] = true;
        }
    }

    // A copy begun but too short yet for a position's head to be hashed
    // (`copytruncate` has written less than `HEAD_LEN` of it): under a
    // rotated name, its bytes are the start of a file of its family found
    // by inode. It is a copy of that file's content, not a new file —
    // whatever its mtime says. (Rotated names only: new small files of a
    // glob are not each compared with every file read on.)
    for fi in 0..cands.len() {
        let c = &cands[fi];
        if claimed[fi]
            || c.compression != Compression::None
            || c.id.size >= HEAD_LEN
            || !source::looks_rotated(&c.path)
        {
            continue;
        }
        if let Some(k) = short_copy_of(&mut cands, fi, &claims) {
            claims.entry(k).or_default().push(Claim {
                file: fi,
                verdict: Verdict::Within,
                by_inode: false,
            });
            claimed[fi] = true;
        }
    }

    // Positions of this run's files that no input claims: follow them.
    let mut listed: HashMap<PathBuf, Vec<(PathBuf, u64)>> = HashMap::new();
    let mut in_plan: HashSet<PathBuf> = cands.iter().map(|c| c.path.clone()).collect();
    let inputs_named: HashSet<String> =
        cands.iter().map(|c| c.key.clone()).chain(missing).collect();
    let mut dropped: Vec<String> = Vec::new();
    loop {
        // A position whose key is now some other planned file's path was
        // displaced: it is looked for too, but only re-keyed unless it
        // belongs to this run (its labels are this run's to give).
        let keys_in_plan: HashSet<String> = cands.iter().map(|c| c.key.clone()).collect();
        let pending: Vec<(&String, &Position, bool)> = old
            .iter()
            .filter(|(k, _)| {
                !claims.contains_key(*k) && !superseded.contains(*k) && !dropped.contains(k)
            })
            .filter_map(|(k, p)| {
                let ours = inputs_named.contains(k)
                    || p.name.as_ref().is_some_and(|n| inputs_named.contains(n));
                (ours || keys_in_plan.contains(k)).then_some((k, p, ours))
            })
            .collect();
        if pending.is_empty() {
            break;
        }
        for (k, p, ours) in pending {
            let found = chase(k, p, &mut cands, &mut listed, &mut in_plan, &seen);
            if found.is_empty() {
                dropped.push(k.clone());
                continue;
            }
            for mut claim in found {
                if !ours && claim.verdict == Verdict::Continues {
                    // Not ours to read: keep the position where it was.
                    claim.verdict = Verdict::Unchanged;
                }
                claims.entry(k.clone()).or_default().push(claim);
            }
        }
    }
    for k in dropped.iter().chain(superseded.iter()) {
        plan.positions.remove(k);
    }

    // One reader per position; the other holders of its content are copies.
    let mut resumed: Vec<(usize, Planned)> = Vec::new();
    let mut is_member = vec![false; cands.len()];
    // Every claimed key goes before any is written again: a file may now
    // be where another position's file was.
    for k in claims.keys() {
        plan.positions.remove(k);
    }
    for (k, members) in &claims {
        let p = &old[k];
        let name = p.name.clone().unwrap_or_else(|| k.clone());
        let primary = members
            .iter()
            .copied()
            .find(|m| m.by_inode)
            .or_else(|| {
                members
                    .iter()
                    .copied()
                    .filter(|m| cands[m.file].compression == Compression::None)
                    .max_by_key(|m| cands[m.file].id.size)
            })
            .unwrap_or(members[0]);
        let copies: Vec<CopyOf> = members
            .iter()
            .filter(|m| m.file != primary.file)
            .map(|m| CopyOf {
                key: cands[m.file].key.clone(),
                id: cands[m.file].id,
            })
            .collect();
        for m in members {
            is_member[m.file] = true;
        }
        let c = &cands[primary.file];
        let pos = Position {
            dev: c.id.dev,
            ino: c.id.ino,
            size: c.id.size,
            name: (name != c.key).then(|| name.clone()),
            ..p.clone()
        };
        // A copy shorter than the position (`Within`) keeps the position's
        // offset: the content it holds, and may still get, was read.
        for cp in &copies {
            plan.positions
                .insert(cp.key.clone(), cp.position(&c.key, &pos));
        }
        plan.positions.insert(c.key.clone(), pos.clone());
        for m in members {
            if cands[m.file].input
                && (m.file != primary.file || primary.verdict != Verdict::Continues)
            {
                plan.unchanged += 1;
            }
        }
        if primary.verdict == Verdict::Continues {
            let live = c.compression == Compression::None
                && c.key == name
                && !source::looks_rotated(&c.path);
            resumed.push((
                primary.file,
                Planned {
                    input: Input::File(c.path.clone()),
                    name,
                    start: Start::Resume(pos),
                    id: Some(c.id),
                    compression: c.compression,
                    live,
                    renamed: c.key != *k,
                    followed: !c.input,
                    copies,
                },
            ));
        }
    }
    resumed.sort_by_key(|(fi, _)| *fi);
    plan.items = resumed.into_iter().map(|(_, p)| p).collect();
    let now_ns = jiff::Timestamp::now().as_nanosecond() as i64;
    let fresh_items: Vec<Planned> = cands
        .into_iter()
        .enumerate()
        .filter(|(fi, _)| !is_member[*fi])
        // A new file under a rotated name modified just now may be a copy
        // being written (`copytruncate`, `compress`): a follower looking
        // again soon leaves it until it is complete and can be recognised.
        .filter(|(_, c)| !(missing_ok && settling(&c.path, c.id.mtime_ns, now_ns)))
        // An empty file under a rotated name has nothing to read, and a
        // position at its start would make a copy being written into it
        // a file of its own: it is looked at again once it has bytes.
        .filter(|(_, c)| !(c.id.size == 0 && source::looks_rotated(&c.path)))
        .map(|(_, c)| fresh(c))
        .collect();
    plan.items.extend(fresh_items);
    plan.items.extend(streams);
    plan
}

/// A file read from its start under its own name.
/// How long a new file under a rotated name must be left unmodified before
/// `ingest --follow` reads it as a file of its own.
pub(crate) const SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// True for a file under a rotated name modified within [`SETTLE`].
pub(crate) fn settling(path: &Path, mtime_ns: i64, now_ns: i64) -> bool {
    source::looks_rotated(path) && now_ns.saturating_sub(mtime_ns) < SETTLE.as_nanos() as i64
}

fn fresh(c: Candidate) -> Planned {
    Planned {
        live: c.compression == Compression::None && !source::looks_rotated(&c.path),
        name: c.key,
        input: Input::File(c.path),
        start: Start::Fresh,
        id: Some(c.id),
        compression: c.compression,
        renamed: false,
        followed: false,
        copies: Vec::new(),
    }
}

/// Standard input, a FIFO or a device: read to its end, no position.
fn stream(input: Input) -> Planned {
    Planned {
        name: input.display(),
        input,
        start: Start::Fresh,
        id: None,
        compression: Compression::None,
        live: false,
        renamed: false,
        followed: false,
        copies: Vec::new(),
    }
}

/// The best position in the file's directory that `c` is a copy of.
fn content_claim(
    c: &mut Candidate,
    fi: usize,
    old: &Positions,
    by_dir: &HashMap<&Path, Vec<&str>>,
    superseded: &HashSet<String>,
) -> Option<(String, Claim)> {
    let dir = c.path.parent()?;
    let mut best: Option<(&str, Verdict)> = None;
    for &k in by_dir.get(dir)? {
        let p = &old[k];
        if p.head_len == 0 || superseded.contains(k) || !in_family(k, p, &c.path) {
            continue;
        }
        let Some(v) = c.verify(p, false) else {
            continue;
        };
        let rank = |v: Verdict, p: &Position| (v != Verdict::Within, p.offset);
        if best.is_none_or(|(b, bv)| rank(v, p) > rank(bv, &old[b])) {
            best = Some((k, v));
        }
    }
    best.map(|(k, verdict)| {
        (
            k.to_string(),
            Claim {
                file: fi,
                verdict,
                by_inode: false,
            },
        )
    })
}

/// The key of the position whose file, found by inode, starts with all of
/// the short plain file `cands[fi]` (see the caller).
fn short_copy_of(
    cands: &mut [Candidate],
    fi: usize,
    claims: &BTreeMap<String, Vec<Claim>>,
) -> Option<String> {
    if cands[fi].id.size == 0 {
        return None;
    }
    let bytes = cands[fi].head()?.to_vec();
    if bytes.is_empty() {
        return None;
    }
    let path = cands[fi].path.clone();
    let mut found: Option<(bool, &String)> = None;
    for (k, members) in claims {
        for m in members {
            let o = &mut cands[m.file];
            if m.by_inode
                && o.compression == Compression::None
                && source::same_family(&o.path, &path)
                && o.head().is_some_and(|h| h.starts_with(&bytes))
            {
                // The file being copied is the live one; an older rotated
                // file may start the same way (a header every log has).
                let live = !source::looks_rotated(&o.path);
                if found.is_none_or(|(l, _)| live && !l) {
                    found = Some((live, k));
                }
            }
        }
    }
    found.map(|(_, k)| k.clone())
}

/// `path` has a rotated name of the file of position `p` at key `k`.
fn in_family(k: &str, p: &Position, path: &Path) -> bool {
    source::same_family(Path::new(k), path)
        || p.name
            .as_ref()
            .is_some_and(|n| source::same_family(Path::new(n), path))
}

/// Looks in the directory of position `k` for its file: the same inode
/// under any name, else rotated copies of it. Files found are added to
/// `cands` (as not given) and returned as claims.
fn chase(
    k: &str,
    p: &Position,
    cands: &mut Vec<Candidate>,
    listed: &mut HashMap<PathBuf, Vec<(PathBuf, u64)>>,
    in_plan: &mut HashSet<PathBuf>,
    seen: &HashMap<(u64, u64), usize>,
) -> Vec<Claim> {
    let Some(dir) = Path::new(k).parent() else {
        return Vec::new();
    };
    let entries = listed
        .entry(dir.to_path_buf())
        .or_insert_with(|| list_dir(dir));
    let mut out = Vec::new();
    let take = |c: Candidate,
                verdict: Verdict,
                by_inode: bool,
                cands: &mut Vec<Candidate>,
                in_plan: &mut HashSet<PathBuf>| {
        in_plan.insert(c.path.clone());
        cands.push(c);
        Claim {
            file: cands.len() - 1,
            verdict,
            by_inode,
        }
    };
    let regular = |path: &Path| {
        let md = fs::metadata(path).ok().filter(|m| m.is_file())?;
        let id = FileIdentity::of(&md);
        (!seen.contains_key(&(id.dev, id.ino))).then_some(md)
    };
    // The same inode, renamed.
    for (path, ino) in entries.iter() {
        if *ino != p.ino || in_plan.contains(path) {
            continue;
        }
        let Some(md) = regular(path) else { continue };
        let mut c = Candidate::new(path, &md, false);
        if c.id.dev != p.dev {
            continue;
        }
        if let Some(verdict) = c.verify(p, true) {
            return vec![take(c, verdict, true, cands, in_plan)];
        }
    }
    // Rotated copies (copytruncate, compressed).
    if p.head_len == 0 {
        return out;
    }
    for (path, _) in entries.iter() {
        if in_plan.contains(path) || !in_family(k, p, path) {
            continue;
        }
        let Some(md) = regular(path) else { continue };
        let mut c = Candidate::new(path, &md, false);
        if let Some(verdict) = c.verify(p, false) {
            out.push(take(c, verdict, false, cands, in_plan));
        }
    }
    out
}

/// A directory's entries with their inode numbers (read from the directory
/// itself: no file is opened), sorted by name.
fn list_dir(dir: &Path) -> Vec<(PathBuf, u64)> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, u64)> = rd
        .flatten()
        .map(|e| {
            #[cfg(unix)]
            let ino = std::os::unix::fs::DirEntryExt::ino(&e);
            #[cfg(not(unix))]
            let ino = 0;
            (e.path(), ino)
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A position for the whole of `path` as it is now.
    fn read_all(path: &Path) -> Position {
        let bytes = fs::read(path).unwrap();
        let md = fs::metadata(path).unwrap();
        let id = FileIdentity::of(&md);
        let head = bytes.len().min(HEAD_LEN as usize);
        let tail = bytes.len().min(HEAD_LEN as usize);
        Position {
            dev: id.dev,
            ino: id.ino,
            offset: bytes.len() as u64,
            size: id.size,
            head_len: head as u64,
            head_hash: source::hash(&bytes[..head]),
            tail_len: tail as u64,
            tail_hash: source::hash(&bytes[bytes.len() - tail..]),
            ..Default::default()
        }
    }

    fn lines(tag: &str, n: usize) -> String {
        (0..n)
            .map(|i| format!("2024-01-01T00:00:{i:02}Z {tag} {i}\n"))
            .collect()
    }

    fn key(p: &Path) -> String {
        p.display().to_string()
    }

    fn files(paths: &[&Path]) -> Vec<Input> {
        paths.iter().map(|p| Input::File(p.to_path_buf())).collect()
    }

    /// The items read on from a position.
    fn resumed(plan: &Plan) -> Vec<&Planned> {
        plan.items
            .iter()
            .filter(|i| matches!(i.start, Start::Resume(_)))
            .collect()
    }

    #[test]
    fn a_renamed_file_is_read_on_under_its_new_name_before_the_new_one() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("access.log");
        fs::write(&log, lines("a", 30)).unwrap();
        let old: Positions = [(key(&log), read_all(&log))].into();
        let mut more = fs::read(&log).unwrap();
        more.extend(lines("b", 5).as_bytes());
        fs::write(&log, &more).unwrap();
        let rotated = d.path().join("access.log.1");
        fs::rename(&log, &rotated).unwrap();
        fs::write(&log, lines("c", 3)).unwrap();
        for inputs in [files(&[&log]), files(&[&log, &rotated])] {
            let plan = plan(&inputs, &old, false, false);
            assert_eq!(plan.items.len(), 2);
            let first = &plan.items[0];
            assert_eq!(first.input, Input::File(rotated.clone()));
            assert_eq!(first.name, key(&log), "keeps its first name");
            assert!(matches!(&first.start, Start::Resume(p) if p.offset == old[&key(&log)].offset));
            assert!(first.renamed && !first.live);
            assert_eq!(first.followed, inputs.len() == 1);
            assert_eq!(plan.items[1].input, Input::File(log.clone()));
            assert_eq!(plan.items[1].start, Start::Fresh);
            assert!(plan.items[1].live);
            // Re-keyed: the old key is free for the new file.
            assert!(!plan.positions.contains_key(&key(&log)));
            assert_eq!(
                plan.positions[&key(&rotated)].name.as_deref(),
                Some(key(&log).as_str())
            );
        }
    }

    #[test]
    fn a_reused_inode_or_a_truncated_file_is_not_the_same_file() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("app.log");
        fs::write(&log, lines("a", 30)).unwrap();
        let mut p = read_all(&log);
        // The inode now holds other bytes of the same length or more.
        fs::write(&log, lines("z", 40)).unwrap();
        let plan1 = plan(
            &files(&[&log]),
            &[(key(&log), p.clone())].into(),
            false,
            false,
        );
        assert_eq!(plan1.items[0].start, Start::Fresh);
        // Truncated (copytruncate): shorter than the position.
        fs::write(&log, lines("a", 3)).unwrap();
        let plan2 = plan(
            &files(&[&log]),
            &[(key(&log), p.clone())].into(),
            false,
            false,
        );
        assert_eq!(plan2.items[0].start, Start::Fresh);
        // The same bytes and more: read on.
        fs::write(&log, lines("a", 30) + &lines("b", 2)).unwrap();
        let plan3 = plan(
            &files(&[&log]),
            &[(key(&log), p.clone())].into(),
            false,
            false,
        );
        assert!(matches!(plan3.items[0].start, Start::Resume(_)));
        // The same head, other bytes before the position: not the same.
        p.tail_hash ^= 1;
        let plan4 = plan(&files(&[&log]), &[(key(&log), p)].into(), false, false);
        assert_eq!(plan4.items[0].start, Start::Fresh);
    }

    #[test]
    fn copies_are_found_by_content_and_not_read_twice() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("app.log");
        fs::write(&log, lines("a", 30)).unwrap();
        let p = read_all(&log);
        let mut grown = fs::read(&log).unwrap();
        grown.extend(lines("b", 4).as_bytes());
        // copytruncate: the copy holds the old bytes and what was appended;
        // the original starts again.
        let copy = d.path().join("app.log.1");
        fs::write(&copy, &grown).unwrap();
        fs::write(&log, lines("c", 2)).unwrap();
        let old: Positions = [(key(&log), p.clone())].into();
        let plan1 = plan(&files(&[&log]), &old, false, false);
        let resumed1 = resumed(&plan1);
        assert_eq!(resumed1.len(), 1);
        assert_eq!(resumed1[0].input, Input::File(copy.clone()));
        assert_eq!(resumed1[0].name, key(&log));
        // Compressed as well (delaycompress's next step): the plain copy is
        // read, the compressed one follows it.
        let gz = d.path().join("app.log.2.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, &grown).unwrap();
        fs::write(&gz, enc.finish().unwrap()).unwrap();
        let plan2 = plan(&files(&[&log, &copy, &gz]), &old, false, false);
        let resumed2 = resumed(&plan2);
        assert_eq!(resumed2.len(), 1);
        assert_eq!(resumed2[0].input, Input::File(copy.clone()));
        assert_eq!(resumed2[0].copies.len(), 1);
        assert_eq!(resumed2[0].copies[0].key, key(&gz));
        assert!(!plan2
            .items
            .iter()
            .any(|i| i.input == Input::File(gz.clone())));
        // Only the compressed copy left: it is read on from the position.
        fs::remove_file(&copy).unwrap();
        let plan3 = plan(&files(&[&log]), &old, false, false);
        let resumed3 = resumed(&plan3);
        assert_eq!(resumed3.len(), 1);
        assert_eq!(resumed3[0].input, Input::File(gz.clone()));
        assert!(resumed3[0].followed && !resumed3[0].live);
    }

    /// A directory with an `app.log` of 200 lines, and its position once
    /// read to its end.
    fn app_log_read() -> (tempfile::TempDir, PathBuf, String, Positions) {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("app.log");
        let all = lines("a", 200);
        fs::write(&log, &all).unwrap();
        let old: Positions = [(key(&log), read_all(&log))].into();
        (d, log, all, old)
    }

    #[test]
    fn a_copy_still_being_written_keeps_the_position_of_what_was_read() {
        // `copytruncate` seen half-way: the copy holds part of what was
        // read when the plan looks (or its size was taken before it grew),
        // then it is completed and the original truncated. What the copy
        // gets after the first look was read from the original already.
        let (d, log, all, old) = app_log_read();
        let copy = d.path().join("app.log.4");
        fs::write(&copy, &all.as_bytes()[..all.len() / 2]).unwrap();
        let inputs = files(&[&log, &copy]);
        let plan1 = plan(&inputs, &old, false, true);
        assert!(resumed(&plan1).is_empty(), "nothing new: {:?}", plan1.items);
        let p = &plan1.positions[&key(&copy)];
        assert_eq!(p.offset, old[&key(&log)].offset, "the content read");
        assert_eq!(p.name.as_deref(), Some(key(&log).as_str()), "one log");
        // The copy completed, the original truncated and written again.
        fs::write(&copy, &all).unwrap();
        fs::write(&log, lines("b", 3)).unwrap();
        let plan2 = plan(&inputs, &plan1.positions, false, true);
        assert!(resumed(&plan2).is_empty(), "read again: {:?}", plan2.items);
        assert_eq!(plan2.items.len(), 1);
        assert_eq!(plan2.items[0].input, Input::File(log.clone()));
        assert_eq!(plan2.items[0].start, Start::Fresh);
        assert_eq!(plan2.positions[&key(&copy)].offset, all.len() as u64);
        // Had it stopped short of the position (the original grew after
        // the copy), it stays recognised with nothing to read.
        fs::write(&copy, &all.as_bytes()[..all.len() - 10]).unwrap();
        let plan3 = plan(&inputs, &plan1.positions, false, true);
        assert!(resumed(&plan3).is_empty(), "{:?}", plan3.items);
        assert_eq!(plan3.positions[&key(&copy)].offset, all.len() as u64);
    }

    #[test]
    fn a_copy_too_short_to_hash_yet_is_a_copy_not_a_new_file() {
        // Less than `HEAD_LEN` of the copy written: recognised by its bytes
        // being the start of its original's, not by the time (no settling:
        // a one-shot run); an empty rotated file is left until it has bytes.
        let (d, log, all, mut old) = app_log_read();
        let copy = d.path().join("app.log.1");
        fs::write(&copy, &all.as_bytes()[..100]).unwrap();
        let empty = d.path().join("app.log.2");
        fs::write(&empty, "").unwrap();
        // An older rotated file that starts the same way (a header): the
        // copy is of the live file (this one is planned before it).
        let older = d.path().join("app.20241130");
        fs::write(&older, all[..100].to_string() + &lines("z", 10)).unwrap();
        let mut p = read_all(&older);
        p.name = Some(key(&log));
        old.insert(key(&older), p);
        let inputs = files(&[&log, &copy, &empty, &older]);
        let plan1 = plan(&inputs, &old, false, false);
        assert!(plan1.items.is_empty(), "{:?}", plan1.items);
        assert_eq!(plan1.positions[&key(&copy)].offset, all.len() as u64);
        // Bytes of its own: a new file.
        fs::write(&copy, "2024-01-01T00:00:00Z other\n").unwrap();
        let plan2 = plan(&inputs, &old, false, false);
        assert_eq!(plan2.items.len(), 1);
        assert_eq!(plan2.items[0].input, Input::File(copy.clone()));
        assert_eq!(plan2.items[0].start, Start::Fresh);
    }

    #[test]
    fn positions_of_vanished_files_are_dropped_and_others_kept() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("app.log");
        let other = d.path().join("other.log");
        fs::write(&log, lines("a", 10)).unwrap();
        fs::write(&other, lines("o", 10)).unwrap();
        let old: Positions = [(key(&log), read_all(&log)), (key(&other), read_all(&other))].into();
        fs::remove_file(&log).unwrap();
        fs::write(&log, lines("n", 1)).unwrap();
        let plan = plan(&files(&[&log]), &old, false, false);
        assert_eq!(plan.items.len(), 1);
        assert_eq!(plan.items[0].start, Start::Fresh);
        assert!(!plan.positions.contains_key(&key(&log)), "its file is gone");
        assert_eq!(
            plan.positions[&key(&other)],
            old[&key(&other)],
            "not this run's"
        );
    }

    #[test]
    fn one_file_under_two_names_is_planned_once() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("a.log");
        fs::write(&log, lines("a", 3)).unwrap();
        let link = d.path().join("b.log");
        fs::hard_link(&log, &link).unwrap();
        let plan = plan(&files(&[&log, &link]), &Positions::new(), false, false);
        assert_eq!(plan.items.len(), 1);
        assert_eq!(plan.notes.len(), 1);
    }
}
