//! The SSRF guard of HTTP datasources: which addresses a request may reach.
//!
//! By default a datasource may only reach public unicast addresses. The guard
//! rejects loopback, private (RFC 1918 and IPv6 unique-local), link-local,
//! shared address space (CGNAT, RFC 6598), unspecified, multicast, broadcast
//! and reserved addresses, the same addresses embedded in IPv6 (IPv4-mapped,
//! IPv4-compatible, NAT64 and 6to4 forms), and the cloud metadata endpoints.
//! The HTTP client applies [`HttpAllowlist::check_ip`] to every address that
//! DNS returns and connects only to checked addresses, and applies
//! [`HttpAllowlist::check_url`] to the first URL and to every redirect target.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use reqwest::Url;

use crate::error::{Error, Result};

/// Addresses of cloud instance metadata services. They stay rejected when an
/// allowlist network covers them, and are reachable only when the allowlist
/// names the exact address.
const METADATA_ADDRESSES: [IpAddr; 4] = [
    // AWS, Azure, Google Cloud, Oracle Cloud, OpenStack and others.
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    // AWS Nitro instances over IPv6.
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    // Alibaba Cloud.
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    // Azure's platform address (wire server).
    IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16)),
];

/// Host names that always point at a metadata service.
const METADATA_HOSTS: [&str; 2] = ["metadata.google.internal", "metadata.goog"];

/// Category of an address that the guard rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockReason {
    Loopback,
    Private,
    LinkLocal,
    SharedAddressSpace,
    Unspecified,
    Multicast,
    Broadcast,
    Reserved,
    Metadata,
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            BlockReason::Loopback => "a loopback address",
            BlockReason::Private => "a private address",
            BlockReason::LinkLocal => "a link-local address",
            BlockReason::SharedAddressSpace => "a shared (CGNAT) address",
            BlockReason::Unspecified => "the unspecified address",
            BlockReason::Multicast => "a multicast address",
            BlockReason::Broadcast => "the broadcast address",
            BlockReason::Reserved => "a reserved address",
            BlockReason::Metadata => "a cloud metadata address",
        };
        f.write_str(text)
    }
}

/// A rejected address, kept as an error type so that the HTTP client can
/// find it in the cause chain of a failed connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub host: String,
    pub ip: Option<IpAddr>,
    pub reason: BlockReason,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            Some(ip) if ip.to_string() != self.host => write!(
                f,
                "host {} resolves to {ip}, which is {}",
                self.host, self.reason
            ),
            _ => write!(f, "host {} is {}", self.host, self.reason),
        }
    }
}

impl std::error::Error for Blocked {}

impl Blocked {
    /// Converts the rejection into a validation error on `field`.
    pub fn into_error(self, field: &str) -> Error {
        Error::validation(
            field,
            format!(
                "{self}; the SSRF guard rejects it. If this host is trusted, add it or its \
                 network to the store's httpAllow setting (POLYSTAT_HTTP_ALLOW)"
            ),
        )
    }
}

/// Hosts and networks that HTTP datasources may reach even though the guard
/// would reject them. Entries are host names (`ci.internal`), addresses
/// (`10.0.0.7`) or CIDR networks (`10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpAllowlist {
    hosts: Vec<String>,
    networks: Vec<IpNet>,
}

