//! The netpoller: one epoll instance per runtime, so socket code written in blocking style
//! parks only its green thread (Go's `netpoll_epoll.go` + `netpoll.go`).
//!
//! # How it fits the scheduler
//! * A socket is registered once, edge-triggered, for read and write (`register`); its
//!   [`PollDesc`] holds one [`Readiness`] per direction. An operation that gets `EWOULDBLOCK`
//!   parks on its direction's readiness word; the poller marks it ready and unparks the waiter.
//! * A worker that runs out of local work polls without blocking (`poll(Some(0))`) before
//!   it steals, when any green thread waits on I/O.
//! * When every worker is idle, the *timekeeper* (the one sleeping worker that owns the
//!   earliest timer, see `timer.rs`) blocks in `epoll_wait` instead of on its condvar, with
//!   the nearest timer as the timeout — Go's `findRunnable` → `netpoll(delay)`. Work
//!   readied elsewhere, or an earlier timer, breaks the wait through an eventfd
//!   (`wake`, Go's `netpollBreak`).
//! * Timeouts use `epoll_pwait2` (nanosecond timespec) where the kernel has it (5.11+),
//!   so sub-millisecond timers stay accurate; otherwise `epoll_wait` rounded *up* to the
//!   millisecond (never early).
//!
//! # Invariants
//! 1. Only one thread is inside `epoll_wait` at a time: it holds the [`gate`]'s turn from
//!    before `epoll_wait` until every returned event has been handled; others skip their
//!    non-blocking poll.
//! 2. An event's `u64` is a pointer to its [`PollDesc`]: the registration gives epoll one
//!    strong reference of its own (`Arc::into_raw`). On deregistration that reference is
//!    not dropped but released to the gate after `EPOLL_CTL_DEL`, and the gate drops it at
//!    the start of a later turn, once no poll can still return an event for it (the
//!    argument is in `primitives/poll_gate.rs`, with a loom model). So an event's pointer is always live,
//!    and a descriptor is never reused while an event may name it (tokio's
//!    `pending_release`; Go keeps its `pollDesc`s type-stable and tags them with a
//!    sequence number instead). The event path takes no lock and touches no count.
//! 3. `wake` writes the eventfd at most once until the poller drains it (`woken`), and
//!    only a poll that may block — the timekeeper's — drains it. A wake is meant for the
//!    timekeeper, which may be between its commit to sleep and its `epoll_wait`; a
//!    non-blocking poll by another worker in that window that drained the eventfd would
//!    consume the wake and leave the timekeeper asleep with no deadline (a shutdown, or a
//!    timer inserted earlier than its sleep, lost). Left readable, the eventfd returns the
//!    timekeeper's `epoll_wait` at once.
//!
//! # Lock order
//! The gate's release queue is a leaf, never held while waking anyone.

pub(crate) mod readiness;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::primitives::poll_gate::Gate;
pub(crate) use readiness::{Readiness, WaitEnd};

/// Token of the eventfd in the epoll set.
const WAKE_TOKEN: u64 = u64::MAX;
const MAX_EVENTS: usize = 128;

/// The per-socket state the poller wakes (Go's `pollDesc`).
#[derive(Debug)]
pub(crate) struct PollDesc {
    pub(crate) read: Readiness,
    pub(crate) write: Readiness,
    /// Sticky: an event reported the read side finished (peer FIN, hang-up or error), so
    /// a read will not block again and no further edge may come. Set before the read
    /// readiness's READY (which publishes it); see `net::source::Source::read_stream`.
    pub(crate) read_closed: AtomicBool,
}

/// A socket's registration with a runtime's poller; deregisters on drop.
#[derive(Debug)]
pub(crate) struct Registration {
    poller: Arc<Poller>,
    fd: RawFd,
    /// Epoll holds a second strong reference to it, under the same address (invariant 2).
    pub(crate) desc: Arc<PollDesc>,
    /// Removed from epoll already (`deregister`): the drop must not touch `fd` again.
    deregistered: AtomicBool,
}

/// One runtime's epoll instance.
#[derive(Debug)]
pub(crate) struct Poller {
    epfd: OwnedFd,
    eventfd: OwnedFd,
    /// Who polls, and epoll's references to deregistered descriptors (invariants 1, 2).
    gate: Gate<Released>,
    /// Green threads parked on a readiness right now (Go's `netpollWaiters`); pollers skip
    /// `epoll_wait` entirely while it is zero.
    waiters: AtomicUsize,
    /// Completed polls (sysmon's "has anybody polled lately?") and readiness words notified
    /// (metrics).
    polls: AtomicU64,
    notified: AtomicU64,
    woken: AtomicBool,
    has_pwait2: AtomicBool,
}

