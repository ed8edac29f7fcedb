//! Loki's HTTP API response bodies: what `/loki/api/v1/query_range` and
//! `/loki/api/v1/query` return for streams, matrices, vectors and scalars
//! (`lokal query -o json`), `stats` included. The Loki client (`query
//! --addr`, `push`) and the server (`serve`) will live beside this module and
//! share these shapes.
//!
//! The bodies are typed structs, serialized in Loki's key order
//! (`status`, `warnings`, `data` with `resultType`, `result`, `stats`), so
//! the output reads like Loki's byte for byte up to the values.

use serde::Serialize;
use serde_json::json;

use super::streams::StreamsBody;
use crate::engine::logquery::LogEntry;
use crate::engine::stats::QueryStats;
use crate::engine::value::MetricValue;
use crate::model::Labels;

/// A label set as a JSON object.
pub fn labels_json(l: &Labels) -> serde_json::Value {
    serde_json::Value::Object(
        l.pairs()
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect(),
    )
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
    pub stats: Stats,
}

impl<R> QueryResponse<R> {
    fn new(result_type: &'static str, result: R, s: &QueryStats, n: u64) -> Self {
        QueryResponse {
            status: "success",
            warnings: s.warnings.clone(),
            data: QueryData {
                result_type,
                result,
                stats: Stats::new(s, n),
            },
        }
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

/// Unix seconds with up to millisecond precision, as Loki's API prints them.
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

/// `-o json` for a metric query: Loki's `/loki/api/v1/query` (vector,
/// scalar) or `/loki/api/v1/query_range` (matrix) response body.
pub fn metric_response(v: &MetricValue, stats: &QueryStats) -> QueryResponse {
    // Loki counts the series (a scalar is one).
    let (kind, result, n) = match v {
        MetricValue::Vector(samples) => (
            "vector",
            json!(samples
                .iter()
                .map(|s| json!({"metric": labels_json(&s.labels), "value": point(s.ts, s.value)}))
                .collect::<Vec<_>>()),
            samples.len(),
        ),
        MetricValue::Matrix(series) => (
            "matrix",
            json!(series
                .iter()
                .map(|s| json!({
                    "metric": labels_json(&s.labels),
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
    use crate::engine::value::Sample;

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
