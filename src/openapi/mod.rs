//! The OpenAPI 3.1 document of the API, generated from the handlers and types, served at
//! `GET /api/v1/openapi.json`, with Swagger UI at `/docs`.
//!
//! The routes, parameters and bodies come from `#[utoipa::path]` on each handler and from
//! `ToSchema`/`IntoParams` on the types the handlers really use; this module adds what those
//! cannot say: the error responses (shared, as `components.responses`), the rules that tie
//! fields together, header details, and the recorded examples (`examples`).

pub mod examples;

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::json;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::{Modify, OpenApi, ToResponse};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::Problem;
use crate::routes::{health, logs, stats, weather};

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/api/v1/openapi.json";
/// Where Swagger UI is served (`/docs` redirects here).
pub const DOCS_PATH: &str = "/docs/";

/// The API document. `ApiDoc::openapi()` builds it; `docs/openapi.json` is a committed copy,
/// which `tests/api/openapi.rs` keeps equal to it.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "weatherlog",
        description = "Current weather from OpenWeatherMap, cached in Redis for five minutes, \
            and a weather log in MongoDB that you can create, list, filter, read, update, delete \
            and summarize.\n\n\
            JSON everywhere; times are RFC 3339 in UTC; ids are 24 hexadecimal digits. Every \
            error is `application/problem+json` (RFC 9457) with a `Problem` body, except the \
            readiness probe's 503, whose body says which store is down. A method a route does \
            not support answers 405 with an `Allow` header; an unknown URL answers 404. A \
            rejected request changes nothing."
    ),
    paths(
        health::live,
        health::ready,
        weather::by_query,
        weather::by_path,
        logs::list,
        logs::create,
        logs::get,
        logs::update,
        logs::delete,
        stats::summary,
        document,
    ),
    components(
        // Only `body = …` schemas are collected from the paths; the error responses' body is not.
        schemas(Problem, weather::WeatherResponse),
        responses(
        weather::WeatherAnswer,
        BadRequest,
        PlaceNotFound,
        LogNotFound,
        PayloadTooLarge,
        UnsupportedMediaType,
        BadGateway,
        WeatherUnavailable,
        StorageUnavailable,
        ServiceUnavailable,
            GatewayTimeout,
        )
    ),
    modifiers(&FieldRules, &HeaderRules),
    tags(
        (name = "weather", description = "The current weather at a place, through the cache."),
        (name = "logs", description = "The weather log: create, list, read, update, delete."),
        (name = "stats", description = "A summary of the weather log."),
        (name = "health", description = "Liveness and readiness probes."),
        (name = "meta", description = "This document."),
    )
)]
pub struct ApiDoc;

/// The document as served, rendered once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("the API document serializes")
});

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "get_openapi",
    tag = "meta",
    summary = "This OpenAPI 3.1 document",
    responses(
        (status = 200, description = "The OpenAPI document of this API.", body = Object,
            content_type = "application/json"),
    )
)]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.as_str())
}

/// `GET /docs`: to Swagger UI, whose relative URLs need the trailing slash.
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, DOCS_PATH))
        .finish()
}

/// Swagger UI, served from files compiled into the binary (no CDN), showing this document.
pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new("/docs/{_:.*}").config(Config::new([DOCUMENT_PATH]))
}

/// Registers the document, `/docs` and Swagger UI; called from the route table.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/docs").route(web::get().to(docs_redirect)))
        .service(swagger_ui());
}

/// Adds `null` to the types a schema accepts: for optional body fields, where `null` counts as
/// left out.
pub fn nullable(schema: ObjectBuilder) -> Object {
    let mut object = schema.build();
    object.schema_type = match object.schema_type {
        SchemaType::Type(kind) => SchemaType::from_iter([kind, Type::Null]),
        SchemaType::Array(mut kinds) => {
            kinds.push(Type::Null);
            SchemaType::Array(kinds)
        }
        SchemaType::AnyValue => SchemaType::AnyValue,
    };
    object
}

/// Rules that tie body fields together, which a derived schema cannot say. utoipa's `Object`
/// has no `oneOf`/`anyOf` next to `properties`, so they go in through its flattened
/// `extensions` map, which serializes any key as written.
struct FieldRules;

