//! The API document: the committed `docs/openapi.json` is the generated one, every route the
//! app registers is in it (and the running app answers each), and `/docs` serves Swagger UI
//! from the binary.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use strum::VariantArray;
use utoipa::OpenApi;
use weatherlog::error::ProblemKind;
use weatherlog::openapi::ApiDoc;
use weatherlog::routes::examples;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{UPSTREAM_PATH, fixture, spawn_app};

/// The committed copy of the document, relative to the crate root.
const COMMITTED: &str = "docs/openapi.json";
/// The methods an operation of the document can have.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED)
}

/// The first JSON pointer at which two documents differ, to say where the drift is.
fn first_difference(expected: &Value, actual: &Value, at: String) -> Option<String> {
    match (expected, actual) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter()
                .find_map(|key| match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => first_difference(x, y, format!("{at}/{key}")),
                    _ => Some(format!("{at}/{key}")),
                })
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, format!("{at}/{i}"))),
        (a, b) if a == b => None,
        _ => Some(if at.is_empty() { "/".into() } else { at }),
    }
}

#[tokio::test]
async fn the_served_document_is_the_committed_docs_openapi_json() {
    let app = spawn_app().await;

    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
    let served: Value = response.json().await.expect("a JSON document");
    let generated = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    assert_eq!(
        served, generated,
        "the served document is ApiDoc::openapi()"
    );

    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        let text = ApiDoc::openapi()
            .to_pretty_json()
            .expect("the document serializes");
        std::fs::write(committed_path(), text + "\n").expect("docs/openapi.json is writable");
        return;
    }
    let committed: Value = std::fs::read_to_string(committed_path())
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    if let Some(pointer) = first_difference(&committed, &served, String::new()) {
        panic!(
            "{COMMITTED} is out of date (first difference at {pointer}).\n\
             Review the API change, then refresh the file with:\n\
             \n    UPDATE_OPENAPI=1 scripts/test openapi\n"
        );
    }
}

/// Every `$ref` in `value`.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                found.push(target.clone());
            }
            map.values().for_each(|v| references(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

#[test]
fn every_reference_in_the_document_resolves() {
    let document = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    let mut found = Vec::new();
    references(&document, &mut found);

    assert!(!found.is_empty());
    for target in found {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(
            document.pointer(pointer).is_some(),
            "{target} does not resolve"
        );
    }
}

/// Every (status, response) pair the document's operations declare, with `$ref`s resolved.
fn declared_responses(document: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for item in document["paths"].as_object().expect("paths").values() {
        for operation in item.as_object().expect("a path item").values() {
            for (status, response) in operation["responses"].as_object().expect("responses") {
                let response = match response["$ref"].as_str() {
                    Some(target) => document
                        .pointer(target.trim_start_matches('#'))
                        .expect("the reference resolves")
                        .clone(),
                    None => response.clone(),
                };
                found.push((status.clone(), response));
            }
        }
    }
    found
}

#[test]
fn every_problem_kind_is_in_the_document_with_an_example_at_its_status() {
    let document = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    let types = &document["components"]["schemas"]["Problem"]["properties"]["type"]["enum"];
    let responses = declared_responses(&document);

    for kind in ProblemKind::VARIANTS {
        let uri = kind.type_uri();
        assert!(
            types.as_array().unwrap().contains(&json!(uri)),
            "{uri} is not among Problem's types"
        );
        // 405 answers the methods the document does not list, so no operation can declare it;
        // the document's description says so instead.
        if *kind == ProblemKind::MethodNotAllowed {
            assert!(
                document["info"]["description"]
                    .as_str()
                    .unwrap()
                    .contains("405")
            );
            continue;
        }
        let status = kind.status().as_u16().to_string();
        let quoted = format!("\"{uri}\"");
        assert!(
            responses
                .iter()
                .any(|(at, response)| *at == status && response.to_string().contains(&quoted)),
            "no {status} response shows an example of {uri}"
        );
    }
}

/// One route: its method (`get`, …) and path with `{parameters}`.
type Route = (String, String);

/// The routes the application registers, as `startup::endpoints` lists them.
fn route_table() -> BTreeSet<Route> {
    weatherlog::startup::endpoints()
        .iter()
        .map(|e| (e.method.as_str().to_lowercase(), e.path.to_owned()))
        .collect()
}

/// The operations of the document, as (method, path).
fn documented(document: &Value) -> BTreeSet<Route> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| ((*m).to_owned(), path.clone()))
        })
        .collect()
}

/// A concrete URL for a path template, with parameters that exist in a fresh app.
fn concrete(path: &str) -> String {
    path.replace("{city}", "Warsaw,PL")
        .replace("{id}", "6b0d3e3965fd0591c5b06a8f")
}

#[test]
fn every_route_the_app_registers_is_in_the_document_and_nothing_else() {
    let document = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");

    let table = route_table();
    let operations = documented(&document);

    assert!(table.len() >= 11, "the route table: {table:?}");
    let undocumented: Vec<_> = table.difference(&operations).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the document: {undocumented:?}"
    );
    let unrouted: Vec<_> = operations.difference(&table).collect();
    assert!(
        unrouted.is_empty(),
        "documented operations with no route: {unrouted:?}"
    );
}

