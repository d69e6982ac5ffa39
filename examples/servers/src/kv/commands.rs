//! The commands: each request's reply, appended to the connection's output buffer.
//!
//! A command that is wrong — unknown, the wrong number of arguments, a value that is not
//! an integer — gets an `-ERR` reply and the connection goes on, as with redis-server.
//! Besides the data commands (`GET`, `SET` with `EX`/`PX`, `DEL`, `EXISTS`, `INCR`,
//! `MGET`, `MSET`) it answers what `redis-cli` and `redis-benchmark` send when they
//! connect: `PING`, `ECHO`, `CONFIG GET`, `COMMAND`, `HELLO`, `SELECT 0`, `CLIENT
//! SETNAME`/`SETINFO`, and `QUIT`.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::kv::conn::REPLY_FLUSH;
use crate::kv::resp::{self, parse_i64, Command};
use crate::kv::store::{Db, IncrError};

/// Runs `requests` in order, taking each from the front and appending its reply to
/// `out`, until none is left or `out` holds [`REPLY_FLUSH`] bytes (the connection writes
/// them before it asks for more). Returns true if one of them (`QUIT`) closes the
/// connection; the requests after it are dropped.
pub(crate) fn run_all(
    requests: &mut VecDeque<Command>,
    db: &mut impl Db,
    out: &mut Vec<u8>,
) -> bool {
    while out.len() < REPLY_FLUSH {
        let Some(mut args) = requests.pop_front() else {
            return false;
        };
        if !args.is_empty() && run(&mut args, db, out) {
            requests.clear();
            return true;
        }
    }
    false
}

/// Runs one request; true means close the connection.
fn run(args: &mut Command, db: &mut impl Db, out: &mut Vec<u8>) -> bool {
    // The name, upper-cased on the stack (no allocation per request); a name longer
    // than any command's is left empty, which matches nothing and is unknown.
    let mut upper = [0u8; 16];
    let len = args[0].len();
    let name = if len <= upper.len() {
        upper[..len].copy_from_slice(&args[0]);
        upper.make_ascii_uppercase();
        std::str::from_utf8(&upper[..len]).unwrap_or("")
    } else {
        ""
    };
    let argc = args.len();
    let arity_ok = match name {
        "GET" | "ECHO" | "INCR" | "SELECT" => argc == 2,
        "SET" => argc >= 3,
        "DEL" | "EXISTS" | "MGET" => argc >= 2,
        "MSET" => argc >= 3 && argc % 2 == 1,
        "PING" => argc <= 2,
        "CONFIG" | "CLIENT" => argc >= 2,
        _ => true,
    };
    if !arity_ok {
        let msg = format!(
            "ERR wrong number of arguments for '{}' command",
            name.to_lowercase()
        );
        resp::error(out, &msg);
        return false;
    }
    match name {
        "GET" => db.get(&args[1], |v| reply_value(out, v)),
        "SET" => set(args, db, out),
        "DEL" => resp::integer(out, args[1..].iter().filter(|k| db.del(k)).count() as i64),
        "EXISTS" => {
            let n = args[1..]
                .iter()
                .filter(|k| db.get(k, |v| v.is_some()))
                .count();
            resp::integer(out, n as i64)
        }
        "INCR" => match db.incr(&args[1]) {
            Ok(n) => resp::integer(out, n),
            Err(IncrError::NotAnInteger) => {
                resp::error(out, "ERR value is not an integer or out of range")
            }
            Err(IncrError::Overflow) => {
                resp::error(out, "ERR increment or decrement would overflow")
            }
        },
        "MGET" => {
            resp::array(out, argc - 1);
            for key in &args[1..] {
                db.get(key, |v| reply_value(out, v));
            }
        }
        "MSET" => {
            let mut pairs = args.drain(1..);
            while let (Some(k), Some(v)) = (pairs.next(), pairs.next()) {
                db.set(k, v, None);
            }
            resp::simple(out, "OK");
        }
        "PING" if argc == 2 => resp::bulk(out, &args[1]),
        "PING" => resp::simple(out, "PONG"),
        "ECHO" => resp::bulk(out, &args[1]),
        "QUIT" => {
            resp::simple(out, "OK");
            return true;
        }
        _ => connection_command(name, args, out),
    }
    false
}

fn reply_value(out: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        Some(v) => resp::bulk(out, v),
        None => resp::nil(out),
    }
}

