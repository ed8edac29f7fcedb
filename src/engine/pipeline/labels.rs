//! The per-line label state of a pipeline (Loki's `LabelsBuilder`) and the label sets it
//! hands back ([`LabelsResult`]).
//!
//! A line's labels come from three sources with Loki's precedence: stream labels (the
//! base), structured metadata, and parsed labels (from parsers and `label_format`). The
//! builder keeps them apart because the rules depend on the source: a parsed key that
//! clashes with a stream or metadata label becomes `key_extracted`; parsed values shadow
//! metadata and stream values in later stages; `drop` deletes across sources.
//!
//! Everything here is reused from line to line: [`Pairs`] keeps its `String`s' capacity,
//! so after the first few lines the common path allocates nothing.

use std::collections::HashMap;
use std::fmt;

use crate::go::strconv::quote;
use crate::model::Labels;

/// `__error__`: the error label set by failing stages.
pub const ERROR_LABEL: &str = "__error__";
/// `__error_details__`: the underlying message of `__error__`.
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";
/// `__preserve_error__`: kept by `keep` like the error labels.
pub const PRESERVE_ERROR_LABEL: &str = "__preserve_error__";
/// Suffix given to a parsed key that clashes with a stream or metadata label.
pub const DUPLICATE_SUFFIX: &str = "_extracted";

/// Most distinct label sets a stream pipeline caches; past that the cache is cleared.
/// Bounds memory on high-cardinality parsed labels (request ids and the like), where
/// caching would not pay off anyway.
const MAX_CACHED_RESULTS: usize = 4096;

/// A list of name/value pairs whose `String`s are reused across lines: clearing only
/// resets the length, so refilling copies bytes into existing buffers.
#[derive(Debug, Default, Clone)]
pub struct Pairs {
    v: Vec<(String, String)>,
    len: usize,
}

impl Pairs {
    /// Empties the list (keeps the buffers).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pairs.
    pub fn as_slice(&self) -> &[(String, String)] {
        &self.v[..self.len]
    }

    /// Iterates over the pairs as `&str`s.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.as_slice()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Position of `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.as_slice().iter().position(|(n, _)| n == name)
    }

    /// Value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.as_slice()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// Appends a pair without checking for duplicates.
    pub fn push(&mut self, name: &str, value: &str) {
        if self.len < self.v.len() {
            let (n, v) = &mut self.v[self.len];
            n.clear();
            n.push_str(name);
            v.clear();
            v.push_str(value);
        } else {
            self.v.push((name.to_string(), value.to_string()));
        }
        self.len += 1;
    }

    /// Sets `name` (replacing its value if present).
    pub fn set(&mut self, name: &str, value: &str) {
        match self.find(name) {
            Some(i) => {
                let v = &mut self.v[i].1;
                v.clear();
                v.push_str(value);
            }
            None => self.push(name, value),
        }
    }

    /// Removes `name`, keeping the order of the others (and every buffer).
    pub fn remove(&mut self, name: &str) -> bool {
        match self.find(name) {
            Some(i) => {
                self.v[i..self.len].rotate_left(1);
                self.len -= 1;
                true
            }
            None => false,
        }
    }

    /// Sorts by name.
    pub fn sort(&mut self) {
        let len = self.len;
        self.v[..len].sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }
}

/// Which parser keys a query needs (Loki's parser hints); `None` extracts everything.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    names: Option<Vec<String>>,
}

impl Hints {
    /// Hints for the given required label names. Like Loki, a name ending in
    /// `_extracted` also requires its base name, because parsers decide on the suffix
    /// only after consulting the hints.
    pub fn new(names: Option<&[String]>) -> Hints {
        Hints {
            names: names.map(|ns| {
                let mut v: Vec<String> = Vec::new();
                for n in ns {
                    v.push(n.clone());
                    if let Some(b) = n.strip_suffix(DUPLICATE_SUFFIX) {
                        v.push(b.to_string());
                    }
                }
                v.sort();
                v.dedup();
                v
            }),
        }
    }

