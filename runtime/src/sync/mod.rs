//! `goro::sync`: Go's `sync` package for green threads — blocking parks the green thread,
//! never the worker OS thread it runs on.
//!
//! std's `Mutex`, `Condvar`, `OnceLock` and `Barrier` block the OS thread. Under an M:N scheduler that
//! thread is a worker carrying a queue of other green threads, which then stall until the
//! lock is released — and if the holder is queued behind the blocked worker, never. Every
//! type here waits with [`park`](crate::park::park) instead, so it works the same from
//! green threads and from plain OS threads (which block, as with std).
//!
//! # One primitive underneath
//! Like Go's `sync` (built on `runtime/sema.go`), everything is built on one parked-waiter
//! structure, `sema::Sema`: a counter of permits with a FIFO queue of parked waiters.
//! A release that finds a waiter hands its permit *directly* to the oldest one (Go's
//! "starvation mode" hand-off, here always on under contention): a waiter can never be
//! overtaken forever by newcomers. While nobody waits, acquire and release are one atomic
//! read-modify-write each.
//!
//! | type | Go | built from |
//! |---|---|---|
//! | [`Mutex<T>`] | `sync.Mutex` | a `Sema` with one permit |
//! | [`Semaphore`] | `x/sync/semaphore` | a `Sema` with n permits |
//! | [`RwLock<T>`] | `sync.RWMutex` | a state word under a lock plus two waiter queues |
//! | [`WaitGroup`] | `sync.WaitGroup` | a counter plus a waiter list woken at zero |
//! | [`Once`] | `sync.Once` | a state word plus a waiter list |
//! | [`OnceLock<T>`], [`LazyLock<T>`] | `sync.OnceValue` | a state word plus a waiter list (std's shapes) |
//! | [`Condvar`] | `sync.Cond` | a FIFO list of parked waiters, paired with a [`Mutex`] |
//!
//! # Panics while holding a lock
//! Go has no unwinding; Rust does. A panic that unwinds through a [`MutexGuard`] or an
//! [`RwLock`] guard releases the lock and **poisons nothing**: the next locker sees the data
//! as the panicking code left it. Keep invariants that span several fields restorable, or
//! catch the panic yourself. A panic inside [`Once::call_once`] counts as the call (as in
//! Go: "if f panics, Do considers it to have returned").

pub(crate) mod sema;
pub(crate) mod waiter;

#[cfg(not(loom))]
mod bubble_tag;
#[cfg(not(loom))]
mod condvar;
#[cfg(not(loom))]
mod mutex;
#[cfg(not(loom))]
mod once;
#[cfg(not(loom))]
mod once_lock;
#[cfg(not(loom))]
mod rwlock;
#[cfg(not(loom))]
mod semaphore;
#[cfg(not(loom))]
mod waitgroup;

#[cfg(not(loom))]
pub use condvar::{Condvar, WaitTimeoutResult};
#[cfg(not(loom))]
pub use mutex::{Mutex, MutexGuard};
#[cfg(not(loom))]
pub use once::Once;
#[cfg(not(loom))]
pub use once_lock::{LazyLock, OnceLock};
#[cfg(not(loom))]
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
#[cfg(not(loom))]
pub use semaphore::{Interrupt, OwnedSemaphorePermit, Semaphore, SemaphorePermit};
#[cfg(not(loom))]
pub use waitgroup::WaitGroup;
