//! RESP2, the Redis protocol, as a server reads requests and writes replies.
//!
//! A request is an array of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`), or an
//! inline command (`GET k\r\n`, what a person types into `telnet`). A reply is one of
//! five types: `+OK`, `-ERR msg`, `:42`, `$3\r\nabc` (or `$-1`, nil) and `*n` followed by
//! n replies.
//!
//! The parser is hand-written, like redis-server's and tokio's mini-redis's: a request
//! is two line types, and the crates that parse RESP bring a whole client's worth of
//! dependencies. It never trusts a length before it has checked it against the limits
//! below; a frame that breaks them is a protocol error, which closes that connection
//! (what redis-server does) and nothing else.

use std::io;

use crate::support::read_buf::ReadBuf;

/// Longest inline command, and longest `*`/`$` header line (redis-server: 64 KiB).
pub(crate) const MAX_INLINE: usize = 64 * 1024;
/// Most arguments in one request (redis-server: 1 048 576).
pub(crate) const MAX_ARGS: usize = 1024 * 1024;
/// Largest argument (redis-server allows 512 MiB; this example keeps memory small).
pub(crate) const MAX_BULK: usize = 16 * 1024 * 1024;
/// Largest request, all its arguments together.
pub(crate) const MAX_REQUEST: usize = 64 * 1024 * 1024;
/// The read buffer holds at most one argument and the next header line.
const MAX_BUFFERED: usize = MAX_BULK + 2 + MAX_INLINE;

/// One request: the command name and its arguments.
pub(crate) type Command = Vec<Vec<u8>>;

/// Why a frame is refused: sent back as `-ERR Protocol error: <why>` before the
/// connection closes (redis-server's texts).
pub(crate) type Invalid = std::borrow::Cow<'static, str>;

/// What one parsing step did.
#[derive(Debug)]
enum Step {
    /// A whole request.
    Request(Command),
    /// Consumed something: parse on.
    Again,
    /// The front of the buffer is incomplete: read more first.
    More,
}

/// A multibulk request whose arguments are still arriving.
#[derive(Debug, Default)]
struct Partial {
    /// Arguments still to come.
    left: usize,
    /// Arguments parsed so far (consumed from the buffer).
    args: Command,
    /// The length of the argument whose `$` line was read, if its bytes have not all
    /// arrived.
    bulk: Option<usize>,
    /// Bytes of this request so far.
    size: usize,
}

/// A connection's requests: a [`ReadBuf`] parsed incrementally, as redis-server's
/// `processMultibulkBuffer` does. Every complete line and argument is consumed as soon
/// as it arrives, so a request uploaded slowly is parsed once, not once per read (a
/// 1 M-argument request sent in small pieces cost seconds of CPU when each read
/// restarted the parse at byte 0), and the buffer holds at most one argument.
#[derive(Debug)]
pub(crate) struct RequestReader {
    buf: ReadBuf,
    partial: Option<Partial>,
    /// Bytes at the front of the buffer already searched for the end of the line being
    /// read: a line that arrives a byte at a time is searched once.
    scanned: usize,
}

impl RequestReader {
    /// An empty reader.
    pub(crate) fn new() -> RequestReader {
        RequestReader {
            buf: ReadBuf::new(MAX_BUFFERED),
            partial: None,
            scanned: 0,
        }
    }

    /// One `read` from `from` (see [`ReadBuf::fill`]): the parser's tests feed it slices.
    #[cfg(test)]
    pub(crate) fn fill(&mut self, from: impl std::io::Read) -> io::Result<usize> {
        self.buf.fill(from)
    }

    /// One read from a connection, waiting with no buffer lent while nothing is buffered
    /// (see [`ReadBuf::fill_from`]).
    pub(crate) fn fill_from(&mut self, stream: &goro::net::TcpStream) -> io::Result<usize> {
        self.buf.fill_from(stream)
    }

    /// Bytes this reader holds: its buffer and the arguments of a request in progress.
    pub(crate) fn memory(&self) -> usize {
        self.buf.capacity() + self.partial.as_ref().map_or(0, |p| p.size)
    }

    /// Gives the buffer back once nothing is left in it (redis-server frees idle clients'
    /// query buffers the same way): a connection between requests holds none, and one
    /// that once sent a 15 MiB value does not keep 16 MiB for the rest of its life.
    pub(crate) fn release(&mut self) {
        self.buf.release();
    }

