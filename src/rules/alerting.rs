//! The alerting rule's state machine: a port of Prometheus' `AlertingRule.Eval`
//! (`rules/alerting.go`, as vendored in Loki 3.7.6), one evaluation at a time.
//!
//! - A label set that appears in the result becomes a *pending* alert, active
//!   since that evaluation; one already pending or firing keeps its times and
//!   takes the new value.
//! - A pending alert fires at the first evaluation at least `for` after it became
//!   active (`for: 0` fires at once).
//! - A pending alert that leaves the result is dropped. A firing one is
//!   *resolved* then, unless `keep_firing_for` keeps it firing: from the first
//!   evaluation it is missing, until that long has passed.
//! - A resolved alert is kept (and re-sent) for 15 minutes, then forgotten; if its
//!   label set comes back meanwhile, a new pending alert replaces it.
//! - With a group `limit`, more pending and firing alerts than that clears every
//!   alert of the rule and fails the evaluation.
//!
//! An evaluation that fails (its query, a duplicate label set) changes nothing,
//! as in Prometheus. Besides the state, every alert's life is kept as an
//! [`Episode`] (when it went pending, fired, resolved), which is what a backtest
//! prints.

use std::collections::BTreeMap;

use crate::model::Labels;

/// How long a resolved alert is kept and re-sent (Prometheus' `resolvedRetention`).
pub const RESOLVED_RETENTION: i64 = 15 * 60 * 1_000_000_000;

/// An alert's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// Resolved: no longer active, kept for [`RESOLVED_RETENTION`].
    Inactive,
    /// Active for less than `for`.
    Pending,
    /// Active for at least `for` (or kept firing by `keep_firing_for`).
    Firing,
}

impl State {
    /// Prometheus' name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Inactive => "inactive",
            State::Pending => "pending",
            State::Firing => "firing",
        }
    }
}

/// Where an alert's labels and annotations come from at one evaluation: the
/// sample it was made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    /// The evaluation time, ns.
    pub ts: i64,
    /// The sample's labels (`$labels`).
    pub sample: Labels,
    /// The sample's value (`$value`).
    pub value: f64,
}

/// One alert of a rule, as Prometheus keeps it in `active`.
#[derive(Debug, Clone)]
pub struct Alert {
    /// The alert's labels: the sample's, the rule's (templated) and `alertname`.
    pub labels: Labels,
    /// Its state.
    pub state: State,
    /// When it became active (pending), ns.
    pub active_at: i64,
    /// When it fired.
    pub fired_at: Option<i64>,
    /// When it was resolved.
    pub resolved_at: Option<i64>,
    /// The first evaluation it was missing from while `keep_firing_for` kept it.
    pub keep_firing_since: Option<i64>,
    /// The last evaluation it was in the result: its value and template data.
    pub last: Origin,
    /// Its index in [`RuleState::episodes`].
    pub episode: usize,
}

/// One alert's life from pending to its end.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// The alert's labels.
    pub labels: Labels,
    /// When it went pending.
    pub active_at: i64,
    /// When it fired.
    pub fired_at: Option<i64>,
    /// When it was resolved.
    pub resolved_at: Option<i64>,
    /// When it left the result while still pending (it never fired).
    pub dropped_at: Option<i64>,
    /// When a `limit` failure cleared it.
    pub cleared_at: Option<i64>,
    /// The first evaluation `keep_firing_for` kept it firing without it being in
    /// the result (the latest such stretch).
    pub kept_since: Option<i64>,
    /// The last evaluation it was in the result.
    pub last: Origin,
    /// Its value when it went pending.
    pub pending_value: f64,
    /// Its value when it fired.
    pub fired_value: Option<f64>,
}

impl Episode {
    /// When it ended (resolved, dropped or cleared), if it has.
    pub fn end(&self) -> Option<i64> {
        self.resolved_at.or(self.dropped_at).or(self.cleared_at)
    }
}

