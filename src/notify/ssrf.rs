//! The guard against server-side request forgery through subscriber URLs
//! (docs/notifications.md, "Where deliveries may go"): a subscription may not point the
//! server at itself or at its private network. A URL whose host is, or resolves to, a
//! loopback, link-local, private (RFC 1918, RFC 6598 shared, IPv6 unique local),
//! multicast, broadcast or unspecified address is refused when the subscription is made,
//! and again at every delivery after the name is resolved: the delivery client resolves
//! names through `Resolver`, which drops such addresses, so a name that later resolves
//! elsewhere (DNS rebinding) still reaches no private address. An operator setting
//! (`--webhook-allow-private`, `FUNDTRAIL_WEBHOOK_ALLOW_PRIVATE`) lifts the guard, for
//! receivers on the operator's own network and for tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// How long resolving a subscriber's host may take.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Some("private")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let first = ip.segments().first().copied().unwrap_or_default();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 {
        Some("private")
    } else if ip.is_multicast() {
        Some("multicast")
    } else {
        None
    }
}

/// Why a delivery may not go to `ip` (`loopback`, `link-local`, ...), or `None`.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn refusal(host: &str, ip: IpAddr, why: &str) -> String {
    if host == ip.to_string() || host.trim_matches(['[', ']']) == ip.to_string() {
        format!("url's host {host} is a {why} address")
    } else {
        format!("url's host {host} resolves to {ip}, a {why} address")
    }
}

/// The IP address a URL's host names literally, if it does.
fn literal(url: &reqwest::Url) -> Option<IpAddr> {
    url.host_str()?.trim_matches(['[', ']']).parse().ok()
}

/// Why a delivery to `url` is refused before any name is resolved: its host is a
/// forbidden address literally.
pub fn literal_refusal(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let ip = literal(&parsed)?;
    let why = forbidden(ip)?;
    Some(refusal(parsed.host_str().unwrap_or_default(), ip, why))
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let lookup = tokio::net::lookup_host((host, port));
    match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Ok(Ok(addrs)) => Ok(addrs.collect()),
        Ok(Err(e)) => Err(format!("url's host {host} does not resolve ({e})")),
        Err(_) => Err(format!(
            "url's host {host} did not resolve within {} s",
            RESOLVE_TIMEOUT.as_secs()
        )),
    }
}

/// Checks a subscriber URL when the subscription is made: its host, or every address its
/// name resolves to now, must be public. `Err` says why not.
pub async fn check(url: &str, allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("url is not a URL ({e})"))?;
    if let Some(why) = literal_refusal(url) {
        return Err(why);
    }
    if literal(&parsed).is_some() {
        return Ok(());
    }
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let addrs = resolve(&host, parsed.port_or_known_default().unwrap_or(443)).await?;
    if addrs.is_empty() {
        return Err(format!("url's host {host} resolves to no address"));
    }
    for a in addrs {
        if let Some(why) = forbidden(a.ip()) {
            return Err(refusal(&host, a.ip(), why));
        }
    }
    Ok(())
}

/// The delivery client's name resolver: the system's, less the forbidden addresses. A
/// name that resolves only to forbidden addresses fails the attempt, which the delivery
/// log records.
#[derive(Debug, Default, Clone, Copy)]
pub struct Resolver;

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs = resolve(&host, 0).await?;
            let mut refused = None;
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| match forbidden(a.ip()) {
                    Some(why) => {
                        refused.get_or_insert_with(|| refusal(&host, a.ip(), why));
                        false
                    }
                    None => true,
                })
                .collect();
            if allowed.is_empty() {
                let why = refused.unwrap_or_else(|| format!("{host} resolves to no address"));
                return Err(format!("refused: {why}").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_and_special_addresses_are_named_and_public_ones_pass() {
        for (addr, why) in [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("::1", "loopback"),
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("169.254.169.254", "link-local"),
            ("fe80::1", "link-local"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "private"),
            ("fd00::1", "private"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
        ] {
            assert_eq!(forbidden(ip(addr)), Some(why), "{addr}");
        }
        for addr in ["93.184.215.14", "8.8.8.8", "100.128.0.1", "2606:4700::1111"] {
            assert_eq!(forbidden(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn literal_hosts_are_refused_without_resolving() {
        assert_eq!(
            literal_refusal("http://127.0.0.1:8080/hook").as_deref(),
            Some("url's host 127.0.0.1 is a loopback address")
        );
        assert!(literal_refusal("http://[::1]/hook").is_some());
        assert!(literal_refusal("https://93.184.215.14/hook").is_none());
        assert!(literal_refusal("https://example.org/hook").is_none());
    }

    #[actix_web::test]
    async fn names_are_checked_after_resolution() {
        let e = check("http://localhost:9/hook", false).await.unwrap_err();
        assert!(e.contains("loopback"), "{e}");
        assert!(check("http://localhost:9/hook", true).await.is_ok());
        let e = check("http://169.254.169.254/latest/meta-data", false)
            .await
            .unwrap_err();
        assert!(e.contains("link-local"), "{e}");
    }
}
