//! HTTP/1.1 on one green thread per connection: keep-alive, pipelining, bodies framed by
//! `Content-Length` or chunked, timeouts, and the error statuses a client is owed.
//!
//! Requests are parsed by `httparse` (hyper's parser) straight from the connection's
//! read buffer. Like the key-value server, a connection answers every complete request
//! in its buffer before it writes, and writes once: a pipelining client gets its
//! responses in order in one `write`, a one-at-a-time client gets each at once.
//!
//! Malformed input gets `400 Bad Request` and the connection closes (its framing can no
//! longer be trusted); so do the limits below (`431`, `413`) and an unsupported transfer
//! coding (`501`). A request that takes longer than the read timeout to arrive gets
//! `408`; a keep-alive connection idle for longer than the idle timeout is closed.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use goro::net::TcpStream;

use crate::support::budget::{Budget, Charge};
use crate::support::buffers;
use crate::support::read_buf::ReadBuf;
use crate::support::shutdown::ConnGuard;

/// Most headers in one request.
const MAX_HEADERS: usize = 64;
/// Largest request head (request line and headers).
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body, decoded.
const MAX_BODY: usize = 1024 * 1024;
/// How long, and for how many bytes, a refused client's input is drained before close.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// A server's timeouts (Go's `http.Server` fields of the same names).
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From a request's first byte to its last (Go's `ReadTimeout`).
    pub read: Duration,
    /// How long a keep-alive connection may wait for its next request (`IdleTimeout`).
    pub idle: Duration,
    /// How long one response write may wait for the client (`WriteTimeout`).
    pub write: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            read: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            write: Duration::from_secs(10),
        }
    }
}

/// What a request asked for, copied out of the read buffer.
#[derive(Debug)]
struct Head {
    method: Method,
    route: Route,
    /// Keep the connection open after the response.
    keep_alive: bool,
    body: Framing,
    /// The client waits for `100 Continue` before it sends the body.
    expects_continue: bool,
    /// Bytes the head took in the buffer.
    len: usize,
}

#[derive(Debug, PartialEq)]
enum Method {
    Get,
    Head,
    Post,
    Other,
}

#[derive(Debug, PartialEq)]
enum Route {
    Hello,
    Json,
    Echo,
    /// `/debug/goro/dump` and `/debug/goro/metrics` (with `--debug`, Go's
    /// `net/http/pprof` in miniature): the goroutine dump with stacks, the runtime's
    /// counters per processor.
    DebugDump,
    DebugMetrics,
    /// `/debug/goro/trace?seconds=N` (at most 10): the execution trace of the next N
    /// seconds, as Chrome trace-event JSON (Go's `/debug/pprof/trace`).
    DebugTrace(u64),
    /// `/delay/<ms>`: "Hello, World!" after `ms` milliseconds (at most [`MAX_DELAY_MS`]),
    /// httpbin's `/delay` for load tests of clients that wait on a slow server. Only the
    /// connection's green thread waits.
    Delay(u64),
    NotFound,
}

/// The longest `/delay/<ms>` served; longer asks are capped.
const MAX_DELAY_MS: u64 = 10_000;

#[derive(Debug, PartialEq)]
enum Framing {
    Length(usize),
    Chunked,
}

/// The response statuses this server sends (RFC 9110 reason phrases).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Ok,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    PayloadTooLarge,
    HeaderFieldsTooLarge,
    NotImplemented,
    /// The clients' memory budget is spent (`support/budget.rs`).
    ServiceUnavailable,
}

impl Status {
    /// The status line's code and reason, as sent.
    fn line(self) -> &'static str {
        match self {
            Status::Ok => "200 OK",
            Status::BadRequest => "400 Bad Request",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::RequestTimeout => "408 Request Timeout",
            Status::PayloadTooLarge => "413 Payload Too Large",
            Status::HeaderFieldsTooLarge => "431 Request Header Fields Too Large",
            Status::NotImplemented => "501 Not Implemented",
            Status::ServiceUnavailable => "503 Service Unavailable",
        }
    }
}

