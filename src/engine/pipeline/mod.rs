//! Placeholder pipeline (line filters only) until the full evaluator lands.
use std::borrow::Cow;

use crate::logql::{LineFilter, LineFilterOp, LineMatch, Stage, Unwrap};
use crate::model::Labels;

/// Pipeline build errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PipelineError(pub String);

/// A compiled pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    filters: Vec<LineFilter>,
    res: Vec<Option<regex::bytes::Regex>>,
}

/// The labels after the pipeline.
#[derive(Debug, Clone)]
pub struct LabelsResult {
    labels: Labels,
    hash: u64,
}

impl LabelsResult {
    /// The label set.
    pub fn to_labels(&self) -> Labels {
        self.labels.clone()
    }
    /// A hash of the label set.
    pub fn hash(&self) -> u64 {
        self.hash
    }
}

/// Per-stream state.
pub struct StreamPipeline<'p> {
    p: &'p Pipeline,
    labels: LabelsResult,
}

impl Pipeline {
    /// Compiles the stages.
    pub fn new(stages: &[Stage]) -> Result<Pipeline, PipelineError> {
        let mut filters = Vec::new();
        let mut res = Vec::new();
        for s in stages {
            match s {
                Stage::LineFilter(f) => {
                    res.push(match (&f.op, &f.value) {
                        (LineFilterOp::Match | LineFilterOp::NotMatch, LineMatch::Str(s)) => Some(
                            regex::bytes::Regex::new(s)
                                .map_err(|e| PipelineError(format!("error parsing regexp: {e}")))?,
                        ),
                        _ => None,
                    });
                    filters.push(f.clone());
                }
                _ => return Err(PipelineError("stage not supported yet".into())),
            }
        }
        Ok(Pipeline { filters, res })
    }
    /// Per-stream state.
    pub fn for_stream(&self, labels: &Labels) -> StreamPipeline<'_> {
        StreamPipeline {
            p: self,
            labels: LabelsResult {
                labels: labels.clone(),
                hash: labels.fingerprint(),
            },
        }
    }
    /// Line filters before any other stage.
    pub fn leading_line_filters(&self) -> &[LineFilter] {
        &self.filters
    }
}

impl<'p> StreamPipeline<'p> {
    /// Runs the stages on one line.
    pub fn process<'a>(
        &'a mut self,
        _ts: i64,
        line: &'a [u8],
    ) -> Option<(Cow<'a, [u8]>, &'a LabelsResult)> {
        for (f, re) in self.p.filters.iter().zip(&self.p.res) {
            let hit = match (&f.value, re) {
                (_, Some(re)) => re.is_match(line),
                (LineMatch::Str(s), None) => memchr::memmem::find(line, s.as_bytes()).is_some(),
                _ => false,
            };
            if hit == f.op.is_negated() {
                return None;
            }
        }
        Some((Cow::Borrowed(line), &self.labels))
    }
    /// A sample: 1.0 per line without unwrap.
    pub fn extract_sample<'a>(
        &'a mut self,
        ts: i64,
        line: &'a [u8],
        _unwrap: Option<&Unwrap>,
    ) -> Option<(f64, &'a LabelsResult)> {
        self.process(ts, line).map(|(_, l)| (1.0, l))
    }
}
