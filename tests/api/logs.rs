//! Creating, reading, updating and deleting weather logs.

use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn creating_a_log_stores_the_current_weather_with_a_note_and_tags() {
    let app = spawn_app().await;
    app.upstream_serves_city(
        "curacautín,cl",
        "current/curacautin_cl_snow_negative_metric.json",
    )
    .await;

    let response = app
        .post_log(
            json!({"city": "Curacautín,CL", "note": "first snow", "tags": ["winter", "snow"]}),
        )
        .await;

    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let log: Value = response.json().await.unwrap();
    let id = log["id"].as_str().unwrap();
    assert_eq!(id.len(), 24);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(location, format!("/api/v1/logs/{id}"));
    assert!(log["logged_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(log["note"], "first snow");
    assert_eq!(log["tags"], json!(["winter", "snow"]));
    assert_eq!(log["temperature"]["current"], -1.44);
    assert_eq!(log["snow_1h_mm"], 1.37);
    assert!(log.get("cache").is_none());

    let read: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(read, log, "what was stored is what was answered");
}

#[tokio::test]
async fn logs_are_stored_with_bson_dates_and_metric_values() {
    let app = spawn_app().await;
    app.upstream_serves_city("kochi", "current/kochi_in_metric_legacy_2014.json")
        .await;
    app.http
        .post(format!("{}/api/v1/logs?units=imperial", app.address))
        .json(&json!({"city": "Kochi"}))
        .send()
        .await
        .unwrap();

    let stored = app
        .database
        .collection::<mongodb::bson::Document>("logs")
        .find_one(mongodb::bson::doc! {})
        .await
        .unwrap()
        .unwrap();

    for field in ["logged_at", "observed_at", "fetched_at", "sunrise"] {
        assert!(
            stored.get_datetime(field).is_ok(),
            "{field} is a BSON date: {stored}"
        );
    }
    let weather = stored.get_document("weather").unwrap();
    let temperature = weather.get_document("temperature").unwrap();
    assert_eq!(
        temperature.get_f64("current").unwrap(),
        26.643,
        "stored in °C"
    );
}

#[tokio::test]
async fn a_log_can_be_created_by_coordinates_and_read_in_other_units() {
    let app = spawn_app().await;
    app.upstream_always(crate::helpers::recorded(
        "current/socorro_pt_metric_by_coords.json",
    ))
    .await;

    let log = app.post_log(json!({"lat": 38.7223, "lon": -9.1393})).await;
    assert_eq!(log.status(), 201);
    let log: Value = log.json().await.unwrap();
    let id = log["id"].as_str().unwrap();

    let imperial: Value = app
        .get(&format!("/api/v1/logs/{id}?units=imperial"))
        .await
        .json()
        .await
        .unwrap();

    let celsius = log["temperature"]["current"].as_f64().unwrap();
    let fahrenheit = imperial["temperature"]["current"].as_f64().unwrap();
    assert!((fahrenheit - (celsius * 1.8 + 32.0)).abs() < 0.01);
    assert_eq!(imperial["units"], "imperial");
}

#[tokio::test]
async fn a_patch_changes_only_note_and_tags() {
    let app = spawn_app().await;
    app.upstream_serves_city("belo horizonte", "current/belo_horizonte_br_metric.json")
        .await;
    let log = app.create_log("Belo Horizonte").await;
    let id = log["id"].as_str().unwrap();

    let response = app
        .patch_log(id, json!({"note": "windy", "tags": ["a"]}))
        .await;
    assert_eq!(response.status(), 200);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["note"], "windy");
    assert_eq!(patched["tags"], json!(["a"]));
    assert_eq!(patched["temperature"], log["temperature"]);

    let cleared: Value = app
        .patch_log(id, json!({"note": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["note"], Value::Null);
    assert_eq!(
        cleared["tags"],
        json!(["a"]),
        "tags left out stay as they were"
    );
}

#[tokio::test]
async fn a_patch_of_any_other_field_is_400_and_changes_nothing() {
    let app = spawn_app().await;
    app.upstream_serves_city("belo horizonte", "current/belo_horizonte_br_metric.json")
        .await;
    let log = app.create_log("Belo Horizonte").await;
    let id = log["id"].as_str().unwrap();

    for body in [
        json!({"temperature": {"current": 99}}),
        json!({"note": "ok", "city": "Paris"}),
        json!({}),
        json!({"note": "x".repeat(501)}),
        json!({"tags": vec!["x"; 11]}),
        json!({"tags": "not-a-list"}),
        // serde would read a struct from an array of its fields: `[note, tags]`.
        json!([null, null]),
    ] {
        assert_problem(app.patch_log(id, body.clone()).await, 400).await;
    }

    let after: Value = app
        .get(&format!("/api/v1/logs/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after, log);
}

#[tokio::test]
async fn deleting_a_log_is_204_and_then_it_is_gone() {
    let app = spawn_app().await;
    app.upstream_serves_city("belo horizonte", "current/belo_horizonte_br_metric.json")
        .await;
    let log = app.create_log("Belo Horizonte").await;
    let id = log["id"].as_str().unwrap();

    let response = app.delete_log(id).await;
    assert_eq!(response.status(), 204);
    assert_eq!(response.text().await.unwrap(), "");

    assert_problem(app.get(&format!("/api/v1/logs/{id}")).await, 404).await;
    assert_problem(app.delete_log(id).await, 404).await;
    assert_eq!(app.stored_logs().await, 0);
}

#[tokio::test]
async fn unknown_ids_are_404_and_malformed_ids_are_400() {
    let app = spawn_app().await;
    let unknown = "65f0c0ffee0000000000beef";

    assert_problem(app.get(&format!("/api/v1/logs/{unknown}")).await, 404).await;
    assert_problem(app.patch_log(unknown, json!({"note": "x"})).await, 404).await;
    assert_problem(app.delete_log(unknown).await, 404).await;
    for malformed in [
        "123",
        "zzzzzzzzzzzzzzzzzzzzzzzz",
        "65f0c0ffee0000000000beef0",
    ] {
        assert_problem(app.get(&format!("/api/v1/logs/{malformed}")).await, 400).await;
        assert_problem(app.delete_log(malformed).await, 400).await;
    }
}

#[tokio::test]
async fn invalid_new_logs_are_400_and_store_nothing() {
    let app = spawn_app().await;
    app.upstream_serves_city("belo horizonte", "current/belo_horizonte_br_metric.json")
        .await;

    for body in [
        json!({}),
        json!({"city": "Belo Horizonte", "lat": 1.0, "lon": 2.0}),
        json!({"lat": 1.0}),
        json!({"city": "Belo Horizonte", "note": "x".repeat(501)}),
        json!({"city": "Belo Horizonte", "tags": vec!["t"; 11]}),
        json!({"city": "Belo Horizonte", "tags": ["x".repeat(33)]}),
        json!({"city": "Belo Horizonte", "tags": [""]}),
        json!({"city": "Belo Horizonte", "logged_at": "2020-01-01T00:00:00Z"}),
        json!({"city": {"$ne": null}}),
        json!(["Belo Horizonte"]),
    ] {
        assert_problem(app.post_log(body.clone()).await, 400).await;
    }
    assert_eq!(app.stored_logs().await, 0);
    assert_eq!(
        app.upstream_calls().await,
        0,
        "bad input is rejected before any lookup"
    );
}

#[tokio::test]
async fn a_log_for_an_unknown_place_is_404_and_stores_nothing() {
    let app = spawn_app().await;
    app.upstream_always(wiremock::ResponseTemplate::new(404).set_body_raw(
        crate::helpers::fixture("errors/404-city-not-found.json"),
        "application/json",
    ))
    .await;

    assert_problem(app.post_log(json!({"city": "Atlantis"})).await, 404).await;
    assert_eq!(app.stored_logs().await, 0);
}

#[tokio::test]
async fn a_log_note_of_exactly_500_characters_is_accepted() {
    let app = spawn_app().await;
    app.upstream_serves_city("belo horizonte", "current/belo_horizonte_br_metric.json")
        .await;
    let note = "é".repeat(500);

    let response = app
        .post_log(json!({"city": "Belo Horizonte", "note": note, "tags": ["ü".repeat(32)]}))
        .await;

    assert_eq!(response.status(), 201);
}
