//! The data, in the two shapes Go's tutorials contrast.
//!
//! - **owner** ("share memory by communicating"): one green thread owns the map.
//!   Connections send it their parsed requests over a channel and wait for the replies,
//!   so no lock exists at all; this is how redis-server itself works (one thread owns
//!   the data). See [`owner`].
//! - **shared** ("communicate by sharing memory"): the map is cut into shards, each behind
//!   a `goro::sync::RwLock`, and every connection's green thread runs its commands
//!   itself. See [`Shared`].
//!
//! Both keep keys with a time to live (`SET k v EX s`) in an [`Expiry`] queue. A key is
//! dead from its deadline on (every read checks, as redis-server's passive expiry does)
//! and its memory is freed by a goro timer that fires at the earliest deadline (the
//! active expiry). A queue entry whose key was overwritten since is ignored: the entry
//! removes the key only if the key still carries that deadline.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Instant;

use goro::chan::{bounded, never, Receiver, Sender};
use goro::sync::{Mutex, RwLock};

/// A value and when it dies.
#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
    fn is_live(&self) -> bool {
        self.expires.map_or(true, |t| Instant::now() < t)
    }
}

/// Why `INCR` refused.
#[derive(Debug, PartialEq)]
pub(crate) enum IncrError {
    /// The value is not a base-10 `i64`.
    NotAnInteger,
    /// The value is `i64::MAX`.
    Overflow,
}

/// One map of keys to values: the whole store (owner) or one shard (shared).
#[derive(Debug, Default)]
pub(crate) struct Map {
    entries: HashMap<Vec<u8>, Entry>,
}

impl Map {
    /// The live value of `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.entries
            .get(key)
            .filter(|e| e.is_live())
            .map(|e| &e.value[..])
    }

    /// Stores `value`, replacing any value and deadline `key` had.
    pub(crate) fn set(&mut self, key: Vec<u8>, value: Vec<u8>, expires: Option<Instant>) {
        self.entries.insert(key, Entry { value, expires });
    }

    /// Removes `key`; true if it was live.
    pub(crate) fn del(&mut self, key: &[u8]) -> bool {
        self.entries.remove(key).is_some_and(|e| e.is_live())
    }

    /// Adds one to the integer stored at `key` (a missing key counts as 0); keeps its
    /// deadline, as redis-server does.
    pub(crate) fn incr(&mut self, key: &[u8]) -> Result<i64, IncrError> {
        let old = match self.entries.get(key).filter(|e| e.is_live()) {
            None => 0,
            Some(e) => std::str::from_utf8(&e.value)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or(IncrError::NotAnInteger)?,
        };
        let n = old.checked_add(1).ok_or(IncrError::Overflow)?;
        let value = n.to_string().into_bytes();
        match self.entries.get_mut(key).filter(|e| e.is_live()) {
            Some(e) => e.value = value,
            None => self.set(key.to_vec(), value, None),
        }
        Ok(n)
    }

    /// Frees `key` if its deadline is still `at` (it was not overwritten since).
    fn expire(&mut self, key: &[u8], at: Instant) {
        if self.entries.get(key).is_some_and(|e| e.expires == Some(at)) {
            self.entries.remove(key);
        }
    }
}

/// Deadlines of keys with a time to live, earliest first.
#[derive(Debug, Default)]
pub(crate) struct Expiry {
    heap: BinaryHeap<Reverse<(Instant, Vec<u8>)>>,
}

impl Expiry {
    /// Queues `key` to be freed at `at`; true if `at` is now the earliest deadline.
    pub(crate) fn push(&mut self, at: Instant, key: Vec<u8>) -> bool {
        let earliest = self.next().map_or(true, |t| at < t);
        self.heap.push(Reverse((at, key)));
        earliest
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Removes every queued key whose deadline has passed, handing each to `free`.
    pub(crate) fn pop_due(&mut self, mut free: impl FnMut(&[u8], Instant)) {
        let now = Instant::now();
        while self.next().is_some_and(|t| t <= now) {
            let Reverse((at, key)) = self.heap.pop().expect("peeked");
            free(&key, at);
        }
    }
}

/// A goro timer channel that fires at `at`, or never.
fn timer_for(at: Option<Instant>) -> Receiver<Instant> {
    at.map_or_else(never, |t| {
        goro::time::after(t.saturating_duration_since(Instant::now()))
    })
}

/// What the commands need from a store; both shapes implement it.
pub(crate) trait Db {
    /// The live value of `key`, passed to `f` (a read lock is held meanwhile).
    fn get<R>(&mut self, key: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> R;
    /// `SET`.
    fn set(&mut self, key: Vec<u8>, value: Vec<u8>, expires: Option<Instant>);
    /// `DEL` of one key; true if it was live.
    fn del(&mut self, key: &[u8]) -> bool;
    /// `INCR`.
    fn incr(&mut self, key: &[u8]) -> Result<i64, IncrError>;
}

// ---------------------------------------------------------------- owner

/// A connection's requests, sent to the owner in one message per read.
#[derive(Debug, Default)]
pub(crate) struct Work {
    /// The requests, in arrival order; the owner empties it.
    pub(crate) requests: Vec<crate::kv::resp::Command>,
    /// Where the owner appends the replies, in the same order.
    pub(crate) out: Vec<u8>,
    /// Set by the owner when a request (`QUIT`) closes the connection.
    pub(crate) close: bool,
}

/// A [`Work`] and where to send it back.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The requests (and the buffer for the replies).
    pub(crate) work: Work,
    /// The connection's reply channel.
    pub(crate) reply: Sender<Work>,
}

/// The owner's view of its data: the map and its deadlines, borrowed mutably.
struct Owned<'a> {
    map: &'a mut Map,
    expiry: &'a mut Expiry,
}

