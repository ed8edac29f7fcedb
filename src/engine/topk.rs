//! `topk`, `bottomk` and `approx_topk` as Prometheus selects: at each step,
//! within each group of the aggregation's `by`/`without`, the `k` series
//! with the highest (lowest) values, NaN last, equal values by label order;
//! a series is kept with its values at the steps where it was selected.
//!
//! [`TopkSelect`] takes the series one at a time in any order and holds only
//! the `k` best candidates per group and step (a bounded heap each), so a
//! `topk` over a million series holds `k` × steps × groups of them rather
//! than the series: the metric evaluator feeds it each series as soon as no
//! later stream can add to it.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use super::eval::group_labels;
use crate::logql::{Grouping, VectorAggregation, VectorOp};
use crate::model::Labels;

/// Orders values for sort/topk: NaN always last, as Prometheus does;
/// `desc` puts the highest first.
pub(super) fn value_order(x: f64, y: f64, desc: bool) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if desc => y.total_cmp(&x),
        _ => x.total_cmp(&y),
    }
}

/// One series' value at one step, kept while it is among the best `k` of
/// its group. Ordered best first (the selection order), so a max-heap's top
/// is the worst candidate kept.
struct Candidate {
    value: f64,
    labels: Arc<Labels>,
    desc: bool,
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        value_order(self.value, other.value, self.desc).then_with(|| self.labels.cmp(&other.labels))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

/// The streaming selection of a `topk`/`bottomk`/`approx_topk` (see the
/// module docs). Series must have distinct label sets, as a vector's do.
pub(super) struct TopkSelect {
    k: usize,
    /// `topk` (highest first) rather than `bottomk`.
    desc: bool,
    steps: usize,
    grouping: Grouping,
    /// Per group of the aggregation, per step, the best `k` so far.
    groups: HashMap<Labels, Vec<BinaryHeap<Candidate>>>,
}

impl TopkSelect {
    /// The selection of `v` (a `topk`, `bottomk` or `approx_topk`) over
    /// `steps` steps.
    pub(super) fn new(v: &VectorAggregation, steps: usize) -> TopkSelect {
        TopkSelect {
            k: v.param.unwrap_or(1).max(0) as usize,
            desc: v.op != VectorOp::Bottomk,
            steps,
            grouping: v.grouping.clone(),
            groups: HashMap::new(),
        }
    }

    /// Offers one series' values (one per step, `None` where it has none).
    pub(super) fn add(&mut self, labels: Labels, values: &[Option<f64>]) {
        if self.k == 0 || values.iter().all(Option::is_none) {
            return;
        }
        let steps = self.steps;
        let heaps = self
            .groups
            .entry(group_labels(&labels, &self.grouping))
            .or_insert_with(|| (0..steps).map(|_| BinaryHeap::new()).collect());
        let labels = Arc::new(labels);
        for (heap, v) in heaps.iter_mut().zip(values) {
            let Some(value) = *v else { continue };
            let c = Candidate {
                value,
                labels: labels.clone(),
                desc: self.desc,
            };
            if heap.len() < self.k {
                heap.push(c);
            } else if let Some(mut worst) = heap.peek_mut() {
                if c < *worst {
                    *worst = c;
                }
            }
        }
    }

