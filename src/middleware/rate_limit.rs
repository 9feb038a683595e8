//! The inbound rate limit in HTTP: who the client is, what the limiter (`crate::rate_limit`)
//! decided for it, and how that is said. A refused request gets 429 problem+json with
//! `Retry-After`; every answer of a limited route carries the `RateLimit-Policy` and `RateLimit`
//! fields of draft-ietf-httpapi-ratelimit-headers-10, so clients can pace themselves:
//!
//! ```text
//! RateLimit-Policy: "default";q=300;w=60      300 requests (q) in 60 s (w), per client
//! RateLimit: "default";r=297;t=1              297 left (r); one more in 1 s (t)
//! ```
//!
//! It runs before the routes, so a refused request reaches no handler: it changes no data and
//! calls no upstream. `/health/*` (an orchestrator's probes must get through however busy the
//! address they come from is) and `/metrics` are never limited.
//!
//! The client is the TCP peer, unless the peer is one of `TRUSTED_PROXIES`: then it is the
//! rightmost address in `X-Forwarded-For` (or, without that header, in `Forwarded: for=`,
//! RFC 7239) that is not a trusted proxy itself ([`forwarded_client`]). Limits then apply to its
//! IPv4 address, or its IPv6 /64 (see [`crate::rate_limit::ClientKey`]).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError};

use crate::configuration::TrustedProxies;
use crate::error::ApiError;
use crate::prometheus;
use crate::rate_limit::{ClientKey, Decision, RequestLimiter, WINDOW_MS};

/// The quota policy field: `"default";q=<limit>;w=60`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// The service limit field: `"default";r=<remaining>;t=<seconds>`.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// `X-Forwarded-For: <client>, <proxy 1>, <proxy 2>`: each proxy appends the address it saw.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// Most hops of a forwarding header read, from the right: more proxies than this in front of
/// one service is a misconfiguration, and a client can send thousands of entries.
const MAX_HOPS: usize = 16;
/// Longest hop read: `[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535` is 53 bytes.
const MAX_HOP_BYTES: usize = 64;

/// Whether a path is never limited: the health probes, and the metrics route. Exactly these
/// paths: a prefix such as `/health/` would also exempt `/health/../api/v1/weather`.
pub fn is_exempt(path: &str) -> bool {
    matches!(path, "/health/live" | "/health/ready" | "/metrics")
}

/// The rate limit as the middleware applies it.
pub struct RateLimiting {
    /// `None`: `RATE_LIMIT_PER_MINUTE=0`, no limit and no fields.
    limiter: Option<RequestLimiter>,
    /// Whose forwarding headers are believed.
    trusted: TrustedProxies,
    /// The same on every answer, so built once.
    policy: HeaderValue,
}

impl RateLimiting {
    pub fn new(limiter: Option<RequestLimiter>, trusted: TrustedProxies) -> Self {
        let limit = limiter.as_ref().map_or(0, RequestLimiter::limit);
        Self {
            limiter,
            trusted,
            policy: quota_policy(limit),
        }
    }
}

/// The middleware, for `actix_web::middleware::from_fn`: decides, then passes the request on
/// or answers 429, and adds the RateLimit fields to the answer either way.
///
/// Errors: only those of the routes it passes the request to.
pub async fn limit<B: MessageBody>(
    limiting: Arc<RateLimiting>,
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let Some(limiter) = &limiting.limiter else {
        return Ok(next.call(request).await?.map_into_left_body());
    };
    if is_exempt(request.path()) {
        return Ok(next.call(request).await?.map_into_left_body());
    }
    let peer = request
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |peer| peer.ip());
    // `0.0.0.0` if actix-web knows no peer, which only a test request can be.
    let client = ClientKey::from(forwarded_client(peer, request.headers(), &limiting.trusted));
    let decision = limiter.check(client).await;
    let mut response = if decision.allowed {
        next.call(request).await?.map_into_left_body()
    } else {
        tracing::debug!(%client, retry_after_s = decision.retry_after_s, "rate limited");
        prometheus::rate_limited();
        let refusal = ApiError::RateLimited {
            limit: decision.limit,
            retry_after_s: decision.retry_after_s,
        }
        .error_response();
        request.into_response(refusal).map_into_right_body()
    };
    let headers = response.headers_mut();
    headers.insert(RATELIMIT_POLICY, limiting.policy.clone());
    headers.insert(RATELIMIT, service_limit(&decision));
    Ok(response)
}