#[tokio::test]
async fn the_running_app_answers_each_documented_method_and_405s_the_others() {
    let app = spawn_app().await;
    let document = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    let operations = documented(&document);
    let send = |method: &str, path: &str| {
        app.http
            .request(
                method.parse().unwrap(),
                format!("{}{}", app.address, concrete(path)),
            )
            .send()
    };

    // Every documented operation reaches a handler: it may refuse the request (no body, no such
    // log), but not as an unknown route or an unknown method.
    for (method, path) in &operations {
        let response = send(&method.to_uppercase(), path).await.expect("sent");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_ne!(status, 405, "{method} {path}");
        assert!(
            !body.contains(weatherlog::error::NO_ROUTE),
            "{method} {path} matched no route"
        );
    }

    // Every documented path answers any other method with a 405 whose Allow header lists
    // exactly its documented methods.
    let paths: BTreeSet<&String> = operations.iter().map(|(_, path)| path).collect();
    for path in paths {
        let mut allowed: Vec<String> = ["get", "post", "patch", "delete"]
            .iter()
            .filter(|m| operations.contains(&((**m).to_owned(), path.clone())))
            .map(|m| m.to_uppercase())
            .collect();
        allowed.sort();
        for method in ["PUT", "TRACE", "OPTIONS", "HEAD"] {
            let response = send(method, path).await.expect("sent");
            assert_eq!(response.status(), 405, "{method} {path}");
            let allow = response.headers()["allow"].to_str().unwrap().to_owned();
            let mut advertised: Vec<String> =
                allow.split(',').map(|m| m.trim().to_owned()).collect();
            advertised.sort();
            assert_eq!(advertised, allowed, "Allow of {path}");
        }
    }
}

#[tokio::test]
async fn docs_serve_swagger_ui_from_the_binary_pointed_at_the_document() {
    let app = spawn_app().await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let redirect = no_redirects
        .get(format!("{}/docs", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/docs/");
    let post = no_redirects
        .post(format!("{}/docs", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET");

    let page = app.get("/docs/").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    // Every script and style sheet is relative: served by us, from no CDN.
    assert!(html.contains("swagger-initializer.js"), "{html}");
    assert!(
        !html.contains("https://"),
        "the page loads nothing from elsewhere"
    );

    let initializer = app.get("/docs/swagger-initializer.js").await;
    assert_eq!(initializer.status(), 200);
    let script = initializer.text().await.unwrap();
    assert!(script.contains("/api/v1/openapi.json"), "{script}");

    // Every file the page refers to is served, from the binary.
    let assets: Vec<&str> = html
        .split(['"', '\''])
        .filter(|piece| {
            [".js", ".css", ".png"]
                .iter()
                .any(|end| piece.ends_with(end))
        })
        .collect();
    assert!(assets.len() >= 5, "{assets:?}");
    for asset in assets {
        let response = app
            .get(&format!("/docs/{}", asset.trim_start_matches("./")))
            .await;
        assert_eq!(response.status(), 200, "{asset}");
        assert!(!response.bytes().await.unwrap().is_empty(), "{asset}");
    }
}

/// `value` without what differs from run to run: ids, times of logging and fetching, cursors.
fn timeless(mut value: Value) -> Value {
    const VARYING: [&str; 6] = [
        "id",
        "logged_at",
        "fetched_at",
        "first_logged_at",
        "last_logged_at",
        "next_cursor",
    ];
    match &mut value {
        Value::Object(map) => {
            for key in VARYING {
                map.remove(key);
            }
            for member in map.values_mut() {
                *member = timeless(member.take());
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                *item = timeless(item.take());
            }
        }
        _ => {}
    }
    value
}

#[tokio::test]
async fn the_documents_examples_are_real_answers_to_recorded_weather() {
    let app = spawn_app().await;
    app.upstream_serves_city("warsaw,pl", "current/warsaw_pl_heavy_rain.json")
        .await;
    app.upstream_serves_city("melbourne", "current/melbourne_au_lang_pt_br.json")
        .await;
    Mock::given(method("GET"))
        .and(path(UPSTREAM_PATH))
        .and(query_param("lat", "38.72"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            fixture("current/socorro_pt_metric_by_coords.json"),
            "application/json",
        ))
        .mount(&app.upstream)
        .await;

    let weather: Value = app.get_weather("Warsaw,PL").await.json().await.unwrap();
    assert_eq!(timeless(weather), timeless(examples::weather()));

    let created = app
        .post_log(
            json!({"city": "Warsaw,PL", "note": "Umbrella weather", "tags": ["rain", "commute"]}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let log: Value = created.json().await.unwrap();
    assert_eq!(timeless(log), timeless(examples::log_entry()));

    let page: Value = app.get("/api/v1/logs?limit=1").await.json().await.unwrap();
    assert_eq!(timeless(page), timeless(examples::log_page()));

    app.create_log("Melbourne").await;
    assert_eq!(
        app.post_log(json!({"lat": 38.72, "lon": -9.14}))
            .await
            .status(),
        201
    );
    let stats: Value = app.get("/api/v1/stats").await.json().await.unwrap();
    assert_eq!(timeless(stats), timeless(examples::stats()));
}
