//! The OpenAPI 3.1 document of the API, generated from the handlers and types, served at
//! `GET /api/v1/openapi.json`, with Swagger UI at `/docs`.
//!
//! This module only assembles: the routes, parameters and bodies come from `#[utoipa::path]`
//! on each handler and from `ToSchema`/`IntoParams` on the types the handlers really use; the
//! shared error responses and the recorded examples come from `crate::routes::responses` and
//! `crate::routes::examples`. What it adds itself is what none of those can say: the rules that
//! tie fields together and the exact form of the response headers.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use actix_web::http::{Method, header};
use actix_web::{HttpResponse, web};
use serde_json::json;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::Problem;
use crate::middleware::rate_limit::is_exempt;
use crate::routes::responses::{
    AdminDisabled, BadGateway, BadRequest, CacheUnavailable, GatewayTimeout, Internal, LogNotFound,
    PayloadTooLarge, PlaceNotFound, RequestTimeout, ServiceUnavailable, StorageUnavailable,
    TooManyRequests, Unauthorized, UnsupportedMediaType, WeatherUnavailable,
};
use crate::routes::{self, Endpoint, cache, health, logs, metrics, stats, weather};

/// Where the document is served.
const DOCUMENT_PATH: &str = "/api/v1/openapi.json";
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
            rejected request changes nothing.\n\n\
            Every route but `/health/*` is rate limited per client (`RATE_LIMIT_PER_MINUTE`, 300 \
            by default, in a sliding minute shared by every replica): over the limit it answers \
            429 with `Retry-After`, and every answer carries the `RateLimit-Policy` and \
            `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers \
            (`\"default\";q=300;w=60` and `\"default\";r=<left>;t=<seconds>`). With \
            `RATE_LIMIT_PER_MINUTE=0` there is no limit and no such field."
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
        stats::get_stats,
        cache::purge,
        metrics::metrics,
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
            RequestTimeout,
            Internal,
            Unauthorized,
            AdminDisabled,
            CacheUnavailable,
            TooManyRequests,
        )
    ),
    modifiers(
        &AdminTokenScheme,
        &AnyRouteResponses,
        &RateLimitedRoutes,
        &FieldRules,
        &HeaderRules
    ),
    tags(
        (name = "weather", description = "The current weather at a place, through the cache."),
        (name = "logs", description = "The weather log: create, list, read, update, delete."),
        (name = "stats", description = "A summary of the weather log."),
        (name = "health", description = "Liveness and readiness probes."),
        (name = "admin", description = "For operators, with `ADMIN_TOKEN`."),
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

/// Serves this document.
#[utoipa::path(
    get,
    path = DOCUMENT_PATH,
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

/// The document's own route (it describes itself).
pub fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::new(Method::GET, DOCUMENT_PATH, document)]
}

/// Registers `/docs` and Swagger UI, which show the document and are not part of it.
/// `/docs` goes through `routes::register` like every route, so its 405 names `Allow: GET` too.
pub fn configure(cfg: &mut web::ServiceConfig) {
    routes::register(
        cfg,
        vec![Endpoint::new(Method::GET, "/docs", docs_redirect)],
    );
    cfg.service(swagger_ui());
}

/// The bearer token of the admin routes, as the security scheme `admin_token`.
struct AdminTokenScheme;

impl Modify for AdminTokenScheme {
    fn modify(&self, openapi: &mut Document) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("`ADMIN_TOKEN`, as `Authorization: Bearer <token>`."))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("admin_token", SecurityScheme::Http(scheme));
    }
}

/// Every operation of the document (the API uses these four methods only).
fn operations(openapi: &mut Document) -> impl Iterator<Item = &mut Operation> {
    openapi.paths.paths.values_mut().flat_map(methods)
}