/// The address a request from `peer` counts against.
///
/// From an untrusted peer: the peer; its headers are not read, so nobody can choose whose
/// budget they use. From a trusted proxy: walking `X-Forwarded-For` (every line of it), or else
/// `Forwarded`, from the right, the first address that is not a trusted proxy itself. Rightmost,
/// because each proxy appends what it saw: whatever the client wrote itself stands to the left
/// of the first untrusted hop and is never read. An entry that is not an address (garbage,
/// `unknown`, an obfuscated `_name`) ends the walk, and the last hop read, the one that handed it
/// over, is the client; so is the last of `MAX_HOPS` trusted hops. The work is bounded: at most
/// `MAX_HOPS` entries of at most `MAX_HOP_BYTES` each are parsed, nothing is allocated.
///
/// The result is canonical: an IPv4-mapped IPv6 address comes back as its IPv4 address.
pub fn forwarded_client(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if trusted.is_empty() || !trusted.contains(peer) {
        return peer;
    }
    // Proxies that write X-Forwarded-For (nearly all of them) leave a client's Forwarded
    // untouched, so it is read only when no X-Forwarded-For came.
    if headers.contains_key(X_FORWARDED_FOR) {
        let hops = headers
            .get_all(X_FORWARDED_FOR)
            .rev()
            .flat_map(|line| line.as_bytes().rsplit(|byte| *byte == b','))
            .map(parse_hop);
        walk(peer, hops, trusted)
    } else {
        let hops = headers
            .get_all(header::FORWARDED)
            .rev()
            .flat_map(|line| line.as_bytes().rsplit(|byte| *byte == b','))
            .map(forwarded_for);
        walk(peer, hops, trusted)
    }
}

/// From `peer`, along `hops` (right to left) while they are trusted proxies.
fn walk(
    peer: IpAddr,
    hops: impl Iterator<Item = Option<IpAddr>>,
    trusted: &TrustedProxies,
) -> IpAddr {
    let mut client = peer;
    for hop in hops.take(MAX_HOPS) {
        let Some(address) = hop else { break };
        client = address.to_canonical();
        if !trusted.contains(client) {
            break;
        }
    }
    client
}

/// The address in one element of `Forwarded` (RFC 7239): the value of its `for` parameter
/// (`for=192.0.2.60;proto=https`, `For="[2001:db8::17]:4711"`), quotes removed. A comma inside
/// a quoted string splits an element here, which only a client's own, unread part can hold.
fn forwarded_for(element: &[u8]) -> Option<IpAddr> {
    let value = element.split(|byte| *byte == b';').find_map(|pair| {
        let (name, value) = pair.split_at(pair.iter().position(|byte| *byte == b'=')?);
        name.trim_ascii()
            .eq_ignore_ascii_case(b"for")
            .then_some(&value[1..])
    })?;
    let value = value.trim_ascii();
    let unquoted = value
        .strip_prefix(b"\"")
        .and_then(|rest| rest.strip_suffix(b"\""))
        .unwrap_or(value);
    parse_hop(unquoted)
}

/// One hop as proxies write it: `192.0.2.7`, `192.0.2.7:8080`, `2001:db8::1`, `[2001:db8::1]`
/// or `[2001:db8::1]:4711`, with spaces around. Anything else, or anything longer than
/// [`MAX_HOP_BYTES`], is `None`.
fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let hop = hop.trim_ascii();
    if hop.len() > MAX_HOP_BYTES {
        return None;
    }
    let hop = std::str::from_utf8(hop).ok()?;
    if let Some(rest) = hop.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return port_ok.then(|| v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6))?;
    }
    if let Ok(address) = hop.parse::<IpAddr>() {
        return Some(address);
    }
    let (v4, port) = hop.split_once(':')?;
    is_port(port).then(|| v4.parse::<Ipv4Addr>().ok().map(IpAddr::V4))?
}

