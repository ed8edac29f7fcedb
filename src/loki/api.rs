//! Loki's HTTP API response bodies: what `/loki/api/v1/query_range` and
//! `/loki/api/v1/query` return for streams, matrices, vectors and scalars
//! (`lokal query -o json`), `stats` included. The Loki client (`query
//! --addr`, `push`) and the server (`serve`) will live beside this module and
//! share these shapes.
//!
//! The bodies are typed structs, serialized in Loki's key order
//! (`status`, `warnings`, `data` with `resultType`, `result`, `stats`), so
//! the output reads like Loki's byte for byte up to the values. A result is
//! written from the answer it borrows as the body is serialized (a metric
//! answer through [`MetricBody`], a log answer through
//! [`StreamsBody`]): no JSON tree of the answer is built.

use serde::ser::{SerializeMap, SerializeTuple};
use serde::{Serialize, Serializer};

use super::streams::StreamsBody;
use crate::engine::logquery::LogEntry;
use crate::engine::stats::QueryStats;
use crate::engine::value::{MetricValue, Sample};
use crate::model::Labels;

/// A label set as a JSON object `{"name": "value", …}`, written from the
/// borrowed pairs. They are sorted by name and unique, so the keys come in
/// the order a `serde_json::Map` would give them.
#[derive(Debug, Clone, Copy)]
pub struct LabelsJson<'a>(pub &'a Labels);

impl Serialize for LabelsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.pairs().iter().map(|(k, v)| (k, v)))
    }
}

/// A label set as a JSON value, for bodies built with `json!`.
pub fn labels_json(l: &Labels) -> serde_json::Value {
    serde_json::to_value(LabelsJson(l)).expect("a map of strings is always JSON")
}

/// A successful query response: `{"status":"success",["warnings":[…],]"data":{…}}`.
#[derive(Debug, Serialize)]
pub struct QueryResponse<R = serde_json::Value> {
    /// Always `success` (Loki answers errors in plain text).
    pub status: &'static str,
    /// Loki's query warnings; lokal's name damaged blocks or indexes that
    /// were skipped. Left out when empty, as Loki does.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The result and its statistics.
    pub data: QueryData<R>,
}

/// `data` of a query response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryData<R = serde_json::Value> {
    /// `streams`, `matrix`, `vector` or `scalar`.
    pub result_type: &'static str,
    /// The result, in the shape `result_type` names.
    pub result: R,
    /// Loki's `stats` tree.
    pub stats: StatsBody,
}

/// The `stats` of a response: lokal's own, or the tree a Loki sent (`query
/// --addr -o json` shows what Loki measured).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum StatsBody {
    /// Filled from lokal's query statistics.
    Lokal(Box<Stats>),
    /// As a Loki answered it.
    Loki(serde_json::Value),
}

impl<R> QueryResponse<R> {
    fn new(result_type: &'static str, result: R, s: &QueryStats, n: u64) -> Self {
        QueryResponse {
            status: "success",
            warnings: s.warnings.clone(),
            data: QueryData {
                result_type,
                result,
                stats: StatsBody::Lokal(Box::new(Stats::new(s, n))),
            },
        }
    }
}

impl<R> QueryResponse<R> {
    /// The response with the `stats` a Loki sent in place of lokal's.
    pub fn with_loki_stats(mut self, stats: Option<serde_json::Value>) -> Self {
        self.data.stats = StatsBody::Loki(stats.unwrap_or(serde_json::json!({})));
        self
    }
}

/// `-o json`: the body Loki's `/loki/api/v1/query_range` returns for a log
/// query — entries grouped by stream, values `["<unix ns>", "<line>"]`.
pub fn log_response(
    entries: &[LogEntry],
    stats: &QueryStats,
) -> std::io::Result<QueryResponse<StreamsBody>> {
    Ok(streams_response(StreamsBody::of(entries)?, stats))
}

/// [`log_response`] for entries already grouped, however many.
pub fn streams_response(body: StreamsBody, stats: &QueryStats) -> QueryResponse<StreamsBody> {
    // Loki counts the lines returned.
    let n = body.entries();
    QueryResponse::new("streams", body, stats, n)
}