    /// Whether a parser should extract `key`.
    pub fn should_extract(&self, key: &str) -> bool {
        match &self.names {
            None => true,
            Some(ns) => ns.iter().any(|n| n == key),
        }
    }

    /// Whether `key` or its clash-renamed form (`key_extracted`) is wanted:
    /// lets a parser skip a key before the costlier clash check.
    pub fn might_extract(&self, key: &str) -> bool {
        self.might_extract_bytes(key.as_bytes())
    }

    /// [`Self::might_extract`] on raw bytes, so a parser can reject a key
    /// before sanitizing or validating it.
    pub fn might_extract_bytes(&self, key: &[u8]) -> bool {
        match &self.names {
            None => true,
            Some(ns) => ns.iter().any(|n| {
                let n = n.as_bytes();
                // Lengths first: most keys are rejected without comparing bytes.
                (n.len() == key.len() && n == key)
                    || (n.len() == key.len() + DUPLICATE_SUFFIX.len()
                        && n.ends_with(DUPLICATE_SUFFIX.as_bytes())
                        && n.starts_with(key))
            }),
        }
    }

    /// Whether extraction is restricted by hints at all.
    pub fn restricted(&self) -> bool {
        self.names.is_some()
    }

    /// Whether any required key starts with `prefix` (json descends only then).
    pub fn should_extract_prefix(&self, prefix: &str) -> bool {
        match &self.names {
            None => true,
            Some(ns) => ns.iter().any(|n| n.starts_with(prefix)),
        }
    }
}

/// The label set of one processed line: sorted names, `__error__` and
/// `__error_details__` included when set, with a precomputed 64-bit hash so that the
/// engine can group samples by series without hashing again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelsResult {
    pairs: Vec<(String, String)>,
    hash: u64,
}

impl LabelsResult {
    fn new(pairs: Vec<(String, String)>) -> LabelsResult {
        let hash = hash_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        LabelsResult { pairs, hash }
    }

    /// The pairs, sorted by name.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// A hash of the pairs (xxh3 over `name 0xff value 0xff …`); equal label sets have
    /// equal hashes within one process. It is not [`Labels::fingerprint`].
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.pairs[i].1.as_str())
    }

    /// The `__error__` value, if the line failed a stage.
    pub fn error(&self) -> Option<&str> {
        self.get(ERROR_LABEL)
    }

    /// Whether `__preserve_error__="true"` is set.
    pub fn preserve_error(&self) -> bool {
        self.get(PRESERVE_ERROR_LABEL) == Some("true")
    }

    /// Copies the set into a [`Labels`].
    pub fn to_labels(&self) -> Labels {
        Labels::from_pairs(self.pairs.iter().cloned())
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

impl fmt::Display for LabelsResult {
    /// Loki's form: `{app="api", level="error"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (n, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n}={}", quote(v))?;
        }
        f.write_str("}")
    }
}

fn hash_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (n, v) in pairs {
        h.update(n.as_bytes());
        h.update(&[0xff]);
        h.update(v.as_bytes());
        h.update(&[0xff]);
    }
    h.digest()
}

/// Per-stream label state, reset for every line.
#[derive(Debug)]
pub struct LabelsBuilder {
    /// Stream labels, sorted by name; never modified (deletions go to `del`).
    base: Vec<(String, String)>,
    meta: Pairs,
    parsed: Pairs,
    /// Deleted names (they hide stream labels; metadata and parsed labels are removed).
    del: Pairs,
    err: String,
    err_details: String,
    /// Keys set as parsed labels on this line: later parser stages skip them.
    extracted: Pairs,
    pub(crate) hints: Hints,
    /// Scratch for building results.
    out: Pairs,
    base_result: LabelsResult,
    cache: HashMap<u64, Box<LabelsResult>>,
    scratch: LabelsResult,
}

