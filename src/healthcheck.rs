//! `weatherlog healthcheck`: asks the running service whether it is ready. Container images
//! have no curl, so the binary checks itself.

use std::time::Duration;

/// How long the check waits for an answer.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Calls `GET http://127.0.0.1:{port}/health/ready`; `true` when it answers 200 (ready, or
/// degraded: Redis down but lookups working).
pub async fn check(port: u16) -> bool {
    let url = format!("http://127.0.0.1:{port}/health/ready");
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
