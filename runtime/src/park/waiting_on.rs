//! What a parked party waits on, as diagnostics (`goro::dump`, deadlock reports) show it:
//! Go's `waitReason`, plus the object (a channel) and a number that goes with it.

/// Why a green thread is parked (Go's `waitReason`), shown by diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum WaitReason {
    /// Not parked, or no reason given.
    Unknown = 0,
    /// `goro::sleep`.
    Sleep,
    /// `JoinHandle::join`.
    Join,
    /// Blocked sending on a channel.
    ChanSend,
    /// Blocked receiving from a channel.
    ChanRecv,
    /// Blocked in `select!`.
    Select,
    /// A `goro::sync` primitive (mutex, wait group, semaphore...).
    Sync,
    /// Waiting for a socket or file descriptor.
    Io,
    /// Waiting for blocking work done elsewhere (`goro::blocking` itself runs the call on
    /// the green thread's own thread, which is not parked meanwhile).
    Blocking,
    /// Anything else.
    Other,
    /// `goro::sync::Mutex::lock` (Go's `sync.Mutex.Lock`).
    MutexLock,
    /// `goro::sync::RwLock::read` (Go's `sync.RWMutex.RLock`).
    RwLockRead,
    /// `goro::sync::RwLock::write` (Go's `sync.RWMutex.Lock`).
    RwLockWrite,
    /// `goro::sync::WaitGroup::wait` (Go's `sync.WaitGroup.Wait`).
    WaitGroupWait,
    /// `goro::sync::Condvar::wait` (Go's `sync.Cond.Wait`).
    CondWait,
    /// `goro::sync::Semaphore::acquire` (Go's `semacquire`).
    Semacquire,
    /// Another green thread runs a `goro::sync::Once`/`OnceLock` initialiser.
    OnceWait,
    /// `goro::block_on`: a future's `Waker` wakes it (from any thread).
    Future,
    /// `goro::synctest::wait`, or the end of `synctest::test` waiting for the bubble's
    /// other green threads (Go's `synctest.Wait`).
    Synctest,
}

impl WaitReason {
    pub(crate) fn from_u8(v: u8) -> WaitReason {
        const ALL: [WaitReason; 19] = [
            WaitReason::Unknown,
            WaitReason::Sleep,
            WaitReason::Join,
            WaitReason::ChanSend,
            WaitReason::ChanRecv,
            WaitReason::Select,
            WaitReason::Sync,
            WaitReason::Io,
            WaitReason::Blocking,
            WaitReason::Other,
            WaitReason::MutexLock,
            WaitReason::RwLockRead,
            WaitReason::RwLockWrite,
            WaitReason::WaitGroupWait,
            WaitReason::CondWait,
            WaitReason::Semacquire,
            WaitReason::OnceWait,
            WaitReason::Future,
            WaitReason::Synctest,
        ];
        ALL.get(usize::from(v & !OUTSIDE_BUBBLE))
            .copied()
            .unwrap_or(WaitReason::Unknown)
    }

    /// Go's wording for the reason ("chan receive", "sleep", ...).
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::Unknown => "unknown",
            WaitReason::Sleep => "sleep",
            WaitReason::Join => "join",
            WaitReason::ChanSend => "chan send",
            WaitReason::ChanRecv => "chan receive",
            WaitReason::Select => "select",
            WaitReason::Sync => "sync",
            WaitReason::Io => "IO wait",
            WaitReason::Blocking => "blocking call",
            WaitReason::Other => "other",
            WaitReason::MutexLock => "sync.Mutex.Lock",
            WaitReason::RwLockRead => "sync.RWMutex.RLock",
            WaitReason::RwLockWrite => "sync.RWMutex.Lock",
            WaitReason::WaitGroupWait => "sync.WaitGroup.Wait",
            WaitReason::CondWait => "sync.Cond.Wait",
            WaitReason::Semacquire => "semacquire",
            WaitReason::OnceWait => "sync.Once.Do",
            WaitReason::Future => "future",
            WaitReason::Synctest => "synctest.Wait",
        }
    }

    /// True if a green thread parked for this reason, inside a synctest bubble, can be
    /// woken only by the bubble's own green threads or timers (Go's "durably blocked",
    /// `testing/synctest`): a channel or select (of the bubble's channels), a sleep, a
    /// join, a `WaitGroup`, a `Condvar`, a `Semaphore`. Not durable: a `Mutex` or `RwLock`
    /// (it may be held outside the bubble, as Go rules for `sync.Mutex`), a `Once`, a
    /// socket, a `blocking` call, a future (its waker may be anywhere), anything else.
    pub(crate) fn is_durable(self) -> bool {
        matches!(
            self,
            WaitReason::Sleep
                | WaitReason::Join
                | WaitReason::ChanSend
                | WaitReason::ChanRecv
                | WaitReason::Select
                | WaitReason::WaitGroupWait
                | WaitReason::CondWait
                | WaitReason::Semacquire
        )
    }
}