impl Db for Owned<'_> {
    fn get<R>(&mut self, key: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> R {
        f(self.map.get(key))
    }
    fn set(&mut self, key: Vec<u8>, value: Vec<u8>, expires: Option<Instant>) {
        if let Some(at) = expires {
            self.expiry.push(at, key.clone());
        }
        self.map.set(key, value, expires);
    }
    fn del(&mut self, key: &[u8]) -> bool {
        self.map.del(key)
    }
    fn incr(&mut self, key: &[u8]) -> Result<i64, IncrError> {
        self.map.incr(key)
    }
}

/// Starts the owner green thread; connections send it [`Batch`]es. It runs until every
/// `Sender` is dropped.
pub(crate) fn owner() -> Sender<Batch> {
    // A short queue: a burst of connections waits in `send` instead of piling up here.
    let (tx, rx) = bounded::<Batch>(64);
    goro::go(move || owner_loop(rx));
    tx
}

fn owner_loop(batches: Receiver<Batch>) {
    let (mut map, mut expiry) = (Map::default(), Expiry::default());
    let mut armed = None;
    let mut timer = never();
    loop {
        goro::select! {
            recv(batches) -> batch => {
                let Ok(Batch { mut work, reply }) = batch else { return };
                let mut db = Owned { map: &mut map, expiry: &mut expiry };
                work.close = crate::kv::commands::run_all(&mut work.requests, &mut db, &mut work.out);
                let _ = reply.send(work); // the connection may be gone; nothing to do
            },
            recv(timer) -> _ => {
                expiry.pop_due(|key, at| map.expire(key, at));
                armed = None;
            },
        }
        if expiry.next() != armed {
            armed = expiry.next();
            timer = timer_for(armed);
        }
    }
}

// ---------------------------------------------------------------- shared

/// How many shards: enough that two workers rarely meet on one lock.
const SHARDS: usize = 16;

/// The map cut into `RwLock`ed shards, plus the deadlines and their sweeper's wake-up.
#[derive(Debug)]
pub(crate) struct Shared {
    shards: Box<[RwLock<Map>]>,
    /// Picks a key's shard (seeded per process, so clients cannot aim at one shard).
    hasher: RandomState,
    expiry: Mutex<Expiry>,
    /// Tells the sweeper that the earliest deadline moved up (capacity 1: one is enough).
    wake: Sender<()>,
}

impl Shared {
    /// An empty store and its sweeper green thread (which ends when the store is dropped).
    pub(crate) fn start() -> Arc<Shared> {
        let (wake, woken) = bounded(1);
        let shared = Arc::new(Shared {
            shards: (0..SHARDS).map(|_| RwLock::new(Map::default())).collect(),
            hasher: RandomState::new(),
            expiry: Mutex::new(Expiry::default()),
            wake,
        });
        let weak = Arc::downgrade(&shared);
        goro::go(move || sweeper(weak, woken));
        shared
    }

    fn shard(&self, key: &[u8]) -> &RwLock<Map> {
        &self.shards[self.hasher.hash_one(key) as usize % SHARDS]
    }
}

impl Db for &Shared {
    fn get<R>(&mut self, key: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> R {
        f(self.shard(key).read().get(key))
    }
    fn set(&mut self, key: Vec<u8>, value: Vec<u8>, expires: Option<Instant>) {
        if let Some(at) = expires {
            if self.expiry.lock().push(at, key.clone()) {
                let _ = self.wake.try_send(()); // full: a wake-up is already pending
            }
        }
        self.shard(&key).write().set(key, value, expires);
    }
    fn del(&mut self, key: &[u8]) -> bool {
        self.shard(key).write().del(key)
    }
    fn incr(&mut self, key: &[u8]) -> Result<i64, IncrError> {
        self.shard(key).write().incr(key)
    }
}

/// Frees expired keys at each earliest deadline; ends when the store is dropped.
fn sweeper(store: std::sync::Weak<Shared>, woken: Receiver<()>) {
    loop {
        let next = match store.upgrade() {
            Some(s) => s.expiry.lock().next(),
            None => return,
        };
        let timer = timer_for(next);
        goro::select! {
            recv(woken) -> r => if r.is_err() { return },
            recv(timer) -> _ => {
                let Some(s) = store.upgrade() else { return };
                let mut due = Vec::new();
                s.expiry.lock().pop_due(|key, at| due.push((key.to_vec(), at)));
                for (key, at) in due {
                    s.shard(&key).write().expire(&key, at);
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expired_keys_read_as_missing_and_overwrites_keep_their_key() {
        let mut map = Map::default();
        let past = Instant::now() - Duration::from_millis(1);
        map.set(b"a".to_vec(), b"1".to_vec(), Some(past));
        assert_eq!(map.get(b"a"), None);
        assert_eq!(map.incr(b"a"), Ok(1), "an expired key counts as missing");
        let mut expiry = Expiry::default();
        expiry.push(past, b"a".to_vec());
        expiry.pop_due(|k, at| map.expire(k, at));
        assert_eq!(map.get(b"a"), Some(&b"1"[..]), "overwritten since: kept");
    }

    #[test]
    fn incr_refuses_non_integers_and_overflow() {
        let mut map = Map::default();
        map.set(b"s".to_vec(), b"abc".to_vec(), None);
        map.set(b"m".to_vec(), i64::MAX.to_string().into_bytes(), None);
        assert_eq!(map.incr(b"s"), Err(IncrError::NotAnInteger));
        assert_eq!(map.incr(b"m"), Err(IncrError::Overflow));
    }
}
