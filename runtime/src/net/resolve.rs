//! Name resolution off the worker: every `ToSocketAddrs` argument of `goro::net` that may
//! hold a host name is resolved inside [`blocking`](crate::blocking), so a slow DNS
//! server stalls only the green thread asking (Go resolves on the netpoller or, with cgo,
//! in `entersyscall`; both leave the P to the other goroutines).
//!
//! std's `to_socket_addrs` resolves only for host strings (`str`, `String`, and tuples of
//! them with a port); an address value (`SocketAddr`, `(IpAddr, u16)`, a slice of them)
//! is converted without a system call. `ToSocketAddrs` offers no way to tell the two
//! apart, so the argument's type name decides: a type whose name contains `str` goes
//! through `blocking` (even a literal like `"127.0.0.1:80"`, which then costs one
//! processor hand-off, a few microseconds), everything else is converted in place. A
//! user type that resolves in its own way without `str` in its name is still covered by
//! sysmon's handoff of a worker blocked in the kernel (~1 ms), as any unmarked call.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// The addresses `addr` stands for, resolved off the worker when it may be a host name.
pub(crate) fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    if may_resolve::<A>() {
        crate::blocking(|| addr.to_socket_addrs().map(Iterator::collect))
    } else {
        addr.to_socket_addrs().map(Iterator::collect)
    }
}

/// True if `A` is one of std's resolving address types (or a reference to one).
fn may_resolve<A: ?Sized>() -> bool {
    // `str`, `&str`, `alloc::string::String`: the lowercase `str` is in every one.
    std::any::type_name::<A>().contains("str")
}

/// Tries `f` on each address `addr` resolves to; returns the first success or last error.
pub(crate) fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in resolve(addr)? {
        match f(&a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn host_strings_resolve_off_the_worker_and_address_values_do_not() {
        assert!(may_resolve::<&str>());
        assert!(may_resolve::<String>());
        assert!(may_resolve::<&String>());
        assert!(may_resolve::<(&str, u16)>());
        assert!(may_resolve::<(String, u16)>());
        assert!(!may_resolve::<SocketAddr>());
        assert!(!may_resolve::<&SocketAddr>());
        assert!(!may_resolve::<(IpAddr, u16)>());
        assert!(!may_resolve::<(Ipv4Addr, u16)>());
        assert!(!may_resolve::<&[SocketAddr]>());
    }

    #[test]
    fn resolve_gives_the_same_addresses_as_std() {
        let a: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(resolve("127.0.0.1:80").unwrap(), vec![a]);
        assert_eq!(resolve(a).unwrap(), vec![a]);
        assert!(resolve("no port here").is_err());
    }
}