impl LabelsBuilder {
    /// A builder over the stream labels `base` (any order). Empty-valued labels are
    /// left out: in Loki (as in Prometheus) a label with an empty value does not exist,
    /// and streams are stored without them.
    pub fn new(base: &[(String, String)], hints: Hints) -> LabelsBuilder {
        let mut b = LabelsBuilder {
            base: Vec::new(),
            meta: Pairs::default(),
            parsed: Pairs::default(),
            del: Pairs::default(),
            err: String::new(),
            err_details: String::new(),
            extracted: Pairs::default(),
            hints,
            out: Pairs::default(),
            base_result: LabelsResult::new(Vec::new()),
            cache: HashMap::new(),
            scratch: LabelsResult::new(Vec::new()),
        };
        b.rebase(base);
        b
    }

    /// Binds the builder to another stream's labels `base` (what
    /// [`LabelsBuilder::new`] does for its first), keeping its buffers: a scan of
    /// a block packing the runs of thousands of small streams binds one
    /// pipeline to each stream in turn, and building one per stream
    /// allocated more than the scan did.
    pub fn rebase(&mut self, base: &[(String, String)]) {
        let mut n = 0;
        for (k, v) in base.iter().filter(|(_, v)| !v.is_empty()) {
            match self.base.get_mut(n) {
                Some((bk, bv)) => {
                    bk.clone_from(k);
                    bv.clone_from(v);
                }
                None => self.base.push((k.clone(), v.clone())),
            }
            n += 1;
        }
        self.base.truncate(n);
        // Strictly ascending names are sorted and unique already.
        if !self.base.is_sorted_by(|x, y| x.0 < y.0) {
            self.base.sort_by(|x, y| x.0.cmp(&y.0));
            self.base.dedup_by(|x, y| x.0 == y.0);
        }
        self.base_result.pairs.clone_from(&self.base);
        self.base_result.hash = hash_pairs(self.base.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        self.cache.clear();
        self.reset();
    }

    /// Forgets everything about the previous line.
    pub fn reset(&mut self) {
        self.meta.clear();
        self.parsed.clear();
        self.del.clear();
        self.err.clear();
        self.err_details.clear();
        self.extracted.clear();
    }

    /// The stream labels' result (what an unmodified line yields).
    pub fn base_result(&self) -> &LabelsResult {
        &self.base_result
    }

    /// Whether the stream labels contain `name`.
    pub fn base_has(&self, name: &str) -> bool {
        self.base
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .is_ok()
    }

    /// Whether `name` is a (current) structured metadata label.
    pub fn meta_has(&self, name: &str) -> bool {
        self.meta.contains(name)
    }

    /// The current value of `name`; the error labels are not labels here (as in Loki,
    /// only string filters and templates see them).
    pub fn get(&self, name: &str) -> Option<&str> {
        if let Some(v) = self.parsed.get(name) {
            return Some(v);
        }
        if let Some(v) = self.meta.get(name) {
            return Some(v);
        }
        if self.del.contains(name) {
            return None;
        }
        self.base
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.base[i].1.as_str())
    }

    /// Adds a structured metadata label; a name clashing with a stream label becomes
    /// `name_extracted`.
    pub fn add_metadata(&mut self, name: &str, value: &str) {
        let renamed;
        let name = if self.base_has(name) {
            renamed = format!("{name}{DUPLICATE_SUFFIX}");
            renamed.as_str()
        } else {
            name
        };
        match name {
            ERROR_LABEL => self.set_err(value),
            ERROR_DETAILS_LABEL => self.set_err_details(value),
            _ => {
                if !self.parsed.contains(name) {
                    self.meta.set(name, value);
                }
            }
        }
    }

    /// Sets a parsed label (parsers, `label_format`): it shadows metadata and stream
    /// labels of the same name and is recorded as extracted.
    pub fn set_parsed(&mut self, name: &str, value: &str) {
        match name {
            ERROR_LABEL => self.set_err(value),
            ERROR_DETAILS_LABEL => self.set_err_details(value),
            _ => {
                self.meta.remove(name);
                self.parsed.set(name, value);
                if !self.extracted.contains(name) {
                    self.extracted.push(name, "");
                }
            }
        }
    }

    /// Whether an earlier stage already extracted `name` on this line ("first parser
    /// wins").
    pub fn extracted(&self, name: &str) -> bool {
        self.extracted.contains(name)
    }