/// A port number as written after an address: 1 to 5 digits.
fn is_port(port: &str) -> bool {
    (1..=5).contains(&port.len()) && port.bytes().all(|byte| byte.is_ascii_digit())
}

/// `"default";q=<limit>;w=60`.
fn quota_policy(limit: u64) -> HeaderValue {
    let policy = format!("\"default\";q={limit};w={}", WINDOW_MS / 1000);
    HeaderValue::from_str(&policy).expect("digits and quotes are a header value")
}

/// `"default";r=<remaining>;t=<reset_s>`, written on the stack: one copy into the header value.
fn service_limit(decision: &Decision) -> HeaderValue {
    // 16 characters and two u64s of at most 20 digits each.
    let mut buffer = [0u8; 64];
    let mut cursor = std::io::Cursor::new(&mut buffer[..]);
    write!(
        cursor,
        "\"default\";r={};t={}",
        decision.remaining, decision.reset_s
    )
    .expect("64 bytes hold the field");
    let length = cursor.position() as usize;
    HeaderValue::from_bytes(&buffer[..length]).expect("digits and quotes are a header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fields_read_as_the_draft_writes_them() {
        assert_eq!(quota_policy(300), "\"default\";q=300;w=60");
        let decision = Decision {
            allowed: true,
            limit: 300,
            remaining: u64::MAX,
            reset_s: u64::MAX,
            retry_after_s: 0,
        };
        assert_eq!(
            service_limit(&decision),
            "\"default\";r=18446744073709551615;t=18446744073709551615"
        );
    }

    /// The client of a request from `peer` with `headers`, behind proxies in 10.0.0.0/8 and
    /// fd00::/8.
    fn client(peer: &str, headers: &[(&str, &str)]) -> String {
        let trusted: TrustedProxies = "10.0.0.0/8, fd00::/8".parse().unwrap();
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        forwarded_client(peer.parse().unwrap(), &map, &trusted).to_string()
    }

    fn xff(value: &str) -> [(&str, &str); 1] {
        [("X-Forwarded-For", value)]
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(client("203.0.113.7", &xff("198.51.100.1")), "203.0.113.7");
        assert_eq!(
            client("203.0.113.7", &[("Forwarded", "for=198.51.100.1")]),
            "203.0.113.7"
        );
        assert_eq!(client("::ffff:203.0.113.7", &[]), "203.0.113.7");
    }

    #[test]
    fn behind_trusted_proxies_the_client_is_the_rightmost_untrusted_hop() {
        assert_eq!(client("10.0.0.1", &xff("203.0.113.7")), "203.0.113.7");
        assert_eq!(
            client("10.0.0.1", &xff("  203.0.113.7 ,\t10.0.0.2  ")),
            "203.0.113.7"
        );
        // What the client wrote itself stands further left and is never read.
        assert_eq!(
            client("10.0.0.1", &xff("198.51.100.1, 203.0.113.7, 10.0.0.2")),
            "203.0.113.7"
        );
        // Every line of the header, in order.
        let lines = [
            ("X-Forwarded-For", "203.0.113.7"),
            ("X-Forwarded-For", "10.0.0.2"),
        ];
        assert_eq!(client("10.0.0.1", &lines), "203.0.113.7");
        // All trusted: the furthest proxy read. No header: the proxy itself.
        assert_eq!(client("10.0.0.1", &xff("10.0.0.3, 10.0.0.2")), "10.0.0.3");
        assert_eq!(client("10.0.0.1", &[]), "10.0.0.1");
        assert_eq!(
            client("::ffff:10.0.0.1", &xff("::ffff:203.0.113.7")),
            "203.0.113.7"
        );
        assert_eq!(client("fd00::1", &xff("2001:db8::1")), "2001:db8::1");
    }

    #[test]
    fn hops_may_carry_ports_and_brackets() {
        for (hop, address) in [
            ("203.0.113.7:8080", "203.0.113.7"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:4711", "2001:db8::1"),
        ] {
            assert_eq!(client("10.0.0.1", &xff(hop)), address, "{hop}");
        }
    }

    #[test]
    fn an_unreadable_hop_ends_the_walk_at_the_hop_that_handed_it_over() {
        for garbage in [
            "",
            "garbage",
            "unknown",
            "203.0.113.7:port",
            "203.0.113.7:123456",
            "[2001:db8::1]:",
            "[2001:db8::1",
            "2001:db8::1]:4711",
            "203.0.113.7 203.0.113.8",
            "\u{fc}ber",
            "300.0.113.7",
        ] {
            assert_eq!(client("10.0.0.1", &xff(garbage)), "10.0.0.1", "{garbage:?}");
            let behind = format!("{garbage}, 10.0.0.2");
            assert_eq!(client("10.0.0.1", &xff(&behind)), "10.0.0.2", "{garbage:?}");
            let before = format!("{garbage}, 203.0.113.7");
            assert_eq!(
                client("10.0.0.1", &xff(&before)),
                "203.0.113.7",
                "{garbage:?}"
            );
        }
        // Bytes that are not UTF-8 are garbage too.
        let mut map = HeaderMap::new();
        map.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"\xff\xfe, 10.0.0.2").unwrap(),
        );
        let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let peer = "10.0.0.1".parse().unwrap();
        assert_eq!(
            forwarded_client(peer, &map, &trusted).to_string(),
            "10.0.0.2"
        );
    }

    #[test]
    fn thousands_of_hops_cost_no_more_than_sixteen() {
        // A client's own thousands of entries stand left of the proxy's and are never read.
        let spoofed = "198.51.100.1, ".repeat(5000) + "203.0.113.7, 10.0.0.2";
        assert_eq!(client("10.0.0.1", &xff(&spoofed)), "203.0.113.7");
        // Thousands of trusted hops: the walk stops after 16, at a proxy.
        let proxies = (0..5000).map(|i| format!("10.0.{}.{}", i / 250, i % 250 + 1));
        let chain = proxies.collect::<Vec<_>>().join(",");
        assert_eq!(client("10.0.0.1", &xff(&chain)), "10.0.19.235");
        // One enormous entry is not parsed at all.
        let long = " ".repeat(100) + "203.0.113.7";
        assert_eq!(
            client("10.0.0.1", &xff(&long)),
            "203.0.113.7",
            "spaces are trimmed first"
        );
        let long = "2".repeat(10_000);
        assert_eq!(client("10.0.0.1", &xff(&long)), "10.0.0.1");
    }

    #[test]
    fn forwarded_names_the_client_in_its_for_parameter() {
        let forwarded = |value| client("10.0.0.1", &[("Forwarded", value)]);
        assert_eq!(forwarded(r#"for="[2001:db8::1]:4711""#), "2001:db8::1");
        assert_eq!(
            forwarded("for=192.0.2.60;proto=http;by=203.0.113.43"),
            "192.0.2.60"
        );
        assert_eq!(forwarded("proto=https; For=192.0.2.60"), "192.0.2.60");
        assert_eq!(forwarded(r#"for="192.0.2.60:8080""#), "192.0.2.60");
        assert_eq!(
            forwarded("for=192.0.2.43, for=198.51.100.17, for=10.0.0.2"),
            "198.51.100.17"
        );
        // Obfuscated, unknown, or no `for`: the proxy that sent it.
        for value in [
            r#"for="_hidden""#,
            "for=unknown",
            "proto=https",
            "for",
            "for=\"\"",
        ] {
            assert_eq!(forwarded(value), "10.0.0.1", "{value}");
        }
        // X-Forwarded-For wins when both came: a proxy that writes it passes Forwarded on as
        // the client sent it.
        let both = [
            ("Forwarded", "for=198.51.100.1"),
            ("X-Forwarded-For", "203.0.113.7"),
        ];
        assert_eq!(client("10.0.0.1", &both), "203.0.113.7");
    }

    #[test]
    fn only_the_probes_and_metrics_are_exempt() {
        for path in ["/health/live", "/health/ready", "/metrics"] {
            assert!(is_exempt(path), "{path}");
        }
        for path in [
            "/api/v1/weather",
            "/docs",
            "/api/v1/openapi.json",
            "/healthz",
            "/health",
            "/health/",
            "/health/../api/v1/weather",
            "/metrics/x",
        ] {
            assert!(!is_exempt(path), "{path}");
        }
    }
}