/// In a G's `wait_reason` byte: it waits on something from outside its synctest bubble (a
/// channel made outside it), so it is not durably blocked whatever the reason says.
pub(crate) const OUTSIDE_BUBBLE: u8 = 0x80;

/// True if the `wait_reason` byte of a parked G says it is durably blocked.
pub(crate) fn is_durable_wait(byte: u8) -> bool {
    byte & OUTSIDE_BUBBLE == 0 && WaitReason::from_u8(byte).is_durable()
}

/// What a parked green thread waits on, for diagnostics: a [`WaitReason`], and for a
/// channel its address and capacity, for a select its number of cases, for a sleep when it
/// wakes. Passed to [`park_on`](super::park_on) and [`park_until_on`](super::park_until_on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitingOn {
    reason: WaitReason,
    object: usize,
    detail: u64,
    /// On something made outside the caller's synctest bubble (never durable).
    outside: bool,
}

impl WaitingOn {
    /// Just the reason.
    pub const fn reason(reason: WaitReason) -> WaitingOn {
        WaitingOn {
            reason,
            object: 0,
            detail: 0,
            outside: false,
        }
    }

    /// A channel operation (`reason` is [`WaitReason::ChanSend`] or
    /// [`WaitReason::ChanRecv`]) on the channel at `channel`, of capacity `capacity`.
    pub(crate) fn channel<T: ?Sized>(
        reason: WaitReason,
        channel: *const T,
        capacity: usize,
    ) -> Self {
        WaitingOn {
            reason,
            object: channel.cast::<()>() as usize,
            detail: capacity as u64,
            outside: false,
        }
    }

    /// A wait for `reason` on the primitive at address `object` (a lock, a wait group);
    /// `holder`: who holds the lock as [`LockHolder`] encodes it, or 0 if not known.
    pub(crate) const fn on_object(reason: WaitReason, object: usize, holder: u64) -> WaitingOn {
        WaitingOn {
            reason,
            object,
            detail: holder,
            outside: false,
        }
    }

    /// A select over `cases` cases.
    pub(crate) const fn select(cases: usize) -> WaitingOn {
        WaitingOn {
            reason: WaitReason::Select,
            object: 0,
            detail: cases as u64,
            outside: false,
        }
    }

    /// A sleep that ends at `wakes_at_ms` on the runtime's coarse clock.
    pub(crate) const fn sleep(wakes_at_ms: u64) -> WaitingOn {
        WaitingOn {
            reason: WaitReason::Sleep,
            object: 0,
            detail: wakes_at_ms,
            outside: false,
        }
    }

    /// The reason.
    pub const fn wait_reason(&self) -> WaitReason {
        self.reason
    }

    /// Marks the wait as on something made outside the caller's synctest bubble (a
    /// channel): the bubble's clock does not advance past it.
    pub(crate) const fn outside_bubble(mut self, outside: bool) -> WaitingOn {
        self.outside = outside;
        self
    }

    /// The byte a parked G keeps (`G::wait_reason`): the reason, and `OUTSIDE_BUBBLE`.
    pub(crate) const fn reason_byte(&self) -> u8 {
        self.reason as u8 | if self.outside { OUTSIDE_BUBBLE } else { 0 }
    }

    pub(crate) const fn object(&self) -> usize {
        self.object
    }

    pub(crate) const fn detail(&self) -> u64 {
        self.detail
    }
}

impl From<WaitReason> for WaitingOn {
    fn from(reason: WaitReason) -> WaitingOn {
        WaitingOn::reason(reason)
    }
}

/// Who holds a goro lock, as a lock waiter's `detail` records it for `dump`: an address
/// on the holder's stack (`dump` names the green thread whose stack holds it), or a count
/// of readers (top bit set: user-space addresses never have it); 0 if not known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LockHolder {
    /// The party whose stack contains this address.
    Stack(u64),
    /// This many readers (an `RwLock` read-locked).
    Readers(usize),
}

const READERS: u64 = 1 << 63;

impl LockHolder {
    /// The encoding (0 for `None`).
    pub(crate) fn encode(h: Option<LockHolder>) -> u64 {
        match h {
            None | Some(LockHolder::Stack(0)) | Some(LockHolder::Readers(0)) => 0,
            Some(LockHolder::Stack(at)) => at & !READERS,
            Some(LockHolder::Readers(n)) => READERS | n as u64,
        }
    }

    /// The holder `encode` wrote.
    pub(crate) fn decode(detail: u64) -> Option<LockHolder> {
        match detail {
            0 => None,
            d if d & READERS != 0 => Some(LockHolder::Readers((d & !READERS) as usize)),
            at => Some(LockHolder::Stack(at)),
        }
    }
}