/// A sample of the rule's result at one evaluation, with the alert's labels.
#[derive(Debug, Clone)]
pub struct Present {
    /// The alert's labels (identity).
    pub labels: Labels,
    /// Where its templates' data comes from.
    pub origin: Origin,
}

/// A rule's alerts and their history.
#[derive(Debug, Clone, Default)]
pub struct RuleState {
    /// The alerts Prometheus keeps (pending, firing, and resolved ones within
    /// the retention), by labels.
    pub active: BTreeMap<Labels, Alert>,
    /// Every alert that ever went pending, in order.
    pub episodes: Vec<Episode>,
}

/// The error Prometheus gives when two samples make alerts with the same labels.
pub const DUPLICATE_LABELSET: &str =
    "vector contains metrics with the same labelset after applying alert labels";

impl RuleState {
    /// One evaluation at `ts` of a rule with `hold` (`for`), `keep_firing_for` and
    /// the group's `limit` (0: none), given the result's samples.
    pub fn eval(
        &mut self,
        ts: i64,
        present: Vec<Present>,
        hold: i64,
        keep_firing_for: i64,
        limit: usize,
    ) -> Result<(), String> {
        let mut incoming: BTreeMap<Labels, Origin> = BTreeMap::new();
        for p in present {
            if incoming.insert(p.labels, p.origin).is_some() {
                return Err(DUPLICATE_LABELSET.into());
            }
        }
        for (labels, origin) in &incoming {
            match self.active.get_mut(labels) {
                Some(a) if a.state != State::Inactive => {
                    a.last = origin.clone();
                    self.episodes[a.episode].last = origin.clone();
                }
                _ => {
                    self.episodes.push(Episode {
                        labels: labels.clone(),
                        active_at: ts,
                        fired_at: None,
                        resolved_at: None,
                        dropped_at: None,
                        cleared_at: None,
                        kept_since: None,
                        last: origin.clone(),
                        pending_value: origin.value,
                        fired_value: None,
                    });
                    self.active.insert(
                        labels.clone(),
                        Alert {
                            labels: labels.clone(),
                            state: State::Pending,
                            active_at: ts,
                            fired_at: None,
                            resolved_at: None,
                            keep_firing_since: None,
                            last: origin.clone(),
                            episode: self.episodes.len() - 1,
                        },
                    );
                }
            }
        }
        let mut live = 0usize;
        let mut forget = Vec::new();
        for (labels, a) in self.active.iter_mut() {
            let ep = &mut self.episodes[a.episode];
            if !incoming.contains_key(labels) {
                let mut keep_firing = false;
                if a.state == State::Firing && keep_firing_for > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    ep.kept_since = Some(since);
                    keep_firing = ts - since < keep_firing_for;
                }
                let expired = a.resolved_at.is_some_and(|r| ts - r > RESOLVED_RETENTION);
                if a.state == State::Pending || expired {
                    forget.push(labels.clone());
                    if a.state == State::Pending {
                        ep.dropped_at = Some(ts);
                    }
                }
                if a.state != State::Inactive && !keep_firing {
                    if a.state == State::Firing {
                        ep.resolved_at = Some(ts);
                    }
                    a.state = State::Inactive;
                    a.resolved_at = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = None;
            }
            live += 1;
            if a.state == State::Pending && ts - a.active_at >= hold {
                a.state = State::Firing;
                a.fired_at = Some(ts);
                ep.fired_at = Some(ts);
                ep.fired_value = Some(a.last.value);
            }
        }
        for l in forget {
            self.active.remove(&l);
        }
        if limit > 0 && live > limit {
            for a in self.active.values() {
                let ep = &mut self.episodes[a.episode];
                if ep.end().is_none() {
                    ep.cleared_at = Some(ts);
                }
            }
            self.active.clear();
            return Err(format!("exceeded limit of {limit} with {live} alerts"));
        }
        Ok(())
    }