/// Formats a sample value as Prometheus does (`strconv.FormatFloat(v, 'f', -1, 64)`
/// with `+Inf`, `-Inf`, `NaN`).
pub fn format_value(v: f64) -> String {
    // Negative zero prints as "0", not Go's "-0".
    if v == 0.0 {
        return "0".into();
    }
    crate::go::strconv::format_float(v, 'f', -1)
}

/// A sample as Loki's API writes it: `[<unix seconds>, "<value>"]`, the
/// time with up to millisecond precision (a number), the value as
/// [`format_value`] prints it (a string).
#[derive(Debug, Clone, Copy)]
struct Point(i64, f64);

impl Serialize for Point {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        let ms = self.0.div_euclid(1_000_000);
        if ms % 1000 == 0 {
            t.serialize_element(&(ms / 1000))?;
        } else {
            t.serialize_element(&(ms as f64 / 1000.0))?;
        }
        t.serialize_element(&format_value(self.1))?;
        t.end()
    }
}

/// A series' `values`.
struct Points<'a>(&'a [(i64, f64)]);

impl Serialize for Points<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|&(t, v)| Point(t, v)))
    }
}

/// One series of a matrix: `{"metric": {…}, "values": [[…], …]}`.
struct SeriesJson<'a> {
    labels: &'a Labels,
    points: &'a [(i64, f64)],
}

impl Serialize for SeriesJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("metric", &LabelsJson(self.labels))?;
        m.serialize_entry("values", &Points(self.points))?;
        m.end()
    }
}

/// One sample of a vector: `{"metric": {…}, "value": […]}`.
struct SampleJson<'a>(&'a Sample);

impl Serialize for SampleJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("metric", &LabelsJson(&self.0.labels))?;
        m.serialize_entry("value", &Point(self.0.ts, self.0.value))?;
        m.end()
    }
}

/// The `result` of a metric answer, serialized straight from the borrowed
/// [`MetricValue`] as it is written: whatever the answer's size, writing it
/// takes no memory beyond the value itself. (Built first as a
/// `serde_json::Value` tree, a million series of five points took 3.2 GB
/// more than `-o jsonl` of the same answer.)
#[derive(Debug, Clone, Copy)]
pub struct MetricBody<'a>(pub &'a MetricValue);

impl MetricBody<'_> {
    /// Loki's `resultType` for the body and the number of series it counts
    /// as returned: a scalar of one point (an instant query) is a `scalar`,
    /// of several (a range query) a `matrix` of one series without labels.
    pub fn shape(&self) -> (&'static str, usize) {
        match self.0 {
            MetricValue::Vector(samples) => ("vector", samples.len()),
            MetricValue::Matrix(series) => ("matrix", series.len()),
            MetricValue::Scalar(points) if points.len() == 1 => ("scalar", 1),
            MetricValue::Scalar(_) => ("matrix", 1),
        }
    }
}

impl Serialize for MetricBody<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            MetricValue::Vector(samples) => s.collect_seq(samples.iter().map(SampleJson)),
            MetricValue::Matrix(series) => s.collect_seq(series.iter().map(|x| SeriesJson {
                labels: &x.labels,
                points: &x.points,
            })),
            MetricValue::Scalar(points) => match points.as_slice() {
                [(t, v)] => Point(*t, *v).serialize(s),
                _ => s.collect_seq([SeriesJson {
                    labels: &Labels::default(),
                    points,
                }]),
            },
        }
    }
}

/// `-o json` for a metric query: Loki's `/loki/api/v1/query` (vector,
/// scalar) or `/loki/api/v1/query_range` (matrix) response body, written
/// from `v` as it is serialized.
pub fn metric_response<'a>(
    v: &'a MetricValue,
    stats: &QueryStats,
) -> QueryResponse<MetricBody<'a>> {
    let body = MetricBody(v);
    // Loki counts the series (a scalar is one).
    let (kind, n) = body.shape();
    QueryResponse::new(kind, body, stats, n as u64)
}

