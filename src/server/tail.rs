//! `/loki/api/v1/tail`: Loki's live tail over a websocket (tungstenite on
//! the connection tiny_http hands over after the upgrade). Each tail gets a
//! thread of its own, so it holds no worker: it sends the last `limit`
//! entries since `start`, then what each commit adds, each message Loki's
//! `{"streams":[{"stream":{…},"values":[["<ns>","<line>"]]}]}`.
//!
//! The following is [`querier::Tail`](crate::querier::Tail), the one
//! `lokal query --tail` uses: it watches the tenant's MANIFEST and reads only
//! the segments each commit adds, so an entry stored late with a time older
//! than what was already sent is tailed (Loki tails on arrival), and none is
//! sent twice, even across a compaction. `delay_for` is its delay: entries
//! are held that long, then sent sorted by time with those that came
//! meanwhile.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::protocol::{Role, WebSocket};
use tungstenite::Message;

use super::handlers::{Reply, Request};
use super::{params, State};
use crate::engine::logquery::LogEntry;
use crate::logql::{Expr, LogExpr};
use crate::loki::streams::StreamsBody;
use crate::querier::Tail as Follow;
use crate::time::TimeRange;

/// How often an idle tail pings its client (a gone client ends the tail).
const PING: Duration = Duration::from_secs(10);
/// Most entries in one message; more go in the messages after it.
const BATCH: usize = 5000;

/// A checked tail request: its query, `limit`, `start`, `delay_for`.
struct Tail {
    expr: LogExpr,
    limit: usize,
    start: i64,
    delay: Duration,
    tenant: String,
}

fn check(r: &Request) -> Result<Tail, Reply> {
    let expr = match crate::logql::parse_expr(r.form.get("query")).map_err(Reply::bad)? {
        Expr::Log(l) => l,
        Expr::Sample(_) => {
            return Err(Reply::bad(
                "tail is only supported for log queries, not for metric queries",
            ))
        }
    };
    let limit = params::limit(&r.form).map_err(Reply::bad)?;
    let start = params::timestamp_param(&r.form, "start", r.now - params::DEFAULT_SINCE)
        .map_err(Reply::bad)?;
    let delay = match r.form.get("delay_for") {
        "" => 0,
        d => crate::go::strconv::parse_int(d, 10)
            .map_err(|e| Reply::bad(format!("could not parse 'delay_for' parameter: {e}")))?,
    };
    // Loki's bound and text.
    if !(0..=5).contains(&delay) {
        return Err(Reply::bad("delay_for can't be greater than 5"));
    }
    Ok(Tail {
        expr,
        limit,
        start,
        delay: Duration::from_secs(delay as u64),
        tenant: r.tenant.clone(),
    })
}

/// Answers a tail request: refuses it (returning the reply to write), or
/// upgrades the connection and tails on a thread of its own (`None`).
pub fn start(
    state: &Arc<State>,
    req: tiny_http::Request,
    r: &Request,
) -> Option<(tiny_http::Request, Reply)> {
    let tail = match check(r) {
        Ok(t) => t,
        Err(reply) => return Some((req, reply)),
    };
    let key = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Sec-WebSocket-Key"))
        .map(|h| h.value.as_str().to_string());
    let Some(key) = key else {
        return Some((
            req,
            Reply::bad("the tail endpoint needs a websocket (Upgrade: websocket)"),
        ));
    };
    let max = state.config.max_tails;
    let now = state.tails.fetch_add(1, Ordering::SeqCst) + 1;
    if max > 0 && now > max {
        state.tails.fetch_sub(1, Ordering::SeqCst);
        return Some((
            req,
            Reply::bad(format!(
                "max concurrent tail requests limit exceeded, count > limit ({now} > {max})"
            )),
        ));
    }
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let header = |k: &str, v: &str| tiny_http::Header::from_bytes(k, v).expect("valid header");
    let resp = tiny_http::Response::empty(101)
        .with_header(header("Upgrade", "websocket"))
        .with_header(header("Connection", "Upgrade"))
        .with_header(header("Sec-WebSocket-Accept", &accept));
    let stream = req.upgrade("websocket", resp);
    let state = Arc::clone(state);
    std::thread::spawn(move || {
        let ws = WebSocket::from_raw_socket(stream, Role::Server, None);
        run(&state, ws, tail);
        state.tails.fetch_sub(1, Ordering::SeqCst);
    });
    None
}

/// The tail's loop, until the client goes, the server stops or the store
/// fails (then a close frame says why).
fn run<S: std::io::Read + std::io::Write>(state: &State, mut ws: WebSocket<S>, tail: Tail) {
    let now = jiff::Timestamp::now().as_nanosecond() as i64;
    let started = Follow::start(
        &state.config.store,
        &tail.tenant,
        tail.expr,
        TimeRange::new(tail.start, now.saturating_add(1)),
        tail.limit,
        false,
        tail.delay,
    );
    let (mut follow, first) = match started {
        Ok(t) => t,
        Err(e) => return fail(&mut ws, &e),
    };
    if send(&mut ws, &first).is_err() {
        return;
    }
    let mut last_write = Instant::now();
    while !state.stop.load(Ordering::SeqCst) {
        let entries = match follow.poll() {
            Ok(entries) => entries,
            Err(e) => return fail(&mut ws, &e),
        };
        // Loki's websocket has no place for notes (a compaction between
        // two looks): the server's log has.
        for note in follow.take_notes() {
            eprintln!("lokal serve: tail of {}: {note}", tail.tenant);
        }
        if !entries.is_empty() {
            if send(&mut ws, &entries).is_err() {
                return;
            }
            last_write = Instant::now();
        } else if last_write.elapsed() >= PING {
            if ws.send(Message::Ping(Vec::new().into())).is_err() {
                return;
            }
            last_write = Instant::now();
        }
        // Answer the client's pings and notice its close without blocking:
        // tiny_http's upgraded stream has no read timeout, so only writes
        // are made here; a closed connection fails the next one.
        std::thread::sleep(Follow::POLL);
    }
    // What `delay_for` still holds goes before the close.
    let _ = send(&mut ws, &follow.flush());
    let _ = ws.close(None);
    let _ = ws.flush();
}

/// Ends the tail with a close frame saying why (Loki's close reasons are
/// short: the first 120 characters).
fn fail<S: std::io::Read + std::io::Write>(ws: &mut WebSocket<S>, e: &crate::querier::Error) {
    let _ = ws.close(Some(tungstenite::protocol::CloseFrame {
        code: tungstenite::protocol::frame::coding::CloseCode::Error,
        reason: e.to_string().chars().take(120).collect::<String>().into(),
    }));
    let _ = ws.flush();
}

/// `entries` in messages of Loki's tail shape, [`BATCH`] entries at most
/// each (none for no entries).
fn send<S: std::io::Read + std::io::Write>(
    ws: &mut WebSocket<S>,
    entries: &[LogEntry],
) -> Result<(), ()> {
    entries.chunks(BATCH).try_for_each(|c| send_one(ws, c))
}

/// One message of Loki's tail shape.
fn send_one<S: std::io::Read + std::io::Write>(
    ws: &mut WebSocket<S>,
    entries: &[LogEntry],
) -> Result<(), ()> {
    #[derive(serde::Serialize)]
    struct TailResponse<'a> {
        streams: &'a StreamsBody,
    }
    let body = StreamsBody::of(entries).map_err(|_| ())?;
    let text = serde_json::to_string(&TailResponse { streams: &body }).map_err(|_| ())?;
    // A failed write means the client is gone: the tail ends.
    ws.send(Message::Text(text.into())).map_err(|_| ())
}