/// The operations of one path.
fn methods(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.post.as_mut(),
        item.patch.as_mut(),
        item.delete.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The answers any route can give, whatever it does: 408 from the request timeout, and 500 from
/// a failure nobody foresaw (`crate::error::ensure_problem_json`). 405 is not among them: it
/// answers the methods the document does not list, which the description says.
struct AnyRouteResponses;

impl Modify for AnyRouteResponses {
    fn modify(&self, openapi: &mut Document) {
        for operation in operations(openapi) {
            for (status, name) in [("408", "RequestTimeout"), ("500", "Internal")] {
                operation
                    .responses
                    .responses
                    .insert(status.into(), RefOr::Ref(Ref::from_response_name(name)));
            }
        }
    }
}

/// What the rate limit (`crate::middleware::rate_limit`) adds to every operation but the
/// exempt ones: the 429, and the `RateLimit-Policy` and `RateLimit` fields on its successes
/// (on shared responses, such as the weather answer, in the component itself).
struct RateLimitedRoutes;

impl RateLimitedRoutes {
    fn add_fields(response: &mut utoipa::openapi::Response) {
        for (name, description) in [
            (
                "RateLimit-Policy",
                "The quota of each client: `\"default\";q=<requests>;w=60` \
                 (draft-ietf-httpapi-ratelimit-headers). Absent with `RATE_LIMIT_PER_MINUTE=0`.",
            ),
            (
                "RateLimit",
                "What this client has left: `\"default\";r=<requests>;t=<seconds until one \
                 more is allowed>`. Absent with `RATE_LIMIT_PER_MINUTE=0`.",
            ),
        ] {
            let header = HeaderBuilder::new().description(Some(description)).build();
            response.headers.insert(name.into(), RefOr::T(header));
        }
    }
}

impl Modify for RateLimitedRoutes {
    fn modify(&self, openapi: &mut Document) {
        let mut shared = BTreeSet::new();
        for (path, item) in openapi.paths.paths.iter_mut() {
            if is_exempt(path) {
                continue;
            }
            for operation in methods(item) {
                let responses = &mut operation.responses.responses;
                for (_, response) in responses.iter_mut().filter(|(s, _)| s.starts_with('2')) {
                    match response {
                        RefOr::T(response) => Self::add_fields(response),
                        RefOr::Ref(to) => {
                            shared.insert(to.ref_location.clone());
                        }
                    }
                }
                responses.insert(
                    "429".into(),
                    RefOr::Ref(Ref::from_response_name("TooManyRequests")),
                );
            }
        }
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for (name, response) in components.responses.iter_mut() {
            if let RefOr::T(response) = response
                && shared.contains(&format!("#/components/responses/{name}"))
            {
                Self::add_fields(response);
            }
        }
    }
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
            "X-Cache" => (
                json!({ "type": "string", "enum": ["HIT", "MISS", "STALE"] }),
                true,
            ),
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
            // Sent only while the rate limit is on (RATE_LIMIT_PER_MINUTE above 0).
            "RateLimit-Policy" => (
                json!({ "type": "string", "pattern": "^\"default\";q=[0-9]+;w=60$" }),
                false,
            ),
            "RateLimit" => (
                json!({ "type": "string", "pattern": "^\"default\";r=[0-9]+;t=[0-9]+$" }),
                false,
            ),
            "WWW-Authenticate" => (json!({ "type": "string", "const": "Bearer" }), true),
            "X-Request-Id" => (
                json!({ "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$" }),
                true,
            ),
            _ => return None,
        };
        Some(rule)
    }

    fn apply(response: &mut RefOr<utoipa::openapi::Response>) {
        let RefOr::T(response) = response else {
            return;
        };
        // Every answer carries its request's id (`middleware::request_telemetry`).
        response
            .headers
            .entry("X-Request-Id".into())
            .or_insert_with(|| {
                RefOr::T(
                    HeaderBuilder::new()
                        .description(Some(
                            "The request's id: the client's `X-Request-Id` when it matches the \
                             pattern, else a new UUID v7. Log lines of the request carry it.",
                        ))
                        .build(),
                )
            });
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
        for operation in operations(openapi) {
            operation
                .responses
                .responses
                .values_mut()
                .for_each(Self::apply);
        }
        if let Some(components) = openapi.components.as_mut() {
            components.responses.values_mut().for_each(Self::apply);
        }
    }
}
