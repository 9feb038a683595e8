//! `GET /api/v1/weather`: our own schema, built from recorded OpenWeatherMap answers.

use serde_json::Value;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{UPSTREAM_PATH, assert_problem, recorded, spawn_app};

#[tokio::test]
async fn a_lookup_by_city_answers_in_our_own_schema() {
    let app = spawn_app().await;
    app.upstream_serves_city(
        "curacautín,cl",
        "current/curacautin_cl_snow_negative_metric.json",
    )
    .await;

    let response = app.get_weather("Curacautín,CL").await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-cache"], "MISS");
    assert_eq!(response.headers()["age"], "0");
    assert_eq!(response.headers()["cache-control"], "max-age=300");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["location"]["name"], "Curacautín");
    assert_eq!(body["location"]["country"], "CL");
    assert_eq!(body["location"]["lat"], -38.4);
    assert_eq!(body["units"], "metric");
    assert_eq!(body["temperature"]["current"], -1.44);
    assert_eq!(body["temperature"]["feels_like"], -6.29);
    assert_eq!(body["humidity_pct"], 99);
    assert_eq!(body["pressure_hpa"], 1014.0);
    assert_eq!(body["wind"]["speed"], 4.33);
    assert_eq!(body["wind"]["direction_deg"], 312.0);
    assert_eq!(body["wind"]["gust"], 14.6);
    assert_eq!(body["snow_1h_mm"], 1.37);
    assert_eq!(body["rain_1h_mm"], Value::Null);
    assert_eq!(
        body["visibility_m"],
        Value::Null,
        "absent upstream, so null, not 0"
    );
    assert_eq!(body["conditions"][0]["main"], "Snow");
    assert_eq!(body["observed_at"], "2026-08-01T08:55:32Z");
    assert_eq!(body["timezone_offset_s"], -14400);
    assert_eq!(body["provider"], "openweathermap");
    let fetched_at = body["fetched_at"].as_str().unwrap();
    let fetched_at = chrono::DateTime::parse_from_rfc3339(fetched_at).unwrap();
    assert_eq!(fetched_at.offset().local_minus_utc(), 0, "UTC");
    assert_eq!(
        fetched_at.timestamp_subsec_nanos() % 1_000_000,
        0,
        "milliseconds, as stored"
    );
    assert_eq!(body["cache"]["status"], "miss");
    assert_eq!(body["cache"]["ttl_s"], 300);
    assert!(
        body.get("main").is_none() && body.get("coord").is_none(),
        "no raw upstream fields"
    );
}

#[tokio::test]
async fn an_old_answer_without_optional_fields_gives_nulls() {
    let app = spawn_app().await;
    app.upstream_serves_city("kochi", "current/kochi_in_metric_legacy_2014.json")
        .await;

    let body: Value = app.get_weather("Kochi").await.json().await.unwrap();

    assert_eq!(body["location"]["country"], "India");
    assert_eq!(body["temperature"]["feels_like"], Value::Null);
    assert_eq!(body["timezone_offset_s"], Value::Null);
    assert_eq!(body["visibility_m"], Value::Null);
    assert_eq!(body["wind"]["gust"], Value::Null);
    assert_eq!(body["wind"]["direction_deg"], 313.001);
    assert_eq!(body["pressure_hpa"], 1020.95);
}

#[tokio::test]
async fn a_lookup_by_coordinates_rounds_them_and_reports_rain() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(path(UPSTREAM_PATH))
        .and(query_param("lat", "14.6"))
        .and(query_param("lon", "120.98"))
        .respond_with(recorded("current/quiapo_ph_moderate_rain_metric.json"))
        .mount(&app.upstream)
        .await;

    let response = app.get("/api/v1/weather?lat=14.5995&lon=120.9842").await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["location"]["country"], "PH");
    assert_eq!(body["rain_1h_mm"], 2.47);
    assert_eq!(body["snow_1h_mm"], Value::Null);
}

