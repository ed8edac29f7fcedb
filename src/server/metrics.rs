//! `/metrics`: the server's own counters in Prometheus' text exposition
//! format (0.0.4), under Loki's metric names where Loki has one, so
//! dashboards and alerts written for Loki read them: the request latency
//! histogram by route, method and status (`loki_request_duration_seconds`,
//! whose `_count` is the request count), and per tenant the pushed lines
//! and bytes received and the lines discarded by reason. Written by hand:
//! a few families do not need a metrics crate.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, seconds (Prometheus' defaults and
/// Loki's longer tail).
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0,
];

#[derive(Default)]
struct Histogram {
    /// Per bucket, the observations at most its bound (not cumulative).
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Per tenant, what pushes brought.
#[derive(Default, Clone, Copy)]
struct Ingested {
    lines: u64,
    bytes: u64,
    discarded: u64,
}

/// The server's metrics; shared by every worker.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, String, u16), Histogram>>,
    ingested: Mutex<BTreeMap<String, Ingested>>,
}

/// Loki's route name of a path (`loki_api_v1_query_range`); paths lokal
/// does not serve are `other`, so that scanners cannot grow the series.
pub fn route_name(path: &str) -> &'static str {
    let path = path.trim_end_matches('/');
    match path {
        "/ready" => "ready",
        "/metrics" => "metrics",
        "/flush" => "flush",
        "/loki/api/v1/query" => "loki_api_v1_query",
        "/loki/api/v1/query_range" => "loki_api_v1_query_range",
        "/loki/api/v1/labels" => "loki_api_v1_labels",
        "/loki/api/v1/series" => "loki_api_v1_series",
        "/loki/api/v1/push" => "loki_api_v1_push",
        "/api/prom/push" => "api_prom_push",
        "/loki/api/v1/tail" => "loki_api_v1_tail",
        "/loki/api/v1/index/stats" => "loki_api_v1_index_stats",
        "/loki/api/v1/index/volume" => "loki_api_v1_index_volume",
        "/loki/api/v1/index/volume_range" => "loki_api_v1_index_volume_range",
        "/loki/api/v1/status/buildinfo" => "loki_api_v1_status_buildinfo",
        "/loki/api/v1/detected_labels" => "loki_api_v1_detected_labels",
        "/loki/api/v1/patterns" => "loki_api_v1_patterns",
        "/loki/api/v1/detected_fields" => "loki_api_v1_detected_fields",
        "/loki/api/v1/drilldown-limits" => "loki_api_v1_drilldown_limits",
        "/loki/api/v1/format_query" => "loki_api_v1_format_query",
        p if p.starts_with("/loki/api/v1/label/") && p.ends_with("/values") => {
            "loki_api_v1_label_name_values"
        }
        _ => "other",
    }
}

impl Metrics {
    /// Records one answered request.
    pub fn request(&self, path: &str, method: &str, status: u16, took: Duration) {
        let method = match method {
            "GET" | "POST" | "PUT" | "DELETE" | "HEAD" | "OPTIONS" | "PATCH" => method,
            _ => "OTHER",
        };
        let secs = took.as_secs_f64();
        let mut m = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let h = m
            .entry((route_name(path), method.to_string(), status))
            .or_default();
        h.count += 1;
        h.sum += secs;
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            h.counts[i] += 1;
        }
    }

    /// Records what a push of `tenant` stored and refused.
    pub fn pushed(&self, tenant: &str, lines: u64, bytes: u64, discarded: u64) {
        let mut m = self.ingested.lock().unwrap_or_else(|e| e.into_inner());
        let t = m.entry(tenant.to_string()).or_default();
        t.lines += lines;
        t.bytes += bytes;
        t.discarded += discarded;
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP loki_request_duration_seconds Time (in seconds) spent serving HTTP requests.\n",
        );
        out.push_str("# TYPE loki_request_duration_seconds histogram\n");
        let reqs = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        for ((route, method, status), h) in reqs.iter() {
            let labels = format!(
                "method=\"{method}\",route=\"{route}\",status_code=\"{status}\",ws=\"false\""
            );
            let mut cum = 0;
            for (b, n) in BUCKETS.iter().zip(h.counts) {
                cum += n;
                let _ = writeln!(
                    out,
                    "loki_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {cum}"
                );
            }
            let _ = writeln!(
                out,
                "loki_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "loki_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "loki_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        drop(reqs);
        let ing = self
            .ingested
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let family = |out: &mut String, name: &str, help: &str, get: fn(&Ingested) -> u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (tenant, v) in &ing {
                let _ = writeln!(out, "{name}{{tenant=\"{}\"}} {}", escape(tenant), get(v));
            }
        };
        family(
            &mut out,
            "loki_distributor_lines_received_total",
            "The total number of lines received and stored per tenant.",
            |v| v.lines,
        );
        family(
            &mut out,
            "loki_distributor_bytes_received_total",
            "The total number of line bytes received and stored per tenant.",
            |v| v.bytes,
        );
        family(
            &mut out,
            "loki_discarded_samples_total",
            "The total number of pushed lines refused per tenant.",
            |v| v.discarded,
        );
        out
    }
}

/// A label value in the exposition format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_routes_bounded() {
        let m = Metrics::default();
        m.request(
            "/loki/api/v1/query_range",
            "GET",
            200,
            Duration::from_millis(3),
        );
        m.request(
            "/loki/api/v1/query_range",
            "GET",
            200,
            Duration::from_millis(30),
        );
        m.request("/wp-admin.php", "GET", 404, Duration::from_millis(1));
        m.pushed("fake", 3, 40, 1);
        let t = m.render();
        let route =
            "method=\"GET\",route=\"loki_api_v1_query_range\",status_code=\"200\",ws=\"false\"";
        assert!(
            t.contains(&format!(
                "loki_request_duration_seconds_bucket{{{route},le=\"0.005\"}} 1\n"
            )),
            "{t}"
        );
        assert!(
            t.contains(&format!(
                "loki_request_duration_seconds_bucket{{{route},le=\"0.05\"}} 2\n"
            )),
            "{t}"
        );
        assert!(
            t.contains(&format!(
                "loki_request_duration_seconds_count{{{route}}} 2\n"
            )),
            "{t}"
        );
        assert!(t.contains("route=\"other\",status_code=\"404\""), "{t}");
        assert!(
            t.contains("loki_distributor_lines_received_total{tenant=\"fake\"} 3\n"),
            "{t}"
        );
        assert!(
            t.contains("loki_discarded_samples_total{tenant=\"fake\"} 1\n"),
            "{t}"
        );
        assert_eq!(
            route_name("/loki/api/v1/label/job/values"),
            "loki_api_v1_label_name_values"
        );
    }
}
