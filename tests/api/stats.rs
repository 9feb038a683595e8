//! `GET /api/v1/stats`: one aggregation pipeline, per place and overall.

use mongodb::bson::doc;
use serde_json::Value;
use weatherlog::storage::LogFilter;

use crate::helpers::{TestApp, assert_problem, spawn_app};
use crate::list::assert_scans_an_index;

async fn stats(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/api/v1/stats{query}")).await;
    assert_eq!(response.status(), 200, "GET /api/v1/stats{query}");
    response.json().await.unwrap()
}

async fn log_three(app: &TestApp) {
    app.upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;
    app.upstream_serves_city("warszawa,pl", "current/warszawa_pl_lang_pl.json")
        .await;
    app.upstream_serves_city("melbourne", "current/melbourne_au_lang_pt_br.json")
        .await;
    app.create_log("Warsaw,PL").await;
    app.create_log("Warsaw,PL").await;
    app.create_log("Melbourne").await;
}

#[tokio::test]
async fn stats_summarize_each_place_and_the_whole() {
    let app = spawn_app().await;
    log_three(&app).await;

    let body = stats(&app, "").await;

    assert_eq!(body["count"], 3);
    assert_eq!(body["units"], "metric");
    let places = body["places"].as_array().unwrap();
    assert_eq!(places.len(), 2);
    let warsaw = &places[0];
    assert_eq!(warsaw["city"], "Warsaw");
    assert_eq!(warsaw["country"], "PL");
    assert_eq!(warsaw["count"], 2);
    assert_eq!(warsaw["temperature"]["avg"], 17.03);
    assert_eq!(warsaw["temperature"]["min"], 17.03);
    assert_eq!(warsaw["temperature"]["max"], 17.03);
    assert_eq!(warsaw["humidity_avg"], 82.0);
    // Compare times, not strings: RFC 3339 text drops a zero fraction (".000").
    let time = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(warsaw[field].as_str().unwrap()).unwrap()
    };
    assert!(time("first_logged_at") <= time("last_logged_at"));
    assert_eq!(places[1]["city"], "Melbourne");
    assert_eq!(places[1]["count"], 1);
}

#[tokio::test]
async fn stats_convert_units_and_honour_filters() {
    let app = spawn_app().await;
    log_three(&app).await;

    let imperial = stats(&app, "?units=imperial&city=melbourne").await;
    let standard = stats(&app, "?units=standard").await;

    assert_eq!(imperial["count"], 1);
    assert_eq!(imperial["places"][0]["temperature"]["avg"], 66.94); // 19.41 °C
    assert_eq!(standard["places"][0]["temperature"]["max"], 290.18); // 17.03 °C
    let future = stats(&app, "?from=2999-01-01T00:00:00Z").await;
    assert_eq!(future["count"], 0);
    assert_eq!(future["places"], serde_json::json!([]));
    assert_problem(app.get("/api/v1/stats?min_temp=3").await, 400).await;
}

#[tokio::test]
async fn stats_read_an_index_not_the_collection() {
    let app = spawn_app().await;
    log_three(&app).await;

    for filter in [
        LogFilter::default(),
        LogFilter {
            city: Some(weatherlog::domain::Place::city("warsaw").unwrap()),
            ..LogFilter::default()
        },
    ] {
        let aggregate = doc! {
            "aggregate": "logs",
            "pipeline": filter.stats_pipeline(),
            "cursor": {},
        };
        assert_scans_an_index(&app, &filter, aggregate).await;
    }
}