/// A double of Loki's stats: integral values print without a fraction
/// (`0`, not `0.0`), as Go prints a float64.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Seconds(pub f64);

impl Serialize for Seconds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.fract() == 0.0 && v.abs() < 1e15 {
            s.serialize_i64(v as i64)
        } else {
            s.serialize_f64(v)
        }
    }
}

/// Loki's `stats` of a query response (`stats.Result`,
/// `pkg/logqlmodel/stats/stats.proto` of Loki 3.7.6): every field Loki
/// prints, in its order and JSON types. lokal reads its store where Loki
/// reads chunks, so the `querier.store` side carries the values; lokal has
/// no ingesters, caches, index gateways, queue or splits, and says 0.
/// The fields of this tree are named as Loki names them (camelCase in JSON);
/// times are nanoseconds unless marked as seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Totals of the query.
    pub summary: Summary,
    /// What the queriers read.
    pub querier: QuerierStats,
    /// What ingesters read (lokal: none).
    pub ingester: IngesterStats,
    /// Cache use (lokal: none).
    pub cache: Caches,
    /// Index statistics.
    pub index: IndexStats,
}

/// `stats.summary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub bytes_processed_per_second: i64,
    pub lines_processed_per_second: i64,
    pub total_bytes_processed: i64,
    pub total_lines_processed: i64,
    /// Seconds.
    pub exec_time: Seconds,
    /// Seconds.
    pub queue_time: Seconds,
    pub subqueries: i64,
    pub total_entries_returned: i64,
    pub splits: i64,
    pub shards: i64,
    pub total_post_filter_lines: i64,
    pub total_structured_metadata_bytes_processed: i64,
}

/// `stats.querier`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuerierStats {
    /// What was read.
    pub store: StoreStats,
    /// Seconds.
    pub querier_exec_time: Seconds,
}

/// `stats.ingester`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngesterStats {
    pub total_reached: i32,
    pub total_chunks_matched: i64,
    pub total_batches: i64,
    pub total_lines_sent: i64,
    pub store: StoreStats,
}

/// `store` of the querier and ingester stats.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreStats {
    pub total_chunks_ref: i64,
    pub total_chunks_downloaded: i64,
    /// Nanoseconds.
    pub chunks_download_time: i64,
    pub query_referenced_structured_metadata: bool,
    #[serde(rename = "queryUsedV2Engine")]
    pub query_used_v2_engine: bool,
    pub chunk: ChunkStats,
    /// Nanoseconds.
    pub chunk_refs_fetch_time: i64,
    /// Nanoseconds.
    pub congestion_control_latency: i64,
    pub pipeline_wrapper_filtered_lines: i64,
    pub dataobj: DataobjStats,
}

/// `store.chunk`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkStats {
    pub head_chunk_bytes: i64,
    pub head_chunk_lines: i64,
    pub decompressed_bytes: i64,
    pub decompressed_lines: i64,
    pub compressed_bytes: i64,
    pub total_duplicates: i64,
    pub post_filter_lines: i64,
    pub head_chunk_structured_metadata_bytes: i64,
    pub decompressed_structured_metadata_bytes: i64,
}

/// `store.dataobj` (Loki's data objects; lokal has none).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataobjStats {
    pub pre_predicate_decompressed_rows: i64,
    pub pre_predicate_decompressed_bytes: i64,
    pub pre_predicate_decompressed_structured_metadata_bytes: i64,
    pub post_predicate_rows: i64,
    pub post_predicate_decompressed_bytes: i64,
    pub post_predicate_structured_metadata_bytes: i64,
    pub post_filter_rows: i64,
    pub pages_scanned: i64,
    pub pages_downloaded: i64,
    pub pages_downloaded_bytes: i64,
    pub page_batches: i64,
    pub total_rows_available: i64,
    /// Nanoseconds.
    pub total_page_download_time: i64,
}

/// `stats.cache`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Caches {
    pub chunk: CacheStats,
    pub index: CacheStats,
    pub result: CacheStats,
    pub stats_result: CacheStats,
    pub volume_result: CacheStats,
    pub series_result: CacheStats,
    pub label_result: CacheStats,
    pub instant_metric_result: CacheStats,
}