    /// The next complete request in the buffer, consumed; `Ok(None)` until one is whole.
    pub(crate) fn next_request(&mut self) -> Result<Option<Command>, Invalid> {
        loop {
            let Some(&first) = self.buf.data().first() else {
                return Ok(None);
            };
            let step = match self.partial.take() {
                None if first == b'*' => self.start_multibulk()?,
                None => self.inline()?,
                Some(p) => self.next_argument(p)?,
            };
            match step {
                Step::Request(args) => return Ok(Some(args)),
                Step::Again => {}
                Step::More => return Ok(None),
            }
        }
    }

    /// `*<n>`: a multibulk request begins. `*0` and negative counts are skipped, as
    /// redis-server skips them.
    fn start_multibulk(&mut self) -> Result<Step, Invalid> {
        let line = self.header_line("too big mbulk count string", "invalid multibulk length")?;
        let Some((n, used)) = line else {
            return Ok(Step::More);
        };
        self.consume(used);
        if n > MAX_ARGS as i64 {
            return Err("invalid multibulk length".into());
        }
        if n > 0 {
            let n = n as usize;
            self.partial = Some(Partial {
                left: n,
                // Capacity grows with what arrives, not with what the header claims.
                args: Vec::with_capacity(n.min(16)),
                bulk: None,
                size: used,
            });
        }
        Ok(Step::Again)
    }

    /// The next `$<len>` line or argument of the request in progress; the request when
    /// its last argument is in.
    fn next_argument(&mut self, mut p: Partial) -> Result<Step, Invalid> {
        let len = match p.bulk {
            Some(len) => len,
            None => {
                let first = self.buf.data()[0];
                if first != b'$' {
                    return Err(format!("expected '$', got '{}'", first as char).into());
                }
                let line = self.header_line("too big bulk count string", "invalid bulk length")?;
                let Some((len, used)) = line else {
                    self.partial = Some(p);
                    return Ok(Step::More);
                };
                if !(0..=MAX_BULK as i64).contains(&len) {
                    return Err("invalid bulk length".into());
                }
                self.consume(used);
                p.size += used;
                len as usize
            }
        };
        let data = self.buf.data();
        if data.len() < len + 2 {
            // Room for the whole argument at once, instead of doubling towards it.
            self.buf.reserve_total(len + 2);
            p.bulk = Some(len);
            self.partial = Some(p);
            return Ok(Step::More);
        }
        if &data[len..len + 2] != b"\r\n" {
            return Err("bulk string not followed by CRLF".into());
        }
        p.size += len + 2;
        if p.size > MAX_REQUEST {
            return Err("request too large".into());
        }
        p.args.push(self.buf.take_front(len, 2));
        self.scanned = 0;
        p.bulk = None;
        p.left -= 1;
        if p.left == 0 {
            return Ok(Step::Request(p.args));
        }
        self.partial = Some(p);
        Ok(Step::Again)
    }

    /// Reads the strict integer of the `*`/`$` line at the front: the number and the
    /// line's length with its CRLF, `None` if the line is not complete yet.
    fn header_line(
        &mut self,
        too_long: &'static str,
        bad: &'static str,
    ) -> Result<Option<(i64, usize)>, Invalid> {
        let Some(eol) = self.find(b'\r') else {
            return if self.buf.data().len() > MAX_INLINE {
                Err(too_long.into())
            } else {
                Ok(None)
            };
        };
        let data = self.buf.data();
        if data.len() < eol + 2 {
            self.scanned = eol; // the '\n' is still to come
            return Ok(None);
        }
        let n = parse_i64(&data[1..eol]).ok_or(bad)?;
        Ok(Some((n, eol + 2)))
    }

    /// An inline command: one line of words, quoted as `redis-cli` quotes them.
    fn inline(&mut self) -> Result<Step, Invalid> {
        let Some(eol) = self.find(b'\n') else {
            return if self.buf.data().len() > MAX_INLINE {
                Err("too big inline request".into())
            } else {
                Ok(Step::More)
            };
        };
        let data = self.buf.data();
        let line = data[..eol].strip_suffix(b"\r").unwrap_or(&data[..eol]);
        let args = split_args(line).ok_or("unbalanced quotes in request")?;
        self.consume(eol + 1);
        // An empty line is skipped (redis-server does the same).
        Ok(if args.is_empty() {
            Step::Again
        } else {
            Step::Request(args)
        })
    }

    /// The position of `byte` in the unconsumed data, searching only what was not
    /// searched before.
    fn find(&mut self, byte: u8) -> Option<usize> {
        let data = self.buf.data();
        let from = self.scanned.min(data.len());
        match data[from..].iter().position(|&b| b == byte) {
            Some(i) => Some(from + i),
            None => {
                self.scanned = data.len();
                None
            }
        }
    }

    fn consume(&mut self, n: usize) {
        self.buf.consume(n);
        self.scanned = 0;
    }
}

