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

use std::io::{self, Read};

use crate::support::read_buf::ReadBuf;

/// Longest inline command, and longest `*`/`$` header line (redis-server: 64 KiB).
pub(crate) const MAX_INLINE: usize = 64 * 1024;
/// Most arguments in one request (redis-server: 1 048 576).
pub(crate) const MAX_ARGS: usize = 1024 * 1024;
/// Largest argument (redis-server allows 512 MiB; this example keeps memory small).
pub(crate) const MAX_BULK: usize = 16 * 1024 * 1024;
/// Largest request a connection may buffer before it is complete.
pub(crate) const MAX_REQUEST: usize = 64 * 1024 * 1024;

/// One request: the command name and its arguments.
pub(crate) type Command = Vec<Vec<u8>>;

/// What [`parse`] found at the start of a buffer.
#[derive(Debug, PartialEq)]
pub(crate) enum Parsed {
    /// A whole request and how many bytes it took.
    Request(Command, usize),
    /// The buffer holds only the start of a request.
    Incomplete,
    /// Not RESP, or past a limit: the reason, sent back before the connection closes.
    Invalid(&'static str),
}

/// Parses one request from the start of `buf`.
pub(crate) fn parse(buf: &[u8]) -> Parsed {
    match buf.first() {
        None => Parsed::Incomplete,
        Some(b'*') => parse_array(buf),
        Some(_) => parse_inline(buf),
    }
}

fn parse_array(buf: &[u8]) -> Parsed {
    let (n, mut pos) = match header(buf, 0) {
        Ok(Some(h)) => h,
        Ok(None) => return Parsed::Incomplete,
        Err(e) => return Parsed::Invalid(e),
    };
    if !(0..=MAX_ARGS as i64).contains(&n) {
        return Parsed::Invalid("invalid multibulk length");
    }
    // Capacity grows with what arrives, not with what the header claims.
    let mut args = Vec::with_capacity((n as usize).min(16));
    for _ in 0..n {
        if pos == buf.len() {
            return Parsed::Incomplete;
        }
        if buf[pos] != b'$' {
            return Parsed::Invalid("expected '$'");
        }
        let (len, start) = match header(buf, pos) {
            Ok(Some(h)) => h,
            Ok(None) => return Parsed::Incomplete,
            Err(e) => return Parsed::Invalid(e),
        };
        if !(0..=MAX_BULK as i64).contains(&len) {
            return Parsed::Invalid("invalid bulk length");
        }
        let end = start + len as usize;
        if buf.len() < end + 2 {
            return Parsed::Incomplete;
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Parsed::Invalid("bulk string not followed by CRLF");
        }
        args.push(buf[start..end].to_vec());
        pos = end + 2;
    }
    Parsed::Request(args, pos)
}

/// Reads the integer of a `*n` or `$n` line starting at `pos`; returns it and where the
/// next line starts, `None` if the line is not complete yet.
fn header(buf: &[u8], pos: usize) -> Result<Option<(i64, usize)>, &'static str> {
    let Some(eol) = find_crlf(&buf[pos..]) else {
        return if buf.len() - pos > MAX_INLINE {
            Err("header line too long")
        } else {
            Ok(None)
        };
    };
    let digits = &buf[pos + 1..pos + eol];
    let n = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or("invalid length")?;
    Ok(Some((n, pos + eol + 2)))
}

fn parse_inline(buf: &[u8]) -> Parsed {
    let Some(eol) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > MAX_INLINE {
            Parsed::Invalid("too big inline request")
        } else {
            Parsed::Incomplete
        };
    };
    let line = buf[..eol].strip_suffix(b"\r").unwrap_or(&buf[..eol]);
    let args = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    Parsed::Request(args, eol + 1)
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

/// A connection's requests: a [`ReadBuf`] parsed one RESP request at a time.
#[derive(Debug)]
pub(crate) struct RequestReader {
    buf: ReadBuf,
}

impl RequestReader {
    /// An empty reader; a request may take up to [`MAX_REQUEST`] bytes.
    pub(crate) fn new() -> RequestReader {
        RequestReader {
            buf: ReadBuf::new(MAX_REQUEST),
        }
    }

    /// One `read` from `from` (see [`ReadBuf::fill`]).
    pub(crate) fn fill(&mut self, from: impl Read) -> io::Result<usize> {
        self.buf.fill(from)
    }

    /// The next complete request in the buffer, consumed.
    pub(crate) fn next_request(&mut self) -> Result<Option<Command>, &'static str> {
        match parse(self.buf.data()) {
            Parsed::Request(cmd, used) => {
                self.buf.consume(used);
                Ok(Some(cmd))
            }
            Parsed::Incomplete => Ok(None),
            Parsed::Invalid(why) => Err(why),
        }
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

    fn args(a: &[&str]) -> Command {
        a.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn arrays_inline_and_partial_frames() {
        let req = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        assert_eq!(parse(req), Parsed::Request(args(&["GET", "k"]), req.len()));
        for cut in 0..req.len() {
            assert_eq!(parse(&req[..cut]), Parsed::Incomplete, "cut at {cut}");
        }
        assert_eq!(
            parse(b"set a  b\r\nrest"),
            Parsed::Request(args(&["set", "a", "b"]), 10)
        );
    }

    #[test]
    fn malformed_and_oversized_frames_are_invalid() {
        assert!(matches!(parse(b"*x\r\n"), Parsed::Invalid(_)));
        assert!(matches!(parse(b"*1\r\n:5\r\n"), Parsed::Invalid(_)));
        assert!(matches!(parse(b"*1\r\n$1\r\nab\r\n"), Parsed::Invalid(_)));
        assert!(matches!(parse(b"*99999999\r\n"), Parsed::Invalid(_)));
        assert!(matches!(parse(b"*1\r\n$999999999\r\n"), Parsed::Invalid(_)));
        assert!(matches!(parse(&[b'a'; MAX_INLINE + 1]), Parsed::Invalid(_)));
    }
}