#[tokio::test]
async fn the_path_form_and_the_query_form_agree() {
    let app = spawn_app().await;
    app.upstream_serves_city("belo horizonte", "current/belo_horizonte_br_metric.json")
        .await;

    let by_query: Value = app
        .get_weather("Belo Horizonte")
        .await
        .json()
        .await
        .unwrap();
    let by_path: Value = app
        .get("/api/v1/weather/Belo%20Horizonte")
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(by_query["location"], by_path["location"]);
    assert_eq!(by_query["temperature"], by_path["temperature"]);
}

#[tokio::test]
async fn units_are_converted_locally_from_metric() {
    let app = spawn_app().await;
    app.upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;
    let metric: Value = app.get_weather("Warsaw,PL").await.json().await.unwrap();

    let imperial: Value = app
        .get("/api/v1/weather?city=Warsaw,PL&units=imperial")
        .await
        .json()
        .await
        .unwrap();
    let standard: Value = app
        .get("/api/v1/weather/Warsaw,PL?units=standard")
        .await
        .json()
        .await
        .unwrap();

    let celsius = metric["temperature"]["current"].as_f64().unwrap();
    let speed = metric["wind"]["speed"].as_f64().unwrap();
    let close = |a: f64, b: f64| (a - b).abs() < 0.01;
    assert_eq!(imperial["units"], "imperial");
    assert!(close(
        imperial["temperature"]["current"].as_f64().unwrap(),
        celsius * 1.8 + 32.0
    ));
    assert!(close(
        imperial["wind"]["speed"].as_f64().unwrap(),
        speed / 0.44704
    ));
    assert!(close(
        standard["temperature"]["current"].as_f64().unwrap(),
        celsius + 273.15
    ));
    assert_eq!(standard["wind"]["speed"], metric["wind"]["speed"]);
    assert_eq!(
        imperial["rain_1h_mm"], metric["rain_1h_mm"],
        "precipitation stays in mm"
    );
    assert_eq!(
        app.upstream_calls().await,
        1,
        "units do not split the cache"
    );
}

#[tokio::test]
async fn unicode_names_and_languages_reach_upstream() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(path(UPSTREAM_PATH))
        .and(query_param("q", "москва"))
        .and(query_param("lang", "ru"))
        .and(query_param("units", "metric"))
        .respond_with(recorded("current/moscow_ru_lang_ru_snow.json"))
        .mount(&app.upstream)
        .await;

    let response = app
        .get("/api/v1/weather?city=%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0&lang=RU")
        .await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["location"]["name"], "Москва");
    assert_eq!(body["snow_1h_mm"], 0.23);
    assert_eq!(body["wind"]["speed"], 4.0);
}

#[tokio::test]
async fn bad_lookups_are_rejected_without_calling_upstream() {
    let app = spawn_app().await;
    app.upstream_always(ResponseTemplate::new(500)).await;

    for query in [
        "",
        "?city=",
        "?city=%20,GB",
        "?city=London&lat=1&lon=2",
        "?lat=51.5",
        "?lat=91&lon=0",
        "?lat=abc&lon=0",
        "?lat=NaN&lon=0",
        "?city=London&units=kelvin",
        "?city=London&lang=english",
        "?city=London&appid=mine",
        "?city[$ne]=x",
    ] {
        let response = app.get(&format!("/api/v1/weather{query}")).await;
        let problem = assert_problem(response, 400).await;
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{query}");
    }
    assert_eq!(app.upstream_calls().await, 0);
}

#[tokio::test]
async fn an_answer_is_gzipped_only_for_a_client_that_asks() {
    let app = spawn_app().await;
    app.upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;
    let url = format!("{}/api/v1/weather?city=Warsaw,PL", app.address);
    let plain = reqwest::get(&url).await.unwrap();
    let plain_headers = plain.headers().clone();
    let plain_body = plain.bytes().await.unwrap();

    let gzipped = reqwest::Client::new()
        .get(&url)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();

    assert!(plain_headers.get("content-encoding").is_none());
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let gzipped_body = gzipped.bytes().await.unwrap();
    assert_eq!(&gzipped_body[..2], [0x1f, 0x8b], "a gzip stream");
    assert!(gzipped_body.len() < plain_body.len());
}