/// epoll's reference to a deregistered descriptor, waiting for a safe point to drop.
#[derive(Debug)]
struct Released(*const PollDesc);

// SAFETY: an `Arc<PollDesc>` in raw form; `PollDesc` is Send + Sync.
unsafe impl Send for Released {}

impl Drop for Released {
    fn drop(&mut self) {
        // SAFETY: `self.0` came from `Arc::into_raw` in `register` and is converted back
        // exactly once, here (invariant 2 says when that is allowed).
        drop(unsafe { Arc::from_raw(self.0) });
    }
}

impl AsRawFd for Poller {
    /// The epoll descriptor (used to grow the descriptor table, `fd_table.rs`).
    fn as_raw_fd(&self) -> RawFd {
        self.epfd.as_raw_fd()
    }
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        // SAFETY: plain syscalls; the returned fds are checked and then owned.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `epfd` is a fresh fd we own.
        let epfd = unsafe { OwnedFd::from_raw_fd(epfd) };
        // SAFETY: as above.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `efd` is a fresh fd we own.
        let eventfd = unsafe { OwnedFd::from_raw_fd(efd) };
        let poller = Poller {
            epfd,
            eventfd,
            gate: Gate::new(),
            waiters: AtomicUsize::new(0),
            polls: AtomicU64::new(0),
            notified: AtomicU64::new(0),
            woken: AtomicBool::new(false),
            has_pwait2: AtomicBool::new(true),
        };
        poller.ctl(
            libc::EPOLL_CTL_ADD,
            poller.eventfd.as_raw_fd(),
            libc::EPOLLIN as u32,
            WAKE_TOKEN,
        )?;
        Ok(poller)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        if unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Registers `fd` (already non-blocking) for edge-triggered read and write readiness.
    pub(crate) fn register(self: &Arc<Self>, fd: RawFd) -> io::Result<Registration> {
        let desc = Arc::new(PollDesc {
            read: Readiness::new(),
            write: Readiness::new(),
            read_closed: AtomicBool::new(false),
        });
        let epoll_ref = Arc::into_raw(desc.clone());
        let events = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
        if let Err(e) = self.ctl(libc::EPOLL_CTL_ADD, fd, events, epoll_ref as u64) {
            // Never added: no event can name it.
            drop(Released(epoll_ref));
            return Err(e);
        }
        Ok(Registration {
            poller: self.clone(),
            fd,
            desc,
            deregistered: AtomicBool::new(false),
        })
    }

    /// Drops epoll's references to deregistered descriptors now (shutdown, after the
    /// workers stopped), so none outlives the runtime. Skipped if someone is polling.
    pub(crate) fn release_deregistered(&self) {
        drop(self.gate.enter());
    }