/// `SET key value [EX seconds | PX milliseconds]`, with redis-server's checks: the
/// number is a strict integer (no `+`, no leading zeros), positive, and its deadline
/// fits in an `i64` of Unix milliseconds.
fn set(args: &mut Command, db: &mut impl Db, out: &mut Vec<u8>) {
    let expires = match &args[3..] {
        [] => None,
        [unit, n] => {
            let unit = unit.to_ascii_uppercase();
            if unit != b"EX" && unit != b"PX" {
                return resp::error(out, "ERR syntax error");
            }
            let Some(n) = parse_i64(n) else {
                return resp::error(out, "ERR value is not an integer or out of range");
            };
            match deadline(n, unit == b"EX") {
                Some(at) => Some(at),
                None => return resp::error(out, "ERR invalid expire time in 'set' command"),
            }
        }
        _ => return resp::error(out, "ERR syntax error"),
    };
    let value = std::mem::take(&mut args[2]);
    let key = std::mem::take(&mut args[1]);
    db.set(key, value, expires);
    resp::simple(out, "OK");
}

/// The instant `n` seconds (or milliseconds) from now, if redis-server would accept it:
/// positive, and now plus it fits in an `i64` of Unix milliseconds.
fn deadline(n: i64, seconds: bool) -> Option<Instant> {
    if n <= 0 {
        return None;
    }
    let ms = if seconds { n.checked_mul(1000)? } else { n };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    now_ms.checked_add(ms)?;
    Instant::now().checked_add(Duration::from_millis(ms as u64))
}

/// What clients send about the connection itself rather than the data.
fn connection_command(name: &str, args: &Command, out: &mut Vec<u8>) {
    let sub = args
        .get(1)
        .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase());
    match (name, sub.as_deref()) {
        // redis-benchmark asks `CONFIG GET save` and `appendonly` (only to print them).
        ("CONFIG", Some("GET")) if args.len() == 3 => {
            let param = String::from_utf8_lossy(&args[2]).to_ascii_lowercase();
            let value = match param.as_str() {
                "save" => "",
                "appendonly" => "no",
                _ => return resp::array(out, 0),
            };
            resp::array(out, 2);
            resp::bulk(out, param.as_bytes());
            resp::bulk(out, value.as_bytes());
        }
        ("CONFIG", _) => resp::error(out, "ERR only CONFIG GET <parameter> is supported"),
        // redis-cli asks `COMMAND DOCS` for its hints; an empty answer means "none".
        ("COMMAND", Some("COUNT")) => resp::integer(out, 0),
        ("COMMAND", _) => resp::array(out, 0),
        ("HELLO", None | Some("2")) => hello(out),
        ("HELLO", _) => resp::error(out, "NOPROTO this server speaks RESP2 only"),
        ("SELECT", Some("0")) => resp::simple(out, "OK"),
        ("SELECT", _) => resp::error(out, "ERR DB index is out of range"),
        ("CLIENT", Some("SETNAME" | "SETINFO")) => resp::simple(out, "OK"),
        ("CLIENT", _) => resp::error(out, "ERR only CLIENT SETNAME and SETINFO are supported"),
        _ => resp::error(out, &unknown_command(args)),
    }
}

/// redis-server's text for a command it does not know: the name and the first
/// arguments, each cut so the whole stays short.
fn unknown_command(args: &Command) -> String {
    let cut = |b: &[u8], n: usize| String::from_utf8_lossy(&b[..b.len().min(n)]).into_owned();
    let mut shown = String::new();
    for arg in &args[1..] {
        if shown.len() >= 128 {
            break;
        }
        shown.push_str(&format!("'{}' ", cut(arg, 128 - shown.len())));
    }
    format!(
        "ERR unknown command '{}', with args beginning with: {shown}",
        cut(&args[0], 128)
    )
}

/// `HELLO` in RESP2: the server's description as a flat array of names and values.
fn hello(out: &mut Vec<u8>) {
    let fields: [(&str, &str); 6] = [
        ("server", "goro-kv"),
        ("version", "7.0.0"),
        ("proto", "2"),
        ("mode", "standalone"),
        ("role", "master"),
        ("modules", ""),
    ];
    resp::array(out, 2 * fields.len());
    for (k, v) in fields {
        resp::bulk(out, k.as_bytes());
        match k {
            "proto" => resp::integer(out, 2),
            "modules" => resp::array(out, 0),
            _ => resp::bulk(out, v.as_bytes()),
        }
    }
}