impl HttpAllowlist {
    /// Parses allowlist entries; an empty or malformed entry is a
    /// configuration error that names it.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self> {
        let mut allow = HttpAllowlist::default();
        for entry in entries {
            let entry = entry.as_ref().trim();
            if entry.is_empty() {
                return Err(Error::configuration(
                    "httpAllow contains an empty entry; remove it",
                ));
            }
            if let Ok(network) = entry.parse::<IpNet>() {
                allow.networks.push(network.trunc());
            } else if let Ok(ip) = entry.trim_matches(['[', ']']).parse::<IpAddr>() {
                allow.networks.push(IpNet::from(ip));
            } else if is_host_name(entry) {
                allow
                    .hosts
                    .push(entry.trim_end_matches('.').to_ascii_lowercase());
            } else {
                return Err(Error::configuration(format!(
                    "httpAllow entry {entry:?} is not a host name, an IP address or a CIDR \
                     network such as 10.0.0.0/8"
                )));
            }
        }
        Ok(allow)
    }

    /// Returns whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.networks.is_empty()
    }

    /// Decides whether `host`, resolved to `ip`, may be contacted.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Blocked> {
        let host_allowed = self.allows_host(host);
        let reason = match classify(ip) {
            None => return Ok(()),
            Some(reason) => reason,
        };
        let exact = self
            .networks
            .iter()
            .any(|n| n.prefix_len() == n.max_prefix_len() && n.contains(&ip));
        let allowed = match reason {
            // A broad allowlist entry must not open the metadata service by accident.
            BlockReason::Metadata => exact,
            _ => host_allowed || self.networks.iter().any(|n| n.contains(&ip)),
        };
        if allowed {
            Ok(())
        } else {
            Err(Blocked {
                host: host.to_string(),
                ip: Some(ip),
                reason,
            })
        }
    }

    /// Checks a URL before a request: the scheme must be HTTP or HTTPS, and a
    /// host given as an IP address, or a metadata host name, must pass the
    /// guard. Other host names are checked after DNS resolution.
    pub fn check_url(&self, url: &Url) -> Result<(), UrlRejection> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlRejection::Scheme(url.scheme().to_string()));
        }
        match url.host() {
            None => Err(UrlRejection::NoHost),
            Some(url::Host::Ipv4(ip)) => self
                .check_ip(&ip.to_string(), IpAddr::V4(ip))
                .map_err(UrlRejection::Blocked),
            Some(url::Host::Ipv6(ip)) => self
                .check_ip(&ip.to_string(), IpAddr::V6(ip))
                .map_err(UrlRejection::Blocked),
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if METADATA_HOSTS.contains(&name.as_str()) && !self.allows_host(&name) {
                    return Err(UrlRejection::Blocked(Blocked {
                        host: name,
                        ip: None,
                        reason: BlockReason::Metadata,
                    }));
                }
                Ok(())
            }
        }
    }

    fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.contains(&host)
    }
}

/// Reason a URL cannot be requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlRejection {
    Scheme(String),
    NoHost,
    Blocked(Blocked),
}

impl UrlRejection {
    /// Converts the rejection into a validation error on `field`.
    pub fn into_error(self, field: &str) -> Error {
        match self {
            UrlRejection::Scheme(scheme) => Error::validation(
                field,
                format!("scheme {scheme:?} is not supported; use an http or https URL"),
            ),
            UrlRejection::NoHost => {
                Error::validation(field, "the URL has no host; give an absolute http(s) URL")
            }
            UrlRejection::Blocked(blocked) => blocked.into_error(field),
        }
    }
}

/// Returns why the guard rejects `ip`, or `None` for a public unicast address.
pub fn classify(ip: IpAddr) -> Option<BlockReason> {
    if METADATA_ADDRESSES.contains(&ip) {
        return Some(BlockReason::Metadata);
    }
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<BlockReason> {
    let [a, b, c, _] = ip.octets();
    if METADATA_ADDRESSES.contains(&IpAddr::V4(ip)) {
        Some(BlockReason::Metadata)
    } else if ip.is_loopback() {
        Some(BlockReason::Loopback)
    } else if ip.is_private() {
        Some(BlockReason::Private)
    } else if ip.is_link_local() {
        Some(BlockReason::LinkLocal)
    } else if a == 100 && (64..128).contains(&b) {
        Some(BlockReason::SharedAddressSpace)
    } else if a == 0 {
        // 0.0.0.0/8 means "this network"; 0.0.0.0 reaches the local host on Linux.
        Some(BlockReason::Unspecified)
    } else if ip.is_broadcast() {
        Some(BlockReason::Broadcast)
    } else if ip.is_multicast() {
        Some(BlockReason::Multicast)
    } else if a >= 240 || (a == 192 && b == 0 && c == 0) || (a == 198 && (b & 0xfe) == 18) {
        // 240.0.0.0/4 future use, 192.0.0.0/24 protocol assignments,
        // 198.18.0.0/15 benchmarking: none of them is a public service.
        Some(BlockReason::Reserved)
    } else {
        None
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<BlockReason> {
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some(BlockReason::Loopback)
    } else if ip.is_unspecified() {
        Some(BlockReason::Unspecified)
    } else if (first & 0xfe00) == 0xfc00 {
        Some(BlockReason::Private)
    } else if (first & 0xffc0) == 0xfe80 {
        Some(BlockReason::LinkLocal)
    } else if (first & 0xffc0) == 0xfec0 {
        // Site-local addresses are deprecated but still route inside sites.
        Some(BlockReason::Private)
    } else if ip.is_multicast() {
        Some(BlockReason::Multicast)
    } else {
        None
    }
}

/// Returns the IPv4 address that an IPv6 address carries: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`)
/// and 6to4 (`2002:AABB:CCDD::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..6] == [0; 6] && !ip.is_loopback() && !ip.is_unspecified() {
        return Some(tail);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        let [a, b] = s[1].to_be_bytes();
        let [c, d] = s[2].to_be_bytes();
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    None
}

fn is_host_name(text: &str) -> bool {
    let text = text.trim_end_matches('.');
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests;