/// A request the server refuses: the status it answers with, and why (in the body); the
/// connection closes after it.
#[derive(Debug)]
struct Failure {
    status: Status,
    why: &'static str,
}

fn fail(status: Status, why: &'static str) -> Failure {
    Failure { status, why }
}

/// What the front of the read buffer holds.
#[derive(Debug)]
enum Next {
    /// A whole request: its head and decoded body (consumed from the buffer).
    Request(Head, Vec<u8>),
    /// A head whose body has not all arrived; the client may wait for `100 Continue`.
    Body { expects_continue: bool },
    /// Part of a head, or nothing.
    Head,
}

/// Serves one connection until the client closes it, asks to close, or misbehaves.
pub fn serve_connection(stream: TcpStream, timeouts: Timeouts) {
    serve(Arc::new(stream), timeouts, None, None)
}

/// The same for a server that shuts down gracefully and bounds its clients' memory:
/// between requests the connection is idle in `conn` (closed at once by a drain), during
/// a drain its current request is answered with `Connection: close` (Go's `Shutdown`),
/// and its buffers are charged to `budget` (past it: `503` and close).
pub(crate) fn serve_tracked(
    stream: TcpStream,
    timeouts: Timeouts,
    conn: &ConnGuard,
    budget: &Budget,
) {
    serve(Arc::new(stream), timeouts, Some(conn), Some(budget))
}

fn serve(
    stream: Arc<TcpStream>,
    timeouts: Timeouts,
    conn: Option<&ConnGuard>,
    budget: Option<&Budget>,
) {
    let mut charge = budget.map(Charge::new);
    let within_budget = |charge: &mut Option<Charge>, buf: &ReadBuf, out: &Vec<u8>| {
        charge
            .as_mut()
            .map_or(true, |c| c.set(buf.capacity() + out.capacity()))
    };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(timeouts.write));
    let mut buf = ReadBuf::new(MAX_HEAD + MAX_BODY + 64 * 1024);
    // Lent per burst (`support/buffers.rs`): none is held while the connection waits.
    let mut out = Vec::new();
    let mut date = HttpDate::default();
    // The first request's read timeout runs from the accept, as Go's does: a client that
    // connects and sends nothing holds its place for `read`, not for `idle`.
    let mut request_start = Some(Instant::now());
    let mut continue_sent = false;
    loop {
        if out.capacity() == 0 {
            out = buffers::take_cleared();
        }
        let draining = conn.is_some_and(ConnGuard::draining);
        // Answer every complete request already buffered, then write once.
        let close = loop {
            match next_request(&mut buf) {
                Ok(Next::Request(mut head, body)) => {
                    head.keep_alive &= !draining;
                    request_start = None;
                    respond(&head, &body, date.now(), &mut out);
                    continue_sent = false;
                    if !head.keep_alive {
                        break true;
                    }
                }
                Ok(Next::Body { expects_continue }) => {
                    if expects_continue && !continue_sent {
                        out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                        continue_sent = true;
                    }
                    break false;
                }
                Ok(Next::Head) => break false,
                Err(f) => {
                    error_response(f.status, f.why, date.now(), &mut out);
                    return refuse(&stream, &out, charge);
                }
            }
        };
        if !within_budget(&mut charge, &buf, &out) {
            out.clear();
            return over_budget(&stream, &mut out, date.now(), charge);
        }
        if !out.is_empty() && (&*stream).write_all(&out).is_err() || close {
            return;
        }
        out.clear();
        let between = buf.data().is_empty();
        if !between {
            // A pipelined request began with the bytes that ended the last one.
            request_start.get_or_insert_with(Instant::now);
        }
        if between {
            // Between requests the connection holds no buffer: both go back to the
            // worker's pool, or to the allocator if one grew for a large request or
            // response (an idle keep-alive connection once held 2 MiB after one 1 MiB
            // body).
            buf.release();
            buffers::give(std::mem::take(&mut out));
            if let Some(conn) = conn {
                if draining || !conn.idle(&stream) {
                    return; // shutting down: no next request
                }
            }
        }
        let read = read_more(&stream, &mut buf, &mut request_start, timeouts);
        if let (true, Some(conn)) = (between, conn) {
            conn.busy();
        }
        if !within_budget(&mut charge, &buf, &out) {
            return over_budget(&stream, &mut out, date.now(), charge);
        }
        if let Err(status) = read {
            if let Some(status) = status {
                error_response(status, "", date.now(), &mut out);
                refuse(&stream, &out, charge);
            }
            return;
        }
    }
}