    /// True if some green thread waits for readiness (worth polling).
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiters.load(Ordering::Acquire) > 0
    }

    /// Polls once: `Some(ZERO)` does not block, `None` blocks until an event or `wake`.
    /// Readied green threads are unparked (onto the calling worker). Returns the number of
    /// readiness words notified, or `None` if another thread is polling (invariant 1).
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> Option<usize> {
        let turn = self.gate.enter()?;
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
        let n = self.wait(&mut events, timeout);
        let may_block = timeout != Some(Duration::ZERO);
        let mut notified = 0;
        for ev in &events[..n] {
            let (token, events) = (ev.u64, ev.events);
            if token == WAKE_TOKEN {
                if may_block {
                    self.drain_wake(); // invariant 3: the timekeeper's wake, consumed by it
                }
                continue;
            }
            // SAFETY: invariant 2: the token is epoll's reference to a live descriptor,
            // not dropped before our turn ends below.
            let desc = unsafe { &*(token as *const PollDesc) };
            notified += desc.notify(events);
        }
        drop(turn);
        self.polls.fetch_add(1, Ordering::Relaxed);
        if notified > 0 {
            self.notified.fetch_add(notified as u64, Ordering::Relaxed);
        }
        Some(notified)
    }

    /// Polls completed so far.
    pub(crate) fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// Read or write waiters notified so far.
    pub(crate) fn notified(&self) -> u64 {
        self.notified.load(Ordering::Relaxed)
    }

    /// True while some thread is blocked in (or running) `epoll_wait`.
    pub(crate) fn is_polling(&self) -> bool {
        self.gate.is_polling()
    }

    fn wait(&self, events: &mut [libc::epoll_event], timeout: Option<Duration>) -> usize {
        loop {
            let n = if self.has_pwait2.load(Ordering::Relaxed) {
                let ts = timeout.map(|d| libc::timespec {
                    tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
                    tv_nsec: d.subsec_nanos() as libc::c_long,
                });
                let ts_ptr = ts
                    .as_ref()
                    .map_or(std::ptr::null(), |t| t as *const libc::timespec);
                // SAFETY: `events` is a valid buffer of `len` entries; `ts_ptr` is null or
                // points at `ts`, alive for the call; a null sigmask means "unchanged".
                let r = unsafe {
                    libc::syscall(
                        libc::SYS_epoll_pwait2,
                        self.epfd.as_raw_fd(),
                        events.as_mut_ptr(),
                        events.len() as libc::c_int,
                        ts_ptr,
                        std::ptr::null::<libc::sigset_t>(),
                        0usize,
                    )
                };
                if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                    self.has_pwait2.store(false, Ordering::Relaxed);
                    continue;
                }
                r as i64
            } else {
                let ms = match timeout {
                    None => -1,
                    // Round up: never wake before the timer is due.
                    Some(d) => {
                        d.as_nanos()
                            .div_ceil(1_000_000)
                            .min(libc::c_int::MAX as u128) as libc::c_int
                    }
                };
                // SAFETY: `events` is a valid buffer of `len` entries.
                unsafe {
                    libc::epoll_wait(
                        self.epfd.as_raw_fd(),
                        events.as_mut_ptr(),
                        events.len() as libc::c_int,
                        ms,
                    ) as i64
                }
            };
            if n >= 0 {
                return n as usize;
            }
            if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return 0;
            }
            if timeout.is_some() {
                return 0; // interrupted: let the caller re-check its timers
            }
        }
    }

    /// Breaks a blocked `poll` (Go's `netpollBreak`). Cheap when already pending.
    pub(crate) fn wake(&self) {
        if self.woken.swap(true, Ordering::AcqRel) {
            return; // invariant 3
        }
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to our eventfd.
        let _ = unsafe {
            libc::write(
                self.eventfd.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }

    fn drain_wake(&self) {
        let mut buf: u64 = 0;
        // SAFETY: reads 8 bytes into a valid u64 from our non-blocking eventfd.
        let _ = unsafe {
            libc::read(
                self.eventfd.as_raw_fd(),
                (&mut buf as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
        self.woken.store(false, Ordering::Release);
    }
}

impl PollDesc {
    /// Applies one epoll event: marks the directions it names ready and wakes their
    /// waiters. Returns how many directions it notified.
    fn notify(&self, events: u32) -> usize {
        const READ: u32 =
            (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        const WRITE: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        const CLOSED: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        if events & CLOSED != 0 {
            self.read_closed.store(true, Ordering::Relaxed); // published by notify's swap
        }
        let mut notified = 0;
        if events & READ != 0 {
            self.read.notify();
            notified += 1;
        }
        if events & WRITE != 0 {
            self.write.notify();
            notified += 1;
        }
        notified
    }
}

impl Registration {
    /// Parks until the socket is readable (or `deadline`).
    pub(crate) fn wait_read(&self, deadline: Option<std::time::Instant>) -> WaitEnd {
        self.wait(&self.desc.read, deadline)
    }

    /// Consumes a pending read readiness without waiting. True if there was one.
    pub(crate) fn take_read_ready(&self) -> bool {
        self.desc.read.take_ready()
    }

    /// True once an event reported the read side finished (FIN, hang-up, error).
    pub(crate) fn read_closed(&self) -> bool {
        self.desc.read_closed.load(Ordering::Acquire)
    }

    /// Parks until the socket is writable (or `deadline`).
    pub(crate) fn wait_write(&self, deadline: Option<std::time::Instant>) -> WaitEnd {
        self.wait(&self.desc.write, deadline)
    }

    fn wait(&self, readiness: &Readiness, deadline: Option<std::time::Instant>) -> WaitEnd {
        let p = &*self.poller;
        p.waiters.fetch_add(1, Ordering::AcqRel);
        let r = readiness.wait(deadline);
        p.waiters.fetch_sub(1, Ordering::AcqRel);
        r
    }
}

impl Registration {
    /// Removes the fd from epoll now, while it is still open (the `hook` feature's
    /// `close`, which closes the fd before the last reference to the registration goes):
    /// the drop will not name the fd again, which may by then be another file's.
    #[cfg_attr(not(feature = "hook"), allow(dead_code))]
    pub(crate) fn deregister(&self) {
        if !self.deregistered.swap(true, Ordering::AcqRel) {
            let _ = self.poller.ctl(libc::EPOLL_CTL_DEL, self.fd, 0, 0);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // The fd is still open (the socket closes it after us): remove it explicitly so a
        // dup'd copy cannot keep delivering events for a freed token.
        self.deregister();
        // Epoll's reference, made by `Arc::into_raw` in `register`: same address.
        let epoll_ref = Arc::as_ptr(&self.desc);
        self.poller.gate.release(Released(epoll_ref)); // invariant 2
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn pair() -> (UnixStream, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    /// Invariant 2: epoll's reference outlives the registration until the next poll.
    #[test]
    fn a_deregistered_descriptor_is_freed_by_the_next_poll() {
        let poller = Arc::new(Poller::new().unwrap());
        let (a, _b) = pair();
        let reg = poller.register(a.as_raw_fd()).unwrap();
        let desc = reg.desc.clone();
        assert_eq!(
            Arc::strong_count(&desc),
            3,
            "ours, the registration's, epoll's"
        );
        drop(reg);
        assert_eq!(Arc::strong_count(&desc), 2, "epoll's waits for a poll");
        poller.poll(Some(Duration::ZERO)).unwrap();
        assert_eq!(Arc::strong_count(&desc), 1);
    }

    /// A wake consumed by nobody but a poll that may block (invariant 3): a non-blocking
    /// poll in between leaves it, so the blocking poll after it returns at once.
    #[test]
    fn a_non_blocking_poll_leaves_the_wake_for_the_timekeeper() {
        let poller = Arc::new(Poller::new().unwrap());
        poller.wake();
        poller.poll(Some(Duration::ZERO)).unwrap();
        poller.poll(Some(Duration::ZERO)).unwrap();
        let t = std::time::Instant::now();
        poller.poll(Some(Duration::from_secs(30))).unwrap();
        assert!(t.elapsed() < Duration::from_secs(10), "the wake was kept");
        // Drained now: the next wake writes again.
        poller.wake();
        let t = std::time::Instant::now();
        poller.poll(None).unwrap();
        assert!(t.elapsed() < Duration::from_secs(10));
    }

    /// An event reaches the descriptor it was registered with.
    #[test]
    fn an_event_marks_its_own_descriptor_ready() {
        let poller = Arc::new(Poller::new().unwrap());
        let (a, mut b) = pair();
        let (c, _d) = pair();
        let ra = poller.register(a.as_raw_fd()).unwrap();
        let rc = poller.register(c.as_raw_fd()).unwrap();
        // Registration reports the initial write readiness of both: consume it.
        poller.poll(Some(Duration::ZERO)).unwrap();
        assert!(ra.desc.write.take_ready() && rc.desc.write.take_ready());
        std::io::Write::write_all(&mut b, b"x").unwrap();
        assert!(poller.poll(Some(Duration::from_secs(5))).unwrap() >= 1);
        assert!(ra.take_read_ready());
        assert!(!rc.take_read_ready(), "the other socket saw nothing");
    }

    /// Sockets registered, made ready and dropped while another thread polls: every event
    /// lands on a live descriptor (run under valgrind/ASan to see a use after free), and
    /// every descriptor is freed in the end.
    #[test]
    fn registrations_churn_while_another_thread_polls() {
        let poller = Arc::new(Poller::new().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let polling = {
            let (poller, stop) = (poller.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    poller.poll(Some(Duration::ZERO));
                }
            })
        };
        let mut descs = Vec::new();
        for round in 0..2_000 {
            let (a, mut b) = pair();
            let reg = poller.register(a.as_raw_fd()).unwrap();
            std::io::Write::write_all(&mut b, b"x").unwrap();
            if round % 2 == 0 {
                drop(b); // hang-up too
            }
            descs.push(reg.desc.clone());
            drop(reg);
        }
        stop.store(true, Ordering::Relaxed);
        polling.join().unwrap();
        poller.poll(Some(Duration::ZERO)).unwrap();
        assert!(
            descs.iter().all(|d| Arc::strong_count(d) == 1),
            "all released"
        );
    }
}
