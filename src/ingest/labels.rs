//! The labels of the stream an input goes to, as promtail gives them:
//! `--label`s, the `filename` label (the absolute path), the named groups of
//! `--label-from-path`, and `job="stdin"` for an unlabelled stdin. One
//! function, so `ingest` and its dry run name streams alike.

use super::source::Input;
use super::{IngestError, IngestOptions};
use crate::model::{validate_labels, Labels};

/// Checks the `--label`s up front, before any input is read.
pub(crate) fn check_static(opts: &IngestOptions) -> Result<(), IngestError> {
    if opts.labels.is_empty() {
        return Ok(());
    }
    validate_labels(&Labels::from_pairs(opts.labels.clone()), &opts.limits)
        .map_err(|e| IngestError::Config(format!("--label: {e}")))
}

/// The stream labels of `input` (empty values dropped, not yet validated);
/// `name` is the path a file was first read under (its `filename` label and
/// what `--label-from-path` reads), so a renamed file stays one stream.
pub(crate) fn input_labels(input: &Input, name: &str, opts: &IngestOptions) -> Labels {
    let mut labels: Vec<(String, String)> = Vec::new();
    if let Input::File(_) = input {
        if opts.filename_label {
            labels.push(("filename".into(), name.to_string()));
        }
        if let Some(re) = &opts.label_from_path {
            if let Some(caps) = re.captures(name) {
                for n in re.capture_names().flatten() {
                    if let Some(m) = caps.name(n) {
                        labels.push((n.to_string(), m.as_str().to_string()));
                    }
                }
            }
        }
    }
    labels.extend(opts.labels.iter().cloned());
    if matches!(input, Input::Stdin) && labels.is_empty() {
        // promtail's stdin mode labels its stream this way.
        labels.push(("job".into(), "stdin".into()));
    }
    Labels::from_pairs(labels).without_empty()
}

/// The labels of a file a `--config` hook reads: its target's, with the
/// `--label`s on top (as promtail's static labels would be).
pub(crate) fn hook_labels(target: Labels, opts: &IngestOptions) -> Labels {
    let mut l = target;
    for (k, v) in &opts.labels {
        l.set(k, v);
    }
    l.without_empty()
}
