//! Loki's push API on the wire: `POST /loki/api/v1/push` with a protobuf
//! `logproto.PushRequest` (Loki's `pkg/push/push.proto`) compressed with
//! snappy's block format, as promtail, Alloy and Loki's own clients send it.
//! One definition of the messages serves both directions: `lokal push`
//! encodes, `lokal serve` decodes.
//!
//! A line is a protobuf `string`, but Go neither checks nor needs UTF-8 there
//! and lokal stores lines as bytes, so the line is read and written as bytes
//! (the same on the wire).

use prost::Message;

/// The `Content-Type` of a protobuf push body.
pub const CONTENT_TYPE_PROTOBUF: &str = "application/x-protobuf";

/// The most bytes a snappy-compressed push body may inflate to: Loki's
/// distributor refuses bodies over its `max_recv_msg_size` (100 MB by
/// default); a body that claims more is refused before it is decoded.
pub const MAX_DECODED_BYTES: usize = 100 << 20;

/// `logproto.PushRequest`: streams, each with its entries.
#[derive(Clone, PartialEq, Message)]
pub struct PushRequest {
    /// The streams.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// `logproto.StreamAdapter`: one stream's labels, in Loki's printed form
/// (`{a="1", b="2"}`), and its entries.
#[derive(Clone, PartialEq, Message)]
pub struct StreamAdapter {
    /// The label set as Loki prints it.
    #[prost(string, tag = "1")]
    pub labels: String,
    /// The entries, in any order.
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// The label set's hash as the sender computed it (Loki ignores it on
    /// push; kept for the wire's sake).
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`: a timestamped line and its structured metadata.
#[derive(Clone, PartialEq, Message)]
pub struct EntryAdapter {
    /// When the line was logged.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// The line (bytes: see the module docs).
    #[prost(bytes = "vec", tag = "2")]
    pub line: Vec<u8>,
    /// Loki 3's structured metadata: name/value pairs beside the line.
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

/// `logproto.LabelPairAdapter`.
#[derive(Clone, PartialEq, Message)]
pub struct LabelPairAdapter {
    /// The name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second, 0 to 999,999,999.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// The timestamp of `ns` nanoseconds since the epoch.
    pub fn from_nanos(ns: i64) -> Timestamp {
        Timestamp {
            seconds: ns.div_euclid(1_000_000_000),
            nanos: ns.rem_euclid(1_000_000_000) as i32,
        }
    }

    /// Nanoseconds since the epoch (saturating outside i64's range).
    pub fn as_nanos(&self) -> i64 {
        self.seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(self.nanos))
    }
}

/// Why a push body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PushDecodeError {
    /// Not snappy's block format, or it claims more than
    /// [`MAX_DECODED_BYTES`].
    #[error("push body is not snappy-compressed protobuf: {0}")]
    Snappy(String),
    /// Not a `PushRequest`.
    #[error("push body is not a Loki PushRequest: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

/// Encodes a push body: protobuf, then snappy's block format.
pub fn encode(req: &PushRequest) -> Vec<u8> {
    let raw = req.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy compresses any input below 4 GiB")
}

/// Decodes a push body (snappy block format, then protobuf), refusing one
/// that would inflate past [`MAX_DECODED_BYTES`] before inflating it.
pub fn decode(body: &[u8]) -> Result<PushRequest, PushDecodeError> {
    let len =
        snap::raw::decompress_len(body).map_err(|e| PushDecodeError::Snappy(e.to_string()))?;
    if len > MAX_DECODED_BYTES {
        return Err(PushDecodeError::Snappy(format!(
            "it inflates to {len} bytes, over the limit of {MAX_DECODED_BYTES}"
        )));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| PushDecodeError::Snappy(e.to_string()))?;
    Ok(PushRequest::decode(raw.as_slice())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PushRequest {
        PushRequest {
            streams: vec![StreamAdapter {
                labels: r#"{job="api", env="prod"}"#.into(),
                entries: vec![
                    EntryAdapter {
                        timestamp: Some(Timestamp::from_nanos(1_714_521_600_123_456_789)),
                        line: b"level=info msg=\"hello\"".to_vec(),
                        structured_metadata: vec![LabelPairAdapter {
                            name: "trace_id".into(),
                            value: "abc".into(),
                        }],
                    },
                    EntryAdapter {
                        timestamp: Some(Timestamp::from_nanos(-1)),
                        line: vec![0xff, 0xfe, b'x'],
                        structured_metadata: vec![],
                    },
                ],
                hash: 0,
            }],
        }
    }

    #[test]
    fn round_trips_bytes_and_metadata() {
        let req = sample();
        let back = decode(&encode(&req)).unwrap();
        assert_eq!(back, req);
        assert_eq!(
            back.streams[0].entries[1].timestamp.unwrap(),
            Timestamp {
                seconds: -1,
                nanos: 999_999_999
            }
        );
        assert_eq!(back.streams[0].entries[1].timestamp.unwrap().as_nanos(), -1);
    }

    /// The bytes Loki's Go types produce for one entry (field numbers and
    /// wire types of push.proto), written out by hand.
    #[test]
    fn wire_bytes_are_loki_s() {
        let req = PushRequest {
            streams: vec![StreamAdapter {
                labels: "{a=\"b\"}".into(),
                entries: vec![EntryAdapter {
                    timestamp: Some(Timestamp {
                        seconds: 1,
                        nanos: 2,
                    }),
                    line: b"x".to_vec(),
                    structured_metadata: vec![],
                }],
                hash: 0,
            }],
        };
        let entry = [0x0a, 0x04, 0x08, 0x01, 0x10, 0x02, 0x12, 0x01, b'x'];
        let mut stream = vec![0x0a, 0x07];
        stream.extend_from_slice(b"{a=\"b\"}");
        stream.push(0x12);
        stream.push(entry.len() as u8);
        stream.extend_from_slice(&entry);
        let mut want = vec![0x0a, stream.len() as u8];
        want.extend_from_slice(&stream);
        assert_eq!(req.encode_to_vec(), want);
    }

    #[test]
    fn refuses_what_is_not_a_push_body() {
        assert!(matches!(
            decode(b"not snappy"),
            Err(PushDecodeError::Snappy(_))
        ));
        let garbage = snap::raw::Encoder::new().compress_vec(&[0xff; 8]).unwrap();
        assert!(matches!(
            decode(&garbage),
            Err(PushDecodeError::Protobuf(_))
        ));
        // A header claiming 1 GiB is refused before anything is inflated.
        let mut bomb = Vec::new();
        let mut n: u64 = 1 << 30;
        while n >= 0x80 {
            bomb.push((n as u8) | 0x80);
            n >>= 7;
        }
        bomb.push(n as u8);
        let err = decode(&bomb).unwrap_err().to_string();
        assert!(err.contains("over the limit"), "{err}");
    }
}