/// One cache's statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheStats {
    pub entries_found: i32,
    pub entries_requested: i32,
    pub entries_stored: i32,
    pub bytes_received: i64,
    pub bytes_sent: i64,
    pub requests: i32,
    /// Nanoseconds.
    pub download_time: i64,
    pub query_length_served: i64,
}

/// `stats.index`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexStats {
    pub total_chunks: i64,
    pub post_filter_chunks: i64,
    /// Nanoseconds.
    pub shards_duration: i64,
    pub used_bloom_filters: bool,
    pub total_streams: i64,
    /// Seconds.
    pub chunk_refs_lookup_time: Seconds,
    /// Seconds.
    pub bloom_filter_time: Seconds,
}

impl Stats {
    /// Loki's statistics for a lokal query that returned `entries_returned`
    /// lines (a log query) or series (a metric query), computed as Loki's
    /// `Result.ComputeSummary` does from the store side.
    pub fn new(s: &QueryStats, entries_returned: u64) -> Stats {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let exec = s.total_time.as_secs_f64();
        let lines = n(s.lines_scanned + s.lines_skipped);
        let bytes = n(s.bytes_decompressed);
        let per_second = |v: i64| {
            if exec > 0.0 {
                (v as f64 / exec) as i64
            } else {
                0
            }
        };
        let chunk = ChunkStats {
            decompressed_bytes: bytes,
            decompressed_lines: lines,
            compressed_bytes: n(s.bytes_compressed),
            post_filter_lines: n(s.lines_kept),
            decompressed_structured_metadata_bytes: n(s.metadata_bytes),
            ..ChunkStats::default()
        };
        Stats {
            summary: Summary {
                bytes_processed_per_second: per_second(bytes),
                lines_processed_per_second: per_second(lines),
                total_bytes_processed: bytes,
                total_lines_processed: lines,
                exec_time: Seconds(exec),
                total_entries_returned: n(entries_returned),
                shards: n(s.shards),
                total_post_filter_lines: chunk.post_filter_lines,
                total_structured_metadata_bytes_processed: chunk
                    .decompressed_structured_metadata_bytes,
                ..Summary::default()
            },
            querier: QuerierStats {
                store: StoreStats {
                    total_chunks_ref: n(s.chunks),
                    total_chunks_downloaded: n(s.chunks),
                    chunk_refs_fetch_time: n(s.plan_time.as_nanos() as u64),
                    chunk,
                    ..StoreStats::default()
                },
                querier_exec_time: Seconds(exec),
            },
            index: IndexStats {
                total_chunks: n(s.chunks),
                total_streams: n(s.streams),
                chunk_refs_lookup_time: Seconds(s.plan_time.as_secs_f64()),
                ..IndexStats::default()
            },
            ..Stats::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::value::Series;
    use proptest::prelude::*;
    use serde_json::json;

    /// The body as `metric_response` built it before it serialized from the
    /// value: a `serde_json::Value` tree of the whole answer. Kept as the
    /// oracle of the borrowed serializer.
    fn tree_response(v: &MetricValue, stats: &QueryStats) -> QueryResponse<serde_json::Value> {
        fn unix_seconds(ts: i64) -> serde_json::Value {
            let ms = ts.div_euclid(1_000_000);
            if ms % 1000 == 0 {
                json!(ms / 1000)
            } else {
                json!(ms as f64 / 1000.0)
            }
        }
        fn point(t: i64, v: f64) -> serde_json::Value {
            json!([unix_seconds(t), format_value(v)])
        }
        fn labels(l: &Labels) -> serde_json::Value {
            serde_json::Value::Object(
                l.pairs()
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v)))
                    .collect(),
            )
        }
        let (kind, result, n) = match v {
            MetricValue::Vector(samples) => (
                "vector",
                json!(samples
                    .iter()
                    .map(|s| json!({"metric": labels(&s.labels), "value": point(s.ts, s.value)}))
                    .collect::<Vec<_>>()),
                samples.len(),
            ),
            MetricValue::Matrix(series) => (
                "matrix",
                json!(series
                    .iter()
                    .map(|s| json!({
                        "metric": labels(&s.labels),
                        "values": s.points.iter().map(|(t, v)| point(*t, *v)).collect::<Vec<_>>()
                    }))
                    .collect::<Vec<_>>()),
                series.len(),
            ),
            MetricValue::Scalar(points) => match points.as_slice() {
                [(t, v)] => ("scalar", point(*t, *v), 1),
                _ => (
                    "matrix",
                    json!([{"metric": {}, "values": points.iter().map(|(t, v)| point(*t, *v)).collect::<Vec<_>>()}]),
                    1,
                ),
            },
        };
        QueryResponse::new(kind, result, stats, n as u64)
    }

    /// Times on whole seconds, on whole milliseconds and anywhere, before
    /// the epoch too.
    fn any_ts() -> impl Strategy<Value = i64> {
        prop_oneof![
            (-2_000_000_000i64..4_000_000_000).prop_map(|s| s * 1_000_000_000),
            (-2_000_000_000_000i64..4_000_000_000_000).prop_map(|ms| ms * 1_000_000),
            any::<i64>(),
        ]
    }

    /// Every kind of double Loki prints: NaN, ±Inf, ±0, whole, tiny, huge.
    fn any_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            (-1_000_000i64..1_000_000).prop_map(|v| v as f64),
            any::<f64>(),
        ]
    }

    fn any_labels() -> impl Strategy<Value = Labels> {
        prop::collection::vec(
            (
                "[a-z_]{1,4}",
                "\\PC{0,6}|[ -~]{0,8}|[\"\\\\\n\t\u{0}\u{7f}é😀]{0,4}",
            ),
            0..4,
        )
        .prop_map(Labels::from_pairs)
    }

    fn any_points() -> impl Strategy<Value = Vec<(i64, f64)>> {
        prop::collection::vec((any_ts(), any_value()), 0..5)
    }

    fn any_metric_value() -> impl Strategy<Value = MetricValue> {
        prop_oneof![
            prop::collection::vec(
                (any_labels(), any_ts(), any_value()).prop_map(|(labels, ts, value)| Sample {
                    labels,
                    ts,
                    value
                }),
                0..5
            )
            .prop_map(MetricValue::Vector),
            prop::collection::vec(
                (any_labels(), any_points()).prop_map(|(labels, points)| Series { labels, points }),
                0..5
            )
            .prop_map(MetricValue::Matrix),
            // One point (an instant scalar), none, or several.
            (any_ts(), any_value()).prop_map(|p| MetricValue::Scalar(vec![p])),
            any_points().prop_map(MetricValue::Scalar),
        ]
    }

    proptest! {
        /// The body written from the borrowed value is the old tree's, byte
        /// for byte, compact (`serve`) and indented (`query -o json`), for
        /// every shape, with warnings or none and with lokal's or a Loki's
        /// stats.
        #[test]
        fn metric_body_is_the_trees_bytes(
            v in any_metric_value(),
            warnings in prop::collection::vec("[ -~é]{0,12}", 0..3),
            loki in prop::option::of(Just(json!({"summary": {"execTime": 0.25, "splits": 2}}))),
            shards in 0u64..3,
            ms in 0u64..2000,
            remote in any::<bool>(),
        ) {
            let stats = QueryStats {
                warnings,
                shards,
                streams: 7,
                bytes_decompressed: 12345,
                total_time: std::time::Duration::from_millis(ms),
                ..QueryStats::default()
            };
            let (mut new, mut old) = (metric_response(&v, &stats), tree_response(&v, &stats));
            if remote {
                new = new.with_loki_stats(loki.clone());
                old = old.with_loki_stats(loki);
            }
            prop_assert_eq!(
                String::from_utf8(serde_json::to_vec(&new).unwrap()).unwrap(),
                String::from_utf8(serde_json::to_vec(&old).unwrap()).unwrap()
            );
            prop_assert_eq!(
                serde_json::to_string_pretty(&new).unwrap(),
                serde_json::to_string_pretty(&old).unwrap()
            );
        }

        /// A label set written from its pairs is the `Map` `labels_json`
        /// gives, escapes and all.
        #[test]
        fn labels_json_is_the_maps_bytes(l in any_labels()) {
            let map: serde_json::Map<String, serde_json::Value> = l
                .pairs()
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            let map = serde_json::Value::Object(map);
            prop_assert_eq!(serde_json::to_string(&LabelsJson(&l)).unwrap(), serde_json::to_string(&map).unwrap());
            prop_assert_eq!(serde_json::to_string_pretty(&LabelsJson(&l)).unwrap(), serde_json::to_string_pretty(&map).unwrap());
            prop_assert_eq!(labels_json(&l), map);
        }
    }

    fn body<R: Serialize>(r: &QueryResponse<R>) -> serde_json::Value {
        serde_json::to_value(r).unwrap()
    }

    #[test]
    fn bodies_have_loki_shapes() {
        let l = Labels::from_pairs([("app", "a")]);
        let v = MetricValue::Vector(vec![Sample {
            labels: l.clone(),
            ts: 1_500_000_000,
            value: -0.0,
        }]);
        let none = QueryStats::default();
        let b = body(&metric_response(&v, &none));
        assert_eq!(b["data"]["resultType"], "vector");
        assert_eq!(
            b["data"]["result"],
            json!([{"metric": {"app": "a"}, "value": [1.5, "0"]}])
        );
        assert_eq!(b["data"]["stats"]["summary"]["totalEntriesReturned"], 1);
        let s = MetricValue::Scalar(vec![(2_000_000_000, f64::INFINITY)]);
        assert_eq!(
            body(&metric_response(&s, &none))["data"]["result"],
            json!([2, "+Inf"])
        );
        let e = LogEntry {
            ts: 7,
            labels: l.into(),
            line: b"x".to_vec(),
        };
        let b = body(&log_response(&[e.clone(), e], &none).unwrap());
        assert_eq!(
            b["data"]["result"],
            json!([{"stream": {"app": "a"}, "values": [["7", "x"], ["7", "x"]]}])
        );
        assert_eq!(b["data"]["stats"]["summary"]["totalEntriesReturned"], 2);
        assert!(b.get("warnings").is_none());
    }

    #[test]
    fn keys_come_in_lokis_order_and_warnings_after_status() {
        let stats = QueryStats {
            warnings: vec!["skipped a damaged block".into()],
            ..QueryStats::default()
        };
        let text =
            serde_json::to_string(&metric_response(&MetricValue::Matrix(vec![]), &stats)).unwrap();
        assert!(
            text.starts_with(
                r#"{"status":"success","warnings":["skipped a damaged block"],"data":{"resultType":"matrix","result":[],"stats":{"summary":{"bytesProcessedPerSecond":0,"#
            ),
            "{text}"
        );
        // Doubles that are whole print as Go prints them.
        assert!(text.contains(r#""execTime":0,"queueTime":0,"#), "{text}");
    }

    #[test]
    fn stats_values_come_from_the_query() {
        let q = QueryStats {
            streams: 3,
            chunks: 4,
            bytes_compressed: 100,
            bytes_decompressed: 1000,
            lines_scanned: 40,
            lines_skipped: 10,
            lines_kept: 7,
            shards: 1,
            total_time: std::time::Duration::from_millis(500),
            ..QueryStats::default()
        };
        let s = Stats::new(&q, 2);
        assert_eq!(s.summary.total_bytes_processed, 1000);
        assert_eq!(s.summary.bytes_processed_per_second, 2000);
        assert_eq!(s.summary.total_lines_processed, 50);
        assert_eq!(s.summary.lines_processed_per_second, 100);
        assert_eq!(s.summary.total_post_filter_lines, 7);
        assert_eq!(s.summary.exec_time, Seconds(0.5));
        assert_eq!(s.summary.total_entries_returned, 2);
        assert_eq!(s.querier.store.total_chunks_ref, 4);
        assert_eq!(s.querier.store.chunk.compressed_bytes, 100);
        assert_eq!(s.index.total_streams, 3);
    }
}
