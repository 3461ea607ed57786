//! Where an alert may be sent: only to public destinations. A channel URL naming a loopback,
//! private, link-local or metadata address (in any of the spellings a URL parser accepts:
//! `127.1`, `2130706433`, `0x7f000001`, `localhost`, `metadata.google.internal`) is refused
//! when a rule is saved, skipped in `ALERT_CHANNELS`, and never called; deliveries do not
//! follow redirects. `ALERT_ALLOW_LOOPBACK=true` (development and tests only) allows loopback
//! addresses, and nothing else. Pure: the URL in, a verdict out.
//!
//! A public name that resolves to a private address cannot be seen from a Worker (it does not
//! resolve names itself); Cloudflare's network does not route such calls to its own insides.

/// What a deployment lets alerts reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Destinations {
    /// `ALERT_ALLOW_LOOPBACK`: loopback receivers, for local development and tests.
    pub allow_loopback: bool,
}

/// The host of an `http(s)://host[:port]/…` URL, lowercased.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next()?;
    Some(host.trim_end_matches('.').to_ascii_lowercase())
}

/// One part of a numeric host as URL parsers read it: decimal, `0x` hex or `0` octal.
fn ipv4_part(part: &str) -> Option<u64> {
    if let Some(hex) = part.strip_prefix("0x") {
        return if hex.is_empty() {
            Some(0)
        } else {
            u64::from_str_radix(hex, 16).ok()
        };
    }
    if part.len() > 1 && part.starts_with('0') {
        return u64::from_str_radix(&part[1..], 8).ok();
    }
    part.parse().ok()
}

/// The address a host names when URL parsers read it as IPv4 (`127.1`, `2130706433`,
/// `0x7f.1`): the last part fills the bytes the others leave.
fn ipv4_of(host: &str) -> Option<[u8; 4]> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let numbers: Vec<u64> = parts.iter().map(|p| ipv4_part(p)).collect::<Option<_>>()?;
    let (last, head) = numbers.split_last()?;
    if head.iter().any(|n| *n > 255) || *last >= 1u64 << (8 * (5 - numbers.len())) {
        return None;
    }
    let mut value = *last;
    for (i, n) in head.iter().enumerate() {
        value |= n << (8 * (3 - i));
    }
    Some((value as u32).to_be_bytes())
}

fn loopback(ip: [u8; 4]) -> bool {
    ip[0] == 127
}

/// Addresses no public receiver has: this network, private ranges, shared address space,
/// loopback, link-local (cloud metadata), protocol assignments, benchmarking, multicast and
/// reserved.
fn not_public(ip: [u8; 4]) -> bool {
    let [a, b, c, _] = ip;
    a == 0
        || a == 10
        || (a == 100 && (64..128).contains(&b))
        || a == 127
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 224
}

/// Names that reach the machine itself or a cloud's metadata service.
fn internal_name(host: &str) -> bool {
    let suffix = |s: &str| host == s || host.ends_with(&format!(".{s}"));
    suffix("localhost") || suffix("internal") || suffix("local") || host == "metadata"
}

/// Whether an alert may be sent to `url`; `Err` says why not.
pub fn check(url: &str, allowed: Destinations) -> Result<(), String> {
    let host = host_of(url).ok_or_else(|| format!("'{url}' has no host"))?;
    let refused = || {
        Err(format!(
            "'{host}' is not a public address; alerts go only to public receivers"
        ))
    };
    if let Some(ip) = ipv4_of(&host) {
        return match (loopback(ip), allowed.allow_loopback, not_public(ip)) {
            (true, true, _) => Ok(()),
            (_, _, true) => refused(),
            _ => Ok(()),
        };
    }
    match (
        host == "localhost" || host.ends_with(".localhost"),
        internal_name(&host),
    ) {
        (true, true) if allowed.allow_loopback => Ok(()),
        (_, true) => refused(),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_refused_in_every_spelling() {
        let strict = Destinations::default();
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://localhost/hook",
            "http://app.localhost/hook",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://10.0.0.1/",
            "http://172.16.5.4/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://user:pw@127.0.0.1/",
            "http://LOCALHOST./",
        ] {
            assert!(check(url, strict).is_err(), "{url}");
        }
        for url in [
            "https://hooks.slack.com/services/T/B/X",
            "https://example.com:8443/hook",
            "https://203.0.113.7/hook",
            "https://8.8.8.8/",
            "https://172.32.0.1/",
            "https://1password.com/",
        ] {
            assert_eq!(check(url, strict), Ok(()), "{url}");
        }
    }

    #[test]
    fn the_development_switch_allows_loopback_only() {
        let dev = Destinations {
            allow_loopback: true,
        };
        for url in [
            "http://127.0.0.1:9/h",
            "http://localhost:9/h",
            "http://127.1/",
        ] {
            assert_eq!(check(url, dev), Ok(()), "{url}");
        }
        for url in [
            "http://10.0.0.1/",
            "http://169.254.169.254/",
            "http://metadata.google.internal/",
        ] {
            assert!(check(url, dev).is_err(), "{url}");
        }
    }
}
