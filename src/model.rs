//! The data model: label sets that identify streams, and their validation
//! with Grafana Loki's distributor rules.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stream's label set: `name=value` pairs sorted by name, names unique.
///
/// Two streams are the same stream exactly when their label sets are equal;
/// [`Labels::fingerprint`] is a 64-bit hash of the canonical form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Builds a label set from pairs in any order. A later pair with the same
    /// name replaces an earlier one (so `--label` given twice keeps the last).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        // Sized from the pairs (a stream's label set lives as long as its
        // batch: growth would leave a quarter of a 3-label set unused).
        let pairs = pairs.into_iter();
        let mut v: Vec<(String, String)> = Vec::with_capacity(pairs.size_hint().0);
        for (k, val) in pairs {
            let k = k.into();
            let val = val.into();
            match v.iter_mut().find(|(n, _)| *n == k) {
                Some(slot) => slot.1 = val,
                None => v.push((k, val)),
            }
        }
        v.sort_by(|a, b| a.0.cmp(&b.0));
        Labels(v)
    }

    /// The pairs, sorted by name.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets `name` to `value`, keeping the pairs sorted.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) => self.0[i].1 = value.to_string(),
            Err(i) => self.0.insert(i, (name.to_string(), value.to_string())),
        }
    }

    /// The same set without empty-valued labels: a stream label with an empty
    /// value does not exist in Loki (as in Prometheus), so ingest drops it.
    pub fn without_empty(mut self) -> Labels {
        self.0.retain(|(_, v)| !v.is_empty());
        self
    }

    /// 64-bit fingerprint of the canonical form: stable across runs and
    /// versions, so it may be stored on disk.
    pub fn fingerprint(&self) -> u64 {
        // The printed form hashed as it is produced, without building the
        // string: segment footers are read a label set per stream (a
        // million-stream day's compaction spent 15% of its time printing them).
        struct Hasher(xxhash_rust::xxh3::Xxh3);
        impl fmt::Write for Hasher {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0.update(s.as_bytes());
                Ok(())
            }
        }
        let mut h = Hasher(xxhash_rust::xxh3::Xxh3::new());
        // Writing to a hasher cannot fail.
        let _ = self.write_printed(&mut h);
        h.0.digest()
    }

    /// Appends a byte key of the set that sorts as label sets do (bytewise,
    /// as `Ord` orders `Labels`): per pair the name and the value, each with
    /// bytes 0 and 1 escaped (as 1 1 and 1 2) and ended by a 0, so that a
    /// string sorts before its extensions. Comparing keys laid out in one
    /// buffer, or held in one allocation each, chases one pointer where
    /// comparing label sets chases six; [`Labels::from_sort_key`] reads one
    /// back.
    pub fn write_sort_key(&self, out: &mut Vec<u8>) {
        for (n, v) in &self.0 {
            for x in [n, v] {
                for &b in x.as_bytes() {
                    if b <= 1 {
                        out.extend_from_slice(&[1, b + 1]);
                    } else {
                        out.push(b);
                    }
                }
                out.push(0);
            }
        }
    }

    /// The label set whose [`Labels::write_sort_key`] is `key`; `None` when
    /// `key` is not such a key.
    pub fn from_sort_key(key: &[u8]) -> Option<Labels> {
        let mut strings = Vec::new();
        let mut cur = Vec::new();
        let mut bytes = key.iter();
        while let Some(&b) = bytes.next() {
            match b {
                0 => strings.push(String::from_utf8(std::mem::take(&mut cur)).ok()?),
                1 => cur.push(bytes.next()?.checked_sub(1).filter(|&x| x <= 1)?),
                _ => cur.push(b),
            }
        }
        if !cur.is_empty() || strings.len() % 2 != 0 {
            return None;
        }
        let mut strings = strings.into_iter();
        let mut pairs = Vec::with_capacity(strings.len() / 2);
        while let (Some(n), Some(v)) = (strings.next(), strings.next()) {
            pairs.push((n, v));
        }
        // Written from a set: sorted by name, names unique.
        if pairs.windows(2).any(|w| w[0].0 >= w[1].0) {
            return None;
        }
        Some(Labels(pairs))
    }

    /// Writes Loki's printed form, `{app="api", env="prod"}` with Go-quoted
    /// values: the one implementation behind `Display` and [`Self::fingerprint`].
    fn write_printed(&self, out: &mut impl fmt::Write) -> fmt::Result {
        out.write_str("{")?;
        for (i, (n, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.write_str(", ")?;
            }
            out.write_str(n)?;
            out.write_str("=")?;
            crate::go::strconv::write_quoted(out, v)?;
        }
        out.write_str("}")
    }
}

