use std::net::IpAddr;

use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

fn url(text: &str) -> Url {
    Url::parse(text).expect("test URL")
}

fn reason_of(text: &str) -> Option<BlockReason> {
    classify(ip(text))
}

#[test]
fn classify_rejects_non_public_ipv4() {
    let cases = [
        ("127.0.0.1", BlockReason::Loopback),
        ("127.255.0.9", BlockReason::Loopback),
        ("10.1.2.3", BlockReason::Private),
        ("172.16.0.1", BlockReason::Private),
        ("172.31.255.255", BlockReason::Private),
        ("192.168.1.1", BlockReason::Private),
        ("169.254.1.1", BlockReason::LinkLocal),
        ("100.64.0.1", BlockReason::SharedAddressSpace),
        ("100.127.255.254", BlockReason::SharedAddressSpace),
        ("0.0.0.0", BlockReason::Unspecified),
        ("0.1.2.3", BlockReason::Unspecified),
        ("224.0.0.1", BlockReason::Multicast),
        ("239.255.255.250", BlockReason::Multicast),
        ("255.255.255.255", BlockReason::Broadcast),
        ("240.0.0.1", BlockReason::Reserved),
        ("198.18.0.1", BlockReason::Reserved),
        ("169.254.169.254", BlockReason::Metadata),
        ("100.100.100.200", BlockReason::Metadata),
        ("168.63.129.16", BlockReason::Metadata),
    ];
    for (address, expected) in cases {
        assert_eq!(reason_of(address), Some(expected), "{address}");
    }
}

#[test]
fn classify_accepts_public_addresses() {
    for address in [
        "8.8.8.8",
        "172.32.0.1",
        "100.128.0.1",
        "193.0.0.1",
        "2001:4860:4860::8888",
        "2606:4700::1111",
    ] {
        assert_eq!(reason_of(address), None, "{address}");
    }
}

#[test]
fn classify_rejects_non_public_ipv6() {
    let cases = [
        ("::1", BlockReason::Loopback),
        ("::", BlockReason::Unspecified),
        ("fc00::1", BlockReason::Private),
        ("fd12:3456::1", BlockReason::Private),
        ("fe80::1", BlockReason::LinkLocal),
        ("fec0::1", BlockReason::Private),
        ("ff02::1", BlockReason::Multicast),
        ("fd00:ec2::254", BlockReason::Metadata),
    ];
    for (address, expected) in cases {
        assert_eq!(reason_of(address), Some(expected), "{address}");
    }
}

#[test]
fn classify_sees_ipv4_inside_ipv6() {
    let cases = [
        ("::ffff:127.0.0.1", BlockReason::Loopback),
        ("::ffff:10.0.0.1", BlockReason::Private),
        ("::ffff:169.254.169.254", BlockReason::Metadata),
        ("::127.0.0.1", BlockReason::Loopback),
        ("64:ff9b::192.168.0.1", BlockReason::Private),
        ("2002:7f00:1::", BlockReason::Loopback),
        ("2002:a9fe:a9fe::", BlockReason::Metadata),
    ];
    for (address, expected) in cases {
        assert_eq!(reason_of(address), Some(expected), "{address}");
    }
    assert_eq!(reason_of("::ffff:8.8.8.8"), None);
}

#[test]
fn empty_allowlist_blocks_loopback() {
    let allow = HttpAllowlist::default();
    let blocked = allow.check_ip("localhost", ip("127.0.0.1")).unwrap_err();
    assert_eq!(blocked.reason, BlockReason::Loopback);
    assert!(allow.check_ip("example.org", ip("93.184.215.14")).is_ok());
}

#[test]
fn allowlist_network_opens_addresses() {
    let allow = HttpAllowlist::parse(&["127.0.0.1", "10.0.0.0/8", "fd00::/8"]).unwrap();
    assert!(allow.check_ip("127.0.0.1", ip("127.0.0.1")).is_ok());
    assert!(allow.check_ip("127.0.0.2", ip("127.0.0.2")).is_err());
    assert!(allow.check_ip("svc", ip("10.20.30.40")).is_ok());
    assert!(allow.check_ip("svc", ip("fd00::5")).is_ok());
    assert!(allow.check_ip("svc", ip("192.168.0.1")).is_err());
}

#[test]
fn allowlist_host_opens_its_addresses() {
    let allow = HttpAllowlist::parse(&["CI.Internal."]).unwrap();
    assert!(allow.check_ip("ci.internal", ip("10.0.0.7")).is_ok());
    assert!(allow.check_ip("other.internal", ip("10.0.0.7")).is_err());
}

#[test]
fn broad_allowlist_keeps_metadata_blocked() {
    let broad = HttpAllowlist::parse(&["169.254.0.0/16", "0.0.0.0/0"]).unwrap();
    let blocked = broad
        .check_ip("169.254.169.254", ip("169.254.169.254"))
        .unwrap_err();
    assert_eq!(blocked.reason, BlockReason::Metadata);
    assert!(broad.check_ip("x", ip("169.254.1.1")).is_ok());
    let exact = HttpAllowlist::parse(&["169.254.169.254"]).unwrap();
    assert!(exact.check_ip("x", ip("169.254.169.254")).is_ok());
}

#[test]
fn allowlist_rejects_malformed_entries() {
    for entry in ["", "  ", "not a host", "10.0.0.0/33", "-bad-.example"] {
        let err = HttpAllowlist::parse(&[entry]).unwrap_err();
        assert!(matches!(err, Error::Configuration { .. }), "{entry}: {err}");
    }
}

#[test]
fn check_url_rejects_literal_addresses() {
    let allow = HttpAllowlist::default();
    for text in [
        "http://127.0.0.1:8080/x",
        "http://[::1]/",
        "http://[::ffff:7f00:1]/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
    ] {
        let rejection = allow.check_url(&url(text)).unwrap_err();
        assert!(
            matches!(rejection, UrlRejection::Blocked(_)),
            "{text}: {rejection:?}"
        );
    }
}

#[test]
fn check_url_defers_names_to_resolution() {
    let allow = HttpAllowlist::default();
    assert!(allow
        .check_url(&url("https://api.github.com/repos"))
        .is_ok());
    assert!(allow.check_url(&url("http://8.8.8.8/")).is_ok());
}

#[test]
fn check_url_rejects_other_schemes() {
    let allow = HttpAllowlist::default();
    for text in ["file:///etc/passwd", "ftp://example.org/", "gopher://x/"] {
        let rejection = allow.check_url(&url(text)).unwrap_err();
        assert!(
            matches!(rejection, UrlRejection::Scheme(_)),
            "{text}: {rejection:?}"
        );
    }
}

#[test]
fn blocked_error_names_field_and_fix() {
    let allow = HttpAllowlist::default();
    let rejection = allow.check_url(&url("http://10.0.0.1/")).unwrap_err();
    let err = rejection.into_error("datasource.config.baseUrl");
    let text = err.to_string();
    assert!(text.contains("datasource.config.baseUrl"), "{text}");
    assert!(text.contains("private"), "{text}");
    assert!(text.contains("httpAllow"), "{text}");
}
