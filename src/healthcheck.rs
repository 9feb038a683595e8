//! `weatherlog healthcheck`: asks the running service whether it is ready. Container images
//! have no curl, so the binary checks itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::configuration::Settings;

/// How long the check waits for an answer.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Calls `GET /health/ready` on the address the service listens on (loopback when it listens
/// on every interface); `true` when it answers 200 (ready, or degraded: Redis down but lookups
/// working).
pub async fn check(settings: &Settings) -> bool {
    let host = match settings.host {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let url = format!(
        "http://{}/health/ready",
        SocketAddr::new(host, settings.port)
    );
    let client = match reqwest::Client::builder().timeout(TIMEOUT).build() {
        Ok(client) => client,
        Err(_) => return false,
    };
    match client.get(&url).send().await {
        Ok(response) => {
            let ready = response.status().is_success();
            let body = response.text().await.unwrap_or_default();
            println!("{body}");
            ready
        }
        Err(err) => {
            eprintln!("health check failed: {}", err.without_url());
            false
        }
    }
}
