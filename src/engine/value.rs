//! Query results: what a LogQL query evaluates to.

use crate::model::Labels;

/// One series of a range query.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its labels.
    pub labels: Labels,
    /// `(ts ns, value)`, ascending; steps without a value are absent.
    pub points: Vec<(i64, f64)>,
}

/// One sample of an instant query.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Its labels.
    pub labels: Labels,
    /// Evaluation time, ns.
    pub ts: i64,
    /// Value.
    pub value: f64,
}

/// The result of a metric query.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    /// Instant query over a vector expression (order matters after sort/topk).
    Vector(Vec<Sample>),
    /// Range query over a vector expression; series sorted by labels.
    Matrix(Vec<Series>),
    /// A scalar expression: one point per step (one for an instant query).
    Scalar(Vec<(i64, f64)>),
}

impl MetricValue {
    /// True when there is nothing to show.
    pub fn is_empty(&self) -> bool {
        match self {
            MetricValue::Vector(v) => v.is_empty(),
            MetricValue::Matrix(m) => m.is_empty(),
            MetricValue::Scalar(s) => s.is_empty(),
        }
    }
}
