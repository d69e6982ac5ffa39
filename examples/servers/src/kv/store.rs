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
//! Both keep keys with a time to live (`SET k v EX s`) in an [`Expiry`] set ordered by
//! deadline. A key is dead from its deadline on (every read checks, as redis-server's
//! passive expiry does) and its memory is freed by a goro timer that fires at the earliest
//! deadline (the active expiry).
//!
//! # Invariants
//! 1. `Expiry` holds at most one entry per key: the key's deadline in the map. Every
//!    `SET` and `DEL` replaces or removes the key's entry, so the set's memory follows
//!    the live keys with a deadline (4 M `SET k v EX …` on one key kept 4 M entries when
//!    it was a queue that only grew).
//! 2. An entry frees its key only if the key still carries that deadline: an entry popped
//!    by the sweeper while a `SET` replaces the key is harmless.
//!
//! # Lock order (shared shape)
//! A shard's lock, then `expiry`; the sweeper holds `expiry` alone, then a shard alone.

use std::collections::{BTreeSet, HashMap, VecDeque};
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

    /// The deadline `key` carries, live or not.
    fn deadline(&self, key: &[u8]) -> Option<Instant> {
        self.entries.get(key).and_then(|e| e.expires)
    }

    /// Stores `value`, replacing any value and deadline `key` had.
    pub(crate) fn set(&mut self, key: Vec<u8>, value: Vec<u8>, expires: Option<Instant>) {
        self.entries.insert(key, Entry { value, expires });
    }

    /// Removes `key`: whether it was live, and the deadline it carried.
    pub(crate) fn del(&mut self, key: &[u8]) -> (bool, Option<Instant>) {
        match self.entries.remove(key) {
            Some(e) => (e.is_live(), e.expires),
            None => (false, None),
        }
    }

    /// Adds one to the integer stored at `key` (a missing key counts as 0); keeps its
    /// deadline, as redis-server does.
    pub(crate) fn incr(&mut self, key: &[u8]) -> Result<i64, IncrError> {
        let old = match self.entries.get(key).filter(|e| e.is_live()) {
            None => 0,
            // Strict, as redis-server's: no `+`, no leading zeros, no `-0`.
            Some(e) => crate::kv::resp::parse_i64(&e.value).ok_or(IncrError::NotAnInteger)?,
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

/// Deadlines of keys with a time to live, earliest first: one entry per key
/// (invariant 1).
#[derive(Debug, Default)]
pub(crate) struct Expiry {
    by_time: BTreeSet<(Instant, Vec<u8>)>,
}

impl Expiry {
    /// `key`'s deadline goes from `old` to `new` (either may be none); true if `new` is
    /// now the earliest deadline.
    pub(crate) fn replace(
        &mut self,
        key: &[u8],
        old: Option<Instant>,
        new: Option<Instant>,
    ) -> bool {
        if old == new {
            return false;
        }
        if let Some(old) = old {
            self.by_time.remove(&(old, key.to_vec()));
        }
        let Some(at) = new else { return false };
        let earliest = self.next().map_or(true, |t| at < t);
        self.by_time.insert((at, key.to_vec()));
        earliest
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(t, _)| *t)
    }

    /// Keys with a deadline.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_time.len()
    }

    /// Removes every entry whose deadline has passed, handing each to `free`.
    pub(crate) fn pop_due(&mut self, mut free: impl FnMut(&[u8], Instant)) {
        let now = Instant::now();
        while self.next().is_some_and(|t| t <= now) {
            let (at, key) = self.by_time.pop_first().expect("peeked");
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

/// A connection's requests, sent to the owner in one message per read (and again while
/// the replies are written out in chunks, `conn.rs`).
#[derive(Debug, Default)]
pub(crate) struct Work {
    /// The requests, in arrival order; the owner runs them from the front.
    pub(crate) requests: VecDeque<crate::kv::resp::Command>,
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
        self.expiry.replace(&key, self.map.deadline(&key), expires);
        self.map.set(key, value, expires);
    }
    fn del(&mut self, key: &[u8]) -> bool {
        let (live, deadline) = self.map.del(key);
        self.expiry.replace(key, deadline, None);
        live
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
        let mut shard = self.shard(&key).write();
        let old = shard.deadline(&key);
        let earliest =
            (old.is_some() || expires.is_some()) && self.expiry.lock().replace(&key, old, expires);
        shard.set(key, value, expires);
        drop(shard);
        if earliest {
            let _ = self.wake.try_send(()); // full: a wake-up is already pending
        }
    }
    fn del(&mut self, key: &[u8]) -> bool {
        let mut shard = self.shard(key).write();
        let (live, deadline) = shard.del(key);
        if deadline.is_some() {
            self.expiry.lock().replace(key, deadline, None);
        }
        live
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
        expiry.replace(b"a", None, Some(past));
        expiry.pop_due(|k, at| map.expire(k, at));
        assert_eq!(map.get(b"a"), Some(&b"1"[..]), "overwritten since: kept");
    }

    #[test]
    fn the_expiry_set_holds_one_entry_per_key_with_a_deadline() {
        let (mut map, mut expiry) = (Map::default(), Expiry::default());
        let mut db = Owned {
            map: &mut map,
            expiry: &mut expiry,
        };
        let later = |s| Some(Instant::now() + Duration::from_secs(s));
        for i in 0..10_000u64 {
            db.set(b"k".to_vec(), b"v".to_vec(), later(100 + i % 7));
        }
        db.set(b"other".to_vec(), b"v".to_vec(), later(5));
        assert_eq!(expiry.len(), 2, "overwrites replace the key's entry");
        let mut db = Owned {
            map: &mut map,
            expiry: &mut expiry,
        };
        db.set(b"k".to_vec(), b"v".to_vec(), None);
        assert!(db.del(b"other"));
        assert_eq!(expiry.len(), 0, "SET without a deadline and DEL remove it");
        assert_eq!(expiry.next(), None);
    }

    #[test]
    fn incr_refuses_non_integers_and_overflow() {
        let mut map = Map::default();
        for strict in ["+5", "05", "-0", " 1"] {
            map.set(b"x".to_vec(), strict.as_bytes().to_vec(), None);
            assert_eq!(map.incr(b"x"), Err(IncrError::NotAnInteger), "{strict:?}");
        }
        map.set(b"s".to_vec(), b"abc".to_vec(), None);
        map.set(b"m".to_vec(), i64::MAX.to_string().into_bytes(), None);
        assert_eq!(map.incr(b"s"), Err(IncrError::NotAnInteger));
        assert_eq!(map.incr(b"m"), Err(IncrError::Overflow));
    }
}