/// The clients' memory budget is spent: `503` and close.
fn over_budget(stream: &TcpStream, out: &mut Vec<u8>, date: &[u8], charge: Option<Charge>) {
    error_response(Status::ServiceUnavailable, "server busy", date, out);
    refuse(stream, out, charge);
}

/// Sends an error response and closes the way Go's server does (`closeWriteAndWait`):
/// the write side first, then what the client is still sending is read and dropped for
/// a moment. Closing with unread bytes in the socket sends a reset, which can destroy
/// the response before the client reads it. The connection's memory `charge` is given
/// back first.
fn refuse(mut stream: &TcpStream, out: &[u8], charge: Option<Charge>) {
    drop(charge);
    if stream.write_all(out).is_err() {
        return;
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let until = Instant::now() + LINGER;
    let mut sink = [0u8; 16 * 1024];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

/// Waits for more bytes: the idle timeout between requests, the read timeout (counted
/// from the request's first byte, or from the accept for the first request:
/// `request_start`) within one. `Err(Some(status))` answers before closing.
fn read_more(
    stream: &TcpStream,
    buf: &mut ReadBuf,
    request_start: &mut Option<Instant>,
    timeouts: Timeouts,
) -> Result<(), Option<Status>> {
    let left = match request_start {
        Some(t) => timeouts.read.saturating_sub(t.elapsed()),
        None => timeouts.idle,
    };
    if left.is_zero() {
        return Err((!buf.data().is_empty()).then_some(Status::RequestTimeout));
    }
    let _ = stream.set_read_timeout(Some(left));
    // With nothing of a request yet this waits with no buffer lent (`support/buffers.rs`).
    match buf.fill_from(stream) {
        Ok(0) => Err(None),
        Ok(_) => {
            request_start.get_or_insert_with(Instant::now);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(Some(Status::PayloadTooLarge)),
        // A request that began and did not finish in time gets its 408; a connection
        // that never sent a byte is closed without one (Go's server sends none either).
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && !buf.data().is_empty() => {
            Err(Some(Status::RequestTimeout))
        }
        Err(_) => Err(None),
    }
}

/// The next request at the front of `buf`; a whole one is consumed.
fn next_request(buf: &mut ReadBuf) -> Result<Next, Failure> {
    let Some(head) = parse_head(buf.data())? else {
        return Ok(Next::Head);
    };
    let rest = &buf.data()[head.len..];
    let decoded = match head.body {
        Framing::Length(n) => (rest.len() >= n).then(|| (rest[..n].to_vec(), n)),
        Framing::Chunked => decode_chunked(rest)?,
    };
    let Some((body, body_len)) = decoded else {
        return Ok(Next::Body {
            expects_continue: head.expects_continue,
        });
    };
    buf.consume(head.len + body_len);
    Ok(Next::Request(head, body))
}

/// Parses the request head at the front of `data`.
fn parse_head(data: &[u8]) -> Result<Option<Head>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(data) {
        // The limit holds however the head arrived: in pieces (Partial) or in one write.
        Ok(httparse::Status::Complete(n)) if n > MAX_HEAD => {
            return Err(fail(Status::HeaderFieldsTooLarge, "head too large"))
        }
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if data.len() > MAX_HEAD => {
            return Err(fail(Status::HeaderFieldsTooLarge, "head too large"))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(fail(Status::HeaderFieldsTooLarge, "too many headers"))
        }
        Err(_) => return Err(fail(Status::BadRequest, "malformed request")),
    };
    let http11 = req.version == Some(1);
    let mut head = Head {
        method: match req.method {
            Some("GET") => Method::Get,
            Some("HEAD") => Method::Head,
            Some("POST") => Method::Post,
            _ => Method::Other,
        },
        route: match req.path.map(|p| p.split('?').next().unwrap_or(p)) {
            Some("/debug/goro/trace") if debug_routes() => {
                let query = req
                    .path
                    .and_then(|p| p.split_once('?'))
                    .map_or("", |(_, q)| q);
                let seconds = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("seconds="))
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(1u64);
                Route::DebugTrace(seconds.min(10))
            }
            Some("/") => Route::Hello,
            Some("/json") => Route::Json,
            Some("/echo") => Route::Echo,
            Some("/debug/goro/dump") if debug_routes() => Route::DebugDump,
            Some("/debug/goro/metrics") if debug_routes() => Route::DebugMetrics,
            Some(p) => match p.strip_prefix("/delay/").map(str::parse::<u64>) {
                Some(Ok(ms)) => Route::Delay(ms.min(MAX_DELAY_MS)),
                _ => Route::NotFound,
            },
            None => Route::NotFound,
        },
        keep_alive: http11,
        body: Framing::Length(0),
        expects_continue: false,
        len,
    };
    let (mut length, mut chunked, mut hosts) = (None, false, 0);
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| fail(Status::BadRequest, "header value is not text"))?
            .trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            // Digits only (RFC 9110 §8.6): `+5` or ` 5,5` are how proxies and servers
            // are made to disagree about where a request ends.
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(fail(Status::BadRequest, "bad Content-Length"));
            }
            let n: usize = value
                .parse()
                .map_err(|_| fail(Status::BadRequest, "bad Content-Length"))?;
            if length.is_some_and(|m| m != n) {
                return Err(fail(Status::BadRequest, "conflicting Content-Length"));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if chunked {
                // A second line is a second coding (RFC 9112 §6.1): chunked twice, or
                // chunked hiding another; Go refuses it too.
                return Err(fail(Status::BadRequest, "Transfer-Encoding given twice"));
            }
            if !value.eq_ignore_ascii_case("chunked") {
                return Err(fail(Status::NotImplemented, "only chunked is supported"));
            }
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    head.keep_alive = true;
                }
            }
        } else if h.name.eq_ignore_ascii_case("expect") {
            head.expects_continue = value.eq_ignore_ascii_case("100-continue");
        }
    }
    if http11 && hosts != 1 {
        // HTTP/1.1 requires exactly one Host (RFC 9112 §3.2), as Go's server does.
        return Err(fail(Status::BadRequest, "missing or repeated Host"));
    }
    head.body = match (chunked, length) {
        // Both framings at once is how requests are smuggled (RFC 9112 §6.3): refuse.
        (true, Some(_)) => return Err(fail(Status::BadRequest, "both chunked and a length")),
        (true, None) => Framing::Chunked,
        (false, Some(n)) if n > MAX_BODY => {
            return Err(fail(Status::PayloadTooLarge, "body too large"))
        }
        (false, n) => Framing::Length(n.unwrap_or(0)),
    };
    Ok(Some(head))
}