    /// True when any alert is firing.
    pub fn any_firing(&self) -> bool {
        self.active.values().any(|a| a.state == State::Firing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000_000_000;

    fn present(names: &[&str], ts: i64) -> Vec<Present> {
        names
            .iter()
            .map(|n| Present {
                labels: Labels::from_pairs([("alertname", "A"), ("pod", *n)]),
                origin: Origin {
                    ts,
                    sample: Labels::from_pairs([("pod", *n)]),
                    value: 1.0,
                },
            })
            .collect()
    }

    /// Runs evaluations every minute: `pattern[i]` true when the alert is in the
    /// result at minute i; returns the state after each.
    fn run(pattern: &str, hold: i64, kff: i64) -> (String, RuleState) {
        let mut s = RuleState::default();
        let mut out = String::new();
        for (i, c) in pattern.chars().enumerate() {
            let ts = i as i64 * M;
            let p = if c == '1' {
                present(&["a"], ts)
            } else {
                vec![]
            };
            s.eval(ts, p, hold, kff, 0).unwrap();
            out.push(match s.active.values().next().map(|a| a.state) {
                None => '.',
                Some(State::Inactive) => 'r',
                Some(State::Pending) => 'p',
                Some(State::Firing) => 'F',
            });
        }
        (out, s)
    }

    #[test]
    fn pending_firing_resolved() {
        // for: 2m — pending at 1, firing at 3 (3 - 1 >= 2), resolved at 5.
        let (states, s) = run("011110000", 2 * M, 0);
        assert_eq!(states, ".ppFFrrrr");
        assert_eq!(
            (
                s.episodes[0].active_at,
                s.episodes[0].fired_at,
                s.episodes[0].resolved_at
            ),
            (M, Some(3 * M), Some(5 * M))
        );
        // for: 0 fires at once.
        assert_eq!(run("0110", 0, 0).0, ".FFr");
        // A pending alert that disappears is dropped, and starts over.
        let (states, s) = run("0110111", 2 * M, 0);
        assert_eq!(states, ".pp.ppF");
        assert_eq!(s.episodes.len(), 2);
        assert_eq!(s.episodes[0].dropped_at, Some(3 * M));
    }

    #[test]
    fn keep_firing_for() {
        // Missing from 3: kept while ts - 3m < 2m, i.e. at 3 and 4; resolved at 5.
        assert_eq!(run("11100000", 0, 2 * M).0, "FFFFFrrr");
        // Back within the window: still the same firing alert.
        let (states, s) = run("1101100", 0, 2 * M);
        assert_eq!(states, "FFFFFFF");
        assert_eq!(s.episodes.len(), 1);
        // A pending alert is not kept.
        assert_eq!(run("0110", 5 * M, 2 * M).0, ".pp.");
    }

    #[test]
    fn resolved_alerts_are_kept_15_minutes() {
        let mut pattern = String::from("11");
        pattern.push_str(&"0".repeat(17));
        let (states, _) = run(&pattern, 0, 0);
        // Resolved at 2; kept while ts - 2m <= 15m (up to 17); forgotten at 18.
        assert_eq!(&states[..2], "FF");
        assert_eq!(&states[2..18], "r".repeat(16));
        assert_eq!(&states[18..], ".");
        // Coming back while resolved: a new pending alert.
        let (states, s) = run("1101", M, 0);
        assert_eq!(states, "pFrp");
        assert_eq!(s.episodes.len(), 2);
    }

    #[test]
    fn duplicates_and_limits_fail_the_evaluation() {
        let mut s = RuleState::default();
        let mut dup = present(&["a"], 0);
        dup.extend(present(&["a"], 0));
        assert_eq!(s.eval(0, dup, 0, 0, 0).unwrap_err(), DUPLICATE_LABELSET);
        assert!(s.active.is_empty());
        s.eval(0, present(&["a"], 0), 0, 0, 2).unwrap();
        let e = s
            .eval(M, present(&["a", "b", "c"], M), 0, 0, 2)
            .unwrap_err();
        assert_eq!(e, "exceeded limit of 2 with 3 alerts");
        assert!(s.active.is_empty());
        assert_eq!(s.episodes[0].cleared_at, Some(M));
    }
}