    /// True when extraction is restricted by hints and every hinted name has
    /// been extracted (a parser may then stop reading the line).
    pub fn all_hints_extracted(&self) -> bool {
        match &self.hints.names {
            Some(ns) => ns.iter().all(|n| self.extracted(n)),
            None => false,
        }
    }

    /// The name a parser stores key `name` under: `name_extracted` when a stream or
    /// metadata label has that name.
    pub fn clashes(&self, name: &str) -> bool {
        self.base_has(name) || self.meta_has(name)
    }

    /// Deletes `name` from every source.
    pub fn del(&mut self, name: &str) {
        self.meta.remove(name);
        self.parsed.remove(name);
        if !self.del.contains(name) {
            self.del.push(name, "");
        }
    }

    /// Sets `__error__`.
    pub fn set_err(&mut self, e: &str) {
        self.err.clear();
        self.err.push_str(e);
    }

    /// Sets `__error_details__`.
    pub fn set_err_details(&mut self, d: &str) {
        self.err_details.clear();
        self.err_details.push_str(d);
    }

    /// `__error__`, or "" when unset.
    pub fn err(&self) -> &str {
        &self.err
    }

    /// `__error_details__`, or "".
    pub fn err_details(&self) -> &str {
        &self.err_details
    }

    /// Whether `__error__` is set.
    pub fn has_err(&self) -> bool {
        !self.err.is_empty()
    }

    /// Clears `__error__`.
    pub fn reset_err(&mut self) {
        self.err.clear();
    }

    /// Clears `__error_details__`.
    pub fn reset_err_details(&mut self) {
        self.err_details.clear();
    }

    /// Whether the line's labels are exactly the stream labels. As in Loki
    /// (`LabelsBuilder.LabelsResult`), `__error_details__` alone does not
    /// count: with no label added or deleted and no `__error__`, the stream
    /// labels are the result, so `| json | drop __error__` on a line that is
    /// not JSON leaves no `__error_details__` behind.
    fn unchanged(&self) -> bool {
        self.meta.is_empty() && self.parsed.is_empty() && self.del.is_empty() && self.err.is_empty()
    }

    /// Calls `f` for every current label (unsorted), the error labels included.
    pub fn for_each(&self, mut f: impl FnMut(&str, &str)) {
        for (n, v) in &self.base {
            if self.del.contains(n) || self.meta.contains(n) || self.parsed.contains(n) {
                continue;
            }
            f(n, v);
        }
        for (n, v) in self.meta.iter() {
            if !self.parsed.contains(n) {
                f(n, v);
            }
        }
        for (n, v) in self.parsed.iter() {
            f(n, v);
        }
        if !self.err.is_empty() {
            f(ERROR_LABEL, &self.err);
        }
        if !self.err_details.is_empty() {
            f(ERROR_DETAILS_LABEL, &self.err_details);
        }
    }