/// Decodes a chunked body at the front of `data`: the body and the bytes it took, or
/// `None` if the last chunk has not arrived.
fn decode_chunked(data: &[u8]) -> Result<Option<(Vec<u8>, usize)>, Failure> {
    let bad = || fail(Status::BadRequest, "malformed chunked body");
    let (mut body, mut pos) = (Vec::new(), 0);
    loop {
        let (start, size) = match httparse::parse_chunk_size(&data[pos..]) {
            Ok(httparse::Status::Complete((n, size))) => (pos + n, size),
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(bad()),
        };
        // Checked: a peer's chunk size must never wrap an index (`fffffffffffffffe`).
        let total = usize::try_from(size)
            .ok()
            .and_then(|s| body.len().checked_add(s));
        if total.map_or(true, |t| t > MAX_BODY) {
            return Err(fail(Status::PayloadTooLarge, "body too large"));
        }
        let size = size as usize; // at most MAX_BODY now
        if size == 0 {
            // The last chunk; trailers (ignored) end at an empty line.
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            return match httparse::parse_headers(&data[start..], &mut headers) {
                Ok(httparse::Status::Complete((n, _))) => Ok(Some((body, start + n))),
                Ok(httparse::Status::Partial) => Ok(None),
                Err(_) => Err(bad()),
            };
        }
        if data.len() < start + size + 2 {
            return Ok(None);
        }
        if &data[start + size..start + size + 2] != b"\r\n" {
            return Err(bad());
        }
        body.extend_from_slice(&data[start..start + size]);
        pos = start + size + 2;
    }
}

