//! A rejected request changes nothing: every bad write gets a documented 4xx problem, and the
//! database, the cache and the upstream call count are the same afterwards.

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use serde_json::json;

use crate::helpers::{TestApp, assert_problem, spawn_app};

/// Every document of every collection, in a fixed order.
async fn snapshot(app: &TestApp) -> Vec<(String, Vec<Document>)> {
    let mut names = app
        .database
        .list_collection_names()
        .await
        .expect("list collections");
    names.sort();
    let mut collections = Vec::new();
    for name in names {
        let documents: Vec<Document> = app
            .database
            .collection::<Document>(&name)
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .await
            .expect("find")
            .try_collect()
            .await
            .expect("read documents");
        collections.push((name, documents));
    }
    collections
}

/// The test's Redis keys.
async fn cache_keys(app: &TestApp) -> Vec<String> {
    let mut redis = app.redis().await;
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", app.settings.redis_key_prefix))
        .query_async(&mut redis)
        .await
        .expect("KEYS");
    keys.sort();
    keys
}

/// Sends a request with a raw body and content type.
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    app.http
        .request(method.parse().unwrap(), format!("{}{path}", app.address))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("the request is sent")
}

#[tokio::test]
async fn a_batch_of_rejected_writes_leaves_every_stored_document_as_it_was() {
    // Arrange: two logs, and what the stores hold.
    let app = spawn_app().await;
    app.upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;
    app.upstream_serves_city("belo horizonte", "current/belo_horizonte_br_metric.json")
        .await;
    let first = app.create_log("Warsaw,PL").await;
    let second = app.create_log("Belo Horizonte").await;
    let patch = app
        .patch_log(
            second["id"].as_str().unwrap(),
            json!({"note": "kept", "tags": ["a"]}),
        )
        .await;
    assert_eq!(patch.status(), 200);
    let before = snapshot(&app).await;
    let keys_before = cache_keys(&app).await;
    let upstream_calls_before = app.upstream_calls().await;
    assert_eq!(app.stored_logs().await, 2);

    // Act: writes that must all be refused.
    let id = first["id"].as_str().unwrap();
    let log = format!("/api/v1/logs/{id}");
    let unknown = "/api/v1/logs/000000000000000000000000";
    let json = "application/json";
    let long_note = "x".repeat(501);
    let cases: Vec<(&str, String, &str, String, u16)> = vec![
        // Malformed or mistyped JSON.
        (
            "POST",
            "/api/v1/logs".into(),
            json,
            r#"{"city": "#.into(),
            400,
        ),
        ("POST", "/api/v1/logs".into(), json, String::new(), 400),
        (
            "POST",
            "/api/v1/logs".into(),
            json,
            "[\"Warsaw,PL\"]".into(),
            400,
        ),
        ("POST", "/api/v1/logs".into(), json, "null".into(), 400),
        ("PATCH", log.clone(), json, "[null, null]".into(), 400),
        ("PATCH", log.clone(), json, "{\"note\": 5}".into(), 400),
        ("PATCH", log.clone(), json, "{\"note\": \"x\"".into(), 400),
        // Unknown fields, or nothing to change.
        (
            "POST",
            "/api/v1/logs".into(),
            json,
            r#"{"city": "Warsaw,PL", "temperature": 30}"#.into(),
            400,
        ),
        (
            "PATCH",
            log.clone(),
            json,
            r#"{"temperature": 30}"#.into(),
            400,
        ),
        (
            "PATCH",
            log.clone(),
            json,
            r#"{"note": "x", "logged_at": "2000-01-01T00:00:00Z"}"#.into(),
            400,
        ),
        ("PATCH", log.clone(), json, "{}".into(), 400),
        ("PATCH", log.clone(), json, r#"{"tags": null}"#.into(), 400),
        // Values out of range.
        (
            "POST",
            "/api/v1/logs".into(),
            json,
            json!({"city": "Warsaw,PL", "note": long_note}).to_string(),
            400,
        ),
        (
            "POST",
            "/api/v1/logs".into(),
            json,
            json!({"city": "Warsaw,PL", "tags": vec!["t"; 11]}).to_string(),
            400,
        ),
        (
            "POST",
            "/api/v1/logs".into(),
            json,
            json!({"lat": 91.0, "lon": 0.0}).to_string(),
            400,
        ),
        (
            "POST",
            "/api/v1/logs".into(),
            json,
            json!({"city": "Warsaw,PL", "lat": 1.0, "lon": 2.0}).to_string(),
            400,
        ),
        (
            "PATCH",
            log.clone(),
            json,
            json!({"note": long_note}).to_string(),
            400,
        ),
        (
            "PATCH",
            log.clone(),
            json,
            json!({"tags": ["x".repeat(33)]}).to_string(),
            400,
        ),
        (
            "PATCH",
            log.clone(),
            json,
            json!({"tags": ["  "]}).to_string(),
            400,
        ),
        // Operators where literals belong.
        (
            "POST",
            "/api/v1/logs".into(),
            json,
            r#"{"city": {"$ne": ""}}"#.into(),
            400,
        ),
        (
            "PATCH",
            log.clone(),
            json,
            r#"{"$set": {"note": "hacked"}}"#.into(),
            400,
        ),
        (
            "PATCH",
            log.clone(),
            json,
            r#"{"note": {"$unset": ""}}"#.into(),
            400,
        ),
        (
            "PATCH",
            log.clone(),
            json,
            r#"{"tags": {"$push": "x"}}"#.into(),
            400,
        ),
        (
            "PATCH",
            "/api/v1/logs/%7B%22%24ne%22%3Anull%7D".into(),
            json,
            r#"{"note": "x"}"#.into(),
            400,
        ),
        (
            "DELETE",
            "/api/v1/logs/%7B%22%24gt%22%3A%22%22%7D".into(),
            json,
            String::new(),
            400,
        ),
        // Malformed and unknown ids.
        (
            "PATCH",
            "/api/v1/logs/not-an-id".into(),
            json,
            r#"{"note": "x"}"#.into(),
            400,
        ),
        (
            "DELETE",
            format!("/api/v1/logs/{}", &id[..23]),
            json,
            String::new(),
            400,
        ),
        (
            "PATCH",
            unknown.into(),
            json,
            r#"{"note": "x"}"#.into(),
            404,
        ),
        ("DELETE", unknown.into(), json, String::new(), 404),
        // Not JSON, too large, wrong method.
        (
            "POST",
            "/api/v1/logs".into(),
            "text/plain",
            "city=Warsaw".into(),
            415,
        ),
        (
            "PATCH",
            log.clone(),
            "application/x-www-form-urlencoded",
            "note=x".into(),
            415,
        ),
        (
            "POST",
            "/api/v1/logs".into(),
            json,
            json!({"city": "Warsaw,PL", "note": "x".repeat(70_000)}).to_string(),
            413,
        ),
        ("PUT", log.clone(), json, r#"{"note": "x"}"#.into(), 405),
        ("DELETE", "/api/v1/logs".into(), json, String::new(), 405),
    ];
    for (method, path, content_type, body, status) in cases {
        let response = send(&app, method, &path, content_type, body.clone()).await;
        assert_eq!(response.status(), status, "{method} {path} {body:.80}");
        assert_problem(response, status).await;
    }

    // Assert: nothing changed, and no bad request reached OpenWeatherMap.
    assert_eq!(snapshot(&app).await, before, "the stored documents");
    assert_eq!(cache_keys(&app).await, keys_before, "the cache keys");
    assert_eq!(app.upstream_calls().await, upstream_calls_before);
}

#[tokio::test]
async fn the_query_and_the_body_are_checked_before_the_id_in_the_path() {
    let app = spawn_app().await;
    let url = format!("{}/api/v1/logs/not-an-id", app.address);

    let not_json = app
        .http
        .patch(&url)
        .header("content-type", "text/plain")
        .body("note")
        .send()
        .await
        .unwrap();
    assert_problem(not_json, 415).await;
    let bad_query = app
        .http
        .get(format!("{url}?units=kelvin"))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(bad_query, 400).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("the query string is not valid"),
        "{problem}"
    );
}