impl Modify for FieldRules {
    fn modify(&self, openapi: &mut Document) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        // `Place::from_parts`: a city, or both coordinates, never both kinds; `null` counts
        // as absent.
        add_keywords(
            components.schemas.get_mut("CreateLogRequest"),
            json!({ "oneOf": [
                {
                    "title": "by city",
                    "required": ["city"],
                    "properties": {
                        "city": { "type": "string" },
                        "lat": { "type": "null" },
                        "lon": { "type": "null" }
                    }
                },
                {
                    "title": "by coordinates",
                    "required": ["lat", "lon"],
                    "properties": {
                        "city": { "type": "null" },
                        "lat": { "type": "number" },
                        "lon": { "type": "number" }
                    }
                }
            ]}),
        );
        // `LogPatch::try_from`: something to change, and `"tags": null` changes nothing.
        add_keywords(
            components.schemas.get_mut("LogPatchRequest"),
            json!({ "anyOf": [
                { "title": "note", "required": ["note"] },
                {
                    "title": "tags",
                    "required": ["tags"],
                    "properties": { "tags": { "type": "array" } }
                }
            ]}),
        );
    }
}

/// Merges JSON Schema keywords into an object schema.
fn add_keywords(schema: Option<&mut RefOr<Schema>>, keywords: serde_json::Value) {
    let Some(RefOr::T(Schema::Object(object))) = schema else {
        panic!("the schema to extend is a derived object schema");
    };
    let serde_json::Value::Object(keywords) = keywords else {
        panic!("keywords are a JSON object");
    };
    object
        .extensions
        .get_or_insert_with(Extensions::default)
        .merge(keywords.into_iter().collect());
}

/// The exact form of each response header, by name; `required` goes in through `extensions`
/// because utoipa's `Header` has no such field.
struct HeaderRules;

impl HeaderRules {
    /// The schema of a header, and whether every response that declares it sends it.
    fn rule(name: &str) -> Option<(serde_json::Value, bool)> {
        let rule = match name {
            "X-Cache" => (json!({ "type": "string", "enum": ["HIT", "MISS"] }), true),
            "Age" => (json!({ "type": "integer", "minimum": 0 }), true),
            "Cache-Control" => (
                json!({ "type": "string", "pattern": "^max-age=[0-9]+$" }),
                true,
            ),
            "Location" => (
                json!({ "type": "string", "pattern": "^/api/v1/logs/[0-9a-f]{24}$" }),
                true,
            ),
            "Retry-After" => (json!({ "type": "integer", "minimum": 0 }), false),
            _ => return None,
        };
        Some(rule)
    }

    fn apply(response: &mut RefOr<utoipa::openapi::Response>) {
        let RefOr::T(response) = response else {
            return;
        };
        for (name, header) in response.headers.iter_mut() {
            let (RefOr::T(header), Some((schema, required))) = (header, Self::rule(name)) else {
                continue;
            };
            header.schema =
                Some(serde_json::from_value(schema).expect("a header schema utoipa can represent"));
            if required {
                header
                    .extensions
                    .get_or_insert_with(Extensions::default)
                    .merge([("required", true)].into_iter().collect());
            }
        }
    }
}

impl Modify for HeaderRules {
    fn modify(&self, openapi: &mut Document) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                operation
                    .responses
                    .responses
                    .values_mut()
                    .for_each(Self::apply);
            }
        }
        if let Some(components) = openapi.components.as_mut() {
            components.responses.values_mut().for_each(Self::apply);
        }
    }
}

/// 400: bad input.
#[derive(ToResponse)]
#[response(
    description = "Bad input: malformed JSON, an unknown field or parameter, a value out of \
        range, a malformed id. Nothing was changed.",
    content_type = "application/problem+json",
    examples(
        ("unknown field" = (value = json!(examples::problem(400, "bad-request",
            "the JSON body is not valid: unknown field `temperature`, expected `note` or `tags` at line 1 column 14")))),
        ("out of range" = (value = json!(examples::problem(400, "bad-request",
            "limit must be between 1 and 100")))),
        ("malformed id" = (value = json!(examples::problem(400, "bad-request",
            "a log id is 24 hexadecimal digits")))),
    )
)]
pub struct BadRequest(pub Problem);

