//! The client's address: the socket's peer, or, when the peer is a trusted proxy, the
//! first untrusted hop of `Forwarded` (RFC 7239) or `X-Forwarded-For`, walked from the
//! right. Pure; the HTTP layer hands it the header values.

use std::net::IpAddr;

use super::policy::{TrustedProxies, canonical};

impl TrustedProxies {
    /// The client of a request from `peer`: `peer` itself unless it is trusted; then
    /// the rightmost address of the chain that is not a trusted proxy. `forwarded` are
    /// the values of the `Forwarded` headers, in order (they win when present);
    /// `x_forwarded_for` those of `X-Forwarded-For`. A hop that cannot be read (`unknown`,
    /// an obfuscated name) ends the walk at the last trusted hop: nothing to its left
    /// can be believed.
    ///
    /// ```
    /// use spv::ratelimit::TrustedProxies;
    ///
    /// let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
    /// let client = proxies.client_ip(
    ///     "10.0.0.2".parse().unwrap(),
    ///     std::iter::empty(),
    ///     ["203.0.113.9, 10.0.0.7"].into_iter(),
    /// );
    /// assert_eq!(client.to_string(), "203.0.113.9");
    /// // The same header from a peer that is not trusted is ignored.
    /// let client = proxies.client_ip(
    ///     "198.51.100.1".parse().unwrap(),
    ///     std::iter::empty(),
    ///     ["203.0.113.9"].into_iter(),
    /// );
    /// assert_eq!(client.to_string(), "198.51.100.1");
    /// ```
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded: impl DoubleEndedIterator<Item = &'a str>,
        x_forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    ) -> IpAddr {
        let peer = canonical(peer);
        if self.is_empty() || !self.contains(peer) {
            return peer;
        }
        let mut forwarded = forwarded.peekable();
        if forwarded.peek().is_some() {
            let hops = forwarded
                .rev()
                .flat_map(|value| value.rsplit(','))
                .map(for_of);
            return self.walk(peer, hops);
        }
        let hops = x_forwarded_for
            .rev()
            .flat_map(|value| value.rsplit(','))
            .map(|hop| node_ip(hop.trim()));
        self.walk(peer, hops)
    }

    fn walk(&self, peer: IpAddr, hops: impl Iterator<Item = Option<IpAddr>>) -> IpAddr {
        let mut client = peer;
        for hop in hops {
            let Some(ip) = hop else {
                return client;
            };
            client = canonical(ip);
            if !self.contains(client) {
                return client;
            }
        }
        client
    }
}

/// The `for=` node of one `Forwarded` element (`for=192.0.2.1;proto=https`), `None`
/// when it has none or it is not an address.
fn for_of(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        node_ip(value.trim().trim_matches('"'))
    })
}

/// An address of a hop: `192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]:443`,
/// `2001:db8::1`.
fn node_ip(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_chains_are_walked_from_the_right() {
        let proxies: TrustedProxies = "10.0.0.0/8, 2001:db8:ff::/48".parse().unwrap();
        let none: [&str; 0] = [];
        let client = |peer: &str, fwd: &[&str], xff: &[&str]| {
            proxies
                .client_ip(ip(peer), fwd.iter().copied(), xff.iter().copied())
                .to_string()
        };
        // Untrusted peer: the headers are ignored.
        assert_eq!(client("198.51.100.7", &[], &["1.2.3.4"]), "198.51.100.7");
        assert_eq!(
            client("198.51.100.7", &["for=1.2.3.4"], &[]),
            "198.51.100.7"
        );
        // Trusted peer: the rightmost untrusted hop, skipping trusted ones.
        assert_eq!(
            client("10.0.0.1", &[], &["1.2.3.4, 5.6.7.8, 10.9.9.9"]),
            "5.6.7.8"
        );
        assert_eq!(client("10.0.0.1", &[], &["1.2.3.4", "5.6.7.8"]), "5.6.7.8");
        assert_eq!(
            client(
                "10.0.0.1",
                &["for=1.2.3.4, for=\"[2001:db8::5]:443\";proto=https, for=10.1.1.1"],
                &["9.9.9.9"]
            ),
            "2001:db8::5",
            "Forwarded wins over X-Forwarded-For"
        );
        assert_eq!(
            client("10.0.0.1", &["for=192.0.2.60:8080;by=10.0.0.1"], &[]),
            "192.0.2.60"
        );
        // An unreadable hop stops the walk at the last trusted one.
        assert_eq!(
            client("10.0.0.1", &["for=1.2.3.4, for=unknown"], &[]),
            "10.0.0.1"
        );
        assert_eq!(
            client("10.0.0.1", &[], &["1.2.3.4, 10.2.2.2, junk"]),
            "10.0.0.1"
        );
        assert_eq!(
            client("10.0.0.1", &[], &["1.2.3.4, junk, 10.2.2.2"]),
            "10.2.2.2"
        );
        // Every hop trusted: the leftmost.
        assert_eq!(client("10.0.0.1", &[], &["10.0.0.3, 10.0.0.2"]), "10.0.0.3");
        // No header: the peer.
        assert_eq!(client("10.0.0.1", &none, &none), "10.0.0.1");
        // A v4-mapped peer is its v4 address.
        assert_eq!(client("::ffff:198.51.100.7", &[], &[]), "198.51.100.7");
        let no_proxies = TrustedProxies::default();
        assert_eq!(
            no_proxies.client_ip(ip("127.0.0.1"), none.into_iter(), ["1.2.3.4"].into_iter()),
            ip("127.0.0.1")
        );
    }
}