    /// The current label set, without `skip` (the unwrapped label, or nothing).
    pub fn result(&mut self, skip: Option<&str>) -> &LabelsResult {
        if self.unchanged() && skip.is_none_or(|s| !self.base_has(s)) {
            return &self.base_result;
        }
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        self.for_each(|n, v| {
            if Some(n) != skip {
                out.push(n, v);
            }
        });
        out.sort();
        let hash = hash_pairs(out.iter());
        self.out = out;
        let out = self.out.as_slice();
        let hit = self
            .cache
            .get(&hash)
            .is_some_and(|r| r.pairs.as_slice() == out);
        if hit {
            return &self.cache[&hash];
        }
        if self.cache.len() >= MAX_CACHED_RESULTS {
            self.cache.clear();
        }
        let res = LabelsResult {
            pairs: out.to_vec(),
            hash,
        };
        if self.cache.contains_key(&hash) {
            // A hash collision with a different set: hand out a one-off result.
            self.scratch = res;
            return &self.scratch;
        }
        self.cache.entry(hash).or_insert_with(|| Box::new(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(String, String)> {
        vec![
            ("app".into(), "a".into()),
            ("sl".into(), "s".into()),
            ("sm".into(), "s".into()),
        ]
    }

    #[test]
    fn precedence_and_clashes() {
        let mut b = LabelsBuilder::new(&base(), Hints::default());
        b.add_metadata("sm", "m");
        b.add_metadata("md", "m");
        assert_eq!(b.get("sm"), Some("s"));
        assert_eq!(b.get("sm_extracted"), Some("m"));
        assert!(b.clashes("md") && b.clashes("sl") && !b.clashes("x"));
        b.set_parsed("md_extracted", "p");
        b.set_parsed("x", "1");
        assert!(b.extracted("x"));
        let r = b.result(None).to_string();
        assert_eq!(
            r,
            r#"{app="a", md="m", md_extracted="p", sl="s", sm="s", sm_extracted="m", x="1"}"#
        );
    }

    /// A builder bound to another stream is the builder made for it: the
    /// same base (empty values out, sorted, first of equal names), the same
    /// results, nothing left of the stream or line before.
    #[test]
    fn a_rebased_builder_is_a_new_one() {
        let p = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let sets = [
            base(),
            p(&[("z", "1"), ("a", "2"), ("e", ""), ("a", "3")]),
            p(&[]),
            p(&[("app", "a"), ("sl", "other"), ("x", "long value")]),
            p(&[("only", "one")]),
        ];
        let mut b = LabelsBuilder::new(&sets[0], Hints::default());
        for (i, set) in sets.iter().enumerate().cycle().take(12) {
            b.set_parsed("x", "p");
            b.set_err("E");
            let _ = b.result(None);
            b.rebase(set);
            let mut fresh = LabelsBuilder::new(set, Hints::default());
            assert_eq!(b.base, fresh.base, "set {i}");
            assert_eq!(b.base_result, fresh.base_result, "set {i}");
            assert!(std::ptr::eq(b.result(None), &b.base_result), "set {i}");
            b.set_parsed("y", "1");
            fresh.set_parsed("y", "1");
            assert_eq!(b.result(None), fresh.result(None), "set {i}");
            b.reset();
        }
    }

    #[test]
    fn delete_and_errors() {
        let mut b = LabelsBuilder::new(&base(), Hints::default());
        assert!(std::ptr::eq(b.result(None), &b.base_result));
        b.del("sl");
        b.set_err("JSONParserErr");
        assert_eq!(b.get("sl"), None);
        assert_eq!(
            b.result(None).to_string(),
            r#"{__error__="JSONParserErr", app="a", sm="s"}"#
        );
        let h1 = b.result(None).hash();
        b.reset();
        b.del("sl");
        b.set_err("JSONParserErr");
        assert_eq!(b.result(None).hash(), h1);
        b.set_parsed("sl", "new");
        assert_eq!(b.get("sl"), Some("new"));
        assert_eq!(b.result(Some("sl")).get("sl"), None);
        // Details without an error show only once some label changed.
        b.reset();
        b.set_err("JSONParserErr");
        b.set_err_details("bad");
        b.reset_err();
        assert_eq!(b.result(None).to_string(), r#"{app="a", sl="s", sm="s"}"#);
        b.set_parsed("x", "1");
        assert_eq!(
            b.result(None).to_string(),
            r#"{__error_details__="bad", app="a", sl="s", sm="s", x="1"}"#
        );
    }

    #[test]
    fn empty_stream_labels_do_not_exist() {
        let b = LabelsBuilder::new(
            &[("a".into(), "1".into()), ("e".into(), String::new())],
            Hints::default(),
        );
        assert_eq!(b.base_result().to_string(), r#"{a="1"}"#);
        assert!(!b.base_has("e"));
    }

    #[test]
    fn pairs_reuse_buffers() {
        let mut p = Pairs::default();
        p.push("a", "1");
        p.push("b", "2");
        p.push("c", "3");
        assert!(p.remove("a"));
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![("b", "2"), ("c", "3")]);
        p.clear();
        p.set("z", "9");
        assert_eq!(p.as_slice(), &[("z".to_string(), "9".to_string())]);
    }
}