/// A base-10 `i64` as redis-server's `string2ll` reads it: an optional `-`, no `+`, no
/// leading zeros, no spaces, and `-0` refused.
pub(crate) fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [b'0'] => return Some(0),
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits[0] == b'0' || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        n = n.checked_mul(10).and_then(|n| {
            if neg {
                n.checked_sub(d)
            } else {
                n.checked_add(d)
            }
        })?;
    }
    Some(n)
}

/// Splits an inline command line into words as redis-server's `sdssplitargs` does:
/// blanks separate words; `"..."` takes the escapes `\n \r \t \b \a \\ \" \xHH`;
/// `'...'` takes `\'`; a closing quote must be followed by a blank or the end. `None`
/// for unbalanced quotes.
pub(crate) fn split_args(line: &[u8]) -> Option<Command> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            return Some(args);
        }
        let mut word = Vec::new();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            let c = line.get(i).copied();
            if in_dq {
                match (c?, line.get(i + 1).copied()) {
                    (b'\\', Some(b'x'))
                        if line.len() > i + 3
                            && line[i + 2].is_ascii_hexdigit()
                            && line[i + 3].is_ascii_hexdigit() =>
                    {
                        let hex = std::str::from_utf8(&line[i + 2..i + 4]).ok()?;
                        word.push(u8::from_str_radix(hex, 16).ok()?);
                        i += 3;
                    }
                    (b'\\', Some(e)) => {
                        word.push(match e {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            other => other,
                        });
                        i += 1;
                    }
                    (b'"', next) => {
                        if next.is_some_and(|n| !n.is_ascii_whitespace()) {
                            return None; // a closing quote must end the word
                        }
                        i += 1;
                        break;
                    }
                    (b, _) => word.push(b),
                }
            } else if in_sq {
                match (c?, line.get(i + 1).copied()) {
                    (b'\\', Some(b'\'')) => {
                        word.push(b'\'');
                        i += 1;
                    }
                    (b'\'', next) => {
                        if next.is_some_and(|n| !n.is_ascii_whitespace()) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    (b, _) => word.push(b),
                }
            } else {
                match c {
                    None => break,
                    Some(b) if b.is_ascii_whitespace() => break,
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(b) => word.push(b),
                }
            }
            i += 1;
        }
        args.push(word);
    }
}