impl fmt::Display for Labels {
    /// Loki's form: `{app="api", env="prod"}` with Go-quoted values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_printed(f)
    }
}

/// Loki's distributor limits that ingest enforces (`limits_config`).
#[derive(Debug, Clone)]
pub struct Limits {
    /// `max_label_names_per_series`, default 15.
    pub max_labels_per_stream: usize,
    /// `max_label_name_length`, default 1024.
    pub max_label_name_length: usize,
    /// `max_label_value_length`, default 2048.
    pub max_label_value_length: usize,
    /// `max_line_size`, default 256KB (256,000 bytes, as dskit parses "256KB").
    pub max_line_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_labels_per_stream: 15,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_line_size: 256_000,
        }
    }
}

/// Why a label set was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// A name outside `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid label name {name:?}: names must match [a-zA-Z_][a-zA-Z0-9_]*")]
    InvalidName {
        /// The offending name.
        name: String,
    },
    /// A name starting with `__`, which Loki reserves for internal labels.
    #[error("label name {name:?} is reserved: names starting with \"__\" are internal to Loki")]
    ReservedName {
        /// The offending name.
        name: String,
    },
    /// Too many labels.
    #[error("stream {labels} has {count} labels, more than the limit of {limit} (raise it with --max-labels-per-stream)")]
    TooMany {
        /// The stream.
        labels: String,
        /// Its label count.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A name longer than the limit.
    #[error("label name {name:?} is {len} bytes, longer than the limit of {limit}")]
    NameTooLong {
        /// The name.
        name: String,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A value longer than the limit.
    #[error("value of label {name:?} is {len} bytes, longer than the limit of {limit}")]
    ValueTooLong {
        /// The label.
        name: String,
        /// Its value's length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// No labels at all: Loki needs at least one to identify a stream.
    #[error("stream has no labels: give at least one with --label NAME=VALUE")]
    Empty,
}

/// True when `name` is a valid Prometheus/Loki label name.
pub fn is_valid_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Checks a stream's labels against Loki's rules and `limits`.
pub fn validate_labels(labels: &Labels, limits: &Limits) -> Result<(), LabelError> {
    if labels.is_empty() {
        return Err(LabelError::Empty);
    }
    if labels.len() > limits.max_labels_per_stream {
        return Err(LabelError::TooMany {
            labels: labels.to_string(),
            count: labels.len(),
            limit: limits.max_labels_per_stream,
        });
    }
    for (n, v) in labels.pairs() {
        if !is_valid_label_name(n) {
            return Err(LabelError::InvalidName { name: n.clone() });
        }
        if n.starts_with("__") {
            return Err(LabelError::ReservedName { name: n.clone() });
        }
        if n.len() > limits.max_label_name_length {
            return Err(LabelError::NameTooLong {
                name: n.clone(),
                len: n.len(),
                limit: limits.max_label_name_length,
            });
        }
        if v.len() > limits.max_label_value_length {
            return Err(LabelError::ValueTooLong {
                name: n.clone(),
                len: v.len(),
                limit: limits.max_label_value_length,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The printed form quotes every value as Go does, and the
        /// fingerprint is its xxh3 (it is stored in segment footers and
        /// indexes): names and values of any text.
        #[test]
        fn fingerprint_hashes_the_printed_form(
            pairs in prop::collection::vec(("[a-z_]{1,4}", "\\PC{0,6}|[ -~]{0,8}|[\"\\\\\n\t\u{0}\u{7f}é😀]{0,4}"), 0..5)
        ) {
            let l = Labels::from_pairs(pairs);
            // The printed form with every value through Go's quoting (the
            // writer skips it for plain values).
            let quoted: Vec<String> = l
                .pairs()
                .iter()
                .map(|(n, v)| format!("{n}={}", crate::go::strconv::quote(v)))
                .collect();
            let printed = format!("{{{}}}", quoted.join(", "));
            prop_assert_eq!(&l.to_string(), &printed);
            prop_assert_eq!(l.fingerprint(), xxhash_rust::xxh3::xxh3_64(printed.as_bytes()));
        }
    }

    proptest! {
        /// Sort keys order as the label sets do and read back to the set,
        /// names and values of any text, bytes 0 and 1 included.
        #[test]
        fn sort_keys_order_as_label_sets_and_read_back(
            a in prop::collection::vec(("[a-b_]{1,3}", "\\PC{0,3}|[\u{0}\u{1}\u{2}ab]{0,4}"), 0..4),
            b in prop::collection::vec(("[a-b_]{1,3}", "\\PC{0,3}|[\u{0}\u{1}\u{2}ab]{0,4}"), 0..4),
        ) {
            let (a, b) = (Labels::from_pairs(a), Labels::from_pairs(b));
            let (mut ka, mut kb) = (Vec::new(), Vec::new());
            a.write_sort_key(&mut ka);
            b.write_sort_key(&mut kb);
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b), "{} vs {}", a, b);
            prop_assert_eq!(Labels::from_sort_key(&ka), Some(a));
            prop_assert_eq!(Labels::from_sort_key(&kb), Some(b));
        }
    }

    #[test]
    fn sort_keys_order_as_label_sets() {
        let sets = [
            vec![("a", "")],
            vec![("a", "\0")],
            vec![("a", "\u{1}")],
            vec![("a", "\u{1}x")],
            vec![("a", "\u{2}")],
            vec![("a", "b")],
            vec![("a", "b"), ("c", "d")],
            vec![("a", "bc")],
            vec![("ab", "")],
            vec![("b", "a")],
        ];
        let labels: Vec<Labels> = sets.iter().map(|p| Labels::from_pairs(p.clone())).collect();
        for a in &labels {
            for b in &labels {
                let (mut ka, mut kb) = (Vec::new(), Vec::new());
                a.write_sort_key(&mut ka);
                b.write_sort_key(&mut kb);
                assert_eq!(ka.cmp(&kb), a.cmp(b), "{a} vs {b}");
            }
        }
        // What no key is: a string without its end, a broken escape, a
        // name without its value, names out of order, invalid UTF-8.
        for bad in [
            &b"a"[..],
            b"a\x01\x05\0\0",
            b"a\0",
            b"b\0\0a\0\0",
            b"\xff\0\0",
        ] {
            assert_eq!(Labels::from_sort_key(bad), None, "{bad:?}");
        }
        assert_eq!(Labels::from_sort_key(b""), Some(Labels::default()));
    }

    #[test]
    fn labels_sorted_and_printed_like_loki() {
        let l = Labels::from_pairs([("job", "api"), ("env", "prod\"x")]);
        assert_eq!(l.to_string(), r#"{env="prod\"x", job="api"}"#);
        assert_eq!(l.get("job"), Some("api"));
        let same = Labels::from_pairs([("env", "prod\"x"), ("job", "api")]);
        assert_eq!(l.fingerprint(), same.fingerprint());
    }

    #[test]
    fn later_pair_wins() {
        let l = Labels::from_pairs([("a", "1"), ("a", "2")]);
        assert_eq!(l.pairs(), &[("a".to_string(), "2".to_string())]);
    }

    #[test]
    fn validation_follows_loki() {
        let lim = Limits::default();
        assert!(validate_labels(&Labels::from_pairs([("a", "b")]), &lim).is_ok());
        assert!(matches!(
            validate_labels(&Labels::from_pairs([("1a", "b")]), &lim),
            Err(LabelError::InvalidName { .. })
        ));
        assert!(matches!(
            validate_labels(&Labels::from_pairs([("__name__", "b")]), &lim),
            Err(LabelError::ReservedName { .. })
        ));
        assert!(matches!(
            validate_labels(&Labels::default(), &lim),
            Err(LabelError::Empty)
        ));
        let many = Labels::from_pairs((0..16).map(|i| (format!("l{i}"), "v")));
        assert!(matches!(
            validate_labels(&many, &lim),
            Err(LabelError::TooMany { .. })
        ));
    }
}
