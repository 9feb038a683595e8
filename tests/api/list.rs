//! Listing logs: newest first, literal filters, keyset (cursor) pagination, signed cursors,
//! index use.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mongodb::bson::{Document, doc};
use serde_json::Value;
use weatherlog::domain::Place;
use weatherlog::storage::{CURSOR_KEY_ID, KEYS_COLLECTION, LogFilter};

use crate::helpers::{
    TestApp, assert_problem, spawn_app, spawn_app_behind_a_mongodb_proxy, spawn_replicas,
    spawn_replicas_at_once,
};

/// Serves five cities, metric: Melbourne 19.41 °C, São Paulo 17.84, Warsaw 17.03,
/// Curacautín −1.44, Belo Horizonte 28.42.
async fn serve_cities(app: &TestApp) {
    for (q, fixture) in [
        ("melbourne,au", "current/melbourne_au_lang_pt_br.json"),
        ("são paulo,br", "current/sao_paulo_br_lang_pt_br.json"),
        ("warsaw,pl", "current/warsaw_pl_heavy_rain.json"),
        (
            "curacautín,cl",
            "current/curacautin_cl_snow_negative_metric.json",
        ),
        ("belo horizonte,br", "current/belo_horizonte_br_metric.json"),
    ] {
        app.upstream_serves_city(q, fixture).await;
    }
}

async fn list(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/api/v1/logs{query}")).await;
    assert_eq!(response.status(), 200, "GET /api/v1/logs{query}");
    response.json().await.unwrap()
}

