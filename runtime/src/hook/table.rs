//! The hooked descriptors: fd number → its netpoller registration (a `goro::net`
//! `Source`, which also keeps the socket's timeouts), whether the program made it
//! non-blocking, and the identity of the file it was made for (`mod.rs`, invariants 2
//! and 4).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::raw;
use crate::net::source::{Dir, Source};

pub(super) struct Entry {
    pub(super) source: Source,
    identity: (u64, u64),
    closed: AtomicBool,
    /// The program's `O_NONBLOCK` (invariant 4: read once, then tracked by the hooked
    /// `fcntl` and `ioctl`).
    nonblocking: AtomicBool,
}

impl Entry {
    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(super) fn is_nonblocking(&self) -> bool {
        self.nonblocking.load(Ordering::Relaxed)
    }
}

type Map = HashMap<libc::c_int, Arc<Entry>>;

/// Shards by fd number: green threads on different workers opening and closing
/// connections rarely meet on one lock (a contended lock sleeps in the kernel, and sysmon
/// would hand the processor off).
const SHARDS: usize = 64;

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: RwLock<Option<Map>> = RwLock::new(None);
static TABLE: [RwLock<Option<Map>>; SHARDS] = [EMPTY; SHARDS];
/// Entries in `TABLE`: `close` and the tracking hooks skip the locks while it is zero.
static LEN: AtomicUsize = AtomicUsize::new(0);

fn shard(fd: libc::c_int) -> &'static RwLock<Option<Map>> {
    &TABLE[fd as usize % SHARDS]
}

fn read(fd: libc::c_int) -> std::sync::RwLockReadGuard<'static, Option<Map>> {
    shard(fd).read().unwrap_or_else(|e| e.into_inner())
}

fn write(fd: libc::c_int) -> std::sync::RwLockWriteGuard<'static, Option<Map>> {
    shard(fd).write().unwrap_or_else(|e| e.into_inner())
}

/// The entry for `fd`, made on first need; `None` if `fd` is not open.
pub(super) fn entry(fd: libc::c_int) -> Option<Arc<Entry>> {
    let identity = raw::identity(fd)?;
    if let Some(e) = read(fd).as_ref().and_then(|m| m.get(&fd)) {
        if e.identity == identity && !e.is_closed() {
            return Some(e.clone());
        }
    }
    let fresh = Arc::new(new_entry(fd, identity));
    let mut table = write(fd);
    let map = table.get_or_insert_with(HashMap::new);
    if let Some(e) = map.get(&fd) {
        if e.identity == identity && !e.is_closed() {
            return Some(e.clone()); // another green thread made it meanwhile
        }
        // Closed behind the hooks' back (a raw system call): epoll may still name the
        // old registration, so it is leaked, never freed (invariant 2).
        std::mem::forget(map.remove(&fd));
        LEN.fetch_sub(1, Ordering::Relaxed);
    }
    map.insert(fd, fresh.clone());
    LEN.fetch_add(1, Ordering::Relaxed);
    Some(fresh)
}

/// A new entry: the descriptor's flags and timeouts as they are now (invariant 4).
fn new_entry(fd: libc::c_int, identity: (u64, u64)) -> Entry {
    let flags = raw::fcntl_getfl(fd);
    let source = Source::new();
    for dir in [Dir::Read, Dir::Write] {
        let _ = source.set_timeout(dir, raw::socket_timeout(fd, dir));
    }
    Entry {
        source,
        identity,
        closed: AtomicBool::new(false),
        nonblocking: AtomicBool::new(flags >= 0 && flags & libc::O_NONBLOCK != 0),
    }
}

/// Runs `f` on `fd`'s entry, if it has one (the tracking hooks).
fn with_entry(fd: libc::c_int, f: impl FnOnce(&Entry)) {
    if LEN.load(Ordering::Relaxed) == 0 {
        return;
    }
    if let Some(e) = read(fd).as_ref().and_then(|m| m.get(&fd)) {
        f(e);
    }
}

/// The program set or cleared `O_NONBLOCK` (`fcntl(F_SETFL)`, `ioctl(FIONBIO)`).
pub(super) fn set_nonblocking(fd: libc::c_int, on: bool) {
    with_entry(fd, |e| e.nonblocking.store(on, Ordering::Relaxed));
}

/// The program set `SO_RCVTIMEO` (read) or `SO_SNDTIMEO` (write).
pub(super) fn set_timeout(fd: libc::c_int, dir: Dir, t: Option<Duration>) {
    with_entry(fd, |e| {
        let _ = e.source.set_timeout(dir, t);
    });
}

/// `fd` is about to be closed (or replaced by `dup2`/`dup3`): its registration leaves
/// epoll now, while the fd still names it, and its waiters wake to `EBADF`.
pub(super) fn forget(fd: libc::c_int) {
    if LEN.load(Ordering::Relaxed) == 0 || !read(fd).as_ref().is_some_and(|m| m.contains_key(&fd)) {
        return;
    }
    let removed = write(fd).as_mut().and_then(|m| m.remove(&fd));
    if let Some(e) = removed {
        LEN.fetch_sub(1, Ordering::Relaxed);
        e.closed.store(true, Ordering::Release);
        e.source.detach();
    }
}