const HELLO: &[u8] = b"Hello, World!";
const JSON: &[u8] = br#"{"message":"Hello, World!"}"#;

/// Appends the response to one request.
/// The debug routes are served (`--debug`; off by default: a dump shows a service's
/// internals, as Go's pprof handlers do, and is for an admin port).
static DEBUG_ROUTES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Serves `/debug/goro/dump` and `/debug/goro/metrics` from now on.
pub fn enable_debug_routes() {
    DEBUG_ROUTES.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The execution trace of the next `seconds`: the flight recorder's buffers, filled for
/// that long (or as they are, if a recording is already on).
fn trace_for(seconds: u64) -> String {
    let ours = goro::trace::start_flight_recorder().is_ok();
    goro::sleep(Duration::from_secs(seconds));
    let mut json = Vec::new();
    let _ = goro::trace::snapshot(&mut json);
    if ours {
        let _ = goro::trace::stop();
    }
    String::from_utf8(json).unwrap_or_default()
}

fn debug_routes() -> bool {
    DEBUG_ROUTES.load(std::sync::atomic::Ordering::Relaxed)
}

fn respond(head: &Head, body: &[u8], date: &[u8], out: &mut Vec<u8>) {
    let debug_text;
    let (status, content_type, payload): (Status, &str, &[u8]) = match (&head.route, &head.method) {
        (Route::DebugDump, Method::Get | Method::Head) => {
            debug_text = goro::dump();
            (
                Status::Ok,
                "text/plain; charset=utf-8",
                debug_text.as_bytes(),
            )
        }
        (Route::DebugTrace(seconds), Method::Get | Method::Head) => {
            debug_text = trace_for(*seconds);
            (Status::Ok, "application/json", debug_text.as_bytes())
        }
        (Route::DebugMetrics, Method::Get | Method::Head) => {
            debug_text = format!("{:#?}\n", goro::metrics());
            (
                Status::Ok,
                "text/plain; charset=utf-8",
                debug_text.as_bytes(),
            )
        }
        (Route::Hello, Method::Get | Method::Head) => {
            (Status::Ok, "text/plain; charset=utf-8", HELLO)
        }
        (Route::Json, Method::Get | Method::Head) => (Status::Ok, "application/json", JSON),
        (Route::Echo, Method::Post) => (Status::Ok, "application/octet-stream", body),
        (Route::Delay(ms), Method::Get | Method::Head) => {
            goro::sleep(Duration::from_millis(*ms));
            (Status::Ok, "text/plain; charset=utf-8", HELLO)
        }
        (Route::NotFound, _) => (
            Status::NotFound,
            "text/plain; charset=utf-8",
            b"404 page not found\n",
        ),
        _ => (
            Status::MethodNotAllowed,
            "text/plain; charset=utf-8",
            b"method not allowed\n",
        ),
    };
    status_line(out, status, date);
    out.extend_from_slice(b"Content-Type: ");
    out.extend_from_slice(content_type.as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: ");
    out.extend_from_slice(payload.len().to_string().as_bytes());
    if !head.keep_alive {
        out.extend_from_slice(b"\r\nConnection: close");
    }
    out.extend_from_slice(b"\r\n\r\n");
    if head.method != Method::Head {
        out.extend_from_slice(payload);
    }
}

/// Appends an error response; the connection closes after it.
fn error_response(status: Status, why: &str, date: &[u8], out: &mut Vec<u8>) {
    status_line(out, status, date);
    let status = status.line();
    let body = format!("{status}{}{why}\n", if why.is_empty() { "" } else { ": " });
    out.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n");
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
}

fn status_line(out: &mut Vec<u8>, status: Status, date: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.line().as_bytes());
    out.extend_from_slice(b"\r\nServer: goro\r\nDate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\n");
}

/// The `Date` header's value (IMF-fixdate, RFC 9110 §5.6.7), formatted once a second.
#[derive(Debug, Default)]
struct HttpDate {
    second: u64,
    text: [u8; 29],
}

impl HttpDate {
    fn now(&mut self) -> &[u8] {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if secs != self.second || self.text[0] == 0 {
            self.second = secs;
            self.text.copy_from_slice(imf_fixdate(secs).as_bytes());
        }
        &self.text
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` for a Unix time.
fn imf_fixdate(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a parsed request comes to, for comparing two parses: method and route,
    /// keep-alive, body.
    type Summary = (String, bool, Vec<u8>);

    fn summary(head: &Head, body: &[u8]) -> Summary {
        (
            format!("{:?} {:?}", head.method, head.route),
            head.keep_alive,
            body.to_vec(),
        )
    }

    /// Feeds `chunks` to a read buffer one at a time, collecting the requests until the
    /// first failure.
    fn requests_from<'a>(
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> (Vec<Summary>, Option<Status>) {
        let mut buf = ReadBuf::new(MAX_HEAD + MAX_BODY + 64 * 1024);
        let mut got = Vec::new();
        for mut chunk in chunks {
            while !chunk.is_empty() {
                buf.fill(&mut chunk).unwrap();
                loop {
                    match next_request(&mut buf) {
                        Ok(Next::Request(head, body)) => got.push(summary(&head, &body)),
                        Ok(_) => break,
                        Err(f) => return (got, Some(f.status)),
                    }
                }
            }
        }
        (got, None)
    }

    /// A request as a client would send it: a GET, or a POST with its body framed by
    /// length or in chunks.
    fn encode(path: u8, body: &[u8], chunked: Option<usize>, close: bool) -> Vec<u8> {
        let path = ["/", "/json", "/echo", "/nope", "/delay/0"][path as usize % 5];
        let conn = if close { "Connection: close\r\n" } else { "" };
        if body.is_empty() && chunked.is_none() {
            return format!("GET {path} HTTP/1.1\r\nHost: t\r\n{conn}\r\n").into_bytes();
        }
        let mut out = format!("POST {path} HTTP/1.1\r\nHost: t\r\n{conn}").into_bytes();
        match chunked {
            None => {
                out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
                out.extend_from_slice(body);
            }
            Some(size) => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for piece in body.chunks(size.max(1)) {
                    out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                    out.extend_from_slice(piece);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
        }
        out
    }

    proptest! {
        #[test]
        fn a_valid_request_parses_the_same_whole_or_split_anywhere(
            reqs in prop::collection::vec(
                (any::<u8>(), prop::collection::vec(any::<u8>(), 0..300),
                 prop::option::of(1usize..64), any::<bool>()),
                1..4,
            ),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let bytes: Vec<u8> = reqs
                .iter()
                .flat_map(|(p, b, c, close)| encode(*p, b, *c, *close))
                .collect();
            let whole = requests_from([&bytes[..]]);
            prop_assert_eq!(whole.0.len(), reqs.len());
            prop_assert_eq!(whole.1, None);
            let chunks = crate::support::split_at_cuts(&bytes, &cuts);
            prop_assert_eq!(requests_from(chunks), whole);
        }

        #[test]
        fn random_and_mutated_requests_never_panic(
            body in prop::collection::vec(any::<u8>(), 0..100),
            chunked in prop::option::of(1usize..16),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            noise in prop::collection::vec(any::<u8>(), 0..200),
            chunk in 1usize..17,
        ) {
            let mut bytes = encode(2, &body, chunked, false);
            for (i, b) in flips {
                let i = i.index(bytes.len());
                bytes[i] = b;
            }
            bytes.extend_from_slice(&noise);
            let _ = requests_from(bytes.chunks(chunk));
            let _ = requests_from([&noise[..]]);
        }
    }

    #[test]
    fn dates_are_imf_fixdate() {
        assert_eq!(imf_fixdate(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(imf_fixdate(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn heads_bodies_and_their_errors() {
        let get = b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n";
        let head = parse_head(get).unwrap().unwrap();
        assert_eq!(
            (head.route, head.keep_alive, head.len),
            (Route::Json, true, get.len())
        );
        let delay = |p: &str| parse_head(format!("GET {p} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!(delay("/delay/50").unwrap().unwrap().route, Route::Delay(50));
        assert_eq!(
            delay("/delay/99999999").unwrap().unwrap().route,
            Route::Delay(MAX_DELAY_MS)
        );
        assert_eq!(delay("/delay/x").unwrap().unwrap().route, Route::NotFound);
        let old = parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(
            !old.keep_alive,
            "HTTP/1.0 closes unless asked to keep alive"
        );
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nHo").unwrap().map(|h| h.len),
            None
        );
        assert!(parse_head(b"GET / HTTP/1.1\r\nbad header\r\n\r\n").is_err());
        let both =
            b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(parse_head(both).is_err(), "smuggling shape refused");
        let chunks = b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\nNEXT";
        let (body, used) = decode_chunked(chunks).unwrap().unwrap();
        assert_eq!((&body[..], used), (&b"abcde"[..], chunks.len() - 4));
        assert_eq!(decode_chunked(&chunks[..9]).unwrap(), None);
        assert!(decode_chunked(b"3\r\nabcX\r\n").is_err());
    }

    /// A peer's numbers never panic the connection: a chunk size that would wrap the
    /// body's length is 413, not a slice-index panic.
    #[test]
    fn a_wrapping_chunk_size_is_refused() {
        let r = decode_chunked(b"2\r\nab\r\nfffffffffffffffe\r\nxy\r\n0\r\n\r\n");
        assert_eq!(r.unwrap_err().status, Status::PayloadTooLarge);
        let r = decode_chunked(b"ffffffffffffffff\r\n");
        assert_eq!(r.unwrap_err().status, Status::PayloadTooLarge);
    }

    /// Where Go's parser is strict, so is this one.
    #[test]
    fn strict_where_go_is_strict() {
        let status = |req: &str| parse_head(req.as_bytes()).err().map(|f| f.status);
        let ok = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(status(ok), None);
        let plus = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n";
        assert_eq!(status(plus), Some(Status::BadRequest));
        assert_eq!(
            status("GET / HTTP/1.1\r\n\r\n"),
            Some(Status::BadRequest),
            "no Host"
        );
        let two = "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
        assert_eq!(status(two), Some(Status::BadRequest), "two Hosts");
        assert_eq!(
            status("GET / HTTP/1.0\r\n\r\n"),
            None,
            "HTTP/1.0 needs no Host"
        );
        let te = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(status(te), Some(Status::BadRequest));
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
            "a".repeat(127 * 1024)
        );
        assert_eq!(
            status(&big),
            Some(Status::HeaderFieldsTooLarge),
            "one write, too big"
        );
    }
}