/// 404: OpenWeatherMap does not know the place.
#[derive(ToResponse)]
#[response(
    description = "OpenWeatherMap does not know this place (remembered for a minute).",
    content_type = "application/problem+json",
    example = json!(examples::problem(404, "place-not-found", "OpenWeatherMap does not know this place"))
)]
pub struct PlaceNotFound(pub Problem);

/// 404: no log has the id.
#[derive(ToResponse)]
#[response(
    description = "No log has this id.",
    content_type = "application/problem+json",
    example = json!(examples::problem(404, "not-found", "no log has the id 6b0d3e3965fd0591c5b06a8f"))
)]
pub struct LogNotFound(pub Problem);

/// 413: the body is over 64 KiB.
#[derive(ToResponse)]
#[response(
    description = "The request body is larger than 64 KiB.",
    content_type = "application/problem+json",
    example = json!(examples::problem(413, "payload-too-large", "the request body is larger than 65536 bytes"))
)]
pub struct PayloadTooLarge(pub Problem);

/// 415: the body is not JSON.
#[derive(ToResponse)]
#[response(
    description = "The request body is not `application/json`.",
    content_type = "application/problem+json",
    example = json!(examples::problem(415, "unsupported-media-type",
        "the request body must be JSON (Content-Type: application/json)"))
)]
pub struct UnsupportedMediaType(pub Problem);

/// 502: OpenWeatherMap refused the key or failed.
#[derive(ToResponse)]
#[response(
    description = "OpenWeatherMap rejected the configured API key, or failed.",
    content_type = "application/problem+json",
    examples(
        ("key rejected" = (value = json!(examples::problem(502, "upstream-key-rejected",
            "OpenWeatherMap rejected the configured API key (a new key can take a while to start working)")))),
        ("upstream failed" = (value = json!(examples::problem(502, "upstream-failed",
            "OpenWeatherMap answered with an error; try again shortly")))),
    )
)]
pub struct BadGateway(pub Problem);

/// 503 on weather lookups: no key, or OpenWeatherMap's rate limit.
#[derive(ToResponse)]
#[response(
    description = "No OpenWeatherMap API key is configured, or OpenWeatherMap's rate limit was \
        reached (then `Retry-After` says when to try again).",
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait, when the rate limit was reached.")),
    examples(
        ("no API key" = (value = json!(examples::problem(503, "no-api-key",
            "no OpenWeatherMap API key is configured (set OPENWEATHER_API_KEY)")))),
        ("rate limited" = (value = json!(examples::problem(503, "upstream-rate-limited",
            "OpenWeatherMap's rate limit was reached")))),
    )
)]
pub struct WeatherUnavailable(pub Problem);

/// 503 on log reads and writes: MongoDB is unavailable.
#[derive(ToResponse)]
#[response(
    description = "MongoDB is unavailable.",
    content_type = "application/problem+json",
    example = json!(examples::problem(503, "storage-unavailable", "storage is unavailable; try again shortly"))
)]
pub struct StorageUnavailable(pub Problem);

/// 503 on log creation: either of the above.
#[derive(ToResponse)]
#[response(
    description = "No OpenWeatherMap API key is configured, OpenWeatherMap's rate limit was \
        reached (then `Retry-After` says when to try again), or MongoDB is unavailable.",
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait, when the rate limit was reached.")),
    examples(
        ("no API key" = (value = json!(examples::problem(503, "no-api-key",
            "no OpenWeatherMap API key is configured (set OPENWEATHER_API_KEY)")))),
        ("rate limited" = (value = json!(examples::problem(503, "upstream-rate-limited",
            "OpenWeatherMap's rate limit was reached")))),
        ("storage unavailable" = (value = json!(examples::problem(503, "storage-unavailable",
            "storage is unavailable; try again shortly")))),
    )
)]
pub struct ServiceUnavailable(pub Problem);

/// 504: OpenWeatherMap did not answer in time.
#[derive(ToResponse)]
#[response(
    description = "OpenWeatherMap did not answer within `OPENWEATHER_TIMEOUT_MS`.",
    content_type = "application/problem+json",
    example = json!(examples::problem(504, "upstream-timeout", "OpenWeatherMap did not answer within 5s"))
)]
pub struct GatewayTimeout(pub Problem);