/// `+s`: a status reply.
pub(crate) fn simple(out: &mut Vec<u8>, s: &str) {
    out.push(b'+');
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `-msg`: an error reply (`msg` starts with its kind, e.g. `ERR`).
pub(crate) fn error(out: &mut Vec<u8>, msg: &str) {
    out.push(b'-');
    // A reply is one line: an error that quotes the client's bytes must not break it.
    out.extend(
        msg.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

/// `:n`: an integer reply.
pub(crate) fn integer(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `$len` + bytes: a bulk string reply.
pub(crate) fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// `$-1`: the nil reply (a missing key).
pub(crate) fn nil(out: &mut Vec<u8>) {
    out.extend_from_slice(b"$-1\r\n");
}

/// `*n`: the header of an array of `n` replies, which follow.
pub(crate) fn array(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn args(a: &[&str]) -> Command {
        a.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    /// Feeds `chunks` to a reader one `fill` each, collecting every request until the
    /// first protocol error.
    fn parse_chunks<'a>(
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> (Vec<Command>, Option<Invalid>) {
        let mut r = RequestReader::new();
        let mut got = Vec::new();
        for mut chunk in chunks {
            while !chunk.is_empty() {
                let n = r.fill(&mut chunk).unwrap();
                assert!(n > 0);
                loop {
                    match r.next_request() {
                        Ok(Some(c)) => got.push(c),
                        Ok(None) => break,
                        Err(e) => return (got, Some(e)),
                    }
                }
            }
        }
        (got, None)
    }

    fn parse_whole(b: &[u8]) -> (Vec<Command>, Option<Invalid>) {
        parse_chunks([b])
    }

    #[test]
    fn arrays_inline_and_partial_frames() {
        let req = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nset a  b\r\n";
        let want = vec![args(&["GET", "k"]), args(&["set", "a", "b"])];
        assert_eq!(parse_whole(req), (want.clone(), None));
        for cut in 0..req.len() {
            let (a, b) = req.split_at(cut);
            assert_eq!(parse_chunks([a, b]), (want.clone(), None), "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = req.chunks(1).collect();
        assert_eq!(parse_chunks(bytes), (want, None), "a byte at a time");
    }

    #[test]
    fn empty_and_negative_multibulk_and_blank_lines_are_skipped() {
        let (got, err) = parse_whole(b"*0\r\n*-1\r\n\r\n  \r\nPING\r\n");
        assert_eq!((got, err), (vec![args(&["PING"])], None));
    }

    #[test]
    fn malformed_and_oversized_frames_are_invalid() {
        let cases: [(&[u8], &str); 8] = [
            (b"*x\r\n", "invalid multibulk length"),
            (b"*+1\r\n", "invalid multibulk length"),
            (b"*1\r\n:5\r\n", "expected '$', got ':'"),
            (b"*1\r\n$1\r\nab\r\n", "bulk string not followed by CRLF"),
            (b"*99999999\r\n", "invalid multibulk length"),
            (b"*1\r\n$999999999\r\n", "invalid bulk length"),
            (b"*1\r\n$-1\r\n", "invalid bulk length"),
            (b"SET a \"b\r\n", "unbalanced quotes in request"),
        ];
        for (frame, why) in cases {
            assert_eq!(parse_whole(frame).1.as_deref(), Some(why), "{frame:?}");
        }
        let long = vec![b'a'; MAX_INLINE + 1];
        assert_eq!(
            parse_whole(&long).1.as_deref(),
            Some("too big inline request")
        );
        let mut header = b"*1".to_vec();
        header.extend(std::iter::repeat(b'1').take(MAX_INLINE + 1));
        assert_eq!(
            parse_whole(&header).1.as_deref(),
            Some("too big mbulk count string")
        );
    }

    #[test]
    fn inline_quoting_is_redis_clis() {
        let ok: [(&[u8], &[&[u8]]); 5] = [
            (b"SET q \"hello world\"", &[b"SET", b"q", b"hello world"]),
            (b"SET q 'it\\'s'", &[b"SET", b"q", b"it's"]),
            (b"ECHO \"a\\x41\\n\\\"\"", &[b"ECHO", b"aA\n\""]),
            (b"ECHO \"\"", &[b"ECHO", b""]),
            (b"  a\tb  ", &[b"a", b"b"]),
        ];
        for (line, want) in ok {
            let want: Command = want.iter().map(|w| w.to_vec()).collect();
            assert_eq!(split_args(line), Some(want), "{line:?}");
        }
        for bad in [&b"\"open"[..], b"'open", b"\"a\"b", b"'a'b"] {
            assert_eq!(split_args(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn integers_are_read_as_redis_reads_them() {
        for (s, want) in [
            ("0", Some(0)),
            ("42", Some(42)),
            ("-7", Some(-7)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("+5", None),
            ("05", None),
            ("-0", None),
            ("", None),
            ("-", None),
            (" 1", None),
            ("1 ", None),
        ] {
            assert_eq!(parse_i64(s.as_bytes()), want, "{s:?}");
        }
    }

    #[test]
    fn a_slow_upload_is_parsed_as_it_arrives() {
        // Each complete argument leaves the buffer as soon as it is in: the work per
        // read is what that read brought, not the whole request so far.
        let n = 100_000;
        let mut req = format!("*{n}\r\n").into_bytes();
        for _ in 0..n {
            req.extend_from_slice(b"$3\r\nabc\r\n");
        }
        let mut r = RequestReader::new();
        let mut done = None;
        for mut piece in req.chunks(7) {
            r.fill(&mut piece).unwrap();
            if let Some(c) = r.next_request().unwrap() {
                done = Some(c);
            }
            assert!(r.buf.data().len() < 16, "unparsed bytes pile up");
        }
        assert_eq!(done.map(|c| c.len()), Some(n));
    }

    /// A request as a client encodes it.
    fn encode(args: &[Vec<u8>]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    proptest! {
        #[test]
        fn a_valid_frame_parses_the_same_whole_or_split_anywhere(
            reqs in prop::collection::vec(
                prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..6),
                1..4,
            ),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let bytes: Vec<u8> = reqs.iter().flat_map(|r| encode(r)).collect();
            let chunks = crate::support::split_at_cuts(&bytes, &cuts);
            prop_assert_eq!(parse_whole(&bytes), (reqs.clone(), None));
            prop_assert_eq!(parse_chunks(chunks), (reqs, None));
        }

        #[test]
        fn random_and_mutated_frames_never_panic(
            base in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 1..5),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            noise in prop::collection::vec(any::<u8>(), 0..200),
            chunk in 1usize..17,
        ) {
            let mut bytes = encode(&base);
            for (i, b) in flips {
                let i = i.index(bytes.len());
                bytes[i] = b;
            }
            bytes.extend_from_slice(&noise);
            let _ = parse_chunks(bytes.chunks(chunk));
            let _ = parse_whole(&noise);
        }
    }
}