fn cities(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|log| log["location"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn logs_are_listed_newest_first() {
    let app = spawn_app().await;
    serve_cities(&app).await;
    for city in ["Melbourne,AU", "Warsaw,PL", "São Paulo,BR"] {
        app.create_log(city).await;
    }

    let page = list(&app, "").await;

    assert_eq!(cities(&page), ["São Paulo", "Warsaw", "Melbourne"]);
    assert_eq!(page["next_cursor"], Value::Null);
}

#[tokio::test]
async fn the_city_filter_is_case_insensitive_and_may_name_a_country() {
    let app = spawn_app().await;
    serve_cities(&app).await;
    for city in ["Warsaw,PL", "Melbourne,AU", "Warsaw,PL", "São Paulo,BR"] {
        app.create_log(city).await;
    }

    assert_eq!(cities(&list(&app, "?city=WARSAW").await).len(), 2);
    assert_eq!(cities(&list(&app, "?city=warsaw,pl").await).len(), 2);
    assert_eq!(cities(&list(&app, "?city=warsaw,de").await).len(), 0);
    assert_eq!(
        cities(&list(&app, "?city=s%C3%A3o%20paulo").await),
        ["São Paulo"]
    );
    assert_eq!(
        cities(&list(&app, "?city=War").await).len(),
        0,
        "exact, not a prefix"
    );
}

#[tokio::test]
async fn filters_match_literal_values_only() {
    let app = spawn_app().await;
    serve_cities(&app).await;
    app.create_log("Warsaw,PL").await;

    // An operator in the name is an unknown parameter; in a value it is just text.
    assert_problem(app.get("/api/v1/logs?city[$ne]=x").await, 400).await;
    assert_problem(app.get("/api/v1/logs?city%5B%24ne%5D=x").await, 400).await;
    let page = list(&app, "?city=%7B%22%24ne%22%3A%22x%22%7D").await;
    assert_eq!(cities(&page).len(), 0);
    let page = list(&app, "?city=%24where").await;
    assert_eq!(cities(&page).len(), 0);
}

#[tokio::test]
async fn temperature_filters_use_the_requests_units() {
    let app = spawn_app().await;
    serve_cities(&app).await;
    for city in [
        "Melbourne,AU",
        "Warsaw,PL",
        "Curacautín,CL",
        "Belo Horizonte,BR",
    ] {
        app.create_log(city).await;
    }

    // 17 °C .. 20 °C is 62.6 °F .. 68 °F: Melbourne (19.41) and Warsaw (17.03).
    let metric = list(&app, "?min_temp=17&max_temp=20").await;
    let imperial = list(&app, "?min_temp=62.6&max_temp=68&units=imperial").await;

    assert_eq!(cities(&metric), ["Warsaw", "Melbourne"]);
    assert_eq!(cities(&imperial), ["Warsaw", "Melbourne"]);
    assert_eq!(imperial["items"][0]["units"], "imperial");
    assert_eq!(cities(&list(&app, "?max_temp=0").await), ["Curacautín"]);
    assert_problem(app.get("/api/v1/logs?min_temp=30&max_temp=10").await, 400).await;
}

#[tokio::test]
async fn from_and_to_bound_the_logging_time() {
    let app = spawn_app().await;
    serve_cities(&app).await;
    let first = app.create_log("Melbourne,AU").await;
    // BSON dates count milliseconds: make sure the two logs do not share one.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let second = app.create_log("Warsaw,PL").await;
    let from = second["logged_at"].as_str().unwrap();
    let to = first["logged_at"].as_str().unwrap();

    let since_second = list(&app, &format!("?from={from}")).await;
    let until_first = list(&app, &format!("?to={to}")).await;

    assert_eq!(cities(&since_second), ["Warsaw"]);
    assert_eq!(cities(&until_first), ["Melbourne"]);
    let offset = list(&app, "?from=2000-01-01T00:00:00%2B02:00").await;
    assert_eq!(
        cities(&offset).len(),
        2,
        "an offset is accepted when + is encoded"
    );
    assert_problem(
        app.get(&format!("/api/v1/logs?from={to}&to=2000-01-01T00:00:00Z"))
            .await,
        400,
    )
    .await;
}

#[tokio::test]
async fn cursor_pages_have_no_duplicates_or_gaps_while_logs_are_added() {
    let app = spawn_app().await;
    serve_cities(&app).await;
    let mut created = Vec::new();
    for i in 0..7 {
        let city = ["Melbourne,AU", "Warsaw,PL", "São Paulo,BR"][i % 3];
        created.push(
            app.create_log(city).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }

    let mut seen = Vec::new();
    let mut query = "?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let page = list(&app, &query).await;
        pages += 1;
        for log in page["items"].as_array().unwrap() {
            seen.push(log["id"].as_str().unwrap().to_owned());
        }
        // A newer log arrives between pages; it belongs before the cursor, never after it.
        app.create_log("Melbourne,AU").await;
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=3&cursor={cursor}"),
            None => break,
        }
    }

    created.reverse();
    assert_eq!(seen, created, "every original log once, newest first");
    assert_eq!(pages, 3);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
}

#[tokio::test]
async fn a_page_with_a_filter_carries_on_with_its_cursor() {
    let app = spawn_app().await;
    serve_cities(&app).await;
    for city in ["Warsaw,PL", "Melbourne,AU", "Warsaw,PL", "Warsaw,PL"] {
        app.create_log(city).await;
    }

    let first = list(&app, "?city=warsaw&limit=2").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = list(&app, &format!("?city=warsaw&limit=2&cursor={cursor}")).await;

    assert_eq!(cities(&first), ["Warsaw", "Warsaw"]);
    assert_eq!(cities(&second), ["Warsaw"]);
    assert_eq!(second["next_cursor"], Value::Null);
}

#[tokio::test]
async fn the_default_page_holds_20_logs() {
    let app = spawn_app().await;
    serve_cities(&app).await;
    for _ in 0..21 {
        app.create_log("Warsaw,PL").await;
    }

    let page = list(&app, "").await;

    assert_eq!(cities(&page).len(), 20);
    assert!(page["next_cursor"].is_string());
}

/// A cursor written by hand from a listed log, in the form cursors had before they were
/// signed: URL-safe base64 of `"<logged_at in unix ms>:<id>"`.
fn unsigned_cursor(log: &Value) -> String {
    let logged_at: chrono::DateTime<chrono::Utc> =
        log["logged_at"].as_str().unwrap().parse().unwrap();
    let id = log["id"].as_str().unwrap();
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", logged_at.timestamp_millis()))
}

/// `cursor` with its last character changed: the same position, another tag.
fn with_another_tag(cursor: &str) -> String {
    let (kept, last) = cursor.split_at(cursor.len() - 1);
    format!("{kept}{}", if last == "A" { "B" } else { "A" })
}

async fn assert_cursor_refused(response: reqwest::Response) {
    let problem = assert_problem(response, 400).await;
    assert_eq!(problem["type"], "/problems/bad-request");
    assert_eq!(problem["detail"], "cursor is not one this service returned");
}

#[tokio::test]
async fn a_cursor_the_service_never_handed_out_is_refused_with_400() {
    let app = spawn_app().await;
    serve_cities(&app).await;
    for city in ["Melbourne,AU", "Warsaw,PL", "São Paulo,BR"] {
        app.create_log(city).await;
    }
    let first = list(&app, "?limit=1").await;
    let handed_out = first["next_cursor"].as_str().unwrap();

    let forged = unsigned_cursor(&first["items"][0]);
    let tampered = with_another_tag(handed_out);
    for cursor in [forged, tampered, "not-a-cursor".to_owned()] {
        let response = app
            .get(&format!("/api/v1/logs?limit=1&cursor={cursor}"))
            .await;
        assert_cursor_refused(response).await;
    }

    let second = list(&app, &format!("?limit=1&cursor={handed_out}")).await;
    assert_eq!(cities(&second), ["Warsaw"], "the real cursor still works");
}

#[tokio::test]
async fn a_forged_cursor_is_refused_without_asking_mongodb() {
    let (app, mut proxy) = spawn_app_behind_a_mongodb_proxy().await;
    serve_cities(&app).await;
    let log = app.create_log("Warsaw,PL").await;

    proxy.cut();

    let forged = unsigned_cursor(&log);
    assert_cursor_refused(app.get(&format!("/api/v1/logs?cursor={forged}")).await).await;
    assert_problem(app.get("/api/v1/logs").await, 503).await;
}

#[tokio::test]
async fn a_cursor_from_one_replica_works_on_one_started_later() {
    // The second replica starts after the first, as after a restart or a scale-up.
    let replicas = spawn_replicas(2, |_| {}).await;
    serve_cities(&replicas[0]).await;
    for city in ["Melbourne,AU", "Warsaw,PL", "São Paulo,BR"] {
        replicas[0].create_log(city).await;
    }

    let first = list(&replicas[0], "?limit=2").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = list(&replicas[1], &format!("?limit=2&cursor={cursor}")).await;

    assert_eq!(cities(&second), ["Melbourne"]);
    // The one key they share is in MongoDB.
    let keys = replicas[0].database.collection::<Document>(KEYS_COLLECTION);
    assert_eq!(keys.count_documents(doc! {}).await.unwrap(), 1);
    let key = keys.find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(key.get_str("_id"), Ok(CURSOR_KEY_ID));
    assert_eq!(key.get_binary_generic("key").map(Vec::len), Ok(32));
}

#[tokio::test]
async fn replicas_that_start_together_agree_on_one_signing_key() {
    // Enough replicas that some of them race to create the key.
    let replicas = spawn_replicas_at_once(8).await;
    serve_cities(&replicas[0]).await;
    for city in ["Melbourne,AU", "Warsaw,PL"] {
        replicas[0].create_log(city).await;
    }

    // Each replica's cursor works on the next one, round the ring: one key for all.
    for (i, replica) in replicas.iter().enumerate() {
        let first = list(replica, "?limit=1").await;
        let cursor = first["next_cursor"].as_str().unwrap();
        let next = &replicas[(i + 1) % replicas.len()];
        let second = list(next, &format!("?limit=1&cursor={cursor}")).await;
        assert_eq!(cities(&second), ["Melbourne"], "replica {i}'s cursor");
    }
}

/// The winning plan's stages, flattened (`SORT`, `FETCH`, `IXSCAN`, …).
fn stages(plan: &Document) -> Vec<String> {
    let mut names = Vec::new();
    let mut node = Some(plan.clone());
    while let Some(current) = node {
        if let Ok(stage) = current.get_str("stage") {
            names.push(stage.to_owned());
        }
        node = current.get_document("inputStage").ok().cloned();
        if let Ok(inputs) = current.get_array("inputStages") {
            for input in inputs {
                if let Some(doc) = input.as_document() {
                    names.extend(stages(doc));
                }
            }
        }
    }
    names
}

fn winning_plan(explain: &Document) -> Document {
    if let Ok(planner) = explain.get_document("queryPlanner") {
        let plan = planner.get_document("winningPlan").unwrap();
        // MongoDB 7's slot-based engine nests the classic plan under `queryPlan`.
        return plan.get_document("queryPlan").unwrap_or(plan).clone();
    }
    // Aggregations explain the $cursor stage that feeds the pipeline.
    let first = explain.get_array("stages").unwrap()[0]
        .as_document()
        .unwrap();
    let cursor = first.get_document("$cursor").unwrap();
    cursor
        .get_document("queryPlanner")
        .unwrap()
        .get_document("winningPlan")
        .unwrap()
        .clone()
}

/// Runs `explain` on `command` (a `find` or an `aggregate` on `logs`) with the index hint the
/// store gives `filter`, and asserts that the plan scans an index, not the whole collection.
pub(crate) async fn assert_scans_an_index(
    app: &TestApp,
    filter: &LogFilter,
    mut command: Document,
) {
    let hint = match filter.list_query(None).1 {
        mongodb::options::Hint::Name(name) => name,
        other => panic!("unexpected hint {other:?}"),
    };
    command.insert("hint", hint);
    let explain = app
        .database
        .run_command(doc! { "explain": command, "verbosity": "queryPlanner" })
        .await
        .unwrap();
    let stages = stages(&winning_plan(&explain));
    assert!(
        stages.iter().any(|s| s == "IXSCAN"),
        "{filter:?}: {stages:?}"
    );
    assert!(
        !stages.iter().any(|s| s == "COLLSCAN"),
        "{filter:?}: {stages:?}"
    );
}

#[tokio::test]
async fn list_queries_scan_an_index_not_the_collection() {
    let app = spawn_app().await;
    serve_cities(&app).await;
    app.create_log("Warsaw,PL").await;

    let filters = [
        LogFilter::default(),
        LogFilter {
            city: Some(Place::city("warsaw,pl").unwrap()),
            ..LogFilter::default()
        },
        LogFilter {
            min_temp_c: Some(10.0),
            from: Some(chrono::Utc::now() - chrono::Duration::days(1)),
            ..LogFilter::default()
        },
    ];
    for filter in filters {
        let query = filter.list_query(None).0;
        let find = doc! {
            "find": "logs",
            "filter": query,
            "sort": { "logged_at": -1, "_id": -1 },
            "limit": 21,
        };
        assert_scans_an_index(&app, &filter, find).await;
    }
}

#[tokio::test]
async fn list_and_stats_recreate_indexes_that_disappeared() {
    let app = spawn_app().await;
    serve_cities(&app).await;
    app.create_log("Warsaw,PL").await;
    // As after a MongoDB that came back empty, or an operator dropping indexes.
    app.database
        .collection::<Document>("logs")
        .drop_indexes()
        .await
        .unwrap();

    assert_eq!(cities(&list(&app, "").await), ["Warsaw"]);
    let stats = app.get("/api/v1/stats").await;
    assert_eq!(stats.status(), 200);
    let indexes = app
        .database
        .collection::<Document>("logs")
        .list_index_names()
        .await
        .unwrap();
    assert!(indexes.len() >= 3, "the indexes are back: {indexes:?}");
}