    /// The selected series with their values at the steps that selected
    /// them, ordered as Prometheus prints a `topk`: by the value of the
    /// last step each has, best first, then by labels.
    pub(super) fn finish(self) -> Vec<(Labels, Vec<Option<f64>>)> {
        let steps = self.steps;
        let mut kept: HashMap<*const Labels, (Arc<Labels>, Vec<Option<f64>>)> = HashMap::new();
        for heaps in self.groups.into_values() {
            for (s, heap) in heaps.into_iter().enumerate() {
                for c in heap {
                    let row = kept
                        .entry(Arc::as_ptr(&c.labels))
                        .or_insert_with(|| (c.labels.clone(), vec![None; steps]));
                    row.1[s] = Some(c.value);
                }
            }
        }
        let mut out: Vec<(Labels, Vec<Option<f64>>)> = kept
            .into_values()
            .map(|(l, v)| (Arc::unwrap_or_clone(l), v))
            .collect();
        let desc = self.desc;
        out.sort_by(|a, b| {
            let last = |v: &[Option<f64>]| v.iter().rev().flatten().next().copied();
            let o = match (last(&a.1), last(&b.1)) {
                (Some(x), Some(y)) => value_order(x, y, desc),
                _ => Ordering::Equal,
            };
            o.then_with(|| a.0.cmp(&b.0))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn agg(op: VectorOp, k: i64, by: &[&str]) -> VectorAggregation {
        let q = format!(
            "{}({k}, count_over_time({{a=\"1\"}}[1m])) by ({})",
            match op {
                VectorOp::Topk => "topk",
                _ => "bottomk",
            },
            by.join(",")
        );
        match crate::logql::parse_sample_expr(&q).unwrap() {
            crate::logql::SampleExpr::VectorAggregation(v) => v,
            e => panic!("{e:?}"),
        }
    }

    /// The selection as a whole-vector sort per step and group: what
    /// lokal's `topk` did before it streamed.
    fn reference(
        v: &VectorAggregation,
        rows: &[(Labels, Vec<Option<f64>>)],
        n: usize,
    ) -> Vec<(Labels, Vec<Option<f64>>)> {
        let k = v.param.unwrap_or(1).max(0) as usize;
        let desc = v.op != VectorOp::Bottomk;
        let mut keep = vec![vec![None; n]; rows.len()];
        #[allow(clippy::needless_range_loop)] // `s` indexes every row's values
        for s in 0..n {
            let mut groups: HashMap<Labels, Vec<usize>> = HashMap::new();
            for (i, r) in rows.iter().enumerate() {
                if r.1[s].is_some() {
                    groups
                        .entry(group_labels(&r.0, &v.grouping))
                        .or_default()
                        .push(i);
                }
            }
            for (_, mut m) in groups {
                m.sort_by(|&a, &b| {
                    value_order(rows[a].1[s].unwrap(), rows[b].1[s].unwrap(), desc)
                        .then(rows[a].0.cmp(&rows[b].0))
                });
                for &i in m.iter().take(k) {
                    keep[i][s] = rows[i].1[s];
                }
            }
        }
        let mut out: Vec<_> = rows
            .iter()
            .zip(keep)
            .filter(|(_, k)| k.iter().any(Option::is_some))
            .map(|(r, k)| (r.0.clone(), k))
            .collect();
        out.sort_by(|a, b| {
            let (x, y) = (
                a.1.iter().rev().flatten().next(),
                b.1.iter().rev().flatten().next(),
            );
            let o = match (x, y) {
                (Some(x), Some(y)) => value_order(*x, *y, desc),
                _ => Ordering::Equal,
            };
            o.then(a.0.cmp(&b.0))
        });
        out
    }

    fn value() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            2 => Just(None),
            1 => Just(Some(f64::NAN)),
            6 => (0u8..6).prop_map(|v| Some(f64::from(v))),
            1 => Just(Some(f64::INFINITY)),
            1 => Just(Some(-0.0)),
        ]
    }

    proptest! {
        /// Any arrival order, any k, grouped or not, ties and NaN: the
        /// streamed selection is the whole-vector one, in the same order.
        #[test]
        fn streamed_selection_equals_the_whole_vector_sort(
            values in prop::collection::vec(prop::collection::vec(value(), 3), 0..40),
            k in 1i64..6,
            bottom in any::<bool>(),
            by in prop_oneof![Just(vec![]), Just(vec!["g"]), Just(vec!["g", "h"])],
            seed in any::<u64>(),
        ) {
            let op = if bottom { VectorOp::Bottomk } else { VectorOp::Topk };
            let v = agg(op, k, &by);
            let rows: Vec<(Labels, Vec<Option<f64>>)> = values
                .into_iter()
                .enumerate()
                .map(|(i, vals)| {
                    let l = Labels::from_pairs([
                        ("g", format!("{}", i % 3)),
                        ("h", format!("{}", i % 2)),
                        ("id", format!("{i}")),
                    ]);
                    (l, vals)
                })
                .collect();
            let mut order: Vec<usize> = (0..rows.len()).collect();
            // A deterministic shuffle from the seed.
            let mut x = seed | 1;
            for i in (1..order.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                order.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut sel = TopkSelect::new(&v, 3);
            for &i in &order {
                sel.add(rows[i].0.clone(), &rows[i].1);
            }
            let got = sel.finish();
            let want = reference(&v, &rows, 3);
            prop_assert_eq!(format!("{got:?}"), format!("{want:?}"));
        }
    }
}
