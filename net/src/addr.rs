//! Socket addresses: what `bind`, `connect` and `send_to` accept, and name resolution
//! on the runtime's blocking pool.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Values that name one or more socket addresses: `SocketAddr`, `(IpAddr, u16)`,
/// `(&str, u16)`, `"host:port"` as `&str` or `String`, and `&[SocketAddr]`.
///
/// A string is first parsed as an address; only when that fails is it resolved as a host
/// name, on the runtime's blocking pool ([`runtime::spawn_blocking`]), so the loop never
/// blocks on DNS. The trait is sealed: the set of forms is closed.
pub trait ToSocketAddrs: sealed::Sealed {}

pub(crate) mod sealed {
    use std::net::SocketAddr;

    /// What a [`ToSocketAddrs`](super::ToSocketAddrs) value turns into.
    #[derive(Debug)]
    pub enum Target {
        /// Addresses known without a lookup.
        Ready(Vec<SocketAddr>),
        /// A host name and port to resolve.
        Lookup(String, u16),
        /// A `host:port` string to resolve.
        LookupStr(String),
    }

    /// The hidden half of [`ToSocketAddrs`](super::ToSocketAddrs).
    pub trait Sealed {
        /// The addresses, or what to resolve.
        fn to_target(&self) -> Target;
    }
}

use sealed::{Sealed, Target};

impl ToSocketAddrs for SocketAddr {}
impl Sealed for SocketAddr {
    fn to_target(&self) -> Target {
        Target::Ready(vec![*self])
    }
}

impl ToSocketAddrs for SocketAddrV4 {}
impl Sealed for SocketAddrV4 {
    fn to_target(&self) -> Target {
        Target::Ready(vec![SocketAddr::V4(*self)])
    }
}

impl ToSocketAddrs for SocketAddrV6 {}
impl Sealed for SocketAddrV6 {
    fn to_target(&self) -> Target {
        Target::Ready(vec![SocketAddr::V6(*self)])
    }
}

impl ToSocketAddrs for (IpAddr, u16) {}
impl Sealed for (IpAddr, u16) {
    fn to_target(&self) -> Target {
        Target::Ready(vec![SocketAddr::from(*self)])
    }
}

impl ToSocketAddrs for (Ipv4Addr, u16) {}
impl Sealed for (Ipv4Addr, u16) {
    fn to_target(&self) -> Target {
        Target::Ready(vec![SocketAddr::from(*self)])
    }
}

impl ToSocketAddrs for (Ipv6Addr, u16) {}
impl Sealed for (Ipv6Addr, u16) {
    fn to_target(&self) -> Target {
        Target::Ready(vec![SocketAddr::from(*self)])
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl Sealed for (&str, u16) {
    fn to_target(&self) -> Target {
        let (host, port) = *self;
        match host.parse::<IpAddr>() {
            Ok(ip) => Target::Ready(vec![SocketAddr::new(ip, port)]),
            Err(_) => Target::Lookup(host.to_owned(), port),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl Sealed for (String, u16) {
    fn to_target(&self) -> Target {
        (self.0.as_str(), self.1).to_target()
    }
}

impl ToSocketAddrs for str {}
impl Sealed for str {
    fn to_target(&self) -> Target {
        match self.parse::<SocketAddr>() {
            Ok(addr) => Target::Ready(vec![addr]),
            Err(_) => Target::LookupStr(self.to_owned()),
        }
    }
}

impl ToSocketAddrs for String {}
impl Sealed for String {
    fn to_target(&self) -> Target {
        self.as_str().to_target()
    }
}

impl ToSocketAddrs for [SocketAddr] {}
impl Sealed for [SocketAddr] {
    fn to_target(&self) -> Target {
        Target::Ready(self.to_vec())
    }
}

impl<const N: usize> ToSocketAddrs for [SocketAddr; N] {}
impl<const N: usize> Sealed for [SocketAddr; N] {
    fn to_target(&self) -> Target {
        Target::Ready(self.to_vec())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: Sealed + ?Sized> Sealed for &T {
    fn to_target(&self) -> Target {
        (**self).to_target()
    }
}

/// Resolves `addr` to its list of addresses (host names on the blocking pool). The
/// error names what failed to resolve.
pub(crate) async fn resolve<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<Vec<SocketAddr>> {
    let (name, addrs) = match addr.to_target() {
        Target::Ready(addrs) => return Ok(addrs),
        Target::Lookup(host, port) => {
            let name = format!("{host}:{port}");
            let lookup = runtime::spawn_blocking(move || {
                std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)).map(Vec::from_iter)
            });
            (name, lookup.await)
        }
        Target::LookupStr(s) => {
            let name = s.clone();
            let lookup = runtime::spawn_blocking(move || {
                std::net::ToSocketAddrs::to_socket_addrs(s.as_str()).map(Vec::from_iter)
            });
            (name, lookup.await)
        }
    };
    let addrs = addrs.map_err(|e| io::Error::other(format!("resolving {name}: {e}")))?;
    match addrs {
        Ok(list) if list.is_empty() => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{name} resolved to no address"),
        )),
        Ok(list) => Ok(list),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("could not resolve {name}: {e}"),
        )),
    }
}

/// Resolves `addr`, then runs `op` on each address in turn until one succeeds. The
/// final error keeps the kind of the last failure and names its address and `what`.
pub(crate) async fn each_addr<A, T, F, Fut>(addr: &A, what: &str, mut op: F) -> io::Result<T>
where
    A: ToSocketAddrs + ?Sized,
    F: FnMut(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let mut last = None;
    for a in resolve(addr).await? {
        match op(a).await {
            Ok(v) => return Ok(v),
            Err(e) => last = Some((a, e)),
        }
    }
    Err(match last {
        Some((a, e)) => io::Error::new(e.kind(), format!("{what} {a}: {e}")),
        None => io::Error::new(io::ErrorKind::InvalidInput, "no address given"),
    })
}
