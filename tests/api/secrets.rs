//! The API key never appears in a response or a log line, whatever goes wrong.

use std::time::Duration;

use wiremock::ResponseTemplate;

use crate::helpers::{CapturedLogs, TEST_API_KEY, fixture, spawn_app_with};

#[tokio::test]
async fn no_response_or_log_line_holds_the_api_key() {
    let logs = CapturedLogs::default();
    // Debug level, as an operator chasing a problem would set it.
    weatherlog::telemetry::init(
        "debug",
        weatherlog::configuration::LogFormat::Text,
        logs.clone(),
    );
    let app = spawn_app_with(|settings| settings.openweather_timeout_ms = 300).await;
    let answers = [
        ResponseTemplate::new(200).set_body_raw(
            fixture("current/warsaw_pl_heavy_rain.json"),
            "application/json",
        ),
        ResponseTemplate::new(401).set_body_raw(
            fixture("errors/401-invalid-api-key.json"),
            "application/json",
        ),
        ResponseTemplate::new(429)
            .set_body_raw(fixture("errors/429-rate-limit.json"), "application/json"),
        ResponseTemplate::new(500).set_body_string("oops"),
        ResponseTemplate::new(200).set_body_string("{not json"),
        ResponseTemplate::new(200).set_delay(Duration::from_secs(2)),
    ];

    let mut seen = String::new();
    for (i, answer) in answers.into_iter().enumerate() {
        app.upstream.reset().await;
        // A 401 or 429 pauses calls; every case must reach upstream with the key.
        app.end_upstream_pause().await;
        app.upstream_always(answer).await;
        let response = app.get_weather(&format!("City{i}")).await;
        seen.push_str(&format!("{:?}", response.headers()));
        seen.push_str(&response.text().await.unwrap());
        let log = app
            .post_log(serde_json::json!({"city": format!("Town{i}")}))
            .await;
        seen.push_str(&log.text().await.unwrap());
        // The key really went upstream in every case, so its absence below means something.
        let requests = app.upstream.received_requests().await.unwrap_or_default();
        let sent_key = requests.iter().any(|request| {
            request
                .url
                .query_pairs()
                .any(|(name, value)| name == "appid" && value == TEST_API_KEY)
        });
        assert!(sent_key, "case {i}: the key was sent upstream");
    }

    assert!(
        !seen.contains(TEST_API_KEY),
        "a response held the key: {seen}"
    );
    let logged = logs.text();
    assert!(
        logged.contains("OpenWeatherMap"),
        "errors were logged:\n{logged}"
    );
    assert!(
        !logged.contains(TEST_API_KEY),
        "a log line held the key:\n{logged}"
    );
    assert!(
        !logged.contains("appid="),
        "a log line held the upstream URL:\n{logged}"
    );
}
